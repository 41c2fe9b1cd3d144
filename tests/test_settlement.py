"""Homes among km-spaced sites placed on residential land (mobsig.settlement).

Hand-built homes and land-use polygons; the effect on a generated region's homes is
measured end to end in the README (Accuracy on two profiles) and on the test city in
tests/test_residence.py."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import shapely
import shapely.affinity

from mobsig import settlement
from mobsig.config import LandUseConfig

LAT = 30.0
M_LON = 1 / (111_320 * math.cos(math.radians(LAT)))  # degrees per metre east
M_LAT = 1 / 110_574  # degrees per metre north


def _at(lon: float, east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    return lon + east_m * M_LON, LAT + north_m * M_LAT


def _disc(centre: tuple[float, float], r_m: float) -> shapely.Geometry:
    """A disc of ``r_m`` metres (an ellipse in degrees) around ``centre``."""
    unit = shapely.Point(0, 0).buffer(1.0, 64)
    return shapely.affinity.affine_transform(unit, [r_m * M_LON, 0, 0, r_m * M_LAT,
                                                    *centre])


def _units(spark, polygons):
    return spark.createDataFrame(
        [(f"P{i}", level, None, json.dumps(attrs) if attrs else None, shapely.to_wkb(g))
         for i, (level, attrs, g) in enumerate(polygons)],
        "unit_id string, level string, parent_id string, attributes string, "
        "geometry_wkb binary")


def _homes(spark, rows):
    return spark.createDataFrame(
        rows, f"user_id string, home_lon double, home_lat double, "
              f"{settlement.HOME_SPACING_M} double, home_rule string")


def test_homes_among_sparse_sites_move_onto_the_residential_land_near_them(spark):
    """Sites 3 km apart (search radius 0.3 x 3 km = 900 m): a village 600 m east of the
    refined home takes it to the centroid of its land within 900 m; of two villages the
    nearer one; residential land 2 km away, commercial land or a residential class in
    another layer do not move a home; nor does land near a home among sites 1 km apart.
    Every other column is kept."""
    a, b, c, d = 104.0, 104.1, 104.2, 104.3
    village = _disc(_at(a, 600), 400)  # 200-1000 m east of home a
    north, south = _disc(_at(b, 0, 400), 150), _disc(_at(b, 0, -700), 150)
    units = _units(spark, [
        ("land_parcel", {"land_use": "residential"}, village),
        ("land_parcel", {"land_use": "R"}, north),
        ("land_parcel", {"land_use": "residential"}, south),
        ("land_parcel", {"land_use": "residential"}, _disc(_at(c, 2000), 300)),
        ("land_parcel", {"land_use": "commercial"}, _disc(_at(c, 300), 300)),
        ("farmland", {"land_use": "residential"}, _disc(_at(c, -300), 300)),
        ("land_parcel", {"land_use": "residential"}, _disc(_at(d, 300), 300)),
    ])
    land = settlement.residential_land(units, LandUseConfig())
    assert land.count() == 5
    homes = _homes(spark, [("a", *_at(a), 3000.0, "night"), ("b", *_at(b), 3000.0, "night"),
                           ("c", *_at(c), 3000.0, "day_rest"),
                           ("d", *_at(d), 1000.0, "night"),
                           ("none", None, None, None, None)])
    out = settlement.place_on_land(homes, land, 1500.0, 0.3).toPandas().set_index("user_id")
    assert settlement.HOME_SPACING_M not in out.columns
    assert out["home_rule"].to_dict() == {"a": "night", "b": "night", "c": "day_rest",
                                          "d": "night", "none": None}
    assert out["home_position"].to_dict() == {
        "a": "residential_land", "b": "residential_land", "c": "stays", "d": "stays",
        "none": None}
    # a: the village's land within 900 m: a disc 200-1000 m east cut at 900 m, centroid
    # a little west of the village's centre (600 m)
    east = (out.loc["a", "home_lon"] - a) / M_LON
    assert 520 < east < 600 and abs(out.loc["a", "home_lat"] - LAT) / M_LAT < 1
    # b: the northern village (400 m) before the southern one (700 m), at its centre
    assert out.loc["b", "home_lon"] == pytest.approx(b, abs=2 * M_LON)
    assert (out.loc["b", "home_lat"] - LAT) / M_LAT == pytest.approx(400, abs=2)
    for u, lon in (("c", c), ("d", d)):
        assert (out.loc[u, "home_lon"], out.loc[u, "home_lat"]) == (lon, LAT)
    assert pd.isna(out.loc["none", "home_lon"])
    # without land, or switched off: every home where its stays put it
    for off in (settlement.place_on_land(homes, None, 1500.0, 0.3),
                settlement.place_on_land(homes, land, 1500.0, 0.0)):
        got = off.toPandas().set_index("user_id")
        assert got["home_position"].to_dict() == {"a": "stays", "b": "stays", "c": "stays",
                                                  "d": "stays", "none": None}
        assert got.loc["a", "home_lon"] == a


def test_no_units_table_is_no_land(spark):
    assert settlement.residential_land(None, LandUseConfig()) is None
