"""Spatial-unit layers on Sedona: every contract format, converted to EPSG:4490 and
validated once, at load.

One entry point, :func:`read_units_layer`, dispatches on the file kind:

============  =====================================  ======================================
format        read with                              CRS from
============  =====================================  ======================================
GeoJSON       json (driver)                          ``crs`` member; none = OGC:CRS84
TopoJSON      mobsig.io.topojson, numpy (driver)        none in the format: the mapping's
                                                     ``crs``; lon/lat-range data = CRS84
Shapefile     Sedona ``format("shapefile")``         the ``.prj`` (pyproj ``from_wkt``)
GeoPackage    Sedona ``format("geopackage")``        ``gpkg_geometry_columns`` +
                                                     ``gpkg_spatial_ref_sys`` (sqlite3)
GeoParquet    Sedona ``format("geoparquet")``        ``geo`` metadata via Sedona
                                                     ``format("geoparquet.metadata")``
                                                     (PROJJSON; absent = OGC:CRS84)
============  =====================================  ======================================

A ``crs`` in the layer mapping (:class:`mobsig.config.UnitLayer`) overrides or supplies
the CRS. Conversion to EPSG:4490: pyproj is the reference. Layers read on the driver are
converted there with pyproj (vectorised over all vertices). Layers read by Sedona use
``ST_Transform`` (GeoTools) with the source CRS as an EPSG code or WKT1, after a probe
point shows that GeoTools agrees with pyproj within 1e-7 degrees; otherwise (a CRS
GeoTools rejects, or one it converts differently, e.g. Robinson or a Beijing-1954 datum
shift) the vertices are converted with pyproj in Arrow batches (``mapInArrow``).

Every layer comes out as ``unit_id``, ``unit_name``, ``level``, ``attributes`` (the other
attributes as a JSON object string), ``geometry`` (EPSG:4490, ``ST_MakeValid``), and is
checked once: features without an id, a level or a geometry, duplicate ids, coordinates
outside lon/lat after conversion (a wrong CRS), no features at all, or ids asked for in
``unit_ids`` but absent are an InputError naming the file; so is an unreadable file or an
unknown CRS.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import columns as C
from mobsig.config import UnitLayer
from mobsig.errors import ConfigError, InputError
from mobsig.io import topojson
from mobsig.io.storage import java_message
from mobsig.localdata import local_frame

log = logging.getLogger(__name__)

TARGET_CRS = "EPSG:4490"
FORMATS = ("geojson", "topojson", "shapefile", "geopackage", "geoparquet")
OUTPUT_COLUMNS = (C.UNIT_ID, C.UNIT_NAME, C.LEVEL, "attributes", C.GEOMETRY)
# GeoTools may convert a CRS only where it agrees with pyproj at a probe point (~1 cm)
PROBE_TOLERANCE_DEG = 1e-7
_WKB = "_wkb"
_RAW_SCHEMA = ("unit_id string, unit_name string, level string, attributes string, "
               "_wkb binary")


# --------------------------------------------------------------------------------------
# entry points


def read_units_layer(spark: SparkSession, layer: UnitLayer | str | Path) -> DataFrame:
    """A unit layer (any contract format, any CRS pyproj knows) as ``unit_id``,
    ``unit_name``, ``level``, ``attributes`` (JSON string), ``geometry`` (EPSG:4490,
    made valid); see the module doc. A reader, not a transform: it runs one small Spark
    job to validate the layer (and, for Sedona-read layers in another CRS, one to probe
    ST_Transform); a Sedona-read layer's rows are cached (MEMORY_AND_DISK) so the file is
    scanned once. Bad layers are an InputError naming the file."""
    spec = layer if isinstance(layer, UnitLayer) else UnitLayer(path=str(layer))
    path = Path(spec.path)
    if not path.exists():
        raise InputError(f"unit layer {str(path)!r} does not exist")
    fmt = layer_format(path)
    try:
        if fmt in ("geojson", "topojson"):
            df, crs_text, engine = _read_on_driver(spark, path, spec)
        else:
            df, crs_text, engine = _read_with_sedona(spark, path, spec, fmt)
        n = _validate(df, path, spec)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - Spark/JVM/IO errors of a bad file
        text = java_message(exc).strip()  # a Py4JJavaError's own text names only the call
        first = text.splitlines()[0] if text else type(exc).__name__
        raise InputError(f"unit layer {str(path)!r}: cannot read it as {fmt}: "
                         f"{first[:300]}") from None
    log.info("unit layer %s: %s, %d units, CRS %s -> %s via %s", path, fmt, n,
             _short(crs_text), TARGET_CRS, engine)
    return df


def read_units(spark: SparkSession, layers: list[UnitLayer] | list[str] | list[Path]
               ) -> DataFrame:
    """Every unit layer (``cfg.unit_layers()``, or plain paths) read with
    :func:`read_units_layer` into one frame: ``unit_id``, ``unit_name``, ``level``,
    ``parent_id`` (the ``parent_id`` attribute, else null), ``attributes``, ``geometry``.
    No layer at all is an InputError."""
    frames = [read_units_layer(spark, p) for p in layers]
    if not frames:
        raise InputError("paths.units: no unit layer configured")
    out = None
    for layer in frames:
        part = layer.select(C.UNIT_ID, C.UNIT_NAME, C.LEVEL,
                            F.get_json_object("attributes", "$.parent_id").alias(C.PARENT_ID),
                            "attributes", C.GEOMETRY)
        out = part if out is None else out.unionByName(part)
    return out


def layer_levels(layer: UnitLayer) -> set[str] | None:
    """The levels of a layer known without Spark (to check a level name before a job
    starts): the mapping's ``level``, or the ``level`` attribute of every feature of a
    GeoJSON or TopoJSON layer (a JSON read on the driver, no geometry decoded); None for
    Shapefile, GeoPackage and GeoParquet layers without a mapping level and for a file
    that is missing or unreadable (ingest_units reports those; the job checks the units
    table once Spark is up)."""
    if layer.level:
        return {layer.level}
    path = Path(layer.path)
    try:
        if not path.is_file() or layer_format(path) not in ("geojson", "topojson"):
            return None
        doc = _load_json(path)
    except InputError:
        return None
    if doc.get("type") == "Topology":
        objs = doc.get("objects") or {}
        name = layer.layer or (next(iter(objs)) if len(objs) == 1 else None)
        obj = objs.get(name) if isinstance(objs, dict) and name else None
        if not isinstance(obj, dict):
            return None
        members = obj.get("geometries") if obj.get("type") == "GeometryCollection" else [obj]
        props = [m.get("properties") or {} for m in members or [] if isinstance(m, dict)]
    else:
        props = [f.get("properties") or {} for f in doc.get("features") or []
                 if isinstance(f, dict)]
    keys = set().union(*(p.keys() for p in props)) if props else set()
    col = _field(keys, C.LEVEL)
    if col is None:
        return None
    if layer.unit_ids:
        id_col = _field(keys, layer.id_field)
        wanted = set(layer.unit_ids)
        props = [p for p in props if id_col and _text(p.get(id_col)) in wanted]
    return {t for t in (_text(p.get(col)) for p in props) if t}


def check_levels(layers: list[UnitLayer], names: list[str], what: str) -> None:
    """Before Spark starts: every name in ``names`` is a level of ``layers`` (a
    ConfigError starting with ``what`` names the first that is not, with the levels
    found), when every layer's levels can be read without Spark (:func:`layer_levels`);
    otherwise the caller checks the units table once it runs."""
    found = [layer_levels(layer) for layer in layers]
    known = set().union(*[f for f in found if f])
    missing = [n for n in names if n not in known]
    if missing and all(f is not None for f in found):
        raise ConfigError(f"{what}: {missing[0]!r} is not a layer of paths.units (its "
                          f"levels: {', '.join(sorted(known))})")


def layer_format(path: str | Path) -> str:
    """One of :data:`FORMATS` for a layer file (or a folder of Shapefiles / GeoParquet
    files), by extension; a ``.json`` file is GeoJSON or TopoJSON by its content."""
    p = Path(path)
    if p.is_dir():
        names = [c.name.lower() for c in p.iterdir() if c.is_file()]
        if any(n.endswith(".shp") for n in names):
            return "shapefile"
        if any(n.endswith((".parquet", ".geoparquet")) for n in names):
            return "geoparquet"
        raise InputError(f"unit layer {str(p)!r}: a folder without .shp or .parquet files")
    suffix = p.suffix.lower()
    if suffix in (".geojson",):
        return "geojson"
    if suffix == ".topojson":
        return "topojson"
    if suffix == ".json":
        with p.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
        return "topojson" if re.search(r'"type"\s*:\s*"Topology"', head) else "geojson"
    if suffix == ".shp":
        return "shapefile"
    if suffix == ".gpkg":
        return "geopackage"
    if suffix in (".parquet", ".geoparquet"):
        return "geoparquet"
    raise InputError(f"unit layer {str(p)!r}: unknown format {suffix or '(no extension)'}; "
                     "use GeoJSON (.geojson/.json), TopoJSON (.topojson), Shapefile (.shp), "
                     "GeoPackage (.gpkg) or GeoParquet (.parquet)")


def parse_crs(text: str, where: str):
    """A pyproj CRS from any user input, or an InputError naming ``where``."""
    from pyproj import CRS

    try:
        return CRS.from_user_input(text)
    except Exception:  # noqa: BLE001 - pyproj raises CRSError and others
        raise InputError(f"{where}: unknown CRS {_short(text)!r} (pyproj does not know it); "
                         "set `crs` in the paths.units mapping") from None


# --------------------------------------------------------------------------------------
# GeoJSON and TopoJSON: decoded and converted on the driver


def _geojson_crs(doc: dict) -> str | None:
    """CRS named in a GeoJSON's (pre-RFC 7946) ``crs`` member; None when absent."""
    name = ((doc.get("crs") or {}).get("properties") or {}).get("name", "")
    if not name:
        return None
    if "CRS84" in name.upper():
        return "OGC:CRS84"
    code = name.rsplit(":", 1)[-1]
    return f"EPSG:{code}" if code.isdigit() and "EPSG" in name.upper() else name


def _load_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text("utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise InputError(f"unit layer {str(path)!r}: cannot read JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"unit layer {str(path)!r}: not a GeoJSON/TopoJSON object")
    return doc


def _features(path: Path, spec: UnitLayer) -> tuple[list[tuple[dict, Any]], str | None]:
    """``[(properties, shapely geometry or None)]`` and the file's CRS (None = none)."""
    doc = _load_json(path)
    if doc.get("type") == "Topology":
        try:
            feats = topojson.decode(doc, spec.layer or None)
        except topojson.TopologyError as exc:
            raise InputError(f"unit layer {str(path)!r}: {exc}") from None
        return feats, None
    if doc.get("type") != "FeatureCollection":
        raise InputError(f"unit layer {str(path)!r}: not a GeoJSON FeatureCollection "
                         f"(type {doc.get('type')!r})")
    feats = []
    for i, feat in enumerate(doc.get("features") or []):
        props = dict(feat.get("properties") or {})
        if "id" in feat and "id" not in props:
            props["id"] = feat["id"]
        g = feat.get("geometry")
        try:
            geom = shapely.from_geojson(json.dumps(g)) if g else None
        except shapely.errors.GEOSException as exc:
            raise InputError(f"unit layer {str(path)!r}: feature {i}: bad geometry: "
                             f"{exc}") from None
        feats.append((props, geom))
    return feats, _geojson_crs(doc)


def _text(v: Any) -> str | None:
    """An attribute value as id/name text: integral floats without '.0'; blank = None."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _field(keys: set[str], wanted: str) -> str | None:
    """The attribute named ``wanted``, matched exactly or else case-insensitively."""
    if wanted in keys:
        return wanted
    by_lower = {k.lower(): k for k in keys}
    return by_lower.get(wanted.lower())


def _resolve_fields(keys: set[str], spec: UnitLayer, path: Path) -> tuple[str, str | None,
                                                                           str | None]:
    """(id, name, level) attribute names of a layer, or an InputError saying what to map."""
    id_col = _field(keys, spec.id_field)
    if id_col is None:
        raise InputError(f"unit layer {str(path)!r}: no id attribute {spec.id_field!r} "
                         f"(has {sorted(keys)}); set id_field in the paths.units mapping")
    name_col = _field(keys, spec.name_field)
    if name_col is None and spec.name_field != "unit_name":
        raise InputError(f"unit layer {str(path)!r}: no name attribute {spec.name_field!r} "
                         f"(has {sorted(keys)})")
    level_col = None if spec.level else _field(keys, C.LEVEL)
    if not spec.level and level_col is None:
        raise InputError(f"unit layer {str(path)!r}: no `level` attribute (has "
                         f"{sorted(keys)}); set level in the paths.units mapping")
    return id_col, name_col, level_col


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def _read_on_driver(spark: SparkSession, path: Path,
                    spec: UnitLayer) -> tuple[DataFrame, str, str]:
    feats, file_crs = _features(path, spec)
    if not feats:
        raise InputError(f"unit layer {str(path)!r} has no features")
    keys = set().union(*(p.keys() for p, _ in feats))
    id_col, name_col, level_col = _resolve_fields(keys, spec, path)
    wanted = set(spec.unit_ids)
    used = {id_col, name_col, level_col} - {None}
    rows, geoms = [], []
    for props, geom in feats:
        uid = _text(props.get(id_col))
        if wanted and uid not in wanted:
            continue
        level = spec.level if spec.level else _text(props.get(level_col))
        attrs = {k: _json_value(v) for k, v in props.items() if k not in used}
        rows.append([uid, _text(props.get(name_col)) if name_col else None, level,
                     json.dumps(attrs, ensure_ascii=False, default=str)])
        geoms.append(geom)
    crs_text = spec.crs or file_crs
    if crs_text is None:
        # TopoJSON has no CRS member: lon/lat-range coordinates are read as OGC:CRS84 (the
        # format's customary default); anything else needs the mapping's crs
        bounds = shapely.total_bounds([g for g in geoms if g is not None]) if geoms else None
        if bounds is None or not (np.isfinite(bounds).all() and bounds[0] >= -180
                                  and bounds[2] <= 180 and bounds[1] >= -90
                                  and bounds[3] <= 90):
            raise InputError(f"unit layer {str(path)!r}: the file declares no CRS and "
                             "its coordinates are not lon/lat; set crs in the paths.units "
                             "mapping")
        crs_text = "OGC:CRS84"
    arr = np.array(geoms, dtype=object)
    engine = _to_target_on_driver(arr, crs_text, path)
    wkb = shapely.to_wkb(arr)
    data = [(*r, None if w is None else bytes(w)) for r, w in zip(rows, wkb, strict=True)]
    raw = local_frame(spark, data, _RAW_SCHEMA)
    geom = F.call_function("ST_GeomFromWKB", F.col(_WKB))
    return _finish(raw.withColumn(C.GEOMETRY, geom)), crs_text, engine


def _to_target_on_driver(geoms: np.ndarray, crs_text: str, path: Path) -> str:
    """Convert shapely geometries in place (object array) to EPSG:4490 with pyproj."""
    from pyproj import CRS

    src = parse_crs(crs_text, f"unit layer {str(path)!r}")
    if src.equals(CRS.from_user_input(TARGET_CRS), ignore_axis_order=True):
        return "none (already EPSG:4490)"
    fn = _pyproj_xy(src.to_wkt())
    mask = np.array([g is not None for g in geoms], dtype=bool)
    if mask.any():
        geoms[mask] = shapely.transform(geoms[mask], fn)
    return "pyproj"


def _pyproj_xy(src_wkt: str):
    """A vectorised (N, 2) -> (N, 2) coordinate function from ``src_wkt`` to EPSG:4490."""
    from pyproj import Transformer

    t = Transformer.from_crs(src_wkt, TARGET_CRS, always_xy=True)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return fn


# --------------------------------------------------------------------------------------
# Shapefile, GeoPackage, GeoParquet: Sedona data sources


def _shapefile_crs(path: Path) -> str | None:
    shps = [path] if path.is_file() else sorted(path.glob("*.shp"))
    for shp in shps:
        lacking = [e for e in (".shx", ".dbf") if not shp.with_suffix(e).exists()]
        if lacking:
            raise InputError(f"unit layer {str(path)!r}: incomplete Shapefile: no "
                             f"{' or '.join(lacking)} beside {shp.name}")
    prjs = {s.with_suffix(".prj").read_text("utf-8", errors="replace").strip()
            for s in shps if s.with_suffix(".prj").exists()}
    if len(prjs) > 1:
        raise InputError(f"unit layer {str(path)!r}: the Shapefiles have different .prj "
                         "CRSs; convert them to one CRS or list them as separate layers")
    if not prjs or len([s for s in shps if s.with_suffix(".prj").exists()]) < len(shps):
        return None
    text = prjs.pop()
    from pyproj import CRS

    try:
        CRS.from_wkt(text)
    except Exception:  # noqa: BLE001 - an unparseable .prj is an unknown CRS
        raise InputError(f"unit layer {str(path)!r}: the .prj is not a CRS pyproj knows "
                         f"({_short(text)!r}); set crs in the paths.units mapping") from None
    return text


def _geopackage_meta(path: Path, table: str) -> tuple[str, str, str | None]:
    """(table, geometry column, CRS text or None) from the GeoPackage's own tables."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            feats = [r[0] for r in con.execute(
                "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' "
                "ORDER BY table_name")]
            if not table:
                if len(feats) != 1:
                    raise InputError(f"unit layer {str(path)!r}: GeoPackage has feature "
                                     f"tables {feats}; name one with `layer`")
                table = feats[0]
            elif table not in feats:
                raise InputError(f"unit layer {str(path)!r}: no feature table {table!r} "
                                 f"(has {feats})")
            row = con.execute(
                "SELECT g.column_name, g.srs_id, s.organization, s.organization_coordsys_id, "
                "s.definition FROM gpkg_geometry_columns g LEFT JOIN gpkg_spatial_ref_sys s "
                "ON s.srs_id = g.srs_id WHERE g.table_name = ?", (table,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise InputError(f"unit layer {str(path)!r}: not a readable GeoPackage: {exc}") from None
    if row is None:
        raise InputError(f"unit layer {str(path)!r}: table {table!r} is not in "
                         "gpkg_geometry_columns")
    column, srs_id, org, org_id, definition = row
    crs_text = None
    if srs_id not in (0, -1, None):
        if org and org.upper() == "EPSG" and org_id and int(org_id) > 0:
            crs_text = f"EPSG:{int(org_id)}"
        elif definition and definition.strip().lower() != "undefined":
            crs_text = definition
    return table, column, crs_text


def _snake(obj: Any) -> Any:
    """PROJJSON keys back to snake_case (Sedona's geoparquet.metadata camel-cases them)."""
    if isinstance(obj, dict):
        return {(k if k.startswith("$") else re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower()):
                _snake(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_snake(v) for v in obj]
    return obj


def _projjson_crs(text: str, path: Path) -> str:
    """A CRS text pyproj takes, from the PROJJSON of a GeoParquet ``geo`` column."""
    from pyproj import CRS

    try:
        obj = json.loads(text)
    except ValueError:
        return text  # not JSON: a WKT or an identifier
    obj = _snake(obj)
    try:
        return CRS.from_json_dict(obj).to_wkt()
    except Exception:  # noqa: BLE001 - fall back to the identifier
        ident = obj.get("id") if isinstance(obj, dict) else None
        if isinstance(ident, dict) and ident.get("authority") and ident.get("code"):
            return f"{ident['authority']}:{ident['code']}"
        raise InputError(f"unit layer {str(path)!r}: GeoParquet CRS {_short(text)!r} is "
                         "unknown to pyproj; set crs in the paths.units mapping") from None


def _geoparquet_meta(spark: SparkSession, path: Path) -> tuple[str, str | None]:
    """(primary geometry column, CRS text or None) from Sedona's geoparquet.metadata."""
    rows = spark.read.format("geoparquet.metadata").load(str(path)).collect()
    if not rows:
        raise InputError(f"unit layer {str(path)!r}: no GeoParquet files")
    seen = set()
    for r in rows:
        col = r["primary_column"]
        meta = (r["columns"] or {}).get(col)
        crs = None if meta is None else meta["crs"]
        seen.add((col, crs))
    if len(seen) > 1:
        raise InputError(f"unit layer {str(path)!r}: files disagree on the geometry column "
                         f"or CRS: {sorted(seen, key=str)}")
    col, crs = seen.pop()
    if crs is None or crs == "":
        return col, "OGC:CRS84"  # the GeoParquet default when `crs` is absent
    if crs == "null":
        return col, None  # explicitly unknown
    return col, _projjson_crs(crs, path)


def _load_sedona(spark: SparkSession, path: Path, spec: UnitLayer,
                 fmt: str) -> tuple[DataFrame, str, str | None]:
    """(raw frame, geometry column, CRS text of the file or None)."""
    if fmt == "shapefile":
        reader = spark.read.format("shapefile")
        if spec.charset:
            reader = reader.option("charset", spec.charset)
        return reader.load(str(path)), "geometry", _shapefile_crs(path)
    if fmt == "geopackage":
        table, column, crs = _geopackage_meta(path, spec.layer)
        df = spark.read.format("geopackage").option("tableName", table).load(str(path))
        return df, column, crs
    column, crs = _geoparquet_meta(spark, path)
    return spark.read.format("geoparquet").load(str(path)), column, crs


def _text_col(name: str, dtype: T.DataType) -> Column:
    col = F.col(f"`{name}`")
    if isinstance(dtype, (T.FloatType, T.DoubleType)) or (
            isinstance(dtype, T.DecimalType) and dtype.scale > 0):
        col = F.when(col == F.floor(col), col.cast("bigint").cast("string")).otherwise(
            col.cast("string"))
    out = F.trim(col.cast("string"))
    return F.when(out == "", None).otherwise(out)


def _read_with_sedona(spark: SparkSession, path: Path, spec: UnitLayer,
                      fmt: str) -> tuple[DataFrame, str, str]:
    df, geom_col, file_crs = _load_sedona(spark, path, spec, fmt)
    types = {f.name: f.dataType for f in df.schema.fields}
    if geom_col not in types:
        raise InputError(f"unit layer {str(path)!r}: no geometry column {geom_col!r} "
                         f"(has {list(types)})")
    keys = {c for c, t in types.items()
            if c != geom_col and not isinstance(t, T.UserDefinedType)}
    id_col, name_col, level_col = _resolve_fields(keys, spec, path)
    used = {id_col, name_col, level_col} - {None}
    others = sorted(keys - used)
    attrs = (F.to_json(F.struct(*[F.col(f"`{c}`") for c in others])) if others
             else F.lit("{}"))
    out = df.select(
        _text_col(id_col, types[id_col]).alias(C.UNIT_ID),
        (_text_col(name_col, types[name_col]) if name_col
         else F.lit(None).cast("string")).alias(C.UNIT_NAME),
        (F.lit(spec.level) if spec.level
         else _text_col(level_col, types[level_col])).alias(C.LEVEL),  # type: ignore[arg-type]
        attrs.alias("attributes"),
        F.col(f"`{geom_col}`").alias(C.GEOMETRY))
    if spec.unit_ids:
        out = out.where(F.col(C.UNIT_ID).isin(list(spec.unit_ids)))
    # the file is scanned once: the probe, the check and every later use read this cache
    # (Sedona's Shapefile scan alone costs seconds when the .prj is not an EPSG CRS:
    # GeoTools searches its EPSG database for it on every scan)
    out = out.persist(StorageLevel.MEMORY_AND_DISK)
    crs_text = spec.crs or file_crs
    if crs_text is None:
        raise InputError(f"unit layer {str(path)!r}: the {fmt} declares no CRS; set crs in "
                         "the paths.units mapping")
    out, engine = _to_target_sedona(spark, out, crs_text, path)
    return _finish(out), crs_text, engine


def _to_target_sedona(spark: SparkSession, df: DataFrame, crs_text: str,
                      path: Path) -> tuple[DataFrame, str]:
    """``geometry`` converted to EPSG:4490: Sedona ST_Transform where GeoTools agrees with
    pyproj at a probe point, else pyproj over Arrow batches."""
    from pyproj import CRS

    src = parse_crs(crs_text, f"unit layer {str(path)!r}")
    if src.equals(CRS.from_user_input(TARGET_CRS), ignore_axis_order=True):
        return df, "none (already EPSG:4490)"
    epsg = src.to_epsg()
    geotools_src = f"EPSG:{epsg}" if epsg else src.to_wkt("WKT1_GDAL")
    if geotools_src and _geotools_agrees(spark, df, geotools_src, src.to_wkt()):
        return df.withColumn(C.GEOMETRY, F.call_function(
            "ST_Transform", F.col(C.GEOMETRY), F.lit(geotools_src), F.lit(TARGET_CRS))), \
            "Sedona ST_Transform"
    return _pyproj_frame(df, src.to_wkt()), "pyproj (Arrow batches)"


def _geotools_agrees(spark: SparkSession, df: DataFrame, geotools_src: str,
                     src_wkt: str) -> bool:
    probe = df.where(F.col(C.GEOMETRY).isNotNull()).select(
        F.call_function("ST_X", F.call_function("ST_Centroid", F.call_function(
            "ST_Envelope", F.col(C.GEOMETRY)))).alias("x"),
        F.call_function("ST_Y", F.call_function("ST_Centroid", F.call_function(
            "ST_Envelope", F.col(C.GEOMETRY)))).alias("y")).first()
    if probe is None or probe["x"] is None:
        return True  # nothing to convert; validation reports the empty layer
    x, y = float(probe["x"]), float(probe["y"])
    want = _pyproj_xy(src_wkt)(np.array([[x, y]]))[0]
    try:
        got = spark.range(1).select(F.call_function(
            "ST_Transform", F.call_function("ST_Point", F.lit(x), F.lit(y)),
            F.lit(geotools_src), F.lit(TARGET_CRS)).alias("g")).select(
            F.call_function("ST_X", F.col("g")).alias("x"),
            F.call_function("ST_Y", F.col("g")).alias("y")).first()
    except Exception as exc:  # noqa: BLE001 - GeoTools rejects the CRS
        log.info("GeoTools rejects %s (%s); converting with pyproj", _short(geotools_src),
                 str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__)
        return False
    diff = max(abs(got["x"] - want[0]), abs(got["y"] - want[1]))
    if not np.isfinite(diff) or diff > PROBE_TOLERANCE_DEG:
        log.info("GeoTools and pyproj differ by %.3g deg for %s; converting with pyproj",
                 diff, _short(geotools_src))
        return False
    return True


def _pyproj_frame(df: DataFrame, src_wkt: str) -> DataFrame:
    """``geometry`` converted with pyproj, vectorised per Arrow batch (no row UDF)."""
    import pyarrow as pa

    wkb_frame = df.select(C.UNIT_ID, C.UNIT_NAME, C.LEVEL, "attributes",
                          F.call_function("ST_AsBinary", F.col(C.GEOMETRY)).alias(_WKB))

    def convert(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fn = _pyproj_xy(src_wkt)
        for batch in batches:
            i = batch.schema.get_field_index(_WKB)
            geoms = shapely.from_wkb(batch.column(i).to_numpy(zero_copy_only=False))
            out = shapely.to_wkb(shapely.transform(geoms, fn))
            yield batch.set_column(i, _WKB, pa.array(list(out), type=pa.binary()))

    converted = wkb_frame.mapInArrow(convert, _RAW_SCHEMA)
    return converted.withColumn(C.GEOMETRY, F.call_function("ST_GeomFromWKB", F.col(_WKB)))


# --------------------------------------------------------------------------------------
# common end: validity, SRID, checks


def _finish(df: DataFrame) -> DataFrame:
    """The output columns; geometries made valid once, in EPSG:4490; names never null."""
    geom = F.call_function("ST_SetSRID", F.call_function("ST_MakeValid", F.col(C.GEOMETRY)),
                           F.lit(4490))
    return df.select(C.UNIT_ID, F.coalesce(F.col(C.UNIT_NAME), F.lit("")).alias(C.UNIT_NAME),
                     C.LEVEL, "attributes", geom.alias(C.GEOMETRY))


def _validate(df: DataFrame, path: Path, spec: UnitLayer) -> int:
    """One aggregate over the converted layer; an InputError naming the file and the
    offending features when anything is wrong. Returns the number of units."""
    g = F.col(C.GEOMETRY)
    no_id = F.col(C.UNIT_ID).isNull()
    no_level = F.col(C.LEVEL).isNull() | (F.trim(F.col(C.LEVEL)) == "")
    no_geom = g.isNull() | F.call_function("ST_IsEmpty", g)
    found = F.collect_set(C.UNIT_ID) if spec.unit_ids else F.lit(None)
    s = df.agg(
        found.alias("found"),
        F.count(F.lit(1)).alias("n"),
        F.sum(no_id.cast("int")).alias("no_id"),
        F.sum(no_level.cast("int")).alias("no_level"),
        F.sum(F.coalesce(no_geom, F.lit(True)).cast("int")).alias("no_geom"),
        F.count(F.col(C.UNIT_ID)).alias("with_id"),
        F.countDistinct(C.UNIT_ID).alias("ids"),
        F.min(F.call_function("ST_XMin", g)).alias("xmin"),
        F.max(F.call_function("ST_XMax", g)).alias("xmax"),
        F.min(F.call_function("ST_YMin", g)).alias("ymin"),
        F.max(F.call_function("ST_YMax", g)).alias("ymax")).first()
    where = f"unit layer {str(path)!r}"
    if not s["n"]:
        extra = f" with the unit_ids {list(spec.unit_ids)[:10]}" if spec.unit_ids else ""
        raise InputError(f"{where} has no features{extra}")
    problems = []
    for key, cond, what in (("no_id", no_id, f"no id ({spec.id_field})"),
                            ("no_level", no_level, "no level"),
                            ("no_geom", F.coalesce(no_geom, F.lit(True)), "no geometry")):
        if s[key]:
            examples = [r[C.UNIT_ID] or _short(r["attributes"], 60) for r in
                        df.where(cond).select(C.UNIT_ID, "attributes").limit(3).collect()]
            problems.append(f"{s[key]} feature(s) with {what}, e.g. {examples}")
    if s["with_id"] != s["ids"]:
        dups = [r[C.UNIT_ID] for r in df.groupBy(C.UNIT_ID).count()
                .where(F.col("count") > 1).orderBy(C.UNIT_ID).limit(5).collect()]
        problems.append(f"duplicate unit ids {dups}")
    box = [s["xmin"], s["xmax"], s["ymin"], s["ymax"]]
    if all(v is not None for v in box) and not (
            np.isfinite(box).all() and box[0] >= -180 and box[1] <= 180 and box[2] >= -90
            and box[3] <= 90):
        problems.append(f"coordinates outside lon/lat after conversion (x {box[0]:.6g}.."
                        f"{box[1]:.6g}, y {box[2]:.6g}..{box[3]:.6g}): wrong or missing CRS?")
    if spec.unit_ids:
        missing = sorted(set(spec.unit_ids) - set(s["found"] or []))
        if missing:
            problems.append(f"unit_ids not in the layer: {missing[:10]}")
    if problems:
        raise InputError(f"{where}: " + "; ".join(problems))
    return int(s["n"])


def _short(text: str | None, n: int = 80) -> str:
    t = " ".join(str(text).split())
    return t if len(t) <= n else t[: n - 3] + "..."
