"""Jobs-housing balance 职住平衡 and commuting 通勤 for a month, published as one release
(``jobs_housing``, ``commute``, ``commute_od``: the same counts, one audit deciding every
mask): per unit the employed residents, jobs and live-and-work with the jobs-housing
ratios; home→work origin-destination per unit pair and level, commute distance and time
per origin unit, and the commuting radius of each unit as a centre.

Reads the month's ``card_places`` (run place_cards), ``expansion_factors`` (run ``expand``
first), ``moves`` and ``events_clean`` (clean_stays, the month's days plus the first of
the next month), every layer of the ``units`` table plus the H3 grid of population_by_unit
(population.grid_h3_resolution) and the month's ``cells`` (units without a cell site are
not observed). jobs_housing is published first; its mask of employed residents and
live_and_work is the mask of the same counts in commute (commuters, the same-unit pairs
of commute_od). Commuters are jobs_housing's employed
residents: residents with a home and a work place. Per commuter: the straight-line
home→work distance (metres, geodesic on the CGCS2000 ellipsoid) and the commute time, the
median over the month of its observed home→work trips (moves from a stay within
commute.match_radius_m of the home to one within it of the work place, each timed from the
records seen en route by the range estimator span x (n + 1) / (n - 1), within the move's
duration); a commuter without any such trip is counted as untimed, never dropped.
Writes, beside jobs_housing (below), two export tables, raw 原样数量 and expanded 扩样数量
(each card weighted by its home county's expansion factor, as population_by_unit):

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
month's partitions of the three tables and writes, under
``<warehouse>/exports/month=YYYY-MM/``, ``jobs_housing.parquet`` / ``.csv``,
``commute.parquet`` / ``.csv`` (unit polygons) and ``commute_od.parquet`` / ``.csv``
(desire lines between the units' centres).
Both tables are then audited (mobsig.privacy_audit). Each OD matrix, with its row and
column totals public (not a partial line's: a unit of a layer that does not tile the
area, e.g. a facility, has commuters working or living outside every unit of it; its
pairs add up to at most its count, an inequality the joint audit keeps), is gated
(privacy_audit): complements, or the totals that pin a pair with nothing left to hide
withheld (the unit's inbound commuters hidden in
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
totals keep the state decided above (a hidden inbound total whose child units' are all
published gets one of theirs hidden too, and a second by the group rule). Then
jobs_housing's employed residents and live_and_work as published
(commute.jobs_housing_counts), commute and commute_od as exported (no hidden pair
listed) are audited as one system (privacy.joint_audit: gate by default): a cell
narrower than the width there gets published commute_od pairs of two
units hidden in the relations that bind it (commute.joint_repair), else the gate fails.
The same system with the relations between commute_od's levels (a county pair = the sum
of its township pairs) is gated too: where a published jobs_housing count binds a cell
narrower than the width there (no commute_od pair can widen it: a city's employed
residents of 27 capped a pair of two of its counties at 12 on the test city), that count
is held hidden in jobs_housing (its audited rule adds the complements) and the three
tables are published again (commute.publish_with_jobs_housing; run fact
privacy_cells_held). The release's final system as a reader has it is stored in the
internal table ``privacy_systems`` (true counts: never exported), for linkage's joint
audit.

``jobs_housing`` (the first table of the release), raw and expanded counts per unit:
employed residents
(residents whose home is in the unit and who have a work place), jobs (counted cards
whose work place is in the unit, population_by_unit's employed), live_and_work (employed
residents who also work in the unit), jobs_housing_ratio = jobs / employed residents,
self_containment = live_and_work / employed residents, self_sufficiency = live_and_work
/ jobs (on expanded counts), and is_balanced when jobs_housing.balanced_min <= ratio <=
jobs_housing.balanced_max (default 0.8-1.2). Each card counts with the expansion factor
of its home county (with expansion.rake_ages: of its county and age band). Before
anything is written, employed residents and jobs must add up from child units to their
parent within population.max_level_gap (gate jobs_housing_levels). Every count is
suppressed below privacy.k_min with complementary suppression (jobs,
population_by_unit's employed cells, with its audited rule and the interval audit as a
gate, privacy_audit: the same mask); a ratio computed from a suppressed count is null
with ``<ratio>_null_reason`` = suppressed, and a ratio without a denominator (nobody
employed lives, or works, in the unit) is null with reason no_employed_residents /
no_jobs, never a measured 0. A polygon unit with no cell site inside (``cells`` valid in
the month) is not observed: its counts and ratios are null with ``null_reason`` (and
each ``<ratio>_null_reason``) = no_coverage (a warning and the run facts uncovered_units
/ uncovered_unit_ids name them), never a measured 0. Replaces the month's partitions of
``jobs_housing`` and writes ``<warehouse>/exports/month=YYYY-MM/jobs_housing.parquet``
(GeoParquet with the unit geometry) and ``jobs_housing.csv`` (UTF-8 with BOM).
Employed residents and live_and_work get an audited rule too, gated (privacy_audit):
their group rule's mask, then complements until no hidden cell is narrower than
privacy.protection_width, with every layer (employed residents add up to their parent)
and, per unit, the out-commuters employed_residents - live_and_work as a hidden cell that
must be that wide unless 0 or at least privacy.k_min (with both counts published a
reader has it: 26 - 19 = 7 commuters, all to one unit, on the test city).
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import commute, expansion, jobs_housing, population, privacy, privacy_audit
from mobsig.geo import next_month, unit_polygons
from mobsig.io.exports import export_month
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta tables are written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, key, pv = ctx.cfg, ctx.part.month_key, ctx.cfg.privacy
    places = ctx.keep(ctx.read("card_places", month=key))
    ctx.note_input("card_places", places.count())
    ctx.require(ctx.result.input_rows["card_places"] > 0,
                "no card_places rows; run place_cards first")
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    ctx.note_input("expansion_factors", factors.count())
    ctx.require(ctx.result.input_rows["expansion_factors"] > 0,
                "no expansion_factors; run expand first")
    age = ctx.keep(expansion.checked_age_factors(ctx, ctx.read(
        "expansion_factors_age", month=key))) if cfg.expansion.rake_ages else None
    units = ctx.keep(unit_polygons(ctx.read("units")))
    res = cfg.population.grid_h3_resolution
    jh_counts = ctx.keep(jobs_housing.counts_table(places, factors, age, units, res))
    population.gate_levels(ctx, jh_counts, "jobs_housing_levels", "jobs_housing",
                           cfg.population.max_level_gap,
                           classes=jobs_housing.ADDITIVE_MEASURES, by=C.MEASURE)
    days = ctx.part.month_days + [next_month(ctx.month)]
    t = commute.month_tables(places, factors, age, units, ctx.read("moves", dt=days),
                             ctx.read("events_clean", dt=days), ctx.month, res,
                             cfg.commute, keep=ctx.keep)
    counts = ctx.keep(t.counts)
    facts = t.table.agg(F.count(F.lit(1)).alias("n"), F.sum(commute.N_TRIPS).alias("trips"),
                        F.count(commute.TIME_S).alias("timed")).first()
    ctx.fact("commuters", int(facts["n"]))
    ctx.fact("trips", int(facts["trips"] or 0))
    ctx.fact("untimed_commuters", int(facts["n"]) - int(facts["timed"]))
    population.gate_levels(ctx, counts, "commute_levels", "commute",
                           cfg.population.max_level_gap, classes=commute.TOTALS, by=C.MEASURE)
    jh, out, od, system = commute.publish_with_jobs_housing(
        jh_counts, counts, t.stats, t.od, pv, cfg.jobs_housing,
        population.noted_uncovered(ctx, units, ctx.read("cells")),
        privacy_audit.gate_for(ctx, "commute"), ctx.keep, ctx.detach)
    if ctx.options.get("export", True):
        for name in ("jobs_housing", "commute", "commute_od"):
            ctx.after_write(lambda name=name: ctx.note_output(
                f"exports/{name}.csv", export_month(ctx.catalog, name, key, units)))
    small = {"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)}
    return [Output(jh.withColumn(C.MONTH, F.lit(key)), "jobs_housing", params=small),
            Output(out.withColumn(C.MONTH, F.lit(key)), "commute", params=small),
            Output(od.withColumn(C.MONTH, F.lit(key)), "commute_od", params=small),
            Output(privacy_audit.system_frame(ctx.spark, "commute", system).withColumn(
                C.MONTH, F.lit(key)), "privacy_systems")]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["commute", *sys.argv[1:]]))
