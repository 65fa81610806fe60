"""The folium side of a page: a map with Leaflet inlined, basemaps, lean GeoJSON layers, and the
small plain-Leaflet controls (fullscreen, side panel, search, legend) written here."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import folium
import jinja2
import numpy as np
import shapely
from branca.element import Element, MacroElement
from folium.map import FitBounds
from folium.template import Template
from folium.utilities import JsCode

from gridmap import vocab
from gridmap.maps.assets import leaflet_assets
from gridmap.maps.layers import DECIMALS, Layer
from gridmap.maps.safety import escape


class LayerData(Element):
    """Adds a layer's features right after folium defines the layer, as a raw script.

    Folium would embed the GeoJSON in the layer's own script, which branca then compiles as a
    Jinja template: for a layer of thousands of features that compiling is the slowest part of a
    page. Here folium gets the first feature only and the features follow in bulk, untouched.
    """

    def __init__(self, layer_name: str, data: str):
        super().__init__()
        self._name = "LayerData"
        self.layer_name = layer_name
        self.data = data

    def render(self, **kwargs) -> None:
        self.get_root().script.add_child(RawHTML(f"{self.layer_name}_add({self.data});\n"),
                                         name=self.get_name())


#: Rebuilds the features of :meth:`Layer.data_script`; in every page's head.
GMFC = """<script>function gmFC(g, c, d) {
  var k = Object.keys(c), f = new Array(g.length), i, j;
  Object.keys(d).forEach(function (n) { c[n] = c[n].map(function (v) { return v < 0 ? null : d[n][v]; }); });
  for (i = 0; i < g.length; i++) { var p = {}; for (j = 0; j < k.length; j++) { p[k[j]] = c[k[j]][i]; }
    f[i] = {type: 'Feature', geometry: g[i], properties: p}; }
  return {type: 'FeatureCollection', features: f}; }</script>
"""


class RawHTML(Element):
    """HTML put in the page as it is: never parsed as a Jinja template (names such as
    ``{{ 7*7 }}`` must not be evaluated at build time)."""

    def __init__(self, text: str):
        super().__init__()
        self._html = text

    def render(self, **kwargs) -> str:
        return self._html


@dataclass
class Style:
    basemap: str
    tianditu_key: str | None
    attribution: str | None


_PAGE_CSS = """
<style>
html, body { height: 100%; margin: 0; font-family: system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei",
  "Microsoft YaHei", "PingFang SC", sans-serif; }
.gm-side { position: absolute; top: 0; left: 0; bottom: 0; width: 330px; overflow: auto;
  box-sizing: border-box; padding: 10px 12px; background: #fbfbf8; border-right: 1px solid #bbb;
  font-size: 13px; line-height: 1.45; z-index: 1; }
.folium-map { position: absolute !important; top: 0 !important; bottom: 0 !important; right: 0 !important;
  left: 330px !important; width: auto !important; height: auto !important; }
body.gm-noside .gm-side { display: none; }
body.gm-noside .folium-map { left: 0 !important; }
.folium-map:fullscreen { left: 0 !important; width: 100% !important; height: 100% !important; }
.leaflet-container { background: #eef0ea; font-family: inherit; }
.gm-side h1 { font-size: 17px; margin: 2px 0 6px; }
.gm-side h2 { font-size: 14px; margin: 12px 0 4px; }
.gm-side table { border-collapse: collapse; width: 100%; margin: 4px 0; }
.gm-side th, .gm-side td { border-bottom: 1px solid #ddd; padding: 2px 4px; text-align: left; }
.gm-side td.num, .gm-side th.num { text-align: right; font-variant-numeric: tabular-nums; }
.gm-side details { margin-left: 10px; }
.gm-side details > summary { cursor: pointer; margin-left: -10px; }
.gm-side .leaf { margin-left: 4px; }
.gm-side a[data-b] { color: #0b57a4; text-decoration: none; cursor: pointer; }
.gm-side a[data-b]:hover { text-decoration: underline; }
.gm-side .k { color: #666; font-size: 12px; }
.gm-side .note { color: #555; font-size: 12px; }
.gm-swatch { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle;
  border: 2px solid #666; box-sizing: border-box; }
.gm-legend { background: rgba(255,255,255,.93); padding: 6px 8px; font-size: 12px; line-height: 1.5;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-height: 60vh; overflow: auto; }
.gm-legend b { display: block; margin-top: 2px; }
.gm-legend svg { vertical-align: middle; margin-right: 4px; }
.gm-search { background: #fff; padding: 3px; }
.gm-search input { width: 190px; font-size: 13px; padding: 3px 4px; border: 1px solid #aaa; }
.gm-search.gm-miss input { border-color: #d00; background: #fff3f3; }
.gm-btn { display: block; width: 30px; height: 30px; line-height: 30px; text-align: center;
  background: #fff; cursor: pointer; font-size: 18px; color: #222; }
.leaflet-tooltip table, .leaflet-popup-content table { border-collapse: collapse; }
.leaflet-popup-content { font-size: 14px; margin: 10px 14px; } .leaflet-tooltip { font-size: 13px; }
.leaflet-popup-content th { color: #555; font-weight: normal; padding-right: 8px; text-align: left; }
@media (max-width: 700px) { .gm-side { display: none; } .folium-map { left: 0 !important; } }
</style>
"""

_GLUE = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this.map_name }};
  var layers = { {%- for k, v in this.layers.items() %}{{ k|tojson }}: {{ v }},{% endfor %} };
  window.gridmap = { map: map, layers: layers };
  function decode(s) { var t = document.createElement('textarea'); t.innerHTML = s || ''; return t.value; }
  function fit(b) { map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { maxZoom: 18, padding: [24, 24] }); }
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-b]');
    if (!a) { return; }
    ev.preventDefault();
    fit(a.getAttribute('data-b').split(',').map(Number));
  });
  {%- if this.attribution %}
  map.attributionControl.addAttribution({{ this.attribution|tojson }});
  {%- endif %}
  var Full = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var bar = L.DomUtil.create('div', 'leaflet-bar');
    var a = L.DomUtil.create('a', 'gm-btn gm-full', bar);
    a.href = '#'; a.title = '全屏 / fullscreen'; a.setAttribute('role', 'button'); a.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="vertical-align:middle"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#222" stroke-width="2"/></svg>';
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      var el = map.getContainer();
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (el.requestFullscreen) { el.requestFullscreen(); }
    });
    L.DomEvent.disableClickPropagation(bar);
    return bar; } });
  document.addEventListener('fullscreenchange', function () { map.invalidateSize(); });
  new Full().addTo(map);
  L.control.scale({ imperial: false, maxWidth: 150 }).addTo(map);
  {%- if this.side %}
  var Side = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var bar = L.DomUtil.create('div', 'leaflet-bar');
    var a = L.DomUtil.create('a', 'gm-btn gm-side-toggle', bar);
    a.href = '#'; a.title = '侧栏 / side panel'; a.setAttribute('role', 'button'); a.textContent = '\\u2630';
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      document.body.classList.toggle('gm-noside'); map.invalidateSize();
    });
    L.DomEvent.disableClickPropagation(bar);
    return bar; } });
  new Side().addTo(map);
  {%- endif %}
  {%- if this.search %}
  var target = layers[{{ this.search|tojson }}];
  var Search = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var box = L.DomUtil.create('div', 'leaflet-bar gm-search');
    var input = L.DomUtil.create('input', '', box);
    input.type = 'search'; input.placeholder = '搜索小区 search';
    input.setAttribute('list', 'gm-names'); input.setAttribute('aria-label', '搜索小区');
    var list = L.DomUtil.create('datalist', '', box); list.id = 'gm-names';
    var names = {};
    target.eachLayer(function (l) { l._gmName = decode(l.feature.properties.n); names[l._gmName] = 1; });
    Object.keys(names).sort().forEach(function (n) {
      var o = document.createElement('option'); o.value = n; list.appendChild(o); });
    function go() {
      var q = input.value.trim(); if (!q) { return; }
      var hits = [];
      target.eachLayer(function (l) { if (l._gmName === q) { hits.push(l); } });
      if (!hits.length) { target.eachLayer(function (l) { if (l._gmName.indexOf(q) >= 0) { hits.push(l); } }); }
      box.classList.toggle('gm-miss', !hits.length);
      if (!hits.length) { return; }
      if (!map.hasLayer(target)) { map.addLayer(target); }
      var b = L.latLngBounds([]);
      hits.forEach(function (l) { b.extend(l.getBounds ? l.getBounds() : l.getLatLng()); });
      map.fitBounds(b, { maxZoom: 18, padding: [30, 30] });
      if (hits.length === 1) {
        var at = hits[0].getBounds ? hits[0].getBounds().getCenter() : hits[0].getLatLng();
        hits[0].fire('click', { latlng: at }, true);
      }
    }
    input.addEventListener('change', go);
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { go(); } });
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    return box; } });
  new Search().addTo(map);
  {%- endif %}
  {%- if this.legend %}
  var Legend = L.Control.extend({ options: { position: 'bottomright' }, onAdd: function () {
    var div = L.DomUtil.create('div', 'gm-legend');
    div.innerHTML = {{ this.legend|tojson }};
    L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
    return div; } });
  new Legend().addTo(map);
  {%- endif %}
})();
{% endmacro %}
""")


class PageGlue(MacroElement):
    """Page script: exposes ``window.gridmap``, wires side-panel links to ``fitBounds`` and adds
    the fullscreen, side-panel, search and legend controls (plain Leaflet, no plugin files)."""

    _template = _GLUE

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


def new_map(bounds: np.ndarray | None, style: Style, title: str) -> folium.Map:
    m = folium.Map(tiles=None, prefer_canvas=True, zoom_start=13,
                   location=[37.85, 112.55] if bounds is None else
                   [round((bounds[1] + bounds[3]) / 2, DECIMALS), round((bounds[0] + bounds[2]) / 2, DECIMALS)])
    # Folium's CDN assets (jQuery, Bootstrap, awesome-markers) are not used here; Leaflet is
    # inlined below instead of linked.
    m.default_js = []
    m.default_css = []
    root = m.get_root()
    root.header.add_child(RawHTML(f"<title>{escape(title)}</title>"), name="gm_title")
    root.header.add_child(RawHTML(leaflet_assets()), name="gm_leaflet")
    root.header.add_child(RawHTML(_PAGE_CSS + GMFC), name="gm_css")
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
    options = {}
    if point_radius is not None:
        options["marker"] = folium.CircleMarker(radius=point_radius)
    g = folium.GeoJson(layer.first_feature(), name=name, show=show, style=_style_js(style),
                       interactive=interactive, **options)
    g.add_child(LayerData(g.get_name(), layer.data_script()))
    if tooltip:
        fields, labels = layer.fields(tooltip)
        if fields:
            g.add_child(folium.GeoJsonTooltip(fields, aliases=labels, labels=len(fields) > 1))
    if popup:
        fields, labels = layer.fields(popup)
        if fields:
            g.add_child(folium.GeoJsonPopup(fields, aliases=labels, max_width=360))
    g.add_to(m)
    return g


def situation_js(names: tuple[str, ...]) -> str:
    return json.dumps([vocab.SITUATION_COLOURS[s] for s in names] + [vocab.OTHER_COLOUR])


def type_js(type_order: list[str]) -> tuple[str, str]:
    styles = [vocab.TYPE_STYLES.get(t, vocab.OTHER_TYPE_STYLE) for t in type_order]
    return json.dumps([s[0] for s in styles]), json.dumps([s[1] for s in styles])


def add_side(m: folium.Map, html_text: str) -> None:
    m.get_root().html.add_child(RawHTML(f'<aside class="gm-side">{html_text}</aside>'), name="gm_side")


@contextlib.contextmanager
def template_cache():
    """Compile each Jinja template source once while pages are made.

    Folium and branca compile a template for every element they create (tooltip styles, header
    links, each ``Element``), the same few sources again and again: on a city's 160 pages that
    compiling was most of the build time. A compiled template is immutable, so one compiled
    object per (environment, source, class) is shared; the original method is restored after.
    """
    original = jinja2.Environment.from_string
    cache: dict = {}

    def from_string(self, source, globals=None, template_class=None):
        if globals is not None or not isinstance(source, str):
            return original(self, source, globals, template_class)
        key = (id(self), source, template_class)
        if key not in cache:
            cache[key] = original(self, source, None, template_class)
        return cache[key]

    jinja2.Environment.from_string = from_string
    try:
        yield
    finally:
        jinja2.Environment.from_string = original


def render_page(m: folium.Map) -> str:
    # Compact JSON with Chinese kept as UTF-8 (not \\uXXXX); the policy is folium's global one,
    # so it is restored at once. Jinja's tojson still escapes < > & ' for HTML.
    policies = folium.GeoJson._template.environment.policies
    saved = policies.get("json.dumps_kwargs")
    policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")}
    try:
        return m.get_root().render()
    finally:
        policies["json.dumps_kwargs"] = saved


def extent(*layers: Layer | None) -> np.ndarray | None:
    geoms = [l.geoms for l in layers if l is not None and len(l)]
    if not geoms:
        return None
    b = shapely.bounds(np.concatenate(geoms))
    return np.array([np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])])
