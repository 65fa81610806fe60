"""WGS 84 ↔ GCJ-02, the shifted coordinates that Gaode (AMap) tiles are drawn in (docs/design.md §6),
and BD-09, Baidu's further shift of GCJ-02.

GCJ-02 is WGS 84 longitude/latitude plus a deliberate, smoothly varying offset of a few hundred
metres (about 550–600 m in Taiyuan). The forward formula is public; it has no closed-form inverse,
so the inverse is found by fixed-point iteration, which reaches millimetres in three steps because
the offset changes by less than 1e-5 per metre. Points outside China's rough bounding box are not
shifted, as by every published implementation. CGCS2000 and WGS 84 need no shift between them.
"""

from __future__ import annotations

import numpy as np
import shapely

#: Semi-major axis (m) and squared eccentricity of the Krasovsky ellipsoid used by the formula.
_A = 6378245.0
_EE = 0.00669342162296594323


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offset in degrees (dlon, dlat) that GCJ-02 adds to a WGS 84 point."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + common
            + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + common
            + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS 84 (or CGCS2000) longitude/latitude in degrees to GCJ-02.

    Parameters
    ----------
    lon, lat : float or array-like
        Degrees east and north.

    Returns
    -------
    tuple of ndarray
        GCJ-02 longitude and latitude in degrees; points outside China unchanged.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, steps: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration.

    Each step moves the estimate by the residual ``gcj02(estimate) - target``; the residual
    shrinks about 1e5-fold per step, so three steps are within a millimetre and ``steps=4``
    leaves a safety margin.
    """
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(steps):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        w_lon = w_lon - (f_lon - g_lon)
        w_lat = w_lat - (f_lat - g_lat)
    return w_lon, w_lat


#: BD-09 (Baidu) is GCJ-02 turned and stretched by the public formula below.
_X_PI = np.pi * 3000.0 / 180.0


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitude/latitude to BD-09, the coordinates Baidu maps are drawn in (public formula)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat, steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 to GCJ-02: the public inverse formula (a few centimetres off), then ``steps`` fixed-point
    corrections against :func:`gcj02_to_bd09`, which bring it within a millimetre."""
    b_lon = np.asarray(lon, dtype=float)
    b_lat = np.asarray(lat, dtype=float)
    x = b_lon - 0.0065
    y = b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(steps):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        g_lon = g_lon - (f_lon - b_lon)
        g_lat = g_lat - (f_lat - b_lat)
    return g_lon, g_lat


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 (or CGCS2000) longitude/latitude to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 to WGS 84: BD-09 → GCJ-02 → WGS 84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


#: Coordinate conversions to WGS 84, by the name of the shifted system they start from.
TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def unshift_geometries(geoms, source: str) -> np.ndarray:
    """Every vertex of GCJ-02 (``source="gcj02"``) or BD-09 (``"bd09"``) geometries moved to WGS 84."""
    func = TO_WGS84[source]

    def move(coords: np.ndarray) -> np.ndarray:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), move)


def shift_geometries(geoms, inverse: bool = False) -> np.ndarray:
    """Shift every vertex of longitude/latitude geometries to GCJ-02 (or back with ``inverse``).

    Parameters
    ----------
    geoms : array-like of shapely geometries or GeoSeries
        In WGS 84 / CGCS2000 longitude-latitude degrees.
    """
    def move(coords: np.ndarray) -> np.ndarray:
        func = gcj02_to_wgs84 if inverse else wgs84_to_gcj02
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), move)
