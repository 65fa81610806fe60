"""Areas right at any extent: a layer spanning several Gauss-Kruger zones is measured feature by
feature in its own zone, within 0.5 % of the ellipsoidal area (pyproj.Geod)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings as hsettings, strategies as st
from pyproj import Geod

from gridmap import classify
from gridmap.io import feature_areas, metric_crs
from gridmap.io.crs import gauss_kruger_zone

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid


def squares(lons, lats, size=0.2):
    return gpd.GeoDataFrame({"compound_id": [f"C{i}" for i in range(len(lons))],
                             "grid_id": [f"G{i}" for i in range(len(lons))]},
                            geometry=[shapely.box(x, y, x + size, y + size) for x, y in zip(lons, lats)],
                            crs="EPSG:4490")


def geod_areas(gdf):
    return np.array([abs(GEOD.geometry_area_perimeter(g)[0]) for g in gdf.to_crs(4326).geometry])


def test_a_national_layer_is_measured_within_half_a_percent():
    # From Xinjiang to Heilongjiang: 73°E–135°E spans 21 zones.
    lons = np.array([74.0, 80.5, 87.6, 95.1, 103.8, 112.5, 117.2, 121.4, 126.6, 134.0])
    lats = np.array([39.5, 41.2, 43.8, 36.6, 30.6, 37.8, 31.8, 31.2, 45.7, 47.9])
    layer = squares(lons, lats)
    truth = geod_areas(layer)
    metric = metric_crs(layer)
    planar = layer.to_crs(metric).area.to_numpy()
    assert np.abs(planar / truth - 1).max() > 0.05  # one zone for all would be far off
    ours = feature_areas(layer.geometry, metric)
    assert np.abs(ours / truth - 1).max() < 0.005

    result = classify(layer.drop(columns="grid_id"), layer.drop(columns="compound_id"))
    assert np.abs(result.compounds.area_m2.to_numpy() / truth - 1).max() < 0.005
    assert np.abs(result.grids.area_m2.to_numpy() / truth - 1).max() < 0.005
    overlaps = result.overlaps.set_index("compound_id").overlap_m2.reindex(result.compounds.compound_id)
    assert np.abs(overlaps.to_numpy() / truth - 1).max() < 0.005
    assert (result.compounds.situation == "equal").all()


@hsettings(max_examples=25, deadline=None)
@given(st.floats(112.6, 113.4), st.floats(37.5, 38.2), st.integers(1, 6))
def test_inside_one_zone_areas_are_the_planar_ones(lon, lat, n):
    layer = squares(lon + 0.05 * np.arange(n), np.full(n, lat), size=0.04)
    metric = metric_crs(layer)
    centre = shapely.centroid(layer.geometry.to_numpy())
    assert len(set(gauss_kruger_zone(shapely.get_x(centre), shapely.get_y(centre)))) == 1
    planar = layer.to_crs(metric).area.to_numpy()
    assert np.array_equal(feature_areas(layer.geometry, metric), planar)


@pytest.mark.parametrize("lon, lat, code", [(112.55, 37.87, 4547), (112.45, 37.87, 4546), (87.6, 43.8, 4538),
                                            (126.6, 45.7, 4551), (2.35, 48.86, 32631), (-74.0, -33.0, 32718)])
def test_zone_of_a_point(lon, lat, code):
    assert gauss_kruger_zone(np.array([lon]), np.array([lat]))[0] == code
