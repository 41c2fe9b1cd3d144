"""Nature-reserve core-zone screening 自然保护区核心区 (issue 15 item 2): visitors and
residents per zone and day, the baseline from the trailing weeks (workday vs rest day vs
holiday, too few days), the alert (factor and minimum-count rules), suppression that keeps
the alert, the evaluation against truth, and the job on the synthetic city (conftest
``chain``: only the days it ran) against the generator's truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import shapely
from pyspark.sql import functions as F

from mobsig import reserves as rs
from mobsig.config import build_config
from mobsig.errors import ConfigError
from mobsig.io.catalog import Catalog
from mobsig.io.holidays import HolidayCalendar
from mobsig.schema import load_schema
from mobsig.synth import evaluate as ev

IN, OUT = 104.005, 104.5
LAT = 30.61
D = dt.date(2026, 6, 16)  # a Tuesday
# a calendar of its own: 2026-06-19 (Fri) a holiday, 2026-06-06 (Sat) a make-up workday
CAL = HolidayCalendar(holidays=frozenset({dt.date(2026, 6, 19)}),
                      workdays=frozenset({dt.date(2026, 6, 6)}), years=(2026, 2026))


# --------------------------------------------------------------------------------------
# unit: calendar and baseline days


def test_day_class_and_baseline_days():
    assert rs.day_class(CAL, D) == rs.WORKDAY
    assert rs.day_class(CAL, dt.date(2026, 6, 13)) == rs.REST_DAY
    assert rs.day_class(CAL, dt.date(2026, 6, 19)) == rs.HOLIDAY
    assert rs.day_class(CAL, dt.date(2026, 6, 6)) == rs.WORKDAY  # make-up workday
    every = [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(60)]
    # a workday: the workdays of the 4 weeks before, the make-up Saturday included,
    # never a weekend or the holiday
    wd = rs.baseline_days(CAL, dt.date(2026, 6, 22), 4, every)
    assert dt.date(2026, 6, 6) in wd and dt.date(2026, 6, 19) not in wd
    assert all(d.weekday() < 5 or d == dt.date(2026, 6, 6) for d in wd)
    assert len(wd) == 20 - 1 + 1 and min(wd) == dt.date(2026, 5, 25)
    # the holiday: rest days only (weekends, not the make-up Saturday), never a holiday
    hd = rs.baseline_days(CAL, dt.date(2026, 6, 19), 4, every)
    assert all(d.weekday() >= 5 for d in hd) and dt.date(2026, 6, 6) not in hd
    assert len(hd) == 7
    # a rest day after the holiday: rest days, the holiday left out
    rd = rs.baseline_days(CAL, dt.date(2026, 6, 20), 1, every)
    assert rd == [dt.date(2026, 6, 13), dt.date(2026, 6, 14)]
    # only days with data count; the window never holds the day itself
    assert rs.baseline_days(CAL, D, 1, [D, dt.date(2026, 6, 15)]) == [dt.date(2026, 6, 15)]


# --------------------------------------------------------------------------------------
# unit: visits, residents, counts


def _zones(spark):
    rows = [("R1", "核心区一", "reserve_core", None, shapely.box(104.00, 30.60, 104.01, 30.62)),
            ("R2", "核心区二", "reserve_core", None, shapely.box(104.02, 30.60, 104.03, 30.62))]
    df = spark.createDataFrame([(u, n, lv, p, shapely.to_wkt(g)) for u, n, lv, p, g in rows],
                               "unit_id string, unit_name string, level string, "
                               "parent_id string, wkt string")
    return df.select("unit_id", "unit_name", "level", "parent_id",
                     F.expr("ST_SetSRID(ST_GeomFromWKT(wkt), 4490)").alias("geometry"))


def _ts(day: dt.date, h: float) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=h)


def _stays(spark, rows):
    """(user, day, start hour, end hour, lon) -> stays_for_days form (key_date = day)."""
    data = [(u, _ts(d, h0), _ts(d, h1), lon, LAT, d) for u, d, h0, h1, lon in rows]
    return spark.createDataFrame(data, "user_id string, stay_start timestamp_ntz, "
                                       "stay_end timestamp_ntz, lon double, lat double, "
                                       "key_date date")


def _places(spark, month="2026-06"):
    """r: resident living in R1; s: short-term guest with a home point in R1 (no
    resident); a, b, c, x: residents living elsewhere."""
    cards = [("r", "resident", IN), ("s", "short_term", IN), ("a", "resident", OUT),
             ("b", "resident", OUT), ("c", "resident", OUT), ("x", "resident", OUT)]
    rows = [(u, cls, h, LAT, h, LAT, None, None, "C1", "C1", None, month) for u, cls, h in cards]
    return spark.createDataFrame(rows, load_schema("card_places").struct)


def test_visits_residents_and_day_counts(spark):
    """On D: a stays 40 min in R1 (visitor), b 20 min (no), c 15 + 20 min (visitor), r
    (lives there: a resident, never a visitor), s (a guest: a visitor), u (not in
    card_places: not counted); x's stay from 23:30 to 00:30 gives 30 min on D and 30 min
    on D+1 (a visitor on both days: each piece clipped to its day)."""
    zones = _zones(spark)
    nxt = D + dt.timedelta(days=1)
    rows = [("a", D, 9, 9 + 40 / 60, IN), ("b", D, 9, 9 + 20 / 60, IN),
            ("c", D, 9, 9.25, IN), ("c", D, 12, 12 + 20 / 60, IN),
            ("r", D, 8, 18, IN), ("s", D, 10, 12, IN), ("u", D, 10, 12, IN),
            ("a", D, 13, 15, OUT)]
    data = [(u, _ts(d, h0), _ts(d, h1), lon, LAT, d) for u, d, h0, h1, lon in rows]
    data += [("x", _ts(D, 23.5), _ts(nxt, 0.5), IN, LAT, D),
             ("x", _ts(D, 23.5), _ts(nxt, 0.5), IN, LAT, nxt)]
    stays = spark.createDataFrame(data, "user_id string, stay_start timestamp_ntz, "
                                        "stay_end timestamp_ntz, lon double, lat double, "
                                        "key_date date")
    visits = rs.zone_visits(stays, zones, 30 * 60)
    got = {(r.user_id, r.unit_id, r.key_date) for r in visits.collect()}
    assert got == {("a", "R1", D), ("c", "R1", D), ("r", "R1", D), ("s", "R1", D),
                   ("u", "R1", D), ("x", "R1", D), ("x", "R1", nxt)}
    places = _places(spark)
    homes = rs.residents(places, zones)
    assert {(r.user_id, r.unit_id) for r in homes.collect()} == {("r", "R1")}
    counts = rs.day_counts(visits, places, homes, zones, [D, nxt]).toPandas()
    by = counts.set_index(["unit_id", "key_date"])["visitors"].to_dict()
    assert by == {("R1", D): 4, ("R1", nxt): 1, ("R2", D): 0, ("R2", nxt): 0}  # a c s x
    w = places.select("user_id", F.lit(10.0).alias("weight"))
    long = rs.day_long(visits, homes, w, zones, D).toPandas()
    got = {(r.unit_id, r.measure): (r.raw_count, r.expanded_count) for r in long.itertuples()}
    assert got == {("R1", "visitors"): (4, 40.0), ("R1", "residents"): (1, 10.0),
                   ("R2", "visitors"): (0, 0.0), ("R2", "residents"): (0, 0.0)}
    # a day of another month: the cards of that month's card_places only
    other = rs.day_counts(visits, _places(spark, "2026-05"), homes, zones, [D]).toPandas()
    assert other["visitors"].sum() == 0


# --------------------------------------------------------------------------------------
# unit: baseline and alert rules


def _daily(spark, per_day: dict[dt.date, dict[str, int]]):
    rows = [("reserve_core", u, d, n) for d, m in per_day.items() for u, n in m.items()]
    return spark.createDataFrame(rows, "level string, unit_id string, key_date date, "
                                       "visitors bigint")


def _today(spark, visitors: dict[str, int]):
    rows = [("reserve_core", u, n) for u, n in visitors.items()]
    return spark.createDataFrame(rows, "level string, unit_id string, "
                                       "visitors_raw_count bigint")


def _judge(spark, history, today, day_type=rs.WORKDAY, factor=2.0, min_count=20,
           min_days=3):
    days = sorted(history)
    base = rs.baseline(_daily(spark, history), days)
    out = rs.screen(_today(spark, today), base, day_type, factor, min_count, min_days)
    return out.toPandas().set_index("unit_id")


def test_baseline_median_and_alert_rules(spark):
    """Baseline = median of the baseline days. A: 10, 12, 50 -> 12; 30 > 2 x 12 and >= 20:
    an alert. B: baseline 12, 24 is not above 2 x 12 (factor rule). C: baseline 2, 19 >
    2 x 2 but below the minimum count 20 (min-count rule). Z: baseline 0, 25 visitors: an
    alert (anything above nothing)."""
    d = [dt.date(2026, 6, i) for i in (8, 9, 10)]
    hist = {d[0]: {"A": 10, "B": 12, "C": 2, "Z": 0}, d[1]: {"A": 12, "B": 12, "C": 1, "Z": 0},
            d[2]: {"A": 50, "B": 11, "C": 3, "Z": 0}}
    out = _judge(spark, hist, {"A": 30, "B": 24, "C": 19, "Z": 25})
    assert out.loc["A", rs.BASELINE] == 12 and out.loc["A", rs.BASELINE_DAYS] == 3
    assert out.loc["A", rs.BASELINE_FIRST] == d[0] and out.loc["A", rs.BASELINE_LAST] == d[2]
    assert out[rs.IS_ALERT].to_dict() == {"A": True, "B": False, "C": False, "Z": True}
    assert out.loc["A", rs.ALERT_KIND] == rs.ABOVE_BASELINE
    assert pd.isna(out.loc["B", rs.ALERT_KIND]) and out[rs.ALERT_NULL_REASON].isna().all()
    assert (out[rs.BASELINE_TYPE] == rs.WORKDAY).all()
    # a lower factor and minimum: B and C alert too
    low = _judge(spark, hist, {"A": 30, "B": 24, "C": 19, "Z": 25}, factor=1.5, min_count=5)
    assert low[rs.IS_ALERT].all()


def test_holiday_peak_and_too_few_baseline_days(spark):
    d = [dt.date(2026, 6, 13), dt.date(2026, 6, 14)]
    hist = {d[0]: {"A": 5}, d[1]: {"A": 7}}
    # a holiday is judged against rest days: its alert is a holiday peak
    out = _judge(spark, hist, {"A": 40}, rs.HOLIDAY, min_days=2)
    assert bool(out.loc["A", rs.IS_ALERT]) and out.loc["A", rs.ALERT_KIND] == rs.HOLIDAY_PEAK
    assert out.loc["A", rs.BASELINE_TYPE] == rs.REST_DAY
    # with 3 baseline days needed, 2 are too few: no alert judged, the reason says why
    few = _judge(spark, hist, {"A": 40}, rs.HOLIDAY, min_days=3)
    assert pd.isna(few.loc["A", rs.IS_ALERT]) and pd.isna(few.loc["A", rs.ALERT_KIND])
    assert few.loc["A", rs.ALERT_NULL_REASON] == rs.TOO_FEW_DAYS
    assert few.loc["A", rs.BASELINE_DAYS] == 2
    # no baseline day at all
    none = rs.screen(_today(spark, {"A": 40}), rs.baseline(_daily(spark, hist), []),
                     rs.REST_DAY, 2.0, 20, 1).toPandas().iloc[0]
    assert none[rs.BASELINE_DAYS] == 0 and pd.isna(none[rs.BASELINE])
    assert none[rs.ALERT_NULL_REASON] == rs.TOO_FEW_DAYS


def test_publish_withholds_counts_but_keeps_the_alert(spark):
    """k = 5: R1's 4 visitors and 1 resident are withheld, R2's zeros go with them
    (complementary); the alert (min count 3, baseline 1) is published; a baseline below
    k is withheld too."""
    zones = _zones(spark)
    long = spark.createDataFrame(
        [("reserve_core", "R1", "核心区一", None, "visitors", 4, 40.0),
         ("reserve_core", "R1", "核心区一", None, "residents", 1, 10.0),
         ("reserve_core", "R2", "核心区二", None, "visitors", 0, 0.0),
         ("reserve_core", "R2", "核心区二", None, "residents", 0, 0.0)],
        "level string, unit_id string, unit_name string, parent_id string, measure string, "
        "raw_count bigint, expanded_count double")
    hist = {dt.date(2026, 6, i): {"R1": 1, "R2": 0} for i in (8, 9, 10)}
    base = rs.baseline(_daily(spark, hist), sorted(hist))
    pub = rs.publish(long, base, rs.WORKDAY, 5, True, False, 2.0, 3, 3).toPandas()
    assert set(pub.columns) == {f.name for f in load_schema("screen_reserves").struct
                                if f.name != "dt"}
    assert zones.count() == 2
    r1 = pub.set_index("unit_id").loc["R1"]
    assert r1["is_visitors_suppressed"] and pd.isna(r1["visitors_raw_count"])
    assert r1["is_residents_suppressed"] and pd.isna(r1["residents_expanded_count"])
    assert bool(r1[rs.IS_ALERT]) and r1[rs.ALERT_KIND] == rs.ABOVE_BASELINE
    assert r1[rs.IS_BASELINE_SUPPRESSED] and pd.isna(r1[rs.BASELINE])
    r2 = pub.set_index("unit_id").loc["R2"]
    assert r2["is_visitors_suppressed"] and not bool(r2[rs.IS_ALERT])
    assert not r2[rs.IS_BASELINE_SUPPRESSED] and r2[rs.BASELINE] == 0  # a zero stays


def test_suppression_entry_says_the_alert_is_published_without_a_count():
    from mobsig.io.exports import suppression

    sup = suppression("screen_reserves", build_config({}).privacy)
    assert "is_alert" in sup["published_without_count"]
    assert {"is_visitors_suppressed", "is_residents_suppressed",
            "is_baseline_suppressed"} <= set(sup["flag_columns"])


def test_reserve_config_is_validated():
    sc = build_config({}).screen
    assert (sc.reserve_baseline_weeks, sc.reserve_alert_factor, sc.reserve_alert_min_count,
            sc.reserve_min_baseline_days, sc.reserve_visit_min_min) == (4, 2.0, 20, 3, 30.0)
    with pytest.raises(ConfigError, match="reserve_alert_factor"):
        build_config({"screen": {"reserve_alert_factor": 1.0}})
    with pytest.raises(ConfigError, match="reserve_baseline_weeks"):
        build_config({"screen": {"reserve_baseline_weeks": 0}})
    with pytest.raises(ConfigError, match="not a unit layer"):
        build_config({"screen": {"reserve_layers": ["grid"]}})
    assert rs.window(D, 1)[0] == D - dt.timedelta(days=7) and D not in rs.window(D, 1)


def test_reserve_errors_against_truth():
    truth = pd.DataFrame({"dt": ["2026-06-08", "2026-06-09"], "unit_id": ["R", "R"],
                          "visitors": [10, 4], "residents": [2, 2]})
    table = pd.DataFrame({"dt": ["2026-06-08", "2026-06-09"], "unit_id": ["R", "R"],
                          "visitors_raw_count": [9, 4], "residents_raw_count": [2, 3]})
    err = ev.reserve_errors(table, truth)
    assert err["zone_days"] == 2 and err["visitors_measured"] == 13
    assert err["visitors_true"] == 14
    assert err["visitors_rel_error"] == pytest.approx(-1 / 14)
    assert err["max_abs_visitors_error"] == 1 and err["max_abs_residents_error"] == 1
    assert err["planted_zone_days"] == [] and err["planted_found"] is None


def test_reserve_errors_of_a_planted_day_and_the_scenario_line():
    """Intruders planted on 06-09 in R (truth column ``planted``): found when the job
    alerted that zone-day; an alert on a zone-day without a plant is a false suspect."""
    truth = pd.DataFrame({"dt": ["2026-06-08", "2026-06-09", "2026-06-09"],
                          "unit_id": ["R", "R", "S"], "visitors": [3, 33, 2],
                          "residents": [0, 0, 0], "planted": [0, 30, 0]})
    table = pd.DataFrame({"dt": ["2026-06-08", "2026-06-09", "2026-06-09"],
                          "unit_id": ["R", "R", "S"], "visitors_raw_count": [3, 30, 2],
                          "residents_raw_count": [0, 0, 0]})
    alerts = pd.DataFrame({"dt": ["2026-06-08", "2026-06-09", "2026-06-09"],
                           "unit_id": ["R", "R", "S"], "is_alert": [None, True, False]})
    err = ev.reserve_errors(table, truth, alerts)
    assert err["planted_zone_days"] == ["R 2026-06-09"]
    assert err["planted_visitors"] == [30, 33]
    assert err["planted_rel_error"] == pytest.approx(-3 / 33)
    assert err["planted_found"] == 1 and err["false_alerts"] == 0
    assert err["false_per_100"] == 0 and err["judged_zone_days"] == 2
    res = {"screen_reserves": err}
    assert ev.scenarios(res)["reserve_intruders"]["found"] == 1
    assert ev.verdict_planted(res)["reserve_intruders"] is True
    (line,) = ev.scenario_lines(res)
    assert line.startswith("- reserve_intruders: planted 1, found yes (1 of 1); figure 30 vs "
                           "33 true (-9.1 %); false suspects per 100 zones 0")
    # no alert on the planted day, and one on a day without a plant
    alerts["is_alert"] = [True, False, False]
    err = ev.reserve_errors(table, truth, alerts)
    assert err["planted_found"] == 0 and err["false_alerts"] == 1
    assert err["false_per_100"] == pytest.approx(100 / 3, abs=0.01)
    res = {"screen_reserves": err}
    assert ev.verdict_planted(res)["reserve_intruders"] is False
    assert "found no (0 of 1)" in ev.scenario_lines(res)[0]


def test_reserve_truth_takes_a_persons_primary_card():
    """The truth's visitors are persons, their stays the primary card's: a two-card
    person's 20-minute visit, seen by both cards, is not 40 minutes; 35 minutes are a
    visit; a true resident living inside is a resident, not a visitor."""
    from mobsig.synth.city import build_city
    from mobsig.synth.screens import RESERVE_LEVEL, reserve_truth

    city = build_city(7, 104.06, 30.66, dt.date(2026, 6, 8), 3)
    zones = city.zones[city.zones["level"] == RESERVE_LEVEL].reset_index(drop=True)
    c = zones["geometry"].iloc[0].representative_point()
    lon, lat = (float(v[0]) for v in city.to_lonlat(np.array([c.x]),
                                                     np.array([c.y])))
    persons = pd.DataFrame({"person_id": [1, 2, 3], "in_sample": True,
                            "kind": ["day_visitor", "day_visitor", "resident_nonworker"],
                            "pop_class": ["visitor", "visitor", "resident"],
                            "home_x": [9e4, 9e4, c.x], "home_y": [9e4, 9e4, c.y]})
    cards = pd.DataFrame({"user_id": ["a", "a2", "b", "c"], "person_id": [1, 1, 2, 3],
                          "is_human": True,
                          "card_kind": ["primary", "secondary", "primary", "primary"]})
    ts = pd.Timestamp
    stays = pd.DataFrame([
        ("a", ts("2026-06-08 10:00"), ts("2026-06-08 10:20"), lon, lat),
        ("a2", ts("2026-06-08 10:00"), ts("2026-06-08 10:20"), lon, lat),  # same visit
        ("b", ts("2026-06-08 11:00"), ts("2026-06-08 11:35"), lon, lat),
        ("c", ts("2026-06-08 11:00"), ts("2026-06-08 15:00"), lon, lat)],
        columns=["user_id", "stay_start", "stay_end", "lon", "lat"])
    days = [dt.date(2026, 6, 8), dt.date(2026, 6, 9)]
    t = reserve_truth(city, zones, persons, cards, stays, days, 30).set_index("dt")
    assert t.loc["2026-06-08", ["visitors", "residents", "visitors_any"]].tolist() == [1, 1, 1]
    assert t.loc["2026-06-09", "visitors"] == 0


def test_planted_intruders_spot_keeps_the_group_on_its_side_of_the_county_line():
    """The intruders' spot (mobsig.synth.plants._spot) on the test city's geography:
    Z-RSV-01 straddles a county line where the sites of both counties meet. Members drawn
    around the spot as the generator draws them are all in the zone's county, the nearest
    site's cell serves nearly all of them, and the cells of their two nearest sites report
    them (service points) inside the zone and that county (measured: 99.7 %, 98.9 %, one
    cell for 98 %); at cf29493's spot (a three-site junction) the nearest site's cell
    reported 10.5 % outside and 28 % had another cell than the most common."""
    import numpy as np

    from mobsig.synth import plants
    from mobsig.synth.city import build_city
    from tests.conftest import CITY_DAYS, CITY_START

    city = build_city(20260601, 104.06, 30.66, CITY_START, CITY_DAYS, satellite=True)
    zone = city.zones.loc[city.zones["unit_id"] == plants.RESERVE_ZONE, "geometry"].iloc[0]
    day = 3
    spot = plants._spot(city, zone, CITY_START, day)
    county = city.unit_of(np.array([spot.x]), np.array([spot.y]), "county")[0]
    assert county == city.unit_of(np.array([zone.centroid.x]), np.array([zone.centroid.y]),
                                  "county")[0]

    def shares(x: float, y: float) -> tuple[float, float, float]:
        rng = np.random.default_rng(7)
        xy = np.array([x, y]) + rng.normal(0, plants.GROUP_SD_M, (2000, 2))
        assert (city.unit_of(xy[:, 0], xy[:, 1], "county") == county).all()
        inside = []
        for rank in (0, 1):
            sx, sy = plants._reported(city, CITY_START, day, xy[:, 0], xy[:, 1], rank)
            inside.append(float(np.mean(shapely.contains_xy(zone, sx, sy)
                                         & (city.unit_of(sx, sy, "county") == county))))
            if rank == 0:
                cells = pd.Series(list(zip(sx, sy, strict=True)))
                one = float(cells.value_counts(normalize=True).iloc[0])
        return inside[0], inside[1], one

    rank0, rank1, one_cell = shares(spot.x, spot.y)
    assert rank0 >= 0.99 and rank1 >= 0.98 and one_cell >= 0.95, (rank0, rank1, one_cell)
    old0, _, old_one = shares(14_050.0, 9_000.0)  # cf29493's spot
    assert old0 < 0.9 and old_one < 0.8, (old0, old_one)


# --------------------------------------------------------------------------------------
# integration: the job on the synthetic city (the days the chain ran)


@pytest.fixture(scope="module")
def screened(spark, chain):
    from mobsig.tools.evaluate import unsuppressed_reserves

    res, cfg, runs = chain
    days = sorted(dt.date.fromisoformat(label[3:]) for job, label in runs.results
                  if job == "screen_reserves")
    raw = unsuppressed_reserves(spark, cfg, days).toPandas()
    published = Catalog(spark, cfg.warehouse).read("screen_reserves").toPandas()
    truth = pd.read_csv(res.out / "truth/screen_reserves.csv", dtype={"unit_id": str})
    return cfg, runs, days, raw, published, truth


def test_city_visitors_and_residents_against_truth(screened):
    """The reserve core holds the scenic spot: its visitors per day (distinct cards) are
    near the true visitors (persons whose records inside span >= 30 min) over the days
    that ran; residents none; a day without enough baseline days judges no alert."""
    cfg, runs, days, raw, published, truth = screened
    assert days, "the chain ran no screen_reserves day"
    truth = truth[truth["dt"].isin([d.isoformat() for d in days])]
    err = ev.reserve_errors(raw, truth, published[["dt", "unit_id", "is_alert"]])
    assert err["zone_days"] == len(days) * truth["unit_id"].nunique()
    assert err["max_abs_visitors_error"] <= 3, err
    assert abs(err["visitors_rel_error"]) <= 0.15, err
    assert err["max_abs_residents_error"] == 0, err
    # the true stays' count (visitors_any) holds visits no record rule can see
    assert (truth["visitors_any"] >= truth["visitors"]).all()
    assert len(published) == len(raw) and set(published["dt"]) == set(days)
    for d in days:
        r = runs.of("screen_reserves", day=d)
        assert r.facts["layers"] == "reserve_core"
        row = published[published["dt"] == d].iloc[0]
        assert row["baseline_days"] == r.facts["baseline_days"]
        assert row["day_type"] == r.facts["day_type"]
        if row["baseline_days"] < cfg.screen.reserve_min_baseline_days:
            assert pd.isna(row["is_alert"]) and row["alert_null_reason"] == rs.TOO_FEW_DAYS
        else:
            assert row["is_alert"] in (True, False)
    # holidays (端午节 2026-06-19..21) are judged against rest days only
    assert (published.loc[published["day_type"] == rs.HOLIDAY, "baseline_type"]
            == rs.REST_DAY).all()
    k = cfg.privacy.k_min
    for m in rs.MEASURES:
        shown = published.loc[~published[f"is_{m}_suppressed"].astype(bool), f"{m}_raw_count"]
        assert ((shown == 0) | (shown >= k)).all(), m


def test_city_planted_intruders_raise_the_alert(screened):
    """The generator plants a group of intruders in Z-RSV-01 on the first workday with
    three baseline workdays (synth.reserve_intruder_days; conftest INDICATOR_DAYS): the
    job alerts that zone-day (above the baseline) and no other; the day's visitors
    within ±15 % of the truth; the evaluation's scenario line says so."""
    cfg, runs, days, raw, published, truth = screened
    truth = truth[truth["dt"].isin([d.isoformat() for d in days])]
    planted = truth[truth["planted"] > 0]
    assert len(planted) == 1 and planted["planted"].iloc[0] == cfg.synth.reserve_intruders
    day = dt.date.fromisoformat(planted["dt"].iloc[0])
    row = published[(published["dt"] == day) & (published["unit_id"] == "Z-RSV-01")].iloc[0]
    assert pd.notna(row["is_alert"]) and bool(row["is_alert"]), row.to_dict()
    assert row["alert_kind"] == rs.ABOVE_BASELINE and row["baseline_days"] >= 3
    others = published[published["dt"] != day]
    assert not others["is_alert"].astype("boolean").fillna(False).any()
    err = ev.reserve_errors(raw, truth, published[["dt", "unit_id", "is_alert"]])
    assert err["planted_found"] == 1 and err["false_alerts"] == 0, err
    assert abs(err["planted_rel_error"]) <= ev.PLANTED_MAX_ABS_ERROR, err
    assert ev.verdict_planted({"screen_reserves": err})["reserve_intruders"] is True
    (line,) = ev.scenario_lines({"screen_reserves": err})
    assert line.startswith("- reserve_intruders: planted 1, found yes (1 of 1); figure ")
    assert line.endswith("false suspects per 100 zones 0.0"), line


def test_city_export_and_rerun_of_one_day_is_identical(spark, screened):
    from mobsig.io.exports import export_day_paths
    from mobsig.runner import run
    from tests.factories import assert_published

    cfg, _, days, _, published, _ = screened
    day = days[-1]
    csv = pd.read_csv(export_day_paths(cfg.warehouse, day, "screen_reserves")["csv"],
                      encoding="utf-8-sig", dtype={"unit_id": str})
    assert len(csv) == (published["dt"] == day).sum()
    assert not [c for c in csv.columns if c.endswith("raw_count")]  # baseline included
    assert "is_alert" in csv.columns and "alert_kind" in csv.columns
    assert_published(csv, cfg.warehouse)
    catalog = Catalog(spark, cfg.warehouse)
    before = catalog.read("screen_reserves", dt=day).toPandas().sort_values("unit_id")
    run(spark, cfg, "screen_reserves", day=day, export=False)
    after = catalog.read("screen_reserves", dt=day).toPandas().sort_values("unit_id")
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))
