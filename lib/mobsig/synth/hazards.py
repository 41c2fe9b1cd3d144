"""The synthetic city's geological hazard points 地质灾害隐患点 (layer ``hazard_point`` of
``units/zones.geojson``, beside the city's own Z-HAZ-01) and their truth
(``truth/exposure_hazards.csv``), what ``exposure_hazards`` is measured against.

The points are placed from the city's geometry and the sample persons' true places, with
no random draw (a Generator seeded from (seed, :data:`STREAM`) would hold any; none is
needed), so the city, its persons and events are unchanged:

- Z-HAZ-02 居民区: the home of a main-city sample person with the most other sample homes
  within 500 m (a dense residential area; ties: the smallest person_id);
- Z-HAZ-03 工作区: likewise the work place with the most work places within 500 m (a
  workplace cluster, the CBD);
- Z-HAZ-04 空地: empty land: of the points every 5° on the rings at 14, 16 and 18 km,
  the one farthest from every sample person's home, work and night place;
- Z-HAZ-05 产业园 with its own buffer (attribute ``buffer_m`` = :data:`OVERRIDE_BUFFER_M`):
  the centre of the industrial park Z-PARK-01, the buffer covering the whole park.

Truth (:func:`exposure_truth`): the rules of mobsig.hazards on the true stays (every
stationary segment, any duration; travelling never counts) of each sample person's
primary card: a person is exposed at a point in hour h when stationary inside the buffer
for at least ``hour_min_minutes`` of the hour; a resident of the point when a resident or
short-term person (true class) whose night place (home, or the lodging of a short stay)
lies inside, else a visitor. Distances in the city's local plane (azimuthal equidistant
around the centre: metres, exact to < 0.1 % within the city).
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
import pandas as pd
from shapely.geometry import Point

from mobsig.synth.city import City
from mobsig.synth.plants import HAZARD_PLANT

LEVEL = "hazard_point"
STREAM = zlib.crc32(b"hazards")
DEFAULT_BUFFER_M = 500.0
OVERRIDE_BUFFER_M = 1_500.0
COLUMNS = ["dt", "unit_id", "measure", "hour", "persons", "planted"]


def _densest(x: np.ndarray, y: np.ndarray, radius: float) -> int:
    """Index of the point with the most other points within ``radius`` (ties: first);
    a k-d tree, so a bench city of 10^5 persons is as quick as the test city."""
    from scipy.spatial import cKDTree

    xy = np.column_stack([x, y])
    counts = cKDTree(xy).query_ball_point(xy, radius, return_length=True)
    return int(np.argmax(counts))


def hazard_zones(city: City, persons: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``unit_id``, ``unit_name``, ``level`` (hazard_point), ``buffer_m`` (NaN: the
    default), ``geometry`` (a local-xy Point) of the added points (module doc).
    ``persons``: local ``home_x``/``home_y``, ``work_x``/``work_y``, ``night_x``/
    ``night_y``, ``in_sample``, ``is_satellite``, ``person_id``. ``seed``: unused
    (no draw), kept so a later change draws from (seed, STREAM)."""
    del seed
    p = persons[persons["in_sample"] & ~persons["is_satellite"].astype(bool)].sort_values(
        "person_id")
    homes = p[p["home_x"].notna()]
    works = p[p["work_x"].notna()]
    rows = []
    if len(homes):
        i = _densest(homes["home_x"].to_numpy(float), homes["home_y"].to_numpy(float),
                     DEFAULT_BUFFER_M)
        rows.append(("Z-HAZ-02", "居民区滑坡隐患点", homes["home_x"].iloc[i],
                     homes["home_y"].iloc[i], np.nan))
    if len(works):
        i = _densest(works["work_x"].to_numpy(float), works["work_y"].to_numpy(float),
                     DEFAULT_BUFFER_M)
        rows.append(("Z-HAZ-03", "工作区崩塌隐患点", works["work_x"].iloc[i],
                     works["work_y"].iloc[i], np.nan))
    a = np.radians(np.arange(0, 360, 5))
    cand = np.vstack([np.column_stack([r * np.cos(a), r * np.sin(a)])
                      for r in (14_000.0, 16_000.0, 18_000.0)])
    places = np.vstack([p[[f"{k}_x", f"{k}_y"]].dropna().to_numpy(float)
                        for k in ("home", "work", "night")])
    from scipy.spatial import cKDTree

    far = cKDTree(places).query(cand)[0]
    j = int(np.argmax(far))
    rows.append(("Z-HAZ-04", "空地泥石流隐患点", cand[j, 0], cand[j, 1], np.nan))
    park = city.zones.loc[city.zones["unit_id"] == "Z-PARK-01", "geometry"].iloc[0]
    c = park.centroid
    rows.append(("Z-HAZ-05", "产业园地面塌陷隐患点", c.x, c.y, OVERRIDE_BUFFER_M))
    return pd.DataFrame([{"unit_id": u, "unit_name": n, "level": LEVEL, "buffer_m": b,
                          "geometry": Point(float(x), float(y))} for u, n, x, y, b in rows])


def exposure_truth(stays: pd.DataFrame, cards: pd.DataFrame, persons: pd.DataFrame,
                   city: City, start: dt.date, points: pd.DataFrame,
                   hour_min_minutes: float,
                   default_buffer_m: float = DEFAULT_BUFFER_M) -> pd.DataFrame:
    """Per day, point, group (exposed, residents, visitors) and hour, the sample persons
    exposed (module doc): ``dt``, ``unit_id``, ``measure``, ``hour``, ``persons``,
    ``planted`` (how many of them belong to the planted crowd, ``persons.plant`` =
    hazard_crowd, mobsig.synth.plants); cells without anyone have no row.

    ``stays``: truth/stays (``user_id``, ``stay_start``, ``stay_end`` local wall-clock,
    ``lon``, ``lat``); ``cards``: truth/cards; ``persons``: ``person_id``, ``in_sample``,
    ``pop_class``, local ``night_x``/``night_y``; ``points``: ``unit_id``, ``buffer_m``
    (NaN: ``default_buffer_m``), ``geometry`` (local xy Points): every hazard point of
    the layer."""
    sample = persons.loc[persons["in_sample"], ["person_id", "pop_class", "night_x",
                                                "night_y"]]
    plant = persons.get("plant", pd.Series("", persons.index))
    planted = set(persons.loc[persons["in_sample"] & plant.eq(HAZARD_PLANT), "person_id"])
    primary = cards.loc[cards["is_human"] & cards["card_kind"].eq("primary"),
                        ["user_id", "person_id"]].merge(sample, on="person_id")
    s = stays.merge(primary, on="user_id", how="inner")
    if s.empty or points.empty:
        return pd.DataFrame(columns=COLUMNS)
    px = np.array([g.x for g in points["geometry"]])
    py = np.array([g.y for g in points["geometry"]])
    pr = points["buffer_m"].fillna(default_buffer_m).to_numpy(float)
    x, y = city.to_xy(s["lon"].to_numpy(), s["lat"].to_numpy())
    inside = np.hypot(x[:, None] - px[None, :], y[:, None] - py[None, :]) <= pr[None, :]
    si, pi = np.nonzero(inside)
    if not len(si):
        return pd.DataFrame(columns=COLUMNS)
    base = np.datetime64(start.isoformat(), "s")
    t0 = (s["stay_start"].to_numpy("datetime64[s]")[si] - base) / np.timedelta64(1, "s")
    t1 = (s["stay_end"].to_numpy("datetime64[s]")[si] - base) / np.timedelta64(1, "s")
    h_first = np.floor(t0 / 3600).astype(np.int64)
    n = np.maximum(np.ceil(t1 / 3600).astype(np.int64) - h_first, 0)
    idx = np.repeat(np.arange(len(si)), n)
    hour_idx = h_first[idx] + (np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n))
    overlap = (np.minimum(t1[idx], (hour_idx + 1) * 3600.0)
               - np.maximum(t0[idx], hour_idx * 3600.0))
    pieces = pd.DataFrame({"person_id": s["person_id"].to_numpy()[si][idx],
                           "point": pi[idx], "hour_idx": hour_idx, "overlap_s": overlap})
    per = pieces[pieces["overlap_s"] > 0].groupby(["person_id", "point", "hour_idx"],
                                                  as_index=False)["overlap_s"].sum()
    per = per[per["overlap_s"] >= hour_min_minutes * 60.0]
    who = sample.set_index("person_id")
    nx = who["night_x"].reindex(per["person_id"]).to_numpy(float)
    ny = who["night_y"].reindex(per["person_id"]).to_numpy(float)
    cls = who["pop_class"].reindex(per["person_id"]).to_numpy()
    home = (np.isin(cls, ["resident", "short_term"])
            & (np.hypot(nx - px[per["point"]], ny - py[per["point"]]) <= pr[per["point"]]))
    per = per.assign(measure=np.where(home, "residents", "visitors"))
    per = per.assign(planted=per["person_id"].isin(planted).astype("int64"))
    both = pd.concat([per, per.assign(measure="exposed")], ignore_index=True)
    out = both.groupby(["hour_idx", "point", "measure"]).agg(
        persons=("person_id", "size"), planted=("planted", "sum")).reset_index()
    out = out[out["hour_idx"] >= 0]
    out["dt"] = [(start + dt.timedelta(days=int(d))).isoformat() for d in out["hour_idx"] // 24]
    out["hour"] = (out["hour_idx"] % 24).astype("int64")
    out["unit_id"] = points["unit_id"].to_numpy()[out["point"].to_numpy()]
    return out[COLUMNS].sort_values(["dt", "unit_id", "measure", "hour"]).reset_index(drop=True)
