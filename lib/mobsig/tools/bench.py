"""Benchmark the daily chain (ingest -> clean -> stays) in local mode at several sizes.

    mobsig bench --sizes 1e6,3e6,1e7 --out bench-out

For each size it generates a one-day synthetic city with about that many raw events (CSV
gzip, as operators deliver them), runs ingest_events, clean_events and detect_stays on it
in this session, and measures wall time per stage, events/s per core end to end, and the
peak resident memory of the whole process tree (driver JVM + Python workers), sampled
every 0.5 s. It also measures the Spark I/O floor on the same input: read the raw files,
parse the time, repartition by user, sort by (user, time) and write Parquet, so the chain
can be judged against the cost of the one unavoidable shuffle. Results go to
``OUT/bench.json`` and a Markdown table on stdout. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import threading
import time
from pathlib import Path

from mobsig import pipeline
from mobsig.config import Config, build_config
from mobsig.errors import ConfigError

NAME = "bench"
HELP = "benchmark ingest -> clean -> stays at several input sizes (local mode)"
EVENTS_PER_PERSON_DAY = 125.0  # measured on the synthetic city (humans + IoT), for sizing
# the daily jobs the bench times, from the pipeline spec (ingest, clean, stays)
DAILY_STAGES = [j.name for j in pipeline.PIPELINE if j.kind.startswith("day")]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="1e6,3e6,1e7",
                   help="target raw events per run, comma-separated (default 1e6,3e6,1e7)")
    p.add_argument("--out", default="bench-out", help="work and result folder")
    p.add_argument("--keep", action="store_true", help="keep each size's data and tables")


def sizes(args: argparse.Namespace) -> list[int]:
    try:
        out = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--sizes: {args.sizes!r} is not a list of numbers") from None
    if not out or min(out) < 10_000:
        raise ConfigError("--sizes: give sizes of at least 10000 events")
    return out


def validate(args: argparse.Namespace, cfg: Config) -> None:
    sizes(args)


class PeakMemory:
    """Peak summed RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss() -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    parts = f.read().rsplit(")", 1)[1].split()
                ppid, pages = int(parts[1]), int(parts[21])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
            rss[int(d)] = pages * os.sysconf("SC_PAGE_SIZE")
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            todo.extend(children.get(pid, []))
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self._tree_rss()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


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


def bench_one(spark, base_cfg: Config, target: int, out: Path) -> dict:
    from mobsig.runner import Partition, run_partition
    from mobsig.synth.generate import generate

    people = max(50, int(target / EVENTS_PER_PERSON_DAY))
    folder = out / f"size-{target}"
    cfg = build_config({"synth": {"people": people, "days": 1, "event_labels": False,
                                  "iot_cards": max(20, people // 200),
                                  "heavy_cards": max(1, people // 20000)},
                        "spark": {"shuffle_partitions": base_cfg.spark.shuffle_partitions}},
                       base_dir=folder)
    t0 = time.time()
    res = generate(spark, cfg, folder)
    gen_s = time.time() - t0
    run_cfg = build_config({"paths": {"warehouse": str(folder / "warehouse"),
                                      "raw_events": str(folder / "raw/events"),
                                      "cells": str(folder / "raw/cells/cells.csv"),
                                      "units": [str(folder / "units/counties.geojson")],
                                      "tac_types": str(folder / "reference/tac_types.csv")},
                            "spark": {"shuffle_partitions": base_cfg.spark.shuffle_partitions}},
                           base_dir=folder)
    day = res.days[0]
    n_events = spark.read.option("header", True).csv(str(folder / "raw/events")).count()
    for name in ("ingest_units", "ingest_cells"):
        run_partition(spark, run_cfg, name, Partition())
    stages = {}
    with PeakMemory() as mem:
        for name in DAILY_STAGES:
            t = time.time()
            run_partition(spark, run_cfg, name, Partition(day=day),
                          {"fresh_start": True} if name == "detect_stays" else {})
            stages[name] = round(time.time() - t, 2)
    floor = io_floor(spark, folder / "raw/events", folder / "floor",
                     base_cfg.spark.shuffle_partitions)
    cores = base_cfg.spark.local_cores
    chain = sum(stages.values())
    result = {"target_events": target, "events": n_events, "people": people,
              "generate_s": round(gen_s, 1), "stages_s": stages, "chain_s": round(chain, 2),
              "events_per_s_per_core": round(n_events / chain / cores),
              "io_floor_s": round(floor, 2),
              "io_floor_events_per_s_per_core": round(n_events / floor / cores),
              "chain_over_floor": round(chain / floor, 2),
              "peak_rss_gib": round(mem.peak / 2**30, 2), "cores": cores}
    if not os.environ.get("MOBSIG_BENCH_KEEP"):
        import shutil

        for sub in ("raw", "warehouse", "floor", "truth"):
            shutil.rmtree(folder / sub, ignore_errors=True)
    return result


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    import platform

    if args.keep:
        os.environ["MOBSIG_BENCH_KEEP"] = "1"
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for target in sizes(args):
        r = bench_one(spark, cfg, target, out)
        results.append(r)
        print(json.dumps(r), flush=True)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                                / 2**30, 1),
               "python": platform.python_version(), "spark": spark.version,
               "local_cores": cfg.spark.local_cores, "driver_memory": cfg.spark.driver_memory,
               "date": dt.date.today().isoformat()}
    (out / "bench.json").write_text(json.dumps({"machine": machine, "results": results},
                                               indent=2), "utf-8")
    print("\n| raw events | ingest s | clean s | stays s | chain s | events/s/core "
          "| I/O floor s | chain/floor | peak RSS GiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r["stages_s"]
        print(f"| {r['events']:,} | {s['ingest_events']} | {s['clean_events']} | "
              f"{s['detect_stays']} | {r['chain_s']} | {r['events_per_s_per_core']:,} | "
              f"{r['io_floor_s']} | {r['chain_over_floor']} | {r['peak_rss_gib']} |")
    print(f"\nmachine: {machine}")
    return 0
