"""Benchmark: ``gridmap align`` and ``gridmap infer`` at Taiyuan's scale, with momepy's
``enclosed_tessellation`` on the same buildings and streets as the peer for infer.

A synthetic city (``synthcity.py``, with buildings; cached in ``benchmarks/data/``) has a share of
its old compounds' (老旧型) outlines removed, as happens with old compounds that have no clear
boundary; their buildings keep their compound id. Each job runs in a fresh Python process, so that
its peak memory is its own:

- align: ``gridmap.jobs.align_job`` — what ``gridmap align`` runs (read, classify, decide per
  community with HiGHS, redraw, classify the proposal again, write proposal.gpkg and proposal.csv);
- align-gap: ``align`` with ``baseline=True``: the greedy pass the optimiser replaced, run on the
  same first-round problem, to say how far it is from the optimum (households moved);
- infer: ``gridmap.jobs.infer_job`` — what ``gridmap infer`` runs, for the removed outlines
  (read, tessellate the blocks that hold their buildings, write inferred.gpkg);
- infer-all: every compound's outline drawn from its buildings (all buildings tessellated, block
  by block, dissolved by compound): the same amount of tessellation as the peer;
- peer: ``momepy.enclosures`` of the streets (limited to the buildings' hull plus 100 m) and
  ``momepy.enclosed_tessellation`` of all buildings in them (momepy's defaults).

Times are wall time inside the process (imports excluded); peak memory is the process's
``ru_maxrss``. The overlap (IoU) of inferred and removed outlines is printed as a check that the
fast path draws the right thing.

    python benchmarks/bench_align.py                # scale 1 (≈ 137,000 buildings; the peer takes minutes)
    python benchmarks/bench_align.py --quick        # scale 0.1, a smoke run
    python benchmarks/bench_align.py --no-peer      # gridmap's jobs only
    python benchmarks/bench_align.py --scale 5 --only align,align-gap
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
OUT = HERE / "out"
REMOVED_SHARE = 0.3


# ----------------------------------------------------------------------------- the jobs


def align_job(data: Path, out: Path) -> dict:
    from gridmap.jobs import align_job

    result = align_job(f"{data}:compounds", f"{data}:grids", out)
    s = result.summary
    return {k: s[k] for k in ("compounds", "grids_before", "grids_after", "straddling_before",
                              "straddling_after", "grids_changed", "grids_new", "compounds_moved",
                              "compound_area_moved_m2", "land_moved_m2", "households_moved",
                              "outside_range_before", "outside_range_after")}


def align_gap_job(data: Path, out: Path) -> dict:
    """The optimiser against the greedy pass it replaced, on the same first-round problem."""
    from gridmap.align import align
    from gridmap.io import read_layer

    result = align(read_layer(f"{data}:compounds"), read_layer(f"{data}:grids"), baseline=True)
    a = result.summary["assignment"]
    return {"milp_households_moved": a["households_moved"], "greedy_households_moved": a["greedy_households_moved"],
            "milp_left": a["straddling_left"], "greedy_left": a["greedy_straddling_left"],
            "milp_outside": a["outside_after"], "greedy_outside": a["greedy_outside_after"],
            "milp_over": a["communities_over"], "greedy_over": a["greedy_communities_over"],
            "straddling_after": result.summary["straddling_after"],
            "unresolved": result.unresolved.reason.value_counts().to_dict()}


def infer_job(data: Path, out: Path) -> dict:
    from gridmap.infer import outline_iou
    from gridmap.jobs import infer_job
    from gridmap.io import read_layer

    result = infer_job(f"{data}:buildings", out, streets=f"{data}:streets",
                       compounds=f"{data}:compounds_missing")
    truth = read_layer(f"{data}:removed")
    iou = outline_iou(result.compounds, truth)
    return {"outlines": len(result.compounds), "removed": len(truth),
            "iou_median": float(iou.iou.median()), "iou_p10": float(iou.iou.quantile(0.1)),
            "buildings_outside": int(result.compounds.buildings_outside.sum())}


def infer_all_job(data: Path, out: Path) -> dict:
    from gridmap.infer import infer_outlines, outline_iou
    from gridmap.io import read_layer

    buildings = read_layer(f"{data}:buildings")
    streets = read_layer(f"{data}:streets")
    result = infer_outlines(buildings, streets, None)
    truth = read_layer(f"{data}:compounds")
    iou = outline_iou(result.compounds, truth)
    return {"outlines": len(result.compounds), "buildings": len(buildings),
            "iou_median": float(iou.iou.median())}


def peer_job(data: Path, out: Path) -> dict:
    import geopandas as gpd
    import momepy
    import shapely

    buildings = gpd.read_file(data, layer="buildings")
    streets = gpd.read_file(data, layer="streets")
    hull = shapely.convex_hull(shapely.union_all(buildings.geometry.to_numpy())).buffer(100)
    enclosures = momepy.enclosures(streets, limit=gpd.GeoSeries([hull], crs=streets.crs))
    # simplify=False: momepy 0.11 fails on some cells when simplifying (and gridmap does not simplify).
    tessellation = momepy.enclosed_tessellation(buildings, enclosures, simplify=False)
    return {"enclosures": len(enclosures), "cells": len(tessellation), "buildings": len(buildings)}


JOBS = {"align": align_job, "align-gap": align_gap_job, "infer": infer_job, "infer-all": infer_all_job,
        "peer": peer_job}


def child(job: str, data: str, out: str) -> None:
    """Run one job in this process and print its time, peak memory and figures as JSON."""
    import geopandas  # noqa: F401 - every job needs it; imports are not timed
    import gridmap.align  # noqa: F401
    import gridmap.infer  # noqa: F401

    if job == "peer":
        import momepy  # noqa: F401
    before = resource.getrusage(resource.RUSAGE_SELF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        figures = JOBS[job](Path(data), Path(out))
        seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": after.ru_maxrss / 1024,
                      "after_imports_mb": before.ru_maxrss / 1024, **figures}))


# ----------------------------------------------------------------------------- the run


def city_file(scale: float, seed: int) -> Path:
    """The cached city with buildings and a share of old compounds' outlines removed."""
    path = DATA / f"city-s{scale:g}-seed{seed}-align.gpkg"
    if path.exists():
        return path
    sys.path.insert(0, str(HERE))
    import numpy as np
    from synthcity import make_city, write_city

    start = time.perf_counter()
    city = make_city(scale, seed)
    comp, buildings = city["compounds"], city["buildings"]
    rng = np.random.default_rng(seed)
    old = (comp["type"] == "老旧型").to_numpy() & comp.compound_id.isin(buildings.compound_id.dropna()).to_numpy()
    gone = old & (rng.random(len(comp)) < REMOVED_SHARE)
    city["compounds_missing"] = comp[~gone].reset_index(drop=True)
    city["removed"] = comp[gone][["compound_id", "name", "type", "households", "geometry"]].reset_index(drop=True)
    del city["communities"]
    write_city(city, DATA, name=path.name)
    print(f"  generated scale {scale:g}: {len(comp):,} compounds ({gone.sum():,} outlines removed), "
          f"{len(city['grids']):,} grids, {len(buildings):,} buildings, {len(city['streets']):,} streets "
          f"in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def run_job(job: str, data: Path, out: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", job, str(data), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{job} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="city scale (1 ≈ Taiyuan)")
    parser.add_argument("--quick", action="store_true", help="scale 0.1: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peer", action="store_true", help="skip momepy (it takes minutes at scale 1)")
    parser.add_argument("--only", help="comma-separated jobs to run (of " + ", ".join(JOBS) + ")")
    parser.add_argument("--child", nargs=3, metavar=("JOB", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    scale = 0.1 if args.quick else args.scale
    print(f"align/infer benchmark: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; scale {scale:g}", flush=True)
    data = city_file(scale, args.seed)
    results = {}
    only = set(args.only.split(",")) if args.only else None
    for job in JOBS:
        if (job == "peer" and args.no_peer) or (only is not None and job not in only):
            continue
        results[job] = run_job(job, data, OUT / f"align-s{scale:g}" / job)
        r = results[job]
        print(f"  {job}: {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB", flush=True)

    if "align-gap" in results:
        g = results["align-gap"]
        gap = g["greedy_households_moved"] - g["milp_households_moved"]
        print(f"\nassignment (first round): optimiser moves {g['milp_households_moved']:,.0f} households "
              f"({g['milp_left']} compounds left, {g['milp_outside']:,} grids outside the range, "
              f"{g['milp_over']} communities over their count before); greedy "
              f"{g['greedy_households_moved']:,.0f} ({g['greedy_left']} left, {g['greedy_outside']:,} outside, "
              f"{g['greedy_over']} communities over): greedy moves {gap:,.0f} more "
              f"({gap / max(g['milp_households_moved'], 1):.1%}); left straddling after all rounds: "
              f"{g['straddling_after']} {g['unresolved']}")
    for job, r in results.items():
        print(f"  {job}: {r['seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU")
    if "align" not in results:
        return 0
    a = results["align"]
    print(f"\nalign: {a['compounds']:,} compounds, {a['grids_before']:,} grids → {a['grids_after']:,}; "
          f"straddling {a['straddling_before']:,} → {a['straddling_after']:,}; grids changed "
          f"{a['grids_changed']:,}, new {a['grids_new']:,}; moved {a['compounds_moved']:,} compounds, "
          f"{a['compound_area_moved_m2'] / 1e6:.2f} km² of compound land, "
          f"{(a['land_moved_m2'] - a['compound_area_moved_m2']) / 1e6:.2f} km² outside compounds, "
          f"{a['households_moved']:,.0f} households; grids outside 300–500 households "
          f"{a['outside_range_before']:,} → {a['outside_range_after']:,}")
    if "infer" not in results or "infer-all" not in results:
        return 0
    i, ia = results["infer"], results["infer-all"]
    print(f"infer: {i['outlines']:,} outlines for {i['removed']:,} removed; IoU median {i['iou_median']:.3f}, "
          f"10th percentile {i['iou_p10']:.3f}; buildings left outside {i['buildings_outside']}")
    print(f"infer-all: {ia['outlines']:,} outlines from {ia['buildings']:,} buildings; IoU with the true "
          f"outlines median {ia['iou_median']:.3f}")

    print("\n| job | what | s | peak MB | ratio to peer |")
    print("|---|---|---:|---:|---:|")
    p = results.get("peer")
    what = {"align": "align all straddling compounds, write proposal",
            "align-gap": "align, with the greedy pass run too (not written)",
            "infer": f"outlines for the {i['removed']:,} removed compounds",
            "infer-all": f"outlines for all {ia['outlines']:,} compounds ({ia['buildings']:,} buildings)",
            "peer": "momepy enclosures + enclosed_tessellation (all buildings)"}
    for job, r in results.items():
        ratio = "" if p is None or job == "align" else f"{r['seconds'] / p['seconds']:.3f}"
        print(f"| {job} | {what[job]} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {ratio} |")
    if p is not None:
        slow = results["infer-all"]["seconds"] > p["seconds"]
        print(f"\ngoal infer-all ≤ peer: {'NOT met' if slow else 'met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
