"""Export files of the published tables, beside the Delta tables.

``<warehouse>/exports/month=YYYY-MM/population_by_unit.parquet`` (GeoParquet with the
unit geometry, EPSG:4490; the H3 cell polygon for grid rows) and
``population_by_unit.csv`` (UTF-8 with BOM, for spreadsheet users). Each file is written
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


def export_population(catalog: Catalog, month_key: str, units: DataFrame) -> int:
    """Write the month's ``population_by_unit`` rows (as written) to the export folder;
    ``units``: unit polygons (``level``, ``unit_id``, ``geometry``). Returns the rows."""
    folder = catalog.warehouse / "exports" / f"month={month_key}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = catalog.read("population_by_unit", month=month_key)
    geom = units.select(C.LEVEL, C.UNIT_ID, C.GEOMETRY)
    with_geom = rows.join(geom, [C.LEVEL, C.UNIT_ID], how="left").withColumn(
        C.GEOMETRY, F.when(F.col(C.LEVEL) == C.GRID_LEVEL, h3_polygon(C.UNIT_ID))
        .otherwise(F.col(C.GEOMETRY)))
    order = [C.LEVEL, C.UNIT_ID, C.POP_CLASS]
    gpq = folder / "population_by_unit.parquet"
    with_geom.orderBy(*order).coalesce(1).write.format("geoparquet").mode("overwrite").save(
        str(gpq))
    pdf = rows.orderBy(*order).toPandas()
    pdf[C.RAW_COUNT] = pdf[C.RAW_COUNT].astype("Int64")
    csv = folder / "population_by_unit.csv"
    tmp = csv.with_suffix(".csv.tmp")
    pdf.to_csv(tmp, index=False, encoding="utf-8-sig")
    shutil.move(str(tmp), str(csv))
    return len(pdf)


def export_paths(warehouse: str | Path, month_key: str) -> dict[str, str]:
    """Where :func:`export_population` writes the month's files."""
    folder = Path(warehouse) / "exports" / f"month={month_key}"
    return {"geoparquet": str(folder / "population_by_unit.parquet"),
            "csv": str(folder / "population_by_unit.csv")}
