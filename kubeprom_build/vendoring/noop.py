"""The answers that change nothing: is vendor/ ready to build, and would ``kpb vendor`` do
anything?

These are what people and CI ask most often, so they load only what they use (no git, no
threads, no cache objects) and, thanks to the recorded stat fingerprints, read no package
file that did not change. :func:`unchanged_packages` proves a no-op the way the real run
would see it: the real :func:`~kubeprom_build.vendoring.resolve.resolve` over vendor/ as it
is, jb's clean-up in a read-only form, and the same "would this file be rewritten" test for
the lock and jsonnetfile.json. Anything it cannot prove (a package to fetch, a warning to
show, a record to refresh, another kpb holding the project) is answered with None, and the
caller runs the real command.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from kubeprom_build import fsutil
from kubeprom_build.errors import ConfigError, KpbError
from kubeprom_build.vendoring import jsonnetfile, vendorrecord, vendortree
from kubeprom_build.vendoring.checksum import PackageScan
from kubeprom_build.vendoring.jsonnetfile import Dependency, JsonnetFile, LocalSource
from kubeprom_build.vendoring.packagefile import manifest_of
from kubeprom_build.vendoring.resolve import Fetched, resolve
from kubeprom_build.vendoring.seal import cache_root, record_seal
from kubeprom_build.vendoring.vendorrecord import Record
from kubeprom_build.vendoring.vendortree import Layout


def _load(project: Path) -> tuple[JsonnetFile, JsonnetFile]:
    jf = jsonnetfile.load(project / jsonnetfile.FILE, missing_ok=False)
    lock = jsonnetfile.load(project / jsonnetfile.LOCK_FILE, missing_ok=True)
    return jf, lock


def stale_packages(project: Path, vendor_dir: Path, cache: Path | None = None) -> tuple[str, ...]:
    """Names of the packages vendor/ lacks or holds stale; empty when a build may start.

    The no-op check of ``kpb vendor`` (:func:`vendortree.intact`, with kpb's records), read
    only: no git, no network, no lock taken, nothing written. Dependencies of
    jsonnetfile.json that the lock lacks count too. A project without jsonnetfile.json has
    nothing to vendor and is ready.
    """
    if not (project / jsonnetfile.FILE).is_file():
        return ()
    fsutil.check_vendor_dir(project, vendor_dir)
    jf, lock = _load(project)
    key = vendorrecord.inputs_key(vendor_dir, jf, lock)
    seal = record_seal(cache or cache_root(), create=False)  # this check writes nothing
    records = vendorrecord.load(project, vendor_dir, key, seal)
    layout = Layout(project, vendor_dir)
    names = [dep.name for dep in jf.dependencies if lock.get(dep.name) is None]
    names += [
        dep.name
        for dep in lock.dependencies
        if not vendortree.intact(layout, dep, records.get(dep.name))
    ]
    return tuple(dict.fromkeys(names))


class _WouldChange(Exception):
    """The real run would fetch, link, prune, warn or write something."""


def unchanged_packages(
    project: Path, vendor_dir: Path, cache: Path | None = None
) -> tuple[str, ...] | None:
    """The packages of a ``kpb vendor`` that would change nothing (in resolution order), or
    None when the run would do anything at all, or fail: then the caller runs it.

    Read only; it holds the project's vendor lock while it looks (when another kpb holds it,
    the answer is None), but creates no file: a project without ``.kpb/`` is not a no-op.
    """
    try:
        return _unchanged(project, vendor_dir, cache or cache_root())
    except (_WouldChange, KpbError, OSError):
        return None


def _unchanged(project: Path, vendor_dir: Path, cache: Path) -> tuple[str, ...]:
    if not (project / jsonnetfile.FILE).is_file():
        raise _WouldChange
    fsutil.check_vendor_dir(project, vendor_dir)
    jf, lock = _load(project)
    local = [d.source for d in jf.dependencies if isinstance(d.source, LocalSource)]
    if any(fsutil.is_within(s.path_under(project), vendor_dir) for s in local):
        raise _WouldChange  # the run refuses these (commands._check_local_sources)
    with _project_lock(project), _warnings_refused():
        key = vendorrecord.inputs_key(vendor_dir, jf, lock)
        seal = record_seal(cache, create=False)
        if seal is None or not _is_real_dir(vendor_dir):
            raise _WouldChange
        if any(name.startswith(fsutil.STAGING_PREFIX) for name in os.listdir(vendor_dir)):
            raise _WouldChange  # a killed run's staging: the real run removes it
        records = vendorrecord.load(project, vendor_dir, key, seal)
        fetcher = _ReadOnly(Layout(project, vendor_dir), records)
        result = resolve(jf.dependencies, lock, fetcher)
        new_lock = JsonnetFile(tuple(sorted(result.lock, key=lambda d: d.name)), False)
        if vendorrecord.inputs_key(vendor_dir, jf, new_lock) != key:
            raise _WouldChange
        if fetcher.records_of(result.lock) != records:
            raise _WouldChange  # the run would record something new
        _check_clean(vendor_dir, result.lock, legacy_imports=jf.legacy_imports)
        for path, model, is_lock in (
            (project / jsonnetfile.FILE, jf, False),
            (project / jsonnetfile.LOCK_FILE, new_lock, True),
        ):
            if _would_save(path, model, lock=is_lock):
                raise _WouldChange
    return tuple(dep.name for dep in result.lock)


@contextlib.contextmanager
def _project_lock(project: Path) -> Iterator[None]:
    """Hold ``.kpb/locks/vendor.lock`` as the real run does, or give up (never wait, never
    create it: the real run reports a busy project and creates ``.kpb/``)."""
    state = fsutil.state_dir(project, create=False)
    if not os.path.lexists(state / ".gitignore"):
        raise _WouldChange
    with fsutil.lock_if_free(state / "locks" / "vendor.lock") as held:
        if not held:
            raise _WouldChange
        yield


class _Refuse(logging.Handler):
    """Any warning means output the caller would have to print: not a silent no-op."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = True


@contextlib.contextmanager
def _warnings_refused() -> Iterator[None]:
    logger = logging.getLogger("kpb")
    handler = _Refuse()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.seen:
        raise _WouldChange


class _ReadOnly:
    """A :class:`~kubeprom_build.vendoring.resolve.Fetcher` answering from vendor/ alone, as
    the stager does when a package is in place; anything it would fetch is a change."""

    def __init__(self, layout: Layout, records: dict[str, Record]) -> None:
        self.layout = layout
        self.records = records
        self.scans: dict[str, PackageScan] = {}
        self.answers: dict[str, tuple[Dependency, Fetched]] = {}

    def vendored(self, locked: Dependency) -> Fetched | None:
        """The stager's answer for a package in place (asked again for each requester)."""
        known = self.answers.get(locked.name)
        if known is None or known[0] != locked:
            known = self.answers[locked.name] = (locked, self._answer(locked))
        return known[1]

    def _answer(self, locked: Dependency) -> Fetched:
        if isinstance(locked.source, LocalSource):
            if not self.layout.has_local_link(locked):
                raise _WouldChange
            directory = self.layout.package(locked).resolve()
            return Fetched("", "", manifest_of(self.layout, locked, directory))
        found = vendortree.accepted(self.layout, locked, self.records.get(locked.name))
        if found is None or found.racy:
            raise _WouldChange  # to fetch, or fingerprints to record once settled
        self.scans[locked.name] = found
        manifest = manifest_of(self.layout, locked, self.layout.package(locked))
        return Fetched(locked.version, locked.sum, manifest)

    def fetch(self, deps: Sequence[Dependency]) -> list[Fetched]:
        raise _WouldChange

    def upstream_lock(self, dep: Dependency) -> JsonnetFile | None:
        raise _WouldChange

    def records_of(self, lock: Sequence[Dependency]) -> dict[str, Record]:
        """What the real run would record: the stager's records of packages left in place."""
        scans = {dep.name: self.scans[dep.name] for dep in lock if not dep.is_local}
        return {
            name: Record(dep.sum, found.sum, found.entries, found.stats)
            for dep in lock
            if (found := scans.get(name := dep.name)) is not None
        }


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _check_clean(vendor_dir: Path, lock: Sequence[Dependency], *, legacy_imports: bool) -> None:
    """:func:`vendortree.clean`, deciding only: anything it would delete or link is a change.

    The same walk and the same rules (``known_dir``, ``descend``, ``legacy_links``); a
    test runs both on the same trees so the two cannot drift apart.
    """
    links = vendortree.legacy_links(lock) if legacy_imports else {}
    keep_links = {d.name: "" for d in lock if d.is_local} | links
    names = {d.name for d in lock}
    for dirpath, dirnames, filenames in os.walk(vendor_dir):
        base = Path(dirpath)
        prefix = base.relative_to(vendor_dir).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        for entry in dirnames + filenames:
            path, rel = base / entry, prefix + entry
            if path.is_symlink():
                if rel not in keep_links or keep_links[rel] not in ("", os.readlink(path)):
                    raise _WouldChange  # a stray or wrong link: unlinked
            elif path.is_dir() and not vendortree.known_dir(rel, names):
                raise _WouldChange  # an unknown directory: pruned
        dirnames[:] = [d for d in dirnames if vendortree.descend(base / d, prefix + d, names)]
    for legacy in links:
        if any(legacy.startswith(p + "/") for p in names) or not _has_link(vendor_dir, legacy):
            raise _WouldChange  # a link to make, or a warning to print


def _has_link(vendor_dir: Path, legacy: str) -> bool:
    """``vendor/<legacy>`` is a link, reached through real directories only (as
    ``vendortree`` would find it, without creating anything)."""
    *parents, leaf = fsutil.check_relative(legacy, f"legacy name {legacy}").parts
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(vendor_dir, flags)
    except OSError:
        return False
    try:
        for part in parents:
            child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
        return stat.S_ISLNK(os.lstat(leaf, dir_fd=fd).st_mode)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return False
        raise
    finally:
        os.close(fd)


def _would_save(path: Path, model: JsonnetFile, *, lock: bool) -> bool:
    """Whether :func:`jsonnetfile.save_if_changed` would write ``path``."""
    target = jsonnetfile.normalized(model, lock=lock)
    try:
        parsed = jsonnetfile.parse(path.read_bytes(), str(path), trust=jsonnetfile.Trust.TOP)
    except (OSError, ConfigError):
        return True
    return parsed != target
