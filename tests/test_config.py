"""Configuration: validation errors name the key and what is allowed; nothing needs Spark."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest

from mobsig.cli import main as cli_main
from mobsig.config import (
    MOVED_KEYS,
    SECTIONS,
    all_sections,
    build_config,
    dump_config,
    explain,
    load_config,
    parse_date,
    parse_month,
)
from mobsig.errors import ConfigError


@pytest.mark.parametrize(
    ("data", "overrides", "message"),
    [
        ({"stays": {"tua_min": 30}}, [],
         r"unknown key stays\.tua_min; allowed keys in 'stays': .*tau_min"),
        ({"staying": {}}, [], r"unknown section 'staying'; allowed sections: run, paths"),
        ({}, ["stays.tau_min=-5"], r"stays\.tau_min: -5\.0 is out of range; must be > 0"),
        ({}, ["stays.tau_min=abc"], r"stays\.tau_min: expected a number, got 'abc'"),
        ({"run": {"region_level": "town"}}, [],
         r"run\.region_level: 'town' is not allowed; allowed values: 'county', 'city', "
         r"'province'"),
        ({"synth": {"start_date": "2026-02-30"}}, [],
         r"synth\.start_date: '2026-02-30' is not a date; use YYYY-MM-DD"),
        ({"flags": {"multicard_min_share": 1.5}}, [],
         r"flags\.multicard_min_share: 1\.5 is out of range; must be > 0 and <= 1"),
        ({"stays": {"radius_dense_m": 2000, "radius_sparse_m": 1000}}, [],
         r"stays\.radius_dense_m \(2000\.0\) must be <= stays\.radius_sparse_m \(1000\.0\)"),
        ({"population": {"short_term_min_days": 20}}, [],
         r"population\.short_term_min_days \(20\) must be < population\.resident_min_days"),
        ({"home_work": {"work_start_h": 18, "work_end_h": 9}}, [],
         r"home_work\.work_start_h \(18\) must be < home_work\.work_end_h \(9\)"),
        ({"spark": {"profile": "mesos"}}, [], r"spark\.profile: 'mesos' is not allowed"),
        ({"spark": {"conf": {"executor.memory": "8g"}}}, [],
         r"spark\.conf: keys must start with 'spark\.'"),
        ({"run": {"timezone": "Mars/Olympus"}}, [], r"run\.timezone: unknown time zone"),
        ({"privacy": {"k_min": True}}, [], r"privacy\.k_min: expected an integer"),
        ({"stays": [1, 2]}, [], r"stays: expected a mapping of keys"),
        ({}, ["stays.tau_min"], r"expected section\.key=value"),
        ({"expansion": {"factor_min": 5, "factor_max": 2}}, [],
         r"expansion\.factor_min \(5\.0\) must be < expansion\.factor_max \(2\.0\)"),
        ({"home_work": {"weekend_days": [5, 7]}}, [],
         r"home_work\.weekend_days: \[7\] not in 0\.\.6"),
        ({}, ["spark.driver_memory=lots"], r"spark\.driver_memory 'lots' is not a JVM size"),
        ({"spark": {"conf": {"spark.executor.memory": "8 gigs"}}}, [],
         r"spark\.conf: spark\.executor\.memory '8 gigs' is not a JVM size"),
        ({}, ["ingest.user_id_pattern=[a-z"], r"ingest\.user_id_pattern .* not a regular"),
        ({}, ["ingest.max_field_len=0"], r"ingest\.max_field_len: 0 is out of range"),
    ],
)
def test_bad_config_names_key_and_allowed_values(data, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config(data, overrides)


def test_defaults_follow_the_domain_document():
    cfg = build_config({})
    assert cfg.stays.tau_min == 30
    assert (cfg.stays.radius_dense_m, cfg.stays.radius_sparse_m) == (500, 1000)
    assert cfg.stays.gap_cap_h == 2
    assert cfg.clean.pingpong_window_s == 180
    assert (cfg.clean.drift_vmax_kmh, cfg.clean.drift_vmax_hsr_kmh) == (120, 350)
    assert (cfg.flags.multicard_distance_m, cfg.flags.multicard_min_share,
            cfg.flags.multicard_min_days) == (500, 0.7, 7)  # 0.7: see FlagsConfig doc
    assert (cfg.home_work.night_start_h, cfg.home_work.night_end_h) == (21, 7)
    assert (cfg.home_work.home_min_night_share, cfg.home_work.home_min_nights) == (0.5, 10)
    assert (cfg.home_work.work_start_h, cfg.home_work.work_end_h) == (9, 17)
    assert (cfg.home_work.work_min_avg_h, cfg.home_work.work_min_days,
            cfg.home_work.work_min_home_dist_m) == (3, 8, 500)
    assert (cfg.population.resident_min_days, cfg.population.short_term_min_days,
            cfg.population.transit_max_h) == (18, 3, 3)
    assert cfg.privacy.k_min == 15
    assert cfg.run.timezone == "Asia/Shanghai"


def test_every_parameter_is_documented_in_explain():
    text = explain()
    assert set(all_sections()) == {*SECTIONS, "synth"}
    for name, cls in all_sections().items():
        assert f"[{name}]" in text
        for f in dataclasses.fields(cls):
            assert f.metadata["doc"], f"{name}.{f.name} has no doc"
            assert re.search(rf"^  {f.name} = .+  # \S", text, re.M), f"{name}.{f.name}"


def test_overrides_are_typed_and_config_is_frozen():
    cfg = build_config({"stays": {"tau_min": 20}},
                       ["stays.tau_min=45", "paths.units=a.geojson, b.geojson",
                        "expansion.rake_ages=true", "spark.conf={spark.executor.memory: 8g}"])
    assert cfg.stays.tau_min == 45.0
    assert cfg.paths.units == ("a.geojson", "b.geojson")
    assert cfg.expansion.rake_ages is True
    assert dict(cfg.spark.conf) == {"spark.executor.memory": "8g"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.stays.tau_min = 10  # type: ignore[misc]


def test_yaml_round_trip_and_relative_paths(tmp_path):
    cfg = build_config({"stays": {"h3_resolution": 8}, "paths": {"warehouse": "wh"}},
                       base_dir=tmp_path)
    dump_config(cfg, tmp_path / "c.yaml")
    back = load_config(tmp_path / "c.yaml")
    assert back.to_dict() == cfg.to_dict()
    assert back.digest() == cfg.digest()
    assert back.warehouse == (tmp_path / "wh").resolve()
    assert build_config({"stays": {"h3_resolution": 7}}).digest() != cfg.digest()


@pytest.mark.parametrize(("data", "overrides"), [
    ({"clean": {"gap_cap_h": 3}}, []),
    ({}, ["clean.gap_cap_h=3"]),
])
def test_moved_keys_fail_naming_their_new_place(data, overrides):
    assert MOVED_KEYS["clean.gap_cap_h"] == "stays.gap_cap_h"
    with pytest.raises(ConfigError, match=r"clean\.gap_cap_h has moved to stays\.gap_cap_h"):
        build_config(data, overrides)
    assert build_config({}, ["stays.gap_cap_h=3"]).stays.gap_cap_h == 3.0
    assert "# moved keys (old -> new): clean.gap_cap_h -> stays.gap_cap_h" in explain()


def test_digest_leaves_out_the_test_data_generator():
    base = build_config({})
    # the generator's seed (or any synth setting) does not change the production digest
    seeded = build_config({"synth": {"seed": 7, "people": 50}})
    assert seeded.synth.seed == 7 and seeded.digest() == base.digest()
    assert seeded.to_dict()["synth"]["seed"] == 7  # still dumped (the generator reads it)
    assert "synth" not in SECTIONS
    # any production parameter does
    assert build_config({}, ["stays.tau_min=45"]).digest() != base.digest()
    assert build_config({}, ["stays.gap_cap_h=3"]).digest() != base.digest()
    # the unused scenarios section is gone
    with pytest.raises(ConfigError, match=r"unknown section 'scenarios'"):
        build_config({"scenarios": {}})


def test_missing_or_invalid_files_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match=r"--config: file .*nope\.yaml' does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stays: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)
    cfg = build_config({"paths": {"raw_events": "missing/events"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"paths\.raw_events: '.*missing/events' does not exist"):
        cfg.require_inputs("raw_events")
    with pytest.raises(ConfigError, match=r"paths\.reference_population: required by this job"):
        cfg.require_inputs("reference_population")


def test_dates_and_months():
    assert parse_date("2026-06-01") == dt.date(2026, 6, 1)
    assert parse_month("2026-06") == dt.date(2026, 6, 1)
    with pytest.raises(ConfigError, match=r"--date: '2026-6-1x' is not a date; use YYYY-MM-DD"):
        parse_date("2026-6-1x")
    with pytest.raises(ConfigError, match=r"--month: '2026-13' is not a month; use YYYY-MM"):
        parse_month("2026-13")


def test_privacy_below_its_floor_needs_the_explicit_override(capsys):
    """issue 17 item 4: k below privacy.k_floor, or no complementary suppression, fails
    before any work (exit 2, naming the override); with the override it is accepted and
    every export's manifest states it beside k."""
    from mobsig.io.exports import suppression

    for sets, named in ((["privacy.k_min=1"], "privacy.k_min=1 is below privacy.k_floor=10"),
                        (["privacy.complementary=false"], "privacy.complementary=false")):
        rc = cli_main(["config", *[a for s in sets for a in ("--set", s)]])
        err = capsys.readouterr().err
        assert rc == 2 and named in err and "privacy.allow_below_floor: true" in err
    assert build_config({}, ["privacy.k_min=10"]).privacy.k_min == 10  # the floor itself
    with pytest.raises(ConfigError, match="k_min=9 is below"):
        build_config({"privacy": {"k_floor": 12}}, ["privacy.k_min=9"])
    weak = build_config({}, ["privacy.k_min=1", "privacy.complementary=false",
                             "privacy.allow_below_floor=true"]).privacy
    params = suppression("population_by_unit", weak)["parameters"]
    assert params["k_min"] == 1 and params["complementary"] is False
    assert params["below_floor_override"]["k_floor"] == 10
    assert len(params["below_floor_override"]["weakened"]) == 2
    assert "below_floor_override" not in suppression("population_by_unit",
                                                     build_config({}).privacy)["parameters"]


def test_cli_rejects_bad_config_before_spark(tmp_path, capsys):
    # exit status 2 and a message naming the key; no session is started (this would take
    # seconds and print Spark lines)
    rc = cli_main(["config", "--set", "stays.tau_min=0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "stays.tau_min: 0.0 is out of range; must be > 0" in err
    assert "spark session ready" not in err
    rc = cli_main(["config", "--explain"])
    assert rc == 0
    assert "tau_min = 30.0" in capsys.readouterr().out


def test_warehouse_that_is_a_file_or_read_only_fails_before_spark(tmp_path, monkeypatch,
                                                                   capsys):
    """A warehouse path that is a file, or a folder this user cannot write, is a
    ConfigError (exit 2) before Spark starts: not a misleading 'run ingest_cells first'
    nor a raw PermissionError."""
    import os

    from mobsig.runner import validate

    (tmp_path / "wh").write_text("not a folder")
    cfg = build_config({"paths": {"warehouse": str(tmp_path / "wh")}}, [])
    with pytest.raises(ConfigError, match=r"paths\.warehouse: .*wh' is a file"):
        validate(cfg, "ingest_cells")
    rc = cli_main(["ingest_cells", "--set", f"paths.warehouse={tmp_path / 'wh'}"])
    assert rc == 2 and "is a file, not a folder" in capsys.readouterr().err
    cfg = build_config({"paths": {"warehouse": str(tmp_path / "wh" / "sub")}}, [])
    with pytest.raises(ConfigError, match="cannot be created"):
        cfg.check_warehouse()
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro)
                        else real_access(p, mode))  # tests run as root: chmod does not bind
    cfg = build_config({"paths": {"warehouse": str(ro / "warehouse")}}, [])
    with pytest.raises(ConfigError, match="not writable by this user"):
        cfg.check_warehouse()
    build_config({"paths": {"warehouse": str(tmp_path / "new" / "wh")}}, []).check_warehouse()
