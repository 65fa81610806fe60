"""Coordinate reference systems: parsing, the metric CRS areas are measured in, reprojection."""

from __future__ import annotations

import functools
import logging
import math
import warnings

import geopandas as gpd
import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError

from gridmap.errors import CRSWarning, GridmapError
from gridmap.gcj02 import unshift_geometries

log = logging.getLogger(__name__)


def parse_crs(value) -> CRS:
    """A CRS from ``EPSG:4547``, ``4547``, WKT or PROJ text, with a clear error."""
    if shifted_crs(value):
        raise GridmapError(f"{value!r} names the shifted coordinates of a web map, not a CRS: it is only "
                           "accepted by --crs when reading layers (they are converted to WGS 84).")
    try:
        if isinstance(value, str) and value.strip().isdigit():
            return CRS.from_epsg(int(value))
        return CRS.from_user_input(value)
    except CRSError:
        raise GridmapError(f"--crs {value!r} is not a coordinate reference system pyproj knows; "
                           "write it as EPSG:CODE, e.g. EPSG:4490.") from None


def metric_crs(*layers: gpd.GeoDataFrame) -> CRS:
    """The CRS that areas and distances are measured in (docs/design.md §6).

    The first layer's own CRS when it is projected in metres; otherwise the CGCS2000 3-degree
    Gauss-Kruger zone of the data's centre (EPSG:4534–4554, China only), else UTM.
    """
    first = next((layer for layer in layers if layer.crs is not None), None)
    if first is None:
        raise GridmapError("No layer has a CRS; give one with --crs.")
    crs = first.crs
    if crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    bounds = [layer.to_crs(4326).total_bounds for layer in layers if layer.crs is not None and len(layer)]
    bounds = np.array([b for b in bounds if np.isfinite(b).all()])
    if not len(bounds):
        return CRS.from_epsg(4547)
    lon = (bounds[:, 0].min() + bounds[:, 2].max()) / 2
    lat = (bounds[:, 1].min() + bounds[:, 3].max()) / 2
    if 73.5 <= lon <= 136.5 and 3 <= lat <= 54:
        central = 3 * math.floor(lon / 3 + 0.5)
        return CRS.from_epsg(4534 + (central - 75) // 3)
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def reconcile(target: CRS | None, *layers: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """Bring layers into one CRS (the first layer's unless ``target`` is given)."""
    target = target or layers[0].crs
    out = []
    for layer in layers:
        if layer.crs is not None and not layer.crs.equals(target):
            log.info("reprojecting %s from %s to %s", layer.attrs.get("source", "a layer"),
                     layer.crs.to_string(), target.to_string())
            attrs = dict(layer.attrs)
            layer = layer.to_crs(target)
            layer.attrs.update(attrs)
        out.append(layer)
    return out


def warn_if_far_apart(layers: dict[str, gpd.GeoDataFrame], limit_km: float = 50.0) -> None:
    """Warn about a layer whose extent is far from the first one's (a wrong CRS suspected)."""
    items = [(name, layer) for name, layer in layers.items() if layer is not None and len(layer)]
    if len(items) < 2:
        return
    ref_name, ref = items[0]
    rb = _lonlat_bounds(ref)
    for name, layer in items[1:]:
        b = _lonlat_bounds(layer)
        gap_lon = max(0.0, max(b[0], rb[0]) - min(b[2], rb[2]))
        gap_lat = max(0.0, max(b[1], rb[1]) - min(b[3], rb[3]))
        km = math.hypot(gap_lon * 111.32 * math.cos(math.radians((rb[1] + rb[3]) / 2)), gap_lat * 110.57)
        if km > limit_km or not np.isfinite(km):
            warnings.warn(f"{layer.attrs.get('source', name)} lies {km:,.0f} km from "
                          f"{ref.attrs.get('source', ref_name)}: is its CRS right?", CRSWarning,
                          stacklevel=2)


def _lonlat_bounds(layer: gpd.GeoDataFrame) -> np.ndarray:
    """A layer's extent in longitude/latitude, from its bounding box.

    Reprojecting the box (densified along its edges) instead of every vertex: the latter took a
    tenth of ``gridmap classify``'s time on 30,000 compounds and 40,000 grids.
    """
    bounds = layer.total_bounds
    if layer.crs is None or not np.isfinite(bounds).all():
        return layer.to_crs(4326).total_bounds
    return np.asarray(_to_lonlat(layer.crs).transform_bounds(*bounds, densify_pts=21))


@functools.lru_cache(maxsize=16)
def _to_lonlat(crs: CRS):
    # Building a transformer looks the CRS up in PROJ's database: 50 ms, so keep them.
    from pyproj import Transformer

    return Transformer.from_crs(crs, 4326, always_xy=True)


#: ``--crs`` values naming the shifted coordinates of Chinese web maps (docs/design.md §6).
SHIFTED_CRS = {"gcj02": "GCJ-02 (Gaode/AMap, Tencent)", "bd09": "BD-09 (Baidu)"}


def shifted_crs(value) -> str | None:
    """``"gcj02"`` or ``"bd09"`` when ``value`` names one (GCJ-02, gcj_02, BD-09, bd09ll …), else None."""
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = {"bd09ll": "bd09", "gcj": "gcj02", "gaode": "gcj02", "amap": "gcj02", "baidu": "bd09"}.get(key, key)
    return key if key in SHIFTED_CRS else None


def unshift(gdf: gpd.GeoDataFrame, spec, source: str) -> gpd.GeoDataFrame:
    """A layer digitised on Gaode (GCJ-02) or Baidu (BD-09) maps, moved to WGS 84 (EPSG:4326).

    Its own CRS, when it declares one, must be longitude/latitude (Gaode and Baidu exports often say
    EPSG:4326): the numbers are taken as ``source`` coordinates whatever it says. The conversion is
    stated in ``attrs["crs_note"]`` and logged.
    """
    name = SHIFTED_CRS[source]
    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise GridmapError(f"{spec}: --crs {source} converts longitude/latitude digitised on {name} maps, but "
                           f"the layer is projected ({gdf.crs.name}); leave --crs out for it.")
    bounds = gdf.total_bounds
    if len(gdf) and np.isfinite(bounds).all() and not (
            -180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
        raise GridmapError(f"{spec}: --crs {source} needs longitude/latitude in degrees, but the coordinates "
                           f"reach {bounds[0]:.6g}, {bounds[1]:.6g} … {bounds[2]:.6g}, {bounds[3]:.6g} (metres?).")
    attrs = dict(gdf.attrs)
    out = gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name),
                           geometry=unshift_geometries(gdf.geometry.to_numpy(), source),
                           crs="EPSG:4326")
    out = out.rename_geometry(gdf.geometry.name) if gdf.geometry.name != "geometry" else out
    out.attrs.update(attrs)
    out.attrs["crs_note"] = f"coordinates converted from {name} to WGS 84 (EPSG:4326)"
    log.info("%s: %s", spec, out.attrs["crs_note"])
    return out


def set_crs(gdf: gpd.GeoDataFrame, spec, crs) -> gpd.GeoDataFrame:
    """``gdf`` with ``crs`` where it has none; a layer without a CRS and no ``crs`` given is refused
    (``spec`` names the layer in the message): gridmap does not guess.

    ``crs="gcj02"`` or ``"bd09"`` says the coordinates were digitised on Gaode or Baidu maps: they are
    converted to WGS 84 (:func:`unshift`), whether or not the layer declares a CRS."""
    source = shifted_crs(crs)
    if source is not None:
        return unshift(gdf, spec, source)
    if gdf.crs is not None:
        return gdf
    if crs is None:
        raise GridmapError(
            f"{spec}: the layer has no coordinate reference system (a shapefile without .prj, or a "
            "CSV). gridmap does not guess: give it with --crs, e.g. --crs EPSG:4490 for CGCS2000 "
            "longitude/latitude or --crs EPSG:4547 for CGCS2000 Gauss-Kruger CM 114E.")
    try:
        return gdf.set_crs(parse_crs(crs))
    except GridmapError as exc:
        raise GridmapError(f"{spec}: {exc}") from None


def gauss_kruger_zone(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """EPSG code of the metric zone each point lies in: the CGCS2000 3-degree Gauss-Kruger zone
    (EPSG:4534–4554) inside China's extent, else the WGS 84 UTM zone (docs/design.md §6)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    central = 3 * np.floor(lon / 3 + 0.5)
    in_china = (lon >= 73.5) & (lon <= 136.5) & (lat >= 3) & (lat <= 54)
    gk = 4534 + (central - 75) // 3
    utm = np.where(lat >= 0, 32600, 32700) + np.clip((lon + 180) // 6 + 1, 1, 60)
    return np.where(in_china, gk, utm).astype(int)


def feature_areas(geoms: gpd.GeoSeries, metric: CRS, planar: np.ndarray | None = None) -> np.ndarray:
    """Area (m²) of each feature, true at any extent.

    Within one Gauss-Kruger zone a planar area in ``metric`` is true to a few parts in ten
    thousand, and that is what is returned (so data inside one zone measures exactly as before).
    A layer spanning several zones (a province, the country) is measured feature by feature in the
    zone of each feature's centre, one reprojection per zone: in the zone of the layer's centre,
    areas 20° of longitude away are off by 8 %. ``planar``: the areas in ``metric`` when the caller
    has them already.
    """
    planar = geoms.to_crs(metric).area.to_numpy() if planar is None else np.asarray(planar, dtype=float)
    usable = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    if not usable.any():
        return planar
    centre = geoms[usable].to_crs(4326).representative_point()
    zone = np.zeros(len(geoms), dtype=int)
    zone[usable] = gauss_kruger_zone(centre.x.to_numpy(), centre.y.to_numpy())
    zones = np.unique(zone[usable])
    if len(zones) == 1:
        return planar
    out = planar.copy()
    for code in zones:
        rows = np.flatnonzero(usable & (zone == code))
        out[rows] = geoms.iloc[rows].to_crs(int(code)).area.to_numpy()
    log.info("areas measured in %d zones (the layer spans more than one)", len(zones))
    return out
