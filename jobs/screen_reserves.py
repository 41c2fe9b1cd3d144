"""Screening of nature-reserve core zones 自然保护区核心区 for a day: per core-zone polygon
the distinct visitors (cards whose stays inside add up to at least
screen.reserve_visit_min_min, 30 min, on the day, and who do not live there) and the
residents (resident cards whose home is inside), raw 原样数量 and expanded 扩样数量; a
baseline of the visitors learned from the trailing screen.reserve_baseline_weeks weeks
(the median over the days of the same type: workdays for a workday, rest days for a rest
day or a public holiday; holidays of the calendar are never part of a baseline) and an
alert when the day's visitors reach screen.reserve_alert_min_count and exceed
screen.reserve_alert_factor x the baseline (a holiday's alert is a ``holiday_peak``). With
fewer than screen.reserve_min_baseline_days baseline days no alert is judged
(``is_alert`` null, ``alert_null_reason`` too_few_baseline_days). Evidence for a field
check, never a verdict.

Reads the stays (and stays_carry) of the day, of the day after and of the trailing
window (never its own earlier output: a run for one day is self-contained and a re-run
gives the same rows), the card_places of the months of those days (a card counts on a
day only when it is in that month's card_places; residents are those of each day's
month), the day's month's expansion factors and the polygons of screen.reserve_layers
(default ``reserve_core``) in the ``units`` table; a day of the window without stored
stays or card_places is no baseline day. It runs after the monthly chain of the day's
month (``after_month``). Visitors and residents are suppressed below privacy.k_min with
complementary suppression among the polygons of a layer; the baseline is withheld below
k_min; the alert and its kind are published without a count. Without a reserve layer in
the units table the job writes nothing. Replaces the day's partitions of
``screen_reserves`` and writes ``<warehouse>/exports/dt=YYYY-MM-DD/screen_reserves.parquet``
(GeoParquet with the polygon) and ``screen_reserves.csv`` (UTF-8 with BOM).
The release is then audited over every layer at once (mobsig.privacy_audit; gate
privacy_audit): further cells are hidden until no suppressed cell can be narrowed below
privacy.protection_width.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, presence, privacy, privacy_audit, reserves
from mobsig.geo import unit_polygons
from mobsig.io.exports import export_day
from mobsig.io.holidays import calendar_of
from mobsig.population import user_weights
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, day, sc, pv = ctx.cfg, ctx.day, ctx.cfg.screen, ctx.cfg.privacy
    key = day.strftime("%Y-%m")
    units = ctx.keep(unit_polygons(ctx.read("units")))
    have = {r[C.LEVEL] for r in units.select(C.LEVEL).distinct().collect()}
    layers = [x for x in sc.reserve_layers if x in have]
    ctx.fact("layers", ",".join(layers) or "none")
    if not layers:  # nothing to screen: the chain runs on without a reserve layer
        ctx.log.warning("no reserve layer %s in the units table", list(sc.reserve_layers))
        return []
    zones = ctx.keep(units.where(F.col(C.LEVEL).isin(layers)))
    days = [*(trailing := reserves.window(day, sc.reserve_baseline_weeks)), day]
    both = [*days, day + dt.timedelta(days=1)]
    months = sorted({d.strftime("%Y-%m") for d in days})
    stored = {r[C.DT] for r in ctx.read("stays", dt=both).select(C.DT).distinct().collect()}
    ctx.require(day in stored, f"no stays stored for {day}: run clean_stays for it first")
    places = ctx.keep(ctx.read("card_places", month=months))
    with_places = {r[C.MONTH] for r in places.select(C.MONTH).distinct().collect()}
    ctx.require(key in with_places, f"no card_places for {key}; run the monthly chain first")
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    ctx.require(factors.count() > 0, f"no expansion_factors for {key}; run expand first")
    age = ctx.keep(expansion.checked_age_factors(ctx, ctx.read(
        "expansion_factors_age", month=key))) if cfg.expansion.rake_ages else None
    cal = calendar_of(cfg)
    available = [d for d in trailing if d in stored and d.strftime("%Y-%m") in with_places]
    base_days = reserves.baseline_days(cal, day, sc.reserve_baseline_weeks, available)
    day_type = reserves.day_class(cal, day)
    ctx.fact("day_type", day_type), ctx.fact("baseline_days", len(base_days))
    # only the partitions the baseline days and the day need (a stay is stored on the day
    # it closed: the day and the next)
    need = sorted({x for d in (*base_days, day) for x in (d, d + dt.timedelta(days=1))})
    stays = presence.stays_for_days(ctx.read("stays", dt=need), ctx.read("stays_carry", dt=need),
                                    [*base_days, day], cfg.stays.tau_min)
    long, base = reserves.day_tables(stays, places, user_weights(
        places.where(F.col(C.MONTH) == key), factors, age), zones, day, base_days,
        sc.reserve_visit_min_min * 60, ctx.keep)
    out = ctx.keep(reserves.publish(long, base, day_type, pv.k_min, pv.complementary,
                                    pv.suppress_zeros, sc.reserve_alert_factor,
                                    sc.reserve_alert_min_count, sc.reserve_min_baseline_days,
                                    pv.width, privacy_audit.gate_for(ctx, "screen_reserves")))
    ctx.fact("alerts", out.where(F.col(reserves.IS_ALERT)).count())
    if ctx.options.get("export", True):
        ctx.after_write(lambda: ctx.note_output("exports/screen_reserves.csv", export_day(
            ctx.catalog, "screen_reserves", day, units)))
    return [Output(out.withColumn(C.DT, F.lit(day)), "screen_reserves",
                   {C.DT: day, C.LEVEL: layers},
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["screen_reserves", *sys.argv[1:]]))
