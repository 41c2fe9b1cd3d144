"""The open-stay carry as ONE summary row per open stay (issue 17 item 9).

The fold (:mod:`mobsig.stays`) used to carry, for a user whose run is still open at
midnight, every record of it (``stays_carry`` kind ``open_record``) and fold them again in
front of the next day's records. A card at one place for days carried all its records
(up to ``stays.max_open_h``), and a chain of stays at one place that the merge step keeps
joining carried every record since the chain began (no age cap at all). What the next
day's fold needs of those records is small, and this module carries exactly that, as one
``kind = 'open_stay'`` row per user (its ``state``, JSON):

- ``open``: an established stay still open (it lasts tau and may grow past midnight): its
  anchor (time, x, y, radius: the fold extends it while a record stays within the radius
  of the anchor and no gap exceeds the cap) and the duration-weighted sums of its records
  except the last (weight, x, y, lon, lat, per-cell weight, count);
- ``tail``: that last record (its weight depends on the record after it) and the time of
  the record before it;
- ``chain``: the user's last merged stay when it ended within the gap cap of midnight and
  may merge with a stay after it: the stay as it would be stored alone, the centroid and
  anchor radius of its last fold stay (the merge test) and the sums over every record from
  its start up to the open part;
- ``b_prev``: the time of the last summarised record (the weight of the next one).

A run still shorter than tau (its anchor may yet slide record by record) is carried as its
records, as before: they span less than tau, so they are few.

Exactness: the sums are accumulated in row order, as :func:`numpy.bincount` does in
:func:`mobsig.stays.summarise_stays` and :func:`mobsig.stays.merge_stays`, so positions,
cells and counts are bit-identical to folding the records again (tests compare the two
over many random days, and on the city). Floats go through JSON as ``repr`` (exact).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATE_VERSION = 1


# --------------------------------------------------------------------------------------
# duration-weighted sums in row order


@dataclass
class Acc:
    """Sums over a row range, each record weighing half the time to its neighbours inside
    the range: weight, weight x x, y, lon, lat; weight per cell; the number of records."""

    w: float = 0.0
    x: float = 0.0
    y: float = 0.0
    lon: float = 0.0
    lat: float = 0.0
    cells: dict[str, float] = field(default_factory=dict)
    n: int = 0
    plon: float = 0.0  # plain (unweighted) sums of lon and lat: daily_presence's mean
    plat: float = 0.0

    def copy(self) -> Acc:
        return Acc(self.w, self.x, self.y, self.lon, self.lat, dict(self.cells), self.n,
                   self.plon, self.plat)

    def add(self, w: np.ndarray, x: np.ndarray, y: np.ndarray, lon: np.ndarray,
            lat: np.ndarray, cell: np.ndarray) -> Acc:
        """A new Acc with the records (weights ``w``) added after the ones summed, one by
        one in order (bit-identical to bincount's accumulation).

        Every sum is one row of a single cumulative sum along its records (numpy
        accumulates each row in order, as a loop would); a cell's row holds the weight at
        that cell's records and 0.0 elsewhere (adding 0.0 changes no sum of weights,
        which are never negative), so one call sums all of them."""
        m = len(w)
        if m == 0:
            return self.copy()
        names = [str(c) for c in dict.fromkeys(cell.tolist())]
        a = np.empty((7 + len(names), m + 1))
        a[:7, 0] = (self.w, self.x, self.y, self.lon, self.lat, self.plon, self.plat)
        a[0, 1:] = w
        np.multiply(w, x, out=a[1, 1:])
        np.multiply(w, y, out=a[2, 1:])
        np.multiply(w, lon, out=a[3, 1:])
        np.multiply(w, lat, out=a[4, 1:])
        a[5, 1:] = lon
        a[6, 1:] = lat
        if len(names) == 1:
            a[7, 1:] = w
        else:
            text = cell.astype(str) if cell.dtype != object else cell
            for j, c in enumerate(names):
                np.copyto(a[7 + j, 1:], np.where(text == c, w, 0.0))
        for j, c in enumerate(names):
            a[7 + j, 0] = self.cells.get(c, 0.0)
        tot = np.cumsum(a, axis=1)[:, -1].tolist()
        cells = dict(self.cells)
        for j, c in enumerate(names):
            cells[c] = tot[7 + j]
        return Acc(tot[0], tot[1], tot[2], tot[3], tot[4], cells, self.n + m, tot[5],
                   tot[6])

    def summary(self, t0: int, t1: int) -> Summary:
        """The stay these sums describe (as :func:`mobsig.stays.summarise_stays`)."""
        best = sorted(self.cells.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        return Summary(int(t0), int(t1), self.lon / self.w, self.lat / self.w,
                       self.x / self.w, self.y / self.w, best, self.n)

    def to_json(self) -> dict[str, Any]:
        return {"w": self.w, "x": self.x, "y": self.y, "lon": self.lon, "lat": self.lat,
                "cells": self.cells, "n": self.n, "plon": self.plon, "plat": self.plat}

    @classmethod
    def of(cls, d: dict[str, Any]) -> Acc:
        return cls(float(d["w"]), float(d["x"]), float(d["y"]), float(d["lon"]),
                   float(d["lat"]), {str(k): float(v) for k, v in d["cells"].items()},
                   int(d["n"]), float(d["plon"]), float(d["plat"]))


@dataclass(frozen=True)
class Summary:
    """A stay as the kernel emits it (``kind='stay'``)."""

    t0: int
    t1: int
    lon: float
    lat: float
    x: float
    y: float
    cell: str
    n: int


@dataclass
class Rows:
    """One user's real records, sorted (kernel input columns as numpy arrays)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    r: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    cell: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def weights(self, i0: int, i1: int, t_before: int | None, t_after: int | None
                ) -> np.ndarray:
        """Weights of records i0..i1-1 inside a range whose record before i0 is at
        ``t_before`` and after i1-1 at ``t_after`` (None: the range starts / ends there),
        as :func:`mobsig.stays._weights` computes them."""
        if i1 <= i0:
            return np.zeros(0)
        tt = self.t[i0:i1]
        prev = np.empty(len(tt), dtype=np.int64)
        prev[0] = tt[0] if t_before is None else t_before
        prev[1:] = tt[:-1]
        nxt = np.empty(len(tt), dtype=np.int64)
        nxt[:-1] = tt[1:]
        nxt[-1] = tt[-1] if t_after is None else t_after
        return (nxt - prev).astype(np.float64) / 2.0

    def acc(self, a: Acc, i0: int, i1: int, t_before: int | None, t_after: int | None
            ) -> Acc:
        w = self.weights(i0, i1, t_before, t_after)
        sl = slice(i0, i1)
        return a.add(w, self.x[sl], self.y[sl], self.lon[sl], self.lat[sl], self.cell[sl])


@dataclass(frozen=True)
class Tail:
    """The last summarised record of an open stay (its weight waits for the next one)."""

    t: int
    prev: int  # time of the record before it
    x: float
    y: float
    lon: float
    lat: float
    cell: str

    def acc(self, a: Acc, t_next: int | None) -> Acc:
        w = (np.array([(self.t if t_next is None else t_next) - self.prev], dtype=np.int64)
             .astype(np.float64) / 2.0)
        return a.add(w, np.array([self.x]), np.array([self.y]), np.array([self.lon]),
                     np.array([self.lat]), np.array([self.cell], dtype=object))


@dataclass(frozen=True)
class Open:
    """An established stay still open: its anchor and the sums of its records but the
    tail."""

    t0: int
    x: float
    y: float
    r: float
    acc: Acc


@dataclass(frozen=True)
class Chain:
    """The user's last merged stay, still able to merge with the next one."""

    out: Summary  # the stay as stored when nothing merges with it
    cx: float  # weighted centroid of its last fold stay (the merge test)
    cy: float
    r: float  # anchor radius of its last fold stay
    t_end: int  # its last record
    acc: Acc  # every record from its start up to the open part (tail excluded)


@dataclass(frozen=True)
class State:
    """What the fold carries of a user to the next day (one ``open_stay`` row)."""

    b_prev: int
    open: Open | None = None
    tail: Tail | None = None
    chain: Chain | None = None

    def records(self) -> tuple[int, float, float]:
        """(number, plain mean lon, plain mean lat) of the records it summarises (the
        chain's sums cover the open stay's records when both are there)."""
        a = self.chain.acc if self.chain is not None else (
            self.open.acc if self.open is not None else Acc())
        n, plon, plat = a.n, a.plon, a.plat
        if self.tail is not None:
            n, plon, plat = n + 1, plon + self.tail.lon, plat + self.tail.lat
        return n, (plon / n if n else float("nan")), (plat / n if n else float("nan"))

    @property
    def t_first(self) -> int:
        """The first record it stands for."""
        return self.chain.out.t0 if self.chain is not None else (
            self.open.t0 if self.open is not None else self.b_prev)

    def to_json(self) -> str:
        def summ(s: Summary) -> dict[str, Any]:
            return {"t0": s.t0, "t1": s.t1, "lon": s.lon, "lat": s.lat, "x": s.x, "y": s.y,
                    "cell": s.cell, "n": s.n}

        d: dict[str, Any] = {"v": STATE_VERSION, "b_prev": self.b_prev}
        if self.open is not None:
            o = self.open
            d["open"] = {"t0": o.t0, "x": o.x, "y": o.y, "r": o.r, "acc": o.acc.to_json()}
        if self.tail is not None:
            t = self.tail
            d["tail"] = {"t": t.t, "prev": t.prev, "x": t.x, "y": t.y, "lon": t.lon,
                         "lat": t.lat, "cell": t.cell}
        if self.chain is not None:
            c = self.chain
            d["chain"] = {"out": summ(c.out), "cx": c.cx, "cy": c.cy, "r": c.r,
                          "t_end": c.t_end, "acc": c.acc.to_json()}
        return json.dumps(d, separators=(",", ":"), sort_keys=True)

    @classmethod
    def of(cls, text: str) -> State:
        d = json.loads(text)
        if d.get("v") != STATE_VERSION:
            raise ValueError(f"open-stay state version {d.get('v')!r}, expected "
                             f"{STATE_VERSION}")
        o = d.get("open")
        t = d.get("tail")
        c = d.get("chain")
        return cls(
            int(d["b_prev"]),
            Open(int(o["t0"]), float(o["x"]), float(o["y"]), float(o["r"]),
                 Acc.of(o["acc"])) if o else None,
            Tail(int(t["t"]), int(t["prev"]), float(t["x"]), float(t["y"]), float(t["lon"]),
                 float(t["lat"]), str(t["cell"])) if t else None,
            Chain(Summary(int(c["out"]["t0"]), int(c["out"]["t1"]), float(c["out"]["lon"]),
                          float(c["out"]["lat"]), float(c["out"]["x"]),
                          float(c["out"]["y"]), str(c["out"]["cell"]), int(c["out"]["n"])),
                  float(c["cx"]), float(c["cy"]), float(c["r"]), int(c["t_end"]),
                  Acc.of(c["acc"])) if c else None)


# --------------------------------------------------------------------------------------
# one user's fold from a state


@dataclass
class _Fold:
    """A fold stay of the user's sequence (virtual: the chain or the carried open stay)."""

    kind: str  # "chain", "open" or "real"
    t_start: int
    t_end: int
    cx: float
    cy: float
    r: float
    s: int = 0  # real stays: rows [s, e) of the user's real records
    e: int = 0


@dataclass
class UserFold:
    """What :func:`fold_user` gives: closed stays, the new state (None: nothing carried as
    a summary) and the first real record carried as records (None: none)."""

    stays: list[Summary]
    state: State | None
    raw_from: int | None


def open_end(state: State | None, rows: Rows, rule: Any) -> tuple[int, bool]:
    """(e0, goes_on) of a user's day behind ``state``: e0 is the first of the day's records
    that ends the carried open stay (0 without one: the day's records are all folded
    anew), goes_on whether that stay goes on past this horizon (no record ends it and the
    last is within the gap cap of the horizon; :func:`fold_user` then folds nothing)."""
    n = len(rows)
    if state is None or state.open is None:
        return 0, False
    o, tail = state.open, state.tail
    assert tail is not None
    e0 = n
    if n:
        prev_t = np.concatenate((np.array([tail.t], dtype=np.int64), rows.t[:-1]))
        rc = np.maximum(rows.r, o.r)
        stop = ((rows.t - prev_t) > rule.gap_cap_us) | (
            (rows.x - o.x) ** 2 + (rows.y - o.y) ** 2 > rc * rc)
        e0 = int(np.argmax(stop)) if stop.any() else n
    last_t = int(rows.t[-1]) if n else tail.t
    return e0, (e0 == n and rule.horizon_us - last_t <= rule.gap_cap_us
                and not rule.too_old(o.t0))


def fold_user(state: State | None, rows: Rows, rule: Any, rest: Any = None) -> UserFold:
    """The fold of one user's records of the day behind a carried ``state``: exactly what
    :mod:`mobsig.stays` gives on the records the state stands for followed by ``rows``
    (``rule``: :class:`mobsig.stays.StayRule`). ``rest``: the
    :class:`mobsig.stays.Segments` of :func:`mobsig.stays.find_stays` on the records from
    :func:`open_end`'s e0 on, as one user, when the caller found them for many users at
    once (computed here otherwise)."""
    from mobsig import stays as S

    n = len(rows)
    cap, horizon = rule.gap_cap_us, rule.horizon_us
    st = state
    out: list[Summary] = []
    folds: list[_Fold] = []
    if st is not None and st.chain is not None:
        c = st.chain
        folds.append(_Fold("chain", c.out.t0, c.t_end, c.cx, c.cy, c.r))
    e0, goes_on = open_end(st, rows, rule)
    v_acc: Acc | None = None
    if st is not None and st.open is not None:
        o, tail = st.open, st.tail
        assert tail is not None
        if goes_on:
            # the open stay goes on past this horizon too
            if st.chain is not None:
                out.append(st.chain.out)  # ended a day ago: nothing merges with it now
            acc = tail.acc(o.acc, int(rows.t[0]))
            acc = rows.acc(acc, 0, n - 1, tail.t, int(rows.t[n - 1]))
            new_tail = Tail(int(rows.t[n - 1]), int(rows.t[n - 2]) if n >= 2 else tail.t,
                            float(rows.x[n - 1]), float(rows.y[n - 1]),
                            float(rows.lon[n - 1]), float(rows.lat[n - 1]),
                            str(rows.cell[n - 1]))
            return UserFold(out, State(int(rows.t[n - 1]), Open(o.t0, o.x, o.y, o.r, acc),
                                       new_tail, None), None)
        # the open stay ends at record e0 (exclusive) of the day
        v_acc = tail.acc(o.acc, int(rows.t[0]) if e0 > 0 else None)
        v_acc = rows.acc(v_acc, 0, e0, tail.t, None)
        t_end = int(rows.t[e0 - 1]) if e0 > 0 else tail.t
        folds.append(_Fold("open", o.t0, t_end, v_acc.x / v_acc.w, v_acc.y / v_acc.w, o.r))
    # the rest of the day, folded as usual (its decisions depend only on its own records)
    rest_rows = slice(e0, n)
    nr = n - e0
    seg = None
    if nr:
        seg = rest if rest is not None else S.find_stays(
            np.arange(nr) == 0, rows.t[rest_rows], rows.x[rest_rows], rows.y[rest_rows],
            rows.r[rest_rows], rule)
    if seg is not None:
        for s_, e_ in zip(seg.stay_start.tolist(), seg.stay_end.tolist(), strict=True):
            a = rows.acc(Acc(), e0 + s_, e0 + e_, None, None)
            folds.append(_Fold("real", int(rows.t[e0 + s_]), int(rows.t[e0 + e_ - 1]),
                               a.x / a.w, a.y / a.w, float(rows.r[e0 + s_]),
                               e0 + s_, e0 + e_))
    # merge consecutive fold stays at the same place (as stays.merge_stays)
    groups: list[list[_Fold]] = []
    for f in folds:
        if groups:
            p = groups[-1][-1]
            rad = max(f.r, p.r)
            if (f.t_start - p.t_end <= cap
                    and (f.cx - p.cx) ** 2 + (f.cy - p.cy) ** 2 <= rad * rad):
                groups[-1].append(f)
                continue
        groups.append([f])
    has_open = seg is not None and len(seg.open_start) > 0
    carried = (groups[-1] if groups and has_open
               and horizon - groups[-1][-1].t_end <= cap else None)

    def start_acc(g: list[_Fold]) -> tuple[Acc, int | None]:
        """Sums of the group's virtual part (through the tail if the range goes on into
        the day's records) and the time before the first real record; for a group that
        starts with a real stay: empty sums and None."""
        first = g[0]
        if first.kind == "real":
            return Acc(), None
        assert st is not None
        acc = st.chain.acc if first.kind == "chain" else st.open.acc  # type: ignore[union-attr]
        if st.tail is not None:
            acc = st.tail.acc(acc, int(rows.t[0]) if n else None)
        return acc, st.b_prev

    def summary(g: list[_Fold]) -> Summary:
        first, last = g[0], g[-1]
        if first.kind == "chain" and len(g) == 1:
            assert st is not None and st.chain is not None
            return st.chain.out
        if first.kind == "real":
            return rows.acc(Acc(), first.s, last.e, None, None).summary(
                rows.t[first.s], rows.t[last.e - 1])
        assert st is not None
        end = e0 if last.kind == "open" else last.e
        if last.kind == "open" and e0 == 0 or last.kind == "chain":
            # ends at the tail (open stay closed by the day's first record)
            acc = (st.chain.acc if first.kind == "chain" else st.open.acc)  # type: ignore
            if st.tail is not None:
                acc = st.tail.acc(acc, None)
            return acc.summary(first.t_start, last.t_end)
        acc, t_before = start_acc(g)
        acc = rows.acc(acc, 0, end, t_before, None)
        return acc.summary(first.t_start, rows.t[end - 1])

    for g in groups:
        if g is not carried:
            out.append(summary(g))
    if not has_open:
        return UserFold(out, None, None)
    assert seg is not None
    ro = e0 + int(seg.open_start[0])  # in the real records
    is_stay = bool(seg.open_stay[0]) if seg.open_stay is not None else False
    bnd = n - 1 if is_stay else ro  # the summarised records end before it
    chain = None
    if carried is not None:
        last = carried[-1]
        acc, t_before = start_acc(carried)
        s0 = carried[0].s if carried[0].kind == "real" else 0
        acc = rows.acc(acc, s0, bnd, t_before, int(rows.t[bnd]))
        chain = Chain(summary(carried), last.cx, last.cy, last.r, last.t_end, acc)
    if is_stay:
        o_acc = rows.acc(Acc(), ro, n - 1, None, int(rows.t[n - 1]))
        tail = Tail(int(rows.t[n - 1]), int(rows.t[n - 2]), float(rows.x[n - 1]),
                    float(rows.y[n - 1]), float(rows.lon[n - 1]), float(rows.lat[n - 1]),
                    str(rows.cell[n - 1]))
        return UserFold(out, State(int(rows.t[n - 1]),
                                   Open(int(rows.t[ro]), float(rows.x[ro]),
                                        float(rows.y[ro]), float(rows.r[ro]), o_acc),
                                   tail, chain), None)
    if chain is None:
        return UserFold(out, None, ro)  # a short run: its records, no summary
    b_prev = int(rows.t[ro - 1]) if ro > 0 else st.b_prev  # type: ignore[union-attr]
    return UserFold(out, State(b_prev, None, None, chain), ro)
