"""The interval audit of every release beside population_by_unit (issue 17 items 2, 2b,
2c): for each, a small hand-built table whose publication under the group rule alone lets
a reader pin a suppressed cell down (the audit catches it) and the audited rule that
prevents it; the city chain's releases are checked in tests/test_chain.py (the run facts
of every job's gate)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mobsig import privacy
from mobsig import privacy_audit as pa

K = 15


def _cells(rows, by: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["level", "parent_id", "unit_id", by, "raw_count"])


def _narrowest(pdf: pd.DataFrame, mask: np.ndarray, **rules) -> pa.Audit:
    return pa.audit(pdf, mask, K, shortcut=False, **rules)


# --------------------------------------------------------------------------------------
# daily_presence


def test_daily_presence_two_hidden_classes_are_caught_and_protected():
    """present 63 = resident 1 + short_term 20 + visitor 1 + unidentified 20 + unknown 21:
    the group rule hides resident and visitor (two hidden cells in the identity, so no
    complement), and their sum 2 with both >= 1 gives both exactly. The audited rule of
    the day's release hides a third class; each small cell then lies in [1, 20]."""
    from mobsig import presence

    rules = presence.audit_rules()
    by = rules["by"]
    classes = dict(present=63, resident=1, short_term=20, visitor=1, unidentified=20,
                   unknown=21)
    rows = [("county", None, "C", c, v) for c, v in classes.items()]
    rows += [("county", None, "C", h, 30 if h.endswith("@10") else 0)
             for h in presence.hour_cells()]
    pdf = _cells(rows, by)
    old = privacy.suppression_mask(pdf, K, identities=rules["identities"], by=by)
    before = _narrowest(pdf, old, **rules)
    assert not before.passed
    got = before.cells.set_index(by).loc[["resident", "visitor"], ["lo", "hi"]]
    assert got.to_numpy().tolist() == [[1, 1], [1, 1]]
    mask, result = pa.audited_suppression_mask(pdf, K, **rules)
    assert result.passed and mask.sum() == 3, result.failures()
    assert _narrowest(pdf, mask, **rules).passed


def test_daily_presence_hour_is_bounded_by_the_day():
    """An hour is at most the day: a hidden hour under a published present of 16 lies
    in [1, 16] only; the audit knows the bound (without it the hour is unbounded)."""
    from mobsig import presence

    rules = presence.audit_rules()
    by = rules["by"]
    rows = [("county", None, "C", "present", 16), ("county", None, "C", "resident", 16)]
    rows += [("county", None, "C", c, 0) for c in presence.CLASSES if c != "resident"]
    rows += [("county", None, "C", h, 3 if h.endswith("@05") else 0)
             for h in presence.hour_cells()]
    pdf = _cells(rows, by)
    mask = pdf["raw_count"].between(1, K - 1).to_numpy()
    cell = _narrowest(pdf, mask, **rules).cells.iloc[0]
    assert (cell["lo"], cell["hi"]) == (1, 16)
    loose = _narrowest(pdf, mask, **{**rules, "bounds": ()}).cells.iloc[0]
    assert loose["hi"] == np.inf


# --------------------------------------------------------------------------------------
# service_population (monthly, daily and catchment as one release)


def _service(monthly: dict, daily: dict, catchment: list) -> pd.DataFrame:
    from mobsig import service_population as sp

    m = pd.DataFrame([("park", "P", r, v) for r, v in monthly.items()],
                     columns=["level", "unit_id", "visit_role", "raw_count"])
    d = pd.DataFrame([("park", "P", day, r, v) for day, roles in daily.items()
                      for r, v in roles.items()],
                     columns=["level", "unit_id", "key_date", "visit_role", "raw_count"])
    c = pd.DataFrame([("park", "P", lv, u, p, v) for lv, u, p, v in catchment],
                     columns=["zone_level", "zone_id", "level", "unit_id", "parent_id",
                              "raw_count"])
    for f in (m, d, c):
        f["is_suppressed"] = f["raw_count"].between(1, K - 1)
    return sp.release_table(m, d, c)


def test_service_population_roles_and_catchment_are_audited_together():
    """A zone with resident 1 and worker 1 hidden under a published total 40 (both pinned
    at 1 by the identity, no lone hidden cell for the group rule), and a catchment whose
    township T1 (3, hidden) has a published sibling T2 (17) under its published county C
    (20): T1 = 20 - 17 (primary cells only in this table).
    The audited release hides more (the visitor role, T2) and every suppressed cell is
    then at least k wide; a zone whose visitors become hidden publishes no catchment
    cell."""
    from mobsig import service_population as sp

    table = _service(
        {"total": 40, "resident": 1, "worker": 1, "visitor": 38},
        {"2026-06-01": {"total": 40, "resident": 1, "worker": 1, "visitor": 38}},
        [("county", "C", None, 20), ("county", "unknown", None, 18),
         ("township", "T1", "C", 3), ("township", "T2", "C", 17),
         ("township", "unknown", None, 18)])
    rules = sp.audit_rules(table)
    old = table["is_suppressed"].to_numpy()
    before = pa.audit(table, old, K, shortcut=False, **{k: v for k, v in rules.items()})
    narrow = before.cells[~before.cells["protected"]]
    assert {"resident", "worker", "resident@2026-06-01", "worker@2026-06-01"} <= set(
        narrow["_cell"])
    assert "P" in " ".join(narrow["unit_id"]) and len(narrow) >= 5
    mask, result = sp.audited_release(table, K, K, True, False)
    assert result.passed, result.failures()
    assert pa.audit(table, mask, K, shortcut=False, **rules).passed
    visitor = (table["part"] == "monthly") & (table["_cell"] == "visitor")
    if mask[visitor.to_numpy()].any():
        assert mask[(table["part"] == "catchment").to_numpy()].all()


# --------------------------------------------------------------------------------------
# exposure_hazards (per point and hour: exposed = residents + visitors)


def test_exposure_hazards_two_small_parts_under_a_published_total():
    """exposed 15 = residents 7 + visitors 8: the group rule hides both parts (never
    exactly one of three hidden) and publishes 15, so each part lies in [1, 14], narrower
    than k. The audited rule hides the exposed count too."""
    from mobsig import hazards

    pdf = pd.DataFrame({"level": "hazard", "unit_id": "H1", "hour": 10,
                        "measure": list(hazards.MEASURES), "raw_count": [15, 7, 8]})
    old = hazards.suppress_hours(pdf, K, True, False)
    assert old.tolist() == [False, True, True]
    frame = pdf.assign(unit_id="H1@10", parent_id=None)
    rules = {"identities": ((hazards.EXPOSED, (hazards.RESIDENTS, hazards.VISITORS)),),
             "additive": (), "by": "measure"}
    before = _narrowest(frame, old, **rules)
    assert before.cells[["lo", "hi"]].to_numpy().tolist() == [[1, 14], [1, 14]]
    found: list = []
    new = hazards.suppress_hours(pdf, K, True, False, K, found)
    assert new.all() and found[0].passed and found[0].added == 1


# --------------------------------------------------------------------------------------
# land_use_intensity, screen_farmland, screen_reserves, screen_idle_land
# (privacy_audit.suppress_release: every measure, every layer at once)


def test_screening_tables_siblings_under_a_published_parent():
    """Parcels [1, 1, 40, 50] under a county of 92 in the same table and measure (the
    issue's first example): the group rule hides the two 1s and their sum 2 pins both.
    The rule of suppress_release (every label additive where the data add up) hides
    the 40 as well."""
    from mobsig import farmland, idle_land, land_use, reserves

    for measure in {*land_use.MEASURES, *farmland.MEASURES, *reserves.MEASURES,
                    *idle_land.MEASURES}:
        rows = [("county", None, "C", measure, 92)]
        rows += [("parcel", "C", f"P{i}", measure, v) for i, v in enumerate([1, 1, 40, 50])]
        pdf = _cells(rows, "measure")
        rules = {"identities": (), "additive": None, "by": "measure"}
        old = privacy.suppression_mask(pdf, K, identities=(), by="measure")
        before = _narrowest(pdf, old, **rules)
        assert before.cells[["lo", "hi"]].to_numpy().tolist() == [[1, 1], [1, 1]], measure
        mask, result = pa.audited_suppression_mask(pdf, K, **rules)
        assert result.passed and mask.sum() == 3, measure


# --------------------------------------------------------------------------------------
# commute (the unit table's identities) and the OD tables (commute_od, linkage, trips)


def test_commute_time_bands_two_small_bands():
    """timed 17 = short 1 + medium 1 + long 15: the group rule hides short and medium (two
    hidden cells), whose sum 2 gives both. The audited rule (the totals commuters and
    inbound_commuters fixed: jobs_housing decides them) hides the long band too."""
    from mobsig import commute

    vals = {commute.COMMUTERS: 40, commute.TIMED: 17, commute.UNTIMED: 23,
            commute.DIST_SHORT: 20, commute.DIST_LONG: 20, commute.TIME_SHORT: 1,
            commute.TIME_MEDIUM: 1, commute.TIME_LONG: 15, commute.INBOUND: 30}
    pdf = _cells([("county", None, "C", m, v) for m, v in vals.items()], "measure")
    rules = {"identities": commute.IDENTITIES, "additive": None, "by": "measure"}
    old = privacy.suppression_mask(pdf, K, identities=commute.IDENTITIES, by="measure")
    before = _narrowest(pdf, old, **rules)
    assert not before.passed and before.min_width == 0
    mask, result = pa.audited_suppression_mask(
        pdf, K, forced=old, regroup=False, frozen=pdf["measure"].isin(commute.TOTALS),
        **rules)
    assert result.passed, result.failures()
    assert mask[pdf["measure"] == commute.TIME_LONG].all()
    assert not mask[pdf["measure"].isin(commute.TOTALS)].any()


def _commute_units() -> pd.DataFrame:
    """A county of 30 commuters over two townships of 15 (published: jobs_housing decides
    them): everybody is timed but one commuter of township T2, so untimed is 0 in T1
    (published) and 1 in T2; distance short/long 15/15 in the county, 8/7 and 7/8 below;
    time bands of the timed 15 / 14 / 29 split 5/5/5, 5/5/4 and 10/10/9."""
    from mobsig import commute as cm

    def unit(level, parent, uid, c, timed, dist, bands, inbound):
        vals = {cm.COMMUTERS: c, cm.TIMED: timed, cm.UNTIMED: c - timed,
                cm.DIST_SHORT: dist[0], cm.DIST_LONG: dist[1], cm.TIME_SHORT: bands[0],
                cm.TIME_MEDIUM: bands[1], cm.TIME_LONG: bands[2], cm.INBOUND: inbound}
        return [(level, parent, uid, m, v) for m, v in vals.items()]

    rows = (unit("county", None, "C", 30, 29, (15, 15), (10, 10, 9), 30)
            + unit("township", "C", "T1", 15, 15, (8, 7), (5, 5, 5), 15)
            + unit("township", "C", "T2", 15, 14, (7, 8), (5, 5, 4), 15))
    pdf = _cells(rows, "measure")
    pdf["is_suppressed"] = False
    return pdf


def test_commute_zeros_pin_the_parts_until_a_split_is_withdrawn():
    """The non-convergence of the city in small: untimed is 0 in T1 (published), 1 in T2.
    The group rule hides T2's untimed (1) and timed (14) and the county's (1, 29); a reader
    has T2 untimed = county untimed - 0, and both T2 parts within [1, 14] (their sum is
    the published 15, each >= 1 as zeros are published): narrower than 15. The former
    audited rule (single complements, totals frozen) cannot repair it: hiding T1's zero
    leaves T2's parts >= 1 under 15, it withholds the totals jobs_housing publishes
    instead. split_mask withdraws whole splits, zeros included (a
    reader cannot tell a withdrawn 0, so each part of T2 spans [0, 15]), and passes; the
    gate of the release raises on the group rule's leaking mask and passes on the rule's."""
    from mobsig import commute as cm

    pdf = _commute_units()
    rules = {"identities": cm.IDENTITIES, "additive": None, "by": "measure"}
    totals = pdf["measure"].isin(cm.TOTALS).to_numpy()
    group = privacy.suppression_mask(pdf.assign(_fixed=totals), K, True, False,
                                     identities=cm.IDENTITIES, by="measure", fixed="_fixed")
    before = _narrowest(pdf, group, **rules)
    assert not before.passed
    bad = before.cells[~before.cells[pa.PROTECTED]]
    assert ("T2", cm.UNTIMED) in set(zip(bad["unit_id"], bad["measure"], strict=True))
    old, old_audit = pa.withholding_mask(
        pdf, K, K, True, False, cm.IDENTITIES, None, "measure", forced=group,
        frozen=totals)
    # the former rule: no complement widens T2's parts (each >= 1 under 15); it passes
    # only by withholding totals that jobs_housing publishes (commuters = employed)
    assert not old_audit.passed or old[totals].any()
    mask, result = cm.split_mask(pdf.assign(is_suppressed=group), K)
    assert result.passed, result.failures()
    assert not mask[totals].any()  # commuters and inbound keep jobs_housing's state
    hidden = pdf[mask]
    # T2's timing split withdrawn whole (and its time bands, which would add up to timed)
    t2 = hidden[hidden["unit_id"] == "T2"]["measure"]
    assert {cm.TIMED, cm.UNTIMED, cm.TIME_SHORT, cm.TIME_MEDIUM, cm.TIME_LONG} <= set(t2)
    # the exact intervals: every hidden non-zero part spans at least the width
    exact = pa.audit(pdf, mask, K, shortcut=False, unknown_zero=mask & ~totals, **rules)
    assert exact.passed and exact.min_width >= K
    # the county's distance split (15 / 15) stays published: the planner keeps it
    county = pdf[(pdf["unit_id"] == "C") & ~mask]["measure"]
    assert {cm.DIST_SHORT, cm.DIST_LONG} <= set(county)


def test_commute_unit_gate_raises_on_a_leaking_release(tmp_path):
    """The gate of commute (commute_od and the unit table, one gate) fails the run on the
    group rule's mask of the unit table (exit 6, naming T2's untimed) and passes with
    split_mask's."""
    import types

    import pytest

    from mobsig import commute as cm
    from mobsig.errors import DataQualityError
    from mobsig.runner import JobContext

    pdf = _commute_units()
    totals = pdf["measure"].isin(cm.TOTALS).to_numpy()
    group = privacy.suppression_mask(pdf.assign(_fixed=totals), K, True, False,
                                     identities=cm.IDENTITIES, by="measure", fixed="_fixed")
    rules = {"identities": cm.IDENTITIES, "additive": None, "by": "measure"}
    leaking = pa.combine({"commute": pa.audit(pdf, group, K, **rules)}, K)
    ok = pa.combine({"commute": cm.split_mask(pdf.assign(is_suppressed=group), K)[1]}, K)

    def ctx():
        c = types.SimpleNamespace(
            cfg=types.SimpleNamespace(quality_dir=tmp_path), label="month=2026-06",
            spec=types.SimpleNamespace(name="commute"),
            result=types.SimpleNamespace(gates=[]), fact=lambda *a: None,
            log=types.SimpleNamespace(info=lambda *a: None, warning=lambda *a: None))
        c.check = lambda *a, **kw: JobContext.check(c, *a, **kw)
        return c

    with pytest.raises(DataQualityError, match="T2 commuters_untimed"):
        pa.gate(ctx(), leaking, "commute")
    pa.gate(ctx(), ok, "commute")


def test_commute_hidden_inbound_total_gets_a_hidden_child_inbound():
    """The test city with the work spacing rule: the OD rule withheld a city's inbound
    commuters (101) while its counties' (27, 26, 48) were published, which add up to it;
    the totals were never complements, so nothing was left to hide and the gate failed.
    split_mask now hides a published inbound total of the binding relation (the smallest
    >= the width: 26) and, by the group rule, a second sibling (27), keeps every
    commuters total and hides no part."""
    from mobsig import commute as cm

    def unit(level, parent, uid, c, inbound):
        vals = {cm.COMMUTERS: c, cm.TIMED: c, cm.UNTIMED: 0, cm.DIST_SHORT: c // 2,
                cm.DIST_LONG: c - c // 2, cm.TIME_SHORT: c, cm.TIME_MEDIUM: 0,
                cm.TIME_LONG: 0, cm.INBOUND: inbound}
        return [(level, parent, uid, m, v) for m, v in vals.items()]

    pdf = _cells(unit("city", None, "P", 90, 101) + unit("county", "P", "A", 30, 27)
                 + unit("county", "P", "B", 30, 26) + unit("county", "P", "C", 30, 48),
                 "measure")
    pdf["is_suppressed"] = (pdf["unit_id"] == "P") & (pdf["measure"] == cm.INBOUND)
    rules = {"identities": cm.IDENTITIES, "additive": None, "by": "measure"}
    before = pa.audit(pdf, pdf["is_suppressed"].to_numpy(), K, **rules)
    assert not before.passed  # [101, 101]: pinned by its layer
    mask, result = cm.split_mask(pdf, K)
    assert result.passed, result.failures()
    hidden = set(zip(pdf[mask]["unit_id"], pdf[mask]["measure"], strict=True))
    assert hidden == {("P", cm.INBOUND), ("B", cm.INBOUND), ("A", cm.INBOUND)}
    exact = pa.audit(pdf, mask, K, shortcut=False, **rules)
    assert exact.passed and exact.min_width >= K


# a 3 x 3 matrix (every row and column total at least k) where the bridge rule (linkage,
# trips) leaves cells pinned by the totals and the lower bound 1 of a hidden non-zero cell
MATRIX = {("r0", "c0"): 40, ("r0", "c1"): 16, ("r0", "c2"): 1, ("r1", "c0"): 5,
          ("r1", "c1"): 16, ("r1", "c2"): 25, ("r2", "c0"): 8, ("r2", "c1"): 25,
          ("r2", "c2"): 1}


def _matrix() -> pd.DataFrame:
    return pd.DataFrame([("L", r, c, v) for (r, c), v in MATRIX.items()],
                        columns=["level", "origin_id", "dest_id", "raw_count"])


def test_od_bridge_rule_is_caught_and_repaired():
    """linkage and trips_by_period: with every row and column total public, the bridge
    rule's hidden cells r0>c2 (1) and r1>c0 (5) are pinned exactly; the audit of
    privacy_audit.od_audited_mask catches it and hides more until every cell is k wide."""
    pdf = _matrix()
    old = privacy.od_suppression_mask(pdf, K)
    table, sums, _ = pa.od_release_table(pdf.assign(is_suppressed=old), ("origin_id",),
                                         ("dest_id",), k_min=K)
    hidden = np.r_[old, np.zeros(len(table) - len(pdf), bool)]
    before = pa.audit(table, hidden, K, identities=(), additive=(), by=pa.OD_CELL,
                      sums=sums, shortcut=False)
    cells = before.cells.set_index("unit_id")
    assert cells.loc["r0>c2", ["lo", "hi"]].tolist() == [1, 1]
    assert cells.loc["r1>c0", ["lo", "hi"]].tolist() == [5, 5]
    mask, result, row_out, col_out = pa.od_audited_mask(
        pdf.assign(is_suppressed=old), K, K, True, False, ("origin_id",), ("dest_id",))
    assert result.passed, result.failures()
    assert (mask >= old).all() and mask.sum() > old.sum()
    again = pa.audit(table, np.r_[mask, np.zeros(len(table) - len(pdf), bool)], K,
                     identities=(), additive=(), by=pa.OD_CELL, sums=sums, shortcut=False)
    assert again.passed


def test_od_total_pinning_a_hidden_column_is_withheld_with_a_partner():
    """A column of five hidden cells of 3 under a public total of 15 leaves each in
    [1, 11]: nothing left to hide widens it (the bridge rule hid the whole column), so the
    audit withholds that total, and a second column total with it (the row totals add up
    to the column totals: one withheld alone is the grand total minus the others). The
    release then passes with no further complement; before, the audit failed."""
    rows = [("L", f"r{i}", c, v) for i in range(5)
            for c, v in (("c0", 3), ("c1", 20 + i), ("c2", 30 + 2 * i))]
    pdf = pd.DataFrame(rows, columns=["level", "origin_id", "dest_id", "raw_count"])
    old = privacy.od_suppression_mask(pdf, K)
    pdf = pdf.assign(is_suppressed=old)
    _, stuck, _, _ = pa.od_audited_mask(pdf, K, K, True, False, ("origin_id",), ("dest_id",),
                                        withhold=False)
    assert not stuck.passed
    assert set(stuck.cells.loc[~stuck.cells["protected"], "unit_id"]) >= {
        f"r{i}>c0" for i in range(5)}
    mask, result, row_out, col_out = pa.od_audited_mask(pdf, K, K, True, False,
                                                        ("origin_id",), ("dest_id",))
    assert result.passed, result.failures()
    assert (mask == old).all() and result.withheld == 2 and not row_out.any()
    assert set(pdf["dest_id"][col_out]) == {"c0", "c1"}  # c1: the smaller other total
    # the reader's view without those two totals: every hidden cell at least k wide
    table, sums, _ = pa.od_release_table(pdf, ("origin_id",), ("dest_id",), k_min=K,
                                         drop=frozenset({("L", "", "col:c0"),
                                                         ("L", "", "col:c1")}))
    again = pa.audit(table, np.r_[mask, np.zeros(len(table) - len(pdf), bool)], K,
                     identities=(), additive=(), by=pa.OD_CELL, sums=sums, shortcut=False)
    assert again.passed and again.min_width >= 20
    # one total withheld alone is not enough: the grand total gives it back
    table, sums, _ = pa.od_release_table(pdf, ("origin_id",), ("dest_id",), k_min=K,
                                         drop=frozenset({("L", "", "col:c0")}))
    one = pa.audit(table, np.r_[mask, np.zeros(len(table) - len(pdf), bool)], K,
                   identities=(), additive=(), by=pa.OD_CELL, sums=sums, shortcut=False)
    assert not one.passed


def _kept_row_case() -> tuple[pd.DataFrame, np.ndarray]:
    """Origin A's 15 commuters go to five destinations, 3 each (all hidden by the rule);
    its row total is published elsewhere (jobs_housing's employed residents: kept);
    destination G has commuters from the other origins only."""
    cells = {("A", d): 3 for d in "BCDEF"}
    cells.update({("X", d): 20 for d in "BCDEFG"})
    cells.update({("Y", d): 25 for d in "BCDEFG"})
    pdf = pd.DataFrame([("L", o, d, v) for (o, d), v in cells.items()],
                       columns=["level", "origin_id", "dest_id", "raw_count"])
    pdf["is_suppressed"] = privacy.od_suppression_mask(pdf, K)
    return pdf, (pdf["origin_id"] == "A").to_numpy()


def test_a_kept_row_whose_every_pair_is_hidden_is_opened():
    """Nothing is left to hide nor to withhold around A's pairs: with zeros published a
    hidden pair is >= 1, so each is 1..11 under the public 15 (the audit failed the
    release). The audit opens the row: A's zero pair to G is listed as suppressed too, so
    a reader cannot tell a hidden pair of A from a zero; each is then 0..15 wide."""
    pdf, keep = _kept_row_case()
    assert pdf.loc[keep, "is_suppressed"].all()
    mask, result, row_out, col_out = pa.od_audited_mask(
        pdf, K, K, True, False, ("origin_id",), ("dest_id",), keep_rows=keep)
    assert result.passed, result.failures()
    pad = result.padded
    assert pad[["origin_id", "dest_id", "raw_count", "is_suppressed"]].values.tolist() == [
        ["A", "G", 0, True]]
    assert len(mask) == len(pdf) + 1 and mask[-1] and not row_out.any()
    cells = result.cells.set_index("unit_id")
    assert (cells.loc[[f"A>{d}" for d in "BCDEF"], "lo"] == 0).all()
    assert (cells.loc[[f"A>{d}" for d in "BCDEF"], "width"] >= K).all()
    # the same release without the opened row's zeros unknown: A's pairs are 1..11
    full = pd.concat([pdf, pad], ignore_index=True).assign(is_suppressed=mask)
    table, sums, _ = pa.od_release_table(full, ("origin_id",), ("dest_id",), k_min=K)
    hidden = np.r_[mask, np.zeros(len(table) - len(full), bool)]
    closed = pa.audit(table, hidden, K, identities=(), additive=(), by=pa.OD_CELL,
                      sums=sums, shortcut=False).cells.set_index("unit_id")
    assert closed.loc["A>B", ["lo", "hi"]].tolist() == [1, 11]


def test_an_opened_row_keeps_the_bound_another_release_gives():
    """A same-unit pair (A>A, 4: jobs_housing's live_and_work, hidden there, zeros
    published there: ``fixed``) in an opened row is still >= 1 for a reader; only the
    row's other hidden pairs get the lower bound 0."""
    pdf, keep = _kept_row_case()
    same = pd.DataFrame([("L", "A", "A", 4, True)], columns=pdf.columns)
    pdf = pd.concat([same, pdf], ignore_index=True)
    keep = np.r_[True, keep]
    fixed = (pdf["origin_id"] == pdf["dest_id"]).to_numpy()
    _, result, _, _ = pa.od_audited_mask(pdf, K, K, True, False, ("origin_id",),
                                         ("dest_id",), keep_rows=keep, fixed=fixed)
    assert result.passed, result.failures()
    cells = result.cells.set_index("unit_id")
    assert cells.loc["A>A", "lo"] == 1 and cells.loc["A>B", "lo"] == 0


def test_only_rows_are_opened_for_the_pairs_of_another_release():
    """linkage's commuters pairs keep commute_od's state (``openable``), and commute_od
    opens rows only: a kept column (c0: five hidden pairs of 3 under a public 15) whose
    pairs are all commute_od's is not opened in linkage (its pairs stay >= 1, the audit
    fails); a release that lists its own zeros may open it."""
    rows = [("L", f"r{i}", c, v) for i in range(5)
            for c, v in (("c0", 3), ("c1", 20 + i), ("c2", 30 + 2 * i))]
    pdf = pd.DataFrame(rows, columns=["level", "origin_id", "dest_id", "raw_count"])
    pdf["is_suppressed"] = privacy.od_suppression_mask(pdf, K)
    kept = (pdf["dest_id"] == "c0").to_numpy()
    rc = (("origin_id",), ("dest_id",))
    _, theirs, _, _ = pa.od_audited_mask(pdf, K, K, True, False, *rc, keep_cols=kept,
                                         openable=np.ones(len(pdf), bool))
    assert not theirs.passed and theirs.padded is None
    _, own, _, _ = pa.od_audited_mask(pdf, K, K, True, False, *rc, keep_cols=kept)
    assert own.passed, own.failures()


def test_with_od_audit_lists_an_opened_rows_zero_pairs(spark):
    """The Spark side of an opened row: the zero pair A>G is a row of the release,
    suppressed (counts null), its origin's and destination's descriptive columns copied
    from rows of the same units, the other columns from a row of its matrix."""
    pdf, keep = _kept_row_case()
    pdf["_true"] = pdf["raw_count"]
    pdf["expanded_count"] = 10.0 * pdf["raw_count"]
    pdf.loc[pdf["is_suppressed"], ["raw_count", "expanded_count"]] = None
    pdf["origin_name"] = "n-" + pdf["origin_id"]
    pdf["dest_name"] = "n-" + pdf["dest_id"]
    pdf["month"] = "2026-06"
    pdf["keep"] = keep
    sup = spark.createDataFrame(pdf[["level", "month", "origin_id", "origin_name", "dest_id",
                                     "dest_name", "raw_count", "expanded_count", "_true",
                                     "is_suppressed", "keep"]],
                                "level string, month string, origin_id string, "
                                "origin_name string, dest_id string, dest_name string, "
                                "raw_count bigint, expanded_count double, _true bigint, "
                                "is_suppressed boolean, keep boolean")
    got: list = []
    out = pa.with_od_audit(sup, "_true", K, K, True, False, ("origin_id",), ("dest_id",),
                           on_audit=got.append, keep_rows="keep").toPandas()
    assert got[0].passed and len(out) == len(pdf) + 1
    ag = out[(out["origin_id"] == "A") & (out["dest_id"] == "G")].iloc[0]
    assert (ag["origin_name"], ag["dest_name"], ag["month"]) == ("n-A", "n-G", "2026-06")
    assert ag["is_suppressed"] and pd.isna(ag["raw_count"]) and pd.isna(ag["expanded_count"])
    assert not ag["keep"] and not ag[pa.ROW_WITHHELD]


def test_od_pairs_hidden_in_every_period():
    """trips_by_period: a pair hidden in one period is hidden in all (the labelled
    breakdown rule), also for the pairs the audit adds."""
    one = _matrix()
    pdf = pd.concat([one.assign(period="am"), one.assign(period="pm")], ignore_index=True)
    pdf["is_suppressed"] = np.r_[privacy.od_suppression_mask(one, K),
                                 privacy.od_suppression_mask(one, K)]
    mask, result, _, _ = pa.od_audited_mask(pdf, K, K, True, False, ("origin_id",),
                                            ("dest_id",), label="period")
    assert result.passed, result.failures()
    assert (mask[: len(one)] == mask[len(one):]).all()


def test_od_withheld_column_total_is_not_public():
    """commute_od: a destination whose column total the OD rule withholds
    (hide_dest_total) gives the reader no column sum; nor does a total below k (any
    table publishing it would suppress it)."""
    pdf = _matrix().assign(is_suppressed=False, hide=False)
    pdf.loc[pdf["dest_id"] == "c0", "hide"] = True
    table, sums, frozen = pa.od_release_table(pdf, ("origin_id",), ("dest_id",),
                                              withheld="hide", k_min=K)
    units = set(table["unit_id"][frozen])
    assert "col:c1" in units and "col:c0" not in units and "row:r0" in units
    small = pd.DataFrame({"level": "L", "origin_id": ["a", "a", "b"],
                          "dest_id": ["x", "y", "x"], "raw_count": [3, 40, 4],
                          "is_suppressed": False})
    table, _, frozen = pa.od_release_table(small, ("origin_id",), ("dest_id",), k_min=K)
    assert set(table["unit_id"][frozen]) == {"row:a"}  # column x: 7 < k


def test_a_hidden_row_total_is_a_cell_of_its_own():
    """commute_od: jobs_housing hides A's employed residents (55), A's row total (every
    other line total public; the same-unit pairs and the rows jobs_housing publishes keep
    their state). Each hidden pair of the rectangle A>B, A>C, D>B, D>C is 33 wide, so the
    audit passed, but column B + column C - row D's other pairs = A>B + A>C: A's total
    was 20 + 35 = 55 exactly. Audited as a hidden cell of its own (``secret_rows``) it is
    caught; the audit withholds the column totals B and C (rows it may not touch) and the
    total is then at least k wide."""
    cells = {("A", "A"): 20, ("A", "B"): 5, ("A", "C"): 30, ("B", "B"): 50, ("B", "A"): 20,
             ("C", "C"): 50, ("C", "A"): 20, ("D", "D"): 40, ("D", "B"): 40, ("D", "C"): 35}
    hid = {("A", "B"), ("A", "C"), ("D", "B"), ("D", "C")}
    pdf = pd.DataFrame([("L", o, d, v, (o, d) in hid) for (o, d), v in cells.items()],
                       columns=["level", "origin_id", "dest_id", "raw_count", "is_suppressed"])
    pdf["hide_row"] = pdf["secret_row"] = pdf["origin_id"] == "A"
    rc = (("origin_id",), ("dest_id",))
    kw = {"withheld_rows": "hide_row", "fixed": (pdf["origin_id"] == pdf["dest_id"]).to_numpy(),
          "keep_rows": (pdf["origin_id"] != "A").to_numpy()}

    def row_a(mask, col_out) -> tuple[float, float, bool]:
        table, sums, _ = pa.od_release_table(
            pdf.assign(is_suppressed=mask), *rc, k_min=K, withheld_rows="hide_row",
            secret_rows="secret_row",
            drop=frozenset(("L", "", "col:" + c) for c in set(pdf["dest_id"][col_out])))
        got = pa.audit(table, table["is_suppressed"].to_numpy(bool), K, identities=(),
                       additive=(), by=pa.OD_CELL, sums=sums, shortcut=False)
        row = got.cells.set_index("unit_id").loc["row:A"]
        return row["lo"], row["hi"], got.passed

    mask, before, _, col_out = pa.od_audited_mask(pdf, K, K, True, False, *rc, **kw)
    assert before.passed and (mask == pdf["is_suppressed"]).all() and not col_out.any()
    assert row_a(mask, col_out) == (55, 55, False)  # every hidden pair wide, the sum not
    mask, after, row_out, col_out = pa.od_audited_mask(pdf, K, K, True, False, *rc,
                                                       secret_rows="secret_row", **kw)
    assert after.passed, after.failures()
    assert after.withheld == 2  # row:A was a cell of the audit: its pin found
    assert set(pdf["dest_id"][col_out]) == {"B", "C"} and not row_out.any()
    lo, hi, passed = row_a(mask, col_out)
    assert passed and hi - lo >= K, (lo, hi)


# --------------------------------------------------------------------------------------
# the gate of a release made of several parts


def test_combined_audit_names_the_part():
    pdf = _cells([("county", None, "C", "x", 92)]
                 + [("parcel", "C", f"P{i}", "x", v) for i, v in enumerate([1, 1, 40, 50])],
                 "measure")
    bad = pa.audit(pdf, privacy.suppression_mask(pdf, K, identities=(), by="measure"), K,
                   identities=(), additive=None, by="measure")
    both = pa.combine({"monthly": bad, "daily": bad}, K)
    assert not both.passed and both.n_cells == 4
    assert "monthly: parcel P0 x: [1, 1]" in both.failures()


# --------------------------------------------------------------------------------------
# the city: every release of the chain passed its audit


# commute: jobs_housing (jobs, employed residents and live_and_work), commute_od and the
# unit table (split_mask) gated as one release (nothing reported)
RELEASES = ("population_by_unit", "service_population", "commute",
            "linkage", "trips", "land_use_intensity", "screen_farmland", "screen_idle_land",
            "daily_presence", "screen_reserves", "exposure_hazards")


def test_every_release_of_the_city_passes_the_audit(chain):
    """Each release job of the chain that wrote rows ran its interval audit before any
    write or export (gate privacy_audit passed; no suppressed cell narrower than
    privacy.protection_width, the narrowest reported in the run facts)."""
    _, cfg, runs = chain
    audited: dict[str, int] = {}
    for (name, _label), r in runs.results.items():
        if name not in RELEASES or not any(r.output_rows.values()):
            continue
        assert "privacy_cells_audited" in r.facts, name
        gates = [g for g in r.gates if g["suite"] == "privacy_audit"]
        assert gates and all(g["success"] for g in gates), name
        narrowest = r.facts["privacy_min_width"]
        assert narrowest is None or narrowest >= cfg.privacy.width, name
        audited[name] = audited.get(name, 0) + r.facts["privacy_cells_audited"]
    assert {"population_by_unit", "service_population", "commute", "linkage", "trips",
            "land_use_intensity", "daily_presence"} <= set(audited)
    assert sum(audited.values()) > 500, audited
    com = runs.of("commute", month=runs_month(runs))  # with jobs_housing: one release
    assert "privacy_reported_cells" not in com.facts  # the unit table gated too
    # the joint audit with jobs_housing (gated by default): its hidden cells too, and
    # none narrower than the width (1,107 of 2,147 were before commute_od's export left
    # out its hidden pairs)
    assert com.facts["privacy_joint_cells_audited"] > com.facts["privacy_cells_audited"]
    assert com.facts["privacy_joint_gated"] is True
    assert com.facts["privacy_joint_under_protected"] == 0
    assert com.facts["privacy_joint_cells_hidden"] >= 0
    assert (com.facts["privacy_joint_min_width"] or float("inf")) >= cfg.privacy.width
    assert all(g["success"] for g in com.gates if g["suite"] == "privacy_audit")
    # with the relations between commute_od's levels: gated too; on the test city two
    # published employed-residents totals of jobs_housing (a city's 27, a county's 28)
    # capped 9 pairs at 12-13 (< 15) and no commute_od pair could widen them: they are
    # held hidden in jobs_housing (9 narrow before, the gate reporting them only)
    assert com.facts["privacy_joint_levels_under_protected"] == 0
    assert com.facts["privacy_joint_levels_min_width"] >= cfg.privacy.width
    assert com.facts["privacy_cells_held"] >= 1
    # linkage audited with the commute release's stored system (privacy_systems), gated
    lk = runs.of("linkage", month=runs_month(runs))
    assert lk.facts["privacy_joint_gated"] is True
    assert lk.facts["privacy_joint_cells_audited"] > lk.facts["privacy_cells_audited"]
    assert lk.facts["privacy_joint_under_protected"] == 0
    assert com.output_rows["privacy_systems"] == 1


def cross_release_problems(jh: pd.DataFrame, com: pd.DataFrame, od: pd.DataFrame,
                           link: pd.DataFrame, jh_true: pd.DataFrame | None = None
                           ) -> list[tuple]:
    """Counts hidden in one published release of a month but published, or derivable by
    one subtraction, in another (jobs_housing ``jh``, commute ``com``, commute_od ``od``,
    linkage ``link``; ``jh_true``: jobs_housing's true counts, for the sums a reader
    makes of a fully published OD row). Returns the problems found (empty: none):

    - commute's commuters and jobs_housing's employed residents (the same counts) hidden
      in one and published in the other; a same-unit pair of commute_od and
      live_and_work likewise, or a hidden live_and_work without its commute_od row;
    - a linkage commuters row total withheld (``commuters_origin_total_withheld``) where
      jobs_housing publishes employed residents and live_and_work (their difference);
      a column total withheld where commute publishes the inbound commuters and
      jobs_housing the live_and_work;
    - a commuters pair commute_od hides and linkage publishes (the same count);
    - a linkage commuters column published whole (no hidden pair) where exactly one of
      commute's inbound commuters and jobs_housing's live_and_work is hidden: the
      column sum is inbound - live_and_work, so it gives the hidden one back;
    - a hidden employed residents (or live_and_work) that a fully published OD row gives
      back: commute_od's row sum, or linkage's row sum plus (minus) the other count."""
    key = ["level", "unit_id"]
    out: list[tuple] = []
    j = jh.set_index(key)
    emp_h = j["is_employed_residents_suppressed"].astype(bool)
    lw_h = j["is_live_and_work_suppressed"].astype(bool)
    c = com.set_index(key)
    both = c.index.intersection(j.index)
    diff = both[c.loc[both, "is_commuters_suppressed"].astype(bool).to_numpy()
                != emp_h.loc[both].to_numpy()]
    out += [("commuters mask", *k) for k in diff]
    od_levels = set(od["level"])
    diag = od[od["origin_id"] == od["dest_id"]].set_index(["level", "origin_id"])
    for k in j.index[lw_h]:
        if k[0] in od_levels and k not in diag.index:
            out.append(("live_and_work without a commute_od row", *k))
    common = diag.index.intersection(j.index)
    for k in common[diag.loc[common, "is_suppressed"].astype(bool).to_numpy()
                    != lw_h.loc[common].to_numpy()]:
        out.append(("same-unit pair mask", *k))
    pub_rows = set(j.index[~emp_h & ~lw_h & j["employed_residents_raw_count"].notna()])
    lk = link[link["commuters_raw_count"].notna() | link["is_commuters_suppressed"]]
    for (lv, o), g in lk.groupby(["level", "origin_id"]):
        if (lv, o) in pub_rows and g["commuters_origin_total_withheld"].any():
            out.append(("linkage row total withheld, jobs_housing publishes it", lv, o))
    in_pub = set(c.index[~c["is_inbound_commuters_suppressed"].astype(bool)])
    for (lv, d), g in lk.groupby(["level", "dest_id"]):
        if ((lv, d) in in_pub and (lv, d) in j.index and not lw_h.loc[(lv, d)]
                and g["commuters_dest_total_withheld"].any()):
            out.append(("linkage column total withheld, commute publishes it", lv, d))
    pair = ["level", "origin_id", "dest_id"]
    m = lk[pair + ["is_commuters_suppressed"]].merge(od[pair + ["is_suppressed"]], on=pair)
    for r in m[m["is_suppressed"].astype(bool)
               & ~m["is_commuters_suppressed"].astype(bool)].itertuples():
        out.append(("commute_od hides a commuters pair linkage publishes", r.level,
                    r.origin_id, r.dest_id))
    in_h = c["is_inbound_commuters_suppressed"].astype(bool)
    for (lv, d), g in lk.groupby(["level", "dest_id"]):
        if ((lv, d) in c.index and (lv, d) in j.index and not g["is_commuters_suppressed"].any()
                and in_h.loc[(lv, d)] != lw_h.loc[(lv, d)]):
            out.append(("linkage column sum gives a hidden inbound or live_and_work", lv, d))
    if jh_true is not None:
        t = jh_true.set_index(key)
        for (lv, o), g in od.groupby(["level", "origin_id"]):
            if ((lv, o) in t.index and (lv, o) in j.index and emp_h.loc[(lv, o)]
                    and not g["is_suppressed"].any()
                    and g["raw_count"].sum() == t.loc[(lv, o), "employed_residents_raw_count"]):
                out.append(("commute_od row sum gives hidden employed residents", lv, o))
        for (lv, o), g in lk.groupby(["level", "origin_id"]):
            if (lv, o) not in t.index or (lv, o) not in j.index or g[
                    "is_commuters_suppressed"].any() or emp_h.loc[(lv, o)] == lw_h.loc[(lv, o)]:
                continue
            s = g["commuters_raw_count"].sum()
            true_e = t.loc[(lv, o), "employed_residents_raw_count"]
            true_l = t.loc[(lv, o), "live_and_work_raw_count"]
            if s == true_e - true_l:
                out.append(("linkage row sum gives a hidden jobs_housing count", lv, o))
    return out


def _releases():
    """Two counties A, B: jobs_housing publishes A's 30 employed residents and 20
    live_and_work, hides B's (12, 4); commute and commute_od follow it; linkage's
    A>B (10) and B>A (8) pairs are hidden, their totals public."""
    jh = pd.DataFrame({"level": "county", "unit_id": ["A", "B"],
                       "employed_residents_raw_count": [30, None],
                       "is_employed_residents_suppressed": [False, True],
                       "live_and_work_raw_count": [20, None],
                       "is_live_and_work_suppressed": [False, True]})
    com = pd.DataFrame({"level": "county", "unit_id": ["A", "B"],
                        "is_commuters_suppressed": [False, True],
                        "is_inbound_commuters_suppressed": [False, True]})
    od = pd.DataFrame({"level": "county", "origin_id": ["A", "A", "B", "B"],
                       "dest_id": ["A", "B", "A", "B"], "raw_count": [20, None, None, None],
                       "is_suppressed": [False, True, True, True]})
    link = pd.DataFrame({"level": "county", "origin_id": ["A", "B"], "dest_id": ["B", "A"],
                         "commuters_raw_count": [None, None],
                         "is_commuters_suppressed": [True, True],
                         "commuters_origin_total_withheld": [False, False],
                         "commuters_dest_total_withheld": [False, False]})
    truth = pd.DataFrame({"level": "county", "unit_id": ["A", "B"],
                          "employed_residents_raw_count": [30, 12],
                          "live_and_work_raw_count": [20, 4]})
    return jh, com, od, link, truth


def test_cross_release_check_names_each_leak():
    """The check of the city test below, on hand-built releases: consistent ones pass;
    each way a count hidden in one release comes out of another is named."""
    jh, com, od, link, truth = _releases()
    assert cross_release_problems(jh, com, od, link, truth) == []
    bad = com.assign(is_commuters_suppressed=[False, False])  # B's 12 published there
    assert cross_release_problems(jh, bad, od, link)[0][:2] == ("commuters mask", "county")
    # B's hidden live_and_work (a zero: no pair) read as 0 from a missing row
    assert cross_release_problems(jh, com, od[od["dest_id"] != "B"], link) == [
        ("live_and_work without a commute_od row", "county", "B")]
    # linkage withholds A's row total 30 - 20 = 10, which jobs_housing gives
    w = link.assign(commuters_origin_total_withheld=[True, False])
    assert cross_release_problems(jh, com, od, w) == [
        ("linkage row total withheld, jobs_housing publishes it", "county", "A")]
    # and B's column total, which commute's inbound - live_and_work would give if public
    w = link.assign(commuters_dest_total_withheld=[False, True])
    assert cross_release_problems(jh, com, od, w) == [
        ("linkage column total withheld, commute publishes it", "county", "A")]
    # commute hides A's inbound (a complement, say) while jobs_housing publishes its
    # live_and_work (20) and linkage A's whole column (B>A, 8): inbound = 20 + 8
    col = link.assign(commuters_raw_count=[None, 8], is_commuters_suppressed=[True, False])
    hid_in = com.assign(is_inbound_commuters_suppressed=[True, True])
    od8 = od.assign(raw_count=[20, None, 8, None], is_suppressed=[False, True, False, True])
    assert cross_release_problems(jh, hid_in, od8, col) == [
        ("linkage column sum gives a hidden inbound or live_and_work", "county", "A")]
    assert cross_release_problems(jh, com, od8, col) == []  # inbound public: nothing hidden
    # the same pair B>A hidden in commute_od (a complement, say) and published in linkage
    assert cross_release_problems(jh, com, od, col) == [
        ("commute_od hides a commuters pair linkage publishes", "county", "B", "A")]
    # a fully published commute_od row of B sums to its hidden employed residents
    full = od.assign(raw_count=[20, 10, 8, 4], is_suppressed=False)
    jh2 = jh.assign(is_live_and_work_suppressed=[False, False],
                    live_and_work_raw_count=[20, 4])
    found = cross_release_problems(jh2, com, full, link, truth)
    assert ("commute_od row sum gives hidden employed residents", "county", "B") in found
    # B's linkage row published (8) with its live_and_work public (4): 12 = 8 + 4
    pub = link.assign(commuters_raw_count=[10, 8], is_commuters_suppressed=False)
    found = cross_release_problems(jh2, com, od.assign(is_suppressed=[False, True, True,
                                                                      False]), pub, truth)
    assert ("linkage row sum gives a hidden jobs_housing count", "county", "B") in found


def test_no_count_hidden_in_one_release_is_public_in_another(spark, chain):
    """Cross-release consistency over the city's released tables of the month (issue 17
    item 2): jobs_housing decides the employed residents and live_and_work, commute
    and commute_od follow it, linkage follows both (its commuters row totals: employed
    residents - live_and_work; column totals: commute's inbound - live_and_work): no
    count hidden in one is published, or derivable by one subtraction, in another."""
    from mobsig.io.catalog import Catalog
    from mobsig.tools.evaluate import unsuppressed_jobs_housing

    _, cfg, runs = chain
    month = runs_month(runs)
    cat = Catalog(spark, cfg.warehouse)
    key = month.strftime("%Y-%m")
    jh, com, od, link = (cat.read(t, month=key).toPandas()
                         for t in ("jobs_housing", "commute", "commute_od", "linkage"))
    truth = unsuppressed_jobs_housing(spark, cfg, month).toPandas()
    assert len(jh) and len(com) and len(od) and len(link)
    assert jh["is_live_and_work_suppressed"].any() and link["is_commuters_suppressed"].any()
    assert cross_release_problems(jh, com, od, link, truth) == []


def runs_month(runs):
    """The month of the chain's monthly runs."""
    import datetime as dt

    label = next(lab for (name, lab) in runs.results if name == "commute")
    return dt.date.fromisoformat(label[6:13] + "-01")


# --------------------------------------------------------------------------------------
# the Spark side: the audited hazards profile and further hidden cells joined back


def test_hazards_publish_audited_on_the_driver(spark):
    """hazards.publish with a protection width (the job's path, on the driver) gives the
    group rule's rows plus the audit's complements, and calls back with the audit."""
    from mobsig import hazards

    rows = []
    for h in range(24):
        vals = {"exposed": 15, "residents": 7, "visitors": 8} if h == 10 else \
            {"exposed": 30, "residents": 20, "visitors": 10} if h == 11 else \
            {"exposed": 0, "residents": 0, "visitors": 0}
        rows += [("hazard", "H1", "h1", None, 200.0, m, h, v, 100.0 * v)
                 for m, v in vals.items()]
    table = spark.createDataFrame(rows, "level string, unit_id string, unit_name string, "
                                  "parent_id string, buffer_m double, measure string, "
                                  "hour int, raw_count bigint, expanded_count double")
    night = hazards.night_hours(21, 7)
    plain = hazards.publish(table, K, True, False, night).toPandas()
    got: list = []
    out = hazards.publish(table, K, True, False, night, K, got.append).toPandas()
    assert len(out) == len(plain) and got and got[0].passed
    hour = out[(out["statistic"] == "hour") & (out["hour"] == 10)].set_index("measure")
    assert hour["is_suppressed"].all() and hour["raw_count"].isna().all()
    before = plain[(plain["statistic"] == "hour") & (plain["hour"] == 10)]
    assert not before.set_index("measure").loc["exposed", "is_suppressed"]
    same = out[out["hour"] != 10].sort_values(["measure", "statistic", "hour"])
    ref = plain[plain["hour"] != 10].sort_values(["measure", "statistic", "hour"])
    assert same["is_suppressed"].tolist() == ref["is_suppressed"].tolist()


def test_hide_more_matches_nulls_booleans_and_dates(spark):
    import datetime as dt

    df = spark.createDataFrame(
        [("a", None, True, dt.date(2026, 6, 1), 5, 5.0, False),
         ("a", "x", False, dt.date(2026, 6, 1), 6, 6.0, False),
         ("b", None, True, dt.date(2026, 6, 2), 7, 7.0, True)],
        "k string, m string, b boolean, d date, raw_count bigint, expanded_count double, "
        "is_suppressed boolean")
    more = pd.DataFrame({"k": ["a"], "m": [None], "b": [True], "d": [dt.date(2026, 6, 1)]})
    out = pa.hide_more(df, more, ("k", "m", "b", "d")).orderBy("k", "raw_count").toPandas()
    assert out["is_suppressed"].tolist() == [True, False, True]
    assert out["raw_count"].isna().tolist() == [True, False, False]
    assert out.columns.tolist() == df.columns


def test_with_od_audit_on_spark(spark):
    """The Spark side of the OD audit (linkage's path: rows keyed by origin and a
    boolean, trips' extra counts nulled with the cell): the bridge rule's mask of
    :data:`MATRIX`, audited, hides more cells and the audit passes."""
    pdf = _matrix().assign(in_metro=False, measure="travellers")
    pdf["expanded_count"] = 10.0 * pdf["raw_count"]
    pdf["trips"] = 3 * pdf["raw_count"]
    old = privacy.od_suppression_mask(pdf, K)
    pdf["_true"] = pdf["raw_count"]
    pdf["is_suppressed"] = old
    pdf.loc[old, ["raw_count", "expanded_count", "trips"]] = None
    sup = spark.createDataFrame(pdf[["level", "measure", "origin_id", "in_metro", "dest_id",
                                     "raw_count", "expanded_count", "trips", "_true",
                                     "is_suppressed"]],
                                "level string, measure string, origin_id string, "
                                "in_metro boolean, dest_id string, raw_count bigint, "
                                "expanded_count double, trips bigint, _true bigint, "
                                "is_suppressed boolean")
    got: list = []
    out = pa.with_od_audit(sup, "_true", K, K, True, False, ("origin_id", "in_metro"),
                           ("dest_id",), ("level", "measure"), extra_counts=("trips",),
                           on_audit=got.append).toPandas()
    assert got[0].passed and "_true" not in out.columns
    assert out["is_suppressed"].sum() > old.sum()
    hidden = out[out["is_suppressed"]]
    assert hidden[["raw_count", "expanded_count", "trips"]].isna().all().all()


def test_linkage_and_trips_withhold_the_totals_that_pin_a_hidden_column(spark):
    """linkage's and trips_by_period's published rows (the jobs' gated path): a
    destination whose five travellers' pairs (3 each) are all hidden under a public total
    of 15 cannot be protected by hiding more; the audit withholds that column total (and
    a second one, c1), flags them on the pairs' rows and passes; nothing is flagged where
    no width is given."""
    from mobsig import linkage as lk
    from mobsig import trips as tp
    from mobsig.periods import parse_periods

    cells = [(f"r{i}", c, v) for i in range(5)
             for c, v in (("c0", 3), ("c1", 20 + i), ("c2", 30 + 2 * i))]
    rows = [("county", o, d, m, v if m == "trips" else 20, 10.0 * v, 2 * v, 20.0 * v, None)
            for o, d, v in cells for m in ("trips", "commuters")]
    long = spark.createDataFrame(rows, "level string, origin_id string, dest_id string, "
                                       "measure string, raw_count bigint, expanded_count "
                                       "double, trips_raw_count bigint, trips_expanded_count "
                                       "double, _dest_in_metro boolean")
    got: list = []
    sup = lk.suppress_pairs(long, K, True, False, K, got.append)
    assert got[0].passed and got[0].withheld == 2, got[0].failures()
    units = spark.createDataFrame([("county", u, u) for u in
                                   ["r0", "r1", "r2", "r3", "r4", "c0", "c1", "c2"]],
                                  "level string, unit_id string, unit_name string")
    jh = spark.createDataFrame([("county", "r0", 100.0, False)],
                               "level string, unit_id string, "
                               "employed_residents_expanded_count double, "
                               "is_employed_residents_suppressed boolean")
    days = spark.createDataFrame([(2,)], "days int")
    out = lk.publish(sup, jh, units, days).toPandas()
    assert out["is_trips_suppressed"].sum() == 10  # the rule's mask: nothing added
    flagged = set(out.loc[out["trips_dest_total_withheld"], "dest_id"])
    assert flagged == {"c0", "c1"}
    assert not out["trips_origin_total_withheld"].any()
    assert not out[["commuters_origin_total_withheld",
                    "commuters_dest_total_withheld"]].any().any()
    plain = lk.publish(lk.suppress_pairs(long, K, True, False), jh, units, days).toPandas()
    assert not plain["trips_dest_total_withheld"].any()
    # trips_by_period: the same matrix in one period of one city
    ps = parse_periods({"morning_peak": "07:00-09:00"}, "off_peak")
    per = spark.createDataFrame(
        [("county", "P", o, d, p, v if p == "off_peak" else 0, 10.0 * v, 2 * v, 20.0 * v,
          False) for o, d, v in cells for p in ("morning_peak", "off_peak")],
        "level string, city_id string, origin_id string, dest_id string, period string, "
        "raw_count bigint, expanded_count double, trips_raw_count bigint, "
        "trips_expanded_count double, _linkage_hidden boolean")
    got.clear()
    out = tp.publish(per, K, True, False, ps, units, days, K, got.append).toPandas()
    assert got[0].passed, got[0].failures()
    off = out[out["period"] == "off_peak"]
    assert set(off.loc[off["dest_total_withheld"], "dest_id"]) == {"c0", "c1"}
    assert not off["origin_total_withheld"].any()


def test_linkage_never_withholds_a_total_another_release_publishes(spark):
    """linkage follows jobs_housing and commute (issue 17 item 2): the commuters matrix
    of the test above (column c0: five hidden pairs of 3 under a total of 15) is
    protected by withholding the c0 and c1 column totals; where commute publishes their
    inbound commuters and jobs_housing their live_and_work, a reader has those totals
    (inbound - live_and_work), so linkage must not withhold them: nothing else protects
    c0's pairs and the gate fails. A row total jobs_housing publishes (employed
    residents and live_and_work of r0) is flagged kept; the others are not; r1's, whose
    live_and_work jobs_housing hides, is flagged never to be fully published."""
    from mobsig import linkage as lk

    cells = [(f"r{i}", c, v) for i in range(5)
             for c, v in (("c0", 3), ("c1", 20 + i), ("c2", 30 + 2 * i))]
    rows = [("county", o, d, m, v if m == "commuters" else 20, 10.0 * v, 2 * v, 20.0 * v,
             None) for o, d, v in cells for m in ("trips", "commuters")]
    long = spark.createDataFrame(rows, "level string, origin_id string, dest_id string, "
                                       "measure string, raw_count bigint, expanded_count "
                                       "double, trips_raw_count bigint, trips_expanded_count "
                                       "double, _dest_in_metro boolean")
    jh = spark.createDataFrame(
        [("county", u, 40, False, 10, False) for u in ("r0", "c0", "c1")]
        + [("county", "r1", 40, False, None, True)],
        "level string, unit_id string, employed_residents_raw_count bigint, "
        "is_employed_residents_suppressed boolean, live_and_work_raw_count bigint, "
        "is_live_and_work_suppressed boolean")
    com = spark.createDataFrame([("county", u, False) for u in ("c0", "c1")],
                                "level string, unit_id string, "
                                "is_inbound_commuters_suppressed boolean")
    alone: list = []
    lk.suppress_pairs(long, K, True, False, K, alone.append).count()
    assert alone[0].passed and alone[0].withheld == 2
    flags = lk.keep_public_totals(long, jh, com).toPandas()
    c = flags[flags["measure"] == "commuters"]
    assert set(c.loc[c[lk.KEEP_ROW], "origin_id"]) == {"r0"}
    assert set(c.loc[c[lk.KEEP_COL], "dest_id"]) == {"c0", "c1"}
    # r1's live_and_work hidden, its employed residents public: its row total would
    # give it back, so the row is never fully published (it holds a hidden c0 here)
    assert set(c.loc[c[lk.HIDE_ROW], "origin_id"]) == {"r1"}
    assert not flags.loc[flags["measure"] == "trips", lk.HIDE_ROW].any()
    assert not flags.loc[flags["measure"] == "trips", [lk.KEEP_ROW, lk.KEEP_COL]].any().any()
    got: list = []
    out = lk.suppress_pairs(long, K, True, False, K, got.append, jobs_housing=jh,
                            commute=com).toPandas()
    assert not got[0].passed  # the gate fails rather than withhold a public total
    kept = (out["measure"] == "commuters") & out["dest_id"].isin(["c0", "c1"])
    assert not out.loc[kept, pa.COL_WITHHELD].any()
    assert lk.KEEP_ROW not in out.columns and lk.KEEP_COL not in out.columns


def test_od_rule_audit_reports_what_the_rule_leaves(spark):
    """commute's path (repair off): the OD rule's mask audited once on Spark, nothing
    added; the bridge rule's pinned cells r0>c2 [1, 1] and r1>c0 [5, 5] are reported by
    reported_only, which itself gates nothing."""
    pdf = _matrix()
    pdf["_true"] = pdf["raw_count"]
    pdf["is_suppressed"] = privacy.od_suppression_mask(pdf, K)
    pdf["hide"] = False
    sup = spark.createDataFrame(pdf[["level", "origin_id", "dest_id", "_true",
                                     "is_suppressed", "hide"]],
                                "level string, origin_id string, dest_id string, "
                                "_true bigint, is_suppressed boolean, hide boolean")
    got = pa.od_rule_audit(sup, "_true", K, False, ("origin_id",), ("dest_id",), k_min=K,
                           withheld="hide")
    assert got.n_cells == int(pdf["is_suppressed"].sum()) and not got.passed
    cells = got.cells.set_index("unit_id")
    assert cells.loc["r0>c2", "width"] == 0 and cells.loc["r1>c0", "width"] == 0
    only = pa.reported_only(got)
    assert only.passed and only.n_cells == 0 and only.reported is got
    assert only.seconds == got.seconds


def _gate_context(tmp_path):
    """A stand-in for a job's context for :func:`mobsig.privacy_audit.gate` (the real
    JobContext.check, GE gate included): the context, its run facts, its warnings."""
    import types

    from mobsig.runner import JobContext

    facts: dict = {}
    warned: list = []
    ctx = types.SimpleNamespace(
        cfg=types.SimpleNamespace(quality_dir=tmp_path), label="month=2026-06",
        spec=types.SimpleNamespace(name="commute"),
        result=types.SimpleNamespace(gates=[]), fact=facts.__setitem__,
        log=types.SimpleNamespace(info=lambda *a: None, warning=lambda *a: warned.append(a)))
    ctx.check = lambda *a, **kw: JobContext.check(ctx, *a, **kw)
    return ctx, facts, warned


def test_gate_reports_a_part_it_does_not_gate(tmp_path):
    """A part audited and reported in the run facts (a warning), not gated (commute's
    unit table)."""


    pdf = _cells([("county", None, "C", "x", 92)]
                 + [("parcel", "C", f"P{i}", "x", v) for i, v in enumerate([1, 1, 40, 50])],
                 "measure")
    rules = {"identities": (), "additive": None, "by": "measure"}
    ok = pa.audited_suppression_mask(pdf, K, **rules)[1]
    ok.reported = pa.audit(pdf, privacy.suppression_mask(pdf, K, identities=(), by="measure"),
                           K, **rules)
    ctx, facts, warned = _gate_context(tmp_path)
    pa.gate(ctx, ok, "commute")
    assert facts["privacy_reported_cells"] == 2
    assert facts["privacy_reported_under_protected"] == 2 and warned


def test_gate_fails_on_the_joint_audit_only_when_it_is_gated(tmp_path):
    """A release that passes its own audit with a joint audit that does not (the two
    releases of test_joint_audit_intersects_what_two_releases_give): reported (a warning
    naming the cells, run facts) or gated (exit 6 naming them as found together)."""

    from mobsig.errors import DataQualityError

    ra, rb, links = _two_releases()
    # the joint audit itself, then (commute's) the audit with the relations between
    # commute_od's levels that the joint carries: both gated with it, else reported
    for levels, gated in ((False, False), (False, True), (True, False), (True, True)):
        whole = pa.combine({"A": ra} if levels else {"A": ra, "B": rb}, 15)
        both = pa.joint_audit({"A": ra, "B": rb}, links, 15)
        whole.joint = pa.joint_audit({"A": ra}, None, 15) if levels else both
        if levels:
            whole.joint.reported, whole.joint.notes = both, ["a level too large"]
        whole.joint_gated = gated
        ctx, facts, warned = _gate_context(tmp_path)
        if gated:
            with pytest.raises(DataQualityError, match=(
                    "relations between commute_od's levels" if levels
                    else "taken together with the releases")):
                pa.gate(ctx, whole, "commute")
        else:
            pa.gate(ctx, whole, "commute")
            assert ("relations between its OD levels" if levels
                    else "A: L x n: [11, 19]") in str(warned)
        assert facts["privacy_joint_gated"] is gated
        if levels:
            assert "a level too large" in str(warned)
            assert facts["privacy_joint_under_protected"] == 0
            assert facts["privacy_joint_levels_under_protected"] == 5
            assert facts["privacy_joint_levels_min_width"] == 8
        else:
            assert facts["privacy_joint_cells_audited"] == 5
            assert facts["privacy_joint_under_protected"] == 5
            assert facts["privacy_joint_min_width"] == 8
            assert facts["privacy_joint_cells_hidden"] == 0
            assert "privacy_joint_levels_under_protected" not in facts


# --------------------------------------------------------------------------------------
# linkage against metro_area, jobs_housing and commute: the relations between releases


# commuters at the metro level: origin A's metro part (3 + 4 = 7 < k, unpublished:
# metro_area hides it) and its non-metro pair (33, published); metro members M1, M2
METRO_CELLS = {("A", "M1"): 3, ("A", "M2"): 4, ("A", "N1"): 33,
               ("B", "M1"): 20, ("B", "M2"): 25, ("B", "N1"): 30, ("B", "N2"): 16,
               ("C", "M1"): 18, ("C", "M2"): 17, ("C", "N2"): 40,
               ("D", "M1"): 22, ("D", "M2"): 19, ("D", "N1"): 21, ("D", "N2"): 2}


def _reader_view(pdf, mask, row_out, col_out, rows, cols, whole: bool):
    """The audit of ``mask`` as a reader of linkage, metro_area and jobs_housing sees
    it: every total the audit did not withhold is public, and with ``whole`` so is each
    origin's whole row (employed residents - live_and_work, from jobs_housing)."""
    key = pdf["origin_id"] + "\x1f" + pdf["in_metro"].astype(str)
    drop = {("county", "", "row:" + k) for k in key[row_out]}
    drop |= {("county", "", "col:" + d) for d in pdf["dest_id"][col_out]}
    every = pd.Series(row_out).groupby(pdf["origin_id"].to_numpy()).all()
    drop |= {("county", "", "whole:" + o) for o in every.index[every.to_numpy()]}
    table, sums, _ = pa.od_release_table(pdf.assign(is_suppressed=mask), rows, cols,
                                         k_min=K, drop=frozenset(drop),
                                         whole_rows=("origin_id",) if whole else ())
    return pa.audit(table, np.r_[mask, np.zeros(len(table) - len(pdf), bool)], K,
                    identities=(), additive=(), by=pa.OD_CELL, sums=sums, shortcut=False)


def test_metro_part_below_k_is_the_whole_row_minus_the_other_part():
    """At the metro level linkage splits each commuters row into its metro part (which
    metro_area publishes as commuters_to_metro) and the rest; a part below k is taken as
    unpublished. But jobs_housing publishes A's employed residents and live_and_work, so
    A's whole row (40) is public, and 40 - the published 33 = 7 = A>M1 + A>M2: both in
    [1, 6] although the audit of the two parts alone passed. With the whole row as a
    total of the audit (``whole_rows``) the audit catches it and hides more until the
    reader's view, whole rows included, passes."""
    pdf = pd.DataFrame([("county", o, d in ("M1", "M2"), d, v)
                        for (o, d), v in METRO_CELLS.items()],
                       columns=["level", "origin_id", "in_metro", "dest_id", "raw_count"])
    rows, cols = ("origin_id", "in_metro"), ("dest_id",)
    pdf["is_suppressed"] = privacy.od_suppression_mask(pdf, K, rows=rows, cols=cols)
    keep = (pdf["origin_id"] == "A").to_numpy()  # jobs_housing publishes A's two counts
    mask, result, row_out, col_out = pa.od_audited_mask(pdf, K, K, True, False, rows, cols,
                                                        keep_rows=keep)
    assert result.passed  # the parts alone: nothing narrower than k
    seen = _reader_view(pdf, mask, row_out, col_out, rows, cols, whole=True)
    got = seen.cells.set_index("unit_id")
    assert got.loc["A\x1fTrue>M1", ["lo", "hi"]].tolist() == [1, 6]
    assert not seen.passed
    mask, result, row_out, col_out = pa.od_audited_mask(pdf, K, K, True, False, rows, cols,
                                                        keep_rows=keep,
                                                        whole_rows=("origin_id",))
    assert result.passed, result.failures()
    assert not row_out[keep].all()  # A's whole row is public: never withheld
    seen = _reader_view(pdf, mask, row_out, col_out, rows, cols, whole=True)
    assert seen.passed and seen.min_width >= K, seen.failures()


def _split_row_case(a_cells: dict[str, int]) -> tuple[pd.DataFrame, np.ndarray]:
    """A's commuters row at the metro level split into its metro part (to M1) and the
    rest (N1..N4), all its pairs below k; B and C with large pairs everywhere (N5 too,
    where A has none); jobs_housing publishes A's whole row (kept)."""
    cells = {("A", d): v for d, v in a_cells.items()}
    cells.update({(o, d): v for o, v in (("B", 20), ("C", 30))
                  for d in ("M1", "N1", "N2", "N3", "N4", "N5")})
    pdf = pd.DataFrame([("county", o, d == "M1", d, v) for (o, d), v in cells.items()],
                       columns=["level", "origin_id", "in_metro", "dest_id", "raw_count"])
    pdf["is_suppressed"] = privacy.od_suppression_mask(
        pdf, K, rows=("origin_id", "in_metro"), cols=("dest_id",))
    return pdf, (pdf["origin_id"] == "A").to_numpy()


def test_a_stuck_whole_row_opens_both_of_its_parts():
    """The real-county demo's 郫都区 (510117) when its row is split by the metro area: 15
    employed residents published, five pairs 1..11 each (zeros published, every pair
    hidden), the whole row kept and stuck: nothing to hide nor to withhold. Both parts of
    the row are opened (the non-metro part's zero pair to N5 listed suppressed) and the
    pairs are 0..15 wide; before, only a row of one part could be opened (exit 6)."""
    pdf, keep = _split_row_case({"M1": 3, "N1": 4, "N2": 3, "N3": 3, "N4": 2})
    rows, cols = ("origin_id", "in_metro"), ("dest_id",)
    _, result, _, _ = pa.od_audited_mask(pdf, K, K, True, False, rows, cols,
                                         keep_rows=keep, whole_rows=("origin_id",))
    assert result.passed, result.failures()
    pad = result.padded
    assert pad[["origin_id", "in_metro", "dest_id", "raw_count"]].values.tolist() == [
        ["A", False, "N5", 0]]
    cells = result.cells.set_index("unit_id")
    a = [u for u in cells.index if u.startswith("A\x1f")]
    assert len(a) == 6 and (cells.loc[a, "lo"] == 0).all()
    assert (cells.loc[a, "width"] >= K).all()


def test_a_part_of_a_split_row_is_not_a_kept_total():
    """The real-county demo's 510116: 19 employed residents published (the whole row,
    kept), 4 to the metro area (hidden, below k) and 15 to four other units (3 to 5 each,
    hidden): the non-metro part (15) is no count another release publishes (metro_area
    shows only the metro part, hidden here), but it was kept like the whole row, so 19 -
    15 pinned the metro pair at [4, 4] with nothing left to withhold. Only the whole
    row is kept now: the audit withholds the non-metro part's total."""
    pdf, keep = _split_row_case({"M1": 4, "N1": 5, "N2": 4, "N3": 3, "N4": 3})
    rows, cols = ("origin_id", "in_metro"), ("dest_id",)
    mask, result, row_out, _ = pa.od_audited_mask(pdf, K, K, True, False, rows, cols,
                                                  keep_rows=keep, whole_rows=("origin_id",))
    assert result.passed, result.failures()
    a = (pdf["origin_id"] == "A").to_numpy()
    rest = a & ~pdf["in_metro"].to_numpy(bool)
    row_out = row_out[:len(pdf)]  # then the rows of opened lines' zero pairs, if any
    assert row_out[rest].all() and not row_out[a & ~rest].any()
    assert result.cells.loc[result.cells["unit_id"] == "A\x1fTrue>M1", "width"].min() >= K


def _column_case(spark):
    """A 4 x 3 commuters matrix of different units, every pair at least k (the bridge
    rule hides nothing), jobs_housing publishing every count, commute hiding the inbound
    commuters of c0 and c1 (a small count and its sibling complement, say: one alone
    would be the others' sum minus theirs) and c3's (nobody from another unit works there:
    its inbound commuters are its live_and_work) and publishing c2's."""
    cells = [(f"r{i}", f"c{j}", 20 + 3 * i + 5 * j) for i in range(4) for j in range(3)]
    rows = [("county", o, d, m, v, 10.0 * v, 2 * v, 20.0 * v, None)
            for o, d, v in cells for m in ("trips", "commuters")]
    # c3: visited (trips), nobody works there from another unit (commuters 0)
    rows += [("county", f"r{i}", "c3", m, 20 if m == "trips" else 0, 200.0, 40, 400.0, None)
             for i in range(4) for m in ("trips", "commuters")]
    long = spark.createDataFrame(rows, "level string, origin_id string, dest_id string, "
                                       "measure string, raw_count bigint, expanded_count "
                                       "double, trips_raw_count bigint, trips_expanded_count "
                                       "double, _dest_in_metro boolean")
    units = [f"r{i}" for i in range(4)] + [f"c{j}" for j in range(4)]
    jh = spark.createDataFrame([("county", u, 200, False, 30, False) for u in units],
                               "level string, unit_id string, employed_residents_raw_count "
                               "bigint, is_employed_residents_suppressed boolean, "
                               "live_and_work_raw_count bigint, is_live_and_work_suppressed "
                               "boolean")
    hid = ("c0", "c1", "c3")
    com = spark.createDataFrame([("county", u, None if u in hid else 100, u in hid)
                                 for u in units],
                                "level string, unit_id string, inbound_commuters_raw_count "
                                "bigint, is_inbound_commuters_suppressed boolean")
    return long, jh, com, cells


def test_linkage_column_never_gives_back_an_inbound_commute_hides(spark):
    """commute hides c0's and c1's inbound commuters while jobs_housing publishes their
    live_and_work: linkage's commuters column c0 is inbound - live_and_work, so a
    column published whole gives the hidden inbound back (before: the matrix, every
    pair >= k, was published whole). Now those column totals are hidden cells of the
    audit (``secret_cols``): linkage hides pairs until each is k wide; the gate passes.
    A column below k (c3: all zeros, so inbound = live_and_work) is hidden whole, zeros
    included."""
    from mobsig import linkage as lk

    long, jh, com, cells = _column_case(spark)
    hid = ("c0", "c1", "c3")
    flags = lk.keep_public_totals(long, jh, com).toPandas()
    c = flags[flags["measure"] == "commuters"]
    assert set(c.loc[c[lk.SECRET_COL], "dest_id"]) == {"c0", "c1", "c3"}
    assert set(c.loc[c[lk.KEEP_COL], "dest_id"]) == {"c2"}
    before = lk.suppress_pairs(long, K, True, False, K, jobs_housing=jh).toPandas()
    assert not before["is_suppressed"].any()  # column c0 whole: inbound = 30 + its sum
    got: list = []
    out = lk.suppress_pairs(long, K, True, False, K, got.append, jobs_housing=jh,
                            commute=com).toPandas()
    assert got[0].passed, got[0].failures()
    com_c = out[out["measure"] == "commuters"]
    for d in ("c0", "c1"):
        assert com_c.loc[com_c["dest_id"] == d, "is_suppressed"].any()
    assert com_c.loc[com_c["dest_id"] == "c3", "is_suppressed"].all()  # zeros included
    assert lk.SECRET_COL not in out.columns
    # the reader's view: every row and column total public but c0's and c1's
    pdf = pd.DataFrame(cells + [(f"r{i}", "c3", 0) for i in range(4)],
                       columns=["origin_id", "dest_id", "raw_count"]).assign(level="county")
    pdf = pdf.merge(com_c[["origin_id", "dest_id", "is_suppressed"]],
                    on=["origin_id", "dest_id"])
    table, sums, _ = pa.od_release_table(pdf.assign(secret=pdf["dest_id"].isin(hid)),
                                         ("origin_id",), ("dest_id",), k_min=K,
                                         secret_cols="secret")
    seen = pa.audit(table, table["is_suppressed"].to_numpy(bool), K, identities=(),
                    additive=(), by=pa.OD_CELL, sums=sums, shortcut=False)
    assert seen.passed, seen.failures()
    for d in hid:
        total = seen.cells.set_index("unit_id").loc[f"col:{d}"]
        assert total["hi"] - total["lo"] >= K
    # a pair commute_od hides (the same count; r0>c3's zero, a complement there) is
    # hidden in linkage too, whatever its count (before: published as 0)
    od = spark.createDataFrame([("county", "r0", "c3", True), ("county", "r0", "c2", False)],
                               "level string, origin_id string, dest_id string, "
                               "is_suppressed boolean")
    follow = lk.suppress_pairs(long, K, True, False, K, jobs_housing=jh, commute_od=od
                               ).toPandas()
    def r0c3(f: pd.DataFrame) -> pd.Series:
        return f.loc[(f["origin_id"] == "r0") & (f["dest_id"] == "c3")
                     & (f["measure"] == "commuters"), "is_suppressed"]

    assert len(r0c3(follow)) == 1 and r0c3(follow).all()
    assert not r0c3(before).any()  # published as 0 before


def _pair_case(spark):
    """A 3 x 3 commuters matrix of different units with one small pair (r0>c0 = 3), and
    commute_od's published mask of the same pairs: its own rule protected r0>c0 by
    another rectangle (r0>c2, r2>c0, r2>c2) and published r0>c1 (16), r1>c0 (17)."""
    vals = {("r0", "c0"): 3, ("r0", "c1"): 16, ("r0", "c2"): 40,
            ("r1", "c0"): 17, ("r1", "c1"): 30, ("r1", "c2"): 50,
            ("r2", "c0"): 45, ("r2", "c1"): 60, ("r2", "c2"): 20}
    rows = [("county", o, d, m, v if m == "commuters" else 20, 10.0 * v, 2 * v, 20.0 * v,
             None) for (o, d), v in vals.items() for m in ("trips", "commuters")]
    long = spark.createDataFrame(rows, "level string, origin_id string, dest_id string, "
                                       "measure string, raw_count bigint, expanded_count "
                                       "double, trips_raw_count bigint, trips_expanded_count "
                                       "double, _dest_in_metro boolean")
    od_hidden = {("r0", "c0"), ("r0", "c2"), ("r2", "c0"), ("r2", "c2"),
                 ("r1", "c3")}  # r1>c3: a zero commute_od hid, no linkage row
    od = spark.createDataFrame([("county", o, d, (o, d) in od_hidden)
                                for o, d in [*vals, ("r1", "c3")]]
                               + [("county", "r0", "r0", False)],  # a same-unit pair
                               "level string, origin_id string, dest_id string, "
                               "is_suppressed boolean")
    return long, od, vals, od_hidden


def test_linkage_never_hides_a_pair_commute_od_publishes(spark):
    """Issue 17: linkage's commuters pairs are commute_od's (the same cards), decided by
    two rules. linkage's bridge rule protects r0>c0 by the rectangle r0>c1, r1>c0, r1>c1,
    but commute_od publishes r0>c1 and r1>c0: a reader has them from there, so linkage's
    audit counted on cells the reader knows (before: hidden in linkage, published in
    commute_od). Now every commuters pair at a level commute_od publishes keeps
    commute_od's state (hidden there: hidden here; published there: published here,
    never a complement), and a zero commute_od hides without a linkage row gets one,
    hidden. The reader's view (both releases) passes the audit."""
    from mobsig import linkage as lk

    long, od, vals, od_hidden = _pair_case(spark)
    alone = lk.suppress_pairs(long, K, True, False, K).toPandas()
    c = alone[alone["measure"] == "commuters"]
    hid = set(zip(c.loc[c["is_suppressed"], "origin_id"], c.loc[c["is_suppressed"],
                                                                 "dest_id"], strict=True))
    assert ("r0", "c0") in hid and hid - od_hidden  # its own rule: pairs od publishes
    got: list = []
    out = lk.suppress_pairs(long, K, True, False, K, got.append, commute_od=od).toPandas()
    assert got[0].passed, got[0].failures()
    c = out[out["measure"] == "commuters"]
    hid = set(zip(c.loc[c["is_suppressed"], "origin_id"], c.loc[c["is_suppressed"],
                                                                 "dest_id"], strict=True))
    assert hid == od_hidden  # the same mask as commute_od's, r1>c3 included
    new = out[(out["origin_id"] == "r1") & (out["dest_id"] == "c3")].set_index("measure")
    assert new.loc["trips", "trips_raw_count"] == 0 and new.loc["commuters", "is_suppressed"]
    assert not {lk.OD_FIXED, lk.OD_HIDDEN} & set(out.columns)
    # the reader's view: every pair commute_od publishes is known, totals public
    pdf = pd.DataFrame([(o, d, v, (o, d) in hid) for (o, d), v in vals.items()],
                       columns=["origin_id", "dest_id", "raw_count", "is_suppressed"]
                       ).assign(level="county")
    table, sums, _ = pa.od_release_table(pdf, ("origin_id",), ("dest_id",), k_min=K)
    seen = pa.audit(table, table["is_suppressed"].to_numpy(bool), K, identities=(),
                    additive=(), by=pa.OD_CELL, sums=sums, shortcut=False)
    assert seen.passed, seen.failures()
    # the bridge rule alone: a frozen cell (published elsewhere) is never a complement
    mask = privacy.od_suppression_mask(
        pdf.drop(columns="is_suppressed"), K,
        forced=pdf.eval("origin_id == 'r0' and dest_id == 'c0'").to_numpy(),
        frozen=pdf.eval("origin_id == 'r0' and dest_id == 'c1'").to_numpy()
        | pdf.eval("origin_id == 'r1' and dest_id == 'c0'").to_numpy())
    picked = set(zip(pdf.loc[mask, "origin_id"], pdf.loc[mask, "dest_id"], strict=True))
    assert ("r0", "c0") in picked and not {("r0", "c1"), ("r1", "c0")} & picked
    assert len(picked) == 4  # another rectangle


def test_linkage_opens_a_row_commute_od_opened(spark):
    """The kept-row case of test_a_kept_row_whose_every_pair_is_hidden_is_opened in
    linkage: jobs_housing publishes A's employed residents and live_and_work (A's
    commuters row total, 15, is public) and commute_od opened A's row (every pair hidden,
    the zero pair A>G listed hidden). linkage's pairs keep commute_od's state, so its
    audit may open the same row (each pair 0..15) and passes; without commute_od it may
    open nothing, and the same row fails the gate."""
    from mobsig import linkage as lk

    pdf, keep = _kept_row_case()
    mask, result, _, _ = pa.od_audited_mask(pdf, K, K, True, False, ("origin_id",),
                                            ("dest_id",), keep_rows=keep)
    full = pd.concat([pdf, result.padded], ignore_index=True).assign(is_suppressed=mask)
    rows = [("county", o, d, m, v if m == "commuters" else 20, 10.0 * v, 2 * v, 20.0 * v,
             False if m == "commuters" else None)  # od_long: commuters cells not None
            for o, d, v in pdf[["origin_id", "dest_id", "raw_count"]].itertuples(
                index=False) for m in ("trips", "commuters")]
    long = spark.createDataFrame(rows, "level string, origin_id string, dest_id string, "
                                       "measure string, raw_count bigint, expanded_count "
                                       "double, trips_raw_count bigint, trips_expanded_count "
                                       "double, _dest_in_metro boolean")
    jh = spark.createDataFrame([("county", "A", 25, False, 10, False)],
                               "level string, unit_id string, employed_residents_raw_count "
                               "bigint, is_employed_residents_suppressed boolean, "
                               "live_and_work_raw_count bigint, is_live_and_work_suppressed "
                               "boolean")
    od = spark.createDataFrame(
        [("county", o, d, bool(h)) for o, d, h in full[["origin_id", "dest_id",
                                                         "is_suppressed"]].itertuples(
            index=False)], "level string, origin_id string, dest_id string, "
                           "is_suppressed boolean")
    got: list = []
    out = lk.suppress_pairs(long, K, True, False, K, got.append, jobs_housing=jh,
                            commute_od=od).toPandas()
    assert got[0].passed, got[0].failures()
    c = out[(out["measure"] == "commuters") & (out["origin_id"] == "A")]
    assert c["is_suppressed"].all() and set(c["dest_id"]) == set("BCDEFG")
    alone: list = []
    lk.suppress_pairs(long, K, True, False, K, alone.append, jobs_housing=jh).count()
    assert not alone[0].passed


# --------------------------------------------------------------------------------------
# the joint audit: releases of the same counts as one system (issue 17)


def _link_sums(rels: dict) -> pd.DataFrame:
    return pd.DataFrame([(r, "L", u, "n", c) for r, terms in rels.items() for u, c in terms],
                        columns=["rel", "level", "unit_id", "m", "coef"])


def _one_level(counts: dict) -> pd.DataFrame:
    return pd.DataFrame({"level": "L", "unit_id": list(counts), "parent_id": None, "m": "n",
                         "raw_count": list(counts.values())})


def _two_releases(b_counts: tuple = (15, 15, 5)):
    """Release A: x + y = P (20, x 15 and y 5 hidden); release B: x + v = Q (30),
    v + u = R (20), x, v, u hidden (``b_counts``); their audits (each by itself) and the
    link x_A = x_B."""
    a = _one_level({"x": 15, "y": 5, "P": 20})
    b = _one_level(dict(zip(("x", "v", "u"), b_counts, strict=True)) | {"Q": 30, "R": 20})
    kw = dict(identities=(), additive=(), by="m", shortcut=False)
    ra = pa.audit(a, np.array([True, True, False]), 15, sums=_link_sums(
        {"a": [("P", 1), ("x", -1), ("y", -1)]}), **kw)
    rb = pa.audit(b, np.array([True, True, True, False, False]), 15, sums=_link_sums(
        {"b1": [("Q", 1), ("x", -1), ("v", -1)], "b2": [("R", 1), ("v", -1), ("u", -1)]}),
        **kw)
    links = pd.DataFrame([("x", "A", "L", "x", "n", 1.0), ("x", "B", "L", "x", "n", -1.0)],
                         columns=["rel", "part", "level", "unit_id", "cell", "coef"])
    return ra, rb, links


def test_joint_audit_intersects_what_two_releases_give():
    """One count x (15) hidden in two releases, each protecting it by itself: release A
    gives x + y = 20 (x in [1, 19]), release B x + v = 30 and v + u = 20 (x in [11, 29]).
    A reader who writes both down has x in [11, 19]: the joint audit finds it, and the
    cells it drags along (y, u in [1, 9]); a link that does not hold in the true counts
    is used as the inequality that holds (x_A <= x_B where B's x is 16: nothing pinned)."""
    ra, rb, links = _two_releases()
    assert ra.passed and rb.passed
    joint = pa.joint_audit({"A": ra, "B": rb}, links, 15)
    got = joint.cells.set_index(["level", "unit_id"])
    assert not joint.passed
    assert got.loc[("A: L", "x"), ["lo", "hi"]].tolist() == [11, 19]
    assert got.loc[("B: L", "x"), ["lo", "hi"]].tolist() == [11, 19]
    assert got.loc[("A: L", "y"), ["lo", "hi"]].tolist() == [1, 9]
    assert got.loc[("B: L", "u"), ["lo", "hi"]].tolist() == [1, 9]
    assert "A: L x n: [11, 19]" in joint.failures()
    # the same link where it does not hold (B's x is 16): x_A <= x_B, both stay wide
    _, rb2, _ = _two_releases(b_counts=(16, 14, 6))
    loose = pa.joint_audit({"A": ra, "B": rb2}, links, 15)
    assert loose.passed, loose.failures()


def _employed(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["level", "unit_id", "parent_id", "measure",
                                       "raw_count", "is_suppressed"])


def test_published_pairs_of_a_row_bound_a_hidden_employed_count_jointly():
    """jobs_housing hides counties A (20 employed residents) and B (4) under a city of 30
    (D's 6 published; live_and_work 10, 2 and 6 published): by itself A is in [11, 21]
    (each out-commuter count >= 1), B in [3, 13]. commute_od hides A>B (2) and B>A (2),
    publishes A>A 10, A>D 8, B>B 2, D>D 6, and no column total (commute hides the
    inbound commuters): by itself A>B is unbounded. Together, A's row (= its employed
    residents) is 18 + A>B, so A>B is in [1, 3] and B in [3, 5]: the joint audit of
    :func:`mobsig.commute.shared_count_links` catches what neither audit does."""
    from mobsig import commute
    from mobsig import jobs_housing as jh

    e, lw = "employed_residents", "live_and_work"
    pdf = _employed([("city", "C", None, e, 30, False), ("city", "C", None, lw, 30, False),
                     ("county", "A", "C", e, 20, True), ("county", "A", "C", lw, 10, False),
                     ("county", "B", "C", e, 4, True), ("county", "B", "C", lw, 2, False),
                     ("county", "D", "C", e, 6, False), ("county", "D", "C", lw, 6, False)])
    part_jh = jh.employed_audit(pdf, 5, 5.0, False)
    assert part_jh.passed, part_jh.failures()
    pairs = pd.DataFrame({"level": "county", "origin_id": list("AAABBD"),
                          "dest_id": list("ADBBAD"), "raw_count": [10, 8, 2, 2, 2, 6],
                          "is_suppressed": [False, False, True, False, True, False],
                          "secret_row": [True, True, True, True, True, False],
                          "hide_col": True})
    table, sums, _ = pa.od_release_table(pairs, ("origin_id",), ("dest_id",),
                                         withheld="hide_col", secret_rows="secret_row")
    part_od = pa.audit(table, table["is_suppressed"].to_numpy(bool), 5.0, identities=(),
                       additive=(), by=pa.OD_CELL, sums=sums)
    assert part_od.passed, part_od.failures()
    both = {"jobs_housing": part_jh, "commute_od": part_od}
    joint = pa.joint_audit(both, commute.shared_count_links(both), 5.0)
    got = joint.cells.set_index(["level", "unit_id", "cell"])
    assert got.loc[("commute_od: county", "A>B", ""), ["lo", "hi"]].tolist() == [1, 3]
    assert got.loc[("jobs_housing: county", "B", e), ["lo", "hi"]].tolist() == [3, 5]
    assert got.loc[("jobs_housing: county", "A", e), ["lo", "hi"]].tolist() == [19, 21]
    assert not joint.passed
    # as exported, hidden pairs are not listed (lower bound 0): A's published 10 + 8
    # still make A >= 18, so A>B is in [0, 3]; the repair hides A>D (the published pair
    # of two units in the relation that binds it): A>B in [0, 11], B in [3, 13]
    exported = {"jobs_housing": part_jh, "commute_od": commute.od_totals_as_published(part_od)}
    got = pa.joint_audit(exported, commute.shared_count_links(exported), 5.0).cells.set_index(
        ["level", "unit_id", "cell"])
    assert got.loc[("commute_od: county", "A>B", ""), ["lo", "hi"]].tolist() == [0, 3]
    fixed, more = commute.joint_repair(dict(exported), 5.0, False)
    assert fixed.passed, fixed.failures()
    assert more.values.tolist() == [["county", "A", "D"]] and fixed.added == 1
    got = fixed.cells.set_index(["level", "unit_id", "cell"])
    assert got.loc[("commute_od: county", "A>B", ""), ["lo", "hi"]].tolist() == [0, 11]
    assert got.loc[("jobs_housing: county", "B", e), ["lo", "hi"]].tolist() == [3, 13]
    report, none = commute.joint_repair(dict(exported), 5.0, False, repair=False)
    assert not report.passed and none.empty


def test_commute_od_totals_take_the_state_commute_publishes():
    """commute_od's own audit takes a column total it does not withhold as public;
    commute hides that unit's inbound commuters: in the joint audit the total is hidden
    (what commute shows), and a row total commute publishes stays public."""
    from mobsig import commute

    pairs = pd.DataFrame({"level": "county", "origin_id": list("AAB"), "dest_id": list("ABB"),
                          "raw_count": [5, 3, 4], "is_suppressed": [False, True, True]})
    table, sums, _ = pa.od_release_table(pairs, ("origin_id",), ("dest_id",))
    od = pa.audit(table, table["is_suppressed"].to_numpy(bool), 5.0, identities=(),
                  additive=(), by=pa.OD_CELL, sums=sums)
    unit = pd.DataFrame({"level": "county", "unit_id": ["A", "B", "A", "B"],
                         "parent_id": None,
                         "measure": ["commuters", "commuters", "inbound_commuters",
                                     "inbound_commuters"], "raw_count": [8, 4, 5, 7]})
    com = pa.audit(unit, np.array([False, True, False, True]), 5.0, identities=(),
                   additive=None, by="measure")
    keys = od.solved.keys
    assert not od.solved.hidden[(keys["unit_id"] == "col:B").to_numpy()].any()
    after = commute.od_totals_as_published(od, com).solved
    state = dict(zip(keys["unit_id"], after.hidden, strict=True))
    assert state["col:B"] and not state["row:A"] and state["A>B"]


def _county_c(live_and_work: int) -> list[tuple]:
    """jobs_housing's cells of county C (100 employed residents, ``live_and_work``) and
    its townships t1-t3 (employed 40, 35, 25; live_and_work 18, 12, 8), all published."""
    e, lw = "employed_residents", "live_and_work"
    rows = [("county", "C", None, e, 100, False), ("county", "C", None, lw, live_and_work,
                                                     False)]
    for t, emp, here in (("t1", 40, 18), ("t2", 35, 12), ("t3", 25, 8)):
        rows += [("township", t, "C", e, emp, False), ("township", t, "C", lw, here, False)]
    return rows


def test_live_and_work_of_a_county_minus_its_townships_is_a_protected_count():
    """jobs_housing publishes county C's live_and_work (40) and its townships' (18, 12,
    8): 40 - 38 = 2 residents live and work in C but in two of its townships (the sum of
    commute_od's pairs between C's townships), a small count from jobs_housing alone.
    Its audit holds that count as a hidden cell (``inner_commuters township``): on the
    group rule's mask it is pinned at 2, and the audited rule hides a cell so that it is
    at least k wide."""
    from mobsig import jobs_housing as jh

    lw = "live_and_work"
    rows = _county_c(live_and_work=40)
    pdf = _employed(rows)
    inner = "inner_commuters township"
    before = jh.employed_audit(pdf, K, K, False)
    got = before.cells.set_index(["unit_id", "measure"])
    assert got.loc[("C", inner), ["lo", "hi", "raw_count"]].tolist() == [2, 2, 2]
    assert not before.passed
    mask, after = jh.employed_mask(pdf, K, K, True, False)
    assert after.passed, after.failures()
    assert mask.any()
    got = after.cells.set_index(["unit_id", "measure"])
    assert got.loc[("C", inner), "width"] >= K
    # a child layer that does not add up under its parent (the children's sum is larger)
    # gives no inner cell
    big = _employed([r if r[3] != lw or r[1] != "C" else (*r[:4], 30, False) for r in rows])
    tab, _, _ = jh.employed_table(big)
    assert not tab["measure"].str.startswith("inner_commuters").any()


def test_an_inner_count_below_the_width_is_held_to_the_width_even_from_k_on():
    """County C's live_and_work 50 over its townships' 18 + 12 + 8: 12 residents live
    and work in C but in two of its townships. 12 is no small count for k = 10, yet
    every commute_od pair between two of C's townships is at most 12: an interval
    narrower than the protection width (15) for each of them, hidden or not. So an
    inner count is held to the width (from k on only when it is at least the width),
    while an out-commuter count stays exempt from k on (C's 50, the townships' 22, 23
    and 17 here)."""
    from mobsig import jobs_housing as jh

    lw = "live_and_work"
    rows = _county_c(live_and_work=50)
    pdf = _employed(rows)
    inner = "inner_commuters township"
    before = jh.employed_audit(pdf, 10, K, False)
    got = before.cells.set_index(["unit_id", "measure"])
    assert got.loc[("C", inner), ["lo", "hi", "raw_count"]].tolist() == [12, 12, 12]
    assert not before.passed
    bad = before.cells[~before.cells["protected"]]
    assert set(bad["measure"]) == {inner}  # the out-commuters are exempt
    mask, after = jh.employed_mask(pdf, 10, K, True, False)
    assert after.passed, after.failures()
    assert mask.any()
    got = after.cells.set_index(["unit_id", "measure"])
    assert got.loc[("C", inner), "width"] >= K
    # from the width on an inner count is exempt like an out-commuter count
    wide = _employed([r if r[3] != lw or r[1] != "C" else (*r[:4], 60, False)
                      for r in rows])
    assert jh.employed_audit(wide, 10, K, False).passed


def test_an_inner_cell_ties_the_parent_the_relations_tie():
    """A unit id at two levels (county X listed before city X): the audit's relations tie
    X's townships to city X (the first level by name), and so does the inner cell (it
    took the first row, county X, before)."""
    from mobsig import jobs_housing as jh
    from mobsig import privacy_audit as pa

    e, lw = "employed_residents", "live_and_work"
    rows = [("county", "X", None, e, 90, False), ("county", "X", None, lw, 35, False),
            ("city", "X", None, e, 100, False), ("city", "X", None, lw, 40, False)]
    for t, emp, here in (("t1", 60, 20), ("t2", 40, 12)):
        rows += [("township", t, "X", e, emp, False), ("township", t, "X", lw, here, False)]
    tab, _, sums = jh.employed_table(_employed(rows))
    inner = tab[tab["measure"].str.startswith("inner_commuters")]
    assert inner[["level", "unit_id", "raw_count"]].values.tolist() == [["city", "X", 8]]
    system = pa.relations(tab, jh.EMPLOYED_IDENTITY, (e,), "measure", sums=sums)
    kid = tab.index[(tab["unit_id"] == "t1") & (tab["measure"] == lw)][0]
    assert tab.loc[system.parent[kid], ["level", "unit_id"]].tolist() == ["city", "X"]


def _two_level_od():
    """commute_od at two levels: counties A, B (townships a1, a2 in A; b1, b2 in B).
    Published: A>B 30, a1>b1 14, a2>b1 10; hidden: a1>b2 6; no row or column total (the
    unit tables hide them); as exported (:func:`mobsig.commute.od_totals_as_published`:
    a hidden pair is not listed, lower bound 0)."""
    from mobsig import commute

    pairs = pd.DataFrame({"level": ["county", "township", "township", "township"],
                          "origin_id": ["A", "a1", "a2", "a1"],
                          "dest_id": ["B", "b1", "b1", "b2"],
                          "raw_count": [30, 14, 10, 6],
                          "is_suppressed": [False, False, False, True],
                          "hide": True})
    table, sums, _ = pa.od_release_table(pairs, ("origin_id",), ("dest_id",),
                                         withheld="hide", withheld_rows="hide")
    od = pa.audit(table, table["is_suppressed"].to_numpy(bool), K, identities=(),
                  additive=(), by=pa.OD_CELL, sums=sums)
    ends = pd.DataFrame({"level": ["county"] * 2 + ["township"] * 4,
                         "unit_id": ["A", "B", "a1", "a2", "b1", "b2"],
                         "origin": [True, False, True, True, False, False],
                         "dest": [False, True, False, False, True, True]})
    parents = pd.DataFrame({"level": "township", "unit_id": ["a1", "a2", "b1", "b2"],
                            "parent_level": "county", "parent_id": ["A", "A", "B", "B"]})
    return commute.od_totals_as_published(od), ends, parents


def test_unlisted_pairs_and_the_relations_between_od_levels():
    """An export lists no hidden pair, so every pair it does not list is an unknown >= 0
    (here a2>b2, besides the hidden a1>b2), and a county pair is the sum of its township
    pairs: A>B 30 = 14 + 10 + a1>b2 + a2>b2 puts a1>b2 in [0, 6], which neither matrix
    shows by itself (no relation holds a1>b2 there: unbounded)."""
    od, ends, parents = _two_level_od()
    assert od.passed and od.cells.set_index("unit_id").loc["a1>b2", "hi"] == np.inf
    n = len(od.solved.keys)
    flat, left = pa.od_unlisted(od.solved, ends, parents, blocks=False)
    assert flat.keys["unit_id"].iloc[n:].tolist() == ["a2>b2"] and not left
    assert flat.hidden[n:].all() and flat.zero_unknown[n:].all() and flat.exempt[n:].all()
    alone = pa.joint_audit({"commute_od": dataclasses.replace(od, solved=flat)}, None, K)
    assert alone.passed, alone.failures()
    tied, _ = pa.od_unlisted(od.solved, ends, parents)
    assert "block county A>B of township (=)" in tied.system.eq_text
    got = pa.joint_audit({"commute_od": dataclasses.replace(od, solved=tied)}, None, K)
    assert got.cells.set_index("unit_id").loc["a1>b2", ["lo", "hi"]].tolist() == [0, 6]
    assert not got.passed
    # the commute job repairs it as the joint audit (commute.joint_repair): the smallest
    # published pair of two units in the block is hidden, a1>b2 is in [0, 16]
    from mobsig import commute

    fixed, more = commute.joint_repair({"commute_od": dataclasses.replace(od, solved=tied)},
                                       K, False)
    assert fixed.passed and more.values.tolist() == [["township", "a2", "b1"]]
    assert fixed.cells.set_index("unit_id").loc["a1>b2", ["lo", "hi"]].tolist() == [0, 16]
    # a level with more unlisted pairs than pad_max keeps them as known zeros (stricter
    # than the reader: a1>b2 pinned at 30 - 14 - 10) and its block relations (the level
    # is returned)
    capped, left = pa.od_unlisted(od.solved, ends, parents, pad_max=0)
    assert left == ["township"] and len(capped.keys) == n
    strict = pa.joint_audit({"commute_od": dataclasses.replace(od, solved=capped)}, None, K)
    assert strict.cells.set_index("unit_id").loc["a1>b2", ["lo", "hi"]].tolist() == [6, 6]


def _commute_release(pairs: pd.DataFrame, a_counts: tuple[int, int], a_er_hidden: bool,
                     tie: tuple[pd.DataFrame, pd.DataFrame] | None = None):
    """The joint audit of a hand-built commute release: commute_od ``pairs`` (``level``,
    ``origin_id``, ``dest_id``, ``raw_count``, ``is_suppressed``; no row or column total:
    commute's unit table holds them, not here) as exported, with the unlisted pairs and
    the relations between its levels where ``tie`` gives the ends and parents
    (:func:`mobsig.privacy_audit.od_unlisted`), and jobs_housing at the county level: A's
    employed residents and live-and-work ``a_counts`` (live-and-work hidden, employed
    residents where ``a_er_hidden``), B's 40 and 40 published."""
    from mobsig import commute
    from mobsig import jobs_housing as jh

    table, sums, _ = pa.od_release_table(pairs.assign(hide=True), ("origin_id",),
                                         ("dest_id",), withheld="hide", withheld_rows="hide")
    od = commute.od_totals_as_published(pa.audit(
        table, table["is_suppressed"].to_numpy(bool), K, identities=(), additive=(),
        by=pa.OD_CELL, sums=sums))
    if tie is not None:
        od = dataclasses.replace(od, solved=pa.od_unlisted(od.solved, *tie)[0])
    emp = pd.DataFrame({"level": "county", "unit_id": ["A", "A", "B", "B"],
                        "parent_id": None,
                        "measure": ["employed_residents", "live_and_work"] * 2,
                        "raw_count": [*a_counts, 40, 40],
                        "is_suppressed": [a_er_hidden, True, False, False]})
    both = {"jobs_housing": jh.employed_audit(emp, K, K, False), "commute_od": od}
    return pa.joint_audit(both, commute.shared_count_links(both), K)


def _held_case(hold_a: bool):
    """jobs_housing at the county level (A: 20 employed residents published, 12 living
    and working there hidden; B: 40 and 40) and commute_od at two levels as exported
    (townships a1, a2 in A, b1 in B): A>A 12 (A's live-and-work) and A>B 8 hidden,
    B>B 40; a1>a1 4 and a2>a2 3 published, a1>a2 5 and a2>b1 8 hidden. ``hold_a``: A's
    employed residents hidden too. The joint audit of the two with the relations between
    commute_od's levels."""
    pairs = pd.DataFrame({
        "level": ["county"] * 3 + ["township"] * 5,
        "origin_id": ["A", "A", "B", "a1", "a2", "a1", "a2", "b1"],
        "dest_id": ["A", "B", "B", "a1", "a2", "a2", "b1", "b1"],
        "raw_count": [12, 8, 40, 4, 3, 5, 8, 40],
        "is_suppressed": [True, True, False, False, False, True, True, False]})
    ends = pd.DataFrame({"level": ["county"] * 2 + ["township"] * 3,
                         "unit_id": ["A", "B", "a1", "a2", "b1"],
                         "origin": True, "dest": True})
    parents = pd.DataFrame({"level": "township", "unit_id": ["a1", "a2", "b1"],
                            "parent_level": "county", "parent_id": ["A", "A", "B"]})
    return _commute_release(pairs, (20, 12), hold_a, (ends, parents))


def test_a_published_jobs_housing_count_that_pins_a_pair_between_levels_is_held():
    """Issue 17 (the relations between commute_od's levels, reported and not gated
    before): A's same-unit pair is its live-and-work, at most its published employed
    residents (20), and A>A = a1>a1 + a1>a2 + a2>a1 + a2>a2, so the hidden a1>a2 is in
    [0, 12]: narrower than 15, and every other pair of the block is published or hidden
    already (no commute_od pair can widen it). commute.jobs_housing_holds names A's
    employed residents, the published count that binds it; with it hidden the pair
    spans [0, 15] or more."""
    from mobsig import commute

    got = _held_case(hold_a=False)
    cells = got.cells.set_index("unit_id")
    assert cells.loc["a1>a2", ["lo", "hi"]].tolist() == [0, 12] and not got.passed
    held = commute.jobs_housing_holds(got)
    assert held.values.tolist() == [["county", "A", "employed_residents"]]
    fixed = _held_case(hold_a=True)
    assert fixed.passed, fixed.failures()
    assert fixed.cells.set_index("unit_id").loc["a1>a2", "width"] >= K
    assert commute.jobs_housing_holds(fixed).empty


def _metro_case(metro_part_published: bool):
    """The commute release (jobs_housing at the county level: A 30 employed residents
    published, 13 living and working there hidden; commute_od: A>A 13, A>B 9, A>D 8
    hidden, B>B 40 published) as its stored system, and linkage's commuters matrix at the
    metro level (B and D metro members): A's pairs to them hidden, as commute_od hides
    them; the metro part of A's row (metro_area's commuters_to_metro, 17) published or
    not. The joint audit of the two (linkage.joint_with_commute)."""
    from mobsig import linkage

    stored = _commute_release(pd.DataFrame({
        "level": "county", "origin_id": ["A", "A", "A", "B"], "dest_id": ["A", "B", "D", "B"],
        "raw_count": [13, 9, 8, 40], "is_suppressed": [True, True, True, False]}),
        (30, 13), False)
    assert stored.passed, stored.failures()  # the commute release passes by itself
    link = pd.DataFrame({"level": "county", "measure": "commuters", "origin_id": "A",
                         linkage.IN_METRO: True, "dest_id": ["B", "D"], "raw_count": [9, 8],
                         "is_suppressed": True, "hide_row": not metro_part_published})
    table, sums, _ = pa.od_release_table(
        link, ("origin_id", linkage.IN_METRO), ("dest_id",), partition=("level", "measure"),
        withheld_rows="hide_row", whole_rows=("origin_id",))
    own = pa.audit(table, table["is_suppressed"].to_numpy(bool), K, identities=(),
                   additive=(), by=pa.OD_CELL, sums=sums)
    return own, stored.solved


def test_a_metro_part_beside_published_employed_residents_gives_back_live_and_work():
    """Issue 17 (linkage's metro relations in a joint audit with commute's release): A's
    commuters all work in metro members (B, D), so metro_area's commuters_to_metro of A
    (17) is its whole row, and jobs_housing's published employed residents (30) minus it
    is A's hidden live-and-work: 13, exactly. linkage's own audit passes (its whole row,
    employed residents - live-and-work, is a public total there); the joint audit with
    the commute release's stored system catches it; with the metro part withheld it
    passes, and the job's repair withholds it (metro_area hides it)."""
    from mobsig import linkage

    own, stored = _metro_case(metro_part_published=True)
    assert own.passed, own.failures()
    got, held = linkage.joint_with_commute(own, stored, K)
    assert held.empty
    cells = got.cells.set_index(["level", "unit_id", "cell"])
    key = ("commute: jobs_housing: county", "A")
    assert cells.loc[(*key, "live_and_work"), ["lo", "hi"]].tolist() == [13, 13]
    assert cells.loc[(*key, "out_commuters"), ["lo", "hi"]].tolist() == [17, 17]
    assert not got.passed
    own_w, stored_w = _metro_case(metro_part_published=False)
    fixed, _ = linkage.joint_with_commute(own_w, stored_w, K)
    assert fixed.passed, fixed.failures()
    # the job's repair: metro_area hides A's metro part (linkage.withheld_metro_rows)
    repaired, held = linkage.joint_with_commute(own, stored, K, repair=True)
    assert repaired.passed, repaired.failures()
    assert held.values.tolist() == [["county", "A", "commuters_to_metro"]]


def test_a_stored_system_reads_back_and_a_damaged_one_asks_for_a_rerun():
    """privacy_systems keeps a release's audited system for the audits of later releases:
    it reads back as it was; a blob this code cannot read is an input error naming the
    job to re-run (not a raw trace)."""
    from mobsig.errors import InputError

    own, _ = _metro_case(metro_part_published=True)
    back = pa.system_from_blob(pa.system_blob(own.solved))
    pd.testing.assert_frame_equal(back.keys, own.solved.keys)
    assert (back.system.rows != own.solved.system.rows).nnz == 0
    assert (back.hidden == own.solved.hidden).all()
    with pytest.raises(InputError, match="re-run the job that publishes the release"):
        pa.system_from_blob(b"not a system")
