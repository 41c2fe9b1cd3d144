"""Run records: every job run leaves a manifest row in the ``runs`` table.

The CLI opens a :class:`RunRecord` around each job (``recording``); jobs and the shared
write path add to the active record through module functions, so a transform never needs
to know about it:

- ``note_input(name, rows)`` / ``note_output(name, rows)``: row counts at job boundaries;
- ``note_gate(summary)``: each gate's result (also on failure);
- ``note_partition(text)``: what the run processed (``dt=2026-06-01 region=990101``).

On exit the record is appended to ``runs`` (partitioned by ``job``) with status
``succeeded`` or ``failed`` and the error text, and a one-line summary is logged.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobsig import __version__

log = logging.getLogger(__name__)


@dataclass
class RunRecord:
    job: str
    run_id: str
    config_digest: str
    partition: str = ""
    started_at: dt.datetime = field(default_factory=dt.datetime.now)
    input_rows: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    ended_at: dt.datetime | None = None
    t0: float = field(default_factory=time.monotonic)
    delegated: bool = False  # per-partition records were written instead of this one

    def row(self) -> dict[str, Any]:
        ended = self.ended_at or dt.datetime.now()
        return {"run_id": self.run_id, "partition": self.partition or "-",
                "status": self.status, "started_at": self.started_at, "ended_at": ended,
                "duration_s": round(time.monotonic() - self.t0, 3),
                "config_digest": self.config_digest, "code_version": code_version(),
                "input_rows": json.dumps(self.input_rows, sort_keys=True),
                "output_rows": json.dumps(self.output_rows, sort_keys=True),
                "gates": json.dumps(self.gates, default=str, ensure_ascii=False),
                "error": self.error, "job": self.job}


_active: contextvars.ContextVar[RunRecord | None] = contextvars.ContextVar(
    "mobsig_run_record", default=None)


@functools.cache
def code_version() -> str:
    """``mobsig <version>`` plus the git commit when running from a checkout."""
    commit = ""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"mobsig {__version__}" + (f" ({commit})" if commit else "")


def current() -> RunRecord | None:
    return _active.get()


def note_partition(text: str) -> None:
    rec = _active.get()
    if rec is not None:
        rec.partition = text


def note_input(name: str, rows: int) -> None:
    rec = _active.get()
    if rec is not None:
        rec.input_rows[name] = rec.input_rows.get(name, 0) + int(rows)


def note_output(name: str, rows: int) -> None:
    rec = _active.get()
    if rec is not None:
        rec.output_rows[name] = rec.output_rows.get(name, 0) + int(rows)


def note_gate(summary: dict[str, Any]) -> None:
    rec = _active.get()
    if rec is not None:
        rec.gates.append(summary)


@contextlib.contextmanager
def recording(job: str, run_id: str, config_digest: str,
              sink: Any = None) -> Iterator[RunRecord]:
    """Make a RunRecord active for the block; on exit hand it to ``sink(record)``.

    ``sink`` (e.g. :func:`write_record` bound to a catalog) is called for success and
    failure alike; an error while recording is logged, never hides the job's own error.
    """
    rec = RunRecord(job=job, run_id=run_id, config_digest=config_digest)
    outer = _active.get()
    if outer is not None:
        # a per-partition record inside the CLI's whole-invocation record: the inner
        # records are the manifest, the outer one is not written
        outer.delegated = True
    token = _active.set(rec)
    try:
        yield rec
        rec.status = "succeeded"
    except BaseException as exc:
        rec.status = "failed"
        rec.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        rec.ended_at = dt.datetime.now()
        _active.reset(token)
        log.info("run %s %s %s in %.1fs; in=%s out=%s gates=%s", rec.job, rec.partition or "-",
                 rec.status, time.monotonic() - rec.t0, rec.input_rows, rec.output_rows,
                 [("ok" if g.get("success") else "FAILED") + ":" + str(g.get("suite"))
                  for g in rec.gates])
        if sink is not None and not rec.delegated:
            try:
                sink(rec)
            except Exception as exc:  # noqa: BLE001 - never mask the job's outcome
                log.error("could not record run %s: %s", rec.run_id, exc)


def write_record(catalog: Any, rec: RunRecord) -> None:
    """Append the record to the ``runs`` table (blind append: safe for concurrent runs)."""
    schema = catalog.schema("runs")
    df = catalog.spark.createDataFrame([rec.row()], schema.struct)
    catalog.append(df, "runs")


def run_partitions(spark: Any, cfg: Any, job: str, partitions: list[tuple[str, Any]],
                   keep_going: bool = False) -> int:
    """Run ``fn()`` for each ``(label, fn)`` in order, each with its own run record.

    ``label`` is the partition text recorded in ``runs`` (``dt=2026-06-01``,
    ``month=2026-06``, ``all``). A failure stops the loop (the error propagates) unless
    ``keep_going``, when the remaining partitions still run and the return code is 1.
    """
    from mobsig.catalog import Catalog
    from mobsig.errors import MobsigError
    from mobsig.logs import log_context, new_run_id

    catalog = Catalog(spark, cfg.warehouse)
    failed = 0
    for i, (label, fn) in enumerate(partitions, 1):
        run_id = new_run_id()
        with log_context(part=label, run=run_id):
            if len(partitions) > 1:
                log.info("%s: partition %d of %d (%s)", job, i, len(partitions), label)
            try:
                with recording(job, run_id, cfg.digest(),
                               sink=lambda rec: write_record(catalog, rec)) as rec:
                    rec.partition = label
                    fn()
            except MobsigError:
                if not keep_going:
                    raise
                failed += 1
                log.error("%s %s failed; continuing (--keep-going)", job, label)
    return 1 if failed else 0


def day_label(day: dt.date, regions: list[str] | None = None) -> str:
    return f"dt={day.isoformat()}" + (f" region={','.join(regions)}" if regions else "")


def month_label(month: dt.date) -> str:
    return f"month={month.strftime('%Y-%m')}"


def recorded(spark: Any, cfg: Any, job: str, label: str, fn: Any) -> Any:
    """Run ``fn()`` under its own run record for partition ``label``; return its result.

    Used by each job's command loop so a backfill (``--from A --to B``) leaves one
    manifest row per day in ``runs``, not one for the whole range.
    """
    from mobsig.catalog import Catalog
    from mobsig.logs import log_context, new_run_id

    catalog = Catalog(spark, cfg.warehouse)
    run_id = new_run_id()
    with log_context(part=label, run=run_id), recording(
            job, run_id, cfg.digest(), sink=lambda rec: write_record(catalog, rec)) as rec:
        rec.partition = label
        return fn()
