"""Ingest one day of raw signaling: accepted rows -> events_bronze, rejects -> events_quarantine.

Reads paths.raw_events/dt=YYYY-MM-DD (a local folder or a URI on any Hadoop file system:
hdfs://, s3a://, viewfs://, file://; Parquet, or CSV/TSV with or without gzip and with or
without a header; see ingest.* settings), parses event_time (timestamp, 'yyyy-MM-dd
HH:mm:ss[.SSS]' or epoch milliseconds, local time in run.timezone), and gives every row
either a region (the serving cell version valid on the day, from the `cells` table: run
ingest_cells first) or a machine-readable reason: repeated_header, malformed_row,
invalid_encoding, oversized_row, empty_user_id, raw_identifier (a raw IMSI/MSISDN, kept
masked), oversized_user_id, undersized_user_id, bad_user_id_chars, empty_cell_id,
oversized_field, date_only_time, unparseable_time, time_outside_day, bad_end_time,
unknown_cell (README, Feeding real operator data). A corrupt gzip file is an input error
(exit 4) naming it, or with ingest.on_corrupt_file = quarantine one quarantine row of
reason corrupt_file (the day is ingested without it; fact corrupt_files).

Session records: a feed may carry an ``end_time`` (same forms as event_time); such a row
is a session at one cell and becomes two bronze events, its start and its end (an end
equal to the start, or past midnight, adds none; an unparseable end or one before the
start quarantines the row as bad_end_time). events_bronze rows = accepted rows + the
``session_end_events`` fact.

Reconciliation: rows read = rows accepted + rows quarantined, exactly, or the run fails.
Gates: quarantine share <= ingest.max_quarantine_share, known-cell share >=
ingest.min_known_cell_share; volume: rows read >= ingest.min_volume_ratio x the median of
the latest recorded runs of the ingest.volume_trailing_days days before (same region set;
a warning below ingest.warn_volume_ratio or above ingest.max_volume_ratio; not judged
while fewer than ingest.volume_min_days have a run); then the bronze and quarantine
suites. A missing or empty day
folder is an error.

With --region only the accepted rows of those regions are written (the partitions
dt=D AND region IN (...) are replaced) and the quarantine is left alone: it is written,
whole, by runs without --region. Re-running a day gives identical tables.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from pyspark import StorageLevel
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import feed, ingest
from mobsig.cells import cells_on_day
from mobsig.io.raw_events import day_folder, plan_sources
from mobsig.io.storage import files_for, require
from mobsig.runner import JobContext, Output


def build(ctx: JobContext) -> list[Output]:
    day, regions, ing = ctx.day, ctx.regions, ctx.cfg.ingest
    cells = ctx.keep(cells_on_day(ctx.read("cells"), day), StorageLevel.MEMORY_ONLY)
    if regions:
        known = {r[0] for r in cells.select(C.REGION).distinct().collect()}
        if set(regions) - known:
            ctx.log.warning("regions %s have no cell valid on %s: nothing to write there",
                            sorted(set(regions) - known), day)
    root = ctx.cfg.location("raw_events")
    files = files_for(root, ctx.spark)
    require(files, root, "paths.raw_events")  # a URI is first checked here
    unreadable: dict[str, str] = {}  # corrupt files left out (ingest.on_corrupt_file)
    groups = plan_sources(day_folder(root, day), ing, files, unreadable)
    # one pass: the files are read and classified once (kept) and the reason counts come
    # from the kept rows. Classification keeps every raw row exactly once as long as the
    # day's cell lookup has one version per cell, checked here on the small cached table.
    # (No Observation for the raw count: once a session has used one, Sedona's geopackage
    # reader can no longer serialise its tasks in that session.)
    twice = cells.groupBy(C.CELL_ID).count().where(F.col("count") > 1).limit(3).collect()
    ctx.require(not twice, f"cells valid on {day} hold several versions of "
                f"{[r[0] for r in twice]}: run ingest_cells and check its gate")
    classified, counts = feed.classify_day(ctx, groups, cells, day, unreadable)
    rows_read = sum(counts.values())
    ctx.require(rows_read > 0, f"day folder for {day} holds no rows")
    ledger = ctx.reconcile(counts, source="raw_events", reason=C.REASON,
                           reasons=ingest.REASONS, rows_in=rows_read)
    unknown = ledger.removed["unknown_cell"]
    ctx.check("events_ingest", {
        "rows_read": rows_read, "rows_accepted": ledger.kept,
        "rows_quarantined": ledger.removed_total,
        "quarantine_share": ledger.removed_total / rows_read,
        "known_cell_share": ledger.kept / (ledger.kept + unknown) if ledger.kept + unknown
        else 1.0},
        params={"max_quarantine_share": ing.max_quarantine_share,
                "min_known_cell_share": ing.min_known_cell_share})
    feed.check_volume(ctx, rows_read)
    # zone-aware bounds: PySpark turns naive datetimes into instants with the Python
    # process's zone, not the session's
    day_start = dt.datetime.combine(day, dt.time(), ZoneInfo(ctx.cfg.run.timezone))
    bronze = ingest.accepted_events(classified, day)
    outputs = [Output(bronze.where(F.col(C.REGION).isin(*regions)) if regions else bronze,
                      "events_bronze", stage=False, params={
                          "day_start": day_start,
                          "day_end": day_start + dt.timedelta(days=1, microseconds=-1),
                          "user_id_min_len": ing.user_id_min_len,
                          "user_id_max_len": ing.user_id_max_len})]
    if regions is None:  # a region run leaves the day's quarantine alone
        outputs.append(Output(ingest.rejected_events(classified, day, ing), "events_quarantine",
                              stage=False))
    return outputs


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["ingest_events", *sys.argv[1:]]))
