"""Which community office each compound, grid, micro-grid, station, unit and member belongs to.

One rule with the organisation (``organization.csv``'s ``community`` column): the communities of
:func:`gridmap.org.community_area` — the community polygon holding a grid, else the grids' community
field; a covered compound goes with its main grid, an uncovered one with the nearest grid. When the
organisation was laid out on the alignment proposal, compounds take their community from that
layout, as the organisation did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.classify import Classification
from gridmap.io import find_field, id_strings
from gridmap.org import community_area

#: Folder and title of the features that belong to no community.
UNASSIGNED = "未分社区"


@dataclass
class Office:
    """One community office: its name, folder name and the positions of its features."""

    community: str  # the community's name as organization.csv has it ("" for none)
    folder: str  # offices/<folder>: the community's id when the communities layer has one
    title: str  # the name shown on the map and in the workbook
    compounds: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    grids: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    outline: object = None  # the community polygon (metric CRS) when a communities layer gives one


@dataclass
class Assignment:
    """Community of every feature, in the row order of the inputs."""

    compounds: np.ndarray  # community name per classification.compounds row
    grids: np.ndarray  # per classification.grids row
    offices: list[Office]

    def microgrids(self, classification: Classification, microgrids: pd.DataFrame) -> np.ndarray:
        """Community of each micro-grid: its grid's."""
        by_grid = pd.Series(self.grids, index=id_strings(classification.grids.grid_id).to_numpy())
        by_grid = by_grid[~by_grid.index.duplicated()]
        return by_grid.reindex(id_strings(microgrids.grid_id).to_numpy()).fillna("").to_numpy(dtype=object)

    def points(self, classification: Classification, points: gpd.GeoDataFrame) -> np.ndarray:
        """Community of each point (a service station): the grid holding it, else the nearest grid."""
        grids = classification.grids.geometry.to_crs(classification.crs).to_numpy()
        usable = ~(shapely.is_missing(grids) | shapely.is_empty(grids))
        out = np.full(len(points), "", dtype=object)
        geoms = points.geometry.to_crs(classification.crs).to_numpy()
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        if not usable.any() or not ok.any():
            return out
        tree = shapely.STRtree(grids[usable])
        p, q = tree.query_nearest(geoms[ok], all_matches=False)
        rows = np.flatnonzero(ok)[p]
        out[rows] = self.grids[np.flatnonzero(usable)[q]]
        return out


def assign(classification: Classification, *, communities: gpd.GeoDataFrame | None = None,
           proposal: gpd.GeoDataFrame | None = None, community_field: str | None = None) -> Assignment:
    """The community of every compound and grid, and one :class:`Office` per community.

    Parameters
    ----------
    classification : Classification
        Compounds and grids (the current grids: the maps and tables show these).
    communities : GeoDataFrame, optional
        Community polygons; their id field (``community_id``, 社区编码 …) names the folders.
    proposal : GeoDataFrame, optional
        The grids the organisation was laid out on (the run lays it on the alignment proposal):
        compounds then take their community as the organisation did.
    community_field : str, optional
        The grids' community field, when not one of the recognised names.
    """
    plain = community_area(classification, communities, None, community_field)
    laid = community_area(classification, communities, proposal, community_field) if proposal is not None else plain
    comp_ids = id_strings(classification.compounds.compound_id).to_numpy(dtype=object)
    grid_ids = id_strings(classification.grids.grid_id).to_numpy(dtype=object)
    compounds = _by_id(laid.compounds.community, comp_ids)
    grids = _by_id(plain.grids.community, grid_ids)
    ids, outlines = _community_ids(communities, classification.crs)
    names = sorted(set(compounds) | set(grids), key=lambda n: (n == "", ids.get(n, n)))
    offices = []
    used: set[str] = set()
    for name in names:
        folder = safe_folder(ids.get(name) or name or UNASSIGNED, used)
        offices.append(Office(name, folder, name or UNASSIGNED, np.flatnonzero(compounds == name),
                              np.flatnonzero(grids == name), outlines.get(name)))
    return Assignment(compounds, grids, offices)


def _by_id(values: pd.Series, ids: np.ndarray) -> np.ndarray:
    values = values[~values.index.duplicated()]
    out = values.reindex(ids).to_numpy(dtype=object)
    return np.array(["" if v is None or v != v else str(v) for v in out], dtype=object)


def _community_ids(communities: gpd.GeoDataFrame | None, crs) -> tuple[dict, dict]:
    """Community name → id, and name → polygon (metric CRS), from the communities layer."""
    if communities is None or not len(communities):
        return {}, {}
    name_field = find_field(communities, "community", required=False) or next(
        (c for c in communities.columns if str(c).lower() in ("name", "社区名称", "名称")), None)
    if name_field is None:  # community_area names them 社区1, 社区2 … in row order
        names = [f"社区{i + 1}" for i in range(len(communities))]
    else:
        names = [str(v).strip() if v is not None and v == v else "" for v in communities[name_field]]
    id_field = find_field(communities, "community_id", required=False)
    ids = id_strings(communities[id_field]).to_numpy(dtype=object) if id_field else [None] * len(names)
    geoms = communities.geometry.to_crs(crs).to_numpy()
    by_id, outline = {}, {}
    for name, cid, geom in zip(names, ids, geoms):
        if name and name not in outline:
            outline[name] = geom
            if cid:
                by_id[name] = str(cid)
    return by_id, outline


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_folder(name: str, used: set[str]) -> str:
    """A folder name on every system (no ``\\ / : * ? " < > |``, no leading dot or trailing dot or
    space, at most 80 characters), unique regardless of case."""
    base = _UNSAFE.sub("_", str(name)).strip().strip(".")[:80] or UNASSIGNED
    candidate, k = base, 2
    while candidate.lower() in used:
        candidate = f"{base}_{k}"
        k += 1
    used.add(candidate.lower())
    return candidate


__all__ = ["Assignment", "Office", "UNASSIGNED", "assign", "safe_folder"]
