"""Issue #18's small items on hand-built frames: the "levels must add up" gate when nothing
can be compared, gate errors naming their failed expectations, expansion factors of
counties without sample residents (expansion.no_sample), and the accuracy table of
``mobsig evaluate`` (stays, night-shift homes, non-human cards, townships >= 50)."""

from __future__ import annotations

import logging
import types

import numpy as np
import pandas as pd
import pytest

from mobsig import expansion, population
from mobsig.config import build_config
from mobsig.errors import ConfigError, DataQualityError
from mobsig.quality import run_gate
from mobsig.runner import JobContext
from mobsig.synth import evaluate as ev

COLS = ("level string, unit_id string, unit_name string, parent_id string, pop_class string, "
        "raw_count long, expanded_count double")


class FakeCtx:
    """What population.gate_levels uses of a JobContext (not_checked is the real one)."""

    def __init__(self) -> None:
        self.facts: dict = {}
        self.checked: list = []
        self.log = logging.getLogger("test")
        self.result = types.SimpleNamespace(gates=[], facts=self.facts)

    def fact(self, name, value):
        self.facts[name] = value

    def check(self, suite, metrics, **kw):
        self.checked.append((suite, metrics))

    not_checked = JobContext.not_checked


def test_levels_gate_is_not_checked_when_nothing_is_compared(spark):
    rows = [("county", "C1", "东区", None, "resident", 10, 100.0),
            ("township", "T1", "一街道", None, "resident", 6, 60.0),
            ("township", "T2", "二街道", None, "resident", 3, 30.0)]
    table = spark.createDataFrame(rows, COLS)
    gap, _ = population.level_gap_check(table, 0.001)
    assert gap is None  # townships without parent ids: nothing was compared
    assert population.worst_level_gaps(table, 0.001)[0] == 0.0  # the old number
    ctx = FakeCtx()
    assert population.gate_levels(ctx, table, "population_levels", "population_by_unit",
                                  0.001) is None
    assert ctx.checked == [] and ctx.facts["level_gap"] is None
    (g,) = ctx.result.gates
    assert g["success"] is None and g["status"] == "not_checked"
    assert g["suite"] == "population_levels" and "nothing to add up" in g["warnings"][0]
    # with parent ids the gate runs on the real gap (10 % here)
    linked = spark.createDataFrame([r[:3] + ("C1" if r[0] == "township" else None,) + r[4:]
                                    for r in rows], COLS)
    ctx = FakeCtx()
    gap = population.gate_levels(ctx, linked, "population_levels", "population_by_unit",
                                 0.001)
    assert gap == pytest.approx(0.1)
    assert ctx.checked == [("population_levels", {"level_gap": pytest.approx(0.1)})]
    assert ctx.result.gates == []


def test_gate_error_first_line_names_the_failed_expectations():
    with pytest.raises(DataQualityError) as err:
        run_gate({"level_gap": 0.2}, "population_levels", params={"max_level_gap": 0.001})
    first = str(err.value).splitlines()[0]
    assert first == ("quality gate 'population_levels' failed: 1 of 1 expectations "
                     "(expect_column_values_to_be_between on level_gap)"), first


def _rows(samples):
    return [{"unit_id": u, "unit_name": u, "sample_residents": n,
             "reference_population": pop, "factor": pop / n if n else float("inf"),
             "month": "2026-06"} for u, n, pop in samples]


def test_counties_without_sample_borrow_their_parents_factor():
    rows = _rows([("A1", 10, 100), ("A2", 30, 500), ("A3", 0, 80),   # parent A
                  ("B1", 0, 70),                                     # parent B: alone
                  ("C1", 20, 400)])                                  # parent C
    parents = {"A1": "A", "A2": "A", "A3": "A", "B1": "B", "C1": "C"}
    out, borrowed = expansion.borrow_factors(rows, parents)
    by = {r["unit_id"]: r["factor"] for r in out}
    assert by["A3"] == pytest.approx(600 / 40)        # A1 + A2
    assert by["B1"] == pytest.approx(1000 / 60)       # no sampled sibling: all counties
    assert by["A1"] == 10.0 and by["C1"] == 20.0      # the others keep theirs
    assert [(b["unit_id"], b["source"], b["parent_id"]) for b in borrowed] == [
        ("A3", "parent", "A"), ("B1", "all_counties", "B")]
    assert all(np.isfinite(list(by.values())))
    assert [r["unit_id"] for r in out] == [r["unit_id"] for r in rows]  # same order
    # nothing sampled anywhere: nothing to borrow, the gate fails as before
    none, b = expansion.borrow_factors(_rows([("A1", 0, 100)]), {"A1": "A"})
    assert b == [] and none[0]["factor"] == float("inf")


def test_no_sample_policy_is_a_validated_setting():
    assert build_config({}).expansion.no_sample == "borrow_parent"
    assert build_config({"expansion": {"no_sample": "fail"}}).expansion.no_sample == "fail"
    with pytest.raises(ConfigError, match="no_sample"):
        build_config({"expansion": {"no_sample": "borrow"}})


T0 = pd.Timestamp("2026-06-02")


def _stays(rows):
    df = pd.DataFrame(rows, columns=["user_id", "h0", "h1", "lon", "lat"])
    df["stay_start"] = T0 + pd.to_timedelta(df["h0"], unit="h")
    df["stay_end"] = T0 + pd.to_timedelta(df["h1"], unit="h")
    df["duration_s"] = (df["stay_end"] - df["stay_start"]).dt.total_seconds()
    return df.drop(columns=["h0", "h1"])


def test_stay_accuracy_counts_split_stays_and_leaves_out_second_cards():
    lon, lat = 104.06, 30.66
    truth = _stays([("a", 0, 8, lon, lat), ("a", 9, 17, lon + 0.05, lat),
                    ("b", 0, 8, lon, lat), ("tab", 0, 20, lon, lat)])
    # a's night split in two, a's day found; b's night 1.9 km off
    det = _stays([("a", 0, 3, lon, lat), ("a", 3.2, 8, lon, lat),
                  ("a", 9.1, 17, lon + 0.05, lat), ("b", 0, 8, lon + 0.02, lat)])
    cards = pd.DataFrame({"user_id": ["a", "b", "tab"], "is_human": True,
                          "card_mode": ["", "", "tablet"]})
    r = ev.stay_accuracy(det, truth, cards, T0, T0 + pd.Timedelta(days=1))
    assert r["true_stays"] == 3 and r["detected_stays"] == 4  # the tablet left out
    # both pieces of a's night overlap it by >= half of the piece (a split is not a
    # miss by this rule, only a far or misplaced stay is): b's stay 1.9 km off misses
    assert r["precision"] == 0.75
    assert r["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["recall_by_hours"] == {"8-16 h": pytest.approx(2 / 3, abs=1e-4)}


def test_stay_accuracy_matches_pieces_of_true_stays_crossing_the_window():
    """A non-worker at home from the day before the window to the day after it: the pieces
    found inside the window (split by a phone asleep for hours) are that stay, not false
    stays; the true stay is not counted by recall (not inside the window), and a piece
    1.9 km off still misses."""
    lon, lat = 104.06, 30.66
    truth = _stays([("c", -30, 60, lon, lat), ("a", 9, 17, lon + 0.05, lat)])
    det = _stays([("c", 1, 6, lon, lat), ("c", 10, 22, lon, lat), ("c", 22.5, 23, lon + 0.02,
                                                                     lat),
                  ("a", 9.1, 17, lon + 0.05, lat)])
    cards = pd.DataFrame({"user_id": ["a", "c"], "is_human": True, "card_mode": ""})
    r = ev.stay_accuracy(det, truth, cards, T0, T0 + pd.Timedelta(days=1))
    assert r["true_stays"] == 1 and r["detected_stays"] == 4
    assert r["precision"] == 0.75  # c's two near pieces and a's day; not the far piece
    assert r["recall"] == 1.0


def test_accuracy_table_lines_for_any_city():
    persons = pd.DataFrame({
        "person_id": [1, 2, 3], "in_sample": True, "pop_class": "resident",
        "is_worker": True, "shift": ["night", "night", "day"],
        "home_lon": [104.06] * 3, "home_lat": [30.66] * 3,
        "work_lon": [104.10] * 3, "work_lat": [30.66] * 3})
    cards = pd.DataFrame({"user_id": ["a", "b", "c", "m1", "m2"],
                          "person_id": [1, 2, 3, -1, -1],
                          "card_kind": ["primary"] * 3 + ["iot"] * 2,
                          "is_human": [True] * 3 + [False] * 2,
                          "pop_class": ["resident"] * 3 + ["non_human"] * 2})
    # a: home found; b: home placed at work (the night-shift swap); c: home found
    hw = pd.DataFrame({"user_id": ["a", "b", "c", "m1", "m2"],
                       "pop_class": ["resident", "resident", "resident", "non_human",
                                     "resident"],
                       "home_lon": [104.06, 104.10, 104.06, np.nan, np.nan],
                       "home_lat": [30.66] * 3 + [np.nan] * 2,
                       "work_lon": [104.10, np.nan, 104.10, np.nan, np.nan],
                       "work_lat": [30.66, np.nan, 30.66, np.nan, np.nan],
                       "home_rule": ["day_rest", "night", "night", None, None],
                       "multicard_group": [None] * 5})
    r = ev.home_work_accuracy(hw, persons, cards, (104.06, 30.66))
    assert r["night_shift_residents"] == 2 and r["night_shift_home_within_500m"] == 0.5
    assert r["night_shift_home_at_work"] == 0.5
    assert r["night_shift_work_within_500m"] == 0.5  # b's work is missing
    assert r["night_shift_home_rule_day_rest"] == 0.5
    # everyone else (day shift): their homes and work places on their own line
    assert r["day_shift_residents"] == 1 and r["day_shift_home_within_500m"] == 1.0
    assert r["day_shift_work_within_500m"] == 1.0 and r["day_shift_home_rule_day_rest"] == 0.0
    nh = ev.non_human_accuracy(hw, cards)
    assert (nh["precision"], nh["recall"]) == (1.0, 0.5)
    truth = pd.DataFrame({"unit_id": ["C1", "T1", "T2", "T3"],
                          "level": ["county", "township", "township", "township"],
                          "resident_population": [3000, 1000, 60, 40]})
    table = pd.DataFrame({"unit_id": ["C1", "T1", "T2", "T3"], "pop_class": "resident",
                          "raw_count": 1, "expanded_count": [3000.0, 1050.0, 75.0, 10.0]})
    pop = ev.population_errors(table, truth)
    t50 = pop["township_50"]
    assert t50["units"] == 2 and t50["max_abs_error"] == 0.25  # T3 (40 people) left out
    assert t50["distribution"]["within_10pct"] == 0.5
    result = {"home_work": r, "non_human": nh, "population": pop,
              "classes": ev.class_accuracy(hw, cards),
              "multicard": ev.multicard_pairs(hw, cards), "stays": None}
    rows = {row["measure"].split(" (")[0]: row for row in ev.accuracy_table(result)}
    assert rows["night-shift workers' homes within 500 m"]["met"] is False
    assert rows["night-shift workers' homes within 500 m"]["value"].startswith("50.0 %")
    assert rows["townships ≥ 50 true residents, expanded error"]["met"] is False
    assert rows["stays precision / recall"]["met"] is None
    assert rows["homes within 500 m"]["value"] == "66.7 %"
    # a city without night-shift workers: the line says so, not a number
    day = ev.home_work_accuracy(hw, persons.drop(columns="shift"), cards, (104.06, 30.66))
    text = ev.accuracy_markdown({**result, "home_work": day})
    assert "| night-shift workers' homes within 500 m | n/a (none in this city) | ≥ 80 % | " \
           "n/a |" in text, text


def test_level_gap_fact_is_the_largest_of_the_jobs_level_gates(monkeypatch):
    """A job with two level gates (commute: jobs_housing's and commute's) records the
    largest gap as its ``level_gap`` fact, whatever their order, and a gate that compared
    nothing leaves it as it was (before, the last gate's gap replaced the first's)."""
    from mobsig import population

    gaps = iter([(0.02, ""), (0.0, ""), (None, "")])
    monkeypatch.setattr(population, "level_gap_check", lambda *a, **k: next(gaps))
    ctx = FakeCtx()
    for suite in ("jobs_housing_levels", "commute_levels", "other_levels"):
        population.gate_levels(ctx, None, suite, "t", 0.05)
        assert ctx.facts["level_gap"] == 0.02, suite
