"""Stays 停留 and moves 移动 (domain.md §B1): an exact anchor-rule fold in numpy over Arrow.

The rule (Li et al. 2008 "stay point" with a gap cap), per user, records sorted by
(event_time, cell_id):

- a run starts at an anchor record a; record j joins while it is within
  ``R = max(stay_radius_m[a], stay_radius_m[j])`` metres of the *anchor* (planar distance
  in run.metric_crs, so every engine agrees bit for bit) and the gap to the previous
  record is at most the gap cap (stays.gap_cap_h): a gap up to the cap with the same
  location on both sides continues the stay, a longer gap ends it;
- a record's ``stay_radius_m`` is density-adaptive: clip(radius_spacing_factor x the
  local site spacing of its cell, radius_dense_m, radius_sparse_m) (:class:`StayRadius`,
  computed from the events' ``spacing_m`` by :func:`to_kernel_input`);
- the run [a, e) is a stay when ``t[e-1] - t[a] >= tau``; the next anchor is then e,
  otherwise a + 1 (slide by one record);
- a lone record, or a run of records at one place spanning less than tau, at a
  neighbouring site between two records at one place is an *excursion*
  (:func:`excursions`): the rule takes it at the place of the record before it (x/y and
  radius), so a visit whose records flip to a site 1-2 km away, once or in runs
  (A A B B A A), is not cut into pieces shorter than tau; its service point (lon/lat)
  and cell still weigh in the stay's reported position, as :func:`merge_stays` keeps a
  brief excursion's records (only records of the run's day are judged, with neighbours
  of that day: the first and last record of a card's day never are);
- consecutive stays of a user at the same place (weighted positions within the anchors'
  radius) with a gap up to the cap between them are merged (:func:`merge_stays`): one
  record at a farther site must not cut a night at home in two. A stay's position is the
  duration-weighted mean of all its records (each weighs half the time to its
  neighbours), its cell the one with the most weight.

Exactness without a row-at-a-time loop: for every record i we decide vectorised whether
its run can reach tau (``candidate``: no break among the records of the next tau), then
the fold only visits candidates: from position p the next stay starts at the first
candidate >= p. The Python loop therefore runs once per stay (plus once per user), not per
event; the end of a selected stay is found with one numpy slice.

Cross-midnight: the run for day D is told the *horizon* (midnight after D). A user's
trailing run whose last record is within the gap cap of the horizon may still grow, so
its records are returned as ``open`` rows instead of a stay; the job stores them in the
``stays_carry`` table and feeds them back in front of day D+1's events. A stay is thus
stored once, with its true start and end, in the partition of the day whose run closed it.
The carry is bounded: a stay open at the horizon that started more than
``stays.max_open_h`` before it (``StayRule.max_open_us``) is closed there as a stay ending
at its last record instead of being carried (a card at one place for weeks, a machine or a
stored phone, would otherwise carry every record it ever sent); the card's next records
start a new run.

Who is excluded (before the kernel): heavy users (events_clean.is_heavy_user) and cards
whose IMEI TAC is an IoT device type (paths.tac_types + flags.iot_device_types).
Behavioural non-human cards (one location, machine cadence, impossible rates) are only
known when a month is flagged (user_flags); they keep their stays here and are excluded
downstream (home_work, population) by joining user_flags.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig.columns import (
    ARRIVAL,
    CARRY_KIND,
    CELL_ID,
    DEPARTURE,
    DEST_H3,
    DEST_LAT,
    DEST_LON,
    DIST_M,
    DURATION_S,
    EVENT_TIME,
    H3,
    IS_HEAVY_USER,
    LAT,
    LON,
    N_EVENTS,
    ORIGIN_H3,
    ORIGIN_LAT,
    ORIGIN_LON,
    SPACING_M,
    STAY_END,
    STAY_RADIUS_M,
    STAY_START,
    SVC_LAT,
    SVC_LON,
    USER_ID,
    X_M,
    Y_M,
)
from mobsig.geo import h3_hex

log = logging.getLogger(__name__)

T_US = "t_us"
KIND = CARRY_KIND
T0_US = "t0_us"
T1_US = "t1_us"
KIND_STAY = "stay"
KIND_OPEN = "open"
CARRY_OPEN = "open_record"
CARRY_LAST = "last_stay"
#: one summary row per open stay (kernel output kind and carry kind; mobsig.stay_state)
CARRY_STATE = "open_stay"
KIND_STATE = CARRY_STATE
#: the summary's state (JSON, :class:`mobsig.stay_state.State`) on kernel rows
STATE = "state"

#: Columns the kernel reads, in this order (t_us = event time in epoch microseconds).
KERNEL_INPUT = (USER_ID, T_US, CELL_ID, LON, LAT, X_M, Y_M, STAY_RADIUS_M)

#: What the kernel emits: ``kind='stay'`` rows (one per closed stay: t0/t1 = first/last
#: record, duration-weighted lon/lat/x/y, dominant cell, n_events), ``kind='open'`` rows
#: (the records of a run still open at the horizon that is shorter than tau, t0 = t1 = the
#: record's time) and ``kind='open_stay'`` rows (one per user whose open stay, or last
#: stay that may still merge, is carried as a summary: ``state``; t0 = its first record,
#: t1 = its last, lon/lat the plain mean of its records, x/y and radius of its anchor,
#: n_events = the records it stands for). With ``StayRule.summary_carry`` off every open
#: record is an ``open`` row.
KERNEL_OUTPUT = T.StructType([
    T.StructField(USER_ID, T.StringType(), False),
    T.StructField(KIND, T.StringType(), False),
    T.StructField(T0_US, T.LongType(), False),
    T.StructField(T1_US, T.LongType(), False),
    T.StructField(LON, T.DoubleType(), False),
    T.StructField(LAT, T.DoubleType(), False),
    T.StructField(X_M, T.DoubleType(), False),
    T.StructField(Y_M, T.DoubleType(), False),
    T.StructField(STAY_RADIUS_M, T.DoubleType(), True),
    T.StructField(CELL_ID, T.StringType(), False),
    T.StructField(N_EVENTS, T.IntegerType(), False),
    T.StructField(STATE, T.StringType(), True),
])
_ARROW_OUT = pa.schema([
    pa.field(USER_ID, pa.string(), False), pa.field(KIND, pa.string(), False),
    pa.field(T0_US, pa.int64(), False), pa.field(T1_US, pa.int64(), False),
    pa.field(LON, pa.float64(), False), pa.field(LAT, pa.float64(), False),
    pa.field(X_M, pa.float64(), False), pa.field(Y_M, pa.float64(), False),
    pa.field(STAY_RADIUS_M, pa.float64(), True), pa.field(CELL_ID, pa.string(), False),
    pa.field(N_EVENTS, pa.int32(), False), pa.field(STATE, pa.string(), True),
])

#: Stay columns used between the transforms (the stays table plus metric x/y for moves).
STAY_COLUMNS = (USER_ID, STAY_START, STAY_END, DURATION_S, LON, LAT, CELL_ID, H3, N_EVENTS,
                X_M, Y_M)


@dataclass(frozen=True)
class StayRule:
    """Parameters of the fold, in integer microseconds (exact comparisons)."""

    tau_us: int
    gap_cap_us: int
    horizon_us: int  # records at or after it do not exist yet (midnight after the run day)
    # a stay open at the horizon that started more than this before it is closed, not
    # carried (stays.max_open_h); None: no cap
    max_open_us: int | None = None
    # carry one summary row per open stay (mobsig.stay_state) instead of its records;
    # off: the record carry, kept as the reference the summary is tested against
    summary_carry: bool = True
    # a lone record (or a run of records spanning less than tau) at most this far from the
    # place around it is an excursion, taken at that place by the rule
    # (stays.excursion_max_dist_m; 0: no excursions)
    excursion_max_m: float = 0.0

    @classmethod
    def of(cls, tau_min: float, gap_cap_h: float, horizon_us: int,
           max_open_h: float | None = None, summary_carry: bool = True,
           excursion_max_m: float = 0.0) -> StayRule:
        tau_us = int(round(tau_min * 60e6))
        if tau_us <= 0:
            raise ValueError(f"tau must be positive, got {tau_min} min")
        return cls(tau_us, int(round(gap_cap_h * 3600e6)), int(horizon_us),
                   None if max_open_h is None else int(round(max_open_h * 3600e6)),
                   summary_carry, float(excursion_max_m))

    def too_old(self, t0_us: int) -> bool:
        """A stay that started at ``t0_us`` is too old to be carried past the horizon."""
        return self.max_open_us is not None and self.horizon_us - t0_us > self.max_open_us


@dataclass(frozen=True)
class StayRadius:
    """The density-adaptive stay radius of a cell: ``clip(factor x spacing_m, dense_m,
    sparse_m)`` metres (stays.radius_spacing_factor, radius_dense_m, radius_sparse_m)."""

    factor: float
    dense_m: float
    sparse_m: float

    def __post_init__(self) -> None:
        if not 0 < self.dense_m <= self.sparse_m or self.factor <= 0:
            raise ValueError(f"stay radius: need factor > 0 and 0 < dense <= sparse, got {self}")

    def column(self, spacing: str | Column = SPACING_M) -> Column:
        """The radius (double) of each row from its site spacing; null where the spacing is
        null. For finite spacings, bit-identical to ``numpy.clip(factor * spacing, dense_m,
        sparse_m)``."""
        sp = F.col(spacing) if isinstance(spacing, str) else spacing
        r = sp.cast("double") * F.lit(float(self.factor))
        return (F.when(r < F.lit(float(self.dense_m)), F.lit(float(self.dense_m)))
                .when(r > F.lit(float(self.sparse_m)), F.lit(float(self.sparse_m)))
                .otherwise(r))


def horizon_micros(day: dt.date, timezone: str) -> int:
    """Epoch microseconds of local midnight after ``day`` (the end of the run's data)."""
    nxt = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0),
                              tzinfo=zoneinfo.ZoneInfo(timezone))
    return int(nxt.timestamp()) * 1_000_000


# --------------------------------------------------------------------------------------
# the numpy kernel


@dataclass(frozen=True)
class Segments:
    """Row ranges found by :func:`find_stays` (end exclusive)."""

    stay_start: np.ndarray
    stay_end: np.ndarray
    open_start: np.ndarray  # per user with an open run: its first record
    open_end: np.ndarray
    # per open run: it is a stay (lasts tau, may grow past the horizon) rather than a run
    # still shorter than tau whose anchor may yet slide (None: not told)
    open_stay: np.ndarray | None = None


def _ranks(k: np.ndarray) -> np.ndarray:
    """For counts k, 0..k_i-1 for each i, concatenated."""
    total = int(k.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)


def _next_at_or_after(flag: np.ndarray) -> np.ndarray:
    """For each i the smallest j >= i with flag[j] (len(flag) if none)."""
    n = len(flag)
    cand = np.where(flag, np.arange(n), n)
    return np.minimum.accumulate(cand[::-1])[::-1]


def find_stays(new_user: np.ndarray, t_us: np.ndarray, x: np.ndarray, y: np.ndarray,
               r: np.ndarray, rule: StayRule) -> Segments:
    """The exact anchor-rule fold over several users' records (sorted by user, time).

    ``new_user[i]`` marks the first record of each user. Returns the closed stays and,
    per user whose trailing run may continue past ``rule.horizon_us``, the open rows.
    """
    n = len(t_us)
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return Segments(empty, empty, empty, empty, np.zeros(0, dtype=bool))
    t_us = np.asarray(t_us, dtype=np.int64)
    idx = np.arange(n, dtype=np.int64)
    new_user = np.asarray(new_user, dtype=bool).copy()
    new_user[0] = True
    uid = np.cumsum(new_user) - 1
    ubeg = np.flatnonzero(new_user)
    uend_u = np.append(ubeg[1:], n)
    uend = uend_u[uid]

    # breaks: a new user, or a gap above the cap; next_brk[i] = first break after i
    brk = new_user.copy()
    brk[1:] |= (t_us[1:] - t_us[:-1]) > rule.gap_cap_us
    next_brk = np.append(_next_at_or_after(brk)[1:], n)

    # k[i]: first record of the same user at or after t[i] + tau (uend if none)
    t_rel = t_us - t_us.min()
    stride = int(t_rel.max()) + rule.tau_us + 1
    if stride * len(ubeg) >= 2**62:
        raise ValueError("stay kernel: batch spans too long a time for its number of users")
    key = uid * stride + t_rel
    k = np.searchsorted(key, key + rule.tau_us, side="left")

    # distance check over (i, min(k, next_brk - 1)] for rows whose run may be a stay
    # (k < next_brk) or may still be open at the horizon (next_brk == uend)
    check = (k < next_brk) | (next_brk == uend)
    length = np.where(check, np.minimum(k, next_brk - 1) - idx, 0)
    rows = np.repeat(idx, length)
    j = rows + _ranks(length) + 1
    rr = np.maximum(r[rows], r[j])
    viol = (x[j] - x[rows]) ** 2 + (y[j] - y[rows]) ** 2 > rr * rr
    first_v = np.full(n, n, dtype=np.int64)
    vr, vj = rows[viol], j[viol]
    if len(vr):
        first = np.r_[True, vr[1:] != vr[:-1]]
        first_v[vr[first]] = vj[first]
    no_v = first_v == n
    candidate = check & no_v & (k < next_brk)
    end_known = np.where(no_v, next_brk, first_v)  # exact for non-candidates
    user_open = (rule.horizon_us - t_us[uend_u - 1]) <= rule.gap_cap_us
    pending = check & ~candidate & (end_known == uend) & user_open[uid]

    fc = _next_at_or_after(candidate)
    fq = _next_at_or_after(pending)
    s_out: list[int] = []
    e_out: list[int] = []
    o_start: list[int] = []
    o_end: list[int] = []
    o_stay: list[bool] = []
    p = 0
    while p < n:
        u = int(uid[p])
        ue = int(uend_u[u])
        c = min(int(fc[p]), ue)
        q = min(int(fq[p]), ue)
        if q < c:  # the fold reaches a short run that may still grow: carry it
            o_start.append(q)
            o_end.append(ue)
            o_stay.append(False)
            p = ue
            continue
        if c == ue:
            p = ue
            continue
        lo, hi = int(k[c]) + 1, int(next_brk[c])
        e = hi
        if lo < hi:
            rc = np.maximum(r[lo:hi], r[c])
            bad = (x[lo:hi] - x[c]) ** 2 + (y[lo:hi] - y[c]) ** 2 > rc * rc
            if bad.any():
                e = lo + int(np.argmax(bad))
        if e == ue and user_open[u] and not rule.too_old(int(t_us[c])):
            # a stay that may continue after the horizon (one open longer than
            # rule.max_open_us is closed here, ending at its last record)
            o_start.append(c)
            o_end.append(ue)
            o_stay.append(True)
            p = ue
            continue
        s_out.append(c)
        e_out.append(e)
        p = e
    as_arr = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return Segments(as_arr(s_out), as_arr(e_out), as_arr(o_start), as_arr(o_end),
                    np.asarray(o_stay, dtype=bool))


#: the run's day: records at most this long before the horizon (China has no DST)
DAY_US = 86_400_000_000


def excursions(new_user: np.ndarray, t_us: np.ndarray, x: np.ndarray, y: np.ndarray,
               r: np.ndarray, eligible: np.ndarray, rule: StayRule) -> np.ndarray:
    """Per record (sorted by user, time): it is an *excursion*, which the fold takes at
    the place of the last record before it that is none (:func:`_at_their_place`).

    The records are cut into *runs*: consecutive records of a card, each within
    ``max`` of its and the previous record's radii of the previous one (one place; a
    lone record at another site is a run of one). A run i..j is a candidate when the
    records a = i-1 and b = j+1 around it are records of the same card at one place
    (within ``max`` of their radii of each other), every record from a to b is
    ``eligible`` (the run's day), every record of the run is farther than
    ``max(r_k, r_neighbour)`` from a and from b but within ``rule.excursion_max_m`` of
    both (a neighbouring site, not a trip: farther jumps are left to the data), the run's
    own records span less than tau (they can never be a stay of their own) and the time
    from a to b is at most the gap cap (without the run the gap continues the stay
    anyway). A record or a short burst of records at a neighbouring site, typical of an
    idle phone at a spot between two masts, would otherwise end the run there and cut a
    1-2 h visit into pieces shorter than tau.

    Records flipping A B A B A, or in runs A A B B A A B B A A, are a chain of candidate
    runs (each run of A sits between two of B too): every other run from the chain's
    first (the Bs) is an excursion, the As stay.
    """
    n = len(t_us)
    if rule.excursion_max_m <= 0 or n < 3:
        return np.zeros(n, dtype=bool)
    idx = np.arange(n)

    def d2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return (x[p] - x[q]) ** 2 + (y[p] - y[q]) ** 2

    brk = new_user.copy()
    brk[0] = True
    brk[1:] |= d2(idx[1:], idx[:-1]) > np.maximum(r[1:], r[:-1]) ** 2
    first = np.flatnonzero(brk)                     # each run's first record
    last = np.r_[first[1:] - 1, n - 1]              # and its last
    run = np.cumsum(brk) - 1                        # each record's run
    a = np.clip(first - 1, 0, n - 1)                # the records around each run
    b = np.clip(last + 1, 0, n - 1)
    ok = (first > 0) & (last < n - 1) & ~new_user[first] & ~new_user[b]
    ok &= eligible[a] & eligible[b] & (t_us[b] - t_us[a] <= rule.gap_cap_us)
    ok &= (t_us[last] - t_us[first] < rule.tau_us) & (d2(a, b) <= np.maximum(r[a], r[b]) ** 2)
    # every record of the run: eligible, away from both sides but within reach of them
    ka, kb = a[run], b[run]
    lim = rule.excursion_max_m ** 2
    da, db = d2(ka, idx), d2(kb, idx)
    rec = (eligible & (da > np.maximum(r[ka], r) ** 2) & (db > np.maximum(r[kb], r) ** 2)
           & (da <= lim) & (db <= lim))
    ok &= np.logical_and.reduceat(rec, first)
    # rank of each candidate run in its chain of consecutive candidates: even ranks go
    m = len(first)
    start = ok & ~np.r_[False, ok[:-1]]
    chain_start = np.maximum.accumulate(np.where(start, np.arange(m), 0))
    go = ok & ((np.arange(m) - chain_start) % 2 == 0)
    return go[run]


def _weights(start: np.ndarray, end: np.ndarray, t_us: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row index, stay number, weight) of every row of the stays [start, end).

    A record weighs half the time to its neighbours inside its stay (the first and last
    half of one interval), so a stay's weights add up to its duration.
    """
    n_ev = end - start
    sid = np.repeat(np.arange(len(start)), n_ev)
    ri = start[sid] + _ranks(n_ev)
    prev = np.maximum(ri - 1, start[sid])
    nxt = np.minimum(ri + 1, end[sid] - 1)
    return ri, sid, (t_us[nxt] - t_us[prev]).astype(np.float64) / 2.0


def merge_stays(seg: Segments, new_user: np.ndarray, t_us: np.ndarray, x: np.ndarray,
                y: np.ndarray, r: np.ndarray, rule: StayRule) -> Segments:
    """Merge consecutive fold stays of a user at the same place; extend the carry.

    Two consecutive stays merge when the gap between them is at most the gap cap and their
    duration-weighted positions are within ``max`` of their anchors' radii: the serving
    cell of an idle phone changes now and then to a farther site, and one such record
    would otherwise cut a night at home into pieces. The merged stay is the contiguous
    row range from the first stay's anchor to the last stay's last record (the brief
    excursion records included: they are where the phone was seen during the stay).

    A user's last stay may still merge with a stay that starts after the horizon when the
    user's run is open and the stay ended within the gap cap of the horizon: its records
    are then carried too (from the first stay of its merge chain), not emitted.
    """
    m = len(seg.stay_start)
    if m == 0:
        return seg
    n = len(t_us)
    uid = np.cumsum(np.asarray(new_user, dtype=bool) | (np.arange(n) == 0)) - 1
    s, e = seg.stay_start, seg.stay_end
    ri, sid, w = _weights(s, e, t_us)
    wsum = np.bincount(sid, weights=w, minlength=m)
    cx = np.bincount(sid, weights=w * x[ri], minlength=m) / wsum
    cy = np.bincount(sid, weights=w * y[ri], minlength=m) / wsum
    same_user = uid[s[1:]] == uid[s[:-1]]
    gap_ok = t_us[s[1:]] - t_us[e[:-1] - 1] <= rule.gap_cap_us
    rad = np.maximum(r[s[1:]], r[s[:-1]])
    near = (cx[1:] - cx[:-1]) ** 2 + (cy[1:] - cy[:-1]) ** 2 <= rad * rad
    first = np.r_[True, ~(same_user & gap_ok & near)]
    g_first = np.flatnonzero(first)
    g_last = np.append(g_first[1:], m) - 1
    m_start, m_end = s[g_first], e[g_last]
    # the last chain of an open user that ended within the cap of the horizon is carried
    g_uid = uid[m_start]
    users_last = np.r_[g_uid[1:] != g_uid[:-1], True]
    o_uid = uid[seg.open_start]
    carried = (users_last & np.isin(g_uid, o_uid)
               & (rule.horizon_us - t_us[m_end - 1] <= rule.gap_cap_us))
    open_start = seg.open_start.copy()
    open_start[np.searchsorted(o_uid, g_uid[carried])] = m_start[carried]
    return Segments(m_start[~carried], m_end[~carried], open_start, seg.open_end,
                    seg.open_stay)


@dataclass(frozen=True)
class StaySummary:
    """Per stay: first/last record time, duration-weighted position, dominant cell."""

    t0_us: np.ndarray
    t1_us: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    cell_code: np.ndarray
    n_events: np.ndarray


def summarise_stays(start: np.ndarray, end: np.ndarray, t_us: np.ndarray, lon: np.ndarray,
                    lat: np.ndarray, x: np.ndarray, y: np.ndarray,
                    cell_code: np.ndarray) -> StaySummary:
    """Aggregate the rows of each stay [start, end) with the duration weights of
    :func:`_weights`. The dominant cell has the largest summed weight; ties go to the
    smallest code (``cell_code`` must order like the cell ids, e.g. from ``np.unique``).
    """
    m = len(start)
    if m == 0:
        z = np.zeros(0)
        zi = np.zeros(0, dtype=np.int64)
        return StaySummary(zi, zi, z, z, z, z, zi, zi)
    ri, sid, w = _weights(start, end, t_us)
    wsum = np.bincount(sid, weights=w, minlength=m)

    def wavg(v: np.ndarray) -> np.ndarray:
        return np.bincount(sid, weights=w * v[ri], minlength=m) / wsum

    n_codes = int(cell_code.max()) + 1
    pair = sid * n_codes + cell_code[ri]
    upair, inv = np.unique(pair, return_inverse=True)
    wcell = np.bincount(inv, weights=w)
    ustay, ucode = upair // n_codes, upair % n_codes
    order = np.lexsort((ucode, -wcell, ustay))
    firsts = order[np.r_[True, ustay[order][1:] != ustay[order][:-1]]]
    return StaySummary(t_us[start], t_us[end - 1], wavg(lon), wavg(lat), wavg(x), wavg(y),
                       ucode[firsts], end - start)


def _process(tbl: pa.Table, rule: StayRule, counts: dict[str, int] | None = None
             ) -> pa.RecordBatch | None:
    """Run the fold on a table of complete users (sorted) and build the output batch.

    Excursions (:func:`excursions`, among the records of the run's day) first get the
    x/y and radius of the record before them; their number goes to
    ``counts['stay_excursions']`` when given.
    Rows with a ``state`` (a carried summary, :mod:`mobsig.stay_state`) continue their
    user's fold from it (:func:`mobsig.stay_state.fold_user`, one call per such user); the
    other users are folded together, vectorised; with ``rule.summary_carry`` the open part
    of each of those is then turned into its summary."""
    from mobsig import stay_state as SS

    n = tbl.num_rows
    if n == 0:
        return None
    if rule.excursion_max_m > 0:
        tbl = _at_their_place(tbl, rule, counts)
    states: dict[str, SS.State] = {}
    if STATE in tbl.schema.names and tbl.column(STATE).null_count < n:
        has = pc.is_valid(tbl.column(STATE))
        st_rows = tbl.filter(has)
        for u, text in zip(st_rows.column(USER_ID).to_pylist(),
                           st_rows.column(STATE).to_pylist(), strict=True):
            states[u] = SS.State.of(text)
        tbl = tbl.filter(pc.invert(has))
        if states:
            mine = pc.is_in(tbl.column(USER_ID), pa.array(sorted(states), pa.string()))
            stated, tbl = tbl.filter(mine), tbl.filter(pc.invert(mine))
        n = tbl.num_rows
    out = _Out()
    if n:
        _fold_vectorised(tbl, rule, out)
    if states:
        _fold_stated(stated, states, rule, out)
    return out.batch()


class _Out:
    """The kernel's output rows, gathered column-wise."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {f.name: [] for f in _ARROW_OUT}

    def add(self, **cols) -> None:
        m = len(cols[USER_ID])
        for k in self.cols:
            v = cols.get(k)
            self.cols[k].append(pa.nulls(m, _ARROW_OUT.field(k).type) if v is None
                                else pa.array(v, _ARROW_OUT.field(k).type)
                                if not isinstance(v, (pa.Array, pa.ChunkedArray)) else v)

    def summaries(self, users: list[str], ss: list) -> None:
        if ss:
            self.add(**{USER_ID: users, KIND: [KIND_STAY] * len(ss),
                        T0_US: [s.t0 for s in ss], T1_US: [s.t1 for s in ss],
                        LON: [s.lon for s in ss], LAT: [s.lat for s in ss],
                        X_M: [s.x for s in ss], Y_M: [s.y for s in ss],
                        CELL_ID: [s.cell for s in ss], N_EVENTS: [s.n for s in ss]})

    def states(self, users: list[str], sts: list) -> None:
        if not sts:
            return
        cols: dict[str, list] = {k: [] for k in (T0_US, T1_US, LON, LAT, X_M, Y_M,
                                                 STAY_RADIUS_M, CELL_ID, N_EVENTS)}
        for st in sts:
            anchor = st.open if st.open is not None else None
            c = st.chain
            cols[T0_US].append(st.t_first)
            cols[T1_US].append(st.b_prev)
            n_rec, mean_lon, mean_lat = st.records()
            cols[LON].append(mean_lon)
            cols[LAT].append(mean_lat)
            if anchor is not None:
                cols[X_M].append(anchor.x)
                cols[Y_M].append(anchor.y)
                cols[STAY_RADIUS_M].append(anchor.r)
                cols[CELL_ID].append(st.tail.cell)
            else:
                cols[X_M].append(c.out.x)
                cols[Y_M].append(c.out.y)
                cols[STAY_RADIUS_M].append(c.r)
                cols[CELL_ID].append(c.out.cell)
            cols[N_EVENTS].append(n_rec)
        self.add(**{USER_ID: users, KIND: [KIND_STATE] * len(sts), **cols,
                    STATE: [st.to_json() for st in sts]})

    def batch(self) -> pa.RecordBatch | None:
        if not self.cols[USER_ID]:
            return None
        arrays = [pa.concat_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray)
                                    else a for a in self.cols[f.name]]) for f in _ARROW_OUT]
        return pa.RecordBatch.from_arrays(arrays, schema=_ARROW_OUT)


#: the count of excursion records left out of the fold (:func:`_process`)
EXCURSIONS = "stay_excursions"


def _excursions_of(tbl: pa.Table, rule: StayRule) -> np.ndarray:
    """:func:`excursions` of a kernel input table: eligible are the records of the run's
    day ([horizon - 1 day, horizon)) that are not a carried summary."""
    n = tbl.num_rows
    users = tbl.column(USER_ID)
    new_user = np.ones(n, dtype=bool)
    if n > 1:
        new_user[1:] = pc.not_equal(users.slice(1), users.slice(0, n - 1)).to_numpy(
            zero_copy_only=False)
    t = tbl.column(T_US).to_numpy().astype(np.int64)
    eligible = t >= rule.horizon_us - DAY_US
    if STATE in tbl.schema.names:
        eligible &= pc.is_null(tbl.column(STATE)).to_numpy(zero_copy_only=False)
    return excursions(new_user, t, tbl.column(X_M).to_numpy().astype(np.float64),
                      tbl.column(Y_M).to_numpy().astype(np.float64),
                      tbl.column(STAY_RADIUS_M).to_numpy().astype(np.float64), eligible, rule)


def _at_their_place(tbl: pa.Table, rule: StayRule, counts: dict[str, int] | None
                    ) -> pa.Table:
    """``tbl`` with each excursion's x/y and stay radius those of the last record before it
    that is no excursion."""
    exc = np.flatnonzero(_excursions_of(tbl, rule))
    if counts is not None:
        counts[EXCURSIONS] = counts.get(EXCURSIONS, 0) + len(exc)
    if not len(exc):
        return tbl
    # the last record before each excursion that is none (a run of several takes the
    # place before the run, not its own first record)
    keep = np.ones(tbl.num_rows, dtype=bool)
    keep[exc] = False
    src = np.maximum.accumulate(np.where(keep, np.arange(tbl.num_rows), 0))[exc - 1]
    for name in (X_M, Y_M, STAY_RADIUS_M):
        v = tbl.column(name).to_numpy().astype(np.float64)
        v[exc] = v[src]
        tbl = tbl.set_column(tbl.schema.get_field_index(name), name, pa.array(v, pa.float64()))
    return tbl


def _user_rows(t, x, y, r, lon, lat, cells, lo: int, hi: int):
    from mobsig.stay_state import Rows

    return Rows(t[lo:hi], x[lo:hi], y[lo:hi], r[lo:hi], lon[lo:hi], lat[lo:hi],
                cells[lo:hi])


def _fold_vectorised(tbl: pa.Table, rule: StayRule, out: _Out) -> None:
    """The fold of users without a carried summary, all at once."""
    from mobsig import stay_state as SS

    n = tbl.num_rows
    users = tbl.column(USER_ID)
    new_user = np.ones(n, dtype=bool)
    if n > 1:
        new_user[1:] = pc.not_equal(users.slice(1), users.slice(0, n - 1)).to_numpy(
            zero_copy_only=False)
    t = tbl.column(T_US).to_numpy().astype(np.int64)
    x = tbl.column(X_M).to_numpy().astype(np.float64)
    y = tbl.column(Y_M).to_numpy().astype(np.float64)
    r = tbl.column(STAY_RADIUS_M).to_numpy().astype(np.float64)
    merged = merge_stays(find_stays(new_user, t, x, y, r, rule), new_user, t, x, y, r, rule)
    lon = tbl.column(LON).to_numpy().astype(np.float64)
    lat = tbl.column(LAT).to_numpy().astype(np.float64)
    cells = tbl.column(CELL_ID).to_numpy(zero_copy_only=False)
    cell_names, cell_code = np.unique(cells, return_inverse=True)
    s = summarise_stays(merged.stay_start, merged.stay_end, t, lon, lat, x, y, cell_code)
    m = len(s.t0_us)
    if m:
        out.add(**{USER_ID: pc.take(users, pa.array(merged.stay_start)),
                   KIND: [KIND_STAY] * m, T0_US: s.t0_us, T1_US: s.t1_us, LON: s.lon,
                   LAT: s.lat, X_M: s.x, Y_M: s.y, CELL_ID: cell_names[s.cell_code],
                   N_EVENTS: s.n_events})
    o_start, o_end = merged.open_start, merged.open_end
    if rule.summary_carry and len(o_start):
        # each open part as its summary (a short run: its records), from its records
        keep_s: list[int] = []
        keep_e: list[int] = []
        st_users: list[str] = []
        sts: list = []
        for a, b in zip(o_start.tolist(), o_end.tolist(), strict=True):
            f = SS.fold_user(None, _user_rows(t, x, y, r, lon, lat, cells, a, b), rule)
            if f.stays:
                raise AssertionError("stay kernel: a carried run closed a stay on itself")
            if f.state is not None:
                st_users.append(users[a].as_py())
                sts.append(f.state)
            if f.raw_from is not None:
                keep_s.append(a + f.raw_from)
                keep_e.append(b)
        out.states(st_users, sts)
        o_start = np.asarray(keep_s, dtype=np.int64)
        o_end = np.asarray(keep_e, dtype=np.int64)
    o_len = o_end - o_start
    o_rows = np.repeat(o_start, o_len) + _ranks(o_len)
    if len(o_rows):
        _open_rows(out, users, o_rows, t, lon, lat, x, y, r, cells)


def _open_rows(out: _Out, users, o_rows: np.ndarray, t, lon, lat, x, y, r, cells) -> None:
    k = len(o_rows)
    out.add(**{USER_ID: pc.take(users, pa.array(o_rows)), KIND: [KIND_OPEN] * k,
               T0_US: t[o_rows], T1_US: t[o_rows], LON: lon[o_rows], LAT: lat[o_rows],
               X_M: x[o_rows], Y_M: y[o_rows], STAY_RADIUS_M: r[o_rows],
               CELL_ID: cells[o_rows].astype(object), N_EVENTS: np.ones(k, np.int32)})


def _rest_segments(users: list[str], states: dict, bounds: dict, t, x, y, r, lon, lat,
                   cells, rule: StayRule) -> dict[str, Segments]:
    """Per stated user whose day goes on after its carried open stay: :func:`find_stays`
    on its records from :func:`mobsig.stay_state.open_end`'s e0 on, for all of them in ONE
    call (each user's rows a user of their own: the fold of a user depends on its rows
    only), positions relative to e0, as :func:`mobsig.stay_state.fold_user` would find
    them one by one."""
    from mobsig import stay_state as SS

    pieces: list[tuple[str, int, int]] = []  # user, first row, rows
    for user in users:
        a, b = bounds.get(user, (0, 0))
        e0, goes_on = SS.open_end(states[user], _user_rows(t, x, y, r, lon, lat, cells, a, b),
                                  rule)
        if not goes_on and b - a - e0 > 0:
            pieces.append((user, a + e0, b - a - e0))
    if not pieces:
        return {}
    lens = np.array([k for _, _, k in pieces], dtype=np.int64)
    firsts = np.array([s for _, s, _ in pieces], dtype=np.int64)
    idx = np.repeat(firsts, lens) + _ranks(lens)
    at = np.cumsum(lens) - lens  # each piece's first position in idx
    new_user = np.zeros(len(idx), dtype=bool)
    new_user[at] = True
    seg = find_stays(new_user, t[idx], x[idx], y[idx], r[idx], rule)
    ss = np.searchsorted(seg.stay_start, np.r_[at, len(idx)])
    oo = np.searchsorted(seg.open_start, np.r_[at, len(idx)])
    out: dict[str, Segments] = {}
    for k, (user, _, _) in enumerate(pieces):
        p0 = at[k]
        o = slice(oo[k], oo[k + 1])
        out[user] = Segments(seg.stay_start[ss[k]:ss[k + 1]] - p0,
                             seg.stay_end[ss[k]:ss[k + 1]] - p0,
                             seg.open_start[o] - p0, seg.open_end[o] - p0,
                             seg.open_stay[o] if seg.open_stay is not None else None)
    return out


def _fold_stated(tbl: pa.Table, states: dict, rule: StayRule, out: _Out) -> None:
    """The fold of the users with a carried summary: one
    :func:`mobsig.stay_state.fold_user` call each (users without a record of the day too:
    their open stay closes), the stays of their records after the carried open stay found
    for all of them at once (:func:`_rest_segments`). On every day but a first, nearly
    every card is here: this loop is the steady state's share of the kernel (README,
    Benchmark)."""
    from mobsig import stay_state as SS

    n = tbl.num_rows
    users_col = tbl.column(USER_ID)
    u = users_col.to_numpy(zero_copy_only=False) if n else np.zeros(0, dtype=object)
    t = tbl.column(T_US).to_numpy().astype(np.int64) if n else np.zeros(0, np.int64)
    x = tbl.column(X_M).to_numpy().astype(np.float64) if n else np.zeros(0)
    y = tbl.column(Y_M).to_numpy().astype(np.float64) if n else np.zeros(0)
    r = tbl.column(STAY_RADIUS_M).to_numpy().astype(np.float64) if n else np.zeros(0)
    lon = tbl.column(LON).to_numpy().astype(np.float64) if n else np.zeros(0)
    lat = tbl.column(LAT).to_numpy().astype(np.float64) if n else np.zeros(0)
    cells = (tbl.column(CELL_ID).to_numpy(zero_copy_only=False) if n
             else np.zeros(0, dtype=object))
    bounds: dict[str, tuple[int, int]] = {}
    if n:
        starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
        ends = np.r_[starts[1:], n]
        bounds = {str(u[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
    st_users: list[str] = []
    sts: list = []
    stay_users: list[str] = []
    stays: list = []
    raw: list[np.ndarray] = []
    users = sorted(states)
    rests = _rest_segments(users, states, bounds, t, x, y, r, lon, lat, cells, rule)
    for user in users:
        a, b = bounds.get(user, (0, 0))
        f = SS.fold_user(states[user], _user_rows(t, x, y, r, lon, lat, cells, a, b), rule,
                         rests.get(user))
        stay_users += [user] * len(f.stays)
        stays += f.stays
        if f.state is not None:
            st_users.append(user)
            sts.append(f.state)
        if f.raw_from is not None:
            raw.append(np.arange(a + f.raw_from, b, dtype=np.int64))
    out.summaries(stay_users, stays)
    out.states(st_users, sts)
    if raw:
        _open_rows(out, users_col, np.concatenate(raw), t, lon, lat, x, y, r, cells)


def stay_batches(batches: Iterator[pa.RecordBatch], rule: StayRule
                 ) -> Iterator[pa.RecordBatch]:
    """Fold Arrow batches sorted by (user, time, cell, ...), carrying the last user's rows
    into the next batch so that a user split over batches is folded in one piece."""
    held: pa.Table | None = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        tbl = pa.Table.from_batches([batch]).select(list(KERNEL_INPUT))
        if held is not None:
            tbl = pa.concat_tables([held, tbl])
        tbl = tbl.combine_chunks()
        users = tbl.column(USER_ID)
        n = tbl.num_rows
        last = users[n - 1]
        same = pc.equal(users, last).to_numpy(zero_copy_only=False)
        # rows are sorted by user: the last user's rows are a suffix
        split = n - int(np.argmin(same[::-1])) if not same.all() else 0
        out = _process(tbl.slice(0, split), rule) if split else None
        held = tbl.slice(split)
        if out is not None:
            yield out
    if held is not None:
        out = _process(held, rule)
        if out is not None:
            yield out


# --------------------------------------------------------------------------------------
# Spark transforms


def filter_stay_users(events: DataFrame, iot_cards: DataFrame | None = None) -> DataFrame:
    """Drop heavy users' events and every event of an IoT card.

    Needs ``is_heavy_user``; ``iot_cards`` (column ``user_id``, e.g. from
    flags.card_tac where ``is_iot_tac``) lists cards to drop entirely. Columns unchanged.
    """
    out = events.where(~F.col(IS_HEAVY_USER))
    if iot_cards is not None:
        out = out.join(F.broadcast(iot_cards.select(USER_ID).distinct()), on=USER_ID,
                       how="left_anti")
    return out


def _kernel_columns(rows: DataFrame, lon: str, lat: str, radius: Column) -> DataFrame:
    return rows.select(USER_ID, F.unix_micros(EVENT_TIME).alias(T_US), CELL_ID,
                       F.col(lon).alias(LON), F.col(lat).alias(LAT), X_M, Y_M,
                       radius.alias(STAY_RADIUS_M))


def to_kernel_input(events: DataFrame, radius: StayRadius) -> DataFrame:
    """Events (``event_time`` and their cell's position columns, as
    :func:`mobsig.cells.cells_on_day` gives them) -> the kernel's input columns
    (:data:`KERNEL_INPUT`), one row per event.

    Stays are found with the antenna positions (``x_m``/``y_m``: the stay radius is about
    sites) and placed with the cells' service points (``svc_lon``/``svc_lat`` become the
    kernel's ``lon``/``lat``, the stay's reported position). ``stay_radius_m`` is computed
    from the cell's ``spacing_m`` (:meth:`StayRadius.column`).
    """
    return _kernel_columns(events, SVC_LON, SVC_LAT, radius.column(SPACING_M))


def fold_stays(records: DataFrame, rule: StayRule, partitions: int | None = None
               ) -> DataFrame:
    """Run the stay fold: shuffle by user once, sort, ``mapInArrow`` the numpy kernel.

    ``records`` has :data:`KERNEL_INPUT`; the result has :data:`KERNEL_OUTPUT` (closed
    stays and open-run records). The result does not depend on row order or partitioning.
    """
    parts = (records.repartition(partitions, USER_ID) if partitions
             else records.repartition(USER_ID))
    # (user, time, cell) orders real data; the other columns only make exact ties of
    # malformed input (one cell at two positions) deterministic too
    ordered = parts.sortWithinPartitions(*KERNEL_INPUT)

    def kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return stay_batches(batches, rule)

    return ordered.select(*KERNEL_INPUT).mapInArrow(kernel, KERNEL_OUTPUT)


def stays_from_fold(folded: DataFrame, h3_resolution: int) -> DataFrame:
    """Closed stays of the fold's output as :data:`STAY_COLUMNS` (no ``dt``)."""
    s = folded.where(F.col(KIND) == KIND_STAY)
    return s.select(
        USER_ID,
        F.timestamp_micros(T0_US).alias(STAY_START),
        F.timestamp_micros(T1_US).alias(STAY_END),
        ((F.col(T1_US) - F.col(T0_US)) / F.lit(1_000_000)).cast("long").alias(DURATION_S),
        LON, LAT, CELL_ID, h3_hex(LON, LAT, h3_resolution).alias(H3), N_EVENTS, X_M, Y_M)


def open_records_from_fold(folded: DataFrame) -> DataFrame:
    """What is open at the horizon, as carry rows: the summary of each open stay
    (``kind='open_stay'``: event_time = its last record, stay_start = its first, n_events
    the records it stands for, ``state``) and the records of runs still shorter than tau
    (``kind='open_record'``)."""
    o = folded.where(F.col(KIND).isin(KIND_OPEN, KIND_STATE))
    is_state = F.col(KIND) == F.lit(KIND_STATE)
    return o.select(
        USER_ID, F.when(is_state, F.lit(CARRY_STATE)).otherwise(F.lit(CARRY_OPEN)).alias(KIND),
        F.timestamp_micros(T1_US).alias(EVENT_TIME),
        F.when(is_state, F.timestamp_micros(T0_US)).alias(STAY_START),
        F.lit(None).cast("timestamp").alias(STAY_END),
        CELL_ID, LON, LAT, X_M, Y_M, STAY_RADIUS_M, F.lit(None).cast("string").alias(H3),
        F.when(is_state, F.col(N_EVENTS)).alias(N_EVENTS),
        F.when(is_state, F.col(STATE)).alias(STATE))


def carry_open_records(carry: DataFrame) -> DataFrame:
    """The open-run records of a ``stays_carry`` partition, as kernel input: their
    position and ``stay_radius_m`` as stored (kernel input already, radius included)."""
    return _kernel_columns(carry.where(F.col(KIND) == CARRY_OPEN), LON, LAT,
                           F.col(STAY_RADIUS_M))


def carry_last_stays(carry: DataFrame) -> DataFrame:
    """The carried last closed stay per user, with the columns moves need."""
    return carry.where(F.col(KIND) == CARRY_LAST).select(
        USER_ID, STAY_START, STAY_END, LON, LAT, CELL_ID, H3, X_M, Y_M)


_MOVE_SIDE = (STAY_START, STAY_END, LON, LAT, H3, X_M, Y_M)


def moves_between_stays(stays: DataFrame, previous: DataFrame, max_gap_s: float
                        ) -> DataFrame:
    """Moves between consecutive stays of a user, the first one from ``previous``.

    ``stays``: this run's closed stays; ``previous``: at most one earlier stay per user
    (the carried last stay). A move joins each stay of ``stays`` to the user's stay just
    before it (by start) when ``arrival - departure <= max_gap_s``. Output columns:
    user_id, origin_/dest_ lon, lat, h3, departure, arrival, duration_s, dist_m (planar,
    metric CRS). One row per stay of ``stays`` that has a predecessor within the gap.
    """
    cols = [USER_ID, *_MOVE_SIDE]
    both = (stays.select(*cols, F.lit(True).alias("_new"))
            .unionByName(previous.select(*cols, F.lit(False).alias("_new"))))
    w = Window.partitionBy(USER_ID).orderBy(STAY_START, STAY_END)
    lagged = both.select("*", *[F.lag(c).over(w).alias(f"_o_{c}") for c in _MOVE_SIDE])
    dep, arr = F.col(f"_o_{STAY_END}"), F.col(STAY_START)
    dur = ((F.unix_micros(arr) - F.unix_micros(dep)) / F.lit(1_000_000)).cast("long")
    return (lagged.where(F.col("_new") & dep.isNotNull())
            .select(USER_ID,
                    F.col(f"_o_{LON}").alias(ORIGIN_LON), F.col(f"_o_{LAT}").alias(ORIGIN_LAT),
                    F.col(f"_o_{H3}").alias(ORIGIN_H3),
                    F.col(LON).alias(DEST_LON), F.col(LAT).alias(DEST_LAT),
                    F.col(H3).alias(DEST_H3),
                    dep.alias(DEPARTURE), arr.alias(ARRIVAL), dur.alias(DURATION_S),
                    F.hypot(F.col(X_M) - F.col(f"_o_{X_M}"),
                            F.col(Y_M) - F.col(f"_o_{Y_M}")).alias(DIST_M))
            .where(F.col(DURATION_S) <= F.lit(float(max_gap_s))))


def last_stay_per_user(stays: DataFrame, previous: DataFrame, horizon_us: int,
                       max_gap_s: float) -> DataFrame:
    """Each user's latest stay among ``stays`` and ``previous`` (as carry rows), kept only
    while it ended at most ``max_gap_s`` before the horizon (older ones form no move)."""
    cols = [USER_ID, STAY_START, STAY_END, LON, LAT, CELL_ID, H3, X_M, Y_M]
    both = stays.select(*cols).unionByName(previous.select(*cols))
    w = Window.partitionBy(USER_ID).orderBy(F.col(STAY_START).desc(), F.col(STAY_END).desc())
    last = (both.withColumn("_r", F.row_number().over(w)).where("_r = 1")
            .where(F.lit(horizon_us) - F.unix_micros(STAY_END) <= F.lit(max_gap_s * 1e6)))
    return last.select(
        USER_ID, F.lit(CARRY_LAST).alias(KIND), F.lit(None).cast("timestamp").alias(EVENT_TIME),
        STAY_START, STAY_END, CELL_ID, LON, LAT, X_M, Y_M,
        F.lit(None).cast("double").alias(STAY_RADIUS_M), H3,
        F.lit(None).cast("int").alias(N_EVENTS), F.lit(None).cast("string").alias(STATE))


def day_outputs(folded: DataFrame, carry: DataFrame, horizon_us: int, h3_resolution: int,
                max_gap_s: float, keep=lambda df: df
                ) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(stays, moves, new carry) of a day from the fold's output and the previous day's
    carry (its last stays start the day's first moves; the day's open records and last
    stays become the next carry). No ``dt`` column. ``keep`` persists the stays, which
    the three outputs share."""
    stays = keep(stays_from_fold(folded, h3_resolution))
    previous = carry_last_stays(carry)
    new_carry = (open_records_from_fold(folded)
                 .unionByName(last_stay_per_user(stays, previous, horizon_us, max_gap_s)))
    return stays, moves_between_stays(stays, previous, max_gap_s), new_carry
