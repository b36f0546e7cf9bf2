"""What a vendored package holds: jb's ``sum`` plus kpb's own inventory, from one walk.

Every lock written by jb carries these sums, so kpb must reproduce them bit for bit: SHA-256
over the bytes of every non-directory entry in Go ``filepath.Walk`` order, base64-encoded. No
names or modes are hashed, and any error ends the walk silently with the bytes hashed so far.

Because jb's sum ignores names and modes, moving bytes between files, renaming a file or adding
empty files all keep it. The same walk therefore also lists every entry (path, type, mode,
content hash), which kpb records when it vendors and compares on ``--verify`` and on the no-op
check (:mod:`kubeprom_build.vendoring.vendorrecord`).

The walk also notes each regular file's stat fingerprint (:data:`Fingerprint`). Given the
fingerprints and entries kpb recorded earlier (``known``), a file whose fingerprint is unchanged
is not read again: its recorded entry stands for it. That is sound because a change to a
file's bytes, name, mode or inode always moves its ``ctime``, which no user can set; a
fingerprint taken while its ``ctime`` was still within the clock's granularity of the moment
it was recorded ("racy", as git calls it) is never recorded. Such a scan does not compute jb's
sum (it did not read every byte); :mod:`kubeprom_build.vendoring.vendorrecord` accepts it only
when its entries equal the record's, which fixes the sum too.

Two deliberate differences keep hostile packages harmless, and never change the sum of a
package jb could hash: an entry that is neither a regular file nor a symlink to one ends the
sum (jb would block on a FIFO or read a device forever; kpb lists it, never opens it), and so
does a symlink whose target lies outside the package (jb would read any file on the machine).
Nothing is read through a link out of the package: directories are opened relative to their
parent's descriptor with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kubeprom_build import safefs

log = logging.getLogger("kpb")

EMPTY_SUM = base64.b64encode(hashlib.sha256(b"").digest()).decode("ascii")
_CHUNK = 1 << 20
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW

EntryKind = Literal["dir", "file", "link", "special"]

#: ``(size, mtime_ns, ctime_ns, inode, device, mode)`` of a regular file.
Fingerprint = tuple[int, int, int, int, int, int]
#: How long after a change a ctime may still be shared by another change. Linux stamps files
#: from a clock that advances once per tick (1-10 ms) and may lag the wall clock by one; 30 ms
#: covers both. A ctime of whole seconds means a coarse file system (FAT: 2 s).
RACY_NS = 30_000_000
COARSE_RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class Entry:
    """One entry of a package: what ``--verify`` compares beyond jb's sum.

    ``detail`` is the SHA-256 of a file's bytes, a link's target text, or the kind of a special
    file (``fifo``, ``socket``, ``device``); ``executable`` is a file's owner-execute bit.
    """

    path: str
    kind: EntryKind
    detail: str = ""
    executable: bool = False


@dataclass(frozen=True)
class PackageScan:
    """jb's sum of a package directory and the inventory of its entries, in Walk order."""

    sum: str
    entries: tuple[Entry, ...] = ()
    #: Fingerprints of the regular files, except those too recent to trust (see RACY_NS).
    stats: Mapping[str, Fingerprint] = field(default_factory=dict, compare=False)
    #: Files taken from ``known`` by their fingerprint, unread: ``sum`` is then not jb's sum.
    vouched: int = 0
    #: Files whose fingerprint was too recent to record, and when it stops being so (wall ns).
    racy: int = 0
    settled_at: int = 0

    @property
    def special(self) -> tuple[Entry, ...]:
        """FIFOs, sockets and devices: never part of a package kpb or jb writes."""
        return tuple(e for e in self.entries if e.kind == "special")


def dir_sum(path: Path, overlay: Mapping[str, Path] | None = None) -> str:
    """jb's sum of the package directory ``path`` (a missing directory hashes empty input)."""
    return scan(path, overlay).sum


def fingerprint(info: os.stat_result) -> Fingerprint:
    """The stat fields that change whenever a file's bytes, mode or identity do."""
    return (
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
        info.st_ino,
        info.st_dev,
        info.st_mode,
    )


def racy_until(info: os.stat_result) -> int:
    """Wall-clock ns from which a change to this file could no longer share its ctime."""
    coarse = info.st_ctime_ns % 1_000_000_000 == 0
    return info.st_ctime_ns + (COARSE_RACY_NS if coarse else RACY_NS)


def scan(
    path: Path,
    overlay: Mapping[str, Path] | None = None,
    known: Mapping[str, tuple[Fingerprint, Entry]] | None = None,
) -> PackageScan:
    """Walk ``path`` once: jb's sum and every entry, never following a link out of it.

    ``overlay`` maps relative paths inside ``path`` to directories that stand in for them: the
    result is that of the tree as it will be once those nested packages are published (jb
    hashes a package after an earlier download replaced a directory inside it).

    ``known`` maps a file's path to the fingerprint and entry recorded for it: a file whose
    fingerprint still matches is not read (``vouched``), and the result's ``sum`` is then
    empty. ``--verify`` never passes it.
    """
    walk = _Walk(known=known or {})
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        walk.file_at(None, os.fsencode(path), "")
    elif (info is not None and stat.S_ISDIR(info.st_mode)) or overlay:
        walk.tree(path if info is not None and stat.S_ISDIR(info.st_mode) else None, "", overlay)
    digest = "" if walk.vouched else walk.digest()
    return PackageScan(
        digest, tuple(walk.entries), walk.stats, walk.vouched, walk.racy, walk.settled_at
    )


class _closing:
    """Close a raw descriptor at the end of a ``with`` block."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *_exc: object) -> None:
        os.close(self.fd)


@dataclass
class _Walk:
    """State of one walk: the jb hasher (stops at the first error) and the entries seen."""

    real_root: str = "/"
    #: Where the tree at ``real_root`` starts in the package (grafts start below the root).
    root_prefix: str = ""
    entries: list[Entry] = field(default_factory=list)
    known: Mapping[str, tuple[Fingerprint, Entry]] = field(default_factory=dict)
    stats: dict[str, Fingerprint] = field(default_factory=dict)
    vouched: int = 0
    racy: int = 0
    settled_at: int = 0
    #: Before the first file is looked at: a fingerprint with a later ctime may be racy.
    started: int = field(default_factory=time.time_ns)
    _hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    _aborted: bool = False

    def digest(self) -> str:
        return base64.b64encode(self._hasher.digest()).decode("ascii")

    def _abort(self, why: str) -> None:
        if not self._aborted:
            log.debug("sum stopped early: %s", why)
        self._aborted = True

    def _feed(self, chunk: bytes) -> None:
        if not self._aborted:
            self._hasher.update(chunk)

    def tree(self, path: Path | None, prefix: str, overlay: Mapping[str, Path] | None) -> None:
        """Walk the tree at ``path`` (links are judged against it), grafts in their places."""
        if path is None:
            self.directory(None, prefix, _grafts(overlay, prefix))
            return
        fd = self._open(os.fspath(path), _DIR_FLAGS, None, str(path))
        if fd is None:
            return
        outer = self.real_root, self.root_prefix
        self.real_root, self.root_prefix = os.path.realpath(path), prefix
        with _closing(fd):
            self.directory(fd, prefix, _grafts(overlay, prefix))
        self.real_root, self.root_prefix = outer

    def directory(self, dir_fd: int | None, prefix: str, grafts: Mapping[str, Path]) -> None:
        """Pre-order, names sorted byte-wise per directory: Go's Walk order.

        ``dir_fd`` is None for a folder that exists only because a graft lies below it.
        """
        names = set(os.listdir(dir_fd)) if dir_fd is not None else set()
        names |= {rel[len(prefix) :].split("/")[0] for rel in grafts}
        for raw in sorted(names, key=os.fsencode):
            rel = f"{prefix}{raw}"
            if rel in grafts:
                self._graft(rel, grafts[rel])
                continue
            below = {k: v for k, v in grafts.items() if k.startswith(rel + "/")}
            if below:
                self.entries.append(Entry(rel, "dir"))
                real = dir_fd is not None and _is_real_dir(raw, dir_fd)
                self._below(dir_fd if real else None, raw, rel, below)
                continue
            assert dir_fd is not None
            try:
                info = os.lstat(raw, dir_fd=dir_fd)
            except OSError as exc:
                self._abort(f"{rel}: {exc}")
                continue
            if stat.S_ISDIR(info.st_mode):
                self.entries.append(Entry(rel, "dir"))
                self._below(dir_fd, raw, rel, {})
            elif stat.S_ISREG(info.st_mode):
                if not self._vouch(rel, info):
                    self.file_at(dir_fd, os.fsencode(raw), rel)
            elif stat.S_ISLNK(info.st_mode):
                self._link(dir_fd, raw, rel)
            else:
                self.entries.append(Entry(rel, "special", _special_kind(info.st_mode)))
                self._abort(f"{rel} is not a regular file")

    def _below(self, dir_fd: int | None, name: str, rel: str, grafts: Mapping[str, Path]) -> None:
        if dir_fd is None:
            self.directory(None, rel + "/", grafts)
            return
        fd = self._open(name, _DIR_FLAGS, dir_fd, rel)
        if fd is not None:
            with _closing(fd):
                self.directory(fd, rel + "/", grafts)

    def _open(self, name: str | bytes, flags: int, dir_fd: int | None, rel: str) -> int | None:
        """Open ``name`` below ``dir_fd``; an error ends jb's sum, not the walk."""
        try:
            return os.open(name, flags, dir_fd=dir_fd)
        except OSError as exc:
            self._abort(f"{rel}: {exc}")
            return None

    def _graft(self, rel: str, tree: Path) -> None:
        """A grafted package is a directory; anything else (a local link) fails jb's walk too."""
        self.entries.append(Entry(rel, "dir"))
        if not _is_real_dir(os.fspath(tree), None):
            self._abort(f"{tree} is not a directory")
            return
        self.tree(tree, rel + "/", None)

    def _vouch(self, rel: str, info: os.stat_result) -> bool:
        """Take the recorded entry of an unread file whose fingerprint is unchanged."""
        recorded = self.known.get(rel)
        if recorded is None or recorded[0] != fingerprint(info):
            return False
        self.entries.append(recorded[1])
        self.stats[rel] = recorded[0]
        self.vouched += 1
        return True

    def _note(self, rel: str, info: os.stat_result) -> None:
        """Keep the fingerprint of a file just read, unless a later change could share it."""
        until = racy_until(info)
        if until <= self.started:
            self.stats[rel] = fingerprint(info)
        else:
            self.racy += 1
            self.settled_at = max(self.settled_at, until)

    def file_at(self, dir_fd: int | None, name: bytes, rel: str) -> None:
        """Hash a regular file for both the sum and the inventory; it is read once."""
        fd = self._open(name, _FILE_FLAGS, dir_fd, rel)
        if fd is None:
            return
        with _closing(fd):
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):  # replaced since lstat
                self._abort(f"{rel} is not a regular file")
                return
            own = hashlib.sha256()
            while chunk := os.read(fd, _CHUNK):
                own.update(chunk)
                self._feed(chunk)
        executable = bool(info.st_mode & stat.S_IXUSR)
        self.entries.append(Entry(rel, "file", own.hexdigest(), executable))
        self._note(rel, info)

    def _link(self, dir_fd: int, name: str, rel: str) -> None:
        """jb opens the link: a link to a file hashes its target; anything else fails.

        The link is resolved by :mod:`safefs` against the package itself, never by the kernel:
        one that climbs out of the package (even to come back in) ends the sum.
        """
        target = os.readlink(name, dir_fd=dir_fd)
        self.entries.append(Entry(rel, "link", target))
        if self._aborted:
            return
        inside = rel[len(self.root_prefix) :]
        try:
            fd = safefs.open_beneath(self.real_root, inside, _FILE_FLAGS, follow_links=True)
        except OSError as exc:  # EXDEV: the link leads outside the package
            self._abort(f"{rel}: {exc}")
            return
        with _closing(fd):
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                self._abort(f"{rel} does not point at a regular file")
                return
            while chunk := os.read(fd, _CHUNK):
                self._feed(chunk)


def _grafts(overlay: Mapping[str, Path] | None, prefix: str) -> dict[str, Path]:
    return {prefix + rel: tree for rel, tree in (overlay or {}).items()}


def _is_real_dir(name: str, dir_fd: int | None) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"
