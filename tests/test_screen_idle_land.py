"""Idle-land screening 疑似闲置土地 (issue 15 item 4): supplied parcels with their supply and
agreed start dates, who stayed or worked inside in a month, near-zero months and their
12-month persistence (hand-built months: runs, not-due months, gaps, unobserved months,
re-runs), suppression that keeps the suspect flag, the evaluation against truth, and the
job on the synthetic city (conftest ``chain``, one month) against the generator's truth."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import shapely
from pyspark.sql import functions as F

from mobsig import idle_land as il
from mobsig.config import build_config
from mobsig.errors import ConfigError
from mobsig.io.catalog import Catalog
from mobsig.population import user_weights
from mobsig.schema import load_schema
from mobsig.synth import evaluate as ev
from tests.factories import MONTH, assert_published

P1, P2, OUT = 104.005, 104.015, 104.5
LAT = 30.61


# --------------------------------------------------------------------------------------
# unit: hand-built parcels, cards and stays


def _units(spark):
    """P1 due (start 2025-01-10), P2 due on the month's first day, P3 not yet due, P4
    without a readable start date."""
    rows = [("P1", {"supply_date": "2024-06-01", "start_date": "2025-01-10"},
             shapely.box(104.00, 30.60, 104.01, 30.62)),
            ("P2", {"supply_date": "2025-12-01", "start_date": "2026-06-01"},
             shapely.box(104.01, 30.60, 104.02, 30.62)),
            ("P3", {"supply_date": "2026-01-01", "start_date": "2026-06-02"},
             shapely.box(104.03, 30.60, 104.04, 30.62)),
            ("P4", {"start_date": "soon"}, shapely.box(104.05, 30.60, 104.06, 30.62))]
    df = spark.createDataFrame(
        [(u, f"地块{u}", "supplied_parcel", None, json.dumps(a), shapely.to_wkb(g))
         for u, a, g in rows],
        "unit_id string, unit_name string, level string, parent_id string, "
        "attributes string, geometry_wkb binary")
    return df


def _zones(spark):
    return il.parcels(_units(spark), ["supplied_parcel"], "start_date", "supply_date", MONTH)


def test_parcels_dates_and_due(spark):
    z = _zones(spark).drop("geometry").toPandas().set_index("unit_id")
    assert z["is_due"].to_dict() == {"P1": True, "P2": True, "P3": False, "P4": False}
    assert z.loc["P1", "supply_date"] == dt.date(2024, 6, 1)
    assert z.loc["P2", "start_date"] == dt.date(2026, 6, 1)
    assert pd.isna(z.loc["P4", "start_date"]) and pd.isna(z.loc["P4", "supply_date"])


def _ts(day: int, h: float) -> dt.datetime:
    return dt.datetime(2026, 6, day) + dt.timedelta(hours=h)


def _counts(spark):
    """a: a stay in P1 in June; b: works in P1; c: a stay in P1 that ended in May (not
    counted); d: a stay in P2 in June but not in card_places; e: elsewhere."""
    cards = [("a", None), ("b", P1), ("c", None), ("e", None)]
    places = spark.createDataFrame(
        [(u, "resident", OUT, LAT, OUT, LAT, w, LAT if w else None, "C1", "C1", None,
          "2026-06") for u, w in cards], load_schema("card_places").struct)
    stays = spark.createDataFrame(
        [("a", _ts(3, 9), _ts(3, 10), P1, LAT), ("c", dt.datetime(2026, 5, 30, 9),
                                                  dt.datetime(2026, 5, 30, 10), P1, LAT),
         ("d", _ts(4, 9), _ts(4, 10), P2, LAT), ("e", _ts(4, 9), _ts(4, 10), OUT, LAT)],
        "user_id string, stay_start timestamp_ntz, stay_end timestamp_ntz, lon double, "
        "lat double")
    factors = spark.createDataFrame([("C1", "东区", 4, 40, 10.0, "2026-06")],
                                    load_schema("expansion_factors").struct)
    zones = _zones(spark)
    return il.month_counts(il.members(places, stays, zones, MONTH, dt.date(2026, 7, 1)),
                           user_weights(places, factors), zones)


def test_members_counts_and_publish(spark):
    counts = _counts(spark)
    counts = spark.createDataFrame(counts.toPandas(), counts.schema)  # computed once
    got = {(r.unit_id, r.measure): (r.raw_count, r.expanded_count)
           for r in counts.toPandas().itertuples() if r.raw_count}
    assert got == {("P1", "stayers"): (1, 10.0), ("P1", "workers"): (1, 10.0),
                   ("P1", "active"): (2, 20.0)}
    # k = 3, near zero = at most 1 card: P1 (2 active) is not near zero, P2 (0) is, P3
    # and P4 are not due; P2's row is not observed when it has no cell site
    pub = il.publish(counts, None, None, "2026-06", 3, True, False, 1, 12).toPandas()
    assert set(pub.columns) == {f.name for f in load_schema("screen_idle_land").struct
                                if f.name != "month"}
    p = pub.set_index("unit_id")
    assert p["is_near_zero"].to_dict() == {"P1": False, "P2": True, "P3": False, "P4": False}
    assert p["run_months"].to_dict() == {"P1": 0, "P2": 1, "P3": 0, "P4": 0}
    assert p.loc["P2", "run_start_month"] == "2026-06" and not p["is_suspect"].any()
    assert p.loc["P1", "is_stayers_suppressed"] and pd.isna(p.loc["P1", "stayers_raw_count"])
    # P1's lone small count never stands alone: a zero goes with it (complementary), so
    # the layer's published counts do not give it back by subtraction
    for m in il.MEASURES:
        assert p[f"is_{m}_suppressed"].sum() >= 2, m
    assert p["null_reason"].isna().all()
    # with a max of 2 cards P1 is near zero as well; with a 1-month run both are suspects
    two = il.publish(counts, None, None, "2026-06", 3, True, False, 2, 1).toPandas()
    assert set(two.loc[two["is_suspect"], "unit_id"]) == {"P1", "P2"}
    gone = spark.createDataFrame([("supplied_parcel", "P2")], "level string, unit_id string")
    unobs = il.publish(counts, None, gone, "2026-06", 3, True, False, 1, 12).toPandas()
    u = unobs.set_index("unit_id").loc["P2"]
    assert u["null_reason"] == il.NO_COVERAGE and pd.isna(u["is_near_zero"])
    assert u["run_months"] == 0 and pd.isna(u["stayers_raw_count"])


def _month_rows(spark, near: dict[str, bool | None], due: bool = True):
    rows = [("supplied_parcel", u, due if n is not None else True, n) for u, n in near.items()]
    return spark.createDataFrame(rows, "level string, unit_id string, is_due boolean, "
                                       "is_near_zero boolean")


def _screen(spark, months: dict[str, dict[str, bool | None]], min_months: int = 12):
    """:func:`idle_land.with_history` month by month as the job runs (each month reads the
    stored rows of the months before it); every month's rows."""
    stored = None
    for key in sorted(months):
        out = il.with_history(_month_rows(spark, months[key]), stored, key, min_months)
        out = out.withColumn("month", F.lit(key))
        stored = out if stored is None else stored.unionByName(out)
        stored = spark.createDataFrame(stored.toPandas(), stored.schema)  # as if stored
    return stored.toPandas().set_index(["month", "unit_id"]).sort_index()


def _months(start: str, n: int) -> list[str]:
    y, m = int(start[:4]), int(start[5:])
    out = []
    for _ in range(n):
        out.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def test_twelve_month_persistence_runs_gaps_and_unobserved_months(spark):
    """I1 near zero every month 2025-01..2026-01: a suspect from 2025-12 (the 12th month),
    the run started 2025-01. I2 active in 2025-06: its run restarts 2025-07 and is 7
    months long in 2026-01. I3 near zero but one month unobserved (no_coverage, null):
    the run breaks there. I4 near zero with 2025-09 missing (a gap) breaks too."""
    keys = _months("2025-01", 13)
    months = {k: {"I1": True, "I2": k != "2025-06", "I3": None if k == "2025-04" else True,
                  "I4": True} for k in keys}
    s = _screen(spark, {k: v for k, v in months.items() if k != "2025-09"
                        } | {"2025-09": {"I1": True, "I2": True, "I3": True}})
    assert s.loc[("2025-11", "I1"), "run_months"] == 11
    assert not s.loc[("2025-11", "I1"), "is_suspect"]
    r = s.loc[("2025-12", "I1")]
    assert r["run_months"] == 12 and r["is_suspect"] and r["run_start_month"] == "2025-01"
    assert s.loc[("2026-01", "I1"), "first_near_zero_month"] == "2025-01"
    assert s.loc[("2026-01", "I1"), "last_near_zero_month"] == "2026-01"
    i2 = s.loc[("2026-01", "I2")]
    assert (i2["run_months"], i2["run_start_month"], bool(i2["is_suspect"])) == (
        7, "2025-07", False)
    assert s.loc[("2025-06", "I2"), "run_months"] == 0
    i3 = s.loc[("2026-01", "I3")]
    assert (i3["run_months"], i3["run_start_month"]) == (9, "2025-05")
    assert s.loc[("2025-04", "I3"), "run_months"] == 0
    i4 = s.loc[("2026-01", "I4")]  # no 2025-09 row for I4: a gap
    assert (i4["run_months"], i4["run_start_month"]) == (4, "2025-10")
    # re-running 2025-12 with every month stored (later ones included) gives its rows
    # again: the run counts back only; with a 6-month threshold I2 is a suspect in 2026-01
    stored = spark.createDataFrame(s.reset_index())
    again = il.with_history(_month_rows(spark, months["2025-12"]), stored, "2025-12",
                            12).toPandas().set_index("unit_id")
    for u in ("I1", "I2", "I3"):
        for c in ("run_months", "run_start_month", "is_suspect", "first_near_zero_month"):
            assert again.loc[u, c] == s.loc[("2025-12", u), c], (u, c)
    low = il.with_history(_month_rows(spark, months["2026-01"]), stored.where(
        F.col("month") < "2026-01"), "2026-01", 6).toPandas().set_index("unit_id")
    assert bool(low.loc["I2", "is_suspect"]) and not bool(low.loc["I4", "is_suspect"])


def test_idle_config_is_validated():
    sc = build_config({}).screen
    assert (sc.idle_min_months, sc.idle_max_persons, sc.idle_land_layers) == (
        12, 2, ("supplied_parcel",))
    with pytest.raises(ConfigError, match="idle_min_months"):
        build_config({"screen": {"idle_min_months": 0}})
    with pytest.raises(ConfigError, match="idle_start_attribute"):
        build_config({"screen": {"idle_start_attribute": "start date"}})
    with pytest.raises(ConfigError, match="not a unit layer"):
        build_config({"screen": {"idle_land_layers": ["grid"]}})


def test_idle_land_errors_against_truth():
    truth = pd.DataFrame({"unit_id": ["A", "B", "C"], "is_due": [True, True, False],
                          "is_near_zero": [True, False, False]})
    table = pd.DataFrame({"unit_id": ["A", "B", "C"], "is_due": [True, True, False],
                          "is_near_zero": [True, True, False]})
    err = ev.idle_land_errors(table, truth)
    assert (err["near_zero_true"], err["near_zero_found"]) == (1, 1)
    assert err["false_per_100"] == pytest.approx(33.33) and err["due_agree"]
    table["is_near_zero"] = table["is_near_zero"].astype(object)
    table.loc[0, "is_near_zero"] = None  # not observed: not found
    assert ev.idle_land_errors(table, truth)["near_zero_found"] == 0


# --------------------------------------------------------------------------------------
# integration: the job on the synthetic city (one month)


@pytest.fixture(scope="module")
def screened(spark, chain):
    res, cfg, runs = chain
    published = Catalog(spark, cfg.warehouse).read("screen_idle_land",
                                                   month="2026-06").toPandas()
    truth = pd.read_csv(res.out / "truth/screen_idle_land.csv", dtype={"unit_id": str})
    return cfg, runs.of("screen_idle_land", month=MONTH), published, truth


def test_city_idle_parcels_found_against_truth(screened):
    """The two parcels planted on empty land are near zero, the busy ones and the one not
    yet due are not; one month is no suspect (12 needed); flags published where the counts
    are withheld."""
    cfg, result, published, truth = screened
    assert result.facts["layers"] == "supplied_parcel" and result.facts["suspects"] == 0
    err = ev.idle_land_errors(published, truth)
    assert err["parcels"] == len(published) == 5
    assert err["near_zero_true"] == 2 and err["near_zero_found"] == 2, err
    assert err["false_per_100"] == 0 and err["due_agree"], err
    # the planted figure: nobody stays or works on the idle parcels, as in the truth
    assert err["near_zero_persons"] == [0, 0], err
    p = published.set_index("unit_id")
    assert not p.loc["P-NEW-01", "is_due"] and p.loc["P-NEW-01", "run_months"] == 0
    assert p.loc[["P-IDLE-01", "P-IDLE-02"], "run_start_month"].eq("2026-06").all()
    assert p["null_reason"].isna().all()  # every planted parcel has a cell site
    assert not p["is_suspect"].any()
    k = cfg.privacy.k_min
    for m in il.MEASURES:
        shown = p.loc[~p[f"is_{m}_suppressed"].astype(bool), f"{m}_raw_count"]
        assert ((shown == 0) | (shown >= k)).all(), m


def test_city_export_states_the_flag_rule_and_rerun_is_identical(spark, screened):
    from mobsig.io.exports import export_paths, read_manifest
    from mobsig.runner import run

    cfg, _, published, _ = screened
    paths = export_paths(cfg.warehouse, "2026-06", "screen_idle_land")
    csv = pd.read_csv(paths["csv"], encoding="utf-8-sig", dtype={"unit_id": str})
    assert len(csv) == len(published)
    assert not [c for c in csv.columns if c.endswith("raw_count")]
    assert {"is_near_zero", "is_suspect", "run_start_month"} <= set(csv.columns)
    assert_published(csv, cfg.warehouse)
    sup = read_manifest(paths["manifest"].rsplit("/", 1)[0])["tables"]["screen_idle_land"][
        "suppression"]
    assert "is_suspect" in sup["published_without_count"]
    catalog = Catalog(spark, cfg.warehouse)
    before = catalog.read("screen_idle_land").toPandas().sort_values("unit_id").reset_index(
        drop=True)
    run(spark, cfg, "screen_idle_land", month=MONTH, export=False)
    after = catalog.read("screen_idle_land").toPandas().sort_values("unit_id").reset_index(
        drop=True)
    pd.testing.assert_frame_equal(before, after)
