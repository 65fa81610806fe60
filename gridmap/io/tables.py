"""Reading plain tables (CSV and Excel): ledgers, rosters, organisation tables, edits.

One decoding policy for every table: ``--encoding`` when given, else UTF-8 (with or without BOM),
else GB18030 (docs/design.md §6). Every column is read as text; figures are converted by whoever
knows which columns hold figures (ids stay text: docs/design.md §4).
"""

from __future__ import annotations

import csv
import io as _io
import logging
from pathlib import Path

import pandas as pd

from gridmap import settings
from gridmap.errors import GridmapError, first_line
from gridmap.io.fields import looks_like_names
from gridmap.i18n import N_, _

log = logging.getLogger(__name__)

#: What a table file is called in messages (the ``what`` of the readers below).
KINDS_OF_TABLE = {"file": N_("file"), "table": N_("table"), "roster": N_("roster"), "ledger": N_("ledger"),
                  "CSV": N_("CSV")}


def _what(what: str) -> str:
    return _(KINDS_OF_TABLE.get(what, what))


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
            raise GridmapError(_("{source}: --encoding {encoding} is not an encoding Python knows.").format(
                source=source, encoding=repr(candidate))) from None
    tried = encoding or _("UTF-8 and GB18030")
    raise GridmapError(_("{source}: the {what} cannot be decoded as {tried}; give its encoding with --encoding "
                         "(e.g. gb18030, utf-16) or save it as UTF-8.").format(
        source=source, what=_what(what), tried=tried))


def read_table(path: str | Path, encoding: str | None = None, what: str = "table") -> pd.DataFrame:
    """A CSV or the first sheet of an Excel workbook, every column as text, blanks as missing.

    Raises
    ------
    GridmapError
        The file is missing or is not a readable table; the message names it.
    """
    path = Path(path)
    if not path.exists():
        raise GridmapError(_("{path}: no such {what} file.").format(path=path, what=_what(what)))
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        try:
            frame = pd.read_excel(path, dtype=str)
        except Exception as exc:
            raise GridmapError(_("{path}: not a readable Excel file ({reason}).").format(
                path=path, reason=first_line(exc))) from None
    else:
        text = decode_text(path.read_bytes(), encoding, path, what)
        try:
            frame = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
        except Exception as exc:
            raise GridmapError(_("{path}: not a readable {what} ({reason}).").format(
                path=path, what=_what(what), reason=first_line(exc))) from None
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
            raise GridmapError(_("{path}: not a readable Excel workbook ({reason}).").format(
                path=path, reason=first_line(exc))) from None
        return [(f"{path}:{name}" if len(sheets) > 1 else str(path), f"{path.stem} {name}", raw)
                for name, raw in sheets.items()]
    if suffix == ".xls":
        raise GridmapError(_("{path}: old-style .xls workbooks are not read; save it as .xlsx (or CSV) "
                             "and give that.").format(path=path))
    text = decode_text(path.read_bytes(), encoding, path, what)
    # Comma unless the first lines hold more tabs or semicolons (exports from other tools).
    head = text[:4096]
    delimiter = max(",\t;", key=lambda d: (head.count(d), d == ","))
    rows = list(csv.reader(_io.StringIO(text), delimiter=delimiter))
    width = max((len(r) for r in rows), default=0)
    return [(str(path), path.stem, pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object))]


def read_roster(path: str | Path, encoding: str | None = None, names=None) -> pd.DataFrame:
    """A grid-worker roster (CSV or Excel) as ``worker_id``, ``grid_id`` (names are not kept).

    Columns are recognised by ``settings.WORKER_FIELDS`` (``worker_id``/网格员编号/工号,
    ``grid_id``/网格编码, …): explicit id columns only, never 网格员 or 姓名 (they hold names), and a
    column whose values look like people's names (two to four CJK characters, or any of ``names``,
    the ledger's 姓名) is never taken as the id. The column taken is logged and kept in
    ``attrs["worker_id_field"]``.

    Raises
    ------
    GridmapError
        No grid id column, or no worker id column that holds ids (naming a column of names).
    """

    frame = read_table(path, encoding, "roster")
    columns = {str(c).strip().lower(): c for c in frame.columns}
    found = {}
    refused = []
    for meaning in ("worker_id", "grid_id"):
        names_ = settings.WORKER_FIELDS[meaning]
        match = None
        for n in names_:
            column = columns.get(n.lower())
            if column is None:
                continue
            if meaning == "worker_id" and looks_like_names(frame[column], names):
                refused.append(column)
                continue
            match = column
            break
        if match is None:
            if meaning == "worker_id":
                named = refused + [c for c in frame.columns if str(c).strip() in ("网格员", "姓名", "网格员姓名", "name")
                                   and c not in refused]
                said = (_(" Column {columns} holds people's names, which are never "
                          "used as ids nor shown on maps.").format(columns=", ".join(map(repr, map(str, named))))
                        if named else "")
                raise GridmapError(_("{path}: no worker id column found (looked for {names}).{said} "
                                     "Add a column of worker ids (工号 or 网格员编号) and run again; the columns are "
                                     "{columns}.").format(path=path, names=", ".join(names_), said=said,
                                                          columns=", ".join(map(str, frame.columns))))
            raise GridmapError(_("{path}: no grid id column found (looked for "
                                 "{names}); the columns are {columns}.").format(
                path=path, names=", ".join(names_), columns=", ".join(map(str, frame.columns))))
        found[meaning] = match
    log.info("%s: grid-worker ids from column %r (names are never used)", path, str(found["worker_id"]))
    out = pd.DataFrame({"worker_id": frame[found["worker_id"]].astype("string").str.strip(),
                        "grid_id": frame[found["grid_id"]].astype("string").str.strip()})
    out = out.dropna()
    out = out[(out.worker_id != "") & (out.grid_id != "")]
    out = out.drop_duplicates().reset_index(drop=True).astype(object)
    out.attrs["source"] = str(path)
    out.attrs["worker_id_field"] = str(found["worker_id"])
    return out
