"""HTML pieces beside and over the maps, from ``templates/``: legends, symbols (swatches, lines,
dots) and the table of situations. Each returns :class:`~markupsafe.Markup`: HTML built from
escaped parts."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from gridmap import vocab
from gridmap.maps.assets import render, templates
from gridmap.maps.context import Context, PageData
from gridmap.maps.layers import Layer


def legend(ctx: Context | PageData, extra: list[tuple[str, str]], types: bool = True,
           compounds: Layer | None = None) -> Markup:
    """Legend HTML: fill colours by situation, outlines by type, then the other layers (symbol
    HTML, label text); only what ``compounds`` (by default all of ``ctx``'s) holds."""
    compounds = compounds if compounds is not None else ctx.compounds
    present_c = set(compounds.props["_s"])
    present_t = set(compounds.props["_t"])
    situations = [(vocab.SITUATION_COLOURS[s], vocab.SITUATION_LABELS[s])
                  for i, s in enumerate(vocab.COMPOUND_SITUATIONS) if i in present_c]
    type_rows = None
    if types and ctx.type_order:
        type_rows = [(*vocab.TYPE_STYLES.get(t, vocab.OTHER_TYPE_STYLE), t)
                     for i, t in enumerate(ctx.type_order) if i in present_t]
    # The symbols are HTML that gridmap writes (line_svg, swatch…), never data.
    return render("legend.html", situations=situations, types=type_rows,
                  extra=[(Markup(symbol), label) for symbol, label in extra])


def line_svg(colour: str, width: float = 3, dash: str | None = None) -> Markup:
    """A line symbol, solid or dashed (an SVG dash array)."""
    return templates().get_template("symbols.html").module.line(colour, width, dash)


def dot_svg(colour: str, r: float = 4) -> Markup:
    """A dot symbol with a white rim."""
    return templates().get_template("symbols.html").module.dot(colour, r)


def swatch(colour: str, more: str = "") -> Markup:
    """A colour swatch; ``more`` adds CSS declarations (``;border:1px solid #444``)."""
    return templates().get_template("symbols.html").module.swatch(colour, more)


def page_link(file: str, title: str) -> Markup:
    """A link to another page (``title`` is text)."""
    return templates().get_template("panels.html").module.page_link(file, title)


def situation_counts(comp_sit: pd.Series, grid_sit: pd.Series) -> tuple[list[tuple], int, int]:
    """The rows of the table of situations (colour, label, compounds, grids: None where the
    situation is not one of compounds or grids) and the totals; situations neither has are left out."""
    rows = []
    for s in dict.fromkeys([*vocab.COMPOUND_SITUATIONS, *vocab.GRID_SITUATIONS]):
        c = int((comp_sit == s).sum()) if s in vocab.COMPOUND_SITUATIONS else None
        g = int((grid_sit == s).sum()) if s in vocab.GRID_SITUATIONS else None
        if c or g:
            rows.append((vocab.SITUATION_COLOURS[s], vocab.SITUATION_LABELS[s], c, g))
    return rows, len(comp_sit), len(grid_sit)
