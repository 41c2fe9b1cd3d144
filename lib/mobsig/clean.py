"""Event cleaning (preprocessing, part 3): locate, de-duplicate, collapse ping-pong, drop drift.

The rules are applied by the daily pass (:mod:`mobsig.daily`, ``jobs/clean_stays.py``)
through the numpy kernel :mod:`mobsig.clean_kernel`. This module states them and keeps
their Spark window form, the reference the kernel is tested against row for row
(tests/test_clean_kernel.py), plus the broadcast cell join the pass uses::

    with_cell_position    broadcast join: each event gets its cell's position (or none)
    heavy_users           per-user daily event counts (an aggregation, before any sort)
    annotate_events       every input row once, with ``drop_reason`` (null = kept):
        heavy users       (broadcast split) de-duplicated only, kept with is_heavy_user
        other users       one shuffle by user_id, sorted by time, then window passes:
                          flag_duplicates -> flag_pingpong -> flag_drift

Nothing is lost silently: a row leaves the clean table only with a ``drop_reason``
(:data:`DROP_REASONS`), so ``input rows = kept rows + rows per reason`` holds exactly and the
job records and checks it.

Rules (parameters in ``clean.*``):

- **duplicate**: a row equal to another on every raw column (:data:`RAW_KEY`); one copy
  is kept.
- **same_minute**: the same, when a copy comes from a source whose event times are
  whole minutes (:data:`COARSE_TIME`, from the source file's time resolution,
  :func:`mobsig.ingest.time_resolution_s`, >= :data:`COARSE_RESOLUTION_S`): at that
  resolution two real records of one minute at one cell (a data session that ends in the
  minute the next one starts, two short sessions of a minute) are equal, and cannot be
  told from a transmitted copy. One is kept as for a duplicate; the others are counted as
  ``same_minute``, never as ``duplicate`` (the removed-share gate leaves them out).
- **pingpong** 乒乓切换: a *location* is the antenna position (x_m, y_m): the sectors of
  one site are one place. An excursion is the run of records between two records at the
  same location A with no record at A in between; it is ping-pong, and its records are
  removed (A is kept), when it has at most ``pingpong_max_records`` records, A is back
  within ``pingpong_window_s`` of leaving, every excursion record is within
  ``pingpong_max_dist_m`` of A (a neighbouring cell, not a far jump), and at least one
  excursion record is a handover-like event (``pingpong_event_types``; a record without
  an event type counts as one; an empty list makes every record eligible). A→B that
  stays at B has no return to A and is never ping-pong. Several B-side records or a
  burst in between are covered by the record bound.
- **drift** 漂移: among the records left, a record whose planar distance to both its
  previous and its next record exceeds ``drift_min_dist_m`` and whose implied speed on
  both legs exceeds that leg's limit, while going from previous to next directly would
  not exceed the limit between them, is removed. A leg (two consecutive records) may go
  up to ``drift_vmax_hsr_kmh`` (350 km/h) when *either* of its two cells is a
  high-speed-rail cell (``is_hsr``: a passenger's phone alternates between the 高铁专网
  and public cells along the line), else up to ``drift_vmax_kmh`` (120 km/h); the limit
  between the neighbours is the HSR one when either neighbour is on an HSR cell. The last
  clause asks that the record be an isolated jump: a fast traveller whose every record is
  fast (a car above 120 km/h, a train on public cells) keeps its records. A day's first
  and last records are never drift.
- **unlocated**: no version of the cell is valid on the day (ingest normally quarantines
  unknown cells; a cell table changed since ingest can still leave some).

Records are ordered per user by (event_time, cell_id, event_type, imei_tac,
home_region): a total order on distinct rows, so the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.config import CleanConfig

DROP_REASON = C.DROP_REASON
DUPLICATE = "duplicate"
PINGPONG = "pingpong"
DRIFT = "drift"
UNLOCATED = "unlocated"
REASONS: tuple[str, ...] = (UNLOCATED, DUPLICATE, PINGPONG, DRIFT)
SAME_MINUTE = "same_minute"
#: every ``drop_reason``: the rules' :data:`REASONS` and the collapse of records equal at a
#: coarse time resolution (what a day's bronze rows reconcile against)
DROP_REASONS: tuple[str, ...] = (*REASONS, SAME_MINUTE)
#: optional boolean input column: the row's source file has a coarse time resolution
COARSE_TIME = "coarse_time"
#: a source whose times are whole multiples of this (seconds) is coarse: whole minutes
COARSE_RESOLUTION_S = 60.0

# every raw column of an event: rows equal on all of them are exact duplicates
RAW_KEY: tuple[str, ...] = (C.USER_ID, C.EVENT_TIME, C.CELL_ID, C.EVENT_TYPE, C.IMEI_TAC,
                            C.HOME_REGION)
POSITION_COLUMNS: tuple[str, ...] = (C.LON, C.LAT, C.X_M, C.Y_M, C.SPACING_M,
                                    C.SVC_LON, C.SVC_LAT)
CELL_COLUMNS: tuple[str, ...] = (*POSITION_COLUMNS, C.IS_HSR)

# working columns (dropped before the result is returned)
_T = "_t_s"
_IDX = "_idx"
_OPEN = "_open_idx"


def _user_window():
    """Per-user order used by every window pass (one shuffle and sort, reused)."""
    return Window.partitionBy(C.USER_ID).orderBy(*[F.col(c).asc_nulls_first()
                                                   for c in RAW_KEY[1:]])


# --------------------------------------------------------------------------------------
# cells and positions


def with_cell_position(events: DataFrame, cells_on_day: DataFrame) -> DataFrame:
    """Add the serving cell's ``lon, lat, x_m, y_m, spacing_m, svc_lon, svc_lat, is_hsr``
    (broadcast join with :func:`mobsig.cells.cells_on_day`).

    Keeps every event (left join); the cell columns are null when the cell has no
    version on the day. ``cells_on_day`` must have one row per cell_id, or events are
    multiplied.
    """
    cols = cells_on_day.select(C.CELL_ID, *CELL_COLUMNS)
    return events.join(F.broadcast(cols), on=C.CELL_ID, how="left")


# --------------------------------------------------------------------------------------
# heavy users


def user_event_counts(events: DataFrame) -> DataFrame:
    """``user_id, n_events``: rows per user (an aggregation; no per-user sort)."""
    return events.groupBy(C.USER_ID).agg(F.count(F.lit(1)).alias(C.N_EVENTS))


def heavy_users(events: DataFrame, max_events_per_day: int) -> DataFrame:
    """Users with more than ``max_events_per_day`` rows in ``events`` (one day):
    ``user_id, n_events``. Small; broadcast it."""
    return user_event_counts(events).where(F.col(C.N_EVENTS) > F.lit(max_events_per_day))


# --------------------------------------------------------------------------------------
# the window passes (input: one user's rows, ordered by _user_window)


def flag_duplicates(events: DataFrame) -> DataFrame:
    """Add ``is_duplicate``: the row equals the previous one in the per-user order on every
    column of :data:`RAW_KEY` (ordering by all of them makes copies adjacent; the first
    copy is not a duplicate). Rows are not dropped."""
    w = _user_window()
    same = F.lit(True)
    for c in RAW_KEY[1:]:
        same = same & F.lag(F.col(c)).over(w).eqNullSafe(F.col(c))
    first = F.lag(F.col(C.EVENT_TIME)).over(w).isNull()
    return events.withColumn("is_duplicate", ~first & same)


def flag_duplicates_by_key(events: DataFrame) -> DataFrame:
    """Add ``is_duplicate`` without a per-user sort (for heavy users): every copy of a row
    but the first, grouping by all of :data:`RAW_KEY` (spreads a heavy user's rows)."""
    w = Window.partitionBy(*RAW_KEY).orderBy(F.lit(1))
    return events.withColumn("is_duplicate", F.row_number().over(w) > 1)


def _eligible(event_types: Sequence[str]) -> Column:
    if not event_types:
        return F.lit(True)
    return F.col(C.EVENT_TYPE).isNull() | F.col(C.EVENT_TYPE).isin(list(event_types))


def _alive(skip: Sequence[str]) -> Column:
    """True for rows that take part in a pass (none of the ``skip`` flags set)."""
    alive = F.lit(True)
    for c in skip:
        alive = alive & ~F.coalesce(F.col(c), F.lit(False))
    return alive


def flag_pingpong(
    events: DataFrame,
    window_s: float,
    max_records: int,
    max_dist_m: float,
    event_types: Sequence[str] = ("handover",),
    skip: Sequence[str] = (),
) -> DataFrame:
    """Add ``is_pingpong``: the record lies in a ping-pong excursion (module docstring).

    Needs ``user_id``, the :data:`RAW_KEY` columns and ``x_m, y_m`` (non-null). Rows
    with any boolean column in ``skip`` set (e.g. ``is_duplicate``) are ignored: never
    looked at, never flagged. Rows are not dropped. Two bounded window frames: each
    record looks back for the last record at its own location (closing an excursion),
    and each record looks ahead for a closing record that covers it. The frames span
    ``2 x (max_records + 1)`` rows so that skipped rows in between (duplicates) do not
    hide an excursion.
    """
    w = _user_window()
    k = int(max_records)
    span = 2 * (k + 1)
    alive = _alive(skip)
    same = "(e.x = x_m AND e.y = y_m)"
    hist = F.collect_list(F.when(alive, F.struct(
        F.col(_IDX).alias("idx"), F.col(_T).alias("t"), F.col(C.X_M).alias("x"),
        F.col(C.Y_M).alias("y"), _eligible(event_types).alias("elig"),
    ))).over(w.rowsBetween(-span, -1))
    df = events.withColumns({
        _T: F.unix_micros(F.col(C.EVENT_TIME)) / F.lit(1e6),
        _IDX: F.row_number().over(w),
    }).withColumn("_hist", hist)
    # the previous record at this location: the struct with the largest idx among them
    df = df.withColumn("_p", F.expr(f"array_max(filter(_hist, e -> {same}))"))
    df = df.withColumn("_between", F.expr("filter(_hist, e -> e.idx > _p.idx)"))
    closes = (
        alive
        & F.col("_p").isNotNull()
        & (F.size("_between") > 0)
        & (F.size("_between") <= F.lit(k))
        & (F.col(_T) - F.col("_p.t") <= F.lit(float(window_s)))
        & F.expr("exists(_between, e -> e.elig)")
        & F.expr(f"forall(_between, e -> hypot(e.x - x_m, e.y - y_m) <= {float(max_dist_m)!r})")
    )
    df = df.withColumn(_OPEN, F.when(closes, F.col("_p.idx")))
    ahead = F.collect_list(F.col(_OPEN)).over(w.rowsBetween(1, span))
    covered = F.exists(ahead, lambda o: o < F.col(_IDX))
    df = df.withColumn("is_pingpong", alive & covered)
    return df.drop("_hist", "_p", "_between", _OPEN, _IDX, _T)


def flag_drift(
    events: DataFrame,
    vmax_kmh: float,
    min_dist_m: float,
    skip: Sequence[str] = (),
    vmax_hsr_kmh: float | None = None,
) -> DataFrame:
    """Add ``is_drift``: the record jumps away from both neighbours (module docstring).

    Needs ``user_id``, the :data:`RAW_KEY` columns and ``x_m, y_m``; ``is_hsr`` if present
    (null or absent = a public cell). A leg between two records may go up to
    ``vmax_hsr_kmh`` when either record's cell is an HSR cell, else up to ``vmax_kmh``;
    the previous and next records must be within that leg limit of each other (HSR when
    either neighbour is on an HSR cell), so a run of records all faster than the limit is
    kept (default ``vmax_hsr_kmh`` = ``vmax_kmh``: no HSR allowance). Rows with any flag
    in ``skip`` set are ignored (the neighbours of a row are the previous and next rows
    not skipped). Rows are not
    dropped. Distances are planar (metric CRS); simultaneous records at different places
    count as infinitely fast.
    """
    vmax_hsr = float(vmax_kmh if vmax_hsr_kmh is None else vmax_hsr_kmh)
    w = _user_window()
    alive = _alive(skip)
    hsr = (F.coalesce(F.col(C.IS_HSR), F.lit(False)) if C.IS_HSR in events.columns
           else F.lit(False))
    df = events.withColumns({
        _T: F.when(alive, F.unix_micros(F.col(C.EVENT_TIME)) / F.lit(1e6)),
        "_ax": F.when(alive, F.col(C.X_M)),
        "_ay": F.when(alive, F.col(C.Y_M)),
        "_ah": F.when(alive, hsr),
    })
    cols = {}
    for name, src in (("t", _T), ("x", "_ax"), ("y", "_ay"), ("h", "_ah")):
        cols[f"_p{name}"] = F.expr(f"lag({src}) IGNORE NULLS").over(w)
        cols[f"_n{name}"] = F.expr(f"lead({src}) IGNORE NULLS").over(w)
    df = df.withColumns(cols)

    def fast(dist: Column, secs: Column, kmh: Column | float) -> Column:
        # dist / secs > vmax, written without dividing (secs may be 0)
        return dist > secs * (kmh / F.lit(3.6))

    def limit(other_hsr: str) -> Column:
        return F.when(hsr | F.col(other_hsr), F.lit(vmax_hsr)).otherwise(F.lit(float(vmax_kmh)))

    d_prev = F.hypot(F.col(C.X_M) - F.col("_px"), F.col(C.Y_M) - F.col("_py"))
    d_next = F.hypot(F.col("_nx") - F.col(C.X_M), F.col("_ny") - F.col(C.Y_M))
    d_skip = F.hypot(F.col("_nx") - F.col("_px"), F.col("_ny") - F.col("_py"))
    s_prev = F.col(_T) - F.col("_pt")
    s_next = F.col("_nt") - F.col(_T)
    drift = (
        alive & F.col("_pt").isNotNull() & F.col("_nt").isNotNull()
        & (d_prev > F.lit(float(min_dist_m))) & (d_next > F.lit(float(min_dist_m)))
        & fast(d_prev, s_prev, limit("_ph")) & fast(d_next, s_next, limit("_nh"))
        & ~fast(d_skip, F.col("_nt") - F.col("_pt"),
                F.when(F.col("_ph") | F.col("_nh"), F.lit(vmax_hsr))
                .otherwise(F.lit(float(vmax_kmh))))
    )
    return df.withColumn("is_drift", F.coalesce(drift, F.lit(False))).drop(
        _T, "_ax", "_ay", "_ah", "_pt", "_px", "_py", "_ph", "_nt", "_nx", "_ny", "_nh")


# --------------------------------------------------------------------------------------
# the whole cleaning of one day


def annotate_events(located: DataFrame, heavy: DataFrame, params: CleanConfig) -> DataFrame:
    """Every row of ``located`` exactly once, with ``drop_reason`` and ``is_heavy_user``.

    ``located``: events of one day with the bronze columns and :data:`CELL_COLUMNS`
    (null = unlocated) from :func:`with_cell_position`. ``heavy``: the ``user_id`` set from
    :func:`heavy_users` (broadcast; those users never enter the per-user sort and are only
    de-duplicated). ``drop_reason`` is null for kept rows, else one of
    :data:`DROP_REASONS` (``same_minute`` only when ``located`` has the boolean column
    :data:`COARSE_TIME`: copies of a group of equal rows any of which is coarse).
    Adds ``drop_reason`` and ``is_heavy_user``; keeps the input columns.
    """
    cols = located.columns
    heavy_ids = F.broadcast(heavy.select(C.USER_ID).distinct())
    unlocated = located.where(F.col(C.X_M).isNull())
    ok = located.where(F.col(C.X_M).isNotNull())

    def out(df: DataFrame, reason: Column, is_heavy: bool) -> DataFrame:
        return df.select(*cols, reason.cast("string").alias(DROP_REASON),
                         F.lit(is_heavy).alias(C.IS_HEAVY_USER))

    lost = out(unlocated, F.lit(UNLOCATED), False)
    if COARSE_TIME in cols:  # a copy group with a coarse row: same_minute, not duplicate
        coarse = F.max(F.coalesce(F.col(COARSE_TIME), F.lit(False)).cast("int")).over(
            Window.partitionBy(*RAW_KEY)) == 1
        copy = F.when(coarse, F.lit(SAME_MINUTE)).otherwise(F.lit(DUPLICATE))
    else:
        copy = F.lit(DUPLICATE)

    hv = flag_duplicates_by_key(ok.join(heavy_ids, on=C.USER_ID, how="left_semi"))
    heavy_rows = out(hv, F.when(F.col("is_duplicate"), copy), True)

    # one shuffle by user and one sort; the passes skip the rows flagged before them
    normal = (ok.join(heavy_ids, on=C.USER_ID, how="left_anti")
              .transform(flag_duplicates)
              .transform(flag_pingpong, params.pingpong_window_s, params.pingpong_max_records,
                         params.pingpong_max_dist_m, params.pingpong_event_types,
                         skip=("is_duplicate",))
              .transform(flag_drift, params.drift_vmax_kmh, params.drift_min_dist_m,
                         skip=("is_duplicate", "is_pingpong"),
                         vmax_hsr_kmh=params.drift_vmax_hsr_kmh))
    reason = (F.when(F.col("is_duplicate"), copy)
              .when(F.col("is_pingpong"), F.lit(PINGPONG))
              .when(F.col("is_drift"), F.lit(DRIFT)))
    return lost.unionByName(heavy_rows).unionByName(out(normal, reason, False))


def kept(annotated: DataFrame) -> DataFrame:
    """Rows of :func:`annotate_events` without a drop reason, without that column."""
    return annotated.where(F.col(DROP_REASON).isNull()).drop(DROP_REASON)
