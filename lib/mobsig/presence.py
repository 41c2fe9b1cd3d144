"""Daily presence 日实际服务人口 per spatial unit (domain.md §B3, the daily variant of the
actual service population: people present in the unit on day d, transits under 3 h
excluded), split by population class, with an hourly profile.

Pure transforms; the ``daily_presence`` job reads the stays that overlap the day (closed
on the day or the next, plus the runs still open, :func:`stays_for_days`), the month's
``home_work`` (class, counted or not) and ``card_places`` with the expansion factors
(weights), and the ``units`` table, and chains them:

1. :func:`located_stays`: the unit of each stay in every polygon layer (Sedona,
   ``population.assign_units``; border ties to the smallest unit_id) and its H3 cell
   (level ``grid``, ``population.grid_h3_resolution``).
2. :func:`hour_pieces`: each located stay's overlap with each clock hour of the day(s).
   A stay crossing midnight gives pieces on both days, each inside its own day.
3. :func:`unit_presence`: per card, day, level and unit, the stay time there; the card is
   *present* when it adds up to at least ``min_hours`` (default 3 h: shorter visits are
   transits), and then counts in hour h when its stays there cover at least
   ``hour_min_minutes`` of the hour. The threshold applies per unit, so a card with 2 h in
   each of two townships of a county is present in the county and in neither township
   (levels do not add up; a card 3 h in each of two townships counts once in the county).
4. :func:`presence_counts`: per day, unit, class and hour, distinct cards (``raw_count``)
   and the sum of their expansion factors (``expanded_count``). Classes are the month's
   ``home_work`` classes (resident, short_term, visitor, unidentified); a card without a
   row there is ``unknown`` (kept, never dropped); non-counted cards (non-human, second
   cards of one person) are left out before anything is counted. ``present`` is every
   class together, and the hourly rows (``hour`` 0-23) are ``present`` cards.
5. :func:`complete`: every (polygon unit, class/hour) row with zeros filled, plus every
   row of each grid cell with a present card.
6. :func:`publish`: small-count suppression with complementary suppression
   (``mobsig.privacy``): sibling groups per class and per hour, and the identity
   present = resident + short_term + visitor + unidentified + unknown within each unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mobsig import columns as C
from mobsig.population import assign_units, overall_factor, user_weights, with_grid
from mobsig.stays import CARRY_OPEN, CARRY_STATE

PRESENT = "present"
UNKNOWN = "unknown"
# the month's home_work classes a present card can have, then ``unknown`` (no row)
CLASSES = ("resident", "short_term", "visitor", "unidentified", UNKNOWN)
POP_CLASSES_OUT = (PRESENT, *CLASSES)
HOURS = tuple(range(24))
# why a card with a stay on the day is not present anywhere (the job's ledger)
NOT_COUNTED = "not_counted"        # non-human or a second card of one person (home_work)
UNDER_MIN_HOURS = "under_min_hours"  # its stays on the day add up to less than min_hours
LEDGER_REASONS = (NOT_COUNTED, UNDER_MIN_HOURS)

HOUR_HAS = "hours"  # unit_presence: the hours (0-23) a present card counts in
CELL = "_cell"  # publish: the breakdown column of suppression (class, or present@HH)


def card_classes(home_work: DataFrame) -> DataFrame:
    """``user_id``, ``pop_class``, ``is_counted`` from the month's ``home_work`` rows: the
    class a present card can have (resident, short_term, visitor, unidentified); any other
    (transit, whose month has < 3 h of stays, and non_human, never counted) is
    ``unknown``."""
    cls = F.col(C.POP_CLASS)
    known = [c for c in CLASSES if c != UNKNOWN]
    return home_work.select(C.USER_ID, F.when(cls.isin(*known), cls)
                            .otherwise(F.lit(UNKNOWN)).alias(C.POP_CLASS), C.IS_COUNTED)


def card_weights(places: DataFrame, factors: DataFrame,
                 age_factors: DataFrame | None = None) -> tuple[DataFrame, DataFrame]:
    """The expansion factor of each card: ``user_id``, ``weight`` for the cards of
    ``card_places`` (population_by_unit's rule, ``population.user_weights``: home county,
    else night county, else the overall factor; by age band with raking), and a one-row
    frame ``weight`` with the overall factor (reference population / sample residents
    over the counties with a factor) for a present card without a card_places row."""
    default = overall_factor(factors).select(F.col("_overall").alias(C.WEIGHT))
    return user_weights(places, factors, age_factors), default


def stays_for_days(stays: DataFrame, carry: DataFrame, days: Sequence[dt.date],
                   tau_min: float) -> DataFrame:
    """The stays overlapping each day of ``days`` as the job for that day sees them:
    ``user_id``, ``stay_start``, ``stay_end``, ``lon``, ``lat``, ``key_date`` (the day).

    A stay is stored on the day whose run closed it, so the stays overlapping day d are
    the closed ``stays`` stored on d or d+1, plus the runs still open at the end of d+1
    (of d when ``carry`` has no row of d+1: the next day has not run), from the
    ``stays_carry`` rows (``kind`` open_record: the records of a run so far; open_stay: the
    summary of an open stay, standing for ``n_events`` records from ``stay_start`` to
    ``event_time`` at the plain mean of their positions) taken as a stay from the first to
    the last record at the mean position of the records, once it
    lasts ``tau_min`` minutes (a stay by the stay rule if it ended now). Never an earlier
    day's carry: its open runs were closed or carried on by the later run. ``stays`` and
    ``carry`` are the rows read for the days and the day after the last one; a stay
    overlapping two of the days has a row for each."""
    ds = sorted(set(days))
    cols = [C.USER_ID, C.STAY_START, C.STAY_END, C.LON, C.LAT]
    closed = (stays.select(*cols, F.explode(F.array(F.col(C.DT), F.date_sub(C.DT, 1)))
                           .alias(C.KEY_DATE))
              .where(F.col(C.KEY_DATE).isin(ds)))
    summary = F.col(C.CARRY_KIND) == F.lit(CARRY_STATE)
    n_rec = (F.when(summary, F.col(C.N_EVENTS)).otherwise(F.lit(1)).cast("double")
             if C.N_EVENTS in carry.columns else F.lit(1.0))
    first = (F.when(summary, F.col(C.STAY_START)).otherwise(F.col(C.EVENT_TIME))
             if C.N_EVENTS in carry.columns else F.col(C.EVENT_TIME))
    open_rows = (carry.where(F.col(C.CARRY_KIND).isin(CARRY_OPEN, CARRY_STATE))
                 .withColumns({"_n": n_rec, "_first": first}))
    # days d whose next day has carry rows (its run happened)
    has_next = (open_rows.select(F.date_sub(C.DT, 1).alias(C.KEY_DATE)).distinct()
                .withColumn("_has_next", F.lit(True)))
    tagged = (open_rows.select(C.USER_ID, C.EVENT_TIME, "_first", "_n", C.LON, C.LAT, C.DT,
                               F.explode(F.array(F.date_sub(C.DT, 1), F.col(C.DT)))
                               .alias(C.KEY_DATE))
              .where(F.col(C.KEY_DATE).isin(ds))
              .join(F.broadcast(has_next), C.KEY_DATE, how="left"))
    latest = ((F.col(C.DT) == F.date_add(C.KEY_DATE, 1))
              | ((F.col(C.DT) == F.col(C.KEY_DATE)) & F.col("_has_next").isNull()))
    runs = (tagged.where(latest).groupBy(C.KEY_DATE, C.USER_ID)
            .agg(F.min("_first").alias(C.STAY_START), F.max(C.EVENT_TIME).alias(C.STAY_END),
                 (F.sum(F.col(C.LON) * F.col("_n")) / F.sum("_n")).alias(C.LON),
                 (F.sum(F.col(C.LAT) * F.col("_n")) / F.sum("_n")).alias(C.LAT)))
    long_enough = (F.unix_seconds(F.col(C.STAY_END)) - F.unix_seconds(F.col(C.STAY_START))
                   >= F.lit(float(tau_min) * 60.0))
    return closed.unionByName(runs.where(long_enough).select(*cols, C.KEY_DATE))


def bridged(stays: DataFrame, max_gap_h: float, max_dist_m: float,
            before: DataFrame | None = None) -> DataFrame:
    """``stays`` (:func:`stays_for_days`' columns) with the silent gaps between two
    consecutive stays of a card at the same place filled: where a stay starts at most
    ``max_gap_h`` hours after the card's previous stay (of the same ``key_date``) ended,
    within ``max_dist_m`` of it, a row from the previous stay's end to the next one's
    start at the previous stay's position is added. A phone that sleeps at night (or
    sends nothing for hours) leaves a gap longer than stays.gap_cap_h between its evening
    and morning stays at home: the stay rule rightly does not join them (it cannot tell
    a night at home from an unseen trip), but the holder was there: on the 1,500-person
    region 10 % of the active cards were silent over 03:00-04:00 (median gap 7.7 h), and
    the county hourly profiles counted 15 % too few people at night while the daily counts
    were within 1 %. An unseen trip and back within the gap is counted at the place: the
    price of a night counted. ``max_gap_h`` 0: none filled.

    ``before``: rows of the ``stays`` table (with ``dt``) that include the day before each
    ``key_date``: a stay stored on d-1 (it ended that day, so it does not overlap d and is
    not among d's stays) is the previous stay of d's first one, so a phone silent from the
    evening before into d's morning is present from d's midnight on. Without it only the
    gaps between two stays overlapping the day are filled (a silence that starts before
    midnight is not). Its rows are never returned, only the gaps they open."""
    if max_gap_h <= 0:
        return stays
    has_key = C.KEY_DATE in stays.columns
    keys = [C.USER_ID] + ([C.KEY_DATE] if has_key else [])
    rows = stays.withColumn("_own", F.lit(True))
    if before is not None and has_key:  # the evening before each key_date, as its key
        asked = stays.select(C.KEY_DATE).distinct()
        prior = (before.withColumn(C.KEY_DATE, F.date_add(C.DT, 1))
                 .join(F.broadcast(asked), C.KEY_DATE)
                 .select(*stays.columns).withColumn("_own", F.lit(False)))
        rows = rows.unionByName(prior)
    w = Window.partitionBy(*keys).orderBy(C.STAY_START, C.STAY_END)
    prev = rows.select(*rows.columns, *[F.lag(c).over(w).alias(f"_p_{c}") for c in
                                        (C.STAY_END, C.LON, C.LAT)])
    lat0 = F.radians((F.col(C.LAT) + F.col(f"_p_{C.LAT}")) / 2)
    dx = (F.col(C.LON) - F.col(f"_p_{C.LON}")) * F.lit(111_320.0) * F.cos(lat0)
    dy = (F.col(C.LAT) - F.col(f"_p_{C.LAT}")) * F.lit(110_574.0)
    gap = F.unix_seconds(F.col(C.STAY_START)) - F.unix_seconds(F.col(f"_p_{C.STAY_END}"))
    fill = (prev.where(F.col("_own") & (gap > 0)
                       & (gap <= F.lit(float(max_gap_h) * 3600.0))
                       & (dx * dx + dy * dy <= F.lit(float(max_dist_m) ** 2)))
            .select(*[F.col(f"_p_{C.STAY_END}").alias(C.STAY_START) if c == C.STAY_START
                      else F.col(C.STAY_START).alias(C.STAY_END) if c == C.STAY_END
                      else F.col(f"_p_{c}").alias(c) if c in (C.LON, C.LAT)
                      else F.col(c) for c in stays.columns]))
    return stays.unionByName(fill)


def stays_around(day: dt.date) -> list[dt.date]:
    """The partitions of the stays table a day's presence run reads: the day before (its
    evening, for :func:`bridged`), the day and the next (stays overlapping the day are
    stored on it or the next); stays_carry: the last two."""
    return [day + dt.timedelta(days=k) for k in (-1, 0, 1)]


def day_stays(closed: DataFrame, carry: DataFrame, day: dt.date, tau_min: float,
              gap_h: float, max_dist_m: float) -> DataFrame:
    """The stays overlapping ``day`` as daily_presence and exposure_hazards count them:
    :func:`stays_for_days` of ``closed`` (the stays table's :func:`stays_around` rows) and
    ``carry`` (stays_carry of the day and the next), silent gaps :func:`bridged` (the
    evening before included)."""
    return bridged(stays_for_days(closed, carry, [day], tau_min), gap_h, max_dist_m,
                   before=closed)


def hour_pieces(stays: DataFrame, days: Sequence[dt.date],
                carry: Sequence[str] = (C.LON, C.LAT)) -> DataFrame:
    """Each stay's overlap with each clock hour of ``days`` (local time).

    ``stays``: ``user_id``, ``stay_start``, ``stay_end`` and the columns ``carry`` (any
    stays; those not overlapping a day are dropped); with a ``key_date`` column (as
    :func:`stays_for_days` gives), a row counts only on that day. Returns ``user_id``,
    ``key_date``, ``hour`` (0-23), ``overlap_s`` (> 0) and ``carry``: one row per stay
    (row of ``stays``) and hour it overlaps.
    """
    first, last = min(days), max(days)
    lo = F.lit(first).cast("timestamp")
    hi = F.lit(last + dt.timedelta(days=1)).cast("timestamp")
    s0 = F.greatest(F.col(C.STAY_START), lo)
    s1 = F.least(F.col(C.STAY_END), hi)
    hours = F.sequence(F.date_trunc("hour", s0), F.date_trunc("hour", s1),
                       F.expr("INTERVAL 1 HOUR"))
    tag = F.col(C.KEY_DATE) if C.KEY_DATE in stays.columns else F.lit(None).cast("date")
    cand = (stays.where((F.col(C.STAY_END) > lo) & (F.col(C.STAY_START) < hi))
            .select(C.USER_ID, *carry, tag.alias("_for"), F.unix_seconds(s0).alias("_t0"),
                    F.unix_seconds(s1).alias("_t1"), F.explode(hours).alias("_h")))
    h0 = F.unix_seconds(F.col("_h"))
    overlap = F.least(F.col("_t1"), h0 + F.lit(3600)) - F.greatest(F.col("_t0"), h0)
    day = F.to_date("_h")
    out = (cand.where(F.col("_for").isNull() | (F.col("_for") == day))
           .select(C.USER_ID, day.alias(C.KEY_DATE), F.hour("_h").alias(C.HOUR),
                   overlap.alias(C.OVERLAP_S), *carry)
           .where(F.col(C.OVERLAP_S) > 0))
    if len(set(days)) != (last - first).days + 1:  # not a contiguous range of days
        out = out.where(F.col(C.KEY_DATE).isin(sorted(set(days))))
    return out


def located_stays(stays: DataFrame, units: DataFrame, grid_resolution: int) -> DataFrame:
    """``user_id``, ``stay_start``, ``stay_end`` (and ``key_date`` when ``stays`` has
    it), ``level``, ``unit_id``: the unit of each stay (``user_id``, ``stay_start``,
    ``stay_end``, ``lon``, ``lat``) in every polygon layer of ``units`` (``unit_id``,
    ``level``, ``geometry``) its position falls in (``population.assign_units``: border
    ties to the smallest unit_id), and its H3 cell at ``grid_resolution`` (level
    ``grid``). A stay outside every unit of a layer has no row for that layer."""
    keys = [C.USER_ID, C.STAY_START, C.STAY_END, C.LON, C.LAT]
    keys += [C.KEY_DATE] if C.KEY_DATE in stays.columns else []
    pts = stays.select(*keys)
    return (assign_units(pts, units, keys).unionByName(with_grid(pts, keys, grid_resolution))
            .drop(C.LON, C.LAT))


def unit_presence(pieces: DataFrame, min_hours: float, hour_min_minutes: int) -> DataFrame:
    """Per card, day, level and unit where the card is present: ``user_id``,
    ``key_date``, ``level``, ``unit_id``, ``overlap_s`` (its stay time there on the day,
    >= ``min_hours``) and ``hours`` (ascending hours 0-23 whose stay time there is >=
    ``hour_min_minutes``). ``pieces``: :func:`hour_pieces` of :func:`located_stays`
    (carrying ``level`` and ``unit_id``). Cards below ``min_hours`` in a unit have no row
    for it."""
    # the 24 hourly sums and the hours array as SQL text: one expression each instead of
    # a hundred Column objects built over py4j (building the plan costs more than running
    # it on a day's stays)
    per = pieces.groupBy(C.USER_ID, C.KEY_DATE, C.LEVEL, C.UNIT_ID).agg(
        F.expr(f"sum({C.OVERLAP_S}) AS {C.OVERLAP_S}"),
        *[F.expr(f"sum(IF({C.HOUR} = {h}, {C.OVERLAP_S}, NULL)) AS _h{h}") for h in HOURS])
    min_h = float(hour_min_minutes) * 60.0
    in_hours = "array_compact(array(" + ", ".join(f"IF(_h{h} >= {min_h}, {h}, NULL)"
                                                  for h in HOURS) + "))"
    return (per.where(F.col(C.OVERLAP_S) >= float(min_hours) * 3600.0)
            .selectExpr(C.USER_ID, C.KEY_DATE, C.LEVEL, C.UNIT_ID, C.OVERLAP_S,
                        f"{in_hours} AS {HOUR_HAS}"))


def card_ledger(pieces: DataFrame, classes: DataFrame, min_hours: float) -> DataFrame:
    """One row per card and day with a stay piece: ``user_id``, ``key_date``, ``reason``
    (null: counted and its stays on the day add up to >= ``min_hours`` somewhere, so it
    may be present in units; ``not_counted``: home_work says the card is not counted;
    ``under_min_hours``: a counted card with less stay time on the day), ``pop_class``
    (its class; ``unknown`` without a home_work row)."""
    per = pieces.groupBy(C.USER_ID, C.KEY_DATE).agg(F.sum(C.OVERLAP_S).alias("_s"))
    joined = per.join(classes, C.USER_ID, how="left")
    reason = (F.when(~F.coalesce(F.col(C.IS_COUNTED), F.lit(True)), F.lit(NOT_COUNTED))
              .when(F.col("_s") < float(min_hours) * 3600.0, F.lit(UNDER_MIN_HOURS)))
    return joined.select(C.USER_ID, C.KEY_DATE, reason.alias(C.REASON),
                         F.coalesce(C.POP_CLASS, F.lit(UNKNOWN)).alias(C.POP_CLASS))


def counted_stays(stays: DataFrame, classes: DataFrame) -> DataFrame:
    """``stays`` without the cards home_work says are not counted (a card without a
    home_work row is kept: class ``unknown``)."""
    dropped = classes.where(~F.col(C.IS_COUNTED)).select(C.USER_ID)
    return stays.join(dropped, C.USER_ID, how="left_anti")


def presence_counts(presence: DataFrame, classes: DataFrame, weights: DataFrame,
                    default_weight: DataFrame) -> DataFrame:
    """``key_date``, ``level``, ``unit_id``, ``pop_class``, ``hour``, ``raw_count``,
    ``expanded_count`` from :func:`unit_presence` rows: per unit and day the present
    cards of each class (``hour`` null), all present cards (``pop_class`` present, hour
    null) and the present cards in each hour (``present``, hour 0-23). ``classes``:
    :func:`card_classes` (a card without a row: ``unknown``); ``weights`` /
    ``default_weight``: :func:`card_weights` (a card without a weight gets the default;
    1.0 when there is none). Units without a present card have no row."""
    rows = (presence.join(classes.select(C.USER_ID, C.POP_CLASS), C.USER_ID, how="left")
            .join(weights, C.USER_ID, how="left")
            .crossJoin(default_weight.select(F.col(C.WEIGHT).alias("_default"))))
    no_hour = F.lit(None).cast("int")

    def item(cls: Column, hour: Column) -> Column:
        return F.struct(cls.alias(C.POP_CLASS), hour.alias(C.HOUR))

    items = F.concat(
        F.array(item(F.coalesce(C.POP_CLASS, F.lit(UNKNOWN)), no_hour),
                item(F.lit(PRESENT), no_hour)),
        F.transform(HOUR_HAS, lambda h: item(F.lit(PRESENT), h.cast("int"))))
    weight = F.coalesce(F.col(C.WEIGHT), F.col("_default"), F.lit(1.0))
    exploded = rows.select(C.KEY_DATE, C.LEVEL, C.UNIT_ID, weight.alias(C.WEIGHT),
                           F.explode(items).alias("_i"))
    return exploded.groupBy(C.KEY_DATE, C.LEVEL, C.UNIT_ID, F.col("_i")[C.POP_CLASS]
                            .alias(C.POP_CLASS), F.col("_i")[C.HOUR].alias(C.HOUR)).agg(
        F.count(F.lit(1)).cast("bigint").alias(C.RAW_COUNT),
        F.sum(C.WEIGHT).alias(C.EXPANDED_COUNT))


def _cells() -> Column:
    """The (pop_class, hour) cells of one unit and day: each class with a null hour,
    then ``present`` for each hour (one SQL expression)."""
    cells = [f"named_struct('{C.POP_CLASS}', '{c}', '{C.HOUR}', CAST(NULL AS INT))"
             for c in POP_CLASSES_OUT]
    cells += [f"named_struct('{C.POP_CLASS}', '{PRESENT}', '{C.HOUR}', {h})" for h in HOURS]
    return F.expr(f"explode(array({', '.join(cells)}))")


def complete(counts: DataFrame, units: DataFrame, days: Sequence[dt.date]) -> DataFrame:
    """Every (day, polygon unit, class/hour) row with zeros filled, plus every row of each
    grid cell that has a row in ``counts``: ``key_date``, ``level``, ``unit_id``,
    ``unit_name``, ``parent_id``, ``pop_class``, ``hour``, ``raw_count``,
    ``expanded_count`` (zero rows are added and the counts summed: one aggregation)."""
    day_col = F.explode(F.array(*[F.lit(d) for d in sorted(set(days))])).alias(C.KEY_DATE)
    names = units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID)
    cells = (counts.where(F.col(C.LEVEL) == C.GRID_LEVEL)
             .select(C.KEY_DATE, C.LEVEL, C.UNIT_ID).distinct())
    frame = (names.select(C.LEVEL, C.UNIT_ID, day_col)
             .unionByName(cells.select(C.LEVEL, C.UNIT_ID, C.KEY_DATE)))
    zeros = frame.select(C.KEY_DATE, C.LEVEL, C.UNIT_ID, _cells().alias("_c")).select(
        C.KEY_DATE, C.LEVEL, C.UNIT_ID, F.col("_c")[C.POP_CLASS].alias(C.POP_CLASS),
        F.col("_c")[C.HOUR].alias(C.HOUR), F.lit(0).cast("bigint").alias(C.RAW_COUNT),
        F.lit(0.0).alias(C.EXPANDED_COUNT))
    keys = [C.KEY_DATE, C.LEVEL, C.UNIT_ID, C.POP_CLASS, C.HOUR]
    summed = counts.select(*keys, C.RAW_COUNT, C.EXPANDED_COUNT).unionByName(zeros).groupBy(
        *keys).agg(F.sum(C.RAW_COUNT).cast("bigint").alias(C.RAW_COUNT),
                   F.sum(C.EXPANDED_COUNT).alias(C.EXPANDED_COUNT))
    return summed.join(F.broadcast(names), [C.LEVEL, C.UNIT_ID], how="left").select(
        C.KEY_DATE, C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, C.POP_CLASS, C.HOUR,
        C.RAW_COUNT, C.EXPANDED_COUNT)


def presence_counts_of(stays: DataFrame, classes: DataFrame, weights: DataFrame,
                       default_weight: DataFrame, units: DataFrame, days: Sequence[dt.date],
                       min_hours: float, hour_min_minutes: int, grid_resolution: int
                       ) -> DataFrame:
    """Steps 1-4 chained: the :func:`presence_counts` rows (units with a present card
    only) of ``stays`` overlapping ``days`` (``user_id``, ``stay_start``, ``stay_end``,
    ``lon``, ``lat``, optionally ``key_date``: :func:`stays_for_days`). ``classes``:
    :func:`card_classes`; ``weights``, ``default_weight``: :func:`card_weights`;
    ``units``: unit polygons (``unit_id``, ``level``, ``geometry``). Each stay is located
    once, then split into hours (fewer rows through the spatial join than hours)."""
    located = located_stays(counted_stays(stays, classes), units, grid_resolution)
    pieces = hour_pieces(located, days, carry=(C.LEVEL, C.UNIT_ID))
    return presence_counts(unit_presence(pieces, min_hours, hour_min_minutes), classes,
                           weights, default_weight)


def presence_table(stays: DataFrame, classes: DataFrame, weights: DataFrame,
                   default_weight: DataFrame, units: DataFrame, days: Sequence[dt.date],
                   min_hours: float, hour_min_minutes: int, grid_resolution: int
                   ) -> DataFrame:
    """The unsuppressed long form for ``days`` (:func:`complete` of
    :func:`presence_counts_of`): every class and hour of every unit of every polygon
    layer (zeros filled) and of each H3 cell with a present card."""
    counts = presence_counts_of(stays, classes, weights, default_weight, units, days,
                                min_hours, hour_min_minutes, grid_resolution)
    return complete(counts, units, days)


def hour_cells() -> list[str]:
    """The breakdown labels of the hourly rows (``present@HH``)."""
    return [f"{PRESENT}@{h:02d}" for h in HOURS]


def audit_rules() -> dict:
    """The relations of a day's release for :mod:`mobsig.privacy_audit` (breakdown
    column ``_cell``: the class, or ``present@HH``): present = the sum of the classes,
    each hour's present at most the day's, every label checked against the data across
    the layers (parent against the sum of its children, the inequality that holds)."""
    hours = hour_cells()
    return {"identities": ((PRESENT, tuple(CLASSES)),),
            "additive": (*POP_CLASSES_OUT, *hours), "by": CELL,
            "bounds": [(h, PRESENT) for h in hours]}


def publish(table: DataFrame, k_min: int, complementary: bool,
            suppress_zeros: bool, width: float | None = None,
            on_audit=None) -> DataFrame:
    """Small-count suppression of ONE day's :func:`presence_table` rows: every cell below
    ``k_min`` raw cards, then complementary suppression: within each sibling group (level,
    parent unit, and the class or the hour) no cell is the only hidden one, and within each
    unit no single class is hidden while ``present`` and the other classes are published
    (present is their sum); then the interval audit of the day's release
    (:func:`mobsig.privacy_audit.with_audited_suppression`, protection ``width``, default
    ``k_min``): the relations a reader has are that identity, each hour's present at most
    the day's present in the unit, and a parent unit against the sum of its children per
    class and hour (the inequality that holds: a card present in two townships counts
    once in their county), every layer and the grid at once; more cells are hidden until
    no suppressed cell's interval is narrower than ``width``. The audit is passed to
    ``on_audit`` (the job's gate). Suppressed rows keep ``is_suppressed`` true and null
    counts."""
    from mobsig import privacy_audit

    cell = F.when(F.col(C.HOUR).isNull(), F.col(C.POP_CLASS)).otherwise(
        F.concat(F.col(C.POP_CLASS), F.lit("@"), F.lpad(F.col(C.HOUR).cast("string"), 2, "0")))
    out, audit = privacy_audit.with_audited_suppression(
        table.withColumn(CELL, cell), k_min, width, complementary, suppress_zeros,
        **audit_rules())
    if on_audit is not None:
        on_audit(audit)
    return out.drop(CELL)
