"""Orchestrates vendoring: ``install``, ``vendor``, ``update`` and ``verify``.

Each command decides which lock entries to keep, then :func:`_run` does one transaction under
the project lock: resolve through a :class:`~kubeprom_build.vendoring.stager.Stager`, publish
the staged
packages (one rename each) only once resolution has succeeded, clean vendor/ up
(:mod:`kubeprom_build.vendoring.vendortree`) and write the lock last. So an error changes
nothing and an
interrupted run leaves the old lock with every package either old or new.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kubeprom_build import fsutil
from kubeprom_build.errors import ConfigError, GitError, KpbError
from kubeprom_build.vendoring import (
    git,
    jsonnetfile,
    noop,
    packageuri,
    uri,
    vendorrecord,
    vendortree,
)
from kubeprom_build.vendoring.cache import GitCache, record_seal
from kubeprom_build.vendoring.jsonnetfile import Dependency, GitSource, JsonnetFile, LocalSource
from kubeprom_build.vendoring.resolve import Resolution, resolve
from kubeprom_build.vendoring.stager import Event as Event
from kubeprom_build.vendoring.stager import EventKind as EventKind
from kubeprom_build.vendoring.stager import Progress as Progress
from kubeprom_build.vendoring.stager import Stager
from kubeprom_build.vendoring.vendortree import Layout
from kubeprom_build.vendoring.vendortree import Problem as Problem


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
    #: Seconds without a byte from git before a transfer is abandoned (None: $KPB_TIMEOUT/60).
    timeout: float | None = None

    def _git_cache(self) -> GitCache:
        return self.cache or GitCache(offline=self.offline, timeout=self.timeout)

    def layout(self) -> Layout:
        return Layout(self.project, self.vendor_dir)


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
    changes: tuple[Change, ...]
    wrote_lock: bool


# --------------------------------------------------------------------------- commands


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
        dep = packageuri.parse_uri(text, opts.project)
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
    if opts.offline:
        _check_offline_update(jf, lock)
    return _run(opts, jf, lock, old=old, write_jsonnetfile=False)


def _check_offline_update(jf: JsonnetFile, lock: JsonnetFile) -> None:
    """Offline, only versions that need no ls-remote can be re-resolved.

    The cache keeps commits, not where branches and tags point now, so answering "newest
    commit of master" from it would write a stale lock that claims to be current. Commit
    shas and local sources move fine; a branch or tag fails before anything is touched.
    """
    for dep in jf.dependencies:
        if lock.get(dep.name) is not None or not isinstance(dep.source, GitSource):
            continue
        if not git.SHA_RE.match(dep.version):
            raise GitError(
                f"update --offline: {dep.name}@{dep.version} is a branch or tag; finding its "
                f"newest commit needs the network (git ls-remote {dep.source.remote}); "
                "run without --offline or pin a commit sha in jsonnetfile.json"
            )


def _dependency_name(text: str, jf: JsonnetFile, lock: JsonnetFile, project: Path) -> str:
    known = set(jf.names()) | set(lock.names())
    if text in known:
        return text
    try:
        name = packageuri.parse_uri(text, project).name
    except ConfigError:
        name = ""
    if name not in known:
        raise ConfigError(f"update: {text!r} is not a dependency in jsonnetfile.json or the lock")
    return name


def _listed(project: Path) -> Iterator[Dependency]:
    """Every entry of jsonnetfile.json and the lock, for hints and completion: an unreadable
    or missing file lists nothing instead of failing."""
    for name in (jsonnetfile.FILE, jsonnetfile.LOCK_FILE):
        with contextlib.suppress(KpbError):
            yield from jsonnetfile.load(project / name, missing_ok=True).dependencies


def package_names(project: Path) -> list[str]:
    """Package names jsonnetfile.json and the lock list, sorted (for shell completion)."""
    return sorted({dep.name for dep in _listed(project)})


def empty_jsonnetfile() -> bytes:
    """A new project's jsonnetfile.json, byte for byte what ``jb init`` writes."""
    return jsonnetfile.dumps(JsonnetFile(), lock=False)


def declared_names(project: Path) -> frozenset[str] | None:
    """Package and legacy names jsonnetfile.json and the lock list (for error hints); None
    when neither file exists."""
    if not any((project / name).is_file() for name in (jsonnetfile.FILE, jsonnetfile.LOCK_FILE)):
        return None
    return frozenset(n for dep in _listed(project) for n in (dep.name, dep.legacy_name) if n)


def _load(opts: Options) -> tuple[JsonnetFile, JsonnetFile]:
    jf = jsonnetfile.load(opts.project / jsonnetfile.FILE, missing_ok=False)
    lock = jsonnetfile.load(opts.project / jsonnetfile.LOCK_FILE, missing_ok=True)
    return jf, lock


# --------------------------------------------------------------------------- the run


def _project_lock(opts: Options) -> contextlib.AbstractContextManager[None]:
    fsutil.check_vendor_dir(opts.project, opts.vendor_dir)  # before .kpb/ is created
    path = fsutil.state_dir(opts.project) / "locks" / "vendor.lock"
    return fsutil.file_lock(path, f"vendor/ of {opts.project}", opts.wait_seconds)


def _check_local_sources(opts: Options, jf: JsonnetFile) -> None:
    """A local dependency inside the vendor dir would be pruned or replaced by its own link."""
    for dep in jf.dependencies:
        if isinstance(dep.source, LocalSource):
            directory = dep.source.path_under(opts.project)
            if fsutil.is_within(directory, opts.vendor_dir):
                shown = opts.vendor_dir.relative_to(opts.project).as_posix()
                raise ConfigError(
                    f"local dependency {dep.source.directory!r} lies inside {shown}/, which kpb "
                    f"prunes and rewrites; move it out of {shown}/ or use another --vendor-dir"
                )


def _run(
    opts: Options, jf: JsonnetFile, lock: JsonnetFile, *, old: JsonnetFile, write_jsonnetfile: bool
) -> Outcome:
    _check_local_sources(opts, jf)
    with _project_lock(opts):
        layout = opts.layout()
        key = vendorrecord.inputs_key(opts.vendor_dir, jf, lock)
        seal = record_seal(opts._git_cache().root, create=True)
        records = vendorrecord.load(opts.project, opts.vendor_dir, key, seal)
        stager = Stager(layout, opts._git_cache(), old, opts.progress, opts.jobs, records)
        stager.lock = {d.name: d for d in lock.dependencies}
        result = _resolve_and_publish(opts, jf, lock, stager)
        removed = vendortree.clean(
            opts.vendor_dir,
            result.lock,
            legacy_imports=jf.legacy_imports,
            on_removed=lambda name: opts.progress(Event("removed", name)),
        )
        new_lock = JsonnetFile(tuple(sorted(result.lock, key=lambda d: d.name)), False)
        new_key = vendorrecord.inputs_key(opts.vendor_dir, jf, new_lock)
        new_records = stager.records_of(result.lock)
        if (new_key, new_records) != (key, records):  # a no-op run writes nothing
            assert seal is not None  # created above; it cannot vanish while we hold it
            vendorrecord.save(opts.project, opts.vendor_dir, new_key, new_records, seal)
        if write_jsonnetfile:
            jsonnetfile.save_if_changed(opts.project / jsonnetfile.FILE, jf, lock=False)
        wrote_lock = jsonnetfile.save_if_changed(
            opts.project / jsonnetfile.LOCK_FILE, new_lock, lock=True
        )
    return Outcome(
        lock=result.lock,
        fetched=tuple(stager.staged),
        removed=removed,
        changes=_changes(old, result.lock),
        wrote_lock=wrote_lock,
    )


def _resolve_and_publish(
    opts: Options, jf: JsonnetFile, lock: JsonnetFile, stager: Stager
) -> Resolution:
    """Resolve into staging, then publish; on any error vendor/ is left as it was."""
    created = not opts.vendor_dir.exists()
    vendortree.remove_stale_staging(opts.vendor_dir)
    try:
        result = resolve(jf.dependencies, lock, stager, upstream_pins=opts.upstream_pins)
        stager.publish()
    except BaseException:
        stager.discard()
        if created and opts.vendor_dir.is_dir() and not any(opts.vendor_dir.iterdir()):
            opts.vendor_dir.rmdir()
        raise
    stager.discard()
    return result


def _changes(old: JsonnetFile, new: Iterable[Dependency]) -> tuple[Change, ...]:
    before = {d.name: d.version for d in old.dependencies}
    after = {d.name: d.version for d in new}
    names = sorted(set(before) | set(after))
    return tuple(
        Change(n, before.get(n, ""), after.get(n, ""))
        for n in names
        if before.get(n) != after.get(n)
    )


# --------------------------------------------------------------------------- ready


def ready(opts: Options) -> tuple[str, ...]:
    """Names of the packages vendor/ lacks or holds stale; empty when a build may start
    (:func:`noop.stale_packages`: read only, no git, no network)."""
    return noop.stale_packages(opts.project, opts.vendor_dir, opts._git_cache().root)


# --------------------------------------------------------------------------- verify


def verify(opts: Options) -> tuple[Problem, ...]:
    """Offline: recompute every sum and report what differs from the lock; changes nothing."""
    fsutil.check_vendor_dir(opts.project, opts.vendor_dir)
    jf, lock = _load(opts)
    cache = GitCache(root=opts._git_cache().root, offline=True)

    def original(dep: Dependency, dest: Path) -> None:
        assert isinstance(dep.source, GitSource)
        cache.export(dep.source.remote, dep.version, dep.source.subdir, dest)

    key = vendorrecord.inputs_key(opts.vendor_dir, jf, lock)
    seal = record_seal(cache.root, create=False)
    records = vendorrecord.load(opts.project, opts.vendor_dir, key, seal)
    return vendortree.verify(opts.layout(), jf, lock, records, original)
