"""Clean one day of events: events_bronze -> events_clean (partitioned by dt, region).

For the day (and the regions given; default every region) each event is joined
(broadcast) to the cell version valid on that day, then:

  duplicates   rows equal on every raw column are removed (one copy kept) and counted
  heavy users  cards above clean.heavy_user_events_per_day events that day are split off
               before any per-user sort; their rows are only de-duplicated and kept with
               is_heavy_user = true, so later jobs can exclude them
  ping-pong    short excursions A->B(..)->A to neighbouring cells within
               clean.pingpong_window_s are collapsed to A (the B-side records removed)
  drift        a record implying more than clean.drift_vmax_kmh to both neighbours (and
               farther than clean.drift_min_dist_m from both) is removed; a leg with a
               high-speed-rail cell (cells.is_hsr) at either end may go up to
               clean.drift_vmax_hsr_kmh, and the neighbours must be within that speed of
               each other (an isolated jump)

Every bronze row is accounted for: bronze rows = clean rows + duplicates + ping-pong +
drift + unlocated (no valid cell version). The job checks this identity, records each
count in the run record, and fails without writing if it does not hold. A quality gate
(expectations/events_clean.json) then checks uniqueness, positions inside run.bbox_* and
that at most clean.max_removed_share of the rows were removed. The write replaces exactly
the day's (region) partitions: a re-run gives an identical table.

A region run (--region) sees only that region's events, so a user's excursion that
crosses into another region is judged on the part inside it.
"""

from __future__ import annotations

import math

from mobsig import clean
from mobsig import columns as C
from mobsig.cells import cells_on_day
from mobsig.runner import JobContext, Output


def build(ctx: JobContext) -> list[Output]:
    p = ctx.cfg.clean
    bronze = ctx.read("events_bronze", dt=ctx.day, region=ctx.regions)
    n_bronze = bronze.count()
    ctx.require(n_bronze > 0, "events_bronze has no rows: run ingest_events first")
    heavy = ctx.keep(clean.heavy_users(bronze, p.heavy_user_events_per_day))
    located = clean.with_cell_position(bronze, cells_on_day(ctx.read("cells"), ctx.day))
    annotated = ctx.keep(clean.annotate_events(located, heavy, p))
    ledger = ctx.reconcile(annotated, source="events_bronze", reason=clean.DROP_REASON,
                           reasons=clean.REASONS, rows_in=n_bronze, by=C.IS_HEAVY_USER)
    ctx.fact("heavy_users", heavy.count())
    ctx.fact("heavy_rows", ledger.kept_by.get(True, 0))
    ctx.fact("removed_share", round(ledger.removed_total / n_bronze, 6))
    if ledger.removed[clean.UNLOCATED]:
        ctx.log.warning("%d events have no cell version valid on %s (cell table changed "
                        "since ingest?)", ledger.removed[clean.UNLOCATED], ctx.day)
    out = clean.kept(annotated).select(*ctx.catalog.schema("events_clean").names)
    return [Output(out, "events_clean", params={
        **ctx.cfg.run.bbox_params(),
        "min_rows": math.ceil(n_bronze * (1.0 - p.max_removed_share))})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["clean_events", *sys.argv[1:]]))
