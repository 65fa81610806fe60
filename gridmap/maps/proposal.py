"""The planners' page ``proposal.html``: grids before and after alignment, and the changes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import vocab
from gridmap.errors import GridmapError
from gridmap.io import find_field
from gridmap.maps.context import Context
from gridmap.maps.elements import (LayerControl, PageGlue, Style, add_geojson, add_side, extent, new_map,
                                   render_page, situation_js)
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
    a_layer = Layer("after", display_geometries(after, gcj02=ctx.gcj02, simplify=INDEX_SIMPLIFY),
                    pd.DataFrame({"i": a_ids.map(escape), "h": households_of(after, None).to_numpy(),
                                  "st": status.map(_status_label).map(escape), "_c": status.map(palette)},
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
    comps = Layer("compounds", shapely.simplify(ctx.compounds.geoms, INDEX_SIMPLIFY, preserve_topology=True),
                  ctx.compounds.props[["n", "s", "_s"]], ctx.compounds.page, labels=ctx.compounds.labels,
                  clean=True)
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
    layers = {
        "before": add_geojson(m, before, "调整前网格 grids before",
                              "return {color: '#555', weight: 2, dashArray: '6 4', fill: true, fillOpacity: 0};",
                              tooltip=["p", "c"], show=False).get_name(),
        "compounds": add_geojson(m, comps, "小区 compounds",
                                 f"return {{color: {ccol}[p._s], weight: 1, fillColor: {ccol}[p._s], fillOpacity: 0.25}};",
                                 tooltip=["n", "s"]).get_name(),
        "after": add_geojson(m, a_layer, "调整后网格 grids after",
                             "return {color: p._c, weight: 3, fill: true, fillOpacity: 0};",
                             tooltip=["i", "st", "h"], popup=["i", "st", "h"]).get_name(),
    }
    if ch_layer is not None:
        layers["changes"] = add_geojson(m, ch_layer, "调整区域 changes",
                                        "return {color: '#d7191c', weight: 2, fillColor: '#d7191c', fillOpacity: 0.55};",
                                        tooltip=["n", "h"], popup=["n", "i", "f", "to", "a", "h", "r"]).get_name()
    LayerControl().add_to(m)
    extra = [(line_svg("#555", 2, "6 4"), "调整前网格 (默认隐藏)")]
    extra += [(line_svg(c, 3), f"调整后网格: {_status_label(s)}") for s, c in palette.items()]
    extra.append(('<span class="gm-swatch" style="background:#d7191c;border-color:#d7191c"></span>', "调整区域"))
    m.add_child(PageGlue(m.get_name(), layers, search="compounds", legend=legend(ctx, extra, types=False),
                         attribution=escape(style.attribution) if style.attribution else None))
    n_changes = 0 if ch_layer is None else len(ch_layer)
    side = ['<p class="note"><a href="index.html">← 总览 index</a></p>', "<h1>拉平对齐方案</h1>",
            f'<p class="note">调整前 {len(ctx.grids)} 个网格 → 调整后 {len(a_layer)} 个网格；'
            f"{n_changes} 处调整" + (f"，涉及 {int(moved)} 户" if moved else "") + "。</p>",
            "<p class=\"note\">图层“调整前网格”可在右上角打开，与调整后对照；红色为调整区域，点击查看户数。</p>",
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
