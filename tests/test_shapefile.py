"""Shapefiles for ArcGIS and SuperMap (shp/): GBK, Chinese field names within 10 bytes, the CSVs' rows."""

from __future__ import annotations

import struct
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS

from conftest import BOUNDARIES, ROOT
from gridmap import vocab
from gridmap.io.shapefile import SHAPEFILE_FIELDS, field_names, gbk_bytes, write_shapefiles


def dbf_field_names(path) -> list[bytes]:
    """The raw field names of a DBF header."""
    data = path.with_suffix(".dbf").read_bytes()
    header_len = struct.unpack("<H", data[8:10])[0]
    return [data[i:i + 11].split(b"\0")[0] for i in range(32, header_len - 1, 32)]


def read_gbk(path) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(path, encoding="GBK")


def test_mapping_fits_the_dbf():
    for column, name in SHAPEFILE_FIELDS.items():
        assert gbk_bytes(name) <= 10, (column, name)
    assert len(set(SHAPEFILE_FIELDS.values())) == len(SHAPEFILE_FIELDS)


def test_unknown_names_are_cut_safely_and_made_unique():
    columns = ["compound_id", "很长的中文字段名字", "很长的中文字段名称", "Name", "NAME", "abcdefghijklmno",
               "abcdefghijXYZ", "情形", "situation", "a😀b"]
    names = field_names(columns)
    assert names["compound_id"] == "小区编码" and names["很长的中文字段名字"] == "很长的中文"
    assert all(gbk_bytes(n) <= 10 for n in names.values())
    assert len({n.lower() for n in names.values()}) == len(columns)
    assert names["很长的中文字段名称"] == "很长的中_2" and names["NAME"] == "NAME_2"
    assert names["situation"] == "情形_2"  # an input column took the name first
    assert names["a😀b"] == "a_b"


def test_run_shapefiles_equal_the_csvs(office_run):
    out = office_run.out
    shp = out / "shp"
    assert {p.name for p in shp.glob("*.shp")} == {"compounds.shp", "grids.shp", "proposal_grids.shp",
                                                    "microgrids.shp"}
    compounds = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig", dtype=str)
    grids = pd.read_csv(out / "grids.csv", encoding="utf-8-sig", dtype=str)
    for name, csv, key, code in (("compounds", compounds, "compound_id", "小区编码"),
                                 ("grids", grids, "grid_id", "网格编码")):
        layer = read_gbk(shp / f"{name}.shp")
        assert len(layer) == len(csv)
        assert layer[code].tolist() == csv[key].tolist()  # same rows, same order, ids as text
        assert layer["情形"].tolist() == csv.situation.tolist()
        assert layer["情形名称"].tolist() == [vocab.situation_label(s) for s in csv.situation]
        assert (shp / f"{name}.cpg").read_text() == "GBK"
        assert CRS.from_wkt((shp / f"{name}.prj").read_text()).equals(CRS.from_epsg(4490), ignore_axis_order=True)
        raw = dbf_field_names(shp / f"{name}.shp")
        assert all(len(n) <= 10 for n in raw) and code.encode("gbk") in raw  # GBK bytes in the header
        info = pyogrio.read_info(shp / f"{name}.shp", encoding="GBK")
        assert info["dtypes"][list(info["fields"]).index(code)] == "object"
    names = read_gbk(shp / "compounds.shp")["名称"]
    assert "山西医科大学家属区" in set(names)  # Chinese values survive GBK
    proposal = gpd.read_file(out / "proposal.gpkg", layer="grids")
    layer = read_gbk(shp / "proposal_grids.shp")
    assert layer["网格编码"].tolist() == proposal.grid_id.tolist()
    assert layer["状态名称"].tolist() == [vocab.status_label(s) for s in proposal.status]
    micro = gpd.read_file(out / "microgrids.gpkg", layer="microgrids")
    layer = read_gbk(shp / "microgrids.shp")
    assert layer["微网格编码"].tolist() == micro.microgrid_id.tolist()
    assert layer["户数"].tolist() == micro.households.tolist()


def test_text_is_cut_within_254_bytes_and_ids_stay_text(tmp_path):
    layer = gpd.GeoDataFrame({"compound_id": [7, 12], "grid_id": ["007", "010"], "note": ["网" * 200, "a😀"],
                              "flag": [True, False]},
                             geometry=[shapely.box(0, 0, 1, 1), None], crs=4547)
    write_shapefiles({"t": layer}, tmp_path)
    back = read_gbk(tmp_path / "t.shp")
    assert back["小区编码"].tolist() == ["7", "12"] and back["网格编码"].tolist() == ["007", "010"]
    assert back.note[0] == "网" * 127 and back.note[1] == "a?"
    assert back.flag.tolist() == [1, 0] and back.geometry[1] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.cpg", "t.dbf", "t.prj", "t.shp", "t.shx"]


def test_classify_shapefiles_flag(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gridmap", "classify", BOUNDARIES / "compounds.geojson",
                        BOUNDARIES / "grids.geojson", "--shapefiles", "--out", tmp_path],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    compounds = pd.read_csv(tmp_path / "compounds.csv", encoding="utf-8-sig", dtype=str)
    layer = read_gbk(tmp_path / "shp" / "compounds.shp")
    assert layer["小区编码"].tolist() == compounds.compound_id.tolist()
    assert not (tmp_path / "shp" / "microgrids.shp").exists()


@pytest.mark.parametrize("engine", ["pyogrio", "fiona"])
def test_engines_write_the_same(tmp_path, engine):
    layer = gpd.GeoDataFrame({"grid_id": ["A"], "name": ["第1网格"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4547)
    write_shapefiles({"g": layer}, tmp_path, engine=engine)
    back = read_gbk(tmp_path / "g.shp")
    assert back.columns.tolist() == ["网格编码", "名称", "geometry"] and back["名称"][0] == "第1网格"
