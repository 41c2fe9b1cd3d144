"""Ground truth of urban linkage and trips by period (issue 14 items 5-6), from the
timeline (pandas, small):

- :func:`true_moves`: every move of a sample person, between consecutive true stays of
  at least stays.tau_min (shorter stops are not stays, so a trip through them is one
  move, as the pipeline sees it; two such stays at the same place with a gap up to
  stays.gap_cap_h are one stay, as the pipeline merges them), at most
  stays.move_max_gap_h apart, whose destination stay ends before the last stays.gap_cap_h
  of the period (a stay still open at the end is never closed, so its move is never
  written); with the unit of both ends at each level (city, county, township);
- :func:`pair_trips`: trips (moves of at least linkage.min_trip_m, true positions) per
  ordered pair of one level (origin != dest);
- :func:`pair_commuters`: sample employed residents (is_employed, true class resident)
  per home unit -> work unit pair;
- :func:`period_trips`: trips per pair of one level inside one city and period;
- :func:`metro_truth`: the metropolitan area delineated on the true commuters
  (mobsig.linkage.delineate, the same rule the job applies).

One card per person (its primary card) stands for the person, as card_places keeps one
counted card per person; trips are counted in cards (raw), not expanded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from mobsig import columns as C
from mobsig.config import Config
from mobsig.linkage import core_ids, delineate
from mobsig.periods import minute_table, parse_periods
from mobsig.synth.city import City

LEVELS = ("city", "county", "township")
SAME_PLACE_M = 200.0  # consecutive true stays this close are one place


def true_moves(stays: pd.DataFrame, cards: pd.DataFrame, persons: pd.DataFrame, city: City,
               tau_min: float, max_gap_h: float, gap_cap_h: float, period_end: dt.datetime
               ) -> pd.DataFrame:
    """The true moves (see module doc): ``user_id``, ``person_id``, ``departure``,
    ``arrival`` (local wall-clock timestamps), ``origin_lon``/``lat``, ``dest_lon``/``lat``,
    ``origin_<level>`` / ``dest_<level>`` for each level of ``city.units`` and ``dist_m``
    (between the two stays, in the city's plane).
    ``stays``: truth/stays rows (user_id, stay_start, stay_end, lon, lat)."""
    sample = persons.loc[persons["in_sample"].astype(bool), "person_id"]
    prim = cards[cards["is_human"].astype(bool) & cards["card_kind"].eq("primary")
                 & cards["person_id"].isin(sample)][["user_id", "person_id"]]
    s = stays.merge(prim, on="user_id", how="inner")
    dur = (s["stay_end"] - s["stay_start"]).dt.total_seconds()
    s = s[dur >= tau_min * 60].sort_values(["user_id", "stay_start"]).reset_index(drop=True)
    # merge consecutive stays at one place with a gap up to the cap (the pipeline's rule)
    prev = s.groupby("user_id").shift(1)
    gap = (s["stay_start"] - prev["stay_end"]).dt.total_seconds()
    near = np.hypot(*(np.asarray(v) for v in _metres(city, s, prev))) < SAME_PLACE_M
    new = prev["stay_end"].isna().to_numpy() | ~(near & (gap <= gap_cap_h * 3600).to_numpy())
    s["_stay"] = np.cumsum(new)
    s = s.groupby("_stay", sort=True).agg(
        user_id=("user_id", "first"), person_id=("person_id", "first"),
        stay_start=("stay_start", "min"), stay_end=("stay_end", "max"),
        lon=("lon", "first"), lat=("lat", "first")).reset_index(drop=True)
    nxt = s.groupby("user_id").shift(-1)
    m = pd.DataFrame({"user_id": s["user_id"], "person_id": s["person_id"],
                      "departure": s["stay_end"], "arrival": nxt["stay_start"],
                      "origin_lon": s["lon"], "origin_lat": s["lat"],
                      "dest_lon": nxt["lon"], "dest_lat": nxt["lat"],
                      "_dest_end": nxt["stay_end"]})
    m = m[m["arrival"].notna()]
    m = m[((m["arrival"] - m["departure"]).dt.total_seconds() <= max_gap_h * 3600)
          & (m["_dest_end"] < pd.Timestamp(period_end) - pd.Timedelta(hours=gap_cap_h))]
    m = m.drop(columns="_dest_end").reset_index(drop=True)
    levels = [lv for lv in LEVELS if (city.units["level"] == lv).any()]
    xy = {}
    for end in ("origin", "dest"):
        x, y = city.to_xy(m[f"{end}_lon"].to_numpy(), m[f"{end}_lat"].to_numpy())
        xy[end] = (x, y)
        for lv in levels:
            m[f"{end}_{lv}"] = city.unit_of(x, y, lv)
    m["dist_m"] = np.hypot(xy["dest"][0] - xy["origin"][0], xy["dest"][1] - xy["origin"][1])
    return m


def _metres(city: City, s: pd.DataFrame, prev: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x1, y1 = city.to_xy(s["lon"].to_numpy(), s["lat"].to_numpy())
    x0, y0 = city.to_xy(prev["lon"].fillna(s["lon"]).to_numpy(),
                        prev["lat"].fillna(s["lat"]).to_numpy())
    return x1 - x0, y1 - y0


def pair_trips(moves: pd.DataFrame, level: str, min_dist_m: float = 0.0) -> pd.DataFrame:
    """``level``, ``origin_id``, ``dest_id``, ``trips``, ``travellers`` over moves of at
    least ``min_dist_m`` whose ends lie in two different units of ``level``."""
    o, d = moves[f"origin_{level}"], moves[f"dest_{level}"]
    m = moves[o.notna() & d.notna() & (o != d) & (moves["dist_m"] >= min_dist_m)]
    g = m.groupby([f"origin_{level}", f"dest_{level}"]).agg(
        trips=("user_id", "size"), travellers=("user_id", "nunique")).reset_index()
    g.columns = [C.ORIGIN_ID, C.DEST_ID, "trips", "travellers"]
    return g.assign(level=level)[["level", C.ORIGIN_ID, C.DEST_ID, "trips", "travellers"]]


def employed_residents(persons: pd.DataFrame) -> pd.DataFrame:
    """Sample persons employed by domain.md B2's rule (``is_employed``) whose true class
    is resident (jobs_housing's truth)."""
    p = persons[persons["in_sample"].astype(bool) & persons["is_employed"].astype(bool)]
    return p[p["pop_class"].eq("resident") & p["kind"].str.startswith("resident")]


def pair_commuters(persons: pd.DataFrame, level: str) -> pd.DataFrame:
    """``level``, ``origin_id`` (home unit), ``dest_id`` (work unit), ``commuters``:
    true employed residents per pair, diagonal included."""
    e = employed_residents(persons)
    e = e[e[f"home_{level}"].notna() & e[f"work_{level}"].notna()]
    g = e.groupby([f"home_{level}", f"work_{level}"]).size().rename("commuters").reset_index()
    g.columns = [C.ORIGIN_ID, C.DEST_ID, "commuters"]
    return g.assign(level=level)[["level", C.ORIGIN_ID, C.DEST_ID, "commuters"]]


def period_trips(moves: pd.DataFrame, level: str, periods: dict[str, str], rest: str,
                 city_level: str = "city", min_dist_m: float = 0.0) -> pd.DataFrame:
    """``level``, ``city_id``, ``origin_id``, ``dest_id``, ``period``, ``trips``,
    ``travellers``: moves of at least ``min_dist_m`` with both ends in units of ``level``
    and (when the truth has a city level) in one city, by the period of their
    departure."""
    o, d = moves[f"origin_{level}"], moves[f"dest_{level}"]
    m = moves[o.notna() & d.notna() & (moves["dist_m"] >= min_dist_m)].copy()
    if f"origin_{city_level}" in m:
        m = m[m[f"origin_{city_level}"].notna()
              & (m[f"origin_{city_level}"] == m[f"dest_{city_level}"])]
        m["city_id"] = m[f"origin_{city_level}"]
    else:
        m["city_id"] = None
    table = minute_table(parse_periods(periods, rest))
    dep = pd.to_datetime(m["departure"])
    m["period"] = table[(dep.dt.hour * 60 + dep.dt.minute).to_numpy()]
    g = m.groupby(["city_id", f"origin_{level}", f"dest_{level}", "period"], dropna=False).agg(
        trips=("user_id", "size"), travellers=("user_id", "nunique")).reset_index()
    g.columns = ["city_id", C.ORIGIN_ID, C.DEST_ID, "period", "trips", "travellers"]
    return g.assign(level=level)[["level", "city_id", C.ORIGIN_ID, C.DEST_ID, "period",
                                  "trips", "travellers"]]


def metro_truth(persons: pd.DataFrame, units: pd.DataFrame, level: str,
                core: list[str], threshold: float) -> pd.DataFrame:
    """The true delineation over the units of ``level`` (``units``: unit_id, level,
    parent_id): core ids of the level, or of the layer above (their child units), as
    linkage.metro_core; empty = the unit where most true employed residents work."""
    level_units = units[units["level"] == level]
    ids = level_units["unit_id"].astype(str).tolist()
    flows = pair_commuters(persons, level)
    employed = flows.groupby(C.ORIGIN_ID)["commuters"].sum().reindex(ids, fill_value=0)
    rows = [(str(r.level), str(r.unit_id), None if pd.isna(r.parent_id) else str(r.parent_id))
            for r in units.itertuples(index=False)]
    out = delineate(flows, employed.astype(float), core_ids(rows, level, core), threshold)
    return out.assign(level=level, employed_residents=employed.to_numpy())


def write_truth(out: Path, cfg: Config, city: City, persons: pd.DataFrame,
                cards: pd.DataFrame) -> None:
    """``truth/moves.parquet``, ``truth/linkage.csv`` (trips, travellers and commuters
    per ordered pair of the city, county and township levels, origin != dest),
    ``truth/trips_by_period.csv`` (trips.level, trips.periods) and
    ``truth/metro_area.csv`` (linkage.metro_* of ``cfg``), from ``truth/stays``."""
    sc = cfg.synth
    stays = pd.read_parquet(out / "truth/stays", columns=["user_id", "stay_start", "stay_end",
                                                          "lon", "lat"])
    period_end = dt.datetime.combine(sc.start_date, dt.time()) + dt.timedelta(days=sc.days)
    moves = true_moves(stays, cards, persons, city, cfg.stays.tau_min,
                       cfg.stays.move_max_gap_h, cfg.stays.gap_cap_h, period_end)
    moves.to_parquet(out / "truth/moves.parquet", index=False)
    levels = [lv for lv in LEVELS if f"origin_{lv}" in moves]
    key = ["level", C.ORIGIN_ID, C.DEST_ID]
    rows = []
    for lv in levels:
        t = pair_trips(moves, lv, cfg.linkage.min_trip_m)
        c = pair_commuters(persons, lv)
        c = c[c[C.ORIGIN_ID] != c[C.DEST_ID]]
        rows.append(t.merge(c, on=key, how="outer").fillna(
            {"trips": 0, "travellers": 0, "commuters": 0}))
    linkage = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=[*key, "trips", "travellers", "commuters"])
    for col in ("trips", "travellers", "commuters"):
        linkage[col] = linkage[col].astype("int64")
    linkage.sort_values(key).to_csv(out / "truth/linkage.csv", index=False)
    tr = cfg.trips
    if f"origin_{tr.level}" in moves:
        period_trips(moves, tr.level, dict(tr.periods), tr.rest_period, tr.city_level,
                     tr.min_trip_m).to_csv(
            out / "truth/trips_by_period.csv", index=False)
    lk = cfg.linkage
    if (city.units["level"] == lk.metro_level).any() and f"home_{lk.metro_level}" in persons:
        metro_truth(persons, city.units, lk.metro_level, list(lk.metro_core),
                    lk.metro_threshold).to_csv(out / "truth/metro_area.csv", index=False)
