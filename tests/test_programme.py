"""Issue 15, the rest of the programme: the community's level by its members, sections or streets
where grids have no community, the compound tier in large grids, the funding estimate, secretary
and committee candidates, property management and roll-ups by street and district."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from shapely.geometry import Point, box

import gridmap
from conftest import ROOT
from gridmap import vocab
from gridmap.errors import GridmapError, PlacementWarning
from gridmap.maps import split_sections as map_sections
from gridmap.org import (FundingPolicy, Thresholds, candidate_counts, committee_candidates, funding_table, organise,
                         read_ledger, secretary_candidates, write_organisation)
from gridmap.org.area import split_sections
from gridmap.org.funding import FUNDING_COLUMNS
from gridmap.org.programme import (classification_area, community_streets, programme_sections, property_section,
                                   property_status, rollup_tables)
from gridmap.project import load_project, write_template
from test_org import by_name, check_invariants, children, gdf, ledger_for, quiet, row_of_equals, town, with_members

SAMPLE = ROOT / "boundaries"
XIAODIAN = FundingPolicy(per_station=100_000, per_compound_year=6_000, secretary_month=500)


# ------------------------------------------------------------------ the community's own unit


@pytest.mark.parametrize("members, kind, name", [
    (30, "branch", "甲社区党支部"), (49, "branch", "甲社区党支部"), (50, "general_branch", "甲社区党总支"),
    (60, "general_branch", "甲社区党总支"), (99, "general_branch", "甲社区党总支"), (100, "committee", "甲社区党委"),
])
def test_community_level_follows_its_members(members, kind, name):
    per = [members // 4] * 3 + [members - 3 * (members // 4)]
    classification, buildings = row_of_equals([[m] for m in per])
    org = organise(classification, buildings)
    check_invariants(org)
    root = org.units[org.units.depth == 0].iloc[0]
    assert (root.kind, root["name"], root.members) == (kind, name, members)
    # Below it the units are as before: one branch per compound, and none of them is the community's.
    assert (org.units[org.units.depth == 1].kind == "branch").all()
    assert (org.buildings.branch_id != root.unit_id).all()


def test_community_thresholds_are_configurable_and_checked(tmp_path):
    classification, buildings = row_of_equals([[20], [20]])
    t = Thresholds(community_committee_min=40, community_general_branch_min=20)
    assert organise(classification, buildings, thresholds=t).units.iloc[0].kind == "committee"
    t = Thresholds(community_committee_min=60, community_general_branch_min=41)
    assert organise(classification, buildings, thresholds=t).units.iloc[0].kind == "branch"
    with pytest.raises(GridmapError, match="community_committee_min"):
        Thresholds(community_committee_min=40, community_general_branch_min=50)
    path = tmp_path / "p.toml"
    path.write_text('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n[rules]\n'
                    'community_committee_min = 80\ncommunity_general_branch_min = 40\n', encoding="utf-8")
    assert load_project(path).rules == {"community_committee_min": 80, "community_general_branch_min": 40}


def test_thresholds_go_into_the_json(tmp_path):
    classification, buildings = row_of_equals([[5]])
    write_organisation(organise(classification, buildings), tmp_path)
    import json

    doc = json.loads((tmp_path / "organization.json").read_text(encoding="utf-8"))
    assert doc["thresholds"]["community_committee_min"] == 100
    assert doc["thresholds"]["community_general_branch_min"] == 50


# ------------------------------------------------------------------ communities where grids have none


def city_without_communities(n: int = 10, street: bool = False):
    """n × n grids of 100 m, each with one compound and one building of 5 members; no community."""
    cells = [(i, j) for j in range(n) for i in range(n)]
    rows = {"grid_id": [f"G{i:02d}{j:02d}" for i, j in cells]}
    if street:
        rows["街道"] = ["东街道" if i < n // 2 else "西街道" for i, j in cells]
    grids = gdf(rows, [box(i * 100, j * 100, i * 100 + 100, j * 100 + 100) for i, j in cells])
    comps = gdf({"compound_id": [f"X{i:02d}{j:02d}" for i, j in cells]},
                [box(i * 100 + 5, j * 100 + 5, i * 100 + 95, j * 100 + 95) for i, j in cells])
    buildings = gdf({"building_id": [f"B{i:02d}{j:02d}" for i, j in cells], "party_members": 5},
                    [Point(i * 100 + 50, j * 100 + 50) for i, j in cells])
    return gridmap.classify(comps, grids), buildings


def test_sections_stand_in_for_communities():
    classification, buildings = city_without_communities(10)
    org = organise(classification, buildings)
    check_invariants(org)
    roots = org.units[org.units.depth == 0]
    # 100 grids: never one unit for the whole area, but sections of at most 40 neighbouring grids,
    # numbered as the maps number their pages (north to south, then west to east).
    assert len(roots) == 3 and roots.name.tolist() == ["第1片区党委", "第2片区党委", "第3片区党委"]
    assert (roots.members <= 40 * 5).all() and roots.members.sum() == 500
    xy = np.array([[b.x, b.y] for b in classification.grids.geometry.representative_point()])
    expect = [vocab.SECTION_NAME.format(k + 1) for k in map_sections(xy)]
    got = org.buildings.set_index("grid_id").community.reindex(classification.grids.grid_id)
    assert got.tolist() == expect
    # A small area still makes one tree.
    small, b = city_without_communities(4)
    assert organise(small, b).units[lambda u: u.depth == 0].name.tolist() == ["社区党总支"]  # 80 members


def test_streets_stand_in_for_communities():
    classification, buildings = city_without_communities(10, street=True)
    org = organise(classification, buildings)
    assert sorted(org.units[org.units.depth == 0].name) == ["东街道党委", "西街道党委"]
    assert org.units[org.units.depth == 0].members.tolist() == [250, 250]


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(0, 1e4)), min_size=0, max_size=150), st.integers(1, 50))
def test_sections_are_the_maps_sections(points, size):
    xy = np.array(points, dtype=float).reshape(-1, 2)
    labels = split_sections(xy, size)
    assert (labels == map_sections(xy, size)).all()
    if len(xy):
        counts = np.bincount(labels)
        assert (counts <= size).all() and (counts > 0).all()


# ------------------------------------------------------------------ the compound tier


def large_grid(counts: dict[str, list[int]], loose: int = 0):
    """One grid 一网格 (0–400 × 0–100) holding compounds A, B, C, D side by side (100 m apart), each
    with one building per entry of counts[compound]; a loose building (in no compound) at x = 395."""
    grids = gdf({"grid_id": ["G1"], "name": ["一网格"], "community": ["甲"]}, [box(0, 0, 400, 100)])
    comps = gdf({"compound_id": list("ABCD"), "name": [f"{c}苑" for c in "ABCD"]},
                [box(k * 100 + 5, 5, k * 100 + 85, 95) for k in range(4)])
    bids, pts, pm = [], [], []
    for k, c in enumerate("ABCD"):
        for j, m in enumerate(counts.get(c, [])):
            bids.append(f"{c}{j + 1}")
            pts.append(Point(k * 100 + 10 + 7 * (j % 10), 10 + 7 * (j // 10)))
            pm.append(m)
    bids.append("L1")
    pts.append(Point(395, 50))
    pm.append(loose)
    buildings = gdf({"building_id": bids, "party_members": pm, "households": 20}, pts)
    return gridmap.classify(comps, grids), buildings


def test_compound_tier_under_a_grid_branch():
    classification, buildings = large_grid({"A": [5, 4], "B": [3, 2], "C": [2], "D": []}, loose=1)
    assert set(classification.compounds.situation) == {"large_grid"}
    org = organise(classification, buildings)
    check_invariants(org)
    grid = by_name(org, "一网格党支部")
    assert grid.members == 17 and grid.compound_ids == "A;B;C;D"
    tier = children(org, grid.unit_id)
    # A (9) and B (5) have a group each; C (2) joins its neighbour B by name; D has no members and
    # no unit; the loose building joins the nearest group without naming it.
    assert tier.name.tolist() == ["A苑小区党小组", "B苑小区、C苑小区" + vocab.JOINT_SUFFIXES["group"]]
    assert (tier.kind == "group").all() and tier.compound_ids.tolist() == ["A", "B;C"]
    assert tier.members.tolist() == [9, 8] and "一网格散居楼院（1名党员）" in tier.note.iloc[1]
    # Central households in the group's other member-buildings; the group sits in its largest.
    a = children(org, tier.unit_id.iloc[0])
    assert a.kind.tolist() == ["central_household"] and a.building_ids.tolist() == ["A2"]
    assert set(org.buildings.branch_id) == {grid.unit_id}


def test_compound_tier_under_a_grid_general_branch():
    classification, buildings = large_grid({"A": [10, 10, 10], "B": [10, 10, 5], "C": [2], "D": [0]})
    org = organise(classification, buildings)
    check_invariants(org)
    grid = by_name(org, "一网格党总支")
    tier = children(org, grid.unit_id)
    assert tier.name.tolist() == ["A苑小区党支部", "B苑小区、C苑小区" + vocab.KIND_SUFFIXES["joint_branch"]]
    assert tier.kind.tolist() == ["branch", "joint_branch"] and tier.compound_ids.tolist() == ["A", "B;C"]
    assert tier.members.tolist() == [30, 27]
    # Building groups beneath each compound branch.
    assert (org.units[org.units.parent_id.isin(tier.unit_id)].kind == "group").all()
    # D (no members) stays with the general branch: its building is placed there, in no group.
    d = org.buildings.set_index("building_id").loc["D1"]
    assert d.branch_id == grid.unit_id and d.group_id == ""


def test_tier_units_are_their_compounds():
    """The tier of the town's large grid G3 (B and C, 5 members each) under its branch."""
    comps, grids, buildings = town()
    org = organise(gridmap.classify(comps, grids), with_members(buildings, {"B1": 3, "B2": 2, "C1": 5, "L3": 1},
                                                                default=4))
    check_invariants(org)
    g3 = by_name(org, "三网格党支部")
    tier = children(org, g3.unit_id)
    assert dict(zip(tier.name, tier.compound_ids)) == {"B苑小区党小组": "B", "C苑小区党小组": "C"}


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(0, 12), max_size=8), min_size=4, max_size=4), st.integers(0, 4))
def test_every_member_in_exactly_one_group_after_the_tier(counts, loose):
    classification, buildings = large_grid(dict(zip("ABCD", counts)), loose)
    total = sum(map(sum, counts)) + loose
    org = quiet(organise, classification, buildings)
    if total == 0:
        assert len(org.units) == 0
        return
    check_invariants(org)
    assert org.members_placed == total and org.members_unplaced == 0
    top = org.units[org.units.depth == 1]
    assert len(top) == 1
    tier = children(org, top.unit_id.iloc[0])
    own = {c for c, m in zip("ABCD", counts) if sum(m) >= 3}
    if top.kind.iloc[0] == "branch":
        # A group per compound with enough members (joined by the small ones); each compound in
        # one group; a group of several compounds is a joint group.
        assert (tier.kind == "group").all()
        covered = tier.compound_ids.str.split(";").explode()
        covered = covered[covered != ""]
        assert covered.is_unique and own <= set(covered)
        assert all(vocab.JOINT_SUFFIXES["group"] in n for n, c in zip(tier.name, tier.compound_ids) if ";" in c)
        for c in own:
            assert ((tier.compound_ids == c) | tier.compound_ids.str.startswith(c + ";")
                    | tier.compound_ids.str.contains(";" + c, regex=False)).sum() == 1


# ------------------------------------------------------------------ funding


def units_frame(rows):
    cols = ["unit_id", "depth", "kind", "community", "compound_ids"]
    return pd.DataFrame(rows, columns=cols)


def test_funding_counts_and_policy():
    units = units_frame([
        ("1", 0, "committee", "甲", "A;B;C"),
        ("1.1", 1, "general_branch", "甲", "A"),      # A has its own (a general branch)
        ("1.1.1", 2, "branch", "甲", "A"),            # A again: counted once
        ("1.1.2", 2, "branch", "甲", "A"),
        ("1.2", 1, "joint_branch", "甲", "B;C"),      # joint: neither B nor C alone
        ("1.2.1", 2, "group", "甲", "B"),             # a group is not branch-level
        ("2", 0, "branch", "乙", "D"),                # the community's own unit is not counted
        ("2.1", 1, "branch", "乙", "D"),
    ])
    table = funding_table(units, {"甲": 2, "丙": 1}, XIAODIAN)
    assert list(table.columns) == FUNDING_COLUMNS
    assert table.community.tolist() == ["丙", "乙", "甲", "合计"]
    row = table.set_index("community")
    assert row.loc["甲", ["stations", "compounds", "branches", "secretaries"]].tolist() == [2, 1, 4, 4]
    assert row.loc["乙", ["stations", "compounds", "branches", "secretaries"]].tolist() == [0, 1, 1, 1]
    assert row.loc["丙", ["stations", "compounds", "branches"]].tolist() == [1, 0, 0]
    assert row.loc["甲", "one_off"] == 200_000 and row.loc["甲", "per_year"] == 6_000 + 4 * 500 * 12
    yingze = funding_table(units, None, FundingPolicy(per_branch_year=5_000))
    assert yingze.set_index("community").per_year.to_dict() == {"乙": 5_000, "甲": 20_000, "合计": 25_000}
    assert yingze.one_off.eq(0).all() and yingze.per_year.dtype == np.int64
    assert funding_table(units, None, FundingPolicy(secretary_month=0.5)).per_year.iloc[-1] == 30.0
    for bad in (dict(per_station=-1), dict(secretary_month=float("nan")), dict(per_branch_year="5")):
        with pytest.raises(GridmapError, match="funding policy"):
            FundingPolicy(**bad)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("甲乙丙"), st.sampled_from(["branch", "joint_branch", "general_branch",
                                                                    "group", "central_household"]),
                          st.sampled_from(["A", "B", "C", "A;B", ""])), max_size=30),
       st.dictionaries(st.sampled_from("甲乙丙丁"), st.integers(0, 5)),
       st.tuples(*[st.integers(0, 200_000)] * 4))
def test_funding_totals_are_the_sums_of_the_rows(units, stations, amounts):
    rows = [(str(k), 0, "committee", c, "") for k, c in enumerate("甲乙丙", start=1)]
    rows += [(f"{k}.x{j}", 1, kind, c, ids) for j, (c, kind, ids) in enumerate(units) for k in [1]]
    policy = FundingPolicy(*amounts)
    table = funding_table(units_frame(rows), stations, policy)
    body, total = table.iloc[:-1], table.iloc[-1]
    assert total.community == "合计"
    for c in FUNDING_COLUMNS[1:]:
        assert total[c] == body[c].sum()
    assert (body.one_off == body.stations * policy.per_station).all()
    assert (body.per_year == body.compounds * policy.per_compound_year + body.branches * policy.per_branch_year
            + body.secretaries * policy.secretary_month * 12).all()
    assert (body.secretaries == body.branches).all()
    assert body.stations.sum() == sum(stations.values())


# ------------------------------------------------------------------ ledger identities and candidates


def test_ledger_identity_column(tmp_path):
    ledger = pd.DataFrame({"党员编号": ["1", "2", "3", "4", "5"], "楼栋编码": ["A1"] * 5,
                           "身份": ["离退休干部", "社工", "退役军人、网格员", None, "居民"]})
    path = tmp_path / "l.csv"
    ledger.to_csv(path, index=False, encoding="utf-8-sig")
    with pytest.warns(PlacementWarning, match="居民"):
        read = read_ledger(path)
    assert "identity" in read.columns
    assert read.identity.tolist() == ["retired_cadre", "community_worker", "veteran;grid_worker", "", ""]
    for alias in ("identity", "来源"):
        again = quiet(read_ledger, _write(tmp_path, ledger.rename(columns={"身份": alias})))
        assert again.identity.tolist() == read.identity.tolist()
    assert (quiet(read_ledger, _write(tmp_path, ledger.drop(columns="身份"))).identity == "").all()


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "again.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def identity_ledger():
    """The town's ledger: D苑 (3 buildings, 10 members) with a veteran, a community worker, a
    property-company member and others; B苑 and C苑 without any channel."""
    counts = {"D1": 4, "D2": 3, "D3": 3, "B1": 3, "B2": 2, "C1": 3, "C2": 2}
    ledger = ledger_for(counts)
    ledger["身份"] = None
    ledger.loc[ledger.building_id == "D2", "身份"] = ["物业", "社区工作者", None]
    ledger.loc[ledger.building_id == "D3", "身份"] = ["退役军人", None, "业委会"]
    return ledger


def test_secretary_and_committee_candidates():
    comps, grids, buildings = town()
    ledger = identity_ledger()
    org = organise(gridmap.classify(comps, grids), buildings, members=ledger)
    sec = secretary_candidates(org, ledger)
    d = by_name(org, "D苑小区党支部")
    mine = sec[sec.unit_id == d.unit_id]
    # Veteran before community worker (the channels' order), then a third member from outside them.
    named = ledger.set_index("member_id")
    assert mine["rank"].tolist() == [1, 2, 3]
    assert named.loc[mine.member_id.iloc[0], "身份"] == "退役军人"
    assert named.loc[mine.member_id.iloc[1], "身份"] == "社区工作者"
    assert mine.channel.tolist()[:2] == ["退役军人", "社区工作者、网格员"]
    assert mine.channel.iloc[2] == vocab.OTHER_CHANNEL_LABEL
    assert set(mine.member_id) <= set(org.members.member_id[org.members.branch_id == d.unit_id])
    # Every branch-level unit below the communities has its list; no unit has more than three.
    levels = org.units[(org.units.depth > 0) & org.units.kind.isin(vocab.BRANCH_KINDS)]
    assert set(sec.unit_id) == set(levels.unit_id) and sec.groupby("unit_id").size().max() <= 3
    com = committee_candidates(org, ledger)
    assert d.has_committee and set(com.unit_id) == {d.unit_id}
    assert sorted(com.channel) == ["业委会", "物业"]
    counts = candidate_counts(org, ledger).set_index("community")
    assert counts.loc["乙", "units"] == 1 and counts.loc["乙", "with_secretary_candidate"] == 1
    assert counts.loc["甲", "without_secretary_candidate"] == counts.loc["甲", "units"]
    assert counts.loc["合计", "units"] == len(levels)


def test_roster_sheets_and_no_names_elsewhere(tmp_path):
    comps, grids, buildings = town()
    ledger = identity_ledger()
    org = organise(gridmap.classify(comps, grids), buildings, members=ledger)
    write_organisation(org, tmp_path, roster=tmp_path / "roster.xlsx", ledger=ledger)
    wb = openpyxl.load_workbook(tmp_path / "roster.xlsx")
    assert wb.sheetnames == ["党员名册", "书记人选", "支委人选"]
    rows = list(wb["书记人选"].iter_rows(values_only=True))
    assert rows[0][:7] == ("单位编号", "单位", "类型", "社区", "顺位", "党员编号", "姓名")
    assert len(rows) - 1 == len(secretary_candidates(org, ledger))
    # Without identities the roster is as before: one sheet.
    plain = ledger.drop(columns="身份")
    write_organisation(org, tmp_path, roster=tmp_path / "plain.xlsx", ledger=plain)
    assert openpyxl.load_workbook(tmp_path / "plain.xlsx").sheetnames == ["党员名册"]
    # The report's section counts; it names no one.
    sections = programme_sections(org_classification(), org=org, ledger=ledger)
    text = " ".join(" ".join(s.lines) + " ".join(t.frame.to_string() for t in s.tables) for s in sections)
    assert "书记和支委人选" in [s.title for s in sections]
    assert not any(name in text for name in ledger.name)


def org_classification():
    comps, grids, _ = town()
    return gridmap.classify(comps, grids)


# ------------------------------------------------------------------ property management and roll-ups


def test_property_status_and_coverage():
    comps, grids, _ = town()
    comps["type"] = ["居住型", "老旧型", "老旧型", "单位型", None]
    comps["物业公司"] = ["龙城物业", "无", None, "中铁物业", "  "]
    comps["红色物业"] = ["是", "否", "no", "1", "?"]
    with pytest.warns(PlacementWarning, match="not yes or no"):
        status = property_status(comps)
    assert status.company.tolist() == ["龙城物业", None, None, "中铁物业", None]
    assert status.managed.tolist() == [True, False, False, True, False]
    assert status.red.tolist() == [True, False, False, True, None]
    cls = gridmap.classify(comps, grids)
    section = quiet(property_section, cls, classification_area(cls, None))
    coverage = section.tables[0].frame.set_index("类型")
    assert coverage.loc["合计", ["小区数", "有物业管理", "无物业管理", "红色物业"]].tolist() == [5, 2, 3, 2]
    assert coverage.loc["老旧型", "有物业管理"] == 0 and coverage.loc["居住型", "覆盖率（%）"] == 100
    assert coverage.index.tolist() == ["居住型", "老旧型", "单位型", vocab.UNTYPED, "合计"]
    missing = section.tables[1].frame
    assert missing["小区编码"].tolist() == ["B", "C", "E"] and missing["社区"].tolist() == ["甲", "甲", "乙"]
    assert property_status(comps.drop(columns=["物业公司", "红色物业"])) is None


def test_rollups_by_street_and_district():
    comps, grids, buildings = town()
    grids["街道"] = ["东", "东", "东", "西", "西", "西"]
    grids["区"] = "小店区"
    comps["type"] = ["居住型", "老旧型", "老旧型", "单位型", "居住型"]
    cls = gridmap.classify(comps, grids)
    org = organise(cls, with_members(buildings, {}, default=3))
    area = classification_area(cls, None)
    places = community_streets(area, cls.grids, None)
    assert places.set_index("community").street.to_dict() == {"乙": "西", "甲": "东"}
    funding = funding_table(org.units, {"甲": 1}, XIAODIAN)
    tables = rollup_tables(cls, area, places, org=org, stations=pd.Series({"甲": 1}), funding=funding,
                           microgrids=pd.DataFrame({"grid_id": ["G1", "G1", "G4"]}))
    street, district = (t.frame.set_index(t.frame.columns[0]) for t in tables)
    assert [t.sheet for t in tables] == ["街道", "区"]
    assert street.loc["东", ["社区数", "小区数", "党员", "微网格", "党群服务站"]].tolist() == [1, 3, 39, 2, 1]
    assert street.loc["合计", "党员"] == org.members_total == district.loc["小店区", "党员"]
    assert street.loc["东", "老旧型"] == 2 and street.loc["西", vocab.SITUATION_LABELS["mixed"]] == 1
    assert street.loc["合计", "一次性经费（元）"] == 100_000
    assert street.loc["合计", "每年经费（元）"] == funding.per_year.iloc[-1]
    # Communities polygons carry the street, and it wins over the grids'.
    polygons = gdf({"name": ["甲", "乙"], "所属街道": ["南", "北"]}, [box(-10, -10, 310, 100), box(-10, 100, 310, 210)])
    assert community_streets(area, cls.grids, polygons).street.tolist() == ["北", "南"]


# ------------------------------------------------------------------ project file and template


def test_funding_and_roster_in_the_project_file(tmp_path):
    path = tmp_path / "p.toml"
    head = '[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n'
    path.write_text(head + '[funding]\nper_station = 100000\nper_compound_year = 6000\nsecretary_month = 500\n'
                    '[output]\nroster = "office/roster.xlsx"\n', encoding="utf-8")
    project = load_project(path)
    assert project.funding == XIAODIAN and project.roster_file == str((tmp_path / "office" / "roster.xlsx").resolve())
    for body, fragment in (('[funding]\nper_station = -5\n', "line 6: [funding] per_station: expected an amount"),
                           ('[funding]\nper_month = 5\n', "line 6: [funding] per_month: unknown key"),
                           ('[output]\nroster = 3\n', "[output] roster: expected a file name")):
        path.write_text(head + body, encoding="utf-8")
        with pytest.raises(GridmapError) as err:
            load_project(path)
        assert fragment in str(err.value)
    text = write_template(tmp_path / "t.toml").read_text(encoding="utf-8")
    assert "per_station = 100000" in text and "per_compound_year = 6000" in text
    assert "secretary_month = 500" in text and "per_branch_year = 5000" in text
    assert "小店区" in text and "迎泽区" in text
    # The 小店区 block, uncommented, is a valid policy.
    start, end = text.index("# [funding]                   # 小店区"), text.index("# [funding]                   # 迎泽区")
    block = text[start:end]
    path.write_text(head + "\n".join(line[2:] for line in block.splitlines()) + "\n", encoding="utf-8")
    assert load_project(path).funding == XIAODIAN


# ------------------------------------------------------------------ the bundled sample, run whole


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The sample with a ledger carrying 身份, compounds carrying 物业公司 and 红色物业, a [funding]
    section (小店区), a roster, and two communities thinned to 60 and 30 members."""
    if not (SAMPLE / "members.csv").exists():
        pytest.skip("the bundled sample is not built")
    from gridmap.io import read_layer
    from gridmap.pipeline import run_job

    tmp = tmp_path_factory.mktemp("programme")
    comps = gpd.read_file(SAMPLE / "compounds.geojson")
    comps["物业公司"] = [None if k % 4 == 0 else f"物业{k % 5}公司" for k in range(len(comps))]
    comps["红色物业"] = ["是" if k % 3 == 0 else "否" for k in range(len(comps))]
    comps.to_file(tmp / "compounds.geojson", driver="GeoJSON")
    ledger = pd.read_csv(SAMPLE / "members.csv", dtype=str, encoding="utf-8-sig")
    channels = ["离退休干部", "退役军人", "社工", "网格员", "物业", "业委会"] + [None] * 10
    ledger["身份"] = [channels[k % len(channels)] for k in range(len(ledger))]
    # Where each member's building is laid out (it does not depend on the members).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = {n: read_layer(str(SAMPLE / f"{n}.geojson")) for n in ("compounds", "grids", "buildings",
                                                                         "communities")}
        org = organise(gridmap.classify(layers["compounds"], layers["grids"]), layers["buildings"], ledger,
                       layers["communities"])
    community = org.buildings.set_index("building_id").community.reindex(ledger.building_id).to_numpy()
    names = sorted(set(org.units.community))
    keep = np.ones(len(ledger), dtype=bool)
    for name, n in ((names[0], 60), (names[1], 30)):
        rows = np.flatnonzero(community == name)
        keep[rows[n:]] = False
    ledger = ledger[keep]
    ledger.to_csv(tmp / "members.csv", index=False, encoding="utf-8-sig")
    toml = "\n".join(f'[layers.{n}]\npath = "{p}"' for n, p in (
        ("compounds", tmp / "compounds.geojson"), ("grids", SAMPLE / "grids.geojson"),
        ("buildings", SAMPLE / "buildings.geojson"), ("members", tmp / "members.csv"),
        ("communities", SAMPLE / "communities.geojson"), ("streets", SAMPLE / "streets.geojson"),
        ("stations", SAMPLE / "stations.geojson")))
    toml += ('\n[funding]\nper_station = 100000\nper_compound_year = 6000\nsecretary_month = 500\n'
             '[output]\nfolder = "out"\nroster = "office/roster.xlsx"\n')
    (tmp / "p.toml").write_text(toml, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_job(load_project(tmp / "p.toml"))
    return tmp, result, ledger, names[:2]


def test_sample_run_funding_follows_policy_and_organisation(sample_run):
    tmp, result, _, _ = sample_run
    funding = pd.read_csv(result.out / "funding.csv", encoding="utf-8-sig")
    units = pd.read_csv(result.out / "organization.csv", encoding="utf-8-sig", dtype={"unit_id": str},
                        keep_default_na=False)
    assert list(funding.columns) == FUNDING_COLUMNS and funding.community.iloc[-1] == "合计"
    body = funding.iloc[:-1].set_index("community")
    level = units[(units.depth > 0) & units.kind.isin(["branch", "joint_branch", "general_branch"])]
    for community, row in body.iterrows():
        mine = level[level.community == community]
        own = mine.compound_ids[(mine.compound_ids != "") & ~mine.compound_ids.str.contains(";")].nunique()
        assert row.branches == row.secretaries == len(mine)
        assert row.compounds == own
        assert row.one_off == row.stations * 100_000
        assert row.per_year == own * 6_000 + len(mine) * 500 * 12
    stations = gpd.read_file(SAMPLE / "stations.geojson")
    assert body.stations.sum() == len(stations)
    assert (funding.iloc[-1, 1:] == body.sum()).all()
    book = openpyxl.load_workbook(result.out / "organization.xlsx")
    assert book.sheetnames[:2] == ["汇总", "经费测算"]


def test_sample_run_community_levels_and_tier(sample_run):
    tmp, result, ledger, (sixty, thirty) = sample_run
    units = pd.read_csv(result.out / "organization.csv", encoding="utf-8-sig", dtype={"unit_id": str, "parent_id": str},
                        keep_default_na=False)
    roots = units[units.depth == 0].set_index("community")
    assert (roots.loc[sixty, "members"], roots.loc[sixty, "kind"]) == (60, "general_branch")
    assert roots.loc[sixty, "name"].endswith("党总支")
    assert (roots.loc[thirty, "members"], roots.loc[thirty, "kind"]) == (30, "branch")
    assert roots.loc[thirty, "name"].endswith("党支部")
    assert (roots.drop([sixty, thirty]).kind == "committee").all()
    # Large grids show their compound tier: units of one compound each beneath the grid's unit.
    grids = units[(units.depth == 1) & units.situation.str.contains("large_grid")]
    tiers = units[units.parent_id.isin(grids.unit_id) & units.kind.isin(["group", "branch", "joint_branch"])]
    single = tiers[(tiers.compound_ids != "") & ~tiers.compound_ids.str.contains(";")]
    assert len(grids) and len(single) >= 2
    assert set(single.compound_ids) <= set(";".join(grids.compound_ids).split(";"))
    # Each is named after its compound (its name, else its id).
    compounds = pd.read_csv(result.out / "compounds.csv", encoding="utf-8-sig", dtype=str).set_index("compound_id")
    known = compounds.name.reindex(single.compound_ids).fillna(pd.Series(single.compound_ids.to_numpy(),
                                                                         index=single.compound_ids.to_numpy()))
    assert all(n.startswith(k) for n, k in zip(single.name, known))


def test_sample_run_roster_report_and_privacy(sample_run):
    tmp, result, ledger, _ = sample_run
    roster = openpyxl.load_workbook(tmp / "office" / "roster.xlsx")
    assert roster.sheetnames == ["党员名册", "书记人选", "支委人选"]
    assert roster["书记人选"].max_row > 10 and roster["支委人选"].max_row > 10
    report = openpyxl.load_workbook(result.out / "report.xlsx")
    assert {"社区党组织", "经费测算", "人选统计", "物业覆盖", "无物业小区", "街道"} <= set(report.sheetnames)
    street = list(report["街道"].iter_rows(values_only=True))
    assert street[0][0] == "街道" and street[-1][0] == "合计" and len(street) >= 3
    header = street[0]
    total = dict(zip(header, street[-1]))
    assert total["社区数"] == 6 and total["党员"] == len(ledger)
    assert total["微网格"] == len(result.microgrids.microgrids)
    coverage = {r[0]: r for r in report["物业覆盖"].iter_rows(values_only=True)}
    assert coverage["合计"][1] == len(pd.read_csv(result.out / "compounds.csv", encoding="utf-8-sig"))
    page = (result.out / "report.html").read_text(encoding="utf-8")
    for title in ("社区党组织", "经费测算", "书记和支委人选", "物业管理", "街道和区汇总"):
        assert f"<h2>{title}</h2>" in page
    assert "物业公司" in (result.out / "index.html").read_text(encoding="utf-8") or any(
        "物业公司" in p.read_text(encoding="utf-8") for p in result.out.glob("community-*.html"))
    for path in ("report.html", "organization.csv", "organization.json", "funding.csv", "index.html"):
        text = (result.out / path).read_text(encoding="utf-8-sig")
        assert not any(name in text for name in ledger.name.head(300)), path
    assert not (result.out / "office").exists()


# ------------------------------------------------------------------ command line


def test_cli_org_and_run_write_the_roster_with_candidates(tmp_path):
    from typer.testing import CliRunner

    from gridmap.cli import app

    comps, grids, buildings = town()
    paths = {}
    for name, layer in (("compounds", comps), ("grids", grids), ("buildings", buildings)):
        paths[name] = tmp_path / f"{name}.geojson"
        layer.to_file(paths[name], driver="GeoJSON")
    ledger = identity_ledger()
    paths["members"] = tmp_path / "members.csv"
    ledger.to_csv(paths["members"], index=False, encoding="utf-8-sig")
    layers = [str(paths["compounds"]), str(paths["grids"]), "--buildings", str(paths["buildings"]),
              "--members", str(paths["members"])]
    r = CliRunner().invoke(app, ["org", *layers, "--roster", str(tmp_path / "org-roster.xlsx"),
                                 "--out", str(tmp_path / "org")])
    assert r.exit_code == 0, r.output
    assert openpyxl.load_workbook(tmp_path / "org-roster.xlsx").sheetnames == ["党员名册", "书记人选", "支委人选"]
    r = CliRunner().invoke(app, ["run", "--compounds", str(paths["compounds"]), "--grids", str(paths["grids"]),
                                 "--buildings", str(paths["buildings"]), "--members", str(paths["members"]),
                                 "--roster", str(tmp_path / "office" / "roster.xlsx"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    book = openpyxl.load_workbook(tmp_path / "office" / "roster.xlsx")
    assert book.sheetnames == ["党员名册", "书记人选", "支委人选"]
    assert not (tmp_path / "run" / "funding.csv").exists()  # no [funding] policy: no estimate
    # A roster named inside the run's folder lands there, with the run.
    r = CliRunner().invoke(app, ["run", "--compounds", str(paths["compounds"]), "--grids", str(paths["grids"]),
                                 "--buildings", str(paths["buildings"]), "--members", str(paths["members"]),
                                 "--roster", str(tmp_path / "run" / "private" / "roster.xlsx"),
                                 "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "private" / "roster.xlsx").exists() and (tmp_path / "run" / "report.html").exists()
