"""The result of the organisation layout: ``Organisation``, its ``Thresholds``, and merging results.

``Organisation`` holds counts and ids only (units in tree order, each building's and member's
placement) and the figures the programme reports (``summary``); ``merge_organisations`` puts the
results of runs on disjoint sets of communities back together (DESIGN §8). The constants here are
the shape of the result: its unit columns and the reasons a member is not placed.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.errors import GridmapError
from gridmap.i18n import N_, _
from gridmap.org.names import community_order, natural_series, sample_text

#: The four ledger categories (DESIGN §3), code → label.
CATEGORIES: dict[str, str] = vocab.CATEGORIES
#: Member counts per category in the units table: one per ledger category, then the uncategorised.
CATEGORY_COLUMNS: list[str] = [f"members_{c}" for c in CATEGORIES] + ["members_other"]

#: Unit kinds, from the top of a community's tree down.
KINDS: tuple[str, ...] = vocab.KINDS
#: The word a unit's name ends with (kept under its old name for callers).
KIND_NAMES: dict[str, str] = vocab.KIND_SUFFIXES
#: Kinds that are party organisations at branch level (they may have a committee).
BRANCH_KINDS = vocab.BRANCH_KINDS

#: Columns of ``Organisation.units`` and ``organization.csv``, in order.
UNIT_COLUMNS: list[str] = [
    "unit_id", "parent_id", "depth", "kind", "name", "community", "situation", "compound_ids",
    "grid_ids", "building_ids", "members", *CATEGORY_COLUMNS, "households", "has_committee",
    "review", "note",
]

#: Reasons a member is not placed, as written in the tables (English, for scripts; workbooks and the
#: console show :func:`reason_label`).
UNKNOWN_BUILDING = N_("building not in the buildings layer")
NO_BUILDING = N_("no building id in the ledger")
OUTSIDE = N_("building outside every grid and compound")
NO_GEOMETRY = N_("building has no geometry")
IN_NO_GROUP = N_("in no group")
REASONS = (UNKNOWN_BUILDING, NO_BUILDING, OUTSIDE, NO_GEOMETRY, IN_NO_GROUP)


def reason_label(reason) -> str:
    """A reason of ``REASONS`` in the user's language; any other value as it is, empty for none."""
    if reason is None or reason != reason:
        return ""
    return _(reason) if reason in REASONS else str(reason)
#: The community column of the summary's total row.
TOTAL = "合计"


def without_gc(fn):
    """Run ``fn`` with Python's cycle collector paused (and restored after, if it was on).

    The layout makes hundreds of thousands of small objects that hold no reference cycles; the
    collector's repeated passes over them took a quarter of the run time of a city.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()
    return wrapper


@dataclass(frozen=True)
class Thresholds:
    """Member counts that decide the kind of a unit (DESIGN §3).

    Parameters
    ----------
    branch_min : int
        A branch needs at least this many members (``settings.BRANCH_MIN_MEMBERS``, 3); smaller
        units are joined.
    branch_max : int
        A branch holds at most this many (``settings.BRANCH_MAX_MEMBERS``, 50); larger units become
        general branches.
    committee_min : int
        A branch with this many or more has a branch committee (``settings.COMMITTEE_MIN_MEMBERS``, 7).
    group_min : int
        A building group needs this many members (``settings.GROUP_MIN_MEMBERS``, 3).
    community_committee_min : int
        A community with this many members or more has a party committee
        (``settings.COMMUNITY_COMMITTEE_MIN_MEMBERS``, 100).
    community_general_branch_min : int
        A community with this many or more (and fewer than ``community_committee_min``) has a general
        branch, one with fewer a branch (``settings.COMMUNITY_GENERAL_BRANCH_MIN_MEMBERS``, 50).

    The defaults are the settings when a Thresholds is made, not when gridmap is imported.
    """

    branch_min: int = field(default_factory=lambda: settings.BRANCH_MIN_MEMBERS)
    branch_max: int = field(default_factory=lambda: settings.BRANCH_MAX_MEMBERS)
    committee_min: int = field(default_factory=lambda: settings.COMMITTEE_MIN_MEMBERS)
    group_min: int = field(default_factory=lambda: settings.GROUP_MIN_MEMBERS)
    community_committee_min: int = field(default_factory=lambda: settings.COMMUNITY_COMMITTEE_MIN_MEMBERS)
    community_general_branch_min: int = field(
        default_factory=lambda: settings.COMMUNITY_GENERAL_BRANCH_MIN_MEMBERS)

    def __post_init__(self):
        values = dataclasses.asdict(self)
        bad = [f"{k}={v}" for k, v in values.items()
               if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1]
        if bad:
            raise GridmapError(_("Organisation thresholds must be whole numbers of at least 1: {values}.").format(
                values=", ".join(bad)))
        if self.branch_max < self.branch_min:
            raise GridmapError(_("The largest branch ({maximum} members) is smaller than the "
                                 "smallest ({minimum}); give --branch-max ≥ --branch-min.").format(
                maximum=self.branch_max, minimum=self.branch_min))
        if self.community_committee_min < self.community_general_branch_min:
            raise GridmapError(_("A community committee from {committee} members is below a "
                                 "community general branch from {general}; give "
                                 "community_committee_min ≥ community_general_branch_min.").format(
                committee=self.community_committee_min, general=self.community_general_branch_min))

    def community_kind(self, members: int) -> str:
        """The kind of a community's own unit with ``members`` members: ``committee``,
        ``general_branch`` or ``branch`` (docs/design.md §3)."""
        if members >= self.community_committee_min:
            return "committee"
        if members >= self.community_general_branch_min:
            return "general_branch"
        return "branch"




@dataclass
class Organisation:
    """What ``organise`` returns.

    Attributes
    ----------
    units : DataFrame
        One row per unit in tree order (``UNIT_COLUMNS``): ``unit_id`` (dotted path, e.g. ``1.2.3``),
        ``parent_id``, ``depth``, ``kind``, ``name``, ``community``, ``situation``, ``compound_ids``,
        ``grid_ids``, ``building_ids`` (joined with ';'), ``members`` and the counts per category
        (``members_direct``, ``members_mobile``, ``members_in_service``, ``members_retired``,
        ``members_other``), ``households``, ``has_committee``, ``review`` (why a planner should look
        at the unit; empty when nothing) and ``note``. A unit's counts include everything beneath
        it, so a central household's members are also counted in its group.
    buildings : DataFrame
        Per building: ``building_id``, ``compound_id``, ``grid_id``, ``community``, ``members``,
        ``households``, ``branch_id``, ``group_id``, ``household_id`` (its central household, if
        any) and ``reason`` (why it is not placed; empty when placed).
    members : DataFrame or None
        Per ledger member: ``member_id``, ``building_id``, ``category``, ``branch_id``,
        ``group_id``, ``reason`` — ids only, no names. None when counts came from the buildings.
    thresholds : Thresholds
    source : str
        ``"ledger"`` or the buildings' member field the counts came from.
    """

    units: pd.DataFrame
    buildings: pd.DataFrame
    members: pd.DataFrame | None
    thresholds: Thresholds
    source: str

    @property
    def members_total(self) -> int:
        """Members known: ledger rows, or the buildings' member counts."""
        if self.members is not None:
            return len(self.members)
        return int(self.buildings.members.sum())

    @property
    def members_placed(self) -> int:
        """Members who sit in a group."""
        groups = self.units[self.units.kind == "group"]
        return int(groups.members.sum())

    @property
    def members_unplaced(self) -> int:
        """Members known but in no group (unknown or unlocated building, outside every grid and compound)."""
        return self.members_total - self.members_placed

    def unplaced(self) -> pd.DataFrame:
        """Members not placed, per building id and reason (counts, no names)."""
        if self.members is not None:
            lost = self.members[self.members.reason != ""]
            table = lost.groupby(["building_id", "reason"], dropna=False).size().rename("members")
        else:
            lost = self.buildings[(self.buildings.reason != "") & (self.buildings.members > 0)]
            table = lost.set_index(["building_id", "reason"]).members
        return table.reset_index().sort_values(["reason", "building_id"], key=natural_series).reset_index(drop=True)

    def tree(self) -> list[dict]:
        """The units as nested dicts (one per community), lists as lists, ``children`` beneath."""
        nodes: dict[str, dict] = {}
        roots: list[dict] = []
        for rec in self.units.to_dict("records"):
            node = {k: json_value(k, v) for k, v in rec.items() if k not in ("parent_id", "depth")}
            node["children"] = []
            nodes[rec["unit_id"]] = node
            (nodes[rec["parent_id"]]["children"] if rec["parent_id"] else roots).append(node)
        return roots

    def summary(self) -> pd.DataFrame:
        """The figures the programme reports, one row per community and a total row."""
        u = self.units
        # Counted per community at once (a dozen filters per community took a second a city).
        code, names = pd.factorize(u.community, use_na_sentinel=False)
        k = len(names)
        kind = u.kind.to_numpy(dtype=object)
        per = {c: np.bincount(code[kind == c], minlength=k) for c in KINDS}
        per["with_committee"] = np.bincount(code[np.isin(kind, BRANCH_KINDS) & u.has_committee.to_numpy(dtype=bool)],
                                            minlength=k)
        per["review"] = np.bincount(code[u.review.to_numpy(dtype=object) != ""], minlength=k)
        root = u.depth.to_numpy() == 0
        # A community's figures are its committee's: the one unit at depth 0.
        at = np.full(k, -1)
        at[code[root]] = np.flatnonzero(root)
        figures = {c: u[c].to_numpy() for c in ("members", *CATEGORY_COLUMNS, "households")}
        rows = []
        for j, community in enumerate(names):
            row = {"community": community, **{c: int(per[c][j]) for c in (*KINDS, "with_committee")}}
            i = at[j]
            for c in ("members", *CATEGORY_COLUMNS):
                row[c] = int(figures[c][i]) if i >= 0 else 0
            row["households"] = float(figures["households"][i]) if i >= 0 else np.nan
            row["members_unplaced"] = self.members_unplaced if community == TOTAL else 0
            row["review"] = int(per["review"][j])
            rows.append(row)
        roots = u[root]
        row = {"community": TOTAL, **{c: int(per[c].sum()) for c in (*KINDS, "with_committee")}}
        for c in ("members", *CATEGORY_COLUMNS):
            row[c] = int(roots[c].sum())
        row["households"] = float(roots.households.sum(min_count=1)) if roots.households.notna().any() else np.nan
        row["members_unplaced"] = self.members_unplaced
        row["review"] = int(per["review"].sum())
        rows.append(row)
        return pd.DataFrame(rows)


@without_gc
def merge_organisations(parts: Sequence[Organisation]) -> Organisation:
    """The Organisation of the whole area from runs of ``organise`` on disjoint sets of communities.

    Parameters
    ----------
    parts : sequence of Organisation
        Results of ``organise(..., only_communities=…)`` on the same inputs and thresholds, each for
        other communities (together: all of them, for the whole run's result).

    Returns
    -------
    Organisation
        Equal to the full run's: units in its order with every ``unit_id`` and ``parent_id`` (and the
        unit ids in the buildings' and members' tables) renumbered to the order of the communities
        over all parts; each building's and member's placement taken from the part that laid out
        its community.

    Raises
    ------
    ValueError
        No parts, parts of different runs (thresholds or member source), or a community laid out
        in more than one part.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("merge_organisations needs at least one part")
    first = parts[0]
    for p in parts[1:]:
        if p.thresholds != first.thresholds or p.source != first.source or len(p.buildings) != len(first.buildings):
            raise ValueError("the parts come from different runs (thresholds, member source or buildings differ)")
    # Each part's committees, in the order of the whole run.
    roots = []
    for k, p in enumerate(parts):
        top = p.units[p.units.depth == 0]
        roots += [(name, k, uid) for name, uid in zip(top.community.tolist(), top.unit_id.tolist())]
    roots.sort(key=lambda r: community_order(r[0]))
    twice = sorted(n for n, c in Counter(r[0] for r in roots).items() if c > 1)
    if twice:
        raise ValueError(f"communities laid out in more than one part: {sample_text(twice)}")
    number = [{} for _part in parts]
    for g, (_root, k, uid) in enumerate(roots, start=1):
        number[k][uid] = str(g)
    tables = []
    for k, p in enumerate(parts):
        if not len(p.units):
            continue
        u = p.units.copy()
        u["unit_id"] = _renumbered(u.unit_id, number[k])
        u["parent_id"] = _renumbered(u.parent_id, number[k])
        u["_root"] = [int(v.partition(".")[0]) for v in u.unit_id.tolist()]
        tables.append(u)
    if tables:
        units = pd.concat(tables, ignore_index=True)
        order = np.argsort(units.pop("_root").to_numpy(), kind="stable")  # a tree's units stay in order
        units = units.iloc[order].reset_index(drop=True)
    else:
        units = first.units.copy()
    placement = _merged_placement([p.buildings for p in parts], number, "branch_id",
                                  ("community", "branch_id", "group_id", "household_id"))
    members = None
    if first.members is not None:
        members = _merged_placement([p.members for p in parts], number, "branch_id",
                                    ("branch_id", "group_id", "reason"))
    return Organisation(units, placement, members, first.thresholds, first.source)


def _renumbered(ids: pd.Series, number: dict[str, str]) -> list[str]:
    """Unit ids with their first part (the community's committee) replaced by ``number``'s."""
    out = []
    for v in ids.tolist():
        if isinstance(v, str) and v:
            head, dot, rest = v.partition(".")
            out.append(number[head] + dot + rest)
        else:
            out.append(v)
    return out


def _merged_placement(tables: list[pd.DataFrame], number: list[dict[str, str]], key: str,
                      columns: tuple[str, ...]) -> pd.DataFrame:
    """One placement table from the parts': rows placed in a part (``key`` set) from that part, with
    their unit ids renumbered; the others (placed nowhere, the same in every part) from the first."""
    merged = {c: tables[0][c].to_numpy(dtype=object).copy() for c in columns}
    for table, num in zip(tables, number):
        mine = table[key].to_numpy(dtype=object) != ""
        if not mine.any():
            continue
        for c in columns:
            values = table[c].to_numpy(dtype=object)[mine]
            merged[c][mine] = _renumbered(pd.Series(values), num) if c.endswith("_id") else values
    out = tables[0].copy()
    for c in columns:
        out[c] = merged[c]
    return out


def json_value(key: str, v):
    """A units-table value as ``organization.json`` holds it: id lists as lists, NaN as null, plain
    Python numbers and booleans."""
    if key in ("compound_ids", "grid_ids", "building_ids"):
        return v.split(settings.LIST_SEP) if v else []
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


__all__ = ["BRANCH_KINDS", "CATEGORIES", "CATEGORY_COLUMNS", "IN_NO_GROUP", "KINDS", "KIND_NAMES", "NO_BUILDING",
           "NO_GEOMETRY", "OUTSIDE", "Organisation", "REASONS", "TOTAL", "Thresholds", "UNIT_COLUMNS",
           "UNKNOWN_BUILDING", "json_value", "merge_organisations", "reason_label", "without_gc"]
