"""Accuracy of a month's outputs against the synthetic city's truth (pandas, small frames).

Used by ``mobsig evaluate`` (jobs/evaluate.py) to measure a pipeline run on a city of any
size, e.g. a bigger city than CI can afford. Inputs are the month's ``home_work`` table,
the unsuppressed population table (``mobsig.population.population_table``) and the generator's
``truth/`` files (persons.parquet, cards.parquet, population_by_unit.csv; see
mobsig.synth.generate). Every function returns plain numbers (shares in 0..1) so they can
be printed, written to JSON and compared with the targets of domain.md and issue #5:

- homes within 500 m of the true home for >= 90 % of true residents, work for >= 85 %
  of true workers;
- population class accuracy >= 95 % per class;
- expanded residents per county within ±5 %, per township within ±15 % where the true
  population is >= 1,000;
- multi-card (一人多卡) pairs: precision and recall;
- jobs-housing ratio 职住比 per county within ±10 % (issue #14) where the county has at
  least JH_MIN_EMPLOYED true employed residents; self-containment reported in points;
- inter-city trips per ordered pair of cities within ±15 % (issue #14), commuters per
  pair, and the metropolitan-area delineation equal to the true set; trips by period
  (per period in total, and per pair and period with enough true trips) reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mobsig.coords import haversine_m

TARGETS = {"home_within_500m": 0.90, "work_within_500m": 0.85, "class_accuracy_min": 0.95,
           "county_max_abs_error": 0.05, "township_max_abs_error": 0.15,
           "county_jobs_housing_ratio_max_abs_error": 0.10,
           "inter_city_trips_max_abs_error": 0.15}
# trips by period: pair-period cells count when they hold at least this many true trips
PERIOD_MIN_TRIPS = 20
# jobs-housing errors count in units with at least this many true (sample) employed
# residents: below it one misplaced worker moves the ratio by more than 10 %
JH_MIN_EMPLOYED = 10
URBAN_RADIUS_M = 10_000.0  # core and inner ring of the synthetic city (mobsig.synth.city)


def dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (NaN where any coordinate is missing)."""
    return haversine_m(*(np.asarray(v, float) for v in (lon1, lat1, lon2, lat2)))


def _primary(cards: pd.DataFrame) -> pd.DataFrame:
    return cards.loc[cards["card_kind"].eq("primary"), ["user_id", "person_id"]]


def _within(m: pd.DataFrame, role: str, radius_m: float) -> np.ndarray:
    d = dist_m(m[f"{role}_lon_true"], m[f"{role}_lat_true"], m[f"{role}_lon"],
               m[f"{role}_lat"])
    return np.nan_to_num(d, nan=np.inf) <= radius_m


def home_work_accuracy(hw: pd.DataFrame, persons: pd.DataFrame, cards: pd.DataFrame,
                       center: tuple[float, float], radius_m: float = 500.0) -> dict:
    """Share of true (sample) residents whose home, and of true workers whose work place,
    was found within ``radius_m`` (a missing home counts as a miss), overall and split
    into the urban area (within 10 km of ``center``) and the periphery."""
    prim = _primary(cards)
    res = persons[persons["in_sample"] & persons["pop_class"].eq("resident")]
    m = res.merge(prim, on="person_id").merge(hw, on="user_id", how="left",
                                              suffixes=("_true", ""))
    ok = _within(m, "home", radius_m)
    urban = dist_m(m["home_lon_true"], m["home_lat_true"], *center) < URBAN_RADIUS_M
    workers = persons[persons["in_sample"] & persons["is_worker"].eq(True)]
    w = workers.merge(prim, on="person_id").merge(hw, on="user_id", how="left",
                                                  suffixes=("_true", ""))
    wok = _within(w, "work", radius_m)

    def share(x: np.ndarray) -> float | None:
        return round(float(np.mean(x)), 4) if len(x) else None

    return {"true_residents": int(len(m)), "home_within_500m": share(ok),
            "home_within_500m_urban": share(ok[urban]),
            "home_within_500m_periphery": share(ok[~urban]),
            "home_found": share(m["home_lon"].notna().to_numpy()),
            "true_workers": int(len(w)), "work_within_500m": share(wok)}


def class_accuracy(hw: pd.DataFrame, cards: pd.DataFrame) -> dict:
    """Per true population class: cards and the share classified as that class (every
    card of the truth, human or not; a card missing from home_work is a miss)."""
    c = cards[["user_id", "pop_class"]].merge(hw[["user_id", "pop_class"]], on="user_id",
                                              how="left", suffixes=("_true", ""))
    out = {}
    for cls, g in c.groupby("pop_class_true"):
        out[str(cls)] = {"cards": int(len(g)),
                         "accuracy": round(float((g["pop_class"] == cls).mean()), 4)}
    return out


def multicard_pairs(hw: pd.DataFrame, cards: pd.DataFrame, min_days: int = 0) -> dict:
    """Precision and recall of 一人多卡 grouping over card pairs: a true pair is two human
    cards of one person, a found pair two cards of one ``multicard_group``.
    ``recall_eligible`` counts only true pairs whose cards are both present on at least
    ``min_days`` days (flags.multicard_min_days: a day visitor's two cards cannot be
    grouped by rule)."""

    def pairs(df: pd.DataFrame, key: str) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for _, g in df.dropna(subset=[key]).groupby(key):
            ids = sorted(g["user_id"])
            out.update((a, b) for i, a in enumerate(ids) for b in ids[i + 1:])
        return out

    human = cards[cards["is_human"]]
    true = pairs(human, "person_id")
    long = human[(human["last_day"] - human["first_day"] + 1) >= min_days] \
        if {"first_day", "last_day"} <= set(human.columns) else human
    eligible = pairs(long, "person_id")
    found = pairs(hw, "multicard_group")
    hit = len(true & found)
    hit_e = len(eligible & found)
    return {"true_pairs": len(true), "eligible_pairs": len(eligible),
            "found_pairs": len(found),
            "precision": round(hit / len(found), 4) if found else None,
            "recall": round(hit / len(true), 4) if true else None,
            "recall_eligible": round(hit_e / len(eligible), 4) if eligible else None}


def population_errors(table: pd.DataFrame, truth: pd.DataFrame,
                      min_population: int = 1000) -> dict:
    """Expanded residents per county and township against the true resident population.

    ``table``: unsuppressed population rows (``level``, ``unit_id``, ``pop_class``,
    ``raw_count``, ``expanded_count``); ``truth``: truth/population_by_unit.csv. Townships
    count only where the true population is at least ``min_population`` (domain.md);
    errors are relative, (expanded - true) / true.
    """
    res = table[table["pop_class"].eq("resident")][["unit_id", "raw_count", "expanded_count"]]
    m = truth.merge(res, on="unit_id", how="left").fillna({"raw_count": 0,
                                                           "expanded_count": 0.0})
    out: dict = {}
    for level, floor in (("county", 1), ("township", min_population)):
        g = m[m["level"].eq(level) & (m["resident_population"] >= floor)]
        rel = (g["expanded_count"] - g["resident_population"]) / g["resident_population"]
        out[level] = {
            "units": int(len(g)),
            "max_abs_error": round(float(rel.abs().max()), 4) if len(g) else None,
            "mean_abs_error": round(float(rel.abs().mean()), 4) if len(g) else None,
            "errors": {u: round(float(e), 4) for u, e in zip(g["unit_id"], rel, strict=True)}}
    return out


def jobs_housing_errors(table: pd.DataFrame, truth: pd.DataFrame,
                        min_employed: int = JH_MIN_EMPLOYED) -> dict:
    """The jobs-housing ratio and self-containment per county and township against the
    truth, over units with at least ``min_employed`` true employed residents.

    ``table``: unsuppressed jobs_housing rows (``unit_id``, ``jobs_housing_ratio``,
    ``self_containment``; ratios on expanded counts); ``truth``: truth/jobs_housing.csv
    (sample persons; the market share is uniform, so its ratios are the population's).
    The ratio error is relative, (measured - true) / true, and where the true ratio is 0
    (nobody works in the unit) the measured ratio itself; a unit without a measured ratio
    is -100 %. The self-containment error is the difference of the shares (points / 100).
    """
    cols = ["unit_id", "jobs_housing_ratio", "self_containment"]
    m = truth.merge(table[cols], on="unit_id", how="left", suffixes=("_true", ""))
    out: dict = {}
    for level in ("county", "township"):
        g = m[m["level"].eq(level) & (m["employed_residents"] >= min_employed)]
        true_r, meas_r = g["jobs_housing_ratio_true"], g["jobs_housing_ratio"]
        rel = np.where(true_r > 0, (meas_r - true_r) / true_r.where(true_r > 0), meas_r)
        rel = np.nan_to_num(rel.astype(float), nan=-1.0)
        sc = np.nan_to_num((g["self_containment"] - g["self_containment_true"]).to_numpy(
            float), nan=-1.0)
        n = len(g)
        out[level] = {
            "units": int(n), "min_employed_residents": int(min_employed),
            "max_abs_ratio_error": round(float(np.abs(rel).max()), 4) if n else None,
            "mean_abs_ratio_error": round(float(np.abs(rel).mean()), 4) if n else None,
            "max_abs_self_containment_error": round(float(np.abs(sc).max()), 4) if n else None,
            "ratio_errors": {u: round(float(e), 4) for u, e in zip(g["unit_id"], rel,
                                                                  strict=True)},
            "self_containment_errors": {u: round(float(e), 4) for u, e in zip(
                g["unit_id"], sc, strict=True)}}
    return out


def _rel(measured: pd.Series, true: pd.Series) -> np.ndarray:
    """(measured - true) / true; a unit pair missing from the measurement is -100 %."""
    m = measured.fillna(0).to_numpy(float)
    t = true.to_numpy(float)
    return np.where(t > 0, (m - t) / np.where(t > 0, t, 1), np.where(m > 0, 1.0, 0.0))


def linkage_errors(trips: pd.DataFrame, commuters: pd.DataFrame, truth_trips: pd.DataFrame,
                   truth_commuters: pd.DataFrame, level: str = "city") -> dict:
    """Trips (raw: moves of the sample's counted cards) and commuters per ordered pair of
    units of ``level`` (origin != dest) against the truth (mobsig.synth.linkage_truth:
    pair_trips, pair_commuters); ``trips`` / ``commuters``: unsuppressed rows (``level``,
    ``origin_id``, ``dest_id``, ``trips_raw_count`` / ``commuters_raw_count``). Errors
    are relative over the true pairs; a pair the pipeline has and the truth lacks is
    listed as extra."""
    key = ["origin_id", "dest_id"]

    def at(df: pd.DataFrame) -> pd.DataFrame:
        out = df[df["level"].eq(level)]
        return out[out["origin_id"] != out["dest_id"]]

    t = at(truth_trips).merge(at(trips)[[*key, "trips_raw_count"]], on=key, how="left")
    rel = _rel(t["trips_raw_count"], t["trips"])
    c = at(truth_commuters)
    c = c.merge(at(commuters)[[*key, "commuters_raw_count"]], on=key, how="left")
    crel = _rel(c["commuters_raw_count"], c["commuters"])
    extra = at(trips).merge(at(truth_trips)[key], on=key, how="left", indicator=True)
    n = len(t)
    return {
        "level": level, "pairs": int(n),
        "true_trips": int(t["trips"].sum()),
        "measured_trips": int(t["trips_raw_count"].fillna(0).sum()),
        "max_abs_trips_error": round(float(np.abs(rel).max()), 4) if n else None,
        "trips_errors": {f"{o}->{d}": round(float(e), 4)
                         for o, d, e in zip(t["origin_id"], t["dest_id"], rel, strict=True)},
        "commuter_pairs": int(len(c)),
        "max_abs_commuters_error": round(float(np.abs(crel).max()), 4) if len(c) else None,
        "commuters": {f"{o}->{d}": [int(tc), int(mc)] for o, d, tc, mc in zip(
            c["origin_id"], c["dest_id"], c["commuters"],
            c["commuters_raw_count"].fillna(0), strict=True)},
        "extra_pairs": int((extra["_merge"] == "left_only").sum())}


def metro_errors(measured: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """The delineated metropolitan area against the true one: ``measured`` / ``truth``:
    ``unit_id``, ``is_member``, ``joined_round`` per unit of the level."""
    m = set(measured.loc[measured["is_member"].astype(bool), "unit_id"].astype(str))
    t = set(truth.loc[truth["is_member"].astype(bool), "unit_id"].astype(str))
    rounds = truth.merge(measured[["unit_id", "joined_round"]], on="unit_id", how="left",
                         suffixes=("_true", ""))
    same_rounds = bool((rounds["joined_round_true"].fillna(-1).astype(int)
                        == rounds["joined_round"].fillna(-1).astype(int)).all())
    return {"true_members": sorted(t), "members": sorted(m), "equal": m == t,
            "missing": sorted(t - m), "extra": sorted(m - t), "same_rounds": same_rounds}


def period_errors(measured: pd.DataFrame, truth: pd.DataFrame,
                  min_trips: int = PERIOD_MIN_TRIPS) -> dict:
    """Trips by period against the truth (linkage_truth.period_trips): per period, all
    pairs together (relative error of the totals), and the worst pair-period cell with
    at least ``min_trips`` true trips. ``measured``: unsuppressed rows (``city_id``,
    ``origin_id``, ``dest_id``, ``period``, ``trips_raw_count``)."""
    key = ["origin_id", "dest_id", "period"]
    t = truth.merge(measured[[*key, "trips_raw_count"]], on=key, how="left")
    per = t.groupby("period")[["trips", "trips_raw_count"]].sum()
    per_rel = _rel(per["trips_raw_count"], per["trips"])
    big = t[t["trips"] >= min_trips]
    rel = _rel(big["trips_raw_count"], big["trips"])
    return {"periods": {p: {"true": int(r.trips), "measured": int(r.trips_raw_count),
                            "error": round(float(e), 4)}
                        for (p, r), e in zip(per.iterrows(), per_rel, strict=True)},
            "cells": int(len(big)), "min_true_trips": int(min_trips),
            "max_abs_cell_error": round(float(np.abs(rel).max()), 4) if len(big) else None,
            "mean_abs_cell_error": round(float(np.abs(rel).mean()), 4) if len(big) else None}


def verdict(result: dict) -> dict[str, bool | None]:
    """Each issue #5 target: met or not (a missing measure counts as not met), None when
    it does not apply (no township of >= 1,000 true people)."""
    hwa, cls, pop = result["home_work"], result["classes"], result["population"]
    jh = result.get("jobs_housing")
    lk = result.get("linkage")

    def ge(x, t):
        return x is not None and x >= t

    def le(x, t):
        return x is not None and x <= t

    return {
        "home_within_500m": ge(hwa["home_within_500m"], TARGETS["home_within_500m"]),
        "work_within_500m": ge(hwa["work_within_500m"], TARGETS["work_within_500m"]),
        "class_accuracy": all(v["accuracy"] >= TARGETS["class_accuracy_min"]
                              for v in cls.values()),
        "county_population": le(pop["county"]["max_abs_error"],
                                TARGETS["county_max_abs_error"]),
        # None: no township of >= 1,000 true people (or no township layer) to measure
        "township_population": (le(pop["township"]["max_abs_error"],
                                   TARGETS["township_max_abs_error"])
                                if pop["township"]["units"] else None),
        # None: no jobs-housing truth (an older city) or no county with enough employed
        # residents to measure
        "county_jobs_housing_ratio": (
            le(jh["county"]["max_abs_ratio_error"],
               TARGETS["county_jobs_housing_ratio_max_abs_error"])
            if jh and jh["county"]["units"] else None),
        # None: no linkage truth (an older city, or one without a satellite city)
        "inter_city_trips": (
            le(lk["trips"]["max_abs_trips_error"], TARGETS["inter_city_trips_max_abs_error"])
            if lk and lk["trips"]["pairs"] else None),
        "metro_delineation": lk["metro"]["equal"] if lk and lk.get("metro") else None,
    }


def markdown(result: dict) -> str:
    """A short Markdown report of ``evaluate`` results."""
    hwa, pop, mc = result["home_work"], result["population"], result["multicard"]
    ok = result["targets_met"]

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f} %"

    def points(x):
        return "n/a" if x is None else f"{100 * x:.1f} points"

    lines = ["| measure | value | target | met |", "|---|---|---|---|",
             f"| home within 500 m ({hwa['true_residents']} true residents) | "
             f"{pct(hwa['home_within_500m'])} (urban {pct(hwa['home_within_500m_urban'])}, "
             f"periphery {pct(hwa['home_within_500m_periphery'])}) | ≥ 90 % | "
             f"{ok['home_within_500m']} |",
             f"| work within 500 m ({hwa['true_workers']} true workers) | "
             f"{pct(hwa['work_within_500m'])} | ≥ 85 % | {ok['work_within_500m']} |"]
    for cls, v in sorted(result["classes"].items()):
        lines.append(f"| class {cls} ({v['cards']} cards) | {pct(v['accuracy'])} | ≥ 95 % | "
                     f"{v['accuracy'] >= TARGETS['class_accuracy_min']} |")
    for level, t in (("county", "±5 %"), ("township", "±15 %")):
        p = pop[level]
        met = ok[f"{level}_population"]
        lines.append(f"| {level} residents, worst error ({p['units']} units"
                     f"{' ≥ 1,000 people' if level == 'township' else ''}) | "
                     f"{pct(p['max_abs_error'])} (mean {pct(p['mean_abs_error'])}) | {t} | "
                     f"{'n/a' if met is None else met} |")
    jh = result.get("jobs_housing")
    for level, t in (("county", "±10 %"), ("township", "—")):
        verdict_ = ok.get("county_jobs_housing_ratio")
        met = "—" if level == "township" else "n/a" if verdict_ is None else verdict_
        if not jh:
            lines.append(f"| {level} jobs-housing ratio | n/a (no truth/jobs_housing.csv) | "
                         f"{t} | {met} |")
            continue
        j = jh[level]
        lines.append(f"| {level} jobs-housing ratio 职住比, worst error ({j['units']} units "
                     f"≥ {j['min_employed_residents']} true employed residents) | "
                     f"{pct(j['max_abs_ratio_error'])} (mean {pct(j['mean_abs_ratio_error'])}"
                     f"); self-containment worst {points(j['max_abs_self_containment_error'])}"
                     f" | {t} | {met} |")
    lines += linkage_lines(result.get("linkage"), ok)
    lines.append(f"| 一人多卡 pairs ({mc['true_pairs']} true, {mc['eligible_pairs']} present "
                 f"long enough) | precision {pct(mc['precision'])}, recall "
                 f"{pct(mc['recall'])} ({pct(mc['recall_eligible'])} of those present long "
                 "enough) | — | — |")
    return "\n".join(lines)


def linkage_lines(lk: dict | None, ok: dict) -> list[str]:
    """The Markdown rows of the linkage measures (none without linkage truth)."""
    if not lk:
        return ["| inter-city trips | n/a (no truth/moves.parquet) | ±15 % | n/a |"]

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f} %"

    t, m = lk["trips"], lk.get("metro")
    met = ok.get("inter_city_trips")
    lines = [f"| inter-city trips T_ij per ordered pair of {t['level']} units "
             f"({t['pairs']} pairs, {t['true_trips']} true trips, {t['measured_trips']} "
             f"measured), worst error | {pct(t['max_abs_trips_error'])} | ±15 % | "
             f"{'n/a' if met is None else met} |",
             f"| commuters per ordered pair of {t['level']} units ({t['commuter_pairs']} "
             f"pairs; true, measured: {t['commuters']}), worst error | "
             f"{pct(t['max_abs_commuters_error'])} | — | — |"]
    if m:
        lines.append(f"| metropolitan area ({lk['metro_level']}, core {lk['metro_core']}): "
                     f"{len(m['members'])} members, missing {m['missing']}, extra "
                     f"{m['extra']}, same rounds {m['same_rounds']} | "
                     f"{'equal' if m['equal'] else 'differs'} | the true set | "
                     f"{ok.get('metro_delineation')} |")
    p = lk.get("periods")
    if p:
        per = ", ".join(f"{k} {pct(v['error'])}" for k, v in p["periods"].items())
        lines.append(f"| trips by period at {lk['trips_level']}: totals per period ({per}); "
                     f"pair-period cells with ≥ {p['min_true_trips']} true trips "
                     f"({p['cells']}), worst | {pct(p['max_abs_cell_error'])} (mean "
                     f"{pct(p['mean_abs_cell_error'])}) | — | — |")
    return lines
