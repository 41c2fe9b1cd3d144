"""Itineraries: what each card's holder really does, as stay and travel segments.

A segment is ``(t0, t1, x0, y0, x1, y1, is_stay, place)`` with times in seconds since the
first simulated day's local midnight and positions in the city's local plane (metres).
Stays have ``x0 == x1``. The stays of an itinerary are the ground-truth stays.

Itineraries are generated per person from ``rng([seed, 3, person_id])``, so both cards of
a person share them; non-human cards draw from their card index. The per-day plans are a
small Python loop over O(stays) items; the per-event work (signals.py) is vectorised.

High-speed-rail riders: a share (:data:`HSR_TRANSIT_SHARE`) of the transit persons cross
the city on the HSR line at ~300 km/h instead of the highway (:func:`is_hsr_traveller`,
decided by its own ``rng([seed, 9, person_id])`` so no other draw changes); their ride is a
single travel segment with place :data:`PLACE_HSR`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobsig.synth.city import HSR_LINE

DAY = 86_400
H = 3_600
MIN = 60

PLACE_HOME, PLACE_WORK, PLACE_POI, PLACE_STATION, PLACE_ROAD, PLACE_SITE, PLACE_HSR = range(7)
PLACE_NAMES = {PLACE_HOME: "home", PLACE_WORK: "work", PLACE_POI: "poi",
               PLACE_STATION: "station", PLACE_ROAD: "road", PLACE_SITE: "site",
               PLACE_HSR: "hsr"}

HSR_TRANSIT_SHARE = 0.5          # transit persons riding the HSR line instead of the highway
HSR_SPEED_KMH = (280.0, 320.0)   # a through train's speed range


@dataclass
class Places:
    """Shared geography the itineraries draw from."""
    poi_xy: np.ndarray        # leisure POIs
    hotel_xy: np.ndarray
    station_xy: np.ndarray    # (2,)
    scenic_xy: np.ndarray     # (2,)
    highway: tuple[tuple[float, float], tuple[float, float]]
    hsr_line: tuple[tuple[float, float], tuple[float, float]] = HSR_LINE


def travel_s(x0: float, y0: float, x1: float, y1: float) -> float:
    d = float(np.hypot(x1 - x0, y1 - y0))
    speed = 25 / 3.6 if d < 5000 else 35 / 3.6
    return 180.0 + d / speed


class _Builder:
    """Accumulates segments; the open stay is extended until the holder moves."""

    def __init__(self) -> None:
        self.segs: list[tuple] = []
        self.cur: list | None = None  # [t0, x, y, place]

    def appear(self, t: float, x: float, y: float, place: int) -> None:
        self.cur = [t, x, y, place]

    def go(self, t_dep: float, x: float, y: float, place: int) -> float:
        """Leave the current stay at t_dep and travel to (x, y); returns arrival time."""
        assert self.cur is not None
        t0, cx, cy, cp = self.cur
        t_dep = max(t_dep, t0 + 5 * MIN)
        if np.hypot(x - cx, y - cy) < 1.0:
            return t_dep
        self.segs.append((t0, t_dep, cx, cy, cx, cy, True, cp))
        t_arr = t_dep + travel_s(cx, cy, x, y)
        self.segs.append((t_dep, t_arr, cx, cy, x, y, False, -1))
        self.cur = [t_arr, x, y, place]
        return t_arr

    def now(self) -> float:
        assert self.cur is not None
        return self.cur[0]

    def vanish(self, t: float) -> None:
        """Close the current stay at t: the holder leaves the area (or the period ends)."""
        if self.cur is not None:
            t0, cx, cy, cp = self.cur
            if t > t0:
                self.segs.append((t0, t, cx, cy, cx, cy, True, cp))
            self.cur = None


def _near(rng: np.random.Generator, pts: np.ndarray, x: float, y: float,
          radius: float) -> np.ndarray:
    d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
    ok = np.flatnonzero(d < radius)
    if len(ok) == 0:
        ok = np.argsort(d)[:3]
    return pts[rng.choice(ok)]


def _clip_h(rng: np.random.Generator, mean_h: float, sd_h: float, lo_h: float,
            hi_h: float) -> float:
    return float(np.clip(rng.normal(mean_h, sd_h), lo_h, hi_h)) * H


def true_work_days(persons, day_types: list[str]) -> np.ndarray:
    """Per person (rows of the generator's persons frame): the workdays (``day_types``
    'workday', make-up days included, the calendar home_work counts) on which
    :func:`human_itinerary` sends the person to work: present, not away, not the day of
    arrival, with a work place. Weekend days worked (``works_saturday``) do not count, as
    they do not for home_work's work rule. 0 for persons without a work place."""
    out = np.zeros(len(persons), dtype=np.int64)
    cols = ["kind", "first_day", "last_day", "away_from", "away_to", "work_x"]
    for i, r in enumerate(persons[cols].itertuples(index=False)):
        if not isinstance(r.work_x, float) or np.isnan(r.work_x):
            continue
        resident = str(r.kind).startswith("resident")
        first, last = int(r.first_day), int(r.last_day)
        away_from, away_to = int(r.away_from), int(r.away_to)
        for d in range(first, last + 1):
            if away_from <= d <= away_to or day_types[d] != "workday":
                continue
            arriving = (d == first and not resident) or (d == away_to + 1)
            out[i] += not arriving
    return out


def human_itinerary(card: dict, day_types: list[str], weekdays: list[int], places: Places,
                    rng: np.random.Generator, n_days: int) -> list[tuple]:
    """Segments of a person over the simulated period (see module doc)."""
    b = _Builder()
    kind = card["kind"]
    first, last = int(card["first_day"]), int(card["last_day"])
    away_from, away_to = int(card["away_from"]), int(card["away_to"])
    home = (card["night_x"], card["night_y"])
    has_work = not np.isnan(card["work_x"])
    work = (card["work_x"], card["work_y"])
    st = places.station_xy
    resident = kind.startswith("resident")

    for d in range(first, last + 1):
        base = d * DAY
        if away_from <= d <= away_to:
            continue
        arriving = (d == first and not resident) or (d == away_to + 1)
        leaving = (d == last and not resident) or (d == away_from)
        if b.cur is None:
            if resident and d == 0:
                b.appear(0.0, *home, PLACE_HOME)
            else:
                t_arr = base + (_clip_h(rng, 10, 2, 7, 15) if not resident or d != away_to + 1
                                else _clip_h(rng, 17, 2, 12, 21))
                b.appear(t_arr, *st, PLACE_STATION)
                stop = t_arr + rng.uniform(10, 25) * MIN
                if kind == "day_visitor":
                    b.go(stop, *places.poi_xy[rng.integers(len(places.poi_xy))], PLACE_POI)
                else:
                    b.go(stop, *home, PLACE_HOME)
        dtype = day_types[d]
        working = has_work and (
            dtype == "workday" or (card["works_saturday"] and weekdays[d] == 5
                                   and dtype == "weekend"))
        if kind == "day_visitor":
            n_poi = int(rng.integers(2, 5))
            for _ in range(n_poi):
                dep = b.now() + rng.uniform(60, 180) * MIN
                if dep > base + 20 * H:
                    break
                target = (places.scenic_xy if rng.random() < 0.25
                          else places.poi_xy[rng.integers(len(places.poi_xy))])
                b.go(dep, *target, PLACE_POI)
        elif working and not arriving:
            b.go(base + _clip_h(rng, 7.75, 0.6, 6, 10), *work, PLACE_WORK)
            if rng.random() < 0.3:
                lunch = _near(rng, places.poi_xy, *work, 1500)
                b.go(base + rng.uniform(11.75, 12.25) * H, *lunch, PLACE_POI)
                b.go(b.now() + rng.uniform(35, 60) * MIN, *work, PLACE_WORK)
            t_off = base + _clip_h(rng, 18.0, 0.75, 16, 21.5)
            if not leaving and rng.random() < 0.3:
                b.go(t_off, *places.poi_xy[rng.integers(len(places.poi_xy))], PLACE_POI)
                t_off = b.now() + rng.uniform(60, 150) * MIN
            if not leaving:
                b.go(t_off, *home, PLACE_HOME)
        elif not arriving:
            t = base + rng.uniform(8.5, 11) * H
            n_out = int(rng.choice([0, 1, 2], p=[0.25, 0.5, 0.25]))
            for _ in range(n_out):
                if t > base + 19 * H:
                    break
                if rng.random() < 0.6:
                    target = _near(rng, places.poi_xy, *home, 3000)
                elif rng.random() < 0.1:
                    target = places.scenic_xy
                else:
                    target = places.poi_xy[rng.integers(len(places.poi_xy))]
                b.go(t, *target, PLACE_POI)
                if rng.random() < 0.4:  # a short errand on the way back (< tau)
                    errand = _near(rng, places.poi_xy, *home, 1500)
                    b.go(b.now() + rng.uniform(40, 180) * MIN, *errand, PLACE_POI)
                    t = b.now() + rng.uniform(10, 25) * MIN
                else:
                    t = b.now() + rng.uniform(40, 180) * MIN
                b.go(t, *home, PLACE_HOME)
                t = b.now() + rng.uniform(60, 180) * MIN
        if leaving:
            t_leave = max(b.now() + 30 * MIN, base + rng.uniform(8, 15) * H)
            if kind == "day_visitor":
                t_leave = max(b.now() + 30 * MIN, base + rng.uniform(16, 21) * H)
            b.go(t_leave, *st, PLACE_STATION)
            b.vanish(b.now() + rng.uniform(15, 30) * MIN)
        elif kind == "day_visitor":
            b.go(b.now() + rng.uniform(30, 90) * MIN, *home, PLACE_HOME)
    b.vanish(n_days * DAY)
    return b.segs


def night_shift_on(card: dict, d: int, day_types: list[str]) -> bool:
    """Whether a shift worker (region profile, ``card['shift']``) works the night from day
    ``d`` into ``d + 1``: night-shift workers on every workday, rotating-shift workers on
    the workdays of every other week (``shift_offset`` picks which)."""
    if day_types[d] != "workday":
        return False
    if card.get("shift") == "night":
        return True
    return card.get("shift") == "rotating" and (d // 7 + int(card["shift_offset"])) % 2 == 1


def shift_itinerary(card: dict, day_types: list[str], weekdays: list[int], places: Places,
                    rng: np.random.Generator, n_days: int) -> list[tuple]:
    """A resident shift worker (region profile, mobsig.synth.region): on a night-shift
    day the holder leaves home at ~21:45 for work, comes back at ~06:15 and sleeps at
    home into the afternoon (sometimes an outing at 15-18 h); a rotating-shift worker's
    day weeks are ordinary 08:00-17:30 work days; days off have an outing or none.
    Trips away (``away_from``..``away_to``) as for other residents."""
    b = _Builder()
    first, last = int(card["first_day"]), int(card["last_day"])
    away_from, away_to = int(card["away_from"]), int(card["away_to"])
    home = (card["night_x"], card["night_y"])
    work = (card["work_x"], card["work_y"])
    for d in range(first, last + 1):
        base = d * DAY
        if away_from <= d <= away_to:
            continue
        if b.cur is None:
            if d == 0:
                b.appear(0.0, *home, PLACE_HOME)
            else:  # back from a trip
                t_arr = base + _clip_h(rng, 17, 2, 12, 21)
                b.appear(t_arr, *places.station_xy, PLACE_STATION)
                b.go(t_arr + rng.uniform(10, 25) * MIN, *home, PLACE_HOME)
        if b.cur[3] == PLACE_WORK:  # the night shift ends
            b.go(base + _clip_h(rng, 6.25, 0.4, 5.5, 7.5), *home, PLACE_HOME)
        leaving = d == away_from
        night = night_shift_on(card, d, day_types) and not leaving and d < n_days - 1
        day_work = (day_types[d] == "workday" and card.get("shift") == "rotating"
                    and not night_shift_on(card, d, day_types))
        if day_work and b.now() < base + 7 * H:
            b.go(base + _clip_h(rng, 7.75, 0.5, 6.5, 9), *work, PLACE_WORK)
            b.go(base + _clip_h(rng, 17.5, 0.6, 16, 20), *home, PLACE_HOME)
        elif rng.random() < (0.4 if night else 0.6):
            t = max(b.now() + 30 * MIN, base + rng.uniform(14.5, 16.5) * H)
            target = _near(rng, places.poi_xy, *home, 3000)
            b.go(t, *target, PLACE_POI)
            b.go(b.now() + rng.uniform(60, 150) * MIN, *home, PLACE_HOME)
        if leaving:
            t_leave = max(b.now() + 30 * MIN, base + rng.uniform(8, 15) * H)
            b.go(t_leave, *places.station_xy, PLACE_STATION)
            b.vanish(b.now() + rng.uniform(15, 30) * MIN)
        elif night:
            b.go(max(b.now() + 30 * MIN, base + _clip_h(rng, 21.75, 0.4, 20.5, 22.75)),
                 *work, PLACE_WORK)
    b.vanish(n_days * DAY)
    return b.segs


def transit_itinerary(card: dict, places: Places, rng: np.random.Generator) -> list[tuple]:
    """Crossing the city on the highway (~100 km/h), sometimes with a short stop."""
    (xa, ya), (xb, yb) = places.highway
    if rng.random() < 0.5:
        xa, xb = xb, xa
    speed = rng.uniform(85, 115) / 3.6
    t = int(card["first_day"]) * DAY + rng.uniform(6, 22) * H
    segs: list[tuple] = []
    if rng.random() < 0.4:
        sx = rng.uniform(-5000, 5000)
        t1 = t + abs(sx - xa) / speed
        segs.append((t, t1, xa, ya, sx, ya, False, -1))
        t2 = t1 + rng.uniform(10, 25) * MIN
        segs.append((t1, t2, sx, ya, sx, ya, True, PLACE_ROAD))
        segs.append((t2, t2 + abs(xb - sx) / speed, sx, ya, xb, yb, False, -1))
    else:
        segs.append((t, t + abs(xb - xa) / speed, xa, ya, xb, yb, False, -1))
    return segs


def is_hsr_traveller(seed: int, card: dict) -> bool:
    """Whether a transit person rides the HSR line (own random stream per person)."""
    if card["kind"] != "transit" or not card["is_human"]:
        return False
    return bool(np.random.default_rng([seed, 9, int(card["person_id"])]).random()
                < HSR_TRANSIT_SHARE)


def hsr_itinerary(card: dict, places: Places, rng: np.random.Generator) -> list[tuple]:
    """A through ride on the HSR line, end to end at 280-320 km/h, no stop."""
    (xa, ya), (xb, yb) = places.hsr_line
    if rng.random() < 0.5:
        xa, ya, xb, yb = xb, yb, xa, ya
    speed = rng.uniform(*HSR_SPEED_KMH) / 3.6
    t = int(card["first_day"]) * DAY + rng.uniform(6, 22) * H
    return [(t, t + float(np.hypot(xb - xa, yb - ya)) / speed, xa, ya, xb, yb, False,
             PLACE_HSR)]


def planted_itinerary(card: dict) -> list[tuple]:
    """A planted person (mobsig.synth.plants; no random draw here, the plan is drawn
    there): appears at the entry point (``home_x``/``home_y``), drives to the spot
    (``plan_x``/``plan_y``) arriving at ``plan_t0``, stays until ``plan_t1``, drives back
    and leaves."""
    b = _Builder()
    ex, ey = card["home_x"], card["home_y"]
    x, y = card["plan_x"], card["plan_y"]
    t0, t1 = float(card["plan_t0"]), float(card["plan_t1"])
    dep = t0 - travel_s(ex, ey, x, y)
    b.appear(dep - 5 * MIN, ex, ey, PLACE_ROAD)
    b.go(dep, x, y, PLACE_POI)
    b.go(t1, ex, ey, PLACE_ROAD)
    b.vanish(b.now() + MIN)
    return b.segs


def is_planted(card: dict) -> bool:
    """Whether a card belongs to a planted person (its plan columns are set)."""
    t0 = card.get("plan_t0")
    return t0 is not None and not np.isnan(float(t0))


def machine_itinerary(card: dict, places: Places, rng: np.random.Generator,
                      n_days: int) -> list[tuple]:
    """IoT/M2M cards: static meters and heavy test cards sit still; trackers drive routes."""
    first, last = int(card["first_day"]), int(card["last_day"])
    x, y = card["home_x"], card["home_y"]
    if card["kind"] != "iot_tracker":
        return [(first * DAY, (last + 1) * DAY, x, y, x, y, True, PLACE_SITE)]
    b = _Builder()
    b.appear(first * DAY, x, y, PLACE_SITE)
    for d in range(first, last + 1):
        t = d * DAY + rng.uniform(6, 8) * H
        while t < d * DAY + 20 * H:
            target = _near(rng, places.poi_xy, x, y, 8000)
            # go() returns the arrival (or the departure when already there), so time
            # always advances even when the nearest POI is where the tracker stands
            t = b.go(t, *target, PLACE_POI) + rng.uniform(5, 20) * MIN
        b.go(t, x, y, PLACE_SITE)
    b.vanish(n_days * DAY)
    return b.segs


def itinerary(card: dict, seed: int, day_types: list[str], weekdays: list[int],
              places: Places, n_days: int, hsr: bool = True) -> list[tuple]:
    """The card's segments. ``hsr=False`` gives HSR riders their highway plan instead
    (signals.py draws its batch streams from those, so HSR riders change no other card)."""
    if card["is_human"]:
        if is_planted(card):  # mobsig.synth.plants
            return planted_itinerary(card)
        rng = np.random.default_rng([seed, 3, int(card["person_id"])])
        if card["kind"] == "transit":
            if hsr and is_hsr_traveller(seed, card):
                return hsr_itinerary(card, places, rng)
            return transit_itinerary(card, places, rng)
        if card.get("shift") in ("night", "rotating"):  # region profile only
            return shift_itinerary(card, day_types, weekdays, places, rng, n_days)
        return human_itinerary(card, day_types, weekdays, places, rng, n_days)
    rng = np.random.default_rng([seed, 4, int(card["card_idx"])])
    return machine_itinerary(card, places, rng, n_days)
