"""A planner's edits (``edits.csv``, docs/design.md §5): compounds placed in grids by hand in
``proposal.html``, which ``align`` takes as fixed decisions.

Each row ``compound_id, to_grid_id, note`` says: that compound lies wholly in that grid. The
alignment is then made around the edits with its usual constraints: the edited compound's land in
other grids of its community moves into the grid it was placed in (locked in the integer programme
of ``assign``), that grid is never dissolved, tiled or given away, and the land left behind is
settled as any other. Land across a community line never moves: a compound whose significant
overlaps lie in two communities cannot be placed, and a sliver of it across the line stays where it is.

An edit that cannot hold is refused before any work, all at once, naming the compound, the grid and
the line of the file: columns missing, a cell left blank, two rows for one compound, a compound or
grid that does not exist, a grid of another community, a grid named to keep, a grid the compound
does not border (grids stay in one piece). An edit that leaves a grid outside the household range is
accepted, with a warning naming the grid.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridmap.errors import GridmapError, GridmapWarning
from gridmap.geomops import shared_border
from gridmap.io import find_field, id_strings

from .problem import NOISE_M2, PRECISION, TOUCH_M

#: The columns of edits.csv (``note`` optional).
COLUMNS = ("compound_id", "to_grid_id", "note")
#: A compound borders a grid when they share at least this length of border (m), or some area.
MIN_BORDER_M = 1.0
#: Land (m²) of an edited compound that may remain outside its grid (overlay noise).
HOLD_M2 = 0.05
#: Problems named in one message at most.
SHOWN = 12


@dataclass
class Edits:
    """The checked edits: compound and grid positions, and the rows as read.

    ``rows`` holds ``compound_id``, ``to_grid_id``, ``note`` and ``line`` (of the file, the header
    being line 1).
    """

    compound: np.ndarray
    target: np.ndarray
    rows: pd.DataFrame

    def __len__(self) -> int:
        return len(self.compound)

    def fixed(self, n_compounds: int) -> np.ndarray:
        """Per compound, the grid position it was placed in (-1: not edited)."""
        out = np.full(n_compounds, -1, dtype=np.intp)
        out[self.compound] = self.target
        return out

    def records(self) -> list[dict]:
        """The edits as plain records (compound_id, to_grid_id, note), in the file's order."""
        return self.rows[list(COLUMNS)].to_dict("records")


def _fail(source: str, problems: list[str]) -> None:
    if not problems:
        return
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    raise GridmapError(f"{source}: the planner's edits cannot all hold, so nothing was aligned ("
                       f"{len(problems)} {'problem' if len(problems) == 1 else 'problems'}): "
                       + "; ".join(problems[:SHOWN]) + more + ". Fix or remove those rows (proposal.html "
                       "shows the grids each compound may go to) and run again.")


def edit_rows(frame: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """The rows of an edits table, checked as a table: ``compound_id``, ``to_grid_id``, ``note``
    (text, '' when blank) and ``line``.

    Raises
    ------
    GridmapError
        Columns missing, an id left blank, two rows for one compound; one message for all.
    """
    source = source or frame.attrs.get("source", "edits.csv")
    names = {str(c).strip().lstrip("\ufeff").lower(): c for c in frame.columns}
    missing = [c for c in COLUMNS[:2] if c not in names]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise GridmapError(f"{source}: an edits file needs the columns compound_id and to_grid_id (note is "
                           f"optional), as proposal.html's 导出调整 writes them; it has no {', '.join(missing)} "
                           f"(its columns: {have}). Nothing was aligned.")
    rows = pd.DataFrame({
        "compound_id": id_strings(frame[names["compound_id"]].reset_index(drop=True)),
        "to_grid_id": id_strings(frame[names["to_grid_id"]].reset_index(drop=True)),
        "note": (frame[names["note"]].reset_index(drop=True) if "note" in names
                 else pd.Series(None, index=range(len(frame)), dtype=object)),
    })
    rows = rows.apply(lambda s: s.map(lambda v: "" if v is None or v != v else str(v).strip()))
    rows["line"] = np.arange(len(rows)) + 2
    rows = rows[(rows.compound_id != "") | (rows.to_grid_id != "")].reset_index(drop=True)
    problems = [f"line {r.line}: " + ("no compound_id" if not r.compound_id else
                                      f"compound {r.compound_id} has no to_grid_id")
                for r in rows.itertuples() if not r.compound_id or not r.to_grid_id]
    twice = rows[rows.compound_id.duplicated(keep=False) & (rows.compound_id != "")]
    for cid, group in twice.groupby("compound_id", sort=False):
        problems.append(f"compound {cid} has {len(group)} rows (lines {', '.join(map(str, group.line))}, to "
                        f"{', '.join(group.to_grid_id)}): keep one")
    _fail(source, problems)
    rows.attrs["source"] = source
    return rows


def check_ids(rows: pd.DataFrame, compounds, compound_id: str | None, usable: set, g_ids: np.ndarray,
              c_source: str, g_source: str) -> None:
    """Refuse edits naming a compound or grid the layers do not have (before any work).

    ``compounds`` is the input layer (for ids of compounds without a usable outline); ``usable``
    the ids of compounds that have one.
    """
    field = find_field(compounds, "compound_id", compound_id)
    every = set(id_strings(compounds[field]).dropna())
    grids = set(g_ids)
    problems = []
    for r in rows.itertuples():
        if r.compound_id not in every:
            problems.append(f"line {r.line}: compound {r.compound_id} does not exist in {c_source}")
        elif r.compound_id not in usable:
            problems.append(f"line {r.line}: compound {r.compound_id} has no usable outline (null, empty or "
                            "no area), so it lies in no grid")
        if r.to_grid_id not in grids:
            base = re.fullmatch(r"(.+)-\d+", r.to_grid_id)
            hint = (f" ({r.to_grid_id} looks like a new grid of an earlier proposal, cut from {base.group(1)}: "
                    "edits name grids that exist now)") if base and base.group(1) in grids else ""
            problems.append(f"line {r.line}: grid {r.to_grid_id} (for compound {r.compound_id}) does not exist "
                            f"in {g_source}{hint}")
    _fail(rows.attrs.get("source", "edits.csv"), problems)


def bordering(C: np.ndarray, G: np.ndarray, tolerance: float = TOUCH_M, min_border: float = MIN_BORDER_M,
              overlaps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of compounds and grids (metric polygons) that share area or a border.

    A compound may be placed in a grid it overlaps (more than overlay noise) or shares at least
    ``min_border`` metres of border with (within ``tolerance``): then the grid with the compound
    is one piece. One STRtree query for all pairs; ``overlaps`` (compound, grid, area m², as
    ``gridmap.overlay.overlap_table`` gives them) saves measuring the pairs that share area again.

    Returns positions in ``C`` and ``G`` and the area (m²) each pair shares.
    """
    C = np.asarray(C, dtype=object)
    G = np.asarray(G, dtype=object)
    if not len(C) or not len(G):
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.zeros(0)
    ci, gi = shapely.STRtree(G).query(C, predicate="dwithin", distance=tolerance)
    if overlaps is None:
        area = shapely.area(shapely.intersection(C[ci], G[gi]))
    else:
        # Pairs the table lacks share no area (it lists every pair whose shared area is positive).
        oc, og, oa = (np.asarray(v) for v in overlaps)
        key = oc.astype(np.int64) * len(G) + og
        order = np.argsort(key, kind="stable")
        want = ci.astype(np.int64) * len(G) + gi
        at = np.minimum(np.searchsorted(key[order], want), max(len(key) - 1, 0))
        hit = (key[order][at] == want) if len(key) else np.zeros(len(want), dtype=bool)
        area = np.where(hit, oa[order][at] if len(key) else 0.0, 0.0)
    touch = area <= NOISE_M2
    ok = ~touch
    if touch.any():
        ok[touch] = shared_border(C[ci[touch]], G[gi[touch]], tolerance) >= min_border
    return ci[ok].astype(np.intp), gi[ok].astype(np.intp), area[ok]


def place_edits(rows: pd.DataFrame, c_ids: np.ndarray, g_ids: np.ndarray, C: np.ndarray, G: np.ndarray,
                zone: np.ndarray, zone_labels: np.ndarray, kept: np.ndarray, overlaps: pd.DataFrame) -> Edits:
    """The edits checked against the land (before any boundary is redrawn).

    ``overlaps`` is the classification's overlap table (ids, ``overlap_m2``, ``significant``).

    Raises
    ------
    GridmapError
        Naming, for every edit that cannot hold, the compound, the grid and why.
    """
    c_pos = pd.Series(np.arange(len(c_ids)), index=c_ids)
    g_pos = pd.Series(np.arange(len(g_ids)), index=g_ids)
    comp = c_pos.reindex(rows.compound_id).to_numpy().astype(np.intp)
    target = g_pos.reindex(rows.to_grid_id).to_numpy().astype(np.intp)
    ov = overlaps[overlaps.compound_id.isin(set(rows.compound_id))]
    ov_c = c_pos.reindex(ov.compound_id).to_numpy().astype(np.intp)
    ov_g = g_pos.reindex(ov.grid_id).to_numpy().astype(np.intp)
    ov_a = ov.overlap_m2.to_numpy(float)
    ov_s = ov.significant.to_numpy(bool)

    def label(z):
        text = str(zone_labels[z]) if zone_labels is not None and len(zone_labels) else ""
        return text or "(no community)"

    ci, gi, _ = bordering(C[comp], G)
    borders: dict = {}
    for c, g in zip(comp[ci].tolist(), gi.tolist()):
        borders.setdefault(c, set()).add(g)
    # Compounds placed in the same grid may reach it through each other.
    placed = {}
    for k, (c, t) in enumerate(zip(comp, target)):
        placed.setdefault(t, []).append(k)
    reach = _reachable(C, comp, target, borders, placed)

    problems = []
    for k, r in enumerate(rows.itertuples()):
        c, t = comp[k], target[k]
        mine = ov_c == c
        zones = sorted(set(zone[ov_g[mine & ov_s]]))
        if not mine.any():
            problems.append(f"line {r.line}: compound {r.compound_id} lies outside every grid: grids cover exactly "
                            f"their territory, so grid {r.to_grid_id} cannot take it")
            continue
        if len(zones) > 1:
            problems.append(f"line {r.line}: compound {r.compound_id} lies in {len(zones)} communities "
                            f"({', '.join(label(z) for z in zones)}): it cannot lie wholly in grid {r.to_grid_id} "
                            "without a grid taking land from another community")
            continue
        home = zones[0] if zones else zone[ov_g[mine][np.argmax(ov_a[mine])]]
        if zone[t] != home:
            problems.append(f"line {r.line}: grid {r.to_grid_id} is in community {label(zone[t])}, compound "
                            f"{r.compound_id} in {label(home)}: grids never take land from another community")
            continue
        elsewhere = mine & (ov_g != t) & (ov_a > NOISE_M2) & (zone[ov_g] == home)
        if kept[t] and elsewhere.any():
            problems.append(f"line {r.line}: grid {r.to_grid_id} is named to keep (--keep): it cannot take "
                            f"compound {r.compound_id}")
            continue
        locked = sorted(set(g_ids[ov_g[elsewhere & kept[ov_g]]]))
        if locked:
            problems.append(f"line {r.line}: compound {r.compound_id} has land in grid {', '.join(locked)}, named "
                            f"to keep (--keep): it cannot all go to grid {r.to_grid_id}")
            continue
        if not reach[k]:
            near = [g_ids[g] for g in sorted(borders.get(c, ())) if zone[g] == home and g != t]
            problems.append(f"line {r.line}: compound {r.compound_id} does not border grid {r.to_grid_id}: grids "
                            "stay in one piece, so it can go only to a grid it borders"
                            + (f" ({', '.join(near[:6])})" if near else "")
                            + " or to one it reaches through compounds placed in the same grid")
    problems += _clashes(rows, C, comp, target, g_ids)
    _fail(rows.attrs.get("source", "edits.csv"), problems)
    return Edits(compound=comp, target=target, rows=rows.reset_index(drop=True))


def _reachable(C: np.ndarray, comp: np.ndarray, target: np.ndarray, borders: dict, placed: dict) -> np.ndarray:
    """Whether each edited compound borders its grid, or borders a compound placed in the same grid
    that does (and so on)."""
    ok = np.array([t in borders.get(c, ()) for c, t in zip(comp.tolist(), target.tolist())], dtype=bool)
    for t, members in placed.items():
        members = np.asarray(members)
        if len(members) < 2 or ok[members].all():
            continue
        geoms = C[comp[members]]
        a, b, _ = bordering(geoms, geoms)
        links = pd.DataFrame({"a": a, "b": b})
        links = links[links.a != links.b]
        frontier = list(np.flatnonzero(ok[members]))
        seen = set(frontier)
        while frontier:
            i = frontier.pop()
            for j in links.b[links.a == i]:
                if j not in seen:
                    seen.add(j)
                    frontier.append(j)
        ok[members[sorted(seen)]] = True
    return ok


def _clashes(rows: pd.DataFrame, C: np.ndarray, comp: np.ndarray, target: np.ndarray, g_ids) -> list[str]:
    """Edited compounds that overlap each other and are placed in different grids."""
    geoms = C[comp]
    if len(geoms) < 2:
        return []
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = (a < b) & (target[a] != target[b])
    a, b = a[pair], b[pair]
    if not len(a):
        return []
    shared = shapely.area(shapely.intersection(geoms[a], geoms[b], grid_size=PRECISION)) > NOISE_M2
    ids = rows.compound_id.to_numpy()
    return [f"compounds {ids[i]} and {ids[j]} overlap and are placed in different grids ({g_ids[target[i]]}, "
            f"{g_ids[target[j]]})" for i, j in zip(a[shared], b[shared])]


def pending(fixed: np.ndarray, zone: np.ndarray, comp: np.ndarray, lab: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Edited compounds that still have land (beyond noise) in another grid of their community.

    ``comp``, ``lab``, ``area`` are an overlap table by positions (labels of the layout), ``zone``
    the labels' communities.
    """
    out = np.zeros(len(fixed), dtype=bool)
    if not len(comp) or not (fixed >= 0).any():
        return out
    t = fixed[comp]
    rows = (t >= 0) & (lab != t) & (area > HOLD_M2) & (zone[lab] == zone[np.maximum(t, 0)])
    out[comp[rows]] = True
    return out


def reference_with_edits(reference: dict, edits: Edits, C: np.ndarray, G: np.ndarray, zone: np.ndarray,
                         before: np.ndarray, of, overlaps: pd.DataFrame, c_ids, g_ids, low: float, high: float
                         ) -> dict:
    """The count of grids outside the household range that alignment may not exceed, per community,
    raised to what the edits alone make it (a planner may accept a grid outside the range).

    ``of`` gives the households on pieces of land (``problem.Households.of``).
    """
    fixed = edits.fixed(len(C))
    c_pos = pd.Series(np.arange(len(c_ids)), index=c_ids)
    g_pos = pd.Series(np.arange(len(g_ids)), index=g_ids)
    ov = overlaps[overlaps.compound_id.isin(set(edits.rows.compound_id))]
    c = c_pos.reindex(ov.compound_id).to_numpy().astype(np.intp)
    g = g_pos.reindex(ov.grid_id).to_numpy().astype(np.intp)
    t = fixed[c]
    away = (g != t) & (ov.overlap_m2.to_numpy(float) > NOISE_M2) & (zone[g] == zone[t])
    c, g, t = c[away], g[away], t[away]
    load = before.astype(float).copy()
    if len(c):
        pieces = shapely.intersection(C[c], G[g], grid_size=PRECISION)
        hh = np.nan_to_num(of(pieces))
        np.subtract.at(load, g, hh)
        np.add.at(load, t, hh)
    load = np.round(load)
    out = np.isfinite(load) & ((load < low) | (load > high))
    counts = np.bincount(zone[out], minlength=int(zone.max(initial=-1)) + 1)
    return {z: max(int(n), int(counts[z]) if z < len(counts) else 0) for z, n in reference.items()}


def edit_warnings(edits: Edits, table: pd.DataFrame, overlaps: pd.DataFrame, after_overlaps: pd.DataFrame,
                  zone_of: pd.Series, low: float, high: float, capacity: bool) -> list[str]:
    """Warn (naming the grids) where edits leave a grid outside the household range, and name any
    edit the redraw could not hold; returns the compounds whose edit did not hold.

    ``zone_of`` gives the community (code) of every grid id of the proposal and of the input."""
    source = edits.rows.attrs.get("source", "edits.csv")
    ids = edits.rows.compound_id.to_numpy()
    to = edits.rows.to_grid_id.to_numpy()
    left = overlaps[overlaps.compound_id.isin(set(ids)) & (overlaps.overlap_m2 > NOISE_M2)]
    touched = pd.concat([pd.Series(to), left.grid_id]).unique()
    if capacity and "households_after" in table:
        t = table.set_index("grid_id")
        hh = pd.to_numeric(t.households_after.reindex(touched), errors="coerce")
        was = pd.to_numeric(t.households_before.reindex(touched), errors="coerce")
        # Outside the range and no nearer to it than before (a grid brought nearer is not named).
        gap = np.maximum(np.maximum(low - hh, hh - high), 0.0)
        gap_was = np.maximum(np.maximum(low - was, was - high), 0.0).fillna(0.0)
        changed = (t.status.reindex(touched) != "kept").to_numpy()
        out = hh[changed & hh.notna().to_numpy() & (gap > 0).to_numpy() & (gap >= gap_was).to_numpy()]
        if len(out):
            into = pd.Series(ids).groupby(to).agg(", ".join)
            said = "; ".join(f"grid {g}: {int(v)} households" + (f" (takes {into[g]})" if g in into.index else "")
                             for g, v in out.items())
            warnings.warn(f"{source}: the planner's edits leave {len(out)} {'grid' if len(out) == 1 else 'grids'} "
                          "outside the household range "
                          f"{low:g}–{high:g}: {said}. The edits were applied as given.", GridmapWarning, stacklevel=3)
    a = after_overlaps[after_overlaps.compound_id.isin(set(ids)) & (after_overlaps.overlap_m2 > HOLD_M2)]
    want = dict(zip(ids, to))
    goal = a.compound_id.map(want)
    same_zone = zone_of.reindex(a.grid_id).to_numpy() == zone_of.reindex(goal).to_numpy()
    stray = a[(a.grid_id.to_numpy() != goal.to_numpy()) & same_zone]
    failed = sorted(set(stray.compound_id))
    if failed:
        warnings.warn(f"{source}: {len(failed)} edits could not be held wholly ({', '.join(failed)}): part of the "
                      "compound lies across a community line or the grid would come apart; see changes.",
                      GridmapWarning, stacklevel=3)
    return failed


__all__ = ["COLUMNS", "Edits", "HOLD_M2", "MIN_BORDER_M", "bordering", "check_ids", "edit_rows", "edit_warnings",
           "pending", "place_edits", "reference_with_edits"]
