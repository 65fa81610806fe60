"""The bundled Taiyuan sample in boundaries/: its contract, its invariants, and that it rebuilds."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap import classify, vocab
from gridmap.validate import grid_gaps

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "taiyuan-osm"

LAYERS = {
    "compounds": ["compound_id", "name", "type", "households", "osm_id"],
    "grids": ["grid_id", "name", "community", "households"],
    "communities": ["community_id", "name", "street"],
    "buildings": ["building_id", "compound_id", "name", "households", "party_members", "osm_id", "synthetic"],
    "streets": ["osm_id", "name", "highway"],
    "stations": ["station_id", "name", "community"],
    "removed_outlines": ["compound_id", "name"],
}
TABLES = {
    "members": ["member_id", "name", "building_id", "category", "phone"],
    "grid_workers": ["worker_id", "name", "grid_id"],
}
IDS = {"compounds": "compound_id", "grids": "grid_id", "communities": "community_id",
       "buildings": "building_id", "stations": "station_id", "removed_outlines": "compound_id",
       "members": "member_id", "grid_workers": "worker_id"}
METRIC = 4547


@pytest.fixture(scope="module")
def sample() -> dict:
    folder = ROOT / "boundaries"
    if not (folder / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    data: dict = {name: gpd.read_file(folder / f"{name}.geojson") for name in LAYERS}
    for name in TABLES:
        data[name] = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False,
                                 encoding="utf-8-sig")
    return data


@pytest.fixture(scope="module")
def metric(sample) -> dict:
    return {name: sample[name].to_crs(METRIC) for name in LAYERS}


@pytest.fixture(scope="module")
def classified(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return classify(sample["compounds"], sample["grids"])


def test_files_have_their_columns_and_crs(sample):
    for name, columns in LAYERS.items():
        assert list(sample[name].columns) == columns + ["geometry"], name
        assert sample[name].crs.to_epsg() == 4490, name
        assert len(sample[name]) > 0, name
    for name, columns in TABLES.items():
        assert list(sample[name].columns) == columns, name
        assert len(sample[name]) > 0, name
    polygonal = ("compounds", "grids", "communities", "buildings", "removed_outlines")
    for name in polygonal:
        assert set(sample[name].geom_type) <= {"Polygon", "MultiPolygon"}, name
        assert sample[name].is_valid.all(), name
    assert set(sample["stations"].geom_type) == {"Point"}
    assert set(sample["streets"].geom_type) <= {"LineString", "MultiLineString"}


def test_csv_files_are_utf8_with_bom():
    for name in TABLES:
        assert (ROOT / "boundaries" / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf"), name


def test_coordinates_have_at_most_seven_decimals():
    text = (ROOT / "boundaries" / "grids.geojson").read_text(encoding="utf-8")
    coords = np.array(shapely.get_coordinates(
        shapely.from_geojson([json.dumps(f["geometry"]) for f in json.loads(text)["features"]])))
    assert np.allclose(coords, np.round(coords, 7), atol=1e-12, rtol=0)


def test_ids_are_unique_and_well_formed(sample):
    for name, field in IDS.items():
        ids = sample[name][field]
        assert ids.notna().all() and (ids != "").all(), name
        assert ids.is_unique, name
    assert sample["compounds"].compound_id.str.fullmatch(r"XQ\d{4}").all()
    assert sample["grids"].grid_id.str.fullmatch(r"WG\d{6}").all()
    assert sample["buildings"].building_id.str.fullmatch(r"LD\d{6}").all()
    # A grid's id starts with its community's code.
    code = sample["communities"].set_index("name").community_id.str[2:]
    assert (sample["grids"].grid_id.str[2:6] == sample["grids"].community.map(code)).all()


def test_compounds_are_the_real_osm_ones(sample):
    compounds, removed = sample["compounds"], sample["removed_outlines"]
    assert len(compounds) + len(removed) == 76
    assert not set(compounds.compound_id) & set(removed.compound_id)
    assert compounds.osm_id.str.fullmatch(r"(way|relation)/\d+").all()
    assert set(compounds["type"]) == set(vocab.COMPOUND_TYPES)
    named = compounds[~compounds.name.str.startswith("无名小区")]
    assert {"太嘉小区", "山西大学家属区", "老军营西区"} <= set(named.name)
    assert (compounds.households > 0).all()
    # Large compounds hold several grids' worth of households.
    assert (compounds.households > 500).sum() >= 5


def test_grids_tile_the_study_area(metric):
    grids = metric["grids"]
    geoms = grids.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    shared = shapely.area(shapely.intersection(geoms[a[keep]], geoms[b[keep]]))
    assert shared.max(initial=0) < 1.0, "grids overlap"
    assert grid_gaps(grids, "grid_id").empty, "gaps between grids"
    # Communities are unions of their grids: together they cover exactly the same ground.
    area = shapely.union_all(geoms)
    communities = shapely.union_all(metric["communities"].geometry.to_numpy())
    assert shapely.area(shapely.symmetric_difference(area, communities)) < 1.0
    assert abs(shapely.area(area) - shapely.area(geoms).sum()) < 1.0


def test_every_grid_lies_in_exactly_one_community(sample, metric):
    communities = metric["communities"]
    assert 4 <= len(communities) <= 8
    assert sample["grids"].community.isin(communities.name).all()
    inner = shapely.point_on_surface(metric["grids"].geometry.to_numpy())
    gi, ci = shapely.STRtree(communities.geometry.to_numpy()).query(inner, predicate="within")
    assert np.bincount(gi, minlength=len(inner)).tolist() == [1] * len(inner)
    assert (communities.name.to_numpy()[ci] == sample["grids"].community.to_numpy()[gi]).all()
    assert sample["grids"].groupby("community").size().max() <= 40


def test_every_building_lies_in_exactly_one_grid(sample, metric):
    buildings, grids = metric["buildings"], metric["grids"]
    inner = shapely.point_on_surface(buildings.geometry.to_numpy())
    bi, gi = shapely.STRtree(grids.geometry.to_numpy()).query(inner, predicate="within")
    assert np.bincount(bi, minlength=len(buildings)).tolist() == [1] * len(buildings)
    # Synthetic footprints lie wholly in their grid: grid edges never cut them.
    synthetic = buildings.synthetic.to_numpy()[bi]
    shrunk = shapely.buffer(buildings.geometry.to_numpy()[bi[synthetic]], -0.05)
    assert shapely.within(shrunk, grids.geometry.to_numpy()[gi[synthetic]]).all()
    # Grid households are its buildings' households.
    sums = np.bincount(gi, weights=buildings.households.to_numpy()[bi], minlength=len(grids))
    assert (sums.astype(int) == sample["grids"].households.to_numpy()).all()


def test_synthetic_buildings_are_inside_their_compound_and_apart(sample, metric):
    buildings = metric["buildings"]
    synth = buildings[buildings.synthetic]
    assert synth.compound_id.notna().all()
    assert synth.osm_id.isna().all()
    real = buildings[~buildings.synthetic]
    assert real.osm_id.str.fullmatch(r"(way|relation)/\d+").all()
    outlines = pd.concat([metric["compounds"][["compound_id", "geometry"]],
                          metric["removed_outlines"][["compound_id", "geometry"]]]).set_index("compound_id")
    own = outlines.geometry.reindex(synth.compound_id).to_numpy()
    assert shapely.within(shapely.buffer(synth.geometry.to_numpy(), -0.05), own).all()
    # Not overlapping one another: the union's area is the sum of the areas.
    geoms = synth.geometry.to_numpy()
    assert shapely.area(geoms).sum() - shapely.area(shapely.union_all(geoms)) < 1.0
    # Not crossing a street.
    streets = metric["streets"].geometry.to_numpy()
    si, _ = shapely.STRtree(geoms).query(streets, predicate="intersects")
    assert len(si) == 0
    # Realistic sizes: slabs 12–15 m deep and at most 60 m long; village houses and villas.
    short, long = rectangle_sides(geoms)
    assert ((short > 7.9) & (short < 15.1) & (long < 60.1)).all()
    assert (long > 40).sum() > len(geoms) / 4


def rectangle_sides(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Short and long sides (m) of each geometry's minimum rotated rectangle."""
    ring = shapely.get_exterior_ring(shapely.oriented_envelope(geoms))
    coords, index = shapely.get_coordinates(ring, return_index=True)
    first = np.searchsorted(index, np.arange(len(geoms)))
    a = np.hypot(*(coords[first + 1] - coords[first]).T)
    b = np.hypot(*(coords[first + 2] - coords[first + 1]).T)
    return np.minimum(a, b), np.maximum(a, b)


def test_buildings_households_and_members(sample):
    b = sample["buildings"]
    assert (b.households >= 0).all() and (b.party_members >= 0).all()
    assert (b.party_members <= b.households).all()
    assert (b.party_members < 3).any() and (b.party_members >= 3).any()
    per_compound = b.groupby("compound_id").party_members.sum()
    assert (per_compound > 50).any(), "no compound large enough for a general branch"
    rate = b.party_members.sum() / b.households.sum()
    assert 0.03 <= rate <= 0.12
    # A compound's households are its buildings' households.
    compounds = sample["compounds"].set_index("compound_id")
    built = b.groupby("compound_id").households.sum()
    common = built.index.intersection(compounds.index)
    assert (built[common] == compounds.households[common]).all()
    # Withheld compounds keep their buildings.
    removed = set(sample["removed_outlines"].compound_id)
    assert 3 <= len(removed) <= 5
    assert removed <= set(b.compound_id.dropna())


def test_member_ledger_matches_buildings(sample):
    members, b = sample["members"], sample["buildings"]
    counts = members.groupby("building_id").size()
    expected = b.set_index("building_id").party_members
    assert (counts.reindex(expected.index, fill_value=0) == expected).all()
    assert set(members.building_id) <= set(b.building_id)
    assert set(members.category) <= {"直管党员", "流动党员", "在职党员", "离退休党员"}
    assert members.phone.str.fullmatch(r"1380000\d{4}").all()
    assert members.phone.is_unique
    assert members.name.str.len().between(2, 3).all()


def test_grid_workers_cover_microgrids_but_some_short(sample):
    grids = sample["grids"].set_index("grid_id")
    need = np.maximum(1, np.ceil(grids.households / 65)).astype(int)
    have = sample["grid_workers"].groupby("grid_id").size().reindex(grids.index, fill_value=0)
    assert set(sample["grid_workers"].grid_id) <= set(grids.index)
    assert ((have == need) | (have == need - 1)).all()
    assert (have < need).any() and (have == need).sum() > len(grids) / 2


def test_stations_lie_in_their_community_near_streets(metric):
    stations, communities = metric["stations"], metric["communities"].set_index("name")
    counts = stations.groupby("community").size()
    assert set(counts.index) == set(communities.index)
    assert counts.between(1, 2).all()
    assert shapely.within(stations.geometry.to_numpy(),
                          communities.geometry.reindex(stations.community).to_numpy()).all()
    streets = shapely.union_all(metric["streets"].geometry.to_numpy())
    assert (shapely.distance(stations.geometry.to_numpy(), streets) < 1.0).mean() >= 0.5


def test_every_situation_occurs(classified):
    counts = classified.counts()
    for situation in ("large_compound", "large_grid", "equal", "mixed"):
        assert counts["compounds"][situation] > 0, situation
    for situation in vocab.GRID_SITUATIONS:
        assert counts["grids"][situation] > 0, situation


def test_grids_hold_roughly_300_to_500_households(sample):
    households = sample["grids"].households
    populated = households[households > 0]
    assert 300 <= populated.median() <= 500
    assert (populated > 700).sum() == 0


def test_sample_is_small_and_attributed():
    folder = ROOT / "boundaries"
    assert sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) <= 4 * 2**20
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors, ODbL 1.0" in readme
    for removed in gpd.read_file(folder / "removed_outlines.geojson").compound_id:
        assert removed in readme
    assert "OpenStreetMap contributors" in (ROOT / "NOTICE").read_text(encoding="utf-8")


@pytest.mark.skipif(not SOURCE.exists(), reason="the OSM extract is not at ../shared/data/taiyuan-osm")
def test_make_sample_reproduces_the_files(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "boundaries" / "make_sample.py"), "--quiet",
                          "--source", str(SOURCE), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "mixed" in run.stdout  # the counts are printed
    folder = ROOT / "boundaries"
    made = sorted(p.name for p in tmp_path.iterdir())
    shipped = sorted(p.name for p in folder.iterdir() if p.suffix in (".geojson", ".csv"))
    assert made == shipped
    for name in made:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name
