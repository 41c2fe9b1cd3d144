"""Land-use intensity 土地利用强度 (domain.md §D): how intensely each polygon of a land-use
layer is used, per hectare: night residents on residential land 居住用地人口密度, daytime
visitors on commercial land 商业用地日间访客密度, employees on development zones and
industrial parks 开发区/产业园区就业密度; raw 原样数量 and expanded 扩样数量 counts.

Pure transforms; the ``land_use_intensity`` job reads the month's ``card_places``, stays,
the expansion factors and the ``units`` table and chains them:

1. :func:`parcels`: the polygons of the configured layers (land_use.layers) with their
   land-use class (attribute land_use.class_attribute, else the layer name), the kind it
   maps to (``residential`` / ``commercial`` / ``industrial``, null for any other class)
   and its area in hectares (:func:`with_area_ha`: the polygon projected to a Lambert
   azimuthal equal-area plane on the CGCS2000 ellipsoid, so the area is metric and exact
   up to the polygon's straight edges; never square degrees).
2. :func:`parcel_members`: per card and polygon, its role: ``residents`` (a resident card,
   pop_class resident, whose home is inside), ``workers`` (any counted card whose work
   place is inside: employees 就业人口), ``day_visitors`` (a card whose stays inside
   during the daytime window, land_use.day_start_hour-day_end_hour, add up to
   land_use.visit_min_min on at least one day of the month and who neither lives nor works
   there). Point-in-polygon with Sedona (``population.units_containing``); a point inside
   two overlapping polygons counts in both.
3. :func:`measure_counts` / :func:`complete`: distinct cards (``raw_count``) and summed
   expansion factors (``expanded_count``, ``population.user_weights``) per polygon and
   measure; every polygon gets every measure, zeros filled.
4. :func:`publish`: small-count suppression (mobsig.privacy: below privacy.k_min, with
   complementary suppression among the polygons of a layer and measure), then one row per
   polygon with ``<measure>_per_ha`` = published expanded count / area and the polygon's
   ``intensity_per_ha``: the per-hectare value of the measure of its kind
   (:data:`KIND_MEASURE`), null with ``intensity_per_ha_null_reason`` = ``suppressed``
   (the count is withheld), ``unclassified`` (a class of none of the three kinds) or
   ``no_area`` (a degenerate polygon).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import columns as C
from mobsig import privacy
from mobsig.columns import expanded_col, reason_col, suppressed_col
from mobsig.population import units_containing, user_weights
from mobsig.residence import _pieces as window_pieces

RESIDENTS, WORKERS, DAY_VISITORS = "residents", "workers", "day_visitors"
MEASURES = (RESIDENTS, WORKERS, DAY_VISITORS)
RESIDENTIAL, COMMERCIAL, INDUSTRIAL = "residential", "commercial", "industrial"
KINDS = (RESIDENTIAL, COMMERCIAL, INDUSTRIAL)
# the measure whose density is a kind's intensity
KIND_MEASURE = {RESIDENTIAL: RESIDENTS, COMMERCIAL: DAY_VISITORS, INDUSTRIAL: WORKERS}

LAND_USE_CLASS = "land_use_class"  # the polygon's class as the layer gives it
LAND_USE = "land_use"  # its kind: residential / commercial / industrial (null: other)
AREA_HA = "area_ha"
INTENSITY_MEASURE = "intensity_measure"
INTENSITY = "intensity_per_ha"
SUPPRESSED, UNCLASSIFIED, NO_AREA = "suppressed", "unclassified", "no_area"
NULL_REASONS = (SUPPRESSED, UNCLASSIFIED, NO_AREA)
M2_PER_HA = 10_000.0


def per_ha_col(measure: str) -> str:
    """``<measure>_per_ha``."""
    return f"{measure}_per_ha"


def area_ha(wkb: pd.Series) -> np.ndarray:
    """Areas in hectares of EPSG:4490 polygons given as WKB: vectorised, projected to a
    Lambert azimuthal equal-area plane (GRS80, the CGCS2000 ellipsoid) centred on the
    polygons' bounding box (an equal-area projection: the centre only changes shapes)."""
    import shapely
    from pyproj import Transformer

    geoms = shapely.from_wkb(wkb.to_numpy())
    if not len(geoms):
        return np.zeros(0)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    proj = (f"+proj=laea +lat_0={(y0 + y1) / 2} +lon_0={(x0 + x1) / 2} +ellps=GRS80 "
            "+units=m +no_defs")
    tr = Transformer.from_crs("EPSG:4490", proj, always_xy=True)
    flat = shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0],
                                                                             xy[:, 1])))
    return shapely.area(flat) / M2_PER_HA


def with_area_ha(units: DataFrame) -> DataFrame:
    """``unit_id``, ``level``, ``area_ha`` of ``units`` rows (``geometry_wkb``), per
    Arrow batch (:func:`area_ha`)."""
    schema = T.StructType([T.StructField(C.UNIT_ID, T.StringType()),
                           T.StructField(C.LEVEL, T.StringType()),
                           T.StructField(AREA_HA, T.DoubleType())])

    def batches(it):
        for pdf in it:
            yield pd.DataFrame({C.UNIT_ID: pdf[C.UNIT_ID], C.LEVEL: pdf[C.LEVEL],
                                AREA_HA: area_ha(pdf[C.GEOMETRY_WKB])})

    return units.select(C.UNIT_ID, C.LEVEL, C.GEOMETRY_WKB).mapInPandas(batches, schema)


def kind_of(cls: Column, residential: tuple[str, ...], commercial: tuple[str, ...],
            industrial: tuple[str, ...]) -> Column:
    """The kind (:data:`KINDS`) of a land-use class column; null for any other class."""
    out = F.lit(None).cast("string")
    for kind, values in ((INDUSTRIAL, industrial), (COMMERCIAL, commercial),
                         (RESIDENTIAL, residential)):
        out = F.when(cls.isin(list(values)), F.lit(kind)).otherwise(out)
    return out


def parcels(units: DataFrame, layers: tuple[str, ...], class_attribute: str,
            residential: tuple[str, ...], commercial: tuple[str, ...],
            industrial: tuple[str, ...]) -> DataFrame:
    """The polygons of ``layers`` from the ``units`` table: ``level``, ``unit_id``,
    ``unit_name``, ``parent_id``, ``land_use_class`` (the attribute ``class_attribute``
    of its ``attributes`` JSON, else the layer name), ``land_use`` (:func:`kind_of`),
    ``area_ha`` (:func:`with_area_ha`), ``geometry`` (Sedona, EPSG:4490)."""
    rows = units.where(F.col(C.LEVEL).isin(list(layers)))
    attr = F.get_json_object(F.col(C.ATTRIBUTES), f"$.{class_attribute}")
    cls = F.coalesce(F.nullif(F.trim(attr), F.lit("")), F.col(C.LEVEL))
    geom = F.call_function("ST_SetSRID", F.call_function("ST_GeomFromWKB",
                                                         F.col(C.GEOMETRY_WKB)), F.lit(4490))
    return rows.select(
        C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, cls.alias(LAND_USE_CLASS),
        kind_of(cls, residential, commercial, industrial).alias(LAND_USE),
        geom.alias(C.GEOMETRY)).join(with_area_ha(rows), [C.UNIT_ID, C.LEVEL])


def _has(lon: str, lat: str) -> Column:
    return F.col(lon).isNotNull() & F.col(lat).isNotNull()


def _point(lon: str, lat: str) -> list[Column]:
    return [F.col(lon).alias(C.LON), F.col(lat).alias(C.LAT)]


def parcel_members(places: DataFrame, stays: DataFrame, zones: DataFrame, month: dt.date,
                   day_start_h: float, day_end_h: float, visit_min_s: float) -> DataFrame:
    """``user_id``, ``level``, ``unit_id``, ``measure``: the role of each card in each
    polygon of ``zones`` (``level``, ``unit_id``, ``geometry``) where it has one:
    residents (resident cards' homes inside), workers (work places inside), day visitors
    (daytime stay time inside >= ``visit_min_s`` on a day of ``month``, neither resident
    nor worker there). ``places``: card_places of the month; ``stays``: the month's stays
    plus the first day of the next month (a stay is stored on the day it closed)."""
    homes = places.where((F.col(C.POP_CLASS) == "resident") & _has(C.HOME_LON, C.HOME_LAT))
    works = places.where(_has(C.WORK_LON, C.WORK_LAT))
    points = (homes.select(C.USER_ID, F.lit(RESIDENTS).alias(C.MEASURE),
                           *_point(C.HOME_LON, C.HOME_LAT))
              .unionByName(works.select(C.USER_ID, F.lit(WORKERS).alias(C.MEASURE),
                                        *_point(C.WORK_LON, C.WORK_LAT))))
    anchored = units_containing(points, zones, [C.USER_ID, C.MEASURE])
    cols = (C.USER_ID, C.STAY_START, C.STAY_END, C.LON, C.LAT)
    pieces = (window_pieces(stays.select(*cols), month, day_start_h, day_end_h)
              .join(places.select(C.USER_ID), C.USER_ID, how="left_semi"))
    inside = units_containing(pieces, zones, [C.USER_ID, C.KEY_DATE, C.OVERLAP_S])
    visits = (inside.groupBy(C.USER_ID, C.LEVEL, C.UNIT_ID, C.KEY_DATE)
              .agg(F.sum(C.OVERLAP_S).alias(C.OVERLAP_S))
              .where(F.col(C.OVERLAP_S) >= F.lit(float(visit_min_s)))
              .select(C.USER_ID, C.LEVEL, C.UNIT_ID).distinct()
              .join(anchored, [C.USER_ID, C.LEVEL, C.UNIT_ID], how="left_anti")
              .withColumn(C.MEASURE, F.lit(DAY_VISITORS)))
    return anchored.select(C.USER_ID, C.LEVEL, C.UNIT_ID, C.MEASURE).unionByName(
        visits.select(C.USER_ID, C.LEVEL, C.UNIT_ID, C.MEASURE))


def measure_counts(members: DataFrame, weights: DataFrame) -> DataFrame:
    """``level``, ``unit_id``, ``measure``, ``raw_count``, ``expanded_count``: distinct
    cards of :func:`parcel_members` and the sum of their weights (``user_id``,
    ``weight``; a card without one counts 1). Polygons without a card have no row."""
    per = members.select(C.USER_ID, C.LEVEL, C.UNIT_ID, C.MEASURE).distinct()
    return per.join(weights, C.USER_ID, how="left").groupBy(
        C.LEVEL, C.UNIT_ID, C.MEASURE).agg(
        F.count(C.USER_ID).cast("bigint").alias(C.RAW_COUNT),
        F.sum(F.coalesce(C.WEIGHT, F.lit(1.0))).alias(C.EXPANDED_COUNT))


def complete(counts: DataFrame, zones: DataFrame) -> DataFrame:
    """Every (polygon, measure) with zeros filled: ``level``, ``unit_id``, ``unit_name``,
    ``parent_id``, ``land_use_class``, ``land_use``, ``area_ha``, ``measure``,
    ``raw_count``, ``expanded_count``."""
    keys = [C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, LAND_USE_CLASS, LAND_USE, AREA_HA]
    grid = zones.select(*keys, F.explode(F.array(*[F.lit(m) for m in MEASURES]))
                        .alias(C.MEASURE))
    return grid.join(counts, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left").select(
        *keys, C.MEASURE,
        F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


def counts_table(places: DataFrame, stays: DataFrame, factors: DataFrame,
                 age_factors: DataFrame | None, zones: DataFrame, month: dt.date,
                 day_start_h: float, day_end_h: float, visit_min_s: float) -> DataFrame:
    """The unsuppressed long form of a month (:func:`complete`); ``zones``:
    :func:`parcels`."""
    members = parcel_members(places, stays, zones, month, day_start_h, day_end_h,
                             visit_min_s)
    weights = user_weights(places, factors, age_factors)
    return complete(measure_counts(members, weights), zones)


def spread(long: DataFrame) -> DataFrame:
    """One row per polygon from the long form (:func:`mobsig.privacy.spread` of
    :data:`MEASURES`, keyed with the polygon's class and area) with :func:`per_ha_col`
    (published expanded count / ``area_ha``; null when suppressed or without area)."""
    wide = privacy.spread(long, MEASURES, (*privacy.UNIT_KEYS, LAND_USE_CLASS, LAND_USE,
                                           AREA_HA))
    area = F.col(AREA_HA)
    return wide.withColumns({per_ha_col(n): F.when(area > 0, F.col(expanded_col(n)) / area)
                             for n in MEASURES})


def with_intensity(wide: DataFrame) -> DataFrame:
    """Adds ``intensity_measure`` (the measure of the polygon's kind, :data:`KIND_MEASURE`),
    ``intensity_per_ha`` (its per-hectare value) and ``intensity_per_ha_null_reason``
    (``unclassified``, ``suppressed``, ``no_area``; null when it has a value)."""
    kind = F.col(LAND_USE)
    measure = F.lit(None).cast("string")
    value = F.lit(None).cast("double")
    hidden = F.lit(None).cast("boolean")
    for k, m in KIND_MEASURE.items():
        measure = F.when(kind == k, F.lit(m)).otherwise(measure)
        value = F.when(kind == k, F.col(per_ha_col(m))).otherwise(value)
        hidden = F.when(kind == k, F.col(suppressed_col(m))).otherwise(hidden)
    reason = (F.when(kind.isNull(), F.lit(UNCLASSIFIED)).when(hidden, F.lit(SUPPRESSED))
              .when(F.col(AREA_HA).isNull() | (F.col(AREA_HA) <= 0), F.lit(NO_AREA)))
    return wide.withColumns({INTENSITY_MEASURE: measure, INTENSITY: value,
                             reason_col(INTENSITY): reason})


def publish(counts: DataFrame, k_min: int, complementary: bool,
            suppress_zeros: bool, width: float | None = None,
            on_audit=None) -> DataFrame:
    """The published rows of a month from :func:`counts_table`: every count suppressed by
    the privacy rules (``privacy.with_suppression`` per measure: below ``k_min``, and
    complementary within the polygons of a layer), spread to one row per polygon with the
    densities (:func:`spread`, :func:`with_intensity`). With a protection ``width``,
    the interval audit of the release decides further complements
    (:func:`mobsig.privacy_audit.suppress_release`; ``on_audit`` is called with
    the audit)."""
    from mobsig import privacy_audit

    long = privacy_audit.suppress_release(counts, k_min, width, complementary,
                                          suppress_zeros, on_audit)
    return with_intensity(spread(long))
