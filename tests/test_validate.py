"""Validation: repairs, drops, refusals and the overlap and gap findings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import shapely

from conftest import polygons
from gridmap import classify
from gridmap.errors import DroppedGeometryWarning, GapWarning, GridmapError, OverlapWarning
from gridmap.validate import clean_layer, grid_gaps, inspect_layer, layer_overlaps, overlap_issues, polygonal_part


def test_null_and_empty_geometries_dropped_with_warning():
    layer = polygons({"A": (0, 0, 10, 10), "B": (20, 0, 30, 10), "C": (40, 0, 50, 10)}, "compound_id")
    layer.loc[1, "geometry"] = None
    layer.loc[2, "geometry"] = shapely.Polygon()
    with pytest.warns(DroppedGeometryWarning, match="dropped 2"):
        cleaned = clean_layer(layer, "compound_id", "compounds")
    assert list(cleaned.compound_id) == ["A"]


def test_refusals_name_the_features():
    layer = polygons({"A": (0, 0, 10, 10), "B": (20, 0, 30, 10), "C": (40, 0, 50, 10)}, "compound_id")
    dup = layer.assign(compound_id=["A", "B", "A"])
    with pytest.raises(GridmapError, match="duplicate id.*A"):
        clean_layer(dup, "compound_id", "compounds")
    null = layer.assign(compound_id=["A", None, ""])
    with pytest.raises(GridmapError, match="null id: 2 features have no compound_id.*feature 2, feature 3"):
        clean_layer(null, "compound_id", "compounds")
    points = layer.copy()
    points.loc[0, "geometry"] = shapely.Point(1, 1)
    points.loc[1, "geometry"] = shapely.LineString([(0, 0), (1, 1)])
    with pytest.raises(GridmapError, match="must be polygons; 2 features are 1 Point, 1 LineString"):
        clean_layer(points, "compound_id", "compounds")
    with pytest.raises(GridmapError, match="empty layer"):
        clean_layer(layer.iloc[:0], "compound_id", "compounds")


def test_inspect_lists_every_problem_at_once():
    layer = polygons({"A": (0, 0, 10, 10), "B": (20, 0, 30, 10), "C": (40, 0, 50, 10)}, "compound_id")
    layer = layer.assign(compound_id=["A", "A", None])
    layer.loc[0, "geometry"] = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    cleaned, issues = inspect_layer(layer, "compound_id", "compounds")
    assert cleaned is None
    assert set(issues.issue) == {"null id", "duplicate id", "invalid geometry"}


def test_make_valid_keeps_every_part():
    bow = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    spike = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10), (0, 0), (-5, 0), (0, 0)])
    layer = polygons({"bow": bow, "spike": spike}, "compound_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaned = clean_layer(layer, "compound_id", "compounds")
    assert shapely.is_valid(cleaned.geometry).all()
    assert np.allclose(cleaned.area, [50, 100])
    assert set(cleaned.geom_type) <= {"Polygon", "MultiPolygon"}


def test_polygonal_part_of_collections():
    gc = shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (5, 5)]),
                                     shapely.MultiPolygon([shapely.box(2, 2, 3, 3), shapely.box(4, 4, 5, 5)])])
    line = shapely.LineString([(0, 0), (1, 1)])
    out = polygonal_part(np.array([gc, line]))
    assert out[0].area == pytest.approx(3) and out[1].is_empty
    out = polygonal_part(np.array([line, gc, line, shapely.box(0, 0, 2, 2)]))  # gaps in the numbering
    assert [g.area for g in out] == pytest.approx([0, 3, 0, 4])


def test_overlaps_and_gaps_measured():
    grids = polygons({"g1": (0, 0, 10, 10), "g2": (9, 0, 20, 10), "g3": (0, 10, 20, 20),
                      "g4": (0, 20, 5, 30), "g5": (8, 20, 20, 30), "g6": (0, 30, 20, 40)}, "grid_id")
    pairs = layer_overlaps(grids, "grid_id")
    assert pairs[["id_a", "id_b"]].values.tolist() == [["g1", "g2"]] and pairs.area_m2[0] == pytest.approx(10)
    gaps = grid_gaps(grids, "grid_id")
    assert len(gaps) == 1 and gaps.area_m2[0] == pytest.approx(30)
    assert gaps.grid_ids[0] == "g3;g4;g5;g6"
    with pytest.warns(OverlapWarning), pytest.warns(GapWarning):
        issues = overlap_issues(grids, "grid_id", "grids")
    assert set(issues.issue) == {"grids overlap", "gap between grids"}


def test_repairs_do_not_change_valid_input_geometry():
    layer = polygons({"A": (0, 0, 10, 10)}, "compound_id")
    cleaned = clean_layer(layer, "compound_id", "compounds")
    assert cleaned.geometry.iloc[0].equals_exact(layer.geometry.iloc[0], 0)
    assert layer.geometry.iloc[0].area == 100  # the input frame is not modified


def test_missing_id_field_lists_fields():
    comps = polygons({"A": (0, 0, 10, 10)}, "code", 名称=["甲"])
    with pytest.raises(GridmapError, match=r"no compound id field found.*--compound-id.*code, 名称"):
        classify(comps, polygons({"g": (0, 0, 10, 10)}, "grid_id"))
    with pytest.raises(GridmapError, match=r"no field 'XQ'. The fields are: code, 名称"):
        classify(comps, polygons({"g": (0, 0, 10, 10)}, "grid_id"), compound_id="XQ")
