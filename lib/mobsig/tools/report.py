"""The month's report for planners and operations staff: one self-contained HTML page.

    mobsig report --month 2026-06 [--out FILE] [--no-data-docs]

Writes ``<warehouse>/exports/month=YYYY-MM/report.html`` (or ``--out``) and lists it in
the folder's ``manifest.json``. The page needs nothing but a browser: every map is a PNG
embedded in the page, styles are inline, there is no script and nothing is fetched from
the network. It shows:

- population_by_unit: maps of resident 常住人口, short-term 短期驻留人口 and actual
  service population 实际服务人口 per county, township and H3 cell (expanded counts, a
  legend with the unit, north arrow and scale bar; withheld units hatched, not zero), the
  county table and the top townships and grid cells;
- a section per other exported table with rows for the month (schemas/ of kind export
  with a small-count suppression flag column): jobs_housing with ratio maps and its
  county table; any other table a generic section (its first expanded count mapped, its
  top rows), so new indicator tables appear without a change here; export tables
  without a flag (expansion_factors: exact sample counts) are named as not shown;
- data quality: every job run of the month (the latest per job and partition: each day
  of the month and the month itself) and every gate of it, passed or failed, each linked to
  its Great Expectations Data Docs page;
- the parameters (every production config section but paths and Spark, with the config
  digest) and the run ids.

Before writing, the warehouse's Data Docs site (``<warehouse>/data_docs/index.html``) is
brought up to date with the gate results kept since the last call (``--no-data-docs``
skips it; the report then has no Data Docs links). Reads only exported tables, the
``units`` table (for the map polygons) and the ``runs`` table.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

from mobsig.config import Config, parse_month
from mobsig.errors import ConfigError, InputError

NAME = "report"
HELP = "write the month's self-contained HTML report (maps, tables, data quality, runs)"
REPORT_FILE = "report.html"
HIDDEN_SECTIONS = ("paths", "spark")  # not parameters of the results

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--month", required=True, help="month, YYYY-MM")
    p.add_argument("--out", metavar="FILE",
                   help="the HTML file (default: <warehouse>/exports/month=M/report.html)")
    p.add_argument("--no-data-docs", action="store_true",
                   help="do not update the Data Docs site (no links to it in the report)")


def validate(args: argparse.Namespace, cfg: Config) -> None:
    parse_month(args.month)
    if args.out and Path(args.out).is_dir():
        raise ConfigError(f"--out: {args.out!r} is a folder; give a file name")


def report_path(cfg: Config, month_key: str) -> Path:
    from mobsig.io.exports import month_folder

    return month_folder(cfg.warehouse, month_key) / REPORT_FILE


def exported_tables() -> tuple[list[str], list[str]]:
    """The tables of kind export in schemas/ that a report may show (those with a
    small-count suppression flag, ``is_suppressed`` or ``is_<measure>_suppressed``), and
    those it may not (no flag: e.g. expansion_factors, whose sample counts are exact)."""
    from mobsig.schema import load_schema, schema_names

    shown, hidden = [], []
    for n in schema_names():
        s = load_schema(n)
        if s.kind != "export":
            continue
        flagged = any(c.startswith("is_") and c.endswith("suppressed") for c in s.names)
        (shown if flagged else hidden).append(n)
    return shown, hidden


def read_month(catalog, name: str, month, privacy: Any = None) -> Any:
    """A table's rows of the month as pandas, as published (monthly tables: the month
    partition; daily tables: the month's days; :func:`mobsig.publish.published` with the
    month's rule and ``privacy``, the config's privacy section: the report shows what
    the exports show), or None when the table does not exist."""
    from mobsig import publish
    from mobsig.jobargs import month_days, month_key

    schema = catalog.schema(name)
    try:
        if "month" in schema.partition_by:
            df = catalog.read(name, month=month_key(month))
        elif "dt" in schema.partition_by:
            df = catalog.read(name, dt=month_days(month))
        else:
            return None  # a table without a period is not part of a monthly report
    except InputError:  # the table does not exist (yet)
        return None
    rule = publish.rule_for(catalog, month_key(month), privacy, df)
    return publish.published(df, rule, name, catalog, month_key(month)).toPandas()


def read_units(catalog) -> Any:
    """Every unit with its polygon as a GeoDataFrame (EPSG:4490)."""
    import geopandas as gpd
    import shapely

    from mobsig import columns as C

    pdf = catalog.read("units").select(C.UNIT_ID, C.UNIT_NAME, C.LEVEL, C.PARENT_ID,
                                       C.GEOMETRY_WKB).toPandas()
    geom = shapely.from_wkb(pdf.pop(C.GEOMETRY_WKB).to_numpy())
    return gpd.GeoDataFrame(pdf, geometry=geom, crs="EPSG:4490")


def gather(spark, cfg: Config, month, docs=None, out_dir: Path | None = None):
    """Read everything the report shows into a ReportData."""
    from mobsig.config import SECTIONS, section_dict
    from mobsig.io.catalog import Catalog
    from mobsig.jobargs import month_key
    from mobsig.report import ReportData
    from mobsig.runs import code_version
    from mobsig.schema import load_schema

    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    if not catalog.exists("units"):
        raise InputError(f"report {key}: no units table at {catalog.path('units')}; run "
                         "`mobsig ingest_units` and the month's jobs first")
    tables = {}
    shown, hidden = exported_tables()
    for name in shown:
        pdf = read_month(catalog, name, month, cfg.privacy)
        if pdf is not None and len(pdf):
            tables[name] = pdf
    if not tables:
        raise InputError(f"report {key}: no exported table has rows for the month; run the "
                         f"monthly chain first (`mobsig run monthly --month {key}`)")
    runs, total = month_runs(catalog, month)
    out_dir = out_dir or report_path(cfg, key).parent

    def doc_link(result_path):
        page = docs.page_of(result_path) if docs is not None else None
        return os.path.relpath(page, out_dir) if page is not None else None

    params = {n: section_dict(getattr(cfg, n)) for n in SECTIONS if n not in HIDDEN_SECTIONS}
    return ReportData(
        month=key, units=read_units(catalog), tables=tables,
        schemas={n: load_schema(n) for n in tables}, runs=runs, params=params,
        digest=cfg.digest(), version=code_version(), k_min=cfg.privacy.k_min,
        resident_min_days=cfg.population.resident_min_days,
        short_term_min_days=cfg.population.short_term_min_days,
        docs_index=(os.path.relpath(docs.index, out_dir) if docs is not None else None),
        doc_link=doc_link, runs_total=total,
        not_shown=[n for n in hidden if catalog.exists(n)])


def month_runs(catalog, month) -> tuple[list[dict[str, Any]], int]:
    """The latest run of each job and partition of the month (each day, a day's region
    runs, the month) and how many runs the month had in all (one small query)."""
    from pyspark.sql import functions as F

    from mobsig.jobargs import month_key
    from mobsig.runs import read_runs

    runs = read_runs(catalog)
    if runs is None:
        return [], 0
    key = month_key(month)
    cond = (F.col("partition") == f"month={key}") | F.col("partition").rlike(
        f"^dt={key}-[0-9]{{2}}( |$)")
    pdf = runs.where(cond).toPandas()
    if pdf.empty:
        return [], 0
    latest = (pdf.sort_values(["ended_at", "run_id"], ascending=False)
              .drop_duplicates(["job", "partition"]).sort_values(["partition", "job"]))
    rows = [{k: (None if v is None or (isinstance(v, float) and v != v) else v)
             for k, v in r.items()} for r in latest.to_dict("records")]
    return rows, int(pdf["run_id"].nunique())  # a run has a started and an end row


def write(spark, cfg: Config, month, out: str | Path | None = None,
          data_docs: bool = True) -> dict[str, Any]:
    """Build the Data Docs (unless ``data_docs`` is False) and the report; returns what was
    written (path, sections, images, seconds)."""
    from mobsig import datadocs
    from mobsig.io.exports import add_to_manifest, month_folder
    from mobsig.jobargs import month_key
    from mobsig.report import write_report

    t0 = time.monotonic()
    key = month_key(month)
    path = Path(out).resolve() if out else report_path(cfg, key)
    docs = None
    t_docs = 0.0
    if data_docs:
        docs = datadocs.build_site(cfg.quality_dir, datadocs.site_dir(cfg.warehouse))
        t_docs = docs.seconds
    data = gather(spark, cfg, month, docs, path.parent)
    t_read = time.monotonic() - t0 - t_docs
    written, secs = write_report(data, path)
    if path.parent == month_folder(cfg.warehouse, key).resolve():
        add_to_manifest(path.parent, path.name, "HTML report (self-contained)",
                        run_ids=sorted({r["run_id"] for r in data.runs
                                        if str(r["partition"]).startswith("month=")}),
                        month_key=key,
                        note="maps, tables, data quality and runs of the month")
    seconds = time.monotonic() - t0
    log.info("report %s: %d sections, %d maps, %.1fs (data docs %.1fs, %d new pages; "
             "reading %.1fs)", written, len(secs), sum(s.images for s in secs), seconds,
             t_docs, docs.rendered if docs else 0, t_read)
    return {"path": written, "sections": [s.anchor for s in secs],
            "images": sum(s.images for s in secs), "seconds": seconds,
            "data_docs": docs.index if docs else None,
            "data_docs_rendered": docs.rendered if docs else 0, "data_docs_seconds": t_docs}


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    month = parse_month(args.month)
    res = write(spark, cfg, month, args.out, data_docs=not args.no_data_docs)
    print(f"report: {res['path']} ({len(res['sections'])} sections, {res['images']} maps)")
    if res["data_docs"]:
        print(f"data docs: {res['data_docs']}")
    return 0
