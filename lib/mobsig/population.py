"""Population scale per spatial unit (domain.md §B3): resident, short-term, actual service,
employed and daily present population, raw 原样数量 and expanded 扩样数量.

Pure transforms; the ``population_by_unit`` job reads ``home_work``, ``stays``, the unit
layers and ``expansion_factors`` and chains them:

1. ``user_points``: one row per counted card and role (``home``, ``night``, ``work``).
2. ``assign_units``: Sedona spatial join of points onto unit polygons (broadcast units);
   a point on a shared border goes to the smallest ``unit_id`` of its level, so levels
   that partition their parent add up exactly. ``with_grid`` adds an H3 grid level.
3. ``user_weights``: each card's expansion factor = the factor of its home county (the
   county of its night place when it has no home; the overall factor when that county
   has none), or, with raking to age bands, the factor of its county and age band.
4. ``class_counts`` and ``daily_present``: distinct users and summed weights per unit.
5. ``complete``: every unit of every polygon layer gets every class (zeros included) so
   a missing row never stands for "small".
Suppression (mobsig.privacy, :func:`suppress`) is applied last, on the raw counts
(daily_present: on its card-days, never on the rounded mean).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import privacy
from mobsig.geo import h3_hex, next_month
from mobsig.localdata import local_frame
from mobsig.residence import day_pieces

POP_CLASSES_OUT = ("resident", "short_term", "actual_service", "employed", "daily_present")
# classes whose counts add up from child units to their parent (one point per card)
ADDITIVE_CLASSES = ("resident", "short_term", "actual_service", "employed")
GRID_LEVEL = C.GRID_LEVEL
# a card's points (``role``) and the home_work columns that locate them
ROLE_POINTS = (("home", C.HOME_LON, C.HOME_LAT), ("night", C.NIGHT_LON, C.NIGHT_LAT),
               ("work", C.WORK_LON, C.WORK_LAT))
N_DAYS = "n_days"  # daily_present: the days averaged over (a one-row frame)
DAILY_PRESENT = "daily_present"
# daily_present: the unrounded mean distinct cards per day (card-days / days), carried
# from :func:`daily_present` to :func:`suppress` (which decides on it) and dropped there
DAILY_MEAN = "_daily_mean"

# level_gaps output (parent unit and class against the sum over its child units)
PARENT_LEVEL = "parent_level"
PARENT_NAME = "parent_name"
PARENT_RAW = "parent_raw"
CHILDREN_RAW = "children_raw"
PARENT_EXPANDED = "parent_expanded"
CHILDREN_EXPANDED = "children_expanded"
GAP = "gap"


def user_points(hw: DataFrame) -> DataFrame:
    """Counted cards' points: ``user_id``, ``pop_class``, ``role`` (home/night/work),
    ``lon``, ``lat``, from ``home_work`` or ``card_places`` rows. Rows without a location
    are left out (a card without a home has no home point); non-counted cards (non-human,
    secondary cards; ``is_counted`` false) are left out."""
    counted = hw.where(F.col(C.IS_COUNTED)) if C.IS_COUNTED in hw.columns else hw
    parts = []
    for role, lon, lat in ROLE_POINTS:
        parts.append(counted.where(F.col(lon).isNotNull() & F.col(lat).isNotNull()).select(
            C.USER_ID, C.POP_CLASS, F.lit(role).alias(C.ROLE),
            F.col(lon).alias(C.LON), F.col(lat).alias(C.LAT)))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def units_containing(points: DataFrame, units: DataFrame, keys: list[str]) -> DataFrame:
    """Spatial join of ``lon``/``lat`` points onto unit polygons (Sedona ``ST_Intersects``,
    units broadcast): ``keys`` + ``level``, ``unit_id``, one row per point and unit that
    contains it (its border included). Zones of one layer may overlap: a point inside two
    of them gets both; points outside every unit get no row."""
    pts = points.select(*keys, F.expr(f"ST_Point({C.LON}, {C.LAT})").alias("_pt"))
    u = F.broadcast(units.select(C.UNIT_ID, C.LEVEL, F.col(C.GEOMETRY).alias("_geom")))
    joined = pts.join(u, F.expr("ST_Intersects(_geom, _pt)"), how="inner")
    return joined.select(*keys, C.LEVEL, C.UNIT_ID)


def assign_units(points: DataFrame, units: DataFrame, keys: list[str]) -> DataFrame:
    """Spatial join of ``lon``/``lat`` points onto unit polygons (units broadcast).

    ``keys``: the point columns that identify one point (e.g. user_id, role). Returns
    ``keys`` + ``level``, ``unit_id``: one row per point and level it falls in (points
    outside every unit of a level get no row for it). Border ties: smallest unit_id.
    """
    return (units_containing(points, units, keys)
            .groupBy(*keys, C.LEVEL).agg(F.min(C.UNIT_ID).alias(C.UNIT_ID)))


def with_grid(points: DataFrame, keys: list[str], resolution: int) -> DataFrame:
    """The H3 grid level for points: ``keys`` + ``level`` = 'grid', ``unit_id`` = H3 text."""
    return points.select(*keys, F.lit(GRID_LEVEL).alias(C.LEVEL),
                         h3_hex(C.LON, C.LAT, resolution).alias(C.UNIT_ID))


def card_places(hw: DataFrame, counties: DataFrame, user_bands: DataFrame | None,
                month_text: str) -> DataFrame:
    """The ``card_places`` rows of a month: one per counted card of ``hw`` (home_work).

    Adds ``home_county`` / ``night_county``: the county-level unit (``counties``:
    ``unit_id``, ``level``, ``geometry``) containing the home / the longest night place
    (null outside every county or without that place), and ``age_band`` from
    ``user_bands`` (``user_id`` unique, ``age_band``; None: every band null).
    Non-counted cards are left out.
    """
    counted = hw.where(F.col(C.IS_COUNTED))
    pts = user_points(counted).where(F.col(C.ROLE).isin("home", "night"))
    hits = assign_units(pts, counties, [C.USER_ID, C.ROLE])

    def unit_of(role: str) -> Column:
        return F.first(F.when(F.col(C.ROLE) == role, F.col(C.UNIT_ID)), ignorenulls=True)

    county = hits.groupBy(C.USER_ID).agg(unit_of("home").alias(C.HOME_COUNTY),
                                         unit_of("night").alias(C.NIGHT_COUNTY))
    out = counted.join(county, C.USER_ID, how="left")
    if user_bands is not None:
        out = out.join(user_bands.select(C.USER_ID, C.AGE_BAND), C.USER_ID, how="left")
    else:
        out = out.withColumn(C.AGE_BAND, F.lit(None).cast("string"))
    return out.select(C.USER_ID, C.POP_CLASS, C.HOME_LON, C.HOME_LAT, C.NIGHT_LON,
                      C.NIGHT_LAT, C.WORK_LON, C.WORK_LAT, C.HOME_COUNTY, C.NIGHT_COUNTY,
                      C.AGE_BAND, F.lit(month_text).alias(C.MONTH))


def overall_factor(factors: DataFrame) -> DataFrame:
    """One row, column ``_overall``: the sum of reference population / the sum of sample
    residents over the counties of ``factors`` (expansion_factors) with sample residents:
    the factor of a card whose county has none (null when no county has one)."""
    finite = factors.where(F.col(C.SAMPLE_RESIDENTS) > 0)
    return finite.agg((F.sum(C.REFERENCE_POPULATION) / F.sum(C.SAMPLE_RESIDENTS))
                      .alias("_overall"))


def user_weights(places: DataFrame, factors: DataFrame,
                 age_factors: DataFrame | None = None) -> DataFrame:
    """Per card of ``card_places``: ``user_id``, ``weight`` (expansion factor).

    A card is weighted by the factor of its home county (the county of its night place
    when it has no home: :func:`card_places`); ``factors``: ``unit_id``, ``factor``,
    ``sample_residents``, ``reference_population``. The overall factor (sum of reference
    population / sum of sample residents over counties with a finite factor) covers cards
    whose county has no factor.

    Optional raking to age bands (expansion.rake_ages): ``age_factors`` (``unit_id``,
    ``age_band``, ``factor``; the ``expansion_factors_age`` rows): a card whose county and
    band (``card_places.age_band``) have a (non-null) age factor gets it, any other card
    the county factor as above.
    """
    finite = factors.where(F.col(C.SAMPLE_RESIDENTS) > 0)
    overall = overall_factor(factors)
    f = finite.select(F.col(C.UNIT_ID).alias("_c"), F.col(C.FACTOR).alias("_factor"))
    out = (places.select(C.USER_ID, F.coalesce(C.HOME_COUNTY, C.NIGHT_COUNTY).alias("_c"),
                         F.col(C.AGE_BAND).alias("_band"))
           .join(f, "_c", how="left")
           .crossJoin(overall))
    weight = [F.col("_factor"), F.col("_overall"), F.lit(1.0)]
    if age_factors is not None:
        af = age_factors.where(F.col(C.FACTOR).isNotNull()).select(
            F.col(C.UNIT_ID).alias("_c"), F.col(C.AGE_BAND).alias("_band"),
            F.col(C.FACTOR).alias("_age_factor"))
        out = out.join(af, ["_c", "_band"], how="left")
        weight.insert(0, F.col("_age_factor"))
    return out.select(C.USER_ID, F.coalesce(*weight).alias(C.WEIGHT))


def class_counts(members: DataFrame, weights: DataFrame) -> DataFrame:
    """Monthly classes per unit: ``level``, ``unit_id``, ``pop_class``, ``raw_count``,
    ``expanded_count``.

    ``members``: ``user_id``, ``pop_class`` (of the card), ``role``, ``level``,
    ``unit_id``. resident = home of residents; short_term = night place of short-term
    cards; actual_service = both; employed = work place of any counted card.
    """
    role, cls = F.col(C.ROLE), F.col(C.POP_CLASS)
    home_of_resident = (role == "home") & (cls == "resident")
    night_of_short_term = (role == "night") & (cls == "short_term")
    rows = members.select(
        C.USER_ID, C.LEVEL, C.UNIT_ID,
        F.explode(F.array_compact(F.array(
            F.when(home_of_resident, F.lit("resident")),
            F.when(night_of_short_term, F.lit("short_term")),
            F.when(home_of_resident | night_of_short_term, F.lit("actual_service")),
            F.when(role == "work", F.lit("employed")),
        ))).alias(C.POP_CLASS))
    per_user = rows.distinct().join(weights, C.USER_ID, how="left")
    return per_user.groupBy(C.LEVEL, C.UNIT_ID, C.POP_CLASS).agg(
        F.countDistinct(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(C.WEIGHT, F.lit(1.0))).alias(C.EXPANDED_COUNT))


def daily_present(day_members: DataFrame, weights: DataFrame, n_days: DataFrame) -> DataFrame:
    """Mean distinct cards per day with a stay in the unit (``pop_class``
    'daily_present'). ``day_members``: ``user_id``, ``key_date``, ``level``, ``unit_id``
    (transit and non-counted cards already removed); ``n_days``: one row, column
    ``n_days``: the days averaged over (days of the month with any stay; at least 1).
    ``raw_count`` is the rounded mean, ``_daily_mean`` (:data:`DAILY_MEAN`) the exact one
    (card-days / days): suppression decides on it (:func:`suppress`), never on the
    rounded mean."""
    per = day_members.select(C.USER_ID, C.KEY_DATE, C.LEVEL, C.UNIT_ID).distinct() \
        .join(weights, C.USER_ID, how="left")
    daily = per.groupBy(C.LEVEL, C.UNIT_ID, C.KEY_DATE).agg(
        F.countDistinct(C.USER_ID).alias("_n"),
        F.sum(F.coalesce(C.WEIGHT, F.lit(1.0))).alias("_w"))
    days = F.greatest(F.col(N_DAYS), F.lit(1)).cast("double")
    return (daily.groupBy(C.LEVEL, C.UNIT_ID).agg(F.sum("_n").alias("_n"),
                                                   F.sum("_w").alias("_w"))
            .crossJoin(n_days.select(N_DAYS))
            .select(C.LEVEL, C.UNIT_ID, F.round(F.col("_n") / days).cast("bigint")
                    .alias(C.RAW_COUNT), (F.col("_w") / days).alias(C.EXPANDED_COUNT),
                    F.lit(DAILY_PRESENT).alias(C.POP_CLASS),
                    (F.col("_n") / days).alias(DAILY_MEAN)))


def complete(counts: DataFrame, units: DataFrame) -> DataFrame:
    """Every (polygon unit, class) row, zeros filled, plus the grid rows that exist.

    Returns ``level``, ``unit_id``, ``unit_name``, ``parent_id``, ``pop_class``,
    ``raw_count``, ``expanded_count``, and ``_daily_mean`` (:data:`DAILY_MEAN`: the exact
    mean of the daily_present rows, 0 where filled; null for the other classes) when
    ``counts`` has it.
    """
    classes = F.explode(F.array(*[F.lit(c) for c in POP_CLASSES_OUT])).alias(C.POP_CLASS)
    grid = units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID).select("*", classes)
    mean = []
    if DAILY_MEAN in counts.columns:
        mean = [F.when(F.col(C.POP_CLASS) == DAILY_PRESENT, F.coalesce(
            DAILY_MEAN, F.lit(0.0))).alias(DAILY_MEAN)]
    filled = grid.join(counts, [C.LEVEL, C.UNIT_ID, C.POP_CLASS], how="left").select(
        C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, C.POP_CLASS,
        F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT), *mean)
    cells = counts.where(F.col(C.LEVEL) == GRID_LEVEL).select(
        C.LEVEL, C.UNIT_ID, F.lit(None).cast("string").alias(C.UNIT_NAME),
        F.lit(None).cast("string").alias(C.PARENT_ID), C.POP_CLASS, C.RAW_COUNT,
        C.EXPANDED_COUNT, *([DAILY_MEAN] if mean else []))
    return filled.unionByName(cells)


def suppress(table: DataFrame, k_min: int, complementary: bool,
             suppress_zeros: bool, suppressor: Any = None) -> Any:
    """Small-count suppression of :func:`population_table` rows, with ``daily_present``
    decided on its card-days, not on its rounded mean (``raw_count``): a daily_present
    cell is a zero only when no card was there on any day, and it is published only when
    card-days / days (the exact mean, :data:`DAILY_MEAN`) is at least ``k_min``, so at
    least k_min distinct cards (and k_min x days card-days) stand behind it. (A rounded
    mean of 0 for 1-6 card-days of 14 days was published as a zero whose expanded count
    gave the card-days back.) The other classes decide on their raw counts.

    ``suppressor`` (table -> (suppressed table, extra)) decides the mask, e.g. the audited
    rule of :func:`mobsig.privacy_audit.with_audited_suppression`; it sees daily_present's
    deciding count in ``raw_count``. Without one: ``privacy.with_suppression``, and the
    table alone is returned; with one, (table, extra). The table comes back without
    :data:`DAILY_MEAN`, ``raw_count`` of daily_present rows the rounded mean."""
    run = suppressor or (lambda t: (privacy.with_suppression(t, k_min, complementary,
                                                             suppress_zeros), None))
    if DAILY_MEAN not in table.columns:
        out, extra = run(table)
        return (out, extra) if suppressor else out
    mean = F.col(DAILY_MEAN)
    # floor(mean) < k_min exactly when mean < k_min; at least 1 when any card-day
    decide = F.when((F.col(C.POP_CLASS) == DAILY_PRESENT) & mean.isNotNull(), F.when(
        mean > 0, F.greatest(F.floor(mean), F.lit(1)).cast("bigint"))
        .otherwise(F.lit(0).cast("bigint"))).otherwise(F.col(C.RAW_COUNT))
    kept = "_published_raw"
    swapped = table.withColumn(kept, F.col(C.RAW_COUNT)).withColumn(C.RAW_COUNT, decide)
    out, extra = run(swapped)
    raw = F.when(F.col(C.IS_SUPPRESSED), F.lit(None).cast("bigint")).otherwise(F.col(kept))
    out = out.select(*[raw.alias(c) if c == C.RAW_COUNT else F.col(c)
                       for c in out.columns if c not in (kept, DAILY_MEAN)])
    return (out, extra) if suppressor else out


def level_gaps(table: DataFrame, classes: tuple[str, ...] = ADDITIVE_CLASSES,
               by: str = C.POP_CLASS) -> DataFrame:
    """Levels must add up: per parent unit and class, the parent's counts against the sum
    over its child units (rows whose ``parent_id`` is the parent's ``unit_id``, e.g. the
    townships of a county). Returns ``parent_level``, ``parent_id``, ``parent_name``,
    ``by`` (``pop_class``), ``parent_raw``, ``children_raw``, ``parent_expanded``,
    ``children_expanded`` and ``gap`` = |children - parent| / max(parent, 1) on expanded
    counts, for the classes that add up (``classes``, values of ``by``; by default
    ADDITIVE_CLASSES: one home, night place or work place per card; not daily_present,
    where a card seen in two townships on one day counts once in their county). Parents
    without child rows (no child layer configured) have no row. A gap means homes or
    stays inside the parent but in no child unit (a child layer that does not tile its
    parent) or in a child of another parent."""
    table = table.where(F.col(by).isin(*classes))
    kids = (table.where(F.col(C.PARENT_ID).isNotNull())
            .groupBy(C.PARENT_ID, by)
            .agg(F.sum(C.RAW_COUNT).alias(CHILDREN_RAW),
                 F.sum(C.EXPANDED_COUNT).alias(CHILDREN_EXPANDED)))
    parents = table.where(F.col(C.LEVEL) != GRID_LEVEL).select(
        F.col(C.LEVEL).alias(PARENT_LEVEL), F.col(C.UNIT_ID).alias(C.PARENT_ID),
        F.col(C.UNIT_NAME).alias(PARENT_NAME), by,
        F.col(C.RAW_COUNT).alias(PARENT_RAW),
        F.col(C.EXPANDED_COUNT).alias(PARENT_EXPANDED))
    gap = (F.abs(F.col(CHILDREN_EXPANDED) - F.col(PARENT_EXPANDED))
           / F.greatest(F.col(PARENT_EXPANDED), F.lit(1.0)))
    return parents.join(kids, [C.PARENT_ID, by], how="inner").withColumn(GAP, gap)


def worst_level_gaps(table: DataFrame, limit: float, n: int = 5,
                     classes: tuple[str, ...] = ADDITIVE_CLASSES, by: str = C.POP_CLASS
                     ) -> tuple[float, str]:
    """The largest relative gap of :func:`level_gaps` (0 without parent/child rows) and a
    text naming the worst units above ``limit`` with their numbers (for the gate error).
    Runs one small Spark job. :func:`gate_levels` tells "nothing compared" apart."""
    gap, text = level_gap_check(table, limit, n, classes, by)
    return (0.0 if gap is None else gap), text


# why the levels gate is not checked (mobsig.population.gate_levels)
LEVELS_NOT_CHECKED = (
    "no unit has child units in the table (a single unit level, or child layers without "
    "parent_id values naming units of the other layers): nothing to add up")


def gate_levels(ctx, table: DataFrame, suite: str, out_table: str, limit: float,
                classes: tuple[str, ...] = ADDITIVE_CLASSES, by: str = C.POP_CLASS
                ) -> float | None:
    """The job-level gate "levels must add up" (``suite``, e.g. population_levels) on
    ``table``: the largest gap of :func:`level_gaps` must stay within ``limit``, else the
    run fails naming the units. Rule when nothing can be compared (no parent unit with
    child rows, :data:`LEVELS_NOT_CHECKED`): the gate is recorded as not checked
    (``success`` null, never passed; JobContext.not_checked) with a warning, fact
    ``level_gap`` null, and the run goes on. The fact is the largest gap of the job's
    level gates (the commute job has two: jobs_housing's and commute's; each gate's own
    gap is in its gate record). Returns the gap (None: not checked)."""
    gap, text = level_gap_check(table, limit, classes=classes, by=by)
    prev, val = ctx.result.facts.get("level_gap"), None if gap is None else round(gap, 6)
    ctx.fact("level_gap", val if prev is None else prev if val is None else max(prev, val))
    if gap is None:
        ctx.not_checked(suite, LEVELS_NOT_CHECKED, table=out_table)
        return None
    ctx.check(suite, {"level_gap": gap}, table=out_table, params={"max_level_gap": limit},
              explain=text)
    return gap


def level_gap_check(table: DataFrame, limit: float, n: int = 5,
                    classes: tuple[str, ...] = ADDITIVE_CLASSES, by: str = C.POP_CLASS
                    ) -> tuple[float | None, str]:
    """:func:`worst_level_gaps` with None (not 0) for the gap when no parent unit had
    child rows, i.e. nothing was compared."""
    worst = (level_gaps(table, classes, by).orderBy(F.col(GAP).desc(), C.PARENT_ID, by)
             .limit(n).collect())
    gap = float(worst[0][GAP]) if worst else None
    units = "; ".join(
        f"{r[PARENT_LEVEL]} {r[C.PARENT_ID]} ({r[PARENT_NAME] or '?'}) "
        f"{r[by]}: {r[PARENT_EXPANDED]:.1f} vs {r[CHILDREN_EXPANDED]:.1f} "
        f"over its child units (raw {r[PARENT_RAW]} vs {r[CHILDREN_RAW]})"
        for r in worst if r[GAP] > limit)
    text = (f"levels do not add up (largest gap {gap or 0.0:.2%} > population.max_level_gap "
            f"{limit:.2%}): {units}. A child layer does not tile its parent (or a unit has "
            "the wrong parent_id).")
    return gap, text


def day_points(stays: DataFrame, places: DataFrame, month: dt.date) -> DataFrame:
    """``user_id``, ``key_date``, ``lon``, ``lat``: the distinct places where each card of
    ``card_places`` (transit cards left out) stayed on each day of the month.

    ``stays``: the month's stays (plus the first day of the next month)."""
    eligible = places.where(F.col(C.POP_CLASS) != "transit").select(C.USER_ID)
    stay_cols = (C.USER_ID, C.STAY_START, C.STAY_END, C.LON, C.LAT)
    return (day_pieces(stays.select(*stay_cols), month)
            .join(eligible, C.USER_ID, how="left_semi")
            .select(C.USER_ID, C.KEY_DATE, C.LON, C.LAT).distinct())


def population_table(places: DataFrame, factors: DataFrame, age_factors: DataFrame | None,
                     units: DataFrame, stays: DataFrame, month: dt.date,
                     grid_resolution: int) -> DataFrame:
    """The unsuppressed per-unit counts of a month: every class of every unit of every
    polygon layer (zeros filled) plus the H3 grid rows that exist (:func:`complete`).

    ``places``: card_places; ``factors`` / ``age_factors``: expansion_factors /
    expansion_factors_age (None: county weighting, :func:`user_weights`); ``units``:
    unit polygons (``unit_id``, ``unit_name``, ``level``, ``parent_id``, ``geometry``);
    ``stays``: the month's stays plus the first day of the next month (daily presence is
    averaged over the days of the month with any stay)."""
    weights = user_weights(places, factors, age_factors)
    keys = [C.USER_ID, C.POP_CLASS, C.ROLE]
    pts = user_points(places)
    members = assign_units(pts, units, keys).unionByName(with_grid(pts, keys, grid_resolution))
    counts = class_counts(members, weights)
    day_pts = day_points(stays, places, month)
    n_days = day_pts.agg(F.countDistinct(C.KEY_DATE).alias(N_DAYS))
    dkeys = [C.USER_ID, C.KEY_DATE, C.LON, C.LAT]
    day_members = assign_units(day_pts, units, dkeys).unionByName(
        with_grid(day_pts, dkeys, grid_resolution))
    return complete(counts.unionByName(daily_present(day_members, weights, n_days),
                                       allowMissingColumns=True), units)


# why a published count is null (``null_reason``)
NULL_REASON = "null_reason"
SUPPRESSED = "suppressed"
NO_COVERAGE = "no_coverage"
NULL_REASONS = (SUPPRESSED, NO_COVERAGE)


def uncovered_units(units: DataFrame, cells: DataFrame, month: dt.date,
                    until: dt.date | None = None) -> DataFrame:
    """Polygon units without any cell site inside (their border included): ``level``,
    ``unit_id``, ``unit_name``. ``cells``: the cells table (``lon``, ``lat``,
    ``valid_from``, ``valid_to``); only cells valid on some day of ``month`` count (with
    ``until``: of the days ``month`` .. ``until``, e.g. one day for a daily table). Point
    and line units (no area, e.g. a hazard point) are never judged uncovered: nobody lives
    in them whether or not a cell is there. A unit listed here is not observed at all:
    its counts are not measured zeros (:func:`mark_uncovered`)."""
    first = month
    last = until if until is not None else next_month(month) - dt.timedelta(days=1)
    valid = ((F.col("valid_from").isNull() | (F.col("valid_from") <= F.lit(last)))
             & (F.col("valid_to").isNull() | (F.col("valid_to") >= F.lit(first))))
    sites = cells.where(valid & F.col(C.LON).isNotNull() & F.col(C.LAT).isNotNull())
    area = units.where(F.expr(f"ST_Area({C.GEOMETRY}) > 0"))
    hit = units_containing(sites.select(C.LON, C.LAT).distinct(), area, [])
    return (area.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME)
            .join(hit.select(C.LEVEL, C.UNIT_ID).distinct(), [C.LEVEL, C.UNIT_ID],
                  how="left_anti"))


def mark_uncovered(table: DataFrame, uncovered: DataFrame) -> DataFrame:
    """The suppressed ``table`` with ``null_reason``: 'no_coverage' on the rows of the
    ``uncovered`` units (:func:`uncovered_units`; their counts become null: no cell
    observes them, so a 0 there would be a guess published as a measurement),
    'suppressed' on suppressed rows, null where the counts are published."""
    u = uncovered.select(C.LEVEL, C.UNIT_ID, F.lit(True).alias("_uncovered"))
    out = table.join(F.broadcast(u), [C.LEVEL, C.UNIT_ID], how="left")
    gone = F.coalesce(F.col("_uncovered"), F.lit(False))
    reason = (F.when(gone, F.lit(NO_COVERAGE))
              .when(F.col(C.IS_SUPPRESSED), F.lit(SUPPRESSED)))
    return out.select(
        *[F.when(gone, F.lit(None)).otherwise(F.col(c)).alias(c)
          if c in (C.RAW_COUNT, C.EXPANDED_COUNT) else F.col(c) for c in table.columns],
        reason.alias(NULL_REASON))


def published_coverage(ctx, table: DataFrame, units: DataFrame, cells: DataFrame
                       ) -> DataFrame:
    """:func:`mark_uncovered` through the job's context (``cells``: the cells table): warns
    naming the uncovered units and records the run facts ``uncovered_units`` (how many)
    and ``uncovered_unit_ids`` (``level:unit_id``, sorted)."""
    return mark_uncovered(table, noted_uncovered(ctx, units, cells))


def noted_uncovered(ctx, units: DataFrame, cells: DataFrame,
                    day: dt.date | None = None) -> DataFrame:
    """:func:`uncovered_units` of the job's month (of ``day`` alone when given: a daily
    table), collected once (a small frame: ``level``, ``unit_id``, ``unit_name``), with
    the warning naming them and the run facts ``uncovered_units`` / ``uncovered_unit_ids``
    (the helper of every per-unit table that marks them, :func:`mark_uncovered`)."""
    uncovered = (uncovered_units(units, cells, ctx.month) if day is None
                 else uncovered_units(units, cells, day, until=day)).collect()
    ids = sorted(f"{r[C.LEVEL]}:{r[C.UNIT_ID]}" for r in uncovered)
    ctx.fact("uncovered_units", len(ids))
    ctx.fact("uncovered_unit_ids", ids)
    if ids:
        ctx.log.warning("%d unit(s) have no cell site inside them; their counts are "
                        "published as null with null_reason 'no_coverage', not as 0: %s",
                        len(ids), ", ".join(ids))
    rows = [(r[C.LEVEL], r[C.UNIT_ID], r[C.UNIT_NAME]) for r in uncovered]
    return local_frame(units.sparkSession, rows, f"{C.LEVEL} string, {C.UNIT_ID} string, "
                                                      f"{C.UNIT_NAME} string")
