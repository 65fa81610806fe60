"""The folium side of a page: a map with Leaflet inlined, basemaps, lean GeoJSON layers, and the
page's own elements (side panel, tooltips and popups, the fullscreen, side-panel, search and legend
controls) rendered from gridmap's templates.

Folium builds the map; branca renders it by compiling the output of every element's macro as a new
Jinja template, about a millisecond each. gridmap's own elements (tooltips and popups, layer control,
page script, side panel) render templates compiled once (:func:`gridmap.maps.assets.templates`) and
hand branca plain text (:class:`RawHTML`), which is never compiled. Measured on the city of
``benchmarks/bench_maps.py`` (165 pages): with folium's GeoJsonTooltip and GeoJsonPopup the pages
took 8,400 compilations (5.4 s); now 3,200 (3.1 s), each of a different source, so that a cache of
compiled templates (formerly a process-wide patch of ``jinja2.Environment.from_string``) would not
save anything; make_maps takes a median 22.4 s of CPU against 25.2 s before (5 runs each, 2 shared
cores). No global of jinja2, branca or folium is changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import folium
import numpy as np
import shapely
from branca.element import Element
from folium.map import FitBounds
from folium.utilities import JsCode
from markupsafe import Markup

from gridmap import vocab
from gridmap.maps.assets import leaflet_assets, static_text, templates
from gridmap.maps.layers import DECIMALS, Layer


class RawHTML(Element):
    """HTML put in the page as it is: never parsed as a Jinja template (names such as
    ``{{ 7*7 }}`` must not be evaluated at build time)."""

    def __init__(self, text: str):
        super().__init__()
        self._html = text

    def render(self, **kwargs) -> str:
        return self._html


class LayerData(Element):
    """Adds a layer's features right after folium defines the layer, as a raw script.

    Folium would embed the GeoJSON in the layer's own script, which branca then compiles as a
    Jinja template: for a layer of thousands of features that compiling is the slowest part of a
    page. Here folium gets no feature and the features follow in bulk, untouched.
    """

    def __init__(self, layer_name: str, data: str):
        super().__init__()
        self._name = "LayerData"
        self.layer_name = layer_name
        self.data = data

    def render(self, **kwargs) -> None:
        self.get_root().script.add_child(RawHTML(f"{self.layer_name}_add({self.data});\n"),
                                         name=self.get_name())


class Details(Element):
    """A layer's tooltip (``bindTooltip``) or popup (``bindPopup``): a table of some fields of the
    feature under the pointer, with their labels; the script folium's GeoJsonTooltip and
    GeoJsonPopup write, from ``templates/detail.js``. Field values and labels must be escaped."""

    def __init__(self, method: str, fields: list[str], aliases: list[str], *, labels: bool = True,
                 localize: bool = False, options: dict | None = None):
        super().__init__()
        self._name = "Details"
        self.method = method
        self.fields = list(fields)
        self.aliases = [Markup(a) for a in aliases]
        self.labels = labels
        self.localize = localize
        self.options = options or {}

    def render(self, **kwargs) -> None:
        text = templates().get_template("detail.js").render(
            layer=self._parent.get_name(), method=self.method, fields=self.fields, aliases=self.aliases,
            labels=self.labels, localize=self.localize, options=self.options)
        self.get_root().script.add_child(RawHTML(text), name=self.get_name())


class LayerControl(Element):
    """The layer switcher over the map's base layers and overlays (folium's LayerControl, whose
    template would write the layer names as ``\\u`` escapes), from ``templates/layers.js``."""

    def __init__(self, collapsed: bool = False):
        super().__init__()
        self._name = "LayerControl"
        self.options = {"position": "topright", "collapsed": collapsed, "autoZIndex": True}

    def render(self, **kwargs) -> None:
        base_layers, overlays = {}, {}
        for item in self._parent._children.values():
            if isinstance(item, folium.map.Layer) and item.control:
                (overlays if item.overlay else base_layers)[item.layer_name] = item.get_name()
        text = templates().get_template("layers.js").render(
            name=self.get_name(), map_name=self._parent.get_name(), base_layers=base_layers,
            overlays=overlays, options=self.options)
        self.get_root().script.add_child(RawHTML(text), name=self.get_name())


class PageGlue(Element):
    """Page script (``templates/glue.js``): exposes ``window.gridmap``, wires side-panel links to
    ``fitBounds`` and adds the fullscreen, side-panel, search and legend controls (plain Leaflet, no
    plugin files). ``legend`` and ``attribution`` are HTML, built from escaped parts."""

    def __init__(self, map_name: str, layers: dict[str, str], *, search: str | None, legend: str | None,
                 attribution: str | None, side: bool = True):
        super().__init__()
        self._name = "PageGlue"
        self.map_name = map_name
        self.layers = layers
        self.search = search
        self.legend = legend
        self.attribution = attribution
        self.side = side

    def render(self, **kwargs) -> None:
        text = templates().get_template("glue.js").render(
            map_name=self.map_name, layers=self.layers, search=self.search, legend=self.legend,
            attribution=self.attribution, side=self.side)
        self.get_root().script.add_child(RawHTML(text), name=self.get_name())


@dataclass
class Style:
    """What every page of a run shares: the basemap, its key and the data attribution."""

    basemap: str
    tianditu_key: str | None
    attribution: str | None


def new_map(bounds: np.ndarray | None, style: Style, title: str) -> folium.Map:
    """A folium map fitted to ``bounds`` (west, south, east, north) with Leaflet, the page CSS and the
    basemap inlined or linked, and none of folium's CDN assets."""
    m = folium.Map(tiles=None, prefer_canvas=True, zoom_start=13,
                   location=[37.85, 112.55] if bounds is None else
                   [round((bounds[1] + bounds[3]) / 2, DECIMALS), round((bounds[0] + bounds[2]) / 2, DECIMALS)])
    # Folium's CDN assets (jQuery, Bootstrap, awesome-markers) are not used here; Leaflet is
    # inlined below instead of linked.
    m.default_js = []
    m.default_css = []
    root = m.get_root()
    head = templates().get_template("head.html").render(
        title=title, leaflet=Markup(leaflet_assets()), css=Markup(static_text("page.css")),
        gmfc=Markup(static_text("gmfc.js")))
    root.header.add_child(RawHTML(head), name="gm_head")
    _add_basemap(m, style)
    if bounds is not None and np.isfinite(bounds).all():
        # Before any layer is added and without animation: features are drawn once, in place.
        fit = FitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]], padding=(10, 10))
        fit.options["animate"] = False
        m.add_child(fit)
    return m


def _add_basemap(m: folium.Map, style: Style) -> None:
    if style.basemap == "osm":
        folium.TileLayer(
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png", name="OpenStreetMap", max_zoom=19,
            attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        ).add_to(m)
    elif style.basemap == "tianditu":
        wmts = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                "&TILECOL={x}&tk=" + str(style.tianditu_key))
        attr = "&copy; 天地图 Tianditu"
        folium.TileLayer(wmts % ("vec", "vec"), name="天地图 矢量", attr=attr, subdomains="01234567",
                         max_zoom=18).add_to(m)
        folium.TileLayer(wmts % ("img", "img"), name="天地图 影像", attr=attr, subdomains="01234567",
                         max_zoom=18, show=False).add_to(m)
        folium.TileLayer(wmts % ("cva", "cva"), name="天地图 注记", attr=attr, subdomains="01234567",
                         max_zoom=18, overlay=True, control=True).add_to(m)
    elif style.basemap == "gaode":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            name="高德地图 Gaode", attr="&copy; 高德地图 AutoNavi (GCJ-02)", subdomains="1234", max_zoom=18,
        ).add_to(m)


def _style_js(body: str) -> JsCode:
    return JsCode("function (feature) { var p = feature.properties; " + body + " }")


def add_geojson(m: folium.Map, layer: Layer, name: str, style: str, *, tooltip: list[str] | None = None,
                popup: list[str] | None = None, show: bool = True, point_radius: float | None = None,
                interactive: bool = True) -> folium.GeoJson:
    """Draw ``layer`` on ``m``: a folium GeoJson styled by the JavaScript ``style`` (a function body of
    ``p``, the feature's properties) whose features follow in bulk (:class:`LayerData`), with a
    tooltip and a popup of the ``tooltip`` and ``popup`` fields that have a value somewhere."""
    options = {}
    if point_radius is not None:
        options["marker"] = folium.CircleMarker(radius=point_radius)
    g = folium.GeoJson({"type": "FeatureCollection", "features": []}, name=name, show=show,
                       style=_style_js(style), interactive=interactive, **options)
    g.add_child(LayerData(g.get_name(), layer.data_script()))
    if tooltip:
        fields, labels = layer.fields(tooltip)
        if fields:
            g.add_child(Details("bindTooltip", fields, labels, labels=len(fields) > 1,
                                options={"sticky": True, "className": "foliumtooltip"}))
    if popup:
        fields, labels = layer.fields(popup)
        if fields:
            g.add_child(Details("bindPopup", fields, labels, localize=True,
                                options={"maxWidth": 360, "className": "foliumpopup"}))
    g.add_to(m)
    return g


def situation_js(names: tuple[str, ...]) -> str:
    """Colours of ``names`` as a JavaScript array, indexed by a layer's ``_s``; unknown last."""
    return json.dumps([vocab.SITUATION_COLOURS[s] for s in names] + [vocab.OTHER_COLOUR])


def type_js(type_order: list[str]) -> tuple[str, str]:
    """Outline colours and dash arrays of the compound types as JavaScript arrays, indexed by ``_t``."""
    styles = [vocab.TYPE_STYLES.get(t, vocab.OTHER_TYPE_STYLE) for t in type_order]
    return json.dumps([s[0] for s in styles]), json.dumps([s[1] for s in styles])


def add_side(m: folium.Map, html_text: str) -> None:
    """The side panel beside the map: ``html_text`` is HTML built from escaped parts."""
    m.get_root().html.add_child(RawHTML(f'<aside class="gm-side">{html_text}</aside>'), name="gm_side")


def render_page(m: folium.Map) -> str:
    """The page's HTML. folium's own elements (map, tiles, GeoJSON layers, layer control) print
    their JSON with folium's default spacing; gridmap's print compact JSON (see ``templates``)."""
    return m.get_root().render()


def extent(*layers: Layer | None) -> np.ndarray | None:
    """(west, south, east, north) of the layers' display geometries; None when all are empty."""
    geoms = [l.geoms for l in layers if l is not None and len(l)]
    if not geoms:
        return None
    b = shapely.bounds(np.concatenate(geoms))
    return np.array([np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])])
