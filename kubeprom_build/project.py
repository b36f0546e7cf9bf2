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

from kubeprom_build import jsonnetfile

ENVIRONMENTS = "environments"
#: Entries that make a directory a kpb project.
MARKERS = (jsonnetfile.FILE, ENVIRONMENTS)


def is_project(directory: Path) -> bool:
    """True when ``directory`` holds a marker (a link counts; later checks refuse bad ones)."""
    return any(os.path.lexists(directory / marker) for marker in MARKERS)


def find_project(start: Path) -> Path | None:
    """The nearest directory from ``start`` upward that :func:`is_project`, else None."""
    start = start.absolute()
    for candidate in (start, *start.parents):
        if is_project(candidate):
            return candidate
        if os.path.lexists(candidate / ".git"):
            return None
    return None


def not_found_message(start: Path) -> str:
    """The one line a command that needs a project prints outside of any."""
    return (
        f"not inside a kpb project: neither {start} nor a parent directory holds "
        f"{jsonnetfile.FILE} or {ENVIRONMENTS}/; run 'kpb init' to create one here, "
        "or pass -C DIR"
    )
