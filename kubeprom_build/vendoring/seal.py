"""Where the user-level cache lives, and the secret kept there that seals vendor records.

Apart from :mod:`kubeprom_build.vendoring.cache` (which imports git and its helpers), so the
no-op check finds the seal without loading anything it does not use.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubeprom_build import safefs


def cache_root() -> Path:
    """``$KPB_CACHE``, else ``$XDG_CACHE_HOME/kpb``, else ``~/.cache/kpb``."""
    explicit = os.environ.get("KPB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kpb"


_SEAL = "record-seal"
_SEAL_BYTES = 32


def record_seal(root: Path, *, create: bool) -> bytes | None:
    """The secret that seals kpb's vendor records, kept in the user's cache, never in a project.

    A record in ``.kpb/`` says what a vendored package held; one committed by someone else
    must not be trusted, and without this key nobody else can write one that verifies.
    """
    path = root / _SEAL
    for _ in range(2):
        try:
            data = safefs.read_fd(os.open(path, safefs.READ_FLAGS), limit=_SEAL_BYTES)
            return data if len(data) == _SEAL_BYTES else None
        except FileNotFoundError:
            if not create:
                return None
        root.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue  # another kpb made it first
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(_SEAL_BYTES))
    return None
