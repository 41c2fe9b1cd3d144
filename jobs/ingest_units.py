"""Validate every spatial-unit layer once into the ``units`` table.

Reads every layer of paths.units (GeoJSON, TopoJSON, Shapefile, GeoPackage or GeoParquet,
any CRS pyproj knows; a plain path or a mapping {path, layer, id_field, name_field,
level, crs, unit_ids}), converts it to EPSG:4490, makes geometries valid and checks ids,
levels and coordinates (mobsig.io.units). Writes ``units``: unit_id, unit_name, level,
parent_id (the parent_id attribute), attributes (JSON) and the polygon as WKB; the whole
table is replaced in one atomic commit. ingest_cells, place_cards, expand and
population_by_unit read it instead of the files. No unit of level ``county``, or a unit id
twice within one level, is an input error.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.io.units import read_units
from mobsig.runner import JobContext, Output


def build(ctx: JobContext) -> list[Output]:
    units = ctx.keep(read_units(ctx.spark, ctx.cfg.unit_layers()))
    levels = {r[C.LEVEL]: int(r["n"]) for r in
              units.groupBy(C.LEVEL).agg(F.count(F.lit(1)).alias("n")).collect()}
    ctx.require(C.COUNTY_LEVEL in levels,
                f"paths.units: no layer has units of level 'county' (levels found: "
                f"{sorted(levels)}); cells are assigned to counties and factors are per county")
    twice = (units.groupBy(C.LEVEL, C.UNIT_ID).count().where(F.col("count") > 1)
             .orderBy(C.LEVEL, C.UNIT_ID).limit(5).collect())
    ctx.require(not twice, "unit ids given twice within one level (in two layers?): "
                + ", ".join(f"{r[C.LEVEL]} {r[C.UNIT_ID]}" for r in twice))
    ctx.fact("levels", levels)
    ctx.note_input("unit_layers", sum(levels.values()))
    table = units.select(C.UNIT_ID, C.UNIT_NAME, C.LEVEL, C.PARENT_ID, C.ATTRIBUTES,
                         F.call_function("ST_AsBinary", F.col(C.GEOMETRY))
                         .alias(C.GEOMETRY_WKB))
    return [Output(table, "units")]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["ingest_units", *sys.argv[1:]]))
