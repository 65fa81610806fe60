"""The jobs: read → a pure function of the core → write, each defined once.

The commands of the CLI (``gridmap check``, ``classify``, ``align``, ``infer``, ``org``,
``microgrids``, ``map``) call the ``*_job`` functions; the stages of ``gridmap run``
(:mod:`gridmap.pipeline`) call the same ``write_*`` functions and shared steps on layers already
read. Each job returns what it computed so that callers (notebooks, tests) can go on from there.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmap import settings, vocab
from gridmap.align import Alignment, align, edit_rows, with_inferred
from gridmap.classify import Classification, classify
from gridmap.errors import GridmapError
from gridmap.i18n import _
from gridmap.infer import Inference, infer_outlines
from gridmap.io import (ReadOptions, find_field, layer_name, read_layer, warn_if_far_apart, write_csv,
                        write_gpkg)
from gridmap.io import shapefile
from gridmap.io.write import prepare_out, refuse_overwriting_inputs
from gridmap.io.tables import read_roster, read_table
from gridmap.maps import make_maps
from gridmap.microgrids import MicroGrids, microgrids
from gridmap.org import Organisation, Thresholds, organise, read_ledger, write_organisation
from gridmap.reach import station_reach
from gridmap.validate import layer_findings
from gridmap.vocab import COMPUTED_COLUMNS

log = logging.getLogger(__name__)

#: What each job writes into --out: an input of that name there is never overwritten.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "check": ("check.csv",),
    "classify": ("compounds.csv", "grids.csv", "overlaps.csv", "classification.gpkg"),
    "infer": ("inferred.gpkg",),
    "align": ("proposal.gpkg", "proposal.csv", "inferred.gpkg"),
    "org": ("organization.csv", "organization.json", "organization.xlsx"),
    "microgrids": ("microgrids.gpkg",),
    "map": ("*.html",),
}


def start(job: str, out, inputs, extra=()) -> Path:
    """Before any work: refuse outputs that would overwrite an input, and make ``out`` (a clear
    error when it is a file or cannot be written)."""
    refuse_overwriting_inputs(out, OUTPUTS[job], inputs, extra)
    return prepare_out(out)


# ------------------------------------------------------------------ check


def check_job(specs: list[str], out: Path | None, *, read: ReadOptions | None = None,
              compound_id: str | None = None, grid_id: str | None = None) -> pd.DataFrame:
    """Validate layers and write ``check.csv``; return the issue table.

    A layer with a building id is checked as buildings (points or polygons); one with a grid id
    field (``--grid-id`` or the names of docs/design.md §4) and no compound id, or whose name says
    so, as grids; one with a compound id as compounds; any other (streets, stations) for null,
    empty and invalid geometries only. Errors that stop a layer from being read at all (missing
    file, no CRS) are raised.
    """
    read = read or ReadOptions()
    if out is not None:
        start("check", out, specs)
    frames = []
    layers = {}
    for spec in specs:
        gdf = read.read(spec)
        kind, id_field = guess_kind(gdf, spec, compound_id, grid_id)
        cleaned, findings = layer_findings(gdf, id_field, kind)
        frames.append(findings)
        if cleaned is not None:
            layers[spec] = cleaned
        log.info("%s: %d features as %s (id field %s)", spec, len(gdf), kind, id_field)
    read.check_names()
    warn_if_far_apart(layers)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out is not None:
        write_csv(table, Path(out) / "check.csv")
    return table


def guess_kind(gdf, spec: str, compound_id: str | None, grid_id: str | None) -> tuple[str, str | None]:
    """What a layer given to ``gridmap check`` holds, and its id field."""
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


# ------------------------------------------------------------------ classify


def classify_job(compounds: str, grids: str, out: Path, *, read: ReadOptions | None = None,
                 compound_id: str | None = None, grid_id: str | None = None,
                 sliver: float | None = None, nest: float | None = None) -> Classification:
    """Read two layers, classify them and write ``compounds.csv``, ``grids.csv``, ``overlaps.csv``
    and ``classification.gpkg`` into ``out``."""
    read = read or ReadOptions()
    start("classify", out, [compounds, grids])
    c = read.read(compounds, "compounds")
    g = read.read(grids, "grids")
    read.check_names()
    warn_if_far_apart({"compounds": c, "grids": g})
    result = classify(c, g, compound_id=compound_id, grid_id=grid_id, sliver=sliver, nest=nest)
    write_classification(result, Path(out), engine=read.engine)
    return result


def write_classification(result: Classification, out: Path, engine: str | None = None) -> None:
    """Write the classification tables of docs/design.md §5."""
    out.mkdir(parents=True, exist_ok=True)
    compounds, grids = vocab.with_label_columns(result.compounds), vocab.with_label_columns(result.grids)
    write_csv(compounds, out / "compounds.csv")
    write_csv(grids, out / "grids.csv")
    write_csv(result.overlaps, out / "overlaps.csv")
    write_gpkg({"compounds": compounds, "grids": grids}, out / "classification.gpkg", engine=engine)


# ------------------------------------------------------------------ infer and align


def infer_job(buildings: str, out: Path, *, streets: str | None = None, compounds: str | None = None,
              read: ReadOptions | None = None, compound_id: str | None = None,
              building_id: str | None = None, households: str | None = None,
              reach: float | None = None, clearance: float | None = None) -> Inference:
    """Read the layers, draw the missing outlines and write ``inferred.gpkg`` (layer ``compounds``)."""
    read = read or ReadOptions()
    start("infer", out, [buildings, streets, compounds])
    b = read.read(buildings, "buildings")
    s = read.read(streets, "streets") if streets else None
    c = read.read(compounds, "compounds") if compounds else None
    read.check_names()
    result = infer_outlines(b, s, c, compound_id=compound_id, building_id=building_id,
                            households=households, reach=reach, clearance=clearance)
    write_inferred(result, Path(out), engine=read.engine)
    return result


def write_inferred(result: Inference, out: Path, engine: str | None = None) -> None:
    """Write ``inferred.gpkg`` with layer ``compounds``."""
    out.mkdir(parents=True, exist_ok=True)
    write_gpkg({"compounds": result.compounds}, out / "inferred.gpkg", engine=engine)


def infer_missing(compounds: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, *,
                  compound_id: str | None = None, building_compound: str | None = None,
                  building_id: str | None = None, households: str | None = None,
                  building_households: str | None = None) -> tuple[gpd.GeoDataFrame, Inference]:
    """The compounds with an outline inferred for each compound that has buildings but no polygon.

    Used by ``gridmap align --buildings --streets`` and by the run's classify stage alike. Inferred
    rows carry the id and households only (no type); the returned inference has the outlines alone.
    """
    b_households = building_households or households
    inference = infer_outlines(buildings, streets, compounds, compound_id=building_compound or compound_id,
                               building_id=building_id,
                               households=b_households if b_households in buildings.columns else None)
    return with_inferred(compounds, inference.compounds, compound_id, households), inference


def align_job(compounds: str, grids: str, out: Path, *, read: ReadOptions | None = None,
              compound_id: str | None = None, grid_id: str | None = None, households: str | None = None,
              grid_households=None, types=None, keep=(), buildings: str | None = None,
              streets: str | None = None, building_id: str | None = None,
              sliver: float | None = None, nest: float | None = None,
              communities: str | None = None, edits: str | None = None) -> Alignment:
    """Read the layers, infer missing outlines (with buildings and streets), align, and write
    ``proposal.gpkg`` (layers ``grids`` and ``changes``) and ``proposal.csv`` into ``out``; with
    buildings and streets also ``inferred.gpkg``. Buildings alone give the grids' households;
    communities (polygons) keep land within its community where grids carry no community field.
    ``edits`` (edits.csv from proposal.html) are the planner's fixed decisions, checked as a table
    before any layer is read."""
    read = read or ReadOptions()
    if streets is not None and buildings is None:
        raise GridmapError(_("--streets needs --buildings: outlines for compounds that have buildings but "
                             "no polygon are drawn between the streets."))
    start("align", out, [compounds, grids, buildings, streets, communities, edits])
    planned = read_edits(edits) if edits is not None else None
    c = read.read(compounds, "compounds")
    g = read.read(grids, "grids")
    b = read.read(buildings, "buildings") if buildings is not None else None
    s = read.read(streets, "streets") if streets is not None else None
    comm = read.read(communities, "communities") if communities is not None else None
    read.check_names()
    warn_if_far_apart({"compounds": c, "grids": g, "buildings": b, "communities": comm})
    inferred = None
    if s is not None:
        c, inference = infer_missing(c, b, s, compound_id=compound_id,
                                     building_id=building_id, households=households)
        inferred = inference.compounds
        write_inferred(inference, Path(out), engine=read.engine)
    result = align(c, g, compound_id=compound_id, grid_id=grid_id, households=households,
                   grid_households=grid_households, types=types, keep=keep, sliver=sliver, nest=nest,
                   buildings=b, communities=comm,
                   building_households=households if b is not None and households in b.columns else None,
                   edits=planned)
    result.inferred = inferred
    write_alignment(result, Path(out), engine=read.engine)
    return result


def read_edits(path: str | Path, encoding: str | None = None) -> pd.DataFrame:
    """A planner's edits.csv (compound_id, to_grid_id, note; UTF-8 with or without BOM, else
    GB18030), checked as a table (``gridmap.align.edit_rows``) before any work."""
    frame = read_table(path, encoding, what="edits file")
    edit_rows(frame)
    return frame


def write_alignment(result: Alignment, out: Path, engine: str | None = None) -> None:
    """Write ``proposal.gpkg`` (layers ``grids``, ``changes``) and ``proposal.csv``, each grid's
    ``status`` also as its label (``status_label``, the last column)."""
    out.mkdir(parents=True, exist_ok=True)
    write_gpkg({"grids": vocab.with_label_columns(result.grids), "changes": result.changes},
               out / "proposal.gpkg", engine=engine)
    write_csv(vocab.with_label_columns(result.table), out / "proposal.csv")


# ------------------------------------------------------------------ organisation


def org_job(compounds: str, grids: str, buildings: str, out: str | Path, *,
            members=None, communities: str | None = None, proposal: str | None = None,
            roster: str | None = None, read: ReadOptions | None = None, ledger_encoding: str | None = None,
            compound_id: str | None = None, grid_id: str | None = None, building_id: str | None = None,
            households: str | None = None, party_members: str | None = None,
            sliver: float | None = None, nest: float | None = None,
            thresholds: Thresholds | None = None) -> Organisation:
    """Read the layers and the ledger, organise, and write the outputs of docs/design.md §5 into
    ``out``."""
    read = read or ReadOptions()
    member_files = [members] if isinstance(members, (str, Path)) else list(members or [])
    start("org", out, [compounds, grids, buildings, communities, proposal, *member_files], extra=[roster])
    c = read.read(compounds, "compounds")
    g = read.read(grids, "grids")
    b = read.read(buildings, "buildings")
    comm = read.read(communities, "communities") if communities else None
    prop = read.read(layer_name(proposal, "grids"), "proposal") if proposal else None
    read.check_names()
    warn_if_far_apart({"compounds": c, "grids": g, "buildings": b})
    ledger = read_ledger(members, encoding=ledger_encoding, building_id=building_id) if members else None
    result = classify(c, g, compound_id=compound_id, grid_id=grid_id, sliver=sliver, nest=nest)
    org = organise(result, b, ledger, comm, prop, building_id=building_id, compound_id=compound_id,
                   households=households, party_members=party_members, thresholds=thresholds)
    write_organisation(org, out, roster=roster, ledger=ledger)
    return org


def write_funding(table: pd.DataFrame, out: Path) -> Path:
    """Write ``funding.csv`` (``gridmap.org.funding.funding_table``: a row per community, the total
    row ``合计`` last)."""
    return write_csv(table, Path(out) / "funding.csv")


# ------------------------------------------------------------------ micro-grids


def microgrids_job(grids: str, buildings: str, out: Path, *, read: ReadOptions | None = None,
                   streets: str | None = None, roster: str | None = None, grid_id: str | None = None,
                   building_id: str | None = None, households: str | None = None,
                   households_per_building: float | None = None,
                   households_range: tuple[int, int] | None = None) -> MicroGrids:
    """Read the layers (and roster), cut micro-grids and write ``microgrids.gpkg`` into ``out``.

    Layers in the GeoPackage: ``microgrids`` and ``buildings`` (each building's micro-grid and
    status). The roster's names are never written: only worker ids.
    """
    read = read or ReadOptions()
    start("microgrids", out, [grids, buildings, streets, roster])
    g = read.read(grids, "grids")
    b = read.read(buildings, "buildings")
    s = read.read(streets, "streets") if streets else None
    r = read_roster(roster, read.encoding_for(roster, "roster")) if roster else None
    read.check_names()
    warn_if_far_apart({"grids": g, "buildings": b, **({"streets": s} if s is not None else {})})
    result = microgrids(g, b, streets=s, grid_id=grid_id, building_id=building_id,
                        households=households, households_per_building=households_per_building,
                        households_range=households_range, roster=r)
    write_microgrids(result, Path(out), engine=read.engine)
    return result


def write_microgrids(result: MicroGrids, out: Path, engine: str | None = None) -> None:
    """Write ``microgrids.gpkg`` (layers ``microgrids`` and ``buildings``)."""
    out.mkdir(parents=True, exist_ok=True)
    write_gpkg({"microgrids": result.microgrids, "buildings": result.buildings}, out / "microgrids.gpkg",
               engine=engine)


# ------------------------------------------------------------------ shapefiles


def write_shapefiles(out: Path, *, classification: Classification | None = None,
                     alignment: Alignment | None = None, microgrids: MicroGrids | None = None,
                     engine: str | None = None) -> list[Path]:
    """Write ``shp/`` in ``out`` for ArcGIS and SuperMap: ``compounds.shp`` and ``grids.shp`` (the rows
    of compounds.csv and grids.csv), ``proposal_grids.shp`` (layer ``grids`` of proposal.gpkg) and
    ``microgrids.shp`` (layer ``microgrids`` of microgrids.gpkg), for the results given.

    GBK attribute tables with Chinese field names (``gridmap.io.shapefile.SHAPEFILE_FIELDS``), each
    situation and status also as its label (情形名称, 状态名称), in the input's CRS.
    """
    layers = {}
    if classification is not None:
        layers["compounds"] = with_labels(classification.compounds)
        layers["grids"] = with_labels(classification.grids)
    if alignment is not None:
        layers["proposal_grids"] = with_labels(alignment.grids)
    if microgrids is not None:
        layers["microgrids"] = microgrids.microgrids
    return shapefile.write_shapefiles(layers, Path(out) / "shp", engine=engine)


def with_labels(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``layer`` with ``situation_label`` after ``situation`` and ``status_label`` after ``status``
    (the Chinese labels of gridmap.vocab)."""
    out = layer.copy()
    for code, label, func in (("situation", "situation_label", vocab.situation_label),
                              ("status", "status_label", vocab.status_label)):
        if code in out.columns and label not in out.columns:
            out.insert(out.columns.get_loc(code) + 1, label, out[code].map(func))
    return out


# ------------------------------------------------------------------ reach and maps


def reach_table(classification: Classification, stations: gpd.GeoDataFrame,
                streets: gpd.GeoDataFrame | None, walk_m: float, *, name_field: str | None = None
                ) -> pd.DataFrame:
    """``reach.csv``: each compound's id (and name), distance to the nearest station and whether it
    is served within ``walk_m`` metres."""
    comps = classification.compounds
    table = station_reach(classification, stations, streets, walk_m)
    name = find_field(comps, "compound_name", name_field, required=False, exclude=COMPUTED_COLUMNS)
    return pd.concat([comps[["compound_id"]], comps[[name]].rename(columns={name: "name"}) if name else None,
                      table], axis=1)


def map_job(compounds: str, grids: str, out: Path, *, read: ReadOptions | None = None,
            compound_id: str | None = None, grid_id: str | None = None, building_id: str | None = None,
            households: str | None = None, buildings: str | None = None, members: str | None = None,
            microgrids: str | None = None, proposal: str | None = None, communities: str | None = None,
            stations: str | None = None, org: str | None = None, workers: str | None = None,
            basemap: str | None = None, tianditu_key: str | None = None, attribution: str | None = None,
            sliver: float | None = None, nest: float | None = None, streets: str | None = None,
            walk_m: float | None = None) -> list[Path]:
    """Read the layers, classify, and write the map pages into ``out``.

    ``organization.csv`` already in ``out`` (from ``gridmap org``) is used when ``org`` is not
    given. With ``stations``, each compound's distance to the nearest station is measured (along
    ``streets`` when given, else straight-line) and compounds beyond ``walk_m`` metres are marked.
    """
    read = read or ReadOptions()
    walk_m = settings.WALK_M if walk_m is None else walk_m
    if not (walk_m == walk_m and 0 < walk_m < float("inf")):
        raise GridmapError(_("--walk-m {value}: the walking distance must be a positive number of metres.").format(
            value=repr(walk_m)))
    out = Path(out)
    start("map", out, [compounds, grids, buildings, members, microgrids, proposal, communities, stations,
                       org, workers, streets])
    result = classify(read.read(compounds, "compounds"), read.read(grids, "grids"), compound_id=compound_id,
                      grid_id=grid_id, sliver=sliver, nest=nest)
    layers = {name: read.read(layer_name(spec, default), name) if spec else None
              for name, spec, default in (("buildings", buildings, None),
                                          ("microgrids", microgrids, "microgrids"),
                                          ("communities", communities, None),
                                          ("stations", stations, None))}
    prop = {name: read.read(f"{proposal}:{name}", "proposal") for name in ("grids", "changes")} if proposal else None
    org_path = Path(org) if org else out / "organization.csv"
    organisation = read_table(org_path) if (org or org_path.exists()) else None
    if organisation is not None and not org:
        log.info("using %s from gridmap org", org_path)
    reach = None
    if layers["stations"] is not None:
        reach = station_reach(result, layers["stations"], read.read(streets, "streets") if streets else None, walk_m)
    elif streets:
        log.warning("--streets is only used to measure walking distances to --stations; without "
                    "stations it was not read")
    return make_maps(result, out, buildings=layers["buildings"], microgrids=layers["microgrids"],
                     organisation=organisation, proposal=prop, communities=layers["communities"],
                     stations=layers["stations"], members=read_table(members) if members else None,
                     workers=read_roster(workers, read.encoding_for(workers, "grid_workers", plain=False)) if workers else None,
                     basemap=basemap,
                     tianditu_key=tianditu_key, building_id=building_id, households=households,
                     attribution=attribution, reach=reach, walk_m=walk_m)


__all__ = ["align_job", "check_job", "classify_job", "guess_kind", "infer_job", "infer_missing", "map_job",
           "microgrids_job", "org_job", "reach_table", "read_edits", "read_layer", "write_alignment", "write_classification",
           "write_funding", "write_inferred", "write_microgrids", "with_labels", "write_shapefiles"]
