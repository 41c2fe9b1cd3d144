"""Screening of nature-reserve core zones 自然保护区核心区 (domain.md §D): per core-zone
polygon and day, the distinct visitors (cards whose stays inside add up to at least
screen.reserve_visit_min_min on the day and who do not live there) and the residents
(resident cards whose home is inside), against a baseline learned from the trailing
weeks. A screening layer: an alert is evidence for a field check (the day's counts, the
baseline value and how many days it rests on, residents vs visitors), never a verdict.

Pure transforms; the ``screen_reserves`` job reads the stays of the day and of the
trailing window (never its own earlier output, so one run is self-contained and a re-run
identical), the card_places of the months concerned, the expansion factors of the day's
month and the reserve layers of the ``units`` table:

1. :func:`day_class` / :func:`baseline_days` (plain Python, the holiday calendar): a
   workday is compared with the workdays of the trailing ``weeks`` weeks, a rest day
   (weekend) with the rest days; a public holiday with the rest days too, and its alert
   is a ``holiday_peak``; holidays are never part of a baseline (a workday baseline never
   holds a rest day or a holiday; make-up workdays 调休上班 are workdays). Only days with
   stored stays and card_places count.
2. :func:`zone_visits`: per card, polygon and day the time its stays spend inside (each
   stay clipped to the day), kept when it reaches the minimum.
3. :func:`residents`: per month the resident cards (pop_class resident) whose home is
   inside a polygon.
4. :func:`day_counts`: distinct visitors per polygon and day (cards of that day's month
   in card_places, not residents of the polygon in that month), every polygon and day
   with zeros filled.
5. :func:`screen`: the day's visitors and residents (raw and expanded), the baseline
   (median of the visitors of the baseline days, raw), ``baseline_days``, and the alert:
   visitors >= ``min_count`` and visitors > ``factor`` x baseline; without
   ``min_days`` baseline days no alert is judged (``is_alert`` null,
   ``alert_null_reason`` ``too_few_baseline_days``).
6. :func:`publish`: small-count suppression of visitors and residents (privacy, per
   measure, complementary within a layer); the baseline is withheld below k_min; the
   alert flag and its kind stay published (an alert may say "above baseline" without a
   count below k).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import privacy
from mobsig.columns import raw_col
from mobsig.localdata import local_frame
from mobsig.population import units_containing

VISITORS, RESIDENTS = "visitors", "residents"
MEASURES = (VISITORS, RESIDENTS)
WORKDAY, REST_DAY, HOLIDAY = "workday", "rest_day", "holiday"
DAY_TYPE = "day_type"
BASELINE_TYPE = "baseline_type"
BASELINE = "baseline_visitors_raw_count"
IS_BASELINE_SUPPRESSED = "is_baseline_suppressed"
BASELINE_DAYS = "baseline_days"
BASELINE_FIRST, BASELINE_LAST = "baseline_first_day", "baseline_last_day"
IS_ALERT = "is_alert"
ALERT_KIND = "alert_kind"
ALERT_NULL_REASON = "alert_null_reason"
ABOVE_BASELINE, HOLIDAY_PEAK = "above_baseline", "holiday_peak"
TOO_FEW_DAYS = "too_few_baseline_days"


def day_class(calendar, day: dt.date) -> str:
    """``workday``, ``rest_day`` (a weekend day off) or ``holiday`` (a public holiday of
    the calendar, ``HolidayCalendar.day_type``)."""
    t = calendar.day_type(day)
    return WORKDAY if t == "workday" else HOLIDAY if t == "holiday" else REST_DAY


def baseline_type(day_type: str) -> str:
    """The day class a day's baseline is learned from: workdays for a workday, rest days
    for a rest day and for a holiday (holidays are never part of a baseline)."""
    return WORKDAY if day_type == WORKDAY else REST_DAY


def window(day: dt.date, weeks: int) -> list[dt.date]:
    """The trailing window: the ``7 * weeks`` days before ``day`` (oldest first)."""
    return [day - dt.timedelta(days=i) for i in range(7 * int(weeks), 0, -1)]


def baseline_days(calendar, day: dt.date, weeks: int,
                  available: Iterable[dt.date]) -> list[dt.date]:
    """The days of the trailing window whose class is the baseline type of ``day``
    (:func:`baseline_type`) and that are in ``available`` (stored stays and card_places).
    """
    want = baseline_type(day_class(calendar, day))
    have = set(available)
    return [d for d in window(day, weeks) if d in have and day_class(calendar, d) == want]


def zone_visits(stays: DataFrame, zones: DataFrame, min_s: float) -> DataFrame:
    """``user_id``, ``level``, ``unit_id``, ``key_date``: a card whose stays inside a
    polygon of ``zones`` add up to at least ``min_s`` seconds on the day. ``stays``:
    ``user_id``, ``stay_start``, ``stay_end``, ``lon``, ``lat``, ``key_date`` (as
    ``presence.stays_for_days`` gives: a stay overlapping two days has a row for each);
    each row is clipped to its day."""
    d0 = F.col(C.KEY_DATE).cast("timestamp")
    d1 = F.date_add(C.KEY_DATE, 1).cast("timestamp")
    overlap = (F.unix_seconds(F.least(F.col(C.STAY_END), d1))
               - F.unix_seconds(F.greatest(F.col(C.STAY_START), d0)))
    pieces = (stays.select(C.USER_ID, C.KEY_DATE, C.LON, C.LAT,
                           overlap.alias(C.OVERLAP_S))
              .where(F.col(C.OVERLAP_S) > 0))
    inside = units_containing(pieces, zones, [C.USER_ID, C.KEY_DATE, C.OVERLAP_S])
    return (inside.groupBy(C.USER_ID, C.LEVEL, C.UNIT_ID, C.KEY_DATE)
            .agg(F.sum(C.OVERLAP_S).alias(C.OVERLAP_S))
            .where(F.col(C.OVERLAP_S) >= F.lit(float(min_s)))
            .select(C.USER_ID, C.LEVEL, C.UNIT_ID, C.KEY_DATE))


def residents(places: DataFrame, zones: DataFrame) -> DataFrame:
    """``user_id``, ``month``, ``level``, ``unit_id``: resident cards (pop_class resident)
    of card_places (``month`` column: the month of the row) whose home is inside."""
    homes = places.where((F.col(C.POP_CLASS) == "resident") & F.col(C.HOME_LON).isNotNull()
                         & F.col(C.HOME_LAT).isNotNull())
    pts = homes.select(C.USER_ID, C.MONTH, F.col(C.HOME_LON).alias(C.LON),
                       F.col(C.HOME_LAT).alias(C.LAT))
    return units_containing(pts, zones, [C.USER_ID, C.MONTH]).distinct()


def _month_of(col: str):
    return F.date_format(F.col(col), "yyyy-MM")


def day_counts(visits: DataFrame, places: DataFrame, homes: DataFrame, zones: DataFrame,
               days: Sequence[dt.date]) -> DataFrame:
    """``level``, ``unit_id``, ``key_date``, ``visitors`` (distinct cards): the visits
    (:func:`zone_visits`) of cards in the card_places of the day's month (``places``:
    ``user_id``, ``month``) that are not residents of the polygon that month (``homes``:
    :func:`residents`); every polygon of ``zones`` and day of ``days`` (zeros filled)."""
    v = (visits.where(F.col(C.KEY_DATE).isin(list(days)))
         .withColumn(C.MONTH, _month_of(C.KEY_DATE))
         .join(places.select(C.USER_ID, C.MONTH).distinct(), [C.USER_ID, C.MONTH],
               how="left_semi")
         .join(homes, [C.USER_ID, C.MONTH, C.LEVEL, C.UNIT_ID], how="left_anti"))
    n = v.groupBy(C.LEVEL, C.UNIT_ID, C.KEY_DATE).agg(
        F.countDistinct(C.USER_ID).cast("bigint").alias(VISITORS))
    spark = zones.sparkSession
    grid = zones.select(C.LEVEL, C.UNIT_ID).crossJoin(
        local_frame(spark, [(d,) for d in sorted(set(days))], f"{C.KEY_DATE} date"))
    return grid.join(n, [C.LEVEL, C.UNIT_ID, C.KEY_DATE], how="left").fillna(0, [VISITORS])


def day_long(visits: DataFrame, homes: DataFrame, weights: DataFrame, zones: DataFrame,
             day: dt.date) -> DataFrame:
    """The long form of ``day``: ``level``, ``unit_id``, ``unit_name``, ``parent_id``,
    ``measure`` (visitors, residents), ``raw_count``, ``expanded_count`` (summed
    ``weights``: ``user_id``, ``weight``; only cards of the day's month's card_places
    have one, and only they count); every polygon with both measures. ``visits``:
    :func:`zone_visits`; ``homes``: :func:`residents` of the day's month."""
    key = day.strftime("%Y-%m")
    h = homes.where(F.col(C.MONTH) == key).select(C.USER_ID, C.LEVEL, C.UNIT_ID)
    v = (visits.where(F.col(C.KEY_DATE) == F.lit(day))
         .select(C.USER_ID, C.LEVEL, C.UNIT_ID)
         .join(h, [C.USER_ID, C.LEVEL, C.UNIT_ID], how="left_anti"))
    rows = (v.withColumn(C.MEASURE, F.lit(VISITORS))
            .unionByName(h.withColumn(C.MEASURE, F.lit(RESIDENTS))).distinct())
    counts = rows.join(weights, C.USER_ID, how="inner").groupBy(
        C.LEVEL, C.UNIT_ID, C.MEASURE).agg(
        F.count(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(C.WEIGHT, F.lit(1.0))).alias(C.EXPANDED_COUNT))
    keys = [C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID]
    grid = zones.select(*keys, F.explode(F.array(*[F.lit(m) for m in MEASURES]))
                        .alias(C.MEASURE))
    return grid.join(counts, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left").select(
        *keys, C.MEASURE, F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


def day_tables(stays: DataFrame, places: DataFrame, weights: DataFrame, zones: DataFrame,
               day: dt.date, base_days: Sequence[dt.date], visit_min_s: float,
               keep=lambda df: df) -> tuple[DataFrame, DataFrame]:
    """The day's long form (:func:`day_long`) and the baseline (:func:`baseline` of
    :func:`day_counts` over ``base_days``) from the stays of the baseline days and the
    day (``presence.stays_for_days``), card_places of their months and the weights of the
    day's month. ``keep``: how the job persists the visits and residents it reads twice
    (``JobContext.keep``)."""
    visits = keep(zone_visits(stays, zones, visit_min_s))
    homes = keep(residents(places, zones))
    base = baseline(day_counts(visits, places, homes, zones, base_days), base_days)
    return day_long(visits, homes, weights, zones, day), base


def baseline(counts: DataFrame, days: Sequence[dt.date]) -> DataFrame:
    """``level``, ``unit_id``, ``baseline_visitors_raw_count`` (median of the daily
    visitors over ``days``; null without a day), ``baseline_days``, first and last
    baseline day. ``counts``: :func:`day_counts` (every polygon and day present)."""
    ds = sorted(set(days))
    if not ds:
        return counts.select(C.LEVEL, C.UNIT_ID).distinct().withColumns({
            BASELINE: F.lit(None).cast("double"), BASELINE_DAYS: F.lit(0),
            BASELINE_FIRST: F.lit(None).cast("date"), BASELINE_LAST: F.lit(None).cast("date")})
    b = counts.where(F.col(C.KEY_DATE).isin(ds))
    return b.groupBy(C.LEVEL, C.UNIT_ID).agg(
        F.median(F.col(VISITORS).cast("double")).alias(BASELINE),
        F.count(F.lit(1)).cast("int").alias(BASELINE_DAYS),
        F.min(C.KEY_DATE).alias(BASELINE_FIRST), F.max(C.KEY_DATE).alias(BASELINE_LAST))


def screen(wide: DataFrame, base: DataFrame, day_type: str, factor: float, min_count: int,
           min_days: int) -> DataFrame:
    """Adds ``day_type``, ``baseline_type``, the baseline columns (:func:`baseline`) and the
    alert to the day's wide rows (``level``, ``unit_id``, ``visitors_raw_count``):
    ``is_alert`` (visitors >= ``min_count`` and visitors > ``factor`` x baseline; null
    when fewer than ``min_days`` baseline days), ``alert_kind`` (``above_baseline``, or
    ``holiday_peak`` on a public holiday; null without an alert) and
    ``alert_null_reason`` (``too_few_baseline_days`` when no alert was judged)."""
    out = wide.join(base, [C.LEVEL, C.UNIT_ID], how="left").withColumns({
        DAY_TYPE: F.lit(day_type), BASELINE_TYPE: F.lit(baseline_type(day_type)),
        BASELINE_DAYS: F.coalesce(F.col(BASELINE_DAYS), F.lit(0)).cast("int")})
    v = F.col(raw_col(VISITORS))
    enough = F.col(BASELINE_DAYS) >= F.lit(int(min_days))
    above = (v >= F.lit(int(min_count))) & (v > F.lit(float(factor)) * F.col(BASELINE))
    alert = F.when(enough, above)
    kind = F.lit(HOLIDAY_PEAK if day_type == HOLIDAY else ABOVE_BASELINE)
    return out.withColumns({
        IS_ALERT: alert,
        ALERT_KIND: F.when(alert, kind).otherwise(F.lit(None).cast("string")),
        ALERT_NULL_REASON: F.when(~enough, F.lit(TOO_FEW_DAYS))
        .otherwise(F.lit(None).cast("string"))})


def publish(long: DataFrame, base: DataFrame, day_type: str, k_min: int,
            complementary: bool, suppress_zeros: bool, factor: float, min_count: int,
            min_days: int, width: float | None = None,
            on_audit=None) -> DataFrame:
    """The published rows of a day: visitors and residents suppressed
    (``privacy.with_suppression`` per measure, complementary within a layer), the alert
    judged on the unsuppressed visitors (:func:`screen`), the baseline withheld below
    ``k_min`` (``is_baseline_suppressed``); the alert and its kind stay published. With a
    protection ``width``, the interval audit of the release decides further complements
    (:func:`mobsig.privacy_audit.suppress_release`; ``on_audit`` is called with
    the audit)."""
    from mobsig import privacy_audit

    raw = long.withColumn("_raw", F.col(C.RAW_COUNT))
    sup = privacy_audit.suppress_release(raw, k_min, width, complementary, suppress_zeros,
                                         on_audit)
    m = F.col(C.MEASURE)
    wide = privacy.spread(sup, MEASURES, extra=[
        F.max(F.when(m == VISITORS, F.col("_raw"))).alias("_visitors")])
    judged = screen(wide.withColumnRenamed(raw_col(VISITORS), "_shown")
                    .withColumnRenamed("_visitors", raw_col(VISITORS)),
                    base, day_type, factor, min_count, min_days)
    hide = F.col(BASELINE).isNotNull() & (F.col(BASELINE) < F.lit(int(k_min)))
    if not suppress_zeros:
        hide = hide & (F.col(BASELINE) > 0)
    return (judged.drop(raw_col(VISITORS)).withColumnRenamed("_shown", raw_col(VISITORS))
            .withColumns({IS_BASELINE_SUPPRESSED: hide,
                          BASELINE: F.when(hide, F.lit(None).cast("double"))
                          .otherwise(F.col(BASELINE))}))
