"""Names and small helpers of the organisation layout: unit labels, natural order, id text.

A unit is named after what residents know (龙城花园小区, 第21网格, 3号楼), and every list a person
reads is in natural order (2号楼 before 10号楼), so these helpers are shared by the ledger, the
layout, the result model and the output tables.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from gridmap.io import id_strings
from gridmap.i18n import _

#: How many values a message lists before saying "and N more".
LISTED = 10


def id_values(values: pd.Series) -> pd.Series:
    """Ids as text (see ``io.id_strings``), with every kind of missing value (None, NaN, pd.NA) as None."""
    if pd.api.types.is_float_dtype(values):
        return id_strings(values)
    return id_strings(values.astype(object).where(values.notna(), None))


def text_or_none(v) -> str | None:
    """A cell as stripped text; None for a missing or blank cell."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def sample_text(values) -> str:
    """The first ``LISTED`` values for a message, then "and N more"."""
    values = [str(v) for v in values]
    shown = ", ".join(values[:LISTED])
    return shown + (_(" and {count} more").format(count=len(values) - LISTED) if len(values) > LISTED else "")


# ------------------------------------------------------------------ labels


def compound_label(name, cid) -> str:
    """龙城花园 → 龙城花园小区; 太嘉小区, 无名小区22, 家属区, 锦绣苑A区 stay as they are."""
    name = text_or_none(name) or str(cid)
    return name if "小区" in name or name.endswith("区") else name + "小区"


def grid_label(name, gid) -> str:
    """第21 → 第21网格; a name already ending in 网格 stays as it is (the id when there is no name)."""
    name = text_or_none(name) or str(gid)
    return name if name.endswith("网格") else name + "网格"


def community_label(name: str) -> str:
    """双塔 → 双塔社区; no name (the whole area) → 社区; a street or a section of grids taken as the
    community (解放街道, 第3片区) as it is."""
    if not name:
        return "社区"
    return name if name.endswith(("社区", "街道", "片区")) else name + "社区"


def joined_label(prefix: str, label: str) -> str:
    """无名小区38 + 1号楼 → 无名小区38·1号楼 (the numbers must not run together)."""
    if prefix and prefix[-1].isdigit() and label[:1].isdigit():
        return f"{prefix}·{label}"
    return prefix + label


def building_label(name, bid) -> str:
    """The building's name, else its id as 12号楼 (an id already ending in 楼栋座幢 as it is)."""
    name = text_or_none(name)
    if name:
        return name
    bid = str(bid)
    return bid if bid[-1] in "楼栋座幢" else f"{bid}号楼"


_DIGITS = "零一二三四五六七八九"


def chinese_number(k: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 25 → 二十五 (for 第一党支部 …)."""
    if k < 10:
        return _DIGITS[k]
    if k < 100:
        tens, ones = divmod(k, 10)
        return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")
    return str(k)


# ------------------------------------------------------------------ natural order

_DIGIT_RUNS = re.compile(r"(\d+)")


def natural_key(text) -> list:
    """Sort key that puts 2号楼 before 10号楼: text and numbers alternate, numbers compared as such."""
    parts: list = _DIGIT_RUNS.split(str(text))
    parts[1::2] = map(int, parts[1::2])
    return parts


def natural_rank(values: np.ndarray) -> np.ndarray:
    """Position of each value in natural order (equal values share a rank)."""
    uniques, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    order = np.empty(len(uniques), dtype=np.int64)
    order[sorted(range(len(uniques)), key=lambda i: natural_key(uniques[i]))] = np.arange(len(uniques))
    return order[inverse.ravel()]


def natural_series(s: pd.Series) -> pd.Series:
    """A column's natural ranks, as a ``sort_values(key=…)`` takes them."""
    return pd.Series(natural_rank(s.to_numpy()), index=s.index)


def community_order(name: str) -> tuple:
    """Communities in natural order (社区2 before 社区10); names that read the same (社区01, 社区1) by text."""
    return natural_key(name), name


__all__ = ["LISTED", "building_label", "chinese_number", "community_label", "community_order", "compound_label",
           "grid_label", "id_values", "joined_label", "natural_key", "natural_rank", "natural_series",
           "sample_text", "text_or_none"]
