"""The three-situation rule (DESIGN §2) on constructed cases, edges, and as a property."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import polygons
from gridmap import classify
from gridmap.errors import RepairWarning, SliverWarning


def situations(compounds, grids, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = classify(polygons(compounds, "compound_id"), polygons(grids, "grid_id"), **kw)
    return (dict(zip(r.compounds.compound_id, r.compounds.situation)),
            dict(zip(r.grids.grid_id, r.grids.situation)), r)


def test_large_compound_nested_grids():
    c, g, r = situations({"A": (0, 0, 100, 100)},
                         {"g1": (0, 0, 50, 100), "g2": (50, 0, 100, 100)})
    assert c == {"A": "large_compound"}
    assert g == {"g1": "large_compound", "g2": "large_compound"}
    row = r.compounds.iloc[0]
    assert row.grid_ids == "g1;g2" and row.main_share == pytest.approx(0.5)


def test_large_grid_several_compounds():
    c, g, _ = situations({"A": (0, 0, 40, 40), "B": (50, 0, 90, 40)}, {"g": (-10, -10, 100, 50)})
    assert c == {"A": "large_grid", "B": "large_grid"}
    assert g == {"g": "large_grid"}


def test_equal_one_to_one():
    c, g, _ = situations({"A": (0, 0, 100, 100)}, {"g": (-1, -1, 101, 101)})
    assert c == {"A": "equal"} and g == {"g": "equal"}


def test_mixed_straddling_compound_marks_its_grids():
    # A straddles g1 and g2, which also hold B and C: neither nests only A.
    c, g, _ = situations({"A": (40, 0, 60, 40), "B": (0, 0, 30, 40), "C": (70, 0, 100, 40)},
                         {"g1": (0, 0, 50, 40), "g2": (50, 0, 100, 40)})
    assert c == {"A": "mixed", "B": "large_grid", "C": "large_grid"}
    assert g == {"g1": "mixed", "g2": "mixed"}


def test_uncovered_and_no_compound():
    c, g, r = situations({"A": (0, 0, 10, 10)}, {"g": (100, 100, 200, 200)})
    assert c == {"A": "uncovered"} and g == {"g": "no_compound"}
    assert pd.isna(r.compounds.main_grid_id.iloc[0]) and r.compounds.grid_ids.iloc[0] == ""


def test_several_grids_one_not_nested_is_mixed():
    # g2 is mostly outside A (only 20% inside): A has two grids, one does not nest → mixed.
    c, g, _ = situations({"A": (0, 0, 100, 100)}, {"g1": (0, 0, 80, 100), "g2": (80, 0, 180, 100)})
    assert c["A"] == "mixed" and g == {"g1": "mixed", "g2": "mixed"}


def test_grid_exactly_half_inside_nests():
    # g2 has exactly half of its area in A: nest is "at least 0.5", so it nests.
    c, _, r = situations({"A": (0, 0, 100, 100)}, {"g1": (0, 0, 50, 100), "g2": (50, 0, 150, 100)})
    share = r.overlaps.set_index("grid_id").share_of_grid["g2"]
    assert share == pytest.approx(0.5)
    assert c["A"] == "large_compound"
    c, _, _ = situations({"A": (0, 0, 100, 100)}, {"g1": (0, 0, 50, 100), "g2": (50, 0, 150.5, 100)})
    assert c["A"] == "mixed"


@pytest.mark.parametrize("width, significant", [(4.9, False), (5.0, True), (5.1, True)])
def test_sliver_threshold(width, significant):
    # Compound 100×100 = 10,000 m²; g2 (200×200) overlaps it by width×100: share of compound
    # = width/100, share of g2 ≤ 2.5 % — so the compound's share decides.
    c, g, r = situations({"A": (0, 0, 100, 100)},
                         {"g1": (-1, -1, 100 - width, 101), "g2": (100 - width, -100, 300, 100)})
    ov = r.overlaps.set_index("grid_id")
    assert bool(ov.significant["g2"]) is significant
    if significant:
        assert c["A"] == "mixed"
    else:
        assert c["A"] == "equal" and g["g2"] == "no_compound"
        assert r.compounds.sliver_grid_ids.iloc[0] == "g2"


def test_sliver_significant_by_grid_share():
    # A tiny grid mostly inside a huge compound: 4 % of the compound but 100 % of the grid.
    c, _, r = situations({"A": (0, 0, 100, 100)}, {"g1": (0, 0, 98, 100), "g2": (98, 0, 100, 100)})
    assert r.overlaps.significant.all()
    assert c["A"] == "large_compound"


def test_sliver_warning_is_raised():
    with pytest.warns(SliverWarning):
        classify(polygons({"A": (0, 0, 100, 100)}, "compound_id"),
                 polygons({"g1": (0, 0, 99, 100), "g2": (99, 0, 300, 100)}, "grid_id"))


def test_bow_tie_is_repaired_not_lost():
    bow = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])  # two triangles of 2,500 m²
    with pytest.warns(RepairWarning):
        r = classify(polygons({"A": bow}, "compound_id"), polygons({"g": (-1, -1, 101, 101)}, "grid_id"))
    assert r.compounds.area_m2.iloc[0] == pytest.approx(5000, rel=1e-6)  # buffer(0) would keep one
    assert r.compounds.situation.iloc[0] == "equal"


def test_multipolygon_and_holes():
    two = shapely.MultiPolygon([shapely.box(0, 0, 40, 40), shapely.box(60, 0, 100, 40)])
    ring = shapely.box(200, 0, 300, 100).difference(shapely.box(225, 25, 275, 75))  # a hole
    c, g, r = situations({"M": two, "R": ring},
                         {"gm1": (0, 0, 40, 40), "gm2": (60, 0, 100, 40), "hole": (225, 25, 275, 75),
                          "gr": (200, 0, 300, 100)})
    assert c["M"] == "large_compound"           # both parts have a grid of their own
    assert g["hole"] == "no_compound"           # the hole is not the compound's land
    areas = dict(zip(r.compounds.compound_id, r.compounds.area_m2))
    assert areas["R"] == pytest.approx(7500)
    assert c["R"] == "equal"                    # gr overlaps the hole-free part only
    assert r.overlaps.set_index("grid_id").share_of_grid["gr"] == pytest.approx(0.75)


def test_input_attributes_and_positions_kept():
    comps = polygons({"A": (0, 0, 10, 10), "B": (20, 0, 30, 10)}, "小区编码", 名称=["甲", "乙"])
    comps.index = [7, 3]
    r = classify(comps, polygons({"g": (0, 0, 30, 10)}, "WGBM"))
    assert list(r.compounds.index) == [7, 3]
    assert list(r.compounds.columns[:5]) == ["compound_id", "situation", "grid_ids", "main_grid_id", "main_share"]
    assert list(r.compounds["名称"]) == ["甲", "乙"] and r.grid_id == "WGBM"


def reference(compounds: dict, grids: dict, sliver: float, nest: float):
    """The rule of DESIGN §2 written plainly, pair by pair, to check the vectorised one."""
    sig = {}
    for c, cg in compounds.items():
        for g, gg in grids.items():
            a = cg.intersection(gg).area
            if a > 0 and (a / cg.area >= sliver or a / gg.area >= sliver):
                sig[c, g] = a / gg.area
    grids_of = {c: {g for (cc, g) in sig if cc == c} for c in compounds}
    comps_of = {g: {c for (c, gg) in sig if gg == g} for g in grids}
    cs = {}
    for c, gs in grids_of.items():
        if not gs:
            cs[c] = "uncovered"
        elif len(gs) == 1:
            cs[c] = "equal" if comps_of[next(iter(gs))] == {c} else "large_grid"
        elif all(sig[c, g] >= nest and comps_of[g] == {c} for g in gs):
            cs[c] = "large_compound"
        else:
            cs[c] = "mixed"
    gs_ = {}
    for g, cset in comps_of.items():
        if not cset:
            gs_[g] = "no_compound"
        elif any(cs[c] == "mixed" for c in cset):
            gs_[g] = "mixed"
        elif len(cset) == 1:
            gs_[g] = "large_compound" if cs[next(iter(cset))] == "large_compound" else "equal"
        else:
            gs_[g] = "large_grid"
    return cs, gs_


boxes = st.tuples(st.integers(0, 90), st.integers(0, 90), st.integers(2, 60), st.integers(2, 60)).map(
    lambda t: shapely.box(t[0], t[1], t[0] + t[2], t[1] + t[3]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(boxes, min_size=1, max_size=6), st.lists(boxes, min_size=1, max_size=8),
       st.sampled_from([0.0, 0.05, 0.2]), st.sampled_from([0.3, 0.5, 0.9]))
def test_rule_matches_reference(comp_boxes, grid_boxes, sliver, nest):
    compounds = {f"c{i}": b for i, b in enumerate(comp_boxes)}
    grids = {f"g{i}": b for i, b in enumerate(grid_boxes)}
    c, g, r = situations(compounds, grids, sliver=sliver, nest=nest)
    assert (c, g) == reference(compounds, grids, sliver, nest)
    # Invariants of the output tables.
    assert set(r.compounds.situation) <= {"large_compound", "large_grid", "equal", "mixed", "uncovered"}
    assert (r.overlaps.share_of_compound <= 1).all() and (r.overlaps.share_of_grid <= 1).all()
    uncovered = r.compounds.situation == "uncovered"
    assert (r.compounds.grid_ids[uncovered] == "").all() and (r.compounds.grid_ids[~uncovered] != "").all()


def test_overlap_areas_match_geopandas_overlay():
    import geopandas as gpd

    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 1000, (60, 2))
    comps = polygons({f"c{i}": shapely.Point(p).buffer(rng.uniform(20, 80), 5) for i, p in enumerate(pts)}, "compound_id")
    grids = polygons({f"g{i}": shapely.box(x, y, x + 100, y + 100) for i, (x, y) in
                      enumerate((x, y) for x in range(0, 1000, 100) for y in range(0, 1000, 100))}, "grid_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine = classify(comps, grids).overlaps.set_index(["compound_id", "grid_id"]).overlap_m2
        ref = gpd.overlay(comps, grids, how="intersection", keep_geom_type=True)
    ref = ref.assign(a=ref.area).set_index(["compound_id", "grid_id"]).a
    ref = ref[ref > 0]
    joined = pd.concat([mine, ref], axis=1).fillna(0)
    assert np.allclose(joined.iloc[:, 0], joined.iloc[:, 1], atol=0.01)
