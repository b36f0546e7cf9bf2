"""Jsonnet engines behind one small interface.

Three engines share the ``_jsonnet`` Python API (C++ ``jsonnet``, ``gojsonnet``, ``rjsonnet``) but
differ in details: rjsonnet wants ``str`` from the import callback and routes the main file
through it, its ``jpathdir`` lets the left-most entry win, and the C++/Go ones read the main file
themselves. Each difference is one field of :class:`Traits`, one row per engine in
:data:`TRAITS`; :class:`BindingEngine` reads them. Builds pass :class:`imports.Importer` as the
callback, so no engine reads the file system itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict, Unpack

from kubeprom_build.errors import BuildError, ConfigError

log = logging.getLogger("kpb")

ImportCallback = Callable[[str, str], tuple[str, bytes]]


@dataclass(frozen=True)
class Traits:
    """How one engine differs from the others; everything engine-specific is decided here."""

    #: The Python module of the ``_jsonnet`` API.
    module: str
    #: The import callback must return ``str`` (not bytes), and the engine reads the main file
    #: through it itself (the others are handed its text).
    text_callback: bool
    #: In ``jpathdir`` the left-most library dir wins (the others: the right-most).
    first_jpath_wins: bool
    #: Every error message leads with the error site (a static error's first words, else the
    #: first trace frame). rjsonnet often names only the field or call that was being read.
    reports_error_site: bool
    #: Much slower on large libraries (kube-prometheus: 100-200 s and 1.2 GB against 1 s).
    slow: bool


#: Fastest first: the default is the first one that imports.
TRAITS: dict[str, Traits] = {
    "rs": Traits(
        "rjsonnet",
        text_callback=True,
        first_jpath_wins=True,
        reports_error_site=False,
        slow=False,
    ),
    "go": Traits(
        "_gojsonnet",
        text_callback=False,
        first_jpath_wins=False,
        reports_error_site=True,
        slow=False,
    ),
    "cpp": Traits(
        "_jsonnet",
        text_callback=False,
        first_jpath_wins=False,
        reports_error_site=True,
        slow=True,
    ),
}


class JsonnetError(BuildError):
    """The engine rejected the program; ``raw`` is its full message (location, stack trace)."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw.strip().splitlines()[0] if raw.strip() else "jsonnet error")
        self.raw = raw

    def __reduce__(self) -> tuple[type[JsonnetError], tuple[str]]:
        return JsonnetError, (self.raw,)  # pickled whole, not as its first line


class EvalOptions(TypedDict, total=False):
    """The keyword options of :meth:`Engine.evaluate`, declared once for every engine.

    ``jpath``: library dirs, the first match wins. With an ``import_callback`` the engine never
    touches the file system: the main file is handed to the callback as ``("", file)``.
    """

    jpath: Sequence[Path]
    ext_vars: Mapping[str, str] | None
    ext_codes: Mapping[str, str] | None
    tla_vars: Mapping[str, str] | None
    tla_codes: Mapping[str, str] | None
    import_callback: ImportCallback | None


class Engine(Protocol):
    """What the build needs from a jsonnet implementation."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def evaluate(self, file: Path, **options: Unpack[EvalOptions]) -> str:
        """Evaluate ``file`` to JSON text (options: see :class:`EvalOptions`)."""
        ...


@dataclass(frozen=True)
class BindingEngine:
    """One of the ``_jsonnet``-API Python modules."""

    name: str
    module: Any = field(repr=False, compare=False)

    @property
    def traits(self) -> Traits:
        """What sets this engine apart (:data:`TRAITS`)."""
        return TRAITS[self.name]

    @property
    def version(self) -> str:
        found = getattr(self.module, "version", None) or getattr(self.module, "__version__", "")
        return str(found).removeprefix("v")

    def evaluate(self, file: Path, **options: Unpack[EvalOptions]) -> str:
        """See :meth:`Engine.evaluate`."""
        kwargs: dict[str, Any] = {
            "ext_vars": dict(options.get("ext_vars") or {}),
            "ext_codes": dict(options.get("ext_codes") or {}),
            "tla_vars": dict(options.get("tla_vars") or {}),
            "tla_codes": dict(options.get("tla_codes") or {}),
        }
        import_callback = options.get("import_callback")
        try:
            if import_callback is not None:
                return self._evaluate_with_callback(str(file), import_callback, kwargs)
            dirs = [str(p) for p in options.get("jpath", ())]
            kwargs["jpathdir"] = dirs if self.traits.first_jpath_wins else dirs[::-1]
            return str(self.module.evaluate_file(str(file), **kwargs))
        except RuntimeError as err:
            raise JsonnetError(str(err)) from None
        except UnicodeDecodeError:  # the Go binding's error path can return garbage bytes
            raise JsonnetError("the engine failed with an unreadable error message") from None

    def _evaluate_with_callback(
        self, file: str, callback: ImportCallback, kwargs: dict[str, Any]
    ) -> str:
        if self.traits.text_callback:  # reads the main file through the callback itself
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
    return [n for n, t in TRAITS.items() if importlib.util.find_spec(t.module) is not None]


def get_engine(name: str | None = None) -> BindingEngine:
    """The engine called ``name`` (else ``$KPB_ENGINE``, else the fastest installed one)."""
    wanted = name or os.environ.get("KPB_ENGINE") or None
    installed = available_engines()
    if wanted is None:
        if not installed:
            raise ConfigError("no jsonnet engine installed (pip install rjsonnet gojsonnet)")
        wanted = installed[0]
    if wanted not in TRAITS:
        choices = ", ".join(TRAITS)
        raise ConfigError(f"unknown engine {wanted!r}: choose one of {choices}")
    if wanted not in installed:
        raise ConfigError(
            f"engine {wanted!r} ({TRAITS[wanted].module}) is not installed; "
            f"installed: {', '.join(installed) or 'none'}"
        )
    return BindingEngine(wanted, importlib.import_module(TRAITS[wanted].module))
