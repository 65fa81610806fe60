"""The run's report: ``report.html`` (self-contained, with SVG charts) and ``report.xlsx``.

It states the figures the way the programme reports them: N compounds in 4 types, N compound party
organisations, N building groups, N micro-grids, all N members placed in building groups (or the
unplaced, listed by building). Only counts: no personal data reaches the report.

The page is the Jinja template ``gridmap/templates/report.html`` (autoescaped; the charts and tables
it receives are rendered from ``report_parts.html``); the workbook is written by gridmap's own
streaming writer (:mod:`gridmap.io.xlsx`), like every workbook of a run. Codes are shown with the
labels of :mod:`gridmap.vocab`.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from gridmap import settings, vocab
from gridmap.io import write_text, xlsx

log = logging.getLogger(__name__)

ATTRIBUTION_OSM = "Map data © OpenStreetMap contributors, ODbL 1.0"
#: Colour of a bar whose key has none of its own.
BAR_COLOUR = "#4e79a7"
#: Colours of the before/after bars of the alignment charts.
BEFORE_AFTER = {"调整前": "#d95f02", "调整后": "#1b9e77"}


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
    microgrid_range: tuple[int, int] | None = None   # default settings.MICROGRID_HOUSEHOLDS
    unserved: pd.DataFrame | None = None             # compound_id, name, station_distance_m
    walk_m: float | None = None
    reach_measured: str | None = None
    crs: str = ""
    notes: list[str] = field(default_factory=list)  # stages skipped and why
    # Titled tables (gridmap.org.programme.Section: title, lines, tables of caption, sheet, frame).
    programme: list = field(default_factory=list)
    # Titled tables (gridmap.org.programme.Section: title, lines, tables of caption, sheet, frame).
    programme: list = field(default_factory=list)
    attribution: str = ATTRIBUTION_OSM
    title: str = "gridmap 小区与网格报告"

    def band(self) -> tuple[int, int]:
        """The household range a micro-grid should hold."""
        return tuple(self.microgrid_range or settings.MICROGRID_HOUSEHOLDS)


def statements(f: ReportFacts) -> list[str]:
    """The programme's sentences, in Chinese, from the facts at hand."""
    out = []
    n = int(f.compound_situations.sum())
    if f.compound_types is not None and len(f.compound_types):
        typed = f.compound_types[f.compound_types.index != vocab.UNTYPED]
        parts = "，".join(f"{t}{int(c)}个" for t, c in typed.items())
        untyped = int(f.compound_types.get(vocab.UNTYPED, 0))
        out.append(f"共有小区{n}个，分{len(typed)}种类型：{parts}" + (f"；另有{untyped}个{vocab.UNTYPED}" if untyped else "") + "。")
    else:
        out.append(f"共有小区{n}个。")
    s = f.compound_situations
    out.append(f"网格{int(f.grid_situations.sum())}个。"
               + "，".join(f"{vocab.situation_label(k)}{int(s.get(k, 0))}个"
                          for k in ("large_compound", "large_grid", "equal", "mixed")) + "。")
    if f.alignment:
        a = f.alignment
        out.append(f"拉平对齐方案：跨网格小区由{a.get('straddling_before', 0)}个减至{a.get('straddling_after', 0)}个，"
                   f"调整网格{a.get('grids_changed', 0)}个。")
    if f.org_kinds is not None:
        orgs = int(sum(f.org_kinds.get(k, 0) for k in vocab.BRANCH_KINDS))
        groups = int(f.org_kinds.get("group", 0))
        out.append(f"建立小区（网格）党组织{orgs}个，楼栋（单元）党小组{groups}个，"
                   f"{vocab.kind_label('central_household')}{int(f.org_kinds.get('central_household', 0))}户。")
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
        out.append(f"距党群服务站超过{f.walk_m:g}米（{_measured(f)}）的小区{len(f.unserved)}个。")
    return out


def _measured(f: ReportFacts) -> str:
    """How station distances were measured: along the streets, else in a straight line."""
    return vocab.MEASURED_LABELS["streets" if f.reach_measured == "streets" else "straight line"]


# ------------------------------------------------------------------ HTML


@functools.lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    """The report's Jinja environment (``gridmap/templates``), HTML autoescaped."""
    return jinja2.Environment(loader=jinja2.PackageLoader("gridmap", "templates"),
                              autoescape=jinja2.select_autoescape(("html",)), undefined=jinja2.StrictUndefined)


def _parts():
    return templates().get_template("report_parts.html").module


def bar_chart(values: pd.Series, title: str, colours: dict | None = None, labels: dict | None = None,
              width: int = 460) -> Markup:
    """A horizontal bar chart as inline SVG (no script, no network)."""
    values = values.astype(float)
    row, left, right = 26, 170, 60
    height = row * max(len(values), 1) + 34
    top = float(values.max()) if len(values) and values.max() > 0 else 1.0
    bars = [(28 + i * row, (labels or {}).get(key, key), (width - left - right) * v / top,
             (colours or {}).get(key, BAR_COLOUR), _num(v)) for i, (key, v) in enumerate(values.items())]
    return _parts().bar_chart(title, bars, width, height, left, row)


def histogram(values: np.ndarray, title: str, band: tuple[int, int], bins: int = 12) -> Markup:
    """Counts of ``values`` in ``bins`` equal bins, as a bar chart; bins outside ``band`` in red."""
    if not len(values):
        return Markup()
    counts, edges = np.histogram(values, bins=bins)
    labels = [f"{edges[i]:.0f}–{edges[i + 1]:.0f}" for i in range(len(counts))]
    inside = [(band[0] <= (edges[i] + edges[i + 1]) / 2 <= band[1]) for i in range(len(counts))]
    colours = {lab: (BAR_COLOUR if ok else "#e15759") for lab, ok in zip(labels, inside)}
    return bar_chart(pd.Series(counts, index=labels), title, colours)


def _table(df: pd.DataFrame, index_name: str | None = None, limit: int = 200) -> Markup:
    """A table of the first ``limit`` rows, numbers formatted; the rest are in report.xlsx."""
    show = df.head(limit)
    head = ([index_name] if index_name else []) + list(show.columns)
    rows = [([idx] if index_name else []) + [_num(v) for v in r] for idx, r in show.iterrows()]
    return _parts().table(head, rows, len(df) - limit if len(df) > limit else 0)


def _num(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "—"
        return f"{v:,.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:,.2f}"
    return str(v)


def render_html(f: ReportFacts) -> str:
    """``report.html``: the statements, charts and tables of the facts at hand."""
    labels = vocab.SITUATION_LABELS
    situations = {
        "compounds": bar_chart(f.compound_situations, "小区（按情形）", vocab.SITUATION_COLOURS, labels),
        "grids": bar_chart(f.grid_situations, "网格（按情形）", vocab.SITUATION_COLOURS, labels),
        "types": bar_chart(f.compound_types, "小区类型")
        if f.compound_types is not None and len(f.compound_types) else None,
        "table": _table(f.type_by_situation.rename(columns=labels), index_name="类型")
        if f.type_by_situation is not None and len(f.type_by_situation) else None,
    }
    alignment = None
    if f.alignment:
        a = f.alignment
        charts = [bar_chart(pd.Series({"调整前": a.get("straddling_before", 0), "调整后": a.get("straddling_after", 0)}),
                            "跨网格小区数", BEFORE_AFTER)]
        if "outside_range_before" in a:
            charts.append(bar_chart(pd.Series({"调整前": a["outside_range_before"],
                                               "调整后": a.get("outside_range_after", 0)}),
                                    "户数超出范围的网格", BEFORE_AFTER))
        labelled = pd.Series({vocab.ALIGNMENT_LABELS.get(k, k): v for k, v in a.items()})
        alignment = {"charts": charts, "table": _table(pd.DataFrame({"数值": labelled}), index_name="指标")}
    organisation = None
    if f.org_kinds is not None:
        charts = [bar_chart(f.org_kinds, "组织（按类别）", labels=vocab.KIND_LABELS)]
        if f.members_by_category is not None:
            charts.append(bar_chart(f.members_by_category, "党员（按类别）"))
        organisation = {"charts": charts, "unplaced": _table(f.unplaced)
                        if f.unplaced is not None and len(f.unplaced) else None}
    microgrids = None
    if f.microgrid_households is not None:
        lo, hi = f.band()
        hh = f.microgrid_households
        microgrids = {"count": len(hh), "inside": int(((hh >= lo) & (hh <= hi)).sum()), "low": lo, "high": hi,
                      "chart": histogram(hh, "微网格户数分布", (lo, hi))}
    stations = None
    if f.unserved is not None:
        stations = {"walk_m": f"{f.walk_m:g}", "count": len(f.unserved),
                    "measured": _measured(f) + ("计算" if f.reach_measured == "streets" else "距离"),
                    "table": _table(f.unserved) if len(f.unserved) else None}
    programme = [{"title": sec.title, "lines": list(sec.lines),
                  "tables": [{"caption": t.caption, "table": _table(t.frame)} for t in sec.tables]}
                 for sec in f.programme]
    return templates().get_template("report.html").render(
        title=f.title, today=date.today().isoformat(), crs=f.crs, statements=statements(f),
        situations=situations, alignment=alignment, organisation=organisation, microgrids=microgrids,
        stations=stations, programme=programme, notes=f.notes, attribution=f.attribution)


# ------------------------------------------------------------------ Excel


def write_xlsx(f: ReportFacts, path: Path) -> Path:
    """The same figures as sheets a planner can take to a meeting, with gridmap's workbook writer."""
    sheets: dict[str, pd.DataFrame] = {
        "概况": pd.DataFrame({"说明": statements(f)}),
        "情形": pd.DataFrame({"小区": f.compound_situations, "网格": f.grid_situations})
                 .rename(index=vocab.SITUATION_LABELS).fillna(0).astype(int).rename_axis("情形").reset_index(),
    }
    if f.type_by_situation is not None:
        sheets["类型×情形"] = (f.type_by_situation.rename(columns=vocab.SITUATION_LABELS)
                              .rename_axis("类型").reset_index())
    if f.alignment:
        sheets["拉平对齐"] = pd.DataFrame({"指标": [vocab.ALIGNMENT_LABELS.get(k, k) for k in f.alignment],
                                          "数值": list(f.alignment.values())})
    if f.org_kinds is not None:
        sheets["组织"] = pd.DataFrame({"类别": [vocab.kind_label(k) for k in f.org_kinds.index],
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
    return xlsx.write_xlsx([_sheet(name, df) for name, df in sheets.items()], path)


def _sheet(name: str, df: pd.DataFrame) -> xlsx.Sheet:
    """A table as a sheet: a header row, then the values (text as text cells)."""
    rows = [[str(c) for c in df.columns]]
    rows += [[_cell(v) for v in row] for row in df.itertuples(index=False)]
    return xlsx.Sheet(name, rows, widths=xlsx.fit_widths(rows, cap=80, least=8), freeze="A2",
                      row_styles={0: xlsx.HEADER})


def _cell(value):
    """A value as the workbook holds it: numbers as numbers, an infinite distance as the text "inf"
    (as pandas wrote it), missing values empty, anything else as text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return value if isinstance(value, str) else str(value)


def write_report(f: ReportFacts, out: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.xlsx`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(render_html(f), out / "report.html")
    write_xlsx(f, out / "report.xlsx")
    log.info("wrote the report in %s", out)
    return out / "report.html", out / "report.xlsx"
