"""Unit-layer readers (mobsig.io.units): every contract format, any CRS, one output.

One tiny truth layer (three units near Chengdu, built in the census Albers projection:
a box with a hole, a triangle sharing the box's east edge, a two-part multipolygon) is
written with what is installed (GeoJSON and TopoJSON by hand, Shapefile with struct,
GeoPackage with sqlite3 + WKB, GeoParquet with pyarrow + WKB + ``geo`` metadata) in
EPSG:4490, UTM 48N, the Albers PROJ string and Robinson, and read back: the same ids,
names, levels and EPSG:4490 geometry (1e-6 degrees) from every reader, the right areas,
and a clear error for each bad layer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import CRS, Transformer

from mobsig.config import UnitLayer, build_config, dump_config, load_config
from mobsig.errors import ConfigError, InputError
from mobsig.io import topojson
from mobsig.io.units import read_units_layer
from mobsig.synth.real import CENSUS_ALBERS, census_layer, shared_data_dir

ALBERS = CENSUS_ALBERS
UTM48 = "EPSG:32648"
ROBINSON = "+proj=robin +lon_0=0 +datum=WGS84 +units=m +no_defs"
TOL_DEG = 1e-6

# truth in Albers metres (integers: exact in a quantized TopoJSON with scale 1)
X0, Y0 = -40_000, -590_000
BOX = [(X0, Y0), (X0 + 3000, Y0), (X0 + 3000, Y0 + 2000), (X0, Y0 + 2000)]
HOLE = [(X0 + 1000, Y0 + 500), (X0 + 1000, Y0 + 1000), (X0 + 2000, Y0 + 1000),
        (X0 + 2000, Y0 + 500)]
APEX = (X0 + 6000, Y0 + 1000)
C1 = shapely.box(X0, Y0 + 4000, X0 + 1000, Y0 + 5000)
C2 = shapely.box(X0 + 2000, Y0 + 4000, X0 + 2500, Y0 + 4500)
TRUTH = {
    "510104": ("锦江区", shapely.Polygon(BOX, [HOLE])),
    "510105": ("青羊区", shapely.Polygon([(X0 + 3000, Y0), APEX, (X0 + 3000, Y0 + 2000)])),
    "510106": ("金牛区", shapely.MultiPolygon([C1, C2])),
}
AREAS_M2 = {"510104": 5.5e6, "510105": 3.0e6, "510106": 1.25e6}


def _to(crs: str):
    t = Transformer.from_crs(ALBERS, crs, always_xy=True)
    return lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))


def truth_in(crs: str) -> dict[str, shapely.Geometry]:
    return {k: shapely.transform(g, _to(crs)) for k, (_, g) in TRUTH.items()}


def rows_in(crs: str, id_field="unit_id", name_field="unit_name", level=True) -> list[dict]:
    geoms = truth_in(crs)
    out = []
    for uid, (name, _) in TRUTH.items():
        r = {id_field: uid, name_field: name, "parent_id": "510100", "geometry": geoms[uid]}
        if level:
            r["level"] = "county"
        out.append(r)
    return out


# --------------------------------------------------------------------------------------
# writers (test only; no GDAL here)


def write_geojson(path: Path, rows: list[dict], crs: str | None) -> Path:
    feats = [{"type": "Feature",
              "properties": {k: v for k, v in r.items() if k != "geometry"},
              "geometry": json.loads(shapely.to_geojson(r["geometry"]))} for r in rows]
    doc: dict = {"type": "FeatureCollection", "features": feats}
    if crs:
        code = crs.split(":")[1]
        doc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{code}"}}
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return path


def write_topojson(path: Path) -> Path:
    """The truth as a real topology in Albers: the box/triangle edge is one shared arc
    (referenced reversed by the triangle), quantized (scale 1 m) and delta-encoded;
    attributes CODE / NAME, no level, plus a second object."""
    (x0, y0), (x1, _), (_, y1) = BOX[0], BOX[1], BOX[2]
    arcs_abs = [
        [(x1, y1), (x0, y1), (x0, y0), (x1, y0)],          # 0: box without the east edge
        [(x1, y0), (x1, y1)],                              # 1: shared east edge
        [(x1, y0), APEX, (x1, y1)],                        # 2: triangle's other edges
        [*HOLE, HOLE[0]],                                  # 3: hole
        [*np.asarray(C1.exterior.coords).tolist()],        # 4
        [*np.asarray(C2.exterior.coords).tolist()],        # 5
    ]
    tx, ty = -50_000, -600_000
    arcs = []
    for a in arcs_abs:
        q = np.rint(np.asarray(a, float) - [tx, ty]).astype(int)
        arcs.append(np.vstack([q[:1], np.diff(q, axis=0)]).tolist())
    doc = {"type": "Topology", "transform": {"scale": [1, 1], "translate": [tx, ty]},
           "arcs": arcs, "objects": {
               "county": {"type": "GeometryCollection", "geometries": [
                   {"type": "Polygon", "arcs": [[0, 1], [3]],
                    "properties": {"CODE": 510104, "NAME": "锦江区"}},
                   {"type": "Polygon", "arcs": [[~1, 2]],
                    "properties": {"CODE": 510105, "NAME": "青羊区"}},
                   {"type": "MultiPolygon", "arcs": [[[4]], [[5]]],
                    "properties": {"CODE": 510106, "NAME": "金牛区"}}]},
               "outline": {"type": "GeometryCollection", "geometries": [
                   {"type": "LineString", "arcs": [0, 1]}]}}}
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return path


def write_shapefile(base: Path, rows: list[dict], crs: str | None) -> Path:
    """Polygon Shapefile (.shp/.shx/.dbf/.cpg, .prj as ESRI WKT when crs is given)."""
    attrs = [k for k in rows[0] if k != "geometry"]
    recs = []
    for r in rows:
        rings = []
        for p in shapely.get_parts(r["geometry"]):
            ext = np.asarray(p.exterior.coords)
            rings.append(ext[::-1] if shapely.is_ccw(p.exterior) else ext)  # outer: CW
            for h in p.interiors:
                hc = np.asarray(h.coords)
                rings.append(hc if shapely.is_ccw(h) else hc[::-1])  # holes: CCW
        pts = np.vstack(rings)
        parts = np.cumsum([0] + [len(x) for x in rings[:-1]])
        recs.append(struct.pack("<i4dii", 5, *shapely.bounds(r["geometry"]), len(rings),
                                len(pts)) + struct.pack(f"<{len(parts)}i", *parts)
                    + pts.astype("<f8").tobytes())
    box = shapely.total_bounds([r["geometry"] for r in rows])

    def header(n_words: int) -> bytes:
        return (struct.pack(">7i", 9994, 0, 0, 0, 0, 0, n_words) + struct.pack("<2i", 1000, 5)
                + struct.pack("<8d", *box, 0, 0, 0, 0))

    shp, shx, off = b"", b"", 50
    for i, c in enumerate(recs):
        shx += struct.pack(">2i", off, len(c) // 2)
        shp += struct.pack(">2i", i + 1, len(c) // 2) + c
        off += 4 + len(c) // 2
    base.with_suffix(".shp").write_bytes(header(50 + len(shp) // 2) + shp)
    base.with_suffix(".shx").write_bytes(header(50 + len(shx) // 2) + shx)
    vals = [[str(r[a]).encode("utf-8") for a in attrs] for r in rows]
    widths = [max(len(v[i]) for v in vals) for i in range(len(attrs))]
    dbf = struct.pack("<BBBBIHH20x", 3, 126, 1, 1, len(rows), 32 + 32 * len(attrs) + 1,
                      1 + sum(widths))
    for a, w in zip(attrs, widths, strict=True):
        dbf += struct.pack("<11sc4xBB14x", a.encode()[:10].ljust(11, b"\0"), b"C", w, 0)
    dbf += b"\r" + b"".join(b" " + b"".join(x.ljust(w) for x, w in zip(v, widths, strict=True))
                            for v in vals) + b"\x1a"
    base.with_suffix(".dbf").write_bytes(dbf)
    base.with_suffix(".cpg").write_text("UTF-8")
    if crs:
        base.with_suffix(".prj").write_text(CRS.from_user_input(crs).to_wkt("WKT1_ESRI"))
    return base.with_suffix(".shp")


def write_gpkg(path: Path, tables: dict[str, list[dict]], crs: str,
               srs_id: int = 99001) -> Path:
    """A GeoPackage with sqlite3: the gpkg_* metadata tables, GP-header + WKB blobs. An
    EPSG CRS is registered by code, any other by its WKT definition only."""
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute("PRAGMA application_id = 1196444487")
    con.execute("PRAGMA user_version = 10200")
    con.execute("CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER "
                "PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER "
                "NOT NULL, definition TEXT NOT NULL, description TEXT)")
    c = CRS.from_user_input(crs)
    epsg = c.to_epsg() if crs.upper().startswith("EPSG:") else None
    con.execute("INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,NULL)",
                (c.name, srs_id, "EPSG" if epsg else "NONE", epsg or srs_id,
                 c.to_wkt("WKT1_GDAL")))
    con.execute("CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type "
                "TEXT NOT NULL, identifier TEXT, description TEXT DEFAULT '', last_change "
                "DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x "
                "DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER)")
    con.execute("CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name "
                "TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, "
                "z TINYINT NOT NULL, m TINYINT NOT NULL)")
    for table, rows in tables.items():
        attrs = [k for k in rows[0] if k != "geometry"]
        cols = ", ".join(f'"{a}" TEXT' for a in attrs)
        con.execute(f'CREATE TABLE "{table}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, '
                    f'geom GEOMETRY, {cols})')
        b = shapely.total_bounds([r["geometry"] for r in rows])
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, "
                    "min_y, max_x, max_y, srs_id) VALUES (?,?,?,?,?,?,?,?)",
                    (table, "features", table, *map(float, b), srs_id))
        con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'GEOMETRY', ?, 0, 0)",
                    (table, srs_id))
        marks = ", ".join("?" for _ in attrs)
        names = ", ".join(f'"{a}"' for a in attrs)
        for r in rows:
            blob = (b"GP" + bytes([0, 1]) + struct.pack("<i", srs_id)
                    + shapely.to_wkb(r["geometry"], byte_order=1))
            con.execute(f'INSERT INTO "{table}" (geom, {names}) VALUES (?, {marks})',
                        (blob, *[r[a] for a in attrs]))
    con.commit()
    con.close()
    return path


def write_geoparquet(path: Path, rows: list[dict], crs: str | None | bool) -> Path:
    """GeoParquet 1.0: WKB + ``geo`` metadata; crs None = key absent (OGC:CRS84),
    False = explicit null (unknown)."""
    attrs = [k for k in rows[0] if k != "geometry"]
    data = {a: [r[a] for r in rows] for a in attrs}
    data["geometry"] = shapely.to_wkb([r["geometry"] for r in rows])
    col: dict = {"encoding": "WKB", "geometry_types": []}
    if crs is False:
        col["crs"] = None
    elif crs:
        col["crs"] = json.loads(CRS.from_user_input(crs).to_json())
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": col}}
    pq.write_table(pa.table(data).replace_schema_metadata({b"geo": json.dumps(geo).encode()}),
                   path)
    return path


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def layers(tmp_path_factory) -> dict[str, UnitLayer]:
    d = tmp_path_factory.mktemp("layers")
    (d / "shp").mkdir()
    (d / "shpdir").mkdir()
    census = dict(id_field="CODE", name_field="NAME", level="county")
    return {
        "geojson 4490 (no crs member)": UnitLayer(
            path=str(write_geojson(d / "a.geojson", rows_in("EPSG:4490"), None))),
        "geojson UTM": UnitLayer(path=str(write_geojson(d / "b.json", rows_in(UTM48), UTM48))),
        "topojson Albers (mapping)": UnitLayer(
            path=str(write_topojson(d / "c.topojson")), layer="county", crs=ALBERS, **census),
        "shapefile Albers": UnitLayer(
            path=str(write_shapefile(d / "shp/d", rows_in(ALBERS), ALBERS))),
        "shapefile folder UTM": UnitLayer(
            path=str(write_shapefile(d / "shpdir/e", rows_in(UTM48), UTM48).parent)),
        "geopackage UTM": UnitLayer(
            path=str(write_gpkg(d / "f.gpkg", {"units": rows_in(UTM48)}, UTM48))),
        "geopackage Albers WKT, mapping": UnitLayer(
            path=str(write_gpkg(d / "g.gpkg", {
                "towns": rows_in(ALBERS)[:1],
                "counties": rows_in(ALBERS, "CODE", "NAME", level=False)}, ALBERS)),
            layer="counties", **census),
        "geoparquet Albers": UnitLayer(
            path=str(write_geoparquet(d / "h.parquet", rows_in(ALBERS), ALBERS))),
        "geoparquet 4490 (no crs)": UnitLayer(
            path=str(write_geoparquet(d / "i.parquet", rows_in("EPSG:4490"), None))),
        "geoparquet Robinson (pyproj path)": UnitLayer(
            path=str(write_geoparquet(d / "j.parquet", rows_in(ROBINSON), ROBINSON))),
    }


@pytest.fixture(scope="module")
def read_all(spark, layers):
    def read(layer):
        df = read_units_layer(spark, layer)
        rows = df.selectExpr("unit_id", "unit_name", "level", "attributes",
                             "ST_AsBinary(geometry) AS wkb", "ST_SRID(geometry) AS srid",
                             "ST_IsValid(geometry) AS valid",
                             "ST_AreaSpheroid(geometry) AS area_m2").collect()
        return {r["unit_id"]: r for r in rows}

    # two layers read at a time: each read is a few small Spark jobs that wait on the
    # driver's one planning thread, so one at a time leaves the second core idle
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(layers, pool.map(read, layers.values()), strict=True))


# --------------------------------------------------------------------------------------
# every format, one result


def test_every_reader_gives_the_same_units(read_all):
    expected = truth_in("EPSG:4490")
    assert len(read_all) == 10
    for name, units in read_all.items():
        assert sorted(units) == sorted(TRUTH), name
        for uid, r in units.items():
            assert r["unit_name"] == TRUTH[uid][0], (name, uid)
            assert r["level"] == "county", (name, uid)
            assert r["srid"] == 4490 and r["valid"], (name, uid)
            got = shapely.normalize(shapely.from_wkb(bytes(r["wkb"])))
            want = shapely.normalize(expected[uid])
            assert got.geom_type == want.geom_type, (name, uid)
            assert shapely.equals_exact(got, want, tolerance=TOL_DEG), (name, uid, got)


def test_areas_are_right(read_all):
    for name, units in read_all.items():
        for uid, r in units.items():
            # Albers is equal-area: its planar area is the ellipsoidal area (geodesic vs
            # straight Albers edges differ far below 0.1 % at km scale)
            assert r["area_m2"] == pytest.approx(AREAS_M2[uid], rel=1e-3), (name, uid)


def test_attributes_keep_the_other_fields(read_all):
    attrs = json.loads(read_all["geoparquet Albers"]["510104"]["attributes"])
    assert attrs == {"parent_id": "510100"}
    topo = json.loads(read_all["topojson Albers (mapping)"]["510105"]["attributes"])
    assert topo == {}  # CODE/NAME are mapped, nothing else was given
    gpkg = json.loads(read_all["geopackage UTM"]["510106"]["attributes"])
    assert gpkg["parent_id"] == "510100" and "unit_id" not in gpkg


def test_geotools_disagreeing_crs_goes_through_pyproj(spark, layers, caplog):
    with caplog.at_level(logging.INFO, logger="mobsig.io.units"):
        read_units_layer(spark, layers["geoparquet Robinson (pyproj path)"])
        read_units_layer(spark, layers["geopackage UTM"])
    text = caplog.text
    assert "via pyproj (Arrow batches)" in text  # Robinson: GeoTools is off by ~300 m
    assert "via Sedona ST_Transform" in text      # UTM: GeoTools agrees with pyproj


def test_unit_ids_filter_and_population_readers(spark, layers, tmp_path):
    from mobsig.io.units import read_units

    topo = layers["topojson Albers (mapping)"]
    picked = dataclasses.replace(topo, unit_ids=("510105", "510106"))
    assert sorted(r.unit_id for r in read_units_layer(spark, picked).collect()) == [
        "510105", "510106"]
    units = read_units(spark, [picked, layers["geojson 4490 (no crs member)"].path])
    assert units.count() == 5
    picked_only = read_units(spark, [picked]).where("level = 'county'")
    assert sorted(r.unit_id for r in picked_only.collect()) == ["510105", "510106"]


def test_config_takes_plain_paths_and_mappings(tmp_path):
    cfg = build_config({"paths": {"units": [
        "units/zones.geojson",
        {"path": "census/c.topojson", "layer": "county", "id_field": "CODE",
         "name_field": "NAME", "level": "county", "crs": ALBERS,
         "unit_ids": [510104, "510105"]}]}}, base_dir=tmp_path)
    plain, mapped = cfg.unit_layers()
    assert plain == UnitLayer(path=str(tmp_path / "units/zones.geojson"))
    assert mapped.path == str(tmp_path / "census/c.topojson")
    assert mapped.unit_ids == ("510104", "510105") and mapped.crs == ALBERS
    assert cfg.paths.units[0] == "units/zones.geojson"  # plain entries stay strings
    assert cfg.paths_list("units") == [tmp_path / "units/zones.geojson",
                                       tmp_path / "census/c.topojson"]
    dump_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again.paths.units == cfg.paths.units and again.digest() == cfg.digest()
    over = build_config({}, ["paths.units=[{path: a.gpkg, layer: towns}, b.geojson]"])
    assert over.paths.units == (UnitLayer(path="a.gpkg", layer="towns"), "b.geojson")


@pytest.mark.parametrize("entry, message", [
    ({"id_field": "CODE"}, "needs `path`"),
    ({"path": "a.topojson", "crs": "EPSG:99999999"}, "pyproj does not know"),
    ({"path": "a.topojson", "idfield": "CODE"}, "unknown key 'idfield'"),
    ({"path": "a.topojson", "id_field": ""}, "must not be empty"),
    ({"path": "a.topojson", "unit_ids": {"a": 1}}, "expected a list"),
    ("", "empty path"),
])
def test_bad_layer_config_fails_at_load(entry, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"paths": {"units": [entry]}})


# --------------------------------------------------------------------------------------
# bad layers: an InputError naming the file


def _bad_layers(d: Path) -> list[tuple[UnitLayer, str]]:
    good = rows_in(ALBERS)
    no_id = rows_in("EPSG:4490")
    no_id[1]["unit_id"] = None
    dup = rows_in("EPSG:4490")
    dup[2]["unit_id"] = "510104"
    (d / "noprj").mkdir()
    (d / "junk").mkdir()
    good_shp = write_shapefile(d / "junk/x", good, UTM48)
    junk_shp = good_shp.with_name("y.shp")
    for ext in (".dbf", ".shx", ".prj"):
        good_shp.with_suffix(ext).rename(junk_shp.with_suffix(ext))
    good_shp.unlink()
    junk_shp.write_bytes(b"\x00\x01 not a shapefile" * 10)
    nodbf = write_shapefile(d / "nodbf", good, UTM48)
    nodbf.with_suffix(".dbf").unlink()
    (d / "junk.gpkg").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    (d / "empty.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (d / "x.kml").write_text("<kml/>")
    bad_prj = write_shapefile(d / "badprj", good, None)
    bad_prj.with_suffix(".prj").write_text('PROJCS["nonsense",WHATEVER[1]]')
    return [
        (UnitLayer(path=str(write_geojson(d / "noid.geojson", no_id, None))), "no id"),
        (UnitLayer(path=str(write_geojson(d / "dup.geojson", dup, None))),
         r"duplicate unit ids \['510104'\]"),
        (UnitLayer(path=str(write_shapefile(d / "noprj/a", good, None))), "declares no CRS"),
        (UnitLayer(path=str(bad_prj)), "not a CRS pyproj knows"),
        (UnitLayer(path=str(write_geoparquet(d / "nullcrs.parquet", good, False))),
         "declares no CRS"),
        (UnitLayer(path=str(write_geoparquet(d / "wrongcrs.parquet", good, "EPSG:4490"))),
         "outside lon/lat"),
        (UnitLayer(path=str(write_topojson(d / "nocrs.topojson")), layer="county",
                   id_field="CODE", level="county"), "declares no CRS"),
        (UnitLayer(path=str(d / "nocrs.topojson"), crs=ALBERS, level="county"),
         "several objects"),
        (UnitLayer(path=str(d / "nocrs.topojson"), layer="county", crs=ALBERS),
         "no id attribute 'unit_id'"),
        (UnitLayer(path=str(d / "nocrs.topojson"), layer="county", crs=ALBERS,
                   id_field="CODE"), "no `level` attribute"),
        (UnitLayer(path=str(d / "nocrs.topojson"), layer="county", crs=ALBERS,
                   id_field="CODE", level="county", unit_ids=("510104", "999999")),
         r"unit_ids not in the layer: \['999999'\]"),
        (UnitLayer(path=str(d / "nocrs.topojson"), layer="county", crs=ALBERS,
                   id_field="CODE", level="county", unit_ids=("999999",)), "no features"),
        (UnitLayer(path=str(junk_shp)), "cannot read it as shapefile"),
        (UnitLayer(path=str(nodbf)), "incomplete Shapefile: no .dbf"),
        (UnitLayer(path=str(d / "junk.gpkg")), "not a readable GeoPackage"),
        (UnitLayer(path=str(write_gpkg(d / "two.gpkg", {"a": good, "b": good}, ALBERS))),
         r"feature tables \['a', 'b'\]; name one"),
        (UnitLayer(path=str(d / "empty.geojson")), "has no features"),
        (UnitLayer(path=str(d / "x.kml")), "unknown format .kml"),
        (UnitLayer(path=str(d / "missing.gpkg")), "does not exist"),
    ]


def test_bad_layers_are_input_errors_naming_the_file(spark, tmp_path):
    for layer, message in _bad_layers(tmp_path):
        with pytest.raises(InputError, match=message) as err:
            read_units_layer(spark, layer)
        assert Path(layer.path).name in str(err.value), (layer, err.value)


# --------------------------------------------------------------------------------------
# TopoJSON decoding and the real census layer


def test_topojson_decodes_deltas_reversed_arcs_and_points():
    doc = {"type": "Topology", "transform": {"scale": [0.5, 2], "translate": [10, 20]},
           "arcs": [[[0, 0], [2, 0], [0, 1]], [[2, 1], [-2, -1]]],
           "objects": {"o": {"type": "GeometryCollection", "geometries": [
               {"type": "LineString", "arcs": [0, 1], "id": "L"},
               {"type": "LineString", "arcs": [~0]},
               {"type": "Polygon", "arcs": [[0, 1]], "properties": {"k": 1}},
               {"type": "Point", "coordinates": [4, 5]},
               {"type": None}]}}}
    (p_line, line), (_, back), (props, poly), (_, pt), (_, none) = topojson.decode(doc)
    assert p_line == {"id": "L"} and props == {"k": 1} and none is None
    assert np.allclose(line.coords, [(10, 20), (11, 20), (11, 22), (10, 20)])
    assert np.allclose(back.coords, [(11, 22), (11, 20), (10, 20)])
    assert poly.area == pytest.approx(0.5 * 1 * 2)  # triangle (10,20) (11,20) (11,22)
    assert (pt.x, pt.y) == (12.0, 30.0)
    with pytest.raises(topojson.TopologyError, match="no object 'x'"):
        topojson.decode(doc, "x")


CENSUS = shared_data_dir()


@pytest.mark.skipif(CENSUS is None or not (CENSUS / "census2020").is_dir(),
                    reason="../shared/data/census2020 is not present next to the project")
def test_census_counties_through_the_topojson_reader(spark):
    chengdu = ("510104", "510105", "510106", "510107", "510108")
    layer = dataclasses.replace(census_layer(CENSUS), unit_ids=chengdu)
    rows = read_units_layer(spark, layer).selectExpr(
        "unit_id", "unit_name", "attributes", "ST_AreaSpheroid(geometry) AS area",
        "ST_X(ST_Centroid(geometry)) AS lon", "ST_Y(ST_Centroid(geometry)) AS lat").collect()
    by_id = {r.unit_id: r for r in rows}
    assert sorted(by_id) == list(chengdu)
    assert by_id["510104"].unit_name == "锦江区"
    for r in rows:
        # the layer's own `area` attribute is the Albers (equal-area) area
        # (of the unsimplified polygon: the simplified ones differ by up to ~3 %)
        assert r.area == pytest.approx(json.loads(r.attributes)["area"], rel=0.05)
        assert 103.9 < r.lon < 104.25 and 30.5 < r.lat < 30.8  # central Chengdu
