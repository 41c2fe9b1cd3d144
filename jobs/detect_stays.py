"""Detect stays 停留 and moves 移动 of a day from events_clean (domain.md §B1).

    mobsig detect_stays --date 2026-06-02
    mobsig detect_stays --from 2026-06-01 --to 2026-06-30     (days run in order)

A stay is a run of one user's records within the stay radius of its first record (the
anchor; radius = max of the anchor's and the record's stay_radius_m) lasting at least
stays.tau_min; a gap up to clean.gap_cap_h continues it, a longer gap ends it; consecutive
stays at the same place (one record at a farther cell between them) are merged. Moves link
consecutive stays of a user (arrival - departure <= stays.move_max_gap_h).

Reads events_clean dt=D (every region: a user's day must be folded whole, so this job has
no --region) and the state table stays_carry dt=D-1; writes stays dt=D, moves dt=D and
stays_carry dt=D, each replacing its partition. A stay that crosses midnight is stored
once, in the partition of the day whose run closed it (see schemas/stays.json). Days
depend on the previous day's carry: a missing carry for D-1 while events_clean has D-1
is an error unless --fresh-start is given. Excluded: heavy users and cards whose IMEI TAC
is an IoT device type (paths.tac_types, flags.iot_device_types); behavioural non-human
cards are flagged monthly in user_flags and excluded downstream.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mobsig import jobargs
from mobsig.catalog import Catalog
from mobsig.columns import DT, USER_ID
from mobsig.config import Config
from mobsig.errors import InputError
from mobsig.pipeline import Output, bbox_params, gate_all_then_write
from mobsig.runs import note_input, note_output, note_partition
from mobsig.stays import (
    StayRule,
    carry_last_stays,
    carry_open_records,
    filter_stay_users,
    fold_stays,
    horizon_micros,
    last_stay_per_user,
    moves_between_stays,
    open_records_from_fold,
    stays_from_fold,
    to_kernel_input,
)

NAME = "detect_stays"
HELP = "detect stays and moves of a day (stays, moves, stays_carry)"
RECORDS_RUN = True

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    jobargs.add_day_arguments(p, region=False)
    p.add_argument("--fresh-start", action="store_true",
                   help="start without the previous day's carry even if events_clean has "
                        "that day (stays open at the previous midnight start anew)")


def validate(args: argparse.Namespace, cfg: Config) -> None:
    jobargs.days(args)
    if cfg.paths.tac_types:
        cfg.require_inputs("tac_types")


def run(args: argparse.Namespace, cfg: Config, spark: SparkSession) -> int:
    from mobsig.runs import day_label, recorded

    for i, day in enumerate(jobargs.days(args)):
        fresh = bool(args.fresh_start) and i == 0
        res = recorded(spark, cfg, NAME, day_label(day),
                       lambda day=day, fresh=fresh: execute(spark, cfg, day, fresh_start=fresh))
        print(f"detect_stays {day}: {res['events']} events of {res['users']} users "
              f"({res['excluded_events']} excluded) -> {res['stays']} stays, "
              f"{res['moves']} moves; carry {res['carry_in']} in, {res['carry_out']} out")
    return 0


def iot_cards(spark: SparkSession, cfg: Config, events: DataFrame) -> DataFrame | None:
    """Cards of ``events`` whose most frequent TAC is an IoT device type (None: no table)."""
    if not cfg.paths.tac_types:
        return None
    from mobsig.jobs.flag_users import read_tac_types

    from mobsig.flags import card_tac

    tac = card_tac(events, read_tac_types(spark, cfg), cfg.flags.iot_device_types)
    return tac.where(F.col("is_iot_tac")).select(USER_ID)


def previous_carry(catalog: Catalog, day: dt.date, fresh_start: bool) -> DataFrame | None:
    """stays_carry dt=day-1, or None when starting fresh (InputError if it should exist)."""
    prev = day - dt.timedelta(days=1)
    if catalog.exists("stays_carry") and catalog.read("stays_carry", dt=prev).limit(1).count():
        return catalog.read("stays_carry", dt=prev)
    if fresh_start:
        log.info("detect_stays %s: fresh start (no carry from %s)", day, prev)
        return None
    if catalog.exists("events_clean") and catalog.read("events_clean", dt=prev).limit(1).count():
        raise InputError(
            f"stays_carry has no partition dt={prev} but events_clean has that day: run "
            f"detect_stays for {prev} first (days run in order), or pass --fresh-start")
    log.info("detect_stays %s: no events_clean for %s, starting without a carry", day, prev)
    return None


def execute(spark: SparkSession, cfg: Config, day: dt.date,
            fresh_start: bool = False) -> dict[str, Any]:
    """Detect the stays and moves closed on ``day``; replace their partitions and the carry."""
    catalog = Catalog(spark, cfg.warehouse)
    note_partition(f"dt={day}")
    events = catalog.read("events_clean", dt=day)
    n_events = events.count()
    if n_events == 0:
        raise InputError(f"events_clean has no events for dt={day}: run clean_events first")
    note_input("events_clean", n_events)

    kept = filter_stay_users(events, iot_cards(spark, cfg, events))
    records = to_kernel_input(kept)
    carry = previous_carry(catalog, day, fresh_start)
    empty_prev = spark.createDataFrame([], catalog.schema("stays_carry").struct)
    carry = carry if carry is not None else empty_prev
    records = records.unionByName(carry_open_records(carry))
    horizon = horizon_micros(day, cfg.run.timezone)
    rule = StayRule.of(cfg.stays.tau_min, cfg.clean.gap_cap_h, horizon)
    max_gap_s = cfg.stays.move_max_gap_h * 3600.0

    folded = fold_stays(records, rule).persist(StorageLevel.MEMORY_AND_DISK)
    stays = stays_from_fold(folded, cfg.stays.h3_resolution).persist(
        StorageLevel.MEMORY_AND_DISK)
    try:
        counts = kept.agg(F.count(F.lit(1)).alias("n"),
                          F.countDistinct(USER_ID).alias("users")).first()
        carry_counts = carry.groupBy("kind").count().collect()
        carry_in = {r["kind"]: int(r["count"]) for r in carry_counts}
        note_input("stays_carry", sum(carry_in.values()))
        previous = carry_last_stays(carry)
        moves = moves_between_stays(stays, previous, max_gap_s)
        day_lit = F.lit(day).cast("date").alias(DT)
        params = {**bbox_params(cfg), "tau_s": int(rule.tau_us // 1_000_000),
                  "max_gap_s": int(max_gap_s)}
        label = f"dt={day}"
        new_carry = (open_records_from_fold(folded)
                     .unionByName(last_stay_per_user(stays, previous, horizon, max_gap_s))
                     .select("*", day_lit))
        # stays, moves and the carry are gated together and written only if all pass
        gate_all_then_write(catalog, [
            Output(stays.select("*", day_lit).drop("x_m", "y_m"), "stays", {DT: day},
                   suite="stays", params=params),
            Output(moves.select("*", day_lit), "moves", {DT: day}, suite="moves",
                   params=params),
            Output(new_carry, "stays_carry", {DT: day}, gated=False),
        ], results_dir=cfg.quality_dir, label=label)
        out = {r["kind"]: int(r["count"]) for r in
               catalog.read("stays_carry", dt=day).groupBy("kind").count().collect()}
        note_output("stays_carry", sum(out.values()))
        n_stays = catalog.read("stays", dt=day).count()
        n_moves = catalog.read("moves", dt=day).count()
    finally:
        stays.unpersist()
        folded.unpersist()
    result = {"day": day, "events": int(counts["n"]), "users": int(counts["users"]),
              "excluded_events": n_events - int(counts["n"]), "stays": n_stays,
              "moves": n_moves, "carry_in": sum(carry_in.values()),
              "carry_in_open_records": carry_in.get("open_record", 0),
              "carry_out": sum(out.values()),
              "carry_out_open_records": out.get("open_record", 0)}
    log.info("detect_stays %s: %s", day, result)
    return result


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
