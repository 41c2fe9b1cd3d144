"""Run records: every job run leaves a manifest row in the ``runs`` table.

The runner (:mod:`mobsig.runner`) opens a :class:`RunRecord` around each run of a job on
one partition (``recording``) and fills in the row counts and gate results its
:class:`~mobsig.runner.JobContext` collected, its lineage (for every table partition it
read, the writer runs and content digests it read: :mod:`mobsig.lineage`), the content
digest of every table partition it wrote and the job options. On exit the record is
appended to ``runs`` (partitioned by ``job``) with status ``succeeded`` or ``failed`` and
the error text, and a one-line summary is logged.
"""

from __future__ import annotations

import contextlib
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
    # table -> partition label -> [[writer run id, content digest], ...] (mobsig.lineage);
    # None when the run did not record what it read
    lineage: dict[str, dict[str, list[list[str | None]]]] | None = None
    output_digests: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    error: str | None = None
    ended_at: dt.datetime | None = None
    t0: float = field(default_factory=time.monotonic)

    def row(self) -> dict[str, Any]:
        ended = self.ended_at or dt.datetime.now()
        return {"run_id": self.run_id, "partition": self.partition or "-",
                "status": self.status, "started_at": self.started_at, "ended_at": ended,
                "duration_s": round(time.monotonic() - self.t0, 3),
                "config_digest": self.config_digest, "code_version": code_version(),
                "input_rows": json.dumps(self.input_rows, sort_keys=True),
                "output_rows": json.dumps(self.output_rows, sort_keys=True),
                "gates": json.dumps(self.gates, default=str, ensure_ascii=False),
                "lineage": (None if self.lineage is None
                            else json.dumps(self.lineage, sort_keys=True)),
                "output_digests": json.dumps(self.output_digests, sort_keys=True),
                "options": json.dumps(self.options, sort_keys=True, default=str),
                "error": self.error, "job": self.job}


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


@contextlib.contextmanager
def recording(job: str, run_id: str, config_digest: str, partition: str,
              sink: Any = None) -> Iterator[RunRecord]:
    """A RunRecord for the block; on exit (success or failure) hand it to ``sink(record)``.

    ``sink`` (e.g. :func:`write_record` bound to a catalog) is called for success and
    failure alike; an error while recording is logged, never hides the job's own error.
    """
    rec = RunRecord(job=job, run_id=run_id, config_digest=config_digest, partition=partition)
    try:
        yield rec
        rec.status = "succeeded"
    except BaseException as exc:
        rec.status = "failed"
        rec.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        rec.ended_at = dt.datetime.now()
        log.info("run %s %s %s in %.1fs; in=%s out=%s gates=%s", rec.job, rec.partition or "-",
                 rec.status, time.monotonic() - rec.t0, rec.input_rows, rec.output_rows,
                 [("ok" if g.get("success") else "FAILED") + ":" + str(g.get("suite"))
                  for g in rec.gates])
        if sink is not None:
            try:
                sink(rec)
            except Exception as exc:  # noqa: BLE001 - never mask the job's outcome
                log.error("could not record run %s: %s", rec.run_id, exc)


def write_record(catalog: Any, rec: RunRecord) -> None:
    """Append the record to the ``runs`` table (blind append: safe for concurrent runs)."""
    schema = catalog.schema("runs")
    df = catalog.spark.createDataFrame([rec.row()], schema.struct)
    catalog.append(df, "runs")


def latest_input_rows(catalog: Any, job: str, source: str, labels: list[str]) -> dict[str, int]:
    """``input_rows[source]`` of the latest succeeded run of ``job`` for each partition label
    in ``labels`` that has one (e.g. the rows ingest_events read on the trailing days, for
    the volume gate). One small query on the ``runs`` table (partitioned by job)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not labels or not catalog.exists("runs"):
        return {}
    w = Window.partitionBy("partition").orderBy(F.col("ended_at").desc(),
                                                F.col("run_id").desc())
    rows = (catalog.read("runs")
            .where((F.col("job") == job) & (F.col("status") == "succeeded")
                   & F.col("partition").isin(labels))
            .withColumn("_n", F.row_number().over(w)).where("_n = 1")
            .select("partition", "input_rows").collect())
    out = {}
    for r in rows:
        n = json.loads(r["input_rows"] or "{}").get(source)
        if n is not None:
            out[r["partition"]] = int(n)
    return out
