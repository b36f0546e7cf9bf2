"""The import callback kpb hands every engine: search order, confinement, closure record.

kpb resolves every import itself instead of letting the engines search ``jpath`` so that all
three engines see the same search order, imports cannot escape the project, file contents are
read once per build, and the import closure is known for incremental builds.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubeprom_build.errors import BuildError


class ImportRefusedError(BuildError):
    """An import resolved outside the places a build may read."""


@dataclass(frozen=True)
class Lookup:
    """One resolved import: where it was found and which earlier candidates were absent."""

    found: str
    missing: tuple[str, ...]


class Importer:
    """The import callback: search order, confinement, one read per file, closure record.

    Search order for ``import 'x'`` from a file in ``d/``: ``d/x``, then each library dir in
    order (first match wins), as go-jsonnet and Tanka do it. Paths are joined and cleaned
    lexically (go-jsonnet semantics) and kept relative to ``root`` so error messages and
    ``std.thisFile`` do not depend on where the project is checked out. A file is accepted only
    if its real path (symlinks resolved) lies inside one of ``allowed``.
    """

    def __init__(self, root: Path, library: Sequence[Path], allowed: Sequence[Path]) -> None:
        self.root = root
        self.library = [self._short(p) for p in library]
        self.allowed = [Path(os.path.realpath(p)) for p in allowed]
        self.lookups: dict[tuple[str, str], Lookup] = {}
        self.files: dict[str, bytes] = {}
        self.refused: ImportRefusedError | None = None
        self.failure: str | None = None
        self._results: dict[tuple[str, str], tuple[str, bytes]] = {}

    def _short(self, path: Path) -> str:
        """``path`` relative to the root when below it (keeps messages short), else absolute."""
        try:
            return path.relative_to(self.root).as_posix() or "."
        except ValueError:
            return path.as_posix()

    def __call__(self, base: str, rel: str) -> tuple[str, bytes]:
        key = (base, rel)
        hit = self._results.get(key)
        if hit is None:
            hit = self._resolve(base, rel)
            self._results[key] = hit
        return hit

    def _candidates(self, base: str, rel: str) -> list[str]:
        if posixpath.isabs(rel):
            return [posixpath.normpath(rel)]
        dirs = [base or ".", *self.library]
        return [posixpath.normpath(posixpath.join(d, rel)) for d in dirs]

    def _resolve(self, base: str, rel: str) -> tuple[str, bytes]:
        missing: list[str] = []
        where = base.rstrip("/") or "."
        for candidate in self._candidates(base, rel):
            absolute = os.path.join(self.root, candidate)
            if not os.path.isfile(absolute):
                missing.append(candidate)
                continue
            real = Path(os.path.realpath(absolute))
            if not any(real == a or a in real.parents for a in self.allowed):
                refusal = ImportRefusedError(
                    f"import {rel!r} from {where}/ resolves to {real}, outside the project's "
                    "repository and library paths; refusing to read it"
                )
                self.refused = self.refused or refusal
                return self._fail(f"{candidate} (refused)", str(refusal))
            self.lookups[(base, rel)] = Lookup(candidate, tuple(missing))
            return candidate, self._read(candidate, absolute)
        return self._fail(
            f"{missing[0]} (not found)",
            f"cannot find {rel!r} imported from {where}/ (searched: {missing})",
        )

    def _fail(self, found: str, message: str) -> tuple[str, bytes]:
        """Answer a failed import with a program that raises ``message`` where it is imported.

        Raising from the callback is what the API suggests, but the Go binding sometimes garbles
        the message of an exception raised there (it reads past its end: UnicodeDecodeError),
        while every engine reports a jsonnet ``error`` cleanly, with the import's location.
        ``importstr``/``importbin`` would take this text as data, so callers must check
        :attr:`failure` after a successful evaluation too. ``found`` is marked as not a real
        path so the first location in the engine's trace is the import itself.
        """
        self.failure = self.failure or message
        return found, b"error " + json.dumps(f"kpb: {message}").encode("utf-8")

    def _read(self, candidate: str, absolute: str) -> bytes:
        data = self.files.get(candidate)
        if data is None:
            with open(absolute, "rb") as handle:
                data = handle.read()
            self.files[candidate] = data
        return data
