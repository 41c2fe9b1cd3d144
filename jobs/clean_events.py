"""Clean one day of events: events_bronze -> events_clean (partitioned by dt, region).

For the day (and the regions given; default every region) each event is joined
(broadcast) to the cell version valid on that day, then:

  duplicates   rows equal on every raw column are removed (one copy kept) and counted
  heavy users  cards above clean.heavy_user_events_per_day events that day are split off
               before any per-user sort; their rows are only de-duplicated and kept with
               is_heavy_user = true, so later jobs can exclude them
  ping-pong    short excursions A->B(..)->A to neighbouring cells within
               clean.pingpong_window_s are collapsed to A (the B-side records removed)
  drift        a record implying more than clean.drift_vmax_kmh to both neighbours (and
               farther than clean.drift_min_dist_m from both) is removed; a leg with a
               high-speed-rail cell (cells.is_hsr) at either end may go up to
               clean.drift_vmax_hsr_kmh, and the neighbours must be within that speed of
               each other (an isolated jump)

Every bronze row is accounted for: bronze rows = clean rows + duplicates + ping-pong +
drift + unlocated (no valid cell version). The job checks this identity, records each
count in the run record, and fails without writing if it does not hold. A quality gate
(expectations/events_clean.json) then checks uniqueness, positions inside run.bbox_* and
that at most clean.max_removed_share of the rows were removed. The write replaces exactly
the day's (region) partitions: a re-run gives an identical table.

A region run (--region) sees only that region's events, so a user's excursion that
crosses into another region is judged on the part inside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import sys

from pyspark import StorageLevel
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import jobargs
from mobsig.config import Config
from mobsig.errors import DataQualityError, InputError

NAME = "clean_events"
HELP = "de-duplicate, locate, collapse ping-pong and remove drift: events_bronze -> events_clean"
RECORDS_RUN = True

log = logging.getLogger(__name__)

MAX_LISTED = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    jobargs.add_day_arguments(p, region=True)


def validate(args: argparse.Namespace, cfg: Config) -> None:
    jobargs.days(args)
    jobargs.regions(args)


def _cells_on_day(catalog, day: dt.date):
    """The cell versions valid on ``day``; an InputError when missing or ambiguous."""
    from mobsig.clean import cells_valid_on

    if not catalog.exists("cells"):
        raise InputError("table cells does not exist: run ingest_cells first")
    cells = cells_valid_on(catalog.read("cells"), day)
    ambiguous = (cells.groupBy(C.CELL_ID).count().where(F.col("count") > 1)
                 .limit(MAX_LISTED).collect())
    if ambiguous:
        raise InputError(f"cells: several versions valid on {day} for "
                         f"{[r[C.CELL_ID] for r in ambiguous]}; fix the validity dates")
    return cells


def execute(spark, cfg: Config, day: dt.date, regions: list[str] | None = None) -> dict:
    """Clean ``day`` (only ``regions`` if given) into events_clean; returns the counts.

    Keys: ``bronze``, ``clean``, ``removed`` (per reason), ``heavy_users``,
    ``heavy_rows`` (kept rows of heavy users), ``removed_share``.
    """
    from mobsig.catalog import Catalog
    from mobsig.clean import (
        DROP_REASON,
        REASONS,
        annotate_events,
        heavy_users,
        kept,
        with_cell_position,
    )
    from mobsig.pipeline import bbox_params, gate_and_write
    from mobsig.runs import note_input, note_output, note_partition

    catalog = Catalog(spark, cfg.warehouse)
    where = f"dt={day.isoformat()}" + (f" region={','.join(regions)}" if regions else "")
    note_partition(where)
    spec = {C.DT: day, C.REGION: regions}
    if not catalog.exists("events_bronze"):
        raise InputError("table events_bronze does not exist: run ingest_events first")
    bronze = catalog.read("events_bronze", **spec)
    n_bronze = bronze.count()
    note_input("events_bronze", n_bronze)
    if n_bronze == 0:
        raise InputError(f"events_bronze has no rows for {where}: run ingest_events first")

    cells = _cells_on_day(catalog, day)
    heavy = heavy_users(bronze, cfg.clean.heavy_user_events_per_day).persist()
    annotated = annotate_events(with_cell_position(bronze, cells), heavy, cfg.clean).persist(
        StorageLevel.MEMORY_AND_DISK)
    try:
        n_heavy_users = heavy.count()
        counts: dict[str | None, int] = {}
        n_heavy_rows = 0
        for r in annotated.groupBy(DROP_REASON, C.IS_HEAVY_USER).count().collect():
            counts[r[0]] = counts.get(r[0], 0) + int(r[2])
            if r[0] is None and r[1]:
                n_heavy_rows = int(r[2])
        n_clean = counts.pop(None, 0)
        removed = {r: counts.pop(r, 0) for r in REASONS}
        if counts:
            raise DataQualityError(f"clean_events {where}: unknown drop reasons {counts}")
        total = n_clean + sum(removed.values())
        share = sum(removed.values()) / n_bronze
        log.info("clean_events %s: bronze %d = clean %d + %s (removed share %.4f); "
                 "%d heavy users with %d kept rows", where, n_bronze, n_clean,
                 " + ".join(f"{k} {v}" for k, v in removed.items()), share,
                 n_heavy_users, n_heavy_rows)
        for reason, n in removed.items():
            note_output(f"{reason}_removed", n)
        note_output("heavy_user_rows", n_heavy_rows)
        if total != n_bronze:
            raise DataQualityError(
                f"clean_events {where}: rows do not reconcile: bronze {n_bronze} != clean "
                f"{n_clean} + removed {removed} = {total}; nothing written")
        if removed["unlocated"]:
            log.warning("clean_events %s: %d events have no cell version valid on %s "
                        "(cell table changed since ingest?)", where, removed["unlocated"], day)
        params = {**bbox_params(cfg),
                  "min_rows": math.ceil(n_bronze * (1.0 - cfg.clean.max_removed_share))}
        out = kept(annotated).select(*catalog.schema("events_clean").names)
        gate_and_write(catalog, out, "events_clean", spec, suite="events_clean",
                       params=params, results_dir=cfg.quality_dir, label=where)
    finally:
        annotated.unpersist()
        heavy.unpersist()
    return {"bronze": n_bronze, "clean": n_clean, "removed": removed,
            "heavy_users": n_heavy_users, "heavy_rows": n_heavy_rows,
            "removed_share": share}


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import day_label, recorded

    regions = jobargs.regions(args)
    for day in jobargs.days(args):
        res = recorded(spark, cfg, NAME, day_label(day, regions),
                       lambda day=day: execute(spark, cfg, day, regions))
        rm = res["removed"]
        print(f"{day}: {res['bronze']} bronze -> {res['clean']} clean; removed "
              f"{rm['duplicate']} duplicates, {rm['pingpong']} ping-pong, {rm['drift']} drift, "
              f"{rm['unlocated']} unlocated ({100 * res['removed_share']:.2f}%); "
              f"{res['heavy_users']} heavy users kept flagged")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
