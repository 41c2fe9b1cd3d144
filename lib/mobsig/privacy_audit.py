"""Interval audit of a released population table, and the suppression rule that passes it
(issue 17, items 2 and 2b).

Complementary suppression (:func:`mobsig.privacy.suppression_mask`) hides a second cell
next to each lone hidden one, group by group. A reader who writes down *every* relation
the release satisfies at once can still solve for hidden cells: townships [1, 1, 40, 50]
under a published county of 92 leave 1 + 1 = 2 with both cells >= 1 (zeros are
published, so a hidden cell is not zero), hence both are 1; a county whose townships are
all published is their sum, and its published actual_service minus that sum is its
short_term count. The audit therefore solves the whole system.

**The attacker's model** (:func:`relations`, worst case). Every published ``raw_count``
is known exactly, and so is a row published as null for no coverage (its true value is
used: a reader may guess it is 0). The unknowns are the suppressed cells. The relations
are the ones the release satisfies, over all layers, the H3 grid and the classes at once:

- identities of one unit: ``actual_service = resident + short_term``;
- parent = sum of its children, per child layer and class (``parent_id``; additive
  classes, :data:`ADDITIVE`); where a child layer does not tile its parent exactly in the
  data, the inequality that holds (sum of children <= parent, or >=) instead; for the
  other classes (``daily_present``: a card seen in two townships counts once in their
  county) each child <= its parent where that holds;
- the grid total = the total of every root layer (no ``parent_id``) that covers the same
  cards (its total equals the grid's in the data), per additive class;
- a hidden cell is >= 1 when zeros are published (``suppress_zeros`` false) and its true
  count is not 0 (a hidden zero, a complement of last resort, gets >= 0), and >= 0
  otherwise.

A relation that does not hold in the data is left out: a reader who assumed it would get
a wrong answer, not a disclosure. Relations the data satisfy by design (the grid and a
layer covering the same cards) are found from the counts, so a coincidence only makes the
audit stricter. Not modelled: expanded counts (the expansion factor as a key, issue 17
item 2c: handled by what is published, see the manifest) and other tables.

**The audit** (:func:`audit`): for each suppressed cell, the least and the greatest value
over all non-negative *integer* tables satisfying the relations: the linear programme
(scipy's HiGHS, :func:`scipy.optimize.linprog`) first; when its optimum is not integral,
the integer programme (:func:`scipy.optimize.milp`) for that bound (the LP interval can be
wider than the integer one). The system splits into independent components (cells linked
by a relation with another hidden cell); each is solved alone and cached. Every integral
solution found is a table the reader cannot rule out, so a cell whose values over the
solutions seen so far (the true table included) already span the protection width needs
no programme of its own (``shortcut``; its interval is then reported as at least that
wide), nor does a hidden zero where zeros are published (protected whatever its
interval: pinned at 0 it reveals nobody; reported with the values seen, ``exact``
false). In a large component a cell not seen wide is first solved over its own small
relations alone (:class:`_Local`): an interval narrower than the width there is narrow
in the whole system (fewer relations admit more tables), reported as it is (``exact``
false) with the relations that bind it there (tried while it shows at least one cell in
four: an OD release's cells are mostly narrow through its margins); a component of a
province's size is probed window by window instead of as a whole
(:meth:`_Local.probe_windows`: windows of 400, then 1,600 and 4,000 cells for the cells
left, the other cells at their true values, so every table found is one of the whole
system), and only the cells the windows and the relaxation leave get programmes over the
whole component, whose cost grows with it. Components of
:data:`PARALLEL_MIN` cells or more, two or more of them, are solved in worker processes
(:func:`_solve_components`; the same results). A cell is protected when max - min >= the
protection width (``privacy.protection_width``, default ``privacy.k_min``).

**The rule** (:func:`audited_suppression_mask`): the complementary rule, then repeatedly
audit and, for each under-protected cell, hide the cheapest published cell (non-zero
first, then the smallest raw count, ties as in :func:`mobsig.privacy.suppression_mask`)
among the relations that bound it (non-zero duals of its two programmes); when those hold
no published cell, among every relation it is in; when none is left, its parent cell (the
group total). In one round a cell whose binding relations already hold a complement
picked in that round waits for the next (that complement may widen it; a cell outside
them leaves its LP bounds as they are: the old optimum stays feasible and its duals
price the new unknown at 0, so such cells get their own complements in the same round:
daily_presence's rounds on the test city 22 -> 10, the same number of hidden cells);
then the group rule again with the new cells as primary ones (no sibling group or
identity keeps a lone hidden cell, also where the group total is published outside the
table); repeated until the audit passes or nothing can be added (the audit then fails,
naming the cells). The result does not depend on the order of the rows (the table is
put in its canonical order first).

**Every other release** (issue 17, the README's Privacy audit table) is audited the same
way, each by itself: :func:`relations` also takes ``bounds`` (a cell at most another of
the same unit: an hour at most the day, a day at most the month) and ``sums`` (any
further sum, e.g. an origin-destination row = its total); :func:`audited_suppression_mask`
starts from another rule's mask (``forced``, ``regroup=False``) and never picks
``frozen`` cells (totals decided elsewhere, public totals the table does not hold);
:func:`suppress_release` (population-style tables), :func:`od_release_table` /
:func:`with_od_audit` (OD matrices with public row and column totals), :func:`hide_more`
(further hidden cells applied to Spark rows) and :func:`combine` (one gate for a release
of several tables) are the pieces the modules use.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse.csgraph import connected_components

from mobsig import columns as C
from mobsig.privacy import IDENTITIES, Identities, suppression_mask

# classes whose counts add up from child units to their parent (population.ADDITIVE_CLASSES)
ADDITIVE: tuple[str, ...] = ("resident", "short_term", "actual_service", "employed")
TOL = 1e-6

LO, HI, WIDTH, EXACT, PROTECTED = "lo", "hi", "width", "exact", "protected"


@dataclasses.dataclass
class System:
    """The relations of one table (cells in its canonical order): ``eq @ x == 0`` and
    ``ub @ x <= 0`` over the vector ``x`` of every cell's raw count; ``eq_text`` /
    ``ub_text`` say what each row is; ``parent``: the index of a cell's parent cell (the
    same class of its ``parent_id`` unit), -1 when it has none."""

    eq: sparse.csr_matrix
    ub: sparse.csr_matrix
    eq_text: list[str]
    ub_text: list[str]
    parent: np.ndarray

    @functools.cached_property
    def rows(self) -> sparse.csr_matrix:
        """eq and ub stacked (a row id below ``eq.shape[0]`` is an equation)."""
        return sparse.vstack([self.eq, self.ub]).tocsr()


def canonical_order(pdf: pd.DataFrame, by: str = C.POP_CLASS) -> np.ndarray:
    """Row positions of ``pdf`` sorted by level, unit_id and ``by`` (unique per cell)."""
    return np.lexsort((pdf[by].astype(str).to_numpy(), pdf[C.UNIT_ID].astype(str).to_numpy(),
                       pdf[C.LEVEL].astype(str).to_numpy()))


def _rows(triplets: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_rows: int, n: int
          ) -> sparse.csr_matrix:
    if not triplets:
        return sparse.csr_matrix((n_rows, n))
    r, c, v = (np.concatenate(x) for x in zip(*triplets, strict=True))
    return sparse.csr_matrix((v.astype(float), (r, c)), shape=(n_rows, n))


Pairs = Sequence[tuple[str, str]]


def linear_rows(rel: np.ndarray, idx: np.ndarray, coef: np.ndarray, raw: np.ndarray):
    """Linear relations ``sum of coef x cell = 0`` given as one entry per term (``rel``:
    the relation's name, ``idx``: the cell, ``coef``), as rows of :class:`System`: an
    equation where it holds in the true counts ``raw``, else the inequality that holds
    (``sign x sum <= 0``). Yields (kind "eq" / "ub", rows, cols, vals, texts), rows
    numbered from 0 within each kind."""
    rel_id, rel_ix = np.unique(rel, return_inverse=True)
    resid = np.bincount(rel_ix, weights=coef * raw[idx], minlength=len(rel_id))
    sign = np.where(resid > 0, -1.0, 1.0)  # sign x (sum) <= 0 holds
    for kind, sel in (("eq", resid == 0), ("ub", resid != 0)):
        gsel = np.flatnonzero(sel)
        if not len(gsel):
            continue
        new = np.full(len(rel_id), -1, dtype=np.int64)
        new[gsel] = np.arange(len(gsel))
        row = new[rel_ix]
        keep = row >= 0
        c = coef[keep] * (sign[rel_ix[keep]] if kind == "ub" else 1)
        yield (kind, row[keep], idx[keep], c,
               [f"{rel_id[g]} ({'=' if kind == 'eq' else 'vs'})" for g in gsel])


def relations(pdf: pd.DataFrame, identities: Identities = IDENTITIES,
              additive: Sequence[str] | None = ADDITIVE, by: str = C.POP_CLASS,
              bounds: Pairs = (), sums: pd.DataFrame | None = None) -> System:
    """The relations a reader can use on ``pdf`` (see the module doc), built vectorised.

    ``pdf``: ``level``, ``unit_id``, ``parent_id``, ``by``, ``raw_count`` (true counts),
    one row per cell, in any order (row i of the matrices is cell i); ``additive``: the
    labels of ``by`` checked for parent = sum of children (None: every label). ``bounds``: pairs
    (small, big) of values of ``by``: within one unit the cell ``small`` is at most the
    cell ``big`` (an hour at most the day, a day at most the month), kept where it holds.
    ``sums``: further linear relations of the release (:func:`sum_rows`: ``rel``,
    ``level``, ``unit_id``, ``by``, ``coef``): sum of coef x cell = 0 where that holds in
    the data, else the inequality that holds (an origin-destination row = its published
    row total, a catchment's cells = the zone's visitors)."""
    n = len(pdf)
    if additive is None:  # every label: the data decide which sums hold
        additive = pdf[by].astype(str).unique().tolist()
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy(float)
    frame = pd.DataFrame({"level": pdf[C.LEVEL].astype(str).to_numpy(),
                          "unit": pdf[C.UNIT_ID].astype(str).to_numpy(),
                          "parent": pdf[C.PARENT_ID].astype(object).where(
                              pdf[C.PARENT_ID].notna(), "").astype(str).to_numpy(),
                          "cls": pdf[by].astype(str).to_numpy(), "i": np.arange(n)})
    eq: list = []
    ub: list = []
    eq_text: list[str] = []
    ub_text: list[str] = []

    def add(kind: str, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
            texts: list[str]) -> None:
        base = len(eq_text) if kind == "eq" else len(ub_text)
        (eq if kind == "eq" else ub).append((rows + base, cols, vals))
        (eq_text if kind == "eq" else ub_text).extend(texts)

    # identities of one unit
    for total, parts in identities:
        sub = frame[frame["cls"].isin([total, *parts])]
        wide = sub.drop_duplicates(["level", "unit", "cls"]).set_index(
            ["level", "unit", "cls"])["i"].unstack("cls")
        if not all(c in wide.columns for c in (total, *parts)):
            continue
        wide = wide[[total, *parts]].dropna().astype(np.int64)
        idx = wide.to_numpy()
        ok = raw[idx[:, 0]] == raw[idx[:, 1:]].sum(axis=1)
        idx, names = idx[ok], wide.index[ok]
        if not len(idx):
            continue
        m = len(idx)
        rows = np.repeat(np.arange(m), idx.shape[1])
        vals = np.tile(np.r_[1.0, -np.ones(len(parts))], m)
        add("eq", rows, idx.ravel(), vals,
            [f"{lv} {u}: {total} = {' + '.join(parts)}" for lv, u in names])

    # bounds within a unit
    for small, big in bounds:
        lo_ = frame[frame["cls"] == small][["level", "unit", "i"]]
        hi_ = frame[frame["cls"] == big][["level", "unit", "i"]]
        m = lo_.merge(hi_, on=["level", "unit"], suffixes=("_s", "_b"))
        m = m[raw[m["i_s"].to_numpy()] <= raw[m["i_b"].to_numpy()]]
        if len(m):
            add("ub", np.repeat(np.arange(len(m)), 2),
                np.column_stack([m["i_s"], m["i_b"]]).ravel(), np.tile([1.0, -1.0], len(m)),
                [f"{r.level} {r.unit}: {small} <= {big}" for r in m.itertuples()])

    # further sums of the release
    if sums is not None and len(sums):
        s = pd.DataFrame({"rel": sums["rel"].to_numpy(),
                          "level": sums[C.LEVEL].astype(str).to_numpy(),
                          "unit": sums[C.UNIT_ID].astype(str).to_numpy(),
                          "cls": sums[by].astype(str).to_numpy(),
                          "coef": sums["coef"].to_numpy(float)}).merge(
            frame[["level", "unit", "cls", "i"]], on=["level", "unit", "cls"], how="inner")
        if len(s):
            for kind, rows, cols, vals, texts in linear_rows(
                    s["rel"].astype(str).to_numpy(), s["i"].to_numpy(),
                    s["coef"].to_numpy(float), raw):
                add(kind, rows, cols, vals, texts)

    # parent = sum of children (per child layer and class)
    parent = np.full(n, -1, dtype=np.int64)
    heads = (frame[frame["level"] != C.GRID_LEVEL].sort_values(["level", "i"])
             .drop_duplicates(["unit", "cls"])[["unit", "cls", "i", "level"]]
             .rename(columns={"unit": "parent", "i": "pi", "level": "plevel"}))
    kids = frame[frame["parent"] != ""].merge(heads, on=["parent", "cls"], how="inner")
    parent[kids["i"].to_numpy()] = kids["pi"].to_numpy()
    add_kids = kids[kids["cls"].isin(list(additive))].copy()
    if len(add_kids):
        add_kids["g"] = add_kids.groupby(["level", "parent", "cls"], sort=True).ngroup()
        grp = add_kids.groupby("g", sort=True).agg(
            pi=("pi", "first"), level=("level", "first"), parent=("parent", "first"),
            plevel=("plevel", "first"), cls=("cls", "first"))
        kid_sum = np.bincount(add_kids["g"], weights=raw[add_kids["i"]], minlength=len(grp))
        gap = raw[grp["pi"].to_numpy()] - kid_sum
        # a row: sign * (parent - sum of children), an equation where the gap is 0,
        # else the inequality that holds: sum <= parent (gap > 0) or parent <= sum
        sign = np.where(gap > 0, -1.0, 1.0)
        for kind, sel in (("eq", gap == 0), ("ub", gap != 0)):
            gsel = np.flatnonzero(sel)
            if not len(gsel):
                continue
            new = np.full(len(grp), -1, dtype=np.int64)
            new[gsel] = np.arange(len(gsel))
            krow = new[add_kids["g"].to_numpy()]
            keep = krow >= 0
            s = sign if kind == "ub" else np.ones(len(grp))
            rows = np.r_[np.arange(len(gsel)), krow[keep]]
            cols = np.r_[grp["pi"].to_numpy()[gsel], add_kids["i"].to_numpy()[keep]]
            vals = np.r_[s[gsel], -s[add_kids["g"].to_numpy()[keep]]]
            rel = {"eq": "=", "ub": "vs"}[kind]
            add(kind, rows, cols, vals,
                [f"{r.plevel} {r.parent} {r.cls} {rel} sum of its {r.level} units"
                 for r in grp.iloc[gsel].itertuples()])
    other = kids[~kids["cls"].isin(list(additive))]
    other = other[raw[other["i"].to_numpy()] <= raw[other["pi"].to_numpy()]]
    if len(other):
        m = len(other)
        add("ub", np.repeat(np.arange(m), 2),
            np.column_stack([other["i"], other["pi"]]).ravel(), np.tile([1.0, -1.0], m),
            [f"{r.level} {r.unit} {r.cls} <= its parent {r.parent}"
             for r in other.itertuples()])

    # the grid total = the total of each root layer covering the same cards
    rooted = frame.groupby("level")["parent"].agg(lambda s: (s == "").all())
    roots = [lv for lv in rooted.index[rooted] if lv != C.GRID_LEVEL]
    if C.GRID_LEVEL in set(frame["level"]) and roots:
        for cls in additive:
            g = frame[(frame["level"] == C.GRID_LEVEL) & (frame["cls"] == cls)]["i"].to_numpy()
            for lv in roots:
                u = frame[(frame["level"] == lv) & (frame["cls"] == cls)]["i"].to_numpy()
                if not len(g) or not len(u) or raw[u].sum() != raw[g].sum():
                    continue
                add("eq", np.zeros(len(u) + len(g), dtype=np.int64), np.r_[u, g],
                    np.r_[np.ones(len(u)), -np.ones(len(g))],
                    [f"{lv} {cls} total = grid {cls} total"])
    return System(_rows(eq, len(eq_text), n), _rows(ub, len(ub_text), n), eq_text,
                  ub_text, parent)


@dataclasses.dataclass
class Solved:
    """The system one :func:`audit` solved: ``keys`` (``level``, ``unit_id``, ``cell``:
    the breakdown, ``raw_count``: true), one row per cell in the order of ``system``'s
    columns; ``hidden``; ``zero_unknown``: hidden cells a reader cannot tell from a zero
    (lower bound 0); ``exempt``: cells that need no width."""

    keys: pd.DataFrame
    system: System
    hidden: np.ndarray
    zero_unknown: np.ndarray
    exempt: np.ndarray


@dataclasses.dataclass
class Audit:
    """The audit of one release. ``cells``: one row per suppressed cell (``level``,
    ``unit_id``, the breakdown, ``raw_count`` (true), ``lo``, ``hi`` (the least and the
    greatest value a reader can hold; ``hi`` inf when unbounded), ``width`` = hi - lo,
    ``exact`` (both bounds solved; else, for a protected cell, the width is a lower bound,
    for a narrow one an upper bound: its LP bounds), ``protected`` (width >= the
    protection width)), ``pos``: their row positions in the audited table."""

    cells: pd.DataFrame
    width: float
    n_programs: int
    seconds: float
    components: int
    binding: dict[int, set[int]] = dataclasses.field(default_factory=dict, repr=False)
    added: int = 0  # complements the audit added to the group rule's (the rule's result)
    rounds: int = 0
    by: str = C.POP_CLASS  # the breakdown column of ``cells``
    # a part audited and reported, not gated (its mask must stay another table's)
    reported: Audit | None = dataclasses.field(default=None, repr=False)
    withheld: int = 0  # public totals withheld to protect cells (OD releases)
    # OD releases: zero pairs the release lists as suppressed (the keys of the rows added
    # after the audited table's own; :func:`od_audited_mask`'s opened lines)
    padded: pd.DataFrame | None = dataclasses.field(default=None, repr=False)
    # what was solved (the audited table, its relations and hidden cells): for
    # :func:`joint_audit`, which audits releases that publish the same counts together
    solved: Solved | None = dataclasses.field(default=None, repr=False)
    # the release audited as one system with other releases of the same counts
    # (:func:`joint_audit`), gated with it
    joint: Audit | None = dataclasses.field(default=None, repr=False)
    joint_gated: bool = False  # the joint audit fails the gate (else: reported only)
    notes: list[str] = dataclasses.field(default_factory=list)  # warnings for the gate
    # cells of another release published in the relations that bind a narrow cell, for
    # that release to hide (commute's levels audit: jobs_housing's, ``level``,
    # ``unit_id``, ``measure``; :func:`mobsig.commute.jobs_housing_holds`)
    holds: pd.DataFrame | None = dataclasses.field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return bool(self.cells[PROTECTED].all())

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def min_width(self) -> float:
        """The narrowest interval of a cell that needs one (inf without such cells or
        when all unbounded): a hidden zero pinned at 0 reveals nobody and is left out
        (it is protected, see :func:`audit`), as is an ``exempt`` cell."""
        need = (((self.cells[C.RAW_COUNT] > 0) & (self.cells[WIDTH] >= self.width))
                | ~self.cells[PROTECTED])
        return float(self.cells.loc[need, WIDTH].min()) if need.any() else float("inf")

    def failures(self, n: int = 10) -> str:
        """The under-protected cells with their intervals (the gate's message)."""
        by = self.by
        bad = self.cells[~self.cells[PROTECTED]].sort_values([WIDTH, C.LEVEL, C.UNIT_ID, by])
        items = [f"{r[C.LEVEL]} {r[C.UNIT_ID]} {r[by]}: [{r[LO] + 0.0:g}, {r[HI] + 0.0:g}]"
                 for _, r in bad.head(n).iterrows()]
        more = f" and {len(bad) - n} more" if len(bad) > n else ""
        return (f"{len(bad)} of {len(self.cells)} suppressed cells can be narrowed to an "
                f"interval narrower than privacy.protection_width ({self.width:g}) from the "
                f"published counts and the relations between them (feasible interval of "
                f"each): " + "; ".join(items) + more)


def _integral(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x - np.round(x)) < TOL))


class _Program:
    """The programmes of one component: ``lo_row <= a @ x <= hi_row``, ``x >= lb``, the
    least or the greatest value of one variable at a time (:meth:`bound`).

    Engine: HiGHS through scipy's own binding (``scipy.optimize._highspy``; scipy is
    pinned exactly in pyproject.toml): the model is passed once and each bound only
    changes the objective, so HiGHS starts from the previous basis (~0.2 ms a bound
    instead of ~5 ms through :func:`scipy.optimize.linprog`, which rebuilds the model
    every call). ``engine="linprog"`` (or a scipy without that module) uses
    :func:`~scipy.optimize.linprog` and :func:`~scipy.optimize.milp`: same answers,
    slower (tests run both)."""

    def __init__(self, a, lo_row, hi_row, lb, engine: str = "highs") -> None:
        self.a = sparse.csc_matrix(a, dtype=float)
        self.lo_row, self.hi_row = np.asarray(lo_row, float), np.asarray(hi_row, float)
        self.lb = np.asarray(lb, float)
        self.n = len(self.lb)
        self.h = None
        self._mip_h = None
        self._rng: np.random.Generator | None = None
        if engine == "highs":
            try:
                from scipy.optimize._highspy import _core
            except ImportError:  # pragma: no cover - another scipy: the public API
                _core = None
            if _core is not None:
                self._core = _core
                self.h = self._model(integer=False)
                self.cols = np.arange(self.n, dtype=np.int32)

    def _model(self, integer: bool):
        """A HiGHS model of the programme (zero objective, ``x >= lb``): continuous,
        solved by the primal simplex (each programme only changes the objective, so the
        last optimal basis stays feasible and a few pivots reach the next optimum: the
        default dual simplex re-pivots from a dual-infeasible basis, ~1,000 pivots and
        26 ms against ~11 and 2 ms on a day's daily_presence release), or with every
        variable integer (:meth:`_mip`)."""
        core = self._core
        m = self.a.shape[0]
        lp = core.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, m
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, m
        lp.a_matrix_.format_ = core.MatrixFormat.kColwise
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = self.lb
        lp.col_upper_ = np.full(self.n, np.inf)
        lp.row_lower_, lp.row_upper_ = self.lo_row, self.hi_row
        lp.a_matrix_.start_ = self.a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = self.a.indices.astype(np.int32)
        lp.a_matrix_.value_ = self.a.data
        if integer:
            lp.integrality_ = [core.HighsVarType.kInteger] * self.n
        h = core._Highs()
        h.setOptionValue("output_flag", False)
        if not integer:
            h.setOptionValue("simplex_strategy", 4)
        h.passModel(lp)
        return h

    def _mip(self):
        """The integer model, built on first use and kept: the integer programmes run
        there, so the continuous model keeps its optimal basis between the LP bounds
        (toggling integrality on one model dropped it: with the block relations of
        commute_od's levels, where LP optima are often fractional, each LP bound after an
        integer programme cost ~0.15 s instead of ~5 ms; 2026-12-07)."""
        if self._mip_h is None:
            self._mip_h = self._model(integer=True)
        return self._mip_h

    def bound(self, j: int, sense: float, integer: bool
              ) -> tuple[float, np.ndarray | None, np.ndarray]:
        """min (``sense`` 1) or max (-1) of x_j: the value (inf when unbounded), a
        solution (None when unbounded) and the rows with a non-zero dual (of the LP)."""
        c = np.zeros(self.n)
        c[j] = sense
        x, val, dual = (self._highs if self.h is not None else self._scipy)(c, False)
        if x is None:
            return np.inf, None, dual
        if integer and not _integral(x):
            x, val, _ = (self._highs if self.h is not None else self._scipy)(c, True)
        return sense * val, x, dual

    def integer_bound(self, j: int, sense: float) -> float:
        """min (``sense`` 1) or max (-1) of x_j over the integer solutions (the integer
        programme alone; call it where the LP optimum is fractional, hence bounded)."""
        c = np.zeros(self.n)
        c[j] = sense
        _x, val, _ = (self._highs if self.h is not None else self._scipy)(c, True)
        return sense * val

    def reaches(self, j: int, sense: float, target: float,
                around: np.ndarray | None = None) -> np.ndarray | None:
        """An integer solution with x_j at least ``target`` (``sense`` -1) or at most it
        (``sense`` 1), or None when none was found: a feasibility programme (a small
        random objective, fixed seed, any integer solution accepted: the solver stops at
        the first; the random direction spreads the tables found over many cells, each
        boxed within 1,000 above ``around``, the true values, or its lower bound), much
        cheaper than the integer optimum
        when only "is the interval at least this wide?" is asked; the LP over the same
        box is tried first (warm: an integral optimum is such a table; on commute's
        levels audit of a 1,500-person region it was integral for nearly every cell).
        None means "not shown here": the caller then solves the exact integer bound."""
        if self.h is None:
            c = np.zeros(self.n)
            lo = self.lb.copy()
            hi = np.full(self.n, np.inf)
            if sense < 0:
                lo[j] = max(lo[j], target)
            else:
                hi[j] = target
            if hi[j] < lo[j]:
                return None
            r = milp(c, integrality=np.ones(self.n), bounds=Bounds(lo, hi),
                     constraints=[LinearConstraint(self.a, self.lo_row, self.hi_row)])
            return r.x if r.status == 0 else None
        core = self._core
        lo_j, hi_j = (max(self.lb[j], target), np.inf) if sense < 0 else (self.lb[j], target)
        if hi_j < lo_j:
            return None
        box = np.maximum(self.lb, self.lb if around is None else around) + 1e3
        lo, hi = self.lb.copy(), box.copy()
        lo[j], hi[j] = lo_j, min(hi_j, max(box[j], lo_j + 1e3))
        if self._rng is None:
            self._rng = np.random.default_rng(29)
        cost = self._rng.choice([-0.01, 0.01], size=self.n)
        # the LP over the same box first (warm, ~5 ms): an integral optimum is a table
        x = None
        for h, gap in ((self.h, None), (self._mip(), 1.0)):
            h.changeColsCost(self.n, self.cols, cost)
            h.changeColsBounds(self.n, self.cols, lo, hi)
            if gap is not None:
                h.setOptionValue("mip_rel_gap", gap)
            h.run()
            if h.getModelStatus() == core.HighsModelStatus.kOptimal:
                x = np.asarray(h.getSolution().col_value)
            if gap is not None:
                h.setOptionValue("mip_rel_gap", 1e-4)
            h.changeColsBounds(self.n, self.cols, self.lb, np.full(self.n, np.inf))
            if x is not None and _integral(x):
                return x
            x = None
        return None

    def probe(self, c: np.ndarray, upper: np.ndarray, integer: bool = False
              ) -> np.ndarray | None:
        """A solution minimising ``c @ x`` with every variable also at most ``upper`` (a
        box that keeps the programme bounded; any solution in it satisfies the
        relations, so it is a table the reader cannot rule out), or None (infeasible
        box, or no optimum). ``integer``: an integer solution, not necessarily the
        optimum (the solver stops within a relative gap of 0.5: a table far from the
        true one is all a probe needs)."""
        if self.h is not None:
            h, core = (self._mip() if integer else self.h), self._core
            h.changeColsBounds(self.n, self.cols, self.lb, np.asarray(upper, float))
            h.changeColsCost(self.n, self.cols, c)
            if integer:
                h.setOptionValue("mip_rel_gap", 0.5)
            h.run()
            ok = h.getModelStatus() == core.HighsModelStatus.kOptimal
            x = np.asarray(h.getSolution().col_value) if ok else None
            if integer:
                h.setOptionValue("mip_rel_gap", 1e-4)
            h.changeColsBounds(self.n, self.cols, self.lb, np.full(self.n, np.inf))
            return x
        res, _ = self._linprog(c, upper)
        return res.x if res.status == 0 else None

    def _linprog(self, c, upper):
        """:func:`scipy.optimize.linprog` of ``c @ x`` over the rows (equalities where
        ``lo_row == hi_row``, else ``<= hi_row``), each variable in [lb, ``upper``] (None:
        no upper bound): the result and the mask of the equality rows."""
        eq = self.lo_row == self.hi_row
        a = self.a.tocsr()
        kw = {}
        if eq.any():
            kw.update(A_eq=a[eq], b_eq=self.hi_row[eq])
        if (~eq).any():
            kw.update(A_ub=a[~eq], b_ub=self.hi_row[~eq])
        return linprog(c, bounds=list(zip(self.lb, upper, strict=True)), method="highs",
                       **kw), eq

    def _highs(self, c, mip):
        h, core = (self._mip() if mip else self.h), self._core
        h.changeColsCost(self.n, self.cols, c)
        h.run()
        status = h.getModelStatus()
        if status in (core.HighsModelStatus.kUnbounded,
                      core.HighsModelStatus.kUnboundedOrInfeasible):
            return None, np.inf, np.zeros(0, np.int64)
        if status != core.HighsModelStatus.kOptimal:
            raise RuntimeError(f"privacy audit: the programme failed "
                               f"({h.modelStatusToString(status)}); the published table "
                               "contradicts its own relations")
        sol = h.getSolution()
        dual = np.flatnonzero(np.abs(np.asarray(sol.row_dual)) > TOL) if not mip else \
            np.zeros(0, np.int64)
        return np.asarray(sol.col_value), h.getInfo().objective_function_value, dual

    def _scipy(self, c, mip):
        cons = LinearConstraint(self.a, self.lo_row, self.hi_row)
        if mip:
            r = milp(c, integrality=np.ones(self.n), bounds=Bounds(self.lb, np.inf),
                     constraints=[cons])
            if r.status != 0:
                raise RuntimeError(f"privacy audit: the integer programme failed "
                                   f"({r.message})")
            return r.x, r.fun, np.zeros(0, np.int64)
        res, eq = self._linprog(c, [None] * self.n)
        if res.status == 3:
            return None, np.inf, np.zeros(0, np.int64)
        if res.status != 0:
            raise RuntimeError(f"privacy audit: the programme failed ({res.message}); "
                               "the published table contradicts its own relations")
        marg = np.zeros(len(eq))
        if eq.any():
            marg[eq] = res.eqlin.marginals
        if (~eq).any():
            marg[~eq] = res.ineqlin.marginals
        return res.x, res.fun, np.flatnonzero(np.abs(marg) > TOL)


PROBE_MIN = 12  # components with at least this many hidden cells are probed first
PROBE_ROUNDS = 30
LOCAL_MIN = 48  # components with at least this many: a narrow cell shown on its own rows
LOCAL_ROW_MAX = 48  # ... its relations of at most this many cells
LOCAL_HOPS = 2  # ... and theirs
LOCAL_TRIES = 40  # ... tried on this many cells, kept only while it shows 1 in 4 of them
WINDOW_MIN = 1500  # components with at least this many: probed by windows first
WINDOW = 400  # cells per window
WINDOW_GROWTH = (1, 4, 10)  # window sizes in WINDOWs: the cells left go to larger ones
PARALLEL_MIN = 1500  # components of at least this many: in worker processes (two or more)
WORKERS_MAX = 4  # ... at most this many (and the cores the process may run on)
# the settings above, as a worker process must see them (a spawned interpreter imports the
# module afresh)
_SETTINGS = ("PROBE_MIN", "PROBE_ROUNDS", "LOCAL_MIN", "LOCAL_ROW_MAX", "LOCAL_HOPS",
             "LOCAL_TRIES", "WINDOW_MIN", "WINDOW", "WINDOW_GROWTH")


class _Local:
    """The local relaxation of a large component (:func:`_solve_component`): a cell's
    least and greatest value over its own relations of at most :data:`LOCAL_ROW_MAX`
    cells alone (every cell in them free, every other relation dropped). Fewer relations
    admit more tables, so the relaxed interval contains the true one: when it is less
    than ``width`` wide (rounded inward to integers), the cell is narrow, and the
    relations that bind it there (non-zero duals) pin it by themselves, which is all the
    audited rule asks of a narrow cell (where to add a complement). A small programme
    instead of one over the whole component, whose cost grows with it (a city's hour
    totals link every county of a day's presence release into one component: README
    Privacy audit); a cell it does not show narrow is solved over the component."""

    def __init__(self, a, lo_row, hi_row, lb, engine: str) -> None:
        self.a = sparse.csc_matrix(a, dtype=float)
        self.ar = self.a.tocsr()
        self.small = np.diff(self.ar.indptr) <= LOCAL_ROW_MAX
        self.lo_row, self.hi_row = np.asarray(lo_row, float), np.asarray(hi_row, float)
        self.lb = np.asarray(lb, float)
        self.engine = engine
        self.tried = self.shown = 0

    @property
    def worth_it(self) -> bool:
        """Whether to go on trying cells: a component whose narrow cells are mostly
        narrow only through its large relations (an OD table's margins) pays two
        programmes per cell for nothing, so after :data:`LOCAL_TRIES` tries that showed
        fewer than one in four the rest go straight to the component's programmes."""
        return self.tried < LOCAL_TRIES or 4 * self.shown >= self.tried

    def probe_windows(self, truth, width: float, seen_lo: np.ndarray, seen_hi: np.ndarray,
                      need: np.ndarray | None) -> int:
        """The probe (:func:`_probe`) window by window, instead of the whole component's:
        the cells in groups of about :data:`WINDOW` (the pieces their small relations link, a
        county with its townships and classes, kept together where they fit), each
        window's cells free and every other cell at its true value, over every relation
        that holds a free cell (a large one keeps the sum of its free cells). Its
        integral solutions, the other cells at their true values, satisfy every
        relation: tables the reader cannot rule out (``seen_lo`` / ``seen_hi`` updated in
        place), from programmes of a window's size instead of the component's, whose
        cost grows with it (a probe over a component of 15,000-19,000 cells took up to
        6 s, a bound of one cell over it ~6 ms). The cells left are probed again in
        windows of 4 and 10 x :data:`WINDOW` cells (:data:`WINDOW_GROWTH`), and those
        still left get their own programmes over the component. Returns the programmes
        solved."""
        truth = np.asarray(truth, float)
        small = self.ar[self.small]
        n = len(self.lb)
        pieces = connected_components(sparse.bmat([[None, abs(small).T], [abs(small), None]],
                                                  format="csr"), directed=False)[1][:n]
        order = np.argsort(pieces, kind="stable")
        activity = self.ar @ truth
        n_prog = 0
        # windows of WINDOW cells, then larger ones for the cells left (a cell whose
        # freedom runs through a neighbouring piece), never the whole component
        sizes = [WINDOW * g for g in WINDOW_GROWTH if WINDOW * g < n]
        # each size a second time shifted by half a window: a piece cut by a window's edge
        starts = [(size, s) for size in sizes
                  for s in (*range(0, n, size), *range(size // 2, n, size))]
        for size, start in starts:
            free = np.sort(order[start:start + size])
            todo = (seen_hi[free] - seen_lo[free]) < width
            if need is not None:
                todo &= need[free]
            if todo.sum() < PROBE_MIN:
                continue
            cols = self.a[:, free]
            rows = np.unique(cols.indices)
            sub = cols.tocsr()[rows]
            rest = activity[rows] - sub @ truth[free]  # the fixed cells' part of each row
            prog = _Program(sub, self.lo_row[rows] - rest, self.hi_row[rows] - rest,
                            self.lb[free], self.engine)
            w_lo, w_hi = seen_lo[free].copy(), seen_hi[free].copy()
            n_prog += _probe(prog, self.lb[free], truth[free], width, w_lo, w_hi, todo)
            seen_lo[free], seen_hi[free] = w_lo, w_hi
        return n_prog

    def near(self, j: int) -> np.ndarray:
        """The small relations of cell ``j`` and, :data:`LOCAL_HOPS` deep, those of the
        cells in them (sorted row ids)."""
        rows = self.a.indices[self.a.indptr[j]:self.a.indptr[j + 1]]
        rows = np.sort(rows[self.small[rows]])
        for _ in range(LOCAL_HOPS - 1):
            if not len(rows):
                break
            more = np.unique(self.a[:, np.unique(self.ar[rows].indices)].indices)
            rows = more[self.small[more]]
        return rows

    def narrow(self, j: int, width: float) -> tuple[float, float, set[int]] | None:
        """(lo, hi, binding rows) of cell ``j`` when its relaxed interval is narrower than
        ``width``, else None (two programmes either way)."""
        rows = self.near(j)
        if not len(rows):
            return None
        self.tried += 1
        sub = self.ar[rows]
        cells = np.unique(sub.indices)
        prog = _Program(sub[:, cells], self.lo_row[rows], self.hi_row[rows], self.lb[cells],
                        self.engine)
        at = int(np.searchsorted(cells, j))
        out, binding = [], set()
        for sense in (1.0, -1.0):
            val, _x, dual = prog.bound(at, sense, False)
            if not np.isfinite(val):
                return None
            out.append(val)
            binding.update(int(rows[d]) for d in dual)
        lo, hi = float(np.ceil(out[0] - TOL)), float(np.floor(out[1] + TOL))
        if hi - lo >= width:
            return None
        self.shown += 1
        return lo, hi, binding


def _probe(prog: _Program, lb, truth, width: float, seen_lo: np.ndarray,
           seen_hi: np.ndarray, need: np.ndarray | None = None) -> int:
    """The cheap exact shortcut of a large component (:func:`_solve_component`): before
    one programme per cell and bound, a few programmes that move many cells at once:
    random signs on the cells not yet seen ``width`` apart (a fixed seed: the audit is
    deterministic), minimised and maximised, each variable boxed at most its true value +
    2 x ``width`` (so the programme is bounded). Every integral solution is a table the
    reader cannot rule out, so the values seen (``seen_lo``, ``seen_hi``, updated in
    place) are within each cell's interval: a cell seen ``width`` apart is protected
    without a programme of its own; the others (the narrow ones among them) are solved
    exactly afterwards. Stops when a round covers no new cell. ``need``: the cells whose
    interval is wanted (the others only move with them). Returns the programmes
    solved."""
    rng = np.random.default_rng(17)
    upper = np.maximum(np.asarray(truth, float), np.asarray(lb, float)) + 2 * width
    n = 0
    for _ in range(PROBE_ROUNDS):
        todo = (seen_hi - seen_lo) < width
        if need is not None:
            todo &= need
        if todo.sum() < PROBE_MIN:
            break
        before = int(todo.sum())
        w = np.zeros(len(todo))
        w[todo] = rng.choice([-1.0, 1.0], size=int(todo.sum()))
        for c in (w, -w):
            x = prog.probe(c, upper)
            n += 1
            if x is not None and not _integral(x) and prog.h is not None:
                x = prog.probe(c, upper, integer=True)  # an integer table near it
                n += 1
            if x is not None and _integral(x):
                np.minimum(seen_lo, np.round(x), out=seen_lo)
                np.maximum(seen_hi, np.round(x), out=seen_hi)
        left = (seen_hi - seen_lo) < width
        if int((left if need is None else left & need).sum()) == before:
            break
    return n


def _solve_component(a, lo_row, hi_row, lb, truth, width, shortcut, integer, engine,
                     seen: tuple[np.ndarray, np.ndarray] | None = None,
                     need: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[set[int]], int]:
    """Bounds of every variable of one component (rows ``lo_row <= a @ x <= hi_row``):
    the LP's, then the integer programme for a bound whose LP optimum is fractional;
    with ``shortcut``, cells seen ``width`` apart need no programme (:func:`_probe`), and
    a cell whose LP bounds, rounded inward, are already less than ``width`` apart gets
    them (an interval containing the integer one: narrow either way, ``exact`` false)
    without the integer programmes. ``seen``: the least and greatest values of each
    variable in tables found earlier (feasible here too: see :func:`_bounds`), updated in
    place. ``need``: the variables whose bounds are wanted (None: all); the others get
    the values seen (``exact`` false) and no programme of their own. Returns lo, hi,
    exact, the binding rows of each variable (local row ids) and the number of
    programmes solved."""
    nv = len(lb)
    lo, hi = np.array(truth, float), np.array(truth, float)  # the true table is feasible
    seen_lo, seen_hi = seen if seen is not None else (lo.copy(), hi.copy())
    exact = np.zeros(nv, bool)
    binding: list[set[int]] = [set() for _ in range(nv)]
    if a.shape[0] == 0:  # in no relation: anything from its lower bound up
        return np.asarray(lb, float), np.full(nv, np.inf), np.ones(nv, bool), binding, 0
    prog = _Program(a, lo_row, hi_row, lb, engine)
    n_prog = 0
    local = _Local(a, lo_row, hi_row, lb, engine) if shortcut and nv >= LOCAL_MIN else None
    shown: dict[int, tuple[float, float, set[int]]] = {}  # narrow on their own relations
    todo = np.ones(nv, bool) if need is None else np.asarray(need, bool).copy()
    windows = local is not None and nv >= WINDOW_MIN
    if windows:
        # windows instead of the whole component's probe, then the cells left are shown
        # narrow on their own relations where they can be, and only the others get
        # programmes over the component
        n_prog += local.probe_windows(truth, width, seen_lo, seen_hi, need)
        for j in np.flatnonzero(todo & ((seen_hi - seen_lo) < width)):
            if not local.worth_it:
                break
            got = local.narrow(int(j), width)
            n_prog += 2
            if got is not None:
                shown[int(j)], todo[j] = got, False
    if shortcut and nv >= PROBE_MIN and not windows:
        n_prog += _probe(prog, lb, truth, width, seen_lo, seen_hi, todo)
    for j in range(nv):
        if need is not None and not need[j]:
            lo[j], hi[j] = seen_lo[j], seen_hi[j]
            continue
        if shortcut and seen_hi[j] - seen_lo[j] >= width:
            lo[j], hi[j] = seen_lo[j], seen_hi[j]
            continue
        got = shown.get(j)
        if got is None and local is not None and nv < WINDOW_MIN and local.worth_it:
            got = local.narrow(j, width)
            n_prog += 2
        if got is not None:  # narrow on its own relations: narrow (``exact`` false)
            lo[j], hi[j], binding[j] = got
            continue
        out, ok = [], []
        for sense in (1.0, -1.0):
            val, x, dual = prog.bound(j, sense, False)
            n_prog += 1
            binding[j].update(dual.tolist())
            good = x is None or _integral(x)
            if x is not None and good:
                np.minimum(seen_lo, np.round(x), out=seen_lo)
                np.maximum(seen_hi, np.round(x), out=seen_hi)
            out.append(float(val))
            ok.append(good)
        if integer:
            # the integer bounds lie inside the LP's rounded inward
            out = [float(np.ceil(out[0] - TOL)),
                   float(np.floor(out[1] + TOL)) if np.isfinite(out[1]) else out[1]]
            if not all(ok) and shortcut and out[1] - out[0] < width:
                lo[j], hi[j] = out  # narrow whatever the integer bounds (not exact)
                continue
            if not all(ok) and shortcut:
                # an integer table with x_j width away from one seen: protected without
                # the integer optimum (a feasibility programme, which stops at the first
                # integer solution)
                for i, sense in enumerate((1.0, -1.0)):
                    if ok[i] or seen_hi[j] - seen_lo[j] >= width:
                        continue
                    x = prog.reaches(j, sense, seen_hi[j] - width if sense > 0
                                     else seen_lo[j] + width, np.asarray(truth, float))
                    n_prog += 1
                    if x is not None:
                        np.minimum(seen_lo, np.round(x), out=seen_lo)
                        np.maximum(seen_hi, np.round(x), out=seen_hi)
                if seen_hi[j] - seen_lo[j] >= width:
                    lo[j], hi[j] = seen_lo[j], seen_hi[j]
                    continue
            for i, sense in enumerate((1.0, -1.0)):
                if not ok[i]:
                    val = prog.integer_bound(j, sense)
                    n_prog += 1
                    out[i] = float(np.round(val)) if np.isfinite(val) else float(val)
        lo[j], hi[j] = out
        exact[j] = True
    return lo, hi, exact, binding, n_prog


def audit(pdf: pd.DataFrame, hidden: np.ndarray, width: float, *,
          suppress_zeros: bool = False, system: System | None = None,
          identities: Identities = IDENTITIES, additive: Sequence[str] | None = ADDITIVE,
          by: str = C.POP_CLASS, shortcut: bool = True, integer: bool = True,
          cache: dict | None = None, engine: str = "highs", bounds: Pairs = (),
          sums: pd.DataFrame | None = None, exempt: np.ndarray | None = None,
          unknown_zero: np.ndarray | None = None) -> Audit:
    """Solve the feasible interval of every hidden cell of ``pdf`` (see the module doc).

    ``pdf``: the unsuppressed table (``level``, ``unit_id``, ``parent_id``, ``by``,
    ``raw_count``); ``hidden``: the mask of suppressed rows; ``width``: the protection
    width; ``system``: :func:`relations` of ``pdf`` (built when None); ``cache``: a dict
    kept between calls on the same table (components already solved are reused);
    ``shortcut``: see the module doc (False: both bounds of every cell are solved);
    ``bounds``, ``sums``: see :func:`relations`; ``exempt``: rows that need no width (a
    hidden cell that is never published and whose true count is not small, e.g.
    jobs_housing's out-commuters from k_min on: pinning it reveals no small count; its
    interval is not solved: ``lo`` / ``hi`` are the values seen, ``exact`` false);
    ``unknown_zero``: hidden rows a reader cannot tell from a zero (their lower bound is 0
    even where zeros are published: a block of cells withheld zeros included, e.g.
    commute's withdrawn splits)."""
    t0 = time.perf_counter()
    system = system or relations(pdf, identities, additive, by, bounds, sums)
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy(float)
    zeros_unknown = (np.asarray(unknown_zero, bool) | suppress_zeros
                     if unknown_zero is not None else suppress_zeros)
    free = np.zeros(len(pdf), bool) if exempt is None else np.asarray(exempt, bool)
    # a hidden zero where zeros are published is protected whatever its interval (it
    # reveals nobody, below): with ``shortcut`` it gets no programme of its own, only the
    # values seen (about half the hidden cells of the commute release's joint audits and
    # three quarters of their programmes, 2026-12-06)
    need = ~free & ~((raw == 0) & (not suppress_zeros) & shortcut)
    u, lo, hi, exact, binding, n_prog, n_comp = _bounds(
        raw, np.asarray(hidden, bool), float(width), system, zeros_unknown, shortcut,
        integer, {} if cache is None else cache, engine, need)
    cells = pd.DataFrame({C.LEVEL: pdf[C.LEVEL].to_numpy()[u],
                          C.UNIT_ID: pdf[C.UNIT_ID].to_numpy()[u],
                          by: pdf[by].to_numpy()[u], C.RAW_COUNT: raw[u].astype(np.int64),
                          LO: lo, HI: hi, WIDTH: hi - lo, EXACT: exact, "pos": u})
    # a hidden zero pinned at 0 reveals nobody (zeros are published unless suppress_zeros)
    cells[PROTECTED] = (cells[WIDTH] >= width) | ((cells[C.RAW_COUNT] == 0)
                                                  & (not suppress_zeros))
    cells[PROTECTED] |= free[u]
    keys = pd.DataFrame({C.LEVEL: pdf[C.LEVEL].astype(str).to_numpy(),
                         C.UNIT_ID: pdf[C.UNIT_ID].astype(str).to_numpy(),
                         "cell": pdf[by].astype(str).to_numpy(), C.RAW_COUNT: raw})
    solved = Solved(keys, system, np.asarray(hidden, bool).copy(),
                    np.broadcast_to(np.asarray(zeros_unknown, bool), len(pdf)).copy(), free)
    return Audit(cells, float(width), n_prog, time.perf_counter() - t0, n_comp, binding,
                 by=by, solved=solved)


def _worker_count(n_large: int) -> int:
    """Worker processes for ``n_large`` large components: one each, at most the cores this
    process may run on and :data:`WORKERS_MAX` (1: solve them here)."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return min(n_large, cores, WORKERS_MAX) if n_large >= 2 else 1


def _solve_in_worker(args: tuple, settings: dict) -> tuple:
    """:func:`_solve_component` in a worker process, with the parent's settings; the
    result and the values seen (updated in place there, returned here)."""
    globals().update(settings)
    res = _solve_component(*args)
    return res, args[9]


def _solve_components(todo: dict[tuple, tuple]) -> dict[tuple, tuple]:
    """Solve each component of ``todo`` (key -> (index, :func:`_solve_component`'s
    arguments)): key -> (index, result, values seen). Components of at least
    :data:`PARALLEL_MIN` hidden cells, when there are two or more, are solved in worker
    processes (spawned: a fresh interpreter each, not a fork of a driver holding a JVM
    gateway and the solver's threads), the others here meanwhile. Each component is solved
    on its own (its own programmes, seeds and values seen), so the results are the same
    whichever process solves it."""
    large = [k for k, (_, a) in todo.items() if len(a[3]) >= PARALLEL_MIN]
    workers = _worker_count(len(large))
    out: dict[tuple, tuple] = {}
    pending = {}
    if workers > 1:
        settings = {k: globals()[k] for k in _SETTINGS}
        pool = _pool(workers)
        pending = {k: pool.submit(_solve_in_worker, todo[k][1], settings) for k in large}
    for key, (c, args) in todo.items():
        if key not in pending:
            out[key] = (c, _solve_component(*args), args[9])
    for key, fut in pending.items():
        try:
            res, seen = fut.result()
        except BrokenProcessPool:  # a worker died (killed, out of memory): solved here
            import logging

            logging.getLogger(__name__).warning(
                "privacy audit: a worker process died; solving its component of %d cells "
                "in this process", len(todo[key][1][3]))
            if _POOL:
                _POOL[0].shutdown(wait=False, cancel_futures=True)
                _POOL.clear()
            args = todo[key][1]  # its values seen untouched here: the same start
            res, seen = _solve_component(*args), args[9]
        out[key] = (todo[key][0], res, seen)
    return out


_POOL: list = []  # [executor, workers]: kept for the process's later audits and rounds


def _pool(workers: int):
    """The worker processes (spawned once, ~1 s each to import the solver; kept for the
    audit's later rounds and the process's later audits, shut down at exit)."""
    if _POOL and _POOL[1] >= workers:
        return _POOL[0]
    import atexit
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if _POOL:
        _POOL[0].shutdown()
    else:
        atexit.register(lambda: _POOL and _POOL[0].shutdown(cancel_futures=True))
    _POOL[:] = [ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")),
                workers]
    return _POOL[0]


def _bounds(raw, hidden, width, system, suppress_zeros, shortcut, integer, cache, engine,
            need: np.ndarray | None = None):
    """The intervals of the hidden cells (see :func:`audit`): their positions, lo, hi,
    exact, the binding rows of each (position -> global row ids), programmes solved and
    components. ``cache`` also keeps the values each cell took in the tables found so
    far (``_seen``): with the same relations and a hidden set that only grew since, each
    of those tables is still feasible (a newly hidden cell at its true value), so with
    ``shortcut`` a cell seen ``width`` apart in an earlier round needs no programme.
    ``need``: the cells whose interval is wanted (None: every hidden one)."""
    prev = cache.get("_seen")
    if prev is None or (prev[0] & ~hidden).any() or len(prev[0]) != len(hidden):
        prev = (hidden.copy(), raw.astype(float).copy(), raw.astype(float).copy())
    seen_lo, seen_hi = prev[1], prev[2]
    cache["_seen"] = (hidden.copy(), seen_lo, seen_hi)
    u = np.flatnonzero(hidden)
    k = np.flatnonzero(~hidden)
    lo = np.zeros(len(u))
    hi = np.zeros(len(u))
    exact = np.zeros(len(u), bool)
    binding: dict[int, set[int]] = {}
    n_prog = 0
    n_comp = 0
    if len(u):  # suppress_zeros: a bool, or one per row (audit's unknown_zero)
        zs = np.asarray(suppress_zeros, bool)
        lb = np.where(~(zs[u] if zs.ndim else zs) & (raw[u] > 0), 1.0, 0.0)
        rows = system.rows
        n_eq = system.eq.shape[0]
        a_u = rows[:, u].tocsr()
        rhs = -(rows[:, k] @ raw[k])
        touched = np.flatnonzero(np.diff(a_u.indptr) > 0)
        a_u = a_u[touched]
        rhs = rhs[touched]
        # the components: of the graph of unknowns and relations (unknowns first, so
        # they are numbered by their first unknown), not of A'A, which a relation of
        # thousands of unknowns (a grid total) fills with millions of entries
        pat = abs(a_u)
        _, comp = connected_components(sparse.bmat([[None, pat.T], [pat, None]],
                                                   format="csr"), directed=False)
        comp = comp[:len(u)]
        n_comp = int(comp.max()) + 1
        # the component of each row: of its first unknown; both sorted by component so
        # that each component is one block of the permuted matrix
        row_comp = comp[a_u.indices[a_u.indptr[:-1]]] if len(touched) else np.zeros(0, int)
        v_order = np.argsort(comp, kind="stable")
        r_order = np.argsort(row_comp, kind="stable")
        v_cut = np.searchsorted(comp[v_order], np.arange(n_comp + 1))
        r_cut = np.searchsorted(row_comp[r_order], np.arange(n_comp + 1))
        block = a_u[r_order][:, v_order].tocsr()
        rhs_o, eq_o, rows_o = rhs[r_order], touched[r_order] < n_eq, touched[r_order]
        todo: dict[tuple, tuple] = {}  # the components to solve: their arguments
        for c in range(n_comp):
            vars_c = v_order[v_cut[c]:v_cut[c + 1]]
            key = tuple(u[vars_c].tolist())
            if key not in cache and key not in todo:
                r0, r1 = r_cut[c], r_cut[c + 1]
                pos = u[vars_c]
                todo[key] = (c, (
                    block[r0:r1, v_cut[c]:v_cut[c + 1]], np.where(eq_o[r0:r1], rhs_o[r0:r1],
                                                                  -np.inf),
                    rhs_o[r0:r1], lb[vars_c], raw[pos], width, shortcut, integer, engine,
                    (seen_lo[pos].copy(), seen_hi[pos].copy()),
                    None if need is None else np.asarray(need, bool)[pos]))
        for key, (c, res, (s_lo, s_hi)) in _solve_components(todo).items():
            pos = u[v_order[v_cut[c]:v_cut[c + 1]]]
            seen_lo[pos], seen_hi[pos] = s_lo, s_hi
            r0 = r_cut[c]
            glob = [{int(rows_o[r0 + b]) for b in s} for s in res[3]]
            cache[key] = (res[0], res[1], res[2], glob, res[4])
            n_prog += res[4]
        for c in range(n_comp):
            vars_c = v_order[v_cut[c]:v_cut[c + 1]]
            key = tuple(u[vars_c].tolist())
            clo, chi, cex, cbind, _ = cache[key]
            lo[vars_c], hi[vars_c], exact[vars_c] = clo, chi, cex
            for j, b in zip(vars_c, cbind, strict=True):
                binding[int(u[j])] = b
    return u, lo, hi, exact, binding, n_prog, n_comp


def audited_suppression_mask(pdf: pd.DataFrame, k_min: int, width: float | None = None,
                             complementary: bool = True, suppress_zeros: bool = False,
                             identities: Identities = IDENTITIES,
                             additive: Sequence[str] | None = ADDITIVE, by: str = C.POP_CLASS,
                             max_rounds: int = 500, shortcut: bool = True,
                             engine: str = "highs", bounds: Pairs = (),
                             sums: pd.DataFrame | None = None,
                             forced: np.ndarray | None = None, regroup: bool = True,
                             frozen: np.ndarray | None = None,
                             budget_s: float | None = None,
                             fallback: bool = True,
                             exempt: np.ndarray | None = None,
                             unknown_zero: np.ndarray | None = None
                             ) -> tuple[np.ndarray, Audit]:
    """The suppression mask of ``pdf`` (rows in its order) under the rule of the module
    doc, and the audit of the result. ``width``: the protection width (default
    ``k_min``). Without ``complementary`` only primary cells are hidden (and audited).
    ``bounds``, ``sums``: further relations (:func:`relations`); ``forced``: rows hidden
    whatever their counts (another rule's decision, e.g. a table's own group rule);
    ``regroup`` false: the group rule of :func:`mobsig.privacy.suppression_mask` is not
    applied (the table's own rule decided ``forced``; only the primary cells and the
    audit's complements are added to it); ``frozen``: rows that keep their state in
    ``forced`` (published when not given) and are never chosen as complements (a total
    published elsewhere under its own rule, or a public total the table does not
    hold); ``budget_s``: stop adding complements after this many seconds (the final
    audit then decides the gate); ``fallback`` false: a cell whose binding relations hold
    no published cell gets no complement from its other relations (nothing hidden there
    widens what pins it; :func:`od_audited_mask` withholds the binding totals instead);
    ``exempt``: rows that need no width, ``unknown_zero``: hidden rows a reader cannot
    tell from a zero (:func:`audit`)."""
    t0 = time.perf_counter()
    width = float(k_min if width is None else width)
    order = canonical_order(pdf, by)
    tab = pdf.iloc[order].reset_index(drop=True)
    free = np.zeros(len(tab), bool) if exempt is None else np.asarray(exempt, bool)[order]
    uz = None if unknown_zero is None else np.asarray(unknown_zero, bool)[order]
    zeros_unknown = suppress_zeros if uz is None else uz | suppress_zeros
    start = None if forced is None else np.asarray(forced, bool)[order]
    sup = suppression_mask(tab, k_min, complementary and regroup, suppress_zeros,
                           identities, by=by, forced=start)
    system = relations(tab, identities, additive, by, bounds, sums)
    raw = tab[C.RAW_COUNT].fillna(0).to_numpy()
    # the total order of complements (privacy.suppression_mask's)
    rank = np.empty(len(tab), np.int64)
    rank[np.lexsort((tab[by].astype(str).to_numpy(), tab[C.LEVEL].astype(str).to_numpy(),
                     tab[C.UNIT_ID].astype(str).to_numpy(), raw, raw == 0))] = \
        np.arange(len(tab))
    rows = system.rows
    cols_of_row = np.split(rows.indices, rows.indptr[1:-1])
    rows_of_cell = np.split(rows.T.tocsr().indices, rows.T.tocsr().indptr[1:-1])
    cache: dict = {}
    never = np.zeros(len(tab), bool) if frozen is None else np.asarray(frozen, bool)[order]
    kept = np.zeros(len(tab), bool) if start is None else start
    sup = np.where(never, kept, sup)  # a frozen row keeps its given state
    first = sup.copy()
    n_prog = 0
    rounds = 0
    rawf = raw.astype(float)
    # the cells whose interval decides anything (as audit's: no exempt cell, no hidden
    # zero where zeros are published)
    need = ~free & ~((rawf == 0) & (not suppress_zeros) & shortcut)
    for _ in range(max_rounds if complementary else 0):
        if budget_s is not None and time.perf_counter() - t0 > budget_s:
            break
        u, lo, hi, _e, binding, n, _c = _bounds(rawf, sup, width, system, zeros_unknown,
                                                shortcut, True, cache, engine, need)
        n_prog += n
        bad = u[((hi - lo) < width) & ((rawf[u] > 0) | suppress_zeros) & ~free[u]]
        if not len(bad):
            break
        used: set[int] = set()
        picks: set[int] = set()
        for j in bad[np.argsort(rank[bad], kind="stable")]:
            bind = binding.get(int(j), set())
            if bind & used:
                continue
            pick = None
            for group in (bind, set(rows_of_cell[j].tolist())) if fallback else (bind,):
                cand = np.unique(np.concatenate([cols_of_row[r] for r in group])) \
                    if group else np.zeros(0, np.int64)
                cand = cand[~sup[cand] & ~never[cand]]
                if len(cand):
                    pick = int(cand[np.argmin(rank[cand])])
                    break
            if (pick is None and system.parent[j] >= 0 and not sup[system.parent[j]]
                    and not never[system.parent[j]]):
                pick = int(system.parent[j])  # nothing left around it: hide the total
            if pick is None:
                continue
            picks.add(pick)
            used |= set(rows_of_cell[pick].tolist())
        if not picks:
            break
        sup[list(picks)] = True
        # the group rule again, the new cells as primary ones: no sibling group or
        # identity is left with one hidden cell (where a group total the table does not
        # hold is public elsewhere, e.g. the layers without a parent)
        if regroup:
            sup = np.where(never, sup, suppression_mask(
                tab, k_min, complementary, suppress_zeros, identities, by=by, forced=sup))
        rounds += 1
    result = audit(tab, sup, width, suppress_zeros=suppress_zeros, system=system,
                   shortcut=shortcut, cache=cache, by=by, engine=engine, exempt=free,
                   unknown_zero=uz)
    mask = np.empty(len(tab), bool)
    mask[order] = sup
    result.cells["pos"] = order[result.cells["pos"].to_numpy()]
    result.binding = {}
    result.added = int(sup.sum() - first.sum())
    result.rounds = rounds
    result.n_programs += n_prog
    result.seconds = time.perf_counter() - t0
    return mask, result


def audited_suppress_pandas(pdf: pd.DataFrame, k_min: int, width: float | None = None,
                            complementary: bool = True, suppress_zeros: bool = False,
                            identities: Identities = IDENTITIES,
                            additive: Sequence[str] | None = ADDITIVE, by: str = C.POP_CLASS,
                            bounds: Pairs = (), sums: pd.DataFrame | None = None
                            ) -> tuple[pd.DataFrame, Audit]:
    """``pdf`` with ``is_suppressed`` set by :func:`audited_suppression_mask` and the
    counts of suppressed rows nulled, and the audit."""
    mask, result = audited_suppression_mask(pdf, k_min, width, complementary,
                                            suppress_zeros, identities, additive, by,
                                            bounds=bounds, sums=sums)
    out = pdf.copy()
    out[C.IS_SUPPRESSED] = mask
    out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(mask)
    out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(mask)
    return out, result


def with_audited_suppression(table, k_min: int, width: float | None = None,
                             complementary: bool = True, suppress_zeros: bool = False,
                             identities: Identities = IDENTITIES,
                             additive: Sequence[str] | None = ADDITIVE, by: str = C.POP_CLASS,
                             bounds: Pairs = ()):
    """:func:`audited_suppression_mask` on a Spark table of every level at once (the
    relations span levels, so the decision needs the whole release): the cell keys and
    raw counts (a few columns, one row per cell) go to the driver through Arrow, the mask
    comes back as a broadcast join. Returns the table with ``is_suppressed`` set and the
    counts of suppressed rows null (the columns of :func:`mobsig.privacy.with_suppression`)
    and the :class:`Audit`. ``bounds``: see :func:`relations`."""
    from pyspark.sql import functions as F

    keys = [C.LEVEL, C.UNIT_ID, by]
    base = table.drop(C.IS_SUPPRESSED) if C.IS_SUPPRESSED in table.columns else table
    pdf = base.select(*keys, C.PARENT_ID, C.RAW_COUNT).toPandas()
    mask, result = audited_suppression_mask(pdf, k_min, width, complementary,
                                            suppress_zeros, identities, additive, by,
                                            bounds=bounds)
    flags = base.sparkSession.createDataFrame(
        pdf[keys].assign(**{C.IS_SUPPRESSED: mask}),
        f"{C.LEVEL} string, {C.UNIT_ID} string, {by} string, {C.IS_SUPPRESSED} boolean")
    joined = base.join(F.broadcast(flags), keys, how="left")
    hide = F.coalesce(F.col(C.IS_SUPPRESSED), F.lit(False))
    out = joined.select(
        *[F.when(hide, F.lit(None)).otherwise(F.col(c)).alias(c)
          if c in (C.RAW_COUNT, C.EXPANDED_COUNT) else F.col(c) for c in base.columns],
        hide.alias(C.IS_SUPPRESSED))
    return out, result


SUITE = "privacy_audit"


def gate(ctx, result: Audit, table: str) -> None:
    """The audit as a job gate (suite ``privacy_audit``: no under-protected cell) and its
    run facts: ``privacy_cells_audited`` (suppressed cells), ``privacy_min_width`` (the
    narrowest interval; null when none is bounded), ``privacy_complements_added`` (cells
    the audit hid beyond the group rule), ``privacy_audit_s``, ``privacy_totals_withheld``
    (OD releases, when any: public totals withheld, :func:`od_audited_mask`),
    ``privacy_cells_held`` (``result.holds``: the cells of a release published with it
    hidden for the joint audit, :func:`mobsig.commute.publish_with_jobs_housing`); with a joint
    audit (``result.joint``, :func:`joint_audit`) ``privacy_joint_cells_audited``,
    ``privacy_joint_under_protected``, ``privacy_joint_min_width``,
    ``privacy_joint_gated``, ``privacy_joint_cells_hidden`` (cells its repair hid),
    ``privacy_joint_audit_s``, its cells counted as under-protected only when gated (else
    a warning names them), and where the joint carries a second audit (commute: with
    the relations between commute_od's levels) ``privacy_joint_levels_under_protected``
    and ``privacy_joint_levels_min_width`` (gated with the joint audit, else a warning
    names its narrow cells); for a
    part audited but not gated (``result.reported``), ``privacy_reported_cells`` and
    ``privacy_reported_under_protected`` (and a warning naming the cells). A failure raises the
    DataQualityError of :meth:`mobsig.runner.JobContext.check` (exit 6) naming the cells
    and their intervals; nothing is written or exported."""
    ctx.fact("privacy_cells_audited", result.n_cells)
    ctx.fact("privacy_min_width", result.min_width if np.isfinite(result.min_width)
             else None)
    ctx.fact("privacy_complements_added", result.added)
    ctx.fact("privacy_audit_s", round(result.seconds, 3))
    if result.withheld:
        ctx.fact("privacy_totals_withheld", result.withheld)
    if result.holds is not None:  # another release's cells hidden for this one's audit
        ctx.fact("privacy_cells_held", len(result.holds))
        if len(result.holds):
            ctx.log.info("privacy audit of %s: published cells held hidden so that no cell "
                         "is pinned by the relations between OD levels: %s", table,
                         ", ".join(" ".join(map(str, r)) for r in
                                   result.holds.itertuples(index=False)))
    if result.reported is not None:
        extra = result.reported
        n_bad = int((~extra.cells[PROTECTED]).sum())
        ctx.fact("privacy_reported_cells", extra.n_cells)
        ctx.fact("privacy_reported_under_protected", n_bad)
        if n_bad:
            ctx.log.warning("privacy audit of %s, reported part (not gated): %s", table,
                            extra.failures())
    bad = int((~result.cells[PROTECTED]).sum())
    ctx.log.info("privacy audit of %s: %d suppressed cells, narrowest interval %s, %d "
                 "complements added, %d programmes, %.2f s", table, result.n_cells,
                 result.min_width, result.added, result.n_programs, result.seconds)
    joint = result.joint
    if joint is not None:
        j_bad = int((~joint.cells[PROTECTED]).sum())
        ctx.fact("privacy_joint_cells_audited", joint.n_cells)
        ctx.fact("privacy_joint_under_protected", j_bad)
        ctx.fact("privacy_joint_min_width", joint.min_width if np.isfinite(joint.min_width)
                 else None)
        ctx.fact("privacy_joint_gated", result.joint_gated)
        ctx.fact("privacy_joint_cells_hidden", joint.added)
        ctx.fact("privacy_joint_audit_s", round(joint.seconds, 3))
        ctx.log.info("joint privacy audit of %s with the releases of the same counts: %d "
                     "suppressed cells, narrowest interval %s, %d programmes, %.2f s", table,
                     joint.n_cells, joint.min_width, joint.n_programs, joint.seconds)
        lv = joint.reported
        for note in joint.notes:
            ctx.log.warning("joint privacy audit of %s: %s", table, note)
        if lv is not None:  # commute's: with the relations between commute_od's levels
            lv_bad = int((~lv.cells[PROTECTED]).sum())
            ctx.fact("privacy_joint_levels_under_protected", lv_bad)
            ctx.fact("privacy_joint_levels_min_width", lv.min_width
                     if np.isfinite(lv.min_width) else None)
            ctx.fact("privacy_joint_levels_audit_s", round(lv.seconds, 3))
            ctx.log.info("joint privacy audit of %s with the relations between its OD "
                         "levels: %d suppressed cells, narrowest interval %s, %d rounds, "
                         "%d programmes, %.2f s", table, lv.n_cells, lv.min_width,
                         lv.rounds, lv.n_programs, lv.seconds)
            if lv_bad and not result.joint_gated:
                ctx.log.warning("joint privacy audit of %s with the relations between "
                                "its OD levels (reported, not gated): %s", table,
                                lv.failures())
        if result.joint_gated:
            bad += j_bad + (lv_bad if lv is not None else 0)
        elif j_bad:
            ctx.log.warning("joint privacy audit of %s (reported, not gated: "
                            "privacy.joint_audit=report): %s", table, joint.failures())

    def explain() -> str:
        text = [] if result.passed else [result.failures()]
        if joint is not None and result.joint_gated and not joint.passed:
            text.append("taken together with the releases that publish the same counts "
                        "(one system): " + joint.failures())
        lv = joint.reported if joint is not None else None
        if lv is not None and result.joint_gated and not lv.passed:
            text.append("taken together with the relations between commute_od's levels "
                        "(a pair = the sum of its child units' pairs): " + lv.failures())
        return ("; ".join(text) + ". The rule found nothing left to hide around them (a "
                "layer or class too small to protect: publish fewer layers, or a lower "
                "privacy.protection_width with privacy.allow_below_floor).")
    ctx.check(SUITE, {"under_protected": bad}, table=table,
              params={"protection_width": result.width}, explain=explain)


def binding_picks(result: Audit, cand: np.ndarray) -> list[int]:
    """Cells to hide for an audit ``result`` to pass (positions in its solved system;
    ``cand``: the cells that may be hidden, a mask over them): for each cell narrower than
    its width, the candidate with the smallest true count (then the first) in each
    relation that binds it (every relation it is in when none binds it). The rule of the
    joint audits' repairs (commute_od pairs, jobs_housing counts, metro parts)."""
    rows = result.solved.system.rows
    cols = rows.T.tocsr()
    raw = result.solved.keys[C.RAW_COUNT].to_numpy(float)
    pick: set[int] = set()
    for p in result.cells.loc[~result.cells[PROTECTED], "pos"].to_numpy():
        bind = result.binding.get(int(p)) or set(cols.indices[
            cols.indptr[p]:cols.indptr[p + 1]].tolist())
        for r in sorted(bind):
            js = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
            js = js[cand[js]]
            if len(js):
                pick.add(int(js[np.lexsort((js, raw[js]))[0]]))
    return sorted(pick)


def system_blob(solved: Solved) -> bytes:
    """A release's audited system (``privacy_systems.system``): pickled, zlib-compressed."""
    import pickle
    import zlib

    return zlib.compress(pickle.dumps(solved, protocol=pickle.HIGHEST_PROTOCOL), 6)


def system_from_blob(blob: bytes) -> Solved:
    """The system :func:`system_blob` stored; a :class:`~mobsig.errors.InputError` asking
    for the release to be re-run when this code cannot read it."""
    import pickle
    import zlib

    from mobsig.errors import InputError

    try:
        out = pickle.loads(zlib.decompress(blob))  # noqa: S301 (our own warehouse's artefact)
    except Exception as e:  # an older code version's classes, a damaged blob
        raise InputError(f"privacy_systems: the stored audit system cannot be read ({e}); "
                         "re-run the job that publishes the release (commute)") from e
    if not isinstance(out, Solved):
        raise InputError("privacy_systems: the stored blob is not an audit system; re-run "
                         "the job that publishes the release (commute)")
    return out


def system_frame(spark, release: str, solved: Solved | None):
    """One row of ``privacy_systems`` (without ``month``) for ``solved``: none when there
    is no system (the joint audit off)."""
    from pyspark.sql import types as T

    from mobsig.schema import load_schema

    schema = T.StructType([f for f in load_schema("privacy_systems").struct.fields
                           if f.name != C.MONTH])
    rows = [] if solved is None else [(
        release, len(solved.keys), int(solved.hidden.sum()),
        int(solved.system.eq.shape[0] + solved.system.ub.shape[0]),
        bytearray(system_blob(solved)))]
    return spark.createDataFrame(rows, schema)


def joint_audit(parts: dict[str, Audit], links: pd.DataFrame, width: float,
                suppress_zeros: bool = False) -> Audit:
    """The interval audit of several releases that publish some of the same counts, as
    one system (issue 17: a count hidden in two releases, each audit protecting it by
    itself, can still be pinned by a reader who writes both releases' relations down at
    once, e.g. the intersection of its two intervals). ``parts``: name -> the final audit
    of each release (its :attr:`Audit.solved`: cells, relations, hidden cells); ``links``:
    the relations between releases, one row per term: ``rel`` (the relation's name),
    ``part``, ``level``, ``unit_id``, ``cell``, ``coef``: the sum of coef x cell is 0
    (jobs_housing's live_and_work of a unit = commute_od's same-unit pair; a unit's
    employed residents = the sum of its commute_od row); a term whose cell is in no
    part's table is a count no release holds, left out, and a relation is kept where it
    holds in the true counts, else as the inequality that holds (as :func:`relations`'
    ``sums``). Each part keeps its own relations, hidden cells, lower bounds and exempt
    cells. Returns the audit of every hidden cell of every part in the joint system
    (``level`` prefixed with ``<part>: ``, the breakdown column ``cell``): a cell narrower
    than ``width`` here and not in its own part's audit is one the releases give away
    together."""
    names = [n for n in parts if parts[n].solved is not None]
    sol = [parts[n].solved for n in names]
    off = np.cumsum([0, *(len(s.keys) for s in sol)])
    n = int(off[-1])
    keys = pd.concat([s.keys.assign(part=nm) for nm, s in zip(names, sol, strict=True)],
                     ignore_index=True)
    raw = keys[C.RAW_COUNT].to_numpy(float) if n else np.zeros(0)
    trip: dict[str, list] = {"eq": [], "ub": []}
    text: dict[str, list[str]] = {"eq": [], "ub": []}
    for nm, s, o in zip(names, sol, off, strict=False):
        for kind, mat, src in (("eq", s.system.eq, s.system.eq_text),
                               ("ub", s.system.ub, s.system.ub_text)):
            c = mat.tocoo()
            trip[kind].append((c.row + len(text[kind]), c.col + o, c.data))
            text[kind].extend(f"{nm}: {t}" for t in src)
    if links is not None and len(links) and n:
        ids = keys[["part", C.LEVEL, C.UNIT_ID, "cell"]].assign(i=np.arange(n))
        lk = links.assign(**{c: links[c].astype(str) for c in
                             ("part", C.LEVEL, C.UNIT_ID, "cell")}).merge(
            ids, on=["part", C.LEVEL, C.UNIT_ID, "cell"], how="inner")
        if len(lk):
            for kind, rows, cols, vals, texts in linear_rows(
                    lk["rel"].astype(str).to_numpy(), lk["i"].to_numpy(),
                    lk["coef"].to_numpy(float), raw):
                trip[kind].append((rows + len(text[kind]), cols, vals))
                text[kind].extend(texts)
    system = System(_rows(trip["eq"], len(text["eq"]), n), _rows(trip["ub"], len(text["ub"]),
                                                                 n),
                    text["eq"], text["ub"], np.full(n, -1, dtype=np.int64))
    pdf = pd.DataFrame({C.LEVEL: keys["part"] + ": " + keys[C.LEVEL],
                        C.UNIT_ID: keys[C.UNIT_ID], "cell": keys["cell"],
                        C.RAW_COUNT: raw})
    hidden, zero_unknown, exempt = (np.concatenate([getattr(s, a) for s in sol]) if sol
                                    else np.zeros(0, bool)
                                    for a in ("hidden", "zero_unknown", "exempt"))
    return audit(pdf, hidden, width, suppress_zeros=suppress_zeros, system=system,
                 by="cell", unknown_zero=zero_unknown, exempt=exempt)


def combine(parts: dict[str, Audit], width: float) -> Audit:
    """One :class:`Audit` of a release made of several audited parts (name -> audit;
    an empty dict: nothing suppressed), for :func:`gate`: the cells of every part (their
    ``level`` prefixed with the part's name, the breakdown column renamed ``cell``),
    programmes, complements, rounds and seconds added up."""
    frames = [a.cells.rename(columns={a.by: "cell"}).assign(
        **{C.LEVEL: lambda f, n=name: n + ": " + f[C.LEVEL].astype(str)})
        for name, a in parts.items()]
    cols = [C.LEVEL, C.UNIT_ID, "cell", C.RAW_COUNT, LO, HI, WIDTH, EXACT, "pos", PROTECTED]
    cells = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c: pd.Series(dtype=bool if c in (EXACT, PROTECTED) else float) for c in cols})
    out = Audit(cells, float(width), sum(a.n_programs for a in parts.values()),
                sum(a.seconds for a in parts.values()),
                sum(a.components for a in parts.values()), by="cell")
    out.added = sum(a.added for a in parts.values())
    out.withheld = sum(a.withheld for a in parts.values())
    out.rounds = max((a.rounds for a in parts.values()), default=0)
    return out


def hide_more(df, hidden: pd.DataFrame, keys: Sequence[str], counts: Sequence[str] = (
        C.RAW_COUNT, C.EXPANDED_COUNT)):
    """``df`` (a suppressed long form with ``is_suppressed``) with the rows named in
    ``hidden`` (the ``keys`` columns, one row per further hidden cell, as strings) hidden
    too: ``is_suppressed`` true and ``counts`` null (a broadcast join; ``df`` unchanged
    when ``hidden`` is empty)."""
    from pyspark.sql import functions as F

    if not len(hidden):
        return df
    spark = df.sparkSession
    def as_key(v):  # the value as Spark casts it to a string (null stays null)
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        return str(v)

    local = pd.DataFrame({f"_k_{k}": [as_key(v) for v in hidden[k].tolist()] for k in keys})
    flags = spark.createDataFrame(local.assign(_more=True),
                                  ", ".join(f"`_k_{k}` string" for k in keys)
                                  + ", _more boolean")
    cond = [F.col(k).cast("string").eqNullSafe(F.col(f"_k_{k}")) for k in keys]
    joined = df.join(F.broadcast(flags), cond, how="left")
    more = F.coalesce(F.col("_more"), F.lit(False))
    return joined.select(*[F.when(more, F.lit(None)).otherwise(F.col(c)).alias(c)
                           if c in counts else
                           (F.col(c) | more).alias(c) if c == C.IS_SUPPRESSED else F.col(c)
                           for c in df.columns])


def suppress_release(table, k_min: int, width: float | None, complementary: bool,
                     suppress_zeros: bool, on_audit=None,
                     identities: Identities = (), additive: Sequence[str] | None = None,
                     by: str = C.MEASURE, bounds: Pairs = ()):
    """The suppression of a population-style release (``level``, ``unit_id``,
    ``parent_id``, ``by``, ``raw_count``, ``expanded_count``; one row per cell): with a
    protection ``width``, :func:`with_audited_suppression` (every label of ``by``
    additive unless ``additive`` says otherwise: the relations are checked against the
    data) and its :class:`Audit` passed to ``on_audit``; without one (None), the group
    rule alone (:func:`mobsig.privacy.with_suppression`)."""
    from mobsig import privacy

    if width is None:
        return privacy.with_suppression(table, k_min, complementary, suppress_zeros,
                                        identities=identities, by=by)
    out, result = with_audited_suppression(table, k_min, width, complementary,
                                           suppress_zeros, identities, additive, by, bounds)
    if on_audit is not None:
        on_audit(result)
    return out


def share_interval(share_lo: float, share_hi: float, other_lo: float, other_hi: float,
                   hidden: str = "numerator", lb: float = 1.0, ub: float = np.inf,
                   hi_open: bool = False) -> tuple[float, float]:
    """The integer interval a published share gives a hidden count (issue 17: a rounded
    share published with its denominator, or its numerator, is a relation the interval
    audit does not model). The share num / den is known to lie in [``share_lo``,
    ``share_hi``] (its rounding: a value rounded to 0.01 lies within 0.005 of it; a
    threshold decision such as metro_area's membership is the share rounded to one bit,
    [threshold, 1] or [0, threshold) with ``hi_open``), the other count in [``other_lo``,
    ``other_hi``] (published exactly: both the same). ``hidden``: which count is hidden
    (``numerator`` or ``denominator``); ``lb`` / ``ub``: what the reader knows of it
    otherwise (>= 1 when zeros are published and it is not 0; a numerator <= its
    denominator). Returns (lo, hi), lo > hi when nothing fits; a width hi - lo below the
    protection width means the share pins the hidden count (the share must then not be
    published beside the other count)."""
    eps = 1e-9
    if hidden == "numerator":
        lo = np.ceil(share_lo * other_lo - eps)
        top = share_hi * other_hi
        hi = (np.ceil(top - eps) - 1) if hi_open else np.floor(top + eps)
        lo, hi = max(lo, lb), min(hi, ub, other_hi)
    elif hidden == "denominator":
        if share_hi <= 0:
            return float(max(lb, other_lo)), float(ub)  # 0 / den: any den
        lo = np.floor(other_lo / share_hi + eps) + 1 if hi_open else \
            np.ceil(other_lo / share_hi - eps)
        hi = np.floor(other_hi / share_lo + eps) if share_lo > 0 else np.inf
        lo, hi = max(lo, lb, other_lo), min(hi, ub)
    else:
        raise ValueError(f"hidden must be numerator or denominator, not {hidden!r}")
    return float(lo), float(hi)


def share_pins(pdf: pd.DataFrame, num: str, den: str, share: str, width: float,
               step: float = 0.0, member: str | None = None, threshold: float | None = None,
               suppress_zeros: bool = False) -> pd.DataFrame:
    """The rows of a published table (pandas: ``<num>_raw_count`` / ``<den>_raw_count``
    with their ``is_<count>_suppressed``, the share column, optionally a membership
    column decided by ``share >= threshold``) where exactly one count is hidden and what
    is published about the share pins it (:func:`share_interval`) narrower than
    ``width``: the share itself (``step``: its rounding, 0 = exact) or, with ``member``,
    the membership (the share rounded to one bit: [threshold, 1] or [0, threshold)).
    The hidden count's lower bound is 1 (zeros published; 0 with ``suppress_zeros``), a
    hidden numerator is at most the denominator. Returns ``row`` (the index of ``pdf``),
    ``hidden`` (the count's name), ``via`` (share / member), ``lo``, ``hi``."""
    h_num = pdf[f"is_{num}_suppressed"].eq(True).to_numpy()
    h_den = pdf[f"is_{den}_suppressed"].eq(True).to_numpy()
    one = h_num != h_den
    other = np.where(h_num, pdf[f"{den}_raw_count"].astype("float64").to_numpy(),
                     pdf[f"{num}_raw_count"].astype("float64").to_numpy())
    lb = 0.0 if suppress_zeros else 1.0
    ways = []
    s = pdf[share].astype("float64").to_numpy() if share in pdf else np.full(len(pdf), np.nan)
    ways.append(("share", ~np.isnan(s), s - step / 2, s + step / 2, np.zeros(len(pdf), bool)))
    if member is not None and threshold is not None:
        m = pdf[member]
        is_m = m.eq(True).to_numpy()
        ways.append(("member", m.notna().to_numpy(), np.where(is_m, threshold, 0.0),
                     np.where(is_m, 1.0, threshold), ~is_m))
    out = []
    for via, ok, s_lo, s_hi, is_open in ways:
        for i in np.flatnonzero(one & ok):
            lo, hi = share_interval(s_lo[i], s_hi[i], other[i], other[i],
                                    "numerator" if h_num[i] else "denominator", lb=lb,
                                    hi_open=bool(is_open[i]))
            if hi - lo < width:
                out.append((pdf.index[i], num if h_num[i] else den, via, lo, hi))
    return pd.DataFrame(out, columns=["row", "hidden", "via", "lo", "hi"])


def gate_for(ctx, table: str):
    """The callback that gates a release's audit (:func:`gate`), for a publish function's
    ``on_audit``."""
    return lambda result: gate(ctx, result, table)


OD_CELL = "_od_label"  # the label column of :func:`od_release_table`
OD_BUDGET_S = 300.0  # seconds of complement rounds per OD release (then the audit decides)


ROW_WITHHELD = "origin_total_withheld"  # the cell's row total is not public
COL_WITHHELD = "dest_total_withheld"  # the cell's column total is not public


def od_release_table(pdf: pd.DataFrame, rows: Sequence[str], cols: Sequence[str],
                     partition: Sequence[str] = (C.LEVEL,), label: str | None = None,
                     withheld: str | None = None, k_min: int = 0,
                     withheld_rows: str | None = None, drop: frozenset = frozenset(),
                     whole_rows: Sequence[str] = (), secret_cols: str | None = None,
                     secret_rows: str | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """An origin-destination release as a table of :func:`relations` (one matrix per
    ``partition`` group and ``label``, e.g. the period): each cell is the unit
    ``<row>><column>`` (level: the matrix), and each row and column holding more than one
    cell has a public total (the rule of :func:`mobsig.privacy.od_suppression_mask`: a
    row of one cell has no total of its own; nor has a total from 1 to ``k_min`` - 1,
    which any table would suppress), added as a published cell that is never a
    complement, tied to its cells by a sum. ``pdf``: the cells with the true
    ``raw_count`` and ``is_suppressed``; ``withheld`` / ``withheld_rows``: boolean
    columns, true on the cells of a column / row whose total the release withholds
    (commute_od's ``hide_dest_total`` / ``hide_origin_total``); ``drop``: further
    withheld totals, as their keys (level, label, unit: ``row:<row>`` / ``col:<col>``,
    the total cells' ``level``, ``_od_label`` and ``unit_id``; :func:`od_audited_mask`).
    ``whole_rows``: where ``rows`` split a line in parts (linkage at the metro level:
    origin and ``_dest_in_metro``), the columns of the whole line (the origin): a line of
    two or more parts gets its total too (``whole:<line>``; linkage's whole commuters
    row is employed residents - live_and_work, which jobs_housing publishes: without it
    a part below k, taken as unpublished, was the whole minus the other part). It obeys
    the rules of a total (withheld with ``withheld_rows``, none below k, ``drop``).
    ``secret_cols``: a boolean column, true on the cells of a column whose total is
    hidden in another release that a reader completes with a published count (linkage:
    inbound commuters hidden in commute, live_and_work published by jobs_housing, or the
    reverse): that total is a *hidden* cell of the table (``col:<column>``, never a
    complement), tied to its cells, so the audit requires it to be as wide as any
    hidden cell (a column published whole, or given by the other totals, pins it).
    ``secret_rows``: the same for row totals (commute_od: an origin whose employed
    residents jobs_housing hides; its row total is ``row:<row>``, hidden, even where
    ``withheld_rows`` withholds it, and a row of one cell gets it too).
    Returns the table (its first ``len(pdf)`` rows are ``pdf``'s, in order), the sums
    and the frozen mask (the totals)."""
    def key(names) -> pd.Series:
        frame = pdf[list(names)].astype(object).where(pdf[list(names)].notna(), "")
        return frame.astype(str).agg("\x1f".join, axis=1)

    mat = key(partition) if partition else pd.Series("", index=pdf.index)
    lab = pdf[label].astype(str) if label else pd.Series("", index=pdf.index)
    r, c = key(rows), key(cols)
    cells = pd.DataFrame({C.LEVEL: mat.to_numpy(), C.UNIT_ID: (r + ">" + c).to_numpy(),
                          C.PARENT_ID: None, OD_CELL: lab.to_numpy(),
                          C.RAW_COUNT: pdf[C.RAW_COUNT].fillna(0).to_numpy(np.int64),
                          C.IS_SUPPRESSED: pdf[C.IS_SUPPRESSED].to_numpy(bool)})
    totals, sums = [], []
    sides = [("row", r, withheld_rows), ("col", c, withheld)]
    if whole_rows:
        sides.append(("whole", key(whole_rows), withheld_rows))
    secret = {side: (pdf[flag].eq(True).to_numpy() if flag else np.zeros(len(pdf), bool))
              for side, flag in (("row", secret_rows), ("col", secret_cols))}
    for side, node, flag in sides:
        f = pd.DataFrame({"m": mat.to_numpy(), "l": lab.to_numpy(), "n": node.to_numpy(),
                          "raw": cells[C.RAW_COUNT].to_numpy(), "u": cells[C.UNIT_ID]})
        grp = [f["m"], f["l"], f["n"]]
        size = f.groupby(["m", "l", "n"])["raw"].transform("size").to_numpy()
        if side == "whole":  # only a line of two or more parts: else it is its row
            size = np.where(pd.Series(r.to_numpy()).groupby(grp).transform("nunique")
                            .to_numpy() > 1, size, 0)
        hid = np.zeros(len(f), bool)
        if flag:
            hid = pd.Series(pdf[flag].eq(True).to_numpy()).groupby(grp).transform(
                "any").to_numpy()
        sec = np.zeros(len(f), bool)
        if side in secret:
            sec = pd.Series(secret[side]).groupby(grp).transform("any").to_numpy()
        size = np.where(hid & ~sec, 0, np.where(sec, 2, size))
        f = f.assign(sec=sec)[size > 1]
        if not len(f):
            continue
        tot = f.groupby(["m", "l", "n"], as_index=False).agg(raw=("raw", "sum"),
                                                              sec=("sec", "any"))
        unit = side + ":" + tot["n"]
        out = (tot["raw"] > 0) & (tot["raw"] < k_min) & ~tot["sec"]
        if drop:
            out |= pd.Series([k in drop for k in zip(tot["m"], tot["l"], unit, strict=True)],
                             index=tot.index, dtype=bool) & ~tot["sec"]
        f = f.merge(tot[~out][["m", "l", "n"]], on=["m", "l", "n"], how="inner")
        tot = tot[~out].reset_index(drop=True)
        if not len(tot):
            continue
        unit = side + ":" + tot["n"]
        totals.append(pd.DataFrame({C.LEVEL: tot["m"], C.UNIT_ID: unit, C.PARENT_ID: None,
                                    OD_CELL: tot["l"], C.RAW_COUNT: tot["raw"],
                                    C.IS_SUPPRESSED: tot["sec"].to_numpy(bool)}))
        rel = side + " " + f["m"] + " " + f["l"] + " " + f["n"]
        sums.append(pd.DataFrame({"rel": rel, C.LEVEL: f["m"], C.UNIT_ID: f["u"],
                                  OD_CELL: f["l"], "coef": -1.0}))
        sums.append(pd.DataFrame({"rel": side + " " + tot["m"] + " " + tot["l"] + " "
                                  + tot["n"], C.LEVEL: tot["m"], C.UNIT_ID: unit,
                                  OD_CELL: tot["l"], "coef": 1.0}))
    table = pd.concat([cells, *totals], ignore_index=True)
    frozen = np.arange(len(table)) >= len(cells)
    sum_frame = pd.concat(sums, ignore_index=True) if sums else None
    return table, sum_frame, frozen


def stuck_totals(system: System, frozen: np.ndarray, result: Audit) -> np.ndarray:
    """The positions of the published totals (``frozen`` cells: a complement never
    picks them) that pin the under-protected cells of ``result`` (an audit over
    ``system`` with its binding rows) with nothing left to hide: every relation binding
    the cell's interval (a non-zero dual of its two programmes) holds no published cell
    but those totals, so no complement can widen it; only withholding a total can."""
    rows = system.rows
    hidden = np.zeros(rows.shape[1], bool)
    hidden[result.cells["pos"].to_numpy()] = True
    out: set[int] = set()
    for pos in result.cells.loc[~result.cells[PROTECTED], "pos"].to_numpy():
        bind = result.binding.get(int(pos), set())
        idx = [rows.indices[rows.indptr[g]:rows.indptr[g + 1]] for g in sorted(bind)]
        if not idx:
            continue
        every = np.concatenate(idx)
        if (~hidden[every] & ~frozen[every]).any():
            continue  # a published cell binds it: a complement can widen it
        out |= set(every[frozen[every] & ~hidden[every]].tolist())
    return np.array(sorted(out), dtype=np.int64)


def _stuck_totals(table: pd.DataFrame, frozen: np.ndarray, system: System,
                  result: Audit) -> set[tuple[str, str, str]]:
    """:func:`stuck_totals` of an OD release table as keys (level, label, unit)."""
    key = list(zip(table[C.LEVEL].astype(str), table[OD_CELL].astype(str),
                   table[C.UNIT_ID].astype(str), strict=True))
    return {key[t] for t in stuck_totals(system, frozen, result)}


def withholding_mask(pdf: pd.DataFrame, k_min: int, width: float, complementary: bool,
                     suppress_zeros: bool, identities: Identities, additive, by: str,
                     forced: np.ndarray, frozen: np.ndarray, budget_s: float = 300.0
                     ) -> tuple[np.ndarray, Audit]:
    """The audited rule of a table whose totals are decided elsewhere (``frozen``, e.g.
    commute's commuters and inbound commuters) from its own rule's mask (``forced``):
    complements (:func:`audited_suppression_mask`, ``regroup`` off, only among the
    relations that bind a cell) and, where a cell is pinned by published totals with
    nothing left to hide (:func:`stuck_totals`), those totals are withheld (hidden too:
    null, ``is_suppressed``); repeated until the audit passes, nothing changes or
    ``budget_s`` seconds. Returns the mask and the audit (``withheld``: the totals
    hidden)."""
    t0 = time.perf_counter()
    sup = np.asarray(forced, bool).copy()
    frozen = np.asarray(frozen, bool)
    start = sup.copy()
    system = relations(pdf, identities, additive, by)
    n_prog = rounds = withheld = 0
    while True:
        left = max(budget_s - (time.perf_counter() - t0), 0.0)
        mask, result = audited_suppression_mask(
            pdf, k_min, width, complementary, suppress_zeros, identities, additive, by,
            forced=sup, regroup=False, frozen=frozen, budget_s=left, fallback=False)
        n_prog += result.n_programs
        rounds += result.rounds
        if result.passed or not complementary or time.perf_counter() - t0 > budget_s:
            break
        again = audit(pdf, mask, width, suppress_zeros=suppress_zeros, system=system,
                      identities=identities, additive=additive, by=by)
        n_prog += again.n_programs
        stuck = stuck_totals(system, frozen, again)
        if not len(stuck) and (mask == sup).all():
            break
        sup = mask.copy()
        sup[stuck] = True
        withheld += len(stuck)
    result.withheld = withheld
    result.added = int(mask.sum() - start.sum()) - withheld
    result.rounds = rounds
    result.n_programs = n_prog
    result.seconds = time.perf_counter() - t0
    return mask, result


def _partners(table: pd.DataFrame, frozen: np.ndarray, stuck: set, drop: set,
              keep: set = frozenset()) -> set:
    """For each matrix and side (rows or columns) where ``stuck`` withholds the first
    total (none in ``drop`` yet) and only one, a second total of that side, the smallest
    (then the first unit): the sum of every row total is the sum of every column total,
    so one line total withheld alone is still the grand total minus the other lines."""
    tot = pd.DataFrame({"m": table[C.LEVEL].astype(str), "l": table[OD_CELL].astype(str),
                        "u": table[C.UNIT_ID].astype(str),
                        "raw": table[C.RAW_COUNT].to_numpy()})[
        frozen & ~table[C.IS_SUPPRESSED].to_numpy(bool)]  # a hidden total is no partner
    tot["side"] = tot["u"].str.split(":", n=1).str[0]
    out: set = set()
    groups = {(m, lab, u.split(":", 1)[0]) for m, lab, u in stuck}
    for m, lab, side in sorted(groups):
        mine = {k for k in stuck | drop if (k[0], k[1], k[2].split(":", 1)[0]) == (m, lab,
                                                                                  side)}
        if len(mine) > 1:
            continue
        cand = tot[(tot["m"] == m) & (tot["l"] == lab) & (tot["side"] == side)
                   & ~tot["u"].isin([k[2] for k in mine])
                   & ~tot["u"].isin([k[2] for k in keep if k[:2] == (m, lab)])
                   ].sort_values(["raw", "u"])
        if len(cand):
            out.add((m, lab, cand["u"].iloc[0]))
    return out


def od_audited_mask(pdf: pd.DataFrame, k_min: int, width: float, complementary: bool,
                    suppress_zeros: bool, rows: Sequence[str], cols: Sequence[str],
                    partition: Sequence[str] = (C.LEVEL,), label: str | None = None,
                    pairs: bool = True, max_rounds: int = 10,
                    withheld: str | None = None, withheld_rows: str | None = None,
                    withhold: bool = True, fixed: np.ndarray | None = None,
                    keep_rows: np.ndarray | None = None,
                    keep_cols: np.ndarray | None = None, whole_rows: Sequence[str] = (),
                    secret_cols: str | None = None, secret_rows: str | None = None,
                    opened: frozenset = frozenset(), openable: np.ndarray | None = None
                    ) -> tuple[np.ndarray, Audit, np.ndarray, np.ndarray]:
    """The interval audit of an origin-destination release (:func:`od_release_table`)
    from its own rule's mask (``is_suppressed``) and the true ``raw_count``, repeated
    until no suppressed cell is narrower than ``width``: a cell whose interval is pinned
    only by public totals over hidden cells (its row or column is hidden already under
    a total too small for it: nothing left to hide) gets those totals withheld (with
    ``withhold``; they leave the relations); else one round of audited complements
    (:func:`audited_suppression_mask`: the cheapest published cell among the relations
    that bind it); with ``pairs`` (labelled breakdowns: a pair is hidden in every label)
    a hidden cell hides its whole pair. Stops when the audit passes, nothing can be
    hidden or withheld, or after ``privacy_audit.OD_BUDGET_S`` seconds of rounds (the
    final audit then decides the gate). Without ``withhold``, complements only (each
    relation it is in, :func:`audited_suppression_mask`'s fallback), ``max_rounds``
    passes of the pairs rule. Returns the mask of ``pdf``'s rows, the audit (of the
    final release: cells hidden, totals withheld) and, per row of ``pdf``, whether its
    row total and its column total are withheld by the audit (beside ``withheld`` /
    ``withheld_rows``, the rule's own). ``fixed``: cells of ``pdf`` that keep their
    state and are never complements (published or hidden in another release: commute_od's
    same-unit pairs are jobs_housing's live_and_work); ``keep_rows``: cells whose row
    total another release publishes (commute_od's: jobs_housing's employed residents),
    so it is never withheld (the audit fails instead when only that would protect);
    ``keep_cols``: the same for column totals (linkage's: commute's inbound commuters -
    jobs_housing's live_and_work); ``whole_rows``, ``secret_cols``, ``secret_rows``: see
    :func:`od_release_table` (a whole line's total withheld flags every part's row; with
    ``keep_rows`` on a line split in parts only its whole total is kept: the parts are
    no other release's counts and may be withheld).

    A cell pinned by a total that ``keep_rows`` / ``keep_cols`` keep, with every other
    cell of its line hidden already (nothing left to hide nor to withhold: e.g. an origin
    of 15 employed residents, published by jobs_housing, whose 15 commuters go to five
    destinations, all hidden: each is 1..11 because zeros are published), gets its line
    *opened* (one row and one column side only): the release lists the line's zero pairs
    (to / from every other unit of the matrix with a pair there) as suppressed too, so a
    reader cannot tell its hidden pairs from zeros, and the audit gives them a lower
    bound of 0 (:func:`audit`'s ``unknown_zero``; not a ``fixed`` cell, whose zero
    another release publishes, unless ``openable``); the audit is then run again on the
    padded table (``opened``: the lines opened so far; ``openable``: where given, only a
    row whose every cell is true may be opened, no column: linkage's commuters pairs keep
    commute_od's state, and commute_od opens rows only, so a row of them stuck under the
    same kept total is one commute_od opened; a stuck kept whole line opens every part).
    The rows added are ``Audit.padded`` (the keys of ``pdf``'s columns, ``raw_count``
    0); the masks returned cover ``pdf`` and then them."""
    t0 = time.perf_counter()
    n = len(pdf)
    drop: set = set()
    tkw = {"whole_rows": whole_rows, "secret_cols": secret_cols, "secret_rows": secret_rows}
    table, sums, frozen = od_release_table(pdf, rows, cols, partition, label, withheld,
                                           k_min, withheld_rows, **tkw)
    fix = np.zeros(n, bool) if fixed is None else np.asarray(fixed, bool)
    wkey = (pdf[list(whole_rows)].astype(object).where(pdf[list(whole_rows)].notna(), "")
            .astype(str).agg("\x1f".join, axis=1).to_numpy() if whole_rows else None)
    lab0 = pdf[label].astype(str).to_numpy() if label else np.full(n, "")
    ends = table.iloc[:n][C.UNIT_ID].astype(str).str.split(">", n=1)
    lv0 = table.iloc[:n][C.LEVEL].astype(str).to_numpy()
    uz_cells = np.fromiter(
        ((lv, lb, "row:" + e[0]) in opened or (lv, lb, "col:" + e[1]) in opened
         for lv, lb, e in zip(lv0, lab0, ends, strict=True)), bool, count=n)
    # a fixed cell's zero or not is another release's (commute_od's same-unit pair is
    # jobs_housing's live_and_work, zeros published there): it keeps its lower bound,
    # unless ``openable`` says that release opened it too (linkage's pairs of commute_od)
    uz_cells &= ~(fix if openable is None else fix & ~np.asarray(openable, bool))

    def _uz(tab: pd.DataFrame) -> np.ndarray | None:
        return np.r_[uz_cells, np.zeros(len(tab) - n, bool)] if opened else None
    keep: set = set()
    if keep_rows is not None:
        c0 = table.iloc[:n]
        # a line split in parts (whole_rows): another release publishes the whole line,
        # not its parts (each part total may be withheld; the whole: "whole:<line>")
        split: set = set()
        if wkey is not None:
            parts = pd.DataFrame({"m": lv0, "lb": lab0, "w": wkey,
                                  "p": [e[0] for e in ends]})
            many = parts.groupby(["m", "lb", "w"])["p"].nunique()
            split = set(many.index[many > 1])
        keep = {(lv, lb, "row:" + u.split(">", 1)[0]) for lv, lb, u, k, w in zip(
            c0[C.LEVEL].astype(str), lab0, c0[C.UNIT_ID].astype(str),
            np.asarray(keep_rows, bool),
            wkey if wkey is not None else np.full(n, ""), strict=True)
            if k and (lv, lb, w) not in split}
        if wkey is not None:
            keep |= {(lv, lb, "whole:" + w) for lv, lb, w, k in zip(
                c0[C.LEVEL].astype(str), lab0, wkey, np.asarray(keep_rows, bool),
                strict=True) if k}
    if keep_cols is not None:
        c0 = table.iloc[:n]
        keep |= {(lv, lb, "col:" + u.split(">", 1)[1]) for lv, lb, u, k in zip(
            c0[C.LEVEL].astype(str), lab0, c0[C.UNIT_ID].astype(str),
            np.asarray(keep_cols, bool), strict=True) if k}

    def _frozen(fr: np.ndarray) -> np.ndarray:
        return fr | np.r_[fix, np.zeros(len(fr) - n, bool)]
    forced = table[C.IS_SUPPRESSED].to_numpy(bool)
    kw = dict(identities=(), additive=(), by=OD_CELL, sums=sums, regroup=False)
    n_prog = rounds = 0
    if not withhold:
        pair = (table[C.LEVEL].astype(str) + "\x1f" + table[C.UNIT_ID].astype(str)
                ).to_numpy()
        for _ in range(max_rounds):
            mask, result = audited_suppression_mask(
                table, k_min, width, complementary, suppress_zeros, forced=forced,
                frozen=_frozen(frozen), budget_s=OD_BUDGET_S, **kw)
            if not pairs or label is None:
                break
            whole = np.isin(pair, pair[mask & ~frozen]) & ~frozen
            if (whole == mask).all():
                break
            forced = whole | mask
        return mask[:n], result, np.zeros(n, bool), np.zeros(n, bool)
    pair = (table[C.LEVEL].astype(str) + "\x1f" + table[C.UNIT_ID].astype(str)
            ).to_numpy()[:n]
    start = forced[:n].copy()
    cache: dict = {}
    while True:
        system = relations(table, (), (), OD_CELL, (), sums)
        result = audit(table, forced, width, suppress_zeros=suppress_zeros, system=system,
                       identities=(), additive=(), by=OD_CELL, cache=cache,
                       unknown_zero=_uz(table))
        n_prog += result.n_programs
        if result.passed or not complementary or time.perf_counter() - t0 > OD_BUDGET_S:
            break
        stuck = {t for t in _stuck_totals(table, _frozen(frozen), system, result)
                 if t[2].startswith(("row:", "col:", "whole:"))} - drop - keep
        stuck |= _partners(table, frozen, stuck, drop, keep)
        if stuck:
            drop |= stuck
            table, sums, frozen = od_release_table(pdf, rows, cols, partition, label,
                                                   withheld, k_min, withheld_rows,
                                                   frozenset(drop), **tkw)
            forced = np.r_[forced[:n], table[C.IS_SUPPRESSED].to_numpy(bool)[n:]]
            kw["sums"] = sums
            cache = {}
            continue
        mask, one = audited_suppression_mask(
            table, k_min, width, complementary, suppress_zeros, max_rounds=1,
            forced=forced, frozen=_frozen(frozen), fallback=False,
            unknown_zero=_uz(table), **kw)
        n_prog += one.n_programs
        rounds += 1
        if pairs and label is not None:
            mask[:n] = np.isin(pair, pair[mask[:n]])
        if (mask == forced).all():
            break  # nothing left to hide nor to withhold: open a kept line, or fail
        forced = mask
    lines: set = set()
    if (not result.passed and complementary
            and time.perf_counter() - t0 <= OD_BUDGET_S):
        stuck = _stuck_totals(table, _frozen(frozen), system, result) & keep
        lines = {t for t in stuck if t[2].startswith(("row:", "col:"))} - set(opened)
        if wkey is not None:  # a kept whole line stuck: every part of it is opened
            whole = {t for t in stuck if t[2].startswith("whole:")}
            lines |= {(lv0[i], lab0[i], "row:" + ends.iloc[i][0]) for i in range(n)
                      if (lv0[i], lab0[i], "whole:" + wkey[i]) in whole} - set(opened)
    if lines and openable is not None:  # rows only: the other release opens no column
        no = np.flatnonzero(~np.asarray(openable, bool))
        lines = {t for t in lines if t[2].startswith("row:")} - {
            (lv0[i], lab0[i], "row:" + ends.iloc[i][0]) for i in no}
    if lines:  # a line listed whole already needs no zero pair: its cells get lb 0
        pad, lines = od_zero_pairs(pdf, lines, rows, cols, partition, label)
    if lines:
        ext = np.zeros(len(pad), bool)
        mask, inner, row_out, col_out = od_audited_mask(
            pd.concat([pdf, pad], ignore_index=True), k_min, width, complementary,
            suppress_zeros, rows, cols, partition, label, pairs, max_rounds, withheld,
            withheld_rows, withhold, np.r_[fix, ext],
            None if keep_rows is None else np.r_[np.asarray(keep_rows, bool), ext],
            None if keep_cols is None else np.r_[np.asarray(keep_cols, bool), ext],
            whole_rows, secret_cols, secret_rows, frozenset(opened) | lines,
            None if openable is None else np.r_[np.asarray(openable, bool), ~ext])
        inner.padded = pd.concat([pad, *([inner.padded] if inner.padded is not None
                                         else [])], ignore_index=True)
        inner.n_programs += n_prog
        inner.seconds = time.perf_counter() - t0
        return mask, inner, row_out, col_out
    result.withheld = len(drop)
    result.added = int(forced[:n].sum() - start.sum())
    result.rounds = rounds
    result.n_programs = n_prog
    result.seconds = time.perf_counter() - t0
    lab = pdf[label].astype(str).to_numpy() if label else np.full(n, "")
    cells = table.iloc[:n]
    rkey = [(lv, lb, "row:" + u.split(">", 1)[0]) for lv, lb, u in zip(
        cells[C.LEVEL].astype(str), lab, cells[C.UNIT_ID].astype(str), strict=True)]
    ckey = [(lv, lb, "col:" + u.split(">", 1)[1]) for lv, lb, u in zip(
        cells[C.LEVEL].astype(str), lab, cells[C.UNIT_ID].astype(str), strict=True)]
    row_out = np.fromiter((k in drop for k in rkey), bool, count=n)
    if wkey is not None:
        row_out |= np.fromiter(((lv, lb, "whole:" + w) in drop for lv, lb, w in zip(
            cells[C.LEVEL].astype(str), lab, wkey, strict=True)), bool, count=n)
    col_out = np.fromiter((k in drop for k in ckey), bool, count=n)
    return forced[:n].copy(), result, row_out, col_out


def od_zero_pairs(pdf: pd.DataFrame, lines: set, rows: Sequence[str],
                  cols: Sequence[str], partition: Sequence[str] = (C.LEVEL,),
                  label: str | None = None) -> tuple[pd.DataFrame, set]:
    """The zero pairs of the ``lines`` to open in an OD release (:func:`od_audited_mask`;
    keys (matrix, label, ``row:<row>`` / ``col:<column>``)) as rows of ``pdf``, and the
    lines that can be opened: for a row, a pair to every other unit that is a column of
    the matrix (label) and not a pair of the row yet (the same-unit pair left out; a row
    key of several columns, e.g. linkage's origin and ``_dest_in_metro``: among the
    columns of the rows that share its other parts), likewise for a column;
    ``raw_count`` 0, ``is_suppressed`` true, the other boolean columns false. A line is
    padded when the other side's key is one column (a row of linkage's split rows, origin
    and part, too: its zero pairs to the columns of its part); a line of a many-column
    other side that is not listed whole already is not opened."""
    def key(names) -> pd.Series:
        if not names:
            return pd.Series("", index=pdf.index)
        frame = pdf[list(names)].astype(object).where(pdf[list(names)].notna(), "")
        return frame.astype(str).agg("\x1f".join, axis=1)

    mat, rk, ck = key(partition), key(rows), key(cols)
    lab = pdf[label].astype(str) if label else pd.Series("", index=pdf.index)
    out, ok = [], set()
    for m, lb, unit in sorted(lines):
        side, node = unit.split(":", 1)
        if side not in ("row", "col"):
            continue
        mine_n, other_n = (rows, cols) if side == "row" else (cols, rows)
        mine, other = (rk, ck) if side == "row" else (ck, rk)
        here = (mat == m) & (lab == lb)
        line = here & (mine == node)
        if not line.any():
            continue
        if len(mine_n) > 1:
            part = key(mine_n[1:])
            here &= part == part[line].iloc[0]
        me = str(pdf.loc[line, mine_n[0]].iloc[0])
        cand = pdf[here].assign(_o=other[here]).drop_duplicates("_o")
        cand = cand[~cand["_o"].isin(set(other[line]))
                    & (cand[other_n[0]].astype(str) != me)].drop(columns="_o")
        if len(cand) and len(other_n) > 1:
            continue  # candidates of a line are listed by one-column keys only
        ok.add((m, lb, unit))
        if len(cand):
            cand = cand.copy()
            for c in mine_n:
                cand[c] = pdf.loc[line, c].iloc[0]
            out.append(cand)
    if not out:
        return pdf.iloc[:0].copy(), ok
    named = [*partition, *([label] if label else []), *rows, *cols]
    pad = pd.concat(out, ignore_index=True).drop_duplicates(named)
    for c in pad.columns:  # flags (nullable ones arrive as objects): false
        if c not in (*named, C.IS_SUPPRESSED) and pdf[c].dropna().map(
                lambda v: isinstance(v, bool | np.bool_)).all():
            pad[c] = False
    pad[C.RAW_COUNT] = 0
    pad[C.IS_SUPPRESSED] = True
    return pad.reset_index(drop=True), ok


def with_od_audit(sup, true_col: str, k_min: int, width: float, complementary: bool,
                  suppress_zeros: bool, rows: Sequence[str], cols: Sequence[str],
                  partition: Sequence[str] = (C.LEVEL,), label: str | None = None,
                  extra_counts: Sequence[str] = (), on_audit=None,
                  withheld: str | None = None, repair: bool = True,
                  withheld_rows: str | None = None, fixed: str | None = None,
                  keep_rows: str | None = None, keep_cols: str | None = None,
                  whole_rows: Sequence[str] = (), secret_cols: str | None = None,
                  secret_rows: str | None = None, openable: str | bool | None = None):
    """:func:`od_audited_mask` on a suppressed Spark OD table that carries its true raw
    counts in ``true_col`` (dropped from the result): the keys, flags and counts go to
    the driver (one row per cell), the further hidden cells come back
    (:func:`hide_more`), with two boolean columns :data:`ROW_WITHHELD` and
    :data:`COL_WITHHELD`: the cell's row / column total (of its matrix and label) is
    withheld by the audit and must not be published (nor derived) anywhere; ``on_audit``
    is called with the audit. ``repair`` false: the table's own mask is audited once and
    the audit reported, not gated (:func:`od_rule_audit`, :func:`reported_only`);
    nothing more is hidden nor withheld (both columns false). ``fixed`` / ``keep_rows`` /
    ``keep_cols``:
    boolean columns passed to :func:`od_audited_mask` (cells that keep their state, rows
    whose total is never withheld), as is ``openable`` (lines it may open; False: none,
    None: any); the zero
    pairs of a line it opens are added as suppressed rows (:func:`with_zero_pairs`);
    ``whole_rows``, ``secret_cols``, ``secret_rows``: see :func:`od_release_table`."""
    from pyspark.sql import functions as F

    if not repair:
        result = od_rule_audit(sup, true_col, width, suppress_zeros, rows, cols, partition,
                               label, k_min, withheld, withheld_rows, whole_rows,
                               secret_cols, secret_rows)
        if on_audit is not None:
            on_audit(reported_only(result))
        return sup.drop(true_col).withColumns({ROW_WITHHELD: F.lit(False),
                                               COL_WITHHELD: F.lit(False)})
    keys = list(dict.fromkeys([*partition, *rows, *cols, *([label] if label else [])]))
    flags = list(dict.fromkeys(x for x in (withheld, withheld_rows, fixed, keep_rows,
                                            keep_cols, secret_cols, secret_rows, openable)
                               if isinstance(x, str)))
    pdf = sup.select(*keys, true_col, C.IS_SUPPRESSED, *flags
                     ).toPandas().rename(columns={true_col: C.RAW_COUNT})
    mask, result, row_out, col_out = od_audited_mask(
        pdf, k_min, width, complementary, suppress_zeros, rows, cols, partition, label,
        withheld=withheld, withheld_rows=withheld_rows,
        fixed=pdf[fixed].eq(True).to_numpy() if fixed else None,
        keep_rows=pdf[keep_rows].eq(True).to_numpy() if keep_rows else None,
        keep_cols=pdf[keep_cols].eq(True).to_numpy() if keep_cols else None,
        whole_rows=whole_rows, secret_cols=secret_cols, secret_rows=secret_rows,
        openable=(pdf[openable].eq(True).to_numpy() if isinstance(openable, str)
                  else None if openable is None else np.zeros(len(pdf), bool)))
    if on_audit is not None:
        on_audit(result)
    counts = (C.RAW_COUNT, C.EXPANDED_COUNT, *extra_counts)
    if result.padded is not None and len(result.padded):
        pdf = pd.concat([pdf, result.padded], ignore_index=True)
    more = pdf[mask & ~pdf[C.IS_SUPPRESSED].to_numpy(bool)]
    out = hide_more(sup, more, keys, counts)
    if result.padded is not None and len(result.padded):
        out = with_zero_pairs(out, result.padded, keys, rows[0], cols[0], (*counts, true_col))
    return with_flags(out, pdf[keys].assign(**{ROW_WITHHELD: row_out,
                                               COL_WITHHELD: col_out}), keys,
                      (ROW_WITHHELD, COL_WITHHELD)).drop(true_col)


def with_zero_pairs(df, pad: pd.DataFrame, keys: Sequence[str], row: str, col: str,
                    counts: Sequence[str]):
    """``df`` (an OD release, one row per ``keys``) with the zero pairs ``pad`` (its
    ``keys``; :func:`od_zero_pairs`) as suppressed rows: ``counts`` null,
    ``is_suppressed`` true, the other boolean columns false, the row side's descriptive
    columns (``row``'s prefix, e.g. ``origin_``) from a row of the same row unit and
    matrix, the column side's likewise, any other column from a row of the matrix."""
    from pyspark.sql import functions as F

    types = dict(df.dtypes)
    part = [k for k in keys if k not in (row, col)]
    sides = {row: [c for c in df.columns if c.startswith(row.removesuffix("id"))
                   and c not in keys],
             col: [c for c in df.columns if c.startswith(col.removesuffix("id"))
                   and c not in keys]}
    rest = [c for c in df.columns if c not in keys and c not in counts
            and c != C.IS_SUPPRESSED and types[c] != "boolean"
            and c not in sides[row] + sides[col]]
    local = pd.DataFrame({k: pad[k].astype(str).tolist() for k in keys})
    out = df.sparkSession.createDataFrame(local, ", ".join(f"`{k}` string" for k in keys))
    for on, cols in ((part + [row], sides[row]), (part + [col], sides[col]), (part, rest)):
        if not cols:
            continue
        if not on:
            out = out.crossJoin(F.broadcast(df.select(*cols).limit(1)))
            continue
        info = df.groupBy(*[F.col(k).cast("string").alias(k) for k in on]).agg(
            *[F.first(c, ignorenulls=True).alias(c) for c in cols])
        out = out.join(F.broadcast(info), on, how="left")
    rows = out.select(*[F.col(c).cast(types[c]).alias(c) if c in keys else
                        F.lit(None).cast(types[c]).alias(c) if c in counts else
                        F.lit(True).alias(c) if c == C.IS_SUPPRESSED else
                        F.lit(False).alias(c) if types[c] == "boolean" else F.col(c)
                        for c in df.columns])
    return df.unionByName(rows)


def with_flags(df, flags: pd.DataFrame, keys: Sequence[str], names: Sequence[str]):
    """``df`` with the boolean columns ``names`` of ``flags`` (one row per ``keys``, a
    pandas frame; only its true rows are sent) joined on ``keys`` (as strings, null-safe;
    false where ``flags`` has no true row)."""
    from pyspark.sql import functions as F

    true = flags[flags[list(names)].any(axis=1)]
    if not len(true):
        return df.withColumns({x: F.lit(False) for x in names})
    local = pd.DataFrame({f"_k_{k}": [None if v is None or (not isinstance(v, str)
                                                            and pd.isna(v)) else
                                      ("true" if v is True else "false" if v is False
                                       else str(v)) for v in true[k].tolist()]
                          for k in keys})
    for x in names:
        local[f"_f_{x}"] = true[x].to_numpy(bool)
    spark = df.sparkSession
    schema = ", ".join([f"`_k_{k}` string" for k in keys]
                       + [f"`_f_{x}` boolean" for x in names])
    small = spark.createDataFrame(local, schema)
    cond = [F.col(k).cast("string").eqNullSafe(F.col(f"_k_{k}")) for k in keys]
    joined = df.join(F.broadcast(small), cond, how="left")
    return joined.select(*df.columns, *[F.coalesce(F.col(f"_f_{x}"), F.lit(False)).alias(x)
                                        for x in names])


OD_PAD_MAX = 40_000  # unlisted pairs of one OD level a joint audit takes as unknowns


def od_unlisted(solved: Solved, ends: pd.DataFrame, parents: pd.DataFrame,
                pad_max: int = OD_PAD_MAX, blocks: bool = True) -> tuple[Solved, list[str]]:
    """An OD release's audited system (``solved``, of :func:`od_release_table`'s table:
    pairs ``<o>><d>`` and line totals ``row:<o>`` / ``col:<d>``, one matrix per
    ``level``) as a reader of an export that lists no hidden pair sees it, with the
    relations between its levels (issue 17: a county pair is the sum of its township
    pairs). The release's own audit takes a pair it does not hold as a known zero (true
    while every hidden pair was listed); in such an export a pair not listed may be
    hidden, so each one is an unknown >= 0 in its row and column totals. With them (and
    ``blocks``), the pairs of a parent level are tied to their children's (``block``
    relations, kept where they hold in the true counts, else the inequality that holds;
    the unlisted pairs are the same with or without them). ``ends``:
    ``level``, ``unit_id``, ``origin`` / ``dest`` (true: the unit has commuters out /
    in, so its pairs may be non-zero; the others' are known zeros: their published
    total is 0, or the audit stays stricter); ``parents``: ``level``, ``unit_id``,
    ``parent_level``, ``parent_id``: a level whose every unit lies in a unit of another
    level of the matrix is that level's child. Only levels in such a relation get their
    unlisted pairs (hidden, lower bound 0, ``exempt``: a zero reveals nobody; they are
    not solved, :func:`audit`), each at most ``pad_max`` of them (a larger level keeps
    its unlisted pairs as known zeros, stricter than the reader, and keeps its block
    relations: returned). A table with labels or whole lines is returned as it is."""
    k = solved.keys
    uid = k[C.UNIT_ID].astype(str)
    total = uid.str.startswith(("row:", "col:", "whole:"))
    pair = uid.str.contains(">", regex=False) & ~total
    levels = set(k[C.LEVEL].astype(str))
    if uid.str.startswith("whole:").any() or (k["cell"].astype(str) != "").any():
        return solved, []
    par = parents[parents[C.LEVEL].astype(str).isin(levels)
                  & parents["parent_level"].astype(str).isin(levels)]
    units = ends.groupby(C.LEVEL)[C.UNIT_ID].nunique()
    kids = par.groupby([C.LEVEL, "parent_level"])[C.UNIT_ID].nunique().reset_index()
    link = [(c, p) for c, p, n in kids.itertuples(index=False)
            if c != p and n == units.get(c, -1)]
    listed = set(zip(k.loc[pair, C.LEVEL].astype(str), uid[pair], strict=True))
    pads, left = [], []
    for lv in sorted({x for cp in link for x in cp}):
        e = ends[ends[C.LEVEL].astype(str) == lv]
        o = e.loc[e["origin"].astype(bool), C.UNIT_ID].astype(str).to_numpy()
        d = e.loc[e["dest"].astype(bool), C.UNIT_ID].astype(str).to_numpy()
        mine = {u for m, u in listed if m == lv}
        if len(o) * len(d) - len(mine) > pad_max:  # (before building the names)
            left.append(lv)
            continue
        names = pd.Series(np.repeat(o, len(d))) + ">" + np.tile(d, len(o))
        names = names[~names.isin(mine)]
        if len(names) > pad_max:
            left.append(lv)
            continue
        pads.append(pd.DataFrame({C.LEVEL: lv, C.UNIT_ID: names.to_numpy(), "cell": "",
                                  C.RAW_COUNT: 0.0}))
    pad = pd.concat(pads, ignore_index=True) if pads else k.iloc[:0][[
        C.LEVEL, C.UNIT_ID, "cell", C.RAW_COUNT]]
    n0, n = len(k), len(k) + len(pad)
    keys = pd.concat([k, pad], ignore_index=True)
    raw = keys[C.RAW_COUNT].to_numpy(float)
    sys0 = solved.system
    # the padded pairs join their line totals' equations (od_release_table's names)
    row_of = {t: i for i, t in enumerate(sys0.eq_text)}
    ends_p = pad[C.UNIT_ID].str.split(">", n=1)
    extra = []
    for side, node in (("row", ends_p.str[0]), ("col", ends_p.str[1])):
        r = (side + " " + pad[C.LEVEL] + "  " + node + " (=)").map(row_of)
        ok = r.notna().to_numpy()
        extra.append((r[ok].to_numpy(np.int64), n0 + np.flatnonzero(ok),
                      -np.ones(int(ok.sum()))))
    c0 = sys0.eq.tocoo()
    eq = [(c0.row, c0.col, c0.data), *extra]
    ub = [tuple(getattr(sys0.ub.tocoo(), a) for a in ("row", "col", "data"))]
    eq_text, ub_text = list(sys0.eq_text), list(sys0.ub_text)
    # block relations: a parent level's pair = the sum of its children's pairs
    up = par.set_index([par[C.LEVEL].astype(str), par[C.UNIT_ID].astype(str)])["parent_id"]
    kp = keys[keys[C.UNIT_ID].str.contains(">", regex=False)
              & ~keys[C.UNIT_ID].str.startswith(("row:", "col:", "whole:"))]
    terms = []
    for c, p in (link if blocks else []):
        ch = kp[kp[C.LEVEL] == c]
        e2 = ch[C.UNIT_ID].str.split(">", n=1)
        po = up.reindex(pd.MultiIndex.from_arrays([ch[C.LEVEL], e2.str[0]])).to_numpy()
        pdn = up.reindex(pd.MultiIndex.from_arrays([ch[C.LEVEL], e2.str[1]])).to_numpy()
        known = pd.notna(po) & pd.notna(pdn)
        rel = ("block " + p + " " + pd.Series(po[known], dtype=str) + ">"
               + pd.Series(pdn[known], dtype=str) + " of " + c)
        terms.append(pd.DataFrame({"rel": rel.to_numpy(), "i": ch.index.to_numpy()[known],
                                   "coef": -1.0}))
        pp = kp[kp[C.LEVEL] == p]
        terms.append(pd.DataFrame({"rel": ("block " + p + " " + pp[C.UNIT_ID] + " of "
                                           + c).to_numpy(), "i": pp.index.to_numpy(),
                                   "coef": 1.0}))
    if terms:
        t = pd.concat(terms, ignore_index=True)
        for kind, rows, cols, vals, texts in linear_rows(
                t["rel"].to_numpy(), t["i"].to_numpy(), t["coef"].to_numpy(float), raw):
            (eq if kind == "eq" else ub).append(
                (rows + len(eq_text if kind == "eq" else ub_text), cols, vals))
            (eq_text if kind == "eq" else ub_text).extend(texts)
    system = System(_rows(eq, len(eq_text), n), _rows(ub, len(ub_text), n), eq_text,
                    ub_text, np.r_[sys0.parent, np.full(n - n0, -1, dtype=np.int64)])
    ones = np.ones(n - n0, bool)
    return Solved(keys, system, np.r_[solved.hidden, ones],
                  np.r_[solved.zero_unknown, ones], np.r_[solved.exempt, ones]), left


def od_rule_audit(sup, true_col: str, width: float, suppress_zeros: bool,
                  rows: Sequence[str], cols: Sequence[str],
                  partition: Sequence[str] = (C.LEVEL,), label: str | None = None,
                  k_min: int = 0, withheld: str | None = None,
                  withheld_rows: str | None = None, whole_rows: Sequence[str] = (),
                  secret_cols: str | None = None, secret_rows: str | None = None) -> Audit:
    """The interval audit of a suppressed Spark OD table as its own rule left it (no
    complement added): the relations of :func:`od_release_table` (row and column totals
    public but those it withholds), every cell the rule hid audited once. ``true_col``:
    the true raw counts."""
    keys = list(dict.fromkeys([*partition, *rows, *cols, *([label] if label else [])]))
    flags = [x for x in (withheld, withheld_rows, secret_cols, secret_rows) if x]
    pdf = sup.select(*keys, true_col, C.IS_SUPPRESSED, *flags
                     ).toPandas().rename(columns={true_col: C.RAW_COUNT})
    table, sums, _frozen = od_release_table(pdf, rows, cols, partition, label, withheld,
                                            k_min, withheld_rows, whole_rows=whole_rows,
                                            secret_cols=secret_cols,
                                            secret_rows=secret_rows)
    return audit(table, table[C.IS_SUPPRESSED].to_numpy(bool), width,
                 suppress_zeros=suppress_zeros, identities=(), additive=(), by=OD_CELL,
                 sums=sums)


def reported_only(result: Audit) -> Audit:
    """An :class:`Audit` for :func:`gate` that gates nothing and reports ``result``
    (``Audit.reported``: run facts and a warning naming the cells); its seconds are
    ``result``'s."""
    out = combine({}, result.width)
    out.reported = result
    out.seconds = result.seconds
    out.n_programs = result.n_programs
    return out
