"""The synthetic city: ground truth consistent with the events it generated."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from mobsig.coords import haversine_m, to_cgcs2000
from tests.conftest import CITY_RULES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def truth(city):
    res, cfg = city
    t = res.out / "truth"
    ev = pd.read_parquet(t / "events")
    ev["dt"] = ev["dt"].astype(str)
    return {
        "market_share": cfg.synth.market_share,
        "persons": pd.read_parquet(t / "persons.parquet"),
        "cards": pd.read_parquet(t / "cards.parquet"),
        "stays": pd.read_parquet(t / "stays"),
        "events": ev,
        "cells": pd.read_csv(t / "cells.csv"),
        "population": pd.read_csv(t / "population_by_unit.csv", dtype={"unit_id": str,
                                                                       "parent_id": str}),
        "start": cfg.synth.start_date,
    }


def seconds(ts: pd.Series, start: dt.date) -> np.ndarray:
    t = pd.to_datetime(ts, format="ISO8601")
    return (t - pd.Timestamp(start)).dt.total_seconds().to_numpy()


def test_true_stays_have_events_at_nearby_cells(truth):
    """Each true stay of >= 1 h has events during it, served by cells near the stay."""
    cards = truth["cards"].set_index("user_id")
    persons = truth["persons"].set_index("person_id")
    st = truth["stays"]
    st = st[(st["duration_s"] >= 3600) & st["user_id"].map(cards["is_human"])].copy()
    phone_off = st["user_id"].map(cards["person_id"]).map(persons["phone_off_nights"])
    st = st[~phone_off.astype(bool)].reset_index(drop=True)
    ev = truth["events"]
    ev = ev[ev["label"] == "normal"]
    pos = truth["cells"].groupby("cell_id")[["true_lon", "true_lat"]].mean()
    users = {u: i for i, u in enumerate(sorted(set(ev["user_id"]) | set(st["user_id"])))}
    big = 1 << 32
    ek = ev["user_id"].map(users).to_numpy() * big + seconds(ev["event_time"], truth["start"])
    order = np.argsort(ek)
    ek = ek[order]
    ev_lon = ev["cell_id"].map(pos["true_lon"]).to_numpy()[order]
    ev_lat = ev["cell_id"].map(pos["true_lat"]).to_numpy()[order]
    s0 = st["user_id"].map(users).to_numpy() * big + seconds(st["stay_start"], truth["start"])
    s1 = st["user_id"].map(users).to_numpy() * big + seconds(st["stay_end"], truth["start"])
    lo, hi = np.searchsorted(ek, s0), np.searchsorted(ek, s1, side="right")
    n = hi - lo
    near = np.zeros(len(st), bool)
    for i in np.flatnonzero(n > 0):
        d = haversine_m(ev_lon[lo[i]:hi[i]], ev_lat[lo[i]:hi[i]], st["lon"].iat[i],
                        st["lat"].iat[i])
        near[i] = np.median(d) < 3000
    assert len(st) > 1000
    assert (n > 0).mean() >= 0.99, f"stays without events: {(n == 0).mean():.3%}"
    assert near.mean() >= 0.97, f"stays served by far cells: {1 - near.mean():.3%}"
    # and the generator is not trivially dense: fewer than 40 events per stay-hour
    assert np.median(n / (st["duration_s"] / 3600)) < 40


def test_population_truth(truth):
    pop = truth["population"]
    persons = truth["persons"]
    county = pop[pop["level"] == "county"].set_index("unit_id")
    town = pop[pop["level"] == "township"]
    # official population counts every resident, with or without a card of this operator
    assert (county["resident_population"] >= county["sample_residents"]).all()
    assert county["resident_population"].sum() > county["sample_residents"].sum()
    residents = persons[(persons["pop_class"] == "resident")
                        & persons["kind"].str.startswith("resident")]
    assert county["resident_population"].sum() == len(residents)
    # levels add up
    by_parent = town.groupby("parent_id")["resident_population"].sum()
    assert (by_parent.reindex(county.index, fill_value=0) == county["resident_population"]).all()
    # the market share is the same in every township: official = sample / share (rounded)
    share = truth["market_share"]
    scale = (1 - share) / share
    expect = town["sample_residents"] + (town["sample_residents"] * scale).round()
    assert (town["resident_population"] == expect).all(), town
    assert (town["resident_population"] >= 1000).any()  # the ±15 % check has townships


def test_cards_persons_and_classes(truth):
    cards, persons = truth["cards"], truth["persons"]
    assert cards["user_id"].is_unique
    assert cards["user_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    human = cards[cards["is_human"]]
    per_person = human.groupby("person_id").size()
    assert set(per_person.unique()) <= {1, 2}
    assert 1.03 < len(human) / per_person.size < 1.2  # ≈ 1.1 cards per person
    machines = cards[~cards["is_human"]]
    assert (machines["person_id"] == -1).all()
    assert (machines["pop_class"] == "non_human").all()
    assert machines["kind"].value_counts().to_dict() == {"iot_static": 12, "iot_tracker": 8,
                                                          "heavy": 1}
    # about a third of IoT cards do not reveal themselves by TAC
    assert 0 < machines["tac"].isin(["86371701", "86431702", "35925603", "86997604",
                                     "86200501"]).sum() < len(machines)
    sample = persons[persons["in_sample"]]
    classes = sample["pop_class"].value_counts()
    assert set(classes.index) == {"resident", "short_term", "visitor", "transit"}
    st = sample[sample["pop_class"] == "short_term"]
    rules = CITY_RULES["population"]  # the thresholds the city was generated with
    assert st["days_present"].between(rules["short_term_min_days"],
                                      rules["resident_min_days"] - 1).all()
    resident_days = sample.loc[sample["pop_class"] == "resident", "days_present"]
    assert (resident_days >= rules["resident_min_days"]).all()
    workers = sample[sample["is_worker"]]
    d = haversine_m(workers["home_lon"], workers["home_lat"], workers["work_lon"],
                    workers["work_lat"])
    assert (d >= 900).all()


def test_faults_are_injected_and_labelled(truth):
    ev = truth["events"]
    counts = ev["label"].value_counts()
    for reason in ("unparseable_time", "time_outside_day", "empty_user_id",
                   "oversized_user_id", "unknown_cell"):
        assert counts.get(f"malformed:{reason}", 0) >= 20, reason
    assert counts["normal"] / len(ev) > 0.9
    raw_cols = ["user_id", "event_time", "cell_id", "event_type", "imei_tac", "home_region",
                "dt"]
    # every duplicate is an exact copy of another row
    dups = ev[ev["label"] == "duplicate"][raw_cols]
    orig = ev[ev["label"] != "duplicate"][raw_cols]
    merged = dups.merge(orig.drop_duplicates(), on=raw_cols, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    # ping-pong: A -> B -> A within 3 minutes around each injected B
    ok = ev[~ev["label"].str.startswith("malformed") & (ev["label"] != "duplicate")].copy()
    ok["t"] = seconds(ok["event_time"], truth["start"])
    ok = ok.sort_values(["user_id", "t"]).reset_index(drop=True)
    same_prev = ok["user_id"].eq(ok["user_id"].shift())
    same_next = ok["user_id"].eq(ok["user_id"].shift(-1))
    pp = ok.index[(ok["label"] == "pingpong") & same_prev & same_next]
    aba = ((ok["cell_id"].shift().loc[pp] == ok["cell_id"].shift(-1).loc[pp])
           & (ok["cell_id"].loc[pp] != ok["cell_id"].shift().loc[pp])
           & ((ok["t"].shift(-1) - ok["t"].shift()).loc[pp] <= 180))
    # a few are interleaved with other events of the same burst (still A..B..A in time)
    assert len(pp) > 100 and aba.mean() >= 0.85
    # drift: implied speed above 120 km/h to both neighbours
    pos = truth["cells"].groupby("cell_id")[["true_lon", "true_lat"]].mean()
    lon = ok["cell_id"].map(pos["true_lon"])
    lat = ok["cell_id"].map(pos["true_lat"])
    dr = ok.index[(ok["label"] == "drift") & same_prev & same_next]
    v_prev = haversine_m(lon.loc[dr], lat.loc[dr], lon.shift().loc[dr], lat.shift().loc[dr]) \
        / np.maximum((ok["t"] - ok["t"].shift()).loc[dr], 1) * 3.6
    v_next = haversine_m(lon.loc[dr], lat.loc[dr], lon.shift(-1).loc[dr],
                         lat.shift(-1).loc[dr]) \
        / np.maximum((ok["t"].shift(-1) - ok["t"]).loc[dr], 1) * 3.6
    assert len(dr) > 50
    assert ((v_prev > 120) & (v_next > 120)).mean() >= 0.95


def test_raw_files_match_truth_and_contract(city, truth, spark):
    res, cfg = city
    raw = spark.read.option("header", True).csv(str(cfg.path("raw_events")))
    assert sorted(raw.columns) == sorted(["user_id", "event_time", "cell_id", "event_type",
                                          "imei_tac", "home_region", "dt"])
    assert raw.count() == len(truth["events"])
    ev = truth["events"]
    good = ev[ev["label"].isin(["normal", "pingpong", "drift", "duplicate"])]
    # the day folder is the local date of the event, except injected late rows
    assert (good["event_time"].str[:10] == good["dt"]).all()
    late = ev[ev["label"] == "malformed:time_outside_day"]
    assert (late["event_time"].str[:10] != late["dt"]).all()
    assert good["event_time"].str.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})?").all()
    # events use cells valid on their date; unknown cells only where labelled
    cells = truth["cells"]
    known = set(cells["cell_id"])
    assert good["cell_id"].isin(known).all()
    assert not ev.loc[ev["label"] == "malformed:unknown_cell", "cell_id"].isin(known).any()
    # every event's cell has a version valid on the event's date
    ver = cells[["cell_id"]].assign(vf=pd.to_datetime(cells["valid_from"]),
                                    vt=pd.to_datetime(cells["valid_to"]))
    ev_days = good[["cell_id"]].assign(day=pd.to_datetime(good["event_time"].str[:10]))
    ev_days = ev_days.drop_duplicates().reset_index(drop=True)
    m = ev_days.reset_index().merge(ver, on="cell_id", how="left")
    m["ok"] = (m["vf"].isna() | (m["day"] >= m["vf"])) & (m["vt"].isna() | (m["day"] <= m["vt"]))
    assert m.groupby("index")["ok"].any().all()
    # mid-period cell changes exist: new ids, relocations, retirements
    assert cells["valid_from"].notna().sum() >= 10 and cells["valid_to"].notna().sum() >= 20
    assert cells["cell_id"].duplicated().sum() >= 3


def test_cell_coordinates_convert_back_to_truth(city):
    res, _ = city
    raw = pd.read_csv(res.out / "raw/cells/cells.csv")
    tr = pd.read_csv(res.out / "truth/cells.csv")
    assert set(raw["coord_sys"]) == {"wgs84", "gcj02", "bd09"}
    lon, lat = to_cgcs2000(raw["lon"].to_numpy(), raw["lat"].to_numpy(),
                           raw["coord_sys"].to_numpy())
    err = haversine_m(lon, lat, tr["true_lon"].to_numpy(), tr["true_lat"].to_numpy())
    assert err.max() < 0.1  # 7 decimals written
    raw_gcj = raw["coord_sys"] == "gcj02"
    off = haversine_m(raw.loc[raw_gcj, "lon"], raw.loc[raw_gcj, "lat"],
                      tr.loc[raw_gcj, "true_lon"], tr.loc[raw_gcj, "true_lat"])
    assert off.min() > 50  # the GCJ offset is really applied


def test_holiday_calendar_shapes_the_schedule(truth):
    st = truth["stays"]
    work = st[st["place"] == "work"]
    by_day = pd.to_datetime(work["stay_start"]).dt.date.value_counts()
    thursday, holiday = dt.date(2026, 6, 18), dt.date(2026, 6, 19)  # 端午节 (Fri)
    assert by_day.get(thursday, 0) > 30
    assert by_day.get(holiday, 0) == 0


def test_units_tile_and_sedona_spatial_join(city, spark):
    """Sedona: load the unit layers, ST_Transform to metres, spatial join cells to units."""
    from mobsig.io.units import read_units_layer

    res, cfg = city
    layers = [read_units_layer(spark, p) for p in cfg.paths_list("units")]
    counties, towns, cities, zones, facilities, land, parcels = layers
    # screen_idle_land's supplied parcels (mobsig.synth.screens): two idle, two active,
    # one not yet due, each with its supply and agreed start dates
    got = parcels.selectExpr("level", "unit_id", "get_json_object(attributes, "
                             "'$.start_date') AS start").toPandas()
    assert set(got["level"]) == {"supplied_parcel"} and len(got) == 5
    assert (got["start"] > res.days[0].isoformat()).sum() == 1  # P-NEW-01 not yet due
    # land_use_intensity's parcels (mobsig.synth.land_use), each with its class
    assert {(r["level"], r["unit_id"][:4]) for r in land.selectExpr(
        "level", "get_json_object(attributes, '$.land_use') AS unit_id").collect()} == {
        ("land_parcel", c) for c in ("resi", "comm", "indu", "gree")}
    # six districts of the main city and three counties of its satellite (卫城市)
    assert counties.count() == 9 and towns.count() >= 24 + 6
    assert {r["unit_id"] for r in cities.collect()} == {"990100", "990200"}
    assert {r["level"] for r in zones.collect()} == {"farmland", "reserve_core",
                                                     "hazard_point", "park"}
    # service_population's zones: the facility layer the generated config names
    assert cfg.service_population.zones == ("facility",)
    fac = facilities.selectExpr("level", "get_json_object(attributes, '$.kind') AS kind",
                                "ST_Area(ST_Transform(geometry, 'EPSG:4490', 'EPSG:4527')) "
                                "AS area").collect()
    assert {(r["level"], r["kind"]) for r in fac} == {
        ("facility", k) for k in ("cbd", "hub", "park", "heritage")}
    assert all(0.5e6 < r["area"] < 8e6 for r in fac), fac
    area = lambda df: df.selectExpr(  # noqa: E731
        "unit_id", "get_json_object(attributes, '$.parent_id') AS parent_id",
        "ST_Area(ST_Transform(geometry, 'EPSG:4490', 'EPSG:4527')) AS area")
    c = {r["unit_id"]: r["area"] for r in area(counties).collect()}
    t = area(towns).groupBy("parent_id").sum("area").collect()
    for r in t:
        assert abs(r["sum(area)"] / c[r["parent_id"]] - 1) < 1e-3
    truth = pd.read_csv(res.out / "truth/cells.csv", dtype={"admin_code": str})
    pts = spark.createDataFrame(truth[["cell_id", "true_lon", "true_lat", "admin_code"]]) \
        .selectExpr("cell_id", "admin_code", "ST_Point(true_lon, true_lat) AS geom")
    pts.createOrReplaceTempView("pts")
    counties.createOrReplaceTempView("counties")
    joined = spark.sql("""SELECT p.cell_id, p.admin_code, c.unit_id FROM pts p
                          JOIN counties c ON ST_Contains(c.geometry, p.geom)""").toPandas()
    assert len(joined) >= 0.999 * len(truth)
    assert (joined["admin_code"] == joined["unit_id"]).mean() >= 0.999


def test_village_homes_lie_on_their_residential_land(city, truth):
    """The villages' residential land (reference/residential_land.geojson, the config's
    paths.residential_land; mobsig.synth.land_use.village_land; home_work places homes
    among km-spaced sites on it): one disc per village, disjoint, none in the land-use
    layer of the reporting parcels, holding >= 90 % of the sample's village homes (the
    homes beyond the inner ring, 10 km, of the main city; ~96 % by construction)."""
    import json

    import shapely

    res, cfg = city
    assert cfg.paths.residential_land == "reference/residential_land.geojson"
    feats = json.loads(cfg.path("residential_land").read_text("utf-8"))["features"]
    geom = [shapely.geometry.shape(f["geometry"]) for f in feats]
    assert [f["properties"]["unit_id"] for f in feats] == [f"LU-V-{i:02d}" for i in
                                                           range(1, 9)]
    land = shapely.union_all(geom)
    assert abs(shapely.area(land) - sum(shapely.area(g) for g in geom)) < 1e-12
    parcels = json.loads((res.out / "units/land_use.geojson").read_text("utf-8"))["features"]
    assert not any(f["properties"]["unit_id"].startswith("LU-V") for f in parcels)
    # the village homes: residents of the main city within 1.5 km of a village's land
    # (4 x their spread; the day visitors and planted persons beyond the inner ring live
    # elsewhere)
    p = truth["persons"]
    p = p[p["in_sample"] & ~p["is_satellite"].astype(bool)
          & p["kind"].isin(["resident_worker", "resident_nonworker"])]
    lon, lat = p["home_lon"].to_numpy(float), p["home_lat"].to_numpy(float)
    centres = [g.centroid for g in geom]
    near = np.min([haversine_m(lon, lat, c.x, c.y) for c in centres], axis=0) < 1_500
    inside = shapely.contains_xy(land, lon[near], lat[near])
    assert near.sum() >= 15 and inside.mean() >= 0.9, (near.sum(), inside.mean())


def test_generation_is_deterministic_and_partition_independent(spark, tmp_path):
    from mobsig.synth.generate import generate
    from tests.conftest import make_config

    rows = []
    for parts in (1, 3):
        out = tmp_path / f"c{parts}"
        cfg = make_config(out, synth={"people": 40, "days": 2, "iot_cards": 3})
        generate(spark, cfg, out, partitions=parts)
        df = spark.read.option("header", True).csv(str(out / "raw/events"))
        rows.append(sorted(tuple("" if v is None else str(v) for v in r) for r in df.collect()))
    assert len(rows[0]) > 5000
    assert rows[0] == rows[1]
    assert re.fullmatch(r"[0-9a-f]{32}", rows[0][0][0]) or rows[0][0][0] == ""


def test_real_county_towns_put_homes_where_the_network_is_dense():
    """A city in real counties (mobsig.synth.real): a county lying wholly in the sparse
    periphery gets a town with sites 500 m apart and its homes are in it, near a site; a
    county with a part of the inner disk keeps homes there; a periphery sliver too small
    for a town keeps the uniform spread."""
    import shapely
    from scipy.spatial import cKDTree

    from mobsig.synth import real
    from mobsig.synth.city import CITY_R, INNER_R

    units = pd.DataFrame({
        "unit_id": ["A", "B", "C"],
        # A: the western half of the inner disk and its periphery; B: a box of the eastern
        # periphery (12-20 km east, 8 km tall); C: a 3 x 4 km box in the periphery
        "geometry": [shapely.box(-CITY_R, -CITY_R, 0.0, CITY_R),
                     shapely.box(12_000.0, -4_000.0, 20_000.0, 4_000.0),
                     shapely.box(13_000.0, 8_000.0, 16_000.0, 12_000.0)]})
    town = real.towns(units, INNER_R, CITY_R)
    assert list(town["unit_id"]) == ["A", "B"]  # C's 12 km2 are below TOWN_MIN_KM2
    b = town.set_index("unit_id").loc["B"]
    assert shapely.contains_xy(units["geometry"][1], b["x"], b["y"])
    sites, cells = real.town_network(7, town, first_site_idx=100)
    assert (sites["site_idx"].to_numpy() == 100 + np.arange(len(sites))).all()
    assert (sites["ring"] == "town").all() and len(cells) == 3 * len(sites)
    assert cells["cell_id"].is_unique and set(cells["site_idx"]) == set(sites["site_idx"])
    settled = shapely.union_all([shapely.Point(0, 0).buffer(INNER_R),
                                 *town["geometry"]])
    rng = np.random.default_rng(1)
    pts, which = real.home_points(rng, 600, units, np.array([2.0, 2.0, 1.0]), CITY_R,
                                  settled)
    r = np.hypot(pts[:, 0], pts[:, 1])
    in_b = which == 1
    # B's homes: all in its town, within ~300 m of a town site (hexagons of 500 m)
    assert np.hypot(pts[in_b, 0] - b["x"], pts[in_b, 1] - b["y"]).max() <= real.TOWN_R_M
    d, _ = cKDTree(sites[["x", "y"]].to_numpy()).query(pts[in_b])
    assert d.max() <= 450.0, d.max()
    # A's homes: in the inner disk or its town, none elsewhere in the periphery
    a = town.set_index("unit_id").loc["A"]
    far_a = (which == 0) & (r > INNER_R)
    assert np.hypot(pts[far_a, 0] - a["x"], pts[far_a, 1] - a["y"]).max() <= real.TOWN_R_M
    # C (no town, no inner part): uniform in its box, as before
    assert shapely.contains_xy(units["geometry"][2], pts[which == 2, 0],
                               pts[which == 2, 1]).all()
    assert np.bincount(which).tolist() == [240, 240, 120]
