"""The run's report: ``report.html`` (self-contained, with SVG charts) and ``report.xlsx``.

It states the figures the way the programme reports them: N compounds in 4 types, N compound party
organisations, N building groups, N micro-grids, all N members placed in building groups (or the
unplaced, listed by building). Only counts: no personal data reaches the report.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.io import atomic_path

log = logging.getLogger(__name__)

ATTRIBUTION_OSM = "Map data © OpenStreetMap contributors, ODbL 1.0"
PALETTE = vocab.SITUATION_COLOURS
SITUATION_ZH = vocab.SITUATION_LABELS
KIND_ZH = vocab.KIND_LABELS
PARTY_ORGS = vocab.BRANCH_KINDS
#: Label of compounds whose type field is empty (e.g. outlines inferred from buildings).
UNTYPED = vocab.UNTYPED
ALIGNMENT_ZH = {"straddling_before": "跨网格小区（调整前）", "straddling_after": "跨网格小区（调整后）",
                "grids_before": "网格数（调整前）", "grids_after": "网格数（调整后）", "grids_kept": "未变网格",
                "grids_changed": "调整网格", "grids_new": "新增网格", "grids_removed": "撤销网格",
                "compounds_moved": "调整归属的小区", "compound_area_moved_m2": "调整的小区面积（平方米）",
                "land_moved_m2": "调整的用地（平方米，含小区）", "households_moved": "调整户数",
                "outside_range_before": "户数超出范围的网格（调整前）",
                "outside_range_after": "户数超出范围的网格（调整后）",
                "changes_rows": "调整清单（块）", "unresolved": "未能拉平对齐的小区",
                "crosses_community": "其中跨社区的小区"}


@dataclass
class ReportFacts:
    """The figures a report states; each section is optional and drawn when present."""

    compound_situations: pd.Series
    grid_situations: pd.Series
    compound_types: pd.Series | None = None          # type → count
    type_by_situation: pd.DataFrame | None = None    # type × situation counts
    alignment: dict | None = None                    # straddling/grids changed/area/households moved
    org_kinds: pd.Series | None = None               # kind → count
    members_by_category: pd.Series | None = None     # category → count
    members_total: int | None = None
    unplaced: pd.DataFrame | None = None             # building_id, members, reason
    microgrid_households: np.ndarray | None = None
    microgrid_range: tuple[int, int] = settings.MICROGRID_HOUSEHOLDS
    unserved: pd.DataFrame | None = None             # compound_id, name, station_distance_m
    walk_m: float | None = None
    reach_measured: str | None = None
    crs: str = ""
    notes: list[str] = field(default_factory=list)  # stages skipped and why
    # Titled tables (gridmap.org.programme.Section: title, lines, tables of caption, sheet, frame).
    programme: list = field(default_factory=list)
    attribution: str = ATTRIBUTION_OSM
    title: str = "gridmap 小区与网格报告"


def statements(f: ReportFacts) -> list[str]:
    """The programme's sentences, in Chinese, from the facts at hand."""
    out = []
    n = int(f.compound_situations.sum())
    if f.compound_types is not None and len(f.compound_types):
        typed = f.compound_types[f.compound_types.index != UNTYPED]
        parts = "，".join(f"{t}{int(c)}个" for t, c in typed.items())
        untyped = int(f.compound_types.get(UNTYPED, 0))
        out.append(f"共有小区{n}个，分{len(typed)}种类型：{parts}" + (f"；另有{untyped}个未填类型" if untyped else "") + "。")
    else:
        out.append(f"共有小区{n}个。")
    s = f.compound_situations
    out.append(f"网格{int(f.grid_situations.sum())}个。小区大、网格小{int(s.get('large_compound', 0))}个，"
               f"网格大、小区小{int(s.get('large_grid', 0))}个，规模相当{int(s.get('equal', 0))}个，"
               f"跨网格待拉平对齐{int(s.get('mixed', 0))}个。")
    if f.alignment:
        a = f.alignment
        out.append(f"拉平对齐方案：跨网格小区由{a.get('straddling_before', 0)}个减至{a.get('straddling_after', 0)}个，"
                   f"调整网格{a.get('grids_changed', 0)}个。")
    if f.org_kinds is not None:
        orgs = int(sum(f.org_kinds.get(k, 0) for k in PARTY_ORGS))
        groups = int(f.org_kinds.get("group", 0))
        out.append(f"建立小区（网格）党组织{orgs}个，楼栋（单元）党小组{groups}个，"
                   f"党员中心户{int(f.org_kinds.get('central_household', 0))}户。")
    if f.microgrid_households is not None:
        out.append(f"划分微网格{len(f.microgrid_households)}个。")
    if f.members_total is not None:
        unplaced = 0 if f.unplaced is None else int(f.unplaced["members"].sum())
        if unplaced == 0:
            out.append(f"全部{f.members_total}名党员均已编入楼栋党小组。")
        else:
            out.append(f"党员{f.members_total}名，其中{f.members_total - unplaced}名已编入楼栋党小组，"
                       f"{unplaced}名未落实（按楼栋列于下表）。")
    if f.unserved is not None and f.walk_m is not None:
        out.append(f"距党群服务站超过{f.walk_m:g}米（{'沿道路' if f.reach_measured == 'streets' else '直线'}）的小区"
                   f"{len(f.unserved)}个。")
    return out


# ------------------------------------------------------------------ HTML

def bar_chart(values: pd.Series, title: str, colours: dict | None = None, labels: dict | None = None,
              width: int = 460) -> str:
    """A horizontal bar chart as inline SVG (no script, no network)."""
    values = values.astype(float)
    row, left, right = 26, 170, 60
    height = row * max(len(values), 1) + 34
    top = float(values.max()) if len(values) and values.max() > 0 else 1.0
    bars = [f'<text x="0" y="16" class="t">{_e(title)}</text>']
    for i, (key, v) in enumerate(values.items()):
        y = 28 + i * row
        w = (width - left - right) * v / top
        colour = (colours or {}).get(key, "#4e79a7")
        label = (labels or {}).get(key, key)
        bars.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_e(label)}</text>'
                    f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
                    f'<text x="{left + w + 4:.1f}" y="{y + 14}">{_num(v)}</text>')
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{_e(title)}">{"".join(bars)}</svg>')


def histogram(values: np.ndarray, title: str, band: tuple[int, int], bins: int = 12) -> str:
    if not len(values):
        return ""
    counts, edges = np.histogram(values, bins=bins)
    labels = [f"{edges[i]:.0f}–{edges[i + 1]:.0f}" for i in range(len(counts))]
    inside = [(band[0] <= (edges[i] + edges[i + 1]) / 2 <= band[1]) for i in range(len(counts))]
    s = pd.Series(counts, index=labels)
    colours = {lab: ("#4e79a7" if ok else "#e15759") for lab, ok in zip(labels, inside)}
    return bar_chart(s, title, colours)


def render_html(f: ReportFacts) -> str:
    sit = f.compound_situations
    parts = [f"<h1>{_e(f.title)}</h1>", f'<p class="meta">{date.today().isoformat()} · '
             f'面积计算坐标系 {_e(f.crs)}</p>', "<section><h2>概况</h2><ul>"]
    parts += [f"<li>{_e(s)}</li>" for s in statements(f)]
    parts.append("</ul></section><section><h2>三种情形</h2><div class='charts'>")
    parts.append(bar_chart(sit, "小区（按情形）", PALETTE, SITUATION_ZH))
    parts.append(bar_chart(f.grid_situations, "网格（按情形）", PALETTE, SITUATION_ZH))
    parts.append("</div>")
    if f.compound_types is not None and len(f.compound_types):
        parts.append("<div class='charts'>" + bar_chart(f.compound_types, "小区类型") + "</div>")
    if f.type_by_situation is not None and len(f.type_by_situation):
        parts.append(_table(f.type_by_situation.rename(columns=SITUATION_ZH), index_name="类型"))
    parts.append("</section>")
    if f.alignment:
        a = f.alignment
        before_after = pd.Series({"调整前": a.get("straddling_before", 0), "调整后": a.get("straddling_after", 0)})
        parts.append("<section><h2>拉平对齐</h2><div class='charts'>"
                     + bar_chart(before_after, "跨网格小区数", {"调整前": "#d95f02", "调整后": "#1b9e77"}))
        if "outside_range_before" in a:
            rng = pd.Series({"调整前": a["outside_range_before"], "调整后": a.get("outside_range_after", 0)})
            parts.append(bar_chart(rng, "户数超出范围的网格", {"调整前": "#d95f02", "调整后": "#1b9e77"}))
        labelled = pd.Series({ALIGNMENT_ZH.get(k, k): v for k, v in a.items()})
        parts.append("</div>" + _table(pd.DataFrame({"数值": labelled}), index_name="指标") + "</section>")
    if f.org_kinds is not None:
        parts.append("<section><h2>组织设置</h2><div class='charts'>"
                     + bar_chart(f.org_kinds, "组织（按类别）", labels=KIND_ZH))
        if f.members_by_category is not None:
            parts.append(bar_chart(f.members_by_category, "党员（按类别）"))
        parts.append("</div>")
        if f.unplaced is not None and len(f.unplaced):
            parts.append("<h3>未编入党小组的党员（按楼栋）</h3>" + _table(f.unplaced))
        parts.append("</section>")
    if f.microgrid_households is not None:
        lo, hi = f.microgrid_range
        inside = int(((f.microgrid_households >= lo) & (f.microgrid_households <= hi)).sum())
        parts.append(f"<section><h2>微网格</h2><p>{len(f.microgrid_households)}个微网格，"
                     f"{inside}个户数在{lo}–{hi}户之间。</p>"
                     + histogram(f.microgrid_households, "微网格户数分布", f.microgrid_range) + "</section>")
    if f.unserved is not None:
        parts.append(f"<section><h2>党群服务站覆盖</h2><p>超过{f.walk_m:g}米的小区：{len(f.unserved)}个"
                     f"（{'沿道路计算' if f.reach_measured == 'streets' else '直线距离'}）。</p>"
                     + (_table(f.unserved) if len(f.unserved) else "") + "</section>")
    for sec in f.programme:
        parts.append(f"<section><h2>{_e(sec.title)}</h2>" + "".join(f"<p>{_e(line)}</p>" for line in sec.lines)
                     + "".join(f"<h3>{_e(t.caption)}</h3>" + _table(t.frame) for t in sec.tables) + "</section>")
    if f.notes:
        parts.append("<section><h2>说明</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in f.notes) + "</ul></section>")
    parts.append(f'<footer>{_e(f.attribution)}</footer>')
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_e(f.title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body>{"".join(parts)}</body></html>')


CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em auto;max-width:1000px;
color:#222;padding:0 1em}h1{font-size:1.6em}h2{border-bottom:2px solid #c00;padding-bottom:.2em;margin-top:1.6em}
.meta{color:#666}.charts{display:flex;flex-wrap:wrap;gap:1.5em}.chart text{font-size:12px}.chart .t{font-weight:bold;
font-size:13px}table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}footer{margin-top:3em;
color:#666;font-size:.9em}li{margin:.3em 0}
"""


def _table(df: pd.DataFrame, index_name: str | None = None, limit: int = 200) -> str:
    show = df.head(limit)
    cols = list(show.columns)
    head = "".join(f"<th>{_e(c)}</th>" for c in ([index_name] if index_name else []) + cols)
    rows = []
    for idx, r in show.iterrows():
        cells = ([f"<td>{_e(idx)}</td>"] if index_name else []) + [f"<td>{_e(_num(v))}</td>" for v in r]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>… 另有{len(df) - limit}行，见 report.xlsx。</p>" if len(df) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _num(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "—"
        return f"{v:,.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:,.2f}"
    return str(v)


# ------------------------------------------------------------------ Excel

def write_xlsx(f: ReportFacts, path: Path) -> Path:
    """The same figures as sheets a planner can take to a meeting."""
    sheets: dict[str, pd.DataFrame] = {
        "概况": pd.DataFrame({"说明": statements(f)}),
        "情形": pd.DataFrame({"小区": f.compound_situations, "网格": f.grid_situations})
                 .rename(index=SITUATION_ZH).fillna(0).astype(int).rename_axis("情形").reset_index(),
    }
    if f.type_by_situation is not None:
        sheets["类型×情形"] = f.type_by_situation.rename(columns=SITUATION_ZH).rename_axis("类型").reset_index()
    if f.alignment:
        sheets["拉平对齐"] = pd.DataFrame({"指标": [ALIGNMENT_ZH.get(k, k) for k in f.alignment],
                                          "数值": list(f.alignment.values())})
    if f.org_kinds is not None:
        sheets["组织"] = pd.DataFrame({"类别": [KIND_ZH.get(k, k) for k in f.org_kinds.index],
                                       "数量": f.org_kinds.to_numpy()})
    if f.members_by_category is not None:
        sheets["党员类别"] = f.members_by_category.rename_axis("类别").rename("人数").reset_index()
    if f.unplaced is not None:
        sheets["未编入党员"] = f.unplaced
    if f.microgrid_households is not None:
        sheets["微网格户数"] = pd.Series(f.microgrid_households).describe().rename("户数").rename_axis("统计").reset_index()
    if f.unserved is not None:
        sheets["服务站覆盖"] = f.unserved
    sheets.update({t.sheet: t.frame for sec in f.programme for t in sec.tables if t.sheet})
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xl:
            for name, df in sheets.items():
                df.to_excel(xl, sheet_name=name, index=False)
                _fit_columns(xl.sheets[name], df)
                for row in xl.sheets[name].iter_rows():  # text is data: "=…" never a formula (issue 12)
                    for cell in row:
                        if cell.data_type == "f":
                            cell.data_type = "s"
    return path


def _fit_columns(ws, df: pd.DataFrame) -> None:
    from openpyxl.styles import Font, PatternFill

    for i, col in enumerate(df.columns, start=1):
        longest = max([_width(col)] + [_width(v) for v in df[col].head(500)])
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(max(8, longest + 2), 80)
        cell = ws.cell(row=1, column=i)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEEEEE")
    ws.freeze_panes = "A2"


def _width(value) -> int:
    text = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)  # CJK characters are twice as wide


def write_report(f: ReportFacts, out: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.xlsx`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(render_html(f), encoding="utf-8")
    write_xlsx(f, out / "report.xlsx")
    log.info("wrote the report in %s", out)
    return out / "report.html", out / "report.xlsx"
