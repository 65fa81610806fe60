"""Writing outputs: every file goes to a temporary name first and is moved into place, so an
interrupted run never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmap import settings
from gridmap.errors import GridmapError, RenamedColumnWarning
from gridmap.io.layers import parse_layer_spec
from gridmap.i18n import _


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


def input_paths(inputs) -> list[Path]:
    """The files and folders that layer specs (``PATH`` or ``PATH:LAYER``) and table paths name,
    resolved (symbolic links followed); a shapefile brings its side files."""

    paths = []
    for spec in inputs:
        if spec is None or spec == "":
            continue
        path = parse_layer_spec(spec).path
        if not path.exists():
            continue
        path = path.resolve()
        paths.append(path)
        if path.suffix.lower() == ".shp":
            paths += [q.resolve() for q in path.parent.glob(path.stem + ".*")]
    return paths


def refuse_overwriting_inputs(out: str | os.PathLike, names, inputs, extra=()) -> None:
    """Refuse, before any work, outputs that would overwrite an input (DESIGN: inputs are never
    modified).

    Parameters
    ----------
    out : path
        The output folder.
    names : iterable of str
        File names (glob patterns allowed, e.g. ``*.html``) a job writes into ``out``.
    inputs : iterable
        Layer specs and table paths the job reads.
    extra : iterable of path
        Output files elsewhere (``--roster``).

    Raises
    ------
    GridmapError
        Naming the input and the output that would replace it.
    """
    out = Path(out).resolve()
    sources = input_paths(inputs)
    for src in sources:
        if src == out:
            raise GridmapError(_("--out {out} is an input ({input}): choose another output folder. Nothing was "
                                 "written.").format(out=out, input=src))
        if src.is_dir() and out.is_relative_to(src) and src.suffix.lower() in (".gdb",):
            raise GridmapError(_("--out {out} lies inside the input {input}: choose another output folder. "
                                 "Nothing was written.").format(out=out, input=src))
        if src.parent == out and any(fnmatch.fnmatch(src.name, pattern) for pattern in names):
            raise GridmapError(_("--out {out}: writing there would overwrite the input {input}. Choose another "
                                 "--out folder (or move the input). Nothing was written.").format(out=out, input=src))
    for path in extra:
        if path is None:
            continue
        target = Path(path).resolve()
        if target in sources:
            raise GridmapError(_("{path} is an input: writing it would overwrite it. Choose another file name. "
                                 "Nothing was written.").format(path=path))


def prepare_out(out: str | os.PathLike) -> Path:
    """The output folder, made if needed; a clear error when it is a file or cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GridmapError(_("--out {out} is a file; --out names a folder for the outputs. Choose a folder "
                             "(it is made if missing).").format(out=out))
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".gridmap-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise GridmapError(_("--out {out}: cannot write there ({reason}); choose a folder you can "
                             "write in. Nothing was written.").format(out=out, reason=exc.strerror or exc)) from None
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a CSV that Excel opens: UTF-8 with BOM, no index, geometry left out."""
    frame = pd.DataFrame(df.drop(columns="geometry", errors="ignore"))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    return Path(path)


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: str | os.PathLike, engine: str | None = None) -> Path:
    """Write several layers into one GeoPackage, atomically.

    GeoPackage field names are case-insensitive: of columns whose names differ only in case, the
    later ones are renamed (``NAME`` beside ``name`` → ``NAME_1``) with a warning, so no column
    is lost (see :func:`gpkg_renames`).
    """
    with atomic_path(path) as tmp:
        for name, layer in layers.items():
            renames = gpkg_renames(layer.columns)
            if renames:
                warnings.warn(_("{file}, layer {layer}: columns whose names differ only in case were "
                                "renamed (GeoPackage field names ignore case): {renames}").format(
                    file=Path(path).name, layer=name, renames=", ".join(f"{a} → {b}" for a, b in renames.items())),
                    RenamedColumnWarning, stacklevel=2)
                layer = layer.rename(columns=renames)
            layer.to_file(tmp, layer=name, driver="GPKG", engine=engine or settings.ENGINE)
    return Path(path)


def gpkg_renames(columns) -> dict:
    """New names for the columns a GeoPackage could not hold beside earlier ones (names that
    differ only in case): ``NAME`` → ``NAME_1`` (``_2``… when taken)."""
    seen = {str(c).lower() for c in columns}
    first: set[str] = set()
    renames = {}
    for c in columns:
        low = str(c).lower()
        if low not in first:
            first.add(low)
            continue
        k = 1
        while f"{c}_{k}".lower() in seen:
            k += 1
        renames[c] = f"{c}_{k}"
        seen.add(renames[c].lower())
    return renames


def gpkg_columns(columns) -> list:
    """The columns a GeoPackage can hold without renaming: the first of names that differ only in case."""
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
