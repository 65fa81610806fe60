"""What the organisation's outputs hold: the JSON text, the workbook sheets and the roster table.

Everything here turns an ``Organisation`` into content and writes nothing; ``gridmap.org.write``
writes it through ``gridmap.io``. ``organization.csv`` is ``Organisation.units`` as it is. Only
counts and ids go into the shared outputs; the roster, which names members, is made only on request.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.errors import GridmapError
from gridmap.i18n import _
from gridmap.io.xlsx import BOLD, CELL_MAX, HEADER, Sheet, Style, column_letter, fit_widths
from gridmap.org.candidates import CANDIDATE_COLUMNS, committee_candidates, secretary_candidates
from gridmap.org.funding import FUNDING_COLUMNS, FUNDING_HEADERS, FundingPolicy
from gridmap.org.ledger import standardise_ledger
from gridmap.org.model import CATEGORIES, UNIT_COLUMNS, Organisation, json_value, reason_label

# ------------------------------------------------------------------ organization.json


def document(org: Organisation, tree: bool = True) -> dict:
    """``organization.json`` as a dict: thresholds, member figures and the tree."""
    return {
        "thresholds": dataclasses.asdict(org.thresholds),
        "members": org.members_total, "members_placed": org.members_placed,
        "members_unplaced": org.members_unplaced, "members_source": org.source,
        "communities": org.tree() if tree else None,
    }


def document_json(org: Organisation) -> str:
    """``json.dumps(document(org), ensure_ascii=False, indent=1)``, the same text, written a unit at a
    time from the table's columns (json's indenting encoder is pure Python and took seconds a city)."""
    text = json.dumps(document(org, tree=False), ensure_ascii=False, indent=1)
    return text[: -len("null\n}")] + _tree_json(org.units, level=1) + "\n}"


def _tree_json(units: pd.DataFrame, level: int) -> str:
    """The units as ``Organisation.tree()`` nests them, JSON-encoded as json.dumps(indent=1) would at
    ``level`` (the indent of the list's opening bracket)."""
    if not len(units):
        return "[]"
    keys = [k for k in units.columns if k not in ("parent_id", "depth")]
    depth = units.depth.to_numpy(dtype=np.int64)
    n = len(units)
    pads = {d: " " * (level + 2 + 2 * d) for d in np.unique(depth).tolist()}  # a unit's keys
    encoded = [_json_column(units[k], k, depth, level) for k in keys]
    # One format string per depth: the unit's opening brace, its fields, and the children key.
    templates = {}
    for d, pad in pads.items():
        body = ",\n".join(f'{pad}{json.dumps(k, ensure_ascii=False)}: {{}}' for k in keys)
        templates[d] = "{{\n" + body + f',\n{pad}"children": '
    out = ["[\n", " " * (level + 1)]
    for i, fields in enumerate(zip(*encoded)):
        d = int(depth[i])
        out.append(templates[d].format(*fields))
        nxt = int(depth[i + 1]) if i + 1 < n else -1
        if nxt > d:
            out.append("[\n" + " " * (level + 3 + 2 * d))
            continue
        out.append("[]\n" + " " * (level + 1 + 2 * d) + "}")
        for k in range(d - 1, nxt - 1, -1):  # close the lists of the units this one ends
            if k < 0:
                break
            out.append("\n" + " " * (level + 2 + 2 * k) + "]\n" + " " * (level + 1 + 2 * k) + "}")
        if nxt >= 0:
            out.append(",\n" + " " * (level + 1 + 2 * nxt))
    out.append("\n" + " " * level + "]")
    return "".join(out)


_encode_str = json.encoder.encode_basestring  # C-accelerated; ensure_ascii=False's encoder


def _json_column(values: pd.Series, key: str, depth: np.ndarray, level: int) -> list[str]:
    """A units column's values as JSON text (lists of ids indented for each unit's depth)."""
    raw = values.tolist()
    if key in ("compound_ids", "grid_ids", "building_ids"):
        out = []
        for v, d in zip(raw, depth.tolist()):
            if not isinstance(v, str):
                out.append(json.dumps(json_value(key, v), ensure_ascii=False, indent=1))
            elif not v:
                out.append("[]")
            else:
                pad = " " * (level + 3 + 2 * d)
                # ';' is never escaped by JSON: the joined ids encode as one string, cut at each ';'.
                items = _encode_str(v).replace(settings.LIST_SEP, '",\n' + pad + '"')
                out.append("[\n" + pad + items + "\n" + " " * (level + 2 + 2 * d) + "]")
        return out
    kinds = set(map(type, raw))
    if kinds <= {str}:
        return list(map(_encode_str, raw))
    if kinds <= {int}:
        return list(map(int.__repr__, raw))
    if kinds <= {bool}:
        return ["true" if v else "false" for v in raw]
    if kinds <= {float}:
        # As json writes floats; missing (NaN) is null here, as in tree().
        return ["null" if v != v else float.__repr__(v) if math.isfinite(v) else json.dumps(v) for v in raw]
    return [json.dumps(json_value(key, v), ensure_ascii=False) for v in raw]


# ------------------------------------------------------------------ organization.xlsx

#: Workbook headers of the unit columns.
_HEADERS = {
    "unit_id": "编号", "parent_id": "上级编号", "kind": "类型", "name": "名称", "community": "社区",
    "situation": "情形", "compound_ids": "小区", "grid_ids": "网格", "building_ids": "楼栋",
    "members": "党员数", **{f"members_{k}": v for k, v in CATEGORIES.items()},
    "members_other": vocab.OTHER_CATEGORY_LABEL, "households": "户数", "has_committee": "设委员会",
    "review": "需复核", "note": "说明",
}
#: Workbook headers of the columns of ``Organisation.summary()``.
_SUMMARY_HEADERS = {"community": "社区", **vocab.KIND_LABELS, "with_committee": "设委员会的支部",
                    "members": "党员总数", **{f"members_{k}": v for k, v in CATEGORIES.items()},
                    "members_other": vocab.OTHER_CATEGORY_LABEL, "households": "户数", "members_unplaced": "未落位党员",
                    "review": "需复核单位"}
#: The summary sheet's name; the community sheets take other names.
SUMMARY_SHEET = "汇总"
#: The roster workbook's sheet of members; with identities (身份) in the ledger, its candidate sheets.
ROSTER_SHEET = "党员名册"
SECRETARY_SHEET = "书记人选"
COMMITTEE_SHEET = "支委人选"
#: The funding estimate's sheet in ``organization.xlsx``.
FUNDING_SHEET = "经费测算"


def workbook_sheets(org: Organisation, funding: pd.DataFrame | None = None,
                    policy: FundingPolicy | None = None) -> list[Sheet]:
    """The sheets of ``organization.xlsx``: a summary sheet (汇总), with a funding estimate the sheet
    经费测算 (``funding.csv`` with Chinese headers, and the policy), then one sheet per community."""
    used: set[str] = {SUMMARY_SHEET.lower()}
    sheets = [_summary_sheet(org)]
    if funding is not None:
        used.add(FUNDING_SHEET.lower())
        sheets.append(funding_sheet(funding, policy))
    columns = [c for c in UNIT_COLUMNS if c not in ("depth", "community")]
    u = org.units
    values = [_sheet_column(u, c) for c in columns]
    rows = list(zip(*values))
    header = [_HEADERS[c] for c in columns]
    name_col = columns.index("name")
    depth = u.depth.to_numpy()
    at = u.groupby("community", sort=False).indices
    for community in pd.unique(u.community):
        idx = at[community]
        sheets.append(_unit_sheet(_sheet_name(community or "社区", used), header,
                                  [rows[i] for i in idx], depth[idx], name_col))
    return sheets


def _summary_sheet(org: Organisation) -> Sheet:
    """The summary sheet: ``Organisation.summary()``, the member figures, the thresholds and the
    members not placed (per building)."""
    table = org.summary()
    rows: list[list] = [[_SUMMARY_HEADERS[c] for c in table.columns]]
    rows += [[_whole(v) if c == "households" else _cell(v) for c, v in zip(table.columns, row)]
             for row in table.itertuples(index=False)]
    width = len(rows[0])
    autofilter = f"A1:{column_letter(width - 1)}{len(rows)}" if len(rows) > 1 else None
    row_styles = {len(rows) - 1: BOLD}
    cell_styles = {}
    facts = [("党员来源", "台账" if org.source == "ledger" else f"楼栋党员数字段 {org.source}"),
             ("党员总数", org.members_total), ("已落位党员", org.members_placed),
             ("未落位党员", org.members_unplaced),
             ("阈值", f"支部 {org.thresholds.branch_min}–{org.thresholds.branch_max} 人；"
                      f"{org.thresholds.committee_min} 人以上设支委会；党小组至少 {org.thresholds.group_min} 人")]
    rows.append([])
    for label, value in facts:
        cell_styles[(len(rows), 0)] = BOLD
        rows.append([label, _cell(value)])
    lost = org.unplaced()
    if len(lost):
        rows.append([])
        cell_styles[(len(rows), 0)] = BOLD
        rows.append(["未落位党员（按楼栋）"])
        cell_styles.update({(len(rows), j): BOLD for j in range(3)})
        rows.append(["楼栋", "原因", "党员数"])
        rows += [[str(rec.building_id), reason_label(rec.reason), int(rec.members)]
                 for rec in lost.itertuples(index=False)]
    row_styles[0] = HEADER
    return Sheet(SUMMARY_SHEET, rows, widths=fit_widths(rows), freeze="B2", autofilter=autofilter,
                 row_styles=row_styles, cell_styles=cell_styles)


def _unit_sheet(name: str, header: list[str], rows: list[tuple], depth: np.ndarray, name_col: int) -> Sheet:
    """A community's units, names indented two levels a tier."""
    rows = [header, *rows]
    indents = {d: Style(indent=int(d) * 2) for d in np.unique(depth) if d}
    cell_styles = {(i, name_col): indents[d] for i, d in enumerate(depth.tolist(), start=1) if d}
    # Long lists of buildings and notes would make columns too wide to read beside each other.
    caps = {_HEADERS["building_ids"]: 40, _HEADERS["note"]: 50, _HEADERS["review"]: 50}
    return Sheet(name, rows, widths=fit_widths(rows, caps=caps), freeze="B2",
                 autofilter=f"A1:{column_letter(len(header) - 1)}{len(rows)}" if len(rows) > 1 else None,
                 row_styles={0: HEADER}, cell_styles=cell_styles)


def _sheet_column(units: pd.DataFrame, column: str) -> list:
    """A units column as the workbook shows it: kinds and situations in Chinese, plain values."""
    s = units[column]
    if column == "kind":  # the community's own unit: vocab.COMMUNITY_KIND_LABELS
        return [vocab.COMMUNITY_KIND_LABELS.get(v, vocab.kind_label(v)) if d == 0 else vocab.kind_label(v)
                for v, d in zip(s.tolist(), units.depth.tolist())]
    if column == "situation":
        names: dict = {}
        for v in pd.unique(s):
            names[v] = settings.LIST_SEP.join(map(vocab.situation_label, str(v).split(settings.LIST_SEP))) if v else ""
        return [names.get(v, "") for v in s.tolist()]
    if column == "has_committee":
        return ["是" if v else "" for v in s.tolist()]
    if column == "households":  # whole households, as every surface shows them
        return [_whole(v) for v in s.tolist()]
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.tolist()
    if pd.api.types.is_float_dtype(s.dtype):
        return [None if v != v else v for v in s.tolist()]
    return [v if type(v) is str and len(v) <= CELL_MAX else _cell(v) for v in s.tolist()]


def _cell(v):
    """A value as a workbook cell: plain Python numbers, None for missing, text cut to Excel's limit."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, str) and len(v) > CELL_MAX:
        return v[: CELL_MAX - 1] + "…"
    return v


def _whole(v) -> int | None:
    """A household figure as a whole number; None when missing."""
    v = _cell(v)
    return None if v is None or not math.isfinite(float(v)) else int(round(float(v)))


def _sheet_name(name: str, used: set[str]) -> str:
    """A sheet name Excel accepts for ``name``, unique among ``used`` (which it joins)."""
    # Excel also refuses a name that starts or ends with an apostrophe.
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name))[:31].strip("'") or "社区"
    candidate, k = base, 2
    while candidate.lower() in used:  # Excel tells sheet names apart regardless of case
        suffix = f"({k})"
        candidate = base[: 31 - len(suffix)] + suffix
        k += 1
    used.add(candidate.lower())
    return candidate


def funding_sheet(funding: pd.DataFrame, policy: FundingPolicy | None = None) -> Sheet:
    """The funding estimate (经费测算): a row per community, the total row in bold, the policy below."""
    rows: list[list] = [[FUNDING_HEADERS[c] for c in FUNDING_COLUMNS]]
    rows += [[_cell(v) for v in row] for row in funding[FUNDING_COLUMNS].itertuples(index=False, name=None)]
    row_styles = {0: HEADER, len(rows) - 1: BOLD}
    cell_styles = {}
    if policy is not None:
        rows.append([])
        cell_styles[(len(rows), 0)] = BOLD
        rows.append(["政策", policy.describe()])
    return Sheet(FUNDING_SHEET, rows, widths=fit_widths(rows), freeze="B2",
                 row_styles=row_styles, cell_styles=cell_styles)


# ------------------------------------------------------------------ the roster


def roster_table(org: Organisation, ledger: pd.DataFrame | None) -> pd.DataFrame:
    """The member roster for the community office: member, name, category, building, branch and group.

    It holds personal data: it is made only when asked for, apart from the shared outputs.

    Raises
    ------
    GridmapError
        No ledger, or an organisation laid out without one.
    """
    if ledger is None or org.members is None:
        raise GridmapError(_("--roster lists members by name and needs the ledger: give --members."))
    ledger = standardise_ledger(ledger)
    names = org.units.set_index("unit_id").name
    placed = org.members.set_index("member_id")
    return pd.DataFrame({
        "member_id": ledger.member_id.to_numpy(),
        "name": ledger.name.to_numpy(),
        "category": ledger.category.map(lambda c: CATEGORIES.get(c, vocab.OTHER_CATEGORY_LABEL)).to_numpy(),
        "building_id": ledger.building_id.to_numpy(),
        "unit": placed.branch_id.reindex(ledger.member_id).map(names).to_numpy(),
        "group": placed.group_id.reindex(ledger.member_id).map(names).to_numpy(),
        "unit_id": placed.branch_id.reindex(ledger.member_id).to_numpy(),
        "group_id": placed.group_id.reindex(ledger.member_id).to_numpy(),
        "note": placed.reason.reindex(ledger.member_id).to_numpy(),
    })


#: Headers of the roster workbook (the CSV roster keeps the column names of ``roster_table``).
ROSTER_HEADERS = {"member_id": "党员编号", "name": "姓名", "category": "党员类别", "building_id": "楼栋编码",
                  "unit": "所在党组织", "group": "所在党小组", "unit_id": "党组织编号", "group_id": "党小组编号",
                  "note": "未落位原因"}


def roster_sheet(table: pd.DataFrame) -> Sheet:
    """The roster as the workbook's one sheet (党员名册): Chinese headers (``ROSTER_HEADERS``), every
    value a text cell (ids such as 00123 stay text), missing values and empty notes as empty cells,
    the reasons a member is not placed in the user's language."""
    rows: list[list] = [[ROSTER_HEADERS.get(str(c), str(c)) for c in table.columns]]
    notes = list(table.columns).index("note") if "note" in table.columns else -1
    rows += [[_text_cell(reason_label(v) if j == notes else v) for j, v in enumerate(row)]
             for row in table.itertuples(index=False, name=None)]
    return Sheet(ROSTER_SHEET, rows, widths=fit_widths(rows), freeze="B2",
                 autofilter=f"A1:{column_letter(len(rows[0]) - 1)}{len(rows)}" if len(rows) > 1 else None,
                 row_styles={0: HEADER})


#: Headers of the candidate sheets (``gridmap.org.candidates.CANDIDATE_COLUMNS``).
_CANDIDATE_HEADERS = {"unit_id": "单位编号", "unit": "单位", "kind": "类型", "community": "社区", "rank": "顺位",
                      "member_id": "党员编号", "name": "姓名", "channel": "渠道", "identity": "身份", "category": "类别",
                      "building_id": "楼栋"}


def candidate_sheets(org: Organisation, ledger: pd.DataFrame) -> list[Sheet]:
    """The roster's candidate sheets: 书记人选 (per branch-level unit, up to three of its members, the
    three channels first) and 支委人选 (cross-appointment candidates of units with a committee). Ids
    and names are text cells; the rank a number."""
    sheets = []
    for name, table in ((SECRETARY_SHEET, secretary_candidates(org, ledger)),
                        (COMMITTEE_SHEET, committee_candidates(org, ledger))):
        rows: list[list] = [[_CANDIDATE_HEADERS[c] for c in CANDIDATE_COLUMNS]]
        rows += [[int(v) if c == "rank" else _text_cell(v) for c, v in zip(CANDIDATE_COLUMNS, row)]
                 for row in table[CANDIDATE_COLUMNS].itertuples(index=False, name=None)]
        sheets.append(Sheet(name, rows, widths=fit_widths(rows), freeze="C2",
                            autofilter=f"A1:{column_letter(len(rows[0]) - 1)}{len(rows)}" if len(rows) > 1 else None,
                            row_styles={0: HEADER}))
    return sheets


def _text_cell(v) -> str | None:
    """A value as a text cell; None (an empty cell) for a missing value or empty text."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return str(v) or None


__all__ = ["COMMITTEE_SHEET", "FUNDING_SHEET", "ROSTER_HEADERS", "ROSTER_SHEET", "SECRETARY_SHEET", "SUMMARY_SHEET", "candidate_sheets",
           "document", "document_json", "funding_sheet", "roster_sheet", "roster_table", "workbook_sheets"]
