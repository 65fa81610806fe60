"""Alignment proposals (拉平对齐): grid boundaries redrawn so that no compound straddles grids.

What a proposal must be (docs/design.md §2, issue 11):

- **hard constraints**: no compound in scope straddles grids afterwards, in every configuration
  (two large compounds sharing a grid included); grids never take land from another community
  (street, district); grids stay one piece, cover exactly the original territory and overlap
  nowhere; grids named to keep do not change. A compound a constraint makes impossible to align
  is listed in ``unresolved`` with the reason, never left silently;
- **objective**: households moved are minimised (then area moved); grids outside the household
  range never increase; no grid is created that holds no households unless that is the only
  way to keep a grid in one piece (noted);
- **households** are the user's figures (a grid's own field, else its buildings', else its
  compounds'), whole numbers, after = before − out + in, one figure on every surface;
- **every piece of land** that changes grid is a row of ``changes`` with its reason.

The work, in rounds (a second is rare, a third rarer):

1. ``problem``: options checked, communities of grids, households located on the land;
2. ``plan``: straddling compounds are left (kept grid, several communities), tiled when too large
   for one grid (``tiles``), or moved into one of their grids, chosen by an exact integer
   programme per community (``assign``);
3. ``redraw``: grids rebuilt from the compounds' parts, loose land settled, grids left without
   households dissolved, the household range repaired;
4. the proposal is classified again; compounds a redraw split (a sliver grown significant) are
   aligned in the next round;
5. ``tables``: grid layer, change list, per-grid table and summary.

A planner's edits (``edits``: edits.csv from proposal.html, see ``edits``) are fixed decisions:
each edited compound is moved wholly into the grid it was placed in, in the first round, and the
rest is aligned around it; its land is listed in ``changes`` with reason ``planner``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from gridmap import settings
from gridmap.classify import Classification, classify
from gridmap.errors import GridmapWarning
from gridmap.validate import usable_only
from gridmap.io import find_field, id_strings

from .assign import Choice, choose, greedy
from .edits import (COLUMNS as EDIT_COLUMNS, Edits, bordering, check_ids, edit_rows, edit_warnings, pending,
                    place_edits, reference_with_edits)
from .plan import FREE, LOCKED, STAY, TILE, Plan, decide, overlap_positions
from .problem import (
    NOISE_M2,
    PRECISION,
    REASONS,
    STATUSES,
    TOUCH_M,
    UNRESOLVED,
    Households,
    Problem,
    Zones,
    build_households,
    check_range,
    check_reachable,
    column,
    compound_households,
    disjoint,
    grid_ids_of,
    grid_zones,
    household_values,
    in_scope,
    keep_mask,
    outside_reference,
)
from .reclassify import Overlaps, reclassify
from .redraw import Layout, apply_plan
from .tables import (
    apportion,
    change_list,
    grid_table,
    new_ids,
    relabel,
    status_of,
    summarise,
    unresolved_table,
)
from .tiles import equal_area_strips, merge_units, plan_tiles

log = logging.getLogger(__name__)

#: Rounds of alignment at most.
ROUNDS = 5
#: Rounds after those in which only a planner's edits still to hold are handled.
EDIT_ROUNDS = 2
#: Prefix of provisional ids of new grids while rounds run (never in an output).
_PROVISIONAL = "\u2042new"


@dataclass
class Alignment:
    """What ``align`` returns.

    Attributes
    ----------
    grids : GeoDataFrame
        The proposal (grids with land): ``grid_id``, ``status`` (kept, changed, new),
        ``households`` (after, whole), ``area_m2``, ``situation``, ``compound_ids``,
        ``origin_grid_id``, ``households_before``, ``cut_from`` (new grids), ``note``, then the
        input grid attributes (the community fields: new grids take their origin's); in the
        grids' CRS. Removed grids have no land and are not in it (``table`` lists them).
    changes : GeoDataFrame
        One row per piece of land that changes grid: ``compound_id`` (empty for open land),
        ``from_grid_id``, ``to_grid_id``, ``area_m2``, ``households`` (whole), ``reason``
        (``compound_moved``, ``shared_grid_split``, ``sliver_absorbed``, ``large_compound_tile``),
        ``reason_label`` (Chinese), ``community``.
    table : DataFrame
        Per grid, removed ones included (proposal.csv): ``grid_id``, ``status``, ``changed``,
        ``households_before``/``_after``/``_out``/``_in``, ``households_basis``, areas and
        situations before and after, ``compound_ids_after``, ``community``, ``cut_from``,
        ``land_to`` (where its land went), ``note``, ``unresolved_compound_ids`` and
        ``unresolved_reasons``.
    before, after : Classification
        The three situations of the input and of the proposal (``after.grids`` carries the
        proposal's attributes, communities included, so that a layout can run on it).
    summary : dict
        The figures the CLI, report and maps show (see ``tables.summarise``).
    unresolved : DataFrame
        In-scope compounds that still straddle grids: ``compound_id``, ``grid_ids``, ``reason``
        (a code of ``problem.UNRESOLVED``) and ``reason_label``.
    """

    grids: gpd.GeoDataFrame
    changes: gpd.GeoDataFrame
    table: pd.DataFrame
    before: Classification
    after: Classification
    summary: dict
    unresolved: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Outlines inferred from buildings first (``align_job`` with buildings and streets).
    inferred: gpd.GeoDataFrame | None = None
    #: The planner's edits applied (compound_id, to_grid_id, note, line); None without edits.
    edits: pd.DataFrame | None = None


def align(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    *,
    compound_id: str | None = None,
    grid_id: str | None = None,
    households: str | None = None,
    grid_households: tuple[float, float] | None = None,
    types: list[str] | tuple[str, ...] | None = None,
    keep: list[str] | tuple[str, ...] = (),
    sliver: float | None = None,
    nest: float | None = None,
    crs: CRS | str | int | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    grid_households_field: str | None = None,
    building_households: str | None = None,
    community: str | None = None,
    baseline: bool = False,
    edits: pd.DataFrame | None = None,
) -> Alignment:
    """Propose grid boundaries under which no compound straddles grids.

    Parameters
    ----------
    compounds, grids : GeoDataFrame
        Polygon layers with a CRS. Grids may carry their households (``households``/户数) and
        community (``community``/社区/所属社区, also ``street``/街道, ``district``/区).
    compound_id, grid_id : str, optional
        Id fields; by default the recognised names of docs/design.md §4.
    households : str, optional
        Compounds' households field; by default ``households`` or ``户数`` when present.
    grid_households : (min, max)
        Households a grid should hold (default 300–500): a compound with more than ``max`` is
        tiled rather than moved, and grids outside the range never increase in number.
    types : list of str, optional
        Align only compounds of these types (the compound type field, e.g. ``老旧型``).
    keep : list of str
        Ids of grids that must not change.
    sliver, nest : float
        Thresholds of the three-situation rule (docs/design.md §2).
    crs : optional
        Metric CRS to work in; by default chosen per docs/design.md §6.
    buildings : GeoDataFrame, optional
        Buildings (footprints or points) with households: a grid's households are its buildings'
        when it has no figure of its own, and households are located on them.
    communities : GeoDataFrame, optional
        Community polygons: the community of grids without a community field.
    grid_households_field, building_households, community : str, optional
        The grids' households and community fields and the buildings' households field, when
        not the recognised names.
    baseline : bool
        Also run the greedy pass the optimiser replaces, on the first round's choices, and report
        both in ``summary["assignment"]`` (households moved, compounds left, grids outside the
        range): how far greedy is from the optimum.
    edits : DataFrame, optional
        A planner's edits (edits.csv: ``compound_id``, ``to_grid_id``, ``note``, as read by
        ``gridmap.io.tables.read_table``): each compound lies wholly in that grid afterwards (its
        land across a community line excepted), and the rest is aligned around them. Their land
        is listed in ``changes`` with reason ``planner``; the proposal layer's
        ``attrs["planner_edits"]`` lists them, and ``attrs["grid_households"]`` the range.

    Returns
    -------
    Alignment

    Raises
    ------
    GridmapError
        ``keep`` names unknown grids, no grid can meet ``grid_households``, or an edit cannot hold
        (see ``edits``); all before any work.
    """
    grid_households = settings.GRID_HOUSEHOLDS if grid_households is None else grid_households
    sliver = settings.SLIVER if sliver is None else sliver
    nest = settings.NEST if nest is None else nest
    low, high = check_range(grid_households)
    edit_table = edit_rows(edits) if edits is not None else None
    edit_table = edit_table if edit_table is not None and len(edit_table) else None
    # Features without a usable geometry stay in classify's tables; they have no land to align.
    raw_compounds = compounds
    compounds, grids = usable_only(compounds), usable_only(grids)
    g_source = grids.attrs.get("source", "grids")
    keep_mask(keep, grid_ids_of(grids, grid_id), g_source)
    if edit_table is not None:
        c_field = find_field(compounds, "compound_id", compound_id)
        check_ids(edit_table, raw_compounds, compound_id, set(id_strings(compounds[c_field]).dropna()),
                  grid_ids_of(grids, grid_id), compounds.attrs.get("source", "compounds"), g_source)
    hh_field = find_field(compounds, "households", households, required=False)
    before = classify(compounds, grids, compound_id=compound_id, grid_id=grid_id, sliver=sliver,
                      nest=nest, crs=crs)
    comp, grd = before.compounds, before.grids
    source = compounds.attrs.get("source", "compounds")
    comp_hh = compound_households(comp, column(comp, hh_field), source) if hh_field else None
    c_ids = comp.compound_id.to_numpy(dtype=object)
    g_ids = grd.grid_id.to_numpy(dtype=object)
    C = comp.geometry.to_crs(before.crs).to_numpy()
    G = grd.geometry.to_crs(before.crs).to_numpy()
    kept = keep_mask(keep, g_ids, g_source)
    scope = in_scope(comp, types, source)
    zones = grid_zones(grd, G, communities, before.crs, community)
    edit = None
    if edit_table is not None:
        edit = place_edits(edit_table, c_ids, g_ids, C, G, zones.code, zones.labels, kept, before.overlaps)
    ov = before.overlaps
    c_pos = pd.Series(np.arange(len(c_ids)), index=c_ids)
    g_pos = pd.Series(np.arange(len(g_ids)), index=g_ids)
    measured = (c_pos.reindex(ov.compound_id).to_numpy(), g_pos.reindex(ov.grid_id).to_numpy(),
                ov.overlap_m2.to_numpy(float))
    model = build_households(grd, G, C, comp_hh, buildings, before.crs, field=grid_households_field,
                             building_households=building_households, overlaps=measured)
    model = model if model.known else None
    if model is not None:
        check_reachable(model.before, zones.code, low, high, g_ids)
    reference = outside_reference(model.before, zones.code, low, high) if model is not None else {}
    if edit is not None and model is not None:
        # A planner may accept a grid outside the range: the count the edits make is allowed.
        reference = reference_with_edits(reference, edit, C, G, zones.code, model.before, model.of,
                                         before.overlaps, c_ids, g_ids, low, high)
    problem = Problem(C=C, c_ids=c_ids, G=G, g_ids=g_ids, scope=scope, kept=kept, zones=zones,
                      households=model, low=low, high=high, nest=nest, sliver=sliver, reference=reference,
                      baseline=baseline, fixed=edit.fixed(len(C)) if edit is not None else None)
    log.info("%d straddling compounds to align (%d in all)",
             (scope & (comp.situation.to_numpy() == "mixed")).sum(), (comp.situation == "mixed").sum())

    layout = Layout.start(problem)
    cls, ids = before, g_ids.copy()
    n_c, n_g = len(C), len(G)
    fate = np.full(n_c, "", dtype=object)
    reasons = np.full(n_c, "", dtype=object)
    shared = np.zeros(n_g, dtype=bool)
    anchored = np.zeros(n_g, dtype=bool)
    swapped = np.zeros(n_g, dtype=bool)
    first_choice = first_greedy = None
    rows = Overlaps.of(before.overlaps, c_ids, g_ids)
    banned = np.zeros(n_c, dtype=bool)
    retried = np.zeros(n_c, dtype=bool)
    optimistic: set = set()
    n_zones = len(zones.labels)
    reference_counts = np.array([reference.get(z, 0) for z in range(n_zones)])
    edited = problem.edited
    for round_ in range(ROUNDS + (EDIT_ROUNDS if edit is not None else 0)):
        _lock(layout, cls, ids)
        mixed = pd.Series(cls.compounds.situation.to_numpy() == "mixed",
                          index=cls.compounds.compound_id.to_numpy()).reindex(c_ids, fill_value=False).to_numpy()
        waiting = (pending(problem.fixed, layout.zone, rows.compound, rows.label, rows.area) if edit is not None
                   else np.zeros(n_c, dtype=bool))
        only_edits = round_ >= ROUNDS
        if (only_edits or not (scope & mixed & ~banned).any()) and not waiting.any():
            break
        plan = decide(problem, layout, cls, ids, banned, optimistic, only_edits=only_edits)
        if round_ == 0:
            first_choice, first_greedy = plan.choice, plan.greedy
        _record(plan, layout, fate, reasons, shared, anchored, swapped)
        fate[(plan.target >= 0) & edited] = "planner"
        # Compounds the programme left for the count get one optimistic second chance.
        again = (plan.reason == "capacity") & ~banned & ~retried
        retried |= again
        optimistic = set(int(z) for z in plan.home_zone[again] if z >= 0)
        if not plan.active.any():
            if again.any():
                continue
            break
        snap = layout.snapshot()
        apply_plan(layout, plan, problem)
        if problem.capacity:
            # Never more grids outside the household range than before, per community: where a
            # round went over, its grids are put back and the compounds that did it are left
            # (tiles first; in the last round all of the community's).
            counts = layout.outside(low, high, n_zones)
            over = np.flatnonzero(counts > reference_counts)
            if len(over):
                # Where only a planner's edits moved, the count they make is accepted.
                others = plan.active & ~edited
                blamed = np.array([(others & (plan.home_zone == z)).any() for z in over], dtype=bool)
                accept = over[~blamed]
                reference_counts[accept] = counts[accept]
                problem.reference.update({int(z): int(counts[z]) for z in accept})
                over = over[blamed]
            if len(over):
                layout.restore(snap, over)
                home = plan.home_zone
                in_over = plan.active & np.isin(home, over)
                tiled_there = in_over & (plan.target == TILE)
                last = round_ == ROUNDS - 1
                culprits = in_over if (last or not tiled_there.any()) else tiled_there
                # Zones whose tiles were not to blame: the compounds given a second chance there,
                # else all their movers.
                for z in over:
                    if not (tiled_there & (home == z)).any():
                        second = in_over & (home == z) & retried
                        culprits |= second if second.any() else in_over & (home == z)
                culprits &= ~edited  # a planner's edit is never left: it is made again next round
                banned |= culprits
                reasons[culprits] = "capacity"
                fate[culprits] = ""
                log.info("round %d: %d communities went over their count outside the range; %d compounds "
                         "left", round_ + 1, len(over), culprits.sum())
        ids = _provisional_ids(layout, g_ids)
        cls, rows = reclassify(cls, rows, C, layout.geoms, snap["geoms"], ids)

    status = status_of(problem, layout)
    # Grids that come out as they went in keep their exact input geometry.
    same = np.flatnonzero(status[:n_g] == "kept")
    layout.geoms[same] = G[same]
    final = ids.copy()
    new_alive = np.flatnonzero(layout.alive[n_g:]) + n_g
    final[new_alive] = new_ids(g_ids, layout.origin[new_alive])
    after = relabel(cls, {ids[i]: final[i] for i in new_alive if ids[i] != final[i]})
    changes, out, inn, rows_g, rows_p = change_list(problem, layout, final, status, fate, shared, anchored,
                                                    before.crs, swapped)
    unresolved = unresolved_table(after, scope, reasons, c_ids, G)
    table = grid_table(problem, layout, final, status, before, after, out, inn, rows_g, rows_p, unresolved)
    out_crs = grids.crs or grd.crs
    layer, after = proposal_layer(after, grd, layout, problem, final, status, table, out_crs)
    summary = summarise(problem, before, after, table, changes, unresolved, hh_field, layout,
                        first_choice, first_greedy)
    not_held = []
    if edit is not None:
        zone_of = pd.Series(np.r_[layout.zone[layout.alive], zones.code], index=np.r_[final[layout.alive], g_ids])
        not_held = edit_warnings(edit, table, before.overlaps, after.overlaps,
                                 zone_of[~zone_of.index.duplicated()], low, high, problem.capacity)
    summary["planner_edits"] = len(edit) if edit is not None else 0
    summary["planner_compounds_moved"] = int(changes.compound_id[changes.reason == "planner"].nunique())
    summary["planner_not_held"] = not_held
    layer.attrs["grid_households"] = [low, high]
    layer.attrs["planner_edits"] = edit.records() if edit is not None else []
    return Alignment(grids=layer, changes=changes.to_crs(out_crs), table=table, before=before,
                     after=after, summary=summary, unresolved=unresolved,
                     edits=edit.rows if edit is not None else None)


def _lock(layout: Layout, cls: Classification, ids: np.ndarray) -> None:
    """Grids nesting in a large compound that does not straddle receive nothing (LOCKED)."""
    large = pd.Series(cls.grids.situation.to_numpy() == "large_compound", index=cls.grids.grid_id.to_numpy())
    is_large = large.reindex(ids, fill_value=False).to_numpy()
    free = layout.role < 0
    layout.role[free & is_large] = LOCKED
    layout.role[free & ~is_large] = FREE


def _record(plan: Plan, layout: Layout, fate, reasons, shared, anchored, swapped) -> None:
    """What each round did, for the reasons of the change list and of compounds left."""
    moved = plan.target >= 0
    tiled = plan.target == TILE
    fate[moved] = "moved"
    fate[tiled] = "tiled"
    handled = plan.reason != ""
    reasons[handled] = plan.reason[handled]
    reasons[moved | tiled] = ""
    n_g = layout.n_g
    origin = layout.origin
    # A grid shared by two or more compounds of which one is tiled is split along their line.
    lab = plan.atom_label
    per = pd.DataFrame({"g": origin[lab], "c": plan.atom_comp, "t": tiled[plan.atom_comp]})
    count = per.groupby("g").agg(n=("c", "nunique"), t=("t", "any"))
    hit = count.index[(count.n >= 2) & count.t].to_numpy()
    shared[hit[hit < n_g]] = True
    anchors = origin[plan.anchors]
    anchored[anchors[anchors < n_g]] = True
    for src in (plan.core_owner or {}):
        if origin[src] < n_g:
            swapped[origin[src]] = True


def _provisional_ids(layout: Layout, g_ids: np.ndarray) -> np.ndarray:
    n_g = layout.n_g
    extra = np.array([f"{_PROVISIONAL}{i}" for i in range(n_g, len(layout.geoms))], dtype=object)
    return np.concatenate([g_ids, extra])


def _classify_layout(compounds, layout: Layout, ids, compound_id, sliver, nest, crs) -> Classification:
    alive = layout.alive
    proposal = gpd.GeoDataFrame({"grid_id": ids[alive]}, geometry=layout.geoms[alive], crs=crs)
    with warnings.catch_warnings():
        # The input's repairs and slivers were reported by the first classification.
        warnings.simplefilter("ignore", GridmapWarning)
        return classify(compounds, proposal, compound_id=compound_id, grid_id="grid_id",
                        sliver=sliver, nest=nest, crs=crs)


def proposal_layer(after: Classification, grd: gpd.GeoDataFrame, layout: Layout, problem: Problem,
                   final: np.ndarray, status: np.ndarray, table: pd.DataFrame, crs
                   ) -> tuple[gpd.GeoDataFrame, Classification]:
    """The proposal's grids layer, and the after classification carrying the same attributes.

    gridmap's columns come first, then the input attributes of each grid. New grids take their
    origin's community fields (grids never cross a community); with communities from a polygon
    layer, every grid gets them.
    """
    alive = np.flatnonzero(layout.alive)
    g_ids = problem.g_ids
    origin = layout.origin[alive]
    per = table.set_index("grid_id")
    ag = after.grids.set_index("grid_id").reindex(final[alive])
    # The columns of earlier versions first, in their order; new ones after them.
    out = pd.DataFrame({"grid_id": final[alive], "status": status[alive]})
    if "households_after" in per:
        out["households"] = per.households_after.reindex(out.grid_id).array
    out["area_m2"] = ag.area_m2.to_numpy()
    out["situation"] = ag.situation.to_numpy()
    out["compound_ids"] = ag.compound_ids.to_numpy()
    out["origin_grid_id"] = g_ids[origin]
    if "households_before" in per:
        out["households_before"] = per.households_before.reindex(out.grid_id).array
    out["cut_from"] = np.where(alive >= layout.n_g, g_ids[origin], None)
    out["note"] = layout.note[alive]
    inputs = grd.drop(columns=["grid_id", "situation", "compound_ids", "area_m2", grd.geometry.name])
    if problem.households is not None and problem.households.field in inputs.columns:
        inputs = inputs.drop(columns=problem.households.field)  # replaced by households_before / households
    attrs = inputs.set_axis(g_ids).reindex(out.grid_id.to_numpy()).reset_index(drop=True)
    zones = problem.zones
    if zones.source == "grids":
        new = alive >= layout.n_g
        for f in zones.fields:
            if f in attrs.columns and new.any():
                attrs.loc[new, f] = inputs.set_axis(g_ids)[f].reindex(g_ids[origin[new]]).to_numpy()
    elif zones.source == "communities layer":
        values = zones.values.iloc[origin].reset_index(drop=True)
        for f in values.columns:
            attrs[f] = values[f].to_numpy()
    attrs = attrs.rename(columns={c: f"{c}_input" for c in attrs.columns if c in out.columns})
    frame = pd.concat([out.reset_index(drop=True), attrs], axis=1)
    result = gpd.GeoDataFrame(frame, geometry=layout.geoms[alive], crs=after.crs)
    result = result.to_crs(crs)
    # Unchanged grids are written as they were read, not as a round trip through the metric CRS.
    same = np.flatnonzero(status[alive] == "kept")
    if len(same) and grd.crs is not None and grd.crs.equals(crs):
        original = grd.geometry.set_axis(g_ids)
        result.loc[result.index[same], result.geometry.name] = original.reindex(result.grid_id.to_numpy()[same]).to_numpy()
    # The after classification with the same attributes (gridmap's four columns first).
    head = ["grid_id", "situation", "compound_ids", "area_m2"]
    rest = frame.drop(columns=[c for c in head if c in frame.columns])
    grids_after = gpd.GeoDataFrame(pd.concat([frame[head], rest], axis=1),
                                   geometry=after.grids.set_index("grid_id").geometry.reindex(final[alive]).to_numpy(),
                                   crs=after.grids.crs)
    grids_after.attrs.update(after.grids.attrs)
    grids_after.attrs["source"] = "the alignment proposal"
    after = Classification(compounds=after.compounds, grids=grids_after, overlaps=after.overlaps, crs=after.crs,
                           compound_id=after.compound_id, grid_id=after.grid_id, sliver=after.sliver, nest=after.nest)
    return result, after


# ------------------------------------------------------------------ job


def with_inferred(compounds: gpd.GeoDataFrame, inferred: gpd.GeoDataFrame, compound_id: str | None,
                  households: str | None) -> gpd.GeoDataFrame:
    """The compounds with the inferred outlines added (id and households; no type)."""
    if not len(inferred):
        return compounds
    cid = find_field(compounds, "compound_id", compound_id)
    hid = find_field(compounds, "households", households, required=False) or "households"
    extra = gpd.GeoDataFrame({cid: inferred.compound_id.to_numpy(),
                              hid: inferred.households.to_numpy()},
                             geometry=inferred.geometry.to_crs(compounds.crs).to_numpy(), crs=compounds.crs)
    extra = extra.rename_geometry(compounds.geometry.name) if compounds.geometry.name != "geometry" else extra
    out = gpd.GeoDataFrame(pd.concat([compounds, extra], ignore_index=True), crs=compounds.crs,
                           geometry=compounds.geometry.name)
    out.attrs.update(compounds.attrs)
    out.attrs["source"] = f"{compounds.attrs.get('source', 'compounds')} (with {len(extra)} inferred outlines)"
    return out


__all__ = ["Alignment", "Choice", "EDIT_COLUMNS", "Edits", "FREE", "Households", "LOCKED", "Layout", "NOISE_M2",
           "PRECISION", "Plan", "Problem", "REASONS", "STATUSES", "STAY", "TILE", "TOUCH_M", "UNRESOLVED", "Zones",
           "align", "apportion", "bordering", "check_range", "choose", "column", "disjoint", "edit_rows",
           "equal_area_strips", "greedy", "household_values", "in_scope", "keep_mask", "merge_units",
           "overlap_positions", "plan_tiles", "with_inferred"]
