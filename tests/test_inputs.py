"""Delivered inputs: every one has a contract in ``schemas/`` (kind ``input``), the catalog
refuses a contract as a table, and the readers of :mod:`mobsig.io.inputs` return exactly
the contract's columns and types."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobsig.config import UnitLayer
from mobsig.errors import SchemaError
from mobsig.expansion import parse_age_bands
from mobsig.io.catalog import Catalog
from mobsig.io.inputs import (
    read_cells_raw,
    read_reference_ages,
    read_reference_population,
    read_subscribers,
    read_tac_types,
)
from mobsig.schema import load_schema, schema_names
from tests.conftest import make_config

INPUTS = ("raw_events", "cells_raw", "tac_types", "reference_population", "subscribers",
          "reference_ages", "unit_layer")


def _types(df) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def _contract_types(name: str) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in load_schema(name).struct.fields]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_delivered_input_has_a_contract():
    inputs = {n for n in schema_names() if load_schema(n).kind == "input"}
    assert inputs == set(INPUTS)
    for name in INPUTS:
        s = load_schema(name)
        assert s.name == name and s.columns and s.description and not s.partition_by, name
        assert all(c.doc for c in s.columns), name


@pytest.mark.parametrize("name", INPUTS)
def test_catalog_refuses_an_input_contract_as_a_table(spark, tmp_path, name):
    cat = Catalog(spark, tmp_path / "warehouse")
    for call in (cat.path, cat.schema, cat.exists, cat.read):
        with pytest.raises(SchemaError, match=f"{name} is an input contract"):
            call(name)
    assert not (tmp_path / "warehouse").exists()


def test_tac_types_reader_returns_the_contract(spark, tmp_path):
    csv = _write(tmp_path / "tac.csv", "tac,device_type\n35345678, IoT \n86012345,smartphone\n")
    cfg = make_config(tmp_path, paths={"tac_types": str(csv)})
    df = read_tac_types(spark, cfg)
    assert _types(df) == _contract_types("tac_types")
    assert sorted(tuple(r) for r in df.collect()) == [("35345678", "iot"),
                                                      ("86012345", "smartphone")]


def test_reference_population_reader_returns_the_contract(spark, tmp_path):
    csv = _write(tmp_path / "pop.csv", "unit_id,name,population,year\n510104,a,1200,2020\n"
                                       "510105,b,900,2020\n")
    df = read_reference_population(spark, csv)
    assert _types(df) == _contract_types("reference_population")
    assert sorted(tuple(r) for r in df.collect()) == [("510104", 1200), ("510105", 900)]


@pytest.mark.parametrize("header,rows", [
    ("user_id,birth_year", "u1,1980\nu2,\n"),
    ("user_id,birth_year,sex,other", "u1,1980,F,x\nu2,,,y\n"),
])
def test_subscribers_reader_returns_the_contract(spark, tmp_path, header, rows):
    csv = _write(tmp_path / "subs.csv", f"{header}\n{rows}")
    df = read_subscribers(spark, csv, max_year=2026)
    assert _types(df) == _contract_types("subscribers")
    got = {r["user_id"]: r["birth_year"] for r in df.collect()}
    assert got == {"u1": 1980, "u2": None}


def test_reference_ages_contract_is_the_default_configuration(tmp_path):
    """The listed columns are those of the default expansion settings, and the reader
    takes a file with exactly them."""
    e = make_config(tmp_path).expansion
    bands = parse_age_bands(e.age_bands)
    names = load_schema("reference_ages").names
    assert names == [e.ages_id_field, *[b.column for b in bands]]
    csv = _write(tmp_path / "ages.csv", ",".join(names) + "\n510104,0.1,0.7,0.2\n")
    shares = read_reference_ages(csv, e.ages_id_field, bands)
    assert list(shares.columns) == [b.label for b in bands]
    assert shares.loc["510104"].round(6).tolist() == [0.1, 0.7, 0.2]


def test_cells_raw_reader_returns_the_contract_then_the_extra_columns(spark, tmp_path):
    csv = _write(tmp_path / "cells.csv", "CELL_ID,lon,lat,coord_sys,extra\nc1,104.1,30.6,wgs84,x\n")
    df = read_cells_raw(spark, csv)
    names = load_schema("cells_raw").names
    assert df.columns == [*names, "is_hsr"]
    assert {t for _, t in _types(df)} == {"string"}  # typed later by cells.parse_cells
    assert tuple(df.first())[:4] == ("c1", "104.1", "30.6", "wgs84")


def test_unit_layer_contract_matches_the_layer_mapping_and_the_units_table():
    layer = load_schema("unit_layer")
    assert (UnitLayer.id_field, UnitLayer.name_field) == tuple(layer.names[:2])
    attributes = [n for n in layer.names if n != "geometry"]
    assert attributes == [n for n in load_schema("units").names if n in attributes]
