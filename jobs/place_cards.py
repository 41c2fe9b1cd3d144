"""Place every counted card of a month once: home, night and work points, the county of
its home and of its night place, and its age band (``card_places``).

Reads the month's ``home_work`` (counted cards only: human, the primary card of a
multi-card group), the county-level units of the ``units`` table (Sedona spatial join;
a point on a shared border goes to the smallest unit_id) and, when paths.subscribers is
set, the real-name registration 实名制 (birth year per card; age = month year - birth
year, banded by expansion.age_bands). expand counts residents per home county and band
from this table and population_by_unit weights each card by it, so neither repeats the
join. Replaces the month's partition of ``card_places``.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion, population
from mobsig.geo import unit_polygons
from mobsig.io.inputs import read_subscribers
from mobsig.runner import JobContext, Output, count_where


def validate(cfg, options) -> None:
    expansion.parse_age_bands(cfg.expansion.age_bands)


def build(ctx: JobContext) -> list[Output]:
    cfg = ctx.cfg
    hw = ctx.read("home_work", month=ctx.part.month_key)
    n_hw = hw.count()
    ctx.require(n_hw > 0, "home_work has no rows for the month; run home_work first")
    ctx.note_input("home_work", n_hw)
    counties = ctx.keep(unit_polygons(ctx.read("units"))
                        .where(F.col(C.LEVEL) == C.COUNTY_LEVEL))
    bands = None
    if cfg.paths.subscribers:
        subs = ctx.keep(read_subscribers(ctx.spark, cfg.path("subscribers")))
        ctx.note_input("subscribers", subs.count())
        bands = expansion.with_age_band(subs, expansion.parse_age_bands(
            cfg.expansion.age_bands), ctx.month.year)
    places = ctx.keep(population.card_places(hw, counties, bands, ctx.part.month_key))
    ctx.result.facts.update(count_where(
        places, cards=None, homes=F.col(C.HOME_LON).isNotNull(),
        homes_outside_counties=F.col(C.HOME_LON).isNotNull() & F.col(C.HOME_COUNTY).isNull(),
        with_age_band=F.col(C.AGE_BAND).isNotNull()))
    return [Output(places, "card_places", params={
        **cfg.run.bbox_params(), "age_bands": list(cfg.expansion.age_bands)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["place_cards", *sys.argv[1:]]))
