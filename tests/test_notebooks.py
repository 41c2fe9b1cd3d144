"""The walkthrough notebook runs in CI (issue 16 item 6): it executes (nbclient, a real
Python kernel) against the export files of the session ``chain`` fixture's warehouse, and
the committed notebook carries no outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "demo_walkthrough.ipynb"


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code), (
        "strip the outputs before committing (e.g. jupyter nbconvert --clear-output)")


def test_walkthrough_executes_on_the_test_city(chain, monkeypatch):
    from nbclient import NotebookClient

    _, cfg, runs = chain
    monkeypatch.setenv("MOBSIG_WAREHOUSE", str(cfg.warehouse))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "month 2026-06:" in text and "townships: " in text
    n_days = int(text.split("days with a daily_presence export: ")[1].split()[0])
    # each day daily_presence ran on (conftest.INDICATOR_DAYS) has its export folder
    assert n_days == len(runs.days_of("daily_presence")) >= 4
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the map, the county bars, the daily line
    assert all(len(o["data"]["image/png"]) > 5000 for o in images)  # not empty plots
