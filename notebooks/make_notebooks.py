"""Write the notebooks from their cells (kept here so that diffs stay readable), and run them.

    python notebooks/make_notebooks.py

The notebooks are committed executed, with their outputs (tables, static maps, an interactive map),
so that they read on a code host; the test suite executes them again.
"""

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = '''from pathlib import Path
import tempfile, warnings
import pandas as pd
import gridmap

ROOT = Path.cwd() if (Path.cwd() / "boundaries").exists() else Path.cwd().parent
SAMPLE = ROOT / "boundaries"
OUT = Path(tempfile.mkdtemp(prefix="gridmap-notebook-"))
warnings.simplefilter("ignore", gridmap.errors.GridmapWarning)

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from gridmap import vocab
from gridmap.offices.printmap import find_cjk_font

plt.rcParams["font.family"] = find_cjk_font()  # Chinese labels, not empty boxes
plt.rcParams["axes.unicode_minus"] = False


def situation_map(ax, compounds, grids, title):
    """Compounds filled by situation, grids outlined: the programme's colours and words."""
    grids.boundary.plot(ax=ax, color="#444", linewidth=0.6)
    handles = []
    for code in vocab.COMPOUND_SITUATIONS:
        part = compounds[compounds.situation == code]
        if len(part):
            part.plot(ax=ax, color=vocab.SITUATION_COLOURS[code], edgecolor="#222", linewidth=0.3)
            handles.append(Patch(color=vocab.SITUATION_COLOURS[code], label=f"{vocab.SITUATION_LABELS[code]}（{len(part)}）"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, title="小区情形",
              frameon=False)
    ax.set_title(title)
    ax.set_axis_off()'''

NOTEBOOKS = {
    "01_load_validate_classify.ipynb": [
        new_markdown_cell("""# 1 · Load, validate, classify

The bundled sample is central Taiyuan: real OpenStreetMap compounds (小区) and streets, with grids (网格),
communities, buildings and a member ledger synthesised around them (map data © OpenStreetMap
contributors, ODbL 1.0). This notebook reads the layers, checks them, and classifies every compound and
grid into the three situations of the programme (DESIGN §2)."""),
        new_code_cell(SETUP),
        new_markdown_cell("## Read the layers\n`read_layer` takes any GIS format (shapefile, GeoPackage `PATH:LAYER`, GeoJSON, KML, FileGDB, CSV with WKT) and decodes Chinese attribute tables."),
        new_code_cell('''compounds = gridmap.read_layer(SAMPLE / "compounds.geojson")
grids = gridmap.read_layer(SAMPLE / "grids.geojson")
print(len(compounds), "compounds,", len(grids), "grids, CRS", compounds.crs.to_string())
print("areas are measured in", gridmap.metric_crs(compounds, grids).name)
compounds[["compound_id", "name", "type", "households"]].head()'''),
        new_markdown_cell("## Validate\n`inspect_layer` lists every problem without stopping; `overlap_issues` measures overlaps between compounds and gaps and overlaps between grids."),
        new_code_cell('''from gridmap.validate import inspect_layer, overlap_issues

cleaned, issues = inspect_layer(grids, "grid_id", "grids")
metric = cleaned.to_crs(gridmap.metric_crs(cleaned))
findings = pd.concat([issues, overlap_issues(metric, "grid_id", "grids")])
print(len(findings), "findings on the grids")
findings.head()'''),
        new_markdown_cell("## Classify\nOne bulk STRtree query gives every compound–grid overlap; the rule then runs on the overlap table."),
        new_code_cell('''result = gridmap.classify(compounds, grids)
counts = result.counts()
pd.DataFrame(counts).fillna(0).astype(int)'''),
        new_code_cell('''pd.crosstab(result.compounds["type"], result.compounds["situation"].map(vocab.SITUATION_LABELS), margins=True,
            margins_name="合计")'''),
        new_markdown_cell("## The situations on a map\nThe central cluster of grids, in the metric CRS the areas were measured in (© OpenStreetMap contributors, ODbL 1.0)."),
        new_code_cell('''c = result.compounds.to_crs(result.crs)
g = result.grids.to_crs(result.crs)
fig, ax = plt.subplots(figsize=(10, 9), layout="constrained")
situation_map(ax, c, g, "小区与网格的三种情形（太原市中心，样例数据）")
xmin, ymin, xmax, ymax = g.total_bounds
ax.set_xlim(xmin, xmax); ax.set_ylim(ymin, ymax)
plt.show()'''),
        new_markdown_cell("An interactive map of the same (`GeoDataFrame.explore`; hover for the compound's name and situation):"),
        new_code_cell('''shown = result.compounds.assign(情形=result.compounds.situation.map(vocab.SITUATION_LABELS))
shown[["compound_id", "name", "情形", "geometry"]].explore(
    column="情形", categorical=True,
    categories=[vocab.SITUATION_LABELS[s] for s in vocab.COMPOUND_SITUATIONS],
    cmap=[vocab.SITUATION_COLOURS[s] for s in vocab.COMPOUND_SITUATIONS],
    tooltip=["compound_id", "name", "情形"], tiles="OpenStreetMap", style_kwds={"weight": 1})'''),
        new_markdown_cell("Compounds that straddle grids (`mixed`) are what alignment fixes (notebook 2). Their overlaps:"),
        new_code_cell('''mixed = result.compounds.query("situation == 'mixed'")[["compound_id", "name", "grid_ids", "main_grid_id", "main_share"]]
assert len(mixed) > 0
mixed.head(10)'''),
        new_code_cell('''from gridmap.jobs import write_classification

write_classification(result, OUT)
sorted(p.name for p in OUT.iterdir())'''),
    ],
    "02_align_old_compounds.ipynb": [
        new_markdown_cell("""# 2 · An alignment proposal (拉平对齐) for old compounds

Old compounds (老旧型) often straddle grids, and some have no outline at all. This notebook infers the
missing outlines from buildings and streets, then proposes grid boundaries under which no old compound
straddles grids, and measures what moves (map data © OpenStreetMap contributors, ODbL 1.0)."""),
        new_code_cell(SETUP),
        new_code_cell('''compounds = gridmap.read_layer(SAMPLE / "compounds.geojson")
grids = gridmap.read_layer(SAMPLE / "grids.geojson")
buildings = gridmap.read_layer(SAMPLE / "buildings.geojson")
streets = gridmap.read_layer(SAMPLE / "streets.geojson")
before = gridmap.classify(compounds, grids)
pd.crosstab(before.compounds["type"], before.compounds["situation"])'''),
        new_markdown_cell("## Outlines for compounds that have buildings but no polygon"),
        new_code_cell('''from gridmap.infer import infer_outlines, outline_iou

inference = infer_outlines(buildings, streets, compounds)
truth = gridmap.read_layer(SAMPLE / "removed_outlines.geojson")
iou = outline_iou(inference.compounds, truth)
print(len(inference.compounds), "outlines inferred; median IoU with the true outlines:", round(iou.iou.median(), 2))
iou'''),
        new_markdown_cell("## Align the old compounds\n`types` limits the work to old compounds; grids keep their ids where they survive."),
        new_code_cell('''from gridmap.align import align, with_inferred

with_outlines = with_inferred(compounds, inference.compounds, None, None)
proposal = align(with_outlines, grids, types=["老旧型"], grid_households=(300, 500))
pd.Series(proposal.summary).loc[["straddling_before", "straddling_after", "straddling_in_scope_before",
                                "straddling_in_scope_after", "grids_changed", "grids_new",
                                "compounds_moved", "households_moved"]]'''),
        new_code_cell('''# The invariants planners rely on: the same territory, no old compound left straddling grids.
import shapely
metric = proposal.after.crs
old_area = shapely.union_all(grids.to_crs(metric).geometry.values).area
new_area = shapely.union_all(proposal.grids.to_crs(metric).geometry.values).area
after = proposal.after.compounds
assert abs(new_area - old_area) / old_area < 1e-6
assert not ((after.situation == "mixed") & (after["type"] == "老旧型")).any()
proposal.changes[["compound_id", "from_grid_id", "to_grid_id", "area_m2", "households"]].head(10)'''),
        new_markdown_cell("## Before and after\nThe same compounds on the current grids and on the proposal's: no old compound straddles any more."),
        new_code_cell('''fig, (left, right) = plt.subplots(1, 2, figsize=(15, 8), layout="constrained")
metric = proposal.after.crs
situation_map(left, proposal.before.compounds.to_crs(metric), proposal.before.grids.to_crs(metric), "调整前")
situation_map(right, proposal.after.compounds.to_crs(metric), proposal.grids.to_crs(metric), "调整后（拉平对齐方案）")
changed = proposal.changes.to_crs(metric)
changed.boundary.plot(ax=right, color="#d7191c", linewidth=1.5)
for ax in (left, right):
    xmin, ymin, xmax, ymax = proposal.grids.to_crs(metric).total_bounds
    ax.set_xlim(xmin, xmax); ax.set_ylim(ymin, ymax)
plt.show()'''),
        new_code_cell('''from gridmap.jobs import write_alignment

write_alignment(proposal, OUT)
sorted(p.name for p in OUT.iterdir())'''),
    ],
    "03_organisation_and_maps.ipynb": [
        new_markdown_cell("""# 3 · Organisation layout and maps

From the situations to the three-tier organisation (community → compound/grid branch → building group),
then offline maps for the community workers. Members are counted, never listed (map data ©
OpenStreetMap contributors, ODbL 1.0)."""),
        new_code_cell(SETUP),
        new_code_cell('''from gridmap.org import organise, read_ledger

compounds = gridmap.read_layer(SAMPLE / "compounds.geojson")
grids = gridmap.read_layer(SAMPLE / "grids.geojson")
buildings = gridmap.read_layer(SAMPLE / "buildings.geojson")
communities = gridmap.read_layer(SAMPLE / "communities.geojson")
ledger = read_ledger([SAMPLE / "members.csv"])
result = gridmap.classify(compounds, grids)
org = organise(result, buildings, ledger, communities)
print(org.members_total, "members,", org.members_placed, "placed in groups,", org.members_unplaced, "not placed")
org.units.kind.value_counts()'''),
        new_code_cell('''assert org.members_unplaced == 0
org.summary()'''),
        new_markdown_cell("The first levels of one community's tree:"),
        new_code_cell('''units = org.units
first = units[units.depth == 0].unit_id.iloc[0]
mine = units.unit_id.str.startswith(first) & (units.depth <= 2)
tree = units[mine].assign(组织=["　" * d + n for d, n in zip(units[mine].depth, units[mine].name)],
                          类型=units[mine].kind.map(vocab.KIND_LABELS))
tree[["组织", "类型", "members", "has_committee"]].rename(columns={"members": "党员数", "has_committee": "设委员会"}).head(20)'''),
        new_markdown_cell("## Micro-grids and maps"),
        new_code_cell('''from gridmap.maps import make_maps
from gridmap.microgrids import microgrids

mg = microgrids(grids, buildings, streets=gridmap.read_layer(SAMPLE / "streets.geojson"))
print(len(mg.microgrids), "micro-grids; households per micro-grid:",
      mg.microgrids.households.describe()[["min", "50%", "max"]].to_dict())
pages = make_maps(result, OUT / "maps", buildings=buildings, microgrids=mg.microgrids, organisation=org.units,
                  communities=communities, stations=gridmap.read_layer(SAMPLE / "stations.geojson"))
[p.name for p in pages]'''),
        new_code_cell('''page = (OUT / "maps" / "index.html").read_text(encoding="utf-8")
assert '<script src="http' not in page and "OpenStreetMap" in page
ledger_names = pd.read_csv(SAMPLE / "members.csv", encoding="utf-8-sig", dtype=str).name
assert not any(name in page for name in ledger_names.head(200))
print(f"index.html: {len(page) / 1e6:.2f} MB, self-contained, no member names")'''),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name, "with its outputs")


if __name__ == "__main__":
    main()
