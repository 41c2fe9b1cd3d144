"""Run a job, or a whole chain, by hand for a day, a month or a range (one Spark session).

    mobsig run detect_stays --date 2026-06-01
    mobsig run daily --from 2026-06-01 --to 2026-06-30      # cells, ingest, clean, stays
    mobsig run monthly --month 2026-06                      # flags .. population_by_unit
    mobsig run all --from 2026-06-01 --to 2026-06-30        # daily range, then its months

Days run in date order (stays of day D need the open-stay carry of D-1). Every job and
partition gets its own run record in the ``runs`` table; the first failure stops the run
(exit status of the failing job) unless ``--keep-going``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from types import ModuleType

from mobsig.config import Config
from mobsig.errors import ConfigError
from mobsig.jobargs import add_day_arguments, add_month_arguments, days, months, regions

NAME = "run"
HELP = "run a job or a chain (daily, monthly, all) for a date, month or range"

# how each job is partitioned: "none" (whole table), "day", "day_region", "month"
KINDS = {
    "ingest_cells": "none",
    "ingest_events": "day_region",
    "clean_events": "day_region",
    "detect_stays": "day",
    "flag_users": "month",
    "home_work": "month",
    "expand": "month",
    "population_by_unit": "month",
}
DAILY = ["ingest_cells", "ingest_events", "clean_events", "detect_stays"]
MONTHLY = ["flag_users", "home_work", "expand", "population_by_unit"]
CHAINS = {"daily": DAILY, "monthly": MONTHLY, "all": DAILY + MONTHLY}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="a job name or a chain: " + ", ".join([*CHAINS, *KINDS]))
    add_day_arguments(p)
    add_month_arguments(p)
    p.add_argument("--keep-going", action="store_true",
                   help="run the remaining partitions after a failure (exit 1 at the end)")
    p.add_argument("--fresh-start", action="store_true",
                   help="detect_stays on the first day starts without the previous day's "
                        "open-stay carry (first day of the data; otherwise an error)")


def chain(job: str) -> list[str]:
    from mobsig.cli import available_jobs

    jobs = CHAINS.get(job, [job])
    unknown = [j for j in jobs if j not in KINDS]
    if unknown:
        raise ConfigError(f"unknown job {job!r}; give one of: {', '.join([*CHAINS, *KINDS])}")
    have = set(available_jobs())
    return [j for j in jobs if j in have]


def _months_of(day_list: list[dt.date]) -> list[dt.date]:
    return sorted({d.replace(day=1) for d in day_list})


def plan(args: argparse.Namespace) -> list[tuple[str, str, tuple, dict]]:
    """(job, label, partition args, options) in execution order, validated before Spark
    starts."""
    from mobsig.runs import day_label, month_label

    jobs = chain(args.job)
    needs_day = any(KINDS[j].startswith("day") for j in jobs)
    needs_month = any(KINDS[j] == "month" for j in jobs)
    has_day = bool(args.date or args.date_from or args.date_to)
    has_month = bool(args.month or args.month_from or args.month_to)
    day_list = days(args) if (needs_day or has_day) and not has_month else []
    if needs_month:
        month_list = months(args) if has_month else _months_of(day_list) if day_list else []
        if not month_list:
            months(args)  # raises the "a month is required" error
    else:
        month_list = []
    regs = regions(args)
    steps: list[tuple[str, str, tuple, dict]] = []
    daily = [j for j in jobs if KINDS[j] != "month"]
    if "ingest_cells" in daily and (day_list or not needs_day):
        steps.append(("ingest_cells", "all", (), {}))
    fresh = bool(getattr(args, "fresh_start", False))
    for i, d in enumerate(day_list):
        for j in daily:
            if KINDS[j] == "day_region":
                steps.append((j, day_label(d, regs), (d, regs), {}))
            elif KINDS[j] == "day":
                opts = {"fresh_start": True} if (fresh and i == 0) else {}
                steps.append((j, day_label(d), (d,), opts))
    for m in month_list:
        for j in jobs:
            if KINDS[j] == "month":
                steps.append((j, month_label(m), (m,), {}))
    if not steps:
        raise ConfigError(f"nothing to run for {args.job!r} with the given partition options")
    return steps


def validate(args: argparse.Namespace, cfg: Config) -> None:
    plan(args)


def _module(job: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"mobsig.jobs.{job}")


def _call(mod: ModuleType, spark, cfg: Config, part: tuple,
          opts: dict) -> Callable[[], object]:
    def fn() -> object:
        return mod.execute(spark, cfg, *part, **opts)

    return fn


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import run_partitions

    steps = plan(args)
    rc = 0
    for job, label, part, opts in steps:
        fn = _call(_module(job), spark, cfg, part, opts)
        rc |= run_partitions(spark, cfg, job, [(label, fn)], keep_going=args.keep_going)
        # no step relies on another's cache: free what a step left cached (e.g. a unit
        # layer read through Sedona) so a long backfill in one session does not pile it up
        spark.catalog.clearCache()
    return rc


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
