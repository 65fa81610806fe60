"""Writing outputs: every file goes to a temporary name first and is moved into place, so an
interrupted run never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmap import settings


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
    """Write several layers into one GeoPackage, atomically.

    GeoPackage field names are case-insensitive: of columns whose names differ only in case, the
    first is kept (see :func:`gpkg_columns`).
    """
    with atomic_path(path) as tmp:
        for name, layer in layers.items():
            layer[gpkg_columns(layer.columns)].to_file(tmp, layer=name, driver="GPKG",
                                                       engine=engine or settings.ENGINE)
    return Path(path)


def gpkg_columns(columns) -> list:
    """The columns a GeoPackage can hold: the first of names that differ only in case."""
    seen: set[str] = set()
    keep = []
    for c in columns:
        if str(c).lower() not in seen:
            keep.append(c)
            seen.add(str(c).lower())
    return keep


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 text (a page, a JSON document), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
