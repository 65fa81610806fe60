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
from gridmap.i18n import _, language
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
            where = _(" (named in {file})").format(file=self.source) if self.source else ""
            raise GridmapError(_("{count} layer files do not exist{where}: {files}. Nothing was run.").format(
                count=len(missing), where=where, files=_("; ").join(missing)))
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
        raise GridmapError(_("{path}: no such project file. `gridmap init {path}` writes a template.").format(
            path=path))
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GridmapError(_("{path}: not valid TOML: {reason}.").format(path=path, reason=exc)) from None
    base = path.parent

    def fail(section: str, key: str, problem: str):
        raise GridmapError(_("{path}, line {line}: [{section}] {key}: {problem}.").format(
            path=path, line=_line_of(text, section, key), section=section, key=key, problem=problem))

    for section in data:
        if section not in SECTIONS:
            raise GridmapError(_("{path}, line {line}: unknown section [{section}]; the sections are "
                                 "{sections}.").format(path=path, line=_line_of(text, None, section),
                                                       section=section, sections=", ".join(sorted(SECTIONS))))
        if not isinstance(data[section], dict):
            raise GridmapError(_("{path}, line {line}: {section} = {value}: [{section}] is a section (a table of "
                                 "keys), not a value.").format(path=path, line=_line_of(text, None, section),
                                                               section=section, value=repr(data[section])))
    project = Project(source=path)
    for name, cfg in data.get("layers", {}).items():
        sec = f"layers.{name}"
        if name not in LAYERS:
            fail("layers", name, _("unknown layer; the layers are {layers}").format(layers=", ".join(LAYERS)))
        if isinstance(cfg, str):
            cfg = {"path": cfg}
        if not isinstance(cfg, dict) or "path" not in cfg:
            fail(sec, "path", _("each layer needs a path"))
        for key in ("path", "layer"):
            if key in cfg and not isinstance(cfg[key], str):
                fail(sec, key, _expected_text(cfg[key]))
        fields = {}
        for key, value in cfg.items():
            if key in ("path", "layer"):
                continue
            if key not in LAYERS[name]:
                fail(sec, key, _("unknown key; {layer} takes {keys}").format(
                    layer=name, keys=", ".join(("path", "layer", *LAYERS[name]))))
            if not isinstance(value, str):
                fail(sec, key, _("a field name must be text in quotes"))
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
            raise GridmapError(_("{path}: [layers.{key}] is missing; a project needs at least compounds and "
                                 "grids.").format(path=path, key=key))

    for key, value in data.get("rules", {}).items():
        kind = RULES.get(key)
        if kind is None:
            fail("rules", key, _("unknown rule; the rules are {rules}").format(rules=", ".join(RULES)))
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            fail("rules", key, _("expected {expected}, got {kind} {value}").format(
                expected=kind.__name__, kind=type(value).__name__, value=repr(value)))
        if key.endswith("_households") and (len(value) != 2 or not all(isinstance(v, int) for v in value)
                                            or value[0] > value[1]):
            fail("rules", key, _("expected [MIN, MAX] households, e.g. [300, 500]"))
        if key == "layout_on" and value not in LAYOUT_ON:
            fail("rules", key, _("expected one of {values}").format(values=", ".join(repr(v) for v in LAYOUT_ON)))
        if key == "edits":  # a planner's edits.csv, relative to the project file
            value = str(base / value) if not Path(value).is_absolute() else value
        project.rules[key] = value

    maps = data.get("maps", {})
    for key in maps:
        if key not in ("basemap", "tianditu_key"):
            fail("maps", key, _("unknown key; [maps] takes basemap and tianditu_key"))
        if not isinstance(maps[key], str):
            fail("maps", key, _expected_text(maps[key]))
    project.basemap = maps.get("basemap", settings.BASEMAP)
    if project.basemap not in ("osm", "tianditu", "gaode", "none"):
        fail("maps", "basemap", _("must be one of osm, tianditu, gaode, none"))
    project.tianditu_key = maps.get("tianditu_key") or None
    if project.basemap == "tianditu" and not project.tianditu_key:
        fail("maps", "basemap", _("tianditu needs tianditu_key"))

    out = data.get("output", {})
    for key in out:
        if key not in OUTPUT_KEYS:
            fail("output", key, _("unknown key; [output] takes {keys}").format(keys=", ".join(OUTPUT_KEYS)))
    if "folder" in out and (not isinstance(out["folder"], str) or not out["folder"].strip()):
        fail("output", "folder", _("expected a folder name in quotes, got {kind} {value}").format(
            kind=type(out["folder"]).__name__, value=repr(out["folder"])))
    for key in ("organisation", "attribution", "paper", "database"):
        if key in out and not isinstance(out[key], str):
            fail("output", key, _("expected text in quotes"))
    if "paper" in out and out["paper"].strip().upper() not in ("A3", "A4"):
        fail("output", "paper", _("expected \"A3\" or \"A4\" (landscape)"))
    project.paper = out.get("paper", "").strip().upper() or None
    project.organisation = out.get("organisation", "").strip() or None
    project.attribution = out.get("attribution", "").strip() or None
    project.out = (base / out.get("folder", "gridmap-out")).resolve()
    if out.get("roster", False) is not False:  # relative to this file, like the folder
        roster = "roster.xlsx" if out["roster"] is True else out["roster"]
        if not isinstance(roster, str) or not roster.strip():
            fail("output", "roster", _("expected a file name in quotes, e.g. \"roster.xlsx\", or true"))
        project.roster_file = str((base / roster.strip()).resolve())

    funding = data.get("funding")
    if funding is not None:
        if not isinstance(funding, dict):
            raise GridmapError(_("{path}, line {line}: funding must be a section [funding] with {keys}.").format(
                path=path, line=_line_of(text, None, "funding"), keys=", ".join(FUNDING_KEYS)))
        for key, value in funding.items():
            if key not in FUNDING_KEYS:
                fail("funding", key, _("unknown key; [funding] takes {keys}").format(keys=", ".join(FUNDING_KEYS)))
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                fail("funding", key, _("expected an amount in yuan of 0 or more, got {value}").format(
                    value=repr(value)))
        project.funding = FundingPolicy(**funding)
    if "database" in out:
        if not is_database_url(out["database"]):
            fail("output", "database", _("expected a URL postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA"))
        project.database = out["database"].strip()
        try:
            parse_url(project.database, target=True)
        except GridmapError as exc:
            fail("output", "database", str(exc).rstrip("."))

    read = data.get("read", {})
    for key in read:
        if key not in ("crs", "encoding", "engine"):
            fail("read", key, _("unknown key; [read] takes crs, encoding, engine"))
        value = read[key]
        if not (isinstance(value, str) or (key in ("crs", "encoding") and isinstance(value, list)
                                            and all(isinstance(v, str) for v in value))):
            fail("read", key, _expected_text(value))
    project.crs = read.get("crs") or None
    project.encoding = read.get("encoding") or None
    project.engine = read.get("engine", settings.ENGINE)
    if project.engine not in ("pyogrio", "fiona"):
        fail("read", "engine", _("must be pyogrio or fiona"))
    return project


def _expected_text(value) -> str:
    return _("expected text in quotes, got {kind} {value}").format(kind=type(value).__name__, value=repr(value))


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


#: The template with its comments in Chinese (``gridmap init`` under a Chinese locale): the same keys
#: and values as :data:`TEMPLATE` (tests/test_i18n.py checks it).
TEMPLATE_ZH = '''# gridmap 项目文件：`gridmap run {name}` 对下列图层依次运行全部步骤。
# 路径相对于本文件所在文件夹。图层为一个文件；多图层数据源（GeoPackage、FileGDB）用 `layer`
# 指明图层。字段名默认采用 gridmap 能识别的名称（见 README），其他名称在此指定。
# 没有的图层请删除，相应步骤将跳过。

[layers.compounds]            # 小区（面）
path = "boundaries/compounds.geojson"
# layer = "小区"
# id = "compound_id"          # 也识别：小区编码 小区编号 XQBM
# households = "households"   # 户数

[layers.grids]                # 网格（面）
path = "boundaries/grids.geojson"
# id = "grid_id"              # 网格编码 网格编号 WGBM
# community = "community"     # 社区 所属社区

[layers.buildings]            # 楼栋（面或点，含所属小区、户数、党员数）
path = "boundaries/buildings.geojson"
# id = "building_id"          # 楼栋编码

[layers.members]              # 党员台账（CSV 或 Excel）：党员编号、姓名、楼栋编码、类别
path = "boundaries/members.csv"

[layers.communities]          # 社区（面）
path = "boundaries/communities.geojson"

[layers.streets]              # 道路（线）：推断小区边界、计算步行距离
path = "boundaries/streets.geojson"

[layers.stations]             # 党群服务站（点）
path = "boundaries/stations.geojson"

[layers.grid_workers]         # 网格员（CSV 或 Excel）：网格员编号、姓名、网格编码
path = "boundaries/grid_workers.csv"

[rules]
sliver = 0.05                 # 重叠面积在双方面积中的占比都低于此值，视为细碎重叠
nest = 0.5                    # 网格面积至少有此比例落在小区内，即视为嵌套于该小区
grid_households = [300, 500]
microgrid_households = [30, 100]
walk_m = 500                  # 距所有服务站都超过此距离（米）的小区将列出
# align_types = ["老旧型"]     # 只对这些类型的小区拉平对齐
# keep = ["WG0101"]           # 不得调整的网格
# edits = "edits.csv"         # 规划人员在 proposal.html 中“导出调整”的决定：小区 → 网格
# layout_on = "proposal"      # 组织设置、微网格和地图依据拉平对齐方案的网格
# community_committee_min = 100       # 社区党员达到此数设党委
# community_general_branch_min = 50   # 达到此数设社区党总支，不足设社区党支部

# 本区的经费政策（经费测算）：运行时写出 funding.csv，并在报告和 organization.xlsx 中
# 加入经费测算。金额单位为元，均可为 0。取消其中一组的注释：
# [funding]                   # 小店区
# per_station = 100000        # 每个党群服务站一次性
# per_compound_year = 6000    # 每个自设支部级组织的小区每年
# secretary_month = 500       # 每名支部书记每月
# [funding]                   # 迎泽区
# per_branch_year = 5000      # 每个支部每年

[maps]
basemap = "osm"               # osm、tianditu（需 tianditu_key）、gaode、none
# tianditu_key = ""

[read]
# crs = "EPSG:4490"           # 图层无坐标系时使用；在高德或百度地图上采集的数据用 "gcj02" 或 "bd09"
# encoding = "gb18030"        # 覆盖自动识别的编码
engine = "pyogrio"            # 或 fiona

[output]
folder = "gridmap-out"
# organisation = "某某街道办事处"   # 各社区打印地图（offices/<社区>/map.pdf）上的制图单位
# paper = "A4"                 # A3（默认）或 A4，横向
# attribution = "…"           # 数据来源（源自 OpenStreetMap 的图层默认注明 OSM）
# roster = "roster.xlsx"      # 党员名册（含书记人选、支委人选），以及 offices/<社区>/roster.xlsx
#                             # （含个人信息，须单独保管；true 即 roster.xlsx）
# database = "postgresql://gridmap@db.example:5432/city:gridmap_out"   # 同时把各表写入 PostGIS
'''

def write_template(path: str | Path) -> Path:
    """Write a commented project template, its comments in the user's language (:data:`TEMPLATE`,
    :data:`TEMPLATE_ZH`); refuse to overwrite an existing file."""
    path = Path(path)
    if path.exists():
        raise GridmapError(_("{path} exists already; choose another name or delete it first.").format(path=path))
    template = TEMPLATE_ZH if language() == "zh" else TEMPLATE
    path.write_text(template.format(name=path.name), encoding="utf-8")
    return path


def parse_range(text: str, flag: str = "--households-per-microgrid") -> tuple[int, int]:
    """``"30:100"`` → (30, 100); a GridmapError naming ``flag`` for anything else."""
    parts = str(text).replace("-", ":").split(":")
    try:
        lo, hi = (int(p) for p in parts)
    except ValueError:
        raise GridmapError(_("{flag} {value}: write it as MIN:MAX households, two whole numbers such as "
                             "30:100.").format(flag=flag, value=repr(text))) from None
    if not 0 <= lo <= hi or hi <= 0:
        raise GridmapError(_("{flag} {value}: need 0 ≤ MIN ≤ MAX and MAX > 0.").format(flag=flag, value=repr(text)))
    return lo, hi
