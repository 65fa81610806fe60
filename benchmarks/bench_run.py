"""The whole ``gridmap run`` on a synthetic city: time and peak memory per stage, single process and
on a local Dask cluster, at several scales.

    python benchmarks/bench_run.py --scales 0.1,1 --workers 0,2

Each run is a fresh ``gridmap run`` process; its memory is sampled (the sum over the process and
its children, Dask workers included) every 0.1 s. Per-stage seconds come from the run's own record
(``.gridmap-run`` in the output folder). The goal of issue 7: the city (scale 1) within 120 s and
4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
sys.path.insert(0, str(HERE))

STAGES = ("load", "validate", "classify", "align", "organise", "microgrids", "reach", "maps", "report")


def city(scale: float, seed: int = 0) -> Path:
    from synthcity import make_city, write_city

    path = DATA / f"run-city-s{scale:g}-seed{seed}" / "city.gpkg"
    if not path.exists():
        write_city(make_city(scale=scale, seed=seed), path.parent)
    return path


def run(gpkg: Path, out: Path, workers: int) -> dict:
    layers = ["--compounds", f"{gpkg}:compounds", "--grids", f"{gpkg}:grids", "--buildings", f"{gpkg}:buildings",
              "--communities", f"{gpkg}:communities", "--streets", f"{gpkg}:streets"]
    cmd = [sys.executable, "-m", "gridmap", "run", *layers, "--out", str(out), "--basemap", "none"]
    if workers:
        cmd += ["--workers", str(workers)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = parent.memory_info().rss + sum(c.memory_info().rss for c in parent.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"gridmap run failed:\n{proc.stderr.read()[-3000:]}")
    record = json.loads((out / ".gridmap-run").read_text(encoding="utf-8"))
    return {"seconds": seconds, "peak_mb": peak / 2**20, "stages": record["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="0.1,1")
    parser.add_argument("--workers", default="0,2", help="0 = single process")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    rows = []
    for scale in scales:
        gpkg = city(scale)
        for w in workers:
            out = Path(tempfile.mkdtemp(prefix="bench-run-")) / "out"
            r = run(gpkg, out, w)
            shutil.rmtree(out.parent, ignore_errors=True)
            rows.append((scale, w, r))
            stages = " ".join(f"{s}={r['stages'].get(s, 0):.1f}" for s in STAGES)
            print(f"scale {scale:g} workers {w or 'single'}: {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB; {stages}",
                  flush=True)
    print()
    print("| scale | mode | total s | peak MB | " + " | ".join(STAGES) + " |")
    print("|---:|---|---:|---:|" + "---:|" * len(STAGES))
    for scale, w, r in rows:
        mode = f"{w} workers" if w else "single process"
        print(f"| {scale:g} | {mode} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | "
              + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in STAGES) + " |")
    city_rows = [r for s, w, r in rows if s == 1]
    for r in city_rows:
        ok = r["seconds"] <= 120 and r["peak_mb"] <= 4096
        print(f"goal (scale 1 within 120 s and 4 GB): {'met' if ok else 'NOT met'} "
              f"({r['seconds']:.0f} s, {r['peak_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
