"""Deployment artefacts: pinned versions agree everywhere, manifests are complete and current,
the Airflow DAGs import and follow the job dependencies, submit commands are right."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from mobsig import pipeline, submit
from mobsig.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def pinned(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for d in deps:
        if d.split("==")[0].lower() == name:
            return d.split("==")[1]
    raise KeyError(name)


def test_jvm_pins_match_python_pins_and_session():
    pins = submit.read_pins()
    assert pins.spark == pinned("pyspark")
    assert pins.sedona == pinned("apache-sedona")
    assert pins.delta == pinned("delta-spark")
    from mobsig.session import REQUIRED_JARS

    minor = pins.spark_minor
    assert f"sedona-spark-shaded-{minor}_2.13-{pins.sedona}.jar" in REQUIRED_JARS
    assert f"geotools-wrapper-{pins.geotools_wrapper}.jar" in REQUIRED_JARS
    assert f"delta-spark_{minor}_2.13-{pins.delta}.jar" in REQUIRED_JARS
    # every pinned Python dependency is also in the lock with the same version
    lock = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().split()
                if "==" in line)
    lock = {k.lower().replace("_", "-"): v for k, v in lock.items()}
    for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, version = d.split("==")
        assert lock[name.lower().replace("_", "-")] == version, name


def test_dockerfile_uses_the_pinned_versions():
    text = (DEPLOY / "k8s" / "Dockerfile").read_text()
    pins = submit.read_pins()
    assert f"ARG SPARK_VERSION={pins.spark}" in text
    assert "scala2.13-java17" in text
    assert "COPY deploy/maven/pom.xml" in text and "dependency:copy-dependencies" in text
    assert "requirements.lock" in text
    assert re.search(r"uv python install 3\.11\.\d+", text)
    assert ":latest" not in text


def test_k8s_manifests_are_complete_current_and_pinned():
    pins = submit.read_pins()
    apps = sorted((DEPLOY / "k8s" / "apps").glob("*.yaml"))
    jobs = {p.stem for p in apps}
    assert jobs == set(pipeline.job_names())  # one manifest per job of the spec
    for path in apps:
        doc = yaml.safe_load(path.read_text())
        assert doc["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
        assert doc["kind"] == "SparkApplication"
        spec = doc["spec"]
        for key in ("type", "mode", "image", "mainApplicationFile", "sparkVersion", "driver",
                    "executor", "arguments", "restartPolicy"):
            assert key in spec, (path.name, key)
        assert spec["sparkVersion"] == pins.spark
        assert spec["image"] == submit.image_tag(pins)
        assert spec["image"].endswith(f"-spark{pins.spark}")
        assert spec["arguments"][0] == path.stem
        assert spec["sparkConf"]["spark.kubernetes.driver.podTemplateFile"].endswith(
            "pod-template.yaml")
        for role in ("driver", "executor"):
            assert spec[role]["cores"] >= 1 and re.fullmatch(r"\d+[mg]", spec[role]["memory"])
        # the partition follows the job's kind in the spec (a monthly job takes --month)
        kind = pipeline.job(path.stem).kind
        placeholder = {"month": "${MONTH}", "none": None}.get(kind, "${DATE}")
        assert [a for a in spec["arguments"] if a.startswith("${")] == (
            [placeholder] if placeholder else []), path.name
        # the committed file is what render.py generates now (no drift)
        assert path.read_text() == submit_render_text(path.stem), f"regenerate {path.name}"
    pod = yaml.safe_load((DEPLOY / "k8s" / "pod-template.yaml").read_text())
    assert pod["kind"] == "Pod" and pod["spec"]["containers"]


def submit_render_text(job: str) -> str:
    sys.path.insert(0, str(DEPLOY / "k8s"))
    try:
        import render
    finally:
        sys.path.pop(0)
    return render.text(job)


def test_render_fills_the_date():
    out = subprocess.run([sys.executable, str(DEPLOY / "k8s" / "render.py"), "clean_stays",
                          "--date", "2026-06-01"], capture_output=True, text=True, check=True)
    doc = yaml.safe_load(out.stdout)
    assert doc["metadata"]["name"] == "mobsig-clean-stays-2026-06-01"
    assert doc["spec"]["arguments"][-2:] == ["--date", "2026-06-01"]
    bad = subprocess.run([sys.executable, str(DEPLOY / "k8s" / "render.py"), "clean_stays"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "needs --date" in bad.stderr


def test_yarn_submit_command(tmp_path):
    (ROOT / "dist").mkdir(exist_ok=True)
    wheel = ROOT / "dist" / "mobsig-0.1.0-py3-none-any.whl"
    created = not wheel.exists()
    if created:
        wheel.write_bytes(b"")
    try:
        argv = submit.submit_argv("clean_stays", ["--date", "2026-06-01"], target="yarn",
                                  env_archive="hdfs:///apps/mobsig/env.tar.gz",
                                  config_file="/etc/mobsig/prod.yaml")
    finally:
        if created:
            wheel.unlink()
    text = " ".join(argv)
    assert argv[:5] == ["spark-submit", "--master", "yarn", "--deploy-mode", "cluster"]
    assert "--py-files" in argv and argv[argv.index("--py-files") + 1].endswith(".whl")
    assert "hdfs:///apps/mobsig/env.tar.gz#mobsig-env" in text
    assert "spark.pyspark.python=./mobsig-env/bin/python" in text
    jars = argv[argv.index("--jars") + 1].split(",")
    assert any("sedona-spark-shaded" in j for j in jars) and any("delta-spark" in j for j in jars)
    # the job's own resource profile from deploy/resources.yaml
    res = yaml.safe_load((DEPLOY / "resources.yaml").read_text())
    parts = res["jobs"]["clean_stays"]["shuffle_partitions"]
    assert f"spark.sql.shuffle.partitions={parts}" in text
    assert argv[-6:] == ["--config", "prod.yaml", "--set", "spark.profile=yarn", "--date",
                         "2026-06-01"]
    assert "--files" in argv and argv[argv.index("--files") + 1] == "/etc/mobsig/prod.yaml"


def test_packages_use_the_pinned_coordinates():
    pins = submit.read_pins()
    pk = pins.packages()
    assert f"org.apache.sedona:sedona-spark-shaded-{pins.spark_minor}_2.13:{pins.sedona}" in pk
    assert f"io.delta:delta-spark_{pins.spark_minor}_2.13:{pins.delta}" in pk


def test_bad_resources_and_jobs_fail_clearly(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("jobs:\n  clean_stays:\n    executorz: 3\n")
    with pytest.raises(ConfigError, match="unknown resource key 'executorz'"):
        submit.load_resources(bad, "clean_stays")
    bad.write_text("jobs:\n  no_such_job: {}\n")
    with pytest.raises(ConfigError, match="unknown jobs \\['no_such_job'\\]"):
        submit.load_resources(bad, "clean_stays")
    with pytest.raises(ConfigError, match="unknown job 'nope'"):
        submit.submit_argv("nope", [], target="yarn")


def test_airflow_dags_import_and_follow_job_dependencies(tmp_path, monkeypatch):
    # Airflow is a pinned test extra: the import must work (no skip)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(DEPLOY / "airflow"), include_examples=False)
    assert bag.import_errors == {}
    daily, monthly = bag.dags["mobsig_daily"], bag.dags["mobsig_monthly"]

    def edges(dag):
        return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}

    # the DAGs run the spec's chains in order (every spec edge is implied by the order)
    daily_jobs = [j.name for j in pipeline.chain("daily")]
    monthly_jobs = ["days_complete"] + [j.name for j in pipeline.chain("monthly")]
    assert edges(daily) == set(zip(daily_jobs, daily_jobs[1:], strict=False))
    assert edges(monthly) == set(zip(monthly_jobs, monthly_jobs[1:], strict=False))
    order = {n: i for i, n in enumerate(daily_jobs + monthly_jobs[1:])}
    assert all(order[a] < order[b] for a, b in pipeline.edges())
    assert daily.catchup and daily.max_active_runs == 1
    for dag in (daily, monthly):
        for t in dag.tasks:
            assert t.retries >= 1
    cmd = daily.get_task("clean_stays").bash_command
    assert "deploy/yarn/submit.sh" in cmd and "clean_stays --date {{ data_interval_start | ds }}" \
        in cmd
    assert "--require clean_stays" in monthly.get_task("days_complete").bash_command
    # a day job of the monthly chain runs for every day of the month in one submission
    cmd = monthly.get_task("daily_presence").bash_command
    assert ("daily_presence --from {{ data_interval_start | ds }} --to {{ (data_interval_end"
            " - macros.timedelta(days=1)) | ds }}") in cmd
    assert "--month" in monthly.get_task("commute").bash_command


def test_local_session_uses_small_tungsten_pages(spark, tmp_path):
    """The local profile's JVM uses 2 MB Tungsten pages (a broadcast join's hash table is one
    page, kept until the broadcast is cleaned: 64 MB each by Spark's own sizing; README
    Benchmark); a configured page size wins."""
    from mobsig.session import session_conf
    from tests.conftest import make_config

    assert session_conf(make_config(tmp_path), "t")["spark.buffer.pageSize"] == "2m"
    mine = session_conf(make_config(tmp_path, spark={"conf": {
        "spark.buffer.pageSize": "16m"}}), "t")
    assert mine["spark.buffer.pageSize"] == "16m"
    assert spark.sparkContext._jsc.sc().env().memoryManager().pageSizeBytes() == 2 << 20


def test_jvm_options_of_the_config_keep_the_log_set_up(spark, tmp_path):
    """spark.conf's driver JVM options are added to mobsig's (its log4j configuration), not
    put in their place; the test session's JVM runs with both (by default the parallel
    collector and a 5 GB heap; MOBSIG_TEST_CONF may override them)."""
    from mobsig.session import session_conf
    from tests.conftest import make_config

    key = "spark.driver.extraJavaOptions"
    plain = session_conf(make_config(tmp_path), "t")[key]
    assert "-Dlog4j2.configurationFile=" in plain
    mine = session_conf(make_config(tmp_path, spark={"conf": {key: "-XX:+UseParallelGC"}}),
                        "t")[key]
    assert mine == f"{plain} -XX:+UseParallelGC"
    jvm = spark.sparkContext._jvm
    args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    given = spark.sparkContext.getConf().get(key).split()
    log4j = [o for o in given if o.startswith("-Dlog4j2.configurationFile=")]
    assert log4j and given[-1] != log4j[0]  # the configured options come after mobsig's
    ours = given[given.index(log4j[0]):]  # mobsig's and the configured ones (Spark's before)
    assert set(ours) <= set(args)
    assert f"-Xmx{spark.sparkContext.getConf().get('spark.driver.memory')}" in args
