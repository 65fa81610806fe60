"""What an alignment reports: the grids layer, the change list, the per-grid table and the summary.

The change list is measured, not assumed: every piece of land whose grid changes (the input grid
against the proposal, split by compound) is a row, whatever moved it. Households are whole
numbers from one computation: each input grid's figure is apportioned over the pieces it is cut
into (largest remainders), so that a grid's households after are its households before, less
the rows leaving it, plus the rows entering it, on every surface.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap import settings
from gridmap.classify import Classification
from gridmap.geomops import grouped_union, polygons_only

from .problem import NOISE_M2, PRECISION, REASONS, UNRESOLVED, Problem, disjoint


def apportion(total: np.ndarray, group: np.ndarray, weight: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Split each group's whole total over its items in proportion to ``weight``.

    Largest remainders: the parts are whole numbers adding up to the total exactly. A group
    whose weights are all zero puts its total on its ``fallback`` item (one per group, True).
    Groups with an unknown (NaN) total give NaN.
    """
    weight = np.maximum(np.nan_to_num(np.asarray(weight, dtype=float)), 0.0)
    n_groups = len(total)
    wsum = np.bincount(group, weights=weight, minlength=n_groups)
    none = wsum[group] <= 0
    weight = np.where(none, fallback.astype(float), weight)
    wsum = np.bincount(group, weights=weight, minlength=n_groups)
    t = np.nan_to_num(total)
    exact = t[group] * weight / np.maximum(wsum[group], 1e-300)
    base = np.floor(exact + 1e-9)
    left = np.round(t - np.bincount(group, weights=base, minlength=n_groups)).astype(int)
    frac = exact - base
    rank = pd.Series(-frac).groupby(group).rank(method="first").to_numpy()
    base += (rank <= left[group]).astype(float)
    return np.where(np.isfinite(total)[group], base, np.nan)


def new_ids(g_ids: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Ids for new grids: the id of the grid they were cut from with ``-1``, ``-2``, … appended."""
    taken = set(map(str, g_ids))
    counters: dict[str, int] = {}
    out = []
    for o in origin:
        base = str(g_ids[o])
        k = counters.get(base, 0)
        while True:
            k += 1
            candidate = f"{base}-{k}"
            if candidate not in taken:
                break
        counters[base] = k
        taken.add(candidate)
        out.append(candidate)
    return np.array(out, dtype=object)


#: The mark of provisional ids (``__init__._PROVISIONAL``): only lists holding one are rewritten.
_PROVISIONAL_MARK = "\u2042"


def relabel(cls: Classification, mapping: dict) -> Classification:
    """The classification with grid ids renamed (lists re-sorted as classify sorts them)."""
    if not mapping:
        return cls
    rename = pd.Series(mapping, dtype=object)

    def renamed(values: pd.Series) -> pd.Series:
        out = values.map(rename)
        return out.where(out.notna(), values)

    g = cls.grids.copy()
    g["grid_id"] = renamed(g.grid_id).to_numpy()
    c = cls.compounds.copy()
    touched = c.grid_ids.fillna("").str.contains(_PROVISIONAL_MARK, regex=False) | \
        c.sliver_grid_ids.fillna("").str.contains(_PROVISIONAL_MARK, regex=False)
    for col in ("grid_ids", "sliver_grid_ids"):
        s = c.loc[touched, col].fillna("").astype(str).str.split(settings.LIST_SEP).explode()
        s = renamed(s[s != ""]).sort_values(kind="stable")
        joined = s.groupby(level=0).agg(settings.LIST_SEP.join)
        c.loc[touched, col] = joined.reindex(c.index[touched]).fillna("").to_numpy()
    c["main_grid_id"] = renamed(c.main_grid_id).to_numpy()
    ov = cls.overlaps.copy()
    ov["grid_id"] = renamed(ov.grid_id).to_numpy()
    ov = ov.sort_values(["compound_id", "grid_id"], kind="stable").reset_index(drop=True)
    return Classification(compounds=c, grids=g, overlaps=ov, crs=cls.crs, compound_id=cls.compound_id,
                          grid_id=cls.grid_id, sliver=cls.sliver, nest=cls.nest)


def status_of(problem: Problem, layout) -> np.ndarray:
    """kept, changed, new or removed per label (input grids whose land did not change are kept)."""
    n_g = layout.n_g
    status = np.full(len(layout.geoms), "new", dtype=object)
    status[:n_g] = "kept"
    old = np.flatnonzero(layout.touched[:n_g] & layout.alive[:n_g])
    moved = shapely.area(shapely.symmetric_difference(problem.G[old], layout.geoms[old], grid_size=PRECISION)) > NOISE_M2
    status[old[moved]] = "changed"
    status[:n_g][~layout.alive[:n_g]] = "removed"
    return status


def change_list(problem: Problem, layout, ids: np.ndarray, status: np.ndarray, fate: np.ndarray,
                shared: np.ndarray, anchored: np.ndarray, crs, swapped: np.ndarray | None = None):
    """Every piece of land that changes grid, by compound, with whole households and a reason.

    Returns the ``changes`` GeoDataFrame (in ``crs``, metric) and the households leaving each
    input grid and entering each label.
    """
    import geopandas as gpd

    n_g, n_l = layout.n_g, len(layout.geoms)
    G, P = problem.G, layout.geoms
    alive = layout.alive
    columns = ["compound_id", "from_grid_id", "to_grid_id", "area_m2", "households", "reason", "reason_label"]
    src = np.flatnonzero(status[:n_g] != "kept")
    dst = np.flatnonzero(alive)
    # What left each changed grid (one difference per grid), then where it went: the pieces are
    # small, so cutting them by the proposal's grids is cheap.
    left = polygons_only(shapely.difference(G[src], P[src], grid_size=PRECISION))
    has = shapely.area(left) > NOISE_M2
    src_l, left = src[has], left[has]
    g_i = np.empty(0, dtype=np.intp)
    p_i = np.empty(0, dtype=np.intp)
    if len(src_l) and len(dst):
        l_idx, p_idx = shapely.STRtree(P[dst]).query(left, predicate="intersects")
        meet = ~shapely.touches(left[l_idx], P[dst[p_idx]])
        l_idx, p_idx = l_idx[meet], p_idx[meet]
        g_i, p_i = src_l[l_idx], dst[p_idx]
        land = polygons_only(shapely.intersection(left[l_idx], P[p_i], grid_size=PRECISION))
    else:
        land = np.empty(0, dtype=object)
    differ = g_i != p_i
    g_i, p_i, land = g_i[differ], p_i[differ], land[differ]
    real = shapely.area(land) > NOISE_M2
    g_i, p_i, land = g_i[real], p_i[real], land[real]

    # Split each moved piece by compound (compounds made disjoint, smaller first).
    C = problem.C
    near = np.unique(shapely.STRtree(C).query(land, predicate="intersects")[1]) if len(land) else np.empty(0, int)
    D = disjoint(C, near[np.argsort(shapely.area(C[near]), kind="stable")])
    li, ci = shapely.STRtree(D).query(land, predicate="intersects") if len(land) else (np.empty(0, int),) * 2
    part = polygons_only(shapely.intersection(land[li], D[ci], grid_size=PRECISION))
    ok = shapely.area(part) > NOISE_M2
    li, ci, part = li[ok], ci[ok], part[ok]

    taken = grouped_union(part, li, len(land), grid_size=PRECISION)
    rest = polygons_only(shapely.difference(land, taken, grid_size=PRECISION))
    has_rest = shapely.area(rest) > NOISE_M2
    rows_g = np.r_[g_i[li], g_i[has_rest]].astype(np.intp)
    rows_p = np.r_[p_i[li], p_i[has_rest]].astype(np.intp)
    rows_c = np.r_[ci, np.full(has_rest.sum(), -1)].astype(np.intp)
    rows_geom = np.r_[part, rest[has_rest]]

    # Whole households: each input grid's figure over its moved pieces and what stays.
    stay_g = src[alive[src]]
    stay = polygons_only(shapely.intersection(G[stay_g], P[stay_g], grid_size=PRECISION))
    all_g = np.r_[rows_g, stay_g]
    all_geom = np.r_[rows_geom, stay]
    is_stay = np.r_[np.zeros(len(rows_g), dtype=bool), np.ones(len(stay_g), dtype=bool)]
    if problem.capacity:
        # Households are additive over the pieces of a grid: what stays is the grid's figure less
        # what leaves (one overlay of the small moved pieces, not of the large staying ones).
        moved_est = problem.households.of_in(rows_geom, rows_c, rows_g)
        out_est = np.bincount(rows_g, weights=moved_est, minlength=n_g)
        est = np.r_[moved_est, np.maximum(np.nan_to_num(problem.households.before[stay_g]) - out_est[stay_g], 0.0)]
        # A removed grid has no staying piece: its largest moved piece takes a total no piece has weight for.
        fallback = is_stay.copy()
        no_stay = ~np.isin(np.arange(n_g), stay_g)
        if no_stay.any() and len(all_g):
            area = shapely.area(all_geom)
            order = np.lexsort((-area, all_g))
            first = order[np.r_[True, all_g[order][1:] != all_g[order][:-1]]]
            fallback[first[no_stay[all_g[first]]]] = True
        whole = apportion(problem.households.before, all_g, est, fallback)
        hh = whole[:len(rows_g)]
    else:
        hh = np.full(len(rows_g), np.nan)

    comp_fate = np.where(rows_c >= 0, fate[np.maximum(rows_c, 0)], "")
    # Land outside the moved compounds: split off a shared grid, released by a tile, given up by a
    # grid a compound took over (a swap), or cut off and absorbed by a neighbour.
    swapped = np.zeros(n_g, dtype=bool) if swapped is None else swapped
    other = np.where(shared[rows_g], "shared_grid_split",
                     np.where(anchored[rows_g], "large_compound_tile",
                              np.where(swapped[rows_g], "compound_moved", "sliver_absorbed")))
    reason = np.where(comp_fate == "moved", "compound_moved",
                      np.where(comp_fate == "tiled",
                               np.where(shared[rows_g], "shared_grid_split", "large_compound_tile"), other))
    # A planner's edit: the compound's own land that moved (docs/design.md §5, edits.csv).
    reason = np.where(comp_fate == "planner", "planner", reason)
    area = shapely.area(rows_geom)
    changes = gpd.GeoDataFrame({
        "compound_id": np.where(rows_c >= 0, problem.c_ids[np.maximum(rows_c, 0)], None),
        "from_grid_id": problem.g_ids[rows_g],
        "to_grid_id": ids[rows_p],
        "area_m2": np.round(area, 1),
        "households": pd.array(hh, dtype="Int64") if problem.capacity else pd.array(hh, dtype="Float64"),
        "reason": reason,
        "reason_label": pd.Series(reason).map(REASONS).to_numpy(),
        "community": problem.zones.labels[layout.zone[rows_p]] if problem.zones.fields else None,
    }, geometry=rows_geom, crs=crs)
    changes = changes[columns + (["community"] if problem.zones.fields else []) + ["geometry"]]
    changes = changes.sort_values(["from_grid_id", "to_grid_id", "compound_id"], na_position="last",
                                  kind="stable").reset_index(drop=True)
    out = np.bincount(rows_g, weights=np.nan_to_num(hh), minlength=n_l)
    inn = np.bincount(rows_p, weights=np.nan_to_num(hh), minlength=n_l)
    changes.attrs["land_moved_m2"] = float(area.sum())
    changes.attrs["crossing"] = int((layout.zone[rows_p] != problem.zones.code[rows_g]).sum())
    return changes, out, inn, rows_g, rows_p


def grid_table(problem: Problem, layout, ids, status, before: Classification, after: Classification,
               out: np.ndarray, inn: np.ndarray, rows_g, rows_p, unresolved: pd.DataFrame) -> pd.DataFrame:
    """Per grid, before and after (proposal.csv): households as whole numbers, after = before −
    out + in; where removed grids' land went (``land_to``) and what new grids were cut from."""
    n_g, n_l = layout.n_g, len(layout.geoms)
    show = np.r_[np.arange(n_g), np.flatnonzero(layout.alive[n_g:]) + n_g].astype(np.intp)
    b = before.grids.set_index("grid_id")
    a = after.grids.set_index("grid_id")
    t = pd.DataFrame({"grid_id": ids[show], "status": status[show]})
    t["changed"] = t.status != "kept"
    if problem.capacity:
        hb = np.r_[problem.households.before, np.full(n_l - n_g, np.nan)]
        h_before = np.where(show < n_g, hb[show], np.nan)
        h_after = np.where(show < n_g, hb[show], 0.0) - out[show] + inn[show]
        h_after = np.where(status[show] == "removed", np.nan, h_after)
        unknown = np.r_[~np.isfinite(problem.households.before), np.zeros(n_l - n_g, dtype=bool)]
        # A grid receiving land from a grid of unknown households has unknown households after.
        from_unknown = np.zeros(n_l, dtype=bool)
        from_unknown[rows_p[unknown[rows_g]]] = True
        h_after = np.where(unknown[show] | from_unknown[show], np.nan, h_after)
        t["households_before"] = pd.array(h_before, dtype="Int64")
        t["households_after"] = pd.array(np.round(h_after), dtype="Int64")
        t["households_out"] = pd.array(out[show], dtype="Int64")
        t["households_in"] = pd.array(inn[show], dtype="Int64")
        t["households_basis"] = np.where(show < n_g, problem.households.basis[np.minimum(show, n_g - 1)], "")
    t["area_m2_before"] = b.area_m2.reindex(t.grid_id).to_numpy()
    t["area_m2_after"] = a.area_m2.reindex(t.grid_id).to_numpy()
    t["situation_before"] = b.situation.reindex(t.grid_id).to_numpy()
    t["situation_after"] = a.situation.reindex(t.grid_id).to_numpy()
    t["compound_ids_after"] = a.compound_ids.reindex(t.grid_id).to_numpy()
    if problem.zones.fields:
        t["community"] = problem.zones.labels[layout.zone[show]]
    t["cut_from"] = np.where(show >= n_g, problem.g_ids[layout.origin[show]], None)
    to = pd.Series(ids[rows_p]).groupby(rows_g).apply(lambda s: settings.LIST_SEP.join(sorted(set(s))))
    t["land_to"] = to.reindex(show).to_numpy()
    t["note"] = layout.note[show]
    if len(unresolved):
        per = unresolved.assign(grid_id=unresolved.grid_ids.str.split(settings.LIST_SEP)).explode("grid_id")
        ids_ = per.groupby("grid_id").compound_id.apply(lambda s: settings.LIST_SEP.join(s))
        why = per.groupby("grid_id").reason.apply(lambda s: settings.LIST_SEP.join(s))
        t["unresolved_compound_ids"] = ids_.reindex(t.grid_id).to_numpy()
        t["unresolved_reasons"] = why.reindex(t.grid_id).to_numpy()
    else:
        t["unresolved_compound_ids"] = None
        t["unresolved_reasons"] = None
    return t


def unresolved_table(after: Classification, scope: np.ndarray, reasons: np.ndarray, c_ids: np.ndarray,
                     G: np.ndarray) -> pd.DataFrame:
    """In-scope compounds still straddling grids in the proposal, with the reason code and label."""
    sit = pd.Series(after.compounds.situation.to_numpy(), index=after.compounds.compound_id.to_numpy())
    mixed = sit.reindex(c_ids).to_numpy() == "mixed"
    idx = np.flatnonzero(mixed & scope)
    grids_after = pd.Series(after.compounds.grid_ids.to_numpy(), index=after.compounds.compound_id.to_numpy())
    rows = []
    geoms = after.compounds.set_index("compound_id").geometry.to_crs(after.crs)
    union = None
    for c in idx:
        code = reasons[c] or ""
        if not code:
            if union is None:
                union = shapely.union_all(G, grid_size=PRECISION)
            inside = shapely.intersection(geoms[c_ids[c]], union, grid_size=PRECISION)
            parts = shapely.get_parts(inside)
            code = "pieces_apart" if int((shapely.area(parts) > NOISE_M2).sum()) > 1 else "not_settled"
        rows.append({"compound_id": c_ids[c], "grid_ids": grids_after[c_ids[c]], "reason": code,
                     "reason_label": UNRESOLVED.get(code, code)})
    return pd.DataFrame(rows, columns=["compound_id", "grid_ids", "reason", "reason_label"])


def summarise(problem: Problem, before: Classification, after: Classification, table: pd.DataFrame,
              changes, unresolved: pd.DataFrame, hh_field, layout, choice, greedy) -> dict:
    """The figures the CLI, report and maps show."""
    sb = pd.Series(before.compounds.situation.to_numpy(), index=before.compounds.compound_id.to_numpy())
    sa = pd.Series(after.compounds.situation.to_numpy(), index=after.compounds.compound_id.to_numpy())
    mixed_before = sb.reindex(problem.c_ids).to_numpy() == "mixed"
    mixed_after = sa.reindex(problem.c_ids).to_numpy() == "mixed"
    scope = problem.scope
    capacity = problem.capacity
    moved = changes.compound_id.notna()
    new = table.status == "new"
    summary = {
        "compounds": int(len(before.compounds)),
        "grids_before": int(len(before.grids)),
        "grids_after": int(len(after.grids)),
        "straddling_before": int(mixed_before.sum()),
        "straddling_after": int(mixed_after.sum()),
        "straddling_in_scope_before": int((mixed_before & scope).sum()),
        "straddling_in_scope_after": int((mixed_after & scope).sum()),
        "grids_kept": int((table.status == "kept").sum()),
        "grids_changed": int((table.status == "changed").sum()),
        "grids_new": int(new.sum()),
        "grids_removed": int((table.status == "removed").sum()),
        "compounds_moved": int(changes.compound_id[moved & (changes.reason != "sliver_absorbed")].nunique()),
        "compound_area_moved_m2": float(changes.area_m2[moved].sum()),
        "land_moved_m2": float(changes.attrs.get("land_moved_m2", 0.0)),
        "households_field": hh_field,
        "households_basis": _basis(problem),
        "capacity_enforced": capacity,
        "households_moved": int(changes.households.sum()) if capacity else None,
        "grid_households": (problem.low, problem.high),
        "unresolved": int(len(unresolved)),
        "crosses_community": int((unresolved.reason == "crosses_community").sum()) if len(unresolved) else 0,
        "crosses_community_ids": list(unresolved.compound_id[unresolved.reason == "crosses_community"]) if len(unresolved) else [],
        "changes_rows": int(len(changes)),
        "changes_by_reason": {k: int(v) for k, v in changes.reason.value_counts().items()},
        "grids_crossing_community": int(changes.attrs.get("crossing", 0)),
        "communities_from": problem.zones.source or None,
    }
    if capacity:
        hb = pd.to_numeric(table.households_before, errors="coerce").dropna()
        ha = pd.to_numeric(table.households_after, errors="coerce")
        ha = ha[(table.status != "removed").to_numpy()].dropna()
        low, high = problem.low, problem.high
        summary["outside_range_before"] = int(((hb < low) | (hb > high)).sum())
        summary["outside_range_after"] = int(((ha < low) | (ha > high)).sum())
        hn = pd.to_numeric(table.households_after[new], errors="coerce")
        summary["empty_new_grids"] = int((hn == 0).sum())
        summary["empty_new_grids_ids"] = list(table.grid_id[new & (pd.to_numeric(table.households_after, errors="coerce") == 0)])
    else:
        summary["outside_range_before"] = summary["outside_range_after"] = None
        summary["empty_new_grids"] = None
    summary["assignment"] = {
        # The first round's choice of where straddling compounds move (tiles excluded); with
        # ``baseline``, the greedy pass's on the same problem.
        "method": choice.method if choice else None,
        "households_moved": choice.households_moved if choice else None,
        "greedy_households_moved": greedy.households_moved if greedy else None,
        "straddling_left": choice.straddling_left if choice else None,
        "greedy_straddling_left": greedy.straddling_left if greedy else None,
        "outside_after": choice.outside_after if choice else None,
        "greedy_outside_after": greedy.outside_after if greedy else None,
        "communities_over": choice.zones_over if choice else None,
        "greedy_communities_over": greedy.zones_over if greedy else None,
    }
    return summary


def _basis(problem: Problem) -> dict | None:
    if not problem.capacity:
        return None
    basis = pd.Series(problem.households.basis).replace("", "unknown").value_counts()
    return {str(k): int(v) for k, v in basis.items()}
