"""Shapefiles for ArcGIS and SuperMap: GBK attribute tables with Chinese field names.

Street offices' GIS desks open shapefiles, and their Chinese tools expect the DBF in GBK with a
``.cpg`` saying so. A DBF field name holds at most 10 bytes — in GBK a Chinese character takes 2, so
at most 5 characters — and a text value at most 254 bytes. gridmap's column names are mapped to
Chinese names by :data:`SHAPEFILE_FIELDS`; other (input) columns keep their names, cut to 10 bytes at a
character boundary and made unique; text is cut to 254 bytes the same way (a character GBK cannot
hold becomes ``?``). Ids are written as text fields, the ``.prj`` is the layer's own CRS.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap import settings
from gridmap.geomops import polygons_only
from gridmap.io.fields import id_strings

#: Encoding of the attribute table (written to the ``.cpg``).
ENCODING = "GBK"
#: Bytes a DBF field name holds.
NAME_BYTES = 10
#: Bytes a DBF text value holds.
TEXT_BYTES = 254

#: gridmap's column names → shapefile field names (each at most 5 Chinese characters, 10 GBK bytes).
SHAPEFILE_FIELDS: dict[str, str] = {
    "compound_id": "小区编码",
    "grid_id": "网格编码",
    "microgrid_id": "微网格编码",
    "situation": "情形",
    "situation_label": "情形名称",
    "grid_ids": "所涉网格",
    "main_grid_id": "主网格",
    "main_share": "主网格占比",
    "area_m2": "面积平方米",
    "sliver_grid_ids": "碎片网格",
    "compound_ids": "所涉小区",
    "name": "名称",
    "type": "小区类型",
    "households": "户数",
    "community": "社区",
    "outline": "边界来源",
    "status": "状态",
    "status_label": "状态名称",
    "origin_grid_id": "原网格编码",
    "households_input": "原户数",
    "building_ids": "楼栋编码",
    "n_buildings": "楼栋数",
    "worker": "网格员编号",
    "party_members": "党员数",
    "osm_id": "OSM编号",
}

#: Columns written as text whatever their type (ids and codes: leading zeros, 18–22 digits).
ID_COLUMNS = ("compound_id", "grid_id", "microgrid_id", "main_grid_id", "origin_grid_id", "worker")


def gbk_bytes(text: str) -> int:
    """Length of ``text`` in GBK bytes (a character GBK cannot hold counts as ``?``)."""
    return len(str(text).encode(ENCODING, errors="replace"))


def cut(text: str, limit: int) -> str:
    """``text`` in GBK's repertoire (``?`` for what it lacks), cut to ``limit`` bytes at a character
    boundary."""
    text = str(text).encode(ENCODING, errors="replace").decode(ENCODING)
    if len(text.encode(ENCODING)) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        n = len(ch.encode(ENCODING))
        if used + n > limit:
            break
        out.append(ch)
        used += n
    return "".join(out)


def field_names(columns) -> dict:
    """Column → DBF field name: :data:`SHAPEFILE_FIELDS`, else the name cut to 10 GBK bytes; names
    are unique regardless of case (a clash gets ``_2``, ``_3`` …, still within 10 bytes)."""
    used: set[str] = set()
    names = {}
    for column in columns:
        base = SHAPEFILE_FIELDS.get(column) or cut(str(column).strip(), NAME_BYTES).replace("?", "_") or "field"
        name, k = base, 2
        while name.lower() in used:
            suffix = f"_{k}"
            name = cut(base, NAME_BYTES - len(suffix)) + suffix
            k += 1
        used.add(name.lower())
        names[column] = name
    return names


def shapefile_frame(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` as a shapefile holds it: fields renamed (:func:`field_names`), ids and text as GBK
    text within 254 bytes, booleans as 0/1, dates as ISO text, polygon layers' stray lines and points
    dropped, empty geometries null. Same rows, same order."""
    geom_name = gdf.geometry.name
    columns = [c for c in gdf.columns if c != geom_name]
    names = field_names(columns)
    data = {}
    for column in columns:
        values = gdf[column]
        if column in ID_COLUMNS:
            values = id_strings(values)
        if pd.api.types.is_bool_dtype(values):
            values = values.astype(int)
        elif pd.api.types.is_datetime64_any_dtype(values):
            values = values.astype(object).where(values.notna(), None).map(
                lambda v: None if v is None else v.isoformat())
        elif not (pd.api.types.is_integer_dtype(values) or pd.api.types.is_float_dtype(values)):
            values = pd.Series([None if _missing(v) else cut(v, TEXT_BYTES) for v in values.to_numpy(dtype=object)],
                               index=values.index, dtype=object)
        data[names[column]] = values.to_numpy()
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    kinds = shapely.get_type_id(geoms)
    if np.isin(kinds, (3, 6)).any() and (kinds == 7).any():  # polygons with a geometry collection
        collections = kinds == 7
        geoms = geoms.copy()
        geoms[collections] = polygons_only(geoms[collections])
    geoms = np.where(shapely.is_empty(geoms) | shapely.is_missing(geoms), None, geoms)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=gdf.crs), crs=gdf.crs)


def _missing(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def write_shapefiles(layers: dict[str, gpd.GeoDataFrame], folder: str | os.PathLike, *,
                     engine: str | None = None) -> list[Path]:
    """Write each layer as ``folder/NAME.shp`` (with ``.shx``, ``.dbf``, ``.prj`` and a ``.cpg``
    saying GBK), through a temporary folder: a layer's files are moved into place together, after
    every layer was written.

    Parameters
    ----------
    layers : dict of GeoDataFrame
        File name (without suffix) → layer, in its own CRS.
    folder : path
        Created if needed; files of the same names are replaced.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    tmp = Path(tempfile.mkdtemp(prefix=".shp-", dir=folder))
    try:
        for name, layer in layers.items():
            frame = shapefile_frame(layer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes on field widths
                frame.to_file(tmp / f"{name}.shp", driver="ESRI Shapefile", encoding=ENCODING,
                              engine=engine or settings.ENGINE)
            cpg = tmp / f"{name}.cpg"
            cpg.write_text(ENCODING, encoding="ascii")  # what GDAL writes too, whatever the engine
        for path in sorted(tmp.iterdir()):
            os.replace(path, folder / path.name)
            if path.suffix == ".shp":
                written.append(folder / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


__all__ = ["ENCODING", "ID_COLUMNS", "NAME_BYTES", "SHAPEFILE_FIELDS", "TEXT_BYTES", "cut", "field_names",
           "gbk_bytes", "shapefile_frame", "write_shapefiles"]
