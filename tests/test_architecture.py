"""The architecture holds: layers imported one way, no private names across modules, small modules.

The layering contract itself lives in pyproject.toml (import-linter) and runs in .ci/run; these
tests check the rules import-linter does not.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gridmap"
#: Modules that may be imported inside a function: optional or heavy dependencies loaded only when
#: a run asks for them (a Dask cluster, a PostGIS database).
LAZY = {"gridmap.distributed", "gridmap.io.postgis"}
MAX_LINES = 800


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path):
    """(node, imported module, names, inside a function) for every gridmap import of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    local = {id(n) for f in functions for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gridmap"):
            yield node, node.module, [a.name for a in node.names], id(node) in local
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gridmap"):
                    yield node, alias.name, [], id(node) in local


def test_no_private_name_crosses_a_module():
    crossing = []
    for path in modules():
        for node, module, names, _ in imports(path):
            # gettext's ``_`` (gridmap.i18n) is the one public name that starts with "_".
            crossing += [f"{path.name}:{node.lineno} imports {module}.{n}" for n in names
                         if n.startswith("_") and (module, n) != ("gridmap.i18n", "_")]
        text = path.read_text(encoding="utf-8")
        for other in ("org", "io", "pipeline", "maps", "align", "microgrids", "jobs", "classify"):
            if f"{other}._" in text.replace("self._", "").replace("cls._", ""):
                tree = ast.parse(text)
                for n in ast.walk(tree):
                    if (isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")
                            and isinstance(n.value, ast.Name) and n.value.id == other):
                        crossing.append(f"{path.name}:{n.lineno} uses {other}.{n.attr}")
    assert not crossing, "\n".join(crossing)


def test_imports_at_module_level():
    late = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {module}"
            for path in modules() for node, module, _, local in imports(path)
            if local and module not in LAZY]
    assert not late, "gridmap modules are imported at module level:\n" + "\n".join(late)


def test_no_module_over_the_limit():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_vocabulary_is_written_once():
    """A situation's label appears in gridmap.vocab and nowhere else in the package."""
    from gridmap import vocab

    labels = {label for label in vocab.SITUATION_LABELS.values()} | set(vocab.KIND_LABELS.values())
    labels -= {"党支部", "党总支", "党小组"}  # also words inside unit names (太嘉小区党支部)
    found = [f"{p.relative_to(PACKAGE.parent)} writes {label}" for p in modules()
             if p.name != "vocab.py" for label in labels if label in p.read_text(encoding="utf-8")]
    assert not found, "\n".join(found)


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_layering_contract():
    run = subprocess.run(["lint-imports"], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
