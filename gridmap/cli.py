"""The ``gridmap`` command: a thin typer + rich shell over the jobs (``gridmap.jobs``) and the run
(``gridmap.pipeline``).

Problems with the user's input are ``GridmapError``: printed as one paragraph, exit status 1, no
traceback unless ``--debug`` is given (anywhere on the command line).

Everything printed is in the user's language (``gridmap.i18n``): help texts are translated when
this module is imported, so the language is the one in the environment when the command starts.
typer and click print a few words of their own (Usage:, Options, Show this message and exit., their
usage errors): ``gridmap.i18n.translate_libraries`` routes them through gridmap's catalogue too.
"""

from __future__ import annotations

import functools
import logging
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Column, Table

from gridmap import settings, vocab
from gridmap.align import check_range
from gridmap.errors import GridmapError, GridmapWarning, warning_title
from gridmap.i18n import N_, _, language, term, translate_libraries
from gridmap.io import ReadOptions, find_field
from gridmap.jobs import (align_job, check_job, classify_job, infer_job, map_job, microgrids_job, org_job,
                          write_shapefiles)
from gridmap.offices import paper_size
from gridmap.org import Thresholds
from gridmap.org.model import TOTAL
from gridmap.pipeline import STAGES, demo_project, run_job
from gridmap.progressbar import RunProgress
from gridmap.project import LAYOUT_ON, LayerConfig, Project, load_project, parse_range, write_template
from gridmap.validate import issue_label, severity_label

translate_libraries()

app = typer.Typer(
    name="gridmap", help=_("Compounds (小区) and grids (网格): the three situations, alignment, organisation, "
           "micro-grids and offline maps. Layers are paths, or PATH:LAYER for multi-layer sources."),
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich",
    subcommand_metavar=_("COMMAND [ARGS]..."), options_metavar=_("[OPTIONS]"))
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
DEBUG = False
#: Every command's usage line says [OPTIONS] in the user's language.
COMMAND = {"options_metavar": _("[OPTIONS]")}

# ------------------------------------------------------------------ shared options
CompoundId = Annotated[Optional[str], typer.Option("--compound-id", help=_("Compound id field (default: compound_id, 小区编码, 小区编号, XQBM)."))]
GridId = Annotated[Optional[str], typer.Option("--grid-id", help=_("Grid id field (default: grid_id, 网格编码, 网格编号, WGBM)."))]
BuildingId = Annotated[Optional[str], typer.Option("--building-id", help=_("Building id field (default: building_id, 楼栋编码)."))]
Households = Annotated[Optional[str], typer.Option("--households", help=_("Households field (default: households, 户数)."))]
Crs = Annotated[Optional[list[str]], typer.Option("--crs", help=_("CRS for layers that have none (a shapefile without .prj, a CSV), e.g. EPSG:4490; gcj02 or bd09 for data digitised on Gaode or Baidu maps (converted to WGS 84); NAME=EPSG:CODE sets the CRS of the layer NAME (its role, file name or stem) even over a wrong .prj. Repeatable or comma-separated."))]
Encoding = Annotated[Optional[list[str]], typer.Option("--encoding", help=_("Attribute encoding of shapefiles and CSVs, e.g. gb18030; NAME=ENCODING for one layer (its role, file name or stem), e.g. --encoding compounds=gbk. Repeatable or comma-separated. By default .cpg / code page, else UTF-8, else GB18030."))]
Engine = Annotated[Optional[str], typer.Option("--engine", help=_("I/O engine: pyogrio or fiona (default {engine}).").format(engine=settings.ENGINE))]
Sliver = Annotated[Optional[float], typer.Option("--sliver", help=_("Overlaps below this share of the compound's and of the grid's area are slivers, reported but not used (default {value:g}).").format(value=settings.SLIVER))]
Nest = Annotated[Optional[float], typer.Option("--nest", help=_("A grid nests in a compound when at least this share of its area lies in it (default {value:g}).").format(value=settings.NEST))]
Out = Annotated[Path, typer.Option("--out", "-o", help=_("Output folder."))]
Shapefiles = Annotated[bool, typer.Option("--shapefiles", help=_("Also write shp/ in --out: shapefiles for ArcGIS and SuperMap (GBK, Chinese field names)."))]
COMPOUNDS = Annotated[str, typer.Argument(metavar=_("COMPOUNDS"), help=_("Compounds layer (小区)."), show_default=False)]
GRIDS = Annotated[str, typer.Argument(metavar=_("GRIDS"), help=_("Grids layer (网格)."), show_default=False)]
DEFAULT_OUT = Path("gridmap-out")


def handled(func):
    """Run a command with gridmap's error and warning presentation."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            # Once per message: stages that classify again must not repeat the same warning.
            warnings.simplefilter("once", GridmapWarning)
            warnings.showwarning = _show_warning
            try:
                return func(*args, **kwargs)
            except typer.Exit:
                raise
            except GridmapError as exc:
                if DEBUG:
                    raise
                _print_error(str(exc))
                raise typer.Exit(1) from None
            except OSError as exc:  # a file that cannot be read or written (permissions, disk full)
                if DEBUG:
                    raise
                where = f"{exc.filename}: " if exc.filename else ""
                text = _("{where}{reason}. Check that the file or folder exists and that you may read or write it, "
                         "and that the disk has room.").format(where=where, reason=exc.strerror or str(exc))
                _print_error(text)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                err_console.print(escape(_("Interrupted; outputs already moved into place are complete, "
                                           "others were not written.")), style="red")
                raise typer.Exit(130) from None
            except Exception as exc:  # an unforeseen failure: still no traceback for users
                if DEBUG:
                    raise
                text = _("unexpected {error}: {reason}. Run again with --debug for the traceback, and report "
                         "it.").format(error=type(exc).__name__, reason=exc)
                _print_error(text)
                raise typer.Exit(2) from None

    return wrapper


def _print_error(text: str) -> None:
    err_console.print(_labelled(_("Error:"), "bold red", text), soft_wrap=True, highlight=False)


def _labelled(label: str, style: str, text: str) -> str:
    """``label`` in ``style``, then ``text`` (a space after an ASCII colon, none after a full-width one)."""
    space = "" if label.endswith("：") else " "
    return f"[{style}]{escape(label)}[/]{space}{escape(text)}"


_SHOWN: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # Stages that classify again raise the same warning again: say it once.
    if str(message) in _SHOWN:
        return
    _SHOWN.add(str(message))
    title = _("{title}:").format(title=warning_title(category))
    err_console.print(_labelled(title, "yellow", str(message)), soft_wrap=True, highlight=False)


def _read_options(engine: str, encoding: list[str] | None, crs: list[str] | None):
    return ReadOptions(engine=engine, encoding=list(encoding) or None if encoding else None,
                       crs=list(crs) or None if crs else None)


# ------------------------------------------------------------------ check


@app.command(**COMMAND, help=_(
    "Validate layers: ids, geometry types, invalid geometries, overlaps, gaps between grids.\n\n"
    "Writes check.csv. Exit status 0 when the layers are usable (repairs and warnings allowed), 1 when a layer "
    "has errors. Null and empty geometries are dropped with a warning that counts them; invalid geometries are "
    "repaired with make_valid and listed."))
@handled
def check(
    layers: Annotated[list[str], typer.Argument(metavar=_("LAYERS..."), help=_("Layers to check (compounds, grids, …)."))],
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    out: Out = DEFAULT_OUT,
):
    table = check_job(layers, out, read=_read_options(engine, encoding, crs),
                      compound_id=compound_id, grid_id=grid_id)
    _print_issues(table)
    errors = int((table.severity == "error").sum()) if len(table) else 0
    out_console.print(escape(_("Wrote {path}").format(path=out / "check.csv")))
    if errors:
        err_console.print(escape(_("{count} errors: the layers are not usable as they are.").format(count=errors)),
                          style="bold red")
        raise typer.Exit(1)
    said = (_("Usable ({count} findings to review)").format(count=len(table)) if len(table)
            else _("Usable: no findings"))
    out_console.print(escape(said), style="green")


def _print_issues(table, limit: int = 40) -> None:
    if not len(table):
        return
    t = Table(title=_("Findings"), show_lines=False)
    for col in (_("layer"), _("feature"), _("severity"), _("issue"), _("detail")):
        t.add_column(col, overflow="fold")
    colour = {"error": "red", "repaired": "yellow", "dropped": "yellow", "warning": "cyan"}
    for r in table.head(limit).itertuples():
        t.add_row(escape(str(r.layer)), escape(str(r.feature_id)),
                  f"[{colour.get(r.severity, 'white')}]{escape(severity_label(r.severity))}[/]",
                  escape(issue_label(r.issue)), escape(str(r.detail)))
    out_console.print(t)
    if len(table) > limit:
        out_console.print(escape(_("… and {count} more in check.csv").format(count=len(table) - limit)))


# ------------------------------------------------------------------ classify


def _situation(code) -> str:
    """A situation as the console shows it: its label under Chinese, its code under English."""
    return term(code, vocab.situation_label(code))


@app.command("classify", **COMMAND, help=_(
    "Classify every compound and grid: {situations}.\n\n"
    "Writes compounds.csv, grids.csv, overlaps.csv and classification.gpkg. Null and empty geometries are "
    "dropped with a warning; invalid ones are repaired with make_valid.").format(
    situations=_(", ").join(map(_situation, vocab.COMPOUND_SITUATIONS[:-1]))
    + _(", ") + _situation("uncovered") + " / " + _situation("no_compound")))
@handled
def classify_cmd(
    compounds: COMPOUNDS,
    grids: GRIDS,
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    sliver: Sliver = None,
    nest: Nest = None,
    out: Out = DEFAULT_OUT,
    shapefiles: Shapefiles = False,
):
    result = classify_job(compounds, grids, out, read=_read_options(engine, encoding, crs),
                          compound_id=compound_id, grid_id=grid_id, sliver=sliver, nest=nest)
    print_classification(result)
    if shapefiles:
        write_shapefiles(out, classification=result, engine=engine)
    files = "compounds.csv, grids.csv, overlaps.csv, classification.gpkg" + (
        ", shp/compounds.shp, shp/grids.shp" if shapefiles else "")
    out_console.print(escape(_("Wrote {files} in {folder}").format(files=files, folder=out)), soft_wrap=True)


def print_classification(result) -> None:
    """Counts per situation (and per compound type), and the CRS areas were measured in."""
    counts = result.counts()
    t = Table(title=_("Situations"))
    t.add_column(_("situation"), overflow="fold")
    t.add_column(_("compounds"), justify="right")
    t.add_column(_("grids"), justify="right")
    for name in dict.fromkeys([*vocab.COMPOUND_SITUATIONS, *vocab.GRID_SITUATIONS, *counts["compounds"].index,
                               *counts["grids"].index]):
        c = counts["compounds"].get(name)
        g = counts["grids"].get(name)
        t.add_row(escape(_situation(name)), "" if c is None else str(c), "" if g is None else str(g))
    t.add_row(escape(_("total")), str(len(result.compounds)), str(len(result.grids)), style="bold")
    out_console.print(t)
    type_field = find_field(result.compounds, "compound_type", required=False,
                            exclude=vocab.COMPUTED_COLUMNS)
    if type_field:
        types = result.compounds[type_field].map(vocab.canonical_type).fillna(term("(none)", vocab.UNTYPED)).astype(str)
        cross = pd.crosstab(types, result.compounds.situation)
        known = [t for t in vocab.COMPOUND_TYPES if t in cross.index]
        cross = cross.reindex(known + sorted(set(cross.index) - set(known)))
        cross = cross[[c for c in (*vocab.COMPOUND_SITUATIONS, vocab.NO_GEOMETRY) if c in cross.columns]]
        # A row per situation and a column per type: the types are short, the situations' labels long.
        tt = Table(Column(_("situation"), overflow="fold"),
                   title=_("Compounds by situation and type ({field})").format(field=type_field))
        for name in cross.index:
            tt.add_column(escape(str(name)), justify="right", overflow="fold")
        for situation in cross.columns:
            tt.add_row(escape(_situation(situation)), *[str(v) for v in cross[situation]])
        out_console.print(tt)
    out_console.print(escape(_("Areas measured in {crs} ({name}); sliver {sliver:g}, nest {nest:g}.").format(
        crs=result.crs.to_string(), name=result.crs.name, sliver=result.sliver, nest=result.nest)), soft_wrap=True)


# ------------------------------------------------------------------ microgrids


@app.command("microgrids", **COMMAND, help=_(
    "Cut every grid into micro-grids (微网格) of whole buildings, 30–100 households each by default.\n\n"
    "Micro-grids tile their grid (no gaps, no overlaps), are in one piece, and are numbered west to east in bands "
    "from north to south, with codes extending the grid's (WG010203-01, -02, …). A building crossing a grid "
    "boundary belongs to the grid holding most of it and is clipped to that grid. Buildings outside every grid "
    "are listed and left out. Writes microgrids.gpkg (layers microgrids and buildings)."))
@handled
def microgrids_cmd(
    grids: GRIDS,
    buildings: Annotated[str, typer.Argument(metavar=_("BUILDINGS"), help=_("Buildings layer: footprints or points, with households (户数)."))],
    streets: Annotated[Optional[str], typer.Option("--streets", help=_("Street lines: micro-grid borders then follow streets where the household counts allow."))] = None,
    households_per_microgrid: Annotated[Optional[str], typer.Option("--households-per-microgrid", help=_("Households per micro-grid, MIN:MAX (default {low}:{high}).").format(low=settings.MICROGRID_HOUSEHOLDS[0], high=settings.MICROGRID_HOUSEHOLDS[1]))] = None,
    households_per_building: Annotated[Optional[float], typer.Option("--households-per-building", help=_("Count a building with no households figure as N households (also when the layer has no households field). Without it, missing figures are an error."))] = None,
    grid_workers: Annotated[Optional[str], typer.Option("--grid-workers", help=_("Roster of grid workers (CSV or Excel: worker_id/网格员编号/工号, grid_id/网格编码; a column of names such as 网格员 or 姓名 is never taken as the id): one per micro-grid, in roster order. Only worker ids are written, never names."))] = None,
    grid_id: GridId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    out: Out = DEFAULT_OUT,
    shapefiles: Shapefiles = False,
):
    result = microgrids_job(grids, buildings, out, read=_read_options(engine, encoding, crs),
                            streets=streets, roster=grid_workers, grid_id=grid_id,
                            building_id=building_id, households=households,
                            households_per_building=households_per_building,
                            households_range=parse_range(households_per_microgrid) if households_per_microgrid else None)
    print_microgrids(result, staffed=bool(grid_workers))
    if shapefiles:
        write_shapefiles(out, microgrids=result, engine=engine)
    written = (_("Wrote {path} and {other}").format(path=out / "microgrids.gpkg", other=out / "shp" / "microgrids.shp")
               if shapefiles else _("Wrote {path}").format(path=out / "microgrids.gpkg"))
    out_console.print(escape(written), soft_wrap=True)


def print_microgrids(result, staffed: bool = False) -> None:
    """Micro-grids within, under and over the household range, buildings left out, and (``staffed``)
    micro-grids without a worker."""
    s = result.summary()
    lo, hi = result.households_range
    t = Table(Column("", overflow="fold"), Column(_("count"), justify="right"), title=_("Micro-grids"))
    rows = [(_("grids"), s["grids"]), (_("micro-grids"), s["microgrids"]),
            (_("  with {low}–{high} households").format(low=lo, high=hi), s["within_range"]),
            (_("  under {low}").format(low=lo), s["below_min"]),
            (_("  over {high} (a building alone, or a grid that allows no better)").format(high=hi), s["above_max"]),
            (_("  in several parts (their grid is)"), s["multipart"]),
            (_("buildings crossing a grid boundary"), s["buildings_crossing"]),
            (_("buildings outside every grid"), s["buildings_outside"])]
    if staffed:
        rows.append((_("micro-grids without a worker"), s["unstaffed"]))
    for label, value in rows:
        t.add_row(escape(label), str(value))
    out_console.print(t)
    q = s["quantiles"]
    if q:
        out_console.print(escape(_("Households per micro-grid: min {low:,.0f}, median {median:,.0f}, max {high:,.0f}.")
                                 .format(low=q[0], median=q[0.5], high=q[1])))


# ------------------------------------------------------------------ org


@app.command("org", **COMMAND, help=_(
    "Lay out the party organisation: community committee → compound (grid) branches → building groups.\n\n"
    "Units follow the three situations and the member counts (docs/design.md §3). Writes organization.csv, "
    "organization.json and organization.xlsx (counts only: no names or phone numbers), and with --roster a "
    "separate member roster."))
@handled
def org_cmd(
    compounds: COMPOUNDS,
    grids: Annotated[str, typer.Argument(metavar=_("GRIDS"), help=_("Grids layer (网格), with their community (社区) if known."))],
    buildings: Annotated[str, typer.Option("--buildings", help=_("Buildings layer (楼栋): footprints or points with a building id; households and party members optional."))],
    members: Annotated[Optional[list[str]], typer.Option("--members", help=_("Member ledger (台账), CSV or .xlsx, columns member_id/党员编号, name/姓名, building_id/楼栋编码, category/类别, phone/电话; repeat for one file per category. Without it, counts come from the buildings' party-member field."))] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help=_("Community polygons (社区); by default the grids' community field, else one tree for the whole area."))] = None,
    proposal: Annotated[Optional[str], typer.Option("--proposal", help=_("Alignment proposal (proposal.gpkg from gridmap align): lay the organisation out on its grids."))] = None,
    roster: Annotated[Optional[Path], typer.Option("--roster", help=_("Also write a member roster (names, unit, group) for the community office, CSV or .xlsx. It holds personal data: keep it apart from shared outputs."))] = None,
    ledger_encoding: Annotated[Optional[str], typer.Option("--ledger-encoding", help=_("Encoding of CSV ledgers; by default UTF-8 (with or without BOM), else GB18030."))] = None,
    party_members: Annotated[Optional[str], typer.Option("--party-members", help=_("Buildings' party-member field, used without a ledger (default: party_members, 党员数)."))] = None,
    branch_min: Annotated[Optional[int], typer.Option("--branch-min", help=_("Members a branch needs; smaller units are joined with neighbours (default {value}).").format(value=settings.BRANCH_MIN_MEMBERS))] = None,
    branch_max: Annotated[Optional[int], typer.Option("--branch-max", help=_("Members a branch holds at most; larger units become general branches (党总支) (default {value}).").format(value=settings.BRANCH_MAX_MEMBERS))] = None,
    committee_min: Annotated[Optional[int], typer.Option("--committee-min", help=_("Members from which a branch has a committee (支委会) (default {value}).").format(value=settings.COMMITTEE_MIN_MEMBERS))] = None,
    group_min: Annotated[Optional[int], typer.Option("--group-min", help=_("Members a building group (党小组) needs; smaller buildings join a neighbour's (default {value}).").format(value=settings.GROUP_MIN_MEMBERS))] = None,
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    sliver: Sliver = None,
    nest: Nest = None,
    out: Out = DEFAULT_OUT,
):
    given = dict(branch_min=branch_min, branch_max=branch_max, committee_min=committee_min, group_min=group_min)
    thresholds = Thresholds(**{k: v for k, v in given.items() if v is not None})
    org = org_job(compounds, grids, buildings, out, members=members, communities=communities,
                  proposal=proposal, roster=str(roster) if roster else None,
                  read=_read_options(engine, encoding, crs), ledger_encoding=ledger_encoding,
                  compound_id=compound_id, grid_id=grid_id,
                  building_id=building_id, households=households, party_members=party_members,
                  sliver=sliver, nest=nest, thresholds=thresholds)
    print_organisation(org)
    files = "organization.csv, organization.json, organization.xlsx"
    written = (_("Wrote {files} in {folder}, and the roster {roster}").format(files=files, folder=out, roster=roster)
               if roster else _("Wrote {files} in {folder}").format(files=files, folder=out))
    out_console.print(escape(written), soft_wrap=True)


def print_organisation(org) -> None:
    """Units by kind per community, and members placed and not placed."""
    summary = org.summary()
    # Six kinds beside the community fit 80 columns when each label takes two short lines; under
    # English a caption says what the labels are.
    legend = " · ".join(f"{vocab.KIND_LABELS[k]} {k.replace('_', ' ')}" for k in vocab.KINDS)
    t = Table(Column(_("community"), overflow="fold"), title=_("Organisation (units by kind)"),
              caption=None if language() == "zh" else legend)
    for kind in vocab.KINDS:
        t.add_column(_two_lines(vocab.KIND_LABELS[kind]), justify="right")
    t.add_column(_("members"), justify="right")
    for r in summary.to_dict("records"):
        total = r["community"] == TOTAL
        t.add_row(escape(_("total") if total else r["community"] or _("(all)")),
                  *[str(r[k]) for k in vocab.KINDS], str(r["members"]), style="bold" if total else None)
    out_console.print(t)
    review = int(summary.review.iloc[-1]) if len(summary) else 0
    if review:
        out_console.print(escape(_("Units to review: {count} (column review of organization.csv, 需复核 in "
                                   "organization.xlsx).").format(count=review)), soft_wrap=True)
    source = _("ledger") if org.source == "ledger" else org.source
    said = _("Members: {total} ({source}); placed in a group {placed}; not placed {unplaced}").format(
        total=org.members_total, source=source, placed=org.members_placed, unplaced=org.members_unplaced)
    out_console.print(escape(said), style=None if org.members_unplaced == 0 else "red", soft_wrap=True)


def _two_lines(label: str) -> str:
    """A label of four or more Chinese characters on two lines (社区 / 党委), for a narrow column."""
    return label if len(label) < 4 else label[:len(label) // 2] + "\n" + label[len(label) // 2:]


# ------------------------------------------------------------------ map


@app.command("map", **COMMAND, help=_(
    "Write offline HTML maps: index.html, one page per community, and proposal.html with --proposal.\n\n"
    "Pages are self-contained (Leaflet inlined) and open with no internet; compounds are coloured by situation "
    "and outlined by type, with grids, micro-grids, buildings, stations, a legend, a layer control, search by "
    "compound name and the community's organisation beside the map."))
@handled
def map_cmd(
    compounds: COMPOUNDS,
    grids: Annotated[str, typer.Argument(metavar=_("GRIDS"), help=_("Grids layer (网格), with their community (社区) if known."))],
    buildings: Annotated[Optional[str], typer.Option("--buildings", help=_("Buildings layer (楼栋): footprints or points; shown with their group (党小组)."))] = None,
    members: Annotated[Optional[str], typer.Option("--members", help=_("Member ledger (CSV/Excel): only its count of members per building is shown, never names."))] = None,
    microgrids: Annotated[Optional[str], typer.Option("--microgrids", help=_("Micro-grids (microgrids.gpkg from gridmap microgrids), drawn per community."))] = None,
    proposal: Annotated[Optional[str], typer.Option("--proposal", help=_("Alignment proposal (proposal.gpkg from gridmap align): adds the planners' view proposal.html."))] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help=_("Community polygons (社区); by default the grids' community field, else map sections of a few dozen grids."))] = None,
    stations: Annotated[Optional[str], typer.Option("--stations", help=_("Party-mass service stations (党群服务站), points: compounds farther than --walk-m from every station are marked."))] = None,
    streets: Annotated[Optional[str], typer.Option("--streets", help=_("Street lines: with --stations, distances are walked along the streets (else straight-line)."))] = None,
    walk_m: Annotated[Optional[float], typer.Option("--walk-m", help=_("Walking distance (m) to a station within which a compound is served (default {value:g}).").format(value=settings.WALK_M))] = None,
    org: Annotated[Optional[str], typer.Option("--org", help=_("organization.csv from gridmap org (default: the one in --out, if there)."))] = None,
    grid_workers: Annotated[Optional[str], typer.Option("--grid-workers", help=_("Roster of grid workers (worker_id, grid_id): worker ids are shown, never names."))] = None,
    basemap: Annotated[Optional[str], typer.Option("--basemap", help=_("Background tiles: osm, tianditu (needs --tianditu-key), gaode (data shifted to GCJ-02) or none. Offline, tiles are simply missing."))] = None,
    tianditu_key: Annotated[Optional[str], typer.Option("--tianditu-key", help=_("Tianditu token for --basemap tianditu."))] = None,
    attribution: Annotated[Optional[str], typer.Option("--attribution", help=_("Data credit shown on every map (OpenStreetMap-derived layers get one by default)."))] = None,
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    sliver: Sliver = None,
    nest: Nest = None,
    out: Out = DEFAULT_OUT,
):
    pages = map_job(compounds, grids, out, read=_read_options(engine, encoding, crs),
                    compound_id=compound_id, grid_id=grid_id, building_id=building_id,
                    households=households, buildings=buildings, members=members,
                    microgrids=microgrids, proposal=proposal, communities=communities,
                    stations=stations, org=org, workers=grid_workers, basemap=basemap,
                    tianditu_key=tianditu_key, attribution=attribution, sliver=sliver, nest=nest,
                    streets=streets, walk_m=walk_m)
    t = Table(Column(_("page"), overflow="fold"), Column(_("size"), justify="right"), title=_("Map pages"))
    for path in pages:
        t.add_row(escape(path.name), f"{path.stat().st_size / 1e6:.2f} MB")
    out_console.print(t)
    out_console.print(escape(_("Wrote {count} pages in {folder}; open {index} in a browser.").format(
        count=len(pages), folder=out, index=out / "index.html")), soft_wrap=True)


# ------------------------------------------------------------------ align


def _id_list(text: str | None) -> list[str]:
    """A comma list (ASCII or Chinese commas) as clean items."""
    if not text:
        return []
    return [t.strip() for t in text.replace("，", ",").replace("、", ",").split(",") if t.strip()]


@app.command("align", **COMMAND, help=_(
    "Propose grid boundaries under which no compound straddles grids (拉平对齐).\n\n"
    "Each straddling compound moves wholly into one of its grids, chosen per community by an exact optimiser "
    "(fewest households moved, never more grids outside the household range than before); one with more "
    "households than a grid's maximum is tiled by grids inside it. Land never moves between communities; grids "
    "stay in one piece and keep their ids. Households are the grids' own 户数, else their buildings', else their "
    "compounds'. Writes proposal.gpkg (layers grids and changes: every piece of land that changes grid, with its "
    "reason) and proposal.csv."))
@handled
def align_cmd(
    compounds: COMPOUNDS, grids: GRIDS,
    grid_households: Annotated[Optional[str], typer.Option("--grid-households", help=_("Households a grid should hold, MIN:MAX. A compound with more than MAX is tiled by grids inside it; a loose piece with at least MIN becomes a grid. Default {low}:{high}.").format(low=settings.GRID_HOUSEHOLDS[0], high=settings.GRID_HOUSEHOLDS[1]))] = None,
    types: Annotated[Optional[str], typer.Option("--types", help=_("Align only compounds of these types, comma-separated (e.g. 老旧型); compounds without a type (inferred outlines) are included."))] = None,
    keep: Annotated[Optional[str], typer.Option("--keep", help=_("Grid ids that must not change, comma-separated."))] = None,
    buildings: Annotated[Optional[str], typer.Option("--buildings", help=_("Buildings with households (and a compound id): a grid's households when it has no 户数 of its own, located where people live; with --streets, outlines for compounds that have buildings but no polygon are inferred first."))] = None,
    streets: Annotated[Optional[str], typer.Option("--streets", help=_("Street lines bounding inferred outlines (with --buildings)."))] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help=_("Communities layer (社区): the community of grids without a community field; land never moves between communities."))] = None,
    edits: Annotated[Optional[str], typer.Option("--edits", help=_("A planner's edits.csv (compound_id, to_grid_id, note; 导出调整 in proposal.html): each compound lies wholly in that grid, and the rest is aligned around them."))] = None,
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    sliver: Sliver = None,
    nest: Nest = None,
    out: Out = DEFAULT_OUT,
    shapefiles: Shapefiles = False,
):
    result = align_job(compounds, grids, out, read=_read_options(engine, encoding, crs),
                       compound_id=compound_id, grid_id=grid_id, households=households,
                       grid_households=check_range(grid_households) if grid_households else None, types=_id_list(types),
                       keep=_id_list(keep), buildings=buildings, streets=streets,
                       building_id=building_id, sliver=sliver, nest=nest, communities=communities,
                       edits=edits)
    print_alignment(result)
    if shapefiles:
        write_shapefiles(out, alignment=result, engine=engine)
    written = "proposal.gpkg, proposal.csv" + (", inferred.gpkg" if result.inferred is not None else "") \
        + (", shp/proposal_grids.shp" if shapefiles else "")
    out_console.print(escape(_("Wrote {files} in {folder}").format(files=written, folder=out)), soft_wrap=True)


BASIS = {"grids": N_("the grids' own field"), "buildings": N_("their buildings"),  # households_basis
         "compounds": N_("their compounds")}


def print_alignment(result) -> None:
    """Straddling compounds, grids changed, area and households moved, before and after."""
    s = result.summary
    t = Table(Column("", overflow="fold"), Column(_("before"), justify="right"), Column(_("after"), justify="right"),
              title=_("Alignment proposal"))
    t.add_row(escape(_("compounds straddling grids ({label})").format(label=_situation("mixed"))),
              str(s["straddling_before"]), str(s["straddling_after"]))
    if s["straddling_in_scope_before"] != s["straddling_before"]:
        t.add_row(escape(_("  of the types aligned")), str(s["straddling_in_scope_before"]),
                  str(s["straddling_in_scope_after"]))
    t.add_row(escape(_("grids")), str(s["grids_before"]), str(s["grids_after"]))
    low, high = s["grid_households"]
    if s["capacity_enforced"]:
        t.add_row(escape(_("grids outside {low:g}–{high:g} households").format(low=low, high=high)),
                  str(s["outside_range_before"]), str(s["outside_range_after"]))
    out_console.print(t)
    out_console.print(escape(_("Grids kept {kept}, changed {changed}, new {new}, removed {removed}.").format(
        kept=s["grids_kept"], changed=s["grids_changed"], new=s["grids_new"], removed=s["grids_removed"])),
        soft_wrap=True)
    figures = dict(compounds=s["compounds_moved"], compound_m2=s["compound_area_moved_m2"],
                   other_m2=max(s["land_moved_m2"] - s["compound_area_moved_m2"], 0), households=s.get("households_moved"))
    if s["capacity_enforced"]:
        moved = _("Moved: {compounds} compounds, {compound_m2:,.0f} m² of compound land and {other_m2:,.0f} m² "
                  "outside compounds, {households:,.0f} households.").format(**figures)
        basis = ", ".join(f"{v} {_(BASIS.get(k, k))}" for k, v in (s.get("households_basis") or {}).items())
        if basis:
            moved += " " + _("Grids' households from: {basis}.").format(basis=basis)
    else:
        moved = _("Moved: {compounds} compounds, {compound_m2:,.0f} m² of compound land and {other_m2:,.0f} m² "
                  "outside compounds. No households field: grid capacity was not enforced (shares of area "
                  "decided); name one with --households.").format(**figures)
    out_console.print(escape(moved), soft_wrap=True)
    by_reason = ", ".join(f"{term(k, vocab.CHANGE_REASONS.get(k, k))} {v}"
                          for k, v in s.get("changes_by_reason", {}).items())
    out_console.print(escape(_("Changes: {count} pieces of land{reasons}; grids taking land from another community: "
                               "{crossing}.").format(count=s.get("changes_rows", len(result.changes)),
                                                     reasons=f" ({by_reason})" if by_reason else "",
                                                     crossing=s.get("grids_crossing_community", 0))), soft_wrap=True)
    if s.get("empty_new_grids"):
        empty = ", ".join(s.get("empty_new_grids_ids", []))
        out_console.print(escape(_("New grids without households (the only way to keep a grid in one piece): "
                                   "{grids}.").format(grids=empty)), soft_wrap=True)
    if result.inferred is not None:
        out_console.print(escape(_("Outlines inferred from buildings first: {count}.").format(count=len(result.inferred))))
    if s.get("planner_edits"):
        out_console.print(escape(_("Planner's edits applied: {edits} (compounds moved: {moved}; reason planner in "
                                   "changes).").format(edits=s["planner_edits"], moved=s["planner_compounds_moved"])))
    if len(result.unresolved):
        out_console.print(escape(_("{count} compounds still straddle grids:").format(count=len(result.unresolved))),
                          style="yellow")
        for r in result.unresolved.head(10).itertuples():
            reason = term(r.reason, vocab.UNRESOLVED_REASONS.get(r.reason, r.reason))
            out_console.print(escape(f"  {r.compound_id} ({r.grid_ids}): {reason}"), soft_wrap=True)


# ------------------------------------------------------------------ infer


@app.command("infer", **COMMAND, help=_(
    "Draw outlines for compounds that have buildings but no polygon.\n\n"
    "The space between buildings is shared out street block by street block (each point to the nearest "
    "building); a compound's outline is its buildings' share, kept within --reach of them, off the streets and "
    "off existing compounds. Writes inferred.gpkg (layer compounds)."))
@handled
def infer_cmd(
    buildings: Annotated[str, typer.Argument(metavar=_("BUILDINGS"), help=_("Buildings layer (楼栋) with a compound id."))],
    streets: Annotated[str, typer.Option("--streets", help=_("Street lines: outlines stay between them."))],
    compounds: Annotated[Optional[str], typer.Option("--compounds", help=_("Existing compounds: outlines are drawn for compound ids that have none, and do not overlap them."))] = None,
    reach: Annotated[Optional[float], typer.Option("--reach", help=_("How far (m) an outline may extend beyond the hull of its buildings (default {value:g}).").format(value=settings.INFER_REACH))] = None,
    clearance: Annotated[Optional[float], typer.Option("--clearance", help=_("Distance (m) outlines keep from street centrelines (default {value:g}).").format(value=settings.INFER_CLEARANCE))] = None,
    compound_id: CompoundId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    out: Out = DEFAULT_OUT,
):
    result = infer_job(buildings, out, streets=streets, compounds=compounds,
                       read=_read_options(engine, encoding, crs), compound_id=compound_id,
                       building_id=building_id, households=households, reach=reach,
                       clearance=clearance)
    c = result.compounds
    figures = dict(count=len(c), buildings=int(c.n_buildings.sum()) if len(c) else 0, skipped=len(result.skipped))
    if len(c) and c.households.notna().any():
        said = _("Inferred {count} outlines ({buildings} buildings, {households:,.0f} households); {skipped} buildings "
                 "without a compound id were left out.").format(households=c.households.sum(), **figures)
    else:
        said = _("Inferred {count} outlines ({buildings} buildings); {skipped} buildings without a compound id were "
                 "left out.").format(**figures)
    out_console.print(escape(said), soft_wrap=True)
    short = c[c.buildings_outside > 0] if len(c) else c
    if len(short):
        out_console.print(escape(_("{count} outlines do not hold all their buildings (they overlap an existing "
                                   "compound, another outline or a street).").format(count=len(short))),
                          style="yellow", soft_wrap=True)
    out_console.print(escape(_("Wrote {path}").format(path=out / "inferred.gpkg")), soft_wrap=True)


# ------------------------------------------------------------------ run, demo, init


@app.command("run", **COMMAND, help=_(
    "Run every stage: validate, classify, align, organise, micro-grids, station reach, maps, report.\n\n"
    "All outputs land in one folder, written aside and moved into place only when every stage has run, so the "
    "folder never mixes two runs. A stage that fails names itself; what earlier stages wrote is kept in "
    "OUT.incomplete. Stages that need a layer you did not give are skipped with a note (no buildings: no "
    "organisation, no micro-grids)."))
@handled
def run_cmd(
    project_file: Annotated[Optional[Path], typer.Argument(metavar=_("PROJECT_FILE"), help=_("Project file (TOML; `gridmap init` writes a template). Or give the layers as flags."), show_default=False)] = None,
    compounds: Annotated[Optional[str], typer.Option("--compounds", help=_("Compounds layer (小区)."))] = None,
    grids: Annotated[Optional[str], typer.Option("--grids", help=_("Grids layer (网格)."))] = None,
    buildings: Annotated[Optional[str], typer.Option("--buildings", help=_("Buildings layer (楼栋): organisation and micro-grids."))] = None,
    members: Annotated[Optional[str], typer.Option("--members", help=_("Member ledger (CSV or Excel)."))] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help=_("Communities layer (社区)."))] = None,
    streets: Annotated[Optional[str], typer.Option("--streets", help=_("Streets layer (lines): outline inference, micro-grid borders, walking distances."))] = None,
    stations: Annotated[Optional[str], typer.Option("--stations", help=_("Party-service stations (党群服务站, points)."))] = None,
    grid_workers: Annotated[Optional[str], typer.Option("--grid-workers", help=_("Grid workers roster (worker_id, name, grid_id)."))] = None,
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    sliver: Sliver = None,
    nest: Nest = None,
    grid_households: Annotated[Optional[str], typer.Option("--grid-households", help=_("Households a grid should hold, MIN:MAX (default {low}:{high}).").format(low=settings.GRID_HOUSEHOLDS[0], high=settings.GRID_HOUSEHOLDS[1]))] = None,
    microgrid_households: Annotated[Optional[str], typer.Option("--households-per-microgrid", help=_("Households a micro-grid should hold, MIN:MAX (default {low}:{high}).").format(low=settings.MICROGRID_HOUSEHOLDS[0], high=settings.MICROGRID_HOUSEHOLDS[1]))] = None,
    walk_m: Annotated[Optional[float], typer.Option("--walk-m", help=_("Walking distance (m) to a station within which a compound is served (default {value:g}).").format(value=settings.WALK_M))] = None,
    layout_on: Annotated[Optional[str], typer.Option("--layout-on", help=_("Grids to lay organisation, micro-grids, maps and report on: current (default) or proposal (the alignment proposal's)."))] = None,
    basemap: Annotated[Optional[str], typer.Option("--basemap", help=_("osm, tianditu, gaode or none (default {value}).").format(value=settings.BASEMAP))] = None,
    tianditu_key: Annotated[Optional[str], typer.Option("--tianditu-key", help=_("Tianditu token for --basemap tianditu."))] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help=_("Output folder (default: the project file's, else gridmap-out). Replaced as a whole."))] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help=_("Run the per-community stages on a local Dask cluster of N worker processes."))] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help=_("Run them on an existing dask.distributed cluster: tcp://HOST:PORT of `dask scheduler` (the output folder must be on storage every worker sees)."))] = None,
    to_db: Annotated[Optional[str], typer.Option("--to-db", help=_("Also write the run's tables into a PostGIS schema: postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA (password from PGPASSWORD or ~/.pgpass, never in the URL)."))] = None,
    paper: Annotated[Optional[str], typer.Option("--paper", help=_("Paper of the offices' print maps (offices/<community>/map.pdf): A3 (default) or A4, landscape."))] = None,
    roster: Annotated[Optional[Path], typer.Option("--roster", help=_("Also write the member roster with the sheets 书记人选 and 支委人选 (secretary and committee candidates from the ledger's 身份 column) to this .xlsx (or .csv: members only), and each office's own (offices/<community>/roster.xlsx). It holds personal data: keep it apart from shared outputs. Needs the ledger."))] = None,
):
    if project_file is not None:
        if compounds or grids:
            raise GridmapError(_("Give either a project file or --compounds/--grids, not both."))
        project = load_project(project_file)
        if out is not None:
            project.out = out
    else:
        project = _project_from_flags(locals())
    if to_db is not None:
        project.database = to_db
    if paper is not None:
        project.paper = paper_size(paper)[0]  # a wrong paper fails before any stage runs
    if roster is not None:
        project.roster_file = str(roster.resolve())
    if layout_on is not None:
        if layout_on not in LAYOUT_ON:
            raise GridmapError(f"--layout-on {layout_on!r}: use one of {', '.join(LAYOUT_ON)}.")
        project.rules["layout_on"] = layout_on
    _run(project, workers=workers, scheduler=scheduler)


def _project_from_flags(flags: dict):
    if not flags["compounds"] or not flags["grids"]:
        raise GridmapError(_("gridmap run needs a project file (gridmap run project.toml; `gridmap init` "
                             "writes one) or at least --compounds and --grids."))
    fields = {
        "compounds": {"id": flags["compound_id"], "households": flags["households"]},
        "grids": {"id": flags["grid_id"]},
        "buildings": {"id": flags["building_id"], "households": flags["households"],
                      "compound": flags["compound_id"]},
    }
    layers = {name: LayerConfig(flags[name], {k: v for k, v in fields.get(name, {}).items() if v})
              for name in ("compounds", "grids", "buildings", "members", "communities", "streets", "stations",
                           "grid_workers") if flags[name]}
    rules = {"sliver": flags["sliver"], "nest": flags["nest"], "walk_m": flags["walk_m"],
             "grid_households": flags["grid_households"] and list(parse_range(flags["grid_households"], "--grid-households")),
             "microgrid_households": flags["microgrid_households"] and list(
                 parse_range(flags["microgrid_households"], "--households-per-microgrid"))}
    rules = {k: v for k, v in rules.items() if v is not None}
    return Project(layers=layers, rules=rules, basemap=flags["basemap"] or settings.BASEMAP, tianditu_key=flags["tianditu_key"],
                   out=flags["out"] or DEFAULT_OUT, crs=list(flags["crs"]) or None if flags["crs"] else None,
                   encoding=list(flags["encoding"]) or None if flags["encoding"] else None,
                   engine=flags["engine"] or settings.ENGINE)


def _run(project, workers: int | None = None, scheduler: str | None = None) -> None:
    with RunProgress(len(STAGES), err_console) as bar:
        result = run_job(project, progress=bar.update, workers=workers, scheduler=scheduler)
    print_run_summary(result)


def print_run_summary(result) -> None:
    """The figures of each stage, the notes, and where the maps and report are."""
    print_classification(result.classification)
    t = Table(Column(_("stage"), overflow="fold"), Column(_("result"), overflow="fold"),
              Column(_("s"), justify="right"), title=_("Run"))
    seconds = {k: str(v) for k, v in result.seconds.items()}
    a = result.alignment
    if a is not None:
        s = a.summary
        t.add_row(_("align"), _("straddling compounds {before} → {after}; {changed} grids changed").format(
            before=s.get("straddling_before"), after=s.get("straddling_after"), changed=s.get("grids_changed", 0)),
            seconds.get("align", ""))
    if result.organisation is not None:
        org = result.organisation
        kinds = _(", ").join(f"{term(k, vocab.kind_label(k))} {v}" for k, v in org.units.kind.value_counts().items())
        t.add_row(_("organise"), _("{kinds}; members placed {placed}/{total}").format(
            kinds=kinds, placed=org.members_placed, total=org.members_total), seconds.get("organise", ""))
    if result.microgrids is not None:
        mg = result.microgrids.microgrids
        t.add_row(_("micro-grids"), _("{count} micro-grids, median {median:.0f} households").format(
            count=len(mg), median=mg.households.median()), seconds.get("microgrids", ""))
    if result.funding is not None:
        total = result.funding.iloc[-1]
        t.add_row(_("funding"), _("one-off ¥{once:,}, per year ¥{yearly:,} (funding.csv)").format(
            once=total.one_off, yearly=total.per_year), "")
    if result.reach is not None:
        t.add_row(_("reach"), _("{count} compounds beyond walking distance of a station").format(
            count=int((~result.reach.served).sum())), seconds.get("reach", ""))
    t.add_row(_("maps"), _("{count} pages").format(count=len(result.pages)), seconds.get("maps", ""))
    if result.offices:
        t.add_row(_("offices"), _("{count} folders in offices/ (map.pdf, tables.xlsx); shapefiles in shp/").format(
            count=len(result.offices)), seconds.get("offices", ""))
    out_console.print(t)
    for text in result.notes:
        out_console.print(_labelled(_("Note:"), "dim", text), soft_wrap=True)
    out_console.print(escape(_("Outputs in {folder}").format(folder=result.out)), soft_wrap=True)
    out_console.print(escape(_("Maps:   {index}").format(index=result.index)), soft_wrap=True)
    if result.report:
        out_console.print(escape(_("Report: {html}  and  {xlsx}").format(html=result.report[0], xlsx=result.report[1])),
                          soft_wrap=True)
    out_console.print(escape(_("Done in {seconds:.1f} s.").format(seconds=sum(result.seconds.values()))))


@app.command("demo", **COMMAND, help=_(
    "Run every stage on the bundled central-Taiyuan sample (OpenStreetMap compounds and streets, synthesised "
    "grids, buildings and members) and say where the maps and the report are."))
@handled
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help=_("Output folder (replaced as a whole)."))] = Path("gridmap-demo"),
    workers: Annotated[Optional[int], typer.Option("--workers", help=_("Per-community stages on a local Dask cluster of N processes."))] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help=_("Per-community stages on the dask.distributed scheduler at tcp://HOST:PORT."))] = None,
):
    _run(demo_project(out), workers=workers, scheduler=scheduler)


@app.command("init", **COMMAND, help=_("Write a commented project-file template for `gridmap run`."))
@handled
def init_cmd(
    path: Annotated[Path, typer.Argument(metavar=_("PATH"), help=_("Project file to write."))] = Path("gridmap.toml"),
):
    written = write_template(path)
    out_console.print(escape(_("Wrote {path}: edit the layer paths and fields, then run `gridmap run {path}`.").format(
        path=written)), soft_wrap=True)


# ------------------------------------------------------------------ entry point


def main() -> None:
    """Console-script entry point; ``--debug`` anywhere shows tracebacks and debug logs."""
    global DEBUG
    argv = sys.argv[1:]
    if "--debug" in argv:
        DEBUG = True
        argv = [a for a in argv if a != "--debug"]
    logging.basicConfig(level=logging.DEBUG if DEBUG else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)])
    if not DEBUG:
        logging.getLogger("gridmap").setLevel(logging.INFO if "--verbose" in argv else logging.WARNING)
    argv = [a for a in argv if a != "--verbose"]
    app(args=argv, prog_name="gridmap")


if __name__ == "__main__":
    main()
