"""Population per spatial unit for a month: resident, short-term, actual service, employed
and daily present population, raw 原样数量 and expanded 扩样数量 counts.

Reads the month's ``home_work``, ``expansion_factors`` (run ``expand`` first) and
``stays``, and every layer of paths.units (counties, townships, zones, ...) plus an H3
grid (population.grid_h3_resolution). Points (home, longest night stay, work place, daily
stays) are joined onto unit polygons with Sedona. Each card counts with the expansion
factor of its home county (with expansion.rake_ages: of its county and age band, from
``expansion_factors_age`` and the birth year in paths.subscribers). Small counts are
suppressed (privacy.k_min, with complementary suppression) before anything leaves:
suppressed rows keep ``is_suppressed = true`` and null counts. Before that, levels must
add up: every unit's count equals the sum over its child units (parent_id) within
population.max_level_gap, else the run fails naming the units (gate population_levels).
Replaces the month's
partitions of ``population_by_unit`` (every level) and writes the export files
``<warehouse>/exports/month=YYYY-MM/population_by_unit.parquet`` (GeoParquet with the
unit geometry) and ``population_by_unit.csv`` (UTF-8 with BOM).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import expansion, population, privacy, residence
from mobsig.catalog import Catalog
from mobsig.config import Config
from mobsig.errors import DataQualityError, InputError
from mobsig.jobargs import add_month_arguments, month_days, month_key, months
from mobsig.pipeline import gate_and_write
from mobsig.quality import metrics_frame, run_gate
from mobsig.runs import note_gate, note_input, note_output, note_partition

NAME = "population_by_unit"
HELP = "population per unit and class (raw and expanded, small counts suppressed)"
RECORDS_RUN = True

log = logging.getLogger(__name__)
KEYS = ["user_id", "pop_class", "role"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_month_arguments(p)
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def validate(args: argparse.Namespace, cfg: Config) -> None:
    months(args)
    cfg.require_inputs("units")
    if cfg.expansion.rake_ages:  # cards are weighted by county and age band
        cfg.require_inputs("subscribers")
        expansion.parse_age_bands(cfg.expansion.age_bands)


def small_counts(pv) -> list[int]:
    """Raw counts that must never be published (the gate's forbidden set)."""
    return list(range(0 if pv.suppress_zeros else 1, pv.k_min)) or [-1]


def release(cached: list[DataFrame]) -> None:
    """Unpersist every frame a build cached (idempotent)."""
    for df in cached:
        df.unpersist()


def build(spark, cfg: Config, month: dt.date, catalog: Catalog):
    """The unsuppressed per-unit counts of ``month``, the units frame, the frames it cached
    (the caller unpersists them with :func:`release` when done) and the number of days
    with daily stays. No writes. When it fails half-way it releases what it cached."""
    cached: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        cached.append(df)
        return df

    try:
        table, units, n_days = _build(spark, cfg, month, catalog, keep)
    except BaseException:
        release(cached)
        raise
    return table, units, cached, n_days


def _build(spark, cfg: Config, month: dt.date, catalog: Catalog,
           keep: Callable[[DataFrame], DataFrame]) -> tuple[DataFrame, DataFrame, int]:
    key = month_key(month)
    hw = keep(catalog.read("home_work", month=key).persist(StorageLevel.MEMORY_AND_DISK))
    n_hw = hw.count()
    note_input("home_work", n_hw)
    if n_hw == 0:
        raise InputError(f"population_by_unit {key}: no home_work rows; run home_work first")
    factors = keep(catalog.read("expansion_factors", month=key).cache())
    n_f = factors.count()
    note_input("expansion_factors", n_f)
    if n_f == 0:
        raise InputError(f"population_by_unit {key}: no expansion_factors; run expand first")
    units = keep(population.read_units(spark, cfg.unit_layers()).cache())
    res = cfg.population.grid_h3_resolution

    pts = population.user_points(hw)
    poly = population.assign_units(pts, units, KEYS)
    members = poly.unionByName(population.with_grid(pts, KEYS, res))
    county = poly.where(F.col("level") == "county").select("user_id", "role", "unit_id")
    age_factors = user_bands = None
    if cfg.expansion.rake_ages:  # weights per county and age band (expand with rake_ages)
        age_factors = keep(catalog.read("expansion_factors_age", month=key).cache())
        n_a = age_factors.count()
        note_input("expansion_factors_age", n_a)
        if n_a == 0:
            raise InputError(f"population_by_unit {key}: expansion.rake_ages is on but there "
                             "are no expansion_factors_age rows; run expand with rake_ages")
        have = {r["age_band"] for r in age_factors.select("age_band").distinct().collect()}
        want = {*cfg.expansion.age_bands, expansion.UNKNOWN_BAND}
        if not have <= want or not set(cfg.expansion.age_bands) <= have:
            # bands changed since expand ran: cards would silently get the county factor
            raise InputError(f"population_by_unit {key}: expansion_factors_age has the age "
                             f"bands {sorted(have)}, expansion.age_bands is "
                             f"{list(cfg.expansion.age_bands)}; re-run expand for the month")
        user_bands = expansion.with_age_band(
            expansion.read_subscribers(spark, cfg.path("subscribers")),
            expansion.parse_age_bands(cfg.expansion.age_bands), month.year)
    weights = keep(population.user_weights(hw, county, factors, age_factors,
                                           user_bands).cache())
    counts = population.class_counts(members, weights)

    stays = catalog.read("stays", dt=month_days(month) + [residence.next_month(month)])
    stays = stays.select("user_id", "stay_start", "stay_end", "lon", "lat").withColumn(
        residence.PLACE_CELL, F.lit(0).cast("bigint"))
    eligible = hw.where(F.col("is_counted") & (F.col("pop_class") != "transit"))
    day_pts = keep(residence.day_pieces(stays, month)
                   .join(eligible.select("user_id"), "user_id", how="left_semi")
                   .select("user_id", "key_date", "lon", "lat").distinct()
                   .persist(StorageLevel.MEMORY_AND_DISK))
    n_days = day_pts.select("key_date").distinct().count()
    dkeys = ["user_id", "key_date", "lon", "lat"]
    day_members = population.assign_units(day_pts, units, dkeys).unionByName(
        population.with_grid(day_pts, dkeys, res))
    daily = population.daily_present(day_members, weights, n_days)
    table = population.complete(counts.unionByName(daily), units)
    return table, units, n_days


def export_files(spark, cfg: Config, key: str, catalog: Catalog, units) -> dict[str, str]:
    """GeoParquet (with unit geometry) and CSV (UTF-8 with BOM) of the month's rows."""
    folder = Path(cfg.warehouse) / "exports" / f"month={key}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = catalog.read("population_by_unit", month=key)
    geom = units.select("level", "unit_id", "geometry")
    cell = F.expr("ST_H3ToGeom(array(CAST(conv(unit_id, 16, 10) AS BIGINT)))[0]")
    with_geom = rows.join(geom, ["level", "unit_id"], how="left").withColumn(
        "geometry", F.when(F.col("level") == population.GRID_LEVEL, cell)
        .otherwise(F.col("geometry")))
    ordered = with_geom.orderBy("level", "unit_id", "pop_class").coalesce(1)
    gpq = folder / "population_by_unit.parquet"
    ordered.write.format("geoparquet").mode("overwrite").save(str(gpq))
    pdf = rows.orderBy("level", "unit_id", "pop_class").toPandas()
    pdf["raw_count"] = pdf["raw_count"].astype("Int64")
    csv = folder / "population_by_unit.csv"
    tmp = csv.with_suffix(".csv.tmp")
    pdf.to_csv(tmp, index=False, encoding="utf-8-sig")
    shutil.move(str(tmp), str(csv))
    return {"geoparquet": str(gpq), "csv": str(csv)}


def gate_levels(spark, cfg: Config, key: str, table: DataFrame) -> float:
    """Gate ``population_levels`` on the unsuppressed counts, before anything is written:
    the largest relative gap between a unit and the sum over its child units
    (population.level_gaps) must be <= population.max_level_gap; the error names the worst
    units with their numbers."""
    worst = (population.level_gaps(table).orderBy(F.col("gap").desc(), "parent_id",
                                                   "pop_class").limit(5).collect())
    gap = float(worst[0]["gap"]) if worst else 0.0
    limit = cfg.population.max_level_gap
    try:
        res = run_gate(metrics_frame(spark, {"level_gap": gap}), "population_levels",
                       params={"max_level_gap": limit}, results_dir=cfg.quality_dir,
                       label=f"month={key}")
    except DataQualityError as exc:
        units = "; ".join(
            f"{r['parent_level']} {r['parent_id']} ({r['parent_name'] or '?'}) "
            f"{r['pop_class']}: {r['parent_expanded']:.1f} vs {r['children_expanded']:.1f} "
            f"over its child units (raw {r['parent_raw']} vs {r['children_raw']})"
            for r in worst if r["gap"] > limit)
        raise DataQualityError(
            f"{exc}\n  population_by_unit {key}: levels do not add up (largest gap "
            f"{gap:.2%} > population.max_level_gap {limit:.2%}): {units}. A child layer "
            "does not tile its parent (or a unit has the wrong parent_id).",
            exc.result) from None
    note_gate({"table": "population_by_unit", **res.summary()})
    return round(gap, 6)


def execute(spark, cfg: Config, month: dt.date, export: bool = True) -> dict[str, Any]:
    """Build, suppress, gate and write the ``population_by_unit`` partitions of ``month``."""
    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    note_partition(f"month={key}")
    table, units, cached, n_days = build(spark, cfg, month, catalog)
    try:
        # read by the levels gate and by suppression: computed once
        table = table.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(table)
        level_gap = gate_levels(spark, cfg, key, table)
        pv = cfg.privacy
        out = privacy.with_suppression(table, pv.k_min, pv.complementary,
                                       pv.suppress_zeros).withColumn(
            "month", F.lit(key))
        gate_and_write(catalog, out, "population_by_unit", {"month": key},
                       suite="population_by_unit", params={"small_counts": small_counts(pv)},
                       results_dir=cfg.quality_dir, label=f"month={key}")
        written = catalog.read("population_by_unit", month=key)
        stats = written.groupBy("level").agg(
            F.count("*").alias("rows"),
            F.sum(F.col("is_suppressed").cast("int")).alias("suppressed")).collect()
        files = export_files(spark, cfg, key, catalog, units) if export else {}
        if files:
            note_output("exports/population_by_unit.csv", sum(r["rows"] for r in stats))
    finally:
        release(cached)
    result = {"month": key, "days": n_days,
              "levels": {r["level"]: {"rows": r["rows"], "suppressed": r["suppressed"]}
                         for r in stats},
              "level_gap": level_gap, "files": files}
    log.info("population_by_unit %s: %s", key, result)
    return result


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import month_label, recorded

    for month in months(args):
        res = recorded(spark, cfg, NAME, month_label(month),
                       lambda month=month: execute(spark, cfg, month,
                                                   export=not args.no_export_files))
        levels = ", ".join(f"{k} {v['rows']} rows ({v['suppressed']} suppressed)"
                           for k, v in sorted(res["levels"].items()))
        print(f"population_by_unit {res['month']}: {levels}")
        for kind, path in res["files"].items():
            print(f"  {kind:10s} {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
