"""Show the validated configuration, or explain every parameter with its default.

Exits with status 2 and a message naming the key if the configuration is invalid, so it
can be used to check a config file before scheduling runs.
"""

from __future__ import annotations

import argparse

import yaml

from mobsig.config import Config, explain

NAME = "config"
HELP = "validate and show the configuration, or --explain every parameter"
NEEDS_SPARK = False


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--explain", action="store_true",
                   help="list every parameter with its default, allowed range and meaning")


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    if args.explain:
        print(explain())
    else:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True), end="")
        print(f"# digest {cfg.digest()}")
    return 0
