"""Great Expectations Data Docs of the kept gate results: one static site under the
warehouse (``<warehouse>/data_docs/index.html``), browsable offline.

Every gate keeps its result as JSON under the quality folder (:mod:`mobsig.quality`: each
expectation with its kwargs, severity, success and numbers, the job and the run id).
:func:`build_site` renders the results it has not rendered before into GX
validation-result pages (GX's ``SiteBuilder``, the Data Docs renderer) and their suites of
``expectations/`` into expectation-suite pages, then writes the site's index. It is
incremental: the results already rendered are listed in ``mobsig_results.json`` in the
site and are not rendered again, so a call without new results costs a folder listing.
``mobsig report`` and ``mobsig status`` call it once each (not once per gate: the site
builder's fixed cost, about 0.3 s, would then be paid by every gate of every run).

Offline: GX's pages load Bootstrap, jQuery and fonts from public CDNs and its index page
is drawn by JavaScript from those CDNs, so with no network it is empty. The pages are
therefore rewritten once after rendering (remote scripts, styles and the remote logo
removed, a small local style sheet inlined, status icons drawn with text), and the index
is a plain static table written here (newest first: time, status, job, partition, suite,
run id, failed and evaluated expectations).

A gate outside a job run (the generator's check of synthetic events) has no run id; its
pages are filed under the run name ``no-run``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SITE_DIR = "data_docs"
BOOK = "mobsig_results.json"  # what the site holds: kept result -> page and summary
NO_RUN = "no-run"


def site_dir(warehouse: str | Path) -> Path:
    """Where the Data Docs site of a warehouse lives."""
    return Path(warehouse) / SITE_DIR


@dataclass
class DocsSite:
    """What :func:`build_site` did: the index, every kept result with its page, and the
    cost of this call."""

    index: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    rendered: int = 0
    seconds: float = 0.0

    def page_of(self, result_path: str | Path | None) -> Path | None:
        """The page of a kept result file (as the runs table names it: the entries are
        keyed by the path under the quality folder, suite/partition/stamp.json, so a
        moved warehouse still finds its pages), or None."""
        if not result_path:
            return None
        e = self.entries.get(result_key(result_path))
        return self.index.parent / e["page"] if e else None


def result_key(path: str | Path) -> str:
    """A kept result's key in the site: its last three path parts
    (``<suite>/<partition>/<stamp>.json``)."""
    return "/".join(Path(path).parts[-3:])


# --------------------------------------------------------------------------------------
# kept results -> GX objects


def _run_time(doc: dict[str, Any], path: Path) -> dt.datetime:
    text = doc.get("kept_at")
    if text:
        t = dt.datetime.fromisoformat(text)
    else:  # results kept before kept_at existed: the file name is the stamp
        t = dt.datetime.strptime(path.stem, "%Y%m%dT%H%M%S%f")
    return t.astimezone() if t.tzinfo is None else t


def _outcomes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every expectation outcome of a kept result; results kept before outcomes were
    recorded list only their failures and warnings."""
    if doc.get("results") is not None:
        return list(doc["results"])
    out = []
    for d in doc.get("details") or []:
        numbers = {k: d.get(k) for k in ("observed_value", "unexpected_count",
                                          "unexpected_percent", "element_count")}
        if d.get("sample"):
            numbers["partial_unexpected_list"] = d["sample"]
        out.append({"type": d["type"], "kwargs": d.get("kwargs", {}),
                    "severity": d.get("severity", "critical"), "success": False,
                    "result": {k: v for k, v in numbers.items() if v is not None}})
    return out


def _validation_result(doc: dict[str, Any], path: Path):
    """The GX validation result and its key for one kept result."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    results = []
    for o in _outcomes(doc):
        try:
            config = ExpectationConfiguration(type=o["type"], kwargs=o.get("kwargs") or {},
                                              meta={"severity": o.get("severity")})
        except Exception as exc:  # noqa: BLE001 - a type GX cannot render is skipped
            log.warning("data docs: %s: cannot render %s: %s", path, o.get("type"), exc)
            continue
        results.append(ExpectationValidationResult(
            success=bool(o.get("success")), expectation_config=config,
            result=dict(o.get("result") or {})))
    n_ok = sum(r.success for r in results)
    run = RunIdentifier(run_name=doc.get("run_id") or NO_RUN, run_time=_run_time(doc, path))
    batch = doc.get("label") or "all"
    suite = doc["suite"]
    vr = ExpectationSuiteValidationResult(
        success=bool(doc.get("success")), results=results, suite_name=suite,
        suite_parameters=doc.get("params") or {},
        statistics={"evaluated_expectations": len(results), "successful_expectations": n_ok,
                    "unsuccessful_expectations": len(results) - n_ok,
                    "success_percent": 100.0 * n_ok / len(results) if results else 100.0},
        meta={"run_id": run, "job": doc.get("job"), "kept_result": str(path),
              "great_expectations_version": _gx_version(),
              "active_batch_definition": {"datasource_name": "mobsig",
                                          "data_asset_name": doc.get("job") or suite,
                                          "batch_definition_name": batch}})
    key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=suite), run, batch)
    return vr, key


def _gx_version() -> str:
    import great_expectations as gx

    return str(gx.__version__)


def _suites(names: set[str]) -> dict[str, Any]:
    """The suites of ``expectations/`` among ``names`` as GX ExpectationSuites (a gate on
    the structure alone, ``<table>-structure``, has no suite file)."""
    from great_expectations.core.expectation_suite import ExpectationSuite

    from mobsig.quality import load_suite_dict, suite_names

    out = {}
    for name in sorted(set(suite_names()) & names):
        d = load_suite_dict(name)
        exps = [{"type": e["type"], "kwargs": e["kwargs"],
                 "meta": {**e.get("meta", {}), "severity": e.get("severity", "critical")}}
                for e in d.get("expectations", [])]
        try:
            out[name] = ExpectationSuite(name=name, expectations=exps,
                                         meta={"notes": (d.get("meta") or {})
                                               .get("description", "")})
        except Exception as exc:  # noqa: BLE001 - a suite page is a nicety
            log.warning("data docs: suite %s not rendered: %s", name, exc)
    return out


# --------------------------------------------------------------------------------------
# offline pages

_REMOTE_TAGS = [
    re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.S),
    re.compile(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.S),
    re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>.*?</script>", re.S),  # inline: need jQuery
    re.compile(r"<img[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>", re.S),
]
_FOOTER = re.compile(r"<footer\b.*?</footer>", re.S)
STYLE = """<style id="mobsig-offline">
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
margin:1rem 2rem;color:#222;font-size:14px}
a{color:#0b5394} table{border-collapse:collapse;margin:.3rem 0}
td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top;text-align:left}
.fas{font-style:normal} .fa-check-circle::before{content:"\\2714";color:#1a7f37}
.fa-times::before{content:"\\2718";color:#c62828}
.fa-exclamation-triangle::before{content:"\\26A0";color:#b26a00}
.d-none{display:none} .ge-breadcrumbs-item{display:inline;margin-right:.5rem}
ol,ul{padding-left:1.2rem} .card{border:1px solid #ddd;margin:.6rem 0;padding:.4rem .8rem}
h1,h2,h3,h4,h5,h6{margin:.5rem 0 .3rem} .text-danger{color:#c62828}
.text-success{color:#1a7f37}
</style>"""
MARK = 'id="mobsig-offline"'


def offline_page(text: str, title: str = "mobsig Data Docs") -> str:
    """A GX Data Docs page without anything fetched from the network: remote scripts,
    style sheets and images removed, inline scripts (they need the remote jQuery) removed,
    the newsletter footer removed, a local style sheet inlined. Idempotent."""
    if MARK in text:
        return text
    for rx in _REMOTE_TAGS:
        text = rx.sub("", text)
    text = _FOOTER.sub("", text)
    text = re.sub(r'<a class="navbar-brand"[^>]*>\s*</a>',
                  f'<a class="navbar-brand" href="#">{html.escape(title)}</a>', text)
    return text.replace("</head>", STYLE + "</head>", 1)


# --------------------------------------------------------------------------------------
# the site


def _site_builder(site: Path):
    """GX's SiteBuilder writing to ``site``, on an ephemeral context whose stores hold the
    suites and the results to render (the context's own default site is not used)."""
    import great_expectations as gx
    from great_expectations.render.renderer.site_builder import SiteBuilder

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    ctx = gx.get_context(mode="ephemeral")
    builder = SiteBuilder(
        data_context=ctx, site_name="mobsig", show_how_to_buttons=False,
        store_backend={"class_name": "TupleFilesystemStoreBackend",
                       "base_directory": str(site)},
        site_section_builders={"profiling": "None"},
        runtime_environment={"root_directory": str(site)})
    return ctx, builder


def _load_book(site: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads((site / BOOK).read_text("utf-8"))["results"]
    except (OSError, ValueError, KeyError):
        return {}


def build_site(quality_dir: str | Path, site: str | Path) -> DocsSite:
    """Render the kept results under ``quality_dir`` not yet in the site ``site`` (and
    the suite pages of those results), then write the index. Returns the site."""
    t0 = time.monotonic()
    quality_dir, site = Path(quality_dir).resolve(), Path(site).resolve()
    site.mkdir(parents=True, exist_ok=True)
    book = _load_book(site)
    files = sorted(quality_dir.rglob("*.json")) if quality_dir.exists() else []
    new = [p for p in files if result_key(p) not in book
           or not (site / book[result_key(p)]["page"]).exists()]
    rendered = 0
    if new:
        rendered = _render(new, site, book)
    known = {result_key(p) for p in files}
    book = {k: v for k, v in book.items() if k in known}  # results deleted by hand
    (site / BOOK).write_text(json.dumps({"results": book}, indent=1, ensure_ascii=False),
                             "utf-8")
    index = site / "index.html"
    if rendered or not index.exists() or len(book) != _index_count(index):
        index.write_text(index_html(book, site), "utf-8")
    out = DocsSite(index=index, entries=book, rendered=rendered,
                   seconds=time.monotonic() - t0)
    log.info("data docs: %d results, %d pages rendered in %.2fs: %s", len(book), rendered,
             out.seconds, index)
    return out


def _render(new: list[Path], site: Path, book: dict[str, dict[str, Any]]) -> int:
    from urllib.parse import unquote, urlparse

    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    ctx, builder = _site_builder(site)
    keys, meta = [], []
    for path in new:
        try:
            doc = json.loads(path.read_text("utf-8"))
            vr, key = _validation_result(doc, path)
        except Exception as exc:  # noqa: BLE001 - one unreadable file never stops the site
            log.warning("data docs: %s not rendered: %s", path, exc)
            continue
        ctx.validation_results_store.set(key, vr)
        keys.append(key)
        meta.append((path, doc, key))
    if not keys:
        return 0
    # the suite pages of the results rendered now (a suite changes with the code, so its
    # page is rewritten whenever it has a new result)
    suites = _suites({doc["suite"] for _, doc, _ in meta})
    for s in suites.values():
        ctx.suites.add(s)
    suite_keys = [ExpectationSuiteIdentifier(name=n) for n in suites]
    builder.build(resource_identifiers=keys + suite_keys, build_index=False)

    def local(url: str) -> Path:
        return Path(unquote(urlparse(url).path))

    for key in suite_keys:
        page = local(builder.get_resource_url(key, only_if_exists=False))
        if page.exists():
            page.write_text(offline_page(page.read_text("utf-8")), "utf-8")
    for path, doc, key in meta:
        page = local(builder.get_resource_url(key, only_if_exists=False))
        if not page.exists():
            log.warning("data docs: no page was rendered for %s", path)
            continue
        page.write_text(offline_page(page.read_text("utf-8")), "utf-8")
        book[result_key(path)] = {
            "page": page.relative_to(site).as_posix(), "suite": doc["suite"],
            "label": doc.get("label") or "", "job": doc.get("job") or "",
            "run_id": doc.get("run_id") or "", "success": bool(doc.get("success")),
            "evaluated": doc.get("evaluated"), "failed": len(doc.get("failed") or []),
            "warnings": len(doc.get("warnings") or []),
            "kept_at": _run_time(doc, path).isoformat(timespec="seconds")}
    return len(meta)


def _index_count(index: Path) -> int:
    m = re.search(r'data-results="(\d+)"', index.read_text("utf-8")[:4000])
    return int(m.group(1)) if m else -1


def index_html(book: dict[str, dict[str, Any]], site: Path | None = None) -> str:
    """The site's index: every kept result, newest first, with its page (static HTML);
    a suite links its page when the site has one (a structure-only gate has none)."""
    rows = sorted(book.values(), key=lambda e: e["kept_at"], reverse=True)
    failed = sum(not e["success"] for e in rows)
    suites = sorted({e["suite"] for e in rows})
    esc = html.escape
    has_page = {s for s in suites
                if site is None or (site / "expectations" / f"{s}.html").exists()}

    def suite_link(s: str) -> str:
        return (f'<a href="expectations/{esc(s)}.html">{esc(s)}</a>' if s in has_page
                else esc(s))
    body = []
    for e in rows:
        status = ('<span class="ok">passed</span>' if e["success"]
                  else '<span class="bad">FAILED</span>')
        body.append(
            f"<tr><td>{esc(e['kept_at'].replace('T', ' '))}</td><td>{status}</td>"
            f"<td>{esc(e['job'])}</td><td>{esc(e['label'])}</td>"
            f"<td>{suite_link(e['suite'])}</td>"
            f"<td><a href=\"{esc(e['page'])}\">{esc(e['run_id'] or NO_RUN)}</a></td>"
            f"<td class=\"n\">{e['failed']}</td><td class=\"n\">{e['warnings']}</td>"
            f"<td class=\"n\">{e['evaluated'] if e['evaluated'] is not None else ''}</td>"
            "</tr>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mobsig Data Docs</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
margin:1.2rem 2rem;color:#222;font-size:14px}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px}}
th{{background:#f0f3f6;text-align:left}} td.n{{text-align:right}}
.ok{{color:#1a7f37}} .bad{{color:#c62828;font-weight:bold}} a{{color:#0b5394}}
</style></head>
<body data-results="{len(rows)}">
<h1>mobsig Data Docs</h1>
<p>Great Expectations validation results of every quality gate kept in this warehouse
({len(rows)} results, {failed} failed), newest first. Each run id opens the result's
page (every expectation with what was observed); each suite opens its expectations.
Suites: {", ".join(suite_link(s) for s in suites)}.
These pages can hold sample values of internal tables: they stay with the operator.</p>
<table><thead><tr><th>kept at</th><th>status</th><th>job</th><th>partition</th>
<th>suite</th><th>run id (page)</th><th>failed</th><th>warnings</th><th>evaluated</th></tr>
</thead><tbody>
{chr(10).join(body)}
</tbody></table>
</body></html>
"""
