"""kpb's record of every vendored package, kept in ``.kpb/`` beside jb's sums.

jb's ``sum`` hashes file contents only, so a package whose bytes were moved between files, or
that gained empty files or lost an execute bit, still matches the lock. When kpb vendors, it
records each package's full inventory (:class:`kubeprom_build.vendoring.checksum.Entry`: path, type,
mode, content hash). The no-op check and ``--verify`` compare against it, and ``kpb vendor``
re-fetches any package that differs. A package with no record (vendored by jb or an older kpb)
is accepted on jb's sum by ``kpb vendor`` and then recorded; ``--verify`` compares it with its
pristine commit from the cache.

The record also remembers the one tree jb's algorithm leaves unlike its locked sum: a package
whose directory holds another package at a different commit (see "Nested packages" in
docs/architecture.md). That tree is accepted only while the inputs that produced it (vendor
dir, jsonnetfile.json, lock) are unchanged; jb itself would re-download both on every run.
The record is local state (``.kpb/`` is never committed).

Each record also keeps the stat fingerprint of every file it lists
(:data:`~kubeprom_build.vendoring.checksum.Fingerprint`), so the no-op check reads only files
whose fingerprint changed (see :func:`known`). Fingerprints are trusted only while the inputs
key is unchanged and only for the lock entry they were taken for; ``--verify`` ignores them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubeprom_build import fsutil, safefs
from kubeprom_build.vendoring import jsonnetfile
from kubeprom_build.vendoring.checksum import Entry, Fingerprint, PackageScan
from kubeprom_build.vendoring.jsonnetfile import JsonnetFile

log = logging.getLogger("kpb")

_FORMAT = 4  # 4: stat fingerprints; a format-3 record is still read (without them)
_READABLE = (3, _FORMAT)
_FILE = "vendor-record.json"
_SHOWN = 5
#: A record is a few hundred KiB for kube-prometheus; anything far larger is not kpb's.
_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class Record:
    """What one package held when kpb vendored it, for the lock entry with sum ``locked``."""

    locked: str
    sum: str  # jb's sum of the tree kpb left: ``locked``, except for nested packages
    entries: tuple[Entry, ...]
    stats: Mapping[str, Fingerprint] = field(default_factory=dict)


def inputs_key(vendor_dir: Path, jf: JsonnetFile, lock: JsonnetFile) -> str:
    """What a nested tree depends on: vendor/'s place, the direct deps (order) and the lock."""
    ordered = JsonnetFile(tuple(sorted(lock.dependencies, key=lambda d: d.name)), False)
    digest = hashlib.sha256(os.fsencode(vendor_dir.resolve()) + b"\0")
    digest.update(jsonnetfile.dumps(jf, lock=False) + b"\0" + jsonnetfile.dumps(ordered, lock=True))
    return digest.hexdigest()


def known(record: Record | None, locked: str) -> dict[str, tuple[Fingerprint, Entry]]:
    """What :func:`checksum.scan` may take from ``record`` unread, for the lock entry with sum
    ``locked``: nothing when the record is for another entry (or there is none)."""
    if record is None or record.locked != locked or not record.stats:
        return {}
    return {e.path: (record.stats[e.path], e) for e in record.entries if e.path in record.stats}


def accept(found: PackageScan, locked: str, record: Record | None) -> PackageScan | None:
    """``found`` with its sum when it is what kpb vendored for the lock entry with sum
    ``locked``, else None.

    With a record for that entry, inventory and sum must both match it; a scan that took
    files from the record by fingerprint has no sum of its own, and equal entries (every
    path, kind, mode and content hash, in walk order) fix jb's sum, so it gets the record's.
    Without a record, jb's sum decides (trust on first use: the record is written at the end
    of the run).
    """
    if found.special:
        return None
    if record is not None and record.locked == locked:
        if found.entries != record.entries or found.sum not in ("", record.sum):
            return None
        return replace(found, sum=record.sum) if not found.sum else found
    return found if found.sum == locked and not found.vouched else None


def intact(found: PackageScan, locked: str, record: Record | None) -> bool:
    """Is the package on disk what kpb vendored for the lock entry with sum ``locked``?"""
    return accept(found, locked, record) is not None


def _path(project: Path) -> Path:
    return project / fsutil.STATE_DIR_NAME / _FILE


def load(project: Path, vendor_dir: Path, key: str, seal: bytes | None) -> dict[str, Record]:
    """The records of ``vendor_dir``'s packages; empty when absent, unreadable, for another
    vendor directory or not sealed with ``seal`` (kpb's own key: a record someone else wrote,
    e.g. force-committed, is ignored). Records of trees unlike their lock are dropped when
    ``key`` changed."""
    if seal is None:
        return {}
    try:
        # A link (a committed ``.kpb/vendor-record.json -> /dev/zero``), a FIFO or a huge file
        # is not a record: O_NOFOLLOW, no blocking open, regular files of bounded size only.
        fd = os.open(_path(project), safefs.READ_FLAGS)
        data = safefs.read_fd(fd, limit=_MAX_BYTES)
        mac, _, body = data.partition(b"\n")
        if not hmac.compare_digest(mac.decode("ascii"), _mac(seal, body)):
            log.debug("the vendor record is not sealed by this kpb; ignoring it")
            return {}
        raw = json.loads(body.decode("utf-8"))
        if raw.get("format") not in _READABLE or raw.get("vendor_dir") != _rel(project, vendor_dir):
            return {}
        records = {
            str(name): Record(
                str(body["locked"]),
                str(body["sum"]),
                tuple(Entry(str(p), k, str(d), bool(x)) for p, k, d, x in body["entries"]),
                {str(p): _fingerprint(f) for p, f in body.get("stats", {}).items()},
            )
            for name, body in raw["packages"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.debug("no usable vendor record: %s", exc)
        return {}
    if raw.get("inputs") != key:
        # Another jsonnetfile, lock or vendor dir: no fingerprint is trusted across it.
        records = {n: replace(r, stats={}) for n, r in records.items() if r.sum == r.locked}
    return records


def _fingerprint(raw: object) -> Fingerprint:
    if not isinstance(raw, list) or len(raw) != 6 or not all(type(v) is int for v in raw):
        raise ValueError("a fingerprint is six integers")
    size, mtime, ctime, inode, device, mode = raw
    return (size, mtime, ctime, inode, device, mode)


def save(
    project: Path, vendor_dir: Path, key: str, records: Mapping[str, Record], seal: bytes
) -> None:
    """Replace the record atomically with ``records`` (the packages of the new lock), sealed:
    the first line is an HMAC of the rest under ``seal``."""
    body = {
        "format": _FORMAT,
        "vendor_dir": _rel(project, vendor_dir),
        "inputs": key,
        "packages": {
            name: {
                "locked": record.locked,
                "sum": record.sum,
                "entries": [[e.path, e.kind, e.detail, e.executable] for e in record.entries],
                "stats": {path: list(f) for path, f in sorted(record.stats.items())},
            }
            for name, record in sorted(records.items())
        },
    }
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    sealed = _mac(seal, data).encode("ascii") + b"\n" + data
    fsutil.atomic_write_bytes(fsutil.state_dir(project) / _FILE, sealed)


def _mac(seal: bytes, body: bytes) -> str:
    return hmac.new(seal, body, hashlib.sha256).hexdigest()


def _rel(project: Path, vendor_dir: Path) -> str:
    return os.path.relpath(vendor_dir, project)


def differences(before: tuple[Entry, ...], after: tuple[Entry, ...]) -> str:
    """What changed between two inventories, e.g. ``added: x; changed: y``; "" if nothing."""
    old = {e.path: e for e in before}
    new = {e.path: e for e in after}
    groups = {
        "special file": sorted(f"{e.path} ({e.detail})" for e in after if e.kind == "special"),
        "added": sorted(p for p in set(new) - set(old) if new[p].kind != "special"),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(p for p in set(old) & set(new) if _changed(old[p], new[p])),
        "mode changed": sorted(
            p for p in set(old) & set(new) if old[p].executable != new[p].executable
        ),
    }
    return "; ".join(
        f"{label}: {', '.join(paths[:_SHOWN])}{' …' if len(paths) > _SHOWN else ''}"
        for label, paths in groups.items()
        if paths
    )


def _changed(old: Entry, new: Entry) -> bool:
    return (old.kind, old.detail) != (new.kind, new.detail)
