"""Readers of the delivered inputs other than the raw events (:mod:`mobsig.io.raw_events`)
and the unit layers (:mod:`mobsig.io.units`).

Each input has its contract in ``schemas/`` (kind ``input``)::

    read_cells_raw             paths.cells                 schemas/cells_raw.json
    read_tac_types             paths.tac_types             schemas/tac_types.json
    read_reference_population  paths.reference_population  schemas/reference_population.json
    read_subscribers           paths.subscribers           schemas/subscribers.json
    read_reference_ages        paths.reference_ages        schemas/reference_ages.json

Each returns a typed frame (or None when an optional input is not configured) and raises
InputError naming the file for content it cannot use.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.cells import EXTRA_RAW_COLUMNS, RAW_COLUMNS
from mobsig.config import Config
from mobsig.errors import InputError
from mobsig.expansion import AgeBand
from mobsig.io import storage
from mobsig.io.storage import Files
from mobsig.localdata import local_frame
from mobsig.schema import load_schema

log = logging.getLogger(__name__)

# cell table: the contract's NOT NULL columns must be there (cell_id, lon, lat, coord_sys)
CELLS_REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in load_schema("cells_raw").columns if not c.nullable)
TAC_SCHEMA = load_schema("tac_types").struct
REFERENCE_POPULATION = load_schema("reference_population")
# subscribers: ``sex`` is optional (an absent column is null)
SUBSCRIBERS_REQUIRED = (C.USER_ID, "birth_year")
MIN_BIRTH_YEAR = 1900


# --------------------------------------------------------------------------------------
# cell table 工参


def _format_of(files: Files, location: str | Path, kind: str) -> str:
    """'parquet' or 'csv'/'tsv' for a file or folder, by file extension."""
    names = ([storage.basename(location)] if kind == storage.FILE
             else [f.name for f in files.data_files(location)])
    if not names:
        raise InputError(f"cell table {str(location)!r}: no files")
    names = [n.lower() for n in names]
    if any(n.endswith(".parquet") for n in names):
        return "parquet"
    if any(n.endswith((".tsv", ".tsv.gz")) for n in names):
        return "tsv"
    return "csv"


def read_cells_raw(spark: SparkSession, path: str | Path) -> DataFrame:
    """The delivered cell table (CSV/TSV with header, or Parquet; file or folder; a local
    path or a URI on any Hadoop file system) with the contract columns of
    ``schemas/cells_raw.json`` plus :data:`EXTRA_RAW_COLUMNS`, as strings.

    Column names are matched case-insensitively; extra columns are ignored; a missing
    optional column is null; a missing required column is an InputError naming it.
    Nothing is inferred: delimited text is read as strings and parsed by
    :func:`mobsig.cells.parse_cells`.
    """
    files = storage.files_for(path, spark)
    kind = files.kind(path)
    if kind is None:
        raise InputError(f"cell table {str(path)!r} does not exist")
    fmt = _format_of(files, path, kind)
    if fmt == "parquet":
        df = spark.read.parquet(str(path))
    else:
        df = (spark.read.option("header", True).option("inferSchema", False)
              .option("sep", "\t" if fmt == "tsv" else ",").option("encoding", "UTF-8")
              .csv(str(path)))
    by_lower = {c.strip().lower().lstrip("\ufeff"): c for c in df.columns}
    missing = [c for c in CELLS_REQUIRED_COLUMNS if c not in by_lower]
    if missing:
        raise InputError(f"cell table {str(path)!r}: required columns {missing} missing "
                         f"(has {df.columns})")
    return df.select(*[
        (F.col(f"`{by_lower[c]}`").cast("string") if c in by_lower
         else F.lit(None).cast("string")).alias(c)
        for c in (*RAW_COLUMNS, *EXTRA_RAW_COLUMNS)])


# --------------------------------------------------------------------------------------
# TAC -> device type


def read_tac_types(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """The TAC -> device type table (paths.tac_types: CSV with header ``tac,device_type``;
    ``schemas/tac_types.json``), or None when not configured. A TAC listed twice with
    different device types is an InputError."""
    if not cfg.paths.tac_types:
        log.warning("paths.tac_types not set: the iot_tac rule is off")
        return None
    path = str(cfg.path("tac_types"))
    df = (spark.read.option("header", True).option("enforceSchema", False)
          .schema(TAC_SCHEMA).csv(path))
    df = df.select(F.trim("tac").alias("tac"), F.lower(F.trim("device_type"))
                   .alias("device_type")).where(F.col("tac").isNotNull()).distinct()
    clash = df.groupBy("tac").count().where("count > 1").limit(5).collect()
    if clash:
        raise InputError(f"paths.tac_types {path}: TACs with several device types: "
                         f"{[r['tac'] for r in clash]}")
    return df


# --------------------------------------------------------------------------------------
# reference population


def read_reference_population(spark: SparkSession, path: str | Path) -> DataFrame:
    """``unit_id`` (string), ``population`` (bigint) from the reference CSV
    (``schemas/reference_population.json``; other columns are ignored).

    Missing columns, non-numeric or negative populations and duplicate ids are an
    InputError naming the file and the rows.
    """
    p = Path(path)
    try:
        pdf = pd.read_csv(p, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise InputError(f"reference population {str(p)!r}: cannot read CSV: {exc}") from None
    missing = [c for c in REFERENCE_POPULATION.names if c not in pdf.columns]
    if missing:
        raise InputError(f"reference population {str(p)!r}: missing columns {missing} "
                         f"(has {list(pdf.columns)})")
    pop = pd.to_numeric(pdf["population"], errors="coerce")
    bad = pdf[pop.isna() | (pop < 0) | pdf["unit_id"].isna()]
    if len(bad):
        raise InputError(f"reference population {str(p)!r}: bad rows "
                         f"{bad[['unit_id', 'population']].head(5).to_dict('records')}")
    dup = pdf["unit_id"][pdf["unit_id"].duplicated()].tolist()
    if dup:
        raise InputError(f"reference population {str(p)!r}: duplicate unit_id {dup[:5]}")
    rows = list(zip(pdf["unit_id"].str.strip(), pop.astype("int64").tolist(), strict=True))
    return local_frame(spark, rows, REFERENCE_POPULATION.struct)


# --------------------------------------------------------------------------------------
# real-name registration 实名制 and census age shares


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() == ".parquet":
        return True
    return path.is_dir() and any(path.rglob("*.parquet"))


def read_subscribers(spark: SparkSession, path: str | Path,
                     max_year: int | None = None) -> DataFrame:
    """``user_id``, ``birth_year`` (int, null = unknown), ``sex`` (string, null when the
    file has none) from the real-name registration file (CSV with a header, UTF-8 with or
    without BOM; or Parquet; ``schemas/subscribers.json``). A reader, not a transform: it
    validates the whole file.

    InputError naming the file for: a missing file, missing ``user_id`` / ``birth_year``
    columns, blank user ids, birth years that are not whole numbers or lie outside
    [1900, ``max_year`` (default: the current year)], and user ids given twice. A blank
    birth year is allowed (unknown band).
    """
    p = Path(path)
    what = f"subscribers {str(p)!r}"
    if not p.exists():
        raise InputError(f"{what}: file does not exist")
    if _is_parquet(p):
        raw = spark.read.parquet(str(p))
    else:
        raw = (spark.read.option("header", True).option("inferSchema", False)
               .option("encoding", "UTF-8").csv(str(p)))
    raw = raw.toDF(*[c.replace("\ufeff", "").strip() for c in raw.columns])
    missing = [c for c in SUBSCRIBERS_REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(f"{what}: missing columns {missing} (has {raw.columns})")
    max_year = dt.date.today().year if max_year is None else max_year
    uid = F.trim(F.col("user_id").cast("string"))
    text = F.trim(F.col("birth_year").cast("string"))
    year_text = F.when(text != "", text)
    num = F.expr("try_cast(_year_text AS DOUBLE)")
    sex = F.trim(F.col("sex").cast("string")) if "sex" in raw.columns else F.lit(None)
    typed = raw.select(uid.alias("user_id"), year_text.alias("_year_text"),
                       sex.cast("string").alias("sex")).withColumn("_num", num)
    bad_id = F.col("user_id").isNull() | (F.col("user_id") == "")
    not_int = F.col("_year_text").isNotNull() & (
        F.col("_num").isNull() | (F.col("_num") != F.floor("_num")))
    out_of_range = (F.col("_num").isNotNull() & ~not_int
                    & ((F.col("_num") < MIN_BIRTH_YEAR) | (F.col("_num") > max_year)))
    checks = {"blank user_id": bad_id,
              "birth_year not a whole number": not_int,
              f"birth_year outside [{MIN_BIRTH_YEAR}, {max_year}]": out_of_range}
    counts = typed.agg(  # one Spark job for a good file
        *[F.sum(c.cast("int")).alias(f"c{i}") for i, c in enumerate(checks.values())],
        F.count(F.when(~bad_id, 1)).alias("ids"),
        F.count_distinct(F.when(~bad_id, F.col("user_id"))).alias("distinct_ids")).first()
    problems = []
    for i, (name, cond) in enumerate(checks.items()):
        n = counts[f"c{i}"] or 0
        if n:
            sample = [r["_year_text"] if name != "blank user_id" else r["user_id"]
                      for r in typed.where(cond).limit(5).collect()]
            problems.append(f"{n} rows with {name}, e.g. {sample}")
    if counts["ids"] != counts["distinct_ids"]:
        dup = typed.where(~bad_id).groupBy("user_id").count().where(F.col("count") > 1)
        dups = [r["user_id"] for r in dup.limit(5).collect()]
        problems.append(f"{dup.count()} user_id given more than once, e.g. {dups}")
    if problems:
        raise InputError(f"{what}: " + "; ".join(problems))
    return typed.select("user_id", F.col("_num").cast("int").alias("birth_year"), "sex")


def read_reference_ages(path: str | Path, id_field: str,
                        bands: tuple[AgeBand, ...]) -> pd.DataFrame:
    """Census age shares per county, renormalised over ``bands``: a pandas frame indexed
    by ``unit_id`` with one column per band label (rows sum to 1).

    The file is the 2020 census ages.csv form (UTF-8 with or without BOM;
    ``schemas/reference_ages.json``): the county code in ``id_field`` and the share of each
    band in ``AGES_<band>`` (other columns are ignored). InputError naming the file for
    missing columns and duplicate ids. A row whose shares are missing, non-numeric (the
    census has ``#DIV/0!`` for a county without data), negative or all 0 is unusable: it
    is kept with NaN shares and logged, and ``expansion.age_factors`` fails only if the
    reference population needs that county. Rows with a blank id are dropped (logged).
    """
    p = Path(path)
    what = f"reference ages {str(p)!r}"
    try:
        pdf = pd.read_csv(p, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise InputError(f"{what}: cannot read CSV: {exc}") from None
    pdf.columns = [c.strip() for c in pdf.columns]
    cols = [b.column for b in bands]
    missing = [c for c in [id_field, *cols] if c not in pdf.columns]
    if missing:
        raise InputError(f"{what}: missing columns {missing} (expansion.ages_id_field and "
                         f"'AGES_' + each of expansion.age_bands; has {list(pdf.columns)[:12]})")
    ids = pdf[id_field].fillna("").str.strip()
    blank = ids.eq("")
    if blank.any():
        log.warning("%s: %d rows without %s dropped", what, int(blank.sum()), id_field)
    pdf, ids = pdf[~blank], ids[~blank]
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise InputError(f"{what}: duplicate {id_field} {dup[:5]}")
    shares = pdf[cols].apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
    total = shares.sum(axis=1, min_count=len(cols))
    bad = shares.isna().any(axis=1) | (shares < 0).any(axis=1) | ~(total > 0)
    if bad.any():
        log.warning("%s: %d rows with missing, non-numeric, negative or all-zero shares "
                    "are unusable, e.g. %s", what, int(bad.sum()),
                    pdf.loc[bad, [id_field, *cols]].head(3).to_dict("records"))
    out = shares.div(total.where(~bad), axis=0)
    out.columns = [b.label for b in bands]
    out.index = pd.Index(ids, name="unit_id")
    return out
