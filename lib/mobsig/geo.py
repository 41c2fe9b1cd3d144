"""Small shared geometry and calendar helpers, one spelling each: lon/lat -> H3, unit
polygons from the ``units`` table, month bounds.

H3 ids are computed with Sedona (``ST_H3CellIDs``, vectorised in the JVM): as a bigint
(:func:`h3_id`, for grouping and ring arithmetic) or as the lower-case hex text stored in
tables (:func:`h3_hex`); :func:`h3_hex_of_id` turns one into the other.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C


def _col(c: str | Column) -> Column:
    return F.col(c) if isinstance(c, str) else c


def h3_id(lon: str | Column, lat: str | Column, resolution: int) -> Column:
    """The H3 cell (bigint) at ``resolution`` of a lon/lat point (EPSG:4490 degrees); null
    when either coordinate is null."""
    lon, lat = _col(lon), _col(lat)
    cell = F.call_function("ST_H3CellIDs", F.call_function("ST_Point", lon, lat),
                           F.lit(int(resolution)), F.lit(False))[0]
    return F.when(lon.isNull() | lat.isNull(), F.lit(None).cast("bigint")).otherwise(cell)


def h3_hex_of_id(cell: str | Column) -> Column:
    """The lower-case hex text of a bigint H3 id (the form stored in tables)."""
    return F.lower(F.hex(_col(cell)))


def h3_hex(lon: str | Column, lat: str | Column, resolution: int) -> Column:
    """The H3 cell at ``resolution`` of a lon/lat point as lower-case hex text (15
    characters); null when either coordinate is null."""
    return h3_hex_of_id(h3_id(lon, lat, resolution))


def h3_polygon(hex_id: str | Column) -> Column:
    """The polygon of an H3 cell given as hex text."""
    as_long = F.conv(_col(hex_id), 16, 10).cast("bigint")
    return F.call_function("ST_H3ToGeom", F.array(as_long))[0]


def unit_polygons(units: DataFrame) -> DataFrame:
    """The ``units`` table with its geometry as Sedona polygons (EPSG:4490): ``unit_id``,
    ``unit_name``, ``level``, ``parent_id``, ``geometry``."""
    geom = F.call_function("ST_SetSRID", F.call_function("ST_GeomFromWKB",
                                                         F.col(C.GEOMETRY_WKB)), F.lit(4490))
    return units.select(C.UNIT_ID, C.UNIT_NAME, C.LEVEL, C.PARENT_ID, geom.alias(C.GEOMETRY))


def next_month(month: dt.date) -> dt.date:
    """The first day of the month after ``month``."""
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
