"""A job leaves the session's cache as it found it: after an InputError half-way through
population_by_unit no persisted frame of the run is left behind (the runner releases
every frame a job kept; a successful run is checked on the synthetic city,
tests/test_population.py).

A tiny hand-built warehouse: 12 resident cards placed in one county, no expansion factors.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mobsig.config import Config
from mobsig.errors import InputError
from mobsig.io.catalog import Catalog
from tests.conftest import make_config
from tests.factories import persisted

MONTH = dt.date(2026, 6, 1)
KEY = "2026-06"
HOME = (104.05, 30.60)
USERS = [f"u{i:02d}" for i in range(12)]


def _warehouse(spark, tmp: Path) -> Config:
    cfg = make_config(tmp, privacy={"k_min": 3, "allow_below_floor": True})
    catalog = Catalog(spark, cfg.warehouse)
    places = [(u, "resident", *HOME, *HOME, None, None, "510104", "510104", None, KEY)
              for u in USERS]
    catalog.write(spark.createDataFrame(places, catalog.schema("card_places").struct),
                  "card_places", {"month": KEY})
    return cfg


@pytest.mark.job
def test_build_failing_half_way_unpersists_what_it_cached(spark, tmp_path):
    """card_places is cached and counted before the missing expansion factors are
    noticed."""
    from mobsig.runner import run

    cfg = _warehouse(spark, tmp_path)
    Catalog(spark, cfg.warehouse).ensure("expansion_factors")  # the table, without rows
    before = persisted(spark)
    with pytest.raises(InputError, match="no expansion_factors; run expand first"):
        run(spark, cfg, "population_by_unit", month=MONTH, export=False)
    assert persisted(spark) <= before
