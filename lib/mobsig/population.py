"""Population scale per spatial unit (domain.md §B3): resident, short-term, actual service,
employed and daily present population, raw 原样数量 and expanded 扩样数量.

Pure transforms; the ``population_by_unit`` job reads ``home_work``, ``stays``, the unit
layers and ``expansion_factors`` and chains them:

1. ``user_points``: one row per counted card and role (``home``, ``night``, ``work``).
2. ``assign_units``: Sedona spatial join of points onto unit polygons (broadcast units);
   a point on a shared border goes to the smallest ``unit_id`` of its level, so levels
   that partition their parent add up exactly. ``with_grid`` adds an H3 grid level.
3. ``user_weights``: each card's expansion factor = the factor of its home county (the
   county of its night place when it has no home; the overall factor when that county
   has none), or, with raking to age bands, the factor of its county and age band.
4. ``class_counts`` and ``daily_present``: distinct users and summed weights per unit.
5. ``complete``: every unit of every polygon layer gets every class (zeros included) so
   a missing row never stands for "small".
Suppression (mobsig.privacy) is applied last, on the raw counts.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mobsig.geo import h3_hex
from mobsig.residence import KEY_DATE, day_pieces

POP_CLASSES_OUT = ("resident", "short_term", "actual_service", "employed", "daily_present")
# classes whose counts add up from child units to their parent (one point per card)
ADDITIVE_CLASSES = ("resident", "short_term", "actual_service", "employed")
GRID_LEVEL = "grid"


def user_points(hw: DataFrame) -> DataFrame:
    """Counted cards' points: ``user_id``, ``pop_class``, ``role`` (home/night/work),
    ``lon``, ``lat``, from ``home_work`` or ``card_places`` rows. Rows without a location
    are left out (a card without a home has no home point); non-counted cards (non-human,
    secondary cards; ``is_counted`` false) are left out."""
    counted = hw.where(F.col("is_counted")) if "is_counted" in hw.columns else hw
    parts = []
    for role, lon, lat in (("home", "home_lon", "home_lat"), ("night", "night_lon", "night_lat"),
                           ("work", "work_lon", "work_lat")):
        parts.append(counted.where(F.col(lon).isNotNull() & F.col(lat).isNotNull()).select(
            "user_id", "pop_class", F.lit(role).alias("role"),
            F.col(lon).alias("lon"), F.col(lat).alias("lat")))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def assign_units(points: DataFrame, units: DataFrame, keys: list[str]) -> DataFrame:
    """Spatial join of ``lon``/``lat`` points onto unit polygons (units broadcast).

    ``keys``: the point columns that identify one point (e.g. user_id, role). Returns
    ``keys`` + ``level``, ``unit_id``: one row per point and level it falls in (points
    outside every unit of a level get no row for it). Border ties: smallest unit_id.
    """
    pts = points.select(*keys, F.expr("ST_Point(lon, lat)").alias("_pt"))
    u = F.broadcast(units.select("unit_id", "level", F.col("geometry").alias("_geom")))
    joined = pts.join(u, F.expr("ST_Intersects(_geom, _pt)"), how="inner")
    return joined.groupBy(*keys, "level").agg(F.min("unit_id").alias("unit_id"))


def with_grid(points: DataFrame, keys: list[str], resolution: int) -> DataFrame:
    """The H3 grid level for points: ``keys`` + ``level`` = 'grid', ``unit_id`` = H3 text."""
    return points.select(*keys, F.lit(GRID_LEVEL).alias("level"),
                         h3_hex("lon", "lat", resolution).alias("unit_id"))


def card_places(hw: DataFrame, counties: DataFrame, user_bands: DataFrame | None,
                month_text: str) -> DataFrame:
    """The ``card_places`` rows of a month: one per counted card of ``hw`` (home_work).

    Adds ``home_county`` / ``night_county``: the county-level unit (``counties``:
    ``unit_id``, ``level``, ``geometry``) containing the home / the longest night place
    (null outside every county or without that place), and ``age_band`` from
    ``user_bands`` (``user_id`` unique, ``age_band``; None: every band null).
    Non-counted cards are left out.
    """
    counted = hw.where(F.col("is_counted"))
    pts = user_points(counted).where(F.col("role").isin("home", "night"))
    hits = assign_units(pts, counties, ["user_id", "role"])
    county = hits.groupBy("user_id").agg(
        F.first(F.when(F.col("role") == "home", F.col("unit_id")), ignorenulls=True)
        .alias("home_county"),
        F.first(F.when(F.col("role") == "night", F.col("unit_id")), ignorenulls=True)
        .alias("night_county"))
    out = counted.join(county, "user_id", how="left")
    if user_bands is not None:
        out = out.join(user_bands.select("user_id", "age_band"), "user_id", how="left")
    else:
        out = out.withColumn("age_band", F.lit(None).cast("string"))
    return out.select("user_id", "pop_class", "home_lon", "home_lat", "night_lon",
                      "night_lat", "work_lon", "work_lat", "home_county", "night_county",
                      "age_band", F.lit(month_text).alias("month"))


def user_weights(places: DataFrame, factors: DataFrame,
                 age_factors: DataFrame | None = None) -> DataFrame:
    """Per card of ``card_places``: ``user_id``, ``weight`` (expansion factor).

    A card is weighted by the factor of its home county (the county of its night place
    when it has no home: :func:`card_places`); ``factors``: ``unit_id``, ``factor``,
    ``sample_residents``, ``reference_population``. The overall factor (sum of reference
    population / sum of sample residents over counties with a finite factor) covers cards
    whose county has no factor.

    Optional raking to age bands (expansion.rake_ages): ``age_factors`` (``unit_id``,
    ``age_band``, ``factor``; the ``expansion_factors_age`` rows): a card whose county and
    band (``card_places.age_band``) have a (non-null) age factor gets it, any other card
    the county factor as above.
    """
    finite = factors.where(F.col("sample_residents") > 0)
    overall = finite.agg((F.sum("reference_population") / F.sum("sample_residents"))
                         .alias("_overall"))
    f = finite.select(F.col("unit_id").alias("_c"), F.col("factor").alias("_factor"))
    out = (places.select("user_id", F.coalesce("home_county", "night_county").alias("_c"),
                         F.col("age_band").alias("_band"))
           .join(f, "_c", how="left")
           .crossJoin(overall))
    weight = [F.col("_factor"), F.col("_overall"), F.lit(1.0)]
    if age_factors is not None:
        af = age_factors.where(F.col("factor").isNotNull()).select(
            F.col("unit_id").alias("_c"), F.col("age_band").alias("_band"),
            F.col("factor").alias("_age_factor"))
        out = out.join(af, ["_c", "_band"], how="left")
        weight.insert(0, F.col("_age_factor"))
    return out.select("user_id", F.coalesce(*weight).alias("weight"))


def class_counts(members: DataFrame, weights: DataFrame) -> DataFrame:
    """Monthly classes per unit: ``level``, ``unit_id``, ``pop_class``, ``raw_count``,
    ``expanded_count``.

    ``members``: ``user_id``, ``pop_class`` (of the card), ``role``, ``level``,
    ``unit_id``. resident = home of residents; short_term = night place of short-term
    cards; actual_service = both; employed = work place of any counted card.
    """
    rows = members.select(
        "user_id", "level", "unit_id",
        F.explode(F.array_compact(F.array(
            F.when((F.col("role") == "home") & (F.col("pop_class") == "resident"),
                   F.lit("resident")),
            F.when((F.col("role") == "night") & (F.col("pop_class") == "short_term"),
                   F.lit("short_term")),
            F.when(((F.col("role") == "home") & (F.col("pop_class") == "resident"))
                   | ((F.col("role") == "night") & (F.col("pop_class") == "short_term")),
                   F.lit("actual_service")),
            F.when(F.col("role") == "work", F.lit("employed")),
        ))).alias("pop_class"))
    per_user = rows.distinct().join(weights, "user_id", how="left")
    return per_user.groupBy("level", "unit_id", "pop_class").agg(
        F.countDistinct("user_id").cast("bigint").alias("raw_count"),
        F.sum(F.coalesce("weight", F.lit(1.0))).alias("expanded_count"))


def daily_present(day_members: DataFrame, weights: DataFrame, n_days: DataFrame) -> DataFrame:
    """Mean distinct cards per day with a stay in the unit (``pop_class``
    'daily_present'). ``day_members``: ``user_id``, ``key_date``, ``level``, ``unit_id``
    (transit and non-counted cards already removed); ``n_days``: one row, column
    ``n_days``: the days averaged over (days of the month with any stay; at least 1).
    ``raw_count`` is the rounded mean."""
    per = day_members.select("user_id", "key_date", "level", "unit_id").distinct() \
        .join(weights, "user_id", how="left")
    daily = per.groupBy("level", "unit_id", "key_date").agg(
        F.countDistinct("user_id").alias("_n"),
        F.sum(F.coalesce("weight", F.lit(1.0))).alias("_w"))
    days = F.greatest(F.col("n_days"), F.lit(1)).cast("double")
    return (daily.groupBy("level", "unit_id").agg(F.sum("_n").alias("_n"),
                                                   F.sum("_w").alias("_w"))
            .crossJoin(n_days.select("n_days"))
            .select("level", "unit_id", F.round(F.col("_n") / days).cast("bigint")
                    .alias("raw_count"), (F.col("_w") / days).alias("expanded_count"),
                    F.lit("daily_present").alias("pop_class")))


def complete(counts: DataFrame, units: DataFrame) -> DataFrame:
    """Every (polygon unit, class) row, zeros filled, plus the grid rows that exist.

    Returns ``level``, ``unit_id``, ``unit_name``, ``parent_id``, ``pop_class``,
    ``raw_count``, ``expanded_count``.
    """
    classes = F.explode(F.array(*[F.lit(c) for c in POP_CLASSES_OUT])).alias("pop_class")
    grid = units.select("level", "unit_id", "unit_name", "parent_id").select("*", classes)
    filled = grid.join(counts, ["level", "unit_id", "pop_class"], how="left").select(
        "level", "unit_id", "unit_name", "parent_id", "pop_class",
        F.coalesce("raw_count", F.lit(0).cast("bigint")).alias("raw_count"),
        F.coalesce("expanded_count", F.lit(0.0)).alias("expanded_count"))
    cells = counts.where(F.col("level") == GRID_LEVEL).select(
        "level", "unit_id", F.lit(None).cast("string").alias("unit_name"),
        F.lit(None).cast("string").alias("parent_id"), "pop_class", "raw_count",
        "expanded_count")
    return filled.unionByName(cells)


def level_gaps(table: DataFrame) -> DataFrame:
    """Levels must add up: per parent unit and class, the parent's counts against the sum
    over its child units (rows whose ``parent_id`` is the parent's ``unit_id``, e.g. the
    townships of a county). Returns ``parent_level``, ``parent_id``, ``parent_name``,
    ``pop_class``, ``parent_raw``, ``children_raw``, ``parent_expanded``,
    ``children_expanded`` and ``gap`` = |children - parent| / max(parent, 1) on expanded
    counts, for the classes that add up (ADDITIVE_CLASSES: one home, night place or work
    place per card; not daily_present, where a card seen in two townships on one day
    counts once in their county). Parents without child rows
    (no child layer configured) have no row. A gap means homes or stays inside the parent
    but in no child unit (a child layer that does not tile its parent) or in a child of
    another parent."""
    table = table.where(F.col("pop_class").isin(*ADDITIVE_CLASSES))
    kids = (table.where(F.col("parent_id").isNotNull())
            .groupBy("parent_id", "pop_class")
            .agg(F.sum("raw_count").alias("children_raw"),
                 F.sum("expanded_count").alias("children_expanded")))
    parents = table.where(F.col("level") != GRID_LEVEL).select(
        F.col("level").alias("parent_level"), F.col("unit_id").alias("parent_id"),
        F.col("unit_name").alias("parent_name"), "pop_class",
        F.col("raw_count").alias("parent_raw"),
        F.col("expanded_count").alias("parent_expanded"))
    gap = (F.abs(F.col("children_expanded") - F.col("parent_expanded"))
           / F.greatest(F.col("parent_expanded"), F.lit(1.0)))
    return parents.join(kids, ["parent_id", "pop_class"]).withColumn("gap", gap)


def worst_level_gaps(table: DataFrame, limit: float, n: int = 5) -> tuple[float, str]:
    """The largest relative gap of :func:`level_gaps` (0 without parent/child rows) and a
    text naming the worst units above ``limit`` with their numbers (for the gate error).
    Runs one small Spark job."""
    worst = (level_gaps(table).orderBy(F.col("gap").desc(), "parent_id", "pop_class")
             .limit(n).collect())
    gap = float(worst[0]["gap"]) if worst else 0.0
    units = "; ".join(
        f"{r['parent_level']} {r['parent_id']} ({r['parent_name'] or '?'}) "
        f"{r['pop_class']}: {r['parent_expanded']:.1f} vs {r['children_expanded']:.1f} "
        f"over its child units (raw {r['parent_raw']} vs {r['children_raw']})"
        for r in worst if r["gap"] > limit)
    text = (f"levels do not add up (largest gap {gap:.2%} > population.max_level_gap "
            f"{limit:.2%}): {units}. A child layer does not tile its parent (or a unit has "
            "the wrong parent_id).")
    return gap, text


def day_points(stays: DataFrame, places: DataFrame, month: dt.date) -> DataFrame:
    """``user_id``, ``key_date``, ``lon``, ``lat``: the distinct places where each card of
    ``card_places`` (transit cards left out) stayed on each day of the month.

    ``stays``: the month's stays (plus the first day of the next month)."""
    eligible = places.where(F.col("pop_class") != "transit").select("user_id")
    return (day_pieces(stays.select("user_id", "stay_start", "stay_end", "lon", "lat"), month)
            .join(eligible, "user_id", how="left_semi")
            .select("user_id", KEY_DATE, "lon", "lat").distinct())


def population_table(places: DataFrame, factors: DataFrame, age_factors: DataFrame | None,
                     units: DataFrame, stays: DataFrame, month: dt.date,
                     grid_resolution: int) -> DataFrame:
    """The unsuppressed per-unit counts of a month: every class of every unit of every
    polygon layer (zeros filled) plus the H3 grid rows that exist (:func:`complete`).

    ``places``: card_places; ``factors`` / ``age_factors``: expansion_factors /
    expansion_factors_age (None: county weighting, :func:`user_weights`); ``units``:
    unit polygons (``unit_id``, ``unit_name``, ``level``, ``parent_id``, ``geometry``);
    ``stays``: the month's stays plus the first day of the next month (daily presence is
    averaged over the days of the month with any stay)."""
    weights = user_weights(places, factors, age_factors)
    keys = ["user_id", "pop_class", "role"]
    pts = user_points(places)
    members = assign_units(pts, units, keys).unionByName(with_grid(pts, keys, grid_resolution))
    counts = class_counts(members, weights)
    day_pts = day_points(stays, places, month)
    n_days = day_pts.agg(F.countDistinct(KEY_DATE).alias("n_days"))
    dkeys = ["user_id", KEY_DATE, "lon", "lat"]
    day_members = assign_units(day_pts, units, dkeys).unionByName(
        with_grid(day_pts, dkeys, grid_resolution))
    return complete(counts.unionByName(daily_present(day_members, weights, n_days)), units)
