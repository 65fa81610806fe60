#!/usr/bin/env python
"""Build the bundled Taiyuan sample from the OpenStreetMap extract in ``../shared/data/taiyuan-osm``.

Real: the 76 ``landuse=residential`` compounds and their names, the streets, the OSM buildings.
Synthesised (fixed seeds, so every run writes the same bytes): compound types and households,
building footprints in compounds that have none, households and party members per building,
grids (street blocks merged or split to hold about 300–500 households), communities, service
stations, the member ledger and the grid workers. See ``boundaries/README.md``.

Usage::

    python boundaries/make_sample.py                 # writes into boundaries/
    python boundaries/make_sample.py --source DIR --out DIR
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
import time
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gridmap import classify, read_layer  # noqa: E402
from gridmap import settings  # noqa: E402
from gridmap.io import atomic_path, write_csv  # noqa: E402

log = logging.getLogger("make_sample")

SEED = 20240521
METRIC = 4547  # CGCS2000 3-degree Gauss-Kruger CM 114E: metres in Taiyuan
OUT_CRS = 4490  # CGCS2000 longitude/latitude
DIGITS = 7

#: Streets that bound blocks; the links of interchanges only make slivers, so they bound nothing.
BLOCK_CLASSES = ("motorway", "trunk", "primary", "secondary", "tertiary", "residential",
                 "unclassified", "living_street")
STREET_CLASSES = BLOCK_CLASSES + ("motorway_link", "trunk_link", "primary_link", "secondary_link",
                                  "tertiary_link")
#: Roads that bound communities.
MAJOR_CLASSES = ("motorway", "trunk", "primary", "secondary")
#: Half the width of the carriageway plus a pavement, m: synthetic buildings keep off it.
STREET_HALF_WIDTH = {"motorway": 20.0, "trunk": 18.0, "primary": 15.0, "secondary": 12.0,
                     "tertiary": 9.0}
DEFAULT_HALF_WIDTH = 7.0

#: Taiyuan's compounds by type (DESIGN §1): 1,617 / 310 / 2,912 / 904.
TYPE_COUNTS = {"居住型": 1617, "过渡型": 310, "老旧型": 2912, "单位型": 904}
#: Name hints for a type (work-unit housing says 家属区, urban villages 村, estates 苑/花园 …).
TYPE_HINTS = (("单位型", r"家属|铁路|地矿|宿舍|党校"), ("过渡型", r"村"),
              ("居住型", r"别墅|公馆|国际|花园|嘉园|苑|小院"))
#: Compound area per household, m² (low, high), by type: ~1 household per 40–80 m².
AREA_PER_HOUSEHOLD = {"居住型": (40, 60), "过渡型": (40, 55), "老旧型": (55, 80), "单位型": (50, 75),
                      "别墅": (150, 250)}
#: Synthetic footprints by type: depth, longest and shortest length, gap between rows and
#: within a row (m). Old and work-unit compounds are rows of 6-storey slabs; estates fewer,
#: taller slabs further apart; urban villages small houses close together.
LAYOUT = {
    "老旧型": dict(depth=12.0, length=60.0, shortest=24.0, row_gap=22.0, gap=10.0),
    "单位型": dict(depth=12.0, length=60.0, shortest=24.0, row_gap=24.0, gap=12.0),
    "居住型": dict(depth=15.0, length=45.0, shortest=20.0, row_gap=42.0, gap=15.0),
    "过渡型": dict(depth=10.0, length=14.0, shortest=8.0, row_gap=6.0, gap=4.0),
    "别墅": dict(depth=12.0, length=16.0, shortest=12.0, row_gap=14.0, gap=10.0),
}
#: Most storeys a building of each layout has; with ~90 m² of floor per household this caps a
#: building's households, so a compound with little room for buildings holds fewer households.
STOREYS = {"老旧型": 7, "单位型": 9, "居住型": 26, "过渡型": 5, "别墅": 3}
FLOOR_PER_HOUSEHOLD = 90.0
EDGE_INSET = 4.0  # m between a compound's outline and its buildings

#: Grid sizes, households.
GRID_MIN, GRID_TARGET, GRID_MAX = 300, 420, 520
#: A compound (or its part in one block) holding more households than this is split.
SPLIT_ABOVE = 550
#: … into parts of at most about this many households.
SPLIT_SIZE = 480
#: Ground of a block within this distance (m) of a compound goes with the compound's grid; the
#: rest of a large block (campuses, parks, offices) makes grids of its own.
REACH = 60.0
#: Empty street blocks smaller than this (m²) join a neighbouring grid; larger ones are grids of
#: their own (institutions, parks: grids with no compound).
EMPTY_MIN_AREA = 60_000.0
#: Blocks whose grids are drawn straight across compounds, so that compounds straddle grids.
MIXED_BLOCKS = 3
COMMUNITIES = 6
HOUSEHOLDS_PER_MICROGRID = 65
#: Compounds whose outline is withheld, for outline inference.
REMOVED_OUTLINES = 4

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
GIVEN = list("建国华明军平志红英霞丽伟芳敏静强磊洋勇艳杰娟涛超秀兰桂玉凤海燕文斌晓东春梅鹏飞宇浩然俊峰")
CATEGORIES = ("直管党员", "流动党员", "在职党员", "离退休党员")
CATEGORY_WEIGHTS = {"单位型": (0.45, 0.05, 0.15, 0.35), "老旧型": (0.45, 0.08, 0.12, 0.35),
                    "居住型": (0.55, 0.10, 0.25, 0.10), "过渡型": (0.55, 0.25, 0.10, 0.10)}
#: Party members per household (low, high), drawn per compound: 3–12 %.
MEMBER_RATE = {"单位型": (0.06, 0.12), "老旧型": (0.04, 0.10), "居住型": (0.03, 0.08),
               "过渡型": (0.03, 0.06)}
RESIDENTIAL_BUILDINGS = ("yes", "residential", "apartments", "house", "dormitory")


def rng(purpose: str) -> np.random.Generator:
    """One generator per purpose, so changing one step leaves the others' draws as they were."""
    return np.random.default_rng([SEED, zlib.crc32(purpose.encode())])


# ------------------------------------------------------------------ helpers


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Whole numbers proportional to ``weights`` that add up to ``total`` (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=int)
    exact = weights / weights.sum() * total
    base = np.floor(exact).astype(int)
    order = np.argsort(-(exact - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return base


def polygons_only(geoms) -> np.ndarray:
    """The polygons of each geometry (overlays also return lines and points), empty if none.

    Overlays of polygons may add lines and points; a union of such mixed collections can even
    add polygons that were in none of them, so only polygons go on to later steps.
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.array([shapely.Polygon()] * len(geoms), dtype=object)
    parts, index = shapely.get_parts(geoms, return_index=True)
    parts, inner = shapely.get_parts(parts, return_index=True)
    index = index[inner]
    keep = shapely.get_type_id(parts) == 3
    if keep.any():
        present, dense = np.unique(index[keep], return_inverse=True)
        merged = shapely.multipolygons(parts[keep], indices=dense)
        single = shapely.get_num_geometries(merged) == 1
        merged[single] = shapely.get_geometry(merged[single], 0)
        out[present] = merged
    return out


def rotate(geoms: np.ndarray, angle: np.ndarray, ox: np.ndarray, oy: np.ndarray) -> np.ndarray:
    """Rotate each geometry by its own angle (radians, anticlockwise) about its own origin."""
    geoms = np.array(geoms, dtype=object)
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    c, s = np.cos(angle[idx]), np.sin(angle[idx])
    x, y = coords[:, 0] - ox[idx], coords[:, 1] - oy[idx]
    return shapely.set_coordinates(geoms, np.column_stack([ox[idx] + c * x - s * y,
                                                           oy[idx] + s * x + c * y]))


def main_angle(geoms: np.ndarray) -> np.ndarray:
    """Direction (radians, within ±45° of east) of each geometry's minimum rotated rectangle.

    Chinese slab blocks face south; the rectangle's side nearest east–west is the row direction.
    """
    rect = shapely.oriented_envelope(geoms)
    coords, idx = shapely.get_coordinates(shapely.get_exterior_ring(rect), return_index=True)
    first = np.searchsorted(idx, np.arange(len(geoms)))
    d = coords[first + 1] - coords[first]
    a = np.arctan2(d[:, 1], d[:, 0])
    return (a + np.pi / 4) % (np.pi / 2) - np.pi / 4


def adjacency(geoms: np.ndarray, min_length: float = 1.0) -> pd.DataFrame:
    """Pairs of polygons (positions a < b) sharing a boundary, with its length in m."""
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b])))
    ok = shared >= min_length
    return pd.DataFrame({"a": a[ok], "b": b[ok], "length": shared[ok]})


def osm_ref(df: pd.DataFrame) -> pd.Series:
    """``way/123`` or ``relation/456``, as openstreetmap.org addresses them."""
    way = df["osm_way_id"] if "osm_way_id" in df else pd.Series(None, index=df.index)
    rel = df["osm_id"]
    return pd.Series(np.where(way.notna() & (way.astype(str) != ""), "way/" + way.astype(str),
                              "relation/" + rel.astype(str)), index=df.index)


def street_stem(name: str) -> str:
    """建设北路 → 建设, 南内环街 → 南内环: the part of a street name a community is named after."""
    return re.sub(r"(大街|大道|[东南西北]?[路街巷]|辅路|[东南西北]?沿岸)+$", "", name) or name


# ------------------------------------------------------------------ reading


def read_osm(source: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    polys = gpd.read_file(source / "osm_multipolygons.geojson", engine="pyogrio").to_crs(METRIC)
    lines = gpd.read_file(source / "osm_lines.geojson", engine="pyogrio").to_crs(METRIC)
    for df in (polys, lines):
        for col in ("name", "building", "landuse", "highway", "osm_way_id", "osm_id"):
            if col in df:
                df[col] = df[col].fillna("").astype(str)
    return polys, lines


def make_compounds(polys: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The real residential compounds, repaired, numbered, typed and given households."""
    res = polys[polys.landuse == "residential"].copy()
    res["osm_id"] = osm_ref(res)
    res["_key"] = res.osm_id.str.split("/").str[1].astype(np.int64)
    res = res.sort_values(["_key"]).reset_index(drop=True)
    geom = polygons_only(shapely.make_valid(res.geometry.to_numpy()))
    n = len(res)
    ids = [f"XQ{i:04d}" for i in range(1, n + 1)]
    unnamed = res.name.str.strip() == ""
    names = res.name.str.strip().to_numpy(dtype=object)
    names[unnamed.to_numpy()] = [f"无名小区{i}" for i in range(1, unnamed.sum() + 1)]

    types = assign_types(names, unnamed.to_numpy())
    # Villas are laid out and peopled as villas, whatever their type.
    layout = np.where([("别墅" in n) for n in names], "别墅", types)
    area = shapely.area(geom)
    r = rng("households")
    lo = np.array([AREA_PER_HOUSEHOLD[t][0] for t in layout])
    hi = np.array([AREA_PER_HOUSEHOLD[t][1] for t in layout])
    per = r.uniform(lo, hi)
    households = np.maximum(12, np.round(area / per)).astype(int)
    return gpd.GeoDataFrame({"compound_id": ids, "name": names, "type": types,
                             "households": households, "osm_id": res.osm_id.to_numpy(),
                             "layout": layout}, geometry=geom, crs=METRIC)


def assign_types(names: np.ndarray, unnamed: np.ndarray) -> np.ndarray:
    """Types in Taiyuan's proportions: name hints first, the rest drawn to fill the quotas."""
    n = len(names)
    quota = dict(zip(TYPE_COUNTS, apportion(n, np.array(list(TYPE_COUNTS.values())))))
    types = np.full(n, "", dtype=object)
    for i, name in enumerate(names):
        if unnamed[i]:
            continue
        for kind, pattern in TYPE_HINTS:
            if re.search(pattern, name):
                types[i] = kind
                quota[kind] -= 1
                break
    free = np.flatnonzero(types == "")
    pool = [k for k, q in quota.items() for _ in range(max(q, 0))]
    pool += ["老旧型"] * max(0, len(free) - len(pool))
    pool = np.array(pool[: len(free)], dtype=object)
    rng("types").shuffle(pool)
    types[free] = pool
    return types


def street_lines(lines: gpd.GeoDataFrame, classes) -> gpd.GeoDataFrame:
    s = lines[lines.highway.isin(classes)].copy()
    s["osm_id"] = "way/" + s.osm_id.astype(str)
    return s[["osm_id", "name", "highway", "geometry"]].reset_index(drop=True)


# ------------------------------------------------------------------ study area and blocks


def street_blocks(streets: gpd.GeoDataFrame) -> np.ndarray:
    """Faces of the street network (polygonize), one per street block."""
    net = shapely.union_all(streets.geometry.to_numpy())
    return shapely.get_parts(shapely.polygonize(shapely.get_parts(net)))


def study_blocks(compounds: gpd.GeoDataFrame, faces: np.ndarray, *, link: float = 250.0,
                 min_compounds: int = 8) -> np.ndarray:
    """Street blocks around the clusters of compounds (compounds within ``link`` m of each other,
    at least ``min_compounds`` of them): blocks inside the clusters' hulls or holding their
    compounds, with enclosed holes filled so the area has no gaps."""
    geom = compounds.geometry.to_numpy()
    groups = shapely.get_parts(shapely.union_all(shapely.buffer(geom, link)))
    member, group = shapely.STRtree(groups).query(shapely.point_on_surface(geom), predicate="within")
    sizes = np.bincount(group, minlength=len(groups))
    hulls = [shapely.convex_hull(shapely.union_all(geom[member[group == g]]))
             for g in np.flatnonzero(sizes >= min_compounds)]
    in_cluster = member[np.isin(group, np.flatnonzero(sizes >= min_compounds))]
    tree = shapely.STRtree(faces)
    fi, hi = tree.query(np.array(hulls, dtype=object), predicate="intersects")[::-1]
    hulls = np.array(hulls, dtype=object)
    share = shapely.area(shapely.intersection(faces[fi], hulls[hi])) / shapely.area(faces[fi])
    chosen = set(fi[share >= 0.3].tolist())
    ci, fj = tree.query(geom[in_cluster], predicate="intersects")
    hit = shapely.area(shapely.intersection(geom[in_cluster][ci], faces[fj])) > 50.0
    chosen |= set(fj[hit].tolist())
    chosen = np.array(sorted(chosen))
    # Holes enclosed by the chosen blocks are blocks too: the study area has no gaps.
    outline = shapely.union_all(faces[chosen])
    filled = shapely.union_all(shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(outline))))
    inside = tree.query(filled, predicate="contains_properly")
    return faces[np.union1d(chosen, inside)]


# ------------------------------------------------------------------ buildings


def osm_buildings(polys: gpd.GeoDataFrame, area: shapely.Geometry, compounds: gpd.GeoDataFrame
                  ) -> gpd.GeoDataFrame:
    """Real OSM buildings whose inner point lies in the study area, with their compound."""
    b = polys[polys.building != ""].copy()
    b["osm_id"] = osm_ref(b)
    b = b.set_geometry(polygons_only(shapely.make_valid(b.geometry.to_numpy())))
    b = b[~b.geometry.is_empty]
    shapely.prepare(area)
    b = b[shapely.contains(area, shapely.point_on_surface(b.geometry.to_numpy()))]
    b = b.sort_values("osm_id").reset_index(drop=True)
    b["compound_id"] = compound_of(b.geometry.to_numpy(), compounds)
    named = b.name.str.strip()
    house = named.str.extract(r"(\d+)号楼$")[0]
    plain = (named == "") | house.notna() | named.str.contains("住宅|宿舍")
    b["residential"] = b.building.isin(RESIDENTIAL_BUILDINGS) & plain & (b.area < 5000)
    b["number"] = pd.to_numeric(house, errors="coerce")
    return gpd.GeoDataFrame({"osm_id": b.osm_id, "osm_name": named, "compound_id": b.compound_id,
                             "residential": b.residential, "number": b.number, "synthetic": False},
                            geometry=b.geometry.to_numpy(), crs=METRIC)


def compound_of(geoms: np.ndarray, compounds: gpd.GeoDataFrame) -> np.ndarray:
    """The compound holding each geometry's inner point (the smallest if compounds overlap)."""
    pts = shapely.point_on_surface(geoms)
    cg = compounds.geometry.to_numpy()
    pi, ci = shapely.STRtree(cg).query(pts, predicate="within")
    pairs = pd.DataFrame({"p": pi, "c": ci, "area": shapely.area(cg[ci])}).sort_values(["p", "area", "c"])
    first = pairs.drop_duplicates("p")
    out = np.full(len(geoms), None, dtype=object)
    out[first.p.to_numpy()] = compounds.compound_id.to_numpy()[first.c.to_numpy()]
    return out


def synthesise_buildings(compounds: gpd.GeoDataFrame, area: shapely.Geometry,
                         streets: gpd.GeoDataFrame, osm: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows of slab blocks in the compounds of the study area, where OSM maps no building.

    Each compound is rotated so its rows run along its main direction, cut into bands one slab
    deep, and every band's stretches wholly inside the compound (less streets, other compounds'
    overlaps and the OSM buildings with 8 m around them) are filled with slabs and gaps.
    """
    inner = shapely.point_on_surface(compounds.geometry.to_numpy())
    todo = compounds[shapely.contains(area, inner)].copy()
    # Overlapping compounds: the overlap is built on once, by the compound with the lower id.
    geom = compounds.geometry.to_numpy()
    cut = np.empty(len(todo), dtype=object)
    tree = shapely.STRtree(geom)
    ti, cj = tree.query(todo.geometry.to_numpy(), predicate="intersects")
    earlier = compounds.compound_id.to_numpy()[cj] < todo.compound_id.to_numpy()[ti]
    for k in range(len(todo)):
        cut[k] = shapely.union_all(geom[cj[(ti == k) & earlier]])
    half = streets.highway.map(STREET_HALF_WIDTH).fillna(DEFAULT_HALF_WIDTH).to_numpy()
    road = shapely.union_all(shapely.buffer(streets.geometry.to_numpy(), half, quad_segs=2))
    taken = shapely.union_all(shapely.buffer(osm.geometry.to_numpy(), 8.0, quad_segs=2))
    region = shapely.intersection(todo.geometry.to_numpy(), area)
    region = shapely.difference(region, cut)
    region = shapely.buffer(region, -EDGE_INSET, join_style="mitre")
    region = shapely.difference(shapely.difference(region, road), taken)

    spec = pd.DataFrame([LAYOUT[t] for t in todo["layout"]])
    angle = main_angle(todo.geometry.to_numpy())
    cen = shapely.centroid(todo.geometry.to_numpy())
    ox, oy = shapely.get_x(cen), shapely.get_y(cen)
    rot = rotate(region, -angle, ox, oy)
    bounds = shapely.bounds(rot)
    r = rng("layout")
    start = r.uniform(0, 1, len(todo)) * (spec.depth + spec.row_gap).to_numpy()

    # Bands: one slab deep, one per row, every compound at once.
    pitch = (spec.depth + spec.row_gap).to_numpy()
    span = np.nan_to_num(bounds[:, 3] - bounds[:, 1] - start, nan=-1.0)  # nan: nothing to build on
    rows = np.where(span >= 0, np.floor(np.maximum(span, 0) / pitch) + 1, 0).astype(int)
    owner = np.repeat(np.arange(len(todo)), rows)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(rows) - rows, rows)
    y0 = bounds[owner, 1] + start[owner] + j * pitch[owner]
    y1 = y0 + spec.depth.to_numpy()[owner]
    bands = shapely.box(bounds[owner, 0] - 1, y0, bounds[owner, 2] + 1, y1)
    outside = shapely.difference(bands, rot[owner])
    parts, band_of = shapely.get_parts(outside, return_index=True)
    pb = shapely.bounds(parts)
    blocked = pd.DataFrame({"band": band_of, "x0": pb[:, 0], "x1": pb[:, 2]}).dropna()
    blocked = blocked.sort_values(["band", "x0"])
    boxes, who = [], []
    for band, group in blocked.groupby("band", sort=True):
        k = owner[band]
        s = spec.iloc[k]
        edge = -np.inf
        for x0, x1 in zip(group.x0, group.x1):
            if x0 > edge:
                boxes += fill_interval(edge, x0, y0[band], y1[band], s)
                who += [k] * (len(boxes) - len(who))
            edge = max(edge, x1)
    boxes = np.array(boxes, dtype=object)
    who = np.array(who, dtype=int)
    if not len(boxes):
        raise SystemExit("no building could be placed: is the source the Taiyuan extract?")
    slabs = rotate(boxes, angle[who], ox[who], oy[who])
    out = gpd.GeoDataFrame({"osm_id": None, "osm_name": "", "compound_id": todo.compound_id.to_numpy()[who],
                            "residential": True, "number": np.nan, "synthetic": True},
                           geometry=slabs, crs=METRIC)
    missing = ~todo.compound_id.isin(out.compound_id).to_numpy()
    if missing.any():
        log.info("%d compounds too narrow for a row get one small building", missing.sum())
        out = pd.concat([out, single_buildings(todo[missing], region[missing])], ignore_index=True)
    return out


def fill_interval(a: float, b: float, y0: float, y1: float, s: pd.Series) -> list:
    """Slabs of ``s.length`` (and one shorter) separated by ``s.gap``, centred in [a, b]."""
    if not np.isfinite(a) or b - a < s.shortest:
        return []
    free = b - a
    n = int((free + s.gap) // (s.length + s.gap))
    lengths = [s.length] * n
    rest = free - (n * (s.length + s.gap) - s.gap if n else -s.gap) - s.gap
    if rest >= s.shortest:
        lengths.append(math.floor(rest / 2) * 2.0)
    if not lengths:
        return []
    used = sum(lengths) + s.gap * (len(lengths) - 1)
    x = a + (free - used) / 2
    out = []
    for length in lengths:
        out.append(shapely.box(x, y0, x + length, y1))
        x += length + s.gap
    return out


def single_buildings(todo: gpd.GeoDataFrame, region: np.ndarray) -> gpd.GeoDataFrame:
    """One small square building in compounds too narrow for a row."""
    spot = np.where(shapely.is_empty(region) | (shapely.area(region) < 100),
                    shapely.point_on_surface(todo.geometry.to_numpy()), shapely.point_on_surface(region))
    side = 6.0
    geoms = shapely.box(shapely.get_x(spot) - side, shapely.get_y(spot) - side,
                        shapely.get_x(spot) + side, shapely.get_y(spot) + side)
    return gpd.GeoDataFrame({"osm_id": None, "osm_name": "", "compound_id": todo.compound_id.to_numpy(),
                             "residential": True, "number": np.nan, "synthetic": True},
                            geometry=geoms, crs=METRIC)


def households_and_members(buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Share each compound's households among its residential buildings (by footprint, with
    variation) and draw party members per building (a compound's rate, 3–12 %)."""
    b = buildings.copy()
    r = rng("building-households")
    info = compounds.set_index("compound_id")
    footprint = shapely.area(b.geometry.to_numpy())
    layout = info.layout.reindex(b.compound_id.fillna("")).fillna("老旧型").to_numpy()
    storeys = np.array([STOREYS[k] for k in layout])
    cap = np.where(b.residential, footprint * storeys / FLOOR_PER_HOUSEHOLD, 0.0)
    weight = np.where(b.residential, footprint * r.uniform(0.8, 1.2, len(b)), 0.0)
    b["households"] = 0
    for cid, idx in b[b.compound_id.notna()].groupby("compound_id").groups.items():
        pos = b.index.get_indexer(idx)
        total = min(int(info.households[cid]), int(cap[pos].sum()))
        b.loc[idx, "households"] = apportion(total, weight[pos])
    # Residential buildings outside compounds: about 90 m² of floor per household, 6 storeys.
    loose = b.compound_id.isna() & b.residential
    loose_area = shapely.area(b.geometry[loose].to_numpy())
    b.loc[loose, "households"] = np.round(loose_area * 6 / FLOOR_PER_HOUSEHOLD * 0.8).astype(int)

    kinds = info["type"].reindex(b.compound_id.fillna("")).fillna("老旧型").to_numpy()
    lo = np.array([MEMBER_RATE[k][0] for k in kinds])
    hi = np.array([MEMBER_RATE[k][1] for k in kinds])
    # One rate per compound, so that compounds differ and buildings of one compound agree.
    rate_of = {cid: rng(f"rate-{cid}").uniform(0, 1) for cid in sorted(b.compound_id.dropna().unique())}
    u = b.compound_id.map(rate_of).fillna(0.5).to_numpy()
    rate = lo + (hi - lo) * u
    b["party_members"] = rng("members-per-building").binomial(b.households.to_numpy(), rate)
    return b


def name_buildings(b: gpd.GeoDataFrame, streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Ids ``LD000001…`` (compound by compound, north to south) and names like ``3号楼``."""
    b = b.copy()
    pt = shapely.point_on_surface(b.geometry.to_numpy())
    b["_row"] = -np.round(shapely.get_y(pt) / 15.0)
    b["_x"] = shapely.get_x(pt)
    b["_c"] = b.compound_id.fillna("~")
    b = b.sort_values(["_c", "_row", "_x"], kind="stable").reset_index(drop=True)
    names = np.full(len(b), "", dtype=object)
    for _, idx in b[b.compound_id.notna()].groupby("compound_id", sort=True).groups.items():
        pos = b.index.get_indexer(idx)
        used = set(b.number.iloc[pos].dropna().astype(int))
        nxt = 1
        for p in pos:
            if pd.notna(b.number.iloc[p]):
                names[p] = f"{int(b.number.iloc[p])}号楼"
            elif b.osm_name.iloc[p]:
                names[p] = b.osm_name.iloc[p]
            else:
                while nxt in used:
                    nxt += 1
                names[p] = f"{nxt}号楼"
                used.add(nxt)
    loose = np.flatnonzero(b.compound_id.isna().to_numpy())
    named = streets[streets.name != ""]
    spots = shapely.point_on_surface(b.geometry.to_numpy()[loose])
    near = shapely.STRtree(named.geometry.to_numpy()).nearest(spots)
    street = named.name.to_numpy()[near]
    count: dict[str, int] = {}
    for p, s in zip(loose, street):
        if b.osm_name.iloc[p]:
            names[p] = b.osm_name.iloc[p]
        else:
            count[s] = count.get(s, 0) + 1
            names[p] = f"{s}{count[s]}号楼"
    b["name"] = names
    b["building_id"] = [f"LD{i:06d}" for i in range(1, len(b) + 1)]
    return b.drop(columns=["_row", "_x", "_c"])


# ------------------------------------------------------------------ communities


def make_communities(blocks: np.ndarray, block_hh: np.ndarray, major: gpd.GeoDataFrame,
                     area: shapely.Geometry, n_target: int) -> np.ndarray:
    """Community of each block: blocks grouped by the major roads around them, the groups merged
    (smallest into its smallest neighbour) until each cluster of the study area has its share of
    ``n_target`` communities."""
    lines = list(major.geometry.to_numpy()) + list(shapely.get_parts(shapely.boundary(area)))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(lines))))
    inner = shapely.point_on_surface(blocks)
    bi, fi = shapely.STRtree(faces).query(inner, predicate="within")
    group = np.arange(len(blocks)) + len(faces)  # blocks outside every face stand alone
    group[bi] = fi
    _, group = np.unique(group, return_inverse=True)

    adj = adjacency(blocks)
    parts = shapely.get_parts(area)
    cluster = shapely.STRtree(parts).query(inner, predicate="within")
    cl = np.zeros(len(blocks), dtype=int)
    cl[cluster[0]] = cluster[1]
    hh_cl = np.bincount(cl, weights=block_hh, minlength=len(parts))
    want = np.maximum(1, np.round(hh_cl / hh_cl.sum() * n_target)).astype(int)

    while True:
        g_hh = pd.Series(block_hh).groupby(group).sum()
        g_cl = pd.Series(cl).groupby(group).first()
        counts = g_cl.value_counts().reindex(range(len(parts)), fill_value=0)
        over = [c for c in range(len(parts)) if counts[c] > want[c]]
        if not over:
            break
        small = g_hh[g_cl.isin(over)].sort_values(kind="stable").index[0]
        ga, gb = group[adj.a], group[adj.b]
        nb = np.unique(np.concatenate([gb[ga == small], ga[gb == small]]))
        nb = nb[nb != small]
        if not len(nb):
            raise SystemExit(f"community group {small} has no neighbour")
        target = nb[np.argmin(g_hh.reindex(nb).to_numpy())]
        group[group == small] = target
    _, group = np.unique(group, return_inverse=True)
    return group


# ------------------------------------------------------------------ grids


def parts_for(households: float) -> int:
    """How many grids a compound or block of this many households is cut into (2 at least)."""
    return max(2, math.ceil(households / SPLIT_SIZE))


def balanced_cut(lo: np.ndarray, hi: np.ndarray, hh: np.ndarray, frac: float
                 ) -> tuple[float, float] | None:
    """The gap between buildings (extents ``lo``–``hi`` along an axis) that leaves the share of
    households nearest ``frac`` before it: (position, share), or None without a gap of 2 m."""
    order = np.argsort(lo, kind="stable")
    lo, hi, hh = lo[order], hi[order], hh[order].astype(float)
    if hh.sum() <= 0:
        hh = np.ones_like(hh)
    reach = np.maximum.accumulate(hi)
    gap = np.flatnonzero(lo[1:] > reach[:-1] + 2.0)
    if not len(gap):
        return None
    where = (reach[gap] + lo[gap + 1]) / 2
    share = np.cumsum(hh)[gap] / hh.sum()
    best = int(np.argmin(np.abs(share - frac)))
    return float(where[best]), float(share[best])


def strips(shape: shapely.Geometry, angle: float, cuts: list[float], origin) -> list:
    """``shape`` cut by lines across the axis at ``angle`` at positions ``cuts`` (m along it)."""
    edges = [-1e7, *cuts, 1e7]
    ox, oy = origin
    boxes = np.array([shapely.box(a, -1e7, b, 1e7) for a, b in zip(edges[:-1], edges[1:])], dtype=object)
    n = len(boxes)
    boxes = rotate(boxes, np.full(n, angle), np.full(n, ox), np.full(n, oy))
    return list(polygons_only(shapely.intersection(shape, boxes)))


def extents(geoms: np.ndarray, angle: float, origin) -> tuple[np.ndarray, np.ndarray]:
    """Extent of each geometry along the axis at ``angle`` through ``origin``."""
    n = len(geoms)
    rot = rotate(geoms, np.full(n, -angle), np.full(n, origin[0]), np.full(n, origin[1]))
    b = shapely.bounds(rot)
    return b[:, 0], b[:, 2]


def split_by_households(shape, b_geom: np.ndarray, b_hh: np.ndarray, k: int, angle: float) -> list:
    """Cut ``shape`` into ``k`` parts holding similar households, never through a building.

    Halving recursively: each cut runs across the longer side of the part (along ``angle`` or
    across it), in the gap between buildings nearest the household share wanted; the other
    direction is used when it balances clearly better or the first has no gap.
    """
    if k < 2 or len(b_geom) < 2:
        return [shape]
    k1 = k // 2
    frac = k1 / k
    c = shapely.centroid(shape)
    origin = (c.x, c.y)
    angles = [angle, angle + np.pi / 2]
    size = [np.ptp(np.concatenate(extents(np.array([shape]), a, origin))) for a in angles]
    if size[1] > size[0]:
        angles = angles[::-1]
    options = []
    for rank, a in enumerate(angles):
        lo, hi = extents(b_geom, a, origin)
        cut = balanced_cut(lo, hi, b_hh, frac)
        if cut is not None:
            options.append((abs(cut[1] - frac) + 0.02 * rank, rank, a, cut[0], lo))
    if not options:
        return [shape]
    _, _, a, at, lo = min(options, key=lambda o: (o[0], o[1]))
    first, second = strips(shape, a, [at], origin)
    left = lo < at
    return (split_by_households(first, b_geom[left], b_hh[left], k1, angle)
            + split_by_households(second, b_geom[~left], b_hh[~left], k - k1, angle))


def block_units(blocks: np.ndarray, compounds: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                mixed_blocks: set[int]) -> gpd.GeoDataFrame:
    """Split every block into units ("seeds" and the ground nearest to them).

    A seed is a group of small compounds holding up to ``GRID_MAX`` households, or one strip of
    a large compound cut between its buildings. The rest of the block goes to the nearest seed.
    In ``mixed_blocks`` the block is cut straight across, compounds or not.
    """
    cg = compounds.geometry.to_numpy()
    # Compound pieces per block; overlaps of compounds go to the lower id.
    bi, ci = shapely.STRtree(cg).query(blocks, predicate="intersects")
    pieces = shapely.intersection(blocks[bi], cg[ci])
    keep = shapely.area(pieces) > 1.0
    bi, ci, pieces = bi[keep], ci[keep], pieces[keep]
    for k in range(len(pieces)):
        earlier = (bi == bi[k]) & (ci < ci[k])
        if earlier.any():
            pieces[k] = shapely.difference(pieces[k], shapely.union_all(pieces[earlier]))
    pieces = polygons_only(pieces)
    keep = shapely.area(pieces) > 1.0
    bi, ci, pieces = bi[keep], ci[keep], pieces[keep]

    bpt = shapely.point_on_surface(buildings.geometry.to_numpy())
    bgeom = buildings.geometry.to_numpy()
    bhh = buildings.households.to_numpy()
    in_block = np.full(len(buildings), -1)
    p_, b_ = shapely.STRtree(blocks).query(bpt, predicate="within")
    in_block[p_] = b_
    in_piece = np.full(len(buildings), -1)
    p_, k_ = shapely.STRtree(pieces).query(bpt, predicate="within")
    in_piece[p_] = k_
    piece_hh = np.bincount(in_piece[in_piece >= 0], weights=bhh[in_piece >= 0], minlength=len(pieces))

    atoms, units, locked = [], [], []
    unit = 0
    for b in range(len(blocks)):
        block = blocks[b]
        mine = np.flatnonzero(bi == b)
        here = np.flatnonzero(in_block == b)
        if b in mixed_blocks:
            total = bhh[here].sum()
            k = parts_for(total)
            ang = main_angle(np.array([block]))[0]
            for p in split_by_households(block, bgeom[here], bhh[here], k, ang):
                atoms.append(p), units.append(unit), locked.append(True)
                unit += 1
            continue
        seeds: list[list] = []
        seed_locked: list[bool] = []
        small = []
        for k in mine:
            if piece_hh[k] > SPLIT_ABOVE:
                own = np.flatnonzero(in_piece == k)
                ang = main_angle(np.array([cg[ci[k]]]))[0]
                cut = split_by_households(pieces[k], bgeom[own], bhh[own],
                                          parts_for(piece_hh[k]), ang)
                if len(cut) > 1:
                    for p in cut:
                        seeds.append([p])
                        seed_locked.append(True)
                    continue
            small.append(k)
        if small:
            ang = main_angle(np.array([block]))[0]
            pos = extents(pieces[small], ang, (0, 0))[0]
            group, total = [], 0
            for k in np.array(small)[np.argsort(pos, kind="stable")]:
                if group and total + piece_hh[k] > GRID_MAX:
                    seeds.append([pieces[j] for j in group])
                    seed_locked.append(False)
                    group, total = [], 0
                group.append(k)
                total += piece_hh[k]
            seeds.append([pieces[j] for j in group])
            seed_locked.append(False)
        if not seeds:
            atoms.append(block), units.append(unit), locked.append(False)
            unit += 1
            continue
        seed_geoms = np.array([shapely.union_all(s) for s in seeds], dtype=object)
        near, far = territories(block, seed_geoms)
        for g, t, lk in zip(seed_geoms, near, seed_locked):
            atoms += [g, t]
            units += [unit, unit]
            locked += [lk, lk]
            unit += 1
        # Ground far from every compound (a campus, a park) is a unit of its own.
        atoms.append(far), units.append(unit), locked.append(False)
        unit += 1
    atoms = polygons_only(np.array(atoms, dtype=object))
    frame = gpd.GeoDataFrame({"unit": units, "locked": locked}, geometry=atoms, crs=METRIC)
    return frame[~frame.geometry.is_empty & (frame.area > 0)]


def territories(block: shapely.Geometry, seeds: np.ndarray, *, reach: float = REACH,
                spacing: float = 6.0) -> tuple[list, shapely.Geometry]:
    """Split the ground of ``block`` outside the seeds: within ``reach`` m of a seed, the part
    nearest to each seed (Voronoi cells of points along the seeds' outlines); and the rest."""
    rest = shapely.difference(block, shapely.union_all(seeds))
    if shapely.area(rest) < 1.0:
        return [shapely.Polygon()] * len(seeds), shapely.Polygon()
    near = shapely.union_all(shapely.buffer(seeds, reach, quad_segs=4))
    far = polygons_only([shapely.difference(rest, near)])[0]
    rest = polygons_only([shapely.intersection(rest, near)])[0]
    if len(seeds) == 1:
        return [rest], far
    rings = shapely.segmentize(shapely.boundary(seeds), spacing)
    coords, label = shapely.get_coordinates(rings, return_index=True)
    coords = np.round(coords, 3)
    _, first = np.unique(coords, axis=0, return_index=True)
    first = np.sort(first)
    coords, label = coords[first], label[first]
    cells = shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=block, ordered=True)
    cells = shapely.get_parts(cells)  # ordered: cell i belongs to point i
    parts = polygons_only(shapely.intersection(cells, rest))
    # Slivers along the seeds' outlines can close into rings whose union fills them in.
    big = shapely.area(parts) >= 0.01
    taken = shapely.union_all(seeds)
    out = []
    for s in range(len(seeds)):
        out.append(shapely.difference(shapely.union_all(parts[(label == s) & big]), taken))
    return list(polygons_only(out)), far


def merge_units(units: gpd.GeoDataFrame, hh: np.ndarray, community: np.ndarray) -> np.ndarray:
    """Grid of each unit: small units join neighbours (same community only) until grids hold
    about ``GRID_MIN``–``GRID_MAX`` households; small empty ones join the neighbour they share
    most border with. Units cut from large compounds (locked) only take in empty ground."""
    geoms = units.geometry.to_numpy()
    area = shapely.area(geoms).copy()
    locked = units.locked.to_numpy(dtype=bool).copy()
    adj = adjacency(geoms)
    adj = adj[community[adj.a] == community[adj.b]]
    nbrs: dict[int, dict[int, float]] = {i: {} for i in range(len(units))}
    for a, b, length in zip(adj.a, adj.b, adj.length):
        nbrs[a][b] = nbrs[a].get(b, 0) + length
        nbrs[b][a] = nbrs[b].get(a, 0) + length
    parent = np.arange(len(units))
    hh = hh.astype(float).copy()
    done: set[int] = set()
    while True:
        alive = [i for i in nbrs if parent[i] == i and i not in done
                 and ((hh[i] == 0 and area[i] < EMPTY_MIN_AREA) or (0 < hh[i] < GRID_MIN and not locked[i]))]
        if not alive:
            break
        i = min(alive, key=lambda u: (hh[u], area[u], u))
        nb = nbrs[i]
        pick = None
        if hh[i] == 0:
            if nb:
                free = {n: length for n, length in nb.items() if not locked[n]}
                best = max(nb.values())
                choice = free if free and max(free.values()) >= 0.5 * best else nb
                pick = max(sorted(choice), key=lambda n: choice[n])
        else:
            fits = [n for n in sorted(nb) if not locked[n] and hh[n] > 0 and hh[i] + hh[n] <= GRID_MAX]
            if fits:
                pick = min(fits, key=lambda n: (abs(hh[i] + hh[n] - GRID_TARGET), -nb[n]))
            elif hh[i] < GRID_MIN / 2:
                options = [n for n in sorted(nb) if not locked[n]] or sorted(nb)
                if options:
                    pick = min(options, key=lambda n: (hh[n], -nb[n]))
        if pick is None:
            done.add(i)
            continue
        # fold i into pick
        parent[parent == i] = pick
        hh[pick] += hh[i]
        area[pick] += area[i]
        locked[pick] = locked[pick] and hh[i] == 0
        for n, length in nb.items():
            if n == pick:
                continue
            nbrs[pick][n] = nbrs[pick].get(n, 0) + length
            nbrs[n][pick] = nbrs[n].get(pick, 0) + length
            nbrs[n].pop(i, None)
        nbrs[pick].pop(i, None)
        del nbrs[i]
        done.discard(pick)
    _, grid = np.unique(parent, return_inverse=True)
    return grid


def choose_mixed_blocks(blocks: np.ndarray, compounds: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                        block_hh: np.ndarray, n: int) -> set[int]:
    """Blocks with several compounds whose straight household cut runs through a compound."""
    cg = compounds.geometry.to_numpy()
    bi, ci = shapely.STRtree(cg).query(blocks, predicate="intersects")
    ov = shapely.area(shapely.intersection(blocks[bi], cg[ci])) / shapely.area(cg[ci])
    inside = ov > 0.9
    per_block = pd.Series(inside).groupby(bi).sum().reindex(range(len(blocks)), fill_value=0).to_numpy()
    cand = np.flatnonzero((per_block >= 2) & (block_hh >= 2 * GRID_MIN) & (block_hh <= 3 * GRID_MAX))
    bpt = shapely.point_on_surface(buildings.geometry.to_numpy())
    p_, b_ = shapely.STRtree(blocks).query(bpt, predicate="within")
    good = []
    for b in cand:
        here = p_[b_ == b]
        ang = main_angle(np.array([blocks[b]]))[0]
        k = parts_for(block_hh[b])
        parts = split_by_households(blocks[b], buildings.geometry.to_numpy()[here],
                                    buildings.households.to_numpy()[here], k, ang)
        if len(parts) < 2:
            continue
        mine = ci[(bi == b) & inside]
        share = shapely.area(shapely.intersection(cg[mine][:, None], np.array(parts, dtype=object)[None, :]))
        share = share / shapely.area(cg[mine])[:, None]
        straddles = ((share >= 0.15).sum(axis=1) >= 2).any()
        if straddles:
            good.append(int(b))
    r = rng("mixed-blocks")
    return set(sorted(r.choice(good, size=min(n, len(good)), replace=False).tolist())) if good else set()


# ------------------------------------------------------------------ the sample


def build(source: Path, out: Path) -> dict:
    """Build every file of the sample into ``out``; return the situation counts."""
    t0 = time.perf_counter()
    polys, lines = read_osm(source)
    compounds = make_compounds(polys)
    streets = street_lines(lines, STREET_CLASSES)
    blocks = study_blocks(compounds, street_blocks(streets[streets.highway.isin(BLOCK_CLASSES)]))
    c = shapely.centroid(blocks)
    blocks = blocks[np.lexsort((shapely.get_x(c), -np.round(shapely.get_y(c) / 100)))]
    area = shapely.union_all(blocks)
    log.info("study area: %d street blocks, %.2f km²", len(blocks), shapely.area(area) / 1e6)

    buildings = make_buildings(polys, compounds, streets, area)
    # Compounds with buildings hold their buildings' households; outside the study area the
    # estimate from their area stands.
    built = buildings.groupby("compound_id").households.sum()
    compounds["households"] = compounds.compound_id.map(built).fillna(compounds.households).astype(int)
    grids = make_grids(blocks, compounds, buildings, streets, area)
    layers = finish(compounds, grids, buildings, streets, area)
    write_all(layers, out)
    log.info("built in %.1f s", time.perf_counter() - t0)
    return report(out)


def make_buildings(polys, compounds, streets, area) -> gpd.GeoDataFrame:
    """OSM buildings of the study area and synthetic ones, with households and party members."""
    osm = osm_buildings(polys, area, compounds)
    synth = synthesise_buildings(compounds, area, streets, osm)
    log.info("buildings: %d from OSM, %d synthetic", len(osm), len(synth))
    return households_and_members(pd.concat([osm, synth], ignore_index=True), compounds)


def make_grids(blocks, compounds, buildings, streets, area) -> gpd.GeoDataFrame:
    """Grids (column ``comm``: their community's number) from the blocks, in the metric CRS."""
    bpt = shapely.point_on_surface(buildings.geometry.to_numpy())
    hh = buildings.households.to_numpy()
    p_, b_ = shapely.STRtree(blocks).query(bpt, predicate="within")
    block_hh = np.bincount(b_, weights=hh[p_], minlength=len(blocks))
    block_comm = make_communities(blocks, block_hh, streets[streets.highway.isin(MAJOR_CLASSES)],
                                  area, COMMUNITIES)

    mixed = choose_mixed_blocks(blocks, compounds, buildings, block_hh, MIXED_BLOCKS)
    log.info("grids drawn straight across compounds in %d blocks", len(mixed))
    atoms = block_units(blocks, compounds, buildings, mixed)
    units = atoms.dissolve("unit", aggfunc={"locked": "first"}).reset_index()
    # Stray parts of a unit (ground cut off by a seed) become units of their own.
    units = units.explode(index_parts=False).reset_index(drop=True)
    units = units[units.area >= 1.0].reset_index(drop=True)  # numerical dust of the overlays
    p_, u_ = shapely.STRtree(units.geometry.to_numpy()).query(bpt, predicate="within")
    unit_hh = np.bincount(u_, weights=hh[p_], minlength=len(units))
    biggest = pd.DataFrame({"unit": units.unit, "hh": unit_hh, "area": units.area}).sort_values(
        ["unit", "hh", "area"], ascending=[True, False, False]).drop_duplicates("unit").index
    units["locked"] = units.locked & units.index.isin(biggest)
    ui, bl = shapely.STRtree(blocks).query(shapely.point_on_surface(units.geometry.to_numpy()),
                                           predicate="within")
    unit_comm = np.zeros(len(units), dtype=int)
    unit_comm[ui] = block_comm[bl]

    units["grid"] = merge_units(units, unit_hh, unit_comm)
    grids = units.dissolve("grid").reset_index()[["grid", "geometry"]]
    grids["comm"] = pd.Series(unit_comm).groupby(units.grid.to_numpy()).first().to_numpy()
    log.info("grids: %d from %d units", len(grids), len(units))
    return grids


def finish(compounds, grids, buildings, streets_all, area) -> dict:
    """Name communities and grids, place stations, draw the ledger and workers."""
    comm = name_communities(grids, streets_all, area)
    grids = number_grids(grids, comm, buildings)
    communities = grids.dissolve("comm").reset_index()
    communities = communities.assign(community_id=communities.comm.map(comm.community_id),
                                     name=communities.comm.map(comm.name),
                                     street=communities.comm.map(comm.street)).sort_values("community_id")

    buildings = name_buildings(buildings, streets_all)
    stations = make_stations(communities, grids, streets_all)
    removed, compounds_out = withhold_outlines(compounds, buildings, area)
    members = make_members(buildings, compounds)
    workers = make_workers(grids)

    # Streets: each part of the study area's extent, and 300 m around it.
    frame = shapely.union_all(shapely.buffer(shapely.envelope(shapely.get_parts(area)), 300,
                                             join_style="mitre"))
    streets = streets_all[streets_all.intersects(frame)].copy()
    streets["geometry"] = streets.geometry.intersection(frame)
    streets = streets[~streets.geometry.is_empty].sort_values("osm_id", kind="stable")

    return {
        "compounds": compounds_out[["compound_id", "name", "type", "households", "osm_id", "geometry"]],
        "grids": grids[["grid_id", "name", "community", "households", "geometry"]],
        "communities": communities[["community_id", "name", "street", "geometry"]],
        "buildings": buildings[["building_id", "compound_id", "name", "households", "party_members",
                                "osm_id", "synthetic", "geometry"]],
        "streets": streets[["osm_id", "name", "highway", "geometry"]],
        "stations": stations,
        "removed_outlines": removed,
        "members": members,
        "grid_workers": workers,
    }


def name_communities(grids, streets_all, area) -> pd.DataFrame:
    """Ids, names and street offices (街道) of the communities, indexed by ``grids.comm``.

    A street office per part of the study area, named after the major road running longest
    through it; a community after the street running longest through it (its stem: 建设北路 →
    建设社区), each name used once. Numbered north to south.
    """
    named = streets_all[streets_all.name != ""]
    comm_geom = grids.dissolve("comm").geometry
    comm_ids = comm_geom.index.to_numpy()
    parts = shapely.get_parts(area)
    inner = shapely.point_on_surface(comm_geom.to_numpy())
    ci, pi = shapely.STRtree(parts).query(inner, predicate="within")
    cluster = np.zeros(len(comm_ids), dtype=int)
    cluster[ci] = pi
    # Clusters (street offices, 街道) numbered north to south, communities likewise within them.
    order = np.lexsort((shapely.get_x(shapely.centroid(comm_geom.to_numpy())),
                        -shapely.get_y(shapely.centroid(comm_geom.to_numpy()))))
    cl_order = list(dict.fromkeys(cluster[order]))
    used: set[str] = set()

    def longest_street(geom, classes=None) -> str:
        s = named if classes is None else named[named.highway.isin(classes)]
        inside = shapely.length(shapely.intersection(s.geometry.to_numpy(), geom))
        lengths = pd.Series(inside, index=s.name.to_numpy())
        lengths = lengths[lengths > 0].groupby(level=0).sum().sort_values(ascending=False, kind="stable")
        for name in lengths.index:
            stem = street_stem(name)
            if stem not in used and len(stem) >= 2:
                used.add(stem)
                return stem
        return ""

    street_name = {}
    for c in cl_order:
        stem = longest_street(parts[c], MAJOR_CLASSES) or f"第{len(street_name) + 1}"
        street_name[c] = f"{stem}街道"
    rows = []
    counter = {c: 0 for c in cl_order}
    for k in order:
        c = cluster[k]
        counter[c] += 1
        code = f"{cl_order.index(c) + 1:02d}{counter[c]:02d}"
        stem = longest_street(comm_geom.iloc[k]) or f"第{counter[c]}"
        rows.append(dict(comm=comm_ids[k], community_id=f"SQ{code}", code=code, name=f"{stem}社区",
                         street=street_name[c]))
    return pd.DataFrame(rows).set_index("comm")


def number_grids(grids, comm, buildings) -> gpd.GeoDataFrame:
    """Grid ids (``WG`` + community code + number, north-west first), names and households."""
    gpt = shapely.point_on_surface(grids.geometry.to_numpy())
    grids = grids.assign(_y=-np.round(shapely.get_y(gpt) / 250), _x=shapely.get_x(gpt))
    grids = grids.sort_values(["comm", "_y", "_x"], key=lambda s: s.map(comm.code) if s.name == "comm" else s,
                              kind="stable").reset_index(drop=True)
    grids["n"] = grids.groupby("comm").cumcount() + 1
    grids["grid_id"] = "WG" + grids.comm.map(comm.code) + grids.n.map("{:02d}".format)
    grids["community"] = grids.comm.map(comm.name)
    grids["name"] = grids.community + "第" + grids.n.astype(str) + "网格"
    bpt = shapely.point_on_surface(buildings.geometry.to_numpy())
    p_, g_ = shapely.STRtree(grids.geometry.to_numpy()).query(bpt, predicate="within")
    if len(np.unique(p_)) != len(buildings) or len(p_) != len(buildings):
        raise SystemExit("a building does not lie in exactly one grid")
    grid_of_building = np.empty(len(buildings), dtype=int)
    grid_of_building[p_] = g_
    grids["households"] = np.bincount(grid_of_building, weights=buildings.households,
                                      minlength=len(grids)).astype(int)
    return grids.drop(columns=["_y", "_x"])


def make_stations(communities: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, streets: gpd.GeoDataFrame
                  ) -> gpd.GeoDataFrame:
    """One 党群服务站 per community on the street nearest its centre; two in large communities
    (one near the centre of each half of its grids)."""
    rows = []
    for c in communities.itertuples():
        mine = grids[grids.community == c.name]
        pts = shapely.point_on_surface(mine.geometry.to_numpy())
        xy = shapely.get_coordinates(pts)
        centres = [xy.mean(axis=0)]
        if len(mine) >= 12:
            axis = 0 if np.ptp(xy[:, 0]) >= np.ptp(xy[:, 1]) else 1
            split = np.median(xy[:, axis])
            centres = [xy[xy[:, axis] <= split].mean(axis=0), xy[xy[:, axis] > split].mean(axis=0)]
        inner = shapely.buffer(c.geometry, -20)
        local = shapely.intersection(streets.geometry.to_numpy(), inner)
        local = local[np.isin(shapely.get_type_id(local), (1, 5))]  # lines only
        for i, (x, y) in enumerate(centres, 1):
            p = shapely.Point(x, y)
            if len(local):
                line = local[shapely.STRtree(local).nearest(p)]
                p = shapely.line_interpolate_point(line, shapely.line_locate_point(line, p))
            if not c.geometry.contains(p):
                p = shapely.point_on_surface(c.geometry)
            suffix = "" if len(centres) == 1 else ("（一站）" if i == 1 else "（二站）")
            rows.append(dict(station_id=f"ZD{c.community_id[2:]}{i}", name=f"{c.name}党群服务站{suffix}",
                             community=c.name, geometry=p))
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC)


def withhold_outlines(compounds, buildings, area) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Pick small old compounds whose buildings stay but whose outline is removed."""
    counts = buildings.groupby("compound_id").size()
    inside = shapely.contains(area, compounds.geometry.to_numpy())
    others = compounds.geometry.to_numpy()
    tree = shapely.STRtree(others)
    a, b = tree.query(others, predicate="intersects")
    touching = pd.Series(a != b).groupby(a).sum().reindex(range(len(compounds)), fill_value=0).to_numpy()
    ok = ((compounds["type"] == "老旧型").to_numpy() & inside & (compounds.area < 30_000).to_numpy()
          & (compounds.compound_id.map(counts).fillna(0) >= 3).to_numpy() & (touching == 0))
    pick = rng("withheld").choice(np.flatnonzero(ok), size=min(REMOVED_OUTLINES, ok.sum()), replace=False)
    pick = np.sort(pick)
    removed = compounds.iloc[pick][["compound_id", "name", "geometry"]]
    return removed, compounds.drop(compounds.index[pick])


def synthetic_names(n: int, purpose: str) -> list[str]:
    r = rng(purpose)
    sur = r.choice(SURNAMES, n)
    two = r.uniform(size=n) < 0.6
    g1 = r.choice(GIVEN, n)
    g2 = r.choice(GIVEN, n)
    return [s + a + (b if t else "") for s, a, b, t in zip(sur, g1, g2, two)]


def make_members(buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame) -> pd.DataFrame:
    """The synthetic ledger: one row per party member, as many per building as it counts."""
    b = buildings[buildings.party_members > 0]
    bid = np.repeat(b.building_id.to_numpy(), b.party_members.to_numpy())
    types = b.compound_id.map(compounds.set_index("compound_id")["type"]).fillna("老旧型")
    kind = np.repeat(types.to_numpy(), b.party_members.to_numpy())
    n = len(bid)
    if n > 9_999:
        raise SystemExit("too many members for the fake phone range 1380000xxxx")
    r = rng("categories")
    u = r.uniform(size=n)
    cum = np.array([np.cumsum(CATEGORY_WEIGHTS[k]) for k in kind])
    cat = np.array(CATEGORIES, dtype=object)[(u[:, None] > cum).sum(axis=1).clip(0, 3)]
    phone = [f"1380000{i:04d}" for i in range(n)]
    return pd.DataFrame({"member_id": [f"DY{i:06d}" for i in range(1, n + 1)],
                         "name": synthetic_names(n, "member-names"), "building_id": bid,
                         "category": cat, "phone": phone})


def make_workers(grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """Enough workers for each grid's micro-grids (households / 65, rounded up; at least one),
    some grids one short so that micro-grids without a worker occur."""
    need = np.maximum(1, np.ceil(grids.households.to_numpy() / HOUSEHOLDS_PER_MICROGRID)).astype(int)
    short = (rng("short-staffed").uniform(size=len(grids)) < 0.15) & (need >= 2)
    have = need - short
    gid = np.repeat(grids.grid_id.to_numpy(), have)
    n = len(gid)
    return pd.DataFrame({"worker_id": [f"WGY{i:05d}" for i in range(1, n + 1)],
                         "name": synthetic_names(n, "worker-names"), "grid_id": gid})


# ------------------------------------------------------------------ writing


def to_output(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """In CGCS2000 longitude/latitude, every coordinate on the 1e-7° grid (about 1 cm)."""
    out = gdf.to_crs(OUT_CRS)
    geoms = shapely.set_precision(out.geometry.to_numpy(), 10 ** -DIGITS)
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=OUT_CRS)).reset_index(drop=True)


def snap_coverage(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``to_output`` for a partition: neighbours keep exactly the same rounded shared edges.

    Rounding each polygon on its own moves a vertex that lies in the middle of a neighbour's edge
    off that edge: centimetre slivers that add up along kilometres of boundary. So the linework of
    all polygons is noded and rounded once, polygonised, and the faces given back to their owners.
    """
    out = gdf.to_crs(OUT_CRS).reset_index(drop=True)
    geoms = out.geometry.to_numpy()
    lines = shapely.union_all(shapely.boundary(geoms), grid_size=10 ** -DIGITS)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    tree = shapely.STRtree(geoms)
    fi, gi = tree.query(faces, predicate="intersects")
    share = shapely.area(shapely.intersection(faces[fi], geoms[gi]))
    best = pd.DataFrame({"f": fi, "g": gi, "a": share}).sort_values(["f", "a"], ascending=[True, False])
    best = best.drop_duplicates("f")
    owner = np.full(len(faces), -1)
    owner[best.f.to_numpy()] = best.g.to_numpy()
    snapped = [shapely.union_all(faces[owner == g]) for g in range(len(geoms))]
    return out.set_geometry(gpd.GeoSeries(polygons_only(snapped), crs=OUT_CRS))


def write_all(layers: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    grids = snap_coverage(layers["grids"])
    comm = layers["communities"]
    by_name = grids.dissolve("community").geometry
    comm = gpd.GeoDataFrame(comm.drop(columns="geometry").reset_index(drop=True),
                            geometry=polygons_only(by_name.reindex(comm["name"]).to_numpy()), crs=OUT_CRS)
    for name, layer in layers.items():
        if name == "grids":
            layer = grids
        elif name == "communities":
            layer = comm
        elif isinstance(layer, gpd.GeoDataFrame):
            layer = to_output(layer)
        if isinstance(layer, gpd.GeoDataFrame):
            with atomic_path(out / f"{name}.geojson") as tmp:
                layer.to_file(tmp, driver="GeoJSON", layer=name, engine="pyogrio",
                              COORDINATE_PRECISION=DIGITS, WRITE_NAME=True)
        else:
            write_csv(layer, out / f"{name}.csv")


def report(out: Path) -> dict:
    """Classify the written files as a user would and print the situation counts."""
    compounds = read_layer(out / "compounds.geojson")
    grids = read_layer(out / "grids.geojson")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = classify(compounds, grids)
    counts = result.counts()
    for what in ("compounds", "grids"):
        print(f"{what}: " + ", ".join(f"{k} {v}" for k, v in counts[what].items()))
    missing = [k for k in settings.COMPOUND_SITUATIONS[:4] if counts["compounds"][k] == 0]
    missing += [f"grid {k}" for k in settings.GRID_SITUATIONS if counts["grids"][k] == 0]
    if missing:
        raise SystemExit(f"situations missing from the sample: {', '.join(missing)}")
    return {k: v.to_dict() for k, v in counts.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "taiyuan-osm",
                        help="folder with osm_multipolygons.geojson and osm_lines.geojson "
                             "(default: ../shared/data/taiyuan-osm from the repository root)")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: boundaries/)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    build(args.source, args.out)


if __name__ == "__main__":
    main()
