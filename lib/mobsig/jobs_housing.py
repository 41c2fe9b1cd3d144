"""Jobs-housing balance 职住平衡 per spatial unit (domain.md §C): employed residents, jobs,
the jobs-housing ratio 职住比, self-containment and self-sufficiency, raw 原样数量 and
expanded 扩样数量.

Pure transforms; the ``jobs_housing`` job reads ``card_places``, the expansion factors and
the ``units`` table and chains them:

1. :func:`job_points`: per counted card with a work place, its work point (role
   ``work``) and, for a resident, its home point (role ``home``).
2. ``population.assign_units`` / ``population.with_grid``: the unit of each point in
   every layer and on the H3 grid (the same levels as population_by_unit).
3. :func:`measure_counts`: per unit and measure, distinct cards (``raw_count``) and the sum
   of their expansion factors (``expanded_count``, ``population.user_weights``):

   - ``employed_residents``: residents whose home is in the unit and who have a work
     place (anywhere, inside the unit or not);
   - ``jobs``: counted cards (any class) whose work place is in the unit (the same
     count as population_by_unit's ``employed``);
   - ``live_and_work``: employed residents whose home and work place are both in the
     unit (at the grid level: the same H3 cell).
4. :func:`complete`: every (polygon unit, measure) row, zeros filled; a grid cell with any
   card gets every measure.
5. :func:`publish`: small-count suppression (mobsig.privacy, sibling groups per
   measure) on the long form, then one row per unit with the ratios computed from the
   published expanded counts only (:func:`with_ratios`).

``employed_residents`` and ``jobs`` add up from child units to their parent (one home and
one work place per card); ``live_and_work`` does not (a card living and working in two
townships of one county lives and works in the county).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import privacy
from mobsig.columns import expanded_col, reason_col, suppressed_col
from mobsig.population import (
    NO_COVERAGE,
    NULL_REASON,
    assign_units,
    mark_uncovered,
    user_weights,
    with_grid,
)

MEASURES = (C.EMPLOYED_RESIDENTS, C.JOBS, C.LIVE_AND_WORK)
ADDITIVE_MEASURES = (C.EMPLOYED_RESIDENTS, C.JOBS)

# why a ratio is null (``<ratio>_null_reason``)
SUPPRESSED = "suppressed"  # a count it is computed from is suppressed
NO_EMPLOYED_RESIDENTS = "no_employed_residents"  # nobody to divide by: not a measured 0
NO_JOBS = "no_jobs"
NULL_REASONS = (SUPPRESSED, NO_EMPLOYED_RESIDENTS, NO_JOBS, NO_COVERAGE)

# ratio -> (numerator, denominator, reason when the denominator is 0)
RATIOS: dict[str, tuple[str, str, str]] = {
    C.JOBS_HOUSING_RATIO: (C.JOBS, C.EMPLOYED_RESIDENTS, NO_EMPLOYED_RESIDENTS),
    C.SELF_CONTAINMENT: (C.LIVE_AND_WORK, C.EMPLOYED_RESIDENTS, NO_EMPLOYED_RESIDENTS),
    C.SELF_SUFFICIENCY: (C.LIVE_AND_WORK, C.JOBS, NO_JOBS),
}


def job_points(places: DataFrame) -> DataFrame:
    """``user_id``, ``role`` (home/work), ``lon``, ``lat`` from ``card_places`` rows: the
    work point of every card with a work place, and the home point of every resident
    with both a home and a work place. Cards without a work place have no row."""
    has_work = F.col(C.WORK_LON).isNotNull() & F.col(C.WORK_LAT).isNotNull()
    homes = places.where(has_work & (F.col(C.POP_CLASS) == "resident")
                         & F.col(C.HOME_LON).isNotNull() & F.col(C.HOME_LAT).isNotNull())
    return (homes.select(C.USER_ID, F.lit("home").alias(C.ROLE),
                         F.col(C.HOME_LON).alias(C.LON), F.col(C.HOME_LAT).alias(C.LAT))
            .unionByName(places.where(has_work).select(
                C.USER_ID, F.lit("work").alias(C.ROLE), F.col(C.WORK_LON).alias(C.LON),
                F.col(C.WORK_LAT).alias(C.LAT))))


def unit_members(points: DataFrame, units: DataFrame, grid_resolution: int) -> DataFrame:
    """``user_id``, ``role``, ``level``, ``unit_id``: the unit of each point of
    :func:`job_points` in every polygon layer it falls in, and its H3 cell (level
    ``grid``)."""
    keys = [C.USER_ID, C.ROLE]
    return assign_units(points, units, keys).unionByName(
        with_grid(points, keys, grid_resolution))


def measure_counts(members: DataFrame, weights: DataFrame) -> DataFrame:
    """``level``, ``unit_id``, ``measure``, ``raw_count``, ``expanded_count`` from
    :func:`unit_members` rows and card weights (``user_id``, ``weight``; a card without
    one counts 1). Units without any card have no row."""
    role = F.col(C.ROLE)
    per = members.groupBy(C.USER_ID, C.LEVEL).agg(
        F.max(F.when(role == "home", F.col(C.UNIT_ID))).alias("_home"),
        F.max(F.when(role == "work", F.col(C.UNIT_ID))).alias("_work"))
    home, work = F.col("_home"), F.col("_work")

    def item(measure: str, unit: Column) -> Column:
        return F.struct(F.lit(measure).alias(C.MEASURE), unit.alias(C.UNIT_ID))

    items = F.array_compact(F.array(
        F.when(home.isNotNull(), item(C.EMPLOYED_RESIDENTS, home)),
        F.when(work.isNotNull(), item(C.JOBS, work)),
        F.when(home == work, item(C.LIVE_AND_WORK, home))))
    rows = per.select(C.USER_ID, C.LEVEL, F.explode(items).alias("_m")).select(
        C.USER_ID, C.LEVEL, F.col("_m")[C.MEASURE].alias(C.MEASURE),
        F.col("_m")[C.UNIT_ID].alias(C.UNIT_ID))
    return rows.join(weights, C.USER_ID, how="left").groupBy(
        C.LEVEL, C.UNIT_ID, C.MEASURE).agg(
        F.countDistinct(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(C.WEIGHT, F.lit(1.0))).alias(C.EXPANDED_COUNT))


def complete(counts: DataFrame, units: DataFrame) -> DataFrame:
    """Every (polygon unit, measure) row with zeros filled, plus every measure of each
    grid cell that has a row in ``counts``: ``level``, ``unit_id``, ``unit_name``,
    ``parent_id``, ``measure``, ``raw_count``, ``expanded_count``."""
    measures = F.explode(F.array(*[F.lit(m) for m in MEASURES])).alias(C.MEASURE)
    cells = counts.where(F.col(C.LEVEL) == C.GRID_LEVEL).select(
        C.LEVEL, C.UNIT_ID, F.lit(None).cast("string").alias(C.UNIT_NAME),
        F.lit(None).cast("string").alias(C.PARENT_ID)).distinct()
    grid = (units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID)
            .unionByName(cells).select("*", measures))
    return grid.join(counts, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left").select(
        C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, C.MEASURE,
        F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


def counts_table(places: DataFrame, factors: DataFrame, age_factors: DataFrame | None,
                 units: DataFrame, grid_resolution: int) -> DataFrame:
    """The unsuppressed long form of a month (:func:`complete`): ``places``: card_places;
    ``factors`` / ``age_factors``: expansion_factors / expansion_factors_age (None:
    county weighting); ``units``: unit polygons (``unit_id``, ``unit_name``, ``level``,
    ``parent_id``, ``geometry``)."""
    members = unit_members(job_points(places), units, grid_resolution)
    weights = user_weights(places, factors, age_factors)
    return complete(measure_counts(members, weights), units)


def spread(long: DataFrame) -> DataFrame:
    """One row per unit from the long form (:func:`mobsig.privacy.spread` of
    :data:`MEASURES`), with the unit's ``null_reason`` when the long form has it (marked
    by :func:`mobsig.population.mark_uncovered`)."""
    extra = ([F.max(F.when(F.col(NULL_REASON) == NO_COVERAGE, F.lit(NO_COVERAGE)))
              .alias(NULL_REASON)] if NULL_REASON in long.columns else [])
    return privacy.spread(long, MEASURES, extra=extra)


def with_ratios(wide: DataFrame, balanced_min: float, balanced_max: float) -> DataFrame:
    """Adds each ratio of :data:`RATIOS` (on expanded counts) with its
    :func:`reason_col`, and ``is_balanced`` (``balanced_min`` <= jobs_housing_ratio <=
    ``balanced_max``; null when the ratio is null). A ratio is null, with reason
    ``suppressed``, when a count it is computed from is suppressed (so it never reveals
    a hidden count), else, with reason ``no_employed_residents`` / ``no_jobs``, when its
    denominator is 0 (a unit where nobody lives is not a measured 0); on a unit without
    coverage (``null_reason`` = no_coverage, when ``wide`` has it) every ratio is null
    with reason ``no_coverage``. Rows are kept."""
    cols = {}
    gone = (F.coalesce(F.col(NULL_REASON) == NO_COVERAGE, F.lit(False))
            if NULL_REASON in wide.columns else F.lit(False))
    for ratio, (num, den, empty) in RATIOS.items():
        hidden = F.col(suppressed_col(num)) | F.col(suppressed_col(den))
        d = F.col(expanded_col(den))
        cols[ratio] = F.when(~gone & ~hidden & (d > 0), F.col(expanded_col(num)) / d)
        cols[reason_col(ratio)] = (F.when(gone, F.lit(NO_COVERAGE))
                                   .when(hidden, F.lit(SUPPRESSED))
                                   .when(d.isNull() | (d <= 0), F.lit(empty)))
    out = wide.withColumns(cols)
    r = F.col(C.JOBS_HOUSING_RATIO)
    return out.withColumn(C.IS_BALANCED, F.when(r.isNotNull(), r.between(balanced_min,
                                                                         balanced_max)))


# employed residents who work in another unit (employed_residents - live_and_work): never
# published, but a reader derives it from the two; a cell of the audit (employed_mask)
OUT_COMMUTERS = "out_commuters"
# employed residents who live and work in a unit but in two of its child units (of one
# layer): the unit's live_and_work - its children's (never published; a cell of the audit,
# measure "inner_commuters <child layer>")
INNER_COMMUTERS = "inner_commuters"


EMPLOYED_IDENTITY = ((C.EMPLOYED_RESIDENTS, (C.LIVE_AND_WORK, OUT_COMMUTERS)),)


def employed_table(base: pd.DataFrame
                   ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None]:
    """``base`` (the ``employed_residents`` and ``live_and_work`` cells: ``level``,
    ``unit_id``, ``parent_id``, ``measure``, ``raw_count`` (true), ``is_suppressed``)
    with one hidden ``out_commuters`` cell per unit that has both (employed_residents -
    live_and_work, never published) and one hidden ``inner_commuters <layer>`` cell per
    unit and child layer (its live_and_work - the sum of its children's, where that is
    not negative: residents working in their own unit but another child unit, the sum
    of commute_od's pairs between two children, which a reader bounds by the two
    releases) after its rows; the mask of those cells (never published, never
    complements) and the sums that tie the inner cells (:func:`mobsig.privacy_audit.
    relations`' ``sums``; None without any)."""
    wide = base.pivot_table(index=[C.LEVEL, C.UNIT_ID], columns=C.MEASURE,
                            values=C.RAW_COUNT, aggfunc="first")
    if not {C.EMPLOYED_RESIDENTS, C.LIVE_AND_WORK} <= set(wide.columns):
        wide = pd.DataFrame(columns=[C.EMPLOYED_RESIDENTS, C.LIVE_AND_WORK])
    wide = wide[[C.EMPLOYED_RESIDENTS, C.LIVE_AND_WORK]].dropna()
    parents = base.drop_duplicates([C.LEVEL, C.UNIT_ID]).set_index(
        [C.LEVEL, C.UNIT_ID])[C.PARENT_ID]
    out = pd.DataFrame({
        C.LEVEL: wide.index.get_level_values(0), C.UNIT_ID: wide.index.get_level_values(1),
        C.PARENT_ID: parents.reindex(wide.index).to_numpy(), C.MEASURE: OUT_COMMUTERS,
        C.RAW_COUNT: (wide[C.EMPLOYED_RESIDENTS] - wide[C.LIVE_AND_WORK]).clip(lower=0)
        .to_numpy(np.int64), C.IS_SUPPRESSED: True})
    inner, sums = _inner_cells(base)
    tab = pd.concat([base.reset_index(drop=True), out, inner], ignore_index=True)
    return tab, tab[C.MEASURE].isin([OUT_COMMUTERS]).to_numpy() | tab[C.MEASURE].astype(
        str).str.startswith(INNER_COMMUTERS).to_numpy(), sums


def _inner_cells(base: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """:func:`employed_table`'s ``inner_commuters`` cells and their sums."""
    lw = base[base[C.MEASURE] == C.LIVE_AND_WORK]
    # the parent of a parent_id as privacy_audit.relations takes it (a unit id at two
    # levels: the first level by name, then the first row), so that the inner cell and
    # the parent = sum of children relations tie the same unit
    heads = (lw[lw[C.LEVEL] != C.GRID_LEVEL].sort_values(C.LEVEL, kind="stable")
             .drop_duplicates(C.UNIT_ID).set_index(C.UNIT_ID))
    kids = lw[lw[C.PARENT_ID].notna() & lw[C.PARENT_ID].isin(heads.index)]
    cols = [C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.MEASURE, C.RAW_COUNT, C.IS_SUPPRESSED]
    if not len(kids):
        return pd.DataFrame(columns=cols), None
    g = kids.groupby([C.PARENT_ID, C.LEVEL], as_index=False)[C.RAW_COUNT].sum()
    g["p_level"] = heads.loc[g[C.PARENT_ID], C.LEVEL].to_numpy()
    g["gap"] = heads.loc[g[C.PARENT_ID], C.RAW_COUNT].to_numpy() - g[C.RAW_COUNT]
    g = g[g["gap"] >= 0]
    cells = pd.DataFrame({C.LEVEL: g["p_level"].to_numpy(),
                          C.UNIT_ID: g[C.PARENT_ID].to_numpy(), C.PARENT_ID: None,
                          C.MEASURE: (INNER_COMMUTERS + " " + g[C.LEVEL]).to_numpy(),
                          C.RAW_COUNT: g["gap"].to_numpy(np.int64), C.IS_SUPPRESSED: True})
    rel = "inner " + g[C.PARENT_ID].astype(str) + " " + g[C.LEVEL].astype(str)
    k = kids.merge(g[[C.PARENT_ID, C.LEVEL]].assign(rel=rel.to_numpy()),
                   on=[C.PARENT_ID, C.LEVEL])
    sums = pd.concat([
        pd.DataFrame({"rel": rel.to_numpy(), C.LEVEL: g["p_level"].to_numpy(),
                      C.UNIT_ID: g[C.PARENT_ID].to_numpy(), C.MEASURE: C.LIVE_AND_WORK,
                      "coef": 1.0}),
        pd.DataFrame({"rel": rel.to_numpy(), C.LEVEL: g["p_level"].to_numpy(),
                      C.UNIT_ID: g[C.PARENT_ID].to_numpy(), C.MEASURE: cells[C.MEASURE],
                      "coef": -1.0}),
        pd.DataFrame({"rel": k["rel"], C.LEVEL: k[C.LEVEL], C.UNIT_ID: k[C.UNIT_ID],
                      C.MEASURE: C.LIVE_AND_WORK, "coef": -1.0})], ignore_index=True)
    return cells, sums


def _exempt(tab: pd.DataFrame, is_out: np.ndarray, k_min: int, width: float | None
            ) -> np.ndarray:
    """The never-published cells of :func:`employed_table` that need no interval of their
    own: out_commuters from ``k_min`` on (pinning such a count reveals no small count);
    inner_commuters only from ``width`` (default ``k_min``) on: every commute_od pair
    between two child units of the unit is at most that count, so an inner count below
    the width bounds each such pair, hidden or not, to less than the width (the test
    city: 13 residents working in their county but another township left each of its
    township pairs [0, 13]; README Privacy audit)."""
    raw = tab[C.RAW_COUNT].fillna(0).to_numpy()
    inner = tab[C.MEASURE].astype(str).str.startswith(INNER_COMMUTERS).to_numpy()
    floor = np.where(inner, k_min if width is None else max(width, k_min), k_min)
    return is_out & (raw >= floor)


def employed_audit(pdf: pd.DataFrame, k_min: int, width: float, suppress_zeros: bool):
    """The audit of the ``employed_residents`` and ``live_and_work`` cells as published
    (``pdf`` as :func:`employed_mask`'s, ``is_suppressed``: the published mask): the
    system :func:`employed_mask` ends with, for a joint audit with the releases that
    publish the same counts (commute, commute_od; :func:`mobsig.privacy_audit.
    joint_audit`)."""
    from mobsig import privacy_audit as pa

    tab, is_out, sums = employed_table(
        pdf[[C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.MEASURE, C.RAW_COUNT, C.IS_SUPPRESSED]])
    return pa.audit(tab, tab[C.IS_SUPPRESSED].to_numpy(bool) | is_out, width,
                    suppress_zeros=suppress_zeros, identities=EMPLOYED_IDENTITY,
                    additive=(C.EMPLOYED_RESIDENTS,), by=C.MEASURE, sums=sums,
                    exempt=_exempt(tab, is_out, k_min, width))


def employed_mask(pdf: pd.DataFrame, k_min: int, width: float | None,
                  complementary: bool, suppress_zeros: bool):
    """The audited mask of the ``employed_residents`` and ``live_and_work`` cells
    (``pdf``: ``level``, ``unit_id``, ``parent_id``, ``measure``, ``raw_count`` (true),
    ``is_suppressed``: the group rule's mask; rows in any order) and its audit.

    A reader who has both counts of a unit has its out-commuters, employed_residents -
    live_and_work: residents who work in another unit, the row of commute_od without its
    same-unit pair. A count from 1 to ``k_min`` - 1 there is a small count (on the test
    city 26 - 19 = 7 commuters, all to one unit). The audit therefore adds, per unit, a
    hidden cell ``out_commuters`` (never published, never a complement) with
    employed_residents = live_and_work + out_commuters, and requires it ``width`` wide
    (default ``k_min``) unless it is 0 or from ``k_min`` on (a count any table may
    publish); employed_residents add up from child units to their parent, live_and_work
    and out_commuters are at most their parent's where that holds. From the group rule's
    mask, complements (:func:`mobsig.privacy_audit.audited_suppression_mask`, no regroup:
    the cheapest published cell among the relations that bind a narrow cell) until the
    audit passes, then the group rule again with them as primary cells (no sibling group
    keeps a lone hidden cell), repeated until neither adds a cell. Returns the mask of
    ``pdf``'s rows and the audit."""
    import time

    from mobsig import privacy_audit as pa

    base = pdf[[C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.MEASURE, C.RAW_COUNT, C.IS_SUPPRESSED]]
    tab, is_out, sums = employed_table(base)
    n = len(base)
    forced = tab[C.IS_SUPPRESSED].to_numpy(bool) | is_out
    rounds = 0
    t0 = time.perf_counter()
    while True:  # complements, then the group rule again (no lone hidden sibling)
        mask, result = pa.audited_suppression_mask(
            tab, k_min, width, complementary, suppress_zeros,
            identities=EMPLOYED_IDENTITY, additive=(C.EMPLOYED_RESIDENTS,), by=C.MEASURE,
            forced=forced, regroup=False, sums=sums,
            frozen=is_out, exempt=_exempt(tab, is_out, k_min, width))
        rounds += result.rounds
        again = privacy.suppression_mask(base, k_min, complementary, suppress_zeros,
                                         identities=(), by=C.MEASURE, forced=mask[:n])
        if not complementary or (again == mask[:n]).all():
            break
        forced = np.r_[again, is_out[n:]]
    result.added = int(mask[:n].sum() - base[C.IS_SUPPRESSED].to_numpy(bool).sum())
    result.rounds = rounds
    result.seconds = time.perf_counter() - t0
    return mask[:n], result


def publish(counts: DataFrame, k_min: int, complementary: bool, suppress_zeros: bool,
            balanced_min: float, balanced_max: float,
            uncovered: DataFrame | None = None, width: float | None = None) -> DataFrame:
    """The published rows of a month (:func:`publish_audited` without the audit)."""
    return publish_audited(counts, k_min, complementary, suppress_zeros, balanced_min,
                           balanced_max, uncovered, width)[0]


def publish_audited(counts: DataFrame, k_min: int, complementary: bool,
                    suppress_zeros: bool, balanced_min: float, balanced_max: float,
                    uncovered: DataFrame | None = None, width: float | None = None,
                    holds: pd.DataFrame | None = None):
    """The published rows of a month from the unsuppressed long form
    (:func:`counts_table`) and the interval audit of its ``jobs`` cells: every count
    column suppressed by the privacy rules, then spread to one row per unit, then the
    ratios (:func:`with_ratios`). ``jobs`` are population_by_unit's ``employed`` cells
    (same counts): they get its audited rule (mobsig.privacy_audit, protection ``width``,
    default ``k_min``; the employed cells form a system of their own there, so the
    masks agree); ``employed_residents`` and ``live_and_work`` get the group rule
    (``privacy.with_suppression`` per measure: primary below ``k_min`` and complementary
    within each sibling group) and then their audited rule (:func:`employed_mask`, with
    the hidden out-commuters of each unit); the audit returned is both parts'
    (:func:`mobsig.privacy_audit.combine`, gated by the job). commute and linkage read
    the published mask for the same counts.
    The units of ``uncovered`` (``level``, ``unit_id``:
    :func:`mobsig.population.uncovered_units`, no cell site inside) are then marked as not
    observed (:func:`mobsig.population.mark_uncovered`: null counts, ``null_reason`` =
    no_coverage); without ``uncovered`` no unit is marked (``null_reason`` null).
    ``holds``: further employed_residents / live_and_work cells to hide (``level``,
    ``unit_id``, ``measure``; primary cells of the audited rule): the ones the joint
    audit with commute_od's levels finds binding (:func:`mobsig.commute.
    publish_with_jobs_housing`)."""
    from mobsig import privacy_audit

    is_jobs = F.col(C.MEASURE) == C.JOBS
    jobs, audit = privacy_audit.with_audited_suppression(
        counts.where(is_jobs), k_min, width, complementary, suppress_zeros, identities=(),
        additive=(C.JOBS,), by=C.MEASURE)
    rest = privacy.with_suppression(
        counts.where(~is_jobs).withColumn("_true", F.col(C.RAW_COUNT)), k_min,
        complementary, suppress_zeros, identities=(), by=C.MEASURE)
    # employed residents, live_and_work and their out-commuters: the audited rule
    pdf = rest.select(C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.MEASURE, "_true",
                      C.IS_SUPPRESSED).toPandas().rename(columns={"_true": C.RAW_COUNT})
    shown = ~pdf[C.IS_SUPPRESSED].to_numpy(bool)
    if holds is not None and len(holds):
        key = [C.LEVEL, C.UNIT_ID, C.MEASURE]
        held = pd.MultiIndex.from_frame(pdf[key]).isin(pd.MultiIndex.from_frame(holds[key]))
        pdf[C.IS_SUPPRESSED] = pdf[C.IS_SUPPRESSED].to_numpy(bool) | held
    mask, part = employed_mask(pdf, k_min, width, complementary, suppress_zeros)
    more = pdf[mask & shown]
    rest = privacy_audit.hide_more(rest, more, (C.LEVEL, C.UNIT_ID, C.MEASURE))
    audit = privacy_audit.combine({C.JOBS: audit, C.EMPLOYED_RESIDENTS: part},
                                  float(width or k_min))
    rest = rest.drop("_true")
    long = rest.unionByName(jobs.select(*rest.columns))
    if uncovered is None:
        long = long.withColumn(NULL_REASON, F.lit(None).cast("string"))
    else:
        long = mark_uncovered(long, uncovered)
    return with_ratios(spread(long), balanced_min, balanced_max), audit
