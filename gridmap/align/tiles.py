"""Compounds too large for one grid are tiled: covered by grids that each lie inside them.

A compound with more households than a grid's maximum (without household figures: with two or
more grids nesting in it) cannot move into one grid. Its parts in the grids it overlaps
(*units*, one per connected piece) are grouped into tiles:

- units under the household minimum join the neighbouring unit of the same compound they share
  the longest border with, preferring one that stays within the maximum; without figures, units
  in grids that do not nest in the compound join one that does;
- each tile takes the id of a grid it was cut from whose own land is mostly in the compound, or
  whose other land holds fewer than the minimum (*anchors*: their other land is released to
  their neighbours); other tiles are new grids, cut from the grid that gave them most households;
- a tile over the maximum is later cut into ``ceil(households / MAX)`` strips of equal area
  (only when each strip still holds the minimum).

This also settles grids shared by two large compounds: each compound's part of the shared grid
is a unit of its own compound, so the shared grid is split along the compound line, each part
joining a tile of its own compound or becoming one; the shared grid's id goes to the tile it
gives most to, when its other land is too small to stay a grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap.geomops import polygons_only, shared_border

from .problem import TOUCH_M


def merge_units(weight: np.ndarray, anchored: np.ndarray, a: np.ndarray, b: np.ndarray,
                border: np.ndarray, low: float | None, high: float | None,
                sticky: np.ndarray | None = None) -> np.ndarray:
    """Greedy merging of small units into the neighbour with the longest shared border.

    With a minimum (``low``), groups under it, smallest first, join a neighbouring group,
    preferring one whose total stays within ``high``, then the longest border, until no group
    under the minimum has a neighbour; ``sticky`` units (a grid that was already under the
    minimum before, left as it was) do not start a merge, so that its households stay put.
    Without (``low`` None), groups without an anchored unit join a neighbour until every group has
    one or none has a neighbour left. Returns each unit's group representative.
    """
    n = len(weight)
    total = np.asarray(weight, dtype=float).copy()
    fixed = np.asarray(anchored, dtype=bool).copy()
    sticky = np.zeros(n, dtype=bool) if sticky is None else np.asarray(sticky, dtype=bool).copy()
    parent = np.arange(n)
    nb: list[dict[int, float]] = [{} for _ in range(n)]
    for i, j, length in zip(a.tolist(), b.tolist(), border.tolist()):
        if length > 0 and i != j:
            nb[i][j] = nb[i].get(j, 0.0) + length
            nb[j][i] = nb[j].get(i, 0.0) + length
    alive = set(range(n))
    while True:
        if low is None:
            small = [k for k in alive if not fixed[k] and nb[k]]
        else:
            small = [k for k in alive if nb[k] and total[k] < low and not sticky[k]]
        if not small:
            break
        k = min(small, key=lambda u: (total[u], u))
        if low is None:
            into = max(nb[k], key=lambda u: (nb[k][u], -u))
        else:
            into = max(nb[k], key=lambda u: (total[u] + total[k] <= high, nb[k][u], -u))
        for j, length in nb[k].items():
            del nb[j][k]
            if j != into:
                nb[into][j] = nb[into].get(j, 0.0) + length
                nb[j][into] = nb[j].get(into, 0.0) + length
        nb[k] = {}
        alive.discard(k)
        parent[k] = into
        total[into] += total[k]
        fixed[into] |= fixed[k]
        sticky[into] = False
    for k in range(n):
        r = k
        while parent[r] != r:
            r = parent[r]
        parent[k] = r
    return parent


def plan_tiles(geoms: np.ndarray, compound: np.ndarray, label: np.ndarray, weight: np.ndarray,
               anchorable: np.ndarray, low: float, high: float, capacity: bool, n_labels: int,
               sticky: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group the units of tiled compounds into tiles and give each tile a grid id.

    Parameters
    ----------
    geoms, compound, label, weight : arrays, one per unit
        The unit's polygon, its compound and current grid (label position), and its households
        (areas without household figures).
    anchorable : array of bool, one per unit
        Whether the unit's grid may give its id to a tile of the unit's compound.
    sticky : array of bool, one per unit, optional
        Units that are the whole of a grid already under the minimum: they need not merge.
    low, high : float
        The household range; ``capacity`` False when there are no figures.
    n_labels : int
        Labels so far: new tiles are numbered from here.

    Returns
    -------
    owner : array of int, one per unit
        The label the unit goes to (an anchor's position, or ``n_labels + k`` for new tile k).
    new_origin, new_compound : arrays, one per new tile
        The grid it is cut from, and the compound it tiles.
    anchors, anchor_compound : arrays
        Labels that become tiles (their land outside the compound is released), and of which compound.
    """
    n = len(geoms)
    empty = np.empty(0, dtype=np.intp)
    if not n:
        return np.empty(0, dtype=np.intp), empty, empty, empty, empty
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="dwithin", distance=TOUCH_M)
    pair = (compound[a] == compound[b]) & (a < b)
    a, b = a[pair], b[pair]
    border = shared_border(geoms[a], geoms[b]) if len(a) else np.zeros(0)
    if capacity:
        root = merge_units(weight, anchorable, a, b, border, low, high, sticky)
    else:
        root = merge_units(weight, anchorable, a, b, border, None, None)

    # Tile ids: each anchorable grid goes to the tile it gives most to (one tile per grid).
    groups, group_of = np.unique(root, return_inverse=True)
    contrib = pd.DataFrame({"group": group_of, "label": label, "w": weight, "anchor": anchorable})
    per = contrib.groupby(["group", "label"], as_index=False).agg(w=("w", "sum"), anchor=("anchor", "any"))
    cand = per[per.anchor].sort_values(["w", "group", "label"], ascending=[False, True, True], kind="stable")
    group_label = np.full(len(groups), -1, dtype=np.intp)
    used = set()
    for g, lab in zip(cand.group.to_numpy(), cand.label.to_numpy()):
        if group_label[g] < 0 and lab not in used:
            group_label[g] = lab
            used.add(lab)
    # Other tiles are new grids, cut from the grid that gave them most.
    fresh = np.flatnonzero(group_label < 0)
    best = per.sort_values(["w", "label"], ascending=[False, True], kind="stable").drop_duplicates("group")
    origin_of = pd.Series(best.label.to_numpy(), index=best.group.to_numpy())
    group_label[fresh] = n_labels + np.arange(len(fresh))
    owner = group_label[group_of]
    first_unit = pd.Series(np.arange(n)).groupby(group_of).first().to_numpy()
    new_origin = origin_of.reindex(fresh).to_numpy(dtype=np.intp)
    new_compound = compound[first_unit[fresh]]
    anchored = np.flatnonzero(group_label < n_labels)
    anchors = group_label[anchored]
    anchor_compound = compound[first_unit[anchored]]
    return owner, new_origin, new_compound, anchors.astype(np.intp), anchor_compound


def strips_needed(households: np.ndarray, low: float, high: float) -> np.ndarray:
    """Strips to cut each tile into: ``ceil(h / MAX)`` when each still holds MIN, else 1."""
    k = np.ceil(households / high - 1e-9).astype(int)
    k = np.maximum(k, 1)
    return np.where(households / k >= low, k, 1)


def equal_area_strips(polys: np.ndarray, k: np.ndarray, steps: int = 40, measure=None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Cut each polygon into ``k`` strips of equal area (or of equal ``measure``, e.g. households)
    across its long axis.

    The cuts are found in a frame turned to the polygon's long axis, but the strips are cut from
    the polygon itself (by turned bands), so that they keep its vertices exactly and fit their
    neighbours without slivers. ``measure`` maps an array of polygons to an array of amounts
    (default ``shapely.area``). Returns the strips (in order along the axis) and the position of
    the polygon each came from.
    """
    measure = shapely.area if measure is None else measure

    from .problem import PRECISION

    rect = shapely.oriented_envelope(polys)
    ring = shapely.get_exterior_ring(rect)
    corner = [shapely.get_coordinates(shapely.get_point(ring, i)) for i in range(3)]
    e1, e2 = corner[1] - corner[0], corner[2] - corner[1]
    long_ = np.where((np.hypot(*e1.T) >= np.hypot(*e2.T))[:, None], e1, e2)
    angle = np.degrees(np.arctan2(long_[:, 1], long_[:, 0]))
    centre = shapely.centroid(rect)
    cx, cy = shapely.get_x(centre), shapely.get_y(centre)
    xmin, ymin, xmax, ymax = shapely.bounds(_rotate(polys, -angle, cx, cy)).T
    area = measure(polys)

    def band(i, left, right):
        """The part of polygon i between two cuts (turned-frame x), cut from the polygon itself."""
        box = shapely.box(left, ymin[i] - 1, right, ymax[i] + 1)
        return shapely.intersection(polys[i], _rotate(box, angle[i], cx[i], cy[i]), grid_size=PRECISION)

    owner = np.repeat(np.arange(len(polys)), k - 1)
    share = np.concatenate([np.arange(1, n) / n for n in k])
    lo, hi = xmin[owner].copy(), xmax[owner].copy()
    for _ in range(steps):
        mid = (lo + hi) / 2
        below = measure(band(owner, xmin[owner] - 1, mid)) < share * area[owner]
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    cuts = (lo + hi) / 2
    # Strip j of polygon i lies between cut j-1 and cut j (the bounds at both ends).
    strip_owner = np.repeat(np.arange(len(polys)), k)
    first_cut = np.r_[0, np.cumsum(k - 1)[:-1]][strip_owner]
    j = np.arange(len(strip_owner)) - np.r_[0, np.cumsum(k)[:-1]][strip_owner]
    last = max(len(cuts) - 1, 0)
    left = np.where(j == 0, xmin[strip_owner] - 1, cuts[np.clip(first_cut + j - 1, 0, last)] if len(cuts) else 0)
    right = np.where(j == k[strip_owner] - 1, xmax[strip_owner] + 1,
                     cuts[np.clip(first_cut + j, 0, last)] if len(cuts) else 0)
    return polygons_only(band(strip_owner, left, right)), strip_owner


def _rotate(geoms: np.ndarray, degrees: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Rotate each geometry by its own angle about its own centre, in one vectorised pass."""
    counts = shapely.get_num_coordinates(geoms)
    theta = np.radians(np.repeat(degrees, counts))
    x0, y0 = np.repeat(cx, counts), np.repeat(cy, counts)

    def turn(xy):
        dx, dy = xy[:, 0] - x0, xy[:, 1] - y0
        return np.column_stack([x0 + dx * np.cos(theta) - dy * np.sin(theta),
                                y0 + dx * np.sin(theta) + dy * np.cos(theta)])

    return shapely.transform(geoms, turn)
