"""gridmap.maps and gridmap.gcj02 without a browser: escaping, GCJ-02, offline pages, sections."""

from __future__ import annotations

import html
import json
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import digest
from gridmap.classify import classify
from gridmap.errors import CRSWarning, GridmapError
from gridmap.gcj02 import gcj02_to_wgs84, shift_geometries, wgs84_to_gcj02
from gridmap.maps import (assert_offline, escape, leaflet_assets, make_maps,
                          network_references, split_sections)
from mapdata import PAYLOADS, small_city

HOSTILE = ["<img src=x onerror=alert(1)>", "${alert(1)}", "a`b", "</script><script>alert(2)</script>",
           "\"'&<>", "{{ 7*7 }}{% raw %}{#", "太嘉小区"]


def layer_data(page: str) -> list[tuple[list, dict]]:
    """The (geometries, property columns) of every layer drawn in a page."""
    decoder = json.JSONDecoder()
    found = []
    for m in re.finditer(r"gmFC\(\[", page):
        geoms, i = decoder.raw_decode(page, m.end() - 1)
        cols, i = decoder.raw_decode(page, i + 1)
        codes, _ = decoder.raw_decode(page, i + 1)
        for name, values in codes.items():  # fields sent as codes into their distinct values
            cols[name] = [None if c < 0 else values[c] for c in cols[name]]
        found.append((geoms, cols))
    return found


# ------------------------------------------------------------------ escaping


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_leaves_no_markup_or_template_syntax(text):
    out = escape(text)
    assert not set(out) & set("<>\"'`${}")
    assert html.unescape(out) == text


def test_escape_keeps_missing_values_missing():
    assert escape(None) is None
    assert escape(float("nan")) is None
    assert escape(12) == "12"


# ------------------------------------------------------------------ GCJ-02

# Published pairs: wandergis/coordtransform (also hutool and coordtransform-rs test suites),
# and Tiananmen as AMap shows it (GCJ-02 116.397555, 39.906961 for WGS 84 116.391314, 39.905560).
KNOWN = [((116.404, 39.915), (116.41024449916938, 39.91640428150164), 1e-9),
         ((116.391314, 39.905560), (116.397555, 39.906961), 1e-6)]


@pytest.mark.parametrize("wgs, gcj, tol", KNOWN)
def test_gcj02_matches_published_points(wgs, gcj, tol):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert abs(lon - gcj[0]) < tol and abs(lat - gcj[1]) < tol
    back = gcj02_to_wgs84(*gcj)
    assert abs(back[0] - wgs[0]) < max(tol, 1e-8) and abs(back[1] - wgs[1]) < max(tol, 1e-8)


def _metres(lon0, lat0, lon1, lat1):
    dx = (lon1 - lon0) * 111_320 * math.cos(math.radians(lat0))
    dy = (lat1 - lat0) * 110_574
    return math.hypot(dx, dy)


def test_gcj02_offset_in_taiyuan_is_550_to_600_m():
    for lon, lat in [(112.55, 37.87), (112.45, 37.72), (112.68, 37.94)]:
        assert 540 <= _metres(lon, lat, *map(float, wgs84_to_gcj02(lon, lat))) <= 610


def test_gcj02_leaves_points_outside_china():
    lon, lat = wgs84_to_gcj02(np.array([2.35, -74.0]), np.array([48.85, 40.7]))
    assert np.allclose(lon, [2.35, -74.0]) and np.allclose(lat, [48.85, 40.7])


@settings(max_examples=200, deadline=None)
@given(st.floats(73.0, 135.0), st.floats(18.0, 53.0))
def test_gcj02_round_trip_within_a_millimetre(lon, lat):
    g = wgs84_to_gcj02(lon, lat)
    back = gcj02_to_wgs84(*g, steps=3)
    assert _metres(lon, lat, float(back[0]), float(back[1])) < 1e-3


def test_shift_geometries_moves_every_vertex_and_back():
    poly = shapely.box(112.5, 37.8, 112.52, 37.82)
    moved = shift_geometries([poly])[0]
    ex = shapely.get_coordinates(moved)
    expected = np.column_stack(wgs84_to_gcj02(*shapely.get_coordinates(poly).T))
    assert np.allclose(ex, expected, atol=1e-12)
    assert shapely.equals_exact(shift_geometries([moved], inverse=True)[0], poly, tolerance=1e-9)


# ------------------------------------------------------------------ offline pages


def test_network_references_are_found():
    page = ('<script src="https://cdn.example/x.js"></script><link rel=stylesheet href=//cdn.example/a.css>'
            '<style>.a{background:url( "http://x/y.png")}</style><style>@import "https://f/f.css";</style>')
    assert len(network_references(page)) == 4
    with pytest.raises(GridmapError, match="network"):
        assert_offline(page, "x.html")
    # Links a user may click and tile URLs inside scripts are not loaded with the page.
    assert_offline('<a href="https://www.openstreetmap.org/copyright">OSM</a>'
                   '<script>L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png")</script>')


def test_leaflet_assets_are_inlined():
    assets = leaflet_assets()
    assert "images/" not in assets and "sourceMappingURL" not in assets
    assert assets.count("data:image/png;base64,") >= 5
    assert "Leaflet 1.9.3" in assets
    assert network_references(assets) == []


# ------------------------------------------------------------------ sections


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.integers(1, 60), st.integers(0, 10_000))
def test_sections_are_small_and_cover_everything(n, size, seed):
    xy = np.random.default_rng(seed).uniform(0, 10_000, (n, 2))
    labels = split_sections(xy, size)
    assert len(labels) == n
    if n:
        counts = np.bincount(labels)
        assert counts.max() <= size
        assert (counts > 0).all()
        assert len(counts) == -(-n // size)


def test_sections_keep_neighbours_together():
    rng = np.random.default_rng(1)
    west = rng.normal((0, 0), 100, (30, 2))
    east = rng.normal((20_000, 0), 100, (30, 2))
    labels = split_sections(np.vstack([west, east]), 40)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1 and labels[0] != labels[-1]


# ------------------------------------------------------------------ make_maps


@pytest.fixture(scope="module")
def city():
    return small_city()


@pytest.fixture(scope="module")
def result(city):
    return classify(city["compounds"], city["grids"])


@pytest.fixture(scope="module")
def pages(city, result, tmp_path_factory):
    out = tmp_path_factory.mktemp("maps")
    members = pd.DataFrame({"member_id": ["M1", "M2"], "name": ["王秘密", "李秘密"],
                            "building_id": ["C1-B1", "C1-B1"], "phone": ["13900001111", "13900002222"]})
    paths = make_maps(result, out, buildings=city["buildings"], microgrids=city["microgrids"],
                      organisation=city["organisation"], proposal=city["proposal"],
                      communities=city["communities"], stations=city["stations"], members=members,
                      basemap="osm")
    return {p.name: p.read_text(encoding="utf-8") for p in paths}


def test_pages_written(pages):
    names = list(pages)
    assert names[0] == "index.html" and "proposal.html" in names
    community = [n for n in names if n.startswith("community-")]
    # Two communities, and the grid with an empty community field on an "unassigned" page.
    assert len(community) == 3 and "community-unassigned.html" in community
    assert all(re.fullmatch(r"community-[A-Za-z0-9_-]+\.html", n) for n in community)
    for name, text in pages.items():
        assert_offline(text, name)
        assert "<script src" not in text and "<link" not in text.replace("<link rel", "")


def test_pages_show_names_escaped_and_payloads_inert(pages):
    everything = "".join(pages.values())
    for raw in PAYLOADS.values():
        assert raw not in everything
    assert "<img src=x" not in everything and "${alert" not in everything
    assert "<i>联合</i>" not in everything and "&lt;i&gt;联合&lt;/i&gt;" in everything
    assert "长风<b>服务站</b>" not in everything
    for name in ("太嘉小区", "千禧锦绣苑A区"):
        assert name in everything


def test_pages_hold_no_personal_data(pages):
    everything = "".join(pages.values())
    for secret in ("王秘密", "李秘密", "13900001111", "张三户"):
        assert secret not in everything


def test_ledger_gives_counts_only(city, result, tmp_path):
    members = pd.DataFrame({"member_id": ["M1", "M2", "M3"], "name": ["王秘密", "李秘密", "赵秘密"],
                            "building_id": ["C1-B1", "C1-B1", "C1-B2"], "phone": ["139", "138", "137"]})
    paths = make_maps(result, tmp_path, buildings=city["buildings"].drop(columns="party_members"),
                      members=members, basemap="none")
    page = next(p.read_text(encoding="utf-8") for p in paths if "太嘉小区" in p.read_text(encoding="utf-8")
                and p.name != "index.html")
    buildings = next(cols for _, cols in layer_data(page) if "gr" in cols)
    party = dict(zip(buildings["i"], buildings["p"]))
    assert party["C1-B1"] == "2" and party["C1-B2"] == "1" and party["C5-B1"] is None
    assert "王秘密" not in page and '"139"' not in page


def test_community_page_has_all_furniture(pages):
    page = next(t for n, t in pages.items() if "坞城社区" in t and n.startswith("community-"))
    for needle in ("L.control.scale", "L.control.layers", "gm-search", "gm-full", "gm-legend",
                   "坞城社区党委", "<details", "data-b=", "prefer_canvas" if False else "preferCanvas",
                   "微网格 micro-grids", "楼栋 buildings", "党群服务站 stations"):
        assert needle in page, needle
    assert "openstreetmap.org/copyright" in page and "tile.openstreetmap.org" in page


def test_coordinates_are_rounded(pages):
    page = pages["index.html"]
    numbers = re.findall(r"\b1[01]\d\.\d+|\b3\d\.\d+", page)
    assert numbers and max(len(n.split(".")[1]) for n in numbers) <= 6


def test_sections_without_communities(result, tmp_path):
    grids = result.grids.drop(columns=["community"])
    plain = classify(result.compounds[["compound_id", "name", "type", "households", "geometry"]], grids)
    paths = make_maps(plain, tmp_path, basemap="none", section_grids=5)
    sections = [p for p in paths if p.name.startswith("community-section-")]
    assert len(sections) == 3  # 12 grids, at most 5 a page
    texts = [p.read_text(encoding="utf-8") for p in sections]
    assert all("片区" in t for t in texts)
    index = paths[0].read_text(encoding="utf-8")
    assert all(p.name in index for p in sections)


def test_optional_layers_absent(result, tmp_path):
    paths = make_maps(result, tmp_path, basemap="none")
    assert paths[0].name == "index.html" and not (tmp_path / "proposal.html").exists()
    text = "".join(p.read_text(encoding="utf-8") for p in paths)
    assert "楼栋 buildings" not in text and "微网格 micro-grids" not in text
    assert "tile.openstreetmap.org" not in text


def test_far_layer_warns_by_name(city, result, tmp_path):
    far = city["stations"].copy()
    far["geometry"] = far.geometry.translate(600_000, 0)
    far.attrs["source"] = "far_stations.geojson"
    with pytest.warns(CRSWarning, match="far_stations"):
        make_maps(result, tmp_path, stations=far, basemap="none")


def test_basemap_choices(result, tmp_path):
    with pytest.raises(GridmapError, match="tianditu-key"):
        make_maps(result, tmp_path, basemap="tianditu")
    with pytest.raises(GridmapError, match="basemap"):
        make_maps(result, tmp_path, basemap="google")
    with pytest.raises(GridmapError, match="letters and digits"):
        make_maps(result, tmp_path, basemap="tianditu", tianditu_key="abc\"</script>1234")
    paths = make_maps(result, tmp_path, basemap="tianditu", tianditu_key="0123456789abcdef0123456789abcdef")
    assert "tianditu.gov.cn/vec_w" in paths[1].read_text(encoding="utf-8")


def test_gaode_shifts_vectors(result, tmp_path):
    plain = make_maps(result, tmp_path / "a", basemap="none")[0].read_text(encoding="utf-8")
    shifted = make_maps(result, tmp_path / "b", basemap="gaode")[0].read_text(encoding="utf-8")
    lon = float(re.search(r"\[(11\d\.\d+),3\d\.\d+\]", plain).group(1))
    lon_g = float(re.search(r"\[(11\d\.\d+),3\d\.\d+\]", shifted).group(1))
    assert 0.004 < lon_g - lon < 0.008  # about 550 m east in Taiyuan
    assert "autonavi" in shifted


def test_bad_organisation_table(result, tmp_path):
    with pytest.raises(GridmapError, match="unit_id"):
        make_maps(result, tmp_path, organisation=pd.DataFrame({"x": [1]}), basemap="none")


# ------------------------------------------------------------------ the command


def test_cli_map(city, tmp_path):
    from gridmap.cli import app

    src = tmp_path / "in"
    src.mkdir()
    for k in ("compounds", "grids", "buildings", "stations"):
        city[k].to_file(src / f"{k}.geojson")
    city["microgrids"].to_file(src / "microgrids.gpkg", layer="microgrids")
    city["proposal"]["grids"].to_file(src / "proposal.gpkg", layer="grids")
    city["proposal"]["changes"].to_file(src / "proposal.gpkg", layer="changes")
    out = tmp_path / "out"
    out.mkdir()
    # organization.csv from gridmap org in --out is picked up without --org.
    city["organisation"].to_csv(out / "organization.csv", index=False, encoding="utf-8-sig")
    before = digest(src)
    r = CliRunner().invoke(app, ["map", str(src / "compounds.geojson"), str(src / "grids.geojson"),
                                 "--buildings", str(src / "buildings.geojson"),
                                 "--microgrids", str(src / "microgrids.gpkg"),
                                 "--stations", str(src / "stations.geojson"),
                                 "--proposal", str(src / "proposal.gpkg"),
                                 "--basemap", "none", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "index.html").exists() and (out / "proposal.html").exists()
    pages = list(out.glob("community-*.html"))
    assert len(pages) == 3
    assert any("坞城社区党委" in p.read_text(encoding="utf-8") for p in pages)
    assert digest(src) == before
    assert not list(out.glob(".*"))  # no temporary files left


def test_cli_map_bad_input_is_one_paragraph(tmp_path):
    from gridmap.cli import app

    r = CliRunner().invoke(app, ["map", str(tmp_path / "nope.geojson"), str(tmp_path / "g.geojson"),
                                 "--out", str(tmp_path)])
    assert r.exit_code == 1
    assert "nope.geojson" in r.output and "Traceback" not in r.output


def test_names_are_not_templates(result, tmp_path):
    comps = result.compounds[["compound_id", "name", "type", "households", "geometry"]].copy()
    grids = result.grids[["grid_id", "name", "community", "households", "geometry"]].copy()
    grids["name"] = grids["name"].where(grids.grid_id != "G01", "{{ 7*7 }}{% raw %}")
    comps["name"] = comps["name"].where(comps.compound_id != "C1", "{{ config }}")
    paths = make_maps(classify(comps, grids), tmp_path, basemap="none")
    text = "".join(p.read_text(encoding="utf-8") for p in paths)
    assert "&#123;&#123; 7*7 &#125;&#125;&#123;% raw %&#125;" in text and "&#123;&#123; config &#125;&#125;" in text
    side = re.search(r'<aside class="gm-side">(.*?)</aside>', paths[1].read_text(encoding="utf-8"), re.S).group(1)
    assert "第1网格" not in side and "&#123;&#123; 7*7 &#125;&#125;" in side and ">49" not in side


def test_communities_by_polygon(city, result, tmp_path):
    grids = result.grids[["grid_id", "name", "households", "geometry"]]
    plain = classify(result.compounds[["compound_id", "name", "type", "households", "geometry"]], grids)
    paths = make_maps(plain, tmp_path, communities=city["communities"], basemap="none")
    names = sorted(p.name for p in paths)
    assert len(names) == 4 and "community-unassigned.html" in names  # G12 lies outside both
    unassigned = (tmp_path / "community-unassigned.html").read_text(encoding="utf-8")
    grids_there = next(cols for _, cols in layer_data(unassigned) if "c" in cols and "t" not in cols)
    assert grids_there["i"] == ["G12"]


def test_layer_data_round_trips(tmp_path):
    from gridmap.maps import Layer

    n = 40
    props = pd.DataFrame({"n": [f"<b>{i}</b>" if i % 3 else None for i in range(n)],
                          "s": ["规模相当" if i % 2 else "跨网格" for i in range(n)],
                          "_s": [i % 2 for i in range(n)]})
    layer = Layer("x", np.array([shapely.Point(112 + i / 1000, 37.5) for i in range(n)]), props, np.zeros(n))
    page = f"<script>var x = {layer.data_script()};</script>"
    assert "<b>" not in page
    [(geoms, cols)] = layer_data(page)
    assert cols["n"] == [None if pd.isna(v) else v for v in props["n"]]
    assert cols["s"] == props["s"].tolist() and cols["_s"] == props["_s"].tolist()
    assert geoms[1] == {"type": "Point", "coordinates": [112.001, 37.5]}


# ------------------------------------------------------------------ service-station reach


def reach_table(city, result):
    """Straight-line reach of the small town (only C6 is beyond 500 m, at 709 m), with C8 made
    unreachable."""
    from gridmap.reach import station_reach

    reach = station_reach(result, city["stations"])
    reach.loc[result.compounds.compound_id == "C8", ["station_distance_m", "served"]] = [np.inf, False]
    return pd.concat([result.compounds[["compound_id"]], reach], axis=1)


def unjs(page: str) -> str:
    """A page with the ``\\u`` escapes that Jinja's tojson writes for ``& < > '`` undone."""
    for code, char in (("0026", "&"), ("003c", "<"), ("003e", ">"), ("0027", "'")):
        page = page.replace("\\u" + code, char)
    return page


def reach_layer(page: str) -> list | None:
    """The ids of the compounds outlined as beyond reach (the layer sends only their ids)."""
    return next((cols["i"] for _, cols in layer_data(page) if set(cols) == {"i"}), None)


@pytest.fixture(scope="module")
def reach_pages(city, result, tmp_path_factory):
    out = tmp_path_factory.mktemp("reach")
    paths = make_maps(result, out, communities=city["communities"], stations=city["stations"],
                      reach=reach_table(city, result), basemap="none")
    return {p.name: p.read_text(encoding="utf-8") for p in paths}


def community_text(pages: dict, needle: str) -> str:
    return next(t for n, t in pages.items() if n.startswith("community-") and needle in t)


def test_reach_layer_holds_the_compounds_beyond_walking_distance(reach_pages):
    index = reach_pages["index.html"]
    assert sorted(reach_layer(index)) == ["C6", "C8"]
    # In the layer control and the legend.
    assert unjs(index).count("服务站步行距离外的小区 (&gt; 500 m)") == 2 and "距服务站超过 500 米的小区：2 个" in index
    wucheng = community_text(reach_pages, "坞城社区")
    assert sorted(reach_layer(wucheng)) == ["C6", "C8"]
    assert "距服务站超过 500 米的小区：2 个" in wucheng
    side = re.search(r'<aside class="gm-side">(.*?)</aside>', wucheng, re.S).group(1)
    assert "709 米（直线）" in side and "无法到达" in side and side.count("data-b=") >= 2
    changfeng = community_text(reach_pages, "长风社区")
    assert reach_layer(changfeng) is None and "服务站步行距离外的小区" not in changfeng.replace(
        "距服务站超过", "")  # no overlay where every compound is served
    assert "距服务站超过 500 米的小区：0 个" in changfeng
    everything = "".join(reach_pages.values())
    assert not [raw for raw in PAYLOADS.values() if raw in everything]  # C5–C7's names, now also in the list


def test_reach_distance_in_popups_and_tooltips(reach_pages):
    wucheng = community_text(reach_pages, "坞城社区")
    comps = next(cols for _, cols in layer_data(wucheng) if "t" in cols and "g" in cols)
    text = dict(zip(comps["i"], comps["r"]))
    assert text["C6"] == "709 米（直线）" and text["C8"] == "无法到达" and text["C1"] == "0 米（直线）"
    # Shown last in the tooltip and the popup.
    shown = re.findall(r'let fields = (\[.*?\]);\s*let aliases = (\[.*?\]);', wucheng)
    shown = [(json.loads(f), json.loads(a)) for f, a in shown]
    assert (["n", "s", "r"], ["小区", "情形", "距党群服务站"]) in shown
    assert any(len(f) > 3 and f[-1] == "r" and a[-1] == "距党群服务站" for f, a in shown)
    index_comps = next(cols for _, cols in layer_data(reach_pages["index.html"]) if "p" in cols and "t" in cols)
    assert "709 米（直线）" in index_comps["r"]


def test_no_reach_no_distance(pages):
    everything = "".join(pages.values())
    assert "距党群服务站" not in everything and "服务站步行距离外" not in everything
    assert all(reach_layer(t) is None for t in pages.values())


def test_reach_matched_by_compound_id_and_walk_m(city, result, tmp_path):
    reach = reach_table(city, result).drop(columns="served").iloc[::-1].reset_index(drop=True)
    reach["measured"] = "<b>streets</b>"  # an unknown label is shown escaped
    paths = make_maps(result, tmp_path, communities=city["communities"], reach=reach, walk_m=400,
                      basemap="none")
    index = paths[0].read_text(encoding="utf-8")
    # Without "served", a distance above walk_m decides: C5 (450 m), C6 and C8.
    assert sorted(reach_layer(index)) == ["C5", "C6", "C8"]
    assert "(&gt; 400 m)" in unjs(index) and "距服务站超过 400 米的小区：3 个" in index
    assert "<b>streets" not in index and "&lt;b&gt;streets&lt;/b&gt;" in index


def test_reach_bad_input(city, result, tmp_path):
    with pytest.raises(GridmapError, match="station_distance_m"):
        make_maps(result, tmp_path, reach=pd.DataFrame({"distance": [1.0]}), basemap="none")
    with pytest.raises(GridmapError, match="compound_id"):
        make_maps(result, tmp_path, reach=pd.DataFrame({"station_distance_m": [1.0]}, index=[99]),
                  basemap="none")
    with pytest.raises(GridmapError, match="walk_m"):
        make_maps(result, tmp_path, reach=reach_table(city, result), walk_m=0, basemap="none")


def small_streets(city) -> gpd.GeoDataFrame:
    """Streets along the grid lines of the small town."""
    x0, y0, x1, y1 = city["grids"].total_bounds
    xs = np.linspace(x0, x1, 5)
    ys = np.linspace(y0, y1, 4)
    lines = [shapely.LineString([(x, y0), (x, y1)]) for x in xs] + \
            [shapely.LineString([(x0, y), (x1, y)]) for y in ys]
    return gpd.GeoDataFrame({"name": [f"路{i}" for i in range(len(lines))]}, geometry=lines, crs=city["grids"].crs)


def test_cli_map_with_stations_and_streets(city, result, tmp_path):
    from gridmap.cli import app
    from gridmap.reach import station_reach

    src = tmp_path / "in"
    src.mkdir()
    for k in ("compounds", "grids", "stations", "communities"):
        city[k].to_file(src / f"{k}.geojson")
    small_streets(city).to_file(src / "streets.geojson")
    before = digest(src)
    args = ["map", str(src / "compounds.geojson"), str(src / "grids.geojson"),
            "--stations", str(src / "stations.geojson"), "--streets", str(src / "streets.geojson"),
            "--communities", str(src / "communities.geojson"), "--basemap", "none"]
    r = CliRunner().invoke(app, [*args, "--walk-m", "600", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    expected = station_reach(result, city["stations"], small_streets(city), walk_m=600)
    assert (expected.measured == "streets").all()
    beyond = sorted(result.compounds.compound_id[~expected.served])
    assert beyond  # walked distances are longer than straight lines: some compound is beyond 600 m
    index = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert sorted(reach_layer(index)) == beyond
    assert f"距服务站超过 600 米的小区：{len(beyond)} 个" in index and "（沿道路）" in index
    assert digest(src) == before
    r = CliRunner().invoke(app, [*args, "--walk-m", "0", "--out", str(tmp_path / "bad")])
    assert r.exit_code == 1 and "--walk-m" in r.output and "Traceback" not in r.output


def test_proposal_page_lists_every_change_by_grid(pages):
    page = pages["proposal.html"]
    # One entry per grid that gives up land, each change under it: what, where to, households.
    assert "调整清单" in page and "<details><summary>G07" in page
    start = page.index("<details><summary>G07")
    entry = page[start:page.index("</details>", start)]
    assert "→ G06" in entry and "95 户" in entry
