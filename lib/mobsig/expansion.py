"""Expansion 扩样 (domain.md §B3): per county-level unit, factor = official resident
population / identified sample residents.

- ``read_reference_population``: the reference CSV (``unit_id``, ``population``, optional
  ``year`` and other columns, UTF-8 with or without BOM), validated.
- ``sample_residents``: counted residents with a home, per county polygon (Sedona join,
  via mobsig.population.assign_units).
- ``expansion_factors``: one row per county of the reference table; a county with no
  sample resident gets factor +inf so the bounds gate fails naming it (never a silent
  division by zero); counties with sample residents but no reference row are returned
  separately by ``unmatched_counties`` so the job can report them.
- ``rake``: iterative proportional fitting of a cell table to row and column margins
  (numpy). Raking to age margins needs an age band per sample card; home_work has none
  (signaling data carries no age), so the job refuses ``expansion.rake_ages`` with a
  ConfigError. The census age shares (reference_ages) can still be applied to expanded
  county totals downstream, which assumes the sample is age-representative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mobsig.errors import InputError
from mobsig.population import assign_units


def read_reference_population(spark: SparkSession, path: str | Path) -> DataFrame:
    """``unit_id`` (string), ``population`` (bigint) from the reference CSV.

    Missing columns, non-numeric or negative populations and duplicate ids are an
    InputError naming the file and the rows.
    """
    import pandas as pd

    p = Path(path)
    try:
        pdf = pd.read_csv(p, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise InputError(f"reference population {str(p)!r}: cannot read CSV: {exc}") from None
    missing = [c for c in ("unit_id", "population") if c not in pdf.columns]
    if missing:
        raise InputError(f"reference population {str(p)!r}: missing columns {missing} "
                         f"(has {list(pdf.columns)})")
    pop = pd.to_numeric(pdf["population"], errors="coerce")
    bad = pdf[pop.isna() | (pop < 0) | pdf["unit_id"].isna()]
    if len(bad):
        raise InputError(f"reference population {str(p)!r}: bad rows "
                         f"{bad[['unit_id', 'population']].head(5).to_dict('records')}")
    dup = pdf["unit_id"][pdf["unit_id"].duplicated()].tolist()
    if dup:
        raise InputError(f"reference population {str(p)!r}: duplicate unit_id {dup[:5]}")
    rows = list(zip(pdf["unit_id"].str.strip(), pop.astype("int64").tolist(), strict=True))
    return spark.createDataFrame(rows, "unit_id string, population bigint")


def sample_residents(hw: DataFrame, counties: DataFrame) -> DataFrame:
    """``unit_id``, ``sample_residents``: counted residents with a home, per county.

    ``hw``: home_work rows; ``counties``: ``unit_id``, ``level``, ``geometry``.
    """
    res = hw.where(F.col("is_counted") & (F.col("pop_class") == "resident")
                   & F.col("home_lon").isNotNull())
    pts = res.select("user_id", F.col("home_lon").alias("lon"), F.col("home_lat").alias("lat"))
    return (assign_units(pts, counties, ["user_id"]).groupBy("unit_id")
            .agg(F.count("*").cast("bigint").alias("sample_residents")))


def expansion_factors(samples: DataFrame, reference: DataFrame, counties: DataFrame,
                      month_text: str) -> DataFrame:
    """One row per reference county: ``unit_id``, ``unit_name``, ``sample_residents``,
    ``reference_population``, ``factor`` (+inf when no sample resident), ``month``."""
    names = counties.select("unit_id", "unit_name").distinct()
    out = (reference.join(samples, "unit_id", how="left")
           .join(names, "unit_id", how="left"))
    n = F.coalesce("sample_residents", F.lit(0).cast("bigint"))
    return out.select(
        "unit_id", "unit_name", n.alias("sample_residents"),
        F.col("population").alias("reference_population"),
        F.when(n > 0, F.col("population") / n).otherwise(F.lit(float("inf")))
        .alias("factor"),
        F.lit(month_text).alias("month"))


def unmatched_counties(samples: DataFrame, reference: DataFrame) -> DataFrame:
    """Counties with sample residents but no reference population row."""
    return samples.join(reference, "unit_id", how="left_anti")


def rake(table: np.ndarray, row_margins: np.ndarray, col_margins: np.ndarray,
         max_iter: int = 50, tol: float = 1e-6) -> tuple[np.ndarray, int]:
    """Iterative proportional fitting: scale ``table`` (rows x cols, >= 0) until its row
    and column sums match the margins (which must have equal totals). Returns the fitted
    table and the iterations used; raises ValueError when it does not converge."""
    t = np.asarray(table, float).copy()
    r = np.asarray(row_margins, float)
    c = np.asarray(col_margins, float)
    if t.shape != (len(r), len(c)):
        raise ValueError(f"rake: table {t.shape} does not match margins ({len(r)}, {len(c)})")
    if not np.isclose(r.sum(), c.sum(), rtol=1e-9):
        raise ValueError(f"rake: margin totals differ ({r.sum()} vs {c.sum()})")
    for i in range(1, max_iter + 1):
        rs = t.sum(axis=1)
        t *= np.divide(r, rs, out=np.zeros_like(r), where=rs > 0)[:, None]
        cs = t.sum(axis=0)
        t *= np.divide(c, cs, out=np.zeros_like(c), where=cs > 0)[None, :]
        err = max(np.abs(t.sum(axis=1) - r).max(), np.abs(t.sum(axis=0) - c).max())
        if err <= tol * max(r.sum(), 1.0):
            return t, i
    raise ValueError(f"rake: no convergence in {max_iter} iterations (error {err:.3g})")
