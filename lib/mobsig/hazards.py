"""Exposure at geological hazard points 地质灾害隐患点 (domain.md §D, issue 15 item 3): per
point and hour of a day, the people within a buffer around the point (default 500 m, a
per-point override from an attribute of the layer), residents (home inside the buffer)
and visitors (everyone else present), raw 原样数量 and expanded 扩样数量, with the day and
night maxima; what an emergency manager needs in the rainy season: how many people are
exposed at which hour.

Pure transforms; the ``exposure_hazards`` job reads the stays overlapping the day
(``presence.stays_for_days``: closed stays of the day and the next, plus the runs still
open), the month's ``home_work`` (non-counted cards are left out), ``card_places`` (home
points, weights) with the expansion factors, and the points of screen.hazard_layers in
the ``units`` table, and chains them:

1. :func:`hazard_points` (driver, pandas): the points with their buffer radius (the
   attribute screen.hazard_buffer_attribute of the feature, else screen.hazard_buffer_m)
   and the metres per degree of longitude and latitude at the point (GRS80, the CGCS2000
   ellipsoid). Distances are measured on that local plane: exact to centimetres within a
   few kilometres, so a 500 m buffer is 500 m on the ground (the country-wide
   run.metric_crs would stretch it by its scale error, up to 3 %).
2. :func:`grid_of` / :func:`near_points`: a broadcast equi-join on a lon/lat grid whose
   cells are as large as the largest buffer (each point listed in the <= 9 cells its
   buffer touches), then the exact distance test: no row-at-a-time UDF and no spatial
   index, one hash join of the stays against a small broadcast table.
3. :func:`exposure_counts`: each stay near a point is split into clock hours
   (``presence.hour_pieces``); a card counts in hour h at a point when its stays inside
   the buffer cover at least screen.hazard_hour_min_minutes of the hour (default 30:
   where it mostly was during the hour). A stay is a stationary spell of at least
   stays.tau_min; a move (the transition between stays, a trip passing through) does not
   count: the handset's position on the way is not known to within a buffer and a
   passer-by spends minutes, not a share of the hour, inside. Per point, hour and group
   (``exposed`` = ``residents`` + ``visitors``): distinct cards and the sum of their
   expansion factors (``presence.card_weights``; a card without a card_places row, class
   unknown, weighs the overall factor and is a visitor).
4. :func:`profile_pandas` (per layer, ``applyInPandas``): every point x group x hour,
   zeros filled; small-count suppression below privacy.k_min raw cards per hour cell with
   complementary suppression within each hour (exposed = residents + visitors: never
   exactly one of the three hidden); then the ``day_max`` and ``night_max`` rows: the
   hour of the period with the largest expanded count (ties: the larger raw count, a
   published hour, the earlier hour), a copy of that hour's cell with its hour in
   ``peak_hour``. A maximum whose peak hour is hidden is hidden too (null count and null
   peak_hour), so a published maximum is always a published hourly value and never
   reveals a hidden hour; it only says that the hidden hours of the period are not
   larger.

Night hours: screen.hazard_night_start_hour (21) to screen.hazard_night_end_hour (7,
exclusive), the home-identification night of domain.md §B2; the other hours are day.

5. :func:`uncovered_points` / :func:`mark_uncovered`: a point whose buffer holds no cell
   of the day (neither a site nor a sector's service point, where stays are placed) is
   not observed: nobody can be seen inside it whoever is there, so its counts are
   published as null with ``null_reason`` no_coverage, never as a measured 0 (the rule
   population_by_unit applies to a polygon without a site). Measured on the 1,500-person
   region (sites up to 5 km apart): two of its five points had no cell within 500 m
   (the nearest service point 0.7 and 1.9 km away) and were published as 0 exposed
   against ~10 true persons day and night.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import columns as C
from mobsig import presence, privacy
from mobsig.errors import InputError
from mobsig.localdata import local_frame

EXPOSED, RESIDENTS, VISITORS = "exposed", "residents", "visitors"
MEASURES = (EXPOSED, RESIDENTS, VISITORS)
HOURLY, DAY_MAX, NIGHT_MAX = "hour", "day_max", "night_max"
STATISTICS = (HOURLY, DAY_MAX, NIGHT_MAX)
HOURS = tuple(range(24))
BUFFER_M = "buffer_m"
STATISTIC = "statistic"
PEAK_HOUR = "peak_hour"
NULL_REASON = "null_reason"
SUPPRESSED = "suppressed"
NO_COVERAGE = "no_coverage"
POINT = "_p"  # integer index of a point (the joins)
# GRS80 (the CGCS2000 ellipsoid)
_A = 6_378_137.0
_E2 = 0.006694380022900787


def night_hours(start: int, end: int) -> tuple[int, ...]:
    """The night hours from ``start`` to ``end`` (exclusive, wrapping past midnight)."""
    return tuple(h for h in HOURS if ((h - start) % 24) < ((end - start) % 24))


def metres_per_degree(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of longitude and of latitude at ``lat`` (degrees) on GRS80."""
    phi = np.radians(np.asarray(lat, float))
    w = np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    n = _A / w  # prime vertical radius
    m = _A * (1.0 - _E2) / w**3  # meridional radius
    return np.pi / 180.0 * n * np.cos(phi), np.pi / 180.0 * m


POINT_COLUMNS = [POINT, C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, C.LON, C.LAT,
                 BUFFER_M, "_mx", "_my"]


def hazard_points(units: pd.DataFrame, default_buffer_m: float, attribute: str,
                  max_buffer_m: float) -> tuple[pd.DataFrame, list[str]]:
    """The hazard points of ``units`` rows (``level``, ``unit_id``, ``unit_name``,
    ``parent_id``, ``attributes`` JSON, ``geometry_wkb`` EPSG:4490) as pandas:
    :data:`POINT_COLUMNS` (``_p`` 0..n-1 in (level, unit_id) order; ``buffer_m`` the
    feature's ``attribute`` when it is set, else ``default_buffer_m``; ``_mx``, ``_my``
    metres per degree at the point), and the ids of the features that are not points
    (skipped). An override that is not a number in (0, ``max_buffer_m``] is an InputError
    naming the points."""
    import shapely

    rows = units.sort_values([C.LEVEL, C.UNIT_ID]).reset_index(drop=True)
    geoms = shapely.from_wkb(rows[C.GEOMETRY_WKB].to_numpy()) if len(rows) else np.array([])
    is_point = (shapely.get_type_id(geoms) == 0) if len(rows) else np.zeros(0, bool)
    skipped = [f"{lv}/{u}" for lv, u, p in zip(rows[C.LEVEL], rows[C.UNIT_ID], is_point,
                                               strict=True) if not p]
    rows, geoms = rows[is_point].reset_index(drop=True), geoms[is_point]
    buffers, bad = [], []
    for uid, attrs in zip(rows[C.UNIT_ID], rows[C.ATTRIBUTES], strict=True):
        value = None
        if isinstance(attrs, str) and attrs:
            try:
                value = json.loads(attrs).get(attribute)
            except (ValueError, AttributeError):
                value = None
        if value is None or (isinstance(value, str) and not value.strip()):
            buffers.append(float(default_buffer_m))
            continue
        try:
            b = float(value)
        except (TypeError, ValueError):
            b = float("nan")
        if not (math.isfinite(b) and 0 < b <= max_buffer_m):
            bad.append(f"{uid}={value!r}")
        buffers.append(b)
    if bad:
        raise InputError(f"hazard points: attribute {attribute!r} must be a buffer in metres "
                         f"in (0, {max_buffer_m:g}]: {', '.join(bad[:10])}")
    lon = shapely.get_x(geoms) if len(rows) else np.zeros(0)
    lat = shapely.get_y(geoms) if len(rows) else np.zeros(0)
    mx, my = metres_per_degree(lat)
    out = pd.DataFrame({POINT: np.arange(len(rows), dtype=np.int64),
                        C.LEVEL: rows[C.LEVEL].astype(str).to_numpy(),
                        C.UNIT_ID: rows[C.UNIT_ID].astype(str).to_numpy(),
                        C.UNIT_NAME: rows[C.UNIT_NAME].to_numpy(),
                        C.PARENT_ID: rows[C.PARENT_ID].to_numpy(),
                        C.LON: lon, C.LAT: lat, BUFFER_M: np.asarray(buffers, float),
                        "_mx": mx, "_my": my})
    return out, skipped


MAX_BUFFER_M = 20_000.0  # the largest buffer a point may ask for (= screen.hazard_buffer_m's)


def layer_points(units: DataFrame, layers: Sequence[str], default_buffer_m: float,
                 attribute: str) -> tuple[pd.DataFrame, list[str]]:
    """:func:`hazard_points` of the ``layers`` rows of the ``units`` table (collected to
    the driver: a layer of points is small)."""
    rows = units.where(F.col(C.LEVEL).isin(list(layers))).select(
        C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, C.ATTRIBUTES, C.GEOMETRY_WKB).toPandas()
    return hazard_points(rows, default_buffer_m, attribute, MAX_BUFFER_M)


def home_points(places: DataFrame) -> DataFrame:
    """``user_id``, ``lon``, ``lat``: the home of each card of ``card_places`` that has
    one."""
    return places.where(F.col(C.HOME_LON).isNotNull() & F.col(C.HOME_LAT).isNotNull()).select(
        C.USER_ID, F.col(C.HOME_LON).alias(C.LON), F.col(C.HOME_LAT).alias(C.LAT))


def grid_of(points: pd.DataFrame) -> tuple[float, float, pd.DataFrame]:
    """The join grid of ``points`` (:func:`hazard_points`): cell sizes in degrees of
    longitude and latitude (the largest buffer at the points' highest latitude, so a
    buffer touches at most 3 x 3 cells), and per point each cell its buffer's bounding
    box touches: ``_gx``, ``_gy``, ``_p``, ``_plon``, ``_plat``, ``_r2`` (buffer squared,
    m²), ``_mx``, ``_my``."""
    if points.empty:
        return 1.0, 1.0, pd.DataFrame({k: pd.Series(dtype=t) for k, t in (
            ("_gx", "int64"), ("_gy", "int64"), (POINT, "int64"), ("_plon", "float64"),
            ("_plat", "float64"), ("_r2", "float64"), ("_mx", "float64"),
            ("_my", "float64"))})
    r = points[BUFFER_M].to_numpy(float)
    mx, my = points["_mx"].to_numpy(float), points["_my"].to_numpy(float)
    cell_lon = float((r / mx).max())
    cell_lat = float((r / my).max())
    lon, lat = points[C.LON].to_numpy(float), points[C.LAT].to_numpy(float)
    x0 = np.floor((lon - r / mx) / cell_lon).astype(np.int64)
    x1 = np.floor((lon + r / mx) / cell_lon).astype(np.int64)
    y0 = np.floor((lat - r / my) / cell_lat).astype(np.int64)
    y1 = np.floor((lat + r / my) / cell_lat).astype(np.int64)
    parts = []
    for dx in range(3):
        for dy in range(3):
            ok = (x0 + dx <= x1) & (y0 + dy <= y1)
            parts.append(pd.DataFrame({"_gx": (x0 + dx)[ok], "_gy": (y0 + dy)[ok],
                                       POINT: points[POINT].to_numpy()[ok],
                                       "_plon": lon[ok], "_plat": lat[ok],
                                       "_r2": (r * r)[ok], "_mx": mx[ok], "_my": my[ok]}))
    return cell_lon, cell_lat, pd.concat(parts, ignore_index=True)


def near_points(df: DataFrame, grid: DataFrame, cell_lon: float, cell_lat: float,
                keys: Sequence[str]) -> DataFrame:
    """``keys`` + ``_p`` of every (row of ``df``, point) whose ``lon``/``lat`` lies
    within the point's buffer (the border included). ``grid``: :func:`grid_of`'s table as
    a Spark frame (broadcast)."""
    gx = F.floor(F.col(C.LON) / F.lit(cell_lon)).cast("long")
    gy = F.floor(F.col(C.LAT) / F.lit(cell_lat)).cast("long")
    pts = df.where(F.col(C.LON).isNotNull() & F.col(C.LAT).isNotNull()).select(
        *keys, C.LON, C.LAT, gx.alias("_gx"), gy.alias("_gy"))
    dx = (F.col(C.LON) - F.col("_plon")) * F.col("_mx")
    dy = (F.col(C.LAT) - F.col("_plat")) * F.col("_my")
    return (pts.join(F.broadcast(grid), ["_gx", "_gy"])
            .where(dx * dx + dy * dy <= F.col("_r2")).select(*keys, POINT))


def exposure_counts(stays: DataFrame, classes: DataFrame, homes: DataFrame,
                    weights: DataFrame, default_weight: DataFrame, grid: DataFrame,
                    cell_lon: float, cell_lat: float, days: Sequence[dt.date],
                    hour_min_minutes: float) -> DataFrame:
    """``key_date``, ``_p``, ``measure``, ``hour``, ``raw_count``, ``expanded_count``: per
    day of ``days``, point, hour and group (exposed, residents, visitors) the cards
    counted there (module doc, step 3); only cells with a card have a row.

    ``stays``: ``user_id``, ``stay_start``, ``stay_end``, ``lon``, ``lat`` (optionally
    ``key_date``: ``presence.stays_for_days``); ``classes``: ``presence.card_classes``
    (non-counted cards are left out, a card without a row is kept); ``homes``:
    ``user_id``, ``lon``, ``lat`` of each card's home (card_places); ``weights`` /
    ``default_weight``: ``presence.card_weights``."""
    keys = [C.USER_ID, C.STAY_START, C.STAY_END]
    keys += [C.KEY_DATE] if C.KEY_DATE in stays.columns else []
    near = near_points(presence.counted_stays(stays, classes), grid, cell_lon, cell_lat,
                       keys)
    pieces = presence.hour_pieces(near, days, carry=(POINT,))
    present = (pieces.groupBy(C.KEY_DATE, C.USER_ID, POINT, C.HOUR)
               .agg(F.sum(C.OVERLAP_S).alias(C.OVERLAP_S))
               .where(F.col(C.OVERLAP_S) >= F.lit(float(hour_min_minutes) * 60.0)))
    at_home = near_points(homes, grid, cell_lon, cell_lat, [C.USER_ID]).distinct() \
        .withColumn("_home", F.lit(True))
    rows = (present.join(at_home, [C.USER_ID, POINT], how="left")
            .join(weights, C.USER_ID, how="left")
            .crossJoin(F.broadcast(default_weight.select(F.col(C.WEIGHT).alias("_d")))))
    group = F.when(F.col("_home"), F.lit(RESIDENTS)).otherwise(F.lit(VISITORS))
    weight = F.coalesce(F.col(C.WEIGHT), F.col("_d"), F.lit(1.0))
    exploded = rows.select(C.KEY_DATE, POINT, C.HOUR, weight.alias(C.WEIGHT),
                           F.explode(F.array(F.lit(EXPOSED), group)).alias(C.MEASURE))
    return exploded.groupBy(C.KEY_DATE, POINT, C.MEASURE, C.HOUR).agg(
        F.count(F.lit(1)).cast("bigint").alias(C.RAW_COUNT),
        F.sum(C.WEIGHT).alias(C.EXPANDED_COUNT))


def complete(counts: DataFrame, points: DataFrame) -> DataFrame:
    """Every point x group x hour (zeros filled) with the point's columns: ``level``,
    ``unit_id``, ``unit_name``, ``parent_id``, ``buffer_m``, ``measure``, ``hour``,
    ``raw_count``, ``expanded_count``, from ONE day's :func:`exposure_counts`.
    ``points``: :func:`hazard_points` as Spark."""
    cells = F.explode(F.array(*[F.struct(F.lit(m).alias(C.MEASURE), F.lit(h).alias(C.HOUR))
                                for m in MEASURES for h in HOURS])).alias("_c")
    frame = points.select(POINT, C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, BUFFER_M,
                          cells).select("*", F.col("_c")[C.MEASURE].alias(C.MEASURE),
                                        F.col("_c")[C.HOUR].alias(C.HOUR)).drop("_c")
    return frame.join(counts, [POINT, C.MEASURE, C.HOUR], how="left").select(
        C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, BUFFER_M, C.MEASURE, C.HOUR,
        F.coalesce(C.RAW_COUNT, F.lit(0).cast("bigint")).alias(C.RAW_COUNT),
        F.coalesce(C.EXPANDED_COUNT, F.lit(0.0)).alias(C.EXPANDED_COUNT))


OUTPUT_COLUMNS = [C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, BUFFER_M, C.MEASURE,
                  STATISTIC, C.HOUR, PEAK_HOUR, C.RAW_COUNT, C.EXPANDED_COUNT,
                  C.IS_SUPPRESSED, NULL_REASON]
OUTPUT_SCHEMA = T.StructType([
    T.StructField(C.LEVEL, T.StringType(), False),
    T.StructField(C.UNIT_ID, T.StringType(), False),
    T.StructField(C.UNIT_NAME, T.StringType(), True),
    T.StructField(C.PARENT_ID, T.StringType(), True),
    T.StructField(BUFFER_M, T.DoubleType(), False),
    T.StructField(C.MEASURE, T.StringType(), False),
    T.StructField(STATISTIC, T.StringType(), False),
    T.StructField(C.HOUR, T.IntegerType(), True),
    T.StructField(PEAK_HOUR, T.IntegerType(), True),
    T.StructField(C.RAW_COUNT, T.LongType(), True),
    T.StructField(C.EXPANDED_COUNT, T.DoubleType(), True),
    T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False),
    T.StructField(NULL_REASON, T.StringType(), True)])


def suppress_hours(pdf: pd.DataFrame, k_min: int, complementary: bool,
                   suppress_zeros: bool, width: float | None = None,
                   audits: list | None = None) -> np.ndarray:
    """The mask of hourly cells (``level``, ``unit_id``, ``measure``, ``hour``,
    ``raw_count``) to hide: below ``k_min`` (a zero only with ``suppress_zeros``) and,
    with ``complementary``, within each point and hour never exactly one of exposed,
    residents and visitors (exposed = residents + visitors; ``privacy.suppression_mask``
    with the point-hour as the unit). No other identity ties the cells: a card counts in
    several hours and several overlapping buffers, so no total over hours or points is a
    sum of published cells. With a protection ``width``, the interval audit of that
    identity (:mod:`mobsig.privacy_audit`: exposed 15 published over residents 7 and
    visitors 8 leaves each in [1, 14]) hides more cells until every suppressed cell is at
    least ``width`` wide; the audit is appended to ``audits``. A published maximum
    bounds the hidden hours' expanded counts, not their raw ones (their factors differ),
    so it is not a relation of the audit."""
    cell = pdf[C.UNIT_ID].astype(str) + "@" + pdf[C.HOUR].astype(int).astype(str)
    frame = pd.DataFrame({C.LEVEL: pdf[C.LEVEL].to_numpy(), C.PARENT_ID: cell.to_numpy(),
                          C.UNIT_ID: cell.to_numpy(), C.MEASURE: pdf[C.MEASURE].to_numpy(),
                          C.RAW_COUNT: pdf[C.RAW_COUNT].to_numpy()})
    ident = ((EXPOSED, (RESIDENTS, VISITORS)),)
    mask = privacy.suppression_mask(frame, k_min, complementary, suppress_zeros,
                                    identities=ident, by=C.MEASURE)
    if width is None:
        return mask
    from mobsig import privacy_audit

    mask, audit = privacy_audit.audited_suppression_mask(
        frame.assign(**{C.PARENT_ID: None}), k_min, width, complementary, suppress_zeros,
        ident, (), C.MEASURE, forced=mask, regroup=False)
    if audits is not None:
        audits.append(audit)
    return mask


def profile_pandas(pdf: pd.DataFrame, k_min: int, complementary: bool,
                   suppress_zeros: bool, night: Sequence[int], width: float | None = None,
                   audits: list | None = None) -> pd.DataFrame:
    """The published rows of one layer's :func:`complete` rows (module doc, step 4):
    :data:`OUTPUT_COLUMNS`, the hourly rows (``statistic`` hour) then per point and group
    the ``day_max`` and ``night_max`` rows."""
    if pdf.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
    h = pdf.sort_values([C.UNIT_ID, C.MEASURE, C.HOUR]).reset_index(drop=True)
    h[C.HOUR] = h[C.HOUR].astype(int)
    hidden = suppress_hours(h, k_min, complementary, suppress_zeros, width, audits)
    h[C.IS_SUPPRESSED] = hidden
    h[STATISTIC] = HOURLY
    h[PEAK_HOUR] = pd.array([pd.NA] * len(h), dtype="Int64")
    is_night = h[C.HOUR].isin(list(night)).to_numpy()
    maxima = []
    for stat, in_period in ((DAY_MAX, ~is_night), (NIGHT_MAX, is_night)):
        p = h[in_period]
        if p.empty:
            continue
        # the peak: largest expanded count, then the larger raw count, then a published
        # hour before a hidden one of equal counts (publishing the tie reveals only that
        # the hidden hour is not larger), then the earlier hour (night hours in clock
        # order from the night's start)
        order = p.assign(_rank=[(x - night[0]) % 24 if stat == NIGHT_MAX else x
                                for x in p[C.HOUR]])
        order = order.sort_values([C.UNIT_ID, C.MEASURE, C.EXPANDED_COUNT, C.RAW_COUNT,
                                   C.IS_SUPPRESSED, "_rank"],
                                  ascending=[True, True, False, False, True, True],
                                  kind="mergesort")
        peak = order.drop_duplicates([C.UNIT_ID, C.MEASURE], keep="first").copy()
        zero = peak[C.RAW_COUNT].to_numpy() == 0
        peak[PEAK_HOUR] = pd.array(np.where(peak[C.IS_SUPPRESSED] | zero, -1,
                                            peak[C.HOUR]), dtype="Int64")
        peak.loc[peak[PEAK_HOUR] == -1, PEAK_HOUR] = pd.NA
        peak[STATISTIC] = stat
        peak[C.HOUR] = -1
        maxima.append(peak.drop(columns="_rank"))
    out = pd.concat([h, *maxima], ignore_index=True)
    sup = out[C.IS_SUPPRESSED].to_numpy(bool)
    out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(sup)
    out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(sup)
    out[NULL_REASON] = np.where(sup, SUPPRESSED, None)
    out[C.HOUR] = pd.array(np.where(out[STATISTIC] == HOURLY, out[C.HOUR], -1),
                           dtype="Int64")
    out.loc[out[STATISTIC] != HOURLY, C.HOUR] = pd.NA
    out[PEAK_HOUR] = out[PEAK_HOUR].astype("Int64")
    return out[OUTPUT_COLUMNS]


def publish(table: DataFrame, k_min: int, complementary: bool, suppress_zeros: bool,
            night: Sequence[int], width: float | None = None, on_audit=None) -> DataFrame:
    """:func:`profile_pandas` per layer of :func:`complete`'s rows (``applyInPandas``).
    With a protection ``width``: on the driver (the day's hourly cells, through Arrow),
    audited (:func:`suppress_hours`), ``on_audit`` called with the audit of every
    layer."""
    nights = tuple(night)
    if width is not None:
        from mobsig import privacy_audit

        pdf = table.toPandas()
        parts: dict = {}
        outs = []
        for lv, rows in pdf.groupby(C.LEVEL, sort=True):
            found: list = []
            outs.append(profile_pandas(rows, k_min, complementary, suppress_zeros, nights,
                                       width, found))
            parts.update({str(lv): a for a in found})
        if on_audit is not None:
            on_audit(privacy_audit.combine(parts, width))
        out = pd.concat(outs, ignore_index=True) if outs else pd.DataFrame(
            {c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
        return table.sparkSession.createDataFrame(out[OUTPUT_COLUMNS], OUTPUT_SCHEMA)

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return profile_pandas(pdf, k_min, complementary, suppress_zeros, nights)

    return table.groupBy(C.LEVEL).applyInPandas(apply, OUTPUT_SCHEMA)


def uncovered_points(cells: DataFrame, points: pd.DataFrame, days: Sequence[dt.date]
                     ) -> pd.DataFrame:
    """The :func:`hazard_points` ``points`` whose buffer holds no cell valid on a day of
    ``days``: ``key_date``, ``level``, ``unit_id``, ``unit_name`` (pandas). A cell counts
    by its site (``lon``/``lat``) or its service point (``svc_lon``/``svc_lat``, where
    the stays of its events are placed). One broadcast grid join of the cells (their
    validity kept) and a small collect; the days are judged on the driver."""
    cols = [C.KEY_DATE, C.LEVEL, C.UNIT_ID, C.UNIT_NAME]
    if points.empty or not days:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    validity = [F.col("valid_from"), F.col("valid_to")]
    svc = [c for c in ("svc_lon", "svc_lat") if c in cells.columns]
    pos = cells.select(C.LON, C.LAT, *validity)
    if len(svc) == 2:
        pos = pos.unionByName(cells.select(F.col("svc_lon").alias(C.LON),
                                           F.col("svc_lat").alias(C.LAT), *validity))
    cell_lon, cell_lat, grid = grid_of(points)
    hits = (near_points(pos, grid_frame(cells.sparkSession, grid), cell_lon, cell_lat,
                        ["valid_from", "valid_to"]).distinct().toPandas())
    rows = []
    for day in sorted(days):
        vf, vt = hits["valid_from"], hits["valid_to"]
        on = hits[(vf.isna() | (vf <= day)) & (vt.isna() | (vt >= day))]
        gone = points[~points[POINT].isin(on[POINT])]
        rows += [(day, lv, u, n) for lv, u, n in zip(gone[C.LEVEL], gone[C.UNIT_ID],
                                                     gone[C.UNIT_NAME], strict=True)]
    return pd.DataFrame(rows, columns=cols)


def noted_uncovered(ctx, cells: DataFrame, points: pd.DataFrame, day: dt.date
                    ) -> pd.DataFrame:
    """:func:`uncovered_points` of the job's ``day``, with the warning naming them and
    the run facts ``uncovered_points`` (how many) and ``uncovered_point_ids``
    (``level:unit_id``, sorted)."""
    gone = uncovered_points(cells, points, [day])
    ids = sorted(f"{lv}:{u}" for lv, u in zip(gone[C.LEVEL], gone[C.UNIT_ID], strict=True))
    ctx.fact("uncovered_points", len(ids))
    ctx.fact("uncovered_point_ids", ids)
    if ids:
        ctx.log.warning("%d hazard point(s) have no cell (site or service point) within "
                        "their buffer on %s; their counts are published as null with "
                        "null_reason 'no_coverage', not as 0: %s", len(ids), day,
                        ", ".join(ids))
    return gone


def mark_uncovered(table: DataFrame, uncovered: pd.DataFrame) -> DataFrame:
    """The published ``table`` (:func:`publish`) with the rows of the ``uncovered``
    points (``level``, ``unit_id``: :func:`uncovered_points` of the table's day) not
    observed: counts and ``peak_hour`` null, ``null_reason`` no_coverage (a 0 there
    would be a guess published as a measurement), ``is_suppressed`` false (nothing is
    withheld: there is nothing to withhold)."""
    if uncovered.empty:
        return table
    gone = local_frame(table.sparkSession,
                       [(lv, u) for lv, u in zip(uncovered[C.LEVEL], uncovered[C.UNIT_ID],
                                                 strict=True)],
                       f"{C.LEVEL} string, {C.UNIT_ID} string").withColumn(
        "_gone", F.lit(True)).distinct()
    out = table.join(F.broadcast(gone), [C.LEVEL, C.UNIT_ID], how="left")
    hit = F.coalesce(F.col("_gone"), F.lit(False))
    nulls = (C.RAW_COUNT, C.EXPANDED_COUNT, PEAK_HOUR)
    return out.select(*[
        F.when(hit, F.lit(None)).otherwise(F.col(c)).alias(c) if c in nulls
        else F.when(hit, F.lit(NO_COVERAGE)).otherwise(F.col(c)).alias(c) if c == NULL_REASON
        else (~hit & F.col(c)).alias(c) if c == C.IS_SUPPRESSED
        else F.col(c) for c in table.columns])


def points_frame(spark: SparkSession, points: pd.DataFrame) -> DataFrame:
    """:func:`hazard_points`' table as a Spark frame."""
    schema = T.StructType([
        T.StructField(POINT, T.LongType(), False), T.StructField(C.LEVEL, T.StringType()),
        T.StructField(C.UNIT_ID, T.StringType()), T.StructField(C.UNIT_NAME, T.StringType()),
        T.StructField(C.PARENT_ID, T.StringType()), T.StructField(C.LON, T.DoubleType()),
        T.StructField(C.LAT, T.DoubleType()), T.StructField(BUFFER_M, T.DoubleType()),
        T.StructField("_mx", T.DoubleType()), T.StructField("_my", T.DoubleType())])
    rows = points[POINT_COLUMNS].astype(object).where(points[POINT_COLUMNS].notna(), None)
    return local_frame(spark, rows.values.tolist(), schema)


def grid_frame(spark: SparkSession, grid: pd.DataFrame) -> DataFrame:
    """:func:`grid_of`'s table as a Spark frame."""
    schema = ("_gx bigint, _gy bigint, _p bigint, _plon double, _plat double, _r2 double, "
              "_mx double, _my double")
    return spark.createDataFrame(grid, schema)


def exposure_table(spark: SparkSession, stays: DataFrame, classes: DataFrame,
                   homes: DataFrame, weights: DataFrame, default_weight: DataFrame,
                   points: pd.DataFrame, day: dt.date, hour_min_minutes: float) -> DataFrame:
    """Steps 2-3 and the completion: the unsuppressed long form (:func:`complete`) of
    ``day`` for the :func:`hazard_points` ``points``."""
    cell_lon, cell_lat, grid = grid_of(points)
    counts = exposure_counts(stays, classes, homes, weights, default_weight,
                             grid_frame(spark, grid), cell_lon, cell_lat, [day],
                             hour_min_minutes)
    return complete(counts, points_frame(spark, points))
