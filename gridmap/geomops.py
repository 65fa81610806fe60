"""Grouped geometry operations on shapely arrays, done in GEOS without Python loops over groups.

``grouped_union`` is geopandas' ``dissolve`` for plain arrays: members are gathered into one
GeometryCollection per group and each collection is unioned by one vectorised call.
"""

from __future__ import annotations

import numpy as np
import shapely

EMPTY = shapely.Polygon()


def grouped_union(geoms: np.ndarray, groups: np.ndarray, n: int, *, coverage: bool = False,
                  grid_size: float | None = None) -> np.ndarray:
    """Union of the geometries of each group.

    Parameters
    ----------
    geoms : array of geometries
    groups : array of int
        Group (0 … n-1) of each geometry.
    n : int
        Number of groups.
    coverage : bool
        The members of a group form a coverage (touch but do not overlap, edges matching), as
        Voronoi cells do: unioned by the faster ``coverage_union``.

    Returns
    -------
    array of geometries, length ``n``
        An empty polygon for groups without members.
    """
    geoms = np.asarray(geoms, dtype=object)
    groups = np.asarray(groups, dtype=np.intp)
    out = np.full(n, EMPTY, dtype=object)
    if not len(geoms):
        return out
    order = np.argsort(groups, kind="stable")
    collections = np.empty(n, dtype=object)
    shapely.geometrycollections(geoms[order], indices=groups[order], out=collections)
    present = ~shapely.is_missing(collections)
    if coverage:
        out[present] = shapely.coverage_union_all(collections[present][:, None], axis=1)
    else:
        out[present] = shapely.union_all(collections[present][:, None], axis=1, grid_size=grid_size)
    return out


def polygons_only(geoms: np.ndarray) -> np.ndarray:
    """The polygonal part of each geometry (overlay results may carry lines and points)."""
    geoms = np.asarray(geoms, dtype=object)
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3, 6))
    out = np.full(len(geoms), EMPTY, dtype=object)
    if keep.any():
        merged = grouped_union(parts[keep], index[keep], len(geoms))
        present = np.zeros(len(geoms), dtype=bool)
        present[index[keep]] = True
        out[present] = merged[present]
    return out


def shared_border(pieces: np.ndarray, others: np.ndarray, tolerance: float = 0.01) -> np.ndarray:
    """Length (m) of the border each piece shares with the other geometry of its pair.

    Digitised neighbours rarely share vertices exactly, so the other's boundary is measured within
    ``tolerance`` metres of the piece rather than by exact boundary intersection.
    """
    pieces = np.asarray(pieces, dtype=object)
    others = np.asarray(others, dtype=object)
    if not len(pieces):
        return np.zeros(0)
    near = shapely.buffer(pieces, tolerance, quad_segs=2)
    return shapely.length(shapely.intersection(shapely.boundary(others), near))


def largest_part(geoms: np.ndarray, reference: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each geometry into its main polygon and the others.

    Parameters
    ----------
    geoms : array of geometries
    reference : array of geometries, optional
        One per geometry: the main part is the one sharing most area with it (the largest where
        the reference is empty or shares nothing).

    Returns
    -------
    main : array, one per geometry (empty where the geometry is empty)
    rest : array of the other parts
    owner : array of int, the geometry each of ``rest`` came from
    """
    geoms = np.asarray(geoms, dtype=object)
    parts, index = shapely.get_parts(geoms, return_index=True)
    polys = shapely.get_type_id(parts) == 3
    parts, index = parts[polys], index[polys]
    area = shapely.area(parts)
    shared = np.zeros(len(parts))
    if reference is not None and len(parts):
        several = np.bincount(index, minlength=len(geoms))[index] > 1
        shared[several] = shapely.area(shapely.intersection(parts[several], np.asarray(reference)[index[several]]))
    # Order by owner, then shared and own area descending: the first part of each owner is its main.
    order = np.lexsort((-area, -shared, index))
    parts, index = parts[order], index[order]
    first = np.r_[True, index[1:] != index[:-1]] if len(index) else np.zeros(0, dtype=bool)
    main = np.full(len(geoms), EMPTY, dtype=object)
    main[index[first]] = parts[first]
    return main, parts[~first], index[~first]
