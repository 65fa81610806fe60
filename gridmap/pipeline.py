"""Stages joined into jobs: each job reads files, runs importable functions and writes outputs.

The CLI is a thin shell over these; each job returns what it computed so that callers (``run``,
notebooks, tests) can go on from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridmap import settings
from gridmap.classify import Classification, classify
from gridmap.io import (find_field, metric_crs, read_layer, reconcile, warn_if_far_apart, write_csv,
                        write_gpkg)
from gridmap.validate import inspect_layer, overlap_issues

log = logging.getLogger(__name__)


@dataclass
class ReadOptions:
    """How to read layers: engine, encoding and CRS for layers without one."""

    engine: str | None = None
    encoding: str | None = None
    crs: str | None = None

    def read(self, spec):
        return read_layer(spec, engine=self.engine, encoding=self.encoding, crs=self.crs)


def check_job(specs: list[str], out: Path | None, *, read: ReadOptions = ReadOptions(),
              compound_id: str | None = None, grid_id: str | None = None) -> pd.DataFrame:
    """Validate layers and write ``check.csv``; return the issue table.

    A layer with a building id is checked as buildings (points or polygons); one with a grid id
    field (``--grid-id`` or DESIGN §4 names) and no compound id, or whose name says so, as grids;
    one with a compound id as compounds; any other (streets, stations) for null, empty and invalid
    geometries only. Errors that stop a layer from being read at all (missing file, no CRS) are
    raised.
    """
    frames = []
    layers = {}
    for spec in specs:
        gdf = read.read(spec)
        kind, id_field = _guess_kind(gdf, spec, compound_id, grid_id)
        cleaned, issues = inspect_layer(gdf, id_field, kind)
        frames.append(issues)
        if cleaned is not None:
            layers[spec] = cleaned
            measured = cleaned.to_crs(metric_crs(cleaned))
            measured.attrs.update(cleaned.attrs)
            frames.append(overlap_issues(measured, id_field, kind))
        log.info("%s: %d features as %s (id field %s)", spec, len(gdf), kind, id_field)
    warn_if_far_apart(layers)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out is not None:
        write_csv(table, Path(out) / "check.csv")
    return table


def _guess_kind(gdf, spec: str, compound_id: str | None, grid_id: str | None) -> tuple[str, str | None]:
    cid = find_field(gdf, "compound_id", compound_id if compound_id in gdf.columns else None, required=False)
    gid = find_field(gdf, "grid_id", grid_id if grid_id in gdf.columns else None, required=False)
    bid = find_field(gdf, "building_id", required=False)
    name = str(spec).lower()
    if bid and not (compound_id in gdf.columns or grid_id in gdf.columns):
        return "buildings", bid  # buildings carry their compound's id too: their own id decides
    if gid and (not cid or "grid" in name or "网格" in name):
        return "grids", gid
    if cid:
        return "compounds", cid
    for given in (compound_id, grid_id):
        if given:
            find_field(gdf, "compound_id", given)  # raises naming the fields present
    return "features", None


def classify_job(compounds: str, grids: str, out: Path, *, read: ReadOptions = ReadOptions(),
                 compound_id: str | None = None, grid_id: str | None = None,
                 sliver: float = settings.SLIVER, nest: float = settings.NEST) -> Classification:
    """Read two layers, classify them and write ``compounds.csv``, ``grids.csv``, ``overlaps.csv``
    and ``classification.gpkg`` into ``out``."""
    c = read.read(compounds)
    g = read.read(grids)
    warn_if_far_apart({"compounds": c, "grids": g})
    result = classify(c, g, compound_id=compound_id, grid_id=grid_id, sliver=sliver, nest=nest)
    write_classification(result, Path(out), engine=read.engine)
    return result


def write_classification(result: Classification, out: Path, engine: str | None = None) -> None:
    """Write the classification tables of DESIGN §5."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(result.compounds, out / "compounds.csv")
    write_csv(result.grids, out / "grids.csv")
    write_csv(result.overlaps, out / "overlaps.csv")
    write_gpkg({"compounds": _gpkg_safe(result.compounds), "grids": _gpkg_safe(result.grids)},
               out / "classification.gpkg", engine=engine)


def _gpkg_safe(gdf):
    """GeoPackage field names are case-insensitive: drop later columns that clash."""
    seen: set[str] = set()
    keep = []
    for c in gdf.columns:
        if str(c).lower() not in seen:
            keep.append(c)
            seen.add(str(c).lower())
    return gdf[keep]


__all__ = ["ReadOptions", "check_job", "classify_job", "write_classification", "reconcile"]
