"""Export files of the published tables, beside the Delta tables, one folder per month.

``<warehouse>/exports/month=YYYY-MM/`` holds, for each exported table (``population_by_unit``,
``jobs_housing``, ``commute`` and ``commute_od``, the service population tables
``service_population``, ``service_population_daily`` (the zone's polygon) and
``service_catchment`` (the polygon of the visitors' home unit), ``linkage``,
``metro_area``, ``trips_by_period``, ``land_use_intensity``, ``screen_farmland`` and
``screen_idle_land``; (day tables: ``daily_presence``, ``screen_reserves`` and
``exposure_hazards``, the hazard point as geometry)
:data:`EXPORT_ORDER`;
origin-destination rows (``commute_od``, ``linkage``, ``trips_by_period``) get the desire
line from the origin unit's centroid to the destination's, a point for a same-unit pair):

- ``<table>.parquet``: GeoParquet with the unit geometry (the H3 cell polygon for grid
  rows), CRS EPSG:4490 declared in its metadata (PROJJSON);
- ``<table>.csv``: the same rows without geometry, UTF-8 with BOM (for spreadsheet users);

and for the whole month:

- ``mobsig_<YYYY-MM>.gpkg``: one GeoPackage, a layer per table and level
  (``<table>_<level>``, e.g. ``population_by_unit_county``, ``jobs_housing_grid``), EPSG:4490,
  written with pyogrio (GDAL) from the GeoParquet files of the folder, so it always holds
  exactly the tables exported there;
- ``manifest.json``: every file and layer with its format, CRS, period, row count, the
  suppression rule and its parameters, the run id that wrote it and the mobsig version.

Each job exports its own table after its write (``export_month``); the GeoPackage and the
manifest of the folder are rebuilt under a lock each time, written to a temporary name
and moved into place, so a re-run replaces its table's files and layers and leaves the
others as they were. A day table (``daily_presence``) writes its GeoParquet and CSV the
same way under ``exports/dt=YYYY-MM-DD/`` (``export_day``).

A kill at any point leaves every file either as it was or as the run wrote it, never
missing nor mixed: the CSV is written to a temporary name and moved into place; the
GeoParquet (a folder Spark writes, whose overwrite deletes the old files first) is written
to a new hidden version folder ``.<table>.parquet.<stamp>`` and ``<table>.parquet`` is a
relative symbolic link to it, replaced in one rename (:func:`replace_folder`); older
versions are removed afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import publish
from mobsig.geo import h3_polygon
from mobsig.io.catalog import Catalog

log = logging.getLogger(__name__)

# the exported tables and the order of their rows in the files
EXPORT_ORDER: dict[str, tuple[str, ...]] = {
    "population_by_unit": (C.LEVEL, C.UNIT_ID, C.POP_CLASS),
    "jobs_housing": (C.LEVEL, C.UNIT_ID),
    "commute": (C.LEVEL, C.UNIT_ID),
    "commute_od": (C.LEVEL, C.ORIGIN_ID, C.DEST_ID),
    "daily_presence": (C.LEVEL, C.UNIT_ID, C.POP_CLASS, C.HOUR),
    "service_population": (C.LEVEL, C.UNIT_ID),
    "service_population_daily": (C.LEVEL, C.UNIT_ID, C.DT),
    # the rows' level/unit_id are the visitors' home unit (its polygon is the geometry)
    "service_catchment": (C.ZONE_LEVEL, C.ZONE_ID, C.LEVEL, C.UNIT_ID),
    "metro_area": (C.LEVEL, C.UNIT_ID),
    "linkage": (C.LEVEL, C.ORIGIN_ID, C.DEST_ID),
    "trips_by_period": (C.LEVEL, C.CITY_ID, C.ORIGIN_ID, C.DEST_ID, C.PERIOD),
    "land_use_intensity": (C.LEVEL, C.UNIT_ID),
    "screen_farmland": (C.LEVEL, C.UNIT_ID),
    "exposure_hazards": (C.LEVEL, C.UNIT_ID, C.MEASURE, "statistic", C.HOUR),
    "screen_reserves": (C.LEVEL, C.UNIT_ID),
    "screen_idle_land": (C.LEVEL, C.UNIT_ID),
}
# OD tables: their rows have an origin and a destination unit instead of one unit
OD_ENDS = (C.ORIGIN_ID, C.DEST_ID)
CRS = "EPSG:4490"
MANIFEST = "manifest.json"
SUPPRESSION_RULE = (
    "Small-count suppression before anything leaves the operator (mobsig.privacy): a count "
    "whose raw (pre-expansion) number of distinct cards is below k_min is withheld (its raw "
    "and expanded values null, its is_*suppressed flag true; a zero is published unless "
    "suppress_zeros, or unless this entry says otherwise: not_listed, zeros_as_suppressed). "
    "With complementary suppression, within each sibling group (same "
    "level, parent unit and breakdown) a lone withheld cell takes the next smallest cell "
    "with it, and within a unit a total and its parts (actual_service = resident + "
    "short_term) never leave exactly one part withheld, so no withheld count can be "
    "recovered by subtraction from published ones. Then the release is audited "
    "(mobsig.privacy_audit): over every relation between its published counts (layers and "
    "the H3 grid, identities, hours within the day, OD row and column totals, and the "
    "releases of the same counts taken together), no withheld count's feasible interval "
    "(linear and integer programming) may be narrower than protection_width; further "
    "cells are withheld until none is, else nothing is written or exported. Ratios are "
    "computed only from published counts.")

# what a table publishes beside its counts, stated in the manifest's suppression entry
PUBLISHED_WITHOUT_COUNT: dict[str, str] = {
    "screen_farmland": (
        "is_occupied, run_months, run_start_month, first_seen_month, last_seen_month and "
        "is_suspect are published for every polygon, also where its residents and workers "
        "counts are withheld: a suspect of non-agricultural occupation is named without a "
        "count below k_min (a screening flag for a field check)."),
    "screen_reserves": (
        "day_type, baseline_type, baseline_days, baseline_first_day, baseline_last_day, "
        "is_alert, alert_kind and alert_null_reason are published for every polygon, also "
        "where its visitors and residents counts are withheld: an alert says 'above "
        "baseline' (or 'holiday peak') without a count below k_min; the baseline itself is "
        "a raw count and does not leave the operator."),
    "screen_idle_land": (
        "supply_date, start_date, is_due, is_near_zero, run_months, run_start_month and "
        "is_suspect are published for every parcel, also where its counts are withheld: a "
        "suspect of idle land names a near-zero parcel without its (small) counts."),
}

def month_folder(warehouse: str | Path, month_key: str) -> Path:
    """The export folder of a month."""
    return Path(warehouse) / "exports" / f"month={month_key}"


def geopackage_path(warehouse: str | Path, month_key: str) -> Path:
    """The month's GeoPackage (one file, a layer per table and level)."""
    return month_folder(warehouse, month_key) / f"mobsig_{month_key}.gpkg"


def layer_name(table: str, level: str) -> str:
    """The GeoPackage layer of a table's level."""
    return f"{table}_{level}"


def export_paths(warehouse: str | Path, month_key: str,
                 table: str = "population_by_unit") -> dict[str, str]:
    """Where :func:`export_month` writes the month's files of ``table``."""
    folder = month_folder(warehouse, month_key)
    return {"geoparquet": str(folder / f"{table}.parquet"),
            "csv": str(folder / f"{table}.csv"),
            "geopackage": str(geopackage_path(warehouse, month_key)),
            "manifest": str(folder / MANIFEST)}


def projjson(crs: str = CRS) -> str:
    """The PROJJSON text of a CRS (GeoParquet's form of the CRS in its metadata)."""
    from pyproj import CRS as ProjCRS

    return ProjCRS.from_user_input(crs).to_json()


def export_month(catalog: Catalog, table: str, month_key: str, units: DataFrame, *,
                 privacy: Any = None, run_id: str | None = None) -> int:
    """Write the month's ``table`` rows, as published (:func:`mobsig.publish.published`:
    raw counts withheld unless ``privacy.publish_raw``, expanded counts rounded to the
    month's base; the rule in the manifest's ``publication``), to the export folder and
    rebuild the folder's GeoPackage and manifest; ``units``: unit polygons (``level``, ``unit_id``,
    ``geometry``). ``privacy`` (the config's privacy section: k_min, complementary,
    suppress_zeros) and ``run_id`` default to those of the job run in progress. Returns
    the rows."""
    from mobsig.logs import current_context
    from mobsig.runner import current_job

    job = current_job()
    if privacy is None and job is not None:
        privacy = job.cfg.privacy
    run_id = run_id or current_context().get("run")
    folder = month_folder(catalog.warehouse, month_key)
    folder.mkdir(parents=True, exist_ok=True)
    rows = catalog.read(table, month=month_key)
    rule = publish.rule_for(catalog, month_key, privacy, rows)
    pdf = _write_files(publish.published(rows, rule, table, catalog, month_key), table,
                       export_paths(catalog.warehouse, month_key, table), units)
    levels = {str(k): int(v) for k, v in pdf[C.LEVEL].value_counts().sort_index().items()}
    info = {"table": table, "period": period(month_key), "rows": len(pdf), "levels": levels,
            "run_id": run_id, "mobsig_version": _version(),
            "exported_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "suppression": suppression(table, privacy), "publication": rule.manifest()}
    with _locked(folder):
        manifest = read_manifest(folder)
        tables = manifest.get("tables", {})
        tables[table] = info
        layers = write_geopackage(folder, month_key, tables, only=table,
                                  previous=manifest_layers(manifest))
        write_manifest(folder, month_key, tables, layers)
    return len(pdf)


def manifest_layers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The GeoPackage layers a manifest lists (table, level, layer, rows)."""
    return [{"table": f["table"], "level": f["level"], "layer": f["layer"], "rows": f["rows"]}
            for f in manifest.get("files", []) if f.get("format") == "GeoPackage"]


def _write_files(rows: DataFrame, table: str, files: dict[str, str], units: DataFrame):
    """The GeoParquet (unit geometry, EPSG:4490 declared) and the CSV (UTF-8 BOM) of
    ``rows``; returns the rows as pandas."""
    Path(files["csv"]).parent.mkdir(parents=True, exist_ok=True)
    geom = units.select(C.LEVEL, C.UNIT_ID, C.GEOMETRY)
    if all(c in rows.columns for c in OD_ENDS):
        with_geom = _desire_lines(rows, geom)
    else:
        with_geom = rows.join(geom, [C.LEVEL, C.UNIT_ID], how="left").withColumn(
            C.GEOMETRY, F.when(F.col(C.LEVEL) == C.GRID_LEVEL, h3_polygon(C.UNIT_ID))
            .otherwise(F.col(C.GEOMETRY)))
    order = list(EXPORT_ORDER[table])
    # one file, sorted within its one partition: no range-partitioning pass (a sampling
    # job) for these small aggregate tables; the CSV is sorted in pandas the same way
    # (ascending, nulls first, as Spark orders)
    sorted_geom = with_geom.coalesce(1).sortWithinPartitions(*order)
    replace_folder(Path(files["geoparquet"]), lambda path: sorted_geom.write.format(
        "geoparquet").mode("overwrite").option("geoparquet.crs", projjson()).save(path))
    pdf = rows.toPandas().sort_values(order, na_position="first", kind="mergesort")
    pdf = pdf.reset_index(drop=True)
    for col in pdf.columns:  # counts stay integers next to the nulls of suppressed cells
        if col.endswith(C.RAW_COUNT) or col == C.HOUR:
            pdf[col] = pdf[col].astype("Int64")
    csv = Path(files["csv"])
    tmp = csv.with_suffix(".csv.tmp")
    pdf.to_csv(tmp, index=False, encoding="utf-8-sig")
    shutil.move(str(tmp), str(csv))
    return pdf


def replace_folder(target: Path, write: Callable[[str], None]) -> Path:
    """``write(path)`` a folder to a new version beside ``target`` (``.<name>.<stamp>``),
    then make ``target`` a relative symbolic link to it with one atomic rename: readers
    and a kill at any moment see the previous version or the new one, whole. Versions no
    longer linked (the previous one, those of killed runs) are removed afterwards. A
    ``target`` that is a plain folder (written by an older mobsig) is moved aside first.
    Returns the version folder."""
    version = target.with_name(f".{target.name}.{time.time_ns()}-{os.getpid()}")
    write(str(version))
    link = target.with_name(f".{target.name}.{os.getpid()}.link")
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(version.name, link)
    if target.exists() and not target.is_symlink():
        os.replace(target, target.with_name(f".{target.name}.0-legacy"))
    os.replace(link, target)
    for old in target.parent.glob(f".{target.name}.*"):
        if old.name == version.name:
            continue
        if old.is_symlink() or old.is_file():
            old.unlink(missing_ok=True)
        else:
            shutil.rmtree(old, ignore_errors=True)
    return version


def _desire_lines(rows: DataFrame, geom: DataFrame) -> DataFrame:
    """OD rows with ``geometry``: the line from the origin unit's centroid to the
    destination's (the H3 cell's centre at the grid level; a point when they are one
    unit)."""
    out = rows
    for end in OD_ENDS:
        g = geom.select(C.LEVEL, F.col(C.UNIT_ID).alias(end), F.col(C.GEOMETRY).alias("_g"))
        shape = F.when(F.col(C.LEVEL) == C.GRID_LEVEL, h3_polygon(end)).otherwise(F.col("_g"))
        out = out.join(g, [C.LEVEL, end], how="left").withColumn(
            f"_{end}", F.call_function("ST_Centroid", shape)).drop("_g")
    a, b = F.col(f"_{OD_ENDS[0]}"), F.col(f"_{OD_ENDS[1]}")
    line = F.when(F.col(OD_ENDS[0]) == F.col(OD_ENDS[1]), a).otherwise(
        F.call_function("ST_MakeLine", a, b))
    return out.withColumn(C.GEOMETRY, line).drop(*[f"_{e}" for e in OD_ENDS]).select(
        *rows.columns, C.GEOMETRY)


def export_day(catalog: Catalog, table: str, day: dt.date, units: DataFrame, *,
               privacy: Any = None) -> int:
    """Write the day's ``table`` rows (as published: :func:`mobsig.publish.published`, the
    rounding base of the day's month) to ``exports/dt=YYYY-MM-DD/``: its GeoParquet and
    CSV (no GeoPackage or manifest for a day folder). ``privacy`` defaults to the config
    of the job run in progress. Returns the rows."""
    from mobsig.runner import current_job

    job = current_job()
    if privacy is None and job is not None:
        privacy = job.cfg.privacy
    rows = catalog.read(table, dt=day)
    rule = publish.rule_for(catalog, day.strftime("%Y-%m"), privacy, rows)
    return len(_write_files(publish.published(rows, rule, table, catalog,
                                              day.strftime("%Y-%m")), table,
                            export_day_paths(catalog.warehouse, day, table), units))


def export_day_paths(warehouse: str | Path, day: dt.date, table: str) -> dict[str, str]:
    """Where :func:`export_day` writes the day's files of ``table``."""
    folder = Path(warehouse) / "exports" / f"dt={day.isoformat()}"
    return {"geoparquet": str(folder / f"{table}.parquet"),
            "csv": str(folder / f"{table}.csv")}


def export_population(catalog: Catalog, month_key: str, units: DataFrame, **kw: Any) -> int:
    """:func:`export_month` of ``population_by_unit``."""
    return export_month(catalog, "population_by_unit", month_key, units, **kw)


def period(month_key: str) -> dict[str, str]:
    """The month as a period: ``{"month", "start", "end"}`` (dates inclusive)."""
    from mobsig.geo import next_month

    start = dt.date.fromisoformat(month_key + "-01")
    return {"month": month_key, "start": start.isoformat(),
            "end": (next_month(start) - dt.timedelta(days=1)).isoformat()}


def suppression(table: str, privacy: Any) -> dict[str, Any]:
    """The suppression rule of an exported table: the rule, its parameters (null when not
    known) and the flag columns that mark withheld values."""
    from mobsig.schema import load_schema

    flags = [c for c in load_schema(table).names
             if c.startswith("is_") and c.endswith("suppressed")]
    params = None
    if privacy is not None:
        params = {"k_min": int(privacy.k_min), "complementary": bool(privacy.complementary),
                  "suppress_zeros": bool(privacy.suppress_zeros),
                  "protection_width": int(privacy.width)}
        if getattr(privacy, "allow_below_floor", False):  # stated only when overridden
            params["below_floor_override"] = {
                "k_floor": int(privacy.k_floor), "allow_below_floor": True,
                "weakened": privacy.weakened()}
    out = {"rule": SUPPRESSION_RULE, "parameters": params, "flag_columns": flags}
    if table in PUBLISHED_WITHOUT_COUNT:
        out["published_without_count"] = PUBLISHED_WITHOUT_COUNT[table]
    if table in publish.UNLISTED_HIDDEN:
        out["not_listed"] = publish.UNLISTED_HIDDEN[table]
    if table in publish.ZEROS_AS_SUPPRESSED:
        out["zeros_as_suppressed"] = sorted(publish.ZEROS_AS_SUPPRESSED[table])
    return out


def _version() -> str:
    from mobsig.runs import code_version

    return code_version()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder's shared files (GeoPackage, manifest) between
    processes exporting to the same month."""
    with open(folder / ".export.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The folder's manifest (empty when there is none or it cannot be read)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def read_geoparquet(path: str | Path):
    """An export GeoParquet as a GeoDataFrame in EPSG:4490, counts as nullable integers
    and flags as nullable booleans (as in the Delta table)."""
    import geopandas as gpd
    import pyarrow as pa
    import pyarrow.parquet as pq

    gdf = gpd.read_parquet(path)
    if gdf.crs is None:
        gdf = gdf.set_crs(CRS)
    for f in pq.read_schema(next(Path(path).glob("*.parquet")) if Path(path).is_dir()
                            else path):
        if f.name in gdf.columns and f.name != "geometry":
            if pa.types.is_integer(f.type):
                gdf[f.name] = gdf[f.name].astype("Int64")
            elif pa.types.is_boolean(f.type):
                gdf[f.name] = gdf[f.name].astype("boolean")
    return gdf


def write_geopackage(folder: Path, month_key: str, tables: dict[str, dict[str, Any]], *,
                     only: str | None = None,
                     previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The month's GeoPackage from the folder's GeoParquet files of ``tables``: a layer per
    table and level (EPSG:4490), written to a temporary file moved into place. Returns the
    layers it holds (table, level, layer, rows).

    With ``only`` (the table just exported) and ``previous`` (the layers the folder's
    GeoPackage holds, from its manifest) only that table's layers are replaced in a copy
    of the file (the others are not read and written again: each job exports after its
    own write, so rebuilding everything would cost the month's chain the square of its
    tables); a full rebuild when that cannot be done exactly (no file yet, a layer of the
    table gone, another table's file missing)."""
    gpkg = geopackage_path(folder.parent.parent, month_key)
    tmp = gpkg.with_name(f".{gpkg.stem}.{os.getpid()}.tmp.gpkg")  # GDAL wants .gpkg
    if tmp.exists():
        tmp.unlink()

    def table_layers(table: str, replace: bool) -> list[dict[str, Any]]:
        gdf = read_geoparquet(folder / f"{table}.parquet")
        out = []
        for level, part in gdf.groupby(C.LEVEL, sort=True):
            name = layer_name(table, str(level))
            part = part.reset_index(drop=True)
            part.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio",
                         **({"layer_options": {"OVERWRITE": "YES"}} if replace else {}))
            out.append({"table": table, "level": str(level), "layer": name,
                        "rows": len(part)})
        return out

    present = sorted(t for t in tables if (folder / f"{t}.parquet").exists())
    kept = [x for x in previous or [] if x["table"] != only]
    if (only in present and previous is not None and gpkg.exists()
            and {x["table"] for x in kept} == set(present) - {only}):
        old = {x["layer"] for x in previous if x["table"] == only}
        shutil.copy2(gpkg, tmp)
        new = table_layers(only, replace=True)
        if old <= {x["layer"] for x in new}:
            os.replace(tmp, gpkg)
            return sorted(kept + new, key=lambda x: (x["table"], x["layer"]))
        tmp.unlink()  # a level of the table is gone: its layer must go too
    layers = [lay for table in present for lay in table_layers(table, replace=False)]
    if layers:
        os.replace(tmp, gpkg)
    elif gpkg.exists():
        gpkg.unlink()
    return layers


def write_manifest(folder: Path, month_key: str, tables: dict[str, dict[str, Any]],
                   layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``manifest.json``: each file (and GeoPackage layer) with format, CRS, period,
    rows, suppression, run id and mobsig version. Other files in the folder (the report)
    keep their entries."""
    old = read_manifest(folder)
    entries: list[dict[str, Any]] = []

    def entry(file: str, fmt: str, table: str, crs: str | None, rows: int,
              layer: str | None = None, level: str | None = None) -> dict[str, Any]:
        t = tables[table]
        return {"file": file, "format": fmt, "table": table, "layer": layer,
                "level": level, "crs": crs, "period": t["period"], "rows": rows,
                "suppression": t["suppression"], "publication": t.get("publication"),
                "run_id": t["run_id"],
                "mobsig_version": t["mobsig_version"], "exported_at": t["exported_at"]}

    for table in sorted(tables):
        t = tables[table]
        if (folder / f"{table}.parquet").exists():
            entries.append(entry(f"{table}.parquet", "GeoParquet", table, CRS, t["rows"]))
        if (folder / f"{table}.csv").exists():
            entries.append(entry(f"{table}.csv", "CSV (UTF-8 with BOM, no geometry)", table,
                                 None, t["rows"]))
    gpkg = geopackage_path(folder.parent.parent, month_key).name
    for lay in layers:
        entries.append(entry(gpkg, "GeoPackage", lay["table"], CRS, lay["rows"],
                             layer=lay["layer"], level=lay["level"]))
    others = [f for f in old.get("files", []) if f.get("table") is None
              and (folder / f["file"]).exists()]
    doc = {"month": month_key, "period": period(month_key), "crs": CRS,
           "mobsig_version": _version(), "tables": tables, "files": entries + others}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), "utf-8")
    os.replace(tmp, folder / MANIFEST)
    return doc


def add_to_manifest(folder: str | Path, file: str, fmt: str, *, run_ids: list[str],
                    month_key: str, note: str = "") -> None:
    """List a file that is not a table export (the month's report) in the manifest."""
    folder = Path(folder)
    with _locked(folder):
        doc = read_manifest(folder) or {"month": month_key, "period": period(month_key),
                                        "crs": CRS, "tables": {}, "files": []}
        files = [f for f in doc.get("files", []) if f.get("file") != file]
        files.append({"file": file, "format": fmt, "table": None, "layer": None,
                      "level": None, "crs": None, "period": period(month_key), "rows": None,
                      "suppression": {
                          "rule": "shows only published values of the exported tables "
                                  "(their rule above); nothing withheld is shown or drawn",
                          "parameters": next((t["suppression"]["parameters"] for t in
                                              doc.get("tables", {}).values()), None),
                          "flag_columns": []},
                      "publication": next((t.get("publication") for t in
                                           doc.get("tables", {}).values()
                                           if t.get("publication")), None),
                      "run_id": ",".join(run_ids) or None, "mobsig_version": _version(),
                      "exported_at": dt.datetime.now().astimezone()
                      .isoformat(timespec="seconds"), "note": note})
        doc["files"] = files
        doc["mobsig_version"] = _version()
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), "utf-8")
        os.replace(tmp, folder / MANIFEST)
