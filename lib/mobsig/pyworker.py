"""The Python worker daemon of the local profile (``spark.python.daemon.module``).

Spark starts its Python workers with ``pyspark.zip``, py4j's zip and ``spark-core``'s jar
first on ``PYTHONPATH``, and every task's set-up (``pyspark.worker_util.setup_spark_files``)
calls ``importlib.invalidate_caches()``, which makes each zip importer (one per package
directory inside those archives) read its whole archive's directory again: ~150 ms of every
Python task, reused worker or not, measured 2026-12-05 (README Tests). A task over a few
rows (the tests, a small day's gates, createDataFrame from Python rows) paid it many times.

When this interpreter has pyspark installed as a package (the local profile runs the
driver's own interpreter), the archives are redundant: they are taken off ``sys.path``
before pyspark is imported, so pyspark comes from the installed package of the same
version, and then Spark's own daemon runs. Where pyspark is only in the archives (a
cluster's bare interpreter) nothing is removed.
"""

from __future__ import annotations

import importlib.machinery
import re
import sys

# Spark's own archives on a worker's PYTHONPATH (a job's --py-files stay)
ARCHIVE = re.compile(r"(^|/)(pyspark\.zip|py4j-[^/]*\.zip|spark-core_[^/]*\.jar)$")


def strip_archives(path: list[str]) -> list[str]:
    """``path`` without Spark's archives, or unchanged when pyspark is only found in one."""
    kept = [p for p in path if not ARCHIVE.search(p)]
    if kept == path:
        return path
    spec = importlib.machinery.PathFinder.find_spec("pyspark", kept)
    if spec is None or spec.origin is None or not spec.origin.endswith("/pyspark/__init__.py"):
        return path
    return kept


def main() -> None:
    sys.path[:] = strip_archives(list(sys.path))
    for key in [k for k in sys.path_importer_cache if ARCHIVE.search(k)]:
        del sys.path_importer_cache[key]
    from pyspark import daemon

    daemon.manager()


if __name__ == "__main__":
    main()
