"""Project files (``gridmap run project.toml``): which layers, which fields, which rules.

A project file is TOML. Paths are relative to the file's folder. Mistakes are reported with the key
and its line, and every missing layer file is named before any work starts.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gridmap import settings
from gridmap.errors import GridmapError
from gridmap.io import parse_layer_spec

#: Layers a project may name, and the field keys each accepts.
LAYERS: dict[str, tuple[str, ...]] = {
    "compounds": ("id", "name", "type", "households"),
    "grids": ("id", "name", "community", "households"),
    "buildings": ("id", "compound", "households", "members"),
    "members": (),
    "communities": ("id", "name"),
    "streets": (),
    "stations": (),
    "grid_workers": (),
}
RULES: dict[str, type | tuple] = {
    "sliver": float, "nest": float, "grid_households": list, "microgrid_households": list,
    "walk_m": float, "align_types": list, "keep": list, "layout_on": str,
    "branch_min_members": int, "branch_max_members": int, "committee_min_members": int, "group_min_members": int,
}
SECTIONS = {"layers", "rules", "maps", "output", "read"}
#: The grids a run lays organisation, micro-grids, maps and report on: the current ones, or the
#: alignment proposal's (``[rules] layout_on``).
LAYOUT_ON = ("current", "proposal")


@dataclass
class LayerConfig:
    spec: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Project:
    """Everything ``gridmap run`` needs, whether from a project file or from flags."""

    layers: dict[str, LayerConfig] = field(default_factory=dict)
    rules: dict = field(default_factory=dict)
    basemap: str = "osm"
    tianditu_key: str | None = None
    out: Path = Path("gridmap-out")
    crs: str | None = None
    encoding: str | None = None
    engine: str = settings.ENGINE
    source: Path | None = None

    def rule(self, name: str, default):
        return self.rules.get(name, default)

    def missing_files(self) -> list[str]:
        """Layer files that do not exist, as ``name: path``."""
        return [f"{name}: {cfg.spec}" for name, cfg in self.layers.items()
                if not parse_layer_spec(cfg.spec).path.exists()]

    def require_files(self) -> None:
        missing = self.missing_files()
        if missing:
            where = f" (named in {self.source})" if self.source else ""
            raise GridmapError(f"{len(missing)} layer files do not exist{where}: " + "; ".join(missing)
                               + ". Nothing was run.")


def load_project(path: str | Path) -> Project:
    """Read and check a project file.

    Raises
    ------
    GridmapError
        Unreadable TOML (with its line), unknown sections or keys, wrong types (naming the key and
        its line), a compounds or grids layer missing.
    """
    path = Path(path)
    if not path.exists():
        raise GridmapError(f"{path}: no such project file. `gridmap init {path}` writes a template.")
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GridmapError(f"{path}: not valid TOML: {exc}.") from None
    base = path.parent

    def fail(section: str, key: str, problem: str):
        raise GridmapError(f"{path}, line {_line_of(text, section, key)}: [{section}] {key}: {problem}.")

    for section in data:
        if section not in SECTIONS:
            raise GridmapError(f"{path}, line {_line_of(text, None, section)}: unknown section [{section}]; "
                               f"the sections are {', '.join(sorted(SECTIONS))}.")
    project = Project(source=path)
    for name, cfg in data.get("layers", {}).items():
        sec = f"layers.{name}"
        if name not in LAYERS:
            fail("layers", name, f"unknown layer; the layers are {', '.join(LAYERS)}")
        if isinstance(cfg, str):
            cfg = {"path": cfg}
        if not isinstance(cfg, dict) or "path" not in cfg:
            fail(sec, "path", "each layer needs a path")
        fields = {}
        for key, value in cfg.items():
            if key in ("path", "layer"):
                continue
            if key not in LAYERS[name]:
                fail(sec, key, f"unknown key; {name} takes path, layer"
                     + (", " + ", ".join(LAYERS[name]) if LAYERS[name] else ""))
            if not isinstance(value, str):
                fail(sec, key, "a field name must be text in quotes")
            fields[key] = value
        spec = str((base / cfg["path"]).resolve()) if not Path(cfg["path"]).is_absolute() else cfg["path"]
        if cfg.get("layer"):
            spec = f"{spec}:{cfg['layer']}"
        project.layers[name] = LayerConfig(spec, fields)
    for key in ("compounds", "grids"):
        if key not in project.layers:
            raise GridmapError(f"{path}: [layers.{key}] is missing; a project needs at least compounds and grids.")

    for key, value in data.get("rules", {}).items():
        kind = RULES.get(key)
        if kind is None:
            fail("rules", key, f"unknown rule; the rules are {', '.join(RULES)}")
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            fail("rules", key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if key.endswith("_households") and (len(value) != 2 or not all(isinstance(v, int) for v in value)
                                            or value[0] > value[1]):
            fail("rules", key, "expected [MIN, MAX] households, e.g. [300, 500]")
        if key == "layout_on" and value not in LAYOUT_ON:
            fail("rules", key, f"expected one of {', '.join(repr(v) for v in LAYOUT_ON)}")
        project.rules[key] = value

    maps = data.get("maps", {})
    for key in maps:
        if key not in ("basemap", "tianditu_key"):
            fail("maps", key, "unknown key; [maps] takes basemap and tianditu_key")
    project.basemap = maps.get("basemap", "osm")
    if project.basemap not in ("osm", "tianditu", "gaode", "none"):
        fail("maps", "basemap", "must be one of osm, tianditu, gaode, none")
    project.tianditu_key = maps.get("tianditu_key") or None
    if project.basemap == "tianditu" and not project.tianditu_key:
        fail("maps", "basemap", "tianditu needs tianditu_key")

    out = data.get("output", {})
    for key in out:
        if key != "folder":
            fail("output", key, "unknown key; [output] takes folder")
    project.out = (base / out.get("folder", "gridmap-out")).resolve()

    read = data.get("read", {})
    for key in read:
        if key not in ("crs", "encoding", "engine"):
            fail("read", key, "unknown key; [read] takes crs, encoding, engine")
    project.crs = read.get("crs") or None
    project.encoding = read.get("encoding") or None
    project.engine = read.get("engine", settings.ENGINE)
    if project.engine not in ("pyogrio", "fiona"):
        fail("read", "engine", "must be pyogrio or fiona")
    return project


def _line_of(text: str, section: str | None, key: str) -> int:
    """Line number of ``key`` in ``[section]`` (or of the section header), 1-based; 1 if not found."""
    lines = text.splitlines()
    current = None
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    for number, line in enumerate(lines, start=1):
        m = header.match(line)
        if m:
            current = m.group(1)
            if section is None and (current == key or current.startswith(key + ".")):
                return number
            if section is not None and current == f"{section}.{key}":
                return number
            continue
        if section is not None and current == section and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
    return 1


TEMPLATE = '''# gridmap project file: `gridmap run {name}` runs every stage on these layers.
# Paths are relative to this file. A layer is a file, with `layer` for multi-layer sources
# (GeoPackage, FileGDB). Field names default to the names gridmap recognises (see README);
# name others here. Delete the layers you do not have: their stages are skipped.

[layers.compounds]            # 小区 (polygons)
path = "boundaries/compounds.geojson"
# layer = "小区"
# id = "compound_id"          # also recognised: 小区编码 小区编号 XQBM
# households = "households"   # 户数

[layers.grids]                # 网格 (polygons)
path = "boundaries/grids.geojson"
# id = "grid_id"              # 网格编码 网格编号 WGBM
# community = "community"     # 社区 所属社区

[layers.buildings]            # 楼栋 (polygons or points, with compound, households, party members)
path = "boundaries/buildings.geojson"
# id = "building_id"          # 楼栋编码

[layers.members]              # 党员台账 (CSV or Excel): member_id, name, building_id, category
path = "boundaries/members.csv"

[layers.communities]          # 社区 (polygons)
path = "boundaries/communities.geojson"

[layers.streets]              # 道路 (lines): outline inference and walking distances
path = "boundaries/streets.geojson"

[layers.stations]             # 党群服务站 (points)
path = "boundaries/stations.geojson"

[layers.grid_workers]         # 网格员 (CSV or Excel): worker_id, name, grid_id
path = "boundaries/grid_workers.csv"

[rules]
sliver = 0.05                 # overlaps below this share of both areas are slivers
nest = 0.5                    # a grid nests in a compound with at least this share inside
grid_households = [300, 500]
microgrid_households = [30, 100]
walk_m = 500                  # compounds farther than this from every station are listed
# align_types = ["老旧型"]     # align only these compound types
# keep = ["WG0101"]           # grids that must not change
# layout_on = "proposal"      # lay organisation, micro-grids and maps on the proposal's grids

[maps]
basemap = "osm"               # osm, tianditu (needs tianditu_key), gaode, none
# tianditu_key = ""

[read]
# crs = "EPSG:4490"           # for layers that have none
# encoding = "gb18030"        # to override the detected one
engine = "pyogrio"            # or fiona

[output]
folder = "gridmap-out"
'''


def write_template(path: str | Path) -> Path:
    """Write a commented project template; refuse to overwrite an existing file."""
    path = Path(path)
    if path.exists():
        raise GridmapError(f"{path} exists already; choose another name or delete it first.")
    path.write_text(TEMPLATE.format(name=path.name), encoding="utf-8")
    return path
