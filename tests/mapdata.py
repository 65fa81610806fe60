"""A small constructed town in Taiyuan for the map tests: every situation, every optional layer,
Chinese names and hostile names (HTML, ``${…}``, backticks, ``</script>``)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import Transformer

CRS = 4547  # CGCS2000 3-degree Gauss-Kruger CM 114E (Taiyuan east of 112.5E)
X0, Y0 = Transformer.from_crs(4326, CRS, always_xy=True).transform(112.55, 37.85)
SIDE = 400.0

PAYLOADS = {
    "C5": "<img src=x onerror=alert(1)>",
    "C6": "${alert(1)}",
    "C7": "a`b</script><script>alert(2)</script>{{ 7*7 }}{% raw %}",
}
NAMES = {"C1": "太嘉小区", "C2": "山西大学家属区南区", "C3": "供电局宿舍", "C4": "小店城中村",
         "C8": "千禧锦绣苑A区", **PAYLOADS}


def cell(col: int, row: int) -> tuple[float, float, float, float]:
    x = X0 + col * SIDE
    y = Y0 - row * SIDE
    return (x, y - SIDE, x + SIDE, y)


def inset(box, margin: float):
    return shapely.box(box[0] + margin, box[1] + margin, box[2] - margin, box[3] - margin)


def small_city() -> dict:
    """Layers in EPSG:4547 and an organisation table, as ``gridmap`` would read them."""
    grid_ids, grid_geoms, community = [], [], []
    for k in range(12):
        col, row = k % 4, k // 4
        grid_ids.append(f"G{k + 1:02d}")
        grid_geoms.append(shapely.box(*cell(col, row)))
        community.append("坞城社区" if col < 2 else ("长风社区" if k != 11 else ""))
    grids = gpd.GeoDataFrame({"grid_id": grid_ids, "name": [f"第{k + 1}网格" for k in range(12)],
                              "community": community, "households": [350 + 10 * k for k in range(12)]},
                             geometry=grid_geoms, crs=CRS)
    g = dict(zip(grid_ids, grid_geoms))
    c5 = shapely.box(g["G06"].bounds[0] + 150, g["G06"].bounds[1] + 100,
                     g["G07"].bounds[0] + 150, g["G06"].bounds[3] - 100)  # straddles G06/G07
    comps = {
        "C1": g["G01"],
        "C2": shapely.union(g["G02"], g["G05"]),
        "C3": inset(g["G04"].bounds, 20).intersection(shapely.box(*g["G04"].bounds[:2], g["G04"].bounds[2] - 200, g["G04"].bounds[3])),
        "C4": inset(g["G04"].bounds, 20).intersection(shapely.box(g["G04"].bounds[0] + 210, *g["G04"].bounds[1:])),
        "C5": c5,
        "C6": inset(g["G10"].bounds, 60),
        "C7": inset(g["G11"].bounds, 60),
        "C8": shapely.box(X0 - 600, Y0 - 300, X0 - 300, Y0),
    }
    types = {"C1": "居住型", "C2": "老旧型", "C3": "单位型", "C4": "过渡型", "C5": "老旧型",
             "C6": "居住型", "C7": "单位型", "C8": "居住型"}
    compounds = gpd.GeoDataFrame({"compound_id": list(comps), "name": [NAMES[c] for c in comps],
                                  "type": [types[c] for c in comps],
                                  "households": [420, 900, 150, 210, 380, 300, 260, 120]},
                                 geometry=list(comps.values()), crs=CRS)
    b_ids, b_geoms, b_comp = [], [], []
    for cid, geom in comps.items():
        cx, cy = geom.centroid.x, geom.centroid.y
        for j, (dx, dy) in enumerate([(-40, -40), (40, 40)]):
            b_ids.append(f"{cid}-B{j + 1}")
            b_comp.append(cid)
            # one footprint and one point per compound: maps must draw both
            b_geoms.append(shapely.box(cx + dx - 12, cy + dy - 8, cx + dx + 12, cy + dy + 8) if j == 0
                           else shapely.Point(cx + dx, cy + dy))
    buildings = gpd.GeoDataFrame({"building_id": b_ids, "compound_id": b_comp,
                                  "households": [60 + 5 * i for i in range(len(b_ids))],
                                  "party_members": [2 + i % 5 for i in range(len(b_ids))]},
                                 geometry=b_geoms, crs=CRS)
    mg_rows = []
    for gid, geom in g.items():
        x0, y0, x1, y1 = geom.bounds
        for j, part in enumerate([shapely.box(x0, y0, (x0 + x1) / 2, y1), shapely.box((x0 + x1) / 2, y0, x1, y1)]):
            inside = buildings[buildings.geometry.representative_point().within(part)].building_id
            mg_rows.append({"microgrid_id": f"{gid}-{j + 1}", "grid_id": gid, "households": 80 + j,
                            "building_ids": ";".join(inside), "geometry": part})
    microgrids = gpd.GeoDataFrame(mg_rows, geometry="geometry", crs=CRS)
    stations = gpd.GeoDataFrame({"name": ["坞城社区党群服务站", "长风<b>服务站</b>"]},
                                geometry=[g["G01"].centroid, g["G08"].centroid], crs=CRS)
    communities = gpd.GeoDataFrame(
        {"community": ["坞城社区", "长风社区"]},
        geometry=[shapely.union_all([g[k] for k in ("G01", "G02", "G05", "G06", "G09", "G10")]),
                  shapely.union_all([g[k] for k in ("G03", "G04", "G07", "G08", "G11")])], crs=CRS)
    org = pd.DataFrame([
        ("U1", None, "committee", "坞城社区党委", "C1;C2;C5;C6", "G01;G02;G05;G06;G09;G10", "", 60),
        ("U2", "U1", "branch", "太嘉小区党支部", "C1", "G01", "", 12),
        ("U3", "U1", "general_branch", "山西大学家属区南区党总支", "C2", "G02;G05", "", 55),
        ("U4", "U2", "group", "太嘉1号楼党小组", "", "", "C1-B1;C1-B2", 6),
        ("U5", "U1", "joint_branch", "<i>联合</i>党支部", "C5;C6", "G06;G10", "", 9),
        ("U6", "U3", "central_household", "张三户", "", "", "C2-B1", 2),
        ("U7", None, "committee", "长风社区党委", "C3;C4;C7", "G03;G04;G07;G08;G11", "", 30),
        ("U8", "U7", "branch", "长风网格党支部", "C3;C4", "G04", "", 10),
    ], columns=["unit_id", "parent_id", "kind", "name", "compound_ids", "grid_ids", "building_ids", "members"])
    after = grids[["grid_id", "households", "geometry"]].copy()
    after["status"] = "kept"
    moved = c5.intersection(g["G07"])
    after.loc[after.grid_id == "G06", "geometry"] = shapely.union(g["G06"], moved)
    after.loc[after.grid_id == "G07", "geometry"] = shapely.difference(g["G07"], moved)
    after.loc[after.grid_id.isin(["G06", "G07"]), "status"] = "changed"
    changes = gpd.GeoDataFrame({"compound_id": ["C5"], "from_grid_id": ["G07"], "to_grid_id": ["G06"],
                                "area_m2": [moved.area], "households": [95]}, geometry=[moved], crs=CRS)
    return {"compounds": compounds, "grids": grids, "buildings": buildings, "microgrids": microgrids,
            "stations": stations, "communities": communities, "organisation": org,
            "proposal": {"grids": gpd.GeoDataFrame(after, geometry="geometry", crs=CRS), "changes": changes}}
