"""Defaults and recognised field names (DESIGN.md §2–§4, §6).

One place for every number and name a user may want to change, as osmnx keeps its ``settings``.
"""

from __future__ import annotations

#: Share of a compound's or grid's area below which an overlap is a digitising sliver (DESIGN §2).
SLIVER: float = 0.05
#: Share of a grid's area that must lie in a compound for the grid to nest in it (DESIGN §2).
NEST: float = 0.5

#: Household range a grid should hold (DESIGN §1; issue 3's default).
GRID_HOUSEHOLDS: tuple[int, int] = (300, 500)
#: Household range a micro-grid should hold (DESIGN §1).
MICROGRID_HOUSEHOLDS: tuple[int, int] = (30, 100)

#: Organisation thresholds (DESIGN §3).
BRANCH_MIN_MEMBERS: int = 3
BRANCH_MAX_MEMBERS: int = 50
COMMITTEE_MIN_MEMBERS: int = 7
GROUP_MIN_MEMBERS: int = 3

#: Recognised field names per meaning, the default first (DESIGN §4). Matching ignores case.
FIELDS: dict[str, tuple[str, ...]] = {
    "compound_id": ("compound_id", "小区编码", "小区编号", "XQBM"),
    "compound_name": ("name", "小区名称", "XQMC"),
    "compound_type": ("type", "小区类型"),
    "households": ("households", "户数"),
    "grid_id": ("grid_id", "网格编码", "网格编号", "WGBM"),
    "grid_name": ("name", "网格名称"),
    "community": ("community", "社区", "所属社区"),
    "street": ("street", "街道", "所属街道"),
    "district": ("district", "区", "所属区"),
    "building_id": ("building_id", "楼栋编码"),
    "party_members": ("party_members", "党员数"),
    "member_id": ("member_id", "党员编号"),
    "member_name": ("name", "姓名"),
    "category": ("category", "类别", "党员类别"),
    "building_name": ("name", "楼栋名称", "楼号"),
    "phone": ("phone", "电话"),
}

#: Compound types of DESIGN §1, in the order reports list them.
COMPOUND_TYPES: tuple[str, ...] = ("居住型", "过渡型", "老旧型", "单位型")

#: Situations, in the order reports list them.
COMPOUND_SITUATIONS: tuple[str, ...] = ("large_compound", "large_grid", "equal", "mixed", "uncovered")
GRID_SITUATIONS: tuple[str, ...] = ("large_compound", "large_grid", "equal", "mixed", "no_compound")

#: Encodings tried, in order, for a DBF without ``.cpg`` or code page byte (DESIGN §6).
FALLBACK_ENCODINGS: tuple[str, ...] = ("utf-8", "gb18030")

#: Default I/O engine; "fiona" is the alternative.
ENGINE: str = "pyogrio"

#: Separator of id lists inside one CSV cell (DESIGN §5).
LIST_SEP: str = ";"
