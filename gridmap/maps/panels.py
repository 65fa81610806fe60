"""HTML pieces beside and over the maps: legends, line and dot symbols, the table of situations."""

from __future__ import annotations

import pandas as pd

from gridmap import vocab
from gridmap.maps.context import Context
from gridmap.maps.layers import Layer
from gridmap.maps.safety import escape


def legend(ctx: Context, extra: list[tuple[str, str]], types: bool = True,
           compounds: Layer | None = None) -> str:
    """Legend HTML: fill colours by situation, outlines by type, then the other layers; only
    what ``compounds`` (by default all of them) holds."""
    compounds = compounds if compounds is not None else ctx.compounds
    rows = ["<b>小区情形 compounds</b>"]
    present_c = set(compounds.props["_s"])
    present_t = set(compounds.props["_t"])
    for i, s in enumerate(vocab.COMPOUND_SITUATIONS):
        if i in present_c:
            rows.append(f'<span class="gm-swatch" style="background:{vocab.SITUATION_COLOURS[s]};opacity:.8"></span>'
                        f"{escape(vocab.SITUATION_LABELS[s])}<br>")
    if types and ctx.type_order:
        rows.append("<b>小区类型 outline</b>")
        for t in [t for i, t in enumerate(ctx.type_order) if i in present_t]:
            colour, dash = vocab.TYPE_STYLES.get(t, vocab.OTHER_TYPE_STYLE)
            rows.append(f"{line_svg(colour, 3, dash)}{escape(t)}<br>")
    rows.append("<b>其他 other</b>")
    for svg, label in extra:
        rows.append(f"{svg}{escape(label)}<br>")
    return "".join(rows)


def line_svg(colour: str, width: float = 3, dash: str | None = None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<svg width="26" height="10"><line x1="0" y1="5" x2="26" y2="5" stroke="{colour}" '
            f'stroke-width="{width}"{d}/></svg>')


def dot_svg(colour: str, r: float = 4) -> str:
    return (f'<svg width="26" height="10"><circle cx="13" cy="5" r="{r}" fill="{colour}" '
            f'stroke="#fff" stroke-width="1"/></svg>')


def counts_table(comp_sit: pd.Series, grid_sit: pd.Series) -> str:
    rows = ['<table><tr><th>情形 situation</th><th class="num">小区</th><th class="num">网格</th></tr>']
    for s in dict.fromkeys([*vocab.COMPOUND_SITUATIONS, *vocab.GRID_SITUATIONS]):
        c = int((comp_sit == s).sum()) if s in vocab.COMPOUND_SITUATIONS else None
        g = int((grid_sit == s).sum()) if s in vocab.GRID_SITUATIONS else None
        if not c and not g:
            continue
        rows.append(f'<tr><td><span class="gm-swatch" style="background:{vocab.SITUATION_COLOURS[s]}"></span>'
                    f'{escape(vocab.SITUATION_LABELS[s])}</td><td class="num">{"" if c is None else c}</td>'
                    f'<td class="num">{"" if g is None else g}</td></tr>')
    rows.append(f'<tr><th>合计 total</th><th class="num">{len(comp_sit)}</th><th class="num">{len(grid_sit)}</th></tr></table>')
    return "".join(rows)
