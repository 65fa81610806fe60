"""The report states the programme's figures, draws offline and leaks nothing."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd

from gridmap.report import ReportFacts, statements, write_report


def facts(**kw):
    base = dict(
        compound_situations=pd.Series({"large_compound": 3, "large_grid": 5, "equal": 2, "mixed": 1, "uncovered": 0}),
        grid_situations=pd.Series({"large_compound": 7, "large_grid": 2, "equal": 2, "mixed": 2, "no_compound": 1}),
        compound_types=pd.Series({"居住型": 4, "过渡型": 1, "老旧型": 5, "单位型": 1}),
        org_kinds=pd.Series({"committee": 1, "general_branch": 1, "branch": 6, "joint_branch": 1, "group": 20,
                             "central_household": 4}),
        members_by_category=pd.Series({"直管党员": 80, "流动党员": 5, "在职党员": 20, "离退休党员": 40}),
        members_total=145,
        unplaced=pd.DataFrame({"building_id": [], "members": [], "reason": []}),
        microgrid_households=np.array([35, 60, 80, 99, 120]),
        crs="EPSG:4547",
    )
    base.update(kw)
    return ReportFacts(**base)


def test_statements_follow_the_programme():
    text = "".join(statements(facts()))
    assert "共有小区11个，分4种类型：居住型4个，过渡型1个，老旧型5个，单位型1个" in text
    assert "建立小区（网格）党组织8个，楼栋（单元）党小组20个" in text
    assert "划分微网格5个" in text and "全部145名党员均已编入楼栋党小组" in text


def test_unplaced_listed_by_building(tmp_path):
    f = facts(unplaced=pd.DataFrame({"building_id": ["LD9"], "members": [2], "reason": ["building not found"]}))
    assert "143名已编入楼栋党小组，2名未落实" in "".join(statements(f))
    html_path, xlsx = write_report(f, tmp_path)
    page = html_path.read_text(encoding="utf-8")
    assert "LD9" in page and "building not found" in page
    book = openpyxl.load_workbook(xlsx)
    assert "未编入党员" in book.sheetnames and book["未编入党员"]["A2"].value == "LD9"


def test_html_is_self_contained_and_escaped(tmp_path):
    f = facts(compound_types=pd.Series({"<script>alert(1)</script>": 11}))
    page, _ = write_report(f, tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text and "&lt;script&gt;" in text
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    assert text.count("<svg") >= 5 and "OpenStreetMap" in text
