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
    zones_solved: int = 0
    zones_fallback: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def choose(moves: Moves, loads: Loads, n_compounds: int, capacity: bool,
           optimistic: set | frozenset = frozenset()) -> tuple[Choice, Choice]:
    """The optimiser's choice and the greedy baseline's, for every compound with options.

    In ``optimistic`` communities, compounds are aligned even if that puts more grids outside the
    range than before (the fewest possible): the redraw may bring them back (it dissolves grids
    the alignment took under the minimum into neighbours with room), and the round is undone if
    it does not.

    Without household figures there is no capacity to respect and each compound independently
    takes the grid holding most of its area (the least area moved), which is the optimum.
    """
    import time

    start = time.perf_counter()
    greedy_choice = greedy(moves, loads, n_compounds, capacity)
    if not capacity:
        return greedy_choice, greedy_choice
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
BATCH_VARIABLES = 4000


@dataclass
class _Block:
    """One community's programme: objective, constraint matrix and bounds, integrality."""

    rows: np.ndarray
    c: np.ndarray
    a: sparse.csr_matrix
    lb: np.ndarray
    ub: np.ndarray
    integrality: np.ndarray
    upper: np.ndarray
    n_x: int

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
    mats = [sparse.csr_matrix((np.ones(n_x + n_s), (np.r_[comp_of, np.arange(n_s)],
                                                     np.r_[np.arange(n_x), n_x + np.arange(n_s)])),
                              shape=(n_s, n))]
    lbs, ubs = [np.ones(n_s)], [np.ones(n_s)]
    upper = np.r_[np.ones(n - 1), np.inf]
    if n_o:
        load0 = loads.load[labels]
        parts = np.maximum(loads.parts[labels], 1)
        big_m = np.bincount(e_row, weights=np.abs(e_del), minlength=n_o) + np.abs(load0) + loads.high + loads.low + 1
        rows_o = np.arange(n_o)
        delta = sparse.csr_matrix((e_del, (e_row, e_opt)), shape=(n_o, n))

        def col(start, values):
            return sparse.csr_matrix((values, (rows_o, start + rows_o)), shape=(n_o, n))

        # load ≤ MAX unless outside; load ≥ MIN unless outside or emptied; emptied: load ≤ ½.
        mats += [delta + col(o0, -big_m), -delta + col(o0, -big_m) + col(e0, -np.full(n_o, loads.low * 1.0)),
                 delta + col(e0, big_m)]
        lbs += [np.full(n_o, -np.inf)] * 3
        ubs += [loads.high * parts - load0, load0 - loads.low * parts, big_m + 0.5 - load0]
        # Only a grid that has households now can be emptied (a grid empty already stays as it is).
        upper[e0:e0 + n_o] = (load0 > 0.5).astype(float)
        count = np.zeros(n)
        count[o0:o0 + n_o] = 1
        count[-1] = -1
        mats.append(sparse.csr_matrix(count[None, :]))
        lbs.append(np.array([-np.inf]))
        ubs.append(np.array([float(allowed)]))
    return _Block(rows=rows, c=c, a=sparse.vstack(mats).tocsr(), lb=np.concatenate(lbs), ub=np.concatenate(ubs),
                  integrality=np.r_[np.ones(n - 1), 0], upper=upper, n_x=n_x)


def _solve_blocks(blocks: list[_Block]) -> np.ndarray | None:
    """Solve communities together (block-diagonal); the options chosen (positions into moves)."""
    a = sparse.block_diag([b.a for b in blocks], format="csr")
    c = np.concatenate([b.c for b in blocks])
    res = milp(c, integrality=np.concatenate([b.integrality for b in blocks]),
               bounds=Bounds(np.zeros(len(c)), np.concatenate([b.upper for b in blocks])),
               constraints=LinearConstraint(a, np.concatenate([b.lb for b in blocks]),
                                            np.concatenate([b.ub for b in blocks])),
               options={"mip_rel_gap": 0.0, "time_limit": TIME_LIMIT_S, "presolve": True})
    if res.x is None:
        return None
    picked = []
    at = 0
    for b in blocks:
        x = np.round(res.x[at:at + b.n_x]).astype(bool)
        picked.append(b.rows[x])
        at += b.n
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
    outside = int(loads.outside(load[loads.alive], loads.parts[loads.alive]).sum())
    with_options = np.unique(moves.compound)
    return Choice(option=option, method=method,
                  households_moved=float(np.nansum(moves.households[picked])),
                  outside_after=outside, straddling_left=int((option[with_options] < 0).sum()))
