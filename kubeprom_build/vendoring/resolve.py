"""jb's resolution (its ``Ensure``) as pure logic over a :class:`Fetcher`.

The rules are jb's, so a lock written by kpb equals the one jb would write: a locked entry
always wins; otherwise the first resolution wins, breadth-first within one jsonnetfile and
depth-first into each package's own jsonnetfile, in file order; ``single`` packages are not
recursed into. All I/O (git, vendor/) sits behind the fetcher, so the rules are testable with
tables. Two additions: a warning naming both requesters when they asked for different versions,
and opt-in upstream pins (a package's own lock pins its transitive deps not yet locked).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from kubeprom_build.errors import IntegrityError
from kubeprom_build.vendoring.jsonnetfile import Dependency, JsonnetFile

log = logging.getLogger("kpb")

_ROOT = "jsonnetfile.json"


@dataclass(frozen=True)
class Fetched:
    """A package as the fetcher found or fetched it."""

    version: str  # the version to lock: a sha for git packages, "" for local ones
    sum: str  # "" for local packages
    manifest: JsonnetFile | None  # the package's own jsonnetfile.json, if it has one
    #: Offline, the cache lacked it: the fetcher fails the run later, listing every miss, so
    #: no sum is checked and nothing below it is resolved.
    missing: bool = False


class Fetcher(Protocol):
    """Where packages come from: vendor/ when intact, else git (or local directories)."""

    def vendored(self, locked: Dependency) -> Fetched | None:
        """The package already in vendor/ if it matches ``locked`` (same sum), else None."""
        ...

    def fetch(self, deps: Sequence[Dependency]) -> list[Fetched]:
        """Pin and fetch ``deps`` (possibly in parallel); results in the same order."""
        ...

    def upstream_lock(self, dep: Dependency) -> JsonnetFile | None:
        """The lock file the package's repository ships (subdir first, then root), if any."""
        ...


@dataclass(frozen=True)
class Conflict:
    """Two requesters asked for different versions of one package; the first one won."""

    name: str
    first: str  # requester (package name, or jsonnetfile.json)
    first_version: str
    second: str
    second_version: str
    used: str

    def message(self) -> str:
        return (
            f"{self.name}: {self.first} wants {self.first_version!r} but {self.second} wants "
            f"{self.second_version!r}; using {self.used} (first resolution wins, as in jb)"
        )


@dataclass(frozen=True)
class Resolution:
    """The new lock in resolution order, and the conflicts seen (already logged as warnings)."""

    lock: tuple[Dependency, ...]
    conflicts: tuple[Conflict, ...]


@dataclass
class _State:
    fetcher: Fetcher
    locks: dict[str, Dependency]
    upstream_pins: bool
    requests: dict[str, tuple[str, str]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


def resolve(
    direct: Sequence[Dependency],
    lock: JsonnetFile,
    fetcher: Fetcher,
    *,
    upstream_pins: bool = False,
) -> Resolution:
    """Resolve ``direct`` against ``lock`` (minus entries the command wants re-resolved)."""
    state = _State(fetcher, {d.name: d for d in lock.dependencies}, upstream_pins)
    result = _ensure(direct, _ROOT, state, {})
    for conflict in state.conflicts:
        log.warning("%s", conflict.message())
    return Resolution(tuple(result), tuple(state.conflicts))


def _ensure(
    deps: Sequence[Dependency], requester: str, state: _State, pins: Mapping[str, Dependency]
) -> list[Dependency]:
    result: dict[str, Dependency] = {}
    manifests: dict[str, JsonnetFile | None] = {}
    wanted: list[tuple[Dependency, Dependency | None]] = []
    for dep in deps:
        _note_request(dep, requester, state)
        if any(_nested(dep.name, want.name) for want, _ in wanted):
            _fetch(wanted, state, result, manifests)  # jb checks dep after that download
            wanted = []
        locked = state.locks.get(dep.name) or _pinned(dep, pins)
        if locked is not None and dep.name in state.locks:
            found = state.fetcher.vendored(locked)
            if found is not None:
                result[dep.name], manifests[dep.name] = locked, found.manifest
                continue
        want = dep if locked is None else replace(dep, version=locked.version)
        wanted.append((want, locked))
    _fetch(wanted, state, result, manifests)
    order = {dep.name: index for index, dep in enumerate(deps)}
    result = dict(sorted(result.items(), key=lambda item: order[item[0]]))  # jb's file order
    for dep in list(result.values()):
        manifest = manifests.get(dep.name)
        if dep.single or manifest is None or not manifest.dependencies:
            continue
        nested_pins = _nested_pins(dep, manifest, state, pins)
        for nested in _ensure(manifest.dependencies, dep.name, state, nested_pins):
            result.setdefault(nested.name, nested)
    return list(result.values())


def _nested(a: str, b: str) -> bool:
    """One package directory lies inside (or is) the other's."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _fetch(
    wanted: Sequence[tuple[Dependency, Dependency | None]],
    state: _State,
    result: dict[str, Dependency],
    manifests: dict[str, JsonnetFile | None],
) -> None:
    """Fetch one batch (in parallel) and record each package as jb's download would."""
    fetched = state.fetcher.fetch([want for want, _ in wanted]) if wanted else []
    for (want, locked), got in zip(wanted, fetched, strict=True):
        _check_sum(want, locked, got)
        entry = replace(want, version=got.version, sum=got.sum)
        result[want.name] = state.locks[want.name] = entry
        manifests[want.name] = got.manifest


def _pinned(dep: Dependency, pins: Mapping[str, Dependency]) -> Dependency | None:
    pin = pins.get(dep.name)
    if pin is None or dep.is_local or pin.is_local or pin.source != dep.source:
        return None
    return pin


def _check_sum(want: Dependency, locked: Dependency | None, got: Fetched) -> None:
    if locked is not None and locked.sum and not got.missing and got.sum != locked.sum:
        raise IntegrityError(
            f"checksum mismatch for {want.name}: the lock says {locked.sum} but "
            f"{want.version} has {got.sum}"
        )


def _note_request(dep: Dependency, requester: str, state: _State) -> None:
    first = state.requests.setdefault(dep.name, (requester, dep.version))
    if first[1] == dep.version or first[0] == requester or dep.is_local:
        return
    used = state.locks[dep.name].version if dep.name in state.locks else first[1]
    state.conflicts.append(Conflict(dep.name, first[0], first[1], requester, dep.version, used))


def _nested_pins(
    dep: Dependency, manifest: JsonnetFile, state: _State, pins: Mapping[str, Dependency]
) -> Mapping[str, Dependency]:
    """Inherited pins, plus the package's own lock when some nested dep is not locked yet."""
    if not state.upstream_pins:
        return pins
    if all(d.name in state.locks or d.name in pins for d in manifest.dependencies):
        return pins
    upstream = state.fetcher.upstream_lock(dep)
    if upstream is None:
        return pins
    merged = dict(pins)
    for pin in upstream.dependencies:
        merged.setdefault(pin.name, pin)
    return merged
