"""Interval audit of a release and the audited suppression rule (issue 17 items 2, 2b):
the issue's examples, a randomized 60-table simulation attacked by an independent integer
programme, row-order independence, the gate and the config. The city's release is
audited in tests/test_population.py (``pop`` fixture: the chain's unsuppressed table)."""

from __future__ import annotations

import os
import types

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from mobsig import privacy
from mobsig import privacy_audit as pa
from mobsig.config import build_config
from mobsig.errors import ConfigError, DataQualityError

K = 15
COLS = ["level", "parent_id", "unit_id", "pop_class", "raw_count", "expanded_count"]
SERVICE = ("resident", "short_term", "actual_service")


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([(*r, 10.0 * r[4]) for r in rows], columns=COLS)


def _hidden(pdf: pd.DataFrame, mask: np.ndarray) -> dict[tuple[str, str], int]:
    sel = pdf[mask]
    return {(u, c): int(v) for u, c, v in zip(sel["unit_id"], sel["pop_class"],
                                              sel["raw_count"], strict=True)}


# --------------------------------------------------------------------------------------
# an independent attacker: integer programmes written from the table's structure


def attack(pdf: pd.DataFrame, mask: np.ndarray, groups: list[tuple[dict, float]]
           ) -> dict[tuple[str, str], tuple[float, float]]:
    """The least and greatest value of each hidden cell over every non-negative integer
    table that keeps the published cells, satisfies ``groups`` (``{(unit, class): coef}``
    with ``sum coef * x == 0``) and has every hidden non-zero cell >= 1 (zeros are
    published): scipy's milp on a dense matrix, nothing shared with mobsig."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    value = {(u, c): float(v) for u, c, v in zip(pdf["unit_id"], pdf["pop_class"],
                                                 pdf["raw_count"], strict=True)}
    hidden = sorted(_hidden(pdf, mask))
    index = {h: i for i, h in enumerate(hidden)}
    a, b = [], []
    for coefs, rhs in groups:
        row = np.zeros(len(hidden))
        known = rhs
        for cell, w in coefs.items():
            if cell in index:
                row[index[cell]] += w
            else:
                known -= w * value[cell]
        if row.any():
            a.append(row)
            b.append(known)
    lb = np.array([1.0 if value[h] > 0 else 0.0 for h in hidden])
    cons = [LinearConstraint(np.array(a), b, b)] if a else []
    out = {}
    for h in hidden:
        c = np.zeros(len(hidden))
        c[index[h]] = 1.0
        lo = milp(c, integrality=np.ones(len(hidden)), bounds=Bounds(lb, np.inf),
                  constraints=cons)
        hi = milp(-c, integrality=np.ones(len(hidden)), bounds=Bounds(lb, np.inf),
                  constraints=cons)
        assert lo.status == 0, lo.message
        out[h] = (lo.fun, -hi.fun if hi.status == 0 else np.inf)
    return out


def tree_groups(pdf: pd.DataFrame, classes=SERVICE) -> list[tuple[dict, float]]:
    """The relations of a city / county / township table: parent = sum of children per
    class, actual_service = resident + short_term per unit."""
    out = []
    for (parent, cls), kids in pdf[pdf["parent_id"].notna()].groupby(["parent_id",
                                                                      "pop_class"]):
        if cls in classes and ((pdf["unit_id"] == parent) & (pdf["pop_class"] == cls)).any():
            coefs = {(parent, cls): 1.0}
            coefs.update({(u, cls): -1.0 for u in kids["unit_id"]})
            out.append((coefs, 0.0))
    for unit in pdf["unit_id"].unique():
        out.append(({(unit, "actual_service"): 1.0, (unit, "resident"): -1.0,
                     (unit, "short_term"): -1.0}, 0.0))
    return out


# --------------------------------------------------------------------------------------
# the examples


def test_two_small_townships_under_a_published_county_are_protected():
    """Townships [1, 1, 40, 50] under a county of 92: the group rule hides the two 1s
    (two cells, so no complement), and 1 + 1 = 2 with both >= 1 pins both to 1. The
    audited rule hides the 40 too: each small cell then lies anywhere in [1, 40]."""
    pdf = _frame([("county", None, "C", "resident", 92)]
                 + [("township", "C", f"T{i}", "resident", v)
                    for i, v in enumerate([1, 1, 40, 50])])
    groups = [({("C", "resident"): 1.0, **{(f"T{i}", "resident"): -1.0 for i in range(4)}},
               0.0)]
    old = privacy.suppression_mask(pdf, K)
    assert _hidden(pdf, old) == {("T0", "resident"): 1, ("T1", "resident"): 1}
    before = pa.audit(pdf, old, K)
    assert not before.passed and (before.cells["width"] == 0).all()
    assert attack(pdf, old, groups) == {("T0", "resident"): (1, 1), ("T1", "resident"): (1, 1)}
    assert "township T0 resident: [1, 1]" in before.failures()

    mask, result = pa.audited_suppression_mask(pdf, K)
    assert _hidden(pdf, mask) == {("T0", "resident"): 1, ("T1", "resident"): 1,
                                  ("T2", "resident"): 40}
    assert result.passed and result.added == 1 and result.min_width >= K
    got = attack(pdf, mask, groups)
    assert got[("T0", "resident")] == (1, 40) and got[("T2", "resident")] == (1, 40)
    exact = pa.audit(pdf, mask, K, shortcut=False).cells.set_index("unit_id")
    assert exact.loc["T0", ["lo", "hi"]].tolist() == [1, 40]


def _county_2b() -> pd.DataFrame:
    """The 1,500-person city's county 990104 (issue 17 item 2b): residents 98 in four
    published townships (22 + 30 + 46 + 0), short_term 9 (their longest night outside
    every township: the township layer does not tile the county for short_term, a gap the
    audit keeps as an inequality), actual_service 107; two more counties beside it."""
    county = {"990104": ([22, 30, 46, 0], [0, 0, 0, 0], 9),
              "990105": ([20, 40], [11, 9], 20), "990106": ([35, 40], [8, 8], 16)}
    rows = [("city", None, "X", "resident", 98 + 60 + 75),
            ("city", None, "X", "short_term", 9 + 20 + 16),
            ("city", None, "X", "actual_service", 107 + 80 + 91)]
    for cid, (res, st, c_st) in county.items():
        rows += [("county", "X", cid, "resident", sum(res)),
                 ("county", "X", cid, "short_term", c_st),
                 ("county", "X", cid, "actual_service", sum(res) + c_st)]
        for i, (r, s) in enumerate(zip(res, st, strict=True)):
            tid = f"{cid}00{i + 1}"
            rows += [("township", cid, tid, "resident", r),
                     ("township", cid, tid, "short_term", s),
                     ("township", cid, tid, "actual_service", r + s)]
    return _frame(rows)


def test_suppressed_county_is_not_recovered_by_addition_across_layers():
    """Item 2b: the group rule hides county 990104's short_term (9) and, for its identity,
    its resident count (98), but all four townships' residents are published: 98 by
    addition, and 107 - 98 = 9. The audited rule protects both."""
    pdf = _county_2b()
    # the attacker knows the relations that hold: not short_term (and actual_service)
    # of 990104 = the sum over its townships
    groups = [g for g in tree_groups(pdf)
              if not (("990104", "short_term") in g[0] and len(g[0]) > 3)
              and not (("990104", "actual_service") in g[0] and len(g[0]) > 3)]
    old = privacy.suppression_mask(pdf, K)
    hid = _hidden(pdf, old)
    assert hid[("990104", "resident")] == 98 and hid[("990104", "short_term")] == 9
    assert not any(u.startswith("990104") for u, _ in hid if u != "990104")
    before = attack(pdf, old, groups)
    assert before[("990104", "resident")] == (98, 98)
    assert before[("990104", "short_term")] == (9, 9)
    cells = pa.audit(pdf, old, K).cells.set_index(["unit_id", "pop_class"])
    assert cells.loc[("990104", "short_term"), ["lo", "hi"]].tolist() == [9, 9]

    mask, result = pa.audited_suppression_mask(pdf, K)
    assert result.passed
    after = attack(pdf, mask, groups)
    assert all(hi - lo >= K for lo, hi in after.values()), after
    assert old[mask == False].sum() == 0  # noqa: E712  (only adds to the group rule)


# --------------------------------------------------------------------------------------
# randomized: 60 tables of 6 counties


def county_table(rng: np.random.Generator, n_counties: int = 6, mean: float = 20.0
                 ) -> pd.DataFrame:
    """A city of ``n_counties`` counties of 3-6 townships; each township's residents are
    Poisson with a gamma-distributed mean (``mean`` on average), short-term cards a fifth
    of that: city, county and township rows of resident, short_term and actual_service
    (counts that add up exactly, as the pipeline's levels do)."""
    rows = []
    for c in range(n_counties):
        cid = f"C{c}"
        for t in range(int(rng.integers(3, 7))):
            lam = rng.gamma(1.5, mean / 1.5)
            r, s = int(rng.poisson(lam)), int(rng.poisson(lam / 5))
            rows += [("township", cid, f"{cid}T{t}", "resident", r),
                     ("township", cid, f"{cid}T{t}", "short_term", s),
                     ("township", cid, f"{cid}T{t}", "actual_service", r + s)]
    town = pd.DataFrame(rows, columns=COLS[:5])
    county = town.groupby(["parent_id", "pop_class"], as_index=False)["raw_count"].sum()
    county = county.rename(columns={"parent_id": "unit_id"}).assign(level="county",
                                                                     parent_id="X")
    city = county.groupby("pop_class", as_index=False)["raw_count"].sum().assign(
        level="city", parent_id=None, unit_id="X")
    out = pd.concat([city, county, town], ignore_index=True)[COLS[:5]]
    return out.assign(expanded_count=10.0 * out["raw_count"])


def test_no_suppressed_cell_is_narrower_than_k_in_60_random_tables():
    """60 random tables (6 counties, a mean of 20 residents per township): the group rule
    leaves cells an integer programme pins down (exactly, or narrower than k); after the
    audited rule none is narrower than k (the audit's exact bounds, and an independent
    attacker on every tenth table agrees with them cell by cell)."""
    rng = np.random.default_rng(17)
    narrow_before = exact_before = cells = attacked = 0
    for i in range(60):
        pdf = county_table(rng)
        old = privacy.suppression_mask(pdf, K)
        if i % 3 == 0:  # the group rule on a third of the tables (a width below K is exact)
            before = pa.audit(pdf, old, K).cells
            narrow_before += int((before["width"] < K).sum())
            exact_before += int((before["width"] == 0).sum())
        mask, result = pa.audited_suppression_mask(pdf, K)
        # every nonzero hidden cell at least K wide (a hidden zero reveals nobody: zeros
        # are published, it is not solved)
        nonzero = result.cells["raw_count"] > 0
        assert result.passed and (result.cells.loc[nonzero, "width"] >= K).all()
        assert sorted(result.cells["pos"]) == np.flatnonzero(mask).tolist()
        assert not (old & ~mask).any()  # the rule only adds complements
        published = pdf[~mask]
        assert ((published["raw_count"] == 0) | (published["raw_count"] >= K)).all()
        cells += len(result.cells)
        if i % 10 == 0:
            check = pa.audit(pdf, mask, K, shortcut=False).cells
            got = attack(pdf, mask, tree_groups(pdf))
            want = {(u, c): (lo, hi) for u, c, lo, hi in zip(
                check["unit_id"], check["pop_class"], check["lo"], check["hi"], strict=True)}
            assert got == want
            attacked += len(got)
    assert narrow_before > 20 and exact_before > 0, (narrow_before, exact_before)
    assert cells > 1000 and attacked > 100, (cells, attacked)


def test_audited_rule_does_not_depend_on_row_order():
    rng = np.random.default_rng(3)
    for _ in range(4):
        pdf = county_table(rng, n_counties=3)
        want, _ = pa.audited_suppression_mask(pdf, K)
        for _ in range(3):
            perm = rng.permutation(len(pdf))
            got, _ = pa.audited_suppression_mask(pdf.iloc[perm].reset_index(drop=True), K)
            assert (got == want[perm]).all()


def test_engines_agree():
    """The warm-started HiGHS engine and scipy's public linprog/milp give the same
    intervals (grid and daily_present rows included: root totals, inequalities)."""
    rng = np.random.default_rng(5)
    pdf = county_table(rng, n_counties=3)
    grid = pdf[pdf["level"] == "township"].assign(level="grid", parent_id=None)
    grid["unit_id"] = "g" + grid["unit_id"]
    dp = pdf[pdf["pop_class"] == "resident"].assign(pop_class="daily_present")
    dp["raw_count"] = (dp["raw_count"] * 0.7).round().astype(int)
    full = pd.concat([pdf, grid, dp], ignore_index=True)
    system = pa.relations(full)
    assert "city resident total = grid resident total" in system.eq_text
    assert any("<= its parent" in t for t in system.ub_text)
    mask = privacy.suppression_mask(full, K)
    a = pa.audit(full, mask, K, shortcut=False).cells
    b = pa.audit(full, mask, K, shortcut=False, engine="linprog").cells
    pd.testing.assert_frame_equal(a, b)
    assert np.isinf(a["hi"]).sum() < len(a)


def test_probed_components_give_the_exact_verdicts():
    """The shortcuts (daily_presence's cost) are exact: the probes of large components
    (random-sign programmes boxed at truth + 2 width) and the LP bounds of a narrow cell
    (no integer programme). On tables with a grid (one large component per class), every
    cell gets the same protected verdict as with both bounds solved per cell; a narrow
    cell's interval contains its exact one (the same where exact), a cleared cell's lies
    within its exact one; and they save programmes."""
    rng = np.random.default_rng(11)
    probed = 0
    for n_counties in (6, 12):
        pdf = county_table(rng, n_counties=n_counties, mean=12.0)
        grid = pdf[pdf["level"] == "township"].assign(level="grid", parent_id=None)
        grid["unit_id"] = "g" + grid["unit_id"]
        full = pd.concat([pdf, grid], ignore_index=True)
        mask = privacy.suppression_mask(full, K)
        system = pa.relations(full)
        fast = pa.audit(full, mask, K, system=system)
        exact = pa.audit(full, mask, K, system=system, shortcut=False)
        f, e = fast.cells.set_index("pos"), exact.cells.set_index("pos")
        assert (f["protected"] == e["protected"]).all()
        assert (~e["protected"]).any() and e["protected"].any()
        narrow = ~e["protected"]
        assert (f.loc[narrow, "lo"] <= e.loc[narrow, "lo"]).all()
        assert (f.loc[narrow, "hi"] >= e.loc[narrow, "hi"]).all()
        both = narrow & f["exact"]
        pd.testing.assert_frame_equal(f.loc[both, ["lo", "hi"]], e.loc[both, ["lo", "hi"]])
        # hidden zeros (zeros published) get no programme: protected, the values seen
        zero = f["raw_count"] == 0
        assert f.loc[zero, "protected"].all() and not f.loc[zero, "exact"].any()
        cleared = ~f["exact"] & f["protected"]
        assert (f.loc[cleared, "lo"] >= e.loc[cleared, "lo"]).all()
        assert (f.loc[cleared, "hi"] <= e.loc[cleared, "hi"]).all()
        assert (f.loc[cleared & ~zero, "width"] >= K).all()
        probed += int(cleared.sum())
        assert fast.n_programs < exact.n_programs
    assert probed > 20, probed


def test_narrow_cells_shown_on_their_own_relations_keep_the_exact_verdicts(monkeypatch):
    """The local relaxation of a large component (``privacy_audit._Local``): a cell not
    seen wide is first solved over its small relations alone (two hops deep, every
    other relation dropped); narrower than k there, it is narrow, with no programme over
    the component. A component of a province's size is probed by windows first
    (``_Local.probe_windows``: a window's cells free, every other cell at its true value,
    so its tables are tables of the whole system; the cells left in windows of 4 and 10
    times that, never a probe over the whole component), its cells left shown narrow that
    way, and only the rest solved over the component. On a 40-county table with a grid (one
    component of the hidden cells per class, linked by the grid total = the city total),
    the same probed by windows of 60 cells, and forced onto a 6-county table's small
    components (LOCAL_MIN = 1): every cell gets the exact audit's verdict, a cell cleared
    without its own programmes lies within its exact interval, a narrow cell's interval
    contains its exact one, and the relations reported as
    binding it pin it by themselves (its interval over them alone, all their cells free,
    is narrower than k): where the audited rule looks for a complement."""
    rng = np.random.default_rng(23)
    probed: list[int] = []  # the windows' programmes, per call
    by_windows = pa._Local.probe_windows
    comps: list[int] = []  # the cells of every component probed by windows
    monkeypatch.setattr(pa._Local, "probe_windows", lambda self, *a: (
        comps.append(len(self.lb)), probed.append(by_windows(self, *a)), probed[-1])[2])
    window_min = pa.WINDOW_MIN
    sizes: list[int] = []  # the cells of every probe, per call
    plain_probe = pa._probe
    monkeypatch.setattr(pa, "_probe", lambda prog, lb, *a: (
        sizes.append(len(lb)), plain_probe(prog, lb, *a))[1])
    for n_counties, local_min, windows in ((40, pa.LOCAL_MIN, None), (40, pa.LOCAL_MIN, 60),
                                           (6, 1, None)):
        # windows: of 60 cells, from components of 100 (a province's size, scaled down)
        monkeypatch.setattr(pa, "WINDOW_MIN", 100 if windows else window_min)
        monkeypatch.setattr(pa, "WINDOW", windows or pa.WINDOW)
        probed.clear()
        sizes.clear()
        comps.clear()
        pdf = county_table(rng, n_counties=n_counties, mean=12.0)
        grid = pdf[pdf["level"] == "township"].assign(level="grid", parent_id=None)
        grid["unit_id"] = "g" + grid["unit_id"]
        full = pd.concat([pdf, grid], ignore_index=True)
        mask = privacy.suppression_mask(full, K)
        system = pa.relations(full)
        exact = pa.audit(full, mask, K, system=system, shortcut=False)
        e = exact.cells.set_index("pos")
        monkeypatch.setattr(pa, "LOCAL_MIN", local_min)
        fast = pa.audit(full, mask, K, system=system)
        f = fast.cells.set_index("pos")
        assert (f["protected"] == e["protected"]).all()
        cleared = ~f["exact"] & f["protected"] & (f["raw_count"] > 0)
        assert (f.loc[cleared, "lo"] >= e.loc[cleared, "lo"]).all()
        assert (f.loc[cleared, "hi"] <= e.loc[cleared, "hi"]).all()
        assert (f.loc[cleared, "width"] >= K).all() and cleared.sum() > 20
        assert bool(windows) == (sum(probed) > 0), probed  # the windows' programmes ran
        if windows:  # no probe over a component probed by windows; larger windows ran
            assert comps and not set(comps) & set(sizes), (comps, sizes)
            assert any(windows < n <= windows * max(pa.WINDOW_GROWTH) for n in sizes), sizes
        shown = ~f["protected"] & ~f["exact"]
        assert shown.sum() >= 10, shown.sum()  # the relaxation decided these
        assert (f.loc[shown, "lo"] <= e.loc[shown, "lo"]).all()
        assert (f.loc[shown, "hi"] >= e.loc[shown, "hi"]).all()
        raw = full["raw_count"].to_numpy(float)
        lb = np.where(raw > 0, 1.0, 0.0)
        rows = system.rows
        n_eq = system.eq.shape[0]
        for pos in f.index[shown][:25]:
            b = np.array(sorted(fast.binding[int(pos)]))
            assert len(b), pos
            sub = rows[b]
            cells = np.unique(sub.indices)
            free = cells[mask[cells]]
            known = cells[~mask[cells]]
            rhs = -(sub[:, known] @ raw[known])
            lo_row = np.where(b < n_eq, rhs, -np.inf)
            prog = pa._Program(sub[:, free], lo_row, rhs, lb[free])
            at = int(np.searchsorted(free, pos))
            lo, hi = (prog.bound(at, s, True)[0] for s in (1.0, -1.0))
            assert hi - lo < K, (pos, lo, hi)
        assert fast.n_programs < exact.n_programs


def test_a_hidden_zero_needs_no_programme_where_zeros_are_published():
    """A hidden zero is protected whatever its interval where zeros are published (pinned
    at 0 it reveals nobody): with the shortcut it gets no programme of its own, so the
    verdicts and the nonzero cells' intervals stay those of the exact audit; with zeros
    suppressed it is a cell like any other. Townships [0, 20, 40, 40] under a county of
    100, the 0 and the 20 hidden: the 20 lies in [1, 20] (the 0 takes the rest)."""
    pdf = _frame([("county", None, "C", "resident", 100)]
                 + [("township", "C", f"T{i}", "resident", v)
                    for i, v in enumerate([0, 20, 40, 40])])
    mask = pdf["unit_id"].isin(["T0", "T1"]).to_numpy()
    fast = pa.audit(pdf, mask, K)
    exact = pa.audit(pdf, mask, K, shortcut=False)
    f, e = fast.cells.set_index("unit_id"), exact.cells.set_index("unit_id")
    assert fast.n_programs == 2 and exact.n_programs == 4  # the 20's two bounds only
    assert f.loc["T1", ["lo", "hi", "exact"]].tolist() == [1, 20, True]
    assert e.loc["T0", ["lo", "hi"]].tolist() == [0, 19]
    assert f.loc["T0", "protected"] and not f.loc["T0", "exact"]
    assert fast.passed and exact.passed and fast.min_width == exact.min_width == 19
    # zeros suppressed: both lie in [0, 20] (the one solved first shows the other's range)
    hidden_zeros = pa.audit(pdf, mask, K, suppress_zeros=True).cells.set_index("unit_id")
    assert hidden_zeros[["lo", "hi"]].to_numpy().tolist() == [[0, 20], [0, 20]]


def test_relations_follow_the_data():
    """A child layer that does not tile its parent gives the inequality that holds; a
    layer whose total is not the grid's is not tied to it."""
    pdf = _frame([("county", None, "C", "resident", 30),
                  ("township", "C", "T1", "resident", 10),
                  ("township", "C", "T2", "resident", 12),  # 8 homes in no township
                  ("park", None, "P", "resident", 5),
                  ("grid", None, "g1", "resident", 20), ("grid", None, "g2", "resident", 10)])
    system = pa.relations(pdf)
    assert system.eq_text == ["county resident total = grid resident total"]
    assert system.ub_text == ["county C resident vs sum of its township units"]
    x = pdf["raw_count"].to_numpy(float)
    assert (system.ub @ x <= 0).all() and (system.eq @ x == 0).all()
    # the township cells may be anything up to the county's 30 minus the other
    mask = np.array([False, True, True, False, False, False])
    cells = pa.audit(pdf, mask, 5, shortcut=False).cells.set_index("unit_id")
    assert cells.loc["T1", ["lo", "hi"]].tolist() == [1, 29]


# --------------------------------------------------------------------------------------
# the gate and the config


def test_gate_fails_naming_cells_and_intervals(tmp_path):
    from mobsig.runner import JobContext

    pdf = _frame([("county", None, "C", "resident", 92)]
                 + [("township", "C", f"T{i}", "resident", v)
                    for i, v in enumerate([1, 1, 40, 50])])
    result = pa.audit(pdf, privacy.suppression_mask(pdf, K), K)
    facts: dict = {}
    ctx = types.SimpleNamespace(
        cfg=types.SimpleNamespace(quality_dir=tmp_path), label="month=2026-06",
        spec=types.SimpleNamespace(name="population_by_unit"),
        result=types.SimpleNamespace(gates=[]), fact=facts.__setitem__,
        log=types.SimpleNamespace(info=lambda *a: None))
    ctx.check = lambda *a, **kw: JobContext.check(ctx, *a, **kw)
    with pytest.raises(DataQualityError) as err:
        pa.gate(ctx, result, "population_by_unit")
    text = str(err.value)
    assert "under_protected" in text and "privacy.protection_width (15)" in text
    assert "township T0 resident: [1, 1]" in text and "township T1 resident: [1, 1]" in text
    assert facts["privacy_cells_audited"] == 2 and facts["privacy_min_width"] == 0
    ok = pa.audited_suppression_mask(pdf, K)[1]
    pa.gate(ctx, ok, "population_by_unit")
    assert facts["privacy_min_width"] >= K and facts["privacy_complements_added"] == 1


def test_protection_width_config():
    assert build_config({}).privacy.width == build_config({}).privacy.k_min
    assert build_config({}, ["privacy.protection_width=20"]).privacy.width == 20
    with pytest.raises(ConfigError, match="protection_width"):
        build_config({}, ["privacy.protection_width=-1"])
    with pytest.raises(ConfigError, match="protection_width=5 is below privacy.k_floor"):
        build_config({}, ["privacy.protection_width=5"])
    weak = build_config({}, ["privacy.protection_width=5", "privacy.allow_below_floor=true"])
    assert weak.privacy.width == 5


def test_employed_cells_are_a_system_of_their_own():
    """jobs_housing's jobs are population_by_unit's employed cells: the audited rule on the
    employed rows alone (jobs_housing: measure 'jobs', no identities) hides exactly the
    cells it hides in the whole table (no relation links employed to another class)."""
    rng = np.random.default_rng(11)
    for _ in range(3):
        pdf = county_table(rng, n_counties=4)
        emp = pdf[pdf["pop_class"] == "resident"].copy()
        emp["raw_count"] = rng.poisson(emp["raw_count"].to_numpy() * 0.6)
        town = emp["level"] == "township"
        county = emp[town].groupby("parent_id")["raw_count"].sum()
        emp.loc[emp["level"] == "county", "raw_count"] = \
            emp.loc[emp["level"] == "county", "unit_id"].map(county).to_numpy()
        emp.loc[emp["level"] == "city", "raw_count"] = int(county.sum())
        full = pd.concat([pdf, emp.assign(pop_class="employed")], ignore_index=True)
        mask, result = pa.audited_suppression_mask(full, K)
        assert result.passed
        jobs = emp.rename(columns={"pop_class": "measure"}).assign(measure="jobs")
        alone, _ = pa.audited_suppression_mask(jobs, K, identities=(), additive=("jobs",),
                                               by="measure")
        assert (mask[len(pdf):] == alone).all()


def test_failures_name_the_breakdown_of_another_table():
    """jobs_housing audits its ``measure`` breakdown: the message names it."""
    pdf = _frame([("county", None, "C", "jobs", 92)]
                 + [("township", "C", f"T{i}", "jobs", v)
                    for i, v in enumerate([1, 1, 40, 50])]).rename(
        columns={"pop_class": "measure"})
    mask = privacy.suppression_mask(pdf, K, identities=(), by="measure")
    result = pa.audit(pdf, mask, K, identities=(), additive=("jobs",), by="measure")
    assert "township T0 jobs: [1, 1]" in result.failures()


def test_the_relaxation_stops_in_a_component_it_does_not_help(monkeypatch):
    """A component whose cells are narrow only through a large relation (an OD
    release's margins): 60 cells x_i in one relation summing to 60 (each at least 1, so
    each pinned at 1), each in a pair x_i + y_i = 40 (so y_i is pinned at 39). Over its
    own small relation each cell is anything from 1 to 39, so the relaxation shows none of
    them narrow: after ``LOCAL_TRIES`` tries it stops, and every cell still gets the exact
    interval from the component's programmes."""
    n = 60
    rows = [np.r_[np.ones(n), np.zeros(n)]]
    for i in range(n):
        r = np.zeros(2 * n)
        r[i] = r[n + i] = 1.0
        rows.append(r)
    a = sparse.csr_matrix(np.array(rows))
    rhs = np.r_[float(n), np.full(n, 40.0)]
    truth = np.r_[np.ones(n), np.full(n, 39.0)]
    calls: list[int] = []
    narrow = pa._Local.narrow
    monkeypatch.setattr(pa._Local, "narrow", lambda self, j, w: (
        calls.append(j), narrow(self, j, w))[1])
    lo, hi, exact, _binding, n_prog = pa._solve_component(
        a, rhs, rhs, np.ones(2 * n), truth, float(K), True, True, "highs")
    assert len(calls) == pa.LOCAL_TRIES < 2 * n
    assert (lo == truth).all() and (hi == truth).all() and exact.all()
    assert n_prog <= 2 * pa.LOCAL_TRIES + 2 * (2 * n) + 2 * pa.PROBE_ROUNDS


@pytest.mark.slow  # spawns worker processes (~1 s each to start)
def test_large_components_solved_in_worker_processes_give_the_same_audit(monkeypatch):
    """Components of at least PARALLEL_MIN hidden cells, two or more, are solved in
    spawned worker processes (README Privacy audit): each on its own, so the audit is the
    same, interval for interval, binding rows and programmes included, as when every
    component is solved in this process. A 40-county table with a grid, its components
    (one per class, ~400 cells) made "large" and its windows scaled down (the workers
    get the parent's settings)."""
    pdf = county_table(np.random.default_rng(23), n_counties=40, mean=12.0)
    grid = pdf[pdf["level"] == "township"].assign(level="grid", parent_id=None)
    grid["unit_id"] = "g" + grid["unit_id"]
    full = pd.concat([pdf, grid], ignore_index=True)
    mask = privacy.suppression_mask(full, K)
    system = pa.relations(full)
    monkeypatch.setattr(pa, "WINDOW_MIN", 100)
    monkeypatch.setattr(pa, "WINDOW", 60)
    monkeypatch.setattr(pa, "PARALLEL_MIN", 10**9)
    here = pa.audit(full, mask, K, system=system)
    monkeypatch.setattr(pa, "PARALLEL_MIN", 100)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})  # two cores
    submitted: list[int] = []
    pool = pa._pool
    monkeypatch.setattr(pa, "_pool", lambda n: (submitted.append(n), pool(n))[1])
    try:
        there = pa.audit(full, mask, K, system=system)
    finally:  # not kept for the rest of the session
        if pa._POOL:
            pa._POOL[0].shutdown()
            pa._POOL.clear()
    assert submitted == [2] * len(submitted) and submitted  # two workers, every round
    cols = ["pos", "lo", "hi", "exact", "protected"]
    assert there.cells[cols].equals(here.cells[cols])
    assert there.binding == here.binding and there.n_programs == here.n_programs
    assert pa._worker_count(1) == 1  # one large component: solved here


def _dies_in_a_worker(*args):
    """pa._solve_component, except in a worker process, which it kills (a worker lost to
    the kernel's out-of-memory killer)."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        os._exit(3)
    return _SOLVE(*args)


_SOLVE = pa._solve_component


@pytest.mark.slow  # spawns worker processes
def test_a_dead_worker_leaves_its_components_to_this_process(monkeypatch, caplog):
    """A worker process that dies (killed, out of memory) does not fail the audit: its
    components are solved in this process, with a warning, to the same audit."""
    pdf = county_table(np.random.default_rng(23), n_counties=40, mean=12.0)
    grid = pdf[pdf["level"] == "township"].assign(level="grid", parent_id=None)
    grid["unit_id"] = "g" + grid["unit_id"]
    full = pd.concat([pdf, grid], ignore_index=True)
    mask = privacy.suppression_mask(full, K)
    system = pa.relations(full)
    monkeypatch.setattr(pa, "WINDOW_MIN", 100)
    monkeypatch.setattr(pa, "WINDOW", 60)
    here = pa.audit(full, mask, K, system=system)
    monkeypatch.setattr(pa, "PARALLEL_MIN", 100)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(pa, "_solve_component", _dies_in_a_worker)
    monkeypatch.setattr(pa, "_SETTINGS", (*pa._SETTINGS, "_solve_component"))
    try:
        there = pa.audit(full, mask, K, system=system)
    finally:
        if pa._POOL:
            pa._POOL[0].shutdown()
            pa._POOL.clear()
    assert "a worker process died" in caplog.text
    cols = ["pos", "lo", "hi", "exact", "protected"]
    assert there.cells[cols].equals(here.cells[cols]) and there.n_programs == here.n_programs
