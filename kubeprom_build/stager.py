"""The fetcher a real vendoring run hands to :func:`kubeprom_build.resolve.resolve`.

It answers from vendor/ when a package's sum still matches (no git at all), otherwise fetches
through the cache into one staging directory inside vendor/, in parallel across remotes (one
remote's packages share a cache entry, so they go one after another). Nothing reaches vendor/
until :meth:`Stager.publish`, which the caller runs only after resolution succeeded.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from kubeprom_build import checksum, fsutil, jsonnetfile
from kubeprom_build.cache import GitCache
from kubeprom_build.errors import ConfigError
from kubeprom_build.jsonnetfile import Dependency, GitSource, JsonnetFile, LocalSource
from kubeprom_build.resolve import Fetched
from kubeprom_build.vendortree import STAGING_PREFIX, Layout, join

EventKind = Literal["resolving", "fetching", "fetched", "cached", "linked", "removed"]
# jb downloads GitHub tarballs by the sha ls-remote reports (a tag object for annotated tags)
# and locks that; for every other remote it checks out with git and locks the commit.
GITHUB_FAST_PATH = re.compile(r"^(https|ssh)://github\.com/.+")
LOCK_NAME = jsonnetfile.LOCK_FILE


@dataclass(frozen=True)
class Event:
    """Progress report for one package (``removed`` also covers pruned directories)."""

    kind: EventKind
    name: str
    detail: str = ""


Progress = Callable[[Event], None]


@dataclass
class Stager:
    """The :class:`~kubeprom_build.resolve.Fetcher` for a real run: vendor/ + cache + staging."""

    layout: Layout
    cache: GitCache
    previous: JsonnetFile
    progress: Progress
    jobs: int
    #: Packages staged in this run (in order) and the sum each was staged with ("" for local).
    staged: dict[str, str] = field(default_factory=dict)
    _root: Path | None = None

    def _staging_root(self) -> Path:
        if self._root is None:
            self.layout.vendor_dir.mkdir(parents=True, exist_ok=True)
            prefix, parent = STAGING_PREFIX, self.layout.vendor_dir
            self._root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        return self._root

    def _stage_path(self, dep: Dependency) -> Path:
        return join(self._staging_root(), dep.name)

    # ------------------------------------------------------------------ answers from disk

    def vendored(self, locked: Dependency) -> Fetched | None:
        if locked.name in self.staged:  # fetched earlier in this run (a diamond)
            return self._already_staged(locked)
        if isinstance(locked.source, LocalSource):
            if not self.layout.has_local_link(locked):
                return None
            self.progress(Event("cached", locked.name))
            return Fetched("", "", self._manifest(locked, self.layout.package(locked).resolve()))
        target = self.layout.package(locked)
        if target.is_symlink() or not target.is_dir():
            return None
        if checksum.dir_sum(target) != locked.sum:
            return None
        self.progress(Event("cached", locked.name))
        return Fetched(locked.version, locked.sum, self._manifest(locked, target))

    def _already_staged(self, locked: Dependency) -> Fetched | None:
        if isinstance(locked.source, LocalSource):
            directory = self.layout.local_dir(locked.source)
            return Fetched("", "", self._manifest(locked, directory))
        if self.staged[locked.name] == locked.sum:  # hashed when it was staged
            return Fetched(
                locked.version, locked.sum, self._manifest(locked, self._stage_path(locked))
            )
        return None

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
        results: dict[int, Fetched] = {}
        self._staging_root()
        workers = max(1, min(self.jobs, len(groups)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpb-fetch") as pool:
            futures = [
                pool.submit(self._fetch_group, [(i, deps[i]) for i in indexes])
                for indexes in groups.values()
            ]
            errors = [f.exception() for f in futures]
            for future in futures:
                if future.exception() is None:
                    results.update(future.result())
        for error in errors:
            if error is not None:
                raise error
        return [results[i] for i in range(len(deps))]

    def _fetch_group(self, items: list[tuple[int, Dependency]]) -> dict[int, Fetched]:
        """Packages of one remote, one after another: they share one cache entry."""
        return {index: self._fetch_one(dep) for index, dep in items}

    def _fetch_one(self, dep: Dependency) -> Fetched:
        if isinstance(dep.source, LocalSource):
            return self._link_local(dep, dep.source)
        assert isinstance(dep.source, GitSource)
        self.progress(Event("resolving", dep.name, dep.version))
        sha = self._pin(dep, dep.source)
        reused = self._unchanged(dep, sha)
        if reused is not None:
            return reused
        self.progress(Event("fetching", dep.name, sha))
        staged = self._stage_path(dep)
        staged.mkdir(parents=True)
        commit = self.cache.export(dep.source.remote, sha, dep.source.subdir, staged)
        dep_sum = checksum.dir_sum(staged)
        self.staged[dep.name] = dep_sum
        self.progress(Event("fetched", dep.name, commit))
        return Fetched(sha, dep_sum, self._manifest(dep, staged))

    def _pin(self, dep: Dependency, source: GitSource) -> str:
        """The sha jb would lock for ``dep.version``."""
        if not dep.version:
            raise ConfigError(f"dependency {dep.name} has no version")
        sha = self.cache.resolve(source.remote, dep.version)
        if sha != dep.version and not GITHUB_FAST_PATH.match(source.remote):
            sha = self.cache.commit(source.remote, sha)[1]  # jb's git path locks the commit
        return sha

    def _link_local(self, dep: Dependency, source: LocalSource) -> Fetched:
        directory = self.layout.local_dir(source)
        staged = self._stage_path(dep)
        staged.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(self.layout.local_link(source), staged)
        self.staged[dep.name] = ""
        self.progress(Event("linked", dep.name, source.directory))
        return Fetched("", "", self._manifest(dep, directory))

    # ------------------------------------------------------------------ manifests and locks

    def _manifest(self, dep: Dependency, directory: Path) -> JsonnetFile | None:
        path = directory / jsonnetfile.FILE
        if not path.is_file():
            return None
        shown = self.layout.vendor_dir / dep.name / jsonnetfile.FILE
        trust = jsonnetfile.Trust.below(dep)
        manifest = jsonnetfile.parse(path.read_bytes(), str(shown), trust=trust)
        return rebase_locals(self.layout, dep, manifest)

    def upstream_lock(self, dep: Dependency) -> JsonnetFile | None:
        if not isinstance(dep.source, GitSource):
            return None
        staged = self._stage_path(dep) if dep.name in self.staged else None
        for directory in (staged, self.layout.package(dep)):
            path = directory / LOCK_NAME if directory else None
            if path is not None and path.is_file():
                return jsonnetfile.parse_pins(path.read_bytes(), f"{dep.name}/{LOCK_NAME}")
        data = self.cache.read_file(dep.source.remote, dep.version, LOCK_NAME)
        if data is None:
            return None
        return jsonnetfile.parse_pins(data, f"{dep.source.remote}@{dep.version}:{LOCK_NAME}")

    # ------------------------------------------------------------------ the end of a run

    def publish(self) -> None:
        """Move every staged package into vendor/, one rename each."""
        for name in self.staged:
            staged = join(self._staging_root(), name)
            target = join(self.layout.vendor_dir, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            fsutil.replace_dir(staged, target)

    def discard(self) -> None:
        if self._root is not None:
            fsutil.remove_tree(self._root)
            self._root = None


def rebase_locals(layout: Layout, parent: Dependency, manifest: JsonnetFile) -> JsonnetFile:
    """Nested local paths are relative to the referencing package; make them project-relative.

    A git package may only point inside its own repository's vendor folder, a local one inside
    the project's repository: a hostile jsonnetfile cannot reach anything else.
    """
    if not any(d.is_local for d in manifest.dependencies):
        return manifest
    base, boundary = _nesting_bounds(layout, parent)
    deps = []
    for dep in manifest.dependencies:
        if isinstance(dep.source, LocalSource):
            target = Path(os.path.normpath(dep.source.path_under(base)))
            if not fsutil.is_within(target, boundary):
                raise ConfigError(
                    f"{parent.name}/jsonnetfile.json: local dependency "
                    f"{dep.source.directory!r} resolves outside {boundary}"
                )
            rel = os.path.relpath(target, layout.project)
            dep = replace(dep, source=LocalSource(rel))
        deps.append(dep)
    return replace(manifest, dependencies=tuple(deps))


def _nesting_bounds(layout: Layout, parent: Dependency) -> tuple[Path, Path]:
    """Where ``parent``'s nested local paths start, and what they must stay inside."""
    if isinstance(parent.source, LocalSource):
        return layout.local_dir(parent.source), layout.boundary
    assert isinstance(parent.source, GitSource)
    base = layout.package(parent)
    return base, fsutil.confined_join(layout.vendor_dir, parent.source.repo_name, "remote")
