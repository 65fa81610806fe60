"""The overview ``index.html`` and one page per community (or section)."""

from __future__ import annotations

import folium
import numpy as np
import pandas as pd
import shapely
from markupsafe import Markup

from gridmap import settings, vocab
from gridmap.io import find_field
from gridmap.maps.assets import render
from gridmap.maps.context import Context, PageData
from gridmap.maps.elements import (LayerControl, PageGlue, Style, add_geojson, add_side, extent, new_map,
                                   render_page, situation_js, type_js)
from gridmap.maps.layers import INDEX_SIMPLIFY, Layer, bounds_attr, bounds_by_id, stripped_text
from gridmap.maps.panels import dot_svg, legend, line_svg, page_link, situation_counts, swatch
from gridmap.maps.safety import escape

#: Outline of compounds beyond walking distance of every station: thicker than any type outline
#: (2.5) and with longer dashes, so that it does not read as a 过渡型 outline.
REACH_STYLE = ("#e8000b", 5, "12 7")


def index_page(ctx: Context, style: Style, *, has_proposal: bool) -> str:
    """``index.html``: the whole area (grids grouped per page, compounds simplified), page outlines
    that open the pages, and the figures beside the map."""
    comps = ctx.classification.compounds
    grids = ctx.classification.grids
    m = new_map(extent(ctx.compounds, ctx.grids), style, "总览 · gridmap")
    # The overview draws simplified shapes and only what the tooltips need.
    page_title = pd.Series({k: escape(p.title) for k, p in ctx.pages.items()})
    grid_l = grids_by_page(ctx, page_title)
    comp_props = ctx.compounds.props[[c for c in ("n", "t", "s", "r", "_s", "_t") if c in ctx.compounds.props]].assign(
        p=pd.Series(ctx.compounds.page, index=ctx.compounds.props.index).map(page_title))
    comp_l = Layer("compounds", shapely.simplify(ctx.compounds.geoms, INDEX_SIMPLIFY, preserve_topology=True),
                   comp_props, ctx.compounds.page, labels={**ctx.compounds.labels, "p": "社区/片区"})
    o = ctx.outlines
    links = pd.Series({k: str(page_link(p.file, p.title)) for k, p in ctx.pages.items()})
    outline_l = Layer("outlines", o.geoms, pd.DataFrame({"n": o.props["k"].map(links).to_numpy()}),
                      o.page, labels={"n": "打开 open"})
    gcol = situation_js(vocab.GRID_SITUATIONS)
    ccol = situation_js(vocab.COMPOUND_SITUATIONS)
    tcol, tdash = type_js(ctx.type_order)
    layers = {}
    if len(outline_l):
        layers["pages"] = add_geojson(m, outline_l, "社区/片区 pages",
                                      "return {color: '#222', weight: 2.5, fill: true, fillOpacity: 0.02};",
                                      popup=["n"]).get_name()
    layers["grids"] = add_geojson(m, grid_l, "网格 grids",
                                  f"return {{color: {gcol}[p._s], weight: 1.5, fillOpacity: 0.12, "
                                  f"fillColor: {gcol}[p._s]}};", tooltip=["s", "c", "p"]).get_name()
    layers["compounds"] = add_geojson(m, comp_l, "小区 compounds",
                                      f"var t = p._t; return {{fillColor: {ccol}[p._s], fillOpacity: 0.6, weight: 1.5, "
                                      f"color: t >= 0 ? {tcol}[t] : '#333', dashArray: t >= 0 ? {tdash}[t] : null}};",
                                      tooltip=["n", "t", "s", "p", "r"]).get_name()
    extra = [(line_svg("#222", 2.5), "社区/片区边界 (点击打开)")]
    if ctx.reach is not None and len(ctx.reach):
        r = ctx.reach
        simple = Layer("reach", shapely.simplify(r.geoms, INDEX_SIMPLIFY, preserve_topology=True), r.props, r.page,
                       clean=True)
        layers["reach"] = _reach_overlay(m, simple, ctx.walk_m, weight=4)
        extra.append((line_svg(REACH_STYLE[0], REACH_STYLE[1], REACH_STYLE[2]), _reach_title(ctx.walk_m)))
    LayerControl().add_to(m)
    m.add_child(PageGlue(m.get_name(), layers, search="compounds", legend=legend(ctx, extra),
                         attribution=escape(style.attribution) if style.attribution else None))

    type_field = find_field(comps, "compound_type", required=False, exclude=vocab.COMPUTED_COLUMNS)
    types = None
    if type_field:
        cross = pd.crosstab(stripped_text(comps[type_field]).map(vocab.canonical_type).fillna(vocab.UNTYPED),
                            comps["situation"])
        cols = [s for s in vocab.COMPOUND_SITUATIONS if s in cross.columns]
        order = [t for t in ctx.type_order if t in cross.index] + [t for t in cross.index if t not in ctx.type_order]
        types = {"situations": [(vocab.SITUATION_COLOURS[c], vocab.SITUATION_LABELS[c]) for c in cols],
                 "rows": [(t, [int(cross.loc[t][c]) for c in cols], int(cross.loc[t].sum())) for t in order]}
    c_count = pd.Series(ctx.compounds.page).value_counts()
    g_count = pd.Series(ctx.grids.page).value_counts()
    mixed = pd.Series(ctx.compounds.page)[comps["situation"].to_numpy() == "mixed"].value_counts()
    pages = [(p.file, p.title, int(c_count.get(key, 0)), int(g_count.get(key, 0)), int(mixed.get(key, 0)))
             for key, p in ctx.pages.items()]
    add_side(m, render("side_index.html", n_compounds=len(comps), n_grids=len(grids), pages=pages,
                       counts=situation_counts(comps["situation"], grids["situation"]),
                       reach=_reach_note(ctx, len(ctx.reach)) if ctx.reach is not None else None,
                       types=types, has_proposal=has_proposal))
    return render_page(m)


def grids_by_page(ctx: Context, page_title: pd.Series, by_situation: bool = True) -> Layer:
    """The overview's grids: one multipolygon per page (and situation), simplified.

    A city has thousands of grids; drawn one by one they make the overview slow to open, while
    grouped they keep every outline and colour with a few hundred map features (grids one by one
    are on the community pages).
    """
    g = ctx.grids
    simple = shapely.simplify(g.geoms, INDEX_SIMPLIFY, preserve_topology=True)
    situation = g.props["_s"].astype(int) if by_situation else pd.Series(-1, index=g.props.index)
    groups = pd.DataFrame({"p": g.page, "s": situation.to_numpy()}).groupby(["p", "s"], sort=True).indices
    keys = list(groups)
    geoms = np.array([shapely.multipolygons(shapely.get_parts(simple[groups[k]])) for k in keys], dtype=object)
    label = pd.Series(g.props["s"].to_numpy(), index=g.props["_s"].astype(int).to_numpy())
    label = label[~label.index.duplicated()]
    props = pd.DataFrame({"s": [label.get(s) for _, s in keys], "_s": [s for _, s in keys],
                          "c": [str(len(groups[k])) for k in keys],
                          "p": [page_title.get(p) for p, _ in keys]})
    return Layer("grids", geoms, props, np.array([p for p, _ in keys], dtype=object),
                 labels={"s": "情形", "c": "网格数", "p": "社区/片区"})


# ------------------------------------------------------------------ a community page


def community_page(data: PageData, style: Style) -> str:
    """A community's (or section's) page: its outline, grids, micro-grids, compounds, compounds
    beyond walking distance of a station, buildings and stations, with the side panel.

    ``data`` is the page's share of the :class:`Context` (:meth:`Context.page_data`)."""
    page, comps, grids, mgs = data.page, data.compounds, data.grids, data.microgrids
    blds, stns, outline = data.buildings, data.stations, data.outline
    m = new_map(extent(comps, grids, mgs, blds), style, f"{page.title} · gridmap")
    gcol = situation_js(vocab.GRID_SITUATIONS)
    ccol = situation_js(vocab.COMPOUND_SITUATIONS)
    tcol, tdash = type_js(data.type_order)
    layers: dict[str, str] = {}
    extra = []
    if page.kind == "community" and len(outline):
        layers["outline"] = add_geojson(m, Layer("outline", outline.geoms, pd.DataFrame({"k": [0] * len(outline)}),
                                                 outline.page), "社区边界 boundary",
                                        "return {color: '#111', weight: 3, fill: false, dashArray: '10 6'};",
                                        interactive=False).get_name()
        extra.append((line_svg("#111", 3, "10 6"), "社区边界"))
    if len(grids):
        layers["grids"] = add_geojson(m, grids, "网格 grids",
                                      f"return {{color: {gcol}[p._s], weight: 3, fillColor: {gcol}[p._s], "
                                      f"fillOpacity: 0.08}};",
                                      tooltip=["n", "i", "s"], popup=["n", "i", "s", "h", "c", "w", "b"]).get_name()
        extra.append((line_svg("#7570b3", 3), "网格 (颜色=情形)"))
    if mgs is not None and len(mgs):
        layers["microgrids"] = add_geojson(m, mgs, "微网格 micro-grids",
                                           "return {color: '#555', weight: 1, dashArray: '4 3', fill: true, "
                                           "fillOpacity: 0};",
                                           tooltip=["i", "h"], popup=["i", "g", "h", "w"]).get_name()
        extra.append((line_svg("#555", 1, "4 3"), "微网格"))
    if len(comps):
        layers["compounds"] = add_geojson(m, comps, "小区 compounds",
                                          f"var t = p._t; return {{fillColor: {ccol}[p._s], fillOpacity: 0.45, "
                                          f"weight: 2.5, color: t >= 0 ? {tcol}[t] : '#333', "
                                          f"dashArray: t >= 0 ? {tdash}[t] : null}};",
                                          tooltip=["n", "s", "r"], popup=["n", "i", "t", "h", "s", "g", "b", "pm", "rp", "r"]).get_name()
    far = data.reach
    if far is not None and len(far):
        # Drawn over the compounds' fill and under the buildings; not clickable, so that a click
        # still opens the compound's popup.
        layers["reach"] = _reach_overlay(m, far, data.walk_m, weight=REACH_STYLE[1])
        extra.append((line_svg(REACH_STYLE[0], REACH_STYLE[1], REACH_STYLE[2]), _reach_title(data.walk_m)))
    if blds is not None and len(blds):
        layers["buildings"] = add_geojson(m, blds, "楼栋 buildings",
                                          "return {color: '#444', weight: 1, fill: true, fillColor: '#fdd49e', fillOpacity: 0.9};",
                                          tooltip=["i", "gr"], popup=["i", "c", "h", "p", "gr", "g", "m"],
                                          point_radius=4).get_name()
        extra.append((swatch("#fdd49e", ";border:1px solid #444"), "楼栋"))
    if stns is not None and len(stns):
        layers["stations"] = add_geojson(m, stns, "党群服务站 stations",
                                         "return {color: '#fff', weight: 2, fill: true, fillColor: '#c00000', fillOpacity: 1};",
                                         tooltip=["n"], popup=["n"], point_radius=8).get_name()
        extra.append((dot_svg("#c00000", 5), "党群服务站"))
    LayerControl().add_to(m)
    m.add_child(PageGlue(m.get_name(), layers, search="compounds" if len(comps) else None,
                         legend=legend(data, extra, compounds=comps),
                         attribution=escape(style.attribution) if style.attribution else None))
    add_side(m, _community_side(data))
    return render_page(m)


def _reach_title(walk_m: float) -> str:
    return f"服务站步行距离外的小区 (> {walk_m:g} m)"


def _reach_overlay(m: folium.Map, layer: Layer, walk_m: float, weight: float) -> str:
    colour, _, dash = REACH_STYLE
    return add_geojson(m, layer, escape(_reach_title(walk_m)),
                       f"return {{color: '{colour}', weight: {weight}, dashArray: '{dash}', opacity: 0.95, "
                       f"fill: false}};", interactive=False).get_name()


def _reach_note(ctx: Context | PageData, count: int) -> tuple:
    """What the side panel says about service stations: walking distance, count beyond it, how measured."""
    return ctx.walk_m, count, ctx.reach_measured


def _community_side(data: PageData) -> str:
    page, comps, grids, blds, far = data.page, data.compounds, data.grids, data.buildings, data.reach
    hh = pd.to_numeric(comps.props["h"], errors="coerce")
    # Layer fields are escaped already: Markup, so that the template does not escape them again.
    name_of = {c: _markup(n) for c, n in zip(comps.ids, comps.props["n"])} if comps.ids is not None else {}
    c_box = bounds_by_id(comps.ids, comps.geoms) if comps.ids is not None else {}
    c_bounds = {k: _bounds(b) for k, b in c_box.items()}
    far_rows = []
    if far is not None:
        text_of = {c: _markup(r) for c, r in zip(comps.ids, comps.props["r"])}
        far_rows = [(name_of.get(c), c_bounds[c], text_of.get(c)) for c in far.ids if c in c_bounds]
    g_bounds = bounds_by_id(grids.ids, grids.geoms) if grids.ids is not None else {}
    b_bounds = bounds_by_id(blds.ids, blds.geoms) if blds is not None and blds.ids is not None else {}
    tree = _org_tree(data.org, data.org_rows, c_box, g_bounds, b_bounds) if data.org is not None else []
    # Grids with their compounds: a way round the map that needs no organisation table.
    grid_rows = []
    for gid, label, cids in zip(grids.ids, grids.props["n"].fillna(grids.props["i"]), data.grid_compound_ids):
        inner = [c for c in str(cids).split(settings.LIST_SEP) if c in name_of]
        b = g_bounds.get(gid)
        grid_rows.append((_markup(label), None if b is None else _bounds(b), len(inner),
                          [(name_of.get(c), c_bounds[c]) for c in inner if c in c_bounds]))
    return render("side_community.html", title=page.title, n_compounds=len(comps), n_grids=len(grids),
                  households=int(hh.sum()) if hh.notna().any() else None,
                  n_buildings=len(blds) if blds is not None else 0,
                  counts=situation_counts(pd.Series(data.compound_situations), pd.Series(data.grid_situations)),
                  reach=_reach_note(data, len(far)) if far is not None else None, far=far_rows,
                  tree=tree, grids=grid_rows)


def _bounds(b) -> Markup:
    """A ``data-b`` value (digits, dots and commas: nothing to escape)."""
    return Markup(bounds_attr(b))


def _markup(value) -> Markup | None:
    """A layer field (escaped when the layer was built) as HTML. (Not through ``Series.map``,
    which would turn Markup back into str, and None into NaN.)"""
    return None if value is None else Markup(value)


def _org_tree(units: dict, org_rows: list[tuple[str, str, str]], c_bounds: dict, g_bounds: dict,
              b_bounds: dict) -> list[tuple]:
    """The units that cover this page's compounds, grids or buildings, and their ancestors, for the
    side panel's tree, depth first: ("open" | "leaf", name, bounds, extra, open) per unit and
    ("close", …) after the units under an open one; a unit's bounds are its area (its own
    features and its descendants'). ``units`` holds (at least) those units, in the table's order;
    ``org_rows`` are the page's (unit_id, what, id)."""
    lookup = {"compound": c_bounds, "grid": g_bounds, "building": b_bounds}
    found = [(u, lookup[w].get(i)) for u, w, i in org_rows]
    found = [(u, b) for u, b in found if b is not None]
    if not found:
        return []
    stacked = pd.DataFrame([b for _, b in found], columns=["s", "w", "n", "e"])
    stacked["u"] = [u for u, _ in found]
    agg = stacked.groupby("u").agg(s=("s", "min"), w=("w", "min"), n=("n", "max"), e=("e", "max"))
    own = dict(zip(agg.index, map(tuple, agg.to_numpy().tolist())))
    keep: dict[str, None] = {}
    for unit in own:
        seen = set()
        while unit is not None and unit in units and unit not in seen:
            seen.add(unit)
            keep[unit] = None
            unit = units[unit]["parent_id"]
    children: dict[str | None, list[str]] = {}
    for unit in units:  # table order, so siblings keep the order gridmap org gave them
        if unit in keep:
            parent = units[unit]["parent_id"]
            children.setdefault(parent if parent in keep else None, []).append(unit)

    def node(unit: str, path: frozenset) -> dict:
        row = units[unit]
        kind = row["kind"] or ""
        label = vocab.kind_label(kind)
        if kind == "central_household":
            # Shown by kind and building, never by the household's name.
            bids = row.get("building_ids")
            where = bids.replace(settings.LIST_SEP, "、") if isinstance(bids, str) and bids.strip() else ""
            name = label + (f"（{where}）" if where else "")
        else:
            name = row["name"] or label
        extra = [label] if kind != "central_household" and name != label else []
        if row.get("members") is not None and not pd.isna(row.get("members")):
            extra.append(f"{int(row['members'])} 名党员")
        kids = [node(c, path | {c}) for c in children.get(unit, []) if c not in path]
        # The unit's box: its own features' and its descendants' (plain floats: one unit at a time,
        # where arrays would cost more than they save).
        box = own.get(unit)
        for kid in kids:
            b = kid["box"]
            if b is not None:
                box = b if box is None else (min(box[0], b[0]), min(box[1], b[1]), max(box[2], b[2]),
                                             max(box[3], b[3]))
        return {"name": name, "extra": " · ".join(extra), "kids": kids, "box": box,
                "open": kind in ("committee", "general_branch")}

    def events(n: dict):
        row = (n["name"], None if n["box"] is None else _bounds(n["box"]), n["extra"], n["open"])
        if not n["kids"]:
            yield ("leaf", *row)
            return
        yield ("open", *row)
        for kid in n["kids"]:
            yield from events(kid)
        yield ("close", None, None, None, None)

    return [e for u in children.get(None, []) for e in events(node(u, frozenset({u})))]
