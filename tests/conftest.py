"""Shared fixtures: one local SparkSession for the run, a small synthetic city with truth."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mobsig.config import Config, build_config

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

CITY_PEOPLE = 160
CITY_DAYS = 30


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
    """A 30-day synthetic city (generated once per test run) and its config."""
    from mobsig.config import load_config
    from mobsig.synth.generate import generate

    out = tmp_path_factory.mktemp("city")
    cfg = make_config(out, synth={"people": CITY_PEOPLE, "days": CITY_DAYS})
    res = generate(spark, cfg, out)
    return res, load_config(res.config_path, ["spark.shuffle_partitions=2"])
