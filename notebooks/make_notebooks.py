"""Write the notebooks from their cells (kept here so that diffs stay readable).

    python notebooks/make_notebooks.py

The notebooks are committed without outputs; the test suite executes them.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = '''from pathlib import Path
import tempfile, warnings
import pandas as pd
import gridmap

ROOT = Path.cwd() if (Path.cwd() / "boundaries").exists() else Path.cwd().parent
SAMPLE = ROOT / "boundaries"
OUT = Path(tempfile.mkdtemp(prefix="gridmap-notebook-"))
warnings.simplefilter("ignore", gridmap.errors.GridmapWarning)'''

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
        new_code_cell('''pd.crosstab(result.compounds["type"], result.compounds["situation"], margins=True)'''),
        new_markdown_cell("Compounds that straddle grids (`mixed`) are what alignment fixes (notebook 2). Their overlaps:"),
        new_code_cell('''mixed = result.compounds.query("situation == 'mixed'")[["compound_id", "name", "grid_ids", "main_grid_id", "main_share"]]
assert len(mixed) > 0
mixed.head(10)'''),
        new_code_cell('''from gridmap.pipeline import write_classification

write_classification(result, OUT)
sorted(p.name for p in OUT.iterdir())'''),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
