"""The ``sum`` of a vendored package, computed exactly as jb's hashDir (jb-compat §3).

Every lock written by jb carries these sums, so kpb must reproduce them bit for bit: SHA-256
over the bytes of every non-directory entry in Go ``filepath.Walk`` order, base64-encoded. No
names or modes are hashed, and any error ends the walk silently with the bytes hashed so far.

Two deliberate differences keep hostile packages harmless, and never change the sum of a
package jb could hash: an entry that is neither a regular file nor a symlink to one ends the
walk (jb would block on a FIFO or read a device forever), and so does a symlink whose target
lies outside the package (jb would read any file on the machine).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
from pathlib import Path

from kubeprom_build import safefs

log = logging.getLogger("kpb")

EMPTY_SUM = base64.b64encode(hashlib.sha256(b"").digest()).decode("ascii")
_CHUNK = 1 << 20


class _WalkAborted(Exception):
    """jb's walk callback returned an error: stop hashing, keep what was hashed."""


def dir_sum(path: Path) -> str:
    """jb's sum of the package directory ``path`` (a missing directory hashes empty input).

    The package is read through :mod:`safefs`: opened once, entered with ``O_NOFOLLOW``, links
    resolved against the package itself, so nothing outside it is ever opened.
    """
    hasher = hashlib.sha256()
    try:
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode):
            root = safefs.open_dir(path)
            try:
                _walk(root, hasher)
            finally:
                os.close(root)
        elif stat.S_ISREG(info.st_mode):
            _hash_fd(os.open(path, safefs.READ_FLAGS), hasher)
    except (OSError, _WalkAborted) as exc:
        log.debug("sum of %s stopped early: %s", path, exc)
    return base64.b64encode(hasher.digest()).decode("ascii")


def _walk(root: int, hasher: hashlib._Hash) -> None:
    """Pre-order, names sorted byte-wise per directory: Go's Walk order, not full-path order.

    jb opens every non-directory entry, so a link to a file hashes its target and a link to a
    directory fails; here a link is resolved inside the package only (else the walk ends).
    """
    for entry in safefs.walk(root):
        mode = entry.info.st_mode
        if stat.S_ISDIR(mode):
            continue
        if stat.S_ISREG(mode):
            _hash_fd(os.open(entry.name, safefs.READ_FLAGS, dir_fd=entry.dir_fd), hasher)
        elif stat.S_ISLNK(mode):
            _hash_fd(safefs.open_beneath(root, entry.rel, follow_links=True), hasher)
        else:
            raise _WalkAborted(f"{entry.rel!r} is a {safefs.kind(mode)}")


def _hash_fd(fd: int, hasher: hashlib._Hash) -> None:
    """Hash the regular file open as ``fd`` (then closed); anything else ends the walk."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _WalkAborted("not a regular file")
        while chunk := os.read(fd, _CHUNK):
            hasher.update(chunk)
    finally:
        os.close(fd)
