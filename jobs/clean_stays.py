"""Clean a day's events and detect its stays 停留 and moves 移动 in one pass (domain.md §B1).

    mobsig clean_stays --date 2026-06-02
    mobsig clean_stays --from 2026-06-01 --to 2026-06-30     (days run in order)

Reads events_bronze dt=D (every region: a user's day is cleaned and folded whole), the
cells table and the carry stays_carry dt=D-1; writes events_clean, stays, moves and
stays_carry for dt=D, each replacing its partition, from ONE shuffle of the day by user
(mobsig.daily): each event joined (broadcast) to its cell version valid on D, then per user
in (time, cell, ...) order

  duplicates   rows equal on every raw column: one copy kept (same_minute instead of
               duplicate when a copy's source file has whole-minute times: two real
               records of one minute at one cell are equal there; not a removed fault)
  heavy users  cards above clean.heavy_user_events_per_day rows: only de-duplicated, kept
               with is_heavy_user = true, no stays
  ping-pong    short excursions A->B(..)->A to neighbouring cells within
               clean.pingpong_window_s collapsed to A
  drift        a record faster than clean.drift_vmax_kmh (HSR cells: drift_vmax_hsr_kmh)
               to both neighbours and farther than clean.drift_min_dist_m from both
  unlocated    no cell version valid on D
  stays        runs within the stay radius of their anchor lasting stays.tau_min (a gap up
               to stays.gap_cap_h continues one), radius clip(stays.radius_spacing_factor x
               the cell's spacing_m, radius_dense_m, radius_sparse_m); IoT cards (most
               frequent TAC an IoT type: paths.tac_types, flags.iot_device_types) and heavy
               users have none; a stay open at midnight is carried to D+1 as ONE
               summary row (stays_carry kind open_stay; a run still shorter than tau
               as its records), from which D+1 goes on exactly
  moves        consecutive stays of a user at most stays.move_max_gap_h apart

Every bronze row is accounted for (bronze = clean + duplicate + pingpong + drift +
unlocated + same_minute), counted by the pass itself; the run fails without writing when
it does not hold, when more than clean.max_removed_share was removed (same_minute
collapses do not count), or when a gate fails. Days depend
on the previous day's carry: a missing carry for D-1 while events_clean has D-1 is an error
unless --fresh-start is given. A stay open at midnight is carried only while it started
at most stays.max_open_h before; an older one is closed (fact stays_over_max_open).
Behavioural non-human cards are flagged monthly
(user_flags) and excluded downstream.
"""

from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import functions as F

from mobsig import clean, daily
from mobsig import columns as C
from mobsig import stays as S
from mobsig.cells import cells_on_day
from mobsig.flags import iot_tacs
from mobsig.io.inputs import read_tac_types
from mobsig.runner import JobContext, Output

FIRST_PARTITION_ONLY = ("fresh_start",)


def add_arguments(p) -> None:
    p.add_argument("--fresh-start", action="store_true",
                   help="start without the previous day's carry even if events_clean has "
                        "that day (stays open at the previous midnight start anew)")


def options(args) -> dict:
    return {"fresh_start": bool(args.fresh_start)}


def build(ctx: JobContext) -> list[Output]:
    cfg, st = ctx.cfg, ctx.cfg.stays
    bronze = ctx.read("events_bronze", dt=ctx.day)
    n_bronze, coarse = daily.day_sources(bronze)
    ctx.require(n_bronze > 0, "events_bronze has no rows: run ingest_events first")
    prev = ctx.day - dt.timedelta(days=1)
    carry, n_carry = daily.previous_carry(ctx, ctx.read_optional("stays_carry", dt=prev),
                                          lambda: ctx.read_optional("events_clean", dt=prev))
    ctx.note_input("stays_carry", n_carry)  # summaries, open records, last stays
    tac = read_tac_types(ctx.spark, cfg) if cfg.paths.tac_types else None
    params = daily.PassParams.of(cfg, ctx.day, iot_tacs(tac, cfg.flags.iot_device_types))
    ctx.fact("coarse_time_files", len(coarse))
    if coarse:
        ctx.log.info("%d source files have whole-minute event times (%s%s): rows equal at "
                     "that resolution are collapsed as same_minute, not duplicate",
                     len(coarse), ", ".join(coarse[:3]), " ..." if len(coarse) > 3 else "")
    rows = daily.pass_input(bronze, cells_on_day(ctx.read("cells"), ctx.day), carry, coarse)
    passed = ctx.keep(daily.day_pass(rows, params))
    n = daily.pass_counts(passed)  # runs the pass once; the rest reads it from the cache
    ledger = ctx.reconcile(daily.ledger_counts(n), source="events_bronze", rows_in=n_bronze,
                           reason=C.DROP_REASON, reasons=clean.DROP_REASONS)
    for k in daily.FACTS:
        ctx.fact(k, n[k])
    # records equal at a coarse time resolution are collapsed, not removed as faults:
    # neither the removed share nor the events_clean row-count gate counts them
    same_minute = n[clean.SAME_MINUTE]
    ctx.fact("removed_share", round((ledger.removed_total - same_minute) / n_bronze, 6))
    if n[clean.UNLOCATED]:
        ctx.log.warning("%d events have no cell version valid on %s (cell table changed "
                        "since ingest?)", n[clean.UNLOCATED], ctx.day)
    max_gap_s = st.move_max_gap_h * 3600.0
    stays, moves, new_carry = S.day_outputs(daily.fold_of(passed), carry, params.rule.horizon_us,
                                            st.h3_resolution, max_gap_s, keep=ctx.keep)
    day, bbox = F.lit(ctx.day).cast("date").alias(C.DT), cfg.run.bbox_params()
    gate = {**bbox, "tau_s": int(params.rule.tau_us // 1_000_000), "max_gap_s": int(max_gap_s)}
    return [Output(daily.events_of(passed).select("*", day), "events_clean", stage=False,
                   known={"expect_compound_columns_to_be_unique": n[daily.NOT_UNIQUE]},
                   params={**bbox, "min_rows": math.ceil(
                       (n_bronze - same_minute) * (1.0 - cfg.clean.max_removed_share))}),
            Output(stays.select("*", day), "stays", params=gate),
            Output(moves.select("*", day), "moves", params=gate),
            Output(new_carry.select("*", day), "stays_carry", gated=False)]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["clean_stays", *sys.argv[1:]]))
