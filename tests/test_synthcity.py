"""The synthetic city (benchmarks/synthcity.py): valid, tiled, nested, varied and reproducible."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gridmap import classify, vocab
from gridmap.validate import grid_gaps, layer_overlaps
from synthcity import COMPOUND_TYPES, TYPE_COUNTS, make_city, write_city

SCALE = 0.02


@pytest.fixture(scope="module")
def city():
    return make_city(SCALE, seed=0)


def test_layers_columns_and_crs(city):
    assert set(city) == {"streets", "compounds", "grids", "communities", "buildings"}
    expect = {
        "streets": ["street_id", "name", "kind", "highway"],
        "compounds": ["compound_id", "name", "type", "households"],
        "grids": ["grid_id", "name", "community", "households"],
        "communities": ["community_id", "name", "street"],
        "buildings": ["building_id", "compound_id", "name", "households", "party_members"],
    }
    for key, columns in expect.items():
        layer = city[key]
        assert set(columns) <= set(layer.columns), key
        assert layer.crs.to_epsg() == 4547
        assert len(layer) > 0
    # Around Taiyuan's centre, in metres of CGCS2000 GK CM 114E.
    x0, y0, x1, y1 = city["grids"].total_bounds
    assert 340_000 < x0 < x1 < 410_000 and 4_160_000 < y0 < y1 < 4_230_000
    for key, field in [("compounds", "compound_id"), ("grids", "grid_id"), ("communities", "community_id"),
                       ("buildings", "building_id"), ("streets", "street_id")]:
        assert city[key][field].is_unique, key
    assert city["compounds"]["name"].is_unique
    assert set(city["compounds"]["type"]) <= set(COMPOUND_TYPES)
    assert set(city["grids"].community) <= set(city["communities"].community_id)


def test_polygons_valid_and_irregular(city):
    for key in ("compounds", "grids", "communities", "buildings"):
        geoms = city[key].geometry.to_numpy()
        assert shapely.is_valid(geoms).all(), key
        assert np.isin(shapely.get_type_id(geoms), (3, 6)).all(), key
        assert (shapely.area(geoms) > 0).all(), key
    # Not axis-aligned boxes: most outlines differ from their bounding box.
    for key in ("compounds", "grids"):
        geoms = city[key].geometry.to_numpy()
        boxy = np.isclose(shapely.area(geoms), shapely.area(shapely.envelope(geoms)), rtol=1e-3)
        assert boxy.mean() < 0.05, key
    assert (shapely.get_num_coordinates(city["compounds"].geometry.to_numpy()) > 5).mean() > 0.9
    streets = city["streets"].geometry.to_numpy()
    assert (shapely.get_type_id(streets) == 1).all()
    # Streets bend: a segment is longer than the straight line between its ends.
    ends = shapely.distance(shapely.get_point(streets, 0), shapely.get_point(streets, -1))
    assert (shapely.length(streets) > ends + 1e-6).mean() > 0.5


def test_grids_tile_the_city_without_gap_or_overlap(city):
    grids = city["grids"]
    geoms = grids.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)  # edges of neighbours match vertex for vertex
    assert layer_overlaps(grids, "grid_id").empty
    assert grid_gaps(grids, "grid_id").empty
    union = shapely.union_all(geoms)
    assert abs(shapely.area(geoms).sum() - union.area) < 1.0


def test_grids_never_cross_communities(city):
    grids, comms = city["grids"], city["communities"]
    own = comms.set_index("community_id").geometry.reindex(grids.community).to_numpy()
    inside = shapely.area(shapely.intersection(grids.geometry.to_numpy(), own))
    assert np.allclose(inside, grids.area.to_numpy(), atol=1.0)
    # Each community is exactly the union of its grids; communities do not overlap.
    per = grids.area.groupby(grids.community.to_numpy()).sum()
    assert np.allclose(comms.set_index("community_id").area.reindex(per.index), per, atol=1.0)
    assert layer_overlaps(comms, "community_id").empty
    sizes = grids.groupby("community").size()
    assert sizes.between(25, 80).all()


def test_buildings_inside_their_compounds_and_apart(city):
    b, c = city["buildings"], city["compounds"]
    geoms = b.geometry.to_numpy()
    own = b.compound_id.notna().to_numpy()
    assert own.mean() > 0.8 and (~own).any()
    comp = c.set_index("compound_id").geometry.reindex(b.compound_id[own]).to_numpy()
    assert shapely.contains(comp, geoms[own]).all()
    p, q = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (p == q).all(), "buildings overlap"
    hit, _ = shapely.STRtree(c.geometry.to_numpy()).query(geoms[~own], predicate="intersects")
    assert hit.size == 0, "buildings outside compounds must not touch one"
    # Households of a compound are shared among its buildings.
    per = b[own].groupby("compound_id").households.sum()
    assert (per == c.set_index("compound_id").households.reindex(per.index)).all()
    assert (b.party_members <= b.households).all()
    assert b.name.str.fullmatch(r"\d+号楼").all()


def test_every_situation_occurs(city):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = classify(city["compounds"], city["grids"])
    assert set(r.compounds.situation) == set(vocab.COMPOUND_SITUATIONS)
    assert set(r.grids.situation) == set(vocab.GRID_SITUATIONS)


def test_taiyuan_mix_at_scale_one_tenth():
    c = make_city(0.1, seed=1, buildings=False)
    assert 480 <= len(c["compounds"]) <= 680 and 680 <= len(c["grids"]) <= 920
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = classify(c["compounds"], c["grids"])
    share = r.compounds.situation.value_counts(normalize=True)
    assert 0.10 <= share["mixed"] <= 0.20  # compounds straddling grids
    assert r.grids.situation.value_counts(normalize=True)["large_compound"] > 0.2
    types = c["compounds"]["type"].value_counts(normalize=True)
    expected = np.asarray(TYPE_COUNTS) / sum(TYPE_COUNTS)
    assert np.allclose(types.reindex(COMPOUND_TYPES).to_numpy(), expected, atol=0.01)
    sizes = c["grids"].groupby("community").size()
    assert 40 <= sizes.median() <= 60


def test_deterministic_for_a_seed():
    a = make_city(SCALE, seed=5)
    b = make_city(SCALE, seed=5)
    lean = make_city(SCALE, seed=5, buildings=False)
    other = make_city(SCALE, seed=6, buildings=False)
    for key in a:
        assert a[key].drop(columns="geometry").equals(b[key].drop(columns="geometry")), key
        assert (shapely.to_wkb(a[key].geometry.to_numpy()) == shapely.to_wkb(b[key].geometry.to_numpy())).all(), key
    assert "buildings" not in lean
    for key in lean:  # skipping buildings changes nothing else
        assert (shapely.to_wkb(a[key].geometry.to_numpy()) == shapely.to_wkb(lean[key].geometry.to_numpy())).all()
    assert not np.array_equal(shapely.to_wkb(a["grids"].geometry.to_numpy()[:5]),
                              shapely.to_wkb(other["grids"].geometry.to_numpy()[:5]))


def test_write_city_geopackage(city, tmp_path):
    path = write_city({k: city[k] for k in ("compounds", "grids")}, tmp_path)
    assert path == tmp_path / "city.gpkg"
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["compounds", "grids"]
    back = gpd.read_file(path, layer="compounds")
    assert back["name"].tolist() == city["compounds"]["name"].tolist()
    assert not list(tmp_path.glob(".*"))
