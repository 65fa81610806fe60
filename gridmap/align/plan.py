"""One round of decisions: for each straddling compound, whether it is left (and why), tiled, or
moved, and into which grid.

The compounds' parts in the grids they overlap (*atoms*) are cut once here and carried to the
redraw, with their households, so that the decision and the geometry agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridmap.classify import Classification

from .assign import Choice, Loads, Moves, choose
from .edits import pending
from .problem import NOISE_M2, PRECISION, Problem, disjoint
from .tiles import plan_tiles, strips_needed

log = logging.getLogger(__name__)

#: Targets of compounds: a label position, or one of these.
STAY, TILE = -1, -2
FREE, LOCKED = -1, -2


@dataclass
class Plan:
    """Where every atom goes, and why compounds are left.

    Per atom (a connected piece of an active compound in one grid): ``atoms`` (polygon),
    ``atom_comp``, ``atom_label`` (the grid it is in), ``atom_owner`` (the grid it goes to; labels
    from ``n_labels`` on are new tiles), ``atom_hh`` (households; NaN without figures). Per
    compound: ``target`` (label, ``STAY`` or ``TILE``) and ``reason`` ('' or a code of
    ``problem.UNRESOLVED``), ``home_zone`` (the community of its significant grids, -1 if
    several or none). ``anchors`` are grids that become tiles of ``anchor_compound`` (their
    land outside it is released); ``new_origin``/``new_compound`` describe new tiles.
    """

    n_labels: int
    atoms: np.ndarray
    atom_comp: np.ndarray
    atom_label: np.ndarray
    atom_owner: np.ndarray
    atom_hh: np.ndarray
    target: np.ndarray
    reason: np.ndarray
    anchors: np.ndarray
    anchor_compound: np.ndarray
    new_origin: np.ndarray
    new_compound: np.ndarray
    home_zone: np.ndarray | None = None
    choice: Choice | None = None
    greedy: Choice | None = None
    #: Grids whose land outside the active compounds goes to another grid (swaps: label → label).
    core_owner: dict | None = None

    @property
    def active(self) -> np.ndarray:
        return (self.target >= 0) | (self.target == TILE)


def overlap_positions(overlaps: pd.DataFrame, c_ids: np.ndarray, g_ids: np.ndarray) -> pd.DataFrame:
    """The classification's overlap table with compound and grid (label) positions."""
    c_pos = pd.Series(np.arange(len(c_ids)), index=c_ids)
    g_pos = pd.Series(np.arange(len(g_ids)), index=g_ids)
    ov = pd.DataFrame({
        "compound": c_pos.reindex(overlaps.compound_id).to_numpy(),
        "grid": g_pos.reindex(overlaps.grid_id).to_numpy(),
        "share_of_compound": overlaps.share_of_compound.to_numpy(float),
        "share_of_grid": overlaps.share_of_grid.to_numpy(float),
        "significant": overlaps.significant.to_numpy(bool),
        "overlap_m2": overlaps.overlap_m2.to_numpy(float),
    })
    ov = ov.dropna(subset=["compound", "grid"]).astype({"compound": np.intp, "grid": np.intp})
    return ov.sort_values(["compound", "share_of_compound"], ascending=[True, False],
                          kind="stable").reset_index(drop=True)


def decide(problem: Problem, layout, cls: Classification, ids: np.ndarray,
           banned: np.ndarray | None = None, optimistic: set | frozenset = frozenset(),
           only_edits: bool = False) -> Plan:
    """The decisions of one round on the grids of ``layout`` (classified as ``cls``).

    ``ids`` are the labels' ids (as in ``cls``). Compounds in scope that straddle are handled:

    - left, with a reason, when one of their significant grids is kept (``kept_grid``) or their
      significant grids lie in more than one community (``crosses_community``);
    - tiled when too large for one grid (``tiles``);
    - else moved into one of their grids (``assign``), or left when no grid may take them.

    ``banned`` compounds are left (with reason ``capacity``): an earlier round found that aligning
    them puts more grids of their community outside the household range than before. In
    ``optimistic`` communities the moves may do so at first (see ``assign.choose``).

    A planner's edits (``problem.fixed``) are fixed decisions: an edited compound with land outside
    the grid it was placed in moves into that grid (whatever its situation or type), as the only
    option of the programme, which must take it; it is never tiled, and that grid is never an
    anchor of a tile nor half of a swap. ``only_edits`` handles the edits alone.
    """
    n_c, n_l = len(problem.C), len(layout.geoms)
    capacity = problem.capacity
    ov = overlap_positions(cls.overlaps, problem.c_ids, ids)
    mixed = pd.Series(cls.compounds.situation.to_numpy() == "mixed",
                      index=cls.compounds.compound_id.to_numpy()).reindex(problem.c_ids, fill_value=False).to_numpy()
    comp, lab = ov.compound.to_numpy(), ov.grid.to_numpy()
    sig = ov.significant.to_numpy()
    zone = layout.zone
    edited = problem.edited
    fixed = problem.fixed if problem.fixed is not None else np.full(n_c, -1, dtype=np.intp)
    waiting = pending(fixed, zone, comp, lab, ov.overlap_m2.to_numpy())
    free = problem.scope & mixed & ~edited & (not only_edits)
    handled = free | waiting
    protected = problem.protected(n_l)

    # Left, with a reason: kept grids, and compounds whose grids lie in several communities.
    reason = np.full(n_c, "", dtype=object)
    rows_sig = sig & handled[comp]
    zones_per = pd.Series(zone[lab[rows_sig]]).groupby(comp[rows_sig]).nunique()
    crosses = np.zeros(n_c, dtype=bool)
    crosses[zones_per.index[zones_per.to_numpy() > 1]] = True
    on_kept = np.zeros(n_c, dtype=bool)
    on_kept[comp[rows_sig & layout.kept[lab]]] = True
    reason[free & crosses] = "crosses_community"
    reason[free & ~crosses & on_kept] = "kept_grid"
    banned = np.zeros(n_c, dtype=bool) if banned is None else banned
    reason[free & ~crosses & ~on_kept & banned] = "capacity"
    active = (free & ~crosses & ~on_kept & ~banned) | waiting
    home_zone = np.full(n_c, -1, dtype=np.intp)
    first = pd.Series(zone[lab[rows_sig]], index=comp[rows_sig])
    first = first[~first.index.duplicated()]
    home_zone[first.index.to_numpy()] = first.to_numpy()
    home_zone[waiting] = zone[fixed[waiting]]

    # Atoms: the active compounds (made disjoint, smaller first) cut by the grids they overlap.
    order = np.flatnonzero(active)
    order = order[np.argsort(shapely.area(problem.C[order]), kind="stable")]
    D = disjoint(problem.C, order)
    rows = np.flatnonzero(active[comp] & ~shapely.is_empty(layout.geoms[lab]))
    rc, rl = comp[rows], lab[rows]
    # A compound left whole by ``disjoint`` is the very same object (no geometry test needed).
    same = np.fromiter((a is b for a, b in zip(D[rc], problem.C[rc])), dtype=bool, count=len(rc))
    whole = (ov.share_of_compound.to_numpy()[rows] >= 1 - 1e-9) & same
    pieces = np.where(whole, D[rc], None)
    cut = ~whole
    pieces[cut] = shapely.intersection(D[rc[cut]], layout.geoms[rl[cut]], grid_size=PRECISION)
    parts, part_of = shapely.get_parts(pieces, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > NOISE_M2)
    atoms, a_comp, a_lab = parts[keep], rc[part_of[keep]], rl[part_of[keep]]
    a_area = shapely.area(atoms)
    a_hh = np.full(len(atoms), np.nan)
    if capacity:
        # Atoms in input grids not yet redrawn lie in one grid and one compound: no overlay needed.
        simple = (a_lab < layout.n_g) & ~layout.touched[a_lab]
        a_hh[simple] = problem.households.of_in(atoms[simple], a_comp[simple], a_lab[simple])
        a_hh[~simple] = problem.households.of(atoms[~simple])
    movable = ~layout.kept[a_lab] & (zone[a_lab] == home_zone[a_comp])
    weight = a_hh if capacity else a_area

    # Tiled or moved.
    comp_hh = np.bincount(a_comp, weights=np.nan_to_num(a_hh), minlength=n_c)
    nests = sig & (ov.share_of_grid.to_numpy() >= problem.nest) & ~layout.kept[lab]
    n_nest = np.bincount(comp[nests], minlength=n_c)
    tiled = active & ~edited & ((comp_hh > problem.high) if capacity else (n_nest >= 2))
    locked = (layout.role == LOCKED)

    # Anchors: a grid may give its id to a tile of compound c (its land outside the active
    # compounds, its *rest*, is then released to its neighbours) when that moves fewer households
    # than cutting c's part out of it as a new grid would: with figures, when c's part holds at
    # least as many households as the rest; without, when the grid nests in c. A grid whose rest
    # holds another compound keeps it (releasing it would move that compound too, perhaps to
    # nowhere: it may lie across a community line).
    load = layout.load
    active_hh_in = np.bincount(a_lab, weights=np.nan_to_num(a_hh), minlength=n_l)
    holds_other = np.zeros(n_l, dtype=bool)
    holds_other[lab[sig & ~active[comp]]] = True
    rest_hh = np.maximum(np.nan_to_num(load) - active_hh_in, 0.0)
    part_hh = pd.Series(np.nan_to_num(a_hh)).groupby([a_comp, a_lab]).sum()
    part_hh = part_hh.reindex(pd.MultiIndex.from_arrays([comp, lab]), fill_value=0.0).to_numpy()
    share_g = ov.share_of_grid.to_numpy()
    worth = (part_hh >= rest_hh[lab]) if capacity else (share_g >= problem.nest)
    can = (tiled[comp] & sig & ~layout.kept[lab] & ~locked[lab] & ((layout.role[lab] == FREE) | (layout.role[lab] == comp))
           & worth & ~holds_other[lab] & ~protected[lab])
    # One compound per grid: the one holding most of it.
    cand = pd.DataFrame({"c": comp[can], "g": lab[can], "s": share_g[can]})
    best = cand.sort_values(["g", "s"], ascending=[True, False], kind="stable").drop_duplicates("g")
    anchor_of = np.full(n_l, -1, dtype=np.intp)
    anchor_of[best.g.to_numpy()] = best.c.to_numpy()

    unit = tiled[a_comp] & movable
    u = np.flatnonzero(unit)
    before_out = np.isfinite(load) & ((load < problem.low) | (load > problem.high))
    # A grid already outside the range that keeps its part of the compound as a tile loses
    # nothing to the count by staying as it is: its households stay put.
    # A grid already outside the range that keeps its part of the compound as a tile loses
    # nothing to the count by staying as it is: its households stay put. Unless it nests in the
    # compound already, its other land must go to a neighbour: only where it has one that takes land.
    nest_share = pd.Series(share_g, index=pd.MultiIndex.from_arrays([comp, lab]))
    already = nest_share.reindex(pd.MultiIndex.from_arrays([a_comp[u], a_lab[u]])).to_numpy() >= problem.nest + 0.05
    sticky = (anchor_of[a_lab[u]] == a_comp[u]) & before_out[a_lab[u]]
    sticky &= already | _has_taker(layout, a_lab[u], a_comp[u], comp[sig], lab[sig])
    owner_u, new_origin, new_compound, anchors, anchor_compound = plan_tiles(
        atoms[u], a_comp[u], a_lab[u], weight[u], anchor_of[a_lab[u]] == a_comp[u], problem.low,
        problem.high, capacity, n_l, sticky)
    n_new = len(new_origin)
    atom_owner = a_lab.copy()
    atom_owner[u] = owner_u
    is_anchor = np.zeros(n_l + n_new, dtype=bool)
    is_anchor[anchors] = True

    # Loads once the tiles are cut (new tiles appended), for the range constraints of the moves.
    ext_load = np.r_[load, np.zeros(n_new)]
    leaving = u[owner_u != a_lab[u]]
    np.subtract.at(ext_load, a_lab[leaving], np.nan_to_num(a_hh[leaving]))
    np.add.at(ext_load, atom_owner[leaving], np.nan_to_num(a_hh[leaving]))
    tile_load = np.bincount(atom_owner[u], weights=np.nan_to_num(a_hh[u]), minlength=n_l + n_new)
    ext_load[anchors] = tile_load[anchors]
    ext_load[n_l:] = tile_load[n_l:]
    ext_load[:n_l][~np.isfinite(load)] = np.nan
    parts_k = np.ones(n_l + n_new, dtype=int)
    tiles_all = np.r_[anchors, n_l + np.arange(n_new)].astype(np.intp)
    if capacity and len(tiles_all):
        parts_k[tiles_all] = strips_needed(ext_load[tiles_all], problem.low, problem.high)
    ext_zone = np.r_[zone, zone[new_origin]] if n_new else zone.copy()
    alive = np.r_[~shapely.is_empty(layout.geoms), np.ones(n_new, dtype=bool)]

    # Moves: each mover into one of its significant grids of its community that may receive.
    movers = active & ~tiled
    may_receive = ~layout.kept & ~locked & (layout.role == FREE) & ~is_anchor[:n_l]
    opt_rows = np.flatnonzero(movers[comp] & ~edited[comp] & sig & ~shapely.is_empty(layout.geoms[lab]))
    opt_rows = opt_rows[may_receive[lab[opt_rows]] & (zone[lab[opt_rows]] == home_zone[comp[opt_rows]])]
    # A planner's edit: one option, into the grid it names (its share there, 0 if it only borders it).
    e_comp = np.flatnonzero(movers & waiting)
    e_tgt = fixed[e_comp]
    in_target = pd.Series(ov.share_of_compound.to_numpy(), index=pd.MultiIndex.from_arrays([comp, lab]))
    in_target = in_target[~in_target.index.duplicated()]
    e_share = in_target.reindex(pd.MultiIndex.from_arrays([e_comp, e_tgt])).fillna(0.0).to_numpy() \
        if len(e_comp) else np.zeros(0)
    o_comp, o_tgt = np.r_[comp[opt_rows], e_comp].astype(np.intp), np.r_[lab[opt_rows], e_tgt].astype(np.intp)
    tile_in = np.zeros(n_l + n_new, dtype=bool)
    tile_in[a_lab[u]] = True
    moves = _moves(o_comp, o_tgt, np.r_[ov.share_of_compound.to_numpy()[opt_rows], e_share], zone, a_comp, a_lab,
                   a_hh, a_area, movable & movers[a_comp], is_anchor, capacity)
    moves.forced = np.r_[np.zeros(len(opt_rows), dtype=bool), np.ones(len(e_comp), dtype=bool)]
    if capacity:
        moves = _with_swaps(moves, problem, layout, comp, lab, sig, movers & ~edited,
                            may_receive & ~tile_in[:n_l] & ~protected, home_zone, a_comp, a_lab, a_hh, a_area,
                            movable)
    no_target = movers & ~np.isin(np.arange(n_c), o_comp)
    reason[no_target] = "no_target"
    loads = Loads(load=ext_load, zone=ext_zone, alive=alive, parts=parts_k, reference=problem.reference,
                  low=problem.low, high=problem.high)
    choice, greedy_choice = choose(moves, loads, n_c, capacity, optimistic, problem.baseline)

    target = np.full(n_c, STAY, dtype=np.intp)
    target[tiled] = TILE
    chosen = choice.option >= 0
    target[chosen] = moves.target[choice.option[chosen]]
    core_owner = {}
    if moves.kind is not None:
        swap = chosen.copy()
        swap[chosen] = moves.kind[choice.option[chosen]] == 1
        for c in np.flatnonzero(swap):
            o = choice.option[c]
            core_owner[int(moves.target[o])] = int(moves.partner[o])
    left = movers & ~chosen & ~no_target
    reason[left] = "capacity"
    moving = (target[a_comp] >= 0) & movable
    atom_owner[moving] = target[a_comp[moving]]
    # Atoms of compounds that stay are not touched.
    keep_atoms = (target[a_comp] >= 0) | (target[a_comp] == TILE)
    log.info("round: %d compounds move (%s), %d tiled, %d left", chosen.sum(), choice.method,
             tiled.sum(), int((handled & ~((target >= 0) | (target == TILE))).sum()))
    return Plan(n_labels=n_l, atoms=atoms[keep_atoms], atom_comp=a_comp[keep_atoms],
                atom_label=a_lab[keep_atoms], atom_owner=atom_owner[keep_atoms], atom_hh=a_hh[keep_atoms],
                target=target, reason=reason, anchors=anchors, anchor_compound=anchor_compound,
                new_origin=new_origin, new_compound=new_compound, home_zone=home_zone, choice=choice,
                greedy=greedy_choice, core_owner=core_owner)


def _with_swaps(moves: Moves, problem: Problem, layout, comp, lab, sig, movers, may_receive, home_zone,
                a_comp, a_lab, a_hh, a_area, movable) -> Moves:
    """Add *swaps* for compounds over two grids: the compound becomes a grid of its own (taking
    the id of one of them, either way round) and the rest of that grid joins the other one.

    Where a compound of 300–500 households lies across two grids that each hold the range, every
    move puts both out of it (one over the maximum, the other under the minimum); a swap keeps both
    in it. It moves the compound's part in the other grid and the rest of its own grid.
    """
    n_sig = np.bincount(comp[sig], minlength=len(problem.C))
    rows = np.flatnonzero(sig & movers[comp] & (n_sig[comp] == 2))
    if not len(rows):
        return moves
    frame = pd.DataFrame({"c": comp[rows], "g": lab[rows]})
    pair = frame.groupby("c").g.agg(list)
    pair = pair[pair.map(len) == 2]
    if not len(pair):
        return moves
    c = pair.index.to_numpy()
    g = np.array(pair.tolist(), dtype=np.intp)
    ok = may_receive[g].all(axis=1) & (layout.zone[g[:, 0]] == home_zone[c]) & (layout.zone[g[:, 1]] == home_zone[c])
    hh_c = pd.Series(np.nan_to_num(a_hh[movable]), index=a_comp[movable]).groupby(level=0).sum()
    h = hh_c.reindex(c).fillna(0).to_numpy()
    ok &= (h >= problem.low) & (h <= problem.high)
    c, g, h = c[ok], g[ok], h[ok]
    if not len(c):
        return moves
    # Both ways round: the compound takes the id of either grid, the rest of it joins the other.
    part = pd.DataFrame({"c": a_comp, "g": a_lab, "hh": np.nan_to_num(a_hh), "area": a_area}) \
        .groupby(["c", "g"], as_index=False).sum()
    load = np.nan_to_num(layout.load)
    area_g = shapely.area(layout.geoms)
    base = len(moves.compound)
    sw = pd.DataFrame({"c": np.r_[c, c], "g1": np.r_[g[:, 0], g[:, 1]], "g2": np.r_[g[:, 1], g[:, 0]],
                       "h": np.r_[h, h]})
    sw["o"] = base + np.arange(len(sw))
    sw = sw.merge(part.rename(columns={"g": "g1", "hh": "h1", "area": "a1"}), on=["c", "g1"], how="left") \
        .merge(part.rename(columns={"g": "g2", "hh": "h2", "area": "a2"}), on=["c", "g2"], how="left").fillna(0.0)
    sw = sw.sort_values("o").reset_index(drop=True)
    g1, g2 = sw.g1.to_numpy(np.intp), sw.g2.to_numpy(np.intp)
    rest1 = load[g1] - sw.h1.to_numpy()
    o_c, o_t, o_p = sw.c.to_numpy(np.intp), g1, g2
    o_h = (sw.h.to_numpy() - sw.h1.to_numpy()) + rest1
    o_a = (area_g[g1] - sw.a1.to_numpy()) + sw.a2.to_numpy()
    # The compound's slivers in other grids come along.
    slivers = pd.DataFrame({"c": a_comp[movable], "g": a_lab[movable], "hh": np.nan_to_num(a_hh[movable])}) \
        .merge(sw[["c", "o", "g1", "g2"]], on="c")
    slivers = slivers[(slivers.g != slivers.g1) & (slivers.g != slivers.g2)]
    e_o = np.r_[sw.o.to_numpy(), sw.o.to_numpy(), slivers.o.to_numpy()]
    e_l = np.r_[g1, g2, slivers.g.to_numpy()]
    e_d = np.r_[sw.h.to_numpy() - load[g1], rest1 - sw.h2.to_numpy(), -slivers.hh.to_numpy()]
    n_new = len(o_c)
    kind = np.r_[np.zeros(base, dtype=np.intp) if moves.kind is None else moves.kind, np.ones(n_new, dtype=np.intp)]
    partner = np.r_[np.full(base, -1, dtype=np.intp), o_p.astype(np.intp)]
    # A swap takes both its grids whole: no other compound's option may touch them.
    touch = pd.DataFrame({"o": np.r_[moves.eff_option, e_o], "g": np.r_[moves.eff_label, e_l]}).drop_duplicates()
    comp_of = np.r_[moves.compound, o_c]
    swaps = pd.DataFrame({"s": base + np.arange(n_new), "g1": o_t, "g2": o_p})
    grids = pd.concat([swaps[["s", "g1"]].rename(columns={"g1": "g"}), swaps[["s", "g2"]].rename(columns={"g2": "g"})])
    clash = grids.merge(touch, on="g")
    clash = clash[(clash.o != clash.s) & (comp_of[clash.o.to_numpy()] != comp_of[clash.s.to_numpy()])]
    clash = clash[["s", "o"]].drop_duplicates()
    return Moves(compound=np.r_[moves.compound, o_c].astype(np.intp), target=np.r_[moves.target, o_t].astype(np.intp),
                 zone=np.r_[moves.zone, layout.zone[o_t.astype(np.intp)]], households=np.r_[moves.households, o_h],
                 area=np.r_[moves.area, o_a], share=np.r_[moves.share, np.zeros(n_new)],
                 eff_option=np.r_[moves.eff_option, e_o].astype(np.intp),
                 eff_label=np.r_[moves.eff_label, e_l].astype(np.intp),
                 eff_delta=np.r_[moves.eff_delta, e_d].astype(float), kind=kind, partner=partner,
                 conflict_a=clash.s.to_numpy(np.intp), conflict_b=clash.o.to_numpy(np.intp),
                 forced=np.r_[np.zeros(base, dtype=bool) if moves.forced is None else moves.forced,
                              np.zeros(n_new, dtype=bool)])


def _has_taker(layout, labels: np.ndarray, compound: np.ndarray, sig_comp: np.ndarray, sig_lab: np.ndarray
               ) -> np.ndarray:
    """Whether each grid has a neighbour of its community that may take land (not kept, not
    nesting in a large compound, not a tile) and that is not itself a grid of the compound."""
    out = np.zeros(len(labels), dtype=bool)
    if not len(labels):
        return out
    geoms = layout.geoms
    alive = np.flatnonzero(layout.alive)
    i, j = shapely.STRtree(geoms[alive]).query(geoms[labels], predicate="dwithin", distance=1e-2)
    j = alive[j]
    own = set(zip(sig_comp.tolist(), sig_lab.tolist()))
    ok = ((j != labels[i]) & (layout.zone[j] == layout.zone[labels[i]]) & ~layout.kept[j]
          & (layout.role[j] == FREE))
    ok &= np.array([(c, g) not in own for c, g in zip(compound[i].tolist(), j.tolist())], dtype=bool)
    out[np.unique(i[ok])] = True
    return out


def _moves(o_comp, o_tgt, o_share, zone, a_comp, a_lab, a_hh, a_area, a_movable, is_anchor, capacity) -> Moves:
    """Options and their effects on loads: moving c into t takes c's movable atoms out of their
    grids (anchors excepted: their load is their tile's) and into t."""
    opts = pd.DataFrame({"option": np.arange(len(o_comp)), "compound": o_comp, "target": o_tgt})
    atoms = pd.DataFrame({"compound": a_comp[a_movable], "label": a_lab[a_movable],
                          "hh": np.nan_to_num(a_hh[a_movable]), "area": a_area[a_movable]})
    pairs = opts.merge(atoms, on="compound")
    away = pairs[pairs.label.to_numpy() != pairs.target.to_numpy()]
    hh = np.bincount(away.option, weights=away.hh, minlength=len(opts))
    area = np.bincount(away.option, weights=away.area, minlength=len(opts))
    out = away[~is_anchor[away.label.to_numpy()]]
    eff_option = np.r_[out.option.to_numpy(), opts.option.to_numpy()]
    eff_label = np.r_[out.label.to_numpy(), o_tgt]
    eff_delta = np.r_[-out.hh.to_numpy(), hh]
    if not capacity:
        hh = np.full(len(opts), np.nan)
    return Moves(compound=o_comp, target=o_tgt, zone=zone[o_tgt], households=hh, area=area,
                 share=o_share, eff_option=eff_option.astype(np.intp), eff_label=eff_label.astype(np.intp),
                 eff_delta=eff_delta.astype(float))
