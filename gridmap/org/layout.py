"""The layout: ``organise`` builds each community's tree of units (DESIGN §1, §3, §5).

community committee (党委) → compound (grid) branch, or a general branch (党总支) with branches
beneath → building group (党小组) → party-member central household (中心户). The parts of
``gridmap.org.parts`` become units here: member counts decide each unit's kind (``Thresholds``),
a part with more than ``branch_max`` members is split by its sub-parts or by clusters of
neighbouring buildings (``bisect_members``), and each branch's buildings are gathered into groups
(``building_groups``). Coordinates are metres in the area's metric CRS.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.classify import Classification
from gridmap.errors import GridmapError, PlacementWarning
from gridmap.i18n import _
from gridmap.io import find_field
from gridmap.org.area import building_table, community_area, warn_outside
from gridmap.org.ledger import check_unique_members, ledger_counts, standardise_ledger
from gridmap.org.model import (CATEGORY_COLUMNS, IN_NO_GROUP, KIND_NAMES, UNIT_COLUMNS, Organisation, Thresholds,
                               without_gc)
from gridmap.org.names import (chinese_number, community_label, community_order, joined_label, natural_key,
                               natural_rank, sample_text, text_or_none)
from gridmap.org.parts import Part, combine, tier_parts, top_parts

log = logging.getLogger(__name__)


@without_gc
def organise(
    classification: Classification,
    buildings: gpd.GeoDataFrame,
    members: pd.DataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    proposal: gpd.GeoDataFrame | None = None,
    *,
    building_id: str | None = None,
    compound_id: str | None = None,
    households: str | None = None,
    party_members: str | None = None,
    community: str | None = None,
    thresholds: Thresholds | None = None,
    only_communities: Collection[str] | None = None,
) -> Organisation:
    """Lay out the party organisation: community → compound (grid) branch → building group.

    Parameters
    ----------
    classification : Classification
        From :func:`gridmap.classify` on the compounds and grids.
    buildings : GeoDataFrame
        Footprints or points with a building id (``building_id``, 楼栋编码); optionally the
        compound id (used before location), households (户数) and party members (党员数, used
        when there is no ledger).
    members : DataFrame, optional
        The member ledger, from :func:`read_ledger` or with the columns of DESIGN §4. Without it,
        member counts come from the buildings' party-member field.
    communities : GeoDataFrame, optional
        Community polygons; each grid belongs to the one holding its inner point. By default the
        grids' community field, else one tree for the whole area.
    proposal : GeoDataFrame, optional
        The grids of an alignment proposal (``proposal.gpkg``, layer ``grids``): the organisation
        is then laid out on the proposed grids, which leaves no compound straddling grids.
    building_id, compound_id, households, party_members, community : str, optional
        Field names, when not the recognised ones.
    thresholds : Thresholds, optional
        Member counts for branches, committees and groups (DESIGN §3 defaults).
    only_communities : collection of str, optional
        Lay out the trees of these communities only (names as in the ``community`` column; ``""``
        for no community). Everything else — which compound and grid each building is in, the
        parts, the communities — is worked out for the whole area as usual, so each tree is the
        one the full run makes, though numbered from 1 in this run. Runs on disjoint sets of
        communities are put back together by :func:`merge_organisations` (DESIGN §8).

    Returns
    -------
    Organisation
        Units in tree order, placement per building and per member, counts only.

    Raises
    ------
    GridmapError
        No building id field, duplicate building or member ids, neither a ledger nor a
        party-member field, a ledger without building column.
    """
    prep = prepare_layout(classification, buildings, members, communities, proposal, building_id=building_id,
                   compound_id=compound_id, households=households, party_members=party_members,
                   community=community, thresholds=thresholds)
    names = prep.names if only_communities is None else [n for n in prep.names if n in set(only_communities)]
    return finish_layout(prep, [lay_out(prep.share(name)) for name in names])


#: What :func:`lay_out` gives for a community: its tree (None without members), the positions of its
#: buildings in the area's table, and their ids' natural ranks among themselves.
Laid = tuple  # (_Node | None, np.ndarray, np.ndarray)


@dataclass
class Prepared:
    """What :func:`organise` works out once for the whole area, before each community's tree: which
    compound and grid each building is in, its members, the parts of each community (DESIGN §8:
    communities are then laid out independently, here or on other processes, and :func:`finish`
    puts their trees together)."""

    bld: pd.DataFrame  # building_table, with each building's placement reason
    counts: np.ndarray  # members per building
    cats: np.ndarray  # members per building and category
    placed: np.ndarray  # members per building where placed, else 0
    ledger: pd.DataFrame | None
    source: str
    thresholds: Thresholds
    parts: dict[str, list[Part]]  # the top parts of each community
    comp_names: dict  # compound id → name (None when it has none)

    @property
    def names(self) -> list[str]:
        """The communities, in the order of the unit table."""
        return sorted(self.parts, key=community_order)

    def share(self, name: str) -> Share:
        """One community's share: its parts and buildings, rows renumbered from 0 (no other
        community's data, so that it can be laid out in another process)."""
        parts = self.parts[name]
        rows = np.unique(np.concatenate([np.empty(0, dtype=np.int64)] + [p.rows for p in parts]))
        bld = self.bld.iloc[rows][["building_id", "label", "x", "y", "compound_id", "grid_id"]].reset_index(drop=True)
        comps = {c: self.comp_names.get(c) for c in bld.compound_id.dropna().unique().tolist()}
        return Share(name, rows, [_renumbered(p, rows) for p in parts], bld, self.placed[rows], comps,
                     self.thresholds)


@dataclass
class Share:
    """One community's parts and buildings (``rows``: their positions in the area's building table;
    the parts' rows count from 0 within ``bld``)."""

    name: str
    rows: np.ndarray
    parts: list[Part]
    bld: pd.DataFrame
    members: np.ndarray
    comp_names: dict
    thresholds: Thresholds


def prepare_layout(classification: Classification, buildings: gpd.GeoDataFrame, members: pd.DataFrame | None = None,
            communities: gpd.GeoDataFrame | None = None, proposal: gpd.GeoDataFrame | None = None, *,
            building_id: str | None = None, compound_id: str | None = None, households: str | None = None,
            party_members: str | None = None, community: str | None = None,
            thresholds: Thresholds | None = None) -> Prepared:
    """The area-wide steps of :func:`organise` (same parameters): communities, buildings placed in
    compounds and grids, members counted, the parts of every community."""
    # Features without a usable geometry stay in the tables but have nowhere to be laid out.
    classification = classification.with_geometry()
    t = thresholds or Thresholds()
    area = community_area(classification, communities, proposal, community)
    bld = building_table(area, buildings, building_id, households, party_members, compound_id)
    source_name = buildings.attrs.get("source", "buildings")
    ledger = None
    if members is not None:
        ledger = standardise_ledger(members)
        check_unique_members(ledger, members.attrs.get("source", _("the ledger")))
        counts, cats, ledger = ledger_counts(ledger, bld, source_name)
        source = "ledger"
    else:
        if np.isnan(bld.party_members.to_numpy()).all():
            raise GridmapError(_("{source}: no member ledger was given and the buildings have no party "
                                 "members field (looked for {names}). Give the ledger with --members, or name "
                                 "the field with --party-members.").format(
                source=source_name, names=", ".join(settings.FIELDS["party_members"])))
        missing = np.isnan(bld.party_members.to_numpy())
        if missing.any():
            warnings.warn(_("{source}: {count} buildings have no party-member figure ({ids}); counted as 0").format(
                source=source_name, count=int(missing.sum()), ids=sample_text(bld.building_id[missing])),
                PlacementWarning, stacklevel=3)
        counts = np.nan_to_num(bld.party_members.to_numpy()).round().astype(np.int64)
        cats = np.zeros((len(bld), len(CATEGORY_COLUMNS)), dtype=np.int64)
        cats[:, -1] = counts
        source = find_field(buildings, "party_members", party_members) or "party_members"

    parts, reason = top_parts(area, bld)
    bld["reason"] = reason
    warn_outside(bld, counts, source_name)
    placed_counts = np.where(reason == "", counts, 0)
    by_community: dict[str, list[Part]] = {}
    for part in parts:
        by_community.setdefault(part.community, []).append(part)
    comp_names = {k: text_or_none(v) for k, v in area.compounds.name.items()}
    return Prepared(bld, counts, cats, placed_counts, ledger, source, t, by_community, comp_names)


@without_gc
def lay_out(share: Share) -> Laid:
    """One community's tree (its rows: positions in the area's building table; None when it has no
    party members), its buildings' positions, and the natural rank of their ids among themselves."""
    t = share.thresholds
    builder = _Builder(share.bld, share.members, share.comp_names, t)
    tops = combine(sorted(share.parts, key=lambda p: natural_key(p.key)), share.members, t)
    if not tops:
        log.info("community %r has no party members: no units", share.name)
        return None, share.rows, builder.bid_rank
    rows = np.concatenate([p.rows for p in tops])
    kind = t.community_kind(builder.m(rows))  # committee, general branch or branch by its members
    root = _Node(kind, community_label(share.name) + KIND_NAMES[kind], share.name, rows=rows)
    root.compound_ids = sorted({c for p in tops for c in p.compound_ids}, key=natural_key)
    root.grid_ids = sorted({g for p in tops for g in p.grid_ids}, key=natural_key)
    root.children = sorted((builder.unit(p) for p in tops), key=lambda n: natural_key(n.name))
    stack = [root]
    while stack:  # rows of the area's building table
        node = stack.pop()
        node.rows = share.rows[node.rows]
        stack.extend(node.children)
    return root, share.rows, builder.bid_rank


@without_gc
def finish_layout(prep: Prepared, laid: list[Laid]) -> Organisation:
    """The Organisation from the communities' trees: :func:`lay_out` of each :meth:`Prepared.share`,
    in the order of :attr:`Prepared.names` (units are numbered in that order)."""
    bld, t = prep.bld, prep.thresholds
    bid_rank = np.full(len(bld), -1, dtype=np.int64)
    roots = []
    for root, rows, rank in laid:
        bid_rank[rows] = rank  # compared within a unit only, so within a community
        if root is not None:
            roots.append(root)
    units, owner, rows = _unit_table(roots, bld, prep.placed, prep.cats, t, bid_rank)
    placement = _placement(units, bld, prep.counts, owner, rows)
    member_table = None
    if prep.ledger is not None:
        member_table = _member_placement(prep.ledger, placement)
    org = Organisation(units, placement, member_table, t, prep.source)
    log.info("organisation: %d units, %d members placed, %d not", len(units), org.members_placed,
             org.members_unplaced)
    return org


def _renumbered(part: Part, rows: np.ndarray) -> Part:
    """A copy of ``part`` (and its children) with rows as positions in ``rows``."""
    out = copy.copy(part)
    out.rows = np.searchsorted(rows, part.rows)
    out.children = [_renumbered(c, rows) for c in part.children]
    return out


@dataclass
class _Node:
    """A unit of the tree: its kind (``KINDS``), name, and the rows of its buildings."""

    kind: str
    name: str
    community: str
    situation: str = ""
    compound_ids: list[str] = field(default_factory=list)
    grid_ids: list[str] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    children: list[_Node] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    note: list[str] = field(default_factory=list)


class _Builder:
    """Turns parts into units, with the building arrays at hand."""

    def __init__(self, bld: pd.DataFrame, members: np.ndarray, comp_names: dict, t: Thresholds):
        self.bld = bld
        self.members = members
        self.xy = bld[["x", "y"]].to_numpy(dtype=float)
        # Object arrays once: pandas string columns are costly to convert per unit.
        self.labels = bld.label.to_numpy(dtype=object)
        self.compounds = bld.compound_id.to_numpy(dtype=object)
        self.grids = bld.grid_id.to_numpy(dtype=object)
        self.bids = bld.building_id.to_numpy(dtype=object)
        self.comp_names = comp_names
        self.t = t
        # Natural order of (compound name, building label, id), for listing groups and households.
        # Only ever compared among one community's buildings, where ranking them alone gives the
        # same order as ranking all.
        used = np.arange(len(bld))
        names = np.array([self.comp_names.get(c) or "" if isinstance(c, str) else "" for c in self.compounds[used]],
                         dtype=object)
        self.bid_rank = np.full(len(bld), -1, dtype=np.int64)
        self.bid_rank[used] = natural_rank(self.bids[used])
        order = np.lexsort((self.bid_rank[used], natural_rank(self.labels[used]), natural_rank(names)))
        self.rank = np.full(len(bld), -1, dtype=np.int64)
        self.rank[used[order]] = np.arange(len(order))

    def m(self, rows: np.ndarray) -> int:
        """Members placed in the buildings at ``rows``."""
        return int(self.members[rows].sum())

    def unit(self, part: Part) -> _Node:
        """A top part as a branch, or as a general branch with branches beneath.

        A grid holding several compounds (``large_grid``) has a compound tier beneath its unit: a
        branch per compound under a general branch, a group per compound under a branch; compounds
        with too few members join a neighbouring compound's unit, which is then named for both.
        """
        t = self.t
        tier = is_tiered(part)
        if self.m(part.rows) <= t.branch_max:
            return self.branch(part, tier=tier)
        subs: list[Part] = []
        children = [c for c in part.children if len(c.rows) or c.compound_ids or c.grid_ids]
        if len(children) >= 2:
            for child in tier_parts(children, self.members, t) if tier else combine(children, self.members, t):
                subs += self.split(child)
        else:
            subs = self.split(part)
        if len(subs) < 2:
            node = self.branch(part)
            node.review.append(_("{count} members, more than {maximum}, but they live in "
                                 "one building: split it by entrance (单元) by hand").format(
                count=self.m(part.rows), maximum=t.branch_max))
            return node
        node = self._node("general_branch", part, part.label + KIND_NAMES["general_branch"])
        node.children = [self.branch(s) for s in sorted(subs, key=lambda s: natural_key(s.label))]
        # What a branch beneath already says need not be said again by the general branch.
        below = {r for child in node.children for r in child.review}
        node.review = [r for r in node.review if r not in below]
        below = {n for child in node.children for n in child.note}
        node.note = [n for n in node.note if n not in below]
        return node

    def split(self, part: Part) -> list[Part]:
        """Clusters of neighbouring buildings, each at most ``branch_max`` members (and at least
        ``branch_min``), by recursive bisection along the longer side."""
        pieces = bisect_members(self.xy[part.rows], self.members[part.rows], self.t.branch_max, self.t.branch_min)
        if len(pieces) == 1:
            return [part]
        out = []
        for k, idx in enumerate(sorted(pieces, key=lambda p: (-self.xy[part.rows[p], 1].mean(),
                                                              self.xy[part.rows[p], 0].mean())), start=1):
            piece = copy.copy(part)
            piece.key = f"{part.key}#{k}"
            piece.label = f"{part.label}第{chinese_number(k)}"
            piece.rows = part.rows[idx]
            piece.children = []
            piece.compound_ids = _ids(self.compounds[piece.rows]) or list(part.compound_ids)
            piece.grid_ids = _ids(self.grids[piece.rows]) or list(part.grid_ids)
            # The parent general branch carries the review; its pieces need not repeat it.
            piece.review, piece.note = [], []
            out.append(piece)
        return out

    def branch(self, part: Part, tier: bool = False) -> _Node:
        """A part as a branch (a joint branch when small parts were joined), its groups beneath:
        building groups, or with ``tier`` one group per compound (``compound_groups``)."""
        kind = "joint_branch" if part.joint else "branch"
        node = self._node(kind, part, part.label + KIND_NAMES[kind])
        few = _("fewer than {count} members")
        if 0 < self.m(part.rows) < self.t.branch_min and not any(r.startswith(few.split("{count}")[0])
                                                                 for r in node.review):
            node.review.append(few.format(count=self.t.branch_min))
        node.children = self.compound_groups(part, node) if tier else self.groups(part.rows, node)
        return node

    def compound_groups(self, part: Part, branch: _Node) -> list[_Node]:
        """The compound tier under a grid branch: a group (党小组) per compound with at least
        ``group_min`` members, smaller compounds joined with a neighbour (a joint group named for
        both), loose buildings with the nearest; central households in the group's other
        member-buildings."""
        tiers = tier_parts(part.children, self.members, self.t, minimum=self.t.group_min)
        if not tiers:
            return self.groups(part.rows, branch)
        out = []
        for p in tiers:
            rows = p.rows[self.members[p.rows] > 0]
            suffix = vocab.JOINT_SUFFIXES["group"] if p.joint else KIND_NAMES["group"]
            node = _Node("group", p.label + suffix, branch.community, branch.situation, list(p.compound_ids),
                         list(p.grid_ids), rows, review=list(dict.fromkeys(p.review)), note=list(p.note))
            # The group sits in its building with most members; the others are central households.
            order = np.lexsort((self.rank[rows], -self.members[rows]))
            compounds = self.compounds[rows]
            labels = self.labels[rows]
            if len({c for c in compounds if isinstance(c, str)}) > 1:
                labels = np.array([joined_label(self._prefix(c, lab), lab) for c, lab in zip(compounds, labels)],
                                  dtype=object)
            node.children = [
                _Node("central_household", labels[j] + KIND_NAMES["central_household"], branch.community,
                      branch.situation, _one(compounds[j]), _one(self.grids[rows[j]]), rows[j:j + 1])
                for j in sorted(order[1:].tolist(), key=lambda j: self.rank[rows[j]])]
            out.append(node)
        return sorted(out, key=lambda n: natural_key(n.name))

    def _node(self, kind: str, part: Part, name: str) -> _Node:
        return _Node(kind, name, part.community, part.situation, list(part.compound_ids), list(part.grid_ids),
                     part.rows, [], list(dict.fromkeys(part.review)), list(part.note))

    def groups(self, rows: np.ndarray, branch: _Node) -> list[_Node]:
        """Building groups of a branch, with central households in buildings without a group."""
        rows = rows[self.members[rows] > 0]
        if not len(rows):
            return []
        group, anchors = building_groups(self.xy[rows], self.members[rows], self.t.group_min)
        labels = self.labels[rows]
        compounds = self.compounds[rows]
        grids = self.grids[rows]
        if len({c for c in compounds if isinstance(c, str)}) > 1:
            # Buildings of several compounds: 龙城花园3号楼 and 锦绣苑3号楼 must not both be 3号楼.
            labels = np.array([joined_label(self._prefix(c, lab), lab) for c, lab in zip(compounds, labels)],
                              dtype=object)
        names = labels[anchors]
        seen = Counter(names)
        if len(seen) < len(names):
            names = np.array([n + f"（{b}）" if seen[n] > 1 else n
                              for n, b in zip(names, self.bids[rows[anchors]])], dtype=object)
        rank = self.rank[rows]
        order = np.argsort(rank, kind="stable")
        # Each group's buildings in rank order: by group, then by rank.
        order = order[np.argsort(group[order], kind="stable")]
        bounds = np.searchsorted(group[order], np.arange(len(anchors) + 1)).tolist()
        small = (np.bincount(group, weights=self.members[rows], minlength=len(anchors)) < self.t.group_min).tolist()
        # Python lists: tens of thousands of small groups, where numpy's per-call cost would dominate.
        order, anchors_, names = order.tolist(), anchors.tolist(), names.tolist()
        compounds, grids, labels = compounds.tolist(), grids.tolist(), labels.tolist()
        community, situation = branch.community, branch.situation
        group_kind, household_kind = KIND_NAMES["group"], KIND_NAMES["central_household"]
        out = []
        for k in np.argsort(rank[anchors], kind="stable").tolist():
            anchor = anchors_[k]
            others = [j for j in order[bounds[k]:bounds[k + 1]] if j != anchor]
            inside = [anchor, *others]
            node = _Node("group", names[k] + group_kind, community, situation,
                         _ids([compounds[j] for j in inside]), _ids([grids[j] for j in inside]), rows[inside])
            if small[k]:
                node.review.append(_("fewer than {count} members in the whole branch").format(count=self.t.group_min))
            node.children = [
                _Node("central_household", labels[j] + household_kind, community, situation,
                      _one(compounds[j]), _one(grids[j]), rows[j:j + 1])
                for j in others]
            out.append(node)
        return out

    def _prefix(self, compound, label: str) -> str:
        """The compound's name to put before a building label, unless the label starts with it."""
        name = (self.comp_names.get(compound) if isinstance(compound, str) else None) or ""
        return "" if not name or label.startswith(name) else name


def is_tiered(part: Part) -> bool:
    """Whether a top part has a compound tier: a grid holding several compounds (``large_grid``)."""
    return part.key.startswith("g:") and sum(c.key.startswith("c:") for c in part.children) >= 2


def building_groups(xy: np.ndarray, m: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """Assign buildings to groups (DESIGN §3).

    Parameters
    ----------
    xy : (n, 2) array
        Building points, metres.
    m : (n,) array
        Members per building, all > 0.
    minimum : int
        Members a group needs.

    Returns
    -------
    group : (n,) int array
        Group of each building.
    anchors : (k,) int array
        The building each group is named after (its own group).

    Buildings with ``minimum`` members or more each have a group; the others join the nearest of
    them. Where no building reaches the minimum, groups are gathered around the buildings with
    most members from their nearest neighbours until they reach it. Every building is in exactly
    one group, and every group reaches the minimum when the buildings together do.
    """
    n = len(m)
    group = np.full(n, -1, dtype=np.int64)
    anchors = np.flatnonzero(m >= minimum)
    if len(anchors):
        group[anchors] = np.arange(len(anchors))
        rest = np.flatnonzero(m < minimum)
        if len(rest) and len(anchors) > 1:
            group[rest] = np.argmin(_distances(xy[rest], xy[anchors]), axis=1)
        elif len(rest):
            group[rest] = 0
        return group, anchors
    if m.sum() < minimum:
        return np.zeros(n, dtype=np.int64), np.array([int(np.argmax(m))])
    d = _distances(xy, xy)
    seeds = []
    free = np.ones(n, dtype=bool)
    while m[free].sum() >= minimum:
        seed = int(np.flatnonzero(free)[np.argmax(m[free])])
        free[seed] = False
        group[seed] = len(seeds)
        total = m[seed]
        while total < minimum:
            cand = np.flatnonzero(free)
            j = int(cand[np.lexsort((cand, d[seed, cand]))[0]])
            free[j] = False
            group[j] = len(seeds)
            total += m[j]
        seeds.append(seed)
    left = np.flatnonzero(free)
    if len(left):
        placed = np.flatnonzero(~free)
        group[left] = group[placed[np.argmin(d[np.ix_(left, placed)], axis=1)]]
    return group, np.array(seeds, dtype=np.int64)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) distances between two sets of points."""
    return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])


def bisect_members(xy: np.ndarray, m: np.ndarray, cap: int, floor: int) -> list[np.ndarray]:
    """Index sets of neighbouring buildings holding at most ``cap`` members each (at least
    ``floor``), by recursive bisection along the longer side of the member buildings' extent."""
    total = int(m.sum())
    if total <= cap:
        return [np.arange(len(m))]
    has = m > 0
    extent = np.ptp(xy[has], axis=0) if has.sum() > 1 else np.zeros(2)
    axis = int(np.argmax(extent))
    order = np.lexsort((xy[:, 1 - axis], xy[:, axis]))
    cum = np.cumsum(m[order])
    k = math.ceil(total / cap)
    target = total * (k // 2) / k
    # A cut after position i leaves cum[i] members on one side; both sides must reach the floor.
    valid = (cum >= floor) & (total - cum >= floor) & (m[order] > 0)
    if not valid[:-1].any():
        return [np.arange(len(m))]
    candidates = np.flatnonzero(valid[:-1])
    i = int(candidates[np.argmin(np.abs(cum[candidates] - target))])
    left, right = order[: i + 1], order[i + 1:]
    out = []
    for side in (left, right):
        out += [side[p] for p in bisect_members(xy[side], m[side], cap, floor)]
    return out


def _unit_table(roots: list[_Node], bld: pd.DataFrame, members: np.ndarray, cats: np.ndarray,
                t: Thresholds, rank: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The units in tree order with dotted ids and their figures summed over their buildings.

    Returns the table and, per (unit, building) pair, the unit's position and the building's row.
    ``rank`` is the natural order of the building ids.
    """
    nodes: list[tuple[_Node, str, str, int]] = []
    stack = [(root, str(k), "", 0) for k, root in reversed(list(enumerate(roots, start=1)))]
    while stack:  # depth first, children in order
        node, uid, parent, depth = item = stack.pop()
        nodes.append(item)
        stack.extend((child, f"{uid}.{k}", uid, depth + 1)
                     for k, child in reversed(list(enumerate(node.children, start=1))))
    n = len(nodes)
    lengths = np.array([len(node.rows) for node, *_rest in nodes], dtype=np.int64)
    rows = np.concatenate([node.rows for node, *_rest in nodes]) if n else np.empty(0, dtype=np.int64)
    owner = np.repeat(np.arange(n), lengths)
    placed = bld.reason.to_numpy() == ""
    total = np.bincount(owner, weights=members[rows], minlength=n).astype(np.int64)
    by_cat = {c: np.bincount(owner, weights=np.where(placed, cats[:, i], 0)[rows], minlength=n).astype(np.int64)
              for i, c in enumerate(CATEGORY_COLUMNS)}
    hh = bld.households.to_numpy(dtype=float)[rows]
    known = ~np.isnan(hh)
    households = np.bincount(owner[known], weights=hh[known], minlength=n).astype(float)
    households[np.bincount(owner[known], minlength=n) == 0] = np.nan
    # Building ids in natural order (2 before 10): rank them once, sort every unit's list by rank.
    bids = bld.building_id.to_numpy(dtype=object)
    listed = bids[rows[np.lexsort((rank[rows], owner))]].tolist()
    bounds = np.r_[0, np.cumsum(lengths)].tolist()
    sep = settings.LIST_SEP
    joiner = _("; ")  # between a unit's review remarks, and between its notes
    # One sweep over the nodes for every text column.
    (kind, name, community, situation, compound_ids, grid_ids, review, note) = zip(*[
        (node.kind, node.name, node.community, node.situation, sep.join(node.compound_ids), sep.join(node.grid_ids),
         joiner.join(dict.fromkeys(node.review)) if node.review else "",
         joiner.join(dict.fromkeys(node.note)) if node.note else "") for node, *_rest in nodes]) if n else ((),) * 8
    kinds = np.array(kind, dtype=object)
    units = pd.DataFrame({
        "unit_id": [uid for _node, uid, _parent, _depth in nodes],
        "parent_id": [parent for _node, _uid, parent, _depth in nodes],
        "depth": np.array([depth for *_rest, depth in nodes], dtype=np.int64),
        "kind": kinds,
        "name": list(name),
        "community": list(community),
        "situation": list(situation),
        "compound_ids": list(compound_ids),
        "grid_ids": list(grid_ids),
        "building_ids": [sep.join(listed[a:b]) for a, b in zip(bounds[:-1], bounds[1:])],
        "members": total,
        **by_cat,
        "households": households,
        "has_committee": ~np.isin(kinds, ["group", "central_household"]) & (total >= t.committee_min),
        "review": list(review),
        "note": list(note),
    }, columns=UNIT_COLUMNS)
    return units, owner, rows


def _placement(units: pd.DataFrame, bld: pd.DataFrame, counts: np.ndarray, owner: np.ndarray,
               rows: np.ndarray) -> pd.DataFrame:
    """Branch, group and central household of each building, from the (unit, building) pairs."""
    n = len(bld)
    ids = units.unit_id.to_numpy(dtype=object)
    kinds = units.kind.to_numpy(dtype=object)[owner]
    # The community's own unit (which may be a general branch or a branch) is no one's branch.
    below = units.depth.to_numpy()[owner] > 0
    placed = {c: np.full(n, "", dtype=object) for c in ("community", "branch_id", "group_id", "household_id")}
    # A general branch first: its branches beneath then take their buildings (the rest, without
    # members and in no compound of the tier, stay with it).
    for kind, column in (("general_branch", "branch_id"), ("branch", "branch_id"), ("joint_branch", "branch_id"),
                         ("group", "group_id"), ("central_household", "household_id")):
        pick = (kinds == kind) & below
        placed[column][rows[pick]] = ids[owner[pick]]
        if column == "branch_id":
            placed["community"][rows[pick]] = units.community.to_numpy(dtype=object)[owner[pick]]
    return pd.DataFrame({
        "building_id": bld.building_id.to_numpy(), "compound_id": bld.compound_id.to_numpy(),
        "grid_id": bld.grid_id.to_numpy(), "community": placed["community"], "members": counts,
        "households": bld.households.to_numpy(), "branch_id": placed["branch_id"],
        "group_id": placed["group_id"], "household_id": placed["household_id"], "reason": bld.reason.to_numpy(),
    })


def _member_placement(ledger: pd.DataFrame, placement: pd.DataFrame) -> pd.DataFrame:
    """Branch and group of each ledger member (ids only), from their building's placement."""
    at = placement.set_index("building_id")
    table = pd.DataFrame({
        "member_id": ledger.member_id.to_numpy(), "building_id": ledger.building_id.to_numpy(),
        "category": ledger.category.to_numpy(),
        "branch_id": at.branch_id.reindex(ledger.building_id).fillna("").to_numpy(),
        "group_id": at.group_id.reindex(ledger.building_id).fillna("").to_numpy(),
        "reason": ledger.reason.to_numpy(),
    })
    building_reason = at.reason.reindex(ledger.building_id).fillna("").to_numpy()
    table["reason"] = np.where(table.reason == "", building_reason, table.reason)
    # A member in a known, placed building who is in no group (cannot happen by construction, but
    # the count of unplaced members is what the summary promises, so it is derived, not assumed).
    table.loc[(table.reason == "") & (table.group_id == ""), "reason"] = IN_NO_GROUP
    return table


def _one(value) -> list[str]:
    """An id as a list of ids: [id], or [] when missing."""
    return [value] if isinstance(value, str) else []


def _ids(values) -> list[str]:
    """The distinct ids among ``values`` (missing ones left out), in natural order."""
    unique = {v for v in values if isinstance(v, str)}
    return sorted(unique, key=natural_key) if len(unique) > 1 else list(unique)


__all__ = ["Prepared", "Share", "bisect_members", "building_groups", "finish_layout", "is_tiered", "lay_out",
           "organise", "prepare_layout"]
