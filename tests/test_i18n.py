"""Chinese users and their office (issue 14): the console in the user's language, a catalogue that
cannot go stale, tables that fit 80 columns, and label columns beside the codes of the tables.

tests/conftest.py sets GRIDMAP_LANG=en for the suite; the tests here set the language they check.
typer builds help texts when gridmap.cli is imported, so help is checked in a subprocess started
with the environment a user would have.
"""

from __future__ import annotations

import ast
import gettext
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from rich.console import Console

from conftest import ROOT

import gridmap.cli as cli
from gridmap import i18n, vocab
from gridmap.errors import GridmapWarning, SliverWarning, warning_title
from gridmap.pipeline import STAGES, stage_title

LOCALE = ROOT / "gridmap" / "locale"
PO = LOCALE / "zh_CN" / "LC_MESSAGES" / "gridmap.po"
MO = LOCALE / "zh_CN" / "LC_MESSAGES" / "gridmap.mo"
POT = LOCALE / "gridmap.pot"
CJK = re.compile(r"[\u4e00-\u9fff]")
#: English words of gridmap's own (not inside a file name, flag or code such as compounds.csv or
#: compounds=gbk): under Chinese, any of these in the console is English left over.
ENGLISH = re.compile(r"(?<![\w./=-])(?:the|and|of|with|Wrote|Error|Warning|Note|Usage|Options|Arguments|Commands|"
                     r"Show this message|required|default|Done in|compounds?|grids?|households|members)(?![\w./=-])")


def environment(**values) -> dict:
    """The test's environment with no language setting of its own, then ``values``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRIDMAP_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    return {**env, "COLUMNS": "80", **values}


def gridmap(*args, **env):
    return subprocess.run([sys.executable, "-m", "gridmap", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env=environment(**env))


# ------------------------------------------------------------------ the language


@pytest.mark.parametrize("env,expected", [
    ({}, "en"), ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "C.UTF-8"}, "en"), ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LC_ALL": "zh_CN.UTF-8", "LANG": "C.UTF-8"}, "zh"), ({"LANGUAGE": "en:zh", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"GRIDMAP_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"), ({"GRIDMAP_LANG": "zh", "LANG": "C.UTF-8"}, "zh"),
    ({"GRIDMAP_LANG": "ZH_cn"}, "zh"), ({"GRIDMAP_LANG": "fr", "LANG": "zh_CN.UTF-8"}, "zh"),
])
def test_language_from_the_environment(monkeypatch, env, expected):
    for name in ("GRIDMAP_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert i18n.language() == expected


def test_messages_and_codes_follow_the_language_when_translated(monkeypatch):
    monkeypatch.setenv("GRIDMAP_LANG", "zh")
    assert i18n._("Error:") == "错误：" and warning_title(SliverWarning) == "细碎重叠"
    assert i18n.term("mixed", vocab.situation_label("mixed")) == "跨网格（待拉平对齐）"
    assert stage_title("align") == "拉平对齐" and all(CJK.search(stage_title(s)) for s in STAGES)
    assert i18n._("{count} pages").format(count=9) == "9 个页面"
    monkeypatch.setenv("GRIDMAP_LANG", "en")
    assert i18n._("Error:") == "Error:" and warning_title(SliverWarning) == "Sliver overlaps"
    assert warning_title(UserWarning) == "Warning" and warning_title(GridmapWarning) == "Warning"
    assert i18n.term("mixed", vocab.situation_label("mixed")) == "mixed"


def test_help_in_both_languages():
    zh = gridmap("classify", "--help", LANG="zh_CN.UTF-8")
    assert zh.returncode == 0, zh.stderr
    assert "判定每个小区和网格的情形" in zh.stdout and "用法" in zh.stdout and "显示本帮助并退出" in zh.stdout
    flat = re.sub(r"\s*\n\s*", "", zh.stdout)  # lines joined again
    for label in ("小区大、网格小", "跨网格（待拉平对齐）", "网格内无小区"):  # the codes by their vocab labels
        assert label in flat
    assert not ENGLISH.search(zh.stdout), ENGLISH.search(zh.stdout)
    assert "…" not in zh.stdout, "a Chinese help text was cut instead of folded"
    en = gridmap("classify", "--help", LANG="C.UTF-8")
    assert "Classify every compound and grid: large_compound" in en.stdout and "Usage:" in en.stdout
    assert not CJK.search(en.stdout.replace("小区编码", "").replace("小区编号", "").replace("网格编码", "")
                          .replace("网格编号", "").replace("小区", "").replace("网格", ""))
    top = gridmap("--help", LANG="zh_CN.UTF-8")
    assert "命令" in top.stdout and "用自带的太原市中心示例数据" in top.stdout and not ENGLISH.search(top.stdout)


def test_gridmap_lang_overrides_the_locale():
    assert "Classify every compound" in gridmap("classify", "--help", LANG="zh_CN.UTF-8", GRIDMAP_LANG="en").stdout
    assert "判定每个小区" in gridmap("classify", "--help", LANG="C.UTF-8", GRIDMAP_LANG="zh").stdout


def test_an_error_in_both_languages(tmp_path):
    missing = tmp_path / "nowhere" / "compounds.shp"
    zh = gridmap("classify", missing, tmp_path / "grids.shp", "--out", tmp_path / "out", LANG="zh_CN.UTF-8")
    assert zh.returncode == 1 and zh.stderr.startswith("错误：") and "文件或文件夹不存在" in zh.stderr
    assert not ENGLISH.search(zh.stderr.replace(str(missing), "")), zh.stderr
    en = gridmap("classify", missing, tmp_path / "grids.shp", "--out", tmp_path / "out", LANG="C.UTF-8")
    assert en.returncode == 1 and en.stderr.startswith("Error:") and "no such file or folder" in en.stderr
    usage = gridmap("classify", LANG="zh_CN.UTF-8")  # typer's own usage error
    assert usage.returncode == 2 and "缺少参数" in usage.stderr and "错误" in usage.stderr
    assert not ENGLISH.search(usage.stderr), usage.stderr


def test_init_template_in_the_users_language(tmp_path):
    zh = gridmap("init", tmp_path / "zh.toml", LANG="zh_CN.UTF-8")
    en = gridmap("init", tmp_path / "en.toml", LANG="C.UTF-8")
    assert zh.stdout.startswith("已写出") and en.stdout.startswith("Wrote")
    zh_text, en_text = (tmp_path / "zh.toml").read_text("utf-8"), (tmp_path / "en.toml").read_text("utf-8")
    assert "# gridmap 项目文件" in zh_text and "# gridmap project file" in en_text
    comments = [line.split("#", 1)[1] for line in zh_text.splitlines() if "#" in line and not line.startswith("#")]
    assert all(CJK.search(c) or "=" in c or not c.strip() for c in comments), "a comment left in English"
    # The same keys and values in both templates: only the comments differ.
    import tomllib

    assert tomllib.loads(zh_text) == tomllib.loads(en_text)
    strip = [re.sub(r"#.*", "", line).rstrip() for line in zh_text.splitlines()]
    assert strip == [re.sub(r"#.*", "", line).rstrip() for line in en_text.splitlines()]


# ------------------------------------------------------------------ the catalogue


def catalogue(path: Path):
    with open(path, "rb") as f:
        return read_po(f)


def test_every_message_is_translated():
    pot, po = catalogue(POT), catalogue(PO)
    field = re.compile(r"\{[^{}]*\}")
    missing, fuzzy, wrong = [], [], []
    for message in pot:
        if not message.id:
            continue
        translated = po.get(message.id)
        strings = [s for s in (translated.string if translated else ()) if s] if translated and isinstance(
            translated.string, tuple) else [translated.string] if translated and translated.string else []
        if not strings:
            missing.append(message.id)
            continue
        if translated.fuzzy:
            fuzzy.append(message.id)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if any(set(field.findall(s)) != set(field.findall(ids[0])) for s in strings):
            wrong.append(message.id)
    assert not missing, f"{len(missing)} messages without a translation: {missing[:5]}"
    assert not fuzzy, f"fuzzy translations: {fuzzy[:5]}"
    assert not wrong, f"translations whose {{fields}} differ from the message's: {wrong[:5]}"
    assert not [m.id for m in po if m.id and m.id not in pot], "translations of messages the code no longer has"


def test_the_catalogue_holds_every_message_of_the_code():
    """What Babel extracts from the package now is what gridmap.pot holds: no message was added,
    changed or removed in the code without updating the catalogue (the commands are in gridmap/i18n.py)."""
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / "gridmap", method_map=[("**.py", "python")], keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    listed = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue(POT) if m.id}
    assert found - listed == set(), f"messages missing from gridmap.pot: {sorted(found - listed)[:5]}"
    assert listed - found == set(), f"messages in gridmap.pot the code no longer has: {sorted(listed - found)[:5]}"


def test_the_compiled_catalogue_matches_the_po():
    buffer = io.BytesIO()
    write_mo(buffer, catalogue(PO))
    buffer.seek(0)
    compiled = gettext.GNUTranslations(buffer)
    with open(MO, "rb") as f:
        committed = gettext.GNUTranslations(f)
    assert committed._catalog == compiled._catalog, "gridmap.mo is stale: run pybabel compile (gridmap/i18n.py)"


def test_no_module_hides_the_translation_function():
    """A module that imports ``_`` from gridmap.i18n never assigns ``_`` (a ``for _, x`` would turn
    every ``_()`` of its function, or of its comprehension, into a call of the loop value)."""
    hidden = []
    for path in sorted((ROOT / "gridmap").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not any(isinstance(n, ast.ImportFrom) and n.module == "gridmap.i18n" and any(a.name == "_" for a in n.names)
                   for n in ast.walk(tree)):
            continue
        hidden += [f"{path.name}:{n.lineno}" for n in ast.walk(tree)
                   if isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store)]
    assert not hidden, hidden


# ------------------------------------------------------------------ 80 columns


def printed(monkeypatch, language: str, show) -> str:
    """What ``show()`` prints on an 80-column console in ``language``."""
    monkeypatch.setenv("GRIDMAP_LANG", language)
    console = Console(file=io.StringIO(), width=80, highlight=False, color_system=None)
    monkeypatch.setattr(cli, "out_console", console)
    show()
    return console.file.getvalue()


def cell_width(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(line)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_tables_fit_80_columns(monkeypatch, office_run, language):
    """The summaries of classify, org, align, micro-grids and run: no table wider than 80 columns, no
    header or value cut with "…", in either language."""
    run = office_run
    text = printed(monkeypatch, language, lambda: (
        cli.print_classification(run.classification), cli.print_organisation(run.organisation),
        cli.print_alignment(run.alignment), cli.print_microgrids(run.microgrids, staffed=True),
        cli.print_run_summary(run)))
    tables = [line for line in text.splitlines() if line[:1] in "┏┃┡│└┌├╭╰"]
    assert len(tables) > 40
    assert max(map(cell_width, tables)) <= 80
    assert not [line for line in tables if "…" in line], "\n".join(line for line in tables if "…" in line)
    if language == "zh":
        for word in ("小区大、网格小", "社区\n党委".split("\n")[0], "党总支", "跨网格小区", "已落位党员", "微网格"):
            assert word in text
        assert not ENGLISH.search("\n".join(tables)), ENGLISH.search("\n".join(tables))
    else:
        assert "large_compound" in text and "straddling compounds" in text


# ------------------------------------------------------------------ codes and their labels in the tables


def test_label_columns_at_the_end_of_the_tables(office_run):
    out = office_run.out
    for name, code, label, func in (("compounds.csv", "situation", "situation_label", vocab.situations_label),
                                    ("grids.csv", "situation", "situation_label", vocab.situations_label),
                                    ("organization.csv", "kind", "kind_label", vocab.kind_label),
                                    ("proposal.csv", "status", "status_label", vocab.status_label)):
        table = pd.read_csv(out / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert label in table.columns and code in table.columns, name
        assert table[label].tolist() == [func(c) if c else "" for c in table[code]], name
    org = pd.read_csv(out / "organization.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(org.columns[-2:]) == ["kind_label", "situation_label"]
    for name in ("compounds.csv", "grids.csv", "proposal.csv"):
        columns = pd.read_csv(out / name, nrows=0, encoding="utf-8-sig").columns
        assert columns[-1].endswith("_label") and sum(c.endswith("_label") for c in columns) == 1, name
    overlaps = pd.read_csv(out / "overlaps.csv", encoding="utf-8-sig")
    assert overlaps.significant.dtype == bool and "significant_label" not in overlaps
    layer = gpd.read_file(out / "classification.gpkg", layer="compounds")
    assert (layer.situation_label == layer.situation.map(vocab.situation_label)).all()
    assert "status_label" in gpd.read_file(out / "proposal.gpkg", layer="grids", ignore_geometry=True)


def workbook_cells(path: Path):
    book = openpyxl.load_workbook(path, read_only=True)
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        yield sheet.title, rows


def test_workbooks_speak_chinese(office_run):
    """organization.xlsx, each office's tables.xlsx and the rosters: Chinese headers, whole households,
    no True/False and no inf."""
    out = office_run.out
    books = [out / "organization.xlsx", out / "roster.xlsx", *sorted(out.glob("offices/*/*.xlsx"))]
    assert len(books) > 6
    for book in books:
        for sheet, rows in workbook_cells(book):
            header = [c for c in rows[0] if c is not None] if rows else []
            if sheet != "概况":  # 概况 is label and value per row
                assert header and all(CJK.search(str(c)) for c in header), f"{book.name} {sheet}: {header}"
            for row in rows[1:]:
                for j, value in enumerate(row):
                    where = f"{book.relative_to(out)} {sheet}: {value!r}"
                    assert not isinstance(value, bool) and value not in ("True", "False", "inf", "nan"), where
                    assert not (isinstance(value, float) and value != value), where
                    if j < len(rows[0]) and rows[0][j] in ("户数", "党员数", "党员总数"):
                        assert value is None or isinstance(value, int), where
