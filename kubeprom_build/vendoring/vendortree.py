"""The vendor/ directory itself: where packages live, jb's clean-up, and ``verify``.

Everything here works on the tree alone (no git, no network), so the operations above can
call it under their project lock and the clean-up stays byte-for-byte jb's: prune unknown
directories, drop stray symlinks, (re)create legacy import links.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import posixpath
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kubeprom_build import fsutil
from kubeprom_build.errors import ConfigError, KpbError
from kubeprom_build.vendoring import checksum, vendorrecord
from kubeprom_build.vendoring.checksum import Entry, Fingerprint, PackageScan
from kubeprom_build.vendoring.jsonnetfile import Dependency, JsonnetFile, LocalSource
from kubeprom_build.vendoring.vendorrecord import Record, differences

log = logging.getLogger("kpb")


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


def scan_package(
    target: Path,
    inside: Mapping[str, Path] | None = None,
    known: Mapping[str, tuple[Fingerprint, Entry]] | None = None,
) -> PackageScan | None:
    """The package directory ``target`` scanned (sum and inventory); None when it is absent,
    not a directory or a symlink (a git package is never a link). ``known``: see
    :func:`checksum.scan`."""
    if target.is_symlink() or not target.is_dir():
        return None
    return checksum.scan(target, inside, known)


def intact(layout: Layout, dep: Dependency, record: Record | None) -> bool:
    """The no-op check of ``kpb vendor`` for one locked package, on vendor/ as it is now.

    A local package needs its link with jb's target; a git package a real directory whose
    scan :func:`vendorrecord.intact` accepts for the locked sum (and kpb's record of it).
    Files whose fingerprint kpb recorded for this lock entry are read only if it changed.
    """
    return accepted(layout, dep, record) is not None


def accepted(layout: Layout, dep: Dependency, record: Record | None) -> PackageScan | None:
    """The scan :func:`intact` accepted for a git package (None: not intact)."""
    if isinstance(dep.source, LocalSource):
        return PackageScan("") if layout.has_local_link(dep) else None
    known = vendorrecord.known(record, dep.sum)
    found = scan_package(layout.package(dep), known=known)
    return None if found is None else vendorrecord.accept(found, dep.sum, record)


def remove_stale_staging(vendor_dir: Path) -> None:
    """Staging dirs of a killed run: safe to delete, the caller holds the project lock."""
    if vendor_dir.is_dir():
        for entry in vendor_dir.iterdir():
            if entry.name.startswith(fsutil.STAGING_PREFIX):
                fsutil.remove_tree(entry)


# --------------------------------------------------------------------------- clean-up


def clean(
    vendor_dir: Path,
    lock: Sequence[Dependency],
    *,
    legacy_imports: bool,
    on_removed: Callable[[str], None],
) -> tuple[str, ...]:
    """jb's clean-up after resolving: prune unknown dirs, drop stray symlinks, (re)create legacy
    links."""
    if not vendor_dir.is_dir():
        return ()
    links = legacy_links(lock) if legacy_imports else {}
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
        dirnames[:] = [d for d in dirnames if descend(base / d, prefix + d, names)]
    _make_links(vendor_dir, links, names)
    return tuple(removed)


def _prune_entry(path: Path, rel: str, names: set[str], keep_links: dict[str, str]) -> bool:
    """Delete a stray symlink or an unknown directory; True when a directory was pruned.

    Symlinks kept: local packages (any target) and legacy links with the right target.
    """
    if path.is_symlink():
        if rel not in keep_links or keep_links[rel] not in ("", os.readlink(path)):
            path.unlink()
        return False
    if path.is_dir() and not known_dir(rel, names):
        fsutil.remove_tree(path)
        return not path.name.startswith(fsutil.STAGING_PREFIX)
    return False


def known_dir(rel: str, names: set[str]) -> bool:
    """jb's plain string-prefix test, in both directions (so ``foo-old`` survives ``foo``)."""
    return any(name.startswith(rel) or rel.startswith(name) for name in names)


def descend(path: Path, rel: str, names: set[str]) -> bool:
    """Walk into parents of packages only: a package's own content is never touched."""
    if path.is_symlink() or not path.is_dir() or rel in names:
        return False
    return any(name.startswith(rel + "/") for name in names)


def legacy_links(lock: Sequence[Dependency]) -> dict[str, str]:
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


def _make_links(vendor_dir: Path, links: dict[str, str], packages: set[str]) -> None:
    """Create ``vendor/<legacy name>`` links; never inside a package, never through a link.

    A dependency's own legacy name is one path component (:class:`jsonnetfile.Trust`); only
    the project's jsonnetfile may use ``a/b``. Even then the link is not made (a warning
    says why) when ``a`` is a package, or when any parent is a symlink or not a directory:
    the parents are opened one by one with ``O_NOFOLLOW`` below vendor/, so a link can land
    only in a real directory under vendor/. The packages are already published when links
    are made, so refusing here warns instead of failing the run.
    """
    for legacy, target in links.items():
        holder = next((p for p in sorted(packages) if legacy.startswith(p + "/")), None)
        if holder is not None:
            log.warning("not linking vendor/%s: it would be inside package %s", legacy, holder)
            continue
        try:
            made = _link_below(vendor_dir, legacy, target)
        except OSError as err:
            if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            log.warning("not linking vendor/%s: a parent is a symlink or not a directory", legacy)
            continue
        if not made:
            log.warning("cannot link vendor/%s -> %s: the path exists", legacy, target)


def _link_below(vendor_dir: Path, legacy: str, target: str) -> bool:
    """Make the link through directory fds opened with O_NOFOLLOW; False if the path exists."""
    *parents, leaf = fsutil.check_relative(legacy, f"legacy name {legacy}").parts
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(vendor_dir, flags)
    try:
        for part in parents:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
        try:
            found = os.lstat(leaf, dir_fd=fd)
        except FileNotFoundError:
            os.symlink(target, leaf, dir_fd=fd)
            return True
        return stat.S_ISLNK(found.st_mode)  # an existing link: pruning checked its target
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- verify

Original = Callable[[Dependency, Path], None]
"""Writes the pristine package into an empty directory, or raises KpbError (e.g. offline)."""


@dataclass(frozen=True)
class Problem:
    """One way vendor/ differs from the lock."""

    name: str
    kind: Literal["missing", "modified", "not locked", "unrecorded"]
    detail: str = ""

    def message(self) -> str:
        return f"{self.name}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def verify(
    layout: Layout,
    jf: JsonnetFile,
    lock: JsonnetFile,
    records: Mapping[str, Record],
    original: Original,
) -> tuple[Problem, ...]:
    """Hash every package and compare it with the lock's sum and kpb's record; changes nothing.

    A package kpb has no record of (vendored by jb or an older kpb) is compared with its
    pristine copy from the cache instead.
    """
    problems: list[Problem] = []
    for dep in jf.dependencies:
        if lock.get(dep.name) is None:
            problems.append(Problem(dep.name, "not locked", "run 'kpb vendor'"))
    for dep in lock.dependencies:
        problem = _verify_one(layout, dep, records.get(dep.name), original)
        if problem is not None:
            problems.append(problem)
    return tuple(problems)


def _verify_one(
    layout: Layout, dep: Dependency, record: Record | None, original: Original
) -> Problem | None:
    if dep.is_local:
        ok = layout.has_local_link(dep)
        return None if ok else Problem(dep.name, "missing", "local link absent or wrong")
    target = layout.package(dep)
    if target.is_symlink() or not target.is_dir():
        return Problem(dep.name, "missing")
    found = checksum.scan(target)
    if record is not None and record.locked == dep.sum:
        expected_sum, reference = record.sum, record.entries
    else:
        expected_sum, pristine = dep.sum, _pristine(dep, original)
        if pristine is None:
            if found.sum != dep.sum:
                return Problem(dep.name, "modified", f"sum {found.sum}")
            return Problem(
                dep.name,
                "unrecorded",
                "jb's sum matches, but kpb has no record of this package and no pristine copy "
                "in its cache to compare names and modes with; run 'kpb vendor' to record it",
            )
        reference = pristine
    changes = differences(reference, found.entries)
    if found.sum == expected_sum and not changes:
        return None
    return Problem(dep.name, "modified", changes or f"sum {found.sum}")


def _pristine(dep: Dependency, original: Original) -> tuple[Entry, ...] | None:
    """The inventory of the package as its commit holds it, when the cache can supply it."""
    with tempfile.TemporaryDirectory(prefix="kpb-verify-") as tmp:
        try:
            original(dep, Path(tmp))
        except KpbError:
            return None
        return checksum.scan(Path(tmp)).entries
