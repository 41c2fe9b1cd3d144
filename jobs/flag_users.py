"""Flag the cards of a month: non-human cards 非人号卡 and one person with several cards 一人多卡.

Reads ``events_clean`` for every day of the month (all regions), each event placed at its
cell's version valid on its day (the ``cells`` table: x_m, y_m, spacing_m; an event whose
cell has no such version any more, the cells table re-ingested since clean_stays, is left
out, counted in the fact ``events_without_cell`` with a warning), and writes one row per
card seen to ``user_flags`` (partition ``month=YYYY-MM``, replaced as a whole):

- non-human: IoT/M2M device type from the IMEI TAC (paths.tac_types, optional), one
  location the whole period, machine-regular inter-event times, impossible event rates;
  ``non_human_reason`` lists every rule that fired, ``evidence`` holds the numbers;
- multi-card: human cards whose hourly locations coincide in most shared hours on enough
  days and that move together (a card that does not move, a tablet at home or a work
  phone at work: with the one card that contains it, dominating the others) form a
  group when every two of them are paired and they are at most flags.max_group_size (a
  chain or crowd of look-alikes is resolved best pair first when its pairs coincide on
  >= flags.multicard_resolve_min_days days, fact ``resolved_cards``; otherwise it is not
  grouped: fact ``ambiguous_cards``); one card per group is the primary (the counted);
- observed_h: the hours the card was seen in the area (gaps between its events of at most
  flags.observed_gap_cap_h, summed), which home_work's transit rule uses with the stays.

Parameters: the ``flags`` section (``mobsig config --explain``). The gate
(expectations/user_flags.json) checks unique cards, the non-human share and group sizes.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.cells import events_placed
from mobsig.flags import MULTICARD_AMBIGUOUS, MULTICARD_RESOLVED, user_flags
from mobsig.io.inputs import read_tac_types
from mobsig.runner import JobContext, Output, count_where

EVENT_COLUMNS = [C.USER_ID, C.EVENT_TIME, C.CELL_ID, C.IMEI_TAC, C.IS_HEAVY_USER, C.DT]


def build(ctx: JobContext) -> list[Output]:
    days, p = ctx.part.month_days, ctx.cfg.flags
    events = ctx.keep(events_placed(ctx.read("events_clean", dt=days).select(*EVENT_COLUMNS),
                                    ctx.read("cells"), (C.X_M, C.Y_M, C.SPACING_M)))
    n_events, placed, have = events.agg(F.count(F.lit(1)), F.count(C.X_M),
                                        F.collect_set(C.DT)).first()
    ctx.require(n_events > 0, f"events_clean has no events for {days[0]} .. {days[-1]}: "
                              "run clean_stays first")
    ctx.note_input("events_clean", n_events)
    ctx.fact("events_without_cell", n_events - placed)
    if n_events > placed:
        ctx.log.warning("%d events have no version of their cell valid on their day in the "
                        "cells table (re-ingested since clean_stays?): left out",
                        n_events - placed)
        events = events.where(F.col(C.X_M).isNotNull())
    missing = [d.isoformat() for d in days if d not in have]
    if missing:
        ctx.log.warning("events_clean has no data for %d of %d days (%s%s)", len(missing),
                        len(days), ", ".join(missing[:5]), ", ..." if len(missing) > 5 else "")
    ctx.fact("days_missing", len(missing))

    def stage(df: DataFrame) -> DataFrame:
        # small per-card results used several times: materialise them and cut the
        # lineage, so later plans (and each expectation of the gate) stay small
        return df.localCheckpoint(eager=True)

    tac = read_tac_types(ctx.spark, ctx.cfg)
    flags = ctx.keep(user_flags(events, tac, p, ctx.part.month_key, stage=stage))
    ctx.result.facts.update(count_where(
        flags, cards=None, non_human=F.col(C.IS_NON_HUMAN),
        grouped_cards=F.col(C.MULTICARD_GROUP).isNotNull(),
        counted_persons=F.col(C.IS_GROUP_PRIMARY) & ~F.col(C.IS_NON_HUMAN),
        ambiguous_cards=F.get_json_object(C.EVIDENCE, f"$.{MULTICARD_AMBIGUOUS}").isNotNull(),
        resolved_cards=F.get_json_object(C.EVIDENCE, f"$.{MULTICARD_RESOLVED}").isNotNull()))
    ctx.fact("groups", flags.agg(F.countDistinct(C.MULTICARD_GROUP)).first()[0])
    if ctx.result.facts["ambiguous_cards"]:
        ctx.log.warning("%d cards are paired in chains or crowds of look-alikes (components "
                        "of pairs that are not all paired with each other, or of more than "
                        "flags.max_group_size = %d cards) and are not grouped; see evidence "
                        "%s", ctx.result.facts["ambiguous_cards"], p.max_group_size,
                        MULTICARD_AMBIGUOUS)
    return [Output(flags, "user_flags",
                   params={"min_human_share": 1.0 - p.max_non_human_share,
                           "max_group_size": p.max_group_size})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["flag_users", *sys.argv[1:]]))
