"""Home 居住地, work 就业地 and population class per card and month (domain.md §B2-B3).

Pure DataFrame -> DataFrame transforms; the ``home_work`` job chains them::

    pieces = stays.transform(with_place_cell, hw.cluster_h3_resolution)
    days = day_pieces(pieces, month)
    nights = night_pieces(pieces, month, hw.night_start_h, hw.night_end_h)
    work = work_pieces(pieces, month, workdays, hw.work_start_h, hw.work_end_h)
    mornings = morning_pieces(pieces, month, hw.night_end_h)
    hw_df = home_work_table(days, nights, work, flags, hw, pop, month, mornings=mornings)

Definitions (all configurable, see config.HomeWorkConfig / PopulationConfig):

- A *piece* is the part of one stay that overlaps one time window: a local calendar day
  (presence), a night (``night_start_h`` .. ``night_end_h`` next morning; the night belongs
  to the evening's date) or a workday's daytime window (``work_start_h`` .. ``work_end_h``
  on days the holiday calendar calls workdays). Only windows whose date is in the month
  count, so a stay crossing the month boundary is clipped, never counted twice.
- ``days_present``: local dates of the month overlapped by at least one stay (stays, not
  raw events, so a card seen only passing through has 0 days and 0 stay hours).
- A *place* is a cluster of stay locations: every stay is binned to an H3 cell
  (``cluster_h3_resolution``); a candidate place is a cell plus its ``cluster_ring``
  neighbours (res 9, ring 1: about 350-500 m across), so a home split over two adjacent
  cells is still one place. The place with the largest cumulative time wins (ties: the
  smaller H3 id); its location is the duration-weighted centroid of the stays in it.
  Stay positions are the cells' service points (see ``cells.service_point``).
- Home position: re-centred on every night stay within ``home_refine_spacing_factor`` x
  the local site spacing of the home place (at least ``home_refine_min_m``): where sites
  are km apart one home's nights are served by two or three neighbouring sites, and their
  weighted mean lies between them, near the home (``refine_place``). That mean stays near
  the site serving most nights (an omni mast: at the mast) while the home lies towards
  the next one, so it is then moved ``home_voronoi_weight`` of the way to the centroid
  of the order-2 Voronoi piece of the two sites with the most time, where a handset
  served first by the one and next by the other can be (nearer to the first than to any
  other site, next nearest the second; within their serving sectors' wedges;
  ``Voronoi``, ``cells.order2_centroid``), when the two are Delaunay neighbours.
- Home position on residential land (``home_position`` residential_land; mobsig.settlement):
  a home whose place's site spacing is >= ``settlement_min_spacing_m`` is moved to the
  centroid of the residential land (the land-use layers' residential classes, e.g. the
  三调 survey's 农村宅基地) within ``settlement_radius_factor`` x that spacing, after the
  work rules (which measure from where the stays put it).
- Home: the night place with >= ``home_min_nights`` nights and >= ``home_min_night_share``
  of the observed nights (nights with any night-time stay); ``home_rule`` night.
- Night-shift workers (``home_rule`` day_rest): when the place with the most stay time
  over all hours of the month (the *rest place*) is not the night place but lies >=
  ``work_min_home_dist_m`` from it, is seen on >= ``home_min_nights`` days and >=
  ``home_min_night_share`` of the days present, and holds >= ``home_day_rest_min_ratio``
  x the night place's time over all hours, and at least its time on the days off (dates
  the holiday calendar does not call workdays), the card's long regular stays are in the
  day and its nights are spent elsewhere: the rest place is its home (re-centred like a
  night home, among all its stays) and the night place its work place. An ordinary
  worker's night place is also where most of their hours are (evenings, days off), so
  they keep the night rule; so does someone working long days with days off at home, and
  a day worker whose home's hours are split over several places (masts km apart) so
  that the work place holds more than any one of them: on the days off they are home.
- Work: among daytime places >= ``work_min_home_dist_m`` from home, the largest one, if
  present on >= ``work_min_days`` workdays and averaging >= ``work_min_avg_h`` hours per
  workday the card was present at all (the denominator is every workday present, so a
  place visited for a few long errands does not become a workplace).
- Night shifts of cards with a night home (rotating-shift workers' night weeks): a
  workday's night with >= ``work_night_min_h`` hours away from home (the work rule's
  distance) followed by >= ``work_night_rest_h`` hours at home in the
  :data:`NIGHT_REST_WINDOW_H` hours after the night window is a night shift; its pieces
  away from home count as work pieces of that workday (:func:`night_shift_pieces`). An
  evening out ends at home by night or is followed by a morning at work, and a home
  placed off the true one puts the night *and* the morning away from it, so neither
  counts.
- Unidentified homes/works are explicit: ``home_reason`` / ``work_reason``; the rule
  that gave an identified home is ``home_rule``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import Config, HomeWorkConfig, PopulationConfig
from mobsig.geo import h3_hex, h3_id, next_month
from mobsig.settlement import HOME_SPACING_M, place_on_land

# place_scores output (per user and candidate place)
ANCHOR = "anchor"  # the candidate's centre cell (bigint H3 id)
TOTAL_S = "total_s"
N_DAYS = "n_days"
PLACE_LON = "place_lon"
PLACE_LAT = "place_lat"
PLACE_SPACING_M = "place_spacing_m"
# the antenna of a stay's cell, carried by the pieces for Voronoi.pull
SITE_COLUMNS = (C.SITE_X, C.SITE_Y, C.AZIMUTH)

# identify_home's night place of a day-rest card (its work place; null for other cards)
NIGHT_WORK_LON = "night_work_lon"
NIGHT_WORK_LAT = "night_work_lat"
NIGHT_WORK_DAYS = "night_work_days"

HOME_RULES = ("night", "day_rest")
HOME_REASONS = ("no_night_stays", "few_nights", "low_night_share", "non_human")
# the window after the night in which a night-shift worker sleeps at home (hours)
NIGHT_REST_WINDOW_H = 6
WORK_REASONS = ("no_workday_stays", "all_near_home", "few_days", "short_hours", "non_human")


def with_place_cell(stays: DataFrame, resolution: int) -> DataFrame:
    """Add ``place_cell`` (bigint H3 id at ``resolution``) from the stay's lon/lat.

    Needs ``lon``, ``lat``; keeps every row and column.
    """
    return stays.withColumn(C.PLACE_CELL, h3_id(C.LON, C.LAT, resolution))


def with_spacing(stays: DataFrame, cells: DataFrame) -> DataFrame:
    """Add ``spacing_m``, the local site spacing at each stay's (dominant) cell, and with
    ``x_m``, ``y_m``, ``azimuth`` in ``cells`` also ``site_x``, ``site_y`` (the antenna's
    metric position) and ``azimuth`` (for :class:`Voronoi`).

    ``cells`` is the cell table (``cell_id``, ``spacing_m``; several versions of a cell
    give their largest spacing, and the antenna of the latest version). Stays of a cell
    not in the table get null.
    """
    aggs = [F.max(C.SPACING_M).alias(C.SPACING_M)]
    if C.X_M in cells.columns:
        order = F.coalesce(F.col(C.VALID_FROM).cast("timestamp"),
                           F.lit("1900-01-01").cast("timestamp"))
        latest = F.max_by(F.struct(F.col(C.X_M).alias(C.SITE_X), F.col(C.Y_M).alias(C.SITE_Y),
                                   F.col(C.AZIMUTH).cast("double").alias(C.AZIMUTH)), order)
        aggs.append(latest.alias("_site"))
    per_cell = cells.groupBy(C.CELL_ID).agg(*aggs)
    if C.X_M in cells.columns:
        per_cell = per_cell.select(C.CELL_ID, C.SPACING_M, "_site.*")
    return stays.join(F.broadcast(per_cell), C.CELL_ID, "left")


def _pieces(stays: DataFrame, month: dt.date, start_h: float, end_h: float,
            days: Sequence[dt.date] | None = None) -> DataFrame:
    """Split stays into their overlaps with the window [d + start_h, d + end_h) of each date d
    of the month (end_h may exceed 24: the window runs into the next day).

    Needs ``user_id``, ``stay_start``, ``stay_end``, ``lon``, ``lat``, optionally
    ``place_cell`` and ``spacing_m`` (site spacing at the stay's cell, see
    :func:`with_spacing`). Returns ``user_id``, ``key_date`` (= d), ``overlap_s`` (> 0),
    ``lon``, ``lat``, ``place_cell``, ``spacing_m`` (null when not given) and the
    :data:`SITE_COLUMNS` the stays have; rows with no overlap are dropped.
    """
    t0 = F.unix_seconds(F.col(C.STAY_START))
    t1 = F.unix_seconds(F.col(C.STAY_END))
    back = int((end_h + 23) // 24)  # windows of earlier dates that can reach into a day
    spacing = (F.col(C.SPACING_M) if C.SPACING_M in stays.columns
               else F.lit(None).cast("double"))
    place = (F.col(C.PLACE_CELL) if C.PLACE_CELL in stays.columns
             else F.lit(None).cast("bigint"))
    site = [c for c in SITE_COLUMNS if c in stays.columns]
    cand = stays.select(
        C.USER_ID, C.LON, C.LAT, place.alias(C.PLACE_CELL), spacing.alias(C.SPACING_M),
        *site, t0.alias("_t0"), t1.alias("_t1"),
        F.explode(F.sequence(F.date_sub(F.to_date(C.STAY_START), back),
                             F.to_date(C.STAY_END))).alias(C.KEY_DATE))
    d0 = F.unix_seconds(F.col(C.KEY_DATE).cast("timestamp"))
    w0 = d0 + F.lit(int(round(start_h * 3600)))
    w1 = d0 + F.lit(int(round(end_h * 3600)))
    overlap = F.least(F.col("_t1"), w1) - F.greatest(F.col("_t0"), w0)
    in_month = ((F.col(C.KEY_DATE) >= F.lit(month))
                & (F.col(C.KEY_DATE) < F.lit(next_month(month))))
    if days is not None:
        in_month = in_month & F.col(C.KEY_DATE).isin(list(days))
    return (cand.where(in_month)
            .select(C.USER_ID, C.KEY_DATE, overlap.alias(C.OVERLAP_S), C.LON, C.LAT,
                    C.PLACE_CELL, C.SPACING_M, *site)
            .where(F.col(C.OVERLAP_S) > 0))


def day_pieces(stays: DataFrame, month: dt.date) -> DataFrame:
    """Stay time per local calendar day of the month (see ``_pieces``)."""
    return _pieces(stays, month, 0, 24)


def night_pieces(stays: DataFrame, month: dt.date, night_start_h: int,
                 night_end_h: int) -> DataFrame:
    """Night-time stay time; ``key_date`` is the evening's date.

    A window 21-07 runs from 21:00 on d to 07:00 on d+1; a window such as 0-6 (start before
    end) runs from 00:00 to 06:00 on d+1, still keyed by the evening d.
    """
    start = night_start_h if night_start_h > night_end_h else night_start_h + 24
    return _pieces(stays, month, start, night_end_h + 24)


def morning_pieces(stays: DataFrame, month: dt.date, night_end_h: int) -> DataFrame:
    """Stay time in the :data:`NIGHT_REST_WINDOW_H` hours after the night window ends,
    keyed by the night's evening date (07:00-13:00 on d+1 for the night of d)."""
    return _pieces(stays, month, night_end_h + 24, night_end_h + 24 + NIGHT_REST_WINDOW_H)


def work_pieces(stays: DataFrame, month: dt.date, workdays: Sequence[dt.date],
                work_start_h: int, work_end_h: int) -> DataFrame:
    """Daytime stay time on the given workdays (holiday calendar applied by the caller)."""
    return _pieces(stays, month, work_start_h, work_end_h, days=list(workdays))


def _weighted(col: str) -> Column:
    """The duration-weighted mean of ``col`` over a group of pieces."""
    return F.sum(F.col(col) * F.col(C.OVERLAP_S)) / F.sum(C.OVERLAP_S)


def place_scores(pieces: DataFrame, ring: int) -> DataFrame:
    """Time per candidate place: ``user_id``, ``anchor``, ``total_s``, ``n_days``,
    ``place_lon``, ``place_lat`` (duration-weighted centroid of the pieces in the place),
    ``place_spacing_m`` (largest site spacing among them).

    Each piece counts for every candidate whose ring contains its cell.
    """
    anchors = pieces.select(
        "*", F.explode(F.expr(f"ST_H3KRing({C.PLACE_CELL}, {int(ring)}, false)"))
        .alias(ANCHOR))
    return anchors.groupBy(C.USER_ID, ANCHOR).agg(
        F.sum(C.OVERLAP_S).alias(TOTAL_S),
        F.countDistinct(C.KEY_DATE).alias(N_DAYS),
        _weighted(C.LON).alias(PLACE_LON),
        _weighted(C.LAT).alias(PLACE_LAT),
        F.max(C.SPACING_M).alias(PLACE_SPACING_M))


@dataclass(frozen=True)
class Voronoi:
    """The order-2 Voronoi pull of a refined home (``home_work.home_voronoi_weight``).

    ``edges``: :func:`mobsig.cells.site_edges` of the cells table's public antennas (a
    Spark frame); ``weight``: the share of the way from the weighted mean towards the
    piece's centroid; ``width_deg``: sector width; ``metric_crs``: the CRS of the
    antennas' ``x_m``/``y_m`` (the centroid is returned in CGCS2000)."""
    edges: DataFrame
    weight: float
    width_deg: float
    metric_crs: str

    def pull(self, near: DataFrame, refined: DataFrame) -> DataFrame:
        """``refined`` (``user_id``, ``_rlon``, ``_rlat``) moved towards the centroid of
        the order-2 piece of each user's two sites with the most time among ``near`` (the
        pieces the refinement averaged, with :data:`SITE_COLUMNS`). Users whose two sites
        are not neighbours, with one site only, or whose piece is degenerate keep the
        weighted mean."""
        by_site = (near.where(F.col(C.SITE_X).isNotNull())
                   .groupBy(C.USER_ID, C.SITE_X, C.SITE_Y, C.AZIMUTH)
                   .agg(F.sum(C.OVERLAP_S).alias("_t"))
                   .groupBy(C.USER_ID, C.SITE_X, C.SITE_Y)
                   .agg(F.sum("_t").alias("_t"),
                        F.max_by(C.AZIMUTH, F.struct("_t", F.col(C.AZIMUTH))).alias("_az")))
        w = Window.partitionBy(C.USER_ID).orderBy(F.col("_t").desc(), C.SITE_X, C.SITE_Y)
        top = by_site.withColumn("_k", F.row_number().over(w)).where("_k <= 2")
        a = top.where("_k = 1").select(C.USER_ID, F.col(C.SITE_X).alias("a_x"),
                                       F.col(C.SITE_Y).alias("a_y"), F.col("_az").alias("a_az"))
        b = top.where("_k = 2").select(C.USER_ID, F.col(C.SITE_X).alias("b_x"),
                                       F.col(C.SITE_Y).alias("b_y"), F.col("_az").alias("b_az"))
        pairs = a.join(b, C.USER_ID).join(self.edges, ["a_x", "a_y", "b_x", "b_y"])
        width, crs = float(self.width_deg), self.metric_crs

        @F.pandas_udf("lon double, lat double")
        def centroid(ax, ay, a_az, bx, by, b_az, v1x, v1y, v2x, v2y):
            import pandas as pd
            from pyproj import Transformer

            from mobsig.cells import order2_centroid
            cx, cy = order2_centroid(ax, ay, a_az, bx, by, b_az, v1x.to_numpy(),
                                     v1y.to_numpy(), v2x.to_numpy(), v2y.to_numpy(), width)
            lon, lat = Transformer.from_crs(crs, "EPSG:4490", always_xy=True).transform(cx, cy)
            return pd.DataFrame({"lon": lon, "lat": lat})

        cols = ["a_x", "a_y", "a_az", "b_x", "b_y", "b_az", "v1_x", "v1_y", "v2_x", "v2_y"]
        cen = pairs.select(C.USER_ID, centroid(*cols).alias("_c"))
        k = F.lit(float(self.weight))

        def pulled(mean: str, c: str) -> Column:
            return F.coalesce(F.col(mean) + k * (F.col(c) - F.col(mean)), F.col(mean))

        return (refined.join(cen, C.USER_ID, "left")
                .select(C.USER_ID, pulled("_rlon", "_c.lon").alias("_rlon"),
                        pulled("_rlat", "_c.lat").alias("_rlat")))


def cell_sites(spark, cells: DataFrame | None) -> DataFrame:
    """The cells table's columns :func:`stays_for_places` uses (``cell_id``, ``spacing_m``,
    ``x_m``, ``y_m``, ``azimuth``, ``valid_from``), or an empty frame without a table."""
    if cells is None:
        return spark.createDataFrame([], "cell_id string, spacing_m double")
    return cells.select(C.CELL_ID, C.SPACING_M, C.X_M, C.Y_M, C.AZIMUTH, C.VALID_FROM)


def voronoi_of(cells: DataFrame | None, cfg: Config) -> Voronoi | None:
    """The :class:`Voronoi` pull of ``home_work.home_voronoi_weight`` from the cells table
    (``x_m``, ``y_m``, ``is_hsr``): the Delaunay neighbours of its public sites
    (:func:`mobsig.cells.site_edges` on the driver, sites merged within
    ``cells.site_merge_m``; one row per ordered pair of antenna positions). None when
    the weight is 0 or there is no cells table."""
    weight = cfg.home_work.home_voronoi_weight
    if weight <= 0 or cells is None:
        return None
    from mobsig.cells import SITE_EDGE_COLUMNS, site_edges

    public = ~F.coalesce(F.col(C.IS_HSR), F.lit(False)) if C.IS_HSR in cells.columns \
        else F.lit(True)
    pos = cells.where(public & F.col(C.X_M).isNotNull()).select(C.X_M, C.Y_M).distinct()
    pos = pos.toPandas()
    edges = site_edges(pos[C.X_M].to_numpy(float), pos[C.Y_M].to_numpy(float),
                       cfg.cells.site_merge_m)
    schema = ", ".join(f"{c} double" for c in SITE_EDGE_COLUMNS)
    return Voronoi(cells.sparkSession.createDataFrame(edges, schema), weight,
                   cfg.cells.sector_width_deg, cfg.run.metric_crs)


def refine_place(pieces: DataFrame, places: DataFrame, factor: float,
                 min_m: float, voronoi: Voronoi | None = None) -> DataFrame:
    """Re-centre each user's chosen place on all its pieces nearby.

    ``places`` has ``user_id``, ``_lon``, ``_lat``, ``place_spacing_m``. Every piece of the
    user within max(``min_m``, ``factor`` x place spacing) of the place counts, duration
    weighted; with ``voronoi`` (and pieces with :data:`SITE_COLUMNS`) the weighted mean is
    then pulled towards the order-2 Voronoi piece of the two sites with the most time
    (:meth:`Voronoi.pull`). Returns ``user_id``, ``_lon``, ``_lat`` (the place's own
    position where no piece is near, which cannot happen for pieces that formed the
    place).
    """
    radius = F.greatest(F.lit(float(min_m)),
                        F.lit(float(factor)) * F.coalesce(F.col(PLACE_SPACING_M), F.lit(0.0)))
    site = [c for c in SITE_COLUMNS if c in pieces.columns]
    near = (pieces.select(C.USER_ID, C.LON, C.LAT, C.OVERLAP_S, *site)
            .join(places.select(C.USER_ID, "_lon", "_lat", PLACE_SPACING_M), C.USER_ID)
            .where(sphere_dist_m(F.col(C.LON), F.col(C.LAT), F.col("_lon"), F.col("_lat"))
                   <= radius))
    refined = (near.groupBy(C.USER_ID)
               .agg(_weighted(C.LON).alias("_rlon"), _weighted(C.LAT).alias("_rlat")))
    if voronoi is not None and voronoi.weight > 0 and len(site) == len(SITE_COLUMNS):
        refined = voronoi.pull(near, refined)
    return (places.join(refined, C.USER_ID, "left")
            .select(C.USER_ID, F.coalesce("_rlon", "_lon").alias("_lon"),
                    F.coalesce("_rlat", "_lat").alias("_lat")))


def _top(scores: DataFrame) -> DataFrame:
    w = Window.partitionBy(C.USER_ID).orderBy(F.col(TOTAL_S).desc(), F.col(ANCHOR))
    return scores.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")


def sphere_dist_m(lon1: Column, lat1: Column, lon2: Column, lat2: Column) -> Column:
    """Great-circle distance in metres (haversine, R = 6,371,008.8 m)."""
    r1, r2 = F.radians(lat1), F.radians(lat2)
    dl = F.radians(lon2 - lon1)
    a = (F.pow(F.sin((r2 - r1) / 2), 2)
         + F.cos(r1) * F.cos(r2) * F.pow(F.sin(dl / 2), 2))
    return F.lit(2 * 6_371_008.8) * F.asin(F.least(F.lit(1.0), F.sqrt(a)))


def identify_home(nights: DataFrame, ring: int, min_nights: int,
                  min_night_share: float, refine_factor: float = 0.0,
                  refine_min_m: float = 0.0, days: DataFrame | None = None,
                  rest_min_ratio: float = 0.0, rest_min_dist_m: float = 500.0,
                  keep=lambda df: df, voronoi: Voronoi | None = None,
                  workdays: Sequence[dt.date] | None = None) -> DataFrame:
    """Home per user from night pieces, or from the day-rest place (night-shift workers).

    The best night place decides whether there is a home (nights, night share); its
    position is refined with :func:`refine_place` when ``refine_factor`` > 0 (home rule
    ``night``). With ``days`` (day pieces, all hours) and ``rest_min_ratio`` > 0, a card
    whose night home is identified but whose *rest place*, the place with the most stay
    time over all hours of the month, is another place (>= ``rest_min_dist_m`` from the
    night place), holds >= ``rest_min_ratio`` x the night place's time over all hours and
    is regular (seen on >= ``min_nights`` days and >= ``min_night_share`` of the days
    present) and, with ``workdays``, holds at least the night place's time on the days
    off (the dates of ``days`` not in ``workdays``) gets the rest place as its home (home
    rule ``day_rest``, refined among the day pieces): its long regular stays are in the
    day and its nights are spent elsewhere, at work. The days off tell a night-shift
    worker (at home on them) from a day worker whose home's time is split over several
    places (masts km apart, each serving part of it) so that the work place holds more
    time than any one of them: the day worker spends the days off at home, not at work.
    Its night place is returned as ``night_work_lon`` / ``night_work_lat`` with its
    nights, ``night_work_days`` (null for other cards), for :func:`home_work_table` to
    make it the work place.

    Returns one row per user with night pieces: ``user_id``, ``nights_observed``,
    ``nights_at_home`` (nights with night-time stay time at the home place; the best
    night place when no home is identified), ``home_lon``/``home_lat`` (null when not
    identified), ``home_reason`` (null when identified), ``home_rule`` (night, day_rest;
    null when not identified), ``night_work_lon``, ``night_work_lat``,
    ``night_work_days``, :data:`mobsig.settlement.HOME_SPACING_M` (the site spacing of
    the home's place; null without a home).

    ``keep`` persists a frame the plan reads more than once (the night and day place
    scores, the night rule's result): without it Spark computes them again for each use.
    """
    observed = nights.groupBy(C.USER_ID).agg(
        F.countDistinct(C.KEY_DATE).cast("int").alias(C.NIGHTS_OBSERVED))
    night_scores = keep(place_scores(nights, ring))
    best = _top(night_scores).select(
        C.USER_ID, F.col(ANCHOR).alias("_nanchor"),
        F.col(N_DAYS).cast("int").alias(C.NIGHTS_AT_HOME),
        F.col(PLACE_LON).alias("_lon"), F.col(PLACE_LAT).alias("_lat"),
        PLACE_SPACING_M)
    out = observed.join(best, C.USER_ID, how="left")
    reason = (F.when(F.col(C.NIGHTS_AT_HOME) < min_nights, F.lit("few_nights"))
              .when(F.col(C.NIGHTS_AT_HOME)
                    < F.col(C.NIGHTS_OBSERVED) * F.lit(min_night_share),
                    F.lit("low_night_share")))
    out = out.withColumn(C.HOME_REASON, reason)
    # the night place itself (unrefined): the work place of a day-rest card
    out = out.withColumn("_nlon", F.col("_lon")).withColumn("_nlat", F.col("_lat"))
    if refine_factor > 0:
        where = refine_place(nights, best, refine_factor, refine_min_m, voronoi)
        out = out.drop("_lon", "_lat").join(where, C.USER_ID, how="left")
    if days is not None and rest_min_ratio > 0:
        out = keep(out)
        out = out.join(_day_rest(days, night_scores, out, ring, min_nights,
                                 min_night_share, refine_factor, refine_min_m,
                                 rest_min_ratio, rest_min_dist_m, keep, voronoi, workdays),
                       C.USER_ID, how="left")
    else:
        out = out.select("*", F.lit(None).cast("boolean").alias("_rest"),
                         *[F.lit(None).cast(t).alias(c) for c, t in
                           (("_rlon", "double"), ("_rlat", "double"), ("_rnights", "long"),
                            ("_rspacing", "double"))])
    rest = F.coalesce(F.col("_rest"), F.lit(False))
    ok = F.col(C.HOME_REASON).isNull()
    return out.select(
        C.USER_ID, C.NIGHTS_OBSERVED,
        F.when(rest, F.col("_rnights")).otherwise(F.col(C.NIGHTS_AT_HOME))
        .cast("int").alias(C.NIGHTS_AT_HOME),
        F.when(rest, F.col("_rlon")).when(ok, F.col("_lon")).alias(C.HOME_LON),
        F.when(rest, F.col("_rlat")).when(ok, F.col("_lat")).alias(C.HOME_LAT),
        C.HOME_REASON,
        F.when(rest, F.lit("day_rest")).when(ok, F.lit("night")).alias(C.HOME_RULE),
        F.when(rest, F.col("_nlon")).alias(NIGHT_WORK_LON),
        F.when(rest, F.col("_nlat")).alias(NIGHT_WORK_LAT),
        F.when(rest, F.col(C.NIGHTS_AT_HOME)).cast("int").alias(NIGHT_WORK_DAYS),
        F.when(rest, F.col("_rspacing")).when(ok, F.col(PLACE_SPACING_M))
        .alias(HOME_SPACING_M))


def _day_rest(days: DataFrame, night_scores: DataFrame, night_homes: DataFrame, ring: int,
              min_days: int, min_share: float, refine_factor: float, refine_min_m: float,
              min_ratio: float, min_dist_m: float, keep=lambda df: df,
              voronoi: Voronoi | None = None,
              workdays: Sequence[dt.date] | None = None) -> DataFrame:
    """The day-rest cards of :func:`identify_home`: ``user_id``, ``_rest`` (true),
    ``_rlon``, ``_rlat`` (the rest place, refined among the day pieces), ``_rnights``
    (nights with night-time stay time at the rest place). ``night_homes``: ``user_id``,
    ``_nanchor``, ``_nlon``, ``_nlat``, ``home_reason`` (the night rule's result);
    ``workdays``: the days-off test (None: none)."""
    scores = place_scores(days, ring)
    if workdays is not None:
        off = place_scores(days.where(~F.col(C.KEY_DATE).isin(list(workdays))), ring)
        scores = scores.join(off.select(C.USER_ID, ANCHOR, F.col(TOTAL_S).alias("_off_s")),
                             [C.USER_ID, ANCHOR], how="left")
    else:
        scores = scores.withColumn("_off_s", F.lit(None).cast("double"))
    scores = keep(scores.withColumn("_off_s", F.coalesce(F.col("_off_s").cast("double"),
                                                         F.lit(0.0))))
    present = days.groupBy(C.USER_ID).agg(F.countDistinct(C.KEY_DATE).alias("_present"))
    top = _top(scores).select(
        C.USER_ID, F.col(ANCHOR).alias("_ranchor"), F.col(TOTAL_S).alias("_rtotal"),
        F.col(N_DAYS).alias("_rdays"), F.col(PLACE_LON).alias("_lon"),
        F.col(PLACE_LAT).alias("_lat"), PLACE_SPACING_M, F.col("_off_s").alias("_roff"))
    at_night_place = scores.select(C.USER_ID, F.col(ANCHOR).alias("_nanchor"),
                                   F.col(TOTAL_S).alias("_ntotal"),
                                   F.col("_off_s").alias("_noff"))
    cand = (night_homes.where(F.col(C.HOME_REASON).isNull())
            .select(C.USER_ID, "_nanchor", "_nlon", "_nlat")
            .join(top, C.USER_ID)
            .join(at_night_place, [C.USER_ID, "_nanchor"], how="left")
            .join(present, C.USER_ID))
    rest = cand.where(
        (F.col("_ranchor") != F.col("_nanchor"))
        & (sphere_dist_m(F.col("_lon"), F.col("_lat"), F.col("_nlon"), F.col("_nlat"))
           >= F.lit(float(min_dist_m)))
        & (F.col("_rtotal") >= F.lit(float(min_ratio)) * F.coalesce("_ntotal", F.lit(0)))
        & (F.col("_rdays") >= F.lit(int(min_days)))
        & (F.col("_rdays") >= F.col("_present") * F.lit(float(min_share)))
        & (F.col("_roff") >= F.coalesce("_noff", F.lit(0.0))))
    places = rest.select(C.USER_ID, "_ranchor", "_lon", "_lat", PLACE_SPACING_M)
    if refine_factor > 0:
        where = refine_place(days, places, refine_factor, refine_min_m, voronoi)
        places = places.drop("_lon", "_lat").join(where, C.USER_ID)
    nights_there = night_scores.select(C.USER_ID, F.col(ANCHOR).alias("_ranchor"),
                                       F.col(N_DAYS).alias("_rnights"))
    return (places.join(nights_there, [C.USER_ID, "_ranchor"], how="left")
            .select(C.USER_ID, F.lit(True).alias("_rest"), F.col("_lon").alias("_rlon"),
                    F.col("_lat").alias("_rlat"),
                    F.coalesce("_rnights", F.lit(0)).alias("_rnights"),
                    F.col(PLACE_SPACING_M).alias("_rspacing")))


def identify_work(work: DataFrame, days: DataFrame, homes: DataFrame, ring: int,
                  min_days: int, min_avg_h: float, min_home_dist_m: float,
                  workdays: Sequence[dt.date], spacing_factor: float = 0.0) -> DataFrame:
    """Work place per user from workday daytime pieces.

    ``days``: day pieces (for the workdays the user was present at all); ``homes``:
    ``user_id``, ``home_lon``, ``home_lat`` (null = no home, no distance rule). A
    candidate must be >= ``min_home_dist_m`` and >= ``spacing_factor`` x its
    ``place_spacing_m`` from home.
    Returns one row per user with daytime pieces: ``user_id``, ``days_at_work``,
    ``work_lon``/``work_lat`` (null when not identified) and ``work_reason``.
    """
    present = (days.where(F.col(C.KEY_DATE).isin(list(workdays)))
               .groupBy(C.USER_ID)
               .agg(F.countDistinct(C.KEY_DATE).alias("_workdays_present")))
    scores = place_scores(work, ring).join(
        homes.select(C.USER_ID, C.HOME_LON, C.HOME_LAT), C.USER_ID, how="left")
    far = (F.col(C.HOME_LON).isNull()
           | _away_from_home(PLACE_LON, PLACE_LAT, PLACE_SPACING_M, min_home_dist_m,
                             spacing_factor))
    any_user = scores.select(C.USER_ID).distinct()
    best = _top(scores.where(far)).join(present, C.USER_ID, how="left")
    out = any_user.join(best, C.USER_ID, how="left")
    avg_h = F.col(TOTAL_S) / F.lit(3600.0) / F.col("_workdays_present")
    reason = (F.when(F.col(ANCHOR).isNull(), F.lit("all_near_home"))
              .when(F.col(N_DAYS) < min_days, F.lit("few_days"))
              .when(avg_h < F.lit(float(min_avg_h)), F.lit("short_hours")))
    ok = reason.isNull()
    return out.select(
        C.USER_ID,
        F.when(ok, F.col(N_DAYS)).otherwise(F.lit(0)).cast("int").alias(C.DAYS_AT_WORK),
        F.when(ok, F.col(PLACE_LON)).alias(C.WORK_LON),
        F.when(ok, F.col(PLACE_LAT)).alias(C.WORK_LAT),
        reason.alias(C.WORK_REASON))


def _away_from_home(lon: str, lat: str, spacing: str, min_home_dist_m: float,
                    spacing_factor: float) -> Column:
    """Whether a position is far enough from ``home_lon``/``home_lat`` for a work place:
    >= ``min_home_dist_m`` and >= ``spacing_factor`` x the site spacing there (null when
    there is no home)."""
    return (sphere_dist_m(F.col(lon), F.col(lat), F.col(C.HOME_LON), F.col(C.HOME_LAT))
            >= F.greatest(F.lit(float(min_home_dist_m)),
                          F.lit(float(spacing_factor))
                          * F.coalesce(F.col(spacing), F.lit(0.0))))


def night_shift_pieces(nights: DataFrame, mornings: DataFrame, homes: DataFrame,
                       workdays: Sequence[dt.date], min_night_h: float, rest_h: float,
                       min_home_dist_m: float, spacing_factor: float = 0.0) -> DataFrame:
    """The night pieces of night shifts, to count as work pieces (module doc).

    A workday's night (``key_date`` = the evening) is a night shift when the card has a
    home, >= ``min_night_h`` hours of its night pieces are away from home (the distance of
    :func:`identify_work`: >= ``min_home_dist_m`` and >= ``spacing_factor`` x the site
    spacing of the piece) and >= ``rest_h`` hours of its ``mornings`` pieces (same key)
    are not. Returns those away pieces with the columns of ``nights``."""
    cols = nights.columns
    home = (homes.where(F.col(C.HOME_LON).isNotNull())
            .select(C.USER_ID, C.HOME_LON, C.HOME_LAT))
    away = _away_from_home(C.LON, C.LAT, C.SPACING_M, min_home_dist_m, spacing_factor)
    out = (nights.where(F.col(C.KEY_DATE).isin(list(workdays)))
           .join(home, C.USER_ID).where(away))
    keys = [C.USER_ID, C.KEY_DATE]
    night_s = out.groupBy(*keys).agg(F.sum(C.OVERLAP_S).alias("_away_s"))
    rest_s = (mornings.join(home, C.USER_ID).where(~away)
              .groupBy(*keys).agg(F.sum(C.OVERLAP_S).alias("_rest_s")))
    shifts = (night_s.join(rest_s, keys)
              .where((F.col("_away_s") >= F.lit(min_night_h * 3600.0))
                     & (F.col("_rest_s") >= F.lit(rest_h * 3600.0))))
    return out.join(shifts, keys, "left_semi").select(*cols)


def presence(days: DataFrame, nights: DataFrame) -> DataFrame:
    """Per user: ``days_present``, ``stay_h`` (from day pieces) and ``night_lon``/``night_lat``
    = location of the longest night piece (the longest day piece when there is none)."""
    per_day = days.groupBy(C.USER_ID).agg(
        F.countDistinct(C.KEY_DATE).cast("int").alias(C.DAYS_PRESENT),
        (F.sum(C.OVERLAP_S) / F.lit(3600.0)).alias(C.STAY_H),
        F.max(F.struct(C.OVERLAP_S, C.LON, C.LAT)).alias("_day_best"))
    per_night = nights.groupBy(C.USER_ID).agg(
        F.max(F.struct(C.OVERLAP_S, C.LON, C.LAT)).alias("_night_best"))
    out = per_day.join(per_night, C.USER_ID, how="left")
    best = F.coalesce(F.col("_night_best"), F.col("_day_best"))
    return out.select(C.USER_ID, C.DAYS_PRESENT, C.STAY_H,
                      best[C.LON].alias(C.NIGHT_LON), best[C.LAT].alias(C.NIGHT_LAT))


def with_pop_class(df: DataFrame, resident_min_days: int, short_term_min_days: int,
                   transit_max_h: float) -> DataFrame:
    """Add ``pop_class`` (first rule that holds):

    1. ``non_human`` when ``is_non_human``;
    2. ``transit`` when ``stay_h`` and ``observed_h`` (when the frame has it: user_flags'
       hours the card was seen in the area, at a stay or not) are both < transit_max_h
       (including cards with no stay at all);
    3. ``resident`` when a home is identified and ``days_present`` >= resident_min_days;
    4. ``unidentified`` when present >= resident_min_days but no home;
    5. ``short_term`` when present >= short_term_min_days;
    6. ``visitor`` otherwise (present on fewer days).

    Needs ``is_non_human``, ``stay_h``, ``home_lon``, ``days_present``.
    """
    days = F.col(C.DAYS_PRESENT)
    hours = (F.greatest(F.col(C.STAY_H), F.coalesce(F.col(C.OBSERVED_H), F.lit(0.0)))
             if C.OBSERVED_H in df.columns else F.col(C.STAY_H))
    cls = (F.when(F.col(C.IS_NON_HUMAN), F.lit("non_human"))
           .when(hours < F.lit(float(transit_max_h)), F.lit("transit"))
           .when(F.col(C.HOME_LON).isNotNull() & (days >= resident_min_days),
                 F.lit("resident"))
           .when(days >= resident_min_days, F.lit("unidentified"))
           .when(days >= short_term_min_days, F.lit("short_term"))
           .otherwise(F.lit("visitor")))
    return df.withColumn(C.POP_CLASS, cls)


def home_work_table(days: DataFrame, nights: DataFrame, work: DataFrame,
                    flags: DataFrame | None, hw: HomeWorkConfig, pop: PopulationConfig,
                    workdays: Sequence[dt.date], month_text: str,
                    h3_resolution: int, keep=lambda df: df,
                    voronoi: Voronoi | None = None,
                    mornings: DataFrame | None = None,
                    land: DataFrame | None = None) -> DataFrame:
    """The ``home_work`` rows of one month: one per card with a stay in the month or a row
    in ``flags`` (``user_id``, ``is_non_human``, ``is_group_primary``, ``multicard_group``).
    ``mornings`` (:func:`morning_pieces`) adds the night shifts of cards with a night
    home to their work pieces (:func:`night_shift_pieces`; off when None or
    ``work_night_min_h`` is 0).

    Cards without flags count as human single cards. Non-human cards get no home/work
    (reason ``non_human``). ``is_counted`` = human and the primary card of its group;
    non-primary cards keep their row and class but are not counted. ``keep`` persists the
    frames read more than once (see :func:`identify_home`); ``voronoi`` pulls refined
    homes towards their order-2 Voronoi piece (:class:`Voronoi`); ``land`` (residential
    land, :func:`mobsig.settlement.residential_land`) then takes the homes among sites
    >= ``settlement_min_spacing_m`` apart (:func:`mobsig.settlement.place_on_land`,
    ``home_position``), after the work rules measured their distances from where the
    stays put the home.
    """
    homes = identify_home(nights, hw.cluster_ring, hw.home_min_nights, hw.home_min_night_share,
                          hw.home_refine_spacing_factor, hw.home_refine_min_m, days,
                          hw.home_day_rest_min_ratio, hw.work_min_home_dist_m, keep, voronoi,
                          workdays)
    homes = keep(homes)
    if mornings is not None and hw.work_night_min_h > 0:
        night_homes = homes.where(F.col(NIGHT_WORK_LON).isNull())
        work = work.unionByName(night_shift_pieces(
            nights, mornings, night_homes, workdays, hw.work_night_min_h,
            hw.work_night_rest_h, hw.work_min_home_dist_m, hw.work_min_home_spacing_factor))
    works = identify_work(work, days, homes, hw.cluster_ring, hw.work_min_days,
                          hw.work_min_avg_h, hw.work_min_home_dist_m, workdays,
                          hw.work_min_home_spacing_factor)
    homes = place_on_land(homes, land, hw.settlement_min_spacing_m, hw.settlement_radius_factor)
    pres = presence(days, nights)
    users = pres.select(C.USER_ID)
    flag_cols = (C.IS_NON_HUMAN, C.IS_GROUP_PRIMARY, C.MULTICARD_GROUP)
    if flags is not None:
        # the hours a card was seen (user_flags.observed_h) decide transit with stay_h
        seen = (C.OBSERVED_H,) if C.OBSERVED_H in flags.columns else ()
        users = users.unionByName(flags.select(C.USER_ID)).distinct()
        users = users.join(flags.select(C.USER_ID, *flag_cols, *seen), C.USER_ID,
                           how="left")
    else:
        users = users.select(C.USER_ID,
                             *[F.lit(None).cast(t).alias(c)
                               for c, t in zip(flag_cols, ("boolean", "boolean", "string"),
                                               strict=True)])
    df = (users.join(pres, C.USER_ID, how="left")
          .join(homes, C.USER_ID, how="left")
          .join(works, C.USER_ID, how="left"))
    # a day-rest card (night-shift worker) works at its night place
    night_work = F.col(NIGHT_WORK_LON).isNotNull()
    df = df.select(
        *[c for c in df.columns
          if c not in (C.WORK_LON, C.WORK_LAT, C.DAYS_AT_WORK, C.WORK_REASON)],
        F.when(night_work, F.col(NIGHT_WORK_LON)).otherwise(F.col(C.WORK_LON))
        .alias(C.WORK_LON),
        F.when(night_work, F.col(NIGHT_WORK_LAT)).otherwise(F.col(C.WORK_LAT))
        .alias(C.WORK_LAT),
        F.when(night_work, F.col(NIGHT_WORK_DAYS)).otherwise(F.col(C.DAYS_AT_WORK))
        .alias(C.DAYS_AT_WORK),
        F.when(~night_work, F.col(C.WORK_REASON)).alias(C.WORK_REASON))
    non_human = F.coalesce(F.col(C.IS_NON_HUMAN), F.lit(False))
    human = ~non_human

    def if_human(col: str) -> Column:
        return F.when(human, F.col(col)).alias(col)

    def count_if_human(col: str) -> Column:
        return (F.when(human, F.coalesce(col, F.lit(0))).otherwise(F.lit(0))
                .cast("int").alias(col))

    def reason(col: str, lon: str, none: str) -> Column:
        return (F.when(non_human, F.lit("non_human"))
                .otherwise(F.coalesce(col, F.when(F.col(lon).isNull(), F.lit(none))))
                .alias(col))

    df = df.select(
        C.USER_ID,
        non_human.alias(C.IS_NON_HUMAN),
        F.coalesce(F.col(C.IS_GROUP_PRIMARY), F.lit(True)).alias(C.IS_GROUP_PRIMARY),
        C.MULTICARD_GROUP,
        F.coalesce(C.DAYS_PRESENT, F.lit(0)).cast("int").alias(C.DAYS_PRESENT),
        F.coalesce(C.STAY_H, F.lit(0.0)).alias(C.STAY_H),
        if_human(C.NIGHT_LON),
        if_human(C.NIGHT_LAT),
        F.coalesce(C.NIGHTS_OBSERVED, F.lit(0)).cast("int").alias(C.NIGHTS_OBSERVED),
        count_if_human(C.NIGHTS_AT_HOME),
        if_human(C.HOME_LON),
        if_human(C.HOME_LAT),
        reason(C.HOME_REASON, C.HOME_LON, "no_night_stays"),
        if_human(C.HOME_RULE),
        if_human(C.HOME_POSITION),
        count_if_human(C.DAYS_AT_WORK),
        if_human(C.WORK_LON),
        if_human(C.WORK_LAT),
        reason(C.WORK_REASON, C.WORK_LON, "no_workday_stays"),
        *([C.OBSERVED_H] if C.OBSERVED_H in df.columns else []),
    )
    df = with_pop_class(df, pop.resident_min_days, pop.short_term_min_days, pop.transit_max_h)
    return df.select(
        "*",
        h3_hex(C.HOME_LON, C.HOME_LAT, h3_resolution).alias(C.HOME_H3),
        h3_hex(C.WORK_LON, C.WORK_LAT, h3_resolution).alias(C.WORK_H3),
        (~F.col(C.IS_NON_HUMAN) & F.col(C.IS_GROUP_PRIMARY)).alias(C.IS_COUNTED),
        F.lit(month_text).alias(C.MONTH),
    ).drop(C.IS_NON_HUMAN, C.IS_GROUP_PRIMARY, C.OBSERVED_H)


def stays_for_places(stays: DataFrame, cells: DataFrame, cluster_resolution: int
                     ) -> DataFrame:
    """The stay columns home/work identification needs: ``user_id``, ``stay_start``,
    ``stay_end``, ``lon``, ``lat``, ``spacing_m`` (and the :data:`SITE_COLUMNS` when
    ``cells`` has ``x_m``, ``y_m``, ``azimuth``; :func:`with_spacing`) and
    ``place_cell`` (:func:`with_place_cell`). One row per stay."""
    cols = [C.USER_ID, C.STAY_START, C.STAY_END, C.LON, C.LAT, C.CELL_ID]
    return (with_spacing(stays.select(*cols), cells).drop(C.CELL_ID)
            .transform(with_place_cell, cluster_resolution))


def build_home_work(stays: DataFrame, flags: DataFrame | None, month: dt.date,
                    workdays: Sequence[dt.date], hw: HomeWorkConfig, pop: PopulationConfig,
                    h3_resolution: int, keep=lambda df: df,
                    voronoi: Voronoi | None = None, land: DataFrame | None = None
                    ) -> DataFrame:
    """The month's ``home_work`` rows from :func:`stays_for_places` output (the month's
    stays plus the first day of the next month) and the month's user flags (or None).

    ``keep`` (the job's ``ctx.detach``) materialises the day and night pieces, the place
    scores and the homes, each read several times by the plan (the day-rest rule reads
    the day pieces and the night scores again; the work rules read the homes): computed
    once, the job fits the default driver memory. With their lineage cut the plans built
    on them stay small: with ``ctx.keep`` (persisted, full lineage) Spark spent longer
    analysing and planning the month's plan than running it on a small month. ``land``:
    residential land for the homes among km-spaced sites (:func:`home_work_table`)."""
    day_p = keep(day_pieces(stays, month))
    night_p = keep(night_pieces(stays, month, hw.night_start_h, hw.night_end_h))
    work_p = work_pieces(stays, month, workdays, hw.work_start_h, hw.work_end_h)
    morning_p = morning_pieces(stays, month, hw.night_end_h)
    return home_work_table(day_p, night_p, work_p, flags, hw, pop, workdays,
                           month.strftime("%Y-%m"), h3_resolution, keep, voronoi, morning_p,
                           land)


def note_stays(ctx, stays: DataFrame) -> int:
    """The count of ``stays`` (:func:`stays_for_places` output) as the run's input, and of
    those without a site spacing (cells missing from the cells table: fact
    ``stays_without_spacing``, a warning when any). ``ctx``: a mobsig.runner.JobContext."""
    n = stays.agg(F.count(F.lit(1)).alias("n"),
                  F.count(C.SPACING_M).alias("spaced")).first()
    ctx.note_input("stays", n["n"])
    ctx.fact("stays_without_spacing", n["n"] - n["spaced"])
    if n["n"] > n["spaced"]:
        ctx.log.warning("%d of %d stays are at cells missing from the cells table (or "
                        "without spacing_m): homes found there are refined within the fixed "
                        "home_work.home_refine_min_m = %.0f m, not by the local site spacing",
                        n["n"] - n["spaced"], n["n"], ctx.cfg.home_work.home_refine_min_m)
    return n["n"]


def home_share(classes: dict[str, int]) -> tuple[float, int]:
    """The home identification share of a month from the counted cards per class:
    residents / (residents + unidentified), i.e. among cards present long enough to be
    residents, the share with an identified home (1.0 when there is none), and that
    denominator."""
    present = classes.get("resident", 0) + classes.get("unidentified", 0)
    return (classes.get("resident", 0) / present if present else 1.0), present
