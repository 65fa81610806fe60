"""Parts: the territories that may become units, before members are counted (DESIGN §2, §3).

``top_parts`` turns the three situations into parts — a large compound with its grids beneath, a
grid with its compounds (and loose buildings) beneath, one compound (grid) — and says which part
each building is in. ``combine`` then joins parts with fewer than ``branch_min`` members with their
neighbours: into a joint branch (joint_branch) when the neighbour is small too, else into the
neighbour. Distances are in metres (the area's metric CRS).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from gridmap import settings
from gridmap.i18n import _
from gridmap.org.area import Area
from gridmap.org.model import NO_GEOMETRY, OUTSIDE, Thresholds
from gridmap.org.names import natural_key

#: First search radius (m) for neighbouring units; widened fourfold until enough are found.
_NEAR_RADIUS = 300.0
#: Neighbours to find for each small part before the search stops widening.
_NEAR_COUNT = 8


@dataclass
class Part:
    """Territory that may become a unit: a compound, a grid, or a grid's loose buildings.

    ``key`` is ``c:`` + compound id, ``g:`` + grid id or ``r:`` + grid id (the grid's buildings in
    no compound), joined with ``+`` for a joint branch; ``rows`` are the positions of its buildings
    in the buildings table; ``geometry`` is in the area's metric CRS.
    """

    key: str
    label: str
    situation: str
    community: str
    geometry: object
    compound_ids: list[str] = field(default_factory=list)
    grid_ids: list[str] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    children: list[Part] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    note: list[str] = field(default_factory=list)
    joint: list[str] = field(default_factory=list)  # labels of the small units joined in it


def top_parts(area: Area, bld: pd.DataFrame) -> tuple[list[Part], np.ndarray]:
    """Top parts per the situations, with each building's top and sub-part keys.

    Returns the parts and, per building, a placement reason ('' when placed).
    """
    comp, grid = area.compounds, area.grids
    is_lc = comp.situation == "large_compound"
    # Every covered compound that is not large_compound sits in one home grid: its only grid, or
    # for a mixed compound its main grid (the layout until the boundaries are aligned).
    home = comp.main_grid.where(~is_lc & (comp.situation != "uncovered"))
    at_home = home.dropna().groupby(home.dropna()).groups
    tops: dict[str, Part] = {}
    # Plain dicts: per-compound pandas look-ups would dominate the run time at city scale.
    C = {col: dict(zip(comp.index, comp[col].to_numpy(dtype=object)))
         for col in ("label", "situation", "community", "geometry", "grids", "was")}
    G = {col: dict(zip(grid.index, grid[col].to_numpy(dtype=object)))
         for col in ("label", "situation", "community", "geometry")}

    for cid in comp.index[is_lc]:
        part = Part(f"c:{cid}", C["label"][cid], "large_compound", C["community"][cid], C["geometry"][cid],
                    [cid], list(C["grids"][cid]))
        part.children = [Part(f"g:{g}", G["label"].get(g, g), "large_compound", C["community"][cid],
                              G["geometry"].get(g), [], [g]) for g in C["grids"][cid]]
        if C["was"][cid] == "mixed":
            part.note.append(_("laid out on the alignment proposal: {compounds}").format(compounds=C["label"][cid]))
        tops[part.key] = part
    for cid in comp.index[comp.situation == "uncovered"]:
        tops[f"c:{cid}"] = Part(f"c:{cid}", C["label"][cid], "uncovered", C["community"][cid],
                                C["geometry"][cid], [cid], [],
                                review=[_("{compound} lies in no grid").format(compound=C["label"][cid])])
    for gid in grid.index[grid.situation != "large_compound"]:
        label, community, geometry = G["label"][gid], G["community"][gid], G["geometry"][gid]
        homed = sorted(at_home.get(gid, []), key=natural_key)
        part = Part(f"g:{gid}", label, G["situation"][gid], community, geometry, homed, [gid])
        if len(homed) == 1:
            # One compound (grid) branch: named after the compound residents know.
            part.label = C["label"][homed[0]]
        elif len(homed) > 1:
            part.children = [Part(f"c:{cid}", C["label"][cid], C["situation"][cid], community,
                                  C["geometry"][cid], [cid], [gid]) for cid in homed]
            part.children.append(Part(f"r:{gid}", f"{label}散居楼院", G["situation"][gid], community,
                                      geometry, [], [gid]))
        mixed = [cid for cid in homed if C["situation"][cid] == "mixed"]
        if mixed:
            spans = _("; ").join(_("{compound} spans {grids}").format(compound=C["label"][c],
                                                                   grids=settings.LIST_SEP.join(C["grids"][c]))
                              for c in mixed)
            part.review.append(_("{spans}: laid out on its main grid {grid} until the boundaries are "
                                 "aligned (gridmap align, then --proposal)").format(spans=spans, grid=gid))
        aligned = [cid for cid in homed if C["was"][cid] == "mixed" and C["situation"][cid] != "mixed"]
        if aligned:
            part.note.append(_("laid out on the alignment proposal: {compounds}").format(
                compounds="、".join(C["label"][c] for c in aligned)))
        tops[part.key] = part

    top, child, reason = _building_parts(area, bld, is_lc, home)
    for key, rows in _positions(top).items():
        tops[key].rows = rows
    by_child = _positions(child)
    empty = np.empty(0, dtype=np.int64)
    for part in tops.values():
        for ch in part.children:
            ch.rows = by_child.get(ch.key, empty)
        if part.children:
            part.children = [ch for ch in part.children if len(ch.rows) or ch.key[0] != "r"]
    return list(tops.values()), reason


def _positions(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Positions of each non-empty key, in increasing order."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {k: order[a:b] for k, a, b in zip(uniques, bounds[:-1], bounds[1:]) if k != ""}


def _building_parts(area: Area, bld: pd.DataFrame, is_lc: pd.Series, home: pd.Series
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top part key, sub-part key ('' for none) and unplaced reason of each building."""
    comp, grid = area.compounds, area.grids
    cid = bld.compound_id.to_numpy(dtype=object)
    gid = bld.grid_id.to_numpy(dtype=object)
    has_c = pd.notna(cid)
    c_sit = pd.Series(cid).map(comp.situation).to_numpy(dtype=object)
    c_lc = has_c & (c_sit == "large_compound")
    c_home = pd.Series(cid).map(home).to_numpy(dtype=object)
    n_home = home.dropna().value_counts().astype(float)
    # The compound decides; loose buildings go by their grid.
    top = np.full(len(bld), "", dtype=object)
    child = np.full(len(bld), "", dtype=object)
    top[c_lc] = "c:" + cid[c_lc].astype(str)
    own = {(c, g) for c, gs in zip(comp.index[is_lc], comp.grids[is_lc]) for g in gs}
    inside_own = c_lc & np.fromiter(((c, g) in own for c, g in zip(cid, gid)), dtype=bool, count=len(cid))
    child[inside_own] = "g:" + gid[inside_own].astype(str)
    stray = c_lc & ~inside_own
    if stray.any():
        child[stray] = "g:" + _nearest_own_grid(bld[stray], comp, grid)
    unc = has_c & (c_sit == "uncovered")
    top[unc] = "c:" + cid[unc].astype(str)
    homed = has_c & ~c_lc & ~unc
    top[homed] = "g:" + c_home[homed].astype(str)
    many = homed & (pd.Series(c_home).map(n_home).to_numpy(dtype=float) > 1)
    child[many] = "c:" + cid[many].astype(str)

    loose = ~has_c & pd.notna(gid)
    g_sit = pd.Series(gid).map(grid.situation).to_numpy(dtype=object)
    in_lc_grid = loose & (g_sit == "large_compound")
    owner = pd.Series(gid).map(grid.compounds.map(lambda v: v[0] if v else None)).to_numpy(dtype=object)
    top[in_lc_grid] = "c:" + owner[in_lc_grid].astype(str)
    child[in_lc_grid] = "g:" + gid[in_lc_grid].astype(str)
    other = loose & ~in_lc_grid
    top[other] = "g:" + gid[other].astype(str)
    split = other & (pd.Series(gid).map(n_home).to_numpy(dtype=float) > 1)
    child[split] = "r:" + gid[split].astype(str)

    reason = np.full(len(bld), "", dtype=object)
    reason[top == ""] = OUTSIDE
    reason[~bld.located.to_numpy()] = NO_GEOMETRY
    top[reason != ""] = ""
    child[reason != ""] = ""
    return top, child, reason


def _nearest_own_grid(stray: pd.DataFrame, comp: pd.DataFrame, grid: pd.DataFrame) -> np.ndarray:
    """For buildings of a large compound outside its grids: the nearest of the compound's grids."""
    pairs = pd.DataFrame({"row": np.arange(len(stray)), "grids": comp.grids.reindex(stray.compound_id).to_numpy()})
    pairs = pairs.explode("grids").dropna()
    points = shapely.points(stray.x.to_numpy()[pairs.row.to_numpy()], stray.y.to_numpy()[pairs.row.to_numpy()])
    pairs["d"] = shapely.distance(points, grid.geometry.reindex(pairs.grids).to_numpy())
    best = pairs.sort_values(["row", "d"], kind="stable").drop_duplicates("row")
    return best.set_index("row").grids.reindex(range(len(stray))).to_numpy(dtype=object).astype(str)


# ------------------------------------------------------------------ combining small parts


class _Near:
    """Nearest neighbours among parts: by the gap between them (m), ties by centre distance."""

    def __init__(self, geoms: Sequence):
        self.geoms = np.asarray([g if g is not None else shapely.Point() for g in geoms], dtype=object)
        self.centres = shapely.centroid(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def prime(self, sources: np.ndarray) -> None:
        """Find candidates for many parts at once: bulk dwithin queries, widening the radius."""
        todo = np.asarray(sources, dtype=np.int64)
        radius = _NEAR_RADIUS
        want = min(_NEAR_COUNT, len(self.geoms) - 1)
        while len(todo):
            src, dst = self.tree.query(self.geoms[todo], predicate="dwithin", distance=radius)
            src = todo[src]
            keep = src != dst
            src, dst = src[keep], dst[keep]
            counts = (np.bincount(np.searchsorted(todo, src), minlength=len(todo)) if len(src)
                      else np.zeros(len(todo), int))
            enough = counts >= want
            if radius > 1e7:
                enough[:] = True
            done = set(todo[enough].tolist())
            mask = np.isin(src, list(done))
            self._store(src[mask], dst[mask], todo[enough])
            todo = todo[~enough]
            radius *= 4

    def _store(self, src: np.ndarray, dst: np.ndarray, sources: np.ndarray) -> None:
        d = shapely.distance(self.geoms[src], self.geoms[dst])
        c = shapely.distance(self.centres[src], self.centres[dst])
        order = np.lexsort((dst, c, d, src))
        src, dst, d, c = src[order], dst[order], d[order], c[order]
        starts = np.searchsorted(src, sources)
        ends = np.searchsorted(src, sources, side="right")
        for s, a, b in zip(sources, starts, ends):
            self.cache[int(s)] = (dst[a:b], d[a:b], c[a:b])

    def candidates(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearby parts of part ``i``, nearest first: positions, gaps (m), centre distances (m)."""
        if i not in self.cache:
            self.prime(np.array([i]))
        return self.cache[i]

    def full(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every other part, nearest first, as ``candidates`` (when no nearby part will do)."""
        others = np.delete(np.arange(len(self.geoms)), i)
        d = shapely.distance(self.geoms[i], self.geoms[others])
        c = shapely.distance(self.centres[i], self.centres[others])
        order = np.lexsort((others, c, d))
        return others[order], d[order], c[order]


def _nearest_cluster(members: Iterable[int], cluster_of: np.ndarray, eligible: np.ndarray,
                     near: _Near) -> int | None:
    """Id of the nearest other eligible cluster to the given parts, or None."""
    members = list(members)
    own = cluster_of[members[0]]
    best = None
    for full in (False, True):
        for i in members:
            dst, d, c = near.full(i) if full else near.candidates(i)
            ok = (cluster_of[dst] != own) & eligible[dst]
            if ok.any():
                j = np.flatnonzero(ok)[0]
                key = (d[j], c[j], int(dst[j]))
                if best is None or key < best[0]:
                    best = (key, int(cluster_of[dst[j]]))
        if best is not None:
            return best[1]
    return None


def combine(parts: list[Part], members: np.ndarray, t: Thresholds, *, minimum: int | None = None,
            tier: bool = False) -> list[Part]:
    """Join small parts (under ``minimum`` members, by default ``branch_min``) with their neighbours
    (DESIGN §3).

    A small part joins the nearest unit: when that is also small they form a joint unit (a joint
    branch), when it is a regular unit the small part becomes part of it. Parts without members
    are covered by the nearest unit that has some. Returns the resulting parts; none when no part
    has members.

    ``tier`` combines the compounds of a large grid into the grid unit's compound tier: a small
    compound joins its neighbour's unit by name (the unit becomes joint, A小区、B小区), loose
    buildings and other small parts join without naming it, and parts without members are left
    out (they stay with the grid's own unit).
    """
    minimum = t.branch_min if minimum is None else minimum
    n = len(parts)
    m = np.array([int(members[p.rows].sum()) for p in parts], dtype=np.int64)
    if n == 0 or not (m > 0).any():
        return []
    near = _Near([p.geometry for p in parts])
    small = (m > 0) & (m < minimum)
    near.prime(np.flatnonzero(m < minimum))
    cluster_of = np.arange(n)
    mains: dict[int, list[int]] = {i: [i] for i in range(n) if m[i] > 0}
    attached: dict[int, list[int]] = {i: [] for i in mains}
    total = {i: int(m[i]) for i in mains}
    open_ = {i for i in mains if small[i]}
    stuck: set[int] = set()
    has = m > 0
    while open_:
        cid = min(open_, key=lambda k: (total[k], k))
        target = _nearest_cluster(mains[cid] + attached[cid], cluster_of, has, near)
        if target is None:
            open_.discard(cid)
            stuck.add(cid)
            continue
        moved = mains.pop(cid) + attached.pop(cid)
        open_.discard(cid)
        if small[mains[target][0]] or len(mains[target]) > 1:
            mains[target] += moved
        elif tier:  # a small compound joins by name; loose buildings and the like without
            compounds = [i for i in moved if parts[i].key.startswith("c:")]
            mains[target] += compounds
            attached[target] += [i for i in moved if i not in compounds]
        else:
            attached[target] += moved
        cluster_of[moved] = target
        total[target] += total.pop(cid)
        if target in open_ and total[target] >= minimum:
            open_.discard(target)
    if not tier:
        for i in np.flatnonzero(m == 0):
            target = _nearest_cluster([i], cluster_of, has, near)
            attached[target].append(int(i))
            cluster_of[i] = target
    out = []
    for cid in sorted(mains):
        named, rest = sorted(mains[cid]), list(attached[cid])
        if tier:
            # Named after its compounds and its parts big enough for a unit of their own.
            named = [i for i in named if parts[i].key.startswith("c:") or m[i] >= minimum] or named
            rest = [i for i in sorted(mains[cid]) if i not in named] + rest
        out.append(_merged([parts[i] for i in named], [parts[i] for i in rest], [int(m[i]) for i in rest],
                           joint=len(named) > 1))
        if cid in stuck:
            # Starts as "fewer than {count} members" does: gridmap.org.layout looks for that beginning.
            out[-1].review.append(_("fewer than {count} members and no neighbouring unit to join").format(
                count=minimum))
    return out


def tier_parts(children: list[Part], members: np.ndarray, t: Thresholds, minimum: int | None = None) -> list[Part]:
    """The compound tier of a grid holding several compounds (DESIGN §3): a part per compound with at
    least ``minimum`` members (default ``branch_min``); a smaller compound joins its nearest
    compound's part, which is then named for both (A小区、B小区). Loose buildings (and other parts
    that are not compounds) have a part of their own when they reach ``minimum``, else join the
    nearest part without naming it. Parts without members are left out."""
    compounds = [c for c in children if c.key.startswith("c:")]
    others = [c for c in children if not c.key.startswith("c:")]
    first = combine(compounds, members, t, minimum=minimum, tier=True)
    if not others:
        return first
    return combine(first + others, members, t, minimum=minimum, tier=True)


def _merged(mains: list[Part], attached: list[Part], attached_members: list[int], joint: bool) -> Part:
    """One part from a cluster: a joint of small parts, or a unit with neighbours taken in."""
    if joint:
        labels = [p.label for p in mains]
        label = "、".join(labels) if len(labels) <= 2 else f"{labels[0]}等{len(labels)}个"
        base = Part(
            key="+".join(p.key for p in mains), label=label,
            situation=settings.LIST_SEP.join(sorted({p.situation for p in mains})),
            community=mains[0].community, geometry=shapely.union_all([p.geometry for p in mains]),
            compound_ids=[c for p in mains for c in p.compound_ids],
            grid_ids=list(dict.fromkeys(g for p in mains for g in p.grid_ids)),
            rows=np.concatenate([p.rows for p in mains]),
            review=[r for p in mains for r in p.review], note=[n for p in mains for n in p.note],
            joint=labels)
    else:
        base = copy.copy(mains[0])
        base.children = list(base.children)
        base.compound_ids, base.grid_ids = list(base.compound_ids), list(base.grid_ids)
        base.review, base.note = list(base.review), list(base.note)
    empty = [p.label for p, k in zip(attached, attached_members) if k == 0]
    taken = [f"{p.label}（{k}名党员）" for p, k in zip(attached, attached_members) if k > 0]
    for p in attached:
        base.rows = np.concatenate([base.rows, p.rows])
        base.compound_ids += [c for c in p.compound_ids if c not in base.compound_ids]
        base.grid_ids += [g for g in p.grid_ids if g not in base.grid_ids]
        base.review += p.review
        if base.children:
            base.children.append(p)
    if taken:
        base.note.append(_("includes small units: {units}").format(units="、".join(taken)))
    if empty:
        base.note.append(_("also covers (no members): {units}").format(units="、".join(empty)))
    return base


__all__ = ["Part", "combine", "tier_parts", "top_parts"]
