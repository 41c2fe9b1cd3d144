"""Truth of two screening scenarios of issue 15 (domain.md §D) in the synthetic city,
derived from the existing timeline (the city's persons, events and true stays are
unchanged; the few random draws come from a Generator of their own, seeded from (seed,
:data:`IDLE_STREAM`)):

- nature-reserve core zones 自然保护区核心区 (``screen_reserves``): the city's zone
  Z-RSV-01 (layer ``reserve_core``) holds the scenic spot that day visitors and some
  residents' outings go to. :func:`reserve_truth` (``truth/screen_reserves.csv``): per
  core zone and day the sample persons whose true stays inside add up to the visit
  minimum that day and who do not live there (``visitors``), the true residents whose
  home is inside (``residents``), and how many of the visitors are the planted
  intruders (``planted``; mobsig.synth.plants).
- supplied parcels 已供应地块 (``screen_idle_land``): :func:`supplied_parcels` plants a
  layer ``supplied_parcel`` (``units/supplied_parcels.geojson``, attributes
  ``supply_date`` and ``start_date``): two parcels on empty land around a cell site of the
  periphery with no sample home, work place or leisure place within
  :data:`EMPTY_RADIUS_M` (idle), one in the high-tech industrial park and one at the
  centre (active), all past their agreed start date, and one in the park whose start date
  is after the city's month (not due). :func:`idle_land_truth`
  (``truth/screen_idle_land.csv``): per parcel the sample persons with a true stay inside
  during the month, the employed persons working inside, ``is_due`` and ``is_near_zero``.
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
import pandas as pd
import shapely

from mobsig.synth.city import City
from mobsig.synth.land_use import window_overlap_s
from mobsig.synth.plants import RESERVE_PLANT

RESERVE_LEVEL = "reserve_core"
PARCEL_LEVEL = "supplied_parcel"
IDLE_STREAM = zlib.crc32(b"idle_land")
EMPTY_RADIUS_M = 3_000.0
IDLE_SIDE_M = 1_000.0
ACTIVE_SIDE_M = 800.0


def _sample_humans(persons: pd.DataFrame, cards: pd.DataFrame, stays: pd.DataFrame
                   ) -> pd.DataFrame:
    """The true stays of the primary human cards of sample persons, with ``person_id``:
    a person's stays are their primary card's (as in presence_truth, hazards and land-use
    truth), never the sum over their cards (a two-card person's two 20-minute observed
    spans of one visit are not 40 minutes)."""
    owner = cards.loc[cards["is_human"].astype(bool) & cards["card_kind"].eq("primary"),
                      ["user_id", "person_id"]]
    st = stays.merge(owner, on="user_id", how="inner")
    return st[st["person_id"].isin(persons.loc[persons["in_sample"], "person_id"])
              ].reset_index(drop=True)


def _true_residents(persons: pd.DataFrame) -> pd.Series:
    return (persons["in_sample"] & persons["kind"].astype(str).str.startswith("resident")
            & persons["pop_class"].eq("resident"))


def _observed_stays(stays: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """``stays`` (true stays of sample human cards, ``person_id`` and local ``x``/``y``)
    cut to what their card's records show: from the first to the last record of the card
    sent during the stay at its place (``events``: the truth events, ``user_id``,
    ``event_time`` text, ``label``, ``is_stay``; only
    ``normal`` stay records count: a malformed row is lost, a duplicate or a ping-pong
    hop is no new record); a stay without a record is dropped."""
    e = events[(events["label"] == "normal") & events["is_stay"].astype(bool)]
    e = pd.DataFrame({"user_id": e["user_id"].to_numpy(),
                      "t": pd.to_datetime(e["event_time"], format="ISO8601").to_numpy(
                          "datetime64[ns]")})
    st = stays.reset_index(drop=True).assign(_sid=lambda f: np.arange(len(f)))
    m = e.merge(st[["user_id", "stay_start", "stay_end", "_sid"]], on="user_id")
    m = m[(m["t"] >= m["stay_start"]) & (m["t"] <= m["stay_end"])]
    span = m.groupby("_sid")["t"].agg(["min", "max"])
    out = st.loc[span.index].copy()
    out["stay_start"], out["stay_end"] = span["min"].to_numpy(), span["max"].to_numpy()
    return out.drop(columns="_sid").reset_index(drop=True)


def reserve_truth(city: City, zones: pd.DataFrame, persons: pd.DataFrame,
                  cards: pd.DataFrame, stays: pd.DataFrame, days: list[dt.date],
                  visit_min_min: float, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """``dt``, ``unit_id``, ``level``, ``visitors``, ``residents`` per reserve core zone
    (``zones`` of level reserve_core, local xy) and day. ``persons``: local
    ``home_x``/``home_y``, ``kind``, ``pop_class``, ``in_sample``; ``cards``:
    ``user_id``, ``person_id``, ``is_human``; ``stays``: the true stays (``user_id``,
    ``stay_start``, ``stay_end``, ``lon``, ``lat``). ``planted``: how many of the
    visitors are planted intruders (``persons.plant`` = reserve_intruders,
    mobsig.synth.plants), 0 on days without a plant.

    ``events`` (truth/events near the zones; see :func:`_observed_stays`): the visitors
    are those whose stays inside *as their records show them* (first to last record of
    each stay, what an observer with the same 30-minute rule can see: a stay is measured
    from its first to its last record) add up to the minimum, and ``visitors_any``
    those whose true stays do (some of them un-observable: a 75-minute visit whose
    phone sent records during 29 minutes of it cannot meet a 30-minute rule by any
    signaling method). Without ``events`` (a city generated without event labels) both
    are the true stays' count."""
    st = _sample_humans(persons, cards, stays)
    counts = {"visitors_any": _zone_day_visitors(city, zones, persons, st, days,
                                                 visit_min_min)}
    counts["visitors"] = (counts["visitors_any"] if events is None else _zone_day_visitors(
        city, zones, persons, _observed_stays(st, events), days, visit_min_min))
    out = counts["visitors"].merge(counts["visitors_any"][["dt", "unit_id", "visitors"]]
                                   .rename(columns={"visitors": "visitors_any"}),
                                   on=["dt", "unit_id"])
    return out[["dt", "unit_id", "level", "visitors", "residents", "planted",
                "visitors_any"]]


def _zone_day_visitors(city: City, zones: pd.DataFrame, persons: pd.DataFrame,
                       st: pd.DataFrame, days: list[dt.date],
                       visit_min_min: float) -> pd.DataFrame:
    """:func:`reserve_truth`'s counts from the stays ``st`` (sample human cards' stays
    with ``person_id``)."""
    x, y = city.to_xy(st["lon"].to_numpy(), st["lat"].to_numpy())
    over = window_overlap_s(st["stay_start"].to_numpy("datetime64[ns]"),
                            st["stay_end"].to_numpy("datetime64[ns]"), days, 0.0, 24.0)
    res = persons[_true_residents(persons)]
    planted = set(persons.loc[persons.get("plant", pd.Series("", persons.index)).eq(
        RESERVE_PLANT), "person_id"])
    rows = []
    for z in zones[zones["level"] == RESERVE_LEVEL].itertuples(index=False):
        lives = set(res.loc[shapely.contains_xy(z.geometry, res["home_x"].to_numpy(float),
                                                res["home_y"].to_numpy(float)), "person_id"])
        inside = shapely.contains_xy(z.geometry, x, y)
        per_day = pd.DataFrame(over[inside], index=st.loc[inside, "person_id"]).groupby(
            level=0).sum()
        for j, d in enumerate(days):
            came = set(per_day.index[per_day[j].to_numpy() >= visit_min_min * 60]) \
                if len(per_day) else set()
            rows.append({"dt": d.isoformat(), "unit_id": z.unit_id, "level": z.level,
                         "visitors": len(came - lives), "residents": len(lives),
                         "planted": len((came - lives) & planted)})
    return pd.DataFrame(rows, columns=["dt", "unit_id", "level", "visitors", "residents",
                                       "planted"])


def zone_events(spark, events_path, city: City, zones: pd.DataFrame) -> pd.DataFrame:
    """The truth events (``user_id``, ``event_time``, ``label``, ``is_stay``) whose true
    position lies in a zone's lon/lat bounding box (pandas), for :func:`reserve_truth`."""
    from pyspark.sql import functions as F

    cond = F.lit(False)
    for geom in zones["geometry"]:
        x0, y0, x1, y1 = shapely.bounds(city.geometry_lonlat(geom))
        cond = cond | (F.col("true_lon").between(x0, x1) & F.col("true_lat").between(y0, y1))
    return (spark.read.parquet(str(events_path)).where(cond & F.col("is_stay"))
            .select("user_id", "event_time", "label", "is_stay").toPandas())


def supplied_parcels(city: City, persons: pd.DataFrame, seed: int,
                     start: dt.date) -> pd.DataFrame:
    """The planted parcels (``unit_id``, ``unit_name``, ``level`` supplied_parcel,
    ``supply_date``, ``start_date`` as YYYY-MM-DD, ``geometry`` local xy; see the module
    doc), from a Generator of their own (seed, :data:`IDLE_STREAM`). ``persons``: local
    ``home_x``/``home_y``/``work_x``/``work_y``, ``in_sample``."""
    rng = np.random.default_rng([seed, IDLE_STREAM])
    p = persons[persons["in_sample"]]
    anchors = np.vstack([p[["home_x", "home_y"]].dropna().to_numpy(float),
                         p[["work_x", "work_y"]].dropna().to_numpy(float),
                         city.pois[["x", "y"]].to_numpy(float)])
    xy = city.sites[["x", "y"]].to_numpy(float)
    r = np.hypot(xy[:, 0], xy[:, 1])
    zone_geoms = list(city.zones["geometry"])
    far = np.array([np.min(np.hypot(*(anchors - s).T)) > EMPTY_RADIUS_M for s in xy])
    clear = np.array([not any(shapely.intersects(g, shapely.Point(*s).buffer(IDLE_SIDE_M))
                              for g in zone_geoms) for s in xy])
    cand = np.flatnonzero(far & clear & (r > 8_000))
    picked: list[int] = []
    for i in rng.permutation(cand):
        if all(np.hypot(*(xy[i] - xy[j])) > 4 * IDLE_SIDE_M for j in picked):
            picked.append(int(i))
        if len(picked) == 2:
            break

    def ago(days_lo: int, days_hi: int) -> dt.date:
        return start - dt.timedelta(days=int(rng.integers(days_lo, days_hi)))

    rows = []
    for n, i in enumerate(picked):
        h = IDLE_SIDE_M / 2
        cx, cy = xy[i] + rng.uniform(-h / 3, h / 3, 2)  # the site inside, off the centre
        sup = ago(900, 1200)
        rows.append((f"P-IDLE-{n + 1:02d}", f"已供应地块(闲置){n + 1}", sup,
                     sup + dt.timedelta(days=int(rng.integers(180, 365))),
                     shapely.box(cx - h, cy - h, cx + h, cy + h)))
    park = city.zones.loc[city.zones["unit_id"] == "Z-PARK-01", "geometry"].iloc[0].centroid
    h = ACTIVE_SIDE_M / 2
    for uid, name, (cx, cy) in (("P-ACT-01", "已供应地块(园区)", (park.x, park.y)),
                                ("P-ACT-02", "已供应地块(中心)", (0.0, 0.0))):
        cx, cy = cx + rng.uniform(-100, 100), cy + rng.uniform(-100, 100)
        sup = ago(700, 1000)
        rows.append((uid, name, sup, sup + dt.timedelta(days=int(rng.integers(180, 365))),
                     shapely.box(cx - h, cy - h, cx + h, cy + h)))
    sup = start - dt.timedelta(days=int(rng.integers(30, 90)))
    rows.append(("P-NEW-01", "已供应地块(未到开工期)", sup,
                 start + dt.timedelta(days=int(rng.integers(120, 300))),
                 shapely.box(park.x - h, park.y + 600 - h, park.x + h, park.y + 600 + h)))
    return pd.DataFrame([{"unit_id": u, "unit_name": n, "level": PARCEL_LEVEL,
                          "supply_date": s.isoformat(), "start_date": b.isoformat(),
                          "geometry": g} for u, n, s, b, g in rows])


def idle_land_truth(city: City, parcels: pd.DataFrame, persons: pd.DataFrame,
                    cards: pd.DataFrame, stays: pd.DataFrame, month: dt.date,
                    max_persons: int) -> pd.DataFrame:
    """``month`` (YYYY-MM), ``unit_id``, ``level``, ``is_due``, ``stayers`` (sample
    persons with a true stay inside overlapping the month), ``workers`` (employed sample
    persons working inside), ``active`` (either) and ``is_near_zero`` (due and active <=
    ``max_persons``) per parcel. ``persons``: local ``work_x``/``work_y``,
    ``is_employed``, ``in_sample``; ``stays``: the true stays."""
    st = _sample_humans(persons, cards, stays)
    x, y = city.to_xy(st["lon"].to_numpy(), st["lat"].to_numpy())
    pr = persons[persons["in_sample"]]
    emp = pr["is_employed"].fillna(False).to_numpy(bool)
    rows = []
    for z in parcels[parcels["level"] == PARCEL_LEVEL].itertuples(index=False):
        stayed = set(st.loc[shapely.contains_xy(z.geometry, x, y), "person_id"])
        works = set(pr.loc[emp & shapely.contains_xy(
            z.geometry, pr["work_x"].fillna(np.inf).to_numpy(),
            pr["work_y"].fillna(np.inf).to_numpy()), "person_id"])
        due = dt.date.fromisoformat(z.start_date) <= month
        active = len(stayed | works)
        rows.append({"month": month.strftime("%Y-%m"), "unit_id": z.unit_id, "level": z.level,
                     "is_due": due, "stayers": len(stayed), "workers": len(works),
                     "active": active, "is_near_zero": bool(due and active <= max_persons)})
    return pd.DataFrame(rows)
