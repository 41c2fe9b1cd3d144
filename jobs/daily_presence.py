"""Daily presence 日实际服务人口 per spatial unit for a day: the people present in each
unit on the day, transits excluded, by population class, with the hourly profile; raw
原样数量 and expanded 扩样数量 counts.

A card is present in a unit when its stays there add up to at least
daily_presence.min_hours (3 h) of the day (domain.md B3: the daily variant of the actual
service population excludes transits under 3 h); a stay crossing midnight counts on both
days for its hours inside each. The hourly profile counts, per hour, the present cards
whose stays in the unit cover at least daily_presence.hour_min_minutes (30) of the hour.
A silent gap of at most daily_presence.bridge_gap_h (12 h) between two stays of a card
within daily_presence.bridge_max_dist_m (1 km) counts as a stay at the first one's place
(a phone asleep at home; the stays of the day before are read for the evening before).

Reads the stays overlapping the day (a stay is stored on the day whose run closed it:
those of the day and the next, plus the runs still open at the end of the next day, or
of the day itself when the next has not run, from stays_carry), the month's home_work
(class resident / short_term / visitor / unidentified; non-counted cards, i.e. non-human
cards and second cards of one person, are left out; a card without a row is class
unknown, never dropped), card_places and expansion_factors (each card weighs its home
county's factor, as in population_by_unit; a card without a card_places row the overall
factor) and every layer of the units table plus the H3 grid
(population.grid_h3_resolution). It runs after the monthly chain of the day's month (run
daily_presence --from A --to B, or mobsig run monthly --month M for every day), so a
day's classes are the month's own. Every count, hourly ones included, is suppressed
below privacy.k_min raw cards with complementary suppression (present = the sum of the
classes), then audited with every layer, the grid and the hours at once (each hour at most
the day; mobsig.privacy_audit): more cells are hidden until no suppressed cell can be
narrowed below privacy.protection_width, else the run fails (gate privacy_audit). A
polygon unit with no cell site valid on the day is not observed: its counts
are null with null_reason 'no_coverage' (a warning and the run facts uncovered_units /
uncovered_unit_ids name them), never a measured 0; suppressed rows say 'suppressed'.
Replaces the day's partitions of daily_presence and writes
<warehouse>/exports/dt=YYYY-MM-DD/daily_presence.parquet (GeoParquet) and .csv (UTF-8
with BOM).
"""

from __future__ import annotations

from mobsig import columns as C
from mobsig import population, presence, privacy, privacy_audit
from mobsig.geo import unit_polygons
from mobsig.io.exports import export_day
from mobsig.jobargs import month_key
from mobsig.runner import JobContext, Output


def add_arguments(p) -> None:
    p.add_argument("--no-export-files", action="store_true",
                   help="skip the GeoParquet/CSV export files (the Delta table is written)")


def options(args) -> dict:
    return {"export": not args.no_export_files}


def build(ctx: JobContext) -> list[Output]:
    cfg, day, dp = ctx.cfg, ctx.day, ctx.cfg.daily_presence
    month = month_key(day.replace(day=1))
    # stays overlapping the day: closed on it or the next day, or still open (the carry);
    # the day before's for the silent gaps from its evening on (presence.bridged)
    around = presence.stays_around(day)
    stays = ctx.keep(presence.day_stays(
        ctx.read("stays", dt=around), ctx.read("stays_carry", dt=around[1:]), day,
        cfg.stays.tau_min, dp.bridge_gap_h, dp.bridge_max_dist_m))
    classes = ctx.keep(presence.card_classes(ctx.read("home_work", month=month)))
    factors = ctx.keep(ctx.read("expansion_factors", month=month))
    ctx.note_input("expansion_factors", factors.count())
    ctx.require(ctx.result.input_rows["expansion_factors"] > 0,
                f"no expansion_factors for {month}; run the monthly chain (expand) first")
    age = (ctx.read("expansion_factors_age", month=month) if cfg.expansion.rake_ages
           else None)
    weights, default = presence.card_weights(ctx.read("card_places", month=month), factors,
                                             age)
    ledger = ctx.reconcile(presence.card_ledger(presence.hour_pieces(stays, [day]), classes,
                                                dp.min_hours),
                           source="cards_with_stays", reason=C.REASON,
                           reasons=presence.LEDGER_REASONS, by=C.POP_CLASS)
    ctx.require(ledger.rows_in > 0, f"no stay overlaps {day}: run clean_stays for it first")
    ctx.require(set(ledger.kept_by) != {presence.UNKNOWN},
                f"no home_work row for month {month} matches a card with a stay on {day}: "
                "run the monthly chain (home_work, place_cards, expand) first")
    ctx.fact("present_cards", ledger.kept)
    ctx.fact("unknown_class_cards", ledger.kept_by.get(presence.UNKNOWN, 0))
    units = ctx.keep(unit_polygons(ctx.read("units")))
    counts = ctx.keep(presence.presence_counts_of(
        stays, classes, weights, default, units, [day], dp.min_hours, dp.hour_min_minutes,
        cfg.population.grid_h3_resolution))
    table = presence.complete(counts, units, [day])
    pv = cfg.privacy
    published = presence.publish(table, pv.k_min, pv.complementary, pv.suppress_zeros,
                                 pv.width, privacy_audit.gate_for(ctx, "daily_presence"))
    out = population.mark_uncovered(
        published, population.noted_uncovered(ctx, units, ctx.read("cells"), day))
    if ctx.options.get("export", True):
        ctx.after_write(lambda: ctx.note_output(
            "exports/daily_presence.csv", export_day(ctx.catalog, "daily_presence", day,
                                                     units)))
    return [Output(out.withColumnRenamed(C.KEY_DATE, C.DT), "daily_presence",
                   params={"small_counts": privacy.small_counts(pv.k_min, pv.suppress_zeros)})]


if __name__ == "__main__":
    import sys

    from mobsig.cli import main

    sys.exit(main(["daily_presence", *sys.argv[1:]]))
