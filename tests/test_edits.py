"""A planner's edits (issue 13, edits.csv): ``align(edits=…)``, ``gridmap align --edits`` and
``[rules] edits`` take each row as a fixed decision and align the rest around it with every
guarantee of issues 3 and 11; an edit that cannot hold is refused before any work, naming the
compound and the grid; an edit that leaves a grid outside the household range is warned."""

from __future__ import annotations

import warnings

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import polygons
from gridmap.align import align, bordering
from gridmap.cli import app
from gridmap.errors import GridmapError, GridmapWarning
from gridmap.project import load_project
from test_align import _lattice, assert_valid_proposal, make_town

COMMUNITY = ["东", "东", "西", "东", "东", "西", "东", "东", "西"]  # G00 G10 G20 / G01 G11 G21 / G02 G12 G22


def town():
    grids = _lattice(community=COMMUNITY)
    compounds = polygons({"A": (60, 10, 160, 60), "B": (10, 110, 50, 150), "D": (50, 105, 100, 150),
                          "E": (150, 150, 250, 190)}, "compound_id", households=[200, 150, 100, 90])
    return compounds, grids


def edits(*rows, note=True):
    frame = pd.DataFrame(rows, columns=["compound_id", "to_grid_id"])
    if note:
        frame["note"] = ["小区大门朝这条街"] + [None] * (len(rows) - 1)
    return frame


def quiet_align(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return align(*args, **kwargs)


def test_an_edit_overrides_the_optimiser():
    compounds, grids = town()
    # Without edits A (60 % in G10) goes to G10; the planner puts it in G00.
    plain = quiet_align(compounds, grids)
    assert set(plain.changes.to_grid_id[plain.changes.compound_id == "A"]) == {"G10"}
    e = edits(("A", "G00"))
    result = quiet_align(compounds, grids, edits=e)
    mine = result.changes[result.changes.compound_id == "A"]
    assert list(zip(mine.from_grid_id, mine.to_grid_id, mine.reason)) == [("G10", "G00", "planner")]
    assert set(mine.reason_label) == {"规划人员调整"}
    assert result.summary["planner_edits"] == 1 and result.summary["planner_compounds_moved"] == 1
    assert result.grids.attrs["planner_edits"] == [{"compound_id": "A", "to_grid_id": "G00", "note": "小区大门朝这条街"}]
    assert result.grids.attrs["grid_households"] == [300.0, 500.0]
    assert_valid_proposal(result, compounds, grids, edits=e)


def test_a_compound_moves_into_a_grid_it_only_borders():
    compounds, grids = town()
    # D lies wholly in G01 and borders G11 along 45 m: it goes there, and G11 keeps all its land.
    e = edits(("D", "G11"))
    result = quiet_align(compounds, grids, edits=e)
    G = grids.set_index("grid_id").geometry
    P = result.grids.set_index("grid_id").geometry
    assert P["G11"].area == pytest.approx(G["G11"].area + 45 * 50, abs=0.1)
    assert_valid_proposal(result, compounds, grids, edits=e)


def test_edits_that_hold_as_given_are_not_changes():
    compounds, grids = town()
    # B lies wholly in G01: the edit pins it there (no land moves for it).
    e = edits(("B", "G01"))
    result = quiet_align(compounds, grids, edits=e)
    assert (result.changes.compound_id != "B").all()
    assert_valid_proposal(result, compounds, grids, edits=e)


@pytest.mark.parametrize("rows, expected", [
    ({"compound_id": ["Z"], "to_grid_id": ["G00"]}, "compound Z does not exist"),
    ({"compound_id": ["A"], "to_grid_id": ["G99"]}, "grid G99 .for compound A. does not exist"),
    ({"compound_id": ["A"], "to_grid_id": ["G10-1"]}, "looks like a new grid.*cut from G10"),
    ({"compound_id": ["A"], "to_grid_id": ["G20"]}, "grid G20 is in community 西, compound A in 东"),
    ({"compound_id": ["A", "A"], "to_grid_id": ["G00", "G10"]}, "compound A has 2 rows .lines 2, 3"),
    ({"compound_id": ["B"], "to_grid_id": ["G11"]}, "compound B does not border grid G11.*G01"),
    ({"compound_id": ["E"], "to_grid_id": ["G11"]}, "compound E lies in 2 communities .东, 西."),
    ({"compound_id": ["A", ""], "to_grid_id": ["", "G00"]}, "line 2: compound A has no to_grid_id; line 3: no compound_id"),
    ({"compound": ["A"], "grid": ["G00"]}, "needs the columns compound_id and to_grid_id"),
])
def test_edits_that_cannot_hold_are_refused(rows, expected):
    compounds, grids = town()
    with pytest.raises(GridmapError, match=expected) as exc:
        align(compounds, grids, edits=pd.DataFrame(rows))
    assert "\n" not in str(exc.value)


def test_kept_grids_refuse_edits():
    compounds, grids = town()
    with pytest.raises(GridmapError, match="compound A has land in grid G00, named to keep"):
        align(compounds, grids, keep=["G00"], edits=edits(("A", "G10")))
    with pytest.raises(GridmapError, match="grid G00 is named to keep .--keep.: it cannot take compound A"):
        align(compounds, grids, keep=["G00"], edits=edits(("A", "G00")))


def test_overlapping_compounds_placed_apart_are_refused():
    grids = _lattice(community=COMMUNITY)
    compounds = polygons({"A": (60, 10, 160, 60), "A2": (90, 20, 120, 50)}, "compound_id", households=[200, 30])
    with pytest.raises(GridmapError, match="compounds A and A2 overlap and are placed in different grids"):
        align(compounds, grids, edits=edits(("A", "G00"), ("A2", "G10")))


def test_a_compound_reaches_a_grid_through_another_placed_there():
    grids = _lattice(community=COMMUNITY)
    # F lies in G01 and borders G11; H lies in G01 west of F and borders only F: both to G11.
    compounds = polygons({"F": (60, 110, 100, 150), "H": (20, 110, 60, 150)}, "compound_id", households=[80, 70])
    with pytest.raises(GridmapError, match="compound H does not border grid G11"):
        align(compounds, grids, edits=edits(("H", "G11")), grid_households=(20, 200))
    e = edits(("F", "G11"), ("H", "G11"))
    result = quiet_align(compounds, grids, edits=e, grid_households=(20, 200))
    assert_valid_proposal(result, compounds, grids, edits=e, low=20, high=200)


def test_a_grid_left_outside_the_range_is_named():
    grids = _lattice(community=COMMUNITY, households=[320, 410, 350, 330, 300, 310, 305, 315, 400])
    compounds = polygons({"A": (60, 10, 160, 60)}, "compound_id", households=[101])
    e = edits(("A", "G10"))
    # A goes to G10 (451): G00 is left with 280, under the minimum.
    with pytest.warns(GridmapWarning, match=r"outside the household range 300–500: grid G00: 280 households"):
        result = align(compounds, grids, edits=e)
    assert_valid_proposal(result, compounds, grids, edits=e)
    assert result.summary["outside_range_after"] == result.summary["outside_range_before"] + 1


def test_edits_on_the_sample(sample_dir):
    compounds = gpd.read_file(sample_dir / "compounds.geojson")
    grids = gpd.read_file(sample_dir / "grids.geojson")
    buildings = gpd.read_file(sample_dir / "buildings.geojson")
    plain = quiet_align(compounds, grids, buildings=buildings)
    # Put a compound the optimiser moved back into the other grid it straddled.
    moved = plain.changes[plain.changes.reason == "compound_moved"].iloc[0]
    e = edits((moved.compound_id, moved.from_grid_id))
    result = quiet_align(compounds, grids, buildings=buildings, edits=e)
    assert_valid_proposal(result, compounds, grids, edits=e)
    assert result.summary["straddling_after"] == 0


def test_an_edit_holds_when_another_cuts_its_grid_in_two():
    # C0 (most of it in G2) goes to G0 and cuts G2 in two; C1 (mostly in G3) is placed in G2 and
    # touches only the smaller side of G2's old ground: G2 goes with C1, not with its old ground.
    compounds, grids, _ = make_town(22048528, False, True, False, False, False)
    e = pd.DataFrame([{"compound_id": "C0", "to_grid_id": "G0"}, {"compound_id": "C1", "to_grid_id": "G2"}])
    result = quiet_align(compounds, grids, edits=e)
    assert_valid_proposal(result, compounds, grids, edits=e)
    assert result.summary["planner_not_held"] == []


# ------------------------------------------------------------------ random towns


@st.composite
def towns_with_edits(draw):
    compounds, grids, keep = make_town(draw(st.integers(0, 2**32 - 1)), *(draw(st.booleans()) for _ in range(4)), False)
    C = compounds.geometry.to_numpy()
    G = grids.geometry.to_numpy()
    ci, gi, _ = bordering(C, G)
    zone = grids.community.to_numpy()
    # Compounds wholly within one community may go to a grid of it they border or lie in.
    t = pd.DataFrame({"c": ci, "g": gi, "z": zone[gi]})
    inside = shapely.area(shapely.intersection(C, shapely.union_all(G))) >= shapely.area(C) - 1
    one = t.groupby("c").z.nunique()
    ok = t[t.c.map(one).eq(1) & inside[t.c.to_numpy()]]
    if not len(ok):
        return compounds, grids, pd.DataFrame(columns=["compound_id", "to_grid_id"])
    picks = draw(st.lists(st.sampled_from(sorted(set(ok.c))), min_size=1, max_size=3, unique=True))
    rows = [(compounds.compound_id.iloc[c], grids.grid_id.iloc[draw(st.sampled_from(sorted(ok.g[ok.c == c])))])
            for c in picks]
    return compounds, grids, pd.DataFrame(rows, columns=["compound_id", "to_grid_id"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(towns_with_edits())
def test_random_edits_hold_with_every_guarantee(case):
    compounds, grids, e = case
    if not len(e):
        return
    low, high = 300, 500
    try:
        result = quiet_align(compounds, grids, edits=e)
    except GridmapError as exc:
        if "no grid can meet" not in str(exc):
            # Overlapping compounds placed apart may be refused; nothing else may.
            assert "overlap and are placed in different grids" in str(exc), str(exc)
            return
        low, high = 20, 200
        result = quiet_align(compounds, grids, edits=e, grid_households=(low, high))
    assert_valid_proposal(result, compounds, grids, low=low, high=high, edits=e)


# ------------------------------------------------------------------ command line and project


def write_town(folder):
    compounds, grids = town()
    folder.mkdir(exist_ok=True)
    compounds.to_file(folder / "compounds.geojson")
    grids.to_file(folder / "grids.geojson")
    return folder / "compounds.geojson", folder / "grids.geojson"


def test_cli_align_with_edits(tmp_path):
    c, g = write_town(tmp_path / "in")
    path = tmp_path / "edits.csv"
    edits(("A", "G00")).to_csv(path, index=False, encoding="utf-8-sig")
    r = CliRunner().invoke(app, ["align", str(c), str(g), "--edits", str(path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "Planner's edits applied: 1" in r.output
    changes = gpd.read_file(tmp_path / "o" / "proposal.gpkg", layer="changes")
    assert list(changes.reason[changes.compound_id == "A"]) == ["planner"]
    # GB18030 (saved by Excel on a Chinese Windows) reads as well.
    edits(("A", "G00")).to_csv(path, index=False, encoding="gb18030")
    r = CliRunner().invoke(app, ["align", str(c), str(g), "--edits", str(path), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("text, expected", [
    ("compound_id,to_grid_id,note\nZ,G00,\n", "compound Z does not exist"),
    ("compound_id,to_grid_id,note\nA,G99,\n", "grid G99 (for compound A) does not exist"),
    ("compound_id,to_grid_id,note\nA,G20,\n", "grid G20 is in community 西, compound A in 东"),
    ("compound_id,to_grid_id,note\nA,G00,\nA,G10,\n", "compound A has 2 rows (lines 2, 3"),
    ("小区,网格\nA,G00\n", "needs the columns compound_id and to_grid_id"),
    ("compound_id,to_grid_id\n\"A,G00\n", "not a readable edits file"),
])
def test_cli_refuses_each_bad_edit(tmp_path, text, expected):
    c, g = write_town(tmp_path / "in")
    path = tmp_path / "edits.csv"
    path.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(app, ["align", str(c), str(g), "--edits", str(path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1, r.output
    assert expected in " ".join(r.output.split()) and "Traceback" not in r.output
    assert not (tmp_path / "o" / "proposal.gpkg").exists()


def test_project_rules_edits_relative_to_the_file(tmp_path):
    c, g = write_town(tmp_path / "in")
    (tmp_path / "plans").mkdir()
    edits(("A", "G00")).to_csv(tmp_path / "plans" / "edits.csv", index=False, encoding="utf-8-sig")
    toml = tmp_path / "plans" / "project.toml"
    toml.write_text(f'[layers.compounds]\npath = "{c.as_posix()}"\n[layers.grids]\npath = "{g.as_posix()}"\n'
                    '[rules]\nedits = "edits.csv"\n[output]\nfolder = "out"\n[maps]\nbasemap = "none"\n', encoding="utf-8")
    project = load_project(toml)
    assert project.rule("edits", None) == str(tmp_path / "plans" / "edits.csv")
    r = CliRunner().invoke(app, ["run", str(toml)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "plans" / "out"
    changes = gpd.read_file(out / "proposal.gpkg", layer="changes")
    assert list(changes.reason[changes.compound_id == "A"]) == ["planner"]
    # proposal.html is drawn from the edited proposal, with the edit as its starting point.
    page = (out / "proposal.html").read_text(encoding="utf-8")
    assert '"applied":[[' in page and "小区大门朝这条街" in page
    # A missing edits file is named before any work.
    (tmp_path / "plans" / "edits.csv").unlink()
    r = CliRunner().invoke(app, ["run", str(toml)])
    assert r.exit_code == 1 and "edits:" in r.output and "edits.csv" in r.output


def test_grids_outside_the_lattice_refuse_outside_compounds():
    compounds = polygons({"A": (60, 10, 160, 60), "OUT": (400, 400, 450, 450)}, "compound_id", households=[200, 10])
    with pytest.raises(GridmapError, match="compound OUT lies outside every grid"):
        align(compounds, _lattice(community=COMMUNITY), edits=edits(("OUT", "G22")))
