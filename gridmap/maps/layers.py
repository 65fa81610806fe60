"""Lean GeoJSON layers for the pages: display geometries, escaped fields, the page of each row.

One builder per kind of feature (compounds, grids, micro-grids, buildings, stations) turns a
GeoDataFrame into a :class:`Layer`: coordinates in longitude/latitude (GCJ-02-shifted for Gaode
tiles) rounded to :data:`DECIMALS` places, only the shown fields, each HTML-escaped, and the
short style keys (``_s`` situation, ``_t`` type) the page's style functions read.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import settings, vocab
from gridmap.errors import GridmapError
from gridmap.gcj02 import shift_geometries
from gridmap.io import find_field, id_strings
from gridmap.io.fields import looks_like_names
from gridmap.maps.safety import escape, escape_series, escape_text
from gridmap.org.programme import property_status

#: Decimal places kept in page coordinates: 6 is about 0.1 m.
DECIMALS: int = 6
#: Simplification tolerance (degrees, about 1 m) for the overview on ``index.html``.
INDEX_SIMPLIFY: float = 1e-5
#: Page key of features in no community.
UNASSIGNED = "unassigned"
#: Columns holding a grid worker's id (never a name).
WORKER_FIELDS = ("worker_id", "网格员编号", "网格员编码")


def display_geometries(gdf: gpd.GeoDataFrame, *, gcj02: bool = False,
                       simplify: float | None = None) -> np.ndarray:
    """Geometries as drawn: longitude/latitude, GCJ-02-shifted for Gaode tiles, optionally
    simplified (degrees), coordinates rounded to :data:`DECIMALS` places."""
    geoms = gdf.geometry
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs(4326)
    arr = geoms.to_numpy()
    if gcj02:
        arr = shift_geometries(arr)
    if simplify:
        arr = shapely.simplify(arr, simplify, preserve_topology=True)
    return shapely.transform(arr, lambda c: np.round(c, DECIMALS))


def bounds_by_id(ids: pd.Series, geoms: np.ndarray) -> dict[str, np.ndarray]:
    """(south, west, north, east) per id, in display coordinates."""
    if not len(ids):
        return {}
    b = shapely.bounds(geoms)[:, [1, 0, 3, 2]]
    keys = ids.to_numpy(dtype=object)
    if not ids.duplicated().any():
        return dict(zip(keys, b))
    frame = pd.DataFrame({"id": keys, "s": b[:, 0], "w": b[:, 1], "n": b[:, 2], "e": b[:, 3]})
    agg = frame.groupby("id").agg(s=("s", "min"), w=("w", "min"), n=("n", "max"), e=("e", "max"))
    return dict(zip(agg.index, agg.to_numpy()))


def bounds_attr(b) -> str:
    """Bounds as a ``data-b`` attribute: ``south,west,north,east`` to :data:`DECIMALS` places."""
    return ",".join(f"{v:.{DECIMALS}f}" for v in b)


@dataclass
class Layer:
    """A layer ready for pages: display geometries, escaped fields, style keys, page of each row.

    ``props`` holds Python objects with None for missing values, so that pages serialise it as is.
    """

    name: str
    geoms: np.ndarray
    props: pd.DataFrame
    page: np.ndarray
    ids: pd.Series | None = None
    labels: dict[str, str] = field(default_factory=dict)
    clean: bool = field(default=False, repr=False)

    def __post_init__(self):
        if not self.clean:
            self.props = self.props.astype(object).where(self.props.notna(), None)
            self.clean = True

    def subset(self, key: str) -> Layer:
        """The rows on page ``key`` (a pass over every row: :meth:`take` with :func:`positions_by_page`
        for every page at once)."""
        return self.take(np.flatnonzero(self.page == key))

    def take(self, rows: np.ndarray) -> Layer:
        """The rows at positions ``rows`` (increasing: the layer's order is kept)."""
        return Layer(self.name, self.geoms[rows], self.props.iloc[rows], self.page[rows],
                     None if self.ids is None else self.ids.iloc[rows], self.labels, clean=True)

    def __len__(self) -> int:
        return len(self.geoms)

    def data_script(self) -> str:
        """``gmFC([geometries…], {field: [values…]}, {field: [distinct values…]})``: the features
        as a JavaScript expression.

        Geometries come from ``shapely.to_geojson`` in one call, properties as one array per
        field (names are not repeated per feature), fields with few distinct values as codes into
        a list of them; ``gmFC``, inlined in each page's head, makes a FeatureCollection of them
        in the browser. ``<``, ``>``, ``&`` and ``'`` can only be inside
        JSON strings here and are written as ``\\u`` escapes, so the text is safe in a script.
        """
        geometry = shapely.to_geojson(np.asarray(self.geoms, dtype=object)).tolist() if len(self.geoms) else []
        columns, codes = {}, {}
        for k in self.props.columns:
            values = self.props[k]
            # A field with few distinct values (situation, type, community) is sent as codes
            # into a list of its values.
            uniques = values.dropna().unique() if len(values) > 8 else ()
            if 0 < len(uniques) <= len(values) // 4:
                code, labels = pd.factorize(values, use_na_sentinel=True)
                columns[k] = code.tolist()
                codes[k] = list(labels)
            else:
                columns[k] = values.tolist()
        dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
        text = f"gmFC([{','.join(geometry)}],{dumps(columns)},{dumps(codes)})"
        return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("'", "\\u0027"))

    def fields(self, wanted: list[str]) -> tuple[list[str], list[str]]:
        """The shown fields among ``wanted`` that have a value somewhere, with their labels."""
        keep = [f for f in wanted if f in self.props and self.props[f].notna().any()]
        return keep, [escape(self.labels.get(f, f)) for f in keep]


def positions_by_page(page: np.ndarray) -> dict[str, np.ndarray]:
    """The positions of each page's rows, in increasing order: one sort for every page."""
    codes, keys = pd.factorize(pd.Series(page, dtype=object), use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    return {key: order[bounds[i]:bounds[i + 1]] for i, key in enumerate(keys)}


def stripped_text(values: pd.Series) -> pd.Series:
    """Ids and names as stripped text; empty strings and NaN become None."""
    out = id_strings(values)
    return out.where(out.notna() & (out.astype(str) != ""), None)


def _unit_of(org_ids: pd.DataFrame | None, what: str, kinds: tuple[str, ...]) -> pd.Series:
    """Escaped name of the most specific unit of ``kinds`` covering each id of ``what``."""
    if org_ids is None:
        return pd.Series(dtype=object)
    rows = org_ids[(org_ids.what == what) & org_ids.kind.isin(kinds)]
    rows = rows.sort_values(["id", "size"]).drop_duplicates("id")
    label = np.where(rows.kind == "central_household", vocab.KIND_LABELS["central_household"],
                     rows["name"].fillna(rows.kind.map(vocab.KIND_LABELS)))
    return escape_text(pd.Series(label, index=rows.id.to_numpy()))


def worker_ids(workers: pd.DataFrame | None) -> pd.Series:
    """Escaped grid worker ids (never names) per grid id, several joined with ``; ``."""
    if workers is None or not len(workers):
        return pd.Series(dtype=object)
    gid = find_field(workers, "grid_id")
    wid = next((c for c in workers.columns if str(c).lower() in WORKER_FIELDS), None)
    if wid is None:
        raise GridmapError(f"{workers.attrs.get('source', 'The workers table')}: no worker_id column "
                           "(网格员编号); only worker ids are shown on maps, never names. The "
                           f"columns are {', '.join(map(str, workers.columns))}.")
    table = pd.DataFrame({"g": stripped_text(workers[gid]), "w": stripped_text(workers[wid])}).dropna()
    return table.groupby("g").w.agg(lambda v: "; ".join(dict.fromkeys(v))).map(escape)


def households_of(layer: gpd.GeoDataFrame, explicit: str | None) -> pd.Series:
    """A layer's households (the ``explicit`` column, else the recognised field) as escaped text."""
    name = explicit if explicit and explicit in layer.columns else None
    name = name or find_field(layer, "households", required=False, exclude=vocab.COMPUTED_COLUMNS)
    if name is None:
        return pd.Series(None, index=layer.index, dtype=object)
    return escape_series(pd.to_numeric(layer[name], errors="coerce")
                         if pd.to_numeric(layer[name], errors="coerce").notna().any() else layer[name])


def compound_layer(comps, comp_ids, types, type_order, page, org_ids, org, gcj02, households) -> Layer:
    """Compounds: name, id, type, households, situation, grids and party organisation."""
    name_field = find_field(comps, "compound_name", required=False, exclude=vocab.COMPUTED_COLUMNS)
    names = stripped_text(comps[name_field]) if name_field else comp_ids
    names = names.fillna(comp_ids)
    situation = comps["situation"].astype(str)
    sit_index = {s: i for i, s in enumerate(vocab.COMPOUND_SITUATIONS)}
    props = pd.DataFrame({
        "n": escape_text(names),
        "i": escape_text(comp_ids),
        "t": types.map(escape),
        "h": households_of(comps, households).to_numpy(),
        "s": situation.map(vocab.SITUATION_LABELS).fillna(situation).map(escape),
        "g": comps["grid_ids"].fillna("").astype(str).str.replace(settings.LIST_SEP, "; ").map(escape)
             .replace("", None),
        "b": comp_ids.map(_unit_of(org_ids, "compound", vocab.BRANCH_KINDS)),
        "_s": situation.map(sit_index).fillna(len(sit_index)).astype(int),
        "_t": types.map({t: i for i, t in enumerate(type_order)}).fillna(-1).astype(int),
    }, index=comps.index)
    labels = {"n": "小区", "i": "小区编码", "t": "类型", "h": "户数", "s": "情形", "g": "网格",
              "b": "党组织", "pm": "物业公司", "rp": "红色物业"}
    status = property_status(comps)  # property management, when the compounds say it
    if status is not None:
        yes_no = {True: vocab.YES_LABEL, False: vocab.NO_LABEL}
        props["pm"] = status.company.where(status.company.notna(), status.managed.map(yes_no)).map(
            lambda v: None if v is None or v != v else escape(v))
        props["rp"] = status.red.map(yes_no).map(lambda v: None if v is None or v != v else escape(v))
    return Layer("compounds", display_geometries(comps, gcj02=gcj02), props, np.asarray(page, dtype=object),
                 comp_ids.reset_index(drop=True), labels)


def reach_columns(comps: gpd.GeoDataFrame, comp_ids: pd.Series, reach: pd.DataFrame, walk_m: float
                  ) -> tuple[pd.Series, pd.Series, str | None]:
    """Each compound's station distance as popup text ("320 米（沿道路）", "无法到达"), whether it is
    beyond ``walk_m``, and how the distances were measured; indexed like ``comps``."""
    if "station_distance_m" not in reach.columns:
        raise GridmapError("The reach table has no station_distance_m column; it should come from "
                           "gridmap.reach.unserved (station_distance_m, served, measured). Its "
                           f"columns are {', '.join(map(str, reach.columns))}.")
    keys = stripped_text(reach["compound_id"]) if "compound_id" in reach.columns else None
    # Ids decide when they can (a reordered table may still carry a 0…n index); the index only
    # when they are missing or repeated.
    if keys is not None and keys.notna().all() and not keys.duplicated().any():
        table = reach.set_axis(keys.to_numpy()).reindex(comp_ids.to_numpy()).set_axis(comps.index)
    elif reach.index.equals(comps.index):
        table = reach
    else:
        raise GridmapError("The reach table is neither indexed like the compounds nor has a "
                           "compound_id column, so its distances cannot be matched to compounds.")
    distance = pd.to_numeric(table["station_distance_m"], errors="coerce")
    how = table["measured"].astype(object) if "measured" in table else pd.Series(None, index=table.index, dtype=object)
    how = how.map(lambda v: None if pd.isna(v) else vocab.MEASURED_LABELS.get(str(v), str(v)))
    text = [None if pd.isna(d) else "无法到达" if np.isinf(d) else
            f"{d:.0f} 米" + (f"（{h}）" if h else "") for d, h in zip(distance, how)]
    text = pd.Series(text, index=comps.index, dtype=object).map(escape)
    if "served" in table:
        served = table["served"].map(lambda v: None if pd.isna(v) else
                                     (str(v).strip().lower() in ("true", "1", "yes")) if isinstance(v, str) else bool(v))
        beyond = served.eq(False) & distance.notna()
    else:
        beyond = distance > walk_m
    kinds = how.dropna().unique()
    return text, beyond.astype(bool), "、".join(kinds) if len(kinds) else None


def grid_layer(grids, grid_ids, page, org_ids, org, worker_of_grid, gcj02) -> Layer:
    """Grids: id, name, situation, households, number of compounds, worker id and party organisation."""
    name_field = find_field(grids, "grid_name", required=False, exclude=vocab.COMPUTED_COLUMNS)
    names = stripped_text(grids[name_field]) if name_field else pd.Series(None, index=grids.index, dtype=object)
    situation = grids["situation"].astype(str)
    sit_index = {s: i for i, s in enumerate(vocab.GRID_SITUATIONS)}
    n_comps = grids["compound_ids"].fillna("").astype(str).map(
        lambda v: len([p for p in v.split(settings.LIST_SEP) if p]))
    worker = grid_ids.map(worker_of_grid) if len(worker_of_grid) else None
    if worker is None:
        wfield = next((c for c in grids.columns if str(c).lower() in WORKER_FIELDS
                       and not looks_like_names(grids[c])), None)  # names are never shown
        worker = stripped_text(grids[wfield]).map(escape) if wfield else pd.Series(None, index=grids.index, dtype=object)
    props = pd.DataFrame({
        "i": escape_text(grid_ids),
        "n": escape_text(names),
        "s": situation.map(vocab.SITUATION_LABELS).fillna(situation).map(escape),
        "h": households_of(grids, None).to_numpy(),
        "c": n_comps.astype(str),
        "w": worker.to_numpy(),
        "b": grid_ids.map(_unit_of(org_ids, "grid", vocab.BRANCH_KINDS)).to_numpy(),
        "_s": situation.map(sit_index).fillna(len(sit_index)).astype(int),
    }, index=grids.index)
    labels = {"i": "网格编码", "n": "网格", "s": "情形", "h": "户数", "c": "小区数", "w": "网格员编号",
              "b": "党组织"}
    return Layer("grids", display_geometries(grids, gcj02=gcj02), props, np.asarray(page, dtype=object),
                 grid_ids.reset_index(drop=True), labels)


def microgrid_layer(microgrids, grids, grid_page, page_of_grid, worker_of_grid, gcj02
                    ) -> tuple[Layer, pd.Series]:
    """Micro-grids (id, grid, households, worker id), and the micro-grid of each building they list."""
    mg = microgrids[microgrids.geometry.notna() & ~microgrids.geometry.is_empty]
    mid_field = next((c for c in mg.columns if str(c).lower() in ("microgrid_id", "微网格编码", "微网格编号")), None)
    mids = stripped_text(mg[mid_field]) if mid_field else pd.Series([str(i + 1) for i in range(len(mg))], index=mg.index)
    gid_field = find_field(mg, "grid_id", required=False)
    if gid_field is not None:
        gids = stripped_text(mg[gid_field])
    else:
        gids = _located_in(mg, grids, stripped_text(grids["grid_id"]).to_numpy(dtype=object))
    page = gids.map(page_of_grid).fillna(UNASSIGNED).to_numpy(dtype=object)
    wfield = next((c for c in mg.columns if str(c).lower() in ("worker", *WORKER_FIELDS)
                   and not looks_like_names(mg[c])), None)  # names are never shown
    props = pd.DataFrame({
        "i": escape_text(mids),
        "g": escape_text(gids),
        "h": households_of(mg, None).to_numpy(),
        "w": stripped_text(mg[wfield]).map(escape) if wfield else gids.map(worker_of_grid),
    }, index=mg.index)
    of_building = pd.Series(dtype=object)
    if "building_ids" in mg:
        exploded = mg["building_ids"].fillna("").astype(str).str.split(settings.LIST_SEP).explode().str.strip()
        of_building = pd.Series(mids.reindex(exploded.index).to_numpy(), index=exploded.to_numpy())
        of_building = of_building[of_building.index != ""]
        of_building = of_building[~of_building.index.duplicated()]
    labels = {"i": "微网格", "g": "网格", "h": "户数", "w": "网格员编号"}
    return Layer("microgrids", display_geometries(mg, gcj02=gcj02), props, page,
                 mids.reset_index(drop=True), labels), of_building


def _located_in(points_of: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame, values: np.ndarray) -> pd.Series:
    """The value of the polygon holding each feature's representative point (None outside)."""
    pts = gpd.GeoDataFrame(geometry=points_of.geometry.representative_point().to_numpy(), crs=points_of.crs)
    if polygons.crs is not None and pts.crs is not None and not pts.crs.equals(polygons.crs):
        pts = pts.to_crs(polygons.crs)
    poly = gpd.GeoDataFrame({"_v": values}, geometry=polygons.geometry.to_numpy(), crs=polygons.crs)
    hit = gpd.sjoin(pts, poly, predicate="within", how="left")
    hit = hit[~hit.index.duplicated()]
    out = hit["_v"].reindex(range(len(pts))).to_numpy(dtype=object)
    return pd.Series(np.where(pd.isna(out), None, out), index=points_of.index, dtype=object)


def building_layer(buildings, comps, comp_ids, comp_page, grids, grid_ids, grid_page, mg_of_building,
                   microgrids, org_ids, org, members, gcj02, building_id, households) -> Layer:
    """Buildings: id, compound, households, party members (a count, never names), group, grid and
    micro-grid; each on its compound's page, else its grid's."""
    b = buildings[buildings.geometry.notna() & ~buildings.geometry.is_empty]
    bid_field = find_field(b, "building_id", building_id if building_id in b.columns else None, required=False)
    bids = stripped_text(b[bid_field]) if bid_field else pd.Series([str(i + 1) for i in range(len(b))], index=b.index)
    in_grid = _located_in(b, grids, grid_ids.to_numpy(dtype=object))
    cfield = find_field(b, "compound_id", required=False)
    in_comp = stripped_text(b[cfield]) if cfield else _located_in(b, comps, comp_ids.to_numpy(dtype=object))
    page_by_grid = pd.Series(grid_page, index=grid_ids.to_numpy())
    page_by_grid = page_by_grid[~page_by_grid.index.duplicated()]
    page_by_comp = pd.Series(comp_page, index=comp_ids.to_numpy())
    page_by_comp = page_by_comp[~page_by_comp.index.duplicated()]
    page = in_comp.map(page_by_comp).fillna(in_grid.map(page_by_grid)).fillna(UNASSIGNED)
    name_of_comp = pd.Series(comps.get("name", comp_ids).to_numpy() if "name" in comps else comp_ids.to_numpy(),
                             index=comp_ids.to_numpy())
    name_of_comp = name_of_comp[~name_of_comp.index.duplicated()]
    pm_field = find_field(b, "party_members", required=False)
    if pm_field is not None:
        party = escape_series(pd.to_numeric(b[pm_field], errors="coerce"))
    elif members is not None and len(members):
        mb = find_field(members, "building_id")
        counts = stripped_text(members[mb]).value_counts()
        party = bids.map(counts).map(lambda v: None if pd.isna(v) else str(int(v)))
    else:
        party = pd.Series(None, index=b.index, dtype=object)
    if len(mg_of_building):
        mg = bids.map(mg_of_building)
    elif microgrids is not None and len(microgrids):
        mfield = next((c for c in microgrids.columns if str(c).lower() == "microgrid_id"), None)
        mg = _located_in(b, microgrids, stripped_text(microgrids[mfield]).to_numpy(dtype=object)) if mfield \
            else pd.Series(None, index=b.index, dtype=object)
    else:
        mg = pd.Series(None, index=b.index, dtype=object)
    props = pd.DataFrame({
        "i": escape_text(bids),
        "c": escape_text(in_comp.map(name_of_comp)),
        "h": households_of(b, households).to_numpy(),
        "p": party.to_numpy(),
        "gr": bids.map(_unit_of(org_ids, "building", ("group", "central_household"))).to_numpy(),
        "g": escape_text(in_grid).to_numpy(),
        "m": escape_text(mg).to_numpy(),
    }, index=b.index)
    labels = {"i": "楼栋", "c": "小区", "h": "户数", "p": "党员数", "gr": "党小组", "g": "网格", "m": "微网格"}
    return Layer("buildings", display_geometries(b, gcj02=gcj02), props, page.to_numpy(dtype=object),
                 bids.reset_index(drop=True), labels)


def station_layer(stations, grids, grid_page, metric, gcj02) -> Layer:
    """Service stations (points, named), each on the page of the nearest grid within 1 km."""
    s = stations[stations.geometry.notna() & ~stations.geometry.is_empty]
    name_field = next((c for c in s.columns if str(c).lower() in ("name", "名称", "服务站名称", "station")), None)
    names = stripped_text(s[name_field]) if name_field else pd.Series("党群服务站", index=s.index)
    pts = gpd.GeoDataFrame(geometry=s.geometry.representative_point().to_numpy(), crs=s.crs).to_crs(metric)
    gm = gpd.GeoDataFrame({"_p": grid_page}, geometry=grids.geometry.to_numpy(), crs=grids.crs).to_crs(metric)
    near = gpd.sjoin_nearest(pts, gm, how="left", max_distance=1000)
    near = near[~near.index.duplicated()]
    page = near["_p"].reindex(range(len(s))).fillna(UNASSIGNED).to_numpy(dtype=object)
    props = pd.DataFrame({"n": names.fillna("党群服务站").map(escape)}, index=s.index)
    points = gpd.GeoDataFrame(geometry=s.geometry.representative_point().to_numpy(), crs=s.crs)
    return Layer("stations", display_geometries(points, gcj02=gcj02), props, page, None, {"n": "党群服务站"})
