"""flag_users: non-human cards and multi-card persons.

Unit tests on tiny hand-built event frames (one behaviour per card), job tests on a tiny
warehouse (gate, re-run, missing input), and an integration test on the synthetic city
against its truth through the real pipeline (tests/test_chain.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import flags as fl
from mobsig.config import FlagsConfig
from mobsig.errors import DataQualityError, InputError
from mobsig.io.catalog import Catalog
from mobsig.schema import load_schema
from tests.conftest import make_config
from tests.factories import write_cells_of

MONTH = dt.date(2026, 6, 1)
T0 = pd.Timestamp("2026-06-01 00:00:00")
H = 3600.0
DAY = 24 * H
HOME = (1_000_000.0, 3_000_000.0)
WORK = (1_006_000.0, 3_002_000.0)


def _rows(user, t_s, x, y, tac="35328010", heavy=False):
    t_s = np.asarray(t_s, float)
    ts = T0 + pd.to_timedelta(np.round(t_s), unit="s")
    cells = [f"c-{int(a // 100)}-{int(b // 100)}" for a, b in zip(x, y, strict=True)]
    return pd.DataFrame({"user_id": user, "event_time": ts, "cell_id": cells,
                         "event_type": "data", "imei_tac": tac, "home_region": "990101",
                         "lon": 104.0, "lat": 30.0, "x_m": np.asarray(x, float),
                         "y_m": np.asarray(y, float), "spacing_m": 300.0,
                         "svc_lon": 104.0, "svc_lat": 30.0,
                         "is_heavy_user": heavy, "dt": ts.normalize().date, "region": "990101"})


def meter(user, days=10, period=900.0, drop=0.0, seed=1, tac="35328010"):
    """A static meter: one cell, fixed period, optionally losing a share of its records."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, days * DAY, period) + rng.uniform(-1, 1, int(np.ceil(days * DAY / period)))
    t = t[(t >= 0) & (t < days * DAY)]
    t = t[rng.random(t.size) >= drop]
    return _rows(user, t, np.full(t.size, 2_000_000.0), np.full(t.size, 3_100_000.0), tac)


def where_at(t, home, work, weekday_work=True, shift_h=None):
    """A person's true position at times t: work 08-18 on weekdays, home otherwise;
    ``shift_h`` (one value per day) moves both departures of that day."""
    hour = (t % DAY) / H
    if shift_h is not None:
        hour = hour - np.asarray(shift_h)[(t // DAY).astype(int)]
    at_work = (hour >= 8) & (hour < 18) & weekday_work
    x = np.where(at_work, work[0], home[0])
    y = np.where(at_work, work[1], home[1])
    return x, y


def human(user, days=10, rate_h=1.5, seed=2, home=HOME, work=WORK, day0=0, jitter=150.0,
          tac="35328010", shift_h=None):
    """A handset: Poisson activity 07-23 h, hourly periodic updates filling idle gaps
    (all night long), served by cells scattered around where the holder is."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(rate_h * 16 * days)
    t = np.sort(day0 * DAY + rng.integers(0, days, n) * DAY + rng.uniform(7, 23, n) * H)
    # periodic updates: every idle gap longer than an hour is filled hourly (+-60 s)
    gaps = np.diff(np.r_[day0 * DAY, t, (day0 + days) * DAY - 1])
    starts = np.r_[day0 * DAY, t]
    fills = [s + k * H + rng.uniform(-60, 60)
             for s, g in zip(starts, gaps, strict=True) for k in range(1, int(g // H) + 1)
             if k * H < g - 120]
    t = np.sort(np.r_[t, fills])
    x, y = where_at(t, home, work, shift_h=shift_h)
    x = x + rng.normal(0, jitter, t.size)
    y = y + rng.normal(0, jitter, t.size)
    return _rows(user, t, x, y, tac)


def companion(of: pd.DataFrame, user, seed, home=HOME, work=WORK, days_together=None,
              rate=0.5, jitter=150.0):
    """A second card of the holder of ``of`` (who lives at ``home``, works at ``work``):
    its own events, a share ``rate`` of the first card's count, at the holder's places;
    optionally only on the first ``days_together`` days (20 km away afterwards)."""
    rng = np.random.default_rng(seed)
    days = int(np.ceil((of["event_time"].max() - T0).total_seconds() / DAY))
    t = np.sort(rng.uniform(0, days * DAY, int(len(of) * rate)))
    x, y = where_at(t, home, work)
    if days_together is not None:
        x = np.where(t >= days_together * DAY, x + 20_000, x)
    x = x + rng.normal(0, jitter, t.size)
    y = y + rng.normal(0, jitter, t.size)
    return _rows(user, t, x, y)


#: what flag_users gives the flags: events_clean's columns and x_m, y_m, spacing_m of
#: each event's cell (mobsig.cells.events_placed)
POSITIONS = ("x_m", "y_m", "spacing_m")


def to_spark(spark, *frames):
    pdf = pd.concat(frames, ignore_index=True)
    schema = T.StructType(load_schema("events_clean").struct.fields
                          + [T.StructField(c, T.DoubleType(), False) for c in POSITIONS])
    return spark.createDataFrame(pdf[[f.name for f in schema.fields]], schema)


def flags_of(spark, events, params=None, tac_rows=None):
    p = FlagsConfig(**(params or {}))
    tac = None
    if tac_rows is not None:
        tac = spark.createDataFrame(tac_rows, "tac string, device_type string")
    out = (fl.user_flags(events, tac, p, "2026-06", stage=lambda df: df.localCheckpoint())
           .toPandas().set_index("user_id"))
    out["ev"] = out["evidence"].map(json.loads)
    return out


def _moved(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """``df`` moved 500 km east ``k`` times, its cells with it (a cell keeps its cards:
    ids renumbered, not recomputed from the positions)."""
    out = df.copy()
    out["x_m"] = out["x_m"] + k * 500_000.0
    parts = out["cell_id"].str.split("-", expand=True)
    out["cell_id"] = ("c-" + (parts[1].astype(int) + k * 5_000).astype(str) + "-"
                      + parts[2])
    return out


def _static_case():
    return [meter("meter_a" * 3, drop=0.01), human("human_a" * 3)]


def _night_case():
    return [human("human_b" * 3, rate_h=1.0, seed=5)]


C_PLACES = {"home": (1_030_000.0, 3_000_000.0), "work": (1_036_000.0, 3_002_000.0)}
B_PLACES = {"home": (1_060_000.0, 3_000_000.0), "work": (1_066_000.0, 3_002_000.0)}


def _multicard_case() -> dict[str, pd.DataFrame]:
    a1 = human("pers_a_1" * 3, rate_h=3, seed=11)
    a2 = companion(a1, "pers_a_2" * 3, seed=12)
    # three cards of one holder: c1 has most events and is the primary
    c1 = human("pers_c_1" * 3, rate_h=4, seed=13, **C_PLACES)
    c2 = companion(c1, "pers_c_0" * 3, seed=14, rate=0.4, **C_PLACES)
    c3 = companion(c1, "pers_c_2" * 3, seed=15, rate=0.3, **C_PLACES)
    # together only the first 3 days, then far apart
    b1 = human("pers_b_1" * 3, rate_h=3, seed=16, **B_PLACES)
    b2 = companion(b1, "pers_b_2" * 3, seed=17, days_together=3, **B_PLACES)
    # a static meter in the holder's home: not a person, never grouped
    m = meter("meter_h_" * 3)
    m["x_m"], m["y_m"] = HOME
    return {"a1": a1, "a2": a2, "c1": c1, "c2": c2, "c3": c3, "b1": b1, "b2": b2, "m": m}


def _sparse_case():
    """Two cards of one holder served by sites 1.5 km apart, spacing 2 km."""
    a = human("sparse_1" * 3, rate_h=3, seed=21, jitter=0.0).assign(spacing_m=2000.0)
    b = companion(a, "sparse_2" * 3, seed=22, jitter=0.0).assign(spacing_m=2000.0)
    b["x_m"] = b["x_m"] + 1500.0
    return [a, b]


def _minute_case():
    """A busy phone with whole-minute times (and its times), a meter on the same clock."""
    rng = np.random.default_rng(11)
    t = []
    for d in range(6):  # two busy hours a day, an event every minute, hourly updates
        for start_h in (9, 20):
            t += [d * DAY + start_h * H + 60.0 * k for k in range(60)]
        t += [d * DAY + h * H + 60.0 * rng.integers(1, 59) for h in range(0, 24, 1)]
    t = np.unique(np.floor(np.asarray(t) / 60.0) * 60.0)
    x, y = where_at(t, HOME, WORK)
    phone = _rows("minutephone" * 2, t, x, y, "35328010")
    tm = np.arange(0, 10 * DAY, 1800.0)
    mmeter = _rows("minutemeter" * 2, tm, np.full(tm.size, 2_000_000.0) + 2_000.0 * (
        np.arange(tm.size) % 2), np.full(tm.size, 3_100_000.0), "35328010")
    return [phone, mmeter], t


@pytest.fixture(scope="module")
def default_flags(spark):
    """One user_flags run with the default rules over the cards of several tests (each
    test's cards 500 km from the others': the rules are per card and per pair of cards
    that meet, so no card of one test touches another's), instead of one run per test
    (~4.5 s each on 2 cores; every case spans the same 10 days)."""
    cases = [_static_case(), _night_case(), list(_multicard_case().values()),
             _sparse_case(), _minute_case()[0], [meter("meter_r" * 3)]]
    frames = [_moved(f, k) for k, case in enumerate(cases) for f in case]
    return flags_of(spark, to_spark(spark, *frames))


# --------------------------------------------------------------------------------------
# non-human rules on tiny frames


def test_static_meter_flagged_and_idle_human_not(default_flags):
    out = default_flags
    m, h = out.loc["meter_a" * 3], out.loc["human_a" * 3]
    assert m["is_non_human"]
    assert m["non_human_reason"] == "static_location,regular_cadence"
    assert m["ev"]["static_radius_m"] == 0.0 and m["ev"]["n_days"] == 10
    # one lost record in a hundred: the plain CV is above the bound, the robust one is not
    assert m["ev"]["cadence_cv"] > FlagsConfig().regular_cadence_cv_max
    assert m["ev"]["cadence_robust_cv"] < 0.01
    # the human's night is nothing but hourly periodic updates: still not a machine
    assert not h["is_non_human"] and h["non_human_reason"] is None
    assert h["ev"]["cadence_robust_cv"] > 0.5
    assert h["ev"]["static_radius_m"] > 1000
    assert bool(m["is_group_primary"]) and bool(h["is_group_primary"])
    assert m["multicard_group_size"] == 1 and m["multicard_group"] is None


def test_night_updates_alone_are_regular_but_whole_month_is_not(default_flags):
    """Guards the reason for robust statistics over the whole distribution: the night
    gaps of a handset alone would pass the cadence rule."""
    pdf = _night_case()[0]
    hours = pdf["event_time"].dt.hour
    night = pdf[(hours < 7)]
    night_gaps = night["event_time"].diff().dt.total_seconds().to_numpy()
    night_gaps = night_gaps[(night_gaps > 0) & (night_gaps < 2 * H)]
    q25, q50, q75 = np.percentile(night_gaps, [25, 50, 75])
    assert (q75 - q25) / (1.349 * q50) < FlagsConfig().regular_cadence_cv_max
    assert not default_flags.loc["human_b" * 3, "is_non_human"]


def test_observed_hours_sum_the_gaps_up_to_the_cap(spark):
    """user_flags.observed_h (flags.card_cadence's observed_s): the gaps between a card's
    consecutive events of at most flags.observed_gap_cap_h (2 h) summed: a day visitor
    seen from 10:00 to 13:00 with gaps of 30, 70 and 80 minutes was in the area 3 h (the
    7 h to its last record in the evening is not counted); a card passing through at
    08:00 and 18:00 for 10 and 15 minutes 25 minutes."""
    def card(user, times):
        return _rows(user, [h * 3600 + m * 60 for h, m in times], [0.0] * len(times),
                     [0.0] * len(times))

    ev = to_spark(spark, card("visitor1", [(10, 0), (10, 30), (11, 40), (13, 0), (20, 0)]),
                  card("passing1", [(8, 0), (8, 10), (18, 0), (18, 15)]))
    got = fl.card_cadence(ev, 7200.0).toPandas().set_index("user_id")["observed_s"]
    assert got.to_dict() == {"visitor1": pytest.approx(3 * 3600.0),
                             "passing1": pytest.approx(25 * 60.0)}
    assert fl.card_cadence(ev, 8 * 3600.0).toPandas().set_index("user_id").loc[
        "visitor1", "observed_s"] == pytest.approx(10 * 3600.0)


def test_iot_tac_and_impossible_rate(spark):
    iot = human("iotcard_" * 3, seed=7, tac="86371701")        # moves like a human
    busy = human("busycard" * 3, rate_h=30, seed=8)             # ~480 events a day
    heavy = human("heavycrd" * 3, seed=9)
    heavy["is_heavy_user"] = heavy["dt"] == dt.date(2026, 6, 3)  # clean_stays' mark
    tacs = [("86371701", "IoT "), ("35328010", "handset")]
    out = flags_of(spark, to_spark(spark, iot, busy, heavy),
                   params={"max_events_per_day": 300}, tac_rows=tacs)
    assert out.loc["iotcard_" * 3, "non_human_reason"] == "iot_tac"
    assert out.loc["iotcard_" * 3, "ev"]["device_type"] == "iot"
    assert out.loc["busycard" * 3, "non_human_reason"] == "impossible_rate"
    assert out.loc["busycard" * 3, "ev"]["max_events_day"] > 300
    assert out.loc["heavycrd" * 3, "non_human_reason"] == "impossible_rate"
    assert out.loc["heavycrd" * 3, "ev"]["is_heavy_user"] is True
    # without a TAC table the TAC rule is off, the others still fire
    out2 = flags_of(spark, to_spark(spark, iot, busy), params={"max_events_per_day": 300})
    assert not out2.loc["iotcard_" * 3, "is_non_human"]
    assert out2.loc["busycard" * 3, "is_non_human"]


# --------------------------------------------------------------------------------------
# multi-card on tiny frames


def test_multicard_groups_primary_and_three_days_not_enough(spark, default_flags):
    """Two cards of a holder (a), three of another (c), two together only on the first 3
    of their 10 days (b), a static meter at a holder's home (:func:`_multicard_case`)."""
    case = _multicard_case()
    b1, b2 = case["b1"], case["b2"]
    out = default_flags[default_flags.index.isin(
        pd.concat(case.values())["user_id"].unique())]
    grp = out["multicard_group"]
    assert grp["pers_a_1" * 3] == grp["pers_a_2" * 3] == "pers_a_1" * 3
    assert set(out.loc[grp == "pers_c_0" * 3].index) == {"pers_c_0" * 3, "pers_c_1" * 3,
                                                         "pers_c_2" * 3}
    assert (out.loc[grp == "pers_c_0" * 3, "multicard_group_size"] == 3).all()
    primaries = out[out["is_group_primary"]].index
    assert "pers_c_1" * 3 in primaries and "pers_c_0" * 3 not in primaries
    assert out.groupby("multicard_group")["is_group_primary"].sum().eq(1).all()
    assert out.loc["pers_a_1" * 3, "is_group_primary"]  # more events than its companion
    assert pd.isna(grp["pers_b_1" * 3]) and pd.isna(grp["pers_b_2" * 3])
    assert out.loc["pers_b_2" * 3, "is_group_primary"]
    assert out.loc["meter_h_" * 3, "is_non_human"] and pd.isna(grp["meter_h_" * 3])
    pair = out.loc["pers_a_2" * 3, "ev"]["multicard_pairs"]
    assert len(pair) == 1 and pair[0]["other"] == "pers_a_1" * 3
    assert pair[0]["coincident_share"] >= 0.9 and pair[0]["coincident_days"] == 10
    # the rule is the config's: 3 required days let the short pair through
    # (and the alike-cells test off: 20 km apart on 7 of their 10 days, their cells differ)
    out3 = flags_of(spark, to_spark(spark, b1, b2), params={"multicard_min_days": 3,
                                                           "multicard_min_share": 0.25,
                                                           "multicard_min_score": 0.0,
                                                           "multicard_min_cell_overlap": 0.0})
    assert out3.loc["pers_b_1" * 3, "multicard_group"] == "pers_b_1" * 3


@pytest.mark.slow  # three user_flags runs (~75 Spark jobs each): ~20 s on 2 cores
def test_neighbours_who_leave_at_their_own_times_are_not_one_person(spark):
    """Two people living and working side by side coincide in most hours; only their
    departures tell them apart. One person's two cards move together and are grouped;
    two static cards of one holder (no moves to compare) need the static share."""
    rng = np.random.default_rng(41)
    n1 = human("neigh_01" * 4, rate_h=3, seed=42, shift_h=rng.uniform(-1.5, 1.5, 10))
    n2 = human("neigh_02" * 4, rate_h=3, seed=43, shift_h=rng.uniform(-1.5, 1.5, 10))
    a1 = human("pers_a_1" * 4, rate_h=3, seed=44, home=(1_040_000.0, 3_000_000.0),
               work=(1_046_000.0, 3_002_000.0))
    a2 = companion(a1, "pers_a_2" * 4, seed=45, home=(1_040_000.0, 3_000_000.0),
                   work=(1_046_000.0, 3_002_000.0))
    # a holder who never leaves home: two cards, no moves
    still = (1_080_000.0, 3_000_000.0)
    s1 = human("still_01" * 4, rate_h=2, seed=46, home=still, work=still)
    s2 = companion(s1, "still_02" * 4, seed=47, home=still, work=still)
    out = flags_of(spark, to_spark(spark, n1, n2, a1, a2, s1, s2))
    grp = out["multicard_group"]
    assert pd.isna(grp["neigh_01" * 4]) and pd.isna(grp["neigh_02" * 4])
    assert grp["pers_a_1" * 4] == grp["pers_a_2" * 4] == "pers_a_1" * 4
    ev = out.loc["pers_a_2" * 4, "ev"]["multicard_pairs"][0]
    assert ev["ref_moves"] >= 10 and ev["co_move_share"] >= 0.9
    assert grp["still_01" * 4] == grp["still_02" * 4] == "still_01" * 4
    assert out.loc["still_02" * 4, "ev"]["multicard_pairs"][0]["ref_moves"] < 5
    # the neighbours do pass co-location: it is the movement test that separates them
    p = FlagsConfig()
    hum = to_spark(spark, n1, n2)
    slots = fl.hourly_locations(hum, p)
    colocated = fl.colocated_pairs(slots, p)
    co = colocated.toPandas()
    assert len(co) == 1 and co["coincident_share"].iloc[0] >= p.multicard_min_share
    moves = fl.co_movement(colocated, fl.card_moves(hum, p)).toPandas()
    assert moves["ref_moves"].iloc[0] >= 10
    assert moves["co_move_share"].iloc[0] < p.multicard_min_co_move_share
    # without the static fallback the still pair is not grouped
    strict = flags_of(spark, to_spark(spark, s1, s2),
                      params={"multicard_static_min_share": 1.0,
                              "multicard_spacing_factor": 0.0})  # a fixed 500 m reach
    assert pd.isna(strict.loc["still_01" * 4, "multicard_group"])


def follower(of_user, user, seed, shift_h, home=HOME, work=WORK, at="home", days=10,
             elsewhere=0.0, rate_h=1.0):
    """A second card that does not move with its holder (the region profile's): a tablet
    on only while the holder is home (``at="home"``), or a work phone on only while the
    holder is at work (``at="work"``; a share ``elsewhere`` of its other 07-22 h events
    sent wherever the holder is). Its own activity and hourly updates, the holder's
    places and departure times (``shift_h``)."""
    rng = np.random.default_rng(seed + 1000)
    ev = human(user, days=days, rate_h=rate_h, seed=seed, home=home, work=work,
               shift_h=shift_h)
    t = (ev["event_time"] - T0).dt.total_seconds().to_numpy()
    x, _ = where_at(t, home, work, shift_h=shift_h)
    place = np.where(x == work[0], "work", "home")
    hour = (t % DAY) / H
    keep = (place == at) | ((hour >= 7) & (hour < 22) & (rng.random(t.size) < elsewhere))
    return ev[keep].reset_index(drop=True)


@pytest.mark.slow  # one user_flags run over 13 cards: ~10 s on 2 cores (warm)
def test_a_tablet_at_home_and_a_work_phone_at_work_join_their_holder(spark):
    """Issue 18 item 4: a card that does not move with its holder has no moves to compare,
    and it coincides with the holder's phone and with every neighbour's (a tablet at home)
    or colleague's (a work phone at the office). Its holder is where it is whenever it is
    on, and sends from there (cover ~1, no contradicting hour); a neighbour leaves and
    comes back at other times, or works next door with other hours, and a colleague goes
    home at other times and is elsewhere when the work phone is used away from work. The
    holder dominates (containment score) and the pair is grouped, with its evidence. In a
    dormitory where room-mates keep the same hours no candidate dominates: the tablet and
    the students are left ungrouped (ambiguous)."""
    rng = np.random.default_rng(90)

    def shifts():
        return rng.uniform(-1.5, 1.5, 10)

    s_h, s_n, s_m, s_w, s_c = shifts(), shifts(), shifts(), shifts(), shifts()
    near = (HOME[0] + 150.0, HOME[1])
    holder = human("holder_1" * 4, rate_h=2, seed=91, shift_h=s_h)
    tablet = follower("holder_1" * 4, "tablet_1" * 4, seed=92, shift_h=s_h, at="home")
    # a neighbour working elsewhere, another working next door to the holder
    neigh = human("neigh_11" * 4, rate_h=2, seed=93, home=near,
                  work=(1_000_000.0, 3_009_000.0), shift_h=s_n)
    next_door = human("neigh_12" * 4, rate_h=2, seed=94, home=near,
                      work=(WORK[0] + 150.0, WORK[1]), shift_h=s_m)
    office, w_home = (1_106_000.0, 3_002_000.0), (1_100_000.0, 3_000_000.0)
    worker = human("worker_1" * 4, rate_h=2, seed=95, home=w_home, work=office,
                   shift_h=s_w)
    phone = follower("worker_1" * 4, "wphone_1" * 4, seed=96, shift_h=s_w, home=w_home,
                     work=office, at="work", elsewhere=0.1, rate_h=1.5)
    colleague = human("collea_1" * 4, rate_h=2, seed=97, home=(1_100_000.0, 3_008_000.0),
                      work=office, shift_h=s_c)
    # a dormitory: four students with the same hours and one student's tablet
    dorm, classes = (1_200_000.0, 3_000_000.0), (1_200_700.0, 3_000_000.0)
    same = shifts() * 0.1
    students = [human(f"stud_{i}_" * 4, rate_h=2, seed=100 + i, home=dorm, work=classes,
                      shift_h=same) for i in range(4)]
    d_tab = follower("stud_0_" * 4, "dorm_tab" * 4, seed=110, shift_h=same, home=dorm,
                     work=classes, at="home")
    out = flags_of(spark, to_spark(spark, holder, tablet, neigh, next_door, worker, phone,
                                   colleague, *students, d_tab))
    grp = out["multicard_group"]
    assert grp["holder_1" * 4] == grp["tablet_1" * 4] == "holder_1" * 4
    assert grp["worker_1" * 4] == grp["wphone_1" * 4] == "worker_1" * 4
    assert out.loc["holder_1" * 4, "is_group_primary"]  # more events than its tablet
    for u in ("neigh_11", "neigh_12", "collea_1", "dorm_tab", "stud_0_", "stud_1_"):
        assert pd.isna(grp[u * 4]) and out.loc[u * 4, "multicard_group_size"] == 1
    # the evidence: which test paired them, on how many days, how much the holder covers
    tab = {q["other"]: q for q in out.loc["tablet_1" * 4, "ev"]["multicard_pairs"]}
    mine = tab["holder_1" * 4]
    assert mine["pair_test"] == "containment" and mine["coincident_days"] == 10
    assert mine["cover"] >= 0.9
    assert mine["coincident_share"] >= FlagsConfig().multicard_static_min_share
    # the neighbours pass the pair rule too: only the dominance rule keeps them out
    others = [q for o, q in tab.items() if o != "holder_1" * 4]
    ratio = FlagsConfig().multicard_contained_ratio

    def score(q, presence=True):
        return q["coincident_share"] * q["cover"] * (q["presence"] if presence else 1.0)

    assert others and all(score(q) < ratio * score(mine) for q in others)
    # co-location and cover alone leave the neighbour within the ratio: it is home while
    # the holder is out (absent slots) that tells them apart
    assert any(score(q, False) >= ratio * score(mine, False) for q in others)
    assert all(q["absent_slots"] > 2 * mine["absent_slots"] for q in others)
    assert out.loc["dorm_tab" * 4, "ev"].get("multicard_ambiguous", 0) >= 3
    # the work phone's few calls away from work are its moves: judged on co-movement here
    wp = out.loc["wphone_1" * 4, "ev"]["multicard_pairs"]
    assert [q["pair_test"] for q in wp if q["other"] == "worker_1" * 4] == ["co_movement"]
    assert mine["presence"] >= 0.95 and mine["absent_slots"] <= 3
    # with the old rule (any accepted partner within multicard_partner_ratio) the tablet's
    # neighbours made its component ambiguous (the sectors not used); resolving it best
    # pair first (ten days >= multicard_resolve_min_days) gives the tablet to its holder
    blind = {"multicard_min_cell_overlap": 0.0, "multicard_contained_ratio": 0.75}
    loose = flags_of(spark, to_spark(spark, holder, tablet, neigh, next_door),
                     params={"multicard_resolve_min_days": 0, **blind})
    assert pd.isna(loose.loc["tablet_1" * 4, "multicard_group"])
    resolved = flags_of(spark, to_spark(spark, holder, tablet, neigh, next_door), params=blind)
    assert resolved.loc["tablet_1" * 4, "multicard_group"] == "holder_1" * 4
    assert resolved.loc["tablet_1" * 4, "ev"]["multicard_resolved"] >= 3
    assert pd.isna(resolved.loc["neigh_11" * 4, "multicard_group"])
    sectors = flags_of(spark, to_spark(spark, holder, tablet, neigh, next_door),
                       params={"multicard_contained_ratio": 0.75})
    assert sectors.loc["tablet_1" * 4, "multicard_group"] == "holder_1" * 4


def test_transit_hours_are_no_location(spark):
    """Issue 18: an hour in which a card's 15-minute positions spread over more than
    multicard_transit_factor x its reach is a card on its way (its mean a point on the
    road) and is left out of the hourly locations; an hour at one place is kept with the
    events' mean. Its holder's work phone, seen once at work that hour, no longer
    contradicts it."""
    # hour 8: at home at 08:05, at work (6.3 km away) at 08:50; hour 9: at work twice
    t = [8 * H + 300, 8 * H + 3000, 9 * H + 600, 9 * H + 1200]
    x = [HOME[0], WORK[0], WORK[0], WORK[0] + 100.0]
    y = [HOME[1], WORK[1], WORK[1], WORK[1]]
    ev = to_spark(spark, _rows("transit1" * 4, t, x, y))
    p = FlagsConfig()
    got = fl.hourly_locations(ev, p).toPandas()
    assert [s.hour for s in got["slot"]] == [9]
    assert got["hx"].iloc[0] == pytest.approx(WORK[0] + 50.0)
    every = fl.hourly_locations(ev, dataclasses.replace(p, multicard_transit_factor=0.0))
    assert sorted(s.hour for s in every.toPandas()["slot"]) == [8, 9]


def test_coincidence_distance_adapts_to_sparse_cells(spark, default_flags):
    """Two cards of one holder served by sites 1.5 km apart (sparse periphery: the cells
    table says the sites are ~2 km apart) coincide with the adaptive distance, not with a
    fixed 500 m."""
    adaptive = default_flags
    fixed = flags_of(spark, to_spark(spark, *_sparse_case()),
                     params={"multicard_spacing_factor": 0.0})
    assert adaptive.loc["sparse_2" * 3, "multicard_group"] == "sparse_1" * 3
    assert pd.isna(fixed.loc["sparse_2" * 3, "multicard_group"])


def test_components_solver():
    pdf = pd.DataFrame({"user_a": ["b", "a", "x"], "user_b": ["c", "b", "y"]})
    out = fl._components(pdf).set_index("user_id")
    assert out.loc[["a", "b", "c"], "multicard_group"].eq("a").all()
    assert out.loc[["x", "y"], "multicard_group"].eq("x").all()
    assert out.loc["c", "multicard_group_size"] == 3 and out.loc["y", "multicard_group_size"] == 2


def test_groups_are_complete_and_small_or_not_at_all():
    """The group rule on edge lists: a chain (a-b, b-c; a-c no pair) and a crowd larger
    than max_cards are ambiguous; a complete component of at most max_cards is a group; a
    pruned pair (kept False) completes a group but never links one."""
    def edges(*ab, kept=True):
        return pd.DataFrame({"user_a": [a for a, _ in ab], "user_b": [b for _, b in ab],
                             "kept": kept})

    crowd = [(f"k{i}", f"k{j}") for i in range(5) for j in range(i + 1, 5)]
    pdf = pd.concat([edges(("a", "b"), ("b", "c")), edges(*crowd),
                     edges(("p", "q"), ("p", "r")), edges(("q", "r"), kept=False),
                     edges(("x", "y")), edges(("y", "z"), kept=False)])
    out = fl._groups(pdf, 4).set_index("user_id")
    assert out.loc[["a", "b", "c"], "multicard_group"].isna().all()
    assert out.loc[["a", "b", "c"], "multicard_ambiguous"].eq(3).all()
    assert out.loc[[f"k{i}" for i in range(5)], "multicard_ambiguous"].eq(5).all()
    assert out.loc[["p", "q", "r"], "multicard_group"].eq("p").all()
    assert out.loc["r", "multicard_group_size"] == 3
    assert pd.isna(out.loc["r", "multicard_ambiguous"])
    assert out.loc[["x", "y"], "multicard_group"].eq("x").all() and "z" not in out.index
    assert (out["multicard_group_size"] <= 4).all()
    assert out.loc[[f"k{i}" for i in range(5)], "multicard_group_size"].eq(1).all()
    # without a cap the complete crowd is one group
    assert fl._groups(pdf, None).set_index("user_id").loc["k4", "multicard_group"] == "k0"


def test_ambiguous_chains_are_resolved_best_pair_first_and_crowds_never():
    """multicard_resolve_*: a chain a-b (0.99), b-c (0.76) coinciding on 14 days is
    resolved best pair first: a and b are grouped, c stays ambiguous. Complete linkage
    holds in the resolution too: d-e-f-g with d-e, e-f and d-f accepted and f-g the
    strongest makes {f, g}, then d-e (d-f alone does not join d to {f, g}: d-g is no
    pair). A crowd of five, every two of them paired (more than
    multicard_resolve_max_density of its pairs), is never resolved, nor a chain seen on
    fewer days than multicard_resolve_min_days, nor a component of more than
    multicard_resolve_max_cards."""
    def edges(rows, days=14):
        return pd.DataFrame([{"user_a": a, "user_b": b, "_s": sc, "kept": True,
                              "coincident_days": days} for a, b, sc in rows])

    chain = [("a", "b", 0.99), ("b", "c", 0.76)]
    four = [("d", "e", 0.80), ("e", "f", 0.85), ("d", "f", 0.82), ("f", "g", 0.95)]
    crowd = [(f"k{i}", f"k{j}", 0.9 + 0.01 * i) for i in range(5) for j in range(i + 1, 5)]
    street = [(f"s{i}", f"s{i + 1}", 0.9) for i in range(9)]
    pdf = pd.concat([edges(chain), edges(four), edges(crowd), edges(street),
                     edges([("x", "y", 0.9), ("y", "z", 0.8)], days=3)])
    out = fl._groups(pdf, 4, 7, 8, 0.7).set_index("user_id")
    grp = out["multicard_group"]
    assert grp["a"] == grp["b"] == "a" and pd.isna(grp["c"])
    assert out.loc[["a", "b"], "multicard_resolved"].eq(3).all()
    assert out.loc["c", "multicard_ambiguous"] == 3 and pd.isna(out.loc["c", "multicard_resolved"])
    assert grp["f"] == grp["g"] == "f" and grp["d"] == grp["e"] == "d"
    assert out.loc[["f", "g"], "multicard_group_size"].eq(2).all()
    for u in [f"k{i}" for i in range(5)] + [f"s{i}" for i in range(10)] + ["x", "y", "z"]:
        assert pd.isna(grp[u]) and out.loc[u, "multicard_group_size"] == 1, u
        assert pd.notna(out.loc[u, "multicard_ambiguous"]), u
    # the same edges without the resolution: every one of these components is ambiguous
    assert fl._groups(pdf, 4)["multicard_group"].isna().all()


# --------------------------------------------------------------------------------------
# the job on a tiny warehouse


@pytest.fixture
def tiny_cfg(spark, tmp_path):
    cfg = make_config(tmp_path)
    a1 = human("pers_a_1" * 3, rate_h=3, seed=11)
    other = {"home": (1_090_000.0, 3_000_000.0), "work": (1_096_000.0, 3_002_000.0)}
    frames = [meter("meter_a" * 3), human("human_a" * 3, **other), a1,
              companion(a1, "pers_a_2" * 3, seed=12)]
    events = to_spark(spark, *frames).withColumns({"lon": F.lit(104.0), "lat": F.lit(30.0)})
    write_cells_of(spark, cfg, events)  # the job places each event at its cell
    Catalog(spark, cfg.warehouse).write(events.drop("lon", "lat", *POSITIONS),
                                        "events_clean", {})
    return cfg


def test_job_writes_gated_partition_and_rerun_is_identical(spark, tiny_cfg):
    from mobsig.runner import run

    s1 = run(spark, tiny_cfg, "flag_users", month=MONTH).facts
    assert s1["cards"] == 4 and s1["non_human"] == 1 and s1["groups"] == 1
    assert s1["grouped_cards"] == 2
    assert s1["ambiguous_cards"] == 0 and s1["resolved_cards"] == 0
    assert s1["counted_persons"] == 2 and s1["days_missing"] == 20
    cat = Catalog(spark, tiny_cfg.warehouse)
    first = cat.read("user_flags").orderBy("user_id").collect()
    v1 = cat.version("user_flags")
    s2 = run(spark, tiny_cfg, "flag_users", month=MONTH).facts
    assert s2 == s1
    assert cat.read("user_flags").orderBy("user_id").collect() == first
    assert cat.version("user_flags") == v1 + 1
    assert {r["month"] for r in first} == {"2026-06"}
    assert s1["events_without_cell"] == 0
    # the cells table re-ingested without the meter's cell: the job places events by the
    # cells table, so the meter's events are left out, counted and warned about
    ev = cat.read("events_clean")
    gone = {r[0] for r in ev.where(F.col("user_id").startswith("meter"))
            .select("cell_id").distinct().collect()}
    n_gone = ev.where(F.col("cell_id").isin(sorted(gone))).count()
    kept = cat.read("cells").where(~F.col("cell_id").isin(sorted(gone)))
    cat.write(spark.createDataFrame(kept.collect(), kept.schema), "cells", {})
    s3 = run(spark, tiny_cfg, "flag_users", month=MONTH).facts
    assert n_gone > 0 and s3["events_without_cell"] == n_gone
    assert s3["cards"] == 3 and s3["non_human"] == 0 and s3["groups"] == 1


def test_job_gate_failure_writes_nothing(spark, tiny_cfg):
    from mobsig.runner import run

    cfg = tiny_cfg.replace(flags=FlagsConfig(max_non_human_share=0.1))
    with pytest.raises(DataQualityError) as err:
        run(spark, cfg, "flag_users", month=MONTH)
    assert "is_non_human" in str(err.value)
    assert not Catalog(spark, cfg.warehouse).exists("user_flags")


def test_job_without_events_is_an_input_error(spark, tiny_cfg):
    from mobsig.runner import run

    with pytest.raises(InputError, match="2026-07"):
        run(spark, tiny_cfg, "flag_users", month=dt.date(2026, 7, 1))


# --------------------------------------------------------------------------------------
# the synthetic city against its truth


def test_pairs_across_persons_are_pruned_to_each_cards_strongest(spark):
    """Two neighbours who commute together, each with two cards: their cards also pass the
    thresholds across persons (scores ~0.5 against ~0.9 within a person), and connected
    components alone would make one group of four. A person's three cards, all strongly
    paired, stay one group."""
    cols = ("user_a", "user_b", "shared_slots", "coincident_slots", "coincident_days",
            "coincident_share", "ref_moves", "co_moves", "co_move_share", "cover", "presence")

    def pair(a, b, share, co_move, moves=40):
        return (a, b, 300, int(300 * share), 14, share, moves, int(moves * co_move), co_move,
                1.0, 1.0)

    pairs = spark.createDataFrame([
        pair("a1", "a2", 0.85, 1.0), pair("b1", "b2", 0.92, 0.95),
        pair("a1", "b1", 0.72, 0.68), pair("a2", "b2", 0.70, 0.70),
        pair("c1", "c2", 0.90, 0.90), pair("c1", "c3", 0.88, 0.85),
        pair("c2", "c3", 0.93, 0.80),
        pair("s1", "s2", 0.95, 0.0, moves=2),  # judged on co-location alone: score 0.95
        # a weakly moving true pair (0.9 x 0.7 = 0.63) next to a static pair (0.95) of the
        # same card: different scales, both kept
        pair("m1", "m2", 0.90, 0.70), pair("m1", "m3", 0.95, 0.0, moves=2),
        pair("m2", "m3", 0.93, 0.0, moves=2),
    ], cols)
    p = FlagsConfig()

    def groups(cfg):
        g = fl.multicard_groups(fl.strongest_pairs(pairs, cfg), pairs,
                                cfg.max_group_size).toPandas()
        return sorted(sorted(x) for _, x in g.groupby("multicard_group")["user_id"])

    assert groups(p) == [["a1", "a2"], ["b1", "b2"], ["c1", "c2", "c3"],
                         ["m1", "m2", "m3"], ["s1", "s2"]]
    # without the pruning the two couples link into one component of four that is not
    # complete (a1-b2, a2-b1 are no pairs): ambiguous, none of the four is grouped
    merged = groups(dataclasses.replace(p, multicard_partner_ratio=0.0))
    assert not {"a1", "a2", "b1", "b2"} & {u for g in merged for u in g}
    assert ["c1", "c2", "c3"] in merged


def test_a_tablet_with_look_alike_neighbours_goes_to_its_best_partner_after_a_week(spark):
    """A tablet at home (no moves: judged on containment) beside its holder's phone and two
    neighbours' (a 600-person region, its figures): co-location x cover x presence are
    0.95, 0.92 and 0.91, all within multicard_contained_ratio (0.9) of the best, so the
    three pairs are kept and the component (the holder and the neighbours are paired with
    the tablet only) is not complete: ambiguous. Coinciding on 14 days (>=
    multicard_resolve_min_days), it is resolved best pair first: the tablet joins its
    holder, the neighbours stay single. The serving sectors are a threshold, not a
    factor of the score: a neighbour at 0.38 (>= multicard_min_cell_overlap) is no less a
    candidate. On a short window (3 days of coincidence) or with the resolution off the
    component stays ambiguous."""
    cols = ("user_a", "user_b", "shared_slots", "coincident_slots", "coincident_days",
            "coincident_share", "ref_moves", "co_moves", "co_move_share", "cover",
            "presence", "cell_overlap")

    def frame(days):
        def pair(b, share, cover, presence, overlap):
            return ("tablet", b, 250, int(250 * share), days, share, 0, 0, None, cover,
                    presence, overlap)

        types = ["string"] * 2 + ["long"] * 3 + ["double"] + ["long"] * 2 + ["double"] * 4
        return spark.createDataFrame([
            pair("holder", 1.0, 0.977, 0.977, 0.984),
            pair("neighbour1", 0.98, 0.969, 0.969, 0.381),
            pair("neighbour2", 0.972, 0.961, 0.969, 0.472)],
            ", ".join(f"{c} {t}" for c, t in zip(cols, types, strict=True)))

    def groups(pairs, p):
        g = fl.multicard_groups(fl.strongest_pairs(pairs, p), pairs, p.max_group_size,
                                p).toPandas()
        return g.set_index("user_id")

    p = FlagsConfig()
    g = groups(frame(14), p)
    assert g.loc["tablet", "multicard_group"] == g.loc["holder", "multicard_group"] == "holder"
    assert g.loc[["tablet", "holder"], "multicard_resolved"].eq(4).all()
    assert g.loc[["neighbour1", "neighbour2"], "multicard_group"].isna().all()
    assert g.loc[["neighbour1", "neighbour2"], "multicard_ambiguous"].eq(4).all()
    for pairs, q in ((frame(3), p),
                     (frame(14), dataclasses.replace(p, multicard_resolve_min_days=0))):
        g = groups(pairs, q)
        assert g["multicard_group"].isna().all() and g["multicard_ambiguous"].eq(4).all()
        assert g["multicard_resolved"].isna().all()


def test_minute_resolution_phone_is_not_a_machine_but_a_minute_meter_is(default_flags):
    """Whole-minute event times (session feeds): a busy phone's gaps are nearly all exactly
    60 s (IQR 0, the plain robust CV would be 0: "a machine"); the resolution bounds how
    regular they can be shown to be, so it is not flagged. A meter reporting every 30
    minutes on the same clock still is; the resolution is kept as evidence."""
    _, t = _minute_case()
    out = default_flags
    ph, mm = out.loc["minutephone" * 2], out.loc["minutemeter" * 2]
    gaps = np.diff(t)
    q25, q50, q75 = np.percentile(gaps, [25, 50, 75])
    assert (q25, q50, q75) == (60.0, 60.0, 60.0)  # without the resolution: CV 0
    assert ph["ev"]["time_resolution_s"] == 60.0 and ph["ev"]["n_events"] >= 100
    assert ph["ev"]["cadence_robust_cv"] == pytest.approx(60 / (1.349 * 60), abs=1e-3)
    assert not ph["is_non_human"]
    assert mm["is_non_human"] and mm["non_human_reason"] == "regular_cadence"
    assert mm["ev"]["time_resolution_s"] == 60.0
    # the jittered meter of the other tests has whole-second times: resolution 1 s
    ms = default_flags
    assert ms.loc["meter_r" * 3, "ev"]["time_resolution_s"] == 1.0
    assert ms.loc["meter_r" * 3, "is_non_human"]


def test_person_at_one_cell_for_three_days_is_not_a_static_machine(spark):
    # issue 19: on a short window (static_min_days scaled down to its floor of 3) a person
    # who stays at one cell is not a machine: active in waking hours, only hourly
    # periodic updates at night; a meter at one cell reports evenly around the clock
    stay = (1_500_000.0, 3_050_000.0)
    ev = to_spark(spark, meter("meter_s" * 3, days=3),
                  human("person_s" * 3, days=3, home=stay, work=stay, jitter=0.0))
    out = flags_of(spark, ev, {"static_min_days": 3})
    m, h = out.loc["meter_s" * 3], out.loc["person_s" * 3]
    assert h["ev"]["static_radius_m"] == 0.0 and h["ev"]["n_days"] == 3  # one place
    assert h["ev"]["hour_cv"] > FlagsConfig().static_max_hour_cv
    assert not h["is_non_human"] and h["non_human_reason"] is None
    assert m["ev"]["hour_cv"] < 0.1
    assert m["is_non_human"] and "static_location" in m["non_human_reason"]
    # without the day-pattern condition the person would be flagged
    loose = flags_of(spark, ev, {"static_min_days": 3, "static_max_hour_cv": 10.0})
    assert loose.loc["person_s" * 3, "non_human_reason"] == "static_location"


@pytest.mark.slow  # one user_flags run over 12 cards: ~8 s on 2 cores (warm)
def test_two_days_of_dorm_mates_and_a_street_of_neighbours_do_not_chain_into_groups(spark):
    """Issue 19: on a two-day window (multicard_min_days at its floor of 2) few cards have
    enough moves to be judged on co-movement, so pairs rest on co-location alone. Five
    colleagues who share a dormitory, an office and the shuttle between them pass the pair
    rules with each other (a crowd: every pair); five neighbours living and working 300 m
    apart along a street pass with their next neighbours only (a chain A-B-C-D-E). The
    connected components of the pairs made one group of five of each (the size gate
    failed). A group is now only a set of cards that are all paired with each other and
    no more than flags.max_group_size: a crowd or a chain is ambiguous and none of its
    cards is grouped (evidence ``multicard_ambiguous``: the cards it linked). One
    person's two cards on the same two days are still grouped. The alike-cells test is
    off here (multicard_min_cell_overlap 0): these frames' cells are 100 m squares of the
    true position, so neighbours 300 m apart share no cell and it alone would part the
    street; the grouping is what is tested."""
    short = {"multicard_min_days": 2, "static_min_days": 3, "multicard_min_cell_overlap": 0.0}
    dorm, office = (1_200_000.0, 3_000_000.0), (1_206_000.0, 3_002_000.0)
    crowd = [human(f"crowd_{i}_" * 4, days=2, rate_h=2, seed=60 + i, home=dorm,
                   work=office, jitter=100.0) for i in range(5)]
    street = [human(f"chain_{i}_" * 4, days=2, rate_h=2, seed=70 + i, jitter=100.0,
                    home=(1_300_000.0 + 300.0 * i, 3_000_000.0),
                    work=(1_306_000.0 + 300.0 * i, 3_002_000.0)) for i in range(5)]
    own = {"home": (1_400_000.0, 3_000_000.0), "work": (1_406_000.0, 3_002_000.0)}
    p1 = human("pers_t_1" * 4, days=2, rate_h=3, seed=80, jitter=100.0, **own)
    p2 = companion(p1, "pers_t_2" * 4, seed=81, jitter=100.0, **own)
    ev = to_spark(spark, *crowd, *street, p1, p2)
    p = FlagsConfig(**short)
    out = flags_of(spark, ev, short)
    crowd_ids = sorted(f"crowd_{i}_" * 4 for i in range(5))
    chain_ids = sorted(f"chain_{i}_" * 4 for i in range(5))
    # the evidence: every crowd pair passes, the street links next neighbours only
    got = {tuple(sorted((u, q["other"]))) for u in out.index
           for q in out.loc[u, "ev"].get("multicard_pairs") or []}
    assert {(a, b) for i, a in enumerate(crowd_ids) for b in crowd_ids[i + 1:]} <= got
    assert {(chain_ids[i], chain_ids[i + 1]) for i in range(4)} <= got
    assert (chain_ids[0], chain_ids[2]) not in got and (chain_ids[1], chain_ids[3]) not in got
    grp = out["multicard_group"]
    assert grp["pers_t_1" * 4] == grp["pers_t_2" * 4] == "pers_t_1" * 4
    assert out["multicard_group_size"].max() <= p.max_group_size
    for c in crowd_ids + chain_ids:
        assert pd.isna(grp[c]) and out.loc[c, "multicard_group_size"] == 1
        assert out.loc[c, "is_group_primary"]
    assert {out.loc[c, "ev"].get("multicard_ambiguous") for c in crowd_ids} == {5}
    assert {out.loc[c, "ev"].get("multicard_ambiguous") for c in chain_ids} == {5}
    assert out.loc["pers_t_1" * 4, "ev"].get("multicard_ambiguous") is None


def test_a_trip_seen_in_short_steps_is_one_move(spark):
    """Issue 18: a holder's phone seen every 15 minutes shows a 6.3 km commute as four
    1.6 km steps, each under multicard_move_min_m (2 km) when taken alone; the work
    phone, seen only at both ends, shows one 6.3 km step. Moves are runs of travelling
    steps judged on their net displacement, so both cards have one move, over the same
    slots; a card flipping between two masts of the sparse periphery (spacing 2.5 km,
    steps under 2 x spacing) has none, and a card that goes out and comes back within
    one run has none either."""
    p = FlagsConfig()
    q = 15 * 60.0
    ts = [8 * H + i * q for i in range(7)]  # 08:00 .. 09:30
    f = [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    phone = _rows("phone___" * 4, ts, [HOME[0] + v * (WORK[0] - HOME[0]) for v in f],
                  [HOME[1] + v * (WORK[1] - HOME[1]) for v in f])
    work = _rows("workphon" * 4, [ts[0], ts[6]], [HOME[0], WORK[0]], [HOME[1], WORK[1]])
    flip = _rows("flipflop" * 4, ts, [HOME[0], HOME[0] + 3000.0] * 3 + [HOME[0]],
                 [HOME[1]] * 7)
    flip["spacing_m"] = 2500.0
    back = _rows("outback_" * 4, ts, [HOME[0] + d for d in (0, 1500, 3000, 1500, 0, 0, 0)],
                 [HOME[1]] * 7)
    moves = fl.card_moves(to_spark(spark, phone, work, flip, back), p).toPandas()
    by = {u: g for u, g in moves.groupby("user_id")}
    assert set(by) == {"phone___" * 4, "workphon" * 4}
    for u, g in by.items():
        assert g["move"].nunique() == 1, u
    start = by["workphon" * 4]["slot"].min()  # 08:00, the slot before its one step
    assert sorted(by["workphon" * 4]["slot"] - start) == [i * q for i in range(7)]
    # the phone's run: from 08:15 (the slot before its first travelling step) to 09:15
    assert sorted(by["phone___" * 4]["slot"] - start) == [i * q for i in range(1, 6)]
