"""Urban spatial linkage 城市联系 for a month: trips between units T_ij, the intensity
F_ij = (T_ij + T_ji) / days, commuting rates between units, and the metropolitan area
都市圈 delineated by commuting share; raw 原样数量 and expanded 扩样数量 counts.

Reads the month's ``moves`` (clean_stays), ``card_places`` (place_cards),
``expansion_factors`` (expand; with expansion.rake_ages also ``expansion_factors_age``),
every layer of ``units``, the month's ``jobs_housing`` (the employed residents that
divide the commuting rate, as published) and the month's published ``commute`` and
``commute_od`` (every commuters pair keeps commute_od's state: hidden where it hides
it, published, never a complement, where it publishes it; run both first: a
commuters row total jobs_housing publishes, employed residents - live_and_work, or a
column total commute and jobs_housing publish, inbound commuters -
live_and_work, is never withheld: the gate fails instead; a commuters row whose total
jobs_housing keeps hidden is never fully published; a commuters column where exactly one
of commute's inbound commuters and jobs_housing's live_and_work is hidden has its total,
their difference, audited as a hidden cell that must be as wide as any). A move belongs
to the month of its partition (the day its destination stay was closed) and is a trip
when its stays are at least linkage.min_trip_m (500 m) apart; it counts when both ends
lie in units of a level (linkage.levels, default every layer; with linkage.grid also H3
cells) and the units differ; only counted cards (card_places) count, each weighted by the expansion
factor of its home county. Commuters are employed residents (home and work place, as in
jobs_housing) per home unit -> work unit. The metropolitan area is grown over
linkage.metro_level from linkage.metro_core (default: the unit where most employed
residents work): a unit joins when at least linkage.metro_threshold (10 %) of its
employed residents work in the area as it stands, repeated until none joins; only units
whose membership pins no hidden count may join (jobs_housing publishes their employed
residents and both intervals the share's bit gives them are at least
privacy.protection_width wide: linkage.membership_open); the others' membership is null.

Before anything is written (gate linkage_totals), at the metro level: commuters by
origin never exceed the employed residents, which must equal jobs_housing's published
counts. Small counts are suppressed (privacy.k_min; complementary suppression with each
origin's row and each destination's column total per measure taken as public, and the
metro part of each row at the metro level, since metro_area publishes it, until no small
withheld cell follows from them: privacy.with_od_bridge_suppression); a per-day value or rate
from a hidden count is null with its reason. Replaces the month's partitions of ``linkage`` and
``metro_area`` and writes ``<warehouse>/exports/month=YYYY-MM/linkage.parquet`` (GeoParquet,
a line from origin to destination centroid), ``linkage.csv``, ``metro_area.parquet``
(unit polygons) and ``metro_area.csv`` (UTF-8 with BOM).
Each OD matrix is then audited with its row and column totals public (at the metro level
the whole commuters row too: employed residents - live_and_work, beside its two parts)
(mobsig.privacy_audit.with_od_audit) and the audit gates the run (privacy_audit): a
hidden pair narrower than privacy.protection_width gets complements, or, where its row
or column is hidden already under a total too small for it (nothing left to hide), that
total is withheld (``<measure>_origin_total_withheld`` / ``_dest_total_withheld`` on the
pair's rows; run fact privacy_totals_withheld); where a commuters row total at the metro
level is withheld, metro_area hides that unit's commuters_to_metro too (its metro part,
and with its employed residents the rest) and its share; metro_area's employed residents
keep jobs_housing's published mask. The release is also audited jointly with the commute
release's system as the commute job stored it (``privacy_systems``: jobs_housing,
commute and commute_od; linkage's commuters pairs are commute_od's, its metro parts sums
of them), linkage's commuters as exported (linkage.joint_with_commute; privacy.joint_audit:
gated by default): a metro part that binds a cell narrower than the width there is held
hidden in metro_area (run fact privacy_cells_held), else the gate fails.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, linkage, population, privacy
from mobsig.geo import unit_polygons
from mobsig.io.exports import export_month
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta tables are written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, key, lk, pv = ctx.cfg, ctx.part.month_key, ctx.cfg.linkage, ctx.cfg.privacy
    places = ctx.keep(ctx.read("card_places", month=key))
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    moves = ctx.keep(ctx.read("moves", dt=ctx.part.month_days))
    for name, frame in (("card_places", places), ("expansion_factors", factors), ("moves", moves)):
        ctx.note_input(name, frame.count())
        ctx.require(ctx.result.input_rows[name] > 0, f"no {name} rows for the month")
    age = ctx.keep(ctx.read("expansion_factors_age", month=key)) if (
        cfg.expansion.rake_ages) else None
    ctx.require(not (p := expansion.age_factors_problem(age, cfg.expansion.age_bands)), p)
    all_units = ctx.keep(unit_polygons(ctx.read("units")))
    levels, core = linkage.plan([tuple(r) for r in all_units.select(
        C.LEVEL, C.UNIT_ID, C.PARENT_ID).collect()], lk.levels, lk.metro_level, lk.metro_core)
    units = ctx.keep(all_units.where(F.col(C.LEVEL).isin(*set(levels) | {lk.metro_level})))
    weights = ctx.keep(population.user_weights(places, factors, age))
    grid = cfg.population.grid_h3_resolution if lk.grid else None
    od = linkage.move_units(linkage.move_points(moves, places, lk.min_trip_m), units, grid)
    trips = ctx.keep(linkage.trip_counts(od, weights, [C.LEVEL, C.ORIGIN_ID, C.DEST_ID]))
    pairs = ctx.keep(linkage.commute_pairs(places, units, weights, grid))
    at_metro = F.col(C.LEVEL) == lk.metro_level
    level_units = units.where(at_metro).select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID)
    employed = linkage.employed_residents(places, units.where(at_metro), weights)
    jh = ctx.keep(ctx.read("jobs_housing", month=key))
    metro = ctx.keep(linkage.metro_area(  # membership only where it pins no hidden count
        pairs.where(at_metro), level_units, core, lk.metro_threshold, linkage.membership_open(
            level_units, employed, jh, lk.metro_threshold, pv.width, pv.suppress_zeros)))
    ctx.check("linkage_totals", linkage.totals_metrics(pairs.where(at_metro), employed, jh)
              .first().asDict(), table="linkage", explain=f"at {lk.metro_level}: commuters by "
              "origin above the employed residents, or employed residents unlike jobs_housing's")
    ctx.result.facts.update(linkage.metro_facts(metro))
    keep = F.col(C.LEVEL).isin(*levels) | (F.col(C.LEVEL) == C.GRID_LEVEL)
    long = linkage.od_long(trips.where(keep), pairs.where(keep),
                           metro.where(F.col(C.IS_MEMBER)).select(C.LEVEL, C.UNIT_ID))
    # the gate, with the joint audit of commute's release (the metro parts it holds hidden)
    gate, held = linkage.joint_gate(ctx, ctx.read("privacy_systems", month=key), pv)
    sup = ctx.keep(linkage.suppress_pairs(  # totals jobs_housing and commute publish kept
        long, pv.k_min, pv.complementary, pv.suppress_zeros, pv.width, gate, jobs_housing=jh,
        commute=ctx.read("commute", month=key), commute_od=ctx.read("commute_od", month=key)))
    metro_out = linkage.publish_metro(  # linkage's withheld row totals hidden here too
        linkage.metro_long(metro, employed, level_units), pv.k_min, pv.complementary,
        pv.suppress_zeros, linkage.withheld_metro_rows(sup, lk.metro_level, held), jh)
    out = linkage.publish(sup, jh, units, ctx.keep(linkage.days_with_moves(moves)))
    for table in ("linkage", "metro_area") if ctx.options.get("export", True) else ():
        ctx.after_write(lambda t=table: ctx.note_output(
            f"exports/{t}.csv", export_month(ctx.catalog, t, key, all_units)))
    small = {"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)}
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "linkage", params=small),
            Output(metro_out.withColumn(C.MONTH, F.lit(key)), "metro_area", params=small)]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["linkage", *sys.argv[1:]]))
