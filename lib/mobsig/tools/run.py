"""Run a job, or a whole chain, by hand for a day, a month or a range (one Spark session).

    mobsig run clean_stays --date 2026-06-01
    mobsig run daily --from 2026-06-01 --to 2026-06-30      # units, cells, ingest, clean, stays
    mobsig run monthly --month 2026-06                      # flags .. trips
    mobsig run all --from 2026-06-01 --to 2026-06-30        # daily range, then its months

The chains and their order come from the pipeline spec (mobsig.pipeline). Days run in date
order (stays of day D need the open-stay carry of D-1). Every job and partition gets its
own run record in the ``runs`` table; the first failure stops the run (exit status of the
failing job) unless ``--keep-going``.
"""

from __future__ import annotations

import argparse
import datetime as dt

from mobsig import pipeline
from mobsig.config import Config
from mobsig.errors import ConfigError
from mobsig.jobargs import add_day_arguments, add_month_arguments, days, months, regions
from mobsig.runner import Partition

NAME = "run"
HELP = "run a job or a chain (daily, monthly, all) for a date, month or range"

Step = tuple[str, Partition, dict]
# monthly jobs that write export files after their table (option ``export``)
EXPORT_JOBS = ("population_by_unit", "jobs_housing", "linkage", "trips")


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
                   help="population_by_unit, jobs_housing, linkage, trips: skip the "
                        "GeoParquet/CSV export files")


def chain(name: str) -> list[pipeline.Job]:
    try:
        return pipeline.chain(name)
    except KeyError:
        raise ConfigError(f"unknown job {name!r}; give one of: "
                          f"{', '.join([*pipeline.CHAINS, *pipeline.job_names()])}") from None


def plan(args: argparse.Namespace) -> list[Step]:
    """(job, partition, options) in execution order, validated before Spark starts: the
    whole-table jobs first, then each day's daily jobs, then each month's monthly jobs."""
    jobs = chain(args.job)
    needs_day = any(j.kind.startswith("day") for j in jobs)
    needs_month = any(j.kind == "month" for j in jobs)
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
            if j.kind == "day_region":
                steps.append((j.name, Partition(day=d, regions=tuple(regs) if regs else None),
                              {}))
            elif j.kind == "day":
                steps.append((j.name, Partition(day=d),
                              {"fresh_start": True} if fresh and i == 0 else {}))
    for m in month_list:
        steps += [(j.name, Partition(month=m), {"export": export} if j.name in
                   EXPORT_JOBS else {}) for j in jobs if j.kind == "month"]
    if not steps:
        raise ConfigError(f"nothing to run for {args.job!r} with the given partition options")
    return steps


def validate(args: argparse.Namespace, cfg: Config) -> None:
    from mobsig.runner import validate as validate_job

    for name in dict.fromkeys(s[0] for s in plan(args)):
        validate_job(cfg, name)


def run_steps(spark, cfg: Config, steps: list[Step], keep_going: bool = False) -> int:
    """Run the steps in order (a run record each); the return code of the chain."""
    from mobsig.runner import run_partitions

    rc = 0
    for name, part, opts in steps:
        rc |= run_partitions(spark, cfg, name, [part], lambda i, p, o=opts: o,
                             keep_going=keep_going)
        # no step relies on another's cache: free what a step left cached so a long
        # backfill in one session does not pile it up
        spark.catalog.clearCache()
    return rc


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    return run_steps(spark, cfg, plan(args), keep_going=args.keep_going)
