"""Tests for mobsig.coords: GCJ-02 / BD-09 / WGS-84 / CGCS2000 conversions (no Spark needed).

Reference vectors are copied from the test files of public libraries (named on each block) so
the transforms are checked against published numbers, not only against themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

from mobsig.coords import (
    COORD_SYSTEMS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    haversine_m,
    to_cgcs2000,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# ---------------------------------------------------------------------------------------------
# Published (WGS-84, GCJ-02) pairs given to full float precision (or 8 decimals, i.e. 1 mm).
# Layout: (name, wgs_lon, wgs_lat, gcj_lon, gcj_lat). The sources store (lat, lon); swapped here.
# ---------------------------------------------------------------------------------------------
GCJ_PAIRS_EXACT = [
    # googollee/eviltransform, python/test.py (same rows in go/transform_test.go, c/test.c)
    ("shanghai", 121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    ("shenzhen", 113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    ("beijing", 116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    # wandergis/coordtransform, README.md: wgs84togcj02(116.404, 39.915)
    ("beijing-tiananmen", 116.404, 39.915, 116.41024449916938, 39.91640428150164),
    # hujiulong/gcoord, test/unit/transform.spec.ts: WGS84 [123, 45] -> GCJ02 (8 decimals)
    ("jilin-123e45n", 123.0, 45.0, 123.00607541, 45.00197815),
    # hujiulong/gcoord, test/unit/crs/GCJ02.spec.ts: GCJ02 [123, 45] -> WGS84 (8 decimals)
    ("jilin-gcj-123e45n", 122.99395597, 44.99804071, 123.0, 45.0),
]

# hujiulong/gcoord, test/fixtures/china-cities.json: (WGS84, GCJ02, BD09) triples, 7 decimals,
# chosen to reach the west, south and north of the country. This fixture is not output of the
# public formula: its WGS84 and GCJ02 columns disagree with it (and with eviltransform's exact
# vectors above) by a near-constant ~0.47 m east plus ~0.47 m north, 0.64-0.69 m in all, which
# looks like an online converter's output; gcoord itself only checks it to 4 decimals (~5-10 m).
# The WGS<->GCJ bound for these rows is therefore 0.75 m, still 100-1000 times smaller than
# the offset being tested. Its GCJ02 and BD09 columns do agree with the formula to 1 cm.
# Layout: (name, wgs_lon, wgs_lat, gcj_lon, gcj_lat, bd_lon, bd_lat)
GCOORD_CITIES = [
    ("naqu-tibet", 92.0499619, 31.4784436, 92.0512438, 31.4762063, 92.0576832, 31.4824421),
    ("jiuquan-gansu", 98.4937175, 39.7319946, 98.4943595, 39.7328234, 98.5008441, 39.7388949),
    ("chuxiong-yunnan", 101.5265949, 25.048566, 101.5280737, 25.0455363, 101.5344863, 25.0518094),
    ("qinzhou-guangxi", 108.6503952, 21.9828281, 108.6541485, 21.9799392, 108.6607283, 21.9856319),
    ("xilinhot-nmg", 116.0414035, 43.9312805, 116.0482308, 43.9334573, 116.0546232, 43.9397782),
    ("shenyang", 123.4253306, 41.8032629, 123.4314787, 41.8057023, 123.438095, 41.8114013),
]

# Published (GCJ-02, BD-09) pairs. Layout: (name, gcj_lon, gcj_lat, bd_lon, bd_lat)
BD_PAIRS_FORWARD = [
    # wandergis/coordtransform, README.md: gcj02tobd09(116.404, 39.915)
    ("beijing", 116.404, 39.915, 116.41036949371029, 39.92133699351021),
    # hujiulong/gcoord, test/unit/crs/GCJ02.spec.ts: GCJ02 [123, 45] -> BD09 (8 decimals)
    ("jilin-123e45n", 123.0, 45.0, 123.00636499, 45.00636899),
] + [(name, g_lon, g_lat, b_lon, b_lat) for name, _, _, g_lon, g_lat, b_lon, b_lat in GCOORD_CITIES]

# Published outputs of the closed-form BD-09 -> GCJ-02 formula. (name, bd_lon, bd_lat, gcj_lon,
# gcj_lat)
BD_TO_GCJ_CLOSED_FORM = [
    # wandergis/coordtransform, README.md: bd09togcj02(116.404, 39.915)
    ("beijing", 116.404, 39.915, 116.39762729119315, 39.90865673957631),
    # hujiulong/gcoord, test/unit/crs/BD09.spec.ts: BD09 [123, 45] -> GCJ02 (8 decimals)
    ("jilin-123e45n", 123.0, 45.0, 122.99363304, 44.99365430),
]

# Not used: eviltransform's python/test.py TESTS_bd pairs (Jinhua, 29.2N 120.0E) are 10.6 m and
# 41 m away from the public BD-09 formula, including eviltransform's own implementation.

EXACT_TOL_M = 0.05  # vectors given to 8+ decimals: 1 mm rounding, plus the source's own solver
CITY_TOL_M = 0.75  # gcoord china-cities WGS<->GCJ columns: ~0.67 m systematic bias, see above


def _dist(lon_lat_a: tuple, lon: float, lat: float) -> float:
    return float(haversine_m(lon_lat_a[0], lon_lat_a[1], lon, lat))


# --- 1. reference vectors --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "w_lon", "w_lat", "g_lon", "g_lat"), GCJ_PAIRS_EXACT)
def test_wgs84_to_gcj02_matches_published_pairs(name, w_lon, w_lat, g_lon, g_lat):
    assert _dist(wgs84_to_gcj02(w_lon, w_lat), g_lon, g_lat) < EXACT_TOL_M, name


@pytest.mark.parametrize(("name", "w_lon", "w_lat", "g_lon", "g_lat"), GCJ_PAIRS_EXACT)
def test_gcj02_to_wgs84_recovers_published_wgs84(name, w_lon, w_lat, g_lon, g_lat):
    assert _dist(gcj02_to_wgs84(g_lon, g_lat), w_lon, w_lat) < EXACT_TOL_M, name


def test_gcj02_pairs_vectorised_match_scalar_results():
    rows = np.array([r[1:] for r in GCJ_PAIRS_EXACT])
    g_lon, g_lat = wgs84_to_gcj02(rows[:, 0], rows[:, 1])
    assert g_lon.shape == (len(rows),)
    assert haversine_m(g_lon, g_lat, rows[:, 2], rows[:, 3]).max() < EXACT_TOL_M
    w_lon, w_lat = gcj02_to_wgs84(rows[:, 2], rows[:, 3])
    assert haversine_m(w_lon, w_lat, rows[:, 0], rows[:, 1]).max() < EXACT_TOL_M


def test_iterative_inverse_beats_one_step_inverse():
    # The one-step inverse (g - offset(g)) is what eviltransform's tests only hold to 5 m; ours
    # must be at least 100 times closer on its Shanghai/Shenzhen/Beijing vectors.
    for _, w_lon, w_lat, g_lon, g_lat in GCJ_PAIRS_EXACT[:3]:
        assert _dist(gcj02_to_wgs84(g_lon, g_lat), w_lon, w_lat) < 0.001


@pytest.mark.parametrize(
    ("name", "w_lon", "w_lat", "g_lon", "g_lat", "b_lon", "b_lat"), GCOORD_CITIES
)
def test_gcoord_city_fixture_wgs_gcj(name, w_lon, w_lat, g_lon, g_lat, b_lon, b_lat):
    assert _dist(wgs84_to_gcj02(w_lon, w_lat), g_lon, g_lat) < CITY_TOL_M, name
    assert _dist(gcj02_to_wgs84(g_lon, g_lat), w_lon, w_lat) < CITY_TOL_M, name
    assert _dist(wgs84_to_bd09(w_lon, w_lat), b_lon, b_lat) < CITY_TOL_M, name
    assert _dist(bd09_to_wgs84(b_lon, b_lat), w_lon, w_lat) < CITY_TOL_M, name


@pytest.mark.parametrize(("name", "g_lon", "g_lat", "b_lon", "b_lat"), BD_PAIRS_FORWARD)
def test_gcj02_to_bd09_matches_published_pairs(name, g_lon, g_lat, b_lon, b_lat):
    assert _dist(gcj02_to_bd09(g_lon, g_lat), b_lon, b_lat) < EXACT_TOL_M, name


@pytest.mark.parametrize(("name", "g_lon", "g_lat", "b_lon", "b_lat"), BD_PAIRS_FORWARD)
def test_bd09_to_wgs84_recovers_wgs84_of_published_gcj02(name, g_lon, g_lat, b_lon, b_lat):
    # The BD-09 value and its GCJ-02 partner must lead to the same WGS-84 point.
    w_from_bd = bd09_to_wgs84(b_lon, b_lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert _dist(w_from_bd, float(w_lon), float(w_lat)) < EXACT_TOL_M, name


@pytest.mark.parametrize(("name", "b_lon", "b_lat", "g_lon", "g_lat"), BD_TO_GCJ_CLOSED_FORM)
def test_bd09_to_gcj02_matches_published_closed_form(name, b_lon, b_lat, g_lon, g_lat):
    assert _dist(bd09_to_gcj02(b_lon, b_lat), g_lon, g_lat) < EXACT_TOL_M, name


def test_bd09_to_wgs84_against_gcoord_chain():
    # hujiulong/gcoord, test/unit/crs/BD09.spec.ts: BD09 [123, 45] -> WGS84 (8 decimals).
    # gcoord chains the closed-form BD09->GCJ02 step, which is itself ~0.1 m off here, so the
    # exact inverse is allowed 0.2 m from it; our own round trip is checked to 1 mm.
    w = bd09_to_wgs84(123.0, 45.0)
    assert _dist(w, 122.98762210, 44.99171540) < 0.2
    assert _dist(wgs84_to_bd09(*w), 123.0, 45.0) < 0.001


def test_closed_form_bd09_to_gcj02_is_only_approximate_but_bd09_to_wgs84_is_exact():
    lon, lat = np.meshgrid(np.arange(75.0, 135.0, 3.0), np.arange(18.0, 54.0, 3.0))
    g_lon, g_lat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    b_lon, b_lat = gcj02_to_bd09(g_lon, g_lat)
    closed = haversine_m(*bd09_to_gcj02(b_lon, b_lat), g_lon, g_lat)
    assert 0.01 < closed.max() < 0.3  # the closed form has a visible error...
    exact = haversine_m(*bd09_to_wgs84(b_lon, b_lat), lon.ravel(), lat.ravel())
    assert exact.max() < 0.001  # ...which bd09_to_wgs84 does not inherit


# --- 2. grid over China --------------------------------------------------------------------


def _china_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.arange(75.0, 135.0, 3.0), np.arange(18.0, 54.0, 3.0))
    lon, lat = lon.ravel(), lat.ravel()
    inside = (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)
    return lon[inside], lat[inside]


def test_grid_gcj02_round_trip_is_sub_centimetre():
    lon, lat = _china_grid()
    assert lon.size >= 200
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert haversine_m(*back, lon, lat).max() < 0.01


def test_grid_bd09_round_trip_is_sub_centimetre():
    lon, lat = _china_grid()
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert haversine_m(*back, lon, lat).max() < 0.01


def test_grid_gcj02_offset_is_between_50_and_1000_m():
    lon, lat = _china_grid()
    offset = haversine_m(*wgs84_to_gcj02(lon, lat), lon, lat)
    assert offset.min() > 50.0
    assert offset.max() < 1000.0


def test_grid_bd09_adds_a_further_offset():
    lon, lat = _china_grid()
    g = wgs84_to_gcj02(lon, lat)
    step = haversine_m(*gcj02_to_bd09(*g), *g)
    assert step.min() > 500.0  # BD-09 shifts GCJ-02 by roughly 0.006-0.0065 degree
    assert step.max() < 1500.0


# --- 3. outside China --------------------------------------------------------------------------

OUTSIDE = [
    ("tokyo", 139.6917, 35.6895),
    ("london", -0.1276, 51.5072),
    ("new-york", -74.006, 40.7128),
    ("sydney", 151.2093, -33.8688),
]


@pytest.mark.parametrize(("name", "lon", "lat"), OUTSIDE)
def test_gcj02_is_identity_outside_china(name, lon, lat):
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert (float(g_lon), float(g_lat)) == (lon, lat), name
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    assert (float(w_lon), float(w_lat)) == (lon, lat), name


def test_outside_and_inside_china_in_one_array():
    lon = np.array([139.6917, 116.377817])
    lat = np.array([35.6895, 39.911954])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert (g_lon[0], g_lat[0]) == (lon[0], lat[0])
    assert haversine_m(g_lon[1], g_lat[1], lon[1], lat[1]) > 50.0


# --- 4. to_cgcs2000 / from_wgs84 -------------------------------------------------------------

BEIJING_WGS = (116.377817, 39.911954)  # eviltransform beijing vector
BEIJING_GCJ = (116.38404722455657, 39.91334545536069)


def test_to_cgcs2000_mixed_coord_sys_per_row():
    b_lon, b_lat = (float(v) for v in wgs84_to_bd09(*BEIJING_WGS))
    lon = np.array([BEIJING_WGS[0], BEIJING_WGS[0], BEIJING_GCJ[0], b_lon, BEIJING_GCJ[0]])
    lat = np.array([BEIJING_WGS[1], BEIJING_WGS[1], BEIJING_GCJ[1], b_lat, BEIJING_GCJ[1]])
    sys = np.array(["wgs84", "CGCS2000", "gcj02", "Bd09", "GCJ02"])
    out_lon, out_lat = to_cgcs2000(lon, lat, sys)
    # wgs84 and cgcs2000 rows are unchanged, bit for bit
    assert out_lon[0] == lon[0] and out_lat[0] == lat[0]
    assert out_lon[1] == lon[1] and out_lat[1] == lat[1]
    # gcj02 and bd09 rows land on the published WGS-84 point
    d = haversine_m(out_lon, out_lat, *BEIJING_WGS)
    assert d[2:].max() < EXACT_TOL_M
    # and each converted row really moved (the right conversion was applied to the right row)
    assert haversine_m(out_lon, out_lat, lon, lat)[2:].min() > 100.0


def test_to_cgcs2000_scalar_coord_sys_applies_to_all_rows():
    lon = np.array([BEIJING_GCJ[0], 116.41024449916938])
    lat = np.array([BEIJING_GCJ[1], 39.91640428150164])
    out = to_cgcs2000(lon, lat, "gcj02")
    expected_lon = np.array([BEIJING_WGS[0], 116.404])
    expected_lat = np.array([BEIJING_WGS[1], 39.915])
    assert haversine_m(*out, expected_lon, expected_lat).max() < EXACT_TOL_M


def test_from_wgs84_then_to_cgcs2000_round_trips():
    lon, lat = _china_grid()
    sys = np.array([COORD_SYSTEMS[i % len(COORD_SYSTEMS)] for i in range(lon.size)])
    written = from_wgs84(lon, lat, sys)
    moved = haversine_m(*written, lon, lat)
    assert np.all(moved[np.isin(sys, ["gcj02", "bd09"])] > 50.0)
    assert np.all(moved[np.isin(sys, ["wgs84", "cgcs2000"])] == 0.0)
    back = to_cgcs2000(*written, sys)
    assert haversine_m(*back, lon, lat).max() < 0.01


def test_from_wgs84_matches_forward_functions():
    lon, lat = BEIJING_WGS
    assert _dist(from_wgs84(lon, lat, "GCJ02"), *BEIJING_GCJ) < EXACT_TOL_M
    b = wgs84_to_bd09(lon, lat)
    assert _dist(from_wgs84(lon, lat, "bd09"), float(b[0]), float(b[1])) == 0.0


@pytest.mark.parametrize("bad", ["gcj-02", "utm"])
def test_unknown_coord_sys_raises_naming_bad_value_and_allowed(bad):
    with pytest.raises(ValueError) as excinfo:
        to_cgcs2000([116.4, 116.5], [39.9, 39.8], ["wgs84", bad])
    message = str(excinfo.value)
    assert bad in message
    for allowed in COORD_SYSTEMS:
        assert allowed in message


def test_unknown_coord_sys_lists_every_bad_value_once():
    with pytest.raises(ValueError) as excinfo:
        to_cgcs2000([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], ["utm", "gcj-02", "utm", None])
    message = str(excinfo.value)
    assert "'utm'" in message and "'gcj-02'" in message and "None" in message
    assert message.count("'utm'") == 1


def test_unknown_coord_sys_raises_in_from_wgs84_too():
    with pytest.raises(ValueError, match="utm"):
        from_wgs84(116.4, 39.9, "utm")


def test_nan_passes_through_as_nan():
    lon = np.array([np.nan, BEIJING_GCJ[0], np.nan, BEIJING_GCJ[0], BEIJING_WGS[0]])
    lat = np.array([39.9, np.nan, np.nan, BEIJING_GCJ[1], np.nan])
    sys = ["gcj02", "bd09", "wgs84", "gcj02", "cgcs2000"]
    out_lon, out_lat = to_cgcs2000(lon, lat, sys)
    nan_rows = [0, 1, 2, 4]
    assert np.all(np.isnan(out_lon[nan_rows])) and np.all(np.isnan(out_lat[nan_rows]))
    assert _dist((out_lon[3], out_lat[3]), *BEIJING_WGS) < EXACT_TOL_M
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84):
        r_lon, r_lat = fn(np.nan, 39.9)
        assert np.isnan(r_lon) and np.isnan(r_lat), fn.__name__


# --- 5. haversine ------------------------------------------------------------------------------


def test_haversine_one_degree_of_latitude():
    assert haversine_m(116.0, 39.0, 116.0, 40.0) == pytest.approx(111195.08, abs=0.01)
    assert haversine_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(6371008.8 * np.pi / 180.0, rel=1e-12)


def test_haversine_beijing_shanghai():
    d = haversine_m(116.4074, 39.9042, 121.4737, 31.2304)
    assert abs(d - 1_067_000.0) < 1_000.0


def test_haversine_is_vectorised_and_zero_on_same_point():
    d = haversine_m([116.4, 121.5], [39.9, 31.2], [116.4, 116.4], [39.9, 39.9])
    assert d.shape == (2,)
    assert d[0] == 0.0
    assert d[1] > 1_000_000.0
