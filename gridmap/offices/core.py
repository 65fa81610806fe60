"""A folder per community office: ``offices/<community_id>/`` with ``map.pdf``, ``tables.xlsx`` and, when
asked for, ``roster.xlsx`` — what a street office prints, files and hands to each community.

Each folder holds that community's features only (docs/design.md §5); the roster, which names members,
is written only when asked for and only there.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import vocab
from gridmap.classify import Classification
from gridmap.errors import GridmapError
from gridmap.i18n import _
from gridmap.io import find_field, id_strings
from gridmap.offices.assign import Assignment, Office, assign
from gridmap.offices.printmap import (NO_ORGANISATION, TITLE, MapLayers, MapText, chinese_date, draw_office_map,
                                     find_cjk_font, map_frame, paper_size)
from gridmap.offices.workbook import whole, write_roster, write_tables
from gridmap.org import reason_label, standardise_ledger
from gridmap.parallel import Runner

log = logging.getLogger(__name__)

#: The attribution OpenStreetMap-derived data must carry (ODbL 1.0).
OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"
#: Unit kinds counted as party organisations (党组织) in an office's figures.
ORGANISATION_KINDS = ("committee", *vocab.BRANCH_KINDS)


@dataclass
class OfficesResult:
    """What :func:`write_offices` wrote: one folder per community, the font the maps used (None when
    no map was drawn) and notes for the run's summary."""

    folders: list[Path] = field(default_factory=list)
    font: str | None = None
    notes: list[str] = field(default_factory=list)


def guess_attribution(*layers) -> str | None:
    """OpenStreetMap-derived layers (an ``osm_…`` column) must credit OSM (ODbL 1.0)."""
    if any(layer is not None and any(str(c).lower().startswith("osm_") for c in layer.columns) for layer in layers):
        return OSM_ATTRIBUTION
    return None


def write_offices(classification: Classification, out: str | os.PathLike, *, alignment=None, organisation=None,
                  microgrids=None, reach: pd.DataFrame | None = None,
                  communities: gpd.GeoDataFrame | None = None, stations: gpd.GeoDataFrame | None = None,
                  ledger: pd.DataFrame | None = None, roster: bool = False, paper: str | None = None,
                  organisation_name: str | None = None, attribution: str | None = None,
                  date: dt.date | None = None, community_field: str | None = None, maps: bool = True,
                  missing_font: str = "error", runner: Runner | None = None,
                  progress: Callable[[int, int], None] | None = None) -> OfficesResult:
    """Write ``out/offices/<community_id>/`` for every community.

    Parameters
    ----------
    classification : Classification
        Compounds and grids with their situations (the current grids).
    out : path
        The run's folder; ``offices/`` is made in it.
    alignment, organisation, microgrids : optional
        Results of ``align``, ``organise`` and ``microgrids``. With an organisation, compounds belong to
        the community the organisation put them in (on the alignment's grids when both are given).
    reach : DataFrame, optional
        ``reach.csv`` (rows as ``classification.compounds``).
    communities, stations : GeoDataFrame, optional
        Community polygons (their id field names the folders; their outline is drawn) and service stations.
    ledger : DataFrame, optional
        The member ledger, for ``roster``.
    roster : bool
        Also write ``roster.xlsx`` (members by name; needs the ledger and the organisation).
    paper : {"A3", "A4"}, optional
        Paper of ``map.pdf`` (landscape); A3 by default.
    organisation_name : str, optional
        制图单位 printed on the map (``[output] organisation`` of the project).
    attribution : str, optional
        数据来源; by default OpenStreetMap's when a layer carries ``osm_`` columns.
    date : date, optional
        The map's date (制图日期); today by default.
    maps : bool
        Draw ``map.pdf`` (False: the workbooks only).
    missing_font : {"error", "note"}
        Without a CJK font, raise a GridmapError, or skip the maps with a note.
    runner : Runner, optional
        Where the folders are written (:class:`gridmap.parallel.Runner`: a process pool or a Dask
        cluster); by default one after the other in this process. Each folder's task holds that
        community's rows and the features its map shows, nothing more.
    progress : callable, optional
        Called with (folders written, folders in all) as each is written.
    """
    paper_size(paper)  # a wrong paper fails before anything is written
    result = OfficesResult()
    font = None
    if maps:
        try:
            font = find_cjk_font()
        except GridmapError as exc:
            if missing_font != "note":
                raise
            result.notes.append(_("The print maps (offices/*/map.pdf) were not drawn: {reason}").format(reason=exc))
    result.font = font
    proposal = alignment.grids if alignment is not None and organisation is not None else None
    where = assign(classification, communities=communities, proposal=proposal, community_field=community_field)
    prep = _Prepared.build(classification, where, microgrids, stations, community_field, organisation, reach)
    mg_table = microgrids.microgrids if microgrids is not None else None
    attribution = attribution or guess_attribution(classification.compounds, classification.grids, communities,
                                                   stations, mg_table)
    members = _roster_table(organisation, ledger) if roster else None
    if roster and members is None:
        result.notes.append(_("roster.xlsx was not written: the roster needs the member ledger and the organisation."))
    base = Path(out) / "offices"
    day = date or dt.date.today()
    credits = [("制图单位", organisation_name or NO_ORGANISATION), ("数据来源", attribution or "（未注明）"),
               ("制图日期", chinese_date(day))]
    member_rows = _positions(members.community.to_numpy(dtype=object)) if members is not None else {}
    none = np.empty(0, dtype=np.int64)

    def tasks():
        for office in where.offices:
            tables = prep.tables(office, organisation)
            facts = prep.facts(office, tables)
            layers = text = None
            # Features without a usable geometry (no_geometry) are in the tables but not on a map.
            if font is not None and prep.drawable(office):
                layers = prep.layers(office, paper)
                text = MapText(office.title, TITLE, organisation_name, attribution, day,
                               [(label, _shown(value)) for label, value in facts])
            own = members.iloc[member_rows.get(office.community, none)] if members is not None else None
            yield OfficeTask(str(base / office.folder), [("社区", office.title), *facts, *credits], tables,
                             layers, text, paper, font, own)

    runner = runner or Runner(processes=1)
    result.folders = runner.map(write_office, tasks(), stage="offices", keys=[o.folder for o in where.offices],
                                total=len(where.offices), progress=progress)
    log.info("wrote %d office folders in %s", len(result.folders), base)
    return result


@dataclass
class OfficeTask:
    """One office's folder, prepared on the driver: its rows of each table, the features its map shows
    and its members (when the roster is asked for), so that another process can write it."""

    folder: str
    facts: list[tuple[str, object]]
    tables: dict
    layers: MapLayers | None  # None: no map (no font, or nothing to draw)
    text: MapText | None
    paper: str | None
    font: str | None
    members: pd.DataFrame | None


def write_office(task: OfficeTask) -> Path:
    """Write one office's folder: ``tables.xlsx``, ``map.pdf`` and, with members, ``roster.xlsx``."""
    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_tables(folder / "tables.xlsx", facts=task.facts, **task.tables)
    if task.layers is not None:
        draw_office_map(task.layers, task.text, folder / "map.pdf", paper=task.paper, font=task.font)
    if task.members is not None and len(task.members):
        write_roster(folder / "roster.xlsx", task.members)
    return folder


def _positions(keys: np.ndarray) -> dict[str, np.ndarray]:
    """The positions of each key's rows, in increasing order (one sort for all keys)."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {key: order[bounds[i]:bounds[i + 1]] for i, key in enumerate(uniques)}


def _shown(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass
class _Prepared:
    """The layers and columns every office takes its share of, prepared once."""

    cls: Classification
    where: Assignment
    compounds: pd.DataFrame  # the workbook's columns, rows as classification.compounds
    grids: pd.DataFrame
    comp_geoms: np.ndarray  # metric CRS
    grid_geoms: np.ndarray
    microgrids: pd.DataFrame | None
    mg_geoms: np.ndarray
    mg_community: np.ndarray
    station_geoms: np.ndarray
    station_names: np.ndarray
    station_community: np.ndarray
    # Each community's rows, and trees of the area's features: an office takes its share without a
    # pass over the whole area.
    unit_rows: dict = field(default_factory=dict)
    reach: pd.DataFrame | None = None

    def __post_init__(self):
        self.mg_rows = _positions(self.mg_community)
        self.station_rows = _positions(self.station_community)
        self.trees = {name: shapely.STRtree(geoms) for name, geoms in
                      (("compounds", self.comp_geoms), ("grids", self.grid_geoms), ("stations", self.station_geoms))}

    def drawable(self, office) -> bool:
        """Whether the office has a compound or grid with a geometry to draw."""
        geoms = np.concatenate([self.comp_geoms[office.compounds], self.grid_geoms[office.grids]])
        return bool(len(geoms)) and bool((~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)).any())

    @classmethod
    def build(cls, classification: Classification, where: Assignment, microgrids, stations, community_field,
              organisation=None, reach: pd.DataFrame | None = None):
        comps, grids, crs = classification.compounds, classification.grids, classification.crs
        skip = vocab.COMPUTED_COLUMNS
        c = pd.DataFrame({col: comps[col].to_numpy() for col in
                          ("compound_id", "situation", "grid_ids", "main_grid_id", "main_share", "area_m2")})
        c["compound_id"] = id_strings(comps.compound_id).to_numpy()
        for key, meaning in (("compound_name", "compound_name"), ("compound_type", "compound_type"),
                             ("households", "households")):
            found = find_field(comps, meaning, required=False, exclude=skip)
            c[key] = comps[found].to_numpy() if found else None
        if "outline" in comps.columns:
            c["outline"] = comps["outline"].to_numpy()
        g = pd.DataFrame({col: grids[col].to_numpy() for col in ("grid_id", "situation", "compound_ids", "area_m2")})
        g["grid_id"] = id_strings(grids.grid_id).to_numpy()
        for key, meaning in (("grid_name", "grid_name"), ("households", "households")):
            found = find_field(grids, meaning, required=False, exclude=skip)
            g[key] = grids[found].to_numpy() if found else None
        mg, mg_geoms, mg_comm = None, np.array([], dtype=object), np.array([], dtype=object)
        if microgrids is not None:
            table = microgrids.microgrids
            mg_comm = where.microgrids(classification, table)
            mg = pd.DataFrame(table.drop(columns=table.geometry.name)).reset_index(drop=True)
            mg["microgrid_id"] = id_strings(mg.microgrid_id).to_numpy()
            mg_geoms = table.geometry.to_crs(crs).to_numpy()
            g["microgrids"] = pd.Series(mg.grid_id.astype(str).value_counts()).reindex(g.grid_id).fillna(0).to_numpy()
        s_geoms, s_names, s_comm = (np.array([], dtype=object),) * 3
        if stations is not None and len(stations):
            s_geoms = stations.geometry.to_crs(crs).to_numpy()
            name = next((col for col in stations.columns if str(col).lower() in ("name", "名称", "站点名称")), None)
            s_names = (stations[name].astype(object).where(stations[name].notna(), None).to_numpy()
                       if name else np.full(len(stations), None, dtype=object))
            s_comm = where.points(classification, stations)
        units = {}
        if organisation is not None:
            units = _positions(organisation.units.community.fillna("").astype(str).to_numpy(dtype=object))
        if reach is not None:
            reach = reach.reset_index(drop=True).rename(columns={"name": "compound_name"})
            reach = reach.assign(compound_id=id_strings(reach.compound_id).to_numpy())
        return cls(classification, where, c, g, comps.geometry.to_crs(crs).to_numpy(),
                   grids.geometry.to_crs(crs).to_numpy(), mg, mg_geoms, mg_comm, s_geoms, s_names, s_comm,
                   units, reach)

    def tables(self, office: Office, organisation) -> dict:
        """The office's rows of each table, with the workbook's column names."""
        none = np.empty(0, dtype=np.int64)
        out = {"compounds": self.compounds.iloc[office.compounds], "grids": self.grids.iloc[office.grids],
               "units": None, "microgrids": None, "reach": None}
        if organisation is not None:
            out["units"] = organisation.units.iloc[self.unit_rows.get(office.community, none)]
        if self.microgrids is not None:
            out["microgrids"] = self.microgrids.iloc[self.mg_rows.get(office.community, none)]
        if self.reach is not None:
            out["reach"] = self.reach.iloc[office.compounds]
        return out

    def facts(self, office: Office, tables: dict) -> list[tuple[str, object]]:
        """The figures of 概况 (map panel and workbook)."""
        comps, grids = tables["compounds"], tables["grids"]
        facts: list[tuple[str, object]] = [("小区（个）", len(comps)), ("网格（个）", len(grids))]
        households = grids.households if grids.households.notna().any() else comps.households
        if households.notna().any():
            facts.append(("户数", whole(pd.to_numeric(households, errors="coerce").sum())))
        if tables["microgrids"] is not None:
            facts.append(("微网格（个）", len(tables["microgrids"])))
        units = tables["units"]
        if units is not None and len(units):
            roots = units[units.depth == 0]
            facts.append(("党员（名）", int(roots.members.sum())))
            facts.append(("党组织（个）", int(units.kind.isin(ORGANISATION_KINDS).sum())))
            facts.append((f"{vocab.kind_label('group')}（个）", int((units.kind == "group").sum())))
        n_stations = len(self.station_rows.get(office.community, ()))
        if len(self.station_geoms):
            facts.append(("党群服务站（个）", n_stations))
        reach = tables["reach"]
        if reach is not None and len(reach):
            facts.append(("步行不可达服务站的小区（个）", int((~reach.served.astype(bool)).sum())))
        return facts

    def layers(self, office: Office, paper: str | None = None) -> MapLayers:
        """The office's map layers, and the others' compounds and grids (and the stations) its map's
        frame shows, found by the trees of the area's features."""
        mine_c, mine_g = office.compounds, office.grids
        grid_names = [_short_name(n, i, office.community) for n, i in
                      zip(self.grids.grid_name.to_numpy()[mine_g], self.grids.grid_id.to_numpy()[mine_g])]
        names = self.compounds.compound_name.to_numpy()[mine_c]
        outline = office.outline
        if outline is None and office.community and len(mine_g):
            outline = shapely.union_all(self.grid_geoms[mine_g])
        mg = self.mg_rows.get(office.community, np.empty(0, dtype=np.int64))
        layers = MapLayers(
            crs=self.cls.crs, compounds=self.comp_geoms[mine_c],
            situations=self.compounds.situation.to_numpy()[mine_c],
            compound_names=np.array([str(n) if n is not None and n == n else None for n in names], dtype=object),
            grids=self.grid_geoms[mine_g], grid_names=np.array(grid_names, dtype=object),
            microgrids=self.mg_geoms[mg] if len(self.mg_geoms) else self.mg_geoms, outline=outline)
        box = shapely.box(*map_frame(layers, paper)[1])
        shown = {name: np.sort(tree.query(box, predicate="intersects")) for name, tree in self.trees.items()}
        layers.other_compounds = self.comp_geoms[np.setdiff1d(shown["compounds"], mine_c)]
        layers.other_grids = self.grid_geoms[np.setdiff1d(shown["grids"], mine_g)]
        layers.stations = self.station_geoms[shown["stations"]]
        layers.station_names = np.array([_short_name(n, None, office.community) if n is not None else None
                                         for n in self.station_names[shown["stations"]]], dtype=object)
        return layers


def _short_name(name, grid_id, community: str) -> str:
    """滨河社区第1网格 → 第1网格 on 滨河社区's map (滨河社区党群服务站 → 党群服务站); no name → the id."""
    if name is None or name != name or not str(name).strip():
        return str(grid_id)
    name = str(name).strip()
    if community and name.startswith(community) and len(name) > len(community):
        return name[len(community):]
    return name


def _roster_table(organisation, ledger: pd.DataFrame | None) -> pd.DataFrame | None:
    """Members by name with their unit, group and community (None without ledger or placement)."""
    if organisation is None or ledger is None or organisation.members is None:
        return None
    ledger = standardise_ledger(ledger)
    units = organisation.units.set_index("unit_id")
    placed = organisation.members.drop_duplicates("member_id").set_index("member_id")
    ids = ledger.member_id.to_numpy()
    branch = placed.branch_id.reindex(ids).fillna("").to_numpy(dtype=object)
    group = placed.group_id.reindex(ids).fillna("").to_numpy(dtype=object)
    community = units.community.reindex(branch).to_numpy(dtype=object)
    # A member in no group takes the community of the building, where the building was placed in one.
    by_building = organisation.buildings.drop_duplicates("building_id").set_index("building_id").community
    fallback = by_building.replace("", None).reindex(ledger.building_id.to_numpy()).to_numpy(dtype=object)
    community = np.where(pd.isna(community), fallback, community)
    return pd.DataFrame({
        "member_id": id_strings(ledger.member_id).to_numpy(), "member_name": ledger.name.to_numpy(),
        "category": ledger.category.to_numpy(), "building_id": id_strings(ledger.building_id).to_numpy(),
        "unit": units.name.reindex(branch).to_numpy(), "group": units.name.reindex(group).to_numpy(),
        "note": placed.reason.reindex(ids).map(reason_label).to_numpy(),
        # Members of no known community (unknown building) go to no office.
        "community": pd.Series(community).where(pd.notna(community), None).to_numpy(dtype=object),
    })


__all__ = ["OSM_ATTRIBUTION", "OfficesResult", "guess_attribution", "write_offices"]
