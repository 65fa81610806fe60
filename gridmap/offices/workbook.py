"""An office's workbooks: ``tables.xlsx`` (its compounds, grids, organisation, micro-grids and station
reach, with Chinese headers) and, when asked for, ``roster.xlsx`` (its members by name).

Written with gridmap's streaming writer (:mod:`gridmap.io.xlsx`). Every id and name is a text cell;
households are whole numbers; codes are shown by their labels (:mod:`gridmap.vocab`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.io.xlsx import BOLD, HEADER, Sheet, Style, column_letter, fit_widths, write_xlsx

#: Column → Chinese header, for every column an office's workbooks show.
HEADERS: dict[str, str] = {
    "compound_id": "小区编码", "compound_name": "小区名称", "compound_type": "小区类型",
    "situation": "情形", "grid_ids": "涉及网格", "main_grid_id": "主网格", "main_share": "主网格面积占比",
    "households": "户数", "area_m2": "面积（平方米）", "outline": "边界来源",
    "grid_id": "网格编码", "grid_name": "网格名称", "compound_ids": "涉及小区", "microgrids": "微网格数",
    "unit_id": "编号", "parent_id": "上级编号", "kind": "类型", "name": "名称", "building_ids": "楼栋",
    "members": "党员数", **{f"members_{k}": v for k, v in vocab.CATEGORIES.items()},
    "members_other": vocab.OTHER_CATEGORY_LABEL, "has_committee": "设委员会", "review": "需复核", "note": "说明",
    "microgrid_id": "微网格编码", "n_buildings": "楼栋数", "worker": "网格员编号",
    "station_distance_m": "距最近党群服务站（米）", "served": "步行可达", "measured": "测量方式",
    "member_id": "党员编号", "member_name": "姓名", "category": "党员类别", "building_id": "楼栋编码",
    "unit": "所在党组织", "group": "所在党小组", "group_id": "党小组编号", "reason": "未落位原因",
}
#: Columns of whole numbers (households, counts).
WHOLE = {"households", "microgrids", "members", "n_buildings", "station_distance_m",
         *(f"members_{k}" for k in vocab.CATEGORIES), "members_other"}
#: Columns of measured numbers, rounded to one decimal (areas) or three (shares).
DECIMALS = {"area_m2": 1, "main_share": 3}
#: A distance to a station that cannot be walked (no street leads there).
UNREACHABLE = "无法到达"
#: Cap on a column's width (characters): long lists wrap beyond it.
CAPS = {"楼栋": 40, "涉及网格": 30, "涉及小区": 30, "说明": 50, "需复核": 50}


def cell_values(frame: pd.DataFrame, column: str) -> list:
    """A column as the workbook shows it: codes by their labels, whole numbers as ints, text as str."""
    values = frame[column].tolist()
    if column == "situation":
        return [settings.LIST_SEP.join(vocab.situation_label(x) for x in str(v).split(settings.LIST_SEP))
                if _present(v) else None for v in values]
    if column == "kind":
        return [vocab.kind_label(v) if _present(v) else None for v in values]
    if column == "category":
        return [vocab.CATEGORIES.get(v, vocab.OTHER_CATEGORY_LABEL) if _present(v) else None for v in values]
    if column == "outline":
        return [vocab.OUTLINE_LABELS.get(v, str(v)) if _present(v) else None for v in values]
    if column == "measured":
        return [vocab.MEASURED_LABELS.get(v, str(v)) if _present(v) else None for v in values]
    if column in ("has_committee", "served"):
        return [("是" if bool(v) else "否") if _present(v) else None for v in values]
    if column == "station_distance_m":  # no station reachable along the streets: said, not "inf"
        return [UNREACHABLE if _present(v) and not _number(v) else whole(v) for v in values]
    if column in WHOLE:
        return [whole(v) for v in values]
    if column in DECIMALS:
        return [round(float(v), DECIMALS[column]) if _number(v) else None for v in values]
    return [str(v) if _present(v) else None for v in values]


def whole(v) -> int | None:
    """A household or member figure as an int (None when missing or infinite)."""
    if not _number(v):
        return None
    return int(round(float(v)))


def _present(v) -> bool:
    if v is None:
        return False
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return False
    try:
        return not bool(pd.isna(v)) and str(v) != ""
    except (TypeError, ValueError):
        return True


def _number(v) -> bool:
    try:
        return v is not None and not isinstance(v, (str, bool)) and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def table_sheet(name: str, frame: pd.DataFrame, columns: Sequence[str], *, depth: np.ndarray | None = None,
                indent: str | None = None) -> Sheet:
    """One sheet: a header row (HEADERS) and the frame's rows; ``depth`` indents column ``indent``."""
    columns = [c for c in columns if c in frame.columns]
    header = [HEADERS.get(c, str(c)) for c in columns]
    values = [cell_values(frame, c) for c in columns]
    rows = [header, *(list(r) for r in zip(*values))] if values else [header]
    cell_styles = {}
    if depth is not None and indent in columns:
        j = columns.index(indent)
        cell_styles = {(i, j): Style(indent=int(d) * 2) for i, d in enumerate(depth.tolist(), start=1) if d}
    widths = fit_widths(rows, caps=CAPS)
    return Sheet(name, rows, widths=widths, freeze="B2" if len(columns) > 1 else "A2",
                 autofilter=f"A1:{column_letter(len(header) - 1)}{len(rows)}" if len(rows) > 1 and header else None,
                 row_styles={0: HEADER}, cell_styles=cell_styles)


def facts_sheet(facts: Sequence[tuple[str, object]]) -> Sheet:
    """概况: label and value per row, labels bold."""
    rows = [[str(label), value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)]
            for label, value in facts]
    return Sheet("概况", rows, widths=fit_widths(rows), cell_styles={(i, 0): BOLD for i in range(len(rows))})


def write_tables(path: str | os.PathLike, *, facts: Sequence[tuple[str, object]], compounds: pd.DataFrame,
                 grids: pd.DataFrame, units: pd.DataFrame | None = None, microgrids: pd.DataFrame | None = None,
                 reach: pd.DataFrame | None = None) -> Path:
    """``tables.xlsx``: 概况, 小区, 网格, and where given 组织 (the tree, indented), 微网格, 服务站可达.

    The frames hold one community's rows, with the columns of ``HEADERS`` (others are left out).
    """
    sheets = [facts_sheet(facts),
              table_sheet("小区", compounds, ("compound_id", "compound_name", "compound_type", "situation",
                                            "grid_ids", "main_grid_id", "main_share", "households", "area_m2",
                                            "outline")),
              table_sheet("网格", grids, ("grid_id", "grid_name", "situation", "compound_ids", "households",
                                        "microgrids", "area_m2"))]
    if units is not None:
        columns = ("unit_id", "parent_id", "kind", "name", "situation", "compound_ids", "grid_ids", "members",
                   *(f"members_{k}" for k in vocab.CATEGORIES), "members_other", "households", "has_committee",
                   "building_ids", "review", "note")
        sheets.append(table_sheet("组织", units, columns, depth=units.depth.to_numpy() if "depth" in units else None,
                                  indent="name"))
    if microgrids is not None:
        sheets.append(table_sheet("微网格", microgrids, ("microgrid_id", "grid_id", "households", "n_buildings",
                                                      "building_ids", "worker", "area_m2")))
    if reach is not None:
        sheets.append(table_sheet("服务站可达", reach, ("compound_id", "compound_name", "station_distance_m",
                                                   "served", "measured")))
    return write_xlsx(sheets, path)


def write_roster(path: str | os.PathLike, roster: pd.DataFrame) -> Path:
    """``roster.xlsx``: the office's members by name (personal data: this file only)."""
    sheet = table_sheet("党员名册", roster.rename(columns={"note": "reason"}),
                        ("member_id", "member_name", "category", "building_id", "unit", "group", "reason"))
    return write_xlsx([sheet], path)


__all__ = ["HEADERS", "cell_values", "table_sheet", "whole", "write_roster", "write_tables"]
