"""Alignment proposals: the guarantees of issue 3 as properties, on constructed cases, the bundled
sample and a synthetic city, plus the options, the outputs and bad input."""

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
from gridmap.align import align, check_range, equal_area_strips
from gridmap.errors import GridmapError

TOL_M2 = 0.05


# ------------------------------------------------------------------ the guarantees


def assert_valid_proposal(result, compounds: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, *,
                          keep=(), households="households", low=300.0, high=500.0, nest=0.5):
    """Every guarantee of the issue, checked against the inputs (not against the algorithm)."""
    crs = result.before.crs
    G = grids.to_crs(crs).set_index("grid_id").geometry
    P = result.grids.to_crs(crs).set_index("grid_id").geometry
    C = compounds.to_crs(crs).geometry.to_numpy()
    new = P.to_numpy()

    # Proposed grids do not overlap.
    a, b = shapely.STRtree(new).query(new, predicate="intersects")
    pair = a < b
    overlap = shapely.area(shapely.intersection(new[a[pair]], new[b[pair]]))
    assert overlap.max(initial=0) <= TOL_M2, f"grids overlap by {overlap.max():.3f} m²"

    # No territory is lost or gained.
    before_union = shapely.union_all(G.to_numpy())
    after_union = shapely.union_all(new)
    assert shapely.area(shapely.symmetric_difference(before_union, after_union)) <= 10 * TOL_M2

    # Every compound that was covered stays covered (grids do not overlap, so the areas it shares
    # with each grid add up to its own).
    covered = shapely.area(shapely.difference(C, before_union)) <= 1e-6
    ci, gi = shapely.STRtree(new).query(C, predicate="intersects")
    shared = np.bincount(ci, weights=shapely.area(shapely.intersection(C[ci], new[gi])), minlength=len(C))
    assert (np.abs(shared - shapely.area(C))[covered]).max(initial=0) <= TOL_M2

    # Re-classifying leaves no straddling compound in scope, except where kept grids forbid it or
    # a compound's part inside the grids is in pieces apart (it leaves their area and comes back).
    assert result.summary["straddling_in_scope_after"] == len(result.unresolved)
    apart = result.unresolved.reason.str.contains("pieces apart")
    assert (result.unresolved.reason[~apart].str.contains("kept grid")).all()
    if not keep:
        assert apart.all()
    partly_out = set(compounds.compound_id[~covered])
    assert set(result.unresolved.compound_id[apart]) <= partly_out

    # Every rebuilt grid is one piece; unchanged grids are the input geometries, exactly.
    status = result.grids.set_index("grid_id").status
    rebuilt = status[status != "kept"].index
    assert (shapely.get_num_geometries(P[rebuilt].to_numpy()) == 1).all()
    assert (shapely.get_type_id(P[rebuilt].to_numpy()) == 3).all()
    for gid in status[status == "kept"].index:
        assert P[gid].equals_exact(G[gid], 0), gid
    for gid in keep:
        assert status[gid] == "kept" and P[gid].equals_exact(G[gid], 0)

    # Grid ids are kept for surviving grids; new ids are new.
    table = result.table.set_index("grid_id")
    assert set(G.index) <= set(table.index)
    assert set(table.index[table.status == "removed"]).isdisjoint(P.index)
    assert set(P.index) - set(G.index) == set(table.index[table.status == "new"])
    assert P.index.is_unique

    # Only what must move moves: land leaves a grid only inside a straddling compound, inside a
    # grid that tiles one, or in a piece cut off from the rest of its grid.
    mixed = result.before.compounds.situation.to_numpy() == "mixed"
    straddling = shapely.union_all(C[mixed])
    ov = result.before.overlaps
    nesting = ov[ov.compound_id.isin(result.before.compounds.compound_id[mixed]) & (ov.share_of_grid >= nest)]
    tiles = set(nesting.grid_id)
    if households in compounds.columns and result.summary["capacity_enforced"]:
        # With household figures a grid also tiles a large compound when its households live
        # there and the rest of them could not make a grid (its other ground is released).
        hh = compounds.set_index("compound_id")[households]
        w = ov.assign(w=hh.reindex(ov.compound_id).to_numpy() * ov.share_of_compound)
        load = w.groupby("grid_id").w.sum()
        big = result.before.compounds.compound_id[mixed & (hh.reindex(result.before.compounds.compound_id) > high).to_numpy()]
        viable = w[w.compound_id.isin(big) & w.significant & (w.w >= low) & (load.reindex(w.grid_id).to_numpy() - w.w < low)]
        tiles |= set(viable.grid_id)
    allowed = [straddling, *G[sorted(tiles)].to_numpy()]
    tiling = tiles
    # A compound's sliver in a grid that shrinks can become significant (DESIGN §2 measures
    # shares of the grid too): such compounds are aligned in turn.
    changed = set(table.index[table.status != "kept"])
    sliver = ov[~ov.significant & ov.grid_id.isin(changed)].compound_id.unique()
    allowed.extend(compounds.to_crs(crs).set_index("compound_id").geometry[sliver].to_numpy())
    for gid in table.index[(table.status != "kept") & table.index.isin(G.index)]:
        rest = shapely.get_parts(shapely.difference(G[gid], straddling))
        rest = rest[shapely.area(rest) > TOL_M2]
        if len(rest) > 1:
            # Cut apart: all but one piece may go (which one stays is the grid's choice).
            allowed.extend(rest)
            if gid in P.index and gid not in tiling:
                kept_share = shapely.area(shapely.intersection(rest, P[gid])) / shapely.area(rest)
                assert kept_share.max() >= 0.99, gid
    allowed = shapely.union_all(allowed)
    left = [shapely.difference(G[g], P[g]) if g in P.index else G[g]
            for g in table.index[(table.status != "kept") & table.index.isin(G.index)]]
    moved = shapely.union_all(left) if left else shapely.Polygon()
    assert shapely.area(shapely.difference(moved, allowed)) <= 10 * TOL_M2

    # Households are conserved (compounds keep their households, wherever they go).
    if households in compounds.columns and result.summary["capacity_enforced"]:
        assert table.households_before.sum() == pytest.approx(table.households_after.sum(), abs=1.0)


# ------------------------------------------------------------------ constructed cases


@st.composite
def towns(draw):
    """Voronoi grids over a square and non-overlapping compounds (rotated boxes, L shapes)."""
    seed = draw(st.integers(0, 2**32 - 1))
    with_households = draw(st.booleans())
    rng = np.random.default_rng(seed)
    size = 600.0
    pts = rng.uniform(0, size, (rng.integers(3, 14), 2))
    frame = shapely.box(0, 0, size, size)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    grids = gpd.GeoDataFrame({"grid_id": [f"G{i}" for i in range(len(cells))]}, geometry=cells, crs=4547)
    comps = []
    for _ in range(rng.integers(2, 20)):
        cx, cy = rng.uniform(-20, size + 20, 2)
        w, h = rng.uniform(15, 200, 2)
        shape = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if rng.random() < 0.3:
            shape = shape.difference(shapely.box(cx, cy, cx + w, cy + h))
        shape = shapely.affinity.rotate(shape, rng.uniform(0, 180))
        if all(not shape.intersects(o) for o in comps):
            comps.append(shape)
    columns = {"compound_id": [f"C{i}" for i in range(len(comps))],
               "type": rng.choice(["老旧型", "居住型"], len(comps))}
    if with_households:
        columns["households"] = np.round(shapely.area(comps) / 40 * rng.uniform(0.3, 2, len(comps)))
    compounds = gpd.GeoDataFrame(columns, geometry=comps, crs=4547)
    keep = list(rng.choice(grids.grid_id, rng.integers(0, 2), replace=False)) if draw(st.booleans()) else []
    return compounds, grids, keep


import shapely.affinity  # noqa: E402  (used by the strategy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(towns())
def test_guarantees_hold_on_constructed_towns(town):
    compounds, grids, keep = town
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = align(compounds, grids, keep=keep)
    assert_valid_proposal(result, compounds, grids, keep=keep)


@settings(max_examples=15, deadline=None)
@given(towns())
def test_types_limit_the_work(town):
    compounds, grids, _ = town
    if "老旧型" not in set(compounds.type):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = align(compounds, grids, types=["老旧型"])
    assert_valid_proposal(result, compounds, grids)
    before = result.before.compounds.set_index("compound_id")
    after = result.after.compounds.set_index("compound_id")
    old = before.type == "老旧型"
    assert result.summary["straddling_in_scope_before"] == int((old & (before.situation == "mixed")).sum())
    assert not (after.situation[old] == "mixed").any()
    # Compounds of other types are not aligned: one that straddled and lies in grids left as they
    # were still straddles.
    status = result.grids.set_index("grid_id").status
    for cid in before.index[~old & (before.situation == "mixed")]:
        grids_of = before.grid_ids[cid].split(";")
        if all(status.get(g) == "kept" for g in grids_of) and cid not in set(result.changes.compound_id):
            assert after.situation[cid] == "mixed", cid


def _lattice():
    cells = {f"G{x}{y}": (x * 100, y * 100, x * 100 + 100, y * 100 + 100) for y in range(3) for x in range(3)}
    return polygons(cells, "grid_id")


def test_a_straddling_compound_moves_into_its_largest_share():
    grids = _lattice()
    compounds = polygons({"A": (60, 10, 160, 60), "B": (10, 110, 50, 150)}, "compound_id",
                         households=[200, 150])
    result = align(compounds, grids)
    assert result.summary["straddling_before"] == 1 and result.summary["straddling_after"] == 0
    ch = result.changes
    assert list(zip(ch.compound_id, ch.from_grid_id, ch.to_grid_id)) == [("A", "G00", "G10")]
    assert ch.area_m2.iloc[0] == pytest.approx(2000) and ch.households.iloc[0] == pytest.approx(80)
    status = result.grids.set_index("grid_id").status
    assert status["G00"] == status["G10"] == "changed" and (status.drop(["G00", "G10"]) == "kept").all()
    assert result.summary["households_moved"] == pytest.approx(80)
    assert result.summary["land_moved_m2"] == pytest.approx(2000, abs=0.1)
    assert_valid_proposal(result, compounds, grids)


def test_capacity_sends_a_compound_to_the_grid_with_room():
    grids = _lattice()
    # A lies 60 % in G10, which already holds 450 households: it goes to G00 instead.
    compounds = polygons({"A": (60, 10, 160, 60), "FULL": (165, 10, 190, 90)}, "compound_id",
                         households=[200, 450])
    result = align(compounds, grids)
    assert set(result.changes.to_grid_id) == {"G00"}
    per = result.table.set_index("grid_id")
    assert per.households_after["G00"] == pytest.approx(200)
    assert per.households_after["G10"] == pytest.approx(450)
    # Without household figures areas decide: the largest share wins.
    result = align(compounds.drop(columns="households"), grids)
    assert set(result.changes.to_grid_id) == {"G10"}
    assert not result.summary["capacity_enforced"] and result.summary["households_moved"] is None


def test_a_compound_too_large_for_one_grid_is_tiled_by_grids_inside_it():
    grids = _lattice()
    # 1,200 households over six grids, none of which nests in it. G10 and G11 hold a third of it
    # each and nothing else: they tile it (their open land goes to neighbours); the corners
    # (133 households each) join them or make new grids.
    compounds = polygons({"BIG": (60, 60, 240, 140)}, "compound_id", households=[1200])
    result = align(compounds, grids)
    assert_valid_proposal(result, compounds, grids)
    assert result.after.compounds.situation.iloc[0] == "large_compound"
    tiles = result.grids[result.grids.compound_ids == "BIG"]
    assert {"G10", "G11"} <= set(tiles.grid_id) and len(tiles) >= 3
    assert tiles.households.sum() == pytest.approx(1200) and (tiles.households <= 500).all()
    big = compounds.geometry.iloc[0]
    assert all(big.buffer(0.01).contains(g) for g in tiles.geometry)
    # Its piece in H is too small for a grid of its own: the whole compound is cut into
    # ceil(1,200 / 500) = 3 strips of equal area.
    alone = polygons({"BIG": (10, 10, 105, 90)}, "compound_id", households=[1200])
    one = polygons({"G": (0, 0, 100, 100), "H": (100, 0, 200, 100)}, "grid_id")
    result = align(alone, one)
    tiles = result.grids[result.grids.compound_ids == "BIG"]
    assert sorted(tiles.grid_id) == ["G", "G-1", "G-2"]
    assert np.allclose(tiles.households, 400, atol=0.5)
    assert_valid_proposal(result, alone, one)


def test_grids_nesting_in_a_large_compound_tile_it_and_release_their_outer_land():
    grids = _lattice()
    # 900 households over G00 and G10 (each 80 % inside) and a sliver of G01.
    compounds = polygons({"BIG": (0, 0, 200, 80), "SMALL": (20, 85, 60, 98)}, "compound_id",
                         households=[900, 40])
    result = align(compounds, grids)
    assert_valid_proposal(result, compounds, grids)
    p = result.grids.set_index("grid_id")
    assert p.geometry["G00"].equals_exact(shapely.box(0, 0, 100, 80), 1e-6) or \
        shapely.area(shapely.symmetric_difference(p.geometry["G00"], shapely.box(0, 0, 100, 80))) < TOL_M2
    assert set(result.after.grids.set_index("grid_id").situation[["G00", "G10"]]) == {"large_compound"}
    # SMALL sat in G00's outer strip (40 households, under the minimum): it joined a neighbour.
    assert result.after.compounds.set_index("compound_id").situation["SMALL"] in ("equal", "large_grid")


def test_cut_off_pieces_join_the_neighbour_with_the_longest_border():
    # G1 is a thin band between G0 and G2; a compound crossing it cuts it in two.
    grids = polygons({"G0": (0, 0, 100, 300), "G1": (100, 0, 120, 300), "G2": (120, 0, 300, 300)}, "grid_id")
    compounds = polygons({"A": (10, 140, 200, 160)}, "compound_id", households=[100])
    result = align(compounds, grids)
    assert_valid_proposal(result, compounds, grids)
    p = result.grids.set_index("grid_id")
    assert shapely.get_num_geometries(p.geometry["G1"]) == 1
    # The cut-off half of G1 (20 m of border with each side grid, 150 m along them) joined one.
    assert p.geometry["G1"].area < 20 * 140 + 1


def test_kept_grids_do_not_change():
    grids = _lattice()
    compounds = polygons({"A": (60, 10, 160, 60), "B": (160, 110, 240, 150)}, "compound_id",
                         households=[200, 150])
    result = align(compounds, grids, keep=["G00"])
    assert_valid_proposal(result, compounds, grids, keep=["G00"])
    assert list(result.unresolved.compound_id) == ["A"]
    assert "G00" in result.unresolved.reason.iloc[0]
    assert result.after.compounds.set_index("compound_id").situation["B"] != "mixed"


def test_equal_area_strips_cut_evenly():
    poly = shapely.Polygon([(0, 0), (300, 40), (280, 140), (-10, 100)])
    strips, owner = equal_area_strips(np.array([poly, shapely.box(0, 0, 10, 10)]), np.array([3, 2]))
    assert list(owner) == [0, 0, 0, 1, 1]
    assert np.allclose(shapely.area(strips[:3]), poly.area / 3, rtol=1e-4)
    assert shapely.area(shapely.union_all(strips[:3])) == pytest.approx(poly.area)


# ------------------------------------------------------------------ options and bad input


def test_bad_input_is_named():
    grids = _lattice()
    compounds = polygons({"A": (60, 10, 160, 60)}, "compound_id", households=[200], type=["老旧型"])
    with pytest.raises(GridmapError, match="G99.*G98|G98.*G99"):
        align(compounds, grids, keep=["G99", "G00", "G98"])
    with pytest.raises(GridmapError, match="户数"):
        align(compounds, grids, households="户数")
    with pytest.raises(GridmapError, match="居住型.*老旧型"):
        align(compounds, grids, types=["居住型"])
    with pytest.raises(GridmapError, match="MIN:MAX"):
        check_range("many")
    with pytest.raises(GridmapError, match="MIN"):
        check_range((500, 300))
    text = compounds.assign(households=["lots"])
    with pytest.raises(GridmapError, match="households.*A"):
        align(text, grids)


# ------------------------------------------------------------------ real and synthetic data


def test_guarantees_hold_on_the_sample(sample_dir):
    compounds = gpd.read_file(sample_dir / "compounds.geojson")
    grids = gpd.read_file(sample_dir / "grids.geojson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = align(compounds, grids)
    assert result.summary["straddling_before"] > 0
    assert_valid_proposal(result, compounds, grids)


def test_guarantees_hold_on_a_synthetic_city():
    from synthcity import make_city

    city = make_city(scale=0.05, seed=4, buildings=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = align(city["compounds"], city["grids"])
    assert result.summary["straddling_before"] >= 10
    assert_valid_proposal(result, city["compounds"], city["grids"])
    # New grids carry their origin's community (grids never cross a community).
    new = result.grids[result.grids.status == "new"]
    origin = city["grids"].set_index("grid_id").community
    assert (new.community.to_numpy() == origin.reindex(new.origin_grid_id).to_numpy()).all()


# ------------------------------------------------------------------ command line


def gridmap(*args):
    return subprocess.run([sys.executable, "-m", "gridmap", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_cli_writes_the_proposal(sample_dir, tmp_path):
    before = digest(sample_dir)
    out = tmp_path / "out"
    r = gridmap("align", sample_dir / "compounds.geojson", sample_dir / "grids.geojson", "--out", out,
                "--buildings", sample_dir / "buildings.geojson", "--streets", sample_dir / "streets.geojson")
    assert r.returncode == 0, r.stderr
    assert "straddling" in r.stdout and "households" in r.stdout
    grids = gpd.read_file(out / "proposal.gpkg", layer="grids")
    assert list(grids.columns[:4]) == ["grid_id", "status", "households", "area_m2"]
    assert set(grids.status) <= {"kept", "changed", "new"}
    changes = gpd.read_file(out / "proposal.gpkg", layer="changes")
    assert list(changes.columns[:5]) == ["compound_id", "from_grid_id", "to_grid_id", "area_m2", "households"]
    table = pd.read_csv(out / "proposal.csv", encoding="utf-8-sig")
    assert {"households_before", "households_after", "area_m2_before", "area_m2_after", "changed"} <= set(table.columns)
    inferred = gpd.read_file(out / "inferred.gpkg", layer="compounds")
    assert len(inferred) == 4
    assert digest(sample_dir) == before


def test_cli_messages(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _lattice().to_file(folder / "grids.geojson")
    polygons({"A": (60, 10, 160, 60)}, "compound_id").to_file(folder / "compounds.geojson")
    r = gridmap("align", folder / "compounds.geojson", folder / "grids.geojson", "--out", tmp_path / "o",
                "--keep", "G00,NOPE")
    assert r.returncode == 1 and "NOPE" in r.stderr and "Traceback" not in r.stderr
    r = gridmap("align", folder / "compounds.geojson", folder / "grids.geojson", "--out", tmp_path / "o")
    assert r.returncode == 0 and "not enforced" in r.stdout
