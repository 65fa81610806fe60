"""gridmap.xlsx: what openpyxl (a reader independent of the writer) reads back."""

from __future__ import annotations

import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from gridmap.io.xlsx import BOLD, HEADER, Sheet, Style, column_letter, display_width, fit_widths, write_xlsx


def test_column_letters():
    assert [column_letter(k) for k in (0, 25, 26, 51, 52, 701, 702, 16383)] == \
        ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD"]


def test_values_styles_and_layout(tmp_path):
    rows = [["编号", "名称", "党员数", "户数", "设委员会"],
            ["1", "迎泽社区党委", 120, 3786.0, True],
            ["1.1", "a & b <c> \"d\"", np.int64(7), 12.5, np.bool_(False)],
            ["1.2", "  spaced  ", None, float("nan"), ""],
            ["1.3", "ctrl\x01\x0bchars\ttab", -3, 1e20, "x" * 40000]]
    sheets = [Sheet("汇总", rows, widths=[8, 20, None, 6.5, 10], freeze="B2", autofilter="A1:E5",
                    row_styles={0: HEADER}, cell_styles={(2, 1): Style(indent=4), (4, 6): BOLD}),
              Sheet("it's (odd) & <x>", [["only"]], freeze="A2", autofilter="A1:A1")]
    path = write_xlsx(sheets, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "it's (odd) & <x>"]
    ws = wb["汇总"]
    got = [[c.value for c in row] for row in ws.iter_rows(max_col=5)]
    assert got[0] == rows[0]
    assert got[1] == ["1", "迎泽社区党委", 120, 3786, True]
    assert got[2] == ["1.1", "a & b <c> \"d\"", 7, 12.5, False]
    assert got[3] == ["1.2", "  spaced  ", None, None, None]
    assert got[4][:4] == ["1.3", "ctrlchars\ttab", -3, 1e20]
    assert len(got[4][4]) == 32767 and got[4][4].endswith("…")
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:E5"
    assert ws.column_dimensions["A"].width == 8 and ws.column_dimensions["D"].width == 6.5
    head = ws["A1"]
    assert head.font.b and head.font.color.rgb.endswith("FFFFFF") and head.fill.fgColor.rgb.endswith("B22222")
    assert head.alignment.wrap_text and head.alignment.vertical == "center"
    assert all(ws.cell(row=1, column=j).font.b for j in range(1, 6))
    assert ws["B3"].alignment.indent == 4 and not ws["B2"].alignment.indent
    assert ws["G5"].font.b and ws["G5"].value is None  # a styled empty cell exists
    assert wb["it's (odd) & <x>"].freeze_panes == "A2"
    assert wb["it's (odd) & <x>"].auto_filter.ref == "A1:A1"


def test_same_sheets_same_bytes(tmp_path):
    rows = [["a", "b"], [1, "二"], [2.5, None]]
    a = write_xlsx([Sheet("s", rows, row_styles={0: HEADER})], tmp_path / "a.xlsx").read_bytes()
    b = write_xlsx([Sheet("s", rows, row_styles={0: HEADER})], tmp_path / "b.xlsx").read_bytes()
    assert a == b


def test_bad_sheets(tmp_path):
    with pytest.raises(ValueError):
        write_xlsx([], tmp_path / "x.xlsx")
    with pytest.raises(ValueError):
        write_xlsx([Sheet("A", []), Sheet("a", [])], tmp_path / "x.xlsx")
    for name in ("", "a[1]", "x" * 32, "'quoted'"):
        with pytest.raises(ValueError):
            write_xlsx([Sheet(name, [])], tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_pandas_reads_it(tmp_path):
    df = pd.DataFrame({"id": ["1", "1.1"], "n": [3, 4], "x": [0.25, None]})
    rows = [list(df.columns)] + [[None if isinstance(v, float) and math.isnan(v) else v for v in r]
                                 for r in df.itertuples(index=False)]
    write_xlsx([Sheet("t", rows)], tmp_path / "t.xlsx")
    back = pd.read_excel(tmp_path / "t.xlsx", dtype={"id": str})
    pd.testing.assert_frame_equal(back, df)


def _slow_width(rows, caps, cap=40, least=6, sample=2000):
    """The plain definition fit_widths must agree with."""
    out = []
    for j in range(max(len(r) for r in rows[:sample])):
        head = rows[0][j] if j < len(rows[0]) else None
        limit = caps.get(str(head) if head is not None else "", cap)
        longest = max((sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(r[j]))
                       for r in rows[:sample] if j < len(r) and r[j] is not None), default=0)
        out.append(min(max(longest + 2, least), limit))
    return out


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.integers(-10**6, 10**6),
                                   st.text(alphabet="ab1楼栋党·–", max_size=60)), min_size=1, max_size=5),
                min_size=1, max_size=30))
def test_fit_widths_property(rows):
    caps = {"楼栋": 12, "a": 50}
    assert fit_widths(rows, caps=caps) == _slow_width(rows, caps)
    assert display_width("龙城a") == 5 and display_width(None) == 0


@hsettings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-10**12, 10**12), st.booleans(), st.floats(allow_nan=True),
                          st.text(max_size=12), st.sampled_from([" lead", "trail ", "a\nb", "x&y", "<t>", "\x07"])),
                max_size=40),
       st.dictionaries(st.integers(0, 39), st.integers(1, 3), max_size=3))
def test_column_path_matches_cell_path(values, styled):
    """The column sweep gives exactly the cells that formatting each one on its own gives."""
    from gridmap.io.xlsx import _cell_xml, _column_xml

    styled = {k: v for k, v in styled.items() if k < len(values)}
    expect = [_cell_xml(f"C{r}", v, styled.get(k, 0)) for k, (r, v) in enumerate(zip(range(5, 5 + len(values)), values))]
    assert _column_xml("C", values, 5, styled) == expect
    strings = [v for v in values if v is None or isinstance(v, str)]
    assert _column_xml("C", strings, 5, {}) == [_cell_xml(f"C{r}", v, 0) for r, v in zip(range(5, 5 + len(strings)), strings)]
    ints = [v for v in values if v is None or type(v) is int]
    assert _column_xml("C", ints, 5, {}) == [_cell_xml(f"C{r}", v, 0) for r, v in zip(range(5, 5 + len(ints)), ints)]


def test_many_rows_in_batches(tmp_path):
    rows = [["id", "n"]] + [[f"b{i}", i] for i in range(4500)]
    path = write_xlsx([Sheet("big", rows, row_styles={0: HEADER, 4500: BOLD},
                             cell_styles={(2500, 0): Style(indent=2)})], tmp_path / "big.xlsx")
    ws = openpyxl.load_workbook(path)["big"]
    got = [[c.value for c in r] for r in ws.iter_rows()]
    assert got == rows
    assert ws["A1"].font.b and ws["B4501"].font.b and ws["A2501"].alignment.indent == 2 and not ws["A2500"].font.b
