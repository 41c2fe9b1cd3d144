"""Home 居住地, work 就业地 and population class per card for a month.

Reads the month's ``stays`` (plus the first day of the next month, for the last evening's
night), the ``cells`` table (site spacing, to re-centre homes among sparse sites; a month
with stays and no cells table is an error: run ingest_cells) and the month's
``user_flags`` when present, and replaces the month's partition of
``home_work``: one row per card with a stay in the month or a flags row. Home comes from
night stays (home_work.night_start_h..night_end_h, keyed by the evening's date), work from
daytime stays on workdays of the holiday calendar (paths.holidays or the built-in Chinese
calendar). Cards whose home cannot be identified keep their row with a ``home_reason``;
non-human cards and non-primary cards of a multi-card group are kept but not counted
(``is_counted = false``). Population classes follow the ``population`` section.

Gates, before anything is written: ``home_identification`` (among counted cards present
>= population.resident_min_days days, the share with an identified home, residents /
(residents + unidentified), must reach home_work.min_home_share, default 80 %, else the
run fails naming the share), then the ``home_work`` suite on the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from mobsig import residence
from mobsig.calendar import load_calendar
from mobsig.catalog import Catalog
from mobsig.config import Config
from mobsig.errors import DataQualityError, InputError
from mobsig.jobargs import add_month_arguments, month_days, month_key, months
from mobsig.pipeline import bbox_params, gate_and_write
from mobsig.quality import metrics_frame, run_gate
from mobsig.runs import note_gate, note_input, note_partition

NAME = "home_work"
HELP = "identify home, work and population class per card for a month"
RECORDS_RUN = True

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_month_arguments(p)


def validate(args: argparse.Namespace, cfg: Config) -> None:
    months(args)
    load_calendar(cfg.path("holidays") if cfg.paths.holidays else None,
                  cfg.home_work.weekend_days)


def workdays_of(cfg: Config, month: dt.date) -> list[dt.date]:
    cal = load_calendar(cfg.path("holidays") if cfg.paths.holidays else None,
                        cfg.home_work.weekend_days)
    return [d for d in month_days(month) if cal.is_workday(d)]


def execute(spark, cfg: Config, month: dt.date) -> dict[str, Any]:
    """Build and write the ``home_work`` partition of ``month`` (its first day)."""
    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    note_partition(f"month={key}")
    days = month_days(month)
    stays = catalog.read("stays", dt=days + [residence.next_month(month)])
    has_cells = catalog.exists("cells")  # Catalog.read would create it empty
    if not stays.isEmpty() and (not has_cells or catalog.read("cells").isEmpty()):
        # ingest_cells always runs before clean_events: stays without a cells table are an
        # operator error (a wrong warehouse, a table moved aside), not a reason to refine
        # every home within the fixed home_work.home_refine_min_m only
        raise InputError(f"home_work {key}: the month has stays but the cells table at "
                         f"{catalog.path('cells')} is missing or empty (homes are re-centred "
                         "by its site spacing); run ingest_cells first")
    cells = (catalog.read("cells").select("cell_id", "spacing_m") if has_cells
             else spark.createDataFrame([], "cell_id string, spacing_m double"))
    stays = (residence.with_spacing(
                 stays.select("user_id", "stay_start", "stay_end", "lon", "lat", "cell_id"),
                 cells)
             .drop("cell_id")
             .transform(residence.with_place_cell, cfg.home_work.cluster_h3_resolution)
             .persist(StorageLevel.MEMORY_AND_DISK))
    sizes = stays.agg(F.count(F.lit(1)).alias("n"), F.count(residence.SPACING).alias("known"))
    n_stays, n_spaced = sizes.first()
    note_input("stays", n_stays)
    no_spacing = n_stays - n_spaced
    if no_spacing:
        log.warning("home_work %s: %d of %d stays are at cells missing from the cells table "
                    "(or without spacing_m): homes found there are refined within the fixed "
                    "home_work.home_refine_min_m = %.0f m, not by the local site spacing",
                    key, no_spacing, n_stays, cfg.home_work.home_refine_min_m)
    flags = catalog.read("user_flags", month=key)
    n_flags = flags.count()
    note_input("user_flags", n_flags)
    if n_stays == 0 and n_flags == 0:
        stays.unpersist()
        raise InputError(f"home_work {key}: no stays and no user_flags for the month; "
                         "run detect_stays (and flag_users) first")
    if n_flags == 0:
        log.warning("home_work %s: no user_flags for the month; every card counts as a "
                    "human single card", key)
    hw = cfg.home_work
    workdays = workdays_of(cfg, month)
    day_p = residence.day_pieces(stays, month)
    night_p = residence.night_pieces(stays, month, hw.night_start_h, hw.night_end_h)
    work_p = residence.work_pieces(stays, month, workdays, hw.work_start_h, hw.work_end_h)
    table = residence.home_work_table(
        day_p, night_p, work_p, flags if n_flags else None, hw, cfg.population, workdays,
        key, cfg.stays.h3_resolution)
    # computed once: the home identification gate reads it before anything is written
    table = table.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {r["pop_class"]: r["n"] for r in
                  table.where("is_counted").groupBy("pop_class")
                  .agg(F.count("*").alias("n")).collect()}
        home_share = gate_home_share(spark, cfg, key, counts)
        gate_and_write(catalog, table, "home_work", {"month": key}, suite="home_work",
                       params=bbox_params(cfg), results_dir=cfg.quality_dir,
                       label=f"month={key}")
    finally:
        table.unpersist()
        stays.unpersist()
    written = catalog.read("home_work", month=key)
    homes = written.where("is_counted AND home_lon IS NOT NULL").count()
    works = written.where("is_counted AND work_lon IS NOT NULL").count()
    rows = written.count()
    result = {"month": key, "stays": n_stays, "stays_without_spacing": no_spacing,
              "user_flags": n_flags, "rows": rows, "homes": homes, "works": works,
              "home_share": home_share, "workdays": len(workdays), "classes": counts}
    log.info("home_work %s: %s", key, result)
    return result


def gate_home_share(spark, cfg: Config, key: str, counts: dict[str, int]) -> float:
    """Gate ``home_identification``: residents / (residents + unidentified) among counted
    cards must reach home_work.min_home_share. Runs before the write: a failed month
    leaves the previous partition (if any) in place and the run is recorded as failed,
    so the monthly chain stops before expand. A month without long-present cards has
    nothing to identify (share 1.0, logged)."""
    present = counts.get("resident", 0) + counts.get("unidentified", 0)
    if present == 0:
        log.warning("home_work %s: no counted card present >= %d days; the home "
                    "identification gate has nothing to measure", key,
                    cfg.population.resident_min_days)
        return 1.0
    share = counts.get("resident", 0) / present
    label = f"month={key}"
    try:
        res = run_gate(metrics_frame(spark, {"home_share": share}), "home_identification",
                       params={"min_home_share": cfg.home_work.min_home_share},
                       results_dir=cfg.quality_dir, label=label)
    except DataQualityError as exc:
        raise DataQualityError(
            f"{exc}\n  home_work {key}: an identified home for {share:.1%} of the "
            f"{present} counted cards present >= {cfg.population.resident_min_days} days "
            f"(home_work.min_home_share = {cfg.home_work.min_home_share:.0%}); "
            f"{counts.get('unidentified', 0)} unidentified", exc.result) from None
    note_gate({"table": "home_work", **res.summary()})
    return round(share, 4)


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import month_label, recorded

    for month in months(args):
        res = recorded(spark, cfg, NAME, month_label(month),
                       lambda month=month: execute(spark, cfg, month))
        print(f"home_work {res['month']}: {res['rows']} cards, {res['homes']} homes, "
              f"{res['works']} workplaces; counted classes {res['classes']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
