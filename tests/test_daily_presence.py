"""Daily presence 日实际服务人口 (issue 14 item 4): the presence rules on hand-built stays
(a transit of 2 h 59 min, a stay crossing midnight, a card in two units on one day, the
hourly threshold, classes and weights, open runs of the carry), suppression, the truth and
its evaluation, and the job on the synthetic city (conftest ``chain``, which runs it for
each of the 14 days after the month's jobs) against the generator's truth, against
population_by_unit and in its export."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from mobsig import presence
from mobsig.config import build_config
from mobsig.errors import ConfigError
from mobsig.io.catalog import Catalog
from mobsig.synth import evaluate as ev
from mobsig.synth.presence_truth import daily_presence_truth
from tests.factories import MONTH, assert_published

D = dt.date(2026, 6, 9)
CLASSES = ("resident", "short_term", "visitor", "unidentified", "unknown")


# --------------------------------------------------------------------------------------
# unit: hand-built stays, units, classes and weights


def _square(x0: float, x1: float) -> str:
    return f"POLYGON(({x0} 30.60, {x1} 30.60, {x1} 30.62, {x0} 30.62, {x0} 30.60))"


def _units(spark):
    rows = [("C1", "东区", "county", None, _square(104.00, 104.02)),
            ("C2", "西区", "county", None, _square(104.02, 104.04)),
            ("T1", "一街道", "township", "C1", _square(104.00, 104.01)),
            ("T2", "二街道", "township", "C1", _square(104.01, 104.02))]
    df = spark.createDataFrame(rows, "unit_id string, unit_name string, level string, "
                                     "parent_id string, wkt string")
    return df.select("unit_id", "unit_name", "level", "parent_id",
                     F.expr("ST_SetSRID(ST_GeomFromWKT(wkt), 4490)").alias("geometry"))


T1, T2, C2 = 104.005, 104.015, 104.03  # longitudes inside T1, T2 and C2 (lat 30.61)


def _stays(spark, rows):
    """(user, start, end, lon) -> stays frame; times are local wall-clock text, parsed in
    the session time zone like the stored stays."""
    df = spark.createDataFrame([(u, s, e, lon, 30.61) for u, s, e, lon in rows],
                               "user_id string, s string, e string, lon double, lat double")
    return df.select("user_id", F.to_timestamp("s").alias("stay_start"),
                     F.to_timestamp("e").alias("stay_end"), "lon", "lat")


STAYS = [
    ("a", "2026-06-09 08:00:00", "2026-06-09 10:59:00", T1),  # 2 h 59: a transit
    ("b", "2026-06-09 09:00:00", "2026-06-09 12:00:00", T1),  # exactly 3 h
    ("c", "2026-06-08 21:00:00", "2026-06-09 01:30:00", T1),  # crosses midnight: 3 h + 1.5 h
    ("c", "2026-06-09 09:00:00", "2026-06-09 11:00:00", T1),  # ... and 2 h more on the 9th
    ("d", "2026-06-09 08:00:00", "2026-06-09 12:00:00", T1),  # 4 h in T1 and 4 h in T2
    ("d", "2026-06-09 13:00:00", "2026-06-09 17:00:00", T2),
    ("e", "2026-06-09 08:00:00", "2026-06-09 10:00:00", T1),  # 2 h + 2 h: only the county
    ("e", "2026-06-09 11:00:00", "2026-06-09 13:00:00", T2),
    ("f", "2026-06-09 08:00:00", "2026-06-09 18:00:00", C2),  # not counted (a meter)
    ("g", "2026-06-09 10:00:00", "2026-06-09 14:29:00", C2),  # no home_work row; 29 min of 14h
    ("h", "2026-06-09 10:00:00", "2026-06-09 14:30:00", C2),  # 30 min of hour 14
]


def _classes(spark):
    rows = [("a", "resident", True), ("b", "resident", True), ("c", "short_term", True),
            ("d", "resident", True), ("e", "visitor", True), ("f", "non_human", False),
            ("h", "visitor", True)]
    hw = spark.createDataFrame(rows, "user_id string, pop_class string, is_counted boolean")
    return presence.card_classes(hw)


def _weights(spark):
    w = spark.createDataFrame([("a", 10.0), ("b", 10.0), ("c", 20.0), ("d", 10.0),
                               ("e", 30.0), ("h", 5.0)], "user_id string, weight double")
    return w, spark.createDataFrame([(50.0,)], "weight double")


def _table(spark, days):
    w, default = _weights(spark)
    out = presence.presence_table(_stays(spark, STAYS), _classes(spark), w, default,
                                  _units(spark), days, 3.0, 30, 8).toPandas()
    out["key_date"] = out["key_date"].astype(str)
    return out


def _cell(t, day, unit, cls="present", hour=None):
    row = t[(t["key_date"] == str(day)) & (t["unit_id"] == unit) & (t["pop_class"] == cls)
            & (t["hour"].isna() if hour is None else t["hour"].eq(hour))]
    assert len(row) == 1, (day, unit, cls, hour)
    return int(row["raw_count"].iloc[0]), float(row["expanded_count"].iloc[0])


def _hours(t, day, unit):
    h = t[(t["key_date"] == str(day)) & (t["unit_id"] == unit) & t["hour"].notna()]
    return {int(r.hour): int(r.raw_count) for r in h.itertuples() if r.raw_count}


def test_presence_rules_on_hand_built_stays(spark):
    """2 h 59 min is a transit; exactly 3 h counts; a stay crossing midnight counts on
    each day for its hours inside it; a card 3 h+ in two townships counts once in their
    county; 2 h + 2 h counts in the county only; a non-counted card never counts; a card
    without a home_work row is 'unknown' with the default weight; an hour needs 30
    minutes. Two days at once (the 8th and the 9th), as mobsig evaluate computes them."""
    t = _table(spark, [D - dt.timedelta(days=1), D])
    assert set(t["level"]) == {"county", "township", "grid"}
    assert _cell(t, D, "T1") == (3, 40.0)  # b, c, d (not a: 2 h 59)
    assert _cell(t, D, "T1", "resident") == (2, 20.0)  # b, d
    assert _cell(t, D, "T1", "short_term") == (1, 20.0)  # c: 1.5 h + 2 h on the 9th
    assert _cell(t, D, "T2") == (1, 10.0)  # d (e has 2 h)
    assert _cell(t, D, "C1") == (4, 70.0)  # b, c, d once (two townships), e (2 h + 2 h)
    assert _cell(t, D, "C1", "visitor") == (1, 30.0)
    assert _cell(t, D, "C2") == (2, 55.0)  # g (default 50) and h (5); f is not counted
    assert _cell(t, D, "C2", "unknown") == (1, 50.0)
    assert _cell(t, D, "C2", "visitor") == (1, 5.0)
    for unit in ("T1", "T2", "C1", "C2"):  # present is the sum of the classes
        assert _cell(t, D, unit)[0] == sum(_cell(t, D, unit, c)[0] for c in CLASSES)
    # hours: c's 00:00-01:30 gives hour 0 (60 min) and hour 1 (30 min: counts)
    assert _hours(t, D, "T1") == {0: 1, 1: 1, 8: 1, 9: 3, 10: 3, 11: 2}
    assert _hours(t, D, "T2") == {13: 1, 14: 1, 15: 1, 16: 1}
    assert _hours(t, D, "C1") == {0: 1, 1: 1, 8: 2, 9: 4, 10: 3, 11: 3, 12: 1, 13: 1,
                                  14: 1, 15: 1, 16: 1}  # e: 8-10 in T1, 11-13 in T2
    assert _hours(t, D, "C2") == {10: 2, 11: 2, 12: 2, 13: 2, 14: 1}  # g: 29 min of 14 h
    # every polygon unit has all 6 classes and 24 hours, zeros included (below, per day)
    grid = t[(t["level"] == "grid") & (t["key_date"] == str(D))]
    assert grid.groupby("unit_id").size().eq(30).all() and len(grid) >= 3 * 30
    assert grid[grid["pop_class"].eq("present") & grid["hour"].isna()]["raw_count"].sum() == 6
    # the 8th: only c, present for 21:00-24:00 in T1 (the midnight hours count once, on
    # the 9th); every polygon unit has its rows on both days
    d8 = D - dt.timedelta(days=1)
    assert _cell(t, d8, "T1") == (1, 20.0) and _cell(t, d8, "C1", "short_term") == (1, 20.0)
    assert _hours(t, d8, "T1") == {21: 1, 22: 1, 23: 1}
    assert _cell(t, d8, "C2") == (0, 0.0)
    assert (t[t["level"] != "grid"].groupby(["key_date", "unit_id"]).size() == 30).all()


def test_hour_pieces_and_ledger(spark):
    pieces = presence.hour_pieces(_stays(spark, STAYS), [D]).toPandas()
    c = pieces[pieces["user_id"] == "c"].sort_values("hour")
    assert c[["hour", "overlap_s"]].values.tolist() == [[0, 3600], [1, 1800], [9, 3600],
                                                       [10, 3600]]
    assert (pieces["key_date"].astype(str) == str(D)).all() and (pieces["overlap_s"] > 0).all()
    assert pieces.groupby("user_id")["overlap_s"].sum()["a"] == 2 * 3600 + 59 * 60
    ledger = presence.card_ledger(presence.hour_pieces(_stays(spark, STAYS), [D]),
                                  _classes(spark), 3.0).toPandas().set_index("user_id")
    assert ledger["reason"].to_dict() == {"a": "under_min_hours", "b": None, "c": None,
                                          "d": None, "e": None, "f": "not_counted",
                                          "g": None, "h": None}
    assert ledger.loc["g", "pop_class"] == "unknown"


def test_a_silent_night_at_the_same_place_counts_as_presence(spark):
    """presence.bridged: a phone asleep from 23:00 to 06:30 leaves two stays at home the
    stay rule does not join (gap > stays.gap_cap_h); the gap is filled at the evening
    stay's place, so the card counts in the night hours. Not filled: a gap longer than
    daily_presence.bridge_gap_h, two stays farther apart than bridge_max_dist_m, and
    across cards; with bridge_gap_h 0 nothing."""
    km = 1000.0 / (111_320.0 * np.cos(np.radians(30.61)))
    rows = [("n", "2026-06-08 19:00:00", "2026-06-08 23:00:00", T1),
            ("n", "2026-06-09 06:30:00", "2026-06-09 08:00:00", T1 + 0.3 * km),
            ("far", "2026-06-08 19:00:00", "2026-06-08 23:00:00", T1),
            ("far", "2026-06-09 06:30:00", "2026-06-09 08:00:00", T1 + 1.5 * km),
            ("long", "2026-06-08 10:00:00", "2026-06-08 11:00:00", T1),
            ("long", "2026-06-09 06:30:00", "2026-06-09 08:00:00", T1),
            ("m", "2026-06-09 06:30:00", "2026-06-09 08:00:00", T1)]
    stays = _stays(spark, rows)
    out = presence.bridged(stays, 12.0, 1000.0).toPandas()
    added = out.merge(stays.toPandas(), how="left", indicator=True)
    added = added[added["_merge"] == "left_only"]
    assert added["user_id"].tolist() == ["n"]
    r = added.iloc[0]
    assert (str(r["stay_start"]), str(r["stay_end"])) == ("2026-06-08 23:00:00",
                                                          "2026-06-09 06:30:00")
    assert r["lon"] == pytest.approx(T1)  # the evening stay's place
    hours = presence.hour_pieces(presence.bridged(stays, 12.0, 1000.0), [D]).toPandas()
    night = hours[hours["user_id"] == "n"].groupby("hour")["overlap_s"].sum()
    assert [int(night.get(h, 0)) for h in range(8)] == [3600] * 6 + [3600, 3600]
    assert presence.bridged(stays, 0.0, 1000.0).count() == len(rows)


def test_a_silence_from_the_evening_before_counts_from_midnight(spark):
    """presence.bridged with ``before`` (the stays table's rows of the day before, as
    daily_presence and exposure_hazards read them): a phone silent from 22:00 on the 8th
    to 06:30 on the 9th. Its evening stay ended on the 8th, so it is not among the 9th's
    stays (stays_for_days): without ``before`` the 9th's night hours are empty, with it
    the card is at home from midnight to 06:30. The evening stay itself is not returned
    as a stay of the 9th."""
    stored = _stays(spark, [("n", "2026-06-08 18:00:00", "2026-06-08 22:00:00", T1),
                            ("n", "2026-06-09 06:30:00", "2026-06-09 08:00:00", T1),
                            ("q", "2026-06-08 18:00:00", "2026-06-08 22:00:00", T2),
                            ("q", "2026-06-09 06:30:00", "2026-06-09 08:00:00", C2)])
    stored = stored.withColumn("dt", F.to_date("stay_end"))
    carry = spark.createDataFrame([], "user_id string, kind string, event_time timestamp, "
                                      "lon double, lat double, dt date")
    days = presence.stays_for_days(stored, carry, [D], 30.0)
    assert days.count() == 2  # the 9th's own stays only

    def night(df) -> dict:
        h = presence.hour_pieces(df, [D]).toPandas()
        return {u: [int(g.loc[g["hour"] == k, "overlap_s"].sum()) for k in range(8)]
                for u, g in h.groupby("user_id")}

    assert night(presence.bridged(days, 12.0, 1000.0))["n"] == [0] * 6 + [1800, 3600]
    got = presence.bridged(days, 12.0, 1000.0, before=stored)
    assert night(got)["n"] == [3600] * 6 + [3600, 3600]
    assert night(got)["q"] == [0] * 6 + [1800, 3600]  # 1.4 km away in the morning: a trip
    assert got.where("stay_end < '2026-06-09 00:00:00'").count() == 0  # the gap, no stay
    assert got.where("user_id = 'n'").count() == 2  # the morning stay and the gap


def test_stays_for_days_take_open_runs_from_the_latest_carry_day(spark):
    """Per day d: the closed stays stored on d and d+1, and the runs still open at the end
    of d+1 (of d when d+1 has not run) as stays from their first to their last record; an
    earlier day's open runs were closed or carried on, and a run shorter than tau is not
    a stay yet."""
    rows = [("u", "open_record", "2026-06-09 20:00:00", 104.005, "2026-06-09"),
            ("u", "open_record", "2026-06-09 23:30:00", 104.007, "2026-06-09"),
            ("u", "open_record", "2026-06-09 20:00:00", 104.005, "2026-06-10"),
            ("u", "open_record", "2026-06-10 23:50:00", 104.007, "2026-06-10"),
            ("v", "open_record", "2026-06-10 23:40:00", 104.005, "2026-06-10"),
            ("v", "open_record", "2026-06-10 23:55:00", 104.005, "2026-06-10"),
            ("w", "last_stay", None, 104.0, "2026-06-10"),
            ("x", "open_record", "2026-06-09 12:00:00", 104.005, "2026-06-09"),
            ("x", "open_record", "2026-06-09 23:00:00", 104.005, "2026-06-09")]
    carry = spark.createDataFrame(rows, "user_id string, kind string, t string, lon double, "
                                        "d string").select(
        "user_id", "kind", F.to_timestamp("t").alias("event_time"), "lon",
        F.lit(30.61).alias("lat"), F.to_date("d").alias("dt"))
    stays = _stays(spark, [("b", "2026-06-09 09:00:00", "2026-06-09 12:00:00", T1),
                           ("y", "2026-06-09 22:00:00", "2026-06-10 07:00:00", T1)]).select(
        "*", F.when(F.col("user_id") == "b", F.lit(D)).otherwise(F.lit(D + dt.timedelta(1)))
        .alias("dt"))
    two = [D, D + dt.timedelta(days=1)]
    tagged = presence.stays_for_days(stays, carry, two, 30.0)
    got = tagged.toPandas()
    got["key_date"] = got["key_date"].astype(str)
    by_day = got.groupby("key_date")["user_id"].apply(sorted).to_dict()
    # the 9th: b (stored on the 9th), y (stored on the 10th), u open at the end of the
    # 10th (x's run of the 9th was closed by the 10th's run); the 10th: y, and u open at its
    # end (no 11th ran); v lasts 15 min
    assert by_day == {"2026-06-09": ["b", "u", "y"], "2026-06-10": ["u", "y"]}
    u = got[(got["user_id"] == "u") & (got["key_date"] == "2026-06-09")].iloc[0]
    assert str(u["stay_start"]) == "2026-06-09 20:00:00"
    assert str(u["stay_end"]) == "2026-06-10 23:50:00"
    assert u["lon"] == pytest.approx(104.006)
    # only the 9th's partitions read (the 10th has not run): x's run is the open one
    only = presence.stays_for_days(stays.where("dt = DATE'2026-06-09'"),
                                   carry.where("dt = DATE'2026-06-09'"), [D], 30.0)
    assert sorted(only.toPandas()["user_id"]) == ["b", "u", "x"]
    # a stay counts only on its own day's hours
    y = presence.hour_pieces(tagged, two).where("user_id = 'y'").toPandas()
    assert sorted({(str(r.key_date), r.hour) for r in y.itertuples()}) == (
        [("2026-06-09", 22), ("2026-06-09", 23)]
        + [("2026-06-10", h) for h in range(7)])


def _long(spark, cells):
    """(unit, pop_class, hour, raw) -> a one-day long table of three townships of P."""
    rows = [(D, "township", u, f"{u}名", "P", cls, hour, raw, 10.0 * raw)
            for u, cls, hour, raw in cells]
    return spark.createDataFrame(
        rows, "key_date date, level string, unit_id string, unit_name string, "
              "parent_id string, pop_class string, hour int, raw_count bigint, "
              "expanded_count double")


def test_publish_suppresses_small_cells_and_their_complements(spark):
    """U1's short_term (4) is small: the identity present = sum of classes would give it
    back from present and resident, so resident is hidden too; the short_term siblings
    would give it back from the parent's total, so U2's short_term is hidden, and with it
    U2's resident. Hour 9 of U1 (10) is small: U2's hour 9 is hidden with it."""
    cells = []
    for u, present_, res, st, h9 in (("U1", 40, 36, 4, 10), ("U2", 50, 30, 20, 30),
                                     ("U3", 60, 35, 25, 40)):
        cells += [(u, "present", None, present_), (u, "resident", None, res),
                  (u, "short_term", None, st), (u, "visitor", None, 0),
                  (u, "unidentified", None, 0), (u, "unknown", None, 0),
                  (u, "present", 9, h9), (u, "present", 10, present_)]
    out = presence.publish(_long(spark, cells), 15, True, False).toPandas()
    hidden = {(r.unit_id, r.pop_class, None if pd.isna(r.hour) else int(r.hour))
              for r in out.itertuples() if r.is_suppressed}
    assert hidden == {("U1", "short_term", None), ("U1", "resident", None),
                      ("U1", "present", 9), ("U2", "short_term", None),
                      ("U2", "resident", None), ("U2", "present", 9)}
    assert out.loc[out["is_suppressed"], ["raw_count", "expanded_count"]].isna().all().all()
    assert out.loc[~out["is_suppressed"], "raw_count"].notna().all()
    _assert_unrecoverable(out)
    plain = presence.publish(_long(spark, cells), 15, False, False).toPandas()
    assert plain["is_suppressed"].sum() == 2  # primary only: U1 short_term and hour 9


def _assert_unrecoverable(out: pd.DataFrame) -> None:
    """No hidden cell can be recomputed from published ones: within a unit the hidden
    classes are never a single one (present = their sum), and within a sibling group
    (level, parent, class/hour) never a single one either (the parent's cell is
    published)."""
    day = out[out["hour"].isna()]
    for unit, g in day.groupby(["level", "unit_id"]):
        classes = g[g["pop_class"] != "present"]
        n_hidden = classes["is_suppressed"].sum()
        if not g.loc[g["pop_class"] == "present", "is_suppressed"].any():
            assert n_hidden != 1, unit
    key = [out["level"], out["parent_id"].fillna(""), out["pop_class"],
           out["hour"].fillna(-1)]
    sib = out["is_suppressed"].groupby(key)
    assert not (sib.transform("sum").eq(1) & sib.transform("size").gt(1)).any()


def test_config_and_validation():
    cfg = build_config({})
    assert (cfg.daily_presence.min_hours, cfg.daily_presence.hour_min_minutes) == (3.0, 30)
    assert (cfg.daily_presence.bridge_gap_h, cfg.daily_presence.bridge_max_dist_m) == (
        12.0, 1000.0)
    with pytest.raises(ConfigError, match=r"daily_presence\.bridge_gap_h"):
        build_config({}, ["daily_presence.bridge_gap_h=25"])
    assert build_config({}, ["daily_presence.min_hours=2.5"]).daily_presence.min_hours == 2.5
    with pytest.raises(ConfigError, match=r"daily_presence\.min_hours"):
        build_config({}, ["daily_presence.min_hours=0"])
    with pytest.raises(ConfigError, match=r"daily_presence\.hour_min_minutes"):
        build_config({"daily_presence": {"hour_min_minutes": 61}})


class _StubCity:
    """What daily_presence_truth uses of a City: local x/y = lon/lat, and units as
    longitude bands (T1 | T2 | C2 as above; C1 = T1 + T2)."""

    def to_xy(self, lon, lat):
        return np.asarray(lon, float), np.asarray(lat, float)

    def unit_of(self, x, y, level):
        x = np.asarray(x, float)
        if level == "county":
            return np.where(x < 104.02, "C1", "C2").astype(object)
        return np.where(x < 104.01, "T1", np.where(x < 104.02, "T2", None)).astype(object)


def test_truth_follows_the_same_rules():
    """The generator's truth: one primary card per sample person, 3 h per unit and day,
    hours of 30 min, the midnight crossing split by day."""
    start = dt.date(2026, 6, 8)
    stays = pd.DataFrame([(u, pd.Timestamp(s), pd.Timestamp(e), lon, 30.61)
                          for u, s, e, lon in STAYS],
                         columns=["user_id", "stay_start", "stay_end", "lon", "lat"])
    users = sorted(set(stays["user_id"]))
    cards = pd.DataFrame({"user_id": users + ["b2"], "person_id": list(range(8)) + [1],
                          "card_kind": ["primary"] * 8 + ["secondary"],
                          "is_human": [u != "f" for u in users] + [True]})
    persons = pd.DataFrame({"person_id": range(8), "in_sample": True,
                            "pop_class": ["resident", "resident", "short_term", "resident",
                                          "visitor", "resident", "visitor", "visitor"]})
    stays = pd.concat([stays, stays[stays["user_id"] == "b"].assign(user_id="b2")])
    t = daily_presence_truth(stays, cards, persons, _StubCity(), start, 3.0, 30)
    t["key_date"], t["raw_count"], t["expanded_count"] = t["dt"], t["persons"], 0.0
    assert _cell(t, D, "T1")[0] == 3 and _cell(t, D, "C1")[0] == 4
    assert _cell(t, D, "C2")[0] == 2  # g and h (the truth has no 'unknown')
    assert _hours(t, D, "T1") == {0: 1, 1: 1, 8: 1, 9: 3, 10: 3, 11: 2}
    assert _hours(t, D, "C2") == {10: 2, 11: 2, 12: 2, 13: 2, 14: 1}
    assert _cell(t, start, "T1") == (1, 0.0) and _hours(t, start, "T1") == {21: 1, 22: 1,
                                                                           23: 1}


def test_evaluation_of_daily_presence():
    rows_t, rows_m = [], []
    for day in ("2026-06-09", "2026-06-10"):
        rows_t += [(day, "county", "C1", "present", None, 40),
                   (day, "county", "C1", "resident", None, 30),
                   (day, "county", "C1", "visitor", None, 10),
                   (day, "county", "C2", "present", None, 5)]
        rows_t += [(day, "county", "C1", "present", h, 20 + h) for h in range(24)]
        rows_m += [(day, "county", "C1", "present", None, 44 if day.endswith("9") else 38),
                   (day, "county", "C1", "resident", None, 33),
                   (day, "county", "C1", "visitor", None, 11),
                   (day, "county", "C2", "present", None, 9)]
        rows_m += [(day, "county", "C1", "present", h, 20 + h + (h == 3)) for h in range(24)]
    cols = ["dt", "level", "unit_id", "pop_class", "hour"]
    truth = pd.DataFrame(rows_t, columns=[*cols, "persons"])
    measured = pd.DataFrame(rows_m, columns=[*cols, "raw_count"])
    r = ev.daily_presence_errors(measured, truth, min_persons=20)
    c = r["county"]
    assert c["pairs"] == 2  # C2 has too few persons
    assert c["errors"] == {"2026-06-09/C1": 0.1, "2026-06-10/C1": -0.05}
    assert c["max_abs_error"] == 0.1 and c["mean_abs_error"] == pytest.approx(0.075)
    assert c["class_errors"]["resident"] == pytest.approx(0.1)
    assert c["hourly_max_error"] == pytest.approx(1 / sum(20 + h for h in range(24)), abs=1e-4)
    assert c["hourly_median_correlation"] > 0.99
    assert r["township"]["pairs"] == 0 and r["township"]["max_abs_error"] is None
    result = {"home_work": {"home_within_500m": 1, "work_within_500m": 1},
              "classes": {}, "population": {level: {"units": 1, "max_abs_error": 0}
                                            for level in ("county", "township")},
              "daily_presence": r}
    ok = ev.verdict(result)
    assert ok["county_daily_presence"] is True and ok["county_hourly_presence"] is True
    worse = ev.daily_presence_errors(measured.assign(raw_count=measured["raw_count"] * 2),
                                     truth)
    ok = ev.verdict({**result, "daily_presence": worse})
    assert ok["county_daily_presence"] is False and ok["county_hourly_presence"] is False
    assert ev.verdict({**result, "daily_presence": None})["county_daily_presence"] is None


# --------------------------------------------------------------------------------------
# integration: the job on the synthetic city (run by the chain on conftest.INDICATOR_DAYS)


@pytest.fixture(scope="module")
def city_presence(spark, chain):
    """The published daily_presence rows of the days the chain ran the job on
    (conftest.INDICATOR_DAYS), the same recomputed without suppression (mobsig evaluate's
    path), the truth of those days (and of every day) and the month's population_by_unit."""
    from mobsig.tools.evaluate import unsuppressed_presence

    res, cfg, runs = chain
    days = runs.days_of("daily_presence")
    catalog = Catalog(spark, cfg.warehouse)
    published = catalog.read("daily_presence").toPandas()
    raw = unsuppressed_presence(spark, cfg, MONTH, days).toPandas()
    raw["dt"] = raw.pop("key_date")
    every = pd.read_csv(res.out / "truth/daily_presence.csv", dtype={"unit_id": str})
    assert sorted(every["dt"].unique()) == [d.isoformat() for d in res.days]
    truth = every[every["dt"].isin([d.isoformat() for d in days])]
    pop = catalog.read("population_by_unit", month="2026-06").toPandas()
    return res, cfg, runs, published, raw, truth, pop, days


def test_city_presence_matches_truth(city_presence):
    """Issue 14: people present >= 3 h per county and day within ±15 % of the true persons
    (sample persons; one counted card each) where >= 20 are present, townships within
    ±15 % too, the hourly profile within 15 % (sum of hourly errors / true sum), residents
    within 5 %; the classes add up to present."""
    res, _, _, _, raw, truth, _, days = city_presence
    assert len(days) >= 4  # a workday, a Saturday, the holiday, the last day
    err = ev.daily_presence_errors(raw, truth)
    county, town = err["county"], err["township"]
    assert county["pairs"] >= 3 * len(days) and town["pairs"] >= len(days), (county, town)
    assert county["max_abs_error"] <= ev.TARGETS["county_daily_presence_max_abs_error"], county
    assert county["mean_abs_error"] <= 0.05, county
    assert town["max_abs_error"] <= 0.15, town["errors"]
    assert county["hourly_max_error"] <= ev.TARGETS["county_hourly_presence_max_error"]
    assert county["hourly_median_correlation"] >= 0.8, county
    assert abs(county["class_errors"]["resident"]) <= 0.05, county["class_errors"]
    day = raw[raw["hour"].isna()].pivot_table(
        index=["dt", "level", "unit_id"], columns="pop_class", values="raw_count")
    assert (day["present"] == day[list(CLASSES)].sum(axis=1)).all()
    assert day["unknown"].sum() == 0  # every card of the month has a home_work row
    hours = raw[raw["hour"].notna()].groupby(["dt", "level", "unit_id"])["raw_count"].max()
    assert (hours <= day["present"].reindex(hours.index)).all()


def test_city_job_runs_and_equals_the_recomputation(city_presence):
    """The chain ran the job for its days after the month's jobs; its unsuppressed cells
    are the recomputation's (the evaluation measures what the job publishes); the ledger
    left out the non-counted cards and no present card lacks a class."""
    res, _, runs, published, raw, _, _, days = city_presence
    assert sorted(published["dt"].unique()) == days  # the table holds the days that ran
    for d in days:
        r = runs.of("daily_presence", day=d)
        assert r.facts["unknown_class_cards"] == 0
        assert r.removed["not_counted"] > 0 and r.facts["present_cards"] > 100
        assert r.output_rows["daily_presence"] == (published["dt"] == d).sum()
    key = ["dt", "level", "unit_id", "pop_class", "hour"]
    pub = published.assign(dt=published["dt"].astype(str), hour=published["hour"]
                           .astype("Int64"))
    m = pub.merge(raw.assign(dt=raw["dt"].astype(str), hour=raw["hour"].astype("Int64")),
                  on=key, suffixes=("", "_raw"), how="outer", indicator=True)
    assert (m["_merge"] == "both").all()
    uncovered = m["null_reason"] == "no_coverage"  # no site inside: no number, no one seen
    # (cards placed there through a neighbouring site's service point are not shown)
    assert m.loc[uncovered, "raw_count"].isna().all()
    shown = m[~m["is_suppressed"] & ~uncovered]
    assert (shown["raw_count"] == shown["raw_count_raw"]).all()
    assert np.allclose(shown["expanded_count"], shown["expanded_count_raw"])
    assert (shown["expanded_count"] >= shown["raw_count"]).all()  # factors >= 1 here


def test_city_presence_is_consistent_with_population_by_unit(city_presence):
    """Per county, against the published population_by_unit of the month (its published
    cells). On every day: residents + short-term present >= 60 % of the actual service
    population (residents sleep in their unit: its night hours are >= 3 h there on each
    day they are around) and <= actual service + employed (the others who spend 3 h in a
    unit are those who work there, plus a few long visits). Over the month: the mean of
    present <= population_by_unit's daily_present (cards with any stay in the unit that
    day, averaged over the days with stays; >= 3 h is a subset), up to the runs still
    open at the end of the data, which daily_presence counts and population_by_unit
    cannot."""
    _, _, _, _, raw, _, pop, _ = city_presence
    counties = raw[(raw["level"] == "county") & raw["hour"].isna()]
    per_day = counties.pivot_table(index=["unit_id", "dt"], columns="pop_class",
                                   values="raw_count")
    p = pop[pop["level"] == "county"].pivot_table(index="unit_id", columns="pop_class",
                                                  values="raw_count")  # published only
    checked = {"daily_present": 0, "lower": 0, "upper": 0}
    for unit, days in per_day.groupby(level="unit_id"):
        got = p.loc[unit] if unit in p.index else pd.Series(dtype=float)
        if pd.notna(got.get("daily_present")):
            assert days["present"].mean() <= got["daily_present"] * 1.02 + 1, (unit, got)
            checked["daily_present"] += 1
        service, employed = got.get("actual_service"), got.get("employed")
        res_st = days["resident"] + days["short_term"]
        if pd.notna(service) and service >= 15:
            assert (res_st >= 0.6 * service).all(), (unit, res_st.tolist(), service)
            checked["lower"] += 1
            if pd.notna(employed):
                assert (res_st <= service + employed).all(), (unit, res_st.tolist(), service,
                                                              employed)
                checked["upper"] += 1
    assert checked["daily_present"] >= 3 and checked["lower"] >= 3 and checked["upper"] >= 2


def test_city_suppression_holds_in_table_and_export(spark, city_presence):
    """No published raw count below k (hourly cells included), suppressed cells carry no
    number, no hidden cell is alone in its sibling group or, within a unit, the only
    hidden class beside a published present; the CSV export holds the same rows."""
    from mobsig.io.exports import export_day_paths

    res, cfg, _, published, _, _, _, days = city_presence
    k = cfg.privacy.k_min
    assert "user_id" not in published.columns
    observed = published["null_reason"].fillna("") != "no_coverage"
    assert published.loc[~observed, ["raw_count", "expanded_count"]].isna().all().all()
    every, published = published, published[observed]
    raw = published["raw_count"]
    hidden = published["is_suppressed"]
    assert ((raw[~hidden] == 0) | (raw[~hidden] >= k)).all()
    assert published.loc[hidden, ["raw_count", "expanded_count"]].isna().all().all()
    assert hidden.any() and (~hidden & raw.ge(k)).any()  # the checks above bite
    assert published.loc[published["hour"].notna() & ~hidden, "raw_count"].ge(k).any()
    # a no_coverage cell is unknown too (no number published): it counts as hidden
    unknown = every.assign(is_suppressed=every["is_suppressed"] | ~observed)
    for _, day in unknown.groupby("dt"):
        _assert_unrecoverable(day)
    d = days[0]
    files = export_day_paths(cfg.warehouse, d, "daily_presence")
    csv = pd.read_csv(files["csv"], encoding="utf-8-sig", dtype={"unit_id": str,
                                                                 "parent_id": str})
    ours = every[every["dt"] == d]
    assert len(csv) == len(ours) and csv["hour"].isna().sum() == ours["hour"].isna().sum()
    # the export withholds raw counts and rounds expanded ones (mobsig.publish)
    assert csv["is_suppressed"].sum() == ours["is_suppressed"].sum()
    assert csv.loc[csv["is_suppressed"], "expanded_count"].isna().all()
    assert_published(csv, cfg.warehouse)
    g = spark.read.format("geoparquet").load(files["geoparquet"])
    assert g.count() == len(ours) and g.where(F.col("geometry").isNull()).count() == 0


def test_city_rerun_is_identical(spark, city_presence):
    from mobsig.runner import run

    cfg, days = city_presence[1], city_presence[-1]
    catalog = Catalog(spark, cfg.warehouse)
    d = days[1]
    cols = ["level", "unit_id", "pop_class", "hour"]

    def day():
        return (catalog.read("daily_presence", dt=d).toPandas().sort_values(cols)
                .reset_index(drop=True))

    before = day()
    run(spark, cfg, "daily_presence", day=d, export=False)
    pd.testing.assert_frame_equal(before, day())


def test_unit_without_a_cell_on_the_day_is_no_coverage_not_zero(spark):
    """Issue 19: a county without any cell site valid on the day has no present card;
    before, daily_presence published it as 0 present, unsuppressed. Now its rows are
    null with null_reason no_coverage (population_by_unit's helper, judged on the day:
    a site switched on later in the month does not cover the day)."""
    from mobsig import population

    units = spark.createDataFrame([
        ("county", "A", "甲区", None, "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))"),
        ("county", "B", "乙区", None, "POLYGON((1 0, 2 0, 2 1, 1 1, 1 0))"),
    ], "level string, unit_id string, unit_name string, parent_id string, wkt string")
    units = units.select("unit_id", "unit_name", "level", "parent_id",
                         F.expr("ST_GeomFromWKT(wkt)").alias("geometry"))
    cells = spark.createDataFrame(
        [("c1", 0.5, 0.5, None, None), ("c2", 1.5, 0.5, D + dt.timedelta(days=1), None)],
        "cell_id string, lon double, lat double, valid_from date, valid_to date")
    counts = spark.createDataFrame(
        [(D, "county", "A", cls, hour, 40, 400.0) for cls, hour in
         (("present", None), ("resident", None), ("present", 9))],
        "key_date date, level string, unit_id string, pop_class string, hour int, "
        "raw_count bigint, expanded_count double")
    published = presence.publish(presence.complete(counts, units, [D]), 15, True, False)
    before = published.toPandas()
    assert (before.loc[before["unit_id"] == "B", "raw_count"] == 0).all()  # a measured 0
    assert population.uncovered_units(units, cells, MONTH).count() == 0  # c2 later on
    uncovered = population.uncovered_units(units, cells, D, until=D)
    out = population.mark_uncovered(published, uncovered).toPandas()
    b, a = out[out["unit_id"] == "B"], out[out["unit_id"] == "A"]
    assert len(b) == len(a) > 20  # every class and hour
    assert b["raw_count"].isna().all() and b["expanded_count"].isna().all()
    assert (b["null_reason"] == "no_coverage").all()
    shown = a[~a["is_suppressed"]]
    assert shown["null_reason"].isna().all() and (shown["raw_count"].notna()).all()
    assert (a.loc[a["is_suppressed"], "null_reason"] == "suppressed").all()
    assert a.loc[(a["pop_class"] == "present") & a["hour"].isna(), "raw_count"].iloc[0] == 40
