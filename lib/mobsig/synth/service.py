"""The true service population of the synthetic city's facilities (``truth/service_*``):
who really spent time in each facility polygon, from the true stays of the timelines.

The rules are service_population's (mobsig.service_population), applied to the truth:

- a sample person is in a facility's service population on a day when the true stays
  located inside its polygon (city plane, metres) add up to at least ``min_stay_min``
  minutes of that local day (a stay crossing midnight counts on both days); a true stay
  shorter than the stay rule's τ (stays.tau_min) is no stay (domain.md §B1): a passenger's
  two 15-20 minute stops at the station on one day are not a 30-minute stay;
- the person's role there: ``resident`` when the person is a true resident (a resident
  kind of true class resident) whose home is inside, else ``worker`` when the person is
  employed (``is_employed``: a work place on enough workdays) with the work place
  inside, else ``visitor``;
- the catchment: a visitor who is a true resident lives in its home county and township
  (``unknown`` for everyone else: short-term guests, day visitors); the radius is the
  smallest distance from the polygon (0 inside) within which ``quantile`` of those
  visitors live.

Persons, not cards: both cards of a person share the timeline and count once, as the
pipeline counts one card per person (一人多卡 grouping); a person's stays are those of the
primary card (as in presence_truth, hazards and land-use truth), never the sum over their
cards (a two-card person's 20-minute stop is not 40 minutes). Pure pandas + shapely on the
stays located in the facilities' bounding boxes (:func:`facility_stays` selects them with
Spark, so a big city's true stays never come to the driver whole).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mobsig.synth.city import City
from mobsig.synth.land_use import is_stay

ROLES = ("total", "resident", "worker", "visitor")
HOME_LEVELS = ("county", "township")
DAY_NS = 86_400 * 10**9


def facility_stays(spark: SparkSession, stays_path: str | Path, city: City) -> pd.DataFrame:
    """The true stays (``truth/stays``: ``user_id``, ``stay_start``, ``stay_end``, ``lon``,
    ``lat``) whose position lies in a facility's lon/lat bounding box, as pandas."""
    cond = F.lit(False)
    for geom in city.facilities["geometry"]:
        x0, y0, x1, y1 = shapely.bounds(city.geometry_lonlat(geom))
        cond = cond | (F.col("lon").between(x0, x1) & F.col("lat").between(y0, y1))
    return (spark.read.parquet(str(stays_path)).where(cond)
            .select("user_id", "stay_start", "stay_end", "lon", "lat").toPandas())


def _day_pieces(stays: pd.DataFrame) -> pd.DataFrame:
    """``row`` (index into ``stays``), ``day`` (local midnight), ``overlap_s``: each stay
    cut at local midnight."""
    start = stays["stay_start"].to_numpy("datetime64[ns]")
    end = stays["stay_end"].to_numpy("datetime64[ns]")
    d0 = start.astype("datetime64[D]").astype("datetime64[ns]")
    d1 = (end - np.timedelta64(1, "ns")).astype("datetime64[D]").astype("datetime64[ns]")
    n = np.maximum((d1 - d0).astype("int64") // DAY_NS + 1, 1)
    row = np.repeat(np.arange(len(stays)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    day = d0[row] + k * np.timedelta64(1, "D")
    lo = np.maximum(start[row], day)
    hi = np.minimum(end[row], day + np.timedelta64(1, "D"))
    overlap = (hi - lo).astype("int64") / 1e9
    return pd.DataFrame({"row": row, "day": day, "overlap_s": overlap})


def radius_quantile(dist_m: np.ndarray, quantile: float) -> float:
    """The smallest distance within which at least ``quantile`` of ``dist_m`` lie (NaN
    for none)."""
    d = np.sort(np.asarray(dist_m, float))
    if not len(d):
        return float("nan")
    return float(d[int(np.ceil(quantile * len(d) - 1e-9)) - 1])


def service_truth(city: City, persons: pd.DataFrame, cards: pd.DataFrame,
                  stays: pd.DataFrame, days: list[dt.date], min_stay_min: float,
                  quantile: float, tau_min: float = 0.0) -> dict[str, pd.DataFrame]:
    """The truth tables: ``monthly`` (``month``, ``level``, ``unit_id``, ``unit_name``,
    ``kind``, a column per role of :data:`ROLES`, ``catchment_radius_m``,
    ``visitor_homes``), ``daily`` (``dt``, ``level``, ``unit_id``, a column per role;
    every facility and day of ``days``, the period) and ``catchment`` (``month``, ``zone_id``,
    ``level`` county/township, ``unit_id`` or ``unknown``, ``visitors``).

    ``persons``: the generator's persons (local ``home_x``/``home_y``/``work_x``/
    ``work_y``, ``kind``, ``pop_class``, ``is_employed``, ``home_county``,
    ``home_township``); ``cards``: ``user_id``, ``person_id``, ``is_human``,
    ``card_kind`` (only primary cards' stays count); ``stays``:
    true stays (:func:`facility_stays`); only those of at least ``tau_min`` minutes (the
    stay rule's τ) count: a shorter stop is no stay (domain.md §B1)."""
    fac = city.facilities.reset_index(drop=True)
    owner = cards.loc[cards["is_human"].astype(bool) & cards["card_kind"].eq("primary"),
                      ["user_id", "person_id"]]
    st = stays.merge(owner, on="user_id", how="inner")
    st = st[is_stay(st, tau_min)].reset_index(drop=True)
    x, y = city.to_xy(st["lon"].to_numpy(), st["lat"].to_numpy())
    pieces = _day_pieces(st)
    visits = []
    for f in fac.itertuples(index=False):
        inside = shapely.contains_xy(f.geometry, x, y)
        p = pieces[inside[pieces["row"].to_numpy()]]
        per = (p.assign(person_id=st["person_id"].to_numpy()[p["row"].to_numpy()])
               .groupby(["person_id", "day"], as_index=False)["overlap_s"].sum())
        per = per[per["overlap_s"] >= min_stay_min * 60]
        visits.append(per.assign(unit_id=f.unit_id))
    v = pd.concat(visits, ignore_index=True) if visits else pd.DataFrame(
        columns=["person_id", "day", "overlap_s", "unit_id"])
    pr = persons.set_index("person_id")
    true_res = pr["kind"].astype(str).str.startswith("resident") & pr["pop_class"].eq("resident")
    role = pd.Series("visitor", index=v.index, dtype=object)
    for f in fac.itertuples(index=False):
        rows = v["unit_id"].eq(f.unit_id).to_numpy()
        who = pr.loc[v.loc[rows, "person_id"]]
        lives = (true_res.loc[who.index].to_numpy()
                 & shapely.contains_xy(f.geometry, who["home_x"].to_numpy(float),
                                       who["home_y"].to_numpy(float)))
        works = (who["is_employed"].fillna(False).to_numpy(bool)
                 & shapely.contains_xy(f.geometry, who["work_x"].fillna(np.inf).to_numpy(),
                                       who["work_y"].fillna(np.inf).to_numpy()))
        role.loc[rows] = np.where(lives, "resident", np.where(works, "worker", "visitor"))
    v = v.assign(role=role.to_numpy(), month=pd.to_datetime(v["day"]).dt.strftime("%Y-%m"),
                 dt=pd.to_datetime(v["day"]).dt.date)
    return {"monthly": _monthly(v, fac, pr, true_res, quantile),
            "daily": _daily(v, fac, days),
            "catchment": _catchment(v, pr, true_res)}


def _counts(v: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    per = v.drop_duplicates([*keys, "person_id"])
    out = per.groupby([*keys, "role"]).size().unstack("role", fill_value=0)
    out = out.reindex(columns=list(ROLES[1:]), fill_value=0)
    out["total"] = out.sum(axis=1)
    return out[list(ROLES)]


def _daily(v: pd.DataFrame, fac: pd.DataFrame, days: list) -> pd.DataFrame:
    idx = pd.MultiIndex.from_product([days, fac["unit_id"]], names=["dt", "unit_id"])
    out = _counts(v, ["dt", "unit_id"]).reindex(idx, fill_value=0).reset_index()
    return out.assign(level=fac["level"].iloc[0] if len(fac) else "")[
        ["dt", "level", "unit_id", *ROLES]]


def _monthly(v: pd.DataFrame, fac: pd.DataFrame, pr: pd.DataFrame, true_res: pd.Series,
             quantile: float) -> pd.DataFrame:
    months = sorted(v["month"].unique())
    idx = pd.MultiIndex.from_product([months, fac["unit_id"]], names=["month", "unit_id"])
    out = _counts(v, ["month", "unit_id"]).reindex(idx, fill_value=0).reset_index()
    geom = dict(zip(fac["unit_id"], fac["geometry"], strict=True))
    radius, homes = [], []
    for r in out.itertuples(index=False):
        vis = v[v["month"].eq(r.month) & v["unit_id"].eq(r.unit_id) & v["role"].eq("visitor")]
        ids = [p for p in vis["person_id"].unique() if true_res.get(p, False)]
        pts = shapely.points(pr.loc[ids, "home_x"].to_numpy(float),
                             pr.loc[ids, "home_y"].to_numpy(float))
        radius.append(radius_quantile(shapely.distance(geom[r.unit_id], pts), quantile))
        homes.append(len(ids))
    meta = fac.set_index("unit_id")
    return out.assign(level=meta.loc[out["unit_id"], "level"].to_numpy(),
                      unit_name=meta.loc[out["unit_id"], "unit_name"].to_numpy(),
                      kind=meta.loc[out["unit_id"], "kind"].to_numpy(),
                      catchment_radius_m=np.round(radius, 1), visitor_homes=homes)[
        ["month", "level", "unit_id", "unit_name", "kind", *ROLES, "catchment_radius_m",
         "visitor_homes"]]


def _catchment(v: pd.DataFrame, pr: pd.DataFrame, true_res: pd.Series) -> pd.DataFrame:
    vis = v[v["role"].eq("visitor")].drop_duplicates(["month", "unit_id", "person_id"])
    is_res = true_res.reindex(vis["person_id"]).fillna(False).to_numpy(bool)
    parts = []
    for level in HOME_LEVELS:
        home = pr[f"home_{level}"].reindex(vis["person_id"]).to_numpy(object)
        unit = np.where(is_res & pd.notna(home), home, "unknown")
        parts.append(vis.assign(level=level, home_unit=unit))
    both = pd.concat(parts, ignore_index=True) if parts else vis.iloc[:0]
    out = both.groupby(["month", "unit_id", "level", "home_unit"]).size().rename(
        "visitors").reset_index()
    return out.rename(columns={"unit_id": "zone_id", "home_unit": "unit_id"})[
        ["month", "zone_id", "level", "unit_id", "visitors"]]


def write_truth(spark: SparkSession, out: Path, city: City, persons: pd.DataFrame,
                cards: pd.DataFrame, days: list[dt.date], min_stay_min: float,
                quantile: float, tau_min: float = 0.0) -> None:
    """``truth/service_population.csv``, ``truth/service_population_daily.csv`` and
    ``truth/service_catchment.csv`` from ``truth/stays`` (see :func:`service_truth`)."""
    stays = facility_stays(spark, out / "truth/stays", city)
    t = service_truth(city, persons, cards, stays, days, min_stay_min, quantile, tau_min)
    t["monthly"].to_csv(out / "truth/service_population.csv", index=False)
    t["daily"].to_csv(out / "truth/service_population_daily.csv", index=False)
    t["catchment"].to_csv(out / "truth/service_catchment.csv", index=False)
