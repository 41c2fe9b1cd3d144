"""What planners and ops staff see (issue 16): the export folder's GeoPackage and manifest,
the monthly HTML report with its maps, and the Data Docs of the gate results.

Hand-built frames check the pieces (class bounds, hatching of withheld units, a new table
getting a section without code changes, offline pages, the GeoPackage and manifest); on
the city chain the report is rendered from the real warehouse and, when Chromium is on the
machine, opened headless as a person would: the page loads, no image is broken, the maps
are not blank.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mobsig import columns as C
from mobsig.runs import read_runs
from mobsig.schema import Column, TableSchema, load_schema
from tests.factories import MONTH, assert_published

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                         if Path("/usr/bin/chromium").exists() else None)


# --------------------------------------------------------------------------------------
# helpers


def _squares(n: int, level: str, parent: str | None = None, x0: float = 104.0):
    """n unit squares side by side (0.05 degrees), EPSG:4490."""
    import geopandas as gpd
    from shapely.geometry import box

    ids = [f"{level[:1]}{i}" for i in range(n)]
    geom = [box(x0 + 0.05 * i, 30.5, x0 + 0.05 * (i + 1), 30.55) for i in range(n)]
    return gpd.GeoDataFrame({C.UNIT_ID: ids, C.UNIT_NAME: [f"name {i}" for i in ids],
                             C.LEVEL: level, C.PARENT_ID: parent}, geometry=geom,
                            crs="EPSG:4490")


def _png_arrays(page: str) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        out.append(np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")))
    return out


def _assert_self_contained(page: str) -> None:
    """No script, nothing fetched: every src and stylesheet is inline."""
    assert "<script" not in page
    srcs = re.findall(r'\bsrc="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs), srcs[:3]
    assert not re.search(r'<link[^>]+href="https?:', page)
    assert "url(http" not in page


# --------------------------------------------------------------------------------------
# maps


@pytest.mark.parametrize("values, expect", [
    ([0, 0, 0, 1700, 2200, 2400], [0, 1700, 2000, 2300, 2400]),  # zeros: a class of their own
    ([2900, 4200, 5100], [2900, 3800, 4500, 5100]),                # no more classes than values
    ([0, 0], [0, 1]),                                              # one value
    ([0, 3], [0, 3, 3.3]),                                         # zero and one positive
    ([0.5, 1, 2], [0.5, 0.83, 1.3, 2]),
])
def test_class_bounds_cover_the_values(values, expect):
    from mobsig.maps import quantile_bounds

    b = quantile_bounds(np.array(values, float))
    np.testing.assert_allclose(b, expect)
    assert (np.diff(b) > 0).all() and b[0] <= min(values) and b[-1] >= max(values)


def test_scale_bar_length_is_round_and_about_a_fifth():
    from mobsig.maps import km_per_degree_lon, nice_scale_km

    assert nice_scale_km(26.0) == 5 and nice_scale_km(9.0) == 1 and nice_scale_km(600) == 100
    assert km_per_degree_lon(0) == pytest.approx(111.32)
    assert km_per_degree_lon(60) == pytest.approx(55.66, rel=1e-3)


def test_withheld_units_are_hatched_not_drawn_as_zero():
    """Three units: a published zero, a published 100, a withheld one, and a fourth
    without a row. Pixels in the withheld unit are grey with hatch lines, never the
    colour of zero; the empty one is white; the two published ones differ."""
    from matplotlib.figure import Figure

    from mobsig.maps import Panel, draw_panel, quiet_canvas

    gdf = _squares(4, "county")
    gdf["value"] = [0.0, 100.0, np.nan, np.nan]
    gdf["suppressed"] = [False, False, True, False]
    fig = Figure(figsize=(6, 3), dpi=100)
    canvas = quiet_canvas(fig)
    ax = fig.add_subplot(1, 1, 1)
    counts = draw_panel(fig, ax, Panel(gdf=gdf, title="t", label="people"))
    assert counts == {"published": 2, "suppressed": 1, "empty": 1}
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    h = img.shape[0]

    def patch(i: int) -> np.ndarray:
        # the middle 60 % of unit i, in pixels
        x0, x1 = 104.0 + 0.05 * i + 0.01, 104.0 + 0.05 * (i + 1) - 0.01
        (px0, py0), (px1, py1) = ax.transData.transform([(x0, 30.51), (x1, 30.54)])
        return img[h - int(py1):h - int(py0), int(px0):int(px1)].reshape(-1, 3)

    def main_colour(p: np.ndarray) -> tuple:
        vals, n = np.unique(p, axis=0, return_counts=True)
        return tuple(vals[n.argmax()])

    zero, hundred, hidden, empty = (patch(i) for i in range(4))
    assert main_colour(zero) != main_colour(hundred)
    assert main_colour(hidden) == (0xd0, 0xd0, 0xd0)               # the withheld grey
    assert len(np.unique(hidden, axis=0)) > 1 and (hidden.sum(1) < 400).mean() > 0.05  # hatch
    assert main_colour(hidden) != main_colour(zero)
    assert main_colour(empty) == (255, 255, 255)


def test_a_new_indicator_table_gets_a_section_without_code_changes():
    """A table the report code does not know (a future helper's), from its schema: a map of
    its first expanded count per level and its top rows; jobs_housing and population get
    their own; the page is self-contained and withheld values never show a number."""
    from mobsig.report import ReportData, render_html

    county = _squares(3, "county")
    town = _squares(6, "township", parent="c0")
    units = pd.concat([county, town], ignore_index=True)
    pop = []
    for lvl, ids in (("county", county[C.UNIT_ID]), ("township", town[C.UNIT_ID])):
        for i, u in enumerate(ids):
            for cls in ("resident", "short_term", "actual_service"):
                hidden = (i == 1)
                pop.append({C.UNIT_ID: u, C.UNIT_NAME: u, C.PARENT_ID: None,
                            C.POP_CLASS: cls, C.RAW_COUNT: None if hidden else 20 + i,
                            C.EXPANDED_COUNT: None if hidden else 2000.0 + 100 * i,
                            C.IS_SUPPRESSED: hidden, C.MONTH: "2026-06", C.LEVEL: lvl})
    cols = (Column(C.UNIT_ID, "string", False, ""), Column("trips_raw_count", "bigint", True, ""),
            Column("trips_expanded_count", "double", True, ""),
            Column("is_trips_suppressed", "boolean", False, ""),
            Column(C.MONTH, "string", False, ""), Column(C.LEVEL, "string", False, ""))
    future = TableSchema("trips_future", "export", "Trips per unit (a table added later).",
                         (C.MONTH, C.LEVEL), cols)
    trips = pd.DataFrame({C.UNIT_ID: list(county[C.UNIT_ID]),
                          "trips_raw_count": [40, None, 70],
                          "trips_expanded_count": [4000.0, None, 7123.0],
                          "is_trips_suppressed": [False, True, False],
                          C.MONTH: "2026-06", C.LEVEL: "county"})
    # and a daily table with a breakdown: one class mapped, the mean over the days
    dcols = (Column(C.UNIT_ID, "string", False, ""), Column("kind", "string", False, ""),
             Column("present_expanded_count", "double", True, ""),
             Column(C.IS_SUPPRESSED, "boolean", False, ""), Column("dt", "date", False, ""),
             Column(C.LEVEL, "string", False, ""))
    daily = TableSchema("presence_future", "export", "Present per day.", ("dt", C.LEVEL),
                        dcols)
    pres = pd.DataFrame([{C.UNIT_ID: u, "kind": k, "present_expanded_count": v,
                          C.IS_SUPPRESSED: False, "dt": d, C.LEVEL: "township"}
                         for u in town[C.UNIT_ID] for k in ("a", "b")
                         for d, v in ((MONTH, 100.0), (MONTH.replace(day=2), 300.0))])
    data = ReportData(month="2026-06", units=units,
                      tables={"population_by_unit": pd.DataFrame(pop), "trips_future": trips,
                              "presence_future": pres},
                      schemas={"population_by_unit": load_schema("population_by_unit"),
                               "trips_future": future, "presence_future": daily},
                      runs=[{"job": "population_by_unit", "partition": "month=2026-06",
                             "run_id": "R1", "status": "succeeded", "config_digest": "d",
                             "code_version": "v", "ended_at": "2026-07-01 00:00:00",
                             "error": None,
                             "gates": json.dumps([{"suite": "population_by_unit",
                                                   "success": False, "evaluated": 4,
                                                   "failed": ["x: 1 of 9 rows, e.g. "
                                                              "['card-42']"],
                                                   "result_path": "/q/a/b/c.json"}])}],
                      params={"privacy": {"k_min": 15}}, digest="d", version="v", k_min=15,
                      docs_index="../../data_docs/index.html",
                      doc_link=lambda p: "../../data_docs/x.html" if p else None)
    page, secs = render_html(data)
    _assert_self_contained(page)
    assert [s.anchor for s in secs] == ["population", "presence_future", "trips_future",
                                        "quality", "parameters"]
    assert [s.images for s in secs[:3]] == [3, 1, 1]
    assert "kind = a; mean over the published rows of each unit" in secs[1].body
    assert "7,123" in page and "trips_expanded_count" in page
    assert "card-42" not in page  # sample values of a failed gate are not shown
    assert 'href="../../data_docs/x.html"' in page and "R1" in page
    # the withheld county's cells say so; its neighbours' numbers are there
    assert page.count("withheld</span>") >= 3 and "2,000" in page and "2,200" in page
    for arr in _png_arrays(page):
        assert arr.reshape(-1, 3).std(axis=0).sum() > 10  # not a blank image


# --------------------------------------------------------------------------------------
# Data Docs


def test_data_docs_render_kept_gate_results_offline(tmp_path):
    """Two gate results (one failed) become Data Docs pages with every expectation, an
    index naming both, nothing fetched from the network; a second build renders nothing
    new; a result's page is found from its kept path."""
    from mobsig import datadocs
    from mobsig.errors import DataQualityError
    from mobsig.logs import log_context
    from mobsig.quality import run_gate

    q = tmp_path / "_quality"
    with log_context(job="population_by_unit", run="RUN-1"):
        ok = run_gate({"level_gap": 0.0}, "population_levels",
                      params={"max_level_gap": 0.001}, results_dir=q, label="month=2026-06")
        with pytest.raises(DataQualityError):
            run_gate({"level_gap": 0.5}, "population_levels",
                     params={"max_level_gap": 0.001}, results_dir=q, label="month=2026-07")
    kept = json.loads(Path(ok.result_path).read_text())
    assert kept["run_id"] == "RUN-1" and kept["job"] == "population_by_unit"
    assert kept["results"][0]["success"] and kept["results"][0]["kwargs"]["max_value"] == 0.001
    site = datadocs.build_site(q, tmp_path / "data_docs")
    assert site.rendered == 2 and len(site.entries) == 2
    index = site.index.read_text()
    assert "RUN-1" in index and "FAILED" in index and "population_levels" in index
    page = site.page_of(ok.result_path)
    assert page is not None and page.exists()
    failed_page = [tmp_path / "data_docs" / e["page"] for e in site.entries.values()
                   if not e["success"]][0].read_text()
    assert "level_gap" in failed_page and "0.5" in failed_page
    for f in [site.index, page, tmp_path / "data_docs/expectations/population_levels.html"]:
        text = f.read_text()
        assert not re.search(r'<(script|img|link)[^>]+(src|href)="https?:', text), f
    again = datadocs.build_site(q, tmp_path / "data_docs")
    assert again.rendered == 0 and len(again.entries) == 2


def test_offline_page_removes_remote_assets_once():
    from mobsig.datadocs import offline_page

    page = ('<html><head><link rel="stylesheet" href="https://cdn.x/b.css"/>'
            '<script src="https://cdn.x/j.js"></script><script>$(".a").hide()</script>'
            '</head><body><img src="https://x/logo.png"><a class="navbar-brand" href="#">'
            '</a><table><tr><td>v</td></tr></table><footer>news</footer></body></html>')
    out = offline_page(page)
    assert "https://" not in out and "<script" not in out and "news" not in out
    assert "<td>v</td>" in out and "mobsig-offline" in out
    assert offline_page(out) == out


# --------------------------------------------------------------------------------------
# GeoPackage and manifest


def test_geopackage_has_a_layer_per_table_and_level_and_the_manifest_names_them(tmp_path):
    """From two GeoParquet exports: one GeoPackage, a layer per table and level in
    EPSG:4490 with nullable integers kept; a level gone from a re-export is gone from the
    GeoPackage; the manifest lists every file and layer with what the brief asks."""
    import pyogrio

    from mobsig.config import PrivacyConfig
    from mobsig.io import exports

    wh = tmp_path / "warehouse"
    folder = exports.month_folder(wh, "2026-06")
    folder.mkdir(parents=True)
    pop = pd.concat([_squares(2, "county"), _squares(3, "township", parent="c0")],
                    ignore_index=True)
    pop[C.RAW_COUNT] = pd.array([20, None, 15, 0, None], dtype="Int64")
    pop[C.IS_SUPPRESSED] = [False, True, False, False, True]
    pop.to_parquet(folder / "population_by_unit.parquet")
    jh = _squares(2, "county")
    jh["jobs_raw_count"] = pd.array([30, None], dtype="Int64")
    jh.to_parquet(folder / "jobs_housing.parquet")
    info = {"period": exports.period("2026-06"), "rows": 5, "run_id": "R9",
            "mobsig_version": "mobsig test", "exported_at": "t",
            "suppression": exports.suppression("population_by_unit", PrivacyConfig())}
    tables = {"population_by_unit": info, "jobs_housing": {**info, "rows": 2}}
    layers = exports.write_geopackage(folder, "2026-06", tables)
    gpkg = exports.geopackage_path(wh, "2026-06")
    names = {n for n, _ in pyogrio.list_layers(gpkg)}
    assert names == {"population_by_unit_county", "population_by_unit_township",
                     "jobs_housing_county"}
    meta = pyogrio.read_info(gpkg, layer="population_by_unit_township")
    assert meta["crs"] == "EPSG:4490" and meta["features"] == 3
    assert dict(zip(meta["fields"], meta["ogr_types"], strict=True))[C.RAW_COUNT] == \
        "OFTInteger64"
    back = pyogrio.read_dataframe(gpkg, layer="population_by_unit_township")
    assert back[C.RAW_COUNT].isna().tolist() == [False, False, True]
    doc = exports.write_manifest(folder, "2026-06", tables, layers)
    files = {(f["file"], f["layer"]) for f in doc["files"]}
    assert ("population_by_unit.parquet", None) in files
    assert ("mobsig_2026-06.gpkg", "jobs_housing_county") in files
    for f in doc["files"]:
        assert {"file", "layer", "crs", "period", "rows", "suppression", "run_id",
                "mobsig_version"} <= set(f)
    sup = doc["files"][0]["suppression"]
    assert sup["parameters"] == {"k_min": 15, "complementary": True, "suppress_zeros": False,
                                 "protection_width": 15}
    assert "protection_width" in sup["rule"] and "not_listed" in sup["rule"]
    assert sup["flag_columns"] == ["is_suppressed"] and "k_min" in sup["rule"]
    # a job's export replaces only its table's layers (the others are not read again)
    read = []
    real = exports.read_geoparquet
    exports.read_geoparquet = lambda p: read.append(p.name) or real(p)
    try:
        jh["jobs_raw_count"] = pd.array([31, 32], dtype="Int64")
        jh.to_parquet(folder / "jobs_housing.parquet")
        again = exports.write_geopackage(folder, "2026-06", tables, only="jobs_housing",
                                         previous=layers)
        assert read == ["jobs_housing.parquet"]
        assert sorted(x["layer"] for x in again) == sorted(x["layer"] for x in layers)
        assert pyogrio.read_dataframe(gpkg, layer="jobs_housing_county")[
            "jobs_raw_count"].tolist() == [31, 32]
        assert len(pyogrio.read_dataframe(gpkg, layer="population_by_unit_township")) == 3
        # a re-export without the township level: its layer is gone (a full rebuild)
        pop[pop[C.LEVEL] == "county"].to_parquet(folder / "population_by_unit.parquet")
        read.clear()
        exports.write_geopackage(folder, "2026-06", tables, only="population_by_unit",
                                 previous=again)
        assert sorted(read)[-1] == "population_by_unit.parquet" and len(read) == 3
    finally:
        exports.read_geoparquet = real
    assert "population_by_unit_township" not in {n for n, _ in pyogrio.list_layers(gpkg)}
    assert "jobs_housing_county" in {n for n, _ in pyogrio.list_layers(gpkg)}


# --------------------------------------------------------------------------------------
# on the city


@pytest.fixture(scope="module")
def city_report(spark, chain):
    from mobsig.io.catalog import Catalog
    from mobsig.tools import report

    res, cfg, runs = chain
    written = report.write(spark, cfg, MONTH)
    latest, _ = report.month_runs(Catalog(spark, cfg.warehouse), MONTH)
    return cfg, latest, written


def test_city_exports_geopackage_and_manifest_hold_the_tables(spark, chain):
    """The chain's export folder: one GeoPackage with a layer per table and level, rows
    equal to the Delta tables', withheld counts null, and no withheld township count
    recoverable as its county's published total minus its published siblings."""
    import pyogrio

    from mobsig import pipeline
    from mobsig.io import exports
    from mobsig.io.catalog import Catalog

    _, cfg, _ = chain
    folder = exports.month_folder(cfg.warehouse, "2026-06")
    gpkg = exports.geopackage_path(cfg.warehouse, "2026-06")
    doc = json.loads((folder / "manifest.json").read_text())
    cat = Catalog(spark, cfg.warehouse)
    layers = {n for n, _ in pyogrio.list_layers(gpkg)}
    # the latest run of each job that wrote export files (tests re-run jobs with
    # export=False: the table changes run id, the folder keeps the exporting run's)
    runs = read_runs(cat).where("partition = 'month=2026-06' AND status = 'succeeded'") \
        .toPandas().sort_values(["ended_at", "run_id"])
    exported = runs[runs["options"].map(lambda o: json.loads(o).get("export", True))]
    latest = exported.groupby("job")["run_id"].last().to_dict()
    for table in ("population_by_unit", "jobs_housing"):
        delta = cat.read(table, month="2026-06").toPandas()
        for level, rows in delta.groupby(C.LEVEL):
            name = exports.layer_name(table, level)
            assert name in layers
            lay = pyogrio.read_dataframe(gpkg, layer=name)
            assert len(lay) == len(rows) and lay.crs == "EPSG:4490"
            entry = [f for f in doc["files"] if f["layer"] == name][0]
            assert entry["rows"] == len(rows) and entry["crs"] == "EPSG:4490"
            # the run that wrote the table (jobs_housing: the commute job's)
            assert entry["run_id"] == latest[pipeline.writer_of(table).name]
        assert doc["tables"][table]["suppression"]["parameters"]["k_min"] == cfg.privacy.k_min
    town = pyogrio.read_dataframe(gpkg, layer="population_by_unit_township")
    county = pyogrio.read_dataframe(gpkg, layer="population_by_unit_county")
    hidden = town[C.IS_SUPPRESSED].astype(bool)
    assert hidden.any() and town.loc[hidden, C.EXPANDED_COUNT].isna().all()
    assert C.RAW_COUNT not in town.columns  # raw counts stay with the operator
    assert_published(town, cfg.warehouse)
    recovered = 0
    for (parent, cls), kids in town.groupby([C.PARENT_ID, C.POP_CLASS]):
        total = county[(county[C.UNIT_ID] == parent) & (county[C.POP_CLASS] == cls)]
        if len(total) and not bool(total[C.IS_SUPPRESSED].iloc[0]):
            recovered += int(kids[C.IS_SUPPRESSED].astype(bool).sum() == 1)
    assert recovered == 0


def test_city_report_shows_maps_quality_and_runs(city_report):
    """The report of the chain's month: self-contained, three population maps and the
    jobs-housing map, every gate of every latest run of the month with a Data Docs page
    that exists, each monthly run id, listed in the manifest."""
    cfg, latest, written = city_report
    path = Path(written["path"])
    page = path.read_text()
    _assert_self_contained(page)
    assert written["sections"][:2] == ["population", "jobs_housing"]
    assert {"quality", "parameters"} <= set(written["sections"])
    assert written["images"] >= 4
    for arr in _png_arrays(page):
        assert arr.reshape(-1, 3).std(axis=0).sum() > 10
    monthly = [r["run_id"] for r in latest if r["partition"] == "month=2026-06"]
    assert len(monthly) >= 6 and all(run_id in page for run_id in monthly)
    # each release's privacy audit from its recorded facts (commute: the joint audit
    # gated, the OD levels' relations reported)
    params = page.split('id="parameters"')[1].split("</section>")[0]
    assert "privacy audit" in params and "narrowest 15" in params
    assert re.search(r"joint: 0 narrow \(gated\); OD levels: \d+ narrow \(reported\)",
                     params)
    gates = [len(json.loads(r["gates"] or "[]")) for r in latest]
    quality = page.split('id="quality"')[1].split("</section>")[0]
    # one row per gate, or per run without a gate (header excluded)
    assert quality.count("<tr>") - 1 == sum(max(1, n) for n in gates)
    links = [h for h in re.findall(r'<a href="([^"]+\.html)">', quality)
             if not h.endswith("data_docs/index.html")]
    assert len(links) == sum(gates) > 0  # every gate links its Data Docs page
    for link in set(links):
        assert (path.parent / link).resolve().exists(), link
    assert (path.parent / re.search(r'href="([^"]*data_docs/index.html)"', page).group(1)
            ).resolve().exists()
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert any(f["file"] == "report.html" for f in manifest["files"])


def _chromium(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                           *args], capture_output=True, text=True, timeout=timeout)


CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var r = {n: imgs.length, broken: imgs.filter(function (i) {
             return !i.complete || i.naturalWidth === 0; }).length,
           widths: imgs.map(function (i) { return i.naturalWidth; })};
  var d = document.createElement('pre'); d.id = 'mobsig-check';
  d.textContent = JSON.stringify(r); document.body.appendChild(d);
});
</script>"""


def test_city_report_opens_in_a_browser(city_report, tmp_path):
    """As a person would: headless Chromium (when installed) loads the page with no broken
    image and its screenshot is not blank. Without Chromium the images are checked as
    decoded PNGs only (every test still asserts)."""
    from PIL import Image

    _, _, written = city_report
    page = Path(written["path"]).read_text()
    arrays = _png_arrays(page)
    assert len(arrays) == written["images"] and all(a.shape[0] > 200 for a in arrays)
    if CHROMIUM is None:
        return
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK + "</body>"))
    dom = _chromium(["--virtual-time-budget=20000", "--dump-dom", probe.as_uri()])
    found = re.search(r'<pre id="mobsig-check">([^<]+)</pre>', dom.stdout)
    assert found, dom.stderr[-2000:]
    check = json.loads(found.group(1))
    assert check["n"] == written["images"] and check["broken"] == 0
    assert all(w > 200 for w in check["widths"])
    shot = tmp_path / "shot.png"
    _chromium(["--window-size=1400,2000", f"--screenshot={shot}",
               Path(written["path"]).as_uri()])
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (2000, 1400)
    maps = img[400:].reshape(-1, 3)  # below the header: the first map
    assert len(np.unique(maps[::7], axis=0)) > 50  # colours of a drawn map, not a blank page


def test_city_status_links_the_data_docs(spark, city_report, capsys):
    """`mobsig status --month M` ends with the Data Docs site, whose index lists every gate
    result kept in the warehouse."""
    import argparse

    from mobsig.tools import status

    cfg, _, written = city_report
    args = argparse.Namespace(date=None, month="2026-06", require="", json=False,
                              no_data_docs=False)
    assert status.run(args, cfg, spark) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith(f"data docs: {written['data_docs']} (")
    kept = list(cfg.quality_dir.rglob("*.json"))
    assert f"({len(kept)} gate results)" in out[-1]
    assert f'data-results="{len(kept)}"' in Path(written["data_docs"]).read_text()


def test_privacy_summary_of_a_runs_facts():
    """The report's one-line privacy audit of a run, from its recorded facts."""
    from mobsig.report import privacy_summary

    assert privacy_summary(None) == "" and privacy_summary('{"window_days": 14}') == ""
    one = '{"privacy_cells_audited": 1762, "privacy_min_width": 15.0}'
    assert privacy_summary(one) == "1,762 cells, narrowest 15"
    facts = {"privacy_cells_audited": 3, "privacy_min_width": None,
             "privacy_joint_under_protected": 2, "privacy_joint_gated": False,
             "privacy_joint_levels_under_protected": 9}
    assert privacy_summary(json.dumps(facts)) == (
        "3 cells, narrowest unbounded; joint: 2 narrow (reported); OD levels: 9 narrow "
        "(reported)")
