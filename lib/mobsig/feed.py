"""Facts of a delivered day of raw events, for ingest_events: per source file the time
resolution of its event times and its session records, and the day's volume against the
trailing days' recorded runs (the ``events_volume`` gate). Helpers of the job's build
(they take its :class:`~mobsig.runner.JobContext`): one aggregate over the classified rows
the job already keeps, and one small query on the ``runs`` table; and the day's classified
rows (:func:`classify_day`, which can quarantine a corrupt file and go on)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import statistics
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import ingest
from mobsig.errors import InputError, corrupt_file_of
from mobsig.io.raw_events import SourceGroup, read_sources
from mobsig.runner import JobContext, Partition
from mobsig.runs import latest_input_rows

_RELATIVE = re.compile(r"(dt=[^/]+/.*)$")


def _relative(path: Any) -> str:
    m = _RELATIVE.search(str(path))
    return m.group(1) if m else str(path)


def classify_day(ctx: JobContext, groups: list[SourceGroup], cells: DataFrame,
                 day: dt.date, unreadable: dict[str, str] | None = None
                 ) -> tuple[DataFrame, dict[str | None, int]]:
    """The day's raw rows classified (:func:`mobsig.ingest.classify_events`, kept) and
    their count per reason (:func:`source_summary`).

    A file Spark cannot read to its end fails the run (exit 4 naming it), unless
    ``ingest.on_corrupt_file = quarantine``: then the day is read again without it and
    the file becomes one row of reason ``corrupt_file`` (``raw_text`` says so and gives the
    error; its rows are unknown, so not counted as read), named in the fact
    ``corrupt_files`` and a warning. Costs nothing on a day without such a file; a
    day whose every file is corrupt is an InputError. ``unreadable``: the files planning
    already left out (:func:`mobsig.io.raw_events.plan_sources`), quarantined the same
    way."""
    skipped = {_relative(k): v for k, v in (unreadable or {}).items()}
    while True:
        live = [dataclasses.replace(g, files=kept) for g in groups
                if (kept := tuple(f for f in g.files if _relative(f) not in skipped))]
        if not live:
            raise InputError(f"every raw file of {day} is corrupt or truncated: "
                             f"{sorted(skipped)}")
        frame = ingest.without_accepted_text(ingest.classify_events(
            read_sources(ctx.spark, live), cells, day, ctx.cfg.ingest))
        if skipped:
            frame = frame.unionByName(_corrupt_rows(ctx.spark, frame.schema, skipped))
        classified = ctx.keep(frame)
        try:
            counts = source_summary(ctx, classified, day)
        except Exception as exc:
            name = corrupt_file_of(exc)
            rel = _relative(name) if name else None
            if (ctx.cfg.ingest.on_corrupt_file != "quarantine" or rel is None
                    or rel in skipped):
                raise
            classified.unpersist()
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), "")[:300]
            skipped[rel] = first
            ctx.log.warning("%s is corrupt or truncated: quarantined (corrupt_file), the "
                            "day is read without it (ingest.on_corrupt_file = quarantine)",
                            rel)
            continue
        if skipped:
            ctx.fact("corrupt_files", sorted(skipped))
        return classified, counts


def _corrupt_rows(spark: Any, schema: Any, skipped: dict[str, str]) -> DataFrame:
    """One classified row per skipped file, every column null but the reason, the file
    and the raw text (a note with the error)."""
    frames = []
    for rel, error in sorted(skipped.items()):
        values = {C.REASON: "corrupt_file", C.SOURCE_FILE: rel,
                  C.RAW_TEXT: f"<file not read: corrupt or truncated> {error}"}
        frames.append(spark.range(1).select(*[
            (F.lit(values[f.name]) if f.name in values else F.lit(None))
            .cast(f.dataType).alias(f.name) for f in schema.fields]))
    return functools.reduce(DataFrame.unionByName, frames)


def source_summary(ctx: JobContext, classified: DataFrame, day: dt.date) -> dict[str, int]:
    """Rows per reason (None = accepted) from one aggregate per source file and reason,
    which also gives each file's time resolution and its session records (facts
    ``time_resolution_s``, ``session_rows``, ``session_end_events``, logged)."""
    ok = F.col(C.REASON).isNull()
    per_source = classified.groupBy(C.SOURCE_FILE, C.REASON).agg(
        F.count(F.lit(1)).alias("n"), F.count(C.EVENT_TIME).alias("timed"),
        ingest.time_resolution_s(F.col(C.EVENT_TIME).cast("double")).alias("res"),
        F.count(F.when(ok & F.col(C.END_TIME).isNotNull(), 1)).alias("sessions"),
        F.count(F.when(ok & ingest.session_end(day), 1)).alias("ends")).collect()
    counts: dict[str, int] = {}
    for r in per_source:
        counts[r[C.REASON]] = counts.get(r[C.REASON], 0) + r["n"]
    sessions = sum(r["sessions"] for r in per_source)
    ends = sum(r["ends"] for r in per_source)
    if sessions:
        ctx.fact("session_rows", sessions)
        ctx.fact("session_end_events", ends)
        ctx.log.info("%d accepted rows are session records: %d end events added (%d ends "
                     "equal to the start or past midnight add none)", sessions, ends,
                     sessions - ends)
    note_time_resolution(ctx, per_source)
    return counts


def note_time_resolution(ctx: JobContext, per_source: list[Any]) -> None:
    """The time resolution of each source file's event times (60 s: whole minutes, as in
    session feeds; 1 s; 0.001 s), as a fact {resolution: files} and a log line naming a
    few files of each; the cadence rule of flag_users measures it again per card."""
    res: dict[str, float] = {}
    for r in per_source:
        if r["timed"]:
            f = r[C.SOURCE_FILE]
            res[f] = min(res.get(f, r["res"]), r["res"])
    by_res: dict[float, list[str]] = {}
    for f, v in sorted(res.items()):
        by_res.setdefault(v, []).append(f)
    ctx.fact("time_resolution_s", {f"{v:g}": len(fs) for v, fs in sorted(by_res.items())})
    for v, fs in sorted(by_res.items()):
        ctx.log.info("event_time resolution %g s in %d source files (%s%s)", v, len(fs),
                     ", ".join(fs[:3]), " ..." if len(fs) > 3 else "")


def check_volume(ctx: JobContext, rows_read: int) -> None:
    """The volume gate: rows read against the median of the trailing days' recorded runs
    (same region set); not judged while fewer than ingest.volume_min_days have one."""
    ing = ctx.cfg.ingest
    if ing.volume_trailing_days == 0:
        return
    labels = [Partition(day=ctx.day - dt.timedelta(days=i), regions=ctx.part.regions).label
              for i in range(1, ing.volume_trailing_days + 1)]
    trail = latest_input_rows(ctx.catalog, "ingest_events", "raw_events", labels)
    ctx.fact("volume_trailing_days", len(trail))
    if len(trail) < ing.volume_min_days:
        ctx.log.info("volume gate not judged: %d of the %d days before have a recorded run "
                     "(ingest.volume_min_days = %d)", len(trail), ing.volume_trailing_days,
                     ing.volume_min_days)
        return
    median = statistics.median(trail.values())
    ratio = rows_read / median if median else float("inf")
    ctx.fact("volume_ratio", round(ratio, 4))
    ctx.check("events_volume", {"rows_read": rows_read, "trailing_median": median,
                                "volume_ratio": ratio},
              params={"min_volume_ratio": ing.min_volume_ratio,
                      "warn_volume_ratio": ing.warn_volume_ratio,
                      "max_volume_ratio": ing.max_volume_ratio},
              explain=f"{rows_read} rows read = {ratio:.1%} of the median {median:g} of the "
                      f"{len(trail)} recorded days before it (ingest.min_volume_ratio = "
                      f"{ing.min_volume_ratio:.0%}): a partial delivery? Re-run when the day "
                      "is complete, or with --set ingest.min_volume_ratio=0 to accept it")
