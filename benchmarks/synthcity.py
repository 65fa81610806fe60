"""A synthetic city at Taiyuan's scale: streets, compounds, grids, communities and buildings.

The city is drawn on a warped lattice. Blocks (街区) are the cells between streets; each block is
cut into one to four grids (网格) by kinked lines and holds zero to eight compounds (小区) laid out
in columns and rows, so that every situation of DESIGN §2 arises from geometry alone:

- one compound over a block cut into several grids → ``large_compound``;
- one compound, one grid → ``equal``;
- several compounds in one grid → ``large_grid``;
- a cut running through a compound → ``mixed`` (10–20 % of compounds);
- blocks with no compound (parks, factories, schools) → ``no_compound`` grids;
- a thin ring of suburban blocks outside the gridded city → ``uncovered`` compounds.

Everything is made in "parametric" block coordinates (u, v), where block (i, j) is the unit square
[i, i+1] × [j, j+1], and mapped to metres by bilinear interpolation over a jittered, warped and
rotated node lattice (two warp cells per block side). Bilinear maps are linear along lines of
constant u or v, so grids that share an edge share every vertex on it and tile the city exactly:
a valid polygon coverage, with no gap or overlap. Compounds have jittered, sometimes notched
outlines; buildings are small rotated rectangles inside them.

Scale 1 is about Taiyuan (DESIGN §1): ≈ 5,700 compounds in the 1617:310:2912:904 type ratio,
≈ 8,000 grids, ≈ 160 communities of 40–60 grids, ≈ 130,000 buildings. Scale 5 is five times that.
Coordinates are CGCS2000 / 3-degree Gauss-Kruger CM 114E (EPSG:4547) around Taiyuan's centre.

Usage::

    from synthcity import make_city, write_city
    city = make_city(scale=1.0, seed=0)            # dict of GeoDataFrames
    write_city(city, "out")                         # out/city.gpkg, one layer per key

    python benchmarks/synthcity.py --scale 1 --out benchmarks/data/s1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

CRS = "EPSG:4547"
#: Taiyuan's centre (112.55°E, 37.87°N) in EPSG:4547, metres.
CENTRE = (372_400.0, 4_194_000.0)
#: Block size along u and v before warping, metres.
BLOCK_M = (330.0, 300.0)
#: Gridded blocks at scale 1 (tuned so that scale 1 gives ≈ 8,000 grids and ≈ 5,700 compounds).
BLOCKS_AT_SCALE_1 = 4_250
#: Suburban blocks outside the grids, as a share of the gridded ones.
RING_SHARE = 0.04
#: Every ARTERIAL_EVERY-th lattice line is an arterial road (wider setbacks).
ARTERIAL_EVERY = 4
#: Grids per community aimed at, and communities per street (街道).
GRIDS_PER_COMMUNITY = 50
COMMUNITIES_PER_STREET = 10

COMPOUND_TYPES = ("居住型", "过渡型", "老旧型", "单位型")
#: Taiyuan's counts of the four types (DESIGN §1): the generator keeps this ratio.
TYPE_COUNTS = (1617, 310, 2912, 904)
#: Households per m² of compound, by type.
TYPE_DENSITY = (0.010, 0.008, 0.014, 0.011)
#: Outline jitter (m) by type: old compounds and urban villages have the vaguest boundaries.
TYPE_JITTER = (2.0, 4.0, 4.0, 2.5)

# Block kinds: A one compound over several grids, B one compound one grid, C several compounds in
# one grid, D several grids each with its own compounds, E cuts through compounds, F no compound.
KIND_P = (0.30, 0.16, 0.11, 0.11, 0.13, 0.19)
A, B, C, D, E, F = range(6)
MAXC = 4      # compound columns per block at most
MAXK = 4      # grids per block at most
EDGE_PTS = 1 + 2 * (MAXK - 1)   # points an edge can carry: its warp midpoint, cuts from both sides

WORDS = list("桃杏柳槐松柏梅兰竹菊榆杨枫桂荷")
PLACES = ["迎泽", "并州", "晋阳", "汾河", "龙城", "长风", "滨河", "坞城", "许坦", "南寨", "北营",
          "东岗", "西华", "新华", "胜利", "和平", "五一", "解放", "府东", "府西", "青年", "建设",
          "朝阳", "双塔", "柳巷", "桥东", "桥西", "文源", "学府", "平阳", "体育", "亲贤", "长治",
          "南内环", "北大", "兴华", "千峰", "下元", "大营盘", "杏花岭", "小店", "尖草坪", "万柏林",
          "晋源", "阳曲", "古城", "享堂", "马庄", "黄陵", "孙家寨", "武宿", "北格", "刘家堡",
          "西温庄", "南屯", "大井峪", "后王", "金胜", "罗城", "义井", "漪汾", "寇庄", "玉门"]
SECOND = ["东", "西", "南", "北", "中", "新", "前", "后", "上", "下", "旧", "里", "园", "苑",
          "安", "康", "宁", "泰", "华", "丰", "盛", "德", "福", "兴", "荣", "昌", "景", "明"]
SUFFIX = {  # by compound type
    "居住型": ["花园", "家园", "小区", "苑", "公寓", "华庭", "名都"],
    "过渡型": ["村", "新村", "安置区", "城中村"],
    "老旧型": ["小区", "宿舍区", "楼群", "院", "北院", "南院"],
    "单位型": ["宿舍", "家属院", "生活区", "职工住宅"],
}
UNITS = ["太钢", "太重", "电力", "铁路", "化工", "煤炭", "纺织", "机械", "邮电", "建工", "供电",
         "制药", "矿机", "钢研", "卫校", "师院", "交通", "水利", "地质", "工商"]
DIGITS = "〇一二三四五六七八九"


@dataclass
class Lattice:
    """Warp nodes in metres, ``nodes[a, b]`` at parametric (a / WARP, b / WARP)."""

    nodes: np.ndarray
    nx: int
    ny: int
    warp: int = 2

    def world(self, u, v) -> np.ndarray:
        """Bilinear map from parametric (u, v) to metres; returns an array of shape (..., 2)."""
        a = np.asarray(u, dtype=float) * self.warp
        b = np.asarray(v, dtype=float) * self.warp
        ia = np.clip(np.floor(a).astype(np.intp), 0, self.nodes.shape[0] - 2)
        ib = np.clip(np.floor(b).astype(np.intp), 0, self.nodes.shape[1] - 2)
        s = (a - ia)[..., None]
        t = (b - ib)[..., None]
        n = self.nodes
        return ((1 - s) * (1 - t) * n[ia, ib] + s * (1 - t) * n[ia + 1, ib]
                + (1 - s) * t * n[ia, ib + 1] + s * t * n[ia + 1, ib + 1])


# ----------------------------------------------------------------------------- public API


def make_city(scale: float = 1.0, seed: int = 0, buildings: bool = True) -> dict[str, gpd.GeoDataFrame]:
    """Generate a synthetic city.

    Parameters
    ----------
    scale : float
        1.0 ≈ Taiyuan (≈ 5,700 compounds, 8,000 grids); the number of blocks grows linearly.
    seed : int
        Same seed, same city (byte for byte), whether or not buildings are made.
    buildings : bool
        Make the ``buildings`` layer (the slowest part); without it the key is absent.

    Returns
    -------
    dict of GeoDataFrame
        ``streets`` (street_id, name, kind, highway; LineStrings), ``compounds`` (compound_id,
        name, type, households), ``grids`` (grid_id, name, community, households),
        ``communities`` (community_id, name, street, households), and ``buildings``
        (building_id, compound_id — null outside compounds —, name, households, party_members).
        All in EPSG:4547, metres.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    rng = lambda stream: np.random.default_rng([seed, stream])  # noqa: E731 - one stream per stage
    blocks = _blocks(rng(1), max(12, round(BLOCKS_AT_SCALE_1 * scale)))
    lat = _lattice(rng(2), blocks)
    plan = _plan(rng(3), blocks)
    grid_geoms, grid_block = _grid_polygons(plan, blocks, lat)
    comp = _compounds(rng(4), plan, blocks, lat)
    community, street_of = _communities(rng(5), blocks, lat, grid_block, plan)
    grids, communities = _grid_tables(rng(6), grid_geoms, grid_block, community, street_of, comp, plan)
    city = {
        "streets": _streets(rng(7), blocks, lat),
        "compounds": comp.table,
        "grids": grids,
        "communities": communities,
    }
    if buildings:
        city["buildings"] = _buildings(rng(8), comp, plan, blocks, lat, grids)
    return city


def write_city(city: dict[str, gpd.GeoDataFrame], out_dir: str | os.PathLike, name: str = "city.gpkg") -> Path:
    """Write every layer into ``out_dir/city.gpkg`` (layer per key), through a temporary name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    tmp = out / f".{name}.tmp.gpkg"
    tmp.unlink(missing_ok=True)
    for key, layer in city.items():
        layer.to_file(tmp, layer=key, driver="GPKG", engine="pyogrio")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------- lattice and blocks


@dataclass
class Blocks:
    """The blocks in use: lattice position, whether gridded (city) or suburban (ring)."""

    i: np.ndarray
    j: np.ndarray
    city: np.ndarray
    nx: int
    ny: int
    index: np.ndarray  # (nx, ny) → block number or -1


def _blocks(rng: np.random.Generator, n_city: int) -> Blocks:
    """Pick the blocks inside an irregular city outline: the n_city nearest, by a wavy radius."""
    n_ring = max(6, round(n_city * RING_SHARE))
    r0 = np.sqrt((n_city + n_ring) * BLOCK_M[0] * BLOCK_M[1] / np.pi)
    nx = int(np.ceil(2.8 * r0 / BLOCK_M[0])) + 2
    ny = int(np.ceil(2.8 * r0 / BLOCK_M[1])) + 2
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    x = (ii.ravel() + 0.5 - nx / 2) * BLOCK_M[0]
    y = (jj.ravel() + 0.5 - ny / 2) * BLOCK_M[1]
    theta = np.arctan2(y, x)
    phase = rng.uniform(0, 2 * np.pi, 3)
    wavy = 1 + 0.14 * np.sin(2 * theta + phase[0]) + 0.08 * np.sin(3 * theta + phase[1]) \
        + 0.05 * np.sin(5 * theta + phase[2])
    rho = np.hypot(x, y) / wavy + rng.uniform(0, 0.6 * BLOCK_M[0], x.size)  # ragged edge
    order = np.argsort(rho, kind="stable")
    city_mask = np.zeros(nx * ny, bool)
    city_mask[order[:n_city]] = True
    city_mask = _fill_holes(city_mask.reshape(nx, ny)).ravel()
    ring = order[~city_mask[order]][:n_ring]
    keep = np.sort(np.concatenate([np.flatnonzero(city_mask), ring]))  # lattice order: neighbours get near numbers
    city = city_mask[keep]
    index = np.full(nx * ny, -1)
    index[keep] = np.arange(keep.size)
    return Blocks(i=ii.ravel()[keep], j=jj.ravel()[keep], city=city, nx=nx, ny=ny,
                  index=index.reshape(nx, ny))


def _fill_holes(inside: np.ndarray) -> np.ndarray:
    """Blocks enclosed by the city join it: grids leave no gap inside the city."""
    outside = ~inside
    reach = np.zeros_like(inside)
    reach[0, :], reach[-1, :], reach[:, 0], reach[:, -1] = outside[0, :], outside[-1, :], outside[:, 0], outside[:, -1]
    while True:
        grown = reach.copy()
        grown[1:, :] |= reach[:-1, :]
        grown[:-1, :] |= reach[1:, :]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= outside
        if np.array_equal(grown, reach):
            return ~reach
        reach = grown


def _lattice(rng: np.random.Generator, blocks: Blocks, warp: int = 2) -> Lattice:
    """Warp nodes: a rotated lattice, bent by long waves (curving arterials), each node jittered."""
    na, nb = warp * blocks.nx + 1, warp * blocks.ny + 1
    ga, gb = np.meshgrid(np.arange(na), np.arange(nb), indexing="ij")
    x = (ga / warp - blocks.nx / 2) * BLOCK_M[0]
    y = (gb / warp - blocks.ny / 2) * BLOCK_M[1]
    amp, wave = 160.0, rng.uniform(7000, 10000, 2)
    ph = rng.uniform(0, 2 * np.pi, 2)
    x2 = x + amp * np.sin(2 * np.pi * y / wave[0] + ph[0])
    y2 = y + amp * np.sin(2 * np.pi * x / wave[1] + ph[1])
    angle = np.radians(rng.uniform(-12, 12))
    xr = np.cos(angle) * x2 - np.sin(angle) * y2
    yr = np.sin(angle) * x2 + np.cos(angle) * y2
    jitter = 0.07 * np.array(BLOCK_M) / warp
    xr = xr + rng.uniform(-1, 1, xr.shape) * jitter[0]
    yr = yr + rng.uniform(-1, 1, yr.shape) * jitter[1]
    nodes = np.stack([xr + CENTRE[0], yr + CENTRE[1]], axis=-1)
    return Lattice(nodes=nodes, nx=blocks.nx, ny=blocks.ny, warp=warp)


# ----------------------------------------------------------------------------- block plans


@dataclass
class Plan:
    """Per block: kind, cut direction, grids, cuts and compound columns/rows (block-local a, b)."""

    kind: np.ndarray
    d: np.ndarray          # 0: cuts run along v (a = u); 1: cuts run along u (a = v)
    k: np.ndarray          # grids in the block (0 for suburban blocks)
    cut: np.ndarray        # (n, MAXK-1, 3) a at b = 0, 0.5, 1; NaN when unused
    ncol: np.ndarray
    rows: np.ndarray
    col_lo: np.ndarray     # (n, MAXC)
    col_hi: np.ndarray
    row_lo: np.ndarray     # (n, 2)
    row_hi: np.ndarray
    filled: np.ndarray     # (n, MAXC, 2)
    size_a: np.ndarray     # block size in metres along a and b
    size_b: np.ndarray
    lo_b: np.ndarray
    hi_b: np.ndarray
    lo_a: np.ndarray
    hi_a: np.ndarray
    sliver: np.ndarray     # (n, MAXC) a-extension of a column's right side across a cut


def _pick(rng, kind: np.ndarray, table: dict[int, tuple[list[int], list[float]]], default: int = 0) -> np.ndarray:
    out = np.full(kind.size, default)
    for kd, (values, p) in table.items():
        where = kind == kd
        out[where] = rng.choice(values, size=where.sum(), p=p)
    return out


def _plan(rng: np.random.Generator, blocks: Blocks) -> Plan:
    n = blocks.i.size
    city = blocks.city
    kind = rng.choice(6, size=n, p=KIND_P)
    kind[~city] = rng.choice([B, C, F], size=(~city).sum(), p=[0.10, 0.12, 0.78])
    # Small cities still show every situation: the first blocks take each kind once.
    firsts = rng.permutation(np.flatnonzero(city))[:6]
    kind[firsts] = np.arange(firsts.size)
    ring = np.flatnonzero(~city)
    kind[ring[:1]] = B
    d = rng.integers(0, 2, n)
    d[firsts] = 0

    k = _pick(rng, kind, {A: ([2, 3, 4], [0.45, 0.4, 0.15]), D: ([2, 3], [0.75, 0.25]),
                          E: ([2, 3], [0.7, 0.3]), F: ([1, 2], [0.5, 0.5])}, default=1)
    k[firsts[:1]] = 2
    k[~city] = 0
    ncol = _pick(rng, kind, {A: ([1], [1.0]), B: ([1], [1.0]), C: ([2, 3, 4], [0.5, 0.4, 0.1]),
                             E: ([2, 3], [0.7, 0.3]), F: ([0], [1.0])})
    ncol[kind == D] = np.maximum(k[kind == D], 1)
    ncol[(kind == D) & ~city] = 2
    rows = _pick(rng, kind, {C: ([1, 2], [0.7, 0.3]), D: ([1, 2], [0.75, 0.25])}, default=1)

    # Setbacks from the street on each side, metres: wider on arterials.
    ii, jj = blocks.i, blocks.j
    art = lambda line: (line % ARTERIAL_EVERY) == 0  # noqa: E731
    setback = lambda line: np.where(art(line), 24.0, 9.0) + rng.uniform(0, 8, n)  # noqa: E731
    su0, su1, sv0, sv1 = setback(ii), setback(ii + 1), setback(jj), setback(jj + 1)
    size_a = np.where(d == 0, BLOCK_M[0], BLOCK_M[1])
    size_b = np.where(d == 0, BLOCK_M[1], BLOCK_M[0])
    lo_a = np.where(d == 0, su0, sv0) / size_a
    hi_a = 1 - np.where(d == 0, su1, sv1) / size_a
    lo_b = np.where(d == 0, sv0, su0) / size_b
    hi_b = 1 - np.where(d == 0, sv1, su1) / size_b

    # Compound columns along a, separated by 10 m internal roads.
    m = np.arange(MAXC)
    w = rng.gamma(6.0, size=(n, MAXC)) * (m < ncol[:, None])
    total = np.where(w.sum(1) > 0, w.sum(1), 1.0)
    edges = np.concatenate([np.zeros((n, 1)), np.cumsum(w, axis=1) / total[:, None]], axis=1)
    edges = lo_a[:, None] + (hi_a - lo_a)[:, None] * edges
    half_gap = 5.0 / size_a[:, None]
    col_lo = edges[:, :-1] + np.where(m > 0, half_gap, 0)
    col_hi = edges[:, 1:] - np.where(m < ncol[:, None] - 1, half_gap, 0)

    # Rows along b: two rows split near the middle by an 8 m lane.
    mid = lo_b + (hi_b - lo_b) * rng.uniform(0.35, 0.65, n)
    two = rows == 2
    half_lane = 4.0 / size_b
    row_lo = np.stack([lo_b, np.where(two, mid + half_lane, np.nan)], axis=1)
    row_hi = np.stack([np.where(two, mid - half_lane, hi_b), np.where(two, hi_b, np.nan)], axis=1)
    fill_p = np.select([kind == C, kind == D], [0.9, 0.85], 1.0)
    filled = (rng.random((n, MAXC, 2)) < fill_p[:, None, None]) \
        & (m[None, :, None] < ncol[:, None, None]) & (np.arange(2)[None, None, :] < rows[:, None, None])
    filled[firsts[2:3], :1, :1] = True          # the forced C block keeps two compounds
    filled[firsts[2:3], 1:2, :1] = ncol[firsts[2:3]][:, None] > 1

    cut, sliver = _cuts(rng, kind, k, ncol, edges, col_lo, col_hi, size_a)
    return Plan(kind=kind, d=d, k=k, cut=cut, ncol=ncol, rows=rows, col_lo=col_lo, col_hi=col_hi,
                row_lo=row_lo, row_hi=row_hi, filled=filled, size_a=size_a, size_b=size_b,
                lo_a=lo_a, hi_a=hi_a, lo_b=lo_b, hi_b=hi_b, sliver=sliver)


def _cuts(rng, kind, k, ncol, edges, col_lo, col_hi, size_a):
    """Cut lines between a block's grids: a at b = 0, 0.5, 1 (kinked), NaN where unused."""
    n = kind.size
    c = np.arange(MAXK - 1)[None, :]
    used = c < (k - 1)[:, None]
    base = np.full((n, MAXK - 1), np.nan)
    kk = np.maximum(k, 1)[:, None]
    even = (c + 1 + rng.uniform(-0.2, 0.2, (n, MAXK - 1))) / kk        # A: about equal strips
    base = np.where((kind == A)[:, None], even, base)
    base = np.where((kind == F)[:, None], rng.uniform(0.35, 0.65, (n, MAXK - 1)), base)
    base = np.where((kind == D)[:, None], edges[:, 1:MAXK], base)      # D: along the internal roads
    # E: each cut runs through a different compound column, 30–70 % across it.
    keys = rng.random((n, MAXC)) + (np.arange(MAXC)[None, :] >= ncol[:, None])
    chosen = np.sort(np.argsort(keys, axis=1)[:, : MAXK - 1], axis=1)
    lo = np.take_along_axis(col_lo, chosen, 1)
    hi = np.take_along_axis(col_hi, chosen, 1)
    inside = lo + (hi - lo) * rng.uniform(0.3, 0.7, (n, MAXK - 1))
    base = np.where((kind == E)[:, None], inside, base)
    base = np.where(used, base, np.nan)

    kink = np.select([kind == D, kind == E], [2.0, 6.0], 12.0)[:, None, None] / size_a[:, None, None]
    cut = base[:, :, None] + rng.uniform(-1, 1, (n, MAXK - 1, 3)) * kink
    cut = np.clip(cut, 0.06, 0.94)

    # D: a quarter of the compounds beside a cut reach 1.5–4 m across it (digitising slivers).
    sliver = np.zeros((n, MAXC))
    beside = (kind == D)[:, None] & (np.arange(MAXC)[None, :] < (k - 1)[:, None])
    reach = (rng.random((n, MAXC)) < 0.25) & beside
    sliver[reach] = (rng.uniform(6.5, 9.0, reach.sum()) / np.broadcast_to(size_a[:, None], reach.shape)[reach])
    return cut, sliver


# ----------------------------------------------------------------------------- grids


def _grid_polygons(plan: Plan, blocks: Blocks, lat: Lattice) -> tuple[np.ndarray, np.ndarray]:
    """One polygon per grid (block strip), with every vertex of neighbouring grids on its edges."""
    n = blocks.i.size
    nx, ny = blocks.nx, blocks.ny
    # Points on each block edge (fractions along it): the warp midpoint and cut ends of both sides.
    h_pts = np.full((nx, ny + 1, EDGE_PTS), np.nan)
    v_pts = np.full((nx + 1, ny, EDGE_PTS), np.nan)
    h_pts[..., 0] = 0.5
    v_pts[..., 0] = 0.5
    i, j = blocks.i, blocks.j
    lo_end, hi_end = plan.cut[:, :, 0], plan.cut[:, :, 2]
    s0, s1 = slice(1, MAXK), slice(MAXK, EDGE_PTS)
    du, dv = plan.d == 0, plan.d == 1
    h_pts[i[du], j[du], s0] = lo_end[du]
    h_pts[i[du], j[du] + 1, s1] = hi_end[du]
    v_pts[i[dv], j[dv], s0] = lo_end[dv]
    v_pts[i[dv] + 1, j[dv], s1] = hi_end[dv]

    bi = np.repeat(np.arange(n), plan.k)
    m = np.arange(bi.size) - np.repeat(np.cumsum(plan.k) - plan.k, plan.k)
    k = plan.k[bi]
    d = plan.d[bi]
    ib, jb = i[bi], j[bi]
    cut = np.concatenate([np.zeros((n, 1, 3)), np.nan_to_num(plan.cut, nan=1.0), np.ones((n, 1, 3))], axis=1)
    left = cut[bi, m]                                     # (s, 3): a at b = 0, 0.5, 1
    right = cut[bi, np.minimum(m + 1, MAXK)]
    right = np.where((m == k - 1)[:, None], 1.0, right)
    # Edges in block-local terms (b = 0, b = 1, a = 0, a = 1).
    e_b0 = np.where((d == 0)[:, None], h_pts[ib, jb], v_pts[ib, jb])
    e_b1 = np.where((d == 0)[:, None], h_pts[ib, jb + 1], v_pts[ib + 1, jb])
    e_a0 = np.where((d == 0)[:, None], v_pts[ib, jb], h_pts[ib, jb])
    e_a1 = np.where((d == 0)[:, None], v_pts[ib + 1, jb], h_pts[ib, jb + 1])

    def between(f, lo, hi, fill):
        inside = (f > lo[:, None]) & (f < hi[:, None])
        return np.where(inside, f, fill[:, None])

    ns = bi.size
    zeros, ones = np.zeros(ns), np.ones(ns)
    # Chain 1: along b = 0 from left to right.
    a1 = np.column_stack([left[:, 0], np.sort(between(e_b0, left[:, 0], right[:, 0], left[:, 0]), 1), right[:, 0]])
    b1 = np.zeros_like(a1)
    # Chain 2: up the right side: the block edge a = 1, or the cut's midpoint.
    last = (m == k - 1)[:, None]
    pad = EDGE_PTS - 1
    a2 = np.where(last, 1.0, np.column_stack([np.repeat(right[:, :1], pad, 1), right[:, 1]]))
    b2 = np.where(last, np.sort(between(e_a1, zeros, ones, zeros), 1),
                  np.column_stack([np.zeros((ns, pad)), np.full(ns, 0.5)]))
    # Chain 3: along b = 1 from right to left.
    a3 = np.column_stack([right[:, 2], -np.sort(-between(e_b1, left[:, 2], right[:, 2], right[:, 2]), 1), left[:, 2]])
    b3 = np.ones_like(a3)
    # Chain 4: down the left side.
    first = (m == 0)[:, None]
    a4 = np.where(first, 0.0, np.column_stack([np.repeat(left[:, 2:], pad, 1), left[:, 1]]))
    b4 = np.where(first, -np.sort(-between(e_a0, zeros, ones, ones), 1),
                  np.column_stack([np.ones((ns, pad)), np.full(ns, 0.5)]))
    a = np.concatenate([a1, a2, a3, a4], axis=1)
    b = np.concatenate([b1, b2, b3, b4], axis=1)
    geoms = _to_polygons(a, b, ib, jb, d, lat)
    return geoms, bi


def _to_polygons(a, b, ib, jb, d, lat: Lattice) -> np.ndarray:
    """Block-local rings (a, b) → polygons in metres, counter-clockwise, repeated points removed."""
    d = d[:, None]
    u = ib[:, None] + np.where(d == 0, a, b)
    v = jb[:, None] + np.where(d == 0, b, a)
    xy = lat.world(u, v)
    geoms = shapely.polygons(xy)
    geoms = shapely.remove_repeated_points(geoms, tolerance=0.0)
    return shapely.orient_polygons(geoms)


# ----------------------------------------------------------------------------- compounds


@dataclass
class Compounds:
    table: gpd.GeoDataFrame
    block: np.ndarray
    rect: np.ndarray       # (n, 4) a0, a1, b0, b1 block-local, before jitter


def _compounds(rng: np.random.Generator, plan: Plan, blocks: Blocks, lat: Lattice) -> Compounds:
    bi, col, row = np.nonzero(plan.filled)
    a0 = plan.col_lo[bi, col]
    a1 = plan.col_hi[bi, col] + plan.sliver[bi, col]
    b0 = plan.row_lo[bi, row]
    b1 = plan.row_hi[bi, row]
    n = bi.size
    sa, sb = plan.size_a[bi], plan.size_b[bi]
    area = (a1 - a0) * sa * (b1 - b0) * sb

    ctype = _types(rng, area)
    # A 12-point outline: corners and thirds of each side, jittered; a quarter get a notched corner.
    t = np.array([0, 1 / 3, 2 / 3])
    wa, hb = a1 - a0, b1 - b0
    ra = np.concatenate([a0[:, None] + wa[:, None] * t, np.repeat(a1[:, None], 3, 1),
                         a1[:, None] - wa[:, None] * t, np.repeat(a0[:, None], 3, 1)], axis=1)
    rb = np.concatenate([np.repeat(b0[:, None], 3, 1), b0[:, None] + hb[:, None] * t,
                         np.repeat(b1[:, None], 3, 1), b1[:, None] - hb[:, None] * t], axis=1)
    jit = np.asarray(TYPE_JITTER)[ctype]
    ja = ra + rng.uniform(-1, 1, ra.shape) * (jit / sa)[:, None]
    jb = rb + rng.uniform(-1, 1, rb.shape) * (jit / sb)[:, None]
    notch = rng.random(n) < 0.25
    corner = rng.integers(0, 4, n) * 3
    sign_a = np.array([1, -1, -1, 1])[corner // 3]
    sign_b = np.array([1, 1, -1, -1])[corner // 3]
    rows_ = np.flatnonzero(notch)
    ja[rows_, corner[rows_]] += sign_a[rows_] * wa[rows_] * rng.uniform(0.1, 0.3, rows_.size)
    jb[rows_, corner[rows_]] += sign_b[rows_] * hb[rows_] * rng.uniform(0.1, 0.3, rows_.size)

    geoms = _to_polygons(ja, jb, blocks.i[bi], blocks.j[bi], plan.d[bi], lat)
    bad = ~shapely.is_valid(geoms)
    if bad.any():  # a jitter folded an outline: fall back to the plain one
        geoms[bad] = _to_polygons(ra[bad], rb[bad], blocks.i[bi[bad]], blocks.j[bi[bad]], plan.d[bi[bad]], lat)

    true_area = shapely.area(geoms)
    density = np.asarray(TYPE_DENSITY)[ctype] * rng.lognormal(0, 0.25, n)
    households = np.maximum(12, np.round(true_area * density)).astype(np.int64)
    types = np.asarray(COMPOUND_TYPES, dtype=object)[ctype]
    table = gpd.GeoDataFrame({
        "compound_id": _ids("XQ", n, 6),
        "name": _compound_names(rng, types),
        "type": types,
        "households": households,
    }, geometry=geoms, crs=CRS)
    return Compounds(table=table, block=bi, rect=np.column_stack([a0, a1, b0, b1]))


def _types(rng: np.random.Generator, area: np.ndarray) -> np.ndarray:
    """Types in Taiyuan's ratio; larger compounds lean residential, smaller ones old."""
    n = area.size
    share = np.asarray(TYPE_COUNTS, float) / sum(TYPE_COUNTS)
    counts = np.floor(share * n).astype(int)
    counts[2] += n - counts.sum()
    score = np.log(np.maximum(area, 1.0)) + rng.normal(0, 0.8, n)
    order = np.argsort(-score, kind="stable")
    # Residential (居住型) biggest, then work-unit (单位型), transitional (过渡型), old (老旧型).
    ranked = np.repeat([0, 3, 1, 2], counts[[0, 3, 1, 2]])
    out = np.empty(n, dtype=np.intp)
    out[order] = ranked
    return out


def _compound_names(rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
    n = types.size
    place = np.asarray(PLACES, dtype=object)[rng.integers(0, len(PLACES), n)]
    second = np.asarray(SECOND, dtype=object)[rng.integers(0, len(SECOND), n)]
    unit = np.asarray(UNITS, dtype=object)[rng.integers(0, len(UNITS), n)]
    suffix = np.empty(n, dtype=object)
    for t, options in SUFFIX.items():
        where = types == t
        suffix[where] = np.asarray(options, dtype=object)[rng.integers(0, len(options), where.sum())]
    stem = np.where(types == "单位型", unit + place, place + second)
    names = pd.Series(stem + suffix)
    dup = names.groupby(names).cumcount().to_numpy()
    # Repeated names get a phase number, as real estates do (二期, 三期, …).
    return np.where(dup > 0, names + pd.Series(dup + 1).map(_chinese) + "期", names).astype(object)


# ----------------------------------------------------------------------------- communities


def _communities(rng, blocks: Blocks, lat: Lattice, grid_block: np.ndarray, plan: Plan):
    """Blocks grouped into communities of ≈ 50 grids, communities into streets of ≈ 10."""
    city = np.flatnonzero(blocks.city)
    centre = lat.world(blocks.i[city] + 0.5, blocks.j[city] + 0.5)
    weight = plan.k[city].astype(float)
    n_comm = max(1, round(weight.sum() / GRIDS_PER_COMMUNITY))
    label = _balanced_regions(rng, centre, weight, n_comm)
    label = _connected(label, blocks.i[city], blocks.j[city], blocks.nx, blocks.ny)
    # Number communities in reading order of their centres, for readable ids.
    label = _renumber(label, centre, weight)
    community = np.full(blocks.i.size, -1)
    community[city] = label
    comm_centre = _weighted_means(centre, weight, label, label.max() + 1)
    n_street = max(1, round(comm_centre.shape[0] / COMMUNITIES_PER_STREET))
    street = _balanced_regions(rng, comm_centre, np.ones(comm_centre.shape[0]), n_street)
    street = _renumber(street, comm_centre, np.ones(comm_centre.shape[0]))
    return community, street


def _connected(label: np.ndarray, i: np.ndarray, j: np.ndarray, nx: int, ny: int, rounds: int = 3) -> np.ndarray:
    """Give stray pieces of a region (blocks cut off from its main part) to the neighbour they touch most."""
    for _ in range(rounds):
        lab = np.full((nx + 2, ny + 2), -1)
        lab[i + 1, j + 1] = label
        part = np.full((nx + 2, ny + 2), -1)
        part[i + 1, j + 1] = np.arange(label.size)
        shifts = ((1, 0), (-1, 0), (0, 1), (0, -1))
        while True:  # connected pieces: spread the smallest block number through each region
            before = part.copy()
            for di, dj in shifts:
                nb_lab = np.roll(lab, (di, dj), (0, 1))
                nb_part = np.roll(part, (di, dj), (0, 1))
                same = (nb_lab == lab) & (lab >= 0)
                part = np.where(same, np.minimum(part, nb_part), part)
            if np.array_equal(part, before):
                break
        piece = part[i + 1, j + 1]
        size = np.bincount(piece, minlength=label.size)
        biggest = pd.Series(size[piece]).groupby(label).transform("max").to_numpy()
        stray = size[piece] < biggest
        if not stray.any():
            break
        # Neighbours of stray blocks in other regions, counted per piece.
        rows = []
        for di, dj in shifts:
            nb = np.roll(lab, (di, dj), (0, 1))[i + 1, j + 1]
            ok = stray & (nb >= 0) & (nb != label)
            rows.append(pd.DataFrame({"piece": piece[ok], "to": nb[ok]}))
        votes = pd.concat(rows)
        if votes.empty:
            break
        best = votes.value_counts().reset_index().drop_duplicates("piece").set_index("piece")["to"]
        moved = stray & np.isin(piece, best.index)
        label = label.copy()
        label[moved] = best.reindex(piece[moved]).to_numpy()
    return label


def _balanced_regions(rng, xy: np.ndarray, weight: np.ndarray, n: int, iters: int = 60) -> np.ndarray:
    """Group points into n compact regions of about equal weight.

    A power diagram: Lloyd steps first (compact shapes), then each seed's additive weight is
    nudged until the regions balance. Only seeds within a few region radii of a point compete
    for it, found with one STRtree query per step.
    """
    if n == 1:
        return np.zeros(len(xy), dtype=np.intp)
    pts = xy - xy.mean(0)
    points = shapely.points(pts)
    seeds = pts[rng.choice(len(pts), n, replace=False, p=weight / weight.sum())]
    bias = np.zeros(n)
    target = weight.sum() / n
    cell = np.ptp(pts[:, 0]) * np.ptp(pts[:, 1]) * np.pi / 4 / n     # ≈ area of one region, m²
    radius = 2.5 * np.sqrt(cell / np.pi)
    pairs = None
    for it in range(iters):
        lloyd = it < iters // 2
        if lloyd or pairs is None:
            pairs = shapely.STRtree(shapely.points(seeds)).query(points, predicate="dwithin", distance=radius)
        label = _closest(pts, seeds, bias, *pairs)
        got = np.bincount(label, weight, minlength=n)
        if lloyd:
            moved = _weighted_means(pts, weight, label, n)
            seeds = np.where((got > 0)[:, None], moved, seeds)
        bias += 0.25 * cell * (target - got) / target
    return label


def _closest(pts, seeds, bias, pi, si) -> np.ndarray:
    """For each point, the seed of least power distance among its candidate pairs (pi, si).

    ``pi`` is sorted (STRtree answers in input order), so each point's pairs form one run.
    """
    power = ((pts[pi] - seeds[si]) ** 2).sum(1) - bias[si]
    starts = np.flatnonzero(np.r_[True, pi[1:] != pi[:-1]])
    least = np.minimum.reduceat(power, starts)
    hits = np.flatnonzero(power == np.repeat(least, np.diff(np.r_[starts, pi.size])))
    hits = hits[np.r_[True, pi[hits][1:] != pi[hits][:-1]]]
    label = np.full(len(pts), -1)
    label[pi[hits]] = si[hits]
    lost = label < 0
    if lost.any():  # no seed within reach: take the nearest
        _, near = shapely.STRtree(shapely.points(seeds)).query_nearest(shapely.points(pts[lost]), all_matches=False)
        label[lost] = near
    return label


def _weighted_means(xy, weight, label, n):
    w = np.bincount(label, weight, minlength=n)
    w = np.where(w > 0, w, 1.0)
    return np.column_stack([np.bincount(label, weight * xy[:, 0], minlength=n) / w,
                            np.bincount(label, weight * xy[:, 1], minlength=n) / w])


def _renumber(label: np.ndarray, xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Relabel regions 0.. in rows from north to south, west to east (as a map is read)."""
    n = label.max() + 1
    centre = _weighted_means(xy, weight, label, n)
    present = np.bincount(label, minlength=n) > 0
    band = np.floor((centre[:, 1].max() - centre[:, 1]) / 1500.0)
    order = np.lexsort((centre[:, 0], band))
    order = order[present[order]]
    new = np.full(n, -1)
    new[order] = np.arange(order.size)
    return new[label]


def _grid_tables(rng, geoms, grid_block, community, street_of, comp: Compounds, plan: Plan):
    g_comm = community[grid_block]
    order = np.lexsort((np.arange(geoms.size), g_comm))
    geoms, grid_block, g_comm = geoms[order], grid_block[order], g_comm[order]
    n_comm = street_of.size
    comm_names = _unique_names(rng, n_comm, "社区")
    street_names = _unique_names(rng, street_of.max() + 1, "街道", words=PLACES)
    number = pd.Series(g_comm).groupby(g_comm).cumcount().to_numpy() + 1
    names = comm_names[g_comm] + "第" + pd.Series(number).map(_chinese).to_numpy() + "网格"

    # Households: each compound's shared by area, plus scattered households outside compounds.
    hh = _shared_households(comp, geoms)
    no_comp = plan.kind[grid_block] == F
    scattered = np.where(no_comp, rng.integers(0, 220, geoms.size), rng.integers(0, 40, geoms.size))
    households = np.round(hh).astype(np.int64) + scattered
    comm_ids = _ids("SQ", n_comm, 4)
    grids = gpd.GeoDataFrame({
        "grid_id": _ids("WG", geoms.size, 6),
        "name": names,
        "community": comm_ids[g_comm],
        "households": households,
    }, geometry=geoms, crs=CRS)
    communities = grids[["community", "households", "geometry"]].dissolve(
        by="community", aggfunc="sum", method="coverage").reset_index()
    communities = communities.rename(columns={"community": "community_id"})
    position = pd.Index(comm_ids).get_indexer(communities.community_id)
    communities.insert(1, "name", comm_names[position])
    communities.insert(2, "street", street_names[street_of[position]])
    return grids, communities[["community_id", "name", "street", "households", "geometry"]]


# ----------------------------------------------------------------------------- streets


def _streets(rng, blocks: Blocks, lat: Lattice) -> gpd.GeoDataFrame:
    """Street segments between intersections along the lattice lines around the blocks in use."""
    nx, ny = blocks.nx, blocks.ny
    used = blocks.index >= 0
    pad = np.zeros((nx + 2, ny + 2), bool)
    pad[1:-1, 1:-1] = used
    # Horizontal edge (i, j) lies between blocks (i, j-1) and (i, j); vertical (i, j) between (i-1, j) and (i, j).
    h_i, h_j = np.nonzero(pad[1:-1, :-1] | pad[1:-1, 1:])
    v_i, v_j = np.nonzero(pad[:-1, 1:-1] | pad[1:, 1:-1])
    t = np.array([0.0, 0.5, 1.0])
    hu, hv = h_i[:, None] + t, np.repeat(h_j[:, None], 3, 1).astype(float)
    vu, vv = np.repeat(v_i[:, None], 3, 1).astype(float), v_j[:, None] + t
    xy = lat.world(np.concatenate([hu, vu]), np.concatenate([hv, vv]))
    geoms = shapely.linestrings(xy)
    line = np.concatenate([h_j, v_i])
    horizontal = np.concatenate([np.ones(h_i.size, bool), np.zeros(v_i.size, bool)])
    arterial = line % ARTERIAL_EVERY == 0
    n_lines = max(nx, ny) + 1
    big = np.asarray(PLACES, dtype=object)[rng.permutation(n_lines) % len(PLACES)]
    numbers = pd.Series(np.arange(1, n_lines + 1)).map(_chinese).to_numpy()
    along = np.where(horizontal, "纬", "经").astype(object)
    road = np.where(horizontal, "街", "路").astype(object)
    name = np.where(arterial, big[line] + np.where(horizontal, "大街", "路").astype(object),
                    along + numbers[line].astype(object) + road)
    return gpd.GeoDataFrame({
        "street_id": _ids("JD", geoms.size, 6),
        "name": name.astype(object),
        "kind": np.where(arterial, "arterial", "local").astype(object),
        "highway": np.where(arterial, "primary", "residential").astype(object),
    }, geometry=geoms, crs=CRS)


# ----------------------------------------------------------------------------- buildings


def _buildings(rng, comp: Compounds, plan: Plan, blocks: Blocks, lat: Lattice, grids) -> gpd.GeoDataFrame:
    """Rows of rotated rectangles in each compound; loose ones (factories, schools) in empty blocks."""
    inset = 7.0
    bi = comp.block
    a0, a1, b0, b1 = comp.rect.T
    sa, sb = plan.size_a[bi], plan.size_b[bi]
    in_c = _slots(rng, bi, plan.d[bi], a0 + inset / sa, a1 - inset / sa, b0 + inset / sb, b1 - inset / sb,
                  sa, sb, blocks, lat, pitch=(46.0, 28.0), keep=0.93)
    fb = np.flatnonzero((plan.kind == F) & blocks.city)
    out_c = _slots(rng, fb, plan.d[fb], plan.lo_a[fb], plan.hi_a[fb], plan.lo_b[fb], plan.hi_b[fb],
                   plan.size_a[fb], plan.size_b[fb], blocks, lat, pitch=(80.0, 50.0), keep=0.3)
    n_comp = len(comp.table)
    owner = np.concatenate([in_c["rect"], np.full(out_c["rect"].size, -1)])
    group = np.concatenate([in_c["rect"], n_comp + fb[out_c["rect"]]])
    geoms = np.concatenate([in_c["geometry"], out_c["geometry"]])
    footprint = np.concatenate([in_c["footprint"], out_c["footprint"]])

    # Keep what lies properly inside its compound and clears every earlier building; loose
    # buildings must stay out of compounds.
    cg = comp.table.geometry.to_numpy()
    shapely.prepare(cg)
    own = owner >= 0
    keep = np.ones(geoms.size, bool)
    keep[own] = shapely.contains_properly(cg[owner[own]], geoms[own])
    p, q = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep[q[p < q]] = False
    loose_idx = np.flatnonzero(~own)
    hit, _ = shapely.STRtree(cg).query(geoms[loose_idx], predicate="intersects")
    keep[loose_idx[hit]] = False
    owner, group, geoms, footprint = owner[keep], group[keep], geoms[keep], footprint[keep]

    households = _apportion(comp.table.households.to_numpy(), owner, footprint)
    loose = owner < 0
    if loose.any():  # loose buildings share their grid's households that live outside compounds
        li, gi = shapely.STRtree(grids.geometry.to_numpy()).query(
            shapely.point_on_surface(geoms[loose]), predicate="within")
        grid_of = np.full(loose.sum(), -1)
        grid_of[li] = gi
        scattered = grids.households.to_numpy() - np.round(_shared_households(comp, grids.geometry.to_numpy())).astype(np.int64)
        scattered = np.maximum(scattered, 0)
        households[loose] = _apportion(scattered, grid_of, footprint[loose])
    party = rng.binomial(households, 0.085)
    order = np.argsort(group, kind="stable")
    number = pd.Series(group[order]).groupby(group[order]).cumcount().to_numpy() + 1
    comp_ids = comp.table.compound_id.to_numpy()
    cid = np.where(owner >= 0, comp_ids[np.maximum(owner, 0)], None)
    return gpd.GeoDataFrame({
        "building_id": _ids("LD", geoms.size, 7),
        "compound_id": pd.array(cid[order], dtype="string"),
        "name": (pd.Series(number).astype(str) + "号楼").to_numpy(dtype=object),
        "households": households[order],
        "party_members": party[order],
    }, geometry=geoms[order], crs=CRS)


def _slots(rng, block, d, a0, a1, b0, b1, sa, sb, blocks: Blocks, lat: Lattice, pitch, keep) -> dict:
    """Rotated rectangles on a regular array of slots in each rectangle (block-local a, b).

    Returns ``rect`` (which rectangle each building is in), ``geometry`` and ``footprint`` (m²).
    """
    d = np.asarray(d)
    # Slab buildings run along u (east–west); rows follow along v (spaced for winter sun).
    su = np.where(d == 0, sa, sb)
    sv = np.where(d == 0, sb, sa)
    u0 = np.where(d == 0, a0, b0)
    u1 = np.where(d == 0, a1, b1)
    v0 = np.where(d == 0, b0, a0)
    v1 = np.where(d == 0, b1, a1)
    wu, wv = np.maximum(u1 - u0, 0) * su, np.maximum(v1 - v0, 0) * sv
    nu = np.floor(wu / pitch[0]).astype(int)
    nv = np.floor(wv / pitch[1]).astype(int)
    nu = np.where((nu == 0) & (wu > 24) & (wv > 14), 1, nu)
    nv = np.where((nv == 0) & (nu > 0) & (wv > 14), 1, nv)
    nv = np.where(nu > 0, nv, 0)
    count = nu * nv
    r = np.repeat(np.arange(count.size), count)
    local = np.arange(r.size) - np.repeat(np.cumsum(count) - count, count)
    ku, kv = local % np.maximum(nu[r], 1), local // np.maximum(nu[r], 1)
    step_u, step_v = (u1 - u0)[r] / nu[r], (v1 - v0)[r] / nv[r]
    cu = u0[r] + (ku + 0.5) * step_u
    cv = v0[r] + (kv + 0.5) * step_v
    chosen = rng.random(r.size) < keep
    r, cu, cv, step_u, step_v = r[chosen], cu[chosen], cv[chosen], step_u[chosen], step_v[chosen]
    uu, vv = blocks.i[block[r]] + cu, blocks.j[block[r]] + cv
    centre = lat.world(uu, vv)
    ahead = lat.world(uu + 0.01, vv) - centre
    angle = np.arctan2(ahead[:, 1], ahead[:, 0]) + np.radians(rng.uniform(-4, 4, r.size))
    slot_u, slot_v = step_u * su[r], step_v * sv[r]
    tower = rng.random(r.size) < 0.2
    length = np.where(tower, rng.uniform(16, 22, r.size), rng.uniform(26, 44, r.size))
    length = np.minimum(length, 0.7 * slot_u)
    width = np.where(tower, length, rng.uniform(10, 13.5, r.size))
    width = np.minimum(width, 0.55 * slot_v)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    local_xy = corners[None, :, :] * np.stack([length, width], axis=1)[:, None, :]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = centre[:, None, 0] + cos * local_xy[..., 0] - sin * local_xy[..., 1]
    y = centre[:, None, 1] + sin * local_xy[..., 0] + cos * local_xy[..., 1]
    geoms = shapely.polygons(np.stack([x, y], axis=-1))
    return {"rect": r, "geometry": geoms, "footprint": length * width}


def _apportion(total: np.ndarray, owner: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Split each owner's integer total among its items by weight (largest remainders)."""
    out = np.zeros(owner.size, dtype=np.int64)
    has = owner >= 0
    if not has.any():
        return out
    o, w = owner[has], weight[has]
    wsum = np.bincount(o, w, minlength=total.size)
    exact = total[o] * w / wsum[o]
    base = np.floor(exact).astype(np.int64)
    left = total[o] - np.bincount(o, base, minlength=total.size)[o]
    frac = exact - base
    rank = pd.Series(-frac).groupby(o).rank(method="first").to_numpy()
    base += (rank <= left).astype(np.int64)
    out[has] = base
    return out


def _shared_households(comp: Compounds, grid_geoms: np.ndarray) -> np.ndarray:
    """Households of compounds in each grid, each compound's shared by area (float)."""
    cg = comp.table.geometry.to_numpy()
    ci, gi = shapely.STRtree(grid_geoms).query(cg, predicate="intersects")
    shapely.prepare(grid_geoms)
    whole = shapely.contains_properly(grid_geoms[gi], cg[ci])  # most compounds lie in one grid
    area = shapely.area(cg[ci])
    part = np.flatnonzero(~whole)
    area[part] = shapely.area(shapely.intersection(cg[ci[part]], grid_geoms[gi[part]]))
    share = area / shapely.area(cg[ci])
    return np.bincount(gi, comp.table.households.to_numpy()[ci] * share, minlength=grid_geoms.size)


# ----------------------------------------------------------------------------- names and ids


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _chinese(n: int) -> str:
    """Chinese numeral for 1–9999 (十二, 一百零五, …)."""
    n = int(n)
    if n < 10:
        return DIGITS[n]
    if n < 20:
        return "十" + (DIGITS[n % 10] if n % 10 else "")
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit:
            out += ("零" if zero and out else "") + DIGITS[digit] + unit
            zero = False
        elif out:
            zero = True
    return out


def _unique_names(rng, n: int, suffix: str, words=None) -> np.ndarray:
    words = list(words or PLACES)
    combos = np.array([w + s for w in words for s in [""] + SECOND], dtype=object)
    pick = combos[rng.permutation(combos.size)[: min(n, combos.size)]]
    if n > combos.size:  # very large cities: number the rest
        extra = np.array([f"{words[i % len(words)]}{_chinese(i // len(words) + 2)}" for i in range(n - combos.size)],
                         dtype=object)
        pick = np.concatenate([pick, extra])
    return pick + suffix


# ----------------------------------------------------------------------------- command line


def summary(city: dict[str, gpd.GeoDataFrame]) -> str:
    parts = [f"{key} {len(layer):,}" for key, layer in city.items()]
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 ≈ Taiyuan (5,700 compounds, 8,000 grids)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder to write city.gpkg into")
    parser.add_argument("--no-buildings", action="store_true", help="skip the buildings layer")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    city = make_city(args.scale, args.seed, buildings=not args.no_buildings)
    made = time.perf_counter() - start
    path = write_city(city, args.out)
    print(f"{summary(city)}; generated in {made:.1f} s, written to {path} in "
          f"{time.perf_counter() - start - made:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
