"""Build the `cells` table from the delivered cell table 工参 (paths.cells).

Reads the cell table (CSV/TSV with a header or Parquet; a file or a folder; a local path
or a URI on any Hadoop file system such as hdfs:// or s3a://), validates every row,
converts positions to CGCS2000 (EPSG:4490) from wgs84/gcj02/bd09/cgcs2000, and adds the
metric position (run.metric_crs), the local site spacing, the density-adaptive stay
radius, the H3 cell, the county-level admin code (Sedona spatial join with the county
layer among paths.units), the partition region (run.region_level) and a coverage polygon
(sector, or circle for omni cells). The optional column is_hsr marks cells of a
high-speed-rail line 高铁专网 (drift speed limit clean.drift_vmax_hsr_kmh). Every version
of a cell is kept; versions of one cell_id with overlapping validity are an error naming
the cell.

Invalid rows fail the job with their reasons (cells.on_invalid=fail) or are skipped and
counted (skip). Cells outside every county get region 'unknown' (cells.outside_units).
The whole table is replaced in one atomic commit; a re-run gives the same table.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark import StorageLevel
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import Config
from mobsig.errors import DataQualityError, InputError

NAME = "ingest_cells"
HELP = "build the cells table (CGCS2000, region, spacing, coverage) from the raw cell table"
RECORDS_RUN = True

log = logging.getLogger(__name__)

MAX_LISTED = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No partition arguments: the whole table is rebuilt."""


def validate(args: argparse.Namespace, cfg: Config) -> None:
    cfg.require_inputs("cells", "units")


def execute(spark, cfg: Config) -> dict:
    """Rebuild the ``cells`` table from ``paths.cells``; returns row counts."""
    from mobsig.catalog import Catalog
    from mobsig.cells import (
        PROBLEMS,
        county_units,
        coverage_problems,
        overlapping_versions,
        parse_cells,
        read_cells_raw,
        with_admin_code,
        with_coverage,
        with_positions,
        with_region,
    )
    from mobsig.pipeline import bbox_params, gate_and_write
    from mobsig.runs import note_input, note_partition
    from mobsig.schema import load_schema

    note_partition("all")
    r = cfg.run
    bbox = (r.bbox_lon_min, r.bbox_lon_max, r.bbox_lat_min, r.bbox_lat_max)
    raw_path = cfg.location("cells")
    parsed = parse_cells(read_cells_raw(spark, raw_path), bbox).persist(
        StorageLevel.MEMORY_AND_DISK)
    try:
        n_raw = parsed.count()
        note_input("cells_raw", n_raw)
        if n_raw == 0:
            raise InputError(f"cell table {str(raw_path)!r} has no rows")
        bad = parsed.where(F.size(PROBLEMS) > 0)
        n_bad = bad.count()
        if n_bad:
            sample = bad.limit(MAX_LISTED).collect()
            lines = [f"  cell_id={row[C.CELL_ID]!r} valid_from={row[C.VALID_FROM]}: "
                     + "; ".join(row[PROBLEMS]) for row in sample]
            text = (f"cell table {str(raw_path)!r}: {n_bad} of {n_raw} rows invalid"
                    + (f" (first {MAX_LISTED})" if n_bad > MAX_LISTED else "") + ":\n"
                    + "\n".join(lines))
            if cfg.cells.on_invalid == "fail":
                raise InputError(text + "\n  (fix them, or set cells.on_invalid=skip)")
            log.warning("%s\n  skipped (cells.on_invalid=skip)", text)
            note_input("cells_raw_skipped", n_bad)
        good = parsed.where(F.size(PROBLEMS) == 0).drop(PROBLEMS)
        overlaps = overlapping_versions(good).limit(MAX_LISTED).collect()
        if overlaps:
            lines = [f"  cell_id={o[C.CELL_ID]!r}: {o['prev_valid_from']}..{o['prev_valid_to']}"
                     f" overlaps {o[C.VALID_FROM]}..{o[C.VALID_TO]}" for o in overlaps]
            raise InputError("cell table: versions of one cell_id overlap in validity "
                             "(null = open):\n" + "\n".join(lines))
        pdf = good.toPandas()
    finally:
        parsed.unpersist()
    if pdf.empty:
        raise InputError(f"cell table {str(raw_path)!r}: no valid rows")

    log.info("cell table: %d valid rows, %d of them high-speed-rail cells", len(pdf),
             int(pdf[C.IS_HSR].sum()))
    positioned = with_positions(pdf, cfg.cells, cfg.stays, r.metric_crs)
    schema = load_schema("cells")
    base_cols = [c for c in schema.names if c not in (C.ADMIN_CODE, C.REGION, C.COVERAGE_WKB)]
    struct = schema.struct
    typed = positioned[base_cols].astype(object).where(positioned[base_cols].notna(), None)
    base = spark.createDataFrame(typed, type(struct)([struct[c] for c in base_cols]))
    counties = county_units(spark, cfg.unit_layers())
    cells = (base.transform(with_admin_code, counties)
             .transform(with_region, r.region_level)
             .transform(with_coverage, cfg.cells.sector_width_deg, cfg.cells.arc_step_deg)
             .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        outside = cells.where(F.col(C.ADMIN_CODE).isNull())
        n_outside = outside.count()
        if n_outside:
            ids = [row[C.CELL_ID] for row in outside.select(C.CELL_ID).limit(MAX_LISTED).collect()]
            if cfg.cells.outside_units == "fail":
                raise InputError(f"{n_outside} cells lie outside every county-level unit, "
                                 f"e.g. {ids} (cells.outside_units=fail)")
            log.warning("%d cells outside every county-level unit get region %r, e.g. %s",
                        n_outside, C.REGION_UNKNOWN, ids)
        bad_cov = coverage_problems(cells).limit(MAX_LISTED).collect()
        if bad_cov:
            raise DataQualityError("coverage polygons failed validation: " + "; ".join(
                f"{b[C.CELL_ID]} ({b[C.VALID_FROM]}): {b['problem']}" for b in bad_cov))
        s = cfg.stays
        params = {**bbox_params(cfg), "radius_dense_m": s.radius_dense_m,
                  "radius_sparse_m": s.radius_sparse_m}
        gate_and_write(Catalog(spark, cfg.warehouse), cells, "cells", {}, suite="cells",
                       params=params, results_dir=cfg.quality_dir, label="all")
    finally:
        cells.unpersist()
    return {"rows_read": int(n_raw), "rows_invalid": int(n_bad), "cells": int(len(pdf)),
            "outside_units": int(n_outside)}


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import recorded

    res = recorded(spark, cfg, NAME, "all", lambda: execute(spark, cfg))
    print(f"cells: {res['cells']} cell versions written from {res['rows_read']} rows "
          f"({res['rows_invalid']} invalid, {res['outside_units']} outside every county)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
