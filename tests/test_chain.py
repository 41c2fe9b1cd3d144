"""The real pipeline on the synthetic city, measured against its ground truth.

One run of every job (the session fixture ``chain`` in conftest), then the acceptance
thresholds of the issues that are not already checked by the stage's own tests on the
same run (ingest: test_ingest, clean: test_clean, home/work and classes: test_residence,
expansion, levels and privacy: test_population): reconciliation over every day, stays
precision/recall, cross-midnight stays, non-human cards and multi-card groups, re-runs.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mobsig.io.catalog import Catalog
from tests.conftest import MONTH

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def truth(chain):
    res, cfg, _ = chain
    t = res.out / "truth"
    return {"cards": pd.read_parquet(t / "cards.parquet"),
            "persons": pd.read_parquet(t / "persons.parquet"),
            "stays": pd.read_parquet(t / "stays"),
            "population": pd.read_csv(t / "population_by_unit.csv",
                                      dtype={"unit_id": str, "parent_id": str})}


def table(spark, chain, name, **spec) -> pd.DataFrame:
    res, cfg, _ = chain
    return Catalog(spark, cfg.warehouse).read(name, **spec).toPandas()


def test_every_day_reconciles_exactly(chain):
    res, _, runs = chain
    for day in res.days:
        ing = runs.of("ingest_events", day)
        read = ing.input_rows["raw_events"]
        accepted = ing.output_rows["events_bronze"]
        assert read == accepted + ing.output_rows["events_quarantine"], day
        assert ing.output_rows["events_quarantine"] == sum(ing.removed.values()), day
        cl = runs.of("clean_stays", day)
        assert cl.input_rows["events_bronze"] == accepted, day
        assert accepted == cl.output_rows["events_clean"] + sum(cl.removed.values()), day


def test_stays_precision_recall_against_truth(spark, chain, truth):
    """Stays of >= 30 min from the real chain: precision and recall >= 0.9 (a detected stay
    matches a true one when times overlap >= 50 % of the shorter and they are <= 1 km
    apart). Human cards, days fully inside the run (not the first or last day)."""
    from tests.factories import match_stays

    res, _, _ = chain
    days = res.days[1:-1]
    lo, hi = pd.Timestamp(days[0]), pd.Timestamp(days[-1]) + pd.Timedelta(days=1)
    det = table(spark, chain, "stays")
    det["stay_start"] = det["stay_start"].astype("datetime64[ns]")
    det["stay_end"] = det["stay_end"].astype("datetime64[ns]")
    human = set(truth["cards"].loc[truth["cards"]["is_human"], "user_id"])
    tr = truth["stays"]
    tr = tr[(tr["duration_s"] >= 1800) & tr["user_id"].isin(human)
            & (tr["stay_start"] >= lo) & (tr["stay_end"] < hi)].reset_index(drop=True)
    det = det[det["user_id"].isin(human) & (det["stay_start"] >= lo)
              & (det["stay_end"] < hi)].reset_index(drop=True)
    pairs = match_stays(det, tr)
    precision = pairs["index_d"].nunique() / len(det)
    recall = pairs["index_t"].nunique() / len(tr)
    assert len(tr) > 1000
    assert precision >= 0.9, f"precision {precision:.3f} ({len(det)} detected)"
    assert recall >= 0.9, f"recall {recall:.3f} ({len(tr)} true)"


def test_cross_midnight_stays_are_stored_once(spark, chain):
    det = table(spark, chain, "stays")
    assert not det.duplicated(["user_id", "stay_start"]).any()
    overnight = det[det["stay_start"].dt.date != det["stay_end"].dt.date]
    assert len(overnight) > 100  # nights at home span midnight


def test_non_human_and_multicard_against_truth(spark, chain, truth):
    flags = table(spark, chain, "user_flags", month=MONTH.strftime("%Y-%m"))
    m = flags.merge(truth["cards"][["user_id", "person_id", "is_human"]], on="user_id",
                    how="left", validate="one_to_one")
    assert m["is_human"].notna().all()
    tp = (m["is_non_human"] & ~m["is_human"]).sum()
    precision = tp / max(m["is_non_human"].sum(), 1)
    recall = tp / (~m["is_human"]).sum()
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    # pairs of cards of one person (truth) vs pairs in one detected group
    h = m[m["is_human"]]
    true_pairs = {tuple(sorted(g)) for _, g in h.groupby("person_id")["user_id"] if len(g) == 2}
    det_pairs = set()
    for _, g in h.dropna(subset=["multicard_group"]).groupby("multicard_group")["user_id"]:
        u = sorted(g)
        det_pairs |= {(a, b) for i, a in enumerate(u) for b in u[i + 1:]}
    assert len(true_pairs) >= 5
    p = len(true_pairs & det_pairs) / max(len(det_pairs), 1)
    r = len(true_pairs & det_pairs) / len(true_pairs)
    # Issue target: 0.9 / 0.9 (measured 1.0 / 1.0 on 15 pairs: co-location plus
    # co-movement, see mobsig.flags)
    assert p >= 0.9 and r >= 0.9, (p, r, len(det_pairs), len(true_pairs))
    # exactly one primary per group
    grouped = m.dropna(subset=["multicard_group"])
    assert (grouped.groupby("multicard_group")["is_group_primary"].sum() == 1).all()


def test_reruns_are_identical(spark, chain):
    from mobsig.runner import run

    res, cfg, _ = chain
    cat = Catalog(spark, cfg.warehouse)
    day = res.days[3]
    key = MONTH.strftime("%Y-%m")

    def snap():
        return {t: sorted(tuple(r) for r in cat.read(t, **spec).collect())
                for t, spec in (("events_clean", {"dt": day}), ("stays", {"dt": day}),
                                ("moves", {"dt": day}), ("home_work", {"month": key}))}

    before = snap()
    run(spark, cfg, "clean_stays", day=day)
    run(spark, cfg, "home_work", month=MONTH)
    assert snap() == before


def test_run_records_name_counts_and_gates(spark, chain):
    """Every run of the chain left a succeeded record in the runs table with its row
    counts and gates, and the gates kept their results."""
    res, cfg, runs = chain
    from mobsig.runs import read_runs, started_rows

    cat = Catalog(spark, cfg.warehouse)
    rec = read_runs(cat).toPandas()
    assert len(rec) >= len(runs.results) and set(rec["status"]) == {"succeeded"}
    assert (rec["started_at"] <= rec["ended_at"]).all()
    # every run ended: no started record is left (test_run_records: one is written first)
    assert started_rows(cat) == []
    clean = rec[(rec["job"] == "clean_stays") & (rec["partition"] == f"dt={res.days[1]}")]
    counts = json.loads(clean["output_rows"].iloc[0])
    assert counts["events_clean"] == runs.of("clean_stays", res.days[1]).output_rows[
        "events_clean"]
    assert any(g["suite"] == "events_clean" and g["success"]
               for g in json.loads(clean["gates"].iloc[0]))
    # the job's facts are kept with the run (the commute job's privacy audits among them)
    com = rec[(rec["job"] == "commute") & (rec["partition"] == "month=2026-06")]
    facts = json.loads(com["facts"].iloc[-1])
    assert facts["privacy_joint_gated"] is True and facts["privacy_joint_under_protected"] == 0
    assert "privacy_joint_levels_under_protected" in facts
    kept = list((cfg.quality_dir).rglob("*.json"))
    suites = {p.parts[len(cfg.quality_dir.parts)] for p in kept}
    assert {"events_bronze", "events_clean", "stays", "user_flags", "home_work"} <= suites
    doc = json.loads(kept[0].read_text())
    assert "success" in doc and "suite" in doc
