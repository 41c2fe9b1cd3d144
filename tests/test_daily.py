"""The daily pass (mobsig.daily): one shuffle that cleans and folds gives exactly what the
Spark window cleaning (clean.annotate_events) followed by the separate stay fold
(stays.fold_stays) gives, on random days with every kind of fault, a heavy card, IoT cards
and a carry from the day before; and its counts reconcile."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
from pyspark.sql import types as T

from mobsig import clean, daily
from mobsig import stays as S
from mobsig.config import CleanConfig
from mobsig.flags import card_tac, iot_tacs
from tests.factories import EVENT_SCHEMA

DAY = dt.date(2026, 6, 2)
TZ = "Asia/Shanghai"
LON0, LAT0 = 104.0, 30.6

CELL_SCHEMA = T.StructType([T.StructField(c, t, True) for c, t in (
    ("cell_id", T.StringType()), ("region", T.StringType()), ("lon", T.DoubleType()),
    ("lat", T.DoubleType()), ("x_m", T.DoubleType()), ("y_m", T.DoubleType()),
    ("spacing_m", T.DoubleType()), ("svc_lon", T.DoubleType()), ("svc_lat", T.DoubleType()),
    ("is_hsr", T.BooleanType()))])


def _cells():
    """A 6 x 6 grid of sites 400 m apart (two sectors each), a far site 30 km out, and
    HSR cells along one row."""
    rows = []
    for i in range(6):
        for j in range(6):
            x, y = 400.0 * i, 400.0 * j
            for sec in ("a", "b"):
                rows.append((f"c{i}{j}{sec}", "990101" if i < 3 else "990102",
                             LON0 + x / 1e5, LAT0 + y / 1e5, x, y, 300.0 + 100 * (i % 3),
                             LON0 + x / 1e5 + 1e-4, LAT0 + y / 1e5, sec == "b" and j == 0))
    rows.append(("far", "990102", LON0 + 0.3, LAT0, 30000.0, 0.0, 2000.0, LON0 + 0.3, LAT0,
                 False))
    return rows


def _day(seed: int, n_users: int = 30):
    """Bronze rows of one day: random walks over the grid with dwell, ping-pong, drift,
    exact duplicates, unknown cells, null fields, one heavy card and IoT TACs."""
    rng = random.Random(seed)
    cells = [c[0] for c in _cells()]
    t0 = dt.datetime.combine(DAY, dt.time(0), ZoneInfo(TZ))
    out = []
    for u in range(n_users):
        user = f"s{seed}u{u:02d}"
        n = 400 if u == 0 else rng.randint(5, 90)  # u00: the heavy card
        tac = rng.choice(["86000001", "35000002", " 86000001 ", None, "99999999", ""])
        t = rng.uniform(0, 3600)
        here = rng.choice(cells[:-1])
        for _ in range(n):
            steps = [5, 30, 60, 120] if u == 0 else [5, 30, 60, 120, 600, 1800, 3000]
            t += rng.choice(steps) * rng.random()
            if t >= 86400:
                break
            r = rng.random()
            if r < 0.15:
                here = rng.choice(cells[:-1])
            cell = here
            if r > 0.93:
                cell = "far"  # drift or a real trip
            elif r > 0.88:
                cell = rng.choice(cells[:-1])  # a neighbour (ping-pong) or a jump
            elif r > 0.87:
                cell = "nowhere"  # no version on the day: unlocated
            et = rng.choice(["handover", "data", None, "call"])
            when = t0 + dt.timedelta(seconds=round(t, 3 if r < 0.5 else 0))
            row = (user, when, cell, et, tac, rng.choice([None, "990101"]), "f.csv", DAY,
                   "990101")
            out.append(row)
            if rng.random() < 0.05:  # exact duplicates, sometimes several
                out.extend([row] * rng.randint(1, 3))
    for k in range(6):  # at one place until midnight: a run still open at the horizon
        out.append((f"s{seed}late", t0 + dt.timedelta(hours=23, minutes=10 * k), "c33a",
                    "data", None, None, "f.csv", DAY, "990101"))
    return out


def _carry(spark):
    """Open records of two users from the evening before, and a last stay."""
    prev = dt.datetime.combine(DAY, dt.time(0), ZoneInfo(TZ)) - dt.timedelta(hours=2)
    rows = []
    for u, cell, x in (("s1u01", "c00a", 0.0), ("s1u02", "c11a", 400.0)):
        for k in range(4):
            rows.append((u, "open_record", prev + dt.timedelta(minutes=25 * k), None, None,
                         cell, LON0 + x / 1e5 + 1e-4, LAT0 + x / 1e5, x, x, 500.0, None, DAY))
    rows.append(("s1u03", "last_stay", None, prev - dt.timedelta(hours=3), prev, "c22a",
                 LON0, LAT0, 800.0, 800.0, None, "8a0000000000000", DAY))
    schema = T.StructType([T.StructField(c, t, True) for c, t in (
        ("user_id", T.StringType()), ("kind", T.StringType()), ("event_time", T.TimestampType()),
        ("stay_start", T.TimestampType()), ("stay_end", T.TimestampType()),
        ("cell_id", T.StringType()), ("lon", T.DoubleType()), ("lat", T.DoubleType()),
        ("x_m", T.DoubleType()), ("y_m", T.DoubleType()), ("stay_radius_m", T.DoubleType()),
        ("h3", T.StringType()), ("dt", T.DateType()))])
    return spark.createDataFrame(rows, schema)


@pytest.fixture(scope="module")
def both(spark):
    """The old two-step result and the daily pass on the same random days."""
    params = CleanConfig(heavy_user_events_per_day=300)
    bronze = spark.createDataFrame([r for s in range(1, 5) for r in _day(s)], EVENT_SCHEMA)
    cells = spark.createDataFrame(_cells(), CELL_SCHEMA)
    carry = _carry(spark)
    tac = spark.createDataFrame([("86000001", "IoT Module"), ("35000002", "smartphone")],
                                "tac string, device_type string")
    horizon = S.horizon_micros(DAY, TZ)
    rule = S.StayRule.of(30, 1.0, horizon, excursion_max_m=3000.0)  # excursions too
    radius = S.StayRadius(1.5, 500.0, 1000.0)
    # the two steps
    located = clean.with_cell_position(bronze, cells)
    annotated = clean.annotate_events(located, clean.heavy_users(bronze, 300), params)
    kept = clean.kept(annotated)
    iot = card_tac(kept, tac, ["iot module"]).where("is_iot_tac").select("user_id")
    records = (S.to_kernel_input(S.filter_stay_users(kept, iot), radius)
               .unionByName(S.carry_open_records(carry)))
    old = {"events": kept.select(*daily.EVENT_COLUMNS),
           "fold": S.fold_stays(records, rule),
           "reasons": {r[0]: r[1] for r in annotated.groupBy(C_REASON).count().collect()}}
    # the pass (a small batch size: users are split across Arrow batches)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "97")
    try:
        p = daily.PassParams(params, rule, radius, iot_tacs(tac, ["iot module"]))
        passed = daily.day_pass(daily.pass_input(bronze, cells, carry), p, partitions=3).cache()
        new = {"events": daily.events_of(passed), "fold": daily.fold_of(passed),
               "counts": daily.pass_counts(passed)}
        yield bronze.count(), old, {k: v.collect() if k != "counts" else v
                                    for k, v in new.items()}, old["events"].collect()
        passed.unpersist()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


C_REASON = clean.DROP_REASON


def _rows(rows):
    return sorted(tuple((v is None, v) for v in r) for r in rows)


def test_events_equal_the_window_cleaning(both):
    _, old, new, old_events = both
    assert len(old_events) > 2000
    assert _rows(new["events"]) == _rows(old_events)


def test_stays_and_open_records_equal_the_separate_fold(both):
    _, old, new, _ = both
    fold_old = old["fold"].collect()
    assert sum(r["kind"] == "stay" for r in fold_old) > 50
    assert any(r["kind"] == "open_stay" for r in fold_old)  # summaries of open stays
    assert _rows(new["fold"]) == _rows(fold_old)


def test_counts_reconcile_and_match(both):
    n_bronze, old, new, _ = both
    c = new["counts"]
    reasons = old["reasons"]
    assert c[daily.KEPT] == reasons.get(None, 0)
    for r in clean.REASONS:
        assert c[r] == reasons.get(r, 0), r
        assert c[r] > 0, r  # every fault occurs in the random days
    assert n_bronze == c[daily.KEPT] + sum(c[r] for r in clean.REASONS)
    assert c[daily.HEAVY_USERS] == 4  # u00 of each seed
    assert c[daily.CARRY_IN] == 8 and c[daily.NOT_UNIQUE] == 0
    assert c[daily.STAY_EXCLUDED] > c[daily.KEPT_HEAVY] > 0  # heavy and IoT cards
    assert c[daily.EXCURSIONS] > 0  # lone records at neighbouring sites (same in both)


def test_kept_events_of_heavy_cards_are_flagged(both):
    _, _, new, _ = both
    heavy = {r["user_id"] for r in new["events"] if r["is_heavy_user"]}
    assert heavy == {f"s{s}u00" for s in range(1, 5)}
