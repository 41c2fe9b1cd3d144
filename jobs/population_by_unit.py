"""Population per spatial unit for a month: resident, short-term, actual service, employed
and daily present population, raw 原样数量 and expanded 扩样数量 counts.

Reads the month's ``card_places`` (run place_cards), ``expansion_factors`` (run
``expand`` first) and ``stays``, and every layer of the ``units`` table (counties,
townships, zones, ...) plus an H3 grid (population.grid_h3_resolution). Points (home,
longest night stay, work place, daily stays) are joined onto unit polygons with Sedona.
Each card counts with the expansion factor of its home county (with expansion.rake_ages:
of its county and age band, from ``expansion_factors_age``). Small counts are suppressed
(privacy.k_min, with complementary suppression across layers, the grid and the classes,
until the interval audit passes: mobsig.privacy_audit) before anything leaves: suppressed
rows keep ``is_suppressed = true`` and null counts. The audit solves, for every suppressed
cell, the least and greatest value an attacker can derive from every published count and
relation; a cell narrower than privacy.protection_width (default k_min) fails the run
before any write or export, naming the cells and their intervals (gate privacy_audit;
run facts privacy_cells_audited, privacy_min_width, privacy_complements_added).
A polygon unit with no cell site inside
(``cells`` valid in the month) is not observed: its counts are null with ``null_reason``
'no_coverage' (a warning and the run facts uncovered_units / uncovered_unit_ids name
them), never a measured 0. Before that, levels must add up: every
unit's count equals the sum over its child units (parent_id) within
population.max_level_gap, else the run fails naming the units (gate population_levels).
Replaces the month's partitions of ``population_by_unit`` (every level) and writes the
export files ``<warehouse>/exports/month=YYYY-MM/population_by_unit.parquet`` (GeoParquet
with the unit geometry) and ``population_by_unit.csv`` (UTF-8 with BOM).
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, population, privacy, privacy_audit
from mobsig.geo import next_month, unit_polygons
from mobsig.io.exports import export_population
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
    stays = ctx.read("stays", dt=ctx.part.month_days + [next_month(ctx.month)])
    table = ctx.keep(population.population_table(places, factors, age, units, stays,
                                                 ctx.month, cfg.population.grid_h3_resolution))
    population.gate_levels(ctx, table, "population_levels", "population_by_unit",
                           cfg.population.max_level_gap)
    pv = cfg.privacy
    suppressed, audit = population.suppress(
        table, pv.k_min, pv.complementary, pv.suppress_zeros,
        lambda t: privacy_audit.with_audited_suppression(
            t, pv.k_min, pv.width, pv.complementary, pv.suppress_zeros))
    privacy_audit.gate(ctx, audit, "population_by_unit")
    out = population.published_coverage(ctx, suppressed, units, ctx.read("cells"))
    if ctx.options.get("export", True):
        ctx.after_write(lambda: ctx.note_output(
            "exports/population_by_unit.csv", export_population(ctx.catalog, key, units)))
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "population_by_unit",
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["population_by_unit", *sys.argv[1:]]))
