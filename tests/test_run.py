"""gridmap run / demo / init: every stage, one folder replaced as a whole, clear failures."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pandas as pd
import pytest

from conftest import ROOT
from gridmap.errors import GridmapError
from gridmap.pipeline import RUN_MARK, STAGES, StageError, demo_project, run_job
from gridmap.project import LayerConfig, Project

OUTPUTS = ["check.csv", "compounds.csv", "grids.csv", "overlaps.csv", "classification.gpkg", "inferred.gpkg",
           "proposal.gpkg", "proposal.csv", "organization.csv", "organization.json", "organization.xlsx",
           "microgrids.gpkg", "reach.csv", "index.html", "report.html", "report.xlsx"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, request):
    if not (ROOT / "boundaries" / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    out = tmp_path_factory.mktemp("run") / "demo"
    return run_job(demo_project(out))


def test_every_output_lands_in_one_folder(demo):
    names = {p.name for p in demo.out.iterdir()}
    assert set(OUTPUTS) <= names, set(OUTPUTS) - names
    assert RUN_MARK in names and not [n for n in names if n.startswith(".") and n != RUN_MARK]
    assert set(demo.seconds) == set(STAGES)
    community_pages = [p for p in demo.pages if p.name not in ("index.html", "proposal.html")]
    assert len(community_pages) >= 4 and all(p.exists() for p in demo.pages)


def test_stages_agree_with_each_other(demo):
    compounds = pd.read_csv(demo.out / "compounds.csv", encoding="utf-8-sig")
    inferred = compounds[compounds.outline == "inferred"]
    assert len(inferred) >= 3  # the sample withholds outlines of a few old compounds
    org = pd.read_csv(demo.out / "organization.csv", encoding="utf-8-sig")
    assert org.kind.isin(["committee", "general_branch", "branch", "joint_branch", "group", "central_household"]).all()
    assert demo.organisation.members_unplaced == 0
    assert demo.alignment.summary["straddling_after"] < demo.alignment.summary["straddling_before"]
    reach = pd.read_csv(demo.out / "reach.csv", encoding="utf-8-sig")
    assert len(reach) == len(compounds) and reach.measured.eq("streets").all()


def test_report_states_the_programme_figures(demo):
    page = (demo.out / "report.html").read_text(encoding="utf-8")
    n = len(pd.read_csv(demo.out / "compounds.csv", encoding="utf-8-sig"))
    assert f"共有小区{n}个" in page and "楼栋（单元）党小组" in page and "划分微网格" in page
    assert f"全部{demo.organisation.members_total}名党员均已编入楼栋党小组" in page
    assert "OpenStreetMap" in page and "<script src=" not in page
    book = openpyxl.load_workbook(demo.out / "report.xlsx")
    assert {"概况", "情形", "组织"} <= set(book.sheetnames)
    ledger = pd.read_csv(ROOT / "boundaries" / "members.csv", encoding="utf-8-sig", dtype=str)
    for path in ("report.html", "organization.csv", "organization.json", "index.html"):
        text = (demo.out / path).read_text(encoding="utf-8-sig")
        assert not any(name in text for name in ledger.name.head(200)), path
        assert not any(phone in text for phone in ledger.phone.head(200)), path


def assert_one_set_of_grids(result, grids):
    """Organisation and micro-grids are laid on ``grids``, and every unit hangs under the committee
    of the community its grids belong to (their community field, not a point lookup)."""
    community = grids.set_index("grid_id").community
    units = result.organisation.units
    parent = units.set_index("unit_id").parent_id
    name = units.set_index("unit_id").name

    def committee(u):
        while isinstance(parent.get(u), str) and parent.get(u):
            u = parent[u]
        return name[u]

    placed = units[units.grid_ids.fillna("") != ""]
    assert len(placed)
    for unit in placed.itertuples():
        ids = unit.grid_ids.split(";")
        assert set(ids) <= set(community.index), unit.grid_ids
        comms = set(community.reindex(ids))
        assert len(comms) == 1, (unit.name, comms)
        assert committee(unit.unit_id).startswith(comms.pop()), (unit.name, committee(unit.unit_id))
    micro = result.microgrids.microgrids
    assert set(micro.grid_id) <= set(community.index)


def test_one_run_lays_everything_on_the_current_grids(demo):
    import geopandas as gpd

    grids = gpd.read_file(ROOT / "boundaries" / "grids.geojson")
    assert_one_set_of_grids(demo, grids)
    assert any("current grids" in n for n in demo.notes)


def test_layout_on_the_proposal(tmp_path):
    if not (ROOT / "boundaries" / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    project = demo_project(tmp_path / "p")
    project.rules["layout_on"] = "proposal"
    result = run_job(project)
    grids = result.alignment.grids
    assert_one_set_of_grids(result, grids)
    # The community pages and the organisation see no straddling compound left.
    assert (result.alignment.after.compounds.situation != "mixed").all()
    mg_grids = set(result.microgrids.microgrids.grid_id)
    assert mg_grids & set(grids.grid_id[grids.status == "new"]) or not (grids.status == "new").any()
    page = (result.out / "proposal.html").read_text(encoding="utf-8")
    assert "调整清单" in page and "调整前网格" in page


def small_project(tmp_path, **layers) -> Project:
    sample = ROOT / "boundaries"
    if not (sample / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    chosen = {"compounds": "compounds.geojson", "grids": "grids.geojson", **layers}
    return Project(layers={k: LayerConfig(str(sample / v)) for k, v in chosen.items()}, out=tmp_path / "out")


def test_missing_layers_skip_stages_with_notes(tmp_path):
    result = run_job(small_project(tmp_path))
    assert result.organisation is None and result.microgrids is None and result.reach is None
    assert any("No buildings layer" in n for n in result.notes)
    names = {p.name for p in result.out.iterdir()}
    assert {"compounds.csv", "proposal.gpkg", "index.html", "report.html"} <= names
    assert "organization.csv" not in names and "microgrids.gpkg" not in names


def test_output_replaced_as_a_whole(tmp_path):
    project = small_project(tmp_path)
    first = run_job(project)
    (first.out / "compounds.csv").write_text("changed by hand")  # a file of the run: replaced
    (first.out / "notes.txt").write_text("the user's own file")
    with pytest.raises(GridmapError, match="did not write: notes.txt"):  # issue 12: never deleted
        run_job(project)
    assert (first.out / "notes.txt").read_text() == "the user's own file"
    (first.out / "notes.txt").unlink()
    second = run_job(project)
    assert (second.out / "compounds.csv").read_text(encoding="utf-8-sig") != "changed by hand"
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    project.out = foreign
    with pytest.raises(GridmapError, match="not written by gridmap run"):
        run_job(project)
    assert (foreign / "thesis.docx").read_text() == "precious"


def test_failing_stage_is_named_and_keeps_earlier_outputs(tmp_path, monkeypatch):
    import gridmap.pipeline as pipeline

    project = small_project(tmp_path)
    run_job(project)
    before = sorted(p.name for p in project.out.iterdir())

    def broken(*args, **kwargs):
        raise GridmapError("the proposal could not be drawn")

    monkeypatch.setitem(pipeline._STAGE_FUNCS, "align", broken)
    with pytest.raises(StageError, match="Stage 'align' failed: the proposal could not be drawn") as err:
        run_job(project)
    assert "out.incomplete" in str(err.value)
    assert sorted(p.name for p in project.out.iterdir()) == before  # the old run is intact
    kept = {p.name for p in (tmp_path / "out.incomplete").iterdir()}
    assert {"compounds.csv", "classification.gpkg"} <= kept and "proposal.gpkg" not in kept


def test_missing_files_named_before_work(tmp_path):
    project = small_project(tmp_path)
    project.layers["buildings"] = LayerConfig(str(tmp_path / "nope.shp"))
    project.layers["stations"] = LayerConfig(str(tmp_path / "nada.gpkg") + ":st")
    with pytest.raises(GridmapError, match=r"2 layer files do not exist.*nope.shp.*nada.gpkg"):
        run_job(project)
    assert not project.out.exists()


def test_cli_init_and_run_project_file(tmp_path):
    if not (ROOT / "boundaries" / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    toml = tmp_path / "p.toml"
    r = subprocess.run([sys.executable, "-m", "gridmap", "init", toml], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = toml.read_text(encoding="utf-8").replace('"boundaries/', f'"{ROOT}/boundaries/')
    keep = [line for line in text.splitlines(keepends=True)]
    # Only compounds, grids and stations: a quick run that still shows skipped stages.
    body, skip = [], False
    for line in keep:
        if line.startswith("[layers."):
            skip = line.split("#")[0].strip() not in ("[layers.compounds]", "[layers.grids]", "[layers.stations]")
        elif line.startswith("["):
            skip = False
        if not skip:
            body.append(line)
    toml.write_text("".join(body), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "gridmap", "run", toml, "--out", tmp_path / "o"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "index.html" in out and "report.html" in out and "No buildings layer" in out
    assert (tmp_path / "o" / "reach.csv").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(toml.read_text(encoding="utf-8").replace("sliver = 0.05", "sliver = \"x\""), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "gridmap", "run", bad], capture_output=True, text=True)
    assert r.returncode == 1 and "[rules] sliver" in " ".join(r.stderr.split()) and "Traceback" not in r.stderr
