"""Generate a synthetic city with ground truth: cells, units, people, raw signaling events.

Writes raw inputs (events per day, cell table, unit layers, reference population) and the
ground truth (true stays, homes and works, population classes, official population per
unit, card->person map, per-event fault labels) into --out, plus a config.yaml that
points every job at them. Deterministic from the seed; events are generated in parallel
with Spark, so benchmark sizes (10^7+ events) are practical.

A city of fewer than 28 days whose monthly day-count thresholds are left at the domain's
month values (residents >= 18 days, home >= 10 nights, ...) gets them scaled to its days
as ``run.window_days`` would scale them (:func:`short_period_config`): its truth classes
and its config.yaml then use the scaled values, so the monthly jobs run on it as written
find residents (at the month values a 14-day city has none and expansion fails).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from mobsig.config import Config
from mobsig.errors import ConfigError

NAME = "synth"
HELP = "generate a synthetic city with ground truth"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (replaced)")
    p.add_argument("--people", type=int, help="sample persons (synth.people)")
    p.add_argument("--days", type=int, help="days simulated (synth.days)")
    p.add_argument("--start", help="first day YYYY-MM-DD (synth.start_date)")
    p.add_argument("--seed", type=int, help="random seed (synth.seed)")
    p.add_argument("--profile", choices=["city", "region"],
                   help="synth.profile: city (the test city, default) or region (an "
                        "independent region: 3-sector masts 150 m to 5 km apart, GCJ-02/BD-09 "
                        "sites, night-shift workers, ...; mobsig.synth.region)")
    p.add_argument("--raw-format", choices=["csv", "parquet"], help="synth.raw_format")
    p.add_argument("--no-event-labels", action="store_true",
                   help="skip the per-event truth labels (big benchmarks)")


def overrides(args: argparse.Namespace) -> list[str]:
    out = []
    for opt, key in (("people", "people"), ("days", "days"), ("start", "start_date"),
                     ("seed", "seed"), ("raw_format", "raw_format"), ("profile", "profile")):
        value = getattr(args, opt, None)
        if value is not None:
            out.append(f"synth.{key}={value}")
    if getattr(args, "no_event_labels", False):
        out.append("synth.event_labels=false")
    return out


def validate(args: argparse.Namespace, cfg: Config) -> None:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} exists and is not a folder")


def short_period_config(cfg: Config) -> tuple[Config, dict[str, int]]:
    """``cfg`` with the monthly day-count thresholds (:data:`mobsig.config.WINDOW_SCALED`)
    scaled to ``synth.days`` (:meth:`Config.for_window`) when the city is 2-27 days long,
    ``run.window_days`` is unset and every threshold is at its default; and the scaled
    values (empty when nothing changed)."""
    from mobsig.config import WINDOW_SCALED

    days = cfg.synth.days
    defaults = Config()
    at_default = all(getattr(getattr(cfg, sec), name) == getattr(getattr(defaults, sec), name)
                     for sec, name in (k.split(".") for k in WINDOW_SCALED))
    if not (2 <= days < 28 and not cfg.run.window_days and at_default):
        return cfg, {}
    windowed = cfg.replace(run=dataclasses.replace(cfg.run, window_days=days))
    scaled = windowed.scaled_thresholds()
    out = windowed.for_window()
    return out.replace(run=cfg.run), scaled


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    from mobsig.synth.generate import generate

    cfg, scaled = short_period_config(cfg)
    if scaled:
        print(f"a {cfg.synth.days}-day city: monthly thresholds scaled to its days "
              f"(as run.window_days={cfg.synth.days} would) in its truth and config.yaml: "
              + ", ".join(f"{k}={v}" for k, v in scaled.items()))
    res = generate(spark, cfg, Path(args.out))
    print(f"synthetic city: {res.n_cards} cards of {res.n_persons} persons, "
          f"{res.n_events if res.n_events is not None else '?'} events over "
          f"{len(res.days)} days ({res.days[0]} .. {res.days[-1]}) in {res.seconds:.0f}s")
    print(f"  raw events   {res.out / 'raw/events'}")
    print(f"  truth        {res.out / 'truth'}")
    print(f"  config       {res.config_path}")
    return 0
