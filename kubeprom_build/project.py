"""Find the project a command works on, the way git finds its repository.

Without ``-C`` the project is the nearest directory, from the current one upward, that holds
``jsonnetfile.json`` or ``environments/``. So ``kpb build dev`` works from ``environments/`` or
``jsonnet/lib/`` as it does from the top, and a subdirectory is never mistaken for a new,
empty project. The walk stops at the enclosing git work tree's root (a directory holding
``.git``): a repository never picks up a project outside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubeprom_build import vendoring

ENVIRONMENTS = "environments"
#: Entries that make a directory a kpb project.
MARKERS = (vendoring.JSONNETFILE, ENVIRONMENTS)


def is_project(directory: Path) -> bool:
    """True when ``directory`` holds a marker (a link counts; later checks refuse bad ones)."""
    return any(os.path.lexists(directory / marker) for marker in MARKERS)


def find_project(start: Path, vendor_name: str = "vendor") -> Path | None:
    """The nearest directory from ``start`` upward that :func:`is_project`, else None.

    A vendored package carries its own jsonnetfile.json, so inside ``<project>/vendor/...`` the
    nearest marker is the package's: the project is then the one that owns that vendor dir
    (otherwise ``kpb vendor`` run there would vendor into vendor/).
    """
    chain: list[Path] = []
    for candidate in (start.absolute(), *start.absolute().parents):
        chain.append(candidate)
        if os.path.lexists(candidate / ".git"):
            break
    found = next((c for c in chain if is_project(c)), None)
    if found is None:
        return None
    for outer in chain[chain.index(found) + 1 :]:
        if is_project(outer) and found.is_relative_to(outer / vendor_name):
            return outer
    return found


def not_found_message(start: Path) -> str:
    """The one line a command that needs a project prints outside of any."""
    return (
        f"not inside a kpb project: neither {start} nor a parent directory holds "
        f"{vendoring.JSONNETFILE} or {ENVIRONMENTS}/; run 'kpb init' to create one here, "
        "or pass -C DIR"
    )
