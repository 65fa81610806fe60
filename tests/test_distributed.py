"""A run on a real dask.distributed cluster (a scheduler and two workers on 127.0.0.1) gives the
same outputs as a single-process run; an unreachable scheduler fails fast and clearly."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import geopandas as gpd
import pandas as pd
import pytest

from conftest import ROOT
from gridmap.errors import GridmapError
from gridmap.pipeline import demo_project, run_job


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(2)
    for _ in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                       "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    yield address
    for p in procs[::-1]:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


@pytest.mark.slow
def test_cluster_run_matches_single_process(cluster, tmp_path):
    if not (ROOT / "boundaries" / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    single = run_job(demo_project(tmp_path / "single"))
    spread = run_job(demo_project(tmp_path / "cluster"), scheduler=cluster)
    assert {"compounds.csv", "organization.csv", "reach.csv"} <= {p.name for p in single.out.glob("*.csv")}
    # Every CSV and JSON, each office's workbook, the micro-grids (cutting the same grid in another
    # process may order a polygon's vertices differently: geometries compared by area).
    same_outputs(single.out, spread.out)
    assert sorted(p.name for p in (spread.out / "offices").iterdir()) == \
        sorted(p.name for p in (single.out / "offices").iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left beside the outputs


def test_unreachable_scheduler_fails_fast(tmp_path):
    started = time.perf_counter()
    with pytest.raises(GridmapError, match="Cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_job(demo_project(tmp_path / "out"), scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - started < 15
    assert not (tmp_path / "out").exists()


def same_outputs(a, b) -> None:
    """Every CSV and JSON table, every office workbook and the micro-grids of two runs are the same."""
    tables = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.suffix in (".csv", ".json")
                    or p.name == "tables.xlsx")
    assert {"compounds.csv", "organization.csv", "organization.json"} <= set(tables)
    assert tables == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.suffix in (".csv", ".json")
                            or p.name == "tables.xlsx")
    for name in tables:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pages = sorted(p.name for p in a.glob("*.html"))
    assert pages == sorted(p.name for p in b.glob("*.html")) and len(pages) > 3
    for layer in ("microgrids", "buildings"):
        x = gpd.read_file(a / "microgrids.gpkg", layer=layer)
        y = gpd.read_file(b / "microgrids.gpkg", layer=layer)
        pd.testing.assert_frame_equal(x.drop(columns="geometry"), y.drop(columns="geometry"))
        assert (x.geometry.symmetric_difference(y.geometry).area < 1e-6).all()


@pytest.mark.slow
def test_local_cluster_workers_match(tmp_path, monkeypatch):
    """Two local Dask workers, a local process pool and one process: the same tables, byte for byte."""
    from gridmap import settings
    from gridmap.project import LayerConfig, Project

    sample = ROOT / "boundaries"
    if not (sample / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    layers = {k: LayerConfig(str(sample / f"{k}.geojson")) for k in ("compounds", "grids", "buildings", "streets")}
    monkeypatch.setattr(settings, "PROCESSES", 1)
    single = run_job(Project(layers=dict(layers), out=tmp_path / "single"))  # members from party_members
    local = run_job(Project(layers=dict(layers), out=tmp_path / "local"), workers=2)
    monkeypatch.setattr(settings, "PROCESSES", 2)
    pool = run_job(Project(layers=dict(layers), out=tmp_path / "pool"))
    for other in (local, pool):
        same_outputs(single.out, other.out)
    # Every per-community stage ran as tasks, one per community, wherever they ran.
    communities = single.organisation.units.query("depth == 0").community.nunique()
    for run in (single, local, pool):
        assert {"organise", "microgrids", "maps", "offices"} <= set(run.tasks)
        assert len(run.tasks["organise"]) >= communities
        assert len(run.tasks["maps"]) == len(run.pages) - 2  # the index and proposal.html on the driver
