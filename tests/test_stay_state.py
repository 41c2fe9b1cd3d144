"""The open-stay carry as one summary row per open stay (issue 17 item 9,
mobsig.stay_state): day after day it gives exactly the stays of the record carry (every
column, bit for bit) on random multi-day users, with and without the age cap, and its size
stays flat where the record carry grows. Pure numpy/Arrow: no Spark."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pytest

from mobsig import stay_state as SS
from mobsig import stays as S
from mobsig.synth import carry_bench as CB
from mobsig.synth.carry_bench import D0, TZ

MIN = 60_000_000  # microseconds

# the random cards of the 30-day carry bench (machines, flipping static cards, people)
_user, _table = CB.random_card, CB.table


def _carry_of(batch: pa.RecordBatch | None) -> list[tuple]:
    """The kernel's open rows as the next day's input rows (as stays_carry does)."""
    out = []
    for r in batch.to_pylist() if batch is not None else []:
        if r["kind"] == S.KIND_OPEN:
            out.append((r["user_id"], r["t0_us"], r["cell_id"], r["lon"], r["lat"],
                        r["x_m"], r["y_m"], r["stay_radius_m"], None))
        elif r["kind"] == S.KIND_STATE:
            out.append((r["user_id"], r["t1_us"], None, r["lon"], r["lat"], r["x_m"],
                        r["y_m"], r["stay_radius_m"], r["state"]))
    return out


def _run(rows: list[tuple], days: int, summary: bool, max_open_h: float | None = None,
         excursion_m: float = 0.0, counts: dict | None = None):
    """Day by day with the carry; (stays per day, carry rows per day)."""
    carry: list[tuple] = []
    stays, sizes = [], []
    for k in range(days):
        day = D0 + dt.timedelta(days=k)
        h0, h = (S.horizon_micros(day - dt.timedelta(days=1), TZ),
                 S.horizon_micros(day, TZ))
        rule = S.StayRule.of(30, 2.0, h, max_open_h, summary, excursion_m)
        today = [r + (None,) for r in rows if h0 <= r[1] < h]
        got = S._process(_table(sorted(carry + today, key=lambda r: (r[0], r[1], r[2] or ""))),
                         rule, counts)
        stays.append(sorted(
            (r["user_id"], r["t0_us"], r["t1_us"], r["lon"], r["lat"], r["x_m"], r["y_m"],
             r["cell_id"], r["n_events"]) for r in (got.to_pylist() if got else [])
            if r["kind"] == S.KIND_STAY))
        carry = _carry_of(got)
        sizes.append(len(carry))
    return stays, sizes


@pytest.mark.parametrize("seed", [1, 2])
def test_summary_carry_gives_the_stays_of_the_record_carry(seed):
    rng = random.Random(seed)
    rows = [r for u in range(40) for r in _user(rng, u, 4)]
    for max_open_h, exc in ((None, 0.0), (30.0, 0.0), (None, 3000.0)):
        counts: dict = {}
        old, old_sizes = _run(rows, 4, False, max_open_h, exc, counts)
        new, new_sizes = _run(rows, 4, True, max_open_h, exc)
        assert sum(map(len, old)) > 400
        for k in range(4):
            assert new[k] == old[k], (seed, max_open_h, exc, k)  # every column, exactly
        assert max(new_sizes) < min(old_sizes) / 3
        # the random cards' far records (400-1,200 m) make excursions
        assert (counts.get(S.EXCURSIONS, 0) > 20) == (exc > 0)


def _fold_one_day(recs: list[tuple], excursion_m: float) -> tuple[list[dict], dict]:
    """One card's records of D0 (minutes after 08:00, site x in metres, radius) folded
    with the day's rule: (stay rows, counts)."""
    h = S.horizon_micros(D0, TZ)
    t8 = h - 16 * 60 * 60_000_000
    rows = [("u", t8 + int(m * 60_000_000), f"s{int(x)}", 104 + x / 1e5, 30.0, x, 0.0, r,
             None) for m, x, r in recs]
    counts: dict = {}
    got = S._process(_table(rows), S.StayRule.of(30, 2.0, h, None, True, excursion_m), counts)
    return [r for r in (got.to_pylist() if got else []) if r["kind"] == S.KIND_STAY], counts


def test_a_lone_record_at_a_neighbouring_site_does_not_cut_a_visit():
    """A 55-min visit between two sparse masts 1.6 km apart (radius 1 km): one record on
    the other mast halfway cut it into two pieces of 25 min, so no stay; as an excursion
    it is taken at the place before it and the visit is one stay, whose reported
    position and records still include it."""
    far, r = 1600.0, 1000.0
    visit = [(m, 0.0, r) for m in (0, 10, 20)] + [(27, far, r)] + [
        (m, 0.0, r) for m in (35, 45, 55)]
    trip = [(-60, 20000.0, r), (150, 20000.0, r)]  # elsewhere before and after
    assert _fold_one_day(trip[:1] + visit + trip[1:], 0.0)[0] == []
    (s,), counts = _fold_one_day(trip[:1] + visit + trip[1:], 3000.0)
    assert counts[S.EXCURSIONS] == 1
    assert (s["t1_us"] - s["t0_us"], s["n_events"], s["cell_id"]) == (55 * MIN, 7, "s0")
    assert s["x_m"] == 0.0  # the rule's place
    # its service point weighs (35 - 20) / 2 min of 55 in the reported position
    assert s["lon"] == pytest.approx(104 + far / 1e5 * 7.5 / 55)
    # flipping A B A B A: the Bs are the excursions, one stay at A
    flip = [(m, far * (i % 2), r) for i, m in enumerate(range(0, 60, 10))] + [(60, 0.0, r)]
    (s,), counts = _fold_one_day(trip[:1] + flip + trip[1:], 3000.0)
    assert (counts[S.EXCURSIONS], s["n_events"], s["x_m"]) == (3, 7, 0.0)


def test_runs_of_records_at_a_neighbouring_site_do_not_cut_a_visit():
    """Records alternating between two masts 1.6 km apart (radius 1 km) in runs of two:
    each run spans less than tau, so the anchor rule cut the 2 h visit into pieces that
    are no stay at all; as runs of excursions the Bs are taken at the place before them
    and the visit is one stay at A, its records all kept (a run of two at B took the
    place of its own first record before: still no stay)."""
    far, r = 1600.0, 1000.0
    trip = [(-60, 20000.0, r), (190, 20000.0, r)]
    # A A B B A A B B A A B B A A, 10 min apart
    alt = [(10 * k, far * ((k // 2) % 2), r) for k in range(14)]
    assert _fold_one_day(trip[:1] + alt + trip[1:], 0.0)[0] == []
    (s,), counts = _fold_one_day(trip[:1] + alt + trip[1:], 3000.0)
    assert counts[S.EXCURSIONS] == 6  # the three runs of B
    assert (s["t1_us"] - s["t0_us"], s["n_events"], s["x_m"]) == (130 * MIN, 14, 0.0)
    # one burst of two records at B in a 55-min visit: one stay of 55 min at A
    burst = [(0, 0.0, r), (10, 0.0, r), (20, 0.0, r), (25, far, r), (30, far, r),
             (40, 0.0, r), (55, 0.0, r)]
    assert _fold_one_day(trip[:1] + burst + trip[1:], 0.0)[0] == []
    (s,), counts = _fold_one_day(trip[:1] + burst + trip[1:], 3000.0)
    assert counts[S.EXCURSIONS] == 2
    assert (s["t1_us"] - s["t0_us"], s["n_events"], s["x_m"]) == (55 * MIN, 7, 0.0)
    # a run of B spanning tau is a visit there: kept, and a stay of its own
    visit = [(0, 0.0, r), (10, 0.0, r), (20, 0.0, r), (25, far, r), (40, far, r),
             (55, far, r), (70, 0.0, r), (80, 0.0, r), (100, 0.0, r)]
    got, counts = _fold_one_day(trip[:1] + visit + trip[1:], 3000.0)
    assert counts[S.EXCURSIONS] == 0
    assert [(g["x_m"], (g["t1_us"] - g["t0_us"]) // MIN) for g in got] == [(far, 30),
                                                                          (0.0, 30)]


@pytest.mark.parametrize("why, visit", [
    ("records at the other mast spanning tau: a real visit there (a stay of its own)",
     [(0, 0.0), (10, 0.0), (20, 0.0), (25, 1600.0), (40, 1600.0), (55, 1600.0), (70, 0.0),
      (80, 0.0)]),
    ("a burst at the other mast whose records are not at one place",
     [(0, 0.0), (10, 0.0), (20, 0.0), (25, 1600.0), (30, -1600.0), (40, 0.0), (55, 0.0)]),
    ("too far to be a neighbouring site",
     [(0, 0.0), (10, 0.0), (20, 0.0), (27, 3500.0), (35, 0.0), (45, 0.0), (55, 0.0)]),
    ("the records around it span more than the gap cap",
     [(0, 0.0), (20, 0.0), (21, 1600.0), (150, 0.0), (160, 0.0)]),
    ("the records around it are not at one place",
     [(0, 0.0), (10, 0.0), (20, 0.0), (27, 1600.0), (35, 2400.0), (45, 2400.0)]),
    ("the first record of the day has no neighbour before it",
     [(0, 1600.0), (10, 0.0), (20, 0.0), (30, 0.0)]),
])
def test_what_is_not_an_excursion(why, visit):
    _, counts = _fold_one_day([(m, x, 1000.0) for m, x in visit], 3000.0)
    assert counts[S.EXCURSIONS] == 0, why


def test_a_card_that_never_moves_carries_one_row():
    t0 = S.horizon_micros(D0 - dt.timedelta(days=1), TZ) - 3 * 3600 * 10**6
    rows = [("m", t0 + k * 600 * 10**6, "c1", 104.0, 30.0, 0.0, 0.0, 500.0)
            for k in range(6 * 24 * 5)]
    old, old_sizes = _run(rows, 4, False)
    new, new_sizes = _run(rows, 4, True)
    assert new == old and old == [[]] * 4  # still open: no stay closed yet
    assert new_sizes == [1, 1, 1, 1]
    assert old_sizes == [144, 288, 432, 576]  # every record since it arrived
    capped, capped_sizes = _run(rows, 4, True, max_open_h=30.0)
    # the cap (30 h) closes it at the end of day 2 (48 h) and of day 4 with its last record
    assert capped == _run(rows, 4, False, max_open_h=30.0)[0]
    assert [len(d) for d in capped] == [0, 1, 0, 1] and capped_sizes == [1, 0, 1, 0]


def test_a_last_stay_waiting_to_merge_and_an_open_stay_that_goes_on():
    """Home until 22:00, then a far place from 22:10 through the next day and beyond: the
    home stay is carried (it may still merge) beside the open stay, and stored alone on
    the next day while the open stay goes on."""
    e = S.horizon_micros(D0, TZ)
    m = 60 * 10**6
    rows = [("p", e - 5 * 60 * m + k * 10 * m, "home", 104.0, 30.0, 0.0, 0.0, 500.0)
            for k in range(19)]  # 19:00 .. 22:00
    rows += [("p", e - 110 * m + k * 10 * m, "far", 104.1, 30.0, 10000.0, 0.0, 500.0)
             for k in range(6 * 24 * 2 + 11)]
    old, _ = _run(rows, 3, False)
    new, sizes = _run(rows, 3, True)
    assert new == old
    assert [len(d) for d in new] == [0, 1, 0]  # home, stored on day 2 (nothing merged)
    assert new[1][0][7] == "home" and new[1][0][8] == 19
    assert sizes == [1, 1, 1]


def test_state_round_trips_exactly():
    acc = SS.Acc(0.1 + 0.2, 1 / 3, 2 / 3, 104.123456789012345, 30.98765432109876,
                 {"a": 1e-300, "b": 12345.678901234567}, 7)
    st = SS.State(5, SS.Open(1, 0.30000000000000004, -1.5, 500.0, acc),
                  SS.Tail(5, 4, 1.0, 2.0, 3.0, 4.0, "a"),
                  SS.Chain(SS.Summary(0, 1, 0.1, 0.2, 0.3, 0.4, "b", 3), np.nextafter(1.0, 2),
                           2.0, 600.0, 1, acc))
    back = SS.State.of(st.to_json())
    assert back == st and back.to_json() == st.to_json()
    with pytest.raises(ValueError, match="version"):
        SS.State.of('{"v": 99, "b_prev": 0}')


def test_summaries_stand_for_the_same_records_as_the_record_carry():
    """What daily_presence reads of an open run (first and last record, the number of
    records and their plain mean position) is the same from the summaries as from the
    records."""
    rng = random.Random(5)
    rows = [r + (None,) for u in range(40) for r in _user(rng, u, 1)]
    rule = S.StayRule.of(30, 2.0, S.horizon_micros(D0 - dt.timedelta(days=1), TZ))
    tbl = _table(sorted(rows, key=lambda r: (r[0], r[1], r[2])))

    def runs(summary: bool) -> dict:
        got = S._process(tbl, dataclasses.replace(rule, summary_carry=summary)).to_pylist()
        out: dict = {}
        for r in got:
            if r["kind"] in (S.KIND_OPEN, S.KIND_STATE):
                n = r["n_events"] if r["kind"] == S.KIND_STATE else 1
                o = out.setdefault(r["user_id"], [10**18, 0, 0, 0.0, 0.0])
                o[0] = min(o[0], r["t0_us"])
                o[1] = max(o[1], r["t1_us"])
                o[2] += n
                o[3] += r["lon"] * n
                o[4] += r["lat"] * n
        return out

    old, new = runs(False), runs(True)
    assert len(old) > 20 and set(old) == set(new)
    for u, o in old.items():
        assert new[u][:3] == o[:3], u
        assert new[u][3] / new[u][2] == pytest.approx(o[3] / o[2], rel=1e-12, abs=0)
        assert new[u][4] / new[u][2] == pytest.approx(o[4] / o[2], rel=1e-12, abs=0)


def test_a_visit_served_by_the_neighbouring_mast_is_a_stay_of_its_own():
    """Issue 18: where sites are ~1 km apart (spacing 1,000 m: the region's inner ring,
    the city's 800 m) a 1-h visit to a place served by the neighbouring mast, 900 m from
    the home mast, between two hours at home. With the default radius
    (stays.radius_spacing_factor 0.75 x spacing = 750 m) it is a stay of its own between
    two stays at home; with the former 1.5 x spacing (clipped to 1 km) the neighbouring
    mast was inside home's radius and the visit vanished inside one stay at home. A lone
    record at that mast during the hours at home is still an excursion, not a cut."""
    from mobsig.config import StaysConfig

    st = StaysConfig()
    spacing, mast_b = 1000.0, 900.0
    r = float(np.clip(st.radius_spacing_factor * spacing, st.radius_dense_m,
                      st.radius_sparse_m))
    assert r == 750.0
    home1 = [(m, 0.0) for m in range(0, 121, 10)]
    visit = [(m, mast_b) for m in range(130, 191, 10)]
    home2 = [(m, 0.0) for m in range(200, 321, 10)]
    flip = [(65, mast_b)]  # one record at the other mast while at home
    recs = sorted(home1 + flip + visit + home2)
    got, counts = _fold_one_day([(m, x, r) for m, x in recs], st.excursion_max_dist_m)
    assert [(g["x_m"], (g["t1_us"] - g["t0_us"]) // MIN) for g in got] == [
        (0.0, 120), (mast_b, 60), (0.0, 120)]
    assert counts[S.EXCURSIONS] == 1
    # the former default: one stay at home over all of it, the visit lost
    old = float(np.clip(1.5 * spacing, st.radius_dense_m, st.radius_sparse_m))
    got, _ = _fold_one_day([(m, x, old) for m, x in recs], st.excursion_max_dist_m)
    assert [(g["t1_us"] - g["t0_us"]) // MIN for g in got] == [320]


def test_sums_are_those_of_a_loop_over_the_records_in_order():
    """Acc.add sums every column in one cumulative sum (per-cell rows zero elsewhere);
    each sum must be exactly what adding the records one by one in order gives."""
    rng = np.random.default_rng(7)
    for m in (1, 2, 5, 40):
        w = rng.uniform(0, 3600, m) * 10.0 ** rng.integers(-3, 4)
        x, y = rng.normal(0, 1e5, m), rng.normal(0, 1e5, m)
        lon, lat = 104 + rng.random(m) / 3, 30 + rng.random(m) / 7
        cell = np.array([f"c{k}" for k in rng.integers(0, 3, m)], dtype=object)
        start = SS.Acc(0.1 + 0.2, 1 / 3, 2 / 3, 104.1, 30.3, {"c1": 1e-3, "zz": 5.0}, 3,
                       312.3, 90.1)
        got = start.add(w, x, y, lon, lat, cell)
        want = start.copy()
        for i in range(m):
            want.w += float(w[i])
            want.x += float(w[i] * x[i])
            want.y += float(w[i] * y[i])
            want.lon += float(w[i] * lon[i])
            want.lat += float(w[i] * lat[i])
            want.plon += float(lon[i])
            want.plat += float(lat[i])
            want.cells[cell[i]] = want.cells.get(cell[i], 0.0) + float(w[i])
        want.n += m
        assert got == want and got.to_json() == want.to_json(), m
        assert start.cells == {"c1": 1e-3, "zz": 5.0}  # the summed Acc is left alone
