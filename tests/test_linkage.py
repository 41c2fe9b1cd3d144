"""Urban linkage 城市联系 and intra-city trips by period (issue 14 items 5-6): trips,
commuters, intensity, commuting rates, the metropolitan area and the periods on
hand-built frames; the suppression of origin-destination tables attacked by linear
algebra; the evaluation against truth; and both jobs on the synthetic city (conftest
``chain``: a main city and its satellite) against the generator's truth, against
jobs_housing, and in their exports."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from mobsig import linkage as lk
from mobsig import privacy
from mobsig import privacy_audit as pa
from mobsig import trips as tp
from mobsig.config import build_config
from mobsig.errors import ConfigError, InputError
from mobsig.io.catalog import Catalog
from mobsig.periods import minute_table, parse_periods
from mobsig.schema import load_schema
from mobsig.synth import evaluate as ev
from mobsig.synth import linkage_truth as lt
from tests.factories import MONTH

PERIODS = {"morning_peak": "07:00-09:00", "evening_peak": "17:00-19:00",
           "night": "22:00-06:00"}


# --------------------------------------------------------------------------------------
# an attacker: which suppressed cells do public totals determine?


def recoverable(values: np.ndarray, hidden: np.ndarray, groups: list[np.ndarray]
                ) -> np.ndarray:
    """Indices of hidden cells whose value follows from the published cells and the
    public total of every group (``groups``: one boolean membership mask per group over
    the cells): a hidden cell is determined when its unit vector lies in the row space
    of the groups restricted to the hidden cells (linear algebra over the sums, the
    strongest attack by subtraction and addition of totals)."""
    idx = np.flatnonzero(hidden)
    if not len(idx):
        return idx
    a = np.array([g[idx].astype(float) for g in groups if g[idx].any()])
    if not len(a):
        return np.array([], dtype=int)
    rank = np.linalg.matrix_rank(a)
    out = []
    for j in range(len(idx)):
        e = np.zeros(len(idx))
        e[j] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            out.append(idx[j])
    return np.array(out, dtype=int)


def group_masks(frame: pd.DataFrame, groupings: list[list[str]]) -> list[np.ndarray]:
    """One membership mask per group of each grouping (columns) over the rows."""
    out = []
    for cols in groupings:
        keys = frame[cols].astype(str).agg("|".join, axis=1)
        out += [(keys == k).to_numpy() for k in keys.unique()]
    return out


# --------------------------------------------------------------------------------------
# unit: periods


def test_periods_parse_wrap_and_refuse_bad_ones():
    ps = parse_periods(PERIODS, "off_peak")
    assert [p.name for p in ps] == ["morning_peak", "evening_peak", "night", "off_peak"]
    table = minute_table(ps)
    assert table[7 * 60] == "morning_peak" and table[9 * 60 - 1] == "morning_peak"
    assert table[9 * 60] == "off_peak" and table[23 * 60] == "night"
    assert table[0] == "night" and table[6 * 60 - 1] == "night" and table[6 * 60] == "off_peak"
    assert ps[2].hours == "22:00-06:00" and ps[3].hours == "rest"
    whole = parse_periods({"am": "00:00-12:00", "pm": "12:00-24:00"}, "")
    assert set(minute_table(whole)) == {"am", "pm"}
    bad = [({"a": "07:00-09:00", "b": "08:30-10:00"}, "off_peak", "overlaps period 'a'"),
           ({"Peak": "07:00-09:00"}, "off_peak", "snake_case"),
           ({"a": "7-9"}, "off_peak", "is not a time"),
           ({"a": "07:00-07:00"}, "off_peak", "empty or the whole day"),
           ({"a": "07:00-25:00"}, "off_peak", "not a time of day"),
           ({"a": "07:00-09:00"}, "", "minutes of the day"),
           ({"a": "00:00-12:00", "b": "12:00-00:00"}, "rest", "no time left"),
           ({"a": "07:00-09:00"}, "a", "also the name of a period")]
    for periods, rest, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            parse_periods(periods, rest)
    cfg = build_config({})
    assert dict(cfg.trips.periods) == PERIODS and cfg.trips.rest_period == "off_peak"
    assert cfg.linkage.metro_threshold == 0.10 and cfg.linkage.metro_level == "county"
    with pytest.raises(ConfigError, match=r"trips\.periods\.b"):
        build_config({"trips": {"periods": {"a": "07:00-09:00", "b": "08:00-10:00"}}})
    with pytest.raises(ConfigError, match=r"linkage\.metro_threshold"):
        build_config({}, ["linkage.metro_threshold=0"])
    with pytest.raises(ConfigError, match="finer than the city"):
        build_config({}, ["trips.level=city"])
    over = build_config({}, ["trips.periods={am: '06:00-10:00'}", "trips.rest_period=other"])
    assert dict(over.trips.periods) == {"am": "06:00-10:00"}


def test_period_of_matches_the_minute_table(spark):
    ps = parse_periods(PERIODS, "off_peak")
    minutes = list(range(0, 24 * 60, 7)) + [359, 360, 419, 420, 539, 540, 1019, 1020,
                                            1139, 1140, 1319, 1320, 1439]
    rows = [(f"2026-06-09 {m // 60:02d}:{m % 60:02d}:30",) for m in minutes]
    got = spark.createDataFrame(rows, "t string").select(  # local time (run.timezone)
        tp.period_of(F.to_timestamp("t"), ps).alias("p")).toPandas()["p"].tolist()
    table = minute_table(ps)
    assert got == [table[m] for m in minutes]


# --------------------------------------------------------------------------------------
# unit: the metropolitan area


def test_delineation_grows_by_rounds():
    """A is the core; B sends 30 % of its employed residents to A (round 1); C sends 20 %
    to B and 5 % to A (round 2: the area now holds B); D sends 9.9 % to C (out); E
    exactly 10 % to A (in: the threshold is inclusive); F has nobody employed."""
    flows = pd.DataFrame([
        ("A", "A", 50), ("B", "A", 30), ("B", "B", 70), ("C", "B", 20), ("C", "A", 5),
        ("C", "C", 75), ("D", "C", 9.9), ("D", "D", 90.1), ("E", "A", 10), ("E", "E", 90)],
        columns=["origin_id", "dest_id", "commuters"])
    employed = flows.groupby("origin_id")["commuters"].sum().reindex(list("ABCDEF"),
                                                                     fill_value=0)
    got = lk.delineate(flows, employed, ["A"], 0.10).set_index("unit_id")
    assert got["is_member"].to_dict() == {"A": True, "B": True, "C": True, "D": False,
                                          "E": True, "F": False}
    assert got.loc[["A", "B", "C", "E"], "joined_round"].tolist() == [0, 1, 2, 1]
    assert pd.isna(got.loc["D", "joined_round"]) and pd.isna(got.loc["F", "joined_round"])
    assert got.loc["C", "share"] == pytest.approx(0.25)  # to B and A, the final area
    assert got.loc["D", "share"] == pytest.approx(0.099)
    assert pd.isna(got.loc["F", "share"])
    assert got.loc["A", "is_core"] and not got.loc["B", "is_core"]
    # a higher threshold stops C; an empty core is the unit where most people work
    assert not lk.delineate(flows, employed, ["A"], 0.26).set_index("unit_id").loc[
        "C", "is_member"]
    assert lk.default_core(flows) == ["A"]
    units = [("county", u, "P" if u in "AB" else "Q") for u in "ABCDEF"] + [
        ("city", "P", None), ("city", "Q", None)]
    assert lk.core_ids(units, "county", ["P"]) == ["A", "B"]
    assert lk.core_ids(units, "county", ["C", "P"]) == ["A", "B", "C"]
    assert lk.core_ids(units, "county", []) == []
    with pytest.raises(ValueError, match="'Z' is neither a county unit"):
        lk.core_ids(units, "county", ["Z"])
    with pytest.raises(InputError, match=r"level\(s\) \['town'\] not in the units table"):
        lk.plan(units, ["town"], "county", [])
    assert lk.plan(units, [], "county", ["P"]) == (["city", "county"], ["A", "B"])


# --------------------------------------------------------------------------------------
# unit: suppression of origin-destination tables


def _random_od(rng: np.random.Generator, k: int, periods: int = 0) -> pd.DataFrame:
    """A sparse random OD table (3 to 9 units, half the pairs present, 30 % of the cells
    small); with ``periods``, every present pair has that many period cells (zeros
    included)."""
    n = int(rng.integers(3, 10))
    pairs = [(o, d) for o in range(n) for d in range(n) if rng.random() < 0.5]
    cells = [(o, d, p) for o, d in pairs for p in range(max(periods, 1))]
    pdf = pd.DataFrame(cells, columns=["origin_id", "dest_id", "period"]).astype(str)
    small = rng.random(len(pdf)) < 0.3
    pdf["raw_count"] = np.where(small, rng.integers(0 if periods else 1, k, len(pdf)),
                                rng.integers(k, 80, len(pdf)))
    return pdf


def _public(frame: pd.DataFrame, groupings: list[list[str]], k: int = 15) -> list[np.ndarray]:
    """The totals an attacker may know: every row, column (or other grouping) total as a
    careful publisher would publish these margins: not a group of a single cell (its
    total is the cell), not a total below k, and, when exactly one total of a margin
    table is withheld, not the next smallest either (the margins' own complementary
    rule: else the withheld one follows from the grand total). A grouping's margin
    tables: one per value of its columns after the first (e.g. per period for
    origin x period), or one for the whole grouping when the columns name a pair."""
    raw = frame["raw_count"].to_numpy()
    out = []
    for cols in groupings:
        within = cols[1:] if cols[1:] and cols[-1] == "period" else []
        tables = (frame.groupby(within).indices.values() if within
                  else [np.arange(len(frame))])
        for idx in tables:
            sub = np.zeros(len(frame), bool)
            sub[idx] = True
            groups = [g & sub for g in group_masks(frame, [cols]) if (g & sub).any()]
            totals = np.array([raw[g].sum() for g in groups])
            shown = np.array([g.sum() > 1 for g in groups]) & (totals >= k)
            if (~shown).sum() == 1 and shown.any():
                shown[np.flatnonzero(shown)[np.argmin(totals[shown])]] = False
            out += [g for g, ok in zip(groups, shown, strict=True) if ok]
    return out


def test_od_suppression_leaves_no_cell_recoverable():
    """Random sparse OD matrices with small cells: after suppression no published count
    is below k, no row or column hides exactly one cell, and the linear-algebra attacker
    recovers no small cell from the row and column totals; without complementary
    suppression it does."""
    rng = np.random.default_rng(7)
    k = 15
    hidden = 0
    for trial in range(25):
        pdf = _random_od(rng, k)
        mask = privacy.od_suppression_mask(pdf, k)
        assert not ((pdf["raw_count"] > 0) & (pdf["raw_count"] < k) & ~mask).any()
        groups = _public(pdf, [["origin_id"], ["dest_id"]])
        assert all(mask[g].sum() != 1 for g in groups), trial
        got = recoverable(pdf["raw_count"].to_numpy(), mask, groups)
        small = pdf["raw_count"].to_numpy()[got]
        assert not ((small > 0) & (small < k)).any(), (trial, pdf.assign(h=mask))
        hidden += int(mask.sum())
    assert hidden > 100  # the attack had hidden cells to work on
    pdf = pd.DataFrame({"origin_id": ["a", "a", "b", "b"], "dest_id": ["x", "y", "x", "y"],
                        "raw_count": [3, 40, 50, 60]})
    plain = privacy.od_suppression_mask(pdf, k, complementary=False)
    assert plain.tolist() == [True, False, False, False]
    groups = _public(pdf, [["origin_id"], ["dest_id"]])
    assert recoverable(pdf["raw_count"].to_numpy(), plain, groups).tolist() == [0]
    assert privacy.od_suppression_mask(pdf, k).tolist() == [True] * 4  # a cycle: safe
    # two hidden cycles joined by one small cell: no row or column hides a lone cell,
    # yet the totals give the joining cell (a bridge); the bridge rule closes a cycle
    cells = [("a", "x", 40), ("a", "y", 50), ("b", "x", 60), ("b", "y", 70),
             ("c", "z", 40), ("c", "w", 50), ("d", "z", 60), ("d", "w", 70), ("b", "z", 4),
             ("a", "v", 90), ("c", "v", 90), ("b", "u", 90), ("d", "u", 90)]
    chain = pd.DataFrame(cells, columns=["origin_id", "dest_id", "raw_count"])
    naive = np.arange(len(chain)) < 9
    public = _public(chain, [["origin_id"], ["dest_id"]])
    assert all(naive[g].sum() != 1 for g in public)
    assert recoverable(chain["raw_count"].to_numpy(), naive, public).tolist() == [8]
    fixed = privacy.od_suppression_mask(chain, k)
    assert fixed[8] and recoverable(chain["raw_count"].to_numpy(), fixed, public).size == 0
    assert privacy.bridges(np.array([[0, 1], [1, 2], [2, 0], [2, 3]])).tolist() == [3]


def test_od_suppression_of_pairs_with_periods():
    """A pair's periods are one labelled breakdown: hidden together when any is small or
    when another table hides the pair's total; then neither the per-period row and
    column totals nor the pairs' totals over the periods (linkage's T_ij) recover any
    small period cell."""
    rng = np.random.default_rng(11)
    k = 15
    frames, checked = [], 0
    for trial in range(8):
        pdf = _random_od(rng, k, periods=3).assign(level=f"L{trial}")
        pdf["forced"] = (pdf["origin_id"] == "0") & (pdf["dest_id"] == "1")
        frames.append(pdf)
    cells = pd.concat(frames, ignore_index=True).assign(expanded_count=lambda d: d.raw_count
                                                        * 10.0)
    cells["raw_count"] = cells["raw_count"].astype("int64")
    for level, true in cells.groupby("level"):
        true = true.reset_index(drop=True)
        g = privacy.od_bridge_suppress_pandas(true, k, forced="forced")
        mask = g["is_suppressed"].to_numpy()
        small = (true["raw_count"] > 0) & (true["raw_count"] < k)
        assert not (small.to_numpy() & ~mask).any()
        per_pair = g.groupby(["origin_id", "dest_id"])["is_suppressed"].agg(["all", "any"])
        assert (per_pair["all"] == per_pair["any"]).all()  # whole pairs
        assert g.loc[(g["origin_id"] == "0") & (g["dest_id"] == "1"), "is_suppressed"].all()
        assert g.loc[mask, ["raw_count", "expanded_count"]].isna().all().all()
        groups = _public(true, [["origin_id", "period"], ["dest_id", "period"],
                                ["origin_id", "dest_id"]])
        got = recoverable(true["raw_count"].to_numpy(), mask, groups)
        small = true["raw_count"].to_numpy()[got]
        assert not ((small > 0) & (small < k)).any(), (level, g.assign(raw=true["raw_count"]))
        checked += int(mask.sum())
    assert checked > 50


# --------------------------------------------------------------------------------------
# unit: trips, commuters and the published pairs on hand-built frames


def _square(x0: float, x1: float) -> str:
    return f"POLYGON(({x0} 30.60, {x1} 30.60, {x1} 30.62, {x0} 30.62, {x0} 30.60))"


def _units(spark):
    """City P (counties A1, A2) and city Q (county B1)."""
    rows = [("P", "甲市", "city", None, _square(104.00, 104.04)),
            ("Q", "乙市", "city", None, _square(104.10, 104.12)),
            ("A1", "东区", "county", "P", _square(104.00, 104.02)),
            ("A2", "西区", "county", "P", _square(104.02, 104.04)),
            ("B1", "乙县", "county", "Q", _square(104.10, 104.12))]
    df = spark.createDataFrame(rows, "unit_id string, unit_name string, level string, "
                                     "parent_id string, wkt string")
    return df.select("unit_id", "unit_name", "level", "parent_id",
                     F.expr("ST_SetSRID(ST_GeomFromWKT(wkt), 4490)").alias("geometry"))


A1, A1b, A2, B1, OUT = 104.01, 104.015, 104.03, 104.11, 105.0


def _places(spark):
    """u1 lives in A1, works in B1; u2 lives in B1, works in A2; u3 lives in A2, works in
    A1; u5 lives and works in A1 (1.5 km apart); u6 is short-term and works in A2 (a job,
    no commuter); u7 lives in A2 without work. u4 is not a counted card."""
    cards = [("u1", "resident", A1, B1, "A1"), ("u2", "resident", B1, A2, "B1"),
             ("u3", "resident", A2, A1, "A2"), ("u5", "resident", A1, A1b, "A1"),
             ("u6", "short_term", None, A2, None), ("u7", "resident", A2, None, "A2")]
    rows = [(u, cls, h, 30.61 if h else None, h or A2, 30.61, w, 30.61 if w else None,
             hc, hc or "A2", None, "2026-06") for u, cls, h, w, hc in cards]
    return spark.createDataFrame(rows, load_schema("card_places").struct)


def _factors(spark):
    return spark.createDataFrame([("A1", "东区", 2, 20, 10.0, "2026-06"),
                                  ("A2", "西区", 2, 40, 20.0, "2026-06"),
                                  ("B1", "乙县", 1, 30, 30.0, "2026-06")],
                                 load_schema("expansion_factors").struct)


def _moves(spark):
    """(user, day, hh:mm, origin lon, dest lon)."""
    legs = [("u1", 9, "07:30", A1, B1), ("u1", 9, "18:00", B1, A1),
            ("u1", 10, "07:40", A1, B1), ("u1", 10, "18:10", B1, A1),
            ("u2", 9, "08:00", B1, A2), ("u2", 9, "17:30", A2, B1),
            ("u3", 9, "12:00", A2, A1), ("u3", 9, "13:00", A1, A1b),
            ("u4", 9, "09:00", A1, B1), ("u5", 10, "23:30", A1, OUT)]
    rows = [(u, o, 30.61, "h", d, 30.61, "h", f"2026-06-{day:02d} {hm}:00", 2400, 1000.0,
             dt.date(2026, 6, day)) for u, day, hm, o, d in legs]
    df = spark.createDataFrame(rows, "user_id string, origin_lon double, origin_lat double, "
                                     "origin_h3 string, dest_lon double, dest_lat double, "
                                     "dest_h3 string, dep string, duration_s bigint, "
                                     "dist_m double, dt date")
    dep = F.to_timestamp("dep")  # local wall-clock time in the session's run.timezone
    return df.select(*load_schema("moves").names[:7], dep.alias("departure"),
                     (dep + F.expr("INTERVAL 40 MINUTES")).alias("arrival"),
                     "duration_s", "dist_m", "dt")


def test_trips_commuters_and_the_published_pairs(spark):
    units = _units(spark)
    places = _places(spark)
    from mobsig.population import user_weights

    weights = user_weights(places, _factors(spark))
    od = lk.move_units(lk.move_points(_moves(spark), places), units)
    trips = lk.trip_counts(od, weights, ["level", "origin_id", "dest_id"]).toPandas()
    got = {(r.level, r.origin_id, r.dest_id): (r.trips_raw_count, r.trips_expanded_count,
                                               r.travellers_raw_count)
           for r in trips.itertuples()}
    assert got == {  # u4 is not counted; u5's move ends outside every unit
        ("city", "P", "Q"): (3, 50.0, 2), ("city", "Q", "P"): (3, 50.0, 2),
        ("city", "P", "P"): (2, 40.0, 1),
        ("county", "A1", "B1"): (2, 20.0, 1), ("county", "B1", "A1"): (2, 20.0, 1),
        ("county", "B1", "A2"): (1, 30.0, 1), ("county", "A2", "B1"): (1, 30.0, 1),
        ("county", "A2", "A1"): (1, 20.0, 1), ("county", "A1", "A1"): (1, 20.0, 1)}
    pairs = lk.commute_pairs(places, units, weights).toPandas()
    cp = {(r.level, r.origin_id, r.dest_id): (r.commuters_raw_count,
                                              r.commuters_expanded_count)
          for r in pairs.itertuples()}
    assert cp == {("county", "A1", "B1"): (1, 10.0), ("county", "B1", "A2"): (1, 30.0),
                  ("county", "A2", "A1"): (1, 20.0), ("county", "A1", "A1"): (1, 10.0),
                  ("city", "P", "Q"): (1, 10.0), ("city", "Q", "P"): (1, 30.0),
                  ("city", "P", "P"): (2, 30.0)}
    # published with k = 1 (nothing hidden): intensity and commuting rate
    jh = spark.createDataFrame(
        [("county", "A1", 20.0, False), ("county", "A2", 20.0, False),
         ("county", "B1", 30.0, True), ("city", "P", 30.0, False), ("city", "Q", 30.0, False)],
        "level string, unit_id string, employed_residents_expanded_count double, "
        "is_employed_residents_suppressed boolean")
    days = spark.createDataFrame([(2,)], "days int")
    long = lk.od_long(spark.createDataFrame(trips), spark.createDataFrame(pairs))
    out = lk.publish(lk.suppress_pairs(long, 1, True, False), jh,
                     units.select("level", "unit_id", "unit_name"), days).toPandas()
    out = out.set_index(["level", "origin_id", "dest_id"]).sort_index()
    assert ("city", "P", "P") not in out.index  # linkage is between units
    pq = out.loc[("city", "P", "Q")]
    assert pq["trips_per_day"] == 25.0 and pq["intensity_per_day"] == 50.0  # (50 + 50) / 2
    assert pq["origin_name"] == "甲市" and pq["dest_name"] == "乙市"
    assert pq["commuting_rate"] == pytest.approx(10.0 / 30.0)
    a2a1 = out.loc[("county", "A2", "A1")]
    assert a2a1["intensity_per_day"] == 10.0  # no reverse trips: T_ji = 0
    assert a2a1["commuting_rate"] == 1.0  # 20 of A2's 20 employed residents
    b1a2 = out.loc[("county", "B1", "A2")]  # B1's employed residents are hidden
    assert pd.isna(b1a2["commuting_rate"]) and b1a2["commuting_rate_null_reason"] == \
        "suppressed"
    a1b1 = out.loc[("county", "A1", "B1")]
    assert a1b1["commuters_raw_count"] == 1 and a1b1["commuting_rate"] == 0.5
    # a zero pair of an opened commuters row (privacy_audit.with_zero_pairs adds it to the
    # commuters matrix only): its trips are a published 0, not nulls the gate rejects (a
    # 1,500-person region's linkage failed on 4 such rows)
    sup = lk.suppress_pairs(long, 1, True, False)
    pad = pd.DataFrame({"level": ["county"], "measure": ["commuters"],
                        "origin_id": ["A1"], "dest_id": ["A2"]})
    opened = pa.with_zero_pairs(sup, pad, ["level", "measure", "origin_id", "dest_id"],
                                "origin_id", "dest_id", ("raw_count", "expanded_count",
                                                         "trips_raw_count",
                                                         "trips_expanded_count"))
    z = lk.publish(opened, jh, units.select("level", "unit_id", "unit_name"), days
                   ).toPandas().set_index(["level", "origin_id", "dest_id"]).loc[
        ("county", "A1", "A2")]
    assert not z["is_trips_suppressed"] and z["is_commuters_suppressed"]
    assert (z["trips_raw_count"], z["trips_expanded_count"], z["travellers_raw_count"],
            z["trips_per_day"]) == (0, 0.0, 0, 0.0)
    assert pd.isna(z["commuters_raw_count"])
    # k = 2: the lone travellers are hidden, and whatever is computed from them
    strict = lk.publish(lk.suppress_pairs(long, 2, True, False), jh,
                        units.select("level", "unit_id", "unit_name"), days).toPandas()
    hidden = strict["is_trips_suppressed"]
    assert strict.loc[hidden, ["trips_raw_count", "trips_expanded_count",
                               "travellers_raw_count", "trips_per_day"]].isna().all().all()
    assert (strict.loc[~hidden, "travellers_raw_count"] >= 2).all()
    strict = strict.set_index(["level", "origin_id", "dest_id"])
    qp = strict.loc[("city", "Q", "P")]
    assert qp["travellers_raw_count"] == 2 and not qp["is_trips_suppressed"]
    assert qp["intensity_per_day"] == 50.0 and qp["is_commuters_suppressed"]
    assert pd.isna(qp["commuting_rate"]) and qp["commuting_rate_null_reason"] == "suppressed"
    a2a1 = strict.loc[("county", "A2", "A1")]  # one traveller
    assert a2a1["is_trips_suppressed"] and pd.isna(a2a1["intensity_per_day"])
    assert a2a1["intensity_per_day_null_reason"] == "suppressed"
    a1b1 = strict.loc[("county", "A1", "B1")]  # published trips, hidden reverse
    assert a1b1["is_trips_suppressed"] and pd.isna(a1b1["trips_per_day"])


def test_trips_by_period_inside_each_city(spark):
    units = _units(spark)
    places = _places(spark)
    ps = parse_periods(PERIODS, "off_peak")
    from mobsig.population import user_weights

    weights = user_weights(places, _factors(spark))
    od = tp.with_period(tp.trip_units(lk.move_points(_moves(spark), places), units,
                                      "county", "city"), ps)
    pdf = lk.trip_counts(od, weights, ["city_id", "origin_id", "dest_id", "period"]).toPandas()
    got = {(r.city_id, r.origin_id, r.dest_id, r.period): r.trips_raw_count
           for r in pdf.itertuples()}
    # the trips between cities are not intra-city; A1 -> A1 (two places in one county) is
    assert got == {("P", "A2", "A1", "off_peak"): 1, ("P", "A1", "A1", "off_peak"): 1}
    no_city = tp.trip_units(lk.move_points(_moves(spark), places), units, "county",
                            None).toPandas()
    assert len(no_city) == 8 and no_city["city_id"].isna().all()
    counts = spark.createDataFrame(pdf)  # computed once, published twice below
    days = spark.createDataFrame([(2,)], "days int")
    out = tp.publish(tp.long_form(counts, "county", ps, None), 1, True, False, ps,
                     units.select("level", "unit_id", "unit_name"), days).toPandas()
    assert len(out) == 8  # both pairs in every period, zeros filled
    out = out.set_index(["origin_id", "dest_id", "period"])
    row = out.loc[("A2", "A1", "off_peak")]
    assert row["period_hours"] == "rest" and row["trips_per_day"] == 10.0
    assert row["origin_name"] == "西区" and not row["is_suppressed"]
    peak = out.loc[("A2", "A1", "morning_peak")]
    assert peak["trips_raw_count"] == 0 and peak["period_hours"] == "07:00-09:00"
    # a pair whose monthly trips linkage hides hides a period here too
    linkage = spark.createDataFrame([("county", "A2", "A1", True)],
                                    "level string, origin_id string, dest_id string, "
                                    "is_trips_suppressed boolean")
    forced = tp.publish(tp.long_form(counts, "county", ps, linkage), 1, True, False, ps,
                        units.select("level", "unit_id", "unit_name"), days).toPandas()
    hidden = forced.groupby(["origin_id", "dest_id"])["is_suppressed"].all()
    assert hidden[("A2", "A1")]  # every period of the pair


# --------------------------------------------------------------------------------------
# unit: the evaluation


def test_linkage_evaluation_against_truth():
    truth_t = pd.DataFrame({"level": "city", "origin_id": ["P", "Q"], "dest_id": ["Q", "P"],
                            "trips": [100, 80], "travellers": [10, 10]})
    truth_c = pd.DataFrame({"level": "city", "origin_id": ["P", "Q", "Q"],
                            "dest_id": ["P", "P", "Q"], "commuters": [50, 8, 12]})
    trips = pd.DataFrame({"level": "city", "origin_id": ["P", "Q", "Q"],
                          "dest_id": ["Q", "P", "Q"], "trips_raw_count": [110, 60, 999]})
    comm = pd.DataFrame({"level": "city", "origin_id": ["Q"], "dest_id": ["P"],
                         "commuters_raw_count": [8]})
    r = ev.linkage_errors(trips, comm, truth_t, truth_c)
    assert r["pairs"] == 2 and r["trips_errors"] == {"P->Q": 0.1, "Q->P": -0.25}
    assert r["max_abs_trips_error"] == 0.25 and r["max_abs_commuters_error"] == 0.0
    assert r["commuters"] == {"Q->P": [8, 8]}
    metro = ev.metro_errors(
        pd.DataFrame({"unit_id": ["A", "B", "C"], "is_member": [True, True, False],
                      "joined_round": pd.array([0, 1, None], dtype="Int32")}),
        pd.DataFrame({"unit_id": ["A", "B", "C"], "is_member": [True, True, True],
                      "joined_round": pd.array([0, 1, 2], dtype="Int32")}))
    assert not metro["equal"] and metro["missing"] == ["C"] and not metro["same_rounds"]
    result = {"linkage": {"trips": r, "metro": metro}}
    base = {"home_work": {"home_within_500m": 1, "work_within_500m": 1},
            "classes": {}, "population": {lv: {"units": 1, "max_abs_error": 0}
                                          for lv in ("county", "township")}}
    verdict = ev.verdict({**base, **result})
    assert verdict["inter_city_trips"] is False and verdict["metro_delineation"] is False
    good = {"trips": {**r, "max_abs_trips_error": 0.1}, "metro": {**metro, "equal": True}}
    verdict = ev.verdict({**base, "linkage": good})
    assert verdict["inter_city_trips"] is True and verdict["metro_delineation"] is True
    assert ev.verdict(base)["inter_city_trips"] is None
    per = ev.period_errors(
        pd.DataFrame({"origin_id": ["a", "a"], "dest_id": ["b", "b"], "period": ["x", "y"],
                      "trips_raw_count": [18, 30]}),
        pd.DataFrame({"origin_id": ["a", "a"], "dest_id": ["b", "b"], "period": ["x", "y"],
                      "trips": [20, 30]}), min_trips=20)
    assert per["periods"]["x"]["error"] == -0.1 and per["max_abs_cell_error"] == 0.1


# --------------------------------------------------------------------------------------
# integration: both jobs on the synthetic city (a main city and its satellite)

MAIN, SATELLITE = "990100", "990200"
MAIN_COUNTIES = {f"9901{i:02d}" for i in range(1, 7)}


@pytest.fixture(scope="module")
def linked(spark, chain):
    """The month's linkage and trips runs of the shared pipeline run, their unsuppressed
    counts recomputed from the stored tables, the published tables and the truth."""
    from mobsig.tools.evaluate import unsuppressed_linkage

    res, cfg, runs = chain
    catalog = Catalog(spark, cfg.warehouse)
    published = {t: catalog.read(t, month="2026-06").toPandas()
                 for t in ("linkage", "metro_area", "trips_by_period", "jobs_housing")}
    raw = unsuppressed_linkage(spark, cfg, MONTH)
    truth = {"moves": pd.read_parquet(res.out / "truth/moves.parquet"),
             "persons": pd.read_parquet(res.out / "truth/persons.parquet"),
             "metro": pd.read_csv(res.out / "truth/metro_area.csv", dtype={"unit_id": str})}
    return cfg, runs, raw, published, truth


def test_city_inter_city_trips_match_truth(linked):
    """Issue 14: inter-city trips per ordered pair of cities within ±15 % of the truth
    (the timeline's moves between true stays >= tau), published (not suppressed) and
    equal to the unsuppressed counts; the intensity F_ij is the same number both ways;
    commuters between the cities as true."""
    cfg, runs, raw, published, truth = linked
    err = ev.linkage_errors(raw["trips"], raw["commuters"],
                            lt.pair_trips(truth["moves"], "city", cfg.linkage.min_trip_m),
                            lt.pair_commuters(truth["persons"], "city"), "city")
    assert err["pairs"] == 2 and err["true_trips"] >= 200, err
    assert err["max_abs_trips_error"] <= ev.TARGETS["inter_city_trips_max_abs_error"], err
    assert err["commuters"][f"{SATELLITE}->{MAIN}"][0] >= 5, err
    assert err["max_abs_commuters_error"] <= 0.15, err
    city = published["linkage"].query("level == 'city'").set_index(["origin_id", "dest_id"])
    assert set(city.index) == {(MAIN, SATELLITE), (SATELLITE, MAIN)}
    assert not city["is_trips_suppressed"].any()
    t = raw["trips"].query("level == 'city' and origin_id != dest_id").set_index(
        ["origin_id", "dest_id"])
    for pair in city.index:
        assert city.loc[pair, "trips_raw_count"] == t.loc[pair, "trips_raw_count"]
    f = city["intensity_per_day"]
    assert f[(MAIN, SATELLITE)] == pytest.approx(f[(SATELLITE, MAIN)])
    days = int(city["days"].iloc[0])
    assert days == 14 and f.iloc[0] == pytest.approx(city["trips_expanded_count"].sum() / days)
    # the county pairs across the two cities add up to the city pairs
    county = raw["trips"].query("level == 'county'")
    across = county[county["origin_id"].str[:4] != county["dest_id"].str[:4]]
    assert across["trips_raw_count"].sum() == t["trips_raw_count"].sum()


def test_city_metro_area_equals_truth(linked):
    """The metropolitan area of the main city (its six districts are the core),
    delineated on the unsuppressed commuters as `mobsig evaluate` does: 卫城区 (60 % of
    its workers commute into the main city) joins in round 1, 北山县 (half its workers
    work in 卫城区, none in the main city) in round 2, 南湖县 (works locally) stays out:
    the truth's set. The release (issue 17) leaves the three satellite counties' membership
    null: at a 1 % market share jobs_housing hides their employed residents (a dozen
    sample cards each), so a published bit would pin their hidden commuters to the area;
    they are not delineated, the core is published."""
    cfg, runs, raw, published, truth = linked
    m = published["metro_area"].set_index("unit_id")
    expected = MAIN_COUNTIES | {"990201", "990202"}
    assert set(truth["metro"].loc[truth["metro"]["is_member"], "unit_id"]) == expected
    comm = raw["commuters"][raw["commuters"]["level"] == cfg.linkage.metro_level]
    full = lk.delineate_level(comm, m.index.tolist(), sorted(MAIN_COUNTIES),
                              cfg.linkage.metro_threshold).set_index("unit_id")
    assert set(full.index[full["is_member"].eq(True)]) == expected
    assert full.loc["990201", "joined_round"] == 1 and full.loc["990202", "joined_round"] == 2
    assert pd.isna(full.loc["990203", "joined_round"])
    assert ev.metro_errors(full.reset_index(), truth["metro"])["same_rounds"]
    assert set(m.index[m["is_core"]]) == MAIN_COUNTIES
    assert set(m.index[m["is_member"].eq(True)]) == MAIN_COUNTIES
    sat = ["990201", "990202", "990203"]
    assert m.loc[sat, "is_member"].isna().all() and m.loc[sat, "joined_round"].isna().all()
    assert (m.loc[sat, "is_member_null_reason"] == "suppressed").all()
    assert m.loc[sat, "is_employed_residents_suppressed"].all()
    res = runs.of("linkage", month=MONTH)
    assert res.facts["metro_members"] == 6 and res.facts["metro_rounds"] == 0
    assert res.facts["metro_not_delineated"] == 3
    assert cfg.linkage.metro_core == (MAIN,)


def test_city_commuters_add_up_to_jobs_housing(linked):
    """Totals consistent with jobs_housing: at every level the commuters of an origin,
    its own unit included, are its employed residents (every work place lies in a unit),
    which are jobs_housing's wherever it publishes them, and metro_area publishes
    jobs_housing's employed residents with the same mask."""
    cfg, runs, raw, published, _ = linked
    tiling = ["city", "county", "township"]  # zones do not cover every work place
    comm = raw["commuters"][raw["commuters"]["level"].isin(tiling)]
    c = comm.groupby(["level", "origin_id"])["commuters_raw_count"].sum()
    c.index.names = ["level", "unit_id"]
    emp = raw["employed"][raw["employed"]["level"].isin(tiling)]
    er = emp.set_index(["level", "unit_id"])["employed_residents_raw_count"]
    assert set(er.index.get_level_values(0)) == set(tiling)
    assert c.sort_index().equals(er.sort_index()), pd.concat([c, er], axis=1)
    jh = published["jobs_housing"]
    jh = jh[~jh["is_employed_residents_suppressed"] & jh["level"].isin(tiling)].set_index(
        ["level", "unit_id"])["employed_residents_raw_count"]
    both = jh[jh > 0]
    # jobs_housing's audited rule hides more than the group rule, and the commute job
    # holds hidden the totals that pin commute_od's pairs between levels (4 were shown
    # before 2026-12-06, 1 since, none since 2026-12-07: a 1 % sample city; the check
    # below then holds for the units whose commuters linkage itself shows)
    assert (er.reindex(both.index) == both).all(), pd.concat([er, both], axis=1)
    m = published["metro_area"].set_index("unit_id")
    j = published["jobs_housing"].query("level == 'county'").set_index("unit_id")
    assert (m["is_employed_residents_suppressed"] == j.loc[m.index,
            "is_employed_residents_suppressed"]).all()
    shown = ~m["is_employed_residents_suppressed"]
    assert (m.loc[shown, "employed_residents_raw_count"]
            == j.loc[m.index[shown], "employed_residents_raw_count"]).all()
    gates = {g["table"]: g for g in runs.of("linkage", month=MONTH).gates}
    assert gates["linkage"]["success"]


def _attack(frame: pd.DataFrame, hidden: np.ndarray, values: np.ndarray, small: np.ndarray,
            groupings: list[list[str]], k: int) -> list:
    """Cells of ``frame`` that are small and recoverable from the totals."""
    got = recoverable(values, hidden, _public(frame, groupings, k))
    return [i for i in got if small[i]]


def test_city_suppression_holds(spark, linked):
    """No published count below k in linkage, metro_area or trips_by_period (tables and
    export files); an attacker who knows every row and column total (every period's, the
    metro part of each commuter row, each pair's total over the periods) recovers no
    small cell; a pair linkage withholds is withheld in every period."""
    from mobsig.io.exports import export_paths

    cfg, runs, raw, published, _ = linked
    k = cfg.privacy.k_min
    lk_pub = published["linkage"]
    for col in ("travellers_raw_count", "commuters_raw_count"):
        v = lk_pub[col].dropna()
        assert ((v == 0) | (v >= k)).all(), col
    assert lk_pub["is_trips_suppressed"].any() and (~lk_pub["is_trips_suppressed"]).any()
    ma = published["metro_area"]
    metro = set(ma.loc[ma["is_member"].eq(True), "unit_id"])
    for level, g in lk_pub.groupby("level"):
        true = g.merge(raw["trips"], on=["level", "origin_id", "dest_id"], how="left",
                       suffixes=("", "_true"))
        comm = g.merge(raw["commuters"], on=["level", "origin_id", "dest_id"], how="left",
                       suffixes=("", "_true"))
        for name, frame, value, people, extra in (
                ("trips", true, "trips_raw_count_true", "travellers_raw_count_true", []),
                ("commuters", comm, "commuters_raw_count_true", "commuters_raw_count_true",
                 ["in_metro"])):
            f = frame.assign(raw_count=frame[people].fillna(0).astype(int),
                             in_metro=frame["dest_id"].isin(metro)
                             & (level == cfg.linkage.metro_level))
            hid = f[f"is_{name}_suppressed"].to_numpy(bool)
            small = ((f["raw_count"] > 0) & (f["raw_count"] < k)).to_numpy()
            assert not (small & ~hid).any(), (level, name)
            rows = ["origin_id", *extra]
            bad = _attack(f, hid, f[value].fillna(0).to_numpy(float), small,
                          [rows, ["dest_id"]], k)
            assert not bad, (level, name, f.iloc[bad])
    tp_pub = published["trips_by_period"]
    assert set(tp_pub["period"]) == {"morning_peak", "evening_peak", "night", "off_peak"}
    v = tp_pub["travellers_raw_count"].dropna()
    assert ((v == 0) | (v >= k)).all()
    assert (tp_pub.groupby(["origin_id", "dest_id"])["is_suppressed"].nunique() == 1).all()
    t = tp_pub.merge(raw["periods"], on=["city_id", "origin_id", "dest_id", "period"],
                     how="left", suffixes=("", "_true"))
    t = t.assign(raw_count=t["travellers_raw_count_true"].fillna(0).astype(int))
    hid = t["is_suppressed"].to_numpy(bool)
    small = ((t["raw_count"] > 0) & (t["raw_count"] < k)).to_numpy()
    assert not (small & ~hid).any()
    bad = _attack(t, hid, t["trips_raw_count_true"].fillna(0).to_numpy(float), small,
                  [["city_id", "origin_id", "period"], ["city_id", "dest_id", "period"],
                   ["city_id", "origin_id", "dest_id"]], k)
    assert not bad, t.iloc[bad]
    withheld = lk_pub.query(f"level == '{cfg.trips.level}' and is_trips_suppressed")
    both = tp_pub.merge(withheld[["origin_id", "dest_id"]], on=["origin_id", "dest_id"])
    assert both["is_suppressed"].all()
    for table in ("linkage", "metro_area", "trips_by_period"):
        files = export_paths(cfg.warehouse, "2026-06", table)
        csv = pd.read_csv(files["csv"], encoding="utf-8-sig", dtype=str)
        assert len(csv) == len(published[table]), table
        g = spark.read.format("geoparquet").load(files["geoparquet"])
        assert g.count() == len(published[table])
        assert g.where(F.col("geometry").isNull()).count() == 0, table
        if table == "linkage":  # a commuters zero leaves as suppressed (issue 17)
            key = ["level", "origin_id", "dest_id"]
            m = csv.merge(lk_pub[key + ["commuters_raw_count"]], on=key)
            assert len(m) == len(csv)
            zero = m["commuters_raw_count"].eq(0).to_numpy()
            assert zero.any() and m.loc[zero, "is_commuters_suppressed"].eq("True").all()
            assert m.loc[zero, "commuters_expanded_count"].isna().all()
    lines = spark.read.format("geoparquet").load(
        export_paths(cfg.warehouse, "2026-06", "linkage")["geoparquet"])
    assert lines.where("ST_GeometryType(geometry) = 'ST_LineString'").count() == len(lk_pub)


def test_city_trips_by_period_against_truth(linked):
    """Intra-city trips by period against the truth, all county pairs together: the
    morning and evening peaks within 10 % (measured -3 % and -7 %), off-peak within 20 %
    (-18 %: short lunches and errands are not detected as stays, so trips through them
    are lost); the night is reported, not asserted: 14 true trips, and a trip's departure
    is the last signal at the origin, up to an hour early after a quiet night, so early
    commutes land in it. Pair-period cells with >= 20 true trips: mean error within
    20 %."""
    cfg, _, raw, _, truth = linked
    tr = cfg.trips
    err = ev.period_errors(raw["periods"], lt.period_trips(
        truth["moves"], tr.level, dict(tr.periods), tr.rest_period, tr.city_level,
        tr.min_trip_m))
    p = err["periods"]
    assert set(p) == {"morning_peak", "evening_peak", "night", "off_peak"}
    for name in ("morning_peak", "evening_peak"):
        assert p[name]["true"] >= 500 and abs(p[name]["error"]) <= 0.10, (name, err)
    assert abs(p["off_peak"]["error"]) <= 0.20, err
    assert p["night"]["true"] < 50, err  # too few to measure
    assert err["cells"] >= 20 and err["mean_abs_cell_error"] <= 0.20, err


@pytest.mark.job
def test_city_rerun_is_identical(spark, linked):
    from mobsig.runner import run

    cfg = linked[0]
    catalog = Catalog(spark, cfg.warehouse)
    keys = {"linkage": ["level", "origin_id", "dest_id"], "metro_area": ["unit_id"],
            "trips_by_period": ["city_id", "origin_id", "dest_id", "period"]}

    def tables():
        return {t: catalog.read(t).toPandas().sort_values(k).reset_index(drop=True)
                for t, k in keys.items()}

    before = tables()
    run(spark, cfg, "linkage", month=MONTH, export=False)
    run(spark, cfg, "trips", month=MONTH, export=False)
    after = tables()
    for t in keys:
        pd.testing.assert_frame_equal(before[t], after[t], check_like=True)


K = 15


def test_metro_area_hides_what_linkage_withholds(spark):
    """metro_area's commuters_to_metro is the metro part of a unit's commuters row in
    linkage: where linkage's audit withholds a commuters row total at the metro level
    (``commuters_origin_total_withheld``), metro_area must not publish it (hidden, with a
    sibling complement, the share null); without the flags it publishes every count
    (all >= k). Its employed residents keep jobs_housing's published mask exactly."""
    counts = {"X": (100, 40), "Y": (120, 50), "Z": (130, 60), "W": (140, 70)}
    rows = [("county", u, f"{u}区", "P", u == "X", True, 0, m, n, 10.0 * n)
            for u, (e, c) in counts.items()
            for m, n in (("employed_residents", e), ("commuters_to_metro", c))]
    long = spark.createDataFrame(rows, "level string, unit_id string, unit_name string, "
                                       "parent_id string, is_core boolean, is_member "
                                       "boolean, joined_round int, measure string, "
                                       "raw_count bigint, expanded_count double")
    plain = lk.publish_metro(long, K, True, False).toPandas().set_index("unit_id")
    assert not plain[["is_employed_residents_suppressed",
                      "is_commuters_to_metro_suppressed"]].any().any()
    sup = spark.createDataFrame(
        [("county", "commuters", "X", "Y", True), ("county", "commuters", "X", "Z", True),
         ("county", "trips", "Y", "X", True), ("township", "commuters", "Y", "X", True),
         ("county", "commuters", "Z", "X", False)],
        "level string, measure string, origin_id string, dest_id string, "
        "origin_total_withheld boolean")
    withheld = lk.withheld_metro_rows(sup, "county")
    assert sorted(r["unit_id"] for r in withheld.collect()) == ["X"]
    jh = spark.createDataFrame([("county", u, u == "Y") for u in counts],
                               "level string, unit_id string, "
                               "is_employed_residents_suppressed boolean")
    out = lk.publish_metro(long, K, True, False, withheld, jh).toPandas().set_index(
        "unit_id")
    hid = set(out.index[out["is_commuters_to_metro_suppressed"]])
    assert "X" in hid and len(hid) == 2  # X and its smallest sibling (Y, 50)
    assert hid == {"X", "Y"}
    assert out.loc[list(hid), "commuters_to_metro_raw_count"].isna().all()
    assert out.loc[list(hid), "commuting_share_to_metro"].isna().all()
    assert (out.loc[list(hid), "commuting_share_to_metro_null_reason"] == "suppressed").all()
    assert set(out.index[out["is_employed_residents_suppressed"]]) == {"Y"}  # jh's mask
    assert out.loc["Z", "commuters_to_metro_raw_count"] == 60
    # the share is null wherever a count is hidden: it pins nothing (issue 17)
    assert not len(pa.share_pins(out, "commuters_to_metro", "employed_residents",
                                 "commuting_share_to_metro", K))


def test_rounded_share_bounds_a_hidden_count():
    """Issue 17: a share published beside one of its counts bounds the other. Y's 3
    commuters to the metro are hidden under its published 40 employed residents: a share
    0.075 published to two decimals (0.08: [0.075, 0.085)) gives 3 back, to one decimal
    (0.1) [2, 6]; under 400 employed residents a share rounded to 0.1 (0.0) leaves [1, 20],
    k wide. metro_area publishes no share beside a hidden count, but membership is the
    share rounded to one bit (>= linkage.metro_threshold): a unit outside the area with
    40 employed residents has fewer than 4 commuters to it, [1, 3] (metro_area no longer
    publishes such a membership: test_membership_is_published_only_where_it_pins_nothing);
    a member with its 20 commuters published has 20 to 200 employed residents. A hidden
    denominator under a published numerator: 20 / 0.25
    rounded to 0.1 -> [67, 100]."""
    assert pa.share_interval(0.075, 0.085, 40, 40, hi_open=True) == (3.0, 3.0)
    assert pa.share_interval(0.05, 0.15, 40, 40) == (2.0, 6.0)
    lo, hi = pa.share_interval(0.0, 0.05, 400, 400)
    assert (lo, hi) == (1.0, 20.0) and hi - lo >= K
    assert pa.share_interval(0.0, 0.1, 40, 40, hi_open=True) == (1.0, 3.0)
    assert pa.share_interval(0.1, 1.0, 20, 20, "denominator") == (20.0, 200.0)
    assert pa.share_interval(0.2, 0.3, 20, 20, "denominator") == (67.0, 100.0)
    assert pa.share_interval(0.0, 0.1, 20, 20, "denominator", hi_open=True)[0] == 201.0
    pub = pd.DataFrame({
        "unit_id": ["Y", "Z", "W", "V"],
        "employed_residents_raw_count": [40, 60, None, 400],
        "is_employed_residents_suppressed": [False, False, True, False],
        "commuters_to_metro_raw_count": [None, 40, 20, None],
        "is_commuters_to_metro_suppressed": [True, False, False, True],
        "commuting_share_to_metro": [None, 40 / 60, None, None],
        "is_member": [False, True, True, False]}).set_index("unit_id")
    args = ("commuters_to_metro", "employed_residents", "commuting_share_to_metro", K)
    got = pa.share_pins(pub, *args, member="is_member", threshold=0.1)
    assert got[["row", "hidden", "via", "lo", "hi"]].values.tolist() == [
        ["Y", "commuters_to_metro", "member", 1.0, 3.0]]  # V: [1, 39], W: [20, 200]
    # the same rows with a share published to two decimals beside the hidden counts
    shown = pub.assign(commuting_share_to_metro=[0.08, 40 / 60, 0.33, 0.01])
    got = pa.share_pins(shown, *args, step=0.01)
    assert set(got["row"]) == {"Y", "W", "V"}  # Y [3, 3], W [60, 61], V [2, 6]


def test_membership_is_published_only_where_it_pins_nothing(spark):
    """Issue 17: membership is the share rounded to one bit. G (40 employed residents
    published, 3 of them commuting to the core, hidden) outside the area gave [1, 3] back.
    Now a unit is delineated only where jobs_housing publishes its employed residents E
    and both intervals the bit gives ([1, ceil(t E) - 1] and [ceil(t E), E]) are >= the
    width (E >= 161 at t = 10 %, width 15; 160 is not), decided on published counts
    alone: B and G (40) and E (hidden) are not delineated (membership null with its
    reason, no round), and B, 75 % to the core, does not carry F (13 % to B) into the
    area in round 2 as the full delineation does. D (400, 25 %) joins, C (400, 2.5 %) and
    F are published outside; no published membership pins a hidden count."""
    emp = {"A": 200, "B": 40, "G": 40, "C": 400, "D": 400, "E": 12, "F": 300, "H": 160,
           "I": 161}
    flows = [("A", "A", 200), ("B", "A", 30), ("B", "B", 10), ("G", "A", 3), ("G", "G", 37),
             ("C", "A", 10), ("C", "C", 390), ("D", "A", 100), ("D", "D", 300),
             ("E", "A", 12), ("F", "B", 40), ("F", "F", 260), ("H", "H", 160),
             ("I", "I", 161)]
    pairs = spark.createDataFrame(
        [("county", o, d, n, float(n)) for o, d, n in flows],
        "level string, origin_id string, dest_id string, commuters_raw_count bigint, "
        "commuters_expanded_count double")
    units = spark.createDataFrame([("county", u, f"{u}区", "P") for u in emp],
                                  "level string, unit_id string, unit_name string, "
                                  "parent_id string")
    employed = spark.createDataFrame(
        [("county", u, e, float(e)) for u, e in emp.items()],
        "level string, unit_id string, employed_residents_raw_count bigint, "
        "employed_residents_expanded_count double")
    jh = spark.createDataFrame([("county", u, u == "E") for u in emp],
                               "level string, unit_id string, "
                               "is_employed_residents_suppressed boolean")
    shown = lk.membership_open(units, employed, jh, 0.1, K, False).toPandas()
    assert set(shown.loc[~shown["membership_open"], "unit_id"]) == {"B", "G", "E", "H"}
    metro = lk.metro_area(pairs, units, ["A"], 0.1, lk.membership_open(
        units, employed, jh, 0.1, K, False))
    got = metro.toPandas().set_index("unit_id")
    assert got["is_member"].isna().to_dict() == {u: u in "BEGH" for u in got.index}
    assert set(got.index[got["is_member"].eq(True)]) == {"A", "D"}
    assert got.loc["D", "joined_round"] == 1 and got["joined_round"].isna().sum() == 7
    assert lk.metro_facts(metro) == {"metro_members": 2, "metro_rounds": 1,
                                     "metro_not_delineated": 4}
    full = lk.delineate_level(pd.DataFrame(flows, columns=[
        "origin_id", "dest_id", "commuters_expanded_count"]), list(emp), ["A"], 0.1)
    assert set(full.loc[full["is_member"].eq(True), "unit_id"]) == {"A", "B", "D", "E", "F"}
    out = lk.publish_metro(lk.metro_long(metro, employed, units), K, True, False,
                           jobs_housing=jh).toPandas().set_index("unit_id")
    assert set(out.index[out["is_member"].isna()]) == {"B", "E", "G", "H"}
    assert (out.loc[["B", "E", "G", "H"], "is_member_null_reason"] == "suppressed").all()
    assert out.loc[["A", "C", "D", "F", "I"], "is_member_null_reason"].isna().all()
    assert out.loc["G", "is_commuters_to_metro_suppressed"]  # 3: hidden
    args = ("commuters_to_metro", "employed_residents", "commuting_share_to_metro", K)
    assert not len(pa.share_pins(out, *args, member="is_member", threshold=0.1))
    before = out.assign(is_member=out.index.isin(["A", "B", "D", "E", "F"]))
    pins = pa.share_pins(before, *args, member="is_member", threshold=0.1)
    assert pins.set_index("row").loc["G", ["lo", "hi"]].tolist() == [1.0, 3.0]


def test_metro_area_hides_the_metro_parts_the_joint_audit_holds(spark):
    """The joint audit with the commute release holds a metro part hidden
    (lk.joint_with_commute's repair): metro_area hides it, beside the rows whose
    total linkage's own audit withholds, at the metro level only."""
    sup = spark.createDataFrame(
        [("county", "commuters", "A", False), ("county", "commuters", "B", True),
         ("county", "trips", "C", True), ("township", "commuters", "a1", True)],
        f"level string, measure string, origin_id string, {pa.ROW_WITHHELD} boolean")
    held = [pd.DataFrame({"level": ["county", "township"], "unit_id": ["A", "a2"],
                          "measure": "commuters_to_metro"})]
    got = lk.withheld_metro_rows(sup, "county", held).toPandas()
    assert sorted(map(tuple, got[["level", "unit_id"]].values)) == [
        ("county", "A"), ("county", "B")]
    assert sorted(lk.withheld_metro_rows(sup, "county").toPandas()["unit_id"]) == ["B"]
