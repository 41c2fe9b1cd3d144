"""Run a job, or a whole chain, by hand for a day, a month or a range (one Spark session).

    mobsig run clean_stays --date 2026-06-01
    mobsig run daily --from 2026-06-01 --to 2026-06-30      # units, cells, ingest, clean, stays
    mobsig run monthly --month 2026-06                      # flags .. trips,
                                                            # then daily_presence per day
    mobsig run all --from 2026-06-01 --to 2026-06-30        # daily range, then its months
    mobsig run ingest_events --date 2026-06-03 --downstream # late data for 06-03: re-ingest
                                            # it, then rebuild what was built from that day

The chains and their order come from the pipeline spec (mobsig.pipeline). Days run in date
order (stays of day D need the open-stay carry of D-1). A day job of the monthly chain
(``after_month``: daily_presence, exposure_hazards) runs after its month's month jobs,
for the days of the range in that month, or for every day of the month with
``--month``. Every job and
partition gets its own run record in the ``runs`` table; the first failure stops the run
(exit status of the failing job) unless ``--keep-going``.

``--downstream`` (off by default) then rebuilds every partition already built from what
the run wrote, directly or through others, as the run records' lineage says
(mobsig.lineage): after a re-run of day D, clean_stays of D+1 (it read D's open-stay
carry), of D+2 if D+1's carry changed, and so on, and the monthly jobs of every month
that read those days, in plan order (days first, each day's jobs in spec order, then the
months). A dependent whose inputs came out with the same rows is skipped (up to date), so
a re-run that changes nothing stops there. Each is run with the options of its last run.
It is off by default because the scheduled daily runs (one day after the other) have
nothing downstream, and a cascade through later days must not race the scheduler's own
runs of those days; `mobsig status` shows what is stale and the command to rebuild it.

Progress: a run of several steps prints, before each, ``step i of n: JOB PARTITION
(elapsed H:MM:SS, about H:MM:SS left)``; the estimate sums, over the steps still to run,
the mean time of the finished steps of the same job (of all finished steps for a job not
seen yet). ``--downstream`` counts its own steps the same way. With ``--log-format json``
these are log lines (fields ``stage=progress``, ``step``, ``of``, ``elapsed_s``,
``left_s``) instead of printed ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from collections.abc import Callable

from mobsig import pipeline
from mobsig.config import Config
from mobsig.errors import ConfigError
from mobsig.jobargs import (
    add_day_arguments,
    add_month_arguments,
    days,
    month_days,
    months,
    regions,
)
from mobsig.logs import fields, log_format
from mobsig.runner import Partition

NAME = "run"
HELP = "run a job or a chain (daily, monthly, all) for a date, month or range"

log = logging.getLogger(__name__)

Step = tuple[str, Partition, dict]
# jobs that write export files after their table (option ``export``)
EXPORT_JOBS = ("population_by_unit", "commute", "service_population", "linkage", "trips",
               "daily_presence", "exposure_hazards")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="a job name or a chain: "
                   + ", ".join([*pipeline.CHAINS, *pipeline.job_names()]))
    add_day_arguments(p)
    add_month_arguments(p)
    p.add_argument("--keep-going", action="store_true",
                   help="run the remaining partitions after a failure (exit 1 at the end)")
    p.add_argument("--fresh-start", action="store_true",
                   help="clean_stays on the first day starts without the previous day's "
                        "open-stay carry (first day of the data; otherwise an error)")
    p.add_argument("--no-export-files", action="store_true",
                   help="population_by_unit, commute (with jobs_housing), "
                        "service_population, linkage, trips, daily_presence, "
                        "exposure_hazards: skip the GeoParquet/CSV export files")
    p.add_argument("--downstream", action="store_true",
                   help="then re-run, in plan order, every partition already built from "
                        "what this run wrote (later days through the open-stay carry, the "
                        "months that read the days), skipping those whose inputs came out "
                        "unchanged (off by default; see `mobsig status` for stale outputs)")


def chain(name: str) -> list[pipeline.Job]:
    try:
        return pipeline.chain(name)
    except KeyError:
        raise ConfigError(f"unknown job {name!r}; give one of: "
                          f"{', '.join([*pipeline.CHAINS, *pipeline.job_names()])}") from None


def plan(args: argparse.Namespace) -> list[Step]:
    """(job, partition, options) in execution order, validated before Spark starts: the
    whole-table jobs first, then each day's daily jobs, then each month's monthly jobs
    followed by the month's days of its ``after_month`` day jobs."""
    jobs = chain(args.job)
    needs_day = any(j.kind.startswith("day") and not j.after_month for j in jobs)
    needs_month = any(j.kind == "month" or j.after_month for j in jobs)
    has_day = bool(args.date or args.date_from or args.date_to)
    has_month = bool(args.month or args.month_from or args.month_to)
    day_list = days(args) if (needs_day or has_day) and not has_month else []
    month_list: list[dt.date] = []
    if needs_month:
        month_list = (months(args) if has_month
                      else sorted({d.replace(day=1) for d in day_list}))
        if not month_list:
            months(args)  # raises the "a month is required" error
    regs = regions(args)
    fresh = bool(args.fresh_start)
    export = not bool(getattr(args, "no_export_files", False))
    steps: list[Step] = []
    if day_list or not needs_day:
        steps += [(j.name, Partition(), {}) for j in jobs if j.kind == "none"]
    for i, d in enumerate(day_list):
        for j in jobs:
            if j.after_month:
                continue
            if j.kind == "day_region":
                steps.append((j.name, Partition(day=d, regions=tuple(regs) if regs else None),
                              {}))
            elif j.kind == "day":
                steps.append((j.name, Partition(day=d),
                              {"fresh_start": True} if fresh and i == 0 else {}))
    for m in month_list:
        steps += [(j.name, Partition(month=m), {"export": export} if j.name in
                   EXPORT_JOBS else {}) for j in jobs if j.kind == "month"]
        month_of = ([d for d in day_list if d.replace(day=1) == m] if day_list
                    else month_days(m))
        steps += [(j.name, Partition(day=d), {"export": export} if j.name in EXPORT_JOBS
                   else {}) for j in jobs if j.after_month for d in month_of]
    if not steps:
        raise ConfigError(f"nothing to run for {args.job!r} with the given partition options")
    return steps


def validate(args: argparse.Namespace, cfg: Config) -> None:
    from mobsig.runner import validate as validate_job

    steps = plan(args)
    for name in dict.fromkeys(s[0] for s in steps):
        validate_job(cfg, name, parts=[part for n, part, _ in steps if n == name])


def clock_text(seconds: float) -> str:
    """``H:MM:SS`` of a number of seconds."""
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Step i of n with the elapsed time and an estimate of the rest: the mean duration of
    the finished steps of each remaining step's job (all finished steps' mean for a job
    not seen yet)."""

    def __init__(self, jobs: list[str], label: str = "step",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = list(jobs)
        self.label = label
        self.clock = clock
        self.t0 = clock()
        self.took: dict[str, list[float]] = {}
        self._started: float | None = None
        self.fields: dict = {}

    def left_s(self, i: int) -> float | None:
        """Estimated seconds for steps ``i``.. (0-based); None before any step finished."""
        done = [t for ts in self.took.values() for t in ts]
        if not done:
            return None
        overall = sum(done) / len(done)
        return sum(sum(ts) / len(ts) if (ts := self.took.get(j)) else overall
                   for j in self.jobs[i:])

    def start(self, i: int, what: str) -> str:
        """The line for step ``i`` (0-based) starting now (and note its start)."""
        self._started = self.clock()
        elapsed = self._started - self.t0
        left = self.left_s(i)
        est = ("estimate after the first step" if left is None
               else f"about {clock_text(left)} left")
        text = (f"{self.label} {i + 1} of {len(self.jobs)}: {what} "
                f"(elapsed {clock_text(elapsed)}, {est})")
        self.fields = fields(stage="progress", step=i + 1, of=len(self.jobs),
                             elapsed_s=round(elapsed, 1),
                             left_s=None if left is None else round(left, 1))
        return text

    def finish(self, i: int) -> None:
        """Step ``i`` is done: its duration feeds the estimate."""
        if self._started is not None:
            self.took.setdefault(self.jobs[i], []).append(self.clock() - self._started)
            self._started = None

    def say(self, text: str) -> None:
        """Print the line (text logs) or log it with its fields (json logs)."""
        if log_format() == "json":
            log.info(text, extra=self.fields)
        else:
            print(text, flush=True)


def run_steps(spark, cfg: Config, steps: list[Step], keep_going: bool = False,
              progress: Progress | None = None, first: int = 0) -> int:
    """Run the steps in order (a run record each); the return code of the chain.
    Several steps (or a ``progress`` given: step ``first`` of it onwards) print
    :class:`Progress` lines."""
    from mobsig.runner import run_partitions

    if progress is None and len(steps) > 1:
        progress = Progress([s[0] for s in steps])
    rc = 0
    for k, (name, part, opts) in enumerate(steps):
        if progress is not None:
            progress.say(progress.start(first + k, f"{name} {part.label}"))
        rc |= run_partitions(spark, cfg, name, [part], lambda i, p, o=opts: o,
                             keep_going=keep_going)
        if progress is not None:
            progress.finish(first + k)
        # no step relies on another's cache: free what a step left cached so a long
        # backfill in one session does not pile it up
        spark.catalog.clearCache()
    if progress is not None and first + len(steps) == len(progress.jobs):
        progress.fields = fields(stage="progress", step=len(progress.jobs),
                                 of=len(progress.jobs),
                                 elapsed_s=round(progress.clock() - progress.t0, 1),
                                 left_s=0.0)
        progress.say(f"{progress.label}s done: {len(progress.jobs)} in "
                     f"{clock_text(progress.clock() - progress.t0)}")
    return rc


def partition_of(label: str) -> Partition:
    """The partition a run record's label names (``dt=D[ region=A,B]``, ``month=M``,
    ``all``)."""
    from mobsig.lineage import parse_label

    kind, when, regions = parse_label(label)
    if kind == "day":
        return Partition(day=when, regions=regions)
    if kind == "month":
        return Partition(month=when)
    return Partition()


def run_downstream(spark, cfg: Config, steps: list[Step], *, export: bool = True,
                   keep_going: bool = False) -> int:
    """Re-run, in plan order, every partition built from what ``steps`` wrote (directly or
    through others: :meth:`mobsig.lineage.RunIndex.dependents`), each only when a partition
    it read was re-written here and what it read has changed (a dependent that reads the
    same rows is up to date, and the cascade stops there). Each runs with the options of
    its last run (``export`` as given). The return code."""
    from mobsig.io.catalog import Catalog
    from mobsig.lineage import RunIndex, load_runs
    from mobsig.runner import validate as validate_job

    catalog = Catalog(spark, cfg.warehouse)
    index = RunIndex(load_runs(catalog))
    deps = index.dependents([(n, p.label) for n, p, _ in steps])
    if not deps:
        print("downstream: nothing was built from these partitions")
        return 0
    names = [f"{d.job} {d.partition}" for d in deps]
    print(f"downstream: {len(deps)} partitions were built from these: "
          + ", ".join(names[:10]) + (f" ... ({len(names) - 10} more)" if len(names) > 10
                                      else ""))
    for name in dict.fromkeys(d.job for d in deps):
        validate_job(cfg, name)
    rewritten = {(n, p.label.split(" ", 1)[0]) for n, p, _ in steps}
    rc, ran, same, fresh = 0, 0, 0, True
    progress = Progress([d.job for d in deps], label="downstream step")
    for k, d in enumerate(deps):
        if not index.read_any(d, rewritten):
            continue  # nothing it read was re-written (yet): the chain stopped before it
        if not fresh:  # something ran since the last look: see its record
            index, fresh = RunIndex(load_runs(catalog)), True
        if d.lineage is not None and not index.changed(index.by_id.get(d.run_id, d)):
            same += 1
            log.info("%s %s: up to date (what it read has the same rows)", d.job,
                     d.partition)
            continue
        opts = dict(d.options)
        if d.job in EXPORT_JOBS:
            opts["export"] = export
        rc |= run_steps(spark, cfg, [(d.job, partition_of(d.partition), opts)],
                        keep_going=keep_going, progress=progress, first=k)
        ran, fresh = ran + 1, False
        rewritten.add((d.job, d.label))
    print(f"downstream: {ran} re-run, {len(deps) - ran} up to date"
          + (f" ({same} read the same rows again)" if same else ""))
    return rc


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    steps = plan(args)
    rc = run_steps(spark, cfg, steps, keep_going=args.keep_going)
    if getattr(args, "downstream", False) and (rc == 0 or args.keep_going):
        rc |= run_downstream(spark, cfg, steps, keep_going=args.keep_going,
                             export=not bool(getattr(args, "no_export_files", False)))
    return rc
