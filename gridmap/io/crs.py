"""Coordinate reference systems: parsing, the metric CRS areas are measured in, reprojection."""

from __future__ import annotations

import functools
import logging
import math
import warnings

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError, ProjError

from gridmap.errors import CRSWarning, GridmapError
from gridmap.gcj02 import unshift_geometries
from gridmap.io.fields import find_field
from gridmap.i18n import N_, _

log = logging.getLogger(__name__)


def parse_crs(value) -> CRS:
    """A CRS from ``EPSG:4547``, ``4547``, WKT or PROJ text, with a clear error."""
    if shifted_crs(value):
        raise GridmapError(_("{value} names the shifted coordinates of a web map, not a CRS: it is only "
                             "accepted by --crs when reading layers (they are converted to WGS 84).")
                           .format(value=repr(value)))
    try:
        if isinstance(value, str) and value.strip().isdigit():
            return CRS.from_epsg(int(value))
        return CRS.from_user_input(value)
    except CRSError:
        raise GridmapError(_("--crs {value} is not a coordinate reference system pyproj knows; "
                             "write it as EPSG:CODE, e.g. EPSG:4490.").format(value=repr(value))) from None


def metric_crs(*layers: gpd.GeoDataFrame) -> CRS:
    """The CRS that areas and distances are measured in (docs/design.md §6).

    The first layer's own CRS when it is projected in metres and keeps areas true (never Web
    Mercator or another Mercator: EPSG:3857 inflates areas about 1.6 times in Taiyuan); otherwise
    the CGCS2000 3-degree Gauss-Kruger zone of the data's centre (EPSG:4534–4554, China only), else
    UTM. Every layer's coordinates are checked against its CRS first (:func:`check_coordinates`).
    """
    first = next((layer for layer in layers if layer.crs is not None), None)
    if first is None:
        raise GridmapError(_("No layer has a CRS; give one with --crs."))
    for layer in layers:
        check_coordinates(layer)
    crs = first.crs
    if is_true_metric(crs):
        return crs
    bounds = [_lonlat_bounds(layer) for layer in layers if layer.crs is not None and len(layer)]
    bounds = np.array([b for b in bounds if np.isfinite(b).all()])
    if not len(bounds):
        return CRS.from_epsg(4547)
    lon = (bounds[:, 0].min() + bounds[:, 2].max()) / 2
    lat = (bounds[:, 1].min() + bounds[:, 3].max()) / 2
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GridmapError(_("The layers' centre ({lon:g}, {lat:g}) is not a longitude and latitude: is "
                             "a layer's CRS right? (gridmap check lists each layer's coordinates.)")
                           .format(lon=lon, lat=lat))
    if 73.5 <= lon <= 136.5 and 3 <= lat <= 54:
        central = 3 * math.floor(lon / 3 + 0.5)
        return CRS.from_epsg(4534 + (central - 75) // 3)
    zone = min(int((lon + 180) // 6) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def is_true_metric(crs: CRS) -> bool:
    """Projected in metres, and not a Mercator projection (Web Mercator, World Mercator), whose
    scale grows with latitude: areas and distances measured in it are wrong (DESIGN §6)."""
    if not crs.is_projected or not crs.axis_info or crs.axis_info[0].unit_name not in ("metre", "meter"):
        return False
    op = crs.coordinate_operation
    method = (op.method_name if op is not None else "").lower()
    return not ("mercator" in method and "transverse" not in method)


# ------------------------------------------------------------------ coordinates against the CRS

#: Degrees beyond a CRS's area of use that data may still reach (a city drawn in the zone of its
#: neighbour, a county at a zone edge) before its coordinates are taken for a wrong CRS.
AREA_MARGIN = 3.0


def check_coordinates(layer: gpd.GeoDataFrame) -> None:
    """Refuse a layer whose coordinates cannot be in its CRS (DESIGN §6).

    Raises
    ------
    GridmapError
        Naming the layer, what is wrong (degrees out of range, longitude and latitude swapped,
        metres labelled as degrees or degrees as metres, zone-prefixed eastings, coordinates far
        outside the CRS's area of use) and the likely fix.
    """
    problem = coordinate_problem(layer)
    if problem:
        raise GridmapError(problem)


def coordinate_problem(layer: gpd.GeoDataFrame) -> str | None:
    """What is wrong with a layer's coordinates for its CRS, as a message; None when they fit."""
    crs = layer.crs
    if crs is None or not len(layer):
        return None
    geoms = np.asarray(layer.geometry.to_numpy(), dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return None
    b = shapely.bounds(geoms[present])
    source = layer.attrs.get("source", "a layer")
    name = crs.to_string()
    positions = np.flatnonzero(present)
    if not np.isfinite(b).all():
        k = positions[int(np.flatnonzero(~np.isfinite(b).all(axis=1))[0])]
        return _("{source}: {feature} has coordinates that are not numbers (NaN or infinite); "
                 "fix or delete it.").format(source=source, feature=_feature(layer, k))
    xmin, ymin = b[:, 0].min(), b[:, 1].min()
    xmax, ymax = b[:, 2].max(), b[:, 3].max()
    extent = _("x {xmin:,.6g} to {xmax:,.6g}, y {ymin:,.6g} to {ymax:,.6g}").format(
        xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax)
    if crs.is_geographic:
        outside = (np.abs(b[:, [0, 2]]) > 180).any(axis=1) | (np.abs(b[:, [1, 3]]) > 90).any(axis=1)
        if outside.any():
            if max(abs(xmin), abs(xmax), abs(ymin), abs(ymax)) > 1000:
                return _("{source}: the layer says {name} ({crs}, degrees) but its coordinates are "
                         "metres ({extent}). {hint}").format(source=source, name=name, crs=crs.name, extent=extent,
                                                             hint=_metres_hint(xmin, xmax, ymin, ymax, source))
            if _fits_lonlat(ymin, ymax, xmin, xmax):
                return _("{source}: longitude and latitude are swapped ({extent}: x holds latitudes, y "
                         "longitudes). Re-export the layer with x = longitude and y = latitude (for a CSV, "
                         "swap the numbers in its WKT; in QGIS, swap the X and Y fields), then run again."
                         ).format(source=source, extent=extent)
            k = positions[int(np.flatnonzero(outside)[0])]
            x, y = _far_vertex(geoms[k])
            return _("{source}: {feature} has a vertex at {x:g}, {y:g}, outside longitude "
                     "±180° / latitude ±90° of {name}; fix that feature (a typing error?) and run again."
                     ).format(source=source, feature=_feature(layer, k), x=x, y=y, name=name)
        area = crs.area_of_use
        if area is not None and not _inside(area.bounds, xmin, ymin, xmax, ymax) \
                and _inside(area.bounds, ymin, xmin, ymax, xmax):
            return _("{source}: longitude and latitude look swapped ({extent}; {name} is used within "
                     "{area}). Re-export the layer with x = longitude and y = latitude.").format(
                source=source, extent=extent, name=name, area=_area_text(area.bounds))
        return None
    # Projected.
    zone = _zone_prefix(crs, xmin, xmax)
    if zone is not None:
        code, label = zone
        return _("{source}: the eastings carry a zone number in front ({extent}), but {name} ({crs}) "
                 "has none. These look like {label}: give the layer that CRS with --crs "
                 "{key}=EPSG:{code} (or re-save it with EPSG:{code}).").format(
            source=source, extent=extent, name=name, crs=crs.name, label=label, key=_role_key(source), code=code)
    area = crs.area_of_use
    degrees = (_fits_lonlat(xmin, xmax, ymin, ymax) and area is not None
               and _inside(area.bounds, xmin, ymin, xmax, ymax, margin=0))
    if degrees:
        return _("{source}: the layer says {name} ({crs}, metres) but its coordinates are longitude "
                 "and latitude in degrees ({extent}). Give it a geographic CRS with --crs "
                 "{key}=EPSG:4490 (CGCS2000) or EPSG:4326 (WGS 84).").format(
            source=source, name=name, crs=crs.name, extent=extent, key=_role_key(source))
    lonlat = _project_bounds(crs, xmin, ymin, xmax, ymax)
    if lonlat is None:
        return _("{source}: its coordinates ({extent}) cannot be converted from {name} ({crs}) to "
                 "longitude and latitude: the layer's CRS is probably wrong. Give the right one with --crs "
                 "{key}=EPSG:CODE (or fix the layer's .prj).").format(
            source=source, extent=extent, name=name, crs=crs.name, key=_role_key(source))
    if area is None or _inside(area.bounds, *lonlat):
        return None
    swapped = _project_bounds(crs, ymin, xmin, ymax, xmax)
    if swapped is not None and _inside(area.bounds, *swapped):
        return _("{source}: eastings and northings look swapped ({extent}; {name} is used within "
                 "{area}). Re-export the layer with x = easting and y = northing.").format(
            source=source, extent=extent, name=name, area=_area_text(area.bounds))
    # Far from where the CRS is used, but nothing says which CRS is right (or made-up data near
    # the origin): said, not refused.
    if (source, name) not in _SAID:
        _SAID.add((source, name))
        log.warning("%s: its coordinates lie around longitude %.1f, latitude %.1f, outside where %s is used "
                    "(%s): is its CRS right?", source, (lonlat[0] + lonlat[2]) / 2, (lonlat[1] + lonlat[3]) / 2,
                    name, _area_text(area.bounds))
    return None


_SAID: set[tuple[str, str]] = set()


def _fits_lonlat(xmin, xmax, ymin, ymax) -> bool:
    return -180 <= xmin and xmax <= 180 and -90 <= ymin and ymax <= 90


def _inside(area, xmin, ymin, xmax, ymax, margin: float = AREA_MARGIN) -> bool:
    west, south, east, north = area
    if west > east:  # an area across the antimeridian: check latitudes only
        return south - margin <= ymin and ymax <= north + margin
    return (west - margin <= xmin and xmax <= east + margin and south - margin <= ymin
            and ymax <= north + margin)


def _area_text(area) -> str:
    west, south, east, north = area
    return _("longitude {west:g}° to {east:g}°, latitude {south:g}° to {north:g}°").format(
        west=west, east=east, south=south, north=north)


def _project_bounds(crs: CRS, xmin, ymin, xmax, ymax):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _to_lonlat(crs).transform_bounds(xmin, ymin, xmax, ymax, densify_pts=5)
    except (ProjError, ValueError, ArithmeticError):
        return None
    return out if np.isfinite(out).all() and _fits_lonlat(out[0], out[2], out[1], out[3]) else None


def _zone_prefix(crs: CRS, xmin, xmax) -> tuple[int, str] | None:
    """(EPSG code, name) of the CGCS2000 Gauss-Kruger zone whose number prefixes the eastings."""
    op = crs.coordinate_operation
    false_easting = next((p.value for p in (op.params if op is not None else ())
                          if p.name.lower() == "false easting"), None)
    if false_easting is None or false_easting >= 1e6 or xmin < 1e7:
        return None
    zones = {int(xmin // 1e6), int(xmax // 1e6)}
    if len(zones) != 1:
        return None
    zone = zones.pop()
    if 25 <= zone <= 45:
        return 4513 + zone - 25, _("CGCS2000 3-degree Gauss-Kruger zone {zone} (EPSG:{code})").format(
            zone=zone, code=4513 + zone - 25)
    if 13 <= zone <= 23:
        return 4491 + zone - 13, _("CGCS2000 6-degree Gauss-Kruger zone {zone} (EPSG:{code})").format(
            zone=zone, code=4491 + zone - 13)
    return None


def _metres_hint(xmin, xmax, ymin, ymax, source) -> str:
    key = _role_key(source)
    if xmin >= 1e7:
        zone = int(xmin // 1e6)
        if 25 <= zone <= 45:
            code = 4513 + zone - 25
            return _("They look like CGCS2000 3-degree Gauss-Kruger zone {zone}: give the layer that CRS "
                     "with --crs {key}=EPSG:{code} (or fix its .prj).").format(zone=zone, key=key, code=code)
        if 13 <= zone <= 23:
            code = 4491 + zone - 13
            return _("They look like CGCS2000 6-degree Gauss-Kruger zone {zone}: give the layer that CRS "
                     "with --crs {key}=EPSG:{code} (or fix its .prj).").format(zone=zone, key=key, code=code)
    return _("Give the layer its projected CRS with --crs {key}=EPSG:CODE, e.g. EPSG:4547 (CGCS2000 "
             "3-degree Gauss-Kruger CM 114E, Taiyuan east of 112.5°E) or EPSG:4546 (CM 111E), whichever "
             "the data was made in (or fix its .prj).").format(key=key)


def _role_key(source: str) -> str:
    """The name ``--crs NAME=…`` takes for a layer: its file's stem."""
    from pathlib import Path

    text = str(source)
    head, sep, tail = text.rpartition(":")
    if sep and tail and "/" not in tail and "\\" not in tail and len(head) > 1:
        return tail
    return Path(text).stem or "LAYER"


def _far_vertex(geom) -> tuple[float, float]:
    coords = shapely.get_coordinates(geom)
    bad = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    x, y = coords[np.flatnonzero(bad)[0]] if bad.any() else coords[0]
    return float(x), float(y)


def _feature(layer: gpd.GeoDataFrame, k: int) -> str:
    """A feature named for messages: by its id when the layer has a recognised id field."""

    for meaning in ("compound_id", "grid_id", "building_id"):
        try:
            field_ = find_field(layer, meaning, required=False)
        except GridmapError:
            field_ = None
        if field_ is not None:
            value = layer[field_].iloc[k]
            if value is not None and str(value).strip() and str(value) != "nan":
                return _("feature {id} ({field})").format(id=str(value).strip(), field=field_)
    return _("feature {number}").format(number=k + 1)


def reconcile(target: CRS | None, *layers: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """Bring layers into one CRS (the first layer's unless ``target`` is given)."""
    target = target or layers[0].crs
    for layer in layers:
        check_coordinates(layer)  # before reprojecting: garbage in, infinities out
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
    for _name, layer in items:
        check_coordinates(layer)  # a CRS that cannot be right is an error, not a distance
    if len(items) < 2:
        return
    ref_name, ref = items[0]
    rb = _lonlat_bounds(ref)
    if not np.isfinite(rb).all():
        return
    for name, layer in items[1:]:
        b = _lonlat_bounds(layer)
        gap_lon = max(0.0, max(b[0], rb[0]) - min(b[2], rb[2]))
        gap_lat = max(0.0, max(b[1], rb[1]) - min(b[3], rb[3]))
        km = math.hypot(gap_lon * 111.32 * math.cos(math.radians((rb[1] + rb[3]) / 2)), gap_lat * 110.57)
        if km > limit_km or not np.isfinite(km):
            warnings.warn(_("{layer} lies {km:,.0f} km from {reference}: is its CRS right?").format(
                layer=layer.attrs.get("source", name), km=km, reference=ref.attrs.get("source", ref_name)),
                CRSWarning, stacklevel=2)


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
SHIFTED_CRS = {"gcj02": N_("GCJ-02 (Gaode/AMap, Tencent)"), "bd09": N_("BD-09 (Baidu)")}


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
    name = _(SHIFTED_CRS[source])
    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise GridmapError(_("{spec}: --crs {source} converts longitude/latitude digitised on {name} maps, but "
                             "the layer is projected ({crs}); leave --crs out for it.").format(
            spec=spec, source=source, name=name, crs=gdf.crs.name))
    bounds = gdf.total_bounds
    if len(gdf) and np.isfinite(bounds).all() and not (
            -180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
        raise GridmapError(_("{spec}: --crs {source} needs longitude/latitude in degrees, but the coordinates "
                             "reach {x0:.6g}, {y0:.6g} … {x1:.6g}, {y1:.6g} (metres?).").format(
            spec=spec, source=source, x0=bounds[0], y0=bounds[1], x1=bounds[2], y1=bounds[3]))
    attrs = dict(gdf.attrs)
    out = gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name),
                           geometry=unshift_geometries(gdf.geometry.to_numpy(), source),
                           crs="EPSG:4326")
    out = out.rename_geometry(gdf.geometry.name) if gdf.geometry.name != "geometry" else out
    out.attrs.update(attrs)
    out.attrs["crs_note"] = _("coordinates converted from {name} to WGS 84 (EPSG:4326)").format(name=name)
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
        raise GridmapError(_(
            "{spec}: the layer has no coordinate reference system (a shapefile without .prj, or a "
            "CSV). gridmap does not guess: give it with --crs, e.g. --crs EPSG:4490 for CGCS2000 "
            "longitude/latitude or --crs EPSG:4547 for CGCS2000 Gauss-Kruger CM 114E.").format(spec=spec))
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
