"""Home 居住地, work 就业地 and population class per card for a month.

Reads the month's ``stays`` (plus the first day of the next month, for the last evening's
night), the ``cells`` table (site spacing and antenna positions, to re-centre homes among
sparse sites; a month with stays and no cells table is an error: run ingest_cells), the
residential land of paths.residential_land when configured and the month's ``user_flags``
when present, and replaces the month's partition of
``home_work``: one row per card with a stay in the month or a flags row. Home comes from
night stays (home_work.night_start_h..night_end_h, keyed by the evening's date;
``home_rule`` night; re-centred among the nearby night stays and pulled towards the
order-2 Voronoi piece of its two sites with the most time, home_work.home_voronoi_weight;
among sites >= home_work.settlement_min_spacing_m apart moved onto the residential land
of paths.residential_land nearby, ``home_position`` residential_land),
or for a card whose place with the most time over all hours is
another one, >= home_work.home_day_rest_min_ratio x the night place's time (night-shift
workers), from that rest place, with the night place as its work place (``home_rule``
day_rest); work from daytime stays on workdays of the holiday calendar (paths.holidays
or the built-in Chinese calendar, 2016-2026; a month outside the calendar's years fails
before Spark starts unless home_work.calendar_gap = warn), and from night shifts (a
workday night away from home followed by a morning at home, home_work.work_night_min_h).
Cards whose home cannot be identified keep their row with a ``home_reason``; non-human
cards and non-primary cards of a multi-card group are kept but not counted
(``is_counted = false``). Population classes follow the ``population`` section.

Gates, before anything is written: ``home_identification`` (among counted cards present
>= population.resident_min_days days, the share with an identified home, residents /
(residents + unidentified), must reach home_work.min_home_share, default 80 %, else the
run fails naming the share), then the ``home_work`` suite on the table.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import residence, settlement
from mobsig.geo import next_month
from mobsig.io.holidays import calendar_of, check_coverage, workday_calendar
from mobsig.runner import JobContext, Output, count_where


def validate(cfg, options) -> None:
    calendar_of(cfg)  # a bad holiday file fails before Spark starts


def build(ctx: JobContext) -> list[Output]:
    cfg, hw, month = ctx.cfg, ctx.cfg.home_work, ctx.month
    stays = ctx.read("stays", dt=ctx.part.month_days + [next_month(month)])
    cells = ctx.read_optional("cells")
    if not stays.isEmpty() and (cells is None or cells.isEmpty()):
        # ingest_cells always runs before clean_stays: stays without a cells table are
        # an operator error (a wrong warehouse, a table moved aside)
        raise ctx.input_error(f"the month has stays but the cells table at "
                              f"{ctx.catalog.path('cells')} is missing or empty (homes are "
                              "re-centred by its site spacing); run ingest_cells first")
    stays = ctx.keep(residence.stays_for_places(stays, residence.cell_sites(ctx.spark, cells),
                                                hw.cluster_h3_resolution))
    n_stays = residence.note_stays(ctx, stays)
    flags = ctx.read_optional("user_flags", month=ctx.part.month_key)
    n_flags = flags.count() if flags is not None else 0
    ctx.note_input("user_flags", n_flags)
    ctx.require(n_stays or n_flags, "no stays and no user_flags for the month; run "
                                       "clean_stays (and flag_users) first")
    if not n_flags:
        ctx.log.warning("no user_flags for the month: every card counts as a human card")
    # a month outside the calendar's years fails here too when run without validate()
    ctx.fact("calendar_covered", check_coverage(cfg, ctx.part.month_days, ctx.log))
    ctx.fact("holiday_calendar", (cal := workday_calendar(cfg, ctx.log)).source)
    days = [d for d in ctx.part.month_days if cal.is_workday(d)]
    table = ctx.keep(residence.build_home_work(
        stays, flags if n_flags else None, month, days, hw, cfg.population,
        cfg.stays.h3_resolution, ctx.detach, residence.voronoi_of(cells, cfg),
        settlement.land_of(ctx)))
    classes = {r[C.POP_CLASS]: r["n"] for r in table.where(C.IS_COUNTED).groupBy(C.POP_CLASS)
               .agg(F.count(F.lit(1)).alias("n")).collect()}
    ctx.result.facts.update(count_where(
        table, rows=None, homes=F.col(C.IS_COUNTED) & F.col(C.HOME_LON).isNotNull(),
        works=F.col(C.IS_COUNTED) & F.col(C.WORK_LON).isNotNull(),
        homes_on_residential_land=F.col(C.IS_COUNTED)
        & (F.col(C.HOME_POSITION) == settlement.ON_LAND)))
    ctx.result.facts.update(classes=classes, workdays=len(days))
    share, present = residence.home_share(classes)
    ctx.fact("home_share", round(share, 4))
    if present == 0:
        ctx.log.warning("no counted card present >= %d days; the home identification gate "
                        "has nothing to measure", cfg.population.resident_min_days)
    else:
        ctx.check("home_identification", {"home_share": share}, table="home_work",
                  params={"min_home_share": hw.min_home_share},
                  explain=f"an identified home for {share:.1%} of the {present} counted "
                          f"cards present >= {cfg.population.resident_min_days} days "
                          f"(home_work.min_home_share = {hw.min_home_share:.0%}); "
                          f"{classes.get('unidentified', 0)} unidentified")
    return [Output(table, "home_work", params=cfg.run.bbox_params())]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["home_work", *sys.argv[1:]]))
