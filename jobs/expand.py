"""Expansion 扩样 factors per county-level unit for a month.

factor = reference population (paths.reference_population: ``unit_id``, ``population``)
÷ identified sample residents whose home lies in the county (Sedona spatial join of the
month's ``home_work`` homes onto the ``county`` units of paths.units). Writes the month's
partition of ``expansion_factors`` (an export table: no user ids). The gate fails when a
factor is outside [expansion.factor_min, expansion.factor_max] and names the counties; a
county with no sample resident has factor +inf and fails the same way. Raking to age
margins (expansion.rake_ages) needs an age band per card, which signaling data does not
carry, so it is refused before Spark starts.
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
from mobsig.pipeline import gate_and_write
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
        raise ConfigError(
            "expansion.rake_ages: raking needs an age band per sample card, and home_work "
            "has none (signaling data carries no age); set it to false. Census age shares "
            "(paths.reference_ages) can be applied to the expanded county totals instead.")


def execute(spark, cfg: Config, month: dt.date) -> dict[str, Any]:
    """Build, gate and write the ``expansion_factors`` partition of ``month``."""
    catalog = Catalog(spark, cfg.warehouse)
    key = month_key(month)
    note_partition(f"month={key}")
    hw = catalog.read("home_work", month=key)
    n_hw = hw.count()
    note_input("home_work", n_hw)
    if n_hw == 0:
        raise InputError(f"expand {key}: home_work has no rows for the month; run home_work")
    units = population.read_units(spark, cfg.unit_layers())
    counties = units.where(F.col("level") == "county").cache()
    if counties.count() == 0:
        raise InputError("expand: no unit with level 'county' in paths.units")
    reference = expansion.read_reference_population(spark, cfg.path("reference_population"))
    samples = expansion.sample_residents(hw, counties).cache()
    unmatched = [r["unit_id"] for r in
                 expansion.unmatched_counties(samples, reference).collect()]
    if unmatched:
        log.warning("expand %s: counties with sample residents but no reference population "
                    "(their cards get the overall factor): %s", key, unmatched)
    factors = expansion.expansion_factors(samples, reference, counties, key).cache()
    rows = factors.collect()
    e = cfg.expansion
    params = {"factor_min": e.factor_min, "factor_max": e.factor_max}
    bad = sorted(f"{r['unit_id']} ({r['unit_name'] or '?'}: {r['factor']:.3g} = "
                 f"{r['reference_population']} / {r['sample_residents']})"
                 for r in rows if not e.factor_min <= r["factor"] <= e.factor_max)
    try:
        gate_and_write(catalog, factors, "expansion_factors", {"month": key},
                       suite="expansion_factors", params=params,
                       results_dir=cfg.quality_dir, label=f"month={key}")
    except DataQualityError as exc:
        if bad:
            raise DataQualityError(
                f"{exc}\n  counties with factors outside [{e.factor_min}, {e.factor_max}]: "
                + "; ".join(bad), exc.result) from None
        raise
    finally:
        samples.unpersist()
        counties.unpersist()
    finite = [r["factor"] for r in rows if math.isfinite(r["factor"])]
    mean = sum(finite) / len(finite) if finite else 0.0
    cv = (math.sqrt(sum((f - mean) ** 2 for f in finite) / len(finite)) / mean
          if finite and mean else 0.0)
    disp = run_gate(metrics_frame(spark, {"factor_cv": cv}), "expansion_dispersion",
                    params={"max_dispersion": e.max_dispersion},
                    results_dir=cfg.quality_dir, label=f"month={key}")
    note_gate({"table": "expansion_factors", **disp.summary()})
    factors.unpersist()
    result = {"month": key, "counties": len(rows),
              "sample_residents": sum(r["sample_residents"] for r in rows),
              "reference_population": sum(r["reference_population"] for r in rows),
              "factor_cv": round(cv, 4), "unmatched_counties": unmatched,
              "factors": {r["unit_id"]: round(r["factor"], 4) for r in rows}}
    log.info("expand %s: %s", key, result)
    return result


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.runs import month_label, recorded

    for month in months(args):
        res = recorded(spark, cfg, NAME, month_label(month),
                       lambda month=month: execute(spark, cfg, month))
        print(f"expand {res['month']}: {res['counties']} counties, "
              f"{res['sample_residents']} sample residents for "
              f"{res['reference_population']} people (factor CV {res['factor_cv']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
