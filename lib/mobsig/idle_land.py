"""Screening of supplied parcels 已供应地块 for idle land 疑似闲置土地 (domain.md §D): per
parcel past its agreed start date 约定开工日期, who stayed or worked inside in a month,
whether that is near zero, and whether near-zero months persist. A screening layer: every
row is evidence for a field check (the month's counts, the supply and start dates, the
month the near-zero run started), never a verdict.

Pure transforms; the ``screen_idle_land`` job reads the month's stays and
``card_places``, the expansion factors, the cells (coverage), the parcel layers of the
``units`` table and its own earlier months, and chains them:

1. :func:`parcels`: the polygons of the layers with ``supply_date`` and ``start_date``
   (attributes of the ``units`` table's ``attributes`` JSON, YYYY-MM-DD; unreadable =
   null) and ``is_due``: the month begins on or after the start date (a parcel without a
   start date is never due).
2. :func:`members`: per card and parcel, ``stayers`` (a card of the month's card_places
   with a stay inside overlapping the month) and ``workers`` (a card whose work place is
   inside); ``active`` is either (the near-zero test, never published as a count).
3. :func:`publish`: small-count suppression of stayers and workers (mobsig.privacy:
   below privacy.k_min, complementary within a layer); ``is_near_zero`` (due, observed,
   and at most screen.idle_max_persons active cards); a parcel without a cell site inside
   is not observed (``null_reason`` no_coverage, ``is_near_zero`` null: nobody could be
   seen there, so an empty month proves nothing); from the job's own earlier months
   (``mobsig.farmland.with_history``, the same run logic as the farmland screening):
   ``run_months`` (consecutive near-zero months ending with this one; a month without a
   stored row, a month not due or not observed breaks it), ``run_start_month`` (the
   first month of the run), first and last near-zero month and ``is_suspect`` (run_months
   >= screen.idle_min_months, 12). The flags stay published: a suspect may be named
   without a count.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import farmland, privacy
from mobsig.columns import raw_col
from mobsig.population import units_containing

STAYERS, WORKERS, ACTIVE = "stayers", "workers", "active"
MEASURES = (STAYERS, WORKERS)
SUPPLY_DATE, START_DATE = "supply_date", "start_date"
IS_DUE = "is_due"
IS_NEAR_ZERO = "is_near_zero"
RUN_MONTHS, RUN_START, IS_SUSPECT = farmland.RUN_MONTHS, farmland.RUN_START, farmland.IS_SUSPECT
FIRST_NEAR_ZERO, LAST_NEAR_ZERO = "first_near_zero_month", "last_near_zero_month"
NULL_REASON = "null_reason"
NO_COVERAGE = "no_coverage"
HISTORY = (IS_NEAR_ZERO, RUN_MONTHS, RUN_START)
earlier_months = farmland.earlier_months


def _date_attr(name: str):
    v = F.trim(F.get_json_object(F.col(C.ATTRIBUTES), f"$.{name}"))
    return F.to_date(F.when(v.rlike(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), v), "yyyy-MM-dd")


def parcels(units: DataFrame, layers: list[str], start_attr: str, supply_attr: str,
            month: dt.date) -> DataFrame:
    """The polygons of ``layers`` of the ``units`` table (``attributes`` and
    ``geometry_wkb``): ``level``, ``unit_id``, ``unit_name``, ``parent_id``,
    ``supply_date``, ``start_date`` (dates of the attributes ``supply_attr`` and
    ``start_attr``; null when missing or not YYYY-MM-DD), ``is_due`` (``month``, its first
    day, is on or after the start date) and ``geometry`` (Sedona, EPSG:4490)."""
    geom = F.call_function("ST_SetSRID", F.call_function("ST_GeomFromWKB",
                                                         F.col(C.GEOMETRY_WKB)), F.lit(4490))
    start = _date_attr(start_attr)
    return units.where(F.col(C.LEVEL).isin(list(layers))).select(
        C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID,
        _date_attr(supply_attr).alias(SUPPLY_DATE), start.alias(START_DATE),
        F.coalesce(start <= F.lit(month), F.lit(False)).alias(IS_DUE), geom.alias(C.GEOMETRY))


def members(places: DataFrame, stays: DataFrame, zones: DataFrame,
            month: dt.date, next_month: dt.date) -> DataFrame:
    """``user_id``, ``level``, ``unit_id``, ``measure`` (stayers / workers): cards of the
    month's ``places`` (card_places) with a stay inside a parcel overlapping [``month``,
    ``next_month``), and cards whose work place is inside (one card may be both)."""
    lo, hi = F.lit(month).cast("timestamp"), F.lit(next_month).cast("timestamp")
    st = (stays.where((F.col(C.STAY_END) >= lo) & (F.col(C.STAY_START) < hi))
          .select(C.USER_ID, C.LON, C.LAT)
          .join(places.select(C.USER_ID), C.USER_ID, how="left_semi")
          .withColumn(C.MEASURE, F.lit(STAYERS)))
    works = places.where(F.col(C.WORK_LON).isNotNull() & F.col(C.WORK_LAT).isNotNull()).select(
        C.USER_ID, F.lit(WORKERS).alias(C.MEASURE), F.col(C.WORK_LON).alias(C.LON),
        F.col(C.WORK_LAT).alias(C.LAT))
    return units_containing(st.unionByName(works), zones, [C.USER_ID, C.MEASURE]).distinct()


def month_counts(rows: DataFrame, weights: DataFrame, zones: DataFrame) -> DataFrame:
    """Long form: the parcel columns of :func:`parcels` (no geometry), ``measure``
    (stayers, workers, active = either), ``raw_count``, ``expanded_count``; every parcel
    with every measure, zeros filled."""
    both = rows.unionByName(rows.select(C.USER_ID, C.LEVEL, C.UNIT_ID,
                                        F.lit(ACTIVE).alias(C.MEASURE))).distinct()
    counts = both.join(weights, C.USER_ID, how="left").groupBy(
        C.LEVEL, C.UNIT_ID, C.MEASURE).agg(
        F.count(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(C.WEIGHT, F.lit(1.0))).alias(C.EXPANDED_COUNT))
    keys = [C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, SUPPLY_DATE, START_DATE, IS_DUE]
    grid = zones.select(*keys, F.explode(F.array(*[F.lit(m) for m in (*MEASURES, ACTIVE)]))
                        .alias(C.MEASURE))
    return grid.join(counts, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left").select(
        *keys, C.MEASURE, F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


def with_history(wide: DataFrame, history: DataFrame | None, month_key: str,
                 min_months: int) -> DataFrame:
    """Adds ``run_months``, ``run_start_month``, first and last near-zero month and
    ``is_suspect`` to one row per parcel with ``is_near_zero`` (null = not observed,
    counts as not near zero), from the stored rows (``month``, ``level``, ``unit_id``,
    :data:`HISTORY`) of earlier months (:func:`mobsig.farmland.with_history`)."""
    flag = F.coalesce(F.col(IS_NEAR_ZERO), F.lit(False))
    w = wide.withColumn(raw_col(farmland.OCCUPANTS), F.when(flag, 1).otherwise(0))
    past = None if history is None else history.select(
        C.MONTH, C.LEVEL, C.UNIT_ID,
        F.coalesce(F.col(IS_NEAR_ZERO), F.lit(False)).alias(farmland.IS_OCCUPIED),
        RUN_MONTHS, RUN_START)
    out = farmland.with_history(w, past, month_key, 1, min_months)
    return out.drop(farmland.IS_OCCUPIED, raw_col(farmland.OCCUPANTS)).withColumnsRenamed(
        {farmland.FIRST_SEEN: FIRST_NEAR_ZERO, farmland.LAST_SEEN: LAST_NEAR_ZERO})


def publish(counts: DataFrame, history: DataFrame | None, uncovered: DataFrame | None,
            month_key: str, k_min: int, complementary: bool, suppress_zeros: bool,
            max_persons: int, min_months: int, width: float | None = None,
            on_audit=None) -> DataFrame:
    """The published rows of a month from :func:`month_counts`: stayers and workers
    suppressed (``privacy.with_suppression`` per measure, complementary within a layer),
    ``is_near_zero`` from the unsuppressed active cards (null with ``null_reason``
    no_coverage for the ``uncovered`` parcels: ``level``, ``unit_id``, whose counts become
    null), the run and suspect flags (:func:`with_history`); the active count is
    dropped. With a protection ``width``, the interval audit of the release decides
    further complements (:func:`mobsig.privacy_audit.suppress_release`; ``on_audit`` is called
    with the audit)."""
    from mobsig import privacy_audit

    raw = counts.withColumn("_raw", F.col(C.RAW_COUNT))
    shown = raw.where(F.col(C.MEASURE) != ACTIVE)
    long = privacy_audit.suppress_release(shown, k_min, width, complementary,
                                          suppress_zeros, on_audit).unionByName(
        raw.where(F.col(C.MEASURE) == ACTIVE).withColumn(C.IS_SUPPRESSED, F.lit(True)))
    m = F.col(C.MEASURE)
    wide = privacy.spread(long, MEASURES, (*privacy.UNIT_KEYS, SUPPLY_DATE, START_DATE,
                                           IS_DUE),
                          extra=[F.max(F.when(m == ACTIVE, F.col("_raw"))).alias("_active")])
    if uncovered is None:
        gone = F.lit(False)
    else:
        u = uncovered.select(C.LEVEL, C.UNIT_ID, F.lit(True).alias("_gone")).distinct()
        wide = wide.join(F.broadcast(u), [C.LEVEL, C.UNIT_ID], how="left")
        gone = F.coalesce(F.col("_gone"), F.lit(False))
    near = F.when(gone, F.lit(None).cast("boolean")).otherwise(
        F.col(IS_DUE) & (F.col("_active") <= F.lit(int(max_persons))))
    counted = [f(n) for n in MEASURES for f in (raw_col, C.expanded_col)]
    wide = wide.select(
        *[F.when(gone, F.lit(None)).otherwise(F.col(c)).alias(c) if c in counted
          else F.col(c) for c in wide.columns if c not in ("_gone",)],
        near.alias(IS_NEAR_ZERO),
        F.when(gone, F.lit(NO_COVERAGE)).otherwise(F.lit(None).cast("string"))
        .alias(NULL_REASON))
    return with_history(wide, history, month_key, min_months).drop("_active")
