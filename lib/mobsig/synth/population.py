"""Persons and cards of the synthetic city.

Person kinds (shares of the sample persons):
- ``resident_worker`` (0.52): home and a workplace >= 1 km away, weekday schedule; some
  work Saturdays; some are away for a few days.
- ``resident_nonworker`` (0.26): home, errands and outings.
- ``short_term`` (0.08): present 3-17 days, nights at a hotel or a friend's home.
- ``day_visitor`` (0.07): present 1-2 days.
- ``transit`` (0.07): crosses the city on the highway in well under 3 hours.
Out-of-sample residents (other operators, market share < 100 %) get a home only: they are
part of the official population but produce no events; each township holds
sample residents / market share of them (see ``_out_of_sample``).
Every person has a ``birth_year`` (``birth_years``, by kind, see AGE_SHARES): the city's
children are out of sample or resident non-workers, so the sample is adult-heavy.

Cards: every sample person has one handset card, some a second one (一人多卡); plus
non-human cards: static meters, mobile trackers (regular cadence) and heavy test cards.

The satellite city (:func:`build_satellite_people`, when the city has one) adds resident
workers and non-workers living in its three towns, one card each, from their own random
stream after everything else: the first county's workers partly commute into the main
city, the second's partly into the first county, the third's work locally
(:data:`SATELLITE_PLAN`), so the metropolitan area delineated by commuting share is known.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import shapely

from mobsig.config import PopulationConfig
from mobsig.synth.city import CITY_R, CORE_R, INNER_R, SATELLITE_STREAM, City
from mobsig.synth.config import SynthConfig

KIND_SHARES = {"resident_worker": 0.52, "resident_nonworker": 0.26, "short_term": 0.08,
               "day_visitor": 0.07, "transit": 0.07}

HANDSET_TACS = [f"{t:08d}" for t in (35328010, 35391110, 35467211, 86012304, 86475105,
                                      86769506, 35210407, 86883908, 35698309, 86120310)]
IOT_TACS = [f"{t:08d}" for t in (86371701, 86431702, 35925603, 86997604)]
MODULE_TACS = [f"{t:08d}" for t in (86200501,)]  # IoT modules reported as device type 'module'

OTHER_REGIONS = ["110101", "310104", "440106", "500103", "420102", "610113", "320106"]

# Age structure by person kind: shares of ages 0-14 / 15-64 / 65+ (uniform ages inside
# AGE_SPANS). Children rarely hold a card of their own, so the sample (card holders) has
# few of them (only among resident non-workers) while the out-of-sample residents carry
# the city's children; the elderly are mostly non-workers. The sample thus
# under-represents 0-14 and over-represents 15-64: what raking to age margins corrects.
AGE_SHARES = {"resident_worker": (0.0, 0.96, 0.04),
              "resident_nonworker": (0.45, 0.20, 0.35),
              "short_term": (0.0, 0.92, 0.08),
              "day_visitor": (0.0, 0.90, 0.10),
              "transit": (0.0, 0.95, 0.05),
              "resident_out_of_sample": (0.22, 0.60, 0.18)}
AGE_SPANS = ((0, 14), (15, 64), (65, 94))  # inclusive
SAMPLE_CHILD_MIN_AGE = 8  # the youngest card holder
VILLAGE_SD_M = 350.0  # village homes: normal around the village centre, per axis


def card_id(seed: int, n: int) -> str:
    """A pseudonymised card id: 32 hex chars, stable for (seed, n)."""
    return hashlib.sha256(f"mobsig-synth:{seed}:{n}".encode()).hexdigest()[:32]


def _points_homes(rng: np.random.Generator, n: int, city: City) -> np.ndarray:
    """Home locations: dense core, inner ring, villages in the periphery (one by the
    hazard point)."""
    u = rng.random(n)
    pts = np.empty((n, 2))
    core = u < 0.55
    inner = (u >= 0.55) & (u < 0.85)
    village = u >= 0.85
    r = CORE_R * np.sqrt(rng.random(core.sum()))
    a = rng.uniform(0, 2 * np.pi, core.sum())
    pts[core] = np.column_stack([r * np.cos(a), r * np.sin(a)])
    r = np.sqrt(rng.uniform(CORE_R**2, INNER_R**2, inner.sum()))
    a = rng.uniform(0, 2 * np.pi, inner.sum())
    pts[inner] = np.column_stack([r * np.cos(a), r * np.sin(a)])
    centres = village_centres(city)
    which = rng.integers(0, len(centres), village.sum())
    pts[village] = centres[which] + rng.normal(0, VILLAGE_SD_M, (village.sum(), 2))
    return pts


def village_centres(city: City) -> np.ndarray:
    """The periphery's village centres (local xy, metres): one by the hazard point and
    seven 11-20 km from the centre, from a Generator of their own (part of the
    geography: the same for every seed). Village homes are spread around them
    (:data:`VILLAGE_SD_M`); their residential land is mobsig.synth.land_use's."""
    hz = city.zones.loc[city.zones["level"] == "hazard_point", "geometry"].iloc[0]
    vrng = np.random.default_rng(7)
    return np.vstack([[hz.x + 300, hz.y - 200],
                      np.column_stack([vrng.uniform(11_000, 20_000, 7) *
                                       np.cos(a7 := vrng.uniform(0, 2 * np.pi, 7)),
                                       vrng.uniform(11_000, 20_000, 7) * np.sin(a7)])])


def _points_homes_real(rng: np.random.Generator, n: int, city: City,
                       population: pd.Series) -> np.ndarray:
    """Homes among real counties in proportion to their official population, in each
    county's settled part: the inner disk (sites <= 800 m apart) and its town, if any
    (mobsig.synth.real.towns)."""
    from mobsig.synth.real import home_points

    counties = city.units[city.units["level"] == "county"].reset_index(drop=True)
    weights = population.reindex(counties["unit_id"]).to_numpy(dtype=float)
    if not np.isfinite(weights).all() or (weights <= 0).any():
        bad = counties["unit_id"][~(np.isfinite(weights) & (weights > 0))].tolist()
        raise ValueError(f"real counties without an official population: {bad}")
    settled = shapely.union_all([shapely.Point(0.0, 0.0).buffer(INNER_R, 128),
                                 *city.towns.get("geometry", [])])
    pts, _ = home_points(rng, n, counties, weights, CITY_R, settled)
    return pts


def _points_work(rng: np.random.Generator, n: int, city: City) -> np.ndarray:
    park = city.zones.loc[city.zones["level"] == "park", "geometry"].iloc[0]
    minx, miny, maxx, maxy = park.bounds
    u = rng.random(n)
    pts = np.empty((n, 2))
    cbd = u < 0.4
    pk = (u >= 0.4) & (u < 0.6)
    core = (u >= 0.6) & (u < 0.85)
    ring = u >= 0.85
    pts[cbd] = rng.normal(0, 900, (cbd.sum(), 2))
    pts[pk] = np.column_stack([rng.uniform(minx + 100, maxx - 100, pk.sum()),
                               rng.uniform(miny + 100, maxy - 100, pk.sum())])
    r = CORE_R * np.sqrt(rng.random(core.sum()))
    a = rng.uniform(0, 2 * np.pi, core.sum())
    pts[core] = np.column_stack([r * np.cos(a), r * np.sin(a)])
    r = rng.uniform(CORE_R, INNER_R, ring.sum())
    a = rng.uniform(0, 2 * np.pi, ring.sum())
    pts[ring] = np.column_stack([r * np.cos(a), r * np.sin(a)])
    return pts


def _out_of_sample(cfg: SynthConfig, city: City, homes: np.ndarray,
                   first_id: int, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Homes of the residents without a card of this operator (official population only).

    Each township gets ``round(n_t x (1 - share) / share)`` of them for its ``n_t`` sample
    residents: the operator's market share is uniform, which is what county-level
    expansion assumes, so the truth of a township differs from its expanded sample count
    only by the pipeline's errors, not by the sampling noise of a small synthetic sample
    (a 2 % market share makes a 200-resident city a 10,000-person one whose townships of
    20 sample residents have 1,000 people). Each home is a sample home of the township
    moved by ~150 m (kept in the township). Own random stream: the market share never
    changes the sample persons. ``rng``: another stream (the satellite's); default
    ``[seed, 3]``.
    """
    if rng is None:
        rng = np.random.default_rng([cfg.seed, 3])
    scale = (1 - cfg.market_share) / cfg.market_share
    town = pd.Series(city.unit_of(homes[:, 0], homes[:, 1], "township")).fillna("")
    parts = []
    for t, idx in town.groupby(town, sort=True).groups.items():
        idx = np.asarray(idx)
        n_out = int(round(len(idx) * scale))
        src = homes[rng.choice(idx, n_out)] if n_out else np.empty((0, 2))
        moved = src + rng.normal(0, 150, src.shape)
        same = city.unit_of(moved[:, 0], moved[:, 1], "township")
        keep = np.array([(u or "") == t for u in same], dtype=bool)
        parts.append(np.where(keep[:, None], moved, src))
    pts = np.vstack(parts) if parts else np.empty((0, 2))
    return pd.DataFrame({"person_id": np.arange(first_id, first_id + len(pts)),
                         "home_x": pts[:, 0], "home_y": pts[:, 1]})


def build_people(cfg: SynthConfig, city: City, pop: PopulationConfig,
                 real_population: pd.Series | None = None) -> tuple[pd.DataFrame,
                                                                     pd.DataFrame]:
    """Persons (sample and out-of-sample) and cards, deterministic from the seed.

    Returns ``(persons, cards)``; the cards frame carries everything the event generator
    needs per card (place coordinates, presence window, behaviour parameters).

    ``real_population`` (official population by county id; a city in real counties, see
    mobsig.synth.real): homes are spread among the counties in proportion to it, and
    there are no out-of-sample persons (the official population is the truth).
    """
    rng = np.random.default_rng([cfg.seed, 2])
    days = cfg.days
    kinds = np.array(list(KIND_SHARES))
    shares = np.array(list(KIND_SHARES.values()))
    n = cfg.people
    kind = kinds[rng.choice(len(kinds), n, p=shares / shares.sum())]
    # make sure every kind exists even in tiny cities
    for i, k in enumerate(kinds):
        if not (kind == k).any() and n > len(kinds):
            kind[i] = k
    p = pd.DataFrame({"person_id": np.arange(n), "kind": kind, "in_sample": True})
    if real_population is None:
        homes = _points_homes(rng, n, city)
    else:
        homes = _points_homes_real(rng, n, city, real_population)
    p["home_x"], p["home_y"] = homes[:, 0], homes[:, 1]
    work = _points_work(rng, n, city)
    # workplaces at least 1 km from home (redraw a few times, then push away)
    for _ in range(10):
        close = np.hypot(work[:, 0] - homes[:, 0], work[:, 1] - homes[:, 1]) < 1000
        if not close.any():
            break
        work[close] = _points_work(rng, close.sum(), city)
    is_worker = p["kind"].eq("resident_worker").to_numpy()
    p["work_x"] = np.where(is_worker, work[:, 0], np.nan)
    p["work_y"] = np.where(is_worker, work[:, 1], np.nan)
    p["works_saturday"] = is_worker & (rng.random(n) < 0.15)
    # presence windows (day offsets, inclusive)
    first = np.zeros(n, int)
    last = np.full(n, days - 1)
    resident = p["kind"].str.startswith("resident").to_numpy()
    st = p["kind"].eq("short_term").to_numpy()
    dv = p["kind"].eq("day_visitor").to_numpy()
    tr = p["kind"].eq("transit").to_numpy()
    st_len = rng.integers(pop.short_term_min_days, pop.resident_min_days, n)
    st_len = np.minimum(st_len, days)
    first[st] = rng.integers(0, np.maximum(days - st_len[st] + 1, 1))
    last[st] = first[st] + st_len[st] - 1
    dv_len = rng.integers(1, 3, n)
    first[dv] = rng.integers(0, max(days - 1, 1), dv.sum())
    last[dv] = np.minimum(first[dv] + dv_len[dv] - 1, days - 1)
    first[tr] = rng.integers(0, days, tr.sum())
    last[tr] = first[tr]
    p["first_day"], p["last_day"] = first, last
    # residents away for a few days (business trip), still present >= resident_min_days
    max_away = max(days - pop.resident_min_days - 2, 0)
    away = resident & (rng.random(n) < 0.15) & (max_away >= 2)
    away_len = rng.integers(2, max(max_away, 2) + 1, n)
    away_from = rng.integers(1, max(days - 1, 2), n)
    p["away_from"] = np.where(away, away_from, -1)
    p["away_to"] = np.where(away, np.minimum(away_from + away_len - 1, days - 2), -2)
    # night place of short-term visitors: a hotel (60 %) or a friend's home
    hotels = city.pois[city.pois["kind"] == "hotel"][["x", "y"]].to_numpy()
    h = hotels[rng.integers(0, len(hotels), n)]
    use_hotel = (st | dv) & (rng.random(n) < 0.6)
    p["night_x"] = np.where(resident, p["home_x"], np.where(use_hotel, h[:, 0], p["home_x"]))
    p["night_y"] = np.where(resident, p["home_y"], np.where(use_hotel, h[:, 1], p["home_y"]))
    # short-term temporary workers have a daytime work site
    st_worker = st & (rng.random(n) < 0.5)
    p["work_x"] = np.where(st_worker, work[:, 0], p["work_x"])
    p["work_y"] = np.where(st_worker, work[:, 1], p["work_y"])
    p["phone_off_nights"] = rng.random(n) < 0.03
    p["activity"] = rng.lognormal(0.0, 0.45, n)  # event-rate multiplier
    days_present = (last - first + 1) - np.where(
        away, np.clip(p["away_to"] - p["away_from"] + 1, 0, None), 0)
    p["days_present"] = days_present
    p["pop_class"] = np.select(
        [tr, days_present >= pop.resident_min_days, days_present >= pop.short_term_min_days],
        ["transit", "resident", "short_term"], "visitor")
    # most residents are registered 归属地 in their home county, others elsewhere
    home_county = city.unit_of(p["home_x"].to_numpy(), p["home_y"].to_numpy(), "county")
    elsewhere = np.array(OTHER_REGIONS)[rng.integers(0, len(OTHER_REGIONS), n)]
    p["home_region"] = np.where(resident & (rng.random(n) < 0.8), home_county, elsewhere)

    # out-of-sample residents: the operator's share is the same in every township
    true_res = p["kind"].str.startswith("resident") & p["pop_class"].eq("resident")
    q = (_out_of_sample(cfg, city, p.loc[true_res, ["home_x", "home_y"]].to_numpy(), n)
         if real_population is None else
         pd.DataFrame({"person_id": np.empty(0, "int64"), "home_x": np.empty(0),
                       "home_y": np.empty(0)}))
    q = q.assign(kind="resident_out_of_sample", in_sample=False, pop_class="resident",
                 days_present=days)
    persons = pd.concat([p, q], ignore_index=True)
    persons["home_county"] = city.unit_of(persons["home_x"].to_numpy(),
                                          persons["home_y"].to_numpy(), "county")
    persons["home_township"] = city.unit_of(persons["home_x"].to_numpy(),
                                            persons["home_y"].to_numpy(), "township")

    cards = _cards(cfg, city, p, rng)
    persons["birth_year"] = birth_years(cfg, persons["kind"].to_numpy(),
                                        persons["in_sample"].to_numpy(bool))
    return persons, cards


def birth_years(cfg: SynthConfig, kind: np.ndarray, in_sample: np.ndarray,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """Birth year of every person (age at the start year, drawn by kind from AGE_SHARES).

    Own random stream ``[seed, 4]`` (or ``rng``), drawn after everything else: adding ages
    changed no other draw of the city.
    """
    if rng is None:
        rng = np.random.default_rng([cfg.seed, 4])
    n = len(kind)
    u = rng.random(n)
    pick = rng.random(n)
    shares = np.array([AGE_SHARES.get(str(k), AGE_SHARES["resident_worker"]) for k in kind])
    band = (u[:, None] >= np.cumsum(shares, axis=1)[:, :-1]).sum(axis=1)
    lo = np.array([s[0] for s in AGE_SPANS])[band]
    hi = np.array([s[1] for s in AGE_SPANS])[band]
    lo = np.where((band == 0) & in_sample, SAMPLE_CHILD_MIN_AGE, lo)
    age = lo + np.floor(pick * (hi - lo + 1)).astype(int)
    return (cfg.start_date.year - age).astype("int64")


# The satellite's sample persons per county (in SATELLITE_COUNTIES order): share of the
# satellite's persons, share of non-workers, where the workers who do not work in their
# own town work ("main": the main city; an index: that satellite county's town) and
# their share of the county's workers
SATELLITE_PLAN: tuple[tuple[float, float, str | int | None, float], ...] = (
    (0.40, 0.15, "main", 0.6),  # 卫城区 faces the main city: 60 % of its workers commute
    (0.34, 0.15, 0, 0.5),       # 北山县: half of its workers work in 卫城区, none further
    (0.26, 0.15, None, 0.0),    # 南湖县: every worker works in its own town
)
SATELLITE_HOME_SD_M = 600.0   # homes and local work places around the town centre
SATELLITE_HOME_MAX_M = 1_800.0


def satellite_size(cfg: SynthConfig) -> int:
    """The satellite's sample persons: round(satellite_share x people)."""
    return int(round(cfg.satellite_share * cfg.people))


def _around(rng: np.random.Generator, centre: np.ndarray, n: int) -> np.ndarray:
    """n points around ``centre`` (normal, SATELLITE_HOME_SD_M), pulled inside
    SATELLITE_HOME_MAX_M so that they stay far from the county borders."""
    d = rng.normal(0, SATELLITE_HOME_SD_M, (n, 2))
    r = np.hypot(d[:, 0], d[:, 1])
    d = d * np.minimum(1.0, SATELLITE_HOME_MAX_M / np.maximum(r, 1e-9))[:, None]
    return centre + d


def build_satellite_people(cfg: SynthConfig, city: City, pop: PopulationConfig,
                           first_person_id: int, first_card_idx: int
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The satellite city's persons (sample and out-of-sample residents, as
    :func:`build_people` returns them, with ``is_satellite``) and their cards (one
    primary handset each; ``card_idx`` from ``first_card_idx``, which the caller puts at
    a generation-chunk boundary so that no chunk of the main city changes).

    Own random streams ``[seed, SATELLITE_STREAM, 2..4]``. Every person is a resident
    present the whole period (no trips away, no second card); see SATELLITE_PLAN for who
    works where. Work places are >= 1 km from home (the main city's: its usual work
    places).
    """
    sat = city.satellite
    assert sat is not None, "the city has no satellite"
    rng = np.random.default_rng([cfg.seed, SATELLITE_STREAM, 2])
    n = satellite_size(cfg)
    sizes = [int(round(share * n)) for share, *_ in SATELLITE_PLAN[:-1]]
    sizes.append(max(n - sum(sizes), 0))
    rows = []
    for c, (size, (_, non_share, dest, dest_share)) in enumerate(
            zip(sizes, SATELLITE_PLAN, strict=True)):
        non = int(round(non_share * size)) if size >= 2 else 0
        workers = size - non
        away = int(workers * dest_share + 0.5) if dest is not None else 0
        homes = _around(rng, sat.towns[c], size)
        if dest == "main":
            far = _points_work(rng, away, city)
        elif dest is not None:
            far = _around(rng, sat.towns[int(dest)], away)
        else:
            far = np.empty((0, 2))
        local = _around(rng, sat.towns[c], workers - away)
        work = np.vstack([far, local, np.full((non, 2), np.nan)])
        for _ in range(20):  # local work places >= 1 km from home
            close = np.hypot(work[:, 0] - homes[:, 0], work[:, 1] - homes[:, 1]) < 1000
            if not close.any():
                break
            work[close] = _around(rng, sat.towns[c], int(close.sum()))
        kind = ["resident_worker"] * workers + ["resident_nonworker"] * non
        rows.append(pd.DataFrame({"kind": kind, "home_x": homes[:, 0], "home_y": homes[:, 1],
                                  "work_x": work[:, 0], "work_y": work[:, 1]}))
    p = pd.concat(rows, ignore_index=True)
    m = len(p)
    p.insert(0, "person_id", np.arange(first_person_id, first_person_id + m))
    is_worker = p["kind"].eq("resident_worker").to_numpy()
    p["in_sample"] = True
    p["works_saturday"] = is_worker & (rng.random(m) < 0.15)
    p["first_day"], p["last_day"] = 0, cfg.days - 1
    p["away_from"], p["away_to"] = -1, -2
    p["night_x"], p["night_y"] = p["home_x"], p["home_y"]
    p["phone_off_nights"] = False
    p["activity"] = rng.lognormal(0.0, 0.45, m)
    p["days_present"] = cfg.days
    p["pop_class"] = np.select(
        [p["days_present"] >= pop.resident_min_days,
         p["days_present"] >= pop.short_term_min_days], ["resident", "short_term"], "visitor")
    home_county = city.unit_of(p["home_x"].to_numpy(), p["home_y"].to_numpy(), "county")
    elsewhere = np.array(OTHER_REGIONS)[rng.integers(0, len(OTHER_REGIONS), m)]
    p["home_region"] = np.where(rng.random(m) < 0.8, home_county, elsewhere)
    true_res = p["pop_class"].eq("resident").to_numpy()
    q = _out_of_sample(cfg, city, p.loc[true_res, ["home_x", "home_y"]].to_numpy(),
                       first_person_id + m,
                       rng=np.random.default_rng([cfg.seed, SATELLITE_STREAM, 3]))
    q = q.assign(kind="resident_out_of_sample", in_sample=False, pop_class="resident",
                 days_present=cfg.days)
    persons = pd.concat([p, q], ignore_index=True)
    persons["home_county"] = city.unit_of(persons["home_x"].to_numpy(),
                                          persons["home_y"].to_numpy(), "county")
    persons["home_township"] = city.unit_of(persons["home_x"].to_numpy(),
                                            persons["home_y"].to_numpy(), "township")
    persons["birth_year"] = birth_years(
        cfg, persons["kind"].to_numpy(), persons["in_sample"].to_numpy(bool),
        rng=np.random.default_rng([cfg.seed, SATELLITE_STREAM, 4]))
    persons["is_satellite"] = True
    cards = p.assign(card_kind="primary", rate=p["activity"], is_human=True,
                     tac=np.array(HANDSET_TACS)[rng.integers(0, len(HANDSET_TACS), m)])
    cards["card_idx"] = np.arange(first_card_idx, first_card_idx + m)
    cards["user_id"] = [card_id(cfg.seed, i) for i in cards["card_idx"]]
    cards["is_satellite"] = True
    cols = ["card_idx", "user_id", "person_id", "kind", "card_kind", "is_human", "tac",
            "home_region", "pop_class", "home_x", "home_y", "work_x", "work_y", "night_x",
            "night_y", "first_day", "last_day", "away_from", "away_to", "works_saturday",
            "phone_off_nights", "rate", "is_satellite"]
    cards = cards[cols].copy()
    for c in ("first_day", "last_day", "person_id", "card_idx", "away_from", "away_to"):
        cards[c] = cards[c].astype("int64")
    cards["home_region"] = cards["home_region"].astype(str)
    return persons, cards


def _cards(cfg: SynthConfig, city: City, p: pd.DataFrame,
           rng: np.random.Generator) -> pd.DataFrame:
    n = len(p)
    base = p.assign(card_kind="primary", rate=p["activity"],
                    tac=np.array(HANDSET_TACS)[rng.integers(0, len(HANDSET_TACS), n)])
    second = p[(rng.random(n) < cfg.second_card_share) & p["kind"].ne("transit")].copy()
    second["card_kind"] = "secondary"
    second["rate"] = second["activity"] * 0.5
    second["tac"] = np.array(HANDSET_TACS)[rng.integers(0, len(HANDSET_TACS), len(second))]
    human = pd.concat([base, second], ignore_index=True)
    human["is_human"] = True
    # non-human cards
    n_iot = cfg.iot_cards
    n_static = int(round(n_iot * 0.6))
    n_track = n_iot - n_static
    sites = city.sites.sample(n=max(n_iot, 1), random_state=int(rng.integers(1 << 31)))
    iot = pd.DataFrame({
        "person_id": -1,
        "kind": ["iot_static"] * n_static + ["iot_tracker"] * n_track,
        "card_kind": ["iot_static"] * n_static + ["iot_tracker"] * n_track,
        "home_x": sites["x"].to_numpy()[:n_iot] + 40, "home_y": sites["y"].to_numpy()[:n_iot],
        "first_day": 0, "last_day": cfg.days - 1, "rate": 1.0, "is_human": False,
        "pop_class": "non_human", "home_region": "990101",
    })
    # about two thirds report an IoT TAC; the rest must be caught by behaviour
    has_iot_tac = rng.random(n_iot) < 0.65
    iot["tac"] = np.where(has_iot_tac,
                          np.array(IOT_TACS + MODULE_TACS)[rng.integers(0, 5, n_iot)],
                          np.where(rng.random(n_iot) < 0.5, None,
                                   np.array(HANDSET_TACS)[rng.integers(0, 10, n_iot)]))
    heavy = pd.DataFrame({
        "person_id": -1, "kind": "heavy", "card_kind": "heavy",
        "home_x": rng.uniform(-2000, 2000, cfg.heavy_cards),
        "home_y": rng.uniform(-2000, 2000, cfg.heavy_cards),
        "first_day": rng.integers(0, max(cfg.days - 2, 1), cfg.heavy_cards),
        "rate": 1.0, "is_human": False, "pop_class": "non_human", "tac": None,
        "home_region": "990101"})
    heavy["last_day"] = np.minimum(heavy["first_day"] + 1, cfg.days - 1)
    cards = pd.concat([human, iot, heavy], ignore_index=True)
    cards["card_idx"] = np.arange(len(cards))
    cards["user_id"] = [card_id(cfg.seed, i) for i in cards["card_idx"]]
    # a few malformed-looking but valid ids are not wanted: all ids are 32 hex chars
    cols = ["card_idx", "user_id", "person_id", "kind", "card_kind", "is_human", "tac",
            "home_region", "pop_class", "home_x", "home_y", "work_x", "work_y", "night_x",
            "night_y", "first_day", "last_day", "away_from", "away_to", "works_saturday",
            "phone_off_nights", "rate"]
    for c in cols:
        if c not in cards:
            cards[c] = np.nan
    cards = cards[cols].copy()
    for c in ("work_x", "work_y", "night_x", "night_y", "rate"):
        cards[c] = cards[c].astype(float)
    cards["night_x"] = cards["night_x"].fillna(cards["home_x"])
    cards["night_y"] = cards["night_y"].fillna(cards["home_y"])
    for c in ("first_day", "last_day", "person_id", "card_idx"):
        cards[c] = cards[c].astype("int64")
    cards["away_from"] = cards["away_from"].fillna(-1).astype("int64")
    cards["away_to"] = cards["away_to"].fillna(-2).astype("int64")
    cards["works_saturday"] = cards["works_saturday"].eq(True)
    cards["phone_off_nights"] = cards["phone_off_nights"].eq(True)
    cards["tac"] = cards["tac"].astype(object).where(cards["tac"].notna(), None)
    cards["home_region"] = cards["home_region"].astype(str)
    return cards


def tac_types() -> pd.DataFrame:
    """The TAC -> device type table written beside the synthetic data."""
    rows = [(t, "handset") for t in HANDSET_TACS] + [(t, "iot") for t in IOT_TACS]
    rows += [(t, "module") for t in MODULE_TACS]
    return pd.DataFrame(rows, columns=["tac", "device_type"])
