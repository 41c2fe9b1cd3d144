"""Table catalog: where each table lives, its partitions and schema; atomic partition writes.

Every write replaces exactly the partition(s) it names (Delta ``replaceWhere``) in one
atomic commit, so a re-run of a partition leaves an identical table and a failed run
leaves the previous version in place.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mobsig.errors import InputError, SchemaError
from mobsig.schema import TableSchema, conform, load_schema

log = logging.getLogger(__name__)

PartitionSpec = Mapping[str, Any]  # column -> value, list of values, or None (= all)


def sql_literal(value: Any) -> str:
    """A SQL literal for a partition value (dates, numbers, strings safely quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def partition_predicate(schema: TableSchema, spec: PartitionSpec) -> str | None:
    """SQL predicate selecting the partitions of ``spec`` (None = the whole table)."""
    unknown = [k for k in spec if k not in schema.partition_by]
    if unknown:
        raise SchemaError(
            f"table {schema.name}: {unknown} are not partition columns "
            f"(partitioned by {list(schema.partition_by)})")
    parts = []
    for col in schema.partition_by:
        value = spec.get(col)
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            values = sorted(value, key=str)
            if not values:
                raise SchemaError(f"table {schema.name}: empty value list for partition {col}")
            parts.append(f"`{col}` IN ({', '.join(sql_literal(v) for v in values)})")
        else:
            parts.append(f"`{col}` = {sql_literal(value)}")
    return " AND ".join(parts) if parts else None


class Catalog:
    """Names, paths, partitioning and schemas of the Delta tables under one warehouse."""

    def __init__(self, spark: SparkSession, warehouse: str | Path) -> None:
        self.spark = spark
        self.warehouse = Path(warehouse)

    def schema(self, name: str) -> TableSchema:
        s = load_schema(name)
        if s.kind == "input":
            raise SchemaError(f"{name} is an input contract, not a catalog table")
        return s

    def path(self, name: str) -> str:
        self.schema(name)
        return str(self.warehouse / name)

    def exists(self, name: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def ensure(self, name: str) -> None:
        """Create the table empty, with its schema and partitioning, if it does not exist."""
        if self.exists(name):
            return
        from delta.tables import DeltaTable

        s = self.schema(name)
        builder = DeltaTable.createIfNotExists(self.spark).location(self.path(name))
        builder = builder.addColumns(s.struct)
        if s.description:
            builder = builder.comment(s.description)
        if s.partition_by:
            builder = builder.partitionedBy(*s.partition_by)
        for key, value in s.properties:
            builder = builder.property(key, value)
        builder.execute()
        log.info("created table %s at %s", name, self.path(name))

    def read(self, name: str, **spec: Any) -> DataFrame:
        """Read a table, optionally only the partitions in ``spec`` (e.g. dt=date).

        A table that does not exist is an InputError (never created as a side effect)."""
        s = self.schema(name)
        if not self.exists(name):
            raise InputError(f"table {name} does not exist at {self.path(name)}")
        df = self.spark.read.format("delta").load(self.path(name))
        missing = [f.name for f in s.struct.fields if f.name not in df.columns]
        if missing and s.kind == "ops" and all(s.column(c).nullable for c in missing):
            # an ops table (runs) gains nullable columns in place (see append): rows
            # appended before a column existed read it as null
            for f in s.struct.fields:
                if f.name in missing:
                    df = df.withColumn(f.name, F.lit(None).cast(f.dataType))
            missing = []
        if missing:
            raise SchemaError(
                f"table {name} at {self.path(name)} lacks columns {missing} of its current "
                f"schema (schemas/{name}.json): it was written by an older mobsig. Re-run the "
                f"job that writes {name} for every partition into a new warehouse (or move "
                f"the table aside and re-run); whole-table outputs such as cells are "
                f"replaced by a plain re-run")
        pred = partition_predicate(s, spec)
        return df.where(pred) if pred else df

    def write(self, df: DataFrame, name: str, partition: PartitionSpec) -> None:
        """Replace exactly the partitions named in ``partition`` with ``df`` (atomic).

        ``partition`` maps partition columns to a value or list of values; a column not
        named (or None) means every value of it. Rows of ``df`` outside the named
        partitions make Delta refuse the commit, so nothing outside can be touched.
        """
        s = self.schema(name)
        out = conform(df, s)
        self.ensure(name)
        pred = partition_predicate(s, partition)
        writer = out.write.format("delta").mode("overwrite")
        if pred:
            writer = writer.option("replaceWhere", pred)
        else:  # the whole table is replaced: its schema may follow the current one
            writer = writer.option("overwriteSchema", "true")
        try:
            writer.save(self.path(name))
        except Exception as exc:
            text = str(exc)
            dropped = re.search(r"MISSING_NOT_NULL_COLUMN_VALUE\] Column (\S+),", text)
            if dropped:  # a NOT NULL column of the table that the current schema dropped
                raise SchemaError(
                    f"table {name} at {self.path(name)} has a NOT NULL column "
                    f"{dropped.group(1)} that schemas/{name}.json no longer has (written by "
                    f"an older mobsig): move the table aside and re-run the job that "
                    f"writes it for the partitions you need (README, Operating)") from exc
            if "NOT_NULL_CONSTRAINT" in text:
                col = text.split("for column:", 1)[-1].split(".")[0].strip()
                raise SchemaError(f"table {name}: null in a NOT NULL column: {col}") from exc
            if "SCHEMA_MISMATCH" in text or "schema mismatch" in text:
                raise SchemaError(
                    f"table {name} at {self.path(name)} has another schema than "
                    f"schemas/{name}.json (written by an older mobsig?): re-run the job for "
                    f"every partition into a new warehouse, or move the table aside") from exc
            if "DELTA_REPLACE_WHERE_MISMATCH" in text:
                raise SchemaError(
                    f"table {name}: rows outside the partition being replaced ({pred})") from exc
            raise
        log.info("wrote %s where %s", name, pred or "<whole table>")

    def append(self, df: DataFrame, name: str) -> None:
        """Append rows (ops tables such as ``runs`` only; data tables replace partitions)."""
        s = self.schema(name)
        if s.kind != "ops":
            raise SchemaError(f"table {name}: only ops tables are appended to; data tables "
                              "replace their partitions (Catalog.write)")
        self.ensure(name)
        # mergeSchema: a newer mobsig may append nullable columns to an existing ops table
        conform(df, s).write.format("delta").mode("append").option("mergeSchema", "true") \
            .save(self.path(name))

    def partitions(self, name: str, column: str) -> list[Any]:
        """Distinct values of a partition column (reads only the Delta log's file list)."""
        df = self.read(name).select(column).distinct()
        return sorted(r[0] for r in df.collect())

    def version(self, name: str) -> int:
        from delta.tables import DeltaTable

        hist = DeltaTable.forPath(self.spark, self.path(name)).history(1)
        return int(hist.select(F.col("version")).first()[0])
