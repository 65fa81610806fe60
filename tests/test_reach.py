"""Service-station reach: straight-line and along-street distances."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridmap.errors import GridmapError
from gridmap.reach import station_distance, unserved


def series(geoms):
    return gpd.GeoSeries(geoms, crs=4547)


def test_straight_line_and_inside():
    comps = series([shapely.box(0, 0, 100, 100), shapely.box(1000, 0, 1100, 100)])
    st = series([shapely.Point(50, 50)])
    d = station_distance(comps, st)
    assert d.iloc[0] == 0 and d.iloc[1] == pytest.approx(950)


def test_along_streets_goes_round_the_block():
    # An L-shaped street: station at (0, 0); the compound at (300, 10..) is 300 m away in a straight
    # line but the street goes up 500 m, across 300 m and down 500 m.
    streets = series([shapely.LineString([(0, 0), (0, 500), (300, 500), (300, 0)])])
    st = series([shapely.Point(0, 0)])
    comps = series([shapely.Polygon([(305, 0), (400, -10), (400, 10)])])
    straight = station_distance(comps, st)
    walked = station_distance(comps, st, streets)
    assert straight.iloc[0] == pytest.approx(305)
    assert walked.iloc[0] == pytest.approx(500 + 300 + 500 + 5, abs=0.1)
    table = unserved(comps, st, streets, walk_m=500)
    assert not table.served.iloc[0] and table.measured.iloc[0] == "streets"


def test_crossing_streets_connect_and_station_off_street():
    streets = series([shapely.LineString([(-1000, 0), (1000, 0)]), shapely.LineString([(0, -1000), (0, 1000)])])
    st = series([shapely.Point(-500, 20)])  # 20 m off the east–west street
    comps = series([shapely.Polygon([(10, 600), (60, 580), (60, 620)])])  # tip 10 m east of the north–south street
    d = station_distance(comps, st, streets).iloc[0]
    assert d == pytest.approx(20 + 500 + 600 + 10, abs=0.1)


def test_unreachable_and_no_stations():
    streets = series([shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(5000, 0), (5100, 0)])])
    comps = series([shapely.box(5000, 10, 5050, 60)])
    d = station_distance(comps, series([shapely.Point(0, 0)]), streets)
    assert np.isinf(d.iloc[0])
    assert np.isinf(station_distance(comps, series([])).iloc[0])


def test_streets_must_be_lines():
    with pytest.raises(GridmapError, match="lines"):
        station_distance(series([shapely.box(0, 0, 1, 1)]), series([shapely.Point(5, 5)]),
                         series([shapely.box(0, 0, 9, 9)]))
