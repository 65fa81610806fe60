"""What the pages draw, prepared once: the pages (one per community, or per section of neighbouring
grids) and every layer with the page of each of its features."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import settings, vocab
from gridmap.classify import Classification
from gridmap.errors import GridmapError
from gridmap.io import find_field
from gridmap.maps.layers import (INDEX_SIMPLIFY, UNASSIGNED, Layer, building_layer, compound_layer,
                                 display_geometries, grid_layer, microgrid_layer, positions_by_page, reach_columns,
                                 station_layer, stripped_text, worker_ids)

#: Most grids on one map section when the data has no communities (issue 5: "a few dozen").
SECTION_GRIDS: int = 40


@dataclass
class Page:
    """One map page: its key in the tables, file name and title."""

    key: str
    file: str
    title: str
    kind: str  # "community", "section" or "unassigned"


@dataclass
class PageData:
    """What one community (or section) page draws: its share of every layer and of the organisation,
    cut from the :class:`Context` in one pass for all pages (:meth:`Context.page_data`). It holds
    nothing of other pages, so that a page can be drawn in another process."""

    page: Page
    compounds: Layer
    grids: Layer
    microgrids: Layer | None
    buildings: Layer | None
    stations: Layer | None
    outline: Layer
    reach: Layer | None  # the page's compounds beyond walk_m of every station
    compound_situations: np.ndarray  # situation code per compound of the page
    grid_situations: np.ndarray
    grid_compound_ids: np.ndarray  # compound_ids (LIST_SEP-joined) per grid of the page
    org: dict | None  # the units covering the page and their ancestors, in the table's order
    org_rows: list[tuple[str, str, str]]  # (unit_id, what, id) of the page's features
    type_order: list[str]
    walk_m: float
    reach_measured: str | None


@dataclass
class Context:
    """Everything the pages draw, prepared once: layers with display geometries and page keys."""

    pages: dict[str, Page]
    compounds: Layer
    grids: Layer
    microgrids: Layer | None
    buildings: Layer | None
    stations: Layer | None
    outlines: Layer  # one polygon per page: the community, or the hull of a section's grids
    org: dict | None
    org_ids: pd.DataFrame | None
    classification: Classification
    gcj02: bool
    type_order: list[str]
    reach: Layer | None = None  # the compounds beyond walk_m of every station
    walk_m: float = 0.0  # the walking distance reach was judged with (m)
    reach_measured: str | None = None  # "沿道路" or "直线", as measured
    _org_by_page: dict | None = None

    def org_rows(self, page: Page) -> list[tuple[str, str, str]]:
        """(unit_id, what, id) of the organisation rows whose compound, grid or building is drawn
        on ``page``; grouped for all pages at the first call."""
        if self._org_by_page is None:
            ids = self.org_ids
            where = pd.Series(None, index=ids.index, dtype=object)
            for what, layer in (("compound", self.compounds), ("grid", self.grids), ("building", self.buildings)):
                if layer is None or layer.ids is None:
                    continue
                page_of = pd.Series(layer.page, index=layer.ids.to_numpy())
                page_of = page_of[~page_of.index.duplicated()]
                rows = ids.what == what
                where[rows] = ids.id[rows].map(page_of)
            # Object arrays: iterating pandas' (Arrow) string columns row by row is slow.
            on = where.to_numpy(dtype=object)
            rows = list(zip(ids.unit_id.to_numpy(dtype=object).tolist(), ids.what.to_numpy(dtype=object).tolist(),
                            ids.id.to_numpy(dtype=object).tolist()))
            self._org_by_page = {k: [rows[i] for i in at.tolist()]
                                 for k, at in positions_by_page(np.where(pd.isna(on), None, on)).items()}
        return self._org_by_page.get(page.key, [])

    def page_data(self):
        """A :class:`PageData` per page, in page order: each layer is cut by one sort for all
        pages, and a page's units are its own and their ancestors (not the area's)."""
        empty = np.empty(0, dtype=np.int64)
        cut = {name: positions_by_page(layer.page) if layer is not None else {}
               for name, layer in (("compounds", self.compounds), ("grids", self.grids),
                                   ("microgrids", self.microgrids), ("buildings", self.buildings),
                                   ("stations", self.stations), ("outlines", self.outlines), ("reach", self.reach))}
        c_sit = self.classification.compounds["situation"].to_numpy()
        g_sit = self.classification.grids["situation"].to_numpy()
        g_cids = self.classification.grids["compound_ids"].fillna("").to_numpy(dtype=object)
        position = {u: k for k, u in enumerate(self.org)} if self.org is not None else {}
        for key, page in self.pages.items():
            def take(name, layer):
                return None if layer is None else layer.take(cut[name].get(key, empty))

            c_rows, g_rows = cut["compounds"].get(key, empty), cut["grids"].get(key, empty)
            rows, units = [], None
            if self.org is not None:
                rows = self.org_rows(page)
                keep: set[str] = set()
                for unit in dict.fromkeys(u for u, _, _ in rows):
                    while unit is not None and unit in self.org and unit not in keep:
                        keep.add(unit)
                        unit = self.org[unit]["parent_id"]
                units = {u: self.org[u] for u in sorted(keep, key=position.__getitem__)}
            yield PageData(page, take("compounds", self.compounds), take("grids", self.grids),
                           take("microgrids", self.microgrids), take("buildings", self.buildings),
                           take("stations", self.stations), take("outlines", self.outlines),
                           take("reach", self.reach), c_sit[c_rows], g_sit[g_rows], g_cids[g_rows], units, rows,
                           self.type_order, self.walk_m, self.reach_measured)

    @classmethod
    def build(cls, classification: Classification, *, buildings, microgrids, organisation,
              communities, stations, members, workers, gcj02, building_id, households,
              section_grids, reach=None, walk_m: float | None = None) -> Context:
        """Pages and layers from the run's frames (see :func:`gridmap.maps.make_maps` for each)."""
        walk_m = settings.WALK_M if walk_m is None else walk_m
        comps = classification.compounds
        grids = classification.grids
        grid_ids = stripped_text(grids["grid_id"])
        comp_ids = stripped_text(comps["compound_id"])
        metric = classification.crs

        grid_page, pages, outline_geoms = _assign_grids(grids, communities, metric, section_grids)
        page_of_grid = pd.Series(grid_page, index=grid_ids.to_numpy())
        page_of_grid = page_of_grid[~page_of_grid.index.duplicated()]
        comp_page = _assign_compounds(comps, grids, grid_page, communities, pages, metric)

        org, org_ids = _read_org(organisation)
        type_field = find_field(comps, "compound_type", required=False, exclude=vocab.COMPUTED_COLUMNS)
        types = (stripped_text(comps[type_field]).map(vocab.canonical_type) if type_field
                 else pd.Series(None, index=comps.index, dtype=object))
        type_order = [t for t in vocab.COMPOUND_TYPES if t in set(types.dropna())]
        type_order += sorted(set(types.dropna()) - set(type_order))

        c_layer = compound_layer(comps, comp_ids, types, type_order, comp_page, org_ids, org,
                                 gcj02, households)
        r_layer, measured = None, None
        if reach is not None:
            distance_text, beyond, measured = reach_columns(comps, comp_ids, reach, walk_m)
            c_layer.props["r"] = distance_text.to_numpy()
            c_layer.labels["r"] = "距党群服务站"
            mask = beyond.to_numpy()
            r_layer = Layer("reach", c_layer.geoms[mask], pd.DataFrame({"i": c_layer.props["i"].to_numpy()[mask]}),
                            c_layer.page[mask], comp_ids.reset_index(drop=True)[mask].reset_index(drop=True))
        worker_of_grid = worker_ids(workers)
        g_layer = grid_layer(grids, grid_ids, grid_page, org_ids, org, worker_of_grid, gcj02)

        mg_layer = None
        mg_of_building = pd.Series(dtype=object)
        if microgrids is not None and len(microgrids):
            mg_layer, mg_of_building = microgrid_layer(microgrids, grids, grid_page, page_of_grid,
                                                       worker_of_grid, gcj02)
        b_layer = None
        if buildings is not None and len(buildings):
            b_layer = building_layer(buildings, comps, comp_ids, comp_page, grids, grid_ids, grid_page,
                                     mg_of_building, microgrids, org_ids, org, members, gcj02,
                                     building_id, households)
        s_layer = None
        if stations is not None and len(stations):
            s_layer = station_layer(stations, grids, grid_page, metric, gcj02)

        used = set(grid_page) | set(comp_page)
        for layer in (b_layer, s_layer, mg_layer):
            if layer is not None:
                used |= set(layer.page)
        if UNASSIGNED in used and UNASSIGNED not in pages:
            pages[UNASSIGNED] = Page(UNASSIGNED, "", "未分配社区 (unassigned)", "unassigned")
        pages = {k: p for k, p in pages.items() if k in used}
        taken: set[str] = set()
        for page in pages.values():
            page.file = _safe_file(page.key, taken)

        keys = np.array(list(outline_geoms), dtype=object)
        o_geoms = np.array([outline_geoms[k] for k in keys], dtype=object)
        o_frame = gpd.GeoDataFrame({"k": keys}, geometry=list(o_geoms), crs=grids.crs)
        o_frame = o_frame[o_frame.k.isin(list(pages))]
        outlines = Layer("outlines", display_geometries(o_frame, gcj02=gcj02, simplify=INDEX_SIMPLIFY)
                         if len(o_frame) else np.array([], dtype=object),
                         pd.DataFrame({"k": o_frame.k.to_numpy()}), o_frame.k.to_numpy())
        return cls(pages, c_layer, g_layer, mg_layer, b_layer, s_layer, outlines, org, org_ids,
                   classification, gcj02, type_order, r_layer, walk_m, measured)


def _community_fields(layer: gpd.GeoDataFrame) -> tuple[str | None, str | None]:
    """Id and name fields of a communities layer."""
    cols = {str(c).lower(): c for c in layer.columns if c != layer.geometry.name}
    ident = next((cols[c] for c in ("community_id", "社区编码", "社区编号", "id", "community", "社区",
                                    "所属社区") if c in cols), None)
    name = next((cols[c] for c in ("name", "社区名称", "community_name", "community", "社区")
                 if c in cols), None)
    return ident or name, name or ident


def _assign_grids(grids: gpd.GeoDataFrame, communities, metric, section_grids: int
                  ) -> tuple[np.ndarray, dict[str, Page], dict[str, object]]:
    """Page key of each grid, the pages, and each page's outline (in the grids' CRS)."""
    field_ = find_field(grids, "community", required=False, exclude=vocab.COMPUTED_COLUMNS)
    page = np.full(len(grids), None, dtype=object)
    pages: dict[str, Page] = {}
    outlines: dict[str, object] = {}
    comm = None
    if communities is not None and len(communities):
        comm = communities.to_crs(grids.crs) if not communities.crs.equals(grids.crs) else communities
        cid, cname = _community_fields(comm)
        if cid is None:
            comm = comm.assign(_id=[str(i + 1) for i in range(len(comm))])
            cid = cname = "_id"
        comm = comm.assign(_key=stripped_text(comm[cid]), _name=stripped_text(comm[cname]))
        comm = comm[comm["_key"].notna()]
    if field_ is not None:
        values = stripped_text(grids[field_]).to_numpy(dtype=object)
        page[:] = values
        if comm is not None:
            # The field may hold the communities' ids or their names: show polygons either way.
            by_name = dict(zip(comm["_name"], comm["_key"]))
            page = np.array([v if v is None or v in set(comm["_key"]) else by_name.get(v, v)
                             for v in values], dtype=object)
    elif comm is not None:
        points = gpd.GeoDataFrame(geometry=grids.geometry.representative_point().to_numpy(), crs=grids.crs)
        hit = gpd.sjoin(points, comm[["_key", "geometry"]], predicate="within", how="left")
        hit = hit[~hit.index.duplicated()]
        page = hit["_key"].reindex(range(len(grids))).to_numpy(dtype=object)
        page = np.where(pd.isna(page), None, page)
    if comm is not None:
        for key, name, geom in zip(comm["_key"], comm["_name"], comm.geometry):
            pages.setdefault(key, Page(key, "", name or key, "community"))
            outlines.setdefault(key, geom)
    for key in dict.fromkeys(v for v in page if v is not None):
        if key not in pages:
            pages[key] = Page(key, "", key, "community")

    loose = np.flatnonzero(pd.isna(page))
    if len(loose):
        xy = shapely.get_coordinates(grids.geometry.iloc[loose].to_crs(metric).representative_point().to_numpy())
        if len(loose) <= section_grids:
            page[loose] = UNASSIGNED
            title = "未分配社区 (unassigned)" if pages else "全部网格 (all grids)"
            pages[UNASSIGNED] = Page(UNASSIGNED, "", title, "unassigned")
        else:
            labels = split_sections(xy, section_grids)
            prefix, title = (("unassigned", "未分配") if pages else ("section", "片区"))
            for n in range(labels.max() + 1):
                key = f"{prefix}-{n + 1:02d}"
                pages[key] = Page(key, "", f"{title} {n + 1}" + (" (unassigned)" if pages and prefix == "unassigned" else ""),
                                  "section")
            page[loose] = np.array([f"{prefix}-{n + 1:02d}" for n in labels], dtype=object)
    for key in dict.fromkeys(page):
        if key not in outlines:
            mask = page == key
            outlines[key] = shapely.union_all(grids.geometry.to_numpy()[mask])
    return page, pages, outlines


def _assign_compounds(comps, grids, grid_page, communities, pages, metric) -> np.ndarray:
    """A compound's page: its own community field, else its main grid's, else the community
    polygon or nearest grid holding it."""
    field_ = find_field(comps, "community", required=False, exclude=vocab.COMPUTED_COLUMNS)
    by_grid = pd.Series(grid_page, index=stripped_text(grids["grid_id"]).to_numpy())
    by_grid = by_grid[~by_grid.index.duplicated()]
    page = stripped_text(comps["main_grid_id"]).map(by_grid).to_numpy(dtype=object)
    if field_ is not None:
        own = stripped_text(comps[field_]).to_numpy(dtype=object)
        page = np.where(pd.notna(own) & np.isin(own, list(pages)), own, page)
    loose = np.flatnonzero(pd.isna(page))
    if len(loose) and len(grids):
        pts = gpd.GeoDataFrame(geometry=comps.geometry.iloc[loose].representative_point().to_numpy(),
                               crs=comps.crs).to_crs(metric)
        gm = gpd.GeoDataFrame({"_p": grid_page}, geometry=grids.geometry.to_numpy(), crs=grids.crs).to_crs(metric)
        near = gpd.sjoin_nearest(pts, gm, how="left", max_distance=2000)
        near = near[~near.index.duplicated()]
        page[loose] = near["_p"].reindex(range(len(loose))).to_numpy(dtype=object)
    return np.where(pd.isna(page), UNASSIGNED, page).astype(object)


def _read_org(organisation: pd.DataFrame | None) -> tuple[dict | None, pd.DataFrame | None]:
    """The units by id (unit_id, parent_id, kind, name, members, building_ids), and one row per
    (unit, kind of id, id) they cover."""
    if organisation is None or not len(organisation):
        return None, None
    missing = [c for c in ("unit_id", "parent_id", "kind", "name") if c not in organisation.columns]
    if missing:
        raise GridmapError(f"The organisation table has no {', '.join(missing)} column; it should "
                           "be organization.csv as written by gridmap org (unit_id, parent_id, "
                           f"kind, name, …). Its columns are {', '.join(map(str, organisation.columns))}.")
    org = organisation.copy()
    for col in ("unit_id", "parent_id", "kind", "name"):
        org[col] = stripped_text(org[col].astype(object))
    org = org[org.unit_id.notna()].drop_duplicates("unit_id")
    if "members" in org:
        org["members"] = pd.to_numeric(org["members"], errors="coerce")
    parts = []
    for col, what in (("compound_ids", "compound"), ("grid_ids", "grid"), ("building_ids", "building")):
        if col not in org:
            continue
        ids = org[col].fillna("").astype(str).str.split(settings.LIST_SEP).explode().str.strip()
        frame = pd.DataFrame({"unit_id": org.unit_id.reindex(ids.index).to_numpy(), "id": ids.to_numpy()})
        frame = frame[frame.id != ""]
        frame["what"] = what
        parts.append(frame)
    ids = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["unit_id", "id", "what"])
    ids = ids.merge(org[["unit_id", "kind", "name"]], on="unit_id", how="left")
    size = ids.groupby(["unit_id", "what"]).id.transform("size")
    ids["size"] = size
    keep = [c for c in ("unit_id", "parent_id", "kind", "name", "members", "building_ids") if c in org]
    units = {r["unit_id"]: r for r in org[keep].astype(object).where(org[keep].notna(), None).to_dict("records")}
    return units, ids


def split_sections(xy: np.ndarray, max_size: int = SECTION_GRIDS) -> np.ndarray:
    """Cut points into compact sections of at most ``max_size`` by recursive bisection.

    The point set is split across its longer side, in proportion to the number of sections
    each half should hold, until every part is small enough; sections come out of similar size
    and made of neighbours. Returns a section number per point, numbered north to south, then
    west to east, from 0.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Point coordinates, in metres or degrees.
    max_size : int
        Most points per section.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    labels = np.zeros(len(xy), dtype=int)
    if len(xy) == 0:
        return labels
    max_size = max(1, int(max_size))
    stack = [np.arange(len(xy))]
    parts: list[np.ndarray] = []
    while stack:
        idx = stack.pop()
        n = len(idx)
        k = -(-n // max_size)
        if k <= 1:
            parts.append(idx)
            continue
        pts = xy[idx]
        axis = int(np.ptp(pts[:, 0]) < np.ptp(pts[:, 1]))
        left = n * (k // 2) // k
        order = np.argsort(pts[:, axis], kind="stable")
        stack += [idx[order[:left]], idx[order[left:]]]
    centres = np.array([xy[p].mean(axis=0) for p in parts])
    rank = np.lexsort((centres[:, 0], -np.round(centres[:, 1], 3)))
    for number, part in enumerate(rank):
        labels[parts[part]] = number
    return labels


def _safe_file(key: str, taken: set[str]) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")[:40]
    if not slug or slug != key or slug.lower() in taken:
        slug = (slug + "-" if slug and slug.lower() not in taken else "") + \
            hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    taken.add(slug.lower())
    return f"community-{slug}.html"
