"""The daily pass: clean a day's events and fold its stays in ONE shuffle by user.

Driven by ``jobs/clean_stays.py``::

    bronze (dt=D) --broadcast join--> cell version valid on D (or none: unlocated)
      + what D-1 carried (stays_carry: kind open_stay, one summary row per open stay,
        and kind open_record, the records of a run still shorter than tau)
    --> one repartition by user_id, one sort by (user_id, event_time, cell_id, event_type,
        imei_tac, home_region)
    --> one mapInArrow over whole users (:func:`pass_batches`):
          clean      duplicates (same_minute where times are whole minutes), heavy
                     users, ping-pong, drift, unlocated
                     (:mod:`mobsig.clean_kernel`, the rules of :mod:`mobsig.clean`)
          IoT cards  the card's most frequent TAC is an IoT device type (paths.tac_types)
          stays      the exact anchor-rule fold of :mod:`mobsig.stays` on the kept events of
                     the day's human cards behind their carried open records
          counts     rows per drop reason, heavy rows, excluded events, carried records and
                     the events' uniqueness violations, accumulated per batch
    --> one cached frame of ``kind`` rows: ``event`` (a kept event: events_clean),
        ``stay`` / ``open`` (the fold's output, :data:`mobsig.stays.KERNEL_OUTPUT`),
        ``count`` (``name``, ``n``: the accumulated counts)

Why one pass that writes ``events_clean`` rather than stays reading it back: a table
clustered by user cannot be read back without a shuffle (Delta keeps no bucketing, and a
split of a file may cut a user in two), so the stays would pay a second shuffle and sort of
the whole day. The events are sorted once; everything else (moves, the carry's last stays)
works on the stays, an order of magnitude smaller.

Determinism: the order is total on distinct rows and the kernel's results depend only on
each user's rows, so the output does not depend on partitioning or batch size. Results are
identical to running ``clean.annotate_events`` and then ``stays.fold_stays`` (tests).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from mobsig import clean
from mobsig import clean_kernel as K
from mobsig import columns as C
from mobsig import stays as S
from mobsig.config import CleanConfig, Config
from mobsig.runner import JobContext

KIND = C.CARRY_KIND
EVENT = "event"
COUNT = "count"
NAME = "name"
N = "n"
IS_CARRY = "_is_carry"
CARRY_RADIUS = "_carry_radius"
CARRY_STATE = "_carry_state"

#: the raw columns, in sort order (a total order on distinct rows)
SORT_KEY = clean.RAW_KEY
#: columns of a kept event (events_clean without dt): the cell, not its position (the
#: cells table's version valid on the day has it, mobsig.cells.events_placed); the pass
#: reads the metric position, spacing and service point (PASS_INPUT: the antenna's lon/lat
#: is no input, stays are placed at service points) and gives positions back on stays only
EVENT_COLUMNS = (*clean.RAW_KEY, C.IS_HEAVY_USER, C.REGION)
#: what the pass reads per row
PASS_INPUT = (*clean.RAW_KEY, C.X_M, C.Y_M, C.SPACING_M, C.SVC_LON, C.SVC_LAT, C.IS_HSR,
              C.REGION, clean.COARSE_TIME, IS_CARRY, CARRY_RADIUS, CARRY_STATE)

# counts the pass accumulates (``count`` rows); drop reasons use clean.DROP_REASONS' names
KEPT = "kept"
KEPT_HEAVY = "heavy_rows"
HEAVY_USERS = "heavy_users"
STAY_EXCLUDED = "excluded_events"
CARRY_IN = "carry_in"
#: stays closed that started more than stays.max_open_h before midnight (closed by the
#: cap instead of being carried on, or ended today after lasting that long)
CAPPED = "stays_over_max_open"
NOT_UNIQUE = "events_not_unique"
#: kept events left out of the stay fold as excursions (mobsig.stays.excursions)
EXCURSIONS = S.EXCURSIONS
#: the counts a run records as facts
FACTS = (HEAVY_USERS, KEPT_HEAVY, STAY_EXCLUDED, CARRY_IN, CAPPED, EXCURSIONS)
COUNT_NAMES = (KEPT, KEPT_HEAVY, *clean.DROP_REASONS, HEAVY_USERS, STAY_EXCLUDED, CARRY_IN,
               CAPPED, NOT_UNIQUE, EXCURSIONS)

_TS = T.TimestampType()
PASS_OUTPUT = T.StructType([
    T.StructField(KIND, T.StringType(), False),
    T.StructField(C.USER_ID, T.StringType(), True),
    T.StructField(C.EVENT_TIME, _TS, True),
    T.StructField(C.CELL_ID, T.StringType(), True),
    T.StructField(C.EVENT_TYPE, T.StringType(), True),
    T.StructField(C.IMEI_TAC, T.StringType(), True),
    T.StructField(C.HOME_REGION, T.StringType(), True),
    T.StructField(C.LON, T.DoubleType(), True),
    T.StructField(C.LAT, T.DoubleType(), True),
    T.StructField(C.X_M, T.DoubleType(), True),
    T.StructField(C.Y_M, T.DoubleType(), True),
    T.StructField(C.IS_HEAVY_USER, T.BooleanType(), True),
    T.StructField(C.REGION, T.StringType(), True),
    T.StructField(S.T0_US, T.LongType(), True),
    T.StructField(S.T1_US, T.LongType(), True),
    T.StructField(C.STAY_RADIUS_M, T.DoubleType(), True),
    T.StructField(C.N_EVENTS, T.IntegerType(), True),
    T.StructField(S.STATE, T.StringType(), True),
    T.StructField(NAME, T.StringType(), True),
    T.StructField(N, T.LongType(), True),
])


@dataclass(frozen=True)
class PassParams:
    """What the kernel needs, picklable (shipped to the Python workers once)."""

    clean: CleanConfig
    rule: S.StayRule
    radius: S.StayRadius
    iot_tacs: frozenset[str] | None  # None: no TAC table (no card is IoT)

    @classmethod
    def of(cls, cfg: Config, day: dt.date, iot_tacs: frozenset[str] | None,
           summary_carry: bool = True) -> PassParams:
        """The pass of ``day`` with the clean.* and stays.* settings of ``cfg``
        (``summary_carry`` off: the record carry, the reference for tests and the bench)."""
        st = cfg.stays
        return cls(cfg.clean, S.StayRule.of(st.tau_min, st.gap_cap_h,
                                            S.horizon_micros(day, cfg.run.timezone),
                                            st.max_open_h, summary_carry,
                                            st.excursion_max_dist_m),
                   S.StayRadius(st.radius_spacing_factor, st.radius_dense_m,
                                st.radius_sparse_m), iot_tacs)



# --------------------------------------------------------------------------------------
# the kernel (pyarrow + numpy, whole users per call)


def iot_users(tbl: pa.Table, iot_tacs: frozenset[str] | None) -> np.ndarray:
    """Per row: the row's card has an IoT most frequent TAC (:func:`mobsig.flags.card_tac`:
    among rows with a non-blank ``imei_tac``, TAC = first 8 characters after trimming
    spaces; ties go to the smallest TAC). ``tbl``: rows of whole cards, sorted by card."""
    n = tbl.num_rows
    if not iot_tacs or n == 0:
        return np.zeros(n, dtype=bool)
    tac = pc.utf8_slice_codeunits(pc.utf8_trim(tbl.column(C.IMEI_TAC), " "), 0, 8)
    has = pc.fill_null(pc.not_equal(pc.utf8_trim(tbl.column(C.IMEI_TAC), " "), ""), False)
    users = tbl.column(C.USER_ID)
    t = pa.table({"u": users, "tac": tac}).filter(has)
    if t.num_rows == 0:
        return np.zeros(n, dtype=bool)
    g = t.group_by(["u", "tac"]).aggregate([("tac", "count")])
    g = g.sort_by([("u", "ascending"), ("tac_count", "descending"), ("tac", "ascending")])
    u = g.column("u").to_numpy(zero_copy_only=False)
    first = np.r_[True, u[1:] != u[:-1]] if len(u) else np.zeros(0, bool)
    top_u = u[first]
    top_tac = g.column("tac").to_numpy(zero_copy_only=False)[first]
    iot_u = top_u[np.isin(top_tac, np.array(sorted(iot_tacs), dtype=object))]
    return np.isin(users.to_numpy(zero_copy_only=False), iot_u)


def process(tbl: pa.Table, p: PassParams, schema: pa.Schema) -> list[pa.RecordBatch]:
    """Clean and fold a table of whole users (rows sorted by :data:`SORT_KEY`, so each
    user's carried open records come first): the event, stay/open and count rows."""
    if tbl.num_rows == 0:
        return []
    carry = tbl.column(IS_CARRY).to_numpy(zero_copy_only=False).astype(bool)
    day_idx = np.flatnonzero(~carry)
    day = tbl.take(pa.array(day_idx)) if carry.any() else tbl
    codes, heavy = K.reasons_for_table(day, p.clean, p.clean.heavy_user_events_per_day)
    keep = codes == K.KEPT
    kept = day.filter(pa.array(keep))
    starts = np.flatnonzero(K.new_users(day))
    rows_per_user = np.diff(np.r_[starts, day.num_rows])
    counts = {name: int(np.sum(codes == code)) for code, name in enumerate(K.REASON_OF_CODE)
              if name is not None}
    counts.update({KEPT: int(keep.sum()), KEPT_HEAVY: int((keep & heavy).sum()),
                   HEAVY_USERS: int(np.sum(rows_per_user > p.clean.heavy_user_events_per_day)),
                   CARRY_IN: int(carry.sum()),
                   NOT_UNIQUE: int(K.same_as_previous(kept).sum()) if kept.num_rows else 0})
    out: list[pa.RecordBatch] = []
    if kept.num_rows:
        out.append(_event_batch(kept, heavy[keep], schema))
    # the fold: every carried open record, then the kept events of the day's human cards
    human = ~heavy[keep] & ~iot_users(kept, p.iot_tacs)
    counts[STAY_EXCLUDED] = int((~human).sum())
    chosen = np.sort(np.r_[np.flatnonzero(carry), day_idx[np.flatnonzero(keep)[human]]])
    counts[CAPPED] = 0
    if len(chosen):
        folded = S._process(_fold_input(tbl.take(pa.array(chosen)), p.radius), p.rule,
                            counts)
        if folded is not None:
            if p.rule.max_open_us is not None:
                t0 = folded.column(S.T0_US).to_numpy()
                stay = pc.equal(folded.column(S.KIND), S.KIND_STAY).to_numpy(
                    zero_copy_only=False)
                counts[CAPPED] = int((stay & (p.rule.horizon_us - t0
                                              > p.rule.max_open_us)).sum())
            out.append(_batch({c: folded.column(c) for c in folded.schema.names},
                              folded.num_rows, schema))
    names = list(counts)
    out.append(_batch({KIND: pa.array([COUNT] * len(names), pa.string()),
                       NAME: pa.array(names, pa.string()),
                       N: pa.array([counts[k] for k in names], pa.int64())},
                      len(names), schema))
    return out


def _fold_input(rows: pa.Table, radius: S.StayRadius) -> pa.Table:
    """Kernel input (:data:`mobsig.stays.KERNEL_INPUT`) of the chosen rows: positions are
    the service points (carried records store theirs there too); the stay radius is the
    carried one or :class:`mobsig.stays.StayRadius` of the cell's spacing."""
    carry = rows.column(IS_CARRY).to_numpy(zero_copy_only=False).astype(bool)
    sp = rows.column(C.SPACING_M).to_numpy(zero_copy_only=False).astype(np.float64)
    r = np.clip(sp * float(radius.factor), float(radius.dense_m), float(radius.sparse_m))
    if carry.any():
        stored = rows.column(CARRY_RADIUS).to_numpy(zero_copy_only=False).astype(np.float64)
        r = np.where(carry, stored, r)
    return pa.table({
        C.USER_ID: rows.column(C.USER_ID),
        S.T_US: pc.cast(rows.column(C.EVENT_TIME), pa.int64()),
        C.CELL_ID: rows.column(C.CELL_ID),
        C.LON: rows.column(C.SVC_LON), C.LAT: rows.column(C.SVC_LAT),
        C.X_M: rows.column(C.X_M), C.Y_M: rows.column(C.Y_M),
        C.STAY_RADIUS_M: pa.array(r, pa.float64()),
        S.STATE: rows.column(CARRY_STATE)})


def _event_batch(kept: pa.Table, heavy: np.ndarray, schema: pa.Schema) -> pa.RecordBatch:
    cols: dict = {KIND: pa.array([EVENT] * kept.num_rows, pa.string()),
                  C.IS_HEAVY_USER: pa.array(heavy, pa.bool_())}
    for c in EVENT_COLUMNS:
        if c not in cols:
            cols[c] = kept.column(c)
    return _batch(cols, kept.num_rows, schema)


def _batch(cols: dict, n: int, schema: pa.Schema) -> pa.RecordBatch:
    """A batch of the pass's output schema: missing columns null, types cast to it."""
    arrays = []
    for f in schema:
        a = cols.get(f.name)
        if a is None:
            a = pa.nulls(n, f.type)
        elif isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks()
        arrays.append(a if a.type == f.type else a.cast(f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def pass_batches(batches: Iterator[pa.RecordBatch], p: PassParams
                 ) -> Iterator[pa.RecordBatch]:
    """Run :func:`process` over a partition's sorted batches, holding the last user's rows
    back until the next batch so that every call sees whole users. A user spanning many
    batches (a heavy card) is held as a list of batches and joined once, when it ends, so
    holding it costs no repeated copies."""
    held: list[pa.Table] = []
    held_user = None
    schema = to_arrow_schema(PASS_OUTPUT)
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        tbl = pa.Table.from_batches([batch])
        users = tbl.column(C.USER_ID)
        first, last = users[0].as_py(), users[n - 1].as_py()
        if held and first == last == held_user:  # the held user goes on: hold this too
            held.append(tbl)
            continue
        if held:
            tbl = pa.concat_tables([*held, tbl])
            users = tbl.column(C.USER_ID)
            n = tbl.num_rows
        tbl = tbl.combine_chunks()
        users = tbl.column(C.USER_ID)
        same = pc.equal(users, last).to_numpy(zero_copy_only=False)
        split = n - int(np.argmin(same[::-1])) if not same.all() else 0
        if split:
            yield from process(tbl.slice(0, split), p, schema)
        held, held_user = [tbl.slice(split)], last
    if held:
        yield from process(pa.concat_tables(held).combine_chunks(), p, schema)


# --------------------------------------------------------------------------------------
# Spark


def day_sources(bronze: DataFrame) -> tuple[int, list[str]]:
    """The day's bronze rows and its source files whose event times are coarse (whole
    minutes: time resolution >= clean.COARSE_RESOLUTION_S,
    :func:`mobsig.ingest.time_resolution_s`, as ingest_events detects and records it),
    sorted. One aggregate by source file gives both."""
    from mobsig.ingest import time_resolution_s

    res = bronze.groupBy(C.SOURCE_FILE).agg(
        F.count(F.lit(1)).alias("n"),
        time_resolution_s(F.col(C.EVENT_TIME).cast("double")).alias("res")).collect()
    coarse = sorted(r[C.SOURCE_FILE] for r in res if r[C.SOURCE_FILE] is not None
                    and r["res"] is not None and r["res"] >= clean.COARSE_RESOLUTION_S)
    return sum(int(r["n"]) for r in res), coarse


def pass_input(bronze: DataFrame, cells_on_day: DataFrame, carry: DataFrame,
               coarse_files: list[str] | tuple[str, ...] = ()) -> DataFrame:
    """The rows of the pass (:data:`PASS_INPUT`): the day's bronze rows with their cell's
    position (null = unlocated; broadcast join) and whether their source file has coarse
    times (``coarse_files``, :func:`day_sources`), and the carried open records."""
    located = clean.with_cell_position(bronze, cells_on_day)
    coarse = (F.col(C.SOURCE_FILE).isin(list(coarse_files)) if coarse_files
              else F.lit(False)).alias(clean.COARSE_TIME)
    events = located.select(*[c for c in PASS_INPUT
                              if c not in (IS_CARRY, CARRY_RADIUS, CARRY_STATE,
                                           clean.COARSE_TIME)],
                            coarse, F.lit(False).alias(IS_CARRY),
                            F.lit(None).cast("double").alias(CARRY_RADIUS),
                            F.lit(None).cast("string").alias(CARRY_STATE))
    open_rec = carry.where(F.col(KIND).isin(S.CARRY_OPEN, S.CARRY_STATE))
    state = (F.col(S.STATE) if S.STATE in carry.columns
             else F.lit(None).cast("string")).alias(CARRY_STATE)
    null = {c: F.lit(None).cast("string") for c in (C.EVENT_TYPE, C.IMEI_TAC, C.HOME_REGION,
                                                      C.REGION)}
    carried = open_rec.select(
        C.USER_ID, C.EVENT_TIME, C.CELL_ID, *[v.alias(k) for k, v in null.items()
                                              if k != C.REGION],
        C.X_M, C.Y_M, F.lit(None).cast("double").alias(C.SPACING_M),
        F.col(C.LON).alias(C.SVC_LON), F.col(C.LAT).alias(C.SVC_LAT),
        F.lit(False).alias(C.IS_HSR), null[C.REGION].alias(C.REGION),
        F.lit(False).alias(clean.COARSE_TIME), F.lit(True).alias(IS_CARRY),
        F.col(C.STAY_RADIUS_M).alias(CARRY_RADIUS), state)
    return events.unionByName(carried)


def day_pass(rows: DataFrame, params: PassParams, partitions: int | None = None
             ) -> DataFrame:
    """One shuffle by user, one sort, one mapInArrow: the pass's output (:data:`PASS_OUTPUT`).
    Persist it: the counts, the events and the stays are all read from it."""
    parts = (rows.repartition(partitions, C.USER_ID) if partitions
             else rows.repartition(C.USER_ID))
    ordered = parts.sortWithinPartitions(*[F.col(c).asc_nulls_first() for c in SORT_KEY])

    def kernel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return pass_batches(batches, params)

    return ordered.select(*PASS_INPUT).mapInArrow(kernel, PASS_OUTPUT)


def previous_carry(ctx: JobContext, carry: DataFrame | None,
                   previous_events: Callable[[], DataFrame | None]) -> tuple[DataFrame, int]:
    """The carry for the run of day D and its rows: ``carry`` (stays_carry dt=D-1,
    detached with :meth:`JobContext.detach`: read once, and a write of today's carry does
    not make Spark compute the pass again) when it has rows; empty when starting fresh
    (option ``fresh_start``) or when nothing was carried. InputError when the carry is
    missing but ``previous_events()`` (events_clean dt=D-1) has rows: the days were run
    out of order."""
    prev = ctx.day - dt.timedelta(days=1)
    if carry is not None:
        carry = ctx.detach(carry)
        n = carry.count()
        if n:
            return carry, n
    if not ctx.options.get("fresh_start"):
        before = previous_events()
        ctx.require(before is None or before.isEmpty(),
                    f"stays_carry has no partition dt={prev} but events_clean has that day: "
                    f"run clean_stays for {prev} first (days run in order), or pass "
                    "--fresh-start")
    ctx.log.info("starting without a carry from %s", prev)
    return ctx.spark.createDataFrame([], ctx.catalog.schema("stays_carry").struct), 0


def pass_counts(passed: DataFrame) -> dict[str, int]:
    """The counts the pass accumulated (:data:`COUNT_NAMES`, summed over its batches).
    The first action on the pass: it runs the shuffle, the sort and the kernel once."""
    got = {r[NAME]: int(r["n"]) for r in passed.where(F.col(KIND) == COUNT)
           .groupBy(NAME).agg(F.sum(N).alias("n")).collect()}
    return {k: got.get(k, 0) for k in COUNT_NAMES}


def events_of(passed: DataFrame) -> DataFrame:
    """The kept events (events_clean's columns without dt)."""
    return passed.where(F.col(KIND) == EVENT).select(*EVENT_COLUMNS)


def fold_of(passed: DataFrame) -> DataFrame:
    """The fold's output rows (:data:`mobsig.stays.KERNEL_OUTPUT`)."""
    return passed.where(F.col(KIND).isin(S.KIND_STAY, S.KIND_OPEN, S.KIND_STATE)).select(
        *S.KERNEL_OUTPUT.names)


def ledger_counts(counts: dict[str, int]) -> dict[str | None, int]:
    """The pass's counts as the runner's reconciliation wants them (None = kept)."""
    return {None: counts[KEPT], **{r: counts[r] for r in clean.DROP_REASONS}}
