"""Exposure at geological hazard points 地质灾害隐患点 for a day (domain.md §D): per point
of the layers screen.hazard_layers (default ``hazard_point``) and clock hour, the people
within the point's buffer (screen.hazard_buffer_m, default 500 m; a point's own value in
its attribute screen.hazard_buffer_attribute, default ``buffer_m``), split into
residents (home inside the buffer) and visitors (everyone else present), raw 原样数量
and expanded 扩样数量, with the day and night maxima (night from
screen.hazard_night_start_hour 21 to hazard_night_end_hour 7).

A card counts at a point in hour h when its stays within the buffer cover at least
screen.hazard_hour_min_minutes (30) of the hour; moves (trips between stays) never count;
a silent gap of at most screen.hazard_bridge_gap_h (12 h) between two stays within
screen.hazard_bridge_max_dist_m (1 km), the evening before included, counts as a stay at
the first one's place (a phone asleep at home at night; daily_presence's rule).
Reads the stays overlapping the day (those of the day and the next, plus the runs still
open, from stays_carry; and the day before's), the month's home_work (non-human cards and
second cards of one person are left out), card_places (home points; each card weighs its
home county's expansion factor, as in daily_presence) and expansion_factors, and the
points of the units table. It runs after the monthly chain of the day's month (it needs the month's
home_work, like daily_presence). Every hourly count is suppressed below privacy.k_min raw
cards, with complementary suppression within the hour (exposed = residents + visitors);
a day or night maximum whose peak hour is hidden is hidden too. A point whose buffer
holds no cell of the day (site or service point: the cells table) is not observed: its
counts are null with null_reason no_coverage, never 0 (facts uncovered_points,
uncovered_point_ids). Replaces the day's
partitions of exposure_hazards and writes
<warehouse>/exports/dt=YYYY-MM-DD/exposure_hazards.parquet (GeoParquet, the point) and
.csv (UTF-8 with BOM). Without any hazard layer in the units table it writes nothing.
The hourly cells are then audited (mobsig.privacy_audit, exposed = residents + visitors
per point and hour; gate privacy_audit): further cells are hidden until no suppressed
cell can be narrowed below privacy.protection_width.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import hazards, presence, privacy, privacy_audit
from mobsig.geo import unit_polygons
from mobsig.io.exports import export_day
from mobsig.jobargs import month_key
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, day, sc, pv = ctx.cfg, ctx.day, ctx.cfg.screen, ctx.cfg.privacy
    month = month_key(day.replace(day=1))
    units = ctx.read("units")
    points, skipped = hazards.layer_points(units, sc.hazard_layers, sc.hazard_buffer_m,
                                           sc.hazard_buffer_attribute)
    if skipped:
        ctx.log.warning("hazard layers: %d feature(s) that are not points skipped: %s",
                        len(skipped), ", ".join(skipped[:10]))
    ctx.fact("hazard_points", len(points))
    ctx.fact("skipped_features", len(skipped))
    if points.empty:  # nothing to measure: the chain runs on without a hazard layer
        ctx.log.warning("no hazard point in the layers %s of the units table",
                        list(sc.hazard_layers))
        return []
    around = presence.stays_around(day)
    stays = presence.day_stays(
        ctx.read("stays", dt=around), ctx.read("stays_carry", dt=around[1:]), day,
        cfg.stays.tau_min, sc.hazard_bridge_gap_h, sc.hazard_bridge_max_dist_m)
    classes = ctx.keep(presence.card_classes(ctx.read("home_work", month=month)))
    factors = ctx.keep(ctx.read("expansion_factors", month=month))
    ctx.note_input("expansion_factors", factors.count())
    ctx.require(ctx.result.input_rows["expansion_factors"] > 0,
                f"no expansion_factors for {month}; run the monthly chain (expand) first")
    age = (ctx.read("expansion_factors_age", month=month) if cfg.expansion.rake_ages
           else None)
    places = ctx.keep(ctx.read("card_places", month=month))
    weights, default = presence.card_weights(places, factors, age)
    table = hazards.exposure_table(ctx.spark, stays, classes, hazards.home_points(places),
                                   weights, default, points, day, sc.hazard_hour_min_minutes)
    night = hazards.night_hours(sc.hazard_night_start_hour, sc.hazard_night_end_hour)
    gone = hazards.noted_uncovered(ctx, ctx.read("cells"), points, day)
    out = ctx.keep(hazards.mark_uncovered(hazards.publish(
        table, pv.k_min, pv.complementary, pv.suppress_zeros, night, pv.width,
        privacy_audit.gate_for(ctx, "exposure_hazards")), gone))
    peak = out.where((F.col(hazards.STATISTIC) == hazards.HOURLY)
                     & (F.col(C.MEASURE) == hazards.EXPOSED)).agg(
        F.max(C.RAW_COUNT), F.sum(F.col(C.IS_SUPPRESSED).cast("int"))).first()
    ctx.fact("max_hourly_exposed_published", int(peak[0] or 0))
    ctx.fact("suppressed_exposed_hours", int(peak[1] or 0))
    if ctx.options.get("export", True):
        geoms = unit_polygons(units)
        ctx.after_write(lambda: ctx.note_output(
            "exports/exposure_hazards.csv", export_day(ctx.catalog, "exposure_hazards", day,
                                                       geoms)))
    return [Output(out.withColumn(C.DT, F.lit(day)), "exposure_hazards",
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["exposure_hazards", *sys.argv[1:]]))
