"""Outlines for compounds that have buildings but no polygon.

Old compounds often have no drawn boundary, yet their buildings carry the compound's id. The
outline is drawn as a street-bounded partition of the space between buildings (the enclosed
tessellation of momepy): the streets, widened by a clearance, cut the area into blocks; within each
block every point goes to the nearest building (a Voronoi diagram of points sampled on the
buildings' boundaries); the cells of a compound's buildings are dissolved, kept within ``reach``
of the convex hull of its buildings, and existing compounds are taken out.

All blocks are tessellated by one Voronoi call: each block is moved far from the others (by more
than the largest block's size) before the diagram is computed, so that no cell of one block's
building reaches into another block, which is what one diagram per block would give.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap.errors import GridmapError, GridmapWarning
from gridmap.i18n import _
from gridmap.geomops import EMPTY, grouped_union, polygons_only
from gridmap import settings
from gridmap.io import find_field, id_strings, metric_crs, reconcile
from gridmap.validate import clean_layer

log = logging.getLogger(__name__)

#: Defaults: metres (reach and clearance: settings.INFER_REACH, settings.INFER_CLEARANCE).
SEGMENT = 3.0
SHRINK = 0.4
SNAP = 0.001
#: Points per Voronoi diagram (bounds the memory the cells take, about 0.3 GB).
BATCH = 250_000
_LISTED = 10


@dataclass
class Inference:
    """What ``infer_outlines`` returns.

    Attributes
    ----------
    compounds : GeoDataFrame
        One row per inferred outline: ``compound_id``, ``n_buildings``, ``households``,
        ``area_m2``, ``buildings_outside`` (buildings not wholly inside the outline, because they
        overlap an existing compound, another outline or a street clearance), in the buildings' CRS.
    skipped : DataFrame
        Buildings without a compound id (``building``: id or ``feature N``), not used.
    crs : CRS
        The metric CRS the outlines were drawn in.
    """

    compounds: gpd.GeoDataFrame
    skipped: pd.DataFrame
    crs: CRS


def infer_outlines(
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None = None,
    compounds: gpd.GeoDataFrame | None = None,
    *,
    compound_id: str | None = None,
    building_id: str | None = None,
    households: str | None = None,
    reach: float | None = None,
    clearance: float | None = None,
    segment: float = SEGMENT,
    shrink: float = SHRINK,
    crs: CRS | str | int | None = None,
) -> Inference:
    """Draw outlines for compound ids that buildings carry but no compound polygon has.

    Parameters
    ----------
    buildings : GeoDataFrame
        Footprints (or points) with a compound id field; buildings without an id are listed in a
        warning and skipped.
    streets : GeoDataFrame, optional
        Street centrelines (LineString or MultiLineString). Outlines stay ``clearance`` metres off
        them and never cross them.
    compounds : GeoDataFrame, optional
        Existing compound polygons; outlines do not overlap them.
    compound_id : str, optional
        Compound id field of the buildings (and of the compounds, when they have it); by default
        the recognised names of docs/design.md §4.
    building_id, households : str, optional
        Buildings' id and households fields; by default the recognised names when present.
    reach : float
        How far (m) an outline may extend beyond the convex hull of its buildings (default 30).
    clearance : float
        Distance (m) outlines keep from street centrelines (default 2); must be positive so that
        the blocks on either side of a street stay apart.
    segment : float
        Spacing (m) of the points sampled on building boundaries (default 3).
    shrink : float
        Footprints are shrunk by this much (m) before sampling, so that touching buildings still
        get cells of their own (default 0.4, as momepy).
    crs : optional
        Metric CRS to draw in; by default chosen per docs/design.md §6.

    Returns
    -------
    Inference
    """
    reach = settings.INFER_REACH if reach is None else reach
    clearance = settings.INFER_CLEARANCE if clearance is None else clearance
    if reach < 0 or clearance <= 0 or segment <= 0 or shrink < 0:
        raise GridmapError(_("infer needs reach ≥ 0, clearance > 0, segment > 0 and shrink ≥ 0 (metres)."))
    b_source = buildings.attrs.get("source", "buildings")
    cid = find_field(buildings, "compound_id", compound_id)
    bid = find_field(buildings, "building_id", building_id, required=False)
    hid = find_field(buildings, "households", households, required=False)
    buildings = _usable_buildings(buildings, b_source)
    layers = [buildings]
    if streets is not None:
        streets = check_streets(streets)
        layers.append(streets)
    existing_ids: set[str] = set()
    if compounds is not None:
        c_field = find_field(compounds, "compound_id",
                             compound_id if compound_id and compound_id in compounds.columns else None)
        compounds = clean_layer(compounds, c_field, "compounds")
        existing_ids = set(id_strings(compounds[c_field]).dropna())
        layers.append(compounds)
    layers = reconcile(buildings.crs, *layers)
    measure = CRS.from_user_input(crs) if crs is not None else metric_crs(*layers)
    buildings = layers[0]
    streets_m = layers[1].geometry.to_crs(measure).to_numpy() if streets is not None else np.empty(0, object)
    existing = layers[-1].geometry.to_crs(measure).to_numpy() if compounds is not None else np.empty(0, object)

    ids = id_strings(buildings[cid])
    no_id = (ids.isna() | (ids == "")).to_numpy()
    labels = _labels(buildings, bid)
    skipped = pd.DataFrame({"building": labels[no_id]})
    if no_id.any():
        shown = ", ".join(map(str, labels[no_id][:_LISTED]))
        more = _(" and {count} more").format(count=no_id.sum() - _LISTED) if no_id.sum() > _LISTED else ""
        warnings.warn(_("{source}: {count} buildings have no {field}; they belong to no outline ({ids})").format(
            source=b_source, count=no_id.sum(), field=cid, ids=shown + more), GridmapWarning, stacklevel=2)
    geoms = buildings.geometry.to_crs(measure).to_numpy()
    ids_arr = ids.to_numpy(dtype=object)
    hh = pd.to_numeric(buildings[hid], errors="coerce").to_numpy(float) if hid else None

    # Buildings without an id get no outline, but like other compounds' buildings they keep
    # outlines off the ground around them.
    targets = np.array(sorted(set(ids_arr[~no_id]) - existing_ids), dtype=object)
    log.info("%d compound ids on buildings have no outline", len(targets))
    label = pd.Series(np.arange(len(targets)), index=targets).reindex(ids_arr).fillna(-1).to_numpy(np.intp)
    outlines = draw(geoms, label, len(targets), streets_m, existing, reach=reach,
                    clearance=clearance, segment=segment, shrink=shrink)
    counts = np.bincount(label[label >= 0], minlength=len(targets))
    held = _held(geoms, label, outlines)
    table = gpd.GeoDataFrame({
        "compound_id": targets,
        "n_buildings": counts,
        "households": (np.bincount(label[label >= 0], weights=np.nan_to_num(hh[label >= 0]),
                                   minlength=len(targets)) if hh is not None else np.full(len(targets), np.nan)),
        "area_m2": np.round(shapely.area(outlines), 1),
        "buildings_outside": counts - held,
    }, geometry=outlines, crs=measure)
    table = table[~shapely.is_empty(outlines)].reset_index(drop=True)
    out = table.to_crs(buildings.crs)
    if (table.buildings_outside > 0).any():
        bad = table[table.buildings_outside > 0]
        warnings.warn(_("{count} inferred outlines do not hold all their buildings (they overlap an "
                        "existing compound, another outline or a street): {ids}").format(
            count=len(bad), ids=", ".join(map(str, bad.compound_id[:_LISTED]))), GridmapWarning, stacklevel=2)
    return Inference(compounds=out, skipped=skipped, crs=measure)


# ------------------------------------------------------------------ inputs


def _usable_buildings(buildings: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    geoms = buildings.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    wrong = ~missing & ~np.isin(types, (0, 3, 4, 6))
    if wrong.any():
        raise GridmapError(_("{source}: buildings must be polygons (footprints) or points; "
                             "{count} are not (features {numbers}).").format(
            source=source, count=wrong.sum(), numbers=_numbers(wrong)))
    if missing.any():
        warnings.warn(_("{source}: dropped {count} buildings with no geometry").format(
            source=source, count=missing.sum()), GridmapWarning, stacklevel=3)
    out = buildings.loc[~missing].copy()
    polys = np.isin(shapely.get_type_id(out.geometry.to_numpy()), (3, 6))
    invalid = polys & ~shapely.is_valid(out.geometry.to_numpy())
    if invalid.any():
        fixed = out.geometry.to_numpy().copy()
        fixed[invalid] = polygons_only(shapely.make_valid(fixed[invalid]))
        out = out.set_geometry(gpd.GeoSeries(fixed, index=out.index, crs=out.crs))
    out.attrs.update(buildings.attrs)
    return out


def check_streets(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Street centrelines, or a GridmapError naming the features that are not lines."""
    source = streets.attrs.get("source", "streets")
    geoms = streets.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    wrong = ~missing & ~np.isin(types, (1, 2, 5))
    if wrong.any():
        kinds = pd.Series(np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                                    "MultiLineString", "MultiPolygon", "GeometryCollection"])[types[wrong]]).value_counts()
        raise GridmapError(_("{source}: streets must be lines (centrelines); {count} features are {types} "
                             "(features {numbers}). Give a layer of street lines.").format(
            source=source, count=wrong.sum(), types=", ".join(f"{n} {t}" for t, n in kinds.items()),
            numbers=_numbers(wrong)))
    out = streets.loc[~missing].copy()
    out.attrs.update(streets.attrs)
    return out


def _numbers(mask: np.ndarray) -> str:
    where = np.flatnonzero(mask) + 1
    shown = ", ".join(map(str, where[:_LISTED]))
    return shown + (_(" and {count} more").format(count=len(where) - _LISTED) if len(where) > _LISTED else "")


def _labels(gdf: pd.DataFrame, id_field: str | None) -> np.ndarray:
    numbers = np.array([f"feature {i}" for i in range(1, len(gdf) + 1)], dtype=object)
    if id_field is None:
        return numbers
    ids = id_strings(gdf[id_field]).to_numpy(dtype=object).copy()
    blank = pd.isna(ids) | (ids == "")
    ids[blank] = numbers[blank]
    return ids


# ------------------------------------------------------------------ drawing


def draw(geoms: np.ndarray, label: np.ndarray, n: int, streets: np.ndarray, existing: np.ndarray, *,
         reach: float, clearance: float, segment: float = SEGMENT,
         shrink: float = SHRINK) -> np.ndarray:
    """Outlines of the ``n`` labelled groups of buildings (metric coordinates).

    Parameters
    ----------
    geoms : array
        Buildings (footprints or points).
    label : array of int
        Group of each building, 0 … n-1; -1 for buildings of other compounds, which claim their
        space but get no outline.
    streets, existing : arrays
        Street lines and existing compound polygons.

    Returns
    -------
    array of n polygons (empty where a group could not be drawn)
    """
    if n == 0:
        return np.empty(0, dtype=object)
    own = label >= 0
    # Where each outline may lie: near its buildings.
    hulls = shapely.convex_hull(_collect(geoms[own], label[own], n))
    limit = shapely.buffer(hulls, reach, quad_segs=4)
    blocks = _blocks(limit, streets, clearance)
    pts, pt_building = _sample(geoms, segment, shrink)
    pt_block, pt_keep = _locate(pts, pt_building, geoms, blocks)
    pts, pt_building, pt_block = pts[pt_keep], pt_building[pt_keep], pt_block[pt_keep]
    pt_label = label[pt_building]
    # Only blocks holding a building of a group need a tessellation.
    wanted = np.unique(pt_block[pt_label >= 0])
    use = np.isin(pt_block, wanted)
    pts, pt_block, pt_label = pts[use], pt_block[use], pt_label[use]
    pieces, piece_label = tessellate(pts, pt_block, pt_label, blocks)
    outline = grouped_union(pieces, piece_label, n)
    outline = shapely.intersection(outline, limit)
    outline = _minus(outline, existing)
    # Buildings belong to their outline even where the tessellation left a sliver of them out.
    footprints = own & np.isin(shapely.get_type_id(geoms), (3, 6))
    mine = grouped_union(geoms[footprints], label[footprints], n)
    outline = shapely.union(outline, _minus(mine, existing))
    outline = _disjoint(polygons_only(outline))
    return _with_buildings(outline, geoms[own], label[own])


def _collect(geoms: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    order = np.argsort(groups, kind="stable")
    out = np.empty(n, dtype=object)
    shapely.geometrycollections(geoms[order], indices=groups[order], out=out)
    out[shapely.is_missing(out)] = shapely.GeometryCollection()
    return out


def _blocks(limit: np.ndarray, streets: np.ndarray, clearance: float) -> np.ndarray:
    """The area near the groups, cut by the streets widened by ``clearance`` on each side."""
    region = shapely.union_all(limit)
    if len(streets):
        near = shapely.STRtree(streets).query(region, predicate="dwithin", distance=clearance)
        if len(near):
            corridor = shapely.union_all(shapely.buffer(streets[near], clearance, quad_segs=8))
            region = shapely.difference(region, corridor)
    parts = shapely.get_parts(region)
    return parts[shapely.get_type_id(parts) == 3]


def _sample(geoms: np.ndarray, segment: float, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """Points on the (shrunk) boundaries of footprints, and point buildings themselves."""
    polys = np.isin(shapely.get_type_id(geoms), (3, 6))
    shrunk = geoms.copy()
    if shrink > 0 and polys.any():
        small = shapely.buffer(geoms[polys], -shrink, quad_segs=2)
        # Footprints thinner than twice the shrink keep their own outline.
        small = np.where(shapely.is_empty(small), geoms[polys], small)
        shrunk[polys] = small
    lines = shrunk.copy()
    lines[polys] = shapely.segmentize(shapely.boundary(shrunk[polys]), segment)
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    return coords, owner


def _locate(pts: np.ndarray, owner: np.ndarray, geoms: np.ndarray, blocks: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """The block each point lies in; points in no block (under a street, out of reach) are dropped.

    Most buildings lie in one block and their points go with them; only the points of buildings
    that meet several blocks (a street clearance runs through them) are located one by one.
    """
    block = np.full(len(pts), -1, dtype=np.intp)
    if not len(blocks) or not len(pts):
        return block, block >= 0
    tree = shapely.STRtree(blocks)
    bi, bb = tree.query(geoms, predicate="intersects")
    count = np.bincount(bi, minlength=len(geoms))
    one = count[bi] == 1
    of_building = np.full(len(geoms), -1, dtype=np.intp)
    of_building[bi[one]] = bb[one]
    block = of_building[owner]
    several = np.flatnonzero(count[owner] > 1)
    if len(several):
        block[several] = -1
        p, b = tree.query(shapely.points(pts[several]), predicate="intersects")
        block[several[p]] = b
    return block, block >= 0


def tessellate(pts: np.ndarray, pt_block: np.ndarray, pt_label: np.ndarray, blocks: np.ndarray,
               batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells of the points, each block on its own, dissolved by (block, label).

    Blocks are taken in batches of about ``batch`` points, one Voronoi diagram per batch, which
    bounds the memory the cells take (a city has millions of points).

    Returns the pieces of labelled groups (label ≥ 0), clipped to their block, and their labels.
    """
    if not len(pts):
        return np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
    used, counts = np.unique(pt_block, return_counts=True)
    batch_of = np.zeros(len(blocks), dtype=np.intp)
    batch_of[used] = np.cumsum(counts) // max(batch, 1)
    pieces, labels = [], []
    for b in np.unique(batch_of[used]):
        mine = batch_of[pt_block] == b
        p, lab = _tessellate_batch(pts[mine], pt_block[mine], pt_label[mine], blocks)
        pieces.append(p)
        labels.append(lab)
    return np.concatenate(pieces), np.concatenate(labels)


def _tessellate_batch(pts, pt_block, pt_label, blocks):
    if not (pt_label >= 0).any():
        return np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
    # Move each block away from all others by more than the largest block's extent: a point of
    # one block is then nearer to any point of its own block than to any of another. Blocks go
    # to the cells of a square layout centred on 0, keeping coordinates small for GEOS.
    bounds = shapely.bounds(blocks)
    used = np.unique(pt_block)
    size = float(np.hypot(bounds[used, 2] - bounds[used, 0], bounds[used, 3] - bounds[used, 1]).max())
    cell = 2.0 * size + 10.0
    side = int(np.ceil(np.sqrt(len(used))))
    slot = np.arange(len(used))
    half = side * cell / 2
    dx = np.zeros(len(blocks))
    dy = np.zeros(len(blocks))
    dx[used] = (slot % side) * cell - half - bounds[used, 0]
    dy[used] = (slot // side) * cell - half - bounds[used, 1]
    extent = shapely.box(-half - cell, -half - cell, half + cell, half + cell)
    # Near-coincident points make degenerate cells: sample on a 1 mm lattice, one point a spot.
    moved = np.round(pts + np.column_stack([dx[pt_block], dy[pt_block]]), 3)
    moved, first = np.unique(moved, axis=0, return_index=True)
    pt_block, pt_label = pt_block[first], pt_label[first]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(moved), extend_to=extent,
                                                       ordered=True))
    if len(cells) != len(moved):  # GEOS merged near-coincident points: match cells to points
        cells = _match(cells, moved)
    labelled = pt_label >= 0
    cells, pt_block, pt_label = cells[labelled], pt_block[labelled], pt_label[labelled]
    bad = ~shapely.is_valid(cells)
    if bad.any():  # GEOS now and then returns a self-touching cell
        cells[bad] = polygons_only(shapely.make_valid(cells[bad]))
    width = int(pt_label.max()) + 1
    keys, group = np.unique(pt_block.astype(np.int64) * width + pt_label, return_inverse=True)
    merged = dissolve_cells(cells, group, len(keys))
    block = keys // width
    label = keys % width
    shifted = _shift(blocks[block], dx[block], dy[block])
    pieces = polygons_only(shapely.intersection(merged, shifted))
    return _shift(pieces, -dx[block], -dy[block]), label


def dissolve_cells(cells: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Union of Voronoi cells per group.

    Cells share their edges exactly, so the fast coverage union serves; GEOS now and then leaves a
    diagram imperfectly noded, and then the chunk of groups is halved until the failing ones are
    found, which are unioned by snap-rounding overlay.
    """
    out = np.full(n, EMPTY, dtype=object)
    order = np.argsort(group, kind="stable")
    cells, group = cells[order], group[order]
    start = np.searchsorted(group, np.arange(n + 1))
    # Chunks first, so that a failing group costs the halving of its chunk, not of everything.
    step = max(1, -(-n // 32))
    pending = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    while pending:
        lo, hi = pending.pop()
        part = slice(start[lo], start[hi])
        try:
            out[lo:hi] = grouped_union(cells[part], group[part] - lo, hi - lo, coverage=True)
        except shapely.errors.GEOSException:
            if hi - lo == 1:
                out[lo] = shapely.union_all(cells[part], grid_size=SNAP)
                log.debug("coverage union failed for one group; snap-rounded instead")
            else:
                mid = (lo + hi) // 2
                pending += [(lo, mid), (mid, hi)]
    return out


def _match(cells: np.ndarray, pts: np.ndarray) -> np.ndarray:
    c, p = shapely.STRtree(cells).query(shapely.points(pts), predicate="intersects")
    out = np.full(len(pts), EMPTY, dtype=object)
    out[c] = cells[p]
    return out


def _shift(geoms: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Translate each geometry by its own offset, in one vectorised pass."""
    counts = shapely.get_num_coordinates(geoms)
    offset = np.column_stack([np.repeat(dx, counts), np.repeat(dy, counts)])
    return shapely.transform(geoms, lambda xy: xy + offset)


def _minus(geoms: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each geometry less the union of the ``others`` it intersects."""
    if not len(others) or not len(geoms):
        return geoms
    g, o = shapely.STRtree(others).query(geoms, predicate="intersects")
    if not len(g):
        return geoms
    hit = np.unique(g)
    cover = grouped_union(others[o], np.searchsorted(hit, g), len(hit))
    out = geoms.copy()
    out[hit] = shapely.difference(geoms[hit], cover)
    return out


def _disjoint(outlines: np.ndarray) -> np.ndarray:
    """Outlines less the earlier ones they overlap (buildings added last may overlap a neighbour)."""
    alive = np.flatnonzero(~shapely.is_empty(outlines))
    if not len(alive):
        return outlines
    geoms = outlines[alive]
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    earlier = j < i
    i, j = i[earlier], j[earlier]
    out = outlines.copy()
    if len(i):
        hit = np.unique(i)
        cover = grouped_union(geoms[j], np.searchsorted(hit, i), len(hit))
        out[alive[hit]] = polygons_only(shapely.difference(geoms[hit], cover))
    return out


def _with_buildings(outlines: np.ndarray, geoms: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Keep only the parts of each outline that touch one of its buildings (reach clipping can
    leave stray bits of cells behind)."""
    parts, owner = shapely.get_parts(outlines, return_index=True)
    if not len(parts):
        return outlines
    p, b = shapely.STRtree(geoms).query(parts, predicate="intersects")
    good = np.zeros(len(parts), dtype=bool)
    good[p[label[b] == owner[p]]] = True
    out = np.full(len(outlines), EMPTY, dtype=object)
    kept = grouped_union(parts[good], owner[good], len(outlines))
    has = np.zeros(len(outlines), dtype=bool)
    has[owner[good]] = True
    out[has] = kept[has]
    return out


def _held(geoms: np.ndarray, label: np.ndarray, outlines: np.ndarray) -> np.ndarray:
    """How many of each group's buildings lie wholly in its outline (within 1 cm)."""
    own = np.flatnonzero(label >= 0)
    held = np.zeros(len(outlines), dtype=np.intp)
    if not len(own):
        return held
    inside = shapely.area(shapely.difference(geoms[own], outlines[label[own]])) <= 0.01
    points = ~np.isin(shapely.get_type_id(geoms[own]), (3, 6))
    inside[points] = shapely.intersects(outlines[label[own][points]], geoms[own][points])
    return np.bincount(label[own][inside], minlength=len(outlines))


def outline_iou(inferred: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, *, compound_id: str | None = None,
                crs: CRS | None = None) -> pd.DataFrame:
    """Intersection over union of inferred and true outlines sharing a compound id.

    Returns ``compound_id``, ``iou``, ``area_inferred_m2``, ``area_true_m2``.
    """
    tid = find_field(truth, "compound_id", compound_id if compound_id in truth.columns else None)
    measure = crs or metric_crs(truth)
    a = inferred.to_crs(measure).set_index(id_strings(inferred.compound_id).to_numpy()).geometry
    t = truth.to_crs(measure)
    t = t.set_index(id_strings(t[tid]).to_numpy()).geometry
    common = a.index.intersection(t.index)
    ga, gt = a.loc[common].to_numpy(), t.loc[common].to_numpy()
    inter = shapely.area(shapely.intersection(ga, gt))
    union = shapely.area(shapely.union(ga, gt))
    return pd.DataFrame({"compound_id": np.asarray(common), "iou": np.where(union > 0, inter / union, 0.0),
                         "area_inferred_m2": shapely.area(ga), "area_true_m2": shapely.area(gt)})


__all__ = ["Inference", "infer_outlines", "draw", "tessellate",
           "outline_iou", "check_streets"]
