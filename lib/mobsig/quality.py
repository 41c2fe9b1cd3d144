"""Quality gates: Great Expectations suites from ``expectations/`` run on Spark DataFrames.

A gate validates one DataFrame against a suite plus the structural checks derived from
the table's schema (so the two cannot drift apart), keeps the validation result as JSON
under the quality folder, and

- on a failed check of severity ``critical`` raises ``DataQualityError`` whose message
  names each failed expectation with its observed values (nothing is written because
  gates run before writes);
- on failed ``warning``/``info`` expectations only logs them.

The structural checks (the exact column set, no null in a NOT NULL column) cost one
aggregate over the frame for every NOT NULL column together; Great Expectations runs the
suite's own, semantic expectations. One ephemeral GX context, data source and batch
definition serve every gate of the process.

Thresholds that come from the configuration are written in suites as
``{"$PARAMETER": "name"}`` and passed in ``params``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from mobsig.errors import DataQualityError
from mobsig.schema import TableSchema, load_schema, parse_type

log = logging.getLogger(__name__)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass
class GateResult:
    suite: str
    success: bool
    evaluated: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    result_path: str | None = None

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
    """Expectations implied by a table schema: the exact column set and NOT NULL columns
    (evaluated by :func:`structural_failures` in one aggregate, described in GX terms)."""
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


def _item(kind: str, kwargs: dict[str, Any], text: str, **observed: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "severity": "critical",
            "observed_value": observed.get("observed_value"),
            "unexpected_count": observed.get("unexpected_count"),
            "unexpected_percent": observed.get("unexpected_percent"),
            "element_count": observed.get("element_count"), "sample": [],
            "exception": None, "text": text}


def structural_failures(df: DataFrame, schema: TableSchema) -> tuple[int, list[dict]]:
    """Check :func:`structural_expectations` on ``df``: the column set from the frame's
    schema (no Spark job), then the null count of every NOT NULL column in one aggregate.
    Returns (checks evaluated, failures in the form of :func:`_describe`)."""
    from pyspark.sql import functions as F

    exps = structural_expectations(schema)
    failures = []
    names = schema.names
    if set(df.columns) != set(names):
        failures.append(_item(
            exps[0]["type"], exps[0]["kwargs"],
            f"{exps[0]['type']}(expected columns {', '.join(names)}): observed "
            f"{sorted(df.columns)!r}", observed_value=sorted(df.columns)))
        return len(exps), failures
    not_null = [e["kwargs"]["column"] for e in exps[1:]]
    if not_null:
        row = df.agg(F.count(F.lit(1)).alias("_n"),
                     *[F.count(F.col(f"`{c}`")).alias(f"_c{i}")
                       for i, c in enumerate(not_null)]).first()
        n = int(row["_n"])
        for i, c in enumerate(not_null):
            nulls = n - int(row[f"_c{i}"])
            if nulls:
                pct = 100.0 * nulls / n
                failures.append(_item(
                    "expect_column_values_to_not_be_null", {"column": c},
                    f"expect_column_values_to_not_be_null(column={c!r}): {nulls} of {n} "
                    f"rows unexpected ({pct:.3g}%)", unexpected_count=nulls,
                    unexpected_percent=pct, element_count=n))
    return len(exps), failures


def _describe(res: Any) -> dict[str, Any]:
    cfg = res.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
    r = res.result or {}
    info = res.exception_info or {}
    item: dict[str, Any] = {
        "type": cfg.type,
        "kwargs": kwargs,
        "severity": str(getattr(cfg, "severity", "critical")).split(".")[-1].lower(),
        "observed_value": r.get("observed_value"),
        "unexpected_count": r.get("unexpected_count"),
        "unexpected_percent": r.get("unexpected_percent"),
        "element_count": r.get("element_count"),
        "sample": (r.get("partial_unexpected_list") or [])[:5],
        "exception": info.get("exception_message") if info.get("raised_exception") else None,
    }
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()
                     if k not in ("column_set", "column_list"))
    if "column_set" in kwargs:
        args = "expected columns " + ", ".join(kwargs["column_set"])
    what = f"{cfg.type}({args})"
    if item["exception"]:
        detail = f"could not be evaluated: {item['exception']}"
    elif item["unexpected_count"] is not None:
        pct = item["unexpected_percent"]
        pct_text = f" ({pct:.3g}%)" if isinstance(pct, (int, float)) else ""
        detail = (f"{item['unexpected_count']} of {item['element_count']} rows unexpected"
                  f"{pct_text}, e.g. {item['sample']}")
    else:
        detail = f"observed {item['observed_value']!r}"
    item["text"] = f"{what}: {detail}"
    return item


@functools.cache
def _context():
    """The process's ephemeral GX context with one Spark data source and one whole-frame
    batch definition, built once (each later gate only hands it a DataFrame)."""
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - progress bars are cosmetic
        pass
    batch_def = (ctx.data_sources.add_spark(name="mobsig")
                 .add_dataframe_asset(name="frame")
                 .add_batch_definition_whole_dataframe("whole"))
    return ctx, batch_def


def run_gate(
    df: DataFrame,
    suite: str | None,
    *,
    params: dict[str, Any] | None = None,
    schema: str | None = None,
    results_dir: str | Path | None = None,
    label: str = "",
) -> GateResult:
    """Validate ``df`` against ``expectations/<suite>.json`` and the schema's structure.

    ``schema`` names the table whose schema adds the structural checks (default: the
    suite's ``meta.table`` if any); ``suite`` None checks the structure only. ``label``
    (e.g. ``dt=2026-06-01``) names the kept result file. Cache ``df`` first when it is
    expensive: each expectation is at least one Spark job.
    """
    from great_expectations.core.expectation_suite import ExpectationSuite

    d = load_suite_dict(suite) if suite else {"name": schema, "meta": {}, "expectations": []}
    name = suite or f"{schema}-structure"
    table = schema or d.get("meta", {}).get("table")
    evaluated, failures, warnings = 0, [], []
    if table:
        evaluated, failures = structural_failures(df, load_schema(table))
    res = None
    expectations = list(d.get("expectations", []))
    if expectations and not failures:  # a frame of the wrong shape is not worth validating
        _, batch_def = _context()
        was_cached = df.is_cached
        try:
            batch = batch_def.get_batch(batch_parameters={"dataframe": df})
            res = batch.validate(ExpectationSuite(name=name, expectations=expectations,
                                                  meta=d.get("meta", {})),
                                 expectation_parameters=params or {}, result_format="BASIC")
        finally:
            if not was_cached:  # GX persists the frames it validates: drop what it added
                df.unpersist()
        evaluated += len(res.results)
        for r in res.results:
            if r.success:
                continue
            item = _describe(r)
            (failures if item["severity"] == "critical" else warnings).append(item)
    out = GateResult(suite=name, success=not failures, evaluated=evaluated,
                     failures=failures, warnings=warnings)
    if results_dir:
        out.result_path = _keep(res, out, Path(results_dir), name, label, params)
    for w in warnings:
        log.warning("gate %s warning: %s", name, w["text"])
    if failures:
        message = (f"quality gate '{name}'{' ' + label if label else ''} failed: "
                   f"{len(failures)} of {out.evaluated} expectations\n"
                   + "\n".join(f"  - {f['text']}" for f in failures))
        if out.result_path:
            message += f"\n  (validation result kept at {out.result_path})"
        raise DataQualityError(message, out.summary())
    log.info("gate %s passed (%d expectations%s)", name, out.evaluated,
             f", {len(warnings)} warnings" if warnings else "")
    return out


def _keep(res: Any, out: GateResult, folder: Path, suite: str, label: str,
          params: dict[str, Any] | None) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", label) or "all"
    path = folder / suite / safe / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"suite": suite, "label": label, "params": params or {}, **out.summary(),
           "details": out.failures + out.warnings,
           "gx": res.describe_dict() if res is not None else None}
    path.write_text(json.dumps(doc, indent=2, default=str, ensure_ascii=False), "utf-8")
    return str(path)


def metrics_frame(spark: Any, metrics: dict[str, float | int]) -> DataFrame:
    """A one-row DataFrame of job-level metrics (shares, counts) for ratio gates."""
    from pyspark.sql import types as T

    fields = [T.StructField(k, parse_type("double")) for k in metrics]
    return spark.createDataFrame([tuple(float(v) for v in metrics.values())], T.StructType(fields))
