"""The territory the organisation is laid out on: compounds, grids and buildings with their communities.

``community_area`` gives the compounds and grids (on the alignment proposal's grids when there is
one) with the labels residents know and the community each belongs to; ``building_table`` places
every building in its compound and grid. Distances and areas are in the classification's metric CRS
(metres).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import settings, vocab
from gridmap.classify import Classification, classify
from gridmap.errors import GridmapError, PlacementWarning
from gridmap.i18n import _
from gridmap.io import find_field
from gridmap.overlay import overlap_table
from gridmap.org.names import building_label, compound_label, grid_label, id_values, sample_text, text_or_none


@dataclass
class Area:
    """Compounds and grids the layout is built on, in the metric CRS, indexed by id."""

    compounds: pd.DataFrame  # situation, grids (list), main_grid, label, name, community, geometry
    grids: pd.DataFrame      # situation, compounds (list), label, community, geometry
    crs: object


def community_area(cls: Classification, communities: gpd.GeoDataFrame | None,
                   proposal: gpd.GeoDataFrame | None, community_field: str | None) -> Area:
    """Compounds and grids with labels and communities; on the proposal's grids when given.

    Parameters
    ----------
    cls : Classification
        The compounds and grids as classified.
    communities : GeoDataFrame, optional
        Community polygons: each grid and compound belongs to the one holding its inner point.
        Without them, the grids' community field (else one community, ``""``).
    proposal : GeoDataFrame, optional
        The grids of an alignment proposal: the compounds are classified again on them.
    community_field : str, optional
        The grids' community field, when not a recognised name.

    Returns
    -------
    Area
        In the classification's metric CRS; a covered compound is in its main grid's community.
    """
    crs = cls.crs
    original = cls.grids
    # The columns classify computed come first: a name or community is an input attribute.
    computed_c = tuple(cls.compounds.columns[:len(vocab.COMPOUND_COLUMNS)])
    computed_g = tuple(original.columns[:len(vocab.GRID_COLUMNS)])
    c_name = find_field(cls.compounds, "compound_name", required=False, exclude=computed_c)
    g_name = find_field(original, "grid_name", required=False, exclude=computed_g)
    g_comm = find_field(original, "community", community_field if community_field in original.columns else None,
                        required=False, exclude=computed_g)
    names = cls.compounds[c_name].astype(object) if c_name else pd.Series(None, index=cls.compounds.index)
    grid_names = pd.Series(original[g_name].to_numpy(dtype=object) if g_name else None,
                           index=original.grid_id.to_numpy())
    grid_comms = pd.Series(original[g_comm].to_numpy(dtype=object) if g_comm else None,
                           index=original.grid_id.to_numpy())
    if communities is None:
        grid_comms = _standing_in(original, grid_comms, crs, computed_g)

    layout = cls
    if proposal is not None:
        layout = _on_proposal(cls, proposal)
        grid_names, grid_comms = _inherit(layout.grids, original, grid_names, grid_comms, crs, proposal)
        # The proposal's own names and communities (gridmap align carries them) come first.
        pid = id_values(proposal[find_field(proposal, "grid_id")]).to_numpy(dtype=object)
        for meaning, target in (("grid_name", grid_names), ("community", grid_comms)):
            own = find_field(proposal, meaning, required=False,
                             exclude=("grid_id", "status", "situation", "compound_ids", "origin_grid_id"))
            if own:
                values = pd.Series(proposal[own].map(text_or_none).to_numpy(dtype=object), index=pid)
                values = values[values.notna() & ~values.index.duplicated()]
                target.loc[values.index.intersection(target.index)] = values

    cg = layout.compounds
    comp = pd.DataFrame({
        "situation": cg.situation.to_numpy(),
        "grids": [s.split(settings.LIST_SEP) if s else [] for s in cg.grid_ids],
        "main_grid": cg.main_grid_id.to_numpy(),
        "name": names.to_numpy(),
        "geometry": cg.geometry.to_crs(crs).to_numpy(),
        "was": cls.compounds.situation.to_numpy(),
    }, index=pd.Index(cg.compound_id.to_numpy(), name="compound_id"))
    comp["label"] = [compound_label(n, i) for n, i in zip(comp.name, comp.index)]
    gg = layout.grids
    grid = pd.DataFrame({
        "situation": gg.situation.to_numpy(),
        "compounds": [s.split(settings.LIST_SEP) if s else [] for s in gg.compound_ids],
        "name": grid_names.reindex(gg.grid_id.to_numpy()).to_numpy(),
        "community": grid_comms.reindex(gg.grid_id.to_numpy()).to_numpy(),
        "geometry": gg.geometry.to_crs(crs).to_numpy(),
    }, index=pd.Index(gg.grid_id.to_numpy(), name="grid_id"))
    grid["label"] = [grid_label(n, i) for n, i in zip(grid.name, grid.index)]

    if communities is not None:
        # A grid's own community field comes first (grids never cross a community); the
        # communities layer gives the community of grids without one.
        own = grid.community.map(text_or_none)
        looked_up = pd.Series(_community_of(grid.geometry.to_numpy(), communities, crs), index=grid.index)
        grid["community"] = own.where(own.notna(), looked_up).fillna("")
        comp["community"] = _community_of(comp.geometry.to_numpy(), communities, crs)
    else:
        grid["community"] = grid.community.map(text_or_none).fillna("")
        comp["community"] = ""
        if len(grid):
            # A compound in no grid belongs to the community of the nearest grid.
            uncovered = comp.situation.to_numpy() == "uncovered"
            if uncovered.any():
                near = _nearest(shapely.point_on_surface(comp.geometry.to_numpy()[uncovered]),
                                grid.geometry.to_numpy())
                comp.loc[uncovered, "community"] = grid.community.to_numpy()[near]
    # Grids never cross a community (DESIGN §8): a covered compound goes with its main grid.
    covered = comp.situation != "uncovered"
    comp.loc[covered, "community"] = grid.community.reindex(comp.main_grid[covered]).to_numpy()
    return Area(comp, grid, crs)


def _standing_in(grids: gpd.GeoDataFrame, comms: pd.Series, crs, computed: tuple[str, ...]) -> pd.Series:
    """Communities of grids that have none (no community field, no communities layer): their street
    (街道) when the grids have a street field, else sections of at most ``settings.SECTION_GRIDS``
    neighbouring grids (第1片区, 第2片区, … as ``split_sections`` numbers them, like the maps'
    pages); left empty when they all fit in one section (one tree for a small area)."""
    comms = comms.map(text_or_none).astype(object)
    missing = comms.isna().to_numpy().copy()
    street = find_field(grids, "street", required=False, exclude=computed)
    if street and missing.any():
        streets = grids[street].map(text_or_none).to_numpy(dtype=object)
        take = missing & pd.notna(streets)
        comms.iloc[np.flatnonzero(take)] = streets[take]
        missing &= ~take
    if missing.sum() > settings.SECTION_GRIDS:
        geoms = grids.geometry.to_crs(crs).to_numpy()[missing]
        usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms[usable]))
        names = np.full(len(geoms), None, dtype=object)
        names[usable] = [vocab.SECTION_NAME.format(n + 1) for n in split_sections(xy)]
        comms.iloc[np.flatnonzero(missing)] = names
    return comms


def split_sections(xy: np.ndarray, max_size: int | None = None) -> np.ndarray:
    """Cut points into compact sections of at most ``max_size`` (``settings.SECTION_GRIDS``) by
    recursive bisection across the longer side, in proportion to the sections each half should
    hold; a section number per point, numbered north to south, then west to east, from 0.

    The maps' sections (``gridmap.maps.split_sections``) are cut the same way, so a page of
    grids without a community is a community of the organisation.
    """
    max_size = settings.SECTION_GRIDS if max_size is None else max_size
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    labels = np.zeros(len(xy), dtype=int)
    if len(xy) == 0:
        return labels
    max_size = max(1, int(max_size))
    stack = [np.arange(len(xy))]
    parts: list[np.ndarray] = []
    while stack:
        idx = stack.pop()
        n = len(idx)
        k = -(-n // max_size)
        if k <= 1:
            parts.append(idx)
            continue
        pts = xy[idx]
        axis = int(np.ptp(pts[:, 0]) < np.ptp(pts[:, 1]))
        left = n * (k // 2) // k
        order = np.argsort(pts[:, axis], kind="stable")
        stack += [idx[order[:left]], idx[order[left:]]]
    centres = np.array([xy[p].mean(axis=0) for p in parts])
    rank = np.lexsort((centres[:, 0], -np.round(centres[:, 1], 3)))
    for number, part in enumerate(rank):
        labels[parts[part]] = number
    return labels


def _on_proposal(cls: Classification, proposal: gpd.GeoDataFrame) -> Classification:
    """The classification of the compounds on the proposal's grids."""
    gid = find_field(proposal, "grid_id")
    compounds = gpd.GeoDataFrame({"compound_id": cls.compounds.compound_id.to_numpy()},
                                 geometry=cls.compounds.geometry.to_numpy(), crs=cls.compounds.crs)
    compounds.attrs["source"] = cls.compounds.attrs.get("source", "compounds")
    grids = gpd.GeoDataFrame({"grid_id": id_values(proposal[gid]).to_numpy(dtype=object)},
                             geometry=proposal.geometry.to_numpy(), crs=proposal.crs)
    grids.attrs["source"] = proposal.attrs.get("source", "the proposal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the slivers were reported when the proposal was made
        return classify(compounds, grids, compound_id="compound_id", grid_id="grid_id",
                        sliver=cls.sliver, nest=cls.nest, crs=cls.crs)


def _inherit(grids: gpd.GeoDataFrame, original: gpd.GeoDataFrame, names: pd.Series,
             comms: pd.Series, crs, proposal: gpd.GeoDataFrame | None = None) -> tuple[pd.Series, pd.Series]:
    """Names and communities of proposed grids: the original grid's where the id survives, else
    the community of the grid it was cut from (the proposal's ``cut_from``/``origin_grid_id``),
    else of the original grid it shares most area with (never a point lookup: a new grid's inner
    point may lie across the line it was cut along)."""
    ids = grids.grid_id.to_numpy()
    new = ~pd.Index(ids).isin(names.index)
    out_names = names.reindex(ids)
    out_comms = comms.reindex(ids)
    if new.any():
        origin = pd.Series(None, index=ids[new], dtype=object)
        if proposal is not None:
            pid = id_values(proposal[find_field(proposal, "grid_id")]).to_numpy(dtype=object)
            for col in ("cut_from", "origin_grid_id"):
                if col in proposal.columns:
                    values = pd.Series(id_values(proposal[col]).to_numpy(dtype=object), index=pid)
                    values = values[~values.index.duplicated()].reindex(ids[new])
                    origin = origin.where(origin.notna(), values)
        known = origin.notna().to_numpy() & pd.Index(origin.to_numpy()).isin(comms.index)
        found = np.flatnonzero(new)
        out_comms.iloc[found[known]] = comms.reindex(origin.to_numpy()[known]).to_numpy()
        rest = found[~known]
        if len(rest):
            table = overlap_table(grids.geometry.to_crs(crs).to_numpy()[rest],
                                  original.geometry.to_crs(crs).to_numpy())
            best = table.sort_values(["compound", "overlap_m2"], ascending=[True, False]).drop_duplicates("compound")
            out_comms.iloc[rest[best.compound.to_numpy()]] = comms.to_numpy()[best.grid.to_numpy()]
    out_names.index = ids
    out_comms.index = ids
    return out_names, out_comms


def community_names(communities: gpd.GeoDataFrame) -> np.ndarray:
    """The name of each community polygon, as the organisation calls it: its community field, else
    its name field, else 社区1, 社区2, … in layer order."""
    field_ = find_field(communities, "community", required=False) or next(
        (c for c in communities.columns if str(c).lower() in ("name", "社区名称", "名称")), None)
    if field_ is None:
        return np.array([f"社区{i + 1}" for i in range(len(communities))], dtype=object)
    return communities[field_].map(text_or_none).fillna("").to_numpy(dtype=object)


def point_communities(points: gpd.GeoSeries, area: Area, communities: gpd.GeoDataFrame | None) -> np.ndarray:
    """The community each point (a service station) lies in: the community polygon holding it, else
    the grid holding it (that grid's community); None where it lies in neither."""
    geoms = points.to_crs(area.crs).to_numpy() if len(points) else np.empty(0, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else np.zeros(0, bool)
    pts = shapely.point_on_surface(geoms[usable])
    if communities is not None:
        polys, names = communities.geometry.to_crs(area.crs).to_numpy(), community_names(communities)
    else:
        polys, names = area.grids.geometry.to_numpy(), area.grids.community.to_numpy(dtype=object)
    at = _within(pts, polys)
    found = np.full(len(pts), None, dtype=object)
    found[at >= 0] = names[at[at >= 0]]
    out[usable] = found
    return out


def _community_of(geoms: np.ndarray, communities: gpd.GeoDataFrame, crs) -> np.ndarray:
    """Name of the community polygon sharing most area with each geometry (else the nearest).

    Not the one holding its inner point: that point can fall across a line the geometry
    straddles by a few metres of digitising."""
    names = community_names(communities)
    polys = communities.geometry.to_crs(crs).to_numpy()
    if not len(geoms):
        return np.array([], dtype=object)
    if not len(polys):
        return np.full(len(geoms), "", dtype=object)
    table = overlap_table(geoms, polys)
    best = table.sort_values(["compound", "overlap_m2"], ascending=[True, False]).drop_duplicates("compound")
    inside = np.full(len(geoms), -1, dtype=np.int64)
    inside[best.compound.to_numpy()] = best.grid.to_numpy()
    outside = inside < 0
    if outside.any():
        inside[outside] = _nearest(shapely.point_on_surface(geoms[outside]), polys)
    return names[inside]


def _within(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the polygon holding each point (the smallest when several do), -1 where none."""
    out = np.full(len(points), -1, dtype=np.int64)
    if not len(points) or not len(polygons):
        return out
    p, q = shapely.STRtree(polygons).query(points, predicate="intersects")
    if len(p):
        order = np.lexsort((q, shapely.area(polygons[q]), p))
        p, q = p[order], q[order]
        first = np.r_[True, p[1:] != p[:-1]]
        out[p[first]] = q[first]
    return out


def _nearest(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the nearest polygon to each point (all inputs non-empty)."""
    p, q = shapely.STRtree(polygons).query_nearest(points, all_matches=False)
    out = np.zeros(len(points), dtype=np.int64)
    out[p] = q
    return out


def building_table(area: Area, buildings: gpd.GeoDataFrame, building_id: str | None,
                   households: str | None, party_members: str | None, compound_id: str | None) -> pd.DataFrame:
    """One row per building: id, label, compound, grid, point (metric) and figures.

    Columns: ``building_id``, ``label`` (its name, else 12号楼), ``x``, ``y`` (its inner point in
    ``area.crs``, metres; NaN without geometry), ``located``, ``compound_id`` (the one named by the
    buildings' compound field when the compounds layer has it, else the compound holding the point),
    ``grid_id``, ``households`` and ``party_members`` (NaN where missing).

    Raises
    ------
    GridmapError
        No building id field, buildings without an id, duplicate ids, no CRS, negative figures.
    """
    source = buildings.attrs.get("source", "buildings")
    bid = find_field(buildings, "building_id", building_id)
    ids = id_values(buildings[bid])
    null = ids.isna() | (ids == "")
    if null.any():
        raise GridmapError(_("{source}: {count} buildings have no {field}. Every building needs "
                             "an id (the ledger names members' buildings by it).").format(
            source=source, count=int(null.sum()), field=bid))
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise GridmapError(_("{source}: {count} building ids occur more than once "
                             "({ids}); building ids must be unique.").format(
            source=source, count=dup.nunique(), ids=sample_text(pd.unique(dup))))
    geoms = buildings.geometry.to_crs(area.crs).to_numpy() if buildings.crs is not None else None
    if geoms is None:
        raise GridmapError(_("{source}: the buildings layer has no CRS; give one with --crs.").format(source=source))
    located = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.full(len(geoms), None, dtype=object)
    points[located] = shapely.point_on_surface(geoms[located])

    name_field = find_field(buildings, "building_name", required=False, exclude=(bid,))
    names = buildings[name_field].map(text_or_none) if name_field else pd.Series(None, index=buildings.index)
    table = pd.DataFrame({
        "building_id": ids.to_numpy(dtype=object),
        "label": [building_label(n, i) for n, i in zip(names.to_numpy(dtype=object), ids.to_numpy(dtype=object))],
        "x": shapely.get_x(points), "y": shapely.get_y(points),
        "located": located,
    })

    c_ids = area.compounds.index.to_numpy()
    c_at = _within(points, area.compounds.geometry.to_numpy()) if located.any() else np.full(len(points), -1)
    spatial = np.where(c_at >= 0, c_ids[np.maximum(c_at, 0)] if len(c_ids) else None, None)
    cfield = find_field(buildings, "compound_id", compound_id if compound_id in buildings.columns else None,
                        required=False, exclude=(bid,))
    if cfield:
        given = id_values(buildings[cfield]).to_numpy(dtype=object)
        known = pd.Index(c_ids).get_indexer(given) >= 0
        unknown = pd.notna(given) & (given != "") & ~known
        if unknown.any():
            warnings.warn(_("{source}: {count} buildings name a compound ({field}) that is not "
                            "in the compounds layer ({ids}); they are placed by location instead").format(
                source=source, count=int(unknown.sum()), field=cfield, ids=sample_text(pd.unique(given[unknown]))),
                PlacementWarning, stacklevel=3)
        table["compound_id"] = np.where(known, given, spatial)
    else:
        table["compound_id"] = spatial
    g_ids = area.grids.index.to_numpy()
    g_at = _within(points, area.grids.geometry.to_numpy()) if located.any() else np.full(len(points), -1)
    table["grid_id"] = np.where(g_at >= 0, g_ids[np.maximum(g_at, 0)] if len(g_ids) else None, None)
    table["households"] = _figures(buildings, "households", households, source, required=False)
    gaps = np.isnan(table.households.to_numpy())
    if gaps.any() and not gaps.all():
        warnings.warn(_("{source}: {count} buildings have no household figure "
                        "({ids}); units' households count the others only").format(
            source=source, count=int(gaps.sum()), ids=sample_text(table.building_id[gaps])),
            PlacementWarning, stacklevel=3)
    table["party_members"] = _figures(buildings, "party_members", party_members, source, required=False)
    return table


def _figures(buildings: pd.DataFrame, meaning: str, explicit: str | None, source: str,
             required: bool) -> np.ndarray:
    """A numeric per-building figure; NaN where missing or not a number (and a warning)."""
    col = find_field(buildings, meaning, explicit, required=required)
    if col is None:
        return np.full(len(buildings), np.nan)
    values = pd.to_numeric(buildings[col], errors="coerce")
    bad = values.isna() & buildings[col].notna() & (buildings[col].astype(str).str.strip() != "")
    if bad.any():
        warnings.warn(_("{source}: {count} values of {field} are not numbers ({values}); taken as missing").format(
            source=source, count=int(bad.sum()), field=col, values=sample_text(buildings[col][bad].astype(str).unique())),
            PlacementWarning, stacklevel=4)
    negative = values < 0
    if negative.any():
        raise GridmapError(_("{source}: {count} buildings have a negative {field}; figures must be 0 or more.").format(
            source=source, count=int(negative.sum()), field=col))
    return values.to_numpy(dtype=float)


def warn_outside(bld: pd.DataFrame, counts: np.ndarray, source: str) -> None:
    """Warn about buildings outside every grid (placed through their compound or not at all) and
    without geometry; ``counts`` are members per building, ``bld`` has its ``reason`` column."""
    outside_grid = bld.grid_id.isna() & bld.located
    if outside_grid.any():
        placed = outside_grid & (bld.reason == "")
        lost = outside_grid & (bld.reason != "")
        warnings.warn(_("{source}: {count} buildings lie outside every grid ({ids}); {placed} of them are placed "
                        "through their compound, {lost} (with {members} members) in no compound either are not "
                        "placed").format(source=source, count=int(outside_grid.sum()),
                                         ids=sample_text(bld.building_id[outside_grid]), placed=int(placed.sum()),
                                         lost=int(lost.sum()), members=int(counts[lost.to_numpy()].sum())),
                      PlacementWarning, stacklevel=3)
    no_geom = ~bld.located
    if no_geom.any():
        warnings.warn(_("{source}: {count} buildings have no geometry ({ids}); their {members} "
                        "members are not placed").format(source=source, count=int(no_geom.sum()),
                                                         ids=sample_text(bld.building_id[no_geom]),
                                                         members=int(counts[no_geom.to_numpy()].sum())),
                      PlacementWarning, stacklevel=3)


__all__ = ["Area", "building_table", "community_area", "community_names", "point_communities", "split_sections",
           "warn_outside"]
