"""Project files: the template loads, mistakes name key and line, missing files are all named."""

from __future__ import annotations

import pytest

from conftest import ROOT
from gridmap.errors import GridmapError
from gridmap.project import load_project, write_template


def test_template_loads_and_points_at_the_sample(tmp_path):
    path = write_template(ROOT / "tmp-test-project.toml")
    try:
        project = load_project(path)
        assert set(project.layers) >= {"compounds", "grids", "buildings", "members", "streets", "stations"}
        assert project.rules["grid_households"] == [300, 500] and project.basemap == "osm"
        assert project.out == (ROOT / "gridmap-out").resolve()
        with pytest.raises(GridmapError, match="exists already"):
            write_template(path)
    finally:
        path.unlink()


@pytest.mark.parametrize("body, fragment", [
    ('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n[rules]\nsliver = "big"\n',
     "line 6: [rules] sliver: expected float"),
    ('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\nidd = "x"\n',
     "line 5: [layers.grids] idd: unknown key"),
    ('[layers.compounds]\npath = "c.shp"\n\n[layers.roads]\npath = "r.shp"\n',
     "line 4: [layers] roads: unknown layer"),
    ('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n[rules]\ngrid_households = [500, 300]\n',
     "line 6: [rules] grid_households"),
    ('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n[rules]\nlayout_on = "new"\n',
     "line 6: [rules] layout_on: expected one of 'current', 'proposal'"),
    ('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n[maps]\nbasemap = "google"\n',
     "line 6: [maps] basemap: must be one of"),
    ('[layers.compounds]\npath = "c.shp"\n[layers.grids\n', "not valid TOML"),
    ('[layers.compounds]\npath = "c.shp"\n', "[layers.grids] is missing"),
    ('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.shp"\n[extra]\n', "line 5: unknown section [extra]"),
])
def test_mistakes_name_key_and_line(tmp_path, body, fragment):
    path = tmp_path / "p.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(GridmapError) as err:
        load_project(path)
    assert fragment in str(err.value)


def test_all_missing_files_named_at_once(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[layers.compounds]\npath = "c.shp"\n[layers.grids]\npath = "g.gpkg"\nlayer = "网格"\n'
                    '[layers.streets]\npath = "s.shp"\n', encoding="utf-8")
    project = load_project(path)
    with pytest.raises(GridmapError) as err:
        project.require_files()
    text = str(err.value)
    assert "3 layer files do not exist" in text and "c.shp" in text and "g.gpkg:网格" in text and "s.shp" in text
