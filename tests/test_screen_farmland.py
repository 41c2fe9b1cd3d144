"""Farmland screening 永久基本农田 (issue 15 item 1): who lives and works in each farmland
polygon, the persistence of occupation over consecutive months (hand-built months: runs,
gaps, re-runs), suppression that keeps the suspect flag, the evaluation against truth, and
the job on the synthetic city (conftest ``chain``, one month) against the generator's
truth."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely
from pyspark.sql import functions as F

from mobsig import farmland as fm
from mobsig.config import build_config
from mobsig.errors import ConfigError
from mobsig.io.catalog import Catalog
from mobsig.population import user_weights
from mobsig.schema import load_schema
from mobsig.synth import evaluate as ev
from tests.factories import MONTH, assert_published, materialized

F1, F2, OUT = 104.005, 104.015, 104.5
LAT = 30.61


# --------------------------------------------------------------------------------------
# unit: hand-built polygons and cards


def _zones(spark):
    rows = [("F1", "农田一", "farmland", None, shapely.box(104.00, 30.60, 104.01, 30.62)),
            ("F2", "农田二", "farmland", None, shapely.box(104.01, 30.60, 104.02, 30.62))]
    df = spark.createDataFrame([(u, n, lv, p, shapely.to_wkt(g)) for u, n, lv, p, g in rows],
                               "unit_id string, unit_name string, level string, "
                               "parent_id string, wkt string")
    return df.select("unit_id", "unit_name", "level", "parent_id",
                     F.expr("ST_SetSRID(ST_GeomFromWKT(wkt), 4490)").alias("geometry"))


def _places(spark):
    """a: resident living and working in F1; b: resident living in F1; c: short-term
    working in F1; d: short-term guest whose home point is in F1 (not a resident); e:
    resident living elsewhere."""
    cards = [("a", "resident", F1, F1), ("b", "resident", F1, None),
             ("c", "short_term", None, F1), ("d", "short_term", F1, None),
             ("e", "resident", OUT, None)]
    rows = [(u, cls, h, LAT if h else None, h, LAT if h else None, w, LAT if w else None,
             "C1", "C1", None, "2026-06") for u, cls, h, w in cards]
    return spark.createDataFrame(rows, load_schema("card_places").struct)


def _counts(spark):
    places = _places(spark)
    factors = spark.createDataFrame([("C1", "东区", 4, 40, 10.0, "2026-06")],
                                    load_schema("expansion_factors").struct)
    zones = _zones(spark)
    return fm.month_counts(fm.members(places, zones), user_weights(places, factors), zones)


def test_members_and_counts(spark):
    got = {(r.unit_id, r.measure): (r.raw_count, r.expanded_count)
           for r in _counts(spark).toPandas().itertuples()}
    assert got == {("F1", "residents"): (2, 20.0),  # a, b (not the guest d)
                   ("F1", "workers"): (2, 20.0),  # a, c
                   ("F1", "occupants"): (3, 30.0),  # a counts once
                   ("F2", "residents"): (0, 0.0), ("F2", "workers"): (0, 0.0),
                   ("F2", "occupants"): (0, 0.0)}


def test_publish_withholds_counts_but_names_the_suspect(spark):
    """k = 3: F1's 2 residents and 2 workers are withheld; its occupation, run and
    suspect flag are published (min 1 month here); the occupants count never is."""
    counts = materialized(_counts(spark))  # one spatial join for the four publications
    pub = fm.publish(counts, None, "2026-06", 3, True, False, 1, 1).toPandas()
    assert set(pub.columns) == {f.name for f in load_schema("screen_farmland").struct
                                if f.name != "month"}
    pub = pub.set_index("unit_id")
    f1 = pub.loc["F1"]
    assert f1["is_residents_suppressed"] and f1["is_workers_suppressed"]
    assert pd.isna(f1["residents_raw_count"]) and pd.isna(f1["workers_expanded_count"])
    assert f1["is_occupied"] and f1["is_suspect"] and f1["run_months"] == 1
    assert f1["run_start_month"] == f1["first_seen_month"] == f1["last_seen_month"] == "2026-06"
    f2 = pub.loc["F2"]
    assert not f2["is_occupied"] and not f2["is_suspect"] and f2["run_months"] == 0
    assert pd.isna(f2["first_seen_month"])
    # F1 would be the layer's lone hidden cell: F2's 0 goes with it (complementary)
    assert f2["is_residents_suppressed"] and f2["is_workers_suppressed"]
    plain = fm.publish(counts, None, "2026-06", 3, False, False, 1, 1).toPandas()
    assert plain.set_index("unit_id").loc["F2", "residents_raw_count"] == 0
    # with the default 3 months one month is no suspect
    pub3 = fm.publish(counts, None, "2026-06", 3, True, False, 1, 3).toPandas()
    assert not pub3["is_suspect"].any()
    # a threshold of 4 persons: F1's 3 occupants do not make it occupied
    pub4 = fm.publish(counts, None, "2026-06", 3, True, False, 4, 1).toPandas()
    assert not pub4["is_occupied"].any()


def _month_rows(spark, occupied: dict[str, bool]):
    """One month's wide rows (before history) for polygons P1.. with 5 or 0 occupants."""
    rows = [("farmland", u, 5 if o else 0) for u, o in occupied.items()]
    return spark.createDataFrame(rows, "level string, unit_id string, "
                                       "occupants_raw_count bigint")


def _screen(spark, months: dict[str, dict[str, bool]], min_months: int = 3):
    """Run :func:`farmland.with_history` month by month as the job does (each month reads
    the stored rows of the months before it); returns every month's rows."""
    stored = None
    for key in sorted(months):
        out = fm.with_history(_month_rows(spark, months[key]), stored, key, 1, min_months)
        out = out.withColumn("month", F.lit(key))
        past = stored.where(F.col("month") != key) if stored is not None else None
        stored = out if past is None else past.unionByName(out)
        stored = spark.createDataFrame(stored.toPandas(), stored.schema)  # as if stored
    return stored.toPandas().set_index(["month", "unit_id"]).sort_index()


def test_persistence_over_months_runs_gaps_and_first_last_seen(spark):
    """P1 occupied Jan-Mar (a suspect from March, started January), empty in April, back
    in May (a new run); June is missing (a gap) so July's run starts again. P2 occupied
    every month Mar-May: a suspect in May, started in March. P3 never."""
    months = {"2026-01": {"P1": True, "P2": False, "P3": False},
              "2026-02": {"P1": True, "P2": False, "P3": False},
              "2026-03": {"P1": True, "P2": True, "P3": False},
              "2026-04": {"P1": False, "P2": True, "P3": False},
              "2026-05": {"P1": True, "P2": True, "P3": False},
              "2026-07": {"P1": True, "P2": True, "P3": False}}
    s = _screen(spark, months)

    def at(m, u):
        r = s.loc[(m, u)]
        return (int(r["run_months"]), r["run_start_month"], bool(r["is_suspect"]),
                r["first_seen_month"], r["last_seen_month"])

    assert at("2026-02", "P1") == (2, "2026-01", False, "2026-01", "2026-02")
    assert at("2026-03", "P1") == (3, "2026-01", True, "2026-01", "2026-03")
    assert at("2026-04", "P1") == (0, None, False, "2026-01", "2026-03")
    assert at("2026-05", "P1") == (1, "2026-05", False, "2026-01", "2026-05")
    assert at("2026-07", "P1") == (1, "2026-07", False, "2026-01", "2026-07")  # gap: June
    assert at("2026-05", "P2") == (3, "2026-03", True, "2026-03", "2026-05")
    assert at("2026-07", "P2") == (1, "2026-07", False, "2026-03", "2026-07")
    assert at("2026-07", "P3") == (0, None, False, None, None)
    # min_months = 2: P1 is a suspect from February
    assert bool(_screen(spark, months, 2).loc[("2026-02", "P1"), "is_suspect"])


def test_rerun_of_a_month_reads_only_earlier_months(spark):
    """Re-running March with every month stored (later ones included) gives March's rows
    again: the run counts back only; re-running it twice gives the same rows."""
    months = {"2026-01": {"P1": True}, "2026-02": {"P1": True}, "2026-03": {"P1": True},
              "2026-04": {"P1": False}}
    s = _screen(spark, months)
    stored = spark.createDataFrame(s.reset_index())
    again = [fm.with_history(_month_rows(spark, months["2026-03"]), stored, "2026-03", 1, 3)
             .toPandas() for _ in range(2)]
    pd.testing.assert_frame_equal(again[0], again[1])
    r = again[0].set_index("unit_id").loc["P1"]
    first = s.loc[("2026-03", "P1")]
    for c in ("run_months", "run_start_month", "first_seen_month", "last_seen_month",
              "is_suspect"):
        assert r[c] == first[c], c


def test_screen_config_is_validated():
    assert build_config({}).screen.farmland_min_months == 3
    with pytest.raises(ConfigError, match="farmland_min_months"):
        build_config({"screen": {"farmland_min_months": 0}})
    with pytest.raises(ConfigError, match="not a unit layer"):
        build_config({"screen": {"farmland_layers": ["grid"]}})
    assert fm.previous_month("2026-01") == "2025-12" and fm.previous_month("2026-07") == "2026-06"
    back = fm.earlier_months("2026-03")
    assert back[:3] == ["2026-02", "2026-01", "2025-12"] and len(back) == fm.HISTORY_MONTHS
    assert "2026-03" not in back


def test_farmland_errors_against_truth():
    truth = pd.DataFrame({"unit_id": ["A", "B", "C"], "residents": [3, 0, 0],
                          "workers": [0, 2, 0], "occupants": [3, 2, 0],
                          "is_occupied": [True, True, False]})
    table = pd.DataFrame({"unit_id": ["A", "B", "C"], "residents_raw_count": [3, 0, 0],
                          "workers_raw_count": [0, 1, 1], "occupants_raw_count": [3, 1, 1]})
    err = ev.farmland_errors(table, truth)
    assert (err["occupied_true"], err["occupied_found"], err["max_abs_count_error"]) == (2, 2, 1)
    assert err["false_per_100"] == pytest.approx(33.33)
    assert ev.verdict({"home_work": {"home_within_500m": 1, "work_within_500m": 1},
                       "classes": {}, "population": {"county": {"max_abs_error": 0},
                                                     "township": {"units": 0}},
                       "screen_farmland": err})["farmland_screening"] is False


# --------------------------------------------------------------------------------------
# integration: the job on the synthetic city (one month)


@pytest.fixture(scope="module")
def screened(spark, chain):
    from mobsig.tools.evaluate import unsuppressed_farmland

    res, cfg, runs = chain
    raw = unsuppressed_farmland(spark, cfg, MONTH).toPandas()
    published = Catalog(spark, cfg.warehouse).read("screen_farmland",
                                                   month="2026-06").toPandas()
    truth = pd.read_csv(res.out / "truth/screen_farmland.csv", dtype={"unit_id": str})
    return cfg, runs.of("screen_farmland", month=MONTH), raw, published, truth


def test_city_settlements_found_against_truth(screened):
    """Every planted settlement in farmland is found occupied, no polygon is taken as
    occupied that is not, residents and workers equal the truth; one month is no suspect
    (3 months needed), and the flag is published even where the counts are withheld."""
    cfg, result, raw, published, truth = screened
    assert result.facts["layers"] == "farmland" and result.facts["suspects"] == 0
    err = ev.farmland_errors(raw, truth)
    assert err["polygons"] == len(published) >= 4
    assert err["occupied_true"] >= 2 and err["occupied_found"] == err["occupied_true"], err
    assert err["false_per_100"] == 0 and err["max_abs_count_error"] == 0, err
    occ = published.set_index("unit_id")
    for u, v in err["by_polygon"].items():
        assert bool(occ.loc[u, "is_occupied"]) == v["occupied"][1]
        assert occ.loc[u, "run_months"] == int(v["occupied"][1])
    k = cfg.privacy.k_min
    for m in fm.MEASURES:  # the settlements' few cards are withheld, their flags are not
        hidden = occ[f"is_{m}_suppressed"].astype(bool)
        raw = occ.loc[~hidden, f"{m}_raw_count"]
        assert ((raw == 0) | (raw >= k)).all(), m
        assert occ.loc[hidden, f"{m}_raw_count"].isna().all(), m
    assert (occ["is_occupied"] & (occ["is_residents_suppressed"]
                                  | occ["is_workers_suppressed"])).any()
    assert not published["is_suspect"].any()


def test_city_export_states_the_flag_rule_and_rerun_is_identical(spark, screened):
    from mobsig.io.exports import export_paths, read_manifest
    from mobsig.runner import run

    cfg, _, _, published, _ = screened
    paths = export_paths(cfg.warehouse, "2026-06", "screen_farmland")
    csv = pd.read_csv(paths["csv"], encoding="utf-8-sig", dtype={"unit_id": str})
    assert len(csv) == len(published)
    k = cfg.privacy.k_min
    for m in fm.MEASURES:
        raw = published[f"{m}_raw_count"]
        assert ((raw == 0) | (raw >= k) | raw.isna()).all()
        # the export withholds raw counts and hides the same cells (mobsig.publish)
        assert f"{m}_raw_count" not in csv.columns
        both = csv.merge(published, on="unit_id", suffixes=("_csv", ""))
        assert len(both) == len(published)
        assert (both[f"is_{m}_suppressed_csv"].astype(bool)
                == both[f"is_{m}_suppressed"].astype(bool)).all()
    assert_published(csv, cfg.warehouse)
    sup = read_manifest(paths["manifest"].rsplit("/", 1)[0])["tables"]["screen_farmland"][
        "suppression"]
    assert "is_suspect" in sup["published_without_count"]
    catalog = Catalog(spark, cfg.warehouse)
    before = catalog.read("screen_farmland").toPandas().sort_values("unit_id").reset_index(
        drop=True)
    run(spark, cfg, "screen_farmland", month=MONTH, export=False)
    after = catalog.read("screen_farmland").toPandas().sort_values("unit_id").reset_index(
        drop=True)
    pd.testing.assert_frame_equal(before, after)
