"""``mobsig synth``: write a synthetic city's inputs and ground truth to a folder.

Layout of the output folder::

    config.yaml                   a mobsig config whose paths point at this folder
    raw/events/dt=YYYY-MM-DD/     raw signaling (CSV gzip with header, or Parquet)
    raw/cells/cells.csv           the cell table 工参 (mixed WGS-84 / GCJ-02 / BD-09)
    units/{counties,townships,zones,facilities}.geojson    EPSG:4490 (a city in real
                                  counties, synth.real_counties: zones and facilities
                                  only; the county layer is the real one, see
                                  mobsig.synth.real); facilities: the layer `facility`
                                  (CBD, railway hub, park, heritage area) that the
                                  config's service_population.zones names
    units/land_use.geojson        land-use parcels (layer land_parcel, attribute land_use;
                                  mobsig.synth.land_use)
    units/supplied_parcels.geojson  supplied parcels (layer supplied_parcel, attributes
                                  supply_date, start_date; mobsig.synth.screens)
    units/cities.geojson          the city layer (main city and satellite; only with a
                                  satellite, synth.satellite_share > 0)
    reference/residential_land.geojson  the villages' residential land (三调 农村宅基地;
                                  paths.residential_land; not with real counties)
    reference/population.csv      official resident population per county
    reference/ages.csv            true age shares per county (census ages.csv form:
                                  CODE, NAME, AGES_<band> of expansion.age_bands)
    raw/subscribers.csv           real-name registration: user_id -> birth_year (human
                                  cards only)
    reference/tac_types.csv       IMEI TAC -> device type
    truth/persons.parquet         every person: kind, class, home/work, units, in_sample,
                                  birth_year, workdays at work, is_employed
    truth/cards.parquet           card -> person, is_human, card kind, TAC, n_events (raw
                                  rows of the card; with event labels only)
    truth/stays/                  true stays per card (Parquet, any duration; local
                                  wall-clock TIMESTAMP_NTZ)
    truth/events/dt=.../          every raw row with its label (normal, pingpong, drift,
                                  duplicate, malformed:<reason>) and true position
    truth/population_by_unit.csv  true population per county and township
    truth/jobs_housing.csv        true jobs-housing balance per county and township
    truth/daily_presence.csv      true persons present >= 3 h per day, county/township and
                                  class, and per hour (from truth/stays)
    truth/exposure_hazards.csv    true persons exposed per hazard point, day, hour and group
                                  (exposed, residents, visitors; mobsig.synth.hazards), the
                                  planted crowd among them (mobsig.synth.plants)
    truth/service_population.csv  true service population of each facility per month
                                  (residents, workers, visitors; catchment radius)
    truth/service_population_daily.csv   the same per facility and day
    truth/service_catchment.csv   true visitors of each facility by home county/township
    truth/screen_farmland.csv     true residents and workers per farmland polygon
                                  (mobsig.synth.land_use.farmland_truth)
    truth/land_use_intensity.csv  true residents, workers and daytime visitors per land-use
                                  parcel (mobsig.synth.land_use)
    truth/screen_reserves.csv     true visitors (>= 30 min inside, as their records show
                                  them; visitors_any: by the true stays) and residents per
                                  reserve core zone and day, planted intruders
                                  (mobsig.synth.screens, mobsig.synth.plants)
    truth/screen_idle_land.csv    true stayers and workers per supplied parcel, due and
                                  near-zero (mobsig.synth.screens)
    truth/commuters.parquet       every true commuter (sample employed resident): home and
                                  work units, home-work distance, home->work trips and
                                  their median duration (from the true stays)
    truth/commute.csv             true commuting per county and township (commute job's
                                  measures at the config's thresholds)
    truth/commute_od.csv          true commuters per county pair and township pair
    truth/moves.parquet           every true move of a sample person's card between
                                  consecutive true stays >= stays.tau_min, with its
                                  city, county and township at both ends
                                  (mobsig.synth.linkage_truth)
    truth/linkage.csv             true trips and commuters per ordered unit pair
    truth/trips_by_period.csv     true trips per unit pair and period of the day
    truth/metro_area.csv          the true metropolitan-area delineation
    truth/population_by_age.csv   true residents per county and age band
    truth/cells.csv               cells with their true WGS-84 position and county
    manifest.json                 sizes, seed, timing

The events are generated in parallel with Spark (``mapInPandas`` over chunks of cards),
so 10^7+ events are practical; everything else is small and written from the driver.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mobsig.config import Config
from mobsig.io.holidays import load_calendar
from mobsig.quality import run_gate
from mobsig.schema import load_schema
from mobsig.synth import hazards as synth_hazards
from mobsig.synth import land_use as synth_land_use
from mobsig.synth import linkage_truth, plants, real, region, service
from mobsig.synth import screens as synth_screens
from mobsig.synth.city import (
    CITY_PREFIX,
    FACILITY_LEVEL,
    HUB_HALVES_M,
    HUB_MAX_SHIFT_M,
    City,
    build_city,
    clear_box,
)
from mobsig.synth.population import build_people, build_satellite_people, tac_types, village_centres
from mobsig.synth.presence_truth import daily_presence_truth
from mobsig.synth.signals import CHUNK, build_network, events_for_cards, truth_stays
from mobsig.synth.timeline import Places, true_work_days

log = logging.getLogger(__name__)

EVENTS_SCHEMA = ("user_id string, event_time string, cell_id string, event_type string, "
                 "imei_tac string, home_region string, dt string, label string, "
                 "true_lon double, true_lat double, is_stay boolean")
STAYS_SCHEMA = "user_id string, t0_s double, t1_s double, lon double, lat double, place string"
RAW_COLUMNS = ["user_id", "event_time", "cell_id", "event_type", "imei_tac", "home_region",
               "dt"]
REGION_HOLIDAYS = "reference/holidays.yaml"  # the region profile's calendar
CARD_COLUMNS = ["card_idx", "user_id", "person_id", "kind", "card_kind", "is_human", "tac",
                "home_region", "home_x", "home_y", "work_x", "work_y", "night_x", "night_y",
                "first_day", "last_day", "away_from", "away_to", "works_saturday",
                "phone_off_nights", "rate", "is_satellite"]


# Residence thresholds scaled to a two-week period (the domain defaults assume a month:
# resident >= 18 days, home >= 10 nights, ...). Used by the quick demo and the test city;
# the generator's truth classes follow whatever thresholds the config holds.
TWO_WEEK_RULES: dict[str, dict[str, int]] = {
    "population": {"resident_min_days": 9, "short_term_min_days": 3},
    "home_work": {"home_min_nights": 5, "work_min_days": 4},
    "flags": {"static_min_days": 5, "multicard_min_days": 5},
}


@dataclass
class SynthResult:
    out: Path
    config_path: Path
    days: list[dt.date]
    n_cards: int
    n_persons: int
    n_events: int | None
    seconds: float


# the satellite's leisure places weigh this many times each among its residents'
# destinations, so that about 60 % of their outings stay in the satellite
SATELLITE_POI_WEIGHT = 8


def _places(city: City, satellite: bool = False) -> Places:
    """The places itineraries draw from; ``satellite``: those of the satellite city's
    residents (its own leisure places, weighted, and the main city's)."""
    pois = city.pois
    poi_xy = pois.loc[pois["kind"] == "leisure", ["x", "y"]].to_numpy()
    if satellite:
        assert city.satellite is not None
        poi_xy = np.vstack([np.repeat(city.satellite.pois, SATELLITE_POI_WEIGHT, axis=0),
                            poi_xy])
    return Places(
        poi_xy=poi_xy,
        hotel_xy=pois.loc[pois["kind"] == "hotel", ["x", "y"]].to_numpy(),
        station_xy=pois.loc[pois["kind"] == "station", ["x", "y"]].to_numpy()[0],
        scenic_xy=pois.loc[pois["kind"] == "scenic", ["x", "y"]].to_numpy()[0],
        highway=city.highway)


def _geojson(city: City, frame: pd.DataFrame, path: Path) -> None:
    feats = []
    for r in frame.itertuples(index=False):
        geom = city.geometry_lonlat(r.geometry)
        props = {"unit_id": r.unit_id, "unit_name": r.unit_name, "level": r.level}
        for extra in ("parent_id", "kind", "land_use", "supply_date", "start_date"):
            if hasattr(r, extra):
                props[extra] = getattr(r, extra)
        # a hazard point's own buffer (exposure_hazards); the default where it has none
        b = getattr(r, "buffer_m", None)
        if b is not None and pd.notna(b):
            props["buffer_m"] = float(b)
        feats.append({"type": "Feature", "properties": props,
                      "geometry": json.loads(shapely.to_geojson(shapely.set_precision(
                          geom, 1e-7)))})
    doc = {"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
           "features": feats}
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")


def _lonlat_fn(center_lon: float, center_lat: float):
    """A picklable (x, y) -> (lon, lat) for executors (the Transformer is built there)."""
    proj = f"+proj=aeqd +lat_0={center_lat} +lon_0={center_lon} +datum=WGS84 +units=m"
    cache: dict = {}

    def to_lonlat(x, y):
        if "t" not in cache:
            from pyproj import Transformer

            cache["t"] = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
        lon, lat = cache["t"].transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon), np.asarray(lat)

    return to_lonlat


def _write_ages(cfg: Config, out: Path, city: City, persons: pd.DataFrame,
                cards: pd.DataFrame, residents: pd.DataFrame,
                real_pop: pd.Series | None) -> str:
    """Birth years and age margins: ``raw/subscribers.csv`` (real-name registration: every
    human card -> its person's birth year), ``reference/ages.csv`` (census ages.csv form:
    CODE, NAME, AGES_<band> = true share of the county's residents, out-of-sample ones
    included) and ``truth/population_by_age.csv`` (unit_id, age_band,
    resident_population). A city in real counties uses the census ages.csv beside
    synth.real_population when it has every county (its truth = official population x
    census share), else has no age margins. Returns the config value of
    paths.reference_ages ('' = none)."""
    from mobsig.errors import InputError
    from mobsig.expansion import age_band_labels, parse_age_bands
    from mobsig.io.inputs import read_reference_ages

    human = cards[cards["is_human"]][["card_idx", "user_id", "person_id"]]
    subs = human.merge(persons[["person_id", "birth_year"]], on="person_id", how="left")
    subs.sort_values("card_idx")[["user_id", "birth_year"]].to_csv(
        out / "raw/subscribers.csv", index=False)
    bands = parse_age_bands(cfg.expansion.age_bands)
    labels = [b.label for b in bands]
    counties = city.units[city.units["level"] == "county"]
    if real_pop is None:
        age = cfg.synth.start_date.year - residents["birth_year"].to_numpy()
        res = residents.assign(age_band=age_band_labels(age, bands))
        table = (res.groupby(["home_county", "age_band"]).size().unstack(fill_value=0)
                 .reindex(index=counties["unit_id"], columns=labels, fill_value=0))
        overall = table.sum(axis=0) / max(int(table.to_numpy().sum()), 1)
        shares = table.div(table.sum(axis=1).replace(0, np.nan), axis=0)
        shares = shares.apply(lambda r: overall if r.isna().any() else r, axis=1)
        ages = pd.DataFrame({"CODE": counties["unit_id"].to_numpy(),
                             "NAME": counties["unit_name"].to_numpy()})
        for b in bands:
            ages[b.column] = shares[b.label].to_numpy()
        ages.to_csv(out / "reference/ages.csv", index=False, encoding="utf-8-sig")
        truth = table.stack().rename("resident_population").reset_index()
        value = "reference/ages.csv"
    else:
        src = Path(cfg.resolve_layer(cfg.synth.real_population).path).parent / "ages.csv"
        try:
            shares = read_reference_ages(src, cfg.expansion.ages_id_field, bands)
        except InputError as exc:
            log.warning("synth: no age margins for the real counties (%s)", exc)
            return ""
        ids = counties["unit_id"].tolist()
        lacking = sorted(set(ids) - set(shares.dropna().index))
        if lacking:
            log.warning("synth: %s has no usable age row for counties %s: no age margins",
                        src, lacking)
            return ""
        table = shares.loc[ids].mul(real_pop.reindex(ids).to_numpy(float), axis=0).round()
        truth = table.astype("int64").stack().rename("resident_population").reset_index()
        value = str(src)
    truth.columns = ["unit_id", "age_band", "resident_population"]
    truth.to_csv(out / "truth/population_by_age.csv", index=False)
    return value


def jobs_housing_truth(city: City, persons: pd.DataFrame) -> pd.DataFrame:
    """The true jobs-housing balance per county and township (``truth/jobs_housing.csv``)
    over the sample persons (those with a card of the operator; the market share is the
    same everywhere, so ratios and shares are those of the whole population): persons
    ``is_employed`` (a work place on at least home_work.work_min_days workdays) count as
    employed residents of their home unit when their true class is resident, as jobs of
    their work unit (any class), and as live_and_work when both units are the same.
    Columns: ``unit_id``, ``unit_name``, ``level``, ``parent_id``, ``employed_residents``,
    ``jobs``, ``live_and_work``, ``jobs_housing_ratio``, ``self_containment``,
    ``self_sufficiency`` (empty where the denominator is 0)."""
    emp = persons[persons["in_sample"] & persons["is_employed"]]
    res = emp[emp["pop_class"].eq("resident") & emp["kind"].str.startswith("resident")]
    rows = []
    for level in ("county", "township"):
        home, work = f"home_{level}", f"work_{level}"
        er = res.groupby(home).size()
        jobs = emp.groupby(work).size()
        both = res[res[home].notna() & res[home].eq(res[work])].groupby(home).size()
        for r in city.units[city.units["level"] == level].itertuples(index=False):
            e, j, b = (int(x.get(r.unit_id, 0)) for x in (er, jobs, both))
            rows.append({"unit_id": r.unit_id, "unit_name": r.unit_name, "level": level,
                         "parent_id": r.parent_id, "employed_residents": e, "jobs": j,
                         "live_and_work": b,
                         "jobs_housing_ratio": j / e if e else np.nan,
                         "self_containment": b / e if e else np.nan,
                         "self_sufficiency": b / j if j else np.nan})
    return pd.DataFrame(rows)


def commute_persons(spark: SparkSession, persons: pd.DataFrame, cards: pd.DataFrame,
                    stays_path: Path) -> pd.DataFrame:
    """The true commuters (``truth/commuters.parquet``): the sample persons that are
    jobs_housing_truth's employed residents (``is_employed``, true class resident), one
    row each: ``person_id``, ``user_id`` (the primary card), ``home_county``,
    ``home_township``, ``work_county``, ``work_township``, ``dist_m`` (straight line
    home-work in the city plane), ``trips`` (home->work trips in the period: a true
    stay at home followed by one at work) and ``time_s`` (their median duration, the
    departure from home to the arrival at work; NaN without a trip). ``persons`` still
    holds the plane coordinates (``home_x`` ...); ``stays_path``: truth/stays. No random
    draw: the city and its events are unchanged."""
    from pyspark.sql import Window

    emp = persons[persons["in_sample"] & persons["is_employed"]
                  & persons["pop_class"].eq("resident")
                  & persons["kind"].str.startswith("resident")]
    prim = cards.loc[cards["card_kind"].eq("primary"), ["user_id", "person_id"]]
    emp = emp.merge(prim, on="person_id", how="left")
    st = spark.read.parquet(str(stays_path))
    w = Window.partitionBy("user_id").orderBy("stay_start", "stay_end")
    prev_place, prev_end = F.lag("place").over(w), F.lag("stay_end").over(w)

    def micros(c):
        return F.unix_micros(c.cast("timestamp"))

    trips = (st.select("user_id", "place", "stay_start", prev_place.alias("_pp"),
                       prev_end.alias("_pe"))
             .where((F.col("_pp") == "home") & (F.col("place") == "work"))
             .select("user_id", ((micros(F.col("stay_start")) - micros(F.col("_pe")))
                                 / F.lit(1e6)).alias("trip_s")))
    per = trips.groupBy("user_id").agg(F.count(F.lit(1)).alias("trips"),
                                       F.median("trip_s").alias("time_s")).toPandas()
    out = emp.merge(per, on="user_id", how="left")
    out["trips"] = out["trips"].fillna(0).astype("int64")
    out["dist_m"] = np.hypot(out["work_x"] - out["home_x"], out["work_y"] - out["home_y"])
    return out[["person_id", "user_id", "home_county", "home_township", "work_county",
                "work_township", "dist_m", "trips", "time_s"]].sort_values(
        "person_id").reset_index(drop=True)


def commute_truth(city: City, people: pd.DataFrame, short_distance_m: float,
                  short_time_min: float, long_time_min: float, radius_quantile: float
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The true commuting per county and township (``truth/commute.csv``) and the true
    OD per county pair and township pair (``truth/commute_od.csv``) from
    :func:`commute_persons` rows, by the commute job's definitions (mobsig.commute; the
    quantiles by ``commute.quantile_mid``). commute.csv: ``unit_id``, ``unit_name``,
    ``level``, ``parent_id``, ``commuters``, ``timed``, ``mean_dist_m``,
    ``median_dist_m``, ``share_dist_short``, ``median_time_min``, ``share_time_short``,
    ``share_time_long``, ``inbound_commuters``, ``commuting_radius_m`` (empty where
    nobody is described). commute_od.csv: ``level``, ``origin_id``, ``dest_id``,
    ``commuters``."""
    from mobsig.commute import quantile_mid

    rows, od = [], []
    for level in ("county", "township"):
        home, work = f"home_{level}", f"work_{level}"
        for r in city.units[city.units["level"] == level].itertuples(index=False):
            g = people[people[home].eq(r.unit_id)]
            d, t = g["dist_m"].to_numpy(float), g["time_s"].to_numpy(float) / 60.0
            t = t[~np.isnan(t)]
            inbound = people.loc[people[work].eq(r.unit_id), "dist_m"].to_numpy(float)
            rows.append({
                "unit_id": r.unit_id, "unit_name": r.unit_name, "level": level,
                "parent_id": r.parent_id, "commuters": len(g), "timed": len(t),
                "mean_dist_m": d.mean() if len(d) else np.nan,
                "median_dist_m": quantile_mid(d, 0.5),
                "share_dist_short": (d <= short_distance_m).mean() if len(d) else np.nan,
                "median_time_min": quantile_mid(t, 0.5),
                "share_time_short": (t <= short_time_min).mean() if len(t) else np.nan,
                "share_time_long": (t >= long_time_min).mean() if len(t) else np.nan,
                "inbound_commuters": len(inbound),
                "commuting_radius_m": quantile_mid(inbound, radius_quantile)})
        pairs = people.dropna(subset=[home, work]).groupby([home, work]).size()
        od += [{"level": level, "origin_id": a, "dest_id": b, "commuters": int(n)}
               for (a, b), n in pairs.items()]
    return pd.DataFrame(rows), pd.DataFrame(od, columns=["level", "origin_id", "dest_id",
                                                         "commuters"])


def generate(spark: SparkSession, cfg: Config, out: Path,
             partitions: int | None = None) -> SynthResult:
    """Generate the city described by ``cfg.synth`` into ``out`` (replacing what is there).

    ``partitions`` (default: 4 x the default parallelism) only changes how the work is
    spread; the output is the same for any value.
    """
    t_start = time.time()
    sc = cfg.synth
    out = Path(out).resolve()
    for sub in ("raw", "units", "reference", "truth", "warehouse"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("raw/cells", "units", "reference", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    days = [sc.start_date + dt.timedelta(days=i) for i in range(sc.days)]
    quality_dir = out / "truth/_quality"
    is_region = sc.profile == "region"  # the second profile (mobsig.synth.region)
    holidays_path = cfg.paths.holidays and str(cfg.path("holidays")) or None
    if is_region:  # its own calendar: the national one plus a local mid-period holiday
        (out / REGION_HOLIDAYS).write_text(
            region.calendar_text(sc.start_date, sc.days, holidays_path), "utf-8")
        holidays_path = str(out / REGION_HOLIDAYS)
    cal = load_calendar(holidays_path, cfg.home_work.weekend_days)
    day_types = [cal.day_type(d) for d in days]
    weekdays = [d.weekday() for d in days]

    log.info("synth: building the city (seed %d)", sc.seed)
    real_counties = real_pop = real_layer = None
    if sc.real_counties:  # the city placed inside real counties (mobsig.synth.real)
        real_counties, real_layer = real.load_counties(spark, cfg)
        real_pop = real.load_population(cfg)
    if is_region:
        city = region.build_city(sc.seed, sc.center_lon, sc.center_lat, sc.start_date,
                                 sc.days, satellite=sc.satellite_share > 0 and sc.people > 0)
    else:
        city = build_city(sc.seed, sc.center_lon, sc.center_lat, sc.start_date, sc.days,
                          real_counties=real_counties, min_overlap_km2=sc.real_min_overlap_km2,
                          satellite=sc.satellite_share > 0 and sc.people > 0)
    persons, cards = build_people(sc, city, cfg.population, real_population=real_pop)
    if is_region:
        persons, cards = region.adjust_people(sc, city, cfg.population, persons, cards)
    persons["is_satellite"] = False
    cards["is_satellite"] = False
    places = _places(city)
    net = build_network(city.main_cells(), city.sites, city.epochs, sc.start_date)
    satellite = None
    if city.satellite is not None:  # after every draw of the main city, own streams
        first_card = -(-len(cards) // CHUNK) * CHUNK  # a chunk of its own
        sat_persons, sat_cards = build_satellite_people(sc, city, cfg.population,
                                                        len(persons), first_card)
        persons = pd.concat([persons, sat_persons], ignore_index=True)
        cards = pd.concat([cards, sat_cards], ignore_index=True)
        satellite = (build_network(city.cells, city.all_sites(), city.epochs, sc.start_date),
                     _places(city, satellite=True))
    if is_region:  # the satellite's cards and persons: day workers, one plain card each
        cards = region.with_card_defaults(cards)
        persons["shift"] = persons["shift"].fillna("").replace("", "day")
        persons["role"] = persons["role"].fillna("")
    has_city_level = bool((city.units["level"] == "city").any())
    if has_city_level and not cfg.linkage.metro_core:
        # the metropolitan area of the main city: its counties are the core (written to
        # the city's config below, so the jobs delineate from the same core as the truth)
        cfg = cfg.replace(linkage=dataclasses.replace(
            cfg.linkage, metro_core=(CITY_PREFIX + "00",)))

    # -- cell table as delivered, and its truth
    cells_out = city.cells[["cell_id", "lon", "lat", "coord_sys", "azimuth", "radius_m", "tech",
                            "valid_from", "valid_to", "is_hsr"]].copy()
    # gate the cell table before writing it (blocking: a broken generator stops here)
    raw_names = load_schema("cells_raw").names  # is_hsr is an optional extra column
    typed = cells_out[raw_names].astype(object).where(cells_out[raw_names].notna(), None)
    for c in ("valid_from", "valid_to"):
        typed[c] = [v.date() if v is not None else None for v in typed[c]]
    run_gate(spark.createDataFrame(typed, load_schema("cells_raw").struct), "cells_raw",
             params=cfg.run.bbox_params(), results_dir=quality_dir, label="synth")
    for c in ("valid_from", "valid_to"):
        cells_out[c] = cells_out[c].dt.strftime("%Y-%m-%d")
    cells_out.to_csv(out / "raw/cells/cells.csv", index=False)
    city.cells[["cell_id", "site_idx", "true_lon", "true_lat", "coord_sys", "admin_code",
                "valid_from", "valid_to", "x", "y", "is_hsr"]].to_csv(out / "truth/cells.csv",
                                                                      index=False)

    # -- units and zones (EPSG:4490)
    if real_layer is None:  # a real-county city reads the real layer itself
        _geojson(city, city.units[city.units["level"] == "county"],
                 out / "units/counties.geojson")
        _geojson(city, city.units[city.units["level"] == "township"],
                 out / "units/townships.geojson")
        if has_city_level:
            _geojson(city, city.units[city.units["level"] == "city"],
                     out / "units/cities.geojson")
    # the city's zones and, from their own random stream, farmland polygons around a few
    # sample homes and work places (screen_farmland's truth)
    farm = synth_land_use.farmland_zones(city, persons, sc.seed)
    # geological hazard points beside Z-HAZ-01 (exposure_hazards' truth), no random draw
    hazard_points = synth_hazards.hazard_zones(city, persons, sc.seed)
    all_zones = pd.concat([city.zones, farm, hazard_points], ignore_index=True)
    _geojson(city, all_zones, out / "units/zones.geojson")
    # the railway hub redrawn clear of the sample's homes too (city.clear_box)
    hub = city.facilities["unit_id"].eq("F-HUB-01").to_numpy()
    if hub.any():
        homes = persons.loc[persons["in_sample"], ["home_x", "home_y"]].dropna().to_numpy(float)
        station = city.pois.loc[city.pois["kind"] == "station", ["x", "y"]].to_numpy(float)[0]
        city.facilities.loc[hub, "geometry"] = clear_box(
            city, *station, HUB_HALVES_M, HUB_MAX_SHIFT_M, sc.start_date, homes_xy=homes)
    _geojson(city, city.facilities, out / "units/facilities.geojson")
    land_parcels = synth_land_use.parcels(city, sc.seed, sc.start_date)  # own random stream
    # the villages' residential land (三调 农村宅基地), where homes are in villages
    has_villages = real_pop is None
    if has_villages:
        _geojson(city, synth_land_use.village_land(village_centres(city)),
                 out / "reference/residential_land.geojson")
    _geojson(city, land_parcels, out / "units/land_use.geojson")
    # supplied parcels (screen_idle_land), from their own random stream
    supplied = synth_screens.supplied_parcels(city, persons, sc.seed, sc.start_date)
    _geojson(city, supplied, out / "units/supplied_parcels.geojson")
    # planted cases of the screens (reserve intruders, a crowd at a hazard point): extra
    # persons and cards after every other one, from their own random stream
    first_plant_card = -(-(int(cards["card_idx"].max()) + 1) // CHUNK) * CHUNK  # own chunk
    if sc.profile == "city" and real_layer is None:
        persons, cards = plants.plant_people(sc, cfg.population, city, hazard_points,
                                             persons, cards, first_plant_card)

    # -- persons, cards, official population
    hl = city.to_lonlat(persons["home_x"].to_numpy(), persons["home_y"].to_numpy())
    persons["home_lon"], persons["home_lat"] = hl
    wl = city.to_lonlat(persons["work_x"].to_numpy(), persons["work_y"].to_numpy())
    persons["work_lon"], persons["work_lat"] = wl
    nl = city.to_lonlat(persons["night_x"].to_numpy(), persons["night_y"].to_numpy())
    persons["night_lon"], persons["night_lat"] = nl
    persons["is_worker"] = persons["kind"].eq("resident_worker")
    # employed in the period by domain.md B2's rule: a work place on enough workdays
    persons["work_days"] = true_work_days(persons, day_types)
    persons["is_employed"] = (persons["work_lon"].notna()
                              & (persons["work_days"] >= cfg.home_work.work_min_days))
    for level in ("county", "township"):
        persons[f"work_{level}"] = city.unit_of(persons["work_x"].to_numpy(),
                                                persons["work_y"].to_numpy(), level)
    if has_city_level:
        for role in ("home", "work"):
            persons[f"{role}_city"] = city.unit_of(persons[f"{role}_x"].to_numpy(),
                                                   persons[f"{role}_y"].to_numpy(), "city")
    persons.drop(columns=["home_x", "home_y", "work_x", "work_y", "night_x", "night_y"]).to_parquet(
        out / "truth/persons.parquet", index=False)
    card_truth = cards[["user_id", "card_idx", "person_id", "kind", "card_kind", "is_human",
                        "tac", "pop_class", "first_day", "last_day", "is_satellite",
                        *(["card_mode"] if is_region else [])]].copy()
    card_truth.to_parquet(out / "truth/cards.parquet", index=False)
    tac_types().to_csv(out / "reference/tac_types.csv", index=False)
    residents = persons[persons["pop_class"].eq("resident")
                        & persons["kind"].str.startswith("resident")]
    pop_rows = []
    levels = [("county", "home_county"), ("township", "home_township")]
    if has_city_level:
        levels.append(("city", "home_city"))
    for level, col in levels:
        units = city.units[city.units["level"] == level]
        all_res = residents.groupby(col).size()
        sample_res = residents[residents["in_sample"]].groupby(col).size()
        for r in units.itertuples(index=False):
            pop_rows.append({"unit_id": r.unit_id, "unit_name": r.unit_name, "level": level,
                             "parent_id": r.parent_id,
                             "resident_population": int(all_res.get(r.unit_id, 0)),
                             "sample_residents": int(sample_res.get(r.unit_id, 0))})
    pop = pd.DataFrame(pop_rows)
    if real_pop is not None:  # the truth of a real county is its official population
        pop["resident_population"] = pop["unit_id"].map(real_pop).astype("int64")
    pop.to_csv(out / "truth/population_by_unit.csv", index=False)
    jobs_housing_truth(city, persons).to_csv(out / "truth/jobs_housing.csv", index=False)
    synth_land_use.farmland_truth(all_zones, persons, sc.start_date.strftime("%Y-%m")).to_csv(
        out / "truth/screen_farmland.csv", index=False)
    ref = pop[pop["level"] == "county"][["unit_id", "unit_name", "resident_population"]]
    ref = ref.rename(columns={"resident_population": "population"})
    if real_pop is None:
        ref = ref.assign(year=sc.start_date.year)
    ref.to_csv(out / "reference/population.csv", index=False)
    ages_path = _write_ages(cfg, out, city, persons, cards, residents, real_pop)

    # -- events and true stays, in parallel
    to_lonlat = _lonlat_fn(sc.center_lon, sc.center_lat)
    card_columns = (CARD_COLUMNS + (region.CARD_COLUMNS if is_region else [])
                    + [c for c in plants.PLAN_COLUMNS if c in cards])
    cards_sdf = spark.createDataFrame(cards[card_columns]).withColumn(
        "chunk", (F.col("card_idx") / F.lit(CHUNK)).cast("long"))
    n_chunks = int(len(cards) // CHUNK + 1)
    n_parts = partitions or max(1, min(n_chunks, spark.sparkContext.defaultParallelism * 4))
    cards_sdf = cards_sdf.repartition(n_parts, "chunk")
    synth_cfg = sc
    event_cfg = region.event_config(sc) if is_region else sc  # heavier ping-pong, drift

    def gen_events(batches):
        for pdf in batches:
            yield from events_for_cards(pdf, event_cfg, net, places, day_types, weekdays,
                                        to_lonlat, satellite=satellite)

    def gen_stays(batches):
        for pdf in batches:
            if len(pdf):
                yield truth_stays(pdf.sort_values("card_idx").reset_index(drop=True),
                                  synth_cfg.seed, day_types, weekdays, places, synth_cfg.days,
                                  to_lonlat,
                                  satellite_places=satellite[1] if satellite else None)

    # local wall-clock time without a zone (TIMESTAMP_NTZ), so pandas and Spark readers
    # see the same Asia/Shanghai times as the raw event strings
    base_ts = F.lit(sc.start_date.isoformat()).cast("timestamp_ntz")
    stays = cards_sdf.mapInPandas(gen_stays, STAYS_SCHEMA).select(
        "user_id",
        (base_ts + F.make_dt_interval(secs=F.col("t0_s"))).alias("stay_start"),
        (base_ts + F.make_dt_interval(secs=F.col("t1_s"))).alias("stay_end"),
        (F.col("t1_s") - F.col("t0_s")).cast("long").alias("duration_s"),
        "lon", "lat", "place")
    stays.write.mode("overwrite").parquet(str(out / "truth/stays"))
    true_stays = pd.read_parquet(out / "truth/stays")
    synth_hazards.exposure_truth(
        true_stays, card_truth, persons, city, sc.start_date,
        all_zones[all_zones["level"] == synth_hazards.LEVEL].reset_index(drop=True),
        cfg.screen.hazard_hour_min_minutes, cfg.screen.hazard_buffer_m).to_csv(
        out / "truth/exposure_hazards.csv", index=False)
    daily_presence_truth(true_stays, card_truth, persons, city,
                         sc.start_date, cfg.daily_presence.min_hours,
                         cfg.daily_presence.hour_min_minutes).to_csv(
        out / "truth/daily_presence.csv", index=False)
    sp = cfg.service_population
    service.write_truth(spark, out, city, persons, cards, days, sp.min_stay_min,
                        sp.catchment_quantile, cfg.stays.tau_min)
    lu = cfg.land_use
    synth_land_use.write_truth(spark, out, city, land_parcels, persons, cards, days,
                               lu.day_start_hour, lu.day_end_hour, lu.visit_min_min,
                               cfg.stays.tau_min)
    # reserve core zones and supplied parcels: truth from the true stays (no random draw)
    reserves = city.zones[city.zones["level"] == synth_screens.RESERVE_LEVEL]
    near = synth_land_use.parcel_stays(spark, out / "truth/stays", city,
                                       pd.concat([reserves, supplied], ignore_index=True))
    synth_screens.idle_land_truth(city, supplied, persons, cards, near,
                                  sc.start_date.replace(day=1),
                                  cfg.screen.idle_max_persons).to_csv(
        out / "truth/screen_idle_land.csv", index=False)
    # -- commuting truth from the true stays (no random draw)
    people = commute_persons(spark, persons, cards, out / "truth/stays")
    people.to_parquet(out / "truth/commuters.parquet", index=False)
    cc = cfg.commute
    by_unit, od = commute_truth(city, people, cc.short_distance_m, cc.short_time_min,
                                cc.long_time_min, cc.radius_quantile)
    by_unit.to_csv(out / "truth/commute.csv", index=False)
    od.to_csv(out / "truth/commute_od.csv", index=False)
    linkage_truth.write_truth(out, cfg, city, persons, cards)

    events = cards_sdf.mapInPandas(gen_events, EVENTS_SCHEMA)
    raw_dir = out / "raw/events"
    n_events = None
    if sc.event_labels:
        events.write.mode("overwrite").partitionBy("dt").parquet(str(out / "truth/events"))
        labelled = spark.read.parquet(str(out / "truth/events")).cache()
        n_events = labelled.count()
        # records per card (a card given no event at all, e.g. the region's tablet of a
        # day visitor, is in no table of the chain: mobsig.synth.evaluate.observable)
        per_card = labelled.groupBy("user_id").count().toPandas()
        card_truth["n_events"] = (card_truth["user_id"].map(
            dict(zip(per_card["user_id"], per_card["count"], strict=True))).fillna(0)
            .astype("int64"))
        card_truth.to_parquet(out / "truth/cards.parquet", index=False)
        run_gate(labelled, "synth_events", params=cfg.run.bbox_params(), results_dir=quality_dir,
                 label="synth")
        raw = labelled.select(*RAW_COLUMNS)
    else:
        raw = events.select(*RAW_COLUMNS)
    # the reserve truth: visitors as their records show them (truth/events near the
    # zones), so it is written after the events (mobsig.synth.screens.reserve_truth)
    near_events = None
    if sc.event_labels:
        near_events = synth_screens.zone_events(spark, out / "truth/events", city, reserves)
    synth_screens.reserve_truth(city, reserves, persons, cards, near, days,
                                cfg.screen.reserve_visit_min_min, near_events).to_csv(
        out / "truth/screen_reserves.csv", index=False)
    writer = raw.write.mode("overwrite").partitionBy("dt")
    if sc.raw_format == "csv":
        writer.option("header", True).option("compression", "gzip").csv(str(raw_dir))
    else:
        writer.parquet(str(raw_dir))

    # -- a config for running the jobs on this city
    config_path = out / "config.yaml"
    doc = {
        "paths": {"warehouse": "warehouse", "raw_events": "raw/events",
                  "cells": "raw/cells/cells.csv",
                  "units": ["units/counties.geojson", "units/townships.geojson",
                            *(["units/cities.geojson"] if has_city_level else []),
                            "units/zones.geojson", "units/facilities.geojson",
                            "units/land_use.geojson", "units/supplied_parcels.geojson"],
                  "reference_population": "reference/population.csv",
                  "tac_types": "reference/tac_types.csv",
                  "subscribers": "raw/subscribers.csv"},
        "synth": {k: (v.isoformat() if isinstance(v, dt.date) else v)
                  for k, v in cfg.to_dict()["synth"].items()},
    }
    if ages_path:
        doc["paths"]["reference_ages"] = ages_path
    if has_villages:
        doc["paths"]["residential_land"] = "reference/residential_land.geojson"
    if is_region:
        doc["paths"]["holidays"] = REGION_HOLIDAYS
    # the thresholds the truth was generated with (population classes depend on them), so
    # the jobs run on this city classify with the same rules; only non-defaults are written
    defaults = Config().to_dict()
    for section in ("population", "home_work", "flags", "service_population", "commute",
                    "linkage", "trips", "land_use"):
        changed = {k: v for k, v in cfg.to_dict()[section].items()
                   if v != defaults[section][k]}
        if changed:
            doc[section] = changed
    # service_population measures the facility layer (its truth: truth/service_*.csv)
    doc["service_population"] = {**doc.get("service_population", {}),
                                 "zones": [FACILITY_LEVEL]}
    if real_layer is not None:
        county_layer = dataclasses.replace(
            real_layer, unit_ids=tuple(city.units.loc[city.units["level"] == "county",
                                                      "unit_id"]))
        doc["paths"]["units"] = [county_layer.to_dict(), "units/zones.geojson",
                                 "units/facilities.geojson", "units/land_use.geojson",
                                 "units/supplied_parcels.geojson"]
        doc["service_population"]["home_levels"] = ["county"]  # no township layer
        doc["synth"]["real_counties"] = real_layer.to_dict()  # absolute paths
        doc["synth"]["real_population"] = cfg.resolve_layer(sc.real_population).path
        doc["expansion"] = real.factor_bounds(pop[pop["level"] == "county"])
    elif (pop.loc[pop["level"] == "county", "sample_residents"] > 0).any():
        # a small market share (a sample of a big city) needs wider bounds than defaults
        bounds = real.factor_bounds(pop[pop["level"] == "county"])
        exp_defaults = defaults["expansion"]
        if (bounds["factor_min"] < exp_defaults["factor_min"]
                or bounds["factor_max"] > exp_defaults["factor_max"]):
            doc["expansion"] = bounds
    config_path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), "utf-8")
    seconds = time.time() - t_start
    manifest = {"seed": sc.seed, "days": [d.isoformat() for d in days],
                "cards": int(len(cards)), "persons": int(len(persons)),
                "sample_persons": int(persons["in_sample"].sum()),
                "non_human_cards": int((~cards["is_human"]).sum()),
                "events": n_events, "seconds": round(seconds, 1),
                "generated_at": dt.datetime.now().isoformat(timespec="seconds")}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")
    log.info("synth: %s cards, %s events, %d days in %.1fs -> %s", len(cards), n_events,
             len(days), seconds, out)
    return SynthResult(out, config_path, days, len(cards), len(persons), n_events, seconds)
