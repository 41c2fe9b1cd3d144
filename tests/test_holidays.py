"""The holiday calendar: the years it covers, and a month outside them fails before Spark
starts (or warns, home_work.calendar_gap = warn) instead of counting holidays as workdays."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

import mobsig.session
from mobsig.cli import main as cli_main
from mobsig.errors import ConfigError
from mobsig.io.holidays import check_coverage, load_calendar
from tests.conftest import make_config

D = dt.date


def test_built_in_calendar_covers_2016_to_2026_with_the_notices_days():
    cal = load_calendar()
    assert cal.years == (2016, 2026)
    # 2024 Spring Festival 02-10..02-17 off, Sunday 02-04 and 02-18 made-up workdays
    assert cal.day_type(D(2024, 2, 12)) == "holiday"
    assert cal.is_workday(D(2024, 2, 4)) and cal.is_workday(D(2024, 2, 18))
    assert not cal.is_workday(D(2024, 2, 17))
    # 2020 Spring Festival extended to 02-02; 2016 Mid-autumn 09-15..17 off, 09-18 worked
    assert cal.day_type(D(2020, 1, 31)) == "holiday"
    assert cal.is_workday(D(2016, 9, 18)) and not cal.is_workday(D(2016, 9, 15))
    # 2026 Dragon Boat (the synthetic city's month)
    assert cal.day_type(D(2026, 6, 19)) == "holiday"
    assert cal.covers(D(2016, 1, 1)) and cal.covers(D(2026, 12, 31))
    assert not cal.covers(D(2015, 12, 31)) and not cal.covers(D(2027, 1, 1))


def test_a_month_outside_the_calendar_fails_or_warns(caplog):
    days = [D(2027, 3, 1) + dt.timedelta(days=i) for i in range(31)]
    cfg = make_config_inline()
    with pytest.raises(ConfigError, match=r"2027-03 is outside the holiday calendar \(built-in "
                                          r"holidays_cn.yaml covers 2016-2026\).*paths.holidays"
                                          r".*home_work.calendar_gap = warn"):
        check_coverage(cfg, days)
    assert check_coverage(cfg, [D(2026, 6, 1)]) is True
    warn = make_config_inline(home_work={"calendar_gap": "warn"})
    log = logging.getLogger("test.holidays")
    with caplog.at_level(logging.WARNING, logger="test.holidays"):
        assert check_coverage(warn, days, log) is False
    assert "2027-03 is outside the holiday calendar" in caplog.text


def test_own_calendar_covers_its_years_or_the_years_of_its_entries(tmp_path):
    p = tmp_path / "cal.yaml"
    p.write_text("holidays:\n  - [2027-02-06, 2027-02-12]\nworkdays:\n  - 2027-02-14\n")
    cal = load_calendar(p)
    assert cal.years == (2027, 2027) and cal.covers(D(2027, 11, 3))
    assert not cal.covers(D(2026, 6, 1))
    # a holiday run starting in the last days of the year before belongs to the first year
    p.write_text("years: [2027, 2028]\nholidays:\n  - [2026-12-31, 2027-01-01]\n")
    assert load_calendar(p).years == (2027, 2028)
    p.write_text("years: [2027, 2027]\nholidays:\n  - 2028-05-01\n")
    with pytest.raises(ConfigError, match=r"entries outside its years \[2027, 2027\]"):
        load_calendar(p)
    p.write_text("years: 27\nholidays: []\n")
    with pytest.raises(ConfigError, match=r"years must be a year or \[first, last\]"):
        load_calendar(p)
    p.write_text("holidays: []\n")
    assert load_calendar(p).years is None and not load_calendar(p).covers(D(2026, 6, 1))


def test_cli_home_work_outside_the_calendar_fails_before_spark(tmp_path, capsys, monkeypatch):
    def no_spark(*args, **kwargs):
        raise AssertionError("a Spark session was started")

    monkeypatch.setattr(mobsig.session, "build_session", no_spark)
    rc = cli_main(["home_work", "--month", "2027-03", "--set",
                   f"paths.warehouse={tmp_path / 'wh'}"])
    assert rc == 2
    assert "2027-03 is outside the holiday calendar" in capsys.readouterr().err
    rc = cli_main(["run", "monthly", "--month", "2015-12", "--set",
                   f"paths.warehouse={tmp_path / 'wh'}"])
    assert rc == 2
    assert "2015-12 is outside the holiday calendar" in capsys.readouterr().err


def make_config_inline(**sections):
    import tempfile
    from pathlib import Path

    return make_config(Path(tempfile.mkdtemp()), **sections)
