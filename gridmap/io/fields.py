"""Finding fields by meaning and reading their values: ids as text, figures as numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridmap import settings
from gridmap.errors import GridmapError
from gridmap.i18n import N_, _

#: How each meaning of ``settings.FIELDS`` is called in messages.
MEANINGS: dict[str, str] = {
    "compound_id": N_("compound id"), "compound_name": N_("compound name"), "compound_type": N_("compound type"),
    "households": N_("households"), "grid_id": N_("grid id"), "grid_name": N_("grid name"),
    "community": N_("community"), "community_id": N_("community id"), "building_id": N_("building id"),
    "party_members": N_("party members"), "member_id": N_("member id"), "member_name": N_("member name"),
    "category": N_("category"), "building_name": N_("building name"), "phone": N_("phone"),
    "street": N_("street"), "district": N_("district"), "identity": N_("identity"),
    "property_company": N_("property company"), "red_property": N_("red property"),
}


def meaning_name(meaning: str) -> str:
    """A field's meaning as messages say it (``compound_id`` → "compound id"), in the user's language."""
    return _(MEANINGS[meaning]) if meaning in MEANINGS else meaning.replace("_", " ")


def find_field(gdf: pd.DataFrame, meaning: str, explicit: str | None = None, *,
               required: bool = True, exclude: tuple[str, ...] = ()) -> str | None:
    """The column holding ``meaning`` (a key of ``settings.FIELDS``), by flag or recognised name.

    Raises
    ------
    GridmapError
        ``explicit`` is not a column, or a required field is not found; the message lists the
        fields the layer has.
    """
    source = gdf.attrs.get("source", _("the layer"))
    columns = [c for c in gdf.columns if c != "geometry"]
    if explicit:
        if explicit in gdf.columns:
            return explicit
        raise GridmapError(_("{source}: there is no field {field}. The fields are: {fields}.").format(
            source=source, field=repr(explicit), fields=", ".join(map(str, columns)) or _("none")))
    lowered = {str(c).lower(): c for c in columns if c not in exclude}
    for name in settings.FIELDS[meaning]:
        if name.lower() in lowered:
            return lowered[name.lower()]
    if not required:
        return None
    flag = "--" + meaning.replace("_", "-")
    raise GridmapError(_("{source}: no {meaning} field found (looked for {names}). Name it with {flag}; the "
                         "fields are: {fields}.").format(source=source, meaning=meaning_name(meaning),
                                                         names=", ".join(settings.FIELDS[meaning]), flag=flag,
                                                         fields=", ".join(map(str, columns)) or _("none")))


def id_strings(values: pd.Series) -> pd.Series:
    """Ids as text: integral floats (a shapefile's numeric ids) lose their ``.0``."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            text = [None if pd.isna(v) else str(int(v)) for v in values.to_numpy()]
            return pd.Series(text, index=values.index, dtype=object)
    # pd.isna also catches pandas' NA of string columns, which str() would turn into "<NA>".
    text = [None if pd.isna(v) else str(v).strip() for v in values.to_numpy(dtype=object)]
    return pd.Series(text, index=values.index, dtype=object)


_PERSONAL_NAME = r"[\u4e00-\u9fff]{2,4}"


def looks_like_names(values: pd.Series, known_names=None) -> bool:
    """Whether a column holds people's names: most values are two to four CJK characters (王芳,
    欧阳建国), or some value is one of ``known_names`` (the ledger's 姓名). Such a column is never
    taken as an id nor shown (DESIGN §4)."""
    text = pd.Series(values).dropna().astype(str).str.strip()
    text = text[text != ""]
    if not len(text):
        return False
    if text.str.fullmatch(_PERSONAL_NAME).mean() >= 0.5:
        return True
    if known_names is not None:
        known = {str(n).strip() for n in known_names if n is not None and str(n).strip() and str(n) != "nan"}
        return bool(text[~text.map(str.isascii)].isin(known).any())
    return False


def numeric_if_clean(values: pd.Series) -> pd.Series:
    """A text column as numbers when every value is one; codes such as "007" stay text."""
    text = values.dropna().astype(str).str.strip()
    if not len(text) or text.str.match(r"^[+-]?0\d").any():
        return values
    converted = pd.to_numeric(text, errors="coerce")
    if converted.isna().any():
        return values
    return pd.to_numeric(values, errors="coerce")
