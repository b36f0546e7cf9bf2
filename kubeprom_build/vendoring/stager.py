"""The fetcher a real vendoring run hands to :func:`kubeprom_build.vendoring.resolve.resolve`.

It answers from vendor/ when a package's sum still matches (no git at all), otherwise fetches
through the cache into its own folder of one staging directory inside vendor/, in parallel across
remotes (one remote's packages share a cache entry, so they go one after another). Nothing
reaches vendor/ until :meth:`Stager.publish`, which the caller runs only after resolution
succeeded.

A package may lie inside another one's directory (kubernetes-mixin and its lib/promgrafonnet).
jb downloads one after another, each replacing ``vendor/<name>`` wholesale, so the staged trees
are combined the same way in visit order (see "Nested packages" in docs/architecture.md): a later
outer package wipes what was staged inside it, a later inner one is grafted into the staged outer
tree, and a sum is always taken over the tree as jb would see it at that moment.

Two network habits live here too. As soon as a fetched package's jsonnetfile is parsed, the
dependencies whose exact version is already known are warmed in the cache in the background
(see "Prefetching" in docs/architecture.md), so the next level of the resolution finds them
there. Offline, a package missing from the cache is noted and resolution goes on; the run then
fails once, listing every missing package.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from kubeprom_build import fsutil
from kubeprom_build.errors import ConfigError, GitError
from kubeprom_build.vendoring import checksum, git, jsonnetfile, vendorrecord
from kubeprom_build.vendoring.cache import CacheMiss, GitCache
from kubeprom_build.vendoring.checksum import Entry, Fingerprint, PackageScan
from kubeprom_build.vendoring.jsonnetfile import Dependency, GitSource, JsonnetFile, LocalSource
from kubeprom_build.vendoring.packagefile import manifest_of, read_package_file
from kubeprom_build.vendoring.resolve import Fetched
from kubeprom_build.vendoring.vendortree import Layout, join, scan_package

EventKind = Literal["resolving", "fetching", "fetched", "cached", "linked", "removed"]
# jb downloads GitHub tarballs by the sha ls-remote reports (a tag object for annotated tags)
# and locks that; for every other remote it checks out with git and locks the commit.
_GITHUB_FAST_PATH = re.compile(r"^(https|ssh)://github\.com/.+")
log = logging.getLogger("kpb")


@dataclass(frozen=True)
class Event:
    """Progress report for one package (``removed`` also covers pruned directories)."""

    kind: EventKind
    name: str
    detail: str = ""


Progress = Callable[[Event], None]


@dataclass
class Stager:
    """The :class:`~kubeprom_build.vendoring.resolve.Fetcher` for a real run.

    It combines vendor/, the cache and the staging slots.
    """

    layout: Layout
    cache: GitCache
    previous: JsonnetFile
    progress: Progress
    jobs: int
    #: kpb's records of what each package held when it was vendored (see vendorrecord).
    records: Mapping[str, vendorrecord.Record] = field(default_factory=dict)
    #: The lock resolution starts from: its versions are the ones resolve will use.
    lock: Mapping[str, Dependency] = field(default_factory=dict)
    #: Offline: packages not in the cache (name -> why), reported together by publish().
    misses: dict[str, str] = field(default_factory=dict)
    #: Packages staged in this run (in visit order) and the sum each was staged with ("" for local).
    staged: dict[str, str] = field(default_factory=dict)
    #: The staged trees :meth:`publish` moves into vendor/: disjoint, by package name.
    _roots: dict[str, Path] = field(default_factory=dict)
    #: Scans of staged packages as they are now (dropped when a nested package changes them).
    _scans: dict[str, PackageScan] = field(default_factory=dict)
    #: The scan of each git package as this run found or staged it (for the new records).
    _seen: dict[str, PackageScan] = field(default_factory=dict)
    _root: Path | None = None
    _warming: dict[tuple[str, str, str], Future[None]] = field(default_factory=dict)
    _warm_pool: ThreadPoolExecutor | None = None
    _warm_lock: threading.Lock = field(default_factory=threading.Lock)

    def _staging_root(self) -> Path:
        if self._root is None:
            self.layout.vendor_dir.mkdir(parents=True, exist_ok=True)
            prefix, parent = fsutil.STAGING_PREFIX, self.layout.vendor_dir
            self._root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        return self._root

    def _new_slot(self) -> Path:
        """A fresh place for one package: its own folder, so nested names never collide."""
        return Path(tempfile.mkdtemp(prefix="p", dir=self._staging_root())) / "tree"

    def _location(self, name: str) -> Path | None:
        """Where ``name``'s tree is staged (possibly inside a staged outer package), if it is."""
        for other, root in self._roots.items():
            if name == other:
                return root
            if name.startswith(other + "/"):
                return join(root, name[len(other) + 1 :])
        return None

    # ------------------------------------------------------------------ answers from disk

    def vendored(self, locked: Dependency) -> Fetched | None:
        if isinstance(locked.source, LocalSource):
            if locked.name in self.staged:  # linked earlier in this run (a diamond)
                directory = self.layout.local_dir(locked.source)
                return Fetched("", "", self._manifest(locked, directory))
            if not self.layout.has_local_link(locked):
                return None
            self.progress(Event("cached", locked.name))
            return Fetched("", "", self._manifest(locked, self.layout.package(locked).resolve()))
        where = self._location(locked.name)
        record = self.records.get(locked.name)
        found = self._current_scan(locked.name, where, vendorrecord.known(record, locked.sum))
        found = None if found is None else vendorrecord.accept(found, locked.sum, record)
        if found is None:
            return None
        self._seen[locked.name] = found
        if locked.name not in self.staged:
            self.progress(Event("cached", locked.name))
        directory = where or self.layout.package(locked)
        return Fetched(locked.version, locked.sum, self._manifest(locked, directory))

    def _current_scan(
        self, name: str, where: Path | None, known: Mapping[str, tuple[Fingerprint, Entry]]
    ) -> PackageScan | None:
        """``vendor/<name>`` as it stands at this point of the run (sum and inventory).

        ``known`` (files recorded by fingerprint) applies to vendor/ as it was before this
        run only, never to a staged tree or one with staged packages grafted in.
        """
        if where is not None:
            if name not in self._scans:
                found = scan_package(where)
                if found is None:
                    return None
                self._scans[name] = found
            return self._scans[name]
        inside = {
            other[len(name) + 1 :]: root
            for other, root in self._roots.items()
            if other.startswith(name + "/")
        }
        return scan_package(join(self.layout.vendor_dir, name), inside, None if inside else known)

    def _unchanged(self, dep: Dependency, sha: str) -> Fetched | None:
        """``update`` re-resolves everything; a package whose sha did not move stays as is."""
        before = self.previous.get(dep.name)
        if before is None or before.version != sha or not before.sum:
            return None
        found = self.vendored(replace(before, source=dep.source))
        return None if found is None else Fetched(sha, found.sum, found.manifest)

    # ------------------------------------------------------------------ fetching

    def fetch(self, deps: Sequence[Dependency]) -> list[Fetched]:
        groups: dict[str, list[int]] = {}
        for index, dep in enumerate(deps):
            key = dep.source.remote if isinstance(dep.source, GitSource) else f"local:{index}"
            groups.setdefault(key, []).append(index)
        results: dict[int, tuple[Fetched, Path | None, PackageScan | None]] = {}
        self._staging_root()
        workers = max(1, min(self.jobs, len(groups)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpb-fetch")
        try:
            futures = [
                pool.submit(self._fetch_group, [(i, deps[i]) for i in indexes])
                for indexes in groups.values()
            ]
            errors = [f.exception() for f in futures]
        except BaseException:  # Ctrl-C: git runs in its own session and must be told
            pool.shutdown(wait=False, cancel_futures=True)
            git.stop_all()
            raise
        pool.shutdown()
        for future in futures:
            if future.exception() is None:
                results.update(future.result())
        for error in errors:
            if error is not None:
                raise error
        for index, dep in enumerate(deps):  # in jb's order, whichever thread finished first
            _got, tree, found = results[index]
            if tree is not None:
                self._place(dep.name, tree, found)
        return [results[i][0] for i in range(len(deps))]

    def _fetch_group(
        self, items: list[tuple[int, Dependency]]
    ) -> dict[int, tuple[Fetched, Path | None, PackageScan | None]]:
        """Packages of one remote, one after another: they share one cache entry."""
        return {index: self._fetch_one(dep) for index, dep in items}

    def _fetch_one(self, dep: Dependency) -> tuple[Fetched, Path | None, PackageScan | None]:
        """The package, its staged tree and its scan (None when vendor/ already has it)."""
        if isinstance(dep.source, LocalSource):
            return self._link_local(dep, dep.source)
        assert isinstance(dep.source, GitSource)
        self.progress(Event("resolving", dep.name, dep.version))
        try:
            sha = self._pin(dep, dep.source)
            reused = self._unchanged(dep, sha)
            if reused is not None:
                return reused, None, None
            self.progress(Event("fetching", dep.name, dep.version))
            staged = self._new_slot()
            staged.mkdir()
            commit = self.cache.export(dep.source.remote, sha, dep.source.subdir, staged)
        except CacheMiss as miss:
            self.misses.setdefault(dep.name, str(miss))  # offline: go on, fail once at the end
            return Fetched(dep.version, "", None, missing=True), None, None
        found = checksum.scan(staged)
        self.progress(Event("fetched", dep.name, commit))
        manifest = self._manifest(dep, staged)
        if manifest is not None and not dep.single:
            self._prefetch(manifest)
        return Fetched(sha, found.sum, manifest), staged, found

    # ------------------------------------------------------------------ prefetching

    def _prefetch(self, manifest: JsonnetFile) -> None:
        """Warm the cache for ``manifest``'s dependencies whose version is already certain.

        Only a version resolution cannot change is safe to fetch early: the lock's entry for
        that name (a locked entry always wins in jb) or a full commit sha, which resolves to
        itself. A branch or tag is never resolved early (the first requester might ask for
        another version) and nothing is staged: the later real fetch finds the objects in the
        cache, or waits on the cache entry's lock while the warm-up finishes. A package
        vendor/ probably still holds is left alone, and errors are dropped here: the real
        fetch reports them.
        """
        if self.cache.offline:
            return
        for dep in manifest.dependencies:
            if not isinstance(dep.source, GitSource) or dep.name in self.staged:
                continue
            locked = self.lock.get(dep.name)
            version = locked.version if locked is not None else dep.version
            if not git.SHA_RE.match(version) or self._probably_vendored(dep, locked):
                continue
            key = (dep.source.remote, version, dep.source.subdir)
            with self._warm_lock:
                if key in self._warming:
                    continue
                if self._warm_pool is None:
                    self._warm_pool = ThreadPoolExecutor(
                        max_workers=self.jobs, thread_name_prefix="kpb-prefetch"
                    )
                self._warming[key] = self._warm_pool.submit(self._warm, *key)

    def _warm(self, remote: str, version: str, subdir: str) -> None:
        try:
            self.cache.warm(remote, version, subdir)
        except (GitError, ConfigError, OSError) as err:
            shown = git.without_userinfo(remote)
            log.debug("prefetch of %s %s at %s failed: %s", shown, subdir, version, err)

    def _probably_vendored(self, dep: Dependency, locked: Dependency | None) -> bool:
        """vendor/ has the package, last vendored for this lock entry (no scan: a guess)."""
        if locked is None or not join(self.layout.vendor_dir, dep.name).is_dir():
            return False
        record = self.records.get(dep.name)
        return record is None or record.locked == locked.sum

    def _place(self, name: str, tree: Path, found: PackageScan | None) -> None:
        """jb's ``RemoveAll(vendor/<name>)`` + rename, applied to the staged trees."""
        self.staged[name] = found.sum if found is not None else ""
        for other in list(self._roots):
            if other == name or other.startswith(name + "/"):
                fsutil.remove_tree(self._roots.pop(other))
        for other in list(self._scans):
            if other == name or other.startswith(name + "/") or name.startswith(other + "/"):
                del self._scans[other]
        if found is not None:
            self._scans[name] = self._seen[name] = found
        for other, root in self._roots.items():
            if name.startswith(other + "/"):
                if root.is_symlink() or tree.is_symlink():  # never write into a local source
                    raise ConfigError(f"package {name} lies inside {other}; one is local")
                _graft(tree, root, name[len(other) + 1 :], name, other)
                return
        self._roots[name] = tree

    def _pin(self, dep: Dependency, source: GitSource) -> str:
        """The sha jb would lock for ``dep.version``."""
        if not dep.version:
            raise ConfigError(f"dependency {dep.name} has no version")
        sha = self.cache.resolve(source.remote, dep.version)
        if sha != dep.version and not _GITHUB_FAST_PATH.match(source.remote):
            sha = self.cache.commit(source.remote, sha)[1]  # jb's git path locks the commit
        return sha

    def _link_local(
        self, dep: Dependency, source: LocalSource
    ) -> tuple[Fetched, Path, PackageScan | None]:
        directory = self.layout.local_dir(source)
        staged = self._new_slot()
        os.symlink(self.layout.local_link(source), staged)
        self.progress(Event("linked", dep.name, source.directory))
        return Fetched("", "", self._manifest(dep, directory)), staged, None

    # ------------------------------------------------------------------ manifests and locks

    def _manifest(self, dep: Dependency, directory: Path) -> JsonnetFile | None:
        return manifest_of(self.layout, dep, directory)

    def upstream_lock(self, dep: Dependency) -> JsonnetFile | None:
        if not isinstance(dep.source, GitSource):
            return None
        # The package as this run has it: staged, else vendor/<name> if it is a real directory
        # (a committed link there must not make kpb read a lock from elsewhere).
        if dep.name in self.staged:
            directory = self._location(dep.name)
        else:
            package = self.layout.package(dep)
            directory = package if _is_real_dir(package) else None
        shown = f"{dep.name}/{jsonnetfile.LOCK_FILE}"
        data = read_package_file(directory, jsonnetfile.LOCK_FILE, shown) if directory else None
        if data is not None:
            return jsonnetfile.parse_pins(data, shown)
        data = self.cache.read_file(dep.source.remote, dep.version, jsonnetfile.LOCK_FILE)
        if data is None:
            return None
        return jsonnetfile.parse_pins(
            data, f"{dep.source.remote}@{dep.version}:{jsonnetfile.LOCK_FILE}"
        )

    # ------------------------------------------------------------------ the end of a run

    def publish(self) -> None:
        """Move every staged tree into vendor/, one rename each (a nested one rides along).

        Offline, first fail naming every package the cache lacked (nothing moves then).
        """
        if len(self.misses) == 1:
            raise CacheMiss(next(iter(self.misses.values())))
        if self.misses:
            raise CacheMiss(
                f"{len(self.misses)} packages are not in the cache ({self.cache.root}): "
                f"{', '.join(sorted(self.misses))}; run without --offline"
            )
        vendor_dir = self.layout.vendor_dir
        moves = [(root, join(vendor_dir, name)) for name, root in self._roots.items()]
        for (name, _root), (_tree, target) in zip(self._roots.items(), moves, strict=True):
            _check_parents(target, vendor_dir, name, "vendor")  # before anything moves
        for root, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            fsutil.replace_dir(root, target)
        self._roots.clear()

    def records_of(self, lock: Sequence[Dependency]) -> dict[str, vendorrecord.Record]:
        """What each git package of ``lock`` holds now that the run is published.

        A scan taken during the run stays true unless a package was placed inside or around
        it; those (nested families) are scanned again in vendor/.
        """
        names = [d.name for d in lock if not d.is_local]
        scans: dict[str, PackageScan] = {}
        for dep in lock:
            if dep.is_local:
                continue
            nested = any(o != dep.name and _nests(o, dep.name) for o in names)
            found = self._seen.get(dep.name)
            if found is None or (nested and self.staged):
                found = checksum.scan(self.layout.package(dep))
            scans[dep.name] = found
        _settle(self.layout, lock, scans)
        return {
            dep.name: vendorrecord.Record(dep.sum, s.sum, s.entries, s.stats)
            for dep in lock
            if (s := scans.get(dep.name)) is not None
        }

    def discard(self) -> None:
        """Remove the staging directory and stop warm-ups still running (unneeded by now)."""
        if self._warm_pool is not None:
            self._warm_pool.shutdown(wait=False, cancel_futures=True)
            if any(not future.done() for future in self._warming.values()):
                git.stop_all()
            self._warm_pool.shutdown(wait=True)
            self._warm_pool = None
        if self._root is not None:
            fsutil.remove_tree(self._root)
            self._root = None


#: Longest wait for fresh files to outgrow their racy ctime before they are recorded.
_MAX_SETTLE_NS = 100_000_000


def _settle(layout: Layout, lock: Sequence[Dependency], scans: dict[str, PackageScan]) -> None:
    """Read just-written packages once more, after their ctimes can no longer be shared.

    A file kpb just wrote has a ctime a later change in the same clock tick could share, so
    its fingerprint is not recorded (checksum.RACY_NS) and every no-op check would read it.
    After a short wait its bytes are read again: when the package is unchanged, the new scan
    (whose fingerprints are trustworthy now) becomes the record; otherwise the old one stays,
    without those fingerprints, and the next check finds the difference. On a file system
    with whole-second times the wait would be too long: the next ``kpb vendor`` records them.
    """
    racy = {name: s for name, s in scans.items() if s.racy}
    if not racy:
        return
    wait = max(s.settled_at for s in racy.values()) - time.time_ns()
    if wait > _MAX_SETTLE_NS:
        return
    if wait > 0:
        time.sleep(wait / 1e9)
    for dep in lock:
        before = racy.get(dep.name)
        if before is None:
            continue
        again = checksum.scan(layout.package(dep))
        if (again.sum, again.entries) == (before.sum, before.entries):
            scans[dep.name] = again


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _nests(a: str, b: str) -> bool:
    """One package directory lies inside the other's."""
    return a.startswith(b + "/") or b.startswith(a + "/")


def _graft(tree: Path, outer: Path, rel: str, name: str, outer_name: str) -> None:
    """Put the staged ``tree`` of ``name`` at ``rel`` inside the staged tree ``outer``."""
    target = join(outer, rel)
    _check_parents(target, outer, name, outer_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    fsutil.remove_tree(target)
    os.rename(tree, target)


def _check_parents(target: Path, base: Path, name: str, shown_base: str) -> None:
    """jb's MkdirAll fails on a file where a folder must be; kpb names the culprit instead."""
    for parent in reversed(target.parents):
        if parent == base or base not in parent.parents:
            continue
        if (parent.exists() or parent.is_symlink()) and not parent.is_dir():
            shown = f"{shown_base}/{parent.relative_to(base).as_posix()}"
            raise ConfigError(f"cannot vendor {name}: {shown} is not a directory")
