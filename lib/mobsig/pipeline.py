"""The shared tail of every job: conform to the table schema, gate, then write atomically.

Nothing is written when the gate fails: the write only happens after a passing gate, and
the Delta commit that replaces the partition is atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from mobsig.catalog import Catalog, PartitionSpec
from mobsig.config import Config
from mobsig.errors import DataQualityError
from mobsig.quality import GateResult, run_gate
from mobsig.runs import note_gate, note_output
from mobsig.schema import conform


def bbox_params(cfg: Config) -> dict[str, float]:
    """The national bounding box as expectation parameters."""
    r = cfg.run
    return {"lon_min": r.bbox_lon_min, "lon_max": r.bbox_lon_max,
            "lat_min": r.bbox_lat_min, "lat_max": r.bbox_lat_max}


def gate_and_write(
    catalog: Catalog,
    df: DataFrame,
    table: str,
    partition: PartitionSpec,
    *,
    suite: str | None = None,
    params: dict[str, Any] | None = None,
    results_dir: str | Path | None = None,
    label: str = "",
) -> GateResult:
    """Conform ``df`` to ``table``'s schema, run its gate, and replace ``partition``.

    Raises SchemaError (shape) or DataQualityError (gate) before anything is written. The
    gate result and the written row count go into the active run record.
    """
    out = conform(df, catalog.schema(table)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        try:
            result = run_gate(out, suite or table, params=params, schema=table,
                              results_dir=results_dir, label=label)
        except DataQualityError as exc:
            note_gate({"table": table, **exc.result})
            raise
        note_gate({"table": table, **result.summary()})
        catalog.write(out, table, partition)
        note_output(table, out.count())
        return result
    finally:
        out.unpersist()
