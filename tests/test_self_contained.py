"""The repository explains itself: no file cites a document that lives outside it.

kpb was written against notes kept beside the repository (a jb behaviour spec, a YAML output
contract, a port plan). A reader of the repository has none of them, so a docstring, comment or
doc must state the fact itself, or point at a doc inside the repository (``docs/...``).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Names of the outside notes and of the folder beside the repository that holds them.
CITATIONS = re.compile(r"jb-compat\b|\.\./shared/|eks-port|yaml-contract")
#: Everything a reader sees: the code, its tests, the docs and the project's own files.
SOURCES = sorted(
    path
    for pattern in (
        "kubeprom_build/**/*.py",
        "tests/**/*.py",
        "benchmarks/**/*.py",
        "docs/*.md",
        "README.md",
        "Makefile",
        "pyproject.toml",
        ".ci/*",
        "environments/*",
        "jsonnet/**/*",
    )
    for path in ROOT.glob(pattern)
    if path.is_file() and path != Path(__file__).resolve()
)


def test_the_sources_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"README.md", "docs/architecture.md", "kubeprom_build/vendoring/uri.py"} <= names


def test_no_file_cites_a_document_outside_the_repository() -> None:
    found = []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8", errors="replace")
        found += [
            f"{source.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
            for m in CITATIONS.finditer(text)
        ]
    assert not found, "state the fact itself, or cite a doc under docs/:\n" + "\n".join(found)
