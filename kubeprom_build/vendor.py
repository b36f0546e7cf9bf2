"""Orchestrates vendoring: ``init``, ``install``, ``vendor``, ``update`` and ``verify``.

Packages are fetched through the cache into one staging directory inside vendor/, in parallel
across remotes, and only published (one rename per package) once resolution has succeeded; the
lock is written last. So an error changes nothing and an interrupted run leaves the old lock
with every package either old or new. A package whose locked sum matches vendor/ is not fetched
at all, so a second run does no git work. Clean-up (pruning, legacy symlinks) follows jb §5.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from kubeprom_build import checksum, fsutil, jsonnetfile, uri
from kubeprom_build.cache import GitCache
from kubeprom_build.errors import ConfigError, KpbError
from kubeprom_build.jsonnetfile import Dependency, GitSource, JsonnetFile, LocalSource
from kubeprom_build.resolve import Conflict, Fetched, resolve

log = logging.getLogger("kpb")

EventKind = Literal["resolving", "fetching", "fetched", "cached", "linked", "removed"]
STAGING_PREFIX = ".kpb-tmp-"
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


def _ignore(_event: Event) -> None:
    return None


@dataclass(frozen=True)
class Options:
    """Where and how to vendor; the CLI builds this from its flags."""

    project: Path
    vendor_dir: Path
    offline: bool = False
    upstream_pins: bool = False
    jobs: int = 8
    wait_seconds: float = 0.0
    progress: Progress = _ignore
    cache: GitCache | None = None

    def git_cache(self) -> GitCache:
        return self.cache or GitCache(offline=self.offline)


@dataclass(frozen=True)
class Change:
    """One lock entry that moved (``update``'s table)."""

    name: str
    old: str
    new: str


@dataclass(frozen=True)
class Outcome:
    """What a vendoring command did."""

    lock: tuple[Dependency, ...]
    fetched: tuple[str, ...]
    removed: tuple[str, ...]
    conflicts: tuple[Conflict, ...]
    changes: tuple[Change, ...]
    wrote_lock: bool
    wrote_jsonnetfile: bool


# --------------------------------------------------------------------------- commands


def init(project: Path) -> Path:
    """Write an empty v1 jsonnetfile.json, as ``jb init`` does; refuse to overwrite one."""
    path = project / jsonnetfile.FILE
    if path.exists():
        raise ConfigError(f"{path} already exists")
    fsutil.atomic_write_bytes(path, jsonnetfile.dumps(JsonnetFile(), lock=False))
    return path


def vendor(opts: Options) -> Outcome:
    """Make vendor/ what the lock pins, resolving entries the lock lacks (``jb install``)."""
    jf, lock = _load(opts)
    return _run(opts, jf, lock, old=lock, write_jsonnetfile=True)


def install(
    opts: Options, uris: Sequence[str], *, legacy_name: str = "", single: bool = False
) -> Outcome:
    """Add or change dependencies from ``uris`` and vendor (``jb install URI...``)."""
    if legacy_name and len(uris) != 1:
        raise ConfigError("--legacy-name needs exactly one package URI")
    uri.check_legacy_name(legacy_name)
    jf, lock = _load(opts)
    old = lock
    for text in uris:
        dep = uri.parse_uri(text, opts.project)
        existing = jf.get(dep.name)
        keep = existing.legacy_name_override if existing else ""
        dep = replace(dep, single=single, legacy_name_override=legacy_name or keep)
        if existing != dep:
            jf = jf.with_dependency(dep)
        if existing is None or (existing.source, existing.version) != (dep.source, dep.version):
            lock = lock.without(dep.name)
    return _run(opts, jf, lock, old=old, write_jsonnetfile=True)


def update(opts: Options, names: Sequence[str] = ()) -> Outcome:
    """Re-resolve everything, or only ``names`` (nested pins stay), and rewrite the lock."""
    jf, lock = _load(opts)
    old = lock
    if not names:
        lock = JsonnetFile(legacy_imports=False)
    for name in names:
        lock = lock.without(_dependency_name(name, jf, lock, opts.project))
    return _run(opts, jf, lock, old=old, write_jsonnetfile=False)


def _dependency_name(text: str, jf: JsonnetFile, lock: JsonnetFile, project: Path) -> str:
    known = set(jf.names()) | set(lock.names())
    if text in known:
        return text
    try:
        name = uri.parse_uri(text, project).name
    except ConfigError:
        name = ""
    if name not in known:
        raise ConfigError(f"update: {text!r} is not a dependency in jsonnetfile.json or the lock")
    return name


def _load(opts: Options) -> tuple[JsonnetFile, JsonnetFile]:
    jf = jsonnetfile.load(opts.project / jsonnetfile.FILE, missing_ok=False)
    lock = jsonnetfile.load(opts.project / LOCK_NAME, missing_ok=True)
    return jf, lock


# --------------------------------------------------------------------------- the run


def _project_lock(opts: Options) -> contextlib.AbstractContextManager[None]:
    path = fsutil.state_dir(opts.project) / "locks" / "vendor.lock"
    return fsutil.file_lock(path, f"vendor/ of {opts.project}", opts.wait_seconds)


def _run(
    opts: Options, jf: JsonnetFile, lock: JsonnetFile, *, old: JsonnetFile, write_jsonnetfile: bool
) -> Outcome:
    with _project_lock(opts):
        created = not opts.vendor_dir.exists()
        _remove_stale_staging(opts.vendor_dir)
        stager = _Stager(opts, old)
        try:
            result = resolve(jf.dependencies, lock, stager, upstream_pins=opts.upstream_pins)
            stager.publish()
        except BaseException:
            stager.discard()
            if created and opts.vendor_dir.is_dir() and not any(opts.vendor_dir.iterdir()):
                opts.vendor_dir.rmdir()
            raise
        stager.discard()
        removed = _clean_vendor(opts, jf, result.lock)
        new_lock = JsonnetFile(tuple(sorted(result.lock, key=lambda d: d.name)), False)
        wrote_jf = write_jsonnetfile and jsonnetfile.save_if_changed(
            opts.project / jsonnetfile.FILE, jf, lock=False
        )
        wrote_lock = jsonnetfile.save_if_changed(opts.project / LOCK_NAME, new_lock, lock=True)
    return Outcome(
        lock=result.lock,
        fetched=tuple(stager.staged),
        removed=removed,
        conflicts=result.conflicts,
        changes=_changes(old, result.lock),
        wrote_lock=wrote_lock,
        wrote_jsonnetfile=wrote_jf,
    )


def _changes(old: JsonnetFile, new: Iterable[Dependency]) -> tuple[Change, ...]:
    before = {d.name: d.version for d in old.dependencies}
    after = {d.name: d.version for d in new}
    names = sorted(set(before) | set(after))
    return tuple(
        Change(n, before.get(n, ""), after.get(n, ""))
        for n in names
        if before.get(n) != after.get(n)
    )


def _remove_stale_staging(vendor_dir: Path) -> None:
    """Staging dirs of a killed run: safe to delete, we hold the project lock."""
    if vendor_dir.is_dir():
        for entry in vendor_dir.iterdir():
            if entry.name.startswith(STAGING_PREFIX):
                fsutil.remove_tree(entry)


# --------------------------------------------------------------------------- fetching


@dataclass
class _Stager:
    """The :class:`~kubeprom_build.resolve.Fetcher` for a real run: vendor/ + cache + staging."""

    opts: Options
    previous: JsonnetFile
    staged: list[str] = field(default_factory=list)
    _root: Path | None = None

    def _staging_root(self) -> Path:
        if self._root is None:
            self.opts.vendor_dir.mkdir(parents=True, exist_ok=True)
            self._root = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.opts.vendor_dir))
        return self._root

    def vendored(self, locked: Dependency) -> Fetched | None:
        if locked.name in self.staged:  # fetched earlier in this run (a diamond)
            if isinstance(locked.source, LocalSource):
                directory = _local_dir(self.opts, locked.source)
                return Fetched("", "", self._manifest(locked, directory))
            staged = self._stage_path(locked)
            if checksum.dir_sum(staged) == locked.sum:
                return Fetched(locked.version, locked.sum, self._manifest(locked, staged))
            return None
        target = _package_path(self.opts.vendor_dir, locked)
        if isinstance(locked.source, LocalSource):
            expected = _local_link(self.opts, locked.source)
            if target.is_symlink() and os.readlink(target) == expected:
                self.opts.progress(Event("cached", locked.name))
                return Fetched("", "", self._manifest(locked, target.resolve()))
            return None
        if target.is_symlink() or not target.is_dir():
            return None
        if checksum.dir_sum(target) != locked.sum:
            return None
        self.opts.progress(Event("cached", locked.name))
        return Fetched(locked.version, locked.sum, self._manifest(locked, target))

    def fetch(self, deps: Sequence[Dependency]) -> list[Fetched]:
        groups: dict[str, list[int]] = {}
        for index, dep in enumerate(deps):
            key = dep.source.remote if isinstance(dep.source, GitSource) else f"local:{index}"
            groups.setdefault(key, []).append(index)
        results: dict[int, Fetched] = {}
        self._staging_root()
        workers = max(1, min(self.opts.jobs, len(groups)))
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
        source = dep.source
        cache = self.opts.git_cache()
        self.opts.progress(Event("resolving", dep.name, dep.version))
        if not dep.version:
            raise ConfigError(f"dependency {dep.name} has no version")
        sha = cache.resolve(source.remote, dep.version)
        if sha != dep.version and not GITHUB_FAST_PATH.match(source.remote):
            sha = cache.commit(source.remote, sha)[1]  # jb's git path locks the peeled commit
        reused = self._unchanged(dep, sha)
        if reused is not None:
            return reused
        self.opts.progress(Event("fetching", dep.name, sha))
        staged = self._stage_path(dep)
        staged.mkdir(parents=True)
        commit = cache.export(source.remote, sha, source.subdir, staged)
        dep_sum = checksum.dir_sum(staged)
        self.staged.append(dep.name)
        self.opts.progress(Event("fetched", dep.name, commit))
        return Fetched(sha, dep_sum, self._manifest(dep, staged))

    def _unchanged(self, dep: Dependency, sha: str) -> Fetched | None:
        """``update`` re-resolves everything; a package whose sha did not move stays as is."""
        before = self.previous.get(dep.name)
        if before is None or before.version != sha or not before.sum:
            return None
        found = self.vendored(replace(before, source=dep.source))
        return None if found is None else Fetched(sha, found.sum, found.manifest)

    def _stage_path(self, dep: Dependency) -> Path:
        return _join(self._staging_root(), dep.name)

    def _link_local(self, dep: Dependency, source: LocalSource) -> Fetched:
        directory = _local_dir(self.opts, source)
        staged = self._stage_path(dep)
        staged.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(_local_link(self.opts, source), staged)
        self.staged.append(dep.name)
        self.opts.progress(Event("linked", dep.name, source.directory))
        return Fetched("", "", self._manifest(dep, directory))

    def _manifest(self, dep: Dependency, directory: Path) -> JsonnetFile | None:
        path = directory / jsonnetfile.FILE
        if not path.is_file():
            return None
        shown = self.opts.vendor_dir / dep.name / jsonnetfile.FILE
        manifest = jsonnetfile.parse(path.read_bytes(), str(shown))
        return _rebase_locals(self.opts, dep, manifest)

    def upstream_lock(self, dep: Dependency) -> JsonnetFile | None:
        if not isinstance(dep.source, GitSource):
            return None
        for directory in (self._staged_dir(dep), _package_path(self.opts.vendor_dir, dep)):
            path = directory / LOCK_NAME if directory else None
            if path is not None and path.is_file():
                return jsonnetfile.parse(path.read_bytes(), f"{dep.name}/{LOCK_NAME}")
        data = self.opts.git_cache().read_file(dep.source.remote, dep.version, LOCK_NAME)
        if data is None:
            return None
        return jsonnetfile.parse(data, f"{dep.source.remote}@{dep.version}:{LOCK_NAME}")

    def _staged_dir(self, dep: Dependency) -> Path | None:
        return self._stage_path(dep) if dep.name in self.staged else None

    def publish(self) -> None:
        """Move every staged package into vendor/, one rename each."""
        for name in self.staged:
            staged = _join(self._staging_root(), name)
            target = _join(self.opts.vendor_dir, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            fsutil.replace_dir(staged, target)

    def discard(self) -> None:
        if self._root is not None:
            fsutil.remove_tree(self._root)
            self._root = None


def _package_path(vendor_dir: Path, dep: Dependency) -> Path:
    return _join(vendor_dir, dep.name)


def _join(base: Path, name: str) -> Path:
    """``base/name`` whose parent provably lies inside ``base``; the entry itself may be a
    symlink (local packages are), so only the directories leading to it are resolved."""
    joined = base.joinpath(*fsutil.check_relative(name, f"dependency {name}").parts)
    if not fsutil.is_within(joined.parent, base):
        raise ConfigError(f"dependency {name}: {joined.parent} resolves outside {base}")
    return joined


# --------------------------------------------------------------------------- local sources


def _boundary(opts: Options) -> Path:
    """Local packages must live in the git work tree holding the project (else the project)."""
    return fsutil.enclosing_repo_root(opts.project)


def _local_dir(opts: Options, source: LocalSource) -> Path:
    directory = source.path_under(opts.project)
    if not fsutil.is_within(directory, _boundary(opts)):
        raise ConfigError(
            f"local dependency {source.directory!r} resolves outside the repository "
            f"{_boundary(opts)}"
        )
    if not directory.is_dir():
        raise ConfigError(f"local dependency {source.directory!r} is not a directory")
    return directory


def _local_link(opts: Options, source: LocalSource) -> str:
    """jb's link target: the directory relative to vendor/ (``../jsonnet/kube-prometheus``)."""
    absolute = os.path.normpath(source.path_under(opts.project))
    return os.path.relpath(absolute, opts.vendor_dir)


def _rebase_locals(opts: Options, parent: Dependency, manifest: JsonnetFile) -> JsonnetFile:
    """Nested local paths are relative to the referencing package; make them project-relative.

    A git package may only point inside its own repository's vendor folder, a local one inside
    the project's repository: a hostile jsonnetfile cannot reach anything else.
    """
    if not any(d.is_local for d in manifest.dependencies):
        return manifest
    if isinstance(parent.source, LocalSource):
        base = _local_dir(opts, parent.source)
        boundary = _boundary(opts)
    else:
        assert isinstance(parent.source, GitSource)
        base = _package_path(opts.vendor_dir, parent)
        boundary = fsutil.confined_join(opts.vendor_dir, parent.source.repo_name, "remote")
    deps = []
    for dep in manifest.dependencies:
        if isinstance(dep.source, LocalSource):
            target = Path(os.path.normpath(dep.source.path_under(base)))
            if not fsutil.is_within(target, boundary):
                raise ConfigError(
                    f"{parent.name}/jsonnetfile.json: local dependency "
                    f"{dep.source.directory!r} resolves outside {boundary}"
                )
            rel = os.path.relpath(target, opts.project)
            dep = replace(dep, source=LocalSource(rel))
        deps.append(dep)
    return replace(manifest, dependencies=tuple(deps))


# --------------------------------------------------------------------------- clean-up


def _clean_vendor(opts: Options, jf: JsonnetFile, lock: Sequence[Dependency]) -> tuple[str, ...]:
    """jb §5 clean-up: prune unknown dirs, drop stray symlinks, (re)create legacy links."""
    if not opts.vendor_dir.is_dir():
        return ()
    links = _legacy_links(lock) if jf.legacy_imports else {}
    keep_links = {d.name: "" for d in lock if d.is_local} | links
    names = {d.name for d in lock}
    removed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(opts.vendor_dir):
        base = Path(dirpath)
        prefix = base.relative_to(opts.vendor_dir).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        for entry in sorted(dirnames + filenames):
            if _prune_entry(base / entry, prefix + entry, names, keep_links):
                removed.append(prefix + entry)
                opts.progress(Event("removed", prefix + entry))
        dirnames[:] = [d for d in dirnames if _descend(base / d, prefix + d, names)]
    _make_links(opts.vendor_dir, links)
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


@dataclass(frozen=True)
class Problem:
    """One way vendor/ differs from the lock."""

    name: str
    kind: Literal["missing", "modified", "not locked"]
    detail: str = ""

    def message(self) -> str:
        return f"{self.name}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def verify(opts: Options) -> tuple[Problem, ...]:
    """Offline: recompute every sum and report what differs from the lock; changes nothing."""
    jf, lock = _load(opts)
    problems: list[Problem] = []
    for dep in jf.dependencies:
        if lock.get(dep.name) is None:
            problems.append(Problem(dep.name, "not locked", "run 'kpb vendor'"))
    for dep in lock.dependencies:
        problem = _verify_one(opts, dep)
        if problem is not None:
            problems.append(problem)
    return tuple(problems)


def _verify_one(opts: Options, dep: Dependency) -> Problem | None:
    target = _package_path(opts.vendor_dir, dep)
    if isinstance(dep.source, LocalSource):
        ok = target.is_symlink() and os.readlink(target) == _local_link(opts, dep.source)
        return None if ok else Problem(dep.name, "missing", "local link absent or wrong")
    if target.is_symlink() or not target.is_dir():
        return Problem(dep.name, "missing")
    actual = checksum.dir_sum(target)
    if actual == dep.sum:
        return None
    return Problem(dep.name, "modified", _file_diff(opts, dep, target) or f"sum {actual}")


def _file_diff(opts: Options, dep: Dependency, target: Path) -> str:
    """Which files differ, from the cached original when the cache has it (offline)."""
    assert isinstance(dep.source, GitSource)
    cache = GitCache(root=opts.git_cache().root, offline=True)
    with tempfile.TemporaryDirectory(prefix="kpb-verify-") as tmp:
        try:
            cache.export(dep.source.remote, dep.version, dep.source.subdir, Path(tmp))
        except KpbError:
            return ""
        original, current = _files(Path(tmp)), _files(target)
    added = sorted(set(current) - set(original))
    removed = sorted(set(original) - set(current))
    changed = sorted(f for f in set(original) & set(current) if original[f] != current[f])
    parts = [
        f"{label}: {', '.join(files[:5])}"
        for label, files in (("added", added), ("removed", removed), ("changed", changed))
        if files
    ]
    return "; ".join(parts)


def _files(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            found[key] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found
