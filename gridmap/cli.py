"""The ``gridmap`` command: a thin typer + rich shell over the jobs (``gridmap.jobs``) and the run
(``gridmap.pipeline``).

Problems with the user's input are ``GridmapError``: printed as one paragraph, exit status 1, no
traceback unless ``--debug`` is given (anywhere on the command line).
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
from rich.table import Table

from gridmap import settings, vocab
from gridmap.align import check_range
from gridmap.errors import GridmapError, GridmapWarning
from gridmap.io import ReadOptions, find_field
from gridmap.jobs import (align_job, check_job, classify_job, infer_job, map_job, microgrids_job, org_job,
                          write_shapefiles)
from gridmap.offices import paper_size
from gridmap.org import Thresholds
from gridmap.pipeline import STAGES, demo_project, run_job
from gridmap.project import LAYOUT_ON, LayerConfig, Project, load_project, parse_range, write_template

app = typer.Typer(
    name="gridmap",
    help="Compounds (小区) and grids (网格): the three situations, alignment, organisation, "
         "micro-grids and offline maps. Layers are paths, or PATH:LAYER for multi-layer sources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
DEBUG = False

# ------------------------------------------------------------------ shared options
CompoundId = Annotated[Optional[str], typer.Option("--compound-id", help="Compound id field (default: compound_id, 小区编码, 小区编号, XQBM).")]
GridId = Annotated[Optional[str], typer.Option("--grid-id", help="Grid id field (default: grid_id, 网格编码, 网格编号, WGBM).")]
BuildingId = Annotated[Optional[str], typer.Option("--building-id", help="Building id field (default: building_id, 楼栋编码).")]
Households = Annotated[Optional[str], typer.Option("--households", help="Households field (default: households, 户数).")]
Crs = Annotated[Optional[list[str]], typer.Option("--crs", help="CRS for layers that have none (a shapefile without .prj, a CSV), e.g. EPSG:4490; gcj02 or bd09 for data digitised on Gaode or Baidu maps (converted to WGS 84); NAME=EPSG:CODE sets the CRS of the layer NAME (its role, file name or stem) even over a wrong .prj. Repeatable or comma-separated.")]
Encoding = Annotated[Optional[list[str]], typer.Option("--encoding", help="Attribute encoding of shapefiles and CSVs, e.g. gb18030; NAME=ENCODING for one layer (its role, file name or stem), e.g. --encoding compounds=gbk. Repeatable or comma-separated. By default .cpg / code page, else UTF-8, else GB18030.")]
Engine = Annotated[Optional[str], typer.Option("--engine", help=f"I/O engine: pyogrio or fiona (default {settings.ENGINE}).")]
Sliver = Annotated[Optional[float], typer.Option("--sliver", help=f"Overlaps below this share of the compound's and of the grid's area are slivers, reported but not used (default {settings.SLIVER:g}).")]
Nest = Annotated[Optional[float], typer.Option("--nest", help=f"A grid nests in a compound when at least this share of its area lies in it (default {settings.NEST:g}).")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
Shapefiles = Annotated[bool, typer.Option("--shapefiles", help="Also write shp/ in --out: shapefiles for ArcGIS and SuperMap (GBK, Chinese field names).")]
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
                err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
                raise typer.Exit(1) from None
            except OSError as exc:  # a file that cannot be read or written (permissions, disk full)
                if DEBUG:
                    raise
                where = f"{exc.filename}: " if exc.filename else ""
                err_console.print(f"[bold red]Error:[/] {escape(where)}{escape(exc.strerror or str(exc))}. Check that "
                                  "the file or folder exists and that you may read or write it, and that the "
                                  "disk has room.", soft_wrap=True, highlight=False)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                err_console.print("[red]Interrupted[/]; outputs already moved into place are complete, "
                                  "others were not written.")
                raise typer.Exit(130) from None
            except Exception as exc:  # an unforeseen failure: still no traceback for users
                if DEBUG:
                    raise
                err_console.print(f"[bold red]Error:[/] unexpected {type(exc).__name__}: {escape(str(exc))}. "
                                  "Run again with --debug for the traceback, and report it.",
                                  soft_wrap=True)
                raise typer.Exit(2) from None

    return wrapper


_SHOWN: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # Stages that classify again raise the same warning again: say it once.
    if str(message) in _SHOWN:
        return
    _SHOWN.add(str(message))
    name = category.__name__ if issubclass(category, GridmapWarning) else "Warning"
    err_console.print(f"[yellow]{name}:[/] {escape(str(message))}", soft_wrap=True, highlight=False)


def _read_options(engine: str, encoding: list[str] | None, crs: list[str] | None):
    return ReadOptions(engine=engine, encoding=list(encoding) or None if encoding else None,
                       crs=list(crs) or None if crs else None)


# ------------------------------------------------------------------ check


@app.command()
@handled
def check(
    layers: Annotated[list[str], typer.Argument(help="Layers to check (compounds, grids, …).")],
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    out: Out = DEFAULT_OUT,
):
    """Validate layers: ids, geometry types, invalid geometries, overlaps, gaps between grids.

    Writes check.csv. Exit status 0 when the layers are usable (repairs and warnings allowed),
    1 when a layer has errors. Null and empty geometries are dropped with a warning that counts
    them; invalid geometries are repaired with make_valid and listed.
    """
    table = check_job(layers, out, read=_read_options(engine, encoding, crs),
                      compound_id=compound_id, grid_id=grid_id)
    _print_issues(table)
    errors = int((table.severity == "error").sum()) if len(table) else 0
    out_console.print(f"Wrote {out / 'check.csv'}")
    if errors:
        err_console.print(f"[bold red]{errors} errors[/]: the layers are not usable as they are.")
        raise typer.Exit(1)
    out_console.print("[green]Usable[/]" + (f" ({len(table)} findings to review)" if len(table) else ": no findings"))


def _print_issues(table, limit: int = 40) -> None:
    if not len(table):
        return
    t = Table(title="Findings", show_lines=False)
    for col in ("layer", "feature_id", "severity", "issue", "detail"):
        t.add_column(col, overflow="fold")
    colour = {"error": "red", "repaired": "yellow", "dropped": "yellow", "warning": "cyan"}
    for r in table.head(limit).itertuples():
        t.add_row(escape(str(r.layer)), escape(str(r.feature_id)), f"[{colour.get(r.severity, 'white')}]{r.severity}[/]",
                  escape(str(r.issue)), escape(str(r.detail)))
    out_console.print(t)
    if len(table) > limit:
        out_console.print(f"… and {len(table) - limit} more in check.csv")


# ------------------------------------------------------------------ classify


@app.command("classify")
@handled
def classify_cmd(
    compounds: Annotated[str, typer.Argument(help="Compounds layer (小区).")],
    grids: Annotated[str, typer.Argument(help="Grids layer (网格).")],
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
    """Classify every compound and grid: large_compound, large_grid, equal, mixed, uncovered / no_compound.

    Writes compounds.csv, grids.csv, overlaps.csv and classification.gpkg. Null and empty
    geometries are dropped with a warning; invalid ones are repaired with make_valid.
    """
    result = classify_job(compounds, grids, out, read=_read_options(engine, encoding, crs),
                          compound_id=compound_id, grid_id=grid_id, sliver=sliver, nest=nest)
    print_classification(result)
    if shapefiles:
        write_shapefiles(out, classification=result, engine=engine)
    out_console.print("Wrote compounds.csv, grids.csv, overlaps.csv, classification.gpkg"
                      + (", shp/compounds.shp, shp/grids.shp" if shapefiles else "") + f" in {out}", soft_wrap=True)


def print_classification(result) -> None:
    """Counts per situation (and per compound type), and the CRS areas were measured in."""
    counts = result.counts()
    t = Table(title="Situations")
    t.add_column("situation")
    t.add_column("compounds", justify="right")
    t.add_column("grids", justify="right")
    for name in dict.fromkeys([*vocab.COMPOUND_SITUATIONS, *vocab.GRID_SITUATIONS, *counts["compounds"].index,
                               *counts["grids"].index]):
        c = counts["compounds"].get(name)
        g = counts["grids"].get(name)
        t.add_row(name, "" if c is None else str(c), "" if g is None else str(g))
    t.add_row("[bold]total", f"[bold]{len(result.compounds)}", f"[bold]{len(result.grids)}")
    out_console.print(t)
    type_field = find_field(result.compounds, "compound_type", required=False,
                            exclude=vocab.COMPUTED_COLUMNS)
    if type_field:
        types = result.compounds[type_field].map(vocab.canonical_type).fillna("(none)").astype(str)
        cross = pd.crosstab(types, result.compounds.situation)
        known = [t for t in vocab.COMPOUND_TYPES if t in cross.index]
        cross = cross.reindex(known + sorted(set(cross.index) - set(known)))
        cross = cross[[c for c in (*vocab.COMPOUND_SITUATIONS, vocab.NO_GEOMETRY) if c in cross.columns]]
        tt = Table(title=f"Compounds by type ({type_field}) and situation")
        tt.add_column(type_field)
        for col in cross.columns:
            tt.add_column(str(col), justify="right")
        for idx, row in cross.iterrows():
            tt.add_row(str(idx), *[str(v) for v in row])
        out_console.print(tt)
    out_console.print(f"Areas measured in {result.crs.to_string()} ({result.crs.name}); "
                      f"sliver {result.sliver:g}, nest {result.nest:g}.", soft_wrap=True)


# ------------------------------------------------------------------ microgrids


@app.command("microgrids")
@handled
def microgrids_cmd(
    grids: Annotated[str, typer.Argument(help="Grids layer (网格).")],
    buildings: Annotated[str, typer.Argument(help="Buildings layer: footprints or points, with households (户数).")],
    streets: Annotated[Optional[str], typer.Option("--streets", help="Street lines: micro-grid borders then follow streets where the household counts allow.")] = None,
    households_per_microgrid: Annotated[Optional[str], typer.Option("--households-per-microgrid", help="Households per micro-grid, MIN:MAX (default {}:{}).".format(*settings.MICROGRID_HOUSEHOLDS))] = None,
    households_per_building: Annotated[Optional[float], typer.Option("--households-per-building", help="Count a building with no households figure as N households (also when the layer has no households field). Without it, missing figures are an error.")] = None,
    grid_workers: Annotated[Optional[str], typer.Option("--grid-workers", help="Roster of grid workers (CSV or Excel: worker_id/网格员编号/工号, grid_id/网格编码; a column of names such as 网格员 or 姓名 is never taken as the id): one per micro-grid, in roster order. Only worker ids are written, never names.")] = None,
    grid_id: GridId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    out: Out = DEFAULT_OUT,
    shapefiles: Shapefiles = False,
):
    """Cut every grid into micro-grids (微网格) of whole buildings, 30–100 households each by default.

    Micro-grids tile their grid (no gaps, no overlaps), are in one piece, and are numbered west to
    east in bands from north to south, with codes extending the grid's (WG010203-01, -02, …).
    A building crossing a grid boundary belongs to the grid holding most of it and is clipped to
    that grid. Buildings outside every grid are listed and left out. Writes microgrids.gpkg
    (layers microgrids and buildings).
    """
    result = microgrids_job(grids, buildings, out, read=_read_options(engine, encoding, crs),
                            streets=streets, roster=grid_workers, grid_id=grid_id,
                            building_id=building_id, households=households,
                            households_per_building=households_per_building,
                            households_range=parse_range(households_per_microgrid) if households_per_microgrid else None)
    s = result.summary()
    lo, hi = result.households_range
    t = Table(title="Micro-grids")
    t.add_column("")
    t.add_column("count", justify="right")
    t.add_row("grids", str(s["grids"]))
    t.add_row("micro-grids", str(s["microgrids"]))
    t.add_row(f"  with {lo}–{hi} households", str(s["within_range"]))
    t.add_row(f"  under {lo}", str(s["below_min"]))
    t.add_row(f"  over {hi} (a building alone, or a grid that allows no better)", str(s["above_max"]))
    t.add_row("  in several parts (their grid is)", str(s["multipart"]))
    t.add_row("buildings crossing a grid boundary", str(s["buildings_crossing"]))
    t.add_row("buildings outside every grid", str(s["buildings_outside"]))
    if grid_workers:
        t.add_row("micro-grids without a worker", str(s["unstaffed"]))
    out_console.print(t)
    q = s["quantiles"]
    if q:
        out_console.print(f"Households per micro-grid: min {q[0]:g}, median {q[0.5]:g}, max {q[1]:g}.")
    if shapefiles:
        write_shapefiles(out, microgrids=result, engine=engine)
    out_console.print(f"Wrote {out / 'microgrids.gpkg'}" + (f" and {out / 'shp' / 'microgrids.shp'}" if shapefiles else ""))


# ------------------------------------------------------------------ org


@app.command("org")
@handled
def org_cmd(
    compounds: Annotated[str, typer.Argument(help="Compounds layer (小区).")],
    grids: Annotated[str, typer.Argument(help="Grids layer (网格), with their community (社区) if known.")],
    buildings: Annotated[str, typer.Option("--buildings", help="Buildings layer (楼栋): footprints or points with a building id; households and party members optional.")],
    members: Annotated[Optional[list[str]], typer.Option("--members", help="Member ledger (台账), CSV or .xlsx, columns member_id/党员编号, name/姓名, building_id/楼栋编码, category/类别, phone/电话; repeat for one file per category. Without it, counts come from the buildings' party-member field.")] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help="Community polygons (社区); by default the grids' community field, else one tree for the whole area.")] = None,
    proposal: Annotated[Optional[str], typer.Option("--proposal", help="Alignment proposal (proposal.gpkg from gridmap align): lay the organisation out on its grids.")] = None,
    roster: Annotated[Optional[Path], typer.Option("--roster", help="Also write a member roster (names, unit, group) for the community office, CSV or .xlsx. It holds personal data: keep it apart from shared outputs.")] = None,
    ledger_encoding: Annotated[Optional[str], typer.Option("--ledger-encoding", help="Encoding of CSV ledgers; by default UTF-8 (with or without BOM), else GB18030.")] = None,
    party_members: Annotated[Optional[str], typer.Option("--party-members", help="Buildings' party-member field, used without a ledger (default: party_members, 党员数).")] = None,
    branch_min: Annotated[Optional[int], typer.Option("--branch-min", help=f"Members a branch needs; smaller units are joined with neighbours (default {settings.BRANCH_MIN_MEMBERS}).")] = None,
    branch_max: Annotated[Optional[int], typer.Option("--branch-max", help=f"Members a branch holds at most; larger units become general branches (党总支) (default {settings.BRANCH_MAX_MEMBERS}).")] = None,
    committee_min: Annotated[Optional[int], typer.Option("--committee-min", help=f"Members from which a branch has a committee (支委会) (default {settings.COMMITTEE_MIN_MEMBERS}).")] = None,
    group_min: Annotated[Optional[int], typer.Option("--group-min", help=f"Members a building group (党小组) needs; smaller buildings join a neighbour's (default {settings.GROUP_MIN_MEMBERS}).")] = None,
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
    """Lay out the party organisation: community committee → compound (grid) branches → building groups.

    Units follow the three situations and the member counts (docs/design.md §3). Writes organization.csv,
    organization.json and organization.xlsx (counts only: no names or phone numbers), and with
    --roster a separate member roster.
    """
    given = dict(branch_min=branch_min, branch_max=branch_max, committee_min=committee_min, group_min=group_min)
    thresholds = Thresholds(**{k: v for k, v in given.items() if v is not None})
    org = org_job(compounds, grids, buildings, out, members=members, communities=communities,
                  proposal=proposal, roster=str(roster) if roster else None,
                  read=_read_options(engine, encoding, crs), ledger_encoding=ledger_encoding,
                  compound_id=compound_id, grid_id=grid_id,
                  building_id=building_id, households=households, party_members=party_members,
                  sliver=sliver, nest=nest, thresholds=thresholds)
    print_organisation(org)
    written = "organization.csv, organization.json, organization.xlsx"
    out_console.print(f"Wrote {written} in {out}" + (f", and the roster {roster}" if roster else ""))


def print_organisation(org) -> None:
    """Units by kind per community, and members placed and not placed."""
    summary = org.summary()
    t = Table(title="Organisation (units by kind)", caption=" · ".join(f"{vocab.KIND_LABELS[k]} {k.replace('_', ' ')}" for k in vocab.KINDS))
    t.add_column("community", no_wrap=True)
    for label in vocab.KIND_LABELS.values():
        t.add_column(label, justify="right")
    t.add_column("members", justify="right")
    t.add_column("review", justify="right")
    for r in summary.to_dict("records"):
        bold = "[bold]" if r["community"] == "合计" else ""
        t.add_row(bold + (r["community"] or "(all)"), *[f"{bold}{r[k]}" for k in vocab.KIND_LABELS],
                  f"{bold}{r['members']}", f"{bold}{r['review']}")
    out_console.print(t)
    colour = "green" if org.members_unplaced == 0 else "red"
    out_console.print(f"Members: {org.members_total} ({org.source}); placed in a group "
                      f"{org.members_placed}; [{colour}]not placed {org.members_unplaced}[/]")


# ------------------------------------------------------------------ map


@app.command("map")
@handled
def map_cmd(
    compounds: Annotated[str, typer.Argument(help="Compounds layer (小区).")],
    grids: Annotated[str, typer.Argument(help="Grids layer (网格), with their community (社区) if known.")],
    buildings: Annotated[Optional[str], typer.Option("--buildings", help="Buildings layer (楼栋): footprints or points; shown with their group (党小组).")] = None,
    members: Annotated[Optional[str], typer.Option("--members", help="Member ledger (CSV/Excel): only its count of members per building is shown, never names.")] = None,
    microgrids: Annotated[Optional[str], typer.Option("--microgrids", help="Micro-grids (microgrids.gpkg from gridmap microgrids), drawn per community.")] = None,
    proposal: Annotated[Optional[str], typer.Option("--proposal", help="Alignment proposal (proposal.gpkg from gridmap align): adds the planners' view proposal.html.")] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help="Community polygons (社区); by default the grids' community field, else map sections of a few dozen grids.")] = None,
    stations: Annotated[Optional[str], typer.Option("--stations", help="Party-mass service stations (党群服务站), points: compounds farther than --walk-m from every station are marked.")] = None,
    streets: Annotated[Optional[str], typer.Option("--streets", help="Street lines: with --stations, distances are walked along the streets (else straight-line).")] = None,
    walk_m: Annotated[Optional[float], typer.Option("--walk-m", help=f"Walking distance (m) to a station within which a compound is served (default {settings.WALK_M:g}).")] = None,
    org: Annotated[Optional[str], typer.Option("--org", help="organization.csv from gridmap org (default: the one in --out, if there).")] = None,
    grid_workers: Annotated[Optional[str], typer.Option("--grid-workers", help="Roster of grid workers (worker_id, grid_id): worker ids are shown, never names.")] = None,
    basemap: Annotated[Optional[str], typer.Option("--basemap", help="Background tiles: osm, tianditu (needs --tianditu-key), gaode (data shifted to GCJ-02) or none. Offline, tiles are simply missing.")] = None,
    tianditu_key: Annotated[Optional[str], typer.Option("--tianditu-key", help="Tianditu token for --basemap tianditu.")] = None,
    attribution: Annotated[Optional[str], typer.Option("--attribution", help="Data credit shown on every map (OpenStreetMap-derived layers get one by default).")] = None,
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
    """Write offline HTML maps: index.html, one page per community, and proposal.html with --proposal.

    Pages are self-contained (Leaflet inlined) and open with no internet; compounds are coloured
    by situation and outlined by type, with grids, micro-grids, buildings, stations, a legend, a
    layer control, search by compound name and the community's organisation beside the map.
    """
    pages = map_job(compounds, grids, out, read=_read_options(engine, encoding, crs),
                    compound_id=compound_id, grid_id=grid_id, building_id=building_id,
                    households=households, buildings=buildings, members=members,
                    microgrids=microgrids, proposal=proposal, communities=communities,
                    stations=stations, org=org, workers=grid_workers, basemap=basemap,
                    tianditu_key=tianditu_key, attribution=attribution, sliver=sliver, nest=nest,
                    streets=streets, walk_m=walk_m)
    t = Table(title="Map pages")
    t.add_column("page")
    t.add_column("size", justify="right")
    for path in pages:
        t.add_row(path.name, f"{path.stat().st_size / 1e6:.2f} MB")
    out_console.print(t)
    out_console.print(f"Wrote {len(pages)} pages in {out}; open {out / 'index.html'} in a browser.")


# ------------------------------------------------------------------ align


def _id_list(text: str | None) -> list[str]:
    """A comma list (ASCII or Chinese commas) as clean items."""
    if not text:
        return []
    return [t.strip() for t in text.replace("，", ",").replace("、", ",").split(",") if t.strip()]


@app.command("align")
@handled
def align_cmd(
    compounds: Annotated[str, typer.Argument(help="Compounds layer (小区).")],
    grids: Annotated[str, typer.Argument(help="Grids layer (网格).")],
    grid_households: Annotated[Optional[str], typer.Option("--grid-households", help="Households a grid should hold, MIN:MAX. A compound with more than MAX is tiled by grids inside it; a loose piece with at least MIN becomes a grid. Default {}:{}.".format(*settings.GRID_HOUSEHOLDS))] = None,
    types: Annotated[Optional[str], typer.Option("--types", help="Align only compounds of these types, comma-separated (e.g. 老旧型); compounds without a type (inferred outlines) are included.")] = None,
    keep: Annotated[Optional[str], typer.Option("--keep", help="Grid ids that must not change, comma-separated.")] = None,
    buildings: Annotated[Optional[str], typer.Option("--buildings", help="Buildings with households (and a compound id): a grid's households when it has no 户数 of its own, located where people live; with --streets, outlines for compounds that have buildings but no polygon are inferred first.")] = None,
    streets: Annotated[Optional[str], typer.Option("--streets", help="Street lines bounding inferred outlines (with --buildings).")] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help="Communities layer (社区): the community of grids without a community field; land never moves between communities.")] = None,
    edits: Annotated[Optional[str], typer.Option("--edits", help="A planner's edits.csv (compound_id, to_grid_id, note; 导出调整 in proposal.html): each compound lies wholly in that grid, and the rest is aligned around them.")] = None,
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
    """Propose grid boundaries under which no compound straddles grids (拉平对齐).

    Each straddling compound moves wholly into one of its grids, chosen per community by an exact
    optimiser (fewest households moved, never more grids outside the household range than
    before); one with more households than a grid's maximum is tiled by grids inside it. Land never
    moves between communities; grids stay in one piece and keep their ids. Households are the
    grids' own 户数, else their buildings', else their compounds'. Writes proposal.gpkg (layers grids
    and changes: every piece of land that changes grid, with its reason) and proposal.csv.
    """
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
    out_console.print(f"Wrote {written} in {out}")


def print_alignment(result) -> None:
    """Straddling compounds, grids changed, area and households moved, before and after."""
    s = result.summary
    t = Table(title="Alignment proposal")
    t.add_column("")
    t.add_column("before", justify="right")
    t.add_column("after", justify="right")
    t.add_row("compounds straddling grids (mixed)", str(s["straddling_before"]), str(s["straddling_after"]))
    if s["straddling_in_scope_before"] != s["straddling_before"]:
        t.add_row("  of the types aligned", str(s["straddling_in_scope_before"]), str(s["straddling_in_scope_after"]))
    t.add_row("grids", str(s["grids_before"]), str(s["grids_after"]))
    low, high = s["grid_households"]
    if s["capacity_enforced"]:
        t.add_row(f"grids outside {low:g}–{high:g} households", str(s["outside_range_before"]),
                  str(s["outside_range_after"]))
    out_console.print(t)
    out_console.print(f"Grids kept {s['grids_kept']}, changed {s['grids_changed']}, new {s['grids_new']}, "
                      f"removed {s['grids_removed']}.", soft_wrap=True)
    moved = (f"Moved: {s['compounds_moved']} compounds, {s['compound_area_moved_m2']:,.0f} m² of compound "
             f"land and {max(s['land_moved_m2'] - s['compound_area_moved_m2'], 0):,.0f} m² outside compounds")
    if s["capacity_enforced"]:
        moved += f", {s['households_moved']:,.0f} households"
        basis = ", ".join(f"{v} {k}" for k, v in (s.get("households_basis") or {}).items())
        moved += f" (grids' households from: {basis})." if basis else "."
    else:
        moved += (". No households field: grid capacity was not enforced (shares of area decided); "
                  "name one with --households.")
    out_console.print(moved, soft_wrap=True)
    by_reason = ", ".join(f"{k} {v}" for k, v in s.get("changes_by_reason", {}).items())
    out_console.print(f"Changes: {s.get('changes_rows', len(result.changes))} pieces of land" +
                      (f" ({by_reason})" if by_reason else "") + "; grids taking land from another "
                      f"community: {s.get('grids_crossing_community', 0)}.", soft_wrap=True)
    if s.get("empty_new_grids"):
        out_console.print(f"New grids without households (the only way to keep a grid in one piece): "
                          f"{', '.join(s.get('empty_new_grids_ids', []))}.", soft_wrap=True)
    if len(result.unresolved):
        reasons = result.unresolved.groupby("reason").compound_id.apply(lambda v: ", ".join(v))
        for code, ids in reasons.items():
            out_console.print(f"Still straddling ({escape(code)}): {escape(ids)}", soft_wrap=True)
    if result.inferred is not None:
        out_console.print(f"Outlines inferred from buildings first: {len(result.inferred)}.")
    if s.get("planner_edits"):
        out_console.print(f"Planner's edits applied: {s['planner_edits']} (compounds moved: {s['planner_compounds_moved']}; "
                          "reason planner in changes).", soft_wrap=True)
    if len(result.unresolved):
        out_console.print(f"[yellow]{len(result.unresolved)} compounds still straddle grids:[/]")
        for r in result.unresolved.head(10).itertuples():
            out_console.print(escape(f"  {r.compound_id} ({r.grid_ids}): {r.reason}"), soft_wrap=True)


# ------------------------------------------------------------------ infer


@app.command("infer")
@handled
def infer_cmd(
    buildings: Annotated[str, typer.Argument(help="Buildings layer (楼栋) with a compound id.")],
    streets: Annotated[str, typer.Option("--streets", help="Street lines: outlines stay between them.")],
    compounds: Annotated[Optional[str], typer.Option("--compounds", help="Existing compounds: outlines are drawn for compound ids that have none, and do not overlap them.")] = None,
    reach: Annotated[Optional[float], typer.Option("--reach", help=f"How far (m) an outline may extend beyond the hull of its buildings (default {settings.INFER_REACH:g}).")] = None,
    clearance: Annotated[Optional[float], typer.Option("--clearance", help=f"Distance (m) outlines keep from street centrelines (default {settings.INFER_CLEARANCE:g}).")] = None,
    compound_id: CompoundId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    out: Out = DEFAULT_OUT,
):
    """Draw outlines for compounds that have buildings but no polygon.

    The space between buildings is shared out street block by street block (each point to the
    nearest building); a compound's outline is its buildings' share, kept within --reach of them,
    off the streets and off existing compounds. Writes inferred.gpkg (layer compounds).
    """
    result = infer_job(buildings, out, streets=streets, compounds=compounds,
                       read=_read_options(engine, encoding, crs), compound_id=compound_id,
                       building_id=building_id, households=households, reach=reach,
                       clearance=clearance)
    c = result.compounds
    out_console.print(f"Inferred {len(c)} outlines ({int(c.n_buildings.sum()) if len(c) else 0} buildings"
                      + (f", {c.households.sum():,.0f} households" if len(c) and c.households.notna().any() else "")
                      + f"); {len(result.skipped)} buildings without a compound id were left out.",
                      soft_wrap=True)
    short = c[c.buildings_outside > 0] if len(c) else c
    if len(short):
        out_console.print(f"[yellow]{len(short)} outlines do not hold all their buildings[/] (they overlap "
                          "an existing compound, another outline or a street).", soft_wrap=True)
    out_console.print(f"Wrote {out / 'inferred.gpkg'}")


# ------------------------------------------------------------------ run, demo, init


@app.command("run")
@handled
def run_cmd(
    project_file: Annotated[Optional[Path], typer.Argument(help="Project file (TOML; `gridmap init` writes a template). Or give the layers as flags.")] = None,
    compounds: Annotated[Optional[str], typer.Option("--compounds", help="Compounds layer (小区).")] = None,
    grids: Annotated[Optional[str], typer.Option("--grids", help="Grids layer (网格).")] = None,
    buildings: Annotated[Optional[str], typer.Option("--buildings", help="Buildings layer (楼栋): organisation and micro-grids.")] = None,
    members: Annotated[Optional[str], typer.Option("--members", help="Member ledger (CSV or Excel).")] = None,
    communities: Annotated[Optional[str], typer.Option("--communities", help="Communities layer (社区).")] = None,
    streets: Annotated[Optional[str], typer.Option("--streets", help="Streets layer (lines): outline inference, micro-grid borders, walking distances.")] = None,
    stations: Annotated[Optional[str], typer.Option("--stations", help="Party-service stations (党群服务站, points).")] = None,
    grid_workers: Annotated[Optional[str], typer.Option("--grid-workers", help="Grid workers roster (worker_id, name, grid_id).")] = None,
    compound_id: CompoundId = None,
    grid_id: GridId = None,
    building_id: BuildingId = None,
    households: Households = None,
    crs: Crs = None,
    encoding: Encoding = None,
    engine: Engine = None,
    sliver: Sliver = None,
    nest: Nest = None,
    grid_households: Annotated[Optional[str], typer.Option("--grid-households", help="Households a grid should hold, MIN:MAX (default {}:{}).".format(*settings.GRID_HOUSEHOLDS))] = None,
    microgrid_households: Annotated[Optional[str], typer.Option("--households-per-microgrid", help="Households a micro-grid should hold, MIN:MAX (default {}:{}).".format(*settings.MICROGRID_HOUSEHOLDS))] = None,
    walk_m: Annotated[Optional[float], typer.Option("--walk-m", help=f"Walking distance (m) to a station within which a compound is served (default {settings.WALK_M:g}).")] = None,
    layout_on: Annotated[Optional[str], typer.Option("--layout-on", help="Grids to lay organisation, micro-grids, maps and report on: current (default) or proposal (the alignment proposal's).")] = None,
    basemap: Annotated[Optional[str], typer.Option("--basemap", help=f"osm, tianditu, gaode or none (default {settings.BASEMAP}).")] = None,
    tianditu_key: Annotated[Optional[str], typer.Option("--tianditu-key", help="Tianditu token for --basemap tianditu.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: the project file's, else gridmap-out). Replaced as a whole.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Run the per-community stages on a local Dask cluster of N worker processes.")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Run them on an existing dask.distributed cluster: tcp://HOST:PORT of `dask scheduler` (the output folder must be on storage every worker sees).")] = None,
    to_db: Annotated[Optional[str], typer.Option("--to-db", help="Also write the run's tables into a PostGIS schema: postgresql://USER@HOST[:PORT]/DBNAME:SCHEMA (password from PGPASSWORD or ~/.pgpass, never in the URL).")] = None,
    paper: Annotated[Optional[str], typer.Option("--paper", help="Paper of the offices' print maps (offices/<community>/map.pdf): A3 (default) or A4, landscape.")] = None,
    roster: Annotated[Optional[Path], typer.Option("--roster", help="Also write the member roster with the sheets 书记人选 and 支委人选 (secretary and committee candidates from the ledger's 身份 column) to this .xlsx (or .csv: members only), and each office's own (offices/<community>/roster.xlsx). It holds personal data: keep it apart from shared outputs. Needs the ledger.")] = None,
):
    """Run every stage: validate, classify, align, organise, micro-grids, station reach, maps, report.

    All outputs land in one folder, written aside and moved into place only when every stage has
    run, so the folder never mixes two runs. A stage that fails names itself; what earlier stages
    wrote is kept in OUT.incomplete. Stages that need a layer you did not give are skipped with a
    note (no buildings: no organisation, no micro-grids).
    """
    if project_file is not None:
        if compounds or grids:
            raise GridmapError("Give either a project file or --compounds/--grids, not both.")
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
        raise GridmapError("gridmap run needs a project file (gridmap run project.toml; `gridmap init` "
                           "writes one) or at least --compounds and --grids.")
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
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


    names = {"load": "reading layers", "validate": "validating", "classify": "classifying",
             "align": "aligning (拉平对齐)", "organise": "organising (组织设置)", "microgrids": "cutting micro-grids",
             "reach": "measuring station reach", "maps": "drawing maps", "report": "writing the report",
             "shapefiles": "writing shapefiles", "offices": "community offices (社区)"}
    with Progress(TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=err_console, transient=False) as bar:
        task = bar.add_task("starting", total=len(STAGES))

        def progress(stage: str, number: int) -> None:
            bar.update(task, completed=number, description=names.get(stage, stage))

        result = run_job(project, progress=progress, workers=workers, scheduler=scheduler)
        bar.update(task, completed=len(STAGES), description="done")
    print_run_summary(result)


def print_run_summary(result) -> None:
    """The figures of each stage, the notes, and where the maps and report are."""
    print_classification(result.classification)
    t = Table(title="Run")
    t.add_column("stage")
    t.add_column("result", overflow="fold")
    t.add_column("s", justify="right")
    a = result.alignment
    if a is not None:
        s = a.summary
        t.add_row("align", f"straddling compounds {s.get('straddling_before')} → {s.get('straddling_after')}; "
                  f"{s.get('grids_changed', 0)} grids changed", str(result.seconds.get("align", "")))
    if result.organisation is not None:
        kinds = result.organisation.units.kind.value_counts()
        t.add_row("organise", ", ".join(f"{k} {v}" for k, v in kinds.items())
                  + f"; members placed {result.organisation.members_placed}/{result.organisation.members_total}",
                  str(result.seconds.get("organise", "")))
    if result.microgrids is not None:
        mg = result.microgrids.microgrids
        t.add_row("micro-grids", f"{len(mg)} micro-grids, median {mg.households.median():.0f} households",
                  str(result.seconds.get("microgrids", "")))
    if result.funding is not None:
        total = result.funding.iloc[-1]
        t.add_row("funding", f"one-off ¥{total.one_off:,}, per year ¥{total.per_year:,} (funding.csv)", "")
    if result.reach is not None:
        t.add_row("reach", f"{int((~result.reach.served).sum())} compounds beyond walking distance of a station",
                  str(result.seconds.get("reach", "")))
    t.add_row("maps", f"{len(result.pages)} pages", str(result.seconds.get("maps", "")))
    if result.offices:
        t.add_row("offices", f"{len(result.offices)} folders in offices/ (map.pdf, tables.xlsx); shapefiles in shp/",
                  str(result.seconds.get("offices", "")))
    out_console.print(t)
    for note in result.notes:
        out_console.print(f"[dim]Note:[/] {escape(note)}", soft_wrap=True)
    out_console.print(f"Outputs in {result.out}", soft_wrap=True)
    out_console.print(f"Maps:   {result.index}", soft_wrap=True)
    if result.report:
        out_console.print(f"Report: {result.report[0]}  and  {result.report[1]}", soft_wrap=True)
    out_console.print(f"Done in {sum(result.seconds.values()):.1f} s.")


@app.command("demo")
@handled
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (replaced as a whole).")] = Path("gridmap-demo"),
    workers: Annotated[Optional[int], typer.Option("--workers", help="Per-community stages on a local Dask cluster of N processes.")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Per-community stages on the dask.distributed scheduler at tcp://HOST:PORT.")] = None,
):
    """Run every stage on the bundled central-Taiyuan sample (OpenStreetMap compounds and streets,
    synthesised grids, buildings and members) and say where the maps and the report are."""
    _run(demo_project(out), workers=workers, scheduler=scheduler)


@app.command("init")
@handled
def init_cmd(
    path: Annotated[Path, typer.Argument(help="Project file to write.")] = Path("gridmap.toml"),
):
    """Write a commented project-file template for `gridmap run`."""
    written = write_template(path)
    out_console.print(f"Wrote {written}: edit the layer paths and fields, then run `gridmap run {written}`.")


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
