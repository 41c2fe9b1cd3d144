"""`mobsig demo`: when the census data is not found, the message names the folder actually
searched (--shared-data, else $MOBSIG_SHARED_DATA, else ../shared/data) and how to change
it. No Spark: these paths stop before any city is generated."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mobsig.errors import ConfigError


def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    from mobsig.tools import demo

    p = argparse.ArgumentParser()
    demo.add_arguments(p)
    return p.parse_args(["--out", str(tmp_path / "out"), *extra])


def test_env_folder_without_census_is_named(tmp_path, monkeypatch, capsys):
    from mobsig.tools import demo

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.setenv("MOBSIG_SHARED_DATA", str(empty))
    args = _args(tmp_path, "--real-layers-only")
    assert demo.census_dir(args) is None
    with pytest.raises(ConfigError) as err:
        demo.validate(args, None)
    text = str(err.value)
    assert f"not found in {empty.resolve() / 'census2020'} (folder from $MOBSIG_SHARED_DATA)" \
        in text
    assert "--shared-data DIR" in text and "MOBSIG_SHARED_DATA=DIR" in text
    assert "../shared/data" not in text
    # run (without validate, as after a default run of the synthetic city) skips with a
    # note naming the same folder, and starts nothing
    assert demo.run(args, None, None) == 0
    out = capsys.readouterr().out
    assert out.startswith("real layers skipped: ") and str(empty.resolve()) in out
    assert "../shared/data" not in out


def test_shared_data_flag_wins_over_env(tmp_path, monkeypatch):
    from mobsig.tools import demo

    env_dir, flag_dir = tmp_path / "env", tmp_path / "flag"
    env_dir.mkdir()
    flag_dir.mkdir()
    monkeypatch.setenv("MOBSIG_SHARED_DATA", str(env_dir))
    args = _args(tmp_path, "--shared-data", str(flag_dir))
    with pytest.raises(ConfigError, match=r"not found in .*flag/census2020 \(folder from "
                                          r"--shared-data\).*or --no-real-layers"):
        demo.validate(args, None)
    # a folder that does not exist at all is still the one named
    monkeypatch.setenv("MOBSIG_SHARED_DATA", str(tmp_path / "missing"))
    text = demo.census_missing(_args(tmp_path))
    assert f"{(tmp_path / 'missing').resolve() / 'census2020'}" in text


def test_census_found_through_env(tmp_path, monkeypatch):
    from mobsig.tools import demo

    census = tmp_path / "data" / "census2020"
    census.mkdir(parents=True)
    for name in ("counties-geo.topojson", "population.csv"):
        (census / name).write_text("x")
    monkeypatch.setenv("MOBSIG_SHARED_DATA", str(tmp_path / "data"))
    args = _args(tmp_path, "--real-layers-only")
    assert demo.census_dir(args) == (tmp_path / "data").resolve()
    demo.validate(args, None)  # no error
