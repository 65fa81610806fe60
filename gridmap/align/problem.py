"""What an alignment starts from: the options checked, the communities grids belong to, and the
households on any piece of land (the user's figures).

Everything here is computed once per ``align`` call, before any boundary is redrawn, so that bad
input fails fast and every later stage reads one set of figures.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import settings, vocab
from gridmap.errors import GridmapError, GridmapWarning
from gridmap.geomops import EMPTY, grouped_union, polygons_only
from gridmap.io import find_field, id_strings
from gridmap.overlay import overlap_table

log = logging.getLogger(__name__)

#: Overlays run on a 1 µm grid (snap-rounding): GEOS' floating-point overlay can return wrong
#: pieces where edges nearly coincide (libgeos/geos#1344, #1405), as compounds and the grids
#: cut along them do. A micrometre moves nothing that matters.
PRECISION = 1e-6
#: Pieces smaller than this (m²) are overlay noise: dropped, never made grids.
NOISE_M2 = 0.01
#: Neighbours closer than this (m) share a border (digitised edges rarely match exactly).
TOUCH_M = 0.01
STATUSES = ("kept", "changed", "new", "removed")
#: Why a piece of land changes grid, and why a compound was not aligned: codes and labels in vocab.
REASONS = vocab.CHANGE_REASONS
UNRESOLVED = vocab.UNRESOLVED_REASONS
#: Administrative levels a grid may carry, coarsest first: land never moves between two of them.
ZONE_MEANINGS = ("district", "street", "community")


# ------------------------------------------------------------------ options


def check_range(value) -> tuple[float, float]:
    """``(min, max)`` households from a pair or ``"MIN:MAX"`` text, with a clear error.

    A range must hold at least one whole number of households (0 ≤ MIN ≤ MAX, MAX ≥ 1).
    """
    if isinstance(value, str):
        text = value
        head, sep, tail = text.partition(":")
        try:
            value = (float(head), float(tail)) if sep else None
        except ValueError:
            value = None
        if value is None:
            raise GridmapError(f"--grid-households {text!r} must be MIN:MAX, e.g. 300:500.")
    low, high = (float(v) for v in value)
    if not (np.isfinite(low) and np.isfinite(high)) or not 0 <= low <= high or high <= 0:
        raise GridmapError(f"--grid-households {low:g}:{high:g} must satisfy 0 ≤ MIN ≤ MAX and MAX > 0.")
    if np.ceil(low) > np.floor(high):
        raise GridmapError(f"--grid-households {low:g}:{high:g} holds no whole number of households: "
                           "no grid can meet it. Give whole numbers, e.g. 300:500.")
    return low, high


def column(comp: pd.DataFrame, name: str) -> str:
    """The classification's name of an input column (clashes with its own get ``_input``)."""
    return name if name in comp.columns and name not in ("compound_id",) else f"{name}_input"


def household_values(comp: pd.DataFrame, column_: str, source: str, ids=None, what: str = "compounds"
                     ) -> np.ndarray:
    """Households per feature as floats; blanks are NaN (the caller decides), text or negatives raise."""
    raw = comp[column_]
    ids = comp.compound_id if ids is None else ids
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        sample = ", ".join(map(str, pd.Series(ids)[bad.to_numpy()].head(5)))
        raise GridmapError(f"{source}: field {column_!r} must hold household numbers; "
                           f"{int(bad.sum())} {what} have text there ({sample}). Fix them or "
                           "name another field with --households.")
    if (values < 0).any():
        sample = ", ".join(map(str, pd.Series(ids)[(values < 0).to_numpy()].head(5)))
        raise GridmapError(f"{source}: field {column_!r} has negative household numbers ({sample}).")
    return values.to_numpy(dtype=float)


def compound_households(comp: pd.DataFrame, column_: str, source: str) -> np.ndarray:
    """Households per compound; blanks count as 0 (warned)."""
    values = household_values(comp, column_, source)
    blank = np.isnan(values)
    if blank.any():
        warnings.warn(f"{source}: {int(blank.sum())} compounds have no {column_}; they count as 0 "
                      "households", GridmapWarning, stacklevel=3)
    return np.nan_to_num(values)


def grid_ids_of(grids: gpd.GeoDataFrame, grid_id: str | None) -> np.ndarray:
    """The grid ids as text, read before any work (for ``--keep``)."""
    gid = find_field(grids, "grid_id", grid_id)
    return id_strings(grids[gid]).to_numpy(dtype=object)


def keep_mask(keep, g_ids: np.ndarray, source: str) -> np.ndarray:
    """Grids named by ``--keep``; unknown ids raise."""
    wanted = [str(k).strip() for k in (keep or ()) if str(k).strip()]
    known = set(g_ids)
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise GridmapError(f"--keep names grids that {source} does not have: {', '.join(unknown)}. "
                           f"Grid ids look like {', '.join(map(str, g_ids[:5]))}.")
    return np.isin(g_ids, wanted)


def in_scope(comp: gpd.GeoDataFrame, types, source: str) -> np.ndarray:
    """Compounds whose type is among ``types`` (all when ``types`` is empty).

    Compounds with no type (outlines inferred from buildings) are in scope: they are the
    compounds without clear boundaries that alignment is for.
    """
    if not types:
        return np.ones(len(comp), dtype=bool)
    field_ = find_field(comp, "compound_type", required=False, exclude=vocab.COMPUTED_COLUMNS)
    if field_ is None:
        raise GridmapError(f"{source}: --types needs a compound type field ({', '.join(settings.FIELDS['compound_type'])}); "
                           "the layer has none.")
    # Types as street offices write them (老旧小区) count as the type they mean (老旧型).
    values = comp[field_].map(lambda v: v if v is None or v != v else vocab.canonical_type(v))
    types = [vocab.canonical_type(t) for t in types]
    present = sorted(set(values.dropna().astype(str)))
    unknown = [t for t in types if t not in present]
    if unknown:
        raise GridmapError(f"{source}: no compound has type {', '.join(unknown)} in field {field_!r}; "
                           f"the types present are {', '.join(present) or 'none'}.")
    return (values.astype(str).isin(types) | values.isna()).to_numpy()


def check_reachable(before: np.ndarray, zone: np.ndarray, low: float, high: float, g_ids: np.ndarray) -> None:
    """Refuse a household range that no grid can meet, before any boundary is redrawn; warn when
    none meets it now.

    A grid never crosses a community, so it can hold at most its community's households: a
    minimum above every community's total cannot be met by any proposal (a typo such as
    3000:5000 for 300:500 in a small district). A range that no grid meets today but some could
    is allowed (alignment then keeps every grid out of it from growing in number), with a warning.
    """
    known = np.isfinite(before)
    if not known.any():
        return
    totals = np.bincount(zone[known], weights=before[known])
    if totals.max(initial=0) < low:
        raise GridmapError(f"--grid-households {low:g}:{high:g}: no grid can meet this range: even a grid "
                           f"holding a whole community would have at most {totals.max():,.0f} households. "
                           f"Give a smaller range (the grids hold {np.median(before[known]):,.0f} households "
                           "at the median).")
    inside = known & (before >= low) & (before <= high)
    if not inside.any():
        q = np.percentile(before[known], [10, 50, 90])
        warnings.warn(f"--grid-households {low:g}:{high:g}: no grid meets this range now (they hold "
                      f"{q[0]:,.0f}–{q[2]:,.0f} households, median {q[1]:,.0f}; e.g. "
                      f"{', '.join(map(str, g_ids[:3]))}); check the range", GridmapWarning, stacklevel=3)


# ------------------------------------------------------------------ geometry helpers


def disjoint(C: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The compounds at ``order`` less the earlier ones they overlap (others empty).

    Overlapping compounds (a sub-compound drawn inside its estate) would otherwise have their
    shared land, and its households, counted and moved twice.
    """
    D = np.full(len(C), EMPTY, dtype=object)
    if not len(order):
        return D
    geoms = C[order]
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    earlier = j < i
    i, j = i[earlier], j[earlier]
    out = geoms.copy()
    if len(i):
        # Touching is not overlapping: only pairs sharing area are cut.
        real = shapely.area(shapely.intersection(geoms[i], geoms[j])) > NOISE_M2
        i, j = i[real], j[real]
    if len(i):
        hit = np.unique(i)
        cover = grouped_union(geoms[j], np.searchsorted(hit, i), len(hit), grid_size=PRECISION)
        out[hit] = polygons_only(shapely.difference(geoms[hit], cover, grid_size=PRECISION))
    D[order] = out
    return D


def first_container(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the first polygon holding each point; -1 where none."""
    out = np.full(len(points), -1, dtype=np.intp)
    if not len(points) or not len(polygons):
        return out
    p, q = shapely.STRtree(polygons).query(points, predicate="intersects")
    if len(p):
        order = np.lexsort((q, p))
        p, q = p[order], q[order]
        first = np.r_[True, p[1:] != p[:-1]]
        out[p[first]] = q[first]
    return out


def shared_areas(a: np.ndarray, b: np.ndarray, tree: shapely.STRtree | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area (m²) shared by every pair of ``a`` and ``b`` whose interiors meet.

    Neighbours that only touch are dropped first by a relate (far cheaper than an overlay), and
    pairs where one holds the other take its area; only the rest are intersected.

    Returns positions in ``a`` and ``b`` and the shared areas. ``tree`` is an STRtree of ``b``
    when the caller keeps one.
    """
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    ia, ib = (tree or shapely.STRtree(b)).query(a, predicate="intersects")
    if not len(ia):
        return ia, ib, np.zeros(0)
    meet = ~shapely.touches(a[ia], b[ib])
    ia, ib = ia[meet], ib[meet]
    shapely.prepare(b)
    # ``contains`` (not ``contains_properly``): a piece cut from a polygon shares its boundary.
    inside = shapely.contains(b[ib], a[ia])
    area = np.where(inside, shapely.area(a[ia]), 0.0)
    rest = np.flatnonzero(~inside)
    if len(rest):
        shapely.prepare(a)
        holds = shapely.contains(a[ia[rest]], b[ib[rest]])
        area[rest[holds]] = shapely.area(b[ib[rest[holds]]])
        rest = rest[~holds]
        area[rest] = shapely.area(shapely.intersection(a[ia[rest]], b[ib[rest]]))
    keep = area > 0
    return ia[keep], ib[keep], area[keep]


# ------------------------------------------------------------------ communities


@dataclass
class Zones:
    """The administrative unit (district / street / community) of each grid.

    ``code`` is a number per grid: land never moves between grids of different codes. ``labels``
    names each code; ``fields`` are the grid columns that define it (copied into new grids);
    ``source`` says where it came from: the grids' own fields, the communities layer, or nothing
    (one zone for all).
    """

    code: np.ndarray
    labels: np.ndarray
    fields: list[str]
    source: str
    values: pd.DataFrame


def grid_zones(grd: gpd.GeoDataFrame, G: np.ndarray, communities: gpd.GeoDataFrame | None, crs,
               community_field: str | None = None) -> Zones:
    """The community (and street, district) of every grid.

    From the grids' own fields when they have any (docs/design.md §4: ``community``/社区/所属社区, and
    ``street``/街道, ``district``/区); else from a communities polygon layer, each grid going to
    the community it shares most area with (not a point lookup: a grid's inner point can fall
    across a line it straddles by a few metres); else every grid is in one zone.
    """
    exclude = tuple(grd.columns[:4])
    fields = {}
    for meaning in ZONE_MEANINGS:
        explicit = community_field if meaning == "community" and community_field in grd.columns else None
        f = find_field(grd, meaning, explicit, required=False, exclude=exclude)
        if f is not None and f not in fields.values():
            fields[meaning] = f
    n = len(G)
    if fields:
        values = grd[list(fields.values())].reset_index(drop=True)
        text = _texts(values)
        blank = (text[fields.get("community", next(iter(fields.values())))] == "").to_numpy()
        if blank.any() and not blank.all():
            sample = ", ".join(map(str, grd.grid_id.to_numpy()[blank][:8]))
            warnings.warn(f"{int(blank.sum())} grids have no {', '.join(fields.values())} ({sample}); they "
                          "form a zone of their own: land moves only among them", GridmapWarning, stacklevel=3)
        return _zones(_joined_key(text), list(fields.values()), "grids", values)
    if communities is not None and len(communities):
        comm = communities.reset_index(drop=True)
        c_fields = {}
        for meaning in ZONE_MEANINGS:
            f = find_field(comm, meaning, required=False)
            if f is not None:
                c_fields[meaning] = f
        if "community" not in c_fields:
            name = next((c for c in comm.columns if str(c).lower() in ("name", "社区名称", "名称", "community_id")), None)
            if name is not None:
                c_fields["community"] = name
        polys = comm.geometry.to_crs(crs).to_numpy()
        table = overlap_table(G, polys)
        best = table.sort_values(["compound", "overlap_m2"], ascending=[True, False]).drop_duplicates("compound")
        which = np.full(n, -1, dtype=np.intp)
        which[best.compound.to_numpy()] = best.grid.to_numpy()
        if c_fields:
            names = _texts(comm[list(c_fields.values())])
        else:
            names = pd.DataFrame({"community": [f"社区{i + 1}" for i in range(len(comm))]})
        out_cols = {m: settings.FIELDS[m][0] for m in c_fields} or {"community": "community"}
        values = pd.DataFrame({out_cols[m]: np.where(which >= 0, names[c].to_numpy(dtype=object)[which], "")
                               for m, c in (c_fields.items() or [("community", "community")])})
        if (which < 0).any():
            warnings.warn(f"{int((which < 0).sum())} grids lie in no community of the communities layer; "
                          "they form a zone of their own", GridmapWarning, stacklevel=3)
        return _zones(_joined_key(values), list(values.columns), "communities layer", values)
    return _zones(np.full(n, "", dtype=object), [], "", pd.DataFrame(index=range(n)))


def _zones(key: np.ndarray, fields: list[str], source: str, values: pd.DataFrame) -> Zones:
    labels, code = np.unique(key.astype(str), return_inverse=True)
    return Zones(code=code.astype(np.intp), labels=labels.astype(object), fields=fields, source=source,
                 values=values)


def _texts(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns as stripped text, '' where missing (ids held as integral floats lose their ``.0``)."""
    out = {}
    for col in frame.columns:
        v = id_strings(frame[col].reset_index(drop=True))
        out[col] = v.fillna("").astype(str)
    return pd.DataFrame(out)


def _joined_key(text: pd.DataFrame) -> np.ndarray:
    """One key per row joining the columns with '/'."""
    cols = [text[c].astype(str) for c in text.columns]
    key = cols[0]
    for c in cols[1:]:
        key = key + "/" + c
    return key.to_numpy(dtype=object)


# ------------------------------------------------------------------ households


@dataclass
class Households:
    """The user's household figures, per grid and on any piece of land.

    ``before`` holds each grid's households (whole numbers, NaN where unknown): its own field when
    given, else the sum of its buildings', else its compounds' shares. ``basis`` says which, per
    grid. Households are then located on the land, so that any piece can be given its share:

    - in a grid with buildings, on the buildings (their households, scaled to the grid's figure);
    - else, in each compound's part of the grid, the compound's households by area share, and
      the rest of the grid's figure spread over its land outside compounds;
    - else spread evenly over the grid.

    ``of`` gives the (fractional) households on pieces of land; whole figures per piece come from
    apportioning each grid's figure over the pieces it is cut into (``tables.apportion``).
    """

    before: np.ndarray
    basis: np.ndarray
    field: str | None
    G: np.ndarray
    k_open: np.ndarray            # per grid: households per m² (land outside compounds, or all land)
    atoms: np.ndarray             # compound parts of grids with a density of their own
    k_atom: np.ndarray            # their households per m² over the grid's k_open
    points: np.ndarray | None     # building points
    point_hh: np.ndarray | None   # households per building point, scaled to its grid's figure
    by_buildings: np.ndarray      # per grid: households located by buildings
    atom_key: tuple | None = None  # (compound, grid) of each of ``atoms``

    def __post_init__(self):
        # Built once: ``of`` is called many times on a few pieces each.
        self._dens = np.flatnonzero(~self.by_buildings & (self.k_open > 0))
        self._trees = (shapely.STRtree(self.G[self._dens]) if len(self._dens) else None,
                       shapely.STRtree(self.atoms) if len(self.atoms) else None)
        if self.points is not None and len(self.points):
            self._point_tree = shapely.STRtree(self.points)

    @property
    def known(self) -> bool:
        return bool(np.isfinite(self.before).any())

    def of_in(self, pieces: np.ndarray, compound: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """Households on pieces each known to lie in one input grid and in one compound's part of
        it (``compound`` -1: outside compounds), as cut by the redraw: densities times areas (and
        building points), no overlay. Overlay snap-rounding can put a piece's edge a micrometre
        outside the grid it was cut from, which the general ``of`` would have to intersect."""
        pieces = np.asarray(pieces, dtype=object)
        area = shapely.area(pieces)
        k = self.k_open[grid].copy()
        if len(self.atoms) and self.atom_key is not None:
            key = pd.Series(self.k_atom, index=pd.MultiIndex.from_arrays(self.atom_key))
            key = key[~key.index.duplicated()]
            extra = key.reindex(pd.MultiIndex.from_arrays([compound, grid])).to_numpy()
            k += np.where(compound >= 0, np.nan_to_num(extra), 0.0)
        out = area * np.where(self.by_buildings[grid], 0.0, k)
        if self.points is not None and len(self.points):
            on_b = np.flatnonzero(self.by_buildings[grid])
            if len(on_b):
                q, p = self._point_tree.query(pieces[on_b], predicate="intersects")
                order = np.lexsort((q, p))
                p, q = p[order], q[order]
                first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, dtype=bool)
                out[on_b] += np.bincount(q[first], weights=self.point_hh[p[first]], minlength=len(on_b))
        return np.maximum(out, 0.0)

    def of(self, pieces: np.ndarray) -> np.ndarray:
        """Households (float, ≥ 0) on each piece of land (metric polygons, anywhere)."""
        pieces = np.asarray(pieces, dtype=object)
        out = np.zeros(len(pieces))
        if not len(pieces):
            return out
        live = ~shapely.is_empty(pieces)
        if not live.any():
            return out
        idx = np.flatnonzero(live)
        dens = self._dens
        if len(dens):
            i, j, area = shared_areas(pieces[idx], self.G[dens], self._trees[0])
            out[idx] += np.bincount(i, weights=area * self.k_open[dens][j], minlength=len(idx))
        if len(self.atoms):
            i, j, area = shared_areas(pieces[idx], self.atoms, self._trees[1])
            out[idx] += np.bincount(i, weights=area * self.k_atom[j], minlength=len(idx))
        if self.points is not None and len(self.points):
            q, p = self._point_tree.query(pieces[idx], predicate="intersects")
            if len(p):
                # A point on the line between two pieces counts once.
                order = np.lexsort((q, p))
                p, q = p[order], q[order]
                first = np.r_[True, p[1:] != p[:-1]]
                out[idx] += np.bincount(q[first], weights=self.point_hh[p[first]], minlength=len(idx))
        return np.maximum(out, 0.0)


def _apportioned(total: np.ndarray, owner: np.ndarray, weight: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Whole parts of each owner's total over its items by weight (largest remainders); ``rest``
    is each owner's weight not among the items (its share is left out)."""
    wsum = np.bincount(owner, weights=weight, minlength=len(total)) + rest
    exact = total[owner] * weight / np.maximum(wsum[owner], 1e-12)
    base = np.floor(exact + 1e-9)
    target = np.round(total * (wsum - rest) / np.maximum(wsum, 1e-12))
    left = (target - np.bincount(owner, weights=base, minlength=len(total)))[owner]
    rank = pd.Series(base - exact).groupby(owner).rank(method="first").to_numpy()
    return base + (rank <= left)


def build_households(grd: gpd.GeoDataFrame, G: np.ndarray, C: np.ndarray, comp_hh: np.ndarray | None,
                     buildings: gpd.GeoDataFrame | None, crs, *, field: str | None = None,
                     building_households: str | None = None,
                     overlaps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Households:
    """The households model of ``Households`` from the grids' field, buildings and compounds.

    Parameters
    ----------
    grd : GeoDataFrame
        The classification's grids (input attributes after gridmap's first four columns).
    G, C : arrays
        Grids and compounds in the metric CRS.
    comp_hh : array, optional
        Households per compound.
    buildings : GeoDataFrame, optional
        Buildings (footprints or points) with a households field.
    field, building_households : str, optional
        The grids' and buildings' households fields; by default the recognised names.
    overlaps : (compound, grid, area m²) arrays, optional
        The compounds' overlaps with the grids, as classify measured them: reused for compounds
        that overlap no other compound.
    """
    n = len(G)
    exclude = tuple(grd.columns[:4])
    g_field = find_field(grd, "households", field if field in grd.columns else None, required=False,
                         exclude=exclude)
    if field and g_field is None:
        g_field = find_field(grd, "households", field)  # raises naming the fields
    own = np.full(n, np.nan)
    if g_field is not None:
        own = household_values(grd, g_field, grd.attrs.get("source", "grids"), ids=grd.grid_id, what="grids")

    # Compound land: compounds made disjoint (smaller first: a sub-compound keeps its land).
    area_g = shapely.area(G)
    atoms = np.empty(0, dtype=object)
    atom_grid = np.empty(0, dtype=np.intp)
    atom_comp = np.empty(0, dtype=np.intp)
    comp_w = np.zeros(n)
    comp_area = np.zeros(n)
    d_area = np.zeros(len(C))
    if comp_hh is not None and len(C):
        order = np.argsort(shapely.area(C), kind="stable")
        D = disjoint(C, order)
        cut = ~shapely.equals_exact(D, C, 0)
        if overlaps is None or cut.all():
            atom_comp, atom_grid, shared = shared_areas(D, G)
        else:
            oc, og, oa = overlaps
            mine = ~cut[oc]
            cc, cg, ca = shared_areas(D[cut], G) if cut.any() else (np.empty(0, int),) * 3
            atom_comp = np.r_[oc[mine], np.flatnonzero(cut)[cc]].astype(np.intp)
            atom_grid = np.r_[og[mine], cg].astype(np.intp)
            shared = np.r_[oa[mine], ca].astype(float)
        keep = shared > NOISE_M2
        atom_comp, atom_grid, shared = atom_comp[keep], atom_grid[keep], shared[keep]
        # A compound's households are spread over all its land, in grids or not, in whole
        # households per grid (largest remainders), so that the grids' figures add up to the
        # compounds' where grids have none of their own.
        d_area = shapely.area(D)
        whole_hh = np.round(comp_hh)
        outside = np.maximum(d_area - np.bincount(atom_comp, weights=shared, minlength=len(C)), 0.0)
        w = _apportioned(whole_hh, atom_comp, shared, outside)
        comp_w = np.bincount(atom_grid, weights=w, minlength=n)
        atom_w, atom_area = w, shared
        comp_area = np.bincount(atom_grid, weights=shared, minlength=n)
        whole = shared >= d_area[atom_comp] * (1 - 1e-9)
        atoms = np.where(whole, D[atom_comp], EMPTY)
        part = ~whole
        # (Household densities need no snap-rounding: plain overlay, much cheaper.)
        atoms[part] = shapely.intersection(D[atom_comp[part]], G[atom_grid[part]])

    # Buildings: points with households (their own field, else their compound's shared out).
    points = point_hh = None
    by_buildings = np.zeros(n, dtype=bool)
    b_sum = np.zeros(n)
    if buildings is not None and len(buildings):
        b = buildings[buildings.geometry.notna() & ~buildings.geometry.is_empty]
        pts = shapely.point_on_surface(b.geometry.to_crs(crs).to_numpy())
        b_field = find_field(b, "households", building_households if building_households in b.columns else None,
                             required=False)
        bw = None
        if b_field is not None:
            ids = b[find_field(b, "building_id", required=False)] if find_field(b, "building_id", required=False) else None
            bw = np.nan_to_num(household_values(b, b_field, b.attrs.get("source", "buildings"),
                                                ids=ids if ids is not None else pd.Series(range(len(b))),
                                                what="buildings"))
        elif comp_hh is not None:
            home = first_container(pts, C)
            count = np.bincount(home[home >= 0], minlength=len(C))
            bw = np.where(home >= 0, comp_hh[np.maximum(home, 0)] / np.maximum(count[np.maximum(home, 0)], 1), 0.0)
        if bw is not None:
            grid_of = first_container(pts, G)
            b_sum = np.bincount(grid_of[grid_of >= 0], weights=bw[grid_of >= 0], minlength=n)
            by_buildings = b_sum > 0
            points, point_hh, point_grid = pts, bw, grid_of
        else:
            log.info("buildings carry no households and compounds none: buildings not used for households")

    # Each grid's figure: its own, else its buildings', else its compounds'.
    before = own.copy()
    basis = np.where(np.isfinite(own), "grids", "").astype(object)
    fill = ~np.isfinite(before) & by_buildings
    before[fill], basis[fill] = b_sum[fill], "buildings"
    if comp_hh is not None:
        fill = ~np.isfinite(before)
        before[fill], basis[fill] = comp_w[fill], "compounds"
    elif points is not None:
        fill = ~np.isfinite(before)
        before[fill], basis[fill] = 0.0, "buildings"
    if g_field is not None:
        blank = ~np.isfinite(own)
        if blank.any():
            sample = ", ".join(map(str, grd.grid_id.to_numpy()[blank][:8]))
            known = "counted from " + ("their buildings or compounds" if basis[blank].any() else "nothing: unknown")
            warnings.warn(f"{grd.attrs.get('source', 'grids')}: {int(blank.sum())} grids have no {g_field} "
                          f"({sample}); their households are {known}, and the household range is "
                          "enforced with what is known", GridmapWarning, stacklevel=3)
    # Whole households: a figure from shares is rounded once, here, and used everywhere after.
    before = np.where(np.isfinite(before), np.round(before), np.nan)

    # Where the households are on the land.
    h = np.nan_to_num(before)
    if points is not None:
        scale = np.where(b_sum > 0, h / np.maximum(b_sum, 1e-12), 0.0)
        point_hh = np.where(point_grid >= 0, point_hh * scale[np.maximum(point_grid, 0)], 0.0)
        point_hh[point_grid >= 0] *= by_buildings[point_grid[point_grid >= 0]]
    dens = ~by_buildings
    open_area = np.maximum(area_g - comp_area, 0.0)
    with_comp = dens & (comp_w > 0)
    residual = np.where(open_area > 1.0, np.maximum(h - comp_w, 0.0), 0.0)
    total = comp_w + residual
    s = np.where(total > 0, h / np.maximum(total, 1e-12), 0.0)
    k_open = np.where(with_comp, s * residual / np.maximum(open_area, 1e-9),
                      np.where(dens, h / np.maximum(area_g, 1e-9), 0.0))
    k_atom = np.zeros(0)
    if len(atoms):
        use = with_comp[atom_grid]
        atoms, atom_grid, atom_comp = atoms[use], atom_grid[use], atom_comp[use]
        atom_w, atom_area = atom_w[use], atom_area[use]
        # Each compound part's own whole households over its area (the figures the grids add up).
        dens_c = atom_w / np.maximum(atom_area, 1e-9)
        k_atom = s[atom_grid] * dens_c - k_open[atom_grid]
    else:
        atom_comp = atom_grid = np.empty(0, dtype=np.intp)
    return Households(before=before, basis=basis, field=g_field, G=G, k_open=k_open, atoms=atoms,
                      k_atom=k_atom, points=points, point_hh=point_hh, by_buildings=by_buildings,
                      atom_key=(atom_comp, atom_grid))


# ------------------------------------------------------------------ the problem


@dataclass
class Problem:
    """Everything fixed for one ``align`` call: the cleaned inputs in the metric CRS, the scope,
    the grids to keep, communities, households and the household range.

    ``reference`` is, per zone, the number of grids outside the household range before alignment:
    the count alignment may not increase.
    """

    C: np.ndarray
    c_ids: np.ndarray
    G: np.ndarray
    g_ids: np.ndarray
    scope: np.ndarray
    kept: np.ndarray
    zones: Zones
    households: Households | None
    low: float
    high: float
    nest: float
    sliver: float
    reference: dict
    #: Run the greedy pass too, to compare with the optimiser (``summary["assignment"]``).
    baseline: bool = False
    #: A planner's edits (``edits``): per compound, the grid (position) it was placed in, -1 if none.
    fixed: np.ndarray | None = None

    @property
    def capacity(self) -> bool:
        """Whether household figures are known (the range is enforced)."""
        return self.households is not None and self.households.known

    @property
    def edited(self) -> np.ndarray:
        """Compounds a planner placed in a grid."""
        return np.zeros(len(self.C), dtype=bool) if self.fixed is None else self.fixed >= 0

    def protected(self, n_labels: int) -> np.ndarray:
        """Labels (of ``n_labels``) a planner placed a compound in: never dissolved, tiled or given away."""
        out = np.zeros(n_labels, dtype=bool)
        if self.fixed is not None:
            out[self.fixed[self.fixed >= 0]] = True
        return out


def outside_reference(before: np.ndarray, zone: np.ndarray, low: float, high: float) -> dict:
    """Grids outside [low, high] households per zone (unknown figures are not counted)."""
    out = np.isfinite(before) & ((before < low) | (before > high))
    counts = np.bincount(zone[out], minlength=int(zone.max(initial=-1)) + 1)
    return {int(z): int(counts[z]) if z < len(counts) else 0 for z in np.unique(zone)}
