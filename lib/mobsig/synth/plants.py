"""Planted cases of two screening scenarios of issue 15 (domain.md §D), what the screens
must find in the synthetic city (the city profile; not the region profile, not a city in
real counties):

- intruders in a nature-reserve core (``screen_reserves``): on each day of
  ``synth.reserve_intruder_days`` a group of ``synth.reserve_intruders`` persons from
  outside the city drives in on the highway, stays :data:`INTRUDER_STAY_H` (4-6 h, a day
  trip) inside the core zone Z-RSV-01 (around a spot near its centre, on the zone's side
  of the county line the zone straddles, where one cell serves the whole group and the
  network reports it inside the zone and that county: :func:`_spot`; each person within
  a few hundred metres of the group's spot) and leaves the same day;
- a crowd near a geological hazard point (``exposure_hazards``): ``synth.hazard_crowd``
  persons within :data:`CROWD_RADIUS_M` of the point ``synth.hazard_crowd_point`` for
  the whole of the hours ``synth.hazard_crowd_hours`` [first, end) of the day
  ``synth.hazard_crowd_day`` (arriving 10-25 min before the first hour, leaving 5-25 min
  after the end; the default hours 13-17 keep the crowd > 4 h there).

Their times in the city stay clear of the population rules' 3 h (population.transit_max_h:
a person with less time in the area is a transit; daily_presence counts >= 3 h in a unit):
the jobs see a stay from its first to its last record (records every ~15 min, at worst
hourly), so a stay a few minutes over 3 h is often measured under it, and
the plants would test that edge instead of the screens (the city's own persons are far
from it too: transits stop < 30 min, day visitors stay from the morning to the evening).

The planted persons are extra sample persons (kind ``day_visitor``, true class from the
population rules (:func:`true_class`: one day present, a visitor; a transit if the time
at their spot is below population.transit_max_h); column ``plant`` of truth/persons
names their case) with one primary card each. Every draw comes from a Generator of their
own, seeded from (seed, :data:`STREAM`, k); their cards start a generation chunk of their own
after every other card (the satellite's included) and their person ids follow every
other person's, so the rest of the city (persons, cards, events, true stays) is byte
for byte what it is without them. Their itinerary is fixed by the plan columns of their
card (:data:`PLAN_COLUMNS`, :func:`mobsig.synth.timeline.planted_itinerary`): they appear
at the highway's end nearest to their spot (outside the city disk), drive there, stay,
drive back and leave.

The truth counts them like everyone else (truth/screen_reserves.csv and
truth/exposure_hazards.csv from the true stays); the column ``planted`` of those files
says how many of the counted persons are planted, so ``mobsig evaluate`` knows the
planted days, zones and hours.
"""

from __future__ import annotations

import logging
import zlib

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point

from mobsig.config import PopulationConfig
from mobsig.synth.city import City
from mobsig.synth.config import SynthConfig
from mobsig.synth.timeline import DAY, MIN, H

log = logging.getLogger(__name__)

STREAM = zlib.crc32(b"plants")
RESERVE_PLANT = "reserve_intruders"
HAZARD_PLANT = "hazard_crowd"
RESERVE_ZONE = "Z-RSV-01"
PLAN_COLUMNS = ["plan_x", "plan_y", "plan_t0", "plan_t1"]
GROUP_SD_M = 150.0     # intruders around their group's spot
SPOT_EDGE_M = 500.0    # the spot at least this far inside the core zone's edge
INTRUDER_STAY_H = (4.0, 6.0)  # an intruder's time inside the core zone (uniform, hours)
CROWD_RADIUS_M = 250.0  # the crowd within this distance of the hazard point


def _entry(city: City, x: float, y: float) -> tuple[float, float]:
    """The end of the highway nearest to (x, y): where planted persons enter and leave."""
    a, b = city.highway
    return a if np.hypot(x - a[0], y - a[1]) <= np.hypot(x - b[0], y - b[1]) else b


def _reported(city: City, start, day: int, x: np.ndarray, y: np.ndarray,
              rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the network reports a handset at (x, y) on ``day`` served by its site of
    nearest-``rank`` (the generator's serving model, :mod:`mobsig.synth.signals`: that
    site's sector facing the point): the service point of that cell, by the pipeline's
    cell model with its default parameters (:func:`mobsig.cells.service_point`, the
    position stays and homes get)."""
    from mobsig.cells import service_point, site_spacing
    from mobsig.config import CellsConfig
    from mobsig.synth.signals import _serving_cells, build_network

    cells = city.main_cells()
    net = build_network(cells, city.sites, city.epochs, start)
    cc = CellsConfig()
    public = ~cells["is_hsr"].fillna(False).to_numpy(bool)
    cx, cy = cells["x"].to_numpy(float), cells["y"].to_numpy(float)
    spacing = np.full(len(cells), np.nan)
    spacing[public] = site_spacing(cx[public], cy[public], cc.spacing_neighbours,
                                   cc.site_merge_m)
    radius = cells["radius_m"].astype(float).fillna(cc.default_radius_m).to_numpy()
    sx, sy = service_point(cx, cy, cells["azimuth"].astype(float).to_numpy(), radius,
                           spacing, cc.sector_width_deg, cc.service_reach_factor)
    cell = _serving_cells(net, x, y, np.full(len(x), day), np.full(len(x), rank))
    return sx[cell], sy[cell]


def _spot(city: City, zone, start, day: int) -> Point:
    """The intruders' spot in the core zone: the point nearest the zone's centroid that
    lies at least :data:`SPOT_EDGE_M` inside the zone and where the whole group is, and
    is reported by the network, inside the zone and the county holding the centroid: the
    spot and every point :data:`GROUP_SD_M` and 2 x GROUP_SD_M from it (the group's
    spread) are in that county, and the cells of its nearest and second nearest sites (a stay keeps
    one of them, :mod:`mobsig.synth.signals`) have their service points (:func:`_reported`)
    in the zone and the county, and the nearest site's cell is the same for all of them
    (the centroid when no point qualifies). On the test city: 104.2078 E 30.7438 N, ~1 km
    south of the site that serves the group, 1.6 km from the next.

    Z-RSV-01 straddles a county line, and its centre is where the sites of both counties
    meet (sites 2-2.5 km apart): at the centroid a fifth of the group was served by a site
    across the line; at the point nearest the centroid whose own two nearest sites are in
    the county, the group's eastern half was nearest to a site across the line, whose
    sector facing them has its service point 1 km away in the next county (5 of the 30
    intruders counted there, 990104's presence on the day 30 for 37 true); deep in the
    county, service points outside the zone (23 of 30 visitors). The planted case is there
    to test the screens; the border effect (the network's resolution, the same for
    everyone) is what the daily-presence accuracy measures on the city's own persons."""
    c = zone.centroid
    counties = np.asarray(city.units.loc[city.units["level"] == "county", "geometry"])
    home = shapely.contains(counties, c)
    if not home.any():
        return c
    county = counties[np.argmax(home)]
    x0, y0, x1, y1 = zone.bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, 61), np.linspace(y0, y1, 61))
    px, py = gx.ravel(), gy.ravel()
    pts = shapely.points(px, py)
    ok = (shapely.contains(zone, pts) & shapely.contains(county, pts)
          & (shapely.distance(zone.boundary, pts) >= SPOT_EDGE_M))
    ang = np.arange(8) * np.pi / 4
    offsets = np.vstack([[0.0, 0.0]]
                        + [r * np.column_stack([np.cos(ang), np.sin(ang)])
                           for r in (GROUP_SD_M, 2 * GROUP_SD_M)])
    fx = (px[:, None] + offsets[:, 0]).ravel()
    fy = (py[:, None] + offsets[:, 1]).ravel()
    ok &= shapely.contains_xy(county, fx, fy).reshape(len(px), len(offsets)).all(axis=1)
    for rank in (0, 1):
        sx, sy = _reported(city, start, day, fx, fy, rank)
        inside = shapely.contains_xy(zone, sx, sy) & shapely.contains_xy(county, sx, sy)
        ok &= inside.reshape(len(px), len(offsets)).all(axis=1)
        if rank == 0:  # one serving cell for the whole group (not a cell boundary)
            ok &= (np.ptp(sx.reshape(len(px), len(offsets)), axis=1) == 0) & (
                np.ptp(sy.reshape(len(px), len(offsets)), axis=1) == 0)
    if not ok.any():
        log.warning("synth: no spot in %s where the network reports the group inside it",
                    RESERVE_ZONE)
        return c
    return pts[int(np.argmin(np.where(ok, shapely.distance(c, pts), np.inf)))]


def plans(sc: SynthConfig, city: City, hazard_points: pd.DataFrame) -> pd.DataFrame:
    """One row per planted person: ``plant``, ``day``, ``plan_x``, ``plan_y`` (the spot,
    local metres), ``plan_t0``, ``plan_t1`` (arrival at and departure from the spot,
    seconds since the first day's midnight) and ``entry_x``, ``entry_y``."""
    rows = []
    rng = np.random.default_rng([sc.seed, STREAM, 1])
    zone = city.zones.loc[city.zones["unit_id"] == RESERVE_ZONE, "geometry"]
    if sc.reserve_intruders and len(zone):
        days = sorted(d for d in set(sc.reserve_intruder_days) if d < sc.days)
        c = _spot(city, zone.iloc[0], sc.start_date, days[0]) if days else None
        for d in days:
            n = sc.reserve_intruders
            arrive = d * DAY + rng.uniform(9.0, 10.0) * H + rng.uniform(-10, 10, n) * MIN
            stay = rng.uniform(*INTRUDER_STAY_H, n) * H
            xy = np.array([c.x, c.y]) + rng.normal(0, GROUP_SD_M, (n, 2))
            rows += [(RESERVE_PLANT, d, x, y, t0, t0 + s)
                     for (x, y), t0, s in zip(xy, arrive, stay, strict=True)]
    rng = np.random.default_rng([sc.seed, STREAM, 2])
    pt = hazard_points.loc[hazard_points["unit_id"] == sc.hazard_crowd_point, "geometry"]
    if sc.hazard_crowd and sc.hazard_crowd_day < sc.days:
        if not len(pt):
            log.warning("synth: no hazard point %s: no planted crowd", sc.hazard_crowd_point)
        else:
            p, n, d = pt.iloc[0], sc.hazard_crowd, sc.hazard_crowd_day
            h0, h1 = sc.hazard_crowd_hours
            r = CROWD_RADIUS_M * np.sqrt(rng.random(n))
            a = rng.uniform(0, 2 * np.pi, n)
            t0 = d * DAY + h0 * H - rng.uniform(10, 25, n) * MIN
            t1 = d * DAY + h1 * H + rng.uniform(5, 25, n) * MIN
            rows += [(HAZARD_PLANT, d, p.x + ri * np.cos(ai), p.y + ri * np.sin(ai), s, e)
                     for ri, ai, s, e in zip(r, a, t0, t1, strict=True)]
    out = pd.DataFrame(rows, columns=["plant", "day", *PLAN_COLUMNS])
    entry = [_entry(city, x, y) for x, y in zip(out["plan_x"], out["plan_y"], strict=True)]
    out["entry_x"] = [e[0] for e in entry]
    out["entry_y"] = [e[1] for e in entry]
    return out


def true_class(pop: PopulationConfig, days_present: int, stay_s: np.ndarray) -> np.ndarray:
    """The true class of planted persons by the population rules (domain.md §B3, the
    order of mobsig.residence.with_pop_class): a transit when their time in the area
    (``stay_s``, seconds at their spot) is below ``transit_max_h``, else by the days
    present (resident, short_term, visitor)."""
    by_days = ("resident" if days_present >= pop.resident_min_days else "short_term"
               if days_present >= pop.short_term_min_days else "visitor")
    return np.where(stay_s < pop.transit_max_h * H, "transit", by_days)


def plant_people(sc: SynthConfig, pop: PopulationConfig, city: City,
                 hazard_points: pd.DataFrame, persons: pd.DataFrame, cards: pd.DataFrame,
                 first_card_idx: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``persons`` and ``cards`` with the planted persons and their cards appended (module
    doc); ``first_card_idx``: a generation-chunk boundary after every card. Every
    person gets a ``plant`` column ('' for the city's own), every card the
    :data:`PLAN_COLUMNS` (NaN for the city's own)."""
    from mobsig.synth.population import HANDSET_TACS, OTHER_REGIONS, birth_years, card_id

    persons = persons.assign(plant="")
    cards = cards.assign(**{c: np.nan for c in PLAN_COLUMNS})
    pl = plans(sc, city, hazard_points)
    if pl.empty:
        return persons, cards
    rng = np.random.default_rng([sc.seed, STREAM, 3])
    m = len(pl)
    first_id = int(persons["person_id"].max()) + 1
    days_present = 1
    pop_class = true_class(pop, days_present, (pl["plan_t1"] - pl["plan_t0"]).to_numpy())
    p = pd.DataFrame({
        "person_id": np.arange(first_id, first_id + m), "kind": "day_visitor",
        "in_sample": True, "home_x": pl["entry_x"], "home_y": pl["entry_y"],
        "work_x": np.nan, "work_y": np.nan, "works_saturday": False,
        "first_day": pl["day"].astype("int64"), "last_day": pl["day"].astype("int64"),
        "away_from": -1, "away_to": -2, "night_x": pl["entry_x"], "night_y": pl["entry_y"],
        "phone_off_nights": False, "activity": rng.lognormal(0.0, 0.45, m),
        "days_present": days_present, "pop_class": pop_class,
        "home_region": np.array(OTHER_REGIONS)[rng.integers(0, len(OTHER_REGIONS), m)],
        "plant": pl["plant"].to_numpy()})
    for level in ("county", "township"):
        p[f"home_{level}"] = city.unit_of(p["home_x"].to_numpy(), p["home_y"].to_numpy(),
                                          level)
    p["birth_year"] = birth_years(sc, p["kind"].to_numpy(), np.ones(m, bool),
                                  rng=np.random.default_rng([sc.seed, STREAM, 4]))
    p["is_satellite"] = False
    c = p.assign(card_kind="primary", rate=p["activity"], is_human=True,
                 tac=np.array(HANDSET_TACS)[rng.integers(0, len(HANDSET_TACS), m)],
                 **{k: pl[k].to_numpy() for k in PLAN_COLUMNS})
    c["card_idx"] = np.arange(first_card_idx, first_card_idx + m)
    c["user_id"] = [card_id(sc.seed, i) for i in c["card_idx"]]
    c = c[[col for col in cards.columns if col in c.columns]].copy()
    for col in ("first_day", "last_day", "person_id", "card_idx", "away_from", "away_to"):
        c[col] = c[col].astype("int64")
    out_p = pd.concat([persons, p[[col for col in persons.columns if col in p.columns]]],
                      ignore_index=True)
    out_c = pd.concat([cards, c], ignore_index=True)
    return out_p, out_c
