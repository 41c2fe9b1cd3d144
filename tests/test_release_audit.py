"""The interval audit of every release beside population_by_unit (issue 17 items 2, 2b,
2c): for each, a small hand-built table whose publication under the group rule alone lets
a reader pin a suppressed cell down (the audit catches it) and the audited rule that
prevents it; the city chain's releases are checked in tests/test_chain.py (the run facts
of every job's gate)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    townships T1 (3, hidden) and T2 (17) publish beside their county C (20): T1 = 20 - 17.
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
