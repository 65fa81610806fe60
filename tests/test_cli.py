"""The command line end to end: outputs, messages for bad input, inputs left untouched."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from conftest import ROOT, digest, polygons


def gridmap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gridmap", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=300)


@pytest.fixture
def layers(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    comps = polygons({"XQ1": (0, 0, 100, 100), "XQ2": (200, 0, 240, 40), "XQ3": (260, 0, 300, 40)},
                     "小区编码", 小区名称=["龙城花园", "太嘉小区", "锦绣苑"], 小区类型=["老旧型", "居住型", "老旧型"])
    grids = polygons({"WG1": (0, 0, 50, 100), "WG2": (50, 0, 100, 100), "WG3": (190, -10, 310, 50)}, "网格编码")
    # Place them in Taiyuan (EPSG:4547 metres), as real layers would be.
    comps.geometry = comps.geometry.translate(520000, 4190000)
    grids.geometry = grids.geometry.translate(520000, 4190000)
    comps.to_crs(4490).to_file(folder / "compounds.shp", encoding="gbk")
    (folder / "compounds.cpg").unlink()
    grids.to_file(folder / "grids.gpkg", layer="网格")
    return folder


def test_classify_writes_the_contract(layers, tmp_path):
    before = digest(layers)
    out = tmp_path / "out"
    r = gridmap("classify", layers / "compounds.shp", f"{layers / 'grids.gpkg'}:网格", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "large_compound" in r.stdout and "EPSG:4547" in r.stdout
    assert "老旧型" in r.stdout  # counts per compound type
    c = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig")
    assert list(c.columns[:5]) == ["compound_id", "situation", "grid_ids", "main_grid_id", "main_share"]
    assert dict(zip(c.compound_id, c.situation)) == {"XQ1": "large_compound", "XQ2": "large_grid", "XQ3": "large_grid"}
    assert "小区名称" in c.columns and set(c["小区名称"]) == {"龙城花园", "太嘉小区", "锦绣苑"}
    g = pd.read_csv(out / "grids.csv", encoding="utf-8-sig")
    assert list(g.columns[:3]) == ["grid_id", "situation", "compound_ids"]
    assert g.set_index("grid_id").compound_ids["WG3"] == "XQ2;XQ3"
    o = pd.read_csv(out / "overlaps.csv", encoding="utf-8-sig")
    assert list(o.columns) == ["compound_id", "grid_id", "overlap_m2", "share_of_compound", "share_of_grid", "significant"]
    assert (out / "compounds.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    gpkg = gpd.read_file(out / "classification.gpkg", layer="compounds")
    assert set(gpkg.situation) == {"large_compound", "large_grid"}
    assert digest(layers) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_engines_give_identical_outputs(layers, tmp_path):
    for engine in ("pyogrio", "fiona"):
        r = gridmap("classify", layers / "compounds.shp", f"{layers / 'grids.gpkg'}:网格", "--engine", engine,
                    "--out", tmp_path / engine)
        assert r.returncode == 0, r.stderr
    for name in ("compounds.csv", "grids.csv", "overlaps.csv"):
        assert (tmp_path / "pyogrio" / name).read_bytes() == (tmp_path / "fiona" / name).read_bytes(), name


def assert_clean_error(r, *fragments):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    text = " ".join(r.stderr.split())
    for fragment in fragments:
        assert fragment in text, text


def test_bad_inputs_give_clear_messages(layers, tmp_path):
    before = digest(layers)
    grids = f"{layers / 'grids.gpkg'}:网格"
    assert_clean_error(gridmap("classify", layers / "nope.shp", grids), "nope.shp: no such file")
    (tmp_path / "junk.geojson").write_text("{not json")
    assert_clean_error(gridmap("classify", tmp_path / "junk.geojson", grids), "junk.geojson", "not a readable vector layer")
    assert_clean_error(gridmap("classify", layers / "compounds.shp", grids, "--compound-id", "XQBH"),
                       "no field 'XQBH'", "小区编码", "小区名称")

    noprj = tmp_path / "noprj"
    noprj.mkdir()
    for f in layers.glob("compounds.*"):
        if f.suffix != ".prj":
            (noprj / f.name).write_bytes(f.read_bytes())
    assert_clean_error(gridmap("classify", noprj / "compounds.shp", grids), "no coordinate reference system", "--crs EPSG:4490")
    ok = gridmap("classify", noprj / "compounds.shp", grids, "--crs", "EPSG:4490", "--out", tmp_path / "o")
    assert ok.returncode == 0, ok.stderr

    pts = gpd.GeoDataFrame({"compound_id": ["a", "b"]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)], crs=4547)
    pts.to_file(tmp_path / "points.geojson")
    assert_clean_error(gridmap("classify", tmp_path / "points.geojson", grids), "must be polygons", "2 Point")

    empty = polygons({"a": (0, 0, 1, 1)}, "compound_id").iloc[:0]
    empty.to_file(tmp_path / "empty.gpkg", layer="c")
    assert_clean_error(gridmap("classify", f"{tmp_path / 'empty.gpkg'}:c", grids), "empty layer")

    dup = polygons({"a": (0, 0, 1, 1), "b": (2, 2, 3, 3), "c": (4, 4, 5, 5)}, "compound_id").assign(compound_id=["X", "X", None])
    dup.to_file(tmp_path / "dup.geojson")
    assert_clean_error(gridmap("classify", tmp_path / "dup.geojson", grids), "duplicate id", "X", "null id", "feature 3")
    assert digest(layers) == before


def test_null_geometries_dropped_with_warning(layers, tmp_path):
    comps = gpd.read_file(layers / "compounds.shp", encoding="gb18030")
    comps.loc[1, "geometry"] = None
    comps.to_file(tmp_path / "holes.gpkg", layer="c")
    r = gridmap("classify", f"{tmp_path / 'holes.gpkg'}:c", f"{layers / 'grids.gpkg'}:网格", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert "dropped 1 features" in " ".join(r.stderr.split()) and "XQ2" in r.stderr


def test_debug_shows_traceback(layers):
    r = gridmap("--debug", "classify", layers / "nope.shp", layers / "grids.gpkg")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_check_reports_and_exit_status(layers, tmp_path):
    bad = polygons({"A": (0, 0, 10, 10), "B": (5, 0, 15, 10)}, "grid_id")
    bad.loc[len(bad)] = ["C", shapely.Polygon([(20, 0), (30, 10), (30, 0), (20, 10)])]
    bad.to_file(tmp_path / "grids.geojson")
    r = gridmap("check", layers / "compounds.shp", tmp_path / "grids.geojson", "--out", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(tmp_path / "c" / "check.csv", encoding="utf-8-sig")
    assert {"grids overlap", "invalid geometry"} <= set(table.issue)
    dup = bad.assign(grid_id=["A", "A", "C"])
    dup.to_file(tmp_path / "dup_grids.geojson")
    r = gridmap("check", tmp_path / "dup_grids.geojson", "--out", tmp_path / "c")
    assert r.returncode == 1 and "duplicate id" in r.stdout


def test_classify_the_bundled_sample(sample_dir, tmp_path):
    r = gridmap("classify", sample_dir / "compounds.geojson", sample_dir / "grids.geojson", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    c = pd.read_csv(tmp_path / "compounds.csv", encoding="utf-8-sig")
    g = pd.read_csv(tmp_path / "grids.csv", encoding="utf-8-sig")
    assert {"large_compound", "large_grid", "equal", "mixed"} <= set(c.situation)
    assert {"large_compound", "large_grid", "equal", "mixed", "no_compound"} <= set(g.situation)
    assert c.compound_id.is_unique and len(c) > 50
