"""The synthetic city placed inside real counties (``synth.real_counties``).

The city (cell sites, zones, places, behaviour) is the default one plus towns (below); the
county layer changes: the real county polygons overlapping the city disk by at least
``synth.real_min_overlap_km2`` become the county units (no township level), read through
mobsig.io.units (any layer format, e.g. the census TopoJSON with a mapping), and each sample
person's home is placed in one of them in proportion to the county's official resident
population (``synth.real_population``), uniformly inside the county's settled part: its
part of the inner disk (sites <= 800 m apart) and, for a county with a large part of the
sparse periphery, a town there with its own sites 500 m apart (:func:`towns`; a real
operator's network is dense where people live, see TOWN_R_M). So the sample residents of
a county are a known sample of it, and the truth per county is its official population:

- ``reference/population.csv``: ``unit_id``, ``unit_name``, ``population`` (official);
- ``truth/population_by_unit.csv``: per county, ``resident_population`` = official
  population and ``sample_residents`` = true in-sample residents;
- the city's config.yaml points ``paths.units`` at the real layer itself (a mapping with
  ``unit_ids`` = the chosen counties; nothing is copied) plus the synthetic zones, and
  sets expansion-factor bounds around the true factors (official population / sample
  residents, ~10^4-10^5 for a sample of a few hundred).

The census data of ``../shared/data/census2020`` (2020 county populations, county
polygons as TopoJSON in an Albers projection) is the intended input: :func:`census_layer`
gives its mapping and :func:`shared_data_dir` finds the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyspark.sql import SparkSession

from mobsig.config import Config, UnitLayer
from mobsig.errors import ConfigError, InputError

# The census TopoJSON is pre-projected to this Albers equal-area conic (WGS-84 datum),
# per ../shared/data/README.md; TopoJSON itself carries no CRS.
CENSUS_ALBERS = ("+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +datum=WGS84 "
                 "+units=m +no_defs")
CENSUS_DIR = "census2020"
# expansion-factor gate bounds written for a real-county city: this factor around the
# smallest and largest true factor (a county's sample residents vary with the draw)
FACTOR_MARGIN = 3.0
# homes are placed this far inside the city edge (where the network still covers them)
EDGE_MARGIN_M = 1_000.0
# Settlements. The default city's network is dense where its people live (sites ~300 m
# apart in the core, ~800 m in the inner ring) and sparse (~2 km, a third omni) in its
# rural periphery, where only its villages are. Real counties do not follow that plan:
# Chengdu's suburban districts (双流, 郫都, 新都, 温江, 龙泉驿) lie (almost) wholly in the disk's
# periphery but hold 1.0-2.7 million people each (2020 census), and a real operator dimensions its
# network by traffic, so where they live (the district seats and new towns) its sites are
# a few hundred metres apart, as in any urban area (3GPP's urban-macro layout: 500 m
# inter-site distance); 2-5 km spacing is a rural layout for farmland and villages. So
# each county with at least TOWN_MIN_KM2 of the periphery gets a town of radius
# TOWN_R_M at the innermost point of its periphery part (its pole of inaccessibility),
# served by sites on a TOWN_SITE_SPACING_M hexagonal grid (as the satellite city's towns),
# and a county's homes are spread over its part of the inner disk plus its town, not over
# farmland served by masts 2 km apart.
TOWN_R_M = 2_500.0
TOWN_SITE_SPACING_M = 500.0
TOWN_MIN_KM2 = 20.0
TOWN_SITE_ID = 600_000  # eNB numbers of the town sites (satellite 700000, HSR 800000)
TOWN_STREAM = 0x7043    # own random stream: the city's other draws are unchanged


def shared_data_dir(start: Path | None = None) -> Path | None:
    """The shared reference-data folder (``../shared/data`` next to the project root), or
    None. ``$MOBSIG_SHARED_DATA`` overrides; otherwise the first ``../shared/data`` found
    walking up from ``start`` (default: this package's checkout, then the working
    directory)."""
    env = os.environ.get("MOBSIG_SHARED_DATA")
    if env:
        p = Path(env).expanduser().resolve()
        return p if p.is_dir() else None
    starts = [start] if start else [Path(__file__).resolve().parent, Path.cwd()]
    for s in starts:
        for parent in [s, *s.parents]:
            cand = parent.parent / "shared" / "data"
            if (parent / "pyproject.toml").is_file() and cand.is_dir():
                return cand.resolve()
    return None


def census_layer(data_dir: Path) -> UnitLayer:
    """The layer mapping of the census county TopoJSON (object ``county``, ``CODE`` /
    ``NAME``, level county, Albers CRS)."""
    return UnitLayer(path=str(data_dir / CENSUS_DIR / "counties-geo.topojson"),
                     layer="county", id_field="CODE", name_field="NAME", level="county",
                     crs=CENSUS_ALBERS)


def census_overrides(data_dir: Path) -> list[str]:
    """Config overrides that place the synthetic city in the census counties."""
    layer = census_layer(data_dir)
    mapping = ", ".join(f'{k}: "{v}"' for k, v in layer.to_dict().items())
    return [f"synth.real_counties={{{mapping}}}",
            f"synth.real_population={data_dir / CENSUS_DIR / 'population.csv'}"]


def load_counties(spark: SparkSession, cfg: Config) -> tuple[pd.DataFrame, UnitLayer]:
    """Every county of ``synth.real_counties`` (``unit_id``, ``unit_name``, ``geometry``:
    shapely, EPSG:4490, lon/lat) read through mobsig.io.units, and the resolved layer."""
    from mobsig import columns as C
    from mobsig.io.units import read_units_layer

    layer = cfg.resolve_layer(cfg.synth.real_counties)
    df = read_units_layer(spark, layer).selectExpr(
        C.UNIT_ID, C.UNIT_NAME, f"ST_AsBinary({C.GEOMETRY}) AS wkb").toPandas()
    df["geometry"] = shapely.from_wkb(df.pop("wkb").to_numpy())
    return df, layer


def load_population(cfg: Config) -> pd.Series:
    """Official resident population per county code (``synth.real_population``)."""
    sc = cfg.synth
    path = cfg.resolve_layer(sc.real_population).path
    try:
        pdf = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise InputError(f"synth.real_population {path!r}: cannot read CSV: {exc}") from None
    missing = [c for c in (sc.real_population_id_field, sc.real_population_field)
               if c not in pdf.columns]
    if missing:
        raise ConfigError(f"synth.real_population {path!r}: no columns {missing} (has "
                          f"{list(pdf.columns)}); set synth.real_population_id_field / "
                          "real_population_field")
    text = pdf[sc.real_population_field].fillna("").str.strip()
    pop = pd.to_numeric(text, errors="coerce")
    ids = pdf[sc.real_population_id_field].fillna("").str.strip()
    bad = ids[(text != "") & pop.isna()]
    if len(bad):
        raise InputError(f"synth.real_population {path!r}: {len(bad)} values of "
                         f"{sc.real_population_field} are not numbers (e.g. "
                         f"{dict(zip(bad[:3], text[bad.index[:3]], strict=True))})")
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise InputError(f"synth.real_population {path!r}: duplicate codes {dup[:5]}")
    return pd.Series(pop.to_numpy(), index=ids)  # empty values: NaN, no population


def choose_counties(counties_xy: pd.DataFrame, disk_r: float,
                    min_overlap_km2: float) -> pd.DataFrame:
    """Counties (local-metre geometries) overlapping the disk of radius ``disk_r`` by at
    least ``min_overlap_km2``, with ``overlap_km2``; sorted by unit_id."""
    disk = shapely.Point(0.0, 0.0).buffer(disk_r, 128)
    geoms = counties_xy["geometry"].to_numpy()
    near = shapely.intersects(geoms, disk)
    overlap = np.zeros(len(geoms))
    overlap[near] = shapely.area(shapely.intersection(geoms[near], disk)) / 1e6
    out = counties_xy.assign(overlap_km2=overlap)
    return out[out["overlap_km2"] >= min_overlap_km2].sort_values("unit_id").reset_index(
        drop=True)


def towns(units: pd.DataFrame, inner_r: float, disk_r: float) -> pd.DataFrame:
    """One town per county (local-metre ``units``) whose part of the periphery (the disk
    of radius ``disk_r`` less ``EDGE_MARGIN_M``, outside ``inner_r``) is at least
    TOWN_MIN_KM2: ``unit_id``, ``x``, ``y`` (the pole of inaccessibility of the largest
    piece of that part, so the town sits inside it), ``geometry`` (the town disk of
    TOWN_R_M within the county's part of the periphery). No random draw."""
    from shapely.ops import polylabel

    ring = shapely.Point(0.0, 0.0).buffer(disk_r - EDGE_MARGIN_M, 128).difference(
        shapely.Point(0.0, 0.0).buffer(inner_r, 128))
    rows = []
    for uid, geom in zip(units["unit_id"], units["geometry"], strict=True):
        part = shapely.intersection(geom, ring)
        if part.is_empty or part.area < TOWN_MIN_KM2 * 1e6:
            continue
        piece = max(shapely.get_parts(part), key=lambda g: g.area)
        c = polylabel(piece, tolerance=50.0)
        rows.append({"unit_id": uid, "x": c.x, "y": c.y,
                     "geometry": shapely.intersection(c.buffer(TOWN_R_M, 64), part)})
    return pd.DataFrame(rows, columns=["unit_id", "x", "y", "geometry"])


def town_network(seed: int, town: pd.DataFrame, first_site_idx: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sites and cells of the towns (:func:`towns`) from their own random stream
    (``[seed, TOWN_STREAM]``): a TOWN_SITE_SPACING_M hexagonal grid within TOWN_R_M of each
    town centre (jitter 80 m), three sectors each, radius 300-800 m, valid for the whole
    period; ``site_idx`` from ``first_site_idx``, ``ring`` "town". The rural sites under a
    town stay (a macro site among the town's: its reach follows the local spacing)."""
    from mobsig.synth.city import _hex_grid

    rng = np.random.default_rng([seed, TOWN_STREAM])
    pts = [_hex_grid(rng, 0.0, TOWN_R_M, TOWN_SITE_SPACING_M, 80.0) + [x, y]
           for x, y in zip(town["x"], town["y"], strict=True)]
    xy = np.vstack(pts) if pts else np.empty((0, 2))
    sites = pd.DataFrame({"site_idx": first_site_idx + np.arange(len(xy)), "x": xy[:, 0],
                          "y": xy[:, 1], "ring": "town"})
    rows = []
    for j, s in enumerate(sites.itertuples(index=False)):
        rot = rng.uniform(0, 120)
        tech = "5g" if rng.random() < 0.3 else "4g"
        for k in range(3):
            rows.append({"cell_id": f"460-00-{TOWN_SITE_ID + j}-{k + 1}",
                         "site_idx": int(s.site_idx), "x": s.x, "y": s.y,
                         "azimuth": round((rot + k * 120) % 360, 1),
                         "radius_m": round(float(rng.uniform(300, 800)), 1), "tech": tech})
    cells = pd.DataFrame(rows, columns=["cell_id", "site_idx", "x", "y", "azimuth",
                                        "radius_m", "tech"])
    cells["valid_from"] = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[ns]")
    cells["valid_to"] = cells["valid_from"]
    u = rng.random(len(cells))
    cells["coord_sys"] = np.where(u < 0.75, "wgs84", np.where(u < 0.95, "gcj02", "bd09"))
    return sites, cells


def home_points(rng: np.random.Generator, n: int, units: pd.DataFrame, weights: np.ndarray,
                disk_r: float, settled: shapely.Geometry | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` home points (local metres) and the county index of each: counts per county by
    largest-remainder apportionment of ``weights`` (official population), persons
    assigned at random, points uniform in the county's part of the disk; with
    ``settled`` (the inner disk and the towns, see :func:`towns`) uniform in the county's
    settled part, where it has one."""
    w = np.asarray(weights, float) / float(np.sum(weights))
    counts = np.floor(n * w).astype(int)
    rest = n - counts.sum()
    if rest:
        counts[np.argsort(-(n * w - counts), kind="stable")[:rest]] += 1
    which = rng.permutation(np.repeat(np.arange(len(w)), counts))
    disk = shapely.Point(0.0, 0.0).buffer(disk_r - EDGE_MARGIN_M, 128)
    pts = np.empty((n, 2))
    for i, geom in enumerate(units["geometry"].to_numpy()):
        idx = np.flatnonzero(which == i)
        if not len(idx):
            continue
        area = shapely.intersection(geom, disk)
        if settled is not None:
            lived = shapely.intersection(area, settled)
            if not lived.is_empty and lived.area > 0:
                area = lived
        if area.is_empty or area.area <= 0:  # sampling points would never end
            raise InputError(f"county {units['unit_id'].iloc[i]} has no area inside the "
                             f"city's home disk (radius {disk_r - EDGE_MARGIN_M:.0f} m); raise "
                             "synth.real_min_overlap_km2")
        x0, y0, x1, y1 = area.bounds
        got: list[np.ndarray] = []
        need = len(idx)
        while need > 0:
            cand = rng.uniform((x0, y0), (x1, y1), (max(4 * need, 16), 2))
            inside = cand[shapely.contains_xy(area, cand[:, 0], cand[:, 1])][:need]
            got.append(inside)
            need -= len(inside)
        pts[idx] = np.vstack(got)
    return pts, which


def factor_bounds(truth: pd.DataFrame) -> dict[str, float]:
    """Expansion gate bounds around the true factors (official / sample residents)."""
    ok = truth[truth["sample_residents"] > 0]
    f = ok["resident_population"] / ok["sample_residents"]
    if f.empty:
        raise InputError("real-county city: no county has a sample resident; raise "
                         "synth.people")
    return {"factor_min": float(f.min() / FACTOR_MARGIN),
            "factor_max": float(f.max() * FACTOR_MARGIN)}
