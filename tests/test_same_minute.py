"""Issue 19 item 3: at a whole-minute time resolution (session feeds) two real records of
one minute at one cell are equal on every raw column. Equal rows are collapsed either way
(one kept), but a copy whose group of equal rows has a row from a coarse source is counted
as ``same_minute``, never as a transmitted ``duplicate``; the removed-share gate leaves
them out, and bronze = kept + every drop reason still holds exactly."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pyarrow as pa
import pytest
from pyspark.sql import types as T

from mobsig import clean
from mobsig import clean_kernel as K
from mobsig.config import CleanConfig
from mobsig.io.catalog import Catalog
from tests.conftest import make_config
from tests.factories import EVENT_SCHEMA, county_layer, ingest_cells, tiny_cells

DAY = dt.date(2026, 6, 1)
SM, DUP = clean.SAME_MINUTE, clean.DUPLICATE


def _rows():
    """(user, seconds, cell, type, coarse): sorted as the pass sorts them."""
    return [("a", 60, "c1", "data", True), ("a", 60, "c1", "data", True),  # 2 sessions
            ("a", 60, "c1", "data", False),  # a seconds feed's row on the whole minute
            ("a", 120, "c1", "data", True),
            ("b", 7, "c1", "handover", False), ("b", 7, "c1", "handover", False),  # a copy
            ("b", 9, "c1", "handover", False),
            ("h", 60, "c1", "data", True), ("h", 60, "c1", "data", True),  # heavy user
            ("h", 61, "c1", "data", False), ("h", 61, "c1", "data", False),
            ("h", 62, "c1", "data", False)]


def test_kernel_and_spark_count_coarse_copies_as_same_minute(spark):
    rows = _rows()
    t0 = 1_780_272_000_000_000
    tbl = pa.table({"user_id": [r[0] for r in rows],
                    "t_us": pa.array([t0 + r[1] * 1_000_000 for r in rows], pa.int64()),
                    "cell_id": [r[2] for r in rows], "event_type": [r[3] for r in rows],
                    "imei_tac": pa.nulls(len(rows), pa.string()),
                    "home_region": pa.nulls(len(rows), pa.string()),
                    "x_m": [1000.0] * len(rows), "y_m": [0.0] * len(rows),
                    "is_hsr": [False] * len(rows), clean.COARSE_TIME: [r[4] for r in rows]})
    codes, heavy = K.reasons_for_table(tbl, CleanConfig(), 4)  # 'h' has 5 rows: heavy
    got = [K.REASON_OF_CODE[c] for c in codes]
    assert got == [None, SM, SM, None, None, DUP, None, None, SM, None, DUP, None]
    assert heavy.tolist() == [False] * 7 + [True] * 5
    # without the column every copy is a duplicate (as before)
    plain = K.reasons_for_table(tbl.drop_columns([clean.COARSE_TIME]), CleanConfig(), 4)[0]
    assert [K.REASON_OF_CODE[c] for c in plain].count(DUP) == 5
    # the Spark reference agrees, per group of equal rows
    schema = T.StructType([*EVENT_SCHEMA.fields[:6],
                           T.StructField("x_m", T.DoubleType()),
                           T.StructField("y_m", T.DoubleType()),
                           T.StructField("is_hsr", T.BooleanType()),
                           T.StructField(clean.COARSE_TIME, T.BooleanType())])
    base = dt.datetime(2026, 6, 1)
    df = spark.createDataFrame(
        [(r[0], base + dt.timedelta(seconds=r[1]), r[2], r[3], None, None, 1000.0, 0.0, False,
          r[4]) for r in rows], schema)
    p = CleanConfig(heavy_user_events_per_day=4)
    out = clean.annotate_events(df, clean.heavy_users(df, 4), p).collect()
    want = Counter((r[0], r[1], r[3], g) for r, g in zip(rows, got, strict=True))
    have = Counter((r["user_id"], int((r["event_time"] - base).total_seconds()),
                    r["event_type"], r[clean.DROP_REASON]) for r in out)
    assert have == want


@pytest.mark.job
def test_minute_session_feed_reconciles_with_same_minute_not_duplicates(spark, tmp_path):
    """A session feed to the minute (s.csv) and a signalling feed to the second (b.csv)
    on one day: a session that ends in the minute the next one starts, two sessions of
    one minute, and a seconds-feed row on the same whole minute are collapsed as
    same_minute (4); only the seconds feed's transmitted copy is a duplicate (1). Before,
    all 5 were duplicates."""
    from mobsig.runner import run

    raw = tmp_path / "raw" / f"dt={DAY.isoformat()}"
    raw.mkdir(parents=True)
    u1, u2, u3 = (f"u{i:019d}" for i in (1, 2, 3))
    (raw / "s.csv").write_text(
        "user_id,event_time,end_time,cell_id,event_type\n"
        f"{u1},2026-06-01 08:00,2026-06-01 08:05,c1,data\n"
        f"{u1},2026-06-01 08:05,2026-06-01 08:09,c1,data\n"
        f"{u1},2026-06-01 08:09,2026-06-01 08:45,c1,data\n"  # a stay 08:00-08:45
        f"{u2},2026-06-01 09:00,2026-06-01 09:00,c2,data\n"  # zero length: one event
        f"{u2},2026-06-01 09:00,,c2,data\n")
    (raw / "b.csv").write_text(
        "user_id,event_time,cell_id,event_type\n"
        f"{u3},2026-06-01 10:00:07,c3,data\n{u3},2026-06-01 10:00:07,c3,data\n"
        f"{u3},2026-06-01 10:00:09,c3,data\n{u1},2026-06-01 08:05:00,c1,data\n")
    tiny_cells().to_csv(tmp_path / "cells.csv", index=False)
    cfg = make_config(tmp_path, paths={"cells": str(tmp_path / "cells.csv"),
                                       "units": [str(county_layer(tmp_path / "c.geojson"))],
                                       "raw_events": str(tmp_path / "raw")})
    ingest_cells(spark, cfg)
    ing = run(spark, cfg, "ingest_events", day=DAY)
    assert ing.facts["time_resolution_s"] == {"1": 1, "60": 1}
    assert ing.output_rows["events_bronze"] == 12
    res = run(spark, cfg, "clean_stays", day=DAY, fresh_start=True)
    assert res.removed[SM] == 4 and res.removed[DUP] == 1, res.removed
    assert res.facts["coarse_time_files"] == 1 and res.facts["removed_share"] == round(1 / 12, 6)
    kept = res.output_rows["events_clean"]
    assert kept == 7 and kept + sum(res.removed.values()) == 12
    ev = Catalog(spark, cfg.warehouse).read("events_clean", dt=DAY).toPandas()
    times = sorted((u, t.strftime("%H:%M:%S")) for u, t in zip(ev["user_id"], ev["event_time"],
                                                               strict=True))
    assert times == sorted([(u1, "08:00:00"), (u1, "08:05:00"), (u1, "08:09:00"),
                            (u1, "08:45:00"), (u2, "09:00:00"), (u3, "10:00:07"),
                            (u3, "10:00:09")])
    assert ev["cell_id"].notna().all() and "x_m" not in ev  # placed by its cell version
