"""Reading plain tables (CSV and Excel): ledgers, rosters, organisation tables, edits.

One decoding policy for every table: ``--encoding`` when given, else UTF-8 (with or without BOM),
else GB18030 (docs/design.md §6). Every column is read as text; figures are converted by whoever
knows which columns hold figures (ids stay text: docs/design.md §4).
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import pandas as pd

from gridmap import settings
from gridmap.errors import GridmapError, first_line


def decode_text(raw: bytes, encoding: str | None, source, what: str = "file") -> str:
    """Text of a table file (CSV layer, ledger, roster): ``encoding`` when given, else UTF-8 (with
    or without BOM), else GB18030 (docs/design.md §6).

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


def read_table(path: str | Path, encoding: str | None = None, what: str = "table") -> pd.DataFrame:
    """A CSV or the first sheet of an Excel workbook, every column as text, blanks as missing.

    Raises
    ------
    GridmapError
        The file is missing or is not a readable table; the message names it.
    """
    path = Path(path)
    if not path.exists():
        raise GridmapError(f"{path}: no such {what} file.")
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        try:
            frame = pd.read_excel(path, dtype=str)
        except Exception as exc:
            raise GridmapError(f"{path}: not a readable Excel file ({first_line(exc)}).") from None
    else:
        text = decode_text(path.read_bytes(), encoding, path, what)
        try:
            frame = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
        except Exception as exc:
            raise GridmapError(f"{path}: not a readable {what} ({first_line(exc)}).") from None
    frame.attrs["source"] = str(path)
    return frame


def read_cells(path: Path, encoding: str | None, what: str = "table") -> list[tuple[str, str, pd.DataFrame]]:
    """Raw cell tables (no header row taken) of a CSV, or of every sheet of a workbook.

    For files whose header may sit below title rows (ledgers exported from party-management
    systems). Each item is (label for messages, names that may tell what the sheet holds — file
    and sheet —, cells).
    """
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str)
        except Exception as exc:
            raise GridmapError(f"{path}: not a readable Excel workbook ({first_line(exc)}).") from None
        return [(f"{path}:{name}" if len(sheets) > 1 else str(path), f"{path.stem} {name}", raw)
                for name, raw in sheets.items()]
    if suffix == ".xls":
        raise GridmapError(f"{path}: old-style .xls workbooks are not read; save it as .xlsx (or CSV) "
                           "and give that.")
    text = decode_text(path.read_bytes(), encoding, path, what)
    # Comma unless the first lines hold more tabs or semicolons (exports from other tools).
    head = text[:4096]
    delimiter = max(",\t;", key=lambda d: (head.count(d), d == ","))
    rows = list(csv.reader(_io.StringIO(text), delimiter=delimiter))
    width = max((len(r) for r in rows), default=0)
    return [(str(path), path.stem, pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object))]


def read_roster(path: str | Path, encoding: str | None = None) -> pd.DataFrame:
    """A grid-worker roster (CSV or Excel) as ``worker_id``, ``grid_id`` (names are not kept).

    Columns are recognised by ``settings.WORKER_FIELDS`` (``worker_id``/网格员编号,
    ``grid_id``/网格编码, …).
    """
    frame = read_table(path, encoding, "roster")
    columns = {str(c).strip().lower(): c for c in frame.columns}
    found = {}
    for meaning in ("worker_id", "grid_id"):
        names = settings.WORKER_FIELDS[meaning]
        match = next((columns[n.lower()] for n in names if n.lower() in columns), None)
        if match is None:
            raise GridmapError(f"{path}: no {meaning.replace('_', ' ')} column found (looked for "
                               f"{', '.join(names)}); the columns are {', '.join(map(str, frame.columns))}.")
        found[meaning] = match
    out = pd.DataFrame({"worker_id": frame[found["worker_id"]].astype("string").str.strip(),
                        "grid_id": frame[found["grid_id"]].astype("string").str.strip()})
    out = out.dropna()
    out = out[(out.worker_id != "") & (out.grid_id != "")]
    out.attrs["source"] = str(path)
    return out.drop_duplicates().reset_index(drop=True).astype(object)
