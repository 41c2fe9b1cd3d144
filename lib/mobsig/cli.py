"""The ``mobsig`` command: one subcommand per job in ``jobs/`` plus tools.

Every subcommand takes ``--config FILE`` (YAML), ``--set section.key=value`` (repeatable)
and ``--log-level``. Configuration and arguments are validated before Spark starts; an
error prints one clear line and exits non-zero:

    2 configuration or arguments   3 machine not set up (jars)   4 input missing
    5 schema mismatch              6 quality gate failed          1 anything else
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Sequence
from types import ModuleType

from mobsig import __version__
from mobsig.config import Config, load_config
from mobsig.errors import MobsigError
from mobsig.logs import log_context, new_run_id, setup_logging

log = logging.getLogger("mobsig")

# job modules in jobs/ (packaged as mobsig.jobs.<name>), in pipeline order; a name whose
# module is not in this build is left out of the command list
JOBS = ["ingest_cells", "ingest_events", "clean_events", "flag_users", "detect_stays",
        "home_work", "expand", "population_by_unit", "run", "status", "bench", "synth", "demo",
        "evaluate", "config_cmd"]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"mobsig.jobs.{name}")


def available_jobs() -> list[str]:
    import importlib.util

    return [n for n in JOBS if importlib.util.find_spec(f"mobsig.jobs.{n}") is not None]


def common_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("--config", metavar="FILE", help="YAML configuration file")
    g.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE",
                   help="override one parameter (repeatable), e.g. --set stays.tau_min=45")
    g.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobsig",
        description="Mobile signaling -> population and activity indicators for spatial "
                    "planning. Run `mobsig COMMAND --help` for a command's options; "
                    "`mobsig config --explain` lists every parameter.")
    parser.add_argument("--version", action="version", version=f"mobsig {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in available_jobs():
        mod = _module(name)
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        common_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def run_job(mod: ModuleType, args: argparse.Namespace, cfg: Config) -> int:
    """Validate, build the session if the job needs one, run it.

    Jobs that declare ``RECORDS_RUN = True`` get a run record: a manifest row in the
    ``runs`` table whether they succeed or fail (see mobsig.runs).
    """
    run_id = new_run_id()
    with log_context(job=mod.NAME, run=run_id):
        if hasattr(mod, "validate"):
            mod.validate(args, cfg)
        spark = None
        if getattr(mod, "NEEDS_SPARK", True):
            from mobsig.session import build_session

            spark = build_session(cfg, app_name=f"mobsig-{mod.NAME}")
        t0 = time.time()
        if getattr(mod, "RECORDS_RUN", False) and spark is not None:
            from mobsig.catalog import Catalog
            from mobsig.runs import recording, write_record

            catalog = Catalog(spark, cfg.warehouse)
            with recording(mod.NAME, run_id, cfg.digest(),
                           sink=lambda rec: write_record(catalog, rec)):
                rc = mod.run(args, cfg, spark)
        else:
            rc = mod.run(args, cfg, spark)
        log.info("%s finished in %.1fs", mod.NAME, time.time() - t0)
        return int(rc or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    mod = args._module
    try:
        overrides = list(getattr(mod, "overrides", lambda a: [])(args)) + list(args.overrides)
        cfg = load_config(args.config, overrides)
        return run_job(mod, args, cfg)
    except MobsigError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
