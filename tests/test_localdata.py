"""Small frames held in the JVM (mobsig.localdata) and the local profile's Python
workers (mobsig.pyworker): same rows as the classic paths, without their per-scan cost."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import sys

from pyspark.sql import Row

from mobsig.localdata import local_frame
from mobsig.pyworker import ARCHIVE, strip_archives

SCHEMA = ("s string, i int, b bigint, d double, t boolean, day date, ts timestamp, "
          "arr array<string>, st struct<x: double, y: double>, m map<string, bigint>, "
          "dec decimal(10,2)")
ROWS = [("a", 1, 2**40, 1.5, True, dt.date(2026, 6, 1), dt.datetime(2026, 6, 1, 8, 30, 15, 123456),
         ["x", "y"], (1.0, 2.0), {"k": 3}, decimal.Decimal("1.25")),
        (None,) * 11,
        ("é中", -1, -5, math.inf, False, dt.date(1970, 1, 1),
         dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC), [], Row(x=3.0, y=4.0),
         {}, decimal.Decimal("-3.10"))]


def _plan(df) -> str:
    return df._jdf.queryExecution().optimizedPlan().toString()


def test_local_frame_equals_the_classic_frame_and_is_a_local_relation(spark):
    classic = type(spark).createDataFrame(spark, ROWS, SCHEMA)
    local = local_frame(spark, ROWS, SCHEMA)
    assert local.schema == classic.schema
    assert local.collect() == classic.collect()
    assert local.collect()[0]["ts"] == dt.datetime(2026, 6, 1, 8, 30, 15, 123456)
    assert "LocalRelation" in _plan(local)
    assert "LocalRelation" not in _plan(classic)  # the classic frame is a Python RDD


def test_local_frame_falls_back_to_the_classic_path(spark):
    # column names only, no rows, a pandas frame: createDataFrame's own handling
    assert local_frame(spark, [("x", 1)], ["s", "i"]).collect() == [Row(s="x", i=1)]
    assert local_frame(spark, [], "s string").count() == 0
    assert local_frame(spark, [{"s": "q", "i": 3}], "s string, i int").collect() == [
        Row(s="q", i=3)]
    # values the Arrow conversion refuses: the classic path's own error
    try:
        local_frame(spark, [("x",)], "i int").collect()
    except Exception as exc:  # noqa: BLE001 - the classic verifier's message
        assert "IntegerType" in str(exc) or "int" in str(exc).lower()
    else:
        raise AssertionError("a string in an int column was accepted")


def test_python_workers_import_the_installed_pyspark(spark):
    """The local profile's daemon takes Spark's archives off the workers' sys.path."""
    def where(_rows):
        import pyspark

        yield (pyspark.__file__, [p for p in sys.path if ARCHIVE.search(p)])

    ((origin, archives),) = spark.sparkContext.parallelize([0], 1).mapPartitions(
        where).collect()
    assert archives == []
    assert origin.endswith("site-packages/pyspark/__init__.py")


def test_strip_archives_keeps_the_path_when_pyspark_is_only_in_an_archive(tmp_path):
    site = str(next(p for p in sys.path if p.endswith("site-packages")))
    zips = ["/spark/python/lib/pyspark.zip", "/spark/python/lib/py4j-0.10.9.9-src.zip",
            "/spark/jars/spark-core_2.13-4.0.1.jar"]
    assert strip_archives([*zips, "/jobs/deps.zip", site]) == ["/jobs/deps.zip", site]
    bare = [*zips, str(tmp_path)]
    assert strip_archives(bare) == bare
    assert strip_archives([site]) == [site]
