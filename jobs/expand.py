"""Expansion 扩样 factors per county-level unit for a month.

factor = reference population (paths.reference_population: ``unit_id``, ``population``)
÷ identified sample residents whose home lies in the county (Sedona spatial join of the
month's ``home_work`` homes onto the ``county`` units of paths.units). Writes the month's
partition of ``expansion_factors`` (an export table: no user ids). The gate fails when a
factor is outside [expansion.factor_min, expansion.factor_max] and names the counties; a
county with no sample resident has factor +inf and fails the same way.

With expansion.rake_ages the job also writes ``expansion_factors_age``: factors per
county and age band (expansion.age_bands), raked by IPF to the county totals and the
census age shares (paths.reference_ages), from the birth year each card is registered
with (paths.subscribers, 实名制). Residents without a registered year keep the county
factor; a band without sample residents in a county is absorbed by the county's other
bands (reported). Both tables are gated before either is written; population_by_unit
then weights each card by its county and band.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import sys
from typing import Any

from pyspark.sql import functions as F

from mobsig import expansion, population
from mobsig.catalog import Catalog
from mobsig.config import Config
from mobsig.errors import ConfigError, DataQualityError, InputError
from mobsig.jobargs import add_month_arguments, month_key, months
from mobsig.pipeline import Output, gate_all_then_write
from mobsig.quality import metrics_frame, run_gate
from mobsig.runs import note_gate, note_input, note_partition

NAME = "expand"
HELP = "expansion factors per county (reference population / sample residents)"
RECORDS_RUN = True

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_month_arguments(p)


def validate(args: argparse.Namespace, cfg: Config) -> None:
    months(args)
    cfg.require_inputs("units", "reference_population")
    if cfg.expansion.rake_ages:
        validate_raking(cfg)


def validate_raking(cfg: Config) -> None:
    """ConfigError unless raking can run: both inputs set and present, bands valid."""
    for key in ("subscribers", "reference_ages"):
        if not getattr(cfg.paths, key):
            raise ConfigError(f"expansion.rake_ages is on but paths.{key} is not set: raking "
                              "needs the birth year per card (paths.subscribers) and the "
                              "census age shares per county (paths.reference_ages)")
    cfg.require_inputs("subscribers", "reference_ages")
    expansion.parse_age_bands(cfg.expansion.age_bands)


def execute(spark, cfg: Config, month: dt.date) -> dict[str, Any]:
    """Build, gate and write the ``expansion_factors`` partition of ``month`` (and the
    ``expansion_factors_age`` partition when expansion.rake_ages is on)."""
    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    e = cfg.expansion
    if e.rake_ages:
        validate_raking(cfg)
    note_partition(f"month={key}")
    hw = catalog.read("home_work", month=key)
    n_hw = hw.count()
    note_input("home_work", n_hw)
    if n_hw == 0:
        raise InputError(f"expand {key}: home_work has no rows for the month; run home_work")
    cached: list = []  # every frame this run persists, released on success or failure
    try:
        rows, unmatched, age = _build_and_write(spark, cfg, month, catalog, hw, cached)
    finally:
        for df in cached:
            df.unpersist()
    finite = [r["factor"] for r in rows if math.isfinite(r["factor"])]
    mean = sum(finite) / len(finite) if finite else 0.0
    cv = (math.sqrt(sum((f - mean) ** 2 for f in finite) / len(finite)) / mean
          if finite and mean else 0.0)
    disp = run_gate(metrics_frame(spark, {"factor_cv": cv}), "expansion_dispersion",
                    params={"max_dispersion": e.max_dispersion},
                    results_dir=cfg.quality_dir, label=f"month={key}")
    note_gate({"table": "expansion_factors", **disp.summary()})
    result = {"month": key, "counties": len(rows),
              "sample_residents": sum(r["sample_residents"] for r in rows),
              "reference_population": sum(r["reference_population"] for r in rows),
              "factor_cv": round(cv, 4), "unmatched_counties": unmatched,
              "factors": {r["unit_id"]: round(r["factor"], 4) for r in rows}}
    if age is not None:
        result["age"] = age
    log.info("expand %s: %s", key, result)
    return result


def _build_and_write(spark, cfg: Config, month: dt.date, catalog: Catalog, hw,
                     cached: list) -> tuple[list, list[str], dict[str, Any] | None]:
    """Factors (and age factors) of the month, gated, then written; appends every frame
    it persists to ``cached``. Returns the county factor rows, the unmatched counties and
    the raking summary (None without raking)."""
    e = cfg.expansion
    key = month_key(month)
    units = population.read_units(spark, cfg.unit_layers())
    counties = units.where(F.col("level") == "county").cache()
    cached.append(counties)
    if counties.count() == 0:
        raise InputError("expand: no unit with level 'county' in paths.units")
    reference = expansion.read_reference_population(spark, cfg.path("reference_population"))
    homes = expansion.resident_counties(hw, counties).cache()
    samples = expansion.count_residents(homes).cache()
    cached += [homes, samples]
    unmatched = [r["unit_id"] for r in
                 expansion.unmatched_counties(samples, reference).collect()]
    if unmatched:
        log.warning("expand %s: counties with sample residents but no reference population "
                    "(their cards get the overall factor): %s", key, unmatched)
    factors = expansion.expansion_factors(samples, reference, counties, key).cache()
    cached.append(factors)
    rows = factors.collect()
    params = {"factor_min": e.factor_min, "factor_max": e.factor_max}
    bad = sorted(f"{r['unit_id']} ({r['unit_name'] or '?'}: {r['factor']:.3g} = "
                 f"{r['reference_population']} / {r['sample_residents']})"
                 for r in rows if not e.factor_min <= r["factor"] <= e.factor_max)
    outputs = [Output(factors, "expansion_factors", {"month": key},
                      suite="expansion_factors", params=params)]
    age: dict[str, Any] | None = None
    bad_age: list[str] = []
    if e.rake_ages:
        fit, age = _age_fit(spark, cfg, month, homes, reference)
        names = {r["unit_id"]: r["unit_name"] for r in rows}
        bad_age = sorted(
            f"{r.unit_id}/{r.age_band} ({names.get(r.unit_id) or '?'}: {r.factor:.3g} = "
            f"{r.fitted_population:.1f} / {r.sample_residents})"
            for r in fit.rows.itertuples(index=False)
            if math.isfinite(r.factor) and not e.factor_min <= r.factor <= e.factor_max)
        age_df = _age_frame(spark, fit, key)
        outputs.append(Output(age_df, "expansion_factors_age", {"month": key},
                              suite="expansion_factors_age",
                              params={**params, "age_bands": [*e.age_bands,
                                                              expansion.UNKNOWN_BAND]}))
    try:
        gate_all_then_write(catalog, outputs, results_dir=cfg.quality_dir,
                            label=f"month={key}")
    except DataQualityError as exc:
        bounds = f"[{e.factor_min}, {e.factor_max}]"
        text = str(exc)
        if bad:
            text += f"\n  counties with factors outside {bounds}: " + "; ".join(bad)
        if bad_age:
            text += (f"\n  county/age-band cells with factors outside {bounds}: "
                     + "; ".join(bad_age))
        if bad or bad_age:
            raise DataQualityError(text, exc.result) from None
        raise
    return rows, unmatched, age


def _age_fit(spark, cfg: Config, month: dt.date, homes, reference):
    """Rake the month's residents to the age margins: the fit and its summary."""
    e = cfg.expansion
    bands = expansion.parse_age_bands(e.age_bands)
    subs = expansion.read_subscribers(spark, cfg.path("subscribers"))
    note_input("subscribers", subs.count())
    user_bands = expansion.with_age_band(subs, bands, month.year)
    counts = expansion.sample_residents_by_band(homes, user_bands).toPandas()
    shares = expansion.read_reference_ages(cfg.path("reference_ages"), e.ages_id_field, bands)
    fit = expansion.age_factors(counts, reference.toPandas(), shares,
                                [b.label for b in bands], max_iter=e.rake_max_iter,
                                tol=e.rake_tolerance)
    key = month_key(month)
    absorbed = [f"{c}/{b} (target {t:.1f})" for c, b, t in fit.absorbed]
    if absorbed:
        log.warning("expand %s: age cells without sample residents, absorbed by the other "
                    "cells of their county and band: %s", key, "; ".join(absorbed))
    unknown = int(fit.rows.loc[fit.rows["age_band"] == expansion.UNKNOWN_BAND,
                               "sample_residents"].sum())
    factors: dict[str, dict[str, float]] = {}
    for r in fit.rows.itertuples(index=False):
        if math.isfinite(r.factor):
            factors.setdefault(r.unit_id, {})[r.age_band] = round(r.factor, 4)
    summary = {"bands": list(e.age_bands), "unknown_band_residents": unknown,
               "absorbed_cells": absorbed, "empty_bands": fit.empty_bands,
               "iterations": fit.iterations,
               "county_totals_only": fit.county_totals_only, "factors": factors}
    return fit, summary


def _age_frame(spark, fit, key: str):
    """The ``expansion_factors_age`` rows of the month (factor NaN -> null)."""
    from mobsig.schema import load_schema

    rows = [(r.unit_id, r.age_band, int(r.sample_residents), float(r.target_population),
             float(r.fitted_population), float(r.factor) if math.isfinite(r.factor) else None,
             key) for r in fit.rows.itertuples(index=False)]
    return spark.createDataFrame(rows, load_schema("expansion_factors_age").struct)


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import month_label, recorded

    for month in months(args):
        res = recorded(spark, cfg, NAME, month_label(month),
                       lambda month=month: execute(spark, cfg, month))
        print(f"expand {res['month']}: {res['counties']} counties, "
              f"{res['sample_residents']} sample residents for "
              f"{res['reference_population']} people (factor CV {res['factor_cv']})")
        if "age" in res:
            a = res["age"]
            print(f"  raked to age bands {', '.join(a['bands'])}: "
                  f"{a['unknown_band_residents']} residents without a birth year keep the "
                  f"county factor; {len(a['absorbed_cells'])} empty cells absorbed"
                  + (f" ({'; '.join(a['absorbed_cells'])})" if a["absorbed_cells"] else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
