"""Run records: every job run leaves a manifest row in the ``runs`` table.

The runner (:mod:`mobsig.runner`) opens a :class:`RunRecord` around each run of a job on
one partition (``recording``) and fills in the row counts and gate results its
:class:`~mobsig.runner.JobContext` collected, its lineage (for every table partition it
read, the writer runs and content digests it read: :mod:`mobsig.lineage`), the content
digest of every table partition it wrote and the job options. On exit the record, with
status ``succeeded`` or ``failed`` and the error text, goes to ``runs`` (partitioned by
``job``), and a one-line summary is logged.

A run is recorded twice: a ``started`` record when it begins (its ``ended_at`` = its start,
``options.driver`` = the host and process id of the driver) and the end row (same
``run_id``, later ``ended_at``). Both are first small JSON files in the warehouse (written
to a hidden name and renamed: never half a record), not Delta commits: a Delta append of
one row costs a Spark job and a commit, 0.5-1 s on a small run. The started record sits in
``_runs_started`` until the end row is written; the end row waits in ``_runs_pending``
until :func:`fold` appends the pending rows to ``runs`` in one commit: once
:data:`FOLD_AT` wait, and a command's own when it ends (:func:`folding`, around every
command of the command line). :func:`read_runs` and :func:`cached_rows` (the lineage, the
volume gate) read the pending files with the table, and :func:`started_rows` gives a
``started`` row per started file left, so a partition whose latest row is ``started`` has
a run in progress or one that was killed (kill -9, a lost node: no end row is ever
written, the file stays); ``mobsig status`` tells them apart by the age of the row and, on
the same host, whether the driver process is still alive (:func:`started_state`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobsig import __version__
from mobsig.localdata import local_frame
from mobsig.logs import fields

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
    # the job's facts (JobResult.facts: privacy audit widths, uncovered units, ...)
    facts: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    error: str | None = None
    ended_at: dt.datetime | None = None
    t0: float = field(default_factory=time.monotonic)

    def row(self) -> dict[str, Any]:
        started = self.status == STARTED
        ended = self.started_at if started else (self.ended_at or dt.datetime.now())
        options = {"driver": driver(), **self.options} if started else self.options
        return {"run_id": self.run_id, "partition": self.partition or "-",
                "status": self.status, "started_at": self.started_at, "ended_at": ended,
                "duration_s": 0.0 if started else round(time.monotonic() - self.t0, 3),
                "config_digest": self.config_digest, "code_version": code_version(),
                "input_rows": json.dumps(self.input_rows, sort_keys=True),
                "output_rows": json.dumps(self.output_rows, sort_keys=True),
                "gates": json.dumps(self.gates, default=str, ensure_ascii=False),
                "lineage": (None if self.lineage is None
                            else json.dumps(self.lineage, sort_keys=True)),
                "output_digests": json.dumps(self.output_digests, sort_keys=True),
                "options": json.dumps(options, sort_keys=True, default=str),
                "error": self.error, "job": self.job,
                "facts": (None if started else json.dumps(self.facts, sort_keys=True,
                                                          default=str, ensure_ascii=False))}


STARTED = "started"


def driver() -> dict[str, Any]:
    """Where this run's driver runs: host name and process id (in the ``started`` row)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def started_state(row: dict[str, Any], now: dt.datetime, max_age_h: float) -> str:
    """``RUNNING`` or ``ABANDONED`` for a run whose latest row is ``started``: abandoned
    when the row is older than ``max_age_h`` hours, or when its driver ran on this host
    and that process is gone (killed, crashed); running otherwise."""
    started = row.get("started_at") or row.get("ended_at")
    if started is not None and (now - started).total_seconds() > max_age_h * 3600.0:
        return "ABANDONED"
    try:
        drv = json.loads(row.get("options") or "{}").get("driver") or {}
    except (TypeError, ValueError):
        drv = {}
    if drv.get("host") == socket.gethostname() and isinstance(drv.get("pid"), int):
        try:
            os.kill(drv["pid"], 0)
        except ProcessLookupError:
            return "ABANDONED"
        except OSError:  # exists, owned by someone else
            pass
    return "RUNNING"


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

    ``sink`` (e.g. :func:`write_record` bound to a catalog) is called first with the
    ``started`` record, then for success and failure alike; an error while recording is
    logged, never hides the job's own error.
    """
    rec = RunRecord(job=job, run_id=run_id, config_digest=config_digest, partition=partition)
    if sink is not None:
        rec.status = STARTED
        try:
            sink(rec)
        except Exception as exc:  # noqa: BLE001 - the run goes on; its end row still counts
            log.error("could not record the start of run %s: %s", rec.run_id, exc)
        rec.status = "running"
    try:
        yield rec
        rec.status = "succeeded"
    except BaseException as exc:
        rec.status = "failed"
        rec.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        rec.ended_at = dt.datetime.now()
        if sink is not None:
            try:
                sink(rec)
            except Exception as exc:  # noqa: BLE001 - never mask the job's outcome
                log.error("could not record run %s: %s", rec.run_id, exc)
        log.info("stage record: run %s %s %s in %.1fs; in=%s out=%s gates=%s", rec.job,
                 rec.partition or "-", rec.status, time.monotonic() - rec.t0,
                 rec.input_rows, rec.output_rows,
                 [("ok" if g.get("success") else "NOT_CHECKED" if g.get("success") is None
                   else "FAILED") + ":" + str(g.get("suite")) for g in rec.gates],
                 extra=fields(stage="record", status=rec.status, recorded=sink is not None))


def write_record(catalog: Any, rec: RunRecord) -> None:
    """A ``started`` record as its file in ``_runs_started``; an end record as its file in
    ``_runs_pending``, then the run's started file removed; once :data:`FOLD_AT` end
    records wait there, they are appended to the ``runs`` table in one commit
    (:func:`fold`)."""
    row = rec.row()
    if rec.status == STARTED:
        _write_file(catalog, STARTED_FOLDER, row)
        return
    _write_file(catalog, PENDING_FOLDER, row)
    _WRITTEN.setdefault(str(catalog.warehouse), (catalog, set()))[1].add(f"{rec.run_id}.json")
    _delete_files(catalog, STARTED_FOLDER, [f"{rec.run_id}.json"])
    if len(_file_names(catalog, PENDING_FOLDER)) >= FOLD_AT:
        fold(catalog)


# --------------------------------------------------------------------------------------
# record files: started records (one per run without an end row yet) and pending end
# records (one per ended run whose row is not in the runs table yet)

STARTED_FOLDER = "_runs_started"
PENDING_FOLDER = "_runs_pending"
FOLD_AT = 20  # pending end records folded into the runs table in one commit
_TIMES = ("started_at", "ended_at")
# warehouse -> (its catalog, the files of the end records this command wrote there)
_WRITTEN: dict[str, tuple[Any, set[str]]] = {}


def _local_folder(catalog: Any, folder: str) -> str | None:
    """The folder as a local path when Hadoop resolves the warehouse to the local file
    system (Python's own file calls then: no JVM round trip per file), else None (HDFS,
    object stores, and a path without a scheme under a non-local ``fs.defaultFS``, as on
    a YARN cluster: Hadoop's calls)."""
    _jvm, _path, fs = _hadoop_fs(catalog, folder)
    if fs.getUri().getScheme() != "file":
        return None
    path = str(catalog.warehouse / folder)
    return path[len("file:"):] if path.startswith("file:") else path


def _hadoop_fs(catalog: Any, folder: str) -> tuple[Any, Any, Any]:
    """The JVM, ``folder`` as a Hadoop path and its file system (the warehouse's)."""
    jvm = catalog.spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(str(catalog.warehouse / folder))
    return jvm, path, path.getFileSystem(catalog.spark._jsc.hadoopConfiguration())


def _write_file(catalog: Any, folder: str, row: dict[str, Any]) -> None:
    """``<folder>/<run_id>.json``, written under a hidden name and renamed (never half a
    record)."""
    data = json.dumps({k: (v.isoformat() if k in _TIMES and v is not None else v)
                       for k, v in row.items()}, sort_keys=True, default=str)
    name = f"{row['run_id']}.json"
    local = _local_folder(catalog, folder)
    if local is not None:
        os.makedirs(local, exist_ok=True)
        hidden = os.path.join(local, f".{name}.tmp")
        with open(hidden, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(hidden, os.path.join(local, name))
        return
    jvm, path, fs = _hadoop_fs(catalog, folder)
    hidden = jvm.org.apache.hadoop.fs.Path(path, f".{name}.tmp")
    out = fs.create(hidden, True)
    try:
        out.write(bytearray(data.encode("utf-8")))
    finally:
        out.close()
    target = jvm.org.apache.hadoop.fs.Path(path, name)
    if not fs.rename(hidden, target):
        raise OSError(f"could not rename {hidden.toString()} to {target.toString()}")


def _file_names(catalog: Any, folder: str) -> list[str]:
    local = _local_folder(catalog, folder)
    if local is not None:
        try:
            names = os.listdir(local)
        except FileNotFoundError:
            return []
    else:
        _jvm, path, fs = _hadoop_fs(catalog, folder)
        names = ([st.getPath().getName() for st in fs.listStatus(path)]
                 if fs.exists(path) else [])
    return sorted(n for n in names if n.endswith(".json") and not n.startswith("."))


def _read_file(catalog: Any, folder: str, name: str) -> str | None:
    """A record file's text; None when it is gone (folded meanwhile)."""
    local = _local_folder(catalog, folder)
    if local is not None:
        try:
            with open(os.path.join(local, name), encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
    jvm, path, fs = _hadoop_fs(catalog, folder)
    try:
        stream = fs.open(jvm.org.apache.hadoop.fs.Path(path, name))
    except Exception:  # noqa: BLE001 - FileNotFoundException through py4j: folded meanwhile
        return None
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def _delete_files(catalog: Any, folder: str, names: list[str]) -> None:
    local = _local_folder(catalog, folder)
    if local is not None:
        for n in names:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(local, n))
        return
    jvm, path, fs = _hadoop_fs(catalog, folder)
    for n in names:
        fs.delete(jvm.org.apache.hadoop.fs.Path(path, n), False)


@functools.cache
def _columns() -> tuple[str, ...]:
    from mobsig.schema import load_schema

    return tuple(load_schema("runs").names)


def _file_rows(catalog: Any, folder: str) -> list[tuple[str, dict[str, Any]]]:
    """(file name, ``runs`` row) of every record file in ``folder``; a file that cannot be
    read is skipped with a warning."""
    out = []
    for name in _file_names(catalog, folder):
        text = _read_file(catalog, folder, name)
        if text is None:
            continue
        try:
            row = json.loads(text)
            for k in _TIMES:
                row[k] = dt.datetime.fromisoformat(row[k]) if row.get(k) else None
            for k in _columns():  # a record file of an older mobsig: its new columns null
                row.setdefault(k, None)
        except (ValueError, TypeError) as exc:
            log.warning("run record %s/%s unreadable, skipped: %s", folder, name, exc)
            continue
        out.append((name, row))
    return out


def started_rows(catalog: Any) -> list[dict[str, Any]]:
    """The ``started`` rows of the runs that have no end row yet (in progress, or killed),
    as ``runs`` rows."""
    rows = [r for _n, r in _file_rows(catalog, STARTED_FOLDER)]
    return sorted(rows, key=lambda r: (r["started_at"] or dt.datetime.min, r["run_id"]))


def pending_rows(catalog: Any) -> list[dict[str, Any]]:
    """The end rows not folded into the ``runs`` table yet."""
    rows = [r for _n, r in _file_rows(catalog, PENDING_FOLDER)]
    return sorted(rows, key=lambda r: (r["ended_at"] or dt.datetime.min, r["run_id"]))


def fold(catalog: Any, only: set[str] | None = None) -> int:
    """Append the pending end records (``only``: those of these file names) to the ``runs``
    table in one commit (blind append: safe beside concurrent runs), then remove their
    files; the rows folded. A fold killed between the two leaves the files, and the next
    one appends them again (as may two processes folding the same files at once): readers
    keep one row per run id and status (:func:`read_runs`, :func:`unique_rows`)."""
    found = [(n, r) for n, r in _file_rows(catalog, PENDING_FOLDER)
             if only is None or n in only]
    if not found:
        return 0
    rows = [r for _n, r in found]
    path = catalog.path("runs")
    before = table_version(catalog)
    catalog.append(local_frame(catalog.spark, rows, catalog.schema("runs").struct), "runs")
    _cache_appended(catalog, before, rows)
    _delete_files(catalog, PENDING_FOLDER, [n for n, _r in found])
    log.info("folded %d run records into %s", len(rows), path)
    return len(rows)


@contextlib.contextmanager
def folding() -> Iterator[None]:
    """A command (the command line around each ``mobsig`` command): when the block ends, the
    end records it wrote are folded into their runs tables (:func:`fold_written`), so the
    table is complete after the command; earlier records of this process are not its."""
    _WRITTEN.clear()
    try:
        yield
    finally:
        fold_written()


def fold_written() -> None:
    """Fold the pending end records this command wrote, in every warehouse it wrote them
    to; a failure is logged, never the command's outcome (the records stay pending and
    are still read)."""
    for key, (catalog, names) in list(_WRITTEN.items()):
        try:
            fold(catalog, names)
        except Exception as exc:  # noqa: BLE001 - the records stay pending, still read
            log.warning("run records of %s left pending: %s", key, exc)
        _WRITTEN.pop(key, None)


def unique_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run id, status), the first kept (a record folded twice, or read both
    as a pending file and as a row of the table while a fold ran)."""
    seen: set = set()
    out = []
    for r in rows:
        key = (r.get("run_id"), r.get("status"))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def read_runs(catalog: Any) -> Any:
    """The ``runs`` table plus its pending end rows and a ``started`` row per run without
    an end row (a DataFrame, one row per run id and status), or None when nothing was ever
    recorded. The files are read before the table: a fold in between gives a row twice
    (kept once), never none."""
    extra = pending_rows(catalog) + started_rows(catalog)
    table = catalog.read("runs") if catalog.exists("runs") else None
    if not extra and table is None:
        return None
    df = local_frame(catalog.spark, extra, catalog.schema("runs").struct) if extra else None
    if table is not None:
        df = table if df is None else table.unionByName(df, allowMissingColumns=True)
    return df.dropDuplicates(["run_id", "status"])


# --------------------------------------------------------------------------------------
# a process-local cache of the runs table's rows (for the lineage every job run records)
#
# Every job run reads the run records of the jobs that wrote its inputs (mobsig.lineage),
# and appends its own: on a small local warehouse (tests, the demo, one server) that read
# is a Spark job of about a second, most of a small run's fixed cost. The rows read are
# kept per table path and job set with the Delta version they were read at; a later read
# returns them when the table's latest version is still that one, and this process's own
# append extends them when it was the only commit in between (version + 1). Anything else
# (another process wrote, the version is unknown) reads the table again. The version comes
# from the _delta_log folder's listing, so only where Hadoop resolves the warehouse to the
# local file system; elsewhere (HDFS, object stores) every read goes to the table, where it
# is a small part of a run.

_CACHE: dict[tuple[str, frozenset[str] | None, tuple[str, ...]],
             tuple[tuple[int, int], list[dict[str, Any]]]] = {}


def log_version(path: str) -> tuple[int, int] | None:
    """The latest commit version of the Delta table at ``path`` from its ``_delta_log``
    listing, with the modification time of its oldest log file (a table removed and
    created again at the same path reaches the same versions: this tells them apart);
    None for a path that is not on the local file system or has no log."""
    local = path[len("file:"):] if path.startswith("file:") else path
    if "://" in local:
        return None
    folder = os.path.join(local, "_delta_log")
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and n[:20].isdigit())
        return (int(names[-1][:20]), os.stat(os.path.join(folder, names[0])).st_mtime_ns) \
            if names else None
    except OSError:
        return None


def cached_rows(catalog: Any, jobs: frozenset[str] | None, columns: tuple[str, ...],
                read: Any) -> list[dict[str, Any]]:
    """The ``columns`` of the run records of ``jobs`` (None: all), as dicts, one per run id
    and status: the pending end records (read first, never cached) and the table's rows,
    ``read()`` when the cache cannot vouch for them (see above)."""
    pending = [{c: r.get(c) for c in columns} for r in pending_rows(catalog)
               if jobs is None or r["job"] in jobs]
    return unique_rows(_table_rows(catalog, jobs, columns, read) + pending)


def table_version(catalog: Any) -> tuple[int, int] | None:
    """:func:`log_version` of the ``runs`` table where Hadoop resolves the warehouse to the
    local file system; None elsewhere (a path without a scheme under an HDFS
    ``fs.defaultFS`` is HDFS: a local folder of the same name must not vouch for it)."""
    local = _local_folder(catalog, "runs")
    return None if local is None else log_version(local)


def _table_rows(catalog: Any, jobs: frozenset[str] | None, columns: tuple[str, ...],
                read: Any) -> list[dict[str, Any]]:
    if not catalog.exists("runs"):
        return []
    path = catalog.path("runs")
    version = table_version(catalog)
    hit = _CACHE.get((path, jobs, columns))
    if version is not None and hit is not None and hit[0] == version:
        return [dict(r) for r in hit[1]]
    rows = read()
    if version is not None:  # a commit after the listing only makes the entry stale
        _CACHE[(path, jobs, columns)] = (version, [{c: r.get(c) for c in columns}
                                                   for r in rows])
    return rows


def _cache_appended(catalog: Any, before: tuple[int, int] | None,
                    appended: list[dict[str, Any]]) -> None:
    path = catalog.path("runs")
    after = table_version(catalog)
    for key in [k for k in _CACHE if k[0] == path]:
        version, rows = _CACHE[key]
        if (before is None or after is None or version != before
                or after != (before[0] + 1, before[1])):
            del _CACHE[key]  # someone else committed: read again next time
            continue
        jobs = key[1]
        rows = [*rows, *({c: r.get(c) for c in key[2]} for r in appended
                         if jobs is None or r["job"] in jobs)]
        _CACHE[key] = (after, rows)


def latest_input_rows(catalog: Any, job: str, source: str, labels: list[str]) -> dict[str, int]:
    """``input_rows[source]`` of the latest succeeded run of ``job`` for each partition label
    in ``labels`` that has one (e.g. the rows ingest_events read on the trailing days, for
    the volume gate). One small query on the ``runs`` table (partitioned by job) and the
    pending end records; on a local warehouse the rows are kept between runs
    (:func:`cached_rows`)."""
    from pyspark.sql import functions as F

    if not labels:
        return {}
    columns = ("partition", "status", "ended_at", "run_id", "input_rows")

    def read() -> list[dict[str, Any]]:
        return [r.asDict() for r in catalog.read("runs").where(F.col("job") == job)
                .select(*columns).collect()]

    wanted = set(labels)
    latest: dict[str, dict[str, Any]] = {}
    for r in cached_rows(catalog, frozenset({job}), columns, read):
        if r["status"] != "succeeded" or r["partition"] not in wanted:
            continue
        had = latest.get(r["partition"])
        if had is None or (r["ended_at"], r["run_id"]) > (had["ended_at"], had["run_id"]):
            latest[r["partition"]] = r
    out = {}
    for part, r in latest.items():
        n = json.loads(r["input_rows"] or "{}").get(source)
        if n is not None:
            out[part] = int(n)
    return out
