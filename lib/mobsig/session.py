"""The one place a SparkSession is built: Delta, Sedona, time zone, profile defaults.

Profiles:
- ``local``: local[N] with small shuffle settings for a 2-core/24 GiB machine; the jars
  come from the fetched ``deploy/jars`` folder (``make jars``).
- ``yarn`` / ``k8s``: the master, resources and jars come from ``spark-submit`` (see
  ``deploy/``); only the SQL extensions, serializer and time zone are set here, plus any
  ``spark.conf`` entries from the config.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from mobsig.config import Config
from mobsig.errors import SetupError

log = logging.getLogger(__name__)

# The JVM artifacts this build expects (deploy/maven/pom.xml fetches exactly these).
REQUIRED_JARS = (
    "sedona-spark-shaded-4.0_2.13-1.8.0.jar",
    "geotools-wrapper-1.8.0-33.1.jar",
    "delta-spark_4.0_2.13-4.4.0.jar",
    "delta-storage-4.4.0.jar",
)

SEDONA_KRYO = "org.apache.sedona.core.serde.SedonaKryoRegistrator"
# Sedona registers its functions through SedonaContext.create (below), not an extension,
# so they are registered exactly once.
EXTENSIONS = "io.delta.sql.DeltaSparkSessionExtension"


def repo_root() -> Path | None:
    """The checkout this package runs from (None when installed from a wheel)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "deploy").is_dir():
            return parent
    return None


def jars_dir(cfg: Config) -> Path | None:
    if cfg.spark.jars_dir:
        return Path(cfg.spark.jars_dir).expanduser().resolve()
    if os.environ.get("MOBSIG_JARS"):
        return Path(os.environ["MOBSIG_JARS"]).resolve()
    root = repo_root()
    return root / "deploy" / "jars" if root else None


def local_jars(cfg: Config) -> list[str]:
    """Jar paths for the local profile, or a SetupError that says how to fetch them."""
    folder = jars_dir(cfg)
    if folder is None or not folder.is_dir():
        raise SetupError(
            f"JVM jars folder {folder} not found: run `make jars` (deploy/fetch_jars.sh) "
            "or set spark.jars_dir / $MOBSIG_JARS")
    present = {p.name for p in folder.glob("*.jar")}
    missing = [j for j in REQUIRED_JARS if j not in present]
    if missing:
        raise SetupError(
            f"JVM jars missing from {folder}: {', '.join(missing)}; run `make jars` "
            "(deploy/fetch_jars.sh) to fetch the pinned versions")
    return sorted(str(p) for p in folder.glob("*.jar"))


def _log4j_file() -> str:
    """Spark's JVM log configuration: the json one when mobsig logs json
    (:func:`mobsig.logs.log_format`)."""
    from importlib import resources

    from mobsig.logs import log_format

    name = "log4j2-json.properties" if log_format() == "json" else "log4j2.properties"
    return str(resources.files("mobsig").joinpath(f"data/{name}"))


def session_conf(cfg: Config, app_name: str) -> dict[str, str]:
    """Every Spark setting the builder applies (exposed for tests and --explain)."""
    sc = cfg.spark
    conf: dict[str, str] = {
        "spark.app.name": app_name,
        "spark.sql.extensions": EXTENSIONS,
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryo.registrator": SEDONA_KRYO,
        "spark.sql.session.timeZone": cfg.run.timezone,
        "spark.sql.shuffle.partitions": str(sc.shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
    }
    if sc.profile == "local":
        conf.update({
            "spark.master": sc.master or f"local[{sc.local_cores}]",
            "spark.driver.memory": sc.driver_memory,
            "spark.jars": ",".join(local_jars(cfg)),
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.default.parallelism": str(sc.local_cores * 2),
            "spark.sql.adaptive.coalescePartitions.minPartitionSize": "1MB",
            # Delta rebuilds table state with 50 partitions by default: too many locally.
            "spark.databricks.delta.snapshotPartitions": str(max(2, sc.local_cores)),
            "spark.databricks.delta.stats.collect": "true",
            "spark.sql.warehouse.dir": str(cfg.warehouse / "_spark_catalog"),
            # Tungsten pages of 2 MB, not the 64 MB Spark derives from the heap: the hash
            # table of every broadcast join is built in one page of that size and kept in
            # the block manager until the broadcast is cleaned, so a monthly run's ~20 small
            # broadcasts held 1.3 GB of a 3 GB heap (README Benchmark).
            "spark.buffer.pageSize": "2m",
            # G1 (the JVM's default) kept: the parallel collector used less CPU on a warm
            # monthly run but ran the test city's chain out of a 3 GB heap (README
            # Benchmark); spark.conf may add JVM options (the test session does).
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_log4j_file()}",
            # Python workers without Spark's archives on sys.path: every Python task
            # re-read them (~0.1 s a task; mobsig.pyworker)
            "spark.python.daemon.module": "mobsig.pyworker",
        })
    elif sc.master:
        conf["spark.master"] = sc.master
    if sc.profile != "local" and sc.jars_dir:
        conf["spark.jars"] = ",".join(local_jars(cfg))
    extra = dict(sc.conf)
    key = "spark.driver.extraJavaOptions"
    if key in conf and key in extra:  # the user's JVM options, with mobsig's log set-up
        extra[key] = f"{conf[key]} {extra[key]}".strip()
    conf.update(extra)
    return conf


def build_session(cfg: Config, app_name: str = "mobsig"):  # -> SparkSession
    """Build (or return the active) SparkSession for the config's profile."""
    if sys.version_info[:2] != (3, 11):
        raise SetupError(f"mobsig needs Python 3.11, this is {sys.version.split()[0]}")
    conf = session_conf(cfg, app_name)
    if cfg.spark.profile == "local":
        # Workers must run this interpreter (the one with h3, numpy, ...), on loopback.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("MOBSIG_SPARK_LOG_LEVEL", "WARN"))
    from sedona.spark import SedonaContext

    spark = SedonaContext.create(spark)
    log.info("spark session ready: profile=%s master=%s version=%s",
             cfg.spark.profile, spark.sparkContext.master, spark.version)
    return spark
