"""The community offices' folders (offices/<community_id>/): print map, tables, roster."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from conftest import BOUNDARIES, OFFICE_ORGANISATION, ROOT
from gridmap import vocab
from gridmap.classify import classify
from gridmap.errors import GridmapError
from gridmap.offices import NO_ORGANISATION, OSM_ATTRIBUTION, chinese_date, find_cjk_font, paper_size, write_offices
from gridmap.offices import printmap

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
                                   reason="poppler-utils (pdftotext, pdfinfo) not installed")


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdf_size_mm(path) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    w, h = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    return w / 72 * 25.4, h / 72 * 25.4


def sheet_rows(book, name) -> list[dict]:
    rows = list(book[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def communities() -> gpd.GeoDataFrame:
    return gpd.read_file(BOUNDARIES / "communities.geojson")


def test_a_folder_per_community(office_run):
    folders = {p.name for p in (office_run.out / "offices").iterdir()}
    assert folders == set(communities().community_id)  # offices/<community_id>/
    assert {p.name for p in office_run.offices} == folders
    for folder in office_run.offices:
        assert {p.name for p in folder.iterdir()} == {"map.pdf", "tables.xlsx", "roster.xlsx"}


@needs_poppler
def test_print_map_is_a3_landscape_with_the_elements_of_a_map(office_run):
    names = dict(zip(communities().community_id, communities().name))
    today = {chinese_date(), chinese_date(dt.date.today() - dt.timedelta(days=1))}
    for folder in office_run.offices:
        pdf = folder / "map.pdf"
        assert pdf.read_bytes().startswith(b"%PDF")
        w, h = pdf_size_mm(pdf)
        assert abs(w - 420) < 1 and abs(h - 297) < 1  # A3 landscape
        text = pdf_text(pdf)
        name = names[folder.name]
        assert f"{name}小区与网格分布图" in text  # 图名
        assert "图例" in text and any(label in text for label in vocab.SITUATION_LABELS.values())
        assert "比例尺" in text and re.search(r"1:[\d,]+", text)  # the numeric scale beside the bar
        assert "米" in text and "北" in text  # the bar's unit, the north arrow
        assert f"制图单位：{OFFICE_ORGANISATION}" in text
        assert "数据来源" in text and OSM_ATTRIBUTION in text
        assert any(day in text for day in today)
        assert "第1网格" in text  # grids carry their names (without the community's)
    ledger = pd.read_csv(BOUNDARIES / "members.csv", encoding="utf-8-sig", dtype=str)
    text = pdf_text(office_run.offices[0] / "map.pdf")
    assert not any(n in text for n in ledger.name)  # no personal data on a map


def test_office_workbook_holds_its_community_only(office_run):
    out = office_run.out
    org = pd.read_csv(out / "organization.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    grids = pd.read_csv(out / "grids.csv", encoding="utf-8-sig", dtype=str)
    compounds = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig", dtype=str)
    roots = org[org.parent_id == ""].set_index("community")
    seen_compounds, seen_grids = [], []
    for folder in office_run.offices:
        book = openpyxl.load_workbook(folder / "tables.xlsx")
        assert {"概况", "小区", "网格", "组织", "微网格", "服务站可达"} <= set(book.sheetnames)
        facts = dict(r for r in book["概况"].iter_rows(values_only=True))
        community = facts["社区"]
        assert facts["制图单位"] == OFFICE_ORGANISATION
        comps = sheet_rows(book, "小区")
        ids = [r["小区编码"] for r in comps]
        # Compounds and units: as organization.csv has them.
        assert set(ids) == set(roots.compound_ids[community].split(";"))
        units = sheet_rows(book, "组织")
        assert {r["编号"] for r in units} == set(org.unit_id[org.community == community])
        assert {r["类型"] for r in units} <= set(vocab.KIND_LABELS.values())
        # Grids: the community field of grids.csv.
        grid_ids = [r["网格编码"] for r in sheet_rows(book, "网格")]
        assert set(grid_ids) == set(grids.grid_id[grids.community == community])
        assert {r["网格编码"] for r in sheet_rows(book, "微网格")} <= set(grid_ids)
        assert [r["小区编码"] for r in sheet_rows(book, "服务站可达")] == ids
        # Text cells are strings; households whole numbers; situations by their labels.
        sheet = book["小区"]
        for row in sheet.iter_rows(min_row=2):
            assert row[0].data_type == "s" and isinstance(row[0].value, str)
            assert row[7].value is None or type(row[7].value) is int  # 户数
            assert row[3].value in vocab.SITUATION_LABELS.values()
        seen_compounds += ids
        seen_grids += grid_ids
    assert sorted(seen_compounds) == sorted(compounds.compound_id)  # each compound in one office
    assert sorted(seen_grids) == sorted(grids.grid_id)


def test_roster_holds_the_community_members_only(office_run):
    ledger = pd.read_csv(BOUNDARIES / "members.csv", encoding="utf-8-sig", dtype=str)
    org = office_run.organisation
    community_of_unit = org.units.set_index("unit_id").community
    placed = org.members.set_index("member_id").branch_id.map(community_of_unit)
    seen = []
    for folder in office_run.offices:
        book = openpyxl.load_workbook(folder / "roster.xlsx")
        community = openpyxl.load_workbook(folder / "tables.xlsx")["概况"]["B1"].value
        rows = sheet_rows(book, "党员名册")
        assert rows and {r["党员编号"] for r in rows} == set(placed.index[placed == community])
        assert all(isinstance(r["姓名"], str) for r in rows)
        seen += [r["党员编号"] for r in rows]
        # Names are in the roster only.
        tables = openpyxl.load_workbook(folder / "tables.xlsx")
        cells = {str(c) for ws in tables for row in ws.iter_rows(values_only=True) for c in row if c is not None}
        assert not cells & set(ledger.name)
    assert sorted(seen) == sorted(ledger.member_id)


def test_run_writes_no_roster_unless_asked_and_a4_on_request(tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "gridmap", "run", "--compounds", BOUNDARIES / "compounds.geojson",
                        "--grids", BOUNDARIES / "grids.geojson", "--paper", "a4", "--out", out],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    folders = sorted((out / "offices").iterdir())
    assert len(folders) == 6  # the grids' community field: one office per community name
    assert all(not (f / "roster.xlsx").exists() for f in folders)
    assert (out / "shp" / "compounds.shp").exists()
    if shutil.which("pdfinfo"):
        w, h = pdf_size_mm(folders[0] / "map.pdf")
        assert abs(w - 297) < 1 and abs(h - 210) < 1  # A4 landscape
        assert f"制图单位：{NO_ORGANISATION}" in pdf_text(folders[0] / "map.pdf")
    r = subprocess.run([sys.executable, "-m", "gridmap", "run", "--compounds", BOUNDARIES / "compounds.geojson",
                        "--grids", BOUNDARIES / "grids.geojson", "--paper", "B5", "--out", tmp_path / "p"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 1 and "A3 or A4" in r.stderr and not (tmp_path / "p").exists()


def test_project_file_output_keys(tmp_path):
    from gridmap.project import load_project

    toml = tmp_path / "p.toml"
    toml.write_text('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n'
                    '[output]\npaper = "A4"\norganisation = "某街道办事处"\nroster = true\n'
                    'attribution = "某测绘院"\n', encoding="utf-8")
    p = load_project(toml)
    assert (p.paper, p.organisation, p.roster, p.attribution) == ("A4", "某街道办事处", True, "某测绘院")
    toml.write_text(toml.read_text(encoding="utf-8").replace('"A4"', '"B5"'), encoding="utf-8")
    with pytest.raises(GridmapError, match=r"line 6: \[output\] paper"):
        load_project(toml)


def test_without_a_cjk_font(monkeypatch, tmp_path, sample_dir):
    monkeypatch.setattr(printmap.font_manager.fontManager, "ttflist", [])
    with pytest.raises(GridmapError, match="fonts-noto-cjk"):
        find_cjk_font()
    cls = classify(gpd.read_file(sample_dir / "compounds.geojson"), gpd.read_file(sample_dir / "grids.geojson"))
    with pytest.raises(GridmapError, match="Chinese characters"):
        write_offices(cls, tmp_path / "a")
    result = write_offices(cls, tmp_path / "b", missing_font="note")
    assert result.font is None and "were not drawn" in result.notes[0]
    assert all((f / "tables.xlsx").exists() and not (f / "map.pdf").exists() for f in result.folders)


def test_paper_sizes():
    assert paper_size(None) == ("A3", (420.0, 297.0)) and paper_size("a4") == ("A4", (297.0, 210.0))
    with pytest.raises(GridmapError, match="A3 or A4"):
        paper_size("letter")
    assert chinese_date(dt.date(2026, 11, 29)) == "2026年11月29日"
