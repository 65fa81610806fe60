"""The proposal's geometry: grids rebuilt from the atoms of a plan, then made whole and tidy.

A round's plan says where each atom of the active compounds goes. Each touched grid is rebuilt as
its *core* (its land less those atoms) plus the atoms it receives; a grid that becomes a tile of a
large compound releases its core. Then, until every grid is one piece:

- a rebuilt grid keeps the part holding most of its own old ground; the other parts, and the
  released land, are *loose pieces*;
- a loose piece joins a neighbouring grid of the same community (never a kept grid, a tile of
  another compound or a grid nesting in a large compound): the one already holding the
  compounds in it (open land follows the compounds it serves), else one with room for its
  households, else the one it shares the longest border with; a piece holding at least the
  household minimum and no compound part held elsewhere becomes a grid of its own;
- a piece with households and no such neighbour becomes a grid; a piece without households
  joins any neighbour of its community, and only when there is none becomes a grid (noted);
- a grid left without households (it had some) is dissolved the same way, and is ``removed``;
  dissolved after the loop, its land goes only to grids it makes one piece with;
- where a community would end with more grids outside the household range than before, the
  smallest rebuilt grids under the minimum are dissolved into neighbours with room.

A grid a planner placed a compound in (``Problem.fixed``) is never dissolved.

Every step is a vectorised shapely operation over arrays of pieces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridmap.geomops import (
    EMPTY,
    grouped_union,
    largest_part,
    polygons_only,
    shared_border,
)
from gridmap.overlay import overlap_table

from .plan import FREE, Plan
from .problem import NOISE_M2, PRECISION, TOUCH_M, Problem
from .tiles import equal_area_strips, strips_needed

log = logging.getLogger(__name__)


@dataclass
class Layout:
    """The proposal while it is built, one entry per label (grid).

    Labels 0 … n_g-1 are the input grids (empty once removed), later ones new grids. ``origin``
    is the input grid a label was cut from; ``zone`` its community; ``kept`` whether it must not
    change; ``touched`` whether it was rebuilt; ``role`` ``FREE``, ``LOCKED`` (nests in a large
    compound that does not straddle) or the position of the compound it tiles; ``own`` its
    own old ground (empty for new grids); ``load`` its households (NaN: unknown); ``reason`` why
    a label was created or dissolved ('' or a code); ``note`` for a planner (e.g. a grid without
    households that keeps another in one piece).
    """

    geoms: np.ndarray
    origin: np.ndarray
    zone: np.ndarray
    kept: np.ndarray
    touched: np.ndarray
    role: np.ndarray
    own: np.ndarray
    load: np.ndarray
    note: np.ndarray
    n_g: int

    @classmethod
    def start(cls, problem: Problem) -> "Layout":
        n = len(problem.G)
        hh = problem.households.before if problem.capacity else np.full(n, np.nan)
        return cls(geoms=problem.G.copy(), origin=np.arange(n), zone=problem.zones.code.copy(),
                   kept=problem.kept.copy(), touched=np.zeros(n, dtype=bool), role=np.full(n, FREE, dtype=np.intp),
                   own=problem.G.copy(), load=hh.astype(float).copy(), note=np.full(n, "", dtype=object), n_g=n)

    @property
    def alive(self) -> np.ndarray:
        return ~shapely.is_empty(self.geoms)

    _FIELDS = ("geoms", "origin", "zone", "kept", "touched", "role", "own", "load", "note")

    def snapshot(self) -> dict:
        return {f: getattr(self, f).copy() for f in self._FIELDS}

    def restore(self, snap: dict, zones: np.ndarray) -> None:
        """Put the grids of ``zones`` back as they were at ``snap``; grids made since are dropped."""
        n = len(snap["geoms"])
        back = np.flatnonzero(np.isin(snap["zone"], zones))
        for f in self._FIELDS:
            getattr(self, f)[back] = snap[f][back]
        made = n + np.flatnonzero(np.isin(self.zone[n:], zones))
        self.geoms[made] = EMPTY
        self.load[made] = 0.0
        self.touched[made] = False

    def outside(self, low: float, high: float, n_zones: int) -> np.ndarray:
        """Grids outside the household range per zone (whole households; unknown not counted)."""
        load = np.round(self.load)
        out = self.alive & np.isfinite(load) & ((load < low) | (load > high))
        return np.bincount(self.zone[out], minlength=n_zones)

    def add(self, geoms, origin_label, role, load, note=None) -> np.ndarray:
        """Append new labels cut from ``origin_label`` (label positions); returns their positions."""
        k = len(geoms)
        first = len(self.geoms)
        origin_label = np.asarray(origin_label, dtype=np.intp)
        self.geoms = np.concatenate([self.geoms, np.asarray(geoms, dtype=object)])
        self.origin = np.concatenate([self.origin, self.origin[origin_label]])
        self.zone = np.concatenate([self.zone, self.zone[origin_label]])
        self.kept = np.concatenate([self.kept, np.zeros(k, dtype=bool)])
        self.touched = np.concatenate([self.touched, np.ones(k, dtype=bool)])
        self.role = np.concatenate([self.role, np.asarray(role, dtype=np.intp)])
        self.own = np.concatenate([self.own, np.full(k, EMPTY, dtype=object)])
        self.load = np.concatenate([self.load, np.asarray(load, dtype=float)])
        self.note = np.concatenate([self.note, np.full(k, "", dtype=object) if note is None else np.asarray(note, dtype=object)])
        return np.arange(first, first + k)


def apply_plan(layout: Layout, plan: Plan, problem: Problem) -> None:
    """Rebuild the grids a plan touches (in place), cut tiles into strips and settle loose land."""
    n_l = plan.n_labels
    capacity = problem.capacity
    new = layout.add(np.full(len(plan.new_origin), EMPTY, dtype=object), plan.new_origin,
                     plan.new_compound, np.zeros(len(plan.new_origin)))
    assert len(new) == 0 or new[0] == n_l
    layout.role[plan.anchors] = plan.anchor_compound
    atoms, owner, at = plan.atoms, plan.atom_owner, plan.atom_label
    # Kept grids are never rebuilt: their atoms stay with them (plan guarantees it).
    with_atoms = np.unique(at[~layout.kept[at]])
    rebuilt = np.unique(np.r_[with_atoms, owner, plan.anchors]).astype(np.intp)
    rebuilt = rebuilt[~layout.kept[rebuilt]]
    # Cores: each grid with atoms less them. A grid that becomes a tile releases its core.
    on = ~layout.kept[at]
    cover = grouped_union(atoms[on], np.searchsorted(with_atoms, at[on]), len(with_atoms), grid_size=PRECISION)
    cores = polygons_only(shapely.difference(layout.geoms[with_atoms], cover, grid_size=PRECISION))
    released = _released(layout, plan, problem, with_atoms, cores)
    loose, loose_idx = shapely.get_parts(cores[released], return_index=True)
    loose_from = with_atoms[released][loose_idx]
    core_owner = with_atoms.copy()
    for src, dst in (plan.core_owner or {}).items():
        # A swap: the compound became this grid; the rest of it joins the other grid.
        core_owner[with_atoms == src] = dst
    # A grid that only receives (a planner placed a bordering compound in it) keeps all its land.
    receiving = np.setdiff1d(rebuilt[rebuilt < n_l], np.r_[with_atoms, plan.anchors]).astype(np.intp)
    pieces = np.concatenate([cores[~released], layout.geoms[receiving], atoms[on]])
    piece_owner = np.concatenate([core_owner[~released], receiving, owner[on]])
    geoms = grouped_union(pieces, np.searchsorted(rebuilt, piece_owner), len(rebuilt), grid_size=PRECISION)
    layout.geoms[rebuilt] = polygons_only(geoms)
    layout.touched[rebuilt] = True
    if capacity:
        # Loads follow the atoms (households are additive over pieces of land): out of the grid
        # they were in, into the one they go to; a released core takes its households along.
        hh = np.nan_to_num(plan.atom_hh)
        np.subtract.at(layout.load, at, hh)
        np.add.at(layout.load, owner, hh)
        np.subtract.at(layout.load, loose_from, problem.households.of(loose))
        for src, dst in (plan.core_owner or {}).items():
            moved = float(problem.households.of(cores[with_atoms == src]).sum())
            layout.load[src] -= moved
            layout.load[dst] += moved
        _cut_strips(layout, problem, np.r_[plan.anchors, new].astype(np.intp))
    settle(layout, problem, loose, loose_from)


def _released(layout: Layout, plan: Plan, problem: Problem, with_atoms: np.ndarray, cores: np.ndarray) -> np.ndarray:
    """Which grids with atoms give up their core: tiles whose core would keep them from nesting in
    their compound, or that holds another compound. A tile already nesting keeps its open land
    (area moved is minimised after households)."""
    released = np.isin(with_atoms, plan.anchors)
    r = np.flatnonzero(released)
    if not len(r):
        return released
    lab = with_atoms[r]
    comp = layout.role[lab]
    inside = np.bincount(plan.atom_owner, weights=shapely.area(plan.atoms), minlength=len(layout.geoms))[lab]
    core_area = shapely.area(cores[r])
    tile_area = inside + core_area
    t = overlap_table(problem.C, cores[r])
    t = t[(t.compound.to_numpy() != comp[t.grid.to_numpy()]) & (t.overlap_m2.to_numpy() > NOISE_M2)]
    c_area = shapely.area(problem.C[t.compound.to_numpy()])
    sig = ((t.overlap_m2.to_numpy() >= problem.sliver * c_area)
           | (t.overlap_m2.to_numpy() >= problem.sliver * tile_area[t.grid.to_numpy()]))
    holds_other = np.bincount(t.grid.to_numpy()[sig], minlength=len(r)) > 0
    # A margin over the nesting share: strips cut later share the core out unevenly.
    nests = inside >= (problem.nest + 0.05) * tile_area
    released[r[nests & ~holds_other]] = False
    return released


def _cut_strips(layout: Layout, problem: Problem, tiles: np.ndarray) -> None:
    """Cut tiles over the household maximum into strips of equal households; the strip holding
    most of the tile's own old ground keeps its id."""
    if not len(tiles):
        return
    k = strips_needed(layout.load[tiles], problem.low, problem.high)
    big = tiles[k >= 2]
    if not len(big):
        return
    # Strips of equal households (households are not spread evenly over a tile that keeps open land).
    strips, strip_of = equal_area_strips(layout.geoms[big], k[k >= 2], steps=16,
                                         measure=problem.households.of)
    own = layout.own[big][strip_of]
    shared = shapely.area(shapely.intersection(strips, own, grid_size=PRECISION))
    order = np.lexsort((np.arange(len(strips)), -shared, strip_of))
    first = np.zeros(len(strips), dtype=bool)
    first[order[np.r_[True, strip_of[order][1:] != strip_of[order][:-1]]]] = True
    layout.geoms[big[strip_of[first]]] = strips[first]
    extra = ~first
    hh = problem.households.of(strips)
    layout.load[big[strip_of[first]]] = hh[first]
    layout.add(strips[extra], big[strip_of[extra]], layout.role[big[strip_of[extra]]], hh[extra])


def settle(layout: Layout, problem: Problem, loose: np.ndarray, loose_from: np.ndarray, rounds: int = 4) -> None:
    """Give every loose piece a grid and make every rebuilt grid one piece (see the module)."""
    for round_ in range(rounds):
        rebuilt = np.flatnonzero(layout.touched & layout.alive)
        # A grid keeps the part holding most of its own old ground; what it received with a
        # compound goes with that compound if it came apart from it.
        main, rest, rest_of = largest_part(layout.geoms[rebuilt], _ground(layout, problem, rebuilt))
        # Parts a hair's breadth from the main one (overlays of edges digitised apart) are not
        # cut off: snapped onto it, they make one piece with it.
        near = shapely.dwithin(rest, main[rest_of], TOUCH_M) if len(rest) else np.zeros(0, dtype=bool)
        if near.any():
            snapped = off_others(layout, shapely.snap(rest[near], main[rest_of[near]], TOUCH_M), rebuilt[rest_of[near]])
            groups = np.r_[np.arange(len(main)), rest_of[near]]
            merged = polygons_only(grouped_union(np.r_[main, snapped], groups, len(main), grid_size=PRECISION))
            whole = shapely.get_num_geometries(merged) == 1
            main = np.where(whole, merged, main)
            keep_apart = ~near | ~whole[rest_of]
            rest, rest_of = rest[keep_apart], rest_of[keep_apart]
        layout.geoms[rebuilt] = main
        cut_from = rebuilt[rest_of]
        loose = np.concatenate([loose, rest])
        loose_from = np.concatenate([loose_from, cut_from]).astype(np.intp)
        if problem.capacity and len(rest):
            np.subtract.at(layout.load, cut_from, problem.households.of(rest))
        if not len(loose):
            break
        # The last round joins nothing (a piece that keeps coming apart becomes a grid).
        place(layout, problem, loose, loose_from, join=round_ < rounds - 1)
        loose = np.empty(0, dtype=object)
        loose_from = np.empty(0, dtype=np.intp)
    _dissolve_emptied(layout, problem)
    if problem.capacity:
        _repair_range(layout, problem)


def _ground(layout: Layout, problem: Problem, labels: np.ndarray) -> np.ndarray:
    """Per label, the land whose part it keeps when it comes apart: its own old ground, but for a
    grid a planner placed compounds in, those compounds (where it holds them).

    Other compounds leaving a grid (another edit among them) can cut it in two, its placed compound
    on the smaller side of its old ground: keeping the old ground would give that compound's land
    away (to a neighbour, as a loose piece) and the edit would never hold, round after round. The
    grid named in the edit goes with the compound; the rest of its old ground is settled as loose land.
    """
    ground = layout.own[labels].copy()
    if problem.fixed is None:
        return ground
    edited = np.flatnonzero(problem.fixed >= 0)
    for k in np.flatnonzero(np.isin(labels, problem.fixed[edited])):
        placed = shapely.union_all(problem.C[edited[problem.fixed[edited] == labels[k]]], grid_size=PRECISION)
        if shapely.area(shapely.intersection(placed, layout.geoms[labels[k]], grid_size=PRECISION)) > NOISE_M2:
            ground[k] = placed
    return ground


def place(layout: Layout, problem: Problem, loose: np.ndarray, loose_from: np.ndarray, *, join: bool = True,
          must_fit: np.ndarray | None = None) -> np.ndarray:
    """Make loose pieces new grids or join them to a neighbour (see the module).

    ``must_fit`` pieces (whole grids being dissolved) only join a neighbour with room and are
    otherwise given back (returned True).
    """
    n = len(loose)
    given_back = np.zeros(n, dtype=bool)
    if not n:
        return given_back
    must_fit = np.zeros(n, dtype=bool) if must_fit is None else must_fit
    geoms = layout.geoms
    area = shapely.area(loose)
    noise = area <= NOISE_M2
    capacity = problem.capacity
    hh = problem.households.of(loose) if capacity else np.zeros(n)
    C = problem.C
    held = overlap_table(C, loose)
    held = held[held.overlap_m2 > NOISE_M2]
    zone = layout.zone[loose_from]

    alive = np.flatnonzero(layout.alive)
    tree = shapely.STRtree(geoms[alive])
    p, q = tree.query(loose, predicate="dwithin", distance=TOUCH_M)
    q = alive[q]
    base = (layout.zone[q] == zone[p]) & ~layout.kept[q] & (q != loose_from[p]) & ~noise[p]
    p, q = p[base], q[base]
    border = shared_border(loose[p], geoms[q])
    p, q, border = p[border > 0], q[border > 0], border[border > 0]
    mf = must_fit[p]
    if mf.any():
        # A grid being dissolved is placed after settle's loop: nothing would cut it off again
        # from a grid it meets at a corner only. It joins only a grid it makes one piece with.
        joined = polygons_only(shapely.union(shapely.snap(loose[p[mf]], geoms[q[mf]], TOUCH_M), geoms[q[mf]],
                                             grid_size=PRECISION))
        one = np.ones(len(p), dtype=bool)
        one[mf] = shapely.get_num_geometries(joined) == 1
        p, q, border = p[one], q[one], border[one]
    role = layout.role[q]
    # A tile takes only land of its own compound; a grid nesting in a large compound none.
    inside_own = np.zeros(len(p), dtype=bool)
    tile = role >= 0
    if tile.any():
        within = shapely.area(shapely.intersection(loose[p[tile]], C[role[tile]], grid_size=PRECISION))
        inside_own[tile] = within >= 0.99 * area[p[tile]]
    normal = (role == FREE) | inside_own
    pairs = pd.DataFrame({"piece": p, "grid": q, "border": border, "normal": normal})
    pairs["kin"] = _kinship(pairs, held, C, geoms)
    load = np.nan_to_num(layout.load[q])
    pairs["fits"] = (hh[p] <= 0.5) | ~np.isfinite(layout.load[q]) | (load + hh[p] <= problem.high + 1e-9)
    fitting = pairs[pairs.normal & (pairs.fits | ~must_fit[pairs.piece.to_numpy()])]
    best = fitting.sort_values(["kin", "fits", "border", "grid"], ascending=[False, False, False, True]) \
        .drop_duplicates("piece")
    target = np.full(n, -1, dtype=np.intp)
    target[best.piece.to_numpy()] = best.grid.to_numpy()
    kin = np.zeros(n)
    kin[best.piece.to_numpy()] = best.kin.to_numpy()
    own_grid = capacity & (hh >= problem.low) & (kin <= NOISE_M2) & ~noise & ~must_fit
    target[own_grid] = -1
    if not join:
        target[:] = -1
    # Pieces under the minimum with no usual neighbour: a tile, or a grid nesting in a large
    # compound, that still nests in it once it has taken the piece (rather than a small new grid).
    fallback = (target < 0) & ~noise & ~own_grid & join & ~must_fit
    if fallback.any():
        other = pairs[fallback[pairs.piece.to_numpy()] & ~pairs.normal]
        if len(other):
            grids = np.unique(other.grid.to_numpy())
            t = overlap_table(C, geoms[grids])
            most = np.zeros(len(grids))
            np.maximum.at(most, t.grid.to_numpy(), t.overlap_m2.to_numpy())
            inside = pd.Series(most, index=grids).reindex(other.grid).to_numpy()
            total = shapely.area(geoms[other.grid.to_numpy()]) + area[other.piece.to_numpy()]
            other = other[inside >= (problem.nest + 0.02) * total]
            other = other.sort_values(["border", "grid"], ascending=[False, True]).drop_duplicates("piece")
            target[other.piece.to_numpy()] = other.grid.to_numpy()
    # Land no grid of its community can take whole (its neighbours are tiles of large compounds):
    # shared out among the neighbouring tiles as far as each still nests in its compound, so that
    # no grid under the minimum (or without households) is made for it.
    share = np.flatnonzero((target < 0) & ((hh <= 0.5) | ~must_fit) & ~noise & ~own_grid & join)
    extra_pieces, extra_target = [], []
    shared_out = np.zeros(n, dtype=bool)
    if len(share):
        done, parts, owners = _share_out(layout, problem, loose[share], loose_from[share], must_fit[share])
        if len(parts):
            extra_pieces, extra_target = parts, owners
            loose = loose.copy()
            loose[share[done]] = EMPTY
            shared_out[share[done]] = True
            noise = noise | (shapely.area(loose) <= NOISE_M2)
    given_back = (target < 0) & must_fit & ~shared_out
    joining = target >= 0
    making = ~joining & ~noise & ~given_back
    if noise.any():
        log.debug("dropped %d noise pieces (%.4f m² in all)", noise.sum(), area[noise].sum())
    empty_new = making & (hh <= 0.5) & capacity
    note = np.where(empty_new, "no_households_one_piece", "")
    layout.add(loose[making], loose_from[making], np.full(making.sum(), FREE), hh[making], note[making])
    if len(extra_pieces):
        loose = np.concatenate([loose, extra_pieces])
        target = np.concatenate([target, extra_target])
        hh = np.concatenate([hh, np.zeros(len(extra_pieces))])
        joining = np.concatenate([joining, np.ones(len(extra_pieces), dtype=bool)])
    receivers = np.unique(target[joining])
    if len(receivers):
        # Neighbours digitised apart can leave a hair's-breadth gap along their border: snap the
        # piece onto the grid it joins, so that the union is one piece.
        snapped = shapely.snap(loose[joining], layout.geoms[target[joining]], TOUCH_M)
        bad = ~shapely.is_valid(snapped)
        snapped[bad] = polygons_only(shapely.make_valid(snapped[bad]))
        snapped = off_others(layout, snapped, target[joining])
        members = np.concatenate([layout.geoms[receivers], snapped])
        groups = np.concatenate([np.arange(len(receivers)), np.searchsorted(receivers, target[joining])])
        layout.geoms[receivers] = polygons_only(grouped_union(members, groups, len(receivers), grid_size=PRECISION))
        layout.touched[receivers] = True
        np.add.at(layout.load, target[joining], hh[joining])
    return given_back


def off_others(layout: Layout, pieces: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """The pieces less any land of a grid other than the one each joins.

    Snapping a piece onto the grid it joins moves its vertices by up to ``TOUCH_M``; where it
    also borders a third grid (a compound placed there by a planner, next to the land its old
    grid gives up), a vertex can move onto that grid's land: the sliver is cut off again.
    """
    alive = np.flatnonzero(layout.alive)
    if not len(pieces) or not len(alive):
        return pieces
    p, q = shapely.STRtree(layout.geoms[alive]).query(pieces, predicate="intersects")
    q = alive[q]
    other = q != owner[p]
    p, q = p[other], q[other]
    if len(p):
        meet = ~shapely.touches(pieces[p], layout.geoms[q])
        p, q = p[meet], q[meet]
    if not len(p):
        return pieces
    hit = np.unique(p)
    cover = grouped_union(layout.geoms[q], np.searchsorted(hit, p), len(hit), grid_size=PRECISION)
    out = pieces.copy()
    out[hit] = polygons_only(shapely.difference(pieces[hit], cover, grid_size=PRECISION))
    return out


def _share_out(layout: Layout, problem: Problem, pieces: np.ndarray, piece_from: np.ndarray,
               whole: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut open-land pieces among neighbouring tiles (and grids nesting in a large compound) of
    their community, each taking the land nearest to it up to what keeps it nesting in its compound.

    Returns which pieces were wholly shared out, and the parts with the grid each joins. Pieces
    that cannot be shared out wholly are left as they were (they become grids of their own).
    ``whole`` pieces (grids being dissolved, after settle's loop) give each grid only parts that
    make one piece with it.
    """
    whole = np.zeros(len(pieces), dtype=bool) if whole is None else whole
    geoms = layout.geoms
    alive = np.flatnonzero(layout.alive)
    p, q = shapely.STRtree(geoms[alive]).query(pieces, predicate="dwithin", distance=TOUCH_M)
    q = alive[q]
    ok = (layout.zone[q] == layout.zone[piece_from[p]]) & ~layout.kept[q]
    p, q = p[ok], q[ok]
    done = np.zeros(len(pieces), dtype=bool)
    out_parts, out_owner = [], []
    if not len(p):
        return done, np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
    grids = np.unique(q)
    t = overlap_table(problem.C, geoms[grids])
    inside = np.zeros(len(grids))
    np.maximum.at(inside, t.grid.to_numpy(), t.overlap_m2.to_numpy())
    room = inside / (problem.nest + 0.05) - shapely.area(geoms[grids])
    room = pd.Series(np.maximum(room, 0.0), index=grids)
    for k in np.unique(p):
        piece = pieces[k]
        left = piece
        parts, owners = [], []
        cands = q[p == k]
        # A grid's reach: its land and the parts of this piece it took so far.
        reach = {g: geoms[g] for g in cands}
        while True:
            grew = False
            for g in sorted(cands, key=lambda g: -room[g]):
                if shapely.area(left) <= NOISE_M2:
                    break
                allow = room[g]
                if allow <= NOISE_M2:
                    continue
                near = _nearest_part(left, reach[g], allow)
                if whole[k]:
                    # The land nearest a grid need not join it (the grid meets the piece at a
                    # corner only; the land next to it went to a grid before it; what is left is
                    # handed over whole). A loose piece's part apart from its grid is cut off
                    # again in settle's next round, but a grid being dissolved is shared out
                    # after that loop: a grid takes only the parts that make one piece with it
                    # (and, grown by them, may take more while land is left).
                    near = _joining(near, reach[g])
                if shapely.area(near) <= NOISE_M2:
                    continue
                parts.append(near)
                owners.append(g)
                room[g] -= shapely.area(near)
                left = polygons_only(np.array([shapely.difference(left, near, grid_size=PRECISION)]))[0]
                if whole[k]:
                    reach[g] = shapely.union(reach[g], near, grid_size=PRECISION)
                    grew = True
            if not grew or shapely.area(left) <= NOISE_M2:
                break
        if shapely.area(left) <= NOISE_M2 and parts:
            done[k] = True
            out_parts += parts
            out_owner += owners
    return done, np.array(out_parts, dtype=object), np.array(out_owner, dtype=np.intp)


def _joining(part, grid):
    """The polygons of ``part`` that make one piece with ``grid`` (snapped onto it, as ``place``
    joins them): not those meeting it at a point only or lying apart from it."""
    polys = shapely.get_parts(polygons_only(np.array([part])))
    if not len(polys):
        return shapely.Polygon()
    snapped = shapely.snap(polys, grid, TOUCH_M)
    joined = polygons_only(shapely.union(snapped, grid, grid_size=PRECISION))
    one = shapely.get_num_geometries(joined) == 1
    return shapely.union_all(polys[one], grid_size=PRECISION) if one.any() else shapely.Polygon()


def _nearest_part(piece, grid, area: float, steps: int = 30):
    """The part of ``piece`` within some distance of ``grid``, as large as ``area`` at most."""
    if shapely.area(piece) <= area:
        return piece
    lo, hi = 0.0, float(np.hypot(*np.subtract(*np.reshape(shapely.bounds(piece), (2, 2)))))
    best = shapely.Polygon()
    for _ in range(steps):
        mid = (lo + hi) / 2
        part = polygons_only(np.array([shapely.intersection(piece, shapely.buffer(grid, mid, quad_segs=4),
                                                            grid_size=PRECISION)]))[0]
        if shapely.area(part) <= area:
            lo, best = mid, part
        else:
            hi = mid
    return best


def _kinship(pairs: pd.DataFrame, held: pd.DataFrame, C: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """For each (piece, grid) pair, the area (m²) of the piece's compounds that the grid also holds."""
    kin = np.zeros(len(pairs))
    if not len(pairs) or not len(held):
        return kin
    joined = pairs.reset_index().merge(held[["grid", "compound", "overlap_m2"]]
                                       .rename(columns={"grid": "piece"}), on="piece")
    if not len(joined):
        return kin
    inside = shapely.area(shapely.intersection(C[joined.compound.to_numpy()],
                                               geoms[joined.grid.to_numpy()], grid_size=PRECISION))
    joined["kin"] = np.where(inside > NOISE_M2, joined.overlap_m2.to_numpy(), 0.0)
    per_pair = joined.groupby("index").kin.sum()
    kin[per_pair.index.to_numpy()] = per_pair.to_numpy()
    return kin


def _dissolve(layout: Layout, problem: Problem, labels: np.ndarray) -> int:
    """Give whole grids to neighbours with room; those with nowhere to go are given back."""
    if not len(labels):
        return 0
    geoms = layout.geoms[labels].copy()
    load = layout.load[labels].copy()
    layout.geoms[labels] = EMPTY
    layout.load[labels] = 0.0
    # A dissolved grid's land goes the way of any loose piece; new grids are not made of it.
    back = place(layout, problem, geoms, labels, must_fit=np.ones(len(labels), dtype=bool))
    layout.geoms[labels[back]] = geoms[back]
    layout.load[labels[back]] = load[back]
    return int((~back).sum())


def _dissolve_emptied(layout: Layout, problem: Problem) -> None:
    """Grids that had households and were left with none are dissolved into their neighbours."""
    if not problem.capacity:
        return
    n_g = layout.n_g
    before = problem.households.before
    cand = np.flatnonzero(layout.touched[:n_g] & layout.alive[:n_g] & ~layout.kept[:n_g]
                          & (layout.role[:n_g] == FREE) & (np.nan_to_num(before) >= 0.5)
                          & (layout.load[:n_g] < 0.5) & ~problem.protected(n_g))
    for _ in range(3):
        # Again while some go: a grid whose only neighbour was dissolved with it may now have one.
        cand = cand[layout.alive[cand]]
        if not len(cand) or not _dissolve(layout, problem, cand):
            break
        log.info("dissolved grids left without households")


def _repair_range(layout: Layout, problem: Problem) -> None:
    """Where a community has more grids outside the range than before, dissolve its smallest
    rebuilt grids under the minimum into neighbours with room (fewest households moved first)."""
    for _ in range(3):
        alive = layout.alive
        load = layout.load
        out = alive & np.isfinite(load) & ((load < problem.low - 1e-9) | (load > problem.high + 1e-9))
        counts = np.bincount(layout.zone[out], minlength=len(problem.zones.labels))
        ref = np.array([problem.reference.get(z, 0) for z in range(len(counts))])
        excess = counts - ref
        if (excess <= 0).all():
            return
        # Only grids the alignment took under the minimum (new ones, or ones that were not under
        # it before): a grid that was small before is not the alignment's to merge away.
        was = np.r_[problem.households.before, np.full(len(load) - layout.n_g, np.inf)]
        cand = np.flatnonzero(alive & layout.touched & ~layout.kept & (layout.role == FREE)
                              & (load < problem.low) & (np.nan_to_num(was, nan=-1) >= problem.low)
                              & (excess[layout.zone] > 0) & ~problem.protected(len(load)))
        if not len(cand):
            return
        cand = cand[np.argsort(load[cand], kind="stable")]
        rank = pd.Series(np.arange(len(cand))).groupby(layout.zone[cand]).cumcount().to_numpy()
        cand = cand[rank < excess[layout.zone[cand]]]
        if not _dissolve(layout, problem, cand):
            return
