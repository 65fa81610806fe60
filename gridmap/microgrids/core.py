"""Micro-grids: the public function, its inputs, the grid assignment and the final table.

The algorithm is described in :mod:`gridmap.microgrids`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap import settings
from gridmap.errors import DroppedGeometryWarning, GridmapError, GridmapWarning, RepairWarning
from gridmap.i18n import N_, _
from gridmap.io import find_field, id_strings, metric_crs
from gridmap.microgrids.cut import adjacency, bisect
from gridmap.microgrids.merge import hand_over_buildings, merge_small, merge_strays, union_groups
from gridmap.validate import clean_layer, polygonal_part

log = logging.getLogger(__name__)

_LISTED = 10


class UnplacedBuildingWarning(GridmapWarning):
    """Buildings lie outside every grid and were left out of the micro-grids."""

    title = N_("Buildings left out")


class StaffingWarning(GridmapWarning):
    """Micro-grids without a grid worker, or roster rows that could not be used."""

    title = N_("Grid workers")


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
        Field names; by default the recognised names of docs/design.md §4.
    households_per_building : float, optional
        Households counted for a building whose figure is missing (and for every building when
        the layer has no households field). Without it, missing figures are an error.
    households_range : (int, int)
        MIN and MAX households per micro-grid (default 30, 100).
    roster : DataFrame, optional
        ``worker_id`` and ``grid_id`` columns (see ``read_roster``): workers are given, in roster
        order, to their grid's micro-grids in number order.
    crs : optional
        CRS to cut and measure in; by default chosen per docs/design.md §6 (metres).
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
    cutting = prepare_cut(grids, buildings, streets=streets, grid_id=grid_id, building_id=building_id,
                          households=households, households_per_building=households_per_building,
                          households_range=households_range, roster=roster, crs=crs)
    return finish_cut(cutting, [cut_share(cutting.share(group)) for group in cutting.groups(only_grids)])


#: Vertices of a street block closer than this (m) are one: rounding noise of the noding.
NODING_NOISE_M: float = 1e-6
#: Side (m) of the squares grids without a community field are grouped by (each group's streets
#: are noded together: the cost of noding grows faster than the lines, so the area goes in pieces).
GROUP_CELL_M: float = 2000.0


@dataclass
class Cutting:
    """What :func:`microgrids` works out once for the whole area: layers checked, buildings assigned to
    grids, the street lines; then each group of grids (a community) is cut on its own
    (:meth:`share`, :func:`cut_share`, here or in other processes) and :func:`finish_cut` numbers them."""

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    measure: CRS
    households_range: tuple[int, int]
    hh: np.ndarray
    g_geom: np.ndarray  # metric
    g_ids: np.ndarray
    b_geom_in: np.ndarray  # the buildings' own CRS
    b_ids: np.ndarray
    b_grid: np.ndarray  # grid position per building, -1 outside
    crossing: np.ndarray
    b_clip: np.ndarray  # metric, clipped to the grid
    lines: np.ndarray | None  # street lines (metric); None without streets
    group: np.ndarray  # group (community) per grid
    roster: pd.DataFrame | None

    def __post_init__(self):
        self.tree = shapely.STRtree(self.lines) if self.lines is not None else None

    def groups(self, only_grids: Collection[str] | None = None) -> list[np.ndarray]:
        """Grid positions of each group (communities in the order they first appear)."""
        keep = np.ones(len(self.g_ids), dtype=bool)
        if only_grids is not None:
            keep = np.isin(self.g_ids, list(only_grids))
        codes, _uniques = pd.factorize(pd.Series(self.group, dtype=object), use_na_sentinel=False)
        order = np.flatnonzero(keep)[np.argsort(codes[keep], kind="stable")]
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        return [part for part in np.split(order, bounds) if len(part)]

    def share(self, grids: np.ndarray) -> CutShare:
        """The grids at positions ``grids`` with their buildings and the streets that meet them."""
        rows = np.flatnonzero(np.isin(self.b_grid, grids))
        g_geom = self.g_geom[grids]
        lines = None
        if self.lines is not None:
            lines = self.lines[np.unique(self.tree.query(g_geom, predicate="intersects")[1])]
        local = np.searchsorted(grids, self.b_grid[rows])
        return CutShare(grids, g_geom, rows, self.b_clip[rows], local, self.hh[rows], lines, self.households_range,
                        (self.measure.to_wkt(), self.grids.crs.to_wkt() if self.grids.crs is not None else None))


@dataclass
class CutShare:
    """Some grids (``grids``: positions in the area) and their buildings (``rows``), ``b_grid`` counting
    grids from 0 within the share."""

    grids: np.ndarray
    g_geom: np.ndarray
    rows: np.ndarray
    b_clip: np.ndarray
    b_grid: np.ndarray
    hh: np.ndarray
    lines: np.ndarray | None
    households_range: tuple[int, int]
    crs: tuple | None = None  # (CRS cut in, CRS of the result)


def prepare_cut(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *, streets: gpd.GeoDataFrame | None = None,
                grid_id: str | None = None, building_id: str | None = None, households: str | None = None,
                households_per_building: float | None = None, households_range: tuple[int, int] | None = None,
                roster: pd.DataFrame | None = None, crs: CRS | str | int | None = None) -> Cutting:
    """The area-wide steps of :func:`microgrids` (same parameters): layers checked, each building
    given its grid, streets in metres."""
    households_range = settings.MICROGRID_HOUSEHOLDS if households_range is None else households_range
    lo, hi = households_range
    if not 0 <= lo <= hi or hi <= 0:
        raise GridmapError(_("households range {low}:{high}: need 0 ≤ MIN ≤ MAX and MAX > 0.").format(low=lo, high=hi))
    gid = find_field(grids, "grid_id", grid_id)
    grids = clean_layer(grids, gid, "grids")
    bid = find_field(buildings, "building_id", building_id)
    buildings, b_geom_in = _clean_buildings(buildings, bid)
    hh = _households(buildings, households, households_per_building)
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
        raise GridmapError(_("{buildings}: none of the {count} buildings lies in a grid of {grids}. "
                             "Are the layers of the same area (and their CRS right)?").format(
            buildings=buildings.attrs.get("source", "buildings"), count=len(b_ids),
            grids=grids.attrs.get("source", _("the grids"))))
    if outside.any():
        warnings.warn(_("{count} buildings lie outside every grid and were left out: "
                        "{ids} (status 'outside' in the buildings layer)").format(
            count=outside.sum(), ids=_sample(b_ids[outside])), UnplacedBuildingWarning, stacklevel=3)
    lines = None
    if streets is not None and len(streets):
        lines = shapely.get_parts(streets.geometry.to_crs(measure).to_numpy())
        lines = lines[np.isin(shapely.get_type_id(lines), (1, 2))]
    community = find_field(grids, "community", required=False)
    if community is not None:
        group = grids[community].astype(object).where(grids[community].notna(), "").astype(str).to_numpy(dtype=object)
    else:
        xy = shapely.get_coordinates(shapely.point_on_surface(g_geom))
        cell = np.floor(xy / GROUP_CELL_M).astype(np.int64)
        group = np.array([f"{x}:{y}" for x, y in cell.tolist()], dtype=object)
    return Cutting(grids, buildings, measure, (lo, hi), hh, g_geom, g_ids, b_geom_in, b_ids, b_grid, crossing,
                   b_clip, lines, group, roster)


def cut_share(share: CutShare) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The micro-grids of a share's grids: their geometries (metric), their grids (positions in the
    area), each building's micro-grid (position in this result) and the buildings' positions."""
    rng = share.households_range
    local = np.arange(len(share.g_geom))
    if share.lines is not None:
        pieces, piece_grid = street_blocks(share.g_geom, share.lines)
        cut = tile(pieces, piece_grid, share.b_clip, share.b_grid, share.hh, rng)
        leaf_geom, leaf_grid, b_leaf = _prefer_one_piece(cut, share.g_geom, share.b_clip, share.b_grid, share.hh, rng,
                                                         share.crs)
    else:
        leaf_geom, leaf_grid, b_leaf = tile(share.g_geom, local, share.b_clip, share.b_grid, share.hh, rng)
    return leaf_geom, share.grids[leaf_grid], b_leaf, share.rows


def finish_cut(cutting: Cutting, cuts: list[tuple]) -> MicroGrids:
    """The micro-grids of the whole area from the shares' cuts (:func:`cut_share`), numbered."""
    c = cutting
    lo, hi = c.households_range
    empty = np.empty(0, dtype=np.int64)
    leaf_geom = np.concatenate([np.empty(0, dtype=object)] + [k[0] for k in cuts])
    leaf_grid = np.concatenate([empty] + [k[1] for k in cuts])
    offsets = np.cumsum([0] + [len(k[0]) for k in cuts])
    b_leaf = np.concatenate([empty] + [k[2] + off for k, off in zip(cuts, offsets)])
    placed = np.concatenate([empty] + [k[3] for k in cuts])
    order = reading_order(leaf_geom, leaf_grid, c.g_geom)

    # Renumber leaves in reading order and build the tables.
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    leaf_geom, leaf_grid = leaf_geom[order], leaf_grid[order]
    b_leaf = rank[b_leaf]
    codes = microgrid_codes(c.g_ids[leaf_grid])
    table = _microgrid_table(codes, c.g_ids, leaf_grid, leaf_geom, b_leaf, c.b_ids[placed], c.hh[placed])
    grids, target_crs = c.grids, c.grids.crs
    community = find_field(grids, "community", required=False)
    if community is not None:
        table.insert(2, "community", grids[community].to_numpy()[leaf_grid])
    if c.roster is not None:
        table["worker"] = assign_workers(table, c.roster)
    else:
        table["worker"] = pd.Series([None] * len(table), dtype=object)
    mg = gpd.GeoDataFrame(table, geometry=leaf_geom, crs=c.measure).to_crs(target_crs)
    # Reprojection can turn a hair-thin notch left by a handed-over footprint into a crossing.
    out_geom = mg.geometry.to_numpy()
    broken = ~shapely.is_valid(out_geom)
    if broken.any():
        out_geom[broken] = polygonal_part(shapely.make_valid(out_geom[broken]))
        mg = mg.set_geometry(gpd.GeoSeries(out_geom, index=mg.index, crs=target_crs))

    outside = c.b_grid < 0
    b_mg = np.full(len(c.b_ids), None, dtype=object)
    b_mg[placed] = codes[b_leaf]
    status = np.where(outside, "outside", np.where(c.crossing, "crosses_grid", "inside")).astype(object)
    b_out = gpd.GeoDataFrame({
        "building_id": c.b_ids,
        "grid_id": np.where(outside, None, c.g_ids[np.maximum(c.b_grid, 0)]),
        "microgrid_id": b_mg,
        "households": _as_int_if_whole(c.hh),
        "status": status,
    }, geometry=gpd.GeoSeries(c.b_geom_in, crs=c.buildings.crs).to_crs(target_crs).to_numpy(),
        crs=target_crs, index=c.buildings.index)
    result = MicroGrids(mg, b_out, c.measure, (lo, hi))
    log.info("%d micro-grids in %d grids", len(mg), len(c.g_geom))
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
                      hh: np.ndarray, households_range: tuple[int, int], crs: tuple | None = None) -> tuple:
    """Micro-grids along streets, except in grids where that leaves one in several parts (a
    street across a grid's hair-thin neck, also when it shows only once the micro-grid is taken
    back to the grids' CRS ``crs[1]`` from ``crs[0]``) or one with no households in a grid that
    has some (a block cut off by slivers between streets and the grid's edge): those grids are cut
    again without streets."""
    c_geom, c_grid, c_leaf = cut
    single = shapely.get_num_geometries(g_geom) == 1
    h_leaf = np.bincount(c_leaf, weights=hh, minlength=len(c_geom))
    h_grid = np.bincount(c_grid, weights=h_leaf, minlength=len(g_geom))
    parts = shapely.get_num_geometries(c_geom)
    if crs is not None and crs[1] is not None and not CRS.from_user_input(crs[0]).equals(crs[1]):
        back = gpd.GeoSeries(c_geom, crs=crs[0]).to_crs(crs[1]).to_numpy()
        broken = np.flatnonzero(~shapely.is_valid(back))
        parts[broken] = shapely.get_num_geometries(polygonal_part(shapely.make_valid(back[broken])))
    bad = (parts > 1) & single[c_grid]
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
        raise GridmapError(_("{source}: {count} buildings have no {field}; every building needs an id "
                             "(name the field with --building-id).").format(source=source, count=null.sum(), field=bid))
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise GridmapError(_("{source}: {count} values of {field} are used by more than one "
                             "building ({ids}); building ids must be unique.").format(
            source=source, count=dup.nunique(), field=bid, ids=_sample(pd.unique(dup))))
    geoms = buildings.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    wrong = ~missing & ~np.isin(types, (0, 3, 6, 7))
    if wrong.any():
        raise GridmapError(_("{source}: buildings must be footprints (polygons) or points; "
                             "{count} are lines ({ids}).").format(source=source, count=wrong.sum(), ids=_sample(ids[wrong])))
    invalid = ~missing & ~shapely.is_valid(geoms)
    fixed = geoms.copy()
    repair = invalid | (types == 7)
    if repair.any():
        fixed[repair] = polygonal_part(shapely.make_valid(geoms[repair]))
        if invalid.any():
            warnings.warn(_("{source}: repaired {count} invalid building footprints with make_valid ({ids})").format(
                source=source, count=invalid.sum(), ids=_sample(ids[invalid])), RepairWarning, stacklevel=3)
    gone = missing | shapely.is_empty(fixed)
    if gone.any():
        warnings.warn(_("{source}: dropped {count} buildings with no geometry ({ids})").format(
            source=source, count=gone.sum(), ids=_sample(ids[gone])), DroppedGeometryWarning, stacklevel=3)
    kept = buildings.loc[~gone].copy()
    kept.attrs.update(buildings.attrs)
    if not len(kept):
        raise GridmapError(_("{source}: no building has a usable geometry.").format(source=source))
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
        raise GridmapError(_("{source}: field {field} holds values that are not numbers "
                             "({values}); households must be counts.").format(
            source=source, field=repr(name), values=_sample(raw[garbled].astype(str).unique())))
    if blank.any():
        if default is None:
            ids = buildings.index[blank]
            raise GridmapError(_("{source}: {count} buildings have no figure in {field} "
                                 "(rows {rows}). Fill them in, or count each such building as "
                                 "N households with --households-per-building N.").format(
                source=source, count=blank.sum(), field=repr(name), rows=_sample(ids)))
        values = values.fillna(float(default))
    if (values < 0).any():
        raise GridmapError(_("{source}: field {field} has negative household counts ({values}).").format(
            source=source, field=repr(name), values=_sample(raw[values < 0].astype(str))))
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
    # Noding leaves vertices a rounding error apart where a street meets a grid's corner: one.
    block = polygonal_part(shapely.remove_repeated_points(block, NODING_NOISE_M))
    keep = ~shapely.is_empty(block)
    blocks, block_grid = block[keep], crossed[ci[keep]]
    uncrossed = np.setdiff1d(np.arange(len(g_geom)), crossed)
    # Territory polygonize missed (faces dropped as degenerate) stays with its grid.
    covered = union_groups(blocks, block_grid, len(g_geom))
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
    adj = adjacency(blocks, block_grid)
    linked = np.zeros(len(blocks), dtype=bool)
    linked[adj.a.to_numpy()] = True
    pinched = np.unique(block_grid[~linked & (n_blocks[block_grid] > 1)])
    if len(pinched):
        log.info("%d grids are not cut by streets: a block would touch the rest only at a point",
                 len(pinched))
        keep = ~np.isin(block_grid, pinched)
        blocks, block_grid = blocks[keep], block_grid[keep]
        uncrossed = np.union1d(uncrossed, pinched)
    # A grid the streets leave in one block is not cut: it stays as it is.
    whole = np.flatnonzero(np.bincount(block_grid, minlength=len(g_geom)) == 1)
    if len(whole):
        keep = ~np.isin(block_grid, whole)
        blocks, block_grid = blocks[keep], block_grid[keep]
        uncrossed = np.union1d(uncrossed, whole)
    pieces = np.concatenate([g_geom[uncrossed], blocks])
    piece_grid = np.concatenate([uncrossed, block_grid])
    log.info("streets cut %d grids into %d blocks", len(np.unique(block_grid)), len(blocks))
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
    source = roster.attrs.get("source", _("the roster"))
    grids = set(table.grid_id)
    unknown = sorted(set(roster.grid_id) - grids)
    usable = roster[roster.grid_id.isin(grids)]
    if unknown:
        if not len(usable):
            raise GridmapError(_("{source}: none of its grid ids is in the grid layer (it names "
                                 "{ids}; the grids are {grids}).").format(
                source=source, ids=_sample(unknown), grids=_sample(sorted(grids))))
        warnings.warn(_("{source}: {count} grids named in the roster are not in the grid layer "
                        "({ids}); their workers were not assigned").format(
            source=source, count=len(unknown), ids=_sample(unknown)), StaffingWarning, stacklevel=3)
    slot = table.groupby("grid_id", sort=False).cumcount()
    rank = usable.groupby("grid_id", sort=False).cumcount()
    lookup = pd.Series(usable.worker_id.to_numpy(),
                       index=pd.MultiIndex.from_arrays([usable.grid_id.to_numpy(), rank.to_numpy()]))
    keys = pd.MultiIndex.from_arrays([table.grid_id.to_numpy(), slot.to_numpy()])
    worker = pd.Series(lookup.reindex(keys).to_numpy(), index=table.index, dtype=object)
    worker = worker.where(worker.notna(), None)
    empty = table.microgrid_id[worker.isna()]
    if len(empty):
        warnings.warn(_("{count} micro-grids have no grid worker (more micro-grids than workers "
                        "listed for their grid): {ids}").format(count=len(empty), ids=_sample(empty)),
                      StaffingWarning, stacklevel=3)
    per_grid = table.groupby("grid_id").size()
    spare = usable[rank.to_numpy() >= per_grid.reindex(usable.grid_id).to_numpy()]
    if len(spare):
        warnings.warn(_("{count} workers are left without a micro-grid (more workers than "
                        "micro-grids in their grid): {ids}").format(count=len(spare), ids=_sample(spare.worker_id)),
                      StaffingWarning, stacklevel=3)
    return worker


def _sample(values) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(values[:_LISTED])
    return shown + (_(" and {count} more").format(count=len(values) - _LISTED) if len(values) > _LISTED else "")


