"""Service-station reach: how far each compound is from the nearest Party-service station (党群服务站).

Along streets when a street layer is given (shortest paths on the street network, from every station
at once), straight-line otherwise.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from gridmap import settings
from gridmap.errors import GridmapError
from gridmap.i18n import _

log = logging.getLogger(__name__)

#: Default walking distance (m) within which a compound counts as served. Kept for callers that read it here; the default is ``settings.WALK_M``.
WALK_M = settings.WALK_M


def station_distance(compounds_m: gpd.GeoSeries, stations_m: gpd.GeoSeries,
                     streets_m: gpd.GeoSeries | None = None) -> pd.Series:
    """Distance (m) from each compound to its nearest station.

    Parameters
    ----------
    compounds_m : GeoSeries
        Compound polygons in a metric CRS.
    stations_m : GeoSeries
        Station points in the same CRS.
    streets_m : GeoSeries, optional
        Street lines in the same CRS. When given, the distance is walked along the streets: from
        the station to the nearest street, along the network, to the street nearest the compound's
        edge, then to the compound. Without streets it is the straight-line distance.

    Returns
    -------
    Series
        Metres, indexed like ``compounds_m``; 0 for a station inside the compound.
    """
    if len(stations_m) == 0:
        return pd.Series(np.inf, index=compounds_m.index)
    comps = compounds_m.to_numpy()
    stations = stations_m.to_numpy()
    tree = shapely.STRtree(stations)
    _nearest, straight = tree.query_nearest(comps, return_distance=True, all_matches=False)
    straight = pd.Series(straight, index=compounds_m.index)
    if streets_m is None or len(streets_m) == 0:
        return straight
    walked = _network_distance(comps, stations, streets_m.to_numpy())
    # A station inside or touching a compound serves it whatever the streets say.
    return pd.Series(np.where(straight.to_numpy() == 0, 0.0, walked), index=compounds_m.index)


def _network_distance(comps: np.ndarray, stations: np.ndarray, streets: np.ndarray) -> np.ndarray:
    types = shapely.get_type_id(streets)
    if not np.isin(types, (1, 5)).all():
        raise GridmapError(_("The streets layer must hold lines (LineString or MultiLineString)."))
    # Node the network so that crossing streets connect, then take every segment as an edge.
    noded = shapely.get_parts(shapely.node(shapely.union_all(streets)))
    coords, index = shapely.get_coordinates(noded, return_index=True)
    same_line = index[1:] == index[:-1]
    start, end = coords[:-1][same_line], coords[1:][same_line]
    nodes, inverse = np.unique(np.round(np.vstack([start, end]), 2), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    a, b = inverse[: len(start)], inverse[len(start):]
    length = np.hypot(*(end - start).T)
    segments = shapely.linestrings(np.stack([start, end], axis=1))
    seg_tree = shapely.STRtree(segments)
    n = len(nodes)

    # A virtual source joined to both ends of each station's nearest segment: one Dijkstra run
    # gives every node its distance from the nearest station, walk to the street included.
    s_idx, s_seg = seg_tree.query_nearest(stations, all_matches=False)
    s_gap, s_t = _snap(stations[s_idx], segments[s_seg])
    src = np.full(2 * len(s_seg), n)
    dst = np.r_[a[s_seg], b[s_seg]]
    w = np.r_[s_gap + s_t, s_gap + length[s_seg] - s_t] + 1e-6  # explicit zeros would vanish
    rows = np.r_[a, b, src]
    cols = np.r_[b, a, dst]
    weights = np.r_[length, length, w] + np.r_[np.full(2 * len(a), 1e-9), np.zeros(len(w))]
    graph = coo_matrix((weights, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    dist = dijkstra(graph, directed=True, indices=n)

    # Each compound is entered from the street segment nearest its edge.
    c_idx, c_seg = seg_tree.query_nearest(shapely.boundary(comps), all_matches=False)
    c_gap, c_t = _snap(shapely.boundary(comps[c_idx]), segments[c_seg])
    via_a = dist[a[c_seg]] + c_t
    via_b = dist[b[c_seg]] + length[c_seg] - c_t
    reach = np.full(len(comps), np.inf)
    reach[c_idx] = np.minimum(via_a, via_b) + c_gap
    return reach


def _snap(geoms: np.ndarray, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gap from each geometry to its segment, and the position (m from the start) it meets it at."""
    link = shapely.shortest_line(geoms, segments)
    on_segment = shapely.get_point(link, 1)
    return shapely.length(link), shapely.line_locate_point(segments, on_segment)


def unserved(compounds_m: gpd.GeoSeries, stations_m: gpd.GeoSeries, streets_m: gpd.GeoSeries | None = None,
             walk_m: float | None = None) -> pd.DataFrame:
    """Distance to the nearest station for every compound, and whether it is within ``walk_m``.

    Returns
    -------
    DataFrame
        ``station_distance_m`` (metres, rounded) and ``served`` (bool), indexed like the compounds.
    """
    walk_m = settings.WALK_M if walk_m is None else walk_m
    d = station_distance(compounds_m, stations_m, streets_m)
    log.info("%d of %d compounds are beyond %g m of a station", int((d > walk_m).sum()), len(d), walk_m)
    return pd.DataFrame({"station_distance_m": d.round(0), "served": d <= walk_m,
                         "measured": "streets" if streets_m is not None and len(streets_m) else "straight line"},
                        index=compounds_m.index)


def station_reach(classification, stations: gpd.GeoDataFrame, streets: gpd.GeoDataFrame | None = None,
                  walk_m: float | None = None) -> pd.DataFrame:
    """:func:`unserved` for classified compounds, in the classification's metric CRS.

    Stations and streets without a usable geometry (null or empty) are left out; a compound without
    one keeps its row with no distance, not served, ``measured`` = "no geometry".
    """
    metric = classification.crs

    def usable(layer: gpd.GeoDataFrame) -> gpd.GeoSeries:
        geoms = layer.geometry
        return geoms[geoms.notna() & ~geoms.is_empty].to_crs(metric)

    comps = classification.compounds.geometry
    present = comps.notna() & ~comps.is_empty
    table = unserved(comps[present].to_crs(metric), usable(stations),
                     usable(streets) if streets is not None else None, walk_m=walk_m)
    if present.all():
        return table
    # A compound without a usable geometry (no_geometry) keeps its row, unmeasured.
    table = table.reindex(comps.index)
    table["served"] = table["served"].fillna(False).astype(bool)
    table["measured"] = table["measured"].where(present, "no geometry")
    return table
