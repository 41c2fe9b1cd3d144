"""Commuting 通勤 (domain.md §C): home→work origin-destination per unit pair, commute
distance and time per origin unit, and the commuting radius of each unit as a centre.

Pure transforms; the ``commute`` job reads ``card_places``, the expansion factors, the
month's ``moves`` and ``events_clean`` and the ``units`` table and chains them:

1. :func:`commuters`: the month's commuters, one row per card: residents (pop_class
   resident) with a home and a work place, i.e. jobs_housing's employed residents.
   :func:`with_distance`: the straight-line (geodesic) home→work distance, vectorised
   with pyproj over Arrow batches.
2. :func:`commute_trips`: the card's observed home→work moves: moves departing in the
   month whose origin stay lies within ``match_radius_m`` of the home (and nearer the
   home than the work place) and whose destination stay lies within it of the work place
   (and nearer the work place).
3. :func:`trip_times`: each trip's travel time. A move's duration (last record of the
   home stay to first record of the work stay) overstates the trip by the two idle gaps
   around it (on the synthetic city by ~13 min at the median, ~1 h after a phone-off
   night, enough to move a sixth of the commuters past 45 minutes); the records seen en
   route (``events_clean`` strictly between the two stays) are dense (handovers) and
   spread over the trip, so the range estimator span x (n + 1) / (n - 1) of n records
   measures it (within [span, move duration]). :func:`person_times`: per card, the
   median over the month's trips and their number.
4. :func:`person_table`: one row per commuter with its distance, time (null: no observed
   trip: an *untimed* commuter, counted as such) and expansion weight
   (``population.user_weights``).
5. :func:`unit_pairs`: per card and level (every unit layer, and the H3 grid of
   population_by_unit) its origin (home) unit and destination (work) unit; null where
   the point lies outside every unit of the level.
6. :func:`measure_counts` / :func:`complete`: per unit and measure (:data:`MEASURES`),
   distinct cards (``raw_count``) and summed weights (``expanded_count``);
   :func:`unit_stats`: mean and median distance and median time per origin, and the
   commuting radius per destination (weighted quantiles, :func:`weighted_quantile`);
   :func:`od_counts`: per level and (origin, destination) pair.
7. :func:`publish` and :func:`publish_od`: small-count suppression (mobsig.privacy) and
   the shares and statistics computed from published counts only.

A *centre* is every destination unit: each unit of every layer (a county, a township, a
CBD or park zone, an H3 cell) gets the commuting radius of the people who work in it;
the planner reads it where the unit is a centre to them. A radius is published where the
unit's inbound commuters are (>= privacy.k_min cards).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import columns as C
from mobsig import privacy
from mobsig.columns import expanded_col, reason_col, suppressed_col
from mobsig.config import CommuteConfig
from mobsig.geo import next_month
from mobsig.population import assign_units, user_weights, with_grid
from mobsig.residence import sphere_dist_m

# measures per unit (long form ``measure``; wide: <measure>_raw_count, ...)
COMMUTERS = "commuters"  # employed residents living in the unit (OD row total)
TIMED = "commuters_timed"  # ... with an observed home→work trip in the month
UNTIMED = "commuters_untimed"  # ... without one
DIST_SHORT = "commuters_dist_short"  # distance <= commute.short_distance_m
DIST_LONG = "commuters_dist_long"  # distance > commute.short_distance_m
TIME_SHORT = "commuters_time_short"  # time <= commute.short_time_min
TIME_MEDIUM = "commuters_time_medium"  # in between
TIME_LONG = "commuters_time_long"  # time >= commute.long_time_min
INBOUND = "inbound_commuters"  # employed residents working in the unit (OD column total)
MEASURES = (COMMUTERS, TIMED, UNTIMED, DIST_SHORT, DIST_LONG, TIME_SHORT, TIME_MEDIUM,
            TIME_LONG, INBOUND)
# counts published under their own rule (the same as jobs_housing's): commuters are
# jobs_housing's employed residents; the parts below are suppressed around them
TOTALS = (COMMUTERS, INBOUND)
ADDITIVE_MEASURES = MEASURES  # every measure adds up from child units to the parent
# per unit: a total is the sum of its parts (complementary suppression within a unit)
IDENTITIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (COMMUTERS, (TIMED, UNTIMED)),
    (COMMUTERS, (DIST_SHORT, DIST_LONG)),
    (TIMED, (TIME_SHORT, TIME_MEDIUM, TIME_LONG)),
)

# statistics per unit
MEAN_DIST = "mean_dist_m"
MEDIAN_DIST = "median_dist_m"
SHARE_DIST_SHORT = "share_dist_short"
MEDIAN_TIME = "median_time_min"
SHARE_TIME_SHORT = "share_time_short"
SHARE_TIME_LONG = "share_time_long"
RADIUS = "commuting_radius_m"
# why a statistic is null
SUPPRESSED = "suppressed"
NO_COMMUTERS = "no_commuters"
NO_TIMED = "no_timed_commuters"
NO_INBOUND = "no_inbound_commuters"
NULL_REASONS = (SUPPRESSED, NO_COMMUTERS, NO_TIMED, NO_INBOUND)
# statistic -> (the counts it is computed from, the count that must be > 0, its reason)
STATS: dict[str, tuple[tuple[str, ...], str, str]] = {
    MEAN_DIST: ((COMMUTERS,), COMMUTERS, NO_COMMUTERS),
    MEDIAN_DIST: ((COMMUTERS,), COMMUTERS, NO_COMMUTERS),
    SHARE_DIST_SHORT: ((DIST_SHORT, COMMUTERS), COMMUTERS, NO_COMMUTERS),
    MEDIAN_TIME: ((TIMED,), TIMED, NO_TIMED),
    SHARE_TIME_SHORT: ((TIME_SHORT, TIMED), TIMED, NO_TIMED),
    SHARE_TIME_LONG: ((TIME_LONG, TIMED), TIMED, NO_TIMED),
    RADIUS: ((INBOUND,), INBOUND, NO_INBOUND),
}
# shares: statistic -> (numerator, denominator)
SHARES = {SHARE_DIST_SHORT: (DIST_SHORT, COMMUTERS), SHARE_TIME_SHORT: (TIME_SHORT, TIMED),
          SHARE_TIME_LONG: (TIME_LONG, TIMED)}

# per-card and per-trip columns
HOME_UNIT = "origin_id"
WORK_UNIT = "dest_id"
TIME_S = "time_s"  # a trip's travel time; per card: the median over its trips
N_TRIPS = "n_trips"
FIRST_SEEN = "first_seen"  # first record en route
LAST_SEEN = "last_seen"  # last record en route
N_SEEN = "n_seen"  # records en route
IS_RANGED = "is_ranged"  # the trip time is a range estimate (>= 2 records en route)
OD_KEYS = (C.LEVEL, privacy.ORIGIN_ID, privacy.DEST_ID)


# --------------------------------------------------------------------------------------
# commuters, distance, trips and times


def commuters(places: DataFrame) -> DataFrame:
    """``user_id``, ``home_lon``, ``home_lat``, ``work_lon``, ``work_lat`` (and
    ``night_lon``, ``night_lat`` when ``places`` has them) of the ``card_places`` rows that
    commute: residents with a home and a work place (jobs_housing's employed residents).
    Every other card has no row."""
    night = [c for c in (C.NIGHT_LON, C.NIGHT_LAT) if c in places.columns]
    return places.where((F.col(C.POP_CLASS) == "resident")
                        & F.col(C.HOME_LON).isNotNull() & F.col(C.HOME_LAT).isNotNull()
                        & F.col(C.WORK_LON).isNotNull() & F.col(C.WORK_LAT).isNotNull()
                        ).select(C.USER_ID, C.HOME_LON, C.HOME_LAT, C.WORK_LON, C.WORK_LAT,
                                 *night)


def with_distance(df: DataFrame) -> DataFrame:
    """Adds ``dist_m``: the straight-line (geodesic) distance in metres between
    (home_lon, home_lat) and (work_lon, work_lat) on the CGCS2000 ellipsoid (GRS80),
    computed with pyproj per Arrow batch (vectorised, no row UDF). Not in run.metric_crs:
    the default China-wide plane shortens distances by up to 3 % (2 % at 30 deg N).
    Rows are kept."""
    import pyarrow as pa

    schema = T.StructType([*df.schema.fields, T.StructField(C.DIST_M, T.DoubleType(), True)])

    def measure(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyproj import Geod

        geod = Geod(ellps="GRS80")

        def col(batch: pa.RecordBatch, name: str) -> np.ndarray:
            return batch.column(name).to_numpy(zero_copy_only=False).astype(float)

        for batch in batches:
            _, _, dist = geod.inv(col(batch, C.HOME_LON), col(batch, C.HOME_LAT),
                                  col(batch, C.WORK_LON), col(batch, C.WORK_LAT))
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.array(np.asarray(dist, float), pa.float64())],
                schema=batch.schema.append(pa.field(C.DIST_M, pa.float64())))

    return df.mapInArrow(measure, schema)


def commute_trips(moves: DataFrame, people: DataFrame, month: dt.date,
                  match_radius_m: float) -> DataFrame:
    """The home→work trips of ``people`` (:func:`commuters` rows): ``user_id``,
    ``departure``, ``arrival``, ``duration_s``, one row per move of ``moves`` that
    departs in ``month`` (local date) from a stay within ``match_radius_m`` of the home
    and nearer the home than the work place, to a stay within ``match_radius_m`` of the
    work place and nearer it than the home. Other moves are dropped.

    With ``night_lon`` / ``night_lat`` in ``people`` (card_places' longest night place:
    where the night stays put the home before it is re-centred, or placed on residential
    land among km-spaced sites, home_work's ``home_position``), the home's distance is the
    smaller of the two, so that a home moved a kilometre onto the village's land still
    matches the stays it was found from; only where the night place is nearer the home
    than the work place (not for night-shift workers, home_rule day_rest, whose night
    place is their work place)."""
    start, end = month, next_month(month)
    m = moves.join(people, C.USER_ID, how="inner")

    def dist(lon: str, lat: str, plon: str, plat: str) -> Column:
        return sphere_dist_m(F.col(lon), F.col(lat), F.col(plon), F.col(plat))

    def to_home(lon: str, lat: str) -> Column:
        home = dist(lon, lat, C.HOME_LON, C.HOME_LAT)
        if C.NIGHT_LON not in people.columns:
            return home
        night_home = (dist(C.NIGHT_LON, C.NIGHT_LAT, C.HOME_LON, C.HOME_LAT)
                      < dist(C.NIGHT_LON, C.NIGHT_LAT, C.WORK_LON, C.WORK_LAT))
        night = F.when(night_home, dist(lon, lat, C.NIGHT_LON, C.NIGHT_LAT))
        return F.least(home, F.coalesce(night, home))

    o_home = to_home(C.ORIGIN_LON, C.ORIGIN_LAT)
    o_work = dist(C.ORIGIN_LON, C.ORIGIN_LAT, C.WORK_LON, C.WORK_LAT)
    d_work = dist(C.DEST_LON, C.DEST_LAT, C.WORK_LON, C.WORK_LAT)
    d_home = to_home(C.DEST_LON, C.DEST_LAT)
    day = F.to_date(C.DEPARTURE)
    return m.where((day >= F.lit(start)) & (day < F.lit(end))
                   & (o_home <= match_radius_m) & (o_home < o_work)
                   & (d_work <= match_radius_m) & (d_work < d_home)).select(
        C.USER_ID, C.DEPARTURE, C.ARRIVAL, C.DURATION_S)


def trip_times(trips: DataFrame, events: DataFrame) -> DataFrame:
    """Adds, per trip, ``first_seen``, ``last_seen`` and ``n_seen`` (the records of
    ``events``, ``user_id`` and ``event_time``, strictly between the trip's departure and
    arrival: seen en route; null / 0 without any), ``time_s`` and ``is_ranged``.

    A move's duration (last record of the home stay to first record of the work stay)
    overstates the trip by the idle gaps around it; the span of the records seen en route
    understates it. With ``n_seen`` >= 2 records, spread over the trip like a Poisson
    process (uniform given their number), the trip's duration is estimated without bias
    by the range estimator span x (n + 1) / (n - 1), kept within [span, move duration]
    (``is_ranged`` true). With fewer records the time is the midpoint of [span (0 without
    records), move duration] (``is_ranged`` false): a weaker estimate, used only for a
    card without any ranged trip (:func:`person_times`). One row per trip."""
    ev = events.select(C.USER_ID, F.col(C.EVENT_TIME).alias("_t")).join(
        trips.select(C.USER_ID).distinct(), C.USER_ID, how="left_semi")
    t = trips.alias("t")
    e = ev.alias("e")
    cond = ((F.col("t." + C.USER_ID) == F.col("e." + C.USER_ID))
            & (F.col("e._t") > F.col("t." + C.DEPARTURE))
            & (F.col("e._t") < F.col("t." + C.ARRIVAL)))
    seen = t.join(e, cond, how="left").groupBy(
        *[F.col("t." + c) for c in (C.USER_ID, C.DEPARTURE, C.ARRIVAL, C.DURATION_S)]).agg(
        F.min("e._t").alias(FIRST_SEEN), F.max("e._t").alias(LAST_SEEN),
        F.count("e._t").alias(N_SEEN))
    span = F.coalesce((F.unix_micros(LAST_SEEN) - F.unix_micros(FIRST_SEEN)) / F.lit(1e6),
                      F.lit(0.0))
    n, upper = F.col(N_SEEN), F.col(C.DURATION_S).cast("double")
    ranged = n >= 2
    estimate = F.least(F.greatest(span * (n + 1) / (n - 1), span), upper)
    return seen.withColumns({
        TIME_S: F.when(ranged, estimate).otherwise((span + upper) / 2),
        IS_RANGED: ranged})


def person_times(times: DataFrame) -> DataFrame:
    """``user_id``, ``n_trips`` (observed home→work trips) and ``time_s``: the median
    (exact, interpolated between the middle two) over the card's ranged trips, or over all
    its trips when none is ranged (:func:`trip_times`)."""
    t = F.col(TIME_S)
    return times.groupBy(C.USER_ID).agg(
        F.count(F.lit(1)).alias(N_TRIPS),
        F.coalesce(F.median(F.when(F.col(IS_RANGED), t)), F.median(t)).alias(TIME_S))


def person_table(people: DataFrame, times: DataFrame, weights: DataFrame) -> DataFrame:
    """One row per commuter: ``user_id``, home and work points, ``dist_m`` (from
    :func:`with_distance`), ``n_trips`` (0 without an observed trip), ``time_s`` (null
    then: an untimed commuter) and ``weight`` (the card's expansion factor; 1 without
    one)."""
    return (people.join(times, C.USER_ID, how="left")
            .join(weights, C.USER_ID, how="left")
            .select(C.USER_ID, C.HOME_LON, C.HOME_LAT, C.WORK_LON, C.WORK_LAT, C.DIST_M,
                    F.coalesce(N_TRIPS, F.lit(0)).cast("bigint").alias(N_TRIPS), TIME_S,
                    F.coalesce(C.WEIGHT, F.lit(1.0)).alias(C.WEIGHT)))


def unit_pairs(people: DataFrame, units: DataFrame, grid_resolution: int) -> DataFrame:
    """``user_id``, ``level``, ``origin_id`` (unit of the home), ``dest_id`` (unit of the
    work place) for every polygon layer either point falls in and for the H3 grid; a side
    outside every unit of the level is null."""
    keys = [C.USER_ID, C.ROLE]
    pts = people.select(C.USER_ID, F.lit("home").alias(C.ROLE),
                        F.col(C.HOME_LON).alias(C.LON), F.col(C.HOME_LAT).alias(C.LAT)) \
        .unionByName(people.select(C.USER_ID, F.lit("work").alias(C.ROLE),
                                   F.col(C.WORK_LON).alias(C.LON),
                                   F.col(C.WORK_LAT).alias(C.LAT)))
    members = assign_units(pts, units, keys).unionByName(
        with_grid(pts, keys, grid_resolution))
    role = F.col(C.ROLE)
    return members.groupBy(C.USER_ID, C.LEVEL).agg(
        F.max(F.when(role == "home", F.col(C.UNIT_ID))).alias(HOME_UNIT),
        F.max(F.when(role == "work", F.col(C.UNIT_ID))).alias(WORK_UNIT))


# --------------------------------------------------------------------------------------
# counts and statistics


def measure_counts(pairs: DataFrame, table: DataFrame, short_distance_m: float,
                   short_time_min: float, long_time_min: float) -> DataFrame:
    """``level``, ``unit_id``, ``measure``, ``raw_count``, ``expanded_count`` from
    :func:`unit_pairs` and :func:`person_table` rows: each commuter counts in its origin
    unit as ``commuters`` and in exactly one part of each split (timed or untimed; short
    or long distance; short, medium or long time if timed), and in its destination unit
    as ``inbound_commuters``. Units without a commuter have no row."""
    d, t = F.col(C.DIST_M), F.col(TIME_S)
    short_s, long_s = 60.0 * short_time_min, 60.0 * long_time_min
    home, work = F.col(HOME_UNIT), F.col(WORK_UNIT)

    def item(measure: str | Column, unit: Column) -> Column:
        m = F.lit(measure) if isinstance(measure, str) else measure
        return F.struct(m.alias(C.MEASURE), unit.alias(C.UNIT_ID))

    dist_part = F.when(d <= short_distance_m, F.lit(DIST_SHORT)).otherwise(F.lit(DIST_LONG))
    time_part = (F.when(t <= short_s, F.lit(TIME_SHORT)).when(t >= long_s, F.lit(TIME_LONG))
                 .otherwise(F.lit(TIME_MEDIUM)))
    at_home = home.isNotNull()
    items = F.array_compact(F.array(
        F.when(at_home, item(COMMUTERS, home)),
        F.when(at_home, item(F.when(t.isNull(), F.lit(UNTIMED)).otherwise(F.lit(TIMED)),
                             home)),
        F.when(at_home, item(dist_part, home)),
        F.when(at_home & t.isNotNull(), item(time_part, home)),
        F.when(work.isNotNull(), item(INBOUND, work))))
    rows = (pairs.join(table.select(C.USER_ID, C.DIST_M, TIME_S, C.WEIGHT), C.USER_ID,
                       how="inner")
            .select(C.USER_ID, C.LEVEL, C.WEIGHT, F.explode(items).alias("_m"))
            .select(C.USER_ID, C.LEVEL, C.WEIGHT, F.col("_m")[C.MEASURE].alias(C.MEASURE),
                    F.col("_m")[C.UNIT_ID].alias(C.UNIT_ID)))
    return rows.groupBy(C.LEVEL, C.UNIT_ID, C.MEASURE).agg(
        F.countDistinct(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(C.WEIGHT).alias(C.EXPANDED_COUNT))


def weighted_quantile(df: DataFrame, keys: list[str], value: str, weight: str, q: float,
                      name: str) -> DataFrame:
    """``keys`` + ``name``: per group, the weighted ``q``-quantile of ``value``: the
    midpoint of the smallest value whose cumulative weight reaches q x the total and the
    smallest whose cumulative weight exceeds it (equal weights: the usual median for
    q = 0.5). Rows ordered by value then ``user_id`` (deterministic); null values are
    left out. See :func:`quantile_mid` for the same rule in numpy."""
    df = df.where(F.col(value).isNotNull())
    order = Window.partitionBy(*keys).orderBy(value, C.USER_ID).rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    whole = Window.partitionBy(*keys)
    x = df.select(*keys, value, F.sum(weight).over(order).alias("_cum"),
                  F.sum(weight).over(whole).alias("_tot"))
    target = F.lit(q) * F.col("_tot")
    eps = F.lit(1e-9) * F.col("_tot")
    v = F.col(value)
    agg = x.groupBy(*keys).agg(
        F.min(F.when(F.col("_cum") >= target - eps, v)).alias("_lo"),
        F.min(F.when(F.col("_cum") > target + eps, v)).alias("_hi"))
    return agg.select(*keys, ((F.col("_lo") + F.coalesce("_hi", "_lo")) / 2).alias(name))


def quantile_mid(values: np.ndarray, q: float, weights: np.ndarray | None = None
                 ) -> float:
    """The rule of :func:`weighted_quantile` in numpy (NaN for no values)."""
    v = np.asarray(values, float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, float)
    ok = ~np.isnan(v)
    v, w = v[ok], w[ok]
    if not len(v):
        return float("nan")
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(w[order])
    target, eps = q * cum[-1], 1e-9 * cum[-1]
    lo = v[np.argmax(cum >= target - eps)]
    above = cum > target + eps
    hi = v[np.argmax(above)] if above.any() else lo
    return float((lo + hi) / 2)


def unit_stats(pairs: DataFrame, table: DataFrame, radius_quantile: float) -> DataFrame:
    """``level``, ``unit_id`` and the unsuppressed statistics of every unit with a
    commuter (weighted by the cards' expansion factors): ``mean_dist_m``,
    ``median_dist_m`` and ``median_time_min`` (over timed commuters) of the commuters
    living in the unit, and ``commuting_radius_m``: the ``radius_quantile`` quantile of
    the commute distances of the people working in it (:func:`weighted_quantile`)."""
    rows = pairs.join(table.select(C.USER_ID, C.DIST_M, TIME_S, C.WEIGHT), C.USER_ID,
                      how="inner")
    home = rows.where(F.col(HOME_UNIT).isNotNull()).withColumnRenamed(HOME_UNIT, C.UNIT_ID)
    work = rows.where(F.col(WORK_UNIT).isNotNull()).withColumnRenamed(WORK_UNIT, C.UNIT_ID)
    keys = [C.LEVEL, C.UNIT_ID]
    mean = home.groupBy(*keys).agg(
        (F.sum(F.col(C.WEIGHT) * F.col(C.DIST_M)) / F.sum(C.WEIGHT)).alias(MEAN_DIST))
    med = weighted_quantile(home, keys, C.DIST_M, C.WEIGHT, 0.5, MEDIAN_DIST)
    tmed = weighted_quantile(home.withColumn("_min", F.col(TIME_S) / 60.0), keys, "_min",
                             C.WEIGHT, 0.5, MEDIAN_TIME)
    radius = weighted_quantile(work, keys, C.DIST_M, C.WEIGHT, radius_quantile, RADIUS)
    return (mean.join(med, keys, how="full").join(tmed, keys, how="full")
            .join(radius, keys, how="full"))


def complete(counts: DataFrame, units: DataFrame) -> DataFrame:
    """Every (polygon unit, measure) row with zeros filled, plus every measure of each
    grid cell with a row in ``counts``: ``level``, ``unit_id``, ``unit_name``,
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


def od_counts(pairs: DataFrame, table: DataFrame, units: DataFrame) -> DataFrame:
    """Per level and (origin, destination) pair with a commuter: ``level``, ``origin_id``,
    ``origin_name``, ``origin_parent_id``, ``dest_id``, ``dest_name``,
    ``dest_parent_id``, ``raw_count``, ``expanded_count``. Commuters with a side outside
    every unit of the level are in no pair of it."""
    both = pairs.where(F.col(HOME_UNIT).isNotNull() & F.col(WORK_UNIT).isNotNull()).join(
        table.select(C.USER_ID, C.WEIGHT), C.USER_ID, how="inner")
    counts = both.groupBy(C.LEVEL, HOME_UNIT, WORK_UNIT).agg(
        F.countDistinct(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(C.WEIGHT).alias(C.EXPANDED_COUNT))
    names = units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID)

    def side(prefix: str) -> DataFrame:
        return names.select(C.LEVEL, F.col(C.UNIT_ID).alias(f"{prefix}_id"),
                            F.col(C.UNIT_NAME).alias(f"{prefix}_name"),
                            F.col(C.PARENT_ID).alias(f"{prefix}_parent_id"))

    return (counts.join(side("origin"), [C.LEVEL, HOME_UNIT], how="left")
            .join(side("dest"), [C.LEVEL, WORK_UNIT], how="left")
            .select(C.LEVEL, HOME_UNIT, "origin_name", "origin_parent_id", WORK_UNIT,
                    "dest_name", "dest_parent_id", C.RAW_COUNT, C.EXPANDED_COUNT))


@dataclass(frozen=True)
class MonthTables:
    """The unsuppressed frames of a month (:func:`month_tables`)."""

    table: DataFrame  # per commuter (person_table)
    pairs: DataFrame  # per commuter and level (unit_pairs)
    counts: DataFrame  # per unit and measure, zeros filled (complete)
    stats: DataFrame  # per unit (unit_stats)
    od: DataFrame  # per level and unit pair (od_counts)


def month_tables(places: DataFrame, factors: DataFrame, age_factors: DataFrame | None,
                 units: DataFrame, moves: DataFrame, events: DataFrame, month: dt.date,
                 grid_resolution: int, cc: CommuteConfig,
                 keep: Callable[[DataFrame], DataFrame] = lambda df: df) -> MonthTables:
    """Steps 1-6 of the module doc chained: ``places``: card_places; ``factors`` /
    ``age_factors``: expansion_factors / expansion_factors_age (None: county weighting);
    ``units``: unit polygons; ``moves`` / ``events``: the month's moves and events_clean
    (its days and the first of the next month). ``keep`` persists the frames read more
    than once (the job's ``ctx.keep``)."""
    people = keep(with_distance(commuters(places)))
    trips = commute_trips(moves, people, month, cc.match_radius_m)
    times = keep(trip_times(trips, events))
    table = keep(person_table(people, person_times(times),
                              user_weights(places, factors, age_factors)))
    pairs = keep(unit_pairs(table, units, grid_resolution))
    counts = complete(measure_counts(pairs, table, cc.short_distance_m, cc.short_time_min,
                                     cc.long_time_min), units)
    return MonthTables(table, pairs, counts, unit_stats(pairs, table, cc.radius_quantile),
                       od_counts(pairs, table, units))


# --------------------------------------------------------------------------------------
# publishing


def suppress_level(pdf: pd.DataFrame, k_min: int, complementary: bool,
                   suppress_zeros: bool) -> pd.DataFrame:
    """:func:`suppress_counts` on one level's long form in pandas (``_force``: totals the
    OD suppression needs withheld; optional ``_follow``: a total's state decided by
    another release, true hidden, false published, null: this rule decides; ``_force``
    wins). Returns the rows with ``is_suppressed`` and the counts
    of suppressed rows nulled."""
    pdf = pdf.reset_index(drop=True)
    force = pdf.pop("_force").eq(True)
    follow = pdf.pop("_follow") if "_follow" in pdf else pd.Series(None, index=pdf.index,
                                                                   dtype=object)
    is_total = pdf[C.MEASURE].isin(TOTALS)
    given = force | follow.notna().to_numpy()  # a state decided elsewhere
    state = force | follow.eq(True).to_numpy()
    totals = pdf[is_total].assign(_fixed=given[is_total], **{C.IS_SUPPRESSED: state[is_total]})
    first = privacy.suppression_mask(totals, k_min, complementary, suppress_zeros,
                                     identities=(), by=C.MEASURE, fixed="_fixed")
    state = pd.Series(False, index=pdf.index)
    state[totals.index] = first
    both = pdf.assign(_fixed=is_total, **{C.IS_SUPPRESSED: state})
    out = privacy.suppress_pandas(both, k_min, complementary, suppress_zeros,
                                  identities=IDENTITIES, by=C.MEASURE, fixed="_fixed")
    return out.drop(columns="_fixed")


def suppress_counts(counts: DataFrame, k_min: int, complementary: bool,
                    suppress_zeros: bool, hidden_totals: DataFrame | None = None,
                    follow: DataFrame | None = None) -> DataFrame:
    """The long form (:func:`complete`) with ``is_suppressed`` (one pandas pass per
    level, :func:`suppress_level`): first the totals (``commuters``,
    ``inbound_commuters``) under the rule of population_by_unit and jobs_housing (primary
    below ``k_min``, complementary within sibling groups), so ``commuters`` is hidden
    exactly where jobs_housing hides ``employed_residents``; ``hidden_totals``
    (``level``, ``unit_id``, optional ``measure``, default ``inbound_commuters``): totals
    the OD suppression needs withheld (``privacy.HIDE_DEST_TOTAL``: inbound commuters,
    ``privacy.HIDE_ORIGIN_TOTAL``: commuters), hidden first. Then every part with the totals fixed:
    primary, sibling groups and the identities of :data:`IDENTITIES` (so neither a part
    nor a total is recovered by subtraction). ``follow`` (``level``, ``unit_id``,
    ``measure``, ``_follow``: true hidden, false published): totals whose state another
    release decides (:func:`inbound_follows_live_and_work`); they keep it and are never
    complements."""
    if follow is not None:
        counts = counts.join(follow.select(C.LEVEL, C.UNIT_ID, C.MEASURE, "_follow"),
                             [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left")
    if hidden_totals is not None:
        if C.MEASURE not in hidden_totals.columns:
            hidden_totals = hidden_totals.withColumn(C.MEASURE, F.lit(INBOUND))
        flag = hidden_totals.select(C.LEVEL, C.UNIT_ID, C.MEASURE).distinct().withColumn(
            "_force", F.lit(True))
        counts = counts.join(flag, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left")
    else:
        counts = counts.withColumn("_force", F.lit(False))
    fields = [T.StructField(f.name, f.dataType, True) if f.name in (C.RAW_COUNT,
                                                                    C.EXPANDED_COUNT) else f
              for f in counts.schema.fields if f.name not in ("_force", "_follow")]
    schema = T.StructType(fields + [T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False)])
    names = [f.name for f in schema.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return suppress_level(pdf, k_min, complementary, suppress_zeros)[names]

    return counts.groupBy(C.LEVEL).applyInPandas(apply, schema)


def spread(long: DataFrame) -> DataFrame:
    """One row per unit from the long form (:func:`mobsig.privacy.spread` of
    :data:`MEASURES`)."""
    return privacy.spread(long, MEASURES)


def with_stats(wide: DataFrame, stats: DataFrame) -> DataFrame:
    """Adds the shares (:data:`SHARES`, on expanded counts), the statistics of ``stats``
    (:func:`unit_stats`) and a :func:`reason_col` per statistic: a statistic is null,
    with reason ``suppressed``, when a count it is computed from is suppressed (so it
    never reveals a hidden count), else, with reason ``no_commuters`` /
    ``no_timed_commuters`` / ``no_inbound_commuters``, when there is nobody to describe.
    Rows are kept."""
    out = wide.join(stats, [C.LEVEL, C.UNIT_ID], how="left")
    cols = {}
    for stat, (needs, base, empty) in STATS.items():
        hidden = F.lit(False)
        for m in needs:
            hidden = hidden | F.col(suppressed_col(m))
        n = F.col(expanded_col(base))
        present = ~hidden & (n > 0)
        if stat in SHARES:
            num, den = SHARES[stat]
            value = F.col(expanded_col(num)) / F.col(expanded_col(den))
        else:
            value = F.col(stat)
        cols[stat] = F.when(present, value)
        cols[reason_col(stat)] = (F.when(hidden, F.lit(SUPPRESSED))
                                  .when(n.isNull() | (n <= 0), F.lit(empty)))
    return out.withColumns(cols)


def publish(counts: DataFrame, stats: DataFrame, k_min: int, complementary: bool,
            suppress_zeros: bool, hidden_totals: DataFrame | None = None) -> DataFrame:
    """The published ``commute`` rows of a month: :func:`suppress_counts`, one row per
    unit (:func:`spread`), the statistics (:func:`with_stats`)."""
    long = suppress_counts(counts, k_min, complementary, suppress_zeros, hidden_totals)
    return with_stats(spread(long), stats)


def publish_all(counts: DataFrame, stats: DataFrame, od: DataFrame, k_min: int,
                complementary: bool, suppress_zeros: bool, width: float | None = None,
                on_audit=None, keep: Callable[[DataFrame], DataFrame] = lambda d: d,
                repair: bool = True, repair_units: bool = True,
                jobs_housing: DataFrame | None = None,
                detach: Callable[[DataFrame], DataFrame] = lambda d: d,
                jobs_housing_counts: DataFrame | None = None, joint: str = "report"
                ) -> tuple[DataFrame, DataFrame]:
    """The published ``commute`` and ``commute_od`` rows (without
    ``privacy.HIDE_DEST_TOTAL`` / ``HIDE_ORIGIN_TOTAL``): :func:`publish_od`, then
    :func:`publish` with the inbound and commuters totals the OD rule withholds (null,
    ``is_<measure>_suppressed``). With a protection ``width``, the interval audit
    of both (:mod:`mobsig.privacy_audit`): each level's OD matrix with its row totals and
    the column totals it does not withhold public (:func:`~mobsig.privacy_audit.
    with_od_audit`), and the unit table with its identities (:data:`IDENTITIES`) and
    every layer at once, the totals (``commuters``, ``inbound_commuters``, decided with
    jobs_housing's employed residents) never a complement; further cells are hidden until
    none is narrower than ``width``; ``on_audit`` is called with the audit of both;
    ``keep``: persists the OD rows (used twice); ``detach``: materialises a frame with its
    lineage cut (the job's ``ctx.detach``): ``od``, the rows after the OD rule and after
    jobs_housing's mask, so the steps that read them many times
    (:func:`hide_a_pair_of_split_rows`, the audit's collect) plan over small leaves, not
    over copies of the month's lineage (their plan string ran the driver out of heap in
    the city chain). The OD audit withholds the row / column
    totals that pin a pair with nothing left to hide (:func:`~mobsig.privacy_audit.
    od_audited_mask`): they are hidden in the unit table (``commuters`` /
    ``inbound_commuters``), as the OD rule's own ``hide_origin_total`` /
    ``hide_dest_total``. The unit table's audited rule is :func:`split_mask` (each split
    of a unit published or withdrawn whole, zeros included; gated with commute_od: what
    the job runs). ``repair_units`` false: commute_od is repaired and gated, the unit
    table (the group rule's mask) audited once and *reported* (``Audit.reported``: run
    facts and a warning, not gated). ``repair`` false: both audited once and reported.
    ``jobs_housing``: the month's published jobs_housing rows (``level``, ``unit_id``,
    ``employed_residents_raw_count``, ``is_employed_residents_suppressed``,
    ``live_and_work_raw_count``, ``is_live_and_work_suppressed``): the same counts
    (commuters = employed residents, a same-unit pair = live_and_work) follow its mask
    (:func:`with_jobs_housing_mask`); the inbound commuters of a unit whose commute_od
    column hides no pair from another unit are hidden where its live_and_work is
    (inbound - live_and_work public: :func:`inbound_follows_live_and_work`). A row total
    jobs_housing hides is a hidden cell of the OD audit (``secret_rows``), as wide as any
    hidden cell: the published totals (the columns minus the other rows) must not pin it.
    ``jobs_housing_counts``: jobs_housing's true counts of the month (long form,
    :func:`jobs_housing_counts`): with them (and a ``width``, repairing
    both parts) the three releases of the same counts, jobs_housing's employed residents
    and live_and_work as published, commute and commute_od, are also audited as one
    system (:func:`joint_with_jobs_housing`, ``Audit.joint``): a count hidden in two of
    them must not be pinned by their relations taken together; ``joint``: "gate" (the
    gate fails on it), "report" (run facts and a warning) or "off" (privacy.joint_audit)."""
    from mobsig import privacy_audit as pa

    parts: dict = {}
    od = detach(od)
    first = detach(publish_od(od, k_min, complementary))
    if jobs_housing is not None:
        first = detach(with_jobs_housing_mask(first, jobs_housing, detach))
    pair = [C.LEVEL, privacy.ORIGIN_ID, privacy.DEST_ID]
    true = od.select(*pair, F.col(C.RAW_COUNT).alias("_true"))  # the zero pairs added: 0
    sup = with_partial_lines(first.join(true, pair, how="left").select(
        *first.columns, F.coalesce("_true", F.lit(0)).alias("_true")), od, counts)
    jh_kw = ({"fixed": JH_FIXED, "keep_rows": JH_KEEP_ROW, "secret_rows": JH_SECRET_ROW}
             if jobs_housing is not None else {})
    if JH_SECRET_ROW in sup.columns:  # a partial row's sum is not the employed residents
        sup = sup.withColumn(JH_SECRET_ROW, F.col(JH_SECRET_ROW) & ~F.col(ROW_PART))
    if width is not None and not repair:
        parts["commute_od"] = pa.od_rule_audit(
            sup, "_true", width, suppress_zeros, (privacy.ORIGIN_ID,), (privacy.DEST_ID,),
            k_min=k_min, withheld=COL_OPEN, withheld_rows=ROW_OPEN,
            secret_rows=jh_kw.get("secret_rows"))
        sup = sup.withColumns({pa.ROW_WITHHELD: F.lit(False), pa.COL_WITHHELD: F.lit(False)})
    elif width is not None:
        sup = pa.with_od_audit(sup, "_true", k_min, width, complementary, suppress_zeros,
                               (privacy.ORIGIN_ID,), (privacy.DEST_ID,),
                               on_audit=lambda a: parts.__setitem__("commute_od", a),
                               withheld=COL_OPEN, withheld_rows=ROW_OPEN, **jh_kw)
        sup = sup.withColumn("_true", F.lit(0))  # (dropped below)
    else:
        sup = sup.withColumns({pa.ROW_WITHHELD: F.lit(False), pa.COL_WITHHELD: F.lit(False)})
    sup = keep(sup)
    col_out = F.col(privacy.HIDE_DEST_TOTAL) | F.col(pa.COL_WITHHELD)
    row_out = F.col(privacy.HIDE_ORIGIN_TOTAL) | F.col(pa.ROW_WITHHELD)
    hidden = sup.where(col_out).select(
        C.LEVEL, F.col(privacy.DEST_ID).alias(C.UNIT_ID), F.lit(INBOUND).alias(C.MEASURE)
    ).unionByName(sup.where(row_out).select(
        C.LEVEL, F.col(privacy.ORIGIN_ID).alias(C.UNIT_ID),
        F.lit(COMMUTERS).alias(C.MEASURE)))
    follow = None
    if jobs_housing is not None:  # commuters = employed residents: hidden where they are
        hidden = hidden.unionByName(jh_hidden_employed(jobs_housing))
        follow = inbound_follows_live_and_work(sup, jobs_housing)
    long = suppress_counts(counts.withColumn("_true", F.col(C.RAW_COUNT)), k_min,
                           complementary, suppress_zeros, hidden, follow)
    if width is not None:
        pdf = long.select(C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.MEASURE, "_true",
                          C.IS_SUPPRESSED).toPandas().rename(columns={"_true": C.RAW_COUNT})
    if width is not None and not (repair and repair_units):
        unit = pa.audit(pdf, pdf[C.IS_SUPPRESSED].to_numpy(bool), width,
                        suppress_zeros=suppress_zeros, identities=IDENTITIES,
                        additive=None, by=C.MEASURE)
        if repair:  # the OD part gated, the unit table reported
            out_audit = pa.combine(parts, width)
            out_audit.reported = unit
        else:
            parts["commute"] = unit
            out_audit = pa.reported_only(pa.combine(parts, width))
        if on_audit is not None:
            on_audit(out_audit)
    elif width is not None:
        mask, parts["commute"] = split_mask(pdf, width, suppress_zeros)
        more = pdf[mask & ~pdf[C.IS_SUPPRESSED].to_numpy(bool)]
        long = pa.hide_more(long, more, (C.LEVEL, C.UNIT_ID, C.MEASURE))
        whole = pa.combine(parts, width)
        if jobs_housing is not None and jobs_housing_counts is not None and joint != "off":
            whole.joint, more_pairs = joint_with_jobs_housing(
                parts, jobs_housing_counts, jobs_housing, k_min, width, suppress_zeros,
                repair=joint == "gate")
            whole.joint_gated = joint == "gate"
            sup = pa.hide_more(sup, more_pairs, (C.LEVEL, privacy.ORIGIN_ID, privacy.DEST_ID))
        if on_audit is not None:
            on_audit(whole)
    out = with_stats(spread(long.drop("_true")), stats)
    extra = [c for c in (JH_FIXED, JH_KEEP_ROW, JH_SECRET_ROW) if c in sup.columns]
    return out, sup.drop(privacy.HIDE_DEST_TOTAL, privacy.HIDE_ORIGIN_TOTAL, pa.ROW_WITHHELD,
                         pa.COL_WITHHELD, "_true", ROW_PART, COL_PART, ROW_OPEN, COL_OPEN,
                         *extra)


ROW_PART = "_row_partial"  # the origin's commuters are more than its row's pairs
COL_PART = "_col_partial"  # the destination's inbound commuters are more than its column's
ROW_OPEN = "_row_not_public"  # the row total is no published count (withheld or partial)
COL_OPEN = "_col_not_public"  # the column total is no published count


def with_partial_lines(sup: DataFrame, od: DataFrame, counts: DataFrame) -> DataFrame:
    """commute_od rows with the flags of lines whose total is no published count: a row
    is *partial* (:data:`ROW_PART`) where the origin's commuters (``counts``, the true
    long form) are more than the sum of its pairs (``od``, the true pairs): some of them
    work outside every unit of the level, as on a layer that does not tile the area
    (facilities, reserves, parcels); a column likewise (:data:`COL_PART`) with the
    inbound commuters, some of whom live outside every unit. A reader of such a line
    knows only that its pairs add up to at most the unit's count: the OD audit gives it
    no total (:data:`ROW_OPEN`: withheld by the rule or partial; :data:`COL_OPEN`), and
    the joint audit keeps the inequality (:func:`shared_count_links`). Taking the sum of
    a facility's pairs as its published commuters pinned a hidden pair of two
    facilities to [1, 1] on a 1,500-person region (19 living and working in the CBD +
    1 working at the railway hub, of 59 commuters): the gate failed closed."""
    def line(end: str, measure: str, flag: str) -> DataFrame:
        sums = od.groupBy(C.LEVEL, F.col(end).alias(C.UNIT_ID)).agg(
            F.sum(C.RAW_COUNT).alias("_line"))
        unit = counts.where(F.col(C.MEASURE) == measure).select(
            C.LEVEL, C.UNIT_ID, F.col(C.RAW_COUNT).alias("_unit"))
        return sums.join(unit, [C.LEVEL, C.UNIT_ID], how="left").select(
            C.LEVEL, F.col(C.UNIT_ID).alias(end),
            (F.coalesce("_unit", F.lit(0)) > F.col("_line")).alias(flag))
    out = (sup.join(F.broadcast(line(privacy.ORIGIN_ID, COMMUTERS, ROW_PART)),
                    [C.LEVEL, privacy.ORIGIN_ID], how="left")
           .join(F.broadcast(line(privacy.DEST_ID, INBOUND, COL_PART)),
                 [C.LEVEL, privacy.DEST_ID], how="left"))
    part = {c: F.coalesce(F.col(c), F.lit(False)) for c in (ROW_PART, COL_PART)}
    return out.withColumns(part).withColumns({
        ROW_OPEN: F.col(privacy.HIDE_ORIGIN_TOTAL) | F.col(ROW_PART),
        COL_OPEN: F.col(privacy.HIDE_DEST_TOTAL) | F.col(COL_PART)}).select(
        *sup.columns, ROW_PART, COL_PART, ROW_OPEN, COL_OPEN)


def publish_with_jobs_housing(jh_counts: DataFrame, counts: DataFrame, stats: DataFrame,
                              od: DataFrame, pv, jh_cfg, uncovered: DataFrame | None,
                              on_audit, keep: Callable[[DataFrame], DataFrame] = lambda d: d,
                              detach: Callable[[DataFrame], DataFrame] = lambda d: d,
                              max_rounds: int = 5):
    """jobs_housing, commute and commute_od published as one release (the same counts:
    employed residents = commuters = a commute_od row, live_and_work = the same-unit
    pair), one audit deciding every mask. ``jh_counts``: jobs_housing's true long form
    (:func:`mobsig.jobs_housing.counts_table`), ``counts``, ``stats``, ``od``:
    commute's (:func:`month_tables`); ``pv``, ``jh_cfg``: the privacy and jobs_housing
    config; ``uncovered``: the units without a cell site. jobs_housing is published
    first (:func:`mobsig.jobs_housing.publish_audited`), commute and commute_od follow
    its mask (:func:`publish_all`, with the joint audit of the three as ``pv.
    joint_audit`` says). Where the joint audit with the relations between commute_od's
    levels (a county pair = the sum of its township pairs) still finds a cell narrower
    than the width, what binds it can be a published jobs_housing count that no
    commute_od pair widens (on the test city a city's employed residents, 27): those
    (:func:`jobs_housing_holds`) are hidden in jobs_housing (primary cells of its
    audited rule: its complements follow) and all three are published again, until
    nothing more is held or ``max_rounds``. With ``pv.joint_audit`` = "gate" that audit
    is gated with the joint one. ``on_audit`` gets the audit of the whole release
    (:func:`mobsig.privacy_audit.combine` of jobs_housing's and commute's, with the
    joint audits; ``holds``: the jobs_housing cells held). Returns the published
    jobs_housing, commute and commute_od rows and the system of the release as a reader
    has it (the joint audit's with the relations between commute_od's levels, for
    ``privacy_systems``: linkage audits its commuters pairs with it; None when the joint
    audit is off)."""
    from mobsig import jobs_housing as jh
    from mobsig import privacy_audit as pa

    key = [C.LEVEL, C.UNIT_ID, C.MEASURE]
    holds = pd.DataFrame({c: pd.Series(dtype=str) for c in key})
    jh_true = None if pv.joint_audit == "off" else jobs_housing_counts(counts, od)
    for _ in range(max_rounds):
        jh_out, jh_audit = jh.publish_audited(
            jh_counts, pv.k_min, pv.complementary, pv.suppress_zeros, jh_cfg.balanced_min,
            jh_cfg.balanced_max, uncovered=uncovered, width=pv.width, holds=holds)
        jh_out = detach(jh_out)
        got: dict = {}
        out, od_out = publish_all(counts, stats, od, pv.k_min, pv.complementary,
                                  pv.suppress_zeros, pv.width,
                                  lambda a, got=got: got.setdefault("audit", a), keep,
                                  jobs_housing=jh_out, detach=detach,
                                  jobs_housing_counts=jh_true, joint=pv.joint_audit)
        whole = got["audit"]
        lv = whole.joint.reported if whole.joint is not None else None
        new = (lv.holds if pv.joint_audit == "gate" and lv is not None
               and lv.holds is not None else holds.iloc[:0])
        new = new[~pd.MultiIndex.from_frame(new[key]).isin(pd.MultiIndex.from_frame(holds))]
        if not len(new):
            break
        holds = pd.concat([holds, new[key]], ignore_index=True)
    audit = pa.combine({"jobs_housing": jh_audit, "commute": whole}, float(pv.width))
    audit.joint, audit.joint_gated, audit.holds = whole.joint, whole.joint_gated, holds
    on_audit(audit)
    system = None if whole.joint is None else (
        whole.joint.reported or whole.joint).solved
    return jh_out, out, od_out, system


def jobs_housing_counts(counts: DataFrame, od: DataFrame) -> DataFrame:
    """jobs_housing's employed residents and live_and_work of the month (true counts,
    long form: ``level``, ``unit_id``, ``parent_id``, ``measure``, ``raw_count``) from
    commute's own: employed residents are the commuters (the same cards, residents with
    a home and a work place, placed in the units by the same assignment), live_and_work
    the same-unit pairs of ``od`` (:func:`od_counts`; 0 where there is none). ``counts``:
    :func:`complete`'s long form. Without a second spatial join of the month's cards
    (jobs_housing's :func:`mobsig.jobs_housing.counts_table`, which gives the same counts,
    tests/test_commute.py; its table also has the H3 cells that hold only non-residents'
    work places, with both counts 0: :func:`joint_with_jobs_housing` adds them from the
    published table)."""
    emp = counts.where(F.col(C.MEASURE) == COMMUTERS).select(
        C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.RAW_COUNT)
    same = od.where(F.col(privacy.ORIGIN_ID) == F.col(privacy.DEST_ID)).select(
        C.LEVEL, F.col(privacy.ORIGIN_ID).alias(C.UNIT_ID), F.col(C.RAW_COUNT).alias("_lw"))
    lw = emp.join(same, [C.LEVEL, C.UNIT_ID], how="left").select(
        C.LEVEL, C.UNIT_ID, C.PARENT_ID,
        F.coalesce(F.col("_lw"), F.lit(0)).cast("bigint").alias(C.RAW_COUNT))
    return emp.withColumn(C.MEASURE, F.lit(C.EMPLOYED_RESIDENTS)).unionByName(
        lw.withColumn(C.MEASURE, F.lit(C.LIVE_AND_WORK)))


def joint_with_jobs_housing(parts: dict, counts: DataFrame, jobs_housing: DataFrame,
                            k_min: int, width: float, suppress_zeros: bool,
                            repair: bool = True, max_rounds: int = 20):
    """The joint audit (:func:`mobsig.privacy_audit.joint_audit`) of jobs_housing's
    employed residents and live_and_work as published (its mask on the true ``counts``,
    :func:`mobsig.jobs_housing.employed_audit`) with ``parts``' ``commute`` (the unit
    table) and ``commute_od`` audits as exported (:func:`od_as_exported` without the
    relations between its levels: every pair it does not list an unknown >= 0, as a
    reader has them; with the absent pairs as known zeros instead, jobs_housing's
    inner_commuters of a city were pinned on the test city, which a reader cannot do),
    linked by the counts they share (:func:`shared_count_links`). With ``repair``, each
    cell narrower than ``width`` gets, in each relation that binds it, its cheapest
    published commute_od pair of two units hidden (:func:`joint_complements`; hiding a
    cell never narrows another's interval, so the releases' own audits still hold), until
    the joint audit passes, nothing is left to hide or ``max_rounds``. Returns the audit
    (``added``: the pairs hidden; ``reported``: the same audit of the repaired releases
    with the relations between commute_od's levels, a county pair = the sum of its
    township pairs (:func:`od_as_exported`), repaired the same way (its pairs are
    returned too) and reported, not gated: what the gated audit leaves out; on the test
    city what it still finds is
    bounded by jobs_housing's published counts, which no commute_od pair can widen;
    ``notes``: levels too large for it) and those pairs (``level``,
    ``origin_id``, ``dest_id``) for :func:`mobsig.privacy_audit.hide_more`."""
    from mobsig import jobs_housing as jh

    f = jh_flags(jobs_housing)
    hid = F.when(F.col(C.MEASURE) == C.EMPLOYED_RESIDENTS, F.col("_emp_hidden")).otherwise(
        F.col("_lw_hidden"))
    mine = counts.where(F.col(C.MEASURE).isin(C.EMPLOYED_RESIDENTS, C.LIVE_AND_WORK))
    # jobs_housing's units that ``counts`` lacks (H3 cells holding only non-residents'
    # work places): both counts 0, in the state jobs_housing publishes them
    rest = jobs_housing.select(C.LEVEL, C.UNIT_ID, C.PARENT_ID).join(
        mine.select(C.LEVEL, C.UNIT_ID).distinct(), [C.LEVEL, C.UNIT_ID], how="left_anti"
    ).select(C.LEVEL, C.UNIT_ID, C.PARENT_ID, F.explode(F.array(
        F.lit(C.EMPLOYED_RESIDENTS), F.lit(C.LIVE_AND_WORK))).alias(C.MEASURE),
        F.lit(0).cast("bigint").alias(C.RAW_COUNT))
    pdf = mine.select(C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.MEASURE, C.RAW_COUNT).unionByName(
        rest).join(F.broadcast(f), [C.LEVEL, C.UNIT_ID], how="left").select(
        C.LEVEL, C.UNIT_ID, C.PARENT_ID, C.MEASURE, C.RAW_COUNT,
        F.coalesce(hid, F.lit(False)).alias(C.IS_SUPPRESSED)).toPandas()
    pdf = pdf.sort_values([C.LEVEL, C.UNIT_ID, C.MEASURE], ignore_index=True)  # (stable)
    both = {"jobs_housing": jh.employed_audit(pdf, k_min, width, suppress_zeros),
            "commute": parts["commute"],
            "commute_od": od_as_exported(parts["commute_od"], parts["commute"], False)[0]}
    result, pairs = joint_repair(both, width, suppress_zeros, repair, max_rounds)
    # with the relations between commute_od's levels, on the repaired release: repaired
    # the same way (published pairs hidden where they bind a narrow cell) and reported
    # (Audit.reported), not gated (see the README: what no commute_od pair can widen)
    full, left = od_as_exported(parts["commute_od"], parts["commute"], True)
    s = both["commute_od"].solved  # the same cells, in the same order (od_unlisted)
    assert (full.solved.keys[C.UNIT_ID].to_numpy() == s.keys[C.UNIT_ID].to_numpy()).all()
    levels = dict(both, commute_od=dataclasses.replace(full, solved=dataclasses.replace(
        full.solved, hidden=s.hidden, zero_unknown=s.zero_unknown)))
    result.reported, more = joint_repair(levels, width, suppress_zeros, repair, max_rounds)
    result.reported.holds = jobs_housing_holds(result.reported)
    result.added += result.reported.added
    pairs = pd.concat([pairs, more], ignore_index=True)
    result.notes += [f"commute_od's {lv} level has more unlisted pairs than "
                     f"privacy_audit.OD_PAD_MAX: the reported audit takes them as zeros"
                     for lv in left]
    return result, pairs


def jobs_housing_holds(result) -> pd.DataFrame:
    """The published jobs_housing cells (``level``, ``unit_id``, ``measure``: employed
    residents or live_and_work, not 0) to hide for a joint audit ``result`` (of
    :func:`joint_repair`) to pass: for each cell narrower than its width, the smallest
    such cell in each relation that binds it (every relation it is in when none binds
    it). On the test city two small published employed-residents totals (a city's 27, a
    county's 28) capped pairs between two of their child units at 12-13, and no
    commute_od pair could widen them (README Privacy audit)."""
    from mobsig import privacy_audit as pa

    keys = result.solved.keys
    cand = (keys[C.LEVEL].str.startswith("jobs_housing: ").to_numpy()
            & keys["cell"].isin([C.EMPLOYED_RESIDENTS, C.LIVE_AND_WORK]).to_numpy()
            & ~result.solved.hidden & (keys[C.RAW_COUNT].to_numpy(float) > 0))
    k = keys.iloc[pa.binding_picks(result, cand)]
    return pd.DataFrame({C.LEVEL: k[C.LEVEL].str.replace(r"^jobs_housing: ", "", regex=True)
                         .to_numpy(), C.UNIT_ID: k[C.UNIT_ID].to_numpy(),
                         C.MEASURE: k["cell"].to_numpy()})


def joint_repair(both: dict, width: float, suppress_zeros: bool, repair: bool = True,
                 max_rounds: int = 20):
    """:func:`joint_with_jobs_housing`'s audit and repair on the parts ``both``
    (``jobs_housing``, ``commute``, ``commute_od``: audits with their ``solved``
    systems, the last as exported)."""
    from mobsig import privacy_audit as pa

    t0 = time.perf_counter()
    links = shared_count_links(both)
    od = both["commute_od"]
    start = sum(len(both[k].solved.keys) for k in both if k != "commute_od")
    more = np.zeros(len(od.solved.keys), bool)
    n_prog = rounds = 0
    for _ in range(max_rounds):
        result = pa.joint_audit(both, links, width, suppress_zeros)
        n_prog += result.n_programs
        rounds += 1
        pick = joint_complements(result, start, both["commute_od"].solved) if (
            repair and not result.passed) else []
        if not len(pick):
            break
        more[pick] = True
        s = od.solved  # a pair hidden here is not listed either: lower bound 0
        both["commute_od"] = dataclasses.replace(od, solved=dataclasses.replace(
            s, hidden=s.hidden | more, zero_unknown=s.zero_unknown | more))
    result.added = int(more.sum())
    result.rounds, result.n_programs = rounds, n_prog  # of every round, as the seconds
    result.seconds = time.perf_counter() - t0
    keys = od.solved.keys[more]
    ends = keys[C.UNIT_ID].str.split(">", n=1)
    return result, pd.DataFrame({C.LEVEL: keys[C.LEVEL].to_numpy(),
                                 privacy.ORIGIN_ID: ends.str[0].to_numpy(),
                                 privacy.DEST_ID: ends.str[1].to_numpy()})


def joint_complements(result, start: int, od) -> np.ndarray:
    """Positions (in commute_od's audited table ``od``, a :class:`~mobsig.privacy_audit.
    Solved` beginning at ``start`` in the joint system) of the published pairs of two
    units to hide: for each cell of the joint audit ``result`` narrower than its width,
    the smallest published such pair in each relation that binds it (every relation it is
    in when none binds it)."""
    from mobsig import privacy_audit as pa

    k = od.keys
    ends = k[C.UNIT_ID].str.split(">", n=1)
    cand = np.zeros(len(result.solved.keys), bool)
    ok = (k[C.UNIT_ID].str.contains(">", regex=False)
          & ~k[C.UNIT_ID].str.startswith(("row:", "col:", "whole:"))
          & (ends.str[0] != ends.str[1])).to_numpy() & ~od.hidden
    cand[start:start + len(k)] = ok
    return np.array(pa.binding_picks(result, cand), dtype=np.int64) - start


def od_totals_as_published(od, unit=None):
    """commute_od's audit (``od``) as its export shows it, for the joint audit: its row
    and column totals in the state commute publishes them (``unit``: commute's audit; a
    row total is the origin's commuters, a column total the destination's inbound
    commuters; commute_od's own audit takes every total it does not withhold as public,
    stricter than the release where commute hides one), and its hidden pairs of two
    different units with the lower bound 0: the export lists no hidden pair
    (:data:`mobsig.publish.UNLISTED_HIDDEN`), so a pair not listed is zero or
    suppressed (commute_od's own audit keeps the bound 1 a listed hidden pair would have:
    stricter). A same-unit pair keeps its bound: it is jobs_housing's live_and_work,
    whose zeros are published there."""
    s = od.solved
    k = s.keys
    pair = k[C.UNIT_ID].str.contains(">", regex=False) & ~k[C.UNIT_ID].str.startswith(
        ("row:", "col:", "whole:"))
    ends = k[C.UNIT_ID].str.split(">", n=1)
    other = (pair & (ends.str[0] != ends.str[1])).to_numpy()
    side = k[C.UNIT_ID].str.split(":", n=1)
    measure = side.str[0].map({"row": COMMUTERS, "col": INBOUND})
    if unit is None:  # no unit table: the totals as commute_od's audit has them
        return dataclasses.replace(od, solved=dataclasses.replace(
            s, zero_unknown=s.zero_unknown | (s.hidden & other)))
    u = unit.solved.keys
    state = pd.Series(unit.solved.hidden, index=pd.MultiIndex.from_arrays(
        [u[C.LEVEL], u[C.UNIT_ID], u["cell"]]))
    state = state[~state.index.duplicated()]
    look = pd.MultiIndex.from_arrays([k[C.LEVEL], side.str[1].fillna(""),
                                      measure.fillna("")])
    found = state.reindex(look)
    hidden = np.where(measure.notna().to_numpy() & found.notna().to_numpy(),
                      found.eq(True).to_numpy(bool), s.hidden)
    return dataclasses.replace(od, solved=dataclasses.replace(
        s, hidden=hidden, zero_unknown=s.zero_unknown | (hidden & other)))


def od_as_exported(od, unit, blocks: bool = True):
    """commute_od's audit (``od``) as its export shows it to a reader who also has
    commute's unit table (``unit``: its audit): :func:`od_totals_as_published`, then
    every pair the export does not list as an unknown >= 0 and the relations between
    its levels (a county pair = the sum of its township pairs; :func:`mobsig.
    privacy_audit.od_unlisted`, with the units' commuters and inbound commuters and
    their parent units from ``unit``'s table; ``blocks`` false: without those). Returns
    the audit and the levels left with their unlisted pairs as known zeros (too many
    pairs)."""
    from mobsig import privacy_audit as pa

    out = od_totals_as_published(od, unit)
    u = unit.solved.keys
    par = unit.solved.system.parent
    side = {m: u["cell"] == m for m in (COMMUTERS, INBOUND)}
    flag = {m: pd.Series(u[C.RAW_COUNT].to_numpy() > 0)[side[m].to_numpy()].set_axis(
        pd.MultiIndex.from_frame(u.loc[side[m], [C.LEVEL, C.UNIT_ID]])) for m in side}
    ends = pd.DataFrame({"origin": flag[COMMUTERS], "dest": flag[INBOUND]}).fillna(
        False).rename_axis([C.LEVEL, C.UNIT_ID]).reset_index()
    i = np.flatnonzero(side[COMMUTERS].to_numpy() & (par >= 0))
    parents = pd.DataFrame({C.LEVEL: u[C.LEVEL].to_numpy()[i],
                            C.UNIT_ID: u[C.UNIT_ID].to_numpy()[i],
                            "parent_level": u[C.LEVEL].to_numpy()[par[i]],
                            "parent_id": u[C.UNIT_ID].to_numpy()[par[i]]})
    solved, left = pa.od_unlisted(out.solved, ends, parents, blocks=blocks)
    return dataclasses.replace(out, solved=solved), left


def shared_count_links(parts: dict) -> pd.DataFrame:
    """The relations between jobs_housing's, commute's and commute_od's audited cells
    (``parts``: name -> audit with its ``solved`` keys), as :func:`mobsig.privacy_audit.
    joint_audit`'s ``links``: a unit's employed residents (jobs_housing) = its commuters
    (commute) = the sum of its commute_od row; its live_and_work = its same-unit pair;
    its inbound commuters = the sum of its commute_od column (each kept where it holds,
    else as the inequality that holds)."""
    def terms(part: str, rel: pd.Series, keys: pd.DataFrame, coef: float) -> pd.DataFrame:
        return pd.DataFrame({"rel": rel.to_numpy(), "part": part,
                             C.LEVEL: keys[C.LEVEL].to_numpy(),
                             C.UNIT_ID: keys[C.UNIT_ID].to_numpy(),
                             "cell": keys["cell"].to_numpy(), "coef": coef})
    out = []
    if "jobs_housing" in parts:
        j = parts["jobs_housing"].solved.keys
    else:
        j = pd.DataFrame(columns=[C.LEVEL, C.UNIT_ID, "cell"])
    for m, rels in ((C.EMPLOYED_RESIDENTS, ("emp", "row")), (C.LIVE_AND_WORK, ("lw",))):
        k = j[j["cell"] == m]
        out += [terms("jobs_housing", r + " " + k[C.LEVEL] + " " + k[C.UNIT_ID], k, 1.0)
                for r in rels]
    c = (parts["commute"].solved.keys if "commute" in parts
         else pd.DataFrame(columns=[C.LEVEL, C.UNIT_ID, "cell"]))
    for m, rel, coef in ((COMMUTERS, "emp", -1.0), (INBOUND, "in", 1.0)):
        k = c[c["cell"] == m]
        out.append(terms("commute", rel + " " + k[C.LEVEL] + " " + k[C.UNIT_ID], k, coef))
    o = parts["commute_od"].solved.keys
    o = o[o[C.UNIT_ID].str.contains(">", regex=False)
          & ~o[C.UNIT_ID].str.startswith(("row:", "col:", "whole:"))]
    ends = o[C.UNIT_ID].str.split(">", n=1)
    orig, dest = ends.str[0], ends.str[1]
    out.append(terms("commute_od", "row " + o[C.LEVEL] + " " + orig, o, -1.0))
    out.append(terms("commute_od", "in " + o[C.LEVEL] + " " + dest, o, -1.0))
    same = (orig == dest).to_numpy()
    out.append(terms("commute_od", ("lw " + o[C.LEVEL] + " " + orig)[same], o[same], -1.0))
    return pd.concat(out, ignore_index=True)


# the splits of a unit's commuters, published or withdrawn as a whole (zeros included)
SPLITS: dict[str, tuple[str, ...]] = {
    "timing": (TIMED, UNTIMED),
    "distance": (DIST_SHORT, DIST_LONG),
    "time_bands": (TIME_SHORT, TIME_MEDIUM, TIME_LONG),
}
# a split withdrawn at a unit withdraws these too (timed hidden: the bands would add up
# to it, and commuters - timed is untimed)
SPLIT_NEEDS = {"timing": ("time_bands",)}


def split_mask(pdf: pd.DataFrame, width: float, suppress_zeros: bool = False,
               max_rounds: int = 200):
    """The audited rule of the ``commute`` unit table (issue 17 item 2): which splits of
    which units are published. ``pdf``: the long form with true counts (``level``,
    ``unit_id``, ``parent_id``, ``measure``, ``raw_count``) and ``is_suppressed`` (the
    totals' state decided elsewhere: jobs_housing's employed residents and the totals
    commute_od withholds; the parts' state under the group rule). Returns the hidden mask
    (rows of ``pdf``) and the audit of the result.

    A split (:data:`SPLITS`) of a unit is published whole or withdrawn whole, its zeros
    included, so a reader cannot tell a withdrawn part from a zero (its lower bound is 0:
    published zeros no longer pin the parts, e.g. timed = commuters - untimed where
    untimed is 0 in every child). It starts withdrawn where the unit's commuters are
    hidden or the group rule hid any of its parts; :data:`SPLIT_NEEDS` and the group
    rule (no lone withdrawn sibling: a second one, the unit with the fewest commuters,
    zero-commuter units last) are applied after every step; then
    audit (:func:`mobsig.privacy_audit.audit`, identities and every layer at once) and,
    for each cell narrower than ``width``, withdraw the split of one published part in
    each relation that binds it (the unit with the fewest commuters at least ``width``,
    else the most), where none is left the cell's split at every unit of its level
    (not where the unit's commuters are hidden: its parts are then bounded by the
    total's interval, which jobs_housing's audit protects); until the audit passes or
    nothing is left to withdraw (the gate then fails). It ends: every round withdraws a
    split or stops, and with every split withdrawn each part of a unit with published
    commuters C ranges over [0, C] (C >= ``k_min``; a unit's zero commuters pin its zero
    parts, which reveals nobody). ``commuters`` keeps its state (jobs_housing's employed
    residents), and so does every hidden total; a hidden ``inbound_commuters`` that its
    layer pins (hidden by the OD rule or beside a hidden live_and_work while every child
    unit's inbound is published: the city of the test city, 27 + 26 + 48 + 0 + 0 + 0)
    has a published inbound total of the relation that binds it hidden too (the
    smallest at least ``width``, else the largest; parts are preferred where a relation
    has both), and its sibling group keeps no lone hidden inbound (the group rule: a
    second one, non-zero first, the smallest). No other release decides a published
    inbound count: hiding one only withholds a column total of commute_od."""
    from mobsig import privacy_audit as pa

    pdf = pdf.reset_index(drop=True)
    fam_of = {m: f for f, parts in SPLITS.items() for m in parts}
    fams = list(SPLITS)
    meas = pdf[C.MEASURE].astype(str).to_numpy()
    fam = np.array([fams.index(fam_of[m]) if m in fam_of else -1 for m in meas])
    unit, units = pd.factorize(pdf[C.LEVEL].astype(str) + "\x1f" + pdf[C.UNIT_ID].astype(str))
    level_of = np.array([u.split("\x1f")[0] for u in units])
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy(float)
    sup = pdf[C.IS_SUPPRESSED].fillna(False).to_numpy(bool)
    is_c = meas == COMMUTERS
    n_u = len(units)
    c_raw = np.zeros(n_u)
    c_hid = np.zeros(n_u, bool)
    c_raw[unit[is_c]], c_hid[unit[is_c]] = raw[is_c], sup[is_c]
    fixed_zero = ~c_hid & (c_raw == 0)  # zero commuters published: its parts are 0
    free = (meas == INBOUND) & ~sup  # published inbound totals: complements of last resort
    room_of = np.where(free, raw, 0.0)
    inb = np.flatnonzero(meas == INBOUND)
    inb_group = pd.factorize(pdf[C.LEVEL].astype(str).to_numpy()[inb] + "\x1f" + pdf[
        C.PARENT_ID].astype(object).where(pdf[C.PARENT_ID].notna(), "").astype(str)
        .to_numpy()[inb])[0]
    # the group rule's order: non-zero first, then the smallest count, then the unit
    inb_order = inb[np.lexsort((pdf[C.UNIT_ID].astype(str).to_numpy()[inb], raw[inb],
                                raw[inb] == 0))]
    inb_pos = np.full(len(pdf), -1)
    inb_pos[inb] = inb_group

    def close_inbound(extra: np.ndarray) -> np.ndarray:
        """No lone hidden inbound total among its siblings (the group rule)."""
        while True:
            hid = (sup | extra)[inb]
            lone = (np.bincount(inb_group, weights=hid) == 1) & (np.bincount(inb_group) > 1)
            cand = inb_order[lone[inb_pos[inb_order]] & ~(sup | extra)[inb_order]]
            if not len(cand):
                return extra
            _, first_of = np.unique(inb_pos[cand], return_index=True)
            extra = extra.copy()
            extra[cand[first_of]] = True
    out = np.zeros((n_u, len(fams)), bool)
    out[c_hid] = True
    part = fam >= 0
    out[unit[part & sup], fam[part & sup]] = True

    first = pd.Series(np.arange(len(pdf))).groupby(unit).first().to_numpy()
    group = pd.factorize(level_of + "\x1f" + pdf[C.PARENT_ID].astype(object).where(
        pdf[C.PARENT_ID].notna(), "").astype(str).to_numpy()[first])[0]
    size = np.bincount(group)
    # the sibling to withdraw beside a lone one: units with commuters first, fewest first
    pick_order = np.lexsort((np.arange(n_u), c_raw, fixed_zero))

    def close(w: np.ndarray) -> np.ndarray:
        while True:
            for f, needs in SPLIT_NEEDS.items():
                for g in needs:
                    w[:, fams.index(g)] |= w[:, fams.index(f)]
            more = False
            for f in range(len(fams)):  # no lone withdrawn sibling (the group rule)
                lone = (np.bincount(group, weights=w[:, f], minlength=len(size)) == 1) & (
                    size > 1)
                if not lone.any():
                    continue
                cand = pick_order[lone[group[pick_order]] & ~w[pick_order, f]]
                _, first_of = np.unique(group[cand], return_index=True)
                w[cand[first_of], f] = True
                more = True
            if not more:
                return w

    system = pa.relations(pdf, IDENTITIES, None, C.MEASURE)
    rows = system.rows.tocsr()
    cols_t = system.rows.T.tocsr()
    cache: dict = {}
    out = close(out)
    extra = np.zeros(len(pdf), bool)  # inbound totals hidden as complements
    for rnd in range(max_rounds + 1):
        hidden = np.where(part, out[unit, np.maximum(fam, 0)], sup | extra)
        result = pa.audit(pdf, hidden, width, suppress_zeros=suppress_zeros, system=system,
                          identities=IDENTITIES, additive=None, by=C.MEASURE, cache=cache,
                          unknown_zero=part & hidden)
        result.rounds = rnd
        if result.passed or rnd == max_rounds:
            break
        new, new_extra = out.copy(), extra.copy()
        for p in result.cells.loc[~result.cells[pa.PROTECTED], "pos"].to_numpy():
            bind = result.binding.get(int(p)) or set(cols_t.indices[
                cols_t.indptr[p]:cols_t.indptr[p + 1]].tolist())
            found = False
            for r in sorted(bind):
                js = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
                js = js[~hidden[js] & ((part[js] & ~fixed_zero[unit[js]]) | free[js])]
                if not len(js):
                    continue
                room = np.where(free[js], room_of[js], c_raw[unit[js]])
                order = np.lexsort((unit[js], np.where(room >= width, room, -room),
                                    room < width, free[js]))
                j = js[order[0]]
                if free[j]:
                    new_extra[j] = True
                else:
                    new[unit[j], fam[j]] = True
                found = True
            if not found and fam[p] >= 0 and not c_hid[unit[p]]:
                new[level_of == level_of[unit[p]], fam[p]] = True
        new, new_extra = close(new), close_inbound(new_extra)
        if (new == out).all() and (new_extra == extra).all():
            break
        out, extra = new, new_extra
    result.added = int((hidden & ~sup).sum())
    return hidden, result


JH_FIXED = "_jh_fixed"  # a same-unit pair whose state jobs_housing decided (live_and_work)
JH_KEEP_ROW = "_jh_keep_row"  # an origin whose row total jobs_housing publishes
JH_SECRET_ROW = "_jh_secret_row"  # an origin whose row total jobs_housing hides


def jh_flags(jobs_housing: DataFrame) -> DataFrame:
    """Per unit of jobs_housing: ``_emp_hidden`` / ``_emp_public`` (employed residents
    hidden, or a count published), ``_lw_hidden`` / ``_lw_public`` (live_and_work)."""
    cols = [C.LEVEL, C.UNIT_ID]
    for m, tag in ((C.EMPLOYED_RESIDENTS, "emp"), (C.LIVE_AND_WORK, "lw")):
        hid = F.coalesce(F.col(suppressed_col(m)), F.lit(False))
        cols += [hid.alias(f"_{tag}_hidden"),
                 (~hid & F.col(f"{m}_{C.RAW_COUNT}").isNotNull()).alias(f"_{tag}_public")]
    return jobs_housing.select(*cols)


def inbound_follows_live_and_work(od: DataFrame, jobs_housing: DataFrame) -> DataFrame:
    """``level``, ``unit_id``, ``measure`` (= inbound_commuters), ``_follow`` (true:
    hidden, false: published): the units whose inbound commuters must keep the state
    jobs_housing gives their live_and_work (issue 17). Inbound commuters = live_and_work
    + the commuters from other units (commute_od's column without its same-unit pair);
    where ``od`` (commute_od's rows as published, ``is_suppressed``) hides no pair of
    that column from another unit (none at all: nobody from another unit works there,
    inbound = live_and_work; or every one published) a reader has the difference, so
    one published and the other hidden would give the hidden one back. Those units'
    inbound commuters are hidden where jobs_housing hides live_and_work (``_follow``
    true; elsewhere commute's rule decides: a hidden inbound beside a published
    live_and_work and a fully published column is not prevented)."""
    hid_pair = od.where(F.col(C.IS_SUPPRESSED) & (F.col(privacy.ORIGIN_ID)
                                                 != F.col(privacy.DEST_ID))).select(
        C.LEVEL, F.col(privacy.DEST_ID).alias(C.UNIT_ID)).distinct()
    # only the hidden state is followed: inbound also counts workers whose home lies
    # outside every unit of the level (in no commute_od pair), so a published
    # live_and_work does not make a small inbound count publishable (the city: 1, 4, 9)
    f = jh_flags(jobs_housing).where(F.col("_lw_hidden"))
    return f.join(hid_pair, [C.LEVEL, C.UNIT_ID], how="left_anti").select(
        C.LEVEL, C.UNIT_ID, F.lit(INBOUND).alias(C.MEASURE),
        F.col("_lw_hidden").alias("_follow"))


def jh_hidden_employed(jobs_housing: DataFrame) -> DataFrame:
    """``level``, ``unit_id``, ``measure`` (= commuters) of the units whose employed
    residents jobs_housing hides."""
    return jh_flags(jobs_housing).where("_emp_hidden").select(
        C.LEVEL, C.UNIT_ID, F.lit(COMMUTERS).alias(C.MEASURE))


def with_jobs_housing_mask(first: DataFrame, jobs_housing: DataFrame,
                           detach: Callable[[DataFrame], DataFrame] = lambda d: d
                           ) -> DataFrame:
    """commute_od rows (:func:`publish_od`) made consistent with jobs_housing's published
    mask (the same counts): a same-unit pair is hidden where jobs_housing hides its
    live_and_work and keeps its state either way (``_jh_fixed``: never a complement); an
    origin whose employed residents jobs_housing hides has its row total withheld
    (``hide_origin_total``) and audited as a hidden cell of its own (``_jh_secret_row``:
    the audit's ``secret_rows``; the other totals must not pin it, e.g. the column
    totals minus the other rows), one whose employed residents it publishes keeps it public
    (``_jh_keep_row``: the audit must protect its cells otherwise, never by withholding
    a total the reader has from jobs_housing: 26 employed residents - 19 live_and_work
    - published zeros pinned a hidden pair at 7 on the test city). A hidden
    live_and_work without a pair (0) gets a hidden same-unit row. ``detach`` materialises
    the masked rows before :func:`hide_a_pair_of_split_rows`, which reads them ~15 times
    (the job's ``ctx.detach``; :func:`publish_all`)."""
    f = jh_flags(jobs_housing).withColumnRenamed(C.UNIT_ID, privacy.ORIGIN_ID)
    # a live_and_work jobs_housing hides with no pair here (its count is 0: a complement
    # of last resort) gets its same-unit row, hidden: no row would read as a published 0
    pair = [C.LEVEL, privacy.ORIGIN_ID, privacy.DEST_ID]
    missing = f.where("_lw_hidden").join(first.select(C.LEVEL).distinct(), C.LEVEL).select(
        C.LEVEL, privacy.ORIGIN_ID, F.col(privacy.ORIGIN_ID).alias(privacy.DEST_ID)
    ).join(first.select(*pair), pair, how="left_anti").select(
        *pair, F.lit(True).alias(C.IS_SUPPRESSED),
        F.lit(False).alias(privacy.HIDE_ORIGIN_TOTAL),
        F.lit(False).alias(privacy.HIDE_DEST_TOTAL))
    first = first.unionByName(missing, allowMissingColumns=True)
    j = first.join(F.broadcast(f), [C.LEVEL, privacy.ORIGIN_ID], how="left")
    diag = F.col(privacy.ORIGIN_ID) == F.col(privacy.DEST_ID)
    lw_hid = F.coalesce(F.col("_lw_hidden"), F.lit(False))
    hide = diag & lw_hid & ~F.col(C.IS_SUPPRESSED)
    emp_pub = F.coalesce(F.col("_emp_public"), F.lit(False))
    emp_hid = F.coalesce(F.col("_emp_hidden"), F.lit(False))
    out = {c: F.when(hide, F.lit(None)).otherwise(F.col(c))
           for c in (C.RAW_COUNT, C.EXPANDED_COUNT)}
    out[C.IS_SUPPRESSED] = F.col(C.IS_SUPPRESSED) | hide
    out[privacy.HIDE_ORIGIN_TOTAL] = (F.col(privacy.HIDE_ORIGIN_TOTAL) & ~emp_pub) | emp_hid
    out[JH_FIXED] = diag & (lw_hid | F.coalesce(F.col("_lw_public"), F.lit(False)))
    out[JH_KEEP_ROW] = emp_pub
    out[JH_SECRET_ROW] = emp_hid
    done = j.withColumns(out).drop("_emp_hidden", "_emp_public", "_lw_hidden", "_lw_public")
    return hide_a_pair_of_split_rows(detach(done), f)


def hide_a_pair_of_split_rows(od: DataFrame, flags: DataFrame) -> DataFrame:
    """commute_od rows (:func:`with_jobs_housing_mask`) where no row adds up to a count
    jobs_housing hides (issue 17): a row is the origin's employed residents (absent
    pairs are published zeros) and its same-unit pair its live_and_work, so where
    jobs_housing hides exactly one of the two (``flags``: :func:`jh_flags`, ``unit_id``
    named ``origin_id``) a row with no hidden pair to another unit gives it back by
    addition (the hidden employed residents = the published pairs' sum; a hidden
    live_and_work = the published employed residents - the other pairs, even where the
    same-unit pair is the row's only one, which had no total in the audit). Such a row
    gets one pair to another unit hidden before the audit: its smallest published
    non-zero pair, else a zero pair added as a hidden row (the destination whose column
    already hides the most pairs, then the one with the most published commuters, then
    the first id): the audit then protects it like any hidden cell, so the hidden count
    is as wide as that pair, and linkage follows commute_od's mask."""
    o, d = privacy.ORIGIN_ID, privacy.DEST_ID
    row = [C.LEVEL, o]
    off = F.col(o) != F.col(d)
    split = flags.where(F.coalesce(F.col("_emp_hidden"), F.lit(False))
                        != F.coalesce(F.col("_lw_hidden"), F.lit(False))).select(
        *row, F.col("_emp_public").alias("_keep"), F.col("_emp_hidden").alias("_secret"))
    split = split.join(od.select(C.LEVEL).distinct(), C.LEVEL, how="left_semi").join(
        od.where(off & F.col(C.IS_SUPPRESSED)).select(*row).distinct(), row, how="left_anti")
    cand = od.where(off & ~F.col(C.IS_SUPPRESSED) & (F.col(C.RAW_COUNT) > 0)).join(
        split.select(*row), row, how="left_semi")
    rank = F.row_number().over(Window.partitionBy(*row).orderBy(C.RAW_COUNT, d))
    pick = cand.select(*row, d, rank.alias("_r")).where("_r = 1").select(
        *row, d, F.lit(True).alias("_pick"))
    keyed = od.join(F.broadcast(pick), [*row, d], how="left")
    hide = F.coalesce(F.col("_pick"), F.lit(False))
    keyed = keyed.withColumns({c: F.when(hide, F.lit(None)).otherwise(F.col(c))
                               for c in (C.RAW_COUNT, C.EXPANDED_COUNT)}).withColumn(
        C.IS_SUPPRESSED, F.col(C.IS_SUPPRESSED) | hide).drop("_pick")
    # rows with no published pair to another unit: a zero pair, added hidden
    bare = split.join(cand.select(*row).distinct(), row, how="left_anti")
    cols = od.where(off).groupBy(C.LEVEL, d).agg(
        F.sum(F.col(C.IS_SUPPRESSED).cast("int")).alias("_nh"),
        F.sum(F.coalesce(F.col(C.RAW_COUNT), F.lit(0))).alias("_n"))
    dests = od.select(C.LEVEL, F.col(o).alias(d)).unionByName(od.select(C.LEVEL, d)).distinct()
    opts = bare.join(dests, C.LEVEL).where(F.col(o) != F.col(d)).join(
        od.select(*row, d), [*row, d], how="left_anti").join(cols, [C.LEVEL, d], how="left")
    best = F.row_number().over(Window.partitionBy(*row).orderBy(
        F.coalesce("_nh", F.lit(0)).desc(), F.coalesce("_n", F.lit(0)).desc(), d))
    zeros = opts.select(*row, d, "_keep", "_secret", best.alias("_r")).where("_r = 1")
    names = [c for c in od.columns if c.startswith("origin_") and c != o]
    dnames = [c for c in od.columns if c.startswith("dest_") and c != d]
    if names:
        zeros = zeros.join(od.select(*row, *names).dropDuplicates(row), row, how="left")
    if dnames:
        zeros = zeros.join(od.select(C.LEVEL, d, *dnames).dropDuplicates([C.LEVEL, d]),
                           [C.LEVEL, d], how="left")
    added = zeros.select(*row, d, *names, *dnames, F.lit(True).alias(C.IS_SUPPRESSED),
                         F.lit(False).alias(privacy.HIDE_ORIGIN_TOTAL),
                         F.lit(False).alias(privacy.HIDE_DEST_TOTAL),
                         F.lit(False).alias(JH_FIXED),
                         F.coalesce(F.col("_keep"), F.lit(False)).alias(JH_KEEP_ROW),
                         F.coalesce(F.col("_secret"), F.lit(False)).alias(JH_SECRET_ROW))
    return keyed.unionByName(added, allowMissingColumns=True)


def unsuppressed(t: MonthTables) -> DataFrame:
    """The month's ``commute`` rows before suppression (counts, shares and statistics
    of every unit; for ``mobsig evaluate`` and the tests)."""
    return with_stats(spread(t.counts), t.stats)


def publish_od(od: DataFrame, k_min: int, complementary: bool) -> DataFrame:
    """The published ``commute_od`` rows (with ``privacy.HIDE_DEST_TOTAL`` and
    ``HIDE_ORIGIN_TOTAL``, which :func:`publish_all` drops after passing them to
    :func:`publish`): ``privacy.with_od_suppression`` per level,
    same-unit pairs public (jobs_housing publishes them as live_and_work)."""
    return privacy.with_od_suppression(od, k_min, complementary, public_diagonal=True)
