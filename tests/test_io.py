"""Loading real GIS formats, encodings and CRSs; both engines give the same tables."""

from __future__ import annotations

import shutil
import warnings
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import digest, polygons
from gridmap import classify, metric_crs, read_layer
from gridmap.errors import GridmapError
from gridmap.io import parse_layer_spec, shapefile_encoding

NAMES = ["龙城花园", "太嘉小区", "千禧锦绣苑A区"]


@pytest.fixture
def chinese(tmp_path):
    """Three compounds with Chinese field names and values, in CGCS2000 lon/lat."""
    return gpd.GeoDataFrame(
        {"小区编码": ["XQ1", "XQ2", "XQ3"], "小区名称": NAMES, "户数": [320, 1200, 80]},
        geometry=[shapely.box(112.55 + i * 0.002, 37.85, 112.551 + i * 0.002, 37.851) for i in range(3)],
        crs=4490,
    )


def write_gbk_shapefile(gdf, folder, cpg: bool):
    folder.mkdir(exist_ok=True)
    path = folder / "compounds.shp"
    gdf.to_file(path, encoding="gbk", engine="pyogrio")
    if not cpg:
        (folder / "compounds.cpg").unlink()
    return path


@pytest.mark.parametrize("engine", ["pyogrio", "fiona"])
@pytest.mark.parametrize("cpg", [True, False])
def test_gbk_shapefile(tmp_path, chinese, engine, cpg):
    path = write_gbk_shapefile(chinese, tmp_path / "shp", cpg)
    before = digest(tmp_path / "shp")
    gdf = read_layer(path, engine=engine)
    assert list(gdf.columns[:3]) == ["小区编码", "小区名称", "户数"]
    assert list(gdf["小区名称"]) == NAMES
    assert digest(tmp_path / "shp") == before  # nothing written beside the input


def test_gbk_detection_and_override(tmp_path, chinese):
    path = write_gbk_shapefile(chinese, tmp_path / "shp", cpg=False)
    assert shapefile_encoding(path) == "gb18030"
    assert list(read_layer(path, encoding="gbk")["小区名称"]) == NAMES
    with pytest.raises(GridmapError, match="--encoding"):
        read_layer(path, encoding="utf-8")


def test_utf8_shapefile_without_cpg_or_code_page(tmp_path, chinese):
    folder = tmp_path / "u"
    folder.mkdir()
    # DBF field names hold 10 bytes: keep them short so GDAL does not cut a character in two.
    short = chinese.rename(columns={"小区编码": "编码", "小区名称": "名称"})
    short.to_file(folder / "c.shp", encoding="utf-8", engine="pyogrio")
    (folder / "c.cpg").unlink()
    dbf = bytearray((folder / "c.dbf").read_bytes())
    dbf[29] = 0  # no code page byte either, as many tools write
    (folder / "c.dbf").write_bytes(bytes(dbf))
    assert shapefile_encoding(folder / "c.shp") == "utf-8"
    assert list(read_layer(folder / "c.shp")["名称"]) == NAMES


def test_zipped_shapefile(tmp_path, chinese):
    path = write_gbk_shapefile(chinese, tmp_path / "shp", cpg=False)
    archive = tmp_path / "compounds.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in path.parent.iterdir():
            z.write(f, f"data/{f.name}")
    gdf = read_layer(archive)
    assert list(gdf["小区名称"]) == NAMES and gdf.crs.to_epsg() == 4490


def test_geopackage_layers_geojson_kml_filegdb_csv(tmp_path, chinese):
    gpkg = tmp_path / "city.gpkg"
    chinese.to_file(gpkg, layer="小区")
    chinese.to_file(gpkg, layer="other")
    assert list(read_layer(f"{gpkg}:小区")["小区名称"]) == NAMES
    with pytest.raises(GridmapError, match="holds 2 layers"):
        read_layer(gpkg)
    with pytest.raises(GridmapError, match="no layer 'nope'.*小区"):
        read_layer(f"{gpkg}:nope")

    chinese.to_file(tmp_path / "c.geojson")
    assert list(read_layer(tmp_path / "c.geojson")["小区名称"]) == NAMES

    chinese.to_crs(4326).to_file(tmp_path / "c.kml", driver="KML")
    kml = read_layer(tmp_path / "c.kml")
    assert len(kml) == 3 and kml.crs.to_epsg() == 4326

    chinese.to_file(tmp_path / "c.gdb", driver="OpenFileGDB", layer="compounds")
    gdb = read_layer(f"{tmp_path / 'c.gdb'}:compounds")
    assert list(gdb["小区名称"]) == NAMES

    csv = tmp_path / "c.csv"
    pd.DataFrame({"小区编码": chinese["小区编码"], "WKT": chinese.geometry.to_wkt()}).to_csv(
        csv, index=False, encoding="gb18030")
    with pytest.raises(GridmapError, match="--crs"):
        read_layer(csv)
    table = read_layer(csv, crs="EPSG:4490")
    assert list(table["小区编码"]) == ["XQ1", "XQ2", "XQ3"] and table.crs.to_epsg() == 4490


def test_engines_give_same_table(tmp_path, chinese):
    path = write_gbk_shapefile(chinese, tmp_path / "shp", cpg=False)
    a = read_layer(path, engine="pyogrio")
    b = read_layer(path, engine="fiona")
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")), check_dtype=False)
    assert a.geometry.geom_equals_exact(b.geometry, 1e-9).all()


def test_no_crs_needs_flag(tmp_path, chinese):
    path = write_gbk_shapefile(chinese, tmp_path / "shp", cpg=True)
    (tmp_path / "shp" / "compounds.prj").unlink()
    with pytest.raises(GridmapError, match=r"no coordinate reference system.*--crs"):
        read_layer(path)
    assert read_layer(path, crs="EPSG:4490").crs.to_epsg() == 4490
    with pytest.raises(GridmapError, match="not a coordinate reference system"):
        read_layer(path, crs="EPSG:99999999")


def test_metric_crs_follows_design():
    taiyuan_east = gpd.GeoDataFrame(geometry=[shapely.Point(112.56, 37.86)], crs=4490)
    taiyuan_west = gpd.GeoDataFrame(geometry=[shapely.Point(112.44, 37.86)], crs=4490)
    assert metric_crs(taiyuan_east).to_epsg() == 4547
    assert metric_crs(taiyuan_west).to_epsg() == 4546
    projected = taiyuan_east.to_crs(4547)
    assert metric_crs(projected).to_epsg() == 4547
    paris = gpd.GeoDataFrame(geometry=[shapely.Point(2.35, 48.85)], crs=4326)
    assert metric_crs(paris).to_epsg() == 32631


def test_layers_in_different_crs_are_reconciled(chinese):
    grids = gpd.GeoDataFrame({"grid_id": ["g1"]}, geometry=[shapely.box(112.549, 37.849, 112.56, 37.852)],
                             crs=4490)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = classify(chinese, grids)
        mixed = classify(chinese.to_crs(4547), grids)  # EPSG:4547 compounds, EPSG:4490 grids
    assert list(same.compounds.situation) == list(mixed.compounds.situation)
    assert np.allclose(same.overlaps.overlap_m2, mixed.overlaps.overlap_m2, rtol=1e-6)
    assert same.crs.to_epsg() == 4547 and mixed.crs.to_epsg() == 4547
    assert (same.compounds.area_m2 > 8000).all()  # ~0.001° square at 37.85°N ≈ 9,800 m²


def test_layer_spec_parsing(tmp_path):
    assert parse_layer_spec("a.gpkg:grids").layer == "grids"
    assert parse_layer_spec("a.shp").layer is None
    weird = tmp_path / "odd:name.geojson"
    polygons({"a": (0, 0, 1, 1)}, "compound_id").to_file(weird)
    assert parse_layer_spec(str(weird)).layer is None


def test_unreadable_and_missing(tmp_path):
    with pytest.raises(GridmapError, match="no such file"):
        read_layer(tmp_path / "missing.shp")
    bad = tmp_path / "notes.geojson"
    bad.write_text("this is not GeoJSON")
    with pytest.raises(GridmapError, match="not a readable vector layer"):
        read_layer(bad)
    shutil.copy(bad, tmp_path / "x.zip")
    with pytest.raises(GridmapError, match="not a readable zip"):
        read_layer(tmp_path / "x.zip")


def test_table_text_decoding(tmp_path):
    from gridmap.io import decode_text

    assert decode_text("小区编码\n".encode("utf-8-sig"), None, "t.csv") == "小区编码\n"
    assert decode_text("小区编码\n".encode("gb18030"), None, "t.csv") == "小区编码\n"
    with pytest.raises(GridmapError, match="t.csv: the ledger cannot be decoded as UTF-8 and GB18030"):
        decode_text(b"\xff\xfe\x00\xd8\x00", None, "t.csv", "ledger")
    with pytest.raises(GridmapError, match="not an encoding Python knows"):
        decode_text(b"x", "klingon", "t.csv")
