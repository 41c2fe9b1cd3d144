"""clean_events: duplicates, ping-pong, drift, heavy users, cell versions; the job on the city."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig.clean import (
    DRIFT,
    DROP_REASON,
    DUPLICATE,
    PINGPONG,
    UNLOCATED,
    annotate_events,
    cells_valid_on,
    flag_drift,
    flag_duplicates,
    flag_pingpong,
    heavy_users,
    with_cell_position,
)
from mobsig.config import CleanConfig

DAY = dt.date(2026, 6, 1)
T0 = dt.datetime(2026, 6, 1, 10, 0, 0)
USER = "u" * 20

EVENT_SCHEMA = T.StructType([
    T.StructField("user_id", T.StringType(), False),
    T.StructField("event_time", T.TimestampType(), False),
    T.StructField("cell_id", T.StringType(), False),
    T.StructField("event_type", T.StringType(), True),
    T.StructField("imei_tac", T.StringType(), True),
    T.StructField("home_region", T.StringType(), True),
    T.StructField("source_file", T.StringType(), True),
    T.StructField("dt", T.DateType(), False),
    T.StructField("region", T.StringType(), False),
])
CELL_SCHEMA = ("cell_id string, valid_from date, valid_to date, lon double, lat double, "
               "x_m double, y_m double, stay_radius_m double")

# a line of sites 1 km apart along x; sectors -1/-2 of one site share its position
SITES = {f"S{i}": (i * 1000.0, 0.0) for i in range(40)}
SITES["FAR"] = (30_000.0, 30_000.0)


def cell_rows():
    rows = []
    for site, (x, y) in SITES.items():
        for sector in (1, 2):
            rows.append((f"{site}-{sector}", None, None, 104.0 + x / 1e5, 30.6 + y / 1e5,
                         x, y, 500.0))
    return rows


@pytest.fixture(scope="module")
def cells(spark):
    return spark.createDataFrame(cell_rows(), CELL_SCHEMA)


def events(spark, rows, user=USER):
    """rows: (seconds after T0, cell_id[, event_type]) -> bronze-shaped frame."""
    out = []
    for r in rows:
        secs, cell = r[0], r[1]
        etype = r[2] if len(r) > 2 else "data"
        out.append((user, T0 + dt.timedelta(seconds=secs), cell, etype, "86000000", "510104",
                    "f.csv", DAY, "510104"))
    return spark.createDataFrame(out, EVENT_SCHEMA)


def located(spark, cells, rows, user=USER):
    return with_cell_position(events(spark, rows, user), cells_valid_on(cells, DAY))


def removed_by(df, flag):
    """Seconds (from T0) of the rows flagged, in time order."""
    rows = df.where(F.col(flag)).select("event_time").orderBy("event_time").collect()
    return [int((r[0] - T0).total_seconds()) for r in rows]


def pingpong(spark, cells, rows, **kw):
    args = {"window_s": 180, "max_records": 5, "max_dist_m": 3000.0,
            "event_types": ("handover",)}
    args.update(kw)
    return removed_by(flag_pingpong(located(spark, cells, rows), **args), "is_pingpong")


def drift(spark, cells, rows, vmax=120.0, min_dist=2000.0):
    return removed_by(flag_drift(located(spark, cells, rows), vmax, min_dist), "is_drift")


# ----------------------------------------------------------------------------- duplicates


def test_exact_duplicates_flagged_once_and_near_duplicates_kept(spark, cells):
    rows = [(0, "S0-1"), (0, "S0-1"), (0, "S0-1"), (0, "S0-1", "call"), (0, "S1-1"),
            (60, "S0-1", None), (60, "S0-1", None)]
    df = flag_duplicates(located(spark, cells, rows))
    flags = {(int((r.event_time - T0).total_seconds()), r.cell_id, r.event_type): 0
             for r in df.collect()}
    for r in df.collect():
        key = (int((r.event_time - T0).total_seconds()), r.cell_id, r.event_type)
        flags[key] += int(r.is_duplicate)
    # two extra copies of the data row, one extra copy of the null-type row; others unique
    assert flags == {(0, "S0-1", "data"): 2, (0, "S0-1", "call"): 0, (0, "S1-1", "data"): 0,
                     (60, "S0-1", None): 1}


# ----------------------------------------------------------------------------- ping-pong


def test_pingpong_simple_excursion_is_removed(spark, cells):
    rows = [(0, "S5-1"), (20, "S6-1", "handover"), (50, "S5-1", "handover"), (400, "S5-1")]
    assert pingpong(spark, cells, rows) == [20]


def test_pingpong_burst_and_several_b_records_are_removed(spark, cells):
    rows = [(0, "S5-1"), (10, "S6-1", "handover"), (20, "S6-2"), (30, "S4-1"),
            (40, "S6-1"), (70, "S5-2", "handover"), (900, "S5-1")]
    # sector S5-2 is the same site as S5-1: back at A
    assert pingpong(spark, cells, rows) == [10, 20, 30, 40]


def test_genuine_move_that_stays_is_not_pingpong(spark, cells):
    rows = [(0, "S5-1"), (20, "S6-1", "handover"), (50, "S6-1"), (90, "S6-2"),
            (600, "S6-1"), (1200, "S5-1", "handover")]
    assert pingpong(spark, cells, rows) == []


def test_return_after_the_window_is_not_pingpong(spark, cells):
    rows = [(0, "S5-1"), (20, "S6-1", "handover"), (200, "S5-1", "handover")]
    assert pingpong(spark, cells, rows) == []
    assert pingpong(spark, cells, rows, window_s=240) == [20]


def test_far_or_long_excursions_are_not_pingpong(spark, cells):
    far = [(0, "S5-1"), (20, "S9-1", "handover"), (50, "S5-1")]  # 4 km away
    assert pingpong(spark, cells, far) == []
    assert pingpong(spark, cells, far, max_dist_m=5000.0) == [20]
    long = [(0, "S5-1"), (10, "S6-1", "handover"), (20, "S6-1"), (30, "S6-1"), (40, "S6-1"),
            (50, "S5-1")]
    assert pingpong(spark, cells, long, max_records=3) == []
    assert pingpong(spark, cells, long, max_records=4) == [10, 20, 30, 40]


def test_pingpong_needs_a_handover_unless_types_are_open(spark, cells):
    rows = [(0, "S5-1"), (20, "S6-1", "data"), (50, "S5-1", "sms")]
    assert pingpong(spark, cells, rows) == []
    assert pingpong(spark, cells, rows, event_types=()) == [20]
    untyped = [(0, "S5-1"), (20, "S6-1", None), (50, "S5-1")]
    assert pingpong(spark, cells, untyped) == [20]


def test_oscillation_keeps_the_first_and_last_locations(spark, cells):
    rows = [(0, "S5-1"), (20, "S6-1", "handover"), (40, "S5-1", "handover"),
            (60, "S6-1", "handover"), (80, "S5-1", "handover")]
    out = pingpong(spark, cells, rows)
    assert 0 not in out and 80 not in out and 20 in out


def test_pingpong_is_per_user(spark, cells):
    a = events(spark, [(0, "S5-1"), (50, "S5-1")], user="a" * 20)
    b = events(spark, [(20, "S6-1", "handover")], user="b" * 20)
    df = with_cell_position(a.unionByName(b), cells_valid_on(cells, DAY))
    assert removed_by(flag_pingpong(df, 180, 5, 3000.0, ("handover",)), "is_pingpong") == []


# ----------------------------------------------------------------------------- drift


def test_drift_single_far_record_is_removed(spark, cells):
    rows = [(0, "S5-1"), (20, "FAR-1"), (45, "S5-1"), (100, "S5-1")]
    assert drift(spark, cells, rows) == [20]


def test_neighbouring_cells_seconds_apart_are_not_drift(spark, cells):
    rows = [(0, "S5-1"), (5, "S6-1"), (10, "S5-1")]  # 1 km in 5 s: fast but short
    assert drift(spark, cells, rows) == []
    assert drift(spark, cells, rows, min_dist=500.0) == [5]


def test_travel_is_not_drift(spark, cells):
    car = [(i * 60, f"S{i}-1") for i in range(10)]          # 60 km/h
    rail = [(i * 12, f"S{i}-1") for i in range(0, 40, 3)]   # 3 km in 12 s = 900 km/h
    assert drift(spark, cells, car) == []
    assert drift(spark, cells, rail, min_dist=100.0) == []


def test_first_and_last_records_are_never_drift(spark, cells):
    rows = [(0, "FAR-1"), (20, "S5-1"), (40, "S5-1"), (60, "FAR-1")]
    assert drift(spark, cells, rows) == []


# ----------------------------------------------------------------------------- cells, heavy users


def test_cell_version_valid_on_the_day_is_joined(spark):
    rows = [("C1", None, dt.date(2026, 5, 31), 104.0, 30.0, 0.0, 0.0, 500.0),
            ("C1", dt.date(2026, 6, 1), None, 104.1, 30.1, 10_000.0, 0.0, 600.0),
            ("C2", dt.date(2026, 6, 2), None, 104.2, 30.2, 20_000.0, 0.0, 700.0)]
    cells = spark.createDataFrame(rows, CELL_SCHEMA)
    ev = events(spark, [(0, "C1"), (10, "C2")])
    out = {r.cell_id: (r.x_m, r.stay_radius_m)
           for r in with_cell_position(ev, cells_valid_on(cells, DAY)).collect()}
    assert out == {"C1": (10_000.0, 600.0), "C2": (None, None)}


def test_annotate_accounts_for_every_row(spark, cells):
    normal = [(0, "S5-1"), (0, "S5-1"), (20, "S6-1", "handover"), (50, "S5-1", "handover"),
              (80, "FAR-1"), (100, "S5-1"), (130, "NOPE-1"), (200, "S5-1")]
    heavy = [(i, "S1-1") for i in range(12)] + [(3, "S1-1"), (5, "S2-1", "handover"),
                                                 (6, "S1-1")]
    ev = events(spark, normal, user="n" * 20).unionByName(events(spark, heavy, user="h" * 20))
    loc = with_cell_position(ev, cells_valid_on(cells, DAY))
    hv = heavy_users(ev, 10)
    assert [r.user_id for r in hv.collect()] == ["h" * 20]
    params = CleanConfig()
    out = annotate_events(loc, hv, params)
    assert out.count() == ev.count()
    got = {}
    for r in out.collect():
        key = (r.user_id[0], int((r.event_time - T0).total_seconds()), r.cell_id)
        got.setdefault(key, []).append((r[DROP_REASON], r.is_heavy_user))
    assert sorted(got[("n", 0, "S5-1")], key=str) == [(DUPLICATE, False), (None, False)]
    assert got[("n", 20, "S6-1")] == [(PINGPONG, False)]
    assert got[("n", 80, "FAR-1")] == [(DRIFT, False)]
    assert got[("n", 130, "NOPE-1")] == [(UNLOCATED, False)]
    assert got[("n", 200, "S5-1")] == [(None, False)]
    # heavy user: one duplicate removed, the A-B-A pattern kept (no per-user cleaning)
    assert sorted(got[("h", 3, "S1-1")], key=str) == [(DUPLICATE, True), (None, True)]
    assert got[("h", 5, "S2-1")] == [(None, True)]
    heavy_kept = [k for k, v in got.items() if k[0] == "h" for x in v if x[0] is None]
    assert len(heavy_kept) == 13


def test_heavy_users_never_enter_the_per_user_sort(spark, cells):
    ev = events(spark, [(i, "S1-1") for i in range(5)], user="h" * 20)
    loc = with_cell_position(ev, cells_valid_on(cells, DAY))
    out = annotate_events(loc, heavy_users(ev, 3), CleanConfig())
    plan = out._jdf.queryExecution().executedPlan().toString()
    # the heavy branch de-duplicates by a window over the raw key, not by user + time
    assert out.where(F.col("is_heavy_user")).count() == 5
    assert "BroadcastHashJoin" in plan or "BroadcastNestedLoopJoin" in plan


def test_config_rejects_bad_clean_parameters():
    from mobsig.config import build_config
    from mobsig.errors import ConfigError

    with pytest.raises(ConfigError, match="pingpong_max_records"):
        build_config({"clean": {"pingpong_max_records": 0}})
    cfg = build_config({}, ["clean.pingpong_event_types="])
    assert cfg.clean.pingpong_event_types == ()
    assert dataclasses.asdict(CleanConfig())["drift_min_dist_m"] == 2000.0
