"""Schemas and the Delta catalog: enforcement, partition replacement, idempotent re-runs."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from mobsig.errors import SchemaError
from mobsig.io.catalog import Catalog, partition_predicate
from mobsig.schema import conform, load_schema, schema_names

D1, D2 = dt.date(2026, 6, 1), dt.date(2026, 6, 2)


def stays_frame(spark, day: dt.date, users: list[str], shift_s: int = 0):
    rows = []
    for i, u in enumerate(users):
        start = dt.datetime.combine(day, dt.time(8, 0)) + dt.timedelta(seconds=shift_s + i)
        end = start + dt.timedelta(hours=2)
        rows.append((u, start, end, 7200, 104.06 + i * 1e-3, 30.66, "460-00-1-1",
                     "8940c2a0bffffff", 12, 0.0, 0.0, day))
    return spark.createDataFrame(rows, load_schema("stays").struct)


def sorted_rows(df):
    return sorted(tuple(r) for r in df.collect())


def test_every_contract_table_has_a_schema():
    names = set(schema_names())
    for t in ("events_bronze", "events_quarantine", "events_clean", "user_flags", "stays",
              "moves", "home_work", "expansion_factors", "population_by_unit", "cells",
              "raw_events", "cells_raw", "runs"):
        assert t in names
    s = load_schema("events_bronze")
    assert s.partition_by == ("dt", "region")
    assert s.column("user_id").nullable is False
    assert load_schema("population_by_unit").kind == "export"
    assert "user_id" not in load_schema("population_by_unit").names


def test_conform_names_every_mismatch(spark):
    df = stays_frame(spark, D1, ["a" * 32])
    with pytest.raises(SchemaError, match=r"missing columns \['h3'\]"):
        conform(df.drop("h3"), load_schema("stays"))
    with pytest.raises(SchemaError, match=r"unexpected columns \['extra'\]"):
        conform(df.withColumn("extra", F.lit(1)), load_schema("stays"))
    with pytest.raises(SchemaError,
                       match=r"column 'duration_s' has type int, expected bigint"):
        conform(df.withColumn("duration_s", F.col("duration_s").cast("int")),
                load_schema("stays"))
    out = conform(df.select(*reversed(df.columns)), load_schema("stays"))
    assert out.columns == load_schema("stays").names


def test_partition_predicates():
    s = load_schema("events_bronze")
    assert partition_predicate(s, {"dt": D1}) == "`dt` = DATE'2026-06-01'"
    assert (partition_predicate(s, {"dt": D1, "region": ["990102", "990101"]})
            == "`dt` = DATE'2026-06-01' AND `region` IN ('990101', '990102')")
    assert partition_predicate(s, {"region": "99'01"}) == "`region` = '99\\'01'"
    assert partition_predicate(s, {}) is None
    with pytest.raises(SchemaError, match=r"\['month'\] are not partition columns"):
        partition_predicate(s, {"month": "2026-06"})


@pytest.mark.job
def test_delta_round_trip_and_replace_where_idempotent(spark, warehouse):
    cat = Catalog(spark, warehouse)
    users = [f"{i:032x}" for i in range(5)]
    cat.write(stays_frame(spark, D1, users), "stays", {"dt": D1})
    cat.write(stays_frame(spark, D2, users[:3]), "stays", {"dt": D2})
    assert cat.exists("stays")
    back = cat.read("stays")
    assert back.count() == 8
    assert cat.read("stays", dt=D2).count() == 3
    assert back.schema == load_schema("stays").struct
    before = sorted_rows(cat.read("stays"))
    v_before = cat.version("stays")

    # re-running D1 with the same input gives an identical table
    cat.write(stays_frame(spark, D1, users), "stays", {"dt": D1})
    assert sorted_rows(cat.read("stays")) == before
    assert cat.version("stays") == v_before + 1
    assert_df_equality(cat.read("stays", dt=D1), stays_frame(spark, D1, users),
                       ignore_row_order=True, ignore_nullable=True)

    # a changed D1 replaces exactly D1; D2 is untouched
    cat.write(stays_frame(spark, D1, users[:2], shift_s=60), "stays", {"dt": D1})
    assert cat.read("stays", dt=D1).count() == 2
    assert sorted_rows(cat.read("stays", dt=D2)) == sorted_rows(
        stays_frame(spark, D2, users[:3]))


@pytest.mark.job
def test_rejected_writes_leave_the_table_unchanged(spark, warehouse):
    cat = Catalog(spark, warehouse)
    users = [f"{i:032x}" for i in range(3)]
    cat.write(stays_frame(spark, D1, users), "stays", {"dt": D1})
    version, before = cat.version("stays"), sorted_rows(cat.read("stays"))
    # rows of D2 written while claiming to replace D1
    with pytest.raises(SchemaError, match=r"rows outside the partition being replaced"):
        cat.write(stays_frame(spark, D2, users), "stays", {"dt": D1})
    # a null in a NOT NULL column
    bad = stays_frame(spark, D1, users).withColumn(
        "cell_id", F.when(F.col("n_events") > 0, F.lit(None).cast("string")))
    with pytest.raises(SchemaError, match=r"null in a NOT NULL column"):
        cat.write(bad, "stays", {"dt": D1})
    assert cat.version("stays") == version
    assert sorted_rows(cat.read("stays")) == before


@pytest.mark.job
def test_two_level_partitions_replace_only_named_regions(spark, warehouse):
    cat = Catalog(spark, warehouse)
    schema = load_schema("events_bronze").struct

    def frame(region: str, n: int, tag: str):
        return spark.createDataFrame(
            [(f"{i:032x}", dt.datetime(2026, 6, 1, 9, i), "460-00-1-1", tag, None, None,
              "f.csv", D1, region) for i in range(n)], schema)

    cat.write(frame("990101", 3, "a").unionByName(frame("990102", 2, "a")), "events_bronze",
              {"dt": D1})
    cat.write(frame("990102", 4, "b"), "events_bronze", {"dt": D1, "region": ["990102"]})
    counts = {r["region"]: (r["n"], r["t"]) for r in cat.read("events_bronze").groupBy(
        "region").agg(F.count("*").alias("n"), F.max("event_type").alias("t")).collect()}
    assert counts == {"990101": (3, "a"), "990102": (4, "b")}
    with pytest.raises(SchemaError, match="is an input contract"):
        cat.path("raw_events")


@pytest.mark.job
def test_event_tables_keep_row_counts_but_no_column_statistics(spark, warehouse):
    """events_bronze and events_clean are created with delta.dataSkippingNumIndexedCols = 0
    (schemas' table_properties): their files carry numRecords but no per-column min/max,
    which nothing reads (every read filters on the partition columns) and which cost ~7 s
    of CPU per 10^7-row write (README, Benchmark). Other tables keep Delta's default."""
    import json
    from pathlib import Path

    cat = Catalog(spark, warehouse)
    schema = load_schema("events_bronze").struct
    rows = [(f"{i:032x}", dt.datetime(2026, 6, 1, 9, i), "460-00-1-1", "call", None, None,
             "f.csv", D1, "990101") for i in range(5)]
    cat.write(spark.createDataFrame(rows, schema), "events_bronze", {"dt": D1})
    cat.write(stays_frame(spark, D1, ["u1", "u2"]), "stays", {"dt": D1})
    props = {r["key"]: r["value"] for r in spark.sql(
        f"SHOW TBLPROPERTIES delta.`{cat.path('events_bronze')}`").collect()}
    assert props.get("delta.dataSkippingNumIndexedCols") == "0"

    def file_stats(table: str) -> list[dict]:
        out = []
        for f in sorted(Path(cat.path(table), "_delta_log").glob("*.json")):
            for line in f.read_text("utf-8").splitlines():
                add = json.loads(line).get("add")
                if add:
                    out.append(json.loads(add["stats"]))
        return out

    bronze = file_stats("events_bronze")
    assert sum(s["numRecords"] for s in bronze) == 5
    assert all(not s.get("minValues") for s in bronze), bronze
    assert any(s.get("minValues") for s in file_stats("stays"))


@pytest.mark.job
def test_table_from_an_older_schema_is_a_clear_schema_error(spark, warehouse):
    """A warehouse written before a column was added (e.g. svc_lon in cells and
    events_clean): reads and partition writes name the missing columns; a whole-table
    output is simply replaced by a re-run."""
    cat = Catalog(spark, str(warehouse))
    old = stays_frame(spark, D1, ["a", "b"]).drop("n_events")  # 'older' stays table
    old.write.format("delta").partitionBy("dt").save(cat.path("stays"))
    with pytest.raises(SchemaError, match=r"stays .* lacks columns \['n_events'\]"):
        cat.read("stays", dt=D1)
    with pytest.raises(SchemaError, match="older mobsig"):
        cat.write(stays_frame(spark, D2, ["c"]), "stays", {"dt": D2})
    # whole-table output (cells: no partition columns): a re-run replaces table and schema
    from pyspark.sql import types as T

    sample = {T.StringType: "x", T.DoubleType: 1.0, T.DateType: D1, T.BooleanType: False,
              T.BinaryType: b"\x00", T.IntegerType: 1, T.LongType: 1}
    struct = load_schema("cells").struct
    row = tuple(sample[type(f.dataType)] for f in struct.fields)
    full = spark.createDataFrame([row], struct)
    full.drop("svc_lon", "svc_lat").write.format("delta").save(cat.path("cells"))
    with pytest.raises(SchemaError, match=r"lacks columns \['svc_lon', 'svc_lat'\]"):
        cat.read("cells")
    cat.write(full, "cells", {})
    assert cat.read("cells").select("svc_lon").first()[0] == 1.0


@pytest.mark.job
def test_table_with_a_column_the_schema_dropped_is_a_clear_schema_error(spark, warehouse):
    """events_clean written before it stopped storing each event's cell position (lon ..
    svc_lat, NOT NULL then): it is still read (the readers select their columns), and a
    partition write names the dropped column and the remedy instead of Delta's
    NOT NULL error."""
    from delta.tables import DeltaTable
    from pyspark.sql import types as T

    cat = Catalog(spark, str(warehouse))
    s = load_schema("events_clean")
    old = T.StructType(s.struct.fields[:3] + [T.StructField("lon", T.DoubleType(), False)]
                       + s.struct.fields[3:])
    (DeltaTable.create(spark).location(cat.path("events_clean")).addColumns(old)
     .partitionedBy(*s.partition_by).execute())
    sample = {T.StringType: "x", T.DoubleType: 1.0, T.DateType: D1, T.BooleanType: False,
              T.TimestampType: dt.datetime(2026, 6, 1, 8)}
    row = tuple(sample[type(f.dataType)] for f in s.struct.fields)
    spark.createDataFrame([row[:3] + (104.0,) + row[3:]], old).write.format("delta") \
        .mode("append").save(cat.path("events_clean"))
    assert cat.read("events_clean", dt=D1).select(*s.names).count() == 1
    with pytest.raises(SchemaError, match=r"events_clean .* NOT NULL column lon that "
                                          r"schemas/events_clean.json no longer has"):
        cat.write(spark.createDataFrame([row], s.struct), "events_clean",
                  {"dt": D1, "region": "x"})


def test_reading_a_missing_table_is_an_input_error(spark, warehouse):
    """A read never creates the table it was asked for."""
    from mobsig.errors import InputError

    cat = Catalog(spark, str(warehouse))
    with pytest.raises(InputError, match=r"table stays does not exist at .*warehouse/stays"):
        cat.read("stays", dt=D1)
    assert not cat.exists("stays")
