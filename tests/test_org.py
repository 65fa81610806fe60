"""Organisation layout (gridmap.org): situations, thresholds, groups, outputs, bad input."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from shapely.geometry import Point, box
from typer.testing import CliRunner

import gridmap
from gridmap.cli import app
from gridmap.errors import GridmapError, PlacementWarning
from gridmap.org import (CATEGORY_COLUMNS, UNIT_COLUMNS, Thresholds, merge_organisations, organise, read_ledger,
                         write_organisation)
from gridmap.org.layout import bisect_members, building_groups
from gridmap import vocab
from gridmap.org.model import reason_label
from gridmap.org.tables import ROSTER_HEADERS, document, document_json

CRS = "EPSG:4547"
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "boundaries"


# ------------------------------------------------------------------ constructed layouts


def gdf(rows: dict, geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)


def row_of_equals(counts: list[list[int]], community: str = "甲"):
    """Compounds X0, X1, … side by side, each alone in its own grid (``equal``); compound i holds
    one building per entry of counts[i], 10 m apart, with that many members."""
    n = len(counts)
    grids = gdf({"grid_id": [f"G{i}" for i in range(n)], "name": [f"{i}号网格" for i in range(n)],
                 "community": community}, [box(i * 100, 0, i * 100 + 100, 100) for i in range(n)])
    comps = gdf({"compound_id": [f"X{i}" for i in range(n)], "name": [f"X{i}苑" for i in range(n)]},
                [box(i * 100 + 5, 5, i * 100 + 95, 95) for i in range(n)])
    bids, pts, pm = [], [], []
    for i, row in enumerate(counts):
        for j, m in enumerate(row):
            bids.append(f"{i}{j:02d}")
            pts.append(Point(i * 100 + 10 + 8 * (j % 10), 10 + 8 * (j // 10)))
            pm.append(m)
    buildings = gdf({"building_id": bids, "party_members": pm, "households": 30}, pts)
    return gridmap.classify(comps, grids), buildings


def town():
    """Every situation: A spans G1, G2 (large_compound); B and C share G3 (large_grid); D alone in G4
    (equal); E straddles G5 and G6 (mixed, main grid G5); G6 also has a loose building."""
    grids = gdf({"grid_id": ["G1", "G2", "G3", "G4", "G5", "G6"],
                 "name": ["龙城一网格", "龙城二网格", "三网格", "四网格", "五网格", "六网格"],
                 "community": ["甲", "甲", "甲", "乙", "乙", "乙"]},
                [box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100),
                 box(0, 100, 100, 200), box(100, 100, 200, 200), box(200, 100, 300, 200)])
    comps = gdf({"compound_id": ["A", "B", "C", "D", "E"], "name": ["龙城花园", "B苑", "C苑", "D苑", "E苑"]},
                [box(0, 0, 200, 100), box(210, 10, 250, 90), box(255, 10, 295, 90),
                 box(5, 105, 95, 195), box(120, 110, 230, 190)])
    spots = {  # building id: (x, y)
        "A1": (20, 20), "A2": (40, 60), "A3": (60, 20), "A4": (80, 70),
        "A5": (120, 20), "A6": (140, 60), "A7": (160, 20), "A8": (180, 70),
        "B1": (220, 30), "B2": (240, 70), "C1": (265, 30), "C2": (285, 70), "L3": (252, 95),
        "D1": (20, 120), "D2": (50, 150), "D3": (80, 180),
        "E1": (130, 130), "E2": (170, 170), "E3": (220, 150), "L6": (270, 120),
    }
    buildings = gdf({"building_id": list(spots), "households": 40},
                    [Point(*xy) for xy in spots.values()])
    return comps, grids, buildings


def with_members(buildings: gpd.GeoDataFrame, counts: dict[str, int], default: int = 0) -> gpd.GeoDataFrame:
    out = buildings.copy()
    out["party_members"] = [counts.get(b, default) for b in out.building_id]
    return out


def ledger_for(counts: dict[str, int], categories=("直管党员", "流动党员", "在职党员", "离退休党员")) -> pd.DataFrame:
    rows = []
    k = 0
    for bid, m in counts.items():
        for _ in range(m):
            rows.append({"member_id": f"M{k:04d}", "name": f"党员{k:04d}", "building_id": bid,
                         "category": categories[k % len(categories)], "phone": f"139{k:08d}"})
            k += 1
    return pd.DataFrame(rows)


def kinds(org) -> dict:
    return org.units.kind.value_counts().to_dict()


def by_name(org, name):
    hit = org.units[org.units.name == name]
    assert len(hit) == 1, (name, org.units.name.tolist())
    return hit.iloc[0]


def children(org, unit_id):
    return org.units[org.units.parent_id == unit_id]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ------------------------------------------------------------------ invariants shared by tests


def check_invariants(org, t: Thresholds = Thresholds()):
    u = org.units
    ids = set(u.unit_id)
    assert u.unit_id.is_unique
    assert set(u.parent_id[u.parent_id != ""]) <= ids
    assert set(u.kind) <= {"committee", "general_branch", "branch", "joint_branch", "group", "central_household"}
    # The community's own unit follows its members: 社区党委, 社区党总支 or 社区党支部.
    roots = u[u.depth == 0]
    assert (roots.kind == roots.members.map(t.community_kind)).all()
    suffix = {"committee": "党委", "general_branch": "党总支", "branch": "党支部"}
    assert all(n.endswith(suffix[k]) for n, k in zip(roots.name, roots.kind))
    assert u[u.depth == 1].kind.isin(["general_branch", "branch", "joint_branch"]).all()
    parent_kind = u.set_index("unit_id").kind.reindex(u.parent_id).to_numpy()
    expect = {"general_branch": set(), "branch": {"general_branch"}, "joint_branch": {"general_branch"},
              "group": {"branch", "joint_branch"}, "central_household": {"group"}}
    deep = u.depth.to_numpy() > 1
    for kind, parents in expect.items():
        assert set(parent_kind[(u.kind.to_numpy() == kind) & deep]) <= parents, kind
    # Counts add up: a unit holds what its children hold (central households are inside groups).
    for rec in u[u.kind.isin(["committee", "general_branch", "branch", "joint_branch"])].itertuples():
        kids = u[(u.parent_id == rec.unit_id)]
        if len(kids):
            assert kids.members.sum() == rec.members, rec.name
    assert (u[CATEGORY_COLUMNS].sum(axis=1) == u.members).all()
    # Every placed member-building is in exactly one group.
    groups = u[u.kind == "group"]
    in_groups = pd.Series(groups.building_ids.str.split(";").explode().tolist())
    in_groups = in_groups[in_groups != ""]
    assert in_groups.is_unique
    b = org.buildings
    housed = b[(b.reason == "") & (b.members > 0)]
    assert set(in_groups) == set(housed.building_id)
    assert groups.members.sum() == housed.members.sum() == org.members_placed
    # Groups reach the minimum wherever their branch does.
    for g in groups.itertuples():
        branch_members = u.set_index("unit_id").members[g.parent_id]
        if branch_members >= t.group_min:
            assert g.members >= t.group_min, g.name
    # Central households are exactly the member-buildings without their own group.
    ch = u[u.kind == "central_household"]
    assert ch.building_ids.is_unique and not ch.building_ids.str.contains(";").any()
    for g in groups.itertuples():
        own = set(g.building_ids.split(";")) - set(ch.building_ids[ch.parent_id == g.unit_id])
        assert len(own) == 1, g.name  # the building the group is named after
        assert set(ch.building_ids[ch.parent_id == g.unit_id]) <= set(g.building_ids.split(";"))
    # Branches hold at most branch_max unless they hold a single building; at least branch_min
    # unless flagged.
    for r in u[u.kind.isin(["branch", "joint_branch"]) & (u.depth > 0)].itertuples():
        if r.members > t.branch_max:
            assert len(children(org, r.unit_id)) == 1 and r.review, r.name
        if r.members < t.branch_min:
            assert r.review, r.name
    gb = u[(u.kind == "general_branch") & (u.depth > 0)]
    assert (gb.members > t.branch_max).all()
    assert (u.has_committee == (u.kind.isin(["committee", "general_branch", "branch", "joint_branch"])
                                & (u.members >= t.committee_min))).all()


# ------------------------------------------------------------------ situations


def test_each_situation_small():
    comps, grids, buildings = town()
    b = with_members(buildings, {}, default=2)  # 40 members in all, 2 per building
    org = organise(gridmap.classify(comps, grids), b)
    check_invariants(org)
    roots = org.units[org.units.depth == 0]
    # 20 members each: fewer than 50, so each community's own unit is a branch (社区党支部).
    assert sorted(roots.name) == ["乙社区党支部", "甲社区党支部"] and (roots.kind == "branch").all()
    a = by_name(org, "龙城花园小区党支部")
    assert a.kind == "branch" and a.situation == "large_compound"
    assert a.compound_ids == "A" and a.grid_ids == "G1;G2" and a.members == 16
    g3 = by_name(org, "三网格党支部")
    assert g3.situation == "large_grid" and g3.compound_ids == "B;C" and g3.members == 10
    # The compound tier: a group per compound (4 members each); the loose building L3 (2 members)
    # joins the nearer one without giving it its name.
    tier = children(org, g3.unit_id)
    assert sorted(tier.name) == ["B苑小区党小组", "C苑小区党小组"] and (tier.kind == "group").all()
    assert sorted(tier.compound_ids) == ["B", "C"] and sorted(tier.members) == [4, 6]
    assert "三网格散居楼院（2名党员）" in " ".join(tier.note)
    d = by_name(org, "D苑小区党支部")
    assert d.situation == "equal" and d.grid_ids == "G4" and d.members == 6
    e = by_name(org, "E苑小区党支部")
    assert e.situation == "mixed" and "spans G5;G6" in e.review and "main grid G5" in e.review
    # E1, E2 in G5 and E3 in G6: laid out whole on its main grid; G6 keeps only L6 (2 members),
    # too few for a branch, so it joins its neighbour.
    assert e.members == 8 and e.grid_ids == "G5;G6" and "六网格（2名党员）" in e.note
    assert org.members_placed == 40 and org.members_unplaced == 0


def test_each_situation_large_becomes_general_branches():
    comps, grids, buildings = town()
    counts = {f"A{i}": 15 for i in range(1, 9)}          # 120 members: 60 per grid
    counts.update({"B1": 20, "B2": 20, "C1": 15, "C2": 10, "L3": 1})  # 66 in G3
    counts.update({"D1": 30, "D2": 20, "D3": 10})          # 60 in D: no sub-units → clusters
    counts.update({"E1": 5, "E2": 5, "E3": 5, "L6": 4})
    org = organise(gridmap.classify(comps, grids), with_members(buildings, counts))
    check_invariants(org)
    a = by_name(org, "龙城花园小区党总支")
    assert a.kind == "general_branch" and a.members == 120
    # Split by grid first; each grid's 60 members then by neighbouring buildings (≤ 50 each).
    names = sorted(children(org, a.unit_id).name)
    assert names == ["龙城一网格第一党支部", "龙城一网格第二党支部", "龙城二网格第一党支部", "龙城二网格第二党支部"]
    g3 = by_name(org, "三网格党总支")
    assert g3.situation == "large_grid"
    sub = children(org, g3.unit_id)
    assert sorted(sub.name) == ["B苑小区党支部", "C苑小区党支部"]
    # The loose building L3 (1 member) is taken in by the nearest compound branch.
    assert sub.members.sum() == 66 and "三网格散居楼院" in " ".join(sub.note)
    d = by_name(org, "D苑小区党总支")
    assert sorted(children(org, d.unit_id).name) == ["D苑小区第一党支部", "D苑小区第二党支部"]


def test_mixed_on_proposal_is_not_flagged():
    comps, grids, buildings = town()
    b = with_members(buildings, {}, default=3)
    cls = gridmap.classify(comps, grids)
    assert (cls.compounds.set_index("compound_id").situation["E"]) == "mixed"
    # The proposal moves all of E into G5 (G6 gives up the part E had in it).
    e = comps.geometry[comps.compound_id == "E"].iloc[0]
    g5 = grids.geometry[1 + 3].union(e)
    g6 = grids.geometry[5].difference(e)
    proposal = gdf({"grid_id": ["G1", "G2", "G3", "G4", "G5", "G6"], "changed": [0, 0, 0, 0, 1, 1]},
                   [*grids.geometry[:4], g5, g6])
    org = organise(cls, b, proposal=proposal)
    check_invariants(org)
    e_unit = by_name(org, "E苑小区党支部")
    assert e_unit.situation == "equal" and e_unit.review == ""
    assert "proposal" in e_unit.note
    assert e_unit.members == 9 and e_unit.community == "乙"
    assert (org.units.review == "").sum() > 0 and not org.units.review.str.contains("spans").any()


def test_uncovered_compound_is_flagged_and_placed():
    classification, buildings = row_of_equals([[4], [5]])
    comps = classification.compounds[["compound_id", "name", "geometry"]].copy()
    comps.loc[len(comps)] = ["Z", "Z苑", box(250, 250, 290, 290)]
    comps = gpd.GeoDataFrame(comps, geometry="geometry", crs=CRS)
    grids = classification.grids[["grid_id", "name", "community", "geometry"]]
    b = buildings.copy()
    b.loc[len(b)] = ["Z1", 4, 30, Point(260, 260)]
    with pytest.warns(PlacementWarning, match="outside every grid.*Z1.*1 of them are placed through their compound"):
        org = organise(gridmap.classify(comps, grids), b)
    z = by_name(org, "Z苑小区党支部")
    assert z.situation == "uncovered" and "lies in no grid" in z.review and z.community == "甲"
    assert org.members_unplaced == 0


def test_communities_from_polygons():
    comps, grids, buildings = town()
    b = with_members(buildings, {}, default=2)
    communities = gdf({"name": ["南社区", "北社区"]}, [box(-10, -10, 310, 100), box(-10, 100, 310, 210)])
    org = organise(gridmap.classify(comps, grids.drop(columns="community")), b, communities=communities)
    assert sorted(org.units[org.units.depth == 0].name) == ["北社区党支部", "南社区党支部"]
    assert by_name(org, "D苑小区党支部").community == "北社区"
    # Without any community: one tree for the whole area.
    whole = organise(gridmap.classify(comps, grids.drop(columns="community")), b)
    assert whole.units[whole.units.depth == 0].name.tolist() == ["社区党支部"]
    assert whole.members_placed == 40


# ------------------------------------------------------------------ thresholds at their edges


@pytest.mark.parametrize("small, joined", [(2, True), (3, False), (4, False)])
def test_branch_minimum(small, joined):
    classification, buildings = row_of_equals([[small], [10]])
    org = organise(classification, buildings)
    check_invariants(org)
    branches = org.units[org.units.kind.isin(["branch", "joint_branch"]) & (org.units.depth > 0)]
    if joined:
        assert len(branches) == 1 and branches.iloc[0].members == small + 10
        assert branches.iloc[0].compound_ids == "X1;X0" and f"X0苑小区（{small}名党员）" in branches.iloc[0].note
    else:
        assert sorted(branches.members) == sorted([small, 10]) and (branches.kind == "branch").all()


def test_small_neighbours_form_a_joint_branch():
    classification, buildings = row_of_equals([[2], [2], [30]])
    org = organise(classification, buildings)
    check_invariants(org)
    joint = by_name(org, "X0苑小区、X1苑小区联合党支部")
    assert joint.kind == "joint_branch" and joint.members == 4 and joint.compound_ids == "X0;X1"
    assert by_name(org, "X2苑小区党支部").members == 30


def test_lonely_small_unit_is_flagged():
    classification, buildings = row_of_equals([[2]])
    org = organise(classification, buildings)
    unit = org.units[org.units.kind == "branch"].iloc[1]
    assert unit.depth == 1 and unit.members == 2 and "fewer than 3" in unit.review
    group = org.units[org.units.kind == "group"].iloc[0]
    assert group.members == 2 and group.review


@pytest.mark.parametrize("m, committee", [(6, False), (7, True), (8, True)])
def test_committee_threshold(m, committee):
    classification, buildings = row_of_equals([[m]])
    org = organise(classification, buildings)
    branch = org.units[org.units.kind == "branch"].iloc[0]
    assert bool(branch.has_committee) is committee


@pytest.mark.parametrize("m, general", [(49, False), (50, False), (51, True)])
def test_branch_maximum(m, general):
    per = [5] * (m // 5) + ([m % 5] if m % 5 else [])
    classification, buildings = row_of_equals([per])
    org = organise(classification, buildings)
    check_invariants(org)
    top = org.units[org.units.depth == 1].iloc[0]
    assert top.members == m
    assert (top.kind == "general_branch") is general
    if general:
        sub = children(org, top.unit_id)
        assert len(sub) == 2 and (sub.members <= 50).all() and (sub.members >= 3).all()
        assert sorted(sub.name) == ["X0苑小区第一党支部", "X0苑小区第二党支部"]


def test_thresholds_are_configurable():
    classification, buildings = row_of_equals([[5] * 8])  # 40 members
    org = organise(classification, buildings, thresholds=Thresholds(branch_max=20, committee_min=15, group_min=6))
    t = Thresholds(branch_max=20, committee_min=15, group_min=6)
    check_invariants(org, t)
    top = org.units[org.units.depth == 1].iloc[0]
    assert top.kind == "general_branch" and len(children(org, top.unit_id)) == 2
    with pytest.raises(GridmapError, match="branch-max"):
        Thresholds(branch_min=10, branch_max=5)
    with pytest.raises(GridmapError, match="at least 1"):
        Thresholds(group_min=0)


@pytest.mark.parametrize("m, own", [(2, False), (3, True), (4, True)])
def test_group_minimum(m, own):
    classification, buildings = row_of_equals([[m, 5]])
    org = organise(classification, buildings)
    check_invariants(org)
    groups = org.units[org.units.kind == "group"]
    households = org.units[org.units.kind == "central_household"]
    if own:
        assert len(groups) == 2 and len(households) == 0
    else:
        assert len(groups) == 1 and groups.iloc[0].members == m + 5
        assert households.name.tolist() == ["000号楼党员中心户"]
        assert groups.iloc[0]["name"] == "001号楼党小组"


def test_groups_gather_small_buildings_without_an_anchor():
    classification, buildings = row_of_equals([[1, 2, 1, 1, 2]])
    org = organise(classification, buildings)
    check_invariants(org)
    groups = org.units[org.units.kind == "group"]
    assert (groups.members >= 3).all() and groups.members.sum() == 7


# ------------------------------------------------------------------ properties


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 12), min_size=1, max_size=40),
       st.lists(st.tuples(st.floats(0, 500), st.floats(0, 500)), min_size=40, max_size=40),
       st.integers(1, 6))
def test_groups_property(m, xy, minimum):
    m = np.array(m)
    keep = m > 0
    if not keep.any():
        return
    m = m[keep]
    xy = np.array(xy[: len(keep)])[keep]
    group, anchors = building_groups(xy, m, minimum)
    assert (group >= 0).all() and len(group) == len(m)          # each building in one group
    assert set(group) == set(range(len(anchors)))                # no empty group
    assert (group[anchors] == np.arange(len(anchors))).all()     # anchors head their own groups
    sums = np.bincount(group, weights=m)
    if m.sum() >= minimum:
        assert (sums >= minimum).all()
    assert set(np.flatnonzero(m >= minimum)) <= set(anchors)     # big buildings have own groups


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=60), st.integers(3, 60), st.integers(1, 3))
def test_bisect_property(m, cap, floor):
    m = np.array(m)
    xy = np.column_stack([np.arange(len(m)) * 7.0 % 53, np.arange(len(m)) * 3.0])
    parts = bisect_members(xy, m, cap, floor)
    allidx = np.sort(np.concatenate(parts))
    assert (allidx == np.arange(len(m))).all()                   # a partition
    for p in parts:
        if len(parts) > 1:
            assert m[p].sum() >= floor
        if m[p].sum() > cap:
            # Left whole only when no cut along its longer side leaves the floor on both sides.
            mp, xp = m[p], xy[p]
            has = mp > 0
            axis = int(np.argmax(np.ptp(xp[has], axis=0))) if has.sum() > 1 else 0
            cum = np.cumsum(mp[np.lexsort((xp[:, 1 - axis], xp[:, axis]))])
            assert not ((cum[:-1] >= floor) & (mp.sum() - cum[:-1] >= floor)).any()


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 30), min_size=20, max_size=20))
def test_every_member_in_exactly_one_group(counts):
    comps, grids, buildings = town()
    ids = list(buildings.building_id)
    b = with_members(buildings, dict(zip(ids, counts)))
    org = quiet(organise, _town_classification(), b)
    if sum(counts) == 0:
        assert len(org.units) == 0
        return
    check_invariants(org)
    assert org.members_placed == sum(counts) and org.members_unplaced == 0
    # Every compound and grid of a community with members sits in exactly one unit beneath it.
    top = org.units[org.units.depth == 1]
    c_ids = top.compound_ids.str.split(";").explode()
    g_ids = top.grid_ids.str.split(";").explode()
    c_ids, g_ids = c_ids[c_ids != ""], g_ids[g_ids != ""]
    assert c_ids.is_unique and g_ids.is_unique
    live = set(org.units.community[org.units.depth == 0])
    assert set(c_ids) == {c for c, k in zip("ABCDE", "甲甲甲乙乙") if k in live}
    assert set(g_ids) == {g for g, k in zip(["G1", "G2", "G3", "G4", "G5", "G6"], "甲甲甲乙乙乙") if k in live}


_TOWN = None


def _town_classification():
    global _TOWN
    if _TOWN is None:
        comps, grids, _ = town()
        _TOWN = gridmap.classify(comps, grids)
    return _TOWN


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=12), min_size=1, max_size=6))
def test_every_member_in_one_group_rows(counts):
    classification, buildings = row_of_equals(counts)
    if sum(map(sum, counts)) == 0:
        org = organise(classification, buildings)
        assert len(org.units) == 0
        return
    org = organise(classification, buildings)
    check_invariants(org)
    assert org.members_placed == sum(map(sum, counts))


# ------------------------------------------------------------------ ledger and outputs


def test_ledger_counts_categories_and_keeps_names_out(tmp_path):
    comps, grids, buildings = town()
    counts = {bid: 3 + i % 4 for i, bid in enumerate(buildings.building_id)}
    ledger = ledger_for(counts)
    org = organise(gridmap.classify(comps, grids), buildings, members=ledger)
    check_invariants(org)
    assert org.members_total == len(ledger) == org.members_placed
    roots = org.units[org.units.depth == 0]
    for col, cat in zip(CATEGORY_COLUMNS, ["直管党员", "流动党员", "在职党员", "离退休党员"]):
        assert roots[col].sum() == (ledger.category == cat).sum()
    assert roots.members_other.sum() == 0
    assert set(org.members.columns) == {"member_id", "building_id", "category", "branch_id", "group_id", "reason"}
    assert (org.members.group_id != "").all()

    write_organisation(org, tmp_path, roster=tmp_path / "roster.csv", ledger=ledger)
    csv_text = (tmp_path / "organization.csv").read_text(encoding="utf-8-sig")
    json_text = (tmp_path / "organization.json").read_text(encoding="utf-8")
    wb = openpyxl.load_workbook(tmp_path / "organization.xlsx")
    xlsx_text = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                         if c.value is not None)
    for text in (csv_text, json_text, xlsx_text):
        for name, phone in zip(ledger.name, ledger.phone):
            assert name not in text and phone not in text
    roster = pd.read_csv(tmp_path / "roster.csv", encoding="utf-8-sig", dtype=str)
    assert list(roster.columns[:6]) == ["member_id", "name", "category", "building_id", "unit", "group"]
    assert set(roster.name) == set(ledger.name) and roster.group.str.endswith("党小组").all()


def test_roster_workbook_is_text_cells_as_the_csv(tmp_path):
    """The roster workbook (the one Excel writer, gridmap.io.xlsx): sheet 党员名册, the CSV's columns
    under Chinese headers and its values (the reasons in the user's language), every value a text cell
    (an id 00123 stays 00123), missing values empty."""
    comps, grids, buildings = town()
    ledger = ledger_for({"A1": 4, "B1": 3})
    ledger.loc[0, "member_id"] = "00123"
    ledger.loc[1, "building_id"] = "NOWHERE"  # not placed: no unit, a note
    ledger.loc[2, "name"] = None
    org = quiet(organise, gridmap.classify(comps, grids), buildings, members=ledger)
    write_organisation(org, tmp_path, roster=tmp_path / "roster.xlsx", ledger=ledger)
    write_organisation(org, tmp_path, roster=tmp_path / "roster.csv", ledger=ledger)
    wb = openpyxl.load_workbook(tmp_path / "roster.xlsx")
    assert wb.sheetnames == ["党员名册"]
    rows = list(wb.active.iter_rows(values_only=True))
    cells = [c for row in wb.active.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type == "s" and isinstance(c.value, str) for c in cells)
    expect = pd.read_csv(tmp_path / "roster.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(rows[0]) == [ROSTER_HEADERS[c] for c in expect.columns]
    expect["note"] = expect["note"].map(reason_label)
    assert [[v or "" for v in row] for row in rows[1:]] == expect.to_numpy().tolist()
    assert rows[1][0] == "00123" and rows[3][1] is None
    assert rows[2][4] is None and rows[2][-1] == "building not in the buildings layer"  # LANG=C: English


def test_outputs_csv_json_xlsx(tmp_path):
    comps, grids, buildings = town()
    org = organise(gridmap.classify(comps, grids), with_members(buildings, {}, default=4))
    write_organisation(org, tmp_path)
    table = pd.read_csv(tmp_path / "organization.csv", encoding="utf-8-sig", dtype={"unit_id": str, "parent_id": str})
    assert list(table.columns) == UNIT_COLUMNS + ["kind_label", "situation_label"] and len(table) == len(org.units)
    assert table.kind_label.tolist() == [vocab.kind_label(k) for k in table.kind]
    doc = json.loads((tmp_path / "organization.json").read_text(encoding="utf-8"))
    assert doc["members"] == 80 and doc["members_unplaced"] == 0
    assert [c["name"] for c in doc["communities"]] == org.units[org.units.depth == 0].name.tolist()

    def count(node):
        return 1 + sum(count(c) for c in node["children"])
    assert sum(count(c) for c in doc["communities"]) == len(org.units)
    first_branch = doc["communities"][0]["children"][0]
    assert isinstance(first_branch["building_ids"], list) and first_branch["kind"] in ("branch", "general_branch")

    wb = openpyxl.load_workbook(tmp_path / "organization.xlsx")
    assert wb.sheetnames == ["汇总", "乙", "甲"]
    summary = wb["汇总"]
    header = [c.value for c in summary[1]]
    total = [c.value for c in summary[4]]
    assert total[0] == "合计"
    assert total[header.index("党员总数")] == 80
    assert total[header.index("未落位党员")] == 0
    assert total[header.index("党小组")] == int((org.units.kind == "group").sum())
    assert total[header.index("党支部")] == int((org.units.kind == "branch").sum())
    sheet = wb["甲"]
    head = [c.value for c in sheet[1]]
    assert head[:4] == ["编号", "上级编号", "类型", "名称"]
    assert sheet.max_row - 1 == int((org.units.community == "甲").sum())
    # The kind labels of gridmap.vocab; the community's own unit (80 members) is a general branch.
    assert sheet.cell(row=2, column=3).value == gridmap.vocab.COMMUNITY_KIND_LABELS["general_branch"]
    assert sheet.cell(row=3, column=3).value == gridmap.vocab.KIND_LABELS["branch"]
    assert sheet.column_dimensions["D"].width >= 10
    assert summary["A1"].font.bold


def test_json_text_is_what_json_dumps_writes(tmp_path):
    """organization.json is written unit by unit for speed; it must be json.dumps(indent=1)'s text."""
    comps, grids, buildings = town()
    org = quiet(organise, gridmap.classify(comps, grids), with_members(buildings, {"A1": 60, "B1": 2}, default=3))
    expect = json.dumps(document(org), ensure_ascii=False, indent=1)
    assert document_json(org) == expect
    write_organisation(org, tmp_path)
    assert (tmp_path / "organization.json").read_text(encoding="utf-8") == expect
    # Awkward text, missing values and an empty tree.
    u = org.units.copy()
    u.loc[0, "name"] = 'a "quoted"\\ name\nwith\tcontrol\x01 and 𝄞'
    u.loc[1, "review"] = ";;"
    u.loc[2, "households"] = np.nan
    u.loc[3, "building_ids"] = "x;;y"
    odd = org.__class__(u, org.buildings, org.members, org.thresholds, org.source)
    assert document_json(odd) == json.dumps(document(odd), ensure_ascii=False, indent=1)
    empty = org.__class__(u.iloc[:0], org.buildings, org.members, org.thresholds, org.source)
    assert document_json(empty) == json.dumps(document(empty), ensure_ascii=False, indent=1)


# ------------------------------------------------------------------ bad input


def test_unknown_buildings_in_ledger_are_counted_not_placed():
    comps, grids, buildings = town()
    ledger = ledger_for({"A1": 3, "A2": 3, "NOPE": 2, "GONE": 1})
    with pytest.warns(PlacementWarning, match=r"3 members live in buildings that are not in .*NOPE, GONE"):
        org = organise(gridmap.classify(comps, grids), buildings, members=ledger)
    assert org.members_total == 9 and org.members_placed == 6 and org.members_unplaced == 3
    lost = org.unplaced()
    assert dict(zip(lost.building_id, lost.members)) == {"GONE": 1, "NOPE": 2}
    assert org.summary().iloc[-1].members_unplaced == 3


def test_duplicate_member_ids():
    comps, grids, buildings = town()
    ledger = ledger_for({"A1": 3, "A2": 3})
    ledger.loc[3, "member_id"] = "M0000"
    with pytest.raises(GridmapError, match=r"member ids occur more than once \(M0000\)"):
        organise(gridmap.classify(comps, grids), buildings, members=ledger)


def test_buildings_outside_every_grid(tmp_path):
    comps, grids, buildings = town()
    b = with_members(buildings, {}, default=3)
    b.loc[len(b)] = ["FAR1", 40, Point(900, 900), 5]
    b = gpd.GeoDataFrame(b, geometry="geometry", crs=CRS)
    with pytest.warns(PlacementWarning, match=r"1 buildings lie outside every grid \(FAR1\).*with 5 members"):
        org = organise(gridmap.classify(comps, grids), b)
    assert org.members_unplaced == 5 and org.members_placed == 60
    assert org.unplaced().reason.tolist() == ["building outside every grid and compound"]
    check_invariants(org)


def test_missing_member_figures():
    comps, grids, buildings = town()
    with pytest.raises(GridmapError, match="no member ledger.*party_members, 党员数"):
        organise(gridmap.classify(comps, grids), buildings)
    b = with_members(buildings, {}, default=3)
    b["party_members"] = b.party_members.astype(object)
    b.loc[0, "party_members"] = None
    b.loc[1, "party_members"] = "n/a"
    with pytest.warns(PlacementWarning):
        org = organise(gridmap.classify(comps, grids), b)
    assert org.members_total == 54
    b2 = b.drop(columns="households")
    org2 = quiet(organise, gridmap.classify(comps, grids), b2)
    assert org2.units.households.isna().all()
    b3 = with_members(buildings, {}, default=3)
    b3["households"] = b3.households.astype(float)
    b3.loc[b3.building_id == "D1", "households"] = np.nan
    with pytest.warns(PlacementWarning, match=r"1 buildings have no household figure \(D1\)"):
        org3 = organise(gridmap.classify(comps, grids), b3)
    assert by_name(org3, "D苑小区党支部").households == 80.0


def test_duplicate_or_missing_building_ids():
    comps, grids, buildings = town()
    b = with_members(buildings, {}, default=3)
    b.loc[1, "building_id"] = "A1"
    with pytest.raises(GridmapError, match=r"building ids occur more than once \(A1\)"):
        organise(gridmap.classify(comps, grids), b)
    with pytest.raises(GridmapError, match="no building id field"):
        organise(gridmap.classify(comps, grids), b.rename(columns={"building_id": "bid"}))


def test_ledger_files_chinese_headers_encodings_and_sheets(tmp_path):
    comps, grids, buildings = town()
    cls = gridmap.classify(comps, grids)
    base = ledger_for({"A1": 3, "B1": 4, "D1": 5})
    chinese = base.rename(columns={"member_id": "党员编号", "name": "姓名", "building_id": "楼栋编码",
                                   "category": "类别", "phone": "电话"})
    # GBK CSV with a title row above the header, as offices export them.
    gbk = tmp_path / "台账.csv"
    with open(gbk, "w", encoding="gbk", newline="") as f:
        f.write("某某社区党员台账\n")
        chinese.to_csv(f, index=False)
    ledger = read_ledger(gbk)
    assert len(ledger) == 12 and ledger.category.value_counts().to_dict() == {"direct": 3, "mobile": 3,
                                                                              "in_service": 3, "retired": 3}
    org = organise(cls, buildings, members=ledger)
    assert org.members_placed == 12
    # UTF-8 with BOM, and one Excel workbook with one sheet per category and no category column.
    utf = tmp_path / "ledger.csv"
    chinese.to_csv(utf, index=False, encoding="utf-8-sig")
    assert read_ledger(utf).member_id.tolist() == base.member_id.tolist()
    xlsx = tmp_path / "台账.xlsx"
    with pd.ExcelWriter(xlsx) as w:
        for cat, sub in chinese.groupby("类别"):
            sub.drop(columns="类别").to_excel(w, sheet_name=cat, index=False)
    from_excel = read_ledger(xlsx)
    assert sorted(from_excel.category) == sorted(ledger.category)
    # Separate files per category, named after it, read together.
    paths = []
    for cat, sub in chinese.groupby("类别"):
        p = tmp_path / f"{cat}.csv"
        sub.drop(columns="类别").to_csv(p, index=False, encoding="utf-8-sig")
        paths.append(p)
    assert sorted(read_ledger(paths).category) == sorted(ledger.category)


def test_ledger_bad_columns_and_encoding(tmp_path):
    odd = tmp_path / "odd.csv"
    pd.DataFrame({"编号": [1, 2], "住址": ["x", "y"]}).to_csv(odd, index=False, encoding="utf-8-sig")
    with pytest.raises(GridmapError, match=r"no building column.*columns found are: 编号, 住址"):
        read_ledger(odd)
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes("member_id,building_id\n1,A1\n".encode("utf-16"))
    with pytest.raises(GridmapError, match="cannot be decoded.*--encoding"):
        read_ledger(utf16)
    assert read_ledger(utf16, encoding="utf-16").building_id.tolist() == ["A1"]
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"member_id": ["a", "b", "a"], "building_id": ["A1"] * 3}).to_csv(dup, index=False)
    with pytest.raises(GridmapError, match=r"1 member ids occur more than once \(a\)"):
        read_ledger(dup)
    with pytest.raises(GridmapError, match="no such ledger"):
        read_ledger(tmp_path / "missing.csv")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(GridmapError, match="save it as .xlsx"):
        read_ledger(old)
    strange = tmp_path / "strange.csv"
    pd.DataFrame({"member_id": ["a", "b"], "building_id": ["A1", "A1"], "category": ["预备党员", "直管"]}
                 ).to_csv(strange, index=False)
    with pytest.warns(PlacementWarning, match="预备党员"):
        assert read_ledger(strange).category.tolist() == ["other", "direct"]


# ------------------------------------------------------------------ command line


def _write_town(tmp_path: Path, counts: dict[str, int]):
    comps, grids, buildings = town()
    paths = {}
    for name, layer in (("compounds", comps), ("grids", grids), ("buildings", buildings)):
        paths[name] = tmp_path / f"{name}.geojson"
        layer.to_file(paths[name], driver="GeoJSON")
    ledger = ledger_for(counts)
    paths["ledger"] = tmp_path / "members.csv"
    ledger.to_csv(paths["ledger"], index=False, encoding="utf-8-sig")
    return paths, ledger


def _digest(paths) -> dict:
    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def test_cli_end_to_end(tmp_path):
    paths, ledger = _write_town(tmp_path, {"A1": 5, "A5": 4, "B1": 3, "C2": 2, "D2": 6, "E1": 3, "L6": 1})
    before = _digest(paths.values())
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["org", str(paths["compounds"]), str(paths["grids"]),
                                 "--buildings", str(paths["buildings"]), "--members", str(paths["ledger"]),
                                 "--roster", str(tmp_path / "office" / "roster.xlsx"),
                                 "--committee-min", "5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "placed in a group 24" in r.output and "not placed 0" in r.output
    for f in ("organization.csv", "organization.json", "organization.xlsx"):
        assert (out / f).stat().st_size > 0
    assert (tmp_path / "office" / "roster.xlsx").exists()
    assert _digest(paths.values()) == before
    units = pd.read_csv(out / "organization.csv", encoding="utf-8-sig")
    assert units.loc[units.name == "龙城花园小区党支部", "has_committee"].item()  # 9 ≥ 5


def test_cli_proposal_gpkg(tmp_path):
    paths, _ = _write_town(tmp_path, {"E1": 4, "E3": 4, "L6": 3, "D1": 3})
    comps, grids, _ = town()
    e = comps.geometry[comps.compound_id == "E"].iloc[0]
    proposal = gdf({"grid_id": list(grids.grid_id), "status": ["kept"] * 4 + ["changed"] * 2,
                    "name": list(grids.name), "community": list(grids.community)},
                   [*grids.geometry[:4], grids.geometry[4].union(e), grids.geometry[5].difference(e)])
    changes = gdf({"compound_id": ["E"], "from_grid_id": ["G6"], "to_grid_id": ["G5"]}, [e])
    gpkg = tmp_path / "proposal.gpkg"
    proposal.to_file(gpkg, layer="grids", driver="GPKG")
    changes.to_file(gpkg, layer="changes", driver="GPKG")
    out = tmp_path / "out"
    args = ["org", str(paths["compounds"]), str(paths["grids"]), "--buildings", str(paths["buildings"]),
            "--members", str(paths["ledger"]), "--out", str(out)]
    r = CliRunner().invoke(app, args + ["--proposal", str(gpkg)])
    assert r.exit_code == 0, r.output
    units = pd.read_csv(out / "organization.csv", encoding="utf-8-sig", keep_default_na=False)
    e_unit = units[units.name == "E苑小区党支部"].iloc[0]
    assert e_unit.situation == "equal" and e_unit.review == "" and e_unit.members == 8
    assert units[units.name == "六网格党支部"].members.item() == 3
    r = CliRunner().invoke(app, args)
    units = pd.read_csv(out / "organization.csv", encoding="utf-8-sig", keep_default_na=False)
    e_unit = units[units.name == "E苑小区党支部"].iloc[0]
    assert e_unit.situation == "mixed" and "spans G5;G6" in e_unit.review


def test_cli_bad_input_is_one_paragraph(tmp_path):
    paths, ledger = _write_town(tmp_path, {"A1": 3})
    ledger.loc[len(ledger)] = ledger.iloc[0]
    ledger.to_csv(paths["ledger"], index=False)
    r = CliRunner().invoke(app, ["org", str(paths["compounds"]), str(paths["grids"]),
                                 "--buildings", str(paths["buildings"]), "--members", str(paths["ledger"]),
                                 "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "M0000" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out" / "organization.csv").exists()
    r = CliRunner().invoke(app, ["org", str(paths["compounds"]), str(paths["grids"]),
                                 "--buildings", str(paths["buildings"]), "--branch-min", "9",
                                 "--branch-max", "5", "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "--branch-max" in r.output


# ------------------------------------------------------------------ the bundled sample


@pytest.mark.skipif(not (SAMPLE / "members.csv").exists(), reason="bundled sample not built yet")
def test_bundled_sample(tmp_path):
    layers = {p.stem: p for p in SAMPLE.glob("*.geojson")}
    args = ["org", str(layers["compounds"]), str(layers["grids"]), "--buildings", str(layers["buildings"]),
            "--members", str(SAMPLE / "members.csv"), "--out", str(tmp_path)]
    if "communities" in layers:
        args += ["--communities", str(layers["communities"])]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    units = pd.read_csv(tmp_path / "organization.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    doc = json.loads((tmp_path / "organization.json").read_text(encoding="utf-8"))
    assert doc["members_unplaced"] == 0 and doc["members_placed"] == doc["members"] > 0
    ledger = pd.read_csv(SAMPLE / "members.csv", encoding="utf-8-sig", dtype=str)
    assert doc["members"] == len(ledger)
    groups = units[units.kind == "group"]
    assert groups.building_ids.str.split(";").explode().is_unique
    assert set(units.situation[units.depth == "1"]) >= {"large_compound", "large_grid", "equal"}


# ------------------------------------------------------------------ parts by community (DESIGN §8)


def _sample_inputs() -> dict:
    from gridmap.io import read_layer

    comps, grids = read_layer(str(SAMPLE / "compounds.geojson")), read_layer(str(SAMPLE / "grids.geojson"))
    return dict(classification=quiet(gridmap.classify, comps, grids),
                buildings=read_layer(str(SAMPLE / "buildings.geojson")),
                members=read_ledger(SAMPLE / "members.csv"),
                communities=read_layer(str(SAMPLE / "communities.geojson")))


def _synthetic_inputs() -> dict:
    """A small synthetic city laid out on its alignment proposal, members from the buildings."""
    import sys

    from gridmap.align import align

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synthcity import make_city

    city = make_city(scale=0.04, seed=5)
    proposal = quiet(align, city["compounds"], city["grids"]).grids
    return dict(classification=quiet(gridmap.classify, city["compounds"], city["grids"]),
                buildings=city["buildings"], communities=city["communities"], proposal=proposal)


@pytest.mark.parametrize("inputs", [
    pytest.param(_sample_inputs, marks=pytest.mark.skipif(not (SAMPLE / "members.csv").exists(),
                                                          reason="bundled sample not built yet"), id="sample"),
    pytest.param(_synthetic_inputs, marks=pytest.mark.skipif(not (ROOT / "benchmarks" / "synthcity.py").exists(),
                                                             reason="no synthetic city generator"), id="synthetic"),
])
def test_parts_by_community_merge_into_the_full_run(inputs, tmp_path):
    args = inputs()
    full = quiet(organise, **args)
    names = sorted(set(full.units.community))
    assert len(names) >= 3
    write_organisation(full, tmp_path / "full")
    for n_parts in (2, 3):
        # Interleaved subsets, merged in reverse: neither the split nor the order of parts matters.
        subsets = [names[k::n_parts] for k in range(n_parts)]
        parts = [quiet(organise, **args, only_communities=sub) for sub in subsets]
        for part, sub in zip(parts, subsets):
            assert set(part.units.community) == set(sub)
            assert part.units.unit_id.iloc[0] == "1"
        merged = merge_organisations(parts[::-1])
        pd.testing.assert_frame_equal(merged.units, full.units)
        pd.testing.assert_frame_equal(merged.buildings, full.buildings)
        if full.members is not None:
            pd.testing.assert_frame_equal(merged.members, full.members)
        assert merged.members_placed == full.members_placed and merged.members_total == full.members_total
        out = tmp_path / f"merged{n_parts}"
        write_organisation(merged, out)
        for f in ("organization.csv", "organization.json", "organization.xlsx"):
            assert (out / f).read_bytes() == (tmp_path / "full" / f).read_bytes(), f


def test_merge_refuses_overlapping_or_foreign_parts():
    comps, grids, buildings = town()
    cls = gridmap.classify(comps, grids)
    b = with_members(buildings, {}, default=4)
    both = quiet(organise, cls, b, only_communities=["甲", "乙"])
    first = quiet(organise, cls, b, only_communities=["甲"])
    nothing = quiet(organise, cls, b, only_communities=[])
    assert len(nothing.units) == 0 and (nothing.buildings.branch_id == "").all()
    pd.testing.assert_frame_equal(merge_organisations([nothing, both]).units, both.units)
    with pytest.raises(ValueError, match="甲"):
        merge_organisations([both, first])
    with pytest.raises(ValueError):
        merge_organisations([])
    other = quiet(organise, cls, b, thresholds=Thresholds(branch_max=20), only_communities=["乙"])
    with pytest.raises(ValueError, match="different runs"):
        merge_organisations([first, other])


def test_cycle_collector_paused_and_restored():
    import gc

    comps, grids, buildings = town()
    cls, b = gridmap.classify(comps, grids), with_members(buildings, {}, default=4)
    assert gc.isenabled()
    quiet(organise, cls, b)
    assert gc.isenabled()
    gc.disable()
    try:
        quiet(organise, cls, b)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(GridmapError):
        organise(cls, buildings)  # no member figures: fails, and the collector is back on
    assert gc.isenabled()
