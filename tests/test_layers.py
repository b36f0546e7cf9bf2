"""Architecture rules that code review alone would let slip.

kpb is two halves, ``vendoring`` and ``rendering`` (plus ``validation``, as independent), on
shared foundations, with the CLI above them. Within that shape every module imports only from
layers strictly below its own (never "beside"), the halves never import each other, code
outside a half uses only the names the half exports (its ``__all__``), and only the CLI talks
to the terminal. Adding a module means placing it in LAYERS, which keeps docs/architecture.md
honest.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kubeprom_build"
HALVES = ("vendoring", "rendering", "validation")
FOUNDATIONS = {"__init__", "errors", "jsonvalues", "safefs", "fsutil"}

#: Module (dotted, relative to kubeprom_build; a package stands for its __init__) → layer.
LAYERS: dict[str, int] = {
    # foundations, shared by both halves
    "__init__": 0,
    "errors": 0,
    "jsonvalues": 0,
    "safefs": 0,
    "fsutil": 1,
    # vendoring: remote naming up to the transaction
    "vendoring.uri": 2,
    "vendoring.checksum": 2,
    "vendoring.extract": 2,
    "vendoring.seal": 2,
    "vendoring.jsonnetfile": 3,
    "vendoring.git": 3,
    "vendoring.cache": 4,
    "vendoring.resolve": 4,
    "vendoring.vendorrecord": 4,
    "vendoring.packageuri": 4,
    "vendoring.vendortree": 5,
    "vendoring.packagefile": 6,
    "vendoring.stager": 7,
    "vendoring.noop": 7,
    "vendoring.commands": 8,
    "vendoring": 9,
    # rendering: engines and emitters up to the pipeline
    "rendering.redaction": 2,
    "rendering.engine": 2,
    "rendering.yamlemit": 2,
    "rendering.buildstate": 2,
    "rendering.manifests": 2,
    "rendering.workers": 2,
    "rendering.imports": 3,
    "rendering.extvars": 3,
    "rendering.outputs": 3,
    "rendering.engineerrors": 4,
    "rendering.pipeline": 5,
    "rendering": 6,
    # validation: checks over parsed objects
    "validation.findings": 2,
    "validation.documents": 3,
    "validation.schemaerrors": 3,
    "validation.objects": 3,
    "validation.gotemplate": 3,
    "validation.matchers": 3,
    "validation.promrules": 4,
    "validation.alertmanager": 4,
    "validation.dashboards": 4,
    "validation.kubeschemas": 4,
    "validation.crdschemas": 4,
    "validation.structure": 5,
    "validation.settings": 5,
    "validation.runner": 6,
    "validation": 7,
    # above both halves
    "project": 10,
    "scaffold": 10,
    # the command line
    "cli.output": 10,
    "cli.app": 11,
    "cli.complete": 11,
    "cli.fastpath": 11,
    "cli.vendor_cmds": 12,
    "cli.validate_cmds": 12,
    "cli.build_cmds": 13,
    "cli.jb": 14,
    "cli": 15,
    "__main__": 16,
}
TERMINAL_LIBRARIES = {"typer", "rich", "click"}


def _module_key(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_key(p) for p in SOURCES}


def _half(key: str) -> str | None:
    top = key.split(".")[0]
    return top if top in HALVES else None


def _imports(path: Path) -> set[tuple[str, str]]:
    """``(kpb module key, imported name or "")`` for every import of a kubeprom_build module."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "kubeprom_build":
                    found.add((alias.name.removeprefix("kubeprom_build").lstrip(".") or "", ""))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "kubeprom_build":
                continue
            base = node.module.removeprefix("kubeprom_build").lstrip(".")
            for alias in node.names:
                submodule = f"{base}.{alias.name}".lstrip(".")
                if submodule in MODULES:
                    found.add((submodule, ""))
                else:
                    found.add((base or "__init__", alias.name))
    return {(key or "__init__", name) for key, name in found}


def _third_party(path: Path) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            tops.add(node.module.split(".")[0])
    return tops


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_from_strictly_lower_layers(source: Path) -> None:
    key = _module_key(source)
    assert key in LAYERS, f"place kubeprom_build/{key} in LAYERS (and docs/architecture.md)"
    for target, _name in _imports(source):
        if target == key:
            continue
        assert LAYERS[target] < LAYERS[key], (
            f"{key} (layer {LAYERS[key]}) imports {target} (layer {LAYERS[target]})"
        )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_halves_never_import_each_other(source: Path) -> None:
    key = _module_key(source)
    mine = _half(key)
    for target, _name in _imports(source):
        theirs = _half(target)
        if key in FOUNDATIONS:
            assert theirs is None, f"foundation {key} imports {target}"
        if mine is not None and theirs is not None:
            assert mine == theirs, f"{key} ({mine}) imports {target} ({theirs})"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_code_outside_a_half_uses_only_its_public_names(source: Path) -> None:
    key = _module_key(source)
    for target, name in _imports(source):
        half = _half(target)
        if half is None or half == _half(key):
            continue
        assert target == half, f"{key} imports {target}: use kubeprom_build.{half}'s API"
        public = importlib.import_module(f"kubeprom_build.{half}").__all__
        assert not name or name in public, f"{key} imports {half}.{name}, not in its __all__"


@pytest.mark.parametrize("half", HALVES)
def test_each_half_declares_an_api_that_exists(half: str) -> None:
    package = importlib.import_module(f"kubeprom_build.{half}")
    assert package.__all__, f"kubeprom_build.{half} declares no __all__"
    for name in package.__all__:
        assert hasattr(package, name), f"kubeprom_build.{half}.__all__ lists missing {name}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_cli_talks_to_the_terminal(source: Path) -> None:
    key = _module_key(source)
    used = _third_party(source) & TERMINAL_LIBRARIES
    assert not used or key.split(".")[0] == "cli", f"{key} imports {used}: only cli may"


def test_the_layer_table_names_only_real_modules() -> None:
    assert set(LAYERS) == MODULES


def test_architecture_doc_names_every_module() -> None:
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for key in MODULES - {"__init__", "__main__"}:
        assert f"**{key}**" in doc, f"docs/architecture.md has no paragraph for {key}"
