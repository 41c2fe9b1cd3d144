"""Jobs-housing balance 职住平衡 per spatial unit for a month: employed residents, jobs, the
jobs-housing ratio 职住比, self-containment, self-sufficiency and a balanced flag, raw 原样数量
and expanded 扩样数量 counts.

Reads the month's ``card_places`` (run place_cards), ``expansion_factors`` (run
``expand`` first) and every layer of the ``units`` table plus the H3 grid of
population_by_unit (population.grid_h3_resolution). Per unit: employed residents
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
reader has it: 26 - 19 = 7 commuters, all to one unit, on the test city). commute reads
this table and hides the same cells (commuters, the same-unit pairs of commute_od).
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, jobs_housing, population, privacy, privacy_audit
from mobsig.geo import unit_polygons
from mobsig.io.exports import export_month
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, key = ctx.cfg, ctx.part.month_key
    places = ctx.keep(ctx.read("card_places", month=key))
    n_places = places.count()
    ctx.require(n_places > 0, "no card_places rows; run place_cards first")
    ctx.note_input("card_places", n_places)
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    ctx.note_input("expansion_factors", factors.count())
    ctx.require(ctx.result.input_rows["expansion_factors"] > 0,
                "no expansion_factors; run expand first")
    age = ctx.keep(expansion.checked_age_factors(ctx, ctx.read(
        "expansion_factors_age", month=ctx.part.month_key))) if cfg.expansion.rake_ages else None
    units = ctx.keep(unit_polygons(ctx.read("units")))
    counts = ctx.keep(jobs_housing.counts_table(places, factors, age, units,
                                                cfg.population.grid_h3_resolution))
    population.gate_levels(ctx, counts, "jobs_housing_levels", "jobs_housing",
                           cfg.population.max_level_gap,
                           classes=jobs_housing.ADDITIVE_MEASURES, by=C.MEASURE)
    pv, jh = cfg.privacy, cfg.jobs_housing
    out, audit = jobs_housing.publish_audited(
        counts, pv.k_min, pv.complementary, pv.suppress_zeros, jh.balanced_min,
        jh.balanced_max, uncovered=population.noted_uncovered(ctx, units, ctx.read("cells")),
        width=pv.width)
    privacy_audit.gate(ctx, audit, "jobs_housing")
    if ctx.options.get("export", True):
        ctx.after_write(lambda: ctx.note_output(
            "exports/jobs_housing.csv", export_month(ctx.catalog, "jobs_housing", key, units)))
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "jobs_housing",
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["jobs_housing", *sys.argv[1:]]))
