"""Generate a small synthetic city and run every job that exists on it, in local mode.

Prints where each output is. The city's own config.yaml (in --out) is used for the jobs,
so the same commands can be re-run by hand on the demo data.
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
    p.add_argument("--days", type=int, default=30, help="days simulated (default 30)")


def overrides(args: argparse.Namespace) -> list[str]:
    return [f"synth.people={args.people}", f"synth.days={args.days}"]


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.synth.generate import generate

    out = Path(args.out).resolve()
    res = generate(spark, cfg, out)
    city_cfg = load_config(res.config_path)
    print(f"demo city: {res.n_cards} cards, {res.n_events} events, "
          f"{len(res.days)} days from {res.days[0]}")
    print("outputs:")
    print(f"  raw events (CSV gzip, dt= folders)  {city_cfg.path('raw_events')}")
    print(f"  cell table                          {city_cfg.path('cells')}")
    for layer in city_cfg.paths_list("units"):
        print(f"  unit layer (GeoJSON, EPSG:4490)     {layer}")
    print(f"  reference population                {city_cfg.path('reference_population')}")
    print(f"  ground truth                        {out / 'truth'}")
    print(f"  config for the jobs                 {res.config_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mobsig.cli import main as cli_main

    return cli_main([NAME, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
