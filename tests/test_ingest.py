"""ingest_events: every input form, each reject reason, exact reconciliation, idempotence."""

from __future__ import annotations

import datetime as dt
import gzip
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from mobsig.config import IngestConfig
from mobsig.errors import InputError
from mobsig.ingest import (
    REASONS,
    cells_valid_on,
    classify_events,
    plan_sources,
    read_sources,
)
from mobsig.synth.signals import MALFORMED_REASONS
from tests.conftest import CITY_START, make_config

DAY1 = dt.date(2026, 6, 1)  # hand-built folders
CITY_A = CITY_START  # the city's first day
CITY_B = CITY_START + dt.timedelta(days=11)  # after the cell swap, antenna moves, retirements


@pytest.fixture(scope="module")
def ingested(chain):
    """Two ingested days of the city, from the shared pipeline run (conftest ``chain``)."""
    res, cfg, counts = chain
    days = {d: counts["days"][d]["ingest"] for d in (CITY_A, CITY_B)}
    truth = pd.read_parquet(res.out / "truth/events",
                            columns=["user_id", "event_time", "cell_id", "event_type", "label",
                                     "dt"])
    truth["dt"] = truth["dt"].astype(str)
    return cfg, days, truth


def _table(spark, cfg, name, day):
    return spark.read.format("delta").load(str(cfg.warehouse / name)).where(F.col("dt") == day)


@pytest.mark.parametrize("day", [CITY_A, CITY_B])
def test_reconciliation_and_reasons_match_truth(spark, ingested, day):
    cfg, counts, truth = ingested
    t = truth[truth["dt"] == day.isoformat()]
    c = counts[day]
    assert c["rows_read"] == len(t)
    assert c["rows_accepted"] + c["rows_quarantined"] == c["rows_read"]
    malformed = t[t["label"].str.startswith("malformed:")]
    want = Counter(label.split(":", 1)[1] for label in malformed["label"])
    assert c["quarantine"] == dict(want)
    q = _table(spark, cfg, "events_quarantine", day).toPandas()
    assert len(q) == len(malformed) and q["raw_text"].notna().all()
    # each rejected row is the truth row labelled with exactly that reason
    # (a heavy card's rows can share user, second and cell: compare label sets per key)
    key = ["user_id", "event_time", "cell_id"]
    labels = t.groupby(key)["label"].agg(frozenset).rename("labels").reset_index()
    m = q.merge(labels, left_on=["user_id", "event_time_raw", "cell_id"], right_on=key,
                how="left")
    assert len(m) == len(q) and m["labels"].notna().all()
    ok = [("malformed:" + r) in ls for r, ls in zip(m["reason"], m["labels"], strict=True)]
    assert all(ok), m.loc[[not o for o in ok], ["reason", "labels"]]
    assert q["source_file"].str.startswith(f"dt={day.isoformat()}/").all()
    # every other row (normal, ping-pong, drift, duplicate) is accepted, as delivered
    b = _table(spark, cfg, "events_bronze", day)
    assert b.count() == c["rows_accepted"] == len(t) - len(malformed)
    good = t[~t["label"].str.startswith("malformed:")]
    got = Counter(tuple(r) for r in b.select("user_id", "cell_id", "event_type").collect())
    assert got == Counter(zip(good["user_id"], good["cell_id"], good["event_type"],
                              strict=True))
    bad_day = b.where(F.to_date("event_time") != F.lit(day)).count()
    assert bad_day == 0
    regions = {r[0] for r in b.select("region").distinct().collect()}
    assert regions and regions <= {f"9901{i:02d}" for i in range(1, 7)}


def test_every_injected_reason_seen(ingested):
    _, counts, _ = ingested
    seen = set(counts[CITY_A]["quarantine"]) | set(counts[CITY_B]["quarantine"])
    assert seen == set(MALFORMED_REASONS)


def test_region_run_and_rerun_are_idempotent(spark, ingested):
    from delta.tables import DeltaTable
    from mobsig.jobs.ingest_events import execute

    cfg, _, _ = ingested
    bronze_path = str(cfg.warehouse / "events_bronze")
    q_path = str(cfg.warehouse / "events_quarantine")

    def snapshot(path):
        df = spark.read.format("delta").load(path)
        return sorted((tuple(r) for r in df.collect()), key=repr)

    def version(path):
        return DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]

    bronze0, quar0 = snapshot(bronze_path), snapshot(q_path)
    q_version = version(q_path)
    region = "990101"
    res = execute(spark, cfg, CITY_A, [region])
    n_region = sum(1 for r in bronze0 if r[-1] == region and r[-2] == CITY_A)
    assert res["rows_written"] == n_region > 0
    assert version(q_path) == q_version  # a regional run leaves the quarantine alone
    assert snapshot(bronze_path) == bronze0
    execute(spark, cfg, CITY_A)
    assert snapshot(bronze_path) == bronze0
    assert snapshot(q_path) == quar0


# --------------------------------------------------------------------------------------
# hand-built input forms and edge cases (no table writes)

UID = "u" * 20
UID2 = "v" * 20
HEADER = "user_id,event_time,cell_id,event_type,imei_tac,home_region"


@pytest.fixture
def cells_on_day(spark):
    cells = spark.createDataFrame(
        [("c1", None, None, "510104"), ("c2", None, dt.date(2026, 5, 31), "510105"),
         ("c3", dt.date(2026, 6, 1), None, "510105")],
        "cell_id string, valid_from date, valid_to date, region string")
    return cells_valid_on(cells, DAY1)


def _classify(spark, folder: Path, cells_on_day, **ingest) -> pd.DataFrame:
    cfg = IngestConfig(**ingest)
    raw = read_sources(spark, plan_sources(folder, cfg))
    out = classify_events(raw, cells_on_day, DAY1, cfg)
    return out.select("user_id", "event_time", "cell_id", "event_type", "region", "reason",
                      "raw_text", "source_file").toPandas()


def test_every_input_form(spark, tmp_path, cells_on_day):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    (day / "a.csv").write_text(HEADER + "\n" + f"{UID},2026-06-01 08:00:00,c1,call,1,2\n")
    (day / "b.csv").write_text(f"{UID},2026-06-01 08:00:01.250,c3,sms,,\n")  # no header
    with gzip.open(day / "c.tsv.gz", "wt") as fh:
        fh.write("event_time\tcell_id\tuser_id\n2026-06-01 09:00:00\tc1\t" + UID + "\n")
    ms = int(dt.datetime(2026, 6, 1, 10, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
             .timestamp() * 1000)
    pq.write_table(pa.table({"user_id": [UID], "event_time": pa.array([ms], pa.int64()),
                             "cell_id": ["c1"], "extra": [1]}), day / "d.parquet")
    ts = dt.datetime(2026, 6, 1, 11, 0, 0)
    pq.write_table(pa.table({"USER_ID": [UID], "event_time": pa.array([ts], pa.timestamp("ms")),
                             "cell_id": ["c1"]}), day / "e.parquet")
    pq.write_table(pa.table({"user_id": [UID], "event_time": [str(ms)], "cell_id": ["c1"]}),
                   day / "f.parquet")
    (day / "_SUCCESS").write_text("")
    out = _classify(spark, day, cells_on_day).sort_values("source_file")
    assert out["reason"].isna().all(), out
    assert list(out["source_file"]) == [f"dt=2026-06-01/{n}" for n in
                                        ("a.csv", "b.csv", "c.tsv.gz", "d.parquet",
                                         "e.parquet", "f.parquet")]
    hours = [t.strftime("%H:%M:%S.%f") for t in out["event_time"]]
    assert hours == ["08:00:00.000000", "08:00:01.250000", "09:00:00.000000",
                     "10:00:00.000000", "11:00:00.000000", "10:00:00.000000"]
    assert list(out["region"]) == ["510104", "510105", "510104", "510104", "510104",
                                   "510104"]
    assert out["event_type"].iloc[1] == "sms"


def test_each_reason_on_hand_built_rows(spark, tmp_path, cells_on_day):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    rows = {
        f"{UID},2026-06-01 08:00:00,c1,call,1,2": None,
        f'"{UID}","2026-06-01 08:00:00","c1","call, with comma","1","2"': None,
        f"{UID},2026-06-01 08:00:00,c1,call": "malformed_row",
        f"{UID},2026-06-01 08:00:00,c1,call,1,2,extra": "malformed_row",
        "": "malformed_row",
        '"",2026-06-01 08:00:00,c1,call,1,2': "empty_user_id",
        "u" * 65 + ",2026-06-01 08:00:00,c1,call,1,2": "oversized_user_id",
        "short,2026-06-01 08:00:00,c1,call,1,2": "undersized_user_id",
        f"{UID},2026-06-01 08:00:00, ,call,1,2": "empty_cell_id",
        f"{UID},2026-06-31 12:00:00,c1,call,1,2": "unparseable_time",
        f"{UID},1e99,c1,call,1,2": "unparseable_time",
        f"{UID},2026-06-02 00:00:00,c1,call,1,2": "time_outside_day",
        f"{UID},2026-05-31 23:59:59.999,c1,call,1,2": "time_outside_day",
        f"{UID},2026-06-01 23:59:59.999,c2,call,1,2": "unknown_cell",  # retired on 05-31
        f"{UID2},2026-06-01 00:00:00,nope,call,1,2": "unknown_cell",
    }
    (day / "x.csv").write_text(HEADER + "\r\n" + "\r\n".join(rows) + "\r\n")
    out = _classify(spark, day, cells_on_day)
    assert len(out) == len(rows)
    got = dict(zip(out["raw_text"], out["reason"], strict=True))
    assert {k: (None if pd.isna(v) else v) for k, v in got.items()} == rows
    assert set(rows.values()) - {None} == set(REASONS)
    quoted = out[out["event_type"] == "call, with comma"]
    assert len(quoted) == 1 and quoted["user_id"].iloc[0] == UID


def test_header_setting_false_reads_first_line_as_data(spark, tmp_path, cells_on_day):
    day = tmp_path / "dt=2026-06-01"
    day.mkdir()
    (day / "x.txt").write_text(f"{UID}\t2026-06-01 08:00:00\tc1\n")
    out = _classify(spark, day, cells_on_day, csv_header="false",
                    headerless_columns=["user_id", "event_time", "cell_id"])
    assert list(out["reason"].isna()) == [True]
    (day / "x.txt").write_text("a\tb\tc\n")
    with pytest.raises(InputError, match=r"header .* lacks \['user_id', 'event_time'"):
        plan_sources(day, IngestConfig(csv_header="true"))


def test_missing_or_empty_day_folder_is_an_error(spark, tmp_path):
    from mobsig.jobs.ingest_events import execute

    with pytest.raises(InputError, match="does not exist"):
        plan_sources(tmp_path / "dt=2026-06-01", IngestConfig())
    (tmp_path / "dt=2026-06-01").mkdir()
    (tmp_path / "dt=2026-06-01" / "_SUCCESS").write_text("")
    with pytest.raises(InputError, match="no data files"):
        plan_sources(tmp_path / "dt=2026-06-01", IngestConfig())
    (tmp_path / "dt=2026-06-01" / "empty.csv").write_text("")
    with pytest.raises(InputError, match="only empty files"):
        plan_sources(tmp_path / "dt=2026-06-01", IngestConfig())
    cfg = make_config(tmp_path, paths={"raw_events": str(tmp_path)})
    with pytest.raises(InputError, match="run `mobsig ingest_cells` first"):
        execute(spark, cfg, DAY1)
