"""What leaves the operator: the publication rule of every exported table (issue 17,
items 2c and 3), applied by one function, :func:`published`, to the rows of each export
file (GeoParquet, CSV, and hence the GeoPackage) and of the monthly report. The Delta
tables inside the warehouse keep their exact raw and expanded counts; only what leaves
changes.

Why: an expanded count is the sum of the expansion factors of the cards counted, and a
county's factor is official population / its sample residents. A published raw count
next to its expanded count shows the factor (expanded / raw); the official population is
public, so official / factor gives the county's sample residents, which is the county's
resident raw count even where that cell is suppressed, and other suppressed cells follow
by subtraction. Exact expanded counts alone are no better: values of one county are
integer multiples of one factor, so their ratios are ratios of small integers and give
the raw counts back.

The rule:

1. raw counts (every ``*raw_count`` column) are dropped, unless ``privacy.publish_raw``
   is true (then the route above is open again; the manifest says so);
2. every expanded count (``*expanded_count``) is rounded (half up) to a multiple of the
   *base*: the smallest 1-2-5 number (1, 2, 5, 10, 20, 50, ...) at least
   ``privacy.rounding_multiple`` (>= 2) times the month's largest expansion factor (the
   largest finite ``factor`` of ``expansion_factors`` and ``expansion_factors_age`` of the
   month; for a day table, of the day's month). The rounding interval is then at least two
   factors wide, so every published value fits two or more raw counts whatever the
   factor is, and every factor up to base / 2 fits every published value: nothing pins
   the factor down, and official / factor does not give the sample. A table whose month
   has no factor table is rounded on its rows' largest expanded / raw ratio (the mean
   factor of a row) instead.
3. ratios, shares and per-day values (:data:`RATIOS`) are recomputed from the rounded
   counts: an exact ratio of two counts of one county is a ratio of small integers, and
   an exact per-day value times the days is the exact expanded count, either of which
   undoes the rounding. Medians, means and radii of distances are not counts and stay.
4. suppressed cells stay null with their flags, zeros stay zero.

Deterministic: the base depends only on the month's factors, so a re-run publishes
identical files. Perturbation (noise) was not chosen: noise from a seed written in the
config or the manifest can be subtracted by anyone, and bounded noise gives the attacker
the same kind of interval as rounding does.

:data:`RULE` is the text the manifest records with the parameters (:func:`manifest`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C

RULE = (
    "Raw (pre-expansion) counts do not leave the operator unless privacy.publish_raw is "
    "true. Every expanded count is rounded half up to a multiple of the base: the smallest "
    "1-2-5 number at least privacy.rounding_multiple (>= 2) times the month's largest "
    "expansion factor, so a published value fits two or more raw counts for any factor "
    "and neither a factor (expanded / raw) nor a county's sample residents (official "
    "population / factor) can be read back. Ratios, shares and per-day values are "
    "computed from the rounded counts. Suppressed values stay null, zeros stay zero.")
FACTOR_TABLES = ("expansion_factors", "expansion_factors_age")


@dataclass(frozen=True)
class Publication:
    """The publication rule of one month: ``base`` (rounding base of expanded counts),
    ``publish_raw``, and where the base came from (``largest_factor``, ``multiple``,
    ``source``: the factor tables or the rows)."""

    base: float
    publish_raw: bool = False
    largest_factor: float | None = None
    multiple: float = 2.0
    source: str = "expansion_factors"

    def manifest(self) -> dict[str, Any]:
        """The rule and its parameters as the manifest records them."""
        return {"rule": RULE, "publish_raw": self.publish_raw,
                "expanded_rounding_base": self.base,
                "rounding_multiple": self.multiple, "base_from": self.source}


def nice_ceiling(x: float) -> float:
    """The smallest 1-2-5 number (1, 2, 5, 10, 20, 50, ...) >= ``x`` (1 for x <= 1)."""
    if not math.isfinite(x) or x <= 1:
        return 1.0
    mag = 10.0 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * mag >= x * (1 - 1e-12):
            return float(m * mag)
    return float(10 * mag)  # pragma: no cover (the loop always returns)


def base_for(largest: float, multiple: float) -> float:
    """The rounding base for a largest factor: :func:`nice_ceiling` of multiple x it."""
    return nice_ceiling(float(multiple) * float(largest))


def largest_factor(catalog: Any, month_key: str) -> float | None:
    """The month's largest finite expansion factor over ``expansion_factors`` and
    ``expansion_factors_age`` (None when neither has a row for the month)."""
    best = None
    for name in FACTOR_TABLES:
        if not catalog.exists(name):
            continue
        try:
            rows = catalog.read(name, month=month_key)
        except Exception:  # noqa: BLE001 (a table without the month's partition)
            continue
        f = F.col(C.FACTOR)
        v = rows.where(f.isNotNull() & ~F.isnan(f) & (f < float("inf"))).agg(
            F.max(f)).first()[0]
        if v is not None:
            best = float(v) if best is None else max(best, float(v))
    return best


def row_factor(rows: DataFrame) -> float | None:
    """The largest expanded / raw ratio of ``rows`` (each ``<m>_expanded_count`` over its
    ``<m>_raw_count``): the largest mean factor of a row, a stand-in for the month's
    largest factor when no factor table has the month."""
    ratios = []
    for c in rows.columns:
        if c.endswith(C.EXPANDED_COUNT):
            raw = c[: -len(C.EXPANDED_COUNT)] + C.RAW_COUNT
            if raw in rows.columns:
                ratios.append(F.when(F.col(raw) > 0, F.col(c) / F.col(raw)))
    if not ratios:
        return None
    v = rows.agg(F.max(F.greatest(*ratios, F.lit(None).cast("double")))
                 if len(ratios) > 1 else F.max(ratios[0])).first()[0]
    return float(v) if v is not None else None


def rule_for(catalog: Any, month_key: str, privacy: Any = None,
             rows: DataFrame | None = None) -> Publication:
    """The month's :class:`Publication` (``privacy``: the config's privacy section;
    None: the defaults, raw counts withheld, multiple 2)."""
    publish_raw = bool(getattr(privacy, "publish_raw", False))
    multiple = float(getattr(privacy, "rounding_multiple", 2.0))
    largest, source = largest_factor(catalog, month_key), "expansion_factors"
    if largest is None and rows is not None:
        largest, source = row_factor(rows), "rows"
    if largest is None:
        largest, source = 1.0, "none"
    return Publication(base=base_for(largest, multiple), publish_raw=publish_raw,
                       largest_factor=largest, multiple=multiple, source=source)


def raw_columns(columns: list[str]) -> list[str]:
    """The raw-count columns among ``columns``."""
    return [c for c in columns if c.endswith(C.RAW_COUNT)]


def expanded_columns(columns: list[str]) -> list[str]:
    """The expanded-count columns among ``columns``."""
    return [c for c in columns if c.endswith(C.EXPANDED_COUNT)]


def rounded(col: Any, base: float) -> Any:
    """``col`` rounded half up to a multiple of ``base`` (null stays null)."""
    c = F.col(col) if isinstance(col, str) else col
    return (F.round(c / F.lit(float(base)), 0) * F.lit(float(base))).cast("double")


# ratios and per-day values of the exported tables, recomputed from the published counts
# (an exact ratio of two counts of one county is a ratio of small integers, and an exact
# per-day value times the days is the exact expanded count: either undoes the rounding).
# column -> (numerator, denominator): a column of the row, or (table, column, keys) for
# a count of another exported table of the month (keys: this row's columns matched to
# that table's ``level``, ``unit_id``), or the pair's reverse row (REVERSE).
REVERSE = "reverse"
RATIOS: dict[str, dict[str, tuple[Any, Any]]] = {
    "jobs_housing": {
        "jobs_housing_ratio": ("jobs_expanded_count", "employed_residents_expanded_count"),
        "self_containment": ("live_and_work_expanded_count",
                             "employed_residents_expanded_count"),
        "self_sufficiency": ("live_and_work_expanded_count", "jobs_expanded_count")},
    "commute": {
        "share_dist_short": ("commuters_dist_short_expanded_count", "commuters_expanded_count"),
        "share_time_short": ("commuters_time_short_expanded_count",
                             "commuters_timed_expanded_count"),
        "share_time_long": ("commuters_time_long_expanded_count",
                            "commuters_timed_expanded_count")},
    "metro_area": {
        "commuting_share_to_metro": ("commuters_to_metro_expanded_count",
                                     "employed_residents_expanded_count")},
    "linkage": {
        "trips_per_day": ("trips_expanded_count", C.DAYS),
        "intensity_per_day": ((REVERSE, "trips_expanded_count"), C.DAYS),
        "commuting_rate": ("commuters_expanded_count",
                           ("jobs_housing", "employed_residents_expanded_count",
                            (C.LEVEL, C.ORIGIN_ID)))},
    "trips_by_period": {"trips_per_day": ("trips_expanded_count", C.DAYS)},
    "land_use_intensity": {  # an exact density x the area is the exact expanded count
        f"{m}_per_ha": (f"{m}_expanded_count", "area_ha")
        for m in ("residents", "workers", "day_visitors")},
    "service_catchment": {
        "share": (C.EXPANDED_COUNT, ("service_population", "visitor_expanded_count",
                                     (C.ZONE_LEVEL, C.ZONE_ID)))},
}


# a column equal, row by row, to one of the table's RATIOS (named by another column):
# recomputed with them (table -> (column, the naming column, pattern of the ratio's name))
PICKS: dict[str, tuple[str, str, str]] = {
    "land_use_intensity": ("intensity_per_ha", "intensity_measure", "{}_per_ha")}


def _with_ratios(rows: DataFrame, table: str | None, rule: Publication, catalog: Any,
                 month_key: str | None) -> DataFrame:
    """``rows`` with the :data:`RATIOS` of ``table`` recomputed from rounded counts
    (null where the table has it null or the published denominator is 0; null too when
    a count of another table cannot be read)."""
    spec = RATIOS.get(table or "", {})
    spec = {c: v for c, v in spec.items() if c in rows.columns}
    if not spec:
        return rows
    cols = rows.columns
    out = rows

    def pub(col: str) -> Any:
        c = F.col(col)
        return rounded(c, rule.base) if col.endswith(C.EXPANDED_COUNT) else c.cast("double")

    for i, (name, (num, den)) in enumerate(sorted(spec.items())):
        n_expr = None
        if isinstance(num, tuple) and num[0] == REVERSE:  # T_ij + T_ji (the reverse row)
            rev = rows.select(C.LEVEL, F.col(C.ORIGIN_ID).alias(C.DEST_ID),
                              F.col(C.DEST_ID).alias(C.ORIGIN_ID),
                              rounded(num[1], rule.base).alias(f"_rev{i}"))
            out = out.join(rev, [C.LEVEL, C.ORIGIN_ID, C.DEST_ID], how="left")
            n_expr = pub(num[1]) + F.coalesce(F.col(f"_rev{i}"), F.lit(0.0))
        else:
            n_expr = pub(num)
        if isinstance(den, tuple):
            other, col, keys = den
            d_expr = F.lit(None).cast("double")
            if catalog is not None and month_key is not None and catalog.exists(other):
                try:
                    o = catalog.read(other, month=month_key)
                except Exception:  # noqa: BLE001 (no partition of the month)
                    o = None
                if o is not None:
                    o = o.select(F.col(C.LEVEL).alias(keys[0]), F.col(C.UNIT_ID).alias(keys[1]),
                                 rounded(col, rule.base).alias(f"_den{i}"))
                    out = out.join(o, list(keys), how="left")
                    d_expr = F.col(f"_den{i}")
        else:
            d_expr = pub(den)
        value = F.when(F.col(name).isNotNull() & (d_expr > 0), n_expr / d_expr)
        out = out.withColumn(name, value.cast("double"))
    pick = PICKS.get(table or "")
    if pick and pick[0] in cols:  # a value that is one of the recomputed ones, by row
        name, which, pattern = pick
        value = F.lit(None).cast("double")
        for c in sorted(spec):
            value = F.when(F.col(which) == F.lit(c[: -len(pattern) + 2]), F.col(c)) \
                .otherwise(value)
        out = out.withColumn(name, F.when(F.col(name).isNotNull(), value))
    return out.select(*cols)


# tables whose suppressed rows are not listed when they leave the operator (their Delta
# table keeps them): a row not listed is a zero or a suppressed cell, so a reader cannot
# tell a hidden pair from an absent one. commute_od: a listed hidden pair was known to be
# at least 1 (zero pairs are not listed), and its hidden 1-commuter pairs under a total
# another release publishes bounded each other (privacy_audit.joint_audit, issue 17)
UNLISTED_HIDDEN: dict[str, str] = {
    "commute_od": (
        "pairs whose count is suppressed are not listed, nor are pairs with no commuter: "
        "a pair that is not listed has 0 commuters or a suppressed count."),
}


# measures of a table whose zeros leave the operator as suppressed (null, flagged, with
# their ratios null for the reason "suppressed"), so a suppressed cell of them cannot be
# told from a zero: linkage's commuters pair is commute_od's (the same cards), which
# lists neither its zero nor its suppressed pairs (UNLISTED_HIDDEN); a zero published
# here would tell the reader which pairs commute_od hides (at least 1 each)
ZEROS_AS_SUPPRESSED: dict[str, dict[str, tuple[str, ...]]] = {
    "linkage": {"commuters": ("commuting_rate",)},
}


def _zeros_as_suppressed(rows: DataFrame, table: str | None) -> DataFrame:
    """``rows`` with the zeros of the :data:`ZEROS_AS_SUPPRESSED` measures of ``table``
    shown as suppressed."""
    for m, ratios in ZEROS_AS_SUPPRESSED.get(table or "", {}).items():
        raw, flag = f"{m}_{C.RAW_COUNT}", f"is_{m}_suppressed"
        if raw not in rows.columns or flag not in rows.columns:
            continue
        zero = F.coalesce(F.col(raw) == 0, F.lit(False)) & ~F.coalesce(F.col(flag),
                                                                        F.lit(False))
        new = {c: F.when(zero, F.lit(None)).otherwise(F.col(c))
               for c in (raw, f"{m}_{C.EXPANDED_COUNT}", *ratios) if c in rows.columns}
        new[flag] = F.col(flag) | zero
        for r in ratios:
            if f"{r}_null_reason" in rows.columns:
                new[f"{r}_null_reason"] = F.when(zero, F.lit("suppressed")).otherwise(
                    F.col(f"{r}_null_reason"))
        rows = rows.withColumns(new)
    return rows


def published(rows: DataFrame, rule: Publication, table: str | None = None,
              catalog: Any = None, month_key: str | None = None) -> DataFrame:
    """The rows as they leave the operator under ``rule``: raw-count columns dropped
    (unless ``publish_raw``), expanded counts rounded to the base, and the ratios and
    per-day values of ``table`` (:data:`RATIOS`) recomputed from the rounded counts
    (``catalog`` and ``month_key``: where a ratio's denominator is another table's
    count); every other column unchanged, in the same order. A table of
    :data:`UNLISTED_HIDDEN` leaves without its suppressed rows; the zeros of a
    :data:`ZEROS_AS_SUPPRESSED` measure leave as suppressed."""
    if table in UNLISTED_HIDDEN:
        rows = rows.where(~F.coalesce(F.col(C.IS_SUPPRESSED), F.lit(False)))
    rows = _zeros_as_suppressed(rows, table)
    out = _with_ratios(rows, table, rule, catalog, month_key)
    for c in expanded_columns(rows.columns):
        out = out.withColumn(c, rounded(c, rule.base))
    if not rule.publish_raw:
        out = out.drop(*raw_columns(rows.columns))
    return out


def published_pandas(pdf: Any, rule: Publication) -> Any:
    """:func:`published` on a pandas frame (half up, as Spark's ``round``)."""
    import numpy as np

    out = pdf.copy()
    for c in expanded_columns(list(out.columns)):
        v = out[c].astype("float64")
        out[c] = np.floor(v / rule.base + 0.5) * rule.base
    if not rule.publish_raw:
        out = out.drop(columns=raw_columns(list(out.columns)))
    return out


def violations(pdf: Any, base: float, publish_raw: bool = False) -> list[str]:
    """What in a published frame (an export file read back, pandas) breaks the rule:
    a raw-count column when raw counts are not published, an expanded count that is not
    a multiple of ``base``. Empty when the frame is as published."""
    import numpy as np

    out = []
    if not publish_raw:
        out += [f"{c}: raw counts are published" for c in raw_columns(list(pdf.columns))]
    for c in expanded_columns(list(pdf.columns)):
        v = pdf[c].dropna().astype("float64").to_numpy()
        off = np.abs(v / base - np.round(v / base))
        if (off > 1e-9).any():
            out.append(f"{c}: {int((off > 1e-9).sum())} value(s) not a multiple of {base:g}")
    return out
