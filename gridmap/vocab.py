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
#: Type values met in street-office data, read as the type they mean (docs/design.md §4). Applied where
#: a type is counted or coloured; classify's output columns keep the value as given.
TYPE_ALIASES: dict[str, str] = {"老旧小区": "老旧型", "单位小区": "单位型", "单位宿舍": "单位型", "城中村": "过渡型"}


def canonical_type(value):
    """A compound type as counted and coloured: 老旧小区 → 老旧型 (``TYPE_ALIASES``), spaces stripped;
    a missing value (None, NaN) is returned as it is."""
    try:
        if value is None or value != value:
            return value
    except TypeError:  # pandas' NA, whose truth is ambiguous
        return value
    text = str(value).strip()
    return TYPE_ALIASES.get(text, text)


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
#: The community's own unit follows its members (docs/design.md §3): its kind → how it is called.
COMMUNITY_KIND_LABELS: dict[str, str] = {"committee": "社区党委", "general_branch": "社区党总支",
                                         "branch": "社区党支部"}
#: The word a unit's name ends with when it joins small neighbours (A小区、B小区 + 联合党支部), by kind.
JOINT_SUFFIXES: dict[str, str] = {"branch": "联合党支部", "group": "联合党小组"}
#: Name of a section of neighbouring grids used as a community where grids have none (第3片区).
SECTION_NAME = "第{}片区"
#: A community, street or district a table cannot name.
NO_STREET = "未填街道"
NO_DISTRICT = "未填区"

#: Member categories of the ledger (台账), code → label.
CATEGORIES: dict[str, str] = {"direct": "直管党员", "mobile": "流动党员", "in_service": "在职党员",
                              "retired": "离退休党员"}
#: Members whose category the ledger does not say.
OTHER_CATEGORY_LABEL = "未分类"

#: Where a member comes from (ledger column 身份), code → label: the channels secretaries and
#: committee members are found through (docs/design.md §3).
IDENTITIES: dict[str, str] = {"retired_cadre": "离退休干部", "veteran": "退役军人", "community_worker": "社区工作者",
                              "grid_worker": "网格员", "property": "物业", "owners_committee": "业委会"}
#: Secretaries come first from these channels, in this order (社区工作者 and 网格员 are one channel).
SECRETARY_CHANNELS: tuple[tuple[str, ...], ...] = (("retired_cadre",), ("veteran",),
                                                   ("community_worker", "grid_worker"))
#: Branch committee members may also come from these (交叉任职).
COMMITTEE_CHANNELS: tuple[str, ...] = ("property", "owners_committee", "grid_worker")
#: A member from none of the channels, as the candidate sheets say.
OTHER_CHANNEL_LABEL = "其他"

#: Red property management (红色物业) and property management at all, as tables say.
YES_LABEL, NO_LABEL = "是", "否"

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

#: Why a piece of land changes grid in a proposal (the ``reason`` of ``changes``).
CHANGE_REASONS: dict[str, str] = {
    "compound_moved": "跨网格小区整体调入一个网格",
    "shared_grid_split": "两个大小区共用的网格沿小区界线拆分",
    "sliver_absorbed": "零星用地并入相邻网格",
    "large_compound_tile": "大小区划分为若干网格",
    "planner": "规划人员调整",
}
#: Why a straddling compound was not aligned (the ``reason`` of ``unresolved``).
UNRESOLVED_REASONS: dict[str, str] = {
    "crosses_community": "跨社区：对齐需要另一社区（街道、区）的土地",
    "kept_grid": "所在网格被指定保留（--keep）",
    "pieces_apart": "小区在网格范围内分成互不相连的几块，无法归入一个网格",
    "no_target": "没有可调入的网格",
    "capacity": "调入任何网格都会使超出户数范围的网格增加",
    "not_settled": "调整后仍与其他小区共用网格",
}

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
    "land_moved_m2": "调整的用地（平方米，含小区）", "households_moved": "调整户数",
    "outside_range_before": "户数超出范围的网格（调整前）",
    "outside_range_after": "户数超出范围的网格（调整后）",
    "changes_rows": "调整清单（块）", "unresolved": "未能拉平对齐的小区",
    "crosses_community": "其中跨社区的小区",
}
def situations_label(codes) -> str:
    """The labels of a cell of situations joined by ``;`` (a unit spanning several), in the same order."""
    if codes is None or codes != codes or codes == "":
        return ""
    return ";".join(situation_label(c) for c in str(codes).split(";"))


#: Code columns of the CSV and GeoPackage outputs and the column of Chinese labels each gets, at the end
#: of the table (scripts read the codes; people read the labels): column → (label column, labeller).
LABEL_COLUMNS: dict[str, tuple[str, object]] = {
    "situation": ("situation_label", situations_label),
    "kind": ("kind_label", kind_label),
    "status": ("status_label", status_label),
}


def with_label_columns(frame):
    """``frame`` (a DataFrame or GeoDataFrame) with a label column at the end of the table for each code
    column of ``LABEL_COLUMNS`` it has (``situation`` → ``situation_label``), in the order of the code
    columns; the frame is not changed. Missing codes have an empty label."""
    present = [(code, *LABEL_COLUMNS[code]) for code in frame.columns
               if code in LABEL_COLUMNS and LABEL_COLUMNS[code][0] not in frame.columns]
    if not present:
        return frame
    out = frame.copy()
    out.attrs.update(frame.attrs)
    for code, label, func in present:
        out[label] = [func(v) if isinstance(v, str) and v else "" for v in frame[code].tolist()]
    return out
