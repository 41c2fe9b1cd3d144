"""Generate a small synthetic city and run every job on it, in local mode; then the same
city placed inside real counties and run again.

1. ``--out``: the synthetic city with its six fictional districts and their townships.
2. ``--out/real_counties``: the city centred in Chengdu inside the real counties of the
   2020 census (``../shared/data/census2020``, next to the project; ``--shared-data`` or
   $MOBSIG_SHARED_DATA to point elsewhere): the county unit layer is the census TopoJSON
   itself (Albers projection, ``CODE``/``NAME``; read through a paths.units mapping), the
   reference population is the census population of those counties, and the sample homes
   are spread among them in proportion to it (see mobsig.synth.real). Skipped with a note
   when the census data is not there; ``--no-real-layers`` skips it,
   ``--real-layers-only`` runs only this one.

Prints where each output is and each city's accuracy against its truth (the table of
``mobsig evaluate``, also written to ``evaluate-<month>.json`` in the city folder), and
writes each city's monthly report (``mobsig report``: ``warehouse/exports/month=M/report.html``
with its maps, tables and data quality, linked to the Data Docs in
``warehouse/data_docs/``). Each
city's own config.yaml (in its folder) is used for the jobs, so the same commands can be
re-run by hand on the demo data.

Both cities are two weeks (2026-06-08 .. 06-21) with the residence thresholds scaled to two
weeks (resident >= 9 days present, home >= 5 nights, work >= 4 days; see
mobsig.synth.generate.TWO_WEEK_RULES); ``--days 30`` runs a full month with the domain
defaults. Measured on 2 cores: the synthetic city (150 people) about 7 minutes, the
real-county city (200 people) about 6 more (13 minutes in all).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

from mobsig.config import Config, UnitLayer, load_config
from mobsig.errors import ConfigError

NAME = "demo"
HELP = "generate a small synthetic city and run every job on it (also inside real counties)"
REAL_DIR = "real_counties"
SHARED_DATA_ENV = "MOBSIG_SHARED_DATA"
CENSUS_FILES = ("counties-geo.topojson", "population.csv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (replaced)")
    p.add_argument("--people", type=int, default=150, help="sample persons (default 150)")
    p.add_argument("--days", type=int, default=14,
                   help="days simulated (default 14, with thresholds scaled to two weeks; "
                        "28 or more: the domain defaults)")
    p.add_argument("--real-people", type=int, default=200,
                   help="sample persons of the city in real counties (default 200)")
    p.add_argument("--shared-data", metavar="DIR",
                   help="the shared reference data folder holding census2020/ (default: "
                        "../shared/data next to the project, or $MOBSIG_SHARED_DATA)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--no-real-layers", action="store_true",
                       help="only the synthetic city with its fictional districts")
    which.add_argument("--real-layers-only", action="store_true",
                       help="only the city inside the real census counties")


def overrides(args: argparse.Namespace) -> list[str]:
    from mobsig.synth.generate import TWO_WEEK_RULES

    out = [f"synth.people={args.people}", f"synth.days={args.days}"]
    if args.days < 28:  # two weeks inside June with two weekends and 端午节 (06-19)
        out += ["synth.start_date=2026-06-08"]
        out += [f"{sec}.{key}={value}" for sec, rules in TWO_WEEK_RULES.items()
                for key, value in rules.items()]
    return out


def shared_data_source(args: argparse.Namespace) -> tuple[Path | None, str]:
    """The shared data folder the demo searches for census2020/ and what chose it:
    ``--shared-data``, else $MOBSIG_SHARED_DATA, else ../shared/data next to the project
    (None when no such folder exists)."""
    from mobsig.synth.real import shared_data_dir

    if args.shared_data:
        return Path(args.shared_data).expanduser().resolve(), "--shared-data"
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env).expanduser().resolve(), f"${SHARED_DATA_ENV}"
    return shared_data_dir(), "the default, ../shared/data next to the project"


def census_dir(args: argparse.Namespace) -> Path | None:
    """The shared data folder when it holds the census files, else None."""
    from mobsig.synth.real import CENSUS_DIR

    data, _ = shared_data_source(args)
    if data is None:
        return None
    need = [data / CENSUS_DIR / n for n in CENSUS_FILES]
    return data if all(p.is_file() for p in need) else None


def census_missing(args: argparse.Namespace) -> str:
    """Why the census data was not found: the folder actually searched, what chose it and
    how to point elsewhere."""
    from mobsig.synth.real import CENSUS_DIR

    data, source = shared_data_source(args)
    where = (f"{data / CENSUS_DIR}" if data is not None
             else "../shared/data/census2020 (no ../shared/data folder next to the project)")
    return (f"the census data ({CENSUS_DIR}/{' and '.join(CENSUS_FILES)}) was not found in "
            f"{where} (folder from {source}); pass --shared-data DIR or set "
            f"${SHARED_DATA_ENV}=DIR to the folder holding {CENSUS_DIR}/")


def validate(args: argparse.Namespace, cfg: Config) -> None:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} exists and is not a folder")
    if args.real_people < 10:
        raise ConfigError(f"--real-people: {args.real_people} is below 10")
    if (args.real_layers_only or args.shared_data) and census_dir(args) is None:
        raise ConfigError(census_missing(args) + ", or --no-real-layers")


def real_config(cfg: Config, data: Path, people: int) -> Config:
    """``cfg`` with the synthetic city placed in the census counties."""
    from mobsig.synth.real import CENSUS_DIR, census_layer

    synth = dataclasses.replace(cfg.synth, people=people, real_counties=census_layer(data),
                                real_population=str(data / CENSUS_DIR / "population.csv"))
    synth.check()
    return cfg.replace(synth=synth)


def run(args: argparse.Namespace, cfg: Config, spark) -> int:
    out = Path(args.out).resolve()
    rc = 0
    if not args.real_layers_only:
        rc = run_city(spark, cfg, out, "synthetic city, fictional districts")
    if args.no_real_layers:
        return rc
    data = census_dir(args)
    if data is None:
        print(f"real layers skipped: {census_missing(args)}")
        return rc
    real_rc = run_city(spark, real_config(cfg, data, args.real_people), out / REAL_DIR,
                       "the same city inside the real census counties of Chengdu")
    return rc or real_rc


def run_city(spark, cfg: Config, out: Path, title: str) -> int:
    """Generate one city into ``out``, run every job on it, print where things are."""
    from mobsig import pipeline
    from mobsig.synth.generate import generate
    from mobsig.tools import run as run_tool

    t0 = time.time()
    res = generate(spark, cfg, out)
    city_cfg = load_config(res.config_path)
    print(f"demo: {title}: {res.n_cards} cards, {res.n_events} events, "
          f"{len(res.days)} days from {res.days[0]}")
    jobs = pipeline.job_names()
    ns = argparse.Namespace(job="all", date=None, date_from=res.days[0].isoformat(),
                            date_to=res.days[-1].isoformat(), region=[], month=None,
                            month_from=None, month_to=None, keep_going=False,
                            fresh_start=True)
    rc = run_tool.run(ns, city_cfg, spark)
    report(spark, city_cfg, res, out, jobs)
    if rc == 0:
        accuracy(spark, city_cfg, res, out)
        monthly_report(spark, city_cfg, res)
    print(f"  ({title}: {time.time() - t0:.0f}s)")
    return rc


def _layer_text(layer: UnitLayer) -> str:
    from mobsig.io.units import layer_format

    fmt = layer_format(layer.path)
    mapped = [f"{k}={v}" for k, v in layer.to_dict().items()
              if k in ("layer", "id_field", "name_field", "level")]
    if layer.unit_ids:
        mapped.append(f"{len(layer.unit_ids)} units")
    if layer.crs:
        mapped.append("CRS " + (layer.crs if len(layer.crs) < 24 else "given in the mapping"))
    return ", ".join([fmt, *mapped])


def report(spark, city_cfg: Config, res, out: Path, jobs: list[str]) -> None:
    from mobsig import pipeline
    from mobsig.io.catalog import Catalog

    print("inputs:")
    print(f"  raw events (CSV gzip, dt= folders)  {city_cfg.path('raw_events')}")
    print(f"  cell table                          {city_cfg.path('cells')}")
    for layer in city_cfg.unit_layers():
        print(f"  unit layer ({_layer_text(layer)})")
        print(f"      {layer.path}")
    print(f"  reference population                {city_cfg.path('reference_population')}")
    print(f"  ground truth                        {out / 'truth'}")
    print(f"  config for the jobs                 {res.config_path}")
    print(f"jobs run: {', '.join(jobs) or 'none'}")
    print("outputs (Delta tables):")
    from mobsig.runs import fold_written

    fold_written()  # the runs table complete (mobsig.runs.fold)
    catalog = Catalog(spark, city_cfg.warehouse)
    tables = [t for j in pipeline.PIPELINE for t in j.writes] + ["runs"]
    for name in tables:
        try:
            present = catalog.exists(name)
        except Exception:  # noqa: BLE001 - a table without a schema yet
            present = False
        if present:
            rows = catalog.read(name).count()
            print(f"  {name:<20} {rows:>10,} rows  {catalog.path(name)}")
    exports = city_cfg.warehouse / "exports"
    if exports.exists():
        print(f"  exports (GeoParquet, CSV, GeoPackage, manifest.json)  {exports}")
    if city_cfg.synth.real_counties and catalog.exists("expansion_factors"):
        print("expansion per real county (census population / identified sample residents):")
        for r in catalog.read("expansion_factors").orderBy("unit_id").collect():
            print(f"  {r['unit_id']} {r['unit_name'] or '':<6} census "
                  f"{r['reference_population']:>10,}  sample residents "
                  f"{r['sample_residents']:>4}  factor {r['factor']:>9,.0f}")


def monthly_report(spark, city_cfg: Config, res) -> None:
    """The month's HTML report (``mobsig report``) and the Data Docs it links to."""
    from mobsig.tools import report as report_tool

    written = report_tool.write(spark, city_cfg, res.days[0].replace(day=1))
    print(f"report (open in a browser, works offline): {written['path']}")
    print(f"  {len(written['sections'])} sections, {written['images']} maps; Data Docs: "
          f"{written['data_docs']}")


def accuracy(spark, city_cfg: Config, res, out: Path) -> None:
    """The month's outputs against the city's truth (``mobsig evaluate``), printed and
    written to ``evaluate-<month>.json`` in the city folder."""
    import json

    from mobsig.synth import evaluate as ev
    from mobsig.tools import evaluate

    month = res.days[0].replace(day=1)
    result = evaluate.execute(spark, city_cfg, month, out / "truth")
    path = out / f"evaluate-{result['month']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    print(f"accuracy against the truth ({path}; `mobsig evaluate` re-measures it):")
    print(ev.markdown(result))
