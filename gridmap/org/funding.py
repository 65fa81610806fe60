"""The funding estimate (经费测算) of a district's policy (DESIGN §3): frames in, a frame out.

A policy pays once per party-service station, and each year per compound with a branch-level unit of
its own, per branch and per branch secretary (monthly). Per community:

- ``stations``: service stations in the community (a station point in its polygon, or in one of its
  grids);
- ``compounds``: compounds with a branch-level unit of their own — a unit of kind branch, general
  branch or joint branch whose ``compound_ids`` is that compound alone;
- ``branches``: units of kind branch, joint branch or general branch below the community's own unit;
- ``secretaries``: one per such branch;
- ``one_off`` = stations × per_station; ``per_year`` = compounds × per_compound_year + branches ×
  per_branch_year + secretaries × secretary_month × 12.

The last row, community ``合计``, holds the sums.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from gridmap import vocab
from gridmap.errors import GridmapError
from gridmap.i18n import _
from gridmap.org.model import TOTAL
from gridmap.org.names import community_order

#: Columns of ``funding.csv``.
FUNDING_COLUMNS = ["community", "stations", "compounds", "branches", "secretaries", "one_off", "per_year"]
#: The counted columns, before the money.
COUNT_COLUMNS = FUNDING_COLUMNS[1:5]
#: What the tables call the branches counted: branches, general branches and joint branches.
BRANCHES_HEADER = f"支部（含{vocab.KIND_LABELS['general_branch']}、{vocab.KIND_LABELS['joint_branch']}）"
#: Headers of the funding table in the report and workbooks.
FUNDING_HEADERS = {"community": "社区", "stations": "党群服务站", "compounds": "有独立支部的小区",
                   "branches": BRANCHES_HEADER, "secretaries": "支部书记", "one_off": "一次性经费（元）",
                   "per_year": "每年经费（元）"}


@dataclass(frozen=True)
class FundingPolicy:
    """A district's funding policy, in yuan (any may be 0).

    Attributes
    ----------
    per_station : float
        Once per party-service station (小店区: 100,000).
    per_compound_year : float
        A year per compound with a branch-level unit of its own (小店区: 6,000).
    per_branch_year : float
        A year per branch (迎泽区: 5,000).
    secretary_month : float
        A month per branch secretary (小店区: 500).
    """

    per_station: float = 0
    per_compound_year: float = 0
    per_branch_year: float = 0
    secretary_month: float = 0

    def __post_init__(self):
        bad = [f"{k} = {v!r}" for k, v in asdict(self).items()
               if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
               or not math.isfinite(v) or v < 0]
        if bad:
            raise GridmapError(_("The funding policy takes amounts in yuan of 0 or more: {values}.").format(
                values=", ".join(bad)))

    @property
    def whole(self) -> bool:
        """Whether every amount is a whole number of yuan (the table then holds whole numbers)."""
        return all(float(v).is_integer() for v in asdict(self).values())

    def describe(self) -> str:
        """The policy in words, as the report and workbook state it."""
        parts = [(self.per_station, "每个党群服务站一次性 ¥{:,}"),
                 (self.per_compound_year, "每个有独立支部的小区每年 ¥{:,}"),
                 (self.per_branch_year, "每个支部每年 ¥{:,}"), (self.secretary_month, "每名支部书记每月 ¥{:,}")]
        said = [text.format(int(v) if float(v).is_integer() else v) for v, text in parts if v]
        return "；".join(said) if said else "各项均为 0"


def funding_counts(units: pd.DataFrame, stations: Mapping[str, int] | pd.Series | None = None) -> pd.DataFrame:
    """What the policy pays for, per community: ``community`` and ``COUNT_COLUMNS``.

    Parameters
    ----------
    units : DataFrame
        ``Organisation.units`` (or organization.csv): ``unit_id``, ``depth``, ``kind``, ``community``,
        ``compound_ids``.
    stations : mapping or Series, optional
        Service stations per community name. Communities with stations but no units get a row.

    Returns
    -------
    DataFrame
        One row per community, in natural order; no total row.
    """
    stations = pd.Series(dict(stations) if stations is not None else {}, dtype=np.int64)
    depth = pd.to_numeric(units.depth, errors="coerce").fillna(0).to_numpy() if len(units) else np.empty(0)
    community = units.community.fillna("").astype(str).to_numpy(dtype=object) if len(units) else np.empty(0, object)
    level = (depth > 0) & units.kind.isin(vocab.BRANCH_KINDS).to_numpy() if len(units) else np.empty(0, bool)
    names = list(dict.fromkeys([c for c, d in zip(community, depth) if d == 0]))
    names += [c for c in stations.index if c not in set(names)]
    names = sorted(names, key=community_order)
    branches = pd.Series(community[level]).value_counts()
    ids = units.compound_ids.fillna("").astype(str).to_numpy(dtype=object)[level] if len(units) else []
    own = pd.DataFrame({"community": community[level], "compound": ids})
    own = own[(own.compound != "") & ~own.compound.str.contains(";", regex=False)].drop_duplicates()
    compounds = own.community.value_counts()
    table = pd.DataFrame({"community": names})
    table["stations"] = stations.reindex(names).fillna(0).to_numpy(dtype=np.int64)
    table["compounds"] = compounds.reindex(names).fillna(0).to_numpy(dtype=np.int64)
    table["branches"] = branches.reindex(names).fillna(0).to_numpy(dtype=np.int64)
    table["secretaries"] = table.branches
    return table


def funding_table(units: pd.DataFrame, stations: Mapping[str, int] | pd.Series | None,
                  policy: FundingPolicy) -> pd.DataFrame:
    """``funding.csv``: ``FUNDING_COLUMNS``, a row per community and the total row (``合计``).

    Amounts are whole numbers when every amount of the policy is; the total row is the sum of the
    rows above it, column by column.
    """
    table = funding_counts(units, stations)
    one_off = table.stations * policy.per_station
    per_year = (table.compounds * policy.per_compound_year + table.branches * policy.per_branch_year
                + table.secretaries * policy.secretary_month * 12)
    dtype = np.int64 if policy.whole else float
    table["one_off"] = np.asarray(one_off, dtype=float).round(2).astype(dtype)
    table["per_year"] = np.asarray(per_year, dtype=float).round(2).astype(dtype)
    total = {"community": TOTAL, **{c: table[c].sum() for c in FUNDING_COLUMNS[1:]}}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    for c in FUNDING_COLUMNS[1:]:
        table[c] = table[c].astype(np.int64 if c in COUNT_COLUMNS else dtype)
    return table[FUNDING_COLUMNS]


__all__ = ["BRANCHES_HEADER", "COUNT_COLUMNS", "FUNDING_COLUMNS", "FUNDING_HEADERS", "FundingPolicy", "funding_counts",
           "funding_table"]
