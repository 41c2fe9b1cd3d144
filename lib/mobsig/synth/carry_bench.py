"""Bench of the open-stay carry (issue 17 item 9): the record carry against the summary
carry (mobsig.stay_state), day after day, on synthetic multi-day cards folded by the stay
kernel alone (no Spark), so the carry's growth over a month is cheap to measure.

    python -m mobsig.synth.carry_bench --days 30 --users 300 [--max-open-h 336]

Prints, per day, the carry rows of each, the records the summaries stand for, the kernel
time of each, and whether the stays of the day are identical (they must be).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time

import pyarrow as pa

from mobsig import stays as S

TZ = "Asia/Shanghai"
D0 = dt.date(2026, 6, 1)
SCHEMA = pa.schema([(S.USER_ID, pa.string()), (S.T_US, pa.int64()), (S.CELL_ID, pa.string()),
                    (S.LON, pa.float64()), (S.LAT, pa.float64()), (S.X_M, pa.float64()),
                    (S.Y_M, pa.float64()), (S.STAY_RADIUS_M, pa.float64()),
                    (S.STATE, pa.string())])


def random_card(rng: random.Random, u: int, days: int) -> list[tuple]:
    """Records of one card over ``days`` days from D0 - 1: a machine that never moves
    (10 %), a static card whose serving cell flips now and then to a farther site (10 %:
    chains of merged stays), or a person dwelling at a few places with jumps, gaps and far
    records (80 %). Rows: user, t_us, cell, lon, lat, x, y, radius."""
    t = S.horizon_micros(D0 - dt.timedelta(days=1), TZ) + int(rng.uniform(0, 3600e6))
    end = S.horizon_micros(D0 + dt.timedelta(days=days - 1), TZ)
    kind = rng.random()
    places = [(rng.randrange(6) * 400.0, rng.randrange(6) * 400.0) for _ in range(4)]
    here = places[0]
    out = []
    while t < end:
        if kind < 0.1:
            step = 20 * 60e6 * rng.choice([1, 1, 2, 5, 0.5])
        elif kind < 0.2:
            step = 15 * 60e6 * rng.choice([1, 1, 1, 3, 9])
        else:
            step = rng.choice([60, 300, 900, 1800, 3600, 7200, 10800]) * 1e6 * rng.random()
        t += int(step)
        rr = rng.random()
        if kind >= 0.2 and rr < 0.05:
            here = rng.choice(places)
        pos = here
        if rr > 0.9 and kind >= 0.1:
            pos = (here[0] + rng.choice([-800, 400, 1200, 30000]), here[1])
        out.append((f"u{u:05d}", t, f"c{int(pos[0])}_{int(pos[1])}_{rng.choice('ab')}",
                    104 + pos[0] / 1e5, 30 + pos[1] / 1e5, pos[0], pos[1],
                    rng.choice([500.0, 600.0, 750.0, 1000.0])))
    return out


def table(rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in SCHEMA]
    return pa.Table.from_arrays([pa.array(c, f.type)
                                 for c, f in zip(cols, SCHEMA, strict=True)], schema=SCHEMA)


def carry_of(batch: pa.RecordBatch | None) -> list[tuple]:
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


def run_days(rows: list[tuple], days: int, summary: bool, max_open_h: float | None = None
             ) -> tuple[list[list[tuple]], list[dict]]:
    """Fold day after day with the carry: (stays per day, per day: carry rows, records
    the summaries stand for, kernel seconds)."""
    carry: list[tuple] = []
    stays, per_day = [], []
    by_day: dict[int, list[tuple]] = {}
    h_first = S.horizon_micros(D0 - dt.timedelta(days=1), TZ)
    for r in rows:
        by_day.setdefault((r[1] - h_first) // (86400 * 10**6), []).append(r + (None,))
    for k in range(days):
        h = S.horizon_micros(D0 + dt.timedelta(days=k), TZ)
        rule = S.StayRule.of(30, 2.0, h, max_open_h, summary)
        tbl = table(sorted(carry + by_day.get(k, []), key=lambda r: (r[0], r[1], r[2] or "")))
        t0 = time.perf_counter()
        got = S._process(tbl, rule)
        secs = time.perf_counter() - t0
        out = got.to_pylist() if got is not None else []
        stays.append(sorted(
            (r["user_id"], r["t0_us"], r["t1_us"], r["lon"], r["lat"], r["x_m"], r["y_m"],
             r["cell_id"], r["n_events"]) for r in out if r["kind"] == S.KIND_STAY))
        carry = carry_of(got)
        per_day.append({"rows": len(carry), "records": sum(
            r["n_events"] if r["kind"] == S.KIND_STATE else 1 for r in out
            if r["kind"] in (S.KIND_OPEN, S.KIND_STATE)), "s": secs,
            "input_rows": tbl.num_rows})
    return stays, per_day


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-open-h", type=float, default=336.0)
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    rows = [r for u in range(a.users) for r in random_card(rng, u, a.days)]
    old, po = run_days(rows, a.days, False, a.max_open_h)
    new, pn = run_days(rows, a.days, True, a.max_open_h)
    print(f"{a.users} cards, {len(rows):,} records over {a.days} days, max_open_h "
          f"{a.max_open_h}")
    print("day  records_in  carry_rows_before  carry_rows_after  (records summarised)  "
          "kernel_s_before  kernel_s_after  stays_identical")
    for k in range(a.days):
        print(f"{k + 1:3d}  {po[k]['input_rows']:10,}  {po[k]['rows']:17,}  "
              f"{pn[k]['rows']:16,}  {pn[k]['records']:19,}  {po[k]['s']:15.3f}  "
              f"{pn[k]['s']:14.3f}  {old[k] == new[k]}")
    same = all(o == n for o, n in zip(old, new, strict=True))
    print(f"stays identical on every day: {same}; stays {sum(map(len, new)):,}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
