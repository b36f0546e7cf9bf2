"""The import callback kpb hands every engine: search order, confinement, closure record.

kpb resolves every import itself instead of letting the engines search ``jpath`` so that all
three engines see the same search order, imports cannot escape the project, file contents are
read once per build, and the import closure is known for incremental builds.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubeprom_build.errors import BuildError
from kubeprom_build.rendering.buildstate import Lookup


class ImportRefusedError(BuildError):
    """An import resolved outside the places a build may read."""


@dataclass(frozen=True)
class ImportFailure:
    """One import kpb could not answer with a file.

    ``placeholder`` is the name the engine was given for it: it appears in the engine's trace
    as a frame of its own, which is not a real file and is never shown.
    """

    placeholder: str
    base: str
    rel: str
    message: str


_FAILED = re.compile(r"[^\s:]* \((?:not found|refused)\)")


def is_placeholder(line: str) -> bool:
    """True for an engine trace line that is the frame of a failed import's placeholder."""
    return _FAILED.search(line) is not None


class Importer:
    """The import callback: search order, confinement, one read per file, closure record.

    Search order for ``import 'x'`` from a file in ``d/``: ``d/x``, then each library dir in
    order (first match wins), as go-jsonnet and Tanka do it. Paths are joined and cleaned
    lexically (go-jsonnet semantics) and kept relative to ``root`` so error messages and
    ``std.thisFile`` do not depend on where the project is checked out. A file is accepted only
    if its real path (symlinks resolved) lies inside one of ``allowed``.
    """

    def __init__(
        self,
        root: Path,
        library: Sequence[Path],
        allowed: Sequence[Path],
        vendor: Path | None = None,
        declared: frozenset[str] | None = None,
    ) -> None:
        self.root = root
        self.declared = declared
        self.library = [self._short(p) for p in library]
        self.allowed = [Path(os.path.realpath(p)) for p in allowed]
        self.vendor = vendor
        self.lookups: dict[tuple[str, str], Lookup] = {}
        self.files: dict[str, bytes] = {}
        self.refused: ImportRefusedError | None = None
        self.failure: str | None = None
        self.failures: dict[str, ImportFailure] = {}
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
        found = [posixpath.normpath(posixpath.join(d, rel)) for d in dirs]
        return list(dict.fromkeys(found))  # a file in jsonnet/ would search jsonnet/ twice

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
                return self._fail(f"{candidate} (refused)", str(refusal), base, rel)
            self.lookups[(base, rel)] = Lookup(base, rel, candidate, tuple(missing))
            return candidate, self._read(candidate, absolute)
        searched = [rel] if posixpath.isabs(rel) else [f"{d}/" for d in self._dirs(base)]
        return self._fail(
            f"{missing[0]} (not found)",
            f"cannot find {rel!r} imported from {where}/ (searched {', '.join(searched)})"
            + self._vendor_hint(rel),
            base,
            rel,
        )

    def _dirs(self, base: str) -> list[str]:
        dirs = [base.rstrip("/") or ".", *self.library]
        return list(dict.fromkeys(posixpath.normpath(d) for d in dirs))

    def _vendor_hint(self, rel: str) -> str:
        """ "run 'kpb vendor'" when ``rel`` names a path in vendor/'s package namespace.

        That is: a host-like first component (``github.com/...``), a first component vendor/
        holds (a package folder or a legacy-name link), a package or legacy name that
        jsonnetfile.json or the lock lists (``declared``, read by the caller: vendoring is the
        other half of kpb), or any library path while vendor/ is missing in a project that has
        a jsonnetfile.json or a lock (``declared`` is not None).
        """
        vendor = self.vendor
        parts = rel.split("/")
        if vendor is None or posixpath.isabs(rel) or parts[0] in (".", ".."):
            return ""
        shown = self._short(vendor)
        hint = f"; {rel!r} belongs in {shown}/: run 'kpb vendor'"
        if not os.path.isdir(vendor):
            if self.declared is None:
                return ""  # nothing to vendor: the path is simply wrong
            return f"; {shown}/ is missing: run 'kpb vendor'"
        if (len(parts) > 1 and "." in parts[0]) or os.path.lexists(vendor / parts[0]):
            return hint
        for name in self.declared or ():
            if rel.startswith(name + "/"):
                return hint
        return ""

    def failed_in(self, raw: str) -> ImportFailure | None:
        """The failed import an engine error message is about, if it is about one."""
        return next((f for p, f in self.failures.items() if p in raw), None)

    def import_site(self, failure: ImportFailure) -> str | None:
        """``file:line:column`` of the first import of ``failure.rel`` in a file read from its
        folder (for ``importstr``/``importbin``, which evaluate without an engine error)."""
        pattern = re.compile(
            rb"\bimport(?:str|bin)?\s*@?(['\"])" + re.escape(failure.rel.encode()) + rb"\1"
        )
        folder = failure.base.rstrip("/") or "."
        for path, data in self.files.items():
            if (posixpath.dirname(path) or ".") != folder:
                continue
            match = pattern.search(data)
            if match is not None:
                line = data.count(b"\n", 0, match.start()) + 1
                column = match.start() - (data.rfind(b"\n", 0, match.start()) + 1) + 1
                return f"{path}:{line}:{column}"
        return None

    def _fail(self, found: str, message: str, base: str = "", rel: str = "") -> tuple[str, bytes]:
        """Answer a failed import with a program that raises ``message`` where it is imported.

        Raising from the callback is what the API suggests, but the Go binding sometimes garbles
        the message of an exception raised there (it reads past its end: UnicodeDecodeError),
        while every engine reports a jsonnet ``error`` cleanly, with the import's location.
        ``importstr``/``importbin`` would take this text as data, so callers must check
        :attr:`failure` after a successful evaluation too. ``found`` is marked as not a real
        path so the first location in the engine's trace is the import itself.
        """
        self.failure = self.failure or message
        self.failures.setdefault(found, ImportFailure(found, base, rel, message))
        return found, b"error " + json.dumps(f"kpb: {message}").encode("utf-8")

    def _read(self, candidate: str, absolute: str) -> bytes:
        data = self.files.get(candidate)
        if data is None:
            with open(absolute, "rb") as handle:
                data = handle.read()
            self.files[candidate] = data
        return data
