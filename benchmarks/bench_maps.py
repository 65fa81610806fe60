"""Benchmark: ``gridmap map`` pages for a synthetic city at Taiyuan density, in headless Chromium.

A synthetic city (``synthcity.py``: ≈ 5,700 compounds, 8,100 grids in 160 communities, 137,000
buildings at scale 1) gets micro-grids (about 80 households each, ≈ 37,000), one service station
per community and an organisation table (committee per community, branch per compound, group per
building with 3+ members), as ``gridmap micro-grids`` and ``gridmap org`` would give. Then:

- gridmap: ``make_maps`` writes index.html, one page per community (and proposal.html when
  ``gridmap.align`` is there); time to build, page sizes;
- peer: the largest community drawn the way an analyst would with folium: one ``folium.GeoJson``
  per layer with a ``style_function`` and a ``GeoJsonTooltip`` of every column (SVG rendering,
  unrounded coordinates, folium's defaults), with folium's CDN
  Leaflet replaced by the same inlined copy so that it too opens offline.

Load time is measured in headless Chromium (Debian's /usr/bin/chromium) with every network request
blocked: from navigation start to two animation frames after the load event (parse, scripts,
first paint of every layer). Goals (issue 5): community page ≤ 2 MB, loaded in ≤ 1.5 s.

    python benchmarks/bench_maps.py                  # scale 1
    python benchmarks/bench_maps.py --quick          # scale 0.1, a smoke run
    python benchmarks/bench_maps.py --record         # also append the figures to benchmarks/README.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CHROMIUM = os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
GOAL_MB, GOAL_S = 2.0, 1.5


# ----------------------------------------------------------------------------- the extra layers


def microgrids(grids: gpd.GeoDataFrame, per: float = 80.0) -> gpd.GeoDataFrame:
    """Cut each grid into vertical strips of about ``per`` households (at least one)."""
    hh = pd.to_numeric(grids["households"], errors="coerce").fillna(0).to_numpy()
    k = np.clip(np.round(hh / per), 1, 12).astype(int)
    b = shapely.bounds(grids.geometry.to_numpy())
    owner = np.repeat(np.arange(len(grids)), k)
    part = np.arange(len(owner)) - np.repeat(np.cumsum(k) - k, k)
    width = (b[owner, 2] - b[owner, 0]) / k[owner]
    x0 = b[owner, 0] + part * width
    boxes = shapely.box(x0, b[owner, 1], x0 + width, b[owner, 3])
    geoms = shapely.intersection(grids.geometry.to_numpy()[owner], boxes)
    gid = grids["grid_id"].to_numpy()[owner]
    out = gpd.GeoDataFrame({"microgrid_id": [f"{g}-{p + 1:02d}" for g, p in zip(gid, part)], "grid_id": gid,
                            "households": np.round(hh[owner] / k[owner]).astype(int)},
                           geometry=geoms, crs=grids.crs)
    return out[~out.geometry.is_empty]


def organisation(result, buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """Committee per community, branch per compound, group per building with 3+ members."""
    comps = result.compounds
    community = pd.Series(grids["community"].to_numpy(), index=grids["grid_id"].to_numpy())
    comp_comm = comps["main_grid_id"].map(community).fillna("")
    rows = [{"unit_id": f"C-{c}", "parent_id": None, "kind": "committee", "name": f"{c}社区党委",
             "compound_ids": ";".join(comps.compound_id[comp_comm == c]), "grid_ids": ";".join(community.index[community == c]),
             "building_ids": "", "members": 0} for c in sorted(set(community))]
    rows += [{"unit_id": f"B-{cid}", "parent_id": f"C-{comm}" if comm else None, "kind": "branch",
              "name": f"{name}党支部", "compound_ids": cid, "grid_ids": grid_ids, "building_ids": "", "members": 0}
             for cid, comm, name, grid_ids in zip(comps.compound_id, comp_comm, comps["name"], comps.grid_ids)]
    b = buildings[buildings.compound_id.notna() & (buildings.party_members >= 3)]
    rows += [{"unit_id": f"G-{bid}", "parent_id": f"B-{cid}", "kind": "group", "name": f"{bname}党小组",
              "compound_ids": cid, "grid_ids": "", "building_ids": bid, "members": int(m)}
             for bid, cid, bname, m in zip(b.building_id, b.compound_id, b["name"], b.party_members)]
    return pd.DataFrame(rows)


def stations(communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": communities["name"] + "党群服务站"},
                            geometry=communities.geometry.representative_point().to_numpy(), crs=communities.crs)


# ----------------------------------------------------------------------------- building the pages


def build(scale: float, seed: int, out: Path) -> dict:
    from synthcity import make_city

    from gridmap.classify import classify
    from gridmap.maps import make_maps

    t0 = time.perf_counter()
    city = make_city(scale=scale, seed=seed)
    t_city = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = classify(city["compounds"], city["grids"])
    t_classify = time.perf_counter() - t0
    mg = microgrids(city["grids"])
    org = organisation(result, city["buildings"], city["grids"])
    st = stations(city["communities"])
    proposal, t_align = None, None
    try:
        from gridmap.align import align
    except ImportError:
        align = None
    if align is not None:
        t0 = time.perf_counter()
        a = align(city["compounds"], city["grids"])
        proposal = {"grids": a.grids, "changes": a.changes}
        t_align = time.perf_counter() - t0
    t0 = time.perf_counter()
    paths = make_maps(result, out, buildings=city["buildings"], microgrids=mg, organisation=org,
                      communities=city["communities"], stations=st, proposal=proposal, basemap="osm")
    t_maps = time.perf_counter() - t0
    return {"city": city, "result": result, "microgrids": mg, "paths": paths, "t_city": t_city,
            "t_classify": t_classify, "t_align": t_align, "t_maps": t_maps, "stations": st}


def peer_page(built: dict, page: Path, out: Path) -> Path:
    """The community of ``page`` drawn with plain folium, Leaflet inlined so it opens offline."""
    import folium

    from gridmap.maps import leaflet_assets

    city = built["city"]
    result = built["result"]
    text = page.read_text(encoding="utf-8")
    grids = result.grids[[gid in text for gid in result.grids.grid_id]]
    gids = set(grids.grid_id)
    comps = result.compounds[result.compounds.main_grid_id.isin(gids)]
    b = city["buildings"]
    blds = b[b.compound_id.isin(set(comps.compound_id))]
    mg = built["microgrids"][built["microgrids"].grid_id.isin(gids)]
    colours = {"large_compound": "#1b9e77", "large_grid": "#7570b3", "equal": "#66a61e", "mixed": "#e7298a"}
    m = folium.Map(tiles="OpenStreetMap")
    for name, layer in (("grids", grids), ("microgrids", mg), ("compounds", comps), ("buildings", blds)):
        layer = layer.to_crs(4326)
        fields = [c for c in layer.columns if c != "geometry"]
        folium.GeoJson(layer, name=name, tooltip=folium.GeoJsonTooltip(fields),
                       style_function=lambda f: {"color": colours.get(f["properties"].get("situation"), "#555"),
                                                 "weight": 1}).add_to(m)
    folium.LayerControl().add_to(m)
    html = m.get_root().render()
    # Offline like ours: the CDN scripts and styles go, Leaflet comes inline.
    import re

    html = re.sub(r'<script src="https?://[^"]+"></script>', "", html)
    html = re.sub(r'<link rel="stylesheet" href="https?://[^"]+"/>', "", html)
    html = html.replace("</head>", leaflet_assets() + "</head>", 1)
    path = out / "peer.html"
    path.write_text(html, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- loading in Chromium


LOADED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"


def load_times(paths: list[Path], repeat: int) -> dict[Path, tuple[float, int]]:
    """Median seconds to load and paint each page, and its script errors, network blocked."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1366, "height": 768})
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
                  else r.abort())
        for path in paths:
            times, errors = [], 0
            for _ in range(repeat):
                page = ctx.new_page()
                errs = []
                page.on("pageerror", lambda e: errs.append(e))
                page.goto(path.as_uri(), wait_until="load", timeout=60_000)
                times.append(page.evaluate(LOADED) / 1000)
                errors = max(errors, len(errs))
                page.close()
            out[path] = (statistics.median(times), errors)
        browser.close()
    return out


# ----------------------------------------------------------------------------- report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="scale 0.1, one load each")
    ap.add_argument("--record", action="store_true", help="append the figures to benchmarks/README.md")
    ap.add_argument("--keep", type=Path, help="write the pages here instead of a temporary folder")
    args = ap.parse_args()
    if args.quick:
        args.scale, args.repeat = 0.1, 1
    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp:
        out = args.keep or Path(tmp)
        built = build(args.scale, args.seed, out)
        paths = built["paths"]
        community = sorted((p for p in paths if p.name.startswith("community-")), key=lambda p: p.stat().st_size)
        sizes = np.array([p.stat().st_size for p in community]) / 1e6
        largest, median = community[-1], community[len(community) // 2]
        peer = peer_page(built, largest, out)
        measured = [paths[0], median, largest, peer] + [p for p in paths if p.name == "proposal.html"]
        times = load_times(measured, args.repeat)
        city = built["city"]
        lines = [
            f"bench_maps: scale {args.scale:g} (seed {args.seed}): {len(city['compounds']):,} compounds, "
            f"{len(city['grids']):,} grids, {len(city['communities'])} communities, "
            f"{len(city['buildings']):,} buildings, {len(built['microgrids']):,} micro-grids",
            f"  build: make_maps {built['t_maps']:.1f} s for {len(paths)} pages "
            f"(classify {built['t_classify']:.1f} s" + (f", align {built['t_align']:.1f} s" if built["t_align"] else "")
            + ")",
            f"  community pages: median {np.median(sizes):.2f} MB, largest {sizes.max():.2f} MB "
            f"(goal ≤ {GOAL_MB:g} MB: {'met' if sizes.max() <= GOAL_MB else 'MISSED'})",
            f"  load in headless Chromium, network blocked (median of {args.repeat}):",
        ]
        for path in measured:
            seconds, errors = times[path]
            label = {paths[0]: "index", median: "median community", largest: "largest community",
                     peer: "peer (plain folium), largest"}.get(path, path.stem)
            lines.append(f"    {label:<28} {path.stat().st_size / 1e6:6.2f} MB  {seconds:5.2f} s"
                         + (f"  {errors} script errors" if errors else ""))
        t_ours, t_peer = times[largest][0], times[peer][0]
        s_ours, s_peer = largest.stat().st_size, peer.stat().st_size
        lines.append(f"  largest community vs peer: size ×{s_ours / s_peer:.2f}, load ×{t_ours / t_peer:.2f} "
                     f"(goal ≤ {GOAL_S:g} s: {'met' if t_ours <= GOAL_S else 'MISSED'})")
        lines.append(f"  machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        report = "\n".join(lines)
        print(report)
        if args.record:
            readme = HERE / "README.md"
            with open(readme, "a", encoding="utf-8") as f:
                f.write(f"\n### bench_maps ({time.strftime('%Y-%m-%d')})\n\n```\n{report}\n```\n")
            print(f"appended to {readme}")


if __name__ == "__main__":
    main()
