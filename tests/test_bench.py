"""mobsig bench: the report's fields, the scaling exponent and the skewed day."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math

import pytest

from mobsig.errors import ConfigError
from mobsig.tools import bench as B
from tests.conftest import make_config


def test_scaling_exponent():
    assert B.scaling_exponent([1e6, 1e7, 3e7], [10 * (n / 1e6) ** 0.8 for n in
                                                 (1e6, 1e7, 3e7)]) == pytest.approx(0.8)
    assert B.scaling_exponent([1e6], [10.0]) is None
    assert B.scaling_exponent([1e6, 1e6], [10.0, 12.0]) is None


def test_scaling_of_results():
    runs = [{"day": day, "events": n, "chain_s": 2.0 * (n / 1e6) ** b, "io_floor_s": n / 1e6}
            for day, b in (("uniform", 0.9), ("skewed", 1.2)) for n in (1e6, 1e7, 3e7)]
    sc = B.scaling(runs[:4])  # three uniform sizes, one skewed
    assert sc["uniform"]["sizes"] == 3
    assert sc["uniform"]["chain"] == pytest.approx(0.9)
    assert sc["uniform"]["io_floor"] == pytest.approx(1.0)
    assert sc["skewed"] == {"sizes": 1, "chain": None, "io_floor": None}
    assert B.scaling(runs)["skewed"]["chain"] == pytest.approx(1.2)


def test_cores_needed_from_rate_and_exponent():
    # 10^5 events/s/core, linear: 3x10^11 events in 4 h need 3e11 / (1e5 x 14,400) cores
    assert B.cores_needed(3e11, 1e5, 1e7, 1.0) == math.ceil(3e11 / (1e5 * 14400))
    # b < 1 (fixed costs) is not extrapolated into cheaper big days
    assert B.cores_needed(3e11, 1e5, 1e7, 0.8) == B.cores_needed(3e11, 1e5, 1e7, 1.0)
    # b = 1.1: per-event cost grows 30,000^0.1 ~ 2.8x from 10^7 to 3x10^11
    assert B.cores_needed(3e11, 1e5, 1e7, 1.1) == math.ceil(
        3e11 / (1e5 / 30000 ** 0.1 * 14400))
    z = B.sizing([{"day": "uniform", "events": 10**7, "events_per_s_per_core": 10**5}],
                 {"uniform": {"chain": None}})
    assert z["cores"] == {"province": math.ceil(1e10 / (1e5 * 14400)),
                          "nation": math.ceil(3e11 / (1e5 * 14400))}


def test_skew_option():
    p = argparse.ArgumentParser()
    B.add_arguments(p)
    assert B.skew_sizes(p.parse_args(["--sizes", "1e6,1e7"])) == []
    assert B.skew_sizes(p.parse_args(["--sizes", "1e6,1e7", "--skew"])) == [10**6, 10**7]
    assert B.skew_sizes(p.parse_args(["--sizes", "1e6,1e7", "--skew", "1e7"])) == [10**7]
    with pytest.raises(ConfigError, match="not among --sizes"):
        B.skew_sizes(p.parse_args(["--sizes", "1e6", "--skew", "3e7"]))
    assert B.carried_sizes(p.parse_args(["--sizes", "1e6,1e7"])) == []
    assert B.carried_sizes(p.parse_args(["--sizes", "1e6,1e7", "--carried"])) == [10**6,
                                                                                   10**7]
    assert B.carried_sizes(p.parse_args(["--sizes", "1e6,1e7", "--carried", "1e7"])) == [
        10**7]
    with pytest.raises(ConfigError, match="--carried: .* not among --sizes"):
        B.carried_sizes(p.parse_args(["--sizes", "1e6", "--carried", "3e7"]))
    assert B.skew_card_events(10**7) == 10**6 and B.skew_card_events(3 * 10**7) == 10**6
    assert B.skew_card_events(20_000) == 2_000


def test_setup_key_follows_the_set_up_inputs(tmp_path):
    """Days share set-up tables only when the files ingest_units and ingest_cells read are
    byte-identical."""
    def day(name: str, units: str, cells: str):
        d = tmp_path / name
        for rel, text in zip(B.SETUP_INPUTS, (units, cells), strict=True):
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(text, "utf-8")
        return d

    a = B.setup_key(day("a", '{"type": "FeatureCollection"}', "cell_id\nc1\n"))
    assert a == B.setup_key(day("b", '{"type": "FeatureCollection"}', "cell_id\nc1\n"))
    assert a != B.setup_key(day("c", '{"type": "FeatureCollection"}', "cell_id\nc2\n"))
    assert a != B.setup_key(day("d", '{"type": "FeatureCollection" }', "cell_id\nc1\n"))


@pytest.mark.job
def test_bench_report_and_skewed_day(spark, tmp_path):
    from pyspark.sql import functions as F

    out = tmp_path / "bench"
    # no warm-up run: the exponent of two tiny sizes is noise anyway, only its presence counts
    # one uniform and one skewed day (the exponent over several sizes: test_scaling_of_results)
    report = B.bench(spark, make_config(tmp_path), [20_000], out, skew=[20_000],
                     keep=True, warmup=False, carried=[20_000])
    saved = json.loads((out / "bench.json").read_text("utf-8"))
    assert saved["results"] == report["results"]
    for key in ("cores", "mem_gib", "python", "spark", "driver_memory",
                "shuffle_partitions", "date"):
        assert saved["machine"][key], key
    md = (out / "bench.md").read_text("utf-8")
    assert "| day | raw events |" in md and "Skewed day of" in md and "no warm-up" in md
    assert report["warmup"] is None
    assert [(r["day"], r["target_events"]) for r in report["results"]] == [
        ("uniform", 20_000), ("carried", 20_000), ("skewed", 20_000)]
    # the carried day is the uniform day's next day, run behind its carry
    first, nxt = report["results"][0], report["results"][1]
    assert dt.date.fromisoformat(nxt["date"]) == dt.date.fromisoformat(first["date"]) + \
        dt.timedelta(days=1)
    assert first["facts"]["clean_stays"]["carry_in"] == 0 < nxt["carry_in"]
    assert "Carried day of" in md
    assert report["sizing"]["day"] == "carried"
    # the skewed day's unit layer and cell table are the uniform day's, byte for byte: its
    # units and cells tables are copies of the uniform day's (set-up, not the timed chain)
    assert [r["setup_reused"] for r in report["results"]] == [False, True, True]
    assert report["results"][2]["setup_s"] < report["results"][0]["setup_s"]
    for t in B.SETUP_TABLES:
        a, b = ({p.relative_to(out / d): p.read_bytes()
                 for p in (out / d / "warehouse" / t).rglob("*") if p.is_file()}
                for d in ("size-20000", "size-20000-skew"))
        assert a and a == b, t
    for r in report["results"]:
        # the uniform tiny days are not dominated by the 30,000-event heavy test card
        assert 0.5 * r["target_events"] < r["events"] < 1.5 * r["target_events"]
        assert set(r["stages_s"]) == set(B.DAILY_STAGES) == set(r["stage_peak_rss_gib"])
        assert all(v > 0 for v in r["stages_s"].values())
        assert r["chain_s"] == pytest.approx(sum(r["stages_s"].values()), abs=0.05)
        for key in ("events_per_s_per_core", "io_floor_s", "io_floor_events_per_s_per_core",
                    "chain_over_floor", "rss_start_gib", "peak_rss_gib",
                    "io_floor_peak_rss_gib"):
            assert r[key] > 0, key
        assert r["peak_rss_gib"] == max(r["stage_peak_rss_gib"].values())
        for parts in r["stage_peak_rss_by_process_gib"].values():
            assert set(parts) == {"jvm", "driver", "workers"} and parts["jvm"] > 0
    assert report["scaling"] == {k: {"sizes": 1, "chain": None, "io_floor": None}
                                 for k in ("uniform", "carried", "skewed")}  # n/a
    assert "chain b = n/a" in md
    assert report["sizing"]["at_events"] == report["results"][1]["events"]
    assert "| nation | 3e+11 |" in md
    assert all(r["shuffle_partitions"] >= 1 for r in report["results"])
    assert B.shuffle_partitions(3 * 10**7, 4) == 12 and B.shuffle_partitions(10**6, 4) == 4

    skewed = report["results"][2]
    k = skewed["skew"]
    assert k["card_target_events"] == 2_000
    # the generator's heavy card: its events (a few duplicated or made malformed) ...
    assert k["card_events"] == pytest.approx(2_000, rel=0.03)
    assert k["card_share"] == pytest.approx(2_000 / skewed["events"], abs=0.002)
    # ... and its cell, topped up with whole cards to 10 % of the day
    assert _cell_share_ok(k["cell_share"])
    assert isinstance(skewed["flat_memory"], bool) and skewed["peak_rss_vs_uniform"] > 0
    # the files really hold it: count the raw rows again
    raw = spark.read.option("header", True).csv(str(out / "size-20000-skew/raw/events"))
    n = raw.agg(F.count(F.lit(1)).alias("n"),
                F.sum((F.col("user_id") == k["card"]).cast("int")).alias("card"),
                F.sum((F.col("cell_id") == k["cell"]).cast("int")).alias("cell")).first()
    assert (n["n"], n["card"], n["cell"]) == (skewed["events"], k["card_events"],
                                              k["cell_events"])
    assert n["card"] / n["n"] == pytest.approx(B.SKEW_SHARE, abs=0.02)
    cells = spark.read.option("header", True).csv(
        str(out / "size-20000-skew/raw/cells/cells.csv"))
    assert cells.where(F.col("cell_id") == k["cell"]).count() == 1


def _cell_share_ok(share: float) -> bool:
    return B.SKEW_SHARE - 0.001 <= share <= B.SKEW_SHARE + 0.005


def test_bench_hazard_points_cover_the_city_disk():
    """--hazards N: N points uniform over the 22 km disk, every tenth with 1000 m, as
    mobsig.hazards gives them (the stage itself ran in the README's 10^7 measurement)."""
    import numpy as np

    from mobsig import hazards

    pts = B.hazard_points(1000, 104.06, 30.66)
    assert len(pts) == 1000 and pts["unit_id"].is_unique
    assert (pts["buffer_m"] == 1000.0).sum() == 100 and set(pts["buffer_m"]) == {500.0, 1000.0}
    dx = (pts["lon"] - 104.06) * pts["_mx"]
    dy = (pts["lat"] - 30.66) * pts["_my"]
    r = np.hypot(dx, dy)
    assert r.max() <= 22_000 * 1.001 and np.median(r) > 0.6 * 22_000  # uniform in area
    _, _, grid = hazards.grid_of(pts)
    assert grid.groupby("_p").size().between(1, 9).all()
    with pytest.raises(ConfigError, match="--hazards"):
        B.validate(argparse.Namespace(sizes="1e6", skew=None, hazards=-1), None)
