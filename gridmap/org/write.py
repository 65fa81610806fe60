"""Writing the organisation's outputs, every file through ``gridmap.io``.

``organization.csv`` (``write_csv``), ``organization.json`` (``write_text``) and every workbook —
``organization.xlsx`` and the roster's ``.xlsx`` — with the one streaming Excel writer,
``gridmap.io.xlsx.write_xlsx``. The content comes from ``gridmap.org.tables``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from gridmap import vocab
from gridmap.io import write_csv, write_text
from gridmap.io.xlsx import write_xlsx
from gridmap.org.candidates import has_identities
from gridmap.org.funding import FundingPolicy
from gridmap.org.model import Organisation, without_gc
from gridmap.org.tables import candidate_sheets, document_json, roster_sheet, roster_table, workbook_sheets

#: Suffixes of a roster written as a workbook; any other is written as CSV.
_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


@without_gc
def write_organisation(org: Organisation, out: str | os.PathLike, *, roster: str | os.PathLike | None = None,
                       ledger: pd.DataFrame | None = None, funding: pd.DataFrame | None = None,
                       policy: FundingPolicy | None = None) -> list[Path]:
    """Write ``organization.csv``, ``organization.json`` and ``organization.xlsx`` into ``out``.

    ``organization.csv`` is ``org.units`` with ``kind_label`` and ``situation_label`` (the Chinese
    labels of the codes) at the end.

    Only counts and ids go into these files. ``roster`` (with the ledger) writes a separate list of
    members with their unit and group for the community office (CSV, or Excel by suffix).
    ``funding`` (``gridmap.org.funding.funding_table``, with its ``policy``) adds the workbook's
    sheet 经费测算. Returns the paths written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_csv(vocab.with_label_columns(org.units), out / "organization.csv"),
             write_text(document_json(org), out / "organization.json"),
             write_workbook(org, out / "organization.xlsx", funding=funding, policy=policy)]
    if roster is not None:
        paths.append(write_roster(org, ledger, roster))
    return paths


def write_workbook(org: Organisation, path: str | os.PathLike, *, funding: pd.DataFrame | None = None,
                   policy: FundingPolicy | None = None) -> Path:
    """``organization.xlsx``: a summary sheet (汇总), the funding estimate (经费测算) when given, and
    one sheet per community."""
    return write_xlsx(workbook_sheets(org, funding, policy), path)


def write_roster(org: Organisation, ledger: pd.DataFrame | None, path: str | os.PathLike) -> Path:
    """The member roster for the community office: member, name, branch and group (CSV or .xlsx).

    It holds personal data: it is written only when asked for, apart from the shared outputs. A
    workbook has the sheet 党员名册, every value a text cell, and when the ledger says members'
    identities (身份) the candidate sheets 书记人选 and 支委人选 (``tables.candidate_sheets``); a CSV
    roster holds the members only.

    Raises
    ------
    GridmapError
        No ledger, or an organisation laid out without one.
    """
    table = roster_table(org, ledger)
    path = Path(path)
    if path.suffix.lower() in _WORKBOOK_SUFFIXES:
        extra = candidate_sheets(org, ledger) if has_identities(ledger) else []
        return write_xlsx([roster_sheet(table), *extra], path)
    return write_csv(table, path)


__all__ = ["write_organisation", "write_roster", "write_workbook"]
