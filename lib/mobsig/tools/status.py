"""Which jobs have run, succeeded or failed for a day or a month, and which outputs are
stale (from the ``runs`` table).

    mobsig status --date 2026-06-01
    mobsig status --month 2026-06                    # every day of the month + monthly jobs
    mobsig status --month 2026-06 --require clean_stays   # exit 1 unless all days are done
    mobsig status --month 2026-06 --require flag_users,home_work  # monthly jobs: the month

For each job and partition it shows the latest run: status, end time, duration, rows in
and out, failed gates (each with its Data Docs page) and the error, and STALE with the
reason when a partition it read holds other rows now than when it was built (late data
re-ingested for an earlier day, a re-run day whose open-stay carry changed; inherited
down the chain: mobsig.lineage), or INPUT CHANGED when only a whole-table input (the cell
table, the units) changed. The stale partitions are summed up at the end with the
`mobsig run ... --downstream` commands that rebuild them.

A partition whose latest run record is a ``started`` row with no end row shows as RUNNING,
or as ABANDONED when the row is older than ``--abandoned-after-h`` hours (default 12) or
its driver ran on this host and that process is gone (a run killed with kill -9 or lost
with its node never writes its end row): re-run that partition.

With ``--require JOB[,JOB]`` the exit status is 0 only when every required job has a
succeeded, not stale latest run (a RUNNING or ABANDONED one fails it) for every day of
the period (a whole-day run, not a --region run), for its month (monthly jobs) or for the
whole table (ingest_units, ingest_cells): the Airflow monthly DAG waits on it. A
partition whose only change is a whole-table input does not fail it.
Last it shows the Data Docs site of the warehouse
(``<warehouse>/data_docs/index.html``: every gate result kept, as Great Expectations
pages), brought up to date first with the results kept since the last call
(``--no-data-docs`` skips that; a failure to build it is logged, never changes the exit
status).
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
                   help="exit 1 unless these jobs succeeded, and are not stale, for every "
                        "day of the period (monthly jobs: its month)")
    p.add_argument("--abandoned-after-h", type=float, default=12.0, metavar="H",
                   help="a run started more than H hours ago without an end record is "
                        "ABANDONED, not RUNNING (default 12; a run whose driver process is "
                        "gone from this host is abandoned at once)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.add_argument("--no-data-docs", action="store_true",
                   help="do not update the Data Docs site (nor print its link)")


def validate(args: argparse.Namespace, cfg: Config) -> None:
    if bool(args.date) == bool(args.month):
        raise ConfigError("give exactly one of --date or --month")
    if not args.abandoned_after_h > 0:
        raise ConfigError(f"--abandoned-after-h must be > 0, got {args.abandoned_after_h}")
    if args.date:
        parse_date(args.date)
    else:
        parse_month(args.month)
    from mobsig import pipeline

    unknown = [j for j in required_jobs(args) if j not in pipeline.job_names()]
    if unknown:
        raise ConfigError(f"--require: unknown jobs {unknown}; jobs: "
                          f"{', '.join(pipeline.job_names())}")


def required_jobs(args: argparse.Namespace) -> list[str]:
    return [j.strip() for j in args.require.split(",") if j.strip()]


def period_days(args: argparse.Namespace) -> list[dt.date]:
    from mobsig.jobargs import month_days

    return [parse_date(args.date)] if args.date else month_days(parse_month(args.month))


def latest_runs(catalog, labels: list[str]) -> list[dict]:
    """The latest run of each (job, partition) whose partition starts with one of
    ``labels``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from mobsig.runs import read_runs

    runs = read_runs(catalog)
    if runs is None:
        return []
    cond = None
    for lab in labels:
        c = (F.col("partition") == lab) | F.col("partition").startswith(lab + " ")
        cond = c if cond is None else (cond | c)
    w = Window.partitionBy("job", "partition").orderBy(F.col("ended_at").desc(),
                                                       F.col("run_id").desc())
    rows = (runs.where(cond).withColumn("_n", F.row_number().over(w)).where("_n = 1")
            .orderBy("partition", "job").collect())
    return [{k: v for k, v in r.asDict().items() if k != "_n"} for r in rows]


def required_labels(kind: str, days: list[dt.date]) -> list[str]:
    """The partitions a required job must have done for the period's ``days``."""
    if kind == "month":
        return sorted({f"month={d:%Y-%m}" for d in days})
    if kind == "none":
        return ["all"]
    return [f"dt={d.isoformat()}" for d in days]


def run_command(job: str, partition: str) -> str:
    """The `mobsig run` command that rebuilds a partition and what depends on it."""
    from mobsig.lineage import parse_label

    kind, when, regions = parse_label(partition)
    where = ""
    if kind == "day" and when is not None:
        where = f" --date {when.isoformat()}" + (f" --region {','.join(regions)}"
                                                 if regions else "")
    elif kind == "month" and when is not None:
        where = f" --month {when:%Y-%m}"
    return f"mobsig run {job}{where} --downstream"


def fixes(index, stale: list) -> list[str]:
    """The fewest `run ... --downstream` commands that rebuild every run in ``stale``: in
    plan order, each stale run that read a changed partition itself (the root of the
    staleness, maybe outside the period shown) and is not downstream of an earlier one."""
    from mobsig.lineage import plan_key

    roots = sorted((r for r in index.current() if index.stale(r)
                    and any(x.kind == "changed" and not x.whole for x in index.reasons(r))),
                   key=lambda r: plan_key(r.job, r.partition))
    todo = {r.run_id for r in stale}
    out = []
    for r in roots:
        reach = {r.run_id} | {d.run_id for d in index.dependents([(r.job, r.partition)])}
        if reach & todo:
            out.append(run_command(r.job, r.partition))
            todo -= reach
    return out


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
    from mobsig import pipeline
    from mobsig.io.catalog import Catalog
    from mobsig.jobargs import month_key
    from mobsig.lineage import RunIndex, load_runs
    from mobsig.runs import STARTED, started_state

    now = dt.datetime.now()
    catalog = Catalog(spark, cfg.warehouse)
    days = period_days(args)
    labels = [f"dt={d.isoformat()}" for d in days]
    if args.month:
        labels.append(f"month={month_key(parse_month(args.month))}")
    rows = latest_runs(catalog, labels)
    docs = None if args.no_data_docs else data_docs(cfg)
    index = RunIndex(load_runs(catalog))
    stale, changed = [], []
    states: dict[tuple[str, str], str] = {}  # (job, partition) -> RUNNING / ABANDONED
    for r in rows:
        if r["status"] == STARTED:
            states[(r["job"], r["partition"])] = started_state(r, now, args.abandoned_after_h)
        state = states.get((r["job"], r["partition"]), r["status"])
        gates = json.loads(r["gates"] or "[]")
        failed = [f for g in gates for f in (g.get("failed") or [])]
        run_row = index.by_id.get(r["run_id"])
        reasons = (index.reasons(run_row) if run_row is not None and run_row.succeeded
                   else [])
        is_stale = run_row is not None and run_row.succeeded and index.stale(run_row)
        if is_stale:
            stale.append(run_row)
        elif reasons:
            changed.append(run_row)
        pages = [str(p) for g in gates if not g.get("success") and docs is not None
                 and (p := docs.page_of(g.get("result_path"))) is not None]
        if args.json:
            out = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                   for k, v in r.items()}
            out.update(state=state, stale=is_stale, input_changed=bool(reasons) and not is_stale,
                       stale_reasons=[str(x) for x in reasons],
                       lineage_recorded=r.get("lineage") is not None)
            print(json.dumps(out, ensure_ascii=False))
            continue
        line = (f"{r['partition']:<28} {r['job']:<20} {state:<10} "
                f"{r['ended_at']:%Y-%m-%d %H:%M:%S} {r['duration_s']:>8.1f}s "
                f"in={r['input_rows']} out={r['output_rows']}")
        if failed:
            line += f" FAILED GATES: {'; '.join(failed)[:300]}"
        if pages:
            line += f" (data docs: {' '.join(pages)})"
        if r["error"]:
            line += f" ERROR: {r['error'][:300]}"
        if reasons:
            shown = [x for x in reasons if not x.whole] if is_stale else reasons
            line += (" STALE: " if is_stale else " INPUT CHANGED: ") + str(shown[0]) + (
                f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else "")
        elif r.get("lineage") is None and r["status"] == "succeeded":
            line += " (lineage not recorded: built by an older mobsig)"
        print(line)
    if not rows and not args.json:
        print(f"no runs recorded for {', '.join(labels[:3])}{' ...' if len(labels) > 3 else ''}")
    if docs is not None and not args.json:
        print(f"data docs: {docs.index} ({len(docs.entries)} gate results)")
    if stale:
        print(f"stale: {len(stale)} partitions were built from rows that changed since: "
              + ", ".join(f"{r.job} {r.partition}" for r in stale[:8])
              + (" ..." if len(stale) > 8 else "") + "; rebuild with: "
              + "; ".join(fixes(index, stale)), file=sys.stderr)
    if changed:
        print(f"input changed: {len(changed)} partitions read a whole-table input that was "
              "re-written with other rows since (e.g. a new cell table); re-run them if the "
              "change concerns their days (`mobsig run ingest_cells --downstream` rebuilds "
              "everything that read the cells)", file=sys.stderr)
    missing, stale_required, unfinished = [], [], []
    for job in required_jobs(args):
        kind = pipeline.job(job).kind
        for label in required_labels(kind, days):
            # only whole-day runs count: a --region run covers part of the day's sectors
            last = index.latest(job, label)
            if last is not None and last.status == STARTED:
                unfinished.append(f"{job} {label} {states.get((job, label), 'RUNNING')}")
            elif last is None or not last.succeeded:
                missing.append(f"{job} {label}")
            elif index.stale(last):
                stale_required.append(f"{job} {label}")
    if missing:
        print(f"not complete: {len(missing)} job partitions without a succeeded run, e.g. "
              + ", ".join(missing[:5]), file=sys.stderr)
    if stale_required:
        print(f"not complete: {len(stale_required)} job partitions are stale, e.g. "
              + ", ".join(stale_required[:5]), file=sys.stderr)
    if unfinished:
        print(f"not complete: {len(unfinished)} job partitions have a run started without "
              "an end (running, or killed: re-run it), e.g. " + ", ".join(unfinished[:5]),
              file=sys.stderr)
    return 1 if missing or stale_required or unfinished else 0
