"""Secretary and committee candidates (书记人选, 支委人选) from the ledger's 身份 column (DESIGN §3).

Secretaries come first from three channels — retired cadres (离退休干部), veterans (退役军人), party-member
community and grid workers (社区工作者、网格员); branch committees may also take members from the
property company (物业) and the owners' committee (业委会), or grid workers (交叉任职). A branch-level
unit's candidates are its own members: those placed in it or in a branch beneath it.

The candidate tables name members: they go into the roster workbook only, made on request. The
report takes ``candidate_counts``, which counts units and names no one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridmap import settings, vocab
from gridmap.org.ledger import standardise_ledger
from gridmap.org.model import CATEGORIES, TOTAL, Organisation
from gridmap.org.names import community_order, natural_rank

#: Secretary candidates listed per unit.
SECRETARY_CANDIDATES = 3
#: Filling a unit's list beyond the channels: members by category, most available first (a mobile
#: member lives elsewhere).
_CATEGORY_RANK = {"direct": 0, "retired": 1, "in_service": 2, "other": 3, "mobile": 4}
#: Columns of the candidate tables.
CANDIDATE_COLUMNS = ["unit_id", "unit", "kind", "community", "rank", "member_id", "name", "channel", "identity",
                     "category", "building_id"]


def has_identities(ledger: pd.DataFrame | None) -> bool:
    """Whether a ledger says anyone's identity (身份): without it there are no channels to rank by."""
    if ledger is None:
        return False
    return bool((standardise_ledger(ledger).identity != "").any())


def unit_members(org: Organisation) -> pd.DataFrame:
    """(unit_id, member_id) of every branch-level unit below the communities and its own members:
    those whose branch is the unit or a branch beneath it. Units in tree order, members in ledger order."""
    units = org.units
    if org.members is None or not len(units):
        return pd.DataFrame({"unit_id": pd.Series(dtype=object), "member_id": pd.Series(dtype=object)})
    levels = units[(units.depth > 0) & units.kind.isin(vocab.BRANCH_KINDS)]
    position = pd.Series(np.arange(len(levels)), index=levels.unit_id.to_numpy())
    m = org.members[org.members.branch_id != ""]
    pairs = []
    for k, (mid, bid) in enumerate(zip(m.member_id.tolist(), m.branch_id.tolist())):
        parts = bid.split(".")
        pairs += [(".".join(parts[:d]), mid, k) for d in range(2, len(parts) + 1)]
    table = pd.DataFrame(pairs, columns=["unit_id", "member_id", "_k"])
    table = table[table.unit_id.isin(position.index)]
    table["_u"] = position.reindex(table.unit_id).to_numpy()
    return table.sort_values(["_u", "_k"], kind="stable")[["unit_id", "member_id"]].reset_index(drop=True)


def _identity_labels(codes: str) -> str:
    return "、".join(vocab.IDENTITIES[c] for c in codes.split(settings.LIST_SEP) if c in vocab.IDENTITIES)


def _channel(codes: set[str]) -> int:
    """Position of the first secretary channel a member is in; the number of channels when none."""
    for k, channel in enumerate(vocab.SECRETARY_CHANNELS):
        if codes & set(channel):
            return k
    return len(vocab.SECRETARY_CHANNELS)


def _channel_label(k: int) -> str:
    if k >= len(vocab.SECRETARY_CHANNELS):
        return vocab.OTHER_CHANNEL_LABEL
    return "、".join(vocab.IDENTITIES[c] for c in vocab.SECRETARY_CHANNELS[k])


def _pairs(org: Organisation, ledger: pd.DataFrame) -> pd.DataFrame:
    """Each unit's members with what ranks them: channel, category and natural member order."""
    ledger = standardise_ledger(ledger)
    table = unit_members(org)
    people = ledger.set_index("member_id")
    people = people[~people.index.duplicated()]
    units = org.units.set_index("unit_id")
    table["unit"] = units.name.reindex(table.unit_id).to_numpy()
    table["kind"] = units.kind.reindex(table.unit_id).map(vocab.kind_label).to_numpy()
    table["community"] = units.community.reindex(table.unit_id).to_numpy()
    codes = people.identity.reindex(table.member_id).fillna("").astype(str)
    table["codes"] = [set(c.split(settings.LIST_SEP)) - {""} for c in codes]
    table["identity"] = codes.map(_identity_labels).to_numpy()
    table["name"] = people.name.reindex(table.member_id).to_numpy()
    category = people.category.reindex(table.member_id).fillna("other")
    table["category"] = category.map(lambda c: CATEGORIES.get(c, vocab.OTHER_CATEGORY_LABEL)).to_numpy()
    table["_cat"] = category.map(lambda c: _CATEGORY_RANK.get(c, 3)).to_numpy()
    table["building_id"] = people.building_id.reindex(table.member_id).to_numpy()
    table["_ch"] = [_channel(c) for c in table.codes]
    table["_id"] = natural_rank(table.member_id.to_numpy()) if len(table) else np.empty(0, dtype=np.int64)
    order = pd.Series(np.arange(len(org.units)), index=org.units.unit_id.to_numpy())
    table["_u"] = order.reindex(table.unit_id).to_numpy()
    return table


def secretary_candidates(org: Organisation, ledger: pd.DataFrame, n: int = SECRETARY_CANDIDATES) -> pd.DataFrame:
    """Up to ``n`` secretary candidates per branch-level unit below the communities (DESIGN §3): its
    own members from the three channels first (离退休干部, 退役军人, 社区工作者/网格员, in that order),
    then others (direct and retired members before in-service and mobile ones). Names personal data:
    for the roster only. Columns ``CANDIDATE_COLUMNS``; ``channel`` says which channel (其他 for none)."""
    t = _pairs(org, ledger)
    t = t.sort_values(["_u", "_ch", "_cat", "_id"], kind="stable")
    t = t.groupby("_u", sort=False).head(n).copy()
    t["rank"] = t.groupby("_u", sort=False).cumcount() + 1
    t["channel"] = t["_ch"].map(_channel_label)
    return t[CANDIDATE_COLUMNS].reset_index(drop=True)


def committee_candidates(org: Organisation, ledger: pd.DataFrame) -> pd.DataFrame:
    """Committee candidates from cross-appointment (交叉任职): in every branch-level unit with a
    committee (支委会), its members from the property company (物业), the owners' committee (业委会) and
    the grid workers (网格员). Names personal data: for the roster only."""
    t = _pairs(org, ledger)
    with_committee = org.units.set_index("unit_id").has_committee.reindex(t.unit_id).fillna(False).to_numpy(bool)
    channels = set(vocab.COMMITTEE_CHANNELS)
    t = t[with_committee & np.array([bool(c & channels) for c in t.codes], dtype=bool)].copy()
    t["_cc"] = [min(vocab.COMMITTEE_CHANNELS.index(c) for c in codes & channels) for codes in t.codes]
    t = t.sort_values(["_u", "_cc", "_id"], kind="stable")
    t["rank"] = t.groupby("_u", sort=False).cumcount() + 1
    t["channel"] = [vocab.IDENTITIES[vocab.COMMITTEE_CHANNELS[k]] for k in t["_cc"]]
    return t[CANDIDATE_COLUMNS].reset_index(drop=True)


def candidate_counts(org: Organisation, ledger: pd.DataFrame) -> pd.DataFrame:
    """Per community (and a total row): branch-level units below it, those with and without a
    secretary candidate from the three channels, those with a committee, and those of them with and
    without a cross-appointment candidate. Counts only: for the report."""
    t = _pairs(org, ledger)
    units = org.units[(org.units.depth > 0) & org.units.kind.isin(vocab.BRANCH_KINDS)]
    found = set(t.unit_id[t["_ch"] < len(vocab.SECRETARY_CHANNELS)])
    channels = set(vocab.COMMITTEE_CHANNELS)
    crossed = set(t.unit_id[[bool(c & channels) for c in t.codes]])
    table = pd.DataFrame({
        "community": units.community.to_numpy(),
        "units": 1,
        "with_secretary_candidate": units.unit_id.isin(found).to_numpy().astype(int),
        "with_committee": units.has_committee.to_numpy().astype(int),
        "committee_with_candidate": (units.has_committee & units.unit_id.isin(crossed)).to_numpy().astype(int),
    })
    rows = table.groupby("community", sort=False).sum()
    rows = rows.reindex(sorted(rows.index, key=community_order))
    rows.loc[TOTAL] = rows.sum()
    rows["without_secretary_candidate"] = rows.units - rows.with_secretary_candidate
    rows["committee_without_candidate"] = rows.with_committee - rows.committee_with_candidate
    columns = ["units", "with_secretary_candidate", "without_secretary_candidate", "with_committee",
               "committee_with_candidate", "committee_without_candidate"]
    return rows[columns].astype(np.int64).rename_axis("community").reset_index()


__all__ = ["CANDIDATE_COLUMNS", "SECRETARY_CANDIDATES", "candidate_counts", "committee_candidates",
           "has_identities", "secretary_candidates", "unit_members"]
