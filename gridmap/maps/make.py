"""``make_maps``: every page of an area, written atomically and checked to open offline."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap import settings
from gridmap.classify import Classification
from gridmap.errors import GridmapError
from gridmap.io import warn_if_far_apart, write_text
from gridmap.maps.context import SECTION_GRIDS, Context, PageData
from gridmap.maps.elements import Style
from gridmap.maps.pages import community_page, index_page
from gridmap.maps.proposal import proposal_page
from gridmap.maps.safety import assert_offline
from gridmap.parallel import Runner

log = logging.getLogger(__name__)

#: Background tiles a page may have.
BASEMAPS = ("osm", "tianditu", "gaode", "none")


def make_maps(
    classification: Classification,
    out_dir: str | os.PathLike,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    microgrids: gpd.GeoDataFrame | None = None,
    organisation: pd.DataFrame | None = None,
    proposal: dict[str, gpd.GeoDataFrame] | None = None,
    communities: gpd.GeoDataFrame | None = None,
    stations: gpd.GeoDataFrame | None = None,
    members: pd.DataFrame | None = None,
    workers: pd.DataFrame | None = None,
    basemap: str | None = None,
    tianditu_key: str | None = None,
    building_id: str | None = None,
    households: str | None = None,
    attribution: str | None = None,
    section_grids: int = SECTION_GRIDS,
    reach: pd.DataFrame | None = None,
    walk_m: float | None = None,
    runner: Runner | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``index.html``, one page per community (or section) and ``proposal.html``.

    Parameters
    ----------
    classification : Classification
        From :func:`gridmap.classify.classify`: compounds and grids with their situations.
    out_dir : path
        Folder for the pages (created if needed).
    buildings, microgrids, stations, communities : GeoDataFrame, optional
        Buildings (footprints or points; ``building_id``, households, party members, compound),
        micro-grids (``microgrid_id``, ``grid_id``, ``households``, ``building_ids``), service
        stations (points, ``name``) and community polygons (id/name). Missing layers are simply
        absent from the pages. Grids are put in communities by their community field, else by
        the community polygon holding them; without either, the area is cut into sections of at
        most ``section_grids`` neighbouring grids. Features with an empty community go to an
        "unassigned" page.
    organisation : DataFrame, optional
        ``organization.csv`` of ``gridmap org`` (unit_id, parent_id, kind, name, compound_ids,
        grid_ids, building_ids, members): shown as a tree beside each community map, and as the
        branch of each compound and grid and the group of each building.
    proposal : dict of GeoDataFrame, optional
        Layers ``grids`` and ``changes`` of ``gridmap align``: drawn in ``proposal.html``.
    members : DataFrame, optional
        Member ledger; only its count of members per ``building_id`` is used, no names.
    workers : DataFrame, optional
        ``grid_id`` and ``worker_id`` of grid workers; only the id is shown.
    basemap : {"osm", "tianditu", "gaode", "none"}
        Background tiles. "gaode" shifts every vector coordinate to GCJ-02 (DESIGN §6).
    tianditu_key : str, optional
        Tianditu token, needed for ``basemap="tianditu"``.
    attribution : str, optional
        Data attribution shown on every map, e.g. "© OpenStreetMap contributors, ODbL".
    reach : DataFrame, optional
        Distance to the nearest service station, from :func:`gridmap.reach.unserved`:
        ``station_distance_m`` (m; inf when no station can be reached), ``served`` and
        ``measured``, indexed like ``classification.compounds`` or with their ``compound_id``.
        Compound popups then show the distance, and the compounds not served get a red dashed
        outline layer and a count beside each map.
    walk_m : float, optional
        The walking distance (m) ``reach`` was judged with; default
        :data:`gridmap.settings.WALK_M`. ``served`` decides which compounds are beyond it; without
        that column, a distance above ``walk_m`` does.
    runner : Runner, optional
        Where the community pages are drawn (:class:`gridmap.parallel.Runner`: a process pool or a
        Dask cluster); by default one after the other in this process. Each page gets its own share
        of the layers (:meth:`Context.page_data`); the overview and the proposal are drawn here
        meanwhile.
    progress : callable, optional
        Called with (community pages written, pages in all) as each is written.

    Returns
    -------
    list of Path
        The pages written, index first.
    """
    # Features without a usable geometry (no_geometry) are in the tables but cannot be drawn.
    classification = classification.with_geometry()
    basemap = basemap or settings.BASEMAP
    if basemap not in BASEMAPS:
        raise GridmapError(f"--basemap {basemap!r}: use one of {', '.join(BASEMAPS)}.")
    if basemap == "tianditu":
        if not tianditu_key:
            raise GridmapError("--basemap tianditu needs a Tianditu key: give it with --tianditu-key "
                               "(free from the Tianditu developer console), or use --basemap osm/none.")
        if not re.fullmatch(r"[A-Za-z0-9]{8,64}", tianditu_key):
            raise GridmapError("--tianditu-key should be the 32 letters and digits of a Tianditu "
                               "token; the one given has other characters.")
    if walk_m is not None and not (np.isfinite(walk_m) and walk_m > 0):
        raise GridmapError(f"walk_m (the walking distance to a station) must be a positive number "
                           f"of metres; {walk_m!r} was given.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    warn_if_far_apart({"compounds": classification.compounds, "grids": classification.grids,
                       "buildings": buildings, "micro-grids": microgrids, "stations": stations,
                       "communities": communities,
                       **{f"proposal {k}": v for k, v in (proposal or {}).items()}})
    gcj = basemap == "gaode"
    ctx = Context.build(classification, buildings=buildings, microgrids=microgrids,
                        organisation=organisation, communities=communities, stations=stations,
                        members=members, workers=workers, gcj02=gcj, building_id=building_id,
                        households=households, section_grids=section_grids, reach=reach,
                        walk_m=settings.WALK_M if walk_m is None else float(walk_m))
    style = Style(basemap, tianditu_key, attribution or _guess_attribution(classification, buildings))
    runner = runner or Runner(processes=1)
    keys = list(ctx.pages)
    stop = threading.Event()

    def tasks():
        for data in ctx.page_data():
            if stop.is_set():  # the overview failed: no more pages
                return
            yield data, style, str(out / data.page.file)

    def community_pages() -> list[Path]:
        return runner.map(write_page, tasks(), stage="maps", keys=keys, total=len(keys), progress=progress)

    def whole_area() -> list[Path]:
        pages = [_write(out / "index.html", index_page(ctx, style, has_proposal=proposal is not None))]
        if proposal is not None:
            pages.append(_write(out / "proposal.html", proposal_page(ctx, proposal, style)))
        return pages

    if runner.parallel:  # the community pages elsewhere, the overview and the proposal here meanwhile
        thread = ThreadPoolExecutor(1, thread_name_prefix="gridmap-pages")
        drawn = thread.submit(community_pages)
        try:
            area = whole_area()
        except BaseException:
            stop.set()
            raise
        finally:
            thread.shutdown(wait=False)
        written = [area[0], *drawn.result(), *area[1:]]
    else:
        area = whole_area()
        written = [area[0], *community_pages(), *area[1:]]
    log.info("wrote %d map pages in %s", len(written), out)
    return written


def write_page(task: tuple[PageData, Style, str]) -> Path:
    """Draw and write one community page: ``(page data, style, path)``, in whichever process."""
    data, style, path = task
    return _write(Path(path), community_page(data, style))


def _write(path: Path, page: str) -> Path:
    assert_offline(page, path.name)
    return write_text(page, path)


def _guess_attribution(classification: Classification, buildings) -> str | None:
    """OpenStreetMap-derived layers (an ``osm_id`` column) must credit OSM (ODbL)."""
    layers = [classification.compounds, classification.grids, buildings]
    if any(layer is not None and any(str(c).lower().startswith("osm_") for c in layer.columns)
           for layer in layers):
        return "Data © OpenStreetMap contributors, ODbL"
    return None
