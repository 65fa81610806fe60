"""The domain's words: codes, their Chinese labels and colours, in one place (docs/design.md §10).

Every surface — maps, report, workbooks, console — takes its labels and colours from here, so a
situation, a unit kind or a proposal status reads the same everywhere. CSV and GeoPackage outputs keep
the English codes (scripts rely on them); people read the labels.
"""

from __future__ import annotations

# ------------------------------------------------------------------ situations (docs/design.md §2)

#: Compound situations, in the order reports list them.
COMPOUND_SITUATIONS: tuple[str, ...] = ("large_compound", "large_grid", "equal", "mixed", "uncovered")
#: Grid situations, in the order reports list them.
GRID_SITUATIONS: tuple[str, ...] = ("large_compound", "large_grid", "equal", "mixed", "no_compound")
#: Situation of a feature whose geometry cannot be used (null, empty, no area after repair).
NO_GEOMETRY = "no_geometry"

SITUATION_LABELS: dict[str, str] = {
    "large_compound": "小区大、网格小",
    "large_grid": "网格大、小区小",
    "equal": "规模相当",
    "mixed": "跨网格（待拉平对齐）",
    "uncovered": "未被网格覆盖",
    "no_compound": "网格内无小区",
    NO_GEOMETRY: "无有效边界",
}
SITUATION_COLOURS: dict[str, str] = {
    "large_compound": "#1b9e77",
    "large_grid": "#7570b3",
    "equal": "#66a61e",
    "mixed": "#e7298a",
    "uncovered": "#a6761d",
    "no_compound": "#999999",
    NO_GEOMETRY: "#cccccc",
}
#: Colour of a code no table knows (a value the user's data brought in).
OTHER_COLOUR = "#777777"

# ------------------------------------------------------------------ compound types (docs/design.md §1)

#: Compound types, in the order reports list them.
COMPOUND_TYPES: tuple[str, ...] = ("居住型", "过渡型", "老旧型", "单位型")
#: Label of a compound whose type field is empty (e.g. an outline inferred from buildings).
UNTYPED = "未填类型"
#: Outline of a compound by type on the maps: colour and dash pattern.
TYPE_STYLES: dict[str, tuple[str, str | None]] = {
    "居住型": ("#08519c", None), "过渡型": ("#cb181d", "8 4"),
    "老旧型": ("#54278f", "2 4"), "单位型": ("#006d2c", "12 4 2 4"),
}
#: Outline of a compound of a type not in COMPOUND_TYPES.
OTHER_TYPE_STYLE: tuple[str, str] = ("#333333", "1 3")

# ------------------------------------------------------------------ organisation (docs/design.md §3)

#: Unit kinds, from the top of a community's tree down.
KINDS: tuple[str, ...] = ("committee", "general_branch", "branch", "joint_branch", "group",
                          "central_household")
#: How a unit of each kind is called on maps, in the report and in workbooks.
KIND_LABELS: dict[str, str] = {
    "committee": "社区党委", "general_branch": "党总支", "branch": "党支部",
    "joint_branch": "联合党支部", "group": "党小组", "central_household": "党员中心户",
}
#: The word a unit's name ends with (双塔社区 + 党委, 太嘉小区 + 党支部).
KIND_SUFFIXES: dict[str, str] = {
    "committee": "党委", "general_branch": "党总支", "branch": "党支部",
    "joint_branch": "联合党支部", "group": "党小组", "central_household": "党员中心户",
}
#: Kinds that are party organisations at branch level (they may have a committee and a secretary).
BRANCH_KINDS: tuple[str, ...] = ("general_branch", "branch", "joint_branch")

#: Member categories of the ledger (台账), code → label.
CATEGORIES: dict[str, str] = {"direct": "直管党员", "mobile": "流动党员", "in_service": "在职党员",
                              "retired": "离退休党员"}
#: Members whose category the ledger does not say.
OTHER_CATEGORY_LABEL = "未分类"

# ------------------------------------------------------------------ alignment proposal

#: Grid statuses in a proposal.
STATUS_LABELS: dict[str, str] = {"kept": "保留", "unchanged": "保留", "changed": "调整", "new": "新增",
                                 "removed": "撤销", "merged": "合并", "split": "拆分"}
STATUS_COLOURS: dict[str, str] = {"kept": "#8c8c8c", "unchanged": "#8c8c8c", "changed": "#1f78b4",
                                  "new": "#33a02c", "merged": "#ff7f00", "split": "#6a3d9a",
                                  "removed": "#000000"}
#: Colours for statuses no table knows, taken in turn.
STATUS_PALETTE: tuple[str, ...] = ("#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a", "#cab2d6",
                                   "#fdbf6f")

# ------------------------------------------------------------------ station reach

#: How a distance to a service station was measured (``measured`` of reach.csv).
MEASURED_LABELS: dict[str, str] = {"streets": "沿道路", "straight line": "直线"}

#: Where a compound's outline came from (``outline`` of compounds.csv in a run).
OUTLINE_LABELS: dict[str, str] = {"input": "原有边界", "inferred": "由楼栋推断"}

# ------------------------------------------------------------------ computed columns

#: Columns classify computes for each compound, before the input attributes.
COMPOUND_COLUMNS: tuple[str, ...] = ("compound_id", "situation", "grid_ids", "main_grid_id", "main_share",
                                     "area_m2", "sliver_grid_ids")
#: Columns classify computes for each grid, before the input attributes.
GRID_COLUMNS: tuple[str, ...] = ("grid_id", "situation", "compound_ids", "area_m2")
#: Every computed column: a search for an input field (type, name, community) skips these.
COMPUTED_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(COMPOUND_COLUMNS + GRID_COLUMNS))


def situation_label(code) -> str:
    """The Chinese label of a situation code; an unknown code is shown as it is."""
    return SITUATION_LABELS.get(code, str(code))


def kind_label(code) -> str:
    """The Chinese label of a unit kind; an unknown kind is shown as it is."""
    return KIND_LABELS.get(code, str(code))


def status_label(code) -> str:
    """The Chinese label of a proposal status (case-insensitive); an unknown one as it is."""
    return STATUS_LABELS.get(str(code).lower(), str(code))


# ------------------------------------------------------------------ the report

#: The alignment figures of a run's report (``gridmap.align`` summary keys), as the report and its
#: workbook name them.
ALIGNMENT_LABELS: dict[str, str] = {
    "straddling_before": "跨网格小区（调整前）", "straddling_after": "跨网格小区（调整后）",
    "grids_before": "网格数（调整前）", "grids_after": "网格数（调整后）", "grids_kept": "未变网格",
    "grids_changed": "调整网格", "grids_new": "新增网格", "grids_removed": "撤销网格",
    "compounds_moved": "调整归属的小区", "compound_area_moved_m2": "调整的小区面积（平方米）",
    "land_moved_m2": "调整的小区外用地（平方米）", "households_moved": "调整户数",
    "outside_range_before": "户数超出范围的网格（调整前）",
    "outside_range_after": "户数超出范围的网格（调整后）",
}
