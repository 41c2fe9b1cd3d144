"""What ops staff see while a run goes (issue 16 item 5): ``--log-format json`` writes one
JSON object per line with the bound job/part/run; a run of several steps prints step i of n
with the elapsed time and an estimate of the rest; every job logs its stage boundaries."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from mobsig import cli
from mobsig.logs import fields, log_context, log_format, setup_logging
from mobsig.runner import Partition
from mobsig.tools import run as run_tool


@pytest.fixture
def json_logs():
    """JSON log lines for the test, text again afterwards."""
    before = logging.getLogger().level
    setup_logging("INFO", "json")
    yield
    setup_logging(logging.getLevelName(before), "text")


def _json_lines(err: str) -> list[dict]:
    lines = [x for x in err.splitlines() if x.strip()]
    return [json.loads(x) for x in lines]  # every line parses


def test_json_lines_parse_and_carry_the_bound_context(json_logs, capsys):
    log = logging.getLogger("mobsig.jobs.clean_stays")
    with log_context(job="clean_stays", part="dt=2026-06-02", run="r-1"):
        log.info("stage gate: %s passed, %d rows", "stays", 12,
                 extra=fields(stage="gate", table="stays", rows=12))
        try:
            raise ValueError("bad\nline")
        except ValueError:
            log.exception("it failed")
    log.warning("outside a run: no context")
    got = _json_lines(capsys.readouterr().err)
    assert len(got) == 3
    first, second, third = got
    assert {k: first[k] for k in ("level", "logger", "message", "job", "part", "run",
                                  "stage", "table", "rows")} == {
        "level": "INFO", "logger": "mobsig.jobs.clean_stays",
        "message": "stage gate: stays passed, 12 rows", "job": "clean_stays",
        "part": "dt=2026-06-02", "run": "r-1", "stage": "gate", "table": "stays", "rows": 12}
    assert first["time"][:4].isdigit() and "T" in first["time"]
    assert second["level"] == "ERROR" and "ValueError: bad" in second["exc"]
    assert second["run"] == "r-1"
    assert "job" not in third and third["level"] == "WARNING"


def test_text_format_unchanged(capsys):
    setup_logging("INFO", "text")
    with log_context(job="expand", part="month=2026-06", run="r-2"):
        logging.getLogger("mobsig.x").info("hello", extra=fields(stage="build"))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("INFO mobsig.x [job=expand part=month=2026-06 run=r-2] hello")


def test_cli_log_format_option_and_env(monkeypatch, capsys):
    text = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--log-format {text,json}" in text and "MOBSIG_LOG_FORMAT" in text
    monkeypatch.setenv("MOBSIG_LOG_FORMAT", "xml")
    assert cli.main(["config", "--explain"]) == 2
    assert "must be one of text, json" in capsys.readouterr().err
    monkeypatch.setenv("MOBSIG_LOG_FORMAT", "json")
    try:
        assert cli.main(["config", "--explain"]) == 0
        assert log_format() == "json"
        assert cli.main(["config", "--explain", "--log-format", "text"]) == 0
        assert log_format() == "text"  # the command line wins over the environment
    finally:
        setup_logging("WARNING", "text")


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class _Spark:
    class catalog:  # noqa: N801 - mimics spark.catalog
        @staticmethod
        def clearCache() -> None:  # noqa: N802
            pass


def _fake_runs(monkeypatch, clock: _Clock, took: dict[str, float]) -> list[str]:
    ran: list[str] = []

    def fake(spark, cfg, name, parts, options=None, keep_going=False, echo=True):
        ran.append(f"{name} {parts[0].label}")
        clock.t += took[name]
        return 0

    monkeypatch.setattr("mobsig.runner.run_partitions", fake)
    return ran


def test_progress_of_a_three_step_plan(monkeypatch, capsys):
    clock = _Clock()
    ran = _fake_runs(monkeypatch, clock, {"ingest_events": 10.0, "clean_stays": 50.0})
    steps = [("ingest_events", Partition(day=dt.date(2026, 6, 1)), {}),
             ("clean_stays", Partition(day=dt.date(2026, 6, 1)), {}),
             ("ingest_events", Partition(day=dt.date(2026, 6, 2)), {})]
    prog = run_tool.Progress([s[0] for s in steps], clock=clock)
    assert run_tool.run_steps(_Spark(), None, steps, progress=prog) == 0
    assert len(ran) == 3
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "step 1 of 3: ingest_events dt=2026-06-01 (elapsed 0:00:00, estimate after the "
        "first step)",
        # clean_stays not seen yet: the mean of the finished steps (10 s) for both left
        "step 2 of 3: clean_stays dt=2026-06-01 (elapsed 0:00:10, about 0:00:20 left)",
        # ingest_events took 10 s: that is what is left
        "step 3 of 3: ingest_events dt=2026-06-02 (elapsed 0:01:00, about 0:00:10 left)",
        "steps done: 3 in 0:01:10"]


def test_progress_as_json_log_lines(json_logs, monkeypatch, capsys):
    clock = _Clock()
    _fake_runs(monkeypatch, clock, {"a": 3.0})
    prog = run_tool.Progress(["a", "a", "a"], clock=clock)
    run_tool.run_steps(_Spark(), None, [("a", Partition(), {})] * 3, progress=prog)
    cap = capsys.readouterr()
    assert cap.out == ""
    got = [x for x in _json_lines(cap.err) if x.get("stage") == "progress"]
    assert [(x["step"], x["of"], x["left_s"]) for x in got] == [
        (1, 3, None), (2, 3, 6.0), (3, 3, 3.0), (3, 3, 0.0)]
    assert got[1]["message"].startswith("step 2 of 3: a all (elapsed 0:00:03")


def test_a_single_step_prints_no_progress(monkeypatch, capsys):
    _fake_runs(monkeypatch, _Clock(), {"a": 1.0})
    run_tool.run_steps(_Spark(), None, [("a", Partition(), {})])
    assert capsys.readouterr().out == ""


@pytest.mark.job
def test_a_job_logs_its_stages_as_json(spark, tmp_path, json_logs, capsys):
    """clean_stays on a tiny day: every stage boundary is a JSON line of the run, with the
    counts the run already had (no Spark job is added to log them)."""
    from mobsig.runner import run
    from tests.conftest import make_config
    from tests.factories import write_day_inputs
    from tests.test_stays import DAY1, ec_frame, ec_row

    cfg = make_config(tmp_path)
    rows = [ec_row("u", DAY1, h, "a", 0) for h in (1, 2, 3, 9)]
    write_day_inputs(spark, cfg, ec_frame(spark, rows))
    capsys.readouterr()
    res = run(spark, cfg, "clean_stays", day=DAY1, fresh_start=True)
    got = [x for x in _json_lines(capsys.readouterr().err) if x.get("job") == "clean_stays"]
    runs = {x.get("run") for x in got}
    assert len(runs) == 1 and None not in runs
    assert {x["part"] for x in got} == {"dt=2026-06-01"}
    stages = [x["stage"] for x in got if "stage" in x]
    assert {"read", "build", "reconcile", "gate", "write", "record"} <= set(stages)
    assert stages.index("read") < stages.index("build") < stages.index("gate") \
        < stages.index("write") < stages.index("record")
    rec = next(x for x in got if x.get("stage") == "reconcile")
    assert rec["table"] == "events_bronze" and rec["rows"] == 4 and rec["kept"] == 4
    written = {x["table"]: x["rows"] for x in got if x.get("stage") == "write"}
    assert written == {t: res.output_rows[t] for t in written}
    assert written["stays"] == 1 and set(written) == set(res.output_rows)
    assert next(x for x in got if x.get("stage") == "record")["status"] == "succeeded"
