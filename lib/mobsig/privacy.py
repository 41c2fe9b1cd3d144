"""Small-count suppression of export tables (domain.md, Privacy).

Rule (applied to raw, pre-expansion distinct-user counts, so an expanded value never
reveals a small raw one):

1. *Primary*: a cell whose ``raw_count`` < ``k_min`` is suppressed; a zero count only
   when ``suppress_zeros`` (a zero reveals no person, so by default it is published).
2. *Complementary* (when enabled), repeated until nothing changes:
   - within each sibling group (same ``level``, ``parent_id`` and ``pop_class``, or the
     breakdown column ``by`` of another table, e.g. jobs_housing's ``measure``; the
     group's total is treated as public), if exactly one cell is suppressed, the
     unsuppressed cell with the smallest non-zero raw count (ties: smallest ``unit_id``;
     a zero only when nothing else is left) is suppressed too, so the suppressed one
     cannot be recovered as total - the others;
   - within each identity of one unit (``actual_service = resident + short_term``), if
     exactly one of its cells is suppressed, the smallest remaining one is suppressed too.

Suppressed rows are kept with ``raw_count`` and ``expanded_count`` set to null and
``is_suppressed = true`` (so a reader sees that a value exists but is withheld; dropping
them would reveal nothing more, but keeps the table's completeness visible).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from mobsig import columns as C

# total class -> the classes it is the sum of (per unit)
IDENTITIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("actual_service", ("resident", "short_term")),)

Identities = Sequence[tuple[str, Sequence[str]]]


def suppression_mask(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                     suppress_zeros: bool = False, identities: Identities = IDENTITIES,
                     max_rounds: int = 100, by: str = C.POP_CLASS,
                     forced: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the rows to suppress (vectorised per group; see module doc).

    Needs ``level``, ``parent_id`` (may be null), ``by`` (the breakdown: ``pop_class``
    by default), ``unit_id``, ``raw_count`` (the true, unsuppressed count);
    ``identities`` name values of ``by``. ``forced``: rows withheld for another reason
    (a rule across tables or levels); complementary suppression protects them like
    primary ones.
    """
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy()
    sup = (raw < k_min) & ((raw > 0) | suppress_zeros)
    if forced is not None:
        sup = sup | np.asarray(forced, dtype=bool)
    if not complementary or len(pdf) == 0:
        return sup
    group = [C.LEVEL, C.PARENT_ID, by]
    keys = pdf[group].astype(object).where(pdf[group].notna(), "")
    sib = keys.astype(str).agg("\x1f".join, axis=1).to_numpy()
    unit_key = (pdf[C.LEVEL].astype(str) + "\x1f" + pdf[C.UNIT_ID].astype(str)).to_numpy()
    cls = pdf[by].astype(str).to_numpy()
    # complement candidates: non-zero cells first (a zero hides little), then the smallest
    # raw count, then the smallest unit_id
    order = np.lexsort((pdf[C.UNIT_ID].astype(str).to_numpy(), raw, raw == 0))
    ident_groups = []
    for total, parts in identities:
        members = np.isin(cls, [total, *parts])
        ident_groups.append(members)
    for _ in range(max_rounds):
        changed = False
        # sibling groups with exactly one suppressed cell
        frame = pd.DataFrame({"g": sib, "s": sup})
        stats = frame.groupby("g")["s"].agg(["sum", "size"])
        lonely = set(stats.index[(stats["sum"] == 1) & (stats["size"] > 1)])
        if lonely:
            done: set[str] = set()
            for i in order:
                g = sib[i]
                if g in lonely and g not in done and not sup[i]:
                    sup[i] = True
                    done.add(g)
                    changed = True
        # identities within a unit
        for members in ident_groups:
            idx = np.flatnonzero(members)
            if not len(idx):
                continue
            frame = pd.DataFrame({"u": unit_key[idx], "s": sup[idx]})
            stats = frame.groupby("u")["s"].agg(["sum", "size"])
            lonely = set(stats.index[(stats["sum"] == 1) & (stats["size"] > 1)])
            if lonely:
                done = set()
                for i in order:
                    u = unit_key[i]
                    if members[i] and u in lonely and u not in done and not sup[i]:
                        sup[i] = True
                        done.add(u)
                        changed = True
        if not changed:
            break
    return sup


def suppress_pandas(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                    suppress_zeros: bool = False, identities: Identities = IDENTITIES,
                    by: str = C.POP_CLASS) -> pd.DataFrame:
    """``pdf`` with ``is_suppressed`` set and the counts of suppressed rows nulled."""
    out = pdf.copy()
    mask = suppression_mask(out, k_min, complementary, suppress_zeros, identities, by=by)
    out[C.IS_SUPPRESSED] = mask
    out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(mask)
    out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(mask)
    return out


def with_suppression(df: DataFrame, k_min: int, complementary: bool = True,
                     suppress_zeros: bool = False, identities: Identities = IDENTITIES,
                     by: str = C.POP_CLASS) -> DataFrame:
    """Apply small-count suppression to a population table (one pass per ``level``).

    Needs ``level``, ``parent_id``, ``by`` (``pop_class``; a table with another
    breakdown names its column and its ``identities``), ``unit_id``, ``raw_count``
    (bigint), ``expanded_count`` (double); adds/overwrites ``is_suppressed``. Rows are
    kept. Groups never span levels, so grouping by ``level`` sees every constraint.
    """
    # the counts of suppressed rows become null, whatever the input's nullability
    fields = [T.StructField(f.name, f.dataType, True) if f.name in (C.RAW_COUNT,
                                                                    C.EXPANDED_COUNT) else f
              for f in df.schema.fields if f.name != C.IS_SUPPRESSED]
    schema = T.StructType(fields + [T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False)])
    names = [f.name for f in schema.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return suppress_pandas(pdf, k_min, complementary, suppress_zeros, identities,
                               by)[names]

    base = df.drop(C.IS_SUPPRESSED) if C.IS_SUPPRESSED in df.columns else df
    return base.groupBy(C.LEVEL).applyInPandas(apply, schema)


def small_counts(k_min: int, suppress_zeros: bool) -> list[int]:
    """Raw counts that must never be published (the gate's forbidden set)."""
    return list(range(0 if suppress_zeros else 1, k_min)) or [-1]
