"""clean_kernel: the numpy cleaning rules against clean.annotate_events on Spark, row for row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import clean
from mobsig import clean_kernel as K
from mobsig.config import CleanConfig
from tests.factories import EVENT_SCHEMA

T0 = dt.datetime(2026, 6, 1, 0, 0, 0)
T0_US = 1_780_272_000_000_000  # an epoch in the range of real days (2026)

# the raw columns of a bronze row (tests.factories.EVENT_SCHEMA), then a located cell
LOCATED_SCHEMA = T.StructType([
    *EVENT_SCHEMA.fields[:6],
    T.StructField("x_m", T.DoubleType(), True),
    T.StructField("y_m", T.DoubleType(), True),
    T.StructField("is_hsr", T.BooleanType(), True),
])
RAW = list(clean.RAW_KEY)
KERNEL_TABLE = pa.schema([("user_id", pa.string()), ("t_us", pa.int64()),
                          ("cell_id", pa.string()), ("event_type", pa.string()),
                          ("imei_tac", pa.string()), ("home_region", pa.string()),
                          ("x_m", pa.float64()), ("y_m", pa.float64()),
                          ("is_hsr", pa.bool_())])

# parameter sets, each run over its own seeds (user ids are prefixed by the set)
PARAMS = {
    "a": dataclasses.replace(CleanConfig(), pingpong_max_records=2, pingpong_window_s=120,
                             pingpong_max_dist_m=2500.0, heavy_user_events_per_day=45),
    "b": dataclasses.replace(CleanConfig(), heavy_user_events_per_day=60),
    "c": dataclasses.replace(CleanConfig(), pingpong_max_records=1, pingpong_event_types=(),
                             drift_vmax_hsr_kmh=120.0, drift_min_dist_m=0.0,
                             heavy_user_events_per_day=35),
}
SEEDS_PER_SET = 20


# --------------------------------------------------------------------------------------
# a random day


def _sites(rng, p: CleanConfig) -> tuple[dict, dict]:
    """cell_id -> (x, y, is_hsr) or None (unlocated), sectors of a site sharing (x, y); and
    the site names by kind (home, near, bound, far, rail, none)."""
    x0, y0 = rng.uniform(-80_000, 80_000), rng.uniform(-80_000, 80_000)
    kinds: dict = {"home": [(x0, y0)], "near": [], "bound": [], "far": [], "rail": []}
    for r in rng.uniform(200, 2400, 6):
        a = rng.uniform(0, 2 * math.pi)
        kinds["near"].append((x0 + r * math.cos(a), y0 + r * math.sin(a)))
    dmin = p.drift_min_dist_m if p.drift_min_dist_m > 0 else 2000.0
    for d in (p.pingpong_max_dist_m, dmin):  # at the distance bounds from home
        a = rng.uniform(0, 2 * math.pi)
        dx = d * math.cos(a)
        kinds["bound"] += [(x0 + dx, y0 + math.copysign(math.sqrt(d * d - dx * dx), math.sin(a))),
                           (x0 + d, y0), (x0, y0 - d), (x0 + d * 0.6, y0 + d * 0.8)]
    for r in rng.uniform(4_000, 40_000, 4):
        a = rng.uniform(0, 2 * math.pi)
        kinds["far"].append((x0 + r * math.cos(a), y0 + r * math.sin(a)))
    kinds["rail"] = [(x0 + 3000.0 * h, y0 + 150.0) for h in range(5)]  # HSR, 3 km apart
    for kind, d in edge_targets(p).items():
        kinds[kind] = _ulp_sites(rng, x0, y0, d)
    cells: dict = {}
    names: dict = {}
    s = 0
    for kind, positions in kinds.items():
        for x, y in positions:
            site = f"h{s:02d}" if kind in ("rail", "edge_v_hsr") else f"c{s:02d}"
            names.setdefault(kind, []).append(site)
            sectors = 1 if kind == "rail" or kind.startswith("edge") \
                else 1 + int(rng.integers(0, 3))
            for sector in range(sectors):
                hsr = kind in ("rail", "edge_v_hsr") or (
                    not kind.startswith("edge") and bool(rng.random() < 0.05))
                cells[f"{site}_{sector}"] = (float(x), float(y), hsr)
            s += 1
    names["none"] = []
    for u in range(3):  # unknown cells; "a.." sort before the located cells
        for prefix in ("zz", "a"):
            cells[f"{prefix}{u}"] = None
            names["none"].append(f"{prefix}{u}")
    return cells, names


EDGE_SECS = 100  # the time of a leg to an edge_v site


def edge_targets(p: CleanConfig) -> dict[str, float]:
    """The distances (from home) at which a comparison of the rules flips: ping-pong
    ``<= max_dist``, drift ``> min_dist``, and a leg of EDGE_SECS seconds ``d > secs *
    (v / 3.6)`` at the public and the HSR limit."""
    out = {"edge_pp": float(p.pingpong_max_dist_m),
           "edge_v": EDGE_SECS * (p.drift_vmax_kmh / 3.6),
           "edge_v_hsr": EDGE_SECS * (p.drift_vmax_hsr_kmh / 3.6)}
    if p.drift_min_dist_m > 0:
        out["edge_min"] = float(p.drift_min_dist_m)
    return out


def _ulp_sites(rng, x0: float, y0: float, d: float) -> list[tuple[float, float]]:
    """Positions whose distance from (x0, y0), as Spark computes it (java_hypot of the
    coordinate differences), is one ulp below, exactly or one ulp above ``d``; where
    possible ones on which numpy.hypot lands on the other side of ``d``."""
    a = rng.uniform(0, 2 * math.pi, 20_000)
    xs, ys = x0 + d * np.cos(a), y0 + d * np.sin(a)
    h = K.java_hypot(xs - x0, ys - y0)
    hn = np.hypot(xs - x0, ys - y0)
    out = []
    for target in (np.nextafter(d, 0.0), d, np.nextafter(d, np.inf)):
        hit = np.flatnonzero(h == target)
        flips = hit[(hn[hit] <= d) != (h[hit] <= d)]
        for i in np.r_[flips[:2], hit[:1]]:
            out.append((float(xs[i]), float(ys[i])))
    return out


ETYPES = ["handover", "handover", "data", "call", "sms", None, "tau"]


def _user_rows(rng, p: CleanConfig, cells: dict, names: dict, n_max: int) -> list[tuple]:
    """(t_us, cell_id, event_type, imei_tac, home_region) of one user's day."""
    by_site: dict = {}
    for c, v in cells.items():
        if v is not None:
            by_site.setdefault(c.split("_")[0], []).append(c)
    located_sites = sorted(by_site)

    def pick(seq):
        return seq[int(rng.integers(0, len(seq)))]

    def cell_at(site):
        return pick(by_site[site])

    def etype():
        return pick(ETYPES)

    def micros():  # sometimes a sub-second part
        return int(rng.integers(0, 1_000_000)) if rng.random() < 0.3 else 0

    def secs(lo, hi):
        return int(rng.integers(lo, hi)) * 1_000_000

    tac = "86000000" if rng.random() < 0.8 else None
    region = "510104" if rng.random() < 0.8 else None
    rows: list[tuple] = []

    def add(t_us, cell, et, tac_=tac):
        rows.append((int(t_us), cell, et, tac_, region if rng.random() < 0.95 else None))

    def position_before():
        return next((cells[r[1]] for r in reversed(rows) if cells[r[1]] is not None), None)

    window_us = int(p.pingpong_window_s) * 1_000_000
    k = p.pingpong_max_records
    home = names["home"][0]
    cur = home
    t = T0_US + secs(0, 6 * 3600)
    ops = ["stay", "pingpong", "pingpong", "pingpong", "move", "drift", "drift", "fast",
           "dup", "simul", "unloc", "hsr", "dupexc", "edge", "edge"]
    edges = [kind for kind in edge_targets(p) if names.get(kind)]
    while len(rows) < n_max:
        op = pick(ops)
        if op == "stay":
            for _ in range(int(rng.integers(1, 5))):
                t += secs(5, 900) + micros()
                add(t, cell_at(cur), etype())
        elif op in ("pingpong", "dupexc"):
            start = t
            for _ in range(int(rng.integers(1, k + 3))):
                hop = pick(located_sites) if rng.random() < 0.15 else pick(
                    names["near"] + names["bound"])
                t += secs(2, 50) + micros()
                add(t, cell_at(hop), "handover" if rng.random() < 0.4 else etype())
                if op == "dupexc":  # a run of copies inside the excursion
                    rows.extend([rows[-1]] * int(rng.integers(1, 2 * k + 3)))
                if rng.random() < 0.15:
                    add(t + secs(0, 3), pick(names["none"]), etype())
            back = rng.random()
            if back < 0.25:  # back exactly at the window, or a microsecond either side
                t = max(t, start + window_us + int(rng.integers(-1, 2)))
            elif back < 0.8:
                t += secs(2, 60) + micros()
            else:
                t += secs(60, 400)
            add(t, cell_at(cur if rng.random() < 0.85 else home), etype())
        elif op == "move":
            cur = pick(located_sites)
            t += secs(30, 3600) + micros()
            add(t, cell_at(cur), etype())
        elif op == "drift":
            far = pick(names["far"] + names["bound"])
            cx, cy, _ = cells[by_site[cur][0]]
            fx, fy, _ = cells[by_site[far][0]]
            vmax = p.drift_vmax_hsr_kmh if rng.random() < 0.3 else p.drift_vmax_kmh
            if rng.random() < 0.35:  # a leg right at a speed limit
                gap = int(round(math.hypot(fx - cx, fy - cy) / (vmax / 3.6) * 1e6))
                gap += int(rng.integers(-1, 2))
            else:
                gap = secs(1, 120) + micros()
            t += max(gap, 0)
            add(t, cell_at(far), etype())
            t += gap if rng.random() < 0.5 else secs(0, 4000)
            add(t, cell_at(cur), etype())
        elif op == "fast":  # a car or a train: every leg fast
            kmh = rng.uniform(80, 420)
            for _ in range(int(rng.integers(2, 6))):
                site = pick(names["rail"]) if rng.random() < 0.6 else pick(located_sites)
                cell = cell_at(site)
                prev = position_before()
                if prev is not None:
                    d = math.hypot(cells[cell][0] - prev[0], cells[cell][1] - prev[1])
                    t += int(d / (kmh / 3.6) * 1e6)
                add(t, cell, etype())
                cur = site
        elif op == "dup" and rows:
            rows.extend([pick(rows[-5:])] * int(rng.integers(1, 4)))
        elif op == "simul":  # same time, another place (or the same cell, another type)
            add(t, cell_at(pick(located_sites)) if rng.random() < 0.7 or not rows
                else rows[-1][1], etype())
        elif op == "edge" and edges:  # home -> a site at a bound -> home
            kind = pick(edges)
            site = pick(names[kind])
            t = (t // 1_000_000 + 1) * 1_000_000 + secs(60, 600)  # whole seconds
            leg = {"edge_pp": 20, "edge_min": 5}.get(kind, EDGE_SECS) * 1_000_000
            add(t, cell_at(home), etype())
            add(t + leg, cell_at(site), "handover" if kind == "edge_pp" else "data")
            t += 2 * leg
            add(t, cell_at(home), etype())
            cur = home
        elif op == "unloc":
            t += secs(0, 60)
            add(t, pick(names["none"]), etype())
        elif op == "hsr":
            for h in range(int(rng.integers(1, 4))):
                t += secs(10, 80) + micros()
                add(t, cell_at(pick(names["rail"])), etype(), None if h else tac)
    return rows[:n_max]


def random_day(set_name: str, seed: int, p: CleanConfig) -> list[tuple]:
    """Located rows (LOCATED_SCHEMA order) of a few users; one heavy (rows > heavy_max),
    one exactly at heavy_max (not heavy)."""
    rng = np.random.default_rng(seed)
    cells, names = _sites(rng, p)
    hm = p.heavy_user_events_per_day
    sizes = [hm + 1 + int(rng.integers(0, 10)), hm] + [int(rng.integers(3, hm + 1))
                                                       for _ in range(4)]
    out = []
    for u, size in enumerate(sizes):
        user = f"{set_name}{seed:03d}u{u}"
        for t_us, cell, et, tac, region in _user_rows(rng, p, cells, names, size):
            pos = cells[cell]
            x, y, hsr = pos if pos is not None else (None, None, None)
            if pos is not None and not hsr and rng.random() < 0.5:
                hsr = None  # null is_hsr = public cell
            out.append((user, T0 + dt.timedelta(microseconds=t_us - T0_US), cell, et, tac,
                        region, x, y, hsr))
    return out


# --------------------------------------------------------------------------------------
# running both sides


def _sorted_arrow(df) -> pa.Table:
    """The rows as the fused job sees them: shuffled by user, sorted within partitions."""
    return (df.repartition(2, "user_id")
            .sortWithinPartitions(*[F.col(c).asc_nulls_first() for c in RAW])
            .toArrow())


def _key(row: dict) -> tuple:
    return tuple(row[c] for c in RAW)


def numpy_side(tbl: pa.Table, params: CleanConfig) -> dict:
    codes, heavy = K.reasons_for_table(tbl, params, params.heavy_user_events_per_day)
    rows = tbl.select(RAW).to_pylist()
    got: dict = {}
    for r, c, h in zip(rows, codes.tolist(), heavy.tolist(), strict=True):
        got.setdefault(_key(r), Counter())[(K.REASON_OF_CODE[c], h)] += 1
    return got


def spark_side(df, params: CleanConfig):
    heavy = clean.heavy_users(df, params.heavy_user_events_per_day)
    return clean.annotate_events(df, heavy, params).select(
        *RAW, clean.DROP_REASON, "is_heavy_user")


def _by_key(rows: list[dict]) -> dict:
    got: dict = {}
    for r in rows:
        got.setdefault(_key(r), Counter())[(r[clean.DROP_REASON], r["is_heavy_user"])] += 1
    return got


def test_kernel_equals_spark_annotate_events_on_random_days(spark, monkeypatch):
    """60 random days (3 parameter sets x 20 seeds, 6 users each, ~11,000 rows): the
    kernel's (reason, is_heavy_user) equals annotate_events' for every group of identical
    rows. Spark runs twice: annotate_events of all sets in one job, the sort in another."""
    frames = {name: spark.createDataFrame(
        [r for s in range(SEEDS_PER_SET) for r in random_day(name, s, p)], LOCATED_SCHEMA)
        for name, p in PARAMS.items()}
    annotated = [spark_side(df, PARAMS[name]) for name, df in frames.items()]
    expected = _by_key(_union(annotated).toArrow().to_pylist())
    tbl = _sorted_arrow(_union(list(frames.values())))
    users = np.array(tbl.column("user_id").to_pylist())
    parts = {name: tbl.filter(pa.array(np.char.startswith(users.astype(str), name)))
             for name in PARAMS}

    def kernel_side() -> dict:
        got: dict = {}
        for name, p in PARAMS.items():
            got.update(numpy_side(parts[name], p))
        return got

    got = kernel_side()
    assert set(got) == set(expected)
    bad = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert not bad, f"{len(bad)} of {len(expected)} keys differ, e.g. {list(bad.items())[:5]}"
    # the days exercise every rule ...
    totals: Counter = Counter()
    for c in expected.values():
        totals.update(c)
    assert sum(totals.values()) > 9000
    for reason in clean.REASONS:
        assert totals[(reason, False)] >= 30, totals
    assert totals[(clean.DUPLICATE, True)] >= 10 and totals[(None, True)] >= 500, totals
    # ... and its bounds to the last bit: numpy's own hypot gets some rows wrong
    monkeypatch.setattr(K, "java_hypot", np.hypot)
    wrong = kernel_side()
    assert sum(wrong[k] != expected[k] for k in expected) >= 10


def _union(frames: list):
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def test_java_hypot_is_sparks_hypot(spark):
    rng = np.random.default_rng(7)
    n = 20_000
    x = np.concatenate([rng.uniform(-5000, 5000, n), [0.0, -0.0, 3000.0, 1800.0, 5e-324,
                                                      1e300, 1e-300, 2.0 ** -1030]])
    y = np.concatenate([rng.uniform(-5000, 5000, n), [0.0, 0.0, 0.0, -2400.0, 7e-324,
                                                      3e299, 1e-310, 2.0 ** -1040]])
    tbl = pa.table({"i": np.arange(len(x)), "x": x, "y": y})
    out = (spark.createDataFrame(tbl.to_pandas()).select("i", F.hypot("x", "y").alias("h"))
           .toArrow().sort_by("i"))
    h = out.column("h").to_numpy()
    mine = K.java_hypot(x, y)
    assert np.array_equal(h.view(np.int64), mine.view(np.int64))
    # the C library's hypot is not the same function: the port is needed
    assert (np.hypot(x, y) != h).sum() > 100


# --------------------------------------------------------------------------------------
# hand-built cases


def kernel(rows, params=None, heavy_max=100):
    """rows: (user, seconds, cell, event_type[, x, y, hsr]) already sorted; cells by name:
    'S<i>' at (1000 i, 0), 'U' unlocated. Reasons as strings (None = kept), heavy flags."""
    out = []
    for r in rows:
        user, secs, cell, et = r[:4]
        x, y = (None, None) if cell == "U" else (1000.0 * int(cell[1:].split("-")[0]), 0.0)
        out.append({"user_id": user, "t_us": T0_US + int(round(secs * 1e6)), "cell_id": cell,
                    "event_type": et, "imei_tac": "86", "home_region": "510104",
                    "x_m": x, "y_m": y, "is_hsr": r[4] if len(r) > 4 else None})
    tbl = pa.Table.from_pylist(out, schema=KERNEL_TABLE)
    codes, heavy = K.reasons_for_table(tbl, params or CleanConfig(), heavy_max)
    return [K.REASON_OF_CODE[c] for c in codes], heavy.tolist()


PP, DUP, DR, UNL = clean.PINGPONG, clean.DUPLICATE, clean.DRIFT, clean.UNLOCATED


def test_pingpong_excursion_and_window_bound():
    rows = [("u", 0, "S5-1", "data"), ("u", 20, "S6-1", "handover"), ("u", 180, "S5-2", None)]
    assert kernel(rows)[0] == [None, PP, None]
    rows[2] = ("u", 180.000001, "S5-2", None)  # one microsecond past the window
    assert kernel(rows)[0] == [None, None, None]
    # A -> B -> C -> A with an unlocated row inside: it neither counts nor breaks
    rows = [("u", 0, "S5-1", "data"), ("u", 10, "S6-1", "data"), ("u", 11, "U", "data"),
            ("u", 12, "S4-1", "handover"), ("u", 30, "S5-1", "data")]
    assert kernel(rows, dataclasses.replace(CleanConfig(), pingpong_max_records=2))[0] == [
        None, PP, UNL, PP, None]


def test_copies_count_toward_the_pingpong_frame():
    """Spark's frame spans 2 (k + 1) rows, duplicates included: an excursion whose copies
    push the return beyond it is not seen (reproduced, not a rule of the docstring)."""
    p = dataclasses.replace(CleanConfig(), pingpong_max_records=2)  # span 6 rows
    b = ("u", 20, "S6-1", "handover")
    fits = [("u", 0, "S5-1", "data")] + [b] * 5 + [("u", 40, "S5-1", "data")]  # i - p = 6
    assert kernel(fits, p)[0] == [None, PP] + [DUP] * 4 + [None]
    beyond = [("u", 0, "S5-1", "data")] + [b] * 6 + [("u", 40, "S5-1", "data")]  # 7 > 6
    assert kernel(beyond, p)[0] == [None, None] + [DUP] * 5 + [None]


def test_drift_heavy_users_and_unlocated():
    rows = [("n", 0, "S5-1", "data"), ("n", 20, "S40-1", "data"), ("n", 45, "S5-1", "data"),
            ("n", 100, "S5-1", "data"), ("n", 110, "S40-1", "data"),  # last: never drift
            ("h", 0, "S1-1", "data"), ("h", 0, "S1-1", "data"), ("h", 5, "S2-1", "handover"),
            ("h", 6, "S1-1", "data"), ("h", 7, "U", "data"), ("h", 8, "S1-1", "data")]
    reasons, heavy = kernel(rows, heavy_max=5)  # n: 5 rows, h: 6 rows (one unlocated)
    assert reasons == [None, DR, None, None, None, None, DUP, None, None, UNL, None]
    assert heavy == [False] * 5 + [True] * 4 + [False, True]
    # 35 km in 10 min (210 km/h) and back: drift, unless an HSR cell is at either end of
    # each leg (limit 350 km/h)
    rows = [("n", 0, "S0-1", "data", True), ("n", 600, "S35-1", "data"),
            ("n", 1200, "S0-1", "data", True)]
    assert kernel(rows)[0] == [None, None, None]
    assert kernel([r[:4] for r in rows])[0] == [None, DR, None]
    # simultaneous records at different places are infinitely fast; the first is kept
    rows = [("n", 0, "S0-1", "data"), ("n", 0, "S9-1", "data"), ("n", 1, "S0-1", "data")]
    assert kernel(rows)[0] == [None, DR, None]
    assert kernel(rows[1:])[0] == [None, None]


def test_arrow_helpers():
    tbl = pa.table({
        "user_id": ["a", "a", "a", "b", "b"],
        "event_time": pa.array([1, 1, 1, 1, 2], pa.timestamp("us", tz="Asia/Shanghai")),
        "cell_id": ["c", "c", "c", "c", "c"],
        "event_type": [None, None, "x", "x", "handover"],
        "imei_tac": [None, None, None, None, None],
        "home_region": ["r", "r", "r", "r", None],
    })
    assert K.same_as_previous(tbl).tolist() == [False, True, False, False, False]
    assert K.new_users(tbl).tolist() == [True, False, False, True, False]
    assert K.time_micros(tbl).tolist() == [1, 1, 1, 1, 2]
    assert K.eligible_events(tbl.column("event_type"), ("handover",)).tolist() == [
        True, True, False, False, True]
    assert K.eligible_events(tbl.column("event_type"), ()).all()
    assert K.drop_reasons(np.array([0, 1, 2, 3, 4])).to_pylist() == [
        None, UNL, DUP, PP, DR]


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(n):
    z = np.zeros(n)
    codes, heavy = K.clean_reasons(np.ones(n, bool), z.astype(np.int64), z, z,
                                   np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool),
                                   CleanConfig(), 10)
    assert codes.tolist() == [0] * n and heavy.tolist() == [False] * n
