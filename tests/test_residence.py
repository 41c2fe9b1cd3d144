"""Home/work and population classes (mobsig.residence, jobs/home_work).

Integration tests run on the synthetic city through the real pipeline (conftest ``chain``:
ingest -> clean_stays -> flag_users -> home_work).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from mobsig.config import HomeWorkConfig, PopulationConfig
from mobsig.errors import ConfigError
from mobsig.io.catalog import Catalog
from tests.factories import materialized

MONTH = dt.date(2026, 6, 1)


def city_warehouse(spark, chain):
    """The config and home_work summary of the shared pipeline run (conftest ``chain``)."""
    _, cfg, runs = chain
    return cfg, runs.of("home_work", month=MONTH).facts


def dist_m(lon1, lat1, lon2, lat2):
    r1, r2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((r2 - r1) / 2) ** 2
         + np.cos(r1) * np.cos(r2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.minimum(a, 1)))


@pytest.fixture(scope="module")
def built(spark, chain):
    cfg, summary = city_warehouse(spark, chain)
    res = chain[0]
    hw = Catalog(spark, cfg.warehouse).read("home_work", month="2026-06").toPandas()
    persons = pd.read_parquet(res.out / "truth/persons.parquet")
    cards = pd.read_parquet(res.out / "truth/cards.parquet")
    return cfg, summary, hw, persons, cards


# --------------------------------------------------------------------------------------
# integration: the synthetic city


def test_home_within_500m_for_true_residents(built):
    _, _, hw, persons, cards = built
    true_res = persons[persons["in_sample"] & persons["pop_class"].eq("resident")]
    prim = cards[cards["card_kind"].eq("primary")][["user_id", "person_id"]]
    m = true_res.merge(prim, on="person_id").merge(hw, on="user_id", how="left",
                                                    suffixes=("_true", ""))
    d = dist_m(m["home_lon_true"], m["home_lat_true"], m["home_lon"], m["home_lat"])
    ok = np.nan_to_num(d, nan=np.inf) <= 500
    share = float(np.mean(ok))
    assert len(m) >= 100
    # Issue 18's target: >= 95 % overall (measured 98.1 % of 157: 100 % in the core and
    # inner ring, 87.5 % of the 16 homes where sites are 1.5-3 km apart, many of them omni
    # masts, placed on their village's residential land; stays at the cells' service
    # points, homes re-centred among neighbouring sites and pulled half-way to the
    # order-2 Voronoi piece of their two sites; 96.2 % without the residential land,
    # 68.8 % of those 16; 93.6 % without the pull, 43.8 % of those 16).
    city = dist_m(m["home_lon_true"], m["home_lat_true"], 104.06, 30.66) < 10_000
    inner = float(np.mean(ok[city]))
    assert inner >= 0.95, f"home within 500 m for {inner:.1%} of {city.sum()} urban residents"
    assert share >= 0.95, f"home within 500 m for {share:.1%} of {len(m)} true residents"


def test_homes_among_km_spaced_sites_are_placed_on_residential_land(spark, built):
    """The city's village homes, where sites are >= 1.5 km apart: placed on the villages'
    residential land (paths.residential_land; mobsig.settlement, home_position
    residential_land) and within 500 m for >= 80 % of them (87.5 % of 16; 68.8 % with the
    refined position alone, before 2026-12-07; README, Homes on residential land); no
    home where sites are denser is moved."""
    from mobsig.synth import evaluate as ev

    cfg, summary, hw, persons, cards = built
    sites = Catalog(spark, cfg.warehouse).read("cells").select(
        "lon", "lat", "spacing_m").toPandas()
    acc = ev.home_work_accuracy(hw, persons, cards, (cfg.synth.center_lon,
                                                     cfg.synth.center_lat), sites=sites)
    sparse = [v for k, v in acc["home_within_500m_by_spacing"].items()
              if k in ("1.5-3 km", "≥ 3 km")]
    n = sum(v["residents"] for v in sparse)
    ok = sum(v["residents"] * v["home_within_500m"] for v in sparse) / n
    assert n >= 10 and ok >= 0.8, acc["home_within_500m_by_spacing"]
    assert summary["residential_land_polygons"] == 8  # the villages' (paths.residential_land)
    moved = hw[hw["home_position"].eq("residential_land")]
    assert summary["homes_on_residential_land"] == moved["is_counted"].sum() >= 10
    assert set(hw.loc[hw["home_lon"].notna(), "home_position"]) == {"stays",
                                                                    "residential_land"}
    assert hw.loc[hw["home_lon"].isna(), "home_position"].isna().all()
    near = ev._nearest_spacing(sites, moved["home_lon"].to_numpy(float),
                               moved["home_lat"].to_numpy(float))
    assert (near >= 1000).all(), near  # moved only where sites are km apart


def test_work_within_500m_for_true_workers(built):
    _, _, hw, persons, cards = built
    workers = persons[persons["in_sample"] & persons["is_worker"].eq(True)]
    prim = cards[cards["card_kind"].eq("primary")][["user_id", "person_id"]]
    m = workers.merge(prim, on="person_id").merge(hw, on="user_id", how="left",
                                                   suffixes=("_true", ""))
    d = dist_m(m["work_lon_true"], m["work_lat_true"], m["work_lon"], m["work_lat"])
    share = float(np.mean(np.nan_to_num(d, nan=np.inf) <= 500))
    assert len(m) >= 60
    assert share >= 0.85, f"work within 500 m for {share:.1%} of {len(m)} true workers"
    # non-workers rarely get a workplace
    nonw = persons[persons["kind"].eq("resident_nonworker")].merge(prim, on="person_id")
    nonw = nonw.merge(hw, on="user_id", suffixes=("_true", ""))
    assert nonw["work_lon"].notna().mean() <= 0.10


def test_population_class_accuracy_per_class(built):
    _, _, hw, persons, cards = built
    c = cards[["user_id", "person_id", "pop_class", "card_kind", "is_human"]].merge(
        hw[["user_id", "pop_class", "is_counted"]], on="user_id", how="left",
        suffixes=("_true", ""))
    # every card of the month has a row, nothing silently dropped
    assert c["pop_class"].notna().all(), c[c["pop_class"].isna()]
    assert len(hw) == len(cards)
    for cls, grp in c.groupby("pop_class_true"):
        acc = float((grp["pop_class"] == cls).mean())
        assert acc >= 0.95, f"class {cls}: accuracy {acc:.1%} over {len(grp)} cards"
    # non-human cards are never counted; a person with one card is counted once; of the
    # cards of a detected multi-card group exactly one is counted
    assert not c.loc[~c["is_human"], "is_counted"].any()
    single = c[c["is_human"]].groupby("person_id").filter(lambda g: len(g) == 1)
    assert single["is_counted"].all()
    grouped = hw.dropna(subset=["multicard_group"])
    assert (grouped.groupby("multicard_group")["is_counted"].sum() == 1).all()
    per_person = c[c["is_human"]].groupby("person_id")["is_counted"].sum()
    assert (per_person >= 1).all() and (per_person <= 2).all()


def test_unidentified_home_has_reason(built):
    _, summary, hw, _, _ = built
    # the home identification gate passed on the city: nearly every long-present card
    assert summary["home_share"] >= 0.9
    no_home = hw[hw["home_lon"].isna()]
    assert len(no_home) > 0
    assert no_home["home_reason"].notna().all()
    assert hw.loc[hw["home_lon"].notna(), "home_reason"].isna().all()
    assert set(hw.loc[hw["pop_class"].eq("non_human"), "home_reason"]) == {"non_human"}


# --------------------------------------------------------------------------------------
# unit: tiny hand-built stays


def _stays(spark, rows):
    """rows: (user, 'YYYY-MM-DD HH:MM', 'YYYY-MM-DD HH:MM', lon, lat)."""
    from mobsig import residence

    df = spark.createDataFrame(rows, "user_id string, s string, e string, lon double, "
                                     "lat double")
    df = df.select("user_id", F.to_timestamp("s").alias("stay_start"),
                   F.to_timestamp("e").alias("stay_end"), "lon", "lat")
    return df.transform(residence.with_place_cell, 9)


def test_night_pieces_key_by_evening_and_clip_month(spark):
    from mobsig import residence

    st = _stays(spark, [
        ("u", "2026-06-30 20:00", "2026-07-01 08:00", 104.0, 30.0),  # June 30 night
        ("u", "2026-05-31 22:00", "2026-06-01 06:00", 104.0, 30.0),  # May night: not June
        ("u", "2026-06-10 02:00", "2026-06-10 03:00", 104.0, 30.0),  # night of June 9
    ])
    got = {(str(r["key_date"]), r["overlap_s"]) for r in
           residence.night_pieces(st, MONTH, 21, 7).collect()}
    assert got == {("2026-06-30", 10 * 3600), ("2026-06-09", 3600)}
    days = {(str(r["key_date"]), r["overlap_s"]) for r in
            residence.day_pieces(st, MONTH).collect()}
    # the May night adds 6 h on June 1; the June 30 night is clipped at midnight
    assert days == {("2026-06-30", 4 * 3600), ("2026-06-01", 6 * 3600),
                    ("2026-06-10", 3600)}


def test_home_work_rules_on_tiny_frames(spark):
    from mobsig import residence

    hw = HomeWorkConfig(home_min_nights=3, work_min_days=3)
    pop = PopulationConfig(resident_min_days=5, short_term_min_days=3)
    home, work, near = (104.0, 30.0), (104.05, 30.0), (104.001, 30.0)  # work ~4.8 km away
    rows = []
    for d in range(1, 9):  # June 1-8 2026: Mon..Mon
        day = f"2026-06-{d:02d}"
        nxt = f"2026-06-{d + 1:02d}"
        rows.append(("worker", f"{day} 19:00", f"{nxt} 08:00", *home))
        if dt.date(2026, 6, d).weekday() < 5:
            rows.append(("worker", f"{day} 08:30", f"{day} 17:30", *work))
        # home-maker: nights at home, days next door (within 500 m): no workplace
        rows.append(("homebody", f"{day} 19:00", f"{nxt} 08:00", *home))
        rows.append(("homebody", f"{day} 09:00", f"{day} 17:00", *near))
    # night-shift: 5+ days present but nights elsewhere each time -> unidentified
    for d in range(1, 8):
        rows.append(("nomad", f"2026-06-{d:02d} 22:00", f"2026-06-{d + 1:02d} 06:00",
                     104.0 + 0.02 * d, 30.1))
    rows.append(("short", "2026-06-03 10:00", "2026-06-03 18:00", 104.2, 30.2))
    rows.append(("short", "2026-06-04 10:00", "2026-06-04 18:00", 104.2, 30.2))
    rows.append(("short", "2026-06-05 21:00", "2026-06-06 07:00", 104.3, 30.3))
    rows.append(("passer", "2026-06-03 10:00", "2026-06-03 11:00", 104.2, 30.2))
    st = _stays(spark, rows)
    workdays = [dt.date(2026, 6, d) for d in range(1, 31) if dt.date(2026, 6, d).weekday() < 5]
    flags = spark.createDataFrame(
        [("ghost", False, True, None), ("passer", False, True, None),
         ("meter", True, True, None)],
        "user_id string, is_non_human boolean, is_group_primary boolean, "
        "multicard_group string")
    out = residence.home_work_table(
        residence.day_pieces(st, MONTH), residence.night_pieces(st, MONTH, 21, 7),
        residence.work_pieces(st, MONTH, workdays, 9, 17), flags, hw, pop, workdays,
        "2026-06", 9)
    got = {r["user_id"]: r.asDict() for r in out.collect()}
    assert set(got) == {"worker", "homebody", "nomad", "short", "passer", "ghost", "meter"}
    w = got["worker"]
    assert w["pop_class"] == "resident" and w["home_reason"] is None
    assert math.isclose(w["home_lon"], 104.0, abs_tol=1e-9)
    assert math.isclose(w["work_lon"], 104.05, abs_tol=1e-9) and w["days_at_work"] == 6
    assert w["nights_at_home"] == 8 and w["nights_observed"] == 8
    assert w["days_present"] == 9  # June 1-9 (the last night ends on the 9th)
    assert got["homebody"]["work_lon"] is None
    assert got["homebody"]["work_reason"] == "all_near_home"
    assert got["nomad"]["pop_class"] == "unidentified"
    assert got["nomad"]["home_reason"] == "few_nights"
    s = got["short"]
    assert s["pop_class"] == "short_term" and s["days_present"] == 4
    assert (s["night_lon"], s["night_lat"]) == (104.3, 30.3)  # the longest night stay
    assert got["passer"]["pop_class"] == "transit"
    assert got["ghost"]["pop_class"] == "transit" and got["ghost"]["stay_h"] == 0.0
    assert got["meter"]["pop_class"] == "non_human" and not got["meter"]["is_counted"]
    assert got["worker"]["is_counted"]
    assert got["worker"]["home_h3"] is not None and len(got["worker"]["home_h3"]) == 15


def test_home_needs_enough_night_share(spark):
    from mobsig import residence

    rows = []
    for d in range(1, 21):  # 20 nights: 11 at A, 9 at B -> 55 % at A
        lon = 104.0 if d <= 11 else 104.1
        rows.append(("u", f"2026-06-{d:02d} 22:00", f"2026-06-{d + 1:02d} 06:00", lon, 30.0))
    st = _stays(spark, rows)
    nights = residence.night_pieces(st, MONTH, 21, 7)
    ok = residence.identify_home(nights, 1, 10, 0.5).collect()[0]
    assert ok["home_reason"] is None and math.isclose(ok["home_lon"], 104.0)
    low = residence.identify_home(nights, 1, 10, 0.6).collect()[0]
    assert low["home_reason"] == "low_night_share" and low["home_lon"] is None


def test_home_between_neighbouring_sparse_sites_is_refined(spark):
    """Where sites are 2 km apart one home's nights are served by two sites; the home place
    (the nearer site, most nights) is re-centred on all nights within 1.5 x the spacing."""
    from mobsig import residence

    a, b = (104.0, 30.0), (104.0207, 30.0)  # ~2 km apart (east)
    far = (104.2, 30.0)  # 19 km away: a night elsewhere, never averaged in
    rows = []
    for d in range(1, 13):
        day, nxt = f"2026-06-{d:02d}", f"2026-06-{d + 1:02d}"
        site = b if d % 3 == 0 else a  # 8 nights at a, 4 at b
        rows.append(("u", f"{day} 21:00", f"{nxt} 07:00", *site))
    rows.append(("u", "2026-06-20 21:00", "2026-06-21 07:00", *far))
    st = _stays(spark, rows).withColumn("spacing_m", F.lit(2000.0))
    nights = residence.night_pieces(st, MONTH, 21, 7)
    plain = residence.identify_home(nights, 1, 5, 0.5).collect()[0]
    refined = residence.identify_home(nights, 1, 5, 0.5, 1.5, 500.0).collect()[0]
    assert plain["nights_at_home"] == refined["nights_at_home"] == 8
    assert (plain["home_lon"], plain["home_lat"]) == pytest.approx(a)
    # 8 nights at a and 4 at b: a third of the way to b; the far night is not included
    assert refined["home_lon"] == pytest.approx(a[0] + (b[0] - a[0]) / 3, abs=1e-6)
    assert refined["home_lat"] == pytest.approx(30.0)
    # without spacing (unknown cells) only the floor radius applies: no re-centring
    st0 = _stays(spark, rows)
    alone = residence.identify_home(residence.night_pieces(st0, MONTH, 21, 7), 1, 5, 0.5,
                                    1.5, 500.0).collect()[0]
    assert alone["home_lon"] == pytest.approx(a[0])


def test_home_is_pulled_towards_the_piece_of_its_two_sites(spark):
    """Omni masts on a 2 km lattice: a home 10 nights at A and 2 at its neighbour B 2 km
    east. The weighted mean says a sixth of the way to B (333 m); the order-2 Voronoi
    piece of (A, B) is centred a third of the way (667 m); home_voronoi_weight 0.5 puts
    the home half-way between: a quarter of the way (500 m). A card whose second site is
    not a neighbour of the first (4 km apart, a site between them) and a card seen at one
    site only keep the weighted mean; so does every card with the weight 0."""
    from pyproj import Transformer

    from mobsig import residence
    from mobsig.cells import SITE_EDGE_COLUMNS, site_edges
    from mobsig.config import RunConfig

    crs = RunConfig().metric_crs
    ii, jj = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4))
    x0, y0 = 400_000.0, 3_300_000.0  # a lattice around (x0, y0) in the metric CRS
    gx = x0 + ((ii + 0.5 * (jj % 2)) * 2000.0).ravel()
    gy = y0 + (jj * 2000.0 * np.sqrt(3) / 2).ravel()
    to_ll = Transformer.from_crs(crs, "EPSG:4490", always_xy=True)
    sites = {"A": (x0, y0), "B": (x0 + 2000.0, y0), "C": (x0 + 4000.0, y0)}
    ll = {k: to_ll.transform(*v) for k, v in sites.items()}
    rows = []
    for d in range(1, 13):
        day, nxt = f"2026-06-{d:02d}", f"2026-06-{d + 1:02d}"
        for user, far in (("pair", "B"), ("apart", "C")):
            s = far if d in (3, 9) else "A"
            rows.append((user, f"{day} 21:00", f"{nxt} 07:00", *ll[s], *sites[s]))
        rows.append(("one", f"{day} 21:00", f"{nxt} 07:00", *ll["A"], *sites["A"]))
    df = spark.createDataFrame(rows, "user_id string, s string, e string, lon double, "
                                     "lat double, site_x double, site_y double")
    st = (df.select("user_id", F.to_timestamp("s").alias("stay_start"),
                    F.to_timestamp("e").alias("stay_end"), "lon", "lat", "site_x", "site_y",
                    F.lit(None).cast("double").alias("azimuth"),
                    F.lit(2000.0).alias("spacing_m"))
          .transform(residence.with_place_cell, 9))
    nights = residence.night_pieces(st, MONTH, 21, 7)
    edges = spark.createDataFrame(site_edges(gx, gy, 5.0),
                                  ", ".join(f"{c} double" for c in SITE_EDGE_COLUMNS))

    def homes(weight):
        v = residence.Voronoi(edges, weight, 120.0, crs)
        out = residence.identify_home(nights, 1, 5, 0.5, 2.5, 500.0, voronoi=v).collect()
        to_m = Transformer.from_crs("EPSG:4490", crs, always_xy=True)
        return {r["user_id"]: np.subtract(to_m.transform(r["home_lon"], r["home_lat"]),
                                          sites["A"]) for r in out}

    plain, pulled = homes(0.0), homes(0.5)
    assert plain["pair"] == pytest.approx((2000.0 / 6, 0.0), abs=2.0)
    assert pulled["pair"] == pytest.approx((500.0, 0.0), abs=2.0)
    assert pulled["apart"] == pytest.approx(plain["apart"], abs=0.01)
    assert plain["apart"] == pytest.approx((4000.0 / 6, 0.0), abs=2.0)
    assert pulled["one"] == pytest.approx((0.0, 0.0), abs=0.01)


def test_work_place_must_be_farther_than_half_the_site_spacing(spark):
    """Masts 3 km apart: a daytime stay served by the next mast (1.2 km from the home's) is
    the same place as the home, not a work place; a stay 2 km away at 3 km spacing, or
    1.2 km away among 1 km-spaced sites, is one (home_work.work_min_home_spacing_factor)."""
    from mobsig import residence

    home = (104.0, 30.0)
    rows = []
    cases = {"rural_near": 104.01245, "rural_far": 104.0208, "urban": 104.01245}
    for user, lon in cases.items():  # work east of home: ~1.2 km, ~2.0 km, ~1.2 km
        for d in range(1, 13):
            day, nxt = f"2026-06-{d:02d}", f"2026-06-{d + 1:02d}"
            rows.append((user, f"{day} 21:00", f"{nxt} 07:00", *home))
            if dt.date(2026, 6, d).weekday() < 5:
                rows.append((user, f"{day} 09:00", f"{day} 17:00", lon, 30.0))
    urban_day = (F.col("user_id") == "urban") & (F.col("lon") > 104.001)
    st = _stays(spark, rows).withColumn(
        "spacing_m", F.when(urban_day, 1000.0).otherwise(3000.0))
    workdays = [dt.date(2026, 6, d) for d in range(1, 31) if dt.date(2026, 6, d).weekday() < 5]
    args = (residence.day_pieces(st, MONTH), residence.night_pieces(st, MONTH, 21, 7),
            residence.work_pieces(st, MONTH, workdays, 9, 17), None)
    pop = PopulationConfig(resident_min_days=5, short_term_min_days=3)
    got = {r["user_id"]: r for r in residence.home_work_table(
        *args, HomeWorkConfig(home_min_nights=5, work_min_days=5, home_voronoi_weight=0.0),
        pop, workdays, "2026-06", 9).collect()}
    assert got["rural_near"]["work_lon"] is None
    assert got["rural_near"]["work_reason"] == "all_near_home"
    assert got["rural_far"]["work_lon"] == pytest.approx(104.0208)
    assert got["urban"]["work_lon"] == pytest.approx(104.01245)
    # factor 0: the 500 m floor alone gives the rural card a work place next door
    off = {r["user_id"]: r for r in residence.home_work_table(
        *args, HomeWorkConfig(home_min_nights=5, work_min_days=5, home_voronoi_weight=0.0,
                              work_min_home_spacing_factor=0.0),
        pop, workdays, "2026-06", 9).collect()}
    assert off["rural_near"]["work_lon"] == pytest.approx(104.01245)


def _june_pieces(st):
    """June 2026's weekdays and the day, night (21-07) and work (9-17) pieces of ``st``,
    materialised."""
    from mobsig import residence

    workdays = [dt.date(2026, 6, d) for d in range(1, 31)
                if dt.date(2026, 6, d).weekday() < 5]
    return workdays, [materialized(p) for p in (
        residence.day_pieces(st, MONTH), residence.night_pieces(st, MONTH, 21, 7),
        residence.work_pieces(st, MONTH, workdays, 9, 17))]


def test_night_shift_worker_gets_day_rest_home_and_night_work(spark):
    """A night-shift card (at W 22:00-06:00 every workday evening, at H 09:00-17:00 every
    day) has its home at H by the day-rest rule and its work at W; an ordinary worker
    (home at night, work by day) and someone working 14 h days with weekends at home keep
    the night rule; so does a day worker whose home's time is split over three places
    ~1.2 km apart (a rural home among masts km apart), each holding less time than W
    over all hours but more on the days off."""
    from mobsig import residence

    hw = HomeWorkConfig(home_min_nights=5, work_min_days=4)
    pop = PopulationConfig(resident_min_days=9, short_term_min_days=3)
    h, w = (104.0, 30.0), (104.05, 30.02)  # ~5.3 km apart
    h2, h3 = (104.012, 30.0), (104.006, 30.0105)  # ~1.2 km from H and from each other
    rows = []
    for d in range(1, 15):  # June 1-14 2026: Mon..Sun twice
        day, nxt = f"2026-06-{d:02d}", f"2026-06-{d + 1:02d}"
        workday = dt.date(2026, 6, d).weekday() < 5
        rows.append(("nightw", f"{day} 09:00", f"{day} 17:00", *h))
        if workday:
            rows.append(("nightw", f"{day} 22:00", f"{nxt} 06:00", *w))
        rows.append(("dayw", f"{day} 19:00", f"{nxt} 08:00", *h))
        if workday:
            rows.append(("dayw", f"{day} 08:30", f"{day} 17:30", *w))
            rows.append(("longday", f"{day} 07:00", f"{day} 21:00", *w))
            rows.append(("longday", f"{day} 21:30", f"{nxt} 06:30", *h))
        else:
            rows.append(("longday", f"{day} 06:30", f"{nxt} 06:30", *h))
        # the split home: H, H2, H3 in turn through each night and each day off
        if workday:
            rows.append(("split", f"{day} 08:00", f"{day} 18:00", *w))
        else:
            bounds = [f"{day} 07:30", f"{day} 11:00", f"{day} 14:30", f"{day} 18:30"]
            rows += [("split", a, b, *p)
                     for a, b, p in zip(bounds[:-1], bounds[1:], (h, h2, h3), strict=True)]
        bounds = [f"{day} 18:30", f"{day} 23:00", f"{nxt} 03:00", f"{nxt} 07:30"]
        rows += [("split", a, b, *p)
                 for a, b, p in zip(bounds[:-1], bounds[1:], (h, h2, h3), strict=True)]
    # the pieces once for both rule settings below
    workdays, pieces = _june_pieces(_stays(spark, rows))

    def table(cfg):
        return {r["user_id"]: r.asDict() for r in residence.home_work_table(
            *pieces, None, cfg, pop, workdays, "2026-06", 9, keep=materialized).collect()}

    got = table(hw)
    n = got["nightw"]
    assert n["home_rule"] == "day_rest" and n["home_reason"] is None
    assert (n["home_lon"], n["home_lat"]) == pytest.approx(h)
    assert (n["work_lon"], n["work_lat"]) == pytest.approx(w)
    assert n["work_reason"] is None and n["pop_class"] == "resident"
    assert n["days_at_work"] == 10  # the ten workday evenings at W
    assert n["nights_at_home"] == 0 and n["nights_observed"] == 10  # never at H by night
    for user in ("dayw", "longday"):
        r = got[user]
        assert r["home_rule"] == "night", user
        assert (r["home_lon"], r["home_lat"]) == pytest.approx(h), user
        assert (r["work_lon"], r["work_lat"]) == pytest.approx(w), user
    assert got["dayw"]["days_at_work"] == 10
    s = got["split"]
    assert s["home_rule"] == "night" and s["home_reason"] is None
    assert min(math.dist((s["home_lon"], s["home_lat"]), p) for p in (h, h2, h3)) < 0.004
    assert (s["work_lon"], s["work_lat"]) == pytest.approx(w)
    # without the days-off test the split home's work place is its rest place: swapped
    homes = {r["user_id"]: r for r in residence.identify_home(
        pieces[1], hw.cluster_ring, hw.home_min_nights, hw.home_min_night_share,
        days=pieces[0], rest_min_ratio=hw.home_day_rest_min_ratio).collect()}
    assert homes["split"]["home_rule"] == "day_rest"
    assert (homes["split"]["home_lon"], homes["split"]["home_lat"]) == pytest.approx(w)
    # the night rule alone (ratio 0) swaps the night-shift worker's home and work
    night_only = table(dataclasses.replace(hw, home_day_rest_min_ratio=0.0))["nightw"]
    assert night_only["home_rule"] == "night"
    assert (night_only["home_lon"], night_only["home_lat"]) == pytest.approx(w)
    assert (night_only["work_lon"], night_only["work_lat"]) == pytest.approx(h)


def test_night_shifts_of_a_rotating_worker_are_work_days(spark):
    """A rotating-shift worker (days at W in week 1, nights at W in week 2 with the morning
    asleep at home) has 5 + 5 work days at W (home_work.work_night_min_h); a card whose
    nights at W are followed by a morning elsewhere, not at home, keeps only its 5
    daytime days (few_days for work_min_days 6), and so does the rotating worker with the
    rule off."""
    from mobsig import residence

    h, w, o = (104.0, 30.0), (104.05, 30.02), (103.95, 30.0)  # W ~5.3 km, O ~4.8 km away
    rows = []
    for d in range(1, 15):  # June 1-14 2026: Mon..Sun twice
        day, nxt = f"2026-06-{d:02d}", f"2026-06-{d + 1:02d}"
        workday = dt.date(2026, 6, d).weekday() < 5
        for user, morning in (("rotating", h), ("elsewhere", o)):
            if d <= 7:  # day-shift week
                rows.append((user, f"{day} 18:00", f"{nxt} 08:00", *h))
                if workday:
                    rows.append((user, f"{day} 08:30", f"{day} 17:30", *w))
            elif workday:  # night-shift week: W 21:30-06:30, then the morning
                rows.append((user, f"{day} 15:00", f"{day} 21:00", *h))
                rows.append((user, f"{day} 21:30", f"{nxt} 06:30", *w))
                rows.append((user, f"{nxt} 07:00", f"{nxt} 14:30", *morning))
            else:
                rows.append((user, f"{day} 15:00", f"{nxt} 06:30", *h))
    st = _stays(spark, rows)
    workdays, pieces = _june_pieces(st)
    mornings = materialized(residence.morning_pieces(st, MONTH, 7))
    pop = PopulationConfig(resident_min_days=9, short_term_min_days=3)

    def table(cfg):
        return {r["user_id"]: r.asDict() for r in residence.home_work_table(
            *pieces, None, cfg, pop, workdays, "2026-06", 9, keep=materialized,
            mornings=mornings).collect()}

    hw = HomeWorkConfig(home_min_nights=5, work_min_days=6)
    got = table(hw)
    r = got["rotating"]
    assert r["home_rule"] == "night" and (r["home_lon"], r["home_lat"]) == pytest.approx(h)
    assert r["work_reason"] is None and r["days_at_work"] == 10
    assert (r["work_lon"], r["work_lat"]) == pytest.approx(w)
    e = got["elsewhere"]
    assert e["home_rule"] == "night" and (e["home_lon"], e["home_lat"]) == pytest.approx(h)
    assert e["work_lon"] is None and e["work_reason"] == "few_days"
    off = table(dataclasses.replace(hw, work_night_min_h=0.0))["rotating"]
    assert off["work_lon"] is None and off["work_reason"] == "few_days"


# --------------------------------------------------------------------------------------
# home_work on a tiny hand-built warehouse: the cells table (site spacing) is required


def _tiny_stays(spark, catalog: Catalog, nights: list[tuple[str, str]]) -> None:
    """Write night stays 21:00-07:00 (user, cell_id) on consecutive June evenings (local
    time: run.timezone)."""
    from zoneinfo import ZoneInfo

    from mobsig import columns as C

    pos = {"A": (104.0, 30.0), "X": (104.01, 30.0)}
    rows = []
    for d, (user, cell) in enumerate(nights, start=1):
        start = dt.datetime(2026, 6, d, 21, tzinfo=ZoneInfo("Asia/Shanghai"))
        end = start + dt.timedelta(hours=10)
        rows.append((user, start, end, 36_000, *pos[cell], cell, "8a2a1072b59ffff", 40,
                     0.0, 0.0, end.date()))
    df = spark.createDataFrame(rows, catalog.schema("stays").struct)
    catalog.write(df, "stays", {C.DT: sorted({r[-1] for r in rows})})


def _tiny_cells(spark, catalog: Catalog) -> None:
    """A cells table holding cell A only (spacing 2 km)."""
    row = ("A", None, None, 104.0, 30.0, 104.0, 30.0, "wgs84", None, 800.0, "4g", False,
           0.0, 0.0, 2000.0, 104.0, 30.0, "510104", "510104", b"\x00")
    catalog.write(spark.createDataFrame([row], catalog.schema("cells").struct), "cells", {})


@pytest.mark.job
def test_home_work_without_cells_table_is_an_input_error(spark, tmp_path):
    from mobsig.errors import InputError
    from mobsig.runner import run
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    catalog = Catalog(spark, cfg.warehouse)
    _tiny_stays(spark, catalog, [("u", "A")] * 6)
    with pytest.raises(InputError, match=r"cells table at .*cells is missing or empty.*"
                                         r"run ingest_cells first"):
        run(spark, cfg, "home_work", month=MONTH)
    assert not catalog.exists("cells")  # the check did not create it empty
    assert not catalog.exists("home_work")
    catalog.ensure("cells")  # an empty table (e.g. created by an older run) is no better
    with pytest.raises(InputError, match="missing or empty"):
        run(spark, cfg, "home_work", month=MONTH)


@pytest.mark.job
def test_home_work_counts_stays_without_spacing(spark, tmp_path, caplog):
    """Stays at cells the cells table lacks fall back to home_refine_min_m: counted in the
    summary and logged as a WARNING, not silent."""
    import logging

    from mobsig.runner import run
    from tests.conftest import make_config

    cfg = make_config(tmp_path, home_work={"home_min_nights": 3},
                      population={"resident_min_days": 5, "short_term_min_days": 3})
    catalog = Catalog(spark, cfg.warehouse)
    _tiny_stays(spark, catalog, [("u", "A")] * 6 + [("u", "X")] * 2 + [("v", "X")] * 4)
    _tiny_cells(spark, catalog)
    with caplog.at_level(logging.WARNING, logger="mobsig.jobs.home_work"):
        got = run(spark, cfg, "home_work", month=MONTH)
    assert got.input_rows["stays"] == 12 and got.facts["stays_without_spacing"] == 6
    assert "6 of 12 stays are at cells missing from the cells table" in caplog.text
    assert "home_refine_min_m = 500 m" in caplog.text
    hw = {r["user_id"]: r for r in catalog.read("home_work", month="2026-06").collect()}
    # u: 6 nights at A (spacing 2 km: X, ~960 m away, is within 1.5 x 2 km and pulls the
    # home 1/4 of the way towards it); v: only X, no spacing, so its home is X itself
    assert hw["u"]["home_lon"] == pytest.approx(104.0 + 0.01 * 2 / 8, abs=1e-6)
    assert hw["v"]["home_lon"] == pytest.approx(104.01, abs=1e-9)


@pytest.mark.job
def test_home_identification_gate_fails_when_few_homes_are_found(spark, tmp_path):
    """Two cards present 6 days: one sleeps at A every night (resident), the other is only
    seen in daytime (no night stays: unidentified). 50 % < min_home_share 80 %: the run
    fails naming the share, before anything is written (the passing gate: the chain's
    home_share in test_unidentified_home_has_reason)."""
    from zoneinfo import ZoneInfo

    from mobsig.errors import DataQualityError
    from mobsig.runner import run
    from tests.conftest import make_config

    cfg = make_config(tmp_path, home_work={"home_min_nights": 3},
                      population={"resident_min_days": 5, "short_term_min_days": 3})
    catalog = Catalog(spark, cfg.warehouse)
    _tiny_stays(spark, catalog, [("u", "A")] * 6)
    tz = ZoneInfo("Asia/Shanghai")
    rows = []
    for d in range(1, 7):
        start = dt.datetime(2026, 6, d, 9, tzinfo=tz)
        end = start + dt.timedelta(hours=6)
        rows.append(("w", start, end, 21_600, 104.0, 30.0, "A", "8a2a1072b59ffff", 40,
                     0.0, 0.0, start.date()))
    day_stays = spark.createDataFrame(rows, catalog.schema("stays").struct)
    old = catalog.read("stays")
    catalog.write(old.unionByName(day_stays), "stays",
                  {"dt": sorted({r[-1] for r in rows} | {r["dt"] for r in old.collect()})})
    _tiny_cells(spark, catalog)
    with pytest.raises(DataQualityError, match=r"an identified home for 50\.0% of the 2 "
                                               r"counted cards present >= 5 days"):
        run(spark, cfg, "home_work", month=MONTH)
    assert not catalog.exists("home_work")


def test_window_days_scale_every_day_count_threshold():
    from mobsig.config import WINDOW_SCALED, build_config

    month = build_config({})
    assert month.for_window() is month
    two = build_config({"run": {"window_days": 2}})
    assert two.scaled_thresholds() == {
        "population.resident_min_days": 2, "population.short_term_min_days": 1,
        "home_work.home_min_nights": 1, "home_work.work_min_days": 1,
        "flags.static_min_days": 3, "flags.multicard_min_days": 2}
    scaled = two.for_window()
    assert (scaled.population.resident_min_days, scaled.flags.multicard_min_days,
            scaled.home_work.work_min_days) == (2, 2, 1)
    assert scaled.population.transit_max_h == month.population.transit_max_h
    fortnight = build_config({"run": {"window_days": 14}}).scaled_thresholds()
    assert fortnight["population.resident_min_days"] == 9  # ceil(18 x 14 / 30)
    assert fortnight["home_work.home_min_nights"] == 5
    full = build_config({"run": {"window_days": 30}})
    assert full.scaled_thresholds() == month.scaled_thresholds()
    assert len(WINDOW_SCALED) == 6
    with pytest.raises(ConfigError, match=r"run.window_days: 1 day cannot tell residents"):
        build_config({"run": {"window_days": 1}})


def test_cli_window_days_is_checked_before_spark(capsys):
    from mobsig.cli import main as cli_main

    assert cli_main(["home_work", "--month", "2026-06", "--window-days", "1"]) == 2
    assert "run.window_days: 1 day cannot tell residents" in capsys.readouterr().err


@pytest.mark.job
def test_two_day_window_makes_a_two_night_card_a_resident(spark, tmp_path):
    """A card seen two nights at home: short-term under the monthly thresholds (present 3
    days >= 3, < 18), a resident with its home under run.window_days = 2; the run keeps
    the window as a fact."""
    from mobsig.runner import run
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    catalog = Catalog(spark, cfg.warehouse)
    _tiny_stays(spark, catalog, [("u", "A")] * 2)
    _tiny_cells(spark, catalog)
    month = run(spark, cfg, "home_work", month=MONTH)
    u = catalog.read("home_work", month="2026-06").where("user_id = 'u'").first()
    assert (u["pop_class"], u["home_lon"]) == ("short_term", None)
    assert "window_days" not in month.facts
    window = run(spark, cfg.replace(run=dataclasses.replace(cfg.run, window_days=2)),
                 "home_work", month=MONTH)
    u = catalog.read("home_work", month="2026-06").where("user_id = 'u'").first()
    assert u["pop_class"] == "resident" and u["home_lon"] == pytest.approx(104.0)
    assert window.facts["window_days"] == 2 and window.facts["home_share"] == 1.0


def test_a_day_visitor_seen_for_hours_is_no_transit(spark):
    """population.transit_max_h (3 h) judges the time a card was in the area: the larger
    of its stays' hours and user_flags.observed_h (the gaps between its events of at most
    flags.observed_gap_cap_h). On the 1,500-person region 7 of 61 day visitors, at
    points of interest for 4-7 h (true stays) whose short visits left 0-2.9 h of stays,
    were classed transit. A card passing through twice a day is seen for minutes and stays
    transit; a card without flags is judged on its stays."""
    from mobsig import residence

    rows = [("visitor_seen", 1.2, 5.5), ("passing", 0.0, 0.7), ("no_flags", 1.0, None),
            ("stayer", 4.0, 0.5)]
    df = spark.createDataFrame(
        [(u, False, s, None, 1, o) for u, s, o in rows],
        "user_id string, is_non_human boolean, stay_h double, home_lon double, "
        "days_present int, observed_h double")
    got = {r["user_id"]: r["pop_class"]
           for r in residence.with_pop_class(df, 5, 3, 3.0).collect()}
    assert got == {"visitor_seen": "visitor", "passing": "transit", "no_flags": "transit",
                   "stayer": "visitor"}
    stays_only = {r["user_id"]: r["pop_class"] for r in residence.with_pop_class(
        df.drop("observed_h"), 5, 3, 3.0).collect()}
    assert stays_only["visitor_seen"] == "transit"
