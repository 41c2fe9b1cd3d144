"""Which jobs have run, succeeded or failed for a day or a month (from the ``runs`` table).

    mobsig status --date 2026-06-01
    mobsig status --month 2026-06                    # every day of the month + monthly jobs
    mobsig status --month 2026-06 --require clean_stays   # exit 1 unless all days succeeded

For each job and partition it shows the latest run: status, end time, duration, rows in
and out, failed gates (each with its Data Docs page) and the error, and last the Data Docs
site of the warehouse (``<warehouse>/data_docs/index.html``: every gate result kept, as
Great Expectations pages), brought up to date first with the results kept since the last
call (``--no-data-docs`` skips that; a failure to build it is logged, never changes the
exit status). With ``--require JOB[,JOB]`` the exit status is 0 only
when every required job has a succeeded whole-day run (not a --region run) for every day
of the month (or the date): the Airflow monthly DAG waits on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from mobsig.config import Config, parse_date, parse_month
from mobsig.errors import ConfigError

NAME = "status"
HELP = "show which jobs ran, succeeded or failed for a date or month"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", help="day, YYYY-MM-DD")
    p.add_argument("--month", help="month, YYYY-MM")
    p.add_argument("--require", default="", metavar="JOB[,JOB]",
                   help="exit 1 unless these jobs succeeded for every day of the period")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.add_argument("--no-data-docs", action="store_true",
                   help="do not update the Data Docs site (nor print its link)")


def validate(args: argparse.Namespace, cfg: Config) -> None:
    if bool(args.date) == bool(args.month):
        raise ConfigError("give exactly one of --date or --month")
    if args.date:
        parse_date(args.date)
    else:
        parse_month(args.month)


def period_days(args: argparse.Namespace) -> list[dt.date]:
    from mobsig.jobargs import month_days

    return [parse_date(args.date)] if args.date else month_days(parse_month(args.month))


def latest_runs(catalog, labels: list[str]) -> list[dict]:
    """The latest run of each (job, partition) whose partition starts with one of
    ``labels``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not catalog.exists("runs"):
        return []
    runs = catalog.read("runs")
    cond = None
    for lab in labels:
        c = (F.col("partition") == lab) | F.col("partition").startswith(lab + " ")
        cond = c if cond is None else (cond | c)
    w = Window.partitionBy("job", "partition").orderBy(F.col("ended_at").desc(),
                                                       F.col("run_id").desc())
    rows = (runs.where(cond).withColumn("_n", F.row_number().over(w)).where("_n = 1")
            .orderBy("partition", "job").collect())
    return [r.asDict() for r in rows]


def data_docs(cfg: Config):
    """The warehouse's Data Docs site, updated with the gate results kept since the last
    call; None (logged) when it cannot be built: status must answer regardless."""
    import logging

    from mobsig import datadocs

    try:
        return datadocs.build_site(cfg.quality_dir, datadocs.site_dir(cfg.warehouse))
    except Exception as exc:  # noqa: BLE001 - the run status matters more than the docs
        logging.getLogger(__name__).warning("data docs not updated: %s", exc)
        return None


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.io.catalog import Catalog
    from mobsig.jobargs import month_key

    catalog = Catalog(spark, cfg.warehouse)
    days = period_days(args)
    labels = [f"dt={d.isoformat()}" for d in days]
    if args.month:
        labels.append(f"month={month_key(parse_month(args.month))}")
    rows = latest_runs(catalog, labels)
    docs = None if args.no_data_docs else data_docs(cfg)
    for r in rows:
        gates = json.loads(r["gates"] or "[]")
        failed = [f for g in gates for f in (g.get("failed") or [])]
        pages = [str(p) for g in gates if not g.get("success") and docs is not None
                 and (p := docs.page_of(g.get("result_path"))) is not None]
        if args.json:
            print(json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                              for k, v in r.items()}, ensure_ascii=False))
            continue
        line = (f"{r['partition']:<28} {r['job']:<20} {r['status']:<10} "
                f"{r['ended_at']:%Y-%m-%d %H:%M:%S} {r['duration_s']:>8.1f}s "
                f"in={r['input_rows']} out={r['output_rows']}")
        if failed:
            line += f" FAILED GATES: {'; '.join(failed)[:300]}"
        if pages:
            line += f" (data docs: {' '.join(pages)})"
        if r["error"]:
            line += f" ERROR: {r['error'][:300]}"
        print(line)
    if not rows and not args.json:
        print(f"no runs recorded for {', '.join(labels[:3])}{' ...' if len(labels) > 3 else ''}")
    if docs is not None and not args.json:
        print(f"data docs: {docs.index} ({len(docs.entries)} gate results)")
    required = [j.strip() for j in args.require.split(",") if j.strip()]
    missing = []
    for job in required:
        # only whole-day runs count: a --region run covers part of the day's sectors
        ok_days = {r["partition"] for r in rows
                   if r["job"] == job and r["status"] == "succeeded"
                   and " region=" not in r["partition"]}
        missing += [f"{job} {d}" for d in days if f"dt={d.isoformat()}" not in ok_days]
    if missing:
        print(f"not complete: {len(missing)} job-days without a succeeded run, e.g. "
              + ", ".join(missing[:5]), file=sys.stderr)
        return 1
    return 0
