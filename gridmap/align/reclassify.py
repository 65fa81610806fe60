"""The three situations of the proposal, updated where a round changed grids rather than measured
again for the whole city.

A round redraws a few hundred grids out of thousands. Only the compounds overlapping a changed
grid (before or after the round) can change their overlaps; their rows of the overlap table are
measured again, the rest are kept, and the rule of DESIGN §2 (``classify.situations``) is applied
to the whole table, which is cheap. The result is the table ``classify`` would give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridmap.classify import Classification, joined_ids, situations
from gridmap.overlay import overlap_table


@dataclass
class Overlaps:
    """The overlap table by position: compound, label (layout position), area (m²), shares, and
    whether the overlap is significant."""

    compound: np.ndarray
    label: np.ndarray
    area: np.ndarray
    share_c: np.ndarray
    share_g: np.ndarray
    significant: np.ndarray

    @classmethod
    def of(cls, table: pd.DataFrame, c_ids: np.ndarray, label_ids: np.ndarray) -> "Overlaps":
        """From a classification's overlap table (ids) and the labels' ids."""
        c_pos = pd.Series(np.arange(len(c_ids)), index=c_ids)
        l_pos = pd.Series(np.arange(len(label_ids)), index=label_ids)
        return cls(compound=c_pos.reindex(table.compound_id).to_numpy(np.intp),
                   label=l_pos.reindex(table.grid_id).to_numpy(np.intp),
                   area=table.overlap_m2.to_numpy(float), share_c=table.share_of_compound.to_numpy(float),
                   share_g=table.share_of_grid.to_numpy(float), significant=table.significant.to_numpy(bool))

    def where(self, keep: np.ndarray) -> "Overlaps":
        return Overlaps(self.compound[keep], self.label[keep], self.area[keep], self.share_c[keep],
                        self.share_g[keep], self.significant[keep])


def reclassify(prev: Classification, prev_rows: Overlaps, C: np.ndarray, geoms: np.ndarray, old_geoms: np.ndarray,
               ids: np.ndarray) -> tuple[Classification, Overlaps]:
    """The classification of the compounds on the labels ``geoms`` (metric; empty = gone).

    ``prev`` classified the same compounds on ``old_geoms`` (``prev_rows`` its overlap table by
    position; labels added since are beyond ``len(old_geoms)``). ``ids`` are the labels' ids now.
    """
    n_l = len(geoms)
    old = np.concatenate([old_geoms, np.full(n_l - len(old_geoms), None, dtype=object)])
    changed = np.fromiter((a is not b for a, b in zip(geoms, old)), dtype=bool, count=n_l)
    alive = ~shapely.is_empty(geoms)
    lab = np.flatnonzero(changed)
    # Compounds over a changed label, before or after.
    probe = np.concatenate([geoms[lab], old[lab][shapely.is_geometry(old[lab])]])
    probe = probe[~shapely.is_empty(probe)]
    hit = np.unique(shapely.STRtree(C).query(probe, predicate="intersects")[1]) if len(probe) else np.empty(0, int)
    keep = ~np.isin(prev_rows.compound, hit) & ~changed[prev_rows.label]
    kept = prev_rows.where(keep)
    live = np.flatnonzero(alive)
    t = overlap_table(C[hit], geoms[live]) if len(hit) else pd.DataFrame(
        {"compound": [], "grid": [], "overlap_m2": [], "share_of_compound": [], "share_of_grid": []})
    sliver = prev.sliver
    fresh = Overlaps(compound=hit[t.compound.to_numpy(np.intp)], label=live[t.grid.to_numpy(np.intp)],
                     area=t.overlap_m2.to_numpy(float), share_c=t.share_of_compound.to_numpy(float),
                     share_g=t.share_of_grid.to_numpy(float),
                     significant=((t.share_of_compound >= sliver) | (t.share_of_grid >= sliver)).to_numpy(bool))
    rows = Overlaps(*(np.concatenate([getattr(kept, f), getattr(fresh, f)]) for f in
                      ("compound", "label", "area", "share_c", "share_g", "significant")))
    rows = rows.where(alive[rows.label])

    # The rule on the whole table, by the positions of the live labels.
    n_c = len(C)
    at = np.full(n_l, -1, dtype=np.intp)
    at[live] = np.arange(len(live))
    table = pd.DataFrame({"compound": rows.compound, "grid": at[rows.label], "share_of_grid": rows.share_g,
                          "significant": rows.significant})
    c_sit, g_sit = situations(table, n_c, len(live), prev.nest)
    live_ids = ids[live]
    sig = table[table.significant]
    main = sig.assign(share=rows.share_c[rows.significant]).sort_values(
        ["compound", "share"], ascending=[True, False]).drop_duplicates("compound")
    c_ids = prev.compounds.compound_id.to_numpy(dtype=object)
    comp = prev.compounds.copy()
    comp["situation"] = c_sit
    comp["grid_ids"] = joined_ids(sig.compound, live_ids[sig.grid], n_c)
    comp["main_grid_id"] = pd.Series(live_ids[main.grid], index=main.compound.to_numpy()).reindex(range(n_c)).to_numpy()
    comp["main_share"] = pd.Series(main.share.to_numpy(), index=main.compound.to_numpy()).reindex(range(n_c)).round(4).to_numpy()
    weak = ~table.significant.to_numpy()
    comp["sliver_grid_ids"] = joined_ids(table.compound[weak], live_ids[table.grid[weak]], n_c)
    import geopandas as gpd

    grids = gpd.GeoDataFrame({
        "grid_id": live_ids,
        "situation": g_sit,
        "compound_ids": joined_ids(sig.grid, c_ids[sig.compound], len(live)),
        "area_m2": np.round(shapely.area(geoms[live]), 1),
    }, geometry=geoms[live], crs=prev.crs).to_crs(prev.grids.crs)
    overlaps = pd.DataFrame({
        "compound_id": c_ids[rows.compound],
        "grid_id": ids[rows.label],
        "overlap_m2": np.round(rows.area, 2),
        "share_of_compound": np.round(rows.share_c, 4),
        "share_of_grid": np.round(rows.share_g, 4),
        "significant": rows.significant,
    }).sort_values(["compound_id", "grid_id"], kind="stable").reset_index(drop=True)
    cls = Classification(compounds=comp, grids=grids, overlaps=overlaps, crs=prev.crs, compound_id=prev.compound_id,
                         grid_id="grid_id", sliver=prev.sliver, nest=prev.nest)
    return cls, rows
