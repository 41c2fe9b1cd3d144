"""`make test`: the suite as two pytest processes running at once.

One pytest process keeps about one of the machine's two cores busy (each job run waits
on query planning and Delta commits in one driver thread), so the suite runs as:

- ``city``: the tests that use the synthetic city or its pipeline chain (marker ``city``,
  set automatically from the fixtures a test uses; the chain is built once, in this
  process; without adaptive query execution, ``CITY_CONF``), and the late-data and
  real-county cities (marked by hand, to keep the two processes even), and
- ``rest``: every other test (unit tests, hand-built frames, job runs on tiny
  warehouses, the region profile's chain, the standalone cluster, the bench smoke run).

Together they are exactly the tests ``python -m pytest`` collects (``-m city`` and
``-m "not city"``). Each process has its own Spark session and its own base temporary
directory (``<base>/city``, ``<base>/rest``; ``<base>`` is ``$MOBSIG_TEST_BASETEMP`` or
``<tmp>/mobsig-tests``; pytest empties each at its start: the city's warehouse stays after
the run for a look; ``<base>/<tier>.xml`` has every test's time, JUnit XML; each tier's
25 slowest tests and the city chain's seconds per job are printed at its end). Output lines
are prefixed with the tier; the run fails when either
tier fails. Extra arguments go to both pytest processes (e.g. ``-x``, ``-k name``).

``--fast``: the fast tier (``-m "not job and not city and not
cluster and not slow"``, one shuffle partition and no
adaptive query execution) split in two halves by the tests' collection order (every
other test: ``MOBSIG_TEST_SHARD=0/2`` and ``1/2``, see ``tests/conftest.py``). Not what
``make test-fast`` runs: on two cores it was no faster than one process (5 min 58 s
against 5 min 41 s; README: Tests); kept for machines with more cores."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FAST = "not job and not city and not cluster and not slow"
FAST_CONF = "spark.sql.shuffle.partitions=1 spark.sql.adaptive.enabled=false"
# the city tier without adaptive query execution: on warm re-runs of the test city's jobs
# (two clean_stays days, commute, a daily_presence day; twice each, interleaved A/B runs)
# ~6 % less CPU of the process tree and ~9 % less wall (AQE re-plans each query after
# every stage, on a city whose stages are a few MB); two shuffle partitions as before.
# The rest tier keeps AQE as the jobs run in production (job runs on small warehouses,
# the bench, the real-county city; the cluster test's spark-submit has its own settings),
# so results that would depend on AQE's plans are still checked there
CITY_CONF = "spark.sql.adaptive.enabled=false"
TIERS = (("city", "city", {"MOBSIG_TEST_CONF": CITY_CONF}), ("rest", "not city", {}))
FAST_TIERS = tuple((f"fast{i + 1}", FAST, {"MOBSIG_TEST_SHARD": f"{i}/2",
                                           "MOBSIG_TEST_CONF": FAST_CONF}) for i in range(2))
DURATIONS = 25  # the slowest tests of each tier, in every CI log (the time goal)
NO_TESTS = 5  # pytest's exit code when a selection collects nothing


def _pump(name: str, stream, sink, lock: threading.Lock, tail: list[str]) -> None:
    for line in stream:
        with lock:
            sink.write(f"[{name}] {line}")
            sink.flush()
        tail.append(line.rstrip("\n"))
        del tail[:-3]


def tier_env(extra: dict[str, str], environ) -> dict[str, str]:
    """A tier's environment: ``environ`` with the tier's variables; the caller's own
    ``MOBSIG_TEST_CONF`` settings come after the tier's (the last of a key wins)."""
    env = {**environ, "PYTHONUNBUFFERED": "1", **extra}
    if extra.get("MOBSIG_TEST_CONF") and environ.get("MOBSIG_TEST_CONF"):
        env["MOBSIG_TEST_CONF"] = f"{extra['MOBSIG_TEST_CONF']} {environ['MOBSIG_TEST_CONF']}"
    return env


def main(argv: list[str]) -> int:
    fast = "--fast" in argv
    argv = [a for a in argv if a != "--fast"]
    base = Path(os.environ.get("MOBSIG_TEST_BASETEMP")
                or Path(tempfile.gettempdir()) / "mobsig-tests")
    base.mkdir(parents=True, exist_ok=True)  # pytest makes --basetemp, not its parents
    lock = threading.Lock()
    started = time.monotonic()
    runs = []
    for name, marker, extra in FAST_TIERS if fast else TIERS:
        env = tier_env(extra, os.environ)
        cmd = [sys.executable, "-m", "pytest", "-m", marker, f"--basetemp={base / name}",
               f"--junitxml={base / name}.xml", "-p", "no:cacheprovider",
               f"--durations={DURATIONS}", *argv]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1, env=env)
        tail: list[str] = []
        pump = threading.Thread(target=_pump, args=(name, proc.stdout, sys.stdout, lock, tail))
        pump.start()
        runs.append((name, proc, pump, tail))
    codes = {}
    for name, proc, pump, _tail in runs:
        codes[name] = proc.wait()
        pump.join()
    wall = time.monotonic() - started
    what = "make test-fast" if fast else "make test"
    print(f"\n== {what}: two pytest processes at once, {int(wall // 60)} min "
          f"{int(wall % 60):02d} s wall")
    for name, _proc, _thread, tail in runs:
        print(f"== {name}: exit {codes[name]}: {tail[-1] if tail else '(no output)'}")
    if all(c == NO_TESTS for c in codes.values()):
        return NO_TESTS
    bad = [c for c in codes.values() if c not in (0, NO_TESTS)]
    return bad[0] if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
