"""The cell table 工参: parse, validate, position, space, locate and cover each cell version.

The chain (driven by ``jobs/ingest_cells.py``), after the reader
:func:`mobsig.io.inputs.read_cells_raw` (raw file(s) -> contract columns as strings)::

    parse_cells           strings -> typed columns + ``problems`` (why a row is invalid)
    overlapping_versions  versions of one cell_id whose validity ranges overlap (an error)
    with_positions        pandas, driver side: CGCS2000 lon/lat, metric x/y, site spacing,
                          service point (a cell table is small: 10^5-10^6)
    with_admin_code       Sedona broadcast spatial join with the county layer
    with_region           the partition region at run.region_level
    with_coverage         sector (or circle for omni cells) polygon, WKB in EPSG:4490
    coverage_problems     rows whose polygon is invalid or misses the antenna (should be none)

Its readers: :func:`cells_on_day` (the versions valid on a day, for a day's events) and
:func:`events_placed` (each event of any days at its cell's version valid on its day:
events_clean stores the cell, not its position).

Policies:
- an invalid row (missing/non-numeric position, unknown coord_sys, azimuth outside 0-360,
  radius <= 0, unparseable or reversed validity dates, position outside the national box)
  fails the job naming the rows (``cells.on_invalid=fail``, default) or is skipped and
  counted (``skip``: its events then land in quarantine as ``unknown_cell``);
- two versions of one cell_id with overlapping validity fail the job naming the cell;
- ``is_hsr`` (optional delivered column, see :data:`EXTRA_RAW_COLUMNS`) marks cells of a
  high-speed-rail line 高铁专网: carried to the cells table for the drift rule;
- a cell outside every county-level unit gets ``admin_code`` null and region ``unknown``
  (``cells.outside_units=unknown``, default: operators' tables cover more than the units
  layer of one city) or fails the job (``fail``).
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import CellsConfig
from mobsig.coords import COORD_SYSTEMS, to_cgcs2000
from mobsig.schema import load_schema

log = logging.getLogger(__name__)

RAW_COLUMNS: tuple[str, ...] = tuple(load_schema("cells_raw").names)
# optional delivered columns beyond the cells_raw contract: ``is_hsr`` marks a cell of a
# high-speed-rail line 高铁专网 (true/false, 1/0, yes/no, t/f, y/n; blank or an absent
# column = false). It sets the drift speed limit (clean.drift_vmax_hsr_kmh).
EXTRA_RAW_COLUMNS: tuple[str, ...] = (C.IS_HSR,)
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")
PROBLEMS = "problems"
# GRS80 (CGCS2000) ellipsoid, for the local radii of curvature of coverage polygons
_A = 6378137.0
_E2 = 0.00669438002290


# --------------------------------------------------------------------------------------
# parsing and validation (Spark, pure)


def _blank_to_null(col: str) -> F.Column:
    return F.when(F.trim(F.col(col)) == "", None).otherwise(F.trim(F.col(col)))


def parse_cells(raw: DataFrame, bbox: tuple[float, float, float, float]) -> DataFrame:
    """Type the string columns of :func:`mobsig.io.inputs.read_cells_raw` and list each
    row's problems.

    Needs the cells_raw columns as strings (``is_hsr`` optional). Returns the typed
    cells_raw columns (``coord_sys`` lower-cased, blanks as null), ``is_hsr`` (boolean,
    false when blank or absent) and ``problems`` (array<string>, empty for a valid row).
    ``bbox`` = (lon_min, lon_max, lat_min, lat_max). Keeps every row.
    """
    lon_min, lon_max, lat_min, lat_max = bbox
    s = {c: _blank_to_null(c) for c in RAW_COLUMNS}
    has_hsr = C.IS_HSR in raw.columns
    hsr_given = F.col(C.IS_HSR) if has_hsr else F.lit(None).cast("string")  # for messages
    hsr_text = F.lower(_blank_to_null(C.IS_HSR)) if has_hsr else hsr_given
    num = {c: s[c].try_cast("double") for c in (C.LON, C.LAT, C.AZIMUTH, C.RADIUS_M)}
    date = {c: s[c].try_cast("date") for c in (C.VALID_FROM, C.VALID_TO)}
    coord = F.lower(s[C.COORD_SYS])

    def bad_number(c: str) -> F.Column:
        return F.when(s[c].isNotNull() & num[c].isNull(),
                      F.format_string(f"{c} %s is not a number", s[c]))

    def missing(c: str) -> F.Column:
        return F.when(s[c].isNull(), F.lit(f"{c} is missing"))

    checks = [
        missing(C.CELL_ID), missing(C.LON), missing(C.LAT), missing(C.COORD_SYS),
        bad_number(C.LON), bad_number(C.LAT), bad_number(C.AZIMUTH), bad_number(C.RADIUS_M),
        F.when(~num[C.LON].between(lon_min, lon_max) | ~num[C.LAT].between(lat_min, lat_max),
               F.format_string("position (%s, %s) outside the national box run.bbox_*",
                               num[C.LON], num[C.LAT])),
        F.when(coord.isNotNull() & ~coord.isin(*COORD_SYSTEMS),
               F.format_string(f"coord_sys %s unknown (allowed: {', '.join(COORD_SYSTEMS)})",
                               s[C.COORD_SYS])),
        F.when(~num[C.AZIMUTH].between(0.0, 360.0),
               F.format_string("azimuth %s outside 0-360", num[C.AZIMUTH])),
        F.when(num[C.RADIUS_M] <= 0, F.format_string("radius_m %s is not > 0", num[C.RADIUS_M])),
        *[F.when(s[c].isNotNull() & date[c].isNull(),
                 F.format_string(f"{c} %s is not a date (YYYY-MM-DD)", s[c]))
          for c in (C.VALID_FROM, C.VALID_TO)],
        F.when(date[C.VALID_TO] < date[C.VALID_FROM],
               F.format_string("valid_to %s is before valid_from %s",
                               date[C.VALID_TO].cast("string"),
                               date[C.VALID_FROM].cast("string"))),
        F.when(hsr_text.isNotNull() & ~hsr_text.isin(*_TRUE, *_FALSE),
               F.format_string(f"is_hsr %s is not a boolean (allowed, any case: "
                               f"{'/'.join(_TRUE + _FALSE)}; blank = false)",
                               hsr_given)),
    ]
    problems = F.filter(F.array(*checks), lambda x: x.isNotNull())
    return raw.select(
        s[C.CELL_ID].alias(C.CELL_ID), num[C.LON].alias(C.LON), num[C.LAT].alias(C.LAT),
        coord.alias(C.COORD_SYS), num[C.AZIMUTH].alias(C.AZIMUTH),
        num[C.RADIUS_M].alias(C.RADIUS_M), s[C.TECH].alias(C.TECH),
        date[C.VALID_FROM].alias(C.VALID_FROM), date[C.VALID_TO].alias(C.VALID_TO),
        F.coalesce(hsr_text.isin(*_TRUE), F.lit(False)).alias(C.IS_HSR),
        problems.alias(PROBLEMS))


def overlapping_versions(cells: DataFrame) -> DataFrame:
    """Versions whose validity overlaps the previous version of the same cell_id.

    Needs ``cell_id``, ``valid_from``, ``valid_to`` (null = open). Returns one row per
    offending version: ``cell_id``, ``valid_from``, ``valid_to``, ``prev_valid_from``,
    ``prev_valid_to``. Empty when every cell's versions are disjoint.
    """
    w = Window.partitionBy(C.CELL_ID).orderBy(F.col(C.VALID_FROM).asc_nulls_first(),
                                              F.col(C.VALID_TO).asc_nulls_last())
    prev_from = F.lag(C.VALID_FROM).over(w)
    prev_to = F.lag(C.VALID_TO).over(w)
    has_prev = F.lag(F.lit(1)).over(w).isNotNull()
    out = cells.select(C.CELL_ID, C.VALID_FROM, C.VALID_TO, prev_from.alias("prev_valid_from"),
                       prev_to.alias("prev_valid_to"), has_prev.alias("_has_prev"))
    overlap = F.col("_has_prev") & (F.col("prev_valid_to").isNull()
                                    | F.col(C.VALID_FROM).isNull()
                                    | (F.col(C.VALID_FROM) <= F.col("prev_valid_to")))
    return out.where(overlap).drop("_has_prev")


# --------------------------------------------------------------------------------------
# positions, spacing, service points (driver side, vectorised numpy)


def _merged_sites(x: np.ndarray, y: np.ndarray, merge_m: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Antennas within ``merge_m`` of each other (chains included) as one site: the site
    index of each antenna and the sites' mean positions ``(site, sx, sy)``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    n = len(pts)
    pairs = cKDTree(pts).query_pairs(r=merge_m, output_type="ndarray") if merge_m > 0 \
        else np.zeros((0, 2), dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_sites, site = connected_components(graph, directed=False)
    sx = np.bincount(site, weights=pts[:, 0], minlength=n_sites) / np.bincount(site)
    sy = np.bincount(site, weights=pts[:, 1], minlength=n_sites) / np.bincount(site)
    return site, sx, sy


def site_spacing(x: np.ndarray, y: np.ndarray, k: int, merge_m: float) -> np.ndarray:
    """Local site spacing (m) of each antenna: median distance to its k nearest other sites.

    Antennas within ``merge_m`` of each other (chains included) are one site: co-located
    sectors must not count as neighbours at distance 0. A site with fewer than k other
    sites uses those it has; with no other site at all the spacing is NaN.
    """
    from scipy.spatial import cKDTree

    if len(x) == 0:
        return np.zeros(0)
    site, sx, sy = _merged_sites(x, y, merge_m)
    n_sites = len(sx)
    if n_sites < 2:
        return np.full(len(x), np.nan)
    kk = min(k, n_sites - 1)
    dist, _ = cKDTree(np.column_stack([sx, sy])).query(np.column_stack([sx, sy]), k=kk + 1)
    dist = np.asarray(dist).reshape(n_sites, kk + 1)[:, 1:]  # drop the site itself
    return np.median(dist, axis=1)[site]


SITE_EDGE_COLUMNS = ("a_x", "a_y", "b_x", "b_y", "v1_x", "v1_y", "v2_x", "v2_y")


def site_edges(x: np.ndarray, y: np.ndarray, merge_m: float) -> pd.DataFrame:
    """Neighbouring sites and the Voronoi edge between them, for :func:`order2_centroid`.

    ``x``, ``y``: antenna positions (metric; co-located sectors repeat a position, which
    is kept as given so that the rows join on it). Sites are merged as in
    :func:`site_spacing`; two sites are neighbours when they share an edge of the
    Delaunay triangulation of the sites, and their Voronoi edge runs between the
    circumcentres of the two triangles on either side (``v1``, ``v2``; each kept within
    the distance between the sites of the edge's midpoint, so that a sliver triangle at
    the network's edge does not reach out for kilometres). An edge on the outer hull (one
    triangle) has no closed piece and no row. One row per ordered pair of antenna
    positions of neighbouring sites, columns :data:`SITE_EDGE_COLUMNS`; empty with fewer
    than three sites or all of them on a line.
    """
    from scipy.spatial import Delaunay, QhullError

    x, y = np.asarray(x, float), np.asarray(y, float)
    empty = pd.DataFrame({c: np.zeros(0) for c in SITE_EDGE_COLUMNS})
    if len(x) == 0:
        return empty
    site, sx, sy = _merged_sites(x, y, merge_m)
    pts = np.column_stack([sx, sy])
    if len(pts) < 3:
        return empty
    try:
        tri = Delaunay(pts)
    except QhullError:  # every site on one line
        return empty
    a, b, c = (pts[tri.simplices[:, k]] for k in range(3))
    d = 2 * (a[:, 0] * (b[:, 1] - c[:, 1]) + b[:, 0] * (c[:, 1] - a[:, 1])
             + c[:, 0] * (a[:, 1] - b[:, 1]))
    a2, b2, c2 = (np.sum(p * p, axis=1) for p in (a, b, c))
    with np.errstate(divide="ignore", invalid="ignore"):
        cc = np.column_stack([
            (a2 * (b[:, 1] - c[:, 1]) + b2 * (c[:, 1] - a[:, 1]) + c2 * (a[:, 1] - b[:, 1])) / d,
            (a2 * (c[:, 0] - b[:, 0]) + b2 * (a[:, 0] - c[:, 0]) + c2 * (b[:, 0] - a[:, 0])) / d])
    s = tri.simplices
    edges = np.sort(np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [2, 0]]]), axis=1)
    centre = np.vstack([cc, cc, cc])
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, centre = edges[order], centre[order]
    twin = np.flatnonzero(np.all(edges[1:] == edges[:-1], axis=1))  # interior edges
    e, v1, v2 = edges[twin], centre[twin], centre[twin + 1]
    mid = (pts[e[:, 0]] + pts[e[:, 1]]) / 2
    span = np.hypot(*(pts[e[:, 1]] - pts[e[:, 0]]).T)[:, None]

    def clip(v: np.ndarray) -> np.ndarray:
        off = np.nan_to_num(v - mid, nan=0.0)
        r = np.hypot(off[:, 0], off[:, 1])[:, None]
        return mid + off * np.minimum(1.0, span / np.maximum(r, 1e-9))

    v1, v2 = clip(v1), clip(v2)
    ant = pd.DataFrame({"s": site, "x": x, "y": y}).drop_duplicates()
    both = pd.DataFrame({"sa": np.concatenate([e[:, 0], e[:, 1]]),
                         "sb": np.concatenate([e[:, 1], e[:, 0]]),
                         "v1_x": np.tile(v1[:, 0], 2), "v1_y": np.tile(v1[:, 1], 2),
                         "v2_x": np.tile(v2[:, 0], 2), "v2_y": np.tile(v2[:, 1], 2)})
    out = (both.merge(ant.rename(columns={"s": "sa", "x": "a_x", "y": "a_y"}), on="sa")
           .merge(ant.rename(columns={"s": "sb", "x": "b_x", "y": "b_y"}), on="sb"))
    return out[list(SITE_EDGE_COLUMNS)].reset_index(drop=True)


def order2_centroid(ax: np.ndarray, ay: np.ndarray, a_az: np.ndarray, bx: np.ndarray,
                    by: np.ndarray, b_az: np.ndarray, v1x: np.ndarray, v1y: np.ndarray,
                    v2x: np.ndarray, v2y: np.ndarray, width_deg: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Centroid of where a handset is whose records come mostly from site A and next
    most from its neighbour B: the points nearer to A than to any other site and next
    nearest to B (the order-2 Voronoi piece: the triangle A, v1, v2 of the Voronoi edge
    between them, :func:`site_edges`), within the wedge (``width_deg`` wide around the
    azimuth) of the sector of A and of B that served it (omni cells, azimuth NaN: no
    wedge; a wedge that would leave nothing is not applied). Vectorised (shapely);
    NaN where the piece is degenerate."""
    import shapely

    ax, ay, bx, by = (np.asarray(v, float) for v in (ax, ay, bx, by))
    a_az, b_az = np.asarray(a_az, float), np.asarray(b_az, float)
    ring = np.stack([np.column_stack([ax, ay]), np.column_stack([v1x, v1y]),
                     np.column_stack([v2x, v2y]), np.column_stack([ax, ay])], axis=1)
    region = shapely.polygons(ring)
    reach = 2.0 * np.max(np.hypot(ring[:, 1:3, 0] - ax[:, None], ring[:, 1:3, 1] - ay[:, None]),
                         axis=1) + np.hypot(bx - ax, by - ay) + 1.0
    half = min(width_deg, 359.0) / 2.0
    arc = np.radians(np.linspace(-half, half, 13))
    for sx, sy, az in ((ax, ay, a_az), (bx, by, b_az)):
        ang = np.radians(np.nan_to_num(az))[:, None] + arc[None, :]
        apex = np.column_stack([sx, sy])[:, None, :]
        rim = np.stack([sx[:, None] + reach[:, None] * np.sin(ang),
                        sy[:, None] + reach[:, None] * np.cos(ang)], axis=2)
        fan = np.concatenate([apex, rim, apex], axis=1)
        wedge = shapely.polygons(fan)
        cut = shapely.intersection(region, wedge)
        use = ~np.isnan(az) & (width_deg < 360) & (shapely.area(cut) > 0)
        region = np.where(use, cut, region)
    ok = shapely.area(region) > 0
    cen = shapely.centroid(region)
    cx = np.where(ok, shapely.get_x(cen), np.nan)
    cy = np.where(ok, shapely.get_y(cen), np.nan)
    return cx, cy


def service_point(x: np.ndarray, y: np.ndarray, azimuth: np.ndarray, radius: np.ndarray,
                  spacing: np.ndarray, width_deg: float, reach_factor: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Service point of each cell (metric x/y): where its users are on average.

    A sector serves the part of its wedge (``width_deg`` wide, pointing at ``azimuth``)
    that is closer to its own site than to the neighbours: it reaches about
    ``reach_factor`` x the local site spacing (capped at the nominal ``radius``). The
    service point is that wedge's centroid, 2 r sin(a) / (3 a) from the antenna along the
    azimuth (a = half width; 0.551 r for 120 degrees). Omni cells (azimuth NaN) and a
    zero factor keep the antenna position. In the sparse periphery (2 km spacing) this is
    ~600 m out: homes there were ~1 km from the antenna, ~500 m from the service point.
    """
    half = np.radians(min(width_deg, 360.0) / 2.0)
    centroid = 0.0 if half >= np.pi else 2.0 * np.sin(half) / (3.0 * half)
    reach = np.minimum(reach_factor * np.asarray(spacing, float), np.asarray(radius, float))
    off = np.where(np.isnan(azimuth) | ~np.isfinite(reach), 0.0, centroid * reach)
    a = np.radians(np.nan_to_num(azimuth))
    return x + off * np.sin(a), y + off * np.cos(a)


def with_positions(cells: pd.DataFrame, cells_cfg: CellsConfig, metric_crs: str
                   ) -> pd.DataFrame:
    """Position columns of the (small) cell table, computed on the driver with numpy.

    Needs the typed cells_raw columns (pandas). Adds ``src_lon``/``src_lat`` (as
    delivered), replaces ``lon``/``lat`` by CGCS2000 (EPSG:4490) coordinates
    (``mobsig.coords.to_cgcs2000``), fills ``radius_m`` with ``cells.default_radius_m``,
    adds ``x_m``/``y_m`` in ``metric_crs``, ``spacing_m`` (:func:`site_spacing`; with a
    single site: 2 x radius_m; HSR sites (``is_hsr``) do not count for public cells) and
    ``svc_lon``/``svc_lat`` (:func:`service_point`, CGCS2000). Keeps rows. Nothing here
    depends on later stages: the stay radius is derived from ``spacing_m`` by
    clean_stays (``mobsig.stays.StayRadius``).
    """
    from pyproj import Transformer

    out = cells.copy()
    out[C.SRC_LON] = out[C.LON].astype(float)
    out[C.SRC_LAT] = out[C.LAT].astype(float)
    lon, lat = to_cgcs2000(out[C.SRC_LON].to_numpy(), out[C.SRC_LAT].to_numpy(),
                           out[C.COORD_SYS].to_numpy())
    out[C.LON], out[C.LAT] = lon, lat
    radius = out[C.RADIUS_M].astype(float)
    out[C.RADIUS_M] = radius.fillna(cells_cfg.default_radius_m)
    tr = Transformer.from_crs("EPSG:4490", metric_crs, always_xy=True)
    x, y = tr.transform(lon, lat)
    out[C.X_M], out[C.Y_M] = np.asarray(x, float), np.asarray(y, float)
    x_m, y_m = out[C.X_M].to_numpy(), out[C.Y_M].to_numpy()
    k, merge = cells_cfg.spacing_neighbours, cells_cfg.site_merge_m
    spacing = site_spacing(x_m, y_m, k, merge)
    hsr = out[C.IS_HSR].fillna(False).to_numpy(bool) if C.IS_HSR in out else None
    if hsr is not None and hsr.any() and (~hsr).any():
        # a high-speed-rail cell serves the train, not the neighbourhood: public cells'
        # spacing ignores HSR sites; an HSR cell takes the spacing of all sites around it
        spacing[~hsr] = site_spacing(x_m[~hsr], y_m[~hsr], k, merge)
    spacing = np.where(np.isnan(spacing), 2.0 * out[C.RADIUS_M].to_numpy(), spacing)
    out[C.SPACING_M] = spacing
    sx, sy = service_point(x_m, y_m, out[C.AZIMUTH].astype(float).to_numpy(),
                           out[C.RADIUS_M].to_numpy(float), spacing,
                           cells_cfg.sector_width_deg, cells_cfg.service_reach_factor)
    if hsr is not None:  # an HSR cell serves the track at the antenna
        sx, sy = np.where(hsr, x_m, sx), np.where(hsr, y_m, sy)
    svc_lon, svc_lat = Transformer.from_crs(metric_crs, "EPSG:4490",
                                            always_xy=True).transform(sx, sy)
    out[C.SVC_LON], out[C.SVC_LAT] = np.asarray(svc_lon, float), np.asarray(svc_lat, float)
    return out


# --------------------------------------------------------------------------------------
# admin code, region, coverage (Sedona)


def with_admin_code(cells: DataFrame, counties: DataFrame) -> DataFrame:
    """Add ``admin_code``: the county-level unit containing the antenna (null outside all).

    Needs ``cell_id``, ``valid_from``, ``lon``, ``lat`` (EPSG:4490); ``counties`` has
    ``unit_id``, ``geometry`` (EPSG:4490). A broadcast Sedona spatial join (ST_Intersects,
    so a point on a shared border matches both counties and the smallest unit_id wins,
    deterministically); then an equi-join back, so every cell row is kept exactly once.
    """
    key = [C.CELL_ID, C.VALID_FROM]
    pts = cells.select(*key, F.expr(f"ST_Point({C.LON}, {C.LAT})").alias("_pt"))
    hits = (pts.alias("p").join(F.broadcast(counties.alias("u")),
                                F.expr("ST_Intersects(u.geometry, p._pt)"), "inner")
            .groupBy(F.col(f"p.{C.CELL_ID}").alias(C.CELL_ID),
                     F.col(f"p.{C.VALID_FROM}").alias(C.VALID_FROM))
            .agg(F.min(F.col(f"u.{C.UNIT_ID}")).alias(C.ADMIN_CODE)))
    cond = [cells[C.CELL_ID] == hits[C.CELL_ID],
            cells[C.VALID_FROM].eqNullSafe(hits[C.VALID_FROM])]
    return cells.join(hits, cond, "left").select(cells["*"], hits[C.ADMIN_CODE])


def region_of(admin_code: F.Column, level: str) -> F.Column:
    """The region code at ``level`` (county/city/province) of a 6-digit county code;
    ``unknown`` when the code is null."""
    if level == "county":
        code = admin_code
    elif level == "city":
        code = F.concat(F.substring(admin_code, 1, 4), F.lit("00"))
    elif level == "province":
        code = F.concat(F.substring(admin_code, 1, 2), F.lit("0000"))
    else:
        raise ValueError(f"unknown region level {level!r} (county, city, province)")
    return F.coalesce(code, F.lit(C.REGION_UNKNOWN))


def with_region(cells: DataFrame, level: str) -> DataFrame:
    """Add ``region`` from ``admin_code`` at ``level`` (see :func:`region_of`). Keeps rows."""
    return cells.withColumn(C.REGION, region_of(F.col(C.ADMIN_CODE), level))


def with_coverage(cells: DataFrame, sector_width_deg: float, arc_step_deg: float) -> DataFrame:
    """Add ``coverage_wkb``: the cell's coverage polygon as WKB in EPSG:4490.

    Needs ``lon``, ``lat`` (EPSG:4490), ``azimuth`` (null = omni) and ``radius_m``. A
    sectored cell gets a fan: the antenna, then the arc at ``radius_m`` from azimuth -
    width/2 to azimuth + width/2 (vertices at most ``arc_step_deg`` apart), closed at the
    antenna; an omni cell (or width 360) gets a circle. Arc vertices are offsets on the
    local tangent plane with the ellipsoid's radii of curvature (error ~ r^3/R^2: below
    a metre for r <= 50 km). Built with Sedona (ST_Point / ST_MakeLine / ST_MakePolygon).
    """
    full = sector_width_deg >= 360.0
    w = "360.0D" if full else f"CASE WHEN azimuth IS NULL THEN 360.0D ELSE {sector_width_deg}D END"
    start = "0.0D" if full else f"CASE WHEN azimuth IS NULL THEN 0.0D ELSE azimuth - {w} / 2 END"
    s2 = f"pow(sin(radians({C.LAT})), 2)"
    m_rad = f"({_A * (1 - _E2)}D / pow(1 - {_E2}D * {s2}, 1.5))"  # meridional radius
    n_rad = f"({_A}D / sqrt(1 - {_E2}D * {s2}))"                  # prime-vertical radius
    pts = (f"transform(sequence(0, _n), i -> ST_Point("
           f"{C.LON} + degrees({C.RADIUS_M} * sin(radians(_start + i * _w / _n)) "
           f"/ ({n_rad} * cos(radians({C.LAT})))), "
           f"{C.LAT} + degrees({C.RADIUS_M} * cos(radians(_start + i * _w / _n)) / {m_rad})))")
    apex = f"ST_Point({C.LON}, {C.LAT})"
    ring = (f"CASE WHEN _w >= 360.0D THEN concat(slice(_arc, 1, _n), slice(_arc, 1, 1)) "
            f"ELSE concat(array({apex}), _arc, array({apex})) END")
    return (cells
            .withColumn("_w", F.expr(w))
            .withColumn("_start", F.expr(start))
            .withColumn("_n", F.expr(f"CAST(greatest(3, ceil(_w / {arc_step_deg}D)) AS INT)"))
            .withColumn("_arc", F.expr(pts))
            .withColumn(C.COVERAGE_WKB, F.expr(
                f"ST_AsBinary(ST_SetSRID(ST_MakePolygon(ST_MakeLine({ring})), 4490))"))
            .drop("_w", "_start", "_n", "_arc"))


def coverage_problems(cells: DataFrame) -> DataFrame:
    """Cell versions whose coverage polygon is missing, invalid, or does not cover the
    antenna: ``cell_id``, ``valid_from``, ``problem``. Empty when all are fine."""
    geom = F.expr(f"ST_GeomFromWKB({C.COVERAGE_WKB})")
    pt = F.expr(f"ST_Point({C.LON}, {C.LAT})")
    g = cells.select(C.CELL_ID, C.VALID_FROM, geom.alias("_g"), pt.alias("_p"))
    problem = (F.when(F.col("_g").isNull(), F.lit("no polygon"))
               .when(~F.expr("ST_IsValid(_g)"), F.lit("invalid polygon"))
               .when(~F.expr("ST_Intersects(_g, _p)"), F.lit("polygon misses the antenna")))
    return g.select(C.CELL_ID, C.VALID_FROM, problem.alias("problem")).where(
        F.col("problem").isNotNull())


# --------------------------------------------------------------------------------------
# the cell versions of one day (ingest_events, clean_stays)


def valid_on(cells: DataFrame, day: dt.date) -> DataFrame:
    """The rows of ``cells`` (``valid_from``, ``valid_to``; null bounds are open) valid on
    ``day``, every column kept. One row per cell_id: ingest_cells refuses overlapping
    versions."""
    d = F.lit(day).cast("date")
    return cells.where((F.col(C.VALID_FROM).isNull() | (F.col(C.VALID_FROM) <= d))
                       & (F.col(C.VALID_TO).isNull() | (F.col(C.VALID_TO) >= d)))


def cells_on_day(cells: DataFrame, day: dt.date) -> DataFrame:
    """The cell versions valid on ``day`` (:func:`valid_on`): ``cell_id``, ``region`` (when
    the table has it), ``lon``, ``lat``, ``x_m``, ``y_m``, ``spacing_m``, ``svc_lon``,
    ``svc_lat`` and ``is_hsr`` (false when absent or null; the service point is the
    antenna when the table has none)."""
    hsr = F.col(C.IS_HSR) if C.IS_HSR in cells.columns else F.lit(None)
    if C.SVC_LON not in cells.columns:  # a cell table without service points: the antenna
        cells = cells.withColumns({C.SVC_LON: F.col(C.LON), C.SVC_LAT: F.col(C.LAT)})
    region = [C.REGION] if C.REGION in cells.columns else []
    return valid_on(cells, day).select(
        C.CELL_ID, *region, C.LON, C.LAT, C.X_M, C.Y_M, C.SPACING_M, C.SVC_LON, C.SVC_LAT,
        F.coalesce(hsr.cast("boolean"), F.lit(False)).alias(C.IS_HSR))


def events_placed(events: DataFrame, cells: DataFrame,
                  columns: tuple[str, ...] = (C.LON, C.LAT, C.X_M, C.Y_M, C.SPACING_M,
                                               C.SVC_LON, C.SVC_LAT)) -> DataFrame:
    """``events`` (``cell_id``, ``dt``: events_clean of any days) with ``columns`` of their
    cell's version valid on ``dt`` (the :func:`cells_on_day` columns; a broadcast join on
    ``cell_id`` within the versions' validity). events_clean stores the cell only: every
    row's cell had a version valid on its day when clean_stays ran (it removes the others
    as unlocated), and its position is that version's. Every event is kept (left join);
    the columns are null where the cells table no longer has such a version (re-ingested
    since: the reader counts those)."""
    hsr = F.col(C.IS_HSR) if C.IS_HSR in cells.columns else F.lit(None)
    if C.SVC_LON not in cells.columns:  # a cell table without service points: the antenna
        cells = cells.withColumns({C.SVC_LON: F.col(C.LON), C.SVC_LAT: F.col(C.LAT)})
    versions = cells.select(
        F.col(C.CELL_ID).alias("_cell"), F.col(C.VALID_FROM).alias("_from"),
        F.col(C.VALID_TO).alias("_to"),
        *[(F.coalesce(hsr.cast("boolean"), F.lit(False)) if c == C.IS_HSR else F.col(c))
          .alias(c) for c in columns])
    day = F.col(C.DT)
    on = ((F.col(C.CELL_ID) == F.col("_cell"))
          & (F.col("_from").isNull() | (F.col("_from") <= day))
          & (F.col("_to").isNull() | (F.col("_to") >= day)))
    return events.join(F.broadcast(versions), on, "left").drop("_cell", "_from", "_to")


# --------------------------------------------------------------------------------------
# checks of the ingest_cells job (each runs one small Spark job and describes what it found)

MAX_LISTED = 20


def invalid_report(parsed: DataFrame, where: str) -> tuple[int, str]:
    """The number of invalid rows of :func:`parse_cells` output and a message naming the
    first :data:`MAX_LISTED` with their problems ('' when every row is valid)."""
    bad = parsed.where(F.size(PROBLEMS) > 0)
    n_bad = bad.count()
    if not n_bad:
        return 0, ""
    lines = [f"  cell_id={row[C.CELL_ID]!r} valid_from={row[C.VALID_FROM]}: "
             + "; ".join(row[PROBLEMS]) for row in bad.limit(MAX_LISTED).collect()]
    return n_bad, (f"{where}: {n_bad} rows invalid"
                   + (f" (first {MAX_LISTED})" if n_bad > MAX_LISTED else "") + ":\n"
                   + "\n".join(lines))


def overlap_report(cells: DataFrame) -> str:
    """A message naming versions of one cell_id whose validity overlaps ('' when none)."""
    overlaps = overlapping_versions(cells).limit(MAX_LISTED).collect()
    if not overlaps:
        return ""
    return ("cell table: versions of one cell_id overlap in validity (null = open):\n"
            + "\n".join(f"  cell_id={o[C.CELL_ID]!r}: {o['prev_valid_from']}.."
                        f"{o['prev_valid_to']} overlaps {o[C.VALID_FROM]}..{o[C.VALID_TO]}"
                        for o in overlaps))


def outside_report(cells: DataFrame) -> tuple[int, list[str]]:
    """Cells outside every county-level unit (``admin_code`` null): their number and the
    first ids."""
    outside = cells.where(F.col(C.ADMIN_CODE).isNull())
    n = outside.count()
    ids = [r[C.CELL_ID] for r in outside.select(C.CELL_ID).limit(MAX_LISTED).collect()] if n \
        else []
    return n, ids


def coverage_report(cells: DataFrame) -> str:
    """A message naming cell versions whose coverage polygon fails validation ('' when
    none; see :func:`coverage_problems`)."""
    bad = coverage_problems(cells).limit(MAX_LISTED).collect()
    return "; ".join(f"{b[C.CELL_ID]} ({b[C.VALID_FROM]}): {b['problem']}" for b in bad)


def positioned_frame(spark: SparkSession, good: DataFrame, cells_cfg: CellsConfig,
                     metric_crs: str) -> tuple[DataFrame | None, pd.DataFrame]:
    """The valid rows positioned on the driver (:func:`with_positions`) and back as a
    Spark frame with the cells schema's columns before ``admin_code``; also the pandas
    frame. Collects the cell table (10^5-10^6 rows). (None, empty) without rows."""
    pdf = good.toPandas()
    if pdf.empty:
        return None, pdf
    pdf = with_positions(pdf, cells_cfg, metric_crs)
    schema = load_schema("cells")
    base_cols = [c for c in schema.names if c not in (C.ADMIN_CODE, C.REGION, C.COVERAGE_WKB)]
    struct = schema.struct
    typed = pdf[base_cols].astype(object).where(pdf[base_cols].notna(), None)
    return spark.createDataFrame(typed, type(struct)([struct[c] for c in base_cols])), pdf
