"""Detect stays 停留 and moves 移动 of a day from events_clean (domain.md §B1).

    mobsig detect_stays --date 2026-06-02
    mobsig detect_stays --from 2026-06-01 --to 2026-06-30     (days run in order)

A stay is a run of one user's records within the stay radius of its first record (the
anchor; radius = max of the anchor's and the record's stay radius) lasting at least
stays.tau_min; a gap up to stays.gap_cap_h continues it, a longer gap ends it; consecutive
stays at the same place (one record at a farther cell between them) are merged. Moves link
consecutive stays of a user (arrival - departure <= stays.move_max_gap_h). A record's stay
radius is density-adaptive, computed here from its cell's site spacing (events_clean
spacing_m): clip(stays.radius_spacing_factor x spacing_m, stays.radius_dense_m,
stays.radius_sparse_m); carried open records keep the radius stored in stays_carry.

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

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import stays as S
from mobsig.flags import iot_cards
from mobsig.io.inputs import read_tac_types
from mobsig.runner import JobContext, Output

FIRST_PARTITION_ONLY = ("fresh_start",)


def add_arguments(p) -> None:
    p.add_argument("--fresh-start", action="store_true",
                   help="start without the previous day's carry even if events_clean has "
                        "that day (stays open at the previous midnight start anew)")


def options(args) -> dict:
    return {"fresh_start": bool(args.fresh_start)}


def previous_carry(ctx: JobContext) -> DataFrame:
    """stays_carry dt=D-1; empty when starting fresh (InputError if it should exist)."""
    prev = ctx.day - dt.timedelta(days=1)
    carry = ctx.read_optional("stays_carry", dt=prev)
    if carry is not None and not carry.isEmpty():
        return carry
    if not ctx.options.get("fresh_start"):
        before = ctx.read_optional("events_clean", dt=prev)
        ctx.require(before is None or before.isEmpty(),
                    f"stays_carry has no partition dt={prev} but events_clean has that day: "
                    f"run detect_stays for {prev} first (days run in order), or pass "
                    "--fresh-start")
    ctx.log.info("starting without a carry from %s", prev)
    return ctx.spark.createDataFrame([], ctx.catalog.schema("stays_carry").struct)


def build(ctx: JobContext) -> list[Output]:
    cfg = ctx.cfg
    events = ctx.read("events_clean", dt=ctx.day)
    n_events = events.count()
    ctx.require(n_events > 0, "events_clean has no events: run clean_events first")
    ctx.note_input("events_clean", n_events)
    tac = read_tac_types(ctx.spark, cfg) if cfg.paths.tac_types else None
    kept = S.filter_stay_users(events, iot_cards(events, tac, cfg.flags.iot_device_types))
    carry = ctx.keep(previous_carry(ctx))
    horizon = S.horizon_micros(ctx.day, cfg.run.timezone)
    st = cfg.stays
    rule = S.StayRule.of(st.tau_min, st.gap_cap_h, horizon)
    radius = S.StayRadius(st.radius_spacing_factor, st.radius_dense_m, st.radius_sparse_m)
    max_gap_s = st.move_max_gap_h * 3600.0
    records = S.to_kernel_input(kept, radius).unionByName(S.carry_open_records(carry))
    folded = ctx.keep(S.fold_stays(records, rule))
    stays = ctx.keep(S.stays_from_fold(folded, st.h3_resolution))
    previous = S.carry_last_stays(carry)
    day = F.lit(ctx.day).cast("date").alias(C.DT)
    new_carry = (S.open_records_from_fold(folded)
                 .unionByName(S.last_stay_per_user(stays, previous, horizon, max_gap_s)))
    ctx.fact("excluded_events", n_events - kept.count())
    ctx.fact("carry_in", carry.count())
    params = {**cfg.run.bbox_params(), "tau_s": int(rule.tau_us // 1_000_000),
              "max_gap_s": int(max_gap_s)}
    return [Output(stays.select("*", day), "stays", params=params),
            Output(S.moves_between_stays(stays, previous, max_gap_s).select("*", day),
                   "moves", params=params),
            Output(new_carry.select("*", day), "stays_carry", gated=False)]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["detect_stays", *sys.argv[1:]]))
