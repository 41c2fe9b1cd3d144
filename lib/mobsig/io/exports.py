"""Export files of the published tables, beside the Delta tables.

``<warehouse>/exports/month=YYYY-MM/<table>.parquet`` (GeoParquet with the unit geometry,
EPSG:4490; the H3 cell polygon for grid rows) and ``<table>.csv`` (UTF-8 with BOM, for
spreadsheet users), for ``population_by_unit`` and ``jobs_housing``; a day table
(``daily_presence``) the same under ``exports/dt=YYYY-MM-DD/``. Each file is written to a
temporary name and moved into place.
"""

from __future__ import annotations

import datetime as dt
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
    "daily_presence": (C.LEVEL, C.UNIT_ID, C.POP_CLASS, C.HOUR),
}


def export_month(catalog: Catalog, table: str, month_key: str, units: DataFrame) -> int:
    """Write the month's ``table`` rows (as written) to the export folder; ``units``: unit
    polygons (``level``, ``unit_id``, ``geometry``). Returns the rows."""
    rows = catalog.read(table, month=month_key)
    return _export(rows, table, export_paths(catalog.warehouse, month_key, table), units)


def export_day(catalog: Catalog, table: str, day: dt.date, units: DataFrame) -> int:
    """Write the day's ``table`` rows (as written) to ``exports/dt=YYYY-MM-DD/`` (see
    :func:`export_month`). Returns the rows."""
    rows = catalog.read(table, dt=day)
    return _export(rows, table, export_day_paths(catalog.warehouse, day, table), units)


def _export(rows: DataFrame, table: str, files: dict[str, str], units: DataFrame) -> int:
    Path(files["csv"]).parent.mkdir(parents=True, exist_ok=True)
    geom = units.select(C.LEVEL, C.UNIT_ID, C.GEOMETRY)
    with_geom = rows.join(geom, [C.LEVEL, C.UNIT_ID], how="left").withColumn(
        C.GEOMETRY, F.when(F.col(C.LEVEL) == C.GRID_LEVEL, h3_polygon(C.UNIT_ID))
        .otherwise(F.col(C.GEOMETRY)))
    order = list(EXPORT_ORDER[table])
    # one file, sorted within its one partition: no range-partitioning pass (a sampling
    # job) for these small aggregate tables; the CSV is sorted in pandas the same way
    # (ascending, nulls first, as Spark orders)
    with_geom.coalesce(1).sortWithinPartitions(*order).write.format("geoparquet").mode(
        "overwrite").save(files["geoparquet"])
    pdf = rows.toPandas().sort_values(order, na_position="first", kind="mergesort")
    pdf = pdf.reset_index(drop=True)
    for col in pdf.columns:  # counts stay integers next to the nulls of suppressed cells
        if col.endswith(C.RAW_COUNT) or col == C.HOUR:
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


def export_day_paths(warehouse: str | Path, day: dt.date, table: str) -> dict[str, str]:
    """Where :func:`export_day` writes the day's files of ``table``."""
    folder = Path(warehouse) / "exports" / f"dt={day.isoformat()}"
    return {"geoparquet": str(folder / f"{table}.parquet"),
            "csv": str(folder / f"{table}.csv")}
