"""DataFrames of Python rows held in the JVM: no Python worker when they are read.

``spark.createDataFrame(rows, schema)`` of classic PySpark parallelizes the pickled rows,
and every scan of the frame runs a Python worker to re-serialize them (~0.1-0.25 s a scan
on the 2-core machine, measured 2026-12-05: README Tests). :func:`local_frame` converts the
rows with PySpark's own conversion of local data to Arrow (the one Spark Connect uses,
same value semantics: naive datetimes are local times, as in the classic path) and hands
the Arrow table to the JVM once, so the frame is scanned like any JVM relation.
Anything the conversion does not take (no schema, a schema it cannot parse, values that
do not fit) goes through ``createDataFrame`` unchanged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import types as T


def _struct(spark: SparkSession, schema: Any) -> T.StructType | None:
    from pyspark.sql import types as T

    if isinstance(schema, T.StructType):
        return schema
    if isinstance(schema, str):
        try:
            parsed = spark._jvm.org.apache.spark.sql.types.StructType.fromDDL(schema).json()
        except Exception:  # noqa: BLE001 - not a struct DDL: the classic path decides
            return None
        return T.StructType.fromJson(json.loads(parsed))
    return None


def local_frame(spark: SparkSession, data: Any, schema: Any = None, *args: Any,
                **kwargs: Any) -> DataFrame:
    """``spark.createDataFrame(data, schema)``, held in the JVM when ``data`` is a list of
    rows (tuples, Rows or dicts) and ``schema`` a StructType or a DDL string (any further
    argument of ``createDataFrame``: the classic path)."""

    def create(rows, struct):  # the class's method, whatever the session object carries
        return type(spark).createDataFrame(spark, rows, struct, *args, **kwargs)

    if args or kwargs:
        return create(data, schema)

    struct = _struct(spark, schema) if isinstance(data, (list, tuple)) and data else None
    if struct is None:
        return create(data, schema)
    from pyspark.sql.conversion import LocalDataToArrowConversion

    try:
        table = LocalDataToArrowConversion.convert(list(data), struct, False)
    except Exception:  # noqa: BLE001 - values the Arrow conversion does not take
        return create(data, schema)
    return create(table, struct)
