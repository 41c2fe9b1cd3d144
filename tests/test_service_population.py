"""Service population and catchments 服务人口 (issue 14 item 3): who is in a zone, when and
as what, the catchment and its radius on hand-built frames; suppression (role identity,
catchment levels, a recovery attack on random tables); the layer name checked before
Spark starts; the synthetic truth's rules; the evaluation; and the job on the synthetic
city (conftest ``chain``, whose generated config names the ``facility`` layer) against the
generator's truth, for consistent totals, for suppression in the tables and their
exports, and for identical re-runs."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import shapely
from pyspark.sql import functions as F

from mobsig import service_population as sp
from mobsig.config import UnitLayer, build_config
from mobsig.errors import ConfigError
from mobsig.io.catalog import Catalog
from mobsig.io.units import layer_levels
from mobsig.schema import load_schema
from mobsig.synth import evaluate as ev
from tests.factories import MONTH, assert_published

ROLES = sp.ROLES
K = 15


# --------------------------------------------------------------------------------------
# hand-built cards, stays and units


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def _units(spark):
    """Counties C1, C2; townships T1, T2 of C1; zones Z1 and Z2 (layer facility) inside
    T1, overlapping between 104.003 and 104.005."""
    rows = [("C1", "东区", "county", "P", _box(104.00, 30.60, 104.02, 30.62)),
            ("C2", "西区", "county", "P", _box(104.02, 30.60, 104.04, 30.62)),
            ("T1", "一街道", "township", "C1", _box(104.00, 30.60, 104.01, 30.62)),
            ("T2", "二街道", "township", "C1", _box(104.01, 30.60, 104.02, 30.62)),
            ("Z1", "车站", "facility", None, _box(104.000, 30.600, 104.005, 30.605)),
            ("Z2", "公园", "facility", None, _box(104.003, 30.600, 104.008, 30.605))]
    df = spark.createDataFrame(rows, "unit_id string, unit_name string, level string, "
                                     "parent_id string, wkt string")
    return df.select("unit_id", "unit_name", "level", "parent_id",
                     F.expr("ST_SetSRID(ST_GeomFromWKT(wkt), 4490)").alias("geometry"))


IN_Z1 = (104.001, 30.602)     # Z1 only
IN_BOTH = (104.004, 30.602)   # Z1 and Z2
IN_Z2 = (104.007, 30.602)     # Z2 only
HOME_T1 = (104.009, 30.615)   # T1, no zone
HOME_T2 = (104.015, 30.610)
HOME_C2 = (104.030, 30.610)


def _places(spark):
    """a: resident living in Z1; b: resident of T2 working where Z1 and Z2 overlap;
    c: resident of C2; d: short-term card whose (hotel) home point lies in Z1: not a
    resident of the zone, a visitor without a home; f: resident of T1."""
    cards = [("a", "resident", IN_Z1, None, "C1"), ("b", "resident", HOME_T2, IN_BOTH, "C1"),
             ("c", "resident", HOME_C2, None, "C2"), ("d", "short_term", IN_Z1, None, "C1"),
             ("f", "resident", HOME_T1, None, "C1")]
    rows = [(u, cls, h[0], h[1], h[0], h[1], w[0] if w else None, w[1] if w else None,
             county, county, None, "2026-06") for u, cls, h, w, county in cards]
    return spark.createDataFrame(rows, load_schema("card_places").struct)


def _factors(spark):
    return spark.createDataFrame([("C1", "东区", 4, 40, 10.0, "2026-06"),
                                  ("C2", "西区", 1, 20, 20.0, "2026-06")],
                                 load_schema("expansion_factors").struct)


def _stays(spark):
    """a at home across midnight (4 h on the 10th, 8 h on the 11th); b at work on the
    10th; c twice in Z1 on the 10th (20 + 15 min: counts) and once on the 11th (25 min:
    does not); d in Z1 on the 11th; e (not a counted card) in Z1; f in Z2 on the 11th."""
    rows = [("a", "2026-06-10 20:00:00", "2026-06-11 08:00:00", *IN_Z1),
            ("b", "2026-06-10 09:00:00", "2026-06-10 17:00:00", *IN_BOTH),
            ("c", "2026-06-10 14:00:00", "2026-06-10 14:20:00", *IN_Z1),
            ("c", "2026-06-10 16:00:00", "2026-06-10 16:15:00", *IN_Z1),
            ("c", "2026-06-11 10:00:00", "2026-06-11 10:25:00", *IN_Z1),
            ("d", "2026-06-11 10:00:00", "2026-06-11 12:00:00", *IN_Z1),
            ("e", "2026-06-11 10:00:00", "2026-06-11 12:00:00", *IN_Z1),
            ("f", "2026-06-11 09:00:00", "2026-06-11 11:00:00", *IN_Z2)]
    df = spark.createDataFrame(rows, "user_id string, s string, e string, lon double, "
                                     "lat double")
    return df.select("user_id", F.to_timestamp("s").alias("stay_start"),
                     F.to_timestamp("e").alias("stay_end"), "lon", "lat")


@pytest.fixture(scope="module")
def small(spark) -> dict:
    """The unsuppressed tables of the hand-built month, computed once (visits and weights
    persisted, as the job does)."""
    c = sp.service_counts(_stays(spark), _places(spark), _factors(spark), None,
                          _units(spark), ["facility"], ["county", "township"], MONTH,
                          30 * 60, 0.8, 8)
    names = ("monthly", "daily", "catchment", "radius", "days")
    kept = [getattr(c, name).persist() for name in ("visits", "weights", *names)]
    out = {name: getattr(c, name).toPandas() for name in names}
    out["gaps"] = sp.totals_gaps(c)
    for df in kept:
        df.unpersist()
    return out


def _by_role(long: pd.DataFrame, *keys: str) -> dict:
    return {tuple(r[k] for k in keys) + (r["visit_role"],): (r["raw_count"],
                                                             r["expanded_count"])
            for _, r in long.iterrows() if r["raw_count"]}


def test_who_is_in_a_zone_when_and_as_what(small):
    monthly = _by_role(small["monthly"], "unit_id")
    assert monthly == {
        # Z1: a lives there, b works there, c (35 min on the 10th) and d visit; e is not
        # a counted card; c's 25 minutes on the 11th do not count
        ("Z1", "total"): (4, 50.0), ("Z1", "resident"): (1, 10.0),
        ("Z1", "worker"): (1, 10.0), ("Z1", "visitor"): (2, 30.0),
        # Z2 overlaps Z1: b's work place is in both; f visits Z2 only
        ("Z2", "total"): (2, 20.0), ("Z2", "worker"): (1, 10.0),
        ("Z2", "visitor"): (1, 10.0)}
    assert len(small["monthly"]) == 2 * 4  # every zone with every role, zeros filled
    daily = small["daily"].copy()
    daily["day"] = pd.to_datetime(daily["key_date"]).dt.day
    got = _by_role(daily, "unit_id", "day")
    assert got == {  # a's night counts on both days; the totals are per day
        ("Z1", 10, "total"): (3, 40.0), ("Z1", 10, "resident"): (1, 10.0),
        ("Z1", 10, "worker"): (1, 10.0), ("Z1", 10, "visitor"): (1, 20.0),
        ("Z1", 11, "total"): (2, 20.0), ("Z1", 11, "resident"): (1, 10.0),
        ("Z1", 11, "visitor"): (1, 10.0),
        ("Z2", 10, "total"): (1, 10.0), ("Z2", 10, "worker"): (1, 10.0),
        ("Z2", 11, "total"): (1, 10.0), ("Z2", 11, "visitor"): (1, 10.0)}
    assert len(daily) == 2 * 2 * 4  # 2 zones x 2 days with stays x 4 roles
    assert sorted(d.day for d in small["days"]["key_date"]) == [10, 11]
    assert small["gaps"] == {"role_gap": 0, "catchment_gap": 0, "daily_over_monthly": 0}


def test_catchment_by_home_unit_and_radius(small):
    cat = small["catchment"]
    polygons = cat[cat["level"] != "grid"]
    got = {(r.zone_id, r.level, r.unit_id): r.raw_count for r in polygons.itertuples()}
    assert got == {
        # Z1's visitors: c lives in C2 (no township layer there), d is no resident
        ("Z1", "county", "C1"): 0, ("Z1", "county", "C2"): 1,
        ("Z1", "county", "unknown"): 1, ("Z1", "township", "T1"): 0,
        ("Z1", "township", "T2"): 0, ("Z1", "township", "unknown"): 2,
        ("Z2", "county", "C1"): 1, ("Z2", "county", "C2"): 0,
        ("Z2", "county", "unknown"): 0, ("Z2", "township", "T1"): 1,
        ("Z2", "township", "T2"): 0, ("Z2", "township", "unknown"): 0}
    c2 = polygons[(polygons["zone_id"] == "Z1") & (polygons["unit_id"] == "C2")]
    assert c2["expanded_count"].tolist() == [20.0]
    grid = cat[cat["level"] == "grid"]
    assert grid.groupby("zone_id")["raw_count"].sum().to_dict() == {"Z1": 2, "Z2": 1}
    assert set(grid.loc[grid["unit_id"] == "unknown", "zone_id"]) == {"Z1", "Z2"}
    rad = small["radius"].set_index("unit_id")
    # c's home is 0.025 deg east and 0.005 deg north of Z1's corner: ~2.46 km
    assert rad.loc["Z1", "catchment_radius_m"] == pytest.approx(2460, abs=15)
    assert rad.loc["Z2", "catchment_radius_m"] == pytest.approx(1110, abs=15)
    assert rad["_homes"].to_dict() == {"Z1": 1, "Z2": 1}


def test_radius_is_a_weighted_quantile(spark):
    """Five visitors of one zone 1..5 km east of it: unweighted, 80 % live within 4 km;
    when the farthest weighs 6 of 10, within 5 km; at the 50 % quantile, 3 km."""
    zone = spark.createDataFrame([("facility", "Z", _box(104.0, 30.6, 104.001, 30.601))],
                                 "level string, unit_id string, wkt string").select(
        "level", "unit_id", F.expr("ST_GeomFromWKT(wkt)").alias("geometry"))
    deg = 1 / (111_320 * np.cos(np.radians(30.6)))
    homes = spark.createDataFrame([(f"v{i}", float(104.001 + i * 1000 * deg), 30.6005)
                                   for i in range(1, 6)], "user_id string, lon double, "
                                                           "lat double")
    visits = spark.createDataFrame([(f"v{i}", "facility", "Z", "visitor") for i in range(1, 6)],
                                   "user_id string, level string, unit_id string, "
                                   "visit_role string")

    def radius(weights: list[float], q: float) -> float:
        w = spark.createDataFrame([(f"v{i}", float(x)) for i, x in enumerate(weights, 1)],
                                  "user_id string, weight double")
        return sp.catchment_radius(visits, homes, w, zone, q).first()["catchment_radius_m"]

    assert radius([1, 1, 1, 1, 1], 0.8) == pytest.approx(4000, rel=0.01)
    assert radius([1, 1, 1, 1, 6], 0.8) == pytest.approx(5000, rel=0.01)
    assert radius([1, 1, 1, 1, 1], 0.5) == pytest.approx(3000, rel=0.01)


# --------------------------------------------------------------------------------------
# suppression


def _roles_long(spark, zones: dict[str, tuple[int, int, int]], day: bool = False):
    rows = []
    for z, parts in zones.items():
        for role, n in zip(ROLES, (sum(parts), *parts), strict=True):
            rows.append(("facility", z, f"{z}名", *([dt.date(2026, 6, 10)] if day else []),
                         role, n, 10.0 * n))
    cols = ("level string, unit_id string, unit_name string, "
            + ("key_date date, " if day else "")
            + "visit_role string, raw_count bigint, expanded_count double")
    return spark.createDataFrame(rows, cols)


def test_roles_are_suppressed_with_a_complement(spark):
    """total = resident + worker + visitor: a role below k takes a second one with it,
    so no hidden role is the total minus the published ones."""
    zones = {"Z1": (3, 40, 100), "Z2": (0, 20, 30), "Z3": (5, 9, 0), "Z4": (20, 30, 40)}
    for day in (False, True):
        long = _roles_long(spark, zones, day)
        fn = sp.suppress_daily if day else sp.suppress_monthly
        sup = fn(long, K, True, False).persist()
        out = sup.toPandas()
        hidden = {(r.unit_id, r.visit_role) for r in out.itertuples() if r.is_suppressed}
        assert hidden == {("Z1", "resident"), ("Z1", "worker"),  # 3 < k, then smallest
                          ("Z3", "resident"), ("Z3", "worker"), ("Z3", "total")}, day
        # Z2: a zero is published and needs no complement; Z3: every non-zero is small
        assert out.loc[out["is_suppressed"], ["raw_count", "expanded_count"]].isna().all().all()
        wide = sp.spread(sup, ["level", "unit_id"]).toPandas().set_index("unit_id")
        sup.unpersist()
        assert wide.loc["Z1", "total_raw_count"] == 143
        assert wide.loc["Z1", "visitor_raw_count"] == 100
        assert pd.isna(wide.loc["Z1", "resident_raw_count"])
        assert wide.loc["Z2", "resident_raw_count"] == 0 and not wide.loc[
            "Z2", "is_resident_suppressed"]


def test_totals_gaps_find_tables_that_do_not_add_up(spark):
    """The gate's numbers on hand-built long forms: a zone whose total is not the sum of
    its roles, a catchment level that misses a visitor, a day above the month."""
    monthly = _roles_long(spark, {"Z1": (20, 0, 30), "Z2": (0, 0, 16)})
    bad_month = monthly.withColumn("raw_count", F.when(
        (F.col("unit_id") == "Z1") & (F.col("visit_role") == "total"), F.lit(49))
        .otherwise(F.col("raw_count")))
    daily = _roles_long(spark, {"Z1": (20, 0, 31), "Z2": (0, 0, 16)}, day=True)
    catch = spark.createDataFrame(
        [("facility", "Z1", "county", "C1", 30), ("facility", "Z1", "grid", "g", 29),
         ("facility", "Z2", "county", "unknown", 16), ("facility", "Z2", "grid", "g", 16)],
        "zone_level string, zone_id string, level string, unit_id string, raw_count bigint")
    counts = sp.ServiceCounts(None, None, bad_month, daily, catch, None, None)
    # Z1's total 49 != 50; Z1's grid level has 29 of 30 visitors; Z1's day has 31
    # visitors (and then 51 in total) against 30 (50) in the month
    assert sp.totals_gaps(counts) == {"role_gap": 1, "catchment_gap": 1,
                                      "daily_over_monthly": 2}


def _cell(level, unit, parent, raw):
    return {"level": level, "unit_id": unit, "parent_id": parent, "raw_count": raw}


def _catchment_frame(counties: dict[str, int], towns: dict[str, tuple[str, int]],
                     unknown: int, grid: dict[str, int], unknown_grid: int) -> pd.DataFrame:
    rows = [_cell("county", u, "P", n) for u, n in counties.items()]
    rows.append(_cell("county", "unknown", None, unknown))
    rows += [_cell("township", u, p, n) for u, (p, n) in towns.items()]
    rows.append(_cell("township", "unknown", None, unknown))
    rows += [_cell("grid", u, None, n) for u, n in grid.items()]
    rows.append(_cell("grid", "unknown", None, unknown_grid))
    return pd.DataFrame(rows)


def test_catchment_mask_rules():
    pdf = _catchment_frame({"C1": 40, "C2": 20, "C3": 5}, {"T1": ("C1", 30), "T2": ("C1", 10),
                                                          "T3": ("C2", 20), "T4": ("C3", 5)},
                           16, {"g1": 30, "g2": 35, "g3": 16}, 0)
    mask = sp.catchment_mask(pdf, K)
    hidden = {(r.level, r.unit_id) for r, m in zip(pdf.itertuples(), mask, strict=True) if m}
    # C3 (5) is small: the smallest other county cell (unknown, 16) goes with it; the
    # unknown cells of every level go together (the grid's 0 too), so the grid level
    # hides its smallest cell g3 with it; T2 (10) takes T1 along; T4 hides with its
    # hidden county
    assert hidden == {("county", "C3"), ("county", "unknown"), ("township", "unknown"),
                      ("grid", "unknown"), ("grid", "g3"), ("township", "T1"),
                      ("township", "T2"), ("township", "T4")}
    assert sp.catchment_mask(pdf, K, zone_hidden=True).all()
    assert not sp.catchment_mask(pdf, K, complementary=False)[pdf["unit_id"] == "unknown"].any()


def _recoverable(cells: pd.DataFrame, roles: dict[str, tuple[int, bool]]) -> set:
    """A recovery attack: the hidden cells an analyst can compute from the published ones
    by repeatedly solving an equation with a single unknown. Equations: total = resident
    + worker + visitor (monthly roles); per catchment level, the top cells and unknown =
    visitors at every level; per parent, its child cells = the parent's cell."""
    value = {("role", r): n for r, (n, hid) in roles.items()}
    known = {("role", r) for r, (_, hid) in roles.items() if not hid}
    eqs = [([("role", "total")], [("role", r) for r in sp.PARTS])]
    ids = set(cells.loc[(cells["level"] != "grid") & (cells["unit_id"] != "unknown"),
                        "unit_id"])
    for level, g in cells.groupby("level"):
        eqs.append(([("role", "visitor")], [(level, u) for u in g["unit_id"]]))
        for parent, kids in g[g["parent_id"].isin(ids)].groupby("parent_id"):
            plevel = cells.loc[cells["unit_id"] == parent, "level"].iloc[0]
            eqs.append(([(plevel, parent)], [(level, u) for u in kids["unit_id"]]))
    for r in cells.itertuples():
        value[(r.level, r.unit_id)] = r.raw_count
        if not r.hidden:
            known.add((r.level, r.unit_id))
    hidden = {k for k in value if k not in known}
    found: set = set()
    changed = True
    while changed:
        changed = False
        for lhs, rhs in eqs:
            unknown = [v for v in lhs + rhs if v not in known]
            if len(unknown) == 1:
                known.add(unknown[0])
                found.add(unknown[0])
                changed = True
    return found & hidden


def test_a_suppressed_catchment_cell_cannot_be_recovered_from_totals():
    """Random zones: the roles suppressed as published, the catchment by catchment_mask;
    the attack of _recoverable finds no hidden cell (and does find one when the
    complementary and cross-level rules are off, so it bites)."""
    rng = np.random.default_rng(14)
    bitten = 0
    for _ in range(200):
        counties = {f"C{i}": int(rng.choice([0, 3, 9, 16, 30, 80])) for i in range(4)}
        towns = {}
        for c, n in counties.items():
            split = rng.multinomial(n, [0.5, 0.3, 0.2])
            towns.update({f"{c}T{j}": (c, int(x)) for j, x in enumerate(split)})
        unknown = int(rng.choice([0, 4, 20]))
        visitors = sum(counties.values()) + unknown
        grid_split = rng.multinomial(visitors - unknown, [0.4, 0.3, 0.2, 0.1])
        pdf = _catchment_frame(counties, towns, unknown,
                               {f"g{i}": int(x) for i, x in enumerate(grid_split)}, unknown)
        resident, worker = int(rng.choice([2, 20, 60])), int(rng.choice([0, 5, 40]))
        long = pd.DataFrame({"level": "facility", "parent_id": "Z", "unit_id": "Z",
                             "visit_role": list(ROLES),
                             "raw_count": [resident + worker + visitors, resident, worker,
                                           visitors]})
        rmask = sp.privacy.suppression_mask(long, K, True, False, sp.ROLE_IDENTITY,
                                            by="visit_role")
        roles = {r: (n, bool(m)) for r, n, m in zip(ROLES, long["raw_count"], rmask,
                                                    strict=True)}
        pdf["hidden"] = sp.catchment_mask(pdf, K, zone_hidden=roles["visitor"][1])
        assert not _recoverable(pdf, roles), pdf
        weak = pdf.assign(hidden=(pdf["raw_count"] > 0) & (pdf["raw_count"] < K))
        bitten += bool(_recoverable(weak, roles))
    assert bitten > 50  # primary suppression alone leaks: the attack is real


# --------------------------------------------------------------------------------------
# configuration and the layer name, before Spark starts


def test_config_is_validated():
    cfg = build_config({})
    s = cfg.service_population
    assert (s.zones, s.min_stay_min, s.catchment_quantile, s.home_levels) == (
        (), 30.0, 0.8, ("county", "township"))
    assert build_config({}, ["service_population.zones=facility,park"]
                        ).service_population.zones == ("facility", "park")
    for bad, msg in ((["service_population.zones=grid"], "not a unit layer name"),
                     (["service_population.zones=a b"], "not a unit layer name"),
                     (["service_population.zones=park,park"], "named twice"),
                     (["service_population.home_levels=[]"], "at least one"),
                     (["service_population.catchment_quantile=1.5"], "out of range"),
                     (["service_population.min_stay_min=0"], "out of range")):
        with pytest.raises(ConfigError, match=msg):
            build_config({}, bad)


def _layer(path, features, topo=False):
    if topo:
        doc = {"type": "Topology", "arcs": [], "objects": {"x": {
            "type": "GeometryCollection", "geometries": [
                {"type": None, "properties": p} for p in features]}}}
    else:
        doc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": p, "geometry": None} for p in features]}
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return str(path)


def test_layer_levels_without_spark(tmp_path):
    geo = _layer(tmp_path / "z.geojson", [{"unit_id": "a", "LEVEL": "park"},
                                          {"unit_id": "b", "LEVEL": "facility"}])
    topo = _layer(tmp_path / "t.json", [{"unit_id": "c", "level": "county"}], topo=True)
    assert layer_levels(UnitLayer(path=geo)) == {"park", "facility"}
    assert layer_levels(UnitLayer(path=geo, unit_ids=("a",))) == {"park"}
    assert layer_levels(UnitLayer(path=topo)) == {"county"}
    assert layer_levels(UnitLayer(path=str(tmp_path / "x.shp"), level="hub")) == {"hub"}
    assert layer_levels(UnitLayer(path=str(tmp_path / "x.gpkg"))) is None  # needs Spark
    assert layer_levels(UnitLayer(path=str(tmp_path / "missing.geojson"))) is None


def test_a_bad_layer_name_stops_before_spark(tmp_path, monkeypatch):
    from mobsig.jobs import service_population as job

    from mobsig import cli

    _layer(tmp_path / "units.geojson", [{"unit_id": "C", "level": "county"},
                                        {"unit_id": "F", "level": "facility"}])
    (tmp_path / "c.yaml").write_text(
        "paths: {units: [units.geojson], warehouse: wh}\n"
        "service_population: {zones: [facility]}\n", "utf-8")
    cfg = build_config({"paths": {"units": ["units.geojson"]},
                        "service_population": {"zones": ["facility"],
                                               "home_levels": ["county"]}}, base_dir=tmp_path)
    job.validate(cfg, {})
    job.validate(cfg, {"zones": "facility"})
    with pytest.raises(ConfigError, match=r"'park' is not a layer of paths.units \(its "
                                          r"levels: county, facility\)"):
        job.validate(cfg, {"zones": "facility,park"})
    with pytest.raises(ConfigError, match="'township' is not a layer"):
        job.validate(build_config({"paths": {"units": ["units.geojson"]}}, base_dir=tmp_path),
                     {"zones": "facility"})  # home_levels default: county, township
    with pytest.raises(ConfigError, match="--zones: .*not a unit layer name"):
        job.validate(cfg, {"zones": "grid"})
    cfg2 = build_config({"paths": {"units": ["units.geojson", "more.gpkg"]}}, base_dir=tmp_path)
    job.validate(cfg2, {"zones": "hub"})  # a GeoPackage's levels are known once Spark runs

    def no_spark(*a, **k):
        raise AssertionError("Spark started")

    monkeypatch.setattr("mobsig.session.build_session", no_spark)
    rc = cli.main(["service_population", "--month", "2026-06", "--zones", "nope",
                   "--config", str(tmp_path / "c.yaml")])
    assert rc == 2


# --------------------------------------------------------------------------------------
# the synthetic truth and the evaluation


def test_truth_rules_on_hand_built_timelines():
    """Persons, not cards (a person's stays are the primary card's: a two-card person's
    29-minute stop is not 58 minutes); 30 minutes a day summed over stays; a stay across
    midnight on both days; roles from the true class, home and employment."""
    from mobsig.synth import service
    from mobsig.synth.city import build_city

    city = build_city(7, 104.06, 30.66, dt.date(2026, 6, 8), 3)
    inside = city.to_lonlat(np.array([100.0]), np.array([0.0]))
    far = (60_000.0, 0.0)
    persons = pd.DataFrame({
        "person_id": [1, 2, 3, 4], "kind": ["resident_nonworker", "resident_worker",
                                            "day_visitor", "resident_worker"],
        "pop_class": ["resident", "resident", "visitor", "resident"],
        "is_employed": [False, True, False, True],
        "home_x": [200.0, 20_000.0, 0.0, 3_000.0], "home_y": [0.0, 0.0, 0.0, 0.0],
        "work_x": [np.nan, 300.0, np.nan, 20_000.0], "work_y": [np.nan, 0.0, np.nan, 0.0],
        "home_county": ["990101", "990104", None, "990103"],
        "home_township": ["990101001", "990104001", None, "990103002"]})
    cards = pd.DataFrame({"user_id": ["p1", "p2", "p2b", "p3", "p4", "p4b"],
                          "person_id": [1, 2, 2, 3, 4, 4], "is_human": True,
                          "card_kind": ["primary", "primary", "secondary", "primary",
                                        "primary", "secondary"]})
    lon, lat = float(inside[0][0]), float(inside[1][0])
    flon, flat = (float(v[0]) for v in city.to_lonlat(np.array([far[0]]),
                                                      np.array([far[1]])))
    ts = pd.Timestamp
    stays = pd.DataFrame([
        ("p1", ts("2026-06-08 20:00"), ts("2026-06-09 07:00"), lon, lat),   # both days
        ("p2", ts("2026-06-08 09:00"), ts("2026-06-08 17:00"), lon, lat),   # works
        ("p2b", ts("2026-06-08 09:00"), ts("2026-06-08 17:00"), lon, lat),  # same person
        ("p3", ts("2026-06-09 10:00"), ts("2026-06-09 10:20"), lon, lat),
        ("p3", ts("2026-06-09 11:00"), ts("2026-06-09 11:15"), lon, lat),   # 35 min
        ("p4", ts("2026-06-10 10:00"), ts("2026-06-10 10:29"), lon, lat),   # 29 min
        ("p4b", ts("2026-06-10 10:00"), ts("2026-06-10 10:29"), lon, lat),  # not 58 min
        ("p4", ts("2026-06-10 12:00"), ts("2026-06-10 18:00"), flon, flat)],
        columns=["user_id", "stay_start", "stay_end", "lon", "lat"])
    days = [dt.date(2026, 6, 8) + dt.timedelta(days=i) for i in range(3)]
    t = service.service_truth(city, persons, cards, stays, days, 30, 0.8)
    m = t["monthly"].set_index("unit_id").loc["F-CBD-01"]
    assert (m["total"], m["resident"], m["worker"], m["visitor"]) == (3, 1, 1, 1)
    assert m["visitor_homes"] == 0 and pd.isna(m["catchment_radius_m"])  # a day visitor
    d = t["daily"].set_index(["unit_id", "dt"])
    assert d.loc[("F-CBD-01", days[0]), ["total", "resident", "worker"]].tolist() == [2, 1, 1]
    assert d.loc[("F-CBD-01", days[1]), ["total", "resident", "visitor"]].tolist() == [2, 1, 1]
    assert d.loc[("F-CBD-01", days[2]), "total"] == 0
    assert len(t["daily"]) == 3 * len(city.facilities)
    c = t["catchment"]
    assert c[c["zone_id"] == "F-CBD-01"][["level", "unit_id", "visitors"]].values.tolist() == [
        ["county", "unknown", 1], ["township", "unknown", 1]]
    # with the stay rule's tau, p3's 20- and 15-minute stops are no stays: no visit
    t30 = service.service_truth(city, persons, cards, stays, days, 30, 0.8, tau_min=30)
    m30 = t30["monthly"].set_index("unit_id").loc["F-CBD-01"]
    assert (m30["total"], m30["visitor"]) == (2, 0)
    assert service.radius_quantile(np.array([5.0, 1, 4, 2, 3]), 0.8) == 4.0
    assert service.radius_quantile(np.array([1.0, 2]), 0.5) == 1.0


def test_hub_and_station_square_are_drawn_clear_of_the_places():
    """city.clear_box: the railway hub (facility) and the station's commercial parcel
    contain the station, keep every leisure place and hotel >= 50 m from their edges and
    on the same side as the service point of its nearest site's cell (what the signal
    reports); the plain squares around the station did not (places 13-38 m from them)."""
    from mobsig.synth import land_use as slu
    from mobsig.synth.city import build_city
    from mobsig.synth.plants import _reported

    start = dt.date(2026, 6, 8)
    city = build_city(20260601, 104.06, 30.66, start, 14, satellite=True)
    hub = city.facilities.set_index("unit_id").loc["F-HUB-01", "geometry"]
    shop = slu.parcels(city, 20260601, start).set_index("unit_id").loc["LU-B-02", "geometry"]
    p = city.pois[city.pois["kind"].isin(["leisure", "hotel"])]
    x, y = p["x"].to_numpy(float), p["y"].to_numpy(float)
    rx, ry = _reported(city, start, 0, x, y, 0)
    sx, sy = city.pois.loc[city.pois["kind"] == "station", ["x", "y"]].to_numpy()[0]
    for g, half in ((hub, 500.0), (shop, 600.0)):
        assert g.contains(shapely.Point(sx, sy))
        assert shapely.distance(g.boundary, shapely.points(x, y)).min() >= 50.0
        assert (shapely.contains_xy(g, x, y) == shapely.contains_xy(g, rx, ry)).all()
        plain = shapely.box(sx - half, sy - half, sx + half, sy + half)
        assert shapely.distance(plain.boundary, shapely.points(x, y)).min() < 40.0


def test_errors_against_truth_and_verdict():
    truth = pd.DataFrame({"month": "2026-06", "unit_id": ["A", "B", "C"],
                          "total": [100, 40, 10], "visitor": [60, 40, 10],
                          "catchment_radius_m": [4000.0, 2000.0, np.nan]})
    monthly = pd.DataFrame([(u, r, n) for u, vals in
                            {"A": (90, 10, 20, 60), "B": (48, 0, 0, 48),
                             "C": (2, 0, 0, 2)}.items()
                            for r, n in zip(ROLES, vals, strict=True)],
                           columns=["unit_id", "visit_role", "raw_count"])
    daily = pd.DataFrame({"unit_id": ["A", "A", "B"], "key_date": [1, 2, 1],
                          "visit_role": "total", "raw_count": [30, 40, 10]})
    truth_daily = pd.DataFrame({"dt": ["2026-06-01", "2026-06-02", "2026-06-01"],
                                "unit_id": ["A", "A", "B"], "total": [35, 35, 10]})
    radius = pd.DataFrame({"unit_id": ["A"], "catchment_radius_m": [5000.0]})
    catchment = pd.DataFrame({"zone_id": "A", "level": "county",
                              "unit_id": ["C1", "unknown"], "raw_count": [30, 30]})
    tc = pd.DataFrame({"month": "2026-06", "zone_id": "A", "level": "county",
                       "unit_id": ["C1", "unknown"], "visitors": [40, 20]})
    r = ev.service_population_errors(monthly, daily, radius, catchment, truth, truth_daily,
                                     tc, "2026-06", min_visitors=20)
    assert r["facilities"] == 2 and r["all_facilities"] == 3  # C has too few
    a, b = r["by_facility"]["A"], r["by_facility"]["B"]
    assert a["total_error"] == pytest.approx(-0.1) and b["total_error"] == pytest.approx(0.2)
    assert r["max_abs_error"] == pytest.approx(0.2)
    assert a["daily_mean_error"] == 0.0 and a["radius_error"] == pytest.approx(0.25)
    assert a["county_share_max_abs_diff"] == pytest.approx(1 / 6, abs=1e-4)
    assert b["radius_m"] is None and b["radius_error"] is None
    from tests.factories import evaluation_base

    base = evaluation_base(jobs_housing=None, service_population=r)
    ok = ev.verdict(base)
    assert ok["facility_service_population"] is False
    text = ev.markdown({**base, "targets_met": ok})
    assert "(2 of 3 facilities ≥ 20 true persons) | 20.0 % (mean 15.0 %)" in text, text
    assert ev.verdict({**base, "service_population": None})[
        "facility_service_population"] is None


# --------------------------------------------------------------------------------------
# integration: the job on the synthetic city


@pytest.fixture(scope="module")
def service(spark, chain):
    """The month's run of the shared pipeline run, the unsuppressed tables recomputed
    from the stored ones, the published tables and the truth."""
    from mobsig.tools.evaluate import unsuppressed_service

    res, cfg, runs = chain
    counts = unsuppressed_service(spark, cfg, MONTH)
    visits = counts.visits.persist()
    raw = {name: getattr(counts, name).toPandas()
           for name in ("monthly", "daily", "catchment", "radius")}
    visits.unpersist()
    catalog = Catalog(spark, cfg.warehouse)
    published = {t: catalog.read(t, month="2026-06").toPandas()
                 for t in ("service_population", "service_population_daily",
                           "service_catchment")}
    truth = {n: pd.read_csv(res.out / f"truth/{n}.csv", dtype={"unit_id": str})
             for n in ("service_population", "service_population_daily",
                       "service_catchment")}
    return cfg, runs.of("service_population", month=MONTH), raw, published, truth


def test_city_visitors_per_facility_match_truth(service):
    """Issue 14: the month's service population per facility within ±15 % of the true
    persons (with >= 30 min of true stays of at least tau inside on some day) where the
    facility has >= 15 of them (the hub 18: its square is drawn clear of places and homes,
    city.clear_box; with the plain square around the station two leisure places 31-38 m
    outside its edge had their visitors placed inside: +44 %), the heritage area in the
    sparse periphery (sites 2 km apart) included: a short visit there with a record at a
    neighbouring site in between is one stay (stays.excursion_max_dist_m), no longer two
    pieces under 30 min."""
    _, result, raw, _, truth = service
    assert result.facts["zones"] == "facility"
    r = ev.service_population_errors(raw["monthly"], raw["daily"], raw["radius"],
                                     raw["catchment"], truth["service_population"],
                                     truth["service_population_daily"],
                                     truth["service_catchment"], "2026-06")
    by = r["by_facility"]
    assert r["facilities"] == 4, by  # every facility has >= 15 true persons
    assert set(by) == {"F-CBD-01", "F-HUB-01", "F-PARK-01", "F-HER-01"}, by
    for uid, f in by.items():
        assert abs(f["total_error"]) <= 0.15, (uid, f)
        assert abs(f["daily_mean_error"]) <= 0.15, (uid, f)
        assert abs(f["visitors_error"]) <= 0.15, (uid, f)
        assert f["total"] <= f["true_total"] * 1.05, (uid, f)  # no invented visits
    assert by["F-CBD-01"]["true_total"] > 2 * by["F-PARK-01"]["true_total"]
    assert by["F-CBD-01"]["county_share_max_abs_diff"] <= 0.05


def test_city_totals_are_consistent(service, spark):
    """Before suppression: total = resident + worker + visitor, every catchment level of
    a zone adds up to its visitors, no day above the month; against population_by_unit
    (the same facility layer, the same cards): residents of a zone never exceed its
    residents there, workers never exceed its employed; the gate passed with zeros."""
    from mobsig.tools.evaluate import unsuppressed_population

    cfg, result, raw, _, _ = service
    gate = next(g for g in result.gates if g["table"] == "service_population")
    assert gate["success"], gate
    m = raw["monthly"].pivot_table(index="unit_id", columns="visit_role", values="raw_count")
    assert (m["total"] == m["resident"] + m["worker"] + m["visitor"]).all()
    d = raw["daily"].pivot_table(index=["unit_id", "key_date"], columns="visit_role",
                                 values="raw_count")
    assert (d["total"] == d["resident"] + d["worker"] + d["visitor"]).all()
    assert (d.groupby(level=0).max() <= m).all().all()
    assert len(d) == 4 * 14
    sums = raw["catchment"].groupby(["zone_id", "level"])["raw_count"].sum().unstack()
    assert set(sums.columns) == {"county", "township", "grid"}
    for level in sums.columns:
        assert (sums[level] == m["visitor"].reindex(sums.index)).all(), level
    pop = unsuppressed_population(spark, cfg, MONTH).toPandas()
    pop = pop[pop["level"] == "facility"].pivot_table(index="unit_id", columns="pop_class",
                                                     values="raw_count")
    assert (m["resident"] <= pop["resident"].reindex(m.index)).all()
    assert (m["worker"] <= pop["employed"].reindex(m.index)).all()
    assert m.loc["F-CBD-01", "resident"] >= 0.8 * pop.loc["F-CBD-01", "resident"]


def test_city_tables_and_exports_hold_suppression(spark, service):
    """No published count below k in any table or export; a hidden cell has no number;
    the recovery attack finds no hidden role or catchment cell of any zone; the radius
    only where the visitor count is published."""
    from mobsig.io.exports import export_paths

    cfg, result, _, published, _ = service
    k = cfg.privacy.k_min
    monthly, daily, catch = (published[t] for t in ("service_population",
                                                    "service_population_daily",
                                                    "service_catchment"))
    for t, frame in published.items():
        assert result.output_rows[t] == len(frame) > 0
        assert "user_id" not in frame.columns
        csv = pd.read_csv(export_paths(cfg.warehouse, "2026-06", t)["csv"],
                          encoding="utf-8-sig", dtype={"unit_id": str, "zone_id": str})
        assert len(csv) == len(frame)
        for col in [c for c in frame.columns if c.endswith("raw_count")]:
            v = frame[col].dropna()
            assert ((v == 0) | (v >= k)).all(), (t, col)
        assert_published(csv, cfg.warehouse)  # raw counts withheld, expanded ones rounded
        g = spark.read.format("geoparquet").load(
            export_paths(cfg.warehouse, "2026-06", t)["geoparquet"])
        assert g.count() == len(frame)
    for frame in (monthly, daily):
        for role in ROLES:
            hid = frame[f"is_{role}_suppressed"]
            assert frame.loc[hid, f"{role}_raw_count"].isna().all()
            assert frame.loc[~hid, f"{role}_raw_count"].notna().all()
        n_hidden = sum(frame[f"is_{r}_suppressed"].astype(int) for r in ROLES)
        assert not (n_hidden == 1).any()  # never one hidden cell in a role identity
    assert daily[[f"is_{r}_suppressed" for r in ROLES]].any().any()  # the checks bite
    assert catch["is_suppressed"].any() and (~catch["is_suppressed"]).any()
    by_zone = {z: g for z, g in catch.groupby("zone_id")}
    for _, row in monthly.iterrows():
        roles = {r: (row[f"{r}_raw_count"], bool(row[f"is_{r}_suppressed"])) for r in ROLES}
        cells = by_zone[row["unit_id"]].assign(hidden=lambda x: x["is_suppressed"])
        assert not _recoverable(cells, roles), row["unit_id"]
        if roles["visitor"][1]:
            assert cells["hidden"].all() and pd.isna(row["catchment_radius_m"])
    assert monthly["catchment_radius_m"].notna().any()
    assert (monthly["days_observed"] == 14).all() and (monthly["catchment_quantile"] == 0.8).all()
    shares = catch.groupby(["zone_id", "level"])["share"].sum()
    assert (shares <= 1 + 1e-9).all()


def test_city_rerun_is_identical(spark, service):
    from mobsig.runner import run

    cfg = service[0]
    catalog = Catalog(spark, cfg.warehouse)
    keys = {"service_population": ["level", "unit_id"],
            "service_population_daily": ["level", "unit_id", "dt"],
            "service_catchment": ["zone_level", "zone_id", "level", "unit_id"]}

    def tables():
        return {t: catalog.read(t).toPandas().sort_values(k).reset_index(drop=True)
                for t, k in keys.items()}

    before = tables()
    run(spark, cfg, "service_population", month=MONTH, export=False)
    after = tables()
    for t in keys:
        pd.testing.assert_frame_equal(before[t], after[t], check_exact=True)
    # no zone layer: nothing to measure, nothing written (the tables stay as they were)
    res = run(spark, cfg.replace(service_population=type(cfg.service_population)()),
              "service_population", month=MONTH, export=False)
    assert res.output_rows == {} and res.facts["zones"] == "none"
    for t in keys:
        pd.testing.assert_frame_equal(before[t], tables()[t])
