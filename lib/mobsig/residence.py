"""Home 居住地, work 就业地 and population class per card and month (domain.md §B2-B3).

Pure DataFrame -> DataFrame transforms; the ``home_work`` job chains them::

    pieces = stays.transform(with_place_cell, hw.cluster_h3_resolution)
    days = day_pieces(pieces, month)
    nights = night_pieces(pieces, month, hw.night_start_h, hw.night_end_h)
    work = work_pieces(pieces, month, workdays, hw.work_start_h, hw.work_end_h)
    hw_df = home_work_table(days, nights, work, flags, hw, pop, month)

Definitions (all configurable, see config.HomeWorkConfig / PopulationConfig):

- A *piece* is the part of one stay that overlaps one time window: a local calendar day
  (presence), a night (``night_start_h`` .. ``night_end_h`` next morning; the night belongs
  to the evening's date) or a workday's daytime window (``work_start_h`` .. ``work_end_h``
  on days the holiday calendar calls workdays). Only windows whose date is in the month
  count, so a stay crossing the month boundary is clipped, never counted twice.
- ``days_present``: local dates of the month overlapped by at least one stay (stays, not
  raw events, so a card seen only passing through has 0 days and 0 stay hours).
- A *place* is a cluster of stay locations: every stay is binned to an H3 cell
  (``cluster_h3_resolution``); a candidate place is a cell plus its ``cluster_ring``
  neighbours (res 9, ring 1: about 350-500 m across), so a home split over two adjacent
  cells is still one place. The place with the largest cumulative time wins (ties: the
  smaller H3 id); its location is the duration-weighted centroid of the stays in it.
  Stay positions are the cells' service points (see ``cells.service_point``).
- Home position: re-centred on every night stay within ``home_refine_spacing_factor`` x
  the local site spacing of the home place (at least ``home_refine_min_m``): where sites
  are km apart one home's nights are served by two or three neighbouring sites, and their
  weighted mean lies between them, near the home (``refine_place``).
- Home: the night place with >= ``home_min_nights`` nights and >= ``home_min_night_share``
  of the observed nights (nights with any night-time stay).
- Work: among daytime places >= ``work_min_home_dist_m`` from home, the largest one, if
  present on >= ``work_min_days`` workdays and averaging >= ``work_min_avg_h`` hours per
  workday the card was present at all (the denominator is every workday present, so a
  place visited for a few long errands does not become a workplace).
- Unidentified homes/works are explicit: ``home_reason`` / ``work_reason``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mobsig.config import HomeWorkConfig, PopulationConfig
from mobsig.geo import h3_hex, h3_id, next_month

# piece columns
PLACE_CELL = "place_cell"
KEY_DATE = "key_date"  # the day, the evening of the night, or the workday
OVERLAP_S = "overlap_s"
SPACING = "spacing_m"

HOME_REASONS = ("no_night_stays", "few_nights", "low_night_share", "non_human")
WORK_REASONS = ("no_workday_stays", "all_near_home", "few_days", "short_hours", "non_human")


def with_place_cell(stays: DataFrame, resolution: int) -> DataFrame:
    """Add ``place_cell`` (bigint H3 id at ``resolution``) from the stay's lon/lat.

    Needs ``lon``, ``lat``; keeps every row and column.
    """
    return stays.withColumn(PLACE_CELL, h3_id("lon", "lat", resolution))


def with_spacing(stays: DataFrame, cells: DataFrame) -> DataFrame:
    """Add ``spacing_m``, the local site spacing at each stay's (dominant) cell.

    ``cells`` is the cell table (``cell_id``, ``spacing_m``; several versions of a cell
    give their largest spacing). Stays of a cell not in the table get null.
    """
    per_cell = cells.groupBy("cell_id").agg(F.max(SPACING).alias(SPACING))
    return stays.join(F.broadcast(per_cell), "cell_id", "left")


def _pieces(stays: DataFrame, month: dt.date, start_h: float, end_h: float,
            days: Sequence[dt.date] | None = None) -> DataFrame:
    """Split stays into their overlaps with the window [d + start_h, d + end_h) of each date d
    of the month (end_h may exceed 24: the window runs into the next day).

    Needs ``user_id``, ``stay_start``, ``stay_end``, ``lon``, ``lat``, optionally
    ``place_cell`` and ``spacing_m`` (site spacing at the stay's cell, see
    :func:`with_spacing`). Returns ``user_id``, ``key_date`` (= d), ``overlap_s`` (> 0),
    ``lon``, ``lat``, ``place_cell``, ``spacing_m`` (null when not given); rows with no
    overlap are dropped.
    """
    t0 = F.unix_seconds(F.col("stay_start"))
    t1 = F.unix_seconds(F.col("stay_end"))
    back = int((end_h + 23) // 24)  # windows of earlier dates that can reach into a day
    spacing = F.col(SPACING) if SPACING in stays.columns else F.lit(None).cast("double")
    place = F.col(PLACE_CELL) if PLACE_CELL in stays.columns else F.lit(None).cast("bigint")
    cand = stays.select(
        "user_id", "lon", "lat", place.alias(PLACE_CELL), spacing.alias(SPACING), t0.alias("_t0"),
        t1.alias("_t1"),
        F.explode(F.sequence(F.date_sub(F.to_date("stay_start"), back),
                             F.to_date("stay_end"))).alias(KEY_DATE))
    d0 = F.unix_seconds(F.col(KEY_DATE).cast("timestamp"))
    w0 = d0 + F.lit(int(round(start_h * 3600)))
    w1 = d0 + F.lit(int(round(end_h * 3600)))
    overlap = F.least(F.col("_t1"), w1) - F.greatest(F.col("_t0"), w0)
    in_month = (F.col(KEY_DATE) >= F.lit(month)) & (F.col(KEY_DATE) < F.lit(next_month(month)))
    if days is not None:
        in_month = in_month & F.col(KEY_DATE).isin(list(days))
    return (cand.where(in_month)
            .select("user_id", KEY_DATE, overlap.alias(OVERLAP_S), "lon", "lat", PLACE_CELL,
                    SPACING)
            .where(F.col(OVERLAP_S) > 0))


def day_pieces(stays: DataFrame, month: dt.date) -> DataFrame:
    """Stay time per local calendar day of the month (see ``_pieces``)."""
    return _pieces(stays, month, 0, 24)


def night_pieces(stays: DataFrame, month: dt.date, night_start_h: int,
                 night_end_h: int) -> DataFrame:
    """Night-time stay time; ``key_date`` is the evening's date.

    A window 21-07 runs from 21:00 on d to 07:00 on d+1; a window such as 0-6 (start before
    end) runs from 00:00 to 06:00 on d+1, still keyed by the evening d.
    """
    start = night_start_h if night_start_h > night_end_h else night_start_h + 24
    return _pieces(stays, month, start, night_end_h + 24)


def work_pieces(stays: DataFrame, month: dt.date, workdays: Sequence[dt.date],
                work_start_h: int, work_end_h: int) -> DataFrame:
    """Daytime stay time on the given workdays (holiday calendar applied by the caller)."""
    return _pieces(stays, month, work_start_h, work_end_h, days=list(workdays))


def place_scores(pieces: DataFrame, ring: int) -> DataFrame:
    """Time per candidate place: ``user_id``, ``anchor``, ``total_s``, ``n_days``,
    ``place_lon``, ``place_lat`` (duration-weighted centroid of the pieces in the place).

    Each piece counts for every candidate whose ring contains its cell.
    """
    anchors = pieces.select(
        "*", F.explode(F.expr(f"ST_H3KRing({PLACE_CELL}, {int(ring)}, false)")).alias("anchor"))
    return anchors.groupBy("user_id", "anchor").agg(
        F.sum(OVERLAP_S).alias("total_s"),
        F.countDistinct(KEY_DATE).alias("n_days"),
        (F.sum(F.col("lon") * F.col(OVERLAP_S)) / F.sum(OVERLAP_S)).alias("place_lon"),
        (F.sum(F.col("lat") * F.col(OVERLAP_S)) / F.sum(OVERLAP_S)).alias("place_lat"),
        F.max(SPACING).alias("place_spacing_m"))


def refine_place(pieces: DataFrame, places: DataFrame, factor: float,
                 min_m: float) -> DataFrame:
    """Re-centre each user's chosen place on all its pieces nearby.

    ``places`` has ``user_id``, ``_lon``, ``_lat``, ``place_spacing_m``. Every piece of the
    user within max(``min_m``, ``factor`` x place spacing) of the place counts, duration
    weighted. Returns ``user_id``, ``_lon``, ``_lat`` (the place's own position where no
    piece is near, which cannot happen for pieces that formed the place).
    """
    radius = F.greatest(F.lit(float(min_m)),
                        F.lit(float(factor)) * F.coalesce(F.col("place_spacing_m"), F.lit(0.0)))
    near = (pieces.select("user_id", "lon", "lat", OVERLAP_S)
            .join(places.select("user_id", "_lon", "_lat", "place_spacing_m"), "user_id")
            .where(sphere_dist_m(F.col("lon"), F.col("lat"), F.col("_lon"), F.col("_lat"))
                   <= radius)
            .groupBy("user_id")
            .agg((F.sum(F.col("lon") * F.col(OVERLAP_S)) / F.sum(OVERLAP_S)).alias("_rlon"),
                 (F.sum(F.col("lat") * F.col(OVERLAP_S)) / F.sum(OVERLAP_S)).alias("_rlat")))
    return (places.join(near, "user_id", "left")
            .select("user_id", F.coalesce("_rlon", "_lon").alias("_lon"),
                    F.coalesce("_rlat", "_lat").alias("_lat")))


def _top(scores: DataFrame) -> DataFrame:
    w = Window.partitionBy("user_id").orderBy(F.col("total_s").desc(), F.col("anchor"))
    return scores.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")


def sphere_dist_m(lon1: Column, lat1: Column, lon2: Column, lat2: Column) -> Column:
    """Great-circle distance in metres (haversine, R = 6,371,008.8 m)."""
    r1, r2 = F.radians(lat1), F.radians(lat2)
    dl = F.radians(lon2 - lon1)
    a = (F.pow(F.sin((r2 - r1) / 2), 2)
         + F.cos(r1) * F.cos(r2) * F.pow(F.sin(dl / 2), 2))
    return F.lit(2 * 6_371_008.8) * F.asin(F.least(F.lit(1.0), F.sqrt(a)))


def identify_home(nights: DataFrame, ring: int, min_nights: int,
                  min_night_share: float, refine_factor: float = 0.0,
                  refine_min_m: float = 0.0) -> DataFrame:
    """Home per user from night pieces.

    The best place decides whether there is a home (nights, night share); its position is
    refined with :func:`refine_place` when ``refine_factor`` > 0. Returns one row per user
    with night pieces: ``user_id``, ``nights_observed``, ``nights_at_home`` (nights at the
    best place), ``home_lon``/``home_lat`` (null when not identified) and ``home_reason``
    (null when identified).
    """
    observed = nights.groupBy("user_id").agg(
        F.countDistinct(KEY_DATE).cast("int").alias("nights_observed"))
    best = _top(place_scores(nights, ring)).select(
        "user_id", F.col("n_days").cast("int").alias("nights_at_home"),
        F.col("place_lon").alias("_lon"), F.col("place_lat").alias("_lat"),
        "place_spacing_m")
    if refine_factor > 0:
        where = refine_place(nights, best, refine_factor, refine_min_m)
        best = best.drop("_lon", "_lat").join(where, "user_id")
    out = observed.join(best.drop("place_spacing_m"), "user_id", how="left")
    reason = (F.when(F.col("nights_at_home") < min_nights, F.lit("few_nights"))
              .when(F.col("nights_at_home") < F.col("nights_observed") * F.lit(min_night_share),
                    F.lit("low_night_share")))
    ok = reason.isNull()
    return out.select(
        "user_id", "nights_observed", "nights_at_home",
        F.when(ok, F.col("_lon")).alias("home_lon"),
        F.when(ok, F.col("_lat")).alias("home_lat"),
        reason.alias("home_reason"))


def identify_work(work: DataFrame, days: DataFrame, homes: DataFrame, ring: int,
                  min_days: int, min_avg_h: float, min_home_dist_m: float,
                  workdays: Sequence[dt.date]) -> DataFrame:
    """Work place per user from workday daytime pieces.

    ``days``: day pieces (for the workdays the user was present at all); ``homes``:
    ``user_id``, ``home_lon``, ``home_lat`` (null = no home, no distance rule).
    Returns one row per user with daytime pieces: ``user_id``, ``days_at_work``,
    ``work_lon``/``work_lat`` (null when not identified) and ``work_reason``.
    """
    present = (days.where(F.col(KEY_DATE).isin(list(workdays)))
               .groupBy("user_id").agg(F.countDistinct(KEY_DATE).alias("_workdays_present")))
    scores = place_scores(work, ring).join(homes.select("user_id", "home_lon", "home_lat"),
                                           "user_id", how="left")
    far = (F.col("home_lon").isNull()
           | (sphere_dist_m(F.col("place_lon"), F.col("place_lat"), F.col("home_lon"),
                            F.col("home_lat")) >= F.lit(float(min_home_dist_m))))
    any_user = scores.select("user_id").distinct()
    best = _top(scores.where(far)).join(present, "user_id", how="left")
    out = any_user.join(best, "user_id", how="left")
    avg_h = F.col("total_s") / F.lit(3600.0) / F.col("_workdays_present")
    reason = (F.when(F.col("anchor").isNull(), F.lit("all_near_home"))
              .when(F.col("n_days") < min_days, F.lit("few_days"))
              .when(avg_h < F.lit(float(min_avg_h)), F.lit("short_hours")))
    ok = reason.isNull()
    return out.select(
        "user_id",
        F.when(ok, F.col("n_days")).otherwise(F.lit(0)).cast("int").alias("days_at_work"),
        F.when(ok, F.col("place_lon")).alias("work_lon"),
        F.when(ok, F.col("place_lat")).alias("work_lat"),
        reason.alias("work_reason"))


def presence(days: DataFrame, nights: DataFrame) -> DataFrame:
    """Per user: ``days_present``, ``stay_h`` (from day pieces) and ``night_lon``/``night_lat``
    = location of the longest night piece (the longest day piece when there is none)."""
    per_day = days.groupBy("user_id").agg(
        F.countDistinct(KEY_DATE).cast("int").alias("days_present"),
        (F.sum(OVERLAP_S) / F.lit(3600.0)).alias("stay_h"),
        F.max(F.struct(OVERLAP_S, "lon", "lat")).alias("_day_best"))
    per_night = nights.groupBy("user_id").agg(
        F.max(F.struct(OVERLAP_S, "lon", "lat")).alias("_night_best"))
    out = per_day.join(per_night, "user_id", how="left")
    best = F.coalesce(F.col("_night_best"), F.col("_day_best"))
    return out.select("user_id", "days_present", "stay_h",
                      best["lon"].alias("night_lon"), best["lat"].alias("night_lat"))


def with_pop_class(df: DataFrame, resident_min_days: int, short_term_min_days: int,
                   transit_max_h: float) -> DataFrame:
    """Add ``pop_class`` (first rule that holds):

    1. ``non_human`` when ``is_non_human``;
    2. ``transit`` when ``stay_h`` < transit_max_h (including cards with no stay at all);
    3. ``resident`` when a home is identified and ``days_present`` >= resident_min_days;
    4. ``unidentified`` when present >= resident_min_days but no home;
    5. ``short_term`` when present >= short_term_min_days;
    6. ``visitor`` otherwise (present on fewer days).

    Needs ``is_non_human``, ``stay_h``, ``home_lon``, ``days_present``.
    """
    cls = (F.when(F.col("is_non_human"), F.lit("non_human"))
           .when(F.col("stay_h") < F.lit(float(transit_max_h)), F.lit("transit"))
           .when(F.col("home_lon").isNotNull()
                 & (F.col("days_present") >= resident_min_days), F.lit("resident"))
           .when(F.col("days_present") >= resident_min_days, F.lit("unidentified"))
           .when(F.col("days_present") >= short_term_min_days, F.lit("short_term"))
           .otherwise(F.lit("visitor")))
    return df.withColumn("pop_class", cls)


def home_work_table(days: DataFrame, nights: DataFrame, work: DataFrame,
                    flags: DataFrame | None, hw: HomeWorkConfig, pop: PopulationConfig,
                    workdays: Sequence[dt.date], month_text: str,
                    h3_resolution: int) -> DataFrame:
    """The ``home_work`` rows of one month: one per card with a stay in the month or a row
    in ``flags`` (``user_id``, ``is_non_human``, ``is_group_primary``, ``multicard_group``).

    Cards without flags count as human single cards. Non-human cards get no home/work
    (reason ``non_human``). ``is_counted`` = human and the primary card of its group;
    non-primary cards keep their row and class but are not counted.
    """
    homes = identify_home(nights, hw.cluster_ring, hw.home_min_nights, hw.home_min_night_share,
                          hw.home_refine_spacing_factor, hw.home_refine_min_m)
    works = identify_work(work, days, homes, hw.cluster_ring, hw.work_min_days,
                          hw.work_min_avg_h, hw.work_min_home_dist_m, workdays)
    pres = presence(days, nights)
    users = pres.select("user_id")
    if flags is not None:
        users = users.unionByName(flags.select("user_id")).distinct()
        users = users.join(flags.select("user_id", "is_non_human", "is_group_primary",
                                        "multicard_group"), "user_id", how="left")
    else:
        users = users.select("user_id", F.lit(None).cast("boolean").alias("is_non_human"),
                             F.lit(None).cast("boolean").alias("is_group_primary"),
                             F.lit(None).cast("string").alias("multicard_group"))
    df = (users.join(pres, "user_id", how="left")
          .join(homes, "user_id", how="left")
          .join(works, "user_id", how="left"))
    non_human = F.coalesce(F.col("is_non_human"), F.lit(False))
    human = ~non_human
    df = df.select(
        "user_id",
        non_human.alias("is_non_human"),
        F.coalesce(F.col("is_group_primary"), F.lit(True)).alias("is_group_primary"),
        "multicard_group",
        F.coalesce("days_present", F.lit(0)).cast("int").alias("days_present"),
        F.coalesce("stay_h", F.lit(0.0)).alias("stay_h"),
        F.when(human, F.col("night_lon")).alias("night_lon"),
        F.when(human, F.col("night_lat")).alias("night_lat"),
        F.coalesce("nights_observed", F.lit(0)).cast("int").alias("nights_observed"),
        F.when(human, F.coalesce("nights_at_home", F.lit(0))).otherwise(F.lit(0))
        .cast("int").alias("nights_at_home"),
        F.when(human, F.col("home_lon")).alias("home_lon"),
        F.when(human, F.col("home_lat")).alias("home_lat"),
        F.when(non_human, F.lit("non_human"))
        .otherwise(F.coalesce("home_reason",
                              F.when(F.col("home_lon").isNull(), F.lit("no_night_stays"))))
        .alias("home_reason"),
        F.when(human, F.coalesce("days_at_work", F.lit(0))).otherwise(F.lit(0))
        .cast("int").alias("days_at_work"),
        F.when(human, F.col("work_lon")).alias("work_lon"),
        F.when(human, F.col("work_lat")).alias("work_lat"),
        F.when(non_human, F.lit("non_human"))
        .otherwise(F.coalesce("work_reason",
                              F.when(F.col("work_lon").isNull(), F.lit("no_workday_stays"))))
        .alias("work_reason"),
    )
    df = with_pop_class(df, pop.resident_min_days, pop.short_term_min_days, pop.transit_max_h)
    return df.select(
        "*",
        h3_hex("home_lon", "home_lat", h3_resolution).alias("home_h3"),
        h3_hex("work_lon", "work_lat", h3_resolution).alias("work_h3"),
        (~F.col("is_non_human") & F.col("is_group_primary")).alias("is_counted"),
        F.lit(month_text).alias("month"),
    ).drop("is_non_human", "is_group_primary")


def stays_for_places(stays: DataFrame, cells: DataFrame, cluster_resolution: int
                     ) -> DataFrame:
    """The stay columns home/work identification needs: ``user_id``, ``stay_start``,
    ``stay_end``, ``lon``, ``lat``, ``spacing_m`` (:func:`with_spacing`) and
    ``place_cell`` (:func:`with_place_cell`). One row per stay."""
    cols = ["user_id", "stay_start", "stay_end", "lon", "lat", "cell_id"]
    return (with_spacing(stays.select(*cols), cells).drop("cell_id")
            .transform(with_place_cell, cluster_resolution))


def build_home_work(stays: DataFrame, flags: DataFrame | None, month: dt.date,
                    workdays: Sequence[dt.date], hw: HomeWorkConfig, pop: PopulationConfig,
                    h3_resolution: int) -> DataFrame:
    """The month's ``home_work`` rows from :func:`stays_for_places` output (the month's
    stays plus the first day of the next month) and the month's user flags (or None)."""
    day_p = day_pieces(stays, month)
    night_p = night_pieces(stays, month, hw.night_start_h, hw.night_end_h)
    work_p = work_pieces(stays, month, workdays, hw.work_start_h, hw.work_end_h)
    return home_work_table(day_p, night_p, work_p, flags, hw, pop, workdays,
                           month.strftime("%Y-%m"), h3_resolution)


def home_share(classes: dict[str, int]) -> tuple[float, int]:
    """The home identification share of a month from the counted cards per class:
    residents / (residents + unidentified), i.e. among cards present long enough to be
    residents, the share with an identified home (1.0 when there is none), and that
    denominator."""
    present = classes.get("resident", 0) + classes.get("unidentified", 0)
    return (classes.get("resident", 0) / present if present else 1.0), present
