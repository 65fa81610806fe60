"""Steps 3–5 of the micro-grid algorithm: small pieces merged, cut buildings handed over, strays
joined to a neighbour."""

from __future__ import annotations

import heapq
import logging

import numpy as np
import pandas as pd
import shapely

from gridmap.microgrids.cut import adjacency, polygonal

log = logging.getLogger(__name__)

def merge_small(leaf_geom: np.ndarray, leaf_grid: np.ndarray, b_leaf: np.ndarray, hh: np.ndarray,
                households_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join pieces under MIN households to a neighbour of their grid while the sum stays ≤ MAX.

    The smallest piece goes first, to the neighbour with the longest shared border among those
    it fits with. A piece without households joins its longest-border neighbour whatever the sum
    if it fits with none (a micro-grid nobody lives in needs no worker).
    """
    lo, hi = households_range
    total = np.bincount(b_leaf, weights=hh, minlength=len(leaf_geom))
    small = np.flatnonzero(total < max(lo, 1e-9) if lo > 0 else total == 0)
    if not len(small):
        return leaf_geom, leaf_grid, b_leaf
    adj = adjacency(leaf_geom, leaf_grid, small)
    adj = pd.concat([adj, _islands(leaf_geom, leaf_grid, np.setdiff1d(small, np.r_[adj.a, adj.b]))])
    neighbours: dict[int, dict[int, float]] = {}
    for a, b, length in zip(adj.a.to_numpy(), adj.b.to_numpy(), adj.border.to_numpy()):
        neighbours.setdefault(int(a), {})[int(b)] = float(length)
        neighbours.setdefault(int(b), {})[int(a)] = float(length)
    parent = np.arange(len(leaf_geom))
    size = total.copy()
    heap = [(float(total[i]), int(i)) for i in small]
    heapq.heapify(heap)
    while heap:
        h, g = heapq.heappop(heap)
        if parent[g] != g or size[g] != h or (h >= lo and h > 0):
            continue
        near = neighbours.get(g, {})
        fits = [(length, -size[o], o) for o, length in near.items() if size[o] + h <= hi]
        if not fits and h == 0:
            fits = [(length, -size[o], o) for o, length in near.items()]
        if not fits:
            continue
        _score, _size, other = max(fits)
        # Keep the larger group's id as root: fewer neighbour lists to rewrite.
        root, gone = (other, g) if len(neighbours.get(other, {})) >= len(near) else (g, other)
        parent[gone] = root
        size[root] = size[g] + size[other]
        merged = neighbours.setdefault(root, {})
        for o, length in neighbours.pop(gone, {}).items():
            if o in (root, gone):
                continue
            merged[o] = merged.get(o, 0.0) + length
            nb = neighbours.setdefault(o, {})
            nb[root] = nb.get(root, 0.0) + nb.pop(gone, 0.0)
        merged.pop(gone, None)
        merged.pop(root, None)
        if size[root] < lo or size[root] == 0:
            heapq.heappush(heap, (float(size[root]), int(root)))
    root = _find_all(parent)
    if np.array_equal(root, np.arange(len(root))):
        return leaf_geom, leaf_grid, b_leaf
    return _regroup(leaf_geom, leaf_grid, b_leaf, root)


def _islands(geom: np.ndarray, grid: np.ndarray, lonely: np.ndarray) -> pd.DataFrame:
    """Pieces sharing no border with their grid's others (islands of a multipart grid): links to
    every other piece of the grid, weighted by minus the distance, so that a real border always
    wins and the nearest island comes next."""
    if not len(lonely):
        return pd.DataFrame({"a": [], "b": [], "border": []})
    order = np.argsort(grid, kind="stable")
    first = np.searchsorted(grid[order], grid[lonely], side="left")
    last = np.searchsorted(grid[order], grid[lonely], side="right")
    reps = last - first
    a = np.repeat(lonely, reps)
    b = order[np.repeat(first, reps) + np.arange(reps.sum()) - np.repeat(np.r_[0, np.cumsum(reps)[:-1]], reps)]
    keep = a != b
    a, b = a[keep], b[keep]
    return pd.DataFrame({"a": a, "b": b, "border": -1.0 - shapely.distance(geom[a], geom[b])})


def union_groups(geoms: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Union of ``geoms`` per group 0..n-1 (an empty collection where a group has none).

    Groups are laid out as rows of a 2D array and united in one vectorised call; the few large
    groups are united one by one so that the array stays small.
    """
    group = np.asarray(group, dtype=np.int64)
    out = np.array([shapely.GeometryCollection()] * n, dtype=object)
    if not len(group):
        return out
    counts = np.bincount(group, minlength=n)
    width = 64
    small = counts[group] <= width
    order = np.argsort(group[small], kind="stable")
    g = group[small][order]
    if len(g):
        start = np.r_[0, np.cumsum(np.bincount(g, minlength=n))[:-1]]
        rows, inverse = np.unique(g, return_inverse=True)
        table = np.full((len(rows), min(width, counts[rows].max())), None, dtype=object)
        table[inverse, np.arange(len(g)) - start[g]] = geoms[small][order]
        out[rows] = shapely.union_all(table, axis=1)
    for big in np.flatnonzero(counts > width):
        out[big] = shapely.union_all(geoms[group == big])
    return out


def _find_all(parent: np.ndarray) -> np.ndarray:
    root = parent.copy()
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def _regroup(leaf_geom, leaf_grid, b_leaf, root) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union the pieces sharing a root; renumber densely."""
    keys, new = np.unique(root, return_inverse=True)
    counts = np.bincount(new)
    geom = leaf_geom[keys].copy()
    several = counts[new] > 1
    united = union_groups(leaf_geom[several], new[several], len(keys))
    merged = np.flatnonzero(counts > 1)
    geom[merged] = polygonal(united[merged])
    return geom, leaf_grid[keys], new[b_leaf]


def hand_over_buildings(leaf_geom: np.ndarray, leaf_grid: np.ndarray, b_geom: np.ndarray,
                        b_leaf: np.ndarray) -> np.ndarray:
    """Give each piece the whole footprint of the buildings counted in it.

    A cut that had to cross a building leaves part of it in the neighbouring piece; that part
    moves over. Where buildings overlap each other, the first building keeps the shared area.
    Pieces keep tiling their grid: territory only changes hands.
    """
    area = shapely.area(b_geom)
    shapely.prepare(leaf_geom)
    covered = shapely.covers(leaf_geom[b_leaf], b_geom) | (area == 0)
    if covered.all():
        return leaf_geom
    out_idx = np.flatnonzero(~covered)
    spill = shapely.area(shapely.difference(b_geom[out_idx], leaf_geom[b_leaf[out_idx]]))
    out_idx = out_idx[spill > 1e-9 * np.maximum(area[out_idx], 1.0)]
    if not len(out_idx):
        return leaf_geom
    foot = b_geom[out_idx].copy()
    # Overlapping footprints: a later building gives up what an earlier one already holds.
    ti, tj = shapely.STRtree(foot).query(foot, predicate="overlaps")
    later = tj > ti
    if later.any():
        pairs = pd.DataFrame({"i": ti[later], "j": tj[later]})
        for j, rows in pairs.groupby("j"):
            foot[j] = polygonal(np.array([shapely.difference(foot[j], shapely.union_all(foot[rows.i.to_numpy()]))],
                                          dtype=object))[0]
    owner = b_leaf[out_idx]
    fi, li = shapely.STRtree(leaf_geom).query(foot, predicate="intersects")
    same = leaf_grid[li] == leaf_grid[owner[fi]]
    fi, li = fi[same], li[same]
    other = owner[fi] != li
    n = len(leaf_geom)
    lose = union_groups(foot[fi[other]], li[other], n)
    gain = union_groups(foot, owner, n)
    touched = np.union1d(li[other], owner)
    geom = leaf_geom.copy()
    kept = shapely.difference(leaf_geom[touched], lose[touched])
    geom[touched] = polygonal(shapely.union(kept, gain[touched]))
    log.info("handed %d building footprints over to their micro-grids", len(out_idx))
    return geom


def merge_strays(leaf_geom: np.ndarray, leaf_grid: np.ndarray, b_geom: np.ndarray, b_leaf: np.ndarray,
                 hh: np.ndarray, households_range: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make every piece one polygon: stray parts join the neighbour with the longest shared border
    (among those that stay within MAX households, if any).

    Strays come from handing building footprints over (a footprint across a narrow neck). The
    part holding most buildings (else the largest) stays; the buildings of a stray part go with
    it. A part with no neighbour in its grid (an island of a multipart grid) stays where it is.
    """
    n_parts = shapely.get_num_geometries(leaf_geom)
    multi = np.flatnonzero(n_parts > 1)
    if not len(multi):
        return leaf_geom, leaf_grid, b_leaf
    parts, owner_pos = shapely.get_parts(leaf_geom[multi], return_index=True)
    owner = multi[owner_pos]
    # Households (here: buildings' footprint area as a tie-break) per part.
    in_multi = np.flatnonzero(np.isin(b_leaf, multi))
    point = shapely.point_on_surface(b_geom[in_multi])
    pi, bi = shapely.STRtree(point).query(parts, predicate="intersects")
    mine = b_leaf[in_multi[bi]] == owner[pi]
    pi, bi = pi[mine], bi[mine]
    n_b = np.bincount(pi, minlength=len(parts))
    weight = n_b * 1e12 + shapely.area(parts)
    frame = pd.DataFrame({"owner": owner, "w": weight, "part": np.arange(len(parts))})
    main = frame.sort_values(["owner", "w"], ascending=[True, False]).drop_duplicates("owner").part.to_numpy()
    stray = np.setdiff1d(np.arange(len(parts)), main)
    geom = leaf_geom.copy()
    geom[owner[main]] = parts[main]
    # Neighbours among the main bodies of all pieces.
    si, li = shapely.STRtree(geom).query(parts[stray], predicate="intersects")
    ok = (li != owner[stray[si]]) & (leaf_grid[li] == leaf_grid[owner[stray[si]]])
    si, li = si[ok], li[ok]
    border = shapely.length(shapely.intersection(parts[stray[si]], geom[li]))
    part_hh = np.bincount(pi, weights=hh[in_multi[bi]], minlength=len(parts))
    total = np.bincount(b_leaf, weights=hh, minlength=len(leaf_geom))
    fits = total[li] + part_hh[stray[si]] <= households_range[1]
    cand = pd.DataFrame({"s": si, "leaf": li, "border": border, "fits": fits})
    cand = cand[cand.border > 0].sort_values(["s", "fits", "border"], ascending=[True, False, False])
    cand = cand.drop_duplicates("s")
    target = np.full(len(stray), -1, dtype=np.int64)
    target[cand.s.to_numpy()] = cand.leaf.to_numpy()
    # A stray holding part of a building of its own piece (a building across two islands of a
    # multipart grid) stays: the building must lie inside its micro-grid.
    ps, pb = shapely.STRtree(b_geom[in_multi]).query(parts[stray], predicate="intersects")
    own = b_leaf[in_multi[pb]] == owner[stray[ps]]
    ps, pb = ps[own], pb[own]
    shared = shapely.area(shapely.intersection(parts[stray[ps]], b_geom[in_multi[pb]]))
    whole = shapely.area(b_geom[in_multi[pb]])
    pinned = (shared > 1e-9 * whole) & (shared < whole * (1 - 1e-9))
    target[ps[pinned]] = -1
    # Strays with nowhere to go stay with their piece.
    target[target < 0] = owner[stray[target < 0]]
    gain = union_groups(parts[stray], target, len(geom))
    hit = np.unique(target)
    geom[hit] = polygonal(shapely.union(geom[hit], gain[hit]))
    b_new = b_leaf.copy()
    moves = stray[target != owner[stray]]
    if len(moves):
        home = owner.copy()
        home[stray] = target
        b_new[in_multi[bi]] = home[pi]
        carried = int((n_b[moves] > 0).sum())
        log.info("%d stray parts joined a neighbouring micro-grid, %d of them with buildings "
                 "(one piece comes before the household range)", len(moves), carried)
    left = int((shapely.get_num_geometries(geom) > 1).sum())
    if left:
        log.info("%d micro-grids stay in several parts (their grid is)", left)
    return geom, leaf_grid, b_new


