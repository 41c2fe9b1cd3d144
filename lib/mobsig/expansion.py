"""Expansion 扩样 (domain.md §B3): per county-level unit, factor = official resident
population / identified sample residents; optionally per age band, raked (IPF) to the
county totals and the census age shares.

The inputs are read by :mod:`mobsig.io.inputs`: ``read_reference_population`` (the
reference CSV: ``unit_id``, ``population``), ``read_subscribers`` and ``read_reference_ages``.

- ``resident_counties`` / ``count_residents``: counted residents with a home in a county
  (the ``card_places`` table already holds each card's home county).
- ``expansion_factors``: one row per county of the reference table; a county with no
  sample resident gets factor +inf so the bounds gate fails naming it (never a silent
  division by zero); counties with sample residents but no reference row are returned
  separately by ``unmatched_counties`` so the job can report them.
- ``rake``: iterative proportional fitting of a cell table to row and column margins
  (numpy).

Raking to age margins (``expansion.rake_ages``): the operator's real-name registration
实名制 gives a birth year per card (``read_subscribers``); ``with_age_band`` turns it into
the card's band at the month (age = month year - birth year; ``parse_age_bands``), and
``read_reference_ages`` gives the census age shares per county (2020 census ages.csv
form). ``sample_residents_by_band`` counts the residents of each county and band (null
band = unknown), and ``age_factors`` (numpy, on the driver: counties x bands is small)
fits them: every unknown-band resident keeps the plain county factor P/N; the county's
known-band part, P x known/N, is split by the census shares into cell targets, and the
targets of the cells that have sample residents are raked to the county totals (rows) and
the summed band targets (columns), so a band without sample in one county is absorbed by
that county's other bands and by the same band elsewhere, never divided by zero.
factor = fitted / sample residents of the cell. Without empty cells the fit is exactly
the cell targets.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.errors import ConfigError, InputError
from mobsig.localdata import local_frame

log = logging.getLogger(__name__)

UNKNOWN_BAND = "unknown"  # age_band of residents without a (valid) registered birth year
AGES_PREFIX = "AGES_"  # share column of a band in the census ages.csv form


def resident_counties(places: DataFrame) -> DataFrame:
    """``user_id``, ``unit_id`` (home county), ``age_band``: each resident of
    ``card_places`` whose home lies in a county."""
    res = places.where((F.col("pop_class") == "resident") & F.col("home_county").isNotNull())
    return res.select("user_id", F.col("home_county").alias("unit_id"), "age_band")


def count_residents(homes: DataFrame) -> DataFrame:
    """``unit_id``, ``sample_residents`` from ``resident_counties`` rows."""
    return homes.groupBy("unit_id").agg(F.count("*").cast("bigint").alias("sample_residents"))


def sample_residents_by_band(homes: DataFrame) -> DataFrame:
    """``unit_id``, ``age_band`` (null = unknown), ``sample_residents``: the residents of
    ``count_residents`` split by the age band of their card."""
    return (homes.groupBy("unit_id", "age_band")
            .agg(F.count("*").cast("bigint").alias("sample_residents")))


def expansion_factors(samples: DataFrame, reference: DataFrame, counties: DataFrame,
                      month_text: str) -> DataFrame:
    """One row per reference county: ``unit_id``, ``unit_name``, ``sample_residents``,
    ``reference_population``, ``factor`` (+inf when no sample resident), ``month``."""
    names = counties.select("unit_id", "unit_name").distinct()
    out = (reference.join(samples, "unit_id", how="left")
           .join(names, "unit_id", how="left"))
    n = F.coalesce("sample_residents", F.lit(0).cast("bigint"))
    return out.select(
        "unit_id", "unit_name", n.alias("sample_residents"),
        F.col("population").alias("reference_population"),
        F.when(n > 0, F.col("population") / n).otherwise(F.lit(float("inf")))
        .alias("factor"),
        F.lit(month_text).alias("month"))


def borrow_factors(rows: list, parents: dict[str, str | None]) -> tuple[list[dict],
                                                                          list[dict]]:
    """expansion.no_sample = borrow_parent: ``rows`` (expansion_factors rows) where every
    county without sample residents takes its parent's factor: the reference population
    over the sample residents of the counties with the same parent (``parents``: unit_id
    -> parent_id) that have sample residents; when none has, the factor of all counties
    with sample residents. Returns the new rows (dicts, same order) and one dict per
    borrowed factor (``unit_id``, ``unit_name``, ``reference_population``, ``parent_id``,
    ``factor``, ``source``: ``parent`` or ``all_counties``). No county with sample
    residents at all: nothing to borrow, rows unchanged (the gate fails)."""
    rows = [dict(r.asDict() if hasattr(r, "asDict") else r) for r in rows]
    sampled = [r for r in rows if r["sample_residents"] > 0]
    if not sampled:
        return rows, []

    def factor(group: list[dict]) -> float:
        return (sum(float(r["reference_population"]) for r in group)
                / sum(int(r["sample_residents"]) for r in group))

    overall = factor(sampled)
    borrowed = []
    for r in rows:
        if r["sample_residents"] > 0:
            continue
        parent = parents.get(r["unit_id"])
        sibs = [s for s in sampled if parent is not None and parents.get(s["unit_id"]) == parent]
        r["factor"] = factor(sibs) if sibs else overall
        borrowed.append({"unit_id": r["unit_id"], "unit_name": r.get("unit_name"),
                         "reference_population": r["reference_population"],
                         "parent_id": parent, "factor": round(r["factor"], 6),
                         "source": "parent" if sibs else "all_counties"})
    return rows, borrowed


def borrow_for_unsampled(spark, factors: DataFrame, rows: list, counties: DataFrame,
                         log, policy: str = "borrow_parent"
                         ) -> tuple[DataFrame, list, list[dict]]:
    """expansion.no_sample (``policy``) = borrow_parent on a month's factors: (factors,
    rows, borrowed) with every county without sample residents given its parent's factor
    (:func:`borrow_factors`), named in a warning; unchanged when none lacks a sample or
    the policy is ``fail`` (the factor stays +inf and the gate fails)."""
    if policy != "borrow_parent" or not any(r[C.SAMPLE_RESIDENTS] == 0 for r in rows):
        return factors, rows, []
    parents = {r[C.UNIT_ID]: r[C.PARENT_ID]
               for r in counties.select(C.UNIT_ID, C.PARENT_ID).collect()}
    fixed, borrowed = borrow_factors(rows, parents)
    if not borrowed:
        return factors, rows, []
    log.warning(
        "counties with a reference population but no identified sample resident take their "
        "parent's factor (expansion.no_sample = borrow_parent; their expanded residents are "
        "0 while nobody there is identified): %s",
        "; ".join(f"{b['unit_id']} ({b['unit_name'] or '?'}, reference "
                  f"{b['reference_population']}) <- {b['source']} {b['parent_id'] or ''} "
                  f"factor {b['factor']:.2f}" for b in borrowed))
    schema = factors.schema
    df = local_frame(spark, [tuple(r[f.name] for f in schema.fields) for r in fixed], schema)
    return df, fixed, borrowed


def warn_unmatched(samples: DataFrame, reference: DataFrame, log) -> list[str]:
    """Counties with sample residents but no reference population (their cards get the
    overall factor), named in a warning; their ids."""
    unmatched = [r[C.UNIT_ID] for r in unmatched_counties(samples, reference).collect()]
    if unmatched:
        log.warning("counties with sample residents but no reference population (their "
                    "cards get the overall factor): %s", unmatched)
    return unmatched


def unmatched_counties(samples: DataFrame, reference: DataFrame) -> DataFrame:
    """Counties with sample residents but no reference population row."""
    return samples.join(reference, "unit_id", how="left_anti")


def rake(table: np.ndarray, row_margins: np.ndarray, col_margins: np.ndarray,
         max_iter: int = 50, tol: float = 1e-6) -> tuple[np.ndarray, int]:
    """Iterative proportional fitting: scale ``table`` (rows x cols, >= 0) until its row
    and column sums match the margins (which must have equal totals). Returns the fitted
    table and the iterations used; raises ValueError when it does not converge."""
    t = np.asarray(table, float).copy()
    r = np.asarray(row_margins, float)
    c = np.asarray(col_margins, float)
    if t.shape != (len(r), len(c)):
        raise ValueError(f"rake: table {t.shape} does not match margins ({len(r)}, {len(c)})")
    if not np.isclose(r.sum(), c.sum(), rtol=1e-9):
        raise ValueError(f"rake: margin totals differ ({r.sum()} vs {c.sum()})")
    for i in range(1, max_iter + 1):
        rs = t.sum(axis=1)
        t *= np.divide(r, rs, out=np.zeros_like(r), where=rs > 0)[:, None]
        cs = t.sum(axis=0)
        t *= np.divide(c, cs, out=np.zeros_like(c), where=cs > 0)[None, :]
        err = max(np.abs(t.sum(axis=1) - r).max(), np.abs(t.sum(axis=0) - c).max())
        if err <= tol * max(r.sum(), 1.0):
            return t, i
    raise ValueError(f"rake: no convergence in {max_iter} iterations (error {err:.3g})")


# --------------------------------------------------------------------------------------
# raking to age margins


@dataclass(frozen=True)
class AgeBand:
    """An age band: ``label`` as configured, ages ``lo`` to ``hi`` inclusive (None = and
    over)."""

    label: str
    lo: int
    hi: int | None

    @property
    def column(self) -> str:
        """Its share column in the census ages.csv form."""
        return AGES_PREFIX + self.label


_BAND_RANGE = re.compile(r"^(\d{1,3})-(\d{1,3})$")
_BAND_OPEN = re.compile(r"^(\d{1,3})P$")


def parse_age_bands(labels: tuple[str, ...] | list[str],
                    key: str = "expansion.age_bands") -> tuple[AgeBand, ...]:
    """Parse band labels ('a-b' = a to b inclusive, 'aP' = a and over) in the given order.

    Raises ConfigError (naming ``key``) unless the bands, sorted by lower bound, start at
    0, follow each other without gap or overlap, and end with an open band.
    """
    if not labels:
        raise ConfigError(f"{key}: no age band given; e.g. ['0-14', '15-64', '65P']")
    bands = []
    for label in labels:
        text = str(label).strip()
        if m := _BAND_RANGE.match(text):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ConfigError(f"{key}: band {text!r} ends before it starts")
            bands.append(AgeBand(text, lo, hi))
        elif m := _BAND_OPEN.match(text):
            bands.append(AgeBand(text, int(m.group(1)), None))
        else:
            raise ConfigError(f"{key}: band {text!r} is not 'a-b' (inclusive) or 'aP' "
                              "(a and over), e.g. '0-14', '65P'")
    if len({b.label for b in bands}) != len(bands):
        raise ConfigError(f"{key}: a band is named twice in {list(labels)}")
    ordered = sorted(bands, key=lambda b: (b.lo, b.hi is None, b.hi or 0))
    if ordered[0].lo != 0:
        raise ConfigError(f"{key}: the bands must start at age 0; the youngest is "
                          f"{ordered[0].label!r}")
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.hi is None or b.lo <= a.hi:
            raise ConfigError(f"{key}: bands {a.label!r} and {b.label!r} overlap")
        if b.lo != a.hi + 1:
            raise ConfigError(f"{key}: ages {a.hi + 1}-{b.lo - 1} are in no band "
                              f"(between {a.label!r} and {b.label!r})")
    if ordered[-1].hi is not None:
        raise ConfigError(f"{key}: the oldest band {ordered[-1].label!r} must be open "
                          f"('{ordered[-1].lo}P', ... and over)")
    return tuple(bands)


def with_age_band(subscribers: DataFrame, bands: tuple[AgeBand, ...], year: int) -> DataFrame:
    """``user_id``, ``age_band``: the band of each card's age at ``year`` (age = year -
    birth_year); null when the birth year is null or after ``year``.

    ``subscribers``: ``user_id``, ``birth_year`` (``mobsig.io.inputs.read_subscribers``). One
    row per input row.
    """
    age = F.lit(int(year)) - F.col("birth_year")
    band = None
    for b in bands:
        cond = age >= b.lo if b.hi is None else (age >= b.lo) & (age <= b.hi)
        band = F.when(cond, F.lit(b.label)) if band is None else band.when(cond, F.lit(b.label))
    if band is None:
        raise ValueError("with_age_band: no bands")
    return subscribers.select("user_id", band.otherwise(F.lit(None).cast("string"))
                              .alias("age_band"))


@dataclass(frozen=True)
class AgeFit:
    """The result of ``age_factors``.

    ``rows``: one row per reference county and band (then 'unknown'): ``unit_id``,
    ``age_band``, ``sample_residents``, ``target_population``, ``fitted_population``,
    ``factor`` (NaN where no sample resident). ``absorbed``: (unit_id, band, target) of
    the cells with no sample resident and a positive target, whose target the raking moved
    to other cells. ``empty_bands``: bands with no sample resident in any county (their
    targets are spread over the other bands). ``col_margins``: the band margins fitted.
    ``county_totals_only``: the band margins could not be met from the cells with sample
    residents (IPF did not converge); the county totals are exact and each county's
    empty-cell targets are spread over its filled cells.
    """

    rows: pd.DataFrame
    absorbed: list[tuple[str, str, float]] = field(default_factory=list)
    empty_bands: list[str] = field(default_factory=list)
    col_margins: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    county_totals_only: bool = False


def age_factors(counts: pd.DataFrame, reference: pd.DataFrame, shares: pd.DataFrame,
                bands: list[str], *, max_iter: int = 1000, tol: float = 1e-6) -> AgeFit:
    """Raked expansion factors per county and age band (numpy, small tables).

    ``counts``: ``unit_id``, ``age_band`` (a label of ``bands``, or null/'unknown'),
    ``sample_residents`` (``sample_residents_by_band``); ``reference``: ``unit_id``,
    ``population`` (P); ``shares``: ``mobsig.io.inputs.read_reference_ages`` (index
    unit_id, one column per band). Counties of ``counts`` without a reference row are
    left out (their cards get the overall factor downstream).

    With n[c, b] known-band and u[c] unknown-band residents, N = n.sum + u: unknown-band
    residents keep the county factor P/N; cell targets T[c, b] = P x share x n.sum / N;
    the targets of cells with n > 0 are raked (``rake``) to the row margins T.sum(b) and
    the column margins T.sum(c). ``tol`` is relative to the smallest positive margin, so
    every county total is met to ``tol``. InputError when a reference county has no age
    row; DataQualityError when the raking cannot meet the margins (empty cells that no
    other cell can absorb).
    """
    ref = reference[["unit_id", "population"]].copy()
    ref["unit_id"] = ref["unit_id"].astype(str)
    ref = ref.sort_values("unit_id").reset_index(drop=True)
    ids = ref["unit_id"].tolist()
    missing = [c for c in ids if c not in shares.index]
    if missing:
        raise InputError(f"reference ages: no age row for counties {missing[:10]} of the "
                         f"reference population ({len(missing)} in all); every county needs "
                         "its age shares when expansion.rake_ages is on")
    unusable = [c for c in ids if shares.loc[c, bands].isna().any()]
    if unusable:
        raise InputError(f"reference ages: the age row of counties {unusable[:10]} of the "
                         "reference population is unusable (missing, non-numeric, negative "
                         "or all-zero shares)")
    s = shares.loc[ids, bands].to_numpy(float)
    cnt = counts.copy()
    cnt["age_band"] = cnt["age_band"].where(cnt["age_band"].isin(bands), UNKNOWN_BAND)
    pivot = (cnt.groupby(["unit_id", "age_band"])["sample_residents"].sum()
             .unstack(fill_value=0).reindex(index=ids, columns=[*bands, UNKNOWN_BAND],
                                            fill_value=0))
    n = pivot[bands].to_numpy(float)
    u = pivot[UNKNOWN_BAND].to_numpy(float)
    pop = ref["population"].to_numpy(float)
    total = n.sum(axis=1) + u
    has = total > 0
    known = np.divide(n.sum(axis=1), total, out=np.zeros_like(total), where=has)
    target = pop[:, None] * known[:, None] * s
    rows_m = target.sum(axis=1)
    cols_m = target.sum(axis=0)
    seed = np.where(n > 0, target, 0.0)
    empty = [b for j, b in enumerate(bands) if seed[:, j].sum() == 0 and cols_m[j] > 0]
    if empty:  # no sample anywhere: the other bands carry the county totals
        kept = np.array([b not in empty for b in bands])
        cols_m = np.where(kept, cols_m, 0.0)
        if cols_m.sum() > 0:
            cols_m = cols_m * (rows_m.sum() / cols_m.sum())
        log.warning("raking: bands %s have no sample resident in any county; their targets "
                    "are spread over the other bands", empty)
    positive = np.concatenate([rows_m[rows_m > 0], cols_m[cols_m > 0]])
    scale = positive.min() / max(rows_m.sum(), 1.0) if len(positive) else 1.0
    fallback = False
    try:
        fitted, iters = rake(seed, rows_m, cols_m, max_iter=max_iter, tol=tol * scale)
    except ValueError as exc:
        # a sparse sample can make the band margins unreachable from the cells that have
        # sample residents (e.g. one county's only children carry a whole band): keep the
        # county totals exact and spread each county's empty-cell targets over its own
        # filled cells (post-stratification within the county), and say so
        cells = [f"{ids[i]}/{bands[j]}" for i, j in zip(*np.nonzero((n == 0) & (target > 0)),
                                                        strict=True)]
        log.warning("raking: the county and band margins cannot both be met (%s; cells "
                    "without sample residents: %s); falling back to county totals with "
                    "each county's empty cells spread over its filled ones", exc, cells[:20])
        base = np.where(seed.sum(axis=1, keepdims=True) > 0, seed, n)
        row_sum = base.sum(axis=1, keepdims=True)
        fitted = np.divide(base * rows_m[:, None], row_sum, out=np.zeros_like(base),
                           where=row_sum > 0)
        iters, fallback = max_iter, True
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 0, fitted / np.where(n > 0, n, 1.0), np.nan)
    shown = np.where(has[:, None], target, pop[:, None] * s)  # no sample: the whole county
    out = []
    for i, c in enumerate(ids):
        for j, b in enumerate(bands):
            out.append((c, b, int(n[i, j]), float(shown[i, j]), float(fitted[i, j]),
                        float(factor[i, j])))
        unk = pop[i] * u[i] / total[i] if has[i] else 0.0
        out.append((c, UNKNOWN_BAND, int(u[i]), float(unk), float(unk),
                    float(pop[i] / total[i]) if u[i] > 0 else float("nan")))
    rows = pd.DataFrame(out, columns=["unit_id", "age_band", "sample_residents",
                                      "target_population", "fitted_population", "factor"])
    absorbed = [(ids[i], bands[j], float(target[i, j]))
                for i, j in zip(*np.nonzero((n == 0) & (target > 0)), strict=True)]
    return AgeFit(rows=rows, absorbed=absorbed, empty_bands=empty,
                  col_margins={b: float(cols_m[j]) for j, b in enumerate(bands)},
                  iterations=iters, county_totals_only=fallback)


def age_band_labels(ages: np.ndarray, bands: tuple[AgeBand, ...]) -> np.ndarray:
    """The band label of each age (numpy; None for a negative or missing age)."""
    a = np.asarray(ages, float)
    out = np.full(a.shape, None, dtype=object)
    for b in bands:
        hit = (a >= b.lo) & (a <= (np.inf if b.hi is None else b.hi))
        out[hit] = b.label
    return out


# --------------------------------------------------------------------------------------
# what the expand job reports (plain Python over the small collected results)


def factor_cv(factors: list[float]) -> float:
    """Coefficient of variation of the finite county factors (0 when fewer than one)."""
    finite = [f for f in factors if np.isfinite(f)]
    if not finite:
        return 0.0
    mean = sum(finite) / len(finite)
    var = sum((f - mean) ** 2 for f in finite) / len(finite)
    return float(np.sqrt(var) / mean) if mean else 0.0


def factor_summary(rows: list) -> dict:
    """The month's county factors (``expansion_factors`` rows) in numbers: counties,
    sample residents, reference population, factor CV (:func:`factor_cv`), factors."""
    return {"counties": len(rows), "sample_residents": sum(r["sample_residents"] for r in rows),
            "reference_population": sum(r["reference_population"] for r in rows),
            "factor_cv": round(factor_cv([r["factor"] for r in rows]), 4),
            "factors": {r["unit_id"]: round(r["factor"], 4) for r in rows}}


def factors_out_of_bounds(rows: list, lo: float, hi: float) -> str:
    """The county factor rows (``expansion_factors``) outside [lo, hi], as text naming the
    county and the division ('' when every factor is inside)."""
    bad = sorted(f"{r['unit_id']} ({r['unit_name'] or '?'}: {r['factor']:.3g} = "
                 f"{r['reference_population']} / {r['sample_residents']})"
                 for r in rows if not lo <= r["factor"] <= hi)
    return f"counties with factors outside [{lo}, {hi}]: " + "; ".join(bad) if bad else ""


def age_cells_out_of_bounds(fit: AgeFit, names: dict[str, str], lo: float,
                            hi: float) -> str:
    """County x band cells of ``fit`` with a finite factor outside [lo, hi], as text (''
    when none)."""
    bad = sorted(
        f"{r.unit_id}/{r.age_band} ({names.get(r.unit_id) or '?'}: {r.factor:.3g} = "
        f"{r.fitted_population:.1f} / {r.sample_residents})"
        for r in fit.rows.itertuples(index=False)
        if np.isfinite(r.factor) and not lo <= r.factor <= hi)
    return (f"county/age-band cells with factors outside [{lo}, {hi}]: " + "; ".join(bad)
            if bad else "")


def age_fit_summary(fit: AgeFit, bands: list[str]) -> dict:
    """The raking summary of a month (for the run's facts and log)."""
    absorbed = [f"{c}/{b} (target {t:.1f})" for c, b, t in fit.absorbed]
    unknown = int(fit.rows.loc[fit.rows["age_band"] == UNKNOWN_BAND, "sample_residents"].sum())
    factors: dict[str, dict[str, float]] = {}
    for r in fit.rows.itertuples(index=False):
        if np.isfinite(r.factor):
            factors.setdefault(r.unit_id, {})[r.age_band] = round(float(r.factor), 4)
    return {"bands": list(bands), "unknown_band_residents": unknown,
            "absorbed_cells": absorbed, "empty_bands": fit.empty_bands,
            "iterations": fit.iterations, "county_totals_only": fit.county_totals_only,
            "factors": factors}


def age_factor_rows(fit: AgeFit, month_text: str) -> list[tuple]:
    """The ``expansion_factors_age`` rows of the month (a NaN factor becomes null)."""
    return [(r.unit_id, r.age_band, int(r.sample_residents), float(r.target_population),
             float(r.fitted_population), float(r.factor) if np.isfinite(r.factor) else None,
             month_text) for r in fit.rows.itertuples(index=False)]


def age_bands_problem(have: set[str], bands: tuple[str, ...] | list[str]) -> str:
    """Why the age bands of a month's ``expansion_factors_age`` rows (``have``) cannot
    weight cards under expansion.age_bands (``bands``), '' when they can: no rows at all,
    or bands changed since expand ran (cards would silently get the county factor)."""
    if not have:
        return ("expansion.rake_ages is on but there are no expansion_factors_age rows; "
                "run expand with rake_ages")
    if not (have <= {*bands, UNKNOWN_BAND} and set(bands) <= have):
        return (f"expansion_factors_age has the age bands {sorted(have)}, "
                f"expansion.age_bands is {list(bands)}; re-run expand for the month")
    return ""


def age_factors_problem(age: DataFrame | None, bands: tuple[str, ...] | list[str]) -> str:
    """:func:`age_bands_problem` of a month's ``expansion_factors_age`` rows ('' for None:
    no raking). Runs one small Spark job (the distinct bands)."""
    if age is None:
        return ""
    have = {r[0] for r in age.select(C.AGE_BAND).distinct().collect()}
    return age_bands_problem(have, bands)


def check_raking_inputs(cfg) -> None:
    """ConfigError unless raking (expansion.rake_ages) has both of its inputs configured
    and valid age bands (the files' existence is checked with the other inputs)."""
    if not cfg.expansion.rake_ages:
        return
    for key in ("subscribers", "reference_ages"):
        if not getattr(cfg.paths, key):
            raise ConfigError(f"expansion.rake_ages is on but paths.{key} is not set: raking "
                              "needs the birth year per card (paths.subscribers) and the "
                              "census age shares per county (paths.reference_ages)")
    parse_age_bands(cfg.expansion.age_bands)


def rake_month(homes: DataFrame, reference: DataFrame, shares: pd.DataFrame,
               labels: list[str], max_iter: int, tol: float) -> AgeFit:
    """The month's residents (``resident_counties`` rows) per county and band raked to the
    reference population and the census shares (:func:`age_factors`); collects the small
    counts to the driver."""
    return age_factors(sample_residents_by_band(homes).toPandas(), reference.toPandas(),
                       shares, labels, max_iter=max_iter, tol=tol)


def checked_age_factors(ctx, age):
    """The month's expansion_factors_age rows ``age`` (read by the job), checked against
    expansion.age_bands through the job's context: an input error naming the bands
    otherwise. Used by the monthly jobs that weight cards by county and age band."""
    have = {r["age_band"] for r in age.select("age_band").distinct().collect()}
    ctx.note_input("expansion_factors_age", age.count())
    problem = age_bands_problem(have, ctx.cfg.expansion.age_bands)
    ctx.require(not problem, problem)
    return age
