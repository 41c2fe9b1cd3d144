"""Spatial helpers on Sedona: unit layers in EPSG:4490, validated once at load."""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mobsig.errors import InputError

TARGET_CRS = "EPSG:4490"


def _geojson_crs(doc: dict) -> str:
    """CRS named in a GeoJSON's (pre-RFC 7946) ``crs`` member; default EPSG:4326."""
    name = ((doc.get("crs") or {}).get("properties") or {}).get("name", "")
    if not name:
        return "EPSG:4326"
    if "CRS84" in name.upper():
        return "EPSG:4326"
    code = name.rsplit(":", 1)[-1]
    return f"EPSG:{code}" if code.isdigit() else name


def read_geojson_units(spark: SparkSession, path: str | Path) -> DataFrame:
    """A unit layer from GeoJSON: ``unit_id``, ``unit_name``, ``level``, other properties
    as a JSON string, ``geometry`` (Sedona) in EPSG:4490, made valid.

    Features without ``unit_id`` or ``level`` are an error naming the file and feature.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"unit layer {str(p)!r}: cannot read GeoJSON: {exc}") from None
    crs = _geojson_crs(doc)
    rows = []
    for i, feat in enumerate(doc.get("features", [])):
        props = dict(feat.get("properties") or {})
        missing = [k for k in ("unit_id", "level") if not props.get(k)]
        if missing or not feat.get("geometry"):
            raise InputError(f"unit layer {str(p)!r}: feature {i} lacks "
                             f"{missing or ['geometry']}")
        rows.append((str(props.pop("unit_id")), str(props.pop("unit_name", "") or ""),
                     str(props.pop("level")), json.dumps(props, ensure_ascii=False),
                     json.dumps(feat["geometry"])))
    if not rows:
        raise InputError(f"unit layer {str(p)!r} has no features")
    df = spark.createDataFrame(rows, "unit_id string, unit_name string, level string, "
                                     "attributes string, geojson string")
    geom = F.expr("ST_MakeValid(ST_GeomFromGeoJSON(geojson))")
    if crs != TARGET_CRS:
        geom = F.expr(f"ST_Transform(ST_MakeValid(ST_GeomFromGeoJSON(geojson)), "
                      f"'{crs}', '{TARGET_CRS}')")
    return df.select("unit_id", "unit_name", "level", "attributes", geom.alias("geometry"))
