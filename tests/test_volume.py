"""The volume gate of ingest_events: a day with a small share of the trailing days' volume
fails (a partial delivery), names the numbers and the setting; an override accepts it with
a warning; the first days of a warehouse are not judged."""

from __future__ import annotations

import datetime as dt

import pytest

from mobsig.errors import ConfigError, DataQualityError
from mobsig.io.catalog import Catalog
from mobsig.runs import RunRecord, write_record
from tests.conftest import make_config
from tests.factories import county_layer, ingest_cells, tiny_cells

DAY = dt.date(2026, 6, 5)


def _raw_day(root, day: dt.date, n: int) -> None:
    folder = root / f"dt={day.isoformat()}"
    folder.mkdir(parents=True)
    lines = ["user_id,event_time,cell_id,event_type,imei_tac,home_region"]
    lines += [f"u{i:019d},{day.isoformat()} 08:{i % 60:02d}:00,c{1 + i % 4},handover,,"
              for i in range(n)]
    (folder / "a.csv").write_text("\n".join(lines) + "\n")


def _record(cat: Catalog, day: dt.date, rows: int, status: str = "succeeded",
            ended: dt.datetime | None = None) -> None:
    rec = RunRecord(job="ingest_events", run_id=f"r-{day}-{rows}", config_digest="x",
                    partition=f"dt={day.isoformat()}", input_rows={"raw_events": rows},
                    status=status, ended_at=ended or dt.datetime(2026, 6, 30))
    write_record(cat, rec)


@pytest.mark.job
def test_a_partial_day_fails_names_the_numbers_and_an_override_warns(spark, tmp_path):
    raw = tmp_path / "raw"
    _raw_day(raw, DAY, 4)
    sessions = raw / "dt=2026-06-20"
    sessions.mkdir(parents=True)
    (sessions / "s.csv").write_text(
        "user_id,event_time,end_time,cell_id,event_type\n"
        + "".join(f"u{i:019d},2026-06-20 08:0{i},{end},c1,data\n" for i, end in
                  enumerate(["2026-06-20 08:30", "", "2026-06-20 08:02", "2026-06-21 00:10"])))
    tiny_cells().to_csv(tmp_path / "cells.csv", index=False)
    cfg = make_config(tmp_path, paths={"cells": str(tmp_path / "cells.csv"),
                                       "units": [str(county_layer(tmp_path / "c.geojson"))],
                                       "raw_events": str(raw)})
    ingest_cells(spark, cfg)
    cat = Catalog(spark, cfg.warehouse)
    # five trailing days of ~400 rows, two of them doubled by a test card's burst (the
    # latest run of a day counts, failed runs do not)
    _record(cat, DAY - dt.timedelta(days=1), 400)
    _record(cat, DAY - dt.timedelta(days=2), 10, ended=dt.datetime(2026, 6, 3))
    _record(cat, DAY - dt.timedelta(days=2), 380)
    _record(cat, DAY - dt.timedelta(days=3), 420)
    _record(cat, DAY - dt.timedelta(days=4), 10**6, status="failed")
    _record(cat, DAY - dt.timedelta(days=4), 800)
    _record(cat, DAY - dt.timedelta(days=5), 820)
    from mobsig.runner import run

    with pytest.raises(DataQualityError, match=r"(?s)events_volume.*volume_ratio.*4 rows read = "
                                               r"1\.0% of the median 420 of the 5 recorded "
                                               r"days.*ingest.min_volume_ratio=0"):
        run(spark, cfg, "ingest_events", day=DAY)
    assert not cat.exists("events_bronze") or cat.read("events_bronze", dt=DAY).isEmpty()

    accept = make_config(tmp_path, paths={"raw_events": str(raw)},
                         ingest={"min_volume_ratio": 0.0})
    res = run(spark, accept, "ingest_events", day=DAY)
    assert res.facts["volume_ratio"] == round(4 / 420, 4)
    assert res.facts["volume_trailing_days"] == 5
    assert res.facts["time_resolution_s"] == {"60": 1}  # whole-minute times in a.csv
    gate = next(g for g in res.gates if g["suite"] == "events_volume")
    assert gate["success"] and gate["warnings"] and not gate["failed"]
    assert cat.read("events_bronze", dt=DAY).count() == 4

    # a day whose trailing week has no recorded run is not judged; its feed is of session
    # records: 4 rows, 3 with an end; one end is after its start on the day (08:00-08:30),
    # one equals its start (08:02), one is past midnight -> 5 events
    res = run(spark, cfg, "ingest_events", day=dt.date(2026, 6, 20))
    assert res.facts["volume_trailing_days"] == 0
    assert not any(g["suite"] == "events_volume" for g in res.gates)
    assert (res.facts["session_rows"], res.facts["session_end_events"]) == (3, 1)
    assert res.input_rows["raw_events"] == 4 and res.output_rows["events_bronze"] == 5


def test_volume_settings_are_checked_before_spark(tmp_path):
    with pytest.raises(ConfigError, match=r"ingest.min_volume_ratio \(0.9\) must be <= "
                                          r"ingest.warn_volume_ratio \(0.8\)"):
        make_config(tmp_path, ingest={"min_volume_ratio": 0.9})
    with pytest.raises(ConfigError, match=r"ingest.volume_min_days \(9\) must be <= "
                                          r"ingest.volume_trailing_days \(7\)"):
        make_config(tmp_path, ingest={"volume_min_days": 9})


@pytest.mark.job
def test_cli_run_one_record_one_run_id_and_a_failure_names_its_setting(spark, tmp_path,
                                                                        capsys):
    """Through the command line: a job run leaves exactly one run record (no second
    record with partition "-"), every log line of the run carries that run's id, and a
    failed gate names the expectation, the observed value and the setting behind it."""
    import re

    from mobsig.cli import main as cli_main
    from mobsig.config import dump_config

    raw = tmp_path / "raw"
    _raw_day(raw, DAY, 4)
    with (raw / f"dt={DAY.isoformat()}" / "a.csv").open("a") as f:
        f.write("not,a,valid,row\n")
    tiny_cells().to_csv(tmp_path / "cells.csv", index=False)
    cfg = make_config(tmp_path, paths={"cells": str(tmp_path / "cells.csv"),
                                       "units": [str(county_layer(tmp_path / "c.geojson"))],
                                       "raw_events": str(raw)})
    dump_config(cfg, tmp_path / "cfg.yaml")
    capsys.readouterr()
    assert cli_main(["ingest_units", "--config", str(tmp_path / "cfg.yaml")]) == 0
    err = capsys.readouterr().err
    ids = set(re.findall(r"run=([0-9T]+-[0-9a-f]{8})", err))
    assert len(ids) == 1, err
    runs = Catalog(spark, cfg.warehouse).read("runs").toPandas().sort_values("ended_at")
    # its end row (the started record is a file, removed by it: test_run_records)
    assert list(runs["run_id"]) == list(ids) and list(runs["partition"]) == ["all"]
    assert list(runs["status"]) == ["succeeded"]

    assert cli_main(["ingest_cells", "--config", str(tmp_path / "cfg.yaml")]) == 0
    rc = cli_main(["ingest_events", "--date", DAY.isoformat(), "--config",
                   str(tmp_path / "cfg.yaml"), "--set", "ingest.max_quarantine_share=0.1"])
    err = capsys.readouterr().err
    assert rc != 0
    assert re.search(r"quality gate 'events_ingest' dt=2026-06-05 failed: 1 of \d "
                     r"expectations \(expect_column_values_to_be_between on "
                     r"quarantine_share\)\n.*column='quarantine_share', min_value=0, "
                     r"max_value=0\.1\): observed 0\.2 \(max_value from "
                     r"ingest\.max_quarantine_share\)", err), err
    runs = Catalog(spark, cfg.warehouse).read("runs").toPandas()
    assert sorted(runs["partition"]) == ["all"] * 2 + ["dt=2026-06-05"]
    assert set(runs["status"]) == {"succeeded", "failed"}
