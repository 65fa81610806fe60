"""Reading layers: any vector format, Chinese attribute tables decoded, a CRS set.

Reading goes through pyogrio (default) or fiona; both see the same files after the same encoding
and CRS handling, so they give the same tables.
"""

from __future__ import annotations

import contextlib
import io as _io
import logging
import math
import os
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS

from gridmap import settings
from gridmap.errors import GridmapError, first_line
from gridmap.io.crs import set_crs
from gridmap.io.fields import numeric_if_clean
from gridmap.io.tables import decode_text

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = {".shp", ".gpkg", ".geojson", ".json", ".kml", ".kmz", ".gdb", ".csv", ".zip",
                   ".parquet", ".fgb", ".gml", ".sqlite"}
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape")


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
    head, _, tail = text.rpartition(":")
    # A Windows drive letter ("C:") is not a layer separator.
    if len(head) == 1 and head.isalpha():
        return LayerSpec(Path(text))
    return LayerSpec(Path(head), tail or None)


def read_layer(
    spec: str | os.PathLike | LayerSpec,
    *,
    engine: str | None = None,
    encoding: str | None = None,
    crs: str | int | CRS | None = None,
) -> gpd.GeoDataFrame:
    """Read one vector layer, with Chinese attribute tables decoded and a CRS set.

    Parameters
    ----------
    spec : str, path or LayerSpec
        A file (shapefile, zipped shapefile, GeoPackage, GeoJSON, KML, FileGDB folder, CSV with a
        WKT column, GeoParquet), optionally ``PATH:LAYER``; or a PostGIS table,
        ``postgresql://USER@HOST[:PORT]/DBNAME:[SCHEMA.]TABLE`` (see ``gridmap.io.postgis.read_table``).
    engine : {"pyogrio", "fiona"}, optional
        I/O engine; pyogrio by default.
    encoding : str, optional
        Attribute encoding. By default a shapefile's ``.cpg`` or DBF code page is honoured, else
        UTF-8 is tried, then GB18030.
    crs : optional
        CRS for a layer that has none (a shapefile without ``.prj``, a CSV). Ignored for layers
        that have one.

    Returns
    -------
    GeoDataFrame
        With ``attrs["source"]`` naming the layer for messages.

    Raises
    ------
    GridmapError
        The file is missing or unreadable, the layer unknown, or the CRS missing.
    """
    if isinstance(spec, str) and spec.strip().lower().startswith(("postgresql://", "postgres://")):
        from gridmap.io.postgis import read_table  # a PostGIS table: loads SQLAlchemy only when asked

        return read_table(spec, crs=crs)
    spec = spec if isinstance(spec, LayerSpec) else parse_layer_spec(spec)
    engine = engine or settings.ENGINE
    if engine not in ("pyogrio", "fiona"):
        raise GridmapError(f"Unknown engine {engine!r}: use 'pyogrio' (default) or 'fiona'.")
    if not spec.path.exists():
        raise GridmapError(f"{spec.path}: no such file or folder. Check the path (and, for a "
                           "multi-layer source, write it as PATH:LAYER).")
    with _unzipped(spec) as local:
        if local.path.suffix.lower() == ".csv":
            gdf = _read_csv(local, encoding)
        elif local.path.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(local.path)
        else:
            gdf = _read_vector(local, engine, encoding)
    gdf = set_crs(gdf, spec, crs)
    gdf.attrs["source"] = str(spec)
    log.info("read %s: %d features, %s", spec, len(gdf), gdf.crs.to_string() if gdf.crs else "no CRS")
    return gdf


@contextlib.contextmanager
def _unzipped(spec: LayerSpec) -> Iterator[LayerSpec]:
    """A zipped shapefile (or any zipped layer) is unpacked to a temporary folder to be read."""
    if spec.path.suffix.lower() != ".zip":
        yield spec
        return
    try:
        archive = zipfile.ZipFile(spec.path)
    except zipfile.BadZipFile as exc:
        raise GridmapError(f"{spec.path}: not a readable zip archive ({exc}).") from None
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
        found = ", ".join(sorted(m.name for m in candidates)) or "none"
        raise GridmapError(f"{spec.path}: the archive holds {len(candidates)} layers ({found}); "
                           f"name one as {spec.path}:NAME.")


def _read_vector(spec: LayerSpec, engine: str, encoding: str | None) -> gpd.GeoDataFrame:
    path = spec.path
    layers = list_layers(path)
    if spec.layer is not None and layers is not None and spec.layer not in layers:
        raise GridmapError(f"{path}: there is no layer {spec.layer!r}; the layers are "
                           f"{', '.join(layers)}.")
    if spec.layer is None and layers is not None and len(layers) > 1 and path.suffix.lower() in (".gpkg", ".gdb", ".sqlite"):
        raise GridmapError(f"{path} holds {len(layers)} layers ({', '.join(layers)}); name one as "
                           f"{path}:LAYER.")
    if encoding is None and path.suffix.lower() == ".shp":
        encoding = shapefile_encoding(path)
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
        raise GridmapError(f"{spec}: attributes cannot be decoded as {encoding} ({exc}); give the "
                           "right one with --encoding (e.g. gb18030, utf-8).") from None
    except Exception as exc:  # pyogrio and fiona raise many kinds for unreadable files
        raise GridmapError(f"{spec}: not a readable vector layer ({first_line(exc)}). gridmap reads "
                           "shapefiles (also zipped), GeoPackage, GeoJSON, KML, FileGDB, GeoParquet "
                           "and CSV with a WKT column.") from None
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf:
        raise GridmapError(f"{spec}: the layer has no geometry column (a plain table?).")
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
    (docs/design.md §6), and the first that decodes every field name and value is used.
    """
    if any(shp.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return None
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()), None)
    if dbf is None:
        return None
    data = dbf.read_bytes()
    if len(data) < 32:
        return None
    if data[29] != 0:
        return None
    header_len = struct.unpack("<H", data[8:10])[0]
    names = [data[i:i + 11].split(b"\0")[0] for i in range(32, header_len - 1, 32)]
    records = data[header_len:]
    if records.isascii() and all(n.isascii() for n in names):
        return None
    for candidate in settings.FALLBACK_ENCODINGS:
        if all(_decodes(chunk, candidate) for chunk in (records, *names)):
            log.info("%s has no .cpg: decoding its attributes as %s", shp, candidate)
            return candidate
    return None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _read_csv(spec: LayerSpec, encoding: str | None) -> gpd.GeoDataFrame:
    text = decode_text(spec.path.read_bytes(), encoding, spec, "CSV")
    try:
        df = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise GridmapError(f"{spec}: not a readable CSV ({first_line(exc)}).") from None
    column = next((c for c in df.columns if str(c).strip().lower() in WKT_COLUMNS), None)
    if column is None:
        raise GridmapError(f"{spec}: a CSV layer needs a geometry column in WKT named one of "
                           f"{', '.join(WKT_COLUMNS)}; the columns are {', '.join(map(str, df.columns))}.")
    wkt = df.pop(column)
    try:
        geoms = shapely.from_wkt(wkt.to_numpy(dtype=object), on_invalid="raise")
    except shapely.errors.GEOSException as exc:
        bad = next(i for i, w in enumerate(wkt) if _bad_wkt(w))
        raise GridmapError(f"{spec}: row {bad + 2} of column {column!r} is not WKT ({exc}).") from None
    df = df.apply(numeric_if_clean)
    return gpd.GeoDataFrame(df, geometry=geoms, crs=None)


def _bad_wkt(text) -> bool:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return False
    try:
        shapely.from_wkt(text)
        return False
    except shapely.errors.GEOSException:
        return True


@dataclass
class ReadOptions:
    """How to read layers: engine, encoding and CRS for layers without one."""

    engine: str | None = None
    encoding: str | None = None
    crs: str | None = None

    def read(self, spec):
        return read_layer(spec, engine=self.engine, encoding=self.encoding, crs=self.crs)


def layer_name(spec: str, default: str | None) -> str:
    """``spec`` with ``:default`` added where it names a multi-layer source (a GeoPackage written
    by gridmap) without a layer."""
    parsed = parse_layer_spec(spec)
    if parsed.layer is None and default is not None:
        layers = list_layers(parsed.path) if parsed.path.exists() else None
        if layers and default in layers and len(layers) > 1:
            return f"{spec}:{default}"
    return str(spec)
