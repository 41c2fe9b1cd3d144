"""ingest_events: every input form, each reject reason, exact reconciliation, idempotence."""

from __future__ import annotations

import datetime as dt
import gzip
import random
import re
import threading
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from mobsig.cells import valid_on
from mobsig.config import IngestConfig
from mobsig.errors import InputError
from mobsig.ingest import REASONS, classify_events
from mobsig.io import storage
from mobsig.io.raw_events import plan_sources, read_sources
from mobsig.io.storage import LocalFiles
from mobsig.synth.signals import MALFORMED_REASONS
from tests.conftest import CITY_START, make_config
from tests.factories import same_rows

DAY1 = dt.date(2026, 6, 1)  # hand-built folders
CITY_A = CITY_START  # the city's first day
CITY_B = CITY_START + dt.timedelta(days=11)  # after the cell swap, antenna moves, retirements


@pytest.fixture(scope="module")
def ingested(chain):
    """Two ingested days of the city, from the shared pipeline run (conftest ``chain``)."""
    res, cfg, runs = chain
    days = {d: runs.of("ingest_events", d) for d in (CITY_A, CITY_B)}
    truth = pd.read_parquet(res.out / "truth/events",
                            columns=["user_id", "event_time", "cell_id", "event_type", "label",
                                     "dt"])
    truth["dt"] = truth["dt"].astype(str)
    return cfg, days, truth


def _table(spark, cfg, name, day):
    return spark.read.format("delta").load(str(cfg.warehouse / name)).where(F.col("dt") == day)


@pytest.mark.parametrize("day", [CITY_A, CITY_B])
def test_reconciliation_and_reasons_match_truth(spark, ingested, day):
    cfg, counts, truth = ingested
    t = truth[truth["dt"] == day.isoformat()]
    c = counts[day]
    assert c.input_rows["raw_events"] == len(t)
    accepted, quarantined = c.output_rows["events_bronze"], c.output_rows["events_quarantine"]
    assert accepted + quarantined == c.input_rows["raw_events"]
    malformed = t[t["label"].str.startswith("malformed:")]
    want = Counter(label.split(":", 1)[1] for label in malformed["label"])
    assert {k: v for k, v in c.removed.items() if v} == dict(want)
    q = _table(spark, cfg, "events_quarantine", day).toPandas()
    assert len(q) == len(malformed) and q["raw_text"].notna().all()
    # each rejected row is the truth row labelled with exactly that reason
    # (a heavy card's rows can share user, second and cell: compare label sets per key)
    key = ["user_id", "event_time", "cell_id"]
    labels = t.groupby(key)["label"].agg(frozenset).rename("labels").reset_index()
    m = q.merge(labels, left_on=["user_id", "event_time_raw", "cell_id"], right_on=key,
                how="left")
    assert len(m) == len(q) and m["labels"].notna().all()
    ok = [("malformed:" + r) in ls for r, ls in zip(m["reason"], m["labels"], strict=True)]
    assert all(ok), m.loc[[not o for o in ok], ["reason", "labels"]]
    assert q["source_file"].str.startswith(f"dt={day.isoformat()}/").all()
    # every other row (normal, ping-pong, drift, duplicate) is accepted, as delivered
    b = _table(spark, cfg, "events_bronze", day)
    assert b.count() == accepted == len(t) - len(malformed)
    good = t[~t["label"].str.startswith("malformed:")]
    got = Counter(tuple(r) for r in b.select("user_id", "cell_id", "event_type").collect())
    assert got == Counter(zip(good["user_id"], good["cell_id"], good["event_type"],
                              strict=True))
    bad_day = b.where(F.to_date("event_time") != F.lit(day)).count()
    assert bad_day == 0
    regions = {r[0] for r in b.select("region").distinct().collect()}
    # the main city's six districts and the satellite city's three counties
    assert regions and regions <= ({f"9901{i:02d}" for i in range(1, 7)}
                                   | {f"9902{i:02d}" for i in range(1, 4)})


def test_every_injected_reason_seen(ingested):
    _, counts, _ = ingested
    seen = {k for d in (CITY_A, CITY_B) for k, v in counts[d].removed.items() if v}
    assert seen == set(MALFORMED_REASONS)


def test_region_run_and_rerun_are_idempotent(spark, ingested):
    from delta.tables import DeltaTable

    from mobsig.runner import run

    cfg, _, _ = ingested
    bronze_path = str(cfg.warehouse / "events_bronze")
    q_path = str(cfg.warehouse / "events_quarantine")

    def version(path):
        return DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]

    def unchanged(path, since):  # every row of the table (all days) as at version `since`
        delta = spark.read.format("delta")
        return same_rows(delta.load(path), delta.option("versionAsOf", since).load(path))

    b_version, q_version = version(bronze_path), version(q_path)
    region = "990101"
    res = run(spark, cfg, "ingest_events", day=CITY_A, regions=[region])
    n_region = spark.read.format("delta").option("versionAsOf", b_version).load(
        bronze_path).where((F.col("region") == region) & (F.col("dt") == CITY_A)).count()
    assert res.output_rows["events_bronze"] == n_region > 0
    assert "events_quarantine" not in res.output_rows
    assert version(q_path) == q_version  # a regional run leaves the quarantine alone
    assert unchanged(bronze_path, b_version)
    run(spark, cfg, "ingest_events", day=CITY_A)
    assert unchanged(bronze_path, b_version)
    assert unchanged(q_path, q_version)


def test_same_rows_counts_duplicates_and_sees_one_changed_value(spark):
    """The multiset compare the idempotence tests rest on (tests.factories.same_rows)."""
    rows = [("a", 1, None), ("a", 1, None), ("b", 2, 3.5)]
    schema = "k string, n int, x double"
    a = spark.createDataFrame(rows, schema)
    assert same_rows(a, spark.createDataFrame(rows[::-1], schema))  # order does not matter
    assert not same_rows(a, spark.createDataFrame(rows[1:], schema))  # a duplicate less
    assert not same_rows(a, spark.createDataFrame([*rows[:2], ("b", 2, 3.25)], schema))
    assert not same_rows(a, spark.createDataFrame([("a", 1, None), ("b", 2, 3.5),
                                                   ("b", 2, 3.5)], schema))  # same set
    assert not same_rows(a, a.withColumnRenamed("x", "y"))


# --------------------------------------------------------------------------------------
# hand-built input forms and edge cases (no table writes)

UID = "u" * 20
UID2 = "v" * 20
HEADER = "user_id,event_time,cell_id,event_type,imei_tac,home_region"


@pytest.fixture
def cells_on_day(spark):
    cells = spark.createDataFrame(
        [("c1", None, None, "510104"), ("c2", None, dt.date(2026, 5, 31), "510105"),
         ("c3", dt.date(2026, 6, 1), None, "510105")],
        "cell_id string, valid_from date, valid_to date, region string")
    return valid_on(cells, DAY1)


def _classify(spark, folder: Path, cells_on_day, **ingest) -> pd.DataFrame:
    cfg = IngestConfig(**ingest)
    raw = read_sources(spark, plan_sources(folder, cfg))
    out = classify_events(raw, cells_on_day, DAY1, cfg)
    return out.select("user_id", "event_time", "cell_id", "event_type", "region", "reason",
                      "raw_text", "source_file").toPandas()


def test_every_input_form(spark, tmp_path, cells_on_day):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    (day / "a.csv").write_text(HEADER + "\n" + f"{UID},2026-06-01 08:00:00,c1,call,1,2\n")
    (day / "b.csv").write_text(f"{UID},2026-06-01 08:00:01.250,c3,sms,,\n")  # no header
    with gzip.open(day / "c.tsv.gz", "wt") as fh:
        fh.write("event_time\tcell_id\tuser_id\n2026-06-01 09:00:00\tc1\t" + UID + "\n")
    ms = int(dt.datetime(2026, 6, 1, 10, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
             .timestamp() * 1000)
    pq.write_table(pa.table({"user_id": [UID], "event_time": pa.array([ms], pa.int64()),
                             "cell_id": ["c1"], "extra": [1]}), day / "d.parquet")
    ts = dt.datetime(2026, 6, 1, 11, 0, 0)
    pq.write_table(pa.table({"USER_ID": [UID], "event_time": pa.array([ts], pa.timestamp("ms")),
                             "cell_id": ["c1"]}), day / "e.parquet")
    pq.write_table(pa.table({"user_id": [UID], "event_time": [str(ms)], "cell_id": ["c1"]}),
                   day / "f.parquet")
    (day / "_SUCCESS").write_text("")
    out = _classify(spark, day, cells_on_day).sort_values("source_file")
    assert out["reason"].isna().all(), out
    assert list(out["source_file"]) == [f"dt=2026-06-01/{n}" for n in
                                        ("a.csv", "b.csv", "c.tsv.gz", "d.parquet",
                                         "e.parquet", "f.parquet")]
    hours = [t.strftime("%H:%M:%S.%f") for t in out["event_time"]]
    assert hours == ["08:00:00.000000", "08:00:01.250000", "09:00:00.000000",
                     "10:00:00.000000", "11:00:00.000000", "10:00:00.000000"]
    assert list(out["region"]) == ["510104", "510105", "510104", "510104", "510104",
                                   "510104"]
    assert out["event_type"].iloc[1] == "sms"


def test_each_reason_on_hand_built_rows(spark, tmp_path, cells_on_day):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    rows = {
        f"{UID},2026-06-01 08:00:00,c1,call,1,2": None,
        f'"{UID}","2026-06-01 08:00:00","c1","call, with comma","1","2"': None,
        f"{UID},2026-06-01 08:00:00,c1,call": "malformed_row",
        f"{UID},2026-06-01 08:00:00,c1,call,1,2,extra": "malformed_row",
        "": "malformed_row",
        '"",2026-06-01 08:00:00,c1,call,1,2': "empty_user_id",
        "u" * 65 + ",2026-06-01 08:00:00,c1,call,1,2": "oversized_user_id",
        "short,2026-06-01 08:00:00,c1,call,1,2": "undersized_user_id",
        f"{UID},2026-06-01 08:00:00, ,call,1,2": "empty_cell_id",
        f"{UID},2026-06-31 12:00:00,c1,call,1,2": "unparseable_time",
        f"{UID},1e99,c1,call,1,2": "unparseable_time",
        f"{UID},2026-06-02 00:00:00,c1,call,1,2": "time_outside_day",
        f"{UID},2026-05-31 23:59:59.999,c1,call,1,2": "time_outside_day",
        f"{UID},2026-06-01 23:59:59.999,c2,call,1,2": "unknown_cell",  # retired on 05-31
        f"{UID2},2026-06-01 00:00:00,nope,call,1,2": "unknown_cell",
    }
    (day / "x.csv").write_text(HEADER + "\r\n" + "\r\n".join(rows) + "\r\n")
    out = _classify(spark, day, cells_on_day)
    assert len(out) == len(rows)
    got = dict(zip(out["raw_text"], out["reason"], strict=True))
    assert {k: (None if pd.isna(v) else v) for k, v in got.items()} == rows
    # bad_end_time needs an end_time column: test_session_records; bad bytes, raw ids,
    # typed dates and header copies: the tests of issue 17 below; corrupt_file (a whole
    # file): tests/test_raw_events.py
    assert set(rows.values()) - {None} == set(REASONS) - {
        "corrupt_file", "bad_end_time", "repeated_header", "invalid_encoding", "oversized_row",
        "raw_identifier", "bad_user_id_chars", "oversized_field", "date_only_time"}
    quoted = out[out["event_type"] == "call, with comma"]
    assert len(quoted) == 1 and quoted["user_id"].iloc[0] == UID


def test_session_records_become_two_events(spark, tmp_path, cells_on_day):
    """A feed with end_time: each row is a session at one cell; its start and its end
    are events (an end equal to the start or past midnight adds none; an unparseable end
    or one before the start quarantines the row), from CSV and from typed Parquet."""
    from mobsig.ingest import accepted_events

    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    rows = {
        f"{UID},2026-06-01 08:00,2026-06-01 08:45,c1,data": None,
        f"{UID},2026-06-01 09:00,2026-06-01 09:00,c1,data": None,  # zero length
        f"{UID},2026-06-01 09:00,,c1,data": None,  # no end: one event
        f"{UID},2026-06-01 23:30,2026-06-02 01:00,c1,data": None,  # ends after midnight
        f"{UID},2026-06-01 10:00,2026-06-01 09:00,c1,data": "bad_end_time",
        f"{UID},2026-06-01 10:00,soon,c1,data": "bad_end_time",
    }
    (day / "s.csv").write_text("user_id,event_time,end_time,cell_id,event_type\n"
                               + "\n".join(rows) + "\n")
    t = [dt.datetime(2026, 6, 1, 12), dt.datetime(2026, 6, 1, 13, 30)]
    pq.write_table(pa.table({"user_id": [UID2], "event_time": pa.array(t[:1], pa.timestamp("ms")),
                             "end_time": pa.array(t[1:], pa.timestamp("ms")),
                             "cell_id": ["c3"]}), day / "p.parquet")
    cfg = IngestConfig()
    classified = classify_events(read_sources(spark, plan_sources(day, cfg)), cells_on_day,
                                 DAY1, cfg)
    out = classified.select("raw_text", "reason").toPandas()
    got = {k: (None if pd.isna(v) else v) for k, v in zip(out["raw_text"], out["reason"],
                                                           strict=True) if k in rows}
    assert got == rows
    events = accepted_events(classified, DAY1).toPandas()
    times = sorted((r.user_id, r.event_time.strftime("%H:%M"), r.event_type)
                   for r in events.itertuples())
    assert times == sorted([(UID, "08:00", "data"), (UID, "08:45", "data"),
                            (UID, "09:00", "data"), (UID, "09:00", "data"),
                            (UID, "23:30", "data"), (UID2, "12:00", None),
                            (UID2, "13:30", None)])


def test_event_time_fast_path_gives_the_formatters_instant(spark):
    """parse_event_time reads a text of TIME_PATTERN's exact shape with Spark's string to
    timestamp cast: on every such text, and on the shapes around it that only the
    formatter, the epoch rule or neither accepts, it gives what the formatter-only rule
    gives (the former parse_event_time, frozen here)."""
    from mobsig.ingest import _EPOCH_MS, MINUTE_PATTERN, TIME_PATTERN, parse_event_time

    def before(raw):
        text = F.trim(raw)
        epoch = F.when(text.rlike(_EPOCH_MS), F.timestamp_millis(text.try_cast("long")))
        return F.coalesce(epoch, F.try_to_timestamp(text, F.lit(TIME_PATTERN)),
                          F.try_to_timestamp(text, F.lit(MINUTE_PATTERN)))

    texts = ["2026-06-01 08:00:00", "2026-06-01 08:00:00.123", " 2026-06-01 23:59:59 ",
             "2026-06-01 00:00:00.000", "2024-02-29 12:00:00", "2026-02-29 12:00:00",
             "2026-06-31 12:00:00", "2026-13-01 12:00:00", "2026-06-01 24:00:00",
             "2026-06-01 23:60:00", "2026-06-01 23:59:60", "2026-06-01 08:00:00.1",
             "2026-06-01 08:00:00.12", "2026-06-01 08:00:00.1234", "2026-06-01T08:00:00",
             "2026-06-01 08:00", "2026-06-01", "2026-6-1 8:00:00", "2026-06-01 8:00:00",
             "+2026-06-01 08:00:00", "12026-06-01 08:00:00", "2026-06-01 08:00:00Z",
             "2026-06-01 08:00:00+08:00", "1780272000000", "1991-04-14 02:30:00",
             "1991-09-15 01:30:00", "", "soon", "２０２６-06-01 08:00:00"]
    df = spark.createDataFrame([(t,) for t in texts], "t string")
    new = parse_event_time(F.col("t"), F.lit(None).cast("timestamp"))
    got = df.select("t", new.alias("new"), before(F.col("t")).alias("old"),
                    F.date_format(new, "yyyy-MM-dd HH:mm:ss.SSS").alias("local")).collect()
    assert [(r.t, r.new) for r in got] == [(r.t, r.old) for r in got]
    local = {r.t: r.local for r in got}  # in the session's time zone (run.timezone)
    assert local["2026-06-01 08:00:00.123"] == "2026-06-01 08:00:00.123"
    assert local[" 2026-06-01 23:59:59 "] == "2026-06-01 23:59:59.000"
    assert local["2026-06-31 12:00:00"] is None and local["2026-06-01"] is None


def test_header_setting_false_reads_first_line_as_data(spark, tmp_path, cells_on_day):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    (day / "x.txt").write_text(f"{UID}\t2026-06-01 08:00:00\tc1\n")
    out = _classify(spark, day, cells_on_day, csv_header="false",
                    headerless_columns=["user_id", "event_time", "cell_id"])
    assert list(out["reason"].isna()) == [True]
    (day / "x.txt").write_text("a\tb\tc\n")
    with pytest.raises(InputError, match=r"header .* lacks \['user_id', 'event_time'"):
        plan_sources(day, IngestConfig(csv_header="true"))


@pytest.mark.job
def test_missing_or_empty_day_folder_is_an_error(spark, tmp_path):
    from mobsig.runner import run

    with pytest.raises(InputError, match="does not exist"):
        plan_sources(tmp_path / "dt=2026-06-01", IngestConfig())
    (tmp_path / "dt=2026-06-01").mkdir()
    (tmp_path / "dt=2026-06-01" / "_SUCCESS").write_text("")
    with pytest.raises(InputError, match="no data files"):
        plan_sources(tmp_path / "dt=2026-06-01", IngestConfig())
    (tmp_path / "dt=2026-06-01" / "empty.csv").write_text("")
    with pytest.raises(InputError, match="only empty files"):
        plan_sources(tmp_path / "dt=2026-06-01", IngestConfig())
    cfg = make_config(tmp_path, paths={"raw_events": str(tmp_path)})
    with pytest.raises(InputError, match="run `mobsig ingest_cells` first"):
        run(spark, cfg, "ingest_events", day=DAY1)


# --------------------------------------------------------------------------------------
# planning: one open per file, in parallel, same plan for any number of threads


class CountingFiles:
    """LocalFiles that counts, per file, every call that opens it (thread-safe)."""

    def __init__(self) -> None:
        self._files = LocalFiles()
        self._lock = threading.Lock()
        self.calls: Counter = Counter()

    def _note(self, what: str, location: str) -> None:
        with self._lock:
            self.calls[(Path(location).name, what)] += 1

    def opens(self, name: str) -> int:
        return sum(n for (f, _), n in self.calls.items() if f == name)

    def kind(self, location):
        return self._files.kind(location)

    def data_files(self, folder):
        return self._files.data_files(folder)

    def head(self, location, n, size=None):
        self._note("head", location)
        return self._files.head(location, n, size)

    def first_line(self, location):
        self._note("first_line", location)
        return self._files.first_line(location)

    def parquet_schema(self, location):
        self._note("parquet_schema", location)
        return self._files.parquet_schema(location)


def _gz(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()))


def _day(tmp_path: Path) -> Path:
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    return day


def _forms(day: Path) -> None:
    """Plain and gzip text with and without header, Parquet with and without extension."""
    row = f"{UID},2026-06-01 08:00:00,c1,call,1,2\n"
    (day / "a.csv").write_text(HEADER + "\n" + row)
    (day / "b.csv").write_text(row)
    _gz(day / "c.tsv.gz", "event_time\tcell_id\tuser_id\n2026-06-01 09:00:00\tc1\t" + UID
        + "\n")
    _gz(day / "d.csv.gz", row * 3)
    (day / "e.txt").write_text(row.replace(",", "\t"))
    (day / "part-00000").write_text(HEADER + "\r\n" + row)  # no extension: text by its bytes
    pq.write_table(pa.table({"user_id": [UID], "event_time": ["x"], "cell_id": ["c1"]}),
                   day / "f.parquet")
    pq.write_table(pa.table({"user_id": [UID], "event_time": ["x"], "cell_id": ["c1"]}),
                   day / "part-00001")  # Parquet without the extension
    (day / "empty.csv").write_text("")


def test_planning_opens_each_file_once(tmp_path, monkeypatch):
    day = _day(tmp_path)
    _forms(day)
    files = CountingFiles()
    opens: list[str] = []  # real opens of the local disk, whatever the method
    real_open, real_gzip_open = open, gzip.open
    monkeypatch.setattr(storage, "open", lambda p, *a, **k: (
        opens.append(Path(p).name), real_open(p, *a, **k))[1], raising=False)
    monkeypatch.setattr(storage.gzip, "open", lambda p, *a, **k: (
        opens.append(Path(p).name), real_gzip_open(p, *a, **k))[1])
    groups = plan_sources(day, IngestConfig(sniff_threads=4), files)
    opened = Counter(opens)
    for name in ("a.csv", "b.csv", "c.tsv.gz", "d.csv.gz", "e.txt", "part-00000"):
        assert files.calls[(name, "head")] == 1 and files.opens(name) == 1, (name, files.calls)
        assert opened[name] == 1, name
    assert files.opens("f.parquet") == files.calls[("f.parquet", "parquet_schema")] == 1
    # without an extension a Parquet file is known by its head, then its footer is read
    assert files.calls[("part-00001", "head")] == 1
    assert files.calls[("part-00001", "parquet_schema")] == 1
    assert files.opens("empty.csv") == 0 and opened["empty.csv"] == 0
    got = {(g.kind, g.delimiter, g.header, tuple(Path(f).name for f in g.files))
           for g in groups}
    assert got == {
        ("text", ",", HEADER, ("a.csv", "part-00000")),
        ("text", ",", None, ("b.csv", "d.csv.gz")),
        ("text", "\t", "event_time\tcell_id\tuser_id", ("c.tsv.gz",)),
        ("text", "\t", None, ("e.txt",)),
        ("parquet", ",", None, ("f.parquet", "part-00001")),
    }
    by_header = {g.header: g for g in groups}
    assert by_header["event_time\tcell_id\tuser_id"].columns == ("event_time", "cell_id",
                                                                 "user_id")


def test_plan_is_the_same_as_from_streamed_first_lines(tmp_path, monkeypatch):
    """The head-based plan equals the plan from each file's streamed first line."""
    day = _day(tmp_path)
    _forms(day)
    from_head = plan_sources(day, IngestConfig(), LocalFiles())
    from_small_head = plan_sources(day, IngestConfig(sniff_head_bytes=64), LocalFiles())
    monkeypatch.setattr(storage, "first_line_of", lambda *a, **k: None)  # never enough
    streamed = CountingFiles()
    from_stream = plan_sources(day, IngestConfig(), streamed)
    assert streamed.calls[("a.csv", "first_line")] == 1
    assert from_head == from_small_head == from_stream


def test_first_line_longer_than_the_head(tmp_path):
    day = _day(tmp_path)
    extra = [f"extra_column_{i:05d}" for i in range(5000)]  # a ~95 KB header
    long_header = ",".join([*HEADER.split(","), *extra])
    (day / "a.csv").write_text(long_header + "\n" + f"{UID},2026-06-01 08:00:00,c1\n")
    rng = random.Random(7)  # incompressible: the gzip head ends inside the first line
    noise = [f"x{rng.getrandbits(64):016x}" for _ in range(600)]
    gz_header = "\t".join(["user_id", "event_time", "cell_id", *noise])
    _gz(day / "b.tsv.gz", gz_header + "\n" + f"{UID}\t2026-06-01 08:00:00\tc1\n")
    (day / "c.csv").write_text(HEADER + "\n")  # short: no second read
    files = CountingFiles()
    groups = plan_sources(day, IngestConfig(sniff_head_bytes=4096), files)
    assert {g.header for g in groups} == {long_header, gz_header, HEADER}
    by_header = {g.header: g for g in groups}
    assert by_header[long_header].columns[-1] == "extra_column_04999"
    assert len(by_header[gz_header].columns) == 603
    assert files.calls[("a.csv", "first_line")] == files.calls[("b.tsv.gz", "first_line")] == 1
    assert files.opens("c.csv") == 1
    # the default 64 KiB head holds the gzip header line: one open
    files = CountingFiles()
    plan_sources(day, IngestConfig(), files)
    assert files.opens("b.tsv.gz") == 1 and files.opens("a.csv") == 2


def test_gzip_without_gz_name_is_detected(tmp_path):
    day = _day(tmp_path)
    (day / "a.csv").write_text(HEADER + "\n")
    (day / "b.csv").write_bytes(gzip.compress(b"a,b,c\n"))
    with pytest.raises(InputError, match=r"b.csv' is gzip-compressed but its name does not "
                                         r"end in .gz \(Spark"):
        plan_sources(day, IngestConfig())
    (day / "b.csv").unlink()
    (day / "part-00000").write_bytes(gzip.compress(HEADER.encode() + b"\n"))
    with pytest.raises(InputError, match="part-00000' is gzip-compressed"):
        plan_sources(day, IngestConfig())


@pytest.mark.parametrize("threads", [1, 8])
def test_several_bad_files_report_the_first_and_the_count(tmp_path, threads):
    day = _day(tmp_path)
    for i in range(20):
        (day / f"ok{i:02d}.csv").write_text(HEADER + "\n")
    (day / "x3.csv").write_bytes(gzip.compress(b"a\n"))  # gzip, not named .gz
    (day / "x1.csv").write_text("user_id,when,cell_id\n")  # header lacks event_time
    (day / "x2.parquet").write_bytes(b"PAR1 not really parquet")
    (day / "x4.csv.gz").write_bytes(b"plain text named .gz\n")
    with pytest.raises(InputError) as err:
        plan_sources(day, IngestConfig(sniff_threads=threads, csv_header="true"))
    msg = str(err.value)
    assert re.match(r"'.*x1.csv': header 'user_id,when,cell_id' lacks \['event_time'\] "
                    r"\[4 of 24 files in the day folder are bad; the others: 'x2.parquet', "
                    r"'x3.csv', 'x4.csv.gz'\]$", msg), msg
    for name in ("x1.csv", "x2.parquet", "x3.csv"):
        (day / name).unlink()
    with pytest.raises(InputError, match=r"^'.*x4.csv.gz': cannot read: not in gzip format$"):
        plan_sources(day, IngestConfig(sniff_threads=threads))


def _many_files(day: Path, n: int = 50) -> None:
    """Small files of every form in shuffled creation order (two Parquet schemas)."""
    rng = random.Random(3)
    for i in rng.sample(range(n), n):
        row = f"{UID},2026-06-01 08:00:{i % 60:02d},c1,call,1,2\n"
        form = i % 5
        if form == 0:
            (day / f"p{i:03d}.csv").write_text(HEADER + "\n" + row)
        elif form == 1:
            _gz(day / f"p{i:03d}.csv.gz", row)
        elif form == 2:
            _gz(day / "sub" / f"p{i:03d}.tsv.gz", "user_id\tcell_id\tevent_time\n"
                + f"{UID}\tc1\t2026-06-01 08:00:00\n")
        elif form == 3:
            (day / f"p{i:03d}.txt").write_text(row.replace(",", "\t"))
        else:
            et = pa.array([i], pa.int64()) if i % 2 else pa.array([str(i)])
            pq.write_table(pa.table({"user_id": [UID], "event_time": et, "cell_id": ["c1"]}),
                           day / f"p{i:03d}.parquet")


def test_threads_give_the_same_plan_as_sequential(tmp_path):
    day = _day(tmp_path)
    (day / "sub").mkdir()
    _many_files(day)
    files = CountingFiles()
    one = plan_sources(day, IngestConfig(sniff_threads=1), files)
    eight = plan_sources(day, IngestConfig(sniff_threads=8), files)
    assert eight == one
    assert all(n == 2 for n in files.calls.values())  # each file opened once per plan
    assert len(files.calls) == 50
    assert [len(g.files) for g in one] == [10, 10, 10, 5, 5, 10]
    assert [(g.kind, g.delimiter, g.header) for g in one] == [
        ("text", ",", HEADER), ("text", ",", None), ("text", "\t", None),
        ("parquet", ",", None), ("parquet", ",", None),
        ("text", "\t", "user_id\tcell_id\tevent_time")]
    for g in one:
        assert list(g.files) == sorted(g.files)
    assert sorted(f for g in one for f in g.files) == [f.location for f in
                                                       LocalFiles().data_files(day)]


@pytest.mark.parametrize("content", [
    b"user_id,event_time\nrow\n", b"user_id,event_time\r\nrow\r\n", b"one line, no end",
    b"a\rb\n", b"\xef\xbb\xbfuser_id,x\n", b"caf\xc3\xa9,\xff\xfe,x\n", b"\n\nrest", b"",
    ("x" * 300 + "\n").encode(), "中文,列\n".encode()])
@pytest.mark.parametrize("gz", [False, True])
def test_first_line_of_head_matches_the_streamed_first_line(tmp_path, content, gz):
    path = tmp_path / ("f.csv.gz" if gz else "f.csv")
    path.write_bytes(gzip.compress(content) if gz else content)
    want = LocalFiles().first_line(str(path))
    data = path.read_bytes()
    for n in (1, 2, 5, 11, 20, 64, 100, 4096):
        head = data[:n]
        got = storage.first_line_of(head, str(path), gz=gz, complete=len(head) == len(data))
        assert got is None or got == want, (n, got, want)
        if len(head) == len(data):
            assert got == want
    if gz:  # a second gzip member is read on when the first holds no line end
        two = gzip.compress(b"") + gzip.compress(content)
        assert storage.first_line_of(two, str(path), gz=True, complete=True) == want


def test_first_line_of_bad_gzip_is_an_input_error(tmp_path):
    data = gzip.compress(random.Random(1).randbytes(3000).hex().encode() + b"\n")
    with pytest.raises(InputError, match="'x.gz': cannot read: compressed file ended"):
        storage.first_line_of(data[:40], "x.gz", gz=True, complete=True)
    assert storage.first_line_of(data[:40], "x.gz", gz=True, complete=False) is None
    with pytest.raises(InputError, match="'x.gz': cannot read: .*invalid"):
        storage.first_line_of(data[:10] + b"\xff" * 30, "x.gz", gz=True, complete=True)


# --------------------------------------------------------------------------------------
# bad bytes, typed Parquet traps, corrupt files, headers (issue 17 items 6-8)


def test_bad_bytes_and_raw_identifiers_are_quarantined(spark, tmp_path, cells_on_day):
    """Invalid UTF-8, oversized fields and rows, ids with spaces / NUL / a prefix, and ids
    that look like a raw IMSI or MSISDN each get their own reason; a raw id is masked in
    the quarantine; every row is counted once."""
    from mobsig.ingest import rejected_events

    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    ok = f"{UID},2026-06-01 08:00:00,c1,call,1,2"
    rows = {
        ok.encode(): None,
        f"{UID[:-1]}\xff,2026-06-01 08:00:00,c1,call,1,2".encode("latin-1"): "invalid_encoding",
        f"{UID},2026-06-01 08:00:00,c1,{'x' * 5000},1,2".encode(): "oversized_row",
        f"{UID},2026-06-01 08:00:00,c1,{'x' * 200},1,2".encode(): "oversized_field",
        b"imsi:460001234567890,2026-06-01 08:00:00,c1,call,1,2": "raw_identifier",
        b"460001234567890,2026-06-01 08:00:00,c1,call,1,2": "raw_identifier",
        b"+8613912345678,2026-06-01 08:00:00,c1,call,1,2": "raw_identifier",
        b"13912345678,2026-06-01 08:00:00,c1,call,1,2": "raw_identifier",
        b"\x00" * 20 + b",2026-06-01 08:00:00,c1,call,1,2": "bad_user_id_chars",
        b"uuuuuuuu uuuuuuuuuuu,2026-06-01 08:00:00,c1,call,1,2": "bad_user_id_chars",
        b"user:uuuuuuuuuuuuuuuuu,2026-06-01 08:00:00,c1,call,1,2": "bad_user_id_chars",
        # a pseudonym of digits that is no IMSI (16 digits) stays accepted
        b"4600012345678901,2026-06-01 08:00:00,c1,call,1,2": None,
    }
    (day / "x.csv").write_bytes(HEADER.encode() + b"\n" + b"\n".join(rows) + b"\n")
    cfg = IngestConfig()
    classified = classify_events(read_sources(spark, plan_sources(day, cfg)), cells_on_day,
                                 DAY1, cfg)
    out = classified.select("reason").toPandas()
    assert len(out) == len(rows)
    got = sorted((None if pd.isna(r) else r) or "" for r in out["reason"])
    assert got == sorted((r or "") for r in rows.values())
    q = rejected_events(classified, DAY1, cfg).toPandas()
    assert len(q) == sum(r is not None for r in rows.values())
    raw = q[q["reason"] == "raw_identifier"]
    assert len(raw) == 4
    assert not raw["user_id"].str.contains(r"\d{9}").any()
    assert not raw["raw_text"].str.contains("46000123456789|3912345678").any()
    assert q["raw_text"].str.len().max() <= cfg.max_line_len
    # the limits are settings: a longer field is accepted when allowed
    wide = IngestConfig(max_field_len=256, max_line_len=8192)
    out2 = classify_events(read_sources(spark, plan_sources(day, wide)), cells_on_day, DAY1,
                           wide).where("reason is null").count()
    assert out2 == 3  # ok, the 200-character field, the 16-digit pseudonym


def test_typed_parquet_date_and_nanosecond_times(spark, tmp_path, cells_on_day):
    """event_time as a DATE is quarantined (date_only_time), never read as midnight;
    pandas' default timestamp[ns] (naive, or with a zone) is read to the right instant."""
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    pq.write_table(pa.table({"user_id": [UID], "event_time": pa.array([DAY1], pa.date32()),
                             "cell_id": ["c1"]}), day / "a.parquet")
    pd.DataFrame({"user_id": [UID2], "cell_id": ["c1"],
                  "event_time": [pd.Timestamp("2026-06-01 08:00:00.123456789")]}
                 ).to_parquet(day / "b.parquet")
    pd.DataFrame({"user_id": [UID2], "cell_id": ["c3"],
                  "event_time": [pd.Timestamp("2026-06-01 01:30:00", tz="UTC")]}
                 ).to_parquet(day / "c.parquet")
    out = _classify(spark, day, cells_on_day).sort_values("source_file")
    assert list(out["reason"].fillna("ok")) == ["date_only_time", "ok", "ok"]
    times = [t.strftime("%H:%M:%S.%f") for t in out["event_time"].iloc[1:]]
    assert times == ["08:00:00.123456", "09:30:00.000000"]  # Asia/Shanghai = UTC+8
    # the nanosecond columns are found in the footer through either file system
    from mobsig.io.raw_events import nanos_columns

    for f, utc in (("b.parquet", False), ("c.parquet", True)):
        for files in (LocalFiles(), storage.HadoopFiles(spark)):
            assert nanos_columns(files.parquet_schema(str(day / f))) == {"event_time": utc}


def test_renamed_header_is_an_input_error(tmp_path):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    for header in ("uid,event_time,cell_id,event_type", "msisdn_hash,ts,cell,type"):
        (day / "x.csv").write_text(header + "\n" + f"{UID},2026-06-01 08:00:00,c1,call\n")
        with pytest.raises(InputError, match=r"x\.csv.*header .* lacks"):
            plan_sources(day, IngestConfig())
    # a headerless file still reads (its first line is data)
    (day / "x.csv").write_text(f"{UID},2026-06-01 08:00:00,c1,call,1,2\n")
    assert plan_sources(day, IngestConfig())[0].header is None


def test_header_copy_mid_file_is_counted(spark, tmp_path, cells_on_day):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    row = f"{UID},2026-06-01 08:00:00,c1,call,1,2"
    (day / "a.csv").write_text("\n".join([HEADER, row, HEADER, row, HEADER]) + "\n")
    with gzip.open(day / "b.csv.gz", "wt") as fh:
        fh.write("\n".join([HEADER, row]) + "\n")
    out = _classify(spark, day, cells_on_day)
    assert len(out) == 5  # each file's first line dropped, the copies kept
    assert list(out["reason"].fillna("ok").sort_values()) == [
        "ok", "ok", "ok", "repeated_header", "repeated_header"]
    assert set(out[out["reason"] == "repeated_header"]["source_file"]) == {
        "dt=2026-06-01/a.csv"}


def test_truncated_gzip_is_an_input_error_naming_the_file(spark, tmp_path):
    from mobsig.errors import spark_failure

    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    body = "\n".join(f"{UID},2026-06-01 08:{i % 60:02d}:00,c1,call,1,2" for i in range(5000))
    data = gzip.compress((HEADER + "\n" + body + "\n").encode())
    (day / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception) as info:
        read_sources(spark, plan_sources(day, IngestConfig())).count()
    err = spark_failure(info.value, "ingest_events 2026-06-01")
    assert isinstance(err, InputError) and err.exit_code == 4
    assert "cut.csv.gz" in str(err) and "ingest_events 2026-06-01" in str(err)


def test_concurrent_delta_commit_is_a_clear_error():
    from mobsig.errors import ConcurrentWriteError, spark_failure

    exc = RuntimeError("io.delta.exceptions.ConcurrentAppendException: Files were added to "
                       "partition [dt=2026-06-01] by a concurrent update. Please try again.")
    err = spark_failure(exc, "ingest_events 2026-06-01")
    assert isinstance(err, ConcurrentWriteError) and err.exit_code == 7
    assert "another run of the same partition" in str(err)
    assert spark_failure(RuntimeError("something else")) is None
