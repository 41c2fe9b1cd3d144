"""The real cluster path: a Spark standalone master and worker on loopback, the daily chain
submitted through deploy/yarn/submit.sh (the script ops use) with spark-submit in client
mode, then the outputs and the run manifests checked."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mobsig import pipeline
from tests.conftest import make_config

pytestmark = pytest.mark.cluster  # a standalone master and spark-submit processes

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DAILY = [j.name for j in pipeline.chain("daily")]  # units, cells, ingest, clean + stays
# the daily pass goes through spark-submit (its Python workers run on the standalone
# worker's executors); the other jobs run in the test's own session (their spark-submit
# path is the same code, and each JVM start costs the suite half a minute)
SUBMITTED = ["clean_stays"]
# the jobs before the day's events (units, cells): run once for the module, their warehouse
# copied for the failed-gate test (which needs the same inputs and no events table)
INPUTS = [j.name for j in pipeline.chain("daily") if j.kind == "none"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 60) -> None:
    end = time.time() + seconds
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {seconds}s")


def run_as_group(cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """``subprocess.run`` in a process group of its own, killed whole on a timeout: submit.sh
    starts spark-submit, whose JVM starts the Python driver, and killing the script alone
    left the driver JVM and its Python child running after the test."""
    import signal

    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A standalone master + one worker (2 cores, 3 GiB) on loopback."""
    logs = tmp_path_factory.mktemp("standalone")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(logs),
           "SPARK_WORKER_DIR": str(logs / "work"), "PYSPARK_PYTHON": sys.executable,
           # the JVMs of this test live a minute on a 3,000-event day: C1 alone compiles
           # what they run at a fraction of C2's CPU (the submitted run 70 -> 50 s and
           # ~50 s less CPU alone on the 2-core machine, 2026-12-06; the JIT flags of the
           # long-lived test session: docs/test-times.md)
           "SPARK_DAEMON_JAVA_OPTS": "-XX:TieredStopAtLevel=1"}
    port, ui, wui = free_port(), free_port(), free_port()
    spark_class = str(VENV_BIN / "spark-class")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui)],
            env=env, stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT))
        wait_for_port(port)
        url = f"spark://127.0.0.1:{port}"
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
             "--cores", "2", "--memory", "3g", "--webui-port", str(wui)],
            env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT))
        wait_for_port(wui)
        yield url, logs
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def small_city(spark, tmp_path_factory):
    """A one-day city of 25 persons (~3,000 events) with its units and cells ingested in
    its warehouse; ``inputs/`` keeps a copy of that warehouse as the input jobs left it."""
    from mobsig.config import load_config
    from mobsig.runner import run
    from mobsig.synth.generate import generate

    out = tmp_path_factory.mktemp("cluster_city")
    cfg = make_config(out, synth={"people": 25, "days": 1, "iot_cards": 4, "heavy_cards": 0})
    res = generate(spark, cfg, out)
    city_cfg = load_config(res.config_path)
    for job in INPUTS:
        run(spark, city_cfg, job)
    shutil.copytree(city_cfg.warehouse, out / "inputs")
    return res


def test_daily_chain_through_spark_submit(standalone, small_city, spark, tmp_path):
    url, logs = standalone
    res = small_city
    resources = tmp_path / "resources.yaml"
    # Delta rebuilds a table's state in 50 tasks by default (the local profile sets 2):
    # on this 2-core worker that was ~45 of the submitted run's ~120 s (event log,
    # 2026-12-05)
    resources.write_text(
        "defaults:\n  executors: 1\n  executor_cores: 2\n  executor_memory: 1500m\n"
        "  driver_memory: 1500m\n  shuffle_partitions: 2\n"
        "  conf:\n    spark.databricks.delta.snapshotPartitions: 2\n"
        # C1 only in the submitted driver and executor too (see standalone)
        "    spark.driver.extraJavaOptions: -XX:TieredStopAtLevel=1\n"
        "    spark.executor.extraJavaOptions: -XX:TieredStopAtLevel=1\n")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "MOBSIG_PYTHON": sys.executable,
           "SPARK_SUBMIT": str(VENV_BIN / "spark-submit")}
    day = res.days[0]  # one synthetic day through the whole daily chain
    from mobsig.config import load_config
    from mobsig.runner import run

    cfg = load_config(res.config_path)
    for job in DAILY:
        if job not in SUBMITTED and job not in INPUTS:  # INPUTS: run by small_city
            run(spark, cfg, job, **({"day": day} if pipeline.job(job).kind != "none" else {}))
    for job in SUBMITTED:
        args = ["--date", day.isoformat()]
        if job == "clean_stays":
            args.append("--fresh-start")  # the first day of data has no carry
        cmd = [str(ROOT / "deploy/yarn/submit.sh"), "--target", "standalone", "--master",
               url, "--resources", str(resources), "--python", sys.executable,
               "--config", str(res.config_path), job, *args]
        p = run_as_group(cmd, env, timeout=600)
        assert p.returncode == 0, f"{job} {day} failed:\n{p.stderr[-4000:]}"
        # it really went through spark-submit to the standalone master
        assert f"--master {url}" in p.stderr and "--deploy-mode client" in p.stderr
    from mobsig.io.catalog import Catalog
    from mobsig.runs import read_runs

    wh = res.out / "warehouse"
    cat = Catalog(spark, wh)
    assert cat.read("events_bronze", dt=day).count() > 1000
    assert cat.read("events_clean", dt=day).count() > 1000
    assert cat.read("stays", dt=day).count() > 20
    # the submitted runs folded their records; this process's own runs may be pending
    runs = read_runs(cat).collect()
    done = {(r["job"], r["partition"].split(" ")[0]) for r in runs if r["status"] == "succeeded"}
    for job in DAILY:
        label = "all" if pipeline.job(job).kind == "none" else f"dt={day.isoformat()}"
        assert (job, label) in done, job
    r = next(r for r in runs if r["job"] == "clean_stays"
             and r["partition"].startswith(f"dt={day}"))
    assert json.loads(r["output_rows"])["events_clean"] > 1000
    assert json.loads(r["gates"]) and all(g["success"] for g in json.loads(r["gates"]))
    assert r["code_version"].startswith("mobsig ") and len(r["config_digest"]) == 16
    # the executors ran on the standalone worker (its work dir has an app folder)
    assert any((logs / "work").glob("app-*")), "no application ran on the worker"


def test_failed_gate_exits_non_zero_and_names_the_expectation(small_city, tmp_path, capfd):
    """A job that fails a gate exits 6, its manifest says which expectation failed, and no
    output partition is written. The command line runs in this process (the exit status
    is what `python -m mobsig.cli` exits with: sys.exit(main()); a second JVM would cost
    the suite half a minute)."""
    res = small_city
    wh = tmp_path / "warehouse"
    day = res.days[0].isoformat()
    common = ["--config", str(res.config_path), "--set", f"paths.warehouse={wh}",
              "--log-level", "WARNING"]
    from pyspark.sql import SparkSession

    from mobsig.cli import main as cli_main

    spark = SparkSession.getActiveSession()
    # the inputs as ingest_units and ingest_cells left them (only the failure matters)
    shutil.copytree(res.out / "inputs", wh)
    capfd.readouterr()
    # an impossible bound: every malformed row pushes the quarantine share over 0
    rc = cli_main(["ingest_events", "--date", day, *common,
                   "--set", "ingest.max_quarantine_share=0"])
    err = capfd.readouterr().err
    assert rc == 6, err[-3000:]
    assert "quality gate" in err and "quarantine" in err
    from mobsig.io.catalog import Catalog
    from mobsig.runs import read_runs

    cat = Catalog(spark, wh)
    assert not cat.exists("events_bronze")  # nothing written
    runs = [r for r in read_runs(cat).collect() if r["job"] == "ingest_events"
            and r["status"] != "started"]  # the run's end row (its started row aside)
    assert len(runs) == 1 and runs[0]["status"] == "failed"
    gates = json.loads(runs[0]["gates"])
    assert any(not g["success"] and g["failed"] for g in gates)
    assert "DataQualityError" in runs[0]["error"]
    shutil.rmtree(wh, ignore_errors=True)
