"""Raw input on any Hadoop file system: file:// and viewfs:// URIs, RawLocalFileSystem.

No HDFS or S3 exists here. Hadoop's own file systems stand in: ``file://`` (the checksummed
LocalFileSystem), ``viewfs://`` (a mount table over a local folder: a scheme pathlib cannot
read, resolved only by Hadoop) and RawLocalFileSystem through a Hadoop configuration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import os
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mobsig.config import IngestConfig, build_config
from mobsig.errors import ConfigError, InputError
from mobsig.ingest import classify_events
from mobsig.io import storage
from mobsig.io.raw_events import plan_sources, read_sources
from mobsig.io.storage import HadoopFiles, LocalFiles
from tests.conftest import make_config
from tests.factories import county_layer, ingest_cells, tiny_cells

DAY = dt.date(2026, 6, 1)
UID = "u" * 20
HEADER = "user_id,event_time,cell_id,event_type,imei_tac,home_region"
MOUNT = "mobsigtest"


def uri(p: Path) -> str:
    """``file://`` + the path, literally (Path.as_uri would %-encode the '=' of dt=)."""
    return f"file://{p}"


def _day_folder(root: Path) -> Path:
    """A day folder with every input form, nested folders and files to be skipped."""
    day = root / f"dt={DAY.isoformat()}"
    (day / "sub" / "deeper").mkdir(parents=True)
    (day / "_temporary").mkdir()
    (day / ".hidden").mkdir()
    (day / "a.csv").write_text(HEADER + "\n" + f"{UID},2026-06-01 08:00:00,c1,call,1,2\n"
                               + f"{UID},2026-06-01 08:00:00,c1,call\n")
    (day / "b.csv").write_text(f"{UID},2026-06-01 08:00:01.250,c1,sms,,\n")
    with gzip.open(day / "sub" / "c.tsv.gz", "wt") as fh:
        fh.write("event_time\tcell_id\tuser_id\n2026-06-01 09:00:00\tc1\t" + UID + "\n"
                 "2026-06-02 09:00:00\tc1\t" + UID + "\n")
    ms = int(dt.datetime(2026, 6, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
             .timestamp() * 1000)
    pq.write_table(pa.table({"user_id": [UID], "event_time": pa.array([ms], pa.int64()),
                             "cell_id": ["c1"]}), day / "sub" / "deeper" / "d.parquet")
    pq.write_table(pa.table({"user_id": [UID], "event_time": ["2026-06-01 11:00:00"],
                             "cell_id": ["nope"]}), day / "e.parquet")
    (day / "empty.csv").write_text("")
    (day / "_SUCCESS").write_text("")
    (day / ".part.crc").write_text("x")
    (day / "_temporary" / "junk.csv").write_text("not,a,row\n")
    (day / ".hidden" / "junk.csv").write_text("not,a,row\n")
    return day


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hfs") / "raw"
    _day_folder(root)
    (root / "dt=2026-06-02").mkdir()
    (root / "dt=2026-06-02" / "_SUCCESS").write_text("")
    (root / "dt=2026-06-03").mkdir()
    (root / "dt=2026-06-03" / "x.csv").write_text("")
    return root


@pytest.fixture(scope="module")
def viewfs(spark, raw_root) -> str:
    """``viewfs://mobsigtest/raw`` mounted on the local raw root (the session's config)."""
    conf = spark._jsc.hadoopConfiguration()
    conf.set(f"fs.viewfs.mounttable.{MOUNT}.link./raw", uri(raw_root))
    return f"viewfs://{MOUNT}/raw"


@pytest.fixture(scope="module")
def raw_local_files(spark):
    """HadoopFiles over RawLocalFileSystem (no checksums) for file: URIs."""
    jvm = spark._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(spark._jsc.hadoopConfiguration())
    conf.set("fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
    conf.setBoolean("fs.file.impl.disable.cache", True)
    files = HadoopFiles(spark, conf)
    fs = jvm.org.apache.hadoop.fs.Path("file:///").getFileSystem(conf)
    assert fs.getClass().getSimpleName() == "RawLocalFileSystem"
    return files


def _rows(spark, folder, files) -> pd.DataFrame:
    cells = spark.createDataFrame([("c1", None, None, "990101")],
                                  "cell_id string, valid_from date, valid_to date, "
                                  "region string")
    cfg = IngestConfig()
    raw = read_sources(spark, plan_sources(folder, cfg, files))
    out = classify_events(raw, cells.select("cell_id", "region"), DAY, cfg)
    return (out.select("source_file", "raw_text", "event_time", "reason").toPandas()
            .sort_values(["source_file", "raw_text"]).reset_index(drop=True))


def test_uri_helpers_and_config_locations(tmp_path):
    assert storage.is_uri("hdfs://nn:8020/raw/events") and storage.is_uri("s3a://b/x")
    assert storage.is_uri("file:///tmp/x") and storage.is_uri("file:/tmp/x")
    assert not storage.is_uri("raw/events") and not storage.is_uri("/abs/raw")
    assert not storage.is_uri("C:/data") and not storage.is_uri(Path("/x"))
    assert storage.local_path("file:///tmp/dt=2026-06-01") == Path("/tmp/dt=2026-06-01")
    assert storage.local_path("file:/tmp/a%3Db") == Path("/tmp/a%3Db")  # literal, as Hadoop
    assert storage.local_path("hdfs://nn/raw") is None
    assert storage.join("hdfs://nn/raw/", "dt=2026-06-01") == "hdfs://nn/raw/dt=2026-06-01"
    assert storage.join(Path("/r"), "dt=x") == Path("/r/dt=x")
    assert storage.basename("s3a://b/raw/cells.csv") == "cells.csv"

    (tmp_path / "raw").mkdir()
    cfg = build_config({"paths": {"raw_events": "hdfs://nn:8020/raw/events",
                                  "cells": uri(tmp_path / "raw")}}, base_dir=tmp_path)
    assert cfg.location("raw_events") == "hdfs://nn:8020/raw/events"
    assert cfg.location("cells") == uri(tmp_path / "raw")
    assert cfg.path("cells") == tmp_path / "raw"
    # before Spark: a remote URI is not rejected, a file: URI is checked locally
    cfg.require_inputs("raw_events", "cells")
    missing = build_config({"paths": {"cells": uri(tmp_path / "nope")}})
    with pytest.raises(ConfigError, match=r"paths.cells: 'file:///.*nope' does not exist"):
        missing.require_inputs("cells")
    remote_units = build_config({"paths": {"units": ["hdfs://nn/units.geojson"]}})
    with pytest.raises(ConfigError, match="must be local files"):
        remote_units.require_inputs("units")
    # plain relative paths resolve against the config folder, as before
    local = build_config({"paths": {"raw_events": "raw"}}, base_dir=tmp_path)
    assert local.location("raw_events") == str(tmp_path / "raw")
    local.require_inputs("raw_events")


def test_hadoop_listing_matches_local(spark, raw_root, viewfs, raw_local_files):
    day = f"dt={DAY.isoformat()}"
    local = LocalFiles().data_files(raw_root / day)
    names = [f.location.split(day + "/", 1)[1] for f in local]
    assert names == ["a.csv", "b.csv", "e.parquet", "empty.csv", "sub/c.tsv.gz",
                     "sub/deeper/d.parquet"]
    hadoop = HadoopFiles(spark)
    for root, files in ((uri(raw_root), hadoop), (viewfs, hadoop),
                        (uri(raw_root), raw_local_files)):
        found = files.data_files(storage.join(root, day))
        assert [f.location.split(day + "/", 1)[1] for f in found] == names, root
        assert [f.size for f in found] == [f.size for f in local]
        assert all(storage.is_uri(f.location) for f in found)
        gz = next(f for f in found if f.name == "c.tsv.gz")
        assert files.head(gz.location, 2) == b"\x1f\x8b"
        assert files.first_line(gz.location) == "event_time\tcell_id\tuser_id"


def test_ingest_reads_the_same_rows_through_any_file_system(spark, raw_root, viewfs,
                                                             raw_local_files):
    day = f"dt={DAY.isoformat()}"
    want = _rows(spark, raw_root / day, None)
    assert len(want) == 7
    assert sorted(want["reason"].fillna("ok")) == ["malformed_row", "ok", "ok", "ok", "ok",
                                                   "time_outside_day", "unknown_cell"]
    for folder, files in ((storage.join(uri(raw_root), day), HadoopFiles(spark)),
                          (storage.join(viewfs, day), HadoopFiles(spark)),
                          (storage.join(uri(raw_root), day), raw_local_files)):
        got = _rows(spark, folder, files)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_missing_or_empty_day_folder_through_hadoop(spark, raw_root, viewfs):
    files = HadoopFiles(spark)
    for root in (uri(raw_root), viewfs):
        with pytest.raises(InputError, match=r"day folder '.*dt=2026-06-09' does not exist"):
            plan_sources(storage.join(root, "dt=2026-06-09"), IngestConfig(), files)
        with pytest.raises(InputError, match="no data files"):
            plan_sources(storage.join(root, "dt=2026-06-02"), IngestConfig(), files)
        with pytest.raises(InputError, match="only empty files"):
            plan_sources(storage.join(root, "dt=2026-06-03"), IngestConfig(), files)
        with pytest.raises(InputError, match="does not exist"):  # a file is not a folder
            plan_sources(storage.join(root, "dt=2026-06-01", "b.csv"), IngestConfig(), files)


def test_bad_files_through_hadoop_are_clear_errors(spark, tmp_path):
    files = HadoopFiles(spark)
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    (day / "x.csv").write_bytes(gzip.compress(b"a,b,c\n"))
    with pytest.raises(InputError, match="gzip-compressed but its name does not end in .gz"):
        plan_sources(uri(day), IngestConfig(), files)
    (day / "x.csv").unlink()
    (day / "y.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(InputError, match="y.parquet.*not a readable Parquet file"):
        plan_sources(uri(day), IngestConfig(), files)
    # an unknown scheme (a typo of hdfs) and an unreadable folder name the location
    with pytest.raises(InputError, match=r"'hdsf://nn/raw/events': no usable file system"):
        files.kind("hdsf://nn/raw/events")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # root ignores permissions: nothing to test then
            return
        with pytest.raises(InputError, match="locked.*cannot list"):
            files.data_files(uri(locked))
    finally:
        locked.chmod(0o755)


class _Counting:
    """A proxy of a Hadoop FileSystem that counts the calls made on it (thread-safe)."""

    _lock = threading.Lock()

    def __init__(self, fs, calls: dict):
        self._fs, self._calls = fs, calls

    def __getattr__(self, name):
        with self._lock:
            self._calls[name] = self._calls.get(name, 0) + 1
        return getattr(self._fs, name)


def _counted(files: HadoopFiles, monkeypatch) -> dict:
    """Count the FileSystem calls of ``files``: {method: calls}, and per file location
    the calls that open it under ``('opens', name)``."""
    calls: dict = {}
    real = files._path

    def path(loc):
        p, fs = real(loc)
        return p, _Counting(fs, calls)

    real_open = files._open

    def opened(loc, size=None):
        with _Counting._lock:
            key = ("opens", storage.basename(loc))
            calls[key] = calls.get(key, 0) + 1
        return real_open(loc, size)

    monkeypatch.setattr(files, "_path", path)
    monkeypatch.setattr(files, "_open", opened)
    return calls


def test_listing_costs_one_list_call_per_folder(spark, tmp_path, monkeypatch):
    day = tmp_path / "dt=2026-06-01"
    (day / "part").mkdir(parents=True)
    for i in range(60):
        (day / f"f{i:03d}.csv").write_text(f"{UID},2026-06-01 08:00:00,c1\n")
    for i in range(20):
        (day / "part" / f"g{i:03d}.csv").write_text(f"{UID},2026-06-01 08:00:00,c1\n")
    files = HadoopFiles(spark)
    calls = _counted(files, monkeypatch)
    found = files.data_files(uri(day))
    assert len(found) == 80
    assert calls == {"listStatus": 2}  # the day folder and its one subfolder, nothing per file


@pytest.mark.job
def test_jobs_read_cells_and_events_from_uris(spark, tmp_path, viewfs, raw_root):
    """ingest_cells from a file: URI, then ingest_events from viewfs://, end to end."""
    from mobsig.io.catalog import Catalog
    from mobsig.runner import run, validate

    tiny_cells().to_csv(tmp_path / "cells.csv", index=False)
    cfg = make_config(tmp_path, paths={"cells": uri(tmp_path / "cells.csv"),
                                       "units": [str(county_layer(tmp_path / "c.geojson"))],
                                       "raw_events": viewfs},
                      ingest={"max_quarantine_share": 0.6, "min_known_cell_share": 0.5})
    validate(cfg, "ingest_cells")  # the file: URI is checked locally
    assert ingest_cells(spark, cfg)["cells"] == 6
    res = run(spark, cfg, "ingest_events", day=DAY)
    assert (res.input_rows["raw_events"], res.output_rows["events_bronze"],
            res.output_rows["events_quarantine"]) == (7, 4, 3)
    assert {k: v for k, v in res.removed.items() if v} == {
        "malformed_row": 1, "time_outside_day": 1, "unknown_cell": 1}
    bronze = Catalog(spark, cfg.warehouse).read("events_bronze", dt=DAY)
    got = sorted(r[0] for r in bronze.select("source_file").collect())
    assert got == ["dt=2026-06-01/a.csv", "dt=2026-06-01/b.csv", "dt=2026-06-01/sub/c.tsv.gz",
                   "dt=2026-06-01/sub/deeper/d.parquet"]
    snapshot = sorted(map(tuple, bronze.collect()), key=repr)
    again_res = run(spark, cfg, "ingest_events", day=DAY)
    assert (again_res.output_rows, again_res.removed) == (res.output_rows, res.removed)
    again = Catalog(spark, cfg.warehouse).read("events_bronze", dt=DAY)
    assert sorted(map(tuple, again.collect()), key=repr) == snapshot
    # a missing remote root or day folder: clear errors naming the path
    gone = cfg.replace(paths=dataclasses.replace(cfg.paths,
                                                 raw_events=f"viewfs://{MOUNT}/raw/x"))
    with pytest.raises(InputError, match=r"paths.raw_events: 'viewfs://mobsigtest/raw/x' "
                                         "does not exist"):
        run(spark, gone, "ingest_events", day=DAY)
    with pytest.raises(InputError, match=r"day folder 'viewfs://.*dt=2026-06-09' does not"):
        run(spark, cfg, "ingest_events", day=dt.date(2026, 6, 9))


def test_planning_through_hadoop_opens_each_file_once(spark, tmp_path, monkeypatch):
    """One openFile (with the listed length: no status call) per text file, in threads;
    the plan equals the local one and does not depend on the number of threads."""
    day = tmp_path / "dt=2026-06-01"
    (day / "sub").mkdir(parents=True)
    row = f"{UID},2026-06-01 08:00:00,c1,call,1,2\n"
    for i in range(12):
        (day / f"a{i:02d}.csv").write_text(HEADER + "\n" + row)
        (day / f"b{i:02d}.csv").write_text(row)
        (day / "sub" / f"c{i:02d}.tsv.gz").write_bytes(gzip.compress(
            ("event_time\tcell_id\tuser_id\n2026-06-01 09:00:00\tc1\t" + UID).encode()))
        (day / "sub" / f"d{i:02d}.csv.gz").write_bytes(gzip.compress(row.encode()))
    long_header = ",".join([*HEADER.split(","), *(f"x{i:04d}" for i in range(200))])
    (day / "long.csv").write_text(long_header + "\n")  # 1.2 KB: beyond a 512-byte head
    pq.write_table(pa.table({"user_id": [UID], "event_time": ["x"], "cell_id": ["c1"]}),
                   day / "e.parquet")
    local = plan_sources(day, IngestConfig(sniff_head_bytes=512))
    files = HadoopFiles(spark)
    calls = _counted(files, monkeypatch)
    plans = [plan_sources(uri(day), IngestConfig(sniff_threads=t, sniff_head_bytes=512),
                          files)
             for t in (1, 8)]
    assert plans[0] == plans[1]
    assert [(g.kind, g.header, g.columns, [f.removeprefix("file:") for f in g.files])
            for g in plans[0]] == [(g.kind, g.header, g.columns, list(g.files))
                                   for g in local]
    assert {g.header for g in plans[0]} >= {long_header, HEADER}
    opens = {k[1]: n for k, n in calls.items() if isinstance(k, tuple)}
    text_names = [f"{x}{i:02d}.{ext}" for i in range(12)
                  for x, ext in (("a", "csv"), ("b", "csv"), ("c", "tsv.gz"), ("d", "csv.gz"))]
    assert all(opens[n] == 2 for n in text_names), opens  # once per plan
    assert opens["long.csv"] == 4  # its head, then the rest of its first line
    assert "e.parquet" not in opens  # its footer only (ParquetFileReader)
    # 48 + 1 files per plan through openFile with the length; only long.csv read on by open
    assert calls["openFile"] == 2 * 49 and calls["open"] == 2
    assert calls["getFileStatus"] == 2  # the day folder's check, nothing per file
