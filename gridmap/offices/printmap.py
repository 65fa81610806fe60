"""The print map of a community office (``map.pdf``): A3 or A4 landscape, vector, in Chinese.

Compounds filled by situation, grids outlined with their names, micro-grids in thin lines, service
stations as points, with the elements a Chinese thematic map carries: 图名 (title), 图例 (legend),
比例尺 (a scale bar in metres and the numeric scale), 指北针 (north arrow, pointing to true north),
制图单位 (who made it), 数据来源 (the data's attribution) and 制图日期. Drawn with matplotlib's Agg
backend in the metric CRS, at a round scale (1:5,000, 1:10,000 …) chosen to fit the community.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import shapely
from matplotlib import font_manager
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from pyproj import CRS, Transformer

from gridmap import vocab
from gridmap.errors import GridmapError
from gridmap.i18n import _
from gridmap.io import atomic_path

log = logging.getLogger(__name__)

#: Paper sizes (width, height) in millimetres, landscape.
PAPERS: dict[str, tuple[float, float]] = {"A3": (420.0, 297.0), "A4": (297.0, 210.0)}
#: Default paper of the print maps.
PAPER = "A3"
#: CJK fonts, most wanted first: Windows (微软雅黑, 黑体), then Debian/Ubuntu packages
#: (fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei), then macOS.
CJK_FONTS: tuple[str, ...] = ("Microsoft YaHei", "SimHei", "Noto Sans CJK SC", "Source Han Sans SC",
                              "Noto Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "PingFang SC",
                              "Heiti SC", "STHeiti", "Noto Sans CJK JP", "Noto Sans CJK TC")
#: Round scales (the denominators) a map is drawn at.
SCALES: tuple[int, ...] = (500, 1000, 2000, 2500, 5000, 7500, 10000, 12500, 15000, 20000, 25000, 30000,
                           40000, 50000, 75000, 100000, 150000, 200000, 250000, 500000, 1000000)
#: Default map title after the community's name.
TITLE = "小区与网格分布图"
#: 制图单位 when the project names none.
NO_ORGANISATION = "（未填写制图单位）"
MM = 1 / 25.4  # inches per millimetre


def find_cjk_font() -> str:
    """The family name of an installed font with Chinese characters (``CJK_FONTS`` in order, else any
    font whose name says CJK, SC, Hei or Song).

    Raises
    ------
    GridmapError
        No such font: the message says which package to install.
    """
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    for name in sorted(installed):
        if any(word in name for word in ("CJK", " SC", "Hei", "Song", "Kai", "Ming")):
            return name
    raise GridmapError(_("No font with Chinese characters is installed, so the print maps (map.pdf) cannot be "
                         "drawn. Install one — on Debian/Ubuntu `apt-get install fonts-noto-cjk` (or "
                         "fonts-wqy-microhei); on Windows 微软雅黑 or 黑体 come with the system — then run again."))


def paper_size(paper: str | None) -> tuple[str, tuple[float, float]]:
    """The paper's name and (width, height) mm; A3 by default, A4 on request."""
    name = (paper or PAPER).strip().upper()
    if name not in PAPERS:
        raise GridmapError(_("paper {paper}: use A3 or A4 (landscape).").format(paper=repr(paper)))
    return name, PAPERS[name]


def chinese_date(day: dt.date | None = None) -> str:
    """2026年11月29日."""
    day = day or dt.date.today()
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass
class MapLayers:
    """What one office's map draws, in the metric CRS (geometry arrays; names aligned with them)."""

    crs: CRS
    compounds: np.ndarray  # this community's compounds
    situations: np.ndarray  # their situation codes
    compound_names: np.ndarray
    grids: np.ndarray
    grid_names: np.ndarray
    microgrids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    stations: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    station_names: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    outline: object = None  # the community boundary
    other_compounds: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    other_grids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))


@dataclass
class MapText:
    """The words around the map."""

    community: str
    title: str = TITLE
    organisation: str | None = None
    attribution: str | None = None
    date: dt.date | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)  # 概况: (label, value)


def draw_office_map(layers: MapLayers, text: MapText, path: str | os.PathLike, *, paper: str | None = None,
                    font: str | None = None) -> Path:
    """Write the office's print map as a one-page vector PDF.

    Parameters
    ----------
    layers : MapLayers
        Geometries in a metric CRS (metres).
    text : MapText
        Community name, title, 制图单位, attribution, date and the figures of the side panel.
    path : path
        The PDF to write (atomically).
    paper : {"A3", "A4"}, optional
        Landscape paper; A3 by default.
    font : str, optional
        A CJK font family; by default :func:`find_cjk_font`.
    """
    name, (width, height) = paper_size(paper)
    font = font or find_cjk_font()
    k = (1 + width / PAPERS["A3"][0]) / 2  # sizes shrink with the paper, type less than the paper
    # Type 3 fonts: CJK OpenType (CFF) fonts such as Noto Sans CJK embed cleanly and fast that way, and
    # the text stays searchable (a ToUnicode map is written).
    # Compression level 1: a quarter less time per map than the default 6, files 15 % larger
    # (measured on the benchmark city: 0.68 → 0.52 s, 228 → 262 KB).
    rc = {"font.family": [font, "DejaVu Sans"], "pdf.fonttype": 3, "axes.unicode_minus": False,
          "font.size": 9 * k, "hatch.linewidth": 0.4, "pdf.compression": 1}
    title = f"{text.community}{text.title}"
    with matplotlib.rc_context(rc):
        # A Figure of its own, not pyplot's: no backend is chosen for the whole process (a notebook
        # that imports gridmap keeps its inline plots).
        fig = Figure(figsize=(width * MM, height * MM))
        _compose(fig, layers, text, title, width, height, k)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="pdf", metadata={
                "Title": title, "Author": text.organisation or "", "Subject": text.attribution or "",
                "Creator": "gridmap"})
    log.info("wrote %s (%s, font %s)", path, name, font)
    return Path(path)


def _box(width: float, height: float, k: float) -> tuple[float, float, float, float, float, float]:
    """The page's layout (mm): margin, legend column, title band, credits line, map width and height."""
    margin = 12 * k
    panel = 78 * k  # the legend column on the right
    top = 24 * k  # the title band
    bottom = 16 * k  # the credits line under the map
    map_w = width - 2 * margin - panel - 6 * k
    map_h = height - top - bottom - margin
    return margin, panel, top, bottom, map_w, map_h


def map_frame(layers: MapLayers, paper: str | None = None) -> tuple[int, tuple[float, float, float, float]]:
    """The round scale the community is drawn at on ``paper``, and the extent (metres) its map shows:
    what :func:`draw_office_map` will draw, known before it draws."""
    _name, (width, height) = paper_size(paper)
    *_box_xy, map_w, map_h = _box(width, height, (1 + width / PAPERS["A3"][0]) / 2)
    return _frame(layers, map_w, map_h)


def _compose(fig, layers: MapLayers, text: MapText, title: str, width: float, height: float, k: float) -> None:
    margin, panel, top, bottom, map_w, map_h = _box(width, height, k)
    fx = lambda mm: mm / width  # noqa: E731  (figure fractions from millimetres)
    fy = lambda mm: mm / height  # noqa: E731
    ax = fig.add_axes((fx(margin), fy(bottom), fx(map_w), fy(map_h)))
    fig.text(0.5, 1 - fy(top * 0.55), title, ha="center", va="center", fontsize=26 * k, fontweight="bold")

    scale, extent = _frame(layers, map_w, map_h)
    _draw(ax, layers, extent, k)
    for spine in ax.spines.values():
        spine.set_linewidth(1.2 * k)
    ax.set_xticks([])
    ax.set_yticks([])
    mm = scale / 1000  # metres on the ground per millimetre of paper
    _scale_bar(ax, extent, scale, mm, k)
    _north_arrow(ax, layers.crs, extent, mm, k)

    side = fig.add_axes((fx(margin + map_w + 6 * k), fy(bottom), fx(panel), fy(map_h)))
    side.set_axis_off()
    _legend(side, layers, k)
    _facts(side, text.facts, scale, layers.crs, k)

    org = text.organisation or NO_ORGANISATION
    source = text.attribution or "（未注明）"
    fig.text(fx(margin), fy(bottom - 6 * k), f"数据来源：{source}", ha="left", va="center", fontsize=8.5 * k)
    fig.text(fx(margin + map_w), fy(bottom - 6 * k), f"制图单位：{org}　　制图日期：{chinese_date(text.date)}",
             ha="right", va="center", fontsize=8.5 * k)


def _frame(layers: MapLayers, map_w: float, map_h: float) -> tuple[int, tuple[float, float, float, float]]:
    """The round scale the community fits at (with a margin), and the map's extent at that scale."""
    parts = [g for g in (layers.outline,) if g is not None]
    parts += list(layers.grids) + list(layers.compounds)
    geoms = np.array([g for g in parts if g is not None and not shapely.is_empty(g)], dtype=object)
    if not len(geoms):
        raise GridmapError(_("nothing to draw: the community has no compound or grid with a geometry"))
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    need = max((x1 - x0) / (map_w / 1000), (y1 - y0) / (map_h / 1000)) * 1.12  # 6 % each side
    scale = next((s for s in SCALES if s >= need), int(math.ceil(need / 1e5) * 1e5))
    half_w, half_h = map_w / 2000 * scale, map_h / 2000 * scale
    return scale, (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _within(geoms: np.ndarray, box) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return geoms
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ok[ok] = shapely.intersects(geoms[ok], box)
    return geoms[ok]


def _draw(ax, layers: MapLayers, extent, k: float) -> None:
    """The features, bottom up: others' compounds and grids in grey, this community's compounds by
    situation, micro-grids, grids, the community boundary, stations, then the labels."""
    box = shapely.box(*extent)
    _polygons(ax, _within(layers.other_compounds, box), face="#ececec", edge="#c4c4c4", lw=0.3 * k, z=1)
    _polygons(ax, _within(layers.other_grids, box), face="none", edge="#b5b5b5", lw=0.4 * k, z=2)
    colours = np.array([vocab.SITUATION_COLOURS.get(s, vocab.OTHER_COLOUR) for s in layers.situations], dtype=object)
    for colour in dict.fromkeys(colours.tolist()):
        _polygons(ax, layers.compounds[colours == colour], face=colour, edge="#333333", lw=0.5 * k, z=3, alpha=0.72)
    _polygons(ax, _within(layers.microgrids, box), face="none", edge="#6b6b6b", lw=0.25 * k, z=4, dashes=(3, 2))
    _polygons(ax, layers.grids, face="none", edge="#1f3b73", lw=1.0 * k, z=5)
    if layers.outline is not None:
        _polygons(ax, np.array([layers.outline], dtype=object), face="none", edge="#c0392b", lw=2.2 * k, z=6,
                  dashes=(8, 3, 2, 3))
    stations = _within(layers.stations, box)
    if len(stations):
        xy = shapely.get_coordinates(shapely.centroid(stations))
        ax.scatter(xy[:, 0], xy[:, 1], marker="*", s=170 * k * k, c="#d7301f", edgecolors="#5a0000",
                   linewidths=0.6 * k, zorder=8)
    for geom, label in zip(layers.compounds, layers.compound_names):
        if label and geom is not None and not shapely.is_empty(geom) and shapely.area(geom) > 0:
            p = shapely.point_on_surface(geom)
            _label(ax, p.x, p.y, label, k, fontsize=6 * k, color="#3a3a3a", ha="center", va="center", zorder=9)
    for geom, label in zip(layers.grids, layers.grid_names):
        if label and geom is not None and not shapely.is_empty(geom):
            p = shapely.point_on_surface(geom)
            _label(ax, p.x, p.y, label, k, fontsize=8 * k, color="#1f3b73", ha="center",
                   va="bottom", zorder=10)
    for geom, label in zip(layers.stations, layers.station_names):
        if label and geom is not None and shapely.intersects(geom, box):
            p = shapely.centroid(geom)
            _label(ax, p.x, p.y, label, k, fontsize=6.5 * k, color="#7f0000", ha="left", va="top", zorder=10,
                   offset=(5 * k, -3 * k))
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal")


def _label(ax, x, y, text: str, k: float, *, zorder: int, offset=(0, 0), **style) -> None:
    """A label on a light ground that keeps it readable over lines and fills. Not a stroked halo:
    a path effect turns the letters into outlines (the PDF's text could then not be searched or
    copied) and a second, stroked copy beneath costs a quarter of the whole map's time (measured on
    the benchmark city: 0.57 → 0.44 s per map)."""
    ax.annotate(text, xy=(x, y), xytext=offset, textcoords="offset points", annotation_clip=True, zorder=zorder,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.75), **style)


def _polygons(ax, geoms, *, face, edge, lw, z, alpha=1.0, dashes=None) -> None:
    """Polygons (and their holes) as patches; lines of a polygon layer are left out."""
    rings = []
    for geom in np.asarray(geoms, dtype=object):
        if geom is None or shapely.is_empty(geom):
            continue
        for part in shapely.get_parts(geom):
            if shapely.get_type_id(part) != 3:
                continue
            rings.append(np.asarray(part.exterior.coords)[:, :2])
            if face == "none":  # holes are outlines too
                rings += [np.asarray(r.coords)[:, :2] for r in part.interiors]
    if not rings:
        return
    coll = PolyCollection(rings, facecolors=face, edgecolors=edge, linewidths=lw, zorder=z, alpha=None,
                          closed=True)
    if face != "none" and alpha < 1:
        coll.set_facecolor(to_rgba_array(face, alpha))
    if dashes:
        coll.set_linestyle((0, dashes))
    ax.add_collection(coll)


def _scale_bar(ax, extent, scale: int, mm: float, k: float) -> None:
    """A bar of four segments, black and white, about 50 mm long, in the bottom left corner, with 1:N
    above it on a white ground. ``mm`` is the ground metres per millimetre of paper."""
    x0, y0 = extent[0], extent[1]
    ground = 50 * k * mm
    step = 10 ** math.floor(math.log10(ground))
    length = max(m * step for m in (1, 2, 2.5, 5) if m * step <= ground)
    seg = length / 4
    bx, by, h = x0 + 9 * k * mm, y0 + 7 * k * mm, 1.8 * k * mm
    unit, div = ("千米", 1000) if length >= 1000 else ("米", 1)
    ax.add_patch(Rectangle((x0 + 4 * k * mm, y0 + 3.5 * k * mm), length + 19 * k * mm, 17 * k * mm,
                           facecolor="white", edgecolor="#444444", linewidth=0.6 * k, alpha=0.92, zorder=20))
    for i in range(4):
        ax.add_patch(Rectangle((bx + i * seg, by), seg, h, facecolor="#222222" if i % 2 == 0 else "white",
                               edgecolor="#222222", linewidth=0.6 * k, zorder=21))
    for value in (0, length / 2, length):
        ax.text(bx + value, by + h + 1.0 * k * mm, f"{value / div:g}", ha="center", va="bottom", fontsize=7 * k,
                zorder=22)
    ax.text(bx + length + 2.5 * k * mm, by + h / 2, unit, ha="left", va="center", fontsize=7 * k, zorder=22)
    ax.text(bx, by + h + 6.5 * k * mm, f"比例尺 1:{scale:,}", ha="left", va="bottom", fontsize=8.5 * k,
            fontweight="bold", zorder=22)


def _north_arrow(ax, crs: CRS, extent, mm: float, k: float) -> None:
    """A two-tone arrow in the top right corner, turned to true north (the grid convergence)."""
    x0, y0, x1, y1 = extent
    angle = 0.0
    try:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        there, back = _transformers(crs)
        lon, lat = there.transform(cx, cy)
        nx, ny = back.transform(lon, lat + 0.01)
        angle = math.atan2(nx - cx, ny - cy)  # clockwise from grid north
    except Exception:  # a CRS without a way to longitude/latitude: grid north
        pass
    size = 18 * k * mm
    ox, oy = x1 - 13 * k * mm, y1 - 22 * k * mm
    rot = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])

    def place(points):
        return np.array(points) @ rot.T * size + [ox, oy]

    ax.add_patch(Rectangle((ox - 7 * k * mm, oy - 10.5 * k * mm), 14 * k * mm, 26 * k * mm, facecolor="white",
                           edgecolor="none", alpha=0.85, zorder=21))
    ax.add_patch(Polygon(place([(0, 0.5), (-0.2, -0.45), (0, -0.28)]), closed=True, facecolor="#222222",
                         edgecolor="#222222", linewidth=0.6 * k, zorder=22))
    ax.add_patch(Polygon(place([(0, 0.5), (0.2, -0.45), (0, -0.28)]), closed=True, facecolor="white",
                         edgecolor="#222222", linewidth=0.6 * k, zorder=22))
    tx, ty = place([(0, 0.78)])[0]
    ax.text(tx, ty, "北", ha="center", va="center", fontsize=12 * k, fontweight="bold", zorder=22)


@functools.lru_cache(maxsize=8)
def _transformers(crs: CRS) -> tuple[Transformer, Transformer]:
    # Building a transformer looks the CRS up in PROJ's database (0.2 s): once per CRS.
    return (Transformer.from_crs(crs, 4326, always_xy=True), Transformer.from_crs(4326, crs, always_xy=True))


def _legend(side, layers: MapLayers, k: float) -> None:
    present = list(dict.fromkeys(layers.situations.tolist()))
    order = [s for s in (*vocab.COMPOUND_SITUATIONS, vocab.NO_GEOMETRY) if s in present]
    order += [s for s in present if s not in order]
    counts = {s: int((layers.situations == s).sum()) for s in order}
    handles = [Patch(facecolor=vocab.SITUATION_COLOURS.get(s, vocab.OTHER_COLOUR), edgecolor="#333333",
                     linewidth=0.5 * k, alpha=0.72, label=f"小区：{vocab.situation_label(s)}（{counts[s]}）")
               for s in order]
    handles.append(Line2D([], [], color="#1f3b73", linewidth=1.0 * k, label="网格边界（标注网格名称）"))
    if len(layers.microgrids):
        handles.append(Line2D([], [], color="#6b6b6b", linewidth=0.5 * k, linestyle=(0, (3, 2)),
                              label="微网格边界"))
    if layers.outline is not None:
        handles.append(Line2D([], [], color="#c0392b", linewidth=2.0 * k, linestyle=(0, (8, 3, 2, 3)),
                              label="社区边界"))
    if len(layers.stations):
        handles.append(Line2D([], [], marker="*", linestyle="none", markersize=11 * k, markerfacecolor="#d7301f",
                              markeredgecolor="#5a0000", label="党群服务站"))
    if len(layers.other_compounds) or len(layers.other_grids):
        handles.append(Patch(facecolor="#ececec", edgecolor="#b5b5b5", linewidth=0.5 * k, label="相邻社区的小区、网格"))
    leg = side.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, 1), title="图例", frameon=True,
                      fontsize=8.5 * k, title_fontsize=11 * k, borderpad=0.9, labelspacing=0.9, handlelength=2.4,
                      handleheight=1.1, alignment="left", edgecolor="#444444", fancybox=False)
    leg.get_frame().set_linewidth(0.8 * k)
    leg.get_title().set_fontweight("bold")


def _facts(side, facts: list[tuple[str, str]], scale: int, crs: CRS, k: float) -> None:
    lines = [f"{label}：{value}" for label, value in facts]
    epsg = crs.to_epsg()
    lines += ["", "坐标系：" + (f"EPSG:{epsg}" if epsg else ""), crs.name, f"比例尺：1:{scale:,}"]
    side.text(0.0, 0.0, "\n".join(lines), ha="left", va="bottom", fontsize=8 * k, linespacing=1.7,
              transform=side.transAxes)
    side.text(0.0, 0.0 + (len(lines) * 1.7 * 8 * k + 4 * k) / 72 / side.get_position().height
              / side.figure.get_figheight(), "概况", ha="left", va="bottom", fontsize=11 * k, fontweight="bold",
              transform=side.transAxes)


__all__ = ["CJK_FONTS", "MapLayers", "MapText", "NO_ORGANISATION", "PAPER", "PAPERS", "SCALES", "TITLE",
           "chinese_date", "draw_office_map", "find_cjk_font", "map_frame", "paper_size"]
