"""Homes among kilometre-spaced sites placed on residential land (``home_work``).

Where masts are kilometres apart the stays of a home are placed at the serving sectors'
service points, and the refined home (mobsig.residence.refine_place) is still a few
hundred metres to a kilometre and more off: a village home 1.5 km from its mast is
served by a sector whose wedge holds farmland, woods and the village. The land-use
survey the planning authority holds (三调: 城镇住宅用地, 农村宅基地) says where in that
wedge people live. So a home whose place's site spacing is at least
``home_work.settlement_min_spacing_m`` is moved to the centroid of the residential land
within ``home_work.settlement_radius_factor`` x that spacing of it (the part of it
nearest to the refined home, when the land there is in several pieces), and
``home_position`` says which homes were (``residential_land``; the others ``stays``).
Residential land is the optional input ``paths.residential_land``: polygons of an
extract of the survey (城镇住宅用地 0701, 农村宅基地 0702), not a reporting unit (nothing is
published per polygon). Without it the homes stay where the stays put them.

The geometry is Sedona SQL on CGCS2000 longitudes and latitudes: the search disc is a
spheroidal buffer in metres (``ST_Buffer(point, r, true)``), the pieces are ranked by
their great-circle distance to the home, and the centroid of a piece a few hundred metres
across is taken in degrees (its error against a planar centroid is well under a metre).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mobsig import columns as C

HOME_SPACING_M = "_home_spacing_m"  # the site spacing of a home's place (residence)
ON_LAND = "residential_land"  # home_position of a home placed on residential land
FROM_STAYS = "stays"  # home_position of a home where its stays put it


def _st(name: str, *args: Column) -> Column:
    return F.call_function(name, *args)


def read_land(spark, path: str) -> DataFrame:
    """``geometry`` (Sedona, EPSG:4490) of the residential land layer at ``path``
    (``paths.residential_land``: any unit-layer format and CRS, mobsig.io.units; attribute
    ``unit_id``; every feature is residential land). An InputError names a bad file."""
    from mobsig.config import UnitLayer
    from mobsig.io.units import read_units_layer

    layer = read_units_layer(spark, UnitLayer(path=path, level="residential_land"))
    return layer.select(C.GEOMETRY)


def land_of(ctx) -> DataFrame | None:
    """The run's residential land (:func:`read_land` of ``paths.residential_land``,
    materialised with its lineage cut: ``ctx.detach``), or None when none is configured or
    ``home_work.settlement_radius_factor`` is 0 (a warning when the rule is on and there is
    no land). ``ctx``: a mobsig.runner.JobContext; the polygon count is the fact
    ``residential_land_polygons``, the layer an input of the run record."""
    cfg = ctx.cfg
    if cfg.home_work.settlement_radius_factor <= 0:
        return None
    if not cfg.paths.residential_land:
        ctx.log.warning("no paths.residential_land: homes among sites >= %.0f m apart stay "
                        "where their stays put them (home_work.settlement_min_spacing_m)",
                        cfg.home_work.settlement_min_spacing_m)
        return None
    land = ctx.detach(read_land(ctx.spark, str(cfg.path("residential_land"))))
    n = land.count()
    ctx.note_input("residential_land", n)
    ctx.fact("residential_land_polygons", n)
    return land


def place_on_land(homes: DataFrame, land: DataFrame | None, min_spacing_m: float,
                  radius_factor: float) -> DataFrame:
    """``homes`` (``user_id``, ``home_lon``, ``home_lat``, :data:`HOME_SPACING_M`, ...)
    with the homes whose spacing is >= ``min_spacing_m`` moved onto ``land``
    (:func:`residential_land`): to the centroid of the residential land within
    ``radius_factor`` x the spacing of the home, the piece nearest to it (ties: the
    smaller longitude, latitude) when the land there is in several. Adds
    ``home_position`` (:data:`ON_LAND`, :data:`FROM_STAYS`; null without a home) and
    drops :data:`HOME_SPACING_M`. ``land`` None or ``radius_factor`` 0: nothing moves."""
    found = F.col(C.HOME_LON).isNotNull() & F.col(C.HOME_LAT).isNotNull()
    if land is None or radius_factor <= 0:
        return homes.select(*[c for c in homes.columns if c != HOME_SPACING_M],
                            F.when(found, F.lit(FROM_STAYS)).alias(C.HOME_POSITION))
    point = _st("ST_Point", F.col(C.HOME_LON), F.col(C.HOME_LAT))
    radius = F.lit(float(radius_factor)) * F.col(HOME_SPACING_M)
    cand = (homes.where(found & (F.col(HOME_SPACING_M) >= F.lit(float(min_spacing_m))))
            .select(C.USER_ID, point.alias("_p"),
                    _st("ST_Buffer", point, radius, F.lit(True)).alias("_disc")))
    hits = (cand.join(F.broadcast(land.select(F.col(C.GEOMETRY).alias("_g"))),
                      F.expr("ST_Intersects(_disc, _g)"))
            .select(C.USER_ID, "_p", F.expr("ST_Intersection(_disc, _g)").alias("_part")))
    pieces = (hits.groupBy(C.USER_ID)
              .agg(F.first("_p").alias("_p"), F.collect_list("_part").alias("_u"))
              # not ST_Union_Aggr: its merge of partial aggregates fails on Sedona 1.9.1
              # with Scala 2.13 (ClassCastException: Vector1 -> ListBuffer)
              .withColumn("_u", _st("ST_Union", F.col("_u")))
              .select(C.USER_ID, "_p", F.explode(_st("ST_Dump", F.col("_u"))).alias("_piece"))
              .where(_st("ST_Area", F.col("_piece")) > 0)
              .select(C.USER_ID, _st("ST_Centroid", F.col("_piece")).alias("_c"),
                      _st("ST_DistanceSphere", F.col("_p"),
                          _st("ST_ClosestPoint", F.col("_piece"), F.col("_p"))).alias("_d")))
    pieces = pieces.select(C.USER_ID, _st("ST_X", F.col("_c")).alias("_slon"),
                           _st("ST_Y", F.col("_c")).alias("_slat"), "_d")
    w = Window.partitionBy(C.USER_ID).orderBy("_d", "_slon", "_slat")
    best = (pieces.withColumn("_k", F.row_number().over(w)).where("_k = 1")
            .select(C.USER_ID, "_slon", "_slat"))
    moved = F.col("_slon").isNotNull()
    out = homes.join(best, C.USER_ID, how="left")
    return out.select(
        *[F.when(moved, F.col("_slon")).otherwise(F.col(c)).alias(c) if c == C.HOME_LON
          else F.when(moved, F.col("_slat")).otherwise(F.col(c)).alias(c) if c == C.HOME_LAT
          else F.col(c) for c in homes.columns if c != HOME_SPACING_M],
        F.when(moved, F.lit(ON_LAND)).when(found, F.lit(FROM_STAYS)).alias(C.HOME_POSITION))
