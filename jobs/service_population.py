"""Service population and catchments 服务人口与服务范围 of zones for a month: for each
polygon of a chosen unit layer (a zone: a transport hub, a park, a CBD, a heritage area;
any polygon layer of paths.units, e.g. ``--zones facility``), the cards that spend at
least service_population.min_stay_min (30) minutes inside on a day, per day and distinct
over the month, split into residents of the zone (resident cards whose home is inside),
workers (work place inside) and visitors (everyone else); and the catchment: where the
visitors live (by unit of service_population.home_levels, default county and township,
and the H3 grid of population.grid_h3_resolution) and the radius around the zone within
which service_population.catchment_quantile (80 %) of them live. Raw 原样数量 and expanded
扩样数量 counts (each card weighted by its home county's expansion factor, as in
population_by_unit).

Reads the month's stays, ``card_places`` (run place_cards), ``expansion_factors`` (run
expand) and the ``units`` table (run ingest_units). The zone layers come from ``--zones
LAYER[,LAYER]``, else from service_population.zones (the chains ``mobsig run monthly|all``
use the config); a name that is not a layer of paths.units fails before Spark starts when
the layers' levels can be read without it (GeoJSON, TopoJSON, or a mapping's ``level``),
else once the units table is read. Without any zone layer the job writes nothing.
Before anything is written, totals must agree (gate service_population_totals: total =
residents + workers + visitors, each catchment level adds up to the zone's visitors, no
day above the month). Every count is suppressed below privacy.k_min with complementary
suppression (also across the catchment's levels and against the zone's visitor count),
then the three tables are audited together (mobsig.privacy_audit: role identities, each
day at most the month, the catchment against the zone's visitors): more cells are hidden
until no suppressed cell can be narrowed below privacy.protection_width, else the run
fails (gate privacy_audit).
Replaces the month's partitions of the zone layers in ``service_population`` (per zone),
``service_population_daily`` (per zone and day) and ``service_catchment`` (per zone and
home unit), and writes their GeoParquet and CSV exports under
``<warehouse>/exports/month=YYYY-MM/``.
"""

from __future__ import annotations

from mobsig import columns as C
from mobsig import expansion, privacy, privacy_audit
from mobsig import service_population as sp
from mobsig.geo import next_month, unit_polygons
from mobsig.io.exports import export_month
from mobsig.io.units import check_levels
from mobsig.runner import JobContext, Output

EXPORTS = ("service_population", "service_population_daily", "service_catchment")


def add_arguments(p) -> None:
    p.add_argument("--zones", metavar="LAYER[,LAYER]",
                   help="zone layers (levels of the units table, e.g. facility, park); "
                        "default: service_population.zones")
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta tables are written)")


def options(args) -> dict:
    return {"export": not args.no_export_files, "zones": args.zones}


def validate(cfg, options: dict) -> None:
    s = cfg.service_population.with_zones(options.get("zones"))
    check_levels(cfg.unit_layers(), [*s.zones, *s.home_levels], "service_population")


def build(ctx: JobContext) -> list[Output]:
    cfg, key, pv = ctx.cfg, ctx.part.month_key, ctx.cfg.privacy
    s = cfg.service_population.with_zones(ctx.options.get("zones"))
    ctx.fact("zones", ",".join(s.zones) or "none")
    if not s.zones:  # nothing to measure: the chain runs on without zone layers
        ctx.log.warning("no zone layer (--zones, service_population.zones)")
        return []
    places = ctx.keep(ctx.read("card_places", month=key))
    factors = ctx.keep(ctx.read("expansion_factors", month=key))
    for name, df in (("card_places", places), ("expansion_factors", factors)):
        ctx.note_input(name, df.count())
        ctx.require(ctx.result.input_rows[name] > 0, f"no {name} rows; run it first")
    age = ctx.keep(expansion.checked_age_factors(ctx, ctx.read(
        "expansion_factors_age", month=ctx.part.month_key))) if cfg.expansion.rake_ages else None
    units = ctx.keep(unit_polygons(ctx.read("units")))
    ctx.require(not (lack := sp.missing_levels(units, [*s.zones, *s.home_levels])), lack)
    c = sp.service_counts(ctx.read("stays", dt=ctx.part.month_days + [next_month(ctx.month)]),
                          places, factors, age, units, list(s.zones), list(s.home_levels),
                          ctx.month, s.min_stay_min * 60, s.catchment_quantile,
                          cfg.population.grid_h3_resolution)
    c = sp.ServiceCounts(*(ctx.keep(f) for f in (c.visits, c.weights, c.monthly, c.daily,
                                                   c.catchment, c.radius, c.days)))
    ctx.check("service_population_totals", sp.totals_gaps(c), table="service_population")
    pub = sp.publish(c, pv.k_min, pv.complementary, pv.suppress_zeros, s.catchment_quantile,
                     key, pv.width, privacy_audit.gate_for(ctx, "service_population"))
    for t in EXPORTS if ctx.options.get("export", True) else ():
        ctx.after_write(lambda t=t: ctx.note_output(
            f"exports/{t}.csv", export_month(ctx.catalog, t, key, units)))
    params = {"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)}
    zones = {C.MONTH: key, C.LEVEL: list(s.zones)}
    return [Output(pub.monthly, "service_population", zones, params=params),
            Output(pub.daily, "service_population_daily", zones, params=params),
            Output(pub.catchment, "service_catchment",
                   {C.MONTH: key, C.ZONE_LEVEL: list(s.zones)}, params=params)]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["service_population", *sys.argv[1:]]))
