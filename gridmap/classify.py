"""The three-situation rule of docs/design.md §2, exactly.

Compound c: no grid → ``uncovered``; one grid g → ``equal`` if compounds(g) is c alone, else
``large_grid``; several grids, each nesting in c and holding no other compound →
``large_compound``; otherwise ``mixed``.
Grid g: no compound → ``no_compound``; a ``mixed`` compound → ``mixed``; one compound c →
``large_compound`` if c is, else ``equal``; several → ``large_grid``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from gridmap import settings, vocab
from gridmap.errors import GridmapError, RenamedColumnWarning, SliverWarning
from gridmap.i18n import _
from gridmap.io import feature_areas, find_field, id_strings, metric_crs, reconcile
from gridmap.overlay import overlap_table
from gridmap.validate import clean_layer
from gridmap.vocab import COMPUTED_COLUMNS, NO_GEOMETRY

log = logging.getLogger(__name__)


@dataclass
class Classification:
    """What ``classify`` returns: tables indexed like the cleaned inputs, and how they were made."""

    compounds: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    overlaps: pd.DataFrame
    crs: CRS
    compound_id: str
    grid_id: str
    sliver: float
    nest: float

    def counts(self) -> dict[str, pd.Series]:
        """Situation counts of compounds and grids, in the report order (``no_geometry`` last,
        when there are such features: the counts add up to every input feature)."""
        out = {}
        for name, table, order in (("compounds", self.compounds, vocab.COMPOUND_SITUATIONS),
                                   ("grids", self.grids, vocab.GRID_SITUATIONS)):
            counts = table.situation.value_counts()
            order = list(order) + ([NO_GEOMETRY] if NO_GEOMETRY in counts.index else [])
            out[name] = counts.reindex(order, fill_value=0)
        return out

    def with_geometry(self) -> Classification:
        """The classification of the features that have a usable geometry (for drawing and
        measuring); those without (situation ``no_geometry``) stay in ``compounds`` and ``grids``."""
        c_ok = self.compounds.situation.to_numpy() != NO_GEOMETRY
        g_ok = self.grids.situation.to_numpy() != NO_GEOMETRY
        if c_ok.all() and g_ok.all():
            return self
        compounds, grids = self.compounds[c_ok], self.grids[g_ok]
        compounds.attrs.update(self.compounds.attrs)
        grids.attrs.update(self.grids.attrs)
        return replace(self, compounds=compounds, grids=grids)


def classify(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    *,
    compound_id: str | None = None,
    grid_id: str | None = None,
    sliver: float | None = None,
    nest: float | None = None,
    crs: CRS | str | int | None = None,
) -> Classification:
    """Classify every compound and grid into the three situations (docs/design.md §2).

    Parameters
    ----------
    compounds, grids : GeoDataFrame
        Polygon layers with a CRS; invalid geometries are repaired with ``make_valid``.
    compound_id, grid_id : str, optional
        Id fields; by default the recognised names of docs/design.md §4.
    sliver : float
        Share (0–1) of a compound's or grid's area an overlap must reach to count (default ``settings.SLIVER``, 0.05).
    nest : float
        Share (0–1) of a grid's area that must lie in a compound for the grid to nest in it
        (default ``settings.NEST``, 0.5).
    crs : optional
        CRS to measure areas in; by default chosen per docs/design.md §6.

    Returns
    -------
    Classification
        ``compounds``: ``compound_id``, ``situation``, ``grid_ids``, ``main_grid_id``,
        ``main_share``, ``area_m2``, ``sliver_grid_ids`` and the input attributes;
        ``grids``: ``grid_id``, ``situation``, ``compound_ids``, ``area_m2`` and the input
        attributes; ``overlaps``: ``compound_id``, ``grid_id``, ``overlap_m2``,
        ``share_of_compound``, ``share_of_grid``, ``significant``. Geometries stay in the
        compounds' CRS.
    """
    sliver = settings.SLIVER if sliver is None else sliver
    nest = settings.NEST if nest is None else nest
    if not 0 <= sliver < 1:
        raise GridmapError(_("--sliver {value} must lie in [0, 1).").format(value=sliver))
    if not 0 < nest <= 1:
        raise GridmapError(_("--nest {value} must lie in (0, 1].").format(value=nest))
    cid = find_field(compounds, "compound_id", compound_id)
    gid = find_field(grids, "grid_id", grid_id)
    # Features without a usable geometry keep their rows (situation no_geometry): nothing
    # disappears from the counts (DESIGN §2).
    all_compounds = clean_layer(compounds, cid, "compounds", keep_unusable=True)
    all_grids = clean_layer(grids, gid, "grids", keep_unusable=True)
    c_issue = all_compounds.attrs.pop("geometry_issue")
    g_issue = all_grids.attrs.pop("geometry_issue")
    compounds = all_compounds[c_issue.isna().to_numpy()]
    grids = all_grids[g_issue.isna().to_numpy()]
    compounds.attrs.update(all_compounds.attrs)
    grids.attrs.update(all_grids.attrs)
    compounds, grids = reconcile(None, compounds, grids)
    measure = CRS.from_user_input(crs) if crs is not None else metric_crs(compounds, grids)
    log.info("measuring areas in %s (%s)", measure.to_string(), measure.name)

    c_ids = id_strings(compounds[cid]).to_numpy(dtype=object)
    g_ids = id_strings(grids[gid]).to_numpy(dtype=object)
    c_geom = compounds.geometry.to_crs(measure)
    g_geom = grids.geometry.to_crs(measure)
    table = overlap_table(c_geom, g_geom)
    c_area, g_area = _true_areas(compounds.geometry, c_geom, measure), _true_areas(grids.geometry, g_geom, measure)
    # Overlaps are measured in one plane; beyond one zone each is scaled as its compound is. Shares
    # are ratios within one plane and need no scaling.
    table["overlap_m2"] *= (c_area / _nonzero(c_geom.area.to_numpy()))[table.compound.to_numpy()]
    table["significant"] = (table.share_of_compound >= sliver) | (table.share_of_grid >= sliver)
    slivers = int((~table.significant).sum())
    if slivers:
        warnings.warn(_("{count} compound–grid overlaps are below the sliver share {sliver:g} and "
                        "were not used (listed in overlaps.csv with significant = False)").format(
            count=slivers, sliver=sliver), SliverWarning, stacklevel=2)

    c_situation, g_situation = situations(table, len(c_ids), len(g_ids), nest)
    sig = table[table.significant]
    main = sig.sort_values(["compound", "share_of_compound"], ascending=[True, False]).drop_duplicates("compound")

    c_out = pd.DataFrame({
        "compound_id": c_ids,
        "situation": c_situation,
        "grid_ids": joined_ids(sig.compound, g_ids[sig.grid], len(c_ids)),
        "main_grid_id": pd.Series(g_ids[main.grid], index=main.compound.to_numpy()).reindex(range(len(c_ids))).to_numpy(),
        "main_share": pd.Series(main.share_of_compound.to_numpy(), index=main.compound.to_numpy())
                      .reindex(range(len(c_ids))).round(4).to_numpy(),
        "area_m2": c_area.round(1),
        "sliver_grid_ids": joined_ids(table.compound[~table.significant], g_ids[table.grid[~table.significant]], len(c_ids)),
    }, index=compounds.index)
    g_out = pd.DataFrame({
        "grid_id": g_ids,
        "situation": g_situation,
        "compound_ids": joined_ids(sig.grid, c_ids[sig.compound], len(g_ids)),
        "area_m2": g_area.round(1),
    }, index=grids.index)
    overlaps = pd.DataFrame({
        "compound_id": c_ids[table.compound],
        "grid_id": g_ids[table.grid],
        "overlap_m2": table.overlap_m2.round(2).to_numpy(),
        "share_of_compound": table.share_of_compound.round(4).to_numpy(),
        "share_of_grid": table.share_of_grid.round(4).to_numpy(),
        "significant": table.significant.to_numpy(),
    }).sort_values(["compound_id", "grid_id"], kind="stable").reset_index(drop=True)

    c_out = _with_unusable(c_out, all_compounds, cid, c_issue)
    g_out = _with_unusable(g_out, all_grids, gid, g_issue)
    target = compounds.crs
    return Classification(
        compounds=_with_inputs(c_out, _in_crs(all_compounds, target), cid),
        grids=_with_inputs(g_out, _in_crs(all_grids, target), gid),
        overlaps=overlaps, crs=measure, compound_id=cid, grid_id=gid, sliver=sliver, nest=nest,
    )


def _with_unusable(out: pd.DataFrame, layer: gpd.GeoDataFrame, id_field: str, issue: pd.Series) -> pd.DataFrame:
    """Rows for the features without a usable geometry: situation no_geometry, no grids or
    compounds, area 0, and a ``geometry_issue`` column saying why; every input row, in input order."""
    if issue.isna().all():
        return out
    bad = issue.notna().to_numpy()
    extra = pd.DataFrame({c: pd.Series([None] * int(bad.sum()), dtype=out[c].dtype if out[c].dtype != bool else object)
                          for c in out.columns}, index=layer.index[bad])
    extra[out.columns[0]] = id_strings(layer[id_field][bad]).to_numpy(dtype=object)
    extra["situation"] = NO_GEOMETRY
    for column in ("grid_ids", "compound_ids", "sliver_grid_ids"):
        if column in extra:
            extra[column] = ""
    extra["area_m2"] = 0.0
    both = pd.concat([out, extra]).reindex(layer.index)
    both["geometry_issue"] = issue.reindex(layer.index).to_numpy()
    return both


def _in_crs(layer: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    if layer.crs is None or crs is None or layer.crs.equals(crs):
        return layer
    attrs = dict(layer.attrs)
    layer = layer.to_crs(crs)
    layer.attrs.update(attrs)
    return layer


def situations(table: pd.DataFrame, n_compounds: int, n_grids: int, nest: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Apply the rule to an overlap table (``compound``, ``grid``, ``share_of_grid``, ``significant``).

    Returns the situation of each compound and each grid, by position.
    """
    sig = table[table.significant]
    grids_per_c = np.bincount(sig.compound, minlength=n_compounds)
    comps_per_g = np.bincount(sig.grid, minlength=n_grids)

    # For each significant pair: does the grid hold only this compound, and does it nest in it?
    alone = comps_per_g[sig.grid.to_numpy()] == 1
    nests = sig.share_of_grid.to_numpy() >= nest
    good = pd.Series(alone & nests).groupby(sig.compound.to_numpy()).all()
    all_nest_alone = good.reindex(range(n_compounds), fill_value=False).to_numpy()
    single_alone = pd.Series(alone).groupby(sig.compound.to_numpy()).all() \
        .reindex(range(n_compounds), fill_value=False).to_numpy()

    c_sit = np.select(
        [grids_per_c == 0,
         (grids_per_c == 1) & single_alone,
         grids_per_c == 1,
         all_nest_alone],
        ["uncovered", "equal", "large_grid", "large_compound"],
        default="mixed").astype(object)

    pair_sit = c_sit[sig.compound.to_numpy()]
    any_mixed = pd.Series(pair_sit == "mixed").groupby(sig.grid.to_numpy()).any() \
        .reindex(range(n_grids), fill_value=False).to_numpy()
    first = pd.Series(pair_sit).groupby(sig.grid.to_numpy()).first().reindex(range(n_grids)).to_numpy()
    g_sit = np.select(
        [comps_per_g == 0,
         any_mixed,
         (comps_per_g == 1) & (first == "large_compound"),
         comps_per_g == 1],
        ["no_compound", "mixed", "large_compound", "equal"],
        default="large_grid").astype(object)
    return c_sit, g_sit


def _true_areas(geoms: gpd.GeoSeries, measured: gpd.GeoSeries, crs: CRS) -> np.ndarray:
    """Areas (m²) true at any extent: ``measured`` (planar in ``crs``) within one zone."""
    return feature_areas(geoms, crs, planar=measured.area.to_numpy())


def _nonzero(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values, 1.0)


def joined_ids(owner: pd.Series, values: np.ndarray, n: int) -> np.ndarray:
    """Join ``values`` per owner position with ';' (sorted, unique), '' where none."""
    out = np.full(n, "", dtype=object)
    if len(values) == 0:
        return out
    # Sort once, drop repeats, then concatenate each owner's run with one ufunc: a Python call
    # per owner (groupby + lambda) took most of classify's time on a city of 30,000 compounds.
    pairs = pd.DataFrame({"o": np.asarray(owner),
                          "v": pd.Series(values).astype(str).to_numpy(dtype=object)})
    pairs = pairs.drop_duplicates().sort_values(["o", "v"], kind="stable")
    o = pairs.o.to_numpy()
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    joined = np.add.reduceat(pairs.v.to_numpy(dtype=object) + settings.LIST_SEP, starts)
    out[o[starts]] = pd.Series(joined, dtype=object).str[:-1].to_numpy(dtype=object)
    return out


def _with_inputs(out: pd.DataFrame, layer: gpd.GeoDataFrame, id_field: str) -> gpd.GeoDataFrame:
    """gridmap's columns first, then the input attributes.

    An input column named exactly like a computed one gets ``_input``; one that differs only in
    case from a computed column (``Area_M2``) or from another input column (``NAME`` beside
    ``name``: GeoPackage field names ignore case) gets ``_1`` (``_2``…), with a warning naming them.
    """
    attrs = layer.drop(columns=[layer.geometry.name])
    if id_field == out.columns[0]:
        attrs = attrs.drop(columns=id_field)
    attrs = attrs.rename(columns={c: f"{c}_input" for c in attrs.columns if c in out.columns})
    taken = {str(c).lower() for c in out.columns} | {str(c).lower() for c in COMPUTED_COLUMNS}
    renames = {}
    for c in attrs.columns:
        name = str(c)
        if name.lower() in taken:
            k = 1
            while f"{name}_{k}".lower() in taken or f"{name}_{k}" in attrs.columns:
                k += 1
            renames[c] = f"{name}_{k}"
            name = renames[c]
        taken.add(name.lower())
    if renames:
        attrs = attrs.rename(columns=renames)
        warnings.warn(_("{layer}: input columns renamed so that none is lost "
                        "beside gridmap's own (names that differ only in case clash in GeoPackage and Excel): "
                        "{renames}").format(layer=layer.attrs.get("source", _("a layer")),
                                            renames=", ".join(f"{a} → {b}" for a, b in renames.items())),
                      RenamedColumnWarning, stacklevel=3)
    result = gpd.GeoDataFrame(pd.concat([out, attrs], axis=1), geometry=layer.geometry.to_numpy(),
                              crs=layer.crs)
    result.index = layer.index
    result.attrs.update(layer.attrs)
    return result
