"""Build the ``spark-submit`` command that runs a mobsig job on a cluster.

Used by ``deploy/yarn/submit.sh`` (YARN, or a standalone master for tests) and by
``deploy/k8s/render.py`` (SparkApplication manifests). One place decides how the code,
the Python environment and the jars travel, and which resources a job gets:

- code: the ``mobsig`` wheel (``--py-files``) plus ``deploy/entry.py`` as the main file;
- Python: an archived virtualenv (``--archives env.tar.gz#mobsig-env``, workers run
  ``./mobsig-env/bin/python``) or, without an archive, the interpreter given by
  ``--python`` on every node (``spark.pyspark.python``);
- jars: the fetched ``deploy/jars`` folder (``--jars``) or the same pinned coordinates
  from Maven (``--packages``);
- resources: ``deploy/resources.yaml``, a per-job profile (executors, cores, memory,
  shuffle partitions) over defaults.

``python -m mobsig.submit --target yarn [--dry-run] JOB [job options]`` prints or runs it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import yaml

from mobsig.errors import ConfigError, SetupError

RESOURCE_KEYS = {
    "executors": "spark.executor.instances",
    "executor_cores": "spark.executor.cores",
    "executor_memory": "spark.executor.memory",
    "executor_memory_overhead": "spark.executor.memoryOverhead",
    "driver_cores": "spark.driver.cores",
    "driver_memory": "spark.driver.memory",
    "shuffle_partitions": "spark.sql.shuffle.partitions",
}
TARGETS = ("yarn", "k8s", "standalone")
SEDONA_KRYO = "org.apache.sedona.core.serde.SedonaKryoRegistrator"


def deploy_dir() -> Path:
    """The checkout's deploy/ folder (submission runs from a checkout or an image)."""
    env = os.environ.get("MOBSIG_DEPLOY_DIR")
    if env:
        return Path(env)
    from mobsig.session import repo_root

    root = repo_root()
    if root is None:
        raise SetupError("cannot find deploy/: run from a checkout or set MOBSIG_DEPLOY_DIR")
    return root / "deploy"


def job_names() -> list[str]:
    """The Spark jobs that run on a cluster (the pipeline spec, in order)."""
    from mobsig.pipeline import job_names as names

    return names()


@dataclass(frozen=True)
class Pins:
    spark: str
    sedona: str
    geotools_wrapper: str
    delta: str

    @property
    def spark_minor(self) -> str:
        return ".".join(self.spark.split(".")[:2])

    def packages(self) -> list[str]:
        """Maven coordinates of the jars (what ``--packages`` resolves)."""
        return [f"org.apache.sedona:sedona-spark-shaded-{self.spark_minor}_2.13:{self.sedona}",
                f"org.datasyslab:geotools-wrapper:{self.geotools_wrapper}",
                f"io.delta:delta-spark_{self.spark_minor}_2.13:{self.delta}"]


def read_pins(pom: Path | None = None) -> Pins:
    """The pinned JVM versions, from deploy/maven/pom.xml (the single source)."""
    pom = pom or deploy_dir() / "maven" / "pom.xml"
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(pom).getroot().find("m:properties", ns)
    if props is None:
        raise SetupError(f"{pom}: no <properties>")

    def get(tag: str) -> str:
        el = props.find(f"m:{tag}", ns)
        if el is None or not (el.text or "").strip():
            raise SetupError(f"{pom}: property {tag} missing")
        return el.text.strip()

    return Pins(get("spark.version"), get("sedona.version"), get("geotools.wrapper.version"),
                get("delta.version"))


def load_resources(path: Path, job: str) -> dict[str, str]:
    """Spark settings for ``job`` from the resources file (defaults, then the job's own)."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"resources file {str(path)!r}: {exc}") from None
    unknown_top = sorted(set(doc) - {"defaults", "jobs"})
    if unknown_top:
        raise ConfigError(f"{path}: unknown sections {unknown_top}; allowed: defaults, jobs")
    jobs = doc.get("jobs") or {}
    bad_jobs = sorted(set(jobs) - set(job_names()))
    if bad_jobs:
        raise ConfigError(f"{path}: unknown jobs {bad_jobs}; known: {', '.join(job_names())}")
    merged = {**(doc.get("defaults") or {}), **(jobs.get(job) or {})}
    conf: dict[str, str] = {}
    for key, value in merged.items():
        if key == "conf":
            conf.update({str(k): str(v) for k, v in (value or {}).items()})
            continue
        if key not in RESOURCE_KEYS:
            raise ConfigError(f"{path}: unknown resource key {key!r} (job {job}); allowed: "
                              + ", ".join(sorted([*RESOURCE_KEYS, "conf"])))
        conf[RESOURCE_KEYS[key]] = str(value)
    return conf


def wheel_path() -> Path:
    dist = deploy_dir().parent / "dist"
    wheels = sorted(dist.glob("mobsig-*.whl"))
    if not wheels:
        raise SetupError(f"no mobsig wheel in {dist}: build it with "
                         "`.venv/bin/python -m pip wheel --no-deps -w dist .`")
    return wheels[-1]


def submit_argv(job: str, job_args: list[str], *, target: str, master: str | None = None,
                deploy_mode: str | None = None, resources: Path | None = None,
                use_packages: bool = False, env_archive: str | None = None,
                python: str | None = None, config_file: str | None = None,
                spark_submit: str = "spark-submit") -> list[str]:
    """The full spark-submit argv for one job run."""
    if target not in TARGETS:
        raise ConfigError(f"--target: {target!r}; allowed: {', '.join(TARGETS)}")
    if job not in job_names():
        raise ConfigError(f"unknown job {job!r}; jobs: {', '.join(job_names())}")
    d = deploy_dir()
    masters = {"yarn": "yarn", "k8s": master, "standalone": master}
    master = master or masters[target]
    if not master:
        raise ConfigError(f"--master is required for target {target}")
    mode = deploy_mode or ("client" if target == "standalone" else "cluster")
    if mode not in ("client", "cluster"):
        raise ConfigError(f"--deploy-mode: {mode!r}; allowed: client, cluster")
    conf = {"spark.serializer": "org.apache.spark.serializer.KryoSerializer",
            "spark.kryo.registrator": SEDONA_KRYO,
            "spark.sql.session.timeZone": "Asia/Shanghai"}
    conf.update(load_resources(resources or d / "resources.yaml", job))
    argv = [spark_submit, "--master", master, "--deploy-mode", mode,
            "--name", f"mobsig-{job}"]
    if use_packages:
        argv += ["--packages", ",".join(read_pins().packages())]
    else:
        jars = sorted((d / "jars").glob("*.jar"))
        if not jars:
            raise SetupError(f"no jars in {d / 'jars'}: run `make jars`, or use --packages")
        argv += ["--jars", ",".join(str(j) for j in jars)]
    argv += ["--py-files", str(wheel_path())]
    if env_archive:
        argv += ["--archives", f"{env_archive}#mobsig-env"]
        conf["spark.pyspark.python"] = "./mobsig-env/bin/python"
        if mode == "client":
            conf["spark.pyspark.driver.python"] = python or sys.executable
    elif python:
        conf["spark.pyspark.python"] = python
        conf["spark.pyspark.driver.python"] = python
    files = []
    if config_file:
        files.append(config_file)
    if files and mode == "cluster":
        argv += ["--files", ",".join(files)]
    for k, v in sorted(conf.items()):
        argv += ["--conf", f"{k}={v}"]
    argv.append(str(d / "entry.py"))
    argv.append(job)
    if config_file:
        # in cluster mode --files puts the file in the driver's working directory
        argv += ["--config", Path(config_file).name if mode == "cluster" else config_file]
    argv += ["--set", f"spark.profile={target}"]
    argv += job_args
    return argv


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m mobsig.submit",
        description="Run a mobsig job through spark-submit (YARN, standalone or Kubernetes).")
    p.add_argument("--target", choices=TARGETS, default="yarn")
    p.add_argument("--master", help="master URL (default: yarn for --target yarn)")
    p.add_argument("--deploy-mode", choices=["client", "cluster"])
    p.add_argument("--resources", type=Path, help="resource profiles (deploy/resources.yaml)")
    p.add_argument("--packages", action="store_true",
                   help="resolve the pinned jars from Maven instead of deploy/jars")
    p.add_argument("--env-archive", help="archived virtualenv (tar.gz) shipped to executors")
    p.add_argument("--python", help="Python interpreter on every node (no archive)")
    p.add_argument("--config", dest="config_file", help="mobsig YAML config for the job")
    p.add_argument("--spark-submit", default=os.environ.get("SPARK_SUBMIT", "spark-submit"))
    p.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    p.add_argument("job", help="job name, e.g. ingest_events")
    p.add_argument("job_args", nargs=argparse.REMAINDER, help="the job's own options")
    a = p.parse_args(argv)
    try:
        cmd = submit_argv(a.job, a.job_args, target=a.target, master=a.master,
                          deploy_mode=a.deploy_mode, resources=a.resources,
                          use_packages=a.packages, env_archive=a.env_archive, python=a.python,
                          config_file=a.config_file, spark_submit=a.spark_submit)
    except (ConfigError, SetupError) as exc:
        print(f"submit: {exc}", file=sys.stderr)
        return exc.exit_code
    print(" ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    if a.dry_run:
        return 0
    return subprocess.call(cmd)



# --------------------------------------------------------------------------------------
# Kubernetes (Kubeflow Spark operator)

IMAGE_REPO = "registry.local/mobsig/mobsig"


def partition_placeholder(job: str) -> list[str]:
    """The partition arguments of ``job``'s manifest, from its kind in the pipeline spec:
    ``--month ${MONTH}`` (monthly), none (a whole-table job), else ``--date ${DATE}``."""
    from mobsig.pipeline import job as spec

    kind = spec(job).kind
    if kind == "month":
        return ["--month", "${MONTH}"]
    return [] if kind == "none" else ["--date", "${DATE}"]


def image_tag(pins: Pins | None = None) -> str:
    """Image tag: mobsig version + the Spark line it carries (pinned, never 'latest')."""
    from mobsig import __version__

    pins = pins or read_pins()
    return f"{IMAGE_REPO}:{__version__}-spark{pins.spark}"


def k8s_manifest(job: str, pins: Pins | None = None, namespace: str = "mobsig") -> dict:
    """A SparkApplication for ``job`` with the partition as a ``${DATE}``/``${MONTH}``
    placeholder (filled by ``deploy/k8s/render.py JOB --date D``)."""
    pins = pins or read_pins()
    res = load_resources(deploy_dir() / "resources.yaml", job)
    partition = partition_placeholder(job)
    conf = {k: v for k, v in res.items()
            if k not in ("spark.executor.instances", "spark.executor.cores",
                         "spark.executor.memory", "spark.driver.cores", "spark.driver.memory",
                         "spark.executor.memoryOverhead")}
    conf.update({
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryo.registrator": SEDONA_KRYO,
        "spark.sql.session.timeZone": "Asia/Shanghai",
        "spark.kubernetes.driver.podTemplateFile": "/opt/mobsig/deploy/k8s/pod-template.yaml",
        "spark.kubernetes.executor.podTemplateFile":
            "/opt/mobsig/deploy/k8s/pod-template.yaml",
    })
    suffix = f"-{partition[1]}" if partition else ""
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": f"mobsig-{job.replace('_', '-')}{suffix}",
                     "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": "mobsig", "mobsig/job": job}},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": image_tag(pins),
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": "local:///opt/mobsig/deploy/entry.py",
            "arguments": [job, "--config", "/etc/mobsig/config.yaml",
                          "--set", "spark.profile=k8s", *partition],
            "sparkVersion": pins.spark,
            "sparkConf": dict(sorted(conf.items())),
            "restartPolicy": {"type": "OnFailure", "onFailureRetries": 2,
                              "onFailureRetryInterval": 300,
                              "onSubmissionFailureRetries": 3,
                              "onSubmissionFailureRetryInterval": 60},
            "volumes": [{"name": "mobsig-config", "configMap": {"name": "mobsig-config"}}],
            "driver": {
                "cores": int(res.get("spark.driver.cores", "1")),
                "memory": res.get("spark.driver.memory", "4g"),
                "serviceAccount": "mobsig-spark",
                "labels": {"mobsig/role": "driver"},
                "volumeMounts": [{"name": "mobsig-config", "mountPath": "/etc/mobsig"}],
            },
            "executor": {
                "instances": int(res.get("spark.executor.instances", "2")),
                "cores": int(res.get("spark.executor.cores", "1")),
                "memory": res.get("spark.executor.memory", "4g"),
                "memoryOverhead": res.get("spark.executor.memoryOverhead", "1g"),
                "labels": {"mobsig/role": "executor"},
                "volumeMounts": [{"name": "mobsig-config", "mountPath": "/etc/mobsig"}],
            },
        },
    }

if __name__ == "__main__":
    sys.exit(main())
