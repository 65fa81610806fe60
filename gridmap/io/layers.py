"""Reading layers: any vector format, Chinese attribute tables decoded, a CRS set.

Reading goes through pyogrio (default) or fiona; both see the same files after the same encoding
and CRS handling, so they give the same tables.
"""

from __future__ import annotations

import codecs
import contextlib
import io as _io
import logging
import math
import os
import re
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap import settings
from gridmap.errors import DecodingWarning, GridmapError, first_line
from gridmap.i18n import _
from gridmap.io.crs import parse_crs, set_crs, shifted_crs
from gridmap.io.fields import numeric_if_clean
from gridmap.io.tables import decode_text

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = {".shp", ".gpkg", ".geojson", ".json", ".kml", ".kmz", ".gdb", ".csv", ".zip",
                   ".parquet", ".fgb", ".gml", ".sqlite"}
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape")
#: Formats whose attribute encoding varies (a DBF, a CSV): a plain ``--encoding`` applies to these.
#: GeoJSON, GeoPackage, FileGDB, KML and GeoParquet are UTF-8 by their specifications; ``--encoding
#: NAME=…`` still applies to the layer it names, whatever its format.
ENCODED_SUFFIXES = {".shp", ".dbf", ".csv"}
#: DBF code-page bytes (LDID) that mean "the system's ANSI code page": they say nothing about the
#: bytes, so the DBF is decoded as if it had none (UTF-8, else GB18030).
SYSTEM_ANSI_LDIDS = frozenset({0x57})
_UTF8_NAMES = {"utf-8", "utf8", "utf_8", "65001", "cp65001"}


@dataclass(frozen=True)
class LayerSpec:
    """Where a layer comes from: a path and, for multi-layer sources, a layer name."""

    path: Path
    layer: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.layer}" if self.layer else str(self.path)


def parse_layer_spec(spec: str | os.PathLike) -> LayerSpec:
    """Split ``PATH:LAYER`` into its parts; a path that exists as given is taken whole.

    Parameters
    ----------
    spec : str or path
        ``data.gpkg``, ``data.gpkg:grids`` or ``folder/city.gdb:小区``.
    """
    text = os.fspath(spec)
    if Path(text).exists() or ":" not in text or text.lower().startswith(("postgresql://", "postgres://")):
        return LayerSpec(Path(text))  # a database URL's ":TABLE" is not a layer separator (gridmap.io.postgis)
    head, _sep, tail = text.rpartition(":")
    # A Windows drive letter ("C:") is not a layer separator.
    if len(head) == 1 and head.isalpha():
        return LayerSpec(Path(text))
    return LayerSpec(Path(head), tail or None)


def read_layer(
    spec: str | os.PathLike | LayerSpec,
    *,
    engine: str | None = None,
    encoding: str | list[str] | None = None,
    crs: str | int | CRS | list[str] | None = None,
    role: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one vector layer, with Chinese attribute tables decoded and a CRS set.

    Parameters
    ----------
    spec : str, path or LayerSpec
        A file (shapefile, zipped shapefile, GeoPackage, GeoJSON, KML, FileGDB folder, CSV with a
        WKT column, GeoParquet), optionally ``PATH:LAYER``; or a PostGIS table,
        ``postgresql://USER@HOST[:PORT]/DBNAME:[SCHEMA.]TABLE`` (see ``gridmap.io.postgis.read_table``).
        A source holding several layers (a GeoPackage, a FileGDB, a KML with folders, a folder or
        zip of shapefiles) must name one.
    engine : {"pyogrio", "fiona"}, optional
        I/O engine; pyogrio by default.
    encoding : str, optional
        Attribute encoding of shapefiles and CSVs (``gbk``), or per layer (``compounds=gbk``,
        comma-separated or a list; a name is the layer's role, file stem or layer name). By
        default a shapefile's ``.cpg`` or DBF code page is honoured, else UTF-8 is tried, then
        GB18030.
    crs : optional
        CRS for a layer that has none (a shapefile without ``.prj``, a CSV); ``NAME=EPSG:…`` sets
        the CRS of the layer it names even when it has one (its ``.prj`` is wrong).
    role : str, optional
        What the layer is (``compounds``, ``grids``…), for ``NAME=`` options and messages.

    Returns
    -------
    GeoDataFrame
        With ``attrs["source"]`` naming the layer for messages.

    Raises
    ------
    GridmapError
        The file is missing or unreadable, the layer unknown or not named, or the CRS missing.
    """
    if isinstance(spec, str) and spec.strip().lower().startswith(("postgresql://", "postgres://")):
        from gridmap.io.postgis import read_table  # a PostGIS table: loads SQLAlchemy only when asked

        crs_default, crs_named = per_layer(crs, "--crs")
        return read_table(spec, crs=crs_named.get(role or "", crs_default))
    spec = spec if isinstance(spec, LayerSpec) else parse_layer_spec(spec)
    engine = engine or settings.ENGINE
    if engine not in ("pyogrio", "fiona"):
        raise GridmapError(_("Unknown engine {engine}: use 'pyogrio' (default) or 'fiona'.").format(
            engine=repr(engine)))
    if not spec.path.exists():
        raise GridmapError(_("{path}: no such file or folder. Check the path (and, for a "
                             "multi-layer source, write it as PATH:LAYER).").format(path=spec.path))
    keys = layer_keys(spec, role)
    enc_default, enc_named = per_layer(encoding, "--encoding")
    crs_default, crs_named = per_layer(crs, "--crs")
    named_encoding = next((enc_named[k] for k in keys if k in enc_named), None)
    override = next((crs_named[k] for k in keys if k in crs_named), None)
    with _unzipped(spec) as local:
        suffix = local.path.suffix.lower()
        enc = named_encoding or (enc_default if suffix in ENCODED_SUFFIXES else None)
        if enc_default and not named_encoding and suffix not in ENCODED_SUFFIXES:
            log.info("%s: %s is UTF-8 by its format; --encoding %s not applied", spec, suffix, enc_default)
        if enc is not None:
            _check_encoding(enc)
        if suffix == ".csv":
            gdf = _read_csv(local, enc)
        elif suffix == ".parquet":
            gdf = _read_parquet(local)
        else:
            gdf = _read_vector(local, engine, enc)
    if override is not None and shifted_crs(override) is not None:
        gdf = set_crs(gdf, spec, override)  # digitised on Gaode or Baidu maps: converted to WGS 84
    elif override is not None:
        try:
            target = parse_crs(override)
        except GridmapError as exc:
            raise GridmapError(f"{spec}: {exc}") from None
        if gdf.crs is not None and not gdf.crs.equals(target):
            log.warning("%s: its CRS %s replaced by %s as asked (--crs)", spec, gdf.crs.to_string(),
                        target.to_string())
        gdf = gdf.set_crs(target, allow_override=True)
    gdf = set_crs(gdf, spec, crs_default)
    gdf.attrs["source"] = str(spec)
    log.info("read %s: %d features, %s", spec, len(gdf), gdf.crs.to_string() if gdf.crs else "no CRS")
    return gdf


def layer_keys(spec: LayerSpec, role: str | None = None) -> list[str]:
    """The names a ``NAME=VALUE`` option may give a layer: its role, file stem, file name, layer."""
    keys = [role, spec.layer, spec.path.stem, spec.path.name]
    return list(dict.fromkeys(str(k).lower() for k in keys if k))


def per_layer(value, flag: str) -> tuple[str | None, dict[str, str]]:
    """Split ``gbk`` / ``compounds=gbk,grids=utf-8`` (or a list of such) into the value for every
    layer and the values for named layers.

    Raises
    ------
    GridmapError
        Two different values for every layer, or an empty name or value.
    """
    if value is None:
        return None, {}
    if not isinstance(value, (list, tuple, str)):
        return value, {}  # a CRS object or EPSG number
    default, named = None, {}
    for item in ([value] if isinstance(value, str) else value):
        text = str(item).strip()
        whole = flag == "--crs" and (text.startswith("+") or "[" in text or "{" in text)
        for part in [text] if whole else [p.strip() for p in text.split(",") if p.strip()]:
            m = None if whole else re.match(r"^([^=:\s]+)\s*=\s*(\S.*)$", part)
            if m:
                named[m.group(1).lower()] = m.group(2).strip()
            elif "=" in part and not whole:
                raise GridmapError(_("{flag} {part}: write NAME=VALUE (e.g. {flag} compounds={example}), "
                                     "or a value alone for every layer.").format(
                    flag=flag, part=repr(part), example="gbk" if flag == "--encoding" else "EPSG:4547"))
            elif default is not None and default != part:
                raise GridmapError(_("{flag} gives {first} and {second} for every layer; name the layer "
                                     "each is for, e.g. {flag} compounds={value}.").format(
                    flag=flag, first=repr(default), second=repr(part), value=part))
            else:
                default = part
    return default, named


def _check_encoding(name: str) -> None:
    try:
        codecs.lookup(name)
    except LookupError:
        raise GridmapError(_("--encoding {name} is not an encoding Python knows; try gb18030, gbk or "
                             "utf-8.").format(name=repr(name))) from None


def _read_parquet(spec: LayerSpec) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(spec.path)
    except Exception as exc:
        text = first_line(exc)
        if "geo" in text.lower() and "metadata" in text.lower():
            raise GridmapError(_("{spec}: a Parquet file without GeoParquet metadata (no 'geo' key): "
                                 "gridmap cannot tell its geometry column or CRS. Write it as GeoParquet "
                                 "(geopandas to_parquet, or ogr2ogr -f Parquet) and run again.").format(
                spec=spec)) from None
        raise GridmapError(_("{spec}: not a readable GeoParquet file ({reason}).").format(
            spec=spec, reason=text)) from None


@contextlib.contextmanager
def _unzipped(spec: LayerSpec) -> Iterator[LayerSpec]:
    """A zipped shapefile (or any zipped layer) is unpacked to a temporary folder to be read."""
    if spec.path.suffix.lower() != ".zip":
        yield spec
        return
    try:
        archive = zipfile.ZipFile(spec.path)
    except zipfile.BadZipFile as exc:
        raise GridmapError(_("{path}: not a readable zip archive ({reason}).").format(
            path=spec.path, reason=exc)) from None
    with archive, tempfile.TemporaryDirectory(prefix="gridmap-zip-") as tmp:
        archive.extractall(tmp)
        members = [Path(tmp) / m for m in archive.namelist()]
        candidates = [m for m in members if m.suffix.lower() in VECTOR_SUFFIXES - {".zip"}]
        gdbs = {p for m in members for p in m.parents if p.suffix.lower() == ".gdb"}
        candidates += sorted(gdbs)
        if spec.layer:
            named = [m for m in candidates if m.stem == spec.layer]
            if named:
                yield LayerSpec(named[0])
                return
        if len(candidates) == 1:
            yield LayerSpec(candidates[0], spec.layer)
            return
        found = ", ".join(sorted(m.name for m in candidates)) or _("none")
        raise GridmapError(_("{path}: the archive holds {count} layers ({found}); "
                             "name one as {path}:NAME.").format(path=spec.path, count=len(candidates), found=found))


def _read_vector(spec: LayerSpec, engine: str, encoding: str | None) -> gpd.GeoDataFrame:
    path = spec.path
    layers = list_layers(path)
    if spec.layer is not None and layers is not None and spec.layer not in layers:
        raise GridmapError(_("{path}: there is no layer {layer}; the layers are {layers}.").format(
            path=path, layer=repr(spec.layer), layers=", ".join(layers)))
    if spec.layer is None and layers is not None and len(layers) > 1:
        what = _("the folder") if path.is_dir() and path.suffix.lower() != ".gdb" else _("the file")
        raise GridmapError(_("{path}: {what} holds {count} layers ({layers}); gridmap "
                             "reads a layer whole or not at all: name one as {path}:LAYER (e.g. "
                             "{path}:{first}).").format(path=path, what=what, count=len(layers),
                                                        layers=", ".join(layers), first=layers[0]))
    if encoding is None and path.suffix.lower() == ".shp":
        encoding = shapefile_encoding(path)
    elif encoding is None and path.is_dir() and layers and len(layers) == 1:
        shp = next((p for p in path.glob("*.[sS][hH][pP]")), None)
        encoding = shapefile_encoding(shp) if shp is not None else None
    kwargs: dict = {"engine": engine}
    if spec.layer is not None:
        kwargs["layer"] = spec.layer
    if encoding is not None:
        kwargs["encoding"] = encoding
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = gpd.read_file(path, **kwargs)
    except (UnicodeDecodeError, LookupError) as exc:
        raise GridmapError(_("{spec}: attributes cannot be decoded as {encoding} ({reason}); give the "
                             "right one with --encoding (e.g. gb18030, utf-8).").format(
            spec=spec, encoding=encoding, reason=exc)) from None
    except Exception as exc:  # pyogrio and fiona raise many kinds for unreadable files
        raise GridmapError(_("{spec}: not a readable vector layer ({reason}). gridmap reads "
                             "shapefiles (also zipped), GeoPackage, GeoJSON, KML, FileGDB, GeoParquet "
                             "and CSV with a WKT column.").format(spec=spec, reason=first_line(exc))) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf:
        raise GridmapError(_("{spec}: the layer has no geometry column (a plain table?).").format(spec=spec))
    return gdf


def list_layers(path: Path) -> list[str] | None:
    """The layer names of a multi-layer source, or None where pyogrio cannot list them."""
    import pyogrio  # the engine's own module: imported only when a source is listed

    try:
        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception:
        return None


def shapefile_encoding(shp: Path) -> str | None:
    """The encoding to read a shapefile's DBF with, or None to let GDAL decide.

    GDAL honours a ``.cpg`` file and the DBF's code page byte (LDID); without either it would read
    the bytes as Latin-1, which garbles Chinese. Then the DBF is decoded as UTF-8, else GB18030
    (docs/design.md §6), and the first that decodes every field name and value is used. A code page byte
    meaning "the system's ANSI code page" (0x57) says nothing and counts as none; a ``.cpg`` that
    claims UTF-8 over bytes that are not UTF-8 is overruled (GB18030, with a warning).
    """
    cpg = next((p for p in (shp.with_suffix(".cpg"), shp.with_suffix(".CPG")) if p.exists()), None)
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()), None)
    if dbf is None:
        return None
    data = dbf.read_bytes()
    if len(data) < 32:
        return None
    header_len = struct.unpack("<H", data[8:10])[0]
    names = [data[i:i + 11].split(b"\0")[0] for i in range(32, header_len - 1, 32)]
    records = data[header_len:]
    chunks = (records, *names)
    if cpg is not None:
        declared = cpg.read_text(encoding="ascii", errors="ignore").strip().lower()
        if declared in _UTF8_NAMES and not all(_decodes(c, "utf-8") for c in chunks):
            fallback = settings.FALLBACK_ENCODINGS[-1]
            if all(_decodes(c, fallback) for c in chunks):
                warnings.warn(_("{shp}: its .cpg says UTF-8 but the attributes are not UTF-8; they were "
                                "read as {encoding} (check the names; --encoding "
                                "{stem}=ENCODING gives another).").format(
                    shp=shp, encoding=fallback.upper(), stem=shp.stem), DecodingWarning, stacklevel=3)
                return fallback
        return None
    if data[29] != 0 and data[29] not in SYSTEM_ANSI_LDIDS:
        return None
    if records.isascii() and all(n.isascii() for n in names):
        return None
    for candidate in settings.FALLBACK_ENCODINGS:
        if all(_decodes(chunk, candidate) for chunk in chunks):
            log.info("%s has no .cpg nor code page: decoding its attributes as %s", shp, candidate)
            return candidate
    return None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _read_csv(spec: LayerSpec, encoding: str | None) -> gpd.GeoDataFrame:
    """A CSV with a WKT column. Every column stays text (ids keep their digits and leading zeros,
    DESIGN §4) except the recognised figures (households, party members) when all are numbers; an
    empty WKT cell is a feature without geometry."""
    text = decode_text(spec.path.read_bytes(), encoding, spec, "CSV")
    try:
        df = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise GridmapError(_("{spec}: not a readable CSV ({reason}).").format(
            spec=spec, reason=first_line(exc))) from None
    column = next((c for c in df.columns if str(c).strip().lower() in WKT_COLUMNS), None)
    if column is None:
        raise GridmapError(_("{spec}: a CSV layer needs a geometry column in WKT named one of "
                             "{names}; the columns are {columns}.").format(
            spec=spec, names=", ".join(WKT_COLUMNS), columns=", ".join(map(str, df.columns))))
    wkt = df.pop(column)
    cells = np.array([None if _blank(w) else str(w) for w in wkt], dtype=object)
    for i, w in enumerate(cells):
        if w is not None and _CURVED.match(w):
            kind = _CURVED.match(w).group(1).upper()
            raise GridmapError(_("{spec}: row {row} of column {column} is a {kind}, a curved geometry "
                                 "gridmap does not read. Convert curves to straight segments first (QGIS: "
                                 "Processing ▸ Segmentize by maximum angle; or ogr2ogr -nlt "
                                 "CONVERT_TO_LINEAR) and run again.").format(
                spec=spec, row=i + 2, column=repr(column), kind=kind))
    try:
        geoms = shapely.from_wkt(cells, on_invalid="raise")
    except (shapely.errors.GEOSException, NotImplementedError, TypeError, ValueError) as exc:
        bad = next((i for i, w in enumerate(cells) if _bad_wkt(w)), None)
        where = (_("row {row} of column {column}").format(row=bad + 2, column=repr(column)) if bad is not None
                 else _("column {column}").format(column=repr(column)))
        raise GridmapError(_("{spec}: {where} is not WKT ({reason}).").format(
            spec=spec, where=where, reason=first_line(exc))) from None
    figures = {n.lower() for meaning in NUMERIC_MEANINGS for n in settings.FIELDS[meaning]}
    for c in df.columns:
        if str(c).strip().lower() in figures:
            df[c] = numeric_if_clean(df[c])
    return gpd.GeoDataFrame(df, geometry=geoms, crs=None)


#: Meanings whose CSV columns are read as numbers; every other column stays text.
NUMERIC_MEANINGS = ("households", "party_members")
_CURVED = re.compile(r"^\s*(CIRCULARSTRING|COMPOUNDCURVE|CURVEPOLYGON|MULTICURVE|MULTISURFACE|CURVE|SURFACE|"
                     r"POLYHEDRALSURFACE|TIN|TRIANGLE)\b", re.IGNORECASE)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip()


def _bad_wkt(text) -> bool:
    if text is None:
        return False
    try:
        shapely.from_wkt(text)
        return False
    except Exception:
        return True


@dataclass
class ReadOptions:
    """How to read layers: engine, encoding and CRS (each for every layer, or ``NAME=VALUE`` per
    layer: see :func:`read_layer`)."""

    engine: str | None = None
    encoding: str | list[str] | None = None
    crs: str | list[str] | None = None

    def __post_init__(self):
        self._seen: set[str] = set()

    def read(self, spec, role: str | None = None):
        parsed = spec if isinstance(spec, LayerSpec) else parse_layer_spec(spec)
        self._seen.update(layer_keys(parsed, role))
        return read_layer(spec, engine=self.engine, encoding=self.encoding, crs=self.crs, role=role)

    def encoding_for(self, path, role: str | None = None, *, plain: bool = True) -> str | None:
        """The encoding for a table (ledger, roster): named for it, else (with ``plain``) the one
        given for every layer; None lets the table be detected (UTF-8, else GB18030)."""
        default, named = per_layer(self.encoding, "--encoding")
        keys = layer_keys(parse_layer_spec(path), role)
        self._seen.update(keys)
        return next((named[k] for k in keys if k in named), default if plain else None)

    def check_names(self) -> None:
        """Refuse ``NAME=VALUE`` options naming no layer that was read (a typing error would
        otherwise be ignored, and the layer read wrongly)."""
        for flag, value in (("--encoding", self.encoding), ("--crs", self.crs)):
            _default, named = per_layer(value, flag)
            unknown = sorted(set(named) - self._seen)
            if unknown:
                raise GridmapError(_("{flag} names {names}, which is no layer given; a name is "
                                     "a layer's role (compounds, grids, buildings…), file name or file stem."
                                     ).format(flag=flag, names=", ".join(unknown)))


def layer_name(spec: str, default: str | None) -> str:
    """``spec`` with ``:default`` added where it names a multi-layer source (a GeoPackage written
    by gridmap) without a layer."""
    parsed = parse_layer_spec(spec)
    if parsed.layer is None and default is not None:
        layers = list_layers(parsed.path) if parsed.path.exists() else None
        if layers and default in layers and len(layers) > 1:
            return f"{spec}:{default}"
    return str(spec)
