"""How the audited suppression rule's time grows with the table (not a test: a measurement,
README Privacy audit). ``python -m tests.audit_scale 25 50 100 200 400 800 1600``: for each
number of counties, a random city of 3-6 townships per county (``county_table``, a mean of
12 residents per township) with an H3-like grid layer over the same townships (one root
layer more, so the grid total = the city total links every county, as daily_presence's
grid does), through :func:`mobsig.privacy_audit.audited_suppression_mask` with k = 15;
prints cells, hidden cells, programmes, rounds, components and seconds."""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from mobsig import privacy_audit as pa
from tests.test_privacy_audit import K, county_table


def main(argv: list[str]) -> None:
    for n in [int(x) for x in argv] or [25, 50, 100, 200, 400]:
        pdf = county_table(np.random.default_rng(5), n_counties=n, mean=12.0)
        grid = pdf[pdf["level"] == "township"].assign(level="grid", parent_id=None)
        grid["unit_id"] = "g" + grid["unit_id"]
        full = pd.concat([pdf, grid], ignore_index=True)
        t = time.perf_counter()
        mask, res = pa.audited_suppression_mask(full, K)
        print(f"counties={n} cells={len(full)} hidden={int(mask.sum())} "
              f"passed={res.passed} programmes={res.n_programs} rounds={res.rounds} "
              f"components={res.components} seconds={time.perf_counter() - t:.1f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
