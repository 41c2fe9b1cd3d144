"""`make test` / `make test-fast` run the suite as two pytest processes
(tests/parallel_run.py): the halves must be exactly the selection, and a failure in
either must fail the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import parallel_run  # noqa: E402


def _collected(*args: str, shards: tuple[str | None, ...] = (None,)) -> list[list[str]]:
    """The test ids ``pytest --co`` selects with each of ``shards`` (None: unsharded), the
    collections run side by side (each is one process that waits on its imports)."""
    procs = []
    for shard in shards:
        env = {k: v for k, v in os.environ.items() if k != "MOBSIG_TEST_SHARD"}
        if shard:
            env["MOBSIG_TEST_SHARD"] = shard
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise subprocess.CalledProcessError(p.returncode, p.args, out, err)
        outs.append([line for line in out.splitlines() if "::" in line])
    return outs


def test_fast_shards_split_the_selection_exactly():
    args = ("-m", parallel_run.FAST, "tests/test_holidays.py", "tests/test_lineage.py")
    every, *halves = _collected(*args, shards=(None, "0/2", "1/2"))
    assert len(every) > 10
    assert sorted(halves[0] + halves[1]) == sorted(every)
    assert not set(halves[0]) & set(halves[1])
    assert abs(len(halves[0]) - len(halves[1])) <= 1


def test_tiers_together_are_the_whole_suite():
    markers = [m for _, m, _ in parallel_run.TIERS]
    assert markers == ["city", "not city"]
    # the city tier without AQE, the rest as the jobs run (AQE on: no conf of its own)
    confs = {name: extra.get("MOBSIG_TEST_CONF") for name, _, extra in parallel_run.TIERS}
    assert confs == {"city": "spark.sql.adaptive.enabled=false", "rest": None}
    city = dict(parallel_run.TIERS[0][2])
    env = parallel_run.tier_env(city, {"PATH": "/bin", "MOBSIG_TEST_CONF": "a=1"})
    assert env["PATH"] == "/bin" and env["PYTHONUNBUFFERED"] == "1"
    assert env["MOBSIG_TEST_CONF"] == "spark.sql.adaptive.enabled=false a=1"
    assert parallel_run.tier_env({}, {"MOBSIG_TEST_CONF": "a=1"})["MOBSIG_TEST_CONF"] == "a=1"


def test_a_failing_half_fails_the_run(tmp_path, capsys, monkeypatch):
    (tmp_path / "test_mixed.py").write_text("def test_ok():\n    pass\n\n"
                                            "def test_broken():\n    assert 1 == 2\n")
    (tmp_path / "test_fine.py").write_text("def test_ok():\n    pass\n")
    monkeypatch.setenv("MOBSIG_TEST_BASETEMP", str(tmp_path / "new" / "base"))
    monkeypatch.chdir(ROOT)
    assert parallel_run.main(["--fast", str(tmp_path / "test_fine.py")]) == 0
    assert parallel_run.main(["--fast", str(tmp_path / "test_mixed.py")]) == 1
    out = capsys.readouterr().out
    assert "[fast1]" in out and "[fast2]" in out and "== fast1: exit 1" in out
    assert "slowest 25 durations" in out  # where the time goes, in every CI log


def test_chain_seconds_add_up_per_job_slowest_first():
    from tests.conftest import ChainRun

    ran = ChainRun(seconds={("ingest_events", "dt=2026-06-08"): 2.0,
                            ("clean_stays", "dt=2026-06-08"): 3.0,
                            ("ingest_events", "dt=2026-06-09"): 2.5,
                            ("expand", "month=2026-06"): 1.0})
    assert ran.seconds_by_job() == [("ingest_events", 2, 4.5), ("clean_stays", 1, 3.0),
                                    ("expand", 1, 1.0)]


def test_a_bad_shard_spec_is_a_usage_error():
    from tests.conftest import _Shard

    with pytest.raises(pytest.UsageError):
        _Shard("2/2")


def test_fast_tests_run_with_the_fast_tier_settings(spark, request):
    """A test of the fast tier runs with FAST_SQL in any suite (make test too): the
    setup hook sets it before the test's fixtures once the session exists (called again
    here, as at this test's setup, for a run where this test created the session)."""
    from tests.conftest import FAST_SQL, pytest_runtest_setup

    pytest_runtest_setup(request.node)
    assert {k: spark.conf.get(k) for k in FAST_SQL} == FAST_SQL
    assert spark.range(10).repartition("id").rdd.getNumPartitions() == 1


@pytest.mark.job
def test_job_tests_keep_the_session_settings(spark, request):
    """A test that runs jobs keeps the session's own settings: two shuffle partitions
    (tests/conftest.py make_config) unless MOBSIG_TEST_CONF sets them."""
    from tests.conftest import _SESSION_SQL, FAST_SQL, pytest_runtest_setup

    pytest_runtest_setup(request.node)
    got = {k: spark.conf.get(k) for k in FAST_SQL}
    assert _SESSION_SQL and got == _SESSION_SQL
    conf = dict(kv.split("=", 1) for kv in os.environ.get("MOBSIG_TEST_CONF", "").split())
    assert got["spark.sql.shuffle.partitions"] == conf.get("spark.sql.shuffle.partitions",
                                                           "2")
    assert got["spark.sql.adaptive.enabled"] == conf.get("spark.sql.adaptive.enabled", "true")
