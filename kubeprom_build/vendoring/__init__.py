"""Vendoring: make vendor/ exactly what jsonnetfile.lock.json pins, as jsonnet-bundler does.

One half of kpb; it never imports :mod:`kubeprom_build.rendering`. The commands below are its
public API (the CLI's ``vendor``, ``install``, ``update`` and ``vendor --verify``); the modules
beneath them are layered from remote naming (``uri``) up to the transaction (``commands``).
"""

from __future__ import annotations

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
    "update",
    "vendor",
    "verify",
]
