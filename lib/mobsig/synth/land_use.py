"""The synthetic city's land-use parcels (``units/land_use.geojson``, layer ``land_parcel``
with attribute ``land_use``) and their truth (``truth/land_use_intensity.csv``).

The parcels are derived from the city's own geometry; their few random draws (radii, a
box position) come from a Generator of their own, seeded from (seed, :data:`STREAM`), so
the city, its persons and events are unchanged:

- residential land 居住用地: the parts of the three inner districts between two radii
  around the centre (drawn in 1.6-2.0 km and 4.5-5.5 km), outside the station square;
- commercial land 商业用地: a circle at the centre inside the CBD (radius drawn in
  1.0-1.4 km) and a square near the railway station (half-side 550-700 m, centre within
  200 m of it), drawn by ``city.clear_box`` so that no leisure place or hotel sits on its
  edge: a place within ~150 m of an edge is on either side for the signal (its stays are
  placed at their cells' service points), and the planted figure is the count the
  signal can resolve (with the plain 1.2 km square around the station, two leisure places
  13-70 m inside its edge had their visitors' stays placed 30-140 m outside it: 23
  measured for 29 true, -20.7 %);
- development zone / industrial park 开发区: the high-tech industrial park zone
  (Z-PARK-01, where many work places are) and a box drawn in the outer ring;
- one green-space parcel (class ``green``): a class of no measured kind.

The truth applies the rules of mobsig.land_use to the sample persons (persons, not cards:
one card per person is counted, 一人多卡 grouping; a person's stays are those of the
primary card, never the sum over their cards): ``residents`` are true residents (a
resident kind of true class resident) whose home is inside; ``workers`` persons
``is_employed`` whose work place is inside; ``day_visitors`` persons whose true stays inside
during the daytime window of one day add up to the minimum and who neither live nor work
there. Counts are of the sample; ``*_per_ha`` are per hectare of the polygon (local plane,
metres: an azimuthal equidistant plane centred on the city).
"""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mobsig.synth.city import City, _wedge, clear_box
from mobsig.synth.population import VILLAGE_SD_M

LEVEL = "land_parcel"
STREAM = zlib.crc32(b"land_use")
MEASURES = ("residents", "workers", "day_visitors")
KIND_MEASURE = {"residential": "residents", "commercial": "day_visitors",
                "industrial": "workers"}
INNER_WEDGES = ((90, 210), (210, 330), (-30, 90))  # the inner districts (city._units)
STATION_SIDE_M = 1_200.0
# the station square's half-sides tried (the nominal first) and its centre's largest shift
# from the station (city.clear_box: its edges clear of the places visitors stay at)
STATION_HALVES_M = np.r_[STATION_SIDE_M / 2, np.arange(550.0, 705.0, 10.0)]
STATION_MAX_SHIFT_M = 200.0
VILLAGE_LAND_R = 2.5 * VILLAGE_SD_M  # a village's residential land: a disc around its centre


def parcels(city: City, seed: int, start: dt.date) -> pd.DataFrame:
    """``unit_id``, ``unit_name``, ``level`` (land_parcel), ``land_use`` (the class),
    ``geometry`` (local xy) of the land-use parcels (see the module doc); ``start``: the
    city's first day (the network the station square is kept readable by)."""
    rng = np.random.default_rng([seed, STREAM])
    r0, r1 = rng.uniform(1_600, 2_000), rng.uniform(4_500, 5_500)
    cbd_r = rng.uniform(1_000, 1_400)
    a = rng.uniform(0, 2 * np.pi)
    rr = rng.uniform(13_000, 18_000)
    pois = city.pois
    sx, sy = pois.loc[pois["kind"] == "station", ["x", "y"]].to_numpy()[0]
    station = clear_box(city, sx, sy, STATION_HALVES_M, STATION_MAX_SHIFT_M, start)
    park = city.zones.loc[city.zones["unit_id"] == "Z-PARK-01", "geometry"].iloc[0]
    rows = []
    for i, (a0, a1) in enumerate(INNER_WEDGES):
        g = shapely.difference(_wedge(r0, r1, a0, a1), station)
        rows.append((f"LU-R-{i + 1:02d}", f"居住用地{i + 1}", "residential", g))
    a_ = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    rows.append(("LU-B-01", "商业用地(中心)", "commercial", shapely.Polygon(
        np.column_stack([cbd_r * np.cos(a_), cbd_r * np.sin(a_)]))))
    rows.append(("LU-B-02", "商业用地(车站)", "commercial", station))
    rows.append(("LU-M-01", "高新区产业用地", "industrial", park))
    bx, by = rr * np.cos(a), rr * np.sin(a)
    rows.append(("LU-M-02", "外围工业用地", "industrial",
                 shapely.box(bx - 750, by - 750, bx + 750, by + 750)))
    rows.append(("LU-G-01", "绿地", "green", shapely.box(-9_000, 14_000, -8_000, 15_000)))
    return pd.DataFrame([{"unit_id": u, "unit_name": n, "level": LEVEL, "land_use": k,
                          "geometry": shapely.make_valid(g)} for u, n, k, g in rows])


def village_land(villages: np.ndarray) -> pd.DataFrame:
    """The villages' residential land 村庄住宅用地 (``reference/residential_land.geojson``,
    the input ``paths.residential_land``: the land-use survey's 三调 农村宅基地 of the
    villages, not a reporting unit): ``unit_id`` (LU-V-nn), ``unit_name``, ``level``
    (residential_land), ``land_use`` (residential), ``geometry`` (local xy): a disc of
    :data:`VILLAGE_LAND_R` around each village centre (``villages``, local xy, n x 2;
    mobsig.synth.population.village_centres), less the discs drawn before it. 2.5 x the
    spread of a village's homes (~96 % of them inside: a village's land holds every house
    of it); drawn from the geography, not from the sampled persons. home_work places homes
    among km-spaced sites on it (home_work.settlement_radius_factor)."""
    rows, drawn = [], shapely.Polygon()
    for i, (vx, vy) in enumerate(villages):
        g = shapely.difference(shapely.Point(vx, vy).buffer(VILLAGE_LAND_R, 64), drawn)
        drawn = shapely.union(drawn, g)
        rows.append({"unit_id": f"LU-V-{i + 1:02d}", "unit_name": f"村庄住宅用地{i + 1}",
                     "level": "residential_land", "land_use": "residential",
                     "geometry": shapely.make_valid(g)})
    return pd.DataFrame(rows)


def parcel_stays(spark: SparkSession, stays_path: str | Path, city: City,
                 zones: pd.DataFrame) -> pd.DataFrame:
    """The true stays whose position lies in a parcel's lon/lat bounding box (pandas)."""
    cond = F.lit(False)
    for geom in zones["geometry"]:
        x0, y0, x1, y1 = shapely.bounds(city.geometry_lonlat(geom))
        cond = cond | (F.col("lon").between(x0, x1) & F.col("lat").between(y0, y1))
    return (spark.read.parquet(str(stays_path)).where(cond)
            .select("user_id", "stay_start", "stay_end", "lon", "lat").toPandas())


def is_stay(stays: pd.DataFrame, tau_min: float) -> np.ndarray:
    """Which true stays (``stay_start``, ``stay_end``) last at least ``tau_min`` minutes:
    the stays of the stay rule (domain.md §B1); a shorter stop is passing through."""
    dur = (stays["stay_end"].to_numpy("datetime64[ns]")
           - stays["stay_start"].to_numpy("datetime64[ns]")).astype("int64") / 1e9
    return dur >= tau_min * 60


def window_overlap_s(start: np.ndarray, end: np.ndarray, days: list[dt.date],
                     start_h: float, end_h: float) -> np.ndarray:
    """Seconds of each stay (``start``/``end`` datetime64) inside the window [d + start_h,
    d + end_h) of each day d of ``days``: an array (stays x days)."""
    d0 = np.array([np.datetime64(d, "ns") for d in days])
    w0 = d0 + np.timedelta64(int(start_h * 3600), "s")
    w1 = d0 + np.timedelta64(int(end_h * 3600), "s")
    lo = np.maximum(start[:, None], w0[None, :])
    hi = np.minimum(end[:, None], w1[None, :])
    return np.clip((hi - lo).astype("timedelta64[ns]").astype("int64") / 1e9, 0, None)


def land_use_truth(city: City, zones: pd.DataFrame, persons: pd.DataFrame,
                   cards: pd.DataFrame, stays: pd.DataFrame, days: list[dt.date],
                   day_start_h: float, day_end_h: float, visit_min_min: float,
                   tau_min: float = 0.0) -> pd.DataFrame:
    """Per parcel: ``unit_id``, ``level``, ``land_use``, ``area_ha``, the sample counts of
    :data:`MEASURES`, their ``<measure>_per_ha`` and ``intensity_per_ha`` (the density of
    the parcel's kind; empty for other classes). ``persons``: the generator's persons
    (local ``home_x``/``home_y``/``work_x``/``work_y``, ``kind``, ``pop_class``,
    ``in_sample``, ``is_employed``); ``cards``: ``user_id``, ``person_id``,
    ``is_human``, ``card_kind``; ``stays``: :func:`parcel_stays`. A person's stays are
    those of their primary card (as in presence_truth and hazards): a second card's
    一人多卡 true stays are the same visits, and summing both would count a 20-minute stop
    of a two-card person as 40 minutes. Only true stays of at least ``tau_min`` (the stay
    rule's τ, stays.tau_min) count towards a visit: a shorter stop is no stay (domain.md
    §B1), and two 20-minute stops at the station on one day are no 40-minute visit."""
    pr = persons[persons["in_sample"]].set_index("person_id")
    true_res = pr["kind"].astype(str).str.startswith("resident") & pr["pop_class"].eq("resident")
    owner = cards.loc[cards["is_human"].astype(bool) & cards["card_kind"].eq("primary"),
                      ["user_id", "person_id"]]
    st = stays.merge(owner, on="user_id", how="inner")
    st = st[st["person_id"].isin(pr.index) & is_stay(st, tau_min)].reset_index(drop=True)
    x, y = city.to_xy(st["lon"].to_numpy(), st["lat"].to_numpy())
    over = window_overlap_s(st["stay_start"].to_numpy("datetime64[ns]"),
                            st["stay_end"].to_numpy("datetime64[ns]"), days, day_start_h,
                            day_end_h)
    rows = []
    for z in zones.itertuples(index=False):
        lives = true_res.to_numpy() & shapely.contains_xy(
            z.geometry, pr["home_x"].to_numpy(float), pr["home_y"].to_numpy(float))
        works = (pr["is_employed"].fillna(False).to_numpy(bool) & shapely.contains_xy(
            z.geometry, pr["work_x"].fillna(np.inf).to_numpy(), pr["work_y"].fillna(
                np.inf).to_numpy()))
        inside = shapely.contains_xy(z.geometry, x, y)
        per_day = pd.DataFrame(over[inside], index=st.loc[inside, "person_id"]).groupby(
            level=0).sum()
        came = set(per_day.index[(per_day.to_numpy() >= visit_min_min * 60).any(axis=1)])
        anchored = set(pr.index[lives | works])
        area = z.geometry.area / 10_000
        n = {"residents": int(lives.sum()), "workers": int(works.sum()),
             "day_visitors": len(came - anchored)}
        row = {"unit_id": z.unit_id, "level": z.level, "land_use": z.land_use,
               "area_ha": area, **n, **{f"{m}_per_ha": n[m] / area for m in MEASURES}}
        m = KIND_MEASURE.get(z.land_use)
        row["intensity_per_ha"] = n[m] / area if m else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def write_truth(spark: SparkSession, out: Path, city: City, zones: pd.DataFrame,
                persons: pd.DataFrame, cards: pd.DataFrame, days: list[dt.date],
                day_start_h: float, day_end_h: float, visit_min_min: float,
                tau_min: float = 0.0) -> None:
    """``truth/land_use_intensity.csv`` from ``truth/stays`` (:func:`land_use_truth`)."""
    stays = parcel_stays(spark, out / "truth/stays", city, zones)
    land_use_truth(city, zones, persons, cards, stays, days, day_start_h, day_end_h,
                   visit_min_min, tau_min).to_csv(out / "truth/land_use_intensity.csv", index=False)


# -- permanent basic farmland 永久基本农田 (screen_farmland)
FARMLAND_STREAM = zlib.crc32(b"farmland")
FARMLAND_LEVEL = "farmland"
SETTLEMENT_SIDE_M = 800.0


def farmland_zones(city: City, persons: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Farmland polygons added beside the city's zone Z-FARM-01 (``unit_id``,
    ``unit_name``, ``level`` farmland, ``geometry`` local xy), from a Generator of their
    own (seed, :data:`FARMLAND_STREAM`): two settlements 农田内居民点 (an 800 m square
    around the home of a sample resident in the periphery, beyond 10 km, and around the
    work place of a sample worker beyond 5 km, outside the industrial park; the square's
    centre shifted up to 250 m so the point is not at its middle) and two squares drawn
    in the periphery, whose people (if any) the truth counts. ``persons``: local
    ``home_x``/``home_y``/``work_x``/``work_y``, ``kind``, ``pop_class``, ``in_sample``,
    ``is_satellite``."""
    rng = np.random.default_rng([seed, FARMLAND_STREAM])
    p = persons[persons["in_sample"] & ~persons["is_satellite"].astype(bool)]
    res = p[p["kind"].astype(str).str.startswith("resident") & p["pop_class"].eq("resident")]
    far = res[np.hypot(res["home_x"], res["home_y"]) > 10_000].sort_values("person_id")
    wk = p[p["work_x"].notna()]
    park = city.zones.loc[city.zones["unit_id"] == "Z-PARK-01", "geometry"].iloc[0]
    wfar = wk[(np.hypot(wk["work_x"], wk["work_y"]) > 5_000) & ~shapely.contains_xy(
        park, wk["work_x"].to_numpy(float), wk["work_y"].to_numpy(float))].sort_values(
        "person_id")
    h = SETTLEMENT_SIDE_M / 2
    rows = []
    for i, (frame, x, y) in enumerate(((far, "home_x", "home_y"), (wfar, "work_x", "work_y"))):
        if len(frame):
            r = frame.iloc[int(rng.integers(len(frame)))]
            cx, cy = r[x] + rng.uniform(-250, 250), r[y] + rng.uniform(-250, 250)
            rows.append((f"Z-FARM-{i + 2:02d}", f"永久基本农田片区{i + 2}",
                         shapely.box(cx - h, cy - h, cx + h, cy + h)))
    for i in range(2):
        rr, a = rng.uniform(12_000, 20_000), rng.uniform(0, 2 * np.pi)
        cx, cy = rr * np.cos(a), rr * np.sin(a)
        rows.append((f"Z-FARM-{i + 4:02d}", f"永久基本农田片区{i + 4}",
                     shapely.box(cx - 600, cy - 600, cx + 600, cy + 600)))
    return pd.DataFrame([{"unit_id": u, "unit_name": n, "level": FARMLAND_LEVEL,
                          "geometry": g} for u, n, g in rows])


def farmland_truth(zones: pd.DataFrame, persons: pd.DataFrame,
                   month: str) -> pd.DataFrame:
    """``truth/screen_farmland.csv``: per farmland polygon of ``zones`` (level farmland),
    the sample persons living (true residents) and working (``is_employed``) inside and
    ``is_occupied`` (either), for ``month`` (the city has one)."""
    pr = persons[persons["in_sample"]]
    true_res = (pr["kind"].astype(str).str.startswith("resident")
                & pr["pop_class"].eq("resident")).to_numpy()
    rows = []
    for z in zones[zones["level"] == FARMLAND_LEVEL].itertuples(index=False):
        lives = true_res & shapely.contains_xy(z.geometry, pr["home_x"].to_numpy(float),
                                               pr["home_y"].to_numpy(float))
        works = pr["is_employed"].fillna(False).to_numpy(bool) & shapely.contains_xy(
            z.geometry, pr["work_x"].fillna(np.inf).to_numpy(),
            pr["work_y"].fillna(np.inf).to_numpy())
        rows.append({"month": month, "unit_id": z.unit_id, "level": z.level,
                     "residents": int(lives.sum()), "workers": int(works.sum()),
                     "occupants": int((lives | works).sum()),
                     "is_occupied": bool((lives | works).any())})
    return pd.DataFrame(rows)
