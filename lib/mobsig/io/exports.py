"""Export files of the published tables, beside the Delta tables.

``<warehouse>/exports/month=YYYY-MM/<table>.parquet`` (GeoParquet with the unit geometry,
EPSG:4490; the H3 cell polygon for grid rows) and ``<table>.csv`` (UTF-8 with BOM, for
spreadsheet users), for ``population_by_unit``, ``jobs_housing`` and ``metro_area``;
origin-destination tables (``linkage``, ``trips_by_period``) get a line from the origin's
to the destination's centroid (a desire line; a point for a trip inside one unit)
instead (:func:`export_od_month`). Each file is written to a temporary name and moved into
place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.geo import h3_polygon
from mobsig.io.catalog import Catalog

# the exported tables and the order of their rows in the files
EXPORT_ORDER: dict[str, tuple[str, ...]] = {
    "population_by_unit": (C.LEVEL, C.UNIT_ID, C.POP_CLASS),
    "jobs_housing": (C.LEVEL, C.UNIT_ID),
    "metro_area": (C.LEVEL, C.UNIT_ID),
    "linkage": (C.LEVEL, C.ORIGIN_ID, C.DEST_ID),
    "trips_by_period": (C.LEVEL, C.CITY_ID, C.ORIGIN_ID, C.DEST_ID, C.PERIOD),
}


def export_month(catalog: Catalog, table: str, month_key: str, units: DataFrame) -> int:
    """Write the month's ``table`` rows (as written) to the export folder; ``units``: unit
    polygons (``level``, ``unit_id``, ``geometry``). Returns the rows."""
    rows = catalog.read(table, month=month_key)
    geom = units.select(C.LEVEL, C.UNIT_ID, C.GEOMETRY)
    with_geom = rows.join(geom, [C.LEVEL, C.UNIT_ID], how="left").withColumn(
        C.GEOMETRY, F.when(F.col(C.LEVEL) == C.GRID_LEVEL, h3_polygon(C.UNIT_ID))
        .otherwise(F.col(C.GEOMETRY)))
    return _write(catalog, table, month_key, rows, with_geom)


def export_od_month(catalog: Catalog, table: str, month_key: str, units: DataFrame) -> int:
    """As :func:`export_month` for an origin-destination table (``level``, ``origin_id``,
    ``dest_id``): the geometry is the line between the centroids of the two units (H3
    cells at the grid level; a point when they are the same unit)."""
    rows = catalog.read(table, month=month_key)
    cent = units.select(C.LEVEL, C.UNIT_ID,
                        F.expr(f"ST_Centroid({C.GEOMETRY})").alias("_c"))

    def end(col: str, alias: str) -> DataFrame:
        return cent.select(C.LEVEL, F.col(C.UNIT_ID).alias(col), F.col("_c").alias(alias))

    def point(alias: str, col: str) -> Column:
        return F.when(F.col(C.LEVEL) == C.GRID_LEVEL,
                      F.call_function("ST_Centroid", h3_polygon(col))).otherwise(F.col(alias))

    joined = (rows.join(end(C.ORIGIN_ID, "_o"), [C.LEVEL, C.ORIGIN_ID], how="left")
              .join(end(C.DEST_ID, "_d"), [C.LEVEL, C.DEST_ID], how="left"))
    o, d = point("_o", C.ORIGIN_ID), point("_d", C.DEST_ID)
    line = F.when(F.col(C.ORIGIN_ID) == F.col(C.DEST_ID), o).otherwise(
        F.call_function("ST_MakeLine", o, d))
    with_geom = joined.withColumn(C.GEOMETRY, line).drop("_o", "_d")
    return _write(catalog, table, month_key, rows, with_geom)


def _write(catalog: Catalog, table: str, month_key: str, rows: DataFrame,
           with_geom: DataFrame) -> int:
    """The GeoParquet (``with_geom``) and CSV (``rows``) files of the month, rows in
    EXPORT_ORDER; returns the rows."""
    order = list(EXPORT_ORDER[table])
    files = export_paths(catalog.warehouse, month_key, table)
    Path(files["csv"]).parent.mkdir(parents=True, exist_ok=True)
    with_geom.orderBy(*order).coalesce(1).write.format("geoparquet").mode("overwrite").save(
        files["geoparquet"])
    pdf = rows.orderBy(*order).toPandas()
    for col in pdf.columns:  # counts stay integers next to the nulls of suppressed cells
        if col.endswith(C.RAW_COUNT):
            pdf[col] = pdf[col].astype("Int64")
    csv = Path(files["csv"])
    tmp = csv.with_suffix(".csv.tmp")
    pdf.to_csv(tmp, index=False, encoding="utf-8-sig")
    shutil.move(str(tmp), str(csv))
    return len(pdf)


def export_population(catalog: Catalog, month_key: str, units: DataFrame) -> int:
    """:func:`export_month` of ``population_by_unit``."""
    return export_month(catalog, "population_by_unit", month_key, units)


def export_paths(warehouse: str | Path, month_key: str,
                 table: str = "population_by_unit") -> dict[str, str]:
    """Where :func:`export_month` writes the month's files of ``table``."""
    folder = Path(warehouse) / "exports" / f"month={month_key}"
    return {"geoparquet": str(folder / f"{table}.parquet"),
            "csv": str(folder / f"{table}.csv")}
