"""Micro-grids (微网格): each grid cut into pieces of about 30–100 households, made of whole buildings.

How (DESIGN §1, issue 4):

1. Buildings go to the grid holding most of their footprint (points: the grid they lie in). A
   building that crosses a grid boundary is clipped to its grid: micro-grids tile grids, so the
   part beyond the boundary belongs to the neighbouring grid's territory; such buildings are
   flagged ``crosses_grid`` in the ``buildings`` layer.
2. Each grid (or, with streets, each street block of a grid) is cut by recursive coordinate
   bisection, all grids level by level with array operations: a piece holding more than MAX
   households is cut by an axis-parallel line into two pieces whose household totals are in the
   ratio of the micro-grids each should hold. Cut positions that pass between buildings are
   preferred (every building then lies on one side); the long axis is preferred, which keeps
   pieces compact.
3. Pieces under MIN households join a neighbour (longest shared border) while the sum stays
   within MAX; pieces without households always join one.
4. Where a cut had to cross a building, the building's footprint is handed to the piece it was
   counted in, so every building lies inside its micro-grid.
5. Stray parts (a non-convex grid cut by a straight line can fall apart) join the neighbour with
   the longest shared border, with their buildings.
6. Micro-grids are numbered like a page is read: in bands from north to south, each band as tall
   as a typical micro-grid of the grid (square root of grid area / count), west to east within a
   band. Codes extend the grid's code: ``WG010203`` → ``WG010203-01``, ``-02``, …

Everything that touches geometry is vectorised over all grids at once; Python loops run over
merges and stray parts only, which are few.
"""

from __future__ import annotations

import heapq
import logging
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap import settings
from gridmap.errors import DroppedGeometryWarning, GridmapError, GridmapWarning, RepairWarning
from gridmap.io import find_field, id_strings, metric_crs
from gridmap.validate import clean_layer, polygonal_part

log = logging.getLogger(__name__)

#: A cut passing between buildings is taken over one crossing a building when its household
#: split is off the ideal by at most this share of one micro-grid's households.
CLEAN_TOLERANCE = 0.5
_LISTED = 10


class UnplacedBuildingWarning(GridmapWarning):
    """Buildings lie outside every grid and were left out of the micro-grids."""


class StaffingWarning(GridmapWarning):
    """Micro-grids without a grid worker, or roster rows that could not be used."""


@dataclass
class MicroGrids:
    """What ``microgrids`` returns.

    Attributes
    ----------
    microgrids : GeoDataFrame
        One row per micro-grid: ``microgrid_id``, ``grid_id``, ``households``, ``building_ids``
        (``;``-joined), ``n_buildings``, ``area_m2``, ``worker`` (worker id, with a roster),
        ``community`` when the grids have one; geometry in the grids' CRS.
    buildings : GeoDataFrame
        One row per input building (input order): ``building_id``, ``grid_id``, ``microgrid_id``,
        ``households``, ``status`` (``inside``, ``crosses_grid`` or ``outside``).
    crs : CRS
        The metric CRS areas were measured and cuts made in.
    households_range : tuple of int
        (MIN, MAX) households per micro-grid.
    """

    microgrids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    crs: CRS
    households_range: tuple[int, int]

    @property
    def outside(self) -> list[str]:
        """Ids of buildings outside every grid."""
        return list(self.buildings.building_id[self.buildings.status == "outside"])

    def summary(self) -> dict:
        """Counts and the household distribution, for the command's report and notes."""
        mg = self.microgrids
        lo, hi = self.households_range
        h = mg.households.to_numpy(dtype=float)
        n_parts = shapely.get_num_geometries(mg.geometry.to_numpy())
        return {
            "grids": int(mg.grid_id.nunique()),
            "microgrids": len(mg),
            "households": float(h.sum()),
            "below_min": int((h < lo).sum()),
            "within_range": int(((h >= lo) & (h <= hi)).sum()),
            "above_max": int((h > hi).sum()),
            "quantiles": {q: float(np.quantile(h, q)) for q in (0, 0.1, 0.5, 0.9, 1)} if len(h) else {},
            "multipart": int((n_parts > 1).sum()),
            "buildings_outside": int((self.buildings.status == "outside").sum()),
            "buildings_crossing": int((self.buildings.status == "crosses_grid").sum()),
            "unstaffed": int(mg.worker.isna().sum()) if "worker" in mg else len(mg),
        }


def microgrids(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    grid_id: str | None = None,
    building_id: str | None = None,
    households: str | None = None,
    households_per_building: float | None = None,
    households_range: tuple[int, int] | None = None,
    roster: pd.DataFrame | None = None,
    crs: CRS | str | int | None = None,
    only_grids: Collection[str] | None = None,
) -> MicroGrids:
    """Cut every grid into micro-grids of whole buildings.

    Parameters
    ----------
    grids : GeoDataFrame
        Grid polygons with an id field (``grid_id``, 网格编码, … or ``grid_id=``).
    buildings : GeoDataFrame
        Building footprints (polygons) or points, with an id and a households field.
    streets : GeoDataFrame, optional
        Street lines; micro-grid borders then follow streets where the household counts allow
        (each grid is first cut into street blocks).
    grid_id, building_id, households : str, optional
        Field names; by default the recognised names of DESIGN §4.
    households_per_building : float, optional
        Households counted for a building whose figure is missing (and for every building when
        the layer has no households field). Without it, missing figures are an error.
    households_range : (int, int)
        MIN and MAX households per micro-grid (default 30, 100).
    roster : DataFrame, optional
        ``worker_id`` and ``grid_id`` columns (see ``read_roster``): workers are given, in roster
        order, to their grid's micro-grids in number order.
    crs : optional
        CRS to cut and measure in; by default chosen per DESIGN §6 (metres).
    only_grids : collection of str, optional
        Cut only these grids (a part of a distributed run). Buildings are still assigned among
        all grids, so each of these grids gets exactly the micro-grids of a full run; the result
        holds their micro-grids, and building rows of other grids have no micro-grid.

    Returns
    -------
    MicroGrids

    Raises
    ------
    GridmapError
        Missing fields, bad household figures, duplicate ids, or no building in any grid.
    """
    households_range = settings.MICROGRID_HOUSEHOLDS if households_range is None else households_range
    lo, hi = households_range
    if not 0 <= lo <= hi or hi <= 0:
        raise GridmapError(f"households range {lo}:{hi}: need 0 ≤ MIN ≤ MAX and MAX > 0.")
    gid = find_field(grids, "grid_id", grid_id)
    grids = clean_layer(grids, gid, "grids")
    bid = find_field(buildings, "building_id", building_id)
    buildings, b_geom_in = _clean_buildings(buildings, bid)
    hh = _households(buildings, households, households_per_building)
    target_crs = grids.crs
    layers = [grids, buildings] + ([streets] if streets is not None else [])
    measure = CRS.from_user_input(crs) if crs is not None else metric_crs(*layers)
    log.info("cutting micro-grids in %s (%s), %d–%d households each", measure.to_string(),
             measure.name, lo, hi)
    g_geom = grids.geometry.to_crs(measure).to_numpy()
    b_geom = gpd.GeoSeries(b_geom_in, crs=buildings.crs).to_crs(measure).to_numpy()
    g_ids = id_strings(grids[gid]).to_numpy(dtype=object)
    b_ids = id_strings(buildings[bid]).to_numpy(dtype=object)

    b_grid, crossing, b_clip = assign_to_grids(b_geom, g_geom)
    outside = b_grid < 0
    if outside.all():
        raise GridmapError(f"{buildings.attrs.get('source', 'buildings')}: none of the "
                           f"{len(b_ids)} buildings lies in a grid of {grids.attrs.get('source', 'the grids')}. "
                           "Are the layers of the same area (and their CRS right)?")
    if outside.any():
        warnings.warn(f"{outside.sum()} buildings lie outside every grid and were left out: "
                      f"{_sample(b_ids[outside])} (status 'outside' in the buildings layer)",
                      UnplacedBuildingWarning, stacklevel=2)
    placed = np.flatnonzero(~outside)

    cut_grids = np.arange(len(g_geom))
    if only_grids is not None:
        cut_grids = np.flatnonzero(np.isin(g_ids, list(only_grids)))
        placed = placed[np.isin(b_grid[placed], cut_grids)]
    b_in, b_of = b_clip[placed], b_grid[placed]
    if streets is not None and len(streets):
        pieces, piece_grid = street_blocks(g_geom[cut_grids], streets.geometry.to_crs(measure).to_numpy())
        piece_grid = cut_grids[piece_grid]
        cut = tile(pieces, piece_grid, b_in, b_of, hh[placed], households_range)
        leaf_geom, leaf_grid, b_leaf = _prefer_one_piece(cut, g_geom, b_in, b_of, hh[placed],
                                                         households_range)
    else:
        leaf_geom, leaf_grid, b_leaf = tile(g_geom[cut_grids], cut_grids, b_in, b_of, hh[placed],
                                            households_range)
    order = reading_order(leaf_geom, leaf_grid, g_geom)

    # Renumber leaves in reading order and build the tables.
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    leaf_geom, leaf_grid = leaf_geom[order], leaf_grid[order]
    b_leaf = rank[b_leaf]
    codes = microgrid_codes(g_ids[leaf_grid])
    table = _microgrid_table(codes, g_ids, leaf_grid, leaf_geom, b_leaf, b_ids[placed], hh[placed])
    community = find_field(grids, "community", required=False)
    if community is not None:
        table.insert(2, "community", grids[community].to_numpy()[leaf_grid])
    if roster is not None:
        table["worker"] = assign_workers(table, roster)
    else:
        table["worker"] = pd.Series([None] * len(table), dtype=object)
    mg = gpd.GeoDataFrame(table, geometry=leaf_geom, crs=measure).to_crs(target_crs)
    # Reprojection can turn a hair-thin notch left by a handed-over footprint into a crossing.
    out_geom = mg.geometry.to_numpy()
    broken = ~shapely.is_valid(out_geom)
    if broken.any():
        out_geom[broken] = polygonal_part(shapely.make_valid(out_geom[broken]))
        mg = mg.set_geometry(gpd.GeoSeries(out_geom, index=mg.index, crs=target_crs))

    b_mg = np.full(len(b_ids), None, dtype=object)
    b_mg[placed] = codes[b_leaf]
    status = np.where(outside, "outside", np.where(crossing, "crosses_grid", "inside")).astype(object)
    b_out = gpd.GeoDataFrame({
        "building_id": b_ids,
        "grid_id": np.where(outside, None, g_ids[np.maximum(b_grid, 0)]),
        "microgrid_id": b_mg,
        "households": _as_int_if_whole(hh),
        "status": status,
    }, geometry=gpd.GeoSeries(b_geom_in, crs=buildings.crs).to_crs(target_crs).to_numpy(),
        crs=target_crs, index=buildings.index)
    result = MicroGrids(mg, b_out, measure, (lo, hi))
    log.info("%d micro-grids in %d grids", len(mg), len(g_geom))
    return result


def tile(pieces: np.ndarray, piece_grid: np.ndarray, b_geom: np.ndarray, b_grid: np.ndarray,
         hh: np.ndarray, households_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Micro-grids of pieces that tile the grids (the grids themselves, or their street blocks).

    Parameters
    ----------
    pieces, piece_grid : arrays
        Polygons in metres and the grid position of each.
    b_geom, b_grid, hh : arrays
        Buildings (clipped to their grid), their grid position and households.

    Returns
    -------
    leaf_geom, leaf_grid, b_leaf
        Micro-grids (unordered), their grid, and each building's micro-grid.
    """
    b_piece = _locate(b_geom, b_grid, pieces, piece_grid)
    leaf_geom, leaf_grid, b_leaf = bisect(pieces, piece_grid, b_geom, hh, b_piece, households_range)
    leaf_geom = hand_over_buildings(leaf_geom, leaf_grid, b_geom, b_leaf)
    leaf_geom, leaf_grid, b_leaf = merge_strays(leaf_geom, leaf_grid, b_geom, b_leaf, hh, households_range)
    return merge_small(leaf_geom, leaf_grid, b_leaf, hh, households_range)


def _prefer_one_piece(cut: tuple, g_geom: np.ndarray, b_geom: np.ndarray, b_grid: np.ndarray,
                      hh: np.ndarray, households_range: tuple[int, int]) -> tuple:
    """Micro-grids along streets, except in grids where that leaves one in several parts (a
    street across a grid's hair-thin neck) or one with no households in a grid that has some (a
    block cut off by slivers between streets and the grid's edge): those grids are cut again
    without streets."""
    c_geom, c_grid, c_leaf = cut
    single = shapely.get_num_geometries(g_geom) == 1
    h_leaf = np.bincount(c_leaf, weights=hh, minlength=len(c_geom))
    h_grid = np.bincount(c_grid, weights=h_leaf, minlength=len(g_geom))
    bad = (shapely.get_num_geometries(c_geom) > 1) & single[c_grid]
    bad |= (h_leaf == 0) & (h_grid[c_grid] > 0)
    broken = np.unique(c_grid[bad])
    if not len(broken):
        return cut
    log.info("%d grids are cut without streets (streets would leave a micro-grid in several "
             "parts, or one with no households)", len(broken))
    redo = np.isin(b_grid, broken)
    p_geom, p_grid, p_leaf = tile(g_geom[broken], broken, b_geom[redo], b_grid[redo], hh[redo],
                                  households_range)
    keep = ~np.isin(c_grid, broken)
    renumber = np.cumsum(keep) - 1
    leaf = renumber[c_leaf]
    leaf[redo] = p_leaf + keep.sum()
    return (np.concatenate([c_geom[keep], p_geom]), np.concatenate([c_grid[keep], p_grid]), leaf)


# ------------------------------------------------------------------ inputs


def _clean_buildings(buildings: gpd.GeoDataFrame, bid: str) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Buildings with usable geometry (polygons repaired, points kept), ids checked."""
    source = buildings.attrs.get("source", "buildings")
    ids = id_strings(buildings[bid])
    null = ids.isna() | (ids == "")
    if null.any():
        raise GridmapError(f"{source}: {null.sum()} buildings have no {bid}; every building needs an id "
                           "(name the field with --building-id).")
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise GridmapError(f"{source}: {dup.nunique()} values of {bid} are used by more than one "
                           f"building ({_sample(pd.unique(dup))}); building ids must be unique.")
    geoms = buildings.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    wrong = ~missing & ~np.isin(types, (0, 3, 6, 7))
    if wrong.any():
        raise GridmapError(f"{source}: buildings must be footprints (polygons) or points; "
                           f"{wrong.sum()} are lines ({_sample(ids[wrong])}).")
    invalid = ~missing & ~shapely.is_valid(geoms)
    fixed = geoms.copy()
    repair = invalid | (types == 7)
    if repair.any():
        fixed[repair] = polygonal_part(shapely.make_valid(geoms[repair]))
        if invalid.any():
            warnings.warn(f"{source}: repaired {invalid.sum()} invalid building footprints with "
                          f"make_valid ({_sample(ids[invalid])})", RepairWarning, stacklevel=3)
    gone = missing | shapely.is_empty(fixed)
    if gone.any():
        warnings.warn(f"{source}: dropped {gone.sum()} buildings with no geometry "
                      f"({_sample(ids[gone])})", DroppedGeometryWarning, stacklevel=3)
    kept = buildings.loc[~gone].copy()
    kept.attrs.update(buildings.attrs)
    if not len(kept):
        raise GridmapError(f"{source}: no building has a usable geometry.")
    return kept, fixed[~gone]


def _households(buildings: gpd.GeoDataFrame, field: str | None, default: float | None) -> np.ndarray:
    """Households per building as floats; missing figures are an error unless ``default`` is given."""
    source = buildings.attrs.get("source", "buildings")
    name = find_field(buildings, "households", field, required=default is None)
    if name is None:
        log.info("%s has no households field: counting %g per building", source, default)
        return np.full(len(buildings), float(default))
    raw = buildings[name]
    values = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | (raw.astype(str).str.strip() == "")
    garbled = values.isna() & ~blank
    if garbled.any():
        raise GridmapError(f"{source}: field {name!r} holds values that are not numbers "
                           f"({_sample(raw[garbled].astype(str).unique())}); households must be counts.")
    if blank.any():
        if default is None:
            ids = buildings.index[blank]
            raise GridmapError(f"{source}: {blank.sum()} buildings have no figure in {name!r} "
                               f"(rows {_sample(ids)}). Fill them in, or count each such building as "
                               "N households with --households-per-building N.")
        values = values.fillna(float(default))
    if (values < 0).any():
        raise GridmapError(f"{source}: field {name!r} has negative household counts "
                           f"({_sample(raw[values < 0].astype(str))}).")
    return values.to_numpy(dtype=float)


# ------------------------------------------------------------------ geometry steps


def assign_to_grids(b_geom: np.ndarray, g_geom: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid of each building: the one holding most of its footprint (-1: none).

    Returns
    -------
    grid : int array
        Grid position per building, -1 outside every grid.
    crossing : bool array
        The building reaches beyond its grid.
    clipped : array of geometries
        The building clipped to its grid (the building itself when inside; empty when outside).
    """
    tree = shapely.STRtree(g_geom)
    bi, gi = tree.query(b_geom, predicate="intersects")
    grid = np.full(len(b_geom), -1, dtype=np.int64)
    count = np.bincount(bi, minlength=len(b_geom))
    one = count[bi] == 1
    grid[bi[one]] = gi[one]
    many = ~one
    if many.any():
        area = shapely.area(shapely.intersection(b_geom[bi[many]], g_geom[gi[many]]))
        pairs = pd.DataFrame({"b": bi[many], "g": gi[many], "a": area})
        best = pairs.sort_values(["b", "a", "g"], ascending=[True, False, True]).drop_duplicates("b")
        grid[best.b.to_numpy()] = best.g.to_numpy()
    placed = grid >= 0
    clipped = np.array([shapely.Polygon()] * len(b_geom), dtype=object)
    clipped[placed] = b_geom[placed]
    shapely.prepare(g_geom)
    covered = np.zeros(len(b_geom), dtype=bool)
    covered[placed] = shapely.covers(g_geom[grid[placed]], b_geom[placed])
    crossing = placed & ~covered
    if crossing.any():
        cut = shapely.intersection(b_geom[crossing], g_geom[grid[crossing]])
        polygonal = shapely.get_type_id(b_geom[crossing]) != 0
        cut[polygonal] = polygonal_part(cut[polygonal])
        clipped[crossing] = cut
        # A point on a grid's edge is "crossing" only by rounding; it lies in its grid.
        crossing[np.flatnonzero(crossing)[~polygonal]] = False
    return grid, crossing, clipped


def street_blocks(g_geom: np.ndarray, s_geom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each grid cut along the streets crossing it into blocks (momepy's enclosures, per grid).

    Returns the blocks and the grid position of each; a grid no street crosses is one block.
    """
    lines = shapely.get_parts(s_geom)
    lines = lines[np.isin(shapely.get_type_id(lines), (1, 2))]
    if not len(lines):
        return g_geom, np.arange(len(g_geom))
    tree = shapely.STRtree(g_geom)
    li, gi = tree.query(lines, predicate="intersects")
    crossed = np.unique(gi)
    if not len(crossed):
        return g_geom, np.arange(len(g_geom))
    # Node every street with every crossed grid's boundary once, then polygonize the lot.
    rings = shapely.boundary(g_geom[crossed])
    noded = shapely.union_all(np.concatenate([shapely.intersection(lines[li], g_geom[gi]), rings]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inner = shapely.point_on_surface(faces)
    fi, ci = shapely.STRtree(g_geom[crossed]).query(inner, predicate="within")
    block = shapely.intersection(faces[fi], g_geom[crossed][ci])
    block = polygonal_part(block)
    keep = ~shapely.is_empty(block)
    blocks, block_grid = block[keep], crossed[ci[keep]]
    uncrossed = np.setdiff1d(np.arange(len(g_geom)), crossed)
    # Territory polygonize missed (faces dropped as degenerate) stays with its grid.
    covered = _union_groups(blocks, block_grid, len(g_geom))
    rest = shapely.difference(g_geom[crossed], covered[crossed])
    rest = polygonal_part(rest)
    lost = shapely.area(rest) > 1e-6 * shapely.area(g_geom[crossed])
    if lost.any():
        extra = shapely.get_parts(rest[lost], return_index=True)
        blocks = np.concatenate([blocks, extra[0]])
        block_grid = np.concatenate([block_grid, crossed[lost][extra[1]]])
    # A street cutting a pinched grid (a spike held by a hair) can leave a block that touches the
    # rest of its grid only at a point: such grids are not cut by streets, so pieces stay whole.
    n_blocks = np.bincount(block_grid, minlength=len(g_geom))
    adj = _adjacency(blocks, block_grid)
    linked = np.zeros(len(blocks), dtype=bool)
    linked[adj.a.to_numpy()] = True
    pinched = np.unique(block_grid[~linked & (n_blocks[block_grid] > 1)])
    if len(pinched):
        log.info("%d grids are not cut by streets: a block would touch the rest only at a point",
                 len(pinched))
        keep = ~np.isin(block_grid, pinched)
        blocks, block_grid = blocks[keep], block_grid[keep]
        uncrossed = np.union1d(uncrossed, pinched)
    pieces = np.concatenate([g_geom[uncrossed], blocks])
    piece_grid = np.concatenate([uncrossed, block_grid])
    log.info("streets cut %d grids into %d blocks", len(crossed) - len(pinched), len(blocks))
    return pieces, piece_grid


def _locate(b_geom: np.ndarray, b_grid: np.ndarray, pieces: np.ndarray, piece_grid: np.ndarray) -> np.ndarray:
    """The piece of its own grid each building lies in (most of it), by representative point."""
    if len(pieces) == len(piece_grid) and np.array_equal(piece_grid, np.arange(len(pieces))):
        return b_grid.copy()
    point = shapely.point_on_surface(b_geom)
    bi, pi = shapely.STRtree(pieces).query(point, predicate="intersects")
    same = piece_grid[pi] == b_grid[bi]
    bi, pi = bi[same], pi[same]
    where = np.full(len(b_geom), -1, dtype=np.int64)
    where[bi[::-1]] = pi[::-1]
    missing = np.flatnonzero(where < 0)
    if len(missing):
        # Rounding left the point on no piece: take the nearest piece of the building's grid.
        ni, npi = shapely.STRtree(pieces).query_nearest(point[missing], all_matches=True)
        ok = piece_grid[npi] == b_grid[missing[ni]]
        where[missing[ni[ok]][::-1]] = npi[ok][::-1]
        still = np.flatnonzero(where < 0)
        for b in still:  # pragma: no cover - a piece of the grid always exists
            where[b] = np.flatnonzero(piece_grid == b_grid[b])[0]
    return where


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
    out[0::2] = _polygonal(shapely.intersection(geom[nodes], low_box))
    out[1::2] = _polygonal(shapely.intersection(geom[nodes], high_box))
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


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Overlay results with stray lines or points reduced to their polygons."""
    types = shapely.get_type_id(geoms)
    odd = ~np.isin(types, (3, 6))
    if odd.any():
        geoms = geoms.copy()
        geoms[odd] = polygonal_part(geoms[odd])
    return geoms


def _adjacency(geom: np.ndarray, grid: np.ndarray, among: np.ndarray | None = None) -> pd.DataFrame:
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
    adj = _adjacency(leaf_geom, leaf_grid, small)
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
        _, _, other = max(fits)
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


def _union_groups(geoms: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
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
    united = _union_groups(leaf_geom[several], new[several], len(keys))
    merged = np.flatnonzero(counts > 1)
    geom[merged] = _polygonal(united[merged])
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
            foot[j] = _polygonal(np.array([shapely.difference(foot[j], shapely.union_all(foot[rows.i.to_numpy()]))],
                                          dtype=object))[0]
    owner = b_leaf[out_idx]
    fi, li = shapely.STRtree(leaf_geom).query(foot, predicate="intersects")
    same = leaf_grid[li] == leaf_grid[owner[fi]]
    fi, li = fi[same], li[same]
    other = owner[fi] != li
    n = len(leaf_geom)
    lose = _union_groups(foot[fi[other]], li[other], n)
    gain = _union_groups(foot, owner, n)
    touched = np.union1d(li[other], owner)
    geom = leaf_geom.copy()
    kept = shapely.difference(leaf_geom[touched], lose[touched])
    geom[touched] = _polygonal(shapely.union(kept, gain[touched]))
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
    gain = _union_groups(parts[stray], target, len(geom))
    hit = np.unique(target)
    geom[hit] = _polygonal(shapely.union(geom[hit], gain[hit]))
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


def reading_order(geom: np.ndarray, grid: np.ndarray, g_geom: np.ndarray) -> np.ndarray:
    """Order of micro-grids for numbering: by grid, then bands north → south, west → east.

    A band is as tall as a typical micro-grid of the grid: sqrt(grid area / micro-grids).
    """
    c = shapely.get_coordinates(shapely.centroid(geom))
    n = np.bincount(grid, minlength=len(g_geom))
    band = np.sqrt(shapely.area(g_geom) / np.maximum(n, 1))
    top = shapely.bounds(g_geom)[:, 3]
    row = np.floor((top[grid] - c[:, 1]) / np.where(band[grid] > 0, band[grid], 1.0))
    return np.lexsort((c[:, 0], row, grid))


def microgrid_codes(grid_ids: np.ndarray) -> np.ndarray:
    """``grid_id-NN`` per micro-grid (in order within each grid); at least two digits."""
    series = pd.Series(grid_ids)
    seq = series.groupby(series, sort=False).cumcount().to_numpy() + 1
    width = series.map(series.value_counts()).to_numpy()
    width = np.maximum(2, np.floor(np.log10(np.maximum(width, 1))).astype(int) + 1)
    return np.array([f"{g}-{s:0{w}d}" for g, s, w in zip(grid_ids, seq, width)], dtype=object)


def _microgrid_table(codes, g_ids, leaf_grid, leaf_geom, b_leaf, b_ids, hh) -> pd.DataFrame:
    n = len(codes)
    households = np.bincount(b_leaf, weights=hh, minlength=n)
    count = np.bincount(b_leaf, minlength=n)
    ids = np.asarray(b_ids, dtype=object)
    order = np.lexsort((ids.astype(str), b_leaf))
    sorted_ids = ids[order].tolist()
    bounds = np.r_[0, np.cumsum(count)]
    joined = [settings.LIST_SEP.join(sorted_ids[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    return pd.DataFrame({
        "microgrid_id": codes,
        "grid_id": g_ids[leaf_grid],
        "households": _as_int_if_whole(households),
        "building_ids": np.array(joined, dtype=object),
        "n_buildings": count,
        "area_m2": np.round(shapely.area(leaf_geom), 1),
    })


def _as_int_if_whole(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def assign_workers(table: pd.DataFrame, roster: pd.DataFrame) -> pd.Series:
    """One worker per micro-grid: each grid's roster workers, in roster order, by micro-grid number.

    Warns about micro-grids left without a worker, workers left without a micro-grid, and roster
    rows naming grids that are not in the grid layer.
    """
    source = roster.attrs.get("source", "the roster")
    grids = set(table.grid_id)
    unknown = sorted(set(roster.grid_id) - grids)
    usable = roster[roster.grid_id.isin(grids)]
    if unknown:
        if not len(usable):
            raise GridmapError(f"{source}: none of its grid ids is in the grid layer (it names "
                               f"{_sample(unknown)}; the grids are {_sample(sorted(grids))}).")
        warnings.warn(f"{source}: {len(unknown)} grids named in the roster are not in the grid layer "
                      f"({_sample(unknown)}); their workers were not assigned", StaffingWarning,
                      stacklevel=3)
    slot = table.groupby("grid_id", sort=False).cumcount()
    rank = usable.groupby("grid_id", sort=False).cumcount()
    lookup = pd.Series(usable.worker_id.to_numpy(),
                       index=pd.MultiIndex.from_arrays([usable.grid_id.to_numpy(), rank.to_numpy()]))
    keys = pd.MultiIndex.from_arrays([table.grid_id.to_numpy(), slot.to_numpy()])
    worker = pd.Series(lookup.reindex(keys).to_numpy(), index=table.index, dtype=object)
    worker = worker.where(worker.notna(), None)
    empty = table.microgrid_id[worker.isna()]
    if len(empty):
        warnings.warn(f"{len(empty)} micro-grids have no grid worker (more micro-grids than workers "
                      f"listed for their grid): {_sample(empty)}", StaffingWarning, stacklevel=3)
    per_grid = table.groupby("grid_id").size()
    spare = usable[rank.to_numpy() >= per_grid.reindex(usable.grid_id).to_numpy()]
    if len(spare):
        warnings.warn(f"{len(spare)} workers are left without a micro-grid (more workers than "
                      f"micro-grids in their grid): {_sample(spare.worker_id)}", StaffingWarning,
                      stacklevel=3)
    return worker


def _sample(values) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(values[:_LISTED])
    return shown + (f" and {len(values) - _LISTED} more" if len(values) > _LISTED else "")


__all__ = ["MicroGrids", "microgrids", "assign_workers",
           "assign_to_grids", "street_blocks", "bisect", "merge_small", "hand_over_buildings",
           "merge_strays", "reading_order", "microgrid_codes"]
