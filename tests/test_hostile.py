"""Issue 12: hostile inputs. Nothing lost, nothing leaked, nothing overwritten.

One test per case of the issue, most severe first. Each builds its input in tmp_path (from the
bundled sample where handy), runs the command line in-process, and checks the outcome: a result
that keeps every feature, or a one-paragraph message with exit status 1 — never a traceback nor
an "unexpected" error — and the inputs unchanged (hashed before and after).
"""

from __future__ import annotations

import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from conftest import ROOT, digest

SAMPLE = ROOT / "boundaries"


def cli(*args):
    """Run ``gridmap ARGS`` in-process; return (exit code, stdout + stderr)."""
    from gridmap import cli as cli_module

    cli_module._SHOWN.clear()  # warnings are said once per process: say them again for each test
    result = CliRunner().invoke(cli_module.app, [str(a) for a in args], catch_exceptions=False)
    text = result.output + (result.stderr if result.stderr_bytes is not None and result.stderr not in result.output else "")
    return result.exit_code, " ".join(text.split())


def refused(args, *expected):
    """The command exits 1 with one message holding every ``expected`` text, and no traceback."""
    code, text = cli(*args)
    assert code == 1, text
    assert "Error:" in text and "Traceback" not in text and "unexpected" not in text.lower(), text
    for part in expected:
        assert part in text, (part, text)
    return text


@pytest.fixture
def inputs(tmp_path):
    """A folder of inputs from the bundled sample: compounds, grids (GeoJSON, EPSG:4490)."""
    if not (SAMPLE / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("compounds.geojson", "grids.geojson"):
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def sample(name: str) -> gpd.GeoDataFrame:
    return gpd.read_file(SAMPLE / f"{name}.geojson")


def read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


# ------------------------------------------------------------------ 1. personal data


def test_01_worker_names_never_taken_as_ids_nor_published(inputs, tmp_path):
    for name in ("buildings.geojson",):
        shutil.copy(SAMPLE / name, inputs / name)
    workers = pd.read_csv(SAMPLE / "grid_workers.csv", encoding="utf-8-sig")
    # Street-office rosters head the names 网格员; some bring a 工号 beside them.
    names_only = inputs / "workers.csv"
    pd.DataFrame({"网格员": workers.name, "网格编码": workers.grid_id}).to_csv(names_only, index=False)
    before = digest(inputs)
    out = tmp_path / "run"
    common = ["run", "--compounds", inputs / "compounds.geojson", "--grids", inputs / "grids.geojson",
              "--buildings", inputs / "buildings.geojson", "--out", out]
    refused([*common, "--grid-workers", names_only], "workers.csv", "'网格员'", "names", "工号")
    assert not out.exists()

    with_ids = inputs / "roster.csv"
    pd.DataFrame({"网格员": workers.name, "工号": workers.worker_id, "网格编码": workers.grid_id}).to_csv(
        with_ids, index=False, encoding="gb18030")
    before = digest(inputs)
    code, text = cli(*common, "--grid-workers", with_ids)
    assert code == 0, text
    assert "column '工号'" in text  # the run says which column it took the ids from
    mg = gpd.read_file(out / "microgrids.gpkg", layer="microgrids")
    assert mg.worker.dropna().isin(workers.worker_id).all() and mg.worker.notna().any()
    # No name reaches any output: maps, GeoPackages, tables, report (names of 3 characters, which
    # nothing else in the sample holds by chance).
    others = "".join((SAMPLE / f).read_text(encoding="utf-8") for f in ("compounds.geojson", "grids.geojson",
                                                                        "buildings.geojson"))
    names = [n for n in workers.name if len(n) == 3 and n not in others]
    assert len(names) > 20
    for path in out.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            if path.suffix == ".xlsx":
                raw = b"".join(zipfile.ZipFile(path).read(n) for n in zipfile.ZipFile(path).namelist())
            leaked = [n for n in names if n.encode() in raw]
            assert not leaked, (path.name, leaked[:3])
    assert digest(inputs) == before


# ------------------------------------------------------------------ 2. inputs are sacred


def test_02_an_output_never_overwrites_an_input(inputs, tmp_path):
    comps = sample("compounds")
    table = pd.DataFrame(comps.drop(columns="geometry")).assign(wkt=comps.geometry.to_wkt())
    table.to_csv(inputs / "compounds.csv", index=False, encoding="utf-8-sig")
    before = digest(inputs)
    refused(["classify", inputs / "compounds.csv", inputs / "grids.geojson", "--crs", "EPSG:4490",
             "--out", inputs], "would overwrite the input", "compounds.csv", "Nothing was written")
    # gridmap run replaces its folder as a whole: a folder holding an input is refused too.
    refused(["run", "--compounds", inputs / "compounds.csv", "--grids", inputs / "grids.geojson",
             "--crs", "EPSG:4490", "--out", inputs], "holds the input", "Nothing was run")
    refused(["run", "--compounds", inputs / "compounds.geojson", "--grids", inputs / "grids.geojson",
             "--out", tmp_path], "holds the input")
    assert digest(inputs) == before
    # Elsewhere the same command works.
    code, text = cli("classify", inputs / "compounds.csv", inputs / "grids.geojson", "--crs", "EPSG:4490",
                     "--out", tmp_path / "out")
    assert code == 0, text
    assert digest(inputs) == before


# ------------------------------------------------------------------ 3. every layer whole


def test_03_a_source_of_several_layers_needs_its_layer_named(inputs, tmp_path):
    comps = sample("compounds")
    # A KML with two folders.
    kml = inputs / "two.kml"
    placemarks = []
    for k, (cid, geom) in enumerate(zip(comps.compound_id[:4], comps.geometry[:4])):
        ring = " ".join(f"{x},{y}" for x, y in shapely.get_coordinates(geom.exterior if geom.geom_type == "Polygon"
                                                                       else geom.geoms[0].exterior))
        placemarks.append(f"<Placemark><name>{cid}</name><ExtendedData><Data name=\"compound_id\"><value>{cid}"
                          f"</value></Data></ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>{ring}"
                          "</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>")
    kml.write_text('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
                   f"<Folder><name>east</name>{''.join(placemarks[:2])}</Folder>"
                   f"<Folder><name>west</name>{''.join(placemarks[2:])}</Folder></Document></kml>", encoding="utf-8")
    # A folder holding two shapefiles, and a zip of a GeoPackage with two layers.
    shp = inputs / "shapes"
    shp.mkdir()
    short = comps[["compound_id", "name", "geometry"]].rename(columns={"compound_id": "XQBM"})
    short.iloc[:30].to_file(shp / "north.shp", encoding="utf-8")
    short.iloc[30:].to_file(shp / "south.shp", encoding="utf-8")
    gpkg = tmp_path / "two.gpkg"
    comps.iloc[:30].to_file(gpkg, layer="a")
    comps.iloc[30:].to_file(gpkg, layer="b")
    with zipfile.ZipFile(inputs / "two.zip", "w") as z:
        z.write(gpkg, "two.gpkg")
    before = digest(inputs)
    grids = inputs / "grids.geojson"
    refused(["check", kml], "two.kml", "2 layers", "east, west", "two.kml:LAYER")
    refused(["classify", shp, grids, "--out", tmp_path / "o"], "shapes", "2 layers", "north", "south")
    refused(["classify", inputs / "two.zip", grids, "--out", tmp_path / "o"], "2 layers", "a, b")
    # Named, each is read whole.
    code, text = cli("classify", f"{shp}:south", grids, "--out", tmp_path / "south")
    assert code == 0, text
    assert len(read_csv(tmp_path / "south" / "compounds.csv")) == len(comps) - 30
    code, text = cli("check", f"{kml}:west", "--out", tmp_path / "k")
    assert code == 0, text
    assert digest(inputs) == before


# ------------------------------------------------------------------ 4. nothing lost from the counts


def test_04_compounds_without_geometry_stay_in_every_table_and_count(inputs, tmp_path):
    comps = gpd.read_file(inputs / "compounds.geojson")
    comps.loc[3, "geometry"] = None                                 # no geometry at all
    x, y = comps.geometry[5].centroid.coords[0]
    comps.loc[5, "geometry"] = shapely.Polygon([(x, y), (x + 1e-4, y), (x + 2e-4, y), (x, y)])  # no area
    comps.to_file(inputs / "compounds.geojson", driver="GeoJSON")
    n, ids = len(comps), {comps.compound_id[3]: "null geometry", comps.compound_id[5]: "no area after repair"}
    before = digest(inputs)
    out = tmp_path / "run"
    code, text = cli("run", "--compounds", inputs / "compounds.geojson", "--grids", inputs / "grids.geojson",
                     "--out", out)
    assert code == 0, text
    assert re.search(rf"no_geometry\W+2\b", text) and re.search(rf"total\W+{n}\b", text)  # the run's summary
    c = read_csv(out / "compounds.csv")
    assert len(c) == n and list(c.compound_id) == list(comps.compound_id)  # every row, in input order
    lost = c[c.situation == "no_geometry"].set_index("compound_id")
    assert lost.geometry_issue.to_dict() == ids
    assert (lost.grid_ids == "").all() and (lost.area_m2.astype(float) == 0).all()
    assert len(gpd.read_file(out / "classification.gpkg", layer="compounds")) == n
    check = read_csv(out / "check.csv")
    assert set(ids) <= set(check.feature_id)  # listed on the check page
    sheet = pd.read_excel(out / "report.xlsx", sheet_name="情形")
    assert sheet["小区"].sum() == n and "无有效边界" in set(sheet["情形"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"共有小区{n}个" in html
    assert digest(inputs) == before


# ------------------------------------------------------------------ 5. impossible coordinates


def test_05_impossible_coordinates_are_refused_with_the_fix(inputs, tmp_path):
    comps, grids = sample("compounds"), sample("grids")

    def swapped(layer):
        return layer.set_geometry(shapely.transform(layer.geometry.to_numpy(), lambda xy: xy[:, ::-1]), crs=layer.crs)

    swapped(comps).to_file(inputs / "c_swapped.geojson")
    swapped(grids).to_file(inputs / "g_swapped.geojson")
    far = comps.to_crs(4326)
    far.loc[0, "geometry"] = shapely.Polygon([(112.5, 37.8), (200, 95), (112.6, 37.9)])
    far.to_file(inputs / "c_far.geojson")
    metres = comps.to_crs(4547).set_crs(4490, allow_override=True)
    metres.to_file(inputs / "c_metres.gpkg")
    grids.to_crs(4547).set_crs(4490, allow_override=True).to_file(inputs / "g_metres.gpkg")
    zoned = comps.to_crs(4526).set_crs(4547, allow_override=True)  # 38xxxxxx eastings called CM 114E
    zoned.to_file(inputs / "c_zoned.gpkg")
    before = digest(inputs)
    o = ["--out", tmp_path / "o"]
    # gridmap check lists them as errors (exit 1), never "Usable".
    code, text = cli("check", inputs / "c_swapped.geojson", inputs / "g_swapped.geojson", *o)
    assert code == 1 and "2 errors" in text and "Usable" not in text and "Traceback" not in text, text
    findings = read_csv(tmp_path / "o" / "check.csv")
    assert (findings.severity == "error").sum() == 2 and findings.detail.str.contains("swapped").all()
    refused(["classify", inputs / "c_swapped.geojson", inputs / "g_swapped.geojson", *o], "swapped")
    refused(["classify", inputs / "c_far.geojson", inputs / "grids.geojson", *o],
            "c_far.geojson", "vertex at 200, 95", "XQ0001")
    refused(["classify", inputs / "c_metres.gpkg", inputs / "g_metres.gpkg", *o],
            "c_metres.gpkg", "metres", "EPSG:4547", "--crs c_metres=EPSG:")
    refused(["classify", inputs / "c_zoned.gpkg", inputs / "grids.geojson", *o],
            "c_zoned.gpkg", "zone number", "EPSG:4526")
    # The fix the message names works, and gives the areas of the right data.
    code, text = cli("classify", inputs / "c_metres.gpkg", inputs / "g_metres.gpkg",
                     "--crs", "c_metres=EPSG:4547,g_metres=EPSG:4547", "--out", tmp_path / "fixed")
    assert code == 0, text
    code, text = cli("classify", inputs / "compounds.geojson", inputs / "grids.geojson", "--out", tmp_path / "right")
    assert code == 0, text
    fixed, right = read_csv(tmp_path / "fixed" / "compounds.csv"), read_csv(tmp_path / "right" / "compounds.csv")
    assert np.allclose(fixed.area_m2.astype(float), right.area_m2.astype(float), rtol=1e-6, atol=0.2)
    assert digest(inputs) == before


# ------------------------------------------------------------------ 6. never Web Mercator


def test_06_web_mercator_layers_are_measured_in_a_true_metric_crs(inputs, tmp_path):
    from gridmap.io import metric_crs

    sample("compounds").to_crs(3857).to_file(inputs / "c3857.gpkg")
    sample("grids").to_crs(3857).to_file(inputs / "g3857.gpkg")
    before = digest(inputs)
    code, text = cli("classify", inputs / "c3857.gpkg", inputs / "g3857.gpkg", "--out", tmp_path / "m")
    assert code == 0, text
    assert "EPSG:4547" in text and "3857" not in text.split("Areas measured in")[1][:20]
    code, text = cli("classify", inputs / "compounds.geojson", inputs / "grids.geojson", "--out", tmp_path / "d")
    assert code == 0, text
    merc, true = read_csv(tmp_path / "m" / "compounds.csv"), read_csv(tmp_path / "d" / "compounds.csv")
    assert np.allclose(merc.area_m2.astype(float), true.area_m2.astype(float), rtol=1e-6, atol=0.2)
    assert metric_crs(gpd.read_file(inputs / "c3857.gpkg")).to_epsg() == 4547
    assert digest(inputs) == before


# ------------------------------------------------------------------ 7. ids stay text


def test_07_long_numeric_ids_and_codes_stay_exactly_as_written(inputs, tmp_path):
    comps, grids = sample("compounds"), sample("grids")
    ids = [f"14010500100100000{k:05d}" for k in range(1, len(comps) + 1)]   # 22 digits
    codes = [f"1401050010010{k:05d}" for k in range(len(comps))]            # 18 digits, one blank
    codes[7] = ""
    twenty = [f"9{k:019d}" for k in range(len(comps))]                       # 20 digits
    table = pd.DataFrame({"compound_id": ids, "code": codes, "code20": twenty, "households": comps.households,
                          "wkt": comps.geometry.to_wkt()})
    table.to_csv(inputs / "compounds.csv", index=False, encoding="utf-8-sig")
    g = grids.assign(grid_id=[140105001001000000 + k for k in range(len(grids))])  # int64 ids in a GeoPackage
    g.to_file(inputs / "grids.gpkg")
    before = digest(inputs)
    out = tmp_path / "o"
    code, text = cli("classify", inputs / "compounds.csv", inputs / "grids.gpkg", "--crs", "EPSG:4490",
                     "--out", out)
    assert code == 0, text
    c = read_csv(out / "compounds.csv")
    assert list(c.compound_id) == ids and list(c.code) == codes and list(c.code20) == twenty
    gr = read_csv(out / "grids.csv")
    assert list(gr.grid_id) == [str(140105001001000000 + k) for k in range(len(grids))]
    assert set(gr.compound_ids.str.split(";").explode()) - {""} <= set(ids)
    gpkg = gpd.read_file(out / "classification.gpkg", layer="compounds")
    assert list(gpkg.compound_id) == ids and (pd.isna(gpkg.code[7]) or gpkg.code[7] == "") and gpkg.code[0] == codes[0]
    assert pd.api.types.is_numeric_dtype(gpkg.households)  # a declared figure is still a number
    assert digest(inputs) == before


# ------------------------------------------------------------------ 8. workbooks are data


FORMULAS = ['=HYPERLINK("http://example.invalid/x","点我")', "+1+1", "-2+3", "@SUM(A1)"]


def test_08_text_never_becomes_a_formula_in_any_workbook(inputs, tmp_path):
    from gridmap.io.xlsx import Sheet, write_xlsx

    # The writer itself.
    path = write_xlsx([Sheet("s", [["text"], *[[f] for f in FORMULAS]])], tmp_path / "w.xlsx")
    cells = [c for row in openpyxl.load_workbook(path)["s"].iter_rows() for c in row]
    assert [c.value for c in cells[1:]] == FORMULAS and {c.data_type for c in cells} == {"s"}

    # Every workbook of a run, and the roster of gridmap org.
    for name in ("buildings.geojson", "stations.geojson"):
        shutil.copy(SAMPLE / name, inputs / name)
    comps = gpd.read_file(inputs / "compounds.geojson")
    comps.loc[:3, "name"] = FORMULAS
    comps.to_file(inputs / "compounds.geojson", driver="GeoJSON")
    members = pd.read_csv(SAMPLE / "members.csv", encoding="utf-8-sig", dtype=str)
    members.loc[:3, "name"] = FORMULAS
    members.to_csv(inputs / "members.csv", index=False, encoding="utf-8-sig")
    before = digest(inputs)
    out = tmp_path / "run"
    code, text = cli("run", "--compounds", inputs / "compounds.geojson", "--grids", inputs / "grids.geojson",
                     "--buildings", inputs / "buildings.geojson", "--members", inputs / "members.csv",
                     "--stations", inputs / "stations.geojson", "--walk-m", "50", "--out", out)
    assert code == 0, text
    code, text = cli("org", inputs / "compounds.geojson", inputs / "grids.geojson", "--buildings",
                     inputs / "buildings.geojson", "--members", inputs / "members.csv", "--roster",
                     tmp_path / "roster.xlsx", "--out", tmp_path / "org")
    assert code == 0, text
    books = [*out.glob("*.xlsx"), tmp_path / "roster.xlsx"]
    assert {p.name for p in books} >= {"report.xlsx", "organization.xlsx", "roster.xlsx"}
    seen = set()
    for book in books:
        for sheet in openpyxl.load_workbook(book).worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (book.name, sheet.title, cell.coordinate, cell.value)
                    if isinstance(cell.value, str):
                        seen.update(f for f in FORMULAS if cell.value.startswith(f))
    assert seen == set(FORMULAS)  # the texts are there, as text
    assert digest(inputs) == before


# ------------------------------------------------------------------ 9. run folders respect the user


def test_09_run_folders_keep_the_users_files(inputs, tmp_path):
    before = digest(inputs)
    out = tmp_path / "run"
    args = ["run", "--compounds", inputs / "compounds.geojson", "--grids", inputs / "grids.geojson", "--out", out]
    assert cli(*args)[0] == 0
    (out / "my notes.txt").write_text("mine")
    refused(args, "did not write", "my notes.txt")
    assert (out / "my notes.txt").read_text() == "mine" and (out / "compounds.csv").exists()
    (out / "my notes.txt").unlink()
    # An OUT.incomplete the user made is never deleted, nor is one refused silently.
    mine = tmp_path / "run.incomplete"
    mine.mkdir()
    (mine / "draft.docx").write_text("mine too")
    refused(args, "run.incomplete", "draft.docx")
    assert (mine / "draft.docx").read_text() == "mine too"
    shutil.rmtree(mine)
    assert cli(*args)[0] == 0  # the folder it wrote itself is replaced

    # Stopped by SIGTERM mid-run: nothing half-written under OUT, the old run intact.
    old = digest(out)
    shutil.copy(SAMPLE / "buildings.geojson", inputs / "buildings.geojson")
    before = digest(inputs)
    proc = subprocess.Popen([sys.executable, "-m", "gridmap", *map(str, args), "--buildings",
                             inputs / "buildings.geojson"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any((p / "compounds.csv").exists()
                                                  for p in tmp_path.glob(".run.partial-*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Interrupted" in err and "Traceback" not in err, err
    assert digest(out) == old
    assert not list(tmp_path.glob(".run.*"))  # no temporary folder left
    kept = tmp_path / "run.incomplete"
    assert (kept / "compounds.csv").exists()
    assert '"complete": false' in (kept / ".gridmap-run").read_text(encoding="utf-8")
    assert digest(inputs) == before


# ------------------------------------------------------------------ 10. columns kept


def test_10_input_columns_clashing_with_computed_ones_are_renamed_not_dropped(inputs, tmp_path):
    comps = gpd.read_file(inputs / "compounds.geojson")
    comps["Area_M2"] = np.arange(len(comps), dtype=float) + 0.5  # ArcGIS's area field
    comps["NAME"] = "别名" + comps.compound_id                     # beside name
    comps.to_file(inputs / "c.geojson", driver="GeoJSON")
    before = digest(inputs)
    out = tmp_path / "o"
    code, text = cli("classify", inputs / "c.geojson", inputs / "grids.geojson", "--out", out)
    assert code == 0, text
    assert "Area_M2 → Area_M2_1" in text and "NAME → NAME_1" in text
    for table in (read_csv(out / "compounds.csv"), gpd.read_file(out / "classification.gpkg", layer="compounds")):
        assert {"area_m2", "Area_M2_1", "name", "NAME_1"} <= set(table.columns)
        assert list(table.Area_M2_1.astype(float)) == list(comps.Area_M2)
        assert list(table.NAME_1) == list(comps.NAME) and list(table["name"]) == list(comps["name"])
    assert digest(inputs) == before


# ------------------------------------------------------------------ 11. encodings per layer


def test_11_encodings_are_decided_per_layer(inputs, tmp_path):
    comps = sample("compounds").rename(columns={"compound_id": "小区编码"})[["小区编码", "name", "type", "geometry"]]
    gbk = inputs / "gbk"
    gbk.mkdir()
    comps.to_file(gbk / "小区.shp", encoding="gbk")
    (gbk / "小区.cpg").write_text("UTF-8")  # wrong: the bytes are GBK
    ansi = inputs / "ansi"
    ansi.mkdir()
    comps.to_file(ansi / "xq.shp", encoding="gbk")
    (ansi / "xq.cpg").unlink()
    dbf = bytearray((ansi / "xq.dbf").read_bytes())
    dbf[29] = 0x57  # "system ANSI": says nothing
    (ansi / "xq.dbf").write_bytes(bytes(dbf))
    assert struct.unpack("<B", bytes(dbf[29:30]))[0] == 0x57
    before = digest(inputs)
    names = list(comps["name"])
    for layer, extra in ((gbk / "小区.shp", []), (gbk / "小区.shp", ["--encoding", "小区=gbk"]),
                         (ansi / "xq.shp", []), (ansi / "xq.shp", ["--encoding", "gbk"])):
        out = tmp_path / f"o{len(list(tmp_path.iterdir()))}"
        code, text = cli("classify", layer, inputs / "grids.geojson", *extra, "--out", out)
        assert code == 0, (layer, extra, text)
        assert list(read_csv(out / "compounds.csv")["name"]) == names, (layer, extra)
        if layer.suffix == ".shp" and layer.parent == gbk and not extra:
            assert ".cpg says UTF-8" in text
        if "gbk" in extra:  # --encoding gbk for every layer leaves the UTF-8 GeoJSON alone
            assert list(read_csv(out / "grids.csv")["name"]) == list(sample("grids")["name"])
    refused(["classify", gbk / "小区.shp", inputs / "grids.geojson", "--encoding", "compund=gbk", "--out",
             tmp_path / "typo"], "compund", "no layer")
    assert digest(inputs) == before


# ------------------------------------------------------------------ 12. messages, not crashes


def test_12_crashes_become_one_paragraph_messages(inputs, tmp_path, monkeypatch):
    comps = sample("compounds")
    grids = inputs / "grids.geojson"
    wkt = comps.geometry.to_wkt().tolist()
    # An empty WKT cell is a compound without geometry (DESIGN §2): kept as no_geometry, no crash.
    blank = pd.DataFrame({"compound_id": comps.compound_id, "wkt": [""] + wkt[1:]})
    blank.to_csv(inputs / "blank.csv", index=False)
    curved = pd.DataFrame({"compound_id": comps.compound_id[:3], "wkt": [wkt[0], "CURVEPOLYGON(CIRCULARSTRING("
                           "112.5 37.8, 112.51 37.81, 112.52 37.8, 112.51 37.79, 112.5 37.8))", wkt[2]]})
    curved.to_csv(inputs / "curved.csv", index=False)
    plain = pd.DataFrame({"compound_id": comps.compound_id, "geometry": comps.geometry.to_wkb()})
    plain.to_parquet(inputs / "plain.parquet")
    (inputs / "a file").write_text("not a folder")
    project = inputs / "project.toml"
    project.write_text('[layers]\ncompounds = "compounds.geojson"\ngrids = "grids.geojson"\n\n[output]\nfolder = 5\n',
                       encoding="utf-8")
    before = digest(inputs)
    o = ["--out", tmp_path / "o"]

    code, text = cli("classify", inputs / "blank.csv", grids, "--crs", "EPSG:4490", *o)
    assert code == 0 and "Traceback" not in text, text
    c = read_csv(tmp_path / "o" / "compounds.csv")
    assert len(c) == len(comps) and c.situation[0] == "no_geometry" and c.geometry_issue[0] == "null geometry"

    refused(["classify", inputs / "curved.csv", grids, "--crs", "EPSG:4490", *o],
            "curved.csv", "row 3", "CURVEPOLYGON", "CONVERT_TO_LINEAR")
    refused(["classify", inputs / "plain.parquet", grids, *o], "plain.parquet", "GeoParquet", "'geo'")
    started = time.monotonic()
    refused(["run", "--compounds", inputs / "compounds.geojson", "--grids", grids, "--scheduler", "not a url",
             "--out", tmp_path / "r"], "'not a url'", "tcp://HOST:PORT")
    assert time.monotonic() - started < 5 and not (tmp_path / "r").exists()
    refused(["classify", inputs / "compounds.geojson", grids, "--out", inputs / "a file"], "a file", "is a file")
    refused(["run", "--compounds", inputs / "compounds.geojson", "--grids", grids, "--out", inputs / "a file"],
            "a file", "is a file")
    refused(["run", project], "project.toml", "line 6", "[output] folder", "5")

    # A read-only folder (simulated: the tests run as root, whom permissions do not stop).
    import tempfile

    def denied(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    refused(["classify", inputs / "compounds.geojson", grids, "--out", tmp_path / "ro"], "cannot write",
            "Permission denied")
    refused(["run", "--compounds", inputs / "compounds.geojson", "--grids", grids, "--out", tmp_path / "ro2"],
            "cannot write", "Permission denied")
    monkeypatch.undo()
    assert digest(inputs) == before
