"""Outlines for compounds that have buildings but no polygon: the guarantees of issue 3 as
properties, the one-diagram tessellation against one diagram per block, overlap (IoU) with the
true outlines of the sample and of a synthetic city, and bad input."""

from __future__ import annotations

import subprocess
import sys
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, digest, polygons
from gridmap.errors import GridmapError, GridmapWarning
from gridmap.infer import infer_outlines, outline_iou, tessellate

CLEARANCE = 2.0
REACH = 20.0


def assert_valid_outlines(result, buildings, streets, compounds, *, clearance=CLEARANCE, reach=REACH):
    """Each outline holds its buildings, overlaps no compound and no other outline, keeps off the
    streets and stays near its buildings."""
    out = result.compounds.to_crs(result.crs)
    b = buildings.to_crs(result.crs)
    geoms = out.set_index("compound_id").geometry
    assert shapely.is_valid(geoms.to_numpy()).all()
    for cid, outline in geoms.items():
        own = b[b.compound_id == cid].geometry.to_numpy()
        assert shapely.area(shapely.difference(own, outline)).max() <= 0.01, cid
        hull = shapely.convex_hull(shapely.union_all(own))
        assert shapely.difference(outline, hull.buffer(reach + 0.01)).area <= 0.01, cid
    g = geoms.to_numpy()
    i, j = shapely.STRtree(g).query(g, predicate="intersects")
    assert shapely.area(shapely.intersection(g[i[i < j]], g[j[i < j]])).max(initial=0) <= 0.01
    if compounds is not None and len(compounds):
        existing = shapely.union_all(compounds.to_crs(result.crs).geometry.to_numpy())
        assert shapely.area(shapely.intersection(g, existing)).max(initial=0) <= 0.01
    if streets is not None and len(streets):
        lines = shapely.union_all(streets.to_crs(result.crs).geometry.to_numpy())
        # No street crosses an outline: they keep the clearance (the buildings here keep more),
        # less the error of a buffer's polygonal arcs.
        assert shapely.distance(g, lines).min(initial=np.inf) >= 0.99 * clearance
    assert (out.buildings_outside == 0).all()
    counts = b[b.compound_id.isin(geoms.index)].groupby("compound_id").size()
    assert (out.set_index("compound_id").n_buildings == counts.reindex(geoms.index)).all()


def _boxes(rows):
    return [shapely.box(x, y, x + w, y + h) for x, y, w, h in rows]


@pytest.fixture
def block_town():
    """Two streets cross at (150, 100): four blocks. EX has a polygon; A, B have none; D has
    buildings on both sides of the vertical street; three buildings carry no id."""
    streets = gpd.GeoDataFrame({"name": ["纬一街", "经一路"]},
                               geometry=[shapely.LineString([(-60, 100), (360, 100)]),
                                         shapely.LineString([(150, -60), (150, 260)])], crs=4547)
    compounds = polygons({"EX": (5, 5, 75, 85)}, "compound_id")
    rows = {
        "EX": [(15, 15, 20, 10), (15, 40, 20, 10), (45, 15, 20, 10)],
        "A": [(90, 10, 40, 10), (90, 35, 40, 10), (90, 60, 40, 12)],
        "B": [(10, 120, 30, 12), (60, 120, 30, 12), (10, 150, 30, 12), (60, 150, 30, 12)],
        "D": [(160, 20, 30, 10), (160, 50, 30, 10), (110, 130, 30, 10)],
        None: [(200, 130, 20, 20), (240, 130, 20, 20), (220, 170, 20, 20)],
    }
    ids, geoms = [], []
    for cid, boxes in rows.items():
        ids += [cid] * len(boxes)
        geoms += _boxes(boxes)
    buildings = gpd.GeoDataFrame({"building_id": [f"LD{i:03d}" for i in range(len(ids))],
                                  "compound_id": pd.array(ids, dtype="string"),
                                  "households": np.arange(len(ids)) + 20}, geometry=geoms, crs=4547)
    return buildings, streets, compounds


def test_outlines_on_a_block_town(block_town):
    buildings, streets, compounds = block_town
    with pytest.warns(GridmapWarning, match=r"3 buildings have no compound_id.*LD013"):
        result = infer_outlines(buildings, streets, compounds)
    assert list(result.compounds.compound_id) == ["A", "B", "D"]
    assert list(result.skipped.building) == ["LD013", "LD014", "LD015"]
    assert_valid_outlines(result, buildings, streets, compounds)
    out = result.compounds.set_index("compound_id")
    # D's buildings lie on both sides of a street: two parts, none crossing it.
    assert shapely.get_num_geometries(out.geometry["D"]) == 2
    # A stays in its block, off EX and the streets (not a hull spanning them).
    assert out.geometry["A"].bounds[2] <= 148 + 1e-6 and out.geometry["A"].bounds[3] <= 98 + 1e-6
    # Buildings without an id belong to no outline.
    loose = buildings[buildings.compound_id.isna()].geometry.to_numpy()
    assert shapely.area(shapely.intersection(shapely.union_all(out.geometry.to_numpy()), loose)).max() <= 0.01
    assert out.households["B"] == buildings[buildings.compound_id == "B"].households.sum()
    assert list(out.n_buildings) == [3, 4, 3]


def test_reach_limits_the_outline(block_town):
    buildings, streets, compounds = block_town
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        near = infer_outlines(buildings, streets, compounds, reach=5)
        far = infer_outlines(buildings, streets, compounds, reach=40)
    assert_valid_outlines(near, buildings, streets, compounds, reach=5)
    assert_valid_outlines(far, buildings, streets, compounds, reach=40)
    assert (near.compounds.area_m2.to_numpy() < far.compounds.area_m2.to_numpy()).all()


@st.composite
def neighbourhoods(draw):
    """Random streets, rows of buildings of a few compounds (some with polygons) between them."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    size = 400.0
    lines = []
    for _ in range(rng.integers(0, 4)):
        a, b = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
        lines.append(shapely.LineString([a, b]))
    streets = gpd.GeoDataFrame({"name": [f"S{i}" for i in range(len(lines))]}, geometry=lines, crs=4547)
    keep_off = shapely.union_all(lines).buffer(CLEARANCE + 3) if lines else shapely.Polygon()
    ids = ["A", "B", "C", "EX", None]
    geoms, labels = [], []
    for _ in range(rng.integers(3, 40)):
        x, y = rng.uniform(0, size, 2)
        w, h = rng.uniform(8, 40), rng.uniform(8, 15)
        shape = shapely.affinity.rotate(shapely.box(x, y, x + w, y + h), rng.uniform(0, 180))
        if shape.intersects(keep_off) or any(shape.distance(o) < 1 for o in geoms):
            continue
        geoms.append(shape)
        labels.append(ids[rng.integers(0, len(ids))])
    buildings = gpd.GeoDataFrame({"compound_id": pd.array(labels, dtype="string")}, geometry=geoms,
                                 crs=4547)
    ex = [g for g, lab in zip(geoms, labels) if lab == "EX"]
    compounds = None
    if ex:
        outline = shapely.convex_hull(shapely.union_all(ex)).buffer(2)
        # Other compounds' buildings may not sit in EX's outline.
        clash = [g for g, lab in zip(geoms, labels) if lab != "EX" and g.intersects(outline)]
        outline = outline.difference(shapely.union_all(clash).buffer(1)) if clash else outline
        outline = max(shapely.get_parts(outline), key=lambda p: p.area) if outline.geom_type != "Polygon" else outline
        compounds = gpd.GeoDataFrame({"compound_id": ["EX"]}, geometry=[outline], crs=4547)
        keep = [lab != "EX" or g.within(outline) for g, lab in zip(geoms, labels)]
        buildings = buildings[keep].reset_index(drop=True)
    return buildings, streets, compounds


import shapely.affinity  # noqa: E402  (used by the strategy)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(neighbourhoods())
def test_guarantees_hold_on_random_neighbourhoods(town):
    buildings, streets, compounds = town
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = infer_outlines(buildings, streets if len(streets) else None, compounds)
    assert_valid_outlines(result, buildings, streets, compounds)
    targets = set(buildings.compound_id.dropna()) - ({"EX"} if compounds is not None else set())
    assert set(result.compounds.compound_id) == targets


def test_one_diagram_equals_one_diagram_per_block():
    rng = np.random.default_rng(3)
    blocks = np.array([shapely.box(0, 0, 100, 80), shapely.box(104, 0, 200, 80),
                       shapely.Polygon([(0, 84), (200, 84), (150, 160)])])
    pts = np.concatenate([rng.uniform((0, 0), (100, 80), (30, 2)), rng.uniform((104, 0), (200, 80), (30, 2)),
                          rng.uniform((60, 90), (140, 110), (20, 2))])
    block = np.repeat([0, 1, 2], [30, 30, 20])
    label = rng.integers(0, 3, len(pts))
    pieces, piece_label = tessellate(pts, block, label, blocks)
    for b in range(3):
        mine = block == b
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts[mine]),
                                                           extend_to=blocks[b], ordered=True))
        for lab in range(3):
            want = shapely.intersection(shapely.union_all(cells[label[mine] == lab]), blocks[b])
            got = [p for p, bl, lb in zip(pieces, *_piece_blocks(pieces, piece_label, blocks)) if bl == b and lb == lab]
            got = shapely.union_all(got) if got else shapely.Polygon()
            # Points move to a 1 mm lattice: cell edges shift by as much.
            assert shapely.area(shapely.symmetric_difference(want, got)) <= 1e-4 * blocks[b].area, (b, lab)


def _piece_blocks(pieces, labels, blocks):
    where = [int(np.argmax(shapely.area(shapely.intersection(p, blocks)))) for p in pieces]
    return where, labels


# ------------------------------------------------------------------ real and synthetic outlines


def test_iou_on_the_sample(sample_dir):
    truth_path = sample_dir / "removed_outlines.geojson"
    if not truth_path.exists():
        pytest.skip("the sample has no removed outlines")
    buildings = gpd.read_file(sample_dir / "buildings.geojson")
    streets = gpd.read_file(sample_dir / "streets.geojson")
    compounds = gpd.read_file(sample_dir / "compounds.geojson")
    truth = gpd.read_file(truth_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = infer_outlines(buildings, streets, compounds)
    assert set(result.compounds.compound_id) == set(truth.compound_id)
    assert (result.compounds.buildings_outside == 0).all()
    iou = outline_iou(result.compounds, truth)
    # Measured 0.73 (0.64–0.79) with the defaults; the bar leaves room, not a target.
    assert iou.iou.median() >= 0.6 and iou.iou.min() >= 0.5


def test_iou_on_a_synthetic_city_with_outlines_removed():
    from synthcity import make_city

    city = make_city(scale=0.05, seed=2)
    comp, buildings = city["compounds"], city["buildings"]
    rng = np.random.default_rng(0)
    removed = comp[comp.compound_id.isin(buildings.compound_id.dropna()) & (rng.random(len(comp)) < 0.3)]
    kept = comp.drop(removed.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = infer_outlines(buildings, city["streets"], kept)
    assert set(result.compounds.compound_id) == set(removed.compound_id)
    assert_valid_outlines(result, buildings, city["streets"], kept)
    iou = outline_iou(result.compounds, removed)
    # Measured 0.89 median with the defaults.
    assert iou.iou.median() >= 0.8


# ------------------------------------------------------------------ bad input and the command


def test_bad_input_is_named(block_town):
    buildings, streets, compounds = block_town
    areas = streets.assign(geometry=streets.buffer(5))
    with pytest.raises(GridmapError, match=r"streets must be lines.*2 Polygon.*features 1, 2"):
        infer_outlines(buildings, areas, compounds)
    lines = buildings.assign(geometry=buildings.boundary)
    with pytest.raises(GridmapError, match="polygons.*or points"):
        infer_outlines(lines, streets, compounds)
    with pytest.raises(GridmapError, match="户数"):
        infer_outlines(buildings, streets, compounds, households="户数")
    with pytest.raises(GridmapError, match="compound id"):
        infer_outlines(buildings.drop(columns="compound_id"), streets, compounds)
    with pytest.raises(GridmapError, match="clearance"):
        infer_outlines(buildings, streets, compounds, clearance=0)


def test_points_for_buildings(block_town):
    buildings, streets, compounds = block_town
    points = buildings.assign(geometry=buildings.centroid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = infer_outlines(points, streets, compounds)
    assert list(result.compounds.compound_id) == ["A", "B", "D"]
    out = result.compounds.set_index("compound_id").geometry
    for cid, outline in out.items():
        assert outline.contains(shapely.MultiPoint(points[points.compound_id == cid].geometry.to_list()))


def test_cli_writes_inferred_outlines(sample_dir, tmp_path):
    before = digest(sample_dir)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "gridmap", "infer", str(sample_dir / "buildings.geojson"),
                        "--streets", str(sample_dir / "streets.geojson"),
                        "--compounds", str(sample_dir / "compounds.geojson"), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Inferred 4 outlines" in r.stdout and "without a compound id" in r.stdout
    inferred = gpd.read_file(out / "inferred.gpkg", layer="compounds")
    assert list(inferred.columns[:3]) == ["compound_id", "n_buildings", "households"]
    assert digest(sample_dir) == before
    r = subprocess.run([sys.executable, "-m", "gridmap", "infer", str(sample_dir / "buildings.geojson"),
                        "--streets", str(sample_dir / "compounds.geojson"), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "streets must be lines" in r.stderr and "Traceback" not in r.stderr
