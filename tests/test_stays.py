"""Stays and moves: the numpy fold against a brute-force reference, Spark-level properties
on tiny frames, the carry across midnight, and precision/recall on the synthetic city.

City input: the shared pipeline run (conftest ``chain``: ingest -> clean -> stays).
"""

from __future__ import annotations

import datetime as dt
import json
import random

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig.io.catalog import Catalog
from mobsig.runs import read_runs
from mobsig.stays import (
    StayRadius,
    StayRule,
    carry_open_records,
    find_stays,
    fold_stays,
    merge_stays,
    moves_between_stays,
    open_records_from_fold,
    stays_from_fold,
    to_kernel_input,
)
from tests.conftest import make_config
from tests.factories import match_stays, persisted, write_day_inputs

MIN = 60_000_000  # microseconds
TZ = "Asia/Shanghai"
DAY1 = dt.date(2026, 6, 1)
BIG_HORIZON = 10**17  # far future: every run is closed


# --------------------------------------------------------------------------------------
# brute force reference: the textbook slide-by-one loop, record by record


def reference_stays(t, x, y, r, tau_us, cap_us, horizon_us):
    """(stays, open_start) of one user, by the literal definition."""
    n = len(t)
    out, i = [], 0
    while i < n:
        j = i + 1
        while (j < n and t[j] - t[j - 1] <= cap_us
               and (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2 <= max(r[i], r[j]) ** 2):
            j += 1
        is_open = j == n and horizon_us - t[n - 1] <= cap_us
        if is_open:
            return out, i
        if t[j - 1] - t[i] >= tau_us:
            out.append((i, j))
            i = j
        else:
            i += 1
    return out, None


def reference_merge(stays, open_start, t, x, y, r, cap_us, horizon_us):
    """Chains of consecutive stays at the same place, and the carry start, by loops."""
    def centre(a, b):
        w = [((t[min(k + 1, b - 1)] - t[max(k - 1, a)]) / 2.0) for k in range(a, b)]
        return (sum(wi * x[k] for wi, k in zip(w, range(a, b), strict=True)) / sum(w),
                sum(wi * y[k] for wi, k in zip(w, range(a, b), strict=True)) / sum(w))
    chains = []
    for a, b in stays:
        if chains:
            pa_, pb = chains[-1][-1]
            (x0, y0), (x1, y1) = centre(pa_, pb), centre(a, b)
            if (t[a] - t[pb - 1] <= cap_us
                    and (x1 - x0) ** 2 + (y1 - y0) ** 2 <= max(r[a], r[pa_]) ** 2):
                chains[-1].append((a, b))
                continue
        chains.append([(a, b)])
    if open_start is not None and chains and horizon_us - t[chains[-1][-1][1] - 1] <= cap_us:
        open_start = chains.pop()[0][0]
    return chains, open_start


def random_user(rng, n):
    """A plausible trace: dwell at a few places, hop between them, irregular gaps, and
    now and then a single record at a far cell."""
    t = np.cumsum(rng.choice([1, 3, 7, 15, 40, 70, 150], size=n)) * MIN
    centres = rng.normal(0, 1500, size=(3, 2))
    place = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        place[i] = rng.integers(0, 3) if rng.random() < 0.15 else place[i - 1]
    xy = centres[place] + rng.normal(0, 250, size=(n, 2))
    far = rng.random(n) < 0.08
    xy[far] += 3000.0
    r = rng.choice([500.0, 1000.0], size=n)
    return t.astype(np.int64), xy[:, 0], xy[:, 1], r


def check_against_reference(seed) -> int:
    """Fold + merge of random users equals the brute force; returns the merges seen."""
    rng = np.random.default_rng(seed)
    users = [random_user(rng, int(rng.integers(1, 120))) for _ in range(int(rng.integers(1, 6)))]
    tau, cap = int(rng.choice([10, 30, 60])) * MIN, 120 * MIN
    t = np.concatenate([u[0] for u in users])
    horizon = int(t.max()) + int(rng.choice([1, 60, 200])) * MIN
    rule = StayRule(tau, cap, horizon)
    new_user = np.concatenate([np.r_[True, np.zeros(len(u[0]) - 1, bool)] for u in users])
    seg = find_stays(new_user, t, np.concatenate([u[1] for u in users]),
                     np.concatenate([u[2] for u in users]),
                     np.concatenate([u[3] for u in users]), rule)
    want_stays, want_open, off = [], [], 0
    for u in users:
        s, o = reference_stays(*u, tau, cap, horizon)
        want_stays += [(a + off, b + off) for a, b in s]
        if o is not None:
            want_open.append((o + off, off + len(u[0])))
        off += len(u[0])
    assert list(zip(seg.stay_start.tolist(), seg.stay_end.tolist(), strict=True)) == want_stays
    assert list(zip(seg.open_start.tolist(), seg.open_end.tolist(), strict=True)) == want_open
    # merging consecutive stays at the same place (and the carry it implies)
    x, y, r = (np.concatenate([u[i] for u in users]) for i in (1, 2, 3))
    merged = merge_stays(seg, new_user, t, x, y, r, rule)
    want_chains, want_open, off = [], [], 0
    for u in users:
        s, o = reference_stays(*u, tau, cap, horizon)
        chains, o = reference_merge(s, o, *u, cap, horizon)
        want_chains += [[(a + off, b + off) for a, b in c] for c in chains]
        if o is not None:
            want_open.append((o + off, off + len(u[0])))
        off += len(u[0])
    got = list(zip(merged.stay_start.tolist(), merged.stay_end.tolist(), strict=True))
    assert got == [(c[0][0], c[-1][1]) for c in want_chains]
    assert list(zip(merged.open_start.tolist(), merged.open_end.tolist(), strict=True)) == want_open
    return sum(len(c) > 1 for c in want_chains)


@pytest.mark.parametrize("seed", range(40))
def test_fold_matches_brute_force(seed):
    check_against_reference(seed)


def test_brute_force_cases_cover_merges():
    assert sum(check_against_reference(seed) for seed in range(40)) >= 20


# --------------------------------------------------------------------------------------
# tiny frames through Spark

REC = T.StructType([T.StructField(c, t, False) for c, t in (
    ("user_id", T.StringType()), ("t_us", T.LongType()), ("cell_id", T.StringType()),
    ("lon", T.DoubleType()), ("lat", T.DoubleType()), ("x_m", T.DoubleType()),
    ("y_m", T.DoubleType()), ("stay_radius_m", T.DoubleType()))])

LON0, LAT0 = 104.0, 30.6
T0 = 1_780_243_200_000_000  # 2026-06-01 00:00 Asia/Shanghai in epoch µs


def rec(user, minute, cell, x, y=0.0, r=500.0):
    """One kernel record: position in metres, lon/lat a linear stand-in (1 deg ~ 100 km)."""
    return (user, T0 + int(minute * MIN), cell, LON0 + x / 1e5, LAT0 + y / 1e5, float(x),
            float(y), float(r))


def frame(spark, rows):
    return spark.createDataFrame(rows, REC)


def run_fold(spark, rows, tau_min=30.0, cap_h=2.0, horizon=BIG_HORIZON, partitions=None):
    folded = fold_stays(frame(spark, rows), StayRule.of(tau_min, cap_h, horizon), partitions)
    stays = stays_from_fold(folded, 9).orderBy("user_id", "stay_start").collect()
    opens = open_records_from_fold(folded).orderBy("user_id", "event_time").collect()
    return stays, opens


def test_single_cell_all_day_is_one_stay(spark):
    rows = [rec("u1", m, "c1", 0) for m in range(0, 24 * 60, 30)]
    stays, opens = run_fold(spark, rows)
    assert len(stays) == 1 and not opens
    s = stays[0]
    assert s["duration_s"] == (24 * 60 - 30) * 60
    assert s["n_events"] == 48 and s["cell_id"] == "c1"
    assert s["lon"] == pytest.approx(LON0) and s["lat"] == pytest.approx(LAT0)
    assert len(s["h3"]) == 15


def test_one_record_and_tau_infinity_give_nothing(spark):
    stays, _ = run_fold(spark, [rec("u1", 0, "c1", 0)])
    assert stays == []
    rows = [rec("u1", m, "c1", 0) for m in range(0, 600, 20)]
    stays, _ = run_fold(spark, rows, tau_min=1e9)
    assert stays == []


def test_durations_at_least_tau_and_weighted_centroid(spark):
    rng = random.Random(3)
    rows = []
    for u in range(6):
        m = 0.0
        for _ in range(80):
            m += rng.choice([2, 5, 11, 25, 50])
            rows.append(rec(f"u{u}", m, f"c{rng.randrange(4)}", rng.choice([0, 300, 2500, 6000]),
                            rng.choice([0, 200])))
    for tau in (10.0, 30.0, 90.0):
        stays, _ = run_fold(spark, rows, tau_min=tau)
        assert stays, tau
        assert all(s["duration_s"] >= tau * 60 and s["n_events"] >= 2 for s in stays)
    # duration weights: 10 min at x=0 then 50 min at x=400 (same stay) -> mean x = 240 m
    rows = [rec("w", 0, "a", 0), rec("w", 10, "b", 400), rec("w", 60, "b", 400),
            rec("w", 61, "z", 50_000)]
    (s,), _ = run_fold(spark, rows)
    # weights: a 5 min, b (10 -> 60) 25 + 25 min: x = (5*0 + 50*400) / 55
    assert s["lon"] == pytest.approx(LON0 + (50 * 400 / 55) / 1e5)
    assert s["cell_id"] == "b" and s["duration_s"] == 3600 and s["n_events"] == 3


def test_gap_above_cap_splits_and_gap_within_cap_continues(spark):
    base = [rec("u", m, "c1", 0) for m in (0, 20, 40)]
    later = [rec("u", m, "c1", 0) for m in (40 + 121, 40 + 141, 40 + 181)]
    stays, _ = run_fold(spark, base + later)  # 121 min gap > 2 h cap
    assert [(s["duration_s"], s["n_events"]) for s in stays] == [(2400, 3), (3600, 3)]
    within = [rec("u", m, "c1", 0) for m in (40 + 120, 40 + 140, 40 + 180)]
    stays, _ = run_fold(spark, base + within)  # exactly the cap: continues
    assert [(s["duration_s"], s["n_events"]) for s in stays] == [(220 * 60, 6)]
    moved = [rec("u", m, "c2", 3000) for m in (40 + 60, 40 + 100)]
    stays, _ = run_fold(spark, base + moved)  # a different place after the gap
    assert [s["cell_id"] for s in stays] == ["c1", "c2"]


def test_single_far_record_does_not_split_a_stay(spark):
    rows = ([rec("u", m, "home", 0) for m in (0, 60, 120)] + [rec("u", 150, "far", 2500)]
            + [rec("u", m, "home", 0) for m in (180, 240, 300)] + [rec("u", 400, "x", 9000)])
    (s,), _ = run_fold(spark, rows)
    assert (s["duration_s"], s["n_events"], s["cell_id"]) == (300 * 60, 7, "home")
    # the far record weighs (180 - 120) / 2 min of 300: the position moves 2500 m * 0.1
    assert s["x_m"] == pytest.approx(250.0)
    rows = ([rec("u", m, "home", 0) for m in (0, 60, 120)]
            + [rec("u", m, "far", 2500) for m in (130, 175)]  # a real 45 min visit
            + [rec("u", m, "home", 0) for m in (240, 300)])
    stays, _ = run_fold(spark, rows)
    assert [x["cell_id"] for x in stays] == ["home", "far", "home"]


def test_independent_of_row_order_and_partitioning(spark):
    rng = random.Random(7)
    rows = []
    for u in range(40):
        m = 0.0
        for _ in range(rng.randrange(1, 60)):
            m += rng.choice([0, 3, 9, 20, 45, 130])  # 0: same time, tie broken by cell
            rows.append(rec(f"user{u:03d}", m, f"c{rng.randrange(5)}",
                            rng.choice([0, 250, 700, 4000]), rng.choice([0, 400]),
                            rng.choice([500.0, 1000.0])))
    horizon = T0 + 1200 * MIN
    want = run_fold(spark, rows, horizon=horizon, partitions=1)
    assert want[0] and want[1]
    shuffled = rows[:]
    rng.shuffle(shuffled)
    for parts in (3, 7):
        df = frame(spark, shuffled).repartition(5)
        folded = fold_stays(df, StayRule.of(30, 2, horizon), parts)
        got = (stays_from_fold(folded, 9).orderBy("user_id", "stay_start").collect(),
               open_records_from_fold(folded).orderBy("user_id", "event_time").collect())
        assert got == want
    # small Arrow batches: users split across batches are folded whole
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
    try:
        assert run_fold(spark, shuffled, horizon=horizon, partitions=2) == want
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


def test_moves_link_consecutive_stays(spark):
    rows = ([rec("u", m, "home", 0) for m in range(0, 120, 20)]
            + [rec("u", m, "work", 3000, 4000) for m in range(150, 400, 25)])
    folded = fold_stays(frame(spark, rows), StayRule.of(30, 2, BIG_HORIZON))
    stays = stays_from_fold(folded, 9)
    empty = stays.limit(0)
    (mv,) = moves_between_stays(stays, empty, 24 * 3600).collect()
    assert mv["dist_m"] == pytest.approx(5000.0)
    assert mv["duration_s"] == 50 * 60
    assert mv["origin_h3"] != mv["dest_h3"]
    assert moves_between_stays(stays, empty, 10 * 60).count() == 0  # beyond the move gap


# --------------------------------------------------------------------------------------
# the stay radius: derived from the events' site spacing, kept as stored for carry rows


@pytest.mark.parametrize(("spacing", "radius"), [
    (None, None), (0.0, 500.0), (300.0, 500.0), (333.3, 500.0), (400.0, 600.0),
    (500.0, 750.0), (600.0, 900.0), (700.0, 1000.0), (5000.0, 1000.0)])
def test_stay_radius_is_the_clipped_spacing(spark, spacing, radius):
    r = StayRadius(1.5, 500.0, 1000.0)
    got = spark.createDataFrame([(spacing,)], "spacing_m double").select(
        r.column().alias("r")).first()["r"]
    assert got == radius
    if spacing is not None:  # bit for bit what ingest_cells stored before (numpy)
        assert got == float(np.clip(1.5 * spacing, 500.0, 1000.0))


def test_stay_radius_parameters_are_checked():
    with pytest.raises(ValueError, match="dense <= sparse"):
        StayRadius(1.5, 1000.0, 500.0)
    with pytest.raises(ValueError, match="factor > 0"):
        StayRadius(0.0, 500.0, 1000.0)


def test_kernel_input_radius_from_spacing_carry_radius_as_stored(spark):
    radius = StayRadius(1.5, 500.0, 1000.0)
    ev = ec_frame(spark, [ec_row("u", DAY1, 1, "a", 0), ec_row("u", DAY1, 2, "b", 100)])
    ev = ev.withColumn("spacing_m", F.when(F.col("cell_id") == "a", 300.0).otherwise(600.0))
    got = {r["cell_id"]: (r["stay_radius_m"], r["lon"])
           for r in to_kernel_input(ev, radius).collect()}
    assert got == {"a": (500.0, LON0), "b": (900.0, LON0 + 100 / 1e5)}
    carry = spark.createDataFrame(
        [("u", "open_record", dt.datetime(2026, 6, 1, 23), 104.5, 30.5, 1.0, 2.0, 777.0),
         ("u", "last_stay", None, 104.6, 30.6, 3.0, 4.0, None)],
        "user_id string, kind string, event_time timestamp, lon double, lat double, "
        "x_m double, y_m double, stay_radius_m double").withColumn("cell_id", F.lit("c"))
    rows = carry_open_records(carry).collect()
    assert [(r["lon"], r["x_m"], r["stay_radius_m"]) for r in rows] == [(104.5, 1.0, 777.0)]


# --------------------------------------------------------------------------------------
# the job: carry across midnight, re-runs


SPACING = 300.0  # site spacing whose stay radius is 500 m (clip(1.5 x 300, 500, 1000))

EC_SCHEMA = T.StructType([T.StructField(c, t, n) for c, t, n in (
    ("user_id", T.StringType(), False), ("event_time", T.StringType(), False),
    ("cell_id", T.StringType(), False), ("event_type", T.StringType(), True),
    ("imei_tac", T.StringType(), True), ("home_region", T.StringType(), True),
    ("lon", T.DoubleType(), False), ("lat", T.DoubleType(), False),
    ("x_m", T.DoubleType(), False), ("y_m", T.DoubleType(), False),
    ("spacing_m", T.DoubleType(), False), ("svc_lon", T.DoubleType(), False),
    ("svc_lat", T.DoubleType(), False), ("is_heavy_user", T.BooleanType(), False),
    ("dt", T.DateType(), False), ("region", T.StringType(), False))])


def ec_row(user, day: dt.date, h: float, cell, x, heavy=False):
    """An events_clean row at local wall-clock hour ``h`` of ``day`` (time as text)."""
    when = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(hours=h)
    return (user, when.strftime("%Y-%m-%d %H:%M:%S"), cell, "data", None, None,
            LON0 + x / 1e5, LAT0, float(x), 0.0, SPACING, LON0 + x / 1e5, LAT0, heavy, day,
            "990101")


def ec_frame(spark, rows):
    """Rows of ec_row as events_clean (times parsed in the session zone, Asia/Shanghai)."""
    return spark.createDataFrame(rows, EC_SCHEMA).withColumn(
        "event_time", F.to_timestamp("event_time"))


def local_moves(df):
    return (df.withColumns({c: F.col(c).cast("timestamp_ntz") for c in ("departure", "arrival")})
            .orderBy("arrival").collect())


def local_rows(df):
    return (df.withColumns({c: F.col(c).cast("timestamp_ntz") for c in ("stay_start", "stay_end")})
            .orderBy("user_id", "stay_start").collect())


@pytest.mark.job
def test_cross_midnight_stay_stored_once(spark, tmp_path):
    from mobsig.runner import run

    # a card with more than 25 rows a day is a heavy user (no stays)
    cfg = make_config(tmp_path, clean={"heavy_user_events_per_day": 25})
    d1, d2 = DAY1, DAY1 + dt.timedelta(days=1)
    rows = []
    # night: at work until 19:00, home from 20:00 on d1 to 07:30 on d2, then work
    rows += [ec_row("night", d1, h, "w", 6000) for h in (9, 11, 13, 15, 17, 19)]
    rows += [ec_row("night", d1, h, "h", 0) for h in (20, 21, 22.5, 23.5)]
    rows += [ec_row("night", d2, h, "h", 0) for h in (0.5, 2, 3.5, 5, 6.5, 7.5)]
    rows += [ec_row("night", d2, h, "w", 6000) for h in (8.5, 10, 12)]
    # late: a stay that starts at 23:40 on d1 (too short on d1 alone)
    rows += [ec_row("late", d1, h, "a", 0) for h in (23 + 40 / 60, 23 + 55 / 60)]
    rows += [ec_row("late", d2, h, "a", 0) for h in (0.25, 1)]
    # heavy users are excluded
    rows += [ec_row("heavy", d, 1 + i / 10, "a", 0) for d in (d1, d2) for i in range(30)]
    write_day_inputs(spark, cfg, ec_frame(spark, rows))
    cat = Catalog(spark, cfg.warehouse)
    r1 = run(spark, cfg, "clean_stays", day=d1, fresh_start=True)
    assert r1.facts["heavy_users"] == 1 and r1.facts["heavy_rows"] == 30
    assert r1.output_rows["stays"] == 1
    # the home stay (4 records) is carried as ONE summary row, the late run (2 records,
    # still shorter than tau) as its records
    carried = {r["kind"]: r["count"] for r in cat.read("stays_carry", dt=d1)
               .groupBy("kind").count().collect()}
    assert carried == {"open_stay": 1, "open_record": 2, "last_stay": 1}
    assert cat.read("stays_carry", dt=d1).where("kind = 'open_stay'").first()["n_events"] == 4
    cached = persisted(spark)
    r2 = run(spark, cfg, "clean_stays", day=d2)
    assert persisted(spark) <= cached  # the carry (detached, read from stays_carry) released
    # the run records count the carry once: read by d2 as written by d1 (issue 17 item 10)
    n_carry = {d: cat.read("stays_carry", dt=d).count() for d in (d1, d2)}
    assert r1.input_rows["stays_carry"] == 0 and r1.output_rows["stays_carry"] == n_carry[d1]
    assert r2.input_rows["stays_carry"] == n_carry[d1] and r2.output_rows["stays_carry"] == \
        n_carry[d2]
    rec = read_runs(cat).where("job = 'clean_stays' AND status = 'succeeded'").orderBy(
        "ended_at").collect()[-1]
    assert json.loads(rec["input_rows"]) == r2.input_rows
    assert json.loads(rec["output_rows"])["stays_carry"] == n_carry[d2]
    s1 = local_rows(cat.read("stays", dt=d1))
    s2 = local_rows(cat.read("stays", dt=d2))
    assert [(s["user_id"], s["cell_id"]) for s in s1] == [("night", "w")]
    got = [(s["user_id"], s["cell_id"], s["stay_start"], s["stay_end"], s["n_events"])
           for s in s2]
    assert ("night", "h", dt.datetime(2026, 6, 1, 20), dt.datetime(2026, 6, 2, 7, 30), 10) in got
    assert ("late", "a", dt.datetime(2026, 6, 1, 23, 40), dt.datetime(2026, 6, 2, 1), 4) in got
    assert not [g for g in got if g[0] == "heavy"]
    # moves of d2: work (d1, via the carried last stay) -> home -> work
    mv = local_moves(cat.read("moves", dt=d2).where("user_id = 'night'"))
    assert [(round(m["dist_m"]), m["departure"], m["arrival"], m["duration_s"]) for m in mv] == [
        (6000, dt.datetime(2026, 6, 1, 19), dt.datetime(2026, 6, 1, 20), 3600),
        (6000, dt.datetime(2026, 6, 2, 7, 30), dt.datetime(2026, 6, 2, 8, 30), 3600)]
    assert cat.read("moves", dt=d1).count() == 0  # the home stay was not closed on d1
    # re-run d2: identical stays, moves and carry
    before = {t: sorted(cat.read(t, dt=d2).collect()) for t in ("stays", "moves", "stays_carry")}
    assert run(spark, cfg, "clean_stays", day=d2).output_rows == r2.output_rows
    after = {t: sorted(cat.read(t, dt=d2).collect()) for t in ("stays", "moves", "stays_carry")}
    assert after == before


@pytest.mark.job
def test_missing_previous_carry_is_an_error(spark, tmp_path):
    from mobsig.errors import InputError
    from mobsig.runner import run

    cfg = make_config(tmp_path)
    d1, d2 = DAY1, DAY1 + dt.timedelta(days=1)
    rows = [ec_row("u", d, h, "a", 0) for d in (d1, d2) for h in (1, 2, 3)]
    write_day_inputs(spark, cfg, ec_frame(spark, rows))
    # events_clean of d1 exists (as if clean_stays ran for d1) but its carry does not
    cat = Catalog(spark, cfg.warehouse)
    cat.write(ec_frame(spark, rows[:3]).select(*cat.schema("events_clean").names),
              "events_clean", {})
    with pytest.raises(InputError, match="run clean_stays for 2026-06-01 first"):
        run(spark, cfg, "clean_stays", day=d2)
    assert run(spark, cfg, "clean_stays", day=d2, fresh_start=True).output_rows["stays"] == 1


# --------------------------------------------------------------------------------------
# the synthetic city


@pytest.fixture(scope="module")
def city_stays(spark, chain):
    """Days 2-5 of the shared pipeline run (their re-run is test_chain's)."""
    res, cfg, runs = chain
    days = res.days[1:5]
    results = [runs.of("clean_stays", d) for d in days]
    cat = Catalog(spark, cfg.warehouse)
    snap = {t: sorted(cat.read(t, dt=days[2]).collect()) for t in ("stays", "moves",
                                                                     "stays_carry")}
    return res, cfg, days, results, snap


def test_city_precision_recall(spark, city_stays):
    res, cfg, days, results, _ = city_stays
    cat = Catalog(spark, cfg.warehouse)
    cards = pd.read_parquet(res.out / "truth/cards.parquet")
    human = set(cards.loc[cards["is_human"], "user_id"])
    det = cat.read("stays", dt=days).select(
        "user_id", *[F.col(c).cast("timestamp_ntz").alias(c) for c in ("stay_start", "stay_end")],
        "lon", "lat", "duration_s", "dt").toPandas()
    assert det["dt"].nunique() == len(days)
    non_human = det[~det["user_id"].isin(human)]
    det = det[det["user_id"].isin(human)].reset_index(drop=True)
    truth = pd.read_parquet(res.out / "truth/stays")
    truth = truth[truth["user_id"].isin(human) & (truth["duration_s"] >= 1800)]
    lo = pd.Timestamp(days[0])
    hi = pd.Timestamp(days[-1] + dt.timedelta(days=1)) - pd.Timedelta(hours=cfg.stays.gap_cap_h)
    truth = truth[(truth["stay_end"] > lo) & (truth["stay_start"] < hi)].reset_index(drop=True)
    pairs = match_stays(det, truth)
    precision = pairs["index_d"].nunique() / len(det)
    inside = truth[(truth["stay_start"] >= lo) & (truth["stay_end"] <= hi)]
    recall = pairs.loc[pairs["index_t"].isin(inside.index), "index_t"].nunique() / len(inside)
    assert len(det) > 300
    assert precision >= 0.9
    assert recall >= 0.9
    # cards whose TAC is an IoT device type are excluded; TAC-less machines are not (yet)
    tac = pd.read_csv(res.out / "reference/tac_types.csv", dtype=str)
    iot_tacs = set(tac.loc[tac["device_type"].isin(cfg.flags.iot_device_types), "tac"])
    iot = set(cards.loc[cards["tac"].isin(iot_tacs), "user_id"])
    seen = {r[0] for r in cat.read("events_clean").select("user_id").distinct().collect()}
    assert iot & seen
    assert not set(non_human["user_id"]) & iot


def test_city_moves_and_carry(spark, city_stays):
    res, cfg, days, results, snap = city_stays
    assert snap["moves"] and snap["stays_carry"]
    assert [r.output_rows["stays"] for r in results] == [
        Catalog(spark, cfg.warehouse).read("stays", dt=d).count() for d in days]
    cat = Catalog(spark, cfg.warehouse)
    st = cat.read("stays")
    # no stay stored twice across days; carried stays keep their true start
    assert st.groupBy("user_id", "stay_start").count().where("count > 1").count() == 0
    assert st.where(F.to_date("stay_start") < F.col("dt")).count() > 0
    mv = cat.read("moves").where(F.col("dt") == F.lit(days[2])).toPandas()
    assert (mv["duration_s"] >= 0).all() and (mv["dist_m"] >= 0).all()
    assert mv["dist_m"].median() > 500  # moves connect different places


def test_a_card_at_one_place_for_ten_days_carries_a_capped_run():
    """Issue 17 item 9: a card at one cell for 10 days (a record every 15 minutes) never
    closes its run; with stays.max_open_h = 48 its carry holds at most 48 h of records
    (one run), and the run is closed as a stay ending at its last record when it gets
    older. Without the cap the carry grows every day (the bug)."""
    import pyarrow as pa

    from mobsig.stays import KERNEL_INPUT, _process

    day_us = 24 * 60 * MIN
    t_day0 = 1_780_000_000 * 1_000_000 // day_us * day_us

    def day_rows(d):
        t = t_day0 + d * day_us + np.arange(0, day_us, 15 * MIN, dtype=np.int64)
        n = len(t)
        return {"user_id": ["m"] * n, "t_us": t, "cell_id": ["c"] * n, "lon": [116.0] * n,
                "lat": [39.0] * n, "x_m": [0.0] * n, "y_m": [0.0] * n,
                "stay_radius_m": [500.0] * n}

    def run(max_open_h):
        carry, sizes, stays = None, [], []
        for d in range(10):
            rows = day_rows(d)
            if carry is not None:  # the carried open records go in front of the day's
                rows = {c: np.r_[carry[c], rows[c]] for c in KERNEL_INPUT}
            # the record carry (the reference; the summary carry of the same card is one
            # row a day: tests/test_stay_state.py)
            rule = StayRule.of(30, 2, t_day0 + (d + 1) * day_us, max_open_h,
                               summary_carry=False)
            out = _process(pa.table({c: rows[c] for c in KERNEL_INPUT}), rule).to_pydict()
            kinds = np.array(out["kind"])
            carry = {c: np.array(out[c if c != "t_us" else "t0_us"])[kinds == "open"]
                     for c in KERNEL_INPUT}
            sizes.append(len(carry["t_us"]))
            stays += [(t0, t1) for k, t0, t1 in zip(out["kind"], out["t0_us"], out["t1_us"],
                                                    strict=True) if k == "stay"]
            if sizes[-1]:  # whatever is carried started within the cap of the horizon
                assert rule.horizon_us - carry["t_us"].min() <= (
                    rule.max_open_us if max_open_h else 10**18)
        return sizes, stays

    sizes, stays = run(None)
    assert sizes == [96 * (d + 1) for d in range(10)] and stays == []  # unbounded
    sizes, stays = run(48)
    assert sizes == [96, 192, 0] * 3 + [96]  # at most 48 h of records, then closed
    # every 3rd day the run (older than 48 h at that midnight) is closed at its last record
    assert len(stays) == 3
    for t0, t1 in stays:
        assert (t1 - t0) // MIN == 3 * 24 * 60 - 15 and (t1 + 15 * MIN) % day_us == 0
    # the closed stays and the carry cover every record once
    assert sum((t1 - t0) // (15 * MIN) + 1 for t0, t1 in stays) + sizes[-1] == 10 * 96


def test_max_open_shorter_than_a_stay_fails_before_spark(tmp_path):
    from mobsig.errors import ConfigError

    with pytest.raises(ConfigError, match=r"stays.max_open_h \(2.0\) must be at least"):
        make_config(tmp_path, stays={"max_open_h": 2})
    assert make_config(tmp_path, stays={"max_open_h": 2.5}).stays.max_open_h == 2.5
