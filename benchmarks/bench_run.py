"""The whole ``gridmap run`` on a synthetic city: time, CPU time and peak memory per stage, in one
process, with the local process pool and on a local Dask cluster, at several scales; and what a
cluster would make of it.

    python benchmarks/bench_run.py                                  # scales 1, 3, 5; every mode
    python benchmarks/bench_run.py --scales 0.1,1 --modes single,dask2

Modes: ``single`` (every stage in the run's own process: ``settings.PROCESSES = 1``), ``pool`` (the
default: pages and office folders, organisation and micro-grids per community on a local process
pool of one process per core) and ``daskN`` (``gridmap run --workers N``: the same tasks on a local
Dask cluster of N worker processes).

Each run is a fresh ``gridmap run`` process; its memory is sampled (the sum over the process and
its children: pool processes and Dask workers included) every 0.1 s; CPU time is the run's and its
children's. Per-stage seconds and each per-community task's seconds come from the run's own record
(``.gridmap-run`` in the output folder).

The simulated cluster: from a ``single`` run, each stage's time on P workers is its driver part
(the stage's time less its tasks') plus the makespan of its tasks on P workers, scheduled longest
first (list scheduling). Moving the tasks' data to the workers is not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
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

STAGES = ("load", "validate", "classify", "align", "organise", "microgrids", "reach", "maps", "report", "shapefiles",
          "offices")
#: The run with the pool switched off (``settings.PROCESSES = 1``) for mode ``single``.
SINGLE = "import sys; import gridmap.settings as s; s.PROCESSES = 1; from gridmap.cli import main; main()"
CLUSTER = (8, 32, 128)


def city(scale: float, seed: int = 0) -> Path:
    from synthcity import make_city, write_city

    path = DATA / f"run-city-s{scale:g}-seed{seed}" / "city.gpkg"
    if not path.exists():
        write_city(make_city(scale=scale, seed=seed), path.parent)
    return path


def run(gpkg: Path, out: Path, mode: str) -> dict:
    layers = ["--compounds", f"{gpkg}:compounds", "--grids", f"{gpkg}:grids", "--buildings", f"{gpkg}:buildings",
              "--communities", f"{gpkg}:communities", "--streets", f"{gpkg}:streets"]
    head = [sys.executable, "-c", SINGLE] if mode == "single" else [sys.executable, "-m", "gridmap"]
    cmd = [*head, "run", *layers, "--out", str(out), "--basemap", "none"]
    if mode.startswith("dask"):
        cmd += ["--workers", mode[4:]]
    started = time.perf_counter()
    errors = tempfile.TemporaryFile("w+", encoding="utf-8")  # a pipe could fill and stall the run
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    cpu: dict[int, float] = {}  # CPU seconds of every process of the tree, last seen
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(psutil.Error):
            rss = 0
            for p in [parent, *parent.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system
            peak = max(peak, rss)
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    # The run's own CPU time and its waited children's (rusage), or the sampled tree's if larger
    # (processes a nanny outlived).
    cpu_s = max(usage.ru_utime + usage.ru_stime, sum(cpu.values()))
    if os.waitstatus_to_exitcode(status) != 0:
        errors.seek(0)
        raise SystemExit(f"gridmap run failed:\n{errors.read()[-3000:]}")
    record = json.loads((out / ".gridmap-run").read_text(encoding="utf-8"))
    return {"seconds": seconds, "cpu": cpu_s, "peak_mb": peak / 2**20, "stages": record["seconds"],
            "tasks": record.get("tasks", {}), "load": os.getloadavg()[0],
            "driver_mb": record.get("peak_mb", {})}


def makespan(times: list[float], workers: int) -> float:
    """List scheduling, longest first: each task to the worker that is free first."""
    free = [0.0] * workers
    for t in sorted(times, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + t)
    return max(free) if times else 0.0


def simulated(r: dict, workers: int) -> tuple[float, float]:
    """The run's time on ``workers`` workers, and its serial part (the driver's)."""
    total = serial = 0.0
    for stage, seconds in r["stages"].items():
        times = [wall for _, wall, _ in r["tasks"].get(stage, [])]
        driver = max(0.0, seconds - sum(times))
        serial += driver
        total += driver + makespan(times, workers)
    return total, serial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,3,5")
    parser.add_argument("--modes", default="single,pool,dask2", help="single, pool, daskN (comma-separated)")
    parser.add_argument("--keep", type=Path, help="write each run's record (JSON) into this folder")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    modes = args.modes.split(",")
    rows = []
    for scale in scales:
        gpkg = city(scale)
        for mode in modes:
            out = Path(tempfile.mkdtemp(prefix="bench-run-")) / "out"
            r = run(gpkg, out, mode)
            shutil.rmtree(out.parent, ignore_errors=True)
            rows.append((scale, mode, r))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / f"run-s{scale:g}-{mode}.json").write_text(json.dumps(r), encoding="utf-8")
            stages = " ".join(f"{s}={r['stages'].get(s, 0):.1f}" for s in STAGES)
            print(f"scale {scale:g} {mode}: {r['seconds']:.1f} s (CPU {r['cpu']:.1f} s), peak {r['peak_mb']:.0f} MB, "
                  f"load {r['load']:.1f}; {stages}", flush=True)
    print()
    print("| scale | mode | total s | CPU s | peak MB | loadavg | " + " | ".join(STAGES) + " |")
    print("|---:|---|---:|---:|---:|---:|" + "---:|" * len(STAGES))
    for scale, mode, r in rows:
        print(f"| {scale:g} | {mode} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['peak_mb']:.0f} | {r['load']:.1f} | "
              + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in STAGES) + " |")
    print()
    print("The run's own process (the driver): its peak memory so far at the end of each stage, MB:")
    print("| scale | mode | " + " | ".join(STAGES) + " |")
    print("|---:|---|" + "---:|" * len(STAGES))
    for scale, mode, r in rows:
        print(f"| {scale:g} | {mode} | " + " | ".join(f"{r['driver_mb'].get(s) or 0:.0f}" for s in STAGES) + " |")
    print()
    print("Simulated cluster (from the single-process runs: each stage's driver part, then the longest-first "
          "makespan of its measured per-community tasks):")
    print("| scale | from | run s | serial (driver) s | " + " | ".join(f"{w} workers s" for w in CLUSTER) + " |")
    print("|---:|---|---:|---:|" + "---:|" * len(CLUSTER))
    for scale, mode, r in rows:
        if mode == "single":
            serial = simulated(r, 1)[1]
            print(f"| {scale:g} | {mode} | {sum(r['stages'].values()):.1f} | {serial:.1f} | "
                  + " | ".join(f"{simulated(r, w)[0]:.1f}" for w in CLUSTER) + " |")
    print()
    by = {(s, m): r for s, m, r in rows}
    for mode in modes:
        one, five = by.get((1.0, mode)), by.get((5.0, mode))
        if five:
            ok = five["seconds"] <= 120 and five["peak_mb"] <= 4096
            print(f"{mode}: scale 5 within 120 s and 4 GB: {'met' if ok else 'NOT met'} "
                  f"({five['seconds']:.0f} s, {five['peak_mb']:.0f} MB)")
        if one and five:
            ratio = five["seconds"] / one["seconds"]
            print(f"{mode}: time at scale 5 / scale 1 = {ratio:.2f} (CPU {five['cpu'] / one['cpu']:.2f}); "
                  f"goal ≤ 5.5: {'met' if ratio <= 5.5 else 'NOT met'}")
        if one and mode.startswith("dask") and by.get((1.0, "single")):
            ratio = one["seconds"] / by[(1.0, "single")]["seconds"]
            print(f"{mode} at scale 1 / single process = {ratio:.2f}; goal ≤ 0.8: {'met' if ratio <= 0.8 else 'NOT met'}"
                  + (f" (/ pool: {one['seconds'] / by[(1.0, 'pool')]['seconds']:.2f})" if by.get((1.0, "pool")) else ""))


if __name__ == "__main__":
    main()
