"""Shared fixtures: one local SparkSession for the run, a small synthetic city with truth."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from mobsig.config import Config, build_config
from mobsig.synth.generate import TWO_WEEK_RULES

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

CITY_PEOPLE = 160
# A two-week "month" keeps the whole chain (14 daily runs of ingest, clean and stays, then
# the monthly jobs) inside the CI budget; the residence thresholds are scaled to it the
# same way for the generator's truth and for the jobs (see CITY_RULES).
CITY_DAYS = 14
CITY_RULES = TWO_WEEK_RULES
CITY_START = dt.date(2026, 6, 8)  # two weeks with two weekends and 端午节 (Fri 06-19)
MONTH = dt.date(2026, 6, 1)
# The sample is 1 % of the city: ~125 sample residents stand for ~12,500 people, so the
# five largest townships (>= 10 sample residents) have the >= 1,000 people at which
# domain.md's ±15 % township check applies (out-of-sample homes are spread per township at
# the market share, see mobsig.synth.population._out_of_sample). One misplaced home is
# then 5-10 % of such a township: stricter than a real township of 1,000 people with a
# 60 % share.
CITY_MARKET_SHARE = 0.01


def make_config(tmp: Path, **sections) -> Config:
    data = {"spark": {"shuffle_partitions": 2, "driver_memory": "3g"},
            "paths": {"warehouse": str(tmp / "warehouse")}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build_config(data, base_dir=tmp)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from mobsig.logs import setup_logging
    from mobsig.session import build_session

    setup_logging("WARNING")
    cfg = make_config(tmp_path_factory.mktemp("spark"))
    session = build_session(cfg, app_name="mobsig-tests")
    yield session
    session.stop()


@pytest.fixture
def warehouse(tmp_path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture(scope="session")
def city(spark, tmp_path_factory):
    """A 14-day synthetic city (generated once per test run) and its config."""
    from mobsig.config import load_config
    from mobsig.synth.generate import generate

    out = tmp_path_factory.mktemp("city")
    cfg = make_config(out, synth={"people": CITY_PEOPLE, "days": CITY_DAYS,
                                  "start_date": CITY_START.isoformat(),
                                  "market_share": CITY_MARKET_SHARE}, **CITY_RULES)
    res = generate(spark, cfg, out)
    return res, load_config(res.config_path, ["spark.shuffle_partitions=2"])


@pytest.fixture(scope="session")
def chain(spark, city):
    """The whole pipeline run once on the city, in its own warehouse: ingest_cells, then
    ingest_events -> clean_events -> detect_stays for every day, then flag_users ->
    home_work -> expand -> population_by_unit for the month. Tests read the tables; a
    test that re-runs a partition must leave it identical (idempotence)."""
    from mobsig.jobs import (
        clean_events,
        detect_stays,
        expand,
        flag_users,
        home_work,
        ingest_cells,
        ingest_events,
        population_by_unit,
    )

    res, cfg = city
    counts: dict = {"cells": ingest_cells.execute(spark, cfg), "days": {}}
    for i, day in enumerate(res.days):
        counts["days"][day] = {
            "ingest": ingest_events.execute(spark, cfg, day),
            "clean": clean_events.execute(spark, cfg, day),
            "stays": detect_stays.execute(spark, cfg, day, fresh_start=(i == 0)),
        }
    counts["flags"] = flag_users.execute(spark, cfg, MONTH)
    counts["home_work"] = home_work.execute(spark, cfg, MONTH)
    counts["expand"] = expand.execute(spark, cfg, MONTH)
    counts["population"] = population_by_unit.execute(spark, cfg, MONTH)
    return res, cfg, counts
