"""Screening of permanent basic farmland 永久基本农田 for non-agricultural occupation
(domain.md §D): per farmland polygon and month, who lives or works inside, and whether
that persists for several consecutive months. A screening layer: every row is evidence for
a field check (counts of residents vs workers, first and last month seen, the month the
current run started), never a verdict.

Pure transforms; the ``screen_farmland`` job reads the month's ``card_places``, the
expansion factors, the farmland layers of the ``units`` table and its own earlier months
and chains them:

1. :func:`members`: per card and polygon, ``residents`` (a resident card, pop_class
   resident, whose home is inside) and ``workers`` (a counted card whose work place is
   inside); Sedona point-in-polygon (``population.units_containing``).
2. :func:`month_counts`: distinct cards (``raw_count``), summed expansion factors
   (``expanded_count``) per polygon and measure, and ``occupants`` (distinct cards that
   live or work inside: the occupation test, never published as a count); every polygon
   with every measure, zeros filled.
3. :func:`with_history`: ``is_occupied`` (occupants >= screen.farmland_min_persons), and
   from the job's own earlier months (``history``: the stored rows of the
   :data:`HISTORY_MONTHS` months before this one, :func:`earlier_months`):
   ``run_months``, the consecutive occupied months ending with this one (the previous
   calendar month's stored ``run_months`` + 1 when it was occupied; a month without a row,
   a gap, breaks the run), ``run_start_month``, ``first_seen_month`` and
   ``last_seen_month`` (first and last occupied month up to this one) and ``is_suspect``
   (run_months >= screen.farmland_min_months). A re-run of a month reads the same earlier
   months and gives the same rows; a re-run of an earlier month needs its later months
   re-run (``mobsig run --downstream``).
4. :func:`publish`: small-count suppression of the residents and workers counts
   (mobsig.privacy: below privacy.k_min, complementary within the layer and measure); the
   flags and months stay published: a suspect may be named without a count.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import privacy
from mobsig.columns import raw_col
from mobsig.population import units_containing

RESIDENTS, WORKERS, OCCUPANTS = "residents", "workers", "occupants"
MEASURES = (RESIDENTS, WORKERS)  # published counts
IS_OCCUPIED = "is_occupied"
RUN_MONTHS = "run_months"
RUN_START = "run_start_month"
FIRST_SEEN = "first_seen_month"
LAST_SEEN = "last_seen_month"
IS_SUSPECT = "is_suspect"
HISTORY = (IS_OCCUPIED, RUN_MONTHS, RUN_START, FIRST_SEEN, LAST_SEEN)
# how far back first_seen_month looks: the job reads its own rows of the 120 months (ten
# years) before the month it screens
HISTORY_MONTHS = 120


def _has(lon: str, lat: str) -> Column:
    return F.col(lon).isNotNull() & F.col(lat).isNotNull()


def members(places: DataFrame, zones: DataFrame) -> DataFrame:
    """``user_id``, ``level``, ``unit_id``, ``measure`` (residents / workers): resident
    cards whose home is inside a polygon of ``zones`` (``level``, ``unit_id``,
    ``geometry``), and cards whose work place is inside (one card may be both)."""
    homes = places.where((F.col(C.POP_CLASS) == "resident") & _has(C.HOME_LON, C.HOME_LAT))
    works = places.where(_has(C.WORK_LON, C.WORK_LAT))
    points = (homes.select(C.USER_ID, F.lit(RESIDENTS).alias(C.MEASURE),
                           F.col(C.HOME_LON).alias(C.LON), F.col(C.HOME_LAT).alias(C.LAT))
              .unionByName(works.select(C.USER_ID, F.lit(WORKERS).alias(C.MEASURE),
                                        F.col(C.WORK_LON).alias(C.LON),
                                        F.col(C.WORK_LAT).alias(C.LAT))))
    return units_containing(points, zones, [C.USER_ID, C.MEASURE]).distinct()


def month_counts(rows: DataFrame, weights: DataFrame, zones: DataFrame) -> DataFrame:
    """Long form: ``level``, ``unit_id``, ``unit_name``, ``parent_id``, ``measure``
    (residents, workers, occupants = either), ``raw_count``, ``expanded_count``; every
    polygon of ``zones`` with every measure, zeros filled. ``rows``: :func:`members`;
    ``weights``: ``user_id``, ``weight`` (none = 1)."""
    both = rows.unionByName(rows.select(C.USER_ID, C.LEVEL, C.UNIT_ID,
                                        F.lit(OCCUPANTS).alias(C.MEASURE))).distinct()
    counts = both.join(weights, C.USER_ID, how="left").groupBy(
        C.LEVEL, C.UNIT_ID, C.MEASURE).agg(
        F.count(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(C.WEIGHT, F.lit(1.0))).alias(C.EXPANDED_COUNT))
    keys = [C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID]
    grid = zones.select(*keys, F.explode(F.array(*[F.lit(m) for m in (*MEASURES, OCCUPANTS)]))
                        .alias(C.MEASURE))
    return grid.join(counts, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left").select(
        *keys, C.MEASURE, F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


def previous_month(month_key: str) -> str:
    """The calendar month before ``YYYY-MM``."""
    y, m = int(month_key[:4]), int(month_key[5:7])
    return f"{y - (m == 1)}-{12 if m == 1 else m - 1:02d}"


def earlier_months(month_key: str, n: int = HISTORY_MONTHS) -> list[str]:
    """The ``n`` calendar months before ``YYYY-MM``, latest first: the partitions of its
    own table the job reads (never the month it writes, so its run record does not read
    its own output)."""
    out, key = [], month_key
    for _ in range(n):
        key = previous_month(key)
        out.append(key)
    return out


def with_history(wide: DataFrame, history: DataFrame | None, month_key: str,
                 min_persons: int, min_months: int) -> DataFrame:
    """Adds :data:`HISTORY` and ``is_suspect`` to one row per polygon of the month
    (``level``, ``unit_id``, ``occupants_raw_count``; see the module doc). ``history``:
    the job's stored rows (``month``, ``level``, ``unit_id`` and :data:`HISTORY`) of
    months before ``month_key`` (None or empty: no earlier month); rows of later months
    are ignored."""
    occ = F.col(raw_col(OCCUPANTS)) >= F.lit(int(min_persons))
    out = wide.withColumn(IS_OCCUPIED, occ)
    key = [C.LEVEL, C.UNIT_ID]
    m = F.lit(month_key)
    if history is None:
        prev = first = None
    else:
        past = history.where(F.col(C.MONTH) < m)
        prev = past.where(F.col(C.MONTH) == F.lit(previous_month(month_key))).select(
            *key, F.col(IS_OCCUPIED).alias("_p_occ"), F.col(RUN_MONTHS).alias("_p_run"),
            F.col(RUN_START).alias("_p_start"))
        first = past.where(F.col(IS_OCCUPIED)).groupBy(*key).agg(
            F.min(C.MONTH).alias("_first"), F.max(C.MONTH).alias("_last"))
    if prev is None:
        out = out.withColumns({"_p_occ": F.lit(False), "_p_run": F.lit(0),
                               "_p_start": F.lit(None).cast("string"),
                               "_first": F.lit(None).cast("string"),
                               "_last": F.lit(None).cast("string")})
    else:
        out = out.join(prev, key, how="left").join(first, key, how="left")
    go_on = F.col(IS_OCCUPIED) & F.coalesce(F.col("_p_occ"), F.lit(False))
    run = (F.when(go_on, F.col("_p_run") + 1).when(F.col(IS_OCCUPIED), F.lit(1))
           .otherwise(F.lit(0)).cast("int"))
    out = out.withColumns({
        RUN_MONTHS: run,
        RUN_START: F.when(go_on, F.col("_p_start")).when(F.col(IS_OCCUPIED), m),
        FIRST_SEEN: F.coalesce(F.col("_first"), F.when(F.col(IS_OCCUPIED), m)),
        LAST_SEEN: F.when(F.col(IS_OCCUPIED), m).otherwise(F.col("_last"))})
    return out.withColumn(IS_SUSPECT, F.col(RUN_MONTHS) >= F.lit(int(min_months))).drop(
        "_p_occ", "_p_run", "_p_start", "_first", "_last")


def spread(long: DataFrame) -> DataFrame:
    """One row per polygon: per measure of :data:`MEASURES` :func:`raw_col`,
    :func:`expanded_col`, :func:`suppressed_col` (:func:`mobsig.privacy.spread`), and
    ``occupants_raw_count`` (internal: the occupation test)."""
    m = F.col(C.MEASURE)
    return privacy.spread(long, MEASURES, extra=[
        F.max(F.when(m == OCCUPANTS, F.col("_raw"))).alias(raw_col(OCCUPANTS))])


def publish(counts: DataFrame, history: DataFrame | None, month_key: str, k_min: int,
            complementary: bool, suppress_zeros: bool, min_persons: int,
            min_months: int, width: float | None = None,
            on_audit=None) -> DataFrame:
    """The published rows of a month from :func:`month_counts`: residents and workers
    suppressed (``privacy.with_suppression`` per measure), the occupation flags and months
    from the unsuppressed occupants (:func:`with_history`); the occupants count itself is
    dropped. With a protection ``width``, the interval audit of the release decides
    further complements (:func:`mobsig.privacy_audit.suppress_release`; ``on_audit`` is called
    with the audit)."""
    from mobsig import privacy_audit

    raw = counts.withColumn("_raw", F.col(C.RAW_COUNT))
    shown = raw.where(F.col(C.MEASURE) != OCCUPANTS)
    long = privacy_audit.suppress_release(shown, k_min, width, complementary,
                                          suppress_zeros, on_audit).unionByName(
        raw.where(F.col(C.MEASURE) == OCCUPANTS).withColumn(C.IS_SUPPRESSED, F.lit(True)))
    wide = with_history(spread(long), history, month_key, min_persons, min_months)
    return wide.drop(raw_col(OCCUPANTS))
