"""The planners' page ``proposal.html``: grids before and after alignment, and the changes; and the
planners' adjustments (issue 13): a compound's popup moves it wholly into a grid of its community
that it borders or lies partly in, the side panel's figures follow at once, and the adjustments are
exported as ``edits.csv`` (``gridmap align --edits``) and imported again.

The adjustments' data (compounds with their households, grids now and in the proposal, the grids
each may go to, computed here with one STRtree query; grids with their households and colours)
goes into the page as JSON in a ``<script type="application/json">`` block, read by
``templates/edits.js`` with ``JSON.parse`` and shown only as text (``textContent``): never
interpolated into script or HTML.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

from gridmap import settings, vocab
from gridmap.align import TOUCH_M, bordering
from gridmap.errors import GridmapError
from gridmap.io import find_field
from gridmap.maps.assets import templates
from gridmap.maps.context import Context
from gridmap.maps.elements import (LayerControl, PageGlue, RawHTML, Style, add_geojson, add_side, extent, new_map,
                                   render_page, situation_js)
from gridmap.overlay import overlap_table
from gridmap.maps.layers import (INDEX_SIMPLIFY, Layer, bounds_attr, display_geometries, households_of,
                                 stripped_text)
from gridmap.maps.pages import grids_by_page
from gridmap.maps.panels import legend, line_svg
from gridmap.maps.safety import escape, escape_series


def proposal_page(ctx: Context, proposal: dict[str, gpd.GeoDataFrame], style: Style) -> str:
    after = proposal.get("grids")
    changes = proposal.get("changes")
    if after is None:
        raise GridmapError("The proposal has no 'grids' layer; it should be proposal.gpkg as written "
                           "by gridmap align (layers grids and changes).")
    after = after[after.geometry.notna() & ~after.geometry.is_empty]
    gid = find_field(after, "grid_id", required=False)
    a_ids = stripped_text(after[gid]) if gid else pd.Series(None, index=after.index, dtype=object)
    status = stripped_text(after["status"]) if "status" in after else pd.Series("proposed", index=after.index)
    status = status.fillna("—")
    statuses = sorted(set(status))
    others = iter(vocab.STATUS_PALETTE * (1 + len(statuses) // len(vocab.STATUS_PALETTE)))
    palette = {s: vocab.STATUS_COLOURS.get(s.lower()) or next(others) for s in statuses}
    metric = ctx.classification.crs
    A = after.geometry.to_crs(metric).to_numpy()
    colours = grid_colours(A)
    a_layer = Layer("after", display_geometries(after, gcj02=ctx.gcj02, simplify=INDEX_SIMPLIFY),
                    pd.DataFrame({"i": a_ids.map(escape), "h": households_of(after, None).to_numpy(),
                                  "st": status.map(_status_label).map(escape), "_c": status.map(palette),
                                  "_g": colours},
                                 index=after.index),
                    np.zeros(len(after)), labels={"i": "网格 (调整后)", "h": "户数", "st": "状态"})
    # The page draws the whole area at once: outlines simplified (about 1 m), only the fields the
    # tooltips show, and the grids before alignment as one multipolygon per community.
    page_title = pd.Series({k: escape(p.title) for k, p in ctx.pages.items()})
    # The grids before alignment: the pages' own, unless the pages show the proposal's grids
    # (a run laid out on the proposal), when the current grids come with it as "before".
    if proposal.get("before") is not None:
        before = _before_grids(ctx, proposal["before"])
    else:
        before = grids_by_page(ctx, page_title, by_situation=False)
    # ``k``: the compound's position in the adjustments' data (edits.js).
    comps = Layer("compounds", shapely.simplify(ctx.compounds.geoms, INDEX_SIMPLIFY, preserve_topology=True),
                  ctx.compounds.props[["n", "s", "_s"]].assign(k=np.arange(len(ctx.compounds))),
                  ctx.compounds.page, labels=ctx.compounds.labels, clean=True)
    ch_layer = None
    rows: list[str] = []
    moved = 0.0
    if changes is not None and len(changes):
        changes = changes[changes.geometry.notna() & ~changes.geometry.is_empty]
        name_of = pd.Series(ctx.compounds.props["n"].to_numpy(), index=ctx.compounds.ids.to_numpy())
        name_of = name_of[~name_of.index.duplicated()]
        cid = stripped_text(changes["compound_id"]) if "compound_id" in changes else pd.Series(None, index=changes.index, dtype=object)
        hh = pd.to_numeric(changes["households"], errors="coerce") if "households" in changes else \
            pd.Series(np.nan, index=changes.index)
        moved = float(hh.sum()) if hh.notna().any() else 0.0
        area = pd.to_numeric(changes["area_m2"], errors="coerce") if "area_m2" in changes else \
            pd.Series(np.nan, index=changes.index)
        props = pd.DataFrame({
            "n": cid.map(name_of).fillna(cid.map(escape)),
            "i": cid.map(escape),
            "f": stripped_text(changes["from_grid_id"]).map(escape) if "from_grid_id" in changes else None,
            "to": stripped_text(changes["to_grid_id"]).map(escape) if "to_grid_id" in changes else None,
            "a": escape_series(area.round(0)),
            "h": escape_series(hh.round(0)),
        }, index=changes.index)
        # Land outside compounds has no compound: name it as open land.
        props["n"] = props["n"].where(cid.notna(), "空地")
        reason = changes["reason_label"] if "reason_label" in changes else changes.get("reason")
        props["r"] = stripped_text(reason).map(escape) if reason is not None else None
        ch_layer = Layer("changes", display_geometries(changes, gcj02=ctx.gcj02), props, np.zeros(len(changes)),
                         labels={"n": "小区", "i": "小区编码", "f": "原网格", "to": "调入网格", "a": "面积 (m²)",
                                 "h": "涉及户数", "r": "原因"})
        rows = _change_list(changes, props, shapely.bounds(ch_layer.geoms), a_ids, status)
    m = new_map(extent(a_layer, before, ch_layer), style, "拉平对齐方案 · gridmap")
    ccol = situation_js(vocab.COMPOUND_SITUATIONS)
    # Compounds are drawn last, over the grids and the changes: a click on one opens its
    # adjustments (edits.js); the changes' own popups stay on the open land between compounds.
    layers = {
        "before": add_geojson(m, before, "调整前网格 grids before",
                              "return {color: '#555', weight: 2, dashArray: '6 4', fill: true, fillOpacity: 0};",
                              tooltip=["p", "c"], show=False).get_name(),
        "after": add_geojson(m, a_layer, "调整后网格 grids after",
                             "return {color: p._c, weight: 3, fill: true, fillColor: p._g, fillOpacity: 0.12};",
                             tooltip=["i", "st", "h"], popup=["i", "st", "h"]).get_name(),
    }
    if ch_layer is not None:
        layers["changes"] = add_geojson(m, ch_layer, "调整区域 changes",
                                        "return {color: '#d7191c', weight: 2, fillColor: '#d7191c', fillOpacity: 0.55};",
                                        tooltip=["n", "h"], popup=["n", "i", "f", "to", "a", "h", "r"]).get_name()
    layers["compounds"] = add_geojson(m, comps, "小区 compounds",
                                      f"return {{color: {ccol}[p._s], weight: 1, fillColor: {ccol}[p._s], fillOpacity: 0.25}};",
                                      tooltip=["n", "s"]).get_name()
    LayerControl().add_to(m)
    extra = [(line_svg("#555", 2, "6 4"), "调整前网格 (默认隐藏)")]
    extra += [(line_svg(c, 3), f"调整后网格: {_status_label(s)}") for s, c in palette.items()]
    extra.append(('<span class="gm-swatch" style="background:#d7191c;border-color:#d7191c"></span>', "调整区域"))
    extra.append(('<span class="gm-swatch" style="background:linear-gradient(90deg,#1b9e77,#e7298a);'
                  'border:2px dashed #111"></span>', "规划人员调入的小区（填色同所调入网格）"))
    m.add_child(PageGlue(m.get_name(), layers, search="compounds", legend=legend(ctx, extra, types=False),
                         attribution=escape(style.attribution) if style.attribution else None))
    data = edit_data(ctx, after, a_ids, status, colours, proposal.get("before"))
    m.get_root().header.add_child(RawHTML(f"<style>{EDIT_CSS}</style>"), name="gm_edit_css")
    m.get_root().html.add_child(RawHTML('<script type="application/json" id="gm-edit-data">'
                                        f"{json_for_script(data)}</script>"), name="gm_edit_data")
    m.add_child(EditScript("compounds"))
    n_changes = 0 if ch_layer is None else len(ch_layer)
    side = ['<p class="note"><a href="index.html">← 总览 index</a></p>', "<h1>拉平对齐方案</h1>",
            f'<p class="note">调整前 {len(ctx.grids)} 个网格 → 调整后 {len(a_layer)} 个网格；'
            f"{n_changes} 处调整" + (f"，涉及 {int(moved)} 户" if moved else "") + "。</p>",
            "<p class=\"note\">图层“调整前网格”可在右上角打开，与调整后对照；红色为调整区域，点击查看户数。</p>",
            EDIT_PANEL,
            "<h2>状态 status</h2><table>"]
    counts = status.value_counts()
    side += [f'<tr><td>{line_svg(palette[s], 3)}{escape(_status_label(s))}</td><td class="num">{int(counts[s])}</td></tr>'
             for s in statuses]
    side.append("</table>")
    if rows:
        side += ["<h2>调整清单 changes</h2>", *rows]
    add_side(m, "".join(side))
    return render_page(m)


def _status_label(status: str) -> str:
    return vocab.status_label(status)


def _before_grids(ctx: Context, before: gpd.GeoDataFrame) -> Layer:
    """The current grids as one multipolygon per community, for a page drawn on the proposal."""
    before = before[before.geometry.notna() & ~before.geometry.is_empty]
    comm = find_field(before, "community", required=False, exclude=vocab.COMPUTED_COLUMNS)
    key = (stripped_text(before[comm]).fillna("") if comm else pd.Series("", index=before.index)).to_numpy()
    simple = display_geometries(before, gcj02=ctx.gcj02, simplify=INDEX_SIMPLIFY)
    groups = pd.Series(np.arange(len(before))).groupby(key).indices
    keys = sorted(groups)
    geoms = np.array([shapely.multipolygons(shapely.get_parts(simple[groups[k]])) for k in keys], dtype=object)
    props = pd.DataFrame({"c": [str(len(groups[k])) for k in keys], "p": [escape(k) for k in keys]})
    return Layer("grids", geoms, props, np.zeros(len(keys)), labels={"c": "网格数", "p": "社区/片区"})


def _change_list(changes: gpd.GeoDataFrame, props: pd.DataFrame, bounds: np.ndarray, a_ids: pd.Series,
                 status: pd.Series) -> list[str]:
    """Every change, grouped by the grid the land leaves: what went where, households, why."""
    state = pd.Series(status.to_numpy(), index=a_ids.to_numpy())
    state = state[~state.index.duplicated()]
    why = (stripped_text(changes["reason_label"]) if "reason_label" in changes else
           stripped_text(changes["reason"]) if "reason" in changes else pd.Series(None, index=changes.index))
    origin = (stripped_text(changes["from_grid_id"]) if "from_grid_id" in changes
              else pd.Series("—", index=changes.index))
    rows = []
    for grid, idx in pd.Series(np.arange(len(changes))).groupby(origin.fillna("—").to_numpy(), sort=True):
        # A grid no longer in the proposal was removed: its land went to the grids listed.
        st = state.get(grid, "removed")
        to = sorted(set(props["to"].iloc[idx.to_numpy()].dropna()))
        head = (f'{escape(grid)} <span class="k">{escape(_status_label(st))}'
                + (f" → {'、'.join(to)}" if st == "removed" else "") + f" · {len(idx)} 处</span>")
        items = []
        for k in idx.to_numpy():
            r = props.iloc[k]
            b = bounds[k]
            sb = bounds_attr([b[1], b[0], b[3], b[2]])
            target = r["to"] or "—"
            if state.get(str(changes["to_grid_id"].iloc[k])) == "new":
                target += "（新增）"
            label = r["n"] or r["i"] or "空地"
            items.append(f'<div class="leaf"><a data-b="{sb}">{label}</a> <span class="k">→ {target}'
                         + (f" · {r['h']} 户" if r["h"] else "") + (f" · {r['a']} m²" if r["a"] else "")
                         + (f" · {escape(why.iloc[k])}" if why.iloc[k] else "") + "</span></div>")
        rows.append(f"<details><summary>{head}</summary>{''.join(items)}</details>")
    return rows


# ------------------------------------------------------------------ planners' adjustments (issue 13)

#: Colours of the proposal's grids, neighbours apart where the palette allows: a compound a planner
#: moves is drawn in the colour of the grid it goes to.
GRID_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4",
                "#b2182b", "#4d9221")

EDIT_PANEL = (
    '<h2>规划调整 adjustments</h2>'
    '<p class="note">点击小区，在弹出框中选“移入 …”，把小区整体调入它相邻或所在的本社区网格；'
    '导出的 edits.csv 交 <code>gridmap align --edits</code>（或项目文件 [rules] edits）重新对齐。</p>'
    '<div class="gm-edit-bar"><button type="button" id="gm-export">导出调整</button> '
    '<label class="gm-import">导入调整 <input type="file" id="gm-import" accept=".csv,text/csv"></label></div>'
    '<p class="note" id="gm-edit-msg" role="status"></p>'
    '<table id="gm-edit-grids"></table>'
    '<div id="gm-edit-list"><p class="note">尚无调整。</p></div>')

EDIT_CSS = (".gm-edit-bar button, .gm-edit-pop button { font: inherit; font-size: 12px; margin: 2px 4px 2px 0; "
            "padding: 2px 6px; cursor: pointer; }"
            ".gm-import { font-size: 12px; } .gm-import input { max-width: 180px; font-size: 11px; }"
            ".gm-edit-pop .gm-cands { margin-top: 6px; } .gm-edit-pop .gm-cur { font-size: 12px; color: #555; "
            "margin: 2px 0 4px; }"
            ".gm-edit-pop td, .gm-edit-pop th { padding: 1px 6px 1px 0; text-align: left; font-size: 13px; }"
            ".gm-edit-pop th { white-space: nowrap; color: #555; font-weight: normal; }"
            ".gm-out { color: #b2182b; font-weight: bold; } .gm-in { color: #1a7f37; }"
            ".gm-edit-item { margin: 4px 0; padding: 3px 0; border-bottom: 1px solid #e4e4e4; }"
            ".gm-edit-item input { width: 150px; font-size: 12px; margin-right: 4px; }"
            ".gm-edit-item button { font-size: 12px; }")


class EditScript(Element):
    """The adjustments' script (``templates/edits.js``), after the page's own (``window.gridmap``)."""

    def __init__(self, layer: str):
        """``layer``: the key of the compound layer in ``window.gridmap.layers``."""
        super().__init__()
        self._name = "EditScript"
        self.layer = layer

    def render(self, **kwargs) -> None:
        text = templates().get_template("edits.js").render(layer=self.layer)
        self.get_root().script.add_child(RawHTML(text), name=self.get_name())


def json_for_script(data) -> str:
    """JSON that is inert inside a ``<script>`` element: ``<``, ``>``, ``&``, the line separators,
    ``$`` and backticks written as ``\\u`` escapes (a name holding ``</script>`` cannot end the
    block; no ``${…}`` or template literal appears in the page's text even as data). ``$`` and
    backticks occur in JSON only inside strings, where the escapes mean the same characters."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch in ("<", ">", "&", "\u2028", "\u2029", "$", "`"):
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


def grid_colours(geoms: np.ndarray) -> np.ndarray:
    """A colour of :data:`GRID_PALETTE` per grid, neighbours (within 1 m) differing where they can
    (greedy colouring, most neighbours first)."""
    n = len(geoms)
    if not n:
        return np.array([], dtype=object)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=1.0)
    keep = a != b
    a, b = a[keep], b[keep]
    sort = np.argsort(a, kind="stable")
    a, b = a[sort], b[sort]
    starts = np.searchsorted(a, np.arange(n + 1))
    out = np.full(n, -1, dtype=np.intp)
    k = len(GRID_PALETTE)
    for i in np.argsort(-np.diff(starts), kind="stable"):
        taken = set(out[b[starts[i]:starts[i + 1]]].tolist())
        out[i] = next((c for c in range(k) if c not in taken), i % k)
    return np.array(GRID_PALETTE, dtype=object)[out]


def _numbers(values: pd.Series) -> list:
    v = pd.to_numeric(values, errors="coerce")
    return [None if pd.isna(x) else round(float(x), 2) for x in v]


def _texts(values: pd.Series) -> list:
    return [None if v is None or v != v else str(v) for v in values]


def edit_data(ctx: Context, after: gpd.GeoDataFrame, a_ids: pd.Series, status: pd.Series, colours: np.ndarray,
              before: gpd.GeoDataFrame | None) -> dict:
    """What edits.js needs, as plain JSON: per grid of the proposal its id, name, households,
    colour, whether it is new and whether it nests in a large compound; per compound (in the order of the page's compound layer) its
    id, name, households, current grids, proposed grid (or the grids it still straddles), where
    its households lie, the grids it may go to, and why it may go nowhere; the household range;
    the edits the proposal was made with.

    A compound may go to any grid of the proposal of its community (not a new one: edits name
    grids that exist) that it borders or lies partly in (``gridmap.align.bordering``, one STRtree
    query for all compounds).
    """
    metric = ctx.classification.crs
    comps = ctx.classification.compounds
    n = len(comps)
    C = comps.geometry.to_crs(metric).to_numpy()
    A = after.geometry.to_crs(metric).to_numpy()
    c_ids = stripped_text(comps["compound_id"])
    name_field = find_field(comps, "compound_name", required=False, exclude=vocab.COMPUTED_COLUMNS)
    names = (stripped_text(comps[name_field]) if name_field else c_ids).fillna(c_ids)
    hh_field = find_field(comps, "households", required=False, exclude=vocab.COMPUTED_COLUMNS)
    c_hh = _numbers(comps[hh_field]) if hh_field else [None] * n
    g_name_field = find_field(after, "grid_name", required=False, exclude=vocab.COMPUTED_COLUMNS)
    g_names = stripped_text(after[g_name_field]) if g_name_field else pd.Series(None, index=after.index, dtype=object)
    g_hh = after["households"] if "households" in after else pd.Series(np.nan, index=after.index)
    is_new = (status.to_numpy() == "new") | a_ids.isna().to_numpy()
    # Grids nesting in a large compound: a compound placed in one takes it out of the large compound's tiles.
    nests = (after["situation"].astype(str).to_numpy() == "large_compound") if "situation" in after \
        else np.zeros(len(after), dtype=bool)
    zone = _grid_communities(ctx, after, a_ids)
    sliver = ctx.classification.sliver

    # Where each compound lies in the proposal: wholly in one grid (home), or its grids.
    t = overlap_table(C, A)
    t = t[t.overlap_m2 > 0.01]
    comp, grid, share = t.compound.to_numpy(), t.grid.to_numpy(), t.share_of_compound.to_numpy()
    sig = (share >= sliver) | (t.share_of_grid.to_numpy() >= sliver)
    home = np.full(n, -1, dtype=np.intp)
    home[comp[share >= 0.999]] = grid[share >= 0.999]
    total = np.bincount(comp, weights=share, minlength=n)
    parts: dict = {}
    sig_grids: dict = {}
    for c, g, w, s_ in zip(comp.tolist(), grid.tolist(), (share / np.maximum(total[comp], 1e-12)).tolist(), sig.tolist()):
        h = c_hh[c]
        parts.setdefault(c, []).extend([g, round(w * h, 2) if h is not None else 0])
        if s_:
            sig_grids.setdefault(c, []).append(g)
    own = {c: {zone[g] for g in gs} for c, gs in sig_grids.items()}
    ci, gi, _ = bordering(C, A, TOUCH_M, overlaps=(comp, grid, t.overlap_m2.to_numpy()))
    cands: dict = {}
    for c, g in zip(ci.tolist(), gi.tolist()):
        if not is_new[g] and own.get(c) == {zone[g]}:
            cands.setdefault(c, set()).add(g)
    now = _current_grids(ctx, C, before, sliver)
    label = [n or i or "" for n, i in zip(_texts(g_names), _texts(a_ids))]

    why = ["outside" if c not in parts else "crosses" if len(own.get(c, ())) > 1 else "" for c in range(n)]
    c_rows = {
        "id": _texts(c_ids), "name": _texts(names), "hh": c_hh, "home": home.tolist(),
        "prop": [None if home[c] >= 0 else "、".join(label[g] for g in sig_grids.get(c, [])) or None for c in range(n)],
        "now": now, "parts": [parts.get(c, []) for c in range(n)],
        "cand": [[] if why[c] else sorted(cands.get(c, ())) for c in range(n)], "why": why,
    }
    range_ = after.attrs.get("grid_households") or list(settings.GRID_HOUSEHOLDS)
    g_pos = {g: i for i, g in enumerate(a_ids.tolist()) if g is not None}
    c_pos = {c: k for k, c in enumerate(c_rows["id"])}
    applied = [[c_pos[r["compound_id"]], g_pos[r["to_grid_id"]], str(r.get("note") or "")]
               for r in after.attrs.get("planner_edits") or []
               if r.get("compound_id") in c_pos and r.get("to_grid_id") in g_pos]
    return {"range": [float(range_[0]), float(range_[1])],
            "grids": {"id": _texts(a_ids), "name": _texts(g_names), "hh": _numbers(g_hh),
                      "colour": [str(c) for c in colours], "new": [bool(v) for v in is_new],
                      "lc": [bool(v) for v in nests]},
            "compounds": c_rows, "applied": applied}


def _grid_communities(ctx: Context, after: gpd.GeoDataFrame, a_ids: pd.Series) -> np.ndarray:
    """A community key per grid of the proposal: its community field, else the page of its grid
    (or of the grid it was cut from) in the current grids, else one for all."""
    field = find_field(after, "community", required=False, exclude=vocab.COMPUTED_COLUMNS)
    if field:
        return stripped_text(after[field]).fillna("").to_numpy(dtype=object)
    page_of = pd.Series(ctx.grids.page, index=ctx.grids.ids.to_numpy()) if ctx.grids.ids is not None else pd.Series(dtype=object)
    page_of = page_of[~page_of.index.duplicated()]
    origin = next((stripped_text(after[c]) for c in ("origin_grid_id", "cut_from") if c in after), a_ids)
    key = a_ids.map(page_of).where(a_ids.map(page_of).notna(), origin.map(page_of))
    return key.fillna("").astype(str).to_numpy(dtype=object)


def _current_grids(ctx: Context, C: np.ndarray, before: gpd.GeoDataFrame | None, sliver: float) -> list:
    """The grids each compound lies in now (before alignment), as text (第5网格（G05）、…), the one
    holding most of it first: the classification's, unless the pages show the proposal's grids
    (``before`` then holds the current ones, measured here)."""
    metric = ctx.classification.crs
    grids = before if before is not None else ctx.classification.grids
    grids = grids[grids.geometry.notna() & ~grids.geometry.is_empty]
    gid = find_field(grids, "grid_id", required=False)
    ids = stripped_text(grids[gid]) if gid else pd.Series(None, index=grids.index, dtype=object)
    name = find_field(grids, "grid_name", required=False, exclude=vocab.COMPUTED_COLUMNS)
    labels = ids
    if name:
        named = stripped_text(grids[name])
        labels = named.where(named.isna() | ids.isna(), named + "（" + ids.fillna("") + "）").fillna(ids)
    if before is None:
        comps = ctx.classification.compounds
        label_of = pd.Series(labels.to_numpy(), index=ids.to_numpy())
        label_of = label_of[~label_of.index.duplicated()]
        main = stripped_text(comps["main_grid_id"]).fillna("")
        lists = comps["grid_ids"].fillna("").astype(str).str.split(settings.LIST_SEP)
        out = []
        for first, many in zip(main, lists):
            order = [first] + [g for g in many if g and g != first] if first else [g for g in many if g]
            out.append("、".join(str(label_of.get(g, g)) for g in order) or None)
        return out
    t = overlap_table(C, grids.geometry.to_crs(metric).to_numpy())
    t = t[(t.share_of_compound >= sliver) | (t.share_of_grid >= sliver)]
    t = t.sort_values(["compound", "share_of_compound"], ascending=[True, False])
    labels = labels.to_numpy(dtype=object)
    text = pd.Series(labels[t.grid.to_numpy()]).groupby(t.compound.to_numpy()).agg(
        lambda s: "、".join(str(v) for v in s if v is not None))
    return [text.get(k) or None for k in range(len(C))]
