"""Generate a small synthetic city and run every job that exists on it, in local mode.

Prints where each output is. The city's own config.yaml (in --out) is used for the jobs,
so the same commands can be re-run by hand on the demo data.

The default is a two-week city (about 7 minutes on 2 cores) with the residence thresholds
scaled to two weeks (resident >= 9 days present, home >= 5 nights, work >= 4 days; see
mobsig.synth.generate.TWO_WEEK_RULES). ``--days 30`` runs a full month with the domain
defaults (about 15 minutes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mobsig.config import Config, load_config

NAME = "demo"
HELP = "generate a small synthetic city and run every job on it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (replaced)")
    p.add_argument("--people", type=int, default=150, help="sample persons (default 150)")
    p.add_argument("--days", type=int, default=14,
                   help="days simulated (default 14, with thresholds scaled to two weeks; "
                        "28 or more: the domain defaults)")


def overrides(args: argparse.Namespace) -> list[str]:
    from mobsig.synth.generate import TWO_WEEK_RULES

    out = [f"synth.people={args.people}", f"synth.days={args.days}"]
    if args.days < 28:  # two weeks inside June with two weekends and 端午节 (06-19)
        out += ["synth.start_date=2026-06-08"]
        out += [f"{sec}.{key}={value}" for sec, rules in TWO_WEEK_RULES.items()
                for key, value in rules.items()]
    return out


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.jobs import run as run_job

    from mobsig.catalog import Catalog
    from mobsig.cli import available_jobs
    from mobsig.synth.generate import generate

    out = Path(args.out).resolve()
    res = generate(spark, cfg, out)
    city_cfg = load_config(res.config_path)
    print(f"demo city: {res.n_cards} cards, {res.n_events} events, "
          f"{len(res.days)} days from {res.days[0]}")
    jobs = [j for j in run_job.KINDS if j in available_jobs()]
    ns = argparse.Namespace(job="all", date=None, date_from=res.days[0].isoformat(),
                            date_to=res.days[-1].isoformat(), region=[], month=None,
                            month_from=None, month_to=None, keep_going=False,
                            fresh_start=True)
    rc = run_job.run(ns, city_cfg, spark) if jobs else 0
    print("inputs:")
    print(f"  raw events (CSV gzip, dt= folders)  {city_cfg.path('raw_events')}")
    print(f"  cell table                          {city_cfg.path('cells')}")
    for layer in city_cfg.paths_list("units"):
        print(f"  unit layer (GeoJSON, EPSG:4490)     {layer}")
    print(f"  reference population                {city_cfg.path('reference_population')}")
    print(f"  ground truth                        {out / 'truth'}")
    print(f"  config for the jobs                 {res.config_path}")
    print(f"jobs run: {', '.join(jobs) or 'none'}")
    print("outputs (Delta tables):")
    catalog = Catalog(spark, city_cfg.warehouse)
    for name in ("cells", "events_bronze", "events_quarantine", "events_clean", "user_flags",
                 "stays", "moves", "home_work", "expansion_factors", "population_by_unit",
                 "runs"):
        try:
            present = catalog.exists(name)
        except Exception:  # noqa: BLE001 - a table without a schema yet
            present = False
        if present:
            rows = catalog.read(name).count()
            print(f"  {name:<20} {rows:>10,} rows  {catalog.path(name)}")
    exports = city_cfg.warehouse / "exports"
    if exports.exists():
        print(f"  exports (GeoParquet, CSV)           {exports}")
    return rc


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
