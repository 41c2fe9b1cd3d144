"""Cleaning: duplicates, ping-pong, drift, heavy users, cell versions; clean_stays on the city."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pyspark.sql import functions as F

from mobsig.cells import cells_on_day
from mobsig.clean import (
    DRIFT,
    DROP_REASON,
    DUPLICATE,
    PINGPONG,
    UNLOCATED,
    annotate_events,
    flag_drift,
    flag_duplicates,
    flag_pingpong,
    heavy_users,
    with_cell_position,
)
from mobsig.config import CleanConfig
from mobsig.runs import read_runs
from tests.factories import EVENT_SCHEMA

DAY = dt.date(2026, 6, 1)
T0 = dt.datetime(2026, 6, 1, 10, 0, 0)
USER = "u" * 20

CELL_SCHEMA = ("cell_id string, valid_from date, valid_to date, lon double, lat double, "
               "x_m double, y_m double, spacing_m double")

# a line of sites 1 km apart along x; sectors -1/-2 of one site share its position
SITES = {f"S{i}": (i * 1000.0, 0.0) for i in range(40)}
SITES["FAR"] = (30_000.0, 30_000.0)


def cell_rows():
    rows = []
    for site, (x, y) in SITES.items():
        for sector in (1, 2):
            rows.append((f"{site}-{sector}", None, None, 104.0 + x / 1e5, 30.6 + y / 1e5,
                         x, y, 300.0))
    return rows


@pytest.fixture(scope="module")
def cells(spark):
    return spark.createDataFrame(cell_rows(), CELL_SCHEMA)


def events(spark, rows, user=USER):
    """rows: (seconds after T0, cell_id[, event_type]) -> bronze-shaped frame."""
    out = []
    for r in rows:
        secs, cell = r[0], r[1]
        etype = r[2] if len(r) > 2 else "data"
        out.append((user, T0 + dt.timedelta(seconds=secs), cell, etype, "86000000", "510104",
                    "f.csv", DAY, "510104"))
    return spark.createDataFrame(out, EVENT_SCHEMA)


def located(spark, cells, rows, user=USER):
    return with_cell_position(events(spark, rows, user), cells_on_day(cells, DAY))


def run_cases(spark, cells, cases, transform):
    """Run ``transform`` once over every case (one user per case); per case, the seconds
    (from T0) of the rows it flags."""
    frames = [events(spark, rows, user=f"{name:_<20}") for name, (rows, _) in cases.items()]
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f)
    out = transform(with_cell_position(df, cells_on_day(cells, DAY)))
    got = {name: [] for name in cases}
    for r in out.where(F.col("flag")).select("user_id", "event_time").collect():
        got[r.user_id.rstrip("_")].append(int((r.event_time - T0).total_seconds()))
    return {k: sorted(v) for k, v in got.items()}


def check_cases(spark, cells, cases, transform):
    got = run_cases(spark, cells, cases, transform)
    assert got == {name: expected for name, (_, expected) in cases.items()}


def kernel_cases(cases, reason: str, **params):
    """The same cases through the production kernel (clean_kernel, numpy, no Spark): per
    case, the seconds of the rows it gives ``reason``. Rows are sorted as the daily pass
    sorts them (time, cell, event type with nulls first)."""
    import pyarrow as pa

    from mobsig import clean_kernel as K

    rows = []
    for name, (case_rows, _) in cases.items():
        for r in case_rows:
            x, y = SITES[r[1].split("-")[0]]
            rows.append({"user_id": name, "t_us": int(r[0] * 1e6), "cell_id": r[1],
                         "event_type": r[2] if len(r) > 2 else "data", "imei_tac": "86000000",
                         "home_region": "510104", "x_m": x, "y_m": y, "is_hsr": False})
    tbl = pa.Table.from_pylist(rows)
    tbl = tbl.take(pa.compute.sort_indices(tbl, sort_keys=[
        (c, "ascending") for c in ("user_id", "t_us", "cell_id", "event_type")],
        null_placement="at_start"))
    codes, _ = K.reasons_for_table(tbl, CleanConfig(**params), 10**6)
    got = {name: [] for name in cases}
    for u, t, c in zip(tbl.column("user_id").to_pylist(), tbl.column("t_us").to_pylist(),
                       codes, strict=True):
        if K.REASON_OF_CODE[c] == reason:
            got[u].append(t // 1_000_000)
    return {k: sorted(v) for k, v in got.items()}


def check_kernel_cases(cases, reason: str, **params):
    assert kernel_cases(cases, reason, **params) == {
        name: expected for name, (_, expected) in cases.items()}


# ----------------------------------------------------------------------------- duplicates


def test_exact_duplicates_flagged_once_and_near_duplicates_kept(spark, cells):
    rows = [(0, "S0-1"), (0, "S0-1"), (0, "S0-1"), (0, "S0-1", "call"), (0, "S1-1"),
            (60, "S0-1", None), (60, "S0-1", None)]
    flags: dict = {}
    for r in flag_duplicates(located(spark, cells, rows)).collect():
        key = (int((r.event_time - T0).total_seconds()), r.cell_id, r.event_type)
        flags[key] = flags.get(key, 0) + int(r.is_duplicate)
    # two extra copies of the data row, one extra copy of the null-type row; others unique
    assert flags == {(0, "S0-1", "data"): 2, (0, "S0-1", "call"): 0, (0, "S1-1", "data"): 0,
                     (60, "S0-1", None): 1}


# ----------------------------------------------------------------------------- ping-pong
# sites S<i> lie 1 km apart on a line; S5-1 and S5-2 are two sectors of one site

PINGPONG_DEFAULT = {
    "simple": ([(0, "S5-1"), (20, "S6-1", "handover"), (50, "S5-1", "handover"),
                (400, "S5-1")], [20]),
    "burst_and_several_b": ([(0, "S5-1"), (10, "S6-1", "handover"), (20, "S6-2"),
                             (30, "S4-1"), (40, "S6-1"), (70, "S5-2", "handover"),
                             (900, "S5-1")], [10, 20, 30, 40]),
    "move_that_stays": ([(0, "S5-1"), (20, "S6-1", "handover"), (50, "S6-1"), (90, "S6-2"),
                         (600, "S6-1"), (1200, "S5-1", "handover")], []),
    "sector_change_only": ([(0, "S5-1"), (20, "S5-2", "handover"), (40, "S5-1")], []),
    "return_too_late": ([(0, "S5-1"), (20, "S6-1", "handover"), (200, "S5-1", "handover")],
                        []),
    "far_excursion": ([(0, "S5-1"), (20, "S9-1", "handover"), (50, "S5-1")], []),
    "no_handover": ([(0, "S5-1"), (20, "S6-1", "data"), (50, "S5-1", "sms")], []),
    "untyped_counts_as_handover": ([(0, "S5-1"), (20, "S6-1", None), (50, "S5-1")], [20]),
    "too_many_records": ([(0, "S5-1")] + [(10 * i, "S6-1", "handover") for i in range(1, 7)]
                         + [(70, "S5-1")], []),
    "duplicate_inside": ([(0, "S5-1"), (20, "S6-1", "handover"), (20, "S6-1", "handover"),
                          (50, "S5-1")], [20]),
    "oscillation": ([(0, "S5-1"), (20, "S6-1", "handover"), (40, "S5-1", "handover"),
                     (60, "S6-1", "handover"), (80, "S5-1", "handover")], [20, 40, 60]),
    "first_record_at_b": ([(0, "S6-1", "handover"), (20, "S5-1"), (40, "S5-1")], []),
}


def pingpong_transform(**kw):
    args = {"window_s": 180, "max_records": 5, "max_dist_m": 3000.0,
            "event_types": ("handover",)}
    args.update(kw)

    def transform(df):
        dup = flag_duplicates(df)
        return flag_pingpong(dup, skip=("is_duplicate",), **args).withColumnRenamed(
            "is_pingpong", "flag")

    return transform


def test_pingpong_rules(spark, cells):
    """Table-driven: each case is one user; the seconds of the records removed. The Spark
    window form (the reference) and the kernel the daily pass runs give the same."""
    check_cases(spark, cells, PINGPONG_DEFAULT, pingpong_transform())
    check_kernel_cases(PINGPONG_DEFAULT, PINGPONG)


def test_pingpong_parameters_change_the_outcome(spark, cells):
    d = PINGPONG_DEFAULT
    check_cases(spark, cells, {"return_too_late": (d["return_too_late"][0], [20])},
                pingpong_transform(window_s=240))
    check_cases(spark, cells, {"far_excursion": (d["far_excursion"][0], [20]),
                               "no_handover": (d["no_handover"][0], [20]),
                               "too_many_records": (d["too_many_records"][0],
                                                    [10, 20, 30, 40, 50, 60])},
                pingpong_transform(max_dist_m=5000.0, event_types=(), max_records=6))
    check_kernel_cases({"return_too_late": (d["return_too_late"][0], [20])}, PINGPONG,
                       pingpong_window_s=240)


# ----------------------------------------------------------------------------- drift

DRIFT_DEFAULT = {
    "far_single": ([(0, "S5-1"), (20, "FAR-1"), (45, "S5-1"), (100, "S5-1")], [20]),
    "neighbours_seconds_apart": ([(0, "S5-1"), (5, "S6-1"), (10, "S5-1")], []),
    "car_60kmh": ([(i * 60, f"S{i}-1") for i in range(10)], []),
    "rail_900kmh": ([(i * 12, f"S{i}-1") for i in range(0, 40, 3)], []),
    "first_and_last": ([(0, "FAR-1"), (20, "S5-1"), (40, "S5-1"), (60, "FAR-1")], []),
    "slow_return_is_real": ([(0, "S5-1"), (3600, "FAR-1"), (7200, "S5-1")], []),
}


def drift_transform(vmax=120.0, min_dist=2000.0):
    def transform(df):
        return flag_drift(df, vmax, min_dist).withColumnRenamed("is_drift", "flag")

    return transform


def test_drift_rules(spark, cells):
    check_cases(spark, cells, DRIFT_DEFAULT, drift_transform())
    check_kernel_cases(DRIFT_DEFAULT, DRIFT)


def test_drift_min_distance_and_skipped_rows(spark, cells):
    near = DRIFT_DEFAULT["neighbours_seconds_apart"][0]
    check_cases(spark, cells, {"near": (near, [5])}, drift_transform(min_dist=500.0))
    # the neighbours of a row are the rows not skipped: S6 between two S5 after skipping
    rows = [(0, "S5-1"), (10, "FAR-1"), (20, "S5-1")]
    df = located(spark, cells, rows).withColumn(
        "skip", F.col("cell_id") == "S5-1")
    out = flag_drift(df, 120.0, 2000.0, skip=("skip",))
    assert out.where("is_drift").count() == 0  # FAR has no live neighbours left


# ----------------------------------------------------------------------------- cells, heavy users


def test_cell_version_valid_on_the_day_is_joined(spark):
    rows = [("C1", None, dt.date(2026, 5, 31), 104.0, 30.0, 0.0, 0.0, 500.0),
            ("C1", dt.date(2026, 6, 1), None, 104.1, 30.1, 10_000.0, 0.0, 600.0),
            ("C2", dt.date(2026, 6, 2), None, 104.2, 30.2, 20_000.0, 0.0, 700.0)]
    cells = spark.createDataFrame(rows, CELL_SCHEMA)
    ev = events(spark, [(0, "C1"), (10, "C2")])
    out = {r.cell_id: (r.x_m, r.spacing_m)
           for r in with_cell_position(ev, cells_on_day(cells, DAY)).collect()}
    assert out == {"C1": (10_000.0, 600.0), "C2": (None, None)}


def test_annotate_accounts_for_every_row(spark, cells):
    normal = [(0, "S5-1"), (0, "S5-1"), (20, "S6-1", "handover"), (50, "S5-1", "handover"),
              (80, "FAR-1"), (100, "S5-1"), (130, "NOPE-1"), (200, "S5-1")]
    heavy = [(i, "S1-1") for i in range(12)] + [(3, "S1-1"), (5, "S2-1", "handover"),
                                                 (6, "S1-1")]
    ev = events(spark, normal, user="n" * 20).unionByName(events(spark, heavy, user="h" * 20))
    loc = with_cell_position(ev, cells_on_day(cells, DAY))
    hv = heavy_users(ev, 10)
    assert [r.user_id for r in hv.collect()] == ["h" * 20]
    params = CleanConfig()
    out = annotate_events(loc, hv, params)
    assert out.count() == ev.count()
    got = {}
    for r in out.collect():
        key = (r.user_id[0], int((r.event_time - T0).total_seconds()), r.cell_id)
        got.setdefault(key, []).append((r[DROP_REASON], r.is_heavy_user))
    assert sorted(got[("n", 0, "S5-1")], key=str) == [(DUPLICATE, False), (None, False)]
    assert got[("n", 20, "S6-1")] == [(PINGPONG, False)]
    assert got[("n", 80, "FAR-1")] == [(DRIFT, False)]
    assert got[("n", 130, "NOPE-1")] == [(UNLOCATED, False)]
    assert got[("n", 200, "S5-1")] == [(None, False)]
    # heavy user: one duplicate removed, the A-B-A pattern kept (no per-user cleaning)
    assert sorted(got[("h", 3, "S1-1")], key=str) == [(DUPLICATE, True), (None, True)]
    assert got[("h", 5, "S2-1")] == [(None, True)]
    heavy_kept = [k for k, v in got.items() if k[0] == "h" for x in v if x[0] is None]
    assert len(heavy_kept) == 13


def test_heavy_users_are_split_off_by_broadcast_joins(spark, cells):
    ev = events(spark, [(i, "S1-1") for i in range(5)], user="h" * 20).unionByName(
        events(spark, [(0, "S1-1")], user="n" * 20))
    loc = with_cell_position(ev, cells_on_day(cells, DAY))
    out = annotate_events(loc, heavy_users(ev, 3), CleanConfig())
    plan = out._jdf.queryExecution().executedPlan().toString()
    # heavy users go one way (semi join), everyone else the other (anti join), both
    # against the broadcast set of heavy ids, before the per-user window
    assert "LeftSemi" in plan and "LeftAnti" in plan and "BroadcastHashJoin" in plan
    flags = {(r.user_id[0], r.is_heavy_user) for r in out.collect()}
    assert flags == {("h", True), ("n", False)}


def test_config_rejects_bad_clean_parameters():
    from mobsig.config import build_config
    from mobsig.errors import ConfigError

    with pytest.raises(ConfigError, match="pingpong_max_records"):
        build_config({"clean": {"pingpong_max_records": 0}})
    cfg = build_config({}, ["clean.pingpong_event_types="])
    assert cfg.clean.pingpong_event_types == ()
    assert dataclasses.asdict(CleanConfig())["drift_min_dist_m"] == 2000.0


# ----------------------------------------------------------------------------- the job on the city


@pytest.fixture(scope="module")
def cleaned_city(spark, chain):
    """Two days of the shared pipeline run (one with the heavy card): their clean_stays
    results and run records, and their truth rows."""
    import json

    import pandas as pd

    from mobsig.io.catalog import Catalog

    res, cfg, runs = chain
    truth = pd.read_parquet(res.out / "truth/events")
    truth["dt"] = truth["dt"].astype(str)
    truth = truth[~truth["label"].str.startswith("malformed")].copy()
    per_user_day = truth.groupby(["dt", "user_id"]).size()
    heavy_day = dt.date.fromisoformat(per_user_day.idxmax()[0])
    days = sorted({res.days[0], heavy_day})
    truth = truth[truth["dt"].isin([d.isoformat() for d in days])].copy()
    truth["ts"] = pd.to_datetime(truth["event_time"], format="ISO8601")
    recs = read_runs(Catalog(spark, cfg.warehouse)).where("job = 'clean_stays'").toPandas()
    out, records = {}, {}
    for d in days:
        out[d] = runs.of("clean_stays", d)
        done = recs[(recs["partition"] == f"dt={d}") & (recs["status"] == "succeeded")]
        row = done.sort_values("ended_at").iloc[-1]  # not its `started` row
        records[d] = {"input_rows": json.loads(row["input_rows"]),
                      "output_rows": json.loads(row["output_rows"])}
    return cfg, days, heavy_day, truth, out, records


def _clean_frame(spark, cfg, days):
    from mobsig.io.catalog import Catalog

    return Catalog(spark, cfg.warehouse).read("events_clean", dt=days)


@pytest.mark.slow
def test_city_faults_removed_and_normal_records_kept(spark, cleaned_city):
    cfg, days, _, truth, _, _ = cleaned_city
    clean = _clean_frame(spark, cfg, days).select("user_id", "event_time", "cell_id").toPandas()
    clean = clean.rename(columns={"event_time": "ts"})
    key = ["user_id", "ts", "cell_id"]
    n_out = clean.groupby(key).size().rename("n_out")
    t = truth.join(n_out, on=key)
    gone = t["n_out"].isna()
    share = {lab: float(gone[t["label"] == lab].mean()) for lab in ("pingpong", "drift",
                                                                  "normal")}
    assert (t["label"] == "pingpong").sum() > 50 and (t["label"] == "drift").sum() > 5
    assert share["pingpong"] >= 0.95, share
    assert share["drift"] >= 0.95, share
    assert share["normal"] < 0.01, share
    # every clean row is a delivered row
    assert clean.set_index(key).index.isin(truth.set_index(key).index).all()


@pytest.mark.slow
def test_city_duplicates_all_removed_and_rows_reconcile(spark, cleaned_city):
    cfg, days, heavy_day, truth, out, records = cleaned_city
    raw = ["user_id", "ts", "cell_id", "event_type", "imei_tac", "home_region"]
    for d in days:
        td = truth[truth["dt"] == d.isoformat()]
        expected_dups = len(td) - len(td.drop_duplicates(raw))
        res = out[d]
        n_clean = res.output_rows["events_clean"]
        assert res.removed["duplicate"] == expected_dups
        assert res.input_rows["events_bronze"] == n_clean + sum(res.removed.values())
        rec = records[d]["output_rows"]
        assert rec["events_clean"] == n_clean
        assert rec["removed_duplicate"] == expected_dups
        assert records[d]["input_rows"]["events_bronze"] == res.input_rows["events_bronze"]
    clean = _clean_frame(spark, cfg, days)
    assert clean.count() == clean.dropDuplicates(
        ["user_id", "event_time", "cell_id", "event_type", "imei_tac", "home_region"]).count()
    # the heavy card: kept (de-duplicated only) and flagged
    assert out[heavy_day].facts["heavy_users"] == 1
    assert out[heavy_day].facts["heavy_rows"] > 20000
    heavy = clean.where((F.col("dt") == heavy_day) & F.col("is_heavy_user"))
    assert heavy.select("user_id").distinct().count() == 1


@pytest.mark.slow
def test_city_gate_blocks_a_too_high_removed_share(spark, cleaned_city):
    from mobsig.errors import DataQualityError
    from mobsig.io.catalog import Catalog
    from mobsig.runner import run

    cfg, days, _, _, _, _ = cleaned_city
    d = days[0]
    catalog = Catalog(spark, cfg.warehouse)
    version = catalog.version("events_clean")
    strict = cfg.replace(clean=dataclasses.replace(cfg.clean, max_removed_share=0.001))
    with pytest.raises(DataQualityError, match="expect_table_row_count_to_be_between"):
        run(spark, strict, "clean_stays", day=d)
    assert catalog.version("events_clean") == version
