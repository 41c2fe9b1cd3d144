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
import shapely.geometry

from mobsig import settlement

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


def _land(spark, tmp_path, polygons):
    """The polygons as a residential-land layer file (GeoJSON, contract attributes) read
    the way home_work reads paths.residential_land."""
    feats = [{"type": "Feature", "properties": {"unit_id": f"V{i}", **attrs},
              "geometry": shapely.geometry.mapping(g)} for i, (attrs, g) in enumerate(polygons)]
    path = tmp_path / "residential_land.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    return settlement.read_land(spark, str(path))


def _homes(spark, rows):
    return spark.createDataFrame(
        rows, f"user_id string, home_lon double, home_lat double, "
              f"{settlement.HOME_SPACING_M} double, home_rule string")


def test_homes_among_sparse_sites_move_onto_the_residential_land_near_them(spark, tmp_path):
    """Sites 3 km apart (search radius 0.3 x 3 km = 900 m): a village 600 m east of the
    refined home takes it to the centroid of its land within 900 m; of two villages the
    nearer one; residential land 2 km away does not move a home, nor does land near a home
    among sites 1 km apart. Every other column is kept."""
    a, b, c, d = 104.0, 104.1, 104.2, 104.3
    village = _disc(_at(a, 600), 400)  # 200-1000 m east of home a
    north, south = _disc(_at(b, 0, 400), 150), _disc(_at(b, 0, -700), 150)
    land = _land(spark, tmp_path, [
        ({"unit_name": "村庄住宅用地"}, village), ({"DLBM": "0702"}, north), ({}, south),
        ({}, _disc(_at(c, 2000), 300)), ({}, _disc(_at(d, 300), 300))])
    assert land.count() == 5 and land.columns == ["geometry"]
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


def test_a_land_layer_without_ids_is_an_input_error(spark, tmp_path):
    from mobsig.errors import InputError

    path = tmp_path / "land.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"DLBM": "0702"},
         "geometry": shapely.geometry.mapping(_disc(_at(104.0), 300))}]}), "utf-8")
    with pytest.raises(InputError, match="land.geojson"):
        settlement.read_land(spark, str(path)).count()
