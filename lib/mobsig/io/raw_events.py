"""Reader of the raw signaling events (``paths.raw_events``, contract ``schemas/raw_events.json``).

The reading half of ingest (driven by ``jobs/ingest_events.py``; the classification is
:mod:`mobsig.ingest`)::

    day_folder        the day's folder ``root/dt=YYYY-MM-DD``
    plan_sources      driver: list the day folder's files, detect format, delimiter and
                      header per file (one read of its head, files in parallel), group
                      files read the same way
    read_sources      one uniform frame of raw rows: the contract columns as delivered
                      (strings), ``raw_text``, ``source_file``, ``is_wellformed``; then
                      :func:`mobsig.ingest.classify_events`

Input forms: Parquet (event_time as timestamp, string or epoch-ms integer); CSV or TSV,
gzip or not (by the ``.gz`` extension), with or without a header row (``ingest.csv_header``:
auto detects a header by the first line naming user_id, event_time and cell_id).
Delimited text is read line by line as strings (Spark's text reader) and split here, so a
line with the wrong number of fields is caught, never silently padded or cut, and a blank
line is a row (malformed). A line without a quote character is split on the delimiter
alone; only a line holding a quote takes the quote-aware split (quoted fields with the
delimiter or doubled quotes inside are understood; a quoted field spanning lines is not).
Spark's CSV reader is not used: it drops blank and whitespace-only lines before parsing,
and rebuilding ``raw_text`` from its fields costs more than the split saves.

Where: ``paths.raw_events`` is a local folder or a URI on any Hadoop file system
(``hdfs://``, ``s3a://``, ``viewfs://``, ``file://``...); the driver lists a day folder and
reads file heads and Parquet footers through :mod:`mobsig.io.storage` (each file opened once,
``ingest.sniff_threads`` at a time), Spark reads the rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import IngestConfig
from mobsig.errors import InputError
from mobsig.io import storage
from mobsig.io.storage import DataFile, Files
from mobsig.schema import load_schema

log = logging.getLogger(__name__)

CONTRACT_COLUMNS: tuple[str, ...] = tuple(load_schema("raw_events").names)
REQUIRED_COLUMNS = (C.USER_ID, C.EVENT_TIME, C.CELL_ID)
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
_NAME = re.compile(r"[a-z_][a-z_ ]*")


@dataclass(frozen=True)
class SourceGroup:
    """Files of one day read the same way.

    ``kind`` is ``parquet`` or ``text``. For text: ``delimiter``, ``columns`` (field order)
    and ``header`` (the exact header line to drop, or None when the files have none).
    """
    kind: str
    files: tuple[str, ...]
    delimiter: str = ","
    columns: tuple[str, ...] = ()
    header: str | None = None
    nanos: dict = dc_field(default_factory=dict, hash=False, compare=False)


def nanos_columns(schema: object) -> dict[str, bool]:
    """Columns stored as nanosecond timestamps (pandas' default), from a footer
    description of :meth:`Files.parquet_schema`: name -> adjusted to UTC (a time zone
    given) or not (naive wall-clock time)."""
    out: dict[str, bool] = {}
    if isinstance(schema, tuple):  # pyarrow: (name, type string)
        for name, typ in schema:
            if typ.startswith("timestamp[ns"):
                out[name] = "tz=" in typ
    elif isinstance(schema, str):  # the Parquet schema text, lowercased
        for m in re.finditer(r"int64 (\w+) \(timestamp\(nanos,(true|false)\)\)", schema):
            out[m.group(1)] = m.group(2) == "true"
    return out


def day_folder(root: str | Path, day: dt.date) -> str | Path:
    """``root/dt=YYYY-MM-DD``: a Path for a local root, a URI string for a URI root."""
    return storage.join(root, f"dt={day.isoformat()}")


def _format_by_name(f: DataFile, ingest: IngestConfig) -> str | None:
    """``parquet`` or ``text`` from the setting or the file name; None: look at the bytes."""
    if ingest.input_format != "auto":
        return "parquet" if ingest.input_format == "parquet" else "text"
    name = f.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    if base.endswith(".parquet") or name.endswith(".parquet"):
        return "parquet"
    if base.endswith(_TEXT_SUFFIXES) or name.endswith(".gz"):
        return "text"
    return None


def _first_line(f: DataFile, head: bytes, files: Files, head_bytes: int) -> str:
    """The first line from the head already read; the file is read again only when its
    first line is longer than the head."""
    gz = f.name.lower().endswith(".gz")
    if head.startswith(storage.GZIP_MAGIC) and not gz:
        raise InputError(f"{f.location!r} is gzip-compressed but its name does not end in "
                         ".gz (Spark decompresses by extension): rename it")
    complete = len(head) < head_bytes or f.size <= len(head)
    line = storage.first_line_of(head, f.location, gz=gz, complete=complete)
    if line is None:
        log.info("%s: first line longer than %d head bytes: reading on", f.location,
                 head_bytes)
        line = files.first_line(f.location)
    return line


def _delimiter(f: DataFile, first: str, ingest: IngestConfig) -> str:
    if ingest.input_format == "tsv":
        return "\t"
    if ingest.input_format == "csv":
        return ","
    name = f.name.lower().removesuffix(".gz")
    if name.endswith(".tsv"):
        return "\t"
    if name.endswith(".csv"):
        return ","
    return "\t" if "\t" in first else ","


def _split_simple(line: str, delim: str) -> list[str]:
    return [t.strip().strip('"').strip().lower() for t in line.split(delim)]


def _looks_like_header(tokens: list[str]) -> bool:
    return set(REQUIRED_COLUMNS) <= set(tokens)


def _looks_like_names(tokens: list[str]) -> bool:
    """A first line of column names (a header whose names differ from the contract's):
    it names a contract column, or every field is a name (letters first, no digit in the
    field where a data row has its time)."""
    if set(tokens) & set(CONTRACT_COLUMNS):
        return True
    names = all(_NAME.fullmatch(t) for t in tokens if t)
    return len(tokens) >= len(REQUIRED_COLUMNS) and names


def _sniff(f: DataFile, files: Files, ingest: IngestConfig) -> tuple | None:
    """The group key of one file (how it is read); None for an empty text file. Opens the
    file once: its footer for Parquet, its first ``ingest.sniff_head_bytes`` otherwise (a
    Parquet file without the extension: head, then footer)."""
    kind = _format_by_name(f, ingest)
    if kind == "parquet":
        return ("parquet", ",", (), None, files.parquet_schema(f.location))
    if f.size == 0:
        return None  # an empty file holds no rows
    head = files.head(f.location, ingest.sniff_head_bytes, size=f.size)
    if kind is None and head.startswith(storage.PARQUET_MAGIC):
        return ("parquet", ",", (), None, files.parquet_schema(f.location))
    first = _first_line(f, head, files, ingest.sniff_head_bytes)
    delim = _delimiter(f, first, ingest)
    tokens = _split_simple(first, delim)
    has_header = {"true": True, "false": False}.get(ingest.csv_header,
                                                     _looks_like_header(tokens))
    if ingest.csv_header == "auto" and not has_header and _looks_like_names(tokens):
        has_header = True  # a renamed header: an error below, never read as data
    if has_header:
        missing = [c for c in REQUIRED_COLUMNS if c not in tokens]
        if missing:
            raise InputError(f"{f.location!r}: header {first!r} lacks {missing}")
        return ("text", delim, tuple(tokens), first, None)
    return ("text", delim, tuple(ingest.headerless_columns), None, None)


def _sniff_or_error(f: DataFile, files: Files,
                    ingest: IngestConfig) -> tuple | None | InputError:
    try:
        return _sniff(f, files, ingest)
    except InputError as exc:
        return exc


def plan_sources(folder: str | Path, ingest: IngestConfig,
                 files: Files | None = None,
                 unreadable: dict[str, str] | None = None) -> list[SourceGroup]:
    """Group the day folder's files by how they are read (driver side; reads only the
    head of each text file and the footer of each Parquet file).

    ``folder`` is a local path or a URI; ``files`` the storage to look in
    (:func:`mobsig.io.storage.files_for`; default: the local disk). The folder is listed
    once (one ``listStatus`` per folder on Hadoop). Each file is then opened once (a
    file named ``.parquet``: its footer; any other: its first ``ingest.sniff_head_bytes``,
    which give Parquet and gzip magic, delimiter and header - read on only when the first
    line is longer), ``ingest.sniff_threads`` files at a time. A missing folder or one
    without data files is an InputError; so is a header that lacks a required column, an
    unreadable Parquet file or a gzip file not named ``.gz``: the first bad file in sorted
    order is named, with the number of bad files. Parquet files are grouped by schema (each
    file's event_time type may differ), text files by delimiter and header. The plan does
    not depend on the number of threads: groups and their files are in sorted order.

    With ``unreadable`` (a dict) and ``ingest.on_corrupt_file = quarantine``, a file whose
    head cannot be read (corrupt or truncated compression, an I/O error) is left out of the
    plan and put into ``unreadable`` (location -> the error) instead of failing.

    Footers are read even when every file is named ``.parquet``: Spark reads files of
    different schemas together only when the types agree (a bigint and a string
    event_time fail the read), and it drops from ``raw_text`` the columns missing in the one
    file it takes the schema from.
    """
    files = files if files is not None else storage.LocalFiles()
    if files.kind(folder) != storage.DIR:
        raise InputError(f"day folder {str(folder)!r} does not exist")
    found = files.data_files(folder)
    if not found:
        raise InputError(f"day folder {str(folder)!r} holds no data files")
    start = time.monotonic()
    threads = min(ingest.sniff_threads, len(found))
    if threads <= 1:
        keys = [_sniff_or_error(f, files, ingest) for f in found]
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="mobsig-sniff") as pool:
            keys = list(pool.map(lambda f: _sniff_or_error(f, files, ingest), found))
    log.info("planned %d files of %s in %.2f s (%d threads)", len(found), folder,
             time.monotonic() - start, threads)
    if unreadable is not None and ingest.on_corrupt_file == "quarantine":
        for i, (f, k) in enumerate(zip(found, keys, strict=True)):
            if isinstance(k, InputError) and ": cannot read:" in str(k):
                unreadable[f.location] = str(k)
                keys[i] = None
    bad = [(f, k) for f, k in zip(found, keys, strict=True) if isinstance(k, InputError)]
    if len(bad) == 1:
        raise bad[0][1]
    if bad:
        others = ", ".join(repr(f.name) for f, _ in bad[1:6]) + (", ..." if len(bad) > 6
                                                                  else "")
        raise InputError(f"{bad[0][1]} [{len(bad)} of {len(found)} files in the day folder "
                         f"are bad; the others: {others}]")
    groups: dict[tuple, list[str]] = {}
    for f, key in zip(found, keys, strict=True):
        if key is not None:
            groups.setdefault(key, []).append(f.location)
    if not groups and unreadable:
        raise InputError(f"every raw file of day folder {str(folder)!r} is corrupt or "
                         f"empty: {sorted(unreadable)}")
    if not groups:
        raise InputError(f"day folder {str(folder)!r} holds only empty files")
    return [SourceGroup(kind=k[0], files=tuple(v), delimiter=k[1], columns=k[2], header=k[3],
                        nanos=nanos_columns(k[4]))
            for k, v in sorted(groups.items(), key=lambda kv: kv[1][0])]


# --------------------------------------------------------------------------------------
# reading


_RELATIVE = re.compile(r"(dt=[^/]+/.*)$")
# characters a file's URI keeps as they are (Spark's _metadata.file_path is the URI)
_URI_PLAIN = re.compile(r"[A-Za-z0-9._=/-]+")


def _source_file(files: tuple[str, ...] = ()) -> F.Column:
    """The file path relative to the raw-events root (``dt=YYYY-MM-DD/part-0.csv.gz``).

    When every one of ``files`` sits in the same folder under ``dt=...`` and its relative
    path is plain (letters, digits, ``._=/-``: the URI spells it the same), that folder as
    a literal and the file's name (a constant of each file): a regular expression over
    each row's URI cost ~4 s of wall per 10^7 rows on 2 cores (README Benchmark). Any
    other layout, and no ``files``: the expression over the URI (the same text)."""
    rel = [m.group(1) if (m := _RELATIVE.search(f)) else None for f in files]
    folders = {r.rsplit("/", 1)[0] for r in rel if r}
    if rel and all(r and _URI_PLAIN.fullmatch(r) for r in rel) and len(folders) == 1:
        return F.concat(F.lit(folders.pop() + "/"), F.col("_metadata.file_name"))
    return F.regexp_extract(F.col("_metadata.file_path"), _RELATIVE.pattern, 1)


def _quoted_fields(line: F.Column, delimiter: str) -> F.Column:
    """The fields of a line holding a quote: split on the delimiters outside quotes; a
    quoted field loses its quotes and its doubled quotes become one, any other field is
    trimmed of spaces."""
    d = re.escape(delimiter)
    split = F.split(line, f'{d}(?=(?:[^"]*"[^"]*")*[^"]*$)', -1)
    return F.transform(split, lambda f: F.when(
        f.rlike(r'^\s*".*"\s*$'),
        F.regexp_replace(F.regexp_extract(f, r'^\s*"(.*)"\s*$', 1), '""', '"'))
        .otherwise(F.trim(f)))


def _line_fields(line: F.Column, delimiter: str) -> F.Column:
    """The fields of a line (array of strings, untrimmed for a line without a quote).

    A line without a quote, nearly every line, is split on the delimiter (a one-character
    split, no regex engine, no per-field lambda); only a line holding a quote character
    goes through :func:`_quoted_fields`. The choice is per line, not per file, so a quote
    far into a file (Spark's CSV writer quotes an empty string as ``""``) is understood.
    The two agree on every line without a quote once fields are trimmed (tested)."""
    return F.when(line.contains('"'), _quoted_fields(line, delimiter)).otherwise(
        F.split(line, re.escape(delimiter), -1))


def _read_text(spark: SparkSession, g: SourceGroup) -> DataFrame:
    """Delimited text files of one delimiter and header, one row per line.

    Read with Spark's text reader (Hadoop line reader: ``\\n``, ``\\r\\n`` and a lone
    ``\\r`` end a line and are never part of it; gzip by the ``.gz`` extension), not its CSV
    reader: the CSV reader drops blank and whitespace-only lines before parsing (a blank
    line is a ``malformed_row`` here; a TSV line of tabs only is a row of empty fields),
    and rebuilding each line from its parsed fields for ``raw_text`` is slower than this
    split (README, Benchmark)."""
    log.info("reading %d text files (delimiter %r, %s)", len(g.files), g.delimiter,
             "header dropped" if g.header is not None else "no header")
    lines = spark.read.text(list(g.files)).select(
        F.col("value").alias("line"), _source_file(g.files).alias(C.SOURCE_FILE))
    copy = F.lit(False)
    if g.header is not None:
        lines, copy = _drop_first_header(lines, g.header)
    parsed = lines.select("line", C.SOURCE_FILE, copy.alias(C.IS_HEADER_COPY),
                          _line_fields(F.col("line"), g.delimiter).alias("_f"))
    pos = {c: i for i, c in enumerate(g.columns)}

    def field(c: str) -> F.Column:
        if c not in pos:
            return F.lit(None).cast("string")
        return F.trim(F.get(F.col("_f"), pos[c]))

    def optional(c: str) -> F.Column:
        v = field(c)
        return F.when(v == "", None).otherwise(v)

    return parsed.select(
        field(C.USER_ID).alias(C.USER_ID),
        field(C.EVENT_TIME).alias(C.EVENT_TIME_RAW),
        F.lit(None).cast("timestamp").alias(C.EVENT_TIME_IN),
        optional(C.END_TIME).alias(C.END_TIME_RAW),
        F.lit(None).cast("timestamp").alias(C.END_TIME_IN),
        field(C.CELL_ID).alias(C.CELL_ID),
        optional(C.EVENT_TYPE).alias(C.EVENT_TYPE),
        optional(C.IMEI_TAC).alias(C.IMEI_TAC),
        optional(C.HOME_REGION).alias(C.HOME_REGION),
        F.col("line").alias(C.RAW_TEXT),
        F.col(C.SOURCE_FILE),
        (F.size("_f") == len(g.columns)).alias(C.IS_WELLFORMED),
        F.col(C.IS_HEADER_COPY))


def _drop_first_header(lines: DataFrame, header: str) -> tuple[DataFrame, F.Column]:
    """Drop each file's header line (its first line, which the plan read) and mark any
    other line equal to it (a header copied mid-file, e.g. files concatenated): those are
    rows, quarantined as ``repeated_header``, never dropped uncounted.

    The first header line of a file is the one with the smallest
    ``monotonically_increasing_id`` among its header lines (ids grow along a split; the
    file's first split starts at byte 0). The header lines are few: their per-file minimum
    is a small broadcast aggregate (it reads the files once more, lines equal to the
    header only)."""
    is_header = F.col("line") == F.lit(header)
    ided = lines.withColumn("_line_id", F.monotonically_increasing_id())
    first = (ided.where(is_header).groupBy(C.SOURCE_FILE)
             .agg(F.min("_line_id").alias("_first_id")))
    kept = (ided.join(F.broadcast(first), C.SOURCE_FILE, "left")
            .where(F.col("_first_id").isNull() | (F.col("_line_id") != F.col("_first_id"))))
    return kept.select("line", C.SOURCE_FILE), is_header


def _read_parquet(spark: SparkSession, g: SourceGroup) -> DataFrame:
    """Parquet files of one schema (:func:`plan_sources` groups them)."""
    files = list(g.files)
    tz = spark.conf.get("spark.sql.session.timeZone")
    if g.nanos:  # Spark cannot read TIMESTAMP(NANOS) otherwise (PARQUET_TYPE_ILLEGAL)
        spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    df = spark.read.parquet(*files)
    by_lower = {c.lower(): c for c in df.columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in by_lower]
    if missing:
        raise InputError(f"Parquet {files[0]!r}: required columns {missing} missing "
                         f"(has {df.columns})")

    def col(c: str) -> F.Column:
        return F.col(f"`{by_lower[c]}`") if c in by_lower else F.lit(None)

    def times(c: str) -> tuple[F.Column, F.Column]:
        """(as text, typed or null) of a time column: a timestamp, epoch ms or text."""
        if c not in by_lower:
            return F.lit(None).cast("string"), F.lit(None).cast("timestamp")
        kind = df.schema[by_lower[c]].dataType.typeName()
        raw = col(c)
        if kind == "date":  # no time of day: quarantined as date_only_time, not midnight
            return F.date_format(raw, "yyyy-MM-dd"), F.lit(None).cast("timestamp")
        if kind in ("timestamp", "timestamp_ntz"):
            typed = raw.cast("timestamp")
            return F.date_format(typed, "yyyy-MM-dd HH:mm:ss.SSS"), typed
        if c in g.nanos:  # read as a long (spark.sql.legacy.parquet.nanosAsLong)
            instant = F.timestamp_micros(F.floor(raw / 1000).cast("long"))
            if not g.nanos[c]:  # naive (pandas' default): wall-clock time in run.timezone
                instant = F.to_utc_timestamp(instant, tz)
            return F.date_format(instant, "yyyy-MM-dd HH:mm:ss.SSS"), instant
        if kind in ("long", "integer", "short", "decimal"):
            return raw.cast("string"), F.timestamp_millis(raw.cast("long"))
        return raw.cast("string"), F.lit(None).cast("timestamp")

    raw_str, typed = times(C.EVENT_TIME)
    end_str, end_typed = times(C.END_TIME)

    def s(c: str, blank_null: bool = False) -> F.Column:
        v = F.trim(col(c).cast("string"))
        return F.when(v == "", None).otherwise(v) if blank_null else v

    return df.select(
        s(C.USER_ID).alias(C.USER_ID),
        raw_str.alias(C.EVENT_TIME_RAW),
        typed.alias(C.EVENT_TIME_IN),
        F.when(F.trim(end_str) != "", end_str).alias(C.END_TIME_RAW),
        end_typed.alias(C.END_TIME_IN),
        s(C.CELL_ID).alias(C.CELL_ID),
        s(C.EVENT_TYPE, True).alias(C.EVENT_TYPE),
        s(C.IMEI_TAC, True).alias(C.IMEI_TAC),
        s(C.HOME_REGION, True).alias(C.HOME_REGION),
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])).alias(C.RAW_TEXT),
        _source_file(g.files).alias(C.SOURCE_FILE),
        F.lit(True).alias(C.IS_WELLFORMED),
        F.lit(False).alias(C.IS_HEADER_COPY))


def read_sources(spark: SparkSession, groups: list[SourceGroup]) -> DataFrame:
    """One frame of every raw row of the day, as delivered.

    Columns: ``user_id``, ``event_time_raw`` (string), ``event_time_in`` (timestamp when
    Parquet delivered a typed time, else null), ``end_time_raw`` and ``end_time_in`` (the
    same for the optional ``end_time`` of session records; null without one), ``cell_id``,
    ``event_type``, ``imei_tac``, ``home_region`` (strings; blank optional fields null),
    ``raw_text`` (the line, or the Parquet row as JSON), ``source_file`` (relative to the
    raw root), ``is_wellformed`` (false when a line has the wrong number of fields). One
    row per data line/row: header lines are dropped, blank lines are rows (malformed).
    """
    frames = [_read_parquet(spark, g) if g.kind == "parquet" else _read_text(spark, g)
              for g in groups]
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out
