"""Urban spatial linkage 城市联系 (domain.md §C): trips between units, their intensity,
commuting rates between units and the metropolitan area 都市圈 delineated by commuting
share. Pure transforms; the ``linkage`` job reads the month's ``moves``, ``card_places``,
expansion factors, ``units`` and ``jobs_housing`` and chains them:

1. :func:`move_points` / :func:`move_units`: each move of a counted card (card_places)
   with the unit of its origin and of its destination at every level (Sedona join,
   ``population.assign_units``; optionally the H3 grid).
2. :func:`trip_counts`: per ordered pair (level, origin, destination) the trips T_ij
   (moves, raw and weighted by the card's expansion factor) and the travellers (distinct
   cards, raw and expanded). Only moves crossing a unit border count (origin != dest).
3. :func:`commute_pairs`: per pair the commuters, employed residents (card_places: a
   resident with a home and a work place, jobs_housing's definition) living in the origin
   and working in the destination; the diagonal (live and work in the unit) is kept for
   the totals and the metropolitan area, and left out of the published pairs.
4. :func:`delineate` (pandas, per level through :func:`metro_area`): the metropolitan
   area grown from the core unit(s): a unit joins when the share of its employed residents
   working in the area as it stands reaches the threshold; repeated until no unit joins.
5. :func:`od_long` -> privacy.with_od_bridge_suppression -> :func:`publish`: suppression of
   the pairs (rows, columns and, at the metro level, the metro part of each row are
   groups with public totals), then one row per pair with trips per day, the intensity
   F_ij = (T_ij + T_ji) / days and the commuting rate (commuters / the origin's employed
   residents as jobs_housing publishes them), each null with a reason when it would be
   computed from a hidden count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mobsig import columns as C
from mobsig import privacy
from mobsig.columns import expanded_col, raw_col, reason_col, suppressed_col
from mobsig.errors import InputError
from mobsig.jobs_housing import job_points
from mobsig.population import assign_units, with_grid

MEASURES = (C.TRIPS, C.COMMUTERS)
SUPPRESSED = "suppressed"
NO_EMPLOYED_RESIDENTS = "no_employed_residents"
ORIGIN, DEST = "origin", "dest"
TRIPS_RAW = f"{C.TRIPS}_{C.RAW_COUNT}"
TRIPS_EXPANDED = f"{C.TRIPS}_{C.EXPANDED_COUNT}"
ROW_WITHHELD = "origin_total_withheld"  # privacy_audit.ROW_WITHHELD
COL_WITHHELD = "dest_total_withheld"  # privacy_audit.COL_WITHHELD
IN_METRO = "_dest_in_metro"  # suppression grouping: the metro part of a row
TOLERANCE = 1e-9  # shares compare with the threshold up to float noise


# --------------------------------------------------------------------------------------
# trips


def move_points(moves: DataFrame, places: DataFrame, min_dist_m: float = 0.0) -> DataFrame:
    """``user_id``, ``departure``, ``role`` (origin/dest), ``lon``, ``lat``: both ends of
    every trip of a counted card (a card of ``places``, card_places; non-human and
    secondary cards have no row there): a move whose stays are at least ``min_dist_m``
    apart (``dist_m``; a shorter move is one place seen as two stays). A move is keyed by
    (user_id, departure): a card leaves one stay at a time."""
    m = moves.where(F.col(C.DIST_M) >= F.lit(float(min_dist_m))).join(
        places.select(C.USER_ID), C.USER_ID, how="left_semi")
    return (m.select(C.USER_ID, C.DEPARTURE, F.lit(ORIGIN).alias(C.ROLE),
                     F.col(C.ORIGIN_LON).alias(C.LON), F.col(C.ORIGIN_LAT).alias(C.LAT))
            .unionByName(m.select(C.USER_ID, C.DEPARTURE, F.lit(DEST).alias(C.ROLE),
                                  F.col(C.DEST_LON).alias(C.LON),
                                  F.col(C.DEST_LAT).alias(C.LAT))))


def _pairs(members: DataFrame, keys: list[str], first: str, second: str) -> DataFrame:
    """Per ``keys`` + level: the unit of role ``first`` (origin_id) and of role ``second``
    (dest_id); rows with both."""
    role = F.col(C.ROLE)
    return (members.groupBy(*keys, C.LEVEL)
            .agg(F.max(F.when(role == first, F.col(C.UNIT_ID))).alias(C.ORIGIN_ID),
                 F.max(F.when(role == second, F.col(C.UNIT_ID))).alias(C.DEST_ID))
            .where(F.col(C.ORIGIN_ID).isNotNull() & F.col(C.DEST_ID).isNotNull()))


def move_units(points: DataFrame, units: DataFrame, grid_resolution: int | None = None
               ) -> DataFrame:
    """``user_id``, ``departure``, ``level``, ``origin_id``, ``dest_id``: the units of both
    ends of each move (:func:`move_points`) in every polygon layer of ``units`` where both
    ends fall in a unit, and (``grid_resolution`` set) their H3 cells (level grid)."""
    keys = [C.USER_ID, C.DEPARTURE, C.ROLE]
    members = assign_units(points, units, keys)
    if grid_resolution is not None:
        members = members.unionByName(with_grid(points, keys, grid_resolution))
    return _pairs(members, [C.USER_ID, C.DEPARTURE], ORIGIN, DEST)


def trip_counts(od: DataFrame, weights: DataFrame, by: Sequence[str]) -> DataFrame:
    """Per ``by`` (e.g. level, origin_id, dest_id): ``trips_raw_count`` (moves),
    ``trips_expanded_count`` (moves weighted by their card's expansion factor),
    ``travellers_raw_count`` (distinct cards) and ``travellers_expanded_count``. ``od``:
    one row per move with ``user_id`` and the ``by`` columns; ``weights``: ``user_id``,
    ``weight`` (a card without one counts 1)."""
    per_user = (od.groupBy(*by, C.USER_ID).agg(F.count(F.lit(1)).alias("_n"))
                .join(weights, C.USER_ID, how="left"))
    w = F.coalesce(F.col(C.WEIGHT), F.lit(1.0))
    return per_user.groupBy(*by).agg(
        F.sum("_n").cast("bigint").alias(TRIPS_RAW),
        F.sum(F.col("_n") * w).alias(TRIPS_EXPANDED),
        F.count(F.lit(1)).cast("bigint").alias(raw_col(C.TRAVELLERS)),
        F.sum(w).alias(expanded_col(C.TRAVELLERS)))


def days_with_moves(moves: DataFrame) -> DataFrame:
    """One row, ``days``: the days of the month with any move (at least 1): the divisor
    of per-day values (a two-week city is not divided by 30)."""
    return moves.agg(F.greatest(F.countDistinct(C.DT), F.lit(1)).cast("int").alias(C.DAYS))


# --------------------------------------------------------------------------------------
# commuting


def commute_pairs(places: DataFrame, units: DataFrame, weights: DataFrame,
                  grid_resolution: int | None = None) -> DataFrame:
    """``level``, ``origin_id`` (home unit), ``dest_id`` (work unit),
    ``commuters_raw_count``, ``commuters_expanded_count``: employed residents of
    ``places`` (card_places: pop_class resident with a home and a work place, as
    jobs_housing counts them) per pair of units of every layer of ``units`` holding both
    places (and of the H3 grid when ``grid_resolution`` is set), diagonal included."""
    pts = job_points(places)
    keys = [C.USER_ID, C.ROLE]
    members = assign_units(pts, units, keys)
    if grid_resolution is not None:
        members = members.unionByName(with_grid(pts, keys, grid_resolution))
    pairs = _pairs(members, [C.USER_ID], "home", "work")
    w = F.coalesce(F.col(C.WEIGHT), F.lit(1.0))
    return (pairs.join(weights, C.USER_ID, how="left")
            .groupBy(C.LEVEL, C.ORIGIN_ID, C.DEST_ID)
            .agg(F.count(F.lit(1)).cast("bigint").alias(raw_col(C.COMMUTERS)),
                 F.sum(w).alias(expanded_col(C.COMMUTERS))))


# --------------------------------------------------------------------------------------
# the metropolitan area 都市圈


def delineate(flows: pd.DataFrame, employed: pd.Series, core: Sequence[str],
              threshold: float, eligible: set[str] | None = None) -> pd.DataFrame:
    """The metropolitan area grown from ``core`` over one level (pandas, small).

    ``flows``: ``origin_id``, ``dest_id``, ``commuters`` (home unit -> work unit; the
    diagonal is ignored); ``employed``: employed residents per unit (index unit_id; every
    unit of the level, zeros allowed). Round r = 1, 2, ...: every unit outside the area
    whose employed residents work in the area (in a unit other than their own) with a
    share >= ``threshold`` joins; rounds stop when none joins. Returns, per unit of
    ``employed``: ``unit_id``, ``is_core``, ``is_member``, ``joined_round`` (0 for the
    core, null outside), ``commuters_to_metro`` (to the final area, own unit excluded)
    and ``share`` (commuters_to_metro / employed; null without employed residents). A
    unit outside the area has a share below the threshold; one inside has at least it,
    the area only grows. An empty ``core``: :func:`default_core`. ``eligible``: the units
    that may join (None: every unit; see :func:`membership_open`); any other unit outside
    the core has ``is_member`` and ``joined_round`` null (not delineated) and counts in
    no round's area."""
    units = [str(u) for u in employed.index]
    emp = employed.astype(float)
    off = flows[flows[C.ORIGIN_ID] != flows[C.DEST_ID]]
    core = [str(u) for u in core] or default_core(flows)
    members = set(core)
    joined = dict.fromkeys(members, 0)
    rnd = 0

    def share_to(area: set[str]) -> pd.Series:
        to = off[off[C.DEST_ID].isin(area)].groupby(C.ORIGIN_ID)["commuters"].sum()
        return to.reindex(emp.index, fill_value=0.0)

    while True:
        rnd += 1
        to = share_to(members)
        share = to / emp.where(emp > 0)
        new = [u for u in units if u not in members and share.get(u, np.nan) >= threshold
               - TOLERANCE and (eligible is None or u in eligible)]
        if not new:
            break
        for u in new:
            members.add(u)
            joined[u] = rnd
    to = share_to(members)
    shown = [eligible is None or u in members or u in eligible for u in units]
    return pd.DataFrame({
        C.UNIT_ID: units, C.IS_CORE: [u in core for u in units],
        C.IS_MEMBER: pd.array([u in members if ok else None for u, ok in zip(
            units, shown, strict=True)], dtype="boolean"),
        C.JOINED_ROUND: pd.array([joined.get(u) for u in units], dtype="Int32"),
        C.COMMUTERS_TO_METRO: to.to_numpy(float),
        "share": (to / emp.where(emp > 0)).to_numpy(float)})


def delineate_level(pairs: pd.DataFrame, units: Sequence[str], core: Sequence[str],
                    threshold: float, eligible: set[str] | None = None) -> pd.DataFrame:
    """:func:`delineate` over one level's :func:`commute_pairs` rows (pandas:
    ``origin_id``, ``dest_id``, ``commuters_expanded_count``, the diagonal included) and
    ``units`` (every unit of the level): employed residents are the pairs summed by
    origin."""
    flows = pairs.rename(columns={expanded_col(C.COMMUTERS): "commuters"})
    employed = flows.groupby(C.ORIGIN_ID)["commuters"].sum().reindex(list(units),
                                                                     fill_value=0.0)
    return delineate(flows, employed, core, threshold, eligible)


def default_core(flows: pd.DataFrame) -> list[str]:
    """The unit where most employed residents work (``flows``' commuters by destination,
    the diagonal included; ties: the smallest id); none without flows."""
    if flows.empty:
        return []
    jobs = flows.groupby(C.DEST_ID)["commuters"].sum()
    top = jobs[jobs == jobs.max()].index
    return [str(min(top))]


def core_ids(units: Sequence[tuple[str, str, str | None]], level: str,
             configured: Sequence[str]) -> list[str]:
    """The configured core (linkage.metro_core) as unit ids of ``level``: an id of that
    level stands for itself, an id of another layer for its child units at the level
    (``parent_id``). ``units``: (level, unit_id, parent_id) of every unit. Empty when
    nothing is configured (:func:`default_core` then picks). Raises ValueError naming an
    id that is neither."""
    at_level = {u for lv, u, _ in units if lv == level}
    out: set[str] = set()
    for cid in configured:
        kids = {u for lv, u, parent in units if lv == level and parent == cid}
        if cid not in at_level and not kids:
            raise ValueError(f"linkage.metro_core: {cid!r} is neither a {level} unit nor the "
                             f"parent of one")
        out |= {cid} if cid in at_level else kids
    return sorted(out)


METRO_OUT = T.StructType([
    T.StructField(C.LEVEL, T.StringType(), False),
    T.StructField(C.UNIT_ID, T.StringType(), False),
    T.StructField(C.IS_CORE, T.BooleanType(), False),
    T.StructField(C.IS_MEMBER, T.BooleanType(), True),
    T.StructField(C.JOINED_ROUND, T.IntegerType(), True),
    T.StructField(raw_col(C.COMMUTERS_TO_METRO), T.LongType(), False),
    T.StructField(expanded_col(C.COMMUTERS_TO_METRO), T.DoubleType(), False),
])


def metro_area(pairs: DataFrame, level_units: DataFrame, core: Sequence[str],
               threshold: float, open_units: DataFrame | None = None) -> DataFrame:
    """The delineation (:func:`delineate`, on expanded counts) of one level in Spark:
    ``pairs``: :func:`commute_pairs` rows of the level (diagonal included);
    ``level_units``: ``level``, ``unit_id`` of every unit of the level. Returns per unit
    ``level``, ``unit_id``, ``is_core``, ``is_member``, ``joined_round``,
    ``commuters_to_metro_raw_count`` / ``_expanded_count`` (employed residents working
    in another unit of the final area). Employed residents per unit are the pairs summed
    by origin (work places outside every unit of the level are not in ``pairs``; the
    job's totals come from :func:`employed_residents`). ``open_units``: ``level``,
    ``unit_id``, ``membership_open`` (:func:`membership_open`): only those units may
    join (the others are not delineated: membership null); None: every unit."""
    core = [str(u) for u in core]
    lu = level_units.select(C.LEVEL, C.UNIT_ID)
    lu = (lu.join(open_units.select(C.LEVEL, C.UNIT_ID, OPEN), [C.LEVEL, C.UNIT_ID],
                  how="left") if open_units is not None else lu.withColumn(OPEN, F.lit(True)))
    rows = (lu.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.ORIGIN_ID),
                      F.lit(None).cast("string").alias(C.DEST_ID),
                      F.lit(0).cast("bigint").alias("_raw"), F.lit(0.0).alias("_exp"),
                      F.coalesce(F.col(OPEN), F.lit(False)).alias(OPEN))
            .unionByName(pairs.select(C.LEVEL, C.ORIGIN_ID, C.DEST_ID,
                                      F.col(raw_col(C.COMMUTERS)).alias("_raw"),
                                      F.col(expanded_col(C.COMMUTERS)).alias("_exp"),
                                      F.lit(None).cast("boolean").alias(OPEN))))

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        level = str(pdf[C.LEVEL].iloc[0])
        flows = pdf[pdf[C.DEST_ID].notna()]
        heads = pdf[pdf[C.DEST_ID].isna()]
        units = sorted(set(heads[C.ORIGIN_ID]))
        eligible = set(heads.loc[heads[OPEN].eq(True), C.ORIGIN_ID])
        got = delineate_level(flows.rename(columns={"_exp": expanded_col(C.COMMUTERS)}),
                              units, core, threshold, eligible)
        members = set(got.loc[got[C.IS_MEMBER].eq(True), C.UNIT_ID])
        inside = flows[flows[C.DEST_ID].isin(members)
                       & (flows[C.DEST_ID] != flows[C.ORIGIN_ID])]
        raw = inside.groupby(C.ORIGIN_ID)["_raw"].sum().reindex(units, fill_value=0)
        return pd.DataFrame({
            C.LEVEL: level, C.UNIT_ID: got[C.UNIT_ID], C.IS_CORE: got[C.IS_CORE],
            C.IS_MEMBER: got[C.IS_MEMBER], C.JOINED_ROUND: got[C.JOINED_ROUND],
            raw_col(C.COMMUTERS_TO_METRO): raw.to_numpy("int64"),
            expanded_col(C.COMMUTERS_TO_METRO): got[C.COMMUTERS_TO_METRO].to_numpy(float)})

    return rows.groupBy(C.LEVEL).applyInPandas(apply, METRO_OUT)


def employed_residents(places: DataFrame, units: DataFrame, weights: DataFrame
                       ) -> DataFrame:
    """``level``, ``unit_id``, ``employed_residents_raw_count`` / ``_expanded_count``:
    residents with a home and a work place (anywhere) whose home is in the unit, as
    jobs_housing counts them; units of ``units`` without any have no row."""
    homes = job_points(places).where(F.col(C.ROLE) == "home")
    w = F.coalesce(F.col(C.WEIGHT), F.lit(1.0))
    return (assign_units(homes, units, [C.USER_ID, C.ROLE])
            .join(weights, C.USER_ID, how="left")
            .groupBy(C.LEVEL, C.UNIT_ID)
            .agg(F.count(F.lit(1)).cast("bigint").alias(raw_col(C.EMPLOYED_RESIDENTS)),
                 F.sum(w).alias(expanded_col(C.EMPLOYED_RESIDENTS))))


OPEN = "membership_open"  # the unit's membership may be published (membership_open)


def membership_open(level_units: DataFrame, employed: DataFrame, jobs_housing: DataFrame,
                    threshold: float, width: float, suppress_zeros: bool) -> DataFrame:
    """``level``, ``unit_id``, ``membership_open`` per unit of ``level_units`` (``level``,
    ``unit_id``; ``employed``: :func:`employed_residents`, a unit without a row has none):
    whether its membership of the metropolitan area may be published (issue 17).
    Membership is the commuting share rounded to one bit (>= ``threshold`` or not): beside
    E published employed residents it bounds the unit's commuters to the area to
    [ceil(t E), E] (a member) or [lb, ceil(t E) - 1] (not; lb = 1 as zeros are published,
    0 with ``suppress_zeros``), and the round it joined in bounds its commuters to the
    area of each earlier round the same way; any such count the releases hide is then
    pinned when the interval is narrower than the protection ``width``. So a unit is
    open only where jobs_housing (``jobs_housing``: the month's published rows, its
    ``is_employed_residents_suppressed``) publishes E and both intervals are at least
    ``width`` wide (E = 0 too: nothing to bound), decided on published counts alone, so
    being closed tells nothing of the share either (at t = 10 %, k = 15: E >= 170). A
    closed unit is not delineated: it joins no round and is in no round's area (another
    unit's round or commuters to the area would otherwise give its bit back by
    subtraction), and metro_area publishes its membership null. Core units are members
    whatever this says. With per-card weights that differ inside a unit (age raking) the
    bit bounds the expanded counts exactly and the distinct cards approximately."""
    e = F.coalesce(F.col(raw_col(C.EMPLOYED_RESIDENTS)).cast("double"), F.lit(0.0))
    cut = F.ceil(e * F.lit(float(threshold)) - F.lit(1e-9))
    lb = F.lit(0.0 if suppress_zeros else 1.0)
    below = cut - F.lit(1.0) - lb  # width of [lb, ceil(tE) - 1]
    above = e - F.greatest(cut, lb)  # width of [ceil(tE), E]
    shown = jobs_housing.select(C.LEVEL, C.UNIT_ID, F.coalesce(
        ~F.col(suppressed_col(C.EMPLOYED_RESIDENTS)), F.lit(False)).alias("_shown"))
    wide = (below >= F.lit(float(width))) & (above >= F.lit(float(width)))
    return (level_units.select(C.LEVEL, C.UNIT_ID)
            .join(employed.select(C.LEVEL, C.UNIT_ID, raw_col(C.EMPLOYED_RESIDENTS)),
                  [C.LEVEL, C.UNIT_ID], how="left")
            .join(shown, [C.LEVEL, C.UNIT_ID], how="left")
            .select(C.LEVEL, C.UNIT_ID, (F.coalesce(F.col("_shown"), F.lit(False))
                                         & ((e == 0) | wide)).alias(OPEN)))


def metro_long(metro: DataFrame, employed: DataFrame, level_units: DataFrame) -> DataFrame:
    """The long form of the metro_area table for suppression: ``level``, ``unit_id``,
    ``unit_name``, ``parent_id``, ``is_core``, ``is_member``, ``joined_round``,
    ``measure`` (employed_residents, commuters_to_metro), ``raw_count``,
    ``expanded_count`` (zeros filled). ``level_units``: the level's units with names and
    parents."""
    base = level_units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID).join(
        metro, [C.LEVEL, C.UNIT_ID], how="left").join(employed, [C.LEVEL, C.UNIT_ID],
                                                      how="left")
    zero = F.lit(0).cast("bigint")

    def part(measure: str) -> DataFrame:
        return base.select(
            C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID,
            F.coalesce(C.IS_CORE, F.lit(False)).alias(C.IS_CORE),
            C.IS_MEMBER, C.JOINED_ROUND,
            F.lit(measure).alias(C.MEASURE),
            F.coalesce(F.col(raw_col(measure)), zero).alias(C.RAW_COUNT),
            F.coalesce(F.col(expanded_col(measure)), F.lit(0.0)).alias(C.EXPANDED_COUNT))

    return part(C.EMPLOYED_RESIDENTS).unionByName(part(C.COMMUTERS_TO_METRO))


def withheld_metro_rows(sup: DataFrame, metro_level: str, held: list | None = None
                        ) -> DataFrame:
    """``level``, ``unit_id`` of the origins at ``metro_level`` whose commuters row total
    (its metro part or the rest: at that level a row is split in two public parts) the
    linkage audit withholds (:func:`suppress_pairs`' ``origin_total_withheld``), and those
    whose metro part the joint audit with the commute release holds hidden (``held``:
    :func:`joint_gate`'s frames)."""
    from mobsig import privacy_audit
    from mobsig.localdata import local_frame

    out = sup.where((F.col(C.LEVEL) == metro_level) & (F.col(C.MEASURE) == C.COMMUTERS)
                    & F.col(privacy_audit.ROW_WITHHELD)).select(
        C.LEVEL, F.col(C.ORIGIN_ID).alias(C.UNIT_ID))
    more = [(str(lv), str(u)) for h in held or () for lv, u in zip(
        h[C.LEVEL], h[C.UNIT_ID], strict=True) if lv == metro_level]
    if more:
        out = out.unionByName(local_frame(sup.sparkSession, more,
                                          f"{C.LEVEL} string, {C.UNIT_ID} string"))
    return out.distinct()


def publish_metro(long: DataFrame, k_min: int, complementary: bool,
                  suppress_zeros: bool, withheld: DataFrame | None = None,
                  jobs_housing: DataFrame | None = None) -> DataFrame:
    """One row per unit from :func:`metro_long`: each measure suppressed by the rules of
    population_by_unit (sibling groups per measure: the same counts and groups as
    jobs_housing's employed residents, so the same cells are hidden), then the share
    ``commuting_share_to_metro`` = commuters_to_metro / employed_residents (expanded)
    with ``commuting_share_to_metro_null_reason`` (suppressed / no_employed_residents).
    Membership (decided on the unsuppressed counts) is published where
    :func:`membership_open` let the unit be delineated; elsewhere it is null with
    ``is_member_null_reason`` ``suppressed`` (joined_round null too). ``withheld``
    (``level``, ``unit_id``: :func:`withheld_metro_rows`): units whose commuters_to_metro
    is hidden whatever its count (a complement of its sibling group protects it like a
    primary cell): commuters_to_metro is the metro part of the unit's linkage row, and with the
    published employed residents it gives the rest too, so where linkage withholds
    either part's total metro_area must not publish it. ``jobs_housing``: the month's
    published jobs_housing rows: the employed residents keep its mask (the same counts;
    its audited rule may hide more than the group rule)."""
    kw: dict = {}
    if withheld is not None:
        flag = withheld.select(C.LEVEL, C.UNIT_ID, F.lit(C.COMMUTERS_TO_METRO).alias(
            C.MEASURE), F.lit(True).alias("_force")).distinct()
        long = long.join(flag, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left")
        kw["forced"] = "_force"
    if jobs_housing is not None:
        state = jobs_housing.select(C.LEVEL, C.UNIT_ID, F.lit(C.EMPLOYED_RESIDENTS).alias(
            C.MEASURE), F.coalesce(F.col(suppressed_col(C.EMPLOYED_RESIDENTS)),
                                   F.lit(False)).alias("_jh_state"))
        long = long.join(state, [C.LEVEL, C.UNIT_ID, C.MEASURE], how="left")
        kw["fixed"] = "_jh_state"
    sup = privacy.with_suppression(long, k_min, complementary, suppress_zeros,
                                   identities=(), by=C.MEASURE, **kw)
    m = F.col(C.MEASURE)
    aggs = []
    for name in (C.EMPLOYED_RESIDENTS, C.COMMUTERS_TO_METRO):
        aggs += [F.max(F.when(m == name, F.col(C.RAW_COUNT))).alias(raw_col(name)),
                 F.max(F.when(m == name, F.col(C.EXPANDED_COUNT))).alias(expanded_col(name)),
                 F.max(F.when(m == name, F.col(C.IS_SUPPRESSED))).alias(suppressed_col(name))]
    wide = sup.groupBy(C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID, C.IS_CORE, C.IS_MEMBER,
                       C.JOINED_ROUND).agg(*aggs)
    hidden = (F.col(suppressed_col(C.EMPLOYED_RESIDENTS))
              | F.col(suppressed_col(C.COMMUTERS_TO_METRO)))
    den = F.col(expanded_col(C.EMPLOYED_RESIDENTS))
    return wide.withColumns({
        # a subset of the employed residents: at most 1 (the two sums of the same
        # factors, added in another order, can differ in the last bit)
        reason_col(C.IS_MEMBER): F.when(F.col(C.IS_MEMBER).isNull(), F.lit(SUPPRESSED)),
        C.METRO_SHARE: F.when(~hidden & (den > 0), F.least(
            F.col(expanded_col(C.COMMUTERS_TO_METRO)) / den, F.lit(1.0))),
        reason_col(C.METRO_SHARE): F.when(hidden, F.lit(SUPPRESSED)).when(
            den.isNull() | (den <= 0), F.lit(NO_EMPLOYED_RESIDENTS))})


# --------------------------------------------------------------------------------------
# the published pairs


def od_long(trips: DataFrame, commuters: DataFrame, metro_units: DataFrame | None = None
            ) -> DataFrame:
    """The long form of the linkage pairs (origin != dest) for suppression: ``level``,
    ``origin_id``, ``dest_id``, ``measure`` (trips / commuters), ``raw_count`` (distinct
    cards: travellers or commuters), ``expanded_count``, ``trips_raw_count`` /
    ``trips_expanded_count`` (the trips; 0 for commuters rows) and ``_dest_in_metro``
    (the destination is in the metropolitan area: ``metro_units``, ``level`` and
    ``unit_id`` of its members; splits each row of that level into two public parts).
    Every pair with a trip or a commuter has both measures (zeros filled)."""
    key = [C.LEVEL, C.ORIGIN_ID, C.DEST_ID]
    off = F.col(C.ORIGIN_ID) != F.col(C.DEST_ID)
    t = trips.where(off)
    c = commuters.where(off)
    pairs = t.select(*key).unionByName(c.select(*key)).distinct()
    wide = pairs.join(t, key, how="left").join(c, key, how="left")
    if metro_units is not None:
        m = metro_units.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.DEST_ID),
                               F.lit(True).alias(IN_METRO))
        wide = wide.join(m, [C.LEVEL, C.DEST_ID], how="left")
    else:
        wide = wide.withColumn(IN_METRO, F.lit(None).cast("boolean"))
    zero, zf = F.lit(0).cast("bigint"), F.lit(0.0)

    def measure(name: str, raw: Column, exp: Column, traw: Column, texp: Column,
                in_metro: Column) -> DataFrame:
        return wide.select(*key, F.lit(name).alias(C.MEASURE),
                           F.coalesce(raw, zero).alias(C.RAW_COUNT),
                           F.coalesce(exp, zf).alias(C.EXPANDED_COUNT),
                           traw.alias(TRIPS_RAW), texp.alias(TRIPS_EXPANDED),
                           in_metro.alias(IN_METRO))

    no_split = F.lit(None).cast("boolean")  # trips: the row is one group
    return measure(C.TRIPS, F.col(raw_col(C.TRAVELLERS)), F.col(expanded_col(C.TRAVELLERS)),
                   F.coalesce(TRIPS_RAW, zero), F.coalesce(TRIPS_EXPANDED, zf),
                   no_split).unionByName(
        measure(C.COMMUTERS, F.col(raw_col(C.COMMUTERS)), F.col(expanded_col(C.COMMUTERS)),
                zero, zf, F.coalesce(F.col(IN_METRO), F.lit(False))))


KEEP_ROW = "_jh_keep_row"  # a commuters row whose total jobs_housing publishes
KEEP_COL = "_commute_keep_col"  # a commuters column whose total commute publishes
HIDE_ROW = "_jh_hidden_row"  # a commuters row whose total jobs_housing keeps hidden
SECRET_COL = "_secret_col"  # a commuters column whose total would give a hidden count
OD_HIDDEN = "_commute_od_hidden"  # a commuters pair commute_od hides (the same count)
OD_FIXED = "_commute_od_fixed"  # a commuters pair whose state commute_od decided


def follow_commute_od(long: DataFrame, commute_od: DataFrame, suppress_zeros: bool = False
                      ) -> DataFrame:
    """``long`` (:func:`od_long`) with :data:`OD_HIDDEN` and :data:`OD_FIXED`: linkage's
    commuters pairs are commute_od's (the same cards, home unit -> work unit), so at
    every level commute_od publishes the pair's state is commute_od's: :data:`OD_FIXED`
    on every commuters cell of such a level, :data:`OD_HIDDEN` where commute_od hides
    the pair. A pair commute_od publishes (its count, or, without a row, a 0 a reader
    reads from its absence; with ``suppress_zeros`` an absent pair is not fixed) is
    known to the reader (absent: only where linkage's count is 0 too): linkage's rule
    and audit take it as published, never a
    complement (issue 17: before, linkage could hide it and count on it). A pair
    commute_od hides that linkage has no row for (a zero commute_od hid as a
    complement, at a level linkage publishes) gets its row here, trips 0, commuters 0
    hidden: no row would read as a published 0."""
    key = [C.LEVEL, C.ORIGIN_ID, C.DEST_ID]
    od = commute_od.where(F.col(C.ORIGIN_ID) != F.col(C.DEST_ID)).select(
        *key, F.col(C.IS_SUPPRESSED).alias(OD_HIDDEN))
    levels = commute_od.select(C.LEVEL).distinct().withColumn("_od_level", F.lit(True))
    is_c = F.col(C.MEASURE) == C.COMMUTERS
    # pairs commute_od hides that linkage has no row for, at the levels linkage publishes
    metro = long.where(is_c).select(C.LEVEL, C.DEST_ID, IN_METRO).distinct()
    extra = (od.where(F.col(OD_HIDDEN)).select(*key)
             .join(long.select(C.LEVEL).distinct(), C.LEVEL, how="left_semi")
             .join(long.select(*key).distinct(), key, how="left_anti")
             .join(metro, [C.LEVEL, C.DEST_ID], how="left"))
    zero, zf = F.lit(0).cast("bigint"), F.lit(0.0)
    added = extra.select(*key, F.explode(F.array(F.lit(C.TRIPS), F.lit(C.COMMUTERS))).alias(
        C.MEASURE), IN_METRO).select(
        *key, C.MEASURE, zero.alias(C.RAW_COUNT), zf.alias(C.EXPANDED_COUNT),
        zero.alias(TRIPS_RAW), zf.alias(TRIPS_EXPANDED),
        F.when(F.col(C.MEASURE) == C.COMMUTERS, F.coalesce(F.col(IN_METRO), F.lit(False)))
        .alias(IN_METRO))
    out = long.unionByName(added.select(*long.columns)).join(
        F.broadcast(od), key, how="left").join(F.broadcast(levels), C.LEVEL, how="left")
    at_level = F.coalesce(F.col("_od_level"), F.lit(False))
    # absent from commute_od: a 0 read from its absence (linkage's count 0 too; a count
    # commute_od does not list is left to linkage's rule)
    known = F.col(OD_HIDDEN).isNotNull() | (F.lit(not suppress_zeros)
                                             & (F.col(C.RAW_COUNT) == 0))
    return out.withColumns({
        OD_HIDDEN: is_c & F.coalesce(F.col(OD_HIDDEN), F.lit(False)),
        OD_FIXED: is_c & at_level & known}).drop("_od_level")


def keep_public_totals(long: DataFrame, jobs_housing: DataFrame,
                       commute: DataFrame | None = None) -> DataFrame:
    """``long`` (:func:`od_long`) with :data:`KEEP_ROW` and :data:`KEEP_COL`, true on the
    commuters cells whose row / column total (pairs of different units) another release
    of the month publishes, so the audit must never withhold it (issue 17, cross-release
    consistency: one release decides, the other follows): a row total is employed
    residents - live_and_work where jobs_housing publishes both; a column total is
    commute's inbound commuters - jobs_housing's live_and_work where both are published
    (``commute``: its published rows; None: no column kept). :data:`HIDE_ROW`: the
    commuters cells of an origin where jobs_housing hides exactly one of the two (the
    row total would give it back: 95 employed residents - a published 0 gave city
    990100's hidden live_and_work on the test city). :data:`SECRET_COL`: the commuters
    cells of a destination where exactly one of commute's inbound commuters and
    jobs_housing's live_and_work is hidden (the column total is their difference, so it
    would give the hidden one back: the audit treats it as a hidden cell that must be
    as wide as any, :func:`mobsig.privacy_audit.od_release_table`'s ``secret_cols``)."""
    from mobsig.commute import jh_flags

    f = jh_flags(jobs_housing)
    rows = f.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.ORIGIN_ID),
                    (F.col("_emp_public") & F.col("_lw_public")).alias("_row_pub"),
                    (F.col("_emp_hidden") != F.col("_lw_hidden")).alias("_row_hid"))
    is_c = F.col(C.MEASURE) == C.COMMUTERS
    out = long.join(F.broadcast(rows), [C.LEVEL, C.ORIGIN_ID], how="left")
    out = out.withColumns({KEEP_ROW: is_c & F.coalesce(F.col("_row_pub"), F.lit(False)),
                           HIDE_ROW: is_c & F.coalesce(F.col("_row_hid"), F.lit(False))})
    out = out.drop("_row_hid")
    if commute is None:
        return out.drop("_row_pub").withColumns({KEEP_COL: F.lit(False),
                                                 SECRET_COL: F.lit(False)})
    inbound = "inbound_commuters"  # commute.INBOUND
    in_hid = F.coalesce(F.col("_in_hid"), F.lit(True))
    in_pub = ~in_hid & F.col("_in_raw").isNotNull()
    raw = f"{inbound}_{C.RAW_COUNT}"  # (a published count; absent: any not hidden)
    cols = f.join(commute.select(C.LEVEL, C.UNIT_ID,
                                 F.col(suppressed_col(inbound)).alias("_in_hid"),
                                 (F.col(raw) if raw in commute.columns else F.lit(1)
                                  ).alias("_in_raw")),
                  [C.LEVEL, C.UNIT_ID]).select(
        C.LEVEL, F.col(C.UNIT_ID).alias(C.DEST_ID),
        (F.col("_lw_public") & ~in_hid).alias("_col_pub"),
        ((in_hid & F.col("_lw_public")) | (in_pub & F.col("_lw_hidden"))).alias("_col_sec"))
    out = out.join(F.broadcast(cols), [C.LEVEL, C.DEST_ID], how="left")
    return out.withColumns({
        KEEP_COL: is_c & F.coalesce(F.col("_col_pub"), F.lit(False)),
        SECRET_COL: is_c & F.coalesce(F.col("_col_sec"), F.lit(False))}
    ).drop("_row_pub", "_col_pub", "_col_sec")


def suppress_pairs(long: DataFrame, k_min: int, complementary: bool, suppress_zeros: bool,
                   width: float | None = None, on_audit=None, repair: bool = True,
                   jobs_housing: DataFrame | None = None, commute: DataFrame | None = None,
                   commute_od: DataFrame | None = None) -> DataFrame:
    """privacy.with_od_bridge_suppression of :func:`od_long`, one matrix per level and measure:
    rows are origins, columns destinations; for commuters at the metro level each row is
    split into its metro and non-metro part (metro_area publishes the metro part's
    total, so both parts are public totals). With a protection ``width``, the interval
    audit of each matrix with its row and column totals public
    (:func:`mobsig.privacy_audit.with_od_audit`, what the job runs) hides further cells,
    and withholds the totals that pin a cell with nothing left to hide, until none is
    narrower than ``width``; ``on_audit`` is called with the audit (the job gates it);
    ``repair`` false: the bridge rule's mask is audited and reported, not gated. Adds
    ``origin_total_withheld`` / ``dest_total_withheld`` (privacy_audit.ROW_WITHHELD /
    COL_WITHHELD: the cell's row (origin, or its metro part at the metro level) / column
    total of its measure is withheld; false without a width). ``jobs_housing``: the
    month's published jobs_housing rows: a commuters row total it publishes (employed
    residents - live_and_work) is never withheld, nor a commuters column total that
    ``commute`` (its published rows) and jobs_housing publish (inbound commuters -
    live_and_work; :func:`keep_public_totals`: the audit protects the cells by
    complements, else the gate fails), and a column total that would give back a hidden
    inbound commuters or live_and_work is a hidden cell of the audit (``secret_cols``)
    where it is at least ``k_min``; below, every cell of that column is hidden, zeros
    included (a column of published zeros gave inbound = live_and_work).
    At the metro level the whole commuters row (both parts) is a total of the audit too
    (``whole_rows``: jobs_housing publishes it as employed residents - live_and_work).
    ``commute_od``: the month's published commute_od rows: every commuters pair of a
    level it publishes keeps its state there (:func:`follow_commute_od`: hidden where it
    hides the pair, its zeros hidden as complements included; published where it
    publishes it, and never a complement of the bridge rule, the rows or columns hidden
    whole, or the audit, which takes its value as known); the audit may open only a
    commuters row whose every pair keeps commute_od's state (``openable``: a row
    commute_od's audit opened, the same cells under the same total, see
    :func:`mobsig.privacy_audit.od_audited_mask`)."""
    from mobsig import privacy_audit

    rows, cols, part = (C.ORIGIN_ID, IN_METRO), (C.DEST_ID,), (C.LEVEL, C.MEASURE)
    forced = fixed = None
    if commute_od is not None:
        long, forced, fixed = follow_commute_od(long, commute_od, suppress_zeros), OD_HIDDEN, \
            OD_FIXED
    sup = privacy.with_od_bridge_suppression(
        long.withColumn("_true", F.col(C.RAW_COUNT)), k_min, complementary, suppress_zeros,
        rows=rows, cols=cols, extra_counts=(TRIPS_RAW, TRIPS_EXPANDED), partition=part,
        forced=forced, fixed=fixed)
    if forced:
        sup = sup.drop(forced)
    if width is None:
        return sup.drop("_true", IN_METRO, *([fixed] if fixed else [])).withColumns(
            {privacy_audit.ROW_WITHHELD: F.lit(False), privacy_audit.COL_WITHHELD: F.lit(False)})
    keep: dict = {}
    if jobs_housing is not None:
        sup = keep_public_totals(sup, jobs_housing, commute)
        keep = {"keep_rows": KEEP_ROW, "keep_cols": KEEP_COL, "secret_cols": SECRET_COL}
        # such a row is never fully published: all its cells hidden, zeros included
        row = Window.partitionBy(C.LEVEL, C.MEASURE, C.ORIGIN_ID)
        hide = F.col(HIDE_ROW) & ~F.max(F.col(C.IS_SUPPRESSED).cast("int")).over(row).cast(
            "boolean")
        # a column whose total would give back a hidden count: below k (the hidden count
        # is small, or 0: inbound = live_and_work) all its cells hidden, zeros included;
        # from k on, its total is a hidden cell of the audit (it must be k wide)
        col = Window.partitionBy(C.LEVEL, C.MEASURE, C.DEST_ID)
        small = F.col(SECRET_COL) & (F.sum("_true").over(col) < k_min)
        hide = hide | small
        if fixed:  # a pair commute_od publishes is known: hiding it here hides nothing
            hide = hide & ~F.col(fixed)
        sup = sup.withColumns({c: F.when(hide, F.lit(None)).otherwise(F.col(c))
                               for c in (C.RAW_COUNT, C.EXPANDED_COUNT)}).withColumns(
            {C.IS_SUPPRESSED: F.col(C.IS_SUPPRESSED) | hide,
             SECRET_COL: F.col(SECRET_COL) & ~small}).drop(HIDE_ROW)
    return privacy_audit.with_od_audit(
        sup, "_true", k_min, width, complementary, suppress_zeros, rows, cols, part,
        extra_counts=(TRIPS_RAW, TRIPS_EXPANDED), on_audit=on_audit, repair=repair,
        whole_rows=(C.ORIGIN_ID,), fixed=fixed, openable=fixed or False, **keep).drop(
            IN_METRO, KEEP_ROW, KEEP_COL, SECRET_COL, *([fixed] if fixed else []))


def publish(suppressed: DataFrame, employed: DataFrame, units: DataFrame,
            days: DataFrame) -> DataFrame:
    """One row per pair from :func:`suppress_pairs`' output: names of both units, the
    trips (``trips_raw_count``, ``trips_expanded_count``), travellers and commuters with
    their ``is_<measure>_suppressed``, ``days``, ``trips_per_day`` (T_ij / days),
    ``intensity_per_day`` F_ij = (T_ij + T_ji) / days (null, reason suppressed, when
    either direction is hidden; a pair without a reverse row has T_ji = 0) and
    ``commuting_rate`` = commuters / the origin's employed residents (``employed``:
    jobs_housing rows, ``level``, ``unit_id``, ``employed_residents_expanded_count``,
    ``is_employed_residents_suppressed``; null, with its reason, when either is hidden or
    there are none). ``units``: ``level``, ``unit_id``, ``unit_name`` (grid cells have
    no name); ``days``: one row (:func:`days_with_moves`). ``<measure>_origin_total_withheld``
    / ``<measure>_dest_total_withheld``: the audit withholds the origin's (row) /
    destination's (column) total of trips / commuters (:func:`suppress_pairs`): it must not
    be published nor derived anywhere, else it pins a hidden pair. A pair with a
    commuters row only (a zero pair of a commuters row the audit opened) has trips and
    travellers 0, published: no trip was made and its absence read as 0 anyway."""
    m = F.col(C.MEASURE)
    key = [C.LEVEL, C.ORIGIN_ID, C.DEST_ID]
    is_t, is_c = m == C.TRIPS, m == C.COMMUTERS
    wide = suppressed.groupBy(*key).agg(
        F.max(F.when(is_t, F.col(TRIPS_RAW))).alias(TRIPS_RAW),
        F.max(F.when(is_t, F.col(TRIPS_EXPANDED))).alias(TRIPS_EXPANDED),
        F.max(F.when(is_t, F.col(C.RAW_COUNT))).alias(raw_col(C.TRAVELLERS)),
        F.max(F.when(is_t, F.col(C.EXPANDED_COUNT))).alias(expanded_col(C.TRAVELLERS)),
        F.max(F.when(is_t, F.col(C.IS_SUPPRESSED))).alias(suppressed_col(C.TRIPS)),
        F.max(F.when(is_c, F.col(C.RAW_COUNT))).alias(raw_col(C.COMMUTERS)),
        F.max(F.when(is_c, F.col(C.EXPANDED_COUNT))).alias(expanded_col(C.COMMUTERS)),
        F.max(F.when(is_c, F.col(C.IS_SUPPRESSED))).alias(suppressed_col(C.COMMUTERS)),
        *[F.max(F.when(F.col(C.MEASURE) == m, F.col(side))).alias(f"{m}_{side}")
          for m in MEASURES for side in (ROW_WITHHELD, COL_WITHHELD)],
        F.max(is_t.cast("int")).alias("_has_trips"))
    # a pair without a trips row: a zero pair of a commuters row the audit opened
    # (privacy_audit.with_zero_pairs adds them to the opened matrix only); no trip was
    # made (every pair with one has both measures, od_long), and its absence read as 0
    # before, so its trips are a published 0, not a null (gate linkage)
    none = F.col("_has_trips") == 0
    wide = wide.withColumns({
        **{c: F.when(none, F.lit(0).cast("bigint")).otherwise(F.col(c))
           for c in (TRIPS_RAW, raw_col(C.TRAVELLERS))},
        **{c: F.when(none, F.lit(0.0)).otherwise(F.col(c))
           for c in (TRIPS_EXPANDED, expanded_col(C.TRAVELLERS))},
        suppressed_col(C.TRIPS): F.when(none, F.lit(False)).otherwise(
            F.col(suppressed_col(C.TRIPS)))}).drop("_has_trips")
    rev = wide.select(C.LEVEL, F.col(C.ORIGIN_ID).alias(C.DEST_ID),
                      F.col(C.DEST_ID).alias(C.ORIGIN_ID),
                      F.col(TRIPS_EXPANDED).alias("_rev_t"),
                      F.col(suppressed_col(C.TRIPS)).alias("_rev_hidden"))
    names = units.select(C.LEVEL, C.UNIT_ID, C.UNIT_NAME)
    er = employed.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.ORIGIN_ID),
                         F.col(expanded_col(C.EMPLOYED_RESIDENTS)).alias("_er"),
                         F.col(suppressed_col(C.EMPLOYED_RESIDENTS)).alias("_er_hidden"))
    out = (wide.join(rev, key, how="left").join(er, [C.LEVEL, C.ORIGIN_ID], how="left")
           .join(names.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.ORIGIN_ID),
                              F.col(C.UNIT_NAME).alias(C.ORIGIN_NAME)),
                 [C.LEVEL, C.ORIGIN_ID], how="left")
           .join(names.select(C.LEVEL, F.col(C.UNIT_ID).alias(C.DEST_ID),
                              F.col(C.UNIT_NAME).alias(C.DEST_NAME)),
                 [C.LEVEL, C.DEST_ID], how="left")
           .crossJoin(days.select(C.DAYS)))
    d = F.col(C.DAYS).cast("double")
    t_hidden = F.col(suppressed_col(C.TRIPS))
    rev_hidden = F.coalesce(F.col("_rev_hidden"), F.lit(False))
    both_hidden = t_hidden | rev_hidden
    c_hidden = F.col(suppressed_col(C.COMMUTERS)) | F.coalesce(F.col("_er_hidden"),
                                                                F.lit(False))
    er_val = F.col("_er")
    return out.select(
        C.LEVEL, C.ORIGIN_ID, C.ORIGIN_NAME, C.DEST_ID, C.DEST_NAME, C.DAYS,
        TRIPS_RAW, TRIPS_EXPANDED, raw_col(C.TRAVELLERS), expanded_col(C.TRAVELLERS),
        suppressed_col(C.TRIPS),
        (F.col(TRIPS_EXPANDED) / d).alias(C.TRIPS_PER_DAY),
        F.when(~both_hidden, (F.col(TRIPS_EXPANDED) + F.coalesce(F.col("_rev_t"),
                                                                  F.lit(0.0))) / d)
        .alias(C.INTENSITY_PER_DAY),
        F.when(both_hidden, F.lit(SUPPRESSED)).alias(reason_col(C.INTENSITY_PER_DAY)),
        raw_col(C.COMMUTERS), expanded_col(C.COMMUTERS), suppressed_col(C.COMMUTERS),
        F.when(~c_hidden & (er_val > 0), F.col(expanded_col(C.COMMUTERS)) / er_val)
        .alias(C.COMMUTING_RATE),
        F.when(c_hidden, F.lit(SUPPRESSED)).when(er_val.isNull() | (er_val <= 0),
                                                 F.lit(NO_EMPLOYED_RESIDENTS))
        .alias(reason_col(C.COMMUTING_RATE)),
        *[F.coalesce(F.col(f"{m}_{side}"), F.lit(False)).alias(f"{m}_{side}")
          for m in MEASURES for side in (ROW_WITHHELD, COL_WITHHELD)])


def totals_metrics(pairs: DataFrame, employed: DataFrame, published: DataFrame) -> DataFrame:
    """One row for gate linkage_totals: ``commuters_over_employed`` (the largest excess of
    a unit's commuters, :func:`commute_pairs` summed by origin over every destination, over
    its employed residents, :func:`employed_residents`; <= 0 since a card has one home and
    one work place) and ``employed_mismatch_units`` (units whose employed residents differ
    from ``published``: jobs_housing rows where their employed residents are published)."""
    er_raw = raw_col(C.EMPLOYED_RESIDENTS)
    by_origin = pairs.groupBy(C.LEVEL, F.col(C.ORIGIN_ID).alias(C.UNIT_ID)).agg(
        F.sum(raw_col(C.COMMUTERS)).alias("_c"))
    shown = published.where(~F.col(suppressed_col(C.EMPLOYED_RESIDENTS))).select(
        C.LEVEL, C.UNIT_ID, F.col(er_raw).alias("_jh"))
    er = F.coalesce(F.col(er_raw), F.lit(0))
    return (employed.join(by_origin, [C.LEVEL, C.UNIT_ID], how="full")
            .join(shown, [C.LEVEL, C.UNIT_ID], how="left")
            .agg(F.coalesce(F.max(F.coalesce(F.col("_c"), F.lit(0)) - er), F.lit(0))
                 .cast("bigint").alias("commuters_over_employed"),
                 F.sum(F.when(F.col("_jh").isNotNull() & (F.col("_jh") != er), 1)
                       .otherwise(0)).cast("bigint").alias("employed_mismatch_units")))


def plan(units: Sequence[tuple[str, str, str | None]], levels: Sequence[str],
         metro_level: str, metro_core: Sequence[str]) -> tuple[list[str], list[str]]:
    """The levels whose pairs are published (``levels``, linkage.levels; empty = every
    layer of ``units``) and the core ids at ``metro_level`` (:func:`core_ids`), from the
    (level, unit_id, parent_id) rows of the units table. Raises InputError naming a level
    that is not a layer, or a core id that fits none."""
    present = {lv for lv, _, _ in units}
    unknown = [lv for lv in (*levels, metro_level) if lv not in present]
    if unknown:
        raise InputError(f"linkage: level(s) {unknown} not in the units table (layers: "
                         f"{sorted(present)}); set linkage.levels / linkage.metro_level")
    try:
        core = core_ids(units, metro_level, metro_core)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return sorted(set(levels) if levels else present), core


def metro_facts(metro: DataFrame) -> dict[str, int]:
    """``metro_members``, ``metro_rounds`` and ``metro_not_delineated`` (membership null:
    :func:`membership_open`) of :func:`metro_area` rows (one small Spark job, for the
    run's facts)."""
    row = metro.agg(F.sum(F.col(C.IS_MEMBER).cast("int")), F.max(C.JOINED_ROUND),
                    F.sum(F.col(C.IS_MEMBER).isNull().cast("int"))).first()
    return {"metro_members": int(row[0] or 0), "metro_rounds": int(row[1] or 0),
            "metro_not_delineated": int(row[2] or 0)}


def commute_od_links(linkage_keys: pd.DataFrame, commute_keys: pd.DataFrame) -> pd.DataFrame:
    """The relations between linkage's audited cells (``linkage_keys``: its OD audit's
    solved keys, ``level`` = level and measure, ``unit_id`` = origin (and the metro
    flag) ``>`` destination) and the commute release's stored system (``commute_keys``:
    ``level`` = ``commute_od: <level>``, ``unit_id`` = origin ``>`` destination): each
    commuters pair of a level both publish is one count (linkage's commuters pairs are
    commute_od's), as :func:`mobsig.privacy_audit.joint_audit`'s ``links``."""
    k = linkage_keys
    lv = k[C.LEVEL].astype(str).str.split("\x1f", n=1)
    pair = k[C.UNIT_ID].astype(str)
    mine = (lv.str[1] == C.COMMUTERS) & pair.str.contains(">", regex=False) & ~pair.str.match(
        r"^(row|col|whole):")
    ends = pair.str.split(">", n=1)
    origin = ends.str[0].str.split("\x1f", n=1).str[0]
    ours = pd.DataFrame({C.LEVEL: k[C.LEVEL], C.UNIT_ID: k[C.UNIT_ID], "cell": k["cell"],
                         "_lv": "commute_od: " + lv.str[0], "_pair": origin + ">" + ends.str[1]}
                        )[mine.to_numpy()]
    theirs = commute_keys[[C.LEVEL, C.UNIT_ID, "cell"]].rename(
        columns={C.LEVEL: "_lv", C.UNIT_ID: "_pair", "cell": "_cell"})
    both = ours.merge(theirs[theirs["_lv"].str.startswith("commute_od: ")],
                      on=["_lv", "_pair"], how="inner")
    if not len(both):
        return pd.DataFrame(columns=["rel", "part", C.LEVEL, C.UNIT_ID, "cell", "coef"])
    rel = "pair " + both["_lv"] + " " + both["_pair"]
    return pd.concat([
        pd.DataFrame({"rel": rel, "part": "linkage", C.LEVEL: both[C.LEVEL],
                      C.UNIT_ID: both[C.UNIT_ID], "cell": both["cell"], "coef": 1.0}),
        pd.DataFrame({"rel": rel, "part": "commute", C.LEVEL: both["_lv"],
                      C.UNIT_ID: both["_pair"], "cell": both["_cell"], "coef": -1.0})],
        ignore_index=True)


def commuters_as_exported(solved, held: np.ndarray | None = None):
    """linkage's audited system (``solved``, of :func:`suppress_pairs`) with its commuters
    matrices as the export shows them, for the joint audit with the commute release: the
    export lists every commuters pair it does not publish as suppressed, zeros included
    (a hidden pair or a zero: lower bound 0, no width needed for a zero), and publishes
    no commuters total but the metro part of a row (metro_area's commuters_to_metro; the
    audit keeps its state there, stricter where metro_area hides more): the other row,
    column and whole-row totals, public in linkage's own audit (stricter: a reader may
    derive them from jobs_housing and commute, which the commute release's system
    holds), are unknowns of the joint system, exempt (they are not published cells).
    With the totals public the joint audit of the test city found 279 cells narrower
    than the width that no reader can narrow (a whole row of 20 beside jobs_housing's
    published employed residents of 34 pinned a hidden live-and-work at 14)."""
    k = solved.keys
    lv = k[C.LEVEL].astype(str).str.split("\x1f", n=1)
    com = (lv.str[1] == C.COMMUTERS).to_numpy()
    unit = k[C.UNIT_ID].astype(str)
    total = unit.str.match(r"^(row|col|whole):").to_numpy()
    metro_part = unit.str.match(r"^row:.*\x1fTrue$").to_numpy()
    pair = com & ~total
    zero = pair & (k[C.RAW_COUNT].to_numpy(float) == 0) & ~solved.hidden
    unlisted = com & total & ~metro_part & ~solved.hidden
    if held is not None:  # metro parts metro_area hides (the joint audit's repair)
        unlisted |= held & metro_part & ~solved.hidden
    return dataclasses.replace(
        solved, hidden=solved.hidden | zero | unlisted,
        zero_unknown=solved.zero_unknown | zero | (pair & solved.hidden),
        exempt=solved.exempt | zero | unlisted)


def with_commute_system(audit, systems: DataFrame, width: float, suppress_zeros: bool,
                        gated: bool):
    """linkage's audit (``audit``, of :func:`suppress_pairs`) with the joint audit of its
    release as exported and the commute release's system as stored
    (:func:`joint_with_commute`; ``systems``: the month's
    ``privacy_systems`` rows; the release of jobs_housing, commute and commute_od with
    the relations between commute_od's levels): a reader has both, and linkage's
    commuters pairs are commute_od's (:func:`commute_od_links`), its rows' metro parts
    (metro_area's commuters_to_metro) sums of them. ``gated``: the joint audit fails the
    gate (privacy.joint_audit = gate; repaired first: ``audit.holds``, the metro parts
    metro_area must hide), else it is reported. ``audit`` unchanged when no system is
    stored (the commute job's joint audit off)."""
    from mobsig import privacy_audit as pa

    got = systems.where(F.col("release") == "commute").select("system").collect()
    if not got or audit.solved is None:
        return audit
    audit.joint, audit.holds = joint_with_commute(
        audit, pa.system_from_blob(bytes(got[0]["system"])), width, suppress_zeros,
        repair=gated)
    audit.joint_gated = gated
    return audit


def joint_with_commute(audit, stored, width: float, suppress_zeros: bool = False,
                       repair: bool = False, max_rounds: int = 10):
    """The joint audit (:func:`mobsig.privacy_audit.joint_audit`) of linkage's release
    (``audit``, its commuters as exported: :func:`commuters_as_exported`) and the commute
    release's system ``stored`` (a :class:`~mobsig.privacy_audit.Solved`), linked by the
    commuters pairs both publish (:func:`commute_od_links`). With ``repair``, for each
    cell narrower than ``width`` the smallest published metro part (metro_area's
    commuters_to_metro) in each relation that binds it is held hidden, until the audit
    passes, nothing is left to hold or ``max_rounds``. Returns the audit and the held
    metro parts (``level``, ``unit_id``: the origin, ``measure``)."""
    from mobsig import privacy_audit as pa

    part = pa.Audit(audit.cells.iloc[:0], float(width), 0, 0.0, 0, solved=stored)
    links = commute_od_links(audit.solved.keys, stored.keys)
    keys = audit.solved.keys
    unit = keys[C.UNIT_ID].astype(str)
    metro_part = unit.str.match(r"^row:.*\x1fTrue$").to_numpy() & ~audit.solved.hidden
    held = np.zeros(len(keys), bool)
    start = len(stored.keys)
    for _ in range(max_rounds):
        mine = dataclasses.replace(audit, solved=commuters_as_exported(audit.solved, held))
        joint = pa.joint_audit({"commute": part, "linkage": mine}, links, width,
                               suppress_zeros)
        if joint.passed or not repair:
            break
        cand = np.zeros(len(joint.solved.keys), bool)
        cand[start:start + len(keys)] = metro_part & ~held
        pick = np.array(pa.binding_picks(joint, cand), dtype=np.int64) - start
        if not len(pick):
            break
        held[pick] = True
    k = keys[held]
    return joint, pd.DataFrame({
        C.LEVEL: k[C.LEVEL].astype(str).str.split("\x1f", n=1).str[0].to_numpy(),
        C.UNIT_ID: k[C.UNIT_ID].astype(str).str.slice(4).str.split("\x1f", n=1).str[0]
        .to_numpy(), C.MEASURE: "commuters_to_metro"})


def joint_gate(ctx, systems: DataFrame, pv):
    """:func:`suppress_pairs`' ``on_audit`` for the job: the audit with the commute
    release's system (:func:`with_commute_system`; ``pv``: the privacy config, its
    ``joint_audit`` deciding whether that is gated) as the job's gate; and the list that
    gets the metro parts the joint audit's repair holds hidden (for
    :func:`withheld_metro_rows`)."""
    from mobsig import privacy_audit as pa

    held: list = []

    def on_audit(a):
        a = with_commute_system(a, systems, pv.width, pv.suppress_zeros,
                                pv.joint_audit == "gate")
        if a.holds is not None:
            held.append(a.holds)
        pa.gate(ctx, a, "linkage")
    return on_audit, held
