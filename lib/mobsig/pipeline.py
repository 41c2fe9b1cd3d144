"""The pipeline, declared once: every job, its partition kind, what it reads and writes.

This is the single source of the job family. The command line (``mobsig JOB``), ``mobsig
run`` and its chains, cluster submission (``mobsig.submit``, ``deploy/k8s``), the Airflow
DAGs and the test chain are generated from it or checked against it (tests/test_pipeline.py).
The runner enforces it: a job can read only the tables in its ``reads`` and write only
those in its ``writes``. :func:`graph_text` draws the table graph (reads -> job -> writes);
docs/architecture.md shows it and a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["none", "day", "day_region", "month"]
KINDS: tuple[Kind, ...] = ("none", "day", "day_region", "month")


@dataclass(frozen=True)
class Job:
    """One spark-submit job: ``jobs/<name>.py`` (module ``mobsig.jobs.<name>``).

    ``kind``: how a run is partitioned: ``none`` (the whole table is rebuilt), ``day``,
    ``day_region`` (a day, optionally only some regions) or ``month``. ``reads`` and
    ``writes`` name catalog tables (``schemas/<table>.json``); a table a job both reads and
    writes is its own state (stays_carry of the previous day). ``inputs`` are the
    delivered inputs (``paths.<key>``) that must exist before the job starts;
    ``optional_inputs`` are used when configured.

    ``after_month``: a ``day`` job that needs its month's monthly outputs (a card's
    population class, whether it is counted, its expansion factor are facts of a month):
    it belongs to the ``monthly`` chain and runs for each day of the month after the
    month jobs before it in the spec (daily_presence).
    """

    name: str
    kind: Kind
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    help: str
    inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()
    after_month: bool = False

    @property
    def module(self) -> str:
        return f"mobsig.jobs.{self.name}"

    @property
    def chain(self) -> str:
        """``daily`` (whole-table and day jobs) or ``monthly`` (month jobs and the day
        jobs that run after them, ``after_month``)."""
        return "monthly" if self.kind == "month" or self.after_month else "daily"


PIPELINE: tuple[Job, ...] = (
    Job("ingest_units", "none", reads=(), writes=("units",), inputs=("units",),
        help="validate every unit layer once (EPSG:4490, level, parent) into the units table"),
    Job("ingest_cells", "none", reads=("units",), writes=("cells",), inputs=("cells",),
        help="build the cells table (CGCS2000, region, spacing, coverage) from the raw "
             "cell table"),
    Job("ingest_events", "day_region", reads=("cells",),
        writes=("events_bronze", "events_quarantine"), inputs=("raw_events",),
        help="raw signaling of a day -> events_bronze (+ events_quarantine with reasons)"),
    Job("clean_stays", "day", reads=("events_bronze", "cells", "stays_carry", "events_clean"),
        writes=("events_clean", "stays", "moves", "stays_carry"),
        optional_inputs=("tac_types",),
        help="clean a day's events (duplicates, ping-pong, drift) and detect its stays and "
             "moves in one shuffle: events_clean, stays, moves, stays_carry"),
    Job("flag_users", "month", reads=("events_clean", "cells"), writes=("user_flags",),
        optional_inputs=("tac_types",),
        help="flag non-human cards and multi-card persons for a month (user_flags)"),
    Job("home_work", "month", reads=("stays", "cells", "user_flags"), writes=("home_work",),
        optional_inputs=("holidays", "residential_land"),
        help="identify home, work and population class per card for a month"),
    Job("place_cards", "month", reads=("home_work", "units"), writes=("card_places",),
        optional_inputs=("subscribers",),
        help="place each counted card of a month: home/night/work points, their county "
             "and the card's age band (card_places)"),
    Job("expand", "month", reads=("card_places", "units"),
        writes=("expansion_factors", "expansion_factors_age"),
        inputs=("reference_population",), optional_inputs=("reference_ages",),
        help="expansion factors per county (reference population / sample residents)"),
    Job("population_by_unit", "month",
        reads=("card_places", "expansion_factors", "expansion_factors_age", "stays", "units",
               "cells"),
        writes=("population_by_unit",),
        help="population per unit and class (raw and expanded, small counts suppressed)"),
    Job("commute", "month",
        reads=("card_places", "expansion_factors", "expansion_factors_age", "moves",
               "events_clean", "units", "cells"),
        writes=("jobs_housing", "commute", "commute_od", "privacy_systems"),
        help="jobs-housing balance and commuting, one release: employed residents, jobs, "
             "jobs-housing ratio, self-containment, self-sufficiency per unit "
             "(jobs_housing); home->work OD per unit pair (commute_od), commute distance "
             "and time per origin unit (shares within 5 km, 45 min, from 60 min), "
             "commuting radius of each centre (commute); raw and expanded, small counts "
             "and OD pairs suppressed, one audit deciding every mask (its system kept in "
             "privacy_systems, internal, for linkage's joint audit)"),
    Job("service_population", "month",
        reads=("card_places", "expansion_factors", "expansion_factors_age", "stays", "units"),
        writes=("service_population", "service_population_daily", "service_catchment"),
        help="service population of zones (facilities, centres: --zones LAYER): residents, "
             "workers and visitors per day and month, and the catchment (where visitors "
             "live, 80 % radius); raw and expanded, small counts suppressed"),
    Job("linkage", "month",
        reads=("moves", "card_places", "expansion_factors", "expansion_factors_age", "units",
               "jobs_housing", "commute", "commute_od", "privacy_systems"),
        writes=("linkage", "metro_area"),
        help="urban linkage between units: trips T_ij, intensity F_ij, commuting rates "
             "(linkage) and the metropolitan area by commuting share (metro_area); raw and "
             "expanded, small counts suppressed"),
    Job("trips", "month",
        reads=("moves", "card_places", "expansion_factors", "expansion_factors_age", "units",
               "linkage"),
        writes=("trips_by_period",),
        help="intra-city trips per unit pair and period of the day (trips_by_period; raw "
             "and expanded, small counts suppressed)"),
    Job("land_use_intensity", "month",
        reads=("card_places", "expansion_factors", "expansion_factors_age", "stays", "units"),
        writes=("land_use_intensity",),
        help="land-use intensity per polygon of the land-use layers: night residents per "
             "hectare on residential land, daytime visitors on commercial land, employees "
             "on development zones and industrial parks (raw and expanded, small counts "
             "suppressed)"),
    Job("screen_farmland", "month",
        reads=("card_places", "expansion_factors", "expansion_factors_age", "units",
               "screen_farmland"),
        writes=("screen_farmland",),
        help="screening of permanent basic farmland: residents and workers per farmland "
             "polygon, consecutive occupied months from the job's earlier months, a "
             "suspect from screen.farmland_min_months (counts suppressed, flags published)"),
    Job("screen_idle_land", "month",
        reads=("stays", "card_places", "expansion_factors", "expansion_factors_age", "units",
               "cells", "screen_idle_land"),
        writes=("screen_idle_land",),
        help="screening of supplied parcels for idle land: per parcel past its agreed start "
             "date the cards staying or working inside, near-zero months and their "
             "consecutive run from the job's earlier months, a suspect from "
             "screen.idle_min_months (counts suppressed, flags published)"),
    Job("daily_presence", "day",
        reads=("stays", "stays_carry", "home_work", "card_places", "expansion_factors",
               "expansion_factors_age", "units", "cells"),
        writes=("daily_presence",), after_month=True,
        help="people present per unit on a day (>= 3 h; resident, short-term, visitor) "
             "with hourly profiles, raw and expanded, small counts suppressed; runs for "
             "each day of a month after its monthly jobs"),
    Job("exposure_hazards", "day",
        reads=("stays", "stays_carry", "home_work", "card_places", "expansion_factors",
               "expansion_factors_age", "units", "cells"),
        writes=("exposure_hazards",), after_month=True,
        help="people exposed per geological hazard point and hour of a day (within its "
             "buffer, default 500 m): residents and visitors, day and night maxima, raw "
             "and expanded, small counts suppressed; runs for each day of a month after "
             "its monthly jobs"),
    Job("screen_reserves", "day",
        reads=("stays", "stays_carry", "card_places", "expansion_factors",
               "expansion_factors_age", "units"),
        writes=("screen_reserves",), after_month=True,
        help="screening of nature-reserve core zones for a day: distinct visitors (>= 30 "
             "min inside) and residents per zone, a baseline from the trailing weeks' stays "
             "(same day type, holidays apart), an alert above factor x baseline and a "
             "minimum count (counts suppressed, alerts published)"),
)

CHAINS = ("daily", "monthly", "all")


def job_names() -> list[str]:
    """Every pipeline job, in run order."""
    return [j.name for j in PIPELINE]


def job(name: str) -> Job:
    for j in PIPELINE:
        if j.name == name:
            return j
    raise KeyError(name)


def chain(name: str) -> list[Job]:
    """The jobs of a chain (``daily``, ``monthly``, ``all``) or of one job name, in order.

    Raises KeyError for anything else."""
    if name == "all":
        return list(PIPELINE)
    if name in ("daily", "monthly"):
        return [j for j in PIPELINE if j.chain == name]
    return [job(name)]


def writer_of(table: str) -> Job | None:
    """The job that writes ``table`` (None for a table no job writes, e.g. ``runs``)."""
    for j in PIPELINE:
        if table in j.writes:
            return j
    return None


def edges() -> set[tuple[str, str]]:
    """Direct dependencies (writer job, reader job) over the tables; a job reading its own
    output (the carry) is not an edge."""
    out = set()
    for j in PIPELINE:
        for t in j.reads:
            w = writer_of(t)
            if w is not None and w.name != j.name:
                out.add((w.name, j.name))
    return out


def check() -> None:
    """The spec is consistent: unique names, known kinds, one writer per table, and every
    table a job reads is written by itself or by an earlier job. Raises ValueError."""
    names = job_names()
    if len(set(names)) != len(names):
        raise ValueError(f"pipeline: duplicate job names in {names}")
    seen: set[str] = set()
    writers: dict[str, str] = {}
    for j in PIPELINE:
        if j.kind not in KINDS:
            raise ValueError(f"pipeline: job {j.name} has unknown kind {j.kind!r}")
        if j.after_month and j.kind != "day":
            raise ValueError(f"pipeline: job {j.name} runs after its month but is not a "
                             f"day job (kind {j.kind!r})")
        for t in j.writes:
            if t in writers:
                raise ValueError(f"pipeline: table {t} written by {writers[t]} and {j.name}")
            writers[t] = j.name
        late = [t for t in j.reads if t not in seen and t not in j.writes]
        if late:
            raise ValueError(f"pipeline: {j.name} reads {late} before any job writes them")
        seen.update(j.writes)


def graph_text() -> str:
    """The table graph in run order, one job per block: what it reads (tables, and
    ``paths.*`` for delivered inputs; ``?`` = optional), the job and its partition kind,
    what it writes."""
    lines = []
    for j in PIPELINE:
        ins = [*j.reads, *(f"paths.{k}" for k in j.inputs),
               *(f"paths.{k}?" for k in j.optional_inputs)]
        lines.append(f"{', '.join(ins) or '-'}")
        kind = f"{j.kind}, after its month" if j.after_month else j.kind
        lines.append(f"    -> {j.name} [{kind}]")
        lines.append(f"    -> {', '.join(j.writes)}")
    return "\n".join(lines)
