"""The pipeline spec (mobsig.pipeline) is the single source of the job family: every place
that lists jobs is generated from it or checked here, and the jobs read and write exactly
the tables it declares."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mobsig import pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_spec_is_consistent():
    pipeline.check()
    names = pipeline.job_names()
    assert names[:2] == ["ingest_units", "ingest_cells"]
    assert [j.name for j in pipeline.chain("all")] == names
    assert [j.name for j in pipeline.chain("daily")] + [
        j.name for j in pipeline.chain("monthly")] == names
    with pytest.raises(KeyError):
        pipeline.job("nope")
    # a day job that needs its month's outputs belongs to the monthly chain
    dp = pipeline.job("daily_presence")
    assert dp.kind == "day" and dp.after_month and dp.chain == "monthly"
    assert {"home_work", "stays"} <= set(dp.reads)


def test_every_job_has_a_module_and_nothing_else_is_a_job():
    files = {p.stem for p in (ROOT / "jobs").glob("*.py") if p.stem != "__init__"}
    assert files == set(pipeline.job_names())


def _job_calls(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Tables a job module reads (ctx.read / read_optional / exists with a literal name)
    and writes (the table argument of Output(...))."""
    reads, writes = set(), set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if isinstance(f, ast.Attribute) and f.attr in ("read", "read_optional", "exists") \
                and isinstance(f.value, ast.Name) and f.value.id == "ctx" and args:
            reads.add(args[0])
        if isinstance(f, ast.Name) and f.id == "Output" and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant):
            writes.add(node.args[1].value)
    return reads, writes


def code_lines(path: Path) -> int:
    """Lines of a job module without its docstring, blank lines, comments and the
    ``if __name__ == "__main__"`` entry point."""
    tree = ast.parse(path.read_text("utf-8"))
    body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))
            and not isinstance(n, ast.If)]
    lines = path.read_text("utf-8").splitlines()
    keep = set()
    for n in body:
        keep.update(range(n.lineno, n.end_lineno + 1))
    return sum(1 for i in keep if lines[i - 1].strip() and not lines[i - 1].strip()
               .startswith("#"))


MAX_JOB_LINES = 60


@pytest.mark.parametrize("name", pipeline.job_names())
def test_job_reads_and_writes_what_the_spec_declares(name):
    """Each job's code reads (ctx.read / read_optional / exists) exactly its spec's reads
    and returns outputs for exactly its writes (the runner enforces the same at run
    time); a job stays thin."""
    spec = pipeline.job(name)
    path = ROOT / "jobs" / f"{name}.py"
    reads, writes = _job_calls(ast.parse(path.read_text("utf-8")))
    assert reads == set(spec.reads), name
    assert writes == set(spec.writes), name
    assert code_lines(path) <= MAX_JOB_LINES, f"{name}: {code_lines(path)} lines of code"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _is_job(module: str) -> bool:
    """The jobs package or a module in it (not a lib module such as mobsig.jobs_housing)."""
    return module == "mobsig.jobs" or module.startswith("mobsig.jobs.")


def test_no_job_imports_a_job_and_lib_imports_no_job():
    for path in (ROOT / "jobs").glob("*.py"):
        bad = {m for m in _imports(path) if _is_job(m)}
        assert not bad, (path.name, bad)
    for path in (ROOT / "lib" / "mobsig").rglob("*.py"):
        bad = {m for m in _imports(path) if _is_job(m)}
        assert not bad, (path, bad)


def test_domain_modules_do_not_reach_storage_or_the_runner():
    """Transforms never import the I/O wing, the runner, the tools or the jobs."""
    domain = ["ingest", "cells", "clean", "stays", "flags", "residence", "population",
              "jobs_housing", "commute", "presence", "linkage", "trips", "periods",
              "expansion", "privacy", "geo", "coords", "columns"]
    for name in domain:
        mods = _imports(ROOT / "lib" / "mobsig" / f"{name}.py")
        bad = {m for m in mods if _is_job(m) or m.startswith(
            ("mobsig.io", "mobsig.runner", "mobsig.tools", "mobsig.session"))}
        assert not bad, (name, bad)


def test_command_line_submission_and_schedules_follow_the_spec():
    from mobsig import cli, submit

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(pipeline.job_names()) <= set(sub.choices)
    assert set(sub.choices) == set(pipeline.job_names()) | set(cli.TOOLS)
    assert submit.job_names() == pipeline.job_names()
    dags = (ROOT / "deploy" / "airflow" / "mobsig_dags.py").read_text("utf-8")
    tree = ast.parse(dags)
    consts = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name)
              and (t.id.endswith("_CHAIN") or t.id == "AFTER_MONTH")}
    assert consts["DAILY_CHAIN"] == [j.name for j in pipeline.chain("daily")]
    assert consts["MONTHLY_CHAIN"] == [j.name for j in pipeline.chain("monthly")]
    assert consts["AFTER_MONTH"] == [j.name for j in pipeline.PIPELINE if j.after_month]
    apps = {p.stem for p in (ROOT / "deploy" / "k8s" / "apps").glob("*.yaml")}
    assert apps == set(pipeline.job_names())
    import yaml

    resources = yaml.safe_load((ROOT / "deploy" / "resources.yaml").read_text("utf-8"))
    assert list(resources["jobs"]) == pipeline.job_names()


def test_run_plan_follows_the_spec_order():
    import argparse
    import datetime as dt

    from mobsig.tools.run import plan

    args = argparse.Namespace(job="all", date=None, date_from="2026-06-29",
                              date_to="2026-07-01", region=[], month=None, month_from=None,
                              month_to=None, fresh_start=True, no_export_files=False)
    steps = plan(args)
    names = [s[0] for s in steps]
    daily = [j.name for j in pipeline.chain("daily") if j.kind != "none"]
    month_jobs = [j.name for j in pipeline.chain("monthly") if j.kind == "month"]
    after = [j.name for j in pipeline.chain("monthly") if j.after_month]
    assert after == ["daily_presence", "exposure_hazards", "screen_reserves"]
    # a month's jobs, then its after-month day jobs for the days of the range in it (each
    # job for every day, in spec order)
    assert names == (["ingest_units", "ingest_cells"] + daily * 3
                     + month_jobs + [a for a in after for _ in range(2)] + month_jobs + after)
    assert [s[1].label for s in steps if s[0] == "daily_presence"] == [
        "dt=2026-06-29", "dt=2026-06-30", "dt=2026-07-01"]
    assert [s[1].label for s in steps if s[0] == "clean_stays"] == [
        "dt=2026-06-29", "dt=2026-06-30", "dt=2026-07-01"]
    assert [s[2] for s in steps if s[0] == "clean_stays"] == [{"fresh_start": True}, {}, {}]
    assert [s[1].month for s in steps if s[0] == "expand"] == [dt.date(2026, 6, 1),
                                                                dt.date(2026, 7, 1)]
    # a month run covers every day of the month; a day job of the monthly chain alone
    # runs its days, with no month job
    month = argparse.Namespace(**{**vars(args), "job": "monthly", "date_from": None,
                                  "date_to": None, "month": "2026-06"})
    days = [s[1].day for s in plan(month) if s[0] == "daily_presence"]
    assert days == [dt.date(2026, 6, 1) + dt.timedelta(days=i) for i in range(30)]
    one = argparse.Namespace(**{**vars(args), "job": "daily_presence"})
    assert [(s[0], s[1].label) for s in plan(one)] == [
        ("daily_presence", f"dt={d}") for d in ("2026-06-29", "2026-06-30", "2026-07-01")]
    assert [s[0] for s in plan(argparse.Namespace(**{**vars(args), "job": "daily"}))] == (
        ["ingest_units", "ingest_cells"] + daily * 3)


def test_architecture_doc_shows_the_current_table_graph():
    text = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    assert pipeline.graph_text() in text


def test_a_table_read_at_another_partition_is_not_written_last():
    """The runner writes last, one by one, only the outputs whose table the run read at
    the partition being replaced (runner.partitions_overlap): clean_stays reads the carry
    of D-1 and writes that of D, so its carry goes side by side with the other tables."""
    import datetime as dt

    from mobsig.runner import partitions_overlap

    d = dt.date(2026, 6, 10)
    assert not partitions_overlap({"dt": d - dt.timedelta(days=1)}, {"dt": d})
    assert partitions_overlap({"dt": d}, {"dt": d})
    assert partitions_overlap({"dt": "2026-06-10"}, {"dt": d})  # a date as text
    assert partitions_overlap({"dt": [d - dt.timedelta(days=1), d]}, {"dt": d})
    assert partitions_overlap({}, {"dt": d})  # the whole table
    assert partitions_overlap({"dt": None}, {"dt": d})
    assert partitions_overlap({"dt": d}, {"dt": d, "region": ["990101"]})  # every region
    assert not partitions_overlap({"dt": d, "region": ["990102"]},
                                  {"dt": d, "region": ["990101"]})
    assert not partitions_overlap({"month": ["2026-04", "2026-05"]}, {"month": "2026-06"})
    assert partitions_overlap({"month": "2026-06"}, {"month": "2026-06"})
    assert partitions_overlap({"dt": d}, {"month": "2026-06"})  # not comparable: overlap
    assert partitions_overlap({"month": "2026-06"}, {})  # a whole-table write
