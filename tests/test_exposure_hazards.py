"""Exposure at geological hazard points (issue 15 item 3): the rules on hand-built stays
(hour overlap, the buffer and its per-point override, residents vs visitors, non-counted
and unknown cards, a stay crossing midnight), day and night maxima, suppression attacked
from the published maxima and the hour identity, the truth's rules and its evaluation,
and the job on the synthetic city (conftest ``chain``) against the generator's truth."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from mobsig import hazards, presence
from mobsig.config import build_config
from mobsig.errors import ConfigError, InputError
from mobsig.synth import evaluate as ev
from mobsig.synth import hazards as synth_hazards

D = dt.date(2026, 6, 9)
LAT = 30.6
P1, P2 = 104.00, 104.05  # two points on latitude 30.6
MX, MY = (float(v[0]) for v in hazards.metres_per_degree(np.array([LAT])))


def _east(lon0: float, metres: float) -> float:
    return lon0 + metres / MX


# --------------------------------------------------------------------------------------
# unit: geometry, points, config


def test_night_hours_and_metres_per_degree():
    assert hazards.night_hours(21, 7) == (0, 1, 2, 3, 4, 5, 6, 21, 22, 23)
    assert hazards.night_hours(0, 6) == (0, 1, 2, 3, 4, 5)
    from pyproj import Geod

    g = Geod(ellps="GRS80")
    mx, my = hazards.metres_per_degree(np.array([LAT]))
    assert g.inv(104.0, LAT, 104.001, LAT)[2] == pytest.approx(mx[0] * 0.001, rel=1e-6)
    assert g.inv(104.0, LAT, 104.0, LAT + 0.001)[2] == pytest.approx(my[0] * 0.001, rel=1e-5)


def _point_rows(extra=()):
    import shapely

    rows = [("hazard_point", "H1", "一号", None, "{}", shapely.Point(P1, LAT)),
            ("hazard_point", "H2", "二号", None, json.dumps({"buffer_m": "1000"}),
             shapely.Point(P2, LAT)),
            ("hazard_point", "H3", "面", None, None, shapely.box(103.9, 30.5, 103.91, 30.51)),
            *extra]
    return pd.DataFrame([(lv, u, n, p, a, shapely.to_wkb(g)) for lv, u, n, p, a, g in rows],
                        columns=["level", "unit_id", "unit_name", "parent_id", "attributes",
                                 "geometry_wkb"])


def test_hazard_points_take_the_override_and_skip_non_points():
    import shapely

    pts, skipped = hazards.hazard_points(_point_rows(), 500.0, "buffer_m", 20000.0)
    assert skipped == ["hazard_point/H3"]
    assert pts["unit_id"].tolist() == ["H1", "H2"] and pts["_p"].tolist() == [0, 1]
    assert pts["buffer_m"].tolist() == [500.0, 1000.0]
    cell_lon, cell_lat, grid = hazards.grid_of(pts)
    assert cell_lon == pytest.approx(1000.0 / MX) and cell_lat == pytest.approx(1000.0 / MY)
    assert grid.groupby("_p").size().le(9).all()
    bad = _point_rows([("hazard_point", "H4", "坏", None, json.dumps({"buffer_m": "-5"}),
                        shapely.Point(P1, LAT))])
    with pytest.raises(InputError, match="H4"):
        hazards.hazard_points(bad, 500.0, "buffer_m", 20000.0)


def test_config_and_validation():
    s = build_config({}).screen
    assert (s.hazard_layers, s.hazard_buffer_m, s.hazard_buffer_attribute) == (
        ("hazard_point",), 500.0, "buffer_m")
    assert (s.hazard_hour_min_minutes, s.hazard_night_start_hour,
            s.hazard_night_end_hour) == (30.0, 21, 7)
    assert build_config({}, ["screen.hazard_buffer_m=300"]).screen.hazard_buffer_m == 300.0
    for bad, match in (("screen.hazard_buffer_m=0", "hazard_buffer_m"),
                       ("screen.hazard_night_end_hour=21", "must differ"),
                       ("screen.hazard_night_start_hour=24", "hazard_night_start_hour"),
                       ("screen.hazard_hour_min_minutes=61", "hazard_hour_min_minutes"),
                       ("screen.hazard_layers=[grid]", "hazard_layers")):
        with pytest.raises(ConfigError, match=match):
            build_config({}, [bad])


# --------------------------------------------------------------------------------------
# unit: the counts on hand-built stays


STAYS = [  # (user, start, end, lon)
    ("a", "2026-06-09 08:00:00", "2026-06-09 10:00:00", _east(P1, 300)),  # hours 8, 9
    ("b", "2026-06-09 08:00:00", "2026-06-09 10:00:00", _east(P1, 520)),  # outside 500 m
    ("c", "2026-06-09 08:10:00", "2026-06-09 08:45:00", _east(P2, 800)),  # H2's 1000 m
    ("d", "2026-06-09 08:40:00", "2026-06-09 09:20:00", _east(P1, 100)),  # 20 + 20 min
    ("d", "2026-06-09 10:00:00", "2026-06-09 10:20:00", _east(P1, 100)),  # 20 + 15 min
    ("d", "2026-06-09 10:30:00", "2026-06-09 10:45:00", _east(P1, -100)),  # ... hour 10
    ("e", "2026-06-08 23:00:00", "2026-06-09 01:00:00", _east(P1, 0)),  # crosses midnight
    ("f", "2026-06-09 12:00:00", "2026-06-09 14:00:00", _east(P1, 0)),  # not counted
    ("g", "2026-06-09 12:00:00", "2026-06-09 13:00:00", _east(P1, 0)),  # no home_work row
]
HOMES = [("a", _east(P1, 450)), ("d", _east(P1, 600)), ("e", _east(P1, -499)),
         ("c", _east(P2, 990))]
WEIGHTS = {"a": 10.0, "b": 10.0, "c": 20.0, "d": 30.0, "e": 40.0}


def _counts(spark, rows=STAYS, hour_min=30.0):  # one Spark run: ~10 s on 2 idle cores
    stays = spark.createDataFrame([(u, s, e, lon, LAT) for u, s, e, lon in rows],
                                  "user_id string, s string, e string, lon double, "
                                  "lat double").select(
        "user_id", F.to_timestamp("s").alias("stay_start"),
        F.to_timestamp("e").alias("stay_end"), "lon", "lat")
    hw = spark.createDataFrame([(u, "resident", u != "f") for u in "abcdef"],
                               "user_id string, pop_class string, is_counted boolean")
    homes = spark.createDataFrame([(u, lon, LAT) for u, lon in HOMES],
                                  "user_id string, lon double, lat double")
    weights = spark.createDataFrame(list(WEIGHTS.items()), "user_id string, weight double")
    default = spark.createDataFrame([(50.0,)], "weight double")
    pts, _ = hazards.hazard_points(_point_rows(), 500.0, "buffer_m", 20000.0)
    table = hazards.exposure_table(spark, stays, presence.card_classes(hw), homes, weights,
                                   default, pts, D, hour_min).toPandas()
    return table


def _cells(t, unit, measure):
    g = t[(t["unit_id"] == unit) & (t["measure"] == measure)]
    return {int(r.hour): (int(r.raw_count), float(r.expanded_count))
            for r in g.itertuples() if r.raw_count}


def test_exposure_rules_on_hand_built_stays(spark):
    """a: 300 m from H1, home inside: a resident in hours 8 and 9; b: 520 m away, outside;
    c: 800 m from H2, inside its own 1000 m buffer only, home inside it too; d: 20 min
    in hours 8 and 9 (not counted), two stays of 20 and 15 min in hour 10 (counted: the
    minutes add up), home 600 m away: a visitor; e: a stay from 23:00 the day before,
    counted in hour 0 only (the day's own hours), home 499 m away: a resident; f: not
    counted (home_work); g: no home_work row: a visitor with the default weight."""
    t = _counts(spark)
    assert len(t) == 2 * 3 * 24 and set(t["level"]) == {"hazard_point"}
    assert _cells(t, "H1", "exposed") == {0: (1, 40.0), 8: (1, 10.0), 9: (1, 10.0),
                                          10: (1, 30.0), 12: (1, 50.0)}
    assert _cells(t, "H1", "residents") == {0: (1, 40.0), 8: (1, 10.0), 9: (1, 10.0)}
    assert _cells(t, "H1", "visitors") == {10: (1, 30.0), 12: (1, 50.0)}
    assert _cells(t, "H2", "exposed") == _cells(t, "H2", "residents") == {8: (1, 20.0)}
    assert t.loc[t["unit_id"] == "H2", "buffer_m"].eq(1000.0).all()


def test_a_point_without_a_cell_in_its_buffer_is_not_observed(spark):
    """A hazard point whose buffer holds no cell of the day (neither a site nor a
    service point, where the stays are placed) cannot see anybody: its counts are
    published as null with null_reason no_coverage, never as a measured 0 (the
    1,500-person region's two points 0.7 and 1.9 km from the nearest service point were
    published as 0 exposed against ~10 true persons). H1: a site 300 m away; H2 (1000 m
    buffer): the site 1,300 m away, its sector's service point 900 m; H4: a site 520 m
    away and a site inside that was taken down the day before (valid_to); a cell
    switched on the next day does not count either."""
    import shapely

    p4 = 104.10
    pts, _ = hazards.hazard_points(_point_rows(extra=[
        ("hazard_point", "H4", "四号", None, "{}", shapely.Point(p4, LAT))]),
        500.0, "buffer_m", 20000.0)
    cells = spark.createDataFrame([
        ("c1", _east(P1, 300), LAT, _east(P1, 320), LAT, None, None),
        ("c2", _east(P2, 1300), LAT, _east(P2, 900), LAT, None, None),
        ("c3", _east(p4, 520), LAT, _east(p4, 600), LAT, None, None),
        ("c4", _east(p4, 100), LAT, _east(p4, 100), LAT, None, D - dt.timedelta(days=1)),
        ("c5", _east(p4, 50), LAT, _east(p4, 50), LAT, D + dt.timedelta(days=1), None)],
        "cell_id string, lon double, lat double, svc_lon double, svc_lat double, "
        "valid_from date, valid_to date")
    gone = hazards.uncovered_points(cells, pts, [D - dt.timedelta(days=1), D])
    assert sorted(zip(gone["key_date"], gone["unit_id"], strict=True)) == [(D, "H4")]
    # the published rows of H1 and H4 (a zero hour, a hidden maximum): H4's become null,
    # not observed rather than withheld
    rows = pd.DataFrame([("hazard_point", u, u, None, 500.0, "exposed", st, h, None,
                          0 if st == "hour" else None, 0.0 if st == "hour" else None,
                          st != "hour", None if st == "hour" else "suppressed")
                         for u in ("H1", "H4") for st, h in (("hour", 5), ("day_max", None))],
                        columns=hazards.OUTPUT_COLUMNS)
    table = spark.createDataFrame(rows, hazards.OUTPUT_SCHEMA)
    out = hazards.mark_uncovered(table, gone[gone["key_date"] == D]).toPandas()
    h4, h1 = out[out["unit_id"] == "H4"], out[out["unit_id"] == "H1"]
    assert h4["raw_count"].isna().all() and h4["expanded_count"].isna().all()
    assert h4["null_reason"].eq("no_coverage").all() and not h4["is_suppressed"].any()
    hour1 = h1[h1["statistic"] == "hour"]
    assert hour1["raw_count"].eq(0).all() and hour1["null_reason"].isna().all()
    assert h1.loc[h1["statistic"] == "day_max", "null_reason"].eq("suppressed").all()
    assert list(out.columns) == hazards.OUTPUT_COLUMNS
    assert hazards.mark_uncovered(table, gone.iloc[:0]) is table


# --------------------------------------------------------------------------------------
# unit: maxima and suppression, attacked


def _frame(points: dict[str, dict[str, list[int]]]) -> pd.DataFrame:
    """{point: {measure: 24 raw counts}} -> complete()'s rows (expanded = 10 x raw)."""
    rows = []
    for p, m in points.items():
        for measure, raws in m.items():
            rows += [("hazard_point", p, p, None, 500.0, measure, h, int(r), 10.0 * r)
                     for h, r in enumerate(raws)]
    return pd.DataFrame(rows, columns=["level", "unit_id", "unit_name", "parent_id",
                                       "buffer_m", "measure", "hour", "raw_count",
                                       "expanded_count"])


NIGHT = hazards.night_hours(21, 7)


def test_maxima_pick_the_peak_hour_and_hide_with_it():
    res = [0] * 7 + [20] * 14 + [30, 40, 30]  # night peak 22h (40), day 20 everywhere
    vis = [0] * 7 + [5, 25, 60] + [25] * 11 + [0, 0, 0]  # 7h: 5 is small
    exp = [r + v for r, v in zip(res, vis, strict=True)]
    frame = _frame({"H": {"exposed": exp, "residents": res, "visitors": vis}})
    # the 5 visitors of 7h weigh 200 each: the day's largest expanded count of visitors
    # and of exposed (heavier cards), on a small raw count
    at7 = frame["hour"].eq(7)
    frame.loc[at7 & frame["measure"].eq("visitors"), "expanded_count"] = 1000.0
    frame.loc[at7 & frame["measure"].eq("exposed"), "expanded_count"] = 1200.0
    out = hazards.profile_pandas(frame, 15, True, False, NIGHT)
    m = out[out["statistic"] != "hour"].set_index(["measure", "statistic"])
    assert m.loc[("residents", "night_max"), ["raw_count", "peak_hour"]].tolist() == [40, 22]
    # 7h-20h all 20: a tie, taken at the first published hour (7h is hidden, below)
    assert m.loc[("residents", "day_max"), ["raw_count", "peak_hour"]].tolist() == [20, 8]
    assert m.loc[("exposed", "day_max"), ["raw_count", "peak_hour"]].tolist() == [25, 7]
    assert pd.isna(m.loc[("visitors", "night_max"), "peak_hour"])  # a zero maximum
    assert m.loc[("visitors", "night_max"), "raw_count"] == 0
    # hour 7: visitors 5 hidden, and with it the smaller of exposed 25 / residents 20
    h7 = out[(out["statistic"] == "hour") & (out["hour"] == 7)].set_index("measure")
    assert h7["is_suppressed"].to_dict() == {"exposed": False, "residents": True,
                                            "visitors": True}
    # visitors' day maximum is the hidden 7h (1000 > 600 at 9h): hidden with it, and no
    # published hour of visitors (9h: 60 cards, 600) poses as the maximum
    v = m.loc[("visitors", "day_max")]
    assert v["is_suppressed"] and pd.isna(v["raw_count"]) and pd.isna(v["peak_hour"])
    _assert_unrecoverable(out)


def _recoverable(out: pd.DataFrame) -> list[tuple]:
    """What an attacker recovers of hidden hourly cells from the published rows: a hidden
    cell alone among exposed / residents / visitors of its hour (exposed = residents +
    visitors), or a published maximum naming a hidden hour or larger than every
    published hour of its period (then it is the value of a hidden hour)."""
    found = []
    hours = out[out["statistic"] == "hour"]
    for (p, h), g in hours.groupby(["unit_id", "hour"]):
        if g["is_suppressed"].sum() == 1:
            found.append((p, h, "identity"))
    for r in out[(out["statistic"] != "hour") & ~out["is_suppressed"]].itertuples():
        period = hours[(hours["unit_id"] == r.unit_id) & (hours["measure"] == r.measure)
                       & (hours["hour"].isin(NIGHT) == (r.statistic == "night_max"))]
        shown = period[~period["is_suppressed"]]
        if pd.notna(r.peak_hour):
            cell = period[period["hour"] == r.peak_hour]
            if cell["is_suppressed"].iloc[0]:
                found.append((r.unit_id, r.peak_hour, "peak_hour"))
        if (period["is_suppressed"].any()
                and (shown.empty or r.expanded_count > shown["expanded_count"].max())):
            found.append((r.unit_id, r.statistic, "maximum"))
    return found


def _assert_unrecoverable(out: pd.DataFrame) -> None:
    assert _recoverable(out) == []
    assert out.loc[out["is_suppressed"], ["raw_count", "expanded_count"]].isna().all().all()
    assert (out.loc[out["is_suppressed"], "null_reason"] == "suppressed").all()
    shown = out.loc[~out["is_suppressed"], "raw_count"]
    assert ((shown == 0) | (shown >= 15)).all()


def test_no_hidden_hour_is_recovered_from_maxima_or_the_hour_identity():
    """Random profiles (residents and visitors around k, some hours small, expanded
    counts not in the raw order: weights vary), attacked from the published maxima and
    the identity exposed = residents + visitors: nothing hidden comes back. Without the
    rule (no complementary suppression, maxima published from every hour) the same
    attack recovers cells, so it bites."""
    rng = np.random.default_rng(5)
    pts = {}
    for i in range(60):
        res = rng.integers(0, 40, 24) * (rng.random(24) < 0.8)
        vis = rng.integers(0, 40, 24) * (rng.random(24) < 0.8)
        pts[f"P{i:02d}"] = {"exposed": res + vis, "residents": res, "visitors": vis}
    frame = _frame(pts)
    frame["expanded_count"] = frame["raw_count"] * rng.uniform(5, 50, len(frame))
    ex = frame[frame["measure"] == "exposed"].index
    parts = frame.loc[frame["measure"] != "exposed"].groupby(["unit_id", "hour"])[
        "expanded_count"].sum()
    frame.loc[ex, "expanded_count"] = parts.reindex(
        pd.MultiIndex.from_frame(frame.loc[ex, ["unit_id", "hour"]])).to_numpy()
    out = hazards.profile_pandas(frame, 15, True, False, NIGHT)
    assert out["is_suppressed"].any() and (~out["is_suppressed"]).any()
    _assert_unrecoverable(out)
    # the attack bites: primary suppression only, and maxima of every hour published
    naive = hazards.profile_pandas(frame, 15, False, False, NIGHT)
    leaky = naive.copy()
    mx = leaky["statistic"] != "hour"
    peaks = frame.assign(statistic=np.where(frame["hour"].isin(NIGHT), "night_max",
                                            "day_max")).sort_values(
        "expanded_count", ascending=False).drop_duplicates(["unit_id", "measure",
                                                            "statistic"])
    leaky.loc[mx, "is_suppressed"] = False
    leaky.loc[mx, "expanded_count"] = leaky[mx].merge(
        peaks, on=["unit_id", "measure", "statistic"], how="left")["expanded_count_y"].to_numpy()
    kinds = {k for *_, k in _recoverable(leaky)}
    assert {"identity", "maximum"} <= kinds


# --------------------------------------------------------------------------------------
# unit: truth and evaluation


class _StubCity:
    def to_xy(self, lon, lat):
        return (np.asarray(lon, float) - P1) * MX, (np.asarray(lat, float) - LAT) * MY


def test_truth_follows_the_same_rules():
    from shapely.geometry import Point

    stays = pd.DataFrame([(u, pd.Timestamp(s), pd.Timestamp(e), lon, LAT)
                          for u, s, e, lon in STAYS],
                         columns=["user_id", "stay_start", "stay_end", "lon", "lat"])
    users = sorted(set(stays["user_id"]))
    cards = pd.DataFrame({"user_id": users, "person_id": range(len(users)),
                          "card_kind": "primary", "is_human": [u != "f" for u in users]})
    homes = dict(HOMES)
    persons = pd.DataFrame({"person_id": range(len(users)), "in_sample": True,
                            "pop_class": ["resident"] * len(users),
                            "night_x": [(homes.get(u, 200.0) - P1) * MX for u in users],
                            "night_y": 0.0})
    points = pd.DataFrame({"unit_id": ["H1", "H2"], "buffer_m": [np.nan, 1000.0],
                           "geometry": [Point(0, 0), Point((P2 - P1) * MX, 0)]})
    t = synth_hazards.exposure_truth(stays, cards, persons, _StubCity(),
                                     D - dt.timedelta(days=1), points, 30.0)
    got = {(r.unit_id, r.measure, r.hour): r.persons for r in t.itertuples()
           if r.dt == D.isoformat()}
    assert got == {("H1", "exposed", 0): 1, ("H1", "residents", 0): 1,
                   ("H1", "exposed", 8): 1, ("H1", "residents", 8): 1,
                   ("H1", "exposed", 9): 1, ("H1", "residents", 9): 1,
                   ("H1", "exposed", 10): 1, ("H1", "visitors", 10): 1,
                   ("H1", "exposed", 12): 1, ("H1", "visitors", 12): 1,
                   ("H2", "exposed", 8): 1, ("H2", "residents", 8): 1}
    assert set(t["dt"]) == {"2026-06-08", D.isoformat()}  # e's 23:00 on the 8th


def test_evaluation_of_exposure():
    rows = []
    for day in ("2026-06-09", "2026-06-10"):
        for h in range(24):
            rows.append((day, "A", "exposed", h, 10 + h))
            rows.append((day, "A", "residents", h, 10))
            rows.append((day, "A", "visitors", h, h))
    truth = pd.DataFrame(rows, columns=["dt", "unit_id", "measure", "hour", "persons"])
    measured = truth.rename(columns={"persons": "raw_count"})
    measured.loc[(measured["measure"] == "exposed") & (measured["hour"] == 20),
                 "raw_count"] = 36  # the day peak: 30 -> 36
    r = ev.exposure_errors(measured, truth, night=NIGHT, min_persons=5)
    assert r["pairs"] == 2 * 3 * 2  # days x measures x (day, night)
    assert r["max_abs_error"] == pytest.approx(0.2)
    assert r["worst"] == "2026-06-09/A/exposed/day_max"
    true_sum = 2 * sum((10 + h) + 10 + h for h in range(24))
    assert r["hourly_abs_error"] == pytest.approx(2 * 6 / true_sum)
    assert r["maxima"]["2026-06-10/A/exposed/day_max"] == [36, 30]
    ok = ev.verdict({"home_work": {"home_within_500m": 1, "work_within_500m": 1},
                     "classes": {}, "exposure_hazards": r,
                     "population": {lv: {"units": 1, "max_abs_error": 0}
                                    for lv in ("county", "township")}})
    assert ok["exposure_maxima"] is True  # 20 % <= 25 %
    worse = ev.exposure_errors(measured.assign(raw_count=measured["raw_count"] * 2), truth,
                               night=NIGHT, min_persons=5)
    assert ev.verdict({**ok_input(r), "exposure_hazards": worse})["exposure_maxima"] is False
    assert ev.verdict({**ok_input(r), "exposure_hazards": None})["exposure_maxima"] is None


def test_evaluation_leaves_out_the_points_not_observed():
    """A point-day with no cell in the buffer (published as null, no_coverage) is left
    out of the errors and listed with its true persons; the evaluation's line says so."""
    rows = []
    for unit, n in (("A", 10), ("B", 8)):
        for h in range(24):
            rows += [("2026-06-09", unit, "exposed", h, n), ("2026-06-09", unit,
                                                             "residents", h, n)]
    truth = pd.DataFrame(rows, columns=["dt", "unit_id", "measure", "hour", "persons"])
    measured = truth[truth["unit_id"] == "A"].rename(columns={"persons": "raw_count"})
    everything = ev.exposure_errors(measured, truth, night=NIGHT, min_persons=5)
    assert everything["max_abs_error"] == 1.0  # B measured 0: a guess, not a figure
    gone = pd.DataFrame({"key_date": [D], "unit_id": ["B"]})
    r = ev.exposure_errors(measured, truth, night=NIGHT, min_persons=5, uncovered=gone)
    assert r["max_abs_error"] == 0.0 and r["pairs"] == 4
    assert r["uncovered"] == {"2026-06-09/B": 8 * 24}
    assert not any("/B/" in k for k in r["errors"])
    from tests.factories import evaluation_base

    base = evaluation_base(exposure_hazards=r)
    ok = ev.verdict(base)
    assert ok["exposure_maxima"] is True
    text = ev.markdown({**base, "targets_met": ok})
    assert ("not observed, no cell in the buffer, published as null: 1 point-days of B) "
            "| 0.0 %") in text, text


def test_evaluation_of_a_planted_crowd():
    """A crowd planted at A on 06-09, hours 14-16 (truth column ``planted``): found when
    each planted hour is within ±15 %; a point-day without a plant whose measured maximum
    overstates the truth by > 15 % and >= 5 persons is a false crowd."""
    rows = []
    for day in ("2026-06-09", "2026-06-10"):
        for unit in ("A", "B"):
            for h in range(24):
                crowd = 40 if (day, unit) == ("2026-06-09", "A") and 14 <= h < 17 else 0
                rows.append((day, unit, "exposed", h, 10 + crowd, crowd))
                rows.append((day, unit, "visitors", h, crowd, crowd))
                rows.append((day, unit, "residents", h, 10, 0))
    truth = pd.DataFrame(rows, columns=["dt", "unit_id", "measure", "hour", "persons",
                                        "planted"])
    measured = truth.drop(columns="planted").rename(columns={"persons": "raw_count"})
    crowd = (measured["dt"] == "2026-06-09") & (measured["unit_id"] == "A") & (
        measured["hour"].between(14, 16)) & (measured["measure"] == "exposed")
    measured.loc[crowd, "raw_count"] = [46, 44, 45]  # 50 true: -8 %, -12 %, -10 %
    r = ev.exposure_errors(measured, truth, night=NIGHT)
    assert r["planted_cells"] == {"2026-06-09/A/14": [46, 50], "2026-06-09/A/15": [44, 50],
                                  "2026-06-09/A/16": [45, 50]}
    assert r["planted_found"] == 3 and r["planted_max_abs_error"] == pytest.approx(0.12)
    assert r["false_crowds"] == 0 and r["false_per_100"] == 0
    assert ev.verdict_planted({"exposure_hazards": r})["hazard_crowd"] is True
    assert ev.scenario_lines({"exposure_hazards": r})[0].startswith(
        "- hazard_crowd: planted 3, found yes (3 of 3); figure 135 vs 150 true (-12.0 % "
        "(worst cell))")
    # a spurious crowd at B on 06-10 (16 where 10 are), and a planted hour far off
    b = (measured["dt"] == "2026-06-10") & (measured["unit_id"] == "B") & (
        measured["hour"] == 12) & (measured["measure"] == "exposed")
    measured.loc[b, "raw_count"] = 16
    measured.loc[crowd, "raw_count"] = [30, 44, 45]
    r = ev.exposure_errors(measured, truth, night=NIGHT)
    assert r["planted_found"] == 2 and r["false_crowds"] == 1
    assert r["false_per_100"] == 25.0  # 1 of 4 point-days
    assert ev.verdict_planted({"exposure_hazards": r})["hazard_crowd"] is False


def ok_input(r):
    return {"home_work": {"home_within_500m": 1, "work_within_500m": 1}, "classes": {},
            "exposure_hazards": r, "population": {lv: {"units": 1, "max_abs_error": 0}
                                                  for lv in ("county", "township")}}


# --------------------------------------------------------------------------------------
# integration: the job on the synthetic city (run by the chain after the month's jobs)


@pytest.fixture(scope="module")
def city_exposure(spark, chain):
    """The days the chain ran exposure_hazards for (its results, never all 14 assumed),
    the published rows of those days, the same counts recomputed without suppression
    (mobsig evaluate's path) and the truth of those days."""
    from mobsig.io.catalog import Catalog
    from mobsig.tools.evaluate import unsuppressed_exposure
    from tests.factories import MONTH

    res, cfg, runs = chain
    days = sorted(dt.date.fromisoformat(label[3:]) for job, label in runs.results
                  if job == "exposure_hazards")
    assert days, "the chain ran exposure_hazards on no day"
    published = Catalog(spark, cfg.warehouse).read("exposure_hazards").toPandas()
    published = published[published["dt"].isin(days)]
    raw = unsuppressed_exposure(spark, cfg, MONTH, days).toPandas()
    truth = pd.read_csv(res.out / "truth/exposure_hazards.csv", dtype={"unit_id": str})
    truth = truth[truth["dt"].isin([d.isoformat() for d in days])]
    return res, cfg, runs, days, published, raw, truth


def test_city_exposure_matches_truth(city_exposure):
    """Day and night maxima of exposed, residents and visitors per point and day within
    the evaluation's target of the true sample persons (where >= 5 are exposed); the
    empty-land point has (almost) nobody; the dense-residential point has residents at
    night; the park point (its own 1,500 m buffer) fills by day."""
    _, cfg, _, days, _, raw, truth = city_exposure
    night = hazards.night_hours(cfg.screen.hazard_night_start_hour,
                                cfg.screen.hazard_night_end_hour)
    err = ev.exposure_errors(raw, truth, night)
    assert err["pairs"] >= 3 * len(days), err
    assert err["max_abs_error"] <= ev.TARGETS["exposure_maxima_max_abs_error"], err["errors"]
    assert err["hourly_abs_error"] <= 0.25, err
    mx = {k: v for k, v in err["maxima"].items()}

    def peak(unit, measure, period):
        return [mx.get(f"{d}/{unit}/{measure}/{period}", [0, 0]) for d in days]

    assert all(m <= 1 and t == 0 for m, t in peak("Z-HAZ-04", "exposed", "day_max")), mx
    assert all(m > 0 for m, _ in peak("Z-HAZ-02", "residents", "night_max"))
    park_day = [m for m, _ in peak("Z-HAZ-05", "exposed", "day_max")]
    park_night = [m for m, _ in peak("Z-HAZ-05", "exposed", "night_max")]
    assert max(park_day) >= 5 and sum(park_day) > sum(park_night)


def test_city_planted_crowd_is_measured_within_15_percent(city_exposure):
    """The generator plants a crowd at synth.hazard_crowd_point for the hours
    synth.hazard_crowd_hours of the Saturday (conftest INDICATOR_DAYS): each of those
    hours' exposed persons within ±15 % of the truth, no false crowd elsewhere, the
    scenario line of the evaluation says so."""
    _, cfg, _, days, _, raw, truth = city_exposure
    sc = cfg.synth
    night = hazards.night_hours(cfg.screen.hazard_night_start_hour,
                                cfg.screen.hazard_night_end_hour)
    err = ev.exposure_errors(raw, truth, night)
    day = sc.start_date + dt.timedelta(days=sc.hazard_crowd_day)
    assert day in days
    want = {f"{day}/{sc.hazard_crowd_point}/{h}" for h in range(*sc.hazard_crowd_hours)}
    assert set(err["planted_cells"]) == want, err["planted_cells"]
    assert all(t >= sc.hazard_crowd for _, t in err["planted_cells"].values())
    assert err["planted_found"] == len(want), err["planted_cells"]
    assert err["planted_max_abs_error"] <= ev.PLANTED_MAX_ABS_ERROR, err["planted_cells"]
    assert err["false_per_100"] <= 1.0, err
    assert ev.verdict_planted({"exposure_hazards": err})["hazard_crowd"] is True
    (line,) = ev.scenario_lines({"exposure_hazards": err})
    assert line.startswith(f"- hazard_crowd: planted {len(want)}, found yes"), line


def test_city_job_publishes_the_recomputation_suppressed(city_exposure):
    """Per day that ran: every point x group x (24 hours + 2 maxima), the override
    buffer kept; published hourly cells are the recomputation's; nothing in 1..k-1 is
    published; a published maximum is a published hour of its period; the CSV export
    follows the publication rule."""
    from mobsig.io.exports import export_day_paths
    from tests.factories import assert_published

    _, cfg, runs, days, published, raw, _ = city_exposure
    k = cfg.privacy.k_min
    assert set(published["unit_id"]) == {f"Z-HAZ-0{i}" for i in range(1, 6)}
    assert published.groupby("dt").size().eq(5 * 3 * 26).all()
    assert (published.loc[published["unit_id"] == "Z-HAZ-05", "buffer_m"] == 1500).all()
    for d in days:
        r = runs.of("exposure_hazards", day=d)
        assert r.facts["hazard_points"] == 5
        assert r.output_rows["exposure_hazards"] == (published["dt"] == d).sum()
    hours = published[published["statistic"] == "hour"]
    key = ["dt", "unit_id", "measure", "hour"]
    m = hours.assign(dt=hours["dt"].astype(str), hour=hours["hour"].astype(int)).merge(
        raw.rename(columns={"key_date": "dt"}).assign(
            dt=lambda x: x["dt"].astype(str), hour=lambda x: x["hour"].astype(int)),
        on=key, how="left", suffixes=("", "_raw"))
    m["raw_count_raw"] = m["raw_count_raw"].fillna(0)
    shown = m[~m["is_suppressed"]]
    assert (shown["raw_count"] == shown["raw_count_raw"]).all()
    assert m.loc[m["is_suppressed"], "raw_count_raw"].gt(0).all()  # hidden cells hold cards
    shown_raw = published.loc[~published["is_suppressed"], "raw_count"]
    assert ((shown_raw == 0) | (shown_raw >= k)).all()
    assert published["is_suppressed"].any()  # the test city's buffers hold few cards
    for _, day in published.groupby("dt"):
        assert _recoverable(day) == []
    csv = pd.read_csv(export_day_paths(cfg.warehouse, days[0], "exposure_hazards")["csv"],
                      encoding="utf-8-sig", dtype={"unit_id": str})
    assert len(csv) == 5 * 3 * 26 and "raw_count" not in csv.columns
    assert_published(csv, cfg.warehouse)


def test_city_rerun_of_one_day_is_identical(spark, city_exposure):
    from mobsig.io.catalog import Catalog
    from mobsig.runner import run

    _, cfg, _, days, _, _, _ = city_exposure
    catalog = Catalog(spark, cfg.warehouse)
    d = days[len(days) // 2]
    cols = ["level", "unit_id", "measure", "statistic", "hour"]

    def day():
        return (catalog.read("exposure_hazards", dt=d).toPandas().sort_values(cols)
                .reset_index(drop=True))

    before = day()
    run(spark, cfg, "exposure_hazards", day=d, export=False)
    pd.testing.assert_frame_equal(before, day())
