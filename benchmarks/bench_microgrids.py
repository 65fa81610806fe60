"""Benchmark: ``gridmap microgrids`` against momepy's ``enclosed_tessellation`` on the same city.

A synthetic city (``synthcity.py``, with buildings; cached in ``benchmarks/data/``) at Taiyuan's
scale (scale 1: about 8,000 grids and 137,000 buildings) goes through three jobs, each in a fresh
Python process so that its peak memory is its own:

- gridmap: ``gridmap.microgrids.microgrids`` with the streets — what ``gridmap microgrids GRIDS
  BUILDINGS --streets S`` runs: read, validate, assign buildings to grids, cut every grid into
  micro-grids, write ``microgrids.gpkg``;
- gridmap, no streets: the same without ``--streets``;
- momepy: ``momepy.enclosures`` of the same streets (limited to the grids' union) and
  ``momepy.enclosed_tessellation`` of the same buildings (``simplify=False``: its default
  simplification fails on the scale-1 city), written to a GeoPackage. Its
  tessellation gives every building a cell, the usual first step of a cell-based partition;
  gridmap's job is a whole partition into micro-grids.

Times are wall times inside the process (imports excluded), split into reading, computing and
writing; CPU time (user + system) is shown too, and is the steadier figure on a shared machine.
The goal (momepy ÷ gridmap ≥ 5) is judged on the total wall time. Peak memory is the process's ``ru_maxrss`` (it
includes the ≈ 200 MB that importing geopandas takes). momepy runs with ``n_jobs=1`` by default
so that both sides use one core and their memory is in one process (``--momepy-jobs -1`` uses
every core through joblib; its workers' memory is then not counted).

    python benchmarks/bench_microgrids.py              # scale 1 (≈ 25 min, mostly momepy)
    python benchmarks/bench_microgrids.py --quick      # scale 0.1, ≈ 3 min
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
GOAL = 5.0


# ----------------------------------------------------------------------------- the jobs


def gridmap_job(data: Path, out: Path, streets: bool = True, jobs: int = 1) -> dict:
    import shapely

    from gridmap.io import ReadOptions, find_field, write_gpkg
    from gridmap.microgrids import microgrids

    read = ReadOptions()
    t0 = time.perf_counter()
    grids = read.read(f"{data}:grids")
    buildings = read.read(f"{data}:buildings")
    lines = read.read(f"{data}:streets") if streets else None
    t1 = time.perf_counter()
    result = microgrids(grids, buildings, streets=lines)
    t2 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    write_gpkg({"microgrids": result.microgrids, "buildings": result.buildings}, out / "microgrids.gpkg")
    t3 = time.perf_counter()
    s = result.summary()
    # A check on the way: the micro-grids' areas add up to their grids' (tiling, no overlap).
    mg = result.microgrids.to_crs(result.crs)
    g = grids.to_crs(result.crs)
    per_grid = mg.area.groupby(mg.grid_id.to_numpy()).sum()
    grid_area = g.area.groupby(g[find_field(g, "grid_id")].astype(str).to_numpy()).sum().reindex(per_grid.index)
    worst = float((per_grid - grid_area).abs().div(grid_area).max())
    return {"read": t1 - t0, "compute": t2 - t1, "write": t3 - t2, "cells": s["microgrids"],
            "buildings": len(buildings), "within_range": s["within_range"], "below_min": s["below_min"],
            "above_max": s["above_max"], "multipart": int((shapely.get_num_geometries(mg.geometry.to_numpy()) > 1).sum()),
            "worst_area_error": worst, "median_households": s["quantiles"][0.5]}


def gridmap_plain_job(data: Path, out: Path, jobs: int = 1) -> dict:
    return gridmap_job(data, out, streets=False)


def momepy_job(data: Path, out: Path, jobs: int = 1) -> dict:
    import geopandas as gpd
    import momepy
    import shapely

    t0 = time.perf_counter()
    grids = gpd.read_file(data, layer="grids")
    buildings = gpd.read_file(data, layer="buildings")
    streets = gpd.read_file(data, layer="streets")
    t1 = time.perf_counter()
    limit = gpd.GeoSeries([shapely.union_all(grids.geometry.to_numpy())], crs=grids.crs)
    enclosures = momepy.enclosures(streets, limit=limit)
    # simplify=False: momepy 0.11's default coverage_simplify stops with "One of the Geometry
    # inputs is of incorrect geometry type" on the scale-1 city; without it momepy also does less.
    tess = momepy.enclosed_tessellation(buildings, enclosures, n_jobs=jobs, simplify=False)
    t2 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tessellation.gpkg"
    path.unlink(missing_ok=True)
    tess.to_file(path, layer="tessellation", driver="GPKG")
    t3 = time.perf_counter()
    return {"read": t1 - t0, "compute": t2 - t1, "write": t3 - t2, "cells": len(tess),
            "buildings": len(buildings), "enclosures": len(enclosures)}


JOBS = {"gridmap": gridmap_job, "gridmap, no streets": gridmap_plain_job, "momepy": momepy_job}


def child(job: str, data: str, out: str, jobs: int) -> None:
    """Run one job in this process and print its figures as JSON."""
    import geopandas  # noqa: F401 - every job needs it; imports are not timed

    if job == "momepy":
        import momepy  # noqa: F401
    else:
        import gridmap.microgrids  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        figures = JOBS[job](Path(data), Path(out), jobs=jobs)
        seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": after.ru_maxrss / 1024,
                      "after_imports_mb": before.ru_maxrss / 1024, **figures}))


# ----------------------------------------------------------------------------- the run


def city_file(scale: float, seed: int) -> Path:
    """The cached city with buildings for a scale, made on first use."""
    path = DATA / f"city-s{scale:g}-seed{seed}-buildings.gpkg"
    if path.exists():
        return path
    sys.path.insert(0, str(HERE))
    from synthcity import make_city, write_city

    start = time.perf_counter()
    city = make_city(scale, seed, buildings=True)
    write_city({k: city[k] for k in ("grids", "buildings", "streets")}, DATA, name=path.name)
    print(f"  generated scale {scale:g}: {len(city['grids']):,} grids, {len(city['buildings']):,} buildings, "
          f"{len(city['streets']):,} streets in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def run_job(job: str, data: Path, out: Path, jobs: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", job, str(data), str(out), str(jobs)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{job} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1", help="comma-separated city scales (1 ≈ Taiyuan)")
    parser.add_argument("--quick", action="store_true", help="scale 0.1 only: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--momepy-jobs", type=int, default=1, help="n_jobs for enclosed_tessellation")
    parser.add_argument("--child", nargs=4, metavar=("JOB", "DATA", "OUT", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job, data, out, jobs = args.child
        child(job, data, out, int(jobs))
        return 0

    import momepy

    scales = [0.1] if args.quick else [float(s) for s in args.scales.split(",")]
    print(f"microgrids benchmark: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, momepy {momepy.__version__} (n_jobs={args.momepy_jobs})", flush=True)
    rows = []
    for scale in scales:
        data = city_file(scale, args.seed)
        result = {}
        for job in JOBS:
            result[job] = run_job(job, data, OUT / f"microgrids-s{scale:g}" / job.replace(", ", "-").replace(" ", "-"),
                                  args.momepy_jobs)
            r = result[job]
            print(f"  scale {scale:g} {job}: {r['seconds']:.1f} s (read {r['read']:.1f}, compute "
                  f"{r['compute']:.1f}, write {r['write']:.1f}), CPU {r['cpu_seconds']:.1f} s, peak "
                  f"{r['peak_mb']:.0f} MB, {r['cells']:,} cells", flush=True)
        rows.append((scale, result))

    print()
    print("| scale | buildings | job | cells | total s | compute s | CPU s | peak MB | momepy ÷ this (total) "
          "| momepy ÷ this (compute) | momepy ÷ this (CPU) |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    short = []
    for scale, result in rows:
        m = result["momepy"]
        for job, r in result.items():
            ratio = m["seconds"] / r["seconds"]
            ratio_c = m["compute"] / r["compute"]
            ratio_cpu = m["cpu_seconds"] / r["cpu_seconds"]
            print(f"| {scale:g} | {r['buildings']:,} | {job} | {r['cells']:,} | {r['seconds']:.1f} | "
                  f"{r['compute']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_mb']:.0f} | {ratio:.1f} | "
                  f"{ratio_c:.1f} | {ratio_cpu:.1f} |")
            if job != "momepy" and ratio < GOAL:
                short.append(f"{job} at scale {scale:g}")
        g = result["gridmap"]
        print(f"\nscale {scale:g}: gridmap micro-grids {g['within_range']:,} of {g['cells']:,} in range "
              f"({g['below_min']} under, {g['above_max']} over — buildings alone), median "
              f"{g['median_households']:g} households, {g['multipart']} in several parts, largest "
              f"area error per grid {g['worst_area_error']:.1e}")
    print(f"\ngoal momepy ÷ gridmap ≥ {GOAL:g}: {'met' if not short else 'NOT met for ' + ', '.join(short)}")
    return 0 if not short else 1


if __name__ == "__main__":
    sys.exit(main())
