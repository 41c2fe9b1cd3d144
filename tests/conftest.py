"""Shared fixtures: one local SparkSession for the run, a small synthetic city with truth."""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mobsig.config import Config, build_config
from mobsig.localdata import local_frame
from mobsig.runner import JobResult
from mobsig.synth.generate import TWO_WEEK_RULES

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

CITY_PEOPLE = 160
# A two-week "month" keeps the whole chain (14 daily runs of ingest, clean and stays, then
# the monthly jobs) inside the CI budget; the residence thresholds are scaled to it the
# same way for the generator's truth and for the jobs (see CITY_RULES).
CITY_DAYS = 14
CITY_RULES = TWO_WEEK_RULES
CITY_START = dt.date(2026, 6, 8)  # two weeks with two weekends and 端午节 (Fri 06-19)
MONTH = dt.date(2026, 6, 1)
# The sample is 1 % of the city: ~125 sample residents stand for ~12,500 people, so the
# five largest townships (>= 10 sample residents) have the >= 1,000 people at which
# domain.md's ±15 % township check applies (out-of-sample homes are spread per township at
# the market share, see mobsig.synth.population._out_of_sample). One misplaced home is
# then 5-10 % of such a township: stricter than a real township of 1,000 people with a
# 60 % share.
CITY_MARKET_SHARE = 0.01
# The daily indicator jobs (every day-partitioned job after the daily chain's ingest and
# clean_stays: daily_presence and the monitoring screens) run in the test chain on four
# days of the two weeks, not all 14 (their per-run fixed costs were the chain's largest
# share): a workday, a Saturday, the 端午节 holiday and the last day (runs still open at
# the end of the data). Each such job must be correct for any single day alone; city
# tests take the days from ``ChainRun.days_of``. The workday is the first with three
# workdays before it (screen_reserves' minimum baseline, so an alert is judged): the
# generator plants its reserve intruders on it (synth.reserve_intruder_days, offset 3)
# and its crowd at a hazard point on the Saturday (synth.hazard_crowd_day, offset 5).
INDICATOR_DAYS = (dt.date(2026, 6, 11), dt.date(2026, 6, 13), dt.date(2026, 6, 19),
                  dt.date(2026, 6, 21))


TEST_DRIVER_MEMORY = "5g"  # the test session's heap (the parallel collector, below)


def make_config(tmp: Path, **sections) -> Config:
    data = {"spark": {"shuffle_partitions": 2, "driver_memory": "3g"},
            "paths": {"warehouse": str(tmp / "warehouse")}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build_config(data, base_dir=tmp)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from mobsig.logs import setup_logging
    from mobsig.session import build_session

    setup_logging("WARNING")
    # tiny frames: compiling generated code for every new query shape costs more than
    # interpreting it (the fast tier runs ~20 % faster); results are the same
    # and frames built in tests (createDataFrame) in one partition: two cores scheduling
    # 4 tiny tasks per stage cost the fast tier a third of its time; the shuffles keep
    # spark.shuffle_partitions = 2, and the tests of partition independence repartition
    # explicitly
    # A 5 GB heap with the parallel collector: on warm re-runs of the test city's jobs
    # (third run in one session) commute 52 -> 40 s wall (JVM CPU 43 -> 27 s) and a
    # clean_stays day 14.4 -> 11.0 s against G1 with 3 GB, whose collector threads took
    # ~40 % of the JVM's CPU; the old generation (3.3 GB) holds ~0.6 GB live after them.
    # With a 3 GB heap the parallel collector ran the city chain out of heap (README Tests).
    conf = {"spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            "spark.default.parallelism": "1",
            "spark.driver.extraJavaOptions": "-XX:+UseParallelGC"}
    conf.update(kv.split("=", 1) for kv in os.environ.get("MOBSIG_TEST_CONF", "").split() if kv)
    cfg = make_config(tmp_path_factory.mktemp("spark"),
                      spark={"conf": conf, "driver_memory": TEST_DRIVER_MEMORY})
    session = build_session(cfg, app_name="mobsig-tests")
    # hand-built frames held in the JVM, as the lib's own small frames are
    # (mobsig.localdata): a frame of Python rows otherwise runs a Python worker at every
    # scan (~0.1-0.25 s; README Tests)
    session.createDataFrame = functools.partial(local_frame, session)
    yield session
    session.stop()


@pytest.fixture
def warehouse(tmp_path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture(scope="session")
def city(spark, tmp_path_factory):
    """A 14-day synthetic city (generated once per test run) and its config."""
    from mobsig.config import load_config
    from mobsig.synth.generate import generate

    out = tmp_path_factory.mktemp("city")
    cfg = make_config(out, synth={"people": CITY_PEOPLE, "days": CITY_DAYS,
                                  "start_date": CITY_START.isoformat(),
                                  "market_share": CITY_MARKET_SHARE}, **CITY_RULES)
    res = generate(spark, cfg, out)
    return res, load_config(res.config_path, ["spark.shuffle_partitions=2"])


@dataclass
class ChainRun:
    """What the chain fixture ran: the typed result of every job run, by job and
    partition label (``dt=2026-06-08``, ``month=2026-06``, ``all``)."""

    results: dict[tuple[str, str], JobResult] = field(default_factory=dict)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)  # wall per run

    def seconds_by_job(self) -> list[tuple[str, int, float]]:
        """(job, runs, seconds) per job, slowest first: where the chain's time went."""
        total: dict[str, list] = {}
        for (name, _label), s in self.seconds.items():
            t = total.setdefault(name, [0, 0.0])
            t[0] += 1
            t[1] += s
        return sorted(((n, r, s) for n, (r, s) in total.items()), key=lambda x: -x[2])

    def of(self, job: str, day: dt.date | None = None, month: dt.date | None = None
           ) -> JobResult:
        label = (f"dt={day.isoformat()}" if day else f"month={month:%Y-%m}" if month
                 else "all")
        return self.results[(job, label)]

    def days_of(self, job: str) -> list[dt.date]:
        """The days the chain ran a day-partitioned ``job`` on, in order."""
        return sorted(dt.date.fromisoformat(label[3:13]) for name, label in self.results
                      if name == job and label.startswith("dt="))


def run_chain(spark, cfg, days: list[dt.date],
              indicator_days: tuple[dt.date, ...] | None = INDICATOR_DAYS,
              through: str | None = None) -> ChainRun:
    """Every job of the pipeline spec on ``days`` and their month, in the order
    ``mobsig run all --fresh-start`` runs them (the same plan); the daily indicator jobs
    only on ``indicator_days`` (None: every day); with ``through``, the plan up to that
    job's runs (the jobs after it left out)."""
    import argparse

    from mobsig import pipeline
    from mobsig.runner import run_partition
    from mobsig.tools.run import plan

    core = {j.name for j in pipeline.chain("daily")}

    args = argparse.Namespace(job="all", date=None, date_from=days[0].isoformat(),
                              date_to=days[-1].isoformat(), region=[], month=None,
                              month_from=None, month_to=None, fresh_start=True,
                              no_export_files=False)
    out = ChainRun()
    for name, part, opts in plan(args):
        if name != through and any(n == through for n, _ in out.results):
            break
        if (indicator_days is not None and part.day is not None and name not in core
                and part.day not in indicator_days):
            continue
        t0 = time.monotonic()
        out.results[(name, part.label)] = run_partition(spark, cfg, name, part, opts)
        out.seconds[(name, part.label)] = time.monotonic() - t0
    return out


@pytest.fixture(scope="session")
def chain(spark, city):
    """The whole pipeline run once on the city, in its own warehouse: ingest_units and
    ingest_cells, then ingest_events -> clean_stays for every day, then
    flag_users -> home_work -> place_cards -> expand -> population_by_unit -> jobs_housing
    -> commute -> service_population -> linkage -> trips -> land_use_intensity ->
    screen_farmland for the month, then daily_presence
    (and the other daily indicator jobs) for the days of INDICATOR_DAYS (every job of
    the spec, in its order).
    Tests read the tables; a test that re-runs a partition must leave it identical
    (idempotence)."""
    res, cfg = city
    ran = run_chain(spark, cfg, res.days)
    _CHAIN_RUNS.append(ran)
    return res, cfg, ran


_CHAIN_RUNS: list[ChainRun] = []  # the chain fixture's run, for the terminal summary


def pytest_terminal_summary(terminalreporter):
    """Where the city chain's time went (in every CI log: make test's time goal)."""
    for ran in _CHAIN_RUNS:
        rows = ran.seconds_by_job()
        terminalreporter.write_sep("=", f"city chain: {sum(r[2] for r in rows):.0f} s in "
                                   f"{sum(r[1] for r in rows)} job runs")
        for name, runs, secs in rows:
            terminalreporter.write_line(f"{secs:8.1f} s  {runs:3d} runs  {name}")


# fixtures whose tests belong to a slower tier; the hook below marks every test that uses
# one of them (directly or through another fixture), so the markers cannot drift
TIER_FIXTURES = {"city": "city", "chain": "city", "standalone": "cluster",
                 "real_city": "slow", "world": "job", "tiny_cfg": "job",
                 "read_all": "slow"}  # read_all: ten layer formats (~25 s on 2 cores)
# tests that write Delta tables (a job run, a catalog write) belong to the `job` tier;
# the marker is set by hand and enforced: such a test without it errors at teardown
HEAVY = ("job", "city", "cluster", "slow")
_DELTA_WRITES = [0]


class _Shard:
    """``MOBSIG_TEST_SHARD=i/n`` (``tests/parallel_run.py --fast``): keep every n-th test
    of the selection, from the i-th (after ``-m``/``-k`` deselected theirs: a wrapper
    around every other collection hook), the rest deselected."""

    def __init__(self, spec: str):
        i, n = (int(x) for x in spec.split("/"))
        if not 0 <= i < n:
            raise pytest.UsageError(f"MOBSIG_TEST_SHARD={spec}: want i/n with 0 <= i < n")
        self.i, self.n = i, n

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, config, items):
        yield
        keep = [t for k, t in enumerate(items) if k % self.n == self.i]
        drop = [t for k, t in enumerate(items) if k % self.n != self.i]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    from mobsig.io.catalog import Catalog

    if os.environ.get("MOBSIG_TEST_SHARD"):
        config.pluginmanager.register(_Shard(os.environ["MOBSIG_TEST_SHARD"]), "mobsig-shard")

    for name in ("write", "append", "ensure"):
        original = getattr(Catalog, name)

        def counted(self, *args, _original=original, **kwargs):
            _DELTA_WRITES[0] += 1
            return _original(self, *args, **kwargs)

        setattr(Catalog, name, counted)


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in TIER_FIXTURES.items():
            if fixture in used:
                item.add_marker(getattr(pytest.mark, marker))


# The fast tier's query settings (tests/parallel_run.py FAST_CONF) for every test of the
# fast tier, in `make test` too: unit tests and hand-built frames run with one shuffle
# partition and no adaptive query execution in either suite, as `make test-fast` has run
# them all along; the tests that run jobs (markers in HEAVY) keep the session's own
# settings (the rest tier: two partitions and AQE, as the jobs run in production; the city
# tier: two partitions without AQE, tests/parallel_run.py CITY_CONF). Both are runtime SQL
# settings, set before the test's fixtures (a module fixture built for a fast test is built
# under them), so one session serves both kinds.
FAST_SQL = {"spark.sql.shuffle.partitions": "1", "spark.sql.adaptive.enabled": "false"}
_SESSION_SQL: dict[str, str] = {}  # the session's own values of FAST_SQL's keys


def sql_settings_for(item, spark) -> dict[str, str]:
    """The FAST_SQL keys' values a test runs with (see FAST_SQL)."""
    if not _SESSION_SQL:
        _SESSION_SQL.update({k: spark.conf.get(k) for k in FAST_SQL})
    heavy = any(item.get_closest_marker(m) for m in HEAVY)
    return dict(_SESSION_SQL) if heavy else dict(FAST_SQL)


def pytest_runtest_setup(item):
    item.stash[_WRITES_KEY] = _DELTA_WRITES[0]
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()  # none before the first test that needs one
    if spark is not None:
        for key, value in sql_settings_for(item, spark).items():
            if spark.conf.get(key) != value:
                spark.conf.set(key, value)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "teardown" or report.failed:
        return
    wrote = _DELTA_WRITES[0] - item.stash.get(_WRITES_KEY, _DELTA_WRITES[0])
    if wrote and not any(item.get_closest_marker(m) for m in HEAVY):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} writes Delta tables ({wrote} writes) but is not "
                           "marked `job`: add @pytest.mark.job (keeps `make test-fast` fast)")


_WRITES_KEY = pytest.StashKey[int]()
