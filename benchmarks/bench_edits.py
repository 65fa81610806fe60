"""Benchmark: the planners' adjustments of proposal.html (issue 13) on a whole synthetic city.

The synthetic city (``synthcity.py``; scale 1 ≈ 5,700 compounds and 8,100 grids in 160
communities) is aligned (``gridmap.align``), and its ``proposal.html`` drawn alone (the whole city
on one page, as ``make_maps`` draws it). In headless Chromium (Debian's /usr/bin/chromium, every
network request blocked):

- load: from navigation to two animation frames after the load event;
- click → popup: a compound's click (fired on its layer) until its popup is in the page;
- click → redraw: a ``移入 …`` button's click until two animation frames later (the compound
  restyled and repainted on the canvas, both grids' figures and the change list rebuilt), timed
  in the page with ``performance.now()``; goal ≤ 0.5 s;
- undo: ``撤销此项`` in the change list, the same way.

Then the moves are exported (``导出调整``, edits.csv) and ``gridmap.align`` runs again with them:
time, and whether every edit holds.

    python benchmarks/bench_edits.py                # scale 1
    python benchmarks/bench_edits.py --quick        # scale 0.1
    python benchmarks/bench_edits.py --moves 40     # how many compounds to move (default 25)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CHROMIUM = os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
GOAL_MS = 500.0

PICK = """(n) => { const D = JSON.parse(document.getElementById('gm-edit-data').textContent), C = D.compounds;
    const all = []; for (let k = 0; k < C.id.length; k++) {
      const other = C.cand[k].filter(g => g !== C.home[k]);
      if (C.home[k] >= 0 && other.length) { all.push([k, D.grids.id[other[0]], C.id[k]]); } }
    const step = Math.max(1, Math.floor(all.length / n)); const out = [];
    for (let i = 0; i < all.length && out.length < n; i += step) { out.push(all[i]); }
    return out; }"""

OPEN = """(k) => new Promise(done => { const g = window.gridmap; let hit;
    g.layers.compounds.eachLayer(l => { if (l.feature.properties.k === k) { hit = l; } });
    g.map.closePopup(); document.querySelectorAll('.leaflet-popup').forEach(p => p.remove());
    g.map.fitBounds(hit.getBounds(), {maxZoom: 16, animate: false});
    requestAnimationFrame(() => requestAnimationFrame(() => {
      const t0 = performance.now();
      hit.fire('click', {latlng: hit.getBounds().getCenter()}, true);
      const ok = !!document.querySelector('.gm-edit-pop');
      requestAnimationFrame(() => requestAnimationFrame(() => done([ok, performance.now() - t0]))); })); })"""

MOVE = """(gid) => new Promise(done => { const t0 = performance.now();
    const b = Array.from(document.querySelectorAll('.gm-edit-pop button.gm-move')).find(x => x.getAttribute('data-grid') === gid);
    b.click();
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0))); })"""

UNDO = """(cid) => new Promise(done => { const t0 = performance.now();
    const item = Array.from(document.querySelectorAll('#gm-edit-list .gm-edit-item')).find(d => d.getAttribute('data-compound') === cid);
    item.querySelector('button').click();
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0))); })"""


def build(scale: float, seed: int, out: Path) -> dict:
    from synthcity import make_city

    from gridmap.align import align
    from gridmap.maps.context import Context
    from gridmap.maps.elements import Style
    from gridmap.maps.proposal import proposal_page

    city = make_city(scale=scale, seed=seed, buildings=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        a = align(city["compounds"], city["grids"])
        t_align = time.perf_counter() - t0
        t0 = time.perf_counter()
        ctx = Context.build(a.before.with_geometry(), buildings=None, microgrids=None, organisation=None,
                            communities=city["communities"], stations=None, members=None, workers=None,
                            gcj02=False, building_id=None, households=None, section_grids=40)
        page = proposal_page(ctx, {"grids": a.grids, "changes": a.changes}, Style("none", None, None))
        t_page = time.perf_counter() - t0
    path = out / "proposal.html"
    path.write_text(page, encoding="utf-8")
    return {"city": city, "alignment": a, "path": path, "t_align": t_align, "t_page": t_page}


def browse(path: Path, moves: int, out: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1400, "height": 850}, accept_downloads=True)
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:", "about:", "blob:"))
                  else r.abort())
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("window.gridmap && window.gridmap.edits")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        load = time.perf_counter() - t0
        picks = page.evaluate(PICK, moves)
        opened, moved, undone = [], [], []
        for k, gid, cid in picks:
            ok, ms = page.evaluate(OPEN, k)
            assert ok, cid
            opened.append(ms)
            moved.append(page.evaluate(MOVE, gid))
        for k, gid, cid in picks[:5]:
            undone.append(page.evaluate(UNDO, cid))
        for k, gid, cid in picks[:5]:
            page.evaluate(OPEN, k)
            page.evaluate(MOVE, gid)
        with page.expect_download() as download:
            page.click("#gm-export")
        edits = out / "edits.csv"
        edits.write_bytes(Path(download.value.path()).read_bytes())
        browser.close()
    return {"load": load, "open": opened, "move": moved, "undo": undone, "edits": edits, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="scale 0.1")
    parser.add_argument("--moves", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="also copy proposal.html and edits.csv into this folder")
    args = parser.parse_args()
    scale = 0.1 if args.quick else args.scale
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        built = build(scale, args.seed, out)
        a = built["alignment"]
        size = built["path"].stat().st_size / 1e6
        print(f"scale {scale}: {len(built['city']['compounds']):,} compounds, {len(built['city']['grids']):,} grids; "
              f"align {built['t_align']:.1f} s; proposal.html {size:.1f} MB built in {built['t_page']:.1f} s")
        b = browse(built["path"], args.moves, out)
        assert not b["errors"], b["errors"]
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for f in (built["path"], b["edits"]):
                (args.keep / f.name).write_bytes(f.read_bytes())

        def stats(v):
            return f"median {statistics.median(v):.0f} ms, max {max(v):.0f} ms (n={len(v)})"

        print(f"load {b['load']:.1f} s")
        print(f"click → popup: {stats(b['open'])}")
        print("click → redraw, each (ms): " + ", ".join(f"{v:.0f}" for v in b["move"]))
        print(f"click → redraw (移入): {stats(b['move'])}; goal ≤ {GOAL_MS:.0f} ms: "
              + ("met" if max(b["move"]) <= GOAL_MS else "NOT met"))
        print(f"undo (撤销此项): {stats(b['undo'])}")
        edits = pd.read_csv(b["edits"], encoding="utf-8-sig", dtype=str)
        from gridmap.align import align

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            again = align(built["city"]["compounds"], built["city"]["grids"], edits=edits)
            t = time.perf_counter() - t0
        s = again.summary
        print(f"align with {len(edits)} edits: {t:.1f} s (without: {built['t_align']:.1f} s); "
              f"{s['planner_compounds_moved']} compounds moved by the planner, not held: {s['planner_not_held'] or 'none'}; "
              f"straddling {s['straddling_before']} → {s['straddling_after']}; grids outside the range "
              f"{s['outside_range_before']} → {s['outside_range_after']} (before the edits: "
              f"{a.summary['outside_range_after']})")


if __name__ == "__main__":
    main()
