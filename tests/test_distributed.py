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
    csvs = sorted(p.name for p in single.out.glob("*.csv"))
    assert {"compounds.csv", "organization.csv", "reach.csv"} <= set(csvs)
    assert csvs == sorted(p.name for p in spread.out.glob("*.csv"))
    for name in csvs:
        assert (single.out / name).read_bytes() == (spread.out / name).read_bytes(), name
    assert (single.out / "organization.json").read_bytes() == (spread.out / "organization.json").read_bytes()
    for layer in ("microgrids", "buildings"):
        a = gpd.read_file(single.out / "microgrids.gpkg", layer=layer)
        b = gpd.read_file(spread.out / "microgrids.gpkg", layer=layer)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        # Cutting the same grid in another process may order a polygon's vertices differently.
        assert (a.geometry.symmetric_difference(b.geometry).area < 1e-6).all()
    assert not list(tmp_path.glob(".*exchange*"))  # the exchange folder is cleaned away


def test_unreachable_scheduler_fails_fast(tmp_path):
    started = time.perf_counter()
    with pytest.raises(GridmapError, match="Cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_job(demo_project(tmp_path / "out"), scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - started < 15
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_local_cluster_workers_match(tmp_path):
    from gridmap.project import LayerConfig, Project

    sample = ROOT / "boundaries"
    if not (sample / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    layers = {k: LayerConfig(str(sample / f"{k}.geojson")) for k in ("compounds", "grids", "buildings")}
    single = run_job(Project(layers=dict(layers), out=tmp_path / "single"))  # members from party_members
    local = run_job(Project(layers=dict(layers), out=tmp_path / "local"), workers=2)
    for name in ("organization.csv", "compounds.csv", "proposal.csv"):
        assert (single.out / name).read_bytes() == (local.out / name).read_bytes(), name
    a = gpd.read_file(single.out / "microgrids.gpkg", layer="microgrids")
    b = gpd.read_file(local.out / "microgrids.gpkg", layer="microgrids")
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
