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
wide). A cell is protected when max - min >= the protection width
(``privacy.protection_width``, default ``privacy.k_min``).

**The rule** (:func:`audited_suppression_mask`): the complementary rule, then repeatedly
audit and, for each under-protected cell, hide the cheapest published cell (non-zero
first, then the smallest raw count, ties as in :func:`mobsig.privacy.suppression_mask`)
among the relations that bound it (non-zero duals of its two programmes); when those hold
no published cell, among every relation it is in; when none is left, its parent cell (the
group total). One complement per relation and round, then the group rule again with the
new cells as primary ones (no sibling group or identity keeps a lone hidden cell, also
where the group total is published outside the table); repeated until the audit passes
or nothing can be added (the audit then fails, naming the cells). The result does not depend
on the order of the rows (the table is put in its canonical order first).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence

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


def relations(pdf: pd.DataFrame, identities: Identities = IDENTITIES,
              additive: Sequence[str] = ADDITIVE, by: str = C.POP_CLASS) -> System:
    """The relations a reader can use on ``pdf`` (see the module doc), built vectorised.

    ``pdf``: ``level``, ``unit_id``, ``parent_id``, ``by``, ``raw_count`` (true counts),
    one row per cell, in any order (row i of the matrices is cell i)."""
    n = len(pdf)
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
class Audit:
    """The audit of one release. ``cells``: one row per suppressed cell (``level``,
    ``unit_id``, the breakdown, ``raw_count`` (true), ``lo``, ``hi`` (the least and the
    greatest value a reader can hold; ``hi`` inf when unbounded), ``width`` = hi - lo,
    ``exact`` (both bounds solved; else the width is a lower bound), ``protected`` (width
    >= the protection width)), ``pos``: their row positions in the audited table."""

    cells: pd.DataFrame
    width: float
    n_programs: int
    seconds: float
    components: int
    binding: dict[int, set[int]] = dataclasses.field(default_factory=dict, repr=False)
    added: int = 0  # complements the audit added to the group rule's (the rule's result)
    rounds: int = 0
    by: str = C.POP_CLASS  # the breakdown column of ``cells``

    @property
    def passed(self) -> bool:
        return bool(self.cells[PROTECTED].all())

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def min_width(self) -> float:
        """The narrowest interval (inf without suppressed cells or when all unbounded)."""
        return float(self.cells[WIDTH].min()) if len(self.cells) else float("inf")

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
        if engine == "highs":
            try:
                from scipy.optimize._highspy import _core
            except ImportError:  # pragma: no cover - another scipy: the public API
                _core = None
            if _core is not None:
                self._core = _core
                m = self.a.shape[0]
                lp = _core.HighsLp()
                lp.num_col_, lp.num_row_ = self.n, m
                lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, m
                lp.a_matrix_.format_ = _core.MatrixFormat.kColwise
                lp.col_cost_ = np.zeros(self.n)
                lp.col_lower_ = self.lb
                lp.col_upper_ = np.full(self.n, np.inf)
                lp.row_lower_, lp.row_upper_ = self.lo_row, self.hi_row
                lp.a_matrix_.start_ = self.a.indptr.astype(np.int32)
                lp.a_matrix_.index_ = self.a.indices.astype(np.int32)
                lp.a_matrix_.value_ = self.a.data
                h = _core._Highs()
                h.setOptionValue("output_flag", False)
                h.passModel(lp)
                self.h = h
                self.cols = np.arange(self.n, dtype=np.int32)

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

    def _highs(self, c, mip):
        h, core = self.h, self._core
        h.changeColsCost(self.n, self.cols, c)
        if mip:
            kinds = [core.HighsVarType.kInteger] * self.n
            h.changeColsIntegrality(self.n, self.cols, np.array(kinds))
        h.run()
        status = h.getModelStatus()
        if mip:
            h.changeColsIntegrality(self.n, self.cols,
                                    np.array([core.HighsVarType.kContinuous] * self.n))
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
        eq = self.lo_row == self.hi_row
        a = self.a.tocsr()
        kw = {}
        if eq.any():
            kw.update(A_eq=a[eq], b_eq=self.hi_row[eq])
        if (~eq).any():
            kw.update(A_ub=a[~eq], b_ub=self.hi_row[~eq])
        res = linprog(c, bounds=list(zip(self.lb, [None] * self.n, strict=True)),
                      method="highs", **kw)
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


def _solve_component(a, lo_row, hi_row, lb, truth, width, shortcut, integer, engine
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[set[int]], int]:
    """Bounds of every variable of one component (rows ``lo_row <= a @ x <= hi_row``).
    Returns lo, hi, exact, the binding rows of each variable (local row ids) and the
    number of programmes solved."""
    nv = len(lb)
    lo, hi = np.array(truth, float), np.array(truth, float)  # the true table is feasible
    seen_lo, seen_hi = lo.copy(), hi.copy()
    exact = np.zeros(nv, bool)
    binding: list[set[int]] = [set() for _ in range(nv)]
    if a.shape[0] == 0:  # in no relation: anything from its lower bound up
        return np.asarray(lb, float), np.full(nv, np.inf), np.ones(nv, bool), binding, 0
    prog = _Program(a, lo_row, hi_row, lb, engine)
    n_prog = 0
    for j in range(nv):
        if shortcut and seen_hi[j] - seen_lo[j] >= width:
            lo[j], hi[j] = seen_lo[j], seen_hi[j]
            continue
        out = []
        for sense in (1.0, -1.0):
            val, x, dual = prog.bound(j, sense, integer)
            n_prog += 1
            binding[j].update(dual.tolist())
            if x is not None and _integral(x):
                np.minimum(seen_lo, np.round(x), out=seen_lo)
                np.maximum(seen_hi, np.round(x), out=seen_hi)
            out.append(float(np.round(val)) if integer and np.isfinite(val) else float(val))
        lo[j], hi[j] = out
        exact[j] = True
    return lo, hi, exact, binding, n_prog


def audit(pdf: pd.DataFrame, hidden: np.ndarray, width: float, *,
          suppress_zeros: bool = False, system: System | None = None,
          identities: Identities = IDENTITIES, additive: Sequence[str] = ADDITIVE,
          by: str = C.POP_CLASS, shortcut: bool = True, integer: bool = True,
          cache: dict | None = None, engine: str = "highs") -> Audit:
    """Solve the feasible interval of every hidden cell of ``pdf`` (see the module doc).

    ``pdf``: the unsuppressed table (``level``, ``unit_id``, ``parent_id``, ``by``,
    ``raw_count``); ``hidden``: the mask of suppressed rows; ``width``: the protection
    width; ``system``: :func:`relations` of ``pdf`` (built when None); ``cache``: a dict
    kept between calls on the same table (components already solved are reused);
    ``shortcut``: see the module doc (False: both bounds of every cell are solved)."""
    t0 = time.perf_counter()
    system = system or relations(pdf, identities, additive, by)
    raw = pdf[C.RAW_COUNT].fillna(0).to_numpy(float)
    u, lo, hi, exact, binding, n_prog, n_comp = _bounds(
        raw, np.asarray(hidden, bool), float(width), system, suppress_zeros, shortcut,
        integer, {} if cache is None else cache, engine)
    cells = pd.DataFrame({C.LEVEL: pdf[C.LEVEL].to_numpy()[u],
                          C.UNIT_ID: pdf[C.UNIT_ID].to_numpy()[u],
                          by: pdf[by].to_numpy()[u], C.RAW_COUNT: raw[u].astype(np.int64),
                          LO: lo, HI: hi, WIDTH: hi - lo, EXACT: exact, "pos": u})
    cells[PROTECTED] = cells[WIDTH] >= width
    return Audit(cells, float(width), n_prog, time.perf_counter() - t0, n_comp, binding,
                 by=by)


def _bounds(raw, hidden, width, system, suppress_zeros, shortcut, integer, cache, engine):
    """The intervals of the hidden cells (see :func:`audit`): their positions, lo, hi,
    exact, the binding rows of each (position -> global row ids), programmes solved and
    components."""
    u = np.flatnonzero(hidden)
    k = np.flatnonzero(~hidden)
    lo = np.zeros(len(u))
    hi = np.zeros(len(u))
    exact = np.zeros(len(u), bool)
    binding: dict[int, set[int]] = {}
    n_prog = 0
    n_comp = 0
    if len(u):
        lb = np.where(~suppress_zeros & (raw[u] > 0), 1.0, 0.0)
        rows = system.rows
        n_eq = system.eq.shape[0]
        a_u = rows[:, u].tocsr()
        rhs = -(rows[:, k] @ raw[k])
        touched = np.flatnonzero(np.diff(a_u.indptr) > 0)
        a_u = a_u[touched]
        rhs = rhs[touched]
        pattern = abs(a_u).T @ abs(a_u)
        n_comp, comp = connected_components(pattern, directed=False)
        # the component of each row: of its first unknown; both sorted by component so
        # that each component is one block of the permuted matrix
        row_comp = comp[a_u.indices[a_u.indptr[:-1]]] if len(touched) else np.zeros(0, int)
        v_order = np.argsort(comp, kind="stable")
        r_order = np.argsort(row_comp, kind="stable")
        v_cut = np.searchsorted(comp[v_order], np.arange(n_comp + 1))
        r_cut = np.searchsorted(row_comp[r_order], np.arange(n_comp + 1))
        block = a_u[r_order][:, v_order].tocsr()
        rhs_o, eq_o, rows_o = rhs[r_order], touched[r_order] < n_eq, touched[r_order]
        for c in range(n_comp):
            vars_c = v_order[v_cut[c]:v_cut[c + 1]]
            key = tuple(u[vars_c].tolist())
            if key not in cache:
                r0, r1 = r_cut[c], r_cut[c + 1]
                res = _solve_component(
                    block[r0:r1, v_cut[c]:v_cut[c + 1]], np.where(eq_o[r0:r1], rhs_o[r0:r1],
                                                                  -np.inf),
                    rhs_o[r0:r1], lb[vars_c], raw[u[vars_c]], width, shortcut, integer, engine)
                glob = [{int(rows_o[r0 + b]) for b in s} for s in res[3]]
                cache[key] = (res[0], res[1], res[2], glob, res[4])
                n_prog += res[4]
            clo, chi, cex, cbind, _ = cache[key]
            lo[vars_c], hi[vars_c], exact[vars_c] = clo, chi, cex
            for j, b in zip(vars_c, cbind, strict=True):
                binding[int(u[j])] = b
    return u, lo, hi, exact, binding, n_prog, n_comp


def audited_suppression_mask(pdf: pd.DataFrame, k_min: int, width: float | None = None,
                             complementary: bool = True, suppress_zeros: bool = False,
                             identities: Identities = IDENTITIES,
                             additive: Sequence[str] = ADDITIVE, by: str = C.POP_CLASS,
                             max_rounds: int = 500, shortcut: bool = True,
                             engine: str = "highs") -> tuple[np.ndarray, Audit]:
    """The suppression mask of ``pdf`` (rows in its order) under the rule of the module
    doc, and the audit of the result. ``width``: the protection width (default
    ``k_min``). Without ``complementary`` only primary cells are hidden (and audited)."""
    t0 = time.perf_counter()
    width = float(k_min if width is None else width)
    order = canonical_order(pdf, by)
    tab = pdf.iloc[order].reset_index(drop=True)
    sup = suppression_mask(tab, k_min, complementary, suppress_zeros, identities, by=by)
    system = relations(tab, identities, additive, by)
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
    first = sup.copy()
    n_prog = 0
    rounds = 0
    rawf = raw.astype(float)
    for _ in range(max_rounds if complementary else 0):
        u, lo, hi, _e, binding, n, _c = _bounds(rawf, sup, width, system, suppress_zeros,
                                                shortcut, True, cache, engine)
        n_prog += n
        bad = u[(hi - lo) < width]
        if not len(bad):
            break
        used: set[int] = set()
        picks: set[int] = set()
        for j in bad[np.argsort(rank[bad], kind="stable")]:
            bind = binding.get(int(j), set())
            if bind & used:
                continue
            pick = None
            for group in (bind, set(rows_of_cell[j].tolist())):
                cand = np.unique(np.concatenate([cols_of_row[r] for r in group])) \
                    if group else np.zeros(0, np.int64)
                cand = cand[~sup[cand]]
                if len(cand):
                    pick = int(cand[np.argmin(rank[cand])])
                    break
            if pick is None and system.parent[j] >= 0 and not sup[system.parent[j]]:
                pick = int(system.parent[j])  # nothing left around it: hide the total
            if pick is None:
                continue
            picks.add(pick)
            used |= bind | set(rows_of_cell[pick].tolist())
        if not picks:
            break
        sup[list(picks)] = True
        # the group rule again, the new cells as primary ones: no sibling group or
        # identity is left with one hidden cell (where a group total the table does not
        # hold is public elsewhere, e.g. the layers without a parent)
        sup = suppression_mask(tab, k_min, complementary, suppress_zeros, identities,
                               by=by, forced=sup)
        rounds += 1
    result = audit(tab, sup, width, suppress_zeros=suppress_zeros, system=system,
                   shortcut=shortcut, cache=cache, by=by, engine=engine)
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
                            additive: Sequence[str] = ADDITIVE, by: str = C.POP_CLASS
                            ) -> tuple[pd.DataFrame, Audit]:
    """``pdf`` with ``is_suppressed`` set by :func:`audited_suppression_mask` and the
    counts of suppressed rows nulled, and the audit."""
    mask, result = audited_suppression_mask(pdf, k_min, width, complementary,
                                            suppress_zeros, identities, additive, by)
    out = pdf.copy()
    out[C.IS_SUPPRESSED] = mask
    out[C.RAW_COUNT] = out[C.RAW_COUNT].astype("Int64").mask(mask)
    out[C.EXPANDED_COUNT] = out[C.EXPANDED_COUNT].astype("float64").mask(mask)
    return out, result


def with_audited_suppression(table, k_min: int, width: float | None = None,
                             complementary: bool = True, suppress_zeros: bool = False,
                             identities: Identities = IDENTITIES,
                             additive: Sequence[str] = ADDITIVE, by: str = C.POP_CLASS):
    """:func:`audited_suppression_mask` on a Spark table of every level at once (the
    relations span levels, so the decision needs the whole release): the cell keys and
    raw counts (a few columns, one row per cell) go to the driver through Arrow, the mask
    comes back as a broadcast join. Returns the table with ``is_suppressed`` set and the
    counts of suppressed rows null (the columns of :func:`mobsig.privacy.with_suppression`)
    and the :class:`Audit`."""
    from pyspark.sql import functions as F

    keys = [C.LEVEL, C.UNIT_ID, by]
    base = table.drop(C.IS_SUPPRESSED) if C.IS_SUPPRESSED in table.columns else table
    pdf = base.select(*keys, C.PARENT_ID, C.RAW_COUNT).toPandas()
    mask, result = audited_suppression_mask(pdf, k_min, width, complementary,
                                            suppress_zeros, identities, additive, by)
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
    the audit hid beyond the group rule), ``privacy_audit_s``. A failure raises the
    DataQualityError of :meth:`mobsig.runner.JobContext.check` (exit 6) naming the cells
    and their intervals; nothing is written or exported."""
    ctx.fact("privacy_cells_audited", result.n_cells)
    ctx.fact("privacy_min_width", result.min_width if np.isfinite(result.min_width)
             else None)
    ctx.fact("privacy_complements_added", result.added)
    ctx.fact("privacy_audit_s", round(result.seconds, 3))
    bad = int((~result.cells[PROTECTED]).sum())
    ctx.log.info("privacy audit of %s: %d suppressed cells, narrowest interval %s, %d "
                 "complements added, %d programmes, %.2f s", table, result.n_cells,
                 result.min_width, result.added, result.n_programs, result.seconds)
    ctx.check(SUITE, {"under_protected": bad}, table=table,
              params={"protection_width": result.width},
              explain=lambda: result.failures() + ". The rule found nothing left to hide "
              "around them (a layer or class too small to protect: publish fewer layers, "
              "or a lower privacy.protection_width with privacy.allow_below_floor).")
