"""Settings of the synthetic-city generator: the ``synth:`` section of a config file.

Test data, not production: ``mobsig synth`` and ``mobsig demo`` read the section, the
generator writes it into the city's config.yaml (``mobsig evaluate`` reads the city centre
back), and ``mobsig config --explain`` lists it; but it is left out of
``Config.digest()``, so a generator seed never changes the config digest recorded with
every production run. The section is validated with the rest of the file
(``mobsig.config.build_config``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mobsig.config import UnitLayer
from mobsig.errors import ConfigError
from mobsig.params import param

SECTION = "synth"


@dataclass(frozen=True)
class SynthConfig:
    seed: int = param(20260601, "Random seed: the same seed gives the same city and events.")
    profile: str = param(
        "city", "Which synthetic place: city = the test city (dense core, mixed coordinate "
        "systems per cell, day workers); region = an independent region "
        "(mobsig.synth.region: 3-sector masts 150 m to 5 km apart, half the sites in GCJ-02 "
        "and some in BD-09, night-shift and rotating-shift workers, people living above "
        "their shop, students in dormitories, hotel-based visitors, a mid-month holiday, "
        "phones asleep for hours, heavier ping-pong and drift, second cards with their own "
        "event timing). The same jobs and `mobsig evaluate` run on both.",
        choices=("city", "region"))
    people: int = param(400, "Persons with a card of this operator (the sample).", ge=10)
    days: int = param(30, "Days simulated.", ge=1, le=92)
    start_date: dt.date = param(dt.date(2026, 6, 1), "First simulated day.")
    market_share: float = param(
        0.6, "Share of the true population with a card of this operator.", gt=0, le=1)
    second_card_share: float = param(
        0.1, "Share of sample persons carrying two cards (≈1.1 cards/person) [S].", ge=0, le=1)
    iot_cards: int = param(20, "Non-human (IoT/M2M) cards.", ge=0)
    heavy_cards: int = param(1, "Test/IoT cards with impossible event rates.", ge=0)
    heavy_events_per_day: int = param(30000, "Events a day of a heavy card.", ge=1)
    malformed_share: float = param(0.003, "Share of rows made malformed.", ge=0, lt=0.5)
    duplicate_share: float = param(0.005, "Share of rows emitted twice.", ge=0, lt=0.5)
    pingpong_rate: float = param(
        0.03, "Injected ping-pong triples per in-stay event.", ge=0, lt=1)
    drift_per_day: float = param(0.15, "Injected drift records per card-day.", ge=0)
    center_lon: float = param(104.06, "City centre longitude (WGS-84).", ge=73, le=136)
    center_lat: float = param(30.66, "City centre latitude (WGS-84).", ge=3, le=54)
    raw_format: str = param("csv", "Raw event file format written.", choices=("csv", "parquet"))
    event_labels: bool = param(
        True, "Write per-event truth labels (doubles the output; off for big benchmarks).")
    satellite_share: float = param(
        0.2, "A satellite city 卫城市 east of the main one (mobsig.synth.city): its sample "
        "persons as a share of `people` (on top of them; residents of three towns, one "
        "county's workers partly commuting into the main city, another's into the first "
        "county), for inter-city linkage and the metropolitan area; 0 = no satellite and no "
        "city layer (the single-city layout). Ignored with real_counties.", ge=0, le=1)
    reserve_intruders: int = param(
        30, "Planted case of screen_reserves (mobsig.synth.plants; the city profile without "
        "real counties): a group of this many intruders (extra day visitors from outside "
        "the city, their own random stream) staying 4-6 h inside the reserve core Z-RSV-01 "
        "on each of reserve_intruder_days; 0 = none.", ge=0)
    reserve_intruder_days: tuple[int, ...] = param(
        [3], "Days of the planted reserve intruders, as offsets from start_date (0 = the "
        "first day; offsets past the period are ignored).")
    hazard_crowd: int = param(
        60, "Planted case of exposure_hazards (mobsig.synth.plants): a crowd of this many "
        "extra day visitors within 250 m of the hazard point hazard_crowd_point from "
        "hazard_crowd_hours[0] to hazard_crowd_hours[1] on day hazard_crowd_day; 0 = none.",
        ge=0)
    hazard_crowd_point: str = param(
        "Z-HAZ-02", "The hazard point (unit_id of the city's hazard layer) of the planted "
        "crowd.")
    hazard_crowd_day: int = param(
        5, "Day of the planted crowd, an offset from start_date.", ge=0)
    hazard_crowd_hours: tuple[int, ...] = param(
        [13, 17], "The planted crowd's hours [first, end): present for the whole of each "
        "hour (arriving 10-25 min before the first, leaving 5-25 min after the end). Keep "
        "it >= 4 h: a crowd near 3 h sits on population.transit_max_h and daily_presence's "
        "3 h rule, where the measured stay (first to last record) often falls short.")
    real_counties: str | UnitLayer = param(
        "", "Place the city inside real counties: a county layer (a path, or a mapping as in "
        "paths.units, e.g. the census TopoJSON with layer county, id_field CODE, crs Albers). "
        "Counties overlapping the city disk become the county unit layer (no township "
        "layer), and sample homes are spread among them in proportion to real_population, "
        "in each county's part of the inner disk and in a town with sites 500 m apart in "
        "its part of the periphery (mobsig.synth.real.towns). "
        "Empty = the six fictional districts (the default city).")
    real_population: str = param(
        "", "CSV of official resident population per real county (UTF-8, BOM allowed), "
        "e.g. the 2020 census population.csv; required with real_counties.")
    real_population_id_field: str = param(
        "CODE", "Column of real_population holding the county code.")
    real_population_field: str = param(
        "POPU", "Column of real_population holding the resident population.")
    real_min_overlap_km2: float = param(
        10.0, "A real county is part of the city when it overlaps the city disk by at least "
        "this area (drops slivers along the edge).", gt=0)

    def check(self) -> None:
        h = self.hazard_crowd_hours
        if len(h) != 2 or not 1 <= h[0] < h[1] <= 23:
            raise ConfigError("synth.hazard_crowd_hours: give [first, end) hours with "
                              "1 <= first < end <= 23")
        if any(d < 0 for d in self.reserve_intruder_days):
            raise ConfigError("synth.reserve_intruder_days: offsets from start_date, >= 0")
        if bool(self.real_counties) != bool(self.real_population):
            raise ConfigError("synth.real_counties and synth.real_population go together: "
                              "set both or neither")
        if self.profile == "region" and self.real_counties:
            raise ConfigError("synth.profile region builds its own districts: it cannot be "
                              "placed in real counties (synth.real_counties)")
