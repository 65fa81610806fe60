"""Offline HTML maps for community workers and planners (DESIGN §7, issue 5).

``make_maps`` writes ``index.html`` (the whole area), one page per community (or, without
communities, per section of a few dozen neighbouring grids) and, given an alignment proposal,
``proposal.html``. Pages are folium maps made self-contained: Leaflet, its CSS and images are
inlined from the pinned ``xstatic-leaflet`` wheel (Leaflet 1.9.3, the version folium targets);
folium's CDN defaults (jQuery, Bootstrap, awesome-markers) are dropped, and the fullscreen, search
and legend controls are small plain-Leaflet controls written here. ``assert_offline`` refuses a
page that would still load anything from the network. Basemap tiles are the one exception: they
are images requested at run time, and without a network they fail quietly while the vector
layers still draw over a plain background.

Every attribute value is HTML-escaped (and ``$`` and backticks too, since folium pastes tooltip
and popup text into JavaScript template literals) before it reaches the page. Personal data
(member names, phones, ID numbers) is never read into a page: only ids, counts and the names of
places and organisational units are shown, and central households (党员中心户) by kind only.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import html
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import folium
import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.map import FitBounds
from folium.template import Template
from folium.utilities import JsCode

from gridmap import settings, vocab
from gridmap.classify import Classification
from gridmap.errors import GridmapError
from gridmap.gcj02 import shift_geometries
from gridmap.io import atomic_path, find_field, id_strings, warn_if_far_apart
from gridmap.io.fields import looks_like_names
from gridmap.org.programme import property_status
from gridmap.reach import WALK_M

log = logging.getLogger(__name__)

#: Most grids on one map section when the data has no communities (issue 5: "a few dozen").
SECTION_GRIDS: int = 40
#: Decimal places kept in page coordinates: 6 is about 0.1 m.
DECIMALS: int = 6
#: Simplification tolerance (degrees, about 1 m) for the overview on ``index.html``.
INDEX_SIMPLIFY: float = 1e-5
BASEMAPS = ("osm", "tianditu", "gaode", "none")

SITUATION_COLOURS = vocab.SITUATION_COLOURS
SITUATION_LABELS = vocab.SITUATION_LABELS
TYPE_STYLES = vocab.TYPE_STYLES
OTHER_TYPE = vocab.OTHER_TYPE_STYLE
KIND_LABELS = vocab.KIND_LABELS
BRANCH_KINDS = vocab.BRANCH_KINDS
UNASSIGNED = "unassigned"
#: Columns holding a grid worker's id (never a name).
WORKER_FIELDS = ("worker_id", "网格员编号", "网格员编码")
STATUS_COLOURS = vocab.STATUS_COLOURS
STATUS_PALETTE = vocab.STATUS_PALETTE
#: How a station distance was measured (``measured`` of :func:`gridmap.reach.unserved`).
MEASURED_LABELS = {"streets": "沿道路", "straight line": "直线"}
#: Outline of compounds beyond walking distance of every station: thicker than any type outline
#: (2.5) and with longer dashes, so that it does not read as a 过渡型 outline.
REACH_STYLE = ("#e8000b", 5, "12 7")


# ------------------------------------------------------------------ safety


def escape(value) -> str | None:
    """Text that shows literally wherever folium puts it. None and NaN stay None.

    HTML-escaped (folium inserts values as HTML), with ``$`` and backtick escaped too (folium
    pastes Tooltip and Popup text into JavaScript template literals, where ``${…}`` would run),
    and braces as well: branca compiles every rendered macro again as a Jinja template, so a
    name holding ``{{ … }}`` would be evaluated, or ``{% raw %}`` break the build.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = html.escape(str(value), quote=True)
    return text.translate(_MORE_ENTITIES)


_MORE_ENTITIES = str.maketrans({"$": "&#36;", "`": "&#96;", "{": "&#123;", "}": "&#125;"})


def escape_series(values: pd.Series) -> pd.Series:
    """:func:`escape` over a column; whole numbers (a shapefile's floats) lose their ``.0``."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        text = values.map(lambda v: None if pd.isna(v) else
                          (str(int(v)) if float(v).is_integer() else f"{v:g}"))
        return text.astype(object)
    return values.map(escape).astype(object)


_NETWORK_REFS = re.compile(
    r"""<(?:script|img|iframe|embed|source|audio|video)\b[^>]*\ssrc\s*=\s*["']?\s*(?:https?:)?//[^\s"'>]*"""
    r"""|<link\b[^>]*\shref\s*=\s*["']?\s*(?:https?:)?//[^\s"'>]*"""
    r"""|url\(\s*["']?\s*(?:https?:)?//[^)]*\)"""
    r"""|@import\b[^;]*""",
    re.IGNORECASE)


def network_references(page: str) -> list[str]:
    """What in a page would be fetched from the network when it opens (scripts, stylesheets,
    images, CSS ``url()`` and ``@import``). Links a user may click and basemap tile URLs inside
    scripts are not fetched on load, so they are not listed."""
    return [m.group(0)[:120] for m in _NETWORK_REFS.finditer(page)]


def assert_offline(page: str, name: str = "page") -> None:
    """Raise unless ``page`` opens with no network.

    Raises
    ------
    GridmapError
        Naming the first references found.
    """
    found = network_references(page)
    if found:
        raise GridmapError(f"{name} would load {len(found)} resources from the network "
                           f"({'; '.join(found[:3])}); pages must be self-contained. This is a "
                           "bug in gridmap's map templates: please report it.")


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> str:
    """Leaflet's CSS and JS with its images as data: URIs, from the xstatic-leaflet wheel."""
    from xstatic.pkg import leaflet as xleaflet

    base = Path(xleaflet.BASE_DIR)
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    images = {p.name: "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")
              for p in (base / "images").glob("*.png")}
    css = re.sub(r"url\((['\"]?)images/([\w.-]+\.png)\1\)",
                 lambda m: f'url("{images[m.group(2)]}")', css)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
    if "</script" in js.lower():
        raise GridmapError("The bundled leaflet.js contains '</script' and cannot be inlined.")
    # Markers find their images by a CSS path trick that data: URIs defeat: point them directly.
    icons = (f"L.Icon.Default.imagePath='';L.Icon.Default.mergeOptions({{"
             f"iconUrl:{json.dumps(images['marker-icon.png'])},"
             f"iconRetinaUrl:{json.dumps(images['marker-icon-2x.png'])},"
             f"shadowUrl:{json.dumps(images['marker-shadow.png'])}}});")
    return (f"<style>/* Leaflet {xleaflet.VERSION}, BSD-2-Clause, (c) Vladimir Agafonkin, "
            f"CloudMade */\n{css}</style>\n<script>{js}\n{icons}</script>\n")


# ------------------------------------------------------------------ geometry for pages


def display_geometries(gdf: gpd.GeoDataFrame, *, gcj02: bool = False,
                       simplify: float | None = None) -> np.ndarray:
    """Geometries as drawn: longitude/latitude, GCJ-02-shifted for Gaode tiles, optionally
    simplified (degrees), coordinates rounded to :data:`DECIMALS` places."""
    geoms = gdf.geometry
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs(4326)
    arr = geoms.to_numpy()
    if gcj02:
        arr = shift_geometries(arr)
    if simplify:
        arr = shapely.simplify(arr, simplify, preserve_topology=True)
    return shapely.transform(arr, lambda c: np.round(c, DECIMALS))


def split_sections(xy: np.ndarray, max_size: int = SECTION_GRIDS) -> np.ndarray:
    """Cut points into compact sections of at most ``max_size`` by recursive bisection.

    The point set is split across its longer side, in proportion to the number of sections
    each half should hold, until every part is small enough; sections come out of similar size
    and made of neighbours. Returns a section number per point, numbered north to south, then
    west to east, from 0.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Point coordinates, in metres or degrees.
    max_size : int
        Most points per section.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    labels = np.zeros(len(xy), dtype=int)
    if len(xy) == 0:
        return labels
    max_size = max(1, int(max_size))
    stack = [np.arange(len(xy))]
    parts: list[np.ndarray] = []
    while stack:
        idx = stack.pop()
        n = len(idx)
        k = -(-n // max_size)
        if k <= 1:
            parts.append(idx)
            continue
        pts = xy[idx]
        axis = int(np.ptp(pts[:, 0]) < np.ptp(pts[:, 1]))
        left = n * (k // 2) // k
        order = np.argsort(pts[:, axis], kind="stable")
        stack += [idx[order[:left]], idx[order[left:]]]
    centres = np.array([xy[p].mean(axis=0) for p in parts])
    rank = np.lexsort((centres[:, 0], -np.round(centres[:, 1], 3)))
    for number, part in enumerate(rank):
        labels[parts[part]] = number
    return labels


def _bounds_by_id(ids: pd.Series, geoms: np.ndarray) -> dict[str, np.ndarray]:
    """(south, west, north, east) per id, in display coordinates."""
    if not len(ids):
        return {}
    b = shapely.bounds(geoms)[:, [1, 0, 3, 2]]
    keys = ids.to_numpy(dtype=object)
    if not ids.duplicated().any():
        return dict(zip(keys, b))
    frame = pd.DataFrame({"id": keys, "s": b[:, 0], "w": b[:, 1], "n": b[:, 2], "e": b[:, 3]})
    agg = frame.groupby("id").agg(s=("s", "min"), w=("w", "min"), n=("n", "max"), e=("e", "max"))
    return dict(zip(agg.index, agg.to_numpy()))


def _bounds_attr(b) -> str:
    return ",".join(f"{v:.{DECIMALS}f}" for v in b)


# ------------------------------------------------------------------ pages and layers


@dataclass
class Page:
    """One map page: its key in the tables, file name and title."""

    key: str
    file: str
    title: str
    kind: str  # "community", "section" or "unassigned"


@dataclass
class Layer:
    """A layer ready for pages: display geometries, escaped fields, style keys, page of each row.

    ``props`` holds Python objects with None for missing values, so that pages serialise it as is.
    """

    name: str
    geoms: np.ndarray
    props: pd.DataFrame
    page: np.ndarray
    ids: pd.Series | None = None
    labels: dict[str, str] = field(default_factory=dict)
    clean: bool = field(default=False, repr=False)

    def __post_init__(self):
        if not self.clean:
            self.props = self.props.astype(object).where(self.props.notna(), None)
            self.clean = True

    def subset(self, key: str) -> Layer:
        mask = self.page == key
        return Layer(self.name, self.geoms[mask], self.props[mask], self.page[mask],
                     None if self.ids is None else self.ids[mask], self.labels, clean=True)

    def __len__(self) -> int:
        return len(self.geoms)

    def first_feature(self) -> dict:
        """What folium is given as data: the first feature's properties, no geometry.

        Folium checks tooltip fields against it; the features themselves come in bulk from
        :meth:`data_script`.
        """
        if not len(self.props):
            return {"type": "FeatureCollection", "features": []}
        first = self.props.iloc[0].to_dict()
        return {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": first, "geometry": None}]}

    def data_script(self) -> str:
        """``gmFC([geometries…], {field: [values…]}, {field: [distinct values…]})``: the features
        as a JavaScript expression.

        Geometries come from ``shapely.to_geojson`` in one call, properties as one array per
        field (names are not repeated per feature), fields with few distinct values as codes into
        a list of them; ``gmFC``, inlined in each page's head, makes a FeatureCollection of them
        in the browser. ``<``, ``>``, ``&`` and ``'`` can only be inside
        JSON strings here and are written as ``\\u`` escapes, so the text is safe in a script.
        """
        geometry = shapely.to_geojson(np.asarray(self.geoms, dtype=object)).tolist() if len(self.geoms) else []
        columns, codes = {}, {}
        for k in self.props.columns:
            values = self.props[k]
            # A field with few distinct values (situation, type, community) is sent as codes
            # into a list of its values.
            uniques = values.dropna().unique() if len(values) > 8 else ()
            if 0 < len(uniques) <= len(values) // 4:
                code, labels = pd.factorize(values, use_na_sentinel=True)
                columns[k] = code.tolist()
                codes[k] = list(labels)
            else:
                columns[k] = values.tolist()
        dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
        text = f"gmFC([{','.join(geometry)}],{dumps(columns)},{dumps(codes)})"
        return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("'", "\\u0027"))

    def fields(self, wanted: list[str]) -> tuple[list[str], list[str]]:
        """The shown fields among ``wanted`` that have a value somewhere, with their labels."""
        keep = [f for f in wanted if f in self.props and self.props[f].notna().any()]
        return keep, [escape(self.labels.get(f, f)) for f in keep]


class _LayerData(Element):
    """Adds a layer's features right after folium defines the layer, as a raw script.

    Folium would embed the GeoJSON in the layer's own script, which branca then compiles as a
    Jinja template: for a layer of thousands of features that compiling is the slowest part of a
    page. Here folium gets the first feature only and the features follow in bulk, untouched.
    """

    def __init__(self, layer_name: str, data: str):
        super().__init__()
        self._name = "LayerData"
        self.layer_name = layer_name
        self.data = data

    def render(self, **kwargs) -> None:
        self.get_root().script.add_child(_RawHTML(f"{self.layer_name}_add({self.data});\n"),
                                         name=self.get_name())


#: Rebuilds the features of :meth:`Layer.data_script`; in every page's head.
_GMFC = """<script>function gmFC(g, c, d) {
  var k = Object.keys(c), f = new Array(g.length), i, j;
  Object.keys(d).forEach(function (n) { c[n] = c[n].map(function (v) { return v < 0 ? null : d[n][v]; }); });
  for (i = 0; i < g.length; i++) { var p = {}; for (j = 0; j < k.length; j++) { p[k[j]] = c[k[j]][i]; }
    f[i] = {type: 'Feature', geometry: g[i], properties: p}; }
  return {type: 'FeatureCollection', features: f}; }</script>
"""


class _RawHTML(Element):
    """HTML put in the page as it is: never parsed as a Jinja template (names such as
    ``{{ 7*7 }}`` must not be evaluated at build time)."""

    def __init__(self, text: str):
        super().__init__()
        self._html = text

    def render(self, **kwargs) -> str:
        return self._html


def _safe_file(key: str, taken: set[str]) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")[:40]
    if not slug or slug != key or slug.lower() in taken:
        slug = (slug + "-" if slug and slug.lower() not in taken else "") + \
            hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    taken.add(slug.lower())
    return f"community-{slug}.html"


def _text(values: pd.Series) -> pd.Series:
    """Ids and names as stripped text; empty strings and NaN become None."""
    out = id_strings(values)
    return out.where(out.notna() & (out.astype(str) != ""), None)


# ------------------------------------------------------------------ the public entry point


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
        :data:`gridmap.reach.WALK_M`. ``served`` decides which compounds are beyond it; without
        that column, a distance above ``walk_m`` does.

    Returns
    -------
    list of Path
        The pages written, index first.
    """
    classification = classification.with_geometry()  # no_geometry rows cannot be drawn (issue 12)
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
    ctx = _Context.build(classification, buildings=buildings, microgrids=microgrids,
                         organisation=organisation, communities=communities, stations=stations,
                         members=members, workers=workers, gcj02=gcj, building_id=building_id,
                         households=households, section_grids=section_grids, reach=reach,
                         walk_m=WALK_M if walk_m is None else float(walk_m))
    style = _Style(basemap, tianditu_key, attribution or _guess_attribution(classification, buildings))
    with _template_cache():
        written = [_write(out / "index.html", _index_page(ctx, style, has_proposal=proposal is not None))]
        for page in ctx.pages.values():
            written.append(_write(out / page.file, _community_page(ctx, page, style)))
        if proposal is not None:
            written.append(_write(out / "proposal.html", _proposal_page(ctx, proposal, style)))
    log.info("wrote %d map pages in %s", len(written), out)
    return written


def _write(path: Path, page: str) -> Path:
    assert_offline(page, path.name)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _guess_attribution(classification: Classification, buildings) -> str | None:
    """OpenStreetMap-derived layers (an ``osm_id`` column) must credit OSM (ODbL)."""
    layers = [classification.compounds, classification.grids, buildings]
    if any(layer is not None and any(str(c).lower().startswith("osm_") for c in layer.columns)
           for layer in layers):
        return "Data © OpenStreetMap contributors, ODbL"
    return None


# ------------------------------------------------------------------ preparing the data


@dataclass
class _Context:
    """Everything the pages draw, prepared once: layers with display geometries and page keys."""

    pages: dict[str, Page]
    compounds: Layer
    grids: Layer
    microgrids: Layer | None
    buildings: Layer | None
    stations: Layer | None
    outlines: Layer  # one polygon per page: the community, or the hull of a section's grids
    org: dict | None
    org_ids: pd.DataFrame | None
    classification: Classification
    gcj02: bool
    type_order: list[str]
    reach: Layer | None = None  # the compounds beyond walk_m of every station
    walk_m: float = WALK_M
    reach_measured: str | None = None  # "沿道路" or "直线", as measured
    _org_by_page: dict | None = None

    def org_rows(self, page: Page) -> list[tuple[str, str, str]]:
        """(unit_id, what, id) of the organisation rows whose compound, grid or building is drawn
        on ``page``; grouped for all pages at the first call."""
        if self._org_by_page is None:
            ids = self.org_ids
            where = pd.Series(None, index=ids.index, dtype=object)
            for what, layer in (("compound", self.compounds), ("grid", self.grids), ("building", self.buildings)):
                if layer is None or layer.ids is None:
                    continue
                page_of = pd.Series(layer.page, index=layer.ids.to_numpy())
                page_of = page_of[~page_of.index.duplicated()]
                rows = ids.what == what
                where[rows] = ids.id[rows].map(page_of)
            self._org_by_page = {k: list(zip(g.unit_id, g.what, g.id))
                                 for k, g in ids.assign(_page=where).dropna(subset=["_page"]).groupby("_page")}
        return self._org_by_page.get(page.key, [])

    @classmethod
    def build(cls, classification: Classification, *, buildings, microgrids, organisation,
              communities, stations, members, workers, gcj02, building_id, households,
              section_grids, reach=None, walk_m: float = WALK_M) -> _Context:
        comps = classification.compounds
        grids = classification.grids
        grid_ids = _text(grids["grid_id"])
        comp_ids = _text(comps["compound_id"])
        metric = classification.crs

        grid_page, pages, outline_geoms = _assign_grids(grids, communities, metric, section_grids)
        page_of_grid = pd.Series(grid_page, index=grid_ids.to_numpy())
        page_of_grid = page_of_grid[~page_of_grid.index.duplicated()]
        comp_page = _assign_compounds(comps, grids, grid_page, communities, pages, metric)

        org, org_ids = _read_org(organisation)
        type_field = find_field(comps, "compound_type", required=False, exclude=_COMPUTED)
        types = (_text(comps[type_field]).map(vocab.canonical_type) if type_field
                 else pd.Series(None, index=comps.index, dtype=object))
        type_order = [t for t in vocab.COMPOUND_TYPES if t in set(types.dropna())]
        type_order += sorted(set(types.dropna()) - set(type_order))

        c_layer = _compound_layer(comps, comp_ids, types, type_order, comp_page, org_ids, org,
                                  gcj02, households)
        r_layer, measured = None, None
        if reach is not None:
            distance_text, beyond, measured = _reach_columns(comps, comp_ids, reach, walk_m)
            c_layer.props["r"] = distance_text.to_numpy()
            c_layer.labels["r"] = "距党群服务站"
            mask = beyond.to_numpy()
            r_layer = Layer("reach", c_layer.geoms[mask], pd.DataFrame({"i": c_layer.props["i"].to_numpy()[mask]}),
                            c_layer.page[mask], comp_ids.reset_index(drop=True)[mask].reset_index(drop=True))
        worker_of_grid = _workers(workers)
        g_layer = _grid_layer(grids, grid_ids, grid_page, org_ids, org, worker_of_grid, gcj02)

        mg_layer = None
        mg_of_building = pd.Series(dtype=object)
        if microgrids is not None and len(microgrids):
            mg_layer, mg_of_building = _microgrid_layer(microgrids, grids, grid_page, page_of_grid,
                                                        worker_of_grid, gcj02)
        b_layer = None
        if buildings is not None and len(buildings):
            b_layer = _building_layer(buildings, comps, comp_ids, comp_page, grids, grid_ids, grid_page,
                                      mg_of_building, microgrids, org_ids, org, members, gcj02,
                                      building_id, households)
        s_layer = None
        if stations is not None and len(stations):
            s_layer = _station_layer(stations, grids, grid_page, metric, gcj02)

        used = set(grid_page) | set(comp_page)
        for layer in (b_layer, s_layer, mg_layer):
            if layer is not None:
                used |= set(layer.page)
        if UNASSIGNED in used and UNASSIGNED not in pages:
            pages[UNASSIGNED] = Page(UNASSIGNED, "", "未分配社区 (unassigned)", "unassigned")
        pages = {k: p for k, p in pages.items() if k in used}
        taken: set[str] = set()
        for page in pages.values():
            page.file = _safe_file(page.key, taken)

        keys = np.array(list(outline_geoms), dtype=object)
        o_geoms = np.array([outline_geoms[k] for k in keys], dtype=object)
        o_frame = gpd.GeoDataFrame({"k": keys}, geometry=list(o_geoms), crs=grids.crs)
        o_frame = o_frame[o_frame.k.isin(list(pages))]
        outlines = Layer("outlines", display_geometries(o_frame, gcj02=gcj02, simplify=INDEX_SIMPLIFY)
                         if len(o_frame) else np.array([], dtype=object),
                         pd.DataFrame({"k": o_frame.k.to_numpy()}), o_frame.k.to_numpy())
        return cls(pages, c_layer, g_layer, mg_layer, b_layer, s_layer, outlines, org, org_ids,
                   classification, gcj02, type_order, r_layer, walk_m, measured)


_COMPUTED = vocab.COMPUTED_COLUMNS


def _community_fields(layer: gpd.GeoDataFrame) -> tuple[str | None, str | None]:
    """Id and name fields of a communities layer."""
    cols = {str(c).lower(): c for c in layer.columns if c != layer.geometry.name}
    ident = next((cols[c] for c in ("community_id", "社区编码", "社区编号", "id", "community", "社区",
                                    "所属社区") if c in cols), None)
    name = next((cols[c] for c in ("name", "社区名称", "community_name", "community", "社区")
                 if c in cols), None)
    return ident or name, name or ident


def _assign_grids(grids: gpd.GeoDataFrame, communities, metric, section_grids: int
                  ) -> tuple[np.ndarray, dict[str, Page], dict[str, object]]:
    """Page key of each grid, the pages, and each page's outline (in the grids' CRS)."""
    field_ = find_field(grids, "community", required=False, exclude=_COMPUTED)
    page = np.full(len(grids), None, dtype=object)
    pages: dict[str, Page] = {}
    outlines: dict[str, object] = {}
    comm = None
    if communities is not None and len(communities):
        comm = communities.to_crs(grids.crs) if not communities.crs.equals(grids.crs) else communities
        cid, cname = _community_fields(comm)
        if cid is None:
            comm = comm.assign(_id=[str(i + 1) for i in range(len(comm))])
            cid = cname = "_id"
        comm = comm.assign(_key=_text(comm[cid]), _name=_text(comm[cname]))
        comm = comm[comm["_key"].notna()]
    if field_ is not None:
        values = _text(grids[field_]).to_numpy(dtype=object)
        page[:] = values
        if comm is not None:
            # The field may hold the communities' ids or their names: show polygons either way.
            by_name = dict(zip(comm["_name"], comm["_key"]))
            page = np.array([v if v is None or v in set(comm["_key"]) else by_name.get(v, v)
                             for v in values], dtype=object)
    elif comm is not None:
        points = gpd.GeoDataFrame(geometry=grids.geometry.representative_point().to_numpy(), crs=grids.crs)
        hit = gpd.sjoin(points, comm[["_key", "geometry"]], predicate="within", how="left")
        hit = hit[~hit.index.duplicated()]
        page = hit["_key"].reindex(range(len(grids))).to_numpy(dtype=object)
        page = np.where(pd.isna(page), None, page)
    if comm is not None:
        for key, name, geom in zip(comm["_key"], comm["_name"], comm.geometry):
            pages.setdefault(key, Page(key, "", name or key, "community"))
            outlines.setdefault(key, geom)
    for key in dict.fromkeys(v for v in page if v is not None):
        if key not in pages:
            pages[key] = Page(key, "", key, "community")

    loose = np.flatnonzero(pd.isna(page))
    if len(loose):
        xy = shapely.get_coordinates(grids.geometry.iloc[loose].to_crs(metric).representative_point().to_numpy())
        if len(loose) <= section_grids:
            page[loose] = UNASSIGNED
            title = "未分配社区 (unassigned)" if pages else "全部网格 (all grids)"
            pages[UNASSIGNED] = Page(UNASSIGNED, "", title, "unassigned")
        else:
            labels = split_sections(xy, section_grids)
            prefix, title = (("unassigned", "未分配") if pages else ("section", "片区"))
            for n in range(labels.max() + 1):
                key = f"{prefix}-{n + 1:02d}"
                pages[key] = Page(key, "", f"{title} {n + 1}" + (" (unassigned)" if pages and prefix == "unassigned" else ""),
                                  "section")
            page[loose] = np.array([f"{prefix}-{n + 1:02d}" for n in labels], dtype=object)
    for key in dict.fromkeys(page):
        if key not in outlines:
            mask = page == key
            outlines[key] = shapely.union_all(grids.geometry.to_numpy()[mask])
    return page, pages, outlines


def _assign_compounds(comps, grids, grid_page, communities, pages, metric) -> np.ndarray:
    """A compound's page: its own community field, else its main grid's, else the community
    polygon or nearest grid holding it."""
    field_ = find_field(comps, "community", required=False, exclude=_COMPUTED)
    by_grid = pd.Series(grid_page, index=_text(grids["grid_id"]).to_numpy())
    by_grid = by_grid[~by_grid.index.duplicated()]
    page = _text(comps["main_grid_id"]).map(by_grid).to_numpy(dtype=object)
    if field_ is not None:
        own = _text(comps[field_]).to_numpy(dtype=object)
        page = np.where(pd.notna(own) & np.isin(own, list(pages)), own, page)
    loose = np.flatnonzero(pd.isna(page))
    if len(loose) and len(grids):
        pts = gpd.GeoDataFrame(geometry=comps.geometry.iloc[loose].representative_point().to_numpy(),
                               crs=comps.crs).to_crs(metric)
        gm = gpd.GeoDataFrame({"_p": grid_page}, geometry=grids.geometry.to_numpy(), crs=grids.crs).to_crs(metric)
        near = gpd.sjoin_nearest(pts, gm, how="left", max_distance=2000)
        near = near[~near.index.duplicated()]
        page[loose] = near["_p"].reindex(range(len(loose))).to_numpy(dtype=object)
    return np.where(pd.isna(page), UNASSIGNED, page).astype(object)


def _read_org(organisation: pd.DataFrame | None) -> tuple[dict | None, pd.DataFrame | None]:
    """The units by id (unit_id, parent_id, kind, name, members, building_ids), and one row per
    (unit, kind of id, id) they cover."""
    if organisation is None or not len(organisation):
        return None, None
    missing = [c for c in ("unit_id", "parent_id", "kind", "name") if c not in organisation.columns]
    if missing:
        raise GridmapError(f"The organisation table has no {', '.join(missing)} column; it should "
                           "be organization.csv as written by gridmap org (unit_id, parent_id, "
                           f"kind, name, …). Its columns are {', '.join(map(str, organisation.columns))}.")
    org = organisation.copy()
    for col in ("unit_id", "parent_id", "kind", "name"):
        org[col] = _text(org[col].astype(object))
    org = org[org.unit_id.notna()].drop_duplicates("unit_id")
    if "members" in org:
        org["members"] = pd.to_numeric(org["members"], errors="coerce")
    parts = []
    for col, what in (("compound_ids", "compound"), ("grid_ids", "grid"), ("building_ids", "building")):
        if col not in org:
            continue
        ids = org[col].fillna("").astype(str).str.split(settings.LIST_SEP).explode().str.strip()
        frame = pd.DataFrame({"unit_id": org.unit_id.reindex(ids.index).to_numpy(), "id": ids.to_numpy()})
        frame = frame[frame.id != ""]
        frame["what"] = what
        parts.append(frame)
    ids = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["unit_id", "id", "what"])
    ids = ids.merge(org[["unit_id", "kind", "name"]], on="unit_id", how="left")
    size = ids.groupby(["unit_id", "what"]).id.transform("size")
    ids["size"] = size
    keep = [c for c in ("unit_id", "parent_id", "kind", "name", "members", "building_ids") if c in org]
    units = {r["unit_id"]: r for r in org[keep].astype(object).where(org[keep].notna(), None).to_dict("records")}
    return units, ids


def _unit_of(org_ids: pd.DataFrame | None, what: str, kinds: tuple[str, ...]) -> pd.Series:
    """Escaped name of the most specific unit of ``kinds`` covering each id of ``what``."""
    if org_ids is None:
        return pd.Series(dtype=object)
    rows = org_ids[(org_ids.what == what) & org_ids.kind.isin(kinds)]
    rows = rows.sort_values(["id", "size"]).drop_duplicates("id")
    label = np.where(rows.kind == "central_household", KIND_LABELS["central_household"],
                     rows["name"].fillna(rows.kind.map(KIND_LABELS)))
    return pd.Series(label, index=rows.id.to_numpy()).map(escape)


def _workers(workers: pd.DataFrame | None) -> pd.Series:
    if workers is None or not len(workers):
        return pd.Series(dtype=object)
    gid = find_field(workers, "grid_id")
    wid = next((c for c in workers.columns if str(c).lower() in WORKER_FIELDS), None)
    if wid is None:
        raise GridmapError(f"{workers.attrs.get('source', 'The workers table')}: no worker_id column "
                           "(网格员编号); only worker ids are shown on maps, never names. The "
                           f"columns are {', '.join(map(str, workers.columns))}.")
    table = pd.DataFrame({"g": _text(workers[gid]), "w": _text(workers[wid])}).dropna()
    return table.groupby("g").w.agg(lambda v: "; ".join(dict.fromkeys(v))).map(escape)


def _households(layer: gpd.GeoDataFrame, explicit: str | None) -> pd.Series:
    name = explicit if explicit and explicit in layer.columns else None
    name = name or find_field(layer, "households", required=False, exclude=_COMPUTED)
    if name is None:
        return pd.Series(None, index=layer.index, dtype=object)
    return escape_series(pd.to_numeric(layer[name], errors="coerce")
                         if pd.to_numeric(layer[name], errors="coerce").notna().any() else layer[name])


def _compound_layer(comps, comp_ids, types, type_order, page, org_ids, org, gcj02, households) -> Layer:
    name_field = find_field(comps, "compound_name", required=False, exclude=_COMPUTED)
    names = _text(comps[name_field]) if name_field else comp_ids
    names = names.fillna(comp_ids)
    situation = comps["situation"].astype(str)
    sit_index = {s: i for i, s in enumerate(vocab.COMPOUND_SITUATIONS)}
    props = pd.DataFrame({
        "n": names.map(escape),
        "i": comp_ids.map(escape),
        "t": types.map(escape),
        "h": _households(comps, households).to_numpy(),
        "s": situation.map(SITUATION_LABELS).fillna(situation).map(escape),
        "g": comps["grid_ids"].fillna("").astype(str).str.replace(settings.LIST_SEP, "; ").map(escape)
             .replace("", None),
        "b": comp_ids.map(_unit_of(org_ids, "compound", BRANCH_KINDS)),
        "_s": situation.map(sit_index).fillna(len(sit_index)).astype(int),
        "_t": types.map({t: i for i, t in enumerate(type_order)}).fillna(-1).astype(int),
    }, index=comps.index)
    labels = {"n": "小区", "i": "小区编码", "t": "类型", "h": "户数", "s": "情形", "g": "网格",
              "b": "党组织", "pm": "物业公司", "rp": "红色物业"}
    status = property_status(comps)  # issue 15: property management, when the compounds say it
    if status is not None:
        yes_no = {True: vocab.YES_LABEL, False: vocab.NO_LABEL}
        props["pm"] = status.company.where(status.company.notna(), status.managed.map(yes_no)).map(
            lambda v: None if v is None or v != v else escape(v))
        props["rp"] = status.red.map(yes_no).map(lambda v: None if v is None or v != v else escape(v))
    return Layer("compounds", display_geometries(comps, gcj02=gcj02), props, np.asarray(page, dtype=object),
                 comp_ids.reset_index(drop=True), labels)


def _reach_columns(comps: gpd.GeoDataFrame, comp_ids: pd.Series, reach: pd.DataFrame, walk_m: float
                   ) -> tuple[pd.Series, pd.Series, str | None]:
    """Each compound's station distance as popup text ("320 米（沿道路）", "无法到达"), whether it is
    beyond ``walk_m``, and how the distances were measured; indexed like ``comps``."""
    if "station_distance_m" not in reach.columns:
        raise GridmapError("The reach table has no station_distance_m column; it should come from "
                           "gridmap.reach.unserved (station_distance_m, served, measured). Its "
                           f"columns are {', '.join(map(str, reach.columns))}.")
    keys = _text(reach["compound_id"]) if "compound_id" in reach.columns else None
    # Ids decide when they can (a reordered table may still carry a 0…n index); the index only
    # when they are missing or repeated.
    if keys is not None and keys.notna().all() and not keys.duplicated().any():
        table = reach.set_axis(keys.to_numpy()).reindex(comp_ids.to_numpy()).set_axis(comps.index)
    elif reach.index.equals(comps.index):
        table = reach
    else:
        raise GridmapError("The reach table is neither indexed like the compounds nor has a "
                           "compound_id column, so its distances cannot be matched to compounds.")
    distance = pd.to_numeric(table["station_distance_m"], errors="coerce")
    how = table["measured"].astype(object) if "measured" in table else pd.Series(None, index=table.index, dtype=object)
    how = how.map(lambda v: None if pd.isna(v) else MEASURED_LABELS.get(str(v), str(v)))
    text = [None if pd.isna(d) else "无法到达" if np.isinf(d) else
            f"{d:.0f} 米" + (f"（{h}）" if h else "") for d, h in zip(distance, how)]
    text = pd.Series(text, index=comps.index, dtype=object).map(escape)
    if "served" in table:
        served = table["served"].map(lambda v: None if pd.isna(v) else
                                     (str(v).strip().lower() in ("true", "1", "yes")) if isinstance(v, str) else bool(v))
        beyond = served.eq(False) & distance.notna()
    else:
        beyond = distance > walk_m
    kinds = how.dropna().unique()
    return text, beyond.astype(bool), escape("、".join(kinds)) if len(kinds) else None


def _grid_layer(grids, grid_ids, page, org_ids, org, worker_of_grid, gcj02) -> Layer:
    name_field = find_field(grids, "grid_name", required=False, exclude=_COMPUTED)
    names = _text(grids[name_field]) if name_field else pd.Series(None, index=grids.index, dtype=object)
    situation = grids["situation"].astype(str)
    sit_index = {s: i for i, s in enumerate(vocab.GRID_SITUATIONS)}
    n_comps = grids["compound_ids"].fillna("").astype(str).map(
        lambda v: len([p for p in v.split(settings.LIST_SEP) if p]))
    worker = grid_ids.map(worker_of_grid) if len(worker_of_grid) else None
    if worker is None:
        wfield = next((c for c in grids.columns if str(c).lower() in WORKER_FIELDS
                       and not looks_like_names(grids[c])), None)  # names are never shown (issue 12)
        worker = _text(grids[wfield]).map(escape) if wfield else pd.Series(None, index=grids.index, dtype=object)
    props = pd.DataFrame({
        "i": grid_ids.map(escape),
        "n": names.map(escape),
        "s": situation.map(SITUATION_LABELS).fillna(situation).map(escape),
        "h": _households(grids, None).to_numpy(),
        "c": n_comps.astype(str),
        "w": worker.to_numpy(),
        "b": grid_ids.map(_unit_of(org_ids, "grid", BRANCH_KINDS)).to_numpy(),
        "_s": situation.map(sit_index).fillna(len(sit_index)).astype(int),
    }, index=grids.index)
    labels = {"i": "网格编码", "n": "网格", "s": "情形", "h": "户数", "c": "小区数", "w": "网格员编号",
              "b": "党组织"}
    return Layer("grids", display_geometries(grids, gcj02=gcj02), props, np.asarray(page, dtype=object),
                 grid_ids.reset_index(drop=True), labels)


def _microgrid_layer(microgrids, grids, grid_page, page_of_grid, worker_of_grid, gcj02
                     ) -> tuple[Layer, pd.Series]:
    mg = microgrids[microgrids.geometry.notna() & ~microgrids.geometry.is_empty]
    mid_field = next((c for c in mg.columns if str(c).lower() in ("microgrid_id", "微网格编码", "微网格编号")), None)
    mids = _text(mg[mid_field]) if mid_field else pd.Series([str(i + 1) for i in range(len(mg))], index=mg.index)
    gid_field = find_field(mg, "grid_id", required=False)
    if gid_field is not None:
        gids = _text(mg[gid_field])
    else:
        gids = _located_in(mg, grids, _text(grids["grid_id"]).to_numpy(dtype=object))
    page = gids.map(page_of_grid).fillna(UNASSIGNED).to_numpy(dtype=object)
    wfield = next((c for c in mg.columns if str(c).lower() in ("worker", *WORKER_FIELDS)
                   and not looks_like_names(mg[c])), None)  # names are never shown (issue 12)
    props = pd.DataFrame({
        "i": mids.map(escape),
        "g": gids.map(escape),
        "h": _households(mg, None).to_numpy(),
        "w": _text(mg[wfield]).map(escape) if wfield else gids.map(worker_of_grid),
    }, index=mg.index)
    of_building = pd.Series(dtype=object)
    if "building_ids" in mg:
        exploded = mg["building_ids"].fillna("").astype(str).str.split(settings.LIST_SEP).explode().str.strip()
        of_building = pd.Series(mids.reindex(exploded.index).to_numpy(), index=exploded.to_numpy())
        of_building = of_building[of_building.index != ""]
        of_building = of_building[~of_building.index.duplicated()]
    labels = {"i": "微网格", "g": "网格", "h": "户数", "w": "网格员编号"}
    return Layer("microgrids", display_geometries(mg, gcj02=gcj02), props, page,
                 mids.reset_index(drop=True), labels), of_building


def _located_in(points_of: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame, values: np.ndarray) -> pd.Series:
    """The value of the polygon holding each feature's representative point (None outside)."""
    pts = gpd.GeoDataFrame(geometry=points_of.geometry.representative_point().to_numpy(), crs=points_of.crs)
    if polygons.crs is not None and pts.crs is not None and not pts.crs.equals(polygons.crs):
        pts = pts.to_crs(polygons.crs)
    poly = gpd.GeoDataFrame({"_v": values}, geometry=polygons.geometry.to_numpy(), crs=polygons.crs)
    hit = gpd.sjoin(pts, poly, predicate="within", how="left")
    hit = hit[~hit.index.duplicated()]
    out = hit["_v"].reindex(range(len(pts))).to_numpy(dtype=object)
    return pd.Series(np.where(pd.isna(out), None, out), index=points_of.index, dtype=object)


def _building_layer(buildings, comps, comp_ids, comp_page, grids, grid_ids, grid_page, mg_of_building,
                    microgrids, org_ids, org, members, gcj02, building_id, households) -> Layer:
    b = buildings[buildings.geometry.notna() & ~buildings.geometry.is_empty]
    bid_field = find_field(b, "building_id", building_id if building_id in b.columns else None, required=False)
    bids = _text(b[bid_field]) if bid_field else pd.Series([str(i + 1) for i in range(len(b))], index=b.index)
    in_grid = _located_in(b, grids, grid_ids.to_numpy(dtype=object))
    cfield = find_field(b, "compound_id", required=False)
    in_comp = _text(b[cfield]) if cfield else _located_in(b, comps, comp_ids.to_numpy(dtype=object))
    page_by_grid = pd.Series(grid_page, index=grid_ids.to_numpy())
    page_by_grid = page_by_grid[~page_by_grid.index.duplicated()]
    page_by_comp = pd.Series(comp_page, index=comp_ids.to_numpy())
    page_by_comp = page_by_comp[~page_by_comp.index.duplicated()]
    page = in_comp.map(page_by_comp).fillna(in_grid.map(page_by_grid)).fillna(UNASSIGNED)
    name_of_comp = pd.Series(comps.get("name", comp_ids).to_numpy() if "name" in comps else comp_ids.to_numpy(),
                             index=comp_ids.to_numpy())
    name_of_comp = name_of_comp[~name_of_comp.index.duplicated()]
    pm_field = find_field(b, "party_members", required=False)
    if pm_field is not None:
        party = escape_series(pd.to_numeric(b[pm_field], errors="coerce"))
    elif members is not None and len(members):
        mb = find_field(members, "building_id")
        counts = _text(members[mb]).value_counts()
        party = bids.map(counts).map(lambda v: None if pd.isna(v) else str(int(v)))
    else:
        party = pd.Series(None, index=b.index, dtype=object)
    if len(mg_of_building):
        mg = bids.map(mg_of_building)
    elif microgrids is not None and len(microgrids):
        mfield = next((c for c in microgrids.columns if str(c).lower() == "microgrid_id"), None)
        mg = _located_in(b, microgrids, _text(microgrids[mfield]).to_numpy(dtype=object)) if mfield \
            else pd.Series(None, index=b.index, dtype=object)
    else:
        mg = pd.Series(None, index=b.index, dtype=object)
    props = pd.DataFrame({
        "i": bids.map(escape),
        "c": in_comp.map(name_of_comp).map(escape),
        "h": _households(b, households).to_numpy(),
        "p": party.to_numpy(),
        "gr": bids.map(_unit_of(org_ids, "building", ("group", "central_household"))).to_numpy(),
        "g": in_grid.map(escape).to_numpy(),
        "m": mg.map(escape).to_numpy(),
    }, index=b.index)
    labels = {"i": "楼栋", "c": "小区", "h": "户数", "p": "党员数", "gr": "党小组", "g": "网格", "m": "微网格"}
    return Layer("buildings", display_geometries(b, gcj02=gcj02), props, page.to_numpy(dtype=object),
                 bids.reset_index(drop=True), labels)


def _station_layer(stations, grids, grid_page, metric, gcj02) -> Layer:
    s = stations[stations.geometry.notna() & ~stations.geometry.is_empty]
    name_field = next((c for c in s.columns if str(c).lower() in ("name", "名称", "服务站名称", "station")), None)
    names = _text(s[name_field]) if name_field else pd.Series("党群服务站", index=s.index)
    pts = gpd.GeoDataFrame(geometry=s.geometry.representative_point().to_numpy(), crs=s.crs).to_crs(metric)
    gm = gpd.GeoDataFrame({"_p": grid_page}, geometry=grids.geometry.to_numpy(), crs=grids.crs).to_crs(metric)
    near = gpd.sjoin_nearest(pts, gm, how="left", max_distance=1000)
    near = near[~near.index.duplicated()]
    page = near["_p"].reindex(range(len(s))).fillna(UNASSIGNED).to_numpy(dtype=object)
    props = pd.DataFrame({"n": names.fillna("党群服务站").map(escape)}, index=s.index)
    points = gpd.GeoDataFrame(geometry=s.geometry.representative_point().to_numpy(), crs=s.crs)
    return Layer("stations", display_geometries(points, gcj02=gcj02), props, page, None, {"n": "党群服务站"})


# ------------------------------------------------------------------ page furniture


@dataclass
class _Style:
    basemap: str
    tianditu_key: str | None
    attribution: str | None


_PAGE_CSS = """
<style>
html, body { height: 100%; margin: 0; font-family: system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei",
  "Microsoft YaHei", "PingFang SC", sans-serif; }
.gm-side { position: absolute; top: 0; left: 0; bottom: 0; width: 330px; overflow: auto;
  box-sizing: border-box; padding: 10px 12px; background: #fbfbf8; border-right: 1px solid #bbb;
  font-size: 13px; line-height: 1.45; z-index: 1; }
.folium-map { position: absolute !important; top: 0 !important; bottom: 0 !important; right: 0 !important;
  left: 330px !important; width: auto !important; height: auto !important; }
body.gm-noside .gm-side { display: none; }
body.gm-noside .folium-map { left: 0 !important; }
.folium-map:fullscreen { left: 0 !important; width: 100% !important; height: 100% !important; }
.leaflet-container { background: #eef0ea; font-family: inherit; }
.gm-side h1 { font-size: 17px; margin: 2px 0 6px; }
.gm-side h2 { font-size: 14px; margin: 12px 0 4px; }
.gm-side table { border-collapse: collapse; width: 100%; margin: 4px 0; }
.gm-side th, .gm-side td { border-bottom: 1px solid #ddd; padding: 2px 4px; text-align: left; }
.gm-side td.num, .gm-side th.num { text-align: right; font-variant-numeric: tabular-nums; }
.gm-side details { margin-left: 10px; }
.gm-side details > summary { cursor: pointer; margin-left: -10px; }
.gm-side .leaf { margin-left: 4px; }
.gm-side a[data-b] { color: #0b57a4; text-decoration: none; cursor: pointer; }
.gm-side a[data-b]:hover { text-decoration: underline; }
.gm-side .k { color: #666; font-size: 12px; }
.gm-side .note { color: #555; font-size: 12px; }
.gm-swatch { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle;
  border: 2px solid #666; box-sizing: border-box; }
.gm-legend { background: rgba(255,255,255,.93); padding: 6px 8px; font-size: 12px; line-height: 1.5;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-height: 60vh; overflow: auto; }
.gm-legend b { display: block; margin-top: 2px; }
.gm-legend svg { vertical-align: middle; margin-right: 4px; }
.gm-search { background: #fff; padding: 3px; }
.gm-search input { width: 190px; font-size: 13px; padding: 3px 4px; border: 1px solid #aaa; }
.gm-search.gm-miss input { border-color: #d00; background: #fff3f3; }
.gm-btn { display: block; width: 30px; height: 30px; line-height: 30px; text-align: center;
  background: #fff; cursor: pointer; font-size: 18px; color: #222; }
.leaflet-tooltip table, .leaflet-popup-content table { border-collapse: collapse; }
.leaflet-popup-content { font-size: 14px; margin: 10px 14px; } .leaflet-tooltip { font-size: 13px; }
.leaflet-popup-content th { color: #555; font-weight: normal; padding-right: 8px; text-align: left; }
@media (max-width: 700px) { .gm-side { display: none; } .folium-map { left: 0 !important; } }
</style>
"""

_GLUE = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this.map_name }};
  var layers = { {%- for k, v in this.layers.items() %}{{ k|tojson }}: {{ v }},{% endfor %} };
  window.gridmap = { map: map, layers: layers };
  function decode(s) { var t = document.createElement('textarea'); t.innerHTML = s || ''; return t.value; }
  function fit(b) { map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { maxZoom: 18, padding: [24, 24] }); }
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-b]');
    if (!a) { return; }
    ev.preventDefault();
    fit(a.getAttribute('data-b').split(',').map(Number));
  });
  {%- if this.attribution %}
  map.attributionControl.addAttribution({{ this.attribution|tojson }});
  {%- endif %}
  var Full = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var bar = L.DomUtil.create('div', 'leaflet-bar');
    var a = L.DomUtil.create('a', 'gm-btn gm-full', bar);
    a.href = '#'; a.title = '全屏 / fullscreen'; a.setAttribute('role', 'button'); a.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="vertical-align:middle"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#222" stroke-width="2"/></svg>';
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      var el = map.getContainer();
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (el.requestFullscreen) { el.requestFullscreen(); }
    });
    L.DomEvent.disableClickPropagation(bar);
    return bar; } });
  document.addEventListener('fullscreenchange', function () { map.invalidateSize(); });
  new Full().addTo(map);
  L.control.scale({ imperial: false, maxWidth: 150 }).addTo(map);
  {%- if this.side %}
  var Side = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var bar = L.DomUtil.create('div', 'leaflet-bar');
    var a = L.DomUtil.create('a', 'gm-btn gm-side-toggle', bar);
    a.href = '#'; a.title = '侧栏 / side panel'; a.setAttribute('role', 'button'); a.textContent = '\\u2630';
    L.DomEvent.on(a, 'click', function (e) {
      L.DomEvent.preventDefault(e);
      document.body.classList.toggle('gm-noside'); map.invalidateSize();
    });
    L.DomEvent.disableClickPropagation(bar);
    return bar; } });
  new Side().addTo(map);
  {%- endif %}
  {%- if this.search %}
  var target = layers[{{ this.search|tojson }}];
  var Search = L.Control.extend({ options: { position: 'topleft' }, onAdd: function () {
    var box = L.DomUtil.create('div', 'leaflet-bar gm-search');
    var input = L.DomUtil.create('input', '', box);
    input.type = 'search'; input.placeholder = '搜索小区 search';
    input.setAttribute('list', 'gm-names'); input.setAttribute('aria-label', '搜索小区');
    var list = L.DomUtil.create('datalist', '', box); list.id = 'gm-names';
    var names = {};
    target.eachLayer(function (l) { l._gmName = decode(l.feature.properties.n); names[l._gmName] = 1; });
    Object.keys(names).sort().forEach(function (n) {
      var o = document.createElement('option'); o.value = n; list.appendChild(o); });
    function go() {
      var q = input.value.trim(); if (!q) { return; }
      var hits = [];
      target.eachLayer(function (l) { if (l._gmName === q) { hits.push(l); } });
      if (!hits.length) { target.eachLayer(function (l) { if (l._gmName.indexOf(q) >= 0) { hits.push(l); } }); }
      box.classList.toggle('gm-miss', !hits.length);
      if (!hits.length) { return; }
      if (!map.hasLayer(target)) { map.addLayer(target); }
      var b = L.latLngBounds([]);
      hits.forEach(function (l) { b.extend(l.getBounds ? l.getBounds() : l.getLatLng()); });
      map.fitBounds(b, { maxZoom: 18, padding: [30, 30] });
      if (hits.length === 1) {
        var at = hits[0].getBounds ? hits[0].getBounds().getCenter() : hits[0].getLatLng();
        hits[0].fire('click', { latlng: at }, true);
      }
    }
    input.addEventListener('change', go);
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { go(); } });
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    return box; } });
  new Search().addTo(map);
  {%- endif %}
  {%- if this.legend %}
  var Legend = L.Control.extend({ options: { position: 'bottomright' }, onAdd: function () {
    var div = L.DomUtil.create('div', 'gm-legend');
    div.innerHTML = {{ this.legend|tojson }};
    L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
    return div; } });
  new Legend().addTo(map);
  {%- endif %}
})();
{% endmacro %}
""")


class _PageGlue(MacroElement):
    """Page script: exposes ``window.gridmap``, wires side-panel links to ``fitBounds`` and adds
    the fullscreen, side-panel, search and legend controls (plain Leaflet, no plugin files)."""

    _template = _GLUE

    def __init__(self, map_name: str, layers: dict[str, str], *, search: str | None, legend: str | None,
                 attribution: str | None, side: bool = True):
        super().__init__()
        self._name = "PageGlue"
        self.map_name = map_name
        self.layers = layers
        self.search = search
        self.legend = legend
        self.attribution = attribution
        self.side = side


def _new_map(bounds: np.ndarray | None, style: _Style, title: str) -> folium.Map:
    m = folium.Map(tiles=None, prefer_canvas=True, zoom_start=13,
                   location=[37.85, 112.55] if bounds is None else
                   [round((bounds[1] + bounds[3]) / 2, DECIMALS), round((bounds[0] + bounds[2]) / 2, DECIMALS)])
    # Folium's CDN assets (jQuery, Bootstrap, awesome-markers) are not used here; Leaflet is
    # inlined below instead of linked.
    m.default_js = []
    m.default_css = []
    root = m.get_root()
    root.header.add_child(_RawHTML(f"<title>{escape(title)}</title>"), name="gm_title")
    root.header.add_child(_RawHTML(leaflet_assets()), name="gm_leaflet")
    root.header.add_child(_RawHTML(_PAGE_CSS + _GMFC), name="gm_css")
    _add_basemap(m, style)
    if bounds is not None and np.isfinite(bounds).all():
        # Before any layer is added and without animation: features are drawn once, in place.
        fit = FitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]], padding=(10, 10))
        fit.options["animate"] = False
        m.add_child(fit)
    return m


def _add_basemap(m: folium.Map, style: _Style) -> None:
    if style.basemap == "osm":
        folium.TileLayer(
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png", name="OpenStreetMap", max_zoom=19,
            attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        ).add_to(m)
    elif style.basemap == "tianditu":
        wmts = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                "&TILECOL={x}&tk=" + str(style.tianditu_key))
        attr = "&copy; 天地图 Tianditu"
        folium.TileLayer(wmts % ("vec", "vec"), name="天地图 矢量", attr=attr, subdomains="01234567",
                         max_zoom=18).add_to(m)
        folium.TileLayer(wmts % ("img", "img"), name="天地图 影像", attr=attr, subdomains="01234567",
                         max_zoom=18, show=False).add_to(m)
        folium.TileLayer(wmts % ("cva", "cva"), name="天地图 注记", attr=attr, subdomains="01234567",
                         max_zoom=18, overlay=True, control=True).add_to(m)
    elif style.basemap == "gaode":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            name="高德地图 Gaode", attr="&copy; 高德地图 AutoNavi (GCJ-02)", subdomains="1234", max_zoom=18,
        ).add_to(m)


def _style_js(body: str) -> JsCode:
    return JsCode("function (feature) { var p = feature.properties; " + body + " }")


def _geojson(m: folium.Map, layer: Layer, name: str, style: str, *, tooltip: list[str] | None = None,
             popup: list[str] | None = None, show: bool = True, point_radius: float | None = None,
             interactive: bool = True) -> folium.GeoJson:
    options = {}
    if point_radius is not None:
        options["marker"] = folium.CircleMarker(radius=point_radius)
    g = folium.GeoJson(layer.first_feature(), name=name, show=show, style=_style_js(style),
                       interactive=interactive, **options)
    g.add_child(_LayerData(g.get_name(), layer.data_script()))
    if tooltip:
        fields, labels = layer.fields(tooltip)
        if fields:
            g.add_child(folium.GeoJsonTooltip(fields, aliases=labels, labels=len(fields) > 1))
    if popup:
        fields, labels = layer.fields(popup)
        if fields:
            g.add_child(folium.GeoJsonPopup(fields, aliases=labels, max_width=360))
    g.add_to(m)
    return g


def _situation_js(names: tuple[str, ...]) -> str:
    return json.dumps([SITUATION_COLOURS[s] for s in names] + [vocab.OTHER_COLOUR])


def _type_js(type_order: list[str]) -> tuple[str, str]:
    styles = [TYPE_STYLES.get(t, OTHER_TYPE) for t in type_order]
    return json.dumps([s[0] for s in styles]), json.dumps([s[1] for s in styles])


def _legend(ctx: _Context, extra: list[tuple[str, str]], types: bool = True,
            compounds: Layer | None = None) -> str:
    """Legend HTML: fill colours by situation, outlines by type, then the other layers; only
    what ``compounds`` (by default all of them) holds."""
    compounds = compounds if compounds is not None else ctx.compounds
    rows = ["<b>小区情形 compounds</b>"]
    present_c = set(compounds.props["_s"])
    present_t = set(compounds.props["_t"])
    for i, s in enumerate(vocab.COMPOUND_SITUATIONS):
        if i in present_c:
            rows.append(f'<span class="gm-swatch" style="background:{SITUATION_COLOURS[s]};opacity:.8"></span>'
                        f"{escape(SITUATION_LABELS[s])}<br>")
    if types and ctx.type_order:
        rows.append("<b>小区类型 outline</b>")
        for t in [t for i, t in enumerate(ctx.type_order) if i in present_t]:
            colour, dash = TYPE_STYLES.get(t, OTHER_TYPE)
            rows.append(f"{_line_svg(colour, 3, dash)}{escape(t)}<br>")
    rows.append("<b>其他 other</b>")
    for svg, label in extra:
        rows.append(f"{svg}{escape(label)}<br>")
    return "".join(rows)


def _line_svg(colour: str, width: float = 3, dash: str | None = None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<svg width="26" height="10"><line x1="0" y1="5" x2="26" y2="5" stroke="{colour}" '
            f'stroke-width="{width}"{d}/></svg>')


def _dot_svg(colour: str, r: float = 4) -> str:
    return (f'<svg width="26" height="10"><circle cx="13" cy="5" r="{r}" fill="{colour}" '
            f'stroke="#fff" stroke-width="1"/></svg>')


def _side(m: folium.Map, html_text: str) -> None:
    m.get_root().html.add_child(_RawHTML(f'<aside class="gm-side">{html_text}</aside>'), name="gm_side")


@contextlib.contextmanager
def _template_cache():
    """Compile each Jinja template source once while pages are made.

    Folium and branca compile a template for every element they create (tooltip styles, header
    links, each ``Element``), the same few sources again and again: on a city's 160 pages that
    compiling was most of the build time. A compiled template is immutable, so one compiled
    object per (environment, source, class) is shared; the original method is restored after.
    """
    original = jinja2.Environment.from_string
    cache: dict = {}

    def from_string(self, source, globals=None, template_class=None):
        if globals is not None or not isinstance(source, str):
            return original(self, source, globals, template_class)
        key = (id(self), source, template_class)
        if key not in cache:
            cache[key] = original(self, source, None, template_class)
        return cache[key]

    jinja2.Environment.from_string = from_string
    try:
        yield
    finally:
        jinja2.Environment.from_string = original


def _render(m: folium.Map) -> str:
    # Compact JSON with Chinese kept as UTF-8 (not \\uXXXX); the policy is folium's global one,
    # so it is restored at once. Jinja's tojson still escapes < > & ' for HTML.
    policies = folium.GeoJson._template.environment.policies
    saved = policies.get("json.dumps_kwargs")
    policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")}
    try:
        return m.get_root().render()
    finally:
        policies["json.dumps_kwargs"] = saved


def _extent(*layers: Layer | None) -> np.ndarray | None:
    geoms = [l.geoms for l in layers if l is not None and len(l)]
    if not geoms:
        return None
    b = shapely.bounds(np.concatenate(geoms))
    return np.array([np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])])


def _counts_table(comp_sit: pd.Series, grid_sit: pd.Series) -> str:
    rows = ['<table><tr><th>情形 situation</th><th class="num">小区</th><th class="num">网格</th></tr>']
    for s in dict.fromkeys([*vocab.COMPOUND_SITUATIONS, *vocab.GRID_SITUATIONS]):
        c = int((comp_sit == s).sum()) if s in vocab.COMPOUND_SITUATIONS else None
        g = int((grid_sit == s).sum()) if s in vocab.GRID_SITUATIONS else None
        if not c and not g:
            continue
        rows.append(f'<tr><td><span class="gm-swatch" style="background:{SITUATION_COLOURS[s]}"></span>'
                    f'{escape(SITUATION_LABELS[s])}</td><td class="num">{"" if c is None else c}</td>'
                    f'<td class="num">{"" if g is None else g}</td></tr>')
    rows.append(f'<tr><th>合计 total</th><th class="num">{len(comp_sit)}</th><th class="num">{len(grid_sit)}</th></tr></table>')
    return "".join(rows)


# ------------------------------------------------------------------ the index


def _index_page(ctx: _Context, style: _Style, *, has_proposal: bool) -> str:
    comps = ctx.classification.compounds
    grids = ctx.classification.grids
    m = _new_map(_extent(ctx.compounds, ctx.grids), style, "总览 · gridmap")
    # The overview draws simplified shapes and only what the tooltips need.
    page_title = pd.Series({k: escape(p.title) for k, p in ctx.pages.items()})
    grid_l = _grids_by_page(ctx, page_title)
    comp_props = ctx.compounds.props[[c for c in ("n", "t", "s", "r", "_s", "_t") if c in ctx.compounds.props]].assign(
        p=pd.Series(ctx.compounds.page, index=ctx.compounds.props.index).map(page_title))
    comp_l = Layer("compounds", shapely.simplify(ctx.compounds.geoms, INDEX_SIMPLIFY, preserve_topology=True),
                   comp_props, ctx.compounds.page, labels={**ctx.compounds.labels, "p": "社区/片区"})
    o = ctx.outlines
    links = pd.Series({k: f'<a href="{p.file}">{escape(p.title)}</a>' for k, p in ctx.pages.items()})
    outline_l = Layer("outlines", o.geoms, pd.DataFrame({"n": o.props["k"].map(links).to_numpy()}),
                      o.page, labels={"n": "打开 open"})
    gcol = _situation_js(vocab.GRID_SITUATIONS)
    ccol = _situation_js(vocab.COMPOUND_SITUATIONS)
    tcol, tdash = _type_js(ctx.type_order)
    layers = {}
    if len(outline_l):
        layers["pages"] = _geojson(m, outline_l, "社区/片区 pages",
                                   "return {color: '#222', weight: 2.5, fill: true, fillOpacity: 0.02};",
                                   popup=["n"]).get_name()
    layers["grids"] = _geojson(m, grid_l, "网格 grids",
                               f"return {{color: {gcol}[p._s], weight: 1.5, fillOpacity: 0.12, "
                               f"fillColor: {gcol}[p._s]}};", tooltip=["s", "c", "p"]).get_name()
    layers["compounds"] = _geojson(m, comp_l, "小区 compounds",
                                   f"var t = p._t; return {{fillColor: {ccol}[p._s], fillOpacity: 0.6, weight: 1.5, "
                                   f"color: t >= 0 ? {tcol}[t] : '#333', dashArray: t >= 0 ? {tdash}[t] : null}};",
                                   tooltip=["n", "t", "s", "p", "r"]).get_name()
    extra = [(_line_svg("#222", 2.5), "社区/片区边界 (点击打开)")]
    if ctx.reach is not None and len(ctx.reach):
        r = ctx.reach
        simple = Layer("reach", shapely.simplify(r.geoms, INDEX_SIMPLIFY, preserve_topology=True), r.props, r.page,
                       clean=True)
        layers["reach"] = _reach_overlay(m, simple, ctx.walk_m, weight=4)
        extra.append((_line_svg(REACH_STYLE[0], REACH_STYLE[1], REACH_STYLE[2]), _reach_title(ctx.walk_m)))
    folium.LayerControl(collapsed=False).add_to(m)
    legend = _legend(ctx, extra)
    m.add_child(_PageGlue(m.get_name(), layers, search="compounds", legend=legend,
                          attribution=escape(style.attribution) if style.attribution else None))

    type_field = find_field(comps, "compound_type", required=False, exclude=_COMPUTED)
    parts = ["<h1>小区与网格总览</h1>",
             f'<p class="note">{len(comps)} 个小区 compounds · {len(grids)} 个网格 grids · '
             f"{len(ctx.pages)} 页 pages</p>",
             "<h2>三种情形 situations</h2>", _counts_table(comps["situation"], grids["situation"])]
    if ctx.reach is not None:
        parts.append(_reach_note(ctx, len(ctx.reach)))
    if type_field:
        cross = pd.crosstab(_text(comps[type_field]).map(vocab.canonical_type).fillna(vocab.UNTYPED),
                            comps["situation"])
        cols = [s for s in vocab.COMPOUND_SITUATIONS if s in cross.columns]
        order = [t for t in ctx.type_order if t in cross.index] + [t for t in cross.index if t not in ctx.type_order]
        parts.append("<h2>按小区类型 by compound type</h2><table><tr><th>类型</th>" +
                     "".join(f'<th class="num" title="{escape(SITUATION_LABELS[c])}">'
                             f'<span class="gm-swatch" style="background:{SITUATION_COLOURS[c]}"></span></th>'
                             for c in cols) + '<th class="num">合计</th></tr>')
        for t in order:
            row = cross.loc[t]
            parts.append(f"<tr><td>{escape(t)}</td>" + "".join(f'<td class="num">{int(row[c])}</td>' for c in cols)
                         + f'<td class="num">{int(row.sum())}</td></tr>')
        parts.append("</table>")
    if has_proposal:
        parts.append('<h2>对齐方案 proposal</h2><p><a href="proposal.html">拉平对齐方案 planners\' view</a></p>')
    parts.append("<h2>社区/片区 pages</h2><table><tr><th>名称</th><th class=\"num\">小区</th>"
                 "<th class=\"num\">网格</th><th class=\"num\" title=\"跨网格\">待对齐</th></tr>")
    c_pages = pd.Series(ctx.compounds.page)
    g_pages = pd.Series(ctx.grids.page)
    mixed = pd.Series(ctx.compounds.page)[comps["situation"].to_numpy() == "mixed"].value_counts()
    c_count = c_pages.value_counts()
    g_count = g_pages.value_counts()
    for key, p in ctx.pages.items():
        parts.append(f'<tr><td><a href="{p.file}">{escape(p.title)}</a></td>'
                     f'<td class="num">{int(c_count.get(key, 0))}</td><td class="num">{int(g_count.get(key, 0))}</td>'
                     f'<td class="num">{int(mixed.get(key, 0))}</td></tr>')
    parts.append("</table>")
    _side(m, "".join(parts))
    return _render(m)


def _grids_by_page(ctx: _Context, page_title: pd.Series, by_situation: bool = True) -> Layer:
    """The overview's grids: one multipolygon per page (and situation), simplified.

    A city has thousands of grids; drawn one by one they make the overview slow to open, while
    grouped they keep every outline and colour with a few hundred map features (grids one by one
    are on the community pages).
    """
    g = ctx.grids
    simple = shapely.simplify(g.geoms, INDEX_SIMPLIFY, preserve_topology=True)
    situation = g.props["_s"].astype(int) if by_situation else pd.Series(-1, index=g.props.index)
    groups = pd.DataFrame({"p": g.page, "s": situation.to_numpy()}).groupby(["p", "s"], sort=True).indices
    keys = list(groups)
    geoms = np.array([shapely.multipolygons(shapely.get_parts(simple[groups[k]])) for k in keys], dtype=object)
    label = pd.Series(g.props["s"].to_numpy(), index=g.props["_s"].astype(int).to_numpy())
    label = label[~label.index.duplicated()]
    props = pd.DataFrame({"s": [label.get(s) for _, s in keys], "_s": [s for _, s in keys],
                          "c": [str(len(groups[k])) for k in keys],
                          "p": [page_title.get(p) for p, _ in keys]})
    return Layer("grids", geoms, props, np.array([p for p, _ in keys], dtype=object),
                 labels={"s": "情形", "c": "网格数", "p": "社区/片区"})


# ------------------------------------------------------------------ a community page


def _community_page(ctx: _Context, page: Page, style: _Style) -> str:
    comps = ctx.compounds.subset(page.key)
    grids = ctx.grids.subset(page.key)
    mgs = ctx.microgrids.subset(page.key) if ctx.microgrids is not None else None
    blds = ctx.buildings.subset(page.key) if ctx.buildings is not None else None
    stns = ctx.stations.subset(page.key) if ctx.stations is not None else None
    outline = ctx.outlines.subset(page.key)
    m = _new_map(_extent(comps, grids, mgs, blds), style, f"{page.title} · gridmap")
    gcol = _situation_js(vocab.GRID_SITUATIONS)
    ccol = _situation_js(vocab.COMPOUND_SITUATIONS)
    tcol, tdash = _type_js(ctx.type_order)
    layers: dict[str, str] = {}
    extra = []
    if page.kind == "community" and len(outline):
        layers["outline"] = _geojson(m, Layer("outline", outline.geoms, pd.DataFrame({"k": [0] * len(outline)}),
                                              outline.page), "社区边界 boundary",
                                     "return {color: '#111', weight: 3, fill: false, dashArray: '10 6'};",
                                     interactive=False).get_name()
        extra.append((_line_svg("#111", 3, "10 6"), "社区边界"))
    if len(grids):
        layers["grids"] = _geojson(m, grids, "网格 grids",
                                   f"return {{color: {gcol}[p._s], weight: 3, fillColor: {gcol}[p._s], "
                                   f"fillOpacity: 0.08}};",
                                   tooltip=["n", "i", "s"], popup=["n", "i", "s", "h", "c", "w", "b"]).get_name()
        extra.append((_line_svg("#7570b3", 3), "网格 (颜色=情形)"))
    if mgs is not None and len(mgs):
        layers["microgrids"] = _geojson(m, mgs, "微网格 micro-grids",
                                        "return {color: '#555', weight: 1, dashArray: '4 3', fill: true, "
                                        "fillOpacity: 0};",
                                        tooltip=["i", "h"], popup=["i", "g", "h", "w"]).get_name()
        extra.append((_line_svg("#555", 1, "4 3"), "微网格"))
    if len(comps):
        layers["compounds"] = _geojson(m, comps, "小区 compounds",
                                       f"var t = p._t; return {{fillColor: {ccol}[p._s], fillOpacity: 0.45, "
                                       f"weight: 2.5, color: t >= 0 ? {tcol}[t] : '#333', "
                                       f"dashArray: t >= 0 ? {tdash}[t] : null}};",
                                       tooltip=["n", "s", "r"],
                                       popup=["n", "i", "t", "h", "s", "g", "b", "pm", "rp", "r"]).get_name()
    far = ctx.reach.subset(page.key) if ctx.reach is not None else None
    if far is not None and len(far):
        # Drawn over the compounds' fill and under the buildings; not clickable, so that a click
        # still opens the compound's popup.
        layers["reach"] = _reach_overlay(m, far, ctx.walk_m, weight=REACH_STYLE[1])
        extra.append((_line_svg(REACH_STYLE[0], REACH_STYLE[1], REACH_STYLE[2]), _reach_title(ctx.walk_m)))
    if blds is not None and len(blds):
        layers["buildings"] = _geojson(m, blds, "楼栋 buildings",
                                       "return {color: '#444', weight: 1, fill: true, fillColor: '#fdd49e', fillOpacity: 0.9};",
                                       tooltip=["i", "gr"], popup=["i", "c", "h", "p", "gr", "g", "m"],
                                       point_radius=4).get_name()
        extra.append(('<span class="gm-swatch" style="background:#fdd49e;border:1px solid #444"></span>', "楼栋"))
    if stns is not None and len(stns):
        layers["stations"] = _geojson(m, stns, "党群服务站 stations",
                                      "return {color: '#fff', weight: 2, fill: true, fillColor: '#c00000', fillOpacity: 1};",
                                      tooltip=["n"], popup=["n"], point_radius=8).get_name()
        extra.append((_dot_svg("#c00000", 5), "党群服务站"))
    folium.LayerControl(collapsed=False).add_to(m)
    m.add_child(_PageGlue(m.get_name(), layers, search="compounds" if len(comps) else None,
                          legend=_legend(ctx, extra, compounds=comps),
                          attribution=escape(style.attribution) if style.attribution else None))
    _side(m, _community_side(ctx, page, comps, grids, blds, far))
    return _render(m)


def _reach_title(walk_m: float) -> str:
    return f"服务站步行距离外的小区 (> {walk_m:g} m)"


def _reach_overlay(m: folium.Map, layer: Layer, walk_m: float, weight: float) -> str:
    colour, _, dash = REACH_STYLE
    return _geojson(m, layer, escape(_reach_title(walk_m)),
                    f"return {{color: '{colour}', weight: {weight}, dashArray: '{dash}', opacity: 0.95, "
                    f"fill: false}};", interactive=False).get_name()


def _reach_note(ctx: _Context, count: int) -> str:
    how = f"按{ctx.reach_measured}距离计算，" if ctx.reach_measured else ""
    return (f"<h2>党群服务站 service stations</h2><p>距服务站超过 {ctx.walk_m:g} 米的小区：{count} 个</p>"
            f'<p class="note">{how}地图上以红色虚线标出。</p>')


def _community_side(ctx: _Context, page: Page, comps: Layer, grids: Layer, blds: Layer | None,
                    far: Layer | None = None) -> str:
    c_sit = ctx.classification.compounds["situation"].to_numpy()[ctx.compounds.page == page.key]
    g_sit = ctx.classification.grids["situation"].to_numpy()[ctx.grids.page == page.key]
    hh = pd.to_numeric(comps.props["h"], errors="coerce")
    parts = ['<p class="note"><a href="index.html">← 总览 index</a></p>',
             f"<h1>{escape(page.title)}</h1>",
             f'<p class="note">{len(comps)} 个小区 · {len(grids)} 个网格'
             + (f" · {int(hh.sum())} 户" if hh.notna().any() else "")
             + (f" · {len(blds)} 栋楼" if blds is not None and len(blds) else "") + "</p>",
             _counts_table(pd.Series(c_sit), pd.Series(g_sit))]
    c_bounds = _bounds_by_id(comps.ids, comps.geoms) if comps.ids is not None else {}
    if far is not None:
        parts.append(_reach_note(ctx, len(far)))
        text_of = dict(zip(comps.ids, comps.props["r"]))
        name_of = dict(zip(comps.ids, comps.props["n"]))
        parts += [f'<div class="leaf"><a data-b="{_bounds_attr(c_bounds[c])}">{name_of.get(c)}</a> '
                  f'<span class="k">{text_of.get(c) or ""}</span></div>' for c in far.ids if c in c_bounds]
    g_bounds = _bounds_by_id(grids.ids, grids.geoms) if grids.ids is not None else {}
    b_bounds = _bounds_by_id(blds.ids, blds.geoms) if blds is not None and blds.ids is not None else {}
    if ctx.org is not None:
        tree = _org_tree(ctx, page, c_bounds, g_bounds, b_bounds)
        if tree:
            parts += ["<h2>组织架构 organisation</h2>", '<p class="note">点击单位名称定位到其范围。</p>', tree]
    # Grids with their compounds: a way round the map that needs no organisation table.
    parts.append("<h2>网格 grids</h2>")
    comp_ids = set(comps.ids) if comps.ids is not None else set()
    name_of = dict(zip(comps.ids, comps.props["n"])) if comps.ids is not None else {}
    g_frame = ctx.classification.grids[ctx.grids.page == page.key]
    for gid, label, cids in zip(grids.ids, grids.props["n"].fillna(grids.props["i"]), g_frame["compound_ids"].fillna("")):
        inner = [c for c in str(cids).split(settings.LIST_SEP) if c in comp_ids]
        b = g_bounds.get(gid)
        head = f'<a data-b="{_bounds_attr(b)}">{label}</a>' if b is not None else label
        if inner:
            items = "".join(f'<div class="leaf"><a data-b="{_bounds_attr(c_bounds[c])}">{name_of.get(c)}</a></div>'
                            for c in inner if c in c_bounds)
            parts.append(f"<details><summary>{head} <span class=k>{len(inner)} 个小区</span></summary>{items}</details>")
        else:
            parts.append(f'<div class="leaf">{head}</div>')
    return "".join(parts)


def _org_tree(ctx: _Context, page: Page, c_bounds: dict, g_bounds: dict, b_bounds: dict) -> str:
    """Nested <details> of the units that cover this page's compounds, grids or buildings, and
    their ancestors; each unit name fits the map to its area (its own features and its
    descendants')."""
    units = ctx.org
    lookup = {"compound": c_bounds, "grid": g_bounds, "building": b_bounds}
    found = [(u, lookup[w].get(i)) for u, w, i in ctx.org_rows(page)]
    found = [(u, b) for u, b in found if b is not None]
    if not found:
        return ""
    stacked = pd.DataFrame([b for _, b in found], columns=["s", "w", "n", "e"])
    stacked["u"] = [u for u, _ in found]
    agg = stacked.groupby("u").agg(s=("s", "min"), w=("w", "min"), n=("n", "max"), e=("e", "max"))
    own = {u: v for u, v in zip(agg.index, agg.to_numpy())}
    keep: dict[str, None] = {}
    for unit in own:
        seen = set()
        while unit is not None and unit in units and unit not in seen:
            seen.add(unit)
            keep[unit] = None
            unit = units[unit]["parent_id"]
    children: dict[str | None, list[str]] = {}
    for unit in units:  # table order, so siblings keep the order gridmap org gave them
        if unit in keep:
            parent = units[unit]["parent_id"]
            children.setdefault(parent if parent in keep else None, []).append(unit)

    def node(unit: str, path: frozenset) -> tuple[str, np.ndarray | None]:
        row = units[unit]
        kind = row["kind"] or ""
        label = KIND_LABELS.get(kind, escape(kind))
        if kind == "central_household":
            # Shown by kind and building, never by the household's name.
            bids = row.get("building_ids")
            where = escape(bids.replace(settings.LIST_SEP, "、")) if isinstance(bids, str) and bids.strip() else ""
            name = label + (f"（{where}）" if where else "")
        else:
            name = escape(row["name"]) or label
        extra = [label] if kind != "central_household" and name != label else []
        if row.get("members") is not None and not pd.isna(row.get("members")):
            extra.append(f"{int(row['members'])} 名党员")
        kids = [node(c, path | {c}) for c in children.get(unit, []) if c not in path]
        parts = [own[unit]] if unit in own else []
        parts += [b for _, b in kids if b is not None]
        b = None
        if parts:
            a = np.array(parts)
            b = np.array([a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max()])
        head = f'<a data-b="{_bounds_attr(b)}">{name}</a>' if b is not None else name
        head += f' <span class="k">{" · ".join(extra)}</span>' if extra else ""
        if not kids:
            return f'<div class="leaf">{head}</div>', b
        is_open = " open" if kind in ("committee", "general_branch") else ""
        return f"<details{is_open}><summary>{head}</summary>{''.join(h for h, _ in kids)}</details>", b

    return "".join(node(u, frozenset({u}))[0] for u in children.get(None, []))


# ------------------------------------------------------------------ the planners' view


def _proposal_page(ctx: _Context, proposal: dict[str, gpd.GeoDataFrame], style: _Style) -> str:
    after = proposal.get("grids")
    changes = proposal.get("changes")
    if after is None:
        raise GridmapError("The proposal has no 'grids' layer; it should be proposal.gpkg as written "
                           "by gridmap align (layers grids and changes).")
    after = after[after.geometry.notna() & ~after.geometry.is_empty]
    gid = find_field(after, "grid_id", required=False)
    a_ids = _text(after[gid]) if gid else pd.Series(None, index=after.index, dtype=object)
    status = _text(after["status"]) if "status" in after else pd.Series("proposed", index=after.index)
    status = status.fillna("—")
    statuses = sorted(set(status))
    others = iter(STATUS_PALETTE * (1 + len(statuses) // len(STATUS_PALETTE)))
    palette = {s: STATUS_COLOURS.get(s.lower()) or next(others) for s in statuses}
    a_layer = Layer("after", display_geometries(after, gcj02=ctx.gcj02, simplify=INDEX_SIMPLIFY),
                    pd.DataFrame({"i": a_ids.map(escape), "h": _households(after, None).to_numpy(),
                                  "st": status.map(_status_label).map(escape), "_c": status.map(palette)},
                                 index=after.index),
                    np.zeros(len(after)), labels={"i": "网格 (调整后)", "h": "户数", "st": "状态"})
    # The page draws the whole area at once: outlines simplified (about 1 m), only the fields the
    # tooltips show, and the grids before alignment as one multipolygon per community.
    page_title = pd.Series({k: escape(p.title) for k, p in ctx.pages.items()})
    # The grids before alignment: the pages' own, unless the pages show the proposal's grids
    # (a run laid out on the proposal), when the current grids come with it as "before".
    if proposal.get("before") is not None:
        before = _before_grids(ctx, proposal["before"])
    else:
        before = _grids_by_page(ctx, page_title, by_situation=False)
    comps = Layer("compounds", shapely.simplify(ctx.compounds.geoms, INDEX_SIMPLIFY, preserve_topology=True),
                  ctx.compounds.props[["n", "s", "_s"]], ctx.compounds.page, labels=ctx.compounds.labels,
                  clean=True)
    ch_layer = None
    rows: list[str] = []
    moved = 0.0
    if changes is not None and len(changes):
        changes = changes[changes.geometry.notna() & ~changes.geometry.is_empty]
        name_of = pd.Series(ctx.compounds.props["n"].to_numpy(), index=ctx.compounds.ids.to_numpy())
        name_of = name_of[~name_of.index.duplicated()]
        cid = _text(changes["compound_id"]) if "compound_id" in changes else pd.Series(None, index=changes.index, dtype=object)
        hh = pd.to_numeric(changes["households"], errors="coerce") if "households" in changes else \
            pd.Series(np.nan, index=changes.index)
        moved = float(hh.sum()) if hh.notna().any() else 0.0
        area = pd.to_numeric(changes["area_m2"], errors="coerce") if "area_m2" in changes else \
            pd.Series(np.nan, index=changes.index)
        props = pd.DataFrame({
            "n": cid.map(name_of).fillna(cid.map(escape)),
            "i": cid.map(escape),
            "f": _text(changes["from_grid_id"]).map(escape) if "from_grid_id" in changes else None,
            "to": _text(changes["to_grid_id"]).map(escape) if "to_grid_id" in changes else None,
            "a": escape_series(area.round(0)),
            "h": escape_series(hh.round(0)),
        }, index=changes.index)
        # Land outside compounds has no compound: name it as open land.
        props["n"] = props["n"].where(cid.notna(), "空地")
        reason = changes["reason_label"] if "reason_label" in changes else changes.get("reason")
        props["r"] = _text(reason).map(escape) if reason is not None else None
        ch_layer = Layer("changes", display_geometries(changes, gcj02=ctx.gcj02), props, np.zeros(len(changes)),
                         labels={"n": "小区", "i": "小区编码", "f": "原网格", "to": "调入网格", "a": "面积 (m²)",
                                 "h": "涉及户数", "r": "原因"})
        rows = _change_list(changes, props, shapely.bounds(ch_layer.geoms), a_ids, status)
    m = _new_map(_extent(a_layer, before, ch_layer), style, "拉平对齐方案 · gridmap")
    ccol = _situation_js(vocab.COMPOUND_SITUATIONS)
    layers = {
        "before": _geojson(m, before, "调整前网格 grids before",
                           "return {color: '#555', weight: 2, dashArray: '6 4', fill: true, fillOpacity: 0};",
                           tooltip=["p", "c"], show=False).get_name(),
        "compounds": _geojson(m, comps, "小区 compounds",
                              f"return {{color: {ccol}[p._s], weight: 1, fillColor: {ccol}[p._s], fillOpacity: 0.25}};",
                              tooltip=["n", "s"]).get_name(),
        "after": _geojson(m, a_layer, "调整后网格 grids after",
                          "return {color: p._c, weight: 3, fill: true, fillOpacity: 0};",
                          tooltip=["i", "st", "h"], popup=["i", "st", "h"]).get_name(),
    }
    if ch_layer is not None:
        layers["changes"] = _geojson(m, ch_layer, "调整区域 changes",
                                     "return {color: '#d7191c', weight: 2, fillColor: '#d7191c', fillOpacity: 0.55};",
                                     tooltip=["n", "h"], popup=["n", "i", "f", "to", "a", "h", "r"]).get_name()
    folium.LayerControl(collapsed=False).add_to(m)
    extra = [(_line_svg("#555", 2, "6 4"), "调整前网格 (默认隐藏)")]
    extra += [(_line_svg(c, 3), f"调整后网格: {_status_label(s)}") for s, c in palette.items()]
    extra.append(('<span class="gm-swatch" style="background:#d7191c;border-color:#d7191c"></span>', "调整区域"))
    m.add_child(_PageGlue(m.get_name(), layers, search="compounds", legend=_legend(ctx, extra, types=False),
                          attribution=escape(style.attribution) if style.attribution else None))
    n_changes = 0 if ch_layer is None else len(ch_layer)
    side = ['<p class="note"><a href="index.html">← 总览 index</a></p>', "<h1>拉平对齐方案</h1>",
            f'<p class="note">调整前 {len(ctx.grids)} 个网格 → 调整后 {len(a_layer)} 个网格；'
            f"{n_changes} 处调整" + (f"，涉及 {int(moved)} 户" if moved else "") + "。</p>",
            "<p class=\"note\">图层“调整前网格”可在右上角打开，与调整后对照；红色为调整区域，点击查看户数。</p>",
            "<h2>状态 status</h2><table>"]
    counts = status.value_counts()
    side += [f'<tr><td>{_line_svg(palette[s], 3)}{escape(_status_label(s))}</td><td class="num">{int(counts[s])}</td></tr>'
             for s in statuses]
    side.append("</table>")
    if rows:
        side += ["<h2>调整清单 changes</h2>", *rows]
    _side(m, "".join(side))
    return _render(m)


def _status_label(status: str) -> str:
    return vocab.status_label(status)


def _before_grids(ctx: _Context, before: gpd.GeoDataFrame) -> Layer:
    """The current grids as one multipolygon per community, for a page drawn on the proposal."""
    before = before[before.geometry.notna() & ~before.geometry.is_empty]
    comm = find_field(before, "community", required=False, exclude=tuple(before.columns[:4]))
    key = (_text(before[comm]).fillna("") if comm else pd.Series("", index=before.index)).to_numpy()
    simple = display_geometries(before, gcj02=ctx.gcj02, simplify=INDEX_SIMPLIFY)
    groups = pd.Series(np.arange(len(before))).groupby(key).indices
    keys = sorted(groups)
    geoms = np.array([shapely.multipolygons(shapely.get_parts(simple[groups[k]])) for k in keys], dtype=object)
    props = pd.DataFrame({"c": [str(len(groups[k])) for k in keys], "p": [escape(k) for k in keys]})
    return Layer("grids", geoms, props, np.zeros(len(keys)), labels={"c": "网格数", "p": "社区/片区"})


def _change_list(changes: gpd.GeoDataFrame, props: pd.DataFrame, bounds: np.ndarray, a_ids: pd.Series,
                 status: pd.Series) -> list[str]:
    """Every change, grouped by the grid the land leaves: what went where, households, why."""
    state = pd.Series(status.to_numpy(), index=a_ids.to_numpy())
    state = state[~state.index.duplicated()]
    why = (_text(changes["reason_label"]) if "reason_label" in changes else
           _text(changes["reason"]) if "reason" in changes else pd.Series(None, index=changes.index))
    origin = _text(changes["from_grid_id"]) if "from_grid_id" in changes else pd.Series("—", index=changes.index)
    rows = []
    for grid, idx in pd.Series(np.arange(len(changes))).groupby(origin.fillna("—").to_numpy(), sort=True):
        # A grid no longer in the proposal was removed: its land went to the grids listed.
        st = state.get(grid, "removed")
        to = sorted(set(props["to"].iloc[idx.to_numpy()].dropna()))
        head = (f'{escape(grid)} <span class="k">{escape(_status_label(st))}'
                + (f" → {'、'.join(to)}" if st == "removed" else "") + f" · {len(idx)} 处</span>")
        items = []
        for k in idx.to_numpy():
            r = props.iloc[k]
            b = bounds[k]
            sb = _bounds_attr([b[1], b[0], b[3], b[2]])
            target = r["to"] or "—"
            if state.get(str(changes["to_grid_id"].iloc[k])) == "new":
                target += "（新增）"
            label = r["n"] or r["i"] or "空地 open land"
            items.append(f'<div class="leaf"><a data-b="{sb}">{label}</a> <span class="k">→ {target}'
                         + (f" · {r['h']} 户" if r["h"] else "") + (f" · {r['a']} m²" if r["a"] else "")
                         + (f" · {escape(why.iloc[k])}" if why.iloc[k] else "") + "</span></div>")
        rows.append(f"<details><summary>{head}</summary>{''.join(items)}</details>")
    return rows


__all__ = ["make_maps", "escape", "assert_offline", "network_references", "split_sections",
           "display_geometries", "leaflet_assets", "SECTION_GRIDS"]
