"""The map pages in headless Chromium with the network blocked: they load without script errors,
draw their features, open popups and tooltips with the Chinese names, keep hostile names inert,
and put GCJ-02 data where Gaode shows it."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from conftest import offline_context
from gridmap.classify import classify
from gridmap.gcj02 import wgs84_to_gcj02
from gridmap.maps import make_maps
from mapdata import NAMES, PAYLOADS, small_city

pytestmark = pytest.mark.browser

LOCAL = ("file:", "data:", "about:")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    city = small_city()
    result = classify(city["compounds"], city["grids"])
    out = tmp_path_factory.mktemp("browser-maps")
    paths = make_maps(result, out, buildings=city["buildings"], microgrids=city["microgrids"],
                      organisation=city["organisation"], proposal=city["proposal"],
                      communities=city["communities"], stations=city["stations"], basemap="osm")
    return {"city": city, "paths": paths, "out": out}


@pytest.fixture(scope="module")
def context(browser):
    ctx = offline_context(browser, LOCAL, viewport={"width": 1280, "height": 800})
    yield ctx
    ctx.close()


class Opened:
    """A loaded page with the problems it reported."""

    def __init__(self, context, path):
        self.page = context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[tuple[str, str]] = []
        page = self.page
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        page.on("request", lambda r: self.requests.append((r.url, r.resource_type)))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("window.gridmap && window.gridmap.map && !window.gridmap.map._animatingZoom")
        # The canvas renderer paints on the next animation frames.
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def _console(self, msg):
        # Basemap tiles are blocked on purpose: their failed loads are expected, nothing else is.
        url = (msg.location or {}).get("url", "")
        if msg.type == "error" and not (msg.text.startswith("Failed to load resource") and
                                        url.startswith("http")):
            self.errors.append(f"console: {msg.text}")

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def js(self, script, arg=None):
        return self.page.evaluate(script, arg)

    def close(self):
        self.page.close()

    def clean(self):
        assert self.errors == [] and self.dialogs == []
        remote = [(u, t) for u, t in self.requests if not u.startswith(LOCAL)]
        assert all(t == "image" and "tile.openstreetmap.org" in u for u, t in remote), remote


def page_named(built, needle: str):
    for p in built["paths"]:
        if p.name.startswith("community-") and needle in p.read_text(encoding="utf-8"):
            return p
    raise AssertionError(needle)


COUNT = """() => Object.fromEntries(Object.entries(window.gridmap.layers)
    .map(([k, v]) => [k, v.getLayers().length]))"""

PAINTED = """() => { let n = 0; document.querySelectorAll('.leaflet-overlay-pane canvas').forEach(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) { n++; } } }); return n; }"""

OPEN_POPUP = """([layer, name]) => { const g = window.gridmap.layers[layer]; let hit = null;
    g.eachLayer(l => { const t = document.createElement('textarea'); t.innerHTML = l.feature.properties.n || '';
                       if (t.value === name) { hit = l; } });
    if (!hit) { return null; }
    const at = hit.getBounds ? hit.getBounds().getCenter() : hit.getLatLng();
    hit.fire('click', {latlng: at}, true);
    const all = document.querySelectorAll('.leaflet-popup-content'); const box = all[all.length - 1];
    return box ? {text: box.innerText, imgs: box.querySelectorAll('img,script,i,b').length} : null; }"""

OPEN_TOOLTIP = """([layer, name]) => { const g = window.gridmap.layers[layer]; let hit = null;
    g.eachLayer(l => { const t = document.createElement('textarea'); t.innerHTML = l.feature.properties.n || '';
                       if (t.value === name) { hit = l; } });
    const at = hit.getBounds ? hit.getBounds().getCenter() : hit.getLatLng();
    hit.fire('mouseover', {latlng: at}, true);
    const tips = document.querySelectorAll('.leaflet-tooltip');
    return Array.from(tips).map(t => t.innerText).join('|'); }"""


def test_every_page_loads_offline_without_errors(built, context):
    assert len(built["paths"]) == 5
    for path in built["paths"]:
        opened = Opened(context, path)
        try:
            counts = opened.js(COUNT)
            assert counts and all(n > 0 for n in counts.values()), (path.name, counts)
            assert opened.js(PAINTED) > 1000, path.name
            opened.clean()
        finally:
            opened.close()


def test_community_page_draws_every_layer(built, context):
    opened = Opened(context, page_named(built, "坞城社区党委"))
    try:
        counts = opened.js(COUNT)
        # 坞城社区: grids G01 G02 G05 G06 G09 G10; compounds C1 C2 C5 C6 and the uncovered C8 beside.
        assert counts["grids"] == 6 and counts["compounds"] == 5 and counts["microgrids"] == 12
        assert counts["buildings"] == 10 and counts["stations"] == 1 and counts["outline"] == 1
        names = opened.js("() => Array.from(document.querySelectorAll('.leaflet-control-layers-overlays span'))"
                          ".map(s => s.innerText.trim())")
        assert {"网格 grids", "小区 compounds", "微网格 micro-grids", "楼栋 buildings"} <= set(names)
        assert opened.js("() => !!document.querySelector('.leaflet-control-scale')")
        assert opened.js("() => document.querySelector('.gm-legend').innerText").count("\n") > 5
        opened.clean()
    finally:
        opened.close()


def test_popups_and_tooltips_show_chinese_names_and_inert_payloads(built, context):
    for community, compounds in (("坞城社区党委", ["C1", "C2", "C5", "C6", "C8"]), ("长风社区党委", ["C3", "C4", "C7"])):
        opened = Opened(context, page_named(built, community))
        try:
            for cid in compounds:
                name = NAMES[cid]
                popup = opened.js(OPEN_POPUP, ["compounds", name])
                assert popup and name in popup["text"] and popup["imgs"] == 0, (cid, popup)
                assert name in opened.js(OPEN_TOOLTIP, ["compounds", name])
            station = opened.js("() => { const s = window.gridmap.layers.stations; if (!s) { return ''; }"
                                " let n = ''; s.eachLayer(l => { l.fire('click', {latlng: l.getLatLng()}, true);"
                                " const all = document.querySelectorAll('.leaflet-popup-content');"
                                " n = all[all.length - 1].innerText; }); return n; }")
            if community == "长风社区党委":
                assert "长风<b>服务站</b>" in station
            opened.page.wait_for_timeout(100)
            opened.clean()
        finally:
            opened.close()


def test_real_mouse_hover_and_click(built, context):
    opened = Opened(context, page_named(built, "坞城社区党委"))
    try:
        # Hide buildings and micro-grids so that the compound is what lies under the pointer.
        point = opened.js("""() => { const g = window.gridmap; g.map.removeLayer(g.layers.buildings);
            let hit; g.layers.compounds.eachLayer(l => { if (l.feature.properties.i === 'C6') { hit = l; } });
            const p = g.map.latLngToContainerPoint(hit.getBounds().getCenter());
            const r = g.map.getContainer().getBoundingClientRect();
            return [p.x + r.left, p.y + r.top]; }""")
        opened.page.mouse.move(point[0] - 20, point[1] - 20)
        opened.page.mouse.move(point[0], point[1], steps=4)
        opened.page.wait_for_selector(".leaflet-tooltip")
        assert PAYLOADS["C6"] in opened.page.inner_text(".leaflet-tooltip")
        opened.page.mouse.click(point[0], point[1])
        opened.page.wait_for_selector(".leaflet-popup-content")
        text = opened.page.inner_text(".leaflet-popup-content")
        assert PAYLOADS["C6"] in text and "居住型" in text and "300" in text
        opened.clean()
    finally:
        opened.close()


def test_search_and_organisation_tree_fit_the_map(built, context):
    opened = Opened(context, page_named(built, "坞城社区党委"))
    try:
        page = opened.page
        page.fill(".gm-search input", PAYLOADS["C5"])
        page.press(".gm-search input", "Enter")
        page.wait_for_selector(".leaflet-popup-content")
        assert PAYLOADS["C5"] in page.inner_text(".leaflet-popup-content")
        inside = """(id) => { const g = window.gridmap; let hit;
            g.layers.compounds.eachLayer(l => { if (l.feature.properties.i === id) { hit = l; } });
            const b = g.map.getBounds(); const c = hit.getBounds();
            return b.contains(c.getCenter()) && b.getNorth() - b.getSouth() < 3 * (c.getNorth() - c.getSouth()) + 0.003; }"""
        assert opened.js(inside, "C5")
        page.fill(".gm-search input", "没有这个小区")
        page.press(".gm-search input", "Enter")
        assert opened.js("() => document.querySelector('.gm-search').classList.contains('gm-miss')")
        # The organisation tree: a branch fits the map to its compound.
        page.click("text=太嘉小区党支部")
        page.wait_for_timeout(400)
        assert opened.js(inside, "C1")
        assert "张三户" not in page.content()
        page.click(".gm-side-toggle")
        assert opened.js("() => document.body.classList.contains('gm-noside')")
        page.click(".gm-full")
        opened.clean()
    finally:
        opened.close()


def test_index_and_proposal(built, context):
    index = Opened(context, built["paths"][0])
    try:
        links = index.js("() => Array.from(document.querySelectorAll('.gm-side a[href]')).map(a => a.getAttribute('href'))")
        assert "proposal.html" in links and sum(h.startswith("community-") for h in links) == 3
        index.page.click("text=长风社区")
        index.page.wait_for_function("window.gridmap && document.title.includes('长风社区')")
    finally:
        index.close()
    proposal = Opened(context, built["paths"][-1])
    try:
        counts = proposal.js(COUNT)
        assert counts["changes"] == 1 and counts["after"] == 12 and counts["before"] == 3  # one outline set per community
        assert proposal.js("() => window.gridmap.map.hasLayer(window.gridmap.layers.before)") is False
        text = proposal.js("""() => { const l = window.gridmap.layers.changes.getLayers()[0];
            l.fire('click', {latlng: l.getBounds().getCenter()}, true);
            return document.querySelector('.leaflet-popup-content').innerText; }""")
        assert "95" in text and "G07" in text and "G06" in text and PAYLOADS["C5"] in text
        proposal.page.click("text=调整前网格 grids before")
        assert proposal.js("() => window.gridmap.map.hasLayer(window.gridmap.layers.before)")
        proposal.clean()
    finally:
        proposal.close()


def test_gcj02_puts_tiananmen_where_gaode_shows_it(context, tmp_path):
    # WGS 84 (116.391314, 39.905560) is Tiananmen; Gaode (GCJ-02) shows it at (116.397555, 39.906961).
    wgs = (116.391314, 39.905560)
    grid = gpd.GeoDataFrame({"grid_id": ["G1"]}, geometry=[shapely.Point(wgs).buffer(0.004)], crs=4326)
    comp = gpd.GeoDataFrame({"compound_id": ["C1"], "name": ["天安门"]},
                            geometry=[shapely.Point(wgs).buffer(0.002)], crs=4326)
    station = gpd.GeoDataFrame({"name": ["天安门"]}, geometry=[shapely.Point(wgs)], crs=4326)
    paths = make_maps(classify(comp, grid), tmp_path, stations=station, basemap="gaode")
    opened = Opened(context, paths[1])
    try:
        lat, lng = opened.js("() => { const l = window.gridmap.layers.stations.getLayers()[0].getLatLng();"
                             " return [l.lat, l.lng]; }")
        assert abs(lat - 39.906961) < 2e-6 and abs(lng - 116.397555) < 2e-6
        glon, glat = wgs84_to_gcj02(*wgs)
        assert abs(lat - glat) < 1e-6 and abs(lng - glon) < 1e-6
        remote = [u for u, _ in opened.requests if not u.startswith(LOCAL)]
        assert remote and all("autonavi.com" in u for u in remote)
        assert opened.errors == [] and opened.dialogs == []
    finally:
        opened.close()


# ------------------------------------------------------------------ service-station reach

RED_PIXELS = """() => { let n = 0; document.querySelectorAll('.leaflet-overlay-pane canvas').forEach(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) { if (d[i] > 200 && d[i + 1] < 60 && d[i + 2] < 60 && d[i + 3] > 200) { n++; } } });
    return n; }"""

REPAINT = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


@pytest.fixture(scope="module")
def reached(tmp_path_factory):
    """The small town with straight-line reach: C6 is 709 m from the nearest station, C8 made
    unreachable; the other compounds are within 500 m."""
    from gridmap.reach import station_reach

    city = small_city()
    result = classify(city["compounds"], city["grids"])
    reach = station_reach(result, city["stations"])
    reach.loc[result.compounds.compound_id == "C8", ["station_distance_m", "served"]] = [float("inf"), False]
    out = tmp_path_factory.mktemp("browser-reach")
    paths = make_maps(result, out, buildings=city["buildings"], communities=city["communities"],
                      stations=city["stations"], reach=reach, basemap="osm")
    return {"city": city, "paths": paths, "out": out}


def test_reach_overlay_draws_on_the_community_page(reached, context):
    opened = Opened(context, page_named(reached, "坞城社区"))
    try:
        counts = opened.js(COUNT)
        assert counts["reach"] == 2 and counts["compounds"] == 5
        ids = opened.js("() => window.gridmap.layers.reach.getLayers().map(l => l.feature.properties.i).sort()")
        assert ids == ["C6", "C8"]
        names = opened.js("() => Array.from(document.querySelectorAll('.leaflet-control-layers-overlays span'))"
                          ".map(s => s.innerText.trim())")
        assert "服务站步行距离外的小区 (> 500 m)" in names
        assert "服务站步行距离外的小区 (> 500 m)" in opened.js("() => document.querySelector('.gm-legend').innerText")
        assert "距服务站超过 500 米的小区：2 个" in opened.js("() => document.querySelector('.gm-side').innerText")
        # The red dashes are painted, and go when the layer is switched off in the layer control.
        shown = opened.js(RED_PIXELS)
        opened.page.click("text=服务站步行距离外的小区 (> 500 m)")
        opened.js(REPAINT)
        assert opened.js("() => window.gridmap.map.hasLayer(window.gridmap.layers.reach)") is False
        hidden = opened.js(RED_PIXELS)
        assert shown - hidden > 500, (shown, hidden)
        opened.clean()
    finally:
        opened.close()


def test_reach_distance_in_popups(reached, context):
    opened = Opened(context, page_named(reached, "坞城社区"))
    try:
        for cid, text in (("C6", "709 米（直线）"), ("C8", "无法到达"), ("C1", "0 米（直线）")):
            popup = opened.js(OPEN_POPUP, ["compounds", NAMES[cid]])
            assert popup and "距党群服务站" in popup["text"] and text in popup["text"], (cid, popup)
        assert "709 米（直线）" in opened.js(OPEN_TOOLTIP, ["compounds", NAMES["C6"]])
        # A real click on C6's red outline opens the compound's popup: the overlay takes no clicks.
        point = opened.js("""() => { const g = window.gridmap; g.map.closePopup(); let hit;
            g.layers.compounds.eachLayer(l => { if (l.feature.properties.i === 'C6') { hit = l; } });
            const b = hit.getBounds(); const ll = L.latLng((b.getNorth() + b.getSouth()) / 2, b.getWest());
            const p = g.map.latLngToContainerPoint(ll); const r = g.map.getContainer().getBoundingClientRect();
            return [p.x + r.left + 1, p.y + r.top]; }""")
        opened.page.mouse.click(point[0], point[1])
        opened.page.wait_for_selector(".leaflet-popup-content")
        text = opened.page.inner_text(".leaflet-popup-content")
        assert PAYLOADS["C6"] in text and "709 米（直线）" in text
        opened.clean()
    finally:
        opened.close()


def test_reach_on_the_index(reached, context):
    opened = Opened(context, reached["paths"][0])
    try:
        assert opened.js(COUNT)["reach"] == 2
        assert "距服务站超过 500 米的小区：2 个" in opened.js("() => document.querySelector('.gm-side').innerText")
        assert "无法到达" in opened.js(OPEN_TOOLTIP, ["compounds", NAMES["C8"]])
        opened.clean()
    finally:
        opened.close()
