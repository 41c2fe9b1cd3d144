"""Measure a month's outputs against a synthetic city's ground truth.

    mobsig evaluate --config CITY/config.yaml --month 2026-06 [--truth DIR] [--out FILE]

For a city made by ``mobsig synth`` (or ``mobsig demo``) whose jobs have run through
``population_by_unit``: homes and work places within 500 m of the truth, population class
accuracy per class, 一人多卡 pair precision and recall, expanded residents per county
and per township (townships of at least 1,000 true people) against the true population,
the jobs-housing ratio 职住比 and self-containment per county and township with enough
true employed residents against the true ones, the daily presence 日实际服务人口 per
county and township and day (people present >= 3 h, and its hourly profile) against the
true persons present, the service population of each facility (distinct persons of the
month with >= 30 min inside; visitors, per-day mean, catchment radius, county shares of
the catchment), commuting 通勤 (median commute distance, share within 45 min per county
with enough true commuters), inter-city trips and commuters per pair of cities, the
metropolitan-area delineation and trips by period, the land-use intensity per parcel (the
count behind each kind's density), the farmland screening (occupied polygons found,
false ones per 100), the reserve screening (visitors per core zone and day, over the days
screen_reserves ran; the planted intruders' days alerted, from the stored alerts) and the
idle-land screening (near-zero parcels found, false ones per 100; read from the stored
screen_idle_land month), each next to its target (domain.md, issues #5, #14 and #15);
then a line per screening scenario of issue 15 and one for the facilities' service
population (the planted cases found, their figure against the truth, false suspects per
100 zones; mobsig.synth.evaluate.scenario_lines).
Reads ``home_work`` and ``metro_area``, recomputes the unsuppressed population,
jobs-housing, daily presence, service population, commuting, linkage, trips, land-use and
farmland counts (``population.population_table``, ``jobs_housing.counts_table``,
``presence.presence_table``, ``service_population.service_counts``,
``commute.month_tables``, ``mobsig.linkage``, ``mobsig.trips``; nothing is written) and
the truth files in ``--truth`` (default: ``truth/`` next to the config file;
``jobs_housing.csv``, ``daily_presence.csv``, the service population, ``commute.csv``,
``commute_od.csv``, ``moves.parquet``, ``land_use_intensity.csv``,
``screen_farmland.csv``, ``screen_reserves.csv``, ``screen_idle_land.csv`` and
``exposure_hazards.csv`` (hazard exposure's day and night maxima,
``unsuppressed_exposure``) are optional, older cities have none). Prints a
Markdown table and writes the numbers as JSON (``--out``, default ``evaluate-<month>.json`` next to
the config). Exit status 0 also when a target is missed: this is a measurement, the
targets met are in the JSON (``targets_met``); with ``--require accuracy`` a missed row
of issue 18's accuracy table (stays, homes, work places, night-shift workers' homes,
一人多卡 pairs, non-human cards, townships) ends it with exit status 8 naming each, with
``--require all`` also any other missed target (a row not measurable on the city, n/a,
is no miss): the evaluation harness of ``make accuracy``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from mobsig.config import Config
from mobsig.errors import ConfigError, InputError, TargetsMissedError
from mobsig.jobargs import month_days, month_key, months

NAME = "evaluate"
HELP = "accuracy of a month's outputs against a synthetic city's truth"
TRUTH_FILES = ("persons.parquet", "cards.parquet", "population_by_unit.csv")
JOBS_HOUSING_TRUTH = "jobs_housing.csv"  # optional: older cities have none
DAILY_PRESENCE_TRUTH = "daily_presence.csv"  # optional: older cities have none
EXPOSURE_TRUTH = "exposure_hazards.csv"  # optional: older cities have none
SERVICE_TRUTH = ("service_population.csv", "service_population_daily.csv",
                 "service_catchment.csv")  # optional: older cities have none
COMMUTE_TRUTH = ("commute.csv", "commute_od.csv")  # optional: older cities have none
LAND_USE_TRUTH = "land_use_intensity.csv"  # optional: older cities have none
FARMLAND_TRUTH = "screen_farmland.csv"  # optional: older cities have none
RESERVES_TRUTH = "screen_reserves.csv"  # optional: older cities have none
IDLE_LAND_TRUTH = "screen_idle_land.csv"  # optional: older cities have none
LINKAGE_TRUTH = "moves.parquet"  # optional: cities before the linkage truth have none


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--month", required=True, help="month, YYYY-MM")
    p.add_argument("--truth", help="the city's truth folder (default: truth/ next to the "
                                   "config file)")
    p.add_argument("--out", help="JSON result file (default: evaluate-<month>.json next to "
                                 "the config file)")
    p.add_argument("--require", choices=("accuracy", "all"),
                   help="exit with status 8 when a target is missed: 'accuracy' the rows of "
                        "issue 18's accuracy table, 'all' every target (the results are "
                        "written and printed first)")


def missed(result: dict, require: str | None) -> list[str]:
    """The targets ``result`` (of :func:`execute`) misses that ``require`` asks for:
    "accuracy": the rows of its ``accuracy_table`` whose ``met`` is False (measure, value
    and target); "all": those and every other key of ``targets_met`` that is False; None:
    nothing. A target not measurable on the city (None) is no miss."""
    if require is None:
        return []
    out = [f"{r['measure']}: {r['value']} (target {r['target']})"
           for r in result.get("accuracy_table", []) if r.get("met") is False]
    if require == "all":
        out += [f"{k}: not met (see the table)"
                for k, ok in result.get("targets_met", {}).items() if ok is False]
    return out


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


def _stays_of_days(catalog, cfg: Config, days: list[dt.date]):
    """The stays table's rows from the day before the first of ``days`` to the day after
    the last, and ``presence.stays_for_days`` of them (with stays_carry's open runs):
    each day's stays as its daily_presence and exposure_hazards runs read them."""
    from mobsig import presence
    from mobsig.config import date_range

    window = date_range(days[0], days[-1] + dt.timedelta(days=1))
    closed = catalog.read("stays", dt=[days[0] - dt.timedelta(days=1), *window])
    return closed, presence.stays_for_days(closed, catalog.read("stays_carry", dt=window),
                                           days, cfg.stays.tau_min)


def unsuppressed_presence(spark, cfg: Config, month: dt.date,
                          days: list[dt.date] | None = None):
    """The daily presence rows of ``days`` (default: every day of ``month``) before
    suppression, every level, recomputed from the stored stays, stays_carry, home_work,
    card_places, factors and units exactly as the job computes each day
    (``presence.stays_for_days``, ``presence.presence_table`` with the month's classes and
    weights; nothing is written)."""
    from mobsig import presence
    from mobsig.geo import unit_polygons
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    for table in ("home_work", "card_places", "expansion_factors", "units", "stays",
                  "stays_carry"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the monthly jobs first")
    days = sorted(days or month_days(month))
    # each day's stays as its daily_presence run saw them (those stored on the day and
    # the next, and the runs open at the end of the next; the day before's for the
    # bridged gaps), so this is what the job wrote
    closed, stays = _stays_of_days(catalog, cfg, days)
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    weights, default = presence.card_weights(catalog.read("card_places", month=key),
                                             catalog.read("expansion_factors", month=key),
                                             age)
    dp = cfg.daily_presence
    return presence.presence_table(
        presence.bridged(stays, dp.bridge_gap_h, dp.bridge_max_dist_m, before=closed),
        presence.card_classes(catalog.read("home_work", month=key)), weights,
        default, unit_polygons(catalog.read("units")), days, dp.min_hours,
        dp.hour_min_minutes, cfg.population.grid_h3_resolution)


def unsuppressed_exposure(spark, cfg: Config, month: dt.date,
                          days: list[dt.date] | None = None):
    """exposure_hazards' hourly counts before suppression for ``days`` of ``month``
    (default: every day), as each day's run computes them (``hazards.exposure_counts``
    on the stays it sees): ``key_date``, ``unit_id``, ``measure``, ``hour``,
    ``raw_count``, ``expanded_count`` (cells with a card only; nothing is written). None
    when the units table has no hazard point."""
    from pyspark.sql import functions as F

    from mobsig import columns as C
    from mobsig import hazards, presence
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    sc = cfg.screen
    points, _ = hazards.layer_points(catalog.read("units"), sc.hazard_layers,
                                     sc.hazard_buffer_m, sc.hazard_buffer_attribute)
    if points.empty:
        return None
    days = sorted(days or month_days(month))
    closed, stays = _stays_of_days(catalog, cfg, days)
    stays = presence.bridged(stays, sc.hazard_bridge_gap_h, sc.hazard_bridge_max_dist_m,
                             before=closed)
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    places = catalog.read("card_places", month=key)
    weights, default = presence.card_weights(places, catalog.read("expansion_factors",
                                                                  month=key), age)
    homes = hazards.home_points(places)
    cell_lon, cell_lat, grid = hazards.grid_of(points)
    counts = hazards.exposure_counts(
        stays, presence.card_classes(catalog.read("home_work", month=key)), homes, weights,
        default, hazards.grid_frame(spark, grid), cell_lon, cell_lat, days,
        sc.hazard_hour_min_minutes)
    ids = hazards.points_frame(spark, points).select(hazards.POINT, C.UNIT_ID)
    return counts.join(F.broadcast(ids), hazards.POINT).drop(hazards.POINT)


def uncovered_exposure(spark, cfg: Config, days: list[dt.date]):
    """The hazard points not observed on ``days`` (``hazards.uncovered_points``: no cell
    in the buffer; the job publishes them as null, no_coverage): pandas ``key_date``,
    ``level``, ``unit_id``, ``unit_name``."""
    from mobsig import hazards
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    sc = cfg.screen
    points, _ = hazards.layer_points(catalog.read("units"), sc.hazard_layers,
                                     sc.hazard_buffer_m, sc.hazard_buffer_attribute)
    return hazards.uncovered_points(catalog.read("cells"), points, days)


def unsuppressed_service(spark, cfg: Config, month: dt.date):
    """The month's service population tables before suppression for the zone layers of
    service_population.zones (``service_population.service_counts``; nothing is
    written); None when no zone layer is configured."""
    from mobsig import service_population as sp
    from mobsig.geo import next_month, unit_polygons
    from mobsig.io.catalog import Catalog

    s = cfg.service_population
    if not s.zones:
        return None
    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    for table in ("card_places", "expansion_factors", "units", "stays"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the monthly jobs first")
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    return sp.service_counts(
        catalog.read("stays", dt=month_days(month) + [next_month(month)]),
        catalog.read("card_places", month=key), catalog.read("expansion_factors", month=key),
        age, unit_polygons(catalog.read("units")), list(s.zones), list(s.home_levels),
        month, s.min_stay_min * 60, s.catchment_quantile, cfg.population.grid_h3_resolution)


def commute_tables(spark, cfg: Config, month: dt.date):
    """The month's commuting frames before suppression (``commute.MonthTables``),
    recomputed from the stored card_places, factors, moves, events_clean and units
    (``commute.month_tables``; nothing is written)."""
    from mobsig import commute
    from mobsig.geo import next_month, unit_polygons
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    for table in ("card_places", "expansion_factors", "units", "moves", "events_clean"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the jobs first")
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    days = month_days(month) + [next_month(month)]
    return commute.month_tables(
        catalog.read("card_places", month=key), catalog.read("expansion_factors", month=key),
        age, unit_polygons(catalog.read("units")), catalog.read("moves", dt=days),
        catalog.read("events_clean", dt=days), month, cfg.population.grid_h3_resolution,
        cfg.commute)
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
    delineation measured is recomputed from the unsuppressed commuters (the release
    leaves a unit's membership null where it would pin a hidden count: counted as
    ``not_delineated``; the published table where linkage.levels leaves the metro level
    out of the recomputed counts)."""
    import pandas as pd

    from mobsig import linkage
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
        pairs = got["commuters"][got["commuters"]["level"] == lk.metro_level]
        full = measured if pairs.empty else linkage.delineate_level(
            pairs, measured["unit_id"].tolist(),
            measured.loc[measured["is_core"], "unit_id"].tolist(), lk.metro_threshold)
        res["metro"] = ev.metro_errors(full, true_metro)
        res["metro"]["not_delineated"] = int(measured["is_member"].isna().sum())
    return res


def unsuppressed_land_use(spark, cfg: Config, month: dt.date):
    """The month's land-use intensity rows before suppression (one per parcel of
    land_use.layers), recomputed from the stored card_places, factors, stays and units
    (``land_use.counts_table``; nothing is written); None without a land-use layer."""
    from mobsig import land_use
    from mobsig.geo import next_month
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    key, lu = month_key(month), cfg.land_use
    for table in ("card_places", "expansion_factors", "units", "stays"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the monthly jobs first")
    zones = land_use.parcels(catalog.read("units"), lu.layers, lu.class_attribute,
                             lu.residential_classes, lu.commercial_classes,
                             lu.industrial_classes)
    if zones.isEmpty():
        return None
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    counts = land_use.counts_table(
        catalog.read("card_places", month=key),
        catalog.read("stays", dt=month_days(month) + [next_month(month)]),
        catalog.read("expansion_factors", month=key), age, zones, month,
        lu.day_start_hour, lu.day_end_hour, lu.visit_min_min * 60)
    return land_use.spread(counts)


def unsuppressed_farmland(spark, cfg: Config, month: dt.date):
    """The month's farmland counts before suppression (one row per polygon of
    screen.farmland_layers, with ``occupants_raw_count``), recomputed from the stored
    card_places, factors and units (``farmland.month_counts``; nothing is written)."""
    from pyspark.sql import functions as F

    from mobsig import farmland
    from mobsig.geo import unit_polygons
    from mobsig.io.catalog import Catalog
    from mobsig.population import user_weights

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    for table in ("card_places", "expansion_factors", "units"):
        if not catalog.exists(table):
            raise InputError(f"evaluate {key}: no {table} table; run the monthly jobs first")
    places = catalog.read("card_places", month=key)
    zones = unit_polygons(catalog.read("units")).where(
        F.col("level").isin(list(cfg.screen.farmland_layers)))
    age = (catalog.read("expansion_factors_age", month=key) if cfg.expansion.rake_ages
           else None)
    weights = user_weights(places, catalog.read("expansion_factors", month=key), age)
    counts = farmland.month_counts(farmland.members(places, zones), weights, zones)
    return farmland.spread(counts.withColumn("_raw", F.col("raw_count")))


def unsuppressed_reserves(spark, cfg: Config, days: list[dt.date]):
    """Visitors and residents per reserve core zone (screen.reserve_layers) and day of
    ``days``, before suppression (``dt``, ``unit_id``, ``visitors_raw_count``,
    ``residents_raw_count``), recomputed from the stored stays, stays_carry, card_places
    and units as screen_reserves counts them (``reserves.zone_visits``, ``residents``,
    ``day_counts``; nothing is written)."""
    from pyspark.sql import functions as F

    from mobsig import presence, reserves
    from mobsig.geo import unit_polygons
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    for table in ("stays", "card_places", "units"):
        if not catalog.exists(table):
            raise InputError(f"evaluate: no {table} table; run the chain first")
    both = sorted({*days, *(d + dt.timedelta(days=1) for d in days)})
    months = sorted({d.strftime("%Y-%m") for d in days})
    zones = unit_polygons(catalog.read("units")).where(
        F.col("level").isin(list(cfg.screen.reserve_layers)))
    places = catalog.read("card_places", month=months)
    carry = (catalog.read("stays_carry", dt=both) if catalog.exists("stays_carry")
             else None)
    stays = catalog.read("stays", dt=both)
    if carry is None:
        carry = spark.createDataFrame([], catalog.schema("stays_carry").struct)
    visits = reserves.zone_visits(presence.stays_for_days(stays, carry, days,
                                                          cfg.stays.tau_min),
                                  zones, cfg.screen.reserve_visit_min_min * 60)
    homes = reserves.residents(places, zones)
    counts = reserves.day_counts(visits, places, homes, zones, days)
    res = homes.groupBy("month", "level", "unit_id").agg(
        F.count("user_id").alias("residents_raw_count"))
    return (counts.withColumn("month", F.date_format("key_date", "yyyy-MM"))
            .join(res, ["month", "level", "unit_id"], how="left")
            .select(F.col("key_date").alias("dt"), "unit_id",
                    F.col("visitors").alias("visitors_raw_count"),
                    F.coalesce("residents_raw_count", F.lit(0)).alias("residents_raw_count")))


def accuracy_result(spark, cfg: Config, month: dt.date, truth: Path) -> dict[str, Any]:
    """The measures of issue 18's accuracy table alone (mobsig.synth.evaluate.accuracy_table):
    homes and work places, population classes, 一人多卡 pairs, population per unit, stays
    and non-human cards, from the month's home_work, card_places and stays (what the chain
    through population_by_unit wrote); :func:`execute` adds the indicators to it."""
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
    return {
        "month": key, "truth": str(truth),
        "home_work": ev.home_work_accuracy(
            hw, persons, cards, center,
            work_min_home_dist_m=cfg.home_work.work_min_home_dist_m,
            sites=(catalog.read("cells").select("lon", "lat", "spacing_m").toPandas()
                   if catalog.exists("cells") else None)),
        "classes": ev.class_accuracy(hw, cards),
        "multicard": ev.multicard_pairs(hw, cards, cfg.flags.multicard_min_days),
        "population": ev.population_errors(pop, pop_truth),
        "stays": stays_result(spark, cfg, month, truth),
        "non_human": ev.non_human_accuracy(hw, cards),
        "jobs_housing": None, "commute": None}


def execute(spark, cfg: Config, month: dt.date, truth: Path) -> dict[str, Any]:
    """The accuracy measures of ``month`` (see mobsig.synth.evaluate): those of
    :func:`accuracy_result`, then every indicator the truth has."""
    import pandas as pd

    from mobsig.io.catalog import Catalog
    from mobsig.synth import evaluate as ev

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    result = accuracy_result(spark, cfg, month, truth)
    if (truth / JOBS_HOUSING_TRUTH).exists():  # cities generated before it have none
        jh_truth = pd.read_csv(truth / JOBS_HOUSING_TRUTH,
                               dtype={"unit_id": str, "parent_id": str})
        result["jobs_housing"] = ev.jobs_housing_errors(
            unsuppressed_jobs_housing(spark, cfg, month).toPandas(), jh_truth)
    result["daily_presence"] = None
    if (truth / DAILY_PRESENCE_TRUTH).exists():  # cities generated before it have none
        dp_truth = pd.read_csv(truth / DAILY_PRESENCE_TRUTH, dtype={"unit_id": str})
        days = sorted(d for d in map(dt.date.fromisoformat, dp_truth["dt"].unique())
                      if d.replace(day=1) == month)
        if days:
            result["daily_presence"] = ev.daily_presence_errors(
                unsuppressed_presence(spark, cfg, month, days).toPandas(), dp_truth)
    result["exposure_hazards"] = None
    if (truth / EXPOSURE_TRUTH).exists():  # cities generated before it have none
        ex_truth = pd.read_csv(truth / EXPOSURE_TRUTH, dtype={"unit_id": str})
        days = sorted(d for d in map(dt.date.fromisoformat, ex_truth["dt"].unique())
                      if d.replace(day=1) == month)
        measured = unsuppressed_exposure(spark, cfg, month, days) if days else None
        if measured is not None:
            from mobsig.hazards import night_hours

            sc = cfg.screen
            result["exposure_hazards"] = ev.exposure_errors(
                measured.toPandas(), ex_truth[ex_truth["dt"].isin([d.isoformat()
                                                                   for d in days])],
                night_hours(sc.hazard_night_start_hour, sc.hazard_night_end_hour),
                uncovered=uncovered_exposure(spark, cfg, days))
    counts = unsuppressed_service(spark, cfg, month)
    result["service_population"] = None
    if counts is not None and all((truth / n).exists() for n in SERVICE_TRUTH):
        t_month, t_daily, t_catch = (pd.read_csv(truth / n, dtype={"unit_id": str})
                                     for n in SERVICE_TRUTH)
        result["service_population"] = ev.service_population_errors(
            counts.monthly.toPandas(), counts.daily.toPandas(), counts.radius.toPandas(),
            counts.catchment.toPandas(), t_month, t_daily, t_catch, key)
    if all((truth / n).exists() for n in COMMUTE_TRUTH):  # older cities have none
        from mobsig import commute

        t = commute_tables(spark, cfg, month)
        ids = {"unit_id": str, "parent_id": str, "origin_id": str, "dest_id": str}
        result["commute"] = ev.commute_errors(
            commute.unsuppressed(t).toPandas(), pd.read_csv(truth / COMMUTE_TRUTH[0],
                                                            dtype=ids),
            t.od.toPandas(), pd.read_csv(truth / COMMUTE_TRUTH[1], dtype=ids))
    result["linkage"] = linkage_result(spark, cfg, month, truth)
    result["land_use_intensity"] = None
    if (truth / LAND_USE_TRUTH).exists():  # cities generated before it have none
        lu = unsuppressed_land_use(spark, cfg, month)
        if lu is not None:
            result["land_use_intensity"] = ev.land_use_errors(
                lu.toPandas(), pd.read_csv(truth / LAND_USE_TRUTH, dtype={"unit_id": str}))
    result["screen_farmland"] = None
    if (truth / FARMLAND_TRUTH).exists():  # cities generated before it have none
        fs_truth = pd.read_csv(truth / FARMLAND_TRUTH, dtype={"unit_id": str, "month": str})
        fs_truth = fs_truth[fs_truth["month"] == key]
        if len(fs_truth):
            result["screen_farmland"] = ev.farmland_errors(
                unsuppressed_farmland(spark, cfg, month).toPandas(), fs_truth,
                cfg.screen.farmland_min_persons)
    result["screen_reserves"] = None
    if (truth / RESERVES_TRUTH).exists():  # cities generated before it have none
        rv_truth = pd.read_csv(truth / RESERVES_TRUTH, dtype={"unit_id": str, "dt": str})
        ran = ({r["dt"] for r in catalog.read("screen_reserves").select("dt").distinct()
                .collect()} if catalog.exists("screen_reserves") else set())
        rv_days = sorted(d for d in ran if d.strftime("%Y-%m") == key)
        if rv_days:  # the days screen_reserves ran
            rv_truth = rv_truth[rv_truth["dt"].isin([d.isoformat() for d in rv_days])]
            alerts = catalog.read("screen_reserves", dt=rv_days).select(
                "dt", "unit_id", "is_alert").toPandas()
            result["screen_reserves"] = ev.reserve_errors(
                unsuppressed_reserves(spark, cfg, rv_days).toPandas(), rv_truth, alerts)
    result["screen_idle_land"] = None
    if (truth / IDLE_LAND_TRUTH).exists() and catalog.exists("screen_idle_land"):
        il_truth = pd.read_csv(truth / IDLE_LAND_TRUTH, dtype={"unit_id": str, "month": str})
        il_truth = il_truth[il_truth["month"] == key]
        il = catalog.read("screen_idle_land", month=key).toPandas()
        if len(il_truth) and len(il):
            result["screen_idle_land"] = ev.idle_land_errors(il, il_truth)
    result["targets_met"] = ev.verdict(result)
    result["accuracy_table"] = ev.accuracy_table(result)
    return result


def stays_result(spark, cfg: Config, month: dt.date, truth: Path) -> dict[str, Any] | None:
    """Detected stays (the ``stays`` table) against truth/stays over the days of ``month``
    fully inside the simulated period (not its first or last day; see
    mobsig.synth.evaluate.stay_accuracy); None without truth/stays or such days."""
    import pandas as pd
    from pyspark.sql import functions as F

    from mobsig.io.catalog import Catalog
    from mobsig.synth import evaluate as ev

    catalog = Catalog(spark, cfg.warehouse)
    if not (truth / "stays").exists() or not catalog.exists("stays"):
        return None
    sc = cfg.synth
    first = max(sc.start_date + dt.timedelta(days=1), month)
    end = min(sc.start_date + dt.timedelta(days=sc.days - 1),
              (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1))
    if first >= end:
        return None
    days = [first + dt.timedelta(days=i) for i in range((end - first).days + 1)]
    det = catalog.read("stays", dt=[d for d in days if d < end] + [end]).select(
        "user_id", *[F.col(c).cast("timestamp_ntz").alias(c)
                     for c in ("stay_start", "stay_end")], "lon", "lat").toPandas()
    for c in ("stay_start", "stay_end"):
        det[c] = det[c].astype("datetime64[ns]")
    true = pd.read_parquet(truth / "stays")
    for c in ("stay_start", "stay_end"):
        true[c] = true[c].astype("datetime64[ns]")
    cards = pd.read_parquet(truth / "cards.parquet")
    return ev.stay_accuracy(det, true, cards, pd.Timestamp(first), pd.Timestamp(end),
                            cfg.stays.tau_min * 60.0)


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.synth import evaluate as ev

    month = months(args)[0]
    res = execute(spark, cfg, month, truth_dir(args, cfg))
    out = Path(args.out) if args.out else Path(cfg.base_dir) / f"evaluate-{res['month']}.json"
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False), "utf-8")
    print(f"evaluate {res['month']} against {res['truth']}:")
    print(ev.markdown(res))
    print(f"results: {out}")
    miss = missed(res, getattr(args, "require", None))
    if miss:
        raise TargetsMissedError(f"evaluate {res['month']}: {len(miss)} target(s) missed "
                                 f"(--require {args.require}):\n  - " + "\n  - ".join(miss))
    return 0
