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
Residential land is the polygons of the ``land_use`` section's layers whose class is one
of its ``residential_classes`` (the same land the 土地利用强度 indicator measures). Without
such polygons in the ``units`` table the homes stay where the stays put them.

The geometry is Sedona SQL on CGCS2000 longitudes and latitudes: the search disc is a
spheroidal buffer in metres (``ST_Buffer(point, r, true)``), the pieces are ranked by
their great-circle distance to the home, and the centroid of a piece a few hundred metres
across is taken in degrees (its error against a planar centroid is well under a metre).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import LandUseConfig

HOME_SPACING_M = "_home_spacing_m"  # the site spacing of a home's place (residence)
ON_LAND = "residential_land"  # home_position of a home placed on residential land
FROM_STAYS = "stays"  # home_position of a home where its stays put it


def _st(name: str, *args: Column) -> Column:
    return F.call_function(name, *args)


def residential_land(units: DataFrame | None, lu: LandUseConfig) -> DataFrame | None:
    """``geometry`` (Sedona, EPSG:4490) of the residential land polygons of the ``units``
    table (layers ``lu.layers``, class attribute ``lu.class_attribute`` in
    ``lu.residential_classes``; a polygon without the attribute takes its layer's name
    as class, as in mobsig.land_use.parcels), or None without a units table."""
    if units is None:
        return None
    attr = F.get_json_object(F.col(C.ATTRIBUTES), f"$.{lu.class_attribute}")
    cls = F.coalesce(F.nullif(F.trim(attr), F.lit("")), F.col(C.LEVEL))
    geom = _st("ST_SetSRID", _st("ST_GeomFromWKB", F.col(C.GEOMETRY_WKB)), F.lit(4490))
    return (units.where(F.col(C.LEVEL).isin(list(lu.layers))
                        & cls.isin(list(lu.residential_classes)))
            .select(geom.alias(C.GEOMETRY)))


def land_of(ctx, units: DataFrame | None) -> DataFrame | None:
    """The run's residential land (:func:`residential_land` of the ``units`` table,
    materialised, lineage cut: ``ctx.detach``), or None when there is none or
    ``home_work.settlement_radius_factor`` is 0. ``ctx``: a mobsig.runner.JobContext;
    the polygon count is the fact ``residential_land_polygons``; none while the rule is
    on is a warning."""
    cfg = ctx.cfg
    if cfg.home_work.settlement_radius_factor <= 0:
        return None
    land = residential_land(units, cfg.land_use)
    land = ctx.detach(land) if land is not None else None
    n = land.count() if land is not None else 0
    ctx.fact("residential_land_polygons", n)
    if not n:
        ctx.log.warning("no residential land in the units table (land_use.layers %s, classes "
                        "%s): homes among km-spaced sites stay where their stays put them",
                        list(cfg.land_use.layers), list(cfg.land_use.residential_classes))
    return land if n else None


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
