"""Commuting 通勤 for a month: home→work origin-destination per unit pair and level, commute
distance and time per origin unit, and the commuting radius of each unit as a centre.

Reads the month's ``card_places`` (run place_cards), ``expansion_factors`` (run ``expand``
first), ``moves`` and ``events_clean`` (clean_stays, the month's days plus the first of
the next month), every layer of the ``units`` table plus the H3 grid of population_by_unit
(population.grid_h3_resolution), and the month's published ``jobs_housing`` (run it
first): its mask of employed residents and live_and_work is the mask of the same counts
here (commuters, the same-unit pairs of commute_od). Commuters are jobs_housing's employed
residents: residents with a home and a work place. Per commuter: the straight-line
home→work distance (metres, geodesic on the CGCS2000 ellipsoid) and the commute time, the
median over the month of its observed home→work trips (moves from a stay within
commute.match_radius_m of the home to one within it of the work place, each timed from the
records seen en route by the range estimator span x (n + 1) / (n - 1), within the move's
duration); a commuter without any such trip is counted as untimed, never dropped. Writes
two export tables, raw 原样数量 and expanded 扩样数量 (each card weighted by its home
county's expansion factor, as population_by_unit):

- ``commute_od``: per level and (origin, destination) pair, the commuters; small counts
  suppressed with OD complementary suppression (a rectangle, or longer cycle, of hidden
  cells per small cell, so no row or column total recovers it; mobsig.privacy);
- ``commute``: per unit, commuters living there (= jobs_housing's employed residents),
  timed and untimed, within / beyond commute.short_distance_m (5 km), within
  commute.short_time_min (45 min) / between / from commute.long_time_min (60 min), and the
  inbound commuters working there; mean and median distance, median time, the shares, and
  the commuting radius (commute.radius_quantile, 90 %, of the inbound commuters'
  distances). Counts below privacy.k_min are suppressed with complementary suppression
  (sibling units and the unit's own totals); a statistic computed from a hidden count is
  null with ``<stat>_null_reason`` = suppressed.

Before anything is written commuters and inbound commuters must add up from child units
to their parent within population.max_level_gap (gate commute_levels). Replaces the
month's partitions of both tables and writes ``<warehouse>/exports/month=YYYY-MM/``
``commute.parquet`` / ``.csv`` (unit polygons) and ``commute_od.parquet`` / ``.csv``
(desire lines between the units' centres).
Both tables are then audited (mobsig.privacy_audit). Each OD matrix, with its row and
column totals public, is gated (privacy_audit): complements, or the totals that pin a
pair with nothing left to hide withheld (the unit's inbound commuters hidden in
``commute``; run fact privacy_totals_withheld). A row total (commuters) is withheld
exactly where jobs_housing hides the employed residents (and audited as a hidden cell of
its own: the other totals must not pin it), never where it publishes them (the gate
fails instead), and a same-unit pair is hidden exactly where jobs_housing hides
live_and_work; a unit's inbound commuters are hidden where jobs_housing hides its
live_and_work and commute_od hides no pair of its column from another unit (inbound -
live_and_work is then public: 0 where nobody from another unit works there). Where
jobs_housing hides exactly one of employed residents and live_and_work, the origin's row
gets a pair to another unit hidden before the audit (its smallest published one, else a
zero pair added hidden): a row with none would add up to the hidden count
(commute.hide_a_pair_of_split_rows). The unit
table (identities and layers) is gated with it: each split of a unit (timed / untimed,
the distance bands, the time bands) is published or withdrawn whole, its zeros included,
until no hidden cell is narrower than privacy.protection_width (commute.split_mask); the
totals keep the state decided above. Then jobs_housing's employed residents and
live_and_work as published (commute.jobs_housing_counts), commute and commute_od as
exported (no hidden pair listed) are audited as one system (privacy.joint_audit: gate by
default): a cell narrower than the width there gets published commute_od pairs of two
units hidden in the relations that bind it (commute.joint_repair), else the gate fails.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import commute, expansion, population, privacy, privacy_audit
from mobsig.geo import next_month, unit_polygons
from mobsig.io.exports import export_month
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta tables are written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, key, cc, pv = ctx.cfg, ctx.part.month_key, ctx.cfg.commute, ctx.cfg.privacy
    places = ctx.keep(ctx.read("card_places", month=key))
    ctx.note_input("card_places", places.count())
    ctx.require(ctx.result.input_rows["card_places"] > 0,
                "no card_places rows; run place_cards first")
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    ctx.note_input("expansion_factors", factors.count())
    ctx.require(ctx.result.input_rows["expansion_factors"] > 0,
                "no expansion_factors; run expand first")
    age = None
    if cfg.expansion.rake_ages:  # the bands expand raked must be the configured ones
        age = ctx.keep(ctx.read("expansion_factors_age", month=key))
        have = {r[C.AGE_BAND] for r in age.select(C.AGE_BAND).distinct().collect()}
        problem = expansion.age_bands_problem(have, cfg.expansion.age_bands)
        ctx.require(not problem, problem)
    units = ctx.keep(unit_polygons(ctx.read("units")))
    days = ctx.part.month_days + [next_month(ctx.month)]
    t = commute.month_tables(places, factors, age, units, ctx.read("moves", dt=days),
                             ctx.read("events_clean", dt=days), ctx.month,
                             cfg.population.grid_h3_resolution, cc, keep=ctx.keep)
    counts = ctx.keep(t.counts)
    facts = t.table.agg(F.count(F.lit(1)).alias("n"), F.sum(commute.N_TRIPS).alias("trips"),
                        F.count(commute.TIME_S).alias("timed")).first()
    ctx.fact("commuters", int(facts["n"]))
    ctx.fact("trips", int(facts["trips"] or 0))
    ctx.fact("untimed_commuters", int(facts["n"]) - int(facts["timed"]))
    population.gate_levels(ctx, counts, "commute_levels", "commute",
                           cfg.population.max_level_gap, classes=commute.TOTALS, by=C.MEASURE)
    jh_counts = None if pv.joint_audit == "off" else commute.jobs_housing_counts(counts, t.od)
    out, od = commute.publish_all(counts, t.stats, t.od, pv.k_min, pv.complementary,
                                  pv.suppress_zeros, pv.width,
                                  privacy_audit.gate_for(ctx, "commute"), ctx.keep,
                                  jobs_housing=ctx.read("jobs_housing", month=key),
                                  detach=ctx.detach, jobs_housing_counts=jh_counts,
                                  joint=pv.joint_audit)
    if ctx.options.get("export", True):
        for name in ("commute", "commute_od"):
            ctx.after_write(lambda name=name: ctx.note_output(
                f"exports/{name}.csv", export_month(ctx.catalog, name, key, units)))
    small = {"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)}
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "commute", params=small),
            Output(od.withColumn(C.MONTH, F.lit(key)),
                   "commute_od", params=small)]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["commute", *sys.argv[1:]]))
