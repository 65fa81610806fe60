"""Loading layers and writing outputs.

Reading goes through pyogrio (default) or fiona; both see the same files after the same encoding
and CRS handling, so they give the same tables. Writing always goes to a temporary name first and is
moved into place, so an interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shutil
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
from pyproj.exceptions import CRSError

from gridmap import settings
from gridmap.errors import CRSWarning, GridmapError

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
        return LayerSpec(Path(text))  # a database URL's ":TABLE" is not a layer separator (gridmap.postgis)
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
        ``postgresql://USER@HOST[:PORT]/DBNAME:[SCHEMA.]TABLE`` (see ``gridmap.postgis.read_table``).
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
        from gridmap.postgis import read_table  # a PostGIS table (DESIGN §5)

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
    gdf = _set_crs(gdf, spec, crs)
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
    layers = _list_layers(path)
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
        raise GridmapError(f"{spec}: not a readable vector layer ({_first_line(exc)}). gridmap reads "
                           "shapefiles (also zipped), GeoPackage, GeoJSON, KML, FileGDB, GeoParquet "
                           "and CSV with a WKT column.") from None
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf:
        raise GridmapError(f"{spec}: the layer has no geometry column (a plain table?).")
    return gdf


def _list_layers(path: Path) -> list[str] | None:
    import pyogrio

    try:
        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception:
        return None


def shapefile_encoding(shp: Path) -> str | None:
    """The encoding to read a shapefile's DBF with, or None to let GDAL decide.

    GDAL honours a ``.cpg`` file and the DBF's code page byte (LDID); without either it would read
    the bytes as Latin-1, which garbles Chinese. Then the DBF is decoded as UTF-8, else GB18030
    (DESIGN §6), and the first that decodes every field name and value is used.
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
    import io as _io

    try:
        df = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise GridmapError(f"{spec}: not a readable CSV ({_first_line(exc)}).") from None
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


def decode_text(raw: bytes, encoding: str | None, source, what: str = "file") -> str:
    """Text of a table file (CSV layer, ledger, roster): ``encoding`` when given, else UTF-8 (with
    or without BOM), else GB18030 (DESIGN §6).

    Raises
    ------
    GridmapError
        Naming ``source`` when no candidate decodes it, or the encoding is unknown.
    """
    for candidate in ([encoding] if encoding else ["utf-8-sig", *settings.FALLBACK_ENCODINGS[1:]]):
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        except LookupError:
            raise GridmapError(f"{source}: --encoding {candidate!r} is not an encoding Python knows.") from None
    tried = encoding or "UTF-8 and GB18030"
    raise GridmapError(f"{source}: the {what} cannot be decoded as {tried}; give its encoding with --encoding "
                       "(e.g. gb18030, utf-16) or save it as UTF-8.")


def numeric_if_clean(values: pd.Series) -> pd.Series:
    """A text column as numbers when every value is one; codes such as "007" stay text."""
    text = values.dropna().astype(str).str.strip()
    if not len(text) or text.str.match(r"^[+-]?0\d").any():
        return values
    converted = pd.to_numeric(text, errors="coerce")
    if converted.isna().any():
        return values
    return pd.to_numeric(values, errors="coerce")


def _bad_wkt(text) -> bool:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return False
    try:
        shapely.from_wkt(text)
        return False
    except shapely.errors.GEOSException:
        return True


def _set_crs(gdf: gpd.GeoDataFrame, spec: LayerSpec, crs) -> gpd.GeoDataFrame:
    if gdf.crs is not None:
        return gdf
    if crs is None:
        raise GridmapError(
            f"{spec}: the layer has no coordinate reference system (a shapefile without .prj, or a "
            "CSV). gridmap does not guess: give it with --crs, e.g. --crs EPSG:4490 for CGCS2000 "
            "longitude/latitude or --crs EPSG:4547 for CGCS2000 Gauss-Kruger CM 114E.")
    try:
        return gdf.set_crs(parse_crs(crs))
    except GridmapError as exc:
        raise GridmapError(f"{spec}: {exc}") from None


def parse_crs(value) -> CRS:
    """A CRS from ``EPSG:4547``, ``4547``, WKT or PROJ text, with a clear error."""
    try:
        if isinstance(value, str) and value.strip().isdigit():
            return CRS.from_epsg(int(value))
        return CRS.from_user_input(value)
    except CRSError:
        raise GridmapError(f"--crs {value!r} is not a coordinate reference system pyproj knows; "
                           "write it as EPSG:CODE, e.g. EPSG:4490.") from None


def metric_crs(*layers: gpd.GeoDataFrame) -> CRS:
    """The CRS that areas and distances are measured in (DESIGN §6).

    The first layer's own CRS when it is projected in metres; otherwise the CGCS2000 3-degree
    Gauss-Kruger zone of the data's centre (EPSG:4534–4554, China only), else UTM.
    """
    first = next((layer for layer in layers if layer.crs is not None), None)
    if first is None:
        raise GridmapError("No layer has a CRS; give one with --crs.")
    crs = first.crs
    if crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    bounds = [layer.to_crs(4326).total_bounds for layer in layers if layer.crs is not None and len(layer)]
    bounds = np.array([b for b in bounds if np.isfinite(b).all()])
    if not len(bounds):
        return CRS.from_epsg(4547)
    lon = (bounds[:, 0].min() + bounds[:, 2].max()) / 2
    lat = (bounds[:, 1].min() + bounds[:, 3].max()) / 2
    if 73.5 <= lon <= 136.5 and 3 <= lat <= 54:
        central = 3 * math.floor(lon / 3 + 0.5)
        return CRS.from_epsg(4534 + (central - 75) // 3)
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def reconcile(target: CRS | None, *layers: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """Bring layers into one CRS (the first layer's unless ``target`` is given)."""
    target = target or layers[0].crs
    out = []
    for layer in layers:
        if layer.crs is not None and not layer.crs.equals(target):
            log.info("reprojecting %s from %s to %s", layer.attrs.get("source", "a layer"),
                     layer.crs.to_string(), target.to_string())
            attrs = dict(layer.attrs)
            layer = layer.to_crs(target)
            layer.attrs.update(attrs)
        out.append(layer)
    return out


def warn_if_far_apart(layers: dict[str, gpd.GeoDataFrame], limit_km: float = 50.0) -> None:
    """Warn about a layer whose extent is far from the first one's (a wrong CRS suspected)."""
    items = [(name, layer) for name, layer in layers.items() if layer is not None and len(layer)]
    if len(items) < 2:
        return
    ref_name, ref = items[0]
    rb = _lonlat_bounds(ref)
    for name, layer in items[1:]:
        b = _lonlat_bounds(layer)
        gap_lon = max(0.0, max(b[0], rb[0]) - min(b[2], rb[2]))
        gap_lat = max(0.0, max(b[1], rb[1]) - min(b[3], rb[3]))
        km = math.hypot(gap_lon * 111.32 * math.cos(math.radians((rb[1] + rb[3]) / 2)), gap_lat * 110.57)
        if km > limit_km or not np.isfinite(km):
            warnings.warn(f"{layer.attrs.get('source', name)} lies {km:,.0f} km from "
                          f"{ref.attrs.get('source', ref_name)}: is its CRS right?", CRSWarning,
                          stacklevel=2)


def _lonlat_bounds(layer: gpd.GeoDataFrame) -> np.ndarray:
    """A layer's extent in longitude/latitude, from its bounding box.

    Reprojecting the box (densified along its edges) instead of every vertex: the latter took a
    tenth of ``gridmap classify``'s time on 30,000 compounds and 40,000 grids.
    """
    bounds = layer.total_bounds
    if layer.crs is None or not np.isfinite(bounds).all():
        return layer.to_crs(4326).total_bounds
    return np.asarray(_to_lonlat(layer.crs).transform_bounds(*bounds, densify_pts=21))


@functools.lru_cache(maxsize=16)
def _to_lonlat(crs: CRS):
    # Building a transformer looks the CRS up in PROJ's database: 50 ms, so keep them.
    from pyproj import Transformer

    return Transformer.from_crs(crs, 4326, always_xy=True)


def find_field(gdf: pd.DataFrame, meaning: str, explicit: str | None = None, *,
               required: bool = True, exclude: tuple[str, ...] = ()) -> str | None:
    """The column holding ``meaning`` (a key of ``settings.FIELDS``), by flag or recognised name.

    Raises
    ------
    GridmapError
        ``explicit`` is not a column, or a required field is not found; the message lists the
        fields the layer has.
    """
    source = gdf.attrs.get("source", "the layer")
    columns = [c for c in gdf.columns if c != "geometry"]
    if explicit:
        if explicit in gdf.columns:
            return explicit
        raise GridmapError(f"{source}: there is no field {explicit!r}. The fields are: "
                           f"{', '.join(map(str, columns)) or 'none'}.")
    lowered = {str(c).lower(): c for c in columns if c not in exclude}
    for name in settings.FIELDS[meaning]:
        if name.lower() in lowered:
            return lowered[name.lower()]
    if not required:
        return None
    flag = "--" + meaning.replace("_", "-")
    raise GridmapError(f"{source}: no {meaning.replace('_', ' ')} field found (looked for "
                       f"{', '.join(settings.FIELDS[meaning])}). Name it with {flag}; the fields "
                       f"are: {', '.join(map(str, columns)) or 'none'}.")


def id_strings(values: pd.Series) -> pd.Series:
    """Ids as text: integral floats (a shapefile's numeric ids) lose their ``.0``."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            text = [None if pd.isna(v) else str(int(v)) for v in values.to_numpy()]
            return pd.Series(text, index=values.index, dtype=object)
    # pd.isna also catches pandas' NA of string columns, which str() would turn into "<NA>".
    text = [None if pd.isna(v) else str(v).strip() for v in values.to_numpy(dtype=object)]
    return pd.Series(text, index=values.index, dtype=object)


# ---------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            if tmp_path.is_dir():
                shutil.rmtree(tmp_path)
            else:
                tmp_path.unlink()


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a CSV that Excel opens: UTF-8 with BOM, no index, geometry left out."""
    frame = pd.DataFrame(df.drop(columns="geometry", errors="ignore"))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    return Path(path)


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: str | os.PathLike, engine: str | None = None) -> Path:
    """Write several layers into one GeoPackage, atomically."""
    with atomic_path(path) as tmp:
        for name, layer in layers.items():
            layer.to_file(tmp, layer=name, driver="GPKG", engine=engine or settings.ENGINE)
    return Path(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
