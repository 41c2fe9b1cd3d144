"""The generator's second profile, ``synth.profile = region`` (mobsig.synth.region): a
CI-size region (40 persons x 3 days, no chain run) and its properties: 3-sector masts at
one published position, sites in GCJ-02 and BD-09, spacing from 150 m to km, night-shift
workers with their truth, second cards with their own timing, sleeping phones, the local
holiday, hotel visitors, shop owners and students. The chain's accuracy on a bigger
region is measured by ``mobsig evaluate`` (README "Accuracy on two profiles")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.spatial import cKDTree

from mobsig.coords import haversine_m, to_cgcs2000
from mobsig.synth import region
from mobsig.synth.timeline import DAY, PLACE_HOME, PLACE_WORK, H, Places, shift_itinerary

pytestmark = pytest.mark.slow

START = dt.date(2026, 6, 1)


@pytest.fixture(scope="module")
def reg(spark, tmp_path_factory):
    from mobsig.synth.generate import generate
    from tests.conftest import make_config

    out = tmp_path_factory.mktemp("region")
    cfg = make_config(out, synth={"people": 40, "days": 3, "iot_cards": 3, "profile": "region",
                                  "start_date": START.isoformat()})
    res = generate(spark, cfg, out)
    t = out / "truth"
    ev = pd.read_parquet(t / "events")
    ev["t"] = pd.to_datetime(ev["event_time"], format="ISO8601", errors="coerce")
    return {"res": res, "out": out, "persons": pd.read_parquet(t / "persons.parquet"),
            "cards": pd.read_parquet(t / "cards.parquet"), "stays": pd.read_parquet(t / "stays"),
            "events": ev[ev["label"].eq("normal") & ev["t"].notna()],
            "cells": pd.read_csv(t / "cells.csv"),
            "raw_cells": pd.read_csv(out / "raw/cells/cells.csv")}


def region_sites(reg) -> pd.DataFrame:
    """The region's own masts (not the HSR line's, not the satellite's)."""
    c = reg["cells"].merge(reg["raw_cells"][["cell_id", "lon", "lat"]], on="cell_id")
    enb = c["cell_id"].str.split("-").str[2].astype(int)
    return c[(enb >= region.REGION_SITE_ID) & (enb < 700_000)]


def test_masts_have_three_sectors_at_one_published_position(reg):
    c = region_sites(reg)
    by = c.groupby("site_idx").agg(n=("cell_id", "size"), lon=("lon", "nunique"),
                                   lat=("lat", "nunique"), sys=("coord_sys", "nunique"))
    assert len(by) > 1000
    assert (by["n"] == 3).all() and (by[["lon", "lat", "sys"]] == 1).all().all()
    first = c.drop_duplicates("site_idx")
    share = first["coord_sys"].value_counts(normalize=True)
    assert 0.4 <= share["gcj02"] <= 0.6 and 0.05 <= share["bd09"] <= 0.15
    # published positions convert back to the truth (the cells reader's rule)
    lon, lat = to_cgcs2000(first["lon"].to_numpy(), first["lat"].to_numpy(),
                           first["coord_sys"].to_numpy())
    assert haversine_m(lon, lat, first["true_lon"], first["true_lat"]).max() < 2.0
    # spacing from ~150 m in the centre to km in the rural periphery
    xy = first[["x", "y"]].to_numpy()
    d, _ = cKDTree(xy).query(xy, k=2)
    r = np.hypot(xy[:, 0], xy[:, 1])
    assert np.median(d[r < 2000, 1]) < 200
    assert np.median(d[r > 16000, 1]) > 3000


def test_night_shift_workers_work_through_the_night(reg):
    p, cards, st = reg["persons"], reg["cards"], reg["stays"]
    night = p[p["in_sample"] & p["shift"].eq("night")]
    assert len(night) >= 2
    prim = cards[cards["card_kind"].eq("primary") & cards["person_id"].isin(night["person_id"])]
    s = st[st["user_id"].isin(prim["user_id"])]
    # the first day is a workday: its night (02:00 of day 2) is spent at work
    at = pd.Timestamp(START) + pd.Timedelta(hours=26)
    on = s[(s["stay_start"] <= at) & (s["stay_end"] > at)]
    assert set(on["place"]) == {"work"} and on["user_id"].nunique() == len(prim)
    # and the next day at noon they are home, asleep (or about to be)
    noon = pd.Timestamp(START) + pd.Timedelta(hours=36)
    assert set(s[(s["stay_start"] <= noon) & (s["stay_end"] > noon)]["place"]) <= {"home",
                                                                                   "poi"}


def test_calendar_has_a_local_holiday_and_the_config_names_it(reg):
    out = reg["out"]
    doc = yaml.safe_load((out / "config.yaml").read_text("utf-8"))
    assert doc["paths"]["holidays"] == "reference/holidays.yaml"
    assert doc["synth"]["profile"] == "region"
    cal = yaml.safe_load((out / "reference/holidays.yaml").read_text("utf-8"))
    assert {dt.date(2026, 6, 2), dt.date(2026, 6, 3)} <= set(
        d for d in cal["holidays"] if isinstance(d, dt.date))
    # nobody goes to a day job on the holiday
    st = reg["stays"]
    day_workers = reg["persons"].query("shift == 'day' and in_sample")["person_id"]
    ids = reg["cards"][reg["cards"]["person_id"].isin(day_workers)]["user_id"]
    work = st[st["user_id"].isin(ids) & st["place"].eq("work")]
    assert len(work) and (work["stay_start"] < pd.Timestamp(START) + pd.Timedelta(days=1)).all()


def test_second_cards_have_their_own_timing(reg):
    p, cards, ev = reg["persons"], reg["cards"], reg["events"]
    modes = cards.loc[cards["card_kind"].eq("secondary"), "card_mode"]
    assert set(modes) == {"work_phone", "tablet"}
    e = ev.merge(cards[["user_id", "person_id", "card_mode"]], on="user_id").merge(
        p[["person_id", "night_lon", "night_lat", "work_lon", "work_lat"]], on="person_id")
    tab = e[e["card_mode"].eq("tablet")]
    assert len(tab) > 100
    # a tablet is left at home and sends data only
    assert haversine_m(tab["true_lon"], tab["true_lat"], tab["night_lon"],
                       tab["night_lat"]).max() < 100
    assert not tab["event_type"].isin(["call", "sms"]).any()
    wp = e[e["card_mode"].eq("work_phone")]
    at_work = haversine_m(wp["true_lon"], wp["true_lat"], wp["work_lon"], wp["work_lat"]) < 100
    assert len(wp) > 20 and at_work.mean() >= 0.5
    # the primary card of the same persons is active away from work too
    prim = e[e["card_mode"].eq("") & e["person_id"].isin(wp["person_id"])]
    assert (haversine_m(prim["true_lon"], prim["true_lat"], prim["work_lon"],
                        prim["work_lat"]) >= 100).mean() > 0.5


def test_cards_truth_counts_each_cards_records(reg):
    """truth/cards.parquet has each card's raw rows (n_events), so that mobsig evaluate can
    leave out a card that left none (a day visitor's tablet is online only at its holder's
    home, which a day visitor does not have in the region)."""
    cards = reg["cards"]
    raw = pd.read_parquet(reg["out"] / "truth/events", columns=["user_id"])
    counts = raw["user_id"].value_counts()
    assert len(raw) == reg["res"].n_events
    # every raw row of a card (malformed rows with a broken user id belong to none)
    assert cards["n_events"].sum() == raw["user_id"].isin(cards["user_id"]).sum() > 0
    assert (cards["n_events"].to_numpy() == cards["user_id"].map(counts).fillna(0)
            .to_numpy()).all()
    assert (cards.loc[cards["card_mode"].eq(""), "n_events"] > 0).all()


def test_sleeping_phones_send_nothing_for_hours(reg):
    p, cards, ev = reg["persons"], reg["cards"], reg["events"]
    sleepy = p[p["in_sample"] & (p["sleep_len_h"] > 0)]
    assert len(sleepy) >= 3
    prim = cards[cards["card_kind"].eq("primary")][["user_id", "person_id"]]
    e = ev.merge(prim, on="user_id").merge(sleepy[["person_id", "sleep_start_h",
                                                   "sleep_len_h"]], on="person_id")
    tod = (e["t"] - e["t"].dt.normalize()).dt.total_seconds() / 3600
    assert len(e) and (((tod - e["sleep_start_h"]) % 24) >= e["sleep_len_h"]).all()


def test_visitors_hotels_shops_and_dormitories(reg):
    p = reg["persons"][reg["persons"]["in_sample"]]
    vis = p[p["kind"].isin(["short_term", "day_visitor"])]
    night_far = haversine_m(vis["night_lon"], vis["night_lat"], vis["home_lon"],
                            vis["home_lat"]) > 50
    assert len(vis) >= 5 and night_far.mean() >= 0.7  # most sleep in a hotel
    shop = p[p["role"].eq("shop")]
    students = p[p["role"].eq("student")]
    assert len(shop) + len(students) >= 2
    assert (haversine_m(shop["home_lon"], shop["home_lat"], shop["work_lon"],
                        shop["work_lat"]) < 150).all()
    d = haversine_m(students["home_lon"], students["home_lat"], students["work_lon"],
                    students["work_lat"])
    assert ((d > 300) & (d < 1500)).all()


def test_shift_itinerary_on_a_hand_built_card():
    """No Spark: a night-shift worker over three workdays and a weekend day, and a rotating
    worker's day week."""
    places = Places(poi_xy=np.array([[500.0, 0.0], [0.0, 800.0]]),
                    hotel_xy=np.array([[0.0, 0.0]]), station_xy=np.array([3000.0, 0.0]),
                    scenic_xy=np.array([0.0, 5000.0]),
                    highway=((-1e4, 0.0), (1e4, 0.0)))
    card = {"first_day": 0, "last_day": 3, "away_from": -1, "away_to": -2,
            "night_x": 0.0, "night_y": 0.0, "work_x": 4000.0, "work_y": 0.0,
            "shift": "night", "shift_offset": 0}
    types = ["workday", "workday", "workday", "weekend"]
    segs = shift_itinerary(card, types, [0, 1, 2, 5], places, np.random.default_rng(1), 4)
    work = [(t0 / H, t1 / H) for t0, t1, *_, stay, place in segs if stay and place == PLACE_WORK]
    assert len(work) == 3  # the nights of days 0, 1 and 2
    for d, (a, b) in enumerate(work):
        assert 20.5 <= a - 24 * d <= 23.5 and 29.5 <= b - 24 * d <= 32
    home = [(t0, t1) for t0, t1, *_, stay, place in segs if stay and place == PLACE_HOME]
    assert home[-1][1] == 4 * DAY  # the weekend ends at home
    rot = {**card, "shift": "rotating", "shift_offset": 0}  # week 0: day shifts
    segs = shift_itinerary(rot, types, [0, 1, 2, 5], places, np.random.default_rng(1), 4)
    work = [(t0 / H % 24, t1 / H % 24) for t0, t1, *_, stay, place in segs
            if stay and place == PLACE_WORK]
    assert len(work) == 3 and all(6 <= a <= 10 and 15 <= b <= 21 for a, b in work)


def test_a_short_city_gets_thresholds_scaled_to_its_days():
    """`mobsig synth --days 14` with the month's thresholds would make a city with no
    resident (18 days needed) whose expansion fails: the synth command scales them as
    run.window_days does; thresholds the user set, or a month-long city, are left."""
    from mobsig.config import build_config
    from mobsig.tools.synth import short_period_config

    cfg, scaled = short_period_config(build_config({"synth": {"days": 14}}))
    assert scaled == {"population.resident_min_days": 9,
                      "population.short_term_min_days": 2, "home_work.home_min_nights": 5,
                      "home_work.work_min_days": 4, "flags.static_min_days": 4,
                      "flags.multicard_min_days": 4}
    assert cfg.population.resident_min_days == 9 and cfg.flags.static_min_days == 4
    assert cfg.run.window_days == 0  # the config.yaml states the values, not a window
    for doc in ({"synth": {"days": 30}}, {"synth": {"days": 1}},
                {"synth": {"days": 14}, "population": {"resident_min_days": 10}},
                {"synth": {"days": 14}, "run": {"window_days": 7}}):
        same, scaled = short_period_config(build_config(doc))
        assert scaled == {} and same == build_config(doc), doc
