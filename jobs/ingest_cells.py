"""Build the ``cells`` table from the delivered cell table 工参 (paths.cells).

Reads the cell table (CSV/TSV with a header or Parquet; a file or a folder; a local path
or a URI on any Hadoop file system such as hdfs:// or s3a://), validates every row,
converts positions to CGCS2000 (EPSG:4490) from wgs84/gcj02/bd09/cgcs2000, and adds the
metric position (run.metric_crs), the local site spacing, the service point, the
county-level admin code (Sedona spatial join with the county units of the ``units``
table: run ingest_units first), the partition region (run.region_level) and a coverage
polygon (sector, or circle for omni cells). The optional column is_hsr marks cells of a
high-speed-rail line 高铁专网 (drift speed limit clean.drift_vmax_hsr_kmh). Every version
of a cell is kept; versions of one cell_id with overlapping validity are an error naming
the cell.

Invalid rows fail the job with their reasons (cells.on_invalid=fail) or are skipped and
counted (skip). Cells outside every county get region 'unknown' (cells.outside_units).
The whole table is replaced in one atomic commit; a re-run gives the same table.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import cells as K
from mobsig import columns as C
from mobsig.errors import DataQualityError, InputError
from mobsig.geo import unit_polygons
from mobsig.io.inputs import read_cells_raw
from mobsig.runner import JobContext, Output


def build(ctx: JobContext) -> list[Output]:
    cfg, r = ctx.cfg, ctx.cfg.run
    where = f"cell table {str(cfg.location('cells'))!r}"
    bbox = (r.bbox_lon_min, r.bbox_lon_max, r.bbox_lat_min, r.bbox_lat_max)
    parsed = ctx.keep(K.parse_cells(read_cells_raw(ctx.spark, cfg.location("cells")), bbox))
    n_raw = parsed.count()
    ctx.note_input("cells_raw", n_raw)
    ctx.require(n_raw > 0, f"{where} has no rows")
    n_bad, text = K.invalid_report(parsed, where)
    if n_bad and cfg.cells.on_invalid == "fail":
        raise InputError(text + "\n  (fix them, or set cells.on_invalid=skip)")
    if n_bad:
        ctx.log.warning("%s\n  skipped (cells.on_invalid=skip)", text)
        ctx.note_input("cells_raw_skipped", n_bad)
    good = parsed.where(F.size(K.PROBLEMS) == 0).drop(K.PROBLEMS)
    overlaps = K.overlap_report(good)
    ctx.require(not overlaps, overlaps)
    base, pdf = K.positioned_frame(ctx.spark, good, cfg.cells, r.metric_crs)
    ctx.require(base is not None, f"{where}: no valid rows")
    ctx.log.info("cell table: %d valid rows, %d of them high-speed-rail cells", len(pdf),
                 int(pdf[C.IS_HSR].sum()))
    counties = unit_polygons(ctx.read("units")).where(F.col(C.LEVEL) == C.COUNTY_LEVEL)
    cells = ctx.keep(base.transform(K.with_admin_code, counties)
                     .transform(K.with_region, r.region_level)
                     .transform(K.with_coverage, cfg.cells.sector_width_deg,
                                cfg.cells.arc_step_deg))
    n_outside, ids = K.outside_report(cells)
    if n_outside and cfg.cells.outside_units == "fail":
        raise InputError(f"{n_outside} cells lie outside every county-level unit, e.g. {ids} "
                         "(cells.outside_units=fail)")
    if n_outside:
        ctx.log.warning("%d cells outside every county-level unit get region %r, e.g. %s",
                        n_outside, C.REGION_UNKNOWN, ids)
    bad_coverage = K.coverage_report(cells)
    if bad_coverage:
        raise DataQualityError(f"coverage polygons failed validation: {bad_coverage}")
    ctx.fact("cells", len(pdf))
    ctx.fact("rows_invalid", n_bad)
    ctx.fact("outside_units", n_outside)
    return [Output(cells, "cells", params=cfg.run.bbox_params())]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["ingest_cells", *sys.argv[1:]]))
