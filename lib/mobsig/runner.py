"""The one job runner: read inputs -> build (lib) -> reconcile -> gate every output -> write
every output -> run record.

A pipeline job (``jobs/<name>.py``, declared in :mod:`mobsig.pipeline`) is a module with

    def build(ctx: JobContext) -> list[Output]     # required: read, call lib, check
    def add_arguments(p) / options(args) -> dict   # optional job-specific options
    def validate(cfg, options) -> None             # optional checks before Spark starts

``build`` reads through ``ctx.read`` (only the tables the spec lists; a missing table is an
InputError naming the job that writes it), calls pure lib transforms, reconciles row
counts (``ctx.reconcile``) and runs ratio gates on job-level metrics (``ctx.check``); it
returns the outputs. The runner then gates every output (schema structure + its suite)
and, only when all pass, replaces each output's partition (atomic Delta commits). Each
stage boundary is logged (``stage`` read, build, reconcile, gate, write, record) with the
row counts already known there (the reconciliation's and the gates' own aggregates: the
log adds no Spark job). Every
run of a partition leaves a ``started`` row in the ``runs`` table when it begins and an
end row whether it succeeds or fails (a killed run: only the first), and returns a typed
:class:`JobResult`. The end row holds the run's lineage: for every table
partition ``ctx.read`` touched, the runs that wrote it and the content digest of what they
wrote, plus the digest of every partition the run wrote (:mod:`mobsig.lineage`), so
``mobsig status`` can tell when an output was built from rows that have changed since.
"""

from __future__ import annotations

import argparse
import contextvars
import dataclasses
import datetime as dt
import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import jobargs
from mobsig.config import Config
from mobsig.errors import ConfigError, DataQualityError, InputError, spark_failure
from mobsig.io.catalog import Catalog, PartitionSpec
from mobsig.logs import fields, log_context, new_run_id
from mobsig.pipeline import Job, job
from mobsig.quality import GateResult, run_gate
from mobsig.runs import RunRecord, recording, write_record
from mobsig.schema import conform

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# partitions


@dataclass(frozen=True)
class Partition:
    """What one run processes: a day (and regions), a month, or the whole table."""

    day: dt.date | None = None
    regions: tuple[str, ...] | None = None
    month: dt.date | None = None

    @property
    def label(self) -> str:
        if self.month is not None:
            return f"month={jobargs.month_key(self.month)}"
        if self.day is not None:
            return f"dt={self.day.isoformat()}" + (
                f" region={','.join(self.regions)}" if self.regions else "")
        return "all"

    @property
    def month_key(self) -> str:
        assert self.month is not None, "not a monthly partition"
        return jobargs.month_key(self.month)

    @property
    def month_days(self) -> list[dt.date]:
        assert self.month is not None, "not a monthly partition"
        return jobargs.month_days(self.month)


def add_partition_arguments(p: argparse.ArgumentParser, kind: str) -> None:
    if kind in ("day", "day_region"):
        jobargs.add_day_arguments(p, region=kind == "day_region")
    elif kind == "month":
        jobargs.add_month_arguments(p)


def partitions(kind: str, args: argparse.Namespace) -> list[Partition]:
    """The partitions a job's command line names, validated (ConfigError)."""
    if kind in ("day", "day_region"):
        regs = jobargs.regions(args) if kind == "day_region" else None
        return [Partition(day=d, regions=tuple(regs) if regs else None)
                for d in jobargs.days(args)]
    if kind == "month":
        return [Partition(month=m) for m in jobargs.months(args)]
    return [Partition()]


# --------------------------------------------------------------------------------------
# outputs and results


@dataclass(frozen=True)
class Output:
    """One table a job writes: the rows, the partition they replace and their gate.

    ``partition`` defaults to the run's own (dt, dt+region, month or the whole table).
    ``suite`` defaults to the table name; ``gated=False`` skips the suite (state tables
    such as the carry) but never the schema. ``explain`` (text) is added to the error
    when the gate fails, e.g. the rows that broke a bound. ``known``: unexpected-row counts
    the job already has for some expectation types of the suite (counted in its own pass,
    e.g. uniqueness of rows it sorted), so the gate does not recompute them. ``stage``:
    persist the conformed rows before gating (False when ``df`` is read from a frame the
    job keeps already)."""

    df: DataFrame
    table: str
    partition: PartitionSpec | None = None
    suite: str | None = None
    params: dict[str, Any] | None = None
    gated: bool = True
    explain: str = ""
    known: dict[str, int] | None = None
    stage: bool = True


@dataclass(frozen=True)
class Ledger:
    """Rows in = rows kept + rows removed per reason (from one aggregate)."""

    rows_in: int
    kept: int
    removed: dict[str, int]
    kept_by: dict[Any, int] = field(default_factory=dict)

    @property
    def removed_total(self) -> int:
        return sum(self.removed.values())


@dataclass
class JobResult:
    """What a run did: rows in and out per table, the ledger, gates and job facts."""

    job: str
    partition: str
    input_rows: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # table -> digest of rows written

    def line(self) -> str:
        """One human-readable line for the command's output."""
        parts = [f"{self.job} {self.partition}:"]
        if self.input_rows:
            parts.append("in " + ", ".join(f"{k} {v:,}" for k, v in self.input_rows.items()))
        if self.output_rows:
            parts.append("-> out " + ", ".join(f"{k} {v:,}"
                                               for k, v in self.output_rows.items()))
        if self.removed:
            parts.append("; removed " + ", ".join(f"{k} {v:,}" for k, v in self.removed.items()))
        shown = {k: v for k, v in self.facts.items() if not isinstance(v, (dict, list))}
        if shown:
            parts.append("; " + ", ".join(f"{k} {v}" for k, v in shown.items()))
        return " ".join(parts)


# --------------------------------------------------------------------------------------
# the context a job's build sees


class JobContext:
    """Reads, bookkeeping and checks for one run of one job on one partition."""

    def __init__(self, spark: Any, cfg: Config, spec: Job, part: Partition,
                 options: dict[str, Any], record: RunRecord | None,
                 lineage: bool = False) -> None:
        self.spark = spark
        self.cfg = cfg
        self.spec = spec
        self.part = part
        self.options = options
        self.catalog = Catalog(spark, cfg.warehouse)
        self.result = JobResult(spec.name, part.label)
        self._record = record
        self._cached: list[DataFrame] = []
        self._detached: list[Any] = []  # the JVM RDDs behind detach()ed frames
        self._after_write: list[Callable[[], None]] = []
        self.log = logging.getLogger(f"mobsig.jobs.{spec.name}")
        # what the run read: table -> partition -> [[writer run id, digest], ...]
        self.lineage: dict[str, dict[str, list[list[str | None]]]] | None = (
            {} if lineage else None)
        self._runs: Any = None  # mobsig.lineage.RunIndex of the writers, loaded at 1st read
        self._reads: dict[str, list[dict[str, Any]]] = {}  # table -> partition filters read

    # partition shortcuts
    @property
    def day(self) -> dt.date:
        assert self.part.day is not None, f"{self.spec.name} is not a daily job"
        return self.part.day

    @property
    def regions(self) -> list[str] | None:
        return list(self.part.regions) if self.part.regions else None

    @property
    def month(self) -> dt.date:
        assert self.part.month is not None, f"{self.spec.name} is not a monthly job"
        return self.part.month

    @property
    def label(self) -> str:
        return self.part.label

    # reading
    def _declared(self, table: str) -> None:
        if table not in self.spec.reads:
            raise AssertionError(f"job {self.spec.name} reads {table!r}, which its pipeline "
                                 f"spec does not list (reads={self.spec.reads})")

    def exists(self, table: str) -> bool:
        self._declared(table)
        return self.catalog.exists(table)

    def _note_read(self, table: str, spec: dict[str, Any]) -> None:
        """Record in the lineage which runs wrote the partitions of ``table`` that this read
        touches (looked up before the rows are read, so a write in between can only make
        the output look stale, never look fresh)."""
        if self.lineage is None:
            return
        from mobsig import lineage
        from mobsig.pipeline import writer_of

        w = writer_of(table)
        if w is None:
            return
        if self._runs is None:
            writers = {x.name for t in self.spec.reads if (x := writer_of(t)) is not None}
            self._runs = lineage.RunIndex(lineage.load_runs(self.catalog, writers))
        seen = self.lineage.setdefault(table, {})
        for label in lineage.labels_read(w.kind, spec, self._runs.labels(w.name)):
            seen[label] = self._runs.fact(table, label)

    def _log_read(self, table: str, spec: dict[str, Any]) -> None:
        where = " ".join(f"{k}={v}" for k, v in spec.items() if v is not None)
        self.log.info("stage read: %s%s", table, f" {where}" if where else "",
                      extra=fields(stage="read", table=table))

    def read(self, table: str, **spec: Any) -> DataFrame:
        """The table (only the partitions in ``spec``); InputError when it does not exist."""
        self._declared(table)
        self._note_read(table, spec)
        self._log_read(table, spec)
        self._reads.setdefault(table, []).append(dict(spec))
        if not self.catalog.exists(table):
            from mobsig.pipeline import writer_of

            w = writer_of(table)
            raise InputError(f"{self.spec.name} {self.label}: table {table} does not exist "
                             f"at {self.catalog.path(table)}"
                             + (f": run `mobsig {w.name}` first" if w else ""))
        return self.catalog.read(table, **spec)

    def read_optional(self, table: str, **spec: Any) -> DataFrame | None:
        """The table, or None when it does not exist yet."""
        self._declared(table)
        self._note_read(table, spec)
        self._log_read(table, spec)
        self._reads.setdefault(table, []).append(dict(spec))
        return self.catalog.read(table, **spec) if self.catalog.exists(table) else None

    # caching, counts, facts
    def keep(self, df: DataFrame, level: StorageLevel = StorageLevel.MEMORY_AND_DISK
             ) -> DataFrame:
        """Persist ``df`` for this run; released when the run ends (success or failure)."""
        out = df.persist(level)
        self._cached.append(out)
        return out

    def detach(self, df: DataFrame) -> DataFrame:
        """Materialise ``df`` with its lineage cut (Spark's local checkpoint); released when
        the run ends, like :meth:`keep`.

        For a frame read from a table the job also writes (clean_stays reads the previous
        day's ``stays_carry`` and writes today's): after a write Spark re-caches every
        cached frame whose plan reads the written table, and with ``keep`` alone that is
        the carry and everything cached from it (the whole daily pass, computed again at
        the write). A detached frame no longer reads the table."""
        out = df.localCheckpoint(eager=True)
        self._detached.append(out._jdf.queryExecution().analyzed().rdd())
        return out

    def note_input(self, name: str, rows: int) -> None:
        self.result.input_rows[name] = self.result.input_rows.get(name, 0) + int(rows)

    def note_output(self, name: str, rows: int) -> None:
        self.result.output_rows[name] = self.result.output_rows.get(name, 0) + int(rows)

    def fact(self, name: str, value: Any) -> None:
        """A job-specific number of the run (in the result, the log and the printed line)."""
        self.result.facts[name] = value

    def after_write(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once every output is written (export files of the written rows)."""
        self._after_write.append(fn)

    # checks
    def reconcile(self, frame: DataFrame | dict[str | None, int], *, source: str,
                  reason: str, reasons: tuple[str, ...], rows_in: int | None = None,
                  by: str | None = None, kept_by: dict[Any, int] | None = None) -> Ledger:
        """Check rows in = kept + removed per reason, before any write.

        ``frame``: one row per source row (``reason`` null = kept), counted by reason in one
        aggregate; or the counts themselves (reason -> rows, None = kept) when the job's
        own pass accumulated them. ``rows_in`` (counted separately) is the source's row
        count; without it the total is the input. A reason outside ``reasons`` or a gap
        fails the run (DataQualityError). ``by``: a column of ``frame`` whose values split
        the kept count (``kept_by``; with counts, pass ``kept_by`` itself)."""
        counts: dict[str | None, int] = {}
        kept_by = dict(kept_by or {})
        if isinstance(frame, dict):
            counts = {k: int(v) for k, v in frame.items()}
        else:
            keys = [reason] + ([by] if by else [])
            for r in frame.groupBy(*keys).count().collect():
                counts[r[0]] = counts.get(r[0], 0) + int(r["count"])
                if by and r[0] is None:
                    kept_by[r[1]] = int(r["count"])
        kept = counts.pop(None, 0)
        unknown = sorted(k for k in counts if k not in reasons and counts[k])
        if unknown:
            raise DataQualityError(f"{self.spec.name} {self.label}: unknown {reason} values "
                                   f"{unknown} (known: {list(reasons)})")
        removed = {k: counts.get(k, 0) for k in reasons}
        total = kept + sum(removed.values())
        n_in = total if rows_in is None else int(rows_in)
        self.note_input(source, n_in)
        self.result.removed.update(removed)
        if total != n_in:
            raise DataQualityError(
                f"{self.spec.name} {self.label}: rows do not reconcile: {source} {n_in} != "
                f"kept {kept} + removed {removed} = {total}; nothing written")
        self.log.info("stage reconcile: %s %s: %s %d = kept %d + %s", self.spec.name,
                      self.label, source, n_in, kept,
                      " + ".join(f"{k} {v}" for k, v in removed.items() if v)
                      or "0 removed",
                      extra=fields(stage="reconcile", table=source, rows=n_in, kept=kept,
                                   removed={k: v for k, v in removed.items() if v}))
        return Ledger(n_in, kept, removed, kept_by)

    def check(self, suite: str, metrics: dict[str, float | int], *,
              params: dict[str, Any] | None = None, table: str | None = None,
              explain: Callable[[], str] | str | None = None) -> GateResult:
        """Gate job-level ``metrics`` (one row) with ``expectations/<suite>.json``.

        On failure the DataQualityError names the expectation and the numbers, plus
        ``explain`` (text, or a function computing it) for the reader; nothing is written.
        """
        try:
            res = run_gate(dict(metrics), suite, params=params,
                           results_dir=self.cfg.quality_dir, label=self.label)
        except DataQualityError as exc:
            self.result.gates.append({"table": table or suite, **exc.result})
            text = explain() if callable(explain) else explain
            if text:
                raise DataQualityError(f"{exc}\n  {self.spec.name} {self.label}: {text}",
                                       exc.result) from None
            raise
        self.result.gates.append({"table": table or suite, **res.summary()})
        return res

    def not_checked(self, suite: str, reason: str, *, table: str | None = None) -> None:
        """Record the job-level gate ``suite`` as not checked (it had nothing to compare):
        ``success`` null, never counted as passed, the reason as its warning; logged."""
        self.log.warning("gate %s not checked: %s", suite, reason)
        self.result.gates.append({"table": table or suite, "suite": suite, "success": None,
                                  "status": "not_checked", "evaluated": 0, "failed": [],
                                  "warnings": [f"not checked: {reason}"],
                                  "result_path": None})

    def input_error(self, message: str) -> InputError:
        """An InputError naming the job and partition (a missing or unusable input)."""
        return InputError(f"{self.spec.name} {self.label}: {message}")

    def require(self, condition: Any, message: str) -> None:
        """Raise :meth:`input_error` (message) unless ``condition``."""
        if not condition:
            raise self.input_error(message)

    # the tail: gate all, write all
    def _partition_of(self, table: str) -> PartitionSpec:
        cols = self.catalog.schema(table).partition_by
        spec: dict[str, Any] = {}
        if self.part.month is not None and "month" in cols:
            spec["month"] = self.part.month_key
        if self.part.day is not None and "dt" in cols:
            spec["dt"] = self.part.day
            if self.part.regions and "region" in cols:
                spec["region"] = list(self.part.regions)
        return spec

    def gate_and_write(self, outputs: list[Output]) -> None:
        """Gate every output, then write them all (:func:`gate_all_then_write`), then run
        the after-write steps."""
        for o in outputs:
            if o.table not in self.spec.writes:
                raise AssertionError(f"job {self.spec.name} writes {o.table!r}, which its "
                                     f"pipeline spec does not list ({self.spec.writes})")
        placed = [o if o.partition is not None else
                  dataclasses.replace(o, partition=self._partition_of(o.table))
                  for o in outputs]
        gate_all_then_write(self.catalog, placed, results_dir=self.cfg.quality_dir,
                            label=self.label, result=self.result, keep=self.keep,
                            read_tables=frozenset(
                                o.table for o in placed
                                if any(partitions_overlap(r, o.partition or {})
                                       for r in self._reads.get(o.table, ()))))
        for fn in self._after_write:
            fn()

    def release(self) -> None:
        # newest first: a frame cached from an earlier cached frame goes before its
        # source, so unpersisting the source finds no dependent cache to rebuild (Spark
        # re-caches the dependents of an unpersisted frame: a job per dependent)
        for df in reversed(self._cached):
            df.unpersist()
        self._cached.clear()
        for rdd in self._detached:
            rdd.unpersist(False)
        self._detached.clear()


def partitions_overlap(read: Mapping[str, Any], written: Mapping[str, Any]) -> bool:
    """Whether a read of a table with the partition filter ``read`` (``dt=``, ``month=``,
    ``region=``: a value or a list; a missing key reads every value) may touch rows of
    the partition ``written`` replaces. Dates compare by their ISO day."""
    def norm(v: Any) -> set[str]:
        vals = v if isinstance(v, (list, tuple, set, frozenset)) else [v]
        return {x.isoformat() if isinstance(x, dt.date) else str(x) for x in vals}

    for key, value in written.items():
        if read.get(key) is not None and not norm(read[key]) & norm(value):
            return False
    return True


def concurrently(calls: Sequence[Callable[[], Any]], limit: int = 4) -> list[Any]:
    """Run ``calls`` in up to ``limit`` threads of this process (each with the caller's
    log context), wait for all, and return their results in order; when any raised, the
    first one's error (in order) is raised after all have finished. Spark runs the jobs of
    the threads side by side: a small table's gate or Delta commit is mostly the driver
    waiting (planning, scheduling, the commit's file operations), so a job's 3-5 outputs
    gate and write in about half the time on two cores (measured on small tables)."""
    if len(calls) <= 1:
        return [c() for c in calls]
    from concurrent.futures import ThreadPoolExecutor, wait

    with ThreadPoolExecutor(min(limit, len(calls)), thread_name_prefix="mobsig-out") as pool:
        futures = [pool.submit(contextvars.copy_context().run, c) for c in calls]
        wait(futures)
    return [f.result() for f in futures]


def _outcome(call: Callable[[], Any]) -> Callable[[], tuple[Any, BaseException | None]]:
    def run() -> tuple[Any, BaseException | None]:
        try:
            return call(), None
        except DataQualityError as exc:
            return None, exc
    return run


def gate_all_then_write(catalog: Catalog, outputs: list[Output], *,
                        results_dir: Any = None, label: str = "",
                        result: JobResult | None = None,
                        keep: Callable[[DataFrame], DataFrame] | None = None,
                        read_tables: frozenset[str] = frozenset()) -> None:
    """Conform every output to its table schema and gate it; only when every gate passed,
    replace each output's partition (``Output.partition``: required here). A job with
    several outputs (bronze + quarantine, stays + moves + carry) writes none of them when
    any gate fails; each table's commit is atomic on its own, and a failure between two
    commits (not a gate) is repaired by re-running the partition. The gates run side by
    side (:func:`concurrently`; the first failed one in output order is raised and
    recorded, as if they had run one by one), then the writes: side by side too, except
    the tables the job also read at the partition it replaces (``read_tables``; the
    runner passes those whose read filter :func:`partitions_overlap` the output's
    partition, so clean_stays' carry of D-1 does not hold back the carry of D), written
    one by one after the others so that no other output can be computed from a table
    already replaced. Gate summaries and written row counts go into ``result``; ``keep``
    persists the staged frames (default: persisted here and released at the end). Each
    output's content digest (computed in its gate's aggregate) goes into
    ``result.digests``."""
    own: list[DataFrame] = []

    def stage(df: DataFrame) -> DataFrame:
        if keep is not None:
            return keep(df)
        own.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return own[-1]

    def gate(o: Output, out: DataFrame) -> Callable[[], GateResult]:
        return lambda: run_gate(out, (o.suite or o.table) if o.gated else None,
                                params=o.params, schema=o.table, results_dir=results_dir,
                                label=label, known=o.known, digest=True)

    def write(o: Output, out: DataFrame) -> Callable[[], None]:
        def go() -> None:
            t_write = time.monotonic()
            catalog.write(out, o.table, o.partition)
            log.info("stage write: %s %d rows (%.1fs)", o.table, rows[o.table],
                     time.monotonic() - t_write,
                     extra=fields(stage="write", table=o.table, rows=rows[o.table]))
            written.add(o.table)
        return go

    try:
        staged = [(o, conform(o.df, catalog.schema(o.table))) for o in outputs]
        staged = [(o, stage(df) if o.stage else df) for o, df in staged]
        for o, _ in staged:
            if o.partition is None:
                raise AssertionError(f"output {o.table}: no partition given")
        rows: dict[str, int] = {}
        written: set[str] = set()
        gated = concurrently([_outcome(gate(o, out)) for o, out in staged])
        for (o, _), (res, exc) in zip(staged, gated, strict=True):
            if exc is not None:
                if result is not None:
                    result.gates.append({"table": o.table, **exc.result})
                if o.explain:
                    raise DataQualityError(f"{exc}\n  {o.explain}", exc.result) from None
                raise exc
            if result is not None:
                result.gates.append({"table": o.table, **res.summary()})
                if res.digest is not None:
                    result.digests[o.table] = res.digest
            rows[o.table] = int(res.metrics["n_rows"])
            log.info("stage gate: %s passed (%s), %d rows", o.table,
                     (o.suite or o.table) if o.gated else "schema only", rows[o.table],
                     extra=fields(stage="gate", table=o.table, rows=rows[o.table]))
        first = [(o, out) for o, out in staged if o.table not in read_tables]
        last = [(o, out) for o, out in staged if o.table in read_tables]
        try:
            concurrently([write(o, out) for o, out in first])
            for o, out in last:
                write(o, out)()
        finally:  # what was written, in output order (also when a later write failed)
            if result is not None:
                for o, _ in staged:
                    if o.table in written:
                        result.output_rows[o.table] = rows[o.table]
    finally:
        for df in reversed(own):
            df.unpersist()


# --------------------------------------------------------------------------------------
# running


_CURRENT: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "mobsig_current_job", default=None)


def current_job() -> JobContext | None:
    """The context of the job run in progress (None outside a run): lets a shared step
    such as the export files name the run and its parameters without every job passing
    them."""
    return _CURRENT.get()


def job_module(name: str) -> ModuleType:
    return importlib.import_module(job(name).module)


def validate(cfg: Config, name: str, options: dict[str, Any] | None = None,
             parts: Sequence[Partition] = ()) -> None:
    """Checks before Spark starts: the job's delivered inputs exist, the holiday calendar
    covers its partitions (a job whose spec lists ``holidays``), its own checks pass."""
    from mobsig.io.holidays import check_coverage

    spec = job(name)
    cfg.check_warehouse()
    if spec.inputs:
        cfg.require_inputs(*spec.inputs)
    present = [k for k in spec.optional_inputs if getattr(cfg.paths, k)]
    if present:
        cfg.require_inputs(*present)
    if "holidays" in spec.inputs + spec.optional_inputs and parts:
        check_coverage(cfg, [d for p in parts
                             for d in (p.month_days if p.month else [p.day] if p.day else [])],
                       log)
    mod = job_module(name)
    if hasattr(mod, "validate"):
        mod.validate(cfg, options or {})


def _check_session(spark: Any, cfg: Config) -> None:
    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz != cfg.run.timezone:
        raise ConfigError(f"the Spark session time zone {tz!r} differs from run.timezone "
                          f"{cfg.run.timezone!r}: build the session with mobsig.session")


def run_partition(spark: Any, cfg: Config, name: str, part: Partition,
                  options: dict[str, Any] | None = None, *, record: bool = True) -> JobResult:
    """Run job ``name`` on one partition under its own run record; the typed result.

    With ``record`` the run's lineage, output digests and options go into its record.
    Raises the job's error (after recording the failed run)."""
    spec = job(name)
    mod = job_module(name)
    _check_session(spark, cfg)
    scaled = cfg.scaled_thresholds() if spec.kind == "month" else {}
    if spec.kind == "month":
        cfg = cfg.for_window()  # day-count thresholds scaled to run.window_days
    run_id = new_run_id()
    catalog = Catalog(spark, cfg.warehouse)
    sink = (lambda rec: write_record(catalog, rec)) if record else None
    t0 = time.monotonic()
    with log_context(job=name, part=part.label, run=run_id), recording(
            name, run_id, cfg.digest(), part.label, sink=sink) as rec:
        ctx = JobContext(spark, cfg, spec, part, dict(options or {}), rec, lineage=record)
        rec.options.update(options or {})
        if spec.kind == "month" and cfg.run.window_days:
            # recorded with the run: the window and the thresholds it scaled
            rec.options.update(window_days=cfg.run.window_days, scaled_thresholds=scaled)
            ctx.fact("window_days", cfg.run.window_days)
            ctx.log.info("run.window_days = %d: day-count thresholds scaled to %s",
                         cfg.run.window_days, scaled)
        token = _CURRENT.set(ctx)
        try:
            t_build = time.monotonic()
            outputs = mod.build(ctx)
            ctx.log.info("stage build: %d outputs (%s) in %.1fs", len(outputs),
                         ", ".join(o.table for o in outputs), time.monotonic() - t_build,
                         extra=fields(stage="build", tables=[o.table for o in outputs]))
            ctx.gate_and_write(outputs)
        except Exception as exc:
            known = spark_failure(exc, f"{name} {part.label}")
            if known is None:
                raise
            raise known from None
        finally:
            _CURRENT.reset(token)
            res = ctx.result
            rec.lineage = ctx.lineage
            rec.output_digests.update(res.digests)
            rec.input_rows.update(res.input_rows)
            rec.output_rows.update(res.output_rows)
            rec.output_rows.update({f"removed_{k}": v for k, v in res.removed.items() if v})
            rec.gates.extend(res.gates)
            rec.facts.update(res.facts)
            ctx.release()
    log.info("%s (%.1fs)", res.line(), time.monotonic() - t0,
             extra=fields(input_rows=res.input_rows, output_rows=res.output_rows,
                          seconds=round(time.monotonic() - t0, 1)))
    return res


def run_partitions(spark: Any, cfg: Config, name: str, parts: list[Partition],
                   options: Callable[[int, Partition], dict[str, Any]] | None = None,
                   keep_going: bool = False, echo: bool = True) -> int:
    """Run ``name`` for each partition in order (each with its own run record).

    A failure stops the loop (the error propagates) unless ``keep_going``: then the
    remaining partitions still run and the return code is 1. ``echo`` prints each
    result's line."""
    from mobsig.errors import MobsigError

    failed = 0
    for i, part in enumerate(parts):
        if len(parts) > 1:
            log.info("%s: partition %d of %d (%s)", name, i + 1, len(parts), part.label)
        try:
            res = run_partition(spark, cfg, name, part, options(i, part) if options else {})
        except MobsigError:
            if not keep_going:
                raise
            failed += 1
            log.error("%s %s failed; continuing (--keep-going)", name, part.label)
            continue
        if echo:
            print(res.line())
    return 1 if failed else 0


def run(spark: Any, cfg: Config, name: str, *, day: dt.date | None = None,
        regions: list[str] | None = None, month: dt.date | None = None,
        **options: Any) -> JobResult:
    """Run one job on one partition (for notebooks and tests):
    ``run(spark, cfg, "clean_stays", day=d)``, ``run(spark, cfg, "expand", month=m)``."""
    part = Partition(day=day, regions=tuple(regions) if regions else None, month=month)
    kind = job(name).kind
    if (kind == "month") != (month is not None) or (kind.startswith("day")) != (day is not None):
        raise ConfigError(f"{name} is a {kind!r} job: give "
                          + {"month": "month=", "day": "day=", "day_region": "day=",
                             "none": "no partition"}[kind])
    return run_partition(spark, cfg, name, part, options)


def count_where(df: DataFrame, **conditions: Any) -> dict[str, int]:
    """Several counts in one aggregate: ``count_where(df, homes=col_expr, ...)``; a
    condition is a boolean Column (rows where it is true) or None (every row)."""
    aggs = [F.count(F.lit(1)).alias(k) if c is None
            else F.sum(F.when(c, 1).otherwise(0)).alias(k) for k, c in conditions.items()]
    row = df.agg(*aggs).first()
    return {k: int(row[k] or 0) for k in conditions}
