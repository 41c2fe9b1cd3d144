"""Partition lineage: what each run read, which outputs are stale, what depends on a re-run.

Every run of a job on a partition records, in its row of the ``runs`` table:

- ``lineage``: for every table partition it read (``ctx.read(table, dt=...)``), the runs of
  the writing job that made that partition's rows and the content digest of what each
  wrote: ``{table: {partition: [[run_id, digest], ...]}}``. A partition is named like a
  run's partition: ``dt=2026-06-01``, ``month=2026-06`` or ``all`` (a whole-table job such
  as ``ingest_cells``). An empty list means the partition had no rows yet (e.g. the first
  day of the next month, read by the monthly jobs).
- ``output_digests``: ``{table: digest}`` of the rows it wrote (computed in the output's
  gate aggregate; the same rows in any order give the same digest).

The writing runs of a partition are the latest succeeded run of exactly that partition
plus any later runs of part of it (``ingest_events --region``), oldest first.

A succeeded run is **stale** when a partition it read now holds other rows than it read
(the digests of its current writing runs differ from the recorded ones; a re-run that
wrote the same rows changes nothing), or was written since while it was empty then, or
when a run that wrote what it read is stale itself (the staleness is inherited down the
chain: day 6 reads the carry of day 5, which reads that of day 4, ...). A re-run of day 5
therefore makes day 6 (the carry) and the month (stays, events_clean) stale, never day 3.

Whole-table inputs (written by a job of kind ``none``: ``units``, ``cells``) are one
partition, so a new cell table changes what every day read even when only versions valid
on other days changed. Such a change is reported as **input changed** (kept apart from
stale: :attr:`Reason.whole`): ``mobsig status`` shows it, ``--require`` does not fail on
it, and ``mobsig run ingest_cells --downstream`` rebuilds what read the table.

Runs recorded before lineage existed (``lineage`` null) are *unknown*: never called stale;
``mobsig run --downstream`` re-runs them when the pipeline spec says they may read a
re-run partition (same or a later day; a month whose days, or the day after, include it).

Everything here except :func:`load_runs` is plain Python on run rows, so the rules are
tested on hand-built records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mobsig import pipeline

Fact = list[list[str | None]]  # [[writer run id, content digest], ...]

# columns of the runs table the lineage needs (the gates and row counts are not read)
COLUMNS = ("job", "partition", "status", "started_at", "ended_at", "run_id", "lineage",
           "output_digests", "options")


@dataclass(frozen=True)
class RunRow:
    """One row of the ``runs`` table, with its JSON columns parsed."""

    job: str
    partition: str
    status: str
    ended_at: dt.datetime
    run_id: str
    lineage: dict[str, dict[str, Fact]] | None = None
    output_digests: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    started_at: dt.datetime | None = None

    @staticmethod
    def of(row: Mapping[str, Any]) -> RunRow:
        def parsed(key: str, default: Any) -> Any:
            text = row.get(key)
            return json.loads(text) if text else default

        return RunRow(job=row["job"], partition=row["partition"], status=row["status"],
                      ended_at=row["ended_at"], run_id=row["run_id"],
                      lineage=parsed("lineage", None),
                      output_digests=parsed("output_digests", {}),
                      options=parsed("options", {}), started_at=row.get("started_at"))

    @property
    def label(self) -> str:
        """The partition without a region list: ``dt=D``, ``month=M`` or ``all``."""
        return base_label(self.partition)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


def base_label(partition: str) -> str:
    return partition.split(" ", 1)[0]


def day_label(value: Any) -> str:
    return f"dt={value.isoformat() if isinstance(value, dt.date) else str(value)[:10]}"


def month_label(value: Any) -> str:
    return f"month={value:%Y-%m}" if isinstance(value, dt.date) else f"month={value}"


def _values(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple, set, frozenset)) else [v]


def labels_read(writer_kind: str, spec: Mapping[str, Any], known: Iterable[str] = ()
                ) -> list[str]:
    """The partition labels a read of a table touches: ``spec`` is the read's partition
    filter (``dt=``, ``month=``, ``region=``); ``writer_kind`` the kind of the job that
    writes the table. A read without a filter on the writer's partition column touches
    every partition in ``known`` (the labels its writer has run for)."""
    if writer_kind == "none":
        return ["all"]
    col, fmt = ("month", month_label) if writer_kind == "month" else ("dt", day_label)
    if spec.get(col) is None:
        return sorted({lab for lab in known if lab.startswith(f"{col}=")})
    return sorted({fmt(v) for v in _values(spec[col])})


def parse_label(label: str) -> tuple[str, dt.date | None, tuple[str, ...] | None]:
    """``("day", date, regions)``, ``("month", first day, None)`` or ``("all", None,
    None)``."""
    head, _, rest = label.partition(" ")
    if head.startswith("dt="):
        regions = (tuple(rest.split("=", 1)[1].split(","))
                   if rest.startswith("region=") else None)
        return "day", dt.date.fromisoformat(head[3:]), regions
    if head.startswith("month="):
        return "month", dt.date.fromisoformat(head[6:] + "-01"), None
    return "all", None, None


def _next_month(d: dt.date) -> dt.date:
    return (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Reason:
    """Why a run is stale: ``table`` ``label`` (written by ``writer``) changed after the
    run read it (``kind`` ``changed``), or the run that wrote it is stale itself
    (``upstream``; ``root`` names the first change up the chain). ``whole``: the change
    is (or comes only from) a whole-table input such as the cell table."""

    table: str
    label: str
    writer: str
    kind: str
    whole: bool
    text: str
    root: str

    def __str__(self) -> str:
        return self.text


def _same(recorded: Fact, current: Fact) -> bool:
    if len(recorded) != len(current):
        return False
    digests = [d for _, d in recorded] + [d for _, d in current]
    if digests and all(digests):
        return [d for _, d in recorded] == [d for _, d in current]
    return [r for r, _ in recorded] == [r for r, _ in current]


class RunIndex:
    """The run records, indexed for lineage questions (plain Python, no Spark)."""

    def __init__(self, rows: Iterable[RunRow]) -> None:
        self.rows = sorted(rows, key=lambda r: (r.ended_at, r.run_id))
        self.by_id = {r.run_id: r for r in self.rows}
        self._ok: dict[tuple[str, str], list[RunRow]] = defaultdict(list)
        self._latest: dict[tuple[str, str], RunRow] = {}
        for r in self.rows:
            self._latest[(r.job, r.partition)] = r
            if r.succeeded:
                self._ok[(r.job, r.label)].append(r)
        self._memo: dict[str, list[Reason]] = {}

    # which runs made a partition
    def writing_runs(self, job: str, label: str) -> list[RunRow]:
        """The succeeded runs whose rows a partition holds now: the latest run of the whole
        partition and the runs of part of it (regions) after it, oldest first."""
        runs = self._ok.get((job, label), [])
        whole = [i for i, r in enumerate(runs) if r.partition == label]
        return runs[whole[-1]:] if whole else list(runs)

    def fact(self, table: str, label: str) -> Fact:
        """What a read of ``table`` ``label`` reads now: [[run id, digest], ...]."""
        w = pipeline.writer_of(table)
        if w is None:
            return []
        return [[r.run_id, r.output_digests.get(table)]
                for r in self.writing_runs(w.name, label)]

    def labels(self, job: str) -> list[str]:
        """Every partition label ``job`` has a succeeded run for."""
        return sorted({lab for (j, lab) in self._ok if j == job})

    def latest(self, job: str, partition: str) -> RunRow | None:
        """The latest run (any status) of exactly this partition."""
        return self._latest.get((job, partition))

    def current(self) -> list[RunRow]:
        """The runs whose rows the tables hold now: the writing runs of every partition."""
        return [r for (job, label) in self._ok for r in self.writing_runs(job, label)]

    # staleness
    def _inputs(self, run: RunRow) -> list[tuple[str, str, pipeline.Job, Fact, Fact]]:
        out = []
        for table, parts in sorted((run.lineage or {}).items()):
            w = pipeline.writer_of(table)
            if w is None:
                continue
            for label, recorded in sorted(parts.items()):
                out.append((table, label, w, recorded, self.fact(table, label)))
        return out

    def reasons(self, run: RunRow) -> list[Reason]:
        """Why ``run`` is stale (empty: up to date, or lineage unknown)."""
        # post-order over the runs that wrote what ``run`` read, without recursion
        # (a year of days is a chain of 365 carries)
        stack, visiting = [run.run_id], set()
        while stack:
            rid = stack[-1]
            if rid in self._memo:
                stack.pop()
                continue
            r = self.by_id.get(rid, run if rid == run.run_id else None)
            if r is None:
                self._memo[rid] = []
                stack.pop()
                continue
            inputs = self._inputs(r)
            deps = [w for *_, recorded, current in inputs if _same(recorded, current)
                    for w, _ in current]
            pending = [d for d in deps if d not in self._memo and d not in visiting]
            if pending and rid not in visiting:
                visiting.add(rid)
                stack.extend(pending)
                continue
            self._memo[rid] = self._direct(inputs)
            stack.pop()
        return self._memo[run.run_id]

    def _direct(self, inputs: list[tuple[str, str, pipeline.Job, Fact, Fact]]
                ) -> list[Reason]:
        out = []
        for table, label, w, recorded, current in inputs:
            whole = w.kind == "none"
            if not _same(recorded, current):
                out.append(self._changed(table, label, w.name, whole, recorded, current))
                continue
            for rid, _ in current:
                up = self._memo.get(rid, [])
                if up:
                    text = (f"{table} {label} was built by {w.name} run {rid} from inputs "
                            f"that changed since (first: {up[0].root})")
                    out.append(Reason(table, label, w.name, "upstream",
                                      whole or all(u.whole for u in up), text, up[0].root))
                    break
        return out

    def _changed(self, table: str, label: str, writer: str, whole: bool,
                 recorded: Fact, current: Fact) -> Reason:
        what = f"{table} {label}" + (" (whole-table input)" if whole else "")
        if not current:
            text = f"{what}: no succeeded {writer} run holds it any more"
        else:
            last = self.by_id[current[-1][0]]
            by = f"{writer} run {last.run_id} at {last.ended_at:%Y-%m-%d %H:%M:%S}"
            text = (f"{what} was written by {by} after this run found it empty"
                    if not recorded else
                    f"{what} was re-written with other rows by {by} after this run read it")
        return Reason(table, label, writer, "changed", whole, text, text)

    def stale(self, run: RunRow) -> bool:
        """Stale through a partitioned input (what ``--require`` fails on)."""
        return any(not r.whole for r in self.reasons(run))

    def changed(self, run: RunRow) -> bool:
        """Stale or an input changed (whole-table inputs included)."""
        return bool(self.reasons(run))

    # what depends on a partition
    def read_any(self, run: RunRow, partitions: set[tuple[str, str]]) -> bool:
        """Whether ``run`` read one of ``partitions`` ((writer job, label) pairs); for a
        run without lineage, whether it may have (:func:`_legacy_reads`)."""
        if run.lineage is None:
            return any(_legacy_reads(run, job, label) for job, label in partitions)
        return any((w.name, label) in partitions
                   for table, parts in run.lineage.items()
                   if (w := pipeline.writer_of(table)) is not None for label in parts)

    def dependents(self, sources: Iterable[tuple[str, str]]) -> list[RunRow]:
        """The current runs that read, directly or through other runs, a partition written
        by one of ``sources`` ((job, partition) pairs), in plan order (:func:`plan_key`);
        the sources themselves are left out. From the recorded lineage; a run without
        lineage is taken when the spec says its job reads a table of the writer and
        :func:`may_read` holds."""
        current = self.current()
        readers: dict[tuple[str, str], set[str]] = defaultdict(set)
        legacy: list[RunRow] = []
        for r in current:
            if r.lineage is None:
                legacy.append(r)
                continue
            for table, parts in r.lineage.items():
                w = pipeline.writer_of(table)
                if w is not None:
                    for label in parts:
                        readers[(w.name, label)].add(r.run_id)
        start = {(job, base_label(part)) for job, part in sources}
        seen: set[str] = set()
        todo = list(start)
        while todo:
            job, label = todo.pop()
            found = set(readers.get((job, label), ()))
            found |= {r.run_id for r in legacy if _legacy_reads(r, job, label)}
            for rid in found - seen:
                seen.add(rid)
                r = self.by_id[rid]
                todo.append((r.job, r.label))
        wanted = {(j, p) for j, p in sources}
        out = [self.by_id[rid] for rid in seen]
        out = [r for r in out if (r.job, r.partition) not in wanted
               and (r.job, r.label) not in start]
        return sorted(out, key=lambda r: plan_key(r.job, r.partition))


def _legacy_reads(reader: RunRow, writer: str, label: str) -> bool:
    """Whether a run recorded without lineage may have read ``label`` of ``writer``: its
    job reads a table ``writer`` writes (pipeline spec) and :func:`may_read` holds."""
    try:
        spec = pipeline.job(reader.job)
    except KeyError:
        return False
    if not any((w := pipeline.writer_of(t)) is not None and w.name == writer
               for t in spec.reads):
        return False
    if reader.job == writer and reader.label == label:
        return False
    return may_read(reader.partition, label)


def may_read(reader: str, label: str) -> bool:
    """The spec-level rule for runs without lineage: a whole-table partition is read by
    everything; a day partition by the same and later days, and by a month whose days or
    the day after include it (the monthly jobs read the first day of the next month); a
    month partition by its own and later months and days."""
    kind, when, _ = parse_label(label)
    rkind, rwhen, _ = parse_label(reader)
    if kind == "all":
        return True
    if rkind == "all" or when is None or rwhen is None:
        return False
    if kind == "day" and rkind == "month":
        return when <= _next_month(rwhen)
    return when <= rwhen


def plan_key(job: str, partition: str) -> tuple:
    """The order ``mobsig run`` runs partitions in: whole-table jobs, then day by day
    each day's jobs in spec order, then month by month each month's jobs in spec order."""
    names = pipeline.job_names()
    idx = names.index(job) if job in names else len(names)
    kind, when, regions = parse_label(partition)
    group = {"all": 0, "day": 1, "month": 2}[kind]
    return (group, when or dt.date.min, idx, regions or ())


def load_runs(catalog: Any, jobs: Iterable[str] | None = None) -> list[RunRow]:
    """The run records (only the columns the lineage needs), of ``jobs`` or of all."""
    from pyspark.sql import functions as F

    from mobsig.runs import cached_rows, started_rows

    wanted = None if jobs is None else frozenset(jobs)
    if wanted is not None and not wanted:
        return []
    # the runs without an end row yet (their started files: never cached)
    started = [RunRow.of({c: r.get(c) for c in COLUMNS}) for r in started_rows(catalog)
               if wanted is None or r["job"] in wanted]

    def read() -> list[dict[str, Any]]:
        df = catalog.read("runs").select(*COLUMNS)
        if wanted is not None:
            df = df.where(F.col("job").isin(sorted(wanted)))
        return [r.asDict() for r in df.collect()]

    # the table's rows and the pending end records; a small local warehouse keeps the
    # table's rows between runs (mobsig.runs.cached_rows)
    return [RunRow.of(r) for r in cached_rows(catalog, wanted, COLUMNS, read)] + started
