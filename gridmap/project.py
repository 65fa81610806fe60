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
from gridmap.io.postgis import is_database_url, parse_url
from gridmap.org.funding import FundingPolicy

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
    "walk_m": float, "align_types": list, "keep": list, "layout_on": str, "edits": str,
    "branch_min_members": int, "branch_max_members": int, "committee_min_members": int, "group_min_members": int,
    "community_committee_min": int, "community_general_branch_min": int,
}
SECTIONS = {"layers", "rules", "maps", "output", "read", "funding"}
OUTPUT_KEYS = ("folder", "database", "paper", "organisation", "attribution", "roster")
#: Keys of [funding]: a district's policy in yuan (gridmap.org.funding.FundingPolicy).
FUNDING_KEYS = ("per_station", "per_compound_year", "per_branch_year", "secretary_month")
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
    basemap: str = field(default_factory=lambda: settings.BASEMAP)
    tianditu_key: str | None = None
    out: Path = Path("gridmap-out")
    crs: str | None = None
    encoding: str | None = None
    engine: str = field(default_factory=lambda: settings.ENGINE)
    source: Path | None = None
    #: ``postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA``: the run's tables are also written there.
    database: str | None = None
    #: The offices' print maps (offices/*/map.pdf): paper (A3 or A4, landscape), 制图单位 and 数据来源.
    paper: str | None = None
    organisation: str | None = None
    attribution: str | None = None
    #: A district's funding policy ([funding]): the run writes funding.csv.
    funding: FundingPolicy | None = None
    #: The member roster with its candidate sheets (personal data), when asked for ([output] roster,
    #: --roster): also each office's own roster (offices/<社区>/roster.xlsx).
    roster_file: str | None = None

    @property
    def roster(self) -> bool:
        """Whether a member roster (personal data) was asked for."""
        return self.roster_file is not None

    def rule(self, name: str, default):
        return self.rules.get(name, default)

    def missing_files(self) -> list[str]:
        """Layer files that do not exist, as ``name: path``."""
        edits = self.rules.get("edits")
        return [f"{name}: {cfg.spec}" for name, cfg in self.layers.items()
                if not is_database_url(cfg.spec) and not parse_layer_spec(cfg.spec).path.exists()] + \
            ([f"edits: {edits}"] if edits and not Path(edits).exists() else [])

    def require_files(self) -> None:
        missing = self.missing_files()
        if missing:
            where = f" (named in {self.source})" if self.source else ""
            raise GridmapError(f"{len(missing)} layer files do not exist{where}: " + "; ".join(missing)
                               + ". Nothing was run.")
        if self.database or any(is_database_url(cfg.spec) for cfg in self.layers.values()):
            from gridmap.io.postgis import check_urls

            check_urls({name: cfg.spec for name, cfg in self.layers.items()}, self.database)


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
        if not isinstance(data[section], dict):
            raise GridmapError(f"{path}, line {_line_of(text, None, section)}: {section} = "
                               f"{data[section]!r}: [{section}] is a section (a table of keys), not a value.")
    project = Project(source=path)
    for name, cfg in data.get("layers", {}).items():
        sec = f"layers.{name}"
        if name not in LAYERS:
            fail("layers", name, f"unknown layer; the layers are {', '.join(LAYERS)}")
        if isinstance(cfg, str):
            cfg = {"path": cfg}
        if not isinstance(cfg, dict) or "path" not in cfg:
            fail(sec, "path", "each layer needs a path")
        for key in ("path", "layer"):
            if key in cfg and not isinstance(cfg[key], str):
                fail(sec, key, f"expected text in quotes, got {type(cfg[key]).__name__} {cfg[key]!r}")
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
        if is_database_url(cfg["path"]):
            spec = cfg["path"].strip()
            try:
                parse_url(spec if "layer" not in cfg else f"{spec}:{cfg['layer']}")
            except GridmapError as exc:
                fail(sec, "path", str(exc).rstrip("."))
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
        if key == "edits":  # a planner's edits.csv, relative to the project file
            value = str(base / value) if not Path(value).is_absolute() else value
        project.rules[key] = value

    maps = data.get("maps", {})
    for key in maps:
        if key not in ("basemap", "tianditu_key"):
            fail("maps", key, "unknown key; [maps] takes basemap and tianditu_key")
        if not isinstance(maps[key], str):
            fail("maps", key, f"expected text in quotes, got {type(maps[key]).__name__} {maps[key]!r}")
    project.basemap = maps.get("basemap", settings.BASEMAP)
    if project.basemap not in ("osm", "tianditu", "gaode", "none"):
        fail("maps", "basemap", "must be one of osm, tianditu, gaode, none")
    project.tianditu_key = maps.get("tianditu_key") or None
    if project.basemap == "tianditu" and not project.tianditu_key:
        fail("maps", "basemap", "tianditu needs tianditu_key")

    out = data.get("output", {})
    for key in out:
        if key not in OUTPUT_KEYS:
            fail("output", key, f"unknown key; [output] takes {', '.join(OUTPUT_KEYS)}")
    if "folder" in out and (not isinstance(out["folder"], str) or not out["folder"].strip()):
        fail("output", "folder", f"expected a folder name in quotes, got {type(out['folder']).__name__} {out['folder']!r}")
    for key in ("organisation", "attribution", "paper", "database"):
        if key in out and not isinstance(out[key], str):
            fail("output", key, "expected text in quotes")
    if "paper" in out and out["paper"].strip().upper() not in ("A3", "A4"):
        fail("output", "paper", "expected \"A3\" or \"A4\" (landscape)")
    project.paper = out.get("paper", "").strip().upper() or None
    project.organisation = out.get("organisation", "").strip() or None
    project.attribution = out.get("attribution", "").strip() or None
    project.out = (base / out.get("folder", "gridmap-out")).resolve()
    if out.get("roster", False) is not False:  # relative to this file, like the folder
        roster = "roster.xlsx" if out["roster"] is True else out["roster"]
        if not isinstance(roster, str) or not roster.strip():
            fail("output", "roster", "expected a file name in quotes, e.g. \"roster.xlsx\", or true")
        project.roster_file = str((base / roster.strip()).resolve())

    funding = data.get("funding")
    if funding is not None:
        if not isinstance(funding, dict):
            raise GridmapError(f"{path}, line {_line_of(text, None, 'funding')}: funding must be a section "
                               f"[funding] with {', '.join(FUNDING_KEYS)}.")
        for key, value in funding.items():
            if key not in FUNDING_KEYS:
                fail("funding", key, f"unknown key; [funding] takes {', '.join(FUNDING_KEYS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                fail("funding", key, f"expected an amount in yuan of 0 or more, got {value!r}")
        project.funding = FundingPolicy(**funding)
    if "database" in out:
        if not is_database_url(out["database"]):
            fail("output", "database", "expected a URL postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA")
        project.database = out["database"].strip()
        try:
            parse_url(project.database, target=True)
        except GridmapError as exc:
            fail("output", "database", str(exc).rstrip("."))

    read = data.get("read", {})
    for key in read:
        if key not in ("crs", "encoding", "engine"):
            fail("read", key, "unknown key; [read] takes crs, encoding, engine")
        value = read[key]
        if not (isinstance(value, str) or (key in ("crs", "encoding") and isinstance(value, list)
                                            and all(isinstance(v, str) for v in value))):
            fail("read", key, f"expected text in quotes, got {type(value).__name__} {value!r}")
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
        if section is None and current is None and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
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
# edits = "edits.csv"         # a planner's decisions from proposal.html (导出调整): compound → grid
# layout_on = "proposal"      # lay organisation, micro-grids and maps on the proposal's grids
# community_committee_min = 100       # a community with this many members: 党委
# community_general_branch_min = 50   # this many: 社区党总支; fewer: 社区党支部

# A district's funding policy (经费测算): the run writes funding.csv and a 经费测算 section in the
# report and organization.xlsx. Amounts in yuan; any may be 0. Uncomment one:
# [funding]                   # 小店区
# per_station = 100000        # once per party-service station (党群服务站)
# per_compound_year = 6000    # a year per compound with a branch-level unit of its own
# secretary_month = 500       # a month per branch secretary (书记)
# [funding]                   # 迎泽区
# per_branch_year = 5000      # a year per branch (支部)

[maps]
basemap = "osm"               # osm, tianditu (needs tianditu_key), gaode, none
# tianditu_key = ""

[read]
# crs = "EPSG:4490"           # for layers that have none; "gcj02" or "bd09" for data drawn on Gaode or Baidu maps
# encoding = "gb18030"        # to override the detected one
engine = "pyogrio"            # or fiona

[output]
folder = "gridmap-out"
# organisation = "某某街道办事处"   # 制图单位 on each office's print map (offices/<社区>/map.pdf)
# paper = "A4"                 # A3 (default) or A4, landscape
# attribution = "…"           # 数据来源 (OpenStreetMap-derived layers credit OSM by default)
# roster = "roster.xlsx"      # members by name with 书记人选 and 支委人选, and offices/<社区>/roster.xlsx
#                             # (personal data: keep them apart; true means roster.xlsx)
# database = "postgresql://gridmap@db.example:5432/city:gridmap_out"   # also write the tables to PostGIS
'''


def write_template(path: str | Path) -> Path:
    """Write a commented project template; refuse to overwrite an existing file."""
    path = Path(path)
    if path.exists():
        raise GridmapError(f"{path} exists already; choose another name or delete it first.")
    path.write_text(TEMPLATE.format(name=path.name), encoding="utf-8")
    return path


def parse_range(text: str, flag: str = "--households-per-microgrid") -> tuple[int, int]:
    """``"30:100"`` → (30, 100); a GridmapError naming ``flag`` for anything else."""
    parts = str(text).replace("-", ":").split(":")
    try:
        lo, hi = (int(p) for p in parts)
    except ValueError:
        raise GridmapError(f"{flag} {text!r}: write it as MIN:MAX households, two whole numbers such as 30:100.") from None
    if not 0 <= lo <= hi or hi <= 0:
        raise GridmapError(f"{flag} {text!r}: need 0 ≤ MIN ≤ MAX and MAX > 0.")
    return lo, hi
