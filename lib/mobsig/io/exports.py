"""Export files of the published tables, beside the Delta tables.

``<warehouse>/exports/month=YYYY-MM/<table>.parquet`` (GeoParquet with the unit geometry,
EPSG:4490; the H3 cell polygon for grid rows) and ``<table>.csv`` (UTF-8 with BOM, for
spreadsheet users), for ``population_by_unit``, ``jobs_housing`` and ``commute``; for the
origin-destination table ``commute_od`` the geometry is the desire line from the origin
unit's centroid to the destination's (a point for a same-unit pair). Each file is written
to a temporary name and moved into place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.geo import h3_polygon
from mobsig.io.catalog import Catalog

# the exported tables and the order of their rows in the files
EXPORT_ORDER: dict[str, tuple[str, ...]] = {
    "population_by_unit": (C.LEVEL, C.UNIT_ID, C.POP_CLASS),
    "jobs_housing": (C.LEVEL, C.UNIT_ID),
    "commute": (C.LEVEL, C.UNIT_ID),
    "commute_od": (C.LEVEL, "origin_id", "dest_id"),
}
# OD tables: their rows have an origin and a destination unit instead of one unit
OD_ENDS = ("origin_id", "dest_id")


def export_month(catalog: Catalog, table: str, month_key: str, units: DataFrame) -> int:
    """Write the month's ``table`` rows (as written) to the export folder; ``units``: unit
    polygons (``level``, ``unit_id``, ``geometry``). Returns the rows."""
    folder = catalog.warehouse / "exports" / f"month={month_key}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = catalog.read(table, month=month_key)
    geom = units.select(C.LEVEL, C.UNIT_ID, C.GEOMETRY)
    if all(c in rows.columns for c in OD_ENDS):
        with_geom = _desire_lines(rows, geom)
    else:
        with_geom = rows.join(geom, [C.LEVEL, C.UNIT_ID], how="left").withColumn(
            C.GEOMETRY, F.when(F.col(C.LEVEL) == C.GRID_LEVEL, h3_polygon(C.UNIT_ID))
            .otherwise(F.col(C.GEOMETRY)))
    order = list(EXPORT_ORDER[table])
    files = export_paths(catalog.warehouse, month_key, table)
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


def _desire_lines(rows: DataFrame, geom: DataFrame) -> DataFrame:
    """OD rows with ``geometry``: the line from the origin unit's centroid to the
    destination's (the H3 cell's centre at the grid level; a point when they are one
    unit)."""
    out = rows
    for end in OD_ENDS:
        g = geom.select(C.LEVEL, F.col(C.UNIT_ID).alias(end), F.col(C.GEOMETRY).alias("_g"))
        shape = F.when(F.col(C.LEVEL) == C.GRID_LEVEL, h3_polygon(end)).otherwise(F.col("_g"))
        out = out.join(g, [C.LEVEL, end], how="left").withColumn(
            f"_{end}", F.call_function("ST_Centroid", shape)).drop("_g")
    a, b = F.col(f"_{OD_ENDS[0]}"), F.col(f"_{OD_ENDS[1]}")
    line = F.when(F.col(OD_ENDS[0]) == F.col(OD_ENDS[1]), a).otherwise(
        F.call_function("ST_MakeLine", a, b))
    return out.withColumn(C.GEOMETRY, line).drop(*[f"_{e}" for e in OD_ENDS]).select(
        *rows.columns, C.GEOMETRY)


def export_population(catalog: Catalog, month_key: str, units: DataFrame) -> int:
    """:func:`export_month` of ``population_by_unit``."""
    return export_month(catalog, "population_by_unit", month_key, units)


def export_paths(warehouse: str | Path, month_key: str,
                 table: str = "population_by_unit") -> dict[str, str]:
    """Where :func:`export_month` writes the month's files of ``table``."""
    folder = Path(warehouse) / "exports" / f"month={month_key}"
    return {"geoparquet": str(folder / f"{table}.parquet"),
            "csv": str(folder / f"{table}.csv")}
