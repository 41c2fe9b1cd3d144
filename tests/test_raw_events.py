"""The raw-events text reader: the per-line split gives exactly the frame of the former
reader (every line through the quote-aware split), on every awkward line; blank lines stay
rows; why Spark's CSV reader is not used; and an ingest_events run writes the same bronze
and quarantine through either reader."""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import IngestConfig
from mobsig.io import raw_events
from mobsig.io.raw_events import plan_sources, read_sources
from tests.conftest import make_config

DAY = dt.date(2026, 6, 1)
UID = "u" * 20
T = "2026-06-01 08:00:00"
HEADER = "user_id,event_time,cell_id,event_type,imei_tac,home_region"


# --------------------------------------------------------------------------------------
# the former reader, frozen (every line through the quote-aware split and a per-field
# lambda): the reference the reader must match row for row


def _read_text_before(spark, g: raw_events.SourceGroup) -> DataFrame:
    lines = spark.read.text(list(g.files)).select(
        F.regexp_replace("value", r"\r$", "").alias("line"),
        raw_events._source_file().alias(C.SOURCE_FILE))
    copy = F.lit(False)
    if g.header is not None:  # since issue 17: only each file's first line is dropped
        lines, copy = raw_events._drop_first_header(lines, g.header)
    lines = lines.withColumn(C.IS_HEADER_COPY, copy)
    d = re.escape(g.delimiter)
    quoted_split = F.split(F.col("line"), f'{d}(?=(?:[^"]*"[^"]*")*[^"]*$)', -1)
    plain_split = F.split(F.col("line"), d, -1)
    fields = F.when(F.instr("line", '"') > 0, quoted_split).otherwise(plain_split)
    unq = F.transform(fields, lambda f: F.when(
        f.rlike(r'^\s*".*"\s*$'),
        F.regexp_replace(F.regexp_extract(f, r'^\s*"(.*)"\s*$', 1), '""', '"'))
        .otherwise(F.trim(f)))
    parsed = lines.select("line", C.SOURCE_FILE, C.IS_HEADER_COPY, unq.alias("_f"))
    pos = {c: i for i, c in enumerate(g.columns)}

    def field(c):
        if c not in pos:
            return F.lit(None).cast("string")
        return F.trim(F.get(F.col("_f"), pos[c]))

    def optional(c):
        v = field(c)
        return F.when(v == "", None).otherwise(v)

    return parsed.select(
        field(C.USER_ID).alias(C.USER_ID),
        field(C.EVENT_TIME).alias(C.EVENT_TIME_RAW),
        F.lit(None).cast("timestamp").alias(C.EVENT_TIME_IN),
        # session records' end (added since; the former reader had none: same columns)
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


def _read_sources_before(spark, groups) -> DataFrame:
    frames = [raw_events._read_parquet(spark, g) if g.kind == "parquet"
              else _read_text_before(spark, g) for g in groups]
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


# --------------------------------------------------------------------------------------
# a day of awkward lines in every text form

LINES = [  # comma-separated data lines (no header), each an edge case
    f"{UID},{T},c1,call,1,2",  # good
    f"{UID},{T},c1,,,",  # empty optional fields
    f"{UID},{T},c1,call,1,",  # trailing delimiter closing an empty last field
    f"{UID},{T},c1,call",  # too few fields
    f"{UID},{T},c1,call,1,2,extra",  # too many
    f"{UID},{T},c1,call,1,2,",  # too many by a trailing delimiter
    "",  # empty line
    "   ",  # blank line
    ",,,,,",  # delimiters only: six empty fields
    f" {UID} , {T} , c1 ,call , 1,2 ",  # spaces around fields
    f"{UID},{T},c1,ca\tll,1,2",  # a tab inside a CSV field
    f"{UID},{T},基站-1,通话,1,成都",  # unicode
    f"{UID},{T},c\\1,call\\,1,2",  # backslashes
    f"{UID},{T},c\x001,call,1,2",  # a NUL character
    f"{UID},{T},c1,ca\"ll,1,2",  # a lone quote inside a field
    f"\"{UID},{T},c1,call,1,2",  # a lone quote opening the line
    f"{UID},{T},c1,call,1,2\"",  # a lone quote closing the line
    f"{UID},{T},c1,call,1,2",  # good, after the lone quotes: a line of its own
    f'"{UID}","{T}","c1","call, with comma","1","2"',  # quoted, delimiter inside
    f'{UID},{T},c1,"say ""hi""",1,2',  # doubled quotes
    f'"",{T},c1,call,1,2',  # an empty quoted user id (Spark's CSV writer)
    f'{UID}, "{T}" ,c1,call,1,2',  # a quoted field with spaces outside the quotes
    f"{UID},{T}, ,call,1,2",  # a blank cell id
    f"{UID},2026-06-31 12:00:00,c1,call,1,2",  # no such day
    HEADER,  # the header again, inside the data: a row (repeated_header) where the file
    # has that header, data (undersized_user_id) where it has none
]


def _gz(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode("utf-8")))


@pytest.fixture
def awkward_day(tmp_path) -> Path:
    day = tmp_path / "raw" / f"dt={DAY.isoformat()}"
    day.mkdir(parents=True)
    body = "\n".join(LINES) + "\n"
    (day / "a.csv").write_text(HEADER + "\n" + body, encoding="utf-8")
    _gz(day / "b.csv.gz", body)  # gzip, no header
    tsv_header = "event_time\tuser_id\tcell_id"  # TSV, another column order
    tsv = [f"{T}\t{UID}\tc1", "\t\t", "\t", "", f"{T}\t{UID}", f"{T}\t{UID}\tc1\tx",
           f'{T}\t"{UID}"\tc1', f"{T}\t{UID}\tc1,c2", f"{T}\t{UID}\t\"c1"]
    (day / "c.tsv").write_text(tsv_header + "\n" + "\n".join(tsv) + "\n", encoding="utf-8")
    _gz(day / "d.tsv.gz", "\ufeff" + tsv_header + "\r\n" + "\r\n".join(tsv) + "\r\n"
        + f"{T}\t{UID}\tc1\r{T}\t{UID}\tc3\r")  # BOM, CRLF and lone CR line ends
    (day / "e.csv").write_bytes(HEADER.encode() + b"\n" + f"{UID},{T},c1,call,1,".encode()
                                + b"\xff\xfe\n" + f"{UID},{T},c1,call,1,2".encode())
    # a quote only far beyond the sniffed head (64 KiB): the choice is per line
    good = f"{UID},{T},c1,call,1,2\n" * 3000
    (day / "f.csv").write_text(HEADER + "\n" + good + f'"",{T},c1,call,1,2\n'
                               + f"{UID},{T},c1,ca\"ll,1,2\n" + good, encoding="utf-8")
    return day


def _rows(df: DataFrame) -> list[tuple]:
    return sorted((tuple(r) for r in df.collect()), key=repr)


def test_reader_gives_the_frame_of_the_former_reader(spark, awkward_day):
    groups = plan_sources(awkward_day, IngestConfig())
    assert {(g.kind, g.delimiter, g.header is not None) for g in groups} == {
        ("text", ",", True), ("text", ",", False), ("text", "\t", True)}
    new, old = read_sources(spark, groups), _read_sources_before(spark, groups)
    assert new.schema == old.schema
    got = _rows(new)
    assert got == _rows(old)
    assert len(got) == 2 * len(LINES) + 9 + 11 + 2 + 6002


def test_awkward_lines_are_read_as_rows(spark, awkward_day):
    raw = read_sources(spark, plan_sources(awkward_day, IngestConfig()))
    rows = raw.where(F.col(C.SOURCE_FILE) == f"dt={DAY.isoformat()}/a.csv").collect()
    by_text = {r[C.RAW_TEXT]: r for r in rows}
    assert [r[C.RAW_TEXT] for r in rows] == LINES  # each line once, in order, as is
    assert [r[C.IS_HEADER_COPY] for r in rows] == [False] * (len(LINES) - 1) + [True]
    ok = {r[C.RAW_TEXT] for r in rows if r[C.IS_WELLFORMED]}
    # wrong field count: too few, too many, empty, blank; a lone quote hides the
    # delimiters before it (the quote-aware split), so those lines count fewer fields...
    assert set(LINES[:-1]) - ok == {LINES[i] for i in (3, 4, 5, 6, 7, 14, 16)}
    # ...unless no delimiter comes before it: the quote stays in the field
    assert by_text[LINES[15]][C.USER_ID] == '"' + UID
    empty = by_text[LINES[1]]
    assert (empty[C.EVENT_TYPE], empty[C.IMEI_TAC], empty[C.HOME_REGION]) == (None,) * 3
    assert by_text[LINES[8]][C.USER_ID] == "" and by_text[LINES[8]][C.CELL_ID] == ""
    spaced = by_text[LINES[9]]
    assert (spaced[C.USER_ID], spaced[C.EVENT_TIME_RAW], spaced[C.CELL_ID]) == (UID, T, "c1")
    assert by_text[LINES[10]][C.EVENT_TYPE] == "ca\tll"
    assert by_text[LINES[11]][C.HOME_REGION] == "成都"
    assert by_text[LINES[13]][C.CELL_ID] == "c\x001"
    assert by_text[LINES[18]][C.EVENT_TYPE] == "call, with comma"
    assert by_text[LINES[19]][C.EVENT_TYPE] == 'say "hi"'
    assert by_text[LINES[20]][C.USER_ID] == ""
    assert by_text[LINES[21]][C.EVENT_TIME_RAW] == T
    # past the sniffed head: the quoted empty user id is empty, the lone quote malformed
    far = raw.where(F.col(C.SOURCE_FILE).endswith("f.csv") & F.col(C.RAW_TEXT).contains('"'))
    assert sorted((r[C.USER_ID], r[C.IS_WELLFORMED]) for r in far.collect()) == [
        ("", True), (f"{UID},{T},c1,ca\"ll", False)]
    tsv = raw.where(F.col(C.SOURCE_FILE).endswith("c.tsv")).collect()
    tabs = [r for r in tsv if r[C.RAW_TEXT] == "\t\t"]
    assert len(tabs) == 1 and tabs[0][C.IS_WELLFORMED] and tabs[0][C.USER_ID] == ""
    assert [r[C.IS_WELLFORMED] for r in tsv] == [True, True, False, False, False, False,
                                                 True, True, False]
    crlf = raw.where(F.col(C.SOURCE_FILE).endswith("d.tsv.gz")).collect()
    assert len(crlf) == 11 and not any("\r" in r[C.RAW_TEXT] for r in crlf)
    assert [r[C.CELL_ID] for r in crlf[-2:]] == ["c1", "c3"]


def test_source_file_is_the_relative_path_in_every_layout(spark, tmp_path):
    """source_file is the path below the raw root, as the file's URI spells it: from the
    folder and each file's name when every file of a group sits in one folder with a plain
    name, else from each row's URI (a subfolder beside the day's files, a space in a name);
    both give what the expression over the URI gives."""
    head = HEADER + "\n" + f"{UID},{T},c1,call,1,2\n"
    plain = tmp_path / "raw" / "dt=2026-06-01"
    mixed = tmp_path / "raw" / "dt=2026-06-02"
    for d in (plain, mixed / "sub"):
        d.mkdir(parents=True)
        (d / "a.csv").write_text(head, encoding="utf-8")
    (plain / "part-00001_x=1.csv").write_text(head, encoding="utf-8")
    (mixed / "b c.csv").write_text(head, encoding="utf-8")

    def files(day):
        groups = plan_sources(day, IngestConfig())
        read = read_sources(spark, groups)
        by_uri = spark.read.text([f for g in groups for f in g.files]).select(
            raw_events._source_file().alias("uri")).distinct()  # the former expression
        return (sorted({r[C.SOURCE_FILE] for r in read.collect()}),
                sorted(r.uri for r in by_uri.collect()))

    got, by_uri = files(plain)
    assert got == by_uri == ["dt=2026-06-01/a.csv", "dt=2026-06-01/part-00001_x=1.csv"]
    got, by_uri = files(mixed)
    assert got == by_uri == ["dt=2026-06-02/b%20c.csv", "dt=2026-06-02/sub/a.csv"]


def test_spark_csv_reader_would_drop_blank_lines(spark, tmp_path):
    """Why the reader splits text lines itself: Spark's CSV reader skips blank and
    whitespace-only lines before parsing (quotes off, PERMISSIVE), so a blank line would
    vanish from the reconciliation and a TSV row of empty fields would be lost."""
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\tc\n\n   \n\t\t\nd\te\tf\n", encoding="utf-8")
    csv = (spark.read.schema("a string, b string, c string, _bad string")
           .options(sep="\t", quote="", escape="", mode="PERMISSIVE",
                    columnNameOfCorruptRecord="_bad").csv(str(path)))
    assert csv.count() == 2
    assert spark.read.text(str(path)).count() == 5


# --------------------------------------------------------------------------------------
# the job: same tables through either reader


def _cells(spark, catalog) -> None:
    rows = [(cid, None, None, 104.0, 30.0, 104.0, 30.0, "wgs84", None, 800.0, "4g", False,
             0.0, 0.0, 2000.0, 104.0, 30.0, region, region, b"\x00")
            for cid, region in (("c1", "510104"), ("c3", "510105"))]
    catalog.write(spark.createDataFrame(rows, catalog.schema("cells").struct), "cells", {})


@pytest.mark.job
def test_ingest_events_writes_the_same_tables_as_with_the_former_reader(
        spark, tmp_path, awkward_day, monkeypatch):
    from mobsig.io.catalog import Catalog
    from mobsig.runner import run

    cfg = make_config(tmp_path, paths={"raw_events": str(tmp_path / "raw")},
                      ingest={"max_quarantine_share": 1.0, "min_known_cell_share": 0.0})
    catalog = Catalog(spark, cfg.warehouse)
    _cells(spark, catalog)

    def tables():
        return [_rows(catalog.read(t)) for t in ("events_bronze", "events_quarantine")]

    new = run(spark, cfg, "ingest_events", day=DAY)
    new_tables = tables()
    from mobsig import feed  # the job reads the day through feed.classify_day

    monkeypatch.setattr(feed, "read_sources", _read_sources_before)
    old = run(spark, cfg, "ingest_events", day=DAY)
    assert tables() == new_tables
    assert (new.input_rows, new.output_rows, new.removed) == (
        old.input_rows, old.output_rows, old.removed)
    bronze, quarantine = new_tables
    assert len(bronze) > 6000 and len(quarantine) > 40
    reasons = {r: n for r, n in new.removed.items() if n}
    # the header line in the headerless gzip file is data: an undersized user id; in a.csv
    # a repeated_header; e.csv's bytes that are not UTF-8: invalid_encoding; a user id
    # opening with a lone quote: bad_user_id_chars
    assert set(reasons) == {"repeated_header", "malformed_row", "invalid_encoding",
                            "empty_user_id", "undersized_user_id", "bad_user_id_chars",
                            "empty_cell_id", "unparseable_time", "unknown_cell"}, reasons


@pytest.mark.job
def test_ingest_events_on_a_truncated_gzip_is_an_input_error(spark, tmp_path):
    """A truncated gzip file fails the run with an InputError (exit 4) naming the file,
    not a Java trace; nothing is written."""
    from mobsig.errors import InputError
    from mobsig.io.catalog import Catalog
    from mobsig.runner import run

    day = tmp_path / "raw" / f"dt={DAY.isoformat()}"
    day.mkdir(parents=True)
    body = "".join(f"{UID},{T},c1,call,1,2\n" for _ in range(4000))
    data = gzip.compress((HEADER + "\n" + body).encode())
    (day / "part-7.csv.gz").write_bytes(data[: len(data) // 2])
    cfg = make_config(tmp_path, paths={"raw_events": str(tmp_path / "raw")})
    catalog = Catalog(spark, cfg.warehouse)
    _cells(spark, catalog)
    with pytest.raises(InputError, match=r"ingest_events dt=2026-06-01: .*part-7\.csv\.gz is "
                       r"corrupt or truncated") as info:
        run(spark, cfg, "ingest_events", day=DAY)
    assert info.value.exit_code == 4
    assert not catalog.exists("events_bronze")


@pytest.mark.job
def test_a_corrupt_file_is_quarantined_and_the_day_goes_on_when_configured(spark, tmp_path):
    """ingest.on_corrupt_file = quarantine (issue 17 item 8): the day is ingested without
    its unreadable files (a truncated gzip, one that is not gzip at all), each becomes one
    quarantine row of reason corrupt_file naming it, the fact corrupt_files lists them and
    reconciliation holds (rows read = good rows + one per skipped file). A day of corrupt
    files only stays an InputError."""
    from mobsig.errors import InputError
    from mobsig.io.catalog import Catalog
    from mobsig.runner import run

    day = tmp_path / "raw" / f"dt={DAY.isoformat()}"
    day.mkdir(parents=True)
    good = "".join(f"{UID},2026-06-01 08:{m:02d}:00,c1,call,1,2\n" for m in range(50))
    (day / "part-0.csv.gz").write_bytes(gzip.compress((HEADER + "\n" + good).encode()))
    body = "".join(f"{UID},{T},c1,call,1,2\n" for _ in range(4000))
    data = gzip.compress((HEADER + "\n" + body).encode())
    (day / "part-7.csv.gz").write_bytes(data[: len(data) // 2])
    (day / "part-9.csv.gz").write_bytes(data[:10] + b"\x00" * 4000)  # a gzip header, junk
    cfg = make_config(tmp_path, paths={"raw_events": str(tmp_path / "raw")},
                      ingest={"on_corrupt_file": "quarantine"})
    catalog = Catalog(spark, cfg.warehouse)
    _cells(spark, catalog)
    res = run(spark, cfg, "ingest_events", day=DAY)
    skipped = [f"dt={DAY.isoformat()}/part-7.csv.gz", f"dt={DAY.isoformat()}/part-9.csv.gz"]
    assert res.facts["corrupt_files"] == skipped
    assert res.input_rows["raw_events"] == 50 + 2
    assert res.output_rows == {"events_bronze": 50, "events_quarantine": 2}
    assert catalog.read("events_bronze").count() == 50
    q = catalog.read("events_quarantine").select(C.REASON, C.SOURCE_FILE, C.RAW_TEXT).collect()
    assert sorted((r[0], r[1]) for r in q) == [("corrupt_file", f) for f in skipped]
    assert all(r[2].startswith("<file not read: corrupt or truncated>") for r in q)
    # the default still fails; so does a day with nothing readable
    with pytest.raises(InputError, match="part-9.csv.gz': cannot read"):
        run(spark, make_config(tmp_path, paths={"raw_events": str(tmp_path / "raw")}),
            "ingest_events", day=DAY)
    (day / "part-0.csv.gz").unlink()
    with pytest.raises(InputError, match="every raw file of 2026-06-01 is corrupt"):
        run(spark, cfg, "ingest_events", day=DAY)
