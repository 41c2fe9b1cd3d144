"""Late data (issue 17, item 1): a day re-run after its evening events arrived late leaves
the later days and the month stale until they are rebuilt; `mobsig status` says so (exit 1
with --require) and `mobsig run --downstream` rebuilds them to exactly what an in-order run
with every event from the start gives.

A small generated city of three days (20 persons). The operator's warehouse first runs
every day and the month (flag_users) without day 1's events from 20:00 on; then they are
delivered, day 1 is re-ingested and re-cleaned (the day is right again, day 2 kept stays
from the old carry), status flags day 2, day 3 and the month, and the command status prints
(`mobsig run clean_stays --date <day 2> --downstream`) rebuilds them. The reference runs
clean_stays for the three days and the month in order on the complete bronze (the
operator's, copied once day 1 is re-ingested from the complete folder: ingest replaces its
partition, so that is what an ingest with every event from the start writes), and every
table from clean_stays on must end equal. The monthly jobs after flag_users follow the same
lineage (their staleness is tested on hand-built records in test_lineage.py); they are
left out to keep this test small.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import shutil
from pathlib import Path

import pytest

from mobsig.config import load_config
from mobsig.io.catalog import Catalog
from mobsig.runner import Partition, run_partition
from mobsig.tools import run as run_tool
from mobsig.tools import status as status_tool
from tests.conftest import make_config

# a city of its own (README: Tests); `city`: it runs in make test's city process
pytestmark = [pytest.mark.job, pytest.mark.slow, pytest.mark.city]

# residence rules for a 3-day "month" (flag_users and home_work run on it)
RULES = {"population": {"resident_min_days": 2, "short_term_min_days": 1},
         "home_work": {"home_min_nights": 1, "work_min_days": 1},
         "flags": {"static_min_days": 2, "multicard_min_days": 2}}
MONTHLY = ("flag_users",)
DERIVED = ("events_clean", "stays", "moves", "stays_carry", "user_flags")
REQUIRE = "clean_stays,flag_users"
LATE_HOUR = "20"


def split_evening(folder: Path, day: str, late: Path) -> int:
    """Move the events of ``day`` from LATE_HOUR:00 on out of the day's raw files into
    ``late`` (line by line, so malformed rows stay byte-identical); the rest stays in the
    folder as one file. The number of late rows."""
    header, keep, evening = None, [], []
    for f in sorted(folder.glob("*.csv.gz")):
        with gzip.open(f, "rt", encoding="utf-8", newline="") as fh:
            lines = fh.read().splitlines(keepends=True)
        header = header or lines[0]
        for line in lines[1:]:
            t = line.split(",")[1] if line.count(",") >= 1 else ""
            (evening if t[:10] == day and t[11:13] >= LATE_HOUR else keep).append(line)
    for f in folder.iterdir():
        if f.name != "_SUCCESS":
            f.unlink()
    for path, rows in ((folder / "part-main.csv.gz", keep), (late, evening)):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
            fh.write(header + "".join(rows))
    return len(evening)


def quiet(fn, *args):
    """Run a tool in-process; (return code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = fn(*args)
    return rc, out.getvalue(), err.getvalue()


def parse(tool, argv: list[str]) -> argparse.Namespace:
    """A tool's arguments as its own parser reads them (no hand-built Namespace to drift)."""
    p = argparse.ArgumentParser()
    tool.add_arguments(p)
    return p.parse_args(argv)


def status(spark, cfg, *, date=None, month=None, require=""):
    args = parse(status_tool, [*(["--date", date] if date else []),
                               *(["--month", month] if month else []),
                               "--require", require, "--no-data-docs"])
    status_tool.validate(args, cfg)
    return quiet(status_tool.run, args, cfg, spark)


def run_args(job, date, downstream=False):
    return parse(run_tool, [job, "--date", date, "--no-export-files",
                            *(["--downstream"] if downstream else [])])


def tables(spark, cfg) -> dict:
    cat = Catalog(spark, cfg.warehouse)
    out = {}
    for t in DERIVED:
        df = cat.read(t).toPandas()
        out[t] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def in_order(spark, cfg, days, ingest=True):
    for d in days if ingest else ():
        run_partition(spark, cfg, "ingest_events", Partition(day=d))
    for i, d in enumerate(days):
        run_partition(spark, cfg, "clean_stays", Partition(day=d),
                      {"fresh_start": True} if i == 0 else {})
    for job in MONTHLY:
        run_partition(spark, cfg, job, Partition(month=days[0].replace(day=1)))


@pytest.fixture(scope="module")
def late(spark, tmp_path_factory):
    from mobsig.synth.generate import generate

    out = tmp_path_factory.mktemp("late_city")
    res = generate(spark, make_config(out, synth={"people": 20, "days": 3, "iot_cards": 1,
                                                  "heavy_cards": 0}, **RULES), out)
    days = res.days
    d1 = days[0].isoformat()
    held = out / "late.csv.gz"
    folder = out / "raw/events" / f"dt={d1}"
    n_late = split_evening(folder, d1, held)
    sets = ["spark.shuffle_partitions=2"]
    ref = load_config(res.config_path, [*sets, f"paths.warehouse={out / 'reference'}"])
    cfg = load_config(res.config_path, [*sets, f"paths.warehouse={out / 'operator'}"])

    # the operator: day 1's evening arrives after the three days and the month ran
    run_partition(spark, cfg, "ingest_units", Partition())
    run_partition(spark, cfg, "ingest_cells", Partition())
    in_order(spark, cfg, days)
    seen = {"clean": status(spark, cfg, date=days[-1].isoformat(), require=REQUIRE)}
    shutil.copy(held, folder / "part-late.csv.gz")
    for job in ("ingest_events", "clean_stays"):  # day 1 is re-run, nothing else
        quiet(run_tool.run, run_args(job, d1), cfg, spark)

    # the reference: the complete bronze, every later job in order
    for t in ("units", "cells", "events_bronze", "events_quarantine"):
        shutil.copytree(Path(cfg.warehouse) / t, Path(ref.warehouse) / t)
    in_order(spark, ref, days, ingest=False)
    want = tables(spark, ref)

    before = tables(spark, cfg)
    seen["stale"] = {d.isoformat(): status(spark, cfg, date=d.isoformat(), require=REQUIRE)
                     for d in days}
    seen["month"] = status(spark, cfg, month=f"{days[0]:%Y-%m}")
    seen["fix"] = quiet(run_tool.run, run_args("clean_stays", days[1].isoformat(), True),
                        cfg, spark)
    seen["fixed"] = status(spark, cfg, date=days[-1].isoformat(), require=REQUIRE)
    seen["fixed_month"] = status(spark, cfg, month=f"{days[0]:%Y-%m}")
    return {"days": days, "n_late": n_late, "want": want, "before": before,
            "after": tables(spark, cfg), **seen}


def test_the_late_events_matter(late):
    """The evening of day 1 is in the late file and changes day 2's stays (a stay open at
    midnight continues into day 2 through the carry)."""
    assert late["n_late"] > 50
    d2 = late["days"][1]
    want, before = late["want"], late["before"]
    day2 = [(t, d2) for t in ("stays", "stays_carry")]
    assert any(not want[t][want[t]["dt"] == d].reset_index(drop=True).equals(
        before[t][before[t]["dt"] == d].reset_index(drop=True)) for t, d in day2)
    # re-running day 1 made day 1 right, not day 2
    d1 = late["days"][0]
    for t in ("events_clean", "stays", "stays_carry"):
        a = want[t][want[t]["dt"] == d1].reset_index(drop=True)
        b = before[t][before[t]["dt"] == d1].reset_index(drop=True)
        assert a.equals(b), t


def test_status_flags_the_later_days_and_the_month(late):
    days = [d.isoformat() for d in late["days"]]
    rc, out, _ = late["clean"]
    assert rc == 0 and "STALE" not in out
    rc, out, err = late["stale"][days[0]]
    clean_line = next(x for x in out.splitlines() if x.startswith(f"dt={days[0]} ")
                      and " clean_stays " in x)
    assert "STALE" not in clean_line
    assert rc == 1  # the month (its monthly job) is stale
    assert "flag_users month=" in err
    for d in days[1:]:
        rc, out, err = late["stale"][d]
        assert rc == 1
        line = next(x for x in out.splitlines() if x.startswith(f"dt={d} ")
                    and " clean_stays " in x)
        assert "STALE: " in line
        assert f"clean_stays dt={d}" in err
    rc, out, err = late["month"]
    assert rc == 0  # no --require
    assert f"STALE: stays_carry dt={days[0]} was re-written with other rows" in out
    line = next(x for x in out.splitlines() if " flag_users " in x)
    assert f"STALE: events_clean dt={days[0]} was re-written with other rows" in line
    assert "stale: 3 partitions" in err
    assert f"rebuild with: mobsig run clean_stays --date {days[1]} --downstream" in err


def test_run_downstream_rebuilds_what_an_in_order_run_gives(late):
    days = [d.isoformat() for d in late["days"]]
    rc, out, _ = late["fix"]
    assert rc == 0
    assert (f"downstream: 2 partitions were built from these: clean_stays dt={days[2]}, "
            "flag_users month=2026-06") in out
    assert "downstream: 2 re-run, 0 up to date" in out
    rc, out, err = late["fixed"]  # the last day and the month
    assert rc == 0, err
    rc, out, err = late["fixed_month"]
    assert rc == 0 and "STALE" not in out and "stale" not in err
    lines = [x for x in out.splitlines() if x.startswith("dt=")]
    assert len(lines) == 2 * len(days)  # ingest_events and clean_stays of every day
    assert "flag_users" in out
    want, after = late["want"], late["after"]
    for t in DERIVED:
        assert len(after[t]) == len(want[t]) > 0, t
        assert after[t].equals(want[t]), t
