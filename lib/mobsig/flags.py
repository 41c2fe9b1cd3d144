"""User flags for a month: non-human cards 非人号卡 and one person with several cards 一人多卡.

Pure DataFrame -> DataFrame transforms; the job ``flag_users`` reads, gates and writes.
Input is ``events_clean`` for the days of one month (columns ``user_id``, ``event_time``,
``cell_id``, ``imei_tac``, ``is_heavy_user``, ``dt``) with ``x_m``, ``y_m`` and
``spacing_m`` of each event's cell version (:func:`mobsig.cells.events_placed`).

Non-human rules (each one that fires is listed in ``non_human_reason``):

- ``iot_tac``: the card's most frequent IMEI TAC has a device type in
  ``flags.iot_device_types`` (TAC table ``tac``, ``device_type``);
- ``static_location``: every event within ``static_max_radius_m`` of the card's
  event-weighted centroid, observed on >= ``static_min_days`` days, and no human day
  pattern: the card's events spread evenly over the 24 hours of the day (coefficient of
  variation of its events per hour of day, ``hour_cv``, below ``static_max_hour_cv``).
  A meter reports around the clock (hour_cv near 0); a person who stays at one cell
  for days is active in waking hours (hour_cv about 0.5 and more, even with hourly
  periodic updates all night), so one place alone does not make a machine;
- ``regular_cadence``: robust coefficient of variation of inter-event times,
  (IQR + time resolution) / (1.349 * median), below ``regular_cadence_cv_max`` with >=
  ``regular_cadence_min_events`` events (the resolution of the card's times, 60 s for
  whole-minute feeds, bounds how regular its gaps can be shown to be). The robust form
  looks at the whole distribution: a handset's hourly periodic updates while idle are
  regular, but they are a minority of its gaps, so its IQR stays wide; a machine's
  occasional lost record does not move the quartiles (the plain CV is kept as evidence);
- ``impossible_rate``: a day with more than ``max_events_per_day`` events, or
  ``is_heavy_user`` set by clean_stays on any day.

Multi-card rule: two human cards are one person when they are in the same places AND move
at the same times.

1. Co-location: their hourly locations (mean x/y of the hour's events) coincide in >=
   ``multicard_min_share`` of the hourly slots where both are seen, with coincident slots
   on >= ``multicard_min_days`` days. Coincide = within the slot's reach:
   ``multicard_distance_m``, widened where cells are sparse to ``multicard_spacing_factor``
   x the local site spacing (the cells table's ``spacing_m`` of the event's cell;
   capped at ``multicard_max_distance_m``), because two cards of
   one holder are often served by neighbouring sites. Candidate pairs come only from
   equal (hour, grid bucket) keys, each slot matched against the 3x3 neighbour buckets of
   a grid sized to its reach (never a cross join of cards). Transit hours are left out
   (issue 18): an hour whose ``multicard_move_slot_min`` positions spread over more than
   ``multicard_transit_factor`` x its reach is a card on its way, its mean a point on the
   road (a work phone seen once at work in the hour its holder arrives there contradicted
   the holder).
2. Co-movement: co-location alone cannot tell one person from two neighbours who also
   work side by side (in the sparse periphery one site serves a whole village). A card's
   *moves* are runs of travelling steps between consecutive observed
   ``multicard_move_slot_min`` slots (a step longer than ``multicard_distance_m``, at
   most ``multicard_move_max_gap_min`` apart in time) whose net displacement is more than
   ``multicard_move_min_m`` and than ``multicard_spacing_factor`` x the smaller site
   spacing at its ends (a flip between neighbouring masts of the sparse periphery is no
   move): a phone seen every few
   minutes and a work phone seen only at both ends show one trip as one move each
   (:func:`card_moves`); a move covers the slots from the one before the run to its
   last. Of the pair's card with fewer moves, the share of moves that
   overlap a move of the other card must be >= ``multicard_min_co_move_share``. Two
   neighbours leave at their own times; one person's two cards leave together. A pair
   whose sparser card has fewer than ``multicard_min_moves`` moves cannot be judged on
   movement and needs co-location in >= ``multicard_static_min_share`` of shared slots.
3. Containment (issue 18): such a pair (``pair_test`` = ``containment``: a tablet left at
   home, a work phone left at work, a holder who never leaves home) also coincides with
   every neighbour's or colleague's phone. It is scored by co-location share x ``cover``
   (the share of the sparser card's hourly slots in which the other card is at the same
   place) x ``presence`` (the share of the other card's hours at the sparser card's
   place, on its days and at its hours of day, in which the sparser card is on too): the
   holder covers the tablet all the time and is rarely home without it; a neighbour is
   out, asleep or home alone at other times. Such pairs are pruned
   to the dominant one with the stricter ``multicard_contained_ratio`` (below). When the
   sparser card still has >= 2 moves, >= ``multicard_contained_min_co_move_share`` of
   them must overlap a move of the other card: two neighbours who both stay in go out on their own.
4. Alike cells (issue 18): every accepted pair, of either kind, must be served by alike
   cells in the hours both cards are seen: ``cell_overlap`` (the two cards' shares of
   events per serving cell, summed over cells as the smaller of the two) >=
   ``multicard_min_cell_overlap`` (a threshold, not a factor of the score:
   :func:`pair_score`). Hourly mean positions within the slot's reach do not
   tell a holder from a neighbour a few hundred metres away (a mast's three sectors
   share one position); the sectors serving them do. Measured with perfect cleaning
   (the generator's labelled events) on a 300-person 7-day region: one person's cards
   0.37-0.94 (median 0.83), other accepted pairs median 0.03 (75th percentile 0.13; a
   few same-building neighbours up to 0.85); on the CI city one person's cards
   0.70-0.89.

Measured on the synthetic city (15 true pairs): co-location alone separated no threshold
(at 0.8 precision 0.86, recall 0.80); with co-movement the true pairs score >= 0.63 and
the best neighbour pair 0.48.

A card's pairs are then pruned to its strongest: a pair whose score (co-location share x
co-movement share; for containment pairs their containment score, compared only with
containment pairs) is below ``multicard_partner_ratio`` (containment pairs:
``multicard_contained_ratio``) x the best score of either card is not used for grouping
(it stays in the evidence, with ``pair_test`` and the numbers behind its score). Groups
are the connected components of the remaining pairs whose cards are all paired with each
other (every two of them an accepted pair: complete, not single, linkage) and number at
most ``max_group_size``. Any other component is ambiguous (evidence
``multicard_ambiguous``: its number of cards): on a short window few cards move often
enough to be judged on co-movement, so pairs rest on co-location alone, and a street of
neighbours chains A-B-C-D-E (each pair passes, A and C do not) while colleagues sharing a
dormitory, an office and a shuttle all pair with each other; single linkage made groups
of 5, 7 and 9 of them on two days of real data (issue 19). An ambiguous component whose
pairs coincide on >= ``multicard_resolve_min_days`` days (a week, not scaled), of at
most ``multicard_resolve_max_cards`` cards and not a crowd (at most
``multicard_resolve_max_density`` of its card pairs accepted) is resolved best pair
first with the same complete linkage (:func:`_resolve`: a tablet at home goes to the
best of its holder and the stay-at-home neighbours; evidence ``multicard_resolved``);
otherwise none of its cards is grouped. The group id is the smallest
user_id, the primary card the one with most events (ties: smallest user_id). Non-human cards
are not grouped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from mobsig.columns import (
    CELL_ID,
    DT,
    EVENT_TIME,
    EVIDENCE,
    IMEI_TAC,
    IS_GROUP_PRIMARY,
    IS_HEAVY_USER,
    IS_NON_HUMAN,
    MONTH,
    MULTICARD_GROUP,
    MULTICARD_GROUP_SIZE,
    NON_HUMAN_REASON,
    OBSERVED_H,
    USER_ID,
    X_M,
    Y_M,
)
from mobsig.config import FlagsConfig
from mobsig.ingest import time_resolution_s

REASONS = ("iot_tac", "static_location", "regular_cadence", "impossible_rate")

#: in the groups frame and the evidence: the number of cards of an ambiguous component
#: (a chain or crowd of look-alikes) a card was left ungrouped in
MULTICARD_AMBIGUOUS = "multicard_ambiguous"
#: in the groups frame and the evidence: the number of cards of the ambiguous component a
#: grouped card was taken from by the best-pair-first resolution (:func:`_resolve`)
MULTICARD_RESOLVED = "multicard_resolved"

# IQR of a normal distribution in standard deviations: IQR / 1.349 estimates sigma
IQR_SIGMA = 1.349


# --------------------------------------------------------------------------------------
# per-card activity profile


def card_activity(events: DataFrame, max_events_per_day: int) -> DataFrame:
    """Per card: event counts, days present, the busiest day, the heavy-user mark.

    Needs ``user_id``, ``dt``, ``is_heavy_user``. One row per card with ``n_events``,
    ``n_days``, ``max_events_day``, ``is_heavy_user`` (any day) and
    ``is_impossible_rate`` (a day above ``max_events_per_day`` or heavy on any day).
    """
    daily = events.groupBy(USER_ID, DT).agg(
        F.count(F.lit(1)).alias("n"), F.max(F.col(IS_HEAVY_USER).cast("int")).alias("heavy"))
    return daily.groupBy(USER_ID).agg(
        F.sum("n").alias("n_events"),
        F.count(F.lit(1)).cast("int").alias("n_days"),
        F.max("n").alias("max_events_day"),
        (F.max("heavy") == 1).alias(IS_HEAVY_USER),
    ).withColumn("is_impossible_rate",
                 (F.col("max_events_day") > F.lit(max_events_per_day)) | F.col(IS_HEAVY_USER))


def card_tac(events: DataFrame, tac_types: DataFrame | None,
             iot_device_types: Sequence[str]) -> DataFrame:
    """Per card with a TAC: its most frequent TAC (ties: smallest), device type, IoT mark.

    ``tac_types`` has ``tac`` and ``device_type`` (unique ``tac``); None = no TAC table
    (device type null, rule never fires). Cards without any TAC get no row.
    """
    tac = F.substring(F.trim(F.col(IMEI_TAC)), 1, 8)
    counts = (events.where(F.col(IMEI_TAC).isNotNull() & (F.trim(F.col(IMEI_TAC)) != ""))
              .groupBy(USER_ID, tac.alias("tac")).agg(F.count(F.lit(1)).alias("n")))
    w = Window.partitionBy(USER_ID).orderBy(F.col("n").desc(), F.col("tac"))
    top = counts.withColumn("_r", F.row_number().over(w)).where("_r = 1").select(USER_ID, "tac")
    types = [t.strip().lower() for t in iot_device_types]
    if tac_types is None:
        return top.select(USER_ID, "tac", F.lit(None).cast("string").alias("device_type"),
                          F.lit(False).alias("is_iot_tac"))
    kinds = tac_types.select(F.trim(F.col("tac")).alias("tac"),
                             F.lower(F.trim(F.col("device_type"))).alias("device_type"))
    return (top.join(F.broadcast(kinds), "tac", "left")
            .select(USER_ID, "tac", "device_type",
                    F.coalesce(F.col("device_type").isin(types), F.lit(False))
                    .alias("is_iot_tac")))


def iot_cards(events: DataFrame, tac_types: DataFrame | None,
              iot_device_types: Sequence[str]) -> DataFrame | None:
    """``user_id`` of the cards of ``events`` whose most frequent TAC is an IoT device type
    (:func:`card_tac`); None without a TAC table."""
    if tac_types is None:
        return None
    return (card_tac(events, tac_types, iot_device_types).where(F.col("is_iot_tac"))
            .select(USER_ID))


def iot_tacs(tac_types: DataFrame | None, iot_device_types: Sequence[str]
             ) -> frozenset[str] | None:
    """The TACs (trimmed) whose device type is an IoT type, collected to the driver for the
    daily pass (:func:`mobsig.daily.iot_users` applies :func:`card_tac`'s rule to them);
    None without a TAC table."""
    if tac_types is None:
        return None
    types = [t.strip().lower() for t in iot_device_types]
    rows = (tac_types.where(F.lower(F.trim(F.col("device_type"))).isin(types))
            .select(F.trim(F.col("tac")).alias("tac")).distinct().collect())
    return frozenset(r["tac"] for r in rows if r["tac"] is not None)


def card_extent(events: DataFrame) -> DataFrame:
    """Per card: the largest distance of any event from its event-weighted centroid.

    Works on the (card, cell) aggregate, so the events are grouped once and the per-card
    pass is small. Adds ``static_radius_m`` and ``n_cells``.
    """
    cells = events.groupBy(USER_ID, CELL_ID, X_M, Y_M).agg(F.count(F.lit(1)).alias("n"))
    w = Window.partitionBy(USER_ID)
    cx = F.sum(F.col("n") * F.col(X_M)).over(w) / F.sum("n").over(w)
    cy = F.sum(F.col("n") * F.col(Y_M)).over(w) / F.sum("n").over(w)
    return (cells.withColumn("_d", F.hypot(F.col(X_M) - cx, F.col(Y_M) - cy))
            .groupBy(USER_ID).agg(F.max("_d").alias("static_radius_m"),
                                  F.countDistinct(CELL_ID).cast("int").alias("n_cells"))
            .join(card_hours(events), USER_ID, "left"))


def card_hours(events: DataFrame) -> DataFrame:
    """Per card: ``hour_cv``, the coefficient of variation (population std / mean) of its
    event counts over the 24 hours of the day (session-local hour of ``event_time``;
    hours without events count as 0). 0 for a card reporting evenly around the clock, up
    to sqrt(23) = 4.8 for a card seen in one hour only."""
    per = events.groupBy(USER_ID, F.hour(EVENT_TIME).alias("_h")).agg(
        F.count(F.lit(1)).cast("double").alias("_n"))
    mean = F.sum("_n") / F.lit(24.0)
    var = F.sum(F.col("_n") * F.col("_n")) / F.lit(24.0) - mean * mean
    return per.groupBy(USER_ID).agg(
        (F.sqrt(F.greatest(var, F.lit(0.0))) / mean).alias("hour_cv"))


def card_cadence(events: DataFrame, observed_cap_s: float = 7200.0) -> DataFrame:
    """Per card: inter-event time statistics over the whole period.

    Gaps between consecutive events of a card (seconds, sorted by time). Adds
    ``n_gaps``, ``gap_p25_s``, ``gap_median_s``, ``gap_p75_s`` (exact percentiles),
    ``time_resolution_s`` (of the card's event times, :func:`time_resolution_s`),
    ``cadence_cv`` (plain std/mean) and ``cadence_robust_cv`` ((IQR + resolution) /
    (1.349 x median); null when the median gap is 0). The resolution is added to the IQR
    because gaps are only known to within it: with minute times a phone's busy minutes
    all give gaps of exactly 60 s (IQR 0), which is no evidence of a machine's clock,
    while a machine reporting every 30 minutes stays far below the bound. Cards with
    fewer than two events get no row. ``observed_s``: the sum of the gaps of at most
    ``observed_cap_s`` (flags.observed_gap_cap_h): the time the card was seen in the area.
    """
    w = Window.partitionBy(USER_ID).orderBy(EVENT_TIME)
    t = F.col(EVENT_TIME).cast("double")
    gaps = (events.select(USER_ID, EVENT_TIME, t.alias("_t"))
            .withColumn("gap_s", t - F.lag(t).over(w)))
    q = F.percentile(F.col("gap_s"), F.array(F.lit(0.25), F.lit(0.5), F.lit(0.75)))
    stats = gaps.groupBy(USER_ID).agg(
        F.count("gap_s").alias("n_gaps"), q.alias("_q"),
        F.avg("gap_s").alias("_mean"), F.stddev_pop("gap_s").alias("_std"),
        F.sum(F.when(F.col("gap_s") <= F.lit(float(observed_cap_s)), F.col("gap_s")))
        .alias("observed_s"),
        time_resolution_s(F.col("_t")).alias("time_resolution_s")).where("n_gaps > 0")
    med = F.col("_q")[1]
    return stats.select(
        USER_ID, "n_gaps",
        F.col("_q")[0].alias("gap_p25_s"), med.alias("gap_median_s"),
        F.col("_q")[2].alias("gap_p75_s"), "time_resolution_s", "observed_s",
        F.when(F.col("_mean") > 0, F.col("_std") / F.col("_mean")).alias("cadence_cv"),
        F.when(med > 0, (F.col("_q")[2] - F.col("_q")[0] + F.col("time_resolution_s"))
               / (F.lit(IQR_SIGMA) * med)).alias("cadence_robust_cv"))


def flag_non_human(activity: DataFrame, tac: DataFrame, extent: DataFrame,
                   cadence: DataFrame, p: FlagsConfig) -> DataFrame:
    """Combine the per-card profiles into the non-human decision.

    ``activity`` (from :func:`card_activity`) drives the rows: one per card. Adds
    ``is_non_human``, ``non_human_reason`` (every rule that fired, in the order of
    ``REASONS``; null when none) and the numbers behind them.
    """
    df = (activity.join(tac, USER_ID, "left").join(extent, USER_ID, "left")
          .join(cadence, USER_ID, "left"))
    rules = {
        "iot_tac": F.coalesce(F.col("is_iot_tac"), F.lit(False)),
        "static_location": (F.col("static_radius_m") <= F.lit(p.static_max_radius_m))
        & (F.col("n_days") >= F.lit(p.static_min_days))
        & F.coalesce(F.col("hour_cv") < F.lit(p.static_max_hour_cv), F.lit(True)),
        "regular_cadence": F.coalesce(
            (F.col("cadence_robust_cv") < F.lit(p.regular_cadence_cv_max))
            & (F.col("n_events") >= F.lit(p.regular_cadence_min_events)), F.lit(False)),
        "impossible_rate": F.col("is_impossible_rate"),
    }
    fired = [F.when(cond, F.lit(name)) for name, cond in rules.items()]
    reason = F.concat_ws(",", *fired)
    return df.withColumns({
        NON_HUMAN_REASON: F.when(reason != "", reason),
        IS_NON_HUMAN: reason != "",
    })


# --------------------------------------------------------------------------------------
# one person, several cards


def hourly_locations(events: DataFrame, p: FlagsConfig) -> DataFrame:
    """Per card and hour: mean x/y of the hour's events and its coincidence distance.

    Needs ``user_id``, ``event_time``, ``x_m``, ``y_m`` and ``spacing_m`` (the serving
    cell's site spacing from the cells table). Returns ``user_id``, ``slot`` (the hour),
    ``slot_day``, ``hx``, ``hy`` and ``reach_m`` = max(multicard_distance_m,
    min(spacing_factor x the largest site spacing of the hour's cells,
    multicard_max_distance_m)).

    Transit hours are left out (issue 18): an hour whose ``multicard_move_slot_min``
    positions (mean x/y of each such slot's events) spread over more than
    ``multicard_transit_factor`` x its ``reach_m`` (the diagonal of their bounding box)
    is a card on its way, and its mean is a point on the road, not a place. A work phone
    seen once at work in the hour its holder arrives there contradicted the holder's
    mean between home and work: measured on the region profile, such hours were most of
    the 10-27 % of a work phone's hours that did not coincide with its holder's.
    """
    size = int(p.multicard_move_slot_min) * 60
    t = F.col(EVENT_TIME).cast("long")
    sub = (events.groupBy(USER_ID, (F.floor(t / size) * size).alias("_q"))
           .agg(F.sum(X_M).alias("_sx"), F.sum(Y_M).alias("_sy"),
                F.count(F.lit(1)).alias("_n"), F.max("spacing_m").alias("_sp"))
           .withColumn("_mx", F.col("_sx") / F.col("_n"))
           .withColumn("_my", F.col("_sy") / F.col("_n")))
    adaptive = F.least(F.lit(p.multicard_spacing_factor) * F.max("_sp"),
                       F.lit(p.multicard_max_distance_m))
    hourly = (sub
              .groupBy(USER_ID, F.date_trunc("hour", F.col("_q").cast("timestamp"))
                       .alias("slot"))
              .agg((F.sum("_sx") / F.sum("_n")).alias("hx"),
                   (F.sum("_sy") / F.sum("_n")).alias("hy"),
                   F.greatest(F.lit(p.multicard_distance_m),
                              F.coalesce(adaptive, F.lit(0.0))).alias("reach_m"),
                   F.hypot(F.max("_mx") - F.min("_mx"), F.max("_my") - F.min("_my"))
                   .alias("_spread")))
    if p.multicard_transit_factor > 0:
        hourly = hourly.where(
            F.col("_spread") <= F.lit(p.multicard_transit_factor) * F.col("reach_m"))
    return hourly.drop("_spread").withColumn("slot_day", F.to_date("slot"))


def reach_classes(p: FlagsConfig) -> list[float]:
    """Grid sizes for candidate search: the floor distance doubled up to the cap."""
    sizes, s = [], float(p.multicard_distance_m)
    while s < p.multicard_max_distance_m and p.multicard_spacing_factor > 0:
        sizes.append(s)
        s *= 2
    sizes.append(float(p.multicard_max_distance_m if p.multicard_spacing_factor > 0
                       else p.multicard_distance_m))
    return sizes


def coincident_slots(slots: DataFrame, p: FlagsConfig) -> DataFrame:
    """Pairs of cards (``user_a`` < ``user_b``) per hour whose locations coincide.

    Two slots coincide when their distance is at most the larger ``reach_m`` of the two.
    Candidates only through equal (hour, grid bucket) keys: each slot belongs to the
    smallest size class >= its reach; for each class size s, the slots of that class are
    spread to the 3x3 neighbour buckets of the s-grid and meet the slots of classes <= s
    in it. A pair whose larger reach is in class s meets exactly once, and dense areas are
    only ever bucketed at the small sizes.
    """
    sizes = reach_classes(p)
    cls = F.lit(len(sizes) - 1)
    for i in reversed(range(len(sizes))):
        cls = F.when(F.col("reach_m") <= F.lit(sizes[i]), F.lit(i)).otherwise(cls)
    keyed = slots.withColumn("cls", cls)
    parts = []
    for i, size in enumerate(sizes):
        bx, by = F.floor(F.col("hx") / size), F.floor(F.col("hy") / size)
        a = (keyed.where(F.col("cls") == i)
             .select(F.col(USER_ID).alias("ua"), "slot", "slot_day",
                     F.col("hx").alias("ax"), F.col("hy").alias("ay"),
                     F.col("reach_m").alias("ar"),
                     F.explode(F.sequence(bx - 1, bx + 1)).alias("bx"), by.alias("by0"))
             .select("*", F.explode(F.sequence(F.col("by0") - 1, F.col("by0") + 1))
                     .alias("by")).drop("by0"))
        b = (keyed.where(F.col("cls") <= i)
             .select(F.col(USER_ID).alias("ub"), "slot", bx.alias("bx"), by.alias("by"),
                     F.col("hx").alias("bxm"), F.col("hy").alias("bym"),
                     F.col("reach_m").alias("br"), F.col("cls").alias("bcls")))
        m = a.join(b, ["slot", "bx", "by"], "inner").where(
            ((F.col("bcls") < i) | (F.col("ua") < F.col("ub"))) & (F.col("ua") != F.col("ub"))
            & (F.hypot(F.col("ax") - F.col("bxm"), F.col("ay") - F.col("bym"))
               <= F.greatest("ar", "br")))
        parts.append(m.select(F.least("ua", "ub").alias("user_a"),
                              F.greatest("ua", "ub").alias("user_b"), "slot", "slot_day"))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def colocated_pairs(slots: DataFrame, p: FlagsConfig,
                    stage: Callable[[DataFrame], DataFrame] | None = None) -> DataFrame:
    """Card pairs (``user_a`` < ``user_b``) that pass the co-location test.

    ``slots`` from :func:`hourly_locations` (human cards only). Coincident slots from
    :func:`coincident_slots`; pairs with coincident slots on fewer than
    ``multicard_min_days`` days are dropped before the shared slots (both cards seen in
    the hour) are counted. Columns: ``user_a``, ``user_b``, ``shared_slots``,
    ``coincident_slots``, ``coincident_days``, ``coincident_share`` (>= the smaller of
    ``multicard_min_share`` and ``multicard_static_min_share``).
    """
    coincident = (stage or identity)(
        coincident_slots(slots, p).groupBy("user_a", "user_b")
        .agg(F.count(F.lit(1)).alias("coincident_slots"),
             F.countDistinct("slot_day").cast("int").alias("coincident_days"))
        .where(F.col("coincident_days") >= F.lit(p.multicard_min_days)))
    sa = slots.select(F.col(USER_ID).alias("user_a"), "slot")
    sb = slots.select(F.col(USER_ID).alias("user_b"), "slot")
    shared = (coincident.select("user_a", "user_b").join(sa, "user_a", "inner")
              .join(sb, ["user_b", "slot"], "inner")
              .groupBy("user_a", "user_b").agg(F.count(F.lit(1)).alias("shared_slots")))
    floor = min(p.multicard_min_share, p.multicard_static_min_share)
    return (coincident.join(shared, ["user_a", "user_b"], "inner")
            .withColumn("coincident_share",
                        F.col("coincident_slots") / F.col("shared_slots"))
            .where(F.col("coincident_share") >= F.lit(floor))
            .select("user_a", "user_b", "shared_slots", "coincident_slots",
                    "coincident_days", "coincident_share"))


def card_moves(events: DataFrame, p: FlagsConfig) -> DataFrame:
    """Per card: its moves, one row per slot a move covers.

    Events are binned to ``multicard_move_slot_min`` slots (mean x/y, largest
    ``spacing_m``). A step between consecutive observed slots at most
    ``multicard_move_max_gap_min`` apart is *travelling* when it is longer than
    ``multicard_distance_m``. A move is a run of consecutive travelling steps whose net
    displacement, from the slot before the run to its last slot, is more than
    ``multicard_move_min_m`` and more than ``multicard_spacing_factor`` x the smaller site
    spacing at its two ends (a card at rest in the sparse periphery flips between masts
    2.5-5 km apart, back and forth or once: no net displacement beyond twice the spacing;
    a trip out of a sparse area crosses sites ~1-2 km apart in steps shorter than that,
    so the floor is on the run, not on its steps). Runs, not
    single steps: a phone seen every few minutes shows a 4 km commute as three 1.3 km
    steps, a work phone seen only at both ends as one 4 km step; measured on the region
    profile, taking single steps left most of a work phone's moves unmatched by its
    holder's (issue 18). Columns ``user_id``, ``move`` (start of the slot before the
    run, epoch seconds: the move's id), ``slot`` (each slot from that one to the run's
    last).
    """
    size = int(p.multicard_move_slot_min) * 60
    t = F.col(EVENT_TIME).cast("long")
    binned = (events.groupBy(USER_ID, (F.floor(t / size) * size).alias("t"))
              .agg(F.avg(X_M).alias("x"), F.avg(Y_M).alias("y"),
                   F.max("spacing_m").alias("s")))
    w = Window.partitionBy(USER_ID).orderBy("t")
    factor = F.lit(float(p.multicard_spacing_factor))
    steps = binned.select(
        USER_ID, "t", "x", "y", "s", F.lag("t").over(w).alias("t0"),
        F.lag("x").over(w).alias("x0"), F.lag("y").over(w).alias("y0"),
        F.lag("s").over(w).alias("s0"))
    floor = F.lit(float(p.multicard_distance_m))
    travelling = ((F.hypot(F.col("x") - F.col("x0"), F.col("y") - F.col("y0")) > floor)
                  & (F.col("t") - F.col("t0") <= F.lit(int(p.multicard_move_max_gap_min) * 60)))
    # runs of travelling steps: a run's id counts the resting steps before it
    runs = (steps.withColumn("_go", F.coalesce(travelling, F.lit(False)))
            .withColumn("_run", F.sum(F.when(F.col("_go"), 0).otherwise(1)).over(
                w.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
            .where("_go")
            .groupBy(USER_ID, "_run")
            .agg(F.min_by(F.struct("t0", "x0", "y0", "s0"), F.col("t")).alias("a"),
                 F.max_by(F.struct("t", "x", "y", "s"), F.col("t")).alias("b")))
    net = F.hypot(F.col("b.x") - F.col("a.x0"), F.col("b.y") - F.col("a.y0"))
    end_floor = F.greatest(F.lit(float(p.multicard_move_min_m)),
                           F.coalesce(factor * F.least("a.s0", "b.s"), F.lit(0.0)))
    moves = runs.where(net > end_floor)
    return moves.select(USER_ID, F.col("a.t0").alias("move"),
                        F.explode(F.sequence(F.col("a.t0"), F.col("b.t"), F.lit(size)))
                        .alias("slot"))


def co_movement(pairs: DataFrame, moves: DataFrame) -> DataFrame:
    """Per pair: moves of each card and how many overlap a move of the other card.

    ``pairs`` has ``user_a``, ``user_b``; ``moves`` from :func:`card_moves`. Two moves
    overlap when they cover a common slot. Columns ``user_a``, ``user_b``, ``moves_a``,
    ``moves_b``, ``co_moves`` (of the card with fewer moves: moves matched by the other;
    ties: card a), ``ref_moves`` and ``co_move_share`` (null without moves).
    """
    keys = pairs.select("user_a", "user_b")
    ma = moves.select(F.col(USER_ID).alias("user_a"), F.col("move").alias("move_a"), "slot")
    mb = moves.select(F.col(USER_ID).alias("user_b"), F.col("move").alias("move_b"), "slot")
    both = (keys.join(ma, "user_a", "inner").join(mb, ["user_b", "slot"], "inner")
            .groupBy("user_a", "user_b")
            .agg(F.countDistinct("move_a").alias("hit_a"),
                 F.countDistinct("move_b").alias("hit_b")))
    n = moves.groupBy(USER_ID).agg(F.countDistinct("move").alias("n"))
    na = n.select(F.col(USER_ID).alias("user_a"), F.col("n").alias("moves_a"))
    nb = n.select(F.col(USER_ID).alias("user_b"), F.col("n").alias("moves_b"))
    df = (keys.join(na, "user_a", "left").join(nb, "user_b", "left")
          .join(both, ["user_a", "user_b"], "left").na.fill(0, ["moves_a", "moves_b",
                                                               "hit_a", "hit_b"]))
    a_ref = F.col("moves_a") <= F.col("moves_b")
    ref = F.when(a_ref, F.col("moves_a")).otherwise(F.col("moves_b"))
    hit = F.when(a_ref, F.col("hit_a")).otherwise(F.col("hit_b"))
    return df.select("user_a", "user_b", F.col("moves_a").cast("int"),
                     F.col("moves_b").cast("int"), hit.cast("int").alias("co_moves"),
                     ref.cast("int").alias("ref_moves"),
                     F.when(ref > 0, hit / ref).alias("co_move_share"))


def card_slot_counts(slots: DataFrame) -> DataFrame:
    """Per card: ``n_slots``, its hourly slots (:func:`hourly_locations`)."""
    return slots.groupBy(USER_ID).agg(F.count(F.lit(1)).cast("int").alias("n_slots"))


def container_presence(pairs: DataFrame, slots: DataFrame) -> DataFrame:
    """Per containment pair: how often the container is at the contained card's place
    without it. The contained card is the one with fewer hourly slots; its place is the
    median of its hourly positions (reach: its median ``reach_m``). Of the container's
    slots within that reach, on a day and at an hour of day at which the contained card
    is seen at all (its own sleep hours do not count), ``present_slots`` have the
    contained card in the same hour and ``absent_slots`` do not; ``presence`` =
    present / (present + absent) (1 when there are none). A tablet is on whenever its
    holder is home (presence ~1); a neighbour is also home while the holder is out and
    the tablet off. ``pairs``: ``user_a``, ``user_b``, ``contained`` (the contained
    card's user_id)."""
    keys = pairs.select("user_a", "user_b", "contained",
                        F.when(F.col("contained") == F.col("user_a"), F.col("user_b"))
                        .otherwise(F.col("user_a")).alias("container"))
    place = slots.groupBy(USER_ID).agg(
        F.percentile_approx("hx", 0.5).alias("_px"), F.percentile_approx("hy", 0.5).alias("_py"),
        F.percentile_approx("reach_m", 0.5).alias("_pr"))
    hours = slots.select(F.col(USER_ID).alias("contained"),
                         F.hour("slot").alias("_h")).distinct()
    days = slots.select(F.col(USER_ID).alias("contained"), "slot_day").distinct()
    own = slots.select(F.col(USER_ID).alias("contained"), "slot", F.lit(1).alias("_seen"))
    there = (keys.join(place.withColumnRenamed(USER_ID, "contained"), "contained")
             .join(slots.select(F.col(USER_ID).alias("container"), "slot", "slot_day",
                                "hx", "hy"), "container")
             .where(F.hypot(F.col("hx") - F.col("_px"), F.col("hy") - F.col("_py"))
                    <= F.col("_pr"))
             .withColumn("_h", F.hour("slot"))
             .join(hours, ["contained", "_h"], "left_semi")
             .join(days, ["contained", "slot_day"], "left_semi")
             .join(own, ["contained", "slot"], "left"))
    counts = there.groupBy("user_a", "user_b").agg(
        F.count("_seen").cast("int").alias("present_slots"),
        (F.count(F.lit(1)) - F.count("_seen")).cast("int").alias("absent_slots"))
    total = F.col("present_slots") + F.col("absent_slots")
    return (keys.select("user_a", "user_b").join(counts, ["user_a", "user_b"], "left")
            .na.fill(0, ["present_slots", "absent_slots"])
            .withColumn("presence", F.when(total > 0, F.col("present_slots") / total)
                        .otherwise(F.lit(1.0))))


def card_cell_hours(events: DataFrame) -> DataFrame:
    """Per card, hour and serving cell: ``user_id``, ``slot`` (the hour), ``cell_id``,
    ``n`` (events)."""
    return events.groupBy(USER_ID, F.date_trunc("hour", F.col(EVENT_TIME)).alias("slot"),
                          CELL_ID).agg(F.count(F.lit(1)).alias("n"))


def cell_overlap(pairs: DataFrame, cell_hours: DataFrame) -> DataFrame:
    """Per pair: how alike the two cards' serving cells are in the hours both are seen.

    Of each card's events in the pair's shared hourly slots, the share per serving cell
    (sector); ``cell_overlap`` = sum over cells of the smaller of the two shares (1: the
    same cells in the same proportions, 0: no cell in common). Two devices in one home
    are served by the same sectors in the same proportions; a neighbour a few hundred
    metres away is mostly served by other sectors or masts even when the hourly mean
    positions are within the slot's reach (the mean of a mast's position hides which of
    its sectors serves). ``pairs``: ``user_a``, ``user_b``; ``cell_hours`` from
    :func:`card_cell_hours`. Pairs without shared slots get 0."""
    keys = pairs.select("user_a", "user_b")
    sa = cell_hours.select(F.col(USER_ID).alias("user_a"), "slot").distinct()
    sb = cell_hours.select(F.col(USER_ID).alias("user_b"), "slot").distinct()
    shared = keys.join(sa, "user_a").join(sb, ["user_b", "slot"])

    def hist(side: str) -> DataFrame:
        own = cell_hours.select(F.col(USER_ID).alias(f"user_{side}"), "slot", CELL_ID, "n")
        h = (shared.join(own, [f"user_{side}", "slot"])
             .groupBy("user_a", "user_b", CELL_ID).agg(F.sum("n").alias("_n")))
        w = Window.partitionBy("user_a", "user_b")
        return h.select("user_a", "user_b", CELL_ID,
                        (F.col("_n") / F.sum("_n").over(w)).alias(f"_p{side}"))

    both = hist("a").join(hist("b"), ["user_a", "user_b", CELL_ID], "inner")
    ov = both.groupBy("user_a", "user_b").agg(
        F.sum(F.least("_pa", "_pb")).alias("cell_overlap"))
    return keys.join(ov, ["user_a", "user_b"], "left").na.fill(0.0, ["cell_overlap"])


def multicard_pairs(slots: DataFrame, moves: DataFrame, p: FlagsConfig,
                    stage: Callable[[DataFrame], DataFrame] | None = None,
                    cell_hours: DataFrame | None = None) -> DataFrame:
    """Accepted card pairs (``user_a`` < ``user_b``) with their evidence.

    Co-located pairs (:func:`colocated_pairs`) that also move together
    (:func:`co_movement`): the sparser card has >= ``multicard_min_moves`` moves, >=
    ``multicard_min_co_move_share`` of them matched, and the co-location share is >=
    ``multicard_min_share``, the product of the two shares >= ``multicard_min_score``
    (``pair_test`` = ``co_movement``); or it has fewer moves and the co-location share is
    >= ``multicard_static_min_share`` and, when it has >= 2 moves, >=
    ``multicard_contained_min_co_move_share`` of them overlap a move of the other card
    (``pair_test`` = ``containment``: a card that does
    not move with its holder, a tablet left at home, a
    work phone left at work, is judged by how much of it the other card covers and how
    rarely the other card is at its place without it: :func:`pair_score`,
    :func:`container_presence`, :func:`strongest_pairs`). Either kind must also be
    served by alike cells, ``cell_overlap`` (:func:`cell_overlap` on ``cell_hours``,
    :func:`card_cell_hours`) >= ``multicard_min_cell_overlap``: the holder's phone is
    served by the tablet's sectors, a neighbour's or a colleague's mostly by others even
    within the slot's reach (None: not tested, ``cell_overlap`` null). Columns of
    :func:`colocated_pairs` plus ``ref_moves``, ``co_moves``, ``co_move_share``,
    ``pair_test``, ``contained_slots`` (hourly slots of the card with fewer slots),
    ``cover`` (``coincident_slots`` / ``contained_slots``: the share of that card's hours
    in which the other card is seen at the same place) and, for containment pairs,
    ``present_slots``, ``absent_slots`` and ``presence`` (:func:`container_presence`;
    null for co-movement pairs) and ``cell_overlap``.
    """
    colocated = (stage or identity)(colocated_pairs(slots, p, stage))
    co = co_movement(colocated, moves).select("user_a", "user_b", "ref_moves", "co_moves",
                                              "co_move_share")
    n = card_slot_counts(slots)
    judged = F.col("ref_moves") >= F.lit(p.multicard_min_moves)
    moving = (judged & (F.col("co_move_share") >= F.lit(p.multicard_min_co_move_share))
              & (F.col("coincident_share") >= F.lit(p.multicard_min_share))
              & (F.col("coincident_share") * F.col("co_move_share")
                 >= F.lit(p.multicard_min_score)))
    # a card with a few moves, none (or too few) shared with the other card's: two
    # neighbours who both stay in, each going out on their own (issue 18)
    unmatched = ((F.col("ref_moves") >= F.lit(2))
                 & (F.coalesce(F.col("co_move_share"), F.lit(0.0))
                    < F.lit(p.multicard_contained_min_co_move_share)))
    still = (~judged & (F.col("coincident_share") >= F.lit(p.multicard_static_min_share))
             & ~unmatched)
    contained = F.least(F.col("_na"), F.col("_nb"))
    accepted = (colocated.join(co, ["user_a", "user_b"], "inner").where(moving | still)
                .join(n.select(F.col(USER_ID).alias("user_a"), F.col("n_slots").alias("_na")),
                      "user_a", "left")
                .join(n.select(F.col(USER_ID).alias("user_b"), F.col("n_slots").alias("_nb")),
                      "user_b", "left")
                .select("user_a", "user_b", "shared_slots", "coincident_slots",
                        "coincident_days", "coincident_share", "ref_moves", "co_moves",
                        "co_move_share",
                        F.when(judged, F.lit("co_movement")).otherwise(F.lit("containment"))
                        .alias("pair_test"),
                        contained.cast("int").alias("contained_slots"),
                        F.least(F.lit(1.0), F.col("coincident_slots") / contained)
                        .alias("cover"),
                        F.when(F.col("_na") <= F.col("_nb"), F.col("user_a"))
                        .otherwise(F.col("user_b")).alias("contained")))
    accepted = (stage or identity)(accepted)
    if cell_hours is not None:
        accepted = (stage or identity)(
            accepted.join(cell_overlap(accepted, cell_hours), ["user_a", "user_b"], "left")
            .where(F.col("cell_overlap") >= F.lit(p.multicard_min_cell_overlap)))
    else:
        accepted = accepted.withColumn("cell_overlap", F.lit(None).cast("double"))
    presence = container_presence(accepted.where(F.col("pair_test") == "containment"), slots)
    return accepted.join(presence, ["user_a", "user_b"], "left").drop("contained")


def pair_score(judged_min_moves: int) -> F.Column:
    """Strength of an accepted pair: co-location share x co-movement share; for a pair
    judged without movement (containment) co-location share x ``cover`` (the share of
    the sparser card's hours the other card covers at the same place) x ``presence``
    (the share of the other card's hours at that card's place in which it is on too).
    A tablet left at home is seen at home with its holder's phone and with every
    neighbour's; but its holder is home whenever it is on, so the holder's phone covers
    it (almost) all the time, never contradicts it and is rarely home without it, while
    a neighbour is out during some of its hours (a contradiction, lowering the
    co-location share), asleep (no cover) or home while the holder is out (absent). A
    work phone's colleague arrives and leaves at other times and is elsewhere when the
    work phone is used away from work.

    The serving sectors (``cell_overlap``) are a threshold only, not a factor: on
    average they tell the holder from a neighbour (containment pairs on the 1,500-person
    region: one person's cards median 0.85, others 0.70), but between a tablet's holder
    and a stay-at-home neighbour in the same building their noise decides (a tablet
    with few events: true pairs down to 0.57 beside neighbours at 0.91). As a factor
    it made 2 true pairs of the 1,500-person region lose to a neighbour where the
    ambiguity is resolved (:func:`_resolve`; recall 0.885 with it, 0.908 without, the
    300-person region and the CI city the same either way)."""
    return F.when(F.col("ref_moves") >= F.lit(judged_min_moves),
                  F.col("coincident_share") * F.col("co_move_share")).otherwise(
        F.col("coincident_share") * F.col("cover") * F.coalesce(F.col("presence"), F.lit(1.0)))


def strongest_pairs(pairs: DataFrame, p: FlagsConfig) -> DataFrame:
    """The accepted pairs that groups are built from: a pair is kept when its score
    (:func:`pair_score`) is >= ``multicard_partner_ratio`` x the best score of each of its
    two cards. Two people who live and commute side by side, each with two cards, pass the
    thresholds across persons too (score ~0.5 against ~0.85-0.95 within a person); without
    this the connected components would merge them into one group of four (measured on a
    1,500-person city: group precision 0.92 -> 0.97, recall unchanged). A person's third
    card still joins: its pairs with the other two are all strong. Pairs judged without
    movement (containment: co-location share x cover) are compared only with such pairs,
    with the stricter ``multicard_contained_ratio``: a card that does not move is
    grouped only with a partner that dominates its other candidates (the holder against
    the neighbours, the room-mates of a dormitory), otherwise the component it links is
    not all paired and is ambiguous."""
    # pairs judged on movement and pairs judged on co-location alone score on different
    # scales (a product of two shares vs one share): compare a pair only with its kind
    scored = (pairs.withColumn("_s", pair_score(p.multicard_min_moves))
              .withColumn("_k", F.col("ref_moves") >= F.lit(p.multicard_min_moves)))
    ends = (scored.select(F.col("user_a").alias("_u"), "_k", "_s")
            .unionByName(scored.select(F.col("user_b").alias("_u"), "_k", "_s")))
    best = ends.groupBy("_u", "_k").agg(F.max("_s").alias("_best"))
    ratio = F.when(F.col("_k"), F.lit(p.multicard_partner_ratio)).otherwise(
        F.lit(p.multicard_contained_ratio))
    return (scored
            .join(best.withColumnRenamed("_u", "user_a").withColumnRenamed("_best", "_ba"),
                  ["user_a", "_k"])
            .join(best.withColumnRenamed("_u", "user_b").withColumnRenamed("_best", "_bb"),
                  ["user_b", "_k"])
            .where((F.col("_s") >= ratio * F.col("_ba")) & (F.col("_s") >= ratio * F.col("_bb")))
            .select("user_a", "user_b"))


def _components(pdf: pd.DataFrame) -> pd.DataFrame:
    """Connected components of an edge list (vectorised, scipy.sparse.csgraph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes, inv = np.unique(np.concatenate([pdf["user_a"].to_numpy(dtype=object),
                                           pdf["user_b"].to_numpy(dtype=object)]),
                           return_inverse=True)
    k = len(pdf)
    graph = coo_matrix((np.ones(k), (inv[:k], inv[k:])), shape=(len(nodes), len(nodes)))
    _, label = connected_components(graph, directed=False)
    out = pd.DataFrame({USER_ID: nodes, "_c": label})
    # nodes are sorted, so the first node of each component is its smallest user_id
    first = out.groupby("_c")[USER_ID].transform("first")
    size = out.groupby("_c")[USER_ID].transform("size")
    return pd.DataFrame({USER_ID: out[USER_ID].astype(str), MULTICARD_GROUP: first.astype(str),
                         MULTICARD_GROUP_SIZE: size.astype("int32")})


def _groups(pdf: pd.DataFrame, max_cards: int | None, resolve_min_days: int = 0,
            resolve_max_cards: int | None = None,
            resolve_max_density: float = 1.0) -> pd.DataFrame:
    """Groups of an edge list ``user_a, user_b, kept`` (every accepted pair once; ``kept``:
    the pair is one of its cards' strongest, :func:`strongest_pairs`): the connected
    components of the kept pairs whose cards are all paired with each other (every two of
    them an accepted pair) and number at most ``max_cards`` (None: any). Any other
    component is ambiguous (a chain A-B-C of look-alikes, or a crowd: a dormitory, a
    shuttle) and none of its cards is grouped: ``multicard_group`` null, group size 1,
    ``multicard_ambiguous`` = its number of cards (null for grouped cards). Vectorised:
    one components pass, one count of accepted pairs inside each component.

    With ``resolve_min_days`` > 0 and the pairs' scores (``_s``) and ``coincident_days``
    in the edge list, an ambiguous component of at most ``resolve_max_cards`` cards of
    which at most ``resolve_max_density`` of the card pairs are accepted pairs (a chain
    or a star, not a crowd) is resolved (:func:`_resolve`); its grouped cards carry
    ``multicard_resolved`` = the component's number of cards."""
    kept = pdf[pdf["kept"].astype(bool)]
    cols = [USER_ID, MULTICARD_GROUP, MULTICARD_GROUP_SIZE, MULTICARD_AMBIGUOUS,
            MULTICARD_RESOLVED]
    if kept.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    comp = _components(kept)
    label = pd.Series(comp[MULTICARD_GROUP].to_numpy(), index=comp[USER_ID].to_numpy())
    ga = pdf["user_a"].astype(str).map(label)
    gb = pdf["user_b"].astype(str).map(label)
    inside = ga[ga.notna() & (ga == gb)].value_counts()  # accepted pairs per component
    size = comp.groupby(MULTICARD_GROUP)[USER_ID].size()
    complete = inside.reindex(size.index, fill_value=0) == size * (size - 1) // 2
    ok = complete if max_cards is None else complete & (size <= max_cards)
    good = comp[MULTICARD_GROUP].map(ok).astype(bool).to_numpy()
    out = pd.DataFrame({
        USER_ID: comp[USER_ID],
        MULTICARD_GROUP: comp[MULTICARD_GROUP].where(good, None),
        MULTICARD_GROUP_SIZE: np.where(good, comp[MULTICARD_GROUP_SIZE], 1).astype("int32"),
        MULTICARD_AMBIGUOUS: pd.array(np.where(good, pd.NA, comp[MULTICARD_GROUP_SIZE]),
                                      dtype="Int32"),
        MULTICARD_RESOLVED: pd.array([pd.NA] * len(comp), dtype="Int32")})
    if resolve_min_days > 0 and {"_s", "coincident_days"} <= set(pdf.columns):
        n = comp[MULTICARD_GROUP_SIZE].to_numpy()
        density = (comp[MULTICARD_GROUP].map(inside).fillna(0).to_numpy()
                   / np.maximum(n * (n - 1) / 2, 1))
        open_ = (n <= (resolve_max_cards or len(comp))) & (density <= resolve_max_density)
        out = _resolve(pdf, out, set(comp[USER_ID][~good & open_]), max_cards,
                       resolve_min_days)
    return out


def _resolve(pdf: pd.DataFrame, out: pd.DataFrame, cards: set, max_cards: int | None,
             min_days: int) -> pd.DataFrame:
    """Resolve ambiguous components (``cards``: theirs) best pair first: the kept pairs
    among them that coincide on >= ``min_days`` days, strongest score (``_s``) first,
    each joining the sets of its two cards when every two cards of the union are an
    accepted pair and the union has at most ``max_cards`` (complete linkage, as the
    group rule). A tablet at home is seen with its holder and with a stay-at-home
    neighbour or two, all within flags.multicard_contained_ratio of each other: the
    holder scores highest most of the time (presence: the tablet is off while the holder
    is out), so the best guess groups it with its holder where abstaining counted the
    tablet as one more resident (1,500-person region: 19 of the 20 pairs grouped this
    way are true; recall 0.835 -> 0.908, precision 0.94 either way). A week of evidence
    is asked for: on two days dorm-mates and a street of neighbours are alike and stay
    ambiguous; and a crowd is never resolved: room-mates who keep the same hours are all
    paired with each other (every card pair accepted), while the components resolved on
    both regions had at most 2/3 of their card pairs accepted (a holder and neighbours
    are not paired with each other, only with the tablet). Grouped cards get
    ``multicard_resolved`` (the component's size) instead of ``multicard_ambiguous``;
    the rest of the component stays ambiguous."""
    if not cards:
        return out
    accepted = {(min(a, b), max(a, b)) for a, b in zip(
        pdf["user_a"].astype(str), pdf["user_b"].astype(str), strict=True)}
    e = pdf[pdf["kept"].astype(bool) & pdf["user_a"].isin(cards) & pdf["user_b"].isin(cards)
            & (pdf["coincident_days"] >= min_days)]
    e = e.sort_values(["_s", "user_a", "user_b"], ascending=[False, True, True])
    sets: dict[str, frozenset] = {}
    for a, b in zip(e["user_a"].astype(str), e["user_b"].astype(str), strict=True):
        sa, sb = sets.get(a, frozenset([a])), sets.get(b, frozenset([b]))
        if sa == sb or (max_cards is not None and len(sa) + len(sb) > max_cards):
            continue
        if all((min(x, y), max(x, y)) in accepted for x in sa for y in sb):
            union = sa | sb
            sets.update(dict.fromkeys(union, union))
    if not sets:
        return out
    out = out.set_index(USER_ID, drop=False)
    ids = list(sets)
    out.loc[ids, MULTICARD_RESOLVED] = out.loc[ids, MULTICARD_AMBIGUOUS].to_numpy()
    out.loc[ids, MULTICARD_AMBIGUOUS] = pd.NA
    out.loc[ids, MULTICARD_GROUP] = [min(sets[u]) for u in ids]
    out.loc[ids, MULTICARD_GROUP_SIZE] = np.array([len(sets[u]) for u in ids], dtype="int32")
    return out.reset_index(drop=True)


def multicard_groups(kept: DataFrame, accepted: DataFrame | None = None,
                     max_cards: int | None = None, p: FlagsConfig | None = None) -> DataFrame:
    """Multi-card groups (:func:`_groups`): ``user_id``, ``multicard_group`` (the smallest
    user_id of the group; null for the cards of an ambiguous component),
    ``multicard_group_size``, ``multicard_ambiguous`` and ``multicard_resolved``.

    ``kept``: the pairs groups are built from (:func:`strongest_pairs`); ``accepted``: all
    pairs that passed the rules (:func:`multicard_pairs`; default ``kept``), against
    which a group's completeness is checked; ``max_cards``: the largest group
    (flags.max_group_size; None: any); ``p``: with ``accepted``, resolve small ambiguous
    components (flags.multicard_resolve_min_days, multicard_resolve_max_cards,
    multicard_resolve_max_density; None: never). The edge list (small: a few pairs per
    multi-card person) is solved in one task with ``applyInPandas``; cards in no kept
    pair get no row.
    """
    schema = (f"{USER_ID} string, {MULTICARD_GROUP} string, {MULTICARD_GROUP_SIZE} int, "
              f"{MULTICARD_AMBIGUOUS} int, {MULTICARD_RESOLVED} int")
    k = kept.select("user_a", "user_b").distinct().withColumn("kept", F.lit(True))
    resolve = p is not None and accepted is not None and p.multicard_resolve_min_days > 0
    if accepted is None:
        edges = k
    else:
        extra = ([pair_score(p.multicard_min_moves).alias("_s"), "coincident_days"]
                 if resolve else [])
        edges = (accepted.select("user_a", "user_b", *extra)
                 .dropDuplicates(["user_a", "user_b"]).join(k, ["user_a", "user_b"], "left")
                 .withColumn("kept", F.coalesce(F.col("kept"), F.lit(False))))
    days = p.multicard_resolve_min_days if resolve else 0
    most = p.multicard_resolve_max_cards if resolve else None
    dense = p.multicard_resolve_max_density if resolve else 1.0
    return (edges.withColumn("_k", F.lit(0)).groupBy("_k")
            .applyInPandas(lambda pdf: _groups(pdf, max_cards, days, most, dense), schema))


# --------------------------------------------------------------------------------------
# the output table


PAIR_EVIDENCE = ("shared_slots", "coincident_slots", "coincident_days", "coincident_share",
                 "ref_moves", "co_moves", "co_move_share", "pair_test", "contained_slots",
                 "cover", "present_slots", "absent_slots", "presence", "cell_overlap")


def _r(col: str, digits: int) -> F.Column:
    return F.round(F.col(col), digits)


def assemble_user_flags(cards: DataFrame, groups: DataFrame, pairs: DataFrame,
                        month: str) -> DataFrame:
    """One row per card: the ``user_flags`` columns (schemas/user_flags.json).

    ``cards`` from :func:`flag_non_human`, ``groups`` from :func:`multicard_groups`,
    ``pairs`` from :func:`multicard_pairs` (for the evidence). Single cards get a null
    group, group size 1 and ``is_group_primary`` true; in a group the primary card is the
    one with most events (ties: smallest user_id).
    """
    ends = (pairs.select(F.col("user_a").alias(USER_ID), F.col("user_b").alias("other"),
                         *PAIR_EVIDENCE)
            .unionByName(pairs.select(F.col("user_b").alias(USER_ID),
                                      F.col("user_a").alias("other"), *PAIR_EVIDENCE)))
    pair_ev = ends.groupBy(USER_ID).agg(F.array_sort(F.collect_list(F.struct(
        "other", "shared_slots", "coincident_slots", "coincident_days",
        F.round("coincident_share", 4).alias("coincident_share"), "ref_moves", "co_moves",
        F.round("co_move_share", 4).alias("co_move_share"), "pair_test", "contained_slots",
        F.round("cover", 4).alias("cover"), "present_slots", "absent_slots",
        F.round("presence", 4).alias("presence"),
        F.round("cell_overlap", 4).alias("cell_overlap")))).alias("multicard_pairs"))
    df = cards.join(groups, USER_ID, "left").join(pair_ev, USER_ID, "left")
    w = Window.partitionBy(MULTICARD_GROUP).orderBy(F.col("n_events").desc(), F.col(USER_ID))
    primary = F.when(F.col(MULTICARD_GROUP).isNull(), F.lit(True)).otherwise(
        F.row_number().over(w) == 1)
    evidence = F.to_json(F.struct(
        F.col("n_events"), F.col("n_days"), F.col("max_events_day"),
        F.col(IS_HEAVY_USER).alias("is_heavy_user"),
        F.col("tac"), F.col("device_type"),
        _r("static_radius_m", 1).alias("static_radius_m"), F.col("n_cells"),
        _r("hour_cv", 4).alias("hour_cv"),
        F.col("n_gaps"), _r("gap_median_s", 1).alias("gap_median_s"),
        F.col("time_resolution_s"),
        _r("cadence_robust_cv", 4).alias("cadence_robust_cv"),
        _r("cadence_cv", 4).alias("cadence_cv"),
        F.col("multicard_pairs"), F.col(MULTICARD_AMBIGUOUS), F.col(MULTICARD_RESOLVED)))
    return df.select(
        USER_ID, IS_NON_HUMAN, NON_HUMAN_REASON, MULTICARD_GROUP,
        F.coalesce(F.col(MULTICARD_GROUP_SIZE), F.lit(1)).cast("int").alias(
            MULTICARD_GROUP_SIZE),
        primary.alias(IS_GROUP_PRIMARY), evidence.alias(EVIDENCE),
        F.round(F.coalesce(F.col("observed_s"), F.lit(0.0)) / F.lit(3600.0), 3)
        .alias(OBSERVED_H), F.lit(month).alias(MONTH))


def identity(df: DataFrame) -> DataFrame:
    return df


def user_flags(events: DataFrame, tac_types: DataFrame | None, p: FlagsConfig,
               month: str, stage: Callable[[DataFrame], DataFrame] = identity) -> DataFrame:
    """The whole monthly flagging: events of the month -> ``user_flags`` rows.

    Cards with an impossible rate are left out of the per-event gap pass (they are
    flagged already and would make one task explode); non-human cards are not grouped.

    ``stage`` is applied to the small intermediate results (per-card profile, hourly
    slots, moves, coincident and co-located pairs, accepted pairs) that later steps use
    several times; the job passes a function that checkpoints them, otherwise the query
    plan repeats the per-card work in every branch (the co-location self-join of the
    hourly slots appeared 16 times in the plan of the accepted pairs: 35 Spark jobs and
    ~8 s of query planning on three cards). Cache ``events`` first: it is scanned by
    several aggregations.
    """
    activity = card_activity(events, p.max_events_per_day)
    impossible = activity.where("is_impossible_rate").select(USER_ID)
    regular = events.join(F.broadcast(impossible), USER_ID, "left_anti")
    cards = stage(flag_non_human(activity, card_tac(events, tac_types, p.iot_device_types),
                                 card_extent(events),
                                 card_cadence(regular, p.observed_gap_cap_h * 3600.0), p))
    non_human = cards.where(IS_NON_HUMAN).select(USER_ID)
    human_events = regular.join(F.broadcast(non_human), USER_ID, "left_anti")
    slots = stage(hourly_locations(human_events, p))
    moves = stage(card_moves(human_events, p))  # read twice by co_movement
    cells = stage(card_cell_hours(human_events))
    pairs = stage(multicard_pairs(slots, moves, p, stage, cells))
    groups = multicard_groups(strongest_pairs(pairs, p), pairs, p.max_group_size, p)
    return assemble_user_flags(cards, groups, pairs, month)
