"""The ``mobsig`` command: one subcommand per pipeline job (mobsig.pipeline) plus tools.

Every subcommand takes ``--config FILE`` (YAML), ``--set section.key=value`` (repeatable),
``--log-level`` and ``--log-format text|json`` (default ``$MOBSIG_LOG_FORMAT`` or text).
Configuration and arguments are validated before Spark starts; an error prints one clear
line and exits non-zero:

    2 configuration or arguments   3 machine not set up (jars)   4 input missing/corrupt
    5 schema mismatch              6 quality gate failed          1 anything else
    7 another run of the same partition is writing (Delta concurrent commit)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Sequence
from types import ModuleType

from mobsig import __version__, pipeline
from mobsig.config import Config, load_config
from mobsig.errors import MobsigError
from mobsig.logs import ENV_FORMAT, FORMATS, format_from_env, log_context, setup_logging

log = logging.getLogger("mobsig")

# commands that are not pipeline jobs: modules mobsig.tools.<name>
TOOLS = ["run", "status", "report", "bench", "synth", "demo", "evaluate", "config"]


def tool_module(name: str) -> ModuleType:
    return importlib.import_module(f"mobsig.tools.{name}")


def common_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("--config", metavar="FILE", help="YAML configuration file")
    g.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE",
                   help="override one parameter (repeatable), e.g. --set stays.tau_min=45")
    g.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity")
    g.add_argument("--log-format", choices=list(FORMATS), default=None,
                   help="log lines on stderr: text (default) or json, one JSON object per "
                        "line with time, level, logger, message, job, part, run and the "
                        f"line's fields, for log shippers (default: ${ENV_FORMAT} or text)")


def build_parser() -> argparse.ArgumentParser:
    from mobsig.runner import add_partition_arguments, job_module

    parser = argparse.ArgumentParser(
        prog="mobsig",
        description="Mobile signaling -> population and activity indicators for spatial "
                    "planning. Run `mobsig COMMAND --help` for a command's options; "
                    "`mobsig config --explain` lists every parameter.")
    parser.add_argument("--version", action="version", version=f"mobsig {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for spec in pipeline.PIPELINE:
        mod = job_module(spec.name)
        p = sub.add_parser(spec.name, help=spec.help, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_partition_arguments(p, spec.kind)
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(p)
        common_arguments(p)
        p.set_defaults(_job=spec)
    for name in TOOLS:
        mod = tool_module(name)
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        common_arguments(p)
        p.set_defaults(_tool=mod)
    return parser


def run_job(spec: pipeline.Job, args: argparse.Namespace, cfg: Config) -> int:
    """A pipeline job for the partitions on its command line, one run record each."""
    from mobsig.runner import job_module, partitions, run_partitions, validate

    mod = job_module(spec.name)
    parts = partitions(spec.kind, args)
    options = mod.options(args) if hasattr(mod, "options") else {}
    validate(cfg, spec.name, options, parts)
    from mobsig.session import build_session

    spark = build_session(cfg, app_name=f"mobsig-{spec.name}")

    def opts(i: int, part) -> dict:
        # options that hold only for the first partition of a range (fresh_start)
        first_only = getattr(mod, "FIRST_PARTITION_ONLY", ())
        return {k: v for k, v in options.items() if i == 0 or k not in first_only}

    return run_partitions(spark, cfg, spec.name, parts, opts)


def run_tool(mod: ModuleType, args: argparse.Namespace, cfg: Config) -> int:
    if hasattr(mod, "validate"):
        mod.validate(args, cfg)
    spark = None
    if getattr(mod, "NEEDS_SPARK", True):
        from mobsig.session import build_session

        spark = build_session(cfg, app_name=f"mobsig-{mod.NAME}")
    return int(mod.run(args, cfg, spark) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        fmt = format_from_env(args.log_format)
    except ValueError as exc:
        print(f"mobsig: {exc}", file=sys.stderr)
        return 2
    setup_logging(args.log_level, fmt)
    spec = getattr(args, "_job", None)
    mod = getattr(args, "_tool", None)
    name = spec.name if spec else mod.NAME
    t0 = time.time()
    try:
        with log_context(job=name):
            overrides = list(getattr(mod, "overrides", lambda a: [])(args)) if mod else []
            if getattr(args, "window_days", None) is not None:
                overrides.append(f"run.window_days={args.window_days}")
            cfg = load_config(args.config, overrides + list(args.overrides))
            from mobsig.runs import folding

            with folding():  # the runs table complete when the command ends
                rc = run_job(spec, args, cfg) if spec else run_tool(mod, args, cfg)
            log.info("%s finished in %.1fs", name, time.time() - t0)
            return rc
    except MobsigError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
