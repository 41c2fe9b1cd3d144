"""Partition lineage and staleness (mobsig.lineage) on hand-built run records.

A small simulator records runs the way the runner does (each read looks up the writing runs
and digests of the partitions it touches), so the rules are tested without Spark: a re-run
of day D makes later days (the carry) and the month stale, never earlier days; a re-run
with the same rows changes nothing; whole-table inputs are kept apart; runs without lineage
are unknown; the downstream of a partition comes in plan order.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mobsig import pipeline
from mobsig.lineage import RunIndex, RunRow, labels_read, may_read, parse_label, plan_key
from mobsig.tools.status import fixes, required_labels, run_command

D = [dt.date(2026, 6, 8) + dt.timedelta(days=i) for i in range(4)]
DAY = [f"dt={d.isoformat()}" for d in D]
MONTH = "month=2026-06"
NEXT_DAY = "dt=2026-07-01"


class Sim:
    """Run records as the runner writes them (one per call, one minute apart)."""

    def __init__(self) -> None:
        self.rows: list[RunRow] = []
        self.t = dt.datetime(2026, 7, 2, 3, 0)

    @property
    def index(self) -> RunIndex:
        return RunIndex(self.rows)

    def run(self, job: str, partition: str, reads: dict[str, list[str]] | None,
            digest: str = "a", status: str = "succeeded", **digests: str) -> RunRow:
        idx = self.index
        lineage = (None if reads is None else
                   {t: {lab: idx.fact(t, lab) for lab in labs} for t, labs in reads.items()})
        self.t += dt.timedelta(minutes=1)
        out = {t: digests.get(t, f"{t}-{digest}") for t in pipeline.job(job).writes}
        row = RunRow(job, partition, status, self.t, f"r{len(self.rows):03d}-{job}",
                     lineage, out if status == "succeeded" else {}, {"k": partition},
                     started_at=self.t - dt.timedelta(seconds=30))
        self.rows.append(row)
        return row

    def ingest(self, i: int, digest: str = "a", partition: str | None = None) -> RunRow:
        return self.run("ingest_events", partition or DAY[i], {"cells": ["all"]}, digest)

    def clean(self, i: int, digest: str = "a", label: str | None = None, **digests: str
              ) -> RunRow:
        day = label or DAY[i]
        prev = f"dt={dt.date.fromisoformat(day[3:]) - dt.timedelta(days=1)}"
        return self.run("clean_stays", day, {"events_bronze": [day], "cells": ["all"],
                                             "stays_carry": [prev]}, digest, **digests)

    def month(self) -> tuple[RunRow, RunRow]:
        flags = self.run("flag_users", MONTH, {"events_clean": DAY})
        hw = self.run("home_work", MONTH, {"stays": [*DAY, NEXT_DAY], "cells": ["all"],
                                           "user_flags": [MONTH]})
        return flags, hw

    def build(self) -> None:
        self.run("ingest_units", "all", {})
        self.run("ingest_cells", "all", {"units": ["all"]})
        for i in range(len(D)):
            self.ingest(i)
            self.clean(i)
        self.month()

    def latest(self, job: str, partition: str) -> RunRow:
        r = self.index.latest(job, partition)
        assert r is not None
        return r

    def stale(self) -> set[tuple[str, str]]:
        idx = self.index
        return {(r.job, r.partition) for r in idx.current() if idx.stale(r)}


@pytest.fixture
def sim() -> Sim:
    s = Sim()
    s.build()
    return s


def test_an_in_order_build_has_nothing_stale(sim):
    idx = sim.index
    assert all(idx.reasons(r) == [] for r in idx.current())
    fact = sim.latest("clean_stays", DAY[2]).lineage["stays_carry"][DAY[1]]
    assert fact == [[sim.latest("clean_stays", DAY[1]).run_id, "stays_carry-a"]]
    # the first day read a carry that did not exist: an empty fact
    assert sim.latest("clean_stays", DAY[0]).lineage["stays_carry"] == {"dt=2026-06-07": []}


def test_late_data_makes_later_days_and_the_month_stale_not_earlier_days(sim):
    """Day 2 re-ingested with late events and re-cleaned (its carry changed): day 3 reads
    the new carry only after a re-run, day 4 inherits, the month read day 2's rows."""
    sim.ingest(1, "late")
    sim.clean(1, "late")
    assert sim.stale() == {("clean_stays", DAY[2]), ("clean_stays", DAY[3]),
                           ("flag_users", MONTH), ("home_work", MONTH)}
    idx = sim.index
    r3 = idx.reasons(sim.latest("clean_stays", DAY[2]))
    assert [(x.table, x.label, x.kind) for x in r3] == [("stays_carry", DAY[1], "changed")]
    assert "re-written with other rows by clean_stays" in r3[0].text
    r4 = idx.reasons(sim.latest("clean_stays", DAY[3]))
    assert [(x.table, x.label, x.kind) for x in r4] == [("stays_carry", DAY[2], "upstream")]
    assert r4[0].root == r3[0].text
    hw = {(x.table, x.label, x.kind) for x in idx.reasons(sim.latest("home_work", MONTH))}
    assert ("stays", DAY[1], "changed") in hw and ("user_flags", MONTH, "upstream") in hw
    assert ("stays", DAY[2], "upstream") in hw
    # one command rebuilds all of it: day 3 and what depends on it
    assert fixes(idx, [r for r in idx.current() if idx.stale(r)]) == [
        "mobsig run clean_stays --date 2026-06-10 --downstream"]


def test_reingest_alone_makes_the_day_itself_stale(sim):
    sim.ingest(1, "late")
    assert ("clean_stays", DAY[1]) in sim.stale()
    assert ("clean_stays", DAY[0]) not in sim.stale()
    assert ("ingest_events", DAY[2]) not in sim.stale()


def test_rebuilding_in_order_clears_everything(sim):
    sim.ingest(1, "late")
    for i in (1, 2, 3):
        sim.clean(i, "late")
    sim.month()
    assert sim.stale() == set()


def test_a_rerun_with_the_same_rows_changes_nothing(sim):
    sim.ingest(1)  # same digests as before
    sim.clean(1)
    sim.run("ingest_cells", "all", {"units": ["all"]})
    assert sim.stale() == set()
    assert all(sim.index.reasons(r) == [] for r in sim.index.current())


def test_a_day_whose_carry_came_out_the_same_stops_the_cascade(sim):
    """Late events that change day 2's stays but not its open-stay carry: day 3 read the
    same carry, so only the month is stale."""
    sim.ingest(1, "late")
    sim.clean(1, "late", stays_carry="stays_carry-a")
    assert sim.stale() == {("flag_users", MONTH), ("home_work", MONTH)}


def test_a_changed_whole_table_input_is_input_changed_not_stale(sim):
    sim.run("ingest_cells", "all", {"units": ["all"]}, "new")
    idx = sim.index
    day = sim.latest("clean_stays", DAY[2])
    assert not idx.stale(day) and idx.changed(day)
    assert all(x.whole for x in idx.reasons(day))
    assert "(whole-table input)" in idx.reasons(day)[0].text
    assert sim.stale() == set()
    # a partitioned change on top is stale again
    sim.ingest(3, "late")
    assert sim.stale() == {("clean_stays", DAY[3]), ("flag_users", MONTH), ("home_work", MONTH)}


def test_a_partition_written_after_it_was_read_empty_makes_the_reader_stale(sim):
    """The monthly jobs read the first day of the next month (stays crossing midnight)."""
    sim.run("clean_stays", NEXT_DAY, {"events_bronze": [NEXT_DAY]})
    reasons = sim.index.reasons(sim.latest("home_work", MONTH))
    assert [(x.label, x.kind) for x in reasons] == [(NEXT_DAY, "changed")]
    assert "after this run found it empty" in reasons[0].text


def test_a_failed_rerun_changes_nothing(sim):
    sim.ingest(1, "late")
    before = sim.stale()
    assert before == {("clean_stays", DAY[1]), ("clean_stays", DAY[2]),
                      ("clean_stays", DAY[3]), ("flag_users", MONTH), ("home_work", MONTH)}
    sim.run("clean_stays", DAY[1], {"events_bronze": [DAY[1]]}, "x", status="failed")
    assert sim.stale() == before  # nothing was replaced: the same runs hold the rows
    assert sim.index.latest("clean_stays", DAY[1]).status == "failed"


def test_a_region_run_after_the_whole_day_is_part_of_what_the_day_holds(sim):
    sim.ingest(1, partition=f"{DAY[1]} region=510104")
    idx = sim.index
    runs = idx.writing_runs("ingest_events", DAY[1])
    assert [r.partition for r in runs] == [DAY[1], f"{DAY[1]} region=510104"]
    assert ("clean_stays", DAY[1]) in sim.stale()
    # a whole-day run replaces every region: only it holds the day again
    sim.ingest(1)
    assert [r.partition for r in sim.index.writing_runs("ingest_events", DAY[1])] == [DAY[1]]


def test_dependents_are_the_later_days_and_the_month_in_plan_order(sim):
    idx = sim.index
    deps = idx.dependents([("clean_stays", DAY[1])])
    assert [(r.job, r.partition) for r in deps] == [
        ("clean_stays", DAY[2]), ("clean_stays", DAY[3]), ("flag_users", MONTH),
        ("home_work", MONTH)]
    deps = idx.dependents([("ingest_events", f"{DAY[3]} region=510104")])
    assert [(r.job, r.partition) for r in deps] == [
        ("clean_stays", DAY[3]), ("flag_users", MONTH), ("home_work", MONTH)]
    assert idx.dependents([("home_work", MONTH)]) == []
    cells = idx.dependents([("ingest_cells", "all")])
    assert len(cells) == 2 * len(D) + 2  # every day's two jobs and the month's


def test_run_downstream_stops_where_the_rows_come_out_the_same(sim, monkeypatch, capsys):
    """`mobsig run clean_stays --date <day 2> --downstream` after late data for day 2: day
    3 is re-run and its carry comes out the same, so day 4 is up to date and not re-run;
    the month is (it read day 2's rows)."""
    from mobsig import lineage
    from mobsig import runner as runner_mod
    from mobsig.runner import Partition
    from mobsig.tools import run as run_mod

    sim.ingest(1, "late")
    ran: list[tuple[str, str]] = []

    def fake_steps(spark, cfg, steps, keep_going=False, **progress):
        for job, part, opts in steps:
            ran.append((job, part.label))
            assert opts == {"k": part.label}  # the options of its last run
            if job == "clean_stays":
                sim.clean(DAY.index(part.label), "late" if part.label == DAY[1] else "a")
            elif job == "flag_users":
                sim.run(job, MONTH, {"events_clean": DAY})
            else:
                sim.run(job, MONTH, {"stays": [*DAY, NEXT_DAY], "cells": ["all"],
                                     "user_flags": [MONTH]})
        return 0

    monkeypatch.setattr(lineage, "load_runs", lambda catalog, jobs=None: list(sim.rows))
    monkeypatch.setattr(run_mod, "run_steps", fake_steps)
    monkeypatch.setattr(runner_mod, "validate", lambda cfg, name: None)

    class Cfg:
        warehouse = "/nonexistent"

    step = ("clean_stays", Partition(day=D[1]), {})
    fake_steps(None, None, [(step[0], step[1], {"k": DAY[1]})])
    rc = run_mod.run_downstream(None, Cfg(), [step])
    assert rc == 0
    assert ran == [("clean_stays", DAY[1]), ("clean_stays", DAY[2]), ("flag_users", MONTH),
                   ("home_work", MONTH)]
    out = capsys.readouterr().out
    assert "downstream: 4 partitions were built from these" in out
    assert "downstream: 3 re-run, 1 up to date (1 read the same rows again)" in out
    assert sim.stale() == set()


def test_runs_without_lineage_are_unknown_and_taken_downstream_by_the_spec(sim):
    legacy = sim.run("clean_stays", DAY[2], None)
    sim.run("clean_stays", DAY[0], None)
    idx = sim.index
    assert idx.reasons(legacy) == [] and not idx.stale(legacy)
    deps = [(r.job, r.partition) for r in idx.dependents([("clean_stays", DAY[1])])]
    assert ("clean_stays", DAY[2]) in deps and ("clean_stays", DAY[0]) not in deps


def test_may_read_and_labels():
    assert may_read("dt=2026-06-09", "dt=2026-06-08")
    assert not may_read("dt=2026-06-08", "dt=2026-06-09")
    assert may_read("month=2026-06", "dt=2026-07-01")
    assert not may_read("month=2026-06", "dt=2026-07-02")
    assert may_read("month=2026-06", "month=2026-06")
    assert not may_read("month=2026-06", "month=2026-07")
    assert may_read("dt=2026-06-08 region=1", "all") and not may_read("all", "dt=2026-06-08")
    assert labels_read("day", {"dt": D[0]}) == [DAY[0]]
    assert labels_read("day_region", {"dt": [D[1], D[0]], "region": ["a"]}) == DAY[:2]
    assert labels_read("month", {"month": "2026-06"}) == [MONTH]
    assert labels_read("month", {"month": dt.date(2026, 6, 1)}) == [MONTH]
    assert labels_read("none", {}) == ["all"]
    assert labels_read("day", {}, ["dt=2026-06-08", "month=x"]) == ["dt=2026-06-08"]
    assert parse_label("dt=2026-06-08 region=a,b") == ("day", D[0], ("a", "b"))
    assert parse_label(MONTH) == ("month", dt.date(2026, 6, 1), None)
    keys = sorted([("home_work", MONTH), ("clean_stays", DAY[1]), ("ingest_events", DAY[1]),
                   ("ingest_cells", "all"), ("flag_users", MONTH), ("clean_stays", DAY[0])],
                  key=lambda k: plan_key(*k))
    assert keys == [("ingest_cells", "all"), ("clean_stays", DAY[0]),
                    ("ingest_events", DAY[1]), ("clean_stays", DAY[1]),
                    ("flag_users", MONTH), ("home_work", MONTH)]


def test_status_helpers():
    assert required_labels("month", D) == [MONTH]
    assert required_labels("day", D[:2]) == DAY[:2]
    assert required_labels("none", D) == ["all"]
    assert run_command("flag_users", MONTH) == "mobsig run flag_users --month 2026-06 --downstream"
    assert run_command("ingest_events", f"{DAY[0]} region=a") == (
        "mobsig run ingest_events --date 2026-06-08 --region a --downstream")
    assert run_command("ingest_cells", "all") == "mobsig run ingest_cells --downstream"


def test_a_year_long_carry_chain_is_walked_without_recursion():
    s = Sim()
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(400)]
    for d in days:
        s.run("clean_stays", f"dt={d}", {"stays_carry": [f"dt={d - dt.timedelta(days=1)}"]})
    s.run("clean_stays", f"dt={days[0]}", {"stays_carry": []}, "late")
    idx = s.index
    last = idx.latest("clean_stays", f"dt={days[-1]}")
    assert idx.stale(last) and idx.reasons(last)[0].kind == "upstream"
    assert len(idx.dependents([("clean_stays", f"dt={days[0]}")])) == 399


# --------------------------------------------------------------------------------------
# the content digest and the runs table (Spark)


def test_content_digest_ignores_order_and_partitioning_but_not_content(spark):
    from mobsig.quality import content_digest

    rows = [("a", 1, None), ("b", 2, 2.5), ("c", None, 1.0), ("c", None, 1.0)]
    schema = "k string, n int, x double"
    base = content_digest(spark.createDataFrame(rows, schema))
    assert base.startswith("4:")
    assert content_digest(spark.createDataFrame(rows[::-1], schema).repartition(3)) == base
    assert content_digest(spark.createDataFrame(rows[:3], schema)) != base  # a duplicate less
    changed = [("a", 1, None), ("b", 2, 2.5000001), ("c", None, 1.0), ("c", None, 1.0)]
    assert content_digest(spark.createDataFrame(changed, schema)) != base
    # a value moved to the other column (the first one null now) is another row
    two = "k string, n double, x double"
    assert content_digest(spark.createDataFrame([("a", None, 1.0)], two)) != \
        content_digest(spark.createDataFrame([("a", 1.0, None)], two))


@pytest.mark.job
def test_a_runs_table_of_an_older_mobsig_gains_the_lineage_columns(spark, tmp_path):
    """An existing warehouse: its runs table lacks lineage, output_digests and options;
    a new record is appended (the columns are added) and the old rows read them as null."""
    import json

    from mobsig.io.catalog import Catalog
    from mobsig.lineage import load_runs
    from mobsig.runs import RunRecord, fold, write_record
    from mobsig.schema import load_schema
    from tests.conftest import make_config

    cat = Catalog(spark, make_config(tmp_path).warehouse)
    new_cols = ("lineage", "output_digests", "options", "facts")
    old = [f for f in load_schema("runs").struct.fields if f.name not in new_cols]
    from pyspark.sql import types as T

    row = {"run_id": "old-1", "partition": DAY[0], "status": "succeeded",
           "started_at": dt.datetime(2026, 6, 9, 3), "ended_at": dt.datetime(2026, 6, 9, 4),
           "duration_s": 1.0, "config_digest": "c", "code_version": "mobsig 0.0",
           "input_rows": "{}", "output_rows": "{}", "gates": "[]", "error": None,
           "job": "clean_stays"}
    (spark.createDataFrame([tuple(row[f.name] for f in old)], T.StructType(old))
     .write.format("delta").partitionBy("job").save(cat.path("runs")))
    rec = RunRecord("clean_stays", "new-1", "c", DAY[1], lineage={"stays_carry": {
        DAY[0]: [["old-1", None]]}}, output_digests={"stays": "1:0:0"},
        options={"fresh_start": False}, facts={"privacy_min_width": 15.0})
    write_record(cat, rec)
    assert fold(cat) == 1  # the pending end record appended: the columns are added
    runs = {r.run_id: r for r in load_runs(cat)}
    assert runs["old-1"].lineage is None and runs["old-1"].output_digests == {}
    assert runs["new-1"].lineage == {"stays_carry": {DAY[0]: [["old-1", None]]}}
    assert runs["new-1"].options == {"fresh_start": False}
    stored = cat.read("runs").where("run_id = 'new-1'").first()
    assert json.loads(stored["output_digests"]) == {"stays": "1:0:0"}
    assert json.loads(stored["facts"]) == {"privacy_min_width": 15.0}
    assert cat.read("runs").where("run_id = 'old-1'").first()["facts"] is None


def test_the_fix_names_the_root_even_outside_the_period(sim):
    """Day 2 re-run: day 3's and day 4's staleness roots in day 3 (its carry input
    changed); asked about day 4 only, the command still starts at day 3."""
    sim.ingest(1, "late")
    sim.clean(1, "late")
    idx = sim.index
    d4 = sim.latest("clean_stays", DAY[3])
    assert fixes(idx, [d4]) == ["mobsig run clean_stays --date 2026-06-10 --downstream"]
    # the month read changed rows itself (day 2's stays, and now the next month's first
    # day), but day 3's command rebuilds it too: one command
    sim.run("clean_stays", NEXT_DAY, {"events_bronze": [NEXT_DAY]})
    idx = sim.index
    hw = sim.latest("home_work", MONTH)
    assert fixes(idx, [hw, d4]) == ["mobsig run clean_stays --date 2026-06-10 --downstream"]
    # without day 2's change, the month alone is its own root
    s = Sim()
    s.build()
    s.run("clean_stays", NEXT_DAY, {"events_bronze": [NEXT_DAY]})
    assert fixes(s.index, [s.latest("home_work", MONTH)]) == [
        "mobsig run home_work --month 2026-06 --downstream"]


@pytest.mark.job
def test_run_records_are_cached_only_while_this_process_alone_writes(spark, tmp_path,
                                                                     monkeypatch):
    """load_runs keeps the rows it read; this process's own append (a fold of its pending
    end records) extends them (equal to what a fresh read gives), another writer's append
    makes it read the table again."""
    from mobsig import runs as runs_mod
    from mobsig.io.catalog import Catalog
    from mobsig.lineage import load_runs
    from mobsig.runs import RunRecord, fold, write_record
    from tests.conftest import make_config

    cat = Catalog(spark, make_config(tmp_path).warehouse)

    def put(rec):
        write_record(cat, rec)
        assert fold(cat) == 1

    put(RunRecord("clean_stays", "r1", "c", DAY[0], lineage={}))
    first = load_runs(cat, ["clean_stays"])
    reads = []
    real_read = cat.read
    monkeypatch.setattr(cat, "read", lambda *a, **k: reads.append(a) or real_read(*a, **k))
    put(RunRecord("clean_stays", "r2", "c", DAY[1], lineage={
        "stays_carry": {DAY[0]: [["r1", "1:0:0"]]}}, output_digests={"stays": "2:1:1"}))
    put(RunRecord("ingest_events", "i1", "c", DAY[1]))  # another job
    cached = load_runs(cat, ["clean_stays"])
    assert reads == [] and [r.run_id for r in first] == ["r1"]
    runs_mod._CACHE.clear()
    fresh = load_runs(cat, ["clean_stays"])
    assert reads and sorted(cached, key=lambda r: r.run_id) == sorted(
        fresh, key=lambda r: r.run_id)  # the cache holds exactly what the table holds
    reads.clear()
    other = spark.createDataFrame([RunRecord("clean_stays", "x1", "c", DAY[2]).row()],
                                  cat.schema("runs").struct)
    cat.append(other, "runs")  # a writer the cache does not see (another process)
    assert "x1" in {r.run_id for r in load_runs(cat, ["clean_stays"])} and reads
