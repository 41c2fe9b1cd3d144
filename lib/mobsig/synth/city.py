"""The synthetic city's geography: cell sites and sectors, admin units, zones and places.

All geometry is built in a local azimuthal-equidistant plane (metres) centred on the city,
then converted to lon/lat (WGS-84 = CGCS2000 to centimetres). Deterministic from the seed.

Layout (radii from the centre):
- core (< 4 km): dense sites on a jittered hexagonal grid, ~300 m apart, 3 sectors each;
- inner ring (4-10 km): ~800 m apart;
- periphery (10-22 km): km-scale spacing (~2 km), a share of omni cells;
- six county-level districts (three inner wedges, three outer ring wedges), each split into
  township-level units; zones: farmland, a nature-reserve core, a geological hazard point
  and an industrial park; a highway crossing the city for transits;
- a ``facility`` layer of public centres and major facilities (a CBD, a railway hub, a
  city park, a heritage area; :func:`_facilities`) built from the POIs without a random
  draw, for service_population;
- a straight high-speed-rail line 高铁 across the city with its own track-side cells (the
  cell table's ``is_hsr`` flag) every ``HSR_SITE_SPACING`` metres, two sectors along the
  track; public handsets are never served by them (only HSR riders, see timeline.py).
  The HSR cells are added after every random draw, so the rest of the city is unchanged.
- optionally a small satellite city 卫城市 (:func:`build_satellite`, prefecture
  ``SATELLITE_PREFIX``) 18 km beyond the east edge: three counties around three towns, two
  townships each, its own cell sites (500 m in the towns, 1 km elsewhere) and leisure
  places, and a ``city`` unit layer holding both cities (the main one is the union of the
  six districts, code ``CITY_PREFIX + '00'``, their parent). Its random draws come from
  its own stream after everything else, and no main cell is within 8 km of it (further
  than any main site's spacing neighbours), so the main city's cells, persons and events
  are the same with or without it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from mobsig.coords import from_wgs84

CORE_R = 4_000.0
INNER_R = 10_000.0
CITY_R = 22_000.0

# the high-speed-rail line (local metres): 40 km long, 2 km off the centre, bearing 63°
HSR_LINE = ((-18_728.0, -7_298.0), (16_912.0, 10_862.0))
HSR_SITE_SPACING = 1_500.0
HSR_RADIUS_M = 1_200.0

DISTRICT_NAMES = ["锦城区", "青羊区", "金牛区", "龙泉县", "双流县", "郫都县"]
CITY_PREFIX = "9901"  # fictional prefecture code: never collides with a real county
CITY_NAME = "蓉城市"

# the satellite city (local metres): a disk east of the main city, 8 km from its edge
SATELLITE_PREFIX = "9902"
SATELLITE_NAME = "卫城市"
SATELLITE_CENTER = (38_000.0, 0.0)
SATELLITE_R = 8_000.0
# its three counties: wedges of the disk (degrees, counter-clockwise from east) with a
# town 4 km from the centre on each wedge's bisector; the first faces the main city
SATELLITE_COUNTIES = (("卫城区", 120.0, 240.0), ("北山县", 0.0, 120.0),
                      ("南湖县", 240.0, 360.0))
SATELLITE_TOWN_R = 4_000.0
SATELLITE_TOWNSHIP_R = 5_500.0  # inner township (the town) / outer township of a county
SATELLITE_SITE_ID = 700_000     # eNB numbers of the satellite's sites
# own random stream: (seed, SATELLITE_STREAM, part); 0x5A7E = "satellite"
SATELLITE_STREAM = 0x5A7E


@dataclass
class City:
    center_lon: float
    center_lat: float
    cells: pd.DataFrame       # one row per cell version (the 工参 table) + site/x/y
    sites: pd.DataFrame       # site_idx, x, y, ring
    units: pd.DataFrame       # unit_id, unit_name, level, parent_id, geometry (local xy)
    zones: pd.DataFrame       # unit_id, unit_name, level (zone kind), geometry (local xy)
    pois: pd.DataFrame        # poi_idx, x, y, kind
    highway: tuple[tuple[float, float], tuple[float, float]]
    epochs: list[int]         # day offsets where the set of valid cells changes
    _fwd: Transformer = dataclasses.field(repr=False)
    _inv: Transformer = dataclasses.field(repr=False)
    hsr_line: tuple[tuple[float, float], tuple[float, float]] = HSR_LINE
    # unit_id, unit_name, level (facility), kind, geometry (local xy): see _facilities
    facilities: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    satellite: Satellite | None = None  # the satellite city, when built
    # a city in real counties: its towns (unit_id, x, y, geometry: local xy; see
    # mobsig.synth.real.towns), whose sites are in ``sites`` with ring "town"
    towns: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    def main_cells(self) -> pd.DataFrame:
        """The main city's cells (what its handsets are served by): every cell but the
        satellite's, in their original order."""
        if "is_satellite" not in self.cells:
            return self.cells
        return self.cells[~self.cells["is_satellite"].to_numpy(bool)].reset_index(drop=True)

    def all_sites(self) -> pd.DataFrame:
        """Every site position indexed by ``site_idx`` (main, HSR and satellite sites), for
        a network serving the satellite's handsets in both cities."""
        hsr = self.cells[self.cells["is_hsr"].to_numpy(bool)].drop_duplicates("site_idx")
        parts = [self.sites[["site_idx", "x", "y"]], hsr[["site_idx", "x", "y"]]]
        if self.satellite is not None:
            parts.append(self.satellite.sites[["site_idx", "x", "y"]])
        out = pd.concat(parts, ignore_index=True).sort_values("site_idx")
        assert (out["site_idx"].to_numpy() == np.arange(len(out))).all(), "site_idx gaps"
        return out.reset_index(drop=True)

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._inv.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon), np.asarray(lat)

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x), np.asarray(y)

    def geometry_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda xy: np.column_stack(self.to_lonlat(xy[:, 0],
                                                                                 xy[:, 1])))

    def unit_of(self, x: np.ndarray, y: np.ndarray, level: str) -> np.ndarray:
        """unit_id of the `level` unit containing each point (None outside every unit)."""
        layer = self.units[self.units["level"] == level]
        out = np.full(len(x), None, dtype=object)
        for uid, geom in zip(layer["unit_id"], layer["geometry"], strict=True):
            inside = shapely.contains_xy(geom, x, y)
            out[inside & (out == None)] = uid  # noqa: E711 - elementwise
        return out


@dataclass
class Satellite:
    """The satellite city: its towns (one per county, in county order), sites, cells and
    leisure places (local metres)."""
    county_ids: list[str]
    towns: np.ndarray         # (3, 2) town centres
    sites: pd.DataFrame       # site_idx (after the main and HSR sites), x, y, ring
    cells: pd.DataFrame       # as City.cells, plus is_satellite
    pois: np.ndarray          # (n, 2) leisure places


def _hex_grid(rng: np.random.Generator, r0: float, r1: float, spacing: float,
              jitter: float) -> np.ndarray:
    n = int(np.ceil(r1 / spacing)) + 2
    ii, jj = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1))
    x = (ii + 0.5 * (jj % 2)) * spacing
    y = jj * spacing * np.sqrt(3) / 2
    pts = np.column_stack([x.ravel(), y.ravel()])
    pts = pts + rng.normal(0, jitter, pts.shape)
    r = np.hypot(pts[:, 0], pts[:, 1])
    return pts[(r >= r0) & (r < r1)]


def _sites(rng: np.random.Generator) -> pd.DataFrame:
    core = _hex_grid(rng, 0, CORE_R, 300.0, 60.0)
    inner = _hex_grid(rng, CORE_R, INNER_R, 800.0, 150.0)
    outer = _hex_grid(rng, INNER_R, CITY_R - 300, 2000.0, 400.0)
    pts = np.vstack([core, inner, outer])
    ring = np.array(["core"] * len(core) + ["inner"] * len(inner) + ["outer"] * len(outer))
    return pd.DataFrame({"site_idx": np.arange(len(pts)), "x": pts[:, 0], "y": pts[:, 1],
                         "ring": ring})


def _cells(rng: np.random.Generator, sites: pd.DataFrame, start: dt.date,
           days: int) -> tuple[pd.DataFrame, list[int]]:
    rows = []
    radius_by_ring = {"core": (250, 600), "inner": (700, 1500), "outer": (1800, 5000)}
    for s in sites.itertuples(index=False):
        omni = s.ring == "outer" and rng.random() < 0.3
        rot = rng.uniform(0, 120)
        sectors = [None] if omni else [(rot + k * 120) % 360 for k in range(3)]
        lo, hi = radius_by_ring[s.ring]
        tech = "5g" if (s.ring == "core" and rng.random() < 0.4) else "4g"
        enb = 200000 + int(s.site_idx)
        for k, az in enumerate(sectors):
            radius = round(float(rng.uniform(lo, hi)), 1) if rng.random() > 0.05 else np.nan
            rows.append({"cell_id": f"460-00-{enb}-{k + 1}", "site_idx": int(s.site_idx),
                         "x": s.x, "y": s.y, "azimuth": np.nan if az is None else round(az, 1),
                         "radius_m": radius, "tech": tech})
    cells = pd.DataFrame(rows)
    cells["valid_from"] = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[ns]")
    cells["valid_to"] = cells["valid_from"]
    epochs = [0]
    if days >= 6:
        d_swap, d_new, d_retire = days // 3, days // 2, (2 * days) // 3
        epochs = sorted({0, d_swap, d_new, d_retire + 1})
        day = lambda k: pd.Timestamp(start + dt.timedelta(days=k))  # noqa: E731
        idx = rng.permutation(len(cells))
        swap, moved, retire = idx[:12], idx[12:17], idx[17:25]
        # (1) 4G -> 5G swap: the old id retires, a new id takes over at the same antenna
        new_rows = cells.iloc[swap].copy()
        new_rows["cell_id"] = [f"460-00-{900000 + i}-1" for i in range(len(swap))]
        new_rows["tech"] = "5g"
        # (2) antenna relocated: same cell_id, second version 150 m away
        moved_rows = cells.iloc[moved].copy()
        ang = rng.uniform(0, 2 * np.pi, len(moved))
        moved_rows["x"] = moved_rows["x"] + 150 * np.cos(ang)
        moved_rows["y"] = moved_rows["y"] + 150 * np.sin(ang)
        n0 = len(cells)
        cells = pd.concat([cells, new_rows, moved_rows], ignore_index=True)
        vf = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[ns]")
        vt = vf.copy()
        day = lambda k: np.datetime64(start + dt.timedelta(days=k), "ns")  # noqa: E731
        vt[swap] = day(d_swap - 1)
        vf[n0:n0 + len(swap)] = day(d_swap)
        vt[moved] = day(d_new - 1)
        vf[n0 + len(swap):] = day(d_new)
        # (3) a few cells retired mid-period without replacement
        vt[retire] = day(d_retire)
        cells["valid_from"], cells["valid_to"] = vf, vt
    # coordinate systems as delivered: mostly WGS-84, some GCJ-02, a few BD-09
    u = rng.random(len(cells))
    cells["coord_sys"] = np.where(u < 0.75, "wgs84", np.where(u < 0.95, "gcj02", "bd09"))
    return cells, epochs


def _hsr_cells(first_site_idx: int) -> pd.DataFrame:
    """Track-side cells of the HSR line (deterministic, no random draws): a site every
    HSR_SITE_SPACING metres, 80 m off the track on alternating sides, with two sectors
    facing along the track; site indices continue after the public sites."""
    (xa, ya), (xb, yb) = HSR_LINE
    length = float(np.hypot(xb - xa, yb - ya))
    ux, uy = (xb - xa) / length, (yb - ya) / length
    bearing = float(np.degrees(np.arctan2(ux, uy)) % 360)
    rows = []
    for i, s in enumerate(np.arange(HSR_SITE_SPACING / 2, length, HSR_SITE_SPACING)):
        side = 80.0 if i % 2 == 0 else -80.0
        x, y = xa + s * ux - side * uy, ya + s * uy + side * ux
        for k, az in enumerate((bearing, (bearing + 180) % 360)):
            rows.append({"cell_id": f"460-00-{800000 + i}-{k + 1}",
                         "site_idx": first_site_idx + i, "x": x, "y": y,
                         "azimuth": round(az, 1), "radius_m": HSR_RADIUS_M, "tech": "5g",
                         "coord_sys": "gcj02" if i % 3 == 2 else "wgs84", "is_hsr": True})
    cells = pd.DataFrame(rows)
    cells["valid_from"] = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[ns]")
    cells["valid_to"] = cells["valid_from"]
    return cells


def _wedge(r0: float, r1: float, a0: float, a1: float, n: int = 48) -> Polygon:
    a = np.linspace(np.radians(a0), np.radians(a1), n)
    outer = np.column_stack([r1 * np.cos(a), r1 * np.sin(a)])
    if r0 <= 0:
        ring = np.vstack([[0.0, 0.0], outer])
    else:
        inner = np.column_stack([r0 * np.cos(a[::-1]), r0 * np.sin(a[::-1])])
        ring = np.vstack([outer, inner])
    return Polygon(ring)


def _units(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    wedges = [(0, INNER_R, 90, 210), (0, INNER_R, 210, 330), (0, INNER_R, -30, 90),
              (INNER_R, CITY_R, 30, 150), (INNER_R, CITY_R, 150, 270),
              (INNER_R, CITY_R, 270, 390)]
    for i, (r0, r1, a0, a1) in enumerate(wedges):
        code = f"{CITY_PREFIX}{i + 1:02d}"
        district = shapely.make_valid(_wedge(r0, r1, a0, a1))
        rows.append({"unit_id": code, "unit_name": DISTRICT_NAMES[i], "level": "county",
                     "parent_id": CITY_PREFIX + "00", "geometry": district})
        n_town = 6 if r0 == 0 else 4
        # seeds spread in the wedge; more townships near the centre
        seeds = []
        while len(seeds) < n_town:
            r = rng.uniform(max(r0, 500), r1 - 300)
            a = np.radians(rng.uniform(a0 + 5, a1 - 5))
            p = (r * np.cos(a), r * np.sin(a))
            if all(np.hypot(p[0] - q[0], p[1] - q[1]) > 1500 for q in seeds):
                seeds.append(p)
        vor = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=district)
        cells = [shapely.intersection(g, district) for g in shapely.get_parts(vor)]
        cells = [c for c in cells if not c.is_empty and c.area > 1]
        for j, c in enumerate(sorted(cells, key=lambda g: (g.centroid.x, g.centroid.y))):
            rows.append({"unit_id": f"{code}{j + 1:03d}",
                         "unit_name": f"{DISTRICT_NAMES[i]}{j + 1}街道",
                         "level": "township", "parent_id": code,
                         "geometry": shapely.make_valid(c)})
    return pd.DataFrame(rows)


def _zones() -> pd.DataFrame:
    def box(cx: float, cy: float, w: float, h: float) -> Polygon:
        return shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    rows = [
        {"unit_id": "Z-FARM-01", "unit_name": "永久基本农田片区一", "level": "farmland",
         "geometry": box(-3_000, -15_500, 3_000, 2_000)},
        {"unit_id": "Z-RSV-01", "unit_name": "自然保护区核心区", "level": "reserve_core",
         "geometry": box(14_500, 9_000, 3_000, 3_000)},
        {"unit_id": "Z-HAZ-01", "unit_name": "地质灾害隐患点", "level": "hazard_point",
         "geometry": Point(-13_000, 8_000)},
        {"unit_id": "Z-PARK-01", "unit_name": "高新技术产业园", "level": "park",
         "geometry": box(7_000, -2_000, 2_000, 2_000)},
    ]
    return pd.DataFrame(rows)


# public centres and major facilities 公共中心与重大设施 (service_population's zones):
# their layer, and their size in local metres
FACILITY_LEVEL = "facility"
CBD_RADIUS_M = 1_500.0
HUB_SIDE_M = 1_000.0
# the hub square's half-sides tried (the nominal first) and its centre's largest shift from
# the station (clear_box: its edges clear of the places visitors stay at)
HUB_HALVES_M = np.arange(HUB_SIDE_M / 2, 395.0, -10.0)
HUB_MAX_SHIFT_M = 150.0
PARK_RADIUS_M = 600.0
HERITAGE_RADIUS_M = 1_500.0


def _circle(cx: float, cy: float, r: float, n: int = 48) -> Polygon:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return Polygon(np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)]))


def _facilities(pois: pd.DataFrame) -> pd.DataFrame:
    """Facility and centre polygons (layer ``facility``, attribute ``kind``), built from
    the city's own geometry without a random draw, so the rest of the city is unchanged:

    - a central business district 中央商务区 (``cbd``): the circle of CBD_RADIUS_M around
      the centre, where most work places cluster (population._points_work);
    - a railway hub 火车站枢纽 (``hub``): the square of HUB_SIDE_M around the station POI,
      where arriving and leaving persons pass for under 30 minutes; :func:`build_city`
      then redraws it with :func:`clear_box` (half-side 400-500 m, centre within 150 m of
      the station) so that no leisure place or hotel sits on its edge
      (mobsig.synth.generate redraws it once more with the sample's homes);
    - a city park 城市公园 (``park``): the circle of PARK_RADIUS_M around the leisure POI of
      the outer core (2.3-3.6 km from the centre, clear of the CBD and the hub) with the
      most leisure POIs within that radius (ties: the smallest poi_idx);
    - a heritage and scenic area 历史文化风景区 (``heritage``): the circle of
      HERITAGE_RADIUS_M around the scenic POI in the periphery, where cells are km apart.
    """
    leisure = pois[pois["kind"] == "leisure"]
    xy = leisure[["x", "y"]].to_numpy()
    station = pois.loc[pois["kind"] == "station", ["x", "y"]].to_numpy()[0]
    scenic = pois.loc[pois["kind"] == "scenic", ["x", "y"]].to_numpy()[0]
    r = np.hypot(xy[:, 0], xy[:, 1])
    clear = np.abs(xy - station).max(axis=1) > HUB_SIDE_M / 2 + PARK_RADIUS_M
    cand = np.flatnonzero((r >= CBD_RADIUS_M + 800) & (r <= CORE_R - 400) & clear)
    near = [(int((np.hypot(*(xy - xy[i]).T) <= PARK_RADIUS_M).sum()),
             -int(leisure["poi_idx"].iloc[i]), i) for i in cand]
    park = xy[max(near)[2]]
    half = HUB_SIDE_M / 2
    rows = [
        ("F-CBD-01", "中央商务区", "cbd", _circle(0.0, 0.0, CBD_RADIUS_M)),
        ("F-HUB-01", "火车站枢纽", "hub", shapely.box(station[0] - half, station[1] - half,
                                                    station[0] + half, station[1] + half)),
        ("F-PARK-01", "城市公园", "park", _circle(park[0], park[1], PARK_RADIUS_M)),
        ("F-HER-01", "历史文化风景区", "heritage",
         _circle(scenic[0], scenic[1], HERITAGE_RADIUS_M)),
    ]
    return pd.DataFrame([{"unit_id": u, "unit_name": n, "level": FACILITY_LEVEL, "kind": k,
                          "geometry": g} for u, n, k, g in rows])


def clear_box(city: City, cx: float, cy: float, halves: np.ndarray, max_shift_m: float,
              start: dt.date, step_m: float = 10.0,
              homes_xy: np.ndarray | None = None) -> Polygon:
    """A square near (``cx``, ``cy``) whose edges keep clear of the places visitors stay
    at (leisure places, hotels, the station), so that its true visitors are the ones the
    signal can place inside: candidates are the squares of half-side in ``halves``
    centred within ``max_shift_m`` of (cx, cy) (grid of ``step_m``); a candidate is
    *readable* when every place lies on the same side of its edge as the positions the
    network reports for a handset there (the service points of the cells of its nearest
    and second nearest sites on the first day, ``mobsig.synth.plants._reported``: a stay
    is placed at its cells' service points); the chosen square is the readable one (any
    when none is) with the places and their reported positions farthest from its edge
    (ties: the smallest shift, then the half-side nearest the first of ``halves``). No
    random draw: the rest of the city is unchanged. A place within ~150 m of an edge is
    on either side for the signal (README, Quality on the synthetic city). ``homes_xy``
    (n x 2): more places to keep clear, the sample's homes once they are drawn
    (mobsig.synth.generate redraws the hub with them: a resident living 87 m outside the
    square was placed inside it on 10 nights)."""
    from mobsig.synth.plants import _reported

    reach = float(np.max(halves)) + max_shift_m + 300.0
    p = city.pois.loc[city.pois["kind"].isin(["leisure", "hotel", "station"]), ["x", "y"]]
    xy = p.to_numpy(float)
    if homes_xy is not None:
        xy = np.vstack([xy, np.asarray(homes_xy, float).reshape(-1, 2)])
    xy = xy[np.max(np.abs(xy - [cx, cy]), axis=1) <= reach]
    pts = [xy] + [np.column_stack(_reported(city, start, 0, xy[:, 0], xy[:, 1], rank))
                  for rank in (0, 1)]
    shifts = np.arange(-max_shift_m, max_shift_m + step_m / 2, step_m)
    dx, dy, h = (a.ravel() for a in np.meshgrid(shifts, shifts, np.asarray(halves, float),
                                               indexing="ij"))
    signed = []  # per candidate and point: + inside, - outside, |.| the distance to the edge
    for q in pts:
        ax = np.abs(q[None, :, 0] - (cx + dx)[:, None])
        ay = np.abs(q[None, :, 1] - (cy + dy)[:, None])
        inside = np.minimum(h[:, None] - ax, h[:, None] - ay)
        outside = np.hypot(np.clip(ax - h[:, None], 0, None), np.clip(ay - h[:, None], 0, None))
        signed.append(np.where(inside >= 0, inside, -outside))
    s = np.stack(signed)  # (3, candidates, places)
    readable = (np.all(s > 0, axis=0) | np.all(s < 0, axis=0)).all(axis=1)
    score = np.abs(s).min(axis=(0, 2))
    order = np.lexsort((np.abs(h - halves[0]), np.hypot(dx, dy), -score, ~readable))
    i = order[0]
    return shapely.box(cx + dx[i] - h[i], cy + dy[i] - h[i], cx + dx[i] + h[i],
                       cy + dy[i] + h[i])


def _pois(rng: np.random.Generator, zones: pd.DataFrame) -> pd.DataFrame:
    n_core, n_inner, n_outer = 160, 60, 20
    r = np.concatenate([CORE_R * np.sqrt(rng.random(n_core)),
                        rng.uniform(CORE_R, INNER_R, n_inner),
                        rng.uniform(INNER_R, CITY_R - 1000, n_outer)])
    a = rng.uniform(0, 2 * np.pi, len(r))
    kind = ["leisure"] * (n_core + n_inner + n_outer)
    x, y = list(r * np.cos(a)), list(r * np.sin(a))
    # hotels in the core, a railway station, a scenic spot inside the reserve core
    for _ in range(15):
        rr, aa = CORE_R * 0.8 * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
        x.append(rr * np.cos(aa))
        y.append(rr * np.sin(aa))
        kind.append("hotel")
    x.append(-1500.0)
    y.append(2500.0)
    kind.append("station")
    rsv = zones.loc[zones["level"] == "reserve_core", "geometry"].iloc[0].centroid
    x.append(rsv.x)
    y.append(rsv.y)
    kind.append("scenic")
    return pd.DataFrame({"poi_idx": np.arange(len(x)), "x": x, "y": y, "kind": kind})


def build_city(seed: int, center_lon: float, center_lat: float, start: dt.date,
               days: int, real_counties: pd.DataFrame | None = None,
               min_overlap_km2: float = 10.0, satellite: bool = False) -> City:
    """The whole geography, deterministic from the seed.

    ``real_counties`` (``unit_id``, ``unit_name``, ``geometry`` in lon/lat; see
    mobsig.synth.real): the counties overlapping the city disk by >= ``min_overlap_km2``
    replace the fictional districts and townships, and each county with a large part of
    the periphery gets a town with its own dense sites (mobsig.synth.real.towns, from
    their own random stream, numbered before the HSR sites); every other draw is
    unchanged.
    ``satellite`` (fictional districts only): add the satellite city and the ``city``
    layer (:func:`build_satellite`); nothing of the main city changes.
    """
    rng = np.random.default_rng([seed, 1])
    proj = f"+proj=aeqd +lat_0={center_lat} +lon_0={center_lon} +datum=WGS84 +units=m"
    fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
    inv = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
    sites = _sites(rng)
    cells, epochs = _cells(rng, sites, start, days)
    units = _units(rng)
    town = pd.DataFrame(columns=["unit_id", "x", "y", "geometry"])
    if real_counties is not None:
        from mobsig.synth import real

        units = _real_units(real_counties, fwd, min_overlap_km2)
        town = real.towns(units, INNER_R, CITY_R)
        t_sites, t_cells = real.town_network(seed, town, len(sites))
        sites = pd.concat([sites, t_sites], ignore_index=True)
        cells = pd.concat([cells, t_cells], ignore_index=True)
    cells = pd.concat([cells.assign(is_hsr=False), _hsr_cells(len(sites))],
                      ignore_index=True)
    zones = _zones()
    pois = _pois(rng, zones)
    sat = None
    if satellite and real_counties is None:
        sat = build_satellite(seed, first_site_idx=int(cells["site_idx"].max()) + 1)
        cells = pd.concat([cells.assign(is_satellite=False), sat.cells], ignore_index=True)
        units = pd.concat([units, satellite_units(sat)], ignore_index=True)
        units = pd.concat([units, city_units(units)], ignore_index=True)
    city = City(center_lon, center_lat, cells, sites, units, zones, pois,
                highway=((-CITY_R, -6_000.0), (CITY_R, -6_000.0)), epochs=epochs,
                _fwd=fwd, _inv=inv, facilities=_facilities(pois), satellite=sat,
                towns=town)
    hub = city.facilities["unit_id"].eq("F-HUB-01").to_numpy()
    station = pois.loc[pois["kind"] == "station", ["x", "y"]].to_numpy(float)[0]
    city.facilities.loc[hub, "geometry"] = clear_box(city, *station, HUB_HALVES_M,
                                                     HUB_MAX_SHIFT_M, start)
    lon, lat = city.to_lonlat(cells["x"].to_numpy(), cells["y"].to_numpy())
    cells["true_lon"], cells["true_lat"] = lon, lat
    src_lon, src_lat = from_wgs84(lon, lat, cells["coord_sys"].to_numpy())
    cells["lon"], cells["lat"] = np.round(src_lon, 7), np.round(src_lat, 7)
    cells["admin_code"] = city.unit_of(cells["x"].to_numpy(), cells["y"].to_numpy(), "county")
    return city


def build_satellite(seed: int, first_site_idx: int) -> Satellite:
    """The satellite city's sites, cells and leisure places, from its own random stream
    (``[seed, SATELLITE_STREAM, 1]``). Sites: a 1 km hexagonal grid over the disk and a
    500 m one within 1.5 km of each town (3 sectors; a fifth of the rural ones omni);
    cells valid for the whole period."""
    rng = np.random.default_rng([seed, SATELLITE_STREAM, 1])
    cx, cy = SATELLITE_CENTER
    towns = np.array([[cx + SATELLITE_TOWN_R * np.cos(np.radians((a0 + a1) / 2)),
                       cy + SATELLITE_TOWN_R * np.sin(np.radians((a0 + a1) / 2))]
                      for _, a0, a1 in SATELLITE_COUNTIES])
    rural = _hex_grid(rng, 0, SATELLITE_R - 200, 1000.0, 150.0)
    near = np.min(np.hypot(rural[:, None, 0] - towns[None, :, 0],
                           rural[:, None, 1] - towns[None, :, 1]), axis=1)
    rural = rural[near >= 1500]
    town = np.vstack([_hex_grid(rng, 0, 1500, 500.0, 80.0) + t for t in towns])
    pts = np.vstack([rural + [cx, cy], town])
    ring = np.array(["sat_rural"] * len(rural) + ["sat_town"] * len(town))
    sites = pd.DataFrame({"site_idx": first_site_idx + np.arange(len(pts)), "x": pts[:, 0],
                          "y": pts[:, 1], "ring": ring})
    rows = []
    for j, s in enumerate(sites.itertuples(index=False)):
        omni = s.ring == "sat_rural" and rng.random() < 0.2
        rot = rng.uniform(0, 120)
        sectors = [None] if omni else [(rot + k * 120) % 360 for k in range(3)]
        lo, hi = (300, 800) if s.ring == "sat_town" else (800, 2000)
        tech = "5g" if (s.ring == "sat_town" and rng.random() < 0.3) else "4g"
        for k, az in enumerate(sectors):
            rows.append({"cell_id": f"460-00-{SATELLITE_SITE_ID + j}-{k + 1}",
                         "site_idx": int(s.site_idx), "x": s.x, "y": s.y,
                         "azimuth": np.nan if az is None else round(az, 1),
                         "radius_m": round(float(rng.uniform(lo, hi)), 1), "tech": tech})
    cells = pd.DataFrame(rows)
    cells["valid_from"] = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[ns]")
    cells["valid_to"] = cells["valid_from"]
    u = rng.random(len(cells))
    cells["coord_sys"] = np.where(u < 0.75, "wgs84", np.where(u < 0.95, "gcj02", "bd09"))
    cells["is_hsr"] = False
    cells["is_satellite"] = True
    pois = np.vstack([t + rng.normal(0, 700, (12, 2)) for t in towns]
                     + [rng.uniform(-0.6, 0.6, (6, 2)) * SATELLITE_R + [cx, cy]])
    ids = [f"{SATELLITE_PREFIX}{i + 1:02d}" for i in range(len(SATELLITE_COUNTIES))]
    return Satellite(ids, towns, sites, cells, pois)


def satellite_units(sat: Satellite) -> pd.DataFrame:
    """The satellite's counties (wedges of its disk, parent: its prefecture) and their
    townships (the town, inside SATELLITE_TOWNSHIP_R of the centre, and the rest)."""
    cx, cy = SATELLITE_CENTER
    rows = []
    for uid, (name, a0, a1) in zip(sat.county_ids, SATELLITE_COUNTIES, strict=True):
        wedge = shapely.affinity.translate(_wedge(0, SATELLITE_R, a0, a1), cx, cy)
        inner = shapely.affinity.translate(_wedge(0, SATELLITE_TOWNSHIP_R, a0, a1), cx, cy)
        rows.append({"unit_id": uid, "unit_name": name, "level": "county",
                     "parent_id": SATELLITE_PREFIX + "00", "geometry": shapely.make_valid(wedge)})
        outer = shapely.affinity.translate(
            _wedge(SATELLITE_TOWNSHIP_R, SATELLITE_R, a0, a1), cx, cy)
        for j, (part, label) in enumerate(((inner, "城关街道"), (outer, "新桥乡"))):
            rows.append({"unit_id": f"{uid}{j + 1:03d}", "unit_name": f"{name}{label}",
                         "level": "township", "parent_id": uid,
                         "geometry": shapely.make_valid(part)})
    return pd.DataFrame(rows)


def city_units(units: pd.DataFrame) -> pd.DataFrame:
    """The ``city`` layer: one unit per prefecture, the union of its counties (the
    counties' parent_id), named CITY_NAME / SATELLITE_NAME."""
    names = {CITY_PREFIX + "00": CITY_NAME, SATELLITE_PREFIX + "00": SATELLITE_NAME}
    counties = units[units["level"] == "county"]
    rows = []
    for parent, g in counties.groupby("parent_id", sort=True):
        rows.append({"unit_id": parent, "unit_name": names.get(parent, parent), "level": "city",
                     "parent_id": None,
                     "geometry": shapely.make_valid(shapely.union_all(g["geometry"].to_numpy()))})
    return pd.DataFrame(rows)


def _real_units(counties: pd.DataFrame, fwd: Transformer,
               min_overlap_km2: float) -> pd.DataFrame:
    """Real counties (lon/lat) overlapping the city disk, as county units in local metres
    (parent: the prefecture code, the first 4 digits + '00')."""
    from mobsig.synth.real import choose_counties

    xy = counties.assign(geometry=shapely.transform(
        counties["geometry"].to_numpy(),
        lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1]))))
    chosen = choose_counties(xy, CITY_R, min_overlap_km2)
    if chosen.empty:
        raise ValueError(f"no real county overlaps the city disk by {min_overlap_km2} km2")
    return pd.DataFrame({"unit_id": chosen["unit_id"], "unit_name": chosen["unit_name"],
                         "level": "county",
                         "parent_id": chosen["unit_id"].str[:4] + "00",
                         "geometry": chosen["geometry"].map(shapely.make_valid)})


def valid_mask(cells: pd.DataFrame, day: pd.Timestamp) -> np.ndarray:
    """Cells valid on `day` (null validity bounds are open)."""
    vf = cells["valid_from"]
    vt = cells["valid_to"]
    return ((vf.isna() | (vf <= day)) & (vt.isna() | (vt >= day))).to_numpy()
