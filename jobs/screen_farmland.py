"""Screening of permanent basic farmland 永久基本农田 for non-agricultural occupation for a
month: per farmland polygon, the residents (resident cards whose home is inside) and
workers (cards whose work place is inside), raw 原样数量 and expanded 扩样数量, whether it
is occupied (at least screen.farmland_min_persons cards live or work inside), and from
the job's own earlier months the run of consecutive occupied months ending with this one,
the month it started, the first and last month seen; a suspect 疑似非农化占用 when the run
reaches screen.farmland_min_months (3). Evidence for a field check, never a verdict.

Reads the month's ``card_places`` (run place_cards), ``expansion_factors`` (run expand),
the polygons of screen.farmland_layers (default ``farmland``) in the ``units`` table and
the earlier months of ``screen_farmland`` itself (the 120 before this one, never this
one): run the months in order (a month without a row breaks a run; after re-running a
month, re-run the later ones: ``mobsig run screen_farmland --from-month A --to-month B``
or ``--downstream``). Residents and workers
are suppressed below privacy.k_min with complementary suppression among the polygons of a
layer; the flags and months are published without a count (a suspect may be named even
when its counts are withheld; the export manifest says so). Without a farmland layer in
the units table the job writes nothing. Replaces the month's partitions of
``screen_farmland`` and writes ``<warehouse>/exports/month=YYYY-MM/screen_farmland.parquet``
(GeoParquet with the polygon) and ``screen_farmland.csv`` (UTF-8 with BOM).
The release is then audited over every layer at once (mobsig.privacy_audit; gate
privacy_audit): further cells are hidden until no suppressed cell can be narrowed below
privacy.protection_width.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, farmland, privacy, privacy_audit
from mobsig.geo import unit_polygons
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
    units = ctx.keep(unit_polygons(ctx.read("units")))
    have = {r[C.LEVEL] for r in units.select(C.LEVEL).distinct().collect()}
    layers = [x for x in sc.farmland_layers if x in have]
    ctx.fact("layers", ",".join(layers) or "none")
    if not layers:  # nothing to screen: the chain runs on without a farmland layer
        ctx.log.warning("no farmland layer %s in the units table", list(sc.farmland_layers))
        return []
    places = ctx.keep(ctx.read("card_places", month=key))
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    for name, df in (("card_places", places), ("expansion_factors", factors)):
        ctx.note_input(name, df.count())
        ctx.require(ctx.result.input_rows[name] > 0, f"no {name} rows; run it first")
    age = ctx.keep(expansion.checked_age_factors(ctx, ctx.read(
        "expansion_factors_age", month=key))) if cfg.expansion.rake_ages else None
    zones = units.where(F.col(C.LEVEL).isin(layers))
    history = ctx.read_optional("screen_farmland", month=farmland.earlier_months(key))
    history = None if history is None else ctx.keep(history)
    counts = farmland.month_counts(farmland.members(places, zones),
                                   user_weights(places, factors, age), zones)
    out = ctx.keep(farmland.publish(counts, history, key, pv.k_min, pv.complementary,
                                    pv.suppress_zeros, sc.farmland_min_persons,
                                    sc.farmland_min_months, pv.width,
                                    privacy_audit.gate_for(ctx, "screen_farmland")))
    ctx.fact("suspects", out.where(F.col(farmland.IS_SUSPECT)).count())
    if ctx.options.get("export", True):
        ctx.after_write(lambda: ctx.note_output("exports/screen_farmland.csv", export_month(
            ctx.catalog, "screen_farmland", key, units)))
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "screen_farmland",
                   {C.MONTH: key, C.LEVEL: layers},
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["screen_farmland", *sys.argv[1:]]))
