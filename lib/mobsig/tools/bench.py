"""Benchmark the daily chain (ingest -> clean + stays) in local mode at several sizes.

    mobsig bench --sizes 1e6,1e7,3e7 --skew --out bench-out

For each size it generates a one-day synthetic city with about that many raw events (CSV
gzip, as operators deliver them), runs ingest_events and clean_stays on it
in this session with every quality gate on, and reports per run:

  - wall time per stage and of the chain (the sum of the daily stages), events/s per
    core end to end (raw events / chain seconds / local cores);
  - the Spark I/O floor on the same files, in the same session: read the raw CSV, parse
    the time, repartition by user, sort by (user, time), write Parquet (the one
    unavoidable shuffle), and chain/floor;
  - peak resident memory (RSS) of the whole process tree (driver JVM + Python workers),
    sampled every 0.5 s, per stage and for the chain, and the tree's RSS when the chain
    starts (after a JVM garbage collection; the JVM keeps heap it has grown, so a run's
    RSS includes what earlier work in the same session left committed); bench.json also
    splits each peak into JVM, driver Python and Python workers.

An untimed warm-up run on a 10,000-event day comes first (--no-warmup skips it), so the
first size does not carry the session's one-off costs (JIT, class loading, Great
Expectations' context).

Over the sizes it reports the scaling exponent b of time ~ events^b (least-squares slope
of log seconds vs log events, for the chain and for the floor; n/a with one size).

--skew adds a skewed day per size (or only for the sizes given): the same generator with
one heavy card carrying min(10^6, 10 % of the day) events, and the events of whole other
cards moved onto that card's cell (a real cell, valid on the day; times unchanged) until
the cell carries 10 % of all events. The skewed day gets the same numbers, its measured
card and cell shares, and "flat memory": its chain peak RSS within 1.25x of the uniform
day of the same size.

--hazards N adds a timed stage after clean_stays: geological hazard exposure
(mobsig.hazards, the exposure_hazards job's transforms and suppression) on the day's stays
with N hazard points drawn uniformly over the city disk (every tenth with its own 1000 m
buffer, the others 500 m; a dense worst case: 10,000 points over ~1,500 km² overlap, so a
stay is near several), reported as hazards_s and events/s (raw events / hazards_s). The
one-day city has no month, so no home_work: every card counts, with weight 1, and a
card's home is the place of its longest stay of the day (as many home points as
card_places has cards). The table is written to OUT (Parquet), so the whole plan runs.

--carried adds, after the uniform day of each size (or of the sizes given), its next day:
the city is generated for two days and the second runs ingest_events and clean_stays behind
the first day's carry (``day`` = ``carried``), as every day of production but the first
does: nearly every card then starts the day with an open stay carried as a summary, which
the stay fold continues card by card (mobsig.stay_state), a cost a first day does not
show. The sizing is computed from the carried days when there are any.

Each day's units and cells (ingest_units, ingest_cells: set-up, not timed as the chain) are
ingested once per distinct content of the generated unit layer and cell table: a later day
whose files are byte-identical (the skewed day of a size, usually every size: the
generator's network does not depend on the number of persons) gets copies of those two
tables instead (``setup_reused`` in its result).

Results: OUT/bench.json (machine facts, every run, scaling) and OUT/bench.md (the
Markdown table, also printed). This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import math
import os
import platform
import re
import shutil
import threading
import time
from pathlib import Path

from mobsig import pipeline
from mobsig.config import Config, build_config
from mobsig.errors import ConfigError

NAME = "bench"
HELP = "benchmark ingest -> clean + stays at several input sizes (local mode)"
EVENTS_PER_PERSON_DAY = 125.0  # measured on the synthetic city (humans + IoT), for sizing
HEAVY_EVENTS_PER_DAY = 30_000  # the generator's heavy test cards (synth default) ...
HEAVY_SHARE_MAX = 0.03  # ... capped at 3 % of a small day (unchanged from 10^6 events up)
SKEW_CARD_EVENTS = 1_000_000  # the skewed day's heavy card: min(10^6, 10 % of the day)
SKEW_SHARE = 0.10  # ... and the share of all events on its cell
FLAT_MEMORY = 1.25  # skewed peak RSS / uniform peak RSS at which memory counts as flat
MIN_SIZE = 10_000
# the daily jobs the bench times, from the pipeline spec (ingest, clean + stays; not the
# day jobs of the monthly chain, which need a month's home_work)
DAILY_STAGES = [j.name for j in pipeline.PIPELINE
                if j.kind.startswith("day") and j.chain == "daily"]
SHORT = {"ingest_events": "ingest", "clean_stays": "clean+stays"}
_CARD_ID = re.compile(r"[0-9a-f]{32}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="1e6,3e6,1e7",
                   help="target raw events per run, comma-separated, each >= 10000 "
                        "(default 1e6,3e6,1e7)")
    p.add_argument("--skew", nargs="?", const="all", default=None, metavar="SIZES",
                   help="also run a skewed day (one card with min(10^6, 10%% of the day) "
                        "events, one cell with 10%% of all events) for every size, or only "
                        "for the given comma-separated sizes (a subset of --sizes)")
    p.add_argument("--carried", nargs="?", const="all", default=None, metavar="SIZES",
                   help="also run the uniform day's next day behind its carry (stays open "
                        "at midnight carried as summaries: every later day of production) "
                        "for every size, or only for the given comma-separated sizes")
    p.add_argument("--out", default="bench-out",
                   help="work and result folder (bench.json, bench.md)")
    p.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="skip the untimed warm-up run (a 10000-event day first, so the "
                        "first size does not pay the session's one-off costs)")
    p.add_argument("--keep", action="store_true", help="keep each run's data and tables")
    p.add_argument("--hazards", type=int, default=0, metavar="N",
                   help="also time hazard exposure (exposure_hazards' transforms) on each "
                        "day with N random hazard points (e.g. 10000; default 0: not run)")


def _parse_sizes(text: str, option: str) -> list[int]:
    try:
        out = [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a list of numbers") from None
    if not out or min(out) < MIN_SIZE:
        raise ConfigError(f"{option}: give sizes of at least {MIN_SIZE} events")
    return out


def sizes(args: argparse.Namespace) -> list[int]:
    return _parse_sizes(args.sizes, "--sizes")


def _subset(args: argparse.Namespace, option: str, why: str) -> list[int]:
    value = getattr(args, option.strip("-"), None)
    if value is None:
        return []
    if value == "all":
        return sizes(args)
    out = _parse_sizes(value, option)
    extra = sorted(set(out) - set(sizes(args)))
    if extra:
        raise ConfigError(f"{option}: {extra} not among --sizes ({why})")
    return out


def skew_sizes(args: argparse.Namespace) -> list[int]:
    """The sizes that get a skewed day too (none without --skew)."""
    return _subset(args, "--skew", "the skewed day is compared with the uniform day of the "
                   "same size")


def carried_sizes(args: argparse.Namespace) -> list[int]:
    """The sizes whose uniform day is followed by a carried day (none without --carried)."""
    return _subset(args, "--carried", "the carried day is the uniform day's next day")


def validate(args: argparse.Namespace, cfg: Config) -> None:
    sizes(args)
    skew_sizes(args)
    carried_sizes(args)
    if getattr(args, "hazards", 0) < 0:
        raise ConfigError("--hazards: give a number of hazard points >= 0")


HAZARD_SEED = 15  # the bench's hazard points (issue 15)


def hazard_points(n: int, center_lon: float, center_lat: float, radius_m: float = 22_000.0,
                  seed: int = HAZARD_SEED):
    """``n`` hazard points uniform over the disk of ``radius_m`` around the centre, as
    mobsig.hazards.hazard_points gives them (every tenth with a 1000 m buffer)."""
    import numpy as np
    import pandas as pd

    from mobsig import columns as C
    from mobsig import hazards

    rng = np.random.default_rng(seed)
    r = radius_m * np.sqrt(rng.random(n))
    a = rng.uniform(0, 2 * np.pi, n)
    mx, my = hazards.metres_per_degree(np.array([center_lat]))
    lat = center_lat + r * np.sin(a) / my[0]
    lon = center_lon + r * np.cos(a) / hazards.metres_per_degree(lat)[0]
    mxs, mys = hazards.metres_per_degree(lat)
    return pd.DataFrame({hazards.POINT: np.arange(n, dtype=np.int64),
                         C.LEVEL: "hazard_point",
                         C.UNIT_ID: [f"HZ{i:06d}" for i in range(n)],
                         C.UNIT_NAME: None, C.PARENT_ID: None, C.LON: lon, C.LAT: lat,
                         hazards.BUFFER_M: np.where(np.arange(n) % 10 == 9, 1000.0, 500.0),
                         "_mx": mxs, "_my": mys})


def hazards_stage(spark, cfg: Config, day: dt.date, n_points: int, out: Path) -> dict:
    """Hazard exposure of ``day`` for ``n_points`` random points (module doc): builds the
    published table (mobsig.hazards) and writes it to ``out``; returns its facts."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from mobsig import columns as C
    from mobsig import hazards, presence
    from mobsig.io.catalog import Catalog

    catalog = Catalog(spark, cfg.warehouse)
    both = [day, day + dt.timedelta(days=1)]
    stays = presence.stays_for_days(catalog.read("stays", dt=both),
                                    catalog.read("stays_carry", dt=both), [day],
                                    cfg.stays.tau_min)
    longest = Window.partitionBy(C.USER_ID).orderBy(
        F.desc(F.unix_seconds(C.STAY_END) - F.unix_seconds(C.STAY_START)), C.STAY_START)
    homes = (stays.select(C.USER_ID, C.LON, C.LAT, F.row_number().over(longest).alias("_n"))
             .where("_n = 1").drop("_n"))
    classes = spark.createDataFrame([], "user_id string, pop_class string, "
                                        "is_counted boolean")
    weights = spark.createDataFrame([], "user_id string, weight double")
    default = spark.createDataFrame([(1.0,)], "weight double")
    points = hazard_points(n_points, cfg.synth.center_lon, cfg.synth.center_lat)
    sc, pv = cfg.screen, cfg.privacy
    table = hazards.exposure_table(spark, stays, classes, homes, weights, default, points,
                                   day, sc.hazard_hour_min_minutes)
    published = hazards.publish(table, pv.k_min, pv.complementary, pv.suppress_zeros,
                                hazards.night_hours(sc.hazard_night_start_hour,
                                                    sc.hazard_night_end_hour))
    published.write.mode("overwrite").parquet(str(out))
    back = spark.read.parquet(str(out))
    hourly = back.where(F.col(hazards.STATISTIC) == hazards.HOURLY)
    row = hourly.agg(F.count(F.lit(1)), F.sum(F.col(C.IS_SUPPRESSED).cast("int")),
                     F.max(C.RAW_COUNT)).first()
    return {"points": n_points, "rows": back.count(), "hourly_cells": int(row[0]),
            "suppressed_hourly_cells": int(row[1] or 0),
            "max_hourly_raw_count": int(row[2] or 0)}


# --------------------------------------------------------------------------------------
# memory


PF_FORKNOEXEC = 0x40  # task flag: forked and not (yet) exec'd


def _processes() -> tuple[dict[int, list[int]], dict[int, tuple[int, str, int, int]]]:
    """Children per pid, and per pid (rss bytes, name, task flags, vsize) from /proc."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[int, str, int, int]] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
            parts = rest.split()
            ppid, flags, vsize, pages = (int(parts[1]), int(parts[6]), int(parts[20]),
                                         int(parts[21]))
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
        info[int(d)] = (pages * page, head.split("(", 1)[-1], flags, vsize)
    return children, info


def _shares_parent(child: tuple[int, str, int, int], parent: tuple[int, str, int, int]
                   ) -> bool:
    """A child caught between fork and exec with its parent's address space: the JVM
    starts every subprocess (Hadoop's chmod of each file it writes, ...) with
    posix_spawn, whose child shares the JVM's memory and, until it execs, shows the JVM's
    whole RSS under a thread's name. Counting it would add the JVM a second time."""
    return bool(child[2] & PF_FORKNOEXEC) and abs(child[3] - parent[3]) <= 0.01 * parent[3]


def tree_rss_by_process() -> dict[str, int]:
    """RSS (bytes) of this process tree by part: ``jvm`` (the driver JVM, java),
    ``driver`` (this Python process) and ``workers`` (every other descendant: the PySpark
    daemon and its Python workers). A child that shares its parent's memory between fork
    and exec is not counted (see :func:`_shares_parent`)."""
    children, info = _processes()
    me = os.getpid()
    none = (0, "", 0, 0)
    out = {"jvm": 0, "driver": info.get(me, none)[0], "workers": 0}
    todo = [(c, me) for c in children.get(me, [])]
    while todo:
        pid, parent = todo.pop()
        p = info.get(pid, none)
        if _shares_parent(p, info.get(parent, none)):
            continue
        out["jvm" if p[1] == "java" else "workers"] += p[0]
        todo.extend((c, pid) for c in children.get(pid, []))
    return out


def tree_rss() -> int:
    """Summed RSS (bytes) of this process and all its descendants (JVM, Python workers)."""
    return sum(tree_rss_by_process().values())


class PeakMemory:
    """Peak summed RSS of this process and all its descendants, sampled in a thread while
    the block runs (``start``: the RSS when it began; ``peak_by``: the peak of each part
    of :func:`tree_rss_by_process` on its own)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self.peak_by: dict[str, int] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        by = tree_rss_by_process()
        self.peak = max(self.peak, sum(by.values()))
        for k, v in by.items():
            self.peak_by[k] = max(self.peak_by.get(k, 0), v)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.start = tree_rss()
        self._sample()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self._sample()


def _gib(n: float) -> float:
    return round(n / 2**30, 2)


def _settle(spark) -> None:
    """Ask the JVM for a full GC (G1 then returns free heap to the OS, so a run's starting
    RSS owes less to the previous one) and give the Python workers a moment."""
    try:
        spark.sparkContext._jvm.java.lang.System.gc()
    except Exception:  # noqa: BLE001 - a measurement nicety, never a failure
        pass
    time.sleep(1.0)


# --------------------------------------------------------------------------------------
# the I/O floor


def io_floor(spark, raw_dir: Path, out: Path, partitions: int) -> float:
    """Read raw CSV, parse the time, shuffle by user, sort by (user, time), write Parquet."""
    from pyspark.sql import functions as F

    t0 = time.time()
    df = (spark.read.option("header", True).csv(str(raw_dir))
          .select("user_id", "cell_id", "event_type",
                  F.try_to_timestamp(F.col("event_time")).alias("event_time")))
    (df.repartition(partitions, "user_id").sortWithinPartitions("user_id", "event_time")
     .write.mode("overwrite").parquet(str(out)))
    return time.time() - t0


# --------------------------------------------------------------------------------------
# the days


def skew_card_events(target: int) -> int:
    """Events of the skewed day's heavy card: min(10^6, 10 % of the day)."""
    return max(1, int(min(SKEW_CARD_EVENTS, SKEW_SHARE * target)))


#: raw events per shuffle partition the bench plans for (a partition of the day's pass
#: holds its rows' Arrow batches and cached output; ~2.5M events is ~250 MB of bronze)
EVENTS_PER_PARTITION = 2_500_000


def shuffle_partitions(events: int, configured: int) -> int:
    """Shuffle partitions for a day of ``events``: the configured number, more when the
    day has more than :data:`EVENTS_PER_PARTITION` events per partition (as an operator
    sizes ``spark.shuffle_partitions`` by the day's volume; deploy/resources.yaml)."""
    return max(int(configured), math.ceil(events / EVENTS_PER_PARTITION))


def city_config(base_cfg: Config, target: int, folder: Path, skewed: bool,
                days: int = 1) -> Config:
    """The generator's config for a one-day city of about ``target`` raw events.

    Uniform day: ~125 events per person, 1 IoT card per 200 persons, 1 heavy test card per
    20,000 persons with 30,000 events (at most 3 % of the day for small sizes). Skewed day:
    the same minus the heavy cards, plus one heavy card of :func:`skew_card_events`
    events, with fewer persons so the day keeps about ``target`` events."""
    heavy = skew_card_events(target) if skewed else 0
    people = max(50, int((target - heavy) / EVENTS_PER_PERSON_DAY))
    # one city (no satellite: its extra 20 % of people would overshoot the target)
    synth = {"people": people, "days": days, "event_labels": False,
             "iot_cards": max(20, people // 200), "satellite_share": 0.0}
    if skewed:
        synth.update(heavy_cards=1, heavy_events_per_day=heavy)
    else:
        synth.update(heavy_cards=max(1, people // 20000),
                     heavy_events_per_day=max(1, min(HEAVY_EVENTS_PER_DAY,
                                                     int(HEAVY_SHARE_MAX * target))))
    return build_config({"synth": synth,
                         "spark": {"shuffle_partitions": base_cfg.spark.shuffle_partitions}},
                        base_dir=folder)


def run_config(base_cfg: Config, folder: Path) -> Config:
    return build_config({"paths": {"warehouse": str(folder / "warehouse"),
                                   "raw_events": str(folder / "raw/events"),
                                   "cells": str(folder / "raw/cells/cells.csv"),
                                   "units": [str(folder / "units/counties.geojson")],
                                   "tac_types": str(folder / "reference/tac_types.csv")},
                         "spark": {"shuffle_partitions": base_cfg.spark.shuffle_partitions}},
                        base_dir=folder)


def _cells_on_day(cells_csv: Path, day: dt.date) -> set[str]:
    import pandas as pd

    cells = pd.read_csv(cells_csv, dtype=str, keep_default_na=False)
    d = day.isoformat()
    ok = ((cells["valid_from"].eq("") | (cells["valid_from"] <= d))
          & (cells["valid_to"].eq("") | (cells["valid_to"] >= d)))
    return set(cells.loc[ok, "cell_id"])


def _rewrite_cells(path: Path, users: set[str], valid: set[str], cell: str) -> int:
    """Set the cell of every well-formed line of ``users`` in one gzip CSV part file to
    ``cell`` (lines on a cell not valid on the day, e.g. injected unknown cells, are left
    alone). Replaces the file (and drops its Hadoop .crc). Returns lines changed."""
    prefixes = {u.encode() + b"," for u in users}
    valid_b = {c.encode() for c in valid}
    cell_b = cell.encode()
    tmp = path.with_name(path.name + ".skew")
    changed = 0
    with gzip.open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
        for line in src:
            if line[:33] in prefixes and b'"' not in line:
                parts = line.split(b",")
                if len(parts) == 6 and parts[2] in valid_b and parts[2] != cell_b:
                    parts[2] = cell_b
                    line = b",".join(parts)
                    changed += 1
            dst.write(line)
    os.replace(tmp, path)
    path.with_name(f".{path.name}.crc").unlink(missing_ok=True)
    return changed


def skew_day(spark, folder: Path, day: dt.date, card_target: int, seed: int = 13) -> dict:
    """Make the generated day skewed in place: the heavy card's cell gets SKEW_SHARE of all
    events by moving whole other cards onto it (every well-formed event of the card on a
    cell valid on the day; times unchanged, so they stay inside the day).

    Returns the card, its events, the cell, its events before and after, the day's rows
    and the cards moved."""
    import numpy as np
    import pandas as pd
    from pyspark.sql import functions as F

    cards = pd.read_parquet(folder / "truth/cards.parquet", columns=["user_id", "kind"])
    heavy = cards.loc[cards["kind"].eq("heavy"), "user_id"].tolist()
    if len(heavy) != 1:
        raise RuntimeError(f"skewed day: expected one heavy card, the city has {len(heavy)}")
    card = heavy[0]
    day_dir = folder / f"raw/events/dt={day.isoformat()}"
    valid = _cells_on_day(folder / "raw/cells/cells.csv", day)
    raw = (spark.read.option("header", True).csv(str(day_dir))
           .select("user_id", "cell_id",
                   F.regexp_extract(F.col("_metadata.file_path"), r"([^/]+)$", 1)
                   .alias("file")))
    per = raw.groupBy("file", "user_id", "cell_id").count().persist()
    try:
        on_card = (per.where(F.col("user_id") == card).groupBy("cell_id")
                   .agg(F.sum("count").alias("n")).orderBy(F.desc("n")).collect())
        if not on_card:
            raise RuntimeError(f"skewed day: the heavy card {card} has no events")
        cell = on_card[0]["cell_id"]
        card_events = int(sum(r["n"] for r in on_card))
        valid_df = F.broadcast(spark.createDataFrame([(c,) for c in sorted(valid)],
                                                     "cell_id string").withColumn(
            "valid", F.lit(True)))
        users = (per.join(valid_df, "cell_id", "left").groupBy("file", "user_id").agg(
            F.sum("count").alias("n"),
            F.sum(F.when(F.col("cell_id") == cell, F.col("count")).otherwise(0))
            .alias("on_cell"),
            F.sum(F.when(F.col("valid") & (F.col("cell_id") != cell), F.col("count"))
                  .otherwise(0)).alias("movable"))
                 .toPandas())
    finally:
        per.unpersist()
    total = int(users["n"].sum())
    cell_before = int(users["on_cell"].sum())
    need = math.ceil(SKEW_SHARE * total) - cell_before
    cand = users[users["user_id"].fillna("").map(lambda u: bool(_CARD_ID.fullmatch(u)))
                 & users["user_id"].ne(card) & users["movable"].gt(0)]
    # a card's lines all sit in one part file (the generator writes a card's chunk in one
    # task): try the cards of the biggest files first (few files to rewrite), in random
    # order, taking a card while it fits; then, if still short by more than 0.05 % of the
    # day, the smallest card that completes the share (from a file already chosen if any)
    chosen: dict[str, set[str]] = {}
    left, tol = need, max(1, total // 2000)
    if left > 0:
        rng = np.random.default_rng(seed)
        cand = cand.assign(_r=rng.random(len(cand)), _taken=False)
        for file in cand.groupby("file")["movable"].sum().sort_values(ascending=False).index:
            for i in cand.index[cand["file"] == file][
                    np.argsort(cand.loc[cand["file"] == file, "_r"].to_numpy())]:
                m = int(cand.at[i, "movable"])
                if m <= left:
                    cand.at[i, "_taken"], left = True, left - m
            if left <= tol:
                break
        rest = cand[~cand["_taken"] & cand["movable"].ge(left)]
        if left > tol and len(rest):
            in_chosen = rest["file"].isin(set(cand.loc[cand["_taken"], "file"]))
            last = rest.assign(_o=~in_chosen).sort_values(["_o", "movable"]).index[0]
            cand.at[last, "_taken"] = True
        for f, u in cand.loc[cand["_taken"], ["file", "user_id"]].itertuples(index=False):
            chosen.setdefault(f, set()).add(u)
    changed = sum(_rewrite_cells(day_dir / f, u, valid, cell) for f, u in chosen.items())
    return {"card": card, "card_target_events": card_target, "card_events": card_events,
            "card_share": round(card_events / total, 4), "cell": cell,
            "cell_events_before": cell_before, "cell_events": cell_before + changed,
            "cell_share": round((cell_before + changed) / total, 4),
            "moved_cards": sum(len(u) for u in chosen.values()), "moved_events": changed,
            "files_rewritten": len(chosen), "events": total}


#: the inputs ingest_units and ingest_cells read (run_config), relative to a day's folder
SETUP_INPUTS = ("units/counties.geojson", "raw/cells/cells.csv")
SETUP_TABLES = ("units", "cells")


def setup_key(folder: Path) -> str:
    """A digest of the files the set-up jobs read: days with the same key get the same
    units and cells tables."""
    h = hashlib.sha256()
    for rel in SETUP_INPUTS:
        h.update(rel.encode() + b"\0" + (folder / rel).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def set_up(spark, run_cfg: Config, folder: Path, setups: dict[str, Path] | None) -> bool:
    """The units and cells tables in the day's warehouse: copied from an earlier day whose
    set-up inputs were byte-identical (``setups``: key -> folder of kept copies, filled
    here), else ingested. True when copied."""
    from mobsig.runner import Partition, run_partition

    key = setup_key(folder)
    saved = (setups or {}).get(key)
    wh = Path(run_cfg.warehouse)
    if saved is not None:
        for t in SETUP_TABLES:
            shutil.copytree(saved / t, wh / t)
        return True
    for name in ("ingest_units", "ingest_cells"):
        run_partition(spark, run_cfg, name, Partition())
    if setups is not None:
        keep_dir = folder.parent / "setup" / key
        for t in SETUP_TABLES:
            shutil.copytree(wh / t, keep_dir / t, dirs_exist_ok=True)
        setups[key] = keep_dir
    return False


def _run_day(spark, run_cfg: Config, folder: Path, day: dt.date, *, fresh: bool,
             n_events: int, parts: int, cores: int, base: dict) -> dict:
    """Time the daily stages on ``day`` (clean_stays from a fresh start, or behind the
    previous day's carry), then the I/O floor on the day's raw files: the result row."""
    from mobsig.runner import Partition, run_partition

    stages: dict[str, float] = {}
    stage_peak: dict[str, float] = {}
    stage_by: dict[str, dict[str, float]] = {}
    facts: dict[str, dict] = {}
    _settle(spark)
    start_by = tree_rss_by_process()
    for name in DAILY_STAGES:
        with PeakMemory() as mem:
            t = time.time()
            r = run_partition(spark, run_cfg, name, Partition(day=day),
                              {"fresh_start": True} if fresh and name == "clean_stays"
                              else {})
            stages[name] = round(time.time() - t, 2)
        stage_peak[name] = _gib(mem.peak)
        stage_by[name] = {k: _gib(v) for k, v in mem.peak_by.items()}
        facts[name] = {k: v for k, v in r.facts.items() if isinstance(v, (int, float, str))}
    with PeakMemory() as mem:
        floor = io_floor(spark, _day_dir(folder, day), folder / f"floor-{day}", parts)
    chain = sum(stages.values())
    return {**base, "date": day.isoformat(), "events": int(n_events),
            "stages_s": stages, "chain_s": round(chain, 2),
            "events_per_s_per_core": round(n_events / chain / cores),
            "io_floor_s": round(floor, 2),
            "io_floor_events_per_s_per_core": round(n_events / floor / cores),
            "chain_over_floor": round(chain / floor, 2),
            "rss_start_gib": _gib(sum(start_by.values())),
            "rss_start_by_process_gib": {k: _gib(v) for k, v in start_by.items()},
            "stage_peak_rss_gib": stage_peak, "peak_rss_gib": max(stage_peak.values()),
            "stage_peak_rss_by_process_gib": stage_by,
            "io_floor_peak_rss_gib": _gib(mem.peak), "cores": cores,
            "shuffle_partitions": parts, "facts": facts}


def _day_dir(folder: Path, day: dt.date) -> Path:
    return folder / "raw/events" / f"dt={day.isoformat()}"


def _raw_rows(spark, folder: Path, day: dt.date) -> int:
    return spark.read.option("header", True).csv(str(_day_dir(folder, day))).count()


def bench_one(spark, base_cfg: Config, target: int, out: Path, *, skewed: bool = False,
              keep: bool = False, cores: int | None = None, hazards: int = 0,
              setups: dict[str, Path] | None = None, carried: bool = False) -> list[dict]:
    """Generate one day of about ``target`` events (skewed or not), run the daily chain
    and the I/O floor on it, and return the run's numbers (see the module doc): one row,
    or two with ``carried`` (a uniform day only): the city is generated for two days and
    its second day runs behind the first's carry (``day`` = ``carried``).
    ``setups``: set-up tables kept for reuse by later days (:func:`set_up`)."""
    from mobsig.synth.generate import generate

    if carried and skewed:
        raise ValueError("bench: a carried day follows a uniform day only")
    folder = out / (f"size-{target}-skew" if skewed else f"size-{target}")
    cfg = city_config(base_cfg, target, folder, skewed, days=2 if carried else 1)
    t0 = time.time()
    res = generate(spark, cfg, folder)
    day = res.days[0]
    skew = None
    if skewed:
        skew = skew_day(spark, folder, day, cfg.synth.heavy_events_per_day)
        n_events = skew.pop("events")
    else:
        n_events = _raw_rows(spark, folder, day)
    gen_s = time.time() - t0
    run_cfg = run_config(base_cfg, folder)
    t0 = time.time()
    reused = set_up(spark, run_cfg, folder, setups)
    setup_s = time.time() - t0
    cores = cores or base_cfg.spark.local_cores
    parts = shuffle_partitions(n_events, base_cfg.spark.shuffle_partitions)
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", str(parts))
    base = {"day": "skewed" if skewed else "uniform", "target_events": target,
            "people": cfg.synth.people, "generate_s": round(gen_s, 1),
            "setup_s": round(setup_s, 1), "setup_reused": reused}
    result = _run_day(spark, run_cfg, folder, day, fresh=True, n_events=n_events,
                      parts=parts, cores=cores, base=base)
    results = [result]
    if hazards:
        run_cfg = run_cfg.replace(synth=cfg.synth)  # the city's centre for the points
        with PeakMemory() as mem:
            t = time.time()
            facts_hz = hazards_stage(spark, run_cfg, day, hazards, folder / "hazards")
            secs = round(time.time() - t, 2)
        hz = {**facts_hz, "seconds": secs, "events_per_s": round(n_events / secs),
              "events_per_s_per_core": round(n_events / secs / cores),
              "peak_rss_gib": _gib(mem.peak)}
        (folder / "hazards.json").write_text(json.dumps(hz, indent=2), "utf-8")
        result["hazards"] = hz
    if carried:
        nxt = res.days[1]
        n_next = _raw_rows(spark, folder, nxt)
        results.append(_run_day(
            spark, run_cfg, folder, nxt, fresh=False, n_events=n_next,
            parts=shuffle_partitions(n_next, base_cfg.spark.shuffle_partitions),
            cores=cores, base={**base, "day": "carried", "setup_s": 0.0,
                               "setup_reused": True}))
        results[-1]["carry_in"] = results[-1]["facts"]["clean_stays"].get("carry_in")
    spark.conf.set("spark.sql.shuffle.partitions", before)
    if skew is not None:
        result["skew"] = skew
    if not keep:
        for sub in ("raw", "warehouse", "truth", "hazards"):
            shutil.rmtree(folder / sub, ignore_errors=True)
        for floor_dir in folder.glob("floor-*"):
            shutil.rmtree(floor_dir, ignore_errors=True)
    return results


# --------------------------------------------------------------------------------------
# the report


def scaling_exponent(events: list[float], seconds: list[float]) -> float | None:
    """Least-squares slope of log(seconds) vs log(events); None with fewer than two
    distinct sizes."""
    pts = [(math.log(e), math.log(s)) for e, s in zip(events, seconds, strict=True)
           if e > 0 and s > 0]
    xs = [x for x, _ in pts]
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in pts) / sxx, 3)


def scaling(results: list[dict]) -> dict:
    out = {}
    for kind in ("uniform", "carried", "skewed"):
        rs = [r for r in results if r["day"] == kind]
        if not rs:
            continue
        ev = [r["events"] for r in rs]
        out[kind] = {"sizes": len(rs),
                     "chain": scaling_exponent(ev, [r["chain_s"] for r in rs]),
                     "io_floor": scaling_exponent(ev, [r["io_floor_s"] for r in rs])}
    return out


#: the days the sizing table plans for (events per day) and the window they must fit in
SIZING_DAYS = {"province": 1e10, "nation": 3e11}
SIZING_WINDOW_H = 4.0


def cores_needed(events: float, rate_per_core: float, at_events: float, exponent: float | None,
                 window_h: float = SIZING_WINDOW_H) -> int:
    """Cores to process a day of ``events`` within ``window_h`` hours, from a measured
    end-to-end rate (events/s/core at ``at_events`` events) and the measured scaling
    exponent b (time ~ events^b on a fixed number of cores): the per-event cost grows by
    (events / at_events)^(b - 1). b below 1 (fixed costs still visible at the measured
    sizes) is taken as 1, so the estimate never assumes that bigger days get cheaper per
    event."""
    b = max(1.0, exponent if exponent is not None else 1.0)
    per_core = rate_per_core / (events / at_events) ** (b - 1.0)
    return math.ceil(events / (per_core * window_h * 3600.0))


def sizing(results: list[dict], scaling_: dict) -> dict | None:
    """Cores for each day of :data:`SIZING_DAYS` in :data:`SIZING_WINDOW_H` hours, from the
    largest carried run (the steady state of production: every day but the first runs
    behind a carry) and the carried days' chain exponent, else from the uniform runs."""
    kind = "carried" if any(r["day"] == "carried" for r in results) else "uniform"
    rs = [r for r in results if r["day"] == kind]
    if not rs:
        return None
    ref = max(rs, key=lambda r: r["events"])
    b = (scaling_.get(kind) or {}).get("chain")
    return {"day": kind, "rate_events_per_s_per_core": ref["events_per_s_per_core"],
            "at_events": ref["events"], "exponent": b, "window_h": SIZING_WINDOW_H,
            "cores": {name: cores_needed(n, ref["events_per_s_per_core"], ref["events"], b)
                      for name, n in SIZING_DAYS.items()}}


def _session_cores(spark, cfg: Config) -> int:
    master = spark.sparkContext.master
    m = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\d+)?\])?", master)
    if m:
        n = m.group(1)
        if n is None:
            return 1
        return (os.cpu_count() or 1) if n == "*" else int(n)
    return cfg.spark.local_cores


def machine_facts(spark, cfg: Config) -> dict:
    conf = spark.sparkContext.getConf()
    try:
        java = spark.sparkContext._jvm.java.lang.System.getProperty("java.version")
    except Exception:  # noqa: BLE001
        java = None
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                             / 2**30, 1),
            "python": platform.python_version(), "spark": spark.version, "java": java,
            "master": spark.sparkContext.master,
            "local_cores": _session_cores(spark, cfg),
            "driver_memory": conf.get("spark.driver.memory", cfg.spark.driver_memory),
            "shuffle_partitions": int(spark.conf.get("spark.sql.shuffle.partitions")),
            "load_avg_start": round(os.getloadavg()[0], 2),
            "date": dt.datetime.now().isoformat(timespec="seconds")}


def bench(spark, cfg: Config, sizes: list[int], out: Path, skew: list[int] | tuple = (),
          keep: bool = False, warmup: bool = True, echo=None, hazards: int = 0,
          carried: list[int] | tuple = ()) -> dict:
    """Run the benchmark (uniform day per size, its carried next day for the sizes in
    ``carried``, skewed day for the sizes in ``skew``) and write OUT/bench.json and
    OUT/bench.md. Returns the report (as in bench.json).

    ``warmup``: first run the whole thing once untimed on a 10,000-event day (JIT, class
    loading, Great Expectations' context, Python workers: one-off costs of a session that
    would otherwise inflate the first size and bias the scaling exponent)."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_facts(spark, cfg)
    cores = machine["local_cores"]
    warm = None
    if warmup:
        w = bench_one(spark, cfg, MIN_SIZE, out / "warmup", keep=False, cores=cores,
                      hazards=min(hazards, 100))[0]
        warm = {k: w[k] for k in ("events", "generate_s", "setup_s", "chain_s",
                                  "io_floor_s", "peak_rss_gib")}
        if echo:
            echo("warm-up (not reported): " + json.dumps(warm))
    results = []
    setups: dict[str, Path] = {}
    for target in sizes:
        for skewed in (False, True) if target in skew else (False,):
            rs = bench_one(spark, cfg, target, out, skewed=skewed, keep=keep, cores=cores,
                           hazards=hazards, setups=setups,
                           carried=not skewed and target in carried)
            results += rs
            if echo:
                for r in rs:
                    echo(json.dumps(r))
    if not keep:
        shutil.rmtree(out / "setup", ignore_errors=True)
    for r in results:
        if r["day"] != "skewed":
            continue
        base = next((u for u in results if u["day"] == "uniform"
                     and u["target_events"] == r["target_events"]), None)
        if base:
            ratio = round(r["peak_rss_gib"] / base["peak_rss_gib"], 2)
            r["peak_rss_vs_uniform"] = ratio
            r["flat_memory"] = ratio <= FLAT_MEMORY
    machine["load_avg_end"] = round(os.getloadavg()[0], 2)
    sc = scaling(results)
    report = {"machine": machine, "warmup": warm, "results": results,
              "scaling": sc, "sizing": sizing(results, sc), "flat_memory_limit": FLAT_MEMORY}
    (out / "bench.json").write_text(json.dumps(report, indent=2), "utf-8")
    (out / "bench.md").write_text(markdown(report), "utf-8")
    return report


def _b(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def markdown(report: dict) -> str:
    m = report["machine"]
    warm = report.get("warmup")
    lines = [f"Measured {m['date']}: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, "
             f"Python {m['python']}, Spark {m['spark']}, Java {m['java']}, `{m['master']}`, "
             f"driver memory {m['driver_memory']}, {m['shuffle_partitions']} shuffle "
             f"partitions, load average {m['load_avg_start']} -> "
             f"{m.get('load_avg_end', '?')}; "
             + (f"after an untimed warm-up run ({warm['events']:,} events, chain "
                f"{warm['chain_s']} s)." if warm else "no warm-up run."), "",
             "| day | raw events | ingest s | clean+stays s | chain s | events/s/core "
             "| I/O floor s | chain/floor | RSS at start GiB | peak RSS GiB ingest / "
             "clean+stays | peak RSS GiB | vs uniform |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        s, p = r["stages_s"], r["stage_peak_rss_gib"]
        vs = ""
        if "peak_rss_vs_uniform" in r:
            vs = (f"{r['peak_rss_vs_uniform']:.2f} "
                  f"({'flat' if r['flat_memory'] else 'NOT flat'})")
        lines.append(
            f"| {r['day']} | {r['events']:,} | {s['ingest_events']} | {s['clean_stays']} | "
            f"{r['chain_s']} | {r['events_per_s_per_core']:,} | "
            f"{r['io_floor_s']} | {r['chain_over_floor']} | {r['rss_start_gib']} | "
            + " / ".join(str(p[n]) for n in DAILY_STAGES)
            + f" | {r['peak_rss_gib']} | {vs} |")
    lines.append("")
    lines.append("Shuffle partitions per run (max(configured, events / "
                 f"{EVENTS_PER_PARTITION:,})): "
                 + ", ".join(f"{r['events']:,} events: {r.get('shuffle_partitions', '?')}"
                             for r in report["results"]) + ".")
    for kind, sc in report["scaling"].items():
        lines.append(f"Scaling, {kind} days ({sc['sizes']} size(s)), time ~ events^b "
                     f"(least squares on log-log): chain b = {_b(sc['chain'])}, "
                     f"I/O floor b = {_b(sc['io_floor'])}.")
    z = report.get("sizing")
    if z:
        lines += ["", f"Sizing (a {z['window_h']:g}-hour window, from "
                  f"{z['rate_events_per_s_per_core']:,} events/s/core at {z['at_events']:,} "
                  f"events of a {z.get('day', 'uniform')} day and b = {_b(z['exponent'])}, "
                  "b < 1 taken as 1):", "",
                  "| day | events | cores |", "|---|---:|---:|"]
        lines += [f"| {name} | {SIZING_DAYS[name]:.0e} | {c:,} |"
                  for name, c in z["cores"].items()]
        lines.append("")
    for r in report["results"]:
        h = r.get("hazards")
        if h:
            lines.append(
                f"Hazard exposure ({r['day']} day of {r['events']:,} events, "
                f"{h['points']:,} hazard points): {h['seconds']} s, {h['events_per_s']:,} "
                f"events/s ({h['events_per_s_per_core']:,} per core), peak RSS "
                f"{h['peak_rss_gib']} GiB; {h['hourly_cells']:,} hourly cells, "
                f"{h['suppressed_hourly_cells']:,} suppressed.")
    for r in report["results"]:
        if r["day"] == "carried":
            lines.append(
                f"Carried day of {r['events']:,} events ({r['date']}, the uniform day's "
                f"next day): clean_stays started from {r.get('carry_in') or 0:,} carried "
                "rows (an open stay's summary or a short run's records), as every day of "
                "production does but the first.")
    for r in report["results"]:
        k = r.get("skew")
        if not k:
            continue
        clean = r["facts"].get("clean_stays", {})
        lines.append(
            f"Skewed day of {r['events']:,} events: card {k['card']} has "
            f"{k['card_events']:,} events ({k['card_share']:.1%}; generated "
            f"{k['card_target_events']:,}), cell {k['cell']} {k['cell_events']:,} "
            f"({k['cell_share']:.1%}; {k['moved_events']:,} events of {k['moved_cards']:,} "
            f"cards moved onto it); clean_stays set aside {clean.get('heavy_users', '?')} "
            f"heavy card(s), {clean.get('heavy_rows', '?')} rows.")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    report = bench(spark, cfg, sizes(args), Path(args.out), skew=skew_sizes(args),
                   keep=args.keep, warmup=args.warmup, echo=lambda s: print(s, flush=True),
                   hazards=args.hazards, carried=carried_sizes(args))
    print()
    print(markdown(report), end="")
    print(f"\nwritten: {Path(args.out).resolve() / 'bench.json'}, bench.md")
    return 0
