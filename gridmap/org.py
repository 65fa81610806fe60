"""Organisation layout (DESIGN §1, §3, §5): community → compound (grid) branch → building group.

``organise`` turns a classification, buildings and a member ledger into a tree of party units:

- one community party committee (社区党委) per community (the whole area when none is given);
- beneath it, units that follow the three situations: a compound unit with its grids' units
  beneath (``large_compound``), a grid unit with its compounds' units beneath (``large_grid``), one
  compound (grid) branch (``equal``); ``mixed`` compounds are laid out on the alignment proposal when
  there is one, else on their main grid, and flagged for review;
- member counts then decide the kind of each unit (thresholds of DESIGN §3, all configurable): over
  ``branch_max`` members a general branch (党总支) with branches beneath, split by grid or compound,
  else by clusters of neighbouring buildings; under ``branch_min`` a joint branch (联合党支部) with
  neighbouring small units, or part of the nearest branch; ``committee_min`` or more a committee;
- building groups (党小组): one per building with at least ``group_min`` members, the other buildings
  join the nearest such building's group, and each of them gets a party-member central household
  (党员中心户).

Members are counted, never listed: the unit table holds counts per category, no names or phones.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import gc
import io as _io
import json
import logging
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import settings
from gridmap.classify import Classification, classify
from gridmap.errors import GridmapError, PlacementWarning
from gridmap.io import atomic_path, decode_text, find_field, id_strings, write_csv
from gridmap.overlay import overlap_table

log = logging.getLogger(__name__)

#: The four ledger categories (DESIGN §3), as column suffixes and in Chinese.
CATEGORIES: dict[str, str] = {"direct": "直管党员", "mobile": "流动党员", "in_service": "在职党员",
                              "retired": "离退休党员"}
#: Words that identify a category in a ledger cell, a file name or a sheet name.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "retired": ("离退休", "退休", "离休", "retired"),
    "in_service": ("在职", "in_service", "in-service", "in service"),
    "mobile": ("流动", "mobile"),
    "direct": ("直管", "direct"),
}
CATEGORY_COLUMNS: list[str] = [f"members_{c}" for c in CATEGORIES] + ["members_other"]

KINDS: tuple[str, ...] = ("committee", "general_branch", "branch", "joint_branch", "group",
                          "central_household")
KIND_NAMES: dict[str, str] = {"committee": "党委", "general_branch": "党总支", "branch": "党支部",
                              "joint_branch": "联合党支部", "group": "党小组",
                              "central_household": "党员中心户"}
BRANCH_KINDS = ("general_branch", "branch", "joint_branch")

UNIT_COLUMNS: list[str] = [
    "unit_id", "parent_id", "depth", "kind", "name", "community", "situation", "compound_ids",
    "grid_ids", "building_ids", "members", *CATEGORY_COLUMNS, "households", "has_committee",
    "review", "note",
]
LEDGER_COLUMNS = ["member_id", "building_id", "category", "name", "phone", "source"]

#: Reasons a member is not placed, as written in the tables.
UNKNOWN_BUILDING = "building not in the buildings layer"
NO_BUILDING = "no building id in the ledger"
OUTSIDE = "building outside every grid and compound"
NO_GEOMETRY = "building has no geometry"

#: Ledger headers are looked for in the first rows (title rows above the header are common).
_HEADER_SEARCH_ROWS = 20
#: First search radius (m) for neighbouring units; widened fourfold until enough are found.
_NEAR_RADIUS = 300.0
_NEAR_COUNT = 8
_LISTED = 10


def _without_gc(fn):
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
        A branch needs at least this many members (default 3); smaller units are joined.
    branch_max : int
        A branch holds at most this many (default 50); larger units become general branches.
    committee_min : int
        A branch with this many or more has a branch committee (default 7).
    group_min : int
        A building group needs this many members (default 3).
    """

    branch_min: int = field(default_factory=lambda: settings.BRANCH_MIN_MEMBERS)
    branch_max: int = field(default_factory=lambda: settings.BRANCH_MAX_MEMBERS)
    committee_min: int = field(default_factory=lambda: settings.COMMITTEE_MIN_MEMBERS)
    group_min: int = field(default_factory=lambda: settings.GROUP_MIN_MEMBERS)

    def __post_init__(self):
        values = dict(branch_min=self.branch_min, branch_max=self.branch_max,
                      committee_min=self.committee_min, group_min=self.group_min)
        bad = [f"{k}={v}" for k, v in values.items() if not isinstance(v, (int, np.integer)) or v < 1]
        if bad:
            raise GridmapError(f"Organisation thresholds must be whole numbers of at least 1: {', '.join(bad)}.")
        if self.branch_max < self.branch_min:
            raise GridmapError(f"The largest branch ({self.branch_max} members) is smaller than the "
                               f"smallest ({self.branch_min}); give --branch-max ≥ --branch-min.")


# =================================================================== the ledger


def read_ledger(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    encoding: str | None = None,
    member_id: str | None = None,
    building_id: str | None = None,
    category: str | None = None,
) -> pd.DataFrame:
    """Read a member ledger (台账): CSV or Excel files, one or one per category.

    Parameters
    ----------
    paths : path or list of paths
        CSV (UTF-8, with or without BOM, else GB18030) or Excel (``.xlsx``/``.xlsm``; every sheet
        is read). Title rows above the header are skipped.
    encoding : str, optional
        Encoding of CSV files, instead of trying UTF-8 then GB18030.
    member_id, building_id, category : str, optional
        Column names, when not one of the recognised names of DESIGN §4 (``member_id`` 党员编号,
        ``building_id`` 楼栋编码, ``category`` 类别).

    Returns
    -------
    DataFrame
        ``member_id``, ``building_id``, ``category`` (``direct``, ``mobile``, ``in_service``,
        ``retired`` or ``other``), ``name``, ``phone``, ``source`` (file, sheet and row). Without a
        member id column, ids are made from the source and row. A file or sheet without a category
        column takes its category from its name (e.g. ``流动党员.xlsx``).

    Raises
    ------
    GridmapError
        Unreadable file, no building column (the message lists the columns found), duplicate
        member ids (named).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise GridmapError(f"{path}: no such ledger file.")
        for label, hint, raw in _ledger_tables(path, encoding):
            table = _ledger_frame(raw, label, building_id, member_id)
            if table is None:
                continue
            frames.append(standardise_ledger(table, member_id=member_id, building_id=building_id,
                                             category=category, default_category=_category_of(hint)))
    if not frames:
        raise GridmapError(f"{', '.join(map(str, paths))}: no sheet holds a member table.")
    ledger = pd.concat(frames, ignore_index=True)
    _check_unique_members(ledger, ", ".join(map(str, paths)))
    log.info("ledger: %d members from %d tables", len(ledger), len(frames))
    return ledger


def standardise_ledger(
    df: pd.DataFrame,
    *,
    member_id: str | None = None,
    building_id: str | None = None,
    category: str | None = None,
    default_category: str | None = None,
) -> pd.DataFrame:
    """A ledger table with recognised columns renamed to ``LEDGER_COLUMNS`` and categories coded.

    Accepts a table that is already standard (it comes back unchanged but for the checks).
    """
    source = df.attrs.get("source", "the ledger")
    df = df.copy()
    df.attrs["source"] = source
    b_col = find_field(df, "building_id", building_id if building_id in df.columns else None)
    m_col = find_field(df, "member_id", member_id if member_id in df.columns else None, required=False)
    c_col = find_field(df, "category", category if category in df.columns else None, required=False)
    n_col = find_field(df, "member_name", required=False)
    p_col = find_field(df, "phone", required=False)
    rows = df.get("_row", pd.Series(np.arange(2, len(df) + 2), index=df.index))
    if "source" in df.columns and m_col is not None:
        where = df["source"].astype(str)
    else:
        where = f"{source} row " + rows.astype(str)
    out = pd.DataFrame({
        "member_id": _id_values(df[m_col]) if m_col else where,
        "building_id": _ledger_ids(df[b_col]),
        "category": _category_codes(df[c_col], default_category) if c_col
                    else pd.Series(default_category or "other", index=df.index),
        "name": df[n_col].astype(object) if n_col else None,
        "phone": df[p_col].astype(object) if p_col else None,
        "source": where,
    }, index=df.index)
    missing_id = out.member_id.isna() | (out.member_id == "")
    out.loc[missing_id, "member_id"] = where[missing_id]
    out.attrs["source"] = source
    if c_col is None and default_category is None:
        log.info("%s: no category column; members counted as 'other'", source)
    return out.reset_index(drop=True)


def _ledger_tables(path: Path, encoding: str | None) -> list[tuple[str, str, pd.DataFrame]]:
    """Raw cell tables (no header) of a CSV or of every sheet of a workbook, with a label for
    messages and the names (file, sheet) that may tell the members' category."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str)
        except Exception as exc:
            raise GridmapError(f"{path}: not a readable Excel workbook ({_first_line(exc)}).") from None
        return [(f"{path}:{name}" if len(sheets) > 1 else str(path), f"{path.stem} {name}", raw)
                for name, raw in sheets.items()]
    if suffix == ".xls":
        raise GridmapError(f"{path}: old-style .xls workbooks are not read; save it as .xlsx (or CSV) "
                           "and give that.")
    text = decode_text(path.read_bytes(), encoding, path, "ledger")
    # Comma unless the first lines hold more tabs or semicolons (exports from other tools).
    head = text[:4096]
    delimiter = max(",\t;", key=lambda d: (head.count(d), d == ","))
    rows = list(csv.reader(_io.StringIO(text), delimiter=delimiter))
    width = max((len(r) for r in rows), default=0)
    return [(str(path), path.stem, pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object))]


def _ledger_frame(raw: pd.DataFrame, label: str, building_id: str | None,
                  member_id: str | None) -> pd.DataFrame | None:
    """The member table of one sheet: header row found among the first rows; None for a sheet
    that holds no table at all (an empty or notes sheet in a multi-sheet workbook)."""
    raw = raw.dropna(how="all")
    if raw.empty:
        return None
    names = {n.lower() for n in settings.FIELDS["building_id"]}
    if building_id:
        names.add(building_id.lower())
    header_at = None
    for pos in range(min(_HEADER_SEARCH_ROWS, len(raw))):
        cells = {str(v).strip().lower() for v in raw.iloc[pos] if v is not None and not pd.isna(v)}
        if cells & names:
            header_at = pos
            break
    if header_at is None:
        found = [str(v).strip() for v in raw.iloc[0] if v is not None and not pd.isna(v)]
        if ":" in label and len(found) <= 1:
            return None  # a notes sheet beside the table sheets
        looked = ", ".join(([building_id] if building_id else []) + list(settings.FIELDS["building_id"]))
        raise GridmapError(f"{label}: no building column found in the ledger (looked for {looked}). "
                           f"The columns found are: {', '.join(found) or 'none'}. Rename the "
                           "column or name it with --building-id.")
    header = [str(v).strip() if v is not None and not pd.isna(v) and str(v).strip() else f"column{j + 1}"
              for j, v in enumerate(raw.iloc[header_at])]
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        if h in seen:
            seen[h] += 1
            header[j] = f"{h}_{seen[h]}"
        else:
            seen[h] = 0
    body = raw.iloc[header_at + 1:].copy()
    body.columns = header
    # Excel counts rows from 1 and the header is a row: row numbers as a user sees them.
    body["_row"] = body.index.to_numpy() + 1
    body = body.replace({"": None}).dropna(how="all", subset=header)
    body.attrs["source"] = label
    return body


def _ledger_ids(values: pd.Series) -> pd.Series:
    ids = _id_values(values)
    # Excel may turn 12 into 12.0 when a column mixes numbers and text.
    return ids.map(lambda v: v[: v.index(".")] if isinstance(v, str) and re.fullmatch(r"\d+\.0+", v) else v)


def _category_of(text: str | None) -> str | None:
    if not text:
        return None
    low = str(text).lower()
    for code, words in CATEGORY_WORDS.items():
        if any(w in low for w in words):
            return code
    return None


def _category_codes(values: pd.Series, default: str | None) -> pd.Series:
    text = values.fillna("").astype(str).str.strip().str.lower()
    conditions = [text.str.contains("|".join(map(re.escape, words))) for words in CATEGORY_WORDS.values()]
    codes = pd.Series(np.select(conditions, list(CATEGORY_WORDS), default="other"), index=values.index)
    if default is not None:
        codes[text == ""] = default
    other = values[codes == "other"].dropna().astype(str)
    if len(other):
        shown = ", ".join(f"{v!r} ({n})" for v, n in other.value_counts().head(_LISTED).items())
        warnings.warn(f"{values.attrs.get('source', 'the ledger')}: {len(other)} members have a category "
                      f"that is none of {', '.join(CATEGORIES.values())}: {shown}; counted as other",
                      PlacementWarning, stacklevel=3)
    return codes


def _check_unique_members(ledger: pd.DataFrame, source: str) -> None:
    dup = ledger.member_id[ledger.member_id.duplicated(keep=False)]
    if len(dup):
        values = pd.unique(dup)
        shown = ", ".join(map(str, values[:_LISTED])) + (f" and {len(values) - _LISTED} more"
                                                          if len(values) > _LISTED else "")
        raise GridmapError(f"{source}: {len(values)} member ids occur more than once ({shown}). Each "
                           "member must appear once in the ledger; remove the duplicates and run again.")


# =================================================================== placing buildings


@dataclass
class _Area:
    """Compounds and grids the layout is built on, in the metric CRS, indexed by id."""

    compounds: pd.DataFrame  # situation, grids (list), main_grid, label, name, community, geometry
    grids: pd.DataFrame      # situation, compounds (list), label, community, geometry
    crs: object


def _area(cls: Classification, communities: gpd.GeoDataFrame | None,
          proposal: gpd.GeoDataFrame | None, community_field: str | None) -> _Area:
    """Compounds and grids with labels and communities; on the proposal's grids when given."""
    crs = cls.crs
    original = cls.grids
    c_name = find_field(cls.compounds, "compound_name", required=False, exclude=tuple(cls.compounds.columns[:7]))
    g_name = find_field(original, "grid_name", required=False, exclude=tuple(original.columns[:4]))
    g_comm = find_field(original, "community", community_field if community_field in original.columns else None,
                        required=False, exclude=tuple(original.columns[:4]))
    names = cls.compounds[c_name].astype(object) if c_name else pd.Series(None, index=cls.compounds.index)
    grid_names = pd.Series(original[g_name].to_numpy(dtype=object) if g_name else None,
                           index=original.grid_id.to_numpy())
    grid_comms = pd.Series(original[g_comm].to_numpy(dtype=object) if g_comm else None,
                           index=original.grid_id.to_numpy())

    layout = cls
    if proposal is not None:
        layout = _on_proposal(cls, proposal)
        grid_names, grid_comms = _inherit(layout.grids, original, grid_names, grid_comms, crs, proposal)
        # The proposal's own names and communities (gridmap align carries them) come first.
        pid = _id_values(proposal[find_field(proposal, "grid_id")]).to_numpy(dtype=object)
        for meaning, target in (("grid_name", grid_names), ("community", grid_comms)):
            own = find_field(proposal, meaning, required=False,
                             exclude=("grid_id", "status", "situation", "compound_ids", "origin_grid_id"))
            if own:
                values = pd.Series(proposal[own].map(_text).to_numpy(dtype=object), index=pid)
                values = values[values.notna() & ~values.index.duplicated()]
                target.loc[values.index.intersection(target.index)] = values

    cg = layout.compounds
    comp = pd.DataFrame({
        "situation": cg.situation.to_numpy(),
        "grids": [s.split(settings.LIST_SEP) if s else [] for s in cg.grid_ids],
        "main_grid": cg.main_grid_id.to_numpy(),
        "name": names.to_numpy(),
        "geometry": cg.geometry.to_crs(crs).to_numpy(),
        "was": cls.compounds.situation.to_numpy(),
    }, index=pd.Index(cg.compound_id.to_numpy(), name="compound_id"))
    comp["label"] = [_compound_label(n, i) for n, i in zip(comp.name, comp.index)]
    gg = layout.grids
    grid = pd.DataFrame({
        "situation": gg.situation.to_numpy(),
        "compounds": [s.split(settings.LIST_SEP) if s else [] for s in gg.compound_ids],
        "name": grid_names.reindex(gg.grid_id.to_numpy()).to_numpy(),
        "community": grid_comms.reindex(gg.grid_id.to_numpy()).to_numpy(),
        "geometry": gg.geometry.to_crs(crs).to_numpy(),
    }, index=pd.Index(gg.grid_id.to_numpy(), name="grid_id"))
    grid["label"] = [_grid_label(n, i) for n, i in zip(grid.name, grid.index)]

    if communities is not None:
        # A grid's own community field comes first (grids never cross a community); the
        # communities layer gives the community of grids without one.
        own = grid.community.map(_text)
        looked_up = pd.Series(_community_of(grid.geometry.to_numpy(), communities, crs), index=grid.index)
        grid["community"] = own.where(own.notna(), looked_up).fillna("")
        comp["community"] = _community_of(comp.geometry.to_numpy(), communities, crs)
    else:
        grid["community"] = grid.community.map(_text).fillna("")
        comp["community"] = ""
        if len(grid):
            # A compound in no grid belongs to the community of the nearest grid.
            uncovered = comp.situation.to_numpy() == "uncovered"
            if uncovered.any():
                near = _nearest(shapely.point_on_surface(comp.geometry.to_numpy()[uncovered]),
                                grid.geometry.to_numpy())
                comp.loc[uncovered, "community"] = grid.community.to_numpy()[near]
    # Grids never cross a community (DESIGN §8): a covered compound goes with its main grid.
    covered = comp.situation != "uncovered"
    comp.loc[covered, "community"] = grid.community.reindex(comp.main_grid[covered]).to_numpy()
    return _Area(comp, grid, crs)


def _on_proposal(cls: Classification, proposal: gpd.GeoDataFrame) -> Classification:
    """The classification of the compounds on the proposal's grids."""
    gid = find_field(proposal, "grid_id")
    compounds = gpd.GeoDataFrame({"compound_id": cls.compounds.compound_id.to_numpy()},
                                 geometry=cls.compounds.geometry.to_numpy(), crs=cls.compounds.crs)
    compounds.attrs["source"] = cls.compounds.attrs.get("source", "compounds")
    grids = gpd.GeoDataFrame({"grid_id": _id_values(proposal[gid]).to_numpy(dtype=object)},
                             geometry=proposal.geometry.to_numpy(), crs=proposal.crs)
    grids.attrs["source"] = proposal.attrs.get("source", "the proposal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the slivers were reported when the proposal was made
        return classify(compounds, grids, compound_id="compound_id", grid_id="grid_id",
                        sliver=cls.sliver, nest=cls.nest, crs=cls.crs)


def _inherit(grids: gpd.GeoDataFrame, original: gpd.GeoDataFrame, names: pd.Series,
             comms: pd.Series, crs, proposal: gpd.GeoDataFrame | None = None) -> tuple[pd.Series, pd.Series]:
    """Names and communities of proposed grids: the original grid's where the id survives, else
    the community of the grid it was cut from (the proposal's ``cut_from``/``origin_grid_id``),
    else of the original grid it shares most area with (never a point lookup: a new grid's inner
    point may lie across the line it was cut along)."""
    ids = grids.grid_id.to_numpy()
    new = ~pd.Index(ids).isin(names.index)
    out_names = names.reindex(ids)
    out_comms = comms.reindex(ids)
    if new.any():
        origin = pd.Series(None, index=ids[new], dtype=object)
        if proposal is not None:
            pid = _id_values(proposal[find_field(proposal, "grid_id")]).to_numpy(dtype=object)
            for col in ("cut_from", "origin_grid_id"):
                if col in proposal.columns:
                    values = pd.Series(_id_values(proposal[col]).to_numpy(dtype=object), index=pid)
                    values = values[~values.index.duplicated()].reindex(ids[new])
                    origin = origin.where(origin.notna(), values)
        known = origin.notna().to_numpy() & pd.Index(origin.to_numpy()).isin(comms.index)
        found = np.flatnonzero(new)
        out_comms.iloc[found[known]] = comms.reindex(origin.to_numpy()[known]).to_numpy()
        rest = found[~known]
        if len(rest):
            table = overlap_table(grids.geometry.to_crs(crs).to_numpy()[rest], original.geometry.to_crs(crs).to_numpy())
            best = table.sort_values(["compound", "overlap_m2"], ascending=[True, False]).drop_duplicates("compound")
            out_comms.iloc[rest[best.compound.to_numpy()]] = comms.to_numpy()[best.grid.to_numpy()]
    out_names.index = ids
    out_comms.index = ids
    return out_names, out_comms


def _community_of(geoms: np.ndarray, communities: gpd.GeoDataFrame, crs) -> np.ndarray:
    """Name of the community polygon sharing most area with each geometry (else the nearest).

    Not the one holding its inner point: that point can fall across a line the geometry
    straddles by a few metres of digitising."""
    field_ = find_field(communities, "community", required=False) or next(
        (c for c in communities.columns if str(c).lower() in ("name", "社区名称", "名称")), None)
    if field_ is None:
        names = np.array([f"社区{i + 1}" for i in range(len(communities))], dtype=object)
    else:
        names = communities[field_].map(_text).fillna("").to_numpy(dtype=object)
    polys = communities.geometry.to_crs(crs).to_numpy()
    if not len(geoms):
        return np.array([], dtype=object)
    if not len(polys):
        return np.full(len(geoms), "", dtype=object)
    table = overlap_table(geoms, polys)
    best = table.sort_values(["compound", "overlap_m2"], ascending=[True, False]).drop_duplicates("compound")
    inside = np.full(len(geoms), -1, dtype=np.int64)
    inside[best.compound.to_numpy()] = best.grid.to_numpy()
    outside = inside < 0
    if outside.any():
        inside[outside] = _nearest(shapely.point_on_surface(geoms[outside]), polys)
    return names[inside]


def _within(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the polygon holding each point (the smallest when several do), -1 where none."""
    out = np.full(len(points), -1, dtype=np.int64)
    if not len(points) or not len(polygons):
        return out
    p, q = shapely.STRtree(polygons).query(points, predicate="intersects")
    if len(p):
        order = np.lexsort((q, shapely.area(polygons[q]), p))
        p, q = p[order], q[order]
        first = np.r_[True, p[1:] != p[:-1]]
        out[p[first]] = q[first]
    return out


def _nearest(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the nearest polygon to each point (all inputs non-empty)."""
    p, q = shapely.STRtree(polygons).query_nearest(points, all_matches=False)
    out = np.zeros(len(points), dtype=np.int64)
    out[p] = q
    return out


def _buildings(area: _Area, buildings: gpd.GeoDataFrame, building_id: str | None,
               households: str | None, party_members: str | None, compound_id: str | None) -> pd.DataFrame:
    """One row per building: id, label, compound, grid, point (metric) and figures."""
    source = buildings.attrs.get("source", "buildings")
    bid = find_field(buildings, "building_id", building_id)
    ids = _id_values(buildings[bid])
    null = ids.isna() | (ids == "")
    if null.any():
        raise GridmapError(f"{source}: {int(null.sum())} buildings have no {bid}. Every building needs "
                           "an id (the ledger names members' buildings by it).")
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise GridmapError(f"{source}: {dup.nunique()} building ids occur more than once "
                           f"({_sample(pd.unique(dup))}); building ids must be unique.")
    geoms = buildings.geometry.to_crs(area.crs).to_numpy() if buildings.crs is not None else None
    if geoms is None:
        raise GridmapError(f"{source}: the buildings layer has no CRS; give one with --crs.")
    located = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.full(len(geoms), None, dtype=object)
    points[located] = shapely.point_on_surface(geoms[located])

    name_field = find_field(buildings, "building_name", required=False, exclude=(bid,))
    names = buildings[name_field].map(_text) if name_field else pd.Series(None, index=buildings.index)
    table = pd.DataFrame({
        "building_id": ids.to_numpy(dtype=object),
        "label": [_building_label(n, i) for n, i in zip(names.to_numpy(dtype=object), ids.to_numpy(dtype=object))],
        "x": shapely.get_x(points), "y": shapely.get_y(points),
        "located": located,
    })

    c_ids = area.compounds.index.to_numpy()
    c_at = _within(points, area.compounds.geometry.to_numpy()) if located.any() else np.full(len(points), -1)
    spatial = np.where(c_at >= 0, c_ids[np.maximum(c_at, 0)] if len(c_ids) else None, None)
    cfield = find_field(buildings, "compound_id", compound_id if compound_id in buildings.columns else None,
                        required=False, exclude=(bid,))
    if cfield:
        given = _id_values(buildings[cfield]).to_numpy(dtype=object)
        known = pd.Index(c_ids).get_indexer(given) >= 0
        unknown = pd.notna(given) & (given != "") & ~known
        if unknown.any():
            warnings.warn(f"{source}: {int(unknown.sum())} buildings name a compound ({cfield}) that is not "
                          f"in the compounds layer ({_sample(pd.unique(given[unknown]))}); they are placed by "
                          "location instead", PlacementWarning, stacklevel=3)
        table["compound_id"] = np.where(known, given, spatial)
    else:
        table["compound_id"] = spatial
    g_ids = area.grids.index.to_numpy()
    g_at = _within(points, area.grids.geometry.to_numpy()) if located.any() else np.full(len(points), -1)
    table["grid_id"] = np.where(g_at >= 0, g_ids[np.maximum(g_at, 0)] if len(g_ids) else None, None)
    table["households"] = _figures(buildings, "households", households, source, required=False)
    gaps = np.isnan(table.households.to_numpy())
    if gaps.any() and not gaps.all():
        warnings.warn(f"{source}: {int(gaps.sum())} buildings have no household figure "
                      f"({_sample(table.building_id[gaps])}); units' households count the others only",
                      PlacementWarning, stacklevel=3)
    table["party_members"] = _figures(buildings, "party_members", party_members, source, required=False)
    return table


def _figures(buildings: pd.DataFrame, meaning: str, explicit: str | None, source: str,
             required: bool) -> np.ndarray:
    """A numeric per-building figure; NaN where missing or not a number (and a warning)."""
    col = find_field(buildings, meaning, explicit, required=required)
    if col is None:
        return np.full(len(buildings), np.nan)
    values = pd.to_numeric(buildings[col], errors="coerce")
    bad = values.isna() & buildings[col].notna() & (buildings[col].astype(str).str.strip() != "")
    if bad.any():
        warnings.warn(f"{source}: {int(bad.sum())} values of {col} are not numbers "
                      f"({_sample(buildings[col][bad].astype(str).unique())}); taken as missing",
                      PlacementWarning, stacklevel=4)
    negative = values < 0
    if negative.any():
        raise GridmapError(f"{source}: {int(negative.sum())} buildings have a negative {col}; "
                           "figures must be 0 or more.")
    return values.to_numpy(dtype=float)


# =================================================================== parts: the units before counting


@dataclass
class _Part:
    """Territory that may become a unit: a compound, a grid, or a grid's loose buildings."""

    key: str
    label: str
    situation: str
    community: str
    geometry: object
    compound_ids: list[str] = field(default_factory=list)
    grid_ids: list[str] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    children: list[_Part] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    note: list[str] = field(default_factory=list)
    joint: list[str] = field(default_factory=list)  # labels of the small units joined in it


def _parts(area: _Area, bld: pd.DataFrame) -> tuple[list[_Part], np.ndarray]:
    """Top parts per the situations, with each building's top and sub-part keys.

    Returns the parts and, per building, a placement reason ('' when placed).
    """
    comp, grid = area.compounds, area.grids
    is_lc = comp.situation == "large_compound"
    # Every covered compound that is not large_compound sits in one home grid: its only grid, or
    # for a mixed compound its main grid (the layout until the boundaries are aligned).
    home = comp.main_grid.where(~is_lc & (comp.situation != "uncovered"))
    at_home = home.dropna().groupby(home.dropna()).groups
    tops: dict[str, _Part] = {}
    # Plain dicts: per-compound pandas look-ups would dominate the run time at city scale.
    C = {col: dict(zip(comp.index, comp[col].to_numpy(dtype=object)))
         for col in ("label", "situation", "community", "geometry", "grids", "was")}
    G = {col: dict(zip(grid.index, grid[col].to_numpy(dtype=object)))
         for col in ("label", "situation", "community", "geometry")}

    for cid in comp.index[is_lc]:
        part = _Part(f"c:{cid}", C["label"][cid], "large_compound", C["community"][cid], C["geometry"][cid],
                     [cid], list(C["grids"][cid]))
        part.children = [_Part(f"g:{g}", G["label"].get(g, g), "large_compound", C["community"][cid],
                               G["geometry"].get(g), [], [g]) for g in C["grids"][cid]]
        if C["was"][cid] == "mixed":
            part.note.append(f"laid out on the alignment proposal: {C['label'][cid]}")
        tops[part.key] = part
    for cid in comp.index[comp.situation == "uncovered"]:
        tops[f"c:{cid}"] = _Part(f"c:{cid}", C["label"][cid], "uncovered", C["community"][cid],
                                 C["geometry"][cid], [cid], [], review=[f"{C['label'][cid]} lies in no grid"])
    for gid in grid.index[grid.situation != "large_compound"]:
        label, community, geometry = G["label"][gid], G["community"][gid], G["geometry"][gid]
        homed = sorted(at_home.get(gid, []), key=_natural)
        part = _Part(f"g:{gid}", label, G["situation"][gid], community, geometry, homed, [gid])
        if len(homed) == 1:
            # One compound (grid) branch: named after the compound residents know.
            part.label = C["label"][homed[0]]
        elif len(homed) > 1:
            part.children = [_Part(f"c:{cid}", C["label"][cid], C["situation"][cid], community,
                                   C["geometry"][cid], [cid], [gid]) for cid in homed]
            part.children.append(_Part(f"r:{gid}", f"{label}散居楼院", G["situation"][gid], community,
                                       geometry, [], [gid]))
        mixed = [cid for cid in homed if C["situation"][cid] == "mixed"]
        if mixed:
            spans = "; ".join(f"{C['label'][c]} spans {settings.LIST_SEP.join(C['grids'][c])}" for c in mixed)
            part.review.append(f"{spans}: laid out on its main grid {gid} until the boundaries are "
                               "aligned (gridmap align, then --proposal)")
        aligned = [cid for cid in homed if C["was"][cid] == "mixed" and C["situation"][cid] != "mixed"]
        if aligned:
            part.note.append("laid out on the alignment proposal: " + "、".join(C["label"][c] for c in aligned))
        tops[part.key] = part

    top, child, reason = _building_parts(area, bld, is_lc, home)
    for key, rows in _positions(top).items():
        tops[key].rows = rows
    by_child = _positions(child)
    empty = np.empty(0, dtype=np.int64)
    for part in tops.values():
        for ch in part.children:
            ch.rows = by_child.get(ch.key, empty)
        if part.children:
            part.children = [ch for ch in part.children if len(ch.rows) or ch.key[0] != "r"]
    return list(tops.values()), reason


def _positions(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Positions of each non-empty key, in increasing order."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {k: order[a:b] for k, a, b in zip(uniques, bounds[:-1], bounds[1:]) if k != ""}


def _building_parts(area: _Area, bld: pd.DataFrame, is_lc: pd.Series, home: pd.Series
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top part key, sub-part key ('' for none) and unplaced reason of each building."""
    comp, grid = area.compounds, area.grids
    cid = bld.compound_id.to_numpy(dtype=object)
    gid = bld.grid_id.to_numpy(dtype=object)
    has_c = pd.notna(cid)
    c_sit = pd.Series(cid).map(comp.situation).to_numpy(dtype=object)
    c_lc = has_c & (c_sit == "large_compound")
    c_home = pd.Series(cid).map(home).to_numpy(dtype=object)
    n_home = home.dropna().value_counts().astype(float)
    # The compound decides; loose buildings go by their grid.
    top = np.full(len(bld), "", dtype=object)
    child = np.full(len(bld), "", dtype=object)
    top[c_lc] = "c:" + cid[c_lc].astype(str)
    own = {(c, g) for c, gs in zip(comp.index[is_lc], comp.grids[is_lc]) for g in gs}
    inside_own = c_lc & np.fromiter(((c, g) in own for c, g in zip(cid, gid)), dtype=bool, count=len(cid))
    child[inside_own] = "g:" + gid[inside_own].astype(str)
    stray = c_lc & ~inside_own
    if stray.any():
        child[stray] = "g:" + _nearest_own_grid(bld[stray], comp, grid)
    unc = has_c & (c_sit == "uncovered")
    top[unc] = "c:" + cid[unc].astype(str)
    homed = has_c & ~c_lc & ~unc
    top[homed] = "g:" + c_home[homed].astype(str)
    many = homed & (pd.Series(c_home).map(n_home).to_numpy(dtype=float) > 1)
    child[many] = "c:" + cid[many].astype(str)

    loose = ~has_c & pd.notna(gid)
    g_sit = pd.Series(gid).map(grid.situation).to_numpy(dtype=object)
    in_lc_grid = loose & (g_sit == "large_compound")
    owner = pd.Series(gid).map(grid.compounds.map(lambda v: v[0] if v else None)).to_numpy(dtype=object)
    top[in_lc_grid] = "c:" + owner[in_lc_grid].astype(str)
    child[in_lc_grid] = "g:" + gid[in_lc_grid].astype(str)
    other = loose & ~in_lc_grid
    top[other] = "g:" + gid[other].astype(str)
    split = other & (pd.Series(gid).map(n_home).to_numpy(dtype=float) > 1)
    child[split] = "r:" + gid[split].astype(str)

    reason = np.full(len(bld), "", dtype=object)
    reason[top == ""] = OUTSIDE
    reason[~bld.located.to_numpy()] = NO_GEOMETRY
    top[reason != ""] = ""
    child[reason != ""] = ""
    return top, child, reason


def _nearest_own_grid(stray: pd.DataFrame, comp: pd.DataFrame, grid: pd.DataFrame) -> np.ndarray:
    """For buildings of a large compound outside its grids: the nearest of the compound's grids."""
    pairs = pd.DataFrame({"row": np.arange(len(stray)), "grids": comp.grids.reindex(stray.compound_id).to_numpy()})
    pairs = pairs.explode("grids").dropna()
    points = shapely.points(stray.x.to_numpy()[pairs.row.to_numpy()], stray.y.to_numpy()[pairs.row.to_numpy()])
    pairs["d"] = shapely.distance(points, grid.geometry.reindex(pairs.grids).to_numpy())
    best = pairs.sort_values(["row", "d"], kind="stable").drop_duplicates("row")
    return best.set_index("row").grids.reindex(range(len(stray))).to_numpy(dtype=object).astype(str)


# =================================================================== combining small parts


class _Near:
    """Nearest neighbours among parts: by the gap between them (m), ties by centre distance."""

    def __init__(self, geoms: Sequence):
        self.geoms = np.asarray([g if g is not None else shapely.Point() for g in geoms], dtype=object)
        self.centres = shapely.centroid(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def prime(self, sources: np.ndarray) -> None:
        """Find candidates for many parts at once: bulk dwithin queries, widening the radius."""
        todo = np.asarray(sources, dtype=np.int64)
        radius = _NEAR_RADIUS
        want = min(_NEAR_COUNT, len(self.geoms) - 1)
        while len(todo):
            src, dst = self.tree.query(self.geoms[todo], predicate="dwithin", distance=radius)
            src = todo[src]
            keep = src != dst
            src, dst = src[keep], dst[keep]
            counts = np.bincount(np.searchsorted(todo, src), minlength=len(todo)) if len(src) else np.zeros(len(todo), int)
            enough = counts >= want
            if radius > 1e7:
                enough[:] = True
            done = set(todo[enough].tolist())
            mask = np.isin(src, list(done))
            self._store(src[mask], dst[mask], todo[enough])
            todo = todo[~enough]
            radius *= 4

    def _store(self, src: np.ndarray, dst: np.ndarray, sources: np.ndarray) -> None:
        d = shapely.distance(self.geoms[src], self.geoms[dst])
        c = shapely.distance(self.centres[src], self.centres[dst])
        order = np.lexsort((dst, c, d, src))
        src, dst, d, c = src[order], dst[order], d[order], c[order]
        starts = np.searchsorted(src, sources)
        ends = np.searchsorted(src, sources, side="right")
        for s, a, b in zip(sources, starts, ends):
            self.cache[int(s)] = (dst[a:b], d[a:b], c[a:b])

    def candidates(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if i not in self.cache:
            self.prime(np.array([i]))
        return self.cache[i]

    def full(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        others = np.delete(np.arange(len(self.geoms)), i)
        d = shapely.distance(self.geoms[i], self.geoms[others])
        c = shapely.distance(self.centres[i], self.centres[others])
        order = np.lexsort((others, c, d))
        return others[order], d[order], c[order]


def _nearest_cluster(members: Iterable[int], cluster_of: np.ndarray, eligible: np.ndarray,
                     near: _Near) -> int | None:
    """Id of the nearest other eligible cluster to the given parts, or None."""
    members = list(members)
    own = cluster_of[members[0]]
    best = None
    for full in (False, True):
        for i in members:
            dst, d, c = near.full(i) if full else near.candidates(i)
            ok = (cluster_of[dst] != own) & eligible[dst]
            if ok.any():
                j = np.flatnonzero(ok)[0]
                key = (d[j], c[j], int(dst[j]))
                if best is None or key < best[0]:
                    best = (key, int(cluster_of[dst[j]]))
        if best is not None:
            return best[1]
    return None


def _combine(parts: list[_Part], members: np.ndarray, t: Thresholds) -> list[_Part]:
    """Join small parts (under ``branch_min`` members) with their neighbours (DESIGN §3).

    A small part joins the nearest unit: when that is also small they form a joint branch
    (联合党支部), when it is a regular unit the small part becomes part of it. Parts without members
    are covered by the nearest unit that has some. Returns the resulting parts; none when no part
    has members.
    """
    n = len(parts)
    m = np.array([int(members[p.rows].sum()) for p in parts], dtype=np.int64)
    if n == 0 or not (m > 0).any():
        return []
    near = _Near([p.geometry for p in parts])
    small = (m > 0) & (m < t.branch_min)
    near.prime(np.flatnonzero(m < t.branch_min))
    cluster_of = np.arange(n)
    mains: dict[int, list[int]] = {i: [i] for i in range(n) if m[i] > 0}
    attached: dict[int, list[int]] = {i: [] for i in mains}
    total = {i: int(m[i]) for i in mains}
    open_ = {i for i in mains if small[i]}
    stuck: set[int] = set()
    has = m > 0
    while open_:
        cid = min(open_, key=lambda k: (total[k], k))
        target = _nearest_cluster(mains[cid] + attached[cid], cluster_of, has, near)
        if target is None:
            open_.discard(cid)
            stuck.add(cid)
            continue
        moved = mains.pop(cid) + attached.pop(cid)
        open_.discard(cid)
        if small[mains[target][0]] or len(mains[target]) > 1:
            mains[target] += moved
        else:
            attached[target] += moved
        cluster_of[moved] = target
        total[target] += total.pop(cid)
        if target in open_ and total[target] >= t.branch_min:
            open_.discard(target)
    for i in np.flatnonzero(m == 0):
        target = _nearest_cluster([i], cluster_of, has, near)
        attached[target].append(int(i))
        cluster_of[i] = target
    out = []
    for cid in sorted(mains):
        out.append(_merged([parts[i] for i in sorted(mains[cid])], [parts[i] for i in attached[cid]],
                           [int(m[i]) for i in attached[cid]], joint=len(mains[cid]) > 1))
        if cid in stuck:
            out[-1].review.append(f"fewer than {t.branch_min} members and no neighbouring unit to join")
    return out


def _merged(mains: list[_Part], attached: list[_Part], attached_members: list[int], joint: bool) -> _Part:
    """One part from a cluster: a joint of small parts, or a unit with neighbours taken in."""
    if joint:
        labels = [p.label for p in mains]
        label = "、".join(labels) if len(labels) <= 2 else f"{labels[0]}等{len(labels)}个"
        base = _Part(
            key="+".join(p.key for p in mains), label=label,
            situation=settings.LIST_SEP.join(sorted({p.situation for p in mains})),
            community=mains[0].community, geometry=shapely.union_all([p.geometry for p in mains]),
            compound_ids=[c for p in mains for c in p.compound_ids],
            grid_ids=list(dict.fromkeys(g for p in mains for g in p.grid_ids)),
            rows=np.concatenate([p.rows for p in mains]),
            review=[r for p in mains for r in p.review], note=[n for p in mains for n in p.note],
            joint=labels)
    else:
        base = copy.copy(mains[0])
        base.children = list(base.children)
        base.compound_ids, base.grid_ids = list(base.compound_ids), list(base.grid_ids)
        base.review, base.note = list(base.review), list(base.note)
    empty = [p.label for p, k in zip(attached, attached_members) if k == 0]
    taken = [f"{p.label}（{k}名党员）" for p, k in zip(attached, attached_members) if k > 0]
    for p in attached:
        base.rows = np.concatenate([base.rows, p.rows])
        base.compound_ids += [c for c in p.compound_ids if c not in base.compound_ids]
        base.grid_ids += [g for g in p.grid_ids if g not in base.grid_ids]
        base.review += p.review
        if base.children:
            base.children.append(p)
    if taken:
        base.note.append("includes small units: " + "、".join(taken))
    if empty:
        base.note.append("also covers (no members): " + "、".join(empty))
    return base


# =================================================================== building the tree


@dataclass
class _Node:
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

    def __init__(self, bld: pd.DataFrame, members: np.ndarray, comp_names: pd.Series, t: Thresholds,
                 used: np.ndarray | None = None):
        self.bld = bld
        self.members = members
        self.xy = bld[["x", "y"]].to_numpy(dtype=float)
        # Object arrays once: pandas string columns are costly to convert per unit.
        self.labels = bld.label.to_numpy(dtype=object)
        self.compounds = bld.compound_id.to_numpy(dtype=object)
        self.grids = bld.grid_id.to_numpy(dtype=object)
        self.bids = bld.building_id.to_numpy(dtype=object)
        self.comp_names = {k: _text(v) for k, v in comp_names.items()}
        self.t = t
        # Natural order of (compound name, building label, id), for listing groups and households.
        # Only ever compared among the ``used`` rows (the buildings of the communities laid out),
        # where ranking them alone gives the same order as ranking all.
        used = np.arange(len(bld)) if used is None else used
        names = np.array([self.comp_names.get(c) or "" if isinstance(c, str) else "" for c in self.compounds[used]],
                         dtype=object)
        self.bid_rank = np.full(len(bld), -1, dtype=np.int64)
        self.bid_rank[used] = _natural_rank(self.bids[used])
        order = np.lexsort((self.bid_rank[used], _natural_rank(self.labels[used]), _natural_rank(names)))
        self.rank = np.full(len(bld), -1, dtype=np.int64)
        self.rank[used[order]] = np.arange(len(order))

    def m(self, rows: np.ndarray) -> int:
        return int(self.members[rows].sum())

    def unit(self, part: _Part) -> _Node:
        """A top part as a branch, or as a general branch with branches beneath."""
        t = self.t
        if self.m(part.rows) <= t.branch_max:
            return self.branch(part)
        subs: list[_Part] = []
        children = [c for c in part.children if len(c.rows) or c.compound_ids or c.grid_ids]
        if len(children) >= 2:
            for child in _combine(children, self.members, t):
                subs += self.split(child)
        else:
            subs = self.split(part)
        if len(subs) < 2:
            node = self.branch(part)
            node.review.append(f"{self.m(part.rows)} members, more than {t.branch_max}, but they live in "
                               "one building: split it by entrance (单元) by hand")
            return node
        node = self._node("general_branch", part, part.label + KIND_NAMES["general_branch"])
        node.children = [self.branch(s) for s in sorted(subs, key=lambda s: _natural(s.label))]
        # What a branch beneath already says need not be said again by the general branch.
        below = {r for child in node.children for r in child.review}
        node.review = [r for r in node.review if r not in below]
        below = {n for child in node.children for n in child.note}
        node.note = [n for n in node.note if n not in below]
        return node

    def split(self, part: _Part) -> list[_Part]:
        """Clusters of neighbouring buildings, each at most ``branch_max`` members (and at least
        ``branch_min``), by recursive bisection along the longer side."""
        pieces = _bisect(self.xy[part.rows], self.members[part.rows], self.t.branch_max, self.t.branch_min)
        if len(pieces) == 1:
            return [part]
        out = []
        for k, idx in enumerate(sorted(pieces, key=lambda p: (-self.xy[part.rows[p], 1].mean(),
                                                              self.xy[part.rows[p], 0].mean())), start=1):
            piece = copy.copy(part)
            piece.key = f"{part.key}#{k}"
            piece.label = f"{part.label}第{_chinese_number(k)}"
            piece.rows = part.rows[idx]
            piece.children = []
            piece.compound_ids = _ids(self.compounds[piece.rows]) or list(part.compound_ids)
            piece.grid_ids = _ids(self.grids[piece.rows]) or list(part.grid_ids)
            # The parent general branch carries the review; its pieces need not repeat it.
            piece.review, piece.note = [], []
            out.append(piece)
        return out

    def branch(self, part: _Part) -> _Node:
        kind = "joint_branch" if part.joint else "branch"
        name = part.label + ("联合党支部" if part.joint else "党支部")
        node = self._node(kind, part, name)
        if 0 < self.m(part.rows) < self.t.branch_min and not any("fewer than" in r for r in node.review):
            node.review.append(f"fewer than {self.t.branch_min} members")
        node.children = self.groups(part.rows, node)
        return node

    def _node(self, kind: str, part: _Part, name: str) -> _Node:
        return _Node(kind, name, part.community, part.situation, list(part.compound_ids), list(part.grid_ids),
                     part.rows, [], list(dict.fromkeys(part.review)), list(part.note))

    def groups(self, rows: np.ndarray, branch: _Node) -> list[_Node]:
        """Building groups of a branch, with central households in buildings without a group."""
        rows = rows[self.members[rows] > 0]
        if not len(rows):
            return []
        group, anchors = _groups(self.xy[rows], self.members[rows], self.t.group_min)
        labels = self.labels[rows]
        compounds = self.compounds[rows]
        grids = self.grids[rows]
        if len({c for c in compounds if isinstance(c, str)}) > 1:
            # Buildings of several compounds: 龙城花园3号楼 and 锦绣苑3号楼 must not both be 3号楼.
            labels = np.array([_joined_label(self._prefix(c, lab), lab) for c, lab in zip(compounds, labels)],
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
                node.review.append(f"fewer than {self.t.group_min} members in the whole branch")
            node.children = [
                _Node("central_household", labels[j] + household_kind, community, situation,
                      _one(compounds[j]), _one(grids[j]), rows[j:j + 1])
                for j in others]
            out.append(node)
        return out

    def _prefix(self, compound, label: str) -> str:
        name = (self.comp_names.get(compound) if isinstance(compound, str) else None) or ""
        return "" if not name or label.startswith(name) else name


def _groups(xy: np.ndarray, m: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
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


def _bisect(xy: np.ndarray, m: np.ndarray, cap: int, floor: int) -> list[np.ndarray]:
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
        out += [side[p] for p in _bisect(xy[side], m[side], cap, floor)]
    return out


# =================================================================== the result


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
        return self.members_total - self.members_placed

    def unplaced(self) -> pd.DataFrame:
        """Members not placed, per building id and reason (counts, no names)."""
        if self.members is not None:
            lost = self.members[self.members.reason != ""]
            table = lost.groupby(["building_id", "reason"], dropna=False).size().rename("members")
        else:
            lost = self.buildings[(self.buildings.reason != "") & (self.buildings.members > 0)]
            table = lost.set_index(["building_id", "reason"]).members
        return table.reset_index().sort_values(["reason", "building_id"], key=_natural_series).reset_index(drop=True)

    def tree(self) -> list[dict]:
        """The units as nested dicts (one per community), lists as lists, ``children`` beneath."""
        nodes: dict[str, dict] = {}
        roots: list[dict] = []
        for rec in self.units.to_dict("records"):
            node = {k: _json_value(k, v) for k, v in rec.items() if k not in ("parent_id", "depth")}
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
            row["members_unplaced"] = self.members_unplaced if community == "合计" else 0
            row["review"] = int(per["review"][j])
            rows.append(row)
        roots = u[root]
        row = {"community": "合计", **{c: int(per[c].sum()) for c in (*KINDS, "with_committee")}}
        for c in ("members", *CATEGORY_COLUMNS):
            row[c] = int(roots[c].sum())
        row["households"] = float(roots.households.sum(min_count=1)) if roots.households.notna().any() else np.nan
        row["members_unplaced"] = self.members_unplaced
        row["review"] = int(per["review"].sum())
        rows.append(row)
        return pd.DataFrame(rows)


@_without_gc
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
    t = thresholds or Thresholds()
    area = _area(classification, communities, proposal, community)
    bld = _buildings(area, buildings, building_id, households, party_members, compound_id)
    source_name = buildings.attrs.get("source", "buildings")
    ledger = None
    if members is not None:
        ledger = standardise_ledger(members)
        _check_unique_members(ledger, members.attrs.get("source", "the ledger"))
        counts, cats, ledger = _ledger_counts(ledger, bld, source_name)
        source = "ledger"
    else:
        if np.isnan(bld.party_members.to_numpy()).all():
            raise GridmapError(f"{source_name}: no member ledger was given and the buildings have no party "
                               f"members field (looked for {', '.join(settings.FIELDS['party_members'])}). "
                               "Give the ledger with --members, or name the field with --party-members.")
        missing = np.isnan(bld.party_members.to_numpy())
        if missing.any():
            warnings.warn(f"{source_name}: {int(missing.sum())} buildings have no party-member figure "
                          f"({_sample(bld.building_id[missing])}); counted as 0", PlacementWarning, stacklevel=2)
        counts = np.nan_to_num(bld.party_members.to_numpy()).round().astype(np.int64)
        cats = np.zeros((len(bld), len(CATEGORY_COLUMNS)), dtype=np.int64)
        cats[:, -1] = counts
        source = find_field(buildings, "party_members", party_members) or "party_members"

    parts, reason = _parts(area, bld)
    bld["reason"] = reason
    _warn_outside(bld, counts, source_name)
    placed_counts = np.where(reason == "", counts, 0)
    roots = []
    by_community: dict[str, list[_Part]] = {}
    for part in parts:
        by_community.setdefault(part.community, []).append(part)
    only = None if only_communities is None else set(only_communities)
    used = None
    if only is not None:
        used = np.unique(np.concatenate([np.empty(0, dtype=np.int64)] + [
            p.rows for name in only for p in by_community.get(name, [])]))
    builder = _Builder(bld, placed_counts, area.compounds.name, t, used)
    for name in sorted(by_community, key=_community_order):
        if only is not None and name not in only:
            continue
        tops = _combine(sorted(by_community[name], key=lambda p: _natural(p.key)), placed_counts, t)
        if not tops:
            log.info("community %r has no party members: no units", name)
            continue
        root = _Node("committee", _community_label(name) + KIND_NAMES["committee"], name,
                     rows=np.concatenate([p.rows for p in tops]))
        root.compound_ids = sorted({c for p in tops for c in p.compound_ids}, key=_natural)
        root.grid_ids = sorted({g for p in tops for g in p.grid_ids}, key=_natural)
        root.children = sorted((builder.unit(p) for p in tops), key=lambda n: _natural(n.name))
        roots.append(root)

    units, owner, rows = _unit_table(roots, bld, placed_counts, cats, t, builder.bid_rank)
    placement = _placement(units, bld, counts, owner, rows)
    member_table = None
    if ledger is not None:
        member_table = _member_placement(ledger, placement)
    org = Organisation(units, placement, member_table, t, source)
    log.info("organisation: %d units, %d members placed, %d not", len(units), org.members_placed,
             org.members_unplaced)
    return org


def _community_order(name: str) -> tuple:
    """Communities in natural order (社区2 before 社区10); names that read the same (社区01, 社区1) by text."""
    return _natural(name), name


@_without_gc
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
    roots.sort(key=lambda r: _community_order(r[0]))
    twice = sorted(n for n, c in Counter(r[0] for r in roots).items() if c > 1)
    if twice:
        raise ValueError(f"communities laid out in more than one part: {_sample(twice)}")
    number = [{} for _ in parts]
    for g, (_, k, uid) in enumerate(roots, start=1):
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


def _ledger_counts(ledger: pd.DataFrame, bld: pd.DataFrame, source: str
                   ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Members per building and per category from the ledger; unknown buildings warned about."""
    pos = pd.Index(bld.building_id).get_indexer(ledger.building_id)
    ledger = ledger.assign(_pos=pos)
    no_id = ledger.building_id.isna() | (ledger.building_id == "")
    unknown = (pos < 0) & ~no_id
    ledger["reason"] = np.select([no_id, unknown], [NO_BUILDING, UNKNOWN_BUILDING], default="")
    where = ledger.attrs.get("source", "the ledger")
    if unknown.any():
        ids = pd.unique(ledger.building_id[unknown])
        warnings.warn(f"{where}: {int(unknown.sum())} members live in buildings that are not in {source} "
                      f"({len(ids)} ids: {_sample(ids)}); they are not placed", PlacementWarning, stacklevel=3)
    if no_id.any():
        warnings.warn(f"{where}: {int(no_id.sum())} members have no building id "
                      f"({_sample(ledger.source[no_id])}); they are not placed", PlacementWarning, stacklevel=3)
    known = ledger[pos >= 0]
    counts = np.bincount(known._pos, minlength=len(bld)).astype(np.int64)
    cats = np.zeros((len(bld), len(CATEGORY_COLUMNS)), dtype=np.int64)
    codes = [*CATEGORIES, "other"]
    col = pd.Index(codes).get_indexer(known.category)
    np.add.at(cats, (known._pos.to_numpy(), col), 1)
    return counts, cats, ledger


def _warn_outside(bld: pd.DataFrame, counts: np.ndarray, source: str) -> None:
    outside_grid = bld.grid_id.isna() & bld.located
    if outside_grid.any():
        placed = outside_grid & (bld.reason == "")
        lost = outside_grid & (bld.reason != "")
        warnings.warn(f"{source}: {int(outside_grid.sum())} buildings lie outside every grid "
                      f"({_sample(bld.building_id[outside_grid])}); {int(placed.sum())} of them are placed "
                      f"through their compound, {int(lost.sum())} (with {int(counts[lost.to_numpy()].sum())} "
                      "members) in no compound either are not placed", PlacementWarning, stacklevel=3)
    no_geom = ~bld.located
    if no_geom.any():
        warnings.warn(f"{source}: {int(no_geom.sum())} buildings have no geometry "
                      f"({_sample(bld.building_id[no_geom])}); their {int(counts[no_geom.to_numpy()].sum())} "
                      "members are not placed", PlacementWarning, stacklevel=3)


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
    lengths = np.array([len(node.rows) for node, *_ in nodes], dtype=np.int64)
    rows = np.concatenate([node.rows for node, *_ in nodes]) if n else np.empty(0, dtype=np.int64)
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
    # One sweep over the nodes for every text column.
    (kind, name, community, situation, compound_ids, grid_ids, review, note) = zip(*[
        (node.kind, node.name, node.community, node.situation, sep.join(node.compound_ids), sep.join(node.grid_ids),
         "; ".join(dict.fromkeys(node.review)) if node.review else "",
         "; ".join(dict.fromkeys(node.note)) if node.note else "") for node, *_ in nodes]) if n else ((),) * 8
    kinds = np.array(kind, dtype=object)
    units = pd.DataFrame({
        "unit_id": [uid for _, uid, _, _ in nodes],
        "parent_id": [parent for _, _, parent, _ in nodes],
        "depth": np.array([depth for *_, depth in nodes], dtype=np.int64),
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
    placed = {c: np.full(n, "", dtype=object) for c in ("community", "branch_id", "group_id", "household_id")}
    for kind, column in (("branch", "branch_id"), ("joint_branch", "branch_id"), ("group", "group_id"),
                         ("central_household", "household_id")):
        pick = kinds == kind
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
    table.loc[(table.reason == "") & (table.group_id == ""), "reason"] = "in no group"
    return table


# =================================================================== writing


@_without_gc
def write_organisation(org: Organisation, out: str | os.PathLike, *, roster: str | os.PathLike | None = None,
                       ledger: pd.DataFrame | None = None) -> list[Path]:
    """Write ``organization.csv``, ``organization.json`` and ``organization.xlsx`` into ``out``.

    Only counts and ids go into these files. ``roster`` (with the ledger) writes a separate list of
    members with their unit and group for the community office (CSV, or Excel by suffix).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_csv(org.units, out / "organization.csv")]
    with atomic_path(out / "organization.json") as tmp:
        tmp.write_text(_document_json(org), encoding="utf-8")
    paths.append(out / "organization.json")
    paths.append(write_workbook(org, out / "organization.xlsx"))
    if roster is not None:
        paths.append(write_roster(org, ledger, roster))
    return paths


def _document(org: Organisation, tree: bool = True) -> dict:
    """``organization.json`` as a dict: thresholds, member figures and the tree."""
    return {
        "thresholds": dataclasses.asdict(org.thresholds),
        "members": org.members_total, "members_placed": org.members_placed,
        "members_unplaced": org.members_unplaced, "members_source": org.source,
        "communities": org.tree() if tree else None,
    }


def _document_json(org: Organisation) -> str:
    """``json.dumps(_document(org), ensure_ascii=False, indent=1)``, the same text, written a unit at a
    time from the table's columns (json's indenting encoder is pure Python and took seconds a city)."""
    text = json.dumps(_document(org, tree=False), ensure_ascii=False, indent=1)
    return text[: -len("null\n}")] + _tree_json(org.units, level=1) + "\n}"


def _tree_json(units: pd.DataFrame, level: int) -> str:
    """The units as ``Organisation.tree()`` nests them, JSON-encoded as json.dumps(indent=1) would at
    ``level`` (the indent of the list's opening bracket)."""
    if not len(units):
        return "[]"
    keys = [k for k in units.columns if k not in ("parent_id", "depth")]
    depth = units.depth.to_numpy(dtype=np.int64)
    n = len(units)
    pads = {d: " " * (level + 2 + 2 * d) for d in np.unique(depth).tolist()}  # a unit's keys
    encoded = [_json_column(units[k], k, depth, level) for k in keys]
    # One format string per depth: the unit's opening brace, its fields, and the children key.
    templates = {}
    for d, pad in pads.items():
        body = ",\n".join(f'{pad}{json.dumps(k, ensure_ascii=False)}: {{}}' for k in keys)
        templates[d] = "{{\n" + body + f',\n{pad}"children": '
    out = ["[\n", " " * (level + 1)]
    for i, fields in enumerate(zip(*encoded)):
        d = int(depth[i])
        out.append(templates[d].format(*fields))
        nxt = int(depth[i + 1]) if i + 1 < n else -1
        if nxt > d:
            out.append("[\n" + " " * (level + 3 + 2 * d))
            continue
        out.append("[]\n" + " " * (level + 1 + 2 * d) + "}")
        for k in range(d - 1, nxt - 1, -1):  # close the lists of the units this one ends
            if k < 0:
                break
            out.append("\n" + " " * (level + 2 + 2 * k) + "]\n" + " " * (level + 1 + 2 * k) + "}")
        if nxt >= 0:
            out.append(",\n" + " " * (level + 1 + 2 * nxt))
    out.append("\n" + " " * level + "]")
    return "".join(out)


_encode_str = json.encoder.encode_basestring  # C-accelerated; ensure_ascii=False's encoder


def _json_column(values: pd.Series, key: str, depth: np.ndarray, level: int) -> list[str]:
    """A units column's values as JSON text (lists of ids indented for each unit's depth)."""
    raw = values.tolist()
    if key in ("compound_ids", "grid_ids", "building_ids"):
        out = []
        for v, d in zip(raw, depth.tolist()):
            if not isinstance(v, str):
                out.append(json.dumps(_json_value(key, v), ensure_ascii=False, indent=1))
            elif not v:
                out.append("[]")
            else:
                pad = " " * (level + 3 + 2 * d)
                # ';' is never escaped by JSON: the joined ids encode as one string, cut at each ';'.
                items = _encode_str(v).replace(settings.LIST_SEP, '",\n' + pad + '"')
                out.append("[\n" + pad + items + "\n" + " " * (level + 2 + 2 * d) + "]")
        return out
    kinds = set(map(type, raw))
    if kinds <= {str}:
        return list(map(_encode_str, raw))
    if kinds <= {int}:
        return list(map(int.__repr__, raw))
    if kinds <= {bool}:
        return ["true" if v else "false" for v in raw]
    if kinds <= {float}:
        # As json writes floats; missing (NaN) is null here, as in tree().
        return ["null" if v != v else float.__repr__(v) if math.isfinite(v) else json.dumps(v) for v in raw]
    return [json.dumps(_json_value(key, v), ensure_ascii=False) for v in raw]


_HEADERS = {
    "unit_id": "编号", "parent_id": "上级编号", "kind": "类型", "name": "名称", "community": "社区",
    "situation": "情形", "compound_ids": "小区", "grid_ids": "网格", "building_ids": "楼栋",
    "members": "党员数", "members_direct": "直管党员", "members_mobile": "流动党员",
    "members_in_service": "在职党员", "members_retired": "离退休党员", "members_other": "未分类",
    "households": "户数", "has_committee": "设委员会", "review": "需复核", "note": "说明",
}
_SITUATION_NAMES = {"large_compound": "小区大、网格小", "large_grid": "网格大、小区小", "equal": "规模相当",
                    "mixed": "交叉（待拉平对齐）", "uncovered": "未入网格", "no_compound": "无小区"}
_SUMMARY_HEADERS = {"community": "社区", **{k: v for k, v in KIND_NAMES.items()}, "with_committee": "设委员会的支部",
                    "members": "党员总数", **{f"members_{k}": v for k, v in CATEGORIES.items()},
                    "members_other": "未分类", "households": "户数", "members_unplaced": "未落位党员",
                    "review": "需复核单位"}
_XLSX_CELL_MAX = 32767


def write_workbook(org: Organisation, path: str | os.PathLike) -> Path:
    """``organization.xlsx``: a summary sheet (汇总) and one sheet per community."""
    from gridmap.xlsx import write_xlsx

    used: set[str] = {"汇总"}
    sheets = [_summary_sheet(org)]
    columns = [c for c in UNIT_COLUMNS if c not in ("depth", "community")]
    u = org.units
    values = [_sheet_column(u, c) for c in columns]
    rows = list(zip(*values))
    header = [_HEADERS[c] for c in columns]
    name_col = columns.index("name")
    depth = u.depth.to_numpy()
    at = u.groupby("community", sort=False).indices
    for community in pd.unique(u.community):
        idx = at[community]
        sheets.append(_unit_sheet(_sheet_name(community or "社区", used), header,
                                  [rows[i] for i in idx], depth[idx], name_col))
    return write_xlsx(sheets, path)


def _summary_sheet(org: Organisation):
    from gridmap.xlsx import BOLD, HEADER, Sheet, column_letter, fit_widths

    table = org.summary()
    rows: list[list] = [[_SUMMARY_HEADERS[c] for c in table.columns]]
    rows += [[_cell(v) for v in row] for row in table.itertuples(index=False)]
    width = len(rows[0])
    autofilter = f"A1:{column_letter(width - 1)}{len(rows)}" if len(rows) > 1 else None
    row_styles = {len(rows) - 1: BOLD}
    cell_styles = {}
    facts = [("党员来源", "台账" if org.source == "ledger" else f"楼栋党员数字段 {org.source}"),
             ("党员总数", org.members_total), ("已落位党员", org.members_placed),
             ("未落位党员", org.members_unplaced),
             ("阈值", f"支部 {org.thresholds.branch_min}–{org.thresholds.branch_max} 人；"
                      f"{org.thresholds.committee_min} 人以上设支委会；党小组至少 {org.thresholds.group_min} 人")]
    rows.append([])
    for label, value in facts:
        cell_styles[(len(rows), 0)] = BOLD
        rows.append([label, _cell(value)])
    lost = org.unplaced()
    if len(lost):
        rows.append([])
        cell_styles[(len(rows), 0)] = BOLD
        rows.append(["未落位党员（按楼栋）"])
        cell_styles.update({(len(rows), j): BOLD for j in range(3)})
        rows.append(["楼栋", "原因", "党员数"])
        rows += [[str(rec.building_id), rec.reason, int(rec.members)] for rec in lost.itertuples(index=False)]
    row_styles[0] = HEADER
    return Sheet("汇总", rows, widths=fit_widths(rows), freeze="B2", autofilter=autofilter,
                 row_styles=row_styles, cell_styles=cell_styles)


def _unit_sheet(name: str, header: list[str], rows: list[tuple], depth: np.ndarray, name_col: int):
    from gridmap.xlsx import HEADER, Sheet, Style, column_letter, fit_widths

    rows = [header, *rows]
    indents = {d: Style(indent=int(d) * 2) for d in np.unique(depth) if d}
    cell_styles = {(i, name_col): indents[d] for i, d in enumerate(depth.tolist(), start=1) if d}
    return Sheet(name, rows, widths=fit_widths(rows, caps={"楼栋": 40, "说明": 50, "需复核": 50}), freeze="B2",
                 autofilter=f"A1:{column_letter(len(header) - 1)}{len(rows)}" if len(rows) > 1 else None,
                 row_styles={0: HEADER}, cell_styles=cell_styles)


def _sheet_column(units: pd.DataFrame, column: str) -> list:
    """A units column as the workbook shows it: kinds and situations in Chinese, plain values."""
    s = units[column]
    if column == "kind":
        return [KIND_NAMES.get(v, v) for v in s.tolist()]
    if column == "situation":
        names: dict = {}
        for v in pd.unique(s):
            names[v] = settings.LIST_SEP.join(_SITUATION_NAMES.get(x, x) for x in str(v).split(settings.LIST_SEP)) if v else ""
        return [names.get(v, "") for v in s.tolist()]
    if column == "has_committee":
        return ["是" if v else "" for v in s.tolist()]
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.tolist()
    if pd.api.types.is_float_dtype(s.dtype):
        return [None if v != v else v for v in s.tolist()]
    return [v if type(v) is str and len(v) <= _XLSX_CELL_MAX else _cell(v) for v in s.tolist()]


def _cell(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, str) and len(v) > _XLSX_CELL_MAX:
        return v[: _XLSX_CELL_MAX - 1] + "…"
    return v


def _sheet_name(name: str, used: set[str]) -> str:
    # Excel also refuses a name that starts or ends with an apostrophe.
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name))[:31].strip("'") or "社区"
    candidate, k = base, 2
    while candidate.lower() in used:  # Excel tells sheet names apart regardless of case
        suffix = f"({k})"
        candidate = base[: 31 - len(suffix)] + suffix
        k += 1
    used.add(candidate.lower())
    return candidate


def write_roster(org: Organisation, ledger: pd.DataFrame | None, path: str | os.PathLike) -> Path:
    """The member roster for the community office: member, name, branch and group (CSV or .xlsx).

    It holds personal data: it is written only when asked for, apart from the shared outputs.
    """
    if ledger is None or org.members is None:
        raise GridmapError("--roster lists members by name and needs the ledger: give --members.")
    ledger = standardise_ledger(ledger)
    names = org.units.set_index("unit_id").name
    placed = org.members.set_index("member_id")
    table = pd.DataFrame({
        "member_id": ledger.member_id.to_numpy(),
        "name": ledger.name.to_numpy(),
        "category": ledger.category.map(lambda c: CATEGORIES.get(c, "其他")).to_numpy(),
        "building_id": ledger.building_id.to_numpy(),
        "unit": placed.branch_id.reindex(ledger.member_id).map(names).to_numpy(),
        "group": placed.group_id.reindex(ledger.member_id).map(names).to_numpy(),
        "unit_id": placed.branch_id.reindex(ledger.member_id).to_numpy(),
        "group_id": placed.group_id.reindex(ledger.member_id).to_numpy(),
        "note": placed.reason.reindex(ledger.member_id).to_numpy(),
    })
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        with atomic_path(path) as tmp:
            table.to_excel(tmp, index=False, sheet_name="党员名册")
        return path
    return write_csv(table, path)


# =================================================================== the job


def org_job(compounds: str, grids: str, buildings: str, out: str | os.PathLike, *,
            members: Sequence[str] | None = None, communities: str | None = None,
            proposal: str | None = None, roster: str | None = None, read=None,
            ledger_encoding: str | None = None,
            compound_id: str | None = None, grid_id: str | None = None, building_id: str | None = None,
            households: str | None = None, party_members: str | None = None,
            sliver: float = settings.SLIVER, nest: float = settings.NEST,
            thresholds: Thresholds | None = None) -> Organisation:
    """Read the layers and the ledger, organise, and write the outputs of DESIGN §5 into ``out``."""
    from gridmap.io import warn_if_far_apart
    from gridmap.pipeline import ReadOptions

    read = read or ReadOptions()
    c = read.read(compounds)
    g = read.read(grids)
    b = read.read(buildings)
    comm = read.read(communities) if communities else None
    prop = read.read(_proposal_spec(proposal)) if proposal else None
    warn_if_far_apart({"compounds": c, "grids": g, "buildings": b})
    ledger = read_ledger(members, encoding=ledger_encoding, building_id=building_id) if members else None
    result = classify(c, g, compound_id=compound_id, grid_id=grid_id, sliver=sliver, nest=nest)
    org = organise(result, b, ledger, comm, prop, building_id=building_id, compound_id=compound_id,
                   households=households, party_members=party_members, thresholds=thresholds)
    write_organisation(org, out, roster=roster, ledger=ledger)
    return org


def _proposal_spec(spec: str) -> str:
    """``proposal.gpkg`` means its ``grids`` layer."""
    from gridmap.io import _list_layers, parse_layer_spec

    parsed = parse_layer_spec(spec)
    if parsed.layer is None and parsed.path.exists():
        layers = _list_layers(parsed.path) or []
        if "grids" in layers and len(layers) > 1:
            return f"{parsed.path}:grids"
    return spec


# =================================================================== names and small helpers


def _id_values(values: pd.Series) -> pd.Series:
    """Ids as text (see ``io.id_strings``), with every kind of missing value (None, NaN, pd.NA) as None."""
    if pd.api.types.is_float_dtype(values):
        return id_strings(values)
    return id_strings(values.astype(object).where(values.notna(), None))


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def _compound_label(name, cid) -> str:
    """龙城花园 → 龙城花园小区; 太嘉小区, 无名小区22, 家属区, 锦绣苑A区 stay as they are."""
    name = _text(name) or str(cid)
    return name if "小区" in name or name.endswith("区") else name + "小区"


def _grid_label(name, gid) -> str:
    name = _text(name) or str(gid)
    return name if name.endswith("网格") else name + "网格"


def _community_label(name: str) -> str:
    if not name:
        return "社区"
    return name if name.endswith("社区") else name + "社区"


def _joined_label(prefix: str, label: str) -> str:
    """无名小区38 + 1号楼 → 无名小区38·1号楼 (the numbers must not run together)."""
    if prefix and prefix[-1].isdigit() and label[:1].isdigit():
        return f"{prefix}·{label}"
    return prefix + label


def _building_label(name, bid) -> str:
    name = _text(name)
    if name:
        return name
    bid = str(bid)
    return bid if bid[-1] in "楼栋座幢" else f"{bid}号楼"


_DIGITS = "零一二三四五六七八九"


def _chinese_number(k: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 25 → 二十五 (for 第一党支部 …)."""
    if k < 10:
        return _DIGITS[k]
    if k < 100:
        tens, ones = divmod(k, 10)
        return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")
    return str(k)


_DIGIT_RUNS = re.compile(r"(\d+)")


def _natural(text) -> list:
    """Sort key that puts 2号楼 before 10号楼: text and numbers alternate, numbers compared as such."""
    parts: list = _DIGIT_RUNS.split(str(text))
    parts[1::2] = map(int, parts[1::2])
    return parts


def _natural_rank(values: np.ndarray) -> np.ndarray:
    """Position of each value in natural order (equal values share a rank)."""
    uniques, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    order = np.empty(len(uniques), dtype=np.int64)
    order[sorted(range(len(uniques)), key=lambda i: _natural(uniques[i]))] = np.arange(len(uniques))
    return order[inverse.ravel()]


def _natural_series(s: pd.Series) -> pd.Series:
    return pd.Series(_natural_rank(s.to_numpy()), index=s.index)


def _one(value) -> list[str]:
    return [value] if isinstance(value, str) else []


def _ids(values) -> list[str]:
    unique = {v for v in values if isinstance(v, str)}
    return sorted(unique, key=_natural) if len(unique) > 1 else list(unique)


def _json_value(key: str, v):
    if key in ("compound_ids", "grid_ids", "building_ids"):
        return v.split(settings.LIST_SEP) if v else []
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _sample(values) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(values[:_LISTED])
    return shown + (f" and {len(values) - _LISTED} more" if len(values) > _LISTED else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


__all__ = ["CATEGORIES", "KINDS", "Organisation", "Thresholds", "UNIT_COLUMNS", "merge_organisations", "org_job",
           "organise", "read_ledger", "standardise_ledger", "write_organisation", "write_roster", "write_workbook"]
