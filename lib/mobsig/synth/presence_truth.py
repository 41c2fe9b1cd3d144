"""The true daily presence of the synthetic city (``truth/daily_presence.csv``), the truth
the ``daily_presence`` job is measured against.

Derived from the ground-truth stays the generator already wrote (every stationary segment
of each card's itinerary, any duration), so no random draw and no event changes. One card
per person: the primary card of each sample person (a second card shares its holder's
itinerary; non-human cards are not people). A person is present in a unit on a day when
their stationary time there adds up to at least ``min_hours`` within the day (time
travelling does not count), and counts in hour h when present and stationary there for at
least ``hour_min_minutes`` of the hour: the job's definitions, on the true positions and
times. Units: the county and township polygons of the city (``City.unit_of``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from mobsig.synth.city import City

PRESENT = "present"
LEVELS = ("county", "township")
COLUMNS = ["dt", "level", "unit_id", "pop_class", "hour", "persons"]


def daily_presence_truth(stays: pd.DataFrame, cards: pd.DataFrame, persons: pd.DataFrame,
                         city: City, start: dt.date, min_hours: float,
                         hour_min_minutes: int) -> pd.DataFrame:
    """Per day, level (county, township), unit and class, the sample persons present:
    ``dt`` (ISO date), ``level``, ``unit_id``, ``pop_class`` (``present`` = every person
    present, or the person's true class: resident, short_term, visitor, transit),
    ``hour`` (empty: the day; 0-23: the present persons in that hour, class ``present``
    only), ``persons``. Units and days without a present person have no row.

    ``stays``: truth/stays (``user_id``, ``stay_start``, ``stay_end`` as local wall-clock
    times, ``lon``, ``lat``); ``cards``: truth/cards (``user_id``, ``person_id``,
    ``card_kind``, ``is_human``); ``persons``: truth/persons (``person_id``,
    ``in_sample``, ``pop_class``); ``start``: the first simulated day."""
    sample = persons.loc[persons["in_sample"], ["person_id", "pop_class"]]
    primary = cards.loc[cards["is_human"] & cards["card_kind"].eq("primary"),
                        ["user_id", "person_id"]].merge(sample, on="person_id")
    s = stays.merge(primary, on="user_id", how="inner")
    if s.empty:
        return pd.DataFrame(columns=COLUMNS)
    base = np.datetime64(start.isoformat(), "s")
    t0 = ((s["stay_start"].to_numpy("datetime64[s]") - base) / np.timedelta64(1, "s"))
    t1 = ((s["stay_end"].to_numpy("datetime64[s]") - base) / np.timedelta64(1, "s"))
    h_first = np.floor(t0 / 3600).astype(np.int64)
    n = np.maximum(np.ceil(t1 / 3600).astype(np.int64) - h_first, 0)
    idx = np.repeat(np.arange(len(s)), n)
    hour_idx = h_first[idx] + (np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n))
    overlap = (np.minimum(t1[idx], (hour_idx + 1) * 3600.0)
               - np.maximum(t0[idx], hour_idx * 3600.0))
    x, y = city.to_xy(s["lon"].to_numpy(), s["lat"].to_numpy())
    pieces = pd.DataFrame({"person_id": s["person_id"].to_numpy()[idx],
                           "pop_class": s["pop_class"].to_numpy()[idx],
                           "day": hour_idx // 24, "hour": hour_idx % 24,
                           "overlap_s": overlap})
    keep = pieces["overlap_s"].to_numpy() > 0
    out = []
    for level in LEVELS:
        units = city.unit_of(x, y, level)[idx]
        lv = pieces.assign(unit_id=units)[keep & pd.notna(units)]
        if lv.empty:
            continue
        key = ["day", "unit_id", "person_id", "pop_class"]
        per = lv.groupby(key, as_index=False)["overlap_s"].sum()
        present = per[per["overlap_s"] >= min_hours * 3600.0]
        hours = lv.groupby([*key, "hour"], as_index=False)["overlap_s"].sum()
        hours = hours[hours["overlap_s"] >= hour_min_minutes * 60.0].merge(
            present[key], on=key)
        day_rows = [present.groupby(["day", "unit_id"]).size().rename("persons")
                    .reset_index().assign(pop_class=PRESENT),
                    present.groupby(["day", "unit_id", "pop_class"]).size()
                    .rename("persons").reset_index()]
        hour_rows = (hours.groupby(["day", "unit_id", "hour"]).size().rename("persons")
                     .reset_index().assign(pop_class=PRESENT))
        for frame in (*day_rows, hour_rows):
            out.append(frame.assign(level=level))
    if not out:
        return pd.DataFrame(columns=COLUMNS)
    res = pd.concat(out, ignore_index=True)
    res["dt"] = [(start + dt.timedelta(days=int(d))).isoformat() for d in res["day"]]
    res["hour"] = res["hour"].astype("Int64") if "hour" in res else pd.NA
    res = res[COLUMNS].sort_values(["dt", "level", "unit_id", "pop_class", "hour"],
                                   na_position="first")
    return res.reset_index(drop=True)
