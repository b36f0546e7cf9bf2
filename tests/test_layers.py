"""Architecture rules that code review alone would let slip.

Modules import only from layers below (or beside) them, and only the CLI talks to the terminal.
Adding a module means placing it in LAYERS, which keeps docs/architecture.md honest.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kubeprom_build"

LAYERS: dict[str, int] = {
    "__init__": 0,
    "__main__": 6,
    "errors": 0,
    "fsutil": 0,
    "safefs": 0,
    "redaction": 0,
    "jsonnetfile": 1,
    "uri": 1,
    "checksum": 1,
    "git": 1,
    "extract": 1,
    "engine": 1,
    "imports": 1,
    "yamlemit": 1,
    "extvars": 1,
    "project": 1,
    "cache": 2,
    "resolve": 2,
    "buildstate": 2,
    "manifests": 2,
    "outputs": 2,
    "vendortree": 2,
    "vendorrecord": 2,
    "scaffold": 2,
    "stager": 3,
    "build": 3,
    "vendor": 4,
    "cli": 5,
}
TERMINAL_LIBRARIES = {"typer", "rich", "click"}


def _module_key(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(source: Path) -> None:
    key = _module_key(source)
    assert key in LAYERS, f"place kubeprom_build/{key} in LAYERS (and docs/architecture.md)"
    for name in _imports(source):
        top = name.split(".")[0]
        if top in TERMINAL_LIBRARIES:
            assert key == "cli", f"{source.name} imports {top}: only kubeprom_build.cli may"
        if top != "kubeprom_build" or name == "kubeprom_build":
            continue
        target = name.split(".")[1]
        assert LAYERS[target] <= LAYERS[key], f"{key} (layer {LAYERS[key]}) imports {target}"


def test_architecture_doc_names_every_module() -> None:
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for key in {_module_key(p) for p in SOURCES} - {"__init__", "__main__"}:
        assert f"**{key}**" in doc, f"docs/architecture.md has no paragraph for {key}"
