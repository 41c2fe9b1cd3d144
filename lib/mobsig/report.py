"""The monthly report for planners and operations staff: one self-contained static HTML
page (every image embedded as a ``data:`` URI, styles inline, no script, nothing fetched
from the network) built from pandas frames that :mod:`mobsig.tools.report` reads.

Sections, in order:

1. population (population_by_unit): choropleth maps of resident 常住人口, short-term
   短期驻留人口 and actual service population 实际服务人口 per county, township and H3
   cell (expanded counts; withheld units hatched), the county table and the top townships
   and grid cells;
2. one section per exported indicator table that has rows for the month, in the order of
   :data:`SECTION_ORDER` then by name: jobs_housing has its own (ratio maps centred on
   1, the county table, top townships); any other table gets the generic section (its
   first expanded-count column mapped per county, township and grid when it has
   ``unit_id`` and ``level``, else per county when its unit ids are counties, and its top
   rows), so a new table appears without code changes;
3. data quality: every job run of the month (latest run per job and partition) with each
   of its gates, passed or failed, linked to the gate's Data Docs page;
4. the parameters (every production config section but paths and Spark) and the run ids.

Only exported (suppressed) tables are shown; withheld values stay withheld.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mobsig import columns as C
from mobsig.maps import Panel, render_figure

MAP_LEVELS = ("county", "township", C.GRID_LEVEL)
LEVEL_TITLES = {"county": "county 区县", "township": "township 乡镇街道",
                C.GRID_LEVEL: "H3 grid"}
POP_MAPS = (
    ("resident", "Resident population 常住人口",
     "Resident population (home in the unit, present on enough days)"),
    ("short_term", "Short-term staying population 短期驻留人口",
     "Short-term staying population (non-residents present >= 3 days)"),
    ("actual_service", "Actual service population 实际服务人口",
     "Actual service population = resident + short-term"),
)
SECTION_ORDER = ("jobs_housing", "commute", "service_population", "daily_presence",
                 "linkage", "trips")
UNIT_LABEL = "people (expanded count)"
EMPTY_MEASURE = "no cards"


@dataclass
class ReportData:
    """Everything the report shows, read beforehand (see mobsig.tools.report).

    ``units``: GeoDataFrame of every unit (unit_id, unit_name, level, parent_id,
    geometry, EPSG:4490); ``tables``: each exported table's rows of the month (pandas);
    ``schemas``: their TableSchema; ``runs``: the latest run of each job and partition of
    the month (rows of the runs table as dicts); ``params``: config sections shown;
    ``doc_link``: maps a kept gate result path to a link relative to the report (or None).
    """

    month: str
    units: Any
    tables: dict[str, pd.DataFrame]
    schemas: dict[str, Any]
    runs: list[dict[str, Any]]
    params: dict[str, dict[str, Any]]
    digest: str
    version: str
    k_min: int
    resident_min_days: int = 18
    short_term_min_days: int = 3
    docs_index: str | None = None
    doc_link: Callable[[str | None], str | None] = lambda _p: None
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    runs_total: int | None = None
    # tables of kind export not shown: no small-count suppression flag (e.g. expansion
    # factors, whose sample counts are not suppressed), so they stay with the operator
    not_shown: list[str] = field(default_factory=list)


@dataclass
class Section:
    anchor: str
    title: str
    body: str
    images: int = 0


# --------------------------------------------------------------------------------------
# small HTML helpers

esc = html.escape


def img_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="map" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def fmt_count(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or v is pd.NA:
        return ""
    try:
        return f"{float(v):,.0f}"
    except (TypeError, ValueError):
        return esc(str(v))


def fmt_ratio(v: Any, digits: int = 2) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{float(v):.{digits}f}"


def withheld(reason: str = "withheld") -> str:
    return f'<span class="withheld" title="suppressed: fewer than k cards">{esc(reason)}</span>'


def table_html(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None,
               cls: str = "") -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table>")


# --------------------------------------------------------------------------------------
# geometry


def level_geometries(units: Any, level: str, ids: list[str] | None = None):
    """GeoDataFrame (unit_id, unit_name, parent_id, geometry) of a level: the units
    table's polygons, or the H3 cell polygons of ``ids`` for the grid (ids that are not
    H3 cells are left out)."""
    import geopandas as gpd

    if level == C.GRID_LEVEL:
        import h3
        from shapely.geometry import Polygon

        # rows that are not a cell (a catchment's ``unknown`` home) have no polygon
        ids = sorted(c for c in set(ids or []) if h3.is_valid_cell(c))
        polys = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in ids]
        return gpd.GeoDataFrame({C.UNIT_ID: ids, C.UNIT_NAME: [None] * len(ids),
                                 C.PARENT_ID: [None] * len(ids)}, geometry=polys,
                                crs="EPSG:4490")
    g = units[units[C.LEVEL] == level][[C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, "geometry"]]
    return g.reset_index(drop=True)


def map_frame(units: Any, level: str, rows: pd.DataFrame, value: str, flag: str | None,
              empty_reason: str | None = None, reason_col: str | None = None):
    """The level's polygons with ``value``, ``suppressed`` and ``empty_reason`` from
    ``rows`` (one row per unit); units without a row get no value and ``empty_reason``."""
    geo = level_geometries(units, level, list(rows[C.UNIT_ID]) if level == C.GRID_LEVEL
                           else None)
    cols = [C.UNIT_ID, value] + ([flag] if flag else []) + ([reason_col] if reason_col
                                                              else [])
    merged = geo.merge(rows[cols].drop_duplicates(C.UNIT_ID), on=C.UNIT_ID, how="left")
    merged["value"] = pd.to_numeric(merged[value], errors="coerce").astype(float)
    if flag:
        merged["suppressed"] = merged[flag].astype("boolean").fillna(False).astype(bool)
    else:
        merged["suppressed"] = False
    merged.loc[merged["suppressed"], "value"] = np.nan
    reason = pd.Series([empty_reason] * len(merged), index=merged.index, dtype=object)
    if reason_col:
        have = merged[reason_col].notna() & ~merged["suppressed"]
        reason[have] = merged.loc[have, reason_col].astype(str).str.replace("_", " ")
    merged["empty_reason"] = reason.where(merged["value"].isna() & ~merged["suppressed"])
    return merged


def county_outline(units: Any):
    return level_geometries(units, "county")


def levels_present(rows: pd.DataFrame, units: Any) -> list[str]:
    have = set(rows[C.LEVEL].unique()) if C.LEVEL in rows else set()
    return [lv for lv in MAP_LEVELS if lv in have]


def panels_for(data: ReportData, rows: pd.DataFrame, value: str, flag: str | None, *,
               label: str, scale: str = "sequential", reason_col: str | None = None,
               empty_reason: str = EMPTY_MEASURE, title_of: Callable[[str], str] | None = None
               ) -> list[Panel]:
    out = []
    for level in levels_present(rows, data.units):
        part = rows[rows[C.LEVEL] == level]
        gdf = map_frame(data.units, level, part, value, flag, empty_reason, reason_col)
        out.append(Panel(gdf=gdf, title=(title_of(level) if title_of else level),
                         label=label, scale=scale,
                         outline=county_outline(data.units) if level != "county" else None))
    return out


def _ascii_level(level: str) -> str:
    return {"county": "County", "township": "Township", C.GRID_LEVEL: "H3 grid"}.get(
        level, level)


# --------------------------------------------------------------------------------------
# sections


def population_section(data: ReportData) -> Section | None:
    rows = data.tables.get("population_by_unit")
    if rows is None or rows.empty:
        return None
    parts, images = [], 0
    parts.append(
        f"<p>People whose home (resident), longest night stay (short-term) lies in the "
        f"unit, per county, township and H3 cell, expanded from the operator's cards to "
        f"the whole population (扩样数量; the tables also give the cards, 原样数量). A "
        f"resident is present on at least {data.resident_min_days} days of the month, a "
        f"short-term stayer on at least {data.short_term_min_days} days. Hatched units "
        f"are <b>withheld</b>: fewer than {data.k_min} cards, or hidden so that a "
        f"withheld neighbour cannot be recovered from totals; they are not zero. Empty "
        f"units have no card.</p>")
    for cls, title, ascii_title in POP_MAPS:
        part = rows[rows[C.POP_CLASS] == cls]
        if part.empty:
            continue
        panels = panels_for(data, part, C.EXPANDED_COUNT, C.IS_SUPPRESSED, label=UNIT_LABEL,
                            title_of=lambda lv: _ascii_level(lv))
        if not panels:
            continue
        png, _ = render_figure(panels, f"{ascii_title}, {data.month}",
                               empty_label=EMPTY_MEASURE)
        images += 1
        parts.append(f"<h3>{esc(title)}</h3>" + img_tag(png, f"{ascii_title} map"))
    parts.append(population_tables(data, rows))
    return Section("population", "Population 人口规模", "\n".join(parts), images)


def _cell(row: pd.Series | None, flag: str = C.IS_SUPPRESSED,
          value: str = C.EXPANDED_COUNT, raw: str = C.RAW_COUNT) -> str:
    if row is None:
        return ""
    if bool(row.get(flag)):
        return withheld()
    if raw not in row.index:  # raw counts are not published (privacy.publish_raw)
        return fmt_count(row.get(value))
    return f"{fmt_count(row.get(value))} <small>({fmt_count(row.get(raw))})</small>"


def population_tables(data: ReportData, rows: pd.DataFrame) -> str:
    classes = [c for c in ("resident", "short_term", "actual_service", "employed",
                           "daily_present") if c in set(rows[C.POP_CLASS])]
    out = []
    county = rows[rows[C.LEVEL] == "county"]
    if not county.empty:
        by = {(r[C.UNIT_ID], r[C.POP_CLASS]): r for _, r in county.iterrows()}
        ids = county[[C.UNIT_ID, C.UNIT_NAME]].drop_duplicates().sort_values(C.UNIT_ID)
        body = [[esc(str(u)), esc(str(n or ""))] + [_cell(by.get((u, c))) for c in classes]
                for u, n in ids.itertuples(index=False)]
        note = ("Expanded count (cards in brackets)." if C.RAW_COUNT in rows.columns
                else "Expanded count, rounded as published (raw card counts are not "
                "published).")
        out.append(f"<h3>Counties</h3><p>{note}</p>"
                   + table_html(["county", "name", *classes], body,
                                numeric=set(range(2, 2 + len(classes)))))
    for level, label in (("township", "townships"), (C.GRID_LEVEL, "H3 cells")):
        part = rows[(rows[C.LEVEL] == level) & (rows[C.POP_CLASS] == "actual_service")
                    & ~rows[C.IS_SUPPRESSED].astype(bool)]
        part = part[part[C.EXPANDED_COUNT].fillna(0) > 0]
        if part.empty:
            out.append(f"<h3>Top {label} by actual service population</h3><p>No "
                       f"{label[:-1]} with people is published this month (all withheld "
                       f"or empty).</p>")
            continue
        top = part.sort_values(C.EXPANDED_COUNT, ascending=False).head(10)
        raw = C.RAW_COUNT in rows.columns  # published only with privacy.publish_raw
        body = [[esc(str(r[C.UNIT_ID])), esc(str(r.get(C.UNIT_NAME) or "")),
                 esc(str(r.get(C.PARENT_ID) or "")), fmt_count(r[C.EXPANDED_COUNT])]
                + ([fmt_count(r[C.RAW_COUNT])] if raw else []) for _, r in top.iterrows()]
        n_hidden = int(((rows[C.LEVEL] == level) & (rows[C.POP_CLASS] == "actual_service")
                        & rows[C.IS_SUPPRESSED].astype(bool)).sum())
        out.append(f"<h3>Top {len(top)} {label} by actual service population</h3>"
                   f"<p>Published units only ({n_hidden} withheld).</p>"
                   + table_html(["unit", "name", "parent", "people (expanded)"]
                                + (["cards"] if raw else []), body, numeric={3, 4}))
    return "\n".join(out)


def jobs_housing_section(data: ReportData) -> Section | None:
    rows = data.tables.get("jobs_housing")
    if rows is None or rows.empty:
        return None
    parts = [
        "<p>职住平衡: does a unit house the people who work in it? The jobs-housing ratio "
        "职住比 = jobs ÷ employed residents (expanded counts): far above 1 an employment "
        "centre that imports commuters, far below 1 a dormitory area; self-containment is "
        "the share of employed residents who work in the unit, self-sufficiency the share "
        "of its jobs held by its residents. A ratio is computed only from published "
        "counts: hatched units have a withheld count, empty ones have nothing to divide "
        "by.</p>"]
    images = 0
    flag_of = rows.get("jobs_housing_ratio_null_reason")
    if flag_of is not None:
        rows = rows.assign(_ratio_withheld=flag_of == "suppressed")
        panels = panels_for(data, rows, "jobs_housing_ratio", "_ratio_withheld",
                            label="jobs / employed residents (1 = balanced)",
                            scale="diverging", reason_col="jobs_housing_ratio_null_reason",
                            empty_reason="no employed residents",
                            title_of=lambda lv: _ascii_level(lv))
        if panels:
            png, _ = render_figure(panels, f"Jobs-housing ratio, {data.month}",
                                   empty_label="no ratio")
            images += 1
            parts.append("<h3>Jobs-housing ratio 职住比</h3>"
                         + img_tag(png, "Jobs-housing ratio map"))
    county = rows[rows[C.LEVEL] == "county"].sort_values(C.UNIT_ID)
    if not county.empty:
        def count(r, m):
            return _cell(r, f"is_{m}_suppressed", f"{m}_expanded_count", f"{m}_raw_count")

        def ratio(r, m):
            if pd.notna(r.get(m)):
                return fmt_ratio(r[m])
            reason = r.get(f"{m}_null_reason")
            return withheld() if reason == "suppressed" else esc(str(reason or ""))

        body = [[esc(str(r[C.UNIT_ID])), esc(str(r.get(C.UNIT_NAME) or "")),
                 count(r, "employed_residents"), count(r, "jobs"), count(r, "live_and_work"),
                 ratio(r, "jobs_housing_ratio"), ratio(r, "self_containment"),
                 ratio(r, "self_sufficiency"),
                 "" if pd.isna(r.get("is_balanced")) else ("yes" if r["is_balanced"]
                                                           else "no")]
                for _, r in county.iterrows()]
        parts.append("<h3>Counties</h3>" + table_html(
            ["county", "name", "employed residents", "jobs", "live and work", "ratio",
             "self-containment", "self-sufficiency", "balanced"], body,
            numeric={2, 3, 4, 5, 6, 7}))
    town = rows[(rows[C.LEVEL] == "township") & rows["jobs_housing_ratio"].notna()]
    if not town.empty:
        top = town.sort_values("jobs_housing_ratio", ascending=False).head(10)
        body = [[esc(str(r[C.UNIT_ID])), esc(str(r.get(C.UNIT_NAME) or "")),
                 fmt_count(r["employed_residents_expanded_count"]),
                 fmt_count(r["jobs_expanded_count"]), fmt_ratio(r["jobs_housing_ratio"])]
                for _, r in top.iterrows()]
        parts.append("<h3>Townships with the highest ratio (published only)</h3>"
                     + table_html(["township", "name", "employed residents", "jobs",
                                   "ratio"], body, numeric={2, 3, 4}))
    return Section("jobs_housing", "Jobs-housing balance 职住平衡 (jobs_housing)",
                   "\n".join(parts), images)


def _measure(schema: Any, df: pd.DataFrame) -> str | None:
    """The column a generic section maps: the first expanded count, else the first
    numeric column that is not a raw count."""
    names = [c.name for c in schema.columns if c.name in df.columns]
    for n in names:
        if n.endswith(C.EXPANDED_COUNT):
            return n
    for c in schema.columns:
        if (c.name in df.columns and c.type in ("double", "float", "bigint", "int")
                and not c.name.endswith(C.RAW_COUNT) and c.name not in (C.UNIT_ID,)):
            return c.name
    return None


def _flag_of(measure: str, df: pd.DataFrame) -> str | None:
    stem = measure[: -len("_" + C.EXPANDED_COUNT)] if measure.endswith(
        "_" + C.EXPANDED_COUNT) else ""
    for cand in ((f"is_{stem}_suppressed",) if stem else ()) + (C.IS_SUPPRESSED,):
        if cand in df.columns:
            return cand
    return None


KEY_COLUMNS = {C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, C.LEVEL, C.MONTH, "dt"}


def generic_section(data: ReportData, name: str) -> Section | None:
    """A table without its own section: what it is (schema description), a map of its
    first expanded count per level when it has units, and its top rows."""
    rows = data.tables.get(name)
    schema = data.schemas[name]
    if rows is None or rows.empty:
        return None
    parts = [f"<p>{esc(schema.description)}</p>"]
    measure = _measure(schema, rows)
    images = 0
    notes = []
    if measure and C.UNIT_ID in rows.columns:
        df = rows
        if C.LEVEL not in df.columns:
            counties = set(data.units.loc[data.units[C.LEVEL] == "county", C.UNIT_ID])
            if len(df) and df[C.UNIT_ID].isin(counties).mean() >= 0.8:
                df = df.assign(**{C.LEVEL: "county"})
        breakdown = [c.name for c in schema.columns if c.type == "string"
                     and c.name in df.columns and c.name not in KEY_COLUMNS
                     and not c.name.endswith("_reason")]
        for b in breakdown:  # one value of each breakdown column (e.g. a class)
            values = sorted(df[b].dropna().astype(str).unique())
            if values:
                df = df[df[b].astype(str) == values[0]]
                notes.append(f"{b} = {values[0]}")
        flag = _flag_of(measure, df)
        if C.LEVEL in df.columns:
            keys = [C.LEVEL, C.UNIT_ID]
            if df.duplicated(keys).any():  # several rows per unit (days): their mean
                agg = {measure: "mean"}
                if flag:
                    agg[flag] = "all"
                pub = df if not flag else df[~df[flag].astype(bool)]
                mean = pub.groupby(keys, as_index=False)[measure].mean()
                allw = (df.groupby(keys, as_index=False)[flag].agg("all") if flag
                        else None)
                df = (allw.merge(mean, on=keys, how="left") if allw is not None else mean)
                notes.append("mean over the published rows of each unit")
            label = ("people (expanded count)" if measure.endswith(C.EXPANDED_COUNT)
                     else measure)
            panels = panels_for(data, df, measure, flag, label=label,
                                title_of=lambda lv: _ascii_level(lv),
                                empty_reason="no row")
            if panels:
                png, _ = render_figure(panels, f"{name}: {measure}, {data.month}",
                                       empty_label="no row")
                images += 1
                parts.append(f"<h3>{esc(measure)}</h3>" + (
                    f"<p>Mapped: {esc('; '.join(notes))}.</p>" if notes else "")
                    + img_tag(png, f"{name} map"))
    parts.append(top_rows(rows, schema, measure))
    return Section(name, f"{name}", "\n".join(parts), images)


def top_rows(rows: pd.DataFrame, schema: Any, measure: str | None, n: int = 15) -> str:
    cols = [c.name for c in schema.columns if c.name in rows.columns and c.name != C.MONTH]
    df = rows
    if measure:
        df = df.sort_values(measure, ascending=False, na_position="last")
    df = df.head(n)
    numeric = {i for i, c in enumerate(cols)
               if schema.column(c).type in ("double", "float", "bigint", "int")}

    def cell(v: Any, col: str) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
            return ""
        t = schema.column(col).type
        if t in ("double", "float"):
            return fmt_count(v) if col.endswith("count") else fmt_ratio(v, 3)
        return esc(str(v))

    body = [[cell(r[c], c) for c in cols] for _, r in df.iterrows()]
    what = f"by {measure}, " if measure else ""
    return (f"<h3>Top rows</h3><p>{len(df)} of {len(rows)} rows ({what}withheld values "
            f"empty).</p>" + table_html(cols, body, numeric=numeric, cls="wide"))


def quality_section(data: ReportData) -> Section:
    runs = sorted(data.runs, key=lambda r: (str(r.get("partition")), str(r.get("job"))))
    n_gates = n_failed = 0
    rows = []
    for r in runs:
        gates = json.loads(r.get("gates") or "[]")
        if not gates:
            rows.append([esc(r["job"]), esc(r["partition"]), esc(r["run_id"]),
                         _status(r["status"]), "", "", "", esc((r.get("error") or "")[:300])])
        for g in gates:
            n_gates += 1
            n_failed += g.get("success") is False  # None: not checked (nothing compared)
            link = data.doc_link(g.get("result_path"))
            suite = esc(str(g.get("suite")))
            if link:
                suite = f'<a href="{esc(link)}">{suite}</a>'
            failed = "; ".join(_no_sample(t) for t in (g.get("failed") or []))
            warned = "; ".join(_no_sample(t) for t in (g.get("warnings") or []))
            rows.append([esc(r["job"]), esc(r["partition"]), esc(r["run_id"]),
                         _status(r["status"]), suite,
                         _status("passed" if g.get("success") else "FAILED"),
                         str(g.get("evaluated", "")), esc(failed or warned)])
    failed_runs = sum(r["status"] != "succeeded" for r in runs)
    head = (f"<p>{len(runs)} job runs for {esc(data.month)} (the latest of each job and "
            f"partition{'' if data.runs_total is None else f'; {data.runs_total} runs in all'}"
            f"), {failed_runs} not succeeded; {n_gates} quality gates, {n_failed} failed. "
            "Each gate checks its table's schema and its suite in <code>expectations/</code> "
            "before anything is written; a failed critical check stops the job.")
    if data.docs_index:
        head += (f' The Great Expectations <a href="{esc(data.docs_index)}">Data Docs</a> '
                 "show every expectation of every gate with what was observed (internal: "
                 "they stay with the operator, in the warehouse).")
    head += "</p>"
    table = table_html(["job", "partition", "run id", "run", "gate (suite)", "gate result",
                        "expectations", "failures / warnings"], rows, numeric={6},
                       cls="wide")
    return Section("quality", "Data quality 数据质量", head + table)


def _no_sample(text: str) -> str:
    """A gate message without its sample values (they may be card ids)."""
    return str(text).split(", e.g. ")[0]


def _status(s: str) -> str:
    ok = s in ("succeeded", "passed")
    return f'<span class="{"ok" if ok else "bad"}">{esc(s)}</span>'


def params_section(data: ReportData) -> Section:
    parts = [f"<p>Configuration digest <code>{esc(data.digest)}</code> ({esc(data.version)})"
             "."]
    digests = sorted({str(r.get("config_digest")) for r in data.runs})
    other = [d for d in digests if d != data.digest]
    if other:
        parts.append(f" Some runs of the month used another configuration: "
                     f"<code>{esc(', '.join(other))}</code> (see the runs below).")
    parts.append("</p>")
    for sec, values in data.params.items():
        body = [[esc(k), esc(json.dumps(v, ensure_ascii=False, default=str))]
                for k, v in values.items()]
        parts.append(f"<details><summary><b>{esc(sec)}</b> ({len(body)} parameters)</summary>"
                     + table_html(["parameter", "value"], body) + "</details>")
    monthly = [r for r in data.runs if str(r.get("partition", "")).startswith("month=")]
    daily = [r for r in data.runs if not str(r.get("partition", "")).startswith("month=")]
    body = [[esc(r["job"]), esc(r["partition"]), esc(r["run_id"]), _status(r["status"]),
             esc(str(r.get("ended_at", ""))[:19]), esc(str(r.get("config_digest"))),
             esc(str(r.get("code_version"))), esc(privacy_summary(r.get("facts")))]
            for r in sorted(monthly, key=lambda r: str(r.get("ended_at")))]
    parts.append("<h3>Monthly runs</h3>" + table_html(
        ["job", "partition", "run id", "status", "ended", "config digest", "code version",
         "privacy audit"], body))
    if daily:
        body = [[esc(r["job"]), esc(r["partition"]), esc(r["run_id"]), _status(r["status"]),
                 esc(str(r.get("config_digest")))]
                for r in sorted(daily, key=lambda r: (str(r["partition"]), str(r["job"])))]
        parts.append(f"<details><summary><b>Daily runs</b> ({len(daily)})</summary>"
                     + table_html(["job", "partition", "run id", "status", "config digest"],
                                  body) + "</details>")
    return Section("parameters", "Parameters and runs 参数与运行", "\n".join(parts))


def privacy_summary(facts: str | None) -> str:
    """A run's privacy audit in a few words, from its recorded facts (``runs.facts``):
    suppressed cells audited and the narrowest interval, the joint audit's cells narrower
    than the width (gated or reported) and the reported audit with the relations between
    commute_od's levels; "" for a run without an audit (or recorded before facts)."""
    try:
        f = json.loads(facts) if facts else {}
    except (TypeError, ValueError):
        f = {}
    if "privacy_cells_audited" not in f:
        return ""
    width = f.get("privacy_min_width")
    out = [f"{f['privacy_cells_audited']:,} cells, narrowest "
           f"{'unbounded' if width is None else f'{width:g}'}"]
    if "privacy_joint_under_protected" in f:
        out.append(f"joint: {f['privacy_joint_under_protected']} narrow ("
                   f"{'gated' if f.get('privacy_joint_gated') else 'reported'})")
    if "privacy_joint_levels_under_protected" in f:
        out.append(f"OD levels: {f['privacy_joint_levels_under_protected']} narrow "
                   "(reported)")
    return "; ".join(out)


CUSTOM: dict[str, Callable[[ReportData], Section | None]] = {
    "jobs_housing": jobs_housing_section,
}


def indicator_sections(data: ReportData) -> list[Section]:
    names = [t for t in data.tables if t != "population_by_unit"]
    order = {n: i for i, n in enumerate(SECTION_ORDER)}
    names.sort(key=lambda n: (order.get(n, len(order)), n))
    out = []
    for n in names:
        fn = CUSTOM.get(n)
        sec = fn(data) if fn else generic_section(data, n)
        if sec is not None:
            out.append(sec)
    return out


def sections(data: ReportData) -> list[Section]:
    out = [s for s in [population_section(data)] if s is not None]
    out += indicator_sections(data)
    out += [quality_section(data), params_section(data)]
    return out


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",
"Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;margin:0;color:#1f2328;font-size:14px;
line-height:1.45}
header{background:#17324d;color:#fff;padding:1rem 2rem}
header h1{margin:0 0 .3rem;font-size:1.6rem} header p{margin:.1rem 0;opacity:.9}
main{padding:0 2rem 2rem;max-width:1400px}
nav{margin:1rem 0;padding:.5rem 1rem;background:#f3f6f9;border:1px solid #d8dee4}
nav a{margin-right:1rem}
h2{border-bottom:2px solid #17324d;padding-bottom:.2rem;margin-top:2rem}
img.map{max-width:100%;height:auto;border:1px solid #d8dee4;margin:.3rem 0}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:13px}
td,th{border:1px solid #d0d7de;padding:3px 8px;vertical-align:top}
th{background:#f3f6f9;text-align:left} td.n{text-align:right;white-space:nowrap}
table.wide{font-size:12px}
.withheld{color:#6e7781;font-style:italic} .ok{color:#1a7f37} .bad{color:#c62828;font-weight:bold}
small{color:#6e7781} code{background:#f3f6f9;padding:0 3px}
footer{color:#6e7781;font-size:12px;margin-top:2rem}
"""


def render_html(data: ReportData) -> tuple[str, list[Section]]:
    """The report page and its sections."""
    secs = sections(data)
    nav = "".join(f'<a href="#{s.anchor}">{esc(s.title)}</a>' for s in secs)
    body = "\n".join(f'<section id="{s.anchor}"><h2>{esc(s.title)}</h2>\n{s.body}\n</section>'
                     for s in secs)
    docs = (f' · <a style="color:#fff" href="{esc(data.docs_index)}">Data Docs</a>'
            if data.docs_index else "")
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mobsig report {esc(data.month)}</title>
<style>{CSS}</style></head>
<body>
<header><h1>Mobile signaling indicators · 手机信令监测报告 · {esc(data.month)}</h1>
<p>Population and activity indicators from the operator's signaling data, de-identified
aggregates only (small counts withheld, k = {data.k_min}). Generated {esc(data.generated_at)}
by {esc(data.version)}{docs}.</p></header>
<main>
<nav>{nav}</nav>
{body}
<footer>{_not_shown(data)}Coordinates CGCS2000 (EPSG:4490). Expanded counts 扩样数量
weight each card by its
home county's expansion factor (official population ÷ identified sample residents) and are
shown rounded as the exports publish them (mobsig.publish); raw card counts 原样数量 stay
with the operator unless privacy.publish_raw. Withheld values are never shown or drawn as
zero.
</footer>
</main></body></html>
"""
    return page, secs


def _not_shown(data: ReportData) -> str:
    if not data.not_shown:
        return ""
    return (f"Not shown: {esc(', '.join(data.not_shown))} (no small-count suppression: "
            "internal to the operator). ")


def write_report(data: ReportData, path: str | Path) -> tuple[Path, list[Section]]:
    """Render and write the page (to a temporary name, moved into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page, secs = render_html(data)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, "utf-8")
    os.replace(tmp, path)
    return path, secs
