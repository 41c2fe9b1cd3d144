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
                     max_rounds: int = 100, by: str = C.POP_CLASS) -> np.ndarray:
    """Boolean mask of the rows to suppress (vectorised per group; see module doc).

    Needs ``level``, ``parent_id`` (may be null), ``by`` (the breakdown: ``pop_class``
    by default), ``unit_id``, ``raw_count`` (the true, unsuppressed count);
    ``identities`` name values of ``by``.
    """
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy()
    sup = (raw < k_min) & ((raw > 0) | suppress_zeros)
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


# --------------------------------------------------------------------------------------
# origin-destination tables (linkage, trips_by_period)
#
# An OD table is a matrix: a cell is a (row, column) pair, e.g. (origin, destination).
# With every row total and column total public, the hidden cells are the edges of a
# bipartite graph between row and column nodes whose node sums are known; the values
# that fit are those of the hidden cells plus any alternating sum around a cycle, so a
# hidden cell is recoverable exactly when it lies on no cycle (a bridge of the graph).
# Complementary suppression therefore hides more cells until no hidden cell is a bridge
# (a node with one hidden edge, the classic "lone suppressed cell" of a row, is the
# simplest bridge). A row (or column) with a single cell has no public total (its total
# is the cell itself: publishing it would publish the cell), so it constrains nothing:
# such rows and columns are merged into one free node, through which a chain of hidden
# cells can close a cycle.


def bridges(edges: np.ndarray) -> np.ndarray:
    """Indices of the bridges of an undirected graph given as an (m, 2) array of integer
    node ids (no parallel edges): edges on no cycle. Iterative Tarjan, O(nodes + edges)."""
    m = len(edges)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    n = int(edges.max()) + 1
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for e, (a, b) in enumerate(edges.tolist()):
        adj[a].append((b, e))
        adj[b].append((a, e))
    disc = [-1] * n
    low = [0] * n
    out = []
    t = 0
    for root in range(n):
        if disc[root] >= 0 or not adj[root]:
            continue
        disc[root] = low[root] = t
        t += 1
        stack = [(root, -1, 0)]  # node, edge it was reached by, next neighbour index
        while stack:
            v, via, i = stack[-1]
            if i < len(adj[v]):
                stack[-1] = (v, via, i + 1)
                w, e = adj[v][i]
                if e == via:
                    continue
                if disc[w] < 0:
                    disc[w] = low[w] = t
                    t += 1
                    stack.append((w, e, 0))
                else:
                    low[v] = min(low[v], disc[w])
            else:
                stack.pop()
                if stack:
                    u = stack[-1][0]
                    low[u] = min(low[u], low[v])
                    if low[v] > disc[u]:
                        out.append(via)
    return np.asarray(sorted(out), dtype=np.int64)


def _side(edges: np.ndarray, hidden: np.ndarray, start: int, cut: int) -> set[int]:
    """Nodes reachable from ``start`` over the hidden edges without edge ``cut``."""
    adj: dict[int, list[int]] = {}
    for e in np.flatnonzero(hidden):
        if e == cut:
            continue
        a, b = int(edges[e, 0]), int(edges[e, 1])
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen, todo = {start}, [start]
    while todo:
        for w in adj.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def od_suppression_mask(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                        suppress_zeros: bool = False, rows: Sequence[str] = (C.ORIGIN_ID,),
                        cols: Sequence[str] = (C.DEST_ID,), forced: np.ndarray | None = None,
                        max_rounds: int = 10_000) -> np.ndarray:
    """Boolean mask of the cells of an origin-destination matrix to suppress.

    ``pdf``: one row per cell (unique by ``rows`` + ``cols``, the columns naming its row
    and column node) with ``raw_count`` (the true distinct-user count). Primary:
    raw_count < ``k_min`` (a zero only with ``suppress_zeros``), and the ``forced`` rows
    (hidden by another table). Complementary (when enabled), repeated until nothing
    changes, with every row and column total taken as public:

    1. a row or column with exactly one hidden cell (of more than one) hides its
       smallest other cell (non-zero raw counts first, then the smallest, then the key);
    2. a primary (or forced) cell that is still a bridge (see above: its value follows
       from the totals by subtraction along a chain of rows and columns; rows and columns
       of a single cell are one free node) gets a cycle: the smallest published cell
       joining the two sides of the bridge is hidden (when none exists, the smallest
       published cell touching either side, and the search goes on).

    Afterwards no small cell can be recovered from the published cells and the totals of
    the rows and columns holding more than one cell (a complement may be: it is not
    small, and the analysis already gives the attacker everything it yields), unless a
    whole block of rows and columns is hidden and a small cell still hangs on it alone:
    then nothing is left to hide, and the block's totals must not be published elsewhere
    (tiny tables only; the tests attack random tables and the city's).
    """
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy()
    sup = (raw < k_min) & ((raw > 0) | suppress_zeros)
    if forced is not None:
        sup |= np.asarray(forced, bool)
    primary = sup.copy()
    n = len(pdf)
    if not complementary or n == 0:
        return sup

    def keys(names: Sequence[str]) -> np.ndarray:
        frame = pdf[list(names)].astype(object).where(pdf[list(names)].notna(), "")
        return frame.astype(str).agg("\x1f".join, axis=1).to_numpy()

    rk, ck = keys(rows), keys(cols)
    _, r_id = np.unique(rk, return_inverse=True)
    _, c_id = np.unique(ck, return_inverse=True)
    n_rows = int(r_id.max()) + 1
    edges = np.column_stack([r_id, n_rows + c_id]).astype(np.int64)
    order = np.lexsort((np.char.add(rk.astype(str), ck.astype(str)), raw, raw == 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    size = np.bincount(edges.ravel(), minlength=int(edges.max()) + 1)
    free = len(size)  # rows and columns of one cell: no public total, one free node
    graph = np.where(size[edges] == 1, free, edges)

    by_rank = np.argsort(rank)
    cells_of: list[list[int]] = [[] for _ in range(len(size))]  # a node's cells, best first
    for i in by_rank.tolist():
        cells_of[edges[i, 0]].append(i)
        cells_of[edges[i, 1]].append(i)

    def best(cand: np.ndarray) -> int | None:
        return int(cand[np.argmin(rank[cand])]) if len(cand) else None

    for _ in range(max_rounds):
        changed = False
        # 1. lone hidden cells of a row or column
        deg = np.bincount(edges[sup].ravel(), minlength=len(size))
        for node in np.flatnonzero((deg == 1) & (size > 1)).tolist():
            if deg[node] != 1:
                continue  # fixed by an earlier pick in this round
            pick = next((i for i in cells_of[node] if not sup[i]), None)
            if pick is not None:
                sup[pick] = True
                deg[edges[pick]] += 1
                changed = True
        if changed:
            continue
        # 2. bridges (of the graph with the free node) that are small cells: a hidden
        #    complement that the totals give away reveals nothing below k itself
        hid = np.flatnonzero(sup)
        for b in hid[bridges(graph[hid])]:
            if not primary[b]:
                continue
            u, v = int(graph[b, 0]), int(graph[b, 1])
            side_u = _side(graph, sup, u, b)
            if v in side_u:
                continue  # an earlier pick of this round closed a cycle through it
            side_v = _side(graph, sup, v, b)
            a_u, b_u = np.isin(graph[:, 0], list(side_u)), np.isin(graph[:, 1], list(side_u))
            a_v, b_v = np.isin(graph[:, 0], list(side_v)), np.isin(graph[:, 1], list(side_v))
            pick = best(np.flatnonzero(~sup & ((a_u & b_v) | (a_v & b_u))))
            if pick is None:  # grow the component and look again next round
                pick = best(np.flatnonzero(~sup & (a_u | b_u | a_v | b_v)))
            if pick is None:
                continue
            sup[pick] = True
            changed = True
        if not changed:
            break
    return sup


def od_suppress_pandas(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                       suppress_zeros: bool = False, rows: Sequence[str] = (C.ORIGIN_ID,),
                       cols: Sequence[str] = (C.DEST_ID,), extra_counts: Sequence[str] = (),
                       forced: str | None = None) -> pd.DataFrame:
    """One matrix of :func:`with_od_suppression` in pandas: ``pdf`` with
    ``is_suppressed`` set and the counts (``raw_count``, ``expanded_count``,
    ``extra_counts``) of suppressed rows nulled."""
    pair = [*rows, *cols]
    cells = pdf[pair].astype(object).where(pdf[pair].notna(), "")
    key = cells.astype(str).agg("\x1f".join, axis=1).to_numpy()
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy()
    small = (raw < k_min) & ((raw > 0) | suppress_zeros)
    if forced:
        small |= pdf[forced].fillna(False).to_numpy(bool)
    # a pair: hidden when any of its cells must be; ranked by its smallest non-zero
    frame = pd.DataFrame({"_key": key, "_small": small,
                          "_raw": np.where(raw > 0, raw, np.inf)})
    per = frame.groupby("_key", sort=True).agg(_small=("_small", "any"),
                                               _raw=("_raw", "min"))
    first = pdf.assign(_key=key).drop_duplicates("_key").set_index("_key")
    pairs = first.loc[per.index, pair].reset_index(drop=True).assign(
        **{C.RAW_COUNT: np.where(np.isinf(per["_raw"]), 0, per["_raw"]).astype("int64")})
    mask = od_suppression_mask(pairs, k_min, complementary, suppress_zeros, rows, cols,
                               per["_small"].to_numpy())
    out = pdf.copy()
    out[C.IS_SUPPRESSED] = np.isin(key, per.index[mask].to_numpy())
    for c in (C.RAW_COUNT, C.EXPANDED_COUNT, *extra_counts):
        kind = "Int64" if pd.api.types.is_integer_dtype(out[c]) else "float64"
        out[c] = out[c].astype(kind).mask(out[C.IS_SUPPRESSED])
    return out


def with_od_suppression(df: DataFrame, k_min: int, complementary: bool = True,
                        suppress_zeros: bool = False, rows: Sequence[str] = (C.ORIGIN_ID,),
                        cols: Sequence[str] = (C.DEST_ID,), extra_counts: Sequence[str] = (),
                        partition: Sequence[str] = (C.LEVEL,), forced: str | None = None
                        ) -> DataFrame:
    """Small-count and complementary suppression of an origin-destination table
    (:func:`od_suppression_mask`), one matrix per ``partition`` group (e.g. per level and
    measure).

    Needs ``raw_count`` (bigint, the distinct users that decide), ``expanded_count``
    (double), the columns of ``rows``, ``cols`` and ``partition``; ``extra_counts``:
    further count columns of a cell (e.g. trips), nulled with it. Several cells of one
    (row, column) pair (a breakdown such as the period, every label present, zeros
    included) are decided together, domain.md's rule for labelled breakdowns: the whole
    pair is suppressed when any of its cells is small (the pair ranks by its smallest
    non-zero raw count). ``forced``: a boolean column; a pair with a true cell is
    suppressed whatever its counts (another table withholds its total). Adds/overwrites
    ``is_suppressed``; rows are kept, the counts of suppressed rows are null
    (:func:`od_suppress_pandas` per group).
    """
    nulled = (C.RAW_COUNT, C.EXPANDED_COUNT, *extra_counts)
    fields = [T.StructField(f.name, f.dataType, True) if f.name in nulled else f
              for f in df.schema.fields if f.name != C.IS_SUPPRESSED]
    schema = T.StructType(fields + [T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False)])
    names = [f.name for f in schema.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return od_suppress_pandas(pdf, k_min, complementary, suppress_zeros, rows, cols,
                                  extra_counts, forced)[names]

    base = df.drop(C.IS_SUPPRESSED) if C.IS_SUPPRESSED in df.columns else df
    return base.groupBy(*partition).applyInPandas(apply, schema)
