"""Street-office data: layers digitised on Gaode (GCJ-02) or Baidu (BD-09) maps, and the field and type
names street offices use."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import BOUNDARIES
from gridmap import vocab
from gridmap.align import in_scope
from gridmap.errors import GridmapError
from gridmap.gcj02 import (bd09_to_gcj02, bd09_to_wgs84, gcj02_to_bd09, shift_geometries, wgs84_to_bd09,
                           wgs84_to_gcj02)
from gridmap.io import find_field, read_layer
from gridmap.io.crs import shifted_crs

METRIC = 4547


def shifted_copy(tmp_path, to):
    compounds = gpd.read_file(BOUNDARIES / "compounds.geojson")
    moved = compounds.copy()
    if to == "gcj02":
        moved.geometry = shift_geometries(compounds.geometry.to_numpy())
    else:
        moved.geometry = shapely.transform(compounds.geometry.to_numpy(),
                                           lambda xy: np.column_stack(wgs84_to_bd09(xy[:, 0], xy[:, 1])))
    moved = moved.set_crs(4326, allow_override=True)  # as Gaode and Baidu exports say
    path = tmp_path / f"{to}.geojson"
    moved.to_file(path)
    return compounds, path


@pytest.mark.parametrize("source", ["gcj02", "bd09"])
def test_shifted_layers_come_back_within_half_a_metre(tmp_path, source):
    original, path = shifted_copy(tmp_path, source)
    raw = gpd.read_file(path).to_crs(METRIC).geometry
    assert raw.hausdorff_distance(original.to_crs(METRIC).geometry).min() > 300  # shifted by hundreds of metres
    back = read_layer(path, crs=source.upper().replace("02", "-02").replace("09", "-09"))
    assert back.crs.to_epsg() == 4326 and "WGS 84" in back.attrs["crs_note"]
    error = back.to_crs(METRIC).geometry.hausdorff_distance(original.to_crs(METRIC).geometry)
    assert error.max() < 0.5
    assert back.compound_id.tolist() == original.compound_id.tolist()


def test_shift_formulas_round_trip():
    lon, lat = np.array([112.55, 116.404, 121.47]), np.array([37.85, 39.915, 31.23])
    blon, blat = gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    assert np.allclose(bd09_to_wgs84(blon, blat), (lon, lat), atol=1e-8)  # under a millimetre
    glon, glat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert np.allclose((glon, glat), (lon, lat), atol=1e-9)
    # The public example: GCJ-02 (116.404, 39.915) is BD-09 (116.41036…, 39.92133…).
    assert np.allclose(gcj02_to_bd09(116.404, 39.915), (116.41037, 39.92134), atol=1e-5)


def test_shifted_crs_names_and_refusals(tmp_path):
    assert shifted_crs("GCJ-02") == "gcj02" and shifted_crs("bd09ll") == "bd09" and shifted_crs("EPSG:4326") is None
    projected = gpd.read_file(BOUNDARIES / "compounds.geojson").to_crs(METRIC)
    projected.to_file(tmp_path / "m.gpkg")
    with pytest.raises(GridmapError, match="projected"):
        read_layer(tmp_path / "m.gpkg", crs="gcj02")


def test_run_notes_the_conversion(tmp_path):
    from gridmap.pipeline import RunResult, _stage_load
    from gridmap.project import LayerConfig, Project

    _, path = shifted_copy(tmp_path, "gcj02")
    project = Project(layers={"compounds": LayerConfig(str(path)), "grids": LayerConfig(str(path))}, crs="gcj02")
    result = RunResult(out=tmp_path)
    state: dict = {}
    _stage_load(project, state, tmp_path, result)
    assert state["compounds"].crs.to_epsg() == 4326
    assert any(n.startswith("compounds:") and "GCJ-02" in n for n in result.notes)


def test_street_office_field_names():
    frame = pd.DataFrame(columns=["总户数", "楼栋编号", "所属小区", "所属网格", "社区名称", "党员人数", "网格名称"])
    found = {m: find_field(frame, m, required=False) for m in
             ("households", "building_id", "compound_id", "grid_id", "community", "party_members", "grid_name")}
    assert found == {"households": "总户数", "building_id": "楼栋编号", "compound_id": "所属小区",
                     "grid_id": "所属网格", "community": "社区名称", "party_members": "党员人数",
                     "grid_name": "网格名称"}
    # A layer's own id field comes first.
    assert find_field(pd.DataFrame(columns=["小区编码", "所属小区"]), "compound_id") == "小区编码"


def test_type_aliases():
    assert [vocab.canonical_type(t) for t in ("老旧小区", "单位小区", "单位宿舍", " 城中村", "居住型", None)] == \
        ["老旧型", "单位型", "单位型", "过渡型", "居住型", None]
    comp = gpd.GeoDataFrame({"compound_id": ["a", "b", "c", "d"], "x1": 0, "x2": 0, "x3": 0, "x4": 0, "x5": 0,
                             "x6": 0, "type": ["老旧小区", "居住型", None, "老旧型"]}, geometry=[None] * 4)
    assert in_scope(comp, ["老旧型"], "compounds").tolist() == [True, False, True, True]
