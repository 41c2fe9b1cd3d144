"""Land-use intensity 土地利用强度 per polygon of the land-use layers for a month: night
residents per hectare on residential land 居住用地, daytime visitors per hectare on
commercial land 商业用地, employees per hectare on development zones and industrial parks
开发区/产业园区; raw 原样数量 and expanded 扩样数量 counts of all three on every polygon.

Reads the month's ``card_places`` (run place_cards), its stays, ``expansion_factors``
(run ``expand`` first) and the polygons of land_use.layers (default ``land_parcel``) in the
``units`` table; a polygon's class is its attribute land_use.class_attribute (default
``land_use``), else its layer name, mapped to a kind by land_use.residential_classes,
commercial_classes and industrial_classes. Per polygon: residents (resident cards whose
home is inside), workers (cards whose work place is inside), day visitors (cards whose
stays inside between land_use.day_start_hour and day_end_hour add up to
land_use.visit_min_min on a day, and who neither live nor work there); the area in hectares
on an equal-area projection of the CGCS2000 ellipsoid; ``<measure>_per_ha`` from the
expanded counts, and ``intensity_per_ha``, the density of the polygon's kind. Each card
counts with the expansion factor of its home county (with expansion.rake_ages: of its
county and age band). Every count is suppressed below privacy.k_min with complementary
suppression among the polygons of a layer; a density of a suppressed count is null (reason
suppressed). Without any of the layers in the units table the job writes nothing.
Replaces the month's partitions of ``land_use_intensity`` and writes
``<warehouse>/exports/month=YYYY-MM/land_use_intensity.parquet`` (GeoParquet with the
polygon) and ``land_use_intensity.csv`` (UTF-8 with BOM).
The release is then audited over every layer at once (mobsig.privacy_audit; gate
privacy_audit): further cells are hidden until no suppressed cell can be narrowed below
privacy.protection_width.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, land_use, privacy, privacy_audit
from mobsig.geo import next_month, unit_polygons
from mobsig.io.exports import export_month
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, key, lu, pv = ctx.cfg, ctx.part.month_key, ctx.cfg.land_use, ctx.cfg.privacy
    units = ctx.keep(ctx.read("units"))
    have = {r[C.LEVEL] for r in units.select(C.LEVEL).distinct().collect()}
    layers = tuple(x for x in lu.layers if x in have)
    ctx.fact("layers", ",".join(layers) or "none")
    if not layers:  # nothing to measure: the chain runs on without a land-use layer
        ctx.log.warning("no land-use layer %s in the units table", list(lu.layers))
        return []
    places = ctx.keep(ctx.read("card_places", month=key))
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    for name, df in (("card_places", places), ("expansion_factors", factors)):
        ctx.note_input(name, df.count())
        ctx.require(ctx.result.input_rows[name] > 0, f"no {name} rows; run it first")
    age = ctx.keep(expansion.checked_age_factors(ctx, ctx.read(
        "expansion_factors_age", month=key))) if cfg.expansion.rake_ages else None
    zones = ctx.keep(land_use.parcels(units, layers, lu.class_attribute,
                                      lu.residential_classes, lu.commercial_classes,
                                      lu.industrial_classes))
    stays = ctx.read("stays", dt=ctx.part.month_days + [next_month(ctx.month)])
    counts = land_use.counts_table(places, stays, factors, age, zones, ctx.month,
                                   lu.day_start_hour, lu.day_end_hour, lu.visit_min_min * 60)
    out = land_use.publish(counts, pv.k_min, pv.complementary, pv.suppress_zeros,
                           pv.width, privacy_audit.gate_for(ctx, "land_use_intensity"))
    if ctx.options.get("export", True):
        polygons = unit_polygons(units)
        ctx.after_write(lambda: ctx.note_output("exports/land_use_intensity.csv", export_month(
            ctx.catalog, "land_use_intensity", key, polygons)))
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "land_use_intensity",
                   {C.MONTH: key, C.LEVEL: list(layers)},
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["land_use_intensity", *sys.argv[1:]]))
