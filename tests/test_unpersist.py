"""population_by_unit leaves the session's cache as it found it: after an InputError
half-way through build no persisted frame of the job is left behind (a successful
execute is checked on the synthetic city, tests/test_population.py).

A tiny hand-built warehouse: 12 resident cards with a home in one county and a GeoJSON
county layer, no expansion factors.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mobsig.catalog import Catalog
from mobsig.config import Config
from mobsig.errors import InputError
from tests.conftest import make_config

MONTH = dt.date(2026, 6, 1)
KEY = "2026-06"
HOME = (104.05, 30.60)
USERS = [f"u{i:02d}" for i in range(12)]
TZ = ZoneInfo("Asia/Shanghai")


def persisted(spark) -> int:
    """Persisted RDDs of the session (a cached DataFrame's buffers, once materialised),
    leaving out Delta's own snapshot caches ("Delta Table State #n - <table>"): a newly
    written table version gets one, and Delta manages them itself."""
    rdds = spark.sparkContext._jsc.getPersistentRDDs()
    names = [rdds.get(k).name() or "" for k in rdds.keySet().toArray()]
    return sum(not n.startswith("Delta Table State") for n in names)


def _county_layer(path: Path) -> Path:
    ring = [[104.0, 30.5], [104.2, 30.5], [104.2, 30.7], [104.0, 30.7], [104.0, 30.5]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"unit_id": "510104", "unit_name": "锦江区",
                                          "level": "county"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    return path


def _warehouse(spark, tmp: Path, factors: bool = True) -> Config:
    cfg = make_config(tmp, paths={"units": [str(_county_layer(tmp / "county.geojson"))]},
                      privacy={"k_min": 3})
    catalog = Catalog(spark, cfg.warehouse)
    hw = [(u, *HOME, None, None, None, None, 10, 0, 10, "resident", None, "no_workplace",
           10, 200.0, *HOME, None, True, KEY) for u in USERS]
    catalog.write(spark.createDataFrame(hw, catalog.schema("home_work").struct), "home_work",
                  {"month": KEY})
    if factors:
        ef = [("510104", "锦江区", len(USERS), 1000 * len(USERS), 1000.0, KEY)]
        catalog.write(spark.createDataFrame(ef, catalog.schema("expansion_factors").struct),
                      "expansion_factors", {"month": KEY})
    if not factors:  # build fails before it reads stays
        return cfg
    stays = []
    for d in range(1, 8):
        for u in USERS:
            start = dt.datetime(2026, 6, d, 9, tzinfo=TZ)  # run.timezone
            stays.append((u, start, start + dt.timedelta(hours=8), 8 * 3600, *HOME, "c1",
                          "8a2a1072b59ffff", 30, start.date()))
    catalog.write(spark.createDataFrame(stays, catalog.schema("stays").struct), "stays",
                  {"dt": [dt.date(2026, 6, d) for d in range(1, 8)]})
    return cfg


def test_build_failing_half_way_unpersists_what_it_cached(spark, tmp_path):
    """home_work is cached and counted before the missing expansion factors are noticed."""
    from mobsig.jobs import population_by_unit

    cfg = _warehouse(spark, tmp_path, factors=False)
    before = persisted(spark)
    with pytest.raises(InputError, match="no expansion_factors; run expand first"):
        population_by_unit.execute(spark, cfg, MONTH, export=False)
    assert persisted(spark) == before
