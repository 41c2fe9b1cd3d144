"""The shared tail of every job: conform to the table schema, gate, then write atomically.

Nothing is written when the gate fails: the write only happens after a passing gate, and
the Delta commit that replaces the partition is atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    return gate_all_then_write(
        catalog, [Output(df, table, partition, suite=suite, params=params)],
        results_dir=results_dir, label=label)[0]


@dataclass(frozen=True)
class Output:
    """One table a job writes: the rows, the partition they replace and their gate."""

    df: DataFrame
    table: str
    partition: PartitionSpec
    suite: str | None = None
    params: dict[str, Any] | None = None
    gated: bool = True


def gate_all_then_write(catalog: Catalog, outputs: list[Output], *,
                        results_dir: str | Path | None = None,
                        label: str = "") -> list[GateResult]:
    """Gate every output first, then write them all: a job with several output tables
    (bronze + quarantine, stays + moves + carry) writes none of them when any gate fails.

    Each table's commit is atomic on its own; a failure between two commits (not a gate)
    leaves the earlier table replaced, and a re-run of the partition repairs it.
    """
    staged = [(o, conform(o.df, catalog.schema(o.table)).persist(StorageLevel.MEMORY_AND_DISK))
              for o in outputs]
    results = []
    try:
        for o, out in staged:
            if not o.gated:
                continue
            try:
                res = run_gate(out, o.suite or o.table, params=o.params, schema=o.table,
                               results_dir=results_dir, label=label)
            except DataQualityError as exc:
                note_gate({"table": o.table, **exc.result})
                raise
            note_gate({"table": o.table, **res.summary()})
            results.append(res)
        for o, out in staged:
            catalog.write(out, o.table, o.partition)
            note_output(o.table, out.count())
        return results
    finally:
        for _, out in staged:
            out.unpersist()
