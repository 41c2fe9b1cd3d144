"""Typed configuration: YAML file + command-line overrides -> frozen, validated `Config`.

Every parameter of ``docs/domain.md`` lives here with its default and a one-line doc
(``mobsig config --explain`` prints them all). Tags in the docs: [S] seen in a public
source, [P] common practice in open-source peers, [I] a reasoned default.

Loading never touches Spark. Errors name the key, the bad value and what is allowed::

    cfg = load_config("city.yaml", overrides=["stays.tau_min=45", "run.region_level=city"])

Relative paths in a config file are resolved against the file's folder (against the
working directory when there is no file).

Each parameter sits in the section of the stage that reads it; a key that moved is
refused with a message naming its new place (:data:`MOVED_KEYS`). The declaration and
coercion machinery (``param``, ``build_section``, ...) is :mod:`mobsig.params`. The
``synth`` section (test data, :mod:`mobsig.synth.config`) is read from the same file but
is not part of :meth:`Config.digest`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mobsig.errors import ConfigError
from mobsig.params import (
    build_section,
    explain_section,
    param,
    parse_override,
    section_dict,
)

if TYPE_CHECKING:
    from mobsig.synth.config import SynthConfig

# --------------------------------------------------------------------------------------
# sections

# a unit layer's name (a level of the units table), as a command line or config gives it
LEVEL_NAME = re.compile(r"[^\W\d][\w-]*")


@dataclass(frozen=True)
class RunConfig:
    timezone: str = param("Asia/Shanghai", "Time zone of event_time and of day boundaries.")
    region_level: str = param(
        "county", "Admin level of the `region` partition of event tables.",
        choices=("county", "city", "province"))
    bbox_lon_min: float = param(73.0, "National bounding box: west edge (deg).", ge=-180, le=180)
    bbox_lon_max: float = param(136.0, "National bounding box: east edge (deg).", ge=-180, le=180)
    bbox_lat_min: float = param(3.0, "National bounding box: south edge (deg).", ge=-90, le=90)
    bbox_lat_max: float = param(54.0, "National bounding box: north edge (deg).", ge=-90, le=90)
    metric_crs: str = param(
        "+proj=lcc +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +ellps=GRS80 "
        "+units=m +no_defs",
        "Projected CRS for metric work (cell x/y, stay radii, distances): one plane for the "
        "whole country so users crossing zones stay comparable; default a China-wide "
        "Lambert conformal conic on the CGCS2000 ellipsoid (scale error < 3 % inside "
        "China); any CRS pyproj knows, e.g. a Gauss-Kruger zone (EPSG:4527) for one city.")
    window_days: int = param(
        0, "Days of data a monthly run stands for: 0 = the calendar month (thresholds as "
        "set); N (2..31) = a short window, e.g. 2 for a two-day delivery: every day-count "
        "threshold of the monthly jobs (WINDOW_SCALED: residents' days, short-term days, "
        "home nights, work days, static-location days, multi-card days; their values are "
        "for a 30-day month) is scaled by N/30 and rounded up (multi-card days at least 2, "
        "static-location days at least 3, short-term days below resident days). Also "
        "`--window-days N` on monthly jobs. The scaled values are logged and kept as a "
        "fact of each run.", ge=0, le=31)

    def bbox_params(self) -> dict[str, float]:
        """The national bounding box as expectation parameters."""
        return {"lon_min": self.bbox_lon_min, "lon_max": self.bbox_lon_max,
                "lat_min": self.bbox_lat_min, "lat_max": self.bbox_lat_max}

    def check(self) -> None:
        if self.bbox_lon_min >= self.bbox_lon_max or self.bbox_lat_min >= self.bbox_lat_max:
            raise ConfigError("run.bbox_*: the bounding box is empty (min must be < max)")
        if self.window_days == 1:
            raise ConfigError("run.window_days: 1 day cannot tell residents from visitors; "
                              "use 0 (the calendar month) or 2..31")
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(self.timezone)
        except Exception as exc:  # noqa: BLE001 - any failure means an unknown zone
            raise ConfigError(
                f"run.timezone: unknown time zone {self.timezone!r}; "
                "use an IANA name such as 'Asia/Shanghai'") from exc
        try:
            from pyproj import CRS

            crs = CRS.from_user_input(self.metric_crs)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable CRS
            raise ConfigError(
                f"run.metric_crs: pyproj does not know {self.metric_crs!r}; give an EPSG code "
                "or a PROJ string of a projected CRS in metres") from exc
        if not crs.is_projected:
            raise ConfigError(
                f"run.metric_crs: {self.metric_crs!r} is not a projected CRS (metres needed)")


@dataclass(frozen=True)
class UnitLayer:
    """One spatial-unit layer of ``paths.units`` given as a mapping (a plain path string
    means the contract's own attribute names and the file's CRS)::

        units:
          - units/townships.gpkg                       # unit_id, unit_name, level, CRS in file
          - path: ../shared/data/census2020/counties-geo.topojson
            layer: county                              # TopoJSON object / GeoPackage table
            id_field: CODE
            name_field: NAME
            level: county                              # every feature of the layer
            crs: "+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +datum=WGS84"
            unit_ids: ["510104", "510105"]             # keep only these units
    """

    path: str
    id_field: str = "unit_id"   # attribute holding the unit id
    name_field: str = "unit_name"  # attribute holding the name (absent = empty names)
    level: str = ""  # level of every feature; empty = the layer's `level` attribute
    crs: str = ""  # CRS of the coordinates (any pyproj input); empty = the file's own
    layer: str = ""  # TopoJSON object or GeoPackage table; empty = the only one
    unit_ids: tuple[str, ...] = ()  # keep only these unit ids; empty = every feature
    charset: str = ""  # Shapefile .dbf text encoding when there is no .cpg (e.g. GBK)

    KEYS = ("path", "id_field", "name_field", "level", "crs", "layer", "unit_ids", "charset")

    @classmethod
    def parse(cls, key: str, value: Any) -> str | UnitLayer:
        """A plain path string stays a string; a mapping becomes a validated UnitLayer."""
        if isinstance(value, str):
            return value
        if isinstance(value, UnitLayer):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a path or a mapping {{path, id_field, "
                              f"name_field, level, crs, ...}}, got {value!r}")
        unknown = sorted(set(value) - set(cls.KEYS))
        if unknown:
            raise ConfigError(f"{key}: unknown key {unknown[0]!r}; allowed keys: "
                              + ", ".join(cls.KEYS))
        if not str(value.get("path") or "").strip():
            raise ConfigError(f"{key}: a layer mapping needs `path`")
        kwargs: dict[str, Any] = {}
        for k, v in value.items():
            if k == "unit_ids":
                if isinstance(v, str):
                    v = [s for s in (x.strip() for x in v.split(",")) if s]
                if not isinstance(v, (list, tuple)):
                    raise ConfigError(f"{key}.unit_ids: expected a list, got {v!r}")
                kwargs[k] = tuple(str(x) for x in v)
            elif isinstance(v, (dict, list)):
                raise ConfigError(f"{key}.{k}: expected a string, got {v!r}")
            else:
                kwargs[k] = "" if v is None else str(v)
        for k in ("id_field", "name_field"):
            if k in kwargs and not kwargs[k].strip():
                raise ConfigError(f"{key}.{k}: must not be empty")
        if kwargs.get("crs"):
            try:
                from pyproj import CRS

                CRS.from_user_input(kwargs["crs"])
            except Exception as exc:  # noqa: BLE001 - any failure means an unknown CRS
                raise ConfigError(f"{key}.crs: pyproj does not know {kwargs['crs']!r}; give "
                                  "an EPSG code, WKT or a PROJ string") from exc
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The non-default keys (what a config file would hold)."""
        out: dict[str, Any] = {"path": self.path}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name != "path" and v != f.default:
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


def layer_path(entry: str | UnitLayer) -> str:
    """The path of a ``paths.units`` entry (plain path or mapping)."""
    return entry.path if isinstance(entry, UnitLayer) else entry


@dataclass(frozen=True)
class PathsConfig:
    warehouse: str = param("warehouse", "Root folder of the Delta tables (created if missing).")
    raw_events: str = param(
        "raw/events", "Root of raw signaling input: one folder per day, `dt=YYYY-MM-DD`.")
    cells: str = param("raw/cells", "Cell table 工参 (CSV or Parquet file or folder).")
    units: tuple[str | UnitLayer, ...] = param(
        [], "Spatial-unit and zone layers (GeoJSON, TopoJSON, Shapefile, GeoPackage, "
        "GeoParquet; any CRS pyproj knows): each a path, or a mapping {path, id_field, "
        "name_field, level, crs, layer, unit_ids, charset} for layers whose attribute names "
        "or CRS differ from the contract (see UnitLayer).")
    reference_population: str = param(
        "", "CSV of official resident population per county (`unit_id`, `population`).")
    reference_ages: str = param(
        "", "Optional CSV of age shares per county for raking (expansion.rake_ages), in the "
        "form of the 2020 census ages.csv: id column expansion.ages_id_field, a share column "
        "AGES_<band> per band of expansion.age_bands (UTF-8, BOM allowed).")
    subscribers: str = param(
        "", "Optional real-name registration 实名制 per card (CSV, UTF-8 with or without BOM, "
        "or Parquet): `user_id` (the events' pseudonymised id), `birth_year` (int), optional "
        "`sex`; needed by expansion.rake_ages. A card without a row or year has an unknown "
        "age band.")
    holidays: str = param(
        "", "Holiday calendar YAML (public holidays, make-up workdays); empty = built-in.")
    tac_types: str = param(
        "", "Optional CSV mapping IMEI TAC (8 digits) to device type, to spot IoT/M2M cards.")
    residential_land: str = param(
        "", "Optional polygon layer of residential land (an extract of the land-use survey "
        "三调: 城镇住宅用地 0701, 农村宅基地 0702; any format and CRS of the unit layers, "
        "attribute unit_id; every feature is residential land): home_work places homes "
        "among km-spaced sites on it (home_work.settlement_min_spacing_m); not a reporting "
        "unit, nothing is published per polygon. Empty = homes where their stays put them.")
    quality_results: str = param(
        "", "Folder for kept validation results; empty = `<warehouse>/_quality`.")

    def check(self) -> None:
        if any(not layer_path(u).strip() for u in self.units):
            raise ConfigError("paths.units: an entry has an empty path")


JVM_SIZE = re.compile(r"[0-9]+[kmgtKMGT]?[bB]?")


@dataclass(frozen=True)
class SparkConfig:
    profile: str = param(
        "local", "Session profile: local[N] here, or a cluster whose master, resources and "
        "jars come from spark-submit.", choices=("local", "yarn", "k8s", "standalone"))
    master: str = param("", "Override of the master URL (empty = the profile's default).")
    local_cores: int = param(2, "Cores used by the `local` profile (local[N]).", ge=1)
    driver_memory: str = param(
        "4g", "Driver memory (the local profile runs everything here): a JVM size such as "
        "512m, 4g or 1t.")
    shuffle_partitions: int = param(
        4, "spark.sql.shuffle.partitions (local default small; raise on clusters).", ge=1)
    jars_dir: str = param(
        "", "Folder of the fetched JVM jars; empty = deploy/jars in the checkout or $MOBSIG_JARS.")
    conf: dict[str, str] = param({}, "Extra Spark settings, e.g. {spark.executor.memory: 8g}.")

    def check(self) -> None:
        bad = [k for k in self.conf if not k.startswith("spark.")]
        if bad:
            raise ConfigError(f"spark.conf: keys must start with 'spark.', got {bad}")
        if not JVM_SIZE.fullmatch(self.driver_memory):
            raise ConfigError(f"spark.driver_memory {self.driver_memory!r} is not a JVM size "
                              "(a number with k, m, g or t, e.g. 4g)")
        sizes = [k for k in ("spark.driver.memory", "spark.executor.memory")
                 if k in self.conf and not JVM_SIZE.fullmatch(str(self.conf[k]))]
        if sizes:
            raise ConfigError(f"spark.conf: {sizes[0]} {self.conf[sizes[0]]!r} is not a JVM "
                              "size (e.g. 8g)")


@dataclass(frozen=True)
class IngestConfig:
    input_format: str = param(
        "auto", "Raw file format; auto detects by extension.",
        choices=("auto", "parquet", "csv", "tsv"))
    csv_header: str = param(
        "auto", "Whether delimited files have a header row.", choices=("auto", "true", "false"))
    user_id_min_len: int = param(16, "Shortest accepted pseudonymised user id.", ge=1)
    user_id_max_len: int = param(64, "Longest accepted pseudonymised user id.", ge=1)
    user_id_pattern: str = param(
        r"[A-Za-z0-9._~+/=-]+", "Characters of an accepted user id (a regular expression the "
        "whole id must match; default: hex, base64 and base64url pseudonyms). Other ids "
        "are quarantined as bad_user_id_chars (spaces, NUL or control bytes, a `:` prefix).")
    max_field_len: int = param(
        128, "Longest accepted cell_id, event_type, imei_tac or home_region (characters); a "
        "longer field quarantines the row as oversized_field.", ge=1, le=65536)
    max_line_len: int = param(
        4096, "Longest accepted raw row (characters of the line, or of the Parquet row as "
        "JSON); longer rows are quarantined as oversized_row and only their first "
        "max_line_len characters are kept.", ge=64, le=1024 * 1024)
    on_corrupt_file: str = param(
        "fail", "A raw file that cannot be read to its end (truncated or corrupt gzip, "
        "unreadable Parquet data): fail the day naming it (exit 4), or quarantine it and "
        "go on: the day is ingested without that file, which becomes one events_quarantine "
        "row (reason corrupt_file, the file and the error in raw_text; its rows are not "
        "read, so not counted) and the run's fact corrupt_files names it.",
        choices=("fail", "quarantine"))
    max_quarantine_share: float = param(
        0.05, "Gate: quarantined share of a day's rows above this fails the run.", ge=0, le=1)
    min_known_cell_share: float = param(
        0.95, "Gate: known / (known + unknown_cell) among rows that reached the cell lookup; "
        "below this fails.", ge=0, le=1)
    volume_trailing_days: int = param(
        7, "Volume gate: a day's rows read are compared with the median of the latest "
        "recorded runs of this many days before it (same region set); 0 = no volume "
        "gate.", ge=0, le=60)
    volume_min_days: int = param(
        5, "Volume gate: trailing days with a recorded run needed to judge a day (the "
        "first days of a warehouse are not judged; the run says so). 5 keeps the median "
        "clear of a two-day anomaly among them (a test card's burst, a file delivered "
        "twice).", ge=1, le=60)
    min_volume_ratio: float = param(
        0.5, "Volume gate: rows read / trailing median below this fails the run (a partial "
        "delivery); re-run with ingest.min_volume_ratio=0 to accept a known low day.",
        ge=0, le=1)
    warn_volume_ratio: float = param(
        0.8, "Volume gate: a ratio below this (but >= min_volume_ratio) is a warning.",
        ge=0, le=1)
    max_volume_ratio: float = param(
        3.0, "Volume gate: a ratio above this is a warning (a file delivered twice, a "
        "wrong folder).", ge=1)
    headerless_columns: tuple[str, ...] = param(
        ["user_id", "event_time", "cell_id", "event_type", "imei_tac", "home_region"],
        "Column order of delimited files without a header row; a line with another number "
        "of fields is quarantined as malformed_row.")
    sniff_threads: int = param(
        16, "Driver threads that read the day's file heads and Parquet footers at once "
        "before Spark reads the rows (one open per file; more threads hide object-store "
        "latency).", ge=1, le=256)
    sniff_head_bytes: int = param(
        65536, "Bytes read from the start of each text file to find its format, gzip magic "
        "and first line; a longer first line is read on, for that file only.",
        ge=64, le=16 * 1024 * 1024)

    def check(self) -> None:
        required = {"user_id", "event_time", "cell_id"}
        if not required <= set(self.headerless_columns):
            raise ConfigError(
                f"ingest.headerless_columns {list(self.headerless_columns)} must name "
                f"{sorted(required)}")
        if len(set(self.headerless_columns)) != len(self.headerless_columns):
            raise ConfigError("ingest.headerless_columns: a column is named twice")
        if self.user_id_min_len > self.user_id_max_len:
            raise ConfigError(
                f"ingest.user_id_min_len ({self.user_id_min_len}) must be <= "
                f"ingest.user_id_max_len ({self.user_id_max_len})")
        try:
            re.compile(self.user_id_pattern)
        except re.error as exc:
            raise ConfigError(f"ingest.user_id_pattern {self.user_id_pattern!r}: not a "
                              f"regular expression ({exc})") from None
        if self.min_volume_ratio > self.warn_volume_ratio:
            raise ConfigError(
                f"ingest.min_volume_ratio ({self.min_volume_ratio}) must be <= "
                f"ingest.warn_volume_ratio ({self.warn_volume_ratio})")
        if self.volume_min_days > max(self.volume_trailing_days, 1):
            raise ConfigError(
                f"ingest.volume_min_days ({self.volume_min_days}) must be <= "
                f"ingest.volume_trailing_days ({self.volume_trailing_days})")


@dataclass(frozen=True)
class CellsConfig:
    default_radius_m: float = param(
        800.0, "Coverage radius when the cell table gives none.", gt=0, le=50_000)
    sector_width_deg: float = param(
        120.0, "Angular width of a sector's coverage polygon.", gt=0, le=360)
    arc_step_deg: float = param(
        5.0, "Largest angle between consecutive arc vertices of a coverage polygon.",
        ge=0.5, le=45)
    spacing_neighbours: int = param(
        6, "Local site spacing = median distance to this many nearest other sites [I].",
        ge=1, le=50)
    site_merge_m: float = param(
        5.0, "Antennas closer than this are one site (co-located sectors) for spacing.",
        ge=0, le=500)
    service_reach_factor: float = param(
        0.55, "Service point 服务区质心 of a sector: the sector reaches this x the local site "
        "spacing (about half-way to the neighbours: the site's Voronoi cell), capped at "
        "radius_m; the service point is the centroid of that wedge (0.3 x spacing for 120 "
        "degree sectors). Stays and homes use it; 0 = the antenna position [I].",
        ge=0, le=2)
    on_invalid: str = param(
        "fail", "Invalid cell rows (bad number, unknown coord_sys, ...): fail naming them, "
        "or skip them (counted; their events become unknown_cell).", choices=("fail", "skip"))
    outside_units: str = param(
        "unknown", "Cells outside every county: region 'unknown' (admin_code null), or fail.",
        choices=("unknown", "fail"))


@dataclass(frozen=True)
class CleanConfig:
    pingpong_window_s: int = param(
        180, "Ping-pong 乒乓切换: A->B->A within this window is one location [I].", gt=0)
    drift_vmax_kmh: float = param(
        120.0, "Drift 漂移: implied speed to both neighbours above this removes a record [I].",
        gt=0)
    drift_vmax_hsr_kmh: float = param(
        350.0, "Drift speed limit for cells along high-speed rail [I].", gt=0)
    heavy_user_events_per_day: int = param(
        20000, "Cards above this many events a day are set aside before per-user work [I].",
        gt=0)
    pingpong_max_records: int = param(
        5, "Ping-pong: most records in one excursion A->B..->A (a short burst at B) [I].",
        ge=1, le=50)
    pingpong_max_dist_m: float = param(
        3000.0, "Ping-pong: excursion records must be this close to A (neighbouring cells; "
        "farther jumps are left to the drift rule) [I].", gt=0)
    pingpong_event_types: tuple[str, ...] = param(
        ["handover"], "Ping-pong: an excursion needs at least one record of these event "
        "types (or without a type); empty = any record [I].")
    drift_min_dist_m: float = param(
        2000.0, "Drift: both jumps must also be longer than this, so neighbouring cells "
        "seconds apart are not drift [I].", ge=0)
    max_removed_share: float = param(
        0.25, "Gate: share of a day's bronze rows removed (duplicates, ping-pong, drift, "
        "unlocated) above this fails the run [I].", gt=0, le=1)

    def check(self) -> None:
        if self.drift_vmax_hsr_kmh < self.drift_vmax_kmh:
            raise ConfigError("clean.drift_vmax_hsr_kmh must be >= clean.drift_vmax_kmh")


@dataclass(frozen=True)
class FlagsConfig:
    iot_device_types: tuple[str, ...] = param(
        ["iot", "m2m", "module", "data_only"],
        "Device types (from the TAC table) that mark a card as non-human.")
    observed_gap_cap_h: float = param(
        2.0, "flag_users: a card's observed hours (user_flags.observed_h) sum the gaps "
        "between its consecutive events of the month up to this long: the time it was seen "
        "in the area, at a stay or not. home_work's transit rule (population.transit_max_h) "
        "takes the larger of it and the stays' hours: a day visitor whose short visits make "
        "no stay is in the area for hours, a card passing through twice a day is not [I].",
        gt=0, le=24)
    static_max_radius_m: float = param(
        300.0, "Non-human: all events within this radius the whole period = one location [I].",
        gt=0)
    static_min_days: int = param(7, "Non-human: days observed for the one-location rule.", ge=1)
    static_max_hour_cv: float = param(
        0.3, "Non-human: the one-location rule needs no human day pattern: the card's "
        "events per hour of day vary less than this (coefficient of variation over the 24 "
        "hours; a meter ~0, a person ~0.5 and more) [I].", ge=0)
    regular_cadence_cv_max: float = param(
        0.05, "Non-human: robust coefficient of variation of inter-event times, "
        "IQR / (1.349 x median), below this = machine cadence [I].", ge=0)
    regular_cadence_min_events: int = param(
        100, "Non-human: events needed before the cadence rule applies.", ge=3)
    max_events_per_day: int = param(
        5000, "Non-human: a day with more events than a handset makes [I].", gt=0)
    multicard_distance_m: float = param(
        500.0, "一人多卡: cards within this distance in a shared hourly slot coincide; the "
        "floor of the density-adaptive coincidence distance [I].", gt=0)
    multicard_spacing_factor: float = param(
        2.0, "一人多卡: where cells are sparse, coincidence distance = this x the local site "
        "spacing (two cards of one person are often served by neighbouring sites); 0 = "
        "fixed multicard_distance_m. A co-movement move must also be longer than this x "
        "the site spacing (flips between neighbouring masts are no move) [I].", ge=0)
    multicard_max_distance_m: float = param(
        3000.0, "一人多卡: cap of the density-adaptive coincidence distance [I].", gt=0)
    multicard_min_share: float = param(
        0.7, "一人多卡: share of shared hourly slots that must coincide, for pairs judged on "
        "movement too (domain: 0.8; 0.7 with the co-movement test keeps precision and "
        "recall >= 0.9 on the synthetic city, where one person's two cards served by "
        "different periphery sites coincide in 72-99 % of hours) [I].", gt=0, le=1)
    multicard_static_min_share: float = param(
        0.9, "一人多卡: the co-location share needed when the sparser card has too few "
        "moves to test co-movement (< multicard_min_moves) [I].", gt=0, le=1)
    multicard_partner_ratio: float = param(
        0.75, "一人多卡: an accepted pair is used for grouping only when its score "
        "(co-location share x co-movement share) is >= this x the best pair score of each "
        "of its cards, so neighbours who both carry two cards are not merged into one "
        "group of four; 0 = every accepted pair [I].", ge=0, le=1)
    multicard_contained_ratio: float = param(
        0.9, "一人多卡 containment: a pair whose sparser card has too few moves to test "
        "co-movement (a tablet left at home, a work phone left at work) is scored by "
        "co-location share x cover (share of that card's hourly slots in which the other "
        "card is at the same place) x presence (share of the other card's hours at that "
        "card's place in which it is on too) and used for grouping only when its score is >= this "
        "x the best such score of each of its cards: the holder must dominate the "
        "neighbours and colleagues, or the cards are left ambiguous [I].", ge=0, le=1)
    multicard_transit_factor: float = param(
        2.0, "一人多卡: an hourly slot whose multicard_move_slot_min positions spread over "
        "more than this x its coincidence distance is a card in transit and is left out of "
        "the co-location test (its mean is a point on the road: a work phone seen once at "
        "work in the hour its holder arrives contradicted the holder); 0 = every hour "
        "[I].", ge=0)
    multicard_contained_min_co_move_share: float = param(
        0.3, "一人多卡 containment: a pair judged without movement whose sparser card still "
        "has >= 2 moves needs >= this share of them overlapping a move of the other card "
        "(region profile: one person's cards 0.5-1.0; neighbours who both stay in and go "
        "out on their own mostly 0); 0 = not tested [I].", ge=0, le=1)
    multicard_min_cell_overlap: float = param(
        0.35, "一人多卡: an accepted pair must also be served by alike cells: of each card's "
        "events in the hours both are seen, the share per serving cell (sector), summed "
        "over cells as the smaller of the two shares, >= this (perfect cleaning: one "
        "person's cards 0.37-0.94 on the region profile, 0.70-0.89 on the CI city; other "
        "accepted pairs median 0.03, 75th percentile 0.13); 0 = not tested [I].",
        ge=0, le=1)
    multicard_move_slot_min: int = param(
        15, "一人多卡 co-movement: time slot (minutes) for a card's positions; a move is a "
        "step between consecutive observed slots [I].", ge=1, le=60)
    multicard_move_min_m: float = param(
        2000.0, "一人多卡 co-movement: a run of travelling steps whose net displacement is "
        "longer than this is a move (above the neighbour-site flips of the sparse "
        "periphery) [I].", gt=0)
    multicard_move_max_gap_min: int = param(
        120, "一人多卡 co-movement: a step over a longer gap between slots is not timed well "
        "enough to be a move [I].", ge=1)
    multicard_min_moves: int = param(
        5, "一人多卡 co-movement: moves the sparser card needs before co-movement is "
        "tested [I].", ge=1)
    multicard_min_co_move_share: float = param(
        0.6, "一人多卡 co-movement: share of the sparser card's moves that must overlap a "
        "move of the other card (synthetic city: true pairs >= 0.63, neighbours <= 0.48) "
        "[I].", ge=0, le=1)
    multicard_min_score: float = param(
        0.75, "一人多卡 co-movement: a pair judged on movement also needs co-location share x "
        "co-movement share >= this (one person's cards 0.83-0.98 on the CI city and the "
        "region profile; neighbours living and working side by side up to 0.76 on the "
        "region) [I].", ge=0, le=1)
    multicard_min_days: int = param(
        7, "一人多卡: days with coinciding hourly slots needed [I].", ge=1)
    max_non_human_share: float = param(
        0.5, "Gate: share of a month's cards flagged non-human above this fails the run "
        "(IoT SIMs can be many; a higher share means a broken rule or input) [I].",
        gt=0, le=1)
    max_group_size: int = param(
        4, "一人多卡: the largest group; linked cards that are more than this (a crowd: a "
        "dormitory, a shuttle) are ambiguous and not grouped, as are linked cards not all "
        "paired with each other (a chain). Gate: a written group with more cards fails "
        "the run.", ge=2)
    multicard_resolve_min_days: int = param(
        7, "一人多卡: an ambiguous component (a chain of look-alikes, a tablet with its "
        "holder and neighbours) is resolved best pair first (complete linkage: "
        "a pair joins two sets only when every two of their cards are an accepted pair, "
        "up to max_group_size) using only pairs coinciding on >= this many days; the rest "
        "stays ambiguous. Not scaled to a shorter window: a best guess between "
        "look-alikes needs a week of evidence (two days of dorm-mates and street "
        "neighbours stay ungrouped); 0 = never resolve [I].", ge=0)
    multicard_resolve_max_cards: int = param(
        8, "一人多卡: an ambiguous component of more cards than this is never resolved "
        "[I].", ge=2)
    multicard_resolve_max_density: float = param(
        0.7, "一人多卡: an ambiguous component in which more than this share of its card "
        "pairs are accepted pairs is a crowd (room-mates, a shuttle: all paired with each "
        "other) and is never resolved; a tablet's holder and neighbours are paired with "
        "the tablet only (both regions' resolved components: <= 2/3) [I].", gt=0, le=1)

    def check(self) -> None:
        if self.multicard_max_distance_m < self.multicard_distance_m:
            raise ConfigError(
                f"flags.multicard_max_distance_m ({self.multicard_max_distance_m}) must be >= "
                f"flags.multicard_distance_m ({self.multicard_distance_m})")


@dataclass(frozen=True)
class StaysConfig:
    tau_min: float = param(30.0, "Stay 停留: minimum duration τ in minutes [P].", gt=0)
    gap_cap_h: float = param(
        2.0, "A gap up to this with the same location on both sides continues a stay [P].",
        gt=0, le=24)
    radius_dense_m: float = param(
        500.0, "Stay radius where cells are dense (density-adaptive lower bound) [P].", gt=0)
    radius_sparse_m: float = param(
        1000.0, "Stay radius where cells are sparse (density-adaptive upper bound) [P].", gt=0)
    radius_spacing_factor: float = param(
        0.75, "Adaptive radius = factor x local cell spacing, clipped to [dense, sparse]: "
        "under 1 so that where sites are ~1 km apart the neighbouring mast is outside the "
        "radius and a visit served by it is a stay of its own (1.5 took it in: issue 18); "
        "brief records at a neighbouring site are excursions (excursion_max_dist_m) [I].",
        gt=0)
    excursion_max_dist_m: float = param(
        3000.0, "A lone record, or a run of records at one site spanning less than tau, "
        "farther than the stay radius but at most this far from the place of the records on "
        "both sides (within the gap cap) is an excursion and does not end a stay (an idle "
        "phone between masts, records flipping A A B B A A); 0: off [I].", ge=0)
    h3_resolution: int = param(9, "H3 resolution of stay and grid outputs.", ge=0, le=15)
    move_max_gap_h: float = param(
        24.0, "Move 移动: consecutive stays further apart in time than this form no move; "
        "a user's last stay is carried across days only this long [I].", gt=0, le=24 * 31)
    max_open_h: float = param(
        336.0, "A stay still open at midnight is carried to the next day (stays_carry) only "
        "while it started at most this many hours before that midnight; an older one is "
        "closed as a stay ending at its last record (a card at one place for weeks: a "
        "machine or a stored phone), so the carry of a card holds at most this long a run "
        "[I].", gt=0, le=24 * 62)

    def check(self) -> None:
        if self.max_open_h * 60.0 < self.tau_min + self.gap_cap_h * 60.0:
            raise ConfigError(
                f"stays.max_open_h ({self.max_open_h}) must be at least stays.tau_min + "
                f"stays.gap_cap_h ({self.tau_min} min + {self.gap_cap_h} h)")
        if self.radius_dense_m > self.radius_sparse_m:
            raise ConfigError(
                f"stays.radius_dense_m ({self.radius_dense_m}) must be <= "
                f"stays.radius_sparse_m ({self.radius_sparse_m})")


@dataclass(frozen=True)
class HomeWorkConfig:
    night_start_h: int = param(21, "Home 居住地: night window start hour [I].", ge=0, le=23)
    night_end_h: int = param(7, "Home: night window end hour (next morning) [I].", ge=0, le=23)
    home_min_night_share: float = param(
        0.5, "Home: share of observed nights at the home location [I].", gt=0, le=1)
    home_min_nights: int = param(10, "Home: nights at the home location in the month [I].", ge=1)
    work_start_h: int = param(9, "Work 就业地: weekday daytime window start hour [P].", ge=0, le=23)
    work_end_h: int = param(17, "Work: weekday daytime window end hour [P].", ge=1, le=24)
    work_min_avg_h: float = param(
        3.0, "Work: average daytime hours at the place on the days present [P].", gt=0, le=24)
    work_min_days: int = param(8, "Work: workdays at the place in the month [I].", ge=1)
    work_min_home_dist_m: float = param(500.0, "Work: minimum distance from home [I].", ge=0)
    work_min_home_spacing_factor: float = param(
        0.5, "Work: a work place must also be at least this x its own site spacing (the "
        "largest spacing of the sites serving it) from home: where masts stand km apart a "
        "daytime stay served by the next mast is often the same place as the home, not a "
        "work place 1-2 km away; 0 = work_min_home_dist_m only [I].", ge=0, le=5)
    work_night_min_h: float = param(
        4.0, "Work of shift workers: a workday's night (night_start_h..night_end_h) with >= "
        "this many hours at places away from home (the work rule's distance), followed by "
        ">= work_night_rest_h hours at home in the 6 hours after the night window (a night "
        "shift and the day's sleep at home), counts as a work day at those places alongside "
        "the workday daytime pieces (rotating-shift workers' night weeks; people out in the "
        "evening are home by night or at work next morning); 0 = off [I].", ge=0, le=24)
    work_night_rest_h: float = param(
        3.0, "Work of shift workers: hours at home in the 6 hours after a night window that "
        "make the night away a night shift (see work_night_min_h) [I].", ge=0, le=6)
    weekend_days: tuple[int, ...] = param(
        [5, 6], "Weekday numbers (Mon=0) that are not workdays unless made up.")
    calendar_gap: str = param(
        "fail", "A month outside the holiday calendar's years (paths.holidays or the "
        "built-in one): fail = the run stops before Spark starts, naming the years "
        "covered; warn = it runs with weekends as the only days off (its public holidays "
        "count as workdays) and logs a warning.", choices=("fail", "warn"))
    cluster_h3_resolution: int = param(
        9, "Home/work place clustering: stays are binned to H3 cells of this resolution and "
        "a candidate place is a cell plus its ring (res 9: ~350-500 m across) [I].",
        ge=6, le=11)
    cluster_ring: int = param(
        1, "Home/work place clustering: H3 ring size k around a candidate cell [I].",
        ge=0, le=3)
    min_home_share: float = param(
        0.8, "Gate: share of the month's long-present counted cards (present >= "
        "population.resident_min_days days: resident or unidentified) with an identified "
        "home; below it the run fails (broken stays, missing nights or too strict home "
        "rules would bias every resident count and expansion factor).", ge=0, le=1)
    home_refine_spacing_factor: float = param(
        1.5, "Home location: once the home place is chosen, its position is the "
        "duration-weighted centroid of the night stays within this x the local site "
        "spacing of it (where sites are km apart, one home's nights are served by two or "
        "three neighbouring sites; averaging them locates the home between them); 0 = the "
        "place's own centroid [I].", ge=0, le=5)
    home_refine_min_m: float = param(
        500.0, "Home location: the refinement radius is at least this [I].", ge=0)
    home_voronoi_weight: float = param(
        0.5, "Home location: among the refined home's night stays, where the site with the "
        "most time (A) and the next one (B) are neighbours, the home is moved this share of "
        "the way from the weighted mean towards the centroid of where a handset served by A "
        "first and B next can be: nearer to A than any other site, next nearest B (the "
        "order-2 Voronoi piece), within the wedges of the serving sectors of A and B "
        "(cells.sector_width_deg). The weighted mean of service points stays near the "
        "site that serves most nights (an omni antenna: the mast itself) while the home "
        "lies towards the other; 0 = the weighted mean only [I].", ge=0, le=1)
    home_day_rest_min_ratio: float = param(
        1.25, "Home of night-shift workers (home_rule day_rest): a card whose night home is "
        "identified but whose place with the most stay time over all hours of the month is "
        "another one, >= work_min_home_dist_m from the night place, seen on >= "
        "home_min_nights days and >= home_min_night_share of its days present, with >= "
        "this x the night place's time over all hours, has that rest place as its home "
        "and its night place as its work place (its long regular stays are in the day, "
        "its nights at work). At home 8 h every day and at work 8 h five nights a week "
        "gives 1.4; an ordinary worker's work place holds ~0.5 x the home's time, one "
        "working 14 h days with days off at home ~0.7. 0 = the night rule only [P].",
        ge=0, le=10)
    settlement_min_spacing_m: float = param(
        1500.0, "Home position on residential land: a home whose place's site spacing is at "
        "least this (metres) is moved onto the residential land near it (below). Where "
        "sites are kilometres apart a stay is placed at its sector's service point and the "
        "refined home is still up to a kilometre and more off; the land-use survey (三调: "
        "城镇住宅用地, 农村宅基地; paths.residential_land) says where in the sector people "
        "live. Denser networks place homes within 500 m without it [I].", ge=0)
    settlement_radius_factor: float = param(
        0.3, "Home position on residential land: the home moves to the centroid of the "
        "residential land (paths.residential_land) within this x the site spacing of the "
        "home (the piece nearest to it when the land there is in several); none within: it "
        "stays. "
        "About the distance from a mast to its sectors' service points; 0 = off "
        "(home_position is then stays for every home) [I].", ge=0, le=2)

    def check(self) -> None:
        if self.work_start_h >= self.work_end_h:
            raise ConfigError(
                f"home_work.work_start_h ({self.work_start_h}) must be < "
                f"home_work.work_end_h ({self.work_end_h})")
        if self.night_start_h == self.night_end_h:
            raise ConfigError("home_work.night_start_h and night_end_h must differ")
        bad = [d for d in self.weekend_days if not 0 <= d <= 6]
        if bad:
            raise ConfigError(f"home_work.weekend_days: {bad} not in 0..6 (Mon=0 .. Sun=6)")


@dataclass(frozen=True)
class PopulationConfig:
    resident_min_days: int = param(
        18, "常住人口: days present in the month for a resident [S, Chongqing].", ge=1, le=31)
    short_term_min_days: int = param(
        3, "短期驻留人口: days present for short-term staying population [S].", ge=1, le=31)
    transit_max_h: float = param(
        3.0, "Transit: total time in the area below this (hours) [S, Beijing].", gt=0)
    long_run_months: int = param(
        6, "Statistical residency: months of presence for long-run residents [S].", ge=1)
    grid_h3_resolution: int = param(
        8, "H3 resolution of the grid level of population_by_unit and jobs_housing [I].",
        ge=4, le=12)
    max_level_gap: float = param(
        0.001, "Gate: levels must add up. Largest relative gap between a unit's expanded "
        "count and the sum over its child units (parent_id), per class; above it "
        "population_by_unit (and jobs_housing, for employed residents and jobs) fails "
        "naming the units (a child layer that does not tile its parent). Raise it "
        "knowingly for layers with gaps.", ge=0, le=1)

    def check(self) -> None:
        if self.short_term_min_days >= self.resident_min_days:
            raise ConfigError(
                f"population.short_term_min_days ({self.short_term_min_days}) must be < "
                f"population.resident_min_days ({self.resident_min_days})")


@dataclass(frozen=True)
class JobsHousingConfig:
    balanced_min: float = param(
        0.8, "职住平衡: a unit is balanced when its jobs-housing ratio (jobs / employed "
        "residents) is at least this [I: domain.md gives no band; 0.8-1.2 is the common "
        "planning reading of a balanced ratio].", ge=0)
    balanced_max: float = param(
        1.2, "职住平衡: a unit is balanced when its jobs-housing ratio is at most this [I].",
        gt=0)

    def check(self) -> None:
        if self.balanced_min >= self.balanced_max:
            raise ConfigError(
                f"jobs_housing.balanced_min ({self.balanced_min}) must be < "
                f"jobs_housing.balanced_max ({self.balanced_max})")


@dataclass(frozen=True)
class LandUseConfig:
    layers: tuple[str, ...] = param(
        ["land_parcel"], "土地利用强度: the unit layers (levels of the units table) whose "
        "polygons land_use_intensity measures, e.g. land_parcel; a layer missing from "
        "paths.units is skipped with a warning (the job then writes nothing for it).")
    class_attribute: str = param(
        "land_use", "The polygon attribute holding its land-use class (a key of the units "
        "table's attributes); a polygon without it takes its layer's name as class (a "
        "layer of industrial parks needs no attribute).")
    residential_classes: tuple[str, ...] = param(
        ["residential", "R"], "Land-use classes of residential land 居住用地 (measured: "
        "night residents per hectare) [S: domain.md §D; R = GB 50137 residential].")
    commercial_classes: tuple[str, ...] = param(
        ["commercial", "B"], "Land-use classes of commercial land 商业服务业用地 "
        "(measured: daytime visitors per hectare) [S: domain.md §D; B = GB 50137].")
    industrial_classes: tuple[str, ...] = param(
        ["industrial", "M", "development_zone", "industrial_park", "park"],
        "Land-use classes of development zones and industrial parks 开发区/产业园区 "
        "(measured: employees per hectare) [S: domain.md §D; M = GB 50137 industrial].")
    day_start_hour: float = param(
        9.0, "Daytime visitors: the daytime window starts at this local hour [P: the "
        "work-time window of home_work, 09:00].", ge=0, lt=24)
    day_end_hour: float = param(
        18.0, "Daytime visitors: the daytime window ends at this local hour [I].",
        gt=0, le=24)
    visit_min_min: float = param(
        30.0, "A card is a daytime visitor of a polygon when its stays inside during the "
        "daytime window of one day add up to at least this many minutes and it neither "
        "lives (resident home) nor works there [S: issue #14's 30 min stay].",
        gt=0, le=1440)

    def check(self) -> None:
        if self.day_start_hour >= self.day_end_hour:
            raise ConfigError(
                f"land_use.day_start_hour ({self.day_start_hour}) must be < "
                f"land_use.day_end_hour ({self.day_end_hour})")
        bad = [v for v in self.layers if not LEVEL_NAME.fullmatch(v) or v == "grid"]
        if bad:
            raise ConfigError(f"land_use.layers: {bad[0]!r} is not a unit layer name")
        if not self.class_attribute.strip():
            raise ConfigError("land_use.class_attribute: give an attribute name")
        seen: dict[str, str] = {}
        for key in ("residential_classes", "commercial_classes", "industrial_classes"):
            for v in getattr(self, key):
                if v in seen and seen[v] != key:
                    raise ConfigError(f"land_use.{key}: class {v!r} is also in "
                                      f"land_use.{seen[v]}")
                seen[v] = key


@dataclass(frozen=True)
class ScreenConfig:
    farmland_layers: tuple[str, ...] = param(
        ["farmland"], "永久基本农田: the unit layers (levels of the units table) of permanent "
        "basic farmland that screen_farmland screens; a layer missing from the units table "
        "is skipped with a warning.")
    farmland_min_months: int = param(
        3, "永久基本农田: a farmland polygon is a suspect of non-agricultural occupation when "
        "people live or work inside in at least this many consecutive months [S: domain.md "
        "§D, 3 months].", ge=1, le=120)
    farmland_min_persons: int = param(
        1, "A farmland polygon is occupied in a month when at least this many distinct "
        "cards live (resident home) or work (work place) inside [I: any settlement is "
        "worth a field check].", ge=1)
    hazard_layers: tuple[str, ...] = param(
        ["hazard_point"], "地质灾害隐患点: the unit layers (levels of the units table) of "
        "geological hazard points that exposure_hazards measures (point features; others "
        "are skipped with a warning); none present: the job writes nothing.")
    hazard_buffer_m: float = param(
        500.0, "地质灾害隐患点: exposed people are those within this distance (metres, on "
        "the ground) of the point [S: domain.md §D, e.g. 500 m]; a point's own value in the "
        "attribute screen.hazard_buffer_attribute overrides it.", gt=0, le=20000)
    hazard_buffer_attribute: str = param(
        "buffer_m", "The attribute of a hazard point feature holding its own buffer in "
        "metres (empty or absent: screen.hazard_buffer_m; a value that is not a number in "
        "(0, 20000] stops the job naming the point).")
    hazard_hour_min_minutes: float = param(
        30.0, "exposure_hazards: a card counts as exposed at a point in hour h when its "
        "stays inside the buffer cover at least this many minutes of the hour (default "
        "half the hour: where it mostly was; daily_presence's hourly rule) [I].",
        gt=0, le=60)
    hazard_bridge_gap_h: float = param(
        12.0, "exposure_hazards: a silent gap of at most this many hours between two "
        "consecutive stays of a card at the same place (within hazard_bridge_max_dist_m), "
        "the evening before included, counts as presence there: a phone asleep at night "
        "at home near a point is exposed (mobsig.presence.bridged, as daily_presence's "
        "bridge_gap_h); 0 = never [I].", ge=0, le=24)
    hazard_bridge_max_dist_m: float = param(
        1000.0, "exposure_hazards: the largest distance between the two stays of a bridged "
        "gap [I].", gt=0)
    hazard_night_start_hour: int = param(
        21, "exposure_hazards: the night maximum is taken over the hours from this one "
        "... [I: the night of home identification, domain.md §B2, 21:00-07:00].",
        ge=0, le=23)
    hazard_night_end_hour: int = param(
        7, "... to this one (exclusive, next morning); the other hours give the day "
        "maximum [I].", ge=0, le=23)

    reserve_layers: tuple[str, ...] = param(
        ["reserve_core"], "自然保护区核心区: the unit layers (levels of the units table) of "
        "nature-reserve core zones that screen_reserves screens; a layer missing from the "
        "units table is skipped with a warning.")
    reserve_visit_min_min: float = param(
        30.0, "A card visits a reserve core zone on a day when its stays inside add up to at "
        "least this many minutes that day [S: domain.md §D, issue 15: stay >= 30 min].",
        ge=1, le=1440)
    reserve_baseline_weeks: int = param(
        4, "The trailing window of screen_reserves' baseline, in weeks before the day: the "
        "median daily visitors of the days of the same type (workdays, or rest days for a "
        "rest day or a holiday) in it [I: a month of history, four of each weekday].",
        ge=1, le=26)
    reserve_min_baseline_days: int = param(
        3, "screen_reserves judges no alert (is_alert null, alert_null_reason "
        "too_few_baseline_days) when the window holds fewer days of the day's type with "
        "stored stays [I].", ge=1, le=182)
    reserve_alert_factor: float = param(
        2.0, "An alert when the day's visitors exceed this many times the baseline (and "
        "reach reserve_alert_min_count) [I: twice the usual day].", gt=1.0)
    reserve_alert_min_count: int = param(
        20, "An alert needs at least this many distinct visitor cards on the day (raw), so "
        "a small zone's 1 -> 3 is no alert [I].", ge=1)
    idle_land_layers: tuple[str, ...] = param(
        ["supplied_parcel"], "疑似闲置土地: the unit layers (levels of the units table) of "
        "supplied parcels 已供应地块 that screen_idle_land screens.")
    idle_start_attribute: str = param(
        "start_date", "The parcel attribute holding the agreed start date 约定开工日期 "
        "(YYYY-MM-DD); a parcel is screened from the first month that begins on or after it; "
        "a parcel without a readable date is never screened (not_due).")
    idle_supply_attribute: str = param(
        "supply_date", "The parcel attribute holding the supply date 供地日期 (YYYY-MM-DD; "
        "evidence, copied to the output).")
    idle_max_persons: int = param(
        2, "A parcel is near-zero in a month when at most this many distinct cards stayed "
        "inside (any stay) or work there [I: a passer-by or a guard is no use].", ge=0)
    idle_min_months: int = param(
        12, "A parcel past its start date is a suspect of idle land when it is near-zero in "
        "at least this many consecutive months [S: domain.md §D, 12 months].", ge=1, le=120)

    def check(self) -> None:
        if self.hazard_night_start_hour == self.hazard_night_end_hour:
            raise ConfigError("screen.hazard_night_start_hour and hazard_night_end_hour "
                              "must differ (the night needs at least one hour, the day too)")
        if not self.hazard_buffer_attribute.strip():
            raise ConfigError("screen.hazard_buffer_attribute: give an attribute name")
        for key in ("farmland_layers", "hazard_layers", "reserve_layers", "idle_land_layers"):
            bad = [v for v in getattr(self, key) if not LEVEL_NAME.fullmatch(v) or v == "grid"]
            if bad:
                raise ConfigError(f"screen.{key}: {bad[0]!r} is not a unit layer name")
        for key in ("idle_start_attribute", "idle_supply_attribute"):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", getattr(self, key)):
                raise ConfigError(f"screen.{key}: {getattr(self, key)!r} is not an attribute "
                                  "name")


@dataclass(frozen=True)
class CommuteConfig:
    short_distance_m: float = param(
        5000.0, "通勤: share of commuters whose straight-line home-work distance is at most "
        "this (5 km, the 'happy commute' 幸福通勤 of the national commuting monitoring "
        "reports) [S: domain.md §C].", gt=0)
    short_time_min: float = param(
        45.0, "通勤: share of timed commuters whose commute time is at most this (minutes) "
        "[S: domain.md §C, share within 45 min].", gt=0)
    long_time_min: float = param(
        60.0, "通勤: share of timed commuters whose commute time is at least this (minutes; "
        "60, the 'extreme commute' 极端通勤 of the commuting monitoring reports) [S: issue "
        "14].", gt=0)
    radius_quantile: float = param(
        0.9, "Commuting radius of a centre (every destination unit): the distance covering "
        "this share of the people working in it (their home-work distances) [S: issue 14].",
        gt=0, le=1)
    match_radius_m: float = param(
        1000.0, "Commute time: a move is a home->work trip when its origin stay lies within "
        "this of the card's home (nearer the home than the work place) and its destination "
        "stay within this of the work place (nearer it than the home); stays of one place "
        "scatter by about a site spacing, up to the sparse stay radius [I].", gt=0)

    def check(self) -> None:
        if self.short_time_min >= self.long_time_min:
            raise ConfigError(
                f"commute.short_time_min ({self.short_time_min}) must be < "
                f"commute.long_time_min ({self.long_time_min})")


@dataclass(frozen=True)
class DailyPresenceConfig:
    min_hours: float = param(
        3.0, "日实际服务人口 (daily_presence): a card is present in a unit on a day when its "
        "stays there add up to at least this many hours of the day; shorter visits are "
        "transits and are not counted [S, Beijing: the daily actual service population "
        "excludes transits under 3 h].", gt=0, le=24)
    hour_min_minutes: int = param(
        30, "daily_presence hourly profile: a card present in a unit on the day counts in "
        "hour h (h:00-h+1:00) when its stays there cover at least this many minutes of the "
        "hour (default: half the hour, where the card mostly was) [I].",
        ge=1, le=60)
    bridge_gap_h: float = param(
        12.0, "daily_presence: a silent gap of at most this many hours between two "
        "consecutive stays of a card at the same place (within bridge_max_dist_m) counts "
        "as presence there (a phone asleep at night at home; the stay rule does not join "
        "them beyond stays.gap_cap_h); 0 = never [I].", ge=0, le=24)
    bridge_max_dist_m: float = param(
        1000.0, "daily_presence: the largest distance between the two stays of a bridged "
        "gap (a holder's evening and morning stays at home, served by the same or a "
        "neighbouring sector) [I].", gt=0)


@dataclass(frozen=True)
class ServicePopulationConfig:
    zones: tuple[str, ...] = param(
        [], "Zone layers whose polygons service_population measures: levels of the units "
        "table (any polygon layer of paths.units: facility, park, reserve_core, ...); "
        "`--zones` overrides. Empty: the job has nothing to measure and writes nothing.")
    min_stay_min: float = param(
        30.0, "A card is in a zone's service population on a day when its stays inside the "
        "zone add up to at least this many minutes that day (domain.md §C, issue #14: "
        "30 min, the stay threshold) [S].", gt=0, le=1440)
    catchment_quantile: float = param(
        0.8, "Catchment radius: the distance from the zone within which this share of its "
        "visitors live (expanded counts) [I: 80 % is the usual service-radius reading].",
        gt=0, le=1)
    home_levels: tuple[str, ...] = param(
        ["county", "township"], "Unit layers of the catchment table (where visitors live), "
        "each a level of the units table; the H3 grid (population.grid_h3_resolution) is "
        "always added.")

    def check(self) -> None:
        for key in ("zones", "home_levels"):
            values = getattr(self, key)
            bad = [v for v in values if not LEVEL_NAME.fullmatch(v) or v == "grid"]
            if bad:
                raise ConfigError(
                    f"service_population.{key}: {bad[0]!r} is not a unit layer name (a "
                    "level of the units table: letters, digits, '_' or '-', not 'grid')")
            if len(set(values)) != len(values):
                raise ConfigError(f"service_population.{key}: a layer is named twice: "
                                  f"{list(values)}")
        if not self.home_levels:
            raise ConfigError("service_population.home_levels: name at least one unit layer "
                              "(e.g. county)")

    def with_zones(self, zones: str | None) -> ServicePopulationConfig:
        """The section with ``zones`` from a command line (``--zones a,b``) in place of the
        configured ones (None or empty: unchanged), validated like the config."""
        if not zones:
            return self
        try:
            return build_section("service_population", ServicePopulationConfig,
                                 {**section_dict(self), "zones": zones})
        except ConfigError as exc:
            raise ConfigError(f"--zones: {exc}") from None


@dataclass(frozen=True)
class LinkageConfig:
    levels: tuple[str, ...] = param(
        [], "城市联系: unit levels (layers of the units table, e.g. city, county) whose unit "
        "pairs get trips, intensity and commuting rates; empty = every layer.")
    grid: bool = param(
        False, "城市联系: also pairs of H3 cells (population.grid_h3_resolution; large and "
        "mostly suppressed on a small sample).")
    metro_level: str = param(
        "county", "都市圈: the unit level of the metropolitan-area delineation (a layer of "
        "the units table).")
    metro_core: tuple[str, ...] = param(
        [], "都市圈: the core unit(s): unit ids of linkage.metro_level, or of the layer "
        "above it (their child units, by parent_id, are the core, e.g. a city's counties); "
        "empty = the metro_level unit where most employed residents work.")
    min_trip_m: float = param(
        500.0, "城市联系: a move counts as a trip when its stays are at least this far apart "
        "(metres); a shorter one is one place seen as two stays (a night at home split by "
        "a silent phone) [I: the dense stay radius, stays.radius_dense_m].", ge=0)
    metro_threshold: float = param(
        0.10, "都市圈: a unit joins the metropolitan area when at least this share of its "
        "employed residents work in the area as it stands (in a unit other than their "
        "own); repeated until no unit joins [I: issue 14's default; the common 10 % "
        "commuting-rate rule; US CBSAs use 25 %].", gt=0, le=1)


@dataclass(frozen=True)
class TripsConfig:
    level: str = param(
        "county", "分时段出行: the unit level of the origin-destination pairs of "
        "trips_by_period (a layer of the units table, e.g. county, township) [I: county "
        "keeps cells above privacy.k_min on a small sample; choose township or a planning "
        "unit on a full month of a city].")
    city_level: str = param(
        "city", "分时段出行: a trip is intra-city when both ends lie in one unit of this "
        "layer; without such a layer in the units table every trip between units of "
        "trips.level counts.")
    periods: dict[str, str] = param(
        {"morning_peak": "07:00-09:00", "evening_peak": "17:00-19:00",
         "night": "22:00-06:00"},
        "分时段出行: named periods of the day by the move's departure (local time, "
        "HH:MM-HH:MM, end excluded, an end before the start wraps past midnight); they "
        "must not overlap; the rest of the day is trips.rest_period [I: common peak hours "
        "of Chinese cities' commuting surveys].")
    rest_period: str = param(
        "off_peak", "分时段出行: the name of the time no period covers (empty: the periods "
        "must cover the whole day).")
    min_trip_m: float = param(
        500.0, "分时段出行: a move counts as a trip when its stays are at least this far "
        "apart (metres); a shorter one is one place seen as two stays [I: the dense stay "
        "radius, stays.radius_dense_m].", ge=0)

    def check(self) -> None:
        from mobsig.periods import parse_periods

        parse_periods(self.periods, self.rest_period)
        if self.level == self.city_level:
            raise ConfigError(f"trips.level and trips.city_level are both {self.level!r}: "
                              "the pairs must be finer than the city")


@dataclass(frozen=True)
class ExpansionConfig:
    factor_min: float = param(1.0, "Gate: smallest allowed expansion factor per county.", gt=0)
    factor_max: float = param(15.0, "Gate: largest allowed expansion factor per county.", gt=0)
    max_dispersion: float = param(
        1.0, "Gate: largest coefficient of variation of factors across counties.", ge=0)
    rake_ages: bool = param(
        False, "Rake factors to age margins by IPF (domain.md B3): factors per county and age "
        "band (table expansion_factors_age) from the registered birth year of each card "
        "(paths.subscribers) and the census age shares (paths.reference_ages); "
        "population_by_unit then weights each card by its county and band.")
    rake_max_iter: int = param(
        1000, "Raking: IPF iteration limit; when the band margins cannot be met (a sparse "
        "sample), the county totals are kept and each county's empty cells are spread over "
        "its filled ones (reported as county_totals_only).", ge=1)
    rake_tolerance: float = param(1e-6, "Raking: convergence tolerance on margins.", gt=0)
    age_bands: tuple[str, ...] = param(
        ["0-14", "15-64", "65P"], "Raking: age bands (years at the month = month year - "
        "birth year); 'a-b' is a to b inclusive, 'aP' is a and over; together they must cover "
        "0 and over without overlap. Share column in paths.reference_ages = 'AGES_' + band.")
    ages_id_field: str = param(
        "CODE", "Raking: column of paths.reference_ages holding the county code (unit_id).")
    no_sample: str = param(
        "borrow_parent", "A county with a reference population but no identified sample "
        "resident (its factor would be +inf): borrow_parent = it takes the factor of its "
        "parent unit (reference population over sample residents of the counties with the "
        "same parent_id that have some; without any, of all counties), named in a warning "
        "and in the run record (fact borrowed_factors), and the month goes on; fail = the "
        "factor stays +inf and the month's expansion gate fails, naming the county.",
        choices=("borrow_parent", "fail"))

    def check(self) -> None:
        if self.factor_min >= self.factor_max:
            raise ConfigError(
                f"expansion.factor_min ({self.factor_min}) must be < "
                f"expansion.factor_max ({self.factor_max})")


@dataclass(frozen=True)
class PrivacyConfig:
    k_min: int = param(
        15, "Suppress exported cells with fewer raw distinct users [P: FlowKit, ESSnet].", ge=1)
    complementary: bool = param(
        True, "Complementary suppression so a suppressed cell cannot be recovered from totals.")
    suppress_zeros: bool = param(
        False, "Also suppress cells with a raw count of 0 (a zero reveals no person, so by "
        "default zeros are published and do not trigger complementary suppression).")
    k_floor: int = param(
        10, "The lowest k_min (and complementary: false) accepted without "
        "privacy.allow_below_floor: a configuration that weakens the rule below it fails "
        "before any work starts [P: 10 is the usual floor of statistical offices' "
        "threshold rules; FlowKit and ESSnet use 15].", ge=1)
    allow_below_floor: bool = param(
        False, "Explicit override: accept k_min below k_floor, or complementary: false. "
        "Every export's manifest then records it with the parameters.")
    publish_raw: bool = param(
        False, "Also publish the raw (pre-expansion) counts in the exports and the report. "
        "Off by default: a published raw count next to its expanded count shows the "
        "expansion factor, and official population / factor gives a county's sample "
        "residents (suppressed cells recovered by division and subtraction). Recorded in "
        "every manifest.")
    rounding_multiple: float = param(
        2.0, "Published expanded counts are rounded to a base of at least this many times "
        "the month's largest expansion factor (then up to the next 1-2-5 number), so each "
        "published value fits two or more raw counts whatever the factor, and neither "
        "the factor nor a raw count can be read back; the base is in the manifest.", ge=2.0)
    protection_width: int = param(
        0, "Interval audit of population_by_unit: every suppressed cell's feasible "
        "interval (least to greatest value an attacker can solve for from the published "
        "counts and every relation between them) must be at least this wide; 0 = k_min. "
        "Below k_floor it weakens the rule (privacy.allow_below_floor).", ge=0)
    joint_audit: str = param(
        "gate", "Releases that publish the same counts audited as one system (issue 17; "
        "today commute's: jobs_housing's employed residents and live_and_work, commute and "
        "commute_od as exported): 'gate' fails the run on a cell narrower than the width "
        "(exit 6), 'report' records them in the run facts and a warning, 'off' skips it. "
        "Each release's own audit is gated either way.",
        choices=("report", "gate", "off"))

    @property
    def width(self) -> int:
        """The protection width in force (``protection_width``, or ``k_min`` when 0)."""
        return self.protection_width or self.k_min

    def weakened(self) -> list[str]:
        """What weakens the rule below the floor (empty: nothing)."""
        out = []
        if self.k_min < self.k_floor:
            out.append(f"privacy.k_min={self.k_min} is below privacy.k_floor={self.k_floor}")
        if 0 < self.protection_width < self.k_floor:
            out.append(f"privacy.protection_width={self.protection_width} is below "
                       f"privacy.k_floor={self.k_floor}")
        if not self.complementary:
            out.append("privacy.complementary=false leaves suppressed cells recoverable by "
                       "subtraction")
        return out

    def check(self) -> None:
        weak = self.weakened()
        if weak and not self.allow_below_floor:
            raise ConfigError(
                "privacy: " + "; ".join(weak) + ". Published tables would reveal small "
                "counts. Set privacy.allow_below_floor: true to accept this explicitly (it "
                "is recorded in every export's manifest), or keep the defaults.")


# The production sections, one per stage (or platform concern) that reads them: validated,
# dumped and hashed into Config.digest(), which is recorded with every run.
SECTIONS: dict[str, type] = {
    "run": RunConfig,
    "paths": PathsConfig,
    "spark": SparkConfig,
    "ingest": IngestConfig,
    "cells": CellsConfig,
    "clean": CleanConfig,
    "flags": FlagsConfig,
    "stays": StaysConfig,
    "home_work": HomeWorkConfig,
    "population": PopulationConfig,
    "jobs_housing": JobsHousingConfig,
    "land_use": LandUseConfig,
    "screen": ScreenConfig,
    "commute": CommuteConfig,
    "service_population": ServicePopulationConfig,
    "daily_presence": DailyPresenceConfig,
    "linkage": LinkageConfig,
    "trips": TripsConfig,
    "expansion": ExpansionConfig,
    "privacy": PrivacyConfig,
}

# Keys that moved to the stage that reads them (old -> new, one line per move): a config
# file or --set that still names the old key fails with a message naming the new one.
MOVED_KEYS: dict[str, str] = {
    "clean.gap_cap_h": "stays.gap_cap_h",
}


def tool_sections() -> dict[str, type]:
    """Sections of tools that read the same config file but take no part in a production
    run (the synthetic-city generator's ``synth``): validated and dumped with the others,
    left out of :meth:`Config.digest`. Imported on demand: the production config does not
    depend on the tools."""
    from mobsig.synth.config import SECTION, SynthConfig

    return {SECTION: SynthConfig}


def all_sections() -> dict[str, type]:
    """The production sections, then the tools' sections."""
    return {**SECTIONS, **tool_sections()}


def _default_synth() -> SynthConfig:
    from mobsig.synth.config import SynthConfig

    return SynthConfig()


# day-count thresholds of the monthly jobs, set for a month of REFERENCE_DAYS days and
# scaled to a shorter window by run.window_days (Config.for_window)
REFERENCE_DAYS = 30
WINDOW_SCALED = ("population.resident_min_days", "population.short_term_min_days",
                 "home_work.home_min_nights", "home_work.work_min_days",
                 "flags.static_min_days", "flags.multicard_min_days")
# co-location on a single day is too thin to pair two cards as one person, and a person
# seen at one place on two days is not a machine
WINDOW_FLOOR = {"flags.multicard_min_days": 2, "flags.static_min_days": 3}


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    cells: CellsConfig = field(default_factory=CellsConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    flags: FlagsConfig = field(default_factory=FlagsConfig)
    stays: StaysConfig = field(default_factory=StaysConfig)
    home_work: HomeWorkConfig = field(default_factory=HomeWorkConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    jobs_housing: JobsHousingConfig = field(default_factory=JobsHousingConfig)
    land_use: LandUseConfig = field(default_factory=LandUseConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    commute: CommuteConfig = field(default_factory=CommuteConfig)
    service_population: ServicePopulationConfig = field(
        default_factory=ServicePopulationConfig)
    daily_presence: DailyPresenceConfig = field(default_factory=DailyPresenceConfig)
    linkage: LinkageConfig = field(default_factory=LinkageConfig)
    trips: TripsConfig = field(default_factory=TripsConfig)
    expansion: ExpansionConfig = field(default_factory=ExpansionConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    # the test-data generator's settings (mobsig.synth.config): not part of digest()
    synth: SynthConfig = field(default_factory=_default_synth)
    base_dir: str = "."  # folder that relative paths are resolved against

    def path(self, key: str) -> Path:
        """Absolute path of ``paths.<key>`` (relative values resolved against base_dir)."""
        value = getattr(self.paths, key)
        if isinstance(value, tuple):
            raise TypeError(f"paths.{key} is a list; use paths_list()")
        return _resolve(self.base_dir, value)

    def check_warehouse(self) -> None:
        """Before Spark starts: a local ``paths.warehouse`` must be a folder this process
        can write (or creatable in one); a file or a read-only folder is a ConfigError
        (not a misleading missing-table or a raw PermissionError later). A URI warehouse
        is left to its file system."""
        from mobsig.io.storage import is_uri, local_path

        raw = self.paths.warehouse
        p = local_path(raw) if is_uri(raw) else self.warehouse
        if p is None:
            return
        if p.exists() and not p.is_dir():
            raise ConfigError(f"paths.warehouse: {str(p)!r} is a file, not a folder")
        probe = p
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            raise ConfigError(f"paths.warehouse: {str(p)!r} cannot be created: "
                              f"{str(probe)!r} is a file")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise ConfigError(f"paths.warehouse: {str(probe)!r} is not writable by this "
                              "user (a read-only warehouse)")

    def location(self, key: str) -> str:
        """``paths.<key>`` as Spark and Hadoop take it: a URI with a scheme (``hdfs://``,
        ``s3a://``, ``file://``...) unchanged, else the absolute local path (relative
        values resolved against base_dir, as :meth:`path`)."""
        from mobsig.io.storage import is_uri

        value = getattr(self.paths, key)
        return value if is_uri(value) else str(self.path(key))

    def paths_list(self, key: str) -> list[Path]:
        return [_resolve(self.base_dir, layer_path(v)) for v in getattr(self.paths, key)]

    def resolve_layer(self, entry: str | UnitLayer) -> UnitLayer:
        """A layer entry (plain path or mapping) as a UnitLayer with an absolute path."""
        layer = entry if isinstance(entry, UnitLayer) else UnitLayer(path=entry)
        return dataclasses.replace(layer, path=str(_resolve(self.base_dir, layer.path)))

    def unit_layers(self) -> list[UnitLayer]:
        """Every ``paths.units`` layer with its mapping, paths absolute (for the readers)."""
        return [self.resolve_layer(v) for v in self.paths.units]

    @property
    def warehouse(self) -> Path:
        return self.path("warehouse")

    @property
    def quality_dir(self) -> Path:
        q = self.paths.quality_results
        return _resolve(self.base_dir, q) if q else self.warehouse / "_quality"

    def require_inputs(self, *keys: str) -> None:
        """Fail (before Spark starts) unless each named input path is set and exists.

        A URI on a file system other than ``file:`` (hdfs://, s3a://...) cannot be checked
        without Spark: the job checks it once the session is up (mobsig.io.storage.require).
        """
        from mobsig.io.storage import is_uri, local_path

        for key in keys:
            if key == "units":
                layers = self.paths.units
                if not layers:
                    raise ConfigError("paths.units: no spatial-unit layer configured")
                for raw_layer in map(layer_path, layers):
                    if is_uri(raw_layer) and local_path(raw_layer) is None:
                        raise ConfigError(f"paths.units: layer {raw_layer!r}: unit layers are "
                                          "read on the driver and must be local files")
                for p in self.paths_list("units"):
                    if not p.exists():
                        raise ConfigError(f"paths.units: layer {str(p)!r} does not exist")
                continue
            raw = getattr(self.paths, key)
            if raw == "":
                raise ConfigError(f"paths.{key}: required by this job but not set")
            p = local_path(raw) if is_uri(raw) else self.path(key)
            if p is not None and not p.exists():
                raise ConfigError(f"paths.{key}: {str(raw if is_uri(raw) else p)!r} "
                                  "does not exist")

    def to_dict(self) -> dict[str, Any]:
        """Every section as plain data, the tools' sections included (what dump_config
        writes and load_config reads back)."""
        return {name: section_dict(getattr(self, name)) for name in all_sections()}

    def digest(self) -> str:
        """Stable hash of every production parameter (paths included; not the tools'
        sections such as ``synth``): recorded in run manifests."""
        prod = {name: section_dict(getattr(self, name)) for name in SECTIONS}
        blob = json.dumps(prod, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)

    def scaled_thresholds(self) -> dict[str, int]:
        """The day-count thresholds a monthly run uses (:data:`WINDOW_SCALED`), scaled to
        ``run.window_days`` (0: as set)."""
        n = self.run.window_days
        out = {}
        for key in WINDOW_SCALED:
            sec, name = key.split(".")
            v = getattr(getattr(self, sec), name)
            out[key] = v if n == 0 else max(WINDOW_FLOOR.get(key, 1),
                                            math.ceil(v * n / REFERENCE_DAYS - 1e-9))
        if n:
            res = out["population.resident_min_days"] = max(
                2, out["population.resident_min_days"])
            out["population.short_term_min_days"] = min(
                out["population.short_term_min_days"], res - 1)
        return out

    def for_window(self) -> Config:
        """This configuration with the day-count thresholds scaled to ``run.window_days``
        (itself when 0)."""
        if not self.run.window_days:
            return self
        changes: dict[str, dict[str, int]] = {}
        for key, v in self.scaled_thresholds().items():
            sec, name = key.split(".")
            changes.setdefault(sec, {})[name] = v
        return self.replace(**{sec: dataclasses.replace(getattr(self, sec), **vals)
                               for sec, vals in changes.items()})


def _resolve(base: str, value: str) -> Path:
    from mobsig.io.storage import is_uri, local_path

    if is_uri(value) and (lp := local_path(value)) is not None:
        return lp  # file: URI
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (Path(base) / p).resolve()


# --------------------------------------------------------------------------------------
# building and validation (the generic machinery is mobsig.params)


def _refuse_moved(section: str, key: str, where: str) -> None:
    """A ConfigError naming the new key when ``section.key`` has moved (MOVED_KEYS)."""
    new = MOVED_KEYS.get(f"{section}.{key}")
    if new is not None:
        raise ConfigError(f"{where}{section}.{key} has moved to {new}: set {new} instead")


def build_config(
    data: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    base_dir: str | os.PathLike[str] = ".",
) -> Config:
    """Validate a nested mapping (as read from YAML) plus ``section.key=value`` overrides."""
    sections_by_name = all_sections()
    merged: dict[str, dict[str, Any]] = {}
    for name, sec in (data or {}).items():
        if name not in sections_by_name:
            raise ConfigError(
                f"unknown section {name!r}; allowed sections: " + ", ".join(sections_by_name))
        if sec is not None and not isinstance(sec, dict):
            raise ConfigError(f"{name}: expected a mapping of keys, got {sec!r}")
        for key in sec or {}:
            _refuse_moved(name, key, "")
        merged[name] = dict(sec or {})
    for text in overrides:
        sec_name, key, value = parse_override(text)
        if sec_name not in sections_by_name:
            raise ConfigError(
                f"override {text!r}: unknown section {sec_name!r}; allowed sections: "
                + ", ".join(sections_by_name))
        _refuse_moved(sec_name, key, f"override {text!r}: ")
        merged.setdefault(sec_name, {})[key] = value
    sections = {name: build_section(name, cls, merged.get(name))
                for name, cls in sections_by_name.items()}
    return Config(**sections, base_dir=str(Path(base_dir).resolve()))


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: Iterable[str] = ()
) -> Config:
    """Read a YAML config file (optional) and apply overrides; validated and frozen."""
    if path is None:
        return build_config({}, overrides, base_dir=Path.cwd())
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config: file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config: {str(p)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {str(p)!r} must hold a mapping of sections")
    return build_config(data, overrides, base_dir=p.resolve().parent)


def dump_config(cfg: Config, path: str | os.PathLike[str]) -> None:
    """Write a config as YAML that load_config reads back to an equal Config."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True),
                          encoding="utf-8")


def explain() -> str:
    """Every parameter with its default, allowed range and doc (for `mobsig config --explain`)."""
    lines: list[str] = []
    for name, cls in SECTIONS.items():
        lines += explain_section(name, cls)
    lines.append("# sections of the tools (test data): not part of the run digest")
    for name, cls in tool_sections().items():
        lines += explain_section(name, cls)
    if MOVED_KEYS:
        lines.append("# moved keys (old -> new): "
                     + ", ".join(f"{old} -> {new}" for old, new in MOVED_KEYS.items()))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# dates


def parse_date(text: str, what: str = "--date") -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a date; use YYYY-MM-DD") from None


def parse_month(text: str, what: str = "--month") -> dt.date:
    """Parse ``YYYY-MM`` to the first day of that month."""
    try:
        return dt.datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a month; use YYYY-MM") from None


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ConfigError(f"--from {start} is after --to {end}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
