"""Quality gates: the suites of ``expectations/`` checked on a table with one Spark aggregate,
their thresholds validated by Great Expectations on the one-row metrics frame.

A gate on a table (:func:`run_gate` with a DataFrame) works in three steps:

1. the schema's structure: the exact column set (from the frame's schema, no Spark job);
2. one aggregate over the frame: the row count and, for every row-level expectation of
   the suite and every NOT NULL column of the schema, the number of rows that break it
   (:data:`ROW_CHECKS` turns each supported expectation type into a condition; nulls are
   ignored as Great Expectations ignores them; uniqueness is a distinct count in the same
   aggregate);
3. Great Expectations (pandas engine) validates the numbers: one row per check (its
   unexpected count, or the row count, and the bounds it must lie in: ``mostly`` allows a
   share) in one frame, checked by four column-pair expectations (at least / above the
   lower bound, at most / below the upper) in one validation. GX's cost is per expectation
   (~50 ms of Python each), so a suite of 20 checks costs what one does; each check keeps
   the severity of the suite's expectation.

A failed check of severity ``critical`` raises ``DataQualityError`` whose message names the
expectation with its numbers and a few offending values (read by a second, small query
only when something failed); ``warning``/``info`` checks only log. Job-level metrics (a
dict: shares, counts, gaps) are validated the same way when they are bounds
(``expect_column_values_to_be_between`` on a number), other types one by one on the
one-row frame (:func:`run_gate` with a dict). The
result of every gate is kept as JSON under the quality folder.

Thresholds that come from the configuration are written in suites as
``{"$PARAMETER": "name"}`` and passed in ``params``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mobsig.errors import DataQualityError
from mobsig.localdata import local_frame
from mobsig.schema import TableSchema, load_schema, parse_type

log = logging.getLogger(__name__)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
SAMPLE = 5  # offending values shown per failed check


@dataclass
class GateResult:
    suite: str
    success: bool
    evaluated: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    result_path: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None  # content digest of the gated rows (``run_gate(digest=True)``)
    # every expectation checked, passed or not: type, kwargs (thresholds resolved),
    # severity, success and its numbers (the kept result; Data Docs render it)
    results: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"suite": self.suite, "success": self.success, "evaluated": self.evaluated,
                "failed": [f["text"] for f in self.failures],
                "warnings": [w["text"] for w in self.warnings],
                "result_path": self.result_path}


def suite_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("mobsig.expectations").iterdir()
                  if p.name.endswith(".json"))


def load_suite_dict(name: str) -> dict[str, Any]:
    """The suite file ``expectations/<name>.json`` as a dict (GE ExpectationSuite form)."""
    path = resources.files("mobsig.expectations").joinpath(f"{name}.json")
    try:
        d = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise DataQualityError(
            f"no suite expectations/{name}.json; known suites: {suite_names()}") from None
    if d.get("name") != name:
        raise DataQualityError(f"expectations/{name}.json: its name is {d.get('name')!r}")
    return d


def structural_expectations(schema: TableSchema) -> list[dict[str, Any]]:
    """Expectations implied by a table schema: the exact column set and NOT NULL columns."""
    exps: list[dict[str, Any]] = [{
        "type": "expect_table_columns_to_match_set",
        "kwargs": {"column_set": schema.names, "exact_match": True},
        "meta": {"from": f"schemas/{schema.name}.json"},
    }]
    for c in schema.columns:
        if not c.nullable:
            exps.append({"type": "expect_column_values_to_not_be_null",
                         "kwargs": {"column": c.name},
                         "meta": {"from": f"schemas/{schema.name}.json"}})
    return exps


# --------------------------------------------------------------------------------------
# row-level expectations as aggregate conditions


def _param(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        key = value["$PARAMETER"]
        if key not in params:
            raise DataQualityError(f"suite parameter {key!r} was not given")
        return params[key]
    return value


def _resolve(kwargs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {k: _param(v, params) for k, v in kwargs.items()}


def _between(value: Column, lo: Any, hi: Any, strict_lo: bool = False,
             strict_hi: bool = False) -> Column:
    """True where ``value`` (not null) lies outside [lo, hi] (None = open)."""
    bad = F.lit(False)
    if lo is not None:
        bad = bad | ((value <= F.lit(lo)) if strict_lo else (value < F.lit(lo)))
    if hi is not None:
        bad = bad | ((value >= F.lit(hi)) if strict_hi else (value > F.lit(hi)))
    return bad


@dataclass(frozen=True)
class RowCheck:
    """One row-level expectation as Spark columns: ``unexpected`` (true on a row that
    breaks it), ``considered`` (rows it applies to: non-null values), ``shown`` (the
    columns whose values illustrate a failure). A uniqueness check has ``distinct``
    instead: the number of rows beyond the first of each value is unexpected."""

    unexpected: Column | None
    considered: Column
    shown: list[str]
    distinct: Column | None = None


def _col(name: str) -> Column:
    return F.col(f"`{name}`")


def _values_between(k: dict) -> RowCheck:
    c = _col(k["column"])
    return RowCheck(c.isNotNull() & _between(c, k.get("min_value"), k.get("max_value"),
                                             bool(k.get("strict_min")),
                                             bool(k.get("strict_max"))),
                    c.isNotNull(), [k["column"]])


def _lengths_between(k: dict) -> RowCheck:
    c = _col(k["column"])
    return RowCheck(c.isNotNull() & _between(F.length(c), k.get("min_value"),
                                             k.get("max_value")), c.isNotNull(), [k["column"]])


def _lengths_equal(k: dict) -> RowCheck:
    c = _col(k["column"])
    return RowCheck(c.isNotNull() & (F.length(c) != F.lit(int(k["value"]))), c.isNotNull(),
                    [k["column"]])


def _in_set(k: dict) -> RowCheck:
    c = _col(k["column"])
    return RowCheck(c.isNotNull() & ~c.isin(list(k["value_set"])), c.isNotNull(),
                    [k["column"]])


def _not_in_set(k: dict) -> RowCheck:
    c = _col(k["column"])
    return RowCheck(c.isNotNull() & c.isin(list(k["value_set"])), c.isNotNull(),
                    [k["column"]])


def _regex(k: dict) -> RowCheck:
    c = _col(k["column"])
    return RowCheck(c.isNotNull() & ~c.rlike(k["regex"]), c.isNotNull(), [k["column"]])


def _not_null(k: dict) -> RowCheck:
    c = _col(k["column"])
    return RowCheck(c.isNull(), F.lit(True), [k["column"]])


def _pair_greater(k: dict) -> RowCheck:
    a, b = _col(k["column_A"]), _col(k["column_B"])
    ignore = k.get("ignore_row_if", "both_values_are_missing")
    skip = ((a.isNull() | b.isNull()) if ignore == "either_value_is_missing"
            else (a.isNull() & b.isNull()) if ignore == "both_values_are_missing"
            else F.lit(False))
    ok = (a >= b) if k.get("or_equal") else (a > b)
    return RowCheck(~skip & ~F.coalesce(ok, F.lit(False)), ~skip,
                    [k["column_A"], k["column_B"]])


def _unique(k: dict) -> RowCheck:
    c = _col(k["column"])
    cond = F.expr(k["row_condition"]) if k.get("row_condition") else F.lit(True)
    keep = c.isNotNull() & F.coalesce(cond, F.lit(False))
    return RowCheck(None, keep, [k["column"]], distinct=F.count_distinct(F.when(keep, c)))


def _compound_unique(k: dict) -> RowCheck:
    cols = list(k["column_list"])
    if k.get("ignore_row_if", "all_values_are_missing") == "never":
        keep = F.lit(True)
    elif k.get("ignore_row_if") == "any_value_is_missing":
        keep = ~functools.reduce(lambda x, y: x | y, [_col(c).isNull() for c in cols])
    else:
        keep = ~functools.reduce(lambda x, y: x & y, [_col(c).isNull() for c in cols])
    key = F.struct(*[_col(c) for c in cols])
    return RowCheck(None, keep, cols, distinct=F.count_distinct(F.when(keep, key)))


# the expectation types suites may use on tables, each as an aggregate condition
ROW_CHECKS: dict[str, Callable[[dict], RowCheck]] = {
    "expect_column_values_to_be_between": _values_between,
    "expect_column_value_lengths_to_be_between": _lengths_between,
    "expect_column_value_lengths_to_equal": _lengths_equal,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_not_be_in_set": _not_in_set,
    "expect_column_values_to_match_regex": _regex,
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_greater,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
}
TABLE_CHECKS = ("expect_table_row_count_to_be_between",)


def check_suite(suite: dict[str, Any]) -> None:
    """A suite whose expectations are all supported on tables (else DataQualityError)."""
    bad = [e["type"] for e in suite.get("expectations", [])
           if e["type"] not in ROW_CHECKS and e["type"] not in TABLE_CHECKS]
    if bad:
        raise DataQualityError(f"suite {suite.get('name')}: expectation types {bad} are not "
                               f"supported on tables (supported: {sorted(ROW_CHECKS)} and "
                               f"{list(TABLE_CHECKS)})")


# --------------------------------------------------------------------------------------
# Great Expectations on the metrics row


# the GX context is shared and not thread-safe (its metric cache mixes the batches of two
# validations at once): the runner gates a job's outputs side by side, so each validation
# holds the lock (its Spark aggregate, the slow part, runs before and outside it)
_GX_LOCK = threading.RLock()


@functools.cache
def _context():
    """The process's ephemeral GX context with one pandas data source for metrics rows,
    built once (each gate only hands it a one-row frame)."""
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - progress bars are cosmetic
        pass
    batch_def = (ctx.data_sources.add_pandas(name="mobsig_metrics")
                 .add_dataframe_asset(name="metrics")
                 .add_batch_definition_whole_dataframe("row"))
    return ctx, batch_def


def _gx_validate(row: dict[str, Any], name: str, expectations: list[dict[str, Any]],
                 params: dict[str, Any]) -> list[Any]:
    """Validate the one-row metrics frame ``row`` against ``expectations``; the results in
    the order of ``expectations`` (GX groups them by column)."""
    import pandas as pd
    from great_expectations.core.expectation_suite import ExpectationSuite

    if not expectations:
        return []
    tagged = [{**e, "meta": {**e.get("meta", {}), "_i": i}} for i, e in enumerate(expectations)]
    with _GX_LOCK:
        _, batch_def = _context()
        batch = batch_def.get_batch(batch_parameters={"dataframe": pd.DataFrame([row])})
        res = batch.validate(ExpectationSuite(name=name, expectations=tagged),
                             expectation_parameters=params, result_format="BASIC")
    by_index = {r.expectation_config.meta["_i"]: r for r in res.results}
    return [by_index[i] for i in range(len(expectations))]


BOUND_PAIRS = (("value", "lo", True), ("value", "lo_strict", False),
               ("hi", "value", True), ("hi_strict", "value", False))


@dataclass(frozen=True)
class Bound:
    """One numeric check: ``value`` must lie in [lo, hi] (None = open; ``strict_*``: the
    bound itself is outside). A None value is not checked (GX ignores nulls)."""

    value: float | int | None
    lo: float | int | None = None
    hi: float | int | None = None
    strict_lo: bool = False
    strict_hi: bool = False


def _gx_bounds(name: str, checks: list[Bound]) -> tuple[list[bool], str | None]:
    """GX validates every check as a row of one frame (value and its bounds) with the four
    expectations of :data:`BOUND_PAIRS` (a column-pair comparison each; rows where a
    bound does not apply hold NaN and are ignored). Whether each check passed, and the
    error text when GX could not evaluate an expectation (then every check fails)."""
    import pandas as pd
    from great_expectations.core.expectation_suite import ExpectationSuite

    if not checks:
        return [], None
    nan = float("nan")

    def num(v: Any) -> float:
        return nan if v is None else float(v)

    frame = pd.DataFrame([{
        "value": num(c.value),
        "lo": nan if c.strict_lo else num(c.lo), "lo_strict": num(c.lo) if c.strict_lo else nan,
        "hi": nan if c.strict_hi else num(c.hi), "hi_strict": num(c.hi) if c.strict_hi else nan,
    } for c in checks])
    exps = [{"type": "expect_column_pair_values_a_to_be_greater_than_b",
             "kwargs": {"column_A": a, "column_B": b, "or_equal": eq,
                        "ignore_row_if": "either_value_is_missing"}}
            for a, b, eq in BOUND_PAIRS]
    with _GX_LOCK:
        _, batch_def = _context()
        batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
        res = batch.validate(ExpectationSuite(name=name, expectations=exps),
                             result_format={"result_format": "COMPLETE"})
    bad: set[int] = set()
    for r in res.results:
        info = r.exception_info or {}
        if info.get("raised_exception"):
            return [False] * len(checks), str(info.get("exception_message"))
        if not r.success:
            bad.update(int(i) for i in (r.result or {}).get("unexpected_index_list") or [])
    return [i not in bad for i in range(len(checks))], None


def _bound_of(kind: str, kwargs: dict[str, Any], row: dict[str, Any]) -> Bound | None:
    """A metrics expectation as a :class:`Bound` (a between on a number); None otherwise."""
    if kind != "expect_column_values_to_be_between":
        return None
    value = row.get(kwargs.get("column"))
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
               for v in (value, lo, hi)):
        return None
    return Bound(value, lo, hi, bool(kwargs.get("strict_min")), bool(kwargs.get("strict_max")))


def _severity(e: dict[str, Any]) -> str:
    return str(e.get("severity", "critical")).split(".")[-1].lower()


def _call_text(kind: str, kwargs: dict[str, Any]) -> str:
    if "column_set" in kwargs:
        return f"{kind}(expected columns {', '.join(kwargs['column_set'])})"
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "column_list")
    if "column_list" in kwargs:
        args = f"column_list={list(kwargs['column_list'])!r}" + (f", {args}" if args else "")
    return f"{kind}({args})"


# suite parameters that are not a setting of the same name (or are derived from one)
DERIVED_SETTINGS = {
    "lon_min": "run.bbox_lon_min", "lon_max": "run.bbox_lon_max",
    "lat_min": "run.bbox_lat_min", "lat_max": "run.bbox_lat_max",
    "tau_s": "stays.tau_min", "max_gap_s": "stays.move_max_gap_h",
    "min_rows": "clean.max_removed_share", "min_human_share": "flags.max_non_human_share",
    "small_counts": "privacy.k_min, privacy.suppress_zeros",
    "day_start": "the day of the run", "day_end": "the day of the run",
}


@functools.cache
def setting_of(parameter: str) -> str | None:
    """The configuration key(s) behind a suite's ``{"$PARAMETER": name}``: the one setting
    of that name in any section, or :data:`DERIVED_SETTINGS`; None when unknown."""
    import dataclasses

    from mobsig.config import all_sections

    if parameter in DERIVED_SETTINGS:
        return DERIVED_SETTINGS[parameter]
    hits = [f"{sec}.{parameter}" for sec, cls in all_sections().items()
            if dataclasses.is_dataclass(cls)
            and parameter in {f.name for f in dataclasses.fields(cls)}]
    return hits[0] if len(hits) == 1 else None


def _settings_text(raw: dict[str, Any] | None) -> str:
    """`` (min_value from ingest.min_volume_ratio)`` for the thresholds of an expectation
    that come from the configuration; empty when none does."""
    named = []
    for k, v in (raw or {}).items():
        if isinstance(v, dict) and "$PARAMETER" in v:
            key = setting_of(v["$PARAMETER"])
            named.append(f"{k} from {key or v['$PARAMETER']}")
    return f" ({'; '.join(named)})" if named else ""


def _item(kind: str, kwargs: dict[str, Any], severity: str, detail: str,
          raw: dict[str, Any] | None = None, **numbers: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "severity": severity,
            "observed_value": numbers.get("observed_value"),
            "unexpected_count": numbers.get("unexpected_count"),
            "unexpected_percent": numbers.get("unexpected_percent"),
            "element_count": numbers.get("element_count"),
            "sample": numbers.get("sample", []),
            "text": f"{_call_text(kind, kwargs)}: {detail}{_settings_text(raw)}"}


def _outcome(kind: str, kwargs: dict[str, Any], severity: str, success: bool,
             **numbers: Any) -> dict[str, Any]:
    """One expectation's outcome as kept: what was expected and what was observed."""
    return {"type": kind, "kwargs": kwargs, "severity": severity, "success": bool(success),
            "result": {k: _json_value(v) for k, v in numbers.items() if v is not None}}


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


# --------------------------------------------------------------------------------------
# gates


def run_gate(
    df: DataFrame | dict[str, Any],
    suite: str | None,
    *,
    params: dict[str, Any] | None = None,
    schema: str | None = None,
    results_dir: str | Path | None = None,
    label: str = "",
    known: dict[str, int] | None = None,
    digest: bool = False,
) -> GateResult:
    """Gate ``df`` with ``expectations/<suite>.json`` (``suite`` None: structure only).

    ``df`` is a table (a DataFrame; ``schema`` names the table whose schema adds the
    structural checks, default the suite's ``meta.table``) or job-level metrics (a dict,
    validated as a one-row frame). ``label`` (e.g. ``dt=2026-06-01``) names the kept
    result file. ``known``: unexpected-row counts by expectation type that the caller
    counted itself (e.g. duplicates found in its own sorted pass); those checks are taken
    from it instead of the aggregate. ``digest``: also compute the rows' content digest
    (:func:`content_digest`, in the same aggregate) into ``GateResult.digest``. Raises
    DataQualityError naming every failed critical check.
    """
    params = dict(params or {})
    d = load_suite_dict(suite) if suite else {"name": schema, "meta": {}, "expectations": []}
    name = suite or f"{schema}-structure"
    if isinstance(df, dict):
        out = _metrics_gate(df, name, d["expectations"], params)
    else:
        table = schema or d.get("meta", {}).get("table")
        out = _table_gate(df, name, d["expectations"],
                          load_schema(table) if table else None, params, known or {}, digest)
    if results_dir:
        out.result_path = _keep(out, Path(results_dir), name, label, params)
    for w in out.warnings:
        log.warning("gate %s warning: %s", name, w["text"])
    if out.failures:
        message = (f"quality gate '{name}'{' ' + label if label else ''} failed: "
                   f"{len(out.failures)} of {out.evaluated} expectations "
                   f"({failed_names(out.failures)})\n"
                   + "\n".join(f"  - {f['text']}" for f in out.failures))
        if out.result_path:
            message += f"\n  (validation result kept at {out.result_path})"
        raise DataQualityError(message, out.summary())
    log.info("gate %s passed (%d expectations%s)", name, out.evaluated,
             f", {len(out.warnings)} warnings" if out.warnings else "")
    return out


def failed_names(failures: list[dict[str, Any]]) -> str:
    """The failed expectations in short, for the first line of a gate error: each type
    with the column(s) it checks, e.g. ``expect_column_values_to_be_between on level_gap``."""
    out = []
    for f in failures:
        kw = f.get("kwargs") or {}
        cols = kw.get("column") or kw.get("column_list") or kw.get("column_set")
        if isinstance(cols, (list, tuple)):
            cols = ", ".join(map(str, cols))
        out.append(f"{f['type']} on {cols}" if cols else str(f["type"]))
    return "; ".join(out)


def _metrics_gate(metrics: dict[str, Any], name: str, expectations: list[dict[str, Any]],
                  params: dict[str, Any]) -> GateResult:
    """Job-level metrics (one row) validated by GX as the suite states them: the bounds
    together (:func:`_gx_bounds`), any other expectation type on the one-row frame."""
    row = {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
           for k, v in metrics.items()}
    resolved = [_resolve(e["kwargs"], params) for e in expectations]
    bounds = [_bound_of(e["type"], k, row) for e, k in zip(expectations, resolved, strict=True)]
    ok, error = _gx_bounds(name, [b for b in bounds if b is not None])
    others = [e for e, b in zip(expectations, bounds, strict=True) if b is None]
    rest = iter(_gx_validate(row, name, others, params))
    passed = iter(ok)
    out = GateResult(suite=name, success=True, evaluated=len(expectations),
                     metrics={k: _json_value(v) for k, v in row.items()})
    for e, kwargs, b in zip(expectations, resolved, bounds, strict=True):
        observed = row.get(kwargs.get("column"))
        if b is not None:
            success, exc = next(passed), error
        else:
            r = next(rest)
            info = r.exception_info or {}
            success = r.success
            exc = info.get("exception_message") if info.get("raised_exception") else None
        out.results.append(_outcome(e["type"], kwargs, _severity(e), success,
                                    observed_value=observed))
        if success:
            continue
        detail = f"could not be evaluated: {exc}" if exc else f"observed {observed!r}"
        item = _item(e["type"], kwargs, _severity(e), detail, e["kwargs"],
                     observed_value=observed)
        (out.failures if item["severity"] == "critical" else out.warnings).append(item)
    out.success = not out.failures
    return out


def _table_gate(df: DataFrame, name: str, expectations: list[dict[str, Any]],
                schema: TableSchema | None, params: dict[str, Any],
                known: dict[str, int], digest: bool = False) -> GateResult:
    """Structure, then every check in one aggregate, then GX on the metrics row."""
    out = GateResult(suite=name, success=True, evaluated=0)
    exps = list(expectations)
    if schema is not None:
        structure = structural_expectations(schema)
        out.evaluated += 1
        if set(df.columns) != set(schema.names):
            out.failures.append(_item(
                structure[0]["type"], structure[0]["kwargs"], "critical",
                f"observed {sorted(df.columns)!r}", observed_value=sorted(df.columns)))
            out.results.append(_outcome(structure[0]["type"], structure[0]["kwargs"],
                                        "critical", False, observed_value=sorted(df.columns)))
            out.success = False
            return out  # a frame of the wrong shape is not worth validating
        exps = structure[1:] + exps
        out.results.append(_outcome(structure[0]["type"], structure[0]["kwargs"], "critical",
                                    True, observed_value=sorted(df.columns)))
    check_suite({"name": name, "expectations": exps})
    resolved = [(e, _resolve(e["kwargs"], params)) for e in exps]
    checks: list[tuple[dict, dict, RowCheck | None]] = [
        (e, k, ROW_CHECKS[e["type"]](k) if e["type"] in ROW_CHECKS else None)
        for e, k in resolved]
    aggs = [F.count(F.lit(1)).alias("n_rows")]
    for i, (e, _, c) in enumerate(checks):
        if c is None or e["type"] in known:
            continue
        aggs.append(F.sum(F.when(c.considered, 1).otherwise(0)).alias(f"c{i}_considered"))
        if c.distinct is not None:
            aggs.append(c.distinct.alias(f"c{i}_distinct"))
        else:
            aggs.append(F.sum(F.when(c.unexpected, 1).otherwise(0)).alias(f"c{i}_unexpected"))
    if digest:
        aggs += _digest_aggs(df)
    got = df.agg(*aggs).first().asDict()
    n_rows = int(got["n_rows"])
    if digest:
        out.digest = _digest_of(got)
    row: dict[str, Any] = {"n_rows": n_rows}
    bounds: list[Bound] = []
    numbers: list[dict[str, Any]] = []
    for i, (e, k, c) in enumerate(checks):
        if c is None:  # a table-level expectation on the row count
            bounds.append(Bound(n_rows, k.get("min_value"), k.get("max_value")))
            numbers.append({"observed_value": n_rows})
            continue
        if e["type"] in known:  # counted by the caller over every row
            considered, unexpected = n_rows, int(known[e["type"]])
        else:
            considered = int(got[f"c{i}_considered"] or 0)
            unexpected = (considered - int(got[f"c{i}_distinct"] or 0)
                          if c.distinct is not None else int(got[f"c{i}_unexpected"] or 0))
        mostly = float(k.get("mostly", 1.0))
        allowed = math.floor((1.0 - mostly) * considered + 1e-9)
        row[f"c{i}_unexpected"] = unexpected
        bounds.append(Bound(unexpected, 0, allowed))
        numbers.append({"unexpected_count": unexpected, "element_count": n_rows,
                        "unexpected_percent": 100.0 * unexpected / considered
                        if considered else 0.0})
    passed, error = _gx_bounds(name, bounds)
    out.evaluated += len(checks)
    out.metrics = {k: _json_value(v) for k, v in row.items()}
    for (e, k, c), success, num in zip(checks, passed, numbers, strict=True):
        outcome = _outcome(e["type"], k, _severity(e), success, **num)
        out.results.append(outcome)
        if success:
            continue
        if error:
            detail = f"could not be evaluated: {error}"
        elif c is None:
            detail = f"observed {num['observed_value']!r} rows"
        else:
            sample = _sample(df, c)
            num["sample"] = sample
            outcome["result"]["partial_unexpected_list"] = [_json_value(v) for v in sample]
            detail = (f"{num['unexpected_count']} of {num['element_count']} rows unexpected "
                      f"({num['unexpected_percent']:.3g}%), e.g. {sample}")
        item = _item(e["type"], k, _severity(e), detail, e["kwargs"], **num)
        (out.failures if item["severity"] == "critical" else out.warnings).append(item)
    out.success = not out.failures
    return out


def _digest_aggs(df: DataFrame) -> list[Any]:
    """The aggregates of :func:`content_digest` (row order and partitioning do not matter:
    each row's hash over every column and its null mask, XORed and summed)."""
    cols = [F.col(f"`{c}`") for c in df.columns]
    mask = F.concat(*[F.when(c.isNull(), F.lit("1")).otherwise(F.lit("0")) for c in cols]) \
        if cols else F.lit("")
    h = F.xxhash64(mask, *cols)
    return [F.bit_xor(h).alias("_digest_xor"),
            F.sum(F.pmod(F.xxhash64(h, F.lit("mobsig")), F.lit(2**31 - 1))).alias("_digest_sum")]


def _digest_of(got: dict[str, Any]) -> str:
    xor = int(got["_digest_xor"] or 0) & 0xFFFFFFFFFFFFFFFF
    return f"{int(got['n_rows'])}:{xor:016x}:{int(got['_digest_sum'] or 0):x}"


def content_digest(df: DataFrame) -> str:
    """A digest of a frame's rows that is the same for the same rows in any order and any
    partitioning: ``rows:xor:sum`` over a 64-bit hash of every row (every column plus which
    of them are null). The runner records it for every table partition a run writes, so a
    re-run that wrote the same rows does not make its readers stale (mobsig.lineage)."""
    return _digest_of(df.agg(F.count(F.lit(1)).alias("n_rows"), *_digest_aggs(df))
                      .first().asDict())


def _sample(df: DataFrame, check: RowCheck) -> list[Any]:
    """A few offending values of a failed check (a second, small query)."""
    if check.distinct is not None:
        cols = [_col(c) for c in check.shown]
        dup = (df.where(check.considered).groupBy(*cols).count().where(F.col("count") > 1)
               .limit(SAMPLE).collect())
        return [r[0] if len(check.shown) == 1 else tuple(r[:-1]) for r in dup]
    rows = df.where(check.unexpected).select(*[_col(c) for c in check.shown]) \
        .limit(SAMPLE).collect()
    return [r[0] if len(check.shown) == 1 else tuple(r) for r in rows]


def _keep(out: GateResult, folder: Path, suite: str, label: str,
          params: dict[str, Any]) -> str:
    from mobsig.logs import current_context

    now = dt.datetime.now()
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", label) or "all"
    path = folder / suite / safe / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    run = current_context()
    doc = {"suite": suite, "label": label, "params": params, **out.summary(),
           "metrics": out.metrics, "details": out.failures + out.warnings,
           "kept_at": now.isoformat(), "job": run.get("job"), "run_id": run.get("run"),
           "results": out.results}
    path.write_text(json.dumps(doc, indent=2, default=str, ensure_ascii=False), "utf-8")
    return str(path)


def metrics_frame(spark: Any, metrics: dict[str, float | int]) -> DataFrame:
    """A one-row DataFrame of job-level metrics (shares, counts) as doubles."""
    from pyspark.sql import types as T

    fields = [T.StructField(k, parse_type("double")) for k in metrics]
    return local_frame(spark, [tuple(float(v) for v in metrics.values())],
                       T.StructType(fields))
