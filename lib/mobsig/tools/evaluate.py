"""Measure a month's outputs against a synthetic city's ground truth.

    mobsig evaluate --config CITY/config.yaml --month 2026-06 [--truth DIR] [--out FILE]

For a city made by ``mobsig synth`` (or ``mobsig demo``) whose jobs have run through
``population_by_unit``: homes and work places within 500 m of the truth, population class
accuracy per class, 一人多卡 pair precision and recall, expanded residents per county
and per township (townships of at least 1,000 true people) against the true population,
the jobs-housing ratio 职住比 and self-containment per county and township with enough
true employed residents against the true ones, inter-city trips and commuters per pair of
cities, the metropolitan-area delineation and trips by period (truth/moves.parquet,
optional), each next to its target (domain.md, issues #5 and #14). Reads ``home_work``
and ``metro_area``, recomputes the unsuppressed population, jobs-housing, linkage and
trips counts (``population.population_table``, ``jobs_housing.counts_table``,
``mobsig.linkage``, ``mobsig.trips``; nothing is written) and the truth files in
``--truth`` (default: ``truth/`` next to the config file; ``jobs_housing.csv`` and
``moves.parquet`` are optional, older cities have none). Prints a Markdown
table and writes the numbers as JSON (``--out``, default ``evaluate-<month>.json`` next to
the config). Exit status 0 also when a target is missed: this is a measurement, the
targets met are in the JSON (``targets_met``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from mobsig.config import Config
from mobsig.errors import ConfigError, InputError
from mobsig.jobargs import month_days, month_key, months

NAME = "evaluate"
HELP = "accuracy of a month's outputs against a synthetic city's truth"
TRUTH_FILES = ("persons.parquet", "cards.parquet", "population_by_unit.csv")
JOBS_HOUSING_TRUTH = "jobs_housing.csv"  # optional: older cities have none
LINKAGE_TRUTH = "moves.parquet"  # optional: cities before the linkage truth have none


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--month", required=True, help="month, YYYY-MM")
    p.add_argument("--truth", help="the city's truth folder (default: truth/ next to the "
                                   "config file)")
    p.add_argument("--out", help="JSON result file (default: evaluate-<month>.json next to "
                                 "the config file)")


def truth_dir(args: argparse.Namespace, cfg: Config) -> Path:
    return Path(args.truth) if args.truth else Path(cfg.base_dir) / "truth"


def validate(args: argparse.Namespace, cfg: Config) -> None:
    if len(months(args)) != 1:
        raise ConfigError("--month: give one month")
    t = truth_dir(args, cfg)
    missing = [n for n in TRUTH_FILES if not (t / n).exists()]
    if missing:
        raise InputError(f"--truth {str(t)!r}: no {missing}; evaluate needs a synthetic "
                         "city's truth folder (mobsig synth writes it)")


def unsuppressed_population(spark, cfg: Config, month: dt.date):
    """The month's per-unit counts before suppression, recomputed from the stored
    card_places, factors, stays and units (``population.population_table``; nothing is
    written)."""
    from mobsig.geo import next_month, unit_polygons
    from mobsig.io.catalog import Catalog
    from mobsig.population import population_table

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    for table in ("card_places", "expansion_factors", "units", "stays"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the monthly jobs first")
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    days = month_days(month) + [next_month(month)]
    return population_table(
        catalog.read("card_places", month=key), catalog.read("expansion_factors", month=key),
        age, unit_polygons(catalog.read("units")), catalog.read("stays", dt=days), month,
        cfg.population.grid_h3_resolution)


def unsuppressed_jobs_housing(spark, cfg: Config, month: dt.date):
    """The month's jobs-housing rows before suppression (one per unit, ratios on expanded
    counts), recomputed from the stored card_places, factors and units
    (``jobs_housing.counts_table``; nothing is written)."""
    from mobsig import jobs_housing as jh
    from mobsig.geo import unit_polygons
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    for table in ("card_places", "expansion_factors", "units"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the monthly jobs first")
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    counts = jh.counts_table(
        catalog.read("card_places", month=key), catalog.read("expansion_factors", month=key),
        age, unit_polygons(catalog.read("units")), cfg.population.grid_h3_resolution)
    return jh.with_ratios(jh.spread(counts), cfg.jobs_housing.balanced_min,
                          cfg.jobs_housing.balanced_max)


def unsuppressed_linkage(spark, cfg: Config, month: dt.date) -> dict[str, Any]:
    """The month's linkage and trips-by-period counts before suppression, recomputed from
    the stored moves, card_places, factors and units (``mobsig.linkage``,
    ``mobsig.trips``; nothing is written), as pandas frames: ``trips`` (level, origin_id,
    dest_id, trips_raw_count, trips_expanded_count, travellers_*), ``commuters`` (level,
    origin_id, dest_id, commuters_raw_count, commuters_expanded_count; diagonal
    included) and ``employed`` (level, unit_id, employed_residents_raw_count / _expanded:
    jobs_housing's employed residents) for the levels of linkage.levels (every layer by
    default), and ``periods`` (city_id, origin_id, dest_id, period, trips_raw_count, ...)
    at trips.level."""
    from pyspark.sql import functions as F

    from mobsig import columns as C
    from mobsig import linkage, trips
    from mobsig.geo import unit_polygons
    from mobsig.io.catalog import Catalog
    from mobsig.periods import parse_periods
    from mobsig.population import user_weights

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    for table in ("card_places", "expansion_factors", "units", "moves"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the monthly jobs first")
    places = catalog.read("card_places", month=key)
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    weights = user_weights(places, catalog.read("expansion_factors", month=key), age)
    units = unit_polygons(catalog.read("units"))
    if cfg.linkage.levels:
        units_l = units.where(F.col(C.LEVEL).isin(*cfg.linkage.levels))
    else:
        units_l = units
    moves = catalog.read("moves", dt=month_days(month))
    od = linkage.move_units(linkage.move_points(moves, places, cfg.linkage.min_trip_m), units_l)
    out = {"trips": linkage.trip_counts(od, weights, [C.LEVEL, C.ORIGIN_ID, C.DEST_ID])
           .toPandas(),
           "commuters": linkage.commute_pairs(places, units_l, weights).toPandas(),
           "employed": linkage.employed_residents(places, units_l, weights).toPandas()}
    levels = {r[0] for r in units.select(C.LEVEL).distinct().collect()}
    tr = cfg.trips
    city_level = tr.city_level if tr.city_level in levels else None
    periods = parse_periods(tr.periods, tr.rest_period)
    points = linkage.move_points(moves, places, tr.min_trip_m)
    pod = trips.with_period(trips.trip_units(points, units, tr.level, city_level), periods)
    out["periods"] = linkage.trip_counts(
        pod, weights, [C.CITY_ID, C.ORIGIN_ID, C.DEST_ID, C.PERIOD]).toPandas()
    out["levels"] = levels
    return out


def linkage_result(spark, cfg: Config, month: dt.date, truth: Path) -> dict[str, Any] | None:
    """Linkage, metro area and trips by period against the truth (None for a city without
    truth/moves.parquet). The truth is recomputed from truth/moves.parquet and
    persons.parquet with this configuration (mobsig.synth.linkage_truth); the metro area
    measured is the published metro_area table (membership is published for every unit)."""
    import pandas as pd

    from mobsig.io.catalog import Catalog
    from mobsig.synth import evaluate as ev
    from mobsig.synth import linkage_truth as lt

    if not (truth / LINKAGE_TRUTH).exists():
        return None
    got = unsuppressed_linkage(spark, cfg, month)
    moves = pd.read_parquet(truth / LINKAGE_TRUTH)
    persons = pd.read_parquet(truth / "persons.parquet")
    level = "city" if "origin_city" in moves else "county"
    res: dict[str, Any] = {
        "trips": ev.linkage_errors(got["trips"], got["commuters"],
                                   lt.pair_trips(moves, level, cfg.linkage.min_trip_m),
                                   lt.pair_commuters(persons, level), level),
        "metro": None, "metro_level": cfg.linkage.metro_level,
        "metro_core": list(cfg.linkage.metro_core), "trips_level": cfg.trips.level,
        "periods": None}
    tr = cfg.trips
    if f"origin_{tr.level}" in moves:
        res["periods"] = ev.period_errors(got["periods"], lt.period_trips(
            moves, tr.level, dict(tr.periods), tr.rest_period, tr.city_level, tr.min_trip_m))
    catalog = Catalog(spark, cfg.warehouse)
    lk = cfg.linkage
    if catalog.exists("metro_area") and f"home_{lk.metro_level}" in persons:
        measured = catalog.read("metro_area", month=month_key(month)).toPandas()
        units = catalog.read("units").select("level", "unit_id", "parent_id").toPandas()
        true_metro = lt.metro_truth(persons, units, lk.metro_level, list(lk.metro_core),
                                    lk.metro_threshold)
        res["metro"] = ev.metro_errors(measured, true_metro)
    return res


def execute(spark, cfg: Config, month: dt.date, truth: Path) -> dict[str, Any]:
    """The accuracy measures of ``month`` (see mobsig.synth.evaluate)."""
    import pandas as pd

    from mobsig.io.catalog import Catalog
    from mobsig.synth import evaluate as ev

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    if not catalog.exists("home_work"):
        raise InputError(f"evaluate {key}: no home_work table; run the monthly jobs first")
    hw = catalog.read("home_work", month=key).toPandas()
    if hw.empty:
        raise InputError(f"evaluate {key}: home_work has no rows; run the monthly jobs first")
    pop = unsuppressed_population(spark, cfg, month).toPandas()
    persons = pd.read_parquet(truth / "persons.parquet")
    cards = pd.read_parquet(truth / "cards.parquet")
    pop_truth = pd.read_csv(truth / "population_by_unit.csv",
                            dtype={"unit_id": str, "parent_id": str})
    center = (cfg.synth.center_lon, cfg.synth.center_lat)
    result: dict[str, Any] = {
        "month": key, "truth": str(truth),
        "home_work": ev.home_work_accuracy(hw, persons, cards, center),
        "classes": ev.class_accuracy(hw, cards),
        "multicard": ev.multicard_pairs(hw, cards, cfg.flags.multicard_min_days),
        "population": ev.population_errors(pop, pop_truth),
        "jobs_housing": None}
    if (truth / JOBS_HOUSING_TRUTH).exists():  # cities generated before it have none
        jh_truth = pd.read_csv(truth / JOBS_HOUSING_TRUTH,
                               dtype={"unit_id": str, "parent_id": str})
        result["jobs_housing"] = ev.jobs_housing_errors(
            unsuppressed_jobs_housing(spark, cfg, month).toPandas(), jh_truth)
    result["linkage"] = linkage_result(spark, cfg, month, truth)
    result["targets_met"] = ev.verdict(result)
    return result


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.synth import evaluate as ev

    month = months(args)[0]
    res = execute(spark, cfg, month, truth_dir(args, cfg))
    out = Path(args.out) if args.out else Path(cfg.base_dir) / f"evaluate-{res['month']}.json"
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False), "utf-8")
    print(f"evaluate {res['month']} against {res['truth']}:")
    print(ev.markdown(res))
    print(f"results: {out}")
    return 0
