"""Quality gates: readable failures with observed values, nothing written, kept results."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from mobsig.errors import DataQualityError
from mobsig.io.catalog import Catalog
from mobsig.quality import load_suite_dict, run_gate, structural_expectations, suite_names
from mobsig.runner import Output, gate_all_then_write
from mobsig.schema import load_schema

BOX = {"lon_min": 73.0, "lon_max": 136.0, "lat_min": 3.0, "lat_max": 54.0}


def cells(spark, rows):
    return spark.createDataFrame(rows, load_schema("cells_raw").struct)


GOOD = [("460-00-1-1", 104.06, 30.66, "wgs84", 120.0, 500.0, "4g", None, None),
        ("460-00-1-2", 104.06, 30.66, "gcj02", 240.0, 500.0, "4g", dt.date(2026, 6, 1),
         dt.date(2026, 6, 30))]


def test_every_suite_file_loads_and_is_named_after_itself():
    names = suite_names()
    assert {"cells_raw", "synth_events"} <= set(names)
    for n in names:
        d = load_suite_dict(n)
        assert d["expectations"], n
    exps = structural_expectations(load_schema("stays"))
    assert exps[0]["kwargs"]["column_set"] == load_schema("stays").names
    not_null = {e["kwargs"]["column"] for e in exps[1:]}
    assert not_null == {c.name for c in load_schema("stays").columns if not c.nullable}


def test_good_frame_passes_and_result_is_kept(spark, tmp_path):
    res = run_gate(cells(spark, GOOD), "cells_raw", params=BOX, results_dir=tmp_path,
                   label="dt=2026-06-01")
    assert res.success and not res.failures
    assert res.evaluated >= 10  # suite + structural expectations
    kept = json.loads(open(res.result_path, encoding="utf-8").read())
    assert kept["success"] is True and kept["label"] == "dt=2026-06-01"
    assert kept["params"]["lon_max"] == 136.0


def test_bad_frame_fails_with_named_expectations_and_values(spark, tmp_path):
    bad = GOOD + [
        ("460-00-1-3", 14.06, 30.66, "wgs84", 0.0, 500.0, "4g", None, None),      # lon
        ("460-00-1-4", 104.06, 30.66, "gcj-02", 0.0, 500.0, "4g", None, None),    # system
        ("460-00-1-5", 104.06, 30.66, "wgs84", 400.0, 500.0, "4g",                # azimuth,
         dt.date(2026, 6, 9), dt.date(2026, 6, 1)),                               # dates
    ]
    with pytest.raises(DataQualityError) as err:
        run_gate(cells(spark, bad), "cells_raw", params=BOX, results_dir=tmp_path)
    msg = str(err.value)
    assert "quality gate 'cells_raw' failed: 4 of" in msg
    assert "expect_column_values_to_be_between(column='lon', min_value=73.0, " \
           "max_value=136.0): 1 of 5 rows unexpected (20%), e.g. [14.06]" in msg
    assert "expect_column_values_to_be_in_set(column='coord_sys'" in msg
    assert "e.g. ['gcj-02']" in msg
    assert "column='azimuth'" in msg and "e.g. [400.0]" in msg
    assert "expect_column_pair_values_a_to_be_greater_than_b" in msg
    assert "validation result kept at" in msg
    assert err.value.result["success"] is False
    assert len(err.value.result["failed"]) == 4


def test_structural_failure_is_readable(spark):
    df = cells(spark, GOOD).drop("tech")
    with pytest.raises(DataQualityError, match=r"expect_table_columns_to_match_set\("
                                               r"expected columns cell_id, lon, .*tech"):
        run_gate(df, "cells_raw", params=BOX)


def test_every_check_of_a_passing_gate_is_one_spark_job(spark):
    """The structure, the NOT NULL columns and every row-level expectation of the suite
    are counted in one aggregate: a passing gate costs one Spark job, however many
    expectations it has; a failing one adds a small query per failed check (samples)."""
    frame = cells(spark, GOOD).cache()
    frame.count()
    tracker = spark.sparkContext.statusTracker()

    def jobs_of(group, **gate):
        spark.sparkContext.setJobGroup(group, group)
        res = run_gate(frame, **gate)
        return res, len(tracker.getJobIdsForGroup(group))

    full, n_full = jobs_of("gate-suite", suite="cells_raw", params=BOX)
    bare, n_bare = jobs_of("gate-structure", suite=None, schema="cells_raw")
    assert full.success and full.evaluated >= 10 and bare.evaluated == 5
    # one aggregate: AQE runs its stages as jobs (a distinct count, for uniqueness, adds
    # one), whatever the number of expectations
    assert n_bare <= 2 and n_full <= n_bare + 1
    assert full.metrics["n_rows"] == 2


def test_not_null_columns_are_named_with_their_numbers(spark):
    schema = load_schema("cells_raw")
    not_null = [c.name for c in schema.columns if not c.nullable]
    assert {"cell_id", "lon", "lat", "coord_sys"} <= set(not_null)
    from pyspark.sql import types as T

    rows = GOOD + [(None, None, 30.0, "wgs84", None, None, None, None, None)]
    loose = T.StructType([T.StructField(f.name, f.dataType, True) for f in schema.struct])
    with pytest.raises(DataQualityError) as err:
        run_gate(spark.createDataFrame(rows, loose), None, schema="cells_raw")
    msg = str(err.value)
    assert "failed: 2 of " in msg
    assert "expect_column_values_to_not_be_null(column='cell_id'): 1 of 3 rows" in msg
    assert "expect_column_values_to_not_be_null(column='lon'): 1 of 3 rows" in msg
    assert run_gate(cells(spark, GOOD), None, schema="cells_raw").success


def test_metrics_gate_needs_no_spark(spark):
    """Job-level metrics are validated as a one-row frame, without a Spark job."""
    spark.sparkContext.setJobGroup("metrics", "metrics gate")
    res = run_gate({"rows_read": 10, "quarantine_share": 0.01, "known_cell_share": 0.999},
                   "events_ingest", params={"max_quarantine_share": 0.05,
                                            "min_known_cell_share": 0.99})
    assert res.success and res.evaluated == 3
    with pytest.raises(DataQualityError, match=r"column='quarantine_share'.*observed 0\.2"):
        run_gate({"rows_read": 10, "quarantine_share": 0.2, "known_cell_share": 1.0},
                 "events_ingest", params={"max_quarantine_share": 0.05,
                                          "min_known_cell_share": 0.99})
    assert spark.sparkContext.statusTracker().getJobIdsForGroup("metrics") == []


def test_every_suite_uses_supported_expectations():
    from mobsig.quality import check_suite

    for n in suite_names():
        check_suite(load_suite_dict(n))


def test_parameters_come_from_configuration(spark):
    frame = cells(spark, GOOD)
    with pytest.raises(DataQualityError, match=r"column='lon', min_value=105\.0"):
        run_gate(frame, "cells_raw", params={**BOX, "lon_min": 105.0})


def test_warning_severity_only_logs(spark, caplog):
    rows = [(f"460-00-2-{i}", 104.0, 30.0, "wgs84", None, None, None, None, None)
            for i in range(5)]
    with caplog.at_level(logging.WARNING, logger="mobsig.quality"):
        res = run_gate(cells(spark, rows), "cells_raw", params=BOX)
    assert res.success
    assert [w["kwargs"]["column"] for w in res.warnings] == ["radius_m"]
    assert "gate cells_raw warning: expect_column_values_to_not_be_null(column='radius_m'" \
        in caplog.text


@pytest.mark.job
def test_failed_gate_writes_nothing(spark, tmp_path, monkeypatch):
    """The job path (conform, gate, write): a failing gate leaves the table as it was."""
    import mobsig.quality as q

    cat = Catalog(spark, tmp_path / "wh")
    day = dt.date(2026, 6, 1)

    def stays(n_events: int):
        return spark.createDataFrame(
            [(f"{i:032x}", dt.datetime(2026, 6, 1, 8), dt.datetime(2026, 6, 1, 9), 3600,
              104.0, 30.0, "c", "h", n_events, 0.0, 0.0, day) for i in range(3)],
            load_schema("stays").struct)

    # a suite that demands n_events >= 2
    suite = {"name": "stays_test", "meta": {}, "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "n_events", "min_value": 2}}]}
    original = q.load_suite_dict
    monkeypatch.setattr(q, "load_suite_dict",
                        lambda name: suite if name == "stays_test" else original(name))
    gate_all_then_write(cat, [Output(stays(5), "stays", {"dt": day}, suite="stays_test")])
    version = cat.version("stays")
    expected = (r"column='n_events', min_value=2\): "
                r"3 of 3 rows unexpected \(100%\), e\.g\. \[1, 1, 1\]")
    with pytest.raises(DataQualityError, match=expected):
        gate_all_then_write(cat, [Output(stays(1), "stays", {"dt": day}, suite="stays_test")])
    assert cat.version("stays") == version
    assert {r["n_events"] for r in cat.read("stays").collect()} == {5}


def test_bounds_are_validated_by_gx_in_one_frame():
    """Every numeric check is a row of one frame that GX validates with four pair
    expectations: inclusive and strict bounds, open bounds, a null value ignored."""
    from mobsig.quality import Bound, _gx_bounds

    checks = [Bound(5, 0, 5), Bound(5, 0, 5, strict_hi=True), Bound(0, 0, None),
              Bound(0, 0, None, strict_lo=True), Bound(None, 0, 1), Bound(-1, None, 3),
              Bound(4, None, 3), Bound(2.5, 2, 3, True, True), Bound(7, 8, 9)]
    ok, error = _gx_bounds("bounds", checks)
    assert error is None
    assert ok == [True, False, True, False, True, True, False, True, False]
    assert _gx_bounds("none", []) == ([], None)
