"""Jsonnet engines behind one small interface, and the import resolver kpb hands them.

Three engines share the ``_jsonnet`` Python API (C++ ``jsonnet``, ``gojsonnet``, ``rjsonnet``) but
differ in details: rjsonnet wants ``str`` from the import callback and routes the main file
through it, its ``jpathdir`` lets the left-most entry win, and the C++/Go ones read the main file
themselves. :class:`BindingEngine` hides that. :class:`Importer` resolves every import itself so
that all three engines see the same search order, imports cannot escape the project, file
contents are read once per build, and the import closure is known for incremental builds.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubeprom_build.errors import BuildError, ConfigError

log = logging.getLogger("kpb")

ImportCallback = Callable[[str, str], tuple[str, bytes]]

#: Fastest first: the default is the first one that imports.
ENGINE_MODULES: dict[str, str] = {"rs": "rjsonnet", "go": "_gojsonnet", "cpp": "_jsonnet"}
#: Relative evaluation cost measured on kube-prometheus (issue 3), for the "slow engine" warning.
SLOW_ENGINES = frozenset({"cpp"})


class JsonnetError(BuildError):
    """The engine rejected the program; ``raw`` is its full message (location, stack trace)."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw.strip().splitlines()[0] if raw.strip() else "jsonnet error")
        self.raw = raw


class ImportRefusedError(BuildError):
    """An import resolved outside the places a build may read."""


class Engine(Protocol):
    """What the build needs from a jsonnet implementation."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def evaluate(
        self,
        file: Path,
        *,
        jpath: Sequence[Path] = (),
        ext_vars: Mapping[str, str] | None = None,
        ext_codes: Mapping[str, str] | None = None,
        tla_vars: Mapping[str, str] | None = None,
        tla_codes: Mapping[str, str] | None = None,
        import_callback: ImportCallback | None = None,
    ) -> str:
        """Evaluate ``file`` to JSON text.

        ``jpath``: library dirs, the first match wins. With an ``import_callback`` the engine
        never touches the file system: ``file`` is handed to the callback as ``("", file)``.
        """
        ...


@dataclass(frozen=True)
class BindingEngine:
    """One of the ``_jsonnet``-API Python modules."""

    name: str
    module: Any = field(repr=False, compare=False)

    @property
    def version(self) -> str:
        found = getattr(self.module, "version", None) or getattr(self.module, "__version__", "")
        return str(found).removeprefix("v")

    def evaluate(
        self,
        file: Path,
        *,
        jpath: Sequence[Path] = (),
        ext_vars: Mapping[str, str] | None = None,
        ext_codes: Mapping[str, str] | None = None,
        tla_vars: Mapping[str, str] | None = None,
        tla_codes: Mapping[str, str] | None = None,
        import_callback: ImportCallback | None = None,
    ) -> str:
        """See :meth:`Engine.evaluate`."""
        kwargs: dict[str, Any] = {
            "ext_vars": dict(ext_vars or {}),
            "ext_codes": dict(ext_codes or {}),
            "tla_vars": dict(tla_vars or {}),
            "tla_codes": dict(tla_codes or {}),
        }
        try:
            if import_callback is not None:
                return self._evaluate_with_callback(str(file), import_callback, kwargs)
            dirs = [str(p) for p in jpath]
            # C++ and Go let the right-most library dir win, rjsonnet the left-most.
            kwargs["jpathdir"] = dirs if self.name == "rs" else dirs[::-1]
            return str(self.module.evaluate_file(str(file), **kwargs))
        except RuntimeError as err:
            raise JsonnetError(str(err)) from None
        except UnicodeDecodeError:  # the Go binding's error path can return garbage bytes
            raise JsonnetError("the engine failed with an unreadable error message") from None

    def _evaluate_with_callback(
        self, file: str, callback: ImportCallback, kwargs: dict[str, Any]
    ) -> str:
        if self.name == "rs":
            # rjsonnet reads the main file through the callback itself and wants text back.
            return str(
                self.module.evaluate_file(file, import_callback=_textual(callback), **kwargs)
            )
        found, source = callback("", file)
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError:
            raise RuntimeError(f"{found}: not UTF-8 text") from None
        return str(self.module.evaluate_snippet(found, text, import_callback=callback, **kwargs))


def _textual(callback: ImportCallback) -> Callable[[str, str], tuple[str, str]]:
    """Adapt a bytes callback for rjsonnet, which only accepts ``str`` contents."""

    def wrapped(base: str, rel: str) -> tuple[str, str]:
        found, data = callback(base, rel)
        try:
            return found, data.decode("utf-8")
        except UnicodeDecodeError:
            raise RuntimeError(
                f"{found} is not UTF-8; the rs engine cannot import it (use --engine go)"
            ) from None

    return wrapped


def available_engines() -> list[str]:
    """Names of the installed engines, fastest first."""
    return [n for n, mod in ENGINE_MODULES.items() if importlib.util.find_spec(mod) is not None]


def get_engine(name: str | None = None) -> BindingEngine:
    """The engine called ``name`` (else ``$KPB_ENGINE``, else the fastest installed one)."""
    wanted = name or os.environ.get("KPB_ENGINE") or None
    installed = available_engines()
    if wanted is None:
        if not installed:
            raise ConfigError("no jsonnet engine installed (pip install rjsonnet gojsonnet)")
        wanted = installed[0]
    if wanted not in ENGINE_MODULES:
        choices = ", ".join(ENGINE_MODULES)
        raise ConfigError(f"unknown engine {wanted!r}: choose one of {choices}")
    if wanted not in installed:
        raise ConfigError(
            f"engine {wanted!r} ({ENGINE_MODULES[wanted]}) is not installed; "
            f"installed: {', '.join(installed) or 'none'}"
        )
    return BindingEngine(wanted, importlib.import_module(ENGINE_MODULES[wanted]))


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
