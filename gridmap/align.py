"""Alignment proposals (拉平对齐): grid boundaries redrawn so that no compound straddles grids.

Each straddling (``mixed``) compound is either moved wholly into one grid (the one holding its
largest share that has room for its households), or, when it holds more households than a grid's
maximum, tiled by grids that lie wholly inside it: grids that nest in it, or whose households live
there and whose rest could not make a grid, are clipped to it (their other ground is released);
its pieces in other grids become new grids or join a neighbouring piece of it; a tile holding more
than the maximum is cut into strips. Everything else stays where it is: land outside compounds
keeps its grid, except released ground and pieces cut off from a grid, which go where the
compounds in them already are, else to the neighbour they share the longest border with (or become
a grid of their own when they hold a grid's minimum). A compound's sliver in a grid that shrank can
become significant; further rounds align such compounds too.

The proposal is built from a few kinds of pieces, each a vectorised shapely operation over arrays:
the straddling compounds made disjoint, their intersections with the grids they touch (*atoms*,
each given an owner), and each touched grid less those compounds (its *core*). Grids no straddling
compound touches pass through unchanged, geometry and all.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap import settings, vocab
from gridmap.classify import Classification, classify
from gridmap.errors import GridmapError, GridmapWarning
from gridmap.geomops import EMPTY, grouped_union, largest_part, polygons_only, shared_border
from gridmap.io import find_field
from gridmap.overlay import overlap_table
from gridmap.validate import usable_only

log = logging.getLogger(__name__)

#: Overlays run on a 1 µm grid (snap-rounding): GEOS' floating-point overlay can return wrong
#: pieces where edges nearly coincide (libgeos/geos#1344, #1405), as compounds and the grids
#: cut along them do. A micrometre moves nothing that matters.
PRECISION = 1e-6
#: Pieces smaller than this (m²) are overlay noise: dropped, never made grids.
NOISE_M2 = 0.01
#: Neighbours closer than this (m) share a border (digitised edges rarely match exactly).
TOUCH_M = 0.01
STATUSES = ("kept", "changed", "new", "removed")


@dataclass
class Alignment:
    """What ``align`` returns.

    Attributes
    ----------
    grids : GeoDataFrame
        The proposal: ``grid_id``, ``status`` (kept, changed, new), ``households``, ``area_m2``,
        ``situation``, ``compound_ids``, ``origin_grid_id``, then the input grid attributes; in the
        grids' CRS.
    changes : GeoDataFrame
        One row per compound piece that changes grid: ``compound_id``, ``from_grid_id``,
        ``to_grid_id``, ``area_m2``, ``households``.
    table : DataFrame
        Per grid, before and after: ``grid_id``, ``status``, ``changed``, ``households_before``,
        ``households_after``, ``area_m2_before``, ``area_m2_after``, ``situation_before``,
        ``situation_after``, ``compound_ids_after`` (proposal.csv).
    before, after : Classification
        The three situations of the input and of the proposal.
    summary : dict
        The figures the CLI prints (see ``summarise``).
    unresolved : DataFrame
        In-scope compounds that still straddle grids, with the reason.
    """

    grids: gpd.GeoDataFrame
    changes: gpd.GeoDataFrame
    table: pd.DataFrame
    before: Classification
    after: Classification
    summary: dict
    unresolved: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Outlines inferred from buildings first (``align_job`` with buildings and streets).
    inferred: gpd.GeoDataFrame | None = None


@dataclass
class Plan:
    """Where each straddling compound goes.

    ``target`` per compound position: a grid position it moves into, ``STAY`` (not handled, or no
    grid may take it) or ``TILE``. ``inside`` flags overlap rows whose grid tiles its compound;
    ``locked`` flags grids that may not receive territory (kept, nesting in a large compound, or
    tiling a compound).
    """

    order: np.ndarray
    target: np.ndarray
    inside: np.ndarray
    locked: np.ndarray


STAY, TILE = -1, -2


def align(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    *,
    compound_id: str | None = None,
    grid_id: str | None = None,
    households: str | None = None,
    grid_households: tuple[float, float] | None = None,
    types: list[str] | tuple[str, ...] | None = None,
    keep: list[str] | tuple[str, ...] = (),
    sliver: float | None = None,
    nest: float | None = None,
    crs: CRS | str | int | None = None,
) -> Alignment:
    """Propose grid boundaries under which no compound straddles grids.

    Parameters
    ----------
    compounds, grids : GeoDataFrame
        Polygon layers with a CRS.
    compound_id, grid_id : str, optional
        Id fields; by default the recognised names of DESIGN §4.
    households : str, optional
        Compounds' households field; by default ``households`` or ``户数`` when present. Without
        one, grid capacity is not enforced and shares of area decide.
    grid_households : (min, max)
        Households a grid should hold (default 300–500). A compound with more than ``max``
        households is tiled rather than moved; a loose piece with at least ``min`` becomes a grid.
    types : list of str, optional
        Align only compounds of these types (the compound type field, e.g. ``老旧型``).
    keep : list of str
        Ids of grids that must not change.
    sliver, nest : float
        Thresholds of the three-situation rule (DESIGN §2).
    crs : optional
        Metric CRS to work in; by default chosen per DESIGN §6.

    Returns
    -------
    Alignment
    """
    grid_households = settings.GRID_HOUSEHOLDS if grid_households is None else grid_households
    sliver = settings.SLIVER if sliver is None else sliver
    nest = settings.NEST if nest is None else nest
    low, high = check_range(grid_households)
    # Features without a usable geometry are not aligned (classify keeps them as no_geometry).
    compounds, grids = usable_only(compounds), usable_only(grids)
    hh_field = find_field(compounds, "households", households, required=False)
    before = classify(compounds, grids, compound_id=compound_id, grid_id=grid_id, sliver=sliver,
                      nest=nest, crs=crs)
    comp, grd = before.compounds, before.grids
    source = compounds.attrs.get("source", "compounds")
    hh = household_values(comp, _column(comp, hh_field), source) if hh_field else None
    c_ids = comp.compound_id.to_numpy(dtype=object)
    g_ids = grd.grid_id.to_numpy(dtype=object)
    C = comp.geometry.to_crs(before.crs).to_numpy()
    G = grd.geometry.to_crs(before.crs).to_numpy()
    kept = keep_mask(keep, g_ids, grids.attrs.get("source", "grids"))
    scope = in_scope(comp, types, source)
    log.info("%d straddling compounds to align (%d in all)",
             (scope & (comp.situation.to_numpy() == "mixed")).sum(), (comp.situation == "mixed").sum())

    # Redrawing can leave a compound that did not straddle before split between two grids (a
    # piece cut off from its grid joined a neighbour): another round aligns those, on the
    # proposal so far. Labels of earlier rounds keep their positions.
    ids, geoms, origin = g_ids.copy(), G.copy(), np.arange(len(G))
    touched = np.zeros(len(G), dtype=bool)
    cls, plan, ov = before, None, None
    for _ in range(ROUNDS):
        handled = scope & (cls.compounds.situation.to_numpy() == "mixed")
        if not handled.any():
            break
        ov = overlap_positions(cls.overlaps, c_ids, ids)
        kept_now = np.isin(ids, g_ids[kept])
        large = np.isin(ids, cls.grids.grid_id[cls.grids.situation == "large_compound"])
        plan = plan_moves(ov, handled, hh, kept_now, large, comp.area_m2.to_numpy(), c_ids, low,
                          high, nest)
        if not len(plan.order):
            break
        n_now = len(ids)
        geoms, new_origin, new_touched = redraw(C, geoms, ov, plan, hh, low, high, kept_now)
        ids = np.concatenate([ids, _new_ids(ids, new_origin, n_now)])
        origin = np.concatenate([origin, origin[new_origin[n_now:]]])
        touched = np.concatenate([touched | new_touched[:n_now], np.ones(len(ids) - n_now, dtype=bool)])
        cls = _classify_proposal(compounds, ids, geoms, compound_id, sliver, nest, before.crs)
    after = cls
    # New grids of one round may be emptied by the next: they never existed.
    keep_label = (np.arange(len(ids)) < len(G)) | ~shapely.is_empty(geoms)
    ids, geoms, origin, touched = ids[keep_label], geoms[keep_label], origin[keep_label], touched[keep_label]

    status = _status(G, geoms, touched, len(G))
    # Grids that come out as they went in keep their exact input geometry.
    same = np.flatnonzero(status[:len(G)] == "kept")
    geoms[same] = G[same]
    alive = ~shapely.is_empty(geoms)
    table = grid_table(before, after, ids, status, hh, c_ids)
    changes = change_pieces(C, hh, c_ids, G, g_ids, geoms, ids, touched, before.crs)
    out_grids = proposal_layer(after, grd, status[alive], origin[alive], g_ids, table,
                               grids.crs or before.grids.crs)
    unresolved = unresolved_table(after, scope, plan, ov, ids, c_ids, g_ids[kept])
    summary = summarise(before, after, table, changes, hh_field, hh, scope, unresolved, low, high)
    return Alignment(grids=out_grids, changes=changes.to_crs(out_grids.crs), table=table,
                     before=before, after=after, summary=summary, unresolved=unresolved)


#: Rounds of alignment at most (the second is rare, a third rarer still).
ROUNDS = 3


def _classify_proposal(compounds, ids, geoms, compound_id, sliver, nest, crs) -> Classification:
    alive = ~shapely.is_empty(geoms)
    proposal = gpd.GeoDataFrame({"grid_id": ids[alive]}, geometry=geoms[alive], crs=crs)
    with warnings.catch_warnings():
        # The input's repairs and slivers were reported by the first classification.
        warnings.simplefilter("ignore", GridmapWarning)
        return classify(compounds, proposal, compound_id=compound_id, grid_id="grid_id",
                        sliver=sliver, nest=nest, crs=crs)


# ------------------------------------------------------------------ options and inputs


def check_range(value) -> tuple[float, float]:
    """``(min, max)`` from a pair or ``"MIN:MAX"`` text, with a clear error."""
    if isinstance(value, str):
        text = value
        head, sep, tail = text.partition(":")
        try:
            value = (float(head), float(tail)) if sep else None
        except ValueError:
            value = None
        if value is None:
            raise GridmapError(f"--grid-households {text!r} must be MIN:MAX, e.g. 300:500.")
    low, high = (float(v) for v in value)
    if not 0 <= low <= high or high <= 0:
        raise GridmapError(f"--grid-households {low:g}:{high:g} must satisfy 0 ≤ MIN ≤ MAX and MAX > 0.")
    return low, high


def _column(comp: pd.DataFrame, name: str) -> str:
    # classify renames input columns that clash with its own by adding "_input".
    return name if name in comp.columns and name not in ("compound_id",) else f"{name}_input"


def household_values(comp: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """Households per compound as floats; blanks count as 0 (warned), text or negatives raise."""
    raw = comp[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        sample = ", ".join(map(str, comp.compound_id[bad].head(5)))
        raise GridmapError(f"{source}: field {column!r} must hold household numbers; "
                           f"{int(bad.sum())} compounds have text there ({sample}). Fix them or "
                           "name another field with --households.")
    if (values < 0).any():
        sample = ", ".join(map(str, comp.compound_id[values < 0].head(5)))
        raise GridmapError(f"{source}: field {column!r} has negative household numbers ({sample}).")
    blank = values.isna()
    if blank.any():
        warnings.warn(f"{source}: {int(blank.sum())} compounds have no {column}; they count as 0 "
                      "households", GridmapWarning, stacklevel=3)
    return values.fillna(0.0).to_numpy(dtype=float)


def keep_mask(keep, g_ids: np.ndarray, source: str) -> np.ndarray:
    """Grids named by ``--keep``; unknown ids raise."""
    wanted = [str(k).strip() for k in (keep or ()) if str(k).strip()]
    known = set(g_ids)
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise GridmapError(f"--keep names grids that {source} does not have: {', '.join(unknown)}. "
                           f"Grid ids look like {', '.join(map(str, g_ids[:5]))}.")
    return np.isin(g_ids, wanted)


def in_scope(comp: gpd.GeoDataFrame, types, source: str) -> np.ndarray:
    """Compounds whose type is among ``types`` (all when ``types`` is empty).

    Compounds with no type (outlines inferred from buildings) are in scope: they are the
    compounds without clear boundaries that alignment is for.
    """
    if not types:
        return np.ones(len(comp), dtype=bool)
    field_ = find_field(comp, "compound_type", required=False, exclude=tuple(comp.columns[:7]))
    if field_ is None:
        raise GridmapError(f"{source}: --types needs a compound type field ({', '.join(settings.FIELDS['compound_type'])}); "
                           "the layer has none.")
    values = comp[field_].map(vocab.canonical_type)  # 老旧小区 is 老旧型 (vocab.TYPE_ALIASES)
    types = [vocab.canonical_type(t) for t in types]
    present = sorted(set(values.dropna().astype(str)))
    unknown = [t for t in types if t not in present]
    if unknown:
        raise GridmapError(f"{source}: no compound has type {', '.join(unknown)} in field {field_!r}; "
                           f"the types present are {', '.join(present) or 'none'}.")
    return (values.astype(str).isin(types) | values.isna()).to_numpy()


def overlap_positions(overlaps: pd.DataFrame, c_ids: np.ndarray, g_ids: np.ndarray) -> pd.DataFrame:
    """The classification's overlap table with compound and grid positions."""
    c_pos = pd.Series(np.arange(len(c_ids)), index=c_ids)
    g_pos = pd.Series(np.arange(len(g_ids)), index=g_ids)
    ov = pd.DataFrame({
        "compound": c_pos.reindex(overlaps.compound_id).to_numpy(),
        "grid": g_pos.reindex(overlaps.grid_id).to_numpy(),
        "share_of_compound": overlaps.share_of_compound.to_numpy(float),
        "share_of_grid": overlaps.share_of_grid.to_numpy(float),
        "significant": overlaps.significant.to_numpy(bool),
    })
    return ov.sort_values(["compound", "share_of_compound"], ascending=[True, False],
                          kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ deciding


def plan_moves(ov: pd.DataFrame, handled: np.ndarray, hh: np.ndarray | None, kept: np.ndarray,
               large_compound_grid: np.ndarray, area: np.ndarray, c_ids: np.ndarray,
               low: float, high: float, nest: float) -> Plan:
    """Decide, for each straddling compound, to move it (and where) or to tile it.

    A compound is tiled when its households exceed the grid maximum, or, without household
    figures, when two or more grids nest in it. Its tiling grids are those nesting in it and, with
    household figures, those with at least ``low`` of its households and fewer than ``low`` of
    others. Other compounds move, largest first, into the grid that
    holds their largest share and stays within the maximum after taking them; when none has room,
    into the one that would be least over. Grids that are kept, nest in a large compound or tile
    a compound never receive.
    """
    n_c, n_g = len(handled), len(kept)
    comp = ov.compound.to_numpy()
    grid = ov.grid.to_numpy()
    share = ov.share_of_compound.to_numpy()
    sig = ov.significant.to_numpy()
    nests = sig & (ov.share_of_grid.to_numpy() >= nest) & ~kept[grid]
    weight = np.zeros(len(ov))
    load = np.zeros(n_g)
    if hh is not None:
        weight = hh[comp] * share
        load = np.bincount(grid, weights=weight, minlength=n_g)
        tiled = handled & (hh > high)
        # A grid whose households are mostly in the compound, and whose rest could not make a
        # grid of its own, tiles it too: its rest is released rather than left an empty grid.
        viable = sig & ~kept[grid] & (weight >= low) & (load[grid] - weight < low)
        inside = (nests | viable) & tiled[comp]
    else:
        tiled = handled & (np.bincount(comp[nests], minlength=n_c) >= 2)
        inside = nests & tiled[comp]
    # A grid tiles one compound at most (overlapping compounds): the one holding most of it.
    rows = np.flatnonzero(inside)
    best = pd.Series(ov.share_of_grid.to_numpy()[rows], index=rows).groupby(grid[rows]).idxmax()
    inside[:] = False
    inside[best.to_numpy(dtype=np.intp)] = True
    if hh is None:
        # Without household figures a compound is tiled only by grids that nest in it.
        tiled &= np.bincount(comp[inside], minlength=n_c) >= 2
        inside &= tiled[comp]
    locked = kept | large_compound_grid
    locked[grid[inside]] = True

    target = np.full(n_c, STAY, dtype=np.intp)
    target[tiled] = TILE
    if hh is not None:
        leaving = tiled[comp] & ~inside & ~kept[grid]
        load -= np.bincount(grid[leaving], weights=weight[leaving], minlength=n_g)

    movers = np.flatnonzero(handled & ~tiled)
    size = hh[movers] if hh is not None else area[movers]
    movers = movers[np.lexsort((c_ids[movers].astype(str), -area[movers], -size))]
    starts = np.searchsorted(comp, np.arange(n_c + 1))
    for c in movers:
        r = np.arange(starts[c], starts[c + 1])
        g = grid[r]
        candidates = r[sig[r] & ~locked[g]]  # rows are sorted by share, largest first
        if not len(candidates):
            continue
        if hh is None:
            t = grid[candidates[0]]
        else:
            after = load[grid[candidates]] + hh[c] - weight[candidates]
            fits = after <= high
            t = grid[candidates[np.argmax(fits)]] if fits.any() else grid[candidates[np.argmin(after)]]
            moving = r[~kept[g] & (g != t)]
            load[grid[moving]] -= weight[moving]
            load[t] += weight[moving].sum()
        target[c] = t
    order = np.concatenate([np.flatnonzero(tiled), movers[target[movers] >= 0]])
    log.info("plan: %d compounds move, %d are tiled, %d cannot move", (target >= 0).sum(),
             tiled.sum(), len(movers) - (target[movers] >= 0).sum())
    return Plan(order=order, target=target, inside=inside, locked=locked)


# ------------------------------------------------------------------ redrawing


def redraw(C: np.ndarray, G: np.ndarray, ov: pd.DataFrame, plan: Plan, hh: np.ndarray | None,
           low: float, high: float, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build the proposed grids.

    Returns
    -------
    geoms : array
        Geometry per label: 0 … n_g-1 are the input grids (empty where one vanished), later
        labels new grids.
    origin : array of int
        The input grid each label came from.
    touched : array of bool
        Labels whose geometry was rebuilt; the others are the input geometries, untouched.
    """
    n_g = len(G)
    D = disjoint(C, plan.order)
    comp = ov.compound.to_numpy()
    grid = ov.grid.to_numpy()
    rows = np.flatnonzero(np.isin(comp, plan.order))
    rc, rg = comp[rows], grid[rows]
    atoms = polygons_only(shapely.intersection(D[rc], G[rg], grid_size=PRECISION))
    target = plan.target[rc]
    inside = plan.inside[rows]
    # A tiled compound's pieces in grids that do not tile it are units: new grids, or joined to
    # a neighbouring unit of the same compound.
    unit = (target == TILE) & ~inside & ~plan.locked[rg]
    owner = np.where((target >= 0) & ~kept[rg], target, rg)
    owner[unit] = n_g + np.arange(unit.sum())
    origin = np.concatenate([np.arange(n_g), rg[unit]])
    zone = np.where(plan.locked, LOCKED, FREE)
    zone[rg[inside]] = rc[inside]
    zone = np.concatenate([zone, rc[unit]])
    owner = settle_tiles(owner, atoms, rc, rows, plan, hh, low, C, n_g)

    # Cores: each touched grid less the straddling compounds. A grid that tiles a compound
    # releases its core (its part outside the compound) as loose pieces. Kept grids are never
    # rebuilt: all their atoms stay with them.
    touched_grids = np.unique(rg[~kept[rg]])
    on_touched = ~kept[rg]
    cover = grouped_union(D[rc[on_touched]], np.searchsorted(touched_grids, rg[on_touched]),
                          len(touched_grids), grid_size=PRECISION)
    cores = polygons_only(shapely.difference(G[touched_grids], cover, grid_size=PRECISION))
    released = np.isin(touched_grids, rg[inside])
    loose, loose_from = shapely.get_parts(cores[released], return_index=True)
    loose_origin = touched_grids[released][loose_from]

    n_labels = len(origin)
    touched = np.zeros(n_labels, dtype=bool)
    touched[touched_grids] = True
    touched[n_g:] = True
    pieces = np.concatenate([cores[~released], atoms[on_touched]])
    piece_owner = np.concatenate([touched_grids[~released], owner[on_touched]])
    rebuilt = np.flatnonzero(touched)
    geoms = np.empty(n_labels, dtype=object)
    geoms[:n_g] = G
    geoms[rebuilt] = grouped_union(pieces, np.searchsorted(rebuilt, piece_owner), len(rebuilt),
                                   grid_size=PRECISION)
    if hh is not None:
        geoms, origin, touched, zone = split_large(geoms, origin, touched, zone, n_g, hh, low, high, C)
    own = np.full(len(geoms), EMPTY, dtype=object)
    own[:n_g] = G
    labels = Labels(geoms, origin, touched, zone, own)
    settle_loose(labels, loose, loose_origin, np.full(len(loose), FREE), hh, low, C)
    keep_label = np.arange(len(labels.geoms)) < n_g
    keep_label |= ~shapely.is_empty(labels.geoms)
    return labels.geoms[keep_label], labels.origin[keep_label], labels.touched[keep_label]


FREE, LOCKED = -1, -2


@dataclass
class Labels:
    """The proposal while it is built: per label, its geometry, the input grid it came from,
    whether it was rebuilt, its zone (``FREE``; ``LOCKED``: kept or nesting in a large compound;
    or the position of the compound it tiles), and its own old ground (the input grid; empty for
    new grids). Loose pieces join grids of their zone.
    """

    geoms: np.ndarray
    origin: np.ndarray
    touched: np.ndarray
    zone: np.ndarray
    own: np.ndarray

    def add(self, geoms, origin, zone) -> np.ndarray:
        first = len(self.geoms)
        self.own = np.concatenate([self.own, np.full(len(geoms), EMPTY, dtype=object)])
        self.geoms = np.concatenate([self.geoms, geoms])
        self.origin = np.concatenate([self.origin, origin])
        self.touched = np.concatenate([self.touched, np.ones(len(geoms), dtype=bool)])
        self.zone = np.concatenate([self.zone, zone])
        return np.arange(first, len(self.geoms))


def split_large(geoms, origin, touched, zone, n_g, hh, low, high, C):
    """Cut grids tiling a compound that hold more than ``high`` households into strips.

    A compound too large for one grid with one grid nesting in it, or none, would otherwise be
    a single oversized grid. The first strip keeps the grid's label. The unit is cut across the long side of its minimum rotated rectangle into
    ``ceil(households / high)`` strips of equal area (households are taken as spread evenly).
    Such compounds are few; the cuts for all of them are found together by bisection.
    """
    # New grids tiling a compound, and grids clipped to the compound they tile.
    new = np.flatnonzero((zone >= 0) & ~shapely.is_empty(geoms))
    if not len(new):
        return geoms, origin, touched, zone
    table = overlap_table(C, geoms[new])
    weight = hh[table.compound.to_numpy()] * table.share_of_compound.to_numpy()
    households = np.bincount(table.grid.to_numpy(), weights=weight, minlength=len(new))
    k = np.ceil(households / high - 1e-9).astype(int)
    # Only where every strip still holds a grid's minimum (511 households make one grid slightly
    # over, not two well under).
    k = np.where(households / np.maximum(k, 1) >= low, k, 1)
    big = k >= 2
    if not big.any():
        return geoms, origin, touched, zone
    strips, owner = equal_area_strips(geoms[new[big]], k[big])
    first = np.r_[True, owner[1:] != owner[:-1]]
    geoms = geoms.copy()
    geoms[new[big]] = strips[first]
    extra = owner[~first]
    geoms = np.concatenate([geoms, strips[~first]])
    origin = np.concatenate([origin, origin[new[big]][extra]])
    touched = np.concatenate([touched, np.ones(len(extra), dtype=bool)])
    zone = np.concatenate([zone, zone[new[big]][extra]])
    return geoms, origin, touched, zone


def equal_area_strips(polys: np.ndarray, k: np.ndarray, steps: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Cut each polygon into ``k`` strips of equal area across its long axis.

    The cuts are found in a frame turned to the polygon's long axis, but the strips are cut from
    the polygon itself (by turned bands), so that they keep its vertices exactly and fit their
    neighbours without slivers. Returns the strips (in order along the axis) and the position of
    the polygon each came from.
    """
    rect = shapely.oriented_envelope(polys)
    ring = shapely.get_exterior_ring(rect)
    corner = [shapely.get_coordinates(shapely.get_point(ring, i)) for i in range(3)]
    e1, e2 = corner[1] - corner[0], corner[2] - corner[1]
    long_ = np.where((np.hypot(*e1.T) >= np.hypot(*e2.T))[:, None], e1, e2)
    angle = np.degrees(np.arctan2(long_[:, 1], long_[:, 0]))
    centre = shapely.centroid(rect)
    cx, cy = shapely.get_x(centre), shapely.get_y(centre)
    xmin, ymin, xmax, ymax = shapely.bounds(_rotate(polys, -angle, cx, cy)).T
    area = shapely.area(polys)

    def band(i, left, right):
        """The part of polygon i between two cuts (turned-frame x), cut from the polygon itself."""
        box = shapely.box(left, ymin[i] - 1, right, ymax[i] + 1)
        return shapely.intersection(polys[i], _rotate(box, angle[i], cx[i], cy[i]), grid_size=PRECISION)

    owner = np.repeat(np.arange(len(polys)), k - 1)
    share = np.concatenate([np.arange(1, n) / n for n in k])
    lo, hi = xmin[owner].copy(), xmax[owner].copy()
    for _ in range(steps):
        mid = (lo + hi) / 2
        below = shapely.area(band(owner, xmin[owner] - 1, mid)) < share * area[owner]
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    cuts = (lo + hi) / 2
    # Strip j of polygon i lies between cut j-1 and cut j (the bounds at both ends).
    strip_owner = np.repeat(np.arange(len(polys)), k)
    first_cut = np.r_[0, np.cumsum(k - 1)[:-1]][strip_owner]
    j = np.arange(len(strip_owner)) - np.r_[0, np.cumsum(k)[:-1]][strip_owner]
    last = len(cuts) - 1
    left = np.where(j == 0, xmin[strip_owner] - 1, cuts[np.clip(first_cut + j - 1, 0, last)])
    right = np.where(j == k[strip_owner] - 1, xmax[strip_owner] + 1, cuts[np.clip(first_cut + j, 0, last)])
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


def disjoint(C: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The compounds at ``order`` less the earlier ones they overlap (others empty)."""
    D = np.full(len(C), EMPTY, dtype=object)
    if not len(order):
        return D
    geoms = C[order]
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    earlier = j < i
    i, j = i[earlier], j[earlier]
    out = geoms.copy()
    if len(i):
        hit = np.unique(i)
        cover = grouped_union(geoms[j], np.searchsorted(hit, i), len(hit), grid_size=PRECISION)
        out[hit] = polygons_only(shapely.difference(geoms[hit], cover, grid_size=PRECISION))
    D[order] = out
    return D


def settle_tiles(owner: np.ndarray, atoms: np.ndarray, rc: np.ndarray, rows: np.ndarray,
                 plan: Plan, hh: np.ndarray | None, low: float, C: np.ndarray, n_g: int) -> np.ndarray:
    """Join small units of tiled compounds to the neighbouring unit with the longest border.

    With household figures, a unit with fewer than ``low`` households joins a neighbour; without,
    every unit does (areas decide, no new grids). Pieces in grids that tile the compound never
    move. Units are few (the pieces of the compounds too large for one grid) and the merging runs
    on their adjacency, not on geometries.
    """
    member = (plan.target[rc] == TILE) & (plan.inside[rows] | (owner >= n_g))
    idx = np.flatnonzero(member)
    if not len(idx):
        return owner
    geoms = atoms[idx]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="dwithin", distance=TOUCH_M)
    pair = (rc[idx][a] == rc[idx][b]) & (a < b)
    a, b = a[pair], b[pair]
    border = shared_border(geoms[a], geoms[b])
    area = shapely.area(geoms)
    weight = hh[rc[idx]] * area / np.maximum(shapely.area(C[rc[idx]]), 1e-12) if hh is not None else area
    root = merge_small(weight, plan.inside[rows[idx]], a, b, border, low if hh is not None else None)
    owner = owner.copy()
    owner[idx] = owner[idx][root]
    return owner


def merge_small(weight: np.ndarray, anchored: np.ndarray, a: np.ndarray, b: np.ndarray,
                border: np.ndarray, low: float | None) -> np.ndarray:
    """Greedy merging of small units into the neighbour with the longest shared border.

    Units not anchored, smallest first, join the neighbouring group they share the longest
    border with, until every remaining group is anchored or holds at least ``low`` (``None``:
    until every group is anchored) or has no neighbour left. Returns each unit's group
    representative (an anchored unit where the group has one).
    """
    n = len(weight)
    total = np.asarray(weight, dtype=float).copy()
    fixed = np.asarray(anchored, dtype=bool).copy()
    parent = np.arange(n)
    nb: list[dict[int, float]] = [{} for _ in range(n)]
    for i, j, length in zip(a.tolist(), b.tolist(), border.tolist()):
        if length > 0:
            nb[i][j] = nb[i].get(j, 0.0) + length
            nb[j][i] = nb[j].get(i, 0.0) + length
    alive = set(range(n))
    while True:
        small = [k for k in alive if not fixed[k] and nb[k] and (low is None or total[k] < low)]
        if not small:
            break
        k = min(small, key=lambda u: (total[u], u))
        into = max(nb[k], key=lambda u: (nb[k][u], -u))
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
    for k in range(n):
        r = k
        while parent[r] != r:
            r = parent[r]
        parent[k] = r
    return parent


def settle_loose(labels: Labels, loose: np.ndarray, loose_origin: np.ndarray, loose_zone: np.ndarray,
                 hh: np.ndarray | None, low: float, C: np.ndarray, rounds: int = 4) -> None:
    """Give every loose piece a grid, and make every rebuilt grid one piece.

    Loose pieces are the parts of tiling grids outside their compound and the parts cut off from a
    rebuilt grid (all but its largest). A piece holding at least ``low`` households becomes a new
    grid; otherwise it joins the neighbour of its zone it shares the longest border with; with no
    such neighbour it becomes a new grid (or, if it is overlay noise, joins any neighbour).
    """
    for round_ in range(rounds):
        rebuilt = np.flatnonzero(labels.touched & ~shapely.is_empty(labels.geoms))
        # A grid keeps the part holding most of its own old ground; what it received with a
        # compound goes with that compound if it came apart from it.
        main, rest, rest_owner = largest_part(labels.geoms[rebuilt], labels.own[rebuilt])
        labels.geoms[rebuilt] = main
        cut_from = rebuilt[rest_owner]
        loose = np.concatenate([loose, rest])
        loose_origin = np.concatenate([loose_origin, labels.origin[cut_from]])
        zone = labels.zone[cut_from]
        loose_zone = np.concatenate([loose_zone, np.where(zone == LOCKED, FREE, zone)])
        loose_from = np.concatenate([np.full(len(loose) - len(rest), -1), cut_from])
        if not len(loose):
            return
        # The last round joins nothing (a piece that keeps coming apart becomes a grid).
        place(labels, loose, loose_origin, loose_zone, loose_from, hh, low, C,
              join=round_ < rounds - 1)
        loose = np.empty(0, dtype=object)
        loose_origin = np.empty(0, dtype=np.intp)
        loose_zone = np.empty(0, dtype=np.intp)


def place(labels: Labels, loose, loose_origin, loose_zone, loose_from, hh, low, C, *,
          join: bool = True) -> None:
    """Make loose pieces new grids or join them to a neighbour (see ``settle_loose``)."""
    geoms = labels.geoms
    area = shapely.area(loose)
    noise = area <= NOISE_M2
    own = np.zeros(len(loose), dtype=bool)
    held = overlap_table(C, loose)
    if hh is not None:
        weight = hh[held.compound.to_numpy()] * held.share_of_compound.to_numpy()
        households = np.bincount(held.grid.to_numpy(), weights=weight, minlength=len(loose))
        own = (households >= low) & ~noise
    alive = np.flatnonzero(~shapely.is_empty(geoms))
    tree = shapely.STRtree(geoms[alive])
    p, q = tree.query(loose, predicate="dwithin", distance=TOUCH_M)
    q = alive[q]
    border = shared_border(loose[p], geoms[q])
    # Pieces join a grid of their zone. Overlay noise is dropped: joined to a grid it would
    # often touch it only at a point and make it two pieces. A piece cut off from a grid does
    # not go back to it (they touch across a hair's-breadth gap at most).
    ok = (labels.zone[q] == loose_zone[p]) & (border > 0) & ~noise[p] & (q != loose_from[p])
    pairs = pd.DataFrame({"piece": p[ok], "grid": q[ok], "border": border[ok]})
    pairs["kin"] = _kinship(pairs, held, C, geoms)
    # A piece goes where the compounds in it already are (so as not to split them), else to the
    # neighbour it shares the longest border with.
    best = pairs.sort_values(["kin", "border", "grid"], ascending=[False, False, True]) \
        .drop_duplicates("piece")
    target = np.full(len(loose), -1, dtype=np.intp)
    target[best.piece.to_numpy()] = best.grid.to_numpy()
    target[own] = -1
    if not join:
        target[:] = -1
    joining = target >= 0
    making = ~joining & ~noise
    if noise.any():
        log.debug("dropped %d noise pieces (%.4f m² in all)", noise.sum(), area[noise].sum())
    labels.add(loose[making], loose_origin[making], loose_zone[making])
    receivers = np.unique(target[joining])
    if len(receivers):
        # Neighbours digitised apart can leave a hair's-breadth gap along their border: snap the
        # piece onto the grid it joins, so that the union is one piece.
        snapped = shapely.snap(loose[joining], labels.geoms[target[joining]], TOUCH_M)
        bad = ~shapely.is_valid(snapped)
        snapped[bad] = polygons_only(shapely.make_valid(snapped[bad]))
        members = np.concatenate([labels.geoms[receivers], snapped])
        groups = np.concatenate([np.arange(len(receivers)), np.searchsorted(receivers, target[joining])])
        labels.geoms[receivers] = polygons_only(grouped_union(members, groups, len(receivers),
                                                              grid_size=PRECISION))
        labels.touched[receivers] = True


def _kinship(pairs: pd.DataFrame, held: pd.DataFrame, C: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """For each (piece, grid) pair, the area (m²) of the piece's compounds that the grid also holds."""
    kin = np.zeros(len(pairs))
    held = held[held.overlap_m2 > NOISE_M2]
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


# ------------------------------------------------------------------ results


def _new_ids(g_ids: np.ndarray, origin: np.ndarray, n_g: int) -> np.ndarray:
    """Ids for new grids: the id of the grid they came from with ``-1``, ``-2``, … appended."""
    taken = set(map(str, g_ids))
    counters: dict[str, int] = {}
    out = []
    for o in origin[n_g:]:
        base = str(g_ids[o])
        k = counters.get(base, 0)
        while True:
            k += 1
            candidate = f"{base}-{k}"
            if candidate not in taken:
                break
        counters[base] = k
        taken.add(candidate)
        out.append(candidate)
    return np.array(out, dtype=object)


def _status(G: np.ndarray, geoms: np.ndarray, touched: np.ndarray, n_g: int) -> np.ndarray:
    status = np.full(len(geoms), "new", dtype=object)
    status[:n_g] = "kept"
    old = np.flatnonzero(touched[:n_g])
    moved = shapely.area(shapely.symmetric_difference(G[old], geoms[old])) > NOISE_M2
    status[old[moved]] = "changed"
    status[:n_g][shapely.is_empty(geoms[:n_g])] = "removed"
    return status


def _households_per_grid(cls: Classification, hh: np.ndarray | None, c_ids: np.ndarray) -> pd.Series:
    if hh is None:
        return pd.Series(dtype=float)
    per_compound = pd.Series(hh, index=c_ids)
    ov = cls.overlaps
    weight = per_compound.reindex(ov.compound_id).to_numpy() * ov.share_of_compound.to_numpy()
    return pd.Series(weight).groupby(ov.grid_id.to_numpy()).sum()


def grid_table(before: Classification, after: Classification, ids: np.ndarray, status: np.ndarray,
               hh: np.ndarray | None, c_ids: np.ndarray) -> pd.DataFrame:
    """Per grid, households and area before and after (proposal.csv)."""
    b = before.grids.set_index("grid_id")
    a = after.grids.set_index("grid_id")
    hb = _households_per_grid(before, hh, c_ids)
    ha = _households_per_grid(after, hh, c_ids)
    table = pd.DataFrame({"grid_id": ids, "status": status})
    table["changed"] = table.status != "kept"
    if hh is not None:
        table["households_before"] = hb.reindex(ids).fillna(0).round(1).to_numpy()
        table.loc[table.status == "new", "households_before"] = np.nan
        table["households_after"] = ha.reindex(ids).fillna(0).round(1).to_numpy()
        table.loc[table.status == "removed", "households_after"] = np.nan
    table["area_m2_before"] = b.area_m2.reindex(ids).to_numpy()
    table["area_m2_after"] = a.area_m2.reindex(ids).to_numpy()
    table["situation_before"] = b.situation.reindex(ids).to_numpy()
    table["situation_after"] = a.situation.reindex(ids).to_numpy()
    table["compound_ids_after"] = a.compound_ids.reindex(ids).to_numpy()
    return table


def change_pieces(C, hh, c_ids, G, g_ids, geoms, ids, touched, crs) -> gpd.GeoDataFrame:
    """Compound pieces whose grid changes: measured between input and proposal, not assumed."""
    old = np.flatnonzero(touched[:len(G)])
    new = np.flatnonzero(touched & ~shapely.is_empty(geoms))
    columns = ["compound_id", "from_grid_id", "to_grid_id", "area_m2", "households"]
    empty = gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)
    if not len(old) or not len(new):
        return empty
    tree = shapely.STRtree(geoms[new])
    o, n = tree.query(G[old], predicate="intersects")
    o, n = old[o], new[n]
    differ = o != n
    o, n = o[differ], n[differ]
    moved = polygons_only(shapely.intersection(G[o], geoms[n], grid_size=PRECISION))
    real = shapely.area(moved) > NOISE_M2
    o, n, moved = o[real], n[real], moved[real]
    if not len(moved):
        return empty
    table = overlap_table(C, moved)
    table = table[table.overlap_m2 > NOISE_M2]
    ci, mi = table.compound.to_numpy(), table.grid.to_numpy()
    pieces = polygons_only(shapely.intersection(C[ci], moved[mi], grid_size=PRECISION))
    households = hh[ci] * table.share_of_compound.to_numpy() if hh is not None else np.full(len(ci), np.nan)
    out = gpd.GeoDataFrame({
        "compound_id": c_ids[ci],
        "from_grid_id": g_ids[o[mi]],
        "to_grid_id": ids[n[mi]],
        "area_m2": table.overlap_m2.round(1).to_numpy(),
        "households": np.round(households, 1),
    }, geometry=pieces, crs=crs)
    out.attrs["land_moved_m2"] = float(shapely.area(moved).sum())
    return out.sort_values(["compound_id", "from_grid_id", "to_grid_id"]).reset_index(drop=True)


def proposal_layer(after: Classification, grd: gpd.GeoDataFrame, status: np.ndarray,
                   origin: np.ndarray, g_ids: np.ndarray, table: pd.DataFrame, crs) -> gpd.GeoDataFrame:
    """The proposal's grids layer: gridmap's columns, then the input attributes of each grid.

    New grids carry only their origin's community (grids never cross a community).
    """
    out = after.grids[["grid_id"]].copy()
    out["status"] = status
    per = table.set_index("grid_id")
    if "households_after" in per:
        out["households"] = per.households_after.reindex(out.grid_id).to_numpy()
    out["area_m2"] = after.grids.area_m2.to_numpy()
    out["situation"] = after.grids.situation.to_numpy()
    out["compound_ids"] = after.grids.compound_ids.to_numpy()
    out["origin_grid_id"] = g_ids[origin]
    inputs = grd.drop(columns=["grid_id", "situation", "compound_ids", "area_m2", grd.geometry.name])
    attrs = inputs.set_axis(g_ids).reindex(out.grid_id.to_numpy()).reset_index(drop=True)
    community = find_field(inputs, "community", required=False)
    new = (status == "new")
    if community is not None and new.any():
        attrs.loc[new, community] = inputs.set_axis(g_ids)[community].reindex(g_ids[origin[new]]).to_numpy()
    attrs = attrs.rename(columns={c: f"{c}_input" for c in attrs.columns if c in out.columns})
    result = gpd.GeoDataFrame(pd.concat([out.reset_index(drop=True), attrs], axis=1),
                              geometry=after.grids.geometry.to_numpy(), crs=after.grids.crs)
    result = result.to_crs(crs)
    # Unchanged grids are written as they were read, not as a round trip through the metric CRS.
    same = np.flatnonzero(status == "kept")
    if len(same) and grd.crs is not None and grd.crs.equals(crs):
        original = grd.geometry.set_axis(g_ids)
        result.loc[result.index[same], result.geometry.name] = original.reindex(result.grid_id.to_numpy()[same]).to_numpy()
    return result


def unresolved_table(after: Classification, scope: np.ndarray, plan: Plan | None,
                     ov: pd.DataFrame | None, ids: np.ndarray, c_ids: np.ndarray,
                     keep_ids: np.ndarray) -> pd.DataFrame:
    """In-scope compounds still straddling grids in the proposal, with the reason."""
    mixed = after.compounds.situation.to_numpy() == "mixed"
    rows = []
    for c, grids_after in zip(np.flatnonzero(mixed), after.compounds.grid_ids.to_numpy()[mixed]):
        if not scope[c]:
            continue
        keeps = sorted(set(grids_after.split(settings.LIST_SEP)) & set(keep_ids))
        if keeps:
            reason = f"overlaps kept grid(s) {settings.LIST_SEP.join(keeps)}"
        elif plan is not None and c < len(plan.target) and plan.target[c] == STAY:
            reason = "no grid may take it: its grids are kept, nest in a large compound or tile one"
        elif _pieces_inside(after, c) > 1:
            reason = ("its part inside the grids is in pieces apart from each other (it leaves the "
                      "grids' area and comes back), which no one grid can hold in one piece")
        else:
            reason = "still shares grids with another compound after the redraw"
        rows.append({"compound_id": c_ids[c], "grid_ids": grids_after, "reason": reason})
    return pd.DataFrame(rows, columns=["compound_id", "grid_ids", "reason"])


def _pieces_inside(cls: Classification, c: int) -> int:
    """How many pieces apart the compound at position ``c`` has inside the grids."""
    compound = cls.compounds.geometry.to_crs(cls.crs).to_numpy()[c]
    grids = cls.grids.geometry.to_crs(cls.crs).to_numpy()
    near = shapely.STRtree(grids).query(compound, predicate="intersects")
    inside = shapely.intersection(compound, shapely.union_all(grids[near], grid_size=PRECISION),
                                  grid_size=PRECISION)
    parts = shapely.get_parts(inside)
    return int((shapely.area(parts) > NOISE_M2).sum())


def summarise(before, after, table, changes, hh_field, hh, scope, unresolved, low, high) -> dict:
    """The figures the CLI prints: straddling, grids changed, area and households moved."""
    mixed_before = before.compounds.situation.to_numpy() == "mixed"
    mixed_after = after.compounds.situation.to_numpy() == "mixed"
    summary = {
        "compounds": int(len(before.compounds)),
        "grids_before": int(len(before.grids)),
        "grids_after": int(len(after.grids)),
        "straddling_before": int(mixed_before.sum()),
        "straddling_after": int(mixed_after.sum()),
        "straddling_in_scope_before": int((mixed_before & scope).sum()),
        "straddling_in_scope_after": int((mixed_after & scope).sum()),
        "grids_kept": int((table.status == "kept").sum()),
        "grids_changed": int((table.status == "changed").sum()),
        "grids_new": int((table.status == "new").sum()),
        "grids_removed": int((table.status == "removed").sum()),
        "compounds_moved": int(changes.compound_id.nunique()),
        "compound_area_moved_m2": float(changes.area_m2.sum()),
        "land_moved_m2": float(changes.attrs.get("land_moved_m2", 0.0)),
        "households_field": hh_field,
        "capacity_enforced": hh is not None,
        "households_moved": float(changes.households.sum()) if hh is not None else None,
        "grid_households": (low, high),
        "unresolved": int(len(unresolved)),
    }
    if hh is not None:
        hb = table.households_before.dropna()
        ha = table.households_after.dropna()
        summary["outside_range_before"] = int(((hb < low) | (hb > high)).sum())
        summary["outside_range_after"] = int(((ha < low) | (ha > high)).sum())
    else:
        summary["outside_range_before"] = summary["outside_range_after"] = None
    return summary


def with_inferred(compounds: gpd.GeoDataFrame, inferred: gpd.GeoDataFrame, compound_id: str | None,
                  households: str | None) -> gpd.GeoDataFrame:
    """The compounds with the inferred outlines added (id and households; no type)."""
    if not len(inferred):
        return compounds
    cid = find_field(compounds, "compound_id", compound_id)
    hid = find_field(compounds, "households", households, required=False) or "households"
    extra = gpd.GeoDataFrame({cid: inferred.compound_id.to_numpy(),
                              hid: inferred.households.to_numpy()},
                             geometry=inferred.geometry.to_crs(compounds.crs).to_numpy(), crs=compounds.crs)
    extra = extra.rename_geometry(compounds.geometry.name) if compounds.geometry.name != "geometry" else extra
    out = gpd.GeoDataFrame(pd.concat([compounds, extra], ignore_index=True), crs=compounds.crs,
                           geometry=compounds.geometry.name)
    out.attrs.update(compounds.attrs)
    out.attrs["source"] = f"{compounds.attrs.get('source', 'compounds')} (with {len(extra)} inferred outlines)"
    return out


__all__ = ["Alignment", "Plan", "align", "check_range", "plan_moves", "redraw",
           "with_inferred"]
