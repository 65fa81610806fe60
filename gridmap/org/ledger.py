"""The member ledger (台账): reading it, standardising its columns and coding categories.

Ledgers come from party-management systems in many shapes — CSV or workbooks, one file or sheet per
category, title rows above the header, a category column or the category in the file's name. They
all become one table of ``LEDGER_COLUMNS``, with the categories coded (``direct``, ``mobile``,
``in_service``, ``retired`` or ``other``). Files are read only through ``gridmap.io``.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.errors import GridmapError, PlacementWarning
from gridmap.i18n import _
from gridmap.io import find_field
from gridmap.io.tables import read_cells
from gridmap.org.model import CATEGORIES, CATEGORY_COLUMNS, NO_BUILDING, UNKNOWN_BUILDING
from gridmap.org.names import LISTED, id_values, sample_text, text_or_none

log = logging.getLogger(__name__)

#: Words that identify a category in a ledger cell, a file name or a sheet name.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "retired": ("离退休", "退休", "离休", "retired"),
    "in_service": ("在职", "in_service", "in-service", "in service"),
    "mobile": ("流动", "mobile"),
    "direct": ("直管", "direct"),
}
#: Words that identify a member's identity (身份) in a ledger cell: the channels secretaries and
#: committee members come from (docs/design.md §3). A cell may name several (退役军人、网格员).
IDENTITY_WORDS: dict[str, tuple[str, ...]] = {
    "retired_cadre": ("retired_cadre", "离退休干部", "退休干部", "离休干部", "老干部"),
    "veteran": ("veteran", "退役军人", "退伍军人", "退役", "退伍", "转业军人", "复员军人"),
    "community_worker": ("community_worker", "社区工作者", "社工", "社区干部"),
    "grid_worker": ("grid_worker", "网格员"),
    "property": ("property", "物业"),
    "owners_committee": ("owners_committee", "业委会", "业主委员会"),
}
#: Columns of a standard ledger. ``identity``: the codes of ``vocab.IDENTITIES`` a member has, joined
#: with ';' (empty when none or when the ledger has no 身份 column).
LEDGER_COLUMNS = ["member_id", "building_id", "category", "name", "phone", "source", "identity"]

#: Ledger headers are looked for in the first rows (title rows above the header are common).
_HEADER_SEARCH_ROWS = 20


def read_ledger(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    encoding: str | None = None,
    member_id: str | None = None,
    building_id: str | None = None,
    category: str | None = None,
) -> pd.DataFrame:
    """Read a member ledger (台账): CSV or Excel files, one or one per category.

    Parameters
    ----------
    paths : path or list of paths
        CSV (UTF-8, with or without BOM, else GB18030) or Excel (``.xlsx``/``.xlsm``; every sheet
        is read). Title rows above the header are skipped.
    encoding : str, optional
        Encoding of CSV files, instead of trying UTF-8 then GB18030.
    member_id, building_id, category : str, optional
        Column names, when not one of the recognised names of DESIGN §4 (``member_id`` 党员编号,
        ``building_id`` 楼栋编码, ``category`` 类别).

    Returns
    -------
    DataFrame
        ``member_id``, ``building_id``, ``category`` (``direct``, ``mobile``, ``in_service``,
        ``retired`` or ``other``), ``name``, ``phone``, ``source`` (file, sheet and row). Without a
        member id column, ids are made from the source and row. A file or sheet without a category
        column takes its category from its name (e.g. ``流动党员.xlsx``).

    Raises
    ------
    GridmapError
        Unreadable file, no building column (the message lists the columns found), duplicate
        member ids (named).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise GridmapError(_("{path}: no such ledger file.").format(path=path))
        for label, hint, raw in read_cells(path, encoding, "ledger"):
            table = _ledger_frame(raw, label, building_id, member_id)
            if table is None:
                continue
            frames.append(standardise_ledger(table, member_id=member_id, building_id=building_id,
                                             category=category, default_category=_category_of(hint)))
    if not frames:
        raise GridmapError(_("{files}: no sheet holds a member table.").format(files=", ".join(map(str, paths))))
    ledger = pd.concat(frames, ignore_index=True)
    check_unique_members(ledger, ", ".join(map(str, paths)))
    log.info("ledger: %d members from %d tables", len(ledger), len(frames))
    return ledger


def standardise_ledger(
    df: pd.DataFrame,
    *,
    member_id: str | None = None,
    building_id: str | None = None,
    category: str | None = None,
    default_category: str | None = None,
) -> pd.DataFrame:
    """A ledger table with recognised columns renamed to ``LEDGER_COLUMNS`` and categories coded.

    Accepts a table that is already standard (it comes back unchanged but for the checks).
    """
    source = df.attrs.get("source", _("the ledger"))
    df = df.copy()
    df.attrs["source"] = source
    b_col = find_field(df, "building_id", building_id if building_id in df.columns else None)
    m_col = find_field(df, "member_id", member_id if member_id in df.columns else None, required=False)
    c_col = find_field(df, "category", category if category in df.columns else None, required=False)
    n_col = find_field(df, "member_name", required=False)
    p_col = find_field(df, "phone", required=False)
    i_col = find_field(df, "identity", required=False)
    rows = df.get("_row", pd.Series(np.arange(2, len(df) + 2), index=df.index))
    if "source" in df.columns and m_col is not None:
        where = df["source"].astype(str)
    else:
        where = f"{source} row " + rows.astype(str)
    out = pd.DataFrame({
        "member_id": id_values(df[m_col]) if m_col else where,
        "building_id": _ledger_ids(df[b_col]),
        "category": _category_codes(df[c_col], default_category) if c_col
                    else pd.Series(default_category or "other", index=df.index),
        "name": df[n_col].astype(object) if n_col else None,
        "phone": df[p_col].astype(object) if p_col else None,
        "source": where,
        "identity": _identity_codes(df[i_col], source) if i_col else "",
    }, index=df.index)
    missing_id = out.member_id.isna() | (out.member_id == "")
    out.loc[missing_id, "member_id"] = where[missing_id]
    out.attrs["source"] = source
    if c_col is None and default_category is None:
        log.info("%s: no category column; members counted as 'other'", source)
    return out.reset_index(drop=True)


def _ledger_frame(raw: pd.DataFrame, label: str, building_id: str | None,
                  member_id: str | None) -> pd.DataFrame | None:
    """The member table of one sheet: header row found among the first rows; None for a sheet
    that holds no table at all (an empty or notes sheet in a multi-sheet workbook)."""
    raw = raw.dropna(how="all")
    if raw.empty:
        return None
    names = {n.lower() for n in settings.FIELDS["building_id"]}
    if building_id:
        names.add(building_id.lower())
    header_at = None
    for pos in range(min(_HEADER_SEARCH_ROWS, len(raw))):
        cells = {str(v).strip().lower() for v in raw.iloc[pos] if v is not None and not pd.isna(v)}
        if cells & names:
            header_at = pos
            break
    if header_at is None:
        found = [str(v).strip() for v in raw.iloc[0] if v is not None and not pd.isna(v)]
        if ":" in label and len(found) <= 1:
            return None  # a notes sheet beside the table sheets
        looked = ", ".join(([building_id] if building_id else []) + list(settings.FIELDS["building_id"]))
        raise GridmapError(_("{table}: no building column found in the ledger (looked for {names}). "
                             "The columns found are: {columns}. Rename the "
                             "column or name it with --building-id.").format(
            table=label, names=looked, columns=", ".join(found) or _("none")))
    header = [str(v).strip() if v is not None and not pd.isna(v) and str(v).strip() else f"column{j + 1}"
              for j, v in enumerate(raw.iloc[header_at])]
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        if h in seen:
            seen[h] += 1
            header[j] = f"{h}_{seen[h]}"
        else:
            seen[h] = 0
    body = raw.iloc[header_at + 1:].copy()
    body.columns = header
    # Excel counts rows from 1 and the header is a row: row numbers as a user sees them.
    body["_row"] = body.index.to_numpy() + 1
    body = body.replace({"": None}).dropna(how="all", subset=header)
    body.attrs["source"] = label
    return body


def _ledger_ids(values: pd.Series) -> pd.Series:
    """Building ids of the ledger as text, as the buildings layer writes them."""
    ids = id_values(values)
    # Excel may turn 12 into 12.0 when a column mixes numbers and text.
    return ids.map(lambda v: v[: v.index(".")] if isinstance(v, str) and re.fullmatch(r"\d+\.0+", v) else v)


def _category_of(text: str | None) -> str | None:
    """The category a file or sheet name tells (流动党员.xlsx → ``mobile``), else None."""
    if not text:
        return None
    low = str(text).lower()
    for code, words in CATEGORY_WORDS.items():
        if any(w in low for w in words):
            return code
    return None


def _category_codes(values: pd.Series, default: str | None) -> pd.Series:
    """Category cells as codes; blank cells take ``default``, unrecognised ones ``other`` (warned about)."""
    text = values.fillna("").astype(str).str.strip().str.lower()
    conditions = [text.str.contains("|".join(map(re.escape, words))) for words in CATEGORY_WORDS.values()]
    codes = pd.Series(np.select(conditions, list(CATEGORY_WORDS), default="other"), index=values.index)
    if default is not None:
        codes[text == ""] = default
    other = values[codes == "other"].dropna().astype(str)
    if len(other):
        shown = ", ".join(f"{v!r} ({n})" for v, n in other.value_counts().head(LISTED).items())
        warnings.warn(_("{source}: {count} members have a category that is none of {categories}: {values}; "
                        "counted as other").format(source=values.attrs.get("source", _("the ledger")), count=len(other),
                                                   categories=", ".join(CATEGORIES.values()), values=shown),
                      PlacementWarning, stacklevel=3)
    return codes


def _identity_codes(values: pd.Series, source: str) -> pd.Series:
    """Identity cells as codes joined with ';' in the order of ``vocab.IDENTITIES`` ('' for none);
    values that name no identity are warned about and left out."""
    text = values.map(text_or_none)
    cache: dict[str, str] = {}
    unknown: list[str] = []
    for cell in text.dropna().unique():
        low = str(cell).lower()
        cache[cell] = settings.LIST_SEP.join(code for code, words in IDENTITY_WORDS.items()
                                             if any(w.lower() in low for w in words))
        if not cache[cell]:
            unknown.append(cell)
    if unknown:
        counts = text[text.isin(unknown)].value_counts().head(LISTED)
        warnings.warn(_("{source}: {count} members have an identity (身份) that is none of {identities}: "
                        "{values}; they are in no channel").format(
            source=source, count=int(text.isin(unknown).sum()), identities=", ".join(vocab.IDENTITIES.values()),
            values=", ".join(f"{v!r} ({n})" for v, n in counts.items())), PlacementWarning, stacklevel=4)
    return text.map(lambda v: cache.get(v, "") if v is not None else "").astype(object)


def check_unique_members(ledger: pd.DataFrame, source: str) -> None:
    """Raise a GridmapError naming the member ids that occur more than once in ``ledger``."""
    dup = ledger.member_id[ledger.member_id.duplicated(keep=False)]
    if len(dup):
        values = pd.unique(dup)
        raise GridmapError(_("{source}: {count} member ids occur more than once ({ids}). Each member must appear "
                             "once in the ledger; remove the duplicates and run again.").format(
            source=source, count=len(values), ids=sample_text(values)))


def ledger_counts(ledger: pd.DataFrame, bld: pd.DataFrame, source: str
                  ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Members per building and per category from the ledger; unknown buildings warned about.

    Parameters
    ----------
    ledger : DataFrame
        A standard ledger (``LEDGER_COLUMNS``).
    bld : DataFrame
        The buildings table of ``area.building_table``.
    source : str
        The buildings layer, as messages name it.

    Returns
    -------
    counts : (n,) int array
        Members per building.
    cats : (n, len(CATEGORY_COLUMNS)) int array
        Members per building and category, in the order of ``CATEGORY_COLUMNS``.
    ledger : DataFrame
        The ledger with each member's ``reason`` for not being placed (``NO_BUILDING``,
        ``UNKNOWN_BUILDING``, or empty).
    """
    pos = pd.Index(bld.building_id).get_indexer(ledger.building_id)
    ledger = ledger.assign(_pos=pos)
    no_id = ledger.building_id.isna() | (ledger.building_id == "")
    unknown = (pos < 0) & ~no_id
    ledger["reason"] = np.select([no_id, unknown], [NO_BUILDING, UNKNOWN_BUILDING], default="")
    where = ledger.attrs.get("source", _("the ledger"))
    if unknown.any():
        ids = pd.unique(ledger.building_id[unknown])
        warnings.warn(_("{ledger}: {count} members live in buildings that are not in {buildings} "
                        "({ids_count} ids: {ids}); they are not placed").format(
            ledger=where, count=int(unknown.sum()), buildings=source, ids_count=len(ids), ids=sample_text(ids)),
            PlacementWarning, stacklevel=3)
    if no_id.any():
        warnings.warn(_("{ledger}: {count} members have no building id ({rows}); they are not placed").format(
            ledger=where, count=int(no_id.sum()), rows=sample_text(ledger.source[no_id])),
            PlacementWarning, stacklevel=3)
    known = ledger[pos >= 0]
    counts = np.bincount(known._pos, minlength=len(bld)).astype(np.int64)
    cats = np.zeros((len(bld), len(CATEGORY_COLUMNS)), dtype=np.int64)
    codes = [*CATEGORIES, "other"]
    col = pd.Index(codes).get_indexer(known.category)
    np.add.at(cats, (known._pos.to_numpy(), col), 1)
    return counts, cats, ledger


__all__ = ["CATEGORY_WORDS", "IDENTITY_WORDS", "LEDGER_COLUMNS", "check_unique_members", "ledger_counts", "read_ledger",
           "standardise_ledger"]
