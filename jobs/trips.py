"""Intra-city trips by period of the day 分时段出行 for a month: trips per origin-
destination pair of one unit level (trips.level) inside each city (trips.city_level),
per period (trips.periods: morning peak, evening peak, night; the rest of the day
trips.rest_period), raw 原样数量 and expanded 扩样数量.

Reads the month's ``moves``, ``card_places``, ``expansion_factors`` (with
expansion.rake_ages also ``expansion_factors_age``), ``units`` and the month's
``linkage`` (run linkage first: a pair whose monthly trips it withholds is withheld in
every period here, else the periods would add up to it). A move is a trip when its stays
are at least trips.min_trip_m (500 m) apart; it counts when both ends lie in units of
trips.level within one unit of trips.city_level (any two units of the level when that
layer is absent), the same unit included; its period is that of its departure (local
time). Only counted cards count, each weighted by the expansion factor of its home
county. Small counts are suppressed: a pair with any period below privacy.k_min
travellers is withheld in every period (a labelled breakdown), then complementary
suppression over the pairs, with each origin's and destination's totals per city and
period taken as public (privacy.with_od_bridge_suppression). Replaces the month's partition of
``trips_by_period`` and writes ``<warehouse>/exports/month=YYYY-MM/trips_by_period.parquet``
(GeoParquet, a line from origin to destination centroid) and ``trips_by_period.csv``
(UTF-8 with BOM).
Each period's matrix is then audited with its row and column totals public
(mobsig.privacy_audit.with_od_audit) and the audit gates the run (privacy_audit): a
hidden pair narrower than privacy.protection_width gets complements (in every period),
or, where nothing is left to hide, the period total that pins it is withheld
(``origin_total_withheld`` / ``dest_total_withheld``; run fact privacy_totals_withheld).
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, linkage, population, privacy, privacy_audit, trips
from mobsig.geo import unit_polygons
from mobsig.io.exports import export_month
from mobsig.periods import parse_periods
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, key = ctx.cfg, ctx.part.month_key
    tr, pv = cfg.trips, cfg.privacy
    periods = parse_periods(tr.periods, tr.rest_period)
    places = ctx.keep(ctx.read("card_places", month=key))
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    moves = ctx.keep(ctx.read("moves", dt=ctx.part.month_days))
    for name, frame in (("card_places", places), ("expansion_factors", factors),
                        ("moves", moves)):
        ctx.note_input(name, frame.count())
        ctx.require(ctx.result.input_rows[name] > 0, f"no {name} rows for the month")
    age = ctx.keep(ctx.read("expansion_factors_age", month=key)) if (
        cfg.expansion.rake_ages) else None
    ctx.require(not (p := expansion.age_factors_problem(age, cfg.expansion.age_bands)), p)
    units = ctx.keep(unit_polygons(ctx.read("units")))
    present = {r[0] for r in units.select(C.LEVEL).distinct().collect()}
    ctx.require(tr.level in present, f"trips.level {tr.level!r} is not a layer of the units "
                                     f"table (layers: {sorted(present)})")
    city_level = tr.city_level if tr.city_level in present else None
    ctx.fact("city_level", city_level or "-")
    weights = population.user_weights(places, factors, age)
    od = trips.with_period(trips.trip_units(linkage.move_points(moves, places, tr.min_trip_m),
                                            units, tr.level, city_level), periods)
    counts = linkage.trip_counts(od, weights, [C.CITY_ID, C.ORIGIN_ID, C.DEST_ID, C.PERIOD])
    long = trips.long_form(counts, tr.level, periods, ctx.read("linkage", month=key))
    out = trips.publish(long, pv.k_min, pv.complementary, pv.suppress_zeros, periods,
                        units, ctx.keep(linkage.days_with_moves(moves)), pv.width,
                        privacy_audit.gate_for(ctx, "trips_by_period"))
    if ctx.options.get("export", True):
        ctx.after_write(lambda: ctx.note_output(
            "exports/trips_by_period.csv",
            export_month(ctx.catalog, "trips_by_period", key, units)))
    params = {"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros),
              "periods": [p.name for p in periods]}
    return [Output(out.withColumn(C.MONTH, F.lit(key)), "trips_by_period", params=params)]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["trips", *sys.argv[1:]]))
