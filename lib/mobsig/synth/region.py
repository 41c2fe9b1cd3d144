"""The ``region`` profile of the generator (``synth.profile = region``): a second,
independent synthetic place to measure the chain on, built to differ from the test city
(``profile = city``) where the chain was tuned.

What differs from the city (mobsig.synth.city, population, timeline, signals):

- **network**: every site is a mast with three sectors at one position (no omni cells);
  site spacing from 150 m (centre, < 2 km) over 300 m (2-4 km), 1 km (4-10 km) and
  2.5 km (10-16 km) to 5 km in the rural periphery (16-22 km); the coordinate system is
  per site, so a mast's three sectors are published at one position: half of the sites
  in GCJ-02, a tenth in BD-09, the rest in WGS-84 (:func:`build_city`); no cell changes
  in the period; stay events hop between the sectors of their mast
  (:data:`SECTOR_FLIP_SHARE`, :func:`sector_flips`);
- **workers**: :data:`NIGHT_SHIFT_SHARE` of the resident workers work nights
  (~21:45-06:15, sleeping at home into the afternoon; timeline.shift_itinerary),
  :data:`ROTATING_SHARE` rotate between day and night weeks; among the day workers
  :data:`SHOP_SHARE` live above their shop (work place within ~30 m of home) and
  :data:`STUDENT_SHARE` are students living in a dormitory on one of three campuses with
  classes ~700 m away (truth ``persons.shift`` and ``persons.role``);
- **visitors**: :data:`HOTEL_SHARE` of the short-term and day visitors sleep in a hotel;
- **calendar**: a local two-day holiday in the middle of the period on top of the
  national calendar (:func:`calendar_text`, written to ``reference/holidays.yaml`` and
  named by the city's config, paths.holidays);
- **phones**: more phones off at night (+:data:`EXTRA_OFF_NIGHTS`; switched off in bed,
  so a night-shift worker's phone stays on at work: signals) and
  :data:`SLEEPY_SHARE` of the cards asleep 3-8 h a day at a time of their own
  (``sleep_start_h``, ``sleep_len_h``: no event at all);
- **faults**: ping-pong x :data:`PINGPONG_X` and drift x :data:`DRIFT_X` of the
  configured rates (:func:`event_config`);
- **second cards** (一人多卡): :data:`EXTRA_SECOND_SHARE` more persons carry one, each a
  ``work_phone`` (events only at work, a few elsewhere in the day) or a data-only
  ``tablet`` left at home (events only while the holder is home), with a sleep window of
  its own (truth ``cards.card_mode``).

Random draws come from the profile's own streams ``[seed, REGION_STREAM, k]`` after the
shared builders ran; the test city (``profile = city``) is unchanged by this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from importlib import resources

import numpy as np
import pandas as pd
import yaml

from mobsig.coords import from_wgs84
from mobsig.synth import city as city_mod
from mobsig.synth.config import SynthConfig
from mobsig.synth.timeline import DAY, PLACE_HOME, PLACE_WORK, H

REGION_STREAM = 0x2E61  # "region"

# sites: (inner radius, outer radius, spacing, jitter, cell radius range) in metres
RINGS = (("centre", 0.0, 2_000.0, 150.0, 30.0, (150, 400)),
         ("core", 2_000.0, 4_000.0, 300.0, 60.0, (250, 600)),
         ("inner", 4_000.0, 10_000.0, 1_000.0, 200.0, (700, 1500)),
         ("outer", 10_000.0, 16_000.0, 2_500.0, 500.0, (1800, 4000)),
         ("rural", 16_000.0, city_mod.CITY_R - 300, 5_000.0, 800.0, (3000, 7000)))
GCJ02_SITES = 0.5   # share of sites published in GCJ-02
BD09_SITES = 0.1    # and in BD-09 (the rest WGS-84)
REGION_SITE_ID = 300_000  # eNB numbers of the region's sites
SECTOR_FLIP_SHARE = 0.15  # stay events served by another sector of the same mast

NIGHT_SHIFT_SHARE = 0.15
ROTATING_SHARE = 0.08
SHOP_SHARE = 0.07
STUDENT_SHARE = 0.10
CAMPUSES = np.array([[5_500.0, 3_000.0], [-6_000.0, -2_500.0], [1_500.0, -7_000.0]])
HOTEL_SHARE = 0.9
EXTRA_OFF_NIGHTS = 0.08
SLEEPY_SHARE = 0.2
PINGPONG_X = 3.0
DRIFT_X = 4.0
EXTRA_SECOND_SHARE = 0.08
WORK_PHONE_ELSEWHERE = 0.1  # share of a work phone's daytime events away from work
TABLET_RATE = 0.6

# the extra columns of a region card (signals and timeline read them when present)
CARD_COLUMNS = ["shift", "shift_offset", "card_mode", "sleep_start_h", "sleep_len_h"]


def _sites(rng: np.random.Generator) -> pd.DataFrame:
    parts, rings = [], []
    for name, r0, r1, spacing, jitter, _ in RINGS:
        pts = city_mod._hex_grid(rng, r0, r1, spacing, jitter)
        parts.append(pts)
        rings += [name] * len(pts)
    pts = np.vstack(parts)
    return pd.DataFrame({"site_idx": np.arange(len(pts)), "x": pts[:, 0], "y": pts[:, 1],
                         "ring": rings})


def _cells(rng: np.random.Generator, sites: pd.DataFrame) -> pd.DataFrame:
    radius = {name: rr for name, *_, rr in RINGS}
    u = rng.random(len(sites))
    site_sys = np.where(u < GCJ02_SITES, "gcj02",
                        np.where(u < GCJ02_SITES + BD09_SITES, "bd09", "wgs84"))
    rows = []
    for s, sys_ in zip(sites.itertuples(index=False), site_sys, strict=True):
        rot = rng.uniform(0, 120)
        lo, hi = radius[s.ring]
        tech = "5g" if (s.ring == "centre" and rng.random() < 0.5) else "4g"
        enb = REGION_SITE_ID + int(s.site_idx)
        for k in range(3):
            rows.append({"cell_id": f"460-00-{enb}-{k + 1}", "site_idx": int(s.site_idx),
                         "x": s.x, "y": s.y, "azimuth": round((rot + k * 120) % 360, 1),
                         "radius_m": round(float(rng.uniform(lo, hi)), 1), "tech": tech,
                         "coord_sys": sys_})
    cells = pd.DataFrame(rows)
    cells["valid_from"] = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[ns]")
    cells["valid_to"] = cells["valid_from"]
    return cells


def build_city(seed: int, center_lon: float, center_lat: float, start: dt.date, days: int,
               satellite: bool = False) -> city_mod.City:
    """The region's geography: the city's districts, townships, zones, places and HSR line
    (mobsig.synth.city.build_city) with the region's own network of 3-sector masts
    (:data:`RINGS`; coordinate system per site) and, when asked, the satellite city."""
    base = city_mod.build_city(seed, center_lon, center_lat, start, days)
    rng = np.random.default_rng([seed, REGION_STREAM, 1])
    sites = _sites(rng)
    cells = pd.concat([_cells(rng, sites).assign(is_hsr=False),
                       city_mod._hsr_cells(len(sites))], ignore_index=True)
    units, sat = base.units, None
    if satellite:
        sat = city_mod.build_satellite(seed, first_site_idx=int(cells["site_idx"].max()) + 1)
        cells = pd.concat([cells.assign(is_satellite=False), sat.cells], ignore_index=True)
        units = pd.concat([units, city_mod.satellite_units(sat)], ignore_index=True)
        units = pd.concat([units, city_mod.city_units(units)], ignore_index=True)
    out = dataclasses.replace(base, cells=cells, sites=sites, units=units, epochs=[0],
                              satellite=sat)
    lon, lat = out.to_lonlat(cells["x"].to_numpy(), cells["y"].to_numpy())
    cells["true_lon"], cells["true_lat"] = lon, lat
    src_lon, src_lat = from_wgs84(lon, lat, cells["coord_sys"].to_numpy())
    cells["lon"], cells["lat"] = np.round(src_lon, 7), np.round(src_lat, 7)
    cells["admin_code"] = out.unit_of(cells["x"].to_numpy(), cells["y"].to_numpy(), "county")
    return out


def holiday_days(start: dt.date, days: int) -> list[dt.date]:
    """The local mid-period holiday: the first two weekdays from the middle day on."""
    out, d = [], start + dt.timedelta(days=days // 2)
    while len(out) < 2 and d < start + dt.timedelta(days=days):
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def calendar_text(start: dt.date, days: int, base_path: str | None = None) -> str:
    """The region's holiday calendar (YAML of mobsig.io.holidays): the national one (or
    ``base_path``) plus :func:`holiday_days`."""
    if base_path:
        text = open(base_path, encoding="utf-8").read()
    else:
        text = resources.files("mobsig").joinpath("data/holidays_cn.yaml").read_text("utf-8")
    d = yaml.safe_load(text) or {}
    local = holiday_days(start, days)
    workdays = {str(w) for w in (d.get("workdays") or [])}
    hol = list(d.get("holidays") or []) + [x for x in local if str(x) not in workdays]
    out = {"holidays": hol, "workdays": d.get("workdays") or []}
    if d.get("years") is not None:
        out["years"] = d["years"]
    return ("# the region profile's calendar (mobsig.synth.region): the national one plus a "
            f"local holiday {', '.join(map(str, local))}\n"
            + yaml.safe_dump(out, sort_keys=False))


def event_config(sc: SynthConfig) -> SynthConfig:
    """The settings the region's events are drawn with: heavier ping-pong and drift."""
    return dataclasses.replace(sc, pingpong_rate=min(0.5, sc.pingpong_rate * PINGPONG_X),
                               drift_per_day=sc.drift_per_day * DRIFT_X)


def adjust_people(sc: SynthConfig, city: city_mod.City, pop, persons: pd.DataFrame,
                  cards: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The region's persons and cards from the city's (population.build_people): shift
    workers, shop owners, students, hotel visitors, sleepy phones and more second cards
    with their own timing (module doc). The out-of-sample residents are drawn again for
    the moved homes (market share uniform per township, population._out_of_sample)."""
    from mobsig.synth.population import HANDSET_TACS, _out_of_sample, birth_years, card_id

    rng = np.random.default_rng([sc.seed, REGION_STREAM, 2])
    p = persons[persons["in_sample"]].copy().reset_index(drop=True)
    n = len(p)
    worker = p["kind"].eq("resident_worker").to_numpy()
    u, v = rng.random(n), rng.random(n)
    shift = np.where(worker & (u < NIGHT_SHIFT_SHARE), "night",
                     np.where(worker & (u < NIGHT_SHIFT_SHARE + ROTATING_SHARE), "rotating",
                              "day"))
    day = worker & (shift == "day")
    shop = day & (v < SHOP_SHARE)
    student = day & (v >= SHOP_SHARE) & (v < SHOP_SHARE + STUDENT_SHARE)
    role = np.where(shop, "shop", np.where(student, "student", ""))
    home = p[["home_x", "home_y"]].to_numpy()
    work = p[["work_x", "work_y"]].to_numpy()
    shop_off = rng.normal(0, 20, (n, 2))
    campus = CAMPUSES[rng.integers(0, len(CAMPUSES), n)]
    dorm = campus + [-350.0, 0.0] + rng.normal(0, 60, (n, 2))
    classes = campus + [350.0, 0.0] + rng.normal(0, 80, (n, 2))
    home = np.where(student[:, None], dorm, home)
    work = np.where(shop[:, None], home + shop_off, np.where(student[:, None], classes, work))
    resident = p["kind"].str.startswith("resident").to_numpy()
    night = p[["night_x", "night_y"]].to_numpy()
    night = np.where(resident[:, None], home, night)
    hotels = city.pois.loc[city.pois["kind"] == "hotel", ["x", "y"]].to_numpy()
    visitor = p["kind"].isin(["short_term", "day_visitor"]).to_numpy()
    to_hotel = visitor & (rng.random(n) < HOTEL_SHARE)
    night = np.where(to_hotel[:, None], hotels[rng.integers(0, len(hotels), n)], night)
    p["home_x"], p["home_y"] = home[:, 0], home[:, 1]
    p["work_x"], p["work_y"] = work[:, 0], work[:, 1]
    p["night_x"], p["night_y"] = night[:, 0], night[:, 1]
    p["phone_off_nights"] = p["phone_off_nights"].to_numpy(bool) | (
        rng.random(n) < EXTRA_OFF_NIGHTS)
    p["shift"], p["role"] = shift, role
    p["shift_offset"] = rng.integers(0, 2, n)
    sleepy = rng.random(n) < SLEEPY_SHARE
    p["sleep_start_h"] = rng.uniform(0, 24, n)
    p["sleep_len_h"] = np.where(sleepy, rng.uniform(3, 8, n), 0.0)
    for level in ("county", "township"):
        p[f"home_{level}"] = city.unit_of(home[:, 0], home[:, 1], level)
    # out-of-sample residents again, around the moved homes
    true_res = p["kind"].str.startswith("resident") & p["pop_class"].eq("resident")
    q = _out_of_sample(sc, city, p.loc[true_res, ["home_x", "home_y"]].to_numpy(), n,
                       rng=np.random.default_rng([sc.seed, REGION_STREAM, 3]))
    q = q.assign(kind="resident_out_of_sample", in_sample=False, pop_class="resident",
                 days_present=sc.days, shift="", role="")
    for level in ("county", "township"):
        q[f"home_{level}"] = city.unit_of(q["home_x"].to_numpy(), q["home_y"].to_numpy(),
                                          level)
    q["birth_year"] = (birth_years(sc, q["kind"].to_numpy(), np.zeros(len(q), bool),
                                   rng=np.random.default_rng([sc.seed, REGION_STREAM, 4]))
                       if len(q) else np.empty(0, "int64"))
    out_persons = pd.concat([p, q], ignore_index=True)

    # cards: the persons' new places and phones; second cards with their own timing
    cols = ["home_x", "home_y", "work_x", "work_y", "night_x", "night_y",
            "phone_off_nights", "shift", "shift_offset", "sleep_start_h", "sleep_len_h"]
    by_id = p.set_index("person_id")[cols]
    human = cards[cards["is_human"]].copy()
    machines = cards[~cards["is_human"]].copy()
    for c in cols:
        human[c] = by_id[c].reindex(human["person_id"]).to_numpy()
    has_second = set(human.loc[human["card_kind"].eq("secondary"), "person_id"])
    can = p["kind"].ne("transit").to_numpy() & ~p["person_id"].isin(has_second).to_numpy()
    extra_ids = p.loc[can & (rng.random(n) < EXTRA_SECOND_SHARE), "person_id"]
    extra = human[human["card_kind"].eq("primary") & human["person_id"].isin(extra_ids)].copy()
    extra["card_kind"] = "secondary"
    extra["tac"] = np.array(HANDSET_TACS)[rng.integers(0, len(HANDSET_TACS), len(extra))]
    human = pd.concat([human, extra], ignore_index=True)
    second = human["card_kind"].eq("secondary").to_numpy()
    has_work = human["work_x"].notna().to_numpy()
    mode = np.where(has_work & (rng.random(len(human)) < 0.5), "work_phone", "tablet")
    human["card_mode"] = np.where(second, mode, "")
    activity = p.set_index("person_id")["activity"].reindex(human["person_id"]).to_numpy()
    human["rate"] = np.where(second, activity * np.where(mode == "tablet", TABLET_RATE, 0.8),
                             human["rate"])
    own_sleep = second & (rng.random(len(human)) < 0.5)
    human["sleep_start_h"] = np.where(own_sleep, rng.uniform(0, 24, len(human)),
                                      human["sleep_start_h"])
    human["sleep_len_h"] = np.where(own_sleep, rng.uniform(3, 8, len(human)),
                                    human["sleep_len_h"])
    order = np.argsort(second, kind="stable")  # primaries first, then second cards
    human = human.iloc[order]
    machines = machines.assign(shift="", shift_offset=0, card_mode="", sleep_start_h=0.0,
                               sleep_len_h=0.0)
    out_cards = pd.concat([human, machines], ignore_index=True)
    out_cards["card_idx"] = np.arange(len(out_cards))
    out_cards["user_id"] = [card_id(sc.seed, i) for i in out_cards["card_idx"]]
    return out_persons, with_card_defaults(out_cards)


def with_card_defaults(cards: pd.DataFrame) -> pd.DataFrame:
    """``cards`` with the region columns filled where missing (the satellite's cards)."""
    out = cards.copy()
    for c, default in (("shift", "day"), ("card_mode", ""), ("shift_offset", 0),
                       ("sleep_start_h", 0.0), ("sleep_len_h", 0.0)):
        if c not in out:
            out[c] = default
        out[c] = out[c].fillna(default) if not isinstance(default, str) else \
            out[c].fillna(default).astype(str)
    out["shift"] = out["shift"].replace("", "day")
    out["shift_offset"] = out["shift_offset"].astype("int64")
    out["phone_off_nights"] = out["phone_off_nights"].eq(True)
    return out


def keep_events(cards: pd.DataFrame, card: np.ndarray, t: np.ndarray, place: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Which events a region card really sends: none while its phone sleeps
    (``sleep_start_h`` for ``sleep_len_h`` hours every day); a work phone only at work
    (and :data:`WORK_PHONE_ELSEWHERE` of its other events between 07 and 22 h); a tablet
    only while its holder is home."""
    tod_h = (t % DAY) / H
    start = cards["sleep_start_h"].to_numpy(float)[card]
    length = cards["sleep_len_h"].to_numpy(float)[card]
    keep = ((tod_h - start) % 24.0) >= length
    mode = cards["card_mode"].to_numpy().astype(str)[card]
    wp = mode == "work_phone"
    day = (tod_h >= 7) & (tod_h < 22)
    keep &= ~wp | (place == PLACE_WORK) | (day & (rng.random(t.size) < WORK_PHONE_ELSEWHERE))
    keep &= (mode != "tablet") | (place == PLACE_HOME)
    return keep


def data_only(cards: pd.DataFrame, card: np.ndarray, etype: np.ndarray) -> np.ndarray:
    """Event types with a tablet's calls and SMS made data (a data-only card)."""
    tablet = cards["card_mode"].to_numpy().astype(str)[card] == "tablet"
    return np.where(tablet & np.isin(etype, ["call", "sms"]), "data", etype)


def sector_flips(net, cell: np.ndarray, day: np.ndarray, eligible: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """``cell`` with :data:`SECTOR_FLIP_SHARE` of the ``eligible`` events served by
    another sector of the same mast (a stay's events hopping between the sectors)."""
    out = cell.copy()
    flip = np.flatnonzero(eligible & (rng.random(cell.size) < SECTOR_FLIP_SHARE))
    if not flip.size:
        return out
    ep = np.searchsorted(net.epochs, day[flip], side="right") - 1
    for e in np.unique(ep):
        m = flip[ep == e]
        sc = net.site_cells[e]
        site_of = np.full(len(net.cell_ids), -1, dtype=np.int64)
        rows, slots = np.nonzero(sc >= 0)
        site_of[sc[rows, slots]] = rows
        s = site_of[cell[m]]
        ok = s >= 0
        cand = sc[s[ok]]
        pick = cand[np.arange(ok.sum()), rng.integers(0, 3, ok.sum())]
        out[m[ok]] = np.where(pick >= 0, pick, cell[m[ok]])
    return out
