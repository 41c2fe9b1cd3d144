"""Flag the cards of a month: non-human cards 非人号卡 and one person with several cards 一人多卡.

Reads ``events_clean`` for every day of the month (all regions) and writes one row per
card seen to ``user_flags`` (partition ``month=YYYY-MM``, replaced as a whole):

- non-human: IoT/M2M device type from the IMEI TAC (paths.tac_types, optional), one
  location the whole period, machine-regular inter-event times, impossible event rates;
  ``non_human_reason`` lists every rule that fired, ``evidence`` holds the numbers;
- multi-card: human cards whose hourly locations coincide in most shared hours on enough
  days form a group; one card per group is the primary (the one counted).

Parameters: the ``flags`` section (``mobsig config --explain``). The gate
(expectations/user_flags.json) checks unique cards, the non-human share and group sizes.
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
from pyspark.sql import types as T

from mobsig import jobargs
from mobsig.catalog import Catalog
from mobsig.columns import (
    CELL_ID,
    DT,
    EVENT_TIME,
    IMEI_TAC,
    IS_GROUP_PRIMARY,
    IS_HEAVY_USER,
    IS_NON_HUMAN,
    MULTICARD_GROUP,
    USER_ID,
    X_M,
    Y_M,
)
from mobsig.config import Config
from mobsig.errors import InputError
from mobsig.flags import user_flags
from mobsig.pipeline import gate_and_write
from mobsig.runs import note_input, note_partition

NAME = "flag_users"
HELP = "flag non-human cards and multi-card persons for a month (user_flags)"
RECORDS_RUN = True

log = logging.getLogger(__name__)

EVENT_COLUMNS = [USER_ID, EVENT_TIME, CELL_ID, IMEI_TAC, X_M, Y_M, IS_HEAVY_USER, DT]
TAC_SCHEMA = T.StructType([T.StructField("tac", T.StringType()),
                           T.StructField("device_type", T.StringType())])


def add_arguments(p: argparse.ArgumentParser) -> None:
    jobargs.add_month_arguments(p)


def validate(args: argparse.Namespace, cfg: Config) -> None:
    jobargs.months(args)
    if cfg.paths.tac_types:
        cfg.require_inputs("tac_types")


def read_tac_types(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """The TAC -> device type table (CSV with header ``tac,device_type``), or None.

    A TAC listed twice with different device types is an InputError.
    """
    if not cfg.paths.tac_types:
        log.warning("paths.tac_types not set: the iot_tac rule is off")
        return None
    path = str(cfg.path("tac_types"))
    df = (spark.read.option("header", True).option("enforceSchema", False)
          .schema(TAC_SCHEMA).csv(path))
    df = df.select(F.trim("tac").alias("tac"), F.lower(F.trim("device_type"))
                   .alias("device_type")).where(F.col("tac").isNotNull()).distinct()
    clash = df.groupBy("tac").count().where("count > 1").limit(5).collect()
    if clash:
        raise InputError(f"paths.tac_types {path}: TACs with several device types: "
                         f"{[r['tac'] for r in clash]}")
    return df


def execute(spark: SparkSession, cfg: Config, month: dt.date) -> dict[str, Any]:
    """Flag the cards of ``month`` (its first day) and replace its user_flags partition."""
    key = jobargs.month_key(month)
    days = jobargs.month_days(month)
    catalog = Catalog(spark, cfg.warehouse)
    note_partition(f"month={key}")
    events = (catalog.read("events_clean", dt=days).select(*EVENT_COLUMNS)
              .persist(StorageLevel.MEMORY_AND_DISK))

    def stage(df: DataFrame) -> DataFrame:
        # small per-card results used several times: materialise them and cut the
        # lineage, so later plans (and each expectation of the gate) stay small
        return df.localCheckpoint(eager=True)

    try:
        n_events = events.count()
        if n_events == 0:
            raise InputError(f"events_clean has no events for month {key} "
                             f"({days[0]} .. {days[-1]}): run clean_events first")
        note_input("events_clean", n_events)
        have = {r[0] for r in events.select(DT).distinct().collect()}
        missing = [d.isoformat() for d in days if d not in have]
        if missing:
            log.warning("month %s: events_clean has no data for %d of %d days (%s%s)", key,
                        len(missing), len(days), ", ".join(missing[:5]),
                        ", ..." if len(missing) > 5 else "")
        flags = user_flags(events, read_tac_types(spark, cfg), cfg.flags, key, stage=stage)
        result = gate_and_write(
            catalog, flags, "user_flags", {"month": key}, suite="user_flags",
            params={"min_human_share": 1.0 - cfg.flags.max_non_human_share,
                    "max_group_size": cfg.flags.max_group_size},
            results_dir=cfg.quality_dir, label=f"month={key}")
    finally:
        events.unpersist()
    out = catalog.read("user_flags", month=key)
    row = out.agg(
        F.count(F.lit(1)).alias("cards"),
        F.sum(F.col(IS_NON_HUMAN).cast("int")).alias("non_human"),
        F.countDistinct(MULTICARD_GROUP).alias("groups"),
        F.sum(F.col(MULTICARD_GROUP).isNotNull().cast("int")).alias("grouped_cards"),
        F.sum((F.col(IS_GROUP_PRIMARY) & ~F.col(IS_NON_HUMAN)).cast("int"))
        .alias("counted_persons"),
    ).first()
    stats = {"month": key, "events": n_events, "days_missing": len(missing),
             **{k: int(row[k] or 0) for k in ("cards", "non_human", "groups",
                                              "grouped_cards", "counted_persons")},
             "gate": result.success}
    log.info("user_flags %s: %s", key, stats)
    return stats


def run(args: argparse.Namespace, cfg: Config, spark: SparkSession) -> int:
    from mobsig.runs import month_label, recorded

    for month in jobargs.months(args):
        s = recorded(spark, cfg, NAME, month_label(month),
                     lambda month=month: execute(spark, cfg, month))
        print(f"user_flags {s['month']}: {s['cards']} cards, {s['non_human']} non-human, "
              f"{s['groups']} multi-card groups ({s['grouped_cards']} cards), "
              f"{s['counted_persons']} persons counted; {s['events']} events"
              + (f", {s['days_missing']} days without data" if s["days_missing"] else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
