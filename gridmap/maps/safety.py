"""Text that shows literally wherever a page puts it, and pages that load nothing from the network.

Every attribute value is HTML-escaped (and ``$`` and backticks too, since folium pastes tooltip
and popup text into JavaScript template literals) before it reaches the page (DESIGN §7).
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from gridmap.errors import GridmapError


def escape(value) -> str | None:
    """Text that shows literally wherever folium puts it. None and NaN stay None.

    HTML-escaped (folium inserts values as HTML), with ``$`` and backtick escaped too (folium
    pastes Tooltip and Popup text into JavaScript template literals, where ``${…}`` would run),
    and braces as well: branca compiles every rendered macro again as a Jinja template, so a
    name holding ``{{ … }}`` would be evaluated, or ``{% raw %}`` break the build.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = html.escape(str(value), quote=True)
    return text.translate(_MORE_ENTITIES)


_MORE_ENTITIES = str.maketrans({"$": "&#36;", "`": "&#96;", "{": "&#123;", "}": "&#125;"})


#: The characters :func:`escape` changes.
_SPECIAL = re.compile(r"""[&<>"'$`{}]""")


def escape_text(values: pd.Series) -> pd.Series:
    """``values.map(escape)``, in bulk: every value as text, only those holding a character to
    escape going through :func:`escape` one by one (ids, names and numbers seldom do)."""
    out = pd.Series(None, index=values.index, dtype=object)
    present = values.notna().to_numpy()
    if not present.any():
        return out
    text = [str(v) for v in values.to_numpy(dtype=object)[present].tolist()]
    out.iloc[np.flatnonzero(present)] = [escape(t) if _SPECIAL.search(t) else t for t in text]
    return out


def escape_series(values: pd.Series) -> pd.Series:
    """:func:`escape` over a column; whole numbers (a shapefile's floats) lose their ``.0``."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        a = values.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(a) & (np.floor(a) == a)
        small = whole & (np.abs(a) < 2 ** 53)
        out = np.full(len(a), None, dtype=object)
        out[small] = a[small].astype(np.int64).astype(str).astype(object)
        out[whole & ~small] = [str(int(v)) for v in a[whole & ~small].tolist()]
        rest = ~whole & ~np.isnan(a)
        out[rest] = [f"{v:g}" for v in a[rest].tolist()]
        return pd.Series(out, index=values.index, dtype=object)
    return escape_text(values)


_NETWORK_REFS = re.compile(
    r"""<(?:script|img|iframe|embed|source|audio|video)\b[^>]*\ssrc\s*=\s*["']?\s*(?:https?:)?//[^\s"'>]*"""
    r"""|<link\b[^>]*\shref\s*=\s*["']?\s*(?:https?:)?//[^\s"'>]*"""
    r"""|url\(\s*["']?\s*(?:https?:)?//[^)]*\)"""
    r"""|@import\b[^;]*""",
    re.IGNORECASE)


def network_references(page: str) -> list[str]:
    """What in a page would be fetched from the network when it opens (scripts, stylesheets,
    images, CSS ``url()`` and ``@import``). Links a user may click and basemap tile URLs inside
    scripts are not fetched on load, so they are not listed."""
    return [m.group(0)[:120] for m in _NETWORK_REFS.finditer(page)]


def assert_offline(page: str, name: str = "page") -> None:
    """Raise unless ``page`` opens with no network.

    Raises
    ------
    GridmapError
        Naming the first references found.
    """
    found = network_references(page)
    if found:
        raise GridmapError(f"{name} would load {len(found)} resources from the network "
                           f"({'; '.join(found[:3])}); pages must be self-contained. This is a "
                           "bug in gridmap's map templates: please report it.")
