"""Screening of supplied parcels 已供应地块 for suspected idle land 疑似闲置土地 for a
month: per parcel of screen.idle_land_layers (default ``supplied_parcel``) the cards with
a stay inside during the month (``stayers``) and those whose work place is inside
(``workers``), raw 原样数量 and expanded 扩样数量; whether the parcel is past its agreed
start date 约定开工日期 (``is_due``: the month begins on or after the date in the parcel's
attribute screen.idle_start_attribute) and near zero (at most screen.idle_max_persons
distinct cards stayed or worked inside); from the job's own earlier months the run of
consecutive near-zero months ending with this one and the month it started; a suspect
when the run reaches screen.idle_min_months (12). Evidence for a field check, never a
verdict.

Reads the month's stays (and the first day of the next month: a stay is stored on the
day it closed), ``card_places`` (run place_cards), ``expansion_factors`` (run expand), the
cells (a parcel without a cell site inside is not observed: null counts with null_reason
no_coverage, never near zero), the parcel layers in the ``units`` table and the earlier
months of ``screen_idle_land`` itself (the 120 before this one, never this one): run the
months in order (a month without a row breaks a run; after re-running a month, re-run the
later ones: ``mobsig run screen_idle_land --from-month A --to-month B`` or
``--downstream``). Stayers and workers are suppressed below privacy.k_min with
complementary suppression among the parcels of a layer; the dates and flags are published
without a count (the export manifest says so). Without a parcel layer in the units table
the job writes nothing. Replaces the month's partitions of ``screen_idle_land`` and writes
``<warehouse>/exports/month=YYYY-MM/screen_idle_land.parquet`` (GeoParquet with the
polygon) and ``screen_idle_land.csv`` (UTF-8 with BOM).
The release is then audited over every layer at once (mobsig.privacy_audit; gate
privacy_audit): further cells are hidden until no suppressed cell can be narrowed below
privacy.protection_width.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, idle_land, population, privacy, privacy_audit
from mobsig.geo import next_month, unit_polygons
from mobsig.io.exports import export_month
from mobsig.population import user_weights
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, key, sc, pv = ctx.cfg, ctx.part.month_key, ctx.cfg.screen, ctx.cfg.privacy
    table = ctx.keep(ctx.read("units"))
    have = {r[C.LEVEL] for r in table.select(C.LEVEL).distinct().collect()}
    layers = [x for x in sc.idle_land_layers if x in have]
    ctx.fact("layers", ",".join(layers) or "none")
    if not layers:  # nothing to screen: the chain runs on without a parcel layer
        ctx.log.warning("no supplied-parcel layer %s in the units table",
                        list(sc.idle_land_layers))
        return []
    places = ctx.keep(ctx.read("card_places", month=key))
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    for name, df in (("card_places", places), ("expansion_factors", factors)):
        ctx.note_input(name, df.count())
        ctx.require(ctx.result.input_rows[name] > 0, f"no {name} rows; run it first")
    age = ctx.keep(expansion.checked_age_factors(ctx, ctx.read(
        "expansion_factors_age", month=key))) if cfg.expansion.rake_ages else None
    zones = ctx.keep(idle_land.parcels(table, layers, sc.idle_start_attribute,
                                       sc.idle_supply_attribute, ctx.month))
    after = next_month(ctx.month)
    stays = ctx.read("stays", dt=ctx.part.month_days + [after])
    polygons = unit_polygons(table).where(F.col(C.LEVEL).isin(layers))
    uncovered = population.noted_uncovered(ctx, polygons, ctx.read("cells"))
    history = ctx.read_optional("screen_idle_land", month=idle_land.earlier_months(key))
    history = None if history is None else ctx.keep(history)
    counts = idle_land.month_counts(idle_land.members(places, stays, zones, ctx.month, after),
                                    user_weights(places, factors, age), zones)
    out = ctx.keep(idle_land.publish(counts, history, uncovered, key, pv.k_min,
                                     pv.complementary, pv.suppress_zeros,
                                     sc.idle_max_persons, sc.idle_min_months, pv.width,
                                     privacy_audit.gate_for(ctx, "screen_idle_land")))
    ctx.fact("due", out.where(F.col(idle_land.IS_DUE)).count())
    ctx.fact("near_zero", out.where(F.col(idle_land.IS_NEAR_ZERO)).count())
    ctx.fact("suspects", out.where(F.col(idle_land.IS_SUSPECT)).count())
    if ctx.options.get("export", True):
        ctx.after_write(lambda: ctx.note_output("exports/screen_idle_land.csv", export_month(
            ctx.catalog, "screen_idle_land", key, unit_polygons(table))))
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "screen_idle_land",
                   {C.MONTH: key, C.LEVEL: layers},
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["screen_idle_land", *sys.argv[1:]]))
