"""Service population and catchments 服务人口与服务范围 of zones (domain.md §C): for each
polygon of a chosen unit layer (a *zone*: a transport hub, a park, a CBD, a heritage area,
any polygon layer of the ``units`` table), who spends time there and where the visitors
live.

Pure transforms; the ``service_population`` job reads the month's stays, ``card_places``,
the expansion factors and the ``units`` table and chains them:

1. :func:`stay_pieces`: each stay of a counted card (a ``card_places`` row) cut at local
   midnight (``residence.day_pieces``), days of the month only.
2. :func:`zone_days`: per card, zone and day, the time its stays inside the zone add up
   to that day (Sedona point-in-polygon, ``population.units_containing``: a stay inside
   two overlapping zones counts in both), kept when it reaches ``min_stay_s``.
3. :func:`card_roles` / :func:`with_roles`: the card's role in the zone for the month:
   ``resident`` (a resident card, pop_class resident, whose home is inside the zone),
   else ``worker`` (its work place is inside the zone), else ``visitor``.
4. :func:`role_counts` and :func:`complete_roles`: distinct cards (``raw_count``) and
   summed expansion factors (``expanded_count``, ``population.user_weights``) per zone
   (and day) and role, plus ``total`` = the three roles; every zone (and day with data)
   and role present, zeros filled.
5. :func:`catchment_counts`: the zone's visitors by the unit of their home, at every
   home level (county, township, ...) and on the H3 grid; a visitor without a home in a
   level's units (not a resident card, home unidentified, or outside every unit) is in
   that level's ``unknown`` cell, so each level's cells add up to the zone's visitors.
6. :func:`catchment_radius`: the distance from the zone (0 inside) to its visitors'
   homes that covers ``quantile`` of them (weighted by expansion factor).
7. :func:`publish`: small-count suppression (mobsig.privacy) of every breakdown, then
   one row per zone (and day) with the roles spread into columns.

Suppression (the rules of population_by_unit, k = privacy.k_min on raw counts):

- roles: within one zone (and day) ``total`` = resident + worker + visitor is an
  identity, so a lone hidden role gets a complement;
- catchment: each level's cells of a zone add up to the zone's visitors (the top units
  and ``unknown``), a child unit's cells to their parent's (townships to their county):
  sibling groups with complementary suppression; a hidden parent hides its children, the
  ``unknown`` cells of a zone (nearly the same number at every level) are hidden
  together, and a zone whose visitor count is withheld publishes no catchment cell and
  no radius, repeated until nothing changes;
- the radius is published only when the visitor count is, from at least ``k_min``
  visitors with a home.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import columns as C
from mobsig import privacy
from mobsig.columns import suppressed_col
from mobsig.population import assign_units, units_containing, user_weights, with_grid
from mobsig.residence import day_pieces

TOTAL, RESIDENT, WORKER, VISITOR = "total", "resident", "worker", "visitor"
ROLES = (TOTAL, RESIDENT, WORKER, VISITOR)
PARTS = (RESIDENT, WORKER, VISITOR)
ROLE_IDENTITY = ((TOTAL, PARTS),)

# why catchment_radius_m is null
SUPPRESSED = "suppressed"  # visitor count withheld, or fewer than k_min visitors with a home
NO_VISITOR_HOMES = "no_visitor_homes"  # no visitor has a home in the area
RADIUS_NULL_REASONS = (SUPPRESSED, NO_VISITOR_HOMES)
RADIUS_NULL_REASON = f"{C.CATCHMENT_RADIUS_M}_null_reason"

HOME_COUNT = "_homes"  # visitors with a home behind a radius (internal)


@dataclass(frozen=True)
class ServiceCounts:
    """The unsuppressed tables of a month (lazy frames).

    ``monthly``: ``level``, ``unit_id``, ``unit_name``, ``visit_role``, ``raw_count``,
    ``expanded_count`` (distinct cards of the month); ``daily``: the same per
    ``key_date``; ``catchment``: ``zone_level``, ``zone_id``, ``zone_name``, ``level``,
    ``unit_id``, ``unit_name``, ``parent_id``, ``raw_count``, ``expanded_count``;
    ``radius``: ``level``, ``unit_id``, ``catchment_radius_m``, ``_homes``; ``days``:
    ``key_date`` of every day of the month with any stay; ``visits``: the zone-days of
    :func:`with_roles` and ``weights``, the cards' expansion factors
    (``population.user_weights``): every other frame is counted from these two (persist
    them first)."""

    visits: DataFrame
    weights: DataFrame
    monthly: DataFrame
    daily: DataFrame
    catchment: DataFrame
    radius: DataFrame
    days: DataFrame


# --------------------------------------------------------------------------------------
# who is in a zone, when, as what


def stay_pieces(stays: DataFrame, places: DataFrame, month: dt.date) -> DataFrame:
    """``user_id``, ``key_date``, ``overlap_s``, ``lon``, ``lat``: the stays of the cards of
    ``places`` (card_places: counted cards) cut at local midnight, days of ``month``
    only (``residence.day_pieces``). ``stays``: the month's stays plus the first day of
    the next month (a stay is stored on the day it closed)."""
    cols = (C.USER_ID, C.STAY_START, C.STAY_END, C.LON, C.LAT)
    return (day_pieces(stays.select(*cols), month)
            .join(places.select(C.USER_ID), C.USER_ID, how="left_semi")
            .select(C.USER_ID, C.KEY_DATE, C.OVERLAP_S, C.LON, C.LAT))


def zone_days(pieces: DataFrame, zones: DataFrame, min_stay_s: float) -> DataFrame:
    """``user_id``, ``level``, ``unit_id`` (the zone), ``key_date``, ``overlap_s``: the
    time each card's stays spend inside each zone per day (the stay's position inside the
    polygon, its border included), rows below ``min_stay_s`` dropped. ``zones``: unit
    polygons (``level``, ``unit_id``, ``geometry``)."""
    keys = [C.USER_ID, C.KEY_DATE, C.OVERLAP_S]
    hits = units_containing(pieces, zones, keys)
    return (hits.groupBy(C.USER_ID, C.LEVEL, C.UNIT_ID, C.KEY_DATE)
            .agg(F.sum(C.OVERLAP_S).alias(C.OVERLAP_S))
            .where(F.col(C.OVERLAP_S) >= F.lit(float(min_stay_s))))


def _has(lon: str, lat: str) -> Column:
    return F.col(lon).isNotNull() & F.col(lat).isNotNull()


def resident_homes(places: DataFrame) -> DataFrame:
    """``user_id``, ``lon``, ``lat``: the home point of every resident card (pop_class
    resident) with one: where a card lives. Other cards (short-term guests, visitors,
    residents without an identified home) have no row."""
    return places.where((F.col(C.POP_CLASS) == "resident") & _has(C.HOME_LON, C.HOME_LAT)) \
        .select(C.USER_ID, F.col(C.HOME_LON).alias(C.LON), F.col(C.HOME_LAT).alias(C.LAT))


def card_roles(places: DataFrame, zones: DataFrame) -> DataFrame:
    """``user_id``, ``level``, ``unit_id``, ``visit_role``: ``resident`` for each zone
    containing a resident card's home (:func:`resident_homes`), ``worker`` for each other
    zone containing the card's work place. Zones where the card neither lives nor works
    have no row (it is a visitor there)."""
    homes = resident_homes(places).withColumn(C.ROLE, F.lit("home"))
    works = places.where(_has(C.WORK_LON, C.WORK_LAT)).select(
        C.USER_ID, F.col(C.WORK_LON).alias(C.LON), F.col(C.WORK_LAT).alias(C.LAT),
        F.lit("work").alias(C.ROLE))
    hits = units_containing(homes.unionByName(works), zones, [C.USER_ID, C.ROLE])
    lives = F.max((F.col(C.ROLE) == "home").cast("int")) == 1
    return hits.groupBy(C.USER_ID, C.LEVEL, C.UNIT_ID).agg(
        F.when(lives, F.lit(RESIDENT)).otherwise(F.lit(WORKER)).alias(C.VISIT_ROLE))


def with_roles(days: DataFrame, roles: DataFrame) -> DataFrame:
    """:func:`zone_days` rows with the card's ``visit_role`` in the zone (``visitor``
    where :func:`card_roles` has none). Rows are kept."""
    return days.join(roles, [C.USER_ID, C.LEVEL, C.UNIT_ID], how="left").withColumn(
        C.VISIT_ROLE, F.coalesce(F.col(C.VISIT_ROLE), F.lit(VISITOR)))


def role_counts(visits: DataFrame, weights: DataFrame, keys: list[str]) -> DataFrame:
    """``keys`` + ``visit_role``, ``raw_count``, ``expanded_count``: distinct cards of
    ``visits`` (:func:`with_roles` rows) per ``keys`` and role, and over every role
    (``total``); a card weighs its expansion factor (``weights``: ``user_id``,
    ``weight``; none = 1). Groups without a card have no row."""
    roles = F.explode(F.array(F.col(C.VISIT_ROLE), F.lit(TOTAL))).alias(C.VISIT_ROLE)
    rows = visits.select(*keys, C.USER_ID, roles).distinct()
    return rows.join(weights, C.USER_ID, how="left").groupBy(*keys, C.VISIT_ROLE).agg(
        F.countDistinct(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(F.col(C.WEIGHT), F.lit(1.0))).alias(C.EXPANDED_COUNT))


def complete_roles(counts: DataFrame, zones: DataFrame, days: DataFrame | None = None
                   ) -> DataFrame:
    """Every zone (and day of ``days``: ``key_date``) with every role, zeros filled:
    ``level``, ``unit_id``, ``unit_name``, [``key_date``,] ``visit_role``,
    ``raw_count``, ``expanded_count``."""
    grid = zones.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME)
    keys = [C.LEVEL, C.UNIT_ID]
    if days is not None:
        grid = grid.crossJoin(days.select(C.KEY_DATE))
        keys.append(C.KEY_DATE)
    grid = grid.select("*", F.explode(F.array(*[F.lit(r) for r in ROLES])).alias(C.VISIT_ROLE))
    return grid.join(counts, [*keys, C.VISIT_ROLE], how="left").select(
        C.LEVEL, C.UNIT_ID, C.UNIT_NAME, *keys[2:], C.VISIT_ROLE,
        F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


# --------------------------------------------------------------------------------------
# catchment


def home_cells(homes: DataFrame, home_units: DataFrame, grid_resolution: int) -> DataFrame:
    """``user_id``, ``level``, ``unit_id``: the unit of each home (:func:`resident_homes`)
    in every home level (``population.assign_units``, border ties to the smallest id) and
    its H3 cell (level ``grid``)."""
    return assign_units(homes, home_units, [C.USER_ID]).unionByName(
        with_grid(homes, [C.USER_ID], grid_resolution))


def catchment_counts(visits: DataFrame, cells: DataFrame, weights: DataFrame,
                     zones: DataFrame, home_units: DataFrame, home_levels: list[str]
                     ) -> DataFrame:
    """The zone's visitors (role ``visitor`` of :func:`with_roles`, distinct over the
    month) by home unit: ``zone_level``, ``zone_id``, ``zone_name``, ``level`` (a home
    level, or ``grid``), ``unit_id`` (the home unit, ``unknown`` for visitors without a
    home among the level's units), ``unit_name``, ``parent_id``, ``raw_count``,
    ``expanded_count``. Every unit of the polygon home levels and every ``unknown`` cell
    is present for every zone (zeros filled); grid cells only where visitors live.
    ``cells``: :func:`home_cells`; ``home_units``: the polygons of ``home_levels``."""
    levels = [*home_levels, C.GRID_LEVEL]
    vis = visits.where(F.col(C.VISIT_ROLE) == VISITOR).select(
        C.USER_ID, F.col(C.LEVEL).alias(C.ZONE_LEVEL), F.col(C.UNIT_ID).alias(C.ZONE_ID)
    ).distinct().select("*", F.explode(F.array(*[F.lit(v) for v in levels])).alias(C.LEVEL))
    placed = vis.join(cells, [C.USER_ID, C.LEVEL], how="left").withColumn(
        C.UNIT_ID, F.coalesce(F.col(C.UNIT_ID), F.lit(C.UNKNOWN_HOME)))
    counts = placed.join(weights, C.USER_ID, how="left").groupBy(
        C.ZONE_LEVEL, C.ZONE_ID, C.LEVEL, C.UNIT_ID).agg(
        F.countDistinct(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(F.col(C.WEIGHT), F.lit(1.0))).alias(C.EXPANDED_COUNT))
    null = F.lit(None).cast("string")
    unknown = F.explode(F.array(*[F.lit(v) for v in levels])).alias(C.LEVEL)
    cells_all = home_units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID).unionByName(
        visits.sparkSession.range(1).select(unknown).select(
            C.LEVEL, F.lit(C.UNKNOWN_HOME).alias(C.UNIT_ID), null.alias(C.UNIT_NAME),
            null.alias(C.PARENT_ID)))
    z = zones.select(F.col(C.LEVEL).alias(C.ZONE_LEVEL), F.col(C.UNIT_ID).alias(C.ZONE_ID),
                     F.col(C.UNIT_NAME).alias(C.ZONE_NAME))
    keys = [C.ZONE_LEVEL, C.ZONE_ID, C.LEVEL, C.UNIT_ID]
    # every (zone, polygon unit or unknown) cell, and the grid cells where visitors live:
    # one outer join, so the counts are computed once
    filled = z.crossJoin(cells_all).join(counts, keys, how="full").drop(C.ZONE_NAME)
    return filled.join(F.broadcast(z), [C.ZONE_LEVEL, C.ZONE_ID], how="inner").select(
        C.ZONE_LEVEL, C.ZONE_ID, C.ZONE_NAME, C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID,
        F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


def catchment_radius(visits: DataFrame, homes: DataFrame, weights: DataFrame,
                     zones: DataFrame, quantile: float) -> DataFrame:
    """``level``, ``unit_id``, ``catchment_radius_m``, ``_homes``: per zone with visitors
    who have a home (:func:`resident_homes`), the smallest distance d such that the
    visitors whose home is within d of the zone (distance to the polygon, 0 inside;
    Sedona ``ST_ClosestPoint`` + ``ST_DistanceSphere``) weigh at least ``quantile`` of all
    of them (expansion factors); ``_homes``: those visitors (distinct cards). Zones
    without such a visitor have no row."""
    vis = visits.where(F.col(C.VISIT_ROLE) == VISITOR).select(
        C.USER_ID, C.LEVEL, C.UNIT_ID).distinct()
    z = F.broadcast(zones.select(C.LEVEL, C.UNIT_ID, F.col(C.GEOMETRY).alias("_geom")))
    pt = F.call_function("ST_Point", F.col(C.LON), F.col(C.LAT))
    near = F.call_function("ST_ClosestPoint", F.col("_geom"), pt)
    d = (vis.join(homes, C.USER_ID, how="inner").join(z, [C.LEVEL, C.UNIT_ID], how="inner")
         .select(C.USER_ID, C.LEVEL, C.UNIT_ID,
                 F.call_function("ST_DistanceSphere", pt, near).alias(C.DIST_M))
         .join(weights, C.USER_ID, how="left")
         .withColumn(C.WEIGHT, F.coalesce(F.col(C.WEIGHT), F.lit(1.0))))
    zone = Window.partitionBy(C.LEVEL, C.UNIT_ID)
    upto = zone.orderBy(C.DIST_M, C.USER_ID).rowsBetween(Window.unboundedPreceding,
                                                         Window.currentRow)
    ranked = d.select(C.LEVEL, C.UNIT_ID, C.DIST_M,
                      F.sum(C.WEIGHT).over(upto).alias("_cum"),
                      F.sum(C.WEIGHT).over(zone).alias("_all"),
                      F.count(F.lit(1)).over(zone).alias(HOME_COUNT))
    # a relative tolerance so that summation order never moves the quantile by one home
    reached = F.col("_cum") >= F.lit(float(quantile)) * F.col("_all") * F.lit(1 - 1e-9)
    return ranked.where(reached).groupBy(C.LEVEL, C.UNIT_ID).agg(
        F.min(C.DIST_M).alias(C.CATCHMENT_RADIUS_M),
        F.max(HOME_COUNT).cast("bigint").alias(HOME_COUNT))


# --------------------------------------------------------------------------------------
# the month


def service_counts(stays: DataFrame, places: DataFrame, factors: DataFrame,
                   age_factors: DataFrame | None, units: DataFrame, zone_levels: list[str],
                   home_levels: list[str], month: dt.date, min_stay_s: float,
                   quantile: float, grid_resolution: int) -> ServiceCounts:
    """The unsuppressed tables of ``month`` (:class:`ServiceCounts`) for the zones of
    ``zone_levels`` (levels of ``units``: unit polygons ``unit_id``, ``unit_name``,
    ``level``, ``parent_id``, ``geometry``). ``places``: card_places; ``factors`` /
    ``age_factors``: expansion_factors / expansion_factors_age (None: county
    weighting); ``stays``: the month's stays plus the first day of the next month."""
    zones = units.where(F.col(C.LEVEL).isin(*zone_levels))
    home_units = units.where(F.col(C.LEVEL).isin(*home_levels))
    weights = user_weights(places, factors, age_factors)
    pieces = stay_pieces(stays, places, month)
    visits = with_roles(zone_days(pieces, zones, min_stay_s), card_roles(places, zones))
    days = pieces.select(C.KEY_DATE).distinct()
    homes = resident_homes(places)
    return ServiceCounts(
        visits=visits, weights=weights,
        monthly=complete_roles(role_counts(visits, weights, [C.LEVEL, C.UNIT_ID]), zones),
        daily=complete_roles(role_counts(visits, weights, [C.LEVEL, C.UNIT_ID, C.KEY_DATE]),
                             zones, days),
        catchment=catchment_counts(visits, home_cells(homes, home_units, grid_resolution),
                                   weights, zones, home_units, home_levels),
        radius=catchment_radius(visits, homes, weights, zones, quantile),
        days=days)


def missing_levels(units: DataFrame, names: list[str]) -> str:
    """'' when every name is a level of ``units``, else a message naming the missing ones
    and the levels there are (one small Spark job)."""
    have = {r[C.LEVEL] for r in units.select(C.LEVEL).distinct().collect()}
    missing = [n for n in names if n not in have]
    return (f"no layer {missing} in the units table (levels: {sorted(have)}); run "
            "ingest_units after adding it to paths.units") if missing else ""


def totals_gaps(counts: ServiceCounts) -> dict[str, int]:
    """Numbers that must be 0 before anything is published (three small Spark jobs):
    ``role_gap`` (zone-days and zones whose total differs from resident + worker +
    visitor), ``catchment_gap`` (zones and catchment levels whose cells do not add up to
    the zone's visitors), ``daily_over_monthly`` (zone-day cells above the zone's
    distinct cards of the month in the same role)."""
    def role_gap(long: DataFrame, keys: list[str]) -> int:
        r = F.col(C.VISIT_ROLE)
        sums = long.groupBy(*keys).agg(
            F.sum(F.when(r == TOTAL, F.col(C.RAW_COUNT))).alias("_t"),
            F.sum(F.when(r != TOTAL, F.col(C.RAW_COUNT))).alias("_p"))
        return sums.where(F.col("_t") != F.col("_p")).count()

    zkeys = [C.LEVEL, C.UNIT_ID]
    vis = counts.monthly.where(F.col(C.VISIT_ROLE) == VISITOR).select(
        F.col(C.LEVEL).alias(C.ZONE_LEVEL), F.col(C.UNIT_ID).alias(C.ZONE_ID),
        F.col(C.RAW_COUNT).alias("_v"))
    per_level = counts.catchment.groupBy(C.ZONE_LEVEL, C.ZONE_ID, C.LEVEL).agg(
        F.sum(C.RAW_COUNT).alias("_s"))
    catch = per_level.join(vis, [C.ZONE_LEVEL, C.ZONE_ID], how="full").where(
        F.coalesce(F.col("_s"), F.lit(-1)) != F.coalesce(F.col("_v"), F.lit(-2))).count()
    month = counts.monthly.select(*zkeys, C.VISIT_ROLE, F.col(C.RAW_COUNT).alias("_m"))
    over = counts.daily.join(month, [*zkeys, C.VISIT_ROLE], how="left").where(
        F.col(C.RAW_COUNT) > F.coalesce(F.col("_m"), F.lit(0))).count()
    return {"role_gap": role_gap(counts.monthly, zkeys)
            + role_gap(counts.daily, [*zkeys, C.KEY_DATE]),
            "catchment_gap": catch, "daily_over_monthly": over}


# --------------------------------------------------------------------------------------
# suppression and publication


def suppress_monthly(long: DataFrame, k_min: int, complementary: bool,
                     suppress_zeros: bool) -> DataFrame:
    """:attr:`ServiceCounts.monthly` with ``is_suppressed`` and the counts of suppressed
    rows null: primary below ``k_min``, complementary on the identity total = resident +
    worker + visitor within each zone (no other published total adds these cells)."""
    frame = long.withColumn(C.PARENT_ID, F.col(C.UNIT_ID))  # each zone its own group
    return privacy.with_suppression(frame, k_min, complementary, suppress_zeros,
                                    identities=ROLE_IDENTITY, by=C.VISIT_ROLE
                                    ).drop(C.PARENT_ID)


def suppress_daily(long: DataFrame, k_min: int, complementary: bool,
                   suppress_zeros: bool) -> DataFrame:
    """:attr:`ServiceCounts.daily` with ``is_suppressed``: the rule of
    :func:`suppress_monthly` within each zone and day (one pandas group per zone)."""
    day = F.col(C.KEY_DATE).cast("string")
    frame = long.select(
        F.col(C.LEVEL).alias("_zl"), F.col(C.UNIT_ID).alias("_zid"), C.UNIT_NAME,
        C.KEY_DATE, C.VISIT_ROLE, C.RAW_COUNT, C.EXPANDED_COUNT,
        F.concat_ws("\x1f", C.LEVEL, C.UNIT_ID).alias(C.LEVEL), day.alias(C.UNIT_ID),
        day.alias(C.PARENT_ID))
    out = privacy.with_suppression(frame, k_min, complementary, suppress_zeros,
                                   identities=ROLE_IDENTITY, by=C.VISIT_ROLE)
    return out.select(F.col("_zl").alias(C.LEVEL), F.col("_zid").alias(C.UNIT_ID),
                      C.UNIT_NAME, C.KEY_DATE, C.VISIT_ROLE, C.RAW_COUNT, C.EXPANDED_COUNT,
                      C.IS_SUPPRESSED)


def catchment_mask(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                   suppress_zeros: bool = False, zone_hidden: bool = False) -> np.ndarray:
    """The cells of one zone's catchment to withhold (see the module doc).

    ``pdf``: ``level``, ``unit_id``, ``parent_id``, ``raw_count`` (unsuppressed) of one
    zone; ``zone_hidden``: the zone's visitor count is withheld. Sibling groups: per
    level, the units whose parent is another catchment unit (a township's county) form
    one group per parent, the others (top units, ``unknown``, grid cells) one group."""
    n = len(pdf)
    if zone_hidden or n == 0:
        return np.full(n, zone_hidden, dtype=bool)
    level = pdf[C.LEVEL].astype(str).to_numpy()
    unit = pdf[C.UNIT_ID].astype(str).to_numpy()
    parent = pdf[C.PARENT_ID].astype(object).to_numpy()
    named = (level != C.GRID_LEVEL) & (unit != C.UNKNOWN_HOME)
    ids = set(unit[named])
    group = np.array([p if isinstance(p, str) and p in ids else "" for p in parent],
                     dtype=object)
    frame = pd.DataFrame({C.LEVEL: level, C.PARENT_ID: group, C.UNIT_ID: unit,
                          "_by": "visitor", C.RAW_COUNT: pdf[C.RAW_COUNT].to_numpy()})
    unknown = unit == C.UNKNOWN_HOME
    mask = np.zeros(n, dtype=bool)
    for _ in range(100):
        mask = privacy.suppression_mask(frame, k_min, complementary, suppress_zeros,
                                        identities=(), by="_by", forced=mask)
        before = mask.copy()
        hidden = set(unit[mask & named])
        mask |= np.isin(group, list(hidden)) & (group != "")  # a hidden parent's children
        if (mask & unknown).any():
            mask |= unknown  # the unknown cells of the zone go together
        if (mask == before).all():
            break
    return mask


def suppress_catchment(catchment: DataFrame, hidden_zones: DataFrame, k_min: int,
                       complementary: bool, suppress_zeros: bool) -> DataFrame:
    """:attr:`ServiceCounts.catchment` with ``is_suppressed`` and the counts of
    suppressed cells null (:func:`catchment_mask`, one pandas group per zone).
    ``hidden_zones``: ``zone_level``, ``zone_id`` of the zones whose visitor count is
    withheld."""
    flag = hidden_zones.select(C.ZONE_LEVEL, C.ZONE_ID, F.lit(True).alias("_hidden"))
    frame = catchment.join(flag, [C.ZONE_LEVEL, C.ZONE_ID], how="left").withColumn(
        "_hidden", F.coalesce(F.col("_hidden"), F.lit(False)))
    fields = [T.StructField(f.name, f.dataType, True) if f.name in (
        C.RAW_COUNT, C.EXPANDED_COUNT) else f for f in catchment.schema.fields]
    schema = T.StructType(fields + [T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False)])
    names = [f.name for f in schema.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        mask = catchment_mask(pdf, k_min, complementary, suppress_zeros,
                              bool(pdf["_hidden"].any()))
        out = pdf.copy()
        out[C.IS_SUPPRESSED] = mask
        out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(mask)
        out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(mask)
        return out[names]

    return frame.groupBy(C.ZONE_LEVEL, C.ZONE_ID).applyInPandas(apply, schema)


def spread(long: DataFrame, keys: list[str]) -> DataFrame:
    """One row per ``keys`` from a suppressed long form (``visit_role``, ``raw_count``,
    ``expanded_count``, ``is_suppressed``): per role ``<role>_raw_count``,
    ``<role>_expanded_count``, ``is_<role>_suppressed`` (:func:`mobsig.privacy.spread`)."""
    return privacy.spread(long, ROLES, keys, by=C.VISIT_ROLE)


def with_radius(wide: DataFrame, radius: DataFrame, k_min: int) -> DataFrame:
    """Adds ``catchment_radius_m`` (published when the zone's visitor count is and at
    least ``k_min`` visitors have a home) and its null reason (``suppressed``,
    ``no_visitor_homes``) to one-row-per-zone ``wide``."""
    out = wide.join(radius, [C.LEVEL, C.UNIT_ID], how="left")
    homes = F.coalesce(F.col(HOME_COUNT), F.lit(0))
    hidden = F.col(suppressed_col(VISITOR)) | ((homes > 0) & (homes < k_min))
    return out.withColumns({
        C.CATCHMENT_RADIUS_M: F.when(~hidden & (homes > 0), F.col(C.CATCHMENT_RADIUS_M)),
        RADIUS_NULL_REASON: F.when(hidden, F.lit(SUPPRESSED))
        .when(homes == 0, F.lit(NO_VISITOR_HOMES))}).drop(HOME_COUNT)


def with_share(catchment: DataFrame, monthly: DataFrame) -> DataFrame:
    """Adds ``share``: the cell's expanded count / the zone's visitors (expanded), null
    for a suppressed cell or a zone without visitors."""
    vis = monthly.where(F.col(C.VISIT_ROLE) == VISITOR).select(
        F.col(C.LEVEL).alias(C.ZONE_LEVEL), F.col(C.UNIT_ID).alias(C.ZONE_ID),
        F.col(C.EXPANDED_COUNT).alias("_v"))
    share = F.when(F.col("_v") > 0, F.col(C.EXPANDED_COUNT) / F.col("_v"))
    return catchment.join(vis, [C.ZONE_LEVEL, C.ZONE_ID], how="left").withColumn(
        C.SHARE, share).drop("_v")


AUDIT_CELL = "_cell"  # the breakdown of the release audit: role, role@date


def release_table(monthly: pd.DataFrame, daily: pd.DataFrame, catchment: pd.DataFrame
                  ) -> pd.DataFrame:
    """The month's three published tables as one long table for the interval audit
    (:mod:`mobsig.privacy_audit`): ``level``, ``unit_id``, ``parent_id``, ``_cell``,
    ``raw_count`` (true), ``is_suppressed``, ``part`` and ``pos`` (the row in its part).

    A zone is the unit ``<level>/<id>``; its monthly roles are the cells ``resident`` ...
    ``total``, its daily ones ``<role>@<date>``; a catchment cell is the unit
    ``<zone>/<home unit>`` (level ``catchment <home level>``, cell ``visitor``) whose
    parent is the zone, or the cell of its parent unit when that is in the zone's
    catchment (a township's county): so each home level's cells add up to the zone's
    visitors and townships to their county (the audit's parent = sum of children).
    Inputs: the suppressed long forms with the true ``raw_count`` (``monthly``:
    ``level``, ``unit_id``, ``visit_role``; ``daily``: also ``key_date``; ``catchment``:
    ``zone_level``, ``zone_id``, ``level``, ``unit_id``, ``parent_id``) and
    ``is_suppressed``."""
    def zone(f: pd.DataFrame, lv: str, uid: str) -> pd.Series:
        return f[lv].astype(str) + "/" + f[uid].astype(str)

    parts = []
    m = pd.DataFrame({C.LEVEL: monthly[C.LEVEL].astype(str),
                      C.UNIT_ID: zone(monthly, C.LEVEL, C.UNIT_ID), C.PARENT_ID: None,
                      AUDIT_CELL: monthly[C.VISIT_ROLE].astype(str), "part": "monthly"})
    parts.append(m.assign(pos=np.arange(len(m)), **{
        C.RAW_COUNT: monthly[C.RAW_COUNT].to_numpy(),
        C.IS_SUPPRESSED: monthly[C.IS_SUPPRESSED].to_numpy(bool)}))
    d = pd.DataFrame({C.LEVEL: daily[C.LEVEL].astype(str),
                      C.UNIT_ID: zone(daily, C.LEVEL, C.UNIT_ID), C.PARENT_ID: None,
                      AUDIT_CELL: daily[C.VISIT_ROLE].astype(str) + "@"
                      + daily[C.KEY_DATE].astype(str), "part": "daily"})
    parts.append(d.assign(pos=np.arange(len(d)), **{
        C.RAW_COUNT: daily[C.RAW_COUNT].to_numpy(),
        C.IS_SUPPRESSED: daily[C.IS_SUPPRESSED].to_numpy(bool)}))
    c = catchment
    zk = zone(c, C.ZONE_LEVEL, C.ZONE_ID)
    lv = c[C.LEVEL].astype(str)
    uid = c[C.UNIT_ID].astype(str)
    named = (lv != C.GRID_LEVEL) & (uid != C.UNKNOWN_HOME)
    unit = np.where(named, zk + "/" + uid, zk + "/" + lv + "/" + uid)
    have = set(unit[named.to_numpy()])
    par = zk + "/" + c[C.PARENT_ID].astype(str)
    parent = np.where(named & c[C.PARENT_ID].notna() & par.isin(have), par, zk)
    k = pd.DataFrame({C.LEVEL: "catchment " + lv, C.UNIT_ID: unit, C.PARENT_ID: parent,
                      AUDIT_CELL: VISITOR, "part": "catchment"})
    parts.append(k.assign(pos=np.arange(len(k)), **{
        C.RAW_COUNT: c[C.RAW_COUNT].to_numpy(),
        C.IS_SUPPRESSED: c[C.IS_SUPPRESSED].to_numpy(bool)}))
    out = pd.concat(parts, ignore_index=True)
    out[C.RAW_COUNT] = out[C.RAW_COUNT].fillna(0).astype(np.int64)
    return out


def audit_rules(table: pd.DataFrame) -> dict:
    """The relations of :func:`release_table` for :mod:`mobsig.privacy_audit`: the role
    identity per month and per day, each day's role at most the month's, every cell
    label additive (checked against the data)."""
    cells = table[AUDIT_CELL].drop_duplicates().tolist()
    days = sorted({x.split("@", 1)[1] for x in cells if "@" in x})
    idents = [(TOTAL, PARTS)] + [(f"{TOTAL}@{d}", tuple(f"{r}@{d}" for r in PARTS))
                                 for d in days]
    return {"identities": idents, "additive": cells, "by": AUDIT_CELL,
            "bounds": [(f"{r}@{d}", r) for r in ROLES for d in days]}


def audited_release(table: pd.DataFrame, k_min: int, width: float,
                    complementary: bool, suppress_zeros: bool):
    """The mask of :func:`release_table` after the interval audit (the group rules'
    cells plus the audit's complements; a zone whose visitors become hidden hides its
    catchment, the rule of :func:`catchment_mask`) and the :class:`~mobsig.privacy_audit.
    Audit`."""
    from mobsig import privacy_audit

    rules = audit_rules(table)
    forced = table[C.IS_SUPPRESSED].to_numpy(bool).copy()
    zone_of = np.where(table["part"] == "catchment",
                       table[C.PARENT_ID].astype(str).str.split("/").str[:2].str.join("/"),
                       "")
    visitor = (table["part"] == "monthly").to_numpy() & (table[AUDIT_CELL] == VISITOR)
    for _ in range(5):
        mask, result = privacy_audit.audited_suppression_mask(
            table, k_min, width, complementary, suppress_zeros, forced=forced,
            regroup=False, **rules)
        gone = set(table[C.UNIT_ID].to_numpy()[visitor & mask])
        more = mask | np.isin(zone_of, list(gone))
        if (more == mask).all():
            break
        forced = more
    return mask, result


@dataclass(frozen=True)
class Published:
    """The rows that leave the operator: ``monthly`` (``service_population``), ``daily``
    (``service_population_daily``), ``catchment`` (``service_catchment``)."""

    monthly: DataFrame
    daily: DataFrame
    catchment: DataFrame


MONTHLY_KEYS = (C.LEVEL, C.UNIT_ID, C.VISIT_ROLE)
DAILY_KEYS = (C.LEVEL, C.UNIT_ID, C.KEY_DATE, C.VISIT_ROLE)
CATCHMENT_KEYS = (C.ZONE_LEVEL, C.ZONE_ID, C.LEVEL, C.UNIT_ID)


def audit_spark(counts: ServiceCounts, monthly: DataFrame, daily: DataFrame,
                catchment: DataFrame, k_min: int, width: float, complementary: bool,
                suppress_zeros: bool):
    """:func:`audited_release` on the suppressed long forms (their keys, flags and the
    true counts of ``counts`` go to the driver: one row per cell), the further hidden
    cells applied (:func:`mobsig.privacy_audit.hide_more`). Returns the three frames and
    the audit."""
    from mobsig import privacy_audit

    def local(sup: DataFrame, true: DataFrame, keys) -> pd.DataFrame:
        flags = sup.select(*keys, C.IS_SUPPRESSED).toPandas()
        raw = true.select(*keys, C.RAW_COUNT, *([C.PARENT_ID] if C.PARENT_ID
                                                in true.columns else [])).toPandas()
        for f in (flags, raw):
            for k in keys:
                f[k] = f[k].astype(str)
        return raw.merge(flags, on=list(keys), how="inner", validate="one_to_one")

    m = local(monthly, counts.monthly, MONTHLY_KEYS)
    d = local(daily, counts.daily, DAILY_KEYS)
    c = local(catchment, counts.catchment, CATCHMENT_KEYS)
    table = release_table(m, d, c)
    mask, audit = audited_release(table, k_min, width, complementary, suppress_zeros)
    more = mask & ~table[C.IS_SUPPRESSED].to_numpy(bool)
    out = []
    for name, sup, frame, keys in (("monthly", monthly, m, MONTHLY_KEYS),
                                   ("daily", daily, d, DAILY_KEYS),
                                   ("catchment", catchment, c, CATCHMENT_KEYS)):
        pos = table["pos"].to_numpy()[more & (table["part"] == name).to_numpy()]
        out.append(privacy_audit.hide_more(sup, frame.iloc[pos], keys))
    return (*out, audit)


def publish(counts: ServiceCounts, k_min: int, complementary: bool, suppress_zeros: bool,
            quantile: float, month_key: str, width: float | None = None,
            on_audit=None) -> Published:
    """The published tables of the month ``month_key`` (YYYY-MM, column ``month``) from
    the unsuppressed ``counts`` (the catchment's suppression depends on the monthly one:
    :func:`suppress_monthly` is computed for both, a small pandas pass per zone layer).
    With a protection ``width``, the three tables are then audited together
    (:func:`audit_spark`: more cells hidden until no suppressed cell's interval is
    narrower than ``width``; ``on_audit`` is called with the audit).
    Adds ``days_observed`` (the days of ``counts.days``) and ``catchment_quantile`` to
    the monthly rows."""
    monthly_suppressed = suppress_monthly(counts.monthly, k_min, complementary,
                                          suppress_zeros)
    zkeys = [C.LEVEL, C.UNIT_ID, C.UNIT_NAME]
    n_days = counts.days.agg(F.count(F.lit(1)).cast("int").alias(C.DAYS_OBSERVED))
    daily_suppressed = suppress_daily(counts.daily, k_min, complementary, suppress_zeros)
    hidden = monthly_suppressed.where((F.col(C.VISIT_ROLE) == VISITOR)
                                      & F.col(C.IS_SUPPRESSED)).select(
        F.col(C.LEVEL).alias(C.ZONE_LEVEL), F.col(C.UNIT_ID).alias(C.ZONE_ID))
    catchment_suppressed = suppress_catchment(counts.catchment, hidden, k_min,
                                              complementary, suppress_zeros)
    if width is not None:  # the interval audit of the three tables together
        monthly_suppressed, daily_suppressed, catchment_suppressed, audit = audit_spark(
            counts, monthly_suppressed, daily_suppressed, catchment_suppressed, k_min,
            width, complementary, suppress_zeros)
        if on_audit is not None:
            on_audit(audit)
    monthly = with_radius(spread(monthly_suppressed, zkeys), counts.radius, k_min) \
        .crossJoin(n_days).withColumn(C.CATCHMENT_QUANTILE, F.lit(float(quantile)))
    daily = spread(daily_suppressed, [*zkeys, C.KEY_DATE]).withColumnRenamed(C.KEY_DATE,
                                                                              C.DT)
    catchment = with_share(catchment_suppressed, counts.monthly)
    month = F.lit(month_key)
    return Published(monthly.withColumn(C.MONTH, month), daily.withColumn(C.MONTH, month),
                     catchment.withColumn(C.MONTH, month))
