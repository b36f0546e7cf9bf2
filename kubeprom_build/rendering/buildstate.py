"""Incremental-build stamps: skip evaluating an environment when nothing it reads has changed.

After a successful build kpb records, under ``.kpb/build/<env>.json``: every import lookup the
engine made (where it was found and which earlier candidates were absent, so a new file that
would now shadow it is noticed), a salted hash of every file read, a salted digest of the settings
(engine name and version, kpb version, library path, ext vars/TLAs: their values are hashed,
never stored) and a salted hash of every output file. The next build is skipped only if all of that
still holds, including the output tree on disk.

A stamp also names the kpb that wrote it: its version and a hash of its installed source
(:func:`kpb_identity`). A stamp from any other kpb (an upgrade, a local patch, another checkout
on ``PYTHONPATH``) is never trusted, since kpb's own code decides the output too.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import kubeprom_build
from kubeprom_build import __version__, fsutil, safefs

FORMAT = 3  # 2: file hashes are salted too; 3: the writing kpb is recorded


@dataclass(frozen=True)
class Lookup:
    """One import as the engine asked for it (``rel`` from a file in ``base``), where the
    importer found it and which earlier candidates were absent (a new file there would shadow
    it, so a stamp must notice one appearing)."""

    base: str
    rel: str
    found: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Stamp:
    """What one successful build of one environment depended on and produced."""

    salt: str
    settings: str
    lookups: tuple[Lookup, ...]
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]


@functools.cache
def kpb_identity() -> str:
    """``<version>+<sha256 of kpb's installed *.py files>``: which kpb writes and trusts stamps.

    Every ``*.py`` under the installed package, by sorted relative path (names hashed too, so
    a renamed or added module counts), once per process: about 1 ms for ~30 small files.
    """
    package = Path(kubeprom_build.__file__).resolve().parent
    names = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py"))
    parts = (part for name in names for part in (name.encode(), (package / name).read_bytes()))
    return f"{__version__}+{framed_sha256(b'', parts)}"


def framed_sha256(salt: bytes, parts: Iterable[bytes]) -> str:
    """SHA-256 of ``salt``, then of each part preceded by its length (8 bytes, big-endian).

    The lengths keep the parts apart: ``["ab"]`` and ``["a", "b"]`` hash differently.
    """
    h = hashlib.sha256(salt)
    for part in parts:
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()


def settings_digest(salt: str, parts: Sequence[str]) -> str:
    """Hash of the non-file inputs, salted so a guessed secret cannot be checked offline."""
    return framed_sha256(bytes.fromhex(salt), (part.encode("utf-8") for part in parts))


def new_salt() -> str:
    """A fresh random salt for a stamp."""
    return os.urandom(16).hex()


def digest(data: bytes, salt: str) -> str:
    """The content hash of an input or output, salted: an output can hold an inline secret, and
    a plain hash would let anyone who reads ``.kpb/`` test a guessed value offline."""
    return hashlib.sha256(bytes.fromhex(salt) + data).hexdigest()


def stamp_path(state_dir: Path, env: str) -> Path:
    """Where the stamp of ``env`` lives."""
    return state_dir / "build" / f"{env}.json"


def load(state_dir: Path, env: str) -> Stamp | None:
    """The recorded stamp, or None when absent or unreadable (then kpb simply rebuilds)."""
    try:
        raw = json.loads(fsutil.read_regular(stamp_path(state_dir, env)).decode("utf-8"))
        if raw.get("format") != FORMAT or raw.get("kpb") != kpb_identity():
            return None  # written by another kpb: its code may have rendered differently
        return Stamp(
            salt=str(raw["salt"]),
            settings=str(raw["settings"]),
            lookups=tuple(
                Lookup(str(b), str(r), str(f), tuple(str(m) for m in ms))
                for b, r, f, ms in raw["lookups"]
            ),
            inputs={str(k): str(v) for k, v in raw["inputs"].items()},
            outputs={str(k): str(v) for k, v in raw["outputs"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save(state_dir: Path, env: str, stamp: Stamp) -> None:
    """Record ``stamp`` atomically."""
    body = {
        "format": FORMAT,
        "kpb": kpb_identity(),
        "salt": stamp.salt,
        "settings": stamp.settings,
        "lookups": [[lk.base, lk.rel, lk.found, list(lk.missing)] for lk in stamp.lookups],
        "inputs": dict(sorted(stamp.inputs.items())),
        "outputs": dict(sorted(stamp.outputs.items())),
    }
    fsutil.atomic_write_bytes(stamp_path(state_dir, env), json.dumps(body, indent=1).encode())


def forget(state_dir: Path, env: str) -> None:
    """Drop the stamp (before a build that may fail half-way)."""
    with contextlib.suppress(FileNotFoundError):
        stamp_path(state_dir, env).unlink()


def is_fresh(stamp: Stamp, settings: str, root: Path, output: Mapping[str, bytes | None]) -> bool:
    """True when the settings, every input file and the output tree are as recorded."""
    if stamp.settings != settings:
        return False
    hashes = {k: (digest(v, stamp.salt) if v is not None else "") for k, v in output.items()}
    if hashes != stamp.outputs:
        return False
    for lookup in stamp.lookups:
        if any(os.path.isfile(os.path.join(root, m)) for m in lookup.missing):
            return False
    for path, expected in stamp.inputs.items():
        data = _read_input(os.path.join(root, path))
        if data is None or digest(data, stamp.salt) != expected:
            return False
    return True


#: An input larger than this is not worth hashing: the build re-evaluates instead.
_MAX_INPUT = 64 << 20


def _read_input(path: str) -> bytes | None:
    """A recorded input's bytes, or None: a stamp is local state that may have been edited, so
    only a regular file of sane size is read (a FIFO or ``/dev/zero`` just means "rebuild")."""
    try:
        return safefs.read_file(path, limit=_MAX_INPUT)
    except OSError:
        return None
