"""Benchmark: ``gridmap classify`` against a hand-written geopandas version of the same job.

For each scale, a synthetic city (``synthcity.py``; cached in ``benchmarks/data/``) is classified
twice, each job in a fresh Python process so that its peak memory is its own:

- gridmap: ``gridmap.jobs.classify_job`` — what ``gridmap classify`` runs (read, validate,
  overlap, the rule, write compounds.csv, grids.csv, overlaps.csv and classification.gpkg);
- peer: a straightforward geopandas script (``peer_job`` below): ``read_file``, ``to_crs``,
  ``geopandas.overlay(how="intersection")``, areas and shares, the DESIGN §2 rule with pandas
  groupby, and the same four output files.

Both results are checked to give the same situation for every compound and grid. Times are the
job's wall time inside its process (imports excluded), best of ``--repeat`` runs; CPU time (user +
system) is shown too, as it is less disturbed by other work on the machine. Peak memory is the
process's ``ru_maxrss`` (so it includes the ≈ 180 MB that importing geopandas and gridmap takes).

    python benchmarks/bench_classify.py                 # scales 1 and 5
    python benchmarks/bench_classify.py --scales 1 --repeat 3
    python benchmarks/bench_classify.py --quick         # scale 0.1, a smoke run for CI
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
SLIVER, NEST = 0.05, 0.5


# ----------------------------------------------------------------------------- the two jobs


def gridmap_job(compounds: str, grids: str, out: Path) -> None:
    from gridmap.jobs import classify_job

    classify_job(compounds, grids, out, sliver=SLIVER, nest=NEST)


def peer_job(compounds: str, grids: str, out: Path, sliver: float = SLIVER, nest: float = NEST) -> None:
    """The same job written the way a GIS analyst would with geopandas and pandas."""
    import geopandas as gpd
    import numpy as np

    def read(spec: str) -> gpd.GeoDataFrame:
        path, _, layer = spec.rpartition(":")
        return gpd.read_file(path, layer=layer)

    c = read(compounds)
    g = read(grids)
    metric = c.crs if c.crs.is_projected else c.estimate_utm_crs()
    c = c.to_crs(metric)
    g = g.to_crs(metric)
    c["c_area"] = c.area
    g["g_area"] = g.area

    ov = gpd.overlay(c[["compound_id", "c_area", "geometry"]], g[["grid_id", "g_area", "geometry"]],
                     how="intersection")
    ov["overlap_m2"] = ov.area
    ov = ov[ov.overlap_m2 > 0].copy()
    ov["share_of_compound"] = (ov.overlap_m2 / ov.c_area).clip(upper=1)
    ov["share_of_grid"] = (ov.overlap_m2 / ov.g_area).clip(upper=1)
    ov["significant"] = (ov.share_of_compound >= sliver) | (ov.share_of_grid >= sliver)

    ov = ov.sort_values(["compound_id", "grid_id"])  # so that joined id lists come out sorted
    sig = ov[ov.significant].copy()
    sig["alone"] = sig.groupby("grid_id").compound_id.transform("size") == 1
    sig["nest_alone"] = sig.alone & (sig.share_of_grid >= nest)
    per_c = sig.groupby("compound_id").agg(n=("grid_id", "size"), alone=("alone", "all"),
                                           nest_alone=("nest_alone", "all"), grid_ids=("grid_id", ";".join))
    main = sig.sort_values(["compound_id", "share_of_compound"], ascending=[True, False]) \
        .drop_duplicates("compound_id").set_index("compound_id")
    slivers = ov[~ov.significant].groupby("compound_id").grid_id.agg(";".join)

    cc = c.join(per_c, on="compound_id")
    n = cc.n.fillna(0)
    cc["situation"] = np.select([n == 0, (n == 1) & (cc.alone == True), n == 1, cc.nest_alone == True],  # noqa: E712
                                ["uncovered", "equal", "large_grid", "large_compound"], "mixed")
    cc["grid_ids"] = cc.grid_ids.fillna("")
    cc["main_grid_id"] = cc.compound_id.map(main.grid_id)
    cc["main_share"] = cc.compound_id.map(main.share_of_compound).round(4)
    cc["area_m2"] = cc.c_area.round(1)
    cc["sliver_grid_ids"] = cc.compound_id.map(slivers).fillna("")

    sig["c_situation"] = sig.compound_id.map(cc.set_index("compound_id").situation)
    sig["is_mixed"] = sig.c_situation == "mixed"
    per_g = sig.sort_values(["grid_id", "compound_id"]).groupby("grid_id").agg(
        n=("compound_id", "size"), any_mixed=("is_mixed", "any"), first=("c_situation", "first"),
        compound_ids=("compound_id", ";".join))
    gg = g.join(per_g, on="grid_id")
    n = gg.n.fillna(0)
    gg["situation"] = np.select([n == 0, gg.any_mixed == True, (n == 1) & (gg["first"] == "large_compound"),  # noqa: E712
                                 n == 1], ["no_compound", "mixed", "large_compound", "equal"], "large_grid")
    gg["compound_ids"] = gg.compound_ids.fillna("")
    gg["area_m2"] = gg.g_area.round(1)

    c_cols = ["compound_id", "situation", "grid_ids", "main_grid_id", "main_share", "area_m2", "sliver_grid_ids"]
    g_cols = ["grid_id", "situation", "compound_ids", "area_m2"]
    c_out = cc[c_cols + [k for k in c.columns if k not in c_cols + ["c_area", "geometry"]] + ["geometry"]]
    g_out = gg[g_cols + [k for k in g.columns if k not in g_cols + ["g_area", "geometry"]] + ["geometry"]]
    overlaps = ov[["compound_id", "grid_id", "overlap_m2", "share_of_compound", "share_of_grid", "significant"]] \
        .round({"overlap_m2": 2, "share_of_compound": 4, "share_of_grid": 4}) \
        .sort_values(["compound_id", "grid_id"])

    out.mkdir(parents=True, exist_ok=True)
    c_out.drop(columns="geometry").to_csv(out / "compounds.csv", index=False, encoding="utf-8-sig")
    g_out.drop(columns="geometry").to_csv(out / "grids.csv", index=False, encoding="utf-8-sig")
    overlaps.to_csv(out / "overlaps.csv", index=False, encoding="utf-8-sig")
    gpkg = out / "classification.gpkg"
    gpkg.unlink(missing_ok=True)
    c_out.to_file(gpkg, layer="compounds", driver="GPKG")
    g_out.to_file(gpkg, layer="grids", driver="GPKG")


JOBS = {"gridmap": gridmap_job, "peer": peer_job}


def child(job: str, compounds: str, grids: str, out: str) -> None:
    """Run one job in this process and print its time and peak memory as JSON."""
    import geopandas  # noqa: F401 - both jobs need it; imports are not timed
    import gridmap.pipeline  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        JOBS[job](compounds, grids, Path(out))
        seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": after.ru_maxrss / 1024,
                      "after_imports_mb": before.ru_maxrss / 1024}))


# ----------------------------------------------------------------------------- the run


def city_file(scale: float, seed: int) -> Path:
    """The cached city for a scale, made on first use."""
    path = DATA / f"city-s{scale:g}-seed{seed}.gpkg"
    if path.exists():
        return path
    sys.path.insert(0, str(HERE))
    from synthcity import make_city, write_city

    start = time.perf_counter()
    city = make_city(scale, seed, buildings=False)
    made = time.perf_counter() - start
    write_city(city, DATA, name=path.name)
    print(f"  generated scale {scale:g}: {len(city['compounds']):,} compounds, {len(city['grids']):,} grids "
          f"in {made:.1f} s (+{time.perf_counter() - start - made:.1f} s to write {path.name})", flush=True)
    return path


def run_job(job: str, data: Path, out: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", job,
           f"{data}:compounds", f"{data}:grids", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{job} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(a: Path, b: Path) -> list[str]:
    """Differences in situation between the two runs' CSVs (empty when they agree)."""
    import pandas as pd

    problems = []
    for name, key in (("compounds.csv", "compound_id"), ("grids.csv", "grid_id")):
        x = pd.read_csv(a / name, dtype=str, keep_default_na=False).set_index(key)
        y = pd.read_csv(b / name, dtype=str, keep_default_na=False).set_index(key)
        if set(x.index) != set(y.index):
            problems.append(f"{name}: ids differ ({len(set(x.index) ^ set(y.index))} not in both)")
            continue
        y = y.reindex(x.index)
        for col in ("situation",) + (("grid_ids", "main_grid_id") if key == "compound_id" else ("compound_ids",)):
            bad = x[col] != y[col]
            for i in x.index[bad][:10]:
                problems.append(f"{name} {i} {col}: gridmap {x.at[i, col]!r}, peer {y.at[i, col]!r}")
            if bad.sum() > 10:
                problems.append(f"{name} {col}: {bad.sum()} differences in all")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,5", help="comma-separated city scales (1 ≈ Taiyuan)")
    parser.add_argument("--quick", action="store_true", help="scale 0.1 only: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each job; the fastest counts")
    parser.add_argument("--child", nargs=4, metavar=("JOB", "COMPOUNDS", "GRIDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    scales = [0.1] if args.quick else [float(s) for s in args.scales.split(",")]
    print(f"classify benchmark: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"best of {args.repeat}", flush=True)
    rows, failures = [], []
    for scale in scales:
        data = city_file(scale, args.seed)
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for job in JOBS:  # interleaved, so that load from elsewhere hits both alike
                result = run_job(job, data, OUT / f"s{scale:g}" / job)
                if job not in best or result["seconds"] < best[job]["seconds"]:
                    best[job] = result
        problems = compare(OUT / f"s{scale:g}" / "gridmap", OUT / f"s{scale:g}" / "peer")
        failures += [f"scale {scale:g}: {p}" for p in problems]
        import pandas as pd

        n_c = len(pd.read_csv(OUT / f"s{scale:g}" / "gridmap" / "compounds.csv", usecols=[0]))
        n_g = len(pd.read_csv(OUT / f"s{scale:g}" / "gridmap" / "grids.csv", usecols=[0]))
        rows.append((scale, n_c, n_g, best["gridmap"], best["peer"], not problems))
        g, p = best["gridmap"], best["peer"]
        print(f"  scale {scale:g}: gridmap {g['seconds']:.2f} s, peer {p['seconds']:.2f} s, "
              f"ratio {g['seconds'] / p['seconds']:.2f} (CPU {g['cpu_seconds'] / p['cpu_seconds']:.2f}); "
              f"situations {'identical' if not problems else 'DIFFER'}", flush=True)

    print()
    print("| scale | compounds | grids | gridmap s | peer s | ratio gridmap/peer | CPU ratio "
          "| gridmap peak MB | peer peak MB | same situations |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for scale, n_c, n_g, g, p, same in rows:
        print(f"| {scale:g} | {n_c:,} | {n_g:,} | {g['seconds']:.2f} | {p['seconds']:.2f} | "
              f"{g['seconds'] / p['seconds']:.2f} | {g['cpu_seconds'] / p['cpu_seconds']:.2f} | "
              f"{g['peak_mb']:.0f} | {p['peak_mb']:.0f} | {'yes' if same else 'NO'} |")
    if failures:
        print("\nMismatches:")
        for line in failures:
            print("  " + line)
        return 1
    # The goal is set for city sizes (scale 1 and up); below that fixed costs of a few tenths of a
    # second decide, and the run is a smoke test.
    judged = [(s, g, p) for s, _, _, g, p, _ in rows if s >= 1]
    slow = [f"{s:g}" for s, g, p in judged if g["seconds"] > p["seconds"]]
    if judged:
        print(f"\ngoal ratio ≤ 1.0 at scale ≥ 1: {'met' if not slow else 'NOT met at scale ' + ', '.join(slow)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
