"""Intra-city trips by period of the day 分时段出行 (domain.md §C): trips per origin-
destination pair of one unit level (``trips.level``) inside each city, split into named
periods (morning peak, evening peak, night, off-peak: ``trips.periods``, mobsig.periods).

Pure transforms; the ``trips`` job reads the month's ``moves``, ``card_places``, the
expansion factors, ``units`` and the ``linkage`` table and chains them:

1. :func:`trip_units`: both ends of each move of a counted card (linkage.move_points)
   placed in the level's units and in the city units (``trips.city_level``); a trip is
   intra-city when both ends lie in the same city (every trip between units of the level
   when there is no city layer); trips within one unit (origin = dest) count too.
2. :func:`with_period`: the period of the move's departure (local clock time).
3. linkage.trip_counts per (city, origin, destination, period): trips and travellers,
   raw and expanded.
4. :func:`publish`: suppression per pair (privacy.with_od_bridge_suppression: a pair with a
   period below k, or whose monthly trips linkage withholds, is hidden in every period;
   complementary suppression over the pairs), then trips per day.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import privacy
from mobsig.linkage import (
    TRIPS_EXPANDED,
    TRIPS_RAW,
    expanded_col,
    raw_col,
    suppressed_col,
)
from mobsig.periods import Period
from mobsig.population import assign_units

LINKAGE_HIDDEN = "_linkage_hidden"  # the pair's monthly trips are hidden in linkage


def period_of(ts: str | Column, periods: list[Period]) -> Column:
    """The name of the period containing the local clock time of ``ts`` (a timestamp in
    the session time zone, run.timezone): a CASE over the periods' minute intervals."""
    t = F.col(ts) if isinstance(ts, str) else ts
    minute = F.hour(t) * 60 + F.minute(t)
    expr = None
    rest = None
    for p in periods:
        if p.is_rest:
            rest = p.name
            continue
        inside = ((minute >= p.start_min) & (minute < p.end_min) if p.end_min > p.start_min
                  else (minute >= p.start_min) | (minute < p.end_min))
        expr = F.when(inside, F.lit(p.name)) if expr is None else expr.when(inside,
                                                                            F.lit(p.name))
    assert expr is not None, "no named period"
    return expr.otherwise(F.lit(rest)) if rest else expr


def trip_units(points: DataFrame, units: DataFrame, level: str, city_level: str | None
               ) -> DataFrame:
    """``user_id``, ``departure``, ``city_id``, ``origin_id``, ``dest_id``: the moves
    (linkage.move_points) whose ends both lie in a unit of ``level`` and, with a
    ``city_level``, in the same city (``city_id``; null without a city layer)."""
    keys = [C.USER_ID, C.DEPARTURE, C.ROLE]
    levels = [level] + ([city_level] if city_level else [])
    members = assign_units(points, units.where(F.col(C.LEVEL).isin(*levels)), keys)
    role, lv = F.col(C.ROLE), F.col(C.LEVEL)

    def end(r: str, at: str) -> Column:
        return F.max(F.when((role == r) & (lv == at), F.col(C.UNIT_ID)))

    aggs = [end("origin", level).alias(C.ORIGIN_ID), end("dest", level).alias(C.DEST_ID)]
    if city_level:
        aggs += [end("origin", city_level).alias("_oc"), end("dest", city_level).alias("_dc")]
    per = members.groupBy(C.USER_ID, C.DEPARTURE).agg(*aggs).where(
        F.col(C.ORIGIN_ID).isNotNull() & F.col(C.DEST_ID).isNotNull())
    if city_level:
        per = per.where(F.col("_oc").isNotNull() & (F.col("_oc") == F.col("_dc")))
        return per.select(C.USER_ID, C.DEPARTURE, F.col("_oc").alias(C.CITY_ID), C.ORIGIN_ID,
                          C.DEST_ID)
    return per.select(C.USER_ID, C.DEPARTURE, F.lit(None).cast("string").alias(C.CITY_ID),
                      C.ORIGIN_ID, C.DEST_ID)


def with_period(trips: DataFrame, periods: list[Period]) -> DataFrame:
    """Adds ``period``: the period of the move's departure."""
    return trips.withColumn(C.PERIOD, period_of(C.DEPARTURE, periods))


def long_form(counts: DataFrame, level: str, periods: list[Period],
              linkage: DataFrame | None) -> DataFrame:
    """The cells for suppression from linkage.trip_counts rows (by city, origin, dest,
    period): every period of each pair with a trip (zeros filled: a pair's periods are
    one labelled breakdown, decided together), ``level``, ``raw_count`` /
    ``expanded_count`` = the travellers, the trips, and ``_linkage_hidden``: the pair's
    monthly trips are withheld in the published ``linkage`` table (``linkage``: its rows
    of this level; None: none withheld)."""
    key = [C.CITY_ID, C.ORIGIN_ID, C.DEST_ID]
    names = F.explode(F.array(*[F.lit(p.name) for p in periods])).alias(C.PERIOD)
    grid = counts.select(*key).distinct().select(*key, names)
    zero, zf = F.lit(0).cast("bigint"), F.lit(0.0)
    out = grid.join(counts, [*key, C.PERIOD], how="left").select(
        F.lit(level).alias(C.LEVEL), *key, C.PERIOD,
        F.coalesce(F.col(raw_col(C.TRAVELLERS)), zero).alias(C.RAW_COUNT),
        F.coalesce(F.col(expanded_col(C.TRAVELLERS)), zf).alias(C.EXPANDED_COUNT),
        F.coalesce(F.col(TRIPS_RAW), zero).alias(TRIPS_RAW),
        F.coalesce(F.col(TRIPS_EXPANDED), zf).alias(TRIPS_EXPANDED))
    if linkage is None:
        return out.withColumn(LINKAGE_HIDDEN, F.lit(False))
    hidden = linkage.where(F.col(C.LEVEL) == level).select(
        C.ORIGIN_ID, C.DEST_ID, F.col(suppressed_col(C.TRIPS)).alias(LINKAGE_HIDDEN))
    return out.join(hidden, [C.ORIGIN_ID, C.DEST_ID], how="left").withColumn(
        LINKAGE_HIDDEN, F.coalesce(F.col(LINKAGE_HIDDEN), F.lit(False)))


def publish(long: DataFrame, k_min: int, complementary: bool, suppress_zeros: bool,
            periods: list[Period], units: DataFrame, days: DataFrame,
            width: float | None = None, on_audit=None, repair: bool = True) -> DataFrame:
    """The published rows: suppression per pair (domain.md's rule for labelled
    breakdowns: a pair with any period below ``k_min`` travellers is hidden in every
    period, as is a pair whose monthly trips linkage withholds; complementary suppression
    over the matrix of pairs, with each origin's and destination's totals per city and
    period public; since every hidden pair lies on a cycle of hidden pairs and has at
    least two periods, neither the per-period totals nor linkage's T_ij give any of its
    cells), then names, ``period_hours``, ``days`` and ``trips_per_day``
    (trips_expanded_count / days). With a protection ``width``, the interval audit of
    each period's matrix with its row and column totals public
    (:func:`mobsig.privacy_audit.with_od_audit`, what the job runs; a pair hidden in one
    period is hidden in all) hides further pairs, and withholds the period totals that
    pin a cell with nothing left to hide, until no cell is narrower than ``width``;
    ``on_audit`` is called with the audit (the job gates it); ``repair`` false: the rule's
    mask is audited and reported, not gated. ``origin_total_withheld`` /
    ``dest_total_withheld``: the origin's / destination's total of the row's city and
    period is withheld (false without a width)."""
    from mobsig import privacy_audit

    rows, cols = (C.CITY_ID, C.ORIGIN_ID), (C.CITY_ID, C.DEST_ID)
    extra = (TRIPS_RAW, TRIPS_EXPANDED)
    sup = privacy.with_od_bridge_suppression(
        long.withColumn("_true", F.col(C.RAW_COUNT)), k_min, complementary, suppress_zeros,
        rows=rows, cols=cols, extra_counts=extra, forced=LINKAGE_HIDDEN).drop(LINKAGE_HIDDEN)
    sup = sup.drop("_true").withColumns(
        {privacy_audit.ROW_WITHHELD: F.lit(False), privacy_audit.COL_WITHHELD: F.lit(False)}
    ) if width is None else privacy_audit.with_od_audit(
        sup, "_true", k_min, width, complementary, suppress_zeros, rows, cols,
        label=C.PERIOD, extra_counts=extra, on_audit=on_audit, repair=repair)
    hours = F.create_map(*[x for p in periods for x in (F.lit(p.name), F.lit(p.hours))])
    names = units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME)
    d = F.col(C.DAYS).cast("double")
    return (sup.join(names.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.ORIGIN_ID),
                                  F.col(C.UNIT_NAME).alias(C.ORIGIN_NAME)),
                     [C.LEVEL, C.ORIGIN_ID], how="left")
            .join(names.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.DEST_ID),
                               F.col(C.UNIT_NAME).alias(C.DEST_NAME)),
                  [C.LEVEL, C.DEST_ID], how="left")
            .crossJoin(days.select(C.DAYS))
            .select(C.LEVEL, C.CITY_ID, C.ORIGIN_ID, C.ORIGIN_NAME, C.DEST_ID, C.DEST_NAME,
                    C.PERIOD, hours[F.col(C.PERIOD)].alias(C.PERIOD_HOURS), C.DAYS,
                    TRIPS_RAW, TRIPS_EXPANDED,
                    F.col(C.RAW_COUNT).alias(raw_col(C.TRAVELLERS)),
                    F.col(C.EXPANDED_COUNT).alias(expanded_col(C.TRAVELLERS)),
                    C.IS_SUPPRESSED, (F.col(TRIPS_EXPANDED) / d).alias(C.TRIPS_PER_DAY),
                    privacy_audit.ROW_WITHHELD, privacy_audit.COL_WITHHELD))
