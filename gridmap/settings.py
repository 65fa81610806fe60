"""Defaults and recognised field names (docs/design.md §2–§4, §6).

One place for every number and name a user may want to change, as osmnx keeps its ``settings``.
Functions read them when they are called (a parameter left as None takes the value here then), so
setting ``gridmap.settings.SLIVER = 0.1`` changes every later call.
"""

from __future__ import annotations

from gridmap import vocab

#: Share of a compound's or grid's area below which an overlap is a digitising sliver (docs/design.md §2).
SLIVER: float = 0.05
#: Share of a grid's area that must lie in a compound for the grid to nest in it (docs/design.md §2).
NEST: float = 0.5

#: Household range a grid should hold (docs/design.md §1; issue 3's default).
GRID_HOUSEHOLDS: tuple[int, int] = (300, 500)
#: Household range a micro-grid should hold (docs/design.md §1).
MICROGRID_HOUSEHOLDS: tuple[int, int] = (30, 100)

#: Organisation thresholds (docs/design.md §3).
BRANCH_MIN_MEMBERS: int = 3
BRANCH_MAX_MEMBERS: int = 50
COMMITTEE_MIN_MEMBERS: int = 7
GROUP_MIN_MEMBERS: int = 3
#: The community's own unit by its members (docs/design.md §3): this many or more a community party
#: committee (党委), this many or more a general branch (党总支), fewer a branch (党支部).
COMMUNITY_COMMITTEE_MIN_MEMBERS: int = 100
COMMUNITY_GENERAL_BRANCH_MIN_MEMBERS: int = 50
#: Most grids in a section of neighbouring grids, where grids have no community or street: the
#: organisation takes each section as a community, and maps draw a page per section.
SECTION_GRIDS: int = 40

#: Recognised field names per meaning, the default first (docs/design.md §4). Matching ignores case.
FIELDS: dict[str, tuple[str, ...]] = {
    # Street-office data also says 总户数, 楼栋编号, 所属小区 (a building's compound), 所属网格, 社区名称,
    # 党员人数 (docs/design.md §4); they come last, so a layer's own id field wins.
    "compound_id": ("compound_id", "小区编码", "小区编号", "XQBM", "所属小区"),
    "compound_name": ("name", "小区名称", "XQMC"),
    "compound_type": ("type", "小区类型"),
    "households": ("households", "户数", "总户数"),
    "grid_id": ("grid_id", "网格编码", "网格编号", "WGBM", "所属网格"),
    "grid_name": ("name", "网格名称"),
    "community": ("community", "社区", "所属社区", "社区名称"),
    "community_id": ("community_id", "社区编码", "社区编号", "SQBM"),
    "building_id": ("building_id", "楼栋编码", "楼栋编号"),
    "party_members": ("party_members", "党员数", "党员人数"),
    "member_id": ("member_id", "党员编号"),
    "member_name": ("name", "姓名"),
    "category": ("category", "类别", "党员类别"),
    "building_name": ("name", "楼栋名称", "楼号"),
    "phone": ("phone", "电话"),
    # Communities' (or grids') street and district, for roll-ups (docs/design.md §4).
    "street": ("street", "街道", "所属街道"),
    "district": ("district", "区", "所属区"),
    # A ledger member's identity: the channels secretaries come from (docs/design.md §3).
    "identity": ("identity", "身份", "来源"),
    # Compounds' property management.
    "property_company": ("property_company", "物业公司", "物业"),
    "red_property": ("red_property", "红色物业"),
}

# The domain's codes, labels and colours live in gridmap.vocab; these names stay for scripts that
# read them here.
COMPOUND_TYPES = vocab.COMPOUND_TYPES
COMPOUND_SITUATIONS = vocab.COMPOUND_SITUATIONS
GRID_SITUATIONS = vocab.GRID_SITUATIONS

#: Encodings tried, in order, for a DBF without ``.cpg`` or code page byte (docs/design.md §6).
FALLBACK_ENCODINGS: tuple[str, ...] = ("utf-8", "gb18030")

#: Default I/O engine; "fiona" is the alternative.
ENGINE: str = "pyogrio"

#: Separator of id lists inside one CSV cell (docs/design.md §5).
LIST_SEP: str = ";"

#: Walking distance (m) to a service station within which a compound is served.
WALK_M: float = 500.0
#: How far (m) an inferred outline may extend beyond the hull of its buildings.
INFER_REACH: float = 20.0
#: Distance (m) inferred outlines keep from street centrelines.
INFER_CLEARANCE: float = 2.0
#: Basemap of the HTML maps: osm, tianditu, gaode or none.
BASEMAP: str = "osm"
#: Processes that run the per-community tasks of ``gridmap run`` (organisation, micro-grids, map
#: pages, office folders) without a Dask cluster: None for the environment's ``GRIDMAP_PROCESSES``,
#: else one per core; 1 for all of it in the run's own process.
PROCESSES: int | None = None

#: Column names of a grid-worker roster (CSV or Excel), per meaning; matching ignores case. Worker
#: ids come from explicit id columns only: a column headed 网格员 or 姓名 holds names in street-office
#: rosters, and a column whose values look like names is never taken (DESIGN §4).
WORKER_FIELDS: dict[str, tuple[str, ...]] = {
    "worker_id": ("worker_id", "网格员编号", "网格员编码", "网格员工号", "网格员ID", "工号", "人员编号", "编号"),
    "grid_id": ("grid_id", "网格编码", "网格编号", "WGBM", "所属网格"),
    "name": ("name", "姓名", "网格员姓名"),
}
