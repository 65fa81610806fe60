"""Shared fixtures. Helpers add fixtures here by appending; keep each self-contained."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
BOUNDARIES = ROOT / "boundaries"
BENCHMARKS = ROOT / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
# Tests read gridmap's English messages, whatever the machine's locale; tests/test_i18n.py sets the
# language it checks on its own (gridmap.i18n reads GRIDMAP_LANG when a message is translated).
os.environ["GRIDMAP_LANG"] = "en"


def polygons(items, id_field: str, crs=4547, **columns) -> gpd.GeoDataFrame:
    """A layer from ``{id: geometry}`` (boxes given as tuples are made into polygons)."""
    ids = list(items)
    geoms = [shapely.box(*g) if isinstance(g, tuple) else g for g in items.values()]
    return gpd.GeoDataFrame({id_field: ids, **columns}, geometry=geoms, crs=crs)


def digest(folder: Path) -> dict[str, str]:
    """Hashes of every file under ``folder``: to show inputs are left as they were."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def sample_dir() -> Path:
    if not (BOUNDARIES / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    return BOUNDARIES


def chromium_path() -> str | None:
    path = os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium")
    return path if Path(path).exists() else None


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by playwright; CI must have it, elsewhere the test skips."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing at /usr/bin/chromium; .ci/run installs it")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def offline_context(browser, local: tuple[str, ...], **options):
    """A browser context in which only URLs starting with ``local`` load; every other request is
    aborted and listed in ``context.blocked``."""
    ctx = browser.new_context(**options)
    ctx.blocked = []

    def route(r):
        if r.request.url.startswith(local):
            r.continue_()
        else:
            ctx.blocked.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    return ctx


#: 制图单位 of the office run (tests/test_offices.py, tests/test_shapefile.py).
OFFICE_ORGANISATION = "太原市示例街道办事处"


@pytest.fixture(scope="session")
def office_run(tmp_path_factory):
    """``gridmap run`` on the whole sample with the offices' roster and 制图单位, once per session."""
    if not (BOUNDARIES / "compounds.geojson").exists():
        pytest.skip("the bundled sample is not built")
    from gridmap.pipeline import demo_project, run_job

    project = demo_project(tmp_path_factory.mktemp("offices") / "run")
    project.roster_file = str(project.out / "roster.xlsx")
    project.organisation = OFFICE_ORGANISATION
    return run_job(project)
