"""Vendoring: make vendor/ exactly what jsonnetfile.lock.json pins, as jsonnet-bundler does.

One half of kpb; it never imports :mod:`kubeprom_build.rendering`. The commands below are its
public API (the CLI's ``vendor``, ``install``, ``update`` and ``vendor --verify``); the modules
beneath them are layered from remote naming (``uri``) up to the transaction (``commands``).

A name is imported from its module when first used (PEP 562): a no-op ``kpb vendor`` or
``kpb build`` needs :mod:`~kubeprom_build.vendoring.noop` only, not git and its threads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubeprom_build.vendoring.commands import (
        Event,
        EventKind,
        Options,
        Outcome,
        Problem,
        Progress,
        declared_names,
        empty_jsonnetfile,
        install,
        package_names,
        ready,
        update,
        vendor,
        verify,
    )
    from kubeprom_build.vendoring.jsonnetfile import FILE as JSONNETFILE
    from kubeprom_build.vendoring.jsonnetfile import LOCK_FILE
    from kubeprom_build.vendoring.noop import stale_packages, unchanged_packages

__all__ = [
    "JSONNETFILE",
    "LOCK_FILE",
    "Event",
    "EventKind",
    "Options",
    "Outcome",
    "Problem",
    "Progress",
    "declared_names",
    "empty_jsonnetfile",
    "install",
    "package_names",
    "ready",
    "stale_packages",
    "unchanged_packages",
    "update",
    "vendor",
    "verify",
]

#: Public name -> (module, name there); everything else in ``__all__`` lives in commands.
_ELSEWHERE = {
    "JSONNETFILE": ("jsonnetfile", "FILE"),
    "LOCK_FILE": ("jsonnetfile", "LOCK_FILE"),
    "stale_packages": ("noop", "stale_packages"),
    "unchanged_packages": ("noop", "unchanged_packages"),
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _ELSEWHERE.get(name, ("commands", name))
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value
