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

Origin-destination matrices (:func:`od_suppress_pandas`, :func:`with_od_suppression`):
a cell is a pair of units; its row total (people living in the origin) and column total
(people working in the destination) are published elsewhere, so a lone hidden cell in a
row or column would be recovered by subtraction, and even "two per row and column" can
leave a cell pinned down by the whole system of totals. Each primary cell (raw count in
1..k_min-1) therefore gets its own *hypercube* (a rectangle (r, c), (r, c'), (r', c),
(r', c') of hidden cells, the method of tau-ARGUS): adding +t, -t, -t, +t to its corners
changes no row or column total, so the cell stays undetermined whatever else is known.
See :func:`od_suppress_pandas` for how the rectangle is chosen (a longer cycle, or a
withheld column total, where no rectangle exists; a row or column left with one hidden
cell beside the public same-unit pair gets a complement or its total withheld);
``commute_od`` uses it.
``linkage`` and ``trips_by_period`` use the second rule set below
(:func:`od_bridge_suppress_pandas`, :func:`with_od_bridge_suppression`: labelled
breakdowns of a pair decided together, complementary cells until no small hidden cell is
a bridge of the hidden-cell graph). Two OD rules in one module is known duplication (two
sessions built them in parallel); both are attacked by linear programming in the tests,
and unifying them is open work.

Counts that another table publishes under its own rule (commute's commuters are
jobs_housing's employed residents) enter :func:`suppression_mask` as ``fixed`` cells: their
state is given, and the cells around them are suppressed so that neither is recovered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
                     forced: np.ndarray | None = None,
                     fixed: str | None = None) -> np.ndarray:
    """Boolean mask of the rows to suppress (vectorised per group; see module doc).

    Needs ``level``, ``parent_id`` (may be null), ``by`` (the breakdown: ``pop_class``
    by default), ``unit_id``, ``raw_count`` (the true, unsuppressed count);
    ``identities`` name values of ``by``. ``forced``: rows withheld for another reason
    (a rule across tables or levels); complementary suppression protects them like
    primary ones. ``fixed``: a boolean column marking rows whose
    suppression was decided elsewhere (e.g. a count another table publishes under its
    own rules): they keep the state given in ``is_suppressed``, count in the sibling and
    identity checks, and are never chosen as complements.
    """
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy()
    sup = (raw < k_min) & ((raw > 0) | suppress_zeros)
    frozen = np.zeros(len(pdf), bool)
    if fixed is not None and len(pdf):
        frozen = pdf[fixed].eq(True).to_numpy(bool)
        sup = np.where(frozen, pdf[C.IS_SUPPRESSED].eq(True).to_numpy(bool), sup)
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
    # raw count, then the smallest unit_id, level and breakdown value: a total order on
    # the cells (unique per level, unit and breakdown), so the choice never depends on
    # the order the rows arrive in (a re-run gives the same table)
    order = np.lexsort((cls, pdf[C.LEVEL].astype(str).to_numpy(),
                        pdf[C.UNIT_ID].astype(str).to_numpy(), raw, raw == 0))
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
                if g in lonely and g not in done and not sup[i] and not frozen[i]:
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
                    if (members[i] and u in lonely and u not in done and not sup[i]
                            and not frozen[i]):
                        sup[i] = True
                        done.add(u)
                        changed = True
        if not changed:
            break
    return sup


def suppress_pandas(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                    suppress_zeros: bool = False, identities: Identities = IDENTITIES,
                    by: str = C.POP_CLASS, fixed: str | None = None) -> pd.DataFrame:
    """``pdf`` with ``is_suppressed`` set and the counts of suppressed rows nulled
    (``fixed``: see :func:`suppression_mask`)."""
    out = pdf.copy()
    mask = suppression_mask(out, k_min, complementary, suppress_zeros, identities, by=by,
                            fixed=fixed)
    out[C.IS_SUPPRESSED] = mask
    out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(mask)
    out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(mask)
    return out


def with_suppression(df: DataFrame, k_min: int, complementary: bool = True,
                     suppress_zeros: bool = False, identities: Identities = IDENTITIES,
                     by: str = C.POP_CLASS, forced: str | None = None,
                     fixed: str | None = None) -> DataFrame:
    """Apply small-count suppression to a population table (one pass per ``level``).

    Needs ``level``, ``parent_id``, ``by`` (``pop_class``; a table with another
    breakdown names its column and its ``identities``), ``unit_id``, ``raw_count``
    (bigint), ``expanded_count`` (double); adds/overwrites ``is_suppressed``. Rows are
    kept. Groups never span levels, so grouping by ``level`` sees every constraint.
    ``forced``: a boolean column (dropped) of rows hidden whatever their counts
    (:func:`suppression_mask`'s ``forced``); ``fixed``: a nullable boolean column
    (dropped): where not null, the row's state decided elsewhere (hidden when true), kept
    and never a complement (:func:`suppression_mask`'s ``fixed``).
    """
    # the counts of suppressed rows become null, whatever the input's nullability
    fields = [T.StructField(f.name, f.dataType, True) if f.name in (C.RAW_COUNT,
                                                                    C.EXPANDED_COUNT) else f
              for f in df.schema.fields if f.name not in (C.IS_SUPPRESSED, forced, fixed)]
    schema = T.StructType(fields + [T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False)])
    names = [f.name for f in schema.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        if forced is None and fixed is None:
            return suppress_pandas(pdf, k_min, complementary, suppress_zeros, identities,
                                   by)[names]
        out = pdf.drop(columns=[c for c in (forced, fixed) if c])
        kw: dict = {}
        if fixed is not None:
            state = pdf[fixed]
            kw["fixed"] = "_fixed_row"
            out = out.assign(_fixed_row=state.notna().to_numpy(),
                             **{C.IS_SUPPRESSED: state.eq(True).to_numpy()})
        mask = suppression_mask(out, k_min, complementary, suppress_zeros, identities,
                                by=by, forced=None if forced is None else
                                pdf[forced].eq(True).to_numpy(bool), **kw)
        out[C.IS_SUPPRESSED] = mask
        out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(mask)
        out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(mask)
        return out[names]

    base = df.drop(C.IS_SUPPRESSED) if C.IS_SUPPRESSED in df.columns else df
    return base.groupBy(C.LEVEL).applyInPandas(apply, schema)


# OD matrices (see module doc)
ORIGIN_ID = "origin_id"
DEST_ID = "dest_id"
ORIGIN_PARENT_ID = "origin_parent_id"
DEST_PARENT_ID = "dest_parent_id"
HIDE_DEST_TOTAL = "hide_dest_total"  # the destination's column total must be withheld
HIDE_ORIGIN_TOTAL = "hide_origin_total"  # the origin's row total must be withheld


Cell = tuple[str, str]


class _OdCells:
    """One level's OD cells: raw counts, hidden cells by row and column, parents."""

    def __init__(self, raw: dict[Cell, int], parent_r: dict, parent_c: dict) -> None:
        self.raw = raw
        self.rows: dict[str, list[str]] = {}  # origin -> destinations with people
        self.cols: dict[str, list[str]] = {}
        for (a, b), x in sorted(raw.items()):
            if x > 0:
                self.rows.setdefault(a, []).append(b)
                self.cols.setdefault(b, []).append(a)
        self.parent_r = {r: parent_r.get(r) for r in self.rows}
        self.parent_c = {c: parent_c.get(c) for c in self.cols}
        sib_r = pd.Series(list(self.parent_r.values()), dtype=object).value_counts()
        sib_c = pd.Series(list(self.parent_c.values()), dtype=object).value_counts()
        # a unit with a sibling in the matrix: its rectangle should stay inside the parent
        self.sibling_r = {r: p is not None and sib_r.get(p, 0) > 1
                          for r, p in self.parent_r.items()}
        self.sibling_c = {c: p is not None and sib_c.get(p, 0) > 1
                          for c, p in self.parent_c.items()}
        self.sup: set[Cell] = set()
        self.sup_r: dict[str, set[str]] = {}
        self.sup_c: dict[str, set[str]] = {}

    def hide(self, cell: Cell) -> None:
        self.sup.add(cell)
        self.sup_r.setdefault(cell[0], set()).add(cell[1])
        self.sup_c.setdefault(cell[1], set()).add(cell[0])

    def movable(self, corners: tuple[Cell, Cell, Cell]) -> bool:
        """Another table (+t, -t, -t, +t on the rectangle) satisfies every total: the
        corners that decrease are non-zero in one direction or the other."""
        a, b, z = (self.raw.get(x, 0) for x in corners)
        return (a > 0 and b > 0) or z > 0

    def cycle(self, p: Cell, usable, up: bool, hidden_only: bool) -> list[Cell] | None:
        """The cells of a shortest cycle through ``p`` alternating -t (column to row) and
        +t (row to column) corners, each ``usable``: with ``up`` the -t corners are
        non-zero (``p`` can grow), else the +t corners are (``p`` can shrink). A cycle
        keeps every row and column total, so ``p`` is undetermined once it is hidden.
        ``hidden_only`` walks the hidden cells only (is ``p`` protected already?)."""
        from collections import deque

        r, c = p
        all_rows, all_cols = sorted(self.rows), sorted(self.cols)

        def steps(node: tuple[str, str]):
            side, unit = node
            if side == "c":  # -t corner (row, unit)
                cand = sorted(self.sup_c.get(unit, ())) if hidden_only else all_rows
                for r2 in cand:
                    x = (r2, unit)
                    if x != p and usable(x) and (not up or self.raw.get(x, 0) > 0):
                        yield ("r", r2), x
            else:  # +t corner (unit, column)
                cand = sorted(self.sup_r.get(unit, ())) if hidden_only else all_cols
                for c2 in cand:
                    x = (unit, c2)
                    if x != p and usable(x) and (up or self.raw.get(x, 0) > 0):
                        yield ("c", c2), x

        start, goal = ("c", c), ("r", r)
        prev: dict = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt, cell in steps(node):
                if nxt in prev:
                    continue
                prev[nxt] = (node, cell)
                if nxt == goal:
                    path = []
                    while prev[nxt] is not None:
                        nxt, cell = prev[nxt]
                        path.append(cell)
                    return path
                queue.append(nxt)
        return None

    def protected(self, p: Cell) -> bool:
        """``p`` already sits on a hidden cycle that keeps it undetermined."""
        return any(self.cycle(p, self.sup.__contains__, up, hidden_only=True) is not None
                   for up in (True, False))

    def partner(self, p: Cell, public: set[Cell], k_min: int, relax: bool
                ) -> Cell | None:
        """The partner corner (r', c') of the best rectangle for primary cell ``p`` (see
        :func:`od_suppress_pandas`), or None."""
        r, c = p
        v = self.raw[p]
        row = sorted((set(self.rows.get(r, [])) | self.sup_r.get(r, set())) - {c})
        col = sorted((set(self.cols.get(c, [])) | self.sup_c.get(c, set())) - {r})
        near = [(r2, c2) for c2 in row for r2 in col]
        # else a non-zero far corner alone lets the cell move down (the near corners may
        # be zero pairs, hidden too)
        far = [x for x, n in sorted(self.raw.items()) if x[0] != r and x[1] != c and n > 0]
        best, best_key = None, None
        for cands in (near, far):
            for r2, c2 in cands:
                if not relax and not (
                        (not self.sibling_r[r] or self.parent_r.get(r2) == self.parent_r[r])
                        and (not self.sibling_c[c]
                             or self.parent_c.get(c2) == self.parent_c[c])):
                    continue
                corners = ((r, c2), (r2, c), (r2, c2))
                if any(x in public and x not in self.sup for x in corners):
                    continue  # published elsewhere: hiding it here hides nothing
                if not self.movable(corners):
                    continue
                a, b, z = (self.raw.get(x, 0) for x in corners)
                full = z >= v and min(a, b) >= k_min - v  # the cell ranges over 0..k_min
                new = [x for x in corners if x not in self.sup]
                key = (not full, sum(self.raw.get(x, 0) for x in new),
                       sum(1 for x in new if x not in self.raw), len(new), r2, c2)
                if best_key is None or key < best_key:
                    best, best_key = (r2, c2), key
            if best is not None:
                break
        return best


def od_suppress_pandas(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                       public_diagonal: bool = True) -> pd.DataFrame:
    """Small-count suppression of one level of an origin-destination matrix.

    ``pdf``: one row per pair with people (``origin_id``, ``dest_id``, ``raw_count`` >= 1,
    ``expanded_count``, optional ``origin_parent_id`` / ``dest_parent_id``, other
    ``origin_*`` / ``dest_*`` descriptive columns and columns equal on every row, e.g.
    ``level``). Returns the rows with ``is_suppressed`` and the counts of suppressed rows
    nulled, plus the zero pairs hidden as complements (their ``origin_*`` / ``dest_*``
    columns copied from a row of the same origin / destination), and
    ``hide_dest_total`` / ``hide_origin_total``: true on the rows of a destination /
    an origin whose column / row total must not be published either (rules 4 and 5).

    Every row total (people living in the origin) and column total (people working in
    the destination) is treated as public. Rules:

    1. A pair with raw count in 1..k_min-1 is suppressed (primary).
    2. With ``complementary``, each primary cell, in (origin, destination) order, that
       does not yet sit on a hidden cycle (below) gets a *rectangle* (r, c), (r, c'),
       (r', c), (r', c'): adding +t, -t, -t, +t to its corners keeps every total, so the
       cell stays undetermined once all four are hidden, if the corners that decrease
       are non-zero (else the non-negative table is unique). The partner corner is
       chosen among rectangles whose corners may be hidden (with ``public_diagonal`` a
       same-unit pair that is not primary is public: jobs_housing publishes it as
       live_and_work), preferring (a) partners with the same parent units where the unit
       has a sibling in the matrix (the rectangle then also keeps the parent level's pair
       totals: township pairs add up to county pairs), (b) rectangles over which the
       cell can range from 0 to k_min, (c) the least raw count newly hidden, then fewer
       new zero pairs, then the smallest ids (deterministic). A rectangle may hide a zero
       pair (listed with null counts).
    3. Without a rectangle (a few units whose same-unit pairs are public), a shortest
       longer cycle of hideable cells with the same +t/-t property.
    4. Without any cycle (a tiny matrix), the cell is paired with another cell of its
       row (hidden too) and both destinations' column totals are marked
       ``hide_dest_total``: the job must then withhold those totals, so the two cells
       can trade people without changing anything published.
    5. No row or column whose total is published is left with exactly one hidden
       non-zero cell (the same-unit pair is public, so total - the others would give
       it): it gets a complement in the line, else its total is withheld
       (``hide_origin_total`` on the rows of such an origin, ``hide_dest_total`` of such
       a destination; :func:`_no_lone_hidden_cell`).
    """
    out = pdf.copy()
    o = out[ORIGIN_ID].astype(str).to_numpy()
    d = out[DEST_ID].astype(str).to_numpy()
    counts = out[C.RAW_COUNT].fillna(0).astype("int64").to_numpy()
    raw = {(a, b): int(x) for a, b, x in zip(o, d, counts, strict=True)}
    parents = [dict(zip(keys, out[col].astype(object), strict=True)) if col in out else {}
               for keys, col in ((o, ORIGIN_PARENT_ID), (d, DEST_PARENT_ID))]
    cells = _OdCells(raw, *parents)
    primary = sorted(x for x, n in raw.items() if 0 < n < k_min)
    for x in primary:
        cells.hide(x)
    free: set[str] = set()  # destinations whose column total must be withheld
    if complementary:
        public = ({(a, a) for a in cells.rows if a in cells.cols} - cells.sup
                  if public_diagonal else set())

        def usable(x: Cell) -> bool:
            return x in cells.sup or x not in public

        for p in primary:
            if cells.protected(p):
                continue
            partner = (cells.partner(p, public, k_min, relax=False)
                       or cells.partner(p, public, k_min, relax=True))
            if partner is not None:
                r2, c2 = partner
                path = [(p[0], c2), (r2, p[1]), (r2, c2)]
            else:
                path = (cells.cycle(p, usable, up=True, hidden_only=False)
                        or cells.cycle(p, usable, up=False, hidden_only=False) or [])
            if not path:
                free.add(p[1])
                row = [(p[0], c2) for c2 in cells.cols if c2 != p[1]]
                if not any(x in cells.sup and x[1] in free for x in row):
                    mates = sorted((x not in cells.sup, raw.get(x, 0) == 0, raw.get(x, 0), x)
                                   for x in row if usable(x))
                    if mates:
                        path = [mates[0][3]]
                        free.add(mates[0][3][1])
            for x in path:
                cells.hide(x)
        free_rows = _no_lone_hidden_cell(cells, usable, free)
    else:
        free_rows = set()
    zeros = sorted(x for x in cells.sup if x not in raw)
    if zeros:
        info_o = out.assign(_k=o).drop_duplicates("_k").set_index("_k")
        info_d = out.assign(_k=d).drop_duplicates("_k").set_index("_k")
        base = out.iloc[0].to_dict()
        add = []
        for a, b in zeros:
            row = dict(base)
            row.update({x: info_o.at[a, x] for x in out.columns if x.startswith("origin_")})
            row.update({x: info_d.at[b, x] for x in out.columns if x.startswith("dest_")})
            row[C.RAW_COUNT] = 0
            if C.EXPANDED_COUNT in out:
                row[C.EXPANDED_COUNT] = 0.0
            add.append(row)
        out = pd.concat([out, pd.DataFrame(add, columns=out.columns)], ignore_index=True)
    keys = zip(out[ORIGIN_ID].astype(str), out[DEST_ID].astype(str), strict=True)
    mask = np.fromiter((k in cells.sup for k in keys), bool, count=len(out))
    out[C.IS_SUPPRESSED] = mask
    out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(mask)
    if C.EXPANDED_COUNT in out:
        out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(mask)
    out[HIDE_DEST_TOTAL] = out[DEST_ID].astype(str).isin(free).to_numpy()
    out[HIDE_ORIGIN_TOTAL] = out[ORIGIN_ID].astype(str).isin(free_rows).to_numpy()
    return out


def _no_lone_hidden_cell(cells: _OdCells, usable, free_cols: set[str]) -> set[str]:
    """The last rule of :func:`od_suppress_pandas`: no row or column whose total is
    published keeps exactly one hidden non-zero cell (with the public same-unit pair and
    the total it would be total - the others). Such a line gets a complement in it (a
    usable cell, non-zero first, then the smallest raw count, whose other line already
    has a hidden cell or a withheld total, so no new lone cell appears), else its total
    is withheld (the column's added to ``free_cols``; the rows' returned). Repeated
    until no line changes."""
    free_rows: set[str] = set()
    changed = True
    while changed:
        changed = False
        for side, lines, free, other, other_free in (
                ("r", cells.sup_r, free_rows, cells.sup_c, free_cols),
                ("c", cells.sup_c, free_cols, cells.sup_r, free_rows)):
            for line in sorted(lines):
                hid = lines[line]
                if len(hid) != 1 or line in free:
                    continue
                (x,) = hid
                lone = (line, x) if side == "r" else (x, line)
                if cells.raw.get(lone, 0) <= 0:
                    continue  # a hidden zero pinned at 0 reveals nobody
                units = sorted(cells.cols if side == "r" else cells.rows)
                mates = sorted(
                    (cells.raw.get(m, 0) == 0, cells.raw.get(m, 0), m)
                    for u in units if u != x
                    for m in [(line, u) if side == "r" else (u, line)]
                    if m not in cells.sup and usable(m)
                    and (other.get(u) or u in other_free))
                if mates:
                    cells.hide(mates[0][2])
                else:
                    free.add(line)
                changed = True
    return free_rows


def with_od_suppression(df: DataFrame, k_min: int, complementary: bool = True,
                        public_diagonal: bool = True) -> DataFrame:
    """:func:`od_suppress_pandas` per ``level`` of an OD table (``level``, ``origin_id``,
    ``dest_id``, ``raw_count`` bigint, ``expanded_count`` double, optional parents and
    descriptive columns); adds ``is_suppressed``, ``hide_dest_total`` and
    ``hide_origin_total``. Zero pairs
    hidden as complements are added as rows."""
    fields = [T.StructField(f.name, f.dataType, True) if f.name in (C.RAW_COUNT,
                                                                    C.EXPANDED_COUNT) else f
              for f in df.schema.fields if f.name != C.IS_SUPPRESSED]
    schema = T.StructType(fields + [T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False),
                                    T.StructField(HIDE_DEST_TOTAL, T.BooleanType(), False),
                                    T.StructField(HIDE_ORIGIN_TOTAL, T.BooleanType(),
                                                  False)])
    names = [f.name for f in schema.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return od_suppress_pandas(pdf, k_min, complementary, public_diagonal)[names]

    base = df.drop(C.IS_SUPPRESSED) if C.IS_SUPPRESSED in df.columns else df
    return base.groupBy(C.LEVEL).applyInPandas(apply, schema)


UNIT_KEYS = (C.LEVEL, C.UNIT_ID, C.UNIT_NAME, C.PARENT_ID)


def spread(long: DataFrame, measures: Sequence[str], keys: Sequence[str] = UNIT_KEYS,
           by: str = C.MEASURE, extra: Sequence[Any] = ()) -> DataFrame:
    """One row per ``keys`` from a (suppressed) long form (``by``, ``raw_count``,
    ``expanded_count``, ``is_suppressed``): per value of ``by`` in ``measures``
    :func:`~mobsig.columns.raw_col`, :func:`~mobsig.columns.expanded_col` and
    :func:`~mobsig.columns.suppressed_col` (false when the long form has no
    ``is_suppressed``: nothing suppressed); ``extra``: further aggregates."""
    from pyspark.sql import functions as F

    if C.IS_SUPPRESSED not in long.columns:
        long = long.withColumn(C.IS_SUPPRESSED, F.lit(False))
    m = F.col(by)
    aggs = list(extra)
    for name in measures:
        aggs += [F.max(F.when(m == name, F.col(C.RAW_COUNT))).alias(C.raw_col(name)),
                 F.max(F.when(m == name, F.col(C.EXPANDED_COUNT))).alias(C.expanded_col(name)),
                 F.max(F.when(m == name, F.col(C.IS_SUPPRESSED))).alias(C.suppressed_col(name))]
    return long.groupBy(*keys).agg(*aggs)


def small_counts(k_min: int, suppress_zeros: bool) -> list[int]:
    """Raw counts that must never be published (the gate's forbidden set)."""
    return list(range(0 if suppress_zeros else 1, k_min)) or [-1]


# --------------------------------------------------------------------------------------
# origin-destination tables with labelled breakdowns (linkage, trips_by_period)
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
                        max_rounds: int = 10_000, frozen: np.ndarray | None = None
                        ) -> np.ndarray:
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

    ``frozen``: cells whose state another release decided (hidden where ``forced``,
    else published whatever their counts) and that are never complements (linkage's
    commuters pairs at a level commute_od publishes: a pair it publishes is known to
    the reader, so hiding it here would hide nothing).
    """
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy()
    sup = (raw < k_min) & ((raw > 0) | suppress_zeros)
    never = np.zeros(len(raw), bool) if frozen is None else np.asarray(frozen, bool)
    sup &= ~never
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
            pick = next((i for i in cells_of[node] if not sup[i] and not never[i]), None)
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
            pick = best(np.flatnonzero(~sup & ~never & ((a_u & b_v) | (a_v & b_u))))
            if pick is None:  # grow the component and look again next round
                pick = best(np.flatnonzero(~sup & ~never & (a_u | b_u | a_v | b_v)))
            if pick is None:
                continue
            sup[pick] = True
            changed = True
        if not changed:
            break
    return sup


def od_bridge_suppress_pandas(pdf: pd.DataFrame, k_min: int, complementary: bool = True,
                       suppress_zeros: bool = False, rows: Sequence[str] = (C.ORIGIN_ID,),
                       cols: Sequence[str] = (C.DEST_ID,), extra_counts: Sequence[str] = (),
                       forced: str | None = None, fixed: str | None = None) -> pd.DataFrame:
    """One matrix of :func:`with_od_bridge_suppression` in pandas: ``pdf`` with
    ``is_suppressed`` set and the counts (``raw_count``, ``expanded_count``,
    ``extra_counts``) of suppressed rows nulled (``fixed``: see
    :func:`with_od_bridge_suppression`)."""
    pair = [*rows, *cols]
    cells = pdf[pair].astype(object).where(pdf[pair].notna(), "")
    key = cells.astype(str).agg("\x1f".join, axis=1).to_numpy()
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy()
    small = (raw < k_min) & ((raw > 0) | suppress_zeros)
    if forced:
        small |= pdf[forced].fillna(False).to_numpy(bool)
    # a pair: hidden when any of its cells must be; ranked by its smallest non-zero
    fix = (pdf[fixed].eq(True).to_numpy(bool) if fixed
           else np.zeros(len(pdf), bool))
    frame = pd.DataFrame({"_key": key, "_small": small, "_fix": fix,
                          "_raw": np.where(raw > 0, raw, np.inf)})
    per = frame.groupby("_key", sort=True).agg(_small=("_small", "any"),
                                               _fix=("_fix", "any"),
                                               _raw=("_raw", "min"))
    if fixed:  # a fixed pair keeps the state its forced flag gives
        forced_pair = frame.assign(_f=pdf[forced].eq(True).to_numpy(bool) if forced
                                   else False).groupby("_key", sort=True)["_f"].any()
        per["_small"] = np.where(per["_fix"], forced_pair.to_numpy(bool), per["_small"])
    first = pdf.assign(_key=key).drop_duplicates("_key").set_index("_key")
    pairs = first.loc[per.index, pair].reset_index(drop=True).assign(
        **{C.RAW_COUNT: np.where(np.isinf(per["_raw"]), 0, per["_raw"]).astype("int64")})
    mask = od_suppression_mask(pairs, k_min, complementary, suppress_zeros, rows, cols,
                               per["_small"].to_numpy(), frozen=per["_fix"].to_numpy(bool))
    out = pdf.copy()
    out[C.IS_SUPPRESSED] = np.isin(key, per.index[mask].to_numpy())
    for c in (C.RAW_COUNT, C.EXPANDED_COUNT, *extra_counts):
        kind = "Int64" if pd.api.types.is_integer_dtype(out[c]) else "float64"
        out[c] = out[c].astype(kind).mask(out[C.IS_SUPPRESSED])
    return out


def with_od_bridge_suppression(df: DataFrame, k_min: int, complementary: bool = True,
                        suppress_zeros: bool = False, rows: Sequence[str] = (C.ORIGIN_ID,),
                        cols: Sequence[str] = (C.DEST_ID,), extra_counts: Sequence[str] = (),
                        partition: Sequence[str] = (C.LEVEL,), forced: str | None = None,
                        fixed: str | None = None) -> DataFrame:
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
    suppressed whatever its counts (another table withholds its total). ``fixed``: a
    boolean column; a pair with a true cell keeps the state another release gave it
    (hidden where ``forced``, else published) and is never a complement
    (:func:`od_suppression_mask`'s ``frozen``). Adds/overwrites
    ``is_suppressed``; rows are kept, the counts of suppressed rows are null
    (:func:`od_bridge_suppress_pandas` per group).
    """
    nulled = (C.RAW_COUNT, C.EXPANDED_COUNT, *extra_counts)
    fields = [T.StructField(f.name, f.dataType, True) if f.name in nulled else f
              for f in df.schema.fields if f.name != C.IS_SUPPRESSED]
    schema = T.StructType(fields + [T.StructField(C.IS_SUPPRESSED, T.BooleanType(), False)])
    names = [f.name for f in schema.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return od_bridge_suppress_pandas(pdf, k_min, complementary, suppress_zeros, rows, cols,
                                  extra_counts, forced, fixed)[names]

    base = df.drop(C.IS_SUPPRESSED) if C.IS_SUPPRESSED in df.columns else df
    return base.groupBy(*partition).applyInPandas(apply, schema)
