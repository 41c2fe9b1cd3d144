"""Expansion 扩样 factors per county-level unit for a month.

factor = reference population (paths.reference_population: ``unit_id``, ``population``)
÷ identified sample residents whose home lies in the county (``card_places``: run
place_cards first). Writes the month's partition of ``expansion_factors`` (an export
table: no user ids). Gates, before anything is written: the coefficient of variation of
the factors must stay within expansion.max_dispersion, and every factor within
[expansion.factor_min, expansion.factor_max] (the error names the counties). A county
with a reference population but no identified sample resident takes its parent's factor
by default (expansion.no_sample = borrow_parent: the counties of the same parent_id with
sample residents, else all counties; named in a warning and in the run's fact
``borrowed_factors``); with expansion.no_sample = fail its factor is +inf and the month
fails the same way.

With expansion.rake_ages the job also writes ``expansion_factors_age``: factors per
county and age band (expansion.age_bands), raked by IPF to the county totals and the
census age shares (paths.reference_ages), from the age band each card is registered
with (``card_places.age_band``, from paths.subscribers 实名制). Residents without a
registered year keep the county factor; a band without sample residents in a county is
absorbed by the county's other bands (reported). Both tables are gated before either is
written; population_by_unit then weights each card by its county and band.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig import expansion as X
from mobsig.geo import unit_polygons
from mobsig.io.inputs import read_reference_ages, read_reference_population
from mobsig.localdata import local_frame
from mobsig.runner import JobContext, Output


def validate(cfg, options) -> None:
    X.check_raking_inputs(cfg)


def build(ctx: JobContext) -> list[Output]:
    cfg, e, key = ctx.cfg, ctx.cfg.expansion, ctx.part.month_key
    places = ctx.read("card_places", month=key)
    n_places = places.count()
    ctx.require(n_places > 0, "card_places has no rows for the month; run place_cards")
    ctx.note_input("card_places", n_places)
    counties = unit_polygons(ctx.read("units")).where(F.col(C.LEVEL) == C.COUNTY_LEVEL)
    reference = ctx.keep(read_reference_population(ctx.spark, cfg.path("reference_population")))
    homes = ctx.keep(X.resident_counties(places))
    samples = ctx.keep(X.count_residents(homes))
    unmatched = X.warn_unmatched(samples, reference, ctx.log)
    factors = ctx.keep(X.expansion_factors(samples, reference, counties, key))
    factors, rows, borrowed = X.borrow_for_unsampled(ctx.spark, factors, factors.collect(),
                                                     counties, ctx.log, e.no_sample)
    ctx.fact("borrowed_factors", borrowed)
    ctx.result.facts.update({**X.factor_summary(rows), "unmatched_counties": unmatched})
    ctx.check("expansion_dispersion", {"factor_cv": X.factor_cv([r[C.FACTOR] for r in rows])},
              table="expansion_factors", params={"max_dispersion": e.max_dispersion})
    bounds = {"factor_min": e.factor_min, "factor_max": e.factor_max}
    outputs = [Output(factors, "expansion_factors", params=bounds,
                      explain=X.factors_out_of_bounds(rows, e.factor_min, e.factor_max))]
    if e.rake_ages:
        outputs.append(raked(ctx, homes, reference, rows, bounds))
    return outputs


def raked(ctx: JobContext, homes, reference, rows, bounds) -> Output:
    """The ``expansion_factors_age`` output: residents per county and band raked to the
    census age shares (the summary goes into the run's facts)."""
    e = ctx.cfg.expansion
    bands = X.parse_age_bands(e.age_bands)
    labels = [b.label for b in bands]
    have = {r[0] for r in homes.select(C.AGE_BAND).distinct().collect()} - {None}
    ctx.require(have <= set(labels), f"card_places has the age bands {sorted(have)}, "
                f"expansion.age_bands is {labels}: re-run place_cards for the month")
    if not have:
        ctx.log.warning("no resident of card_places has an age band (place_cards without "
                        "paths.subscribers?): every resident keeps the county factor")
    shares = read_reference_ages(ctx.cfg.path("reference_ages"), e.ages_id_field, bands)
    fit = X.rake_month(homes, reference, shares, labels, e.rake_max_iter, e.rake_tolerance)
    summary = X.age_fit_summary(fit, labels)
    if summary["absorbed_cells"]:
        ctx.log.warning("age cells without sample residents, absorbed by the other cells of "
                        "their county and band: %s", "; ".join(summary["absorbed_cells"]))
    ctx.fact("age", summary)
    names = {r[C.UNIT_ID]: r[C.UNIT_NAME] for r in rows}
    df = local_frame(ctx.spark, X.age_factor_rows(fit, ctx.part.month_key),
                     ctx.catalog.schema("expansion_factors_age").struct)
    return Output(df, "expansion_factors_age",
                  params={**bounds, "age_bands": [*e.age_bands, X.UNKNOWN_BAND]},
                  explain=X.age_cells_out_of_bounds(fit, names, e.factor_min, e.factor_max))


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["expand", *sys.argv[1:]]))
