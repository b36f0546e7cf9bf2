"""The vendor/ directory itself: where packages live, jb's clean-up, and ``verify``.

Everything here works on the tree alone (no git, no network), so the operations above can
call it under their project lock and the clean-up stays byte-for-byte jb's §5: prune unknown
directories, drop stray symlinks, (re)create legacy import links.
"""

from __future__ import annotations

import functools
import logging
import os
import posixpath
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kubeprom_build import checksum, fsutil, safefs
from kubeprom_build.errors import ConfigError, KpbError
from kubeprom_build.jsonnetfile import Dependency, JsonnetFile, LocalSource

log = logging.getLogger("kpb")

STAGING_PREFIX = ".kpb-tmp-"


def join(base: Path, name: str) -> Path:
    """``base/name`` for a package; the entry itself may be a symlink (local packages are)."""
    return fsutil.confined_join(base, name, f"dependency {name}", may_be_link=True)


@dataclass(frozen=True)
class Layout:
    """A project and its vendor/ folder: the paths packages and local links must use."""

    project: Path
    vendor_dir: Path

    def package(self, dep: Dependency) -> Path:
        return join(self.vendor_dir, dep.name)

    @functools.cached_property
    def boundary(self) -> Path:
        """Local packages must live in the git work tree holding the project (else the project).

        Found once per run: it walks up the directory tree looking for ``.git``.
        """
        return fsutil.enclosing_repo_root(self.project)

    def local_dir(self, source: LocalSource) -> Path:
        directory = source.path_under(self.project)
        if not fsutil.is_within(directory, self.boundary):
            raise ConfigError(
                f"local dependency {source.directory!r} resolves outside the repository "
                f"{self.boundary}"
            )
        if not directory.is_dir():
            raise ConfigError(f"local dependency {source.directory!r} is not a directory")
        return directory

    def local_link(self, source: LocalSource) -> str:
        """jb's link target: the directory relative to vendor/ (``../jsonnet/kube-prometheus``)."""
        absolute = os.path.normpath(source.path_under(self.project))
        return os.path.relpath(absolute, self.vendor_dir)

    def has_local_link(self, dep: Dependency) -> bool:
        assert isinstance(dep.source, LocalSource)
        target = self.package(dep)
        return target.is_symlink() and os.readlink(target) == self.local_link(dep.source)


def remove_stale_staging(vendor_dir: Path) -> None:
    """Staging dirs of a killed run: safe to delete, the caller holds the project lock."""
    if vendor_dir.is_dir():
        for entry in vendor_dir.iterdir():
            if entry.name.startswith(STAGING_PREFIX):
                fsutil.remove_tree(entry)


# --------------------------------------------------------------------------- clean-up


def clean(
    vendor_dir: Path,
    lock: Sequence[Dependency],
    *,
    legacy_imports: bool,
    on_removed: Callable[[str], None],
) -> tuple[str, ...]:
    """jb §5 clean-up: prune unknown dirs, drop stray symlinks, (re)create legacy links."""
    if not vendor_dir.is_dir():
        return ()
    links = _legacy_links(lock) if legacy_imports else {}
    keep_links = {d.name: "" for d in lock if d.is_local} | links
    names = {d.name for d in lock}
    removed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(vendor_dir):
        base = Path(dirpath)
        prefix = base.relative_to(vendor_dir).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        for entry in sorted(dirnames + filenames):
            if _prune_entry(base / entry, prefix + entry, names, keep_links):
                removed.append(prefix + entry)
                on_removed(prefix + entry)
        dirnames[:] = [d for d in dirnames if _descend(base / d, prefix + d, names)]
    _make_links(vendor_dir, links)
    return tuple(removed)


def _prune_entry(path: Path, rel: str, names: set[str], keep_links: dict[str, str]) -> bool:
    """Delete a stray symlink or an unknown directory; True when a directory was pruned.

    Symlinks kept: local packages (any target) and legacy links with the right target.
    """
    if path.is_symlink():
        if rel not in keep_links or keep_links[rel] not in ("", os.readlink(path)):
            path.unlink()
        return False
    if path.is_dir() and not _known_dir(rel, names):
        fsutil.remove_tree(path)
        return not path.name.startswith(STAGING_PREFIX)
    return False


def _known_dir(rel: str, names: set[str]) -> bool:
    """jb's plain string-prefix test, in both directions (so ``foo-old`` survives ``foo``)."""
    return any(name.startswith(rel) or rel.startswith(name) for name in names)


def _descend(path: Path, rel: str, names: set[str]) -> bool:
    """Walk into parents of packages only: a package's own content is never touched."""
    if path.is_symlink() or not path.is_dir() or rel in names:
        return False
    return any(name.startswith(rel + "/") for name in names)


def _legacy_links(lock: Sequence[Dependency]) -> dict[str, str]:
    """``legacy name → link target`` in resolution order; the first package wins a name."""
    links: dict[str, str] = {}
    for dep in lock:
        if dep.is_local or dep.legacy_name in links:
            if not dep.is_local:
                log.warning("legacy name %s is taken; not linking %s", dep.legacy_name, dep.name)
            continue
        link_parent = posixpath.dirname(dep.legacy_name) or "."
        links[dep.legacy_name] = posixpath.relpath(dep.name, link_parent)
    return links


def _make_links(vendor_dir: Path, links: dict[str, str]) -> None:
    for legacy, target in links.items():
        link = fsutil.confined_join(vendor_dir, legacy, f"legacy name {legacy}")
        if link.is_symlink():
            continue
        if link.exists():
            log.warning("cannot link vendor/%s -> %s: the path exists", legacy, target)
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)


# --------------------------------------------------------------------------- verify

Original = Callable[[Dependency, Path], None]
"""Writes the pristine package into an empty directory, or raises KpbError (e.g. offline)."""


@dataclass(frozen=True)
class Problem:
    """One way vendor/ differs from the lock."""

    name: str
    kind: Literal["missing", "modified", "not locked"]
    detail: str = ""

    def message(self) -> str:
        return f"{self.name}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def verify(
    layout: Layout, jf: JsonnetFile, lock: JsonnetFile, original: Original
) -> tuple[Problem, ...]:
    """Recompute every sum and report what differs from the lock; changes nothing."""
    problems: list[Problem] = []
    for dep in jf.dependencies:
        if lock.get(dep.name) is None:
            problems.append(Problem(dep.name, "not locked", "run 'kpb vendor'"))
    for dep in lock.dependencies:
        problem = _verify_one(layout, dep, original)
        if problem is not None:
            problems.append(problem)
    return tuple(problems)


def _verify_one(layout: Layout, dep: Dependency, original: Original) -> Problem | None:
    if dep.is_local:
        ok = layout.has_local_link(dep)
        return None if ok else Problem(dep.name, "missing", "local link absent or wrong")
    target = layout.package(dep)
    if target.is_symlink() or not target.is_dir():
        return Problem(dep.name, "missing")
    actual = checksum.dir_sum(target)
    if actual == dep.sum:
        return None
    return Problem(dep.name, "modified", _file_diff(dep, target, original) or f"sum {actual}")


def _file_diff(dep: Dependency, target: Path, original: Original) -> str:
    """Which files differ, from the pristine package when it can be had (else empty)."""
    with tempfile.TemporaryDirectory(prefix="kpb-verify-") as tmp:
        try:
            original(dep, Path(tmp))
        except KpbError:
            return ""
        before, current = _files(Path(tmp)), _files(target)
    added = sorted(set(current) - set(before))
    removed = sorted(set(before) - set(current))
    changed = sorted(f for f in set(before) & set(current) if before[f] != current[f])
    parts = [
        f"{label}: {', '.join(files[:5])}"
        for label, files in (("added", added), ("removed", removed), ("changed", changed))
        if files
    ]
    return "; ".join(parts)


def _files(root: Path) -> dict[str, bytes]:
    """What each entry holds, for the diff: a file's bytes, a link's text (never read through),
    and for a FIFO, socket or device only its kind: it is reported, never opened."""
    found: dict[str, bytes] = {}
    try:
        fd = safefs.open_dir(root)
    except OSError:
        return found
    try:
        for entry in safefs.walk(fd):
            mode, key = entry.info.st_mode, os.fsdecode(entry.rel)
            if stat.S_ISLNK(mode):
                found[key] = b"-> " + os.readlink(entry.name, dir_fd=entry.dir_fd)
            elif stat.S_ISREG(mode):
                opened = os.open(entry.name, safefs.READ_FLAGS, dir_fd=entry.dir_fd)
                found[key] = safefs.read_fd(opened)
            elif not stat.S_ISDIR(mode):
                found[key] = f"<{safefs.kind(mode)}>".encode()
    except OSError as exc:  # a diff is a hint: show what could be read
        log.debug("listing %s stopped: %s", root, exc)
    finally:
        os.close(fd)
    return found
