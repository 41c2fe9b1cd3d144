"""Event cleaning as a numpy kernel: the rules of :mod:`mobsig.clean`, exactly, over Arrow.

For the fused daily pass (events shuffled by user and sorted by (user, time) once, then one
``mapInArrow`` kernel cleans the events and folds the stays), this module computes, per
row, the same ``drop_reason`` and ``is_heavy_user`` as :func:`mobsig.clean.annotate_events`
with its Spark window passes.

The rules (parameters in ``clean.*``, see :mod:`mobsig.clean` for the why):

- **unlocated**: the row has no cell position (``x_m`` null: no version of its cell valid
  on the day). Always ``unlocated`` with ``is_heavy_user = False``, heavy user or not
  (as ``annotate_events`` outputs them).
- **heavy users**: a user with more than ``heavy_max`` rows in the day (located and
  unlocated, clean.heavy_user_events_per_day) has its located rows de-duplicated only
  (the first copy kept, the others ``duplicate`` or ``same_minute``), all with
  ``is_heavy_user = True``.
- every other user's located rows, in the per-user order, three passes:

  - **duplicate**: the row equals the previous row on every raw column (user_id,
    event_time, cell_id, event_type, imei_tac, home_region; null-safe); **same_minute**
    instead when a row of its group of equal rows comes from a coarse source
    (``coarse_time``: whole-minute times, :data:`mobsig.clean.COARSE_TIME`);
  - **pingpong** over the rows not duplicate (*alive*): an alive row ``i`` *closes* an
    excursion when ``p``, the previous alive row of the user at exactly the same
    ``(x_m, y_m)``, exists and (all of): ``i - p <= 2 * (max_records + 1)`` counted in
    located rows of the user *including duplicate rows* (Spark's bounded frame
    ``rowsBetween(-span, -1)``; unlocated rows are not in that window and do not count;
    so an excursion whose records come with many copies is not seen, e.g. A, B x 6
    copies, A with max_records = 2); there are 1..``max_records`` alive rows strictly
    between ``p`` and ``i``; ``t_i - t_p <= window_s``; at least one of them is eligible
    (``event_type`` null or in ``pingpong_event_types``; every row when that list is
    empty); each of them is within ``hypot(x_j - x_i, y_j - y_i) <= max_dist_m`` of row
    ``i``. Every alive row strictly
    between ``p`` and ``i`` of a closing row ``i`` is ``pingpong``;
  - **drift** over the rows neither duplicate nor ping-pong, with ``prev``/``next`` the
    neighbouring such rows of the user: the row has both, ``d_prev > min_dist`` and
    ``d_next > min_dist`` (strict), both legs are *fast* and the leg ``prev -> next`` is
    not, where a leg of ``d`` metres in ``s`` seconds is fast when ``d > s * (v / 3.6)``
    with ``v = vmax_hsr_kmh`` when either end is an HSR cell, else ``vmax_kmh``.

Exactness contract: for input rows sorted as Spark sorts them (below), the reason of
every row equals ``annotate_events``' reason, up to the choice of which of several
identical copies is the kept one (Spark orders copies arbitrarily; here the first in the
input order is kept): per group of rows equal on the raw columns, the multisets of
(reason, is_heavy_user) are equal. Floating point follows the Spark expressions term for
term: ``t = unix_micros / 1e6`` (double), differences of those seconds, ``hypot`` as
``java.lang.Math.hypot`` (:func:`java_hypot`, a bit-exact port of fdlibm's ``e_hypot`` as
the JDK has it; ``numpy.hypot`` differs from it by an ulp on ~10 % of arguments), limits
``kmh / 3.6`` multiplied by the seconds, no division by time. tests/test_clean_kernel.py
checks all of this against Spark on random days.

Input order: all rows of each user of the day (located and unlocated) contiguous, sorted
by (user_id, event_time, cell_id, event_type, imei_tac, home_region), ascending with nulls
first on every key (``sortWithinPartitions`` / ``asc_nulls_first``; strings in UTF-8 byte
order). Equal rows are then adjacent, so ``same_as_prev`` over all rows equals Spark's
duplicate test over the located rows (copies share their cell, hence their locatedness).
Located rows must have finite positions (the cells contract).

Work is vectorised numpy: O(n log n) for the same-location search plus
O(n x max_records) for the excursion distance checks (a Python loop over the at most
2 x max_records + 1 row offsets, each step vectorised over the rows); no loop per row or
per user. About 1 M rows in 0.3 s on one core.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobsig import columns as C
from mobsig.clean import COARSE_TIME, DRIFT, DUPLICATE, PINGPONG, RAW_KEY, SAME_MINUTE, UNLOCATED
from mobsig.config import CleanConfig

#: Reason codes (int8) returned by :func:`clean_reasons`.
KEPT = 0
CODE_UNLOCATED = 1
CODE_DUPLICATE = 2
CODE_PINGPONG = 3
CODE_DRIFT = 4
CODE_SAME_MINUTE = 5
#: ``REASON_OF_CODE[code]``: the ``drop_reason`` string of a code (None = kept).
REASON_OF_CODE: tuple[str | None, ...] = (None, UNLOCATED, DUPLICATE, PINGPONG, DRIFT,
                                          SAME_MINUTE)
#: ``CODE_OF_REASON[reason]``: the inverse (kept = None -> 0).
CODE_OF_REASON: dict[str | None, int] = {r: i for i, r in enumerate(REASON_OF_CODE)}

#: Time column accepted by :func:`reasons_for_table` instead of ``event_time``.
T_US = "t_us"
#: Columns :func:`reasons_for_table` reads (``event_time`` or ``t_us``).
TABLE_COLUMNS: tuple[str, ...] = (*RAW_KEY, C.X_M, C.Y_M, C.IS_HSR)


# --------------------------------------------------------------------------------------
# java.lang.Math.hypot, bit for bit

_TWO_M600 = 2.0 ** -600
_TWO_P600 = 2.0 ** 600
_TWO_P1022 = 2.0 ** 1022
_BIG = float.fromhex("0x1.00000ffffffffp500")
_MIN_NORMAL = float(np.finfo(np.float64).tiny)


def _from_hi(hi: np.ndarray) -> np.ndarray:
    """Doubles with high word ``hi`` and low word 0."""
    return (hi.astype(np.int64) << 32).view(np.float64)


def java_hypot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sqrt(x**2 + y**2)`` exactly as ``java.lang.Math.hypot`` (= ``StrictMath.hypot``,
    the JDK's Java port of fdlibm ``e_hypot.c``), which Spark's ``hypot`` calls.

    Vectorised branch by branch (every branch computed, then selected), all in IEEE
    double without fused multiply-add, so the results are bit-identical to the JVM's.
    ``numpy.hypot`` (the C library's) is also within an ulp but not the same function.
    Non-finite input gives ``|x| + |y|`` (inf or NaN, as Spark returns).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a0, b0 = np.abs(x), np.abs(y)
    swap = b0 > a0
    a = np.where(swap, b0, a0)
    b = np.where(swap, a0, b0)
    with np.errstate(all="ignore"):
        ha = a.view(np.int64) >> 32
        hb = b.view(np.int64) >> 32
        ratio = (ha - hb) > 0x3C00000  # a / b > 2**60: a + b
        big = a + b
        k = np.zeros(a.shape, np.int64)
        down = a > _BIG  # scale by 2**-600
        if down.any():
            a = np.where(down, a * _TWO_M600, a)
            b = np.where(down, b * _TWO_M600, b)
            ha = np.where(down, ha - 0x25800000, ha)
            hb = np.where(down, hb - 0x25800000, hb)
            k = np.where(down, 600, k)
        tiny = b < 2.0 ** -500
        zero = tiny & (b == 0.0)  # hypot(a, 0) = a
        a_at_zero = a
        if tiny.any():
            sub = tiny & (b < _MIN_NORMAL) & ~zero  # subnormal b: scale by 2**1022
            up = tiny & (b >= _MIN_NORMAL)  # scale by 2**600
            a = np.where(sub, a * _TWO_P1022, np.where(up, a * _TWO_P600, a))
            b = np.where(sub, b * _TWO_P1022, np.where(up, b * _TWO_P600, b))
            k = np.where(sub, k - 1022, np.where(up, k - 600, k))
            # ha, hb are rescaled for the 2**600 branch only (as in fdlibm)
            ha = np.where(up, ha + 0x25800000, ha)
            hb = np.where(up, hb + 0x25800000, hb)
        w = a - b
        # w > b
        t1 = _from_hi(ha)
        t2 = a - t1
        w_far = np.sqrt(t1 * t1 - (b * (-b) - t2 * (a + t1)))
        # w <= b
        a2 = a + a
        y1 = _from_hi(hb)
        y2 = b - y1
        t1 = _from_hi(ha + 0x00100000)
        t2 = a2 - t1
        w_near = np.sqrt(t1 * y1 - (w * (-w) - (t1 * y2 + t2 * b)))
        out = np.where(w > b, w_far, w_near)
        if (k != 0).any():
            out = np.where(k != 0, np.ldexp(1.0, k.astype(np.int32)) * out, out)
        out = np.where(zero, a_at_zero, out)
        out = np.where(ratio, big, out)
        nonfinite = ~(np.isfinite(a0) & np.isfinite(b0))
        if nonfinite.any():
            out = np.where(nonfinite, a0 + b0, out)
    return out


# --------------------------------------------------------------------------------------
# the passes (arrays over the located rows of non-heavy users, in order)


def _pingpong(uid: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray,
              elig: np.ndarray, alive: np.ndarray, window_s: float, max_records: int,
              max_dist_m: float) -> np.ndarray:
    """``is_pingpong`` of :func:`mobsig.clean.flag_pingpong` (row numbers = positions in
    these arrays, which hold every located row of the users, duplicates included)."""
    n = len(t)
    out = np.zeros(n, dtype=bool)
    k = int(max_records)
    span = 2 * (k + 1)
    ai = np.flatnonzero(alive)
    if len(ai) < 3:
        return out
    # p(i): the previous alive row of the user at exactly the same (x, y)
    ua, xa, ya = uid[ai], x[ai] + 0.0, y[ai] + 0.0  # + 0.0: -0.0 == 0.0, as in Spark
    order = np.lexsort((ai, ya, xa, ua))
    so, us, xs, ys = ai[order], ua[order], xa[order], ya[order]
    same = (us[1:] == us[:-1]) & (xs[1:] == xs[:-1]) & (ys[1:] == ys[:-1])
    i, p = so[1:][same], so[:-1][same]
    # cheap conditions first: inside the Spark frame, 1..k alive rows between, the
    # window, an eligible row between
    ac = np.cumsum(alive)
    ec = np.cumsum(alive & elig)
    nb = ac[i - 1] - ac[p]
    ok = (i - p <= span) & (nb >= 1) & (nb <= k)
    i, p = i[ok], p[ok]
    ok = (t[i] - t[p] <= float(window_s)) & (ec[i - 1] - ec[p] > 0)
    i, p = i[ok], p[ok]
    if len(i) == 0:
        return out
    # every alive row between is within max_dist of row i (at most span - 1 rows between)
    near = np.ones(len(i), dtype=bool)
    dmax = float(max_dist_m)
    for d in range(1, int((i - p).max())):
        j = i - d
        m = (j > p)
        m[m] = alive[j[m]]
        if m.any():
            jm, im = j[m], i[m]
            h = java_hypot(x[jm] - x[im], y[jm] - y[im])
            near[m] &= h <= dmax
    i, p = i[near], p[near]
    # the alive rows strictly inside a closed excursion
    cover = np.bincount(p + 1, minlength=n + 1) - np.bincount(i, minlength=n + 1)
    return (np.cumsum(cover[:n]) > 0) & alive


def _drift(uid: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray, hsr: np.ndarray,
           alive: np.ndarray, vmax_kmh: float, vmax_hsr_kmh: float, min_dist_m: float
           ) -> np.ndarray:
    """``is_drift`` of :func:`mobsig.clean.flag_drift` over the ``alive`` rows."""
    n = len(t)
    out = np.zeros(n, dtype=bool)
    ai = np.flatnonzero(alive)
    if len(ai) < 3:
        return out
    u = uid[ai]
    both = (u[:-2] == u[1:-1]) & (u[2:] == u[1:-1])  # previous and next of the same user
    c, pv, nx = ai[1:-1][both], ai[:-2][both], ai[2:][both]
    vmax, vhsr = float(vmax_kmh), float(vmax_hsr_kmh)
    d_prev = java_hypot(x[c] - x[pv], y[c] - y[pv])
    d_next = java_hypot(x[nx] - x[c], y[nx] - y[c])
    d_skip = java_hypot(x[nx] - x[pv], y[nx] - y[pv])
    s_prev = t[c] - t[pv]
    s_next = t[nx] - t[c]
    s_skip = t[nx] - t[pv]
    lim_prev = np.where(hsr[c] | hsr[pv], vhsr, vmax) / 3.6
    lim_next = np.where(hsr[c] | hsr[nx], vhsr, vmax) / 3.6
    lim_skip = np.where(hsr[pv] | hsr[nx], vhsr, vmax) / 3.6
    md = float(min_dist_m)
    drift = ((d_prev > md) & (d_next > md)
             & (d_prev > s_prev * lim_prev) & (d_next > s_next * lim_next)
             & ~(d_skip > s_skip * lim_skip))
    out[c[drift]] = True
    return out


# --------------------------------------------------------------------------------------
# the kernel


def clean_reasons(new_user: np.ndarray, t_us: np.ndarray, x: np.ndarray, y: np.ndarray,
                  is_hsr: np.ndarray, eligible: np.ndarray, same_as_prev: np.ndarray,
                  params: CleanConfig, heavy_max: int, *, located: np.ndarray | None = None,
                  user_rows: np.ndarray | None = None, coarse: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Reason code (int8, :data:`REASON_OF_CODE`) and ``is_heavy_user`` of every row.

    Rows: whole users, sorted as in the module docstring. ``new_user``: first row of each
    user; ``t_us``: event time in epoch microseconds (int64); ``x, y``: metric position
    (NaN where unlocated); ``is_hsr``: HSR cell (False where null); ``eligible``: event
    type null or in ``params.pingpong_event_types`` (all True when that list is empty, see
    :func:`eligible_events`); ``same_as_prev``: equal to the previous row on every raw
    column (:func:`same_as_previous`). ``located`` (default ``~isnan(x)``) marks rows
    with a cell position; ``user_rows`` (default: the user's rows in this input) is the
    user's number of bronze rows of the day, compared with ``heavy_max``
    (clean.heavy_user_events_per_day). ``coarse`` (default none): the row's source has
    whole-minute times; a copy whose group of equal rows has a coarse row is
    ``same_minute`` rather than ``duplicate``. Same results as
    :func:`mobsig.clean.annotate_events` (module docstring).
    """
    t_us = np.asarray(t_us, dtype=np.int64)
    n = len(t_us)
    codes = np.zeros(n, dtype=np.int8)
    heavy = np.zeros(n, dtype=bool)
    if n == 0:
        return codes, heavy
    new_user = np.asarray(new_user, dtype=bool).copy()
    new_user[0] = True
    uid = np.cumsum(new_user) - 1
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    located = ~np.isnan(x) if located is None else np.asarray(located, dtype=bool)
    if user_rows is None:
        user_rows = np.bincount(uid)[uid]
    heavy_user = np.asarray(user_rows) > int(heavy_max)
    dup = np.asarray(same_as_prev, dtype=bool) & ~new_user & located

    codes[~located] = CODE_UNLOCATED
    codes[dup] = CODE_DUPLICATE
    if coarse is not None and dup.any():
        # groups of equal rows (adjacent in the sort): a coarse row makes its copies
        # same_minute
        group = np.cumsum(~(np.asarray(same_as_prev, dtype=bool) & ~new_user))
        hit = np.bincount(group, weights=np.asarray(coarse, dtype=bool), minlength=group[-1] + 1)
        codes[dup & (hit[group] > 0)] = CODE_SAME_MINUTE
    heavy[:] = heavy_user & located

    rows = np.flatnonzero(located & ~heavy_user)
    if len(rows) == 0:
        return codes, heavy
    u, xs, ys = uid[rows], x[rows], y[rows]
    ts = t_us[rows].astype(np.float64) / 1e6  # unix_micros(event_time) / 1e6
    alive = ~dup[rows]
    pp = _pingpong(u, ts, xs, ys, np.asarray(eligible, dtype=bool)[rows], alive,
                   params.pingpong_window_s, params.pingpong_max_records,
                   params.pingpong_max_dist_m)
    vhsr = params.drift_vmax_kmh if params.drift_vmax_hsr_kmh is None \
        else params.drift_vmax_hsr_kmh
    dr = _drift(u, ts, xs, ys, np.asarray(is_hsr, dtype=bool)[rows], alive & ~pp,
                params.drift_vmax_kmh, vhsr, params.drift_min_dist_m)
    codes[rows[pp]] = CODE_PINGPONG
    codes[rows[dr]] = CODE_DRIFT
    return codes, heavy


# --------------------------------------------------------------------------------------
# Arrow helpers and entry point


def _column(tbl: pa.Table, name: str) -> pa.Array:
    col = tbl.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _same_null_safe(col: pa.Array) -> np.ndarray:
    """``col[i] <=> col[i-1]`` for i >= 1 (null-safe equality), length ``len(col) - 1``."""
    n = len(col)
    if pa.types.is_null(col.type):  # every value null
        return np.ones(n - 1, dtype=bool)
    a, b = col.slice(1), col.slice(0, n - 1)
    eq = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
    both_null = (pc.is_null(a).to_numpy(zero_copy_only=False)
                 & pc.is_null(b).to_numpy(zero_copy_only=False))
    return eq | both_null


def _time_column(tbl: pa.Table) -> str:
    return T_US if T_US in tbl.column_names else C.EVENT_TIME


def same_as_previous(tbl: pa.Table) -> np.ndarray:
    """Per row: equal to the previous row on every raw column (user_id, event_time or
    t_us, cell_id, event_type, imei_tac, home_region), nulls equal to nulls (Spark's
    ``eqNullSafe``; strings compared byte for byte). False for the first row."""
    n = tbl.num_rows
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    same = np.ones(n - 1, dtype=bool)
    for name in (C.USER_ID, _time_column(tbl), *RAW_KEY[2:]):
        same &= _same_null_safe(_column(tbl, name))
    out[1:] = same
    return out


def new_users(tbl: pa.Table) -> np.ndarray:
    """Per row: first row of its user (user_id differs from the previous row's)."""
    n = tbl.num_rows
    out = np.ones(n, dtype=bool)
    if n > 1:
        out[1:] = ~_same_null_safe(_column(tbl, C.USER_ID))
    return out


def eligible_events(event_type: pa.Array | pa.ChunkedArray, event_types: Sequence[str]
                    ) -> np.ndarray:
    """Per row: may make an excursion ping-pong (``event_type`` null or in
    ``event_types``; every row when ``event_types`` is empty)."""
    if isinstance(event_type, pa.ChunkedArray):
        event_type = event_type.combine_chunks()
    n = len(event_type)
    if not event_types:
        return np.ones(n, dtype=bool)
    values = pa.array(list(event_types), pa.string()).cast(event_type.type)
    hit = pc.fill_null(pc.is_in(event_type, value_set=values), False)
    return (hit.to_numpy(zero_copy_only=False)
            | pc.is_null(event_type).to_numpy(zero_copy_only=False))


def time_micros(tbl: pa.Table) -> np.ndarray:
    """Event times in epoch microseconds: the ``t_us`` column (int64) if present, else
    ``event_time`` (any Arrow timestamp; the instant, whatever its time zone; sub-
    microsecond parts are refused, as Spark has none)."""
    name = _time_column(tbl)
    col = _column(tbl, name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64())
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def reasons_for_table(tbl: pa.Table, params: CleanConfig, heavy_max: int,
                      user_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clean_reasons` of an Arrow table: ``(codes int8, is_heavy_user bool)``.

    ``tbl`` columns: ``user_id``; ``event_time`` (timestamp[us, tz], as Spark's
    ``mapInArrow`` delivers TimestampType) or ``t_us`` (int64 epoch microseconds);
    ``cell_id, event_type, imei_tac, home_region`` (strings, nullable); ``x_m, y_m``
    (float64, null = unlocated: no cell version valid that day); ``is_hsr`` (bool, null =
    False). Rows: every bronze row of the day of each user it holds (a user's rows never
    split between two calls), sorted by (user_id, event_time, cell_id, event_type,
    imei_tac, home_region) ascending, nulls first (``sortWithinPartitions`` after a
    shuffle by user_id). ``heavy_max``: clean.heavy_user_events_per_day; ``user_rows``
    (optional, per row): the user's bronze rows of the day when counted elsewhere, else
    the user's rows in ``tbl``. ``coarse_time`` (bool, optional): the row's source
    file has whole-minute times (copies become ``same_minute``). Other columns are
    ignored. Map the codes to
    ``drop_reason`` with :func:`drop_reasons`.
    """
    x_col = _column(tbl, C.X_M)
    located = pc.is_valid(x_col).to_numpy(zero_copy_only=False)
    x = pc.fill_null(x_col.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    y = pc.fill_null(_column(tbl, C.Y_M).cast(pa.float64()), np.nan).to_numpy(
        zero_copy_only=False)
    hsr = pc.fill_null(_column(tbl, C.IS_HSR), False).to_numpy(zero_copy_only=False)
    coarse = (pc.fill_null(_column(tbl, COARSE_TIME), False).to_numpy(zero_copy_only=False)
              if COARSE_TIME in tbl.column_names else None)
    return clean_reasons(
        new_users(tbl), time_micros(tbl), x, y, hsr,
        eligible_events(tbl.column(C.EVENT_TYPE), params.pingpong_event_types),
        same_as_previous(tbl), params, heavy_max, located=located, user_rows=user_rows,
        coarse=coarse)


def drop_reasons(codes: np.ndarray) -> pa.Array:
    """``drop_reason`` strings of reason codes (null for kept rows)."""
    return pc.take(pa.array(REASON_OF_CODE, pa.string()),
                   pa.array(np.asarray(codes, dtype=np.int8)))
