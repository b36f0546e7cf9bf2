"""Jsonnet engines behind one small interface.

Three engines share the ``_jsonnet`` Python API (C++ ``jsonnet``, ``gojsonnet``, ``rjsonnet``) but
differ in details: rjsonnet wants ``str`` from the import callback and routes the main file
through it, its ``jpathdir`` lets the left-most entry win, and the C++/Go ones read the main file
themselves. :class:`BindingEngine` hides that. Builds pass :class:`imports.Importer` as the
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

#: Fastest first: the default is the first one that imports.
ENGINE_MODULES: dict[str, str] = {"rs": "rjsonnet", "go": "_gojsonnet", "cpp": "_jsonnet"}
#: Relative evaluation cost measured on kube-prometheus (issue 3), for the "slow engine" warning.
SLOW_ENGINES = frozenset({"cpp"})


class JsonnetError(BuildError):
    """The engine rejected the program; ``raw`` is its full message (location, stack trace)."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw.strip().splitlines()[0] if raw.strip() else "jsonnet error")
        self.raw = raw


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
