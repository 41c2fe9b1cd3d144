"""Table schemas from ``schemas/*.json``: the single source of truth for columns and types.

Readers, the final ``select`` before a write (``conform``), table creation and the
structural expectations all use these.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from mobsig.errors import SchemaError

_SIMPLE = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "float": T.FloatType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
    "binary": T.BinaryType(),
}


def parse_type(text: str) -> T.DataType:
    """Parse the small type language of the schema files (simple types, array<...>)."""
    t = text.strip().lower()
    if t in _SIMPLE:
        return _SIMPLE[t]
    if t.startswith("array<") and t.endswith(">"):
        return T.ArrayType(parse_type(t[6:-1]))
    raise ValueError(f"unsupported type {text!r} in a schema file")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    doc: str


@dataclass(frozen=True)
class TableSchema:
    name: str
    kind: str  # input, internal, export, ops
    description: str
    partition_by: tuple[str, ...]
    columns: tuple[Column, ...]
    # Delta table properties set when the table is created (schemas/<name>.json
    # "table_properties"), e.g. no per-file column statistics on the day-size event tables
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def struct(self) -> T.StructType:
        return T.StructType(
            [T.StructField(c.name, parse_type(c.type), c.nullable) for c in self.columns])

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@functools.cache
def load_schema(name: str) -> TableSchema:
    """The schema of a table, from the packaged ``schemas/<name>.json``."""
    try:
        text = resources.files("mobsig.schemas").joinpath(f"{name}.json").read_text("utf-8")
    except FileNotFoundError:
        raise SchemaError(f"no schema file schemas/{name}.json; known: {schema_names()}") from None
    d = json.loads(text)
    cols = tuple(Column(c["name"], c["type"], bool(c.get("nullable", True)), c.get("doc", ""))
                 for c in d["columns"])
    for c in cols:
        parse_type(c.type)
    props = d.get("table_properties", {})
    bad = [k for k in props if not k.startswith("delta.")]
    if bad:
        raise SchemaError(f"schemas/{name}.json: table_properties must be delta.* keys, got {bad}")
    schema = TableSchema(d["name"], d["kind"], d.get("description", ""),
                         tuple(d.get("partition_by", [])), cols,
                         tuple(sorted((k, str(v)) for k, v in props.items())))
    missing = [p for p in schema.partition_by if p not in schema.names]
    if missing:
        raise SchemaError(f"schemas/{name}.json: partition columns {missing} are not columns")
    return schema


def schema_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("mobsig.schemas").iterdir()
                  if p.name.endswith(".json"))


def conform(df: DataFrame, schema: TableSchema) -> DataFrame:
    """Select the schema's columns in order, or raise SchemaError naming every mismatch.

    Missing columns, extra columns and type differences are errors (no silent casts, no
    dropped columns). Nullability is enforced by Delta at write time.
    """
    actual = {f.name: f.dataType for f in df.schema.fields}
    expected = {c.name: parse_type(c.type) for c in schema.columns}
    problems = []
    missing = [n for n in expected if n not in actual]
    extra = [n for n in actual if n not in expected]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"unexpected columns {extra}")
    for n, t in expected.items():
        if n in actual and actual[n] != t:
            problems.append(
                f"column {n!r} has type {actual[n].simpleString()}, expected {t.simpleString()}")
    if problems:
        raise SchemaError(f"table {schema.name}: " + "; ".join(problems))
    return df.select(*schema.names)
