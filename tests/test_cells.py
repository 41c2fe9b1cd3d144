"""ingest_cells: the cell table against the synthetic city's truth, plus hand-built edge cases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from mobsig.cells import (
    events_placed,
    overlapping_versions,
    parse_cells,
    region_of,
    site_spacing,
)
from mobsig.config import Config
from mobsig.coords import haversine_m
from mobsig.errors import InputError
from tests.conftest import make_config
from tests.factories import ingest_cells

BBOX = (73.0, 136.0, 3.0, 54.0)


def _with_warehouse(cfg: Config, warehouse: Path) -> Config:
    return cfg.replace(paths=dataclasses.replace(cfg.paths, warehouse=str(warehouse)))


@pytest.fixture(scope="module")
def built(spark, chain):
    """The city's cells table, as the shared pipeline run built it."""
    res, cfg, runs = chain
    counts = {**runs.of("ingest_cells").facts,
              "rows_read": runs.of("ingest_cells").input_rows["cells_raw"]}
    table = spark.read.format("delta").load(str(cfg.warehouse / "cells"))
    truth = pd.read_csv(res.out / "truth/cells.csv", dtype={"admin_code": str})
    return cfg, counts, table, truth


def _key(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT else str(v)


def _merged(table, truth) -> pd.DataFrame:
    df = table.drop("coverage_wkb").toPandas()
    df["vf"] = [_key(v) for v in df["valid_from"]]
    t = truth.copy()
    t["vf"] = [_key(v) for v in t["valid_from"]]
    m = df.merge(t, on=["cell_id", "vf"], how="inner", suffixes=("", "_truth"),
                 validate="one_to_one")
    assert len(m) == len(df) == len(truth)
    return m


def test_positions_regions_and_radii_match_truth(built):
    cfg, counts, table, truth = built
    assert counts["cells"] == len(truth) and counts["rows_invalid"] == 0
    m = _merged(table, truth)
    err = haversine_m(m["lon"], m["lat"], m["true_lon"], m["true_lat"])
    for sys_ in ("wgs84", "gcj02", "bd09"):
        sel = (m["coord_sys"] == sys_).to_numpy()
        assert sel.sum() > 10, sys_
        assert err[sel].max() < 5.0, (sys_, err[sel].max())
    # the GCJ-02 / BD-09 inputs really were offset by hundreds of metres
    raw_err = haversine_m(m["src_lon"], m["src_lat"], m["true_lon"], m["true_lat"])
    assert np.median(raw_err[(m["coord_sys"] != "wgs84").to_numpy()]) > 100
    assert (m["admin_code"] == m["admin_code_truth"]).all()
    assert (m["region"] == m["admin_code"]).all()  # run.region_level = county
    from mobsig.synth.city import CITY_PREFIX

    r = np.hypot(m["x"], m["y"])
    main = m["admin_code"].str.startswith(CITY_PREFIX).to_numpy()  # not the satellite's
    core, outer = m[(r < 3_500) & main], m[(r > 11_000) & main]
    assert core["spacing_m"].median() == pytest.approx(300, rel=0.15)
    assert outer["spacing_m"].median() == pytest.approx(2000, rel=0.15)
    # the stay radius clean_stays derives from the spacing (stays.radius_*): the dense
    # bound in the core, larger in the periphery
    st = cfg.stays
    radius = np.clip(st.radius_spacing_factor * m["spacing_m"], st.radius_dense_m,
                     st.radius_sparse_m)
    core_r, outer_r = radius[core.index], radius[outer.index]
    assert abs(core_r.median() - 500) < 1 and core_r.mean() < 530
    assert (outer_r > core_r.max()).mean() > 0.95
    # co-located sectors share one site, so they share the spacing
    site_spread = m.groupby("site_idx")["spacing_m"].agg(lambda s: s.max() - s.min())
    assert (site_spread < 1.0).mean() > 0.95
    # nothing of a later stage is baked into the cells table
    assert not {"stay_radius_m", "h3"} & set(m.columns)


def test_coverage_polygons_valid_contain_antenna_and_face_azimuth(spark, built):
    _, _, table, _ = built
    g = table.select("cell_id", "lon", "lat", "azimuth", "radius_m",
                     F.expr("ST_GeomFromWKB(coverage_wkb)").alias("g"))
    stats = g.select(
        F.expr("ST_IsValid(g)").alias("valid"),
        F.expr("ST_Intersects(g, ST_Point(lon, lat))").alias("covers_antenna"),
        F.expr("ST_AreaSpheroid(g)").alias("area"),
        F.expr("ST_X(ST_Centroid(g))").alias("cx"), F.expr("ST_Y(ST_Centroid(g))").alias("cy"),
        "lon", "lat", "azimuth", "radius_m").toPandas()
    assert stats["valid"].all() and stats["covers_antenna"].all()
    sector = stats[stats["azimuth"].notna()]
    omni = stats[stats["azimuth"].isna()]
    assert len(sector) > 100 and len(omni) > 10
    # polygon areas: a 120-degree fan = 1/3 of the disc; a circle = the disc (5 deg steps)
    ratio_s = sector["area"] / (np.pi * sector["radius_m"] ** 2 / 3)
    ratio_o = omni["area"] / (np.pi * omni["radius_m"] ** 2)
    assert ratio_s.between(0.98, 1.01).all() and ratio_o.between(0.98, 1.01).all()
    # the fan points along the azimuth (clockwise from north)
    dx = (sector["cx"] - sector["lon"]) * np.cos(np.radians(sector["lat"]))
    dy = sector["cy"] - sector["lat"]
    bearing = np.degrees(np.arctan2(dx, dy)) % 360
    diff = np.abs((bearing - sector["azimuth"] + 180) % 360 - 180)
    assert diff.max() < 1.0


def test_rerun_gives_identical_table(spark, built, tmp_path):
    """ingest_cells run again (in a warehouse of its own: the chain's stays on) gives the
    same table."""
    cfg, _, table, _ = built
    cols = table.columns
    before = sorted((tuple(r) for r in table.select(*cols).collect()), key=repr)
    own = _with_warehouse(cfg, tmp_path / "warehouse")
    ingest_cells(spark, own)
    after_df = spark.read.format("delta").load(str(own.warehouse / "cells"))
    after = sorted((tuple(r) for r in after_df.select(*cols).collect()), key=repr)
    assert before == after


# --------------------------------------------------------------------------------------
# hand-built edge cases


RAW_COLS = ["cell_id", "lon", "lat", "coord_sys", "azimuth", "radius_m", "tech", "valid_from",
            "valid_to"]


@pytest.mark.parametrize("row, expected", [
    (["c1", "104.1", "30.6", "wgs84", "90", "500", "4g", "", ""], []),
    (["c1", " 104.1 ", "30.6", "BD09", "", "", "", "2026-06-01", "2026-06-01"], []),
    (["", "104.1", "30.6", "wgs84", "", "", "", "", ""], ["cell_id is missing"]),
    (["c1", "abc", "30.6", "wgs84", "", "", "", "", ""], ["lon abc is not a number"]),
    (["c1", "104.1", "30.6", "utm", "", "", "", "", ""], ["coord_sys utm unknown"]),
    (["c1", "104.1", "30.6", "wgs84", "400", "", "", "", ""], ["azimuth 400.0 outside"]),
    (["c1", "104.1", "30.6", "wgs84", "", "-5", "", "", ""], ["radius_m -5.0 is not > 0"]),
    (["c1", "2.0", "30.6", "wgs84", "", "", "", "", ""], ["outside the national box"]),
    (["c1", "104.1", "30.6", "wgs84", "", "", "", "2026-13-01", ""], ["valid_from 2026-13-01"]),
    (["c1", "104.1", "30.6", "wgs84", "", "", "", "2026-06-05", "2026-06-01"],
     ["valid_to 2026-06-01 is before valid_from 2026-06-05"]),
    (["c1", "", "30.6", "wgs84", "", "", "", "", ""], ["lon is missing"]),
])
def test_parse_cells_names_each_problem(spark, row, expected):
    df = spark.createDataFrame([row], ", ".join(f"{c} string" for c in RAW_COLS))
    got = parse_cells(df, BBOX).collect()[0]["problems"]
    assert len(got) == len(expected), got
    for text, want in zip(got, expected, strict=True):
        assert want in text


def test_overlapping_versions(spark):
    d = dt.date
    rows = [("A", None, d(2026, 6, 10)), ("A", d(2026, 6, 10), None),   # overlap on 06-10
            ("B", None, d(2026, 6, 9)), ("B", d(2026, 6, 10), None),    # disjoint
            ("C", None, None), ("C", d(2026, 7, 1), None),              # open first version
            ("D", d(2026, 6, 1), d(2026, 6, 30))]                       # single version
    df = spark.createDataFrame(rows, "cell_id string, valid_from date, valid_to date")
    assert sorted(r["cell_id"] for r in overlapping_versions(df).collect()) == ["A", "C"]


def test_events_are_placed_at_their_cells_version_valid_on_their_day(spark):
    """events_clean stores the cell; a reader of several days places each event at the
    version of its cell valid on the event's day (a moved mast: its new position from
    the day it moved), and an event whose cell has no version on its day gets none."""
    d = dt.date
    cells = spark.createDataFrame([
        ("A", None, d(2026, 6, 9), 104.0, 30.0, 0.0, 0.0, 500.0, None),
        ("A", d(2026, 6, 10), None, 104.1, 30.0, 9600.0, 0.0, 800.0, True),
        ("B", d(2026, 6, 5), d(2026, 6, 9), 104.2, 30.1, 19200.0, 11000.0, 300.0, False)],
        "cell_id string, valid_from date, valid_to date, lon double, lat double, "
        "x_m double, y_m double, spacing_m double, is_hsr boolean")
    events = spark.createDataFrame(
        [("u", "A", d(2026, 6, 9)), ("u", "A", d(2026, 6, 10)), ("v", "B", d(2026, 6, 9)),
         ("v", "B", d(2026, 6, 10)), ("w", "Z", d(2026, 6, 9))],
        "user_id string, cell_id string, dt date")
    got = {(r["cell_id"], r["dt"].day): r.asDict() for r in events_placed(
        events, cells, ("x_m", "spacing_m", "svc_lon", "is_hsr")).collect()}
    assert len(got) == 5 and set(got[("A", 9)]) == {"user_id", "cell_id", "dt", "x_m",
                                                     "spacing_m", "svc_lon", "is_hsr"}
    assert (got[("A", 9)]["x_m"], got[("A", 9)]["spacing_m"]) == (0.0, 500.0)
    assert (got[("A", 10)]["x_m"], got[("A", 10)]["spacing_m"]) == (9600.0, 800.0)
    # no service point in the table: the antenna; is_hsr null is false
    assert got[("A", 10)]["svc_lon"] == 104.1 and got[("A", 9)]["is_hsr"] is False
    assert got[("A", 10)]["is_hsr"] is True and got[("B", 9)]["x_m"] == 19200.0
    assert got[("B", 10)]["x_m"] is None and got[("Z", 9)]["x_m"] is None  # no version


def test_site_spacing_dedupes_colocated_sectors():
    gx, gy = np.meshgrid(np.arange(5) * 400.0, np.arange(5) * 400.0)
    x, y = np.repeat(gx.ravel(), 3), np.repeat(gy.ravel(), 3)  # 3 sectors per site
    x = x + np.tile([0.0, 0.004, -0.003], 25)                   # cm-level conversion noise
    sp = site_spacing(x, y, k=4, merge_m=5.0)
    centre = (x > 700) & (x < 900) & (y > 700) & (y < 900)
    assert np.allclose(sp[centre], 400, atol=0.1)
    assert (sp >= 399).all()
    assert np.isnan(site_spacing(np.zeros(3), np.zeros(3), k=6, merge_m=5.0)).all()
    # without merging, co-located sectors would give a spacing of ~0
    assert site_spacing(x, y, k=2, merge_m=0.0).max() < 0.01


def test_region_of_levels(spark):
    df = spark.createDataFrame([("510104",), (None,)], "a string")
    got = {lvl: [r[0] for r in df.select(region_of(F.col("a"), lvl)).collect()]
           for lvl in ("county", "city", "province")}
    assert got == {"county": ["510104", "unknown"], "city": ["510100", "unknown"],
                   "province": ["510000", "unknown"]}


def _county_layer(path: Path, lon0: float, lat0: float, size: float) -> None:
    ring = [[lon0, lat0], [lon0 + size, lat0], [lon0 + size, lat0 + size],
            [lon0, lat0 + size], [lon0, lat0]]
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"unit_id": "510104", "unit_name": "x",
                                          "level": "county"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    path.write_text(json.dumps(doc))


def _small_cfg(tmp: Path, cells_path: Path, **cells) -> Config:
    layer = tmp / "counties.geojson"
    _county_layer(layer, 104.0, 30.5, 0.2)
    return make_config(tmp, paths={"cells": str(cells_path), "units": [str(layer)]},
                       cells=cells)


SMALL = pd.DataFrame({
    "cell_id": ["c1", "c2", "c3", "c3", "far"],
    "lon": [104.05, 104.06, 104.07, 104.07, 110.0],
    "lat": [30.60, 30.60, 30.61, 30.6101, 30.0],
    "coord_sys": ["wgs84", "gcj02", "bd09", "bd09", "cgcs2000"],
    "azimuth": [0.0, None, 240.0, 240.0, None],
    "radius_m": [500.0, None, 900.0, 900.0, 3000.0],
    "tech": ["4g", "5g", None, None, "4g"],
    "valid_from": [None, None, None, dt.date(2026, 6, 10), None],
    "valid_to": [None, None, dt.date(2026, 6, 9), None, None],
})


@pytest.mark.job
def test_invalid_rows_fail_naming_them(spark, tmp_path):
    bad = SMALL.copy()
    bad.loc[1, "coord_sys"] = "mars"
    bad.to_csv(tmp_path / "cells.csv", index=False)
    with pytest.raises(InputError, match=r"cell_id='c2'.*coord_sys mars unknown"):
        ingest_cells(spark, _small_cfg(tmp_path, tmp_path / "cells.csv"))
    overlap = SMALL.copy()
    overlap.loc[3, "valid_from"] = dt.date(2026, 6, 9)
    overlap.to_csv(tmp_path / "cells.csv", index=False)
    with pytest.raises(InputError, match=r"cell_id='c3'.*overlaps"):
        ingest_cells(spark, _small_cfg(tmp_path, tmp_path / "cells.csv"))


@pytest.mark.job
def test_small_parquet_table_skip_policy_and_outside_county(spark, tmp_path):
    broken = {**SMALL.iloc[0].to_dict(), "cell_id": "broken", "lon": None}
    bad = pd.DataFrame([*SMALL.to_dict("records"), broken])
    (tmp_path / "cells").mkdir()
    bad.to_parquet(tmp_path / "cells/part-0.parquet", index=False)
    cfg = _small_cfg(tmp_path, tmp_path / "cells", on_invalid="skip")
    counts = ingest_cells(spark, cfg)
    assert counts == {"rows_read": 6, "rows_invalid": 1, "cells": 5, "outside_units": 1}
    out = {(r["cell_id"], r["valid_from"]): r for r in
           spark.read.format("delta").load(str(cfg.warehouse / "cells")).collect()}
    assert set(k[0] for k in out) == {"c1", "c2", "c3", "far"}
    assert out[("far", None)]["region"] == "unknown" and out[("far", None)]["admin_code"] is None
    assert out[("c1", None)]["region"] == "510104"
    assert out[("c2", None)]["radius_m"] == cfg.cells.default_radius_m
    assert out[("c3", dt.date(2026, 6, 10))]["valid_from"] == dt.date(2026, 6, 10)
    assert all(r["spacing_m"] > 0 for r in out.values())
    assert not {"stay_radius_m", "h3"} & set(next(iter(out.values())).asDict())
    with pytest.raises(InputError, match="outside every county"):
        ingest_cells(spark, _small_cfg(tmp_path, tmp_path / "cells", on_invalid="skip",
                                       outside_units="fail"))


def test_service_point_is_the_centroid_of_the_sector_service_area():
    from mobsig.cells import service_point

    x = np.zeros(5)
    y = np.zeros(5)
    az = np.array([90.0, 0.0, np.nan, 90.0, 180.0])
    radius = np.array([5000.0, 5000.0, 5000.0, 300.0, 5000.0])
    spacing = np.array([2000.0, 300.0, 2000.0, 2000.0, 2000.0])
    sx, sy = service_point(x, y, az, radius, spacing, 120.0, 0.55)
    wedge = 2 * np.sin(np.pi / 3) / (3 * np.pi / 3)  # centroid of a 120-degree wedge: 0.551 r
    # periphery sector facing east: 0.551 x (0.55 x 2 km) = 606 m east of the antenna
    assert sx[0] == pytest.approx(wedge * 1100) and sy[0] == pytest.approx(0, abs=1e-9)
    assert sx[0] == pytest.approx(606, abs=1)
    # dense core sector facing north: 91 m north
    assert sy[1] == pytest.approx(wedge * 165) and sx[1] == pytest.approx(0, abs=1e-9)
    # omni cell: the antenna; small nominal radius caps the reach; facing south: y < 0
    assert (sx[2], sy[2]) == (0.0, 0.0)
    assert sx[3] == pytest.approx(wedge * 300)
    assert sy[4] == pytest.approx(-wedge * 1100)
    # factor 0 = antenna positions
    zx, zy = service_point(x, y, az, radius, spacing, 120.0, 0.0)
    assert np.allclose(zx, 0) and np.allclose(zy, 0)


def _hex_sites(spacing: float, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    ii, jj = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1))
    x = ((ii + 0.5 * (jj % 2)) * spacing).ravel()
    y = (jj * spacing * np.sqrt(3) / 2).ravel()
    return x, y


def test_site_edges_are_the_voronoi_edges_between_neighbouring_sites():
    """On a regular 2 km lattice of 3-sector masts every inner site has six neighbours, the
    Voronoi edge to each runs between the two circumcentres (577 m off the midpoint), hull
    edges have no row, and co-located sectors are one site kept at their own position."""
    from mobsig.cells import SITE_EDGE_COLUMNS, site_edges

    x, y = _hex_sites(2000.0)
    e = site_edges(np.repeat(x, 3), np.repeat(y, 3), 5.0)
    assert list(e.columns) == list(SITE_EDGE_COLUMNS)
    assert not e.duplicated().any()
    centre = e[(e.a_x == 0) & (e.a_y == 0)]
    assert len(centre) == 6
    assert np.allclose(np.hypot(centre.b_x, centre.b_y), 2000.0)
    for v in ("v1", "v2"):
        mid_x, mid_y = centre.b_x / 2, centre.b_y / 2
        assert np.allclose(np.hypot(centre[f"{v}_x"] - mid_x, centre[f"{v}_y"] - mid_y),
                           2000.0 / (2 * np.sqrt(3)))
    # both orientations, and a corner site of the lattice has fewer (its hull edges)
    assert len(e[(e.b_x == 0) & (e.b_y == 0)]) == 6
    corner = e[(e.a_x == x[0]) & (e.a_y == y[0])]
    assert 0 < len(corner) < 6
    # every site on one line, or fewer than three: no triangulation, no edge
    assert site_edges(np.arange(5.0) * 1000, np.zeros(5), 5.0).empty
    assert site_edges(np.array([0.0, 1000.0]), np.zeros(2), 5.0).empty


def test_order2_centroid_is_the_piece_next_to_the_second_site():
    """A handset served mostly by omni site A and next by its neighbour B 2 km east is in
    the triangle A, v1, v2: its centroid a third of the way to B (667 m), where a duration-
    weighted mean of 80 % at A and 20 % at B says 400 m. A serving sector's wedge cuts the
    piece: facing north-east (30 degrees, covering bearings -30..90) only the north half of
    the triangle is left, so the centroid moves north; a wedge that misses the piece
    (facing west) is ignored; a degenerate piece gives NaN."""
    from mobsig.cells import order2_centroid, site_edges

    x, y = _hex_sites(2000.0)
    e = site_edges(x, y, 5.0)
    r = e[(e.a_x == 0) & (e.a_y == 0) & (e.b_x == 2000.0) & (e.b_y == 0)].iloc[0]

    def one(a_az, b_az, v2=(r.v2_x, r.v2_y)):
        cx, cy = order2_centroid(np.array([0.0]), np.array([0.0]), np.array([a_az]),
                                 np.array([2000.0]), np.array([0.0]), np.array([b_az]),
                                 np.array([r.v1_x]), np.array([r.v1_y]), np.array([v2[0]]),
                                 np.array([v2[1]]), 120.0)
        return cx[0], cy[0]

    assert one(np.nan, np.nan) == pytest.approx((2000.0 / 3, 0.0), abs=1e-6)
    nx, ny = one(30.0, np.nan)
    assert ny > 150 and 500 < nx < 800
    assert one(270.0, np.nan) == pytest.approx((2000.0 / 3, 0.0), abs=1e-6)
    # B's sector facing A (west) covers the whole piece: no change
    assert one(np.nan, 270.0) == pytest.approx((2000.0 / 3, 0.0), abs=1e-6)
    assert np.isnan(one(np.nan, np.nan, v2=(r.v1_x, r.v1_y))[0])


@pytest.mark.job
def test_units_need_a_county_level(spark, tmp_path):
    """A layer mapping with a mistyped level (here 'County') gives no county at all:
    ingest_units fails naming the levels found (not every cell silently outside), and
    writes nothing."""
    from mobsig.config import UnitLayer
    from mobsig.io.catalog import Catalog
    from mobsig.runner import run

    layer = tmp_path / "c.geojson"
    layer.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"CODE": "510104", "NAME": "锦江区"},
        "geometry": {"type": "Polygon", "coordinates": [[[104.0, 30.6], [104.1, 30.6],
                                                         [104.1, 30.7], [104.0, 30.6]]]}}]}))
    bad = UnitLayer(path=str(layer), id_field="CODE", name_field="NAME", level="County")
    cfg = make_config(tmp_path)
    with pytest.raises(InputError, match=r"no layer has units of level 'county'.*'County'"):
        run(spark, cfg.replace(paths=dataclasses.replace(cfg.paths, units=(bad,))),
            "ingest_units")
    catalog = Catalog(spark, cfg.warehouse)
    assert not catalog.exists("units")
    good = dataclasses.replace(bad, level="county")
    run(spark, cfg.replace(paths=dataclasses.replace(cfg.paths, units=(good,))),
        "ingest_units")
    units = catalog.read("units").collect()
    assert [(r["unit_id"], r["unit_name"], r["level"]) for r in units] == [
        ("510104", "锦江区", "county")]


# --------------------------------------------------------------------------------------
# service points of HSR, omni and sector cells; is_hsr parse messages


def _grid_cells() -> pd.DataFrame:
    """A 5 x 5 grid of public sites ~400 m apart (WGS-84) with, at the centre site, a
    sector facing east, an omni cell, and a directional HSR cell facing east."""
    lon0, lat0 = 104.06, 30.66
    dlat = 400.0 / 111_320.0
    dlon = 400.0 / (111_320.0 * np.cos(np.radians(lat0)))
    rows = []
    for i in range(5):
        for j in range(5):
            rows.append({"cell_id": f"g{i}{j}", "lon": lon0 + (i - 2) * dlon,
                         "lat": lat0 + (j - 2) * dlat, "azimuth": 0.0, "is_hsr": False})
    rows += [{"cell_id": "sector", "lon": lon0, "lat": lat0, "azimuth": 90.0, "is_hsr": False},
             {"cell_id": "omni", "lon": lon0, "lat": lat0, "azimuth": np.nan, "is_hsr": False},
             {"cell_id": "hsr", "lon": lon0, "lat": lat0, "azimuth": 90.0, "is_hsr": True}]
    df = pd.DataFrame(rows)
    return df.assign(coord_sys="wgs84", radius_m=2000.0, tech="4g", valid_from=None,
                     valid_to=None)


def test_service_point_hsr_and_omni_at_antenna_sector_displaced(tmp_path):
    """with_positions: an HSR cell's service point is its antenna even when it has an
    azimuth (it serves the track); an omni cell keeps its antenna; a public sector is
    displaced along its azimuth by 0.551 x min(service_reach_factor x spacing, radius)."""
    from pyproj import Transformer

    from mobsig.cells import with_positions

    cfg = make_config(tmp_path)
    out = with_positions(_grid_cells(), cfg.cells, cfg.run.metric_crs)
    fwd = Transformer.from_crs("EPSG:4490", cfg.run.metric_crs, always_xy=True)
    sx, sy = fwd.transform(out["svc_lon"].to_numpy(), out["svc_lat"].to_numpy())
    out = out.assign(dx=sx - out["x_m"], dy=sy - out["y_m"]).set_index("cell_id")
    sector, omni, hsr = out.loc["sector"], out.loc["omni"], out.loc["hsr"]

    wedge = 2 * np.sin(np.pi / 3) / (3 * np.pi / 3)  # 0.551 for the 120-degree default
    assert cfg.cells.sector_width_deg == 120.0 and wedge == pytest.approx(0.551, abs=1e-3)
    assert sector["spacing_m"] == pytest.approx(400, rel=0.02)  # the grid's spacing
    reach = min(cfg.cells.service_reach_factor * sector["spacing_m"], sector["radius_m"])
    assert reach < sector["radius_m"]  # the spacing, not the radius, sets the reach here
    assert sector["dx"] == pytest.approx(wedge * reach, abs=0.01)  # ~121 m east
    assert sector["dy"] == pytest.approx(0.0, abs=0.01)
    assert sector["dx"] > 100
    # the HSR cell sits on the same mast and faces the same way, yet stays at the antenna
    assert hsr["azimuth"] == 90.0 and np.isfinite(hsr["spacing_m"])
    for cell in (hsr, omni):
        assert abs(cell["dx"]) < 0.01 and abs(cell["dy"]) < 0.01
        assert haversine_m(cell["svc_lon"], cell["svc_lat"], cell["lon"], cell["lat"]) < 0.01
    # a sector facing north on the grid is displaced north, not east
    north = out.loc["g22"]
    assert north["dy"] == pytest.approx(wedge * min(
        cfg.cells.service_reach_factor * north["spacing_m"], north["radius_m"]), abs=0.01)
    assert abs(north["dx"]) < 0.01


def test_is_hsr_problem_shows_the_value_as_delivered(spark):
    cases = {"Maybe": "is_hsr Maybe is not a boolean", "FALSCH": "is_hsr FALSCH is not a "
             "boolean", " Ja": "is_hsr  Ja is not a boolean", " TRUE ": None, "y": None,
             "No": None, "": None, None: None}
    rows = [[f"c{i}", "104.1", "30.6", "wgs84", "90", "500", "4g", "", "", given]
            for i, given in enumerate(cases)]
    schema = ", ".join(f"{c} string" for c in [*RAW_COLS, "is_hsr"])
    got = {r["cell_id"]: r for r in parse_cells(spark.createDataFrame(rows, schema),
                                                 BBOX).collect()}
    for i, (given, problem) in enumerate(cases.items()):
        r = got[f"c{i}"]
        if problem is None:
            assert r["problems"] == [], given
            assert r["is_hsr"] is (given is not None and given.strip().lower() in ("true", "y"))
        else:
            assert len(r["problems"]) == 1 and r["problems"][0].startswith(problem), r
            assert "allowed" in r["problems"][0] and not r["is_hsr"]


@pytest.mark.job
def test_ingest_cells_names_the_cell_and_delivered_is_hsr(spark, tmp_path):
    bad = SMALL.assign(is_hsr=["false", "Ja", "TRUE", "TRUE", ""])
    bad.to_csv(tmp_path / "cells.csv", index=False)
    with pytest.raises(InputError, match=r"cell_id='c2'.*is_hsr Ja is not a boolean"):
        ingest_cells(spark, _small_cfg(tmp_path, tmp_path / "cells.csv"))
