"""Which grid each straddling compound moves into: an exact integer programme per community, and
the greedy pass it replaces (kept as the baseline the benchmark compares with).

A compound that is not tiled (see ``tiles``) either moves wholly into one of the grids it overlaps
significantly, or stays where it is (and is listed as unresolved). Moving compound c into grid t
takes c's parts in its other grids of the same community out of them and into t; the households
moved are the households on those parts (the user's figures, located on the land by
``problem.Households``).

Each community is an independent problem (land never crosses a community), solved as a
mixed-integer programme by HiGHS through ``scipy.optimize.milp``:

- ``x[c, t]`` = 1 when c moves into t; ``s[c]`` = 1 when c stays; ``Σ_t x[c, t] + s[c] = 1``;
- ``o[g]`` = 1 when grid g ends outside the household range [MIN, MAX]:
  ``load_g ≤ MAX + M·o[g]`` and ``load_g ≥ MIN − M·o[g]``, with load_g linear in x;
- the community's grids outside the range may not exceed its count before alignment
  (``Σ o[g] + constant ≤ before + slack``);
- minimise, in this order of priority: grids outside the range beyond the count before
  (``slack``: only when the tiles alone exceed it; such communities are redone without them),
  compounds left straddling (``s``, listed with reason ``capacity``), households moved (whole),
  grids outside the range, area moved.

The weights are chosen so that each term outweighs everything after it; the programme is solved
to optimality (``mip_rel_gap = 0``). Problems are small (a community holds a few dozen grids and
a handful of straddling compounds), so HiGHS proves the optimum in milliseconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

log = logging.getLogger(__name__)

#: Seconds HiGHS may spend on one community before its best solution so far is taken.
TIME_LIMIT_S = 20.0


@dataclass
class Moves:
    """The candidate moves of one round.

    Per option (one compound into one grid): ``compound``, ``target`` (label position), ``zone``,
    ``households`` and ``area`` moved (m²), ``share`` (of the compound already in the target,
    for the greedy order). Effects on grid loads: ``eff_option``, ``eff_label``, ``eff_delta``
    (households; labels may include new labels beyond the current ones).
    """

    compound: np.ndarray
    target: np.ndarray
    zone: np.ndarray
    households: np.ndarray
    area: np.ndarray
    share: np.ndarray
    eff_option: np.ndarray
    eff_label: np.ndarray
    eff_delta: np.ndarray
    #: Per option: 0 a move into ``target``; 1 a swap (the compound becomes grid ``target`` and
    #: the rest of that grid joins ``partner``).
    kind: np.ndarray | None = None
    partner: np.ndarray | None = None
    #: Pairs of options that exclude each other (a swap takes both its grids whole).
    conflict_a: np.ndarray | None = None
    conflict_b: np.ndarray | None = None
    #: Per option: a planner's edit (the compound's only option, which the programme must take).
    forced: np.ndarray | None = None


@dataclass
class Loads:
    """Households per label before the moves (after tiling), for the range constraints.

    ``load`` per label (NaN: unknown, not constrained), ``zone`` per label, ``alive`` (labels that
    exist as grids), ``parts`` (a tile cut into k strips counts as k grids of load/k), and the
    count of grids outside the range before alignment per zone (``reference``).
    """

    load: np.ndarray
    zone: np.ndarray
    alive: np.ndarray
    parts: np.ndarray
    reference: dict[int, int]
    low: float
    high: float

    def outside(self, load: np.ndarray, parts: np.ndarray | None = None) -> np.ndarray:
        """Grids outside the range per label (0 for unknown loads), strips counted."""
        k = np.maximum(self.parts if parts is None else parts, 1)
        each = load / k
        out = np.isfinite(each) & ((each < self.low - 1e-9) | (each > self.high + 1e-9))
        return out * k


@dataclass
class Choice:
    """The option chosen per compound (-1: stays), and how it was found."""

    option: np.ndarray
    method: str
    households_moved: float
    outside_after: int
    straddling_left: int
    #: Communities left with more grids outside the range than before (estimated loads).
    zones_over: int = 0
    zones_solved: int = 0
    zones_fallback: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def choose(moves: Moves, loads: Loads, n_compounds: int, capacity: bool,
           optimistic: set | frozenset = frozenset(), baseline: bool = False) -> tuple[Choice, Choice | None]:
    """The optimiser's choice and the greedy baseline's, for every compound with options.

    ``baseline`` runs the greedy pass as well, to compare. In ``optimistic`` communities,
    compounds are aligned even if that puts more grids outside the
    range than before (the fewest possible): the redraw may bring them back (it dissolves grids
    the alignment took under the minimum into neighbours with room), and the round is undone if
    it does not.

    Without household figures there is no capacity to respect and each compound independently
    takes the grid holding most of its area (the least area moved), which is the optimum.
    """
    import time

    start = time.perf_counter()
    if not capacity:
        only = greedy(moves, loads, n_compounds, capacity)
        return only, only
    # The greedy pass is run only to compare (``baseline``) or where HiGHS finds nothing.
    greedy_choice = greedy(moves, loads, n_compounds, capacity) if baseline else None
    option = np.full(n_compounds, -1, dtype=np.intp)
    solved = fallback = 0
    notes = []
    # Communities are independent problems; HiGHS is called on batches of them at once (a
    # block-diagonal programme whose optimum is each block's optimum), which saves the fixed
    # cost of a call per community.
    opt_order = np.argsort(moves.zone, kind="stable")
    zones, opt_start = np.unique(moves.zone[opt_order], return_index=True)
    opt_end = np.r_[opt_start[1:], len(opt_order)]
    eff_zone = moves.zone[moves.eff_option]
    eff_order = np.argsort(eff_zone, kind="stable")
    eff_start = np.searchsorted(eff_zone[eff_order], zones, side="left")
    eff_end = np.searchsorted(eff_zone[eff_order], zones, side="right")
    blocks = [_zone_block(moves, loads, np.sort(opt_order[a:b]), eff_order[e:f], z, int(z) in optimistic)
              for z, a, b, e, f in zip(zones, opt_start, opt_end, eff_start, eff_end)]
    batch: list = []
    size = 0
    for block in blocks + [None]:
        if block is not None and (not batch or size + block.n <= BATCH_VARIABLES):
            batch.append(block)
            size += block.n
            continue
        if batch:
            picked = _solve_blocks(batch)
            if picked is None:
                fallback += len(batch)
                notes.append(f"HiGHS found no solution for {len(batch)} communities in {TIME_LIMIT_S:g} s; "
                             "the greedy pass was used there")
                greedy_choice = greedy_choice or greedy(moves, loads, n_compounds, capacity)
                for b in batch:
                    comps = np.unique(moves.compound[b.rows])
                    option[comps] = greedy_choice.option[comps]
            else:
                solved += len(batch)
                option[moves.compound[picked]] = picked
        batch, size = ([block], block.n) if block is not None else ([], 0)
    result = _evaluate(moves, loads, option, "milp")
    result.zones_solved, result.zones_fallback, result.notes = solved, fallback, notes
    result.seconds = time.perf_counter() - start
    return result, greedy_choice


#: Variables per HiGHS call at most (communities are batched up to this).
BATCH_VARIABLES = 1000


@dataclass
class _Block:
    """One community's programme as triplets: objective, constraint entries (row, column, value)
    with row bounds, variable bounds and integrality; ``n_x`` option variables come first."""

    rows: np.ndarray
    c: np.ndarray
    a_row: np.ndarray
    a_col: np.ndarray
    a_val: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integrality: np.ndarray
    upper: np.ndarray
    n_x: int
    lower: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.c)


def _zone_block(moves: Moves, loads: Loads, rows: np.ndarray, effects: np.ndarray, zone: int,
                optimistic: bool = False) -> _Block:
    """The programme of one community (see the module docstring): ``rows`` are its options,
    ``effects`` their effects on loads (positions into ``moves``)."""
    comps, comp_of = np.unique(moves.compound[rows], return_inverse=True)
    n_x, n_s = len(rows), len(comps)
    e_opt = np.searchsorted(rows, moves.eff_option[effects])
    e_lab = moves.eff_label[effects]
    e_del = moves.eff_delta[effects]
    known = np.isfinite(loads.load[e_lab])
    labels = np.unique(e_lab[known])
    n_o = len(labels)
    e_row = np.searchsorted(labels, e_lab[known])
    e_opt, e_del = e_opt[known], e_del[known]
    # Grids of the community that no move touches: their count outside the range is fixed.
    zone_labels = np.flatnonzero((loads.zone == zone) & loads.alive)
    fixed = np.setdiff1d(zone_labels, labels)
    constant = int(loads.outside(loads.load[fixed], loads.parts[fixed]).sum())
    allowed = loads.reference.get(int(zone), 0) - constant

    # Variables: x (options), s (stays), o (grid outside the range), e (grid emptied: it will be
    # dissolved into its neighbours, so it does not count as outside), slack.
    n = n_x + n_s + 2 * n_o + 1
    o0, e0 = n_x + n_s, n_x + n_s + n_o
    # Households moved in whole numbers, so that the lower terms (grids outside the range < 1/4,
    # grids emptied < 1/8, area < 1/2 in all) only break ties between choices moving as many.
    hh = np.round(np.nan_to_num(moves.households[rows]))
    area = moves.area[rows]
    if optimistic:
        p_slack = float(hh.sum()) + 1.0
        p_stay = p_slack * (n_o + 2)
    else:
        p_stay = float(hh.sum()) + 1.0
        p_slack = p_stay * (n_s + 2)
    c = np.concatenate([hh + 0.5 * area / (area.sum() + 1.0), np.full(n_s, p_stay),
                        np.full(n_o, 0.25 / (n_o + 1)), np.full(n_o, 0.125 / (n_o + 1)), [p_slack]])
    upper = np.r_[np.ones(n - 1), np.inf]
    lower = np.zeros(n)
    if moves.forced is not None:
        # A planner's edit is a fixed decision: its option is taken (x = 1, so the compound's s = 0).
        lower[:n_x] = moves.forced[rows].astype(float)
    # Each compound: one option or stay (rows 0 … n_s-1).
    r = [comp_of, np.arange(n_s)]
    col = [np.arange(n_x), n_x + np.arange(n_s)]
    val = [np.ones(n_x), np.ones(n_s)]
    lb, ub = [np.ones(n_s)], [np.ones(n_s)]
    if n_o:
        load0 = loads.load[labels]
        parts = np.maximum(loads.parts[labels], 1)
        big_m = np.bincount(e_row, weights=np.abs(e_del), minlength=n_o) + np.abs(load0) + loads.high + loads.low + 1
        k = np.arange(n_o)
        up, lo, em, cnt = n_s, n_s + n_o, n_s + 2 * n_o, n_s + 3 * n_o
        # load ≤ MAX unless outside; load ≥ MIN unless outside or emptied; emptied: load ≤ ½.
        r += [up + e_row, up + k, lo + e_row, lo + k, lo + k, em + e_row, em + k, np.full(n_o, cnt), [cnt]]
        col += [e_opt, o0 + k, e_opt, o0 + k, e0 + k, e_opt, e0 + k, o0 + k, [n - 1]]
        val += [e_del, -big_m, -e_del, -big_m, np.full(n_o, -float(loads.low)), e_del, big_m, np.ones(n_o), [-1.0]]
        lb += [np.full(3 * n_o + 1, -np.inf)]
        ub += [loads.high * parts - load0, load0 - loads.low * parts, big_m + 0.5 - load0, [float(allowed)]]
        # Only a grid that has households now can be emptied (a grid empty already stays as it is).
        upper[e0:e0 + n_o] = (load0 > 0.5).astype(float)
    if moves.conflict_a is not None and len(moves.conflict_a):
        # Options that exclude each other: x_a + x_b ≤ 1.
        mine = np.isin(moves.conflict_a, rows) & np.isin(moves.conflict_b, rows)
        ca = np.searchsorted(rows, moves.conflict_a[mine])
        cb = np.searchsorted(rows, moves.conflict_b[mine])
        first = sum(len(v) for v in lb)
        k = np.arange(len(ca))
        r += [first + k, first + k]
        col += [ca, cb]
        val += [np.ones(len(ca)), np.ones(len(ca))]
        lb += [np.full(len(ca), -np.inf)]
        ub += [np.ones(len(ca))]
    return _Block(rows=rows, c=c, a_row=np.concatenate(r).astype(np.intp), a_col=np.concatenate(col).astype(np.intp),
                  a_val=np.concatenate(val).astype(float), lb=np.concatenate(lb), ub=np.concatenate(ub),
                  integrality=np.r_[np.ones(n - 1), 0], upper=upper, n_x=n_x, lower=lower)


def _solve_blocks(blocks: list[_Block]) -> np.ndarray | None:
    """Solve communities together (block-diagonal); the options chosen (positions into moves)."""
    row_off = np.cumsum([0] + [len(b.lb) for b in blocks])
    col_off = np.cumsum([0] + [b.n for b in blocks])
    a = sparse.csr_matrix((np.concatenate([b.a_val for b in blocks]),
                           (np.concatenate([b.a_row + o for b, o in zip(blocks, row_off)]),
                            np.concatenate([b.a_col + o for b, o in zip(blocks, col_off)]))),
                          shape=(row_off[-1], col_off[-1]))
    c = np.concatenate([b.c for b in blocks])
    res = milp(c, integrality=np.concatenate([b.integrality for b in blocks]),
               bounds=Bounds(np.concatenate([np.zeros(b.n) if b.lower is None else b.lower for b in blocks]),
                             np.concatenate([b.upper for b in blocks])),
               constraints=LinearConstraint(a, np.concatenate([b.lb for b in blocks]),
                                            np.concatenate([b.ub for b in blocks])),
               options={"mip_rel_gap": 0.0, "time_limit": TIME_LIMIT_S, "presolve": True})
    if res.x is None:
        return None
    picked = [b.rows[np.round(res.x[o:o + b.n_x]).astype(bool)] for b, o in zip(blocks, col_off)]
    return np.concatenate(picked) if picked else np.empty(0, dtype=np.intp)


def greedy(moves: Moves, loads: Loads, n_compounds: int, capacity: bool) -> Choice:
    """The greedy pass: compounds with the most households first, each into the grid holding its
    largest share that stays within the maximum after taking it, else the least over."""
    option = np.full(n_compounds, -1, dtype=np.intp)
    if not len(moves.compound):
        return _evaluate(moves, loads, option, "greedy")
    load = loads.load.copy()
    opts = pd.DataFrame({"compound": moves.compound, "share": moves.share, "hh": moves.households,
                         "area": moves.area})
    size = opts.groupby("compound").hh.max() if capacity else opts.groupby("compound").area.max()
    order = size.sort_values(ascending=False, kind="stable").index.to_numpy()
    by_option = pd.Series(np.arange(len(moves.eff_option))).groupby(moves.eff_option).apply(np.asarray)
    by_compound = pd.Series(np.arange(len(moves.compound))).groupby(moves.compound).apply(np.asarray)
    for c in order:
        cand = by_compound[c]
        if moves.kind is not None:
            cand = cand[moves.kind[cand] == 0]  # the greedy pass only moves compounds
            if not len(cand):
                continue
        cand = cand[np.argsort(-moves.share[cand], kind="stable")]
        if capacity:
            after = np.array([_load_after(load, moves, by_option, o) for o in cand])
            after = np.where(np.isfinite(after), after, -np.inf)
            fits = after <= loads.high
            pick = cand[np.argmax(fits)] if fits.any() else cand[np.argmin(after)]
            e = by_option.get(pick, np.empty(0, dtype=int))
            np.add.at(load, moves.eff_label[e], moves.eff_delta[e])
        else:
            pick = cand[0]
        option[c] = pick
    return _evaluate(moves, loads, option, "greedy")


def _load_after(load: np.ndarray, moves: Moves, by_option: pd.Series, o: int) -> float:
    """The target's load after option ``o``."""
    e = by_option.get(o, np.empty(0, dtype=int))
    t = moves.target[o]
    return load[t] + moves.eff_delta[e][moves.eff_label[e] == t].sum()


def _evaluate(moves: Moves, loads: Loads, option: np.ndarray, method: str) -> Choice:
    """Households moved, grids outside the range and compounds left, for a choice of options."""
    picked = option[option >= 0]
    load = loads.load.copy()
    if len(picked):
        e = np.isin(moves.eff_option, picked)
        np.add.at(load, moves.eff_label[e], moves.eff_delta[e])
    out = loads.outside(load, loads.parts) * loads.alive
    outside = int(out.sum())
    per_zone = pd.Series(out).groupby(loads.zone).sum()
    reference = pd.Series(loads.reference).reindex(per_zone.index).fillna(0)
    with_options = np.unique(moves.compound)
    return Choice(option=option, method=method,
                  households_moved=float(np.nansum(moves.households[picked])),
                  outside_after=outside, straddling_left=int((option[with_options] < 0).sum()),
                  zones_over=int((per_zone > reference).sum()))
