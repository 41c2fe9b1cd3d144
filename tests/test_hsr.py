"""High-speed rail 高铁: the cell table's is_hsr flag, the 350 km/h drift limit, HSR riders.

Hand-built frames pin the drift rule (which leg gets which limit); a tiny cell table goes
through ingest_cells; the synthetic city's HSR riders go through the shared chain.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from mobsig.cells import cells_on_day
from mobsig.clean import (
    DROP_REASON,
    annotate_events,
    flag_drift,
    heavy_users,
    with_cell_position,
)
from mobsig.config import CleanConfig
from mobsig.synth.timeline import is_hsr_traveller
from tests.conftest import make_config
from tests.factories import EVENT_SCHEMA, county_layer, ingest_cells, tiny_cells

DAY = dt.date(2026, 6, 1)
T0 = dt.datetime(2026, 6, 1, 10, 0, 0)
CELL_SCHEMA = ("cell_id string, valid_from date, valid_to date, lon double, lat double, "
               "x_m double, y_m double, spacing_m double, is_hsr boolean")


def _cells(spark):
    """Public sites S<i> every km along y = 0, HSR track-side sites H<i> every km along
    y = 500 m, and one far public (FAR) and one far HSR site (FARH)."""
    rows = [(f"S{i}", i * 1000.0, 0.0, False) for i in range(40)]
    rows += [(f"H{i}", i * 1000.0, 500.0, True) for i in range(40)]
    rows += [("FAR", 30_000.0, 30_000.0, False), ("FARH", 30_000.0, 30_500.0, True)]
    return spark.createDataFrame(
        [(c, None, None, 104.0 + x / 1e5, 30.6 + y / 1e5, x, y, 1000.0, h)
         for c, x, y, h in rows], CELL_SCHEMA)


@pytest.fixture(scope="module")
def cells(spark):
    return _cells(spark)


def _events(spark, cases: dict) -> object:
    out = []
    for name, (rows, _) in cases.items():
        for secs, cell in rows:
            out.append((f"{name:_<20}", T0 + dt.timedelta(seconds=secs), cell, "handover",
                        None, None, "f.csv", DAY, "990101"))
    return spark.createDataFrame(out, EVENT_SCHEMA)


def _flagged(spark, cells, cases: dict, **kw) -> dict:
    loc = with_cell_position(_events(spark, cases), cells_on_day(cells, DAY))
    out = flag_drift(loc, 120.0, 2000.0, **kw)
    got: dict = {name: [] for name in cases}
    for r in out.where("is_drift").select("user_id", "event_time").collect():
        got[r.user_id.rstrip("_")].append(int((r.event_time - T0).total_seconds()))
    return {k: sorted(v) for k, v in got.items()}


# (seconds after T0, cell) per case, and the seconds of the records removed as drift
RUN = range(13)
CASES = {
    # 3 km every 36 s = 300 km/h: kept on the HSR network; on public cells too, since no
    # record is an isolated jump (a train on a conventional line, a fast car)
    "hsr_300": ([(i * 36, f"H{3 * i}") for i in RUN], []),
    "public_300": ([(i * 36, f"S{3 * i}") for i in RUN], []),
    # 130 km/h by car, an event every 90 s: above the public limit on every leg, kept
    "car_130": ([(i * 90, f"S{round(3.25 * i)}") for i in range(8)], []),
    # 4 km / 40 s = 360 km/h on both legs, but collinear: the neighbours are 360 km/h
    # apart too (position noise along the track), so no record is an isolated jump
    "hsr_360_collinear": ([(0, "H0"), (40, "H4"), (80, "H8")], []),
    # a jump to a far HSR cell and back, far beyond 350 km/h
    "hsr_spike_over_350": ([(0, "S5"), (20, "FARH"), (45, "S5"), (100, "S5")], [20]),
    # 10 km out and back in 3 min each (200 km/h): allowed when the far cell is HSR ...
    "hsr_spike_200": ([(0, "S5"), (180, "H15"), (360, "S5")], []),
    # ... and drift when it is a public cell
    "public_spike_200": ([(0, "S5"), (180, "S15"), (360, "S5")], [180]),
    # a rider's phone on a public cell by the track: its legs have an HSR end
    "public_cell_on_train": ([(0, "H0"), (36, "H3"), (72, "S6"), (108, "H9"),
                              (144, "H12")], []),
    # three public records in a row at 300 km/h: the middle one has two public legs, but
    # its neighbours are as far apart: not an isolated jump
    "three_public_on_train": ([(0, "H0"), (36, "H3"), (72, "S6"), (108, "S9"),
                               (144, "S12"), (180, "H15"), (216, "H18")], []),
    # waiting at the station (public cell), then boarding
    "boarding": ([(0, "S0"), (600, "S0"), (636, "H3"), (672, "H6"), (708, "H9")], []),
    # faster than any ground travel everywhere: no isolated jump to remove
    "public_900": ([(i * 12, f"S{3 * i}") for i in RUN], []),
}


def test_drift_limit_per_leg_with_hsr_cells(spark, cells):
    got = _flagged(spark, cells, CASES, vmax_hsr_kmh=350.0)
    assert got == {name: expected for name, (_, expected) in CASES.items()}


def test_without_hsr_limit_the_old_rule_applies(spark, cells):
    """vmax_hsr_kmh=None: is_hsr is ignored and a run faster than vmax everywhere is kept
    (the rule before HSR cells were marked)."""
    cases = {k: CASES[k] for k in ("hsr_300", "public_300", "hsr_spike_200")}
    got = _flagged(spark, cells, cases)
    assert got == {"hsr_300": [], "public_300": [], "hsr_spike_200": [180]}


def test_annotate_events_uses_the_configured_hsr_limit(spark, cells):
    cases = {k: CASES[k] for k in ("hsr_spike_200", "public_spike_200")}
    loc = with_cell_position(_events(spark, cases), cells_on_day(cells, DAY))
    none = heavy_users(loc, 10**6)

    def drift_of(params: CleanConfig) -> dict:
        out = annotate_events(loc, none, params).where(F.col(DROP_REASON) == "drift")
        return {r[0].rstrip("_"): r[1] for r in out.groupBy("user_id").count().collect()}

    assert drift_of(CleanConfig()) == {"public_spike_200": 1}
    # an HSR limit below the 200 km/h spike makes it drift too
    assert drift_of(CleanConfig(drift_vmax_hsr_kmh=150.0)) == {"public_spike_200": 1,
                                                               "hsr_spike_200": 1}


def test_cells_without_the_column_are_public(spark, cells):
    old = cells.drop("is_hsr")
    on_day = cells_on_day(old, DAY)
    assert on_day.where("is_hsr").count() == 0 and on_day.count() == cells.count()
    got = _flagged(spark, old, {"hsr_spike_200": CASES["hsr_spike_200"]}, vmax_hsr_kmh=350.0)
    assert got["hsr_spike_200"] == [180]  # H15 is a public cell now: 200 km/h is drift


# ----------------------------------------------------------------------------- ingest_cells


def _build(spark, tmp: Path, table: pd.DataFrame, **cells_cfg):
    tmp.mkdir(parents=True, exist_ok=True)
    table.to_csv(tmp / "cells.csv", index=False)
    cfg = make_config(tmp, paths={"cells": str(tmp / "cells.csv"),
                                  "units": [str(county_layer(tmp / "county.geojson"))]},
                      cells=cells_cfg)
    counts = ingest_cells(spark, cfg)
    rows = spark.read.format("delta").load(str(cfg.warehouse / "cells")).collect()
    return counts, {r["cell_id"]: r for r in rows}


@pytest.mark.job
def test_ingest_cells_carries_is_hsr_and_keeps_public_spacing(spark, tmp_path):
    _, with_hsr = _build(spark, tmp_path / "a", tiny_cells())
    assert {c: r["is_hsr"] for c, r in with_hsr.items()} == {
        "c1": False, "c2": False, "c3": False, "c4": False, "h1": True, "h2": True}
    # public cells' spacing (and so the stay radius clean_stays derives from it) ignores
    # the HSR sites ...
    _, public_only = _build(spark, tmp_path / "b", tiny_cells(hsr=False))
    for c in ("c1", "c2", "c3", "c4"):
        assert with_hsr[c]["spacing_m"] == pytest.approx(public_only[c]["spacing_m"])
    assert public_only["c1"]["spacing_m"] > 900
    # ... while an HSR cell takes the spacing of every site around it (h1 is ~140 m
    # from c1 and h2)
    assert with_hsr["h1"]["spacing_m"] < with_hsr["c1"]["spacing_m"]
    # no is_hsr column at all: every cell is public
    _, no_column = _build(spark, tmp_path / "c", tiny_cells().drop(columns="is_hsr"))
    assert not any(r["is_hsr"] for r in no_column.values())


@pytest.mark.job
def test_ingest_cells_rejects_a_non_boolean_is_hsr(spark, tmp_path):
    from mobsig.errors import InputError

    bad = tiny_cells()
    bad.loc[bad["cell_id"] == "h2", "is_hsr"] = "maybe"
    with pytest.raises(InputError, match=r"cell_id='h2'.*is_hsr maybe is not a boolean"):
        _build(spark, tmp_path / "a", bad)
    counts, out = _build(spark, tmp_path / "b", bad, on_invalid="skip")
    assert counts["rows_invalid"] == 1 and "h2" not in out and out["h1"]["is_hsr"]


# ----------------------------------------------------------------------------- the city


@pytest.fixture(scope="module")
def riders(chain):
    """The city's HSR riders, their truth events and the whole events_clean table."""
    res, cfg, _ = chain
    cards = pd.read_parquet(res.out / "truth/cards.parquet")
    rider_ids = {c["user_id"] for c in cards.to_dict("records")
                 if is_hsr_traveller(cfg.synth.seed, c)}
    truth = pd.read_parquet(res.out / "truth/events")
    truth = truth[truth["user_id"].isin(rider_ids)].copy()
    truth["ts"] = pd.to_datetime(truth["event_time"], format="ISO8601")
    return res, cfg, rider_ids, truth


@pytest.mark.slow
def test_city_hsr_riders_are_fast_and_on_hsr_cells(riders):
    res, _, rider_ids, truth = riders
    assert len(rider_ids) >= 3 and len(truth) >= 60
    assert (truth["label"] == "normal").all() and not truth["is_stay"].any()
    cells = pd.read_csv(res.out / "truth/cells.csv")
    hsr_cells = set(cells.loc[cells["is_hsr"], "cell_id"])
    assert 20 <= len(hsr_cells) < 0.05 * len(cells)
    assert truth["cell_id"].isin(hsr_cells).mean() > 0.8
    raw = pd.read_csv(res.out / "raw/cells/cells.csv")
    assert set(raw.loc[raw["is_hsr"], "cell_id"]) == hsr_cells
    # nobody else is ever served by an HSR cell
    everyone = pd.read_parquet(res.out / "truth/events", columns=["user_id", "cell_id"])
    assert set(everyone.loc[everyone["cell_id"].isin(hsr_cells), "user_id"]) <= rider_ids
    # each ride crosses the city end to end at 280-320 km/h (true positions)
    from mobsig.coords import haversine_m

    for _, r in truth.sort_values("ts").groupby("user_id"):
        d = haversine_m(r["true_lon"].iat[0], r["true_lat"].iat[0], r["true_lon"].iat[-1],
                        r["true_lat"].iat[-1])
        secs = (r["ts"].iat[-1] - r["ts"].iat[0]).total_seconds()
        assert d > 35_000 and 270 < d / secs * 3.6 < 330


@pytest.mark.slow
def test_city_hsr_rider_events_are_kept(spark, riders):
    from mobsig.io.catalog import Catalog

    res, cfg, rider_ids, truth = riders
    catalog = Catalog(spark, cfg.warehouse)
    cells = pd.read_csv(res.out / "truth/cells.csv")
    table_hsr = {r[0] for r in catalog.read("cells").where("is_hsr").select("cell_id").collect()}
    assert table_hsr == set(cells.loc[cells["is_hsr"], "cell_id"])
    days = sorted({dt.date.fromisoformat(str(d)) for d in truth["dt"]})
    clean = (catalog.read("events_clean", dt=days)
             .where(F.col("user_id").isin(sorted(rider_ids)))
             .select("user_id", F.col("event_time").alias("ts"), "cell_id").toPandas())
    key = ["user_id", "ts", "cell_id"]
    want = truth[key].drop_duplicates()
    kept = want.merge(clean.drop_duplicates(), on=key, how="left", indicator=True)
    share = float((kept["_merge"] == "both").mean())
    assert share >= 0.95, share
    # the marks never cost a rider's record: the same rows with every cell public lose at
    # least as many (a steady fast run is kept either way: no record is an isolated jump)
    n_marked = n_unmarked = 0
    for d in days:
        bronze = catalog.read("events_bronze", dt=d).where(
            F.col("user_id").isin(sorted(rider_ids)))
        none = heavy_users(bronze, 10**6)
        marked = cells_on_day(catalog.read("cells"), d)
        for on_day, unmarked in ((marked, False),
                                 (marked.withColumn("is_hsr", F.lit(False)), True)):
            out = annotate_events(with_cell_position(bronze, on_day), none, cfg.clean)
            n = out.where(F.col(DROP_REASON) == "drift").count()
            if unmarked:
                n_unmarked += n
            else:
                n_marked += n
    assert n_marked <= 0.05 * len(want) and n_unmarked >= n_marked, (n_marked, n_unmarked)
