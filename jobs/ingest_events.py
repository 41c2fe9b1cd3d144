"""Ingest one day of raw signaling: accepted rows -> events_bronze, rejects -> events_quarantine.

Reads paths.raw_events/dt=YYYY-MM-DD (a local folder or a URI on any Hadoop file system:
hdfs://, s3a://, viewfs://, file://; Parquet, or CSV/TSV with or without gzip and with or
without a header; see ingest.* settings), parses event_time (timestamp, 'yyyy-MM-dd
HH:mm:ss[.SSS]' or epoch milliseconds, local time in run.timezone), and gives every row
either a region (the serving cell version valid on the day, from the `cells` table: run
ingest_cells first) or a machine-readable reason: malformed_row, empty_user_id,
oversized_user_id, undersized_user_id, empty_cell_id, unparseable_time, time_outside_day,
unknown_cell.

Reconciliation: rows read = rows accepted + rows quarantined, exactly, or the run fails.
Gates: quarantine share <= ingest.max_quarantine_share, known-cell share >=
ingest.min_known_cell_share, then the bronze and quarantine suites. A missing or empty day
folder is an error.

With --region only the accepted rows of those regions are written (the partitions
dt=D AND region IN (...) are replaced) and the quarantine is left alone: it is written,
whole, by runs without --region. Re-running a day gives identical tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from zoneinfo import ZoneInfo

from pyspark import StorageLevel
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import jobargs
from mobsig.config import Config
from mobsig.errors import ConfigError, DataQualityError, InputError

NAME = "ingest_events"
HELP = "raw signaling of a day -> events_bronze (+ events_quarantine with reasons)"
RECORDS_RUN = True

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    jobargs.add_day_arguments(p, region=True)


def validate(args: argparse.Namespace, cfg: Config) -> None:
    jobargs.days(args)
    jobargs.regions(args)
    cfg.require_inputs("raw_events")


def execute(spark, cfg: Config, day: dt.date, regions: list[str] | None = None) -> dict:
    """Ingest ``day``; with ``regions`` write only those regions' bronze partitions.

    Returns the counts: rows_read, rows_accepted, rows_quarantined, per-reason counts
    (``quarantine``), rows_written (bronze rows written, i.e. of ``regions`` if given).
    """
    from mobsig.catalog import Catalog
    from mobsig.ingest import (
        accepted_events,
        cells_valid_on,
        classify_events,
        day_folder,
        plan_sources,
        read_sources,
        rejected_events,
    )
    from mobsig.pipeline import Output, gate_all_then_write
    from mobsig.quality import metrics_frame, run_gate
    from mobsig.runs import note_gate, note_input, note_partition
    from mobsig.storage import files_for, require

    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz != cfg.run.timezone:
        raise ConfigError(f"the Spark session time zone {tz!r} differs from run.timezone "
                          f"{cfg.run.timezone!r}: build the session with mobsig.session")
    label = f"dt={day.isoformat()}" + (f" region={','.join(regions)}" if regions else "")
    note_partition(label)
    catalog = Catalog(spark, cfg.warehouse)
    if not catalog.exists("cells"):
        raise InputError("the cells table does not exist yet: run `mobsig ingest_cells` first")
    day_cells = cells_valid_on(catalog.read("cells"), day).persist(StorageLevel.MEMORY_ONLY)
    raw = None
    try:
        dup = day_cells.groupBy(C.CELL_ID).count().where(F.col("count") > 1).limit(5).collect()
        if dup:
            raise InputError(f"cells table: several versions valid on {day} for "
                             f"{[r[C.CELL_ID] for r in dup]}: re-run ingest_cells")
        if regions:
            known = {r[0] for r in day_cells.select(C.REGION).distinct().collect()}
            absent = sorted(set(regions) - known)
            if absent:
                log.warning("regions %s have no cell valid on %s: nothing to write there",
                            absent, day)

        root = cfg.location("raw_events")
        files = files_for(root, spark)
        require(files, root, "paths.raw_events")  # a URI is first checked here
        groups = plan_sources(day_folder(root, day), cfg.ingest, files)
        raw = read_sources(spark, groups).persist(StorageLevel.MEMORY_AND_DISK)
        rows_read = raw.count()
        note_input("raw_events", rows_read)
        if rows_read == 0:
            raise InputError(f"day folder for {day} holds no rows")
        classified = classify_events(raw, day_cells, day, cfg.ingest)
        by_reason = {r[C.REASON]: int(r["count"])
                     for r in classified.groupBy(C.REASON).count().collect()}
        accepted = by_reason.pop(None, 0)
        quarantined = sum(by_reason.values())
        log.info("ingest %s: read %d = accepted %d + quarantined %d %s", day, rows_read,
                 accepted, quarantined, dict(sorted(by_reason.items())))
        note_input("accepted", accepted)
        note_input("quarantined", quarantined)
        if accepted + quarantined != rows_read:
            raise DataQualityError(
                f"reconciliation failed for {day}: read {rows_read} rows but accepted "
                f"{accepted} + quarantined {quarantined} = {accepted + quarantined}")
        unknown = by_reason.get("unknown_cell", 0)
        metrics = {"rows_read": rows_read, "rows_accepted": accepted,
                   "rows_quarantined": quarantined,
                   "quarantine_share": quarantined / rows_read,
                   "known_cell_share": accepted / (accepted + unknown) if accepted + unknown
                   else 1.0}
        ing = cfg.ingest
        try:
            res = run_gate(metrics_frame(spark, metrics), "events_ingest",
                           params={"max_quarantine_share": ing.max_quarantine_share,
                                   "min_known_cell_share": ing.min_known_cell_share},
                           results_dir=cfg.quality_dir, label=label)
            note_gate({"table": "events_ingest", **res.summary()})
        except DataQualityError as exc:
            note_gate({"table": "events_ingest", **exc.result})
            raise

        # zone-aware bounds: PySpark turns naive datetimes into instants with the
        # Python process's zone, not the session's
        day_start = dt.datetime.combine(day, dt.time(), ZoneInfo(cfg.run.timezone))
        bronze_params = {"day_start": day_start,
                         "day_end": day_start + dt.timedelta(days=1, microseconds=-1),
                         "user_id_min_len": ing.user_id_min_len,
                         "user_id_max_len": ing.user_id_max_len}
        bronze = accepted_events(classified, day)
        if regions:
            bronze = bronze.where(F.col(C.REGION).isin(*regions))
        partition = {C.DT: day, C.REGION: regions} if regions else {C.DT: day}
        outputs = [Output(bronze, "events_bronze", partition, params=bronze_params)]
        if regions is None:
            outputs.append(Output(rejected_events(classified, day), "events_quarantine",
                                  {C.DT: day}))
        # both tables are gated before either is written
        gate_all_then_write(catalog, outputs, results_dir=cfg.quality_dir, label=label)
        written = (accepted if not regions
                   else catalog.read("events_bronze", dt=day, region=regions).count())
    finally:
        day_cells.unpersist()
        if raw is not None:
            raw.unpersist()
    return {"day": day.isoformat(), "rows_read": rows_read, "rows_accepted": accepted,
            "rows_quarantined": quarantined, "quarantine": dict(sorted(by_reason.items())),
            "rows_written": written, "regions": regions}


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import day_label, recorded

    regions = jobargs.regions(args)
    for day in jobargs.days(args):
        res = recorded(spark, cfg, NAME, day_label(day, regions),
                       lambda day=day: execute(spark, cfg, day, regions))
        print(f"{res['day']}: read {res['rows_read']}, accepted {res['rows_accepted']}, "
              f"quarantined {res['rows_quarantined']} {res['quarantine']}"
              + (f"; wrote {res['rows_written']} rows of {regions}" if regions else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
