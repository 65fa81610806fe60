"""Stages joined into jobs: each job reads files, runs importable functions and writes outputs.

The CLI is a thin shell over these; each job returns what it computed so that callers (``run``,
notebooks, tests) can go on from there.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap import settings
from gridmap.classify import Classification, classify
from gridmap.errors import GridmapError
from gridmap.io import (find_field, metric_crs, read_layer, reconcile, warn_if_far_apart, write_csv,
                        write_gpkg)
from gridmap.project import LayerConfig, Project
from gridmap.validate import layer_findings

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
        cleaned, findings = layer_findings(gdf, id_field, kind)
        frames.append(findings)
        if cleaned is not None:
            layers[spec] = cleaned
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


# ------------------------------------------------------------------ the whole job

#: Stages of ``gridmap run``, in the order data flows.
STAGES = ("load", "validate", "classify", "align", "organise", "microgrids", "reach", "maps", "report")
#: Written into a run's folder: a folder holding it may be replaced as a whole by the next run.
RUN_MARK = ".gridmap-run"


class StageError(GridmapError):
    """A stage of ``gridmap run`` failed; the message names it."""


@dataclass
class RunResult:
    """What ``run_job`` made, stage by stage (``None`` where a stage was skipped)."""

    out: Path
    classification: Classification | None = None
    alignment: object | None = None
    organisation: object | None = None
    microgrids: object | None = None
    reach: pd.DataFrame | None = None
    pages: list[Path] = field(default_factory=list)
    report: tuple[Path, Path] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def run_job(project: Project, *, progress: Callable[[str, int], None] | None = None,
            workers: int | None = None, scheduler: str | None = None) -> RunResult:
    """Run every stage: load → validate → classify → align → organise → micro-grids → reach →
    maps → report, into ``project.out``.

    Everything is written into a new folder beside ``project.out`` and moved into place at the end,
    so the output folder never holds half of an old run and half of a new one. A stage that fails
    raises ``StageError`` naming it; what earlier stages wrote is kept in ``OUT.incomplete`` and
    ``OUT`` is left as it was. Stages that need a layer the project lacks are skipped with a note.

    Parameters
    ----------
    project : Project
        Layers, fields, rules and options (``load_project`` or ``project_from_flags``).
    progress : callable, optional
        Called with (stage name, stage number) as each stage starts.
    workers, scheduler : optional
        Run the per-community stages (organisation, micro-grids) in parallel on a local Dask
        cluster of ``workers`` processes, or on the dask.distributed scheduler at ``scheduler``
        (``tcp://HOST:PORT``). The results are the same as a single-process run.
    """
    project.require_files()
    out = Path(project.out).resolve()
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    client = None
    if workers or scheduler:
        from gridmap.distributed import connect

        client = connect(workers, scheduler)  # fails within seconds, before anything is written
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    result = RunResult(out=out)
    state: dict = {"client": client}
    if client is not None:
        from gridmap.distributed import Exchange

        state["exchange"] = Exchange(Path(tempfile.mkdtemp(prefix=f".{out.name}.exchange-", dir=out.parent)))
    try:
        for number, name in enumerate(STAGES):
            if progress:
                progress(name, number)
            started = time.perf_counter()
            try:
                _STAGE_FUNCS[name](project, state, work, result)
            except StageError:
                raise
            except GridmapError as exc:
                raise StageError(f"Stage '{name}' failed: {exc}") from exc
            except Exception as exc:
                raise StageError(f"Stage '{name}' failed unexpectedly ({type(exc).__name__}: {exc}); "
                                 "run again with --debug for the traceback.") from exc
            result.seconds[name] = round(time.perf_counter() - started, 2)
            log.info("stage %s took %.1f s", name, result.seconds[name])
    except BaseException as exc:
        kept = _keep_incomplete(work, out)
        if isinstance(exc, StageError):
            where = (f"The outputs of the earlier stages are in {kept}; " if kept else "")
            raise StageError(f"{exc} {where}{out} was left as it was.") from exc.__cause__
        raise
    finally:
        if client is not None:
            from gridmap.distributed import cleanup, close

            cleanup(state["exchange"])
            close(client)
    (work / RUN_MARK).write_text(json.dumps({"seconds": result.seconds, "notes": result.notes},
                                            ensure_ascii=False), encoding="utf-8")
    _swap_into_place(work, out)
    result.pages = [out / p.name for p in result.pages]
    if result.report:
        result.report = tuple(out / p.name for p in result.report)
    return result


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that gridmap did not write (it might hold the user's files)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / RUN_MARK).exists())):
        raise GridmapError(f"{out} exists and was not written by gridmap run: choose another --out "
                           "folder, or empty this one. gridmap replaces only folders of its own runs.")


def _keep_incomplete(work: Path, out: Path) -> Path | None:
    if not any(work.iterdir()):
        work.rmdir()
        return None
    kept = out.with_name(out.name + ".incomplete")
    if kept.exists():
        shutil.rmtree(kept)
    os.replace(work, kept)
    return kept


def _swap_into_place(work: Path, out: Path) -> None:
    """Replace ``out`` by ``work`` as a whole: rename the old folder away, the new one in, then delete."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read(project: Project, name: str):
    cfg = project.layers.get(name)
    if cfg is None:
        return None
    return read_layer(cfg.spec, engine=project.engine, encoding=project.encoding, crs=project.crs)


def _field(project: Project, layer: str, key: str) -> str | None:
    cfg = project.layers.get(layer)
    return cfg.fields.get(key) if cfg else None


def _stage_load(project, state, work, result):
    for name in ("compounds", "grids", "buildings", "communities", "streets", "stations"):
        state[name] = _read(project, name)
    present = {k: v for k, v in state.items() if isinstance(v, gpd.GeoDataFrame)}
    warn_if_far_apart(present)
    if "members" in project.layers:
        from gridmap.org import read_ledger

        state["ledger"] = read_ledger([project.layers["members"].spec],
                                      building_id=_field(project, "buildings", "id"))
    if "grid_workers" in project.layers:
        from gridmap.microgrids import read_roster

        state["workers"] = read_roster(project.layers["grid_workers"].spec)


def _stage_validate(project, state, work, result):
    frames = []
    for name, meaning in (("compounds", "compound_id"), ("grids", "grid_id")):
        layer = state[name]
        id_field = find_field(layer, meaning, _field(project, name, "id"))
        cleaned, findings = layer_findings(layer, id_field, name)
        frames.append(findings)
        if cleaned is None:
            write_csv(pd.concat(frames, ignore_index=True), work / "check.csv")
            errors = findings[findings.severity == "error"]
            raise GridmapError(f"{layer.attrs.get('source', name)}: " + "; ".join(
                f"{r.issue}: {r.detail} ({r.feature_id})" for r in errors.itertuples())
                + " (all findings in check.csv).")
        state[name] = cleaned
    write_csv(pd.concat(frames, ignore_index=True), work / "check.csv")


def _stage_classify(project, state, work, result):
    _infer_missing_outlines(project, state, work, result)
    result.classification = classify(
        state["compounds"], state["grids"], compound_id=_field(project, "compounds", "id"),
        grid_id=_field(project, "grids", "id"), sliver=project.rule("sliver", settings.SLIVER),
        nest=project.rule("nest", settings.NEST))
    write_classification(result.classification, work, engine=project.engine)


def _infer_missing_outlines(project, state, work, result):
    """Compounds that have buildings but no polygon get an inferred outline before classifying,
    so that every later stage (alignment, organisation, maps) sees them."""
    if state["buildings"] is None or state["streets"] is None:
        result.notes.append("No buildings and streets: compounds without an outline were not inferred.")
        return
    from gridmap.align import with_inferred
    from gridmap.infer import infer_outlines, write_inferred

    b = state["buildings"]
    cid = _field(project, "compounds", "id")
    households = _field(project, "compounds", "households")
    b_households = _field(project, "buildings", "households") or households
    inference = infer_outlines(b, state["streets"], state["compounds"],
                               compound_id=_field(project, "buildings", "compound") or cid,
                               building_id=_field(project, "buildings", "id"),
                               households=b_households if b_households in b.columns else None)
    if not len(inference.compounds):
        return
    write_inferred(inference, work, engine=project.engine)
    n_input = len(state["compounds"])
    compounds = with_inferred(state["compounds"], inference.compounds, cid, households)
    compounds["outline"] = ["input"] * n_input + ["inferred"] * (len(compounds) - n_input)
    state["compounds"] = compounds
    result.notes.append(f"{len(inference.compounds)} compounds had buildings but no outline: their outlines "
                        "were inferred from the buildings and streets (inferred.gpkg; outline = inferred in "
                        "compounds.csv) and used in every stage.")


def _stage_align(project, state, work, result):
    from gridmap.align import align, write_alignment

    low, high = project.rule("grid_households", list(settings.GRID_HOUSEHOLDS))
    result.alignment = align(state["compounds"], state["grids"], compound_id=_field(project, "compounds", "id"),
                             grid_id=_field(project, "grids", "id"),
                             households=_field(project, "compounds", "households"), grid_households=(low, high),
                             types=project.rule("align_types", None), keep=project.rule("keep", ()),
                             sliver=project.rule("sliver", settings.SLIVER), nest=project.rule("nest", settings.NEST),
                             buildings=state["buildings"], communities=state["communities"],
                             grid_households_field=_field(project, "grids", "households"),
                             building_households=_field(project, "buildings", "households"),
                             community=_field(project, "grids", "community"))
    write_alignment(result.alignment, work, engine=project.engine)
    on = project.rule("layout_on", "current")
    result.notes.append("Organisation, micro-grids and maps are laid out on " + (
        "the alignment proposal's grids (layout_on = proposal)." if on == "proposal" else
        "the current grids; the alignment proposal is in proposal.gpkg and proposal.html "
        "(layout_on = proposal lays them out on it)."))


def layout_grids(project: Project, state: dict, result: RunResult) -> tuple[Classification, gpd.GeoDataFrame, str | None]:
    """The one set of grids a run lays organisation, micro-grids and maps on: the current grids
    (default) or the alignment proposal's (``[rules] layout_on = "proposal"``).

    Returns the classification of the compounds on them, the grids layer and its id field.
    """
    if project.rule("layout_on", "current") == "proposal":
        if result.alignment is None:
            raise GridmapError("layout_on = proposal needs the alignment stage, which did not run.")
        return result.alignment.after, result.alignment.grids, "grid_id"
    return result.classification, state["grids"], _field(project, "grids", "id")


def _stage_organise(project, state, work, result):
    if state["buildings"] is None:
        result.notes.append("No buildings layer: the organisation layout was skipped.")
        return
    from gridmap.org import Thresholds, organise, write_organisation

    t = {k: project.rules[k] for k in ("branch_min_members", "branch_max_members", "committee_min_members",
                                        "group_min_members") if k in project.rules}
    thresholds = Thresholds(**{k.replace("_members", ""): v for k, v in t.items()}) if t else None
    # One set of grids for the whole run (organisation, micro-grids, maps): see layout_grids.
    layout, _, _ = layout_grids(project, state, result)
    proposal = None
    options = dict(building_id=_field(project, "buildings", "id"), compound_id=_field(project, "buildings", "compound"),
                   households=_field(project, "buildings", "households"),
                   party_members=_field(project, "buildings", "members"), thresholds=thresholds)
    if state["client"] is None:
        result.organisation = organise(layout, state["buildings"], state.get("ledger"),
                                       state["communities"], proposal, **options)
    else:
        from gridmap.distributed import community_names, organise_distributed

        ex = state["exchange"]
        ex.write_classification(layout)
        for name, frame in (("buildings", state["buildings"]), ("ledger", state.get("ledger")),
                            ("communities", state["communities"]), ("proposal", proposal)):
            ex.write(name, frame)
        names = community_names(layout, state["communities"], proposal)
        result.organisation = organise_distributed(state["client"], ex, names, options)
    write_organisation(result.organisation, work, ledger=state.get("ledger"))


def _stage_microgrids(project, state, work, result):
    if state["buildings"] is None:
        result.notes.append("No buildings layer: micro-grids were not cut.")
        return
    from gridmap.microgrids import microgrids

    low, high = project.rule("microgrid_households", list(settings.MICROGRID_HOUSEHOLDS))
    _, grids, grid_id = layout_grids(project, state, result)
    options = dict(grid_id=grid_id, building_id=_field(project, "buildings", "id"),
                   households=_field(project, "buildings", "households"), households_range=(low, high))
    if state["client"] is None:
        result.microgrids = microgrids(grids, state["buildings"], streets=state["streets"],
                                       roster=state.get("workers"), **options)
    else:
        from gridmap.distributed import microgrids_distributed

        ex = state["exchange"]
        for name in ("buildings", "streets", "workers"):
            ex.write(name, state.get(name))
        ex.write("grids", grids)
        gid = find_field(grids, "grid_id", options["grid_id"])
        field_ = find_field(grids, "community", required=False)
        community = (grids[field_].astype(str).to_numpy() if field_ else
                     (np.arange(len(grids)) // 50).astype(str))
        layers = [grids, state["buildings"]] + ([state["streets"]] if state["streets"] is not None else [])
        result.microgrids = microgrids_distributed(state["client"], ex, grids, gid, community, options,
                                                   metric_crs(*layers), (low, high))
    write_gpkg({"microgrids": result.microgrids.microgrids, "buildings": result.microgrids.buildings},
               work / "microgrids.gpkg", engine=project.engine)


def _stage_reach(project, state, work, result):
    if state["stations"] is None:
        result.notes.append("No stations layer: service-station reach was not measured.")
        return
    from gridmap.reach import WALK_M, unserved

    cls = result.classification
    metric = cls.crs
    streets = state["streets"].geometry.to_crs(metric) if state["streets"] is not None else None
    table = unserved(cls.compounds.geometry.to_crs(metric), state["stations"].geometry.to_crs(metric),
                     streets, walk_m=project.rule("walk_m", WALK_M))
    name = find_field(cls.compounds, "compound_name", _field(project, "compounds", "name"), required=False,
                      exclude=tuple(cls.compounds.columns[:7]))
    result.reach = pd.concat([cls.compounds[["compound_id"]],
                              cls.compounds[[name]].rename(columns={name: "name"}) if name else None,
                              table], axis=1)
    write_csv(result.reach, work / "reach.csv")


def _stage_maps(project, state, work, result):
    from gridmap.maps import make_maps

    a = result.alignment
    layout, _, _ = layout_grids(project, state, result)
    proposal = None
    if a is not None:
        proposal = {"grids": a.grids, "changes": a.changes}
        if layout is not result.classification:
            # The pages show the proposal's grids: proposal.html draws the current ones beside them.
            proposal["before"] = result.classification.grids
    result.pages = make_maps(
        layout, work, buildings=state["buildings"],
        microgrids=result.microgrids.microgrids if result.microgrids is not None else None,
        organisation=result.organisation.units if result.organisation is not None else None,
        proposal=proposal,
        communities=state["communities"], stations=state["stations"], workers=state.get("workers"),
        basemap=project.basemap, tianditu_key=project.tianditu_key,
        building_id=_field(project, "buildings", "id"), households=_field(project, "buildings", "households"),
        reach=result.reach, walk_m=project.rule("walk_m", 500.0) if result.reach is not None else None)


def _stage_report(project, state, work, result):
    from gridmap.report import write_report

    result.report = write_report(report_facts(project, result), work)


def report_facts(project: Project, result: RunResult):
    """The report's figures from the stages' results."""
    from gridmap.reach import WALK_M
    from gridmap.report import UNTYPED, ReportFacts

    cls = result.classification
    counts = cls.counts()
    type_field = find_field(cls.compounds, "compound_type", _field(project, "compounds", "type"), required=False,
                            exclude=tuple(cls.compounds.columns[:7]))
    facts = ReportFacts(compound_situations=counts["compounds"], grid_situations=counts["grids"],
                        crs=f"{cls.crs.to_string()} ({cls.crs.name})", notes=list(result.notes))
    if type_field:
        types = cls.compounds[type_field].fillna(UNTYPED).astype(str)
        order = [t for t in settings.COMPOUND_TYPES if t in set(types)] + sorted(set(types) - set(settings.COMPOUND_TYPES))
        facts.compound_types = types.value_counts().reindex(order)
        cross = pd.crosstab(types, cls.compounds.situation).reindex(order)
        facts.type_by_situation = cross[[c for c in settings.COMPOUND_SITUATIONS if c in cross.columns]]
    if result.alignment is not None:
        s = result.alignment.summary
        facts.alignment = {k: s[k] for k in ("straddling_before", "straddling_after", "grids_before", "grids_after",
                                             "grids_kept", "grids_changed", "grids_new", "grids_removed",
                                             "compounds_moved", "compound_area_moved_m2", "land_moved_m2",
                                             "households_moved", "outside_range_before", "outside_range_after",
                                             "changes_rows", "unresolved", "crosses_community")
                           if s.get(k) is not None}
    org = result.organisation
    if org is not None:
        facts.org_kinds = org.units.kind.value_counts()
        cats = {"members_direct": "直管党员", "members_mobile": "流动党员", "members_in_service": "在职党员",
                "members_retired": "离退休党员", "members_other": "未分类"}
        roots = org.units[org.units.parent_id.isna() | (org.units.parent_id == "")]
        facts.members_by_category = pd.Series({zh: int(roots[c].sum()) for c, zh in cats.items() if c in roots})
        facts.members_by_category = facts.members_by_category[facts.members_by_category > 0]
        facts.members_total = int(org.members_total)
        facts.unplaced = org.unplaced()
    if result.microgrids is not None:
        facts.microgrid_households = result.microgrids.microgrids.households.to_numpy(dtype=float)
        facts.microgrid_range = tuple(project.rule("microgrid_households", list(settings.MICROGRID_HOUSEHOLDS)))
    if result.reach is not None:
        facts.walk_m = project.rule("walk_m", WALK_M)
        facts.reach_measured = str(result.reach.measured.iloc[0]) if len(result.reach) else None
        far = result.reach[~result.reach.served]
        facts.unserved = far.drop(columns=["served", "measured"]).sort_values("station_distance_m", ascending=False)
    return facts


_STAGE_FUNCS = {"load": _stage_load, "validate": _stage_validate, "classify": _stage_classify,
                "align": _stage_align, "organise": _stage_organise, "microgrids": _stage_microgrids,
                "reach": _stage_reach, "maps": _stage_maps, "report": _stage_report}


def sample_folder() -> Path:
    """The bundled sample (``boundaries/`` of a source checkout or editable install)."""
    for candidate in (Path(__file__).resolve().parents[1] / "boundaries", Path.cwd() / "boundaries"):
        if (candidate / "compounds.geojson").exists():
            return candidate
    raise GridmapError("The bundled sample (boundaries/) was not found: run gridmap demo from a clone of "
                       "the gridmap repository, or install it with `pip install -e .` there.")


def demo_project(out: Path) -> Project:
    """``gridmap run`` on the bundled central-Taiyuan sample, every layer included."""
    folder = sample_folder()
    layers = {name: LayerConfig(str(folder / file)) for name, file in (
        ("compounds", "compounds.geojson"), ("grids", "grids.geojson"), ("buildings", "buildings.geojson"),
        ("members", "members.csv"), ("communities", "communities.geojson"), ("streets", "streets.geojson"),
        ("stations", "stations.geojson"), ("grid_workers", "grid_workers.csv"))}
    return Project(layers=layers, out=Path(out), source=folder)


__all__ = ["ReadOptions", "RunResult", "STAGES", "StageError", "check_job", "classify_job", "demo_project",
           "layout_grids", "run_job", "sample_folder", "write_classification", "reconcile"]
