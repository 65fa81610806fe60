"""The planners' adjustments on proposal.html (issue 13) in headless Chromium with the network
blocked: a compound moved through its popup is redrawn in its new grid's colour, the side panel's
figures and change list follow at once (well within 0.5 s), a change is undone, edits.csv is
exported (UTF-8 with BOM) and imported again, and ``gridmap align --edits`` puts the compound
wholly in the chosen grid with every guarantee of the alignment; hostile names stay inert."""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from conftest import offline_context
from gridmap.align import with_inferred
from gridmap.classify import classify
from gridmap.jobs import align_job
from gridmap.maps import make_maps
from gridmap.pipeline import demo_project, run_job, sample_folder
from mapdata import NAMES, PAYLOADS, small_city
from test_align import assert_valid_proposal

pytestmark = pytest.mark.browser

#: Blob URLs are the page's own downloads.
LOCAL = ("file:", "data:", "about:", "blob:")
REPAINT = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
DATA = "() => JSON.parse(document.getElementById('gm-edit-data').textContent)"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("edits-demo") / "demo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_job(demo_project(out))
    return out


@pytest.fixture(scope="module")
def context(browser):
    ctx = offline_context(browser, LOCAL, viewport={"width": 1400, "height": 850}, accept_downloads=True)
    yield ctx
    ctx.close()


class Page:
    """proposal.html loaded, with the errors and dialogs it reported."""

    def __init__(self, context, path: Path):
        self.page = context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" and not (
            m.text.startswith("Failed to load resource") and (m.location or {}).get("url", "").startswith("http"))
            else None)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_function("window.gridmap && window.gridmap.edits && !window.gridmap.map._animatingZoom")
        self.page.evaluate(REPAINT)

    def js(self, script, arg=None):
        return self.page.evaluate(script, arg)

    def point_of(self, k: int) -> list[float]:
        """Fit the map to compound ``k`` and return a point inside it on the screen (the first
        of a lattice over its bounds that the canvas finds in it)."""
        return self.js("""(k) => { const g = window.gridmap; let hit;
            g.layers.compounds.eachLayer(l => { if (l.feature.properties.k === k) { hit = l; } });
            g.map.closePopup();
            g.map.fitBounds(hit.getBounds(), {maxZoom: 17, padding: [140, 140], animate: false});
            const b = hit.getBounds(), r = g.map.getContainer().getBoundingClientRect();
            let best = b.getCenter();
            outer: for (let i = 1; i < 10; i++) { for (let j = 1; j < 10; j++) {
              const ll = L.latLng(b.getSouth() + (b.getNorth() - b.getSouth()) * ((i * 5) % 10) / 10,
                                  b.getWest() + (b.getEast() - b.getWest()) * ((j * 3) % 10) / 10);
              if (hit._containsPoint(g.map.latLngToLayerPoint(ll))) { best = ll; break outer; } } }
            const p = g.map.latLngToContainerPoint(best); return [p.x + r.left, p.y + r.top]; }""", k)

    def click(self, k: int) -> str:
        """A real click inside compound ``k`` (any popup closed first): the text of its popup."""
        x, y = self.point_of(k)
        self.page.wait_for_function("!document.querySelector('.leaflet-popup')")  # closed popups fade out
        self.page.mouse.click(x, y)
        self.page.wait_for_selector(".gm-edit-pop")
        return self.page.inner_text(".gm-edit-pop")

    def fill_of(self, k: int):
        return self.js("""(k) => { let hit; window.gridmap.layers.compounds.eachLayer(l => {
            if (l.feature.properties.k === k) { hit = l; } }); return [hit.options.fillColor, hit.options.dashArray || null]; }""", k)

    def grid_rows(self) -> dict:
        return self.js("""() => Object.fromEntries(Array.from(document.querySelectorAll('#gm-edit-grids tr[data-grid]'))
            .map(tr => [tr.getAttribute('data-grid'), Array.from(tr.cells).map(c => c.innerText.trim())]))""")

    def changes(self) -> list[str]:
        return self.js("() => Array.from(document.querySelectorAll('#gm-edit-list .gm-edit-item')).map(d => d.getAttribute('data-compound'))")

    def clean(self):
        assert self.errors == [] and self.dialogs == [], (self.errors, self.dialogs)


def choose_move(data: dict) -> tuple[int, int]:
    """A compound of the demo that lies wholly in its proposed grid, and a grid it may go to where
    the page's figures put no more grids outside the household range (a grid left without
    households is dissolved): the smallest such compound."""
    G, C = data["grids"], data["compounds"]
    low, high = data["range"]

    def out(v):
        return v is not None and round(v) > 0 and not low <= round(v) <= high

    best = None
    for k, home in enumerate(C["home"]):
        hh = C["hh"][k]
        if home < 0 or not hh:
            continue
        for g in C["cand"][k]:
            if g == home:
                continue
            before = out(G["hh"][home]) + out(G["hh"][g])
            after = out(G["hh"][home] - hh) + out(G["hh"][g] + hh)
            if after <= before and (best is None or hh < best[0]):
                best = (hh, k, g)
    assert best is not None
    return best[1], best[2]


def test_move_export_undo_import_and_align(demo, context, tmp_path):
    page = Page(context, demo / "proposal.html")
    try:
        data = page.js(DATA)
        G, C = data["grids"], data["compounds"]
        k, g = choose_move(data)
        home, hh = C["home"][k], C["hh"][k]
        cid, gid, home_id = C["id"][k], G["id"][g], G["id"][home]
        assert page.changes() == [] and page.grid_rows() == {}

        # A real click on the compound opens its popup: households, grids now and proposed, buttons.
        page.point_of(k)
        page.js(REPAINT)
        page.page.screenshot(path=str(tmp_path / "before.png"))
        original = page.fill_of(k)
        text = page.click(k)
        assert C["name"][k] in text and cid in text and str(round(hh)) in text and "方案网格" in text
        buttons = page.js("() => Array.from(document.querySelectorAll('.gm-edit-pop button.gm-move'))"
                          ".map(b => [b.getAttribute('data-grid'), b.innerText.trim()])")
        assert [gid, f"移入 {G['name'][g]}"] in buttons and home_id not in [b[0] for b in buttons]
        assert "当前所在" in text

        # Move it: the compound takes the grid's colour, both grids' figures and the list follow.
        # (edits.js times each move from the button's click to two animation frames later.)
        page.page.click(f".gm-edit-pop button.gm-move[data-grid='{gid}']")
        page.page.wait_for_function("window.gridmap.edits.lastMs !== null")
        ms = page.js("window.gridmap.edits.lastMs")
        assert ms < 500, ms
        assert page.fill_of(k) == [G["colour"][g], "5 3"] and page.fill_of(k) != original
        rows = page.grid_rows()
        assert set(rows) == {gid, home_id}
        assert rows[gid][1:3] == [str(round(G["hh"][g])), str(round(G["hh"][g] + hh))]
        assert rows[home_id][1:3] == [str(round(G["hh"][home])), str(round(G["hh"][home] - hh))]
        low, high = data["range"]
        after = G["hh"][g] + hh
        assert ("范围内" in rows[gid][3]) == (low <= round(after) <= high)
        assert page.changes() == [cid]
        assert "调整后" in page.page.inner_text(".gm-edit-pop")
        page.page.screenshot(path=str(tmp_path / "after.png"))

        # A note, then edits.csv: UTF-8 with BOM, one row for the compound placed.
        page.page.fill("#gm-edit-list input", "居民走南门, 进出在\"学府街\"")
        with page.page.expect_download() as download:
            page.page.click("#gm-export")
        raw = Path(download.value.path()).read_bytes()
        assert download.value.suggested_filename == "edits.csv" and raw.startswith(b"\xef\xbb\xbf")
        table = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype=str)
        assert list(table.columns) == ["compound_id", "to_grid_id", "note"]
        assert table.values.tolist() == [[cid, gid, "居民走南门, 进出在\"学府街\""]]
        edits_csv = tmp_path / "edits.csv"
        edits_csv.write_bytes(raw)

        # Undo from the change list: back to the proposal.
        page.page.click("#gm-edit-list button")
        assert page.changes() == [] and page.grid_rows() == {} and page.fill_of(k) == original
        # Import the file: the move and its note come back.
        page.page.set_input_files("#gm-import", str(edits_csv))
        page.page.wait_for_function("document.querySelectorAll('#gm-edit-list .gm-edit-item').length === 1")
        assert page.changes() == [cid] and page.fill_of(k)[0] == G["colour"][g]
        assert page.js("() => document.querySelector('#gm-edit-list input').value") == "居民走南门, 进出在\"学府街\""
        assert "已导入 1 项调整" in page.page.inner_text("#gm-edit-msg")
        assert page.grid_rows()[gid][2] == str(round(G["hh"][g] + hh))
        page.clean()
    finally:
        page.page.close()

    # gridmap align --edits (as the demo aligns: buildings, streets, communities).
    sample = sample_folder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = align_job(str(sample / "compounds.geojson"), str(sample / "grids.geojson"), tmp_path / "aligned",
                           buildings=str(sample / "buildings.geojson"), streets=str(sample / "streets.geojson"),
                           communities=str(sample / "communities.geojson"), edits=str(edits_csv))
    compounds = with_inferred(gpd.read_file(sample / "compounds.geojson"), result.inferred, None, None)
    edits = pd.read_csv(edits_csv, encoding="utf-8-sig", dtype=str)
    assert_valid_proposal(result, compounds, gpd.read_file(sample / "grids.geojson"), edits=edits)
    mine = result.changes[result.changes.compound_id == cid]
    assert len(mine) and set(mine.reason) == {"planner"} and set(mine.to_grid_id) == {gid}
    assert result.summary["outside_range_after"] <= result.summary["outside_range_before"]


def test_bad_edits_exit_1_naming_compound_and_grid(tmp_path):
    from typer.testing import CliRunner

    from gridmap.cli import app

    sample = sample_folder()
    grids = gpd.read_file(sample / "grids.geojson")
    compounds = gpd.read_file(sample / "compounds.geojson")
    inside = gpd.sjoin(compounds, grids.to_crs(compounds.crs), predicate="within")
    cid, own = inside.compound_id.iloc[0], inside.community.iloc[0]
    other = grids.grid_id[grids.community != own].iloc[0]
    cases = {
        "nonexistent grid": (f"compound_id,to_grid_id,note\n{cid},WG999999,\n", f"grid WG999999 (for compound {cid}) does not exist"),
        "nonexistent compound": ("compound_id,to_grid_id,note\nXQ9999,WG010101,\n", "compound XQ9999 does not exist"),
        "another community": (f"compound_id,to_grid_id,note\n{cid},{other},\n", f"grid {other} is in community"),
        "two rows": (f"compound_id,to_grid_id,note\n{cid},{other},\n{cid},WG010101,\n", f"compound {cid} has 2 rows"),
        "malformed": ("id;grid\nA;B\n", "needs the columns compound_id and to_grid_id"),
    }
    for case, (text, expected) in cases.items():
        path = tmp_path / f"{case}.csv"
        path.write_text(text, encoding="utf-8")
        r = CliRunner().invoke(app, ["align", str(sample / "compounds.geojson"), str(sample / "grids.geojson"),
                                     "--edits", str(path), "--out", str(tmp_path / "out")])
        said = " ".join(r.output.split())
        assert r.exit_code == 1 and expected in said and "Traceback" not in said, (case, said)
        assert said.count("Error:") == 1


def test_hostile_names_stay_inert(context, tmp_path):
    city = small_city()
    proposal = dict(city["proposal"])
    after = proposal["grids"].copy()
    evil_id = "G1'0\"><script>alert(5)</script>${x}"
    hostile = {"G06": "${alert(3)}`x`", "G07": "<img src=y onerror=alert(4)>", "G09": "</script><b>\"'&"}
    after["name"] = after.grid_id.map(hostile).fillna(after.grid_id)
    after["community"] = after.grid_id.map(dict(zip(city["grids"].grid_id, city["grids"].community)))
    after["grid_id"] = after.grid_id.replace({"G10": evil_id})
    proposal["grids"] = after
    result = classify(city["compounds"], city["grids"])
    paths = make_maps(result, tmp_path / "pages", proposal=proposal, communities=city["communities"], basemap="none")
    html = paths[-1].read_text(encoding="utf-8")
    for raw in [*PAYLOADS.values(), *hostile.values(), evil_id]:
        assert raw not in html
    page = Page(context, paths[-1])
    try:
        data = page.js(DATA)
        ids = data["compounds"]["id"]
        assert data["grids"]["name"][data["grids"]["id"].index("G07")] == hostile["G07"]
        inert = "() => document.querySelectorAll('.gm-edit-pop img, .gm-edit-pop script, .gm-edit-pop b, #gm-edit-list b').length"
        # A hostile compound name, and a compound in a grid with a hostile id: shown as text.
        for cid, shown in (("C5", NAMES["C5"]), ("C6", evil_id)):
            assert shown in page.click(ids.index(cid)) and page.js(inert) == 0, cid
        # C2 may go to G06 (a hostile name): moved, listed, exported and imported as text.
        page.click(ids.index("C2"))
        buttons = page.js("() => Array.from(document.querySelectorAll('.gm-edit-pop button.gm-move')).map(b => b.innerText.trim())")
        assert f"移入 {hostile['G06']}" in buttons and page.js(inert) == 0
        page.page.click(".gm-edit-pop button.gm-move[data-grid='G06']")
        assert hostile["G06"] in page.page.inner_text("#gm-edit-list") and page.js(inert) == 0
        page.page.fill("#gm-edit-list input", PAYLOADS["C7"] + ',"')
        with page.page.expect_download() as download:
            page.page.click("#gm-export")
        path = tmp_path / "edits.csv"
        path.write_bytes(Path(download.value.path()).read_bytes())
        table = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
        assert table.values.tolist() == [["C2", "G06", PAYLOADS["C7"] + ',"']]
        page.page.click("#gm-edit-list button")
        assert page.changes() == []
        page.page.set_input_files("#gm-import", str(path))
        page.page.wait_for_function("document.querySelectorAll('#gm-edit-list .gm-edit-item').length === 1")
        assert page.js("() => document.querySelector('#gm-edit-list input').value") == PAYLOADS["C7"] + ',"'
        page.page.wait_for_timeout(100)
        page.clean()
    finally:
        page.page.close()


def test_a_bad_file_is_reported_in_the_page(demo, context, tmp_path):
    page = Page(context, demo / "proposal.html")
    try:
        path = tmp_path / "bad.csv"
        path.write_text("compound_id,to_grid_id,note\nXQ9999,WG010101,\n", encoding="utf-8")
        page.page.set_input_files("#gm-import", str(path))
        page.page.wait_for_function("document.querySelector('#gm-edit-msg').innerText.length > 0")
        assert "未导入 1 项" in page.page.inner_text("#gm-edit-msg") and page.changes() == []
        path.write_text("a,b\n1,2\n", encoding="utf-8")
        page.page.set_input_files("#gm-import", str(path))
        page.page.wait_for_function("document.querySelector('#gm-edit-msg').innerText.includes('compound_id')")
        page.clean()
    finally:
        page.page.close()


def test_embedded_data_is_json(demo):
    html = (demo / "proposal.html").read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="gm-edit-data">(.*?)</script>', html, re.S).group(1)
    data = json.loads(block)
    C, G = data["compounds"], data["grids"]
    assert len(C["id"]) == len(C["cand"]) and data["range"] == [300.0, 500.0]
    # Candidates are grids that exist now (never a new one), and a compound's own grid is one of them.
    assert not any(G["new"][g] for cand in C["cand"] for g in cand)
    assert all(G["new"][h] or h in cand for h, cand, why in zip(C["home"], C["cand"], C["why"]) if h >= 0 and not why)
    assert all(now for now, why in zip(C["now"], C["why"]) if not why)
