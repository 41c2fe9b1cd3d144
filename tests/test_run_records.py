"""A killed or failed run is visible (issue 17 item 5): every run writes a ``started`` record
first; ``mobsig status`` shows a partition whose latest record is ``started`` as RUNNING or
ABANDONED and ``--require`` fails on it; monthly partitions are understood. Exports are
replaced atomically (a kill never leaves the GeoParquet folder missing or mixed)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

import pytest

from mobsig.io.exports import replace_folder
from mobsig.runs import STARTED, RunRecord, driver, recording, started_state

NOW = dt.datetime(2026, 7, 1, 12, 0, 0)


def _started(hours_ago: float, **drv) -> dict:
    return {"started_at": NOW - dt.timedelta(hours=hours_ago),
            "options": json.dumps({"driver": drv} if drv else {})}


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid  # reaped: no such process any more (pids are not reused this fast)


def test_started_state_by_age_and_driver():
    here = driver()
    assert started_state(_started(1, **here), NOW, 12) == "RUNNING"  # this very process
    assert started_state(_started(13, **here), NOW, 12) == "ABANDONED"  # too old
    assert started_state(_started(1, host=here["host"], pid=_dead_pid()), NOW,
                         12) == "ABANDONED"  # killed: its driver is gone
    assert started_state(_started(1, host="elsewhere", pid=1), NOW, 12) == "RUNNING"
    assert started_state(_started(1), NOW, 12) == "RUNNING"  # no driver recorded


def test_recording_writes_started_then_the_end_row():
    rows: list[dict] = []
    with recording("clean_stays", "r1", "c", "dt=2026-06-02",
                   sink=lambda rec: rows.append(rec.row())):
        assert [r["status"] for r in rows] == [STARTED]  # before the job does anything
    with pytest.raises(RuntimeError), recording(
            "clean_stays", "r2", "c", "dt=2026-06-03", sink=lambda rec: rows.append(rec.row())):
        raise RuntimeError("boom")
    assert [(r["run_id"], r["status"]) for r in rows] == [
        ("r1", STARTED), ("r1", "succeeded"), ("r2", STARTED), ("r2", "failed")]
    first, end = rows[0], rows[1]
    assert first["ended_at"] == first["started_at"] == end["started_at"] <= end["ended_at"]
    assert json.loads(first["options"])["driver"] == driver()
    assert "driver" not in json.loads(end["options"])



@pytest.mark.job
def test_started_record_is_a_file_until_the_end_row(spark, tmp_path):
    """The started record is a file in the warehouse (no Delta commit) that the readers of
    the runs see as a ``started`` row; the end row (a pending record, folded into the runs
    table later: the test below) removes it; a killed run's file stays."""
    from mobsig.io.catalog import Catalog
    from mobsig.lineage import load_runs
    from mobsig.runs import STARTED_FOLDER, read_runs, started_rows, write_record

    cat = Catalog(spark, tmp_path / "warehouse")
    assert read_runs(cat) is None and load_runs(cat) == []
    sink = lambda rec: write_record(cat, rec)  # noqa: E731
    with recording("clean_stays", "r1", "c", "dt=2026-06-02", sink=sink):
        rows = started_rows(cat)
        assert [(r["run_id"], r["status"]) for r in rows] == [("r1", STARTED)]
        assert rows[0]["started_at"] == rows[0]["ended_at"]
        assert json.loads(rows[0]["options"])["driver"] == driver()
        assert not cat.exists("runs")  # no commit for the start
        assert [(r.run_id, r.status) for r in load_runs(cat)] == [("r1", STARTED)]
        assert read_runs(cat).collect()[0]["status"] == STARTED
    assert started_rows(cat) == []
    assert [(r["run_id"], r["status"]) for r in read_runs(cat).collect()] == [
        ("r1", "succeeded")]
    # killed: the started record of r2 stays (its end row is never written)
    write_record(cat, RunRecord("clean_stays", "r2", "c", "dt=2026-06-03", status=STARTED))
    assert sorted((r["run_id"], r["status"]) for r in read_runs(cat).collect()) == [
        ("r1", "succeeded"), ("r2", STARTED)]
    assert [p.name for p in (tmp_path / "warehouse" / STARTED_FOLDER).iterdir()] == [
        "r2.json"]  # written under a hidden name, then renamed: nothing else is left


@pytest.mark.job
def test_end_records_wait_as_files_and_are_folded_into_the_table(spark, tmp_path):
    """A run's end record is a file in ``_runs_pending`` (no Delta commit per run) that
    every reader of the runs sees; FOLD_AT of them are appended to the runs table in one
    commit and their files removed. A fold killed between its commit and the removal
    appends them again at the next fold: the readers keep one row per run and status."""
    from mobsig.io.catalog import Catalog
    from mobsig.lineage import load_runs
    from mobsig.runs import (
        FOLD_AT,
        PENDING_FOLDER,
        fold,
        latest_input_rows,
        pending_rows,
        read_runs,
        write_record,
    )

    cat = Catalog(spark, tmp_path / "warehouse")
    pending = tmp_path / "warehouse" / PENDING_FOLDER

    def end(i):
        write_record(cat, RunRecord("ingest_events", f"r{i:02d}", "c", f"dt=2026-06-{i:02d}",
                                    status="succeeded", input_rows={"raw_events": 100 + i},
                                    ended_at=dt.datetime(2026, 6, 1) + dt.timedelta(hours=i)))

    for i in range(1, FOLD_AT):
        end(i)
    assert not cat.exists("runs")  # nothing committed yet
    assert sorted(p.name for p in pending.iterdir()) == [f"r{i:02d}.json"
                                                         for i in range(1, FOLD_AT)]
    assert read_runs(cat).count() == FOLD_AT - 1
    assert len(load_runs(cat, ["ingest_events"])) == FOLD_AT - 1
    assert latest_input_rows(cat, "ingest_events", "raw_events", ["dt=2026-06-03"]) == {
        "dt=2026-06-03": 103}
    end(FOLD_AT)  # the FOLD_AT-th: all folded in one commit
    assert list(pending.iterdir()) == [] and cat.version("runs") == 1  # 0: created
    assert cat.read("runs").count() == FOLD_AT
    assert {r.run_id for r in load_runs(cat)} == {f"r{i:02d}" for i in range(1, FOLD_AT + 1)}
    # a fold killed after its commit: the files of folded rows are still there
    end(1)
    assert len(pending_rows(cat)) == 1
    assert read_runs(cat).count() == FOLD_AT and len(load_runs(cat)) == FOLD_AT
    assert fold(cat) == 1 and cat.read("runs").count() == FOLD_AT + 1  # appended twice
    assert read_runs(cat).count() == FOLD_AT and len(load_runs(cat)) == FOLD_AT
    assert latest_input_rows(cat, "ingest_events", "raw_events", ["dt=2026-06-01"]) == {
        "dt=2026-06-01": 101}
    assert fold(cat) == 0  # nothing pending: no commit
    assert cat.version("runs") == 2

def test_a_kill_while_writing_leaves_the_previous_folder_whole(tmp_path):
    target = tmp_path / "t.parquet"

    def write(n):
        def go(path):
            os.makedirs(path)
            for i in range(n):
                (tmp_path / path / f"part-{i}.parquet").write_text(str(n))
        return go

    replace_folder(target, write(2))
    assert sorted(p.name for p in target.iterdir()) == ["part-0.parquet", "part-1.parquet"]

    def killed(path):
        write(3)(path)
        raise KeyboardInterrupt  # killed after writing part of the new version

    with pytest.raises(KeyboardInterrupt):
        replace_folder(target, killed)
    assert sorted(p.read_text() for p in target.iterdir()) == ["2", "2"]  # old, whole
    replace_folder(target, write(1))
    assert [p.read_text() for p in target.iterdir()] == ["1"]
    # only the linked version is left (the killed run's folder is gone)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".t.")) == [
        os.readlink(target)]


def test_a_folder_from_an_older_version_is_replaced(tmp_path):
    target = tmp_path / "t.parquet"
    target.mkdir()
    (target / "old.parquet").write_text("old")
    replace_folder(target, lambda p: (os.makedirs(p), (tmp_path / p / "new.parquet")
                                      .write_text("new")))
    assert target.is_symlink() and [p.name for p in target.iterdir()] == ["new.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["t.parquet",
                                                                 os.readlink(target)])


@pytest.mark.job
def test_geoparquet_export_read_back_through_the_link(spark, tmp_path):
    """Spark (Sedona) writes the version folder; Spark and geopandas read it via the link."""
    from mobsig.io.exports import read_geoparquet

    df = spark.sql("SELECT 1 AS n, ST_Point(116.0, 39.0) AS geometry")
    target = tmp_path / "t.parquet"
    for _ in range(2):
        replace_folder(target, lambda p: df.write.format("geoparquet").mode("overwrite")
                       .save(p))
    assert spark.read.format("geoparquet").load(str(target)).count() == 1
    assert len(read_geoparquet(target)) == 1


def _status(spark, cfg, *argv):
    from mobsig.tools import status as status_tool
    from tests.test_late_data import parse, quiet

    args = parse(status_tool, [*argv, "--no-data-docs"])
    status_tool.validate(args, cfg)
    return quiet(status_tool.run, args, cfg, spark)


@pytest.mark.job
def test_status_shows_running_and_abandoned_and_require_fails(spark, tmp_path):
    from mobsig.io.catalog import Catalog
    from mobsig.runs import write_record
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    cat = Catalog(spark, cfg.warehouse)
    t = dt.datetime.now() - dt.timedelta(hours=2)

    def rec(job, run_id, part, status, at, **kw):
        r = RunRecord(job, run_id, "c", part, started_at=at, status=status,
                      ended_at=at + dt.timedelta(seconds=5), lineage={}, **kw)
        write_record(cat, r)

    for day in ("01", "02", "03"):
        rec("ingest_events", f"i{day}", f"dt=2026-06-{day}", "succeeded", t)
    # day 03: a run in progress in this process; day 02: a later run killed (its started
    # row from a driver on this host that is gone)
    write_record(cat, RunRecord("ingest_events", "k03", "c", "dt=2026-06-03",
                                started_at=dt.datetime.now(), status=STARTED))
    opts = {"driver": {"host": driver()["host"], "pid": _dead_pid()}}
    write_record(cat, RunRecord("ingest_events", "k02", "c", "dt=2026-06-02",
                                started_at=t + dt.timedelta(minutes=2), status=STARTED,
                                options=opts))
    rc, out, err = _status(spark, cfg, "--date", "2026-06-01", "--require", "ingest_events")
    assert rc == 0, err
    rc, out, err = _status(spark, cfg, "--date", "2026-06-02", "--require", "ingest_events")
    assert rc == 1 and "ABANDONED" in out and "ingest_events dt=2026-06-02 ABANDONED" in err
    rc, out, err = _status(spark, cfg, "--date", "2026-06-03", "--require", "ingest_events")
    assert rc == 1 and " RUNNING " in out and "ingest_events dt=2026-06-03 RUNNING" in err
    # monthly partitions: a succeeded month satisfies --require; a started one does not
    rec("home_work", "h1", "month=2026-06", "succeeded", t)
    rc, out, err = _status(spark, cfg, "--month", "2026-06", "--require", "home_work")
    assert rc == 0, err
    write_record(cat, RunRecord("home_work", "h2", "c", "month=2026-06",
                                started_at=dt.datetime.now(), status=STARTED))
    rc, out, err = _status(spark, cfg, "--month", "2026-06", "--require", "home_work")
    assert rc == 1 and "home_work month=2026-06 RUNNING" in err


def test_records_follow_hadoop_when_the_default_file_system_is_not_local(spark, tmp_path):
    """A warehouse path without a scheme on a cluster whose ``fs.defaultFS`` is HDFS is an
    HDFS path: its record files go through Hadoop, never to the driver's local disk, and a
    local folder of the same name does not vouch for the runs table's version (the runs
    cache); ``viewfs://`` mounted on a local folder stands in for HDFS."""
    import types
    from pathlib import Path

    from mobsig.runs import (
        PENDING_FOLDER,
        STARTED_FOLDER,
        log_version,
        pending_rows,
        started_rows,
        table_version,
        write_record,
    )

    real, ghost = tmp_path / "real", tmp_path / "ghost"
    real.mkdir()
    conf = spark._jvm.org.apache.hadoop.conf.Configuration(spark._jsc.hadoopConfiguration())
    conf.set("fs.defaultFS", "viewfs://mobsigrec/")
    conf.set(f"fs.viewfs.mounttable.mobsigrec.link.{ghost}", f"file://{real}")
    fake_spark = types.SimpleNamespace(_jvm=spark._jvm, _jsc=types.SimpleNamespace(
        hadoopConfiguration=lambda: conf))
    cat = types.SimpleNamespace(warehouse=Path(ghost), spark=fake_spark)
    write_record(cat, RunRecord("clean_stays", "v1", "c", "dt=2026-06-02", status=STARTED))
    assert [r["run_id"] for r in started_rows(cat)] == ["v1"]

    def names(folder):  # (the local file system under viewfs adds hidden .crc files)
        return [p.name for p in (real / folder).iterdir() if not p.name.startswith(".")]

    assert names(STARTED_FOLDER) == ["v1.json"]
    write_record(cat, RunRecord("clean_stays", "v1", "c", "dt=2026-06-02",
                                status="succeeded"))
    assert started_rows(cat) == [] and [r["status"] for r in pending_rows(cat)] == [
        "succeeded"]
    assert names(PENDING_FOLDER) == ["v1.json"] and names(STARTED_FOLDER) == []
    assert not ghost.exists()  # nothing on the driver's own disk
    log = ghost / "runs" / "_delta_log"
    log.mkdir(parents=True)
    (log / f"{0:020d}.json").write_text("{}")
    assert log_version(str(ghost / "runs"))[0] == 0  # what the local folder would say
    assert table_version(cat) is None
