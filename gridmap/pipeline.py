"""``gridmap run``: every stage on one project, into one folder.

load → validate → classify → align → organise → micro-grids → reach → maps → report → shapefiles →
offices. Each stage
calls the same core functions and writers (:mod:`gridmap.jobs`) as the command of its name, on the
layers the load stage read once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.align import align
from gridmap.classify import Classification, classify
from gridmap.errors import GridmapError
from gridmap.i18n import N_, _, term
from gridmap.io import find_field, warn_if_far_apart, write_csv
from gridmap.io.layers import ReadOptions
from gridmap.io.tables import read_roster
from gridmap.io.write import input_paths
from gridmap.jobs import (infer_missing, reach_table, read_edits, write_alignment, write_classification,
                          write_funding, write_inferred, write_microgrids, write_shapefiles)
from gridmap.maps import make_maps
from gridmap.microgrids import cut_share, finish_cut, prepare_cut
from gridmap.offices import write_offices
from gridmap.org import (Thresholds, finish_layout, funding_for, lay_out, prepare_layout, programme_sections,
                         read_ledger, write_organisation)
from gridmap.parallel import Runner
from gridmap.project import LayerConfig, Project
from gridmap.report import ReportFacts, write_report
from gridmap.validate import finding_text, kind_name, layer_findings
from gridmap.vocab import COMPOUND_SITUATIONS, COMPOUND_TYPES, COMPUTED_COLUMNS, NO_GEOMETRY, UNTYPED, canonical_type

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ the whole job

#: Stages of ``gridmap run``, in the order data flows.
STAGES = ("load", "validate", "classify", "align", "organise", "microgrids", "reach", "maps", "report", "shapefiles",
          "offices")
#: Written into a run's folder, with the list of the files the run wrote: a folder holding it and
#: nothing else may be replaced as a whole by the next run.
RUN_MARK = ".gridmap-run"
#: What each stage does, as the progress bar and messages say it (translated when shown: :func:`stage_title`).
STAGE_TITLES = {"load": N_("reading layers"), "validate": N_("validating"), "classify": N_("classifying"),
                "align": N_("aligning (拉平对齐)"), "organise": N_("organising (组织设置)"),
                "microgrids": N_("cutting micro-grids"), "reach": N_("measuring station reach"),
                "maps": N_("drawing maps"), "report": N_("writing the report"),
                "shapefiles": N_("writing shapefiles"), "offices": N_("community offices (社区)")}


def stage_title(stage: str) -> str:
    """What ``stage`` does, in the user's language."""
    return _(STAGE_TITLES[stage]) if stage in STAGE_TITLES else stage


class StageError(GridmapError):
    """A stage of ``gridmap run`` failed; the message names it."""


class Terminated(KeyboardInterrupt):
    """The run was asked to stop (SIGTERM): the same clean-up as Ctrl-C runs."""


@dataclass
class RunResult:
    """What ``run_job`` made, stage by stage (``None`` where a stage was skipped)."""

    out: Path
    classification: Classification | None = None
    alignment: object | None = None
    organisation: object | None = None
    microgrids: object | None = None
    reach: pd.DataFrame | None = None
    funding: pd.DataFrame | None = None
    pages: list[Path] = field(default_factory=list)
    report: tuple[Path, Path] | None = None
    offices: list[Path] = field(default_factory=list)  # offices/<community_id>/ folders
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # Per-community tasks of each stage: (community, wall s, CPU s) where they ran (benchmarks).
    tasks: dict[str, list] = field(default_factory=dict)
    # The run's own process: its peak resident memory (MB) so far, at the end of each stage.
    peak_mb: dict[str, float] = field(default_factory=dict)

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def run_job(project: Project, *, progress: Callable[..., None] | None = None,
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
        Called with (stage name, stage number) as each stage starts, and with (stage name, stage
        number, done, total) as each community of a long stage (organisation, micro-grids, pages,
        office folders) is done.
    workers, scheduler : optional
        Run the per-community work (organisation, micro-grids, pages, office folders) on a local
        Dask cluster of ``workers`` processes, or on the dask.distributed scheduler at
        ``scheduler`` (``tcp://HOST:PORT``); the area-wide steps run once, here. Without them,
        pages and office folders are written by a local process pool (``settings.PROCESSES``).
        The results are the same either way.
    """
    project.require_files()
    out = Path(project.out).resolve()
    kept = out.with_name(out.name + ".incomplete")
    _refuse_inputs_inside(project, out, kept)
    _check_replaceable(out)
    _check_replaceable(kept, incomplete=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GridmapError(_("--out {out}: cannot make its parent folder ({reason}). Nothing was run.").format(
            out=out, reason=exc.strerror or exc)) from None
    client = None
    if workers or scheduler:
        from gridmap.distributed import connect

        client = connect(workers, scheduler)  # fails within seconds, before anything is written
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        if client is not None:
            from gridmap.distributed import close

            close(client)
        raise GridmapError(_("--out {out}: cannot write in {parent} ({reason}); choose a "
                             "folder you can write in. Nothing was run.").format(
            out=out, parent=out.parent, reason=exc.strerror or exc)) from None
    result = RunResult(out=out)
    state: dict = {"client": client, "runner": Runner(client=client)}
    with _stop_on_sigterm():
        try:
            state["runner"].start()
            for number, name in enumerate(STAGES):
                if progress:
                    progress(name, number)
                state["tick"] = _ticker(progress, name, number)
                started = time.perf_counter()
                try:
                    _STAGE_FUNCS[name](project, state, work, result)
                except Exception as exc:
                    raise _stage_error(name, exc) from (exc.__cause__ if isinstance(exc, StageError) else exc)
                result.seconds[name] = round(time.perf_counter() - started, 2)
                result.peak_mb[name] = _peak_mb()
                log.info("stage %s took %.1f s (peak memory so far %s MB)", name, result.seconds[name],
                         result.peak_mb[name])
            try:  # the writers the stages started beside the later ones (Runner.submit)
                state["runner"].wait()
            except GridmapError as exc:
                raise _stage_error(exc.stage, exc) from exc
        except BaseException as exc:
            kept_at = _keep_incomplete(work, out, kept, exc)
            if isinstance(exc, StageError):
                where = (_("The outputs of the earlier stages are in {folder}; ").format(folder=kept_at)
                         if kept_at else "")
                raise StageError(_("{error} {where}{out} was left as it was.").format(
                    error=exc, where=where, out=out)) from exc.__cause__
            raise
        finally:
            state["runner"].close()
            result.tasks = state["runner"].timings
            if client is not None:
                from gridmap.distributed import close

                close(client)
        _write_mark(work, {"complete": True, "seconds": result.seconds, "notes": result.notes,
                           "tasks": result.tasks, "peak_mb": result.peak_mb})
        with _signals_held():
            _swap_into_place(work, out)
    result.pages = [out / p.name for p in result.pages]
    if result.report:
        result.report = tuple(out / p.name for p in result.report)
    result.offices = [out / "offices" / p.name for p in result.offices]
    if project.database:  # the run's tables into PostGIS, in one transaction (gridmap.io.postgis)
        from gridmap.io.postgis import write_results

        result.notes.append(str(write_results(result, project.database,
                                              inputs={k: c.spec for k, c in project.layers.items()})))
    return result


def _peak_mb() -> float | None:
    """This process's peak resident memory so far (MB); None where the system does not say."""
    try:
        import resource  # not on Windows
    except ImportError:
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _stage_error(name: str, exc: Exception) -> StageError:
    """The error of stage ``name``, in one paragraph naming the stage."""
    if isinstance(exc, StageError):
        return exc
    if isinstance(exc, GridmapError):
        return StageError(_("Stage '{stage}' failed: {reason}").format(stage=term(name, stage_title(name)),
                                                                        reason=exc))
    return StageError(_("Stage '{stage}' failed unexpectedly ({error}: {reason}); run again with --debug for "
                        "the traceback.").format(stage=term(name, stage_title(name)), error=type(exc).__name__,
                                                 reason=exc))


def _ticker(progress, name: str, number: int) -> Callable[[int, int], None] | None:
    """The progress of a stage's communities: (done, total) to ``progress``."""
    if progress is None:
        return None
    return lambda done, total: progress(name, number, done, total)


def _refuse_inputs_inside(project: Project, out: Path, kept: Path) -> None:
    """Inputs are sacred: refuse an --out whose folder (or OUT.incomplete) holds, or is, an input,
    before any work (the run replaces the folder as a whole)."""
    specs = [cfg.spec for cfg in project.layers.values()] + ([project.source] if project.source else [])
    for src in input_paths(specs):
        for folder in (out, kept):
            if src == folder or src.is_relative_to(folder):
                raise GridmapError(_("--out {out}: the run replaces {folder} as a whole, and it holds the input "
                                     "{input}. Choose another --out folder. Nothing was run.").format(
                    out=out, folder=folder, input=src))


def _run_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (relative, '/'-separated), the run mark aside."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name != RUN_MARK)


def _write_mark(folder: Path, facts: dict) -> None:
    """The run mark: what the run was, and every file it wrote (the next run replaces only these)."""
    facts = {**facts, "files": _run_files(folder)}
    (folder / RUN_MARK).write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")


def _check_replaceable(out: Path, incomplete: bool = False) -> None:
    """Refuse to replace a folder that holds anything gridmap run did not write there (the user's
    files): a folder without the run mark, or with files the mark does not list."""
    what = _("The OUT.incomplete folder {folder}") if incomplete else _("The folder {folder}")
    what = what.format(folder=out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise GridmapError(_("--out {out}: {path} is a file, not a folder; choose another --out (gridmap run "
                             "writes a folder).").format(out=out if not incomplete else out.with_suffix(""),
                                                         path=out))
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    mark = out / RUN_MARK
    if not mark.is_file():
        shown = ", ".join(entries[:10]) + (_(" and {count} more").format(count=len(entries) - 10)
                                           if len(entries) > 10 else "")
        raise GridmapError(_("{what} exists and was not written by gridmap run (it holds {files}): "
                             "choose another --out folder, or move those files away. gridmap replaces only "
                             "folders of its own runs.").format(what=what, files=shown))
    try:
        facts = json.loads(mark.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        facts = {}
    listed = facts.get("files") if isinstance(facts, dict) else None
    if listed is None:
        if incomplete:
            raise GridmapError(_("{what} was not left by this version of gridmap run; delete it or move "
                                 "it away, then run again.").format(what=what))
        return  # a run of an earlier version: its folder held its outputs only
    foreign = sorted(set(_run_files(out)) - set(listed))
    foreign += sorted(p.relative_to(out).as_posix() + "/" for p in out.rglob("*")
                      if p.is_dir() and not any(p.iterdir()))
    if foreign:
        shown = ", ".join(foreign[:10]) + (_(" and {count} more").format(count=len(foreign) - 10)
                                           if len(foreign) > 10 else "")
        raise GridmapError(_("{what} holds files gridmap run did not write: {files}. The run replaces "
                             "the folder as a whole and would delete them: move them out (or choose another "
                             "--out folder) and run again. Nothing was run.").format(what=what, files=shown))


def _keep_incomplete(work: Path, out: Path, kept: Path, exc: BaseException) -> Path | None:
    """Keep what the earlier stages wrote in OUT.incomplete (marked incomplete), replacing only an
    OUT.incomplete of an earlier run."""
    if not any(work.iterdir()):
        work.rmdir()
        return None
    reason = str(exc) if isinstance(exc, GridmapError) else type(exc).__name__
    _write_mark(work, {"complete": False, "stopped": reason})
    if kept.exists():
        try:
            _check_replaceable(kept, incomplete=True)
        except GridmapError:
            log.warning("%s appeared during the run and holds other files: the partial outputs stay in %s",
                        kept, work)
            return work
        shutil.rmtree(kept)
    os.replace(work, kept)
    return kept


@contextlib.contextmanager
def _stop_on_sigterm():
    """SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) while the run goes on, so that the
    clean-up of Ctrl-C runs for it too: no half-written folder under OUT."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Terminated(f"stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM while the new folder is swapped in (two renames), then deliver them."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _swap_into_place(work: Path, out: Path) -> None:
    """Replace ``out`` by ``work`` as a whole: rename the old folder away, the new one in, then delete."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read(project: Project, name: str, options: ReadOptions | None = None):
    cfg = project.layers.get(name)
    if cfg is None:
        return None
    options = options or ReadOptions(engine=project.engine, encoding=project.encoding, crs=project.crs)
    return options.read(cfg.spec, role=name)


def _field(project: Project, layer: str, key: str) -> str | None:
    cfg = project.layers.get(layer)
    return cfg.fields.get(key) if cfg else None


def _stage_load(project, state, work, result):
    options = ReadOptions(engine=project.engine, encoding=project.encoding, crs=project.crs)
    for name in ("compounds", "grids", "buildings", "communities", "streets", "stations"):
        state[name] = _read(project, name, options)
        if state[name] is not None and state[name].attrs.get("crs_note"):  # --crs gcj02 / bd09
            result.notes.append(_("{layer}: {note}.").format(layer=name, note=state[name].attrs["crs_note"]))
    present = {k: v for k, v in state.items() if isinstance(v, gpd.GeoDataFrame)}
    warn_if_far_apart(present)
    if "members" in project.layers:
        spec = project.layers["members"].spec
        state["ledger"] = read_ledger([spec], encoding=options.encoding_for(spec, "members", plain=False),
                                      building_id=_field(project, "buildings", "id"))
    if "grid_workers" in project.layers:
        spec = project.layers["grid_workers"].spec
        ledger = state.get("ledger")
        names = ledger["name"] if ledger is not None and "name" in ledger else None
        state["workers"] = read_roster(spec, options.encoding_for(spec, "grid_workers", plain=False),
                                        names=names)
        result.notes.append(_("Grid workers: ids taken from column '{column}' of {file}; names are never "
                              "shown.").format(column=state["workers"].attrs["worker_id_field"], file=Path(spec).name))
    if project.rule("edits", None):  # a planner's edits.csv, checked as a table before any work
        state["edits"] = read_edits(project.rule("edits", None))
    options.check_names()


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
            raise GridmapError(_("{layer}: {problems} (all findings in check.csv).").format(
                layer=layer.attrs.get("source", name),
                problems=_("; ").join(finding_text(r.issue, r.detail, r.feature_id) for r in errors.itertuples())))
        # Features without a usable geometry are measured nowhere but counted everywhere: classify
        # keeps them (situation no_geometry); the geometry stages work on the cleaned layer.
        state[f"{name}_input"] = layer
        state[f"{name}_unusable"] = len(layer) - len(cleaned)
        state[name] = cleaned
    write_csv(pd.concat(frames, ignore_index=True), work / "check.csv")


def _stage_classify(project, state, work, result):
    n_inferred = _infer_missing_outlines(project, state, work, result)
    compounds, grids = state["compounds"], state["grids"]
    if state.get("compounds_unusable"):
        compounds = _with_unusable_rows(project, state, n_inferred)
    if state.get("grids_unusable"):
        grids = state["grids_input"]
    result.classification = classify(
        compounds, grids, compound_id=_field(project, "compounds", "id"),
        grid_id=_field(project, "grids", "id"), sliver=project.rule("sliver", None),
        nest=project.rule("nest", None))
    write_classification(result.classification, work, engine=project.engine)
    cls = result.classification
    lost = {what: table.compound_id if what == "compounds" else table.grid_id
            for what, table in (("compounds", cls.compounds[cls.compounds.situation == NO_GEOMETRY]),
                                ("grids", cls.grids[cls.grids.situation == NO_GEOMETRY]))}
    if any(len(v) for v in lost.values()):
        said = _("; ").join(f"{len(v)} {kind_name(what)} ({', '.join(map(str, list(v)[:10]))}{' …' if len(v) > 10 else ''})"
                         for what, v in lost.items() if len(v))
        result.notes.append(_("No usable geometry (null, empty or no area): {features}. They keep their rows with "
                              "situation {code} (geometry_issue says why), count in every total and are "
                              "listed in check.csv; they are not aligned, organised, measured or drawn.").format(
            features=said, code=NO_GEOMETRY))


def _with_unusable_rows(project, state, n_inferred: int) -> gpd.GeoDataFrame:
    """Every input compound, in input order (those without a usable geometry included), then the
    inferred outlines; an input row without geometry whose outline was inferred gives way to it."""
    full = state["compounds_input"]
    if not n_inferred:
        return full
    compounds = state["compounds"]
    inferred = compounds.iloc[len(compounds) - n_inferred:]
    cid = find_field(full, "compound_id", _field(project, "compounds", "id"))
    icid = cid if cid in inferred.columns else find_field(inferred, "compound_id")
    usable = full.index.isin(compounds.index[:len(compounds) - n_inferred])
    replaced = ~usable & np.isin(full[cid].astype(str).to_numpy(), inferred[icid].astype(str).to_numpy())
    kept = full[~replaced].copy()
    kept["outline"] = "input"
    both = pd.concat([kept, inferred.to_crs(full.crs)], ignore_index=True)
    out = gpd.GeoDataFrame(both, geometry=both.geometry.name, crs=full.crs)
    out.attrs.update(full.attrs)
    return out


def _infer_missing_outlines(project, state, work, result):
    """Compounds that have buildings but no polygon get an inferred outline before classifying,
    so that every later stage (alignment, organisation, maps) sees them."""
    if state["buildings"] is None or state["streets"] is None:
        result.notes.append(_("No buildings and streets: compounds without an outline were not inferred."))
        return 0
    n_input = len(state["compounds"])
    compounds, inference = infer_missing(
        state["compounds"], state["buildings"], state["streets"], compound_id=_field(project, "compounds", "id"),
        building_compound=_field(project, "buildings", "compound"), building_id=_field(project, "buildings", "id"),
        households=_field(project, "compounds", "households"),
        building_households=_field(project, "buildings", "households"))
    if not len(inference.compounds):
        return 0
    write_inferred(inference, work, engine=project.engine)
    compounds["outline"] = ["input"] * n_input + ["inferred"] * (len(compounds) - n_input)
    state["compounds"] = compounds
    result.notes.append(_("{count} compounds had buildings but no outline: their outlines "
                          "were inferred from the buildings and streets (inferred.gpkg; outline = inferred in "
                          "compounds.csv) and used in every stage.").format(count=len(inference.compounds)))
    return len(compounds) - n_input


def _stage_align(project, state, work, result):
    low, high = project.rule("grid_households", list(settings.GRID_HOUSEHOLDS))
    result.alignment = align(state["compounds"], state["grids"], compound_id=_field(project, "compounds", "id"),
                             grid_id=_field(project, "grids", "id"),
                             households=_field(project, "compounds", "households"), grid_households=(low, high),
                             types=project.rule("align_types", None), keep=project.rule("keep", ()),
                             sliver=project.rule("sliver", None), nest=project.rule("nest", None),
                             buildings=state["buildings"], communities=state["communities"],
                             grid_households_field=_field(project, "grids", "households"),
                             building_households=_field(project, "buildings", "households"),
                             community=_field(project, "grids", "community"), edits=state.get("edits"))
    write_alignment(result.alignment, work, engine=project.engine)
    on = project.rule("layout_on", "current")
    result.notes.append(_("Organisation, micro-grids and maps are laid out on the alignment proposal's grids "
                          "(layout_on = proposal).") if on == "proposal" else
                        _("Organisation, micro-grids and maps are laid out on the current grids; the alignment "
                          "proposal is in proposal.gpkg and proposal.html (layout_on = proposal lays them out on it)."))


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
        result.notes.append(_("No buildings layer: the organisation layout was skipped."))
        return
    t = {k: project.rules[k] for k in ("branch_min_members", "branch_max_members", "committee_min_members",
                                        "group_min_members", "community_committee_min",
                                        "community_general_branch_min") if k in project.rules}
    thresholds = Thresholds(**{k.replace("_members", ""): v for k, v in t.items()}) if t else None
    # One set of grids for the whole run (organisation, micro-grids, maps): see layout_grids.
    layout, _grids, _grid_id = layout_grids(project, state, result)
    proposal = None
    options = dict(building_id=_field(project, "buildings", "id"), compound_id=_field(project, "buildings", "compound"),
                   households=_field(project, "buildings", "households"),
                   party_members=_field(project, "buildings", "members"), thresholds=thresholds)
    # The area-wide steps once; each community's tree on the runner's processes (gridmap.parallel).
    prep = prepare_layout(layout, state["buildings"], state.get("ledger"), state["communities"], proposal, **options)
    names = prep.names
    laid = state["runner"].map(lay_out, (prep.share(n) for n in names), stage="organise", keys=names,
                               total=len(names), progress=state["tick"])
    result.organisation = finish_layout(prep, laid)
    del prep, laid
    if project.funding is not None:  # the estimate of the project's [funding] policy (issue 15)
        result.funding = funding_for(result.organisation, result.classification, state["stations"],
                                     state["communities"], project.funding)
        write_funding(result.funding, work)
    # Written beside the next stages (on the pool's processes or the workers), not before them.
    state["runner"].submit(write_organisation, result.organisation, work, ledger=state.get("ledger"),
                           funding=result.funding, policy=project.funding, roster=_roster_path(project, work),
                           stage="organise")


def _roster_path(project, work: Path) -> Path | None:
    """Where the roster asked for goes: into the run's folder (``work`` until the run is done) when
    it is named inside it, else where it is named."""
    if not project.roster_file:
        return None
    path = Path(project.roster_file).resolve()
    out = Path(project.out).resolve()
    return work / path.relative_to(out) if path.is_relative_to(out) else path


def _stage_microgrids(project, state, work, result):
    if state["buildings"] is None:
        result.notes.append(_("No buildings layer: micro-grids were not cut."))
        return
    low, high = project.rule("microgrid_households", list(settings.MICROGRID_HOUSEHOLDS))
    _layout, grids, grid_id = layout_grids(project, state, result)
    options = dict(grid_id=grid_id, building_id=_field(project, "buildings", "id"),
                   households=_field(project, "buildings", "households"), households_range=(low, high))
    # The area-wide steps once; each community's grids cut on the runner's processes.
    cutting = prepare_cut(grids, state["buildings"], streets=state["streets"], roster=state.get("workers"), **options)
    groups = cutting.groups()
    cuts = state["runner"].map(cut_share, (cutting.share(g) for g in groups), stage="microgrids",
                               keys=[str(cutting.group[g[0]]) for g in groups], total=len(groups),
                               progress=state["tick"])
    result.microgrids = finish_cut(cutting, cuts)
    del cutting, cuts
    write_microgrids(result.microgrids, work, engine=project.engine)


def _stage_reach(project, state, work, result):
    if state["stations"] is None:
        result.notes.append(_("No stations layer: service-station reach was not measured."))
        return
    result.reach = reach_table(result.classification, state["stations"], state["streets"],
                               project.rule("walk_m", settings.WALK_M), name_field=_field(project, "compounds", "name"))
    write_csv(result.reach, work / "reach.csv")


def _stage_maps(project, state, work, result):
    a = result.alignment
    layout, _grids, _grid_id = layout_grids(project, state, result)
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
        reach=result.reach, walk_m=project.rule("walk_m", settings.WALK_M) if result.reach is not None else None,
        runner=state["runner"], progress=state["tick"])


def _stage_report(project, state, work, result):
    facts = report_facts(project, result)
    # Issue 15's tables: community level, funding, candidate counts, property, roll-ups.
    facts.programme = programme_sections(
        result.classification, org=result.organisation, communities=state["communities"],
        stations=state["stations"], funding=result.funding, policy=project.funding, ledger=state.get("ledger"),
        microgrids=result.microgrids.microgrids if result.microgrids is not None else None,
        type_field=_field(project, "compounds", "type"))
    result.report = write_report(facts, work)


def _stage_shapefiles(project, state, work, result):
    state["runner"].submit(write_shapefiles, work, classification=result.classification,
                           alignment=result.alignment, microgrids=result.microgrids, engine=project.engine,
                           stage="shapefiles")


def _stage_offices(project, state, work, result):
    offices = write_offices(
        result.classification, work, alignment=result.alignment, organisation=result.organisation,
        microgrids=result.microgrids, reach=result.reach, communities=state["communities"],
        stations=state["stations"], ledger=state.get("ledger"), roster=project.roster, paper=project.paper,
        organisation_name=project.organisation, attribution=project.attribution,
        community_field=_field(project, "grids", "community"), missing_font="note", runner=state["runner"],
        progress=state["tick"])
    result.offices = offices.folders
    result.notes += offices.notes


def report_facts(project: Project, result: RunResult):
    """The report's figures from the stages' results."""
    cls = result.classification
    counts = cls.counts()
    type_field = find_field(cls.compounds, "compound_type", _field(project, "compounds", "type"), required=False,
                            exclude=COMPUTED_COLUMNS)
    facts = ReportFacts(compound_situations=counts["compounds"], grid_situations=counts["grids"],
                        crs=f"{cls.crs.to_string()} ({cls.crs.name})", notes=list(result.notes))
    if type_field:
        types = cls.compounds[type_field].map(canonical_type).fillna(UNTYPED).astype(str)
        order = [t for t in COMPOUND_TYPES if t in set(types)] + sorted(set(types) - set(COMPOUND_TYPES))
        facts.compound_types = types.value_counts().reindex(order)
        cross = pd.crosstab(types, cls.compounds.situation).reindex(order)
        facts.type_by_situation = cross[[c for c in (*COMPOUND_SITUATIONS, NO_GEOMETRY) if c in cross.columns]]
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
        # Units below the communities, and the communities' own units that are committees (a
        # community's general branch or branch is not a compound's: see the 社区党组织 section).
        units = org.units[(org.units.depth > 0) | (org.units.kind == "committee")]
        facts.org_kinds = units.kind.value_counts()
        cats = {**{f"members_{k}": v for k, v in vocab.CATEGORIES.items()},
                "members_other": vocab.OTHER_CATEGORY_LABEL}
        roots = org.units[org.units.parent_id.isna() | (org.units.parent_id == "")]
        facts.members_by_category = pd.Series({zh: int(roots[c].sum()) for c, zh in cats.items() if c in roots})
        facts.members_by_category = facts.members_by_category[facts.members_by_category > 0]
        facts.members_total = int(org.members_total)
        facts.unplaced = org.unplaced()
    if result.microgrids is not None:
        facts.microgrid_households = result.microgrids.microgrids.households.to_numpy(dtype=float)
        facts.microgrid_range = tuple(project.rule("microgrid_households", list(settings.MICROGRID_HOUSEHOLDS)))
    if result.reach is not None:
        facts.walk_m = project.rule("walk_m", settings.WALK_M)
        measured = result.reach.measured[result.reach.measured != "no geometry"]
        facts.reach_measured = str(measured.iloc[0]) if len(measured) else None
        far = result.reach[~result.reach.served & result.reach.station_distance_m.notna()]
        facts.unserved = far.drop(columns=["served", "measured"]).sort_values("station_distance_m", ascending=False)
    return facts


_STAGE_FUNCS = {"load": _stage_load, "validate": _stage_validate, "classify": _stage_classify,
                "align": _stage_align, "organise": _stage_organise, "microgrids": _stage_microgrids,
                "reach": _stage_reach, "maps": _stage_maps, "report": _stage_report,
                "shapefiles": _stage_shapefiles, "offices": _stage_offices}


def sample_folder() -> Path:
    """The bundled sample (``boundaries/`` of a source checkout or editable install)."""
    for candidate in (Path(__file__).resolve().parents[1] / "boundaries", Path.cwd() / "boundaries"):
        if (candidate / "compounds.geojson").exists():
            return candidate
    raise GridmapError(_("The bundled sample (boundaries/) was not found: run gridmap demo from a clone of "
                         "the gridmap repository, or install it with `pip install -e .` there."))


def demo_project(out: Path) -> Project:
    """``gridmap run`` on the bundled central-Taiyuan sample, every layer included."""
    folder = sample_folder()
    layers = {name: LayerConfig(str(folder / file)) for name, file in (
        ("compounds", "compounds.geojson"), ("grids", "grids.geojson"), ("buildings", "buildings.geojson"),
        ("members", "members.csv"), ("communities", "communities.geojson"), ("streets", "streets.geojson"),
        ("stations", "stations.geojson"), ("grid_workers", "grid_workers.csv"))}
    return Project(layers=layers, out=Path(out), source=folder)


__all__ = ["RunResult", "STAGES", "STAGE_TITLES", "StageError", "demo_project", "layout_grids", "report_facts",
           "run_job", "sample_folder", "stage_title"]
