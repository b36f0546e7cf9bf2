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
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("kpb")

EMPTY_SUM = base64.b64encode(hashlib.sha256(b"").digest()).decode("ascii")
_CHUNK = 1 << 20


class _WalkAborted(Exception):
    """jb's walk callback returned an error: stop hashing, keep what was hashed."""


def dir_sum(path: Path, overlay: Mapping[str, Path] | None = None) -> str:
    """jb's sum of the package directory ``path`` (a missing directory hashes empty input).

    ``overlay`` maps relative paths inside ``path`` to directories that stand in for them: the
    sum is that of the tree as it will be once those nested packages are published (jb hashes a
    package after an earlier download replaced a directory inside it).
    """
    hasher = hashlib.sha256()
    root = os.fsencode(path)
    grafts = {os.fsencode(rel): os.fsencode(tree) for rel, tree in (overlay or {}).items()}
    try:
        info = os.lstat(root)
        if stat.S_ISDIR(info.st_mode):
            _walk_dir(root, hasher, os.path.realpath(root), grafts, b"")
        elif stat.S_ISREG(info.st_mode):
            _hash_file(root, hasher)
    except (OSError, _WalkAborted) as exc:
        log.debug("sum of %s stopped early: %s", path, exc)
    return base64.b64encode(hasher.digest()).decode("ascii")


def _walk_dir(
    directory: bytes | None,
    hasher: hashlib._Hash,
    real_root: bytes,
    grafts: Mapping[bytes, bytes],
    rel: bytes,
) -> None:
    """Pre-order, names sorted byte-wise per directory: Go's Walk order, not full-path order.

    ``directory`` is None for a folder that exists only because a graft lies below it.
    """
    names = set(os.listdir(directory)) if directory is not None else set()
    names |= {key[len(rel) :].split(b"/")[0] for key in grafts if key.startswith(rel)}
    for name in sorted(names):
        sub = rel + name
        if sub in grafts:
            _walk_graft(grafts[sub], hasher)
            continue
        entry = os.path.join(directory, name) if directory is not None else None
        below = {key: tree for key, tree in grafts.items() if key.startswith(sub + b"/")}
        if below:
            real = entry is not None and os.path.isdir(entry) and not os.path.islink(entry)
            _walk_dir(entry if real else None, hasher, real_root, below, sub + b"/")
            continue
        assert entry is not None
        info = os.lstat(entry)
        if stat.S_ISDIR(info.st_mode):
            _walk_dir(entry, hasher, real_root, {}, b"")
        elif stat.S_ISREG(info.st_mode):
            _hash_file(entry, hasher)
        elif stat.S_ISLNK(info.st_mode):
            _hash_link(entry, hasher, real_root)
        else:
            raise _WalkAborted(f"{entry!r} is not a regular file")


def _walk_graft(tree: bytes, hasher: hashlib._Hash) -> None:
    """A grafted package is a directory; anything else (a local link) fails jb's walk too."""
    if not stat.S_ISDIR(os.lstat(tree).st_mode):
        raise _WalkAborted(f"{tree!r} is not a directory")
    _walk_dir(tree, hasher, os.path.realpath(tree), {}, b"")


def _hash_link(link: bytes, hasher: hashlib._Hash, real_root: bytes) -> None:
    """jb opens the link, so a link to a file hashes its target; a link to a directory fails."""
    target = os.path.realpath(link)
    if os.path.commonpath([target, real_root]) != real_root:
        raise _WalkAborted(f"{link!r} points outside the package")
    _hash_file(target, hasher)


def _hash_file(path: bytes, hasher: hashlib._Hash) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _WalkAborted(f"{path!r} is not a regular file")
        while chunk := os.read(fd, _CHUNK):
            hasher.update(chunk)
    finally:
        os.close(fd)
