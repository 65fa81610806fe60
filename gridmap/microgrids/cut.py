"""Step 2 of the micro-grid algorithm: recursive coordinate bisection of all grids at once."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely

from gridmap.validate import polygonal_part

log = logging.getLogger(__name__)

#: A cut passing between buildings is taken over one crossing a building when its household
#: split is off the ideal by at most this share of one micro-grid's households.
CLEAN_TOLERANCE = 0.5


def _choose_k(total: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """How many micro-grids a piece of ``total`` households should become."""
    target = (lo + hi) / 2
    fewest = np.ceil(total / hi)
    most = np.maximum(np.floor(total / max(lo, 1)), 1) if lo > 0 else np.maximum(fewest, 1)
    k = np.clip(np.round(total / target), fewest, np.maximum(most, fewest))
    return np.maximum(k, 1)


def bisect(pieces: np.ndarray, piece_grid: np.ndarray, b_geom: np.ndarray, hh: np.ndarray,
           b_piece: np.ndarray, households_range: tuple[int, int]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut pieces by recursive coordinate bisection until each holds at most MAX households.

    All pieces are cut level by level: one round of array operations per level, not per piece.
    A piece with one building (or buildings on one spot) is not cut further. A straight cut
    through a non-convex piece can leave a side in several parts; each part goes on as a piece of
    its own, and a cut that would leave a part under MIN is swapped for the next best one (up to
    ``CUT_TRIES`` cuts per piece).

    Returns
    -------
    leaf_geom, leaf_grid : arrays
        The resulting pieces and their grid positions.
    b_leaf : int array
        The piece of each building.
    """
    lo, hi = households_range
    bounds = shapely.bounds(b_geom)
    cxy = shapely.get_coordinates(shapely.centroid(b_geom))
    b_lo, b_hi = bounds[:, :2], bounds[:, 2:]
    rep = shapely.point_on_surface(b_geom)

    leaf_geom: list[np.ndarray] = []
    leaf_grid: list[np.ndarray] = []
    b_leaf = np.full(len(b_geom), -1, dtype=np.int64)
    n_leaves = 0
    geom, grid = np.asarray(pieces, dtype=object), np.asarray(piece_grid)
    members = np.arange(len(b_geom))
    where = np.asarray(b_piece)
    # A multipart grid that needs cutting is cut part by part; one that does not stays whole.
    total = np.bincount(where, weights=hh[members], minlength=len(geom))
    geom, counts, where = _explode(geom, members, where, rep, only=total > hi)
    grid = np.repeat(grid, counts)
    level = 0
    while len(geom):
        total = np.bincount(where, weights=hh[members], minlength=len(geom))
        count = np.bincount(where, minlength=len(geom))
        split = (total > hi) & (count >= 2)
        cands = None
        if split.any():
            cands = _cut_candidates(geom, split, total, members, where, cxy, b_lo, b_hi, hh, lo, hi)
            split &= cands["n"] > 0
        done = np.flatnonzero(~split)
        ids = np.full(len(geom), -1, dtype=np.int64)
        ids[done] = n_leaves + np.arange(len(done))
        n_leaves += len(done)
        leaf_geom.append(geom[done])
        leaf_grid.append(grid[done])
        finished = ~split[where]
        b_leaf[members[finished]] = ids[where[finished]]
        if not split.any():
            break
        geom, grid, members, where = _cut_level(geom, grid, split, cands, members, where, hh, total, rep, lo)
        level += 1
    log.debug("bisection: %d levels, %d pieces", level, n_leaves)
    return np.concatenate(leaf_geom), np.concatenate(leaf_grid), b_leaf


#: Cuts tried per piece and level before the best one is kept although it leaves a part under MIN.
CUT_TRIES = 4


def _cut_level(geom, grid, split, cands, members, where, hh, total, rep, lo):
    """Cut every piece marked in ``split``; return the new pieces and their buildings."""
    nodes = np.flatnonzero(split)
    rank = np.zeros(len(geom), dtype=np.int64)
    kept: list[tuple] = []
    fallback = None
    pending = nodes
    for attempt in range(CUT_TRIES):
        row = cands["first"][pending] + rank[pending]
        child = _apply_cuts(geom, grid, pending, cands, row, members, where, rep)
        c_geom, c_grid, c_parent, c_members, c_where = child
        h = np.bincount(c_where, weights=hh[c_members], minlength=len(c_geom))
        bad_child = (h > 0) & (h < lo) & (total[c_parent] >= 2 * lo)
        bad = np.zeros(len(geom), dtype=bool)
        bad[c_parent[bad_child]] = True
        kept.append(_children_of(child, ~bad))
        if attempt == 0:
            fallback = child
        retry = bad & (rank + 1 < cands["n_good"])
        retry[np.setdiff1d(np.arange(len(geom)), pending)] = False
        settled_bad = bad & ~retry
        if attempt > 0:
            kept.append(_children_of(fallback, settled_bad))
        elif settled_bad.any():
            kept[-1] = _children_of(child, ~bad | settled_bad)
        pending = np.flatnonzero(retry)
        if not len(pending):
            break
        rank[pending] += 1
    else:
        kept.append(_children_of(fallback, np.isin(np.arange(len(geom)), pending)))
    geoms, grids, mems, wheres = [], [], [], []
    offset = 0
    for c_geom, c_grid, c_members, c_where in kept:
        geoms.append(c_geom)
        grids.append(c_grid)
        mems.append(c_members)
        wheres.append(c_where + offset)
        offset += len(c_geom)
    return np.concatenate(geoms), np.concatenate(grids), np.concatenate(mems), np.concatenate(wheres)


def _apply_cuts(geom, grid, nodes, cands, row, members, where, rep):
    """Cut ``nodes`` with candidate rows ``row``: child pieces (parts of multipart sides apart),
    their grid and parent piece, and the buildings in them with their child piece."""
    axis, at, pos = cands["axis"][row], cands["at"][row], cands["pos"][row]
    local = np.full(len(geom), -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    inside = local[where] >= 0
    mem, node = members[inside], local[where[inside]]
    position = cands["position"][np.flatnonzero(inside)]
    left = position[np.arange(len(mem)), axis[node]] <= pos[node]
    low_box, high_box = _half_planes(geom[nodes], axis, at)
    out = np.empty(2 * len(nodes), dtype=object)
    out[0::2] = polygonal(shapely.intersection(geom[nodes], low_box))
    out[1::2] = polygonal(shapely.intersection(geom[nodes], high_box))
    c_where = 2 * node + (~left).astype(np.int64)
    out, counts, c_where = _explode(out, mem, c_where, rep)
    parent = np.repeat(np.repeat(nodes, 2), counts)
    return out, grid[parent], parent, mem, c_where


def _children_of(child, keep_parent: np.ndarray):
    """The children (and their buildings) of the parents marked in ``keep_parent``."""
    c_geom, c_grid, c_parent, c_members, c_where = child
    keep = keep_parent[c_parent]
    new = np.cumsum(keep) - 1
    mine = keep[c_where]
    return c_geom[keep], c_grid[keep], c_members[mine], new[c_where[mine]]


def _explode(geom: np.ndarray, members: np.ndarray, where: np.ndarray, rep: np.ndarray,
             only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multipart pieces (of ``only``, default all) split into their parts; each building goes to
    the part holding its representative point (the nearest part when a cut crossed it).

    Returns the pieces, how many each input piece became, and each building's new piece."""
    n_parts = shapely.get_num_geometries(geom)
    multi = n_parts > 1
    if only is not None:
        multi &= only
    counts = np.where(multi, n_parts, 1)
    if not multi.any():
        return geom, counts, where
    offset = np.r_[0, np.cumsum(counts)[:-1]]
    out = np.empty(counts.sum(), dtype=object)
    out[offset[~multi]] = geom[~multi]
    parts, own = shapely.get_parts(geom[multi], return_index=True)
    piece = np.flatnonzero(multi)[own]
    local = np.arange(len(parts)) - np.r_[0, np.cumsum(n_parts[multi])[:-1]][own]
    out[offset[piece] + local] = parts
    new_where = offset[where]
    moving = np.flatnonzero(multi[where])
    if len(moving):
        # Every (building, part of its piece) pair: few, since pieces have few parts.
        reps = counts[where[moving]]
        b_pos = np.repeat(moving, reps)
        part = np.repeat(offset[where[moving]], reps) + (np.arange(reps.sum()) - np.repeat(np.r_[0, np.cumsum(reps)[:-1]], reps))
        dist = shapely.distance(rep[members[b_pos]], out[part])
        best = pd.DataFrame({"b": b_pos, "d": dist, "p": part}).sort_values(["b", "d", "p"]).drop_duplicates("b")
        new_where[best.b.to_numpy()] = best.p.to_numpy()
    return out, counts, new_where


def _cut_candidates(geom, split, total, members, where, cxy, b_lo, b_hi, hh, lo, hi) -> dict:
    """Every axis-parallel cut of every piece to split, best first (vectorised).

    A cut after the j-th building along an axis puts the first j+1 buildings (by centre) on the
    low side. It is *clean* when no building straddles it. Scores: distance of the low side's
    households from the ideal share, in units of one micro-grid; +1 for the short axis; +10 for a
    cut that crosses a building or misses the ideal by more than ``CLEAN_TOLERANCE``; +1000 for
    leaving a side under MIN when the piece could give both sides MIN.

    Returns arrays ``node``, ``axis``, ``pos``, ``at`` (sorted by node, then score), per piece
    ``first`` (its first row), ``n`` (its rows) and ``n_good`` (rows without the +1000), and per
    building of ``members`` its ``position`` along each axis within its piece (-1 elsewhere).
    """
    n = len(geom)
    pb = shapely.bounds(geom)
    long_axis = ((pb[:, 3] - pb[:, 1]) > (pb[:, 2] - pb[:, 0])).astype(np.int64)
    k = np.maximum(_choose_k(total, lo, hi), 2)
    share = np.floor(k / 2) / k
    unit = np.where(total > 0, total / k, 1.0)

    inside = split[where]
    mem, node = members[inside], where[inside]
    position = np.full((len(members), 2), -1, dtype=np.int64)
    frames = []
    for axis in (0, 1):
        coord = cxy[mem, axis]
        order = np.lexsort((coord, node))
        nd, cd = node[order], coord[order]
        lo_s, hi_s, h_s = b_lo[mem[order], axis], b_hi[mem[order], axis], hh[mem[order]]
        start = np.r_[True, nd[1:] != nd[:-1]]
        seg = np.cumsum(start) - 1
        first = np.flatnonzero(start)
        pos = np.arange(len(nd)) - first[seg]
        cum = np.cumsum(h_s)
        cum = cum - (cum[first] - h_s[first])[seg]
        run_max = pd.Series(hi_s).groupby(seg).cummax().to_numpy()
        run_min = pd.Series(lo_s[::-1]).groupby(seg[::-1]).cummin().to_numpy()[::-1]
        position[np.flatnonzero(inside)[order], axis] = pos
        j = np.flatnonzero(nd[:-1] == nd[1:])
        p = nd[j]
        low = cum[j]
        separable = cd[j] < cd[j + 1]
        clean = run_max[j] < run_min[j + 1]
        dev = np.abs(low - total[p] * share[p]) / unit[p]
        small = (np.minimum(low, total[p] - low) < lo) & (total[p] >= 2 * lo)
        score = (dev + (axis != long_axis[p]) + 10.0 * ~(clean & (dev <= CLEAN_TOLERANCE))
                 + 1000.0 * small)
        at = np.where(clean, (run_max[j] + run_min[j + 1]) / 2, (cd[j] + cd[j + 1]) / 2)
        keep = separable
        frames.append((p[keep], score[keep], np.full(keep.sum(), axis), pos[j][keep], at[keep]))
    p, score, axis, pos, at = (np.concatenate(x) for x in zip(*frames))
    order = np.lexsort((axis, score, p))
    p, score, axis, pos, at = p[order], score[order], axis[order], pos[order], at[order]
    rows = np.bincount(p, minlength=n)
    good = np.bincount(p, weights=score < 1000, minlength=n).astype(np.int64)
    return {"node": p, "axis": axis, "pos": pos, "at": at, "first": np.r_[0, np.cumsum(rows)[:-1]],
            "n": rows, "n_good": good, "position": position}


def _half_planes(geom: np.ndarray, axis: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes covering each piece below and above its cut line (x = at or y = at)."""
    b = shapely.bounds(geom)
    pad = 1.0 + 0.01 * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    x0, y0, x1, y1 = b[:, 0] - pad, b[:, 1] - pad, b[:, 2] + pad, b[:, 3] + pad
    vertical = axis == 0
    low = shapely.box(x0, y0, np.where(vertical, at, x1), np.where(vertical, y1, at))
    high = shapely.box(np.where(vertical, at, x0), np.where(vertical, y0, at), x1, y1)
    return low, high


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Overlay results with stray lines or points reduced to their polygons."""
    types = shapely.get_type_id(geoms)
    odd = ~np.isin(types, (3, 6))
    if odd.any():
        geoms = geoms.copy()
        geoms[odd] = polygonal_part(geoms[odd])
    return geoms


def adjacency(geom: np.ndarray, grid: np.ndarray, among: np.ndarray | None = None) -> pd.DataFrame:
    """Pairs of pieces of one grid that share a border, with its length (m).

    ``among``: only pairs where the first piece is one of these positions.
    """
    tree = shapely.STRtree(geom)
    query = np.arange(len(geom)) if among is None else np.asarray(among)
    qi, ti = tree.query(geom[query], predicate="intersects")
    a, b = query[qi], ti
    keep = (a != b) & (grid[a] == grid[b])
    a, b = a[keep], b[keep]
    border = shapely.length(shapely.intersection(geom[a], geom[b]))
    share = border > 0
    return pd.DataFrame({"a": a[share], "b": b[share], "border": border[share]})


