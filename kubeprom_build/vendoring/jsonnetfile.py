"""jsonnetfile.json and jsonnetfile.lock.json: one model, read from v0 or v1, written as jb writes.

Teams switch from jb to kpb only if the files come out byte-identical, so :func:`dumps` copies
Go's ``json.MarshalIndent`` output (key order, escaping, sorting) and :func:`parse` converts v0
exactly as jb v0.6.0 does. Because these files can come from any vendored
package, :func:`parse` also refuses every value that could make git run a program or make a
path leave ``vendor/``, naming the file and the field; how much a file may ask for depends on
who wrote it (:class:`Trust`).
"""

from __future__ import annotations

import enum
import errno
import json
import logging
import os
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from kubeprom_build import safefs
from kubeprom_build.errors import ConfigError
from kubeprom_build.fsutil import atomic_write_bytes, enclosing_repo_root
from kubeprom_build.jsonvalues import type_name
from kubeprom_build.vendoring import uri

log = logging.getLogger("kpb")
_T = TypeVar("_T")

FILE = "jsonnetfile.json"
LOCK_FILE = "jsonnetfile.lock.json"
_SUM = re.compile(r"[A-Za-z0-9+/]{43}=")  # fullmatch only: '$' also matches before a final newline
#: A jsonnetfile or lock larger than this is refused unread (kube-prometheus's lock is 8 KiB).
_MAX_BYTES = 16 << 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Go's encoding/json escapes these even with ensure_ascii off, to keep JSON safe in HTML/JS.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


@dataclass(frozen=True)
class GitSource:
    """A package inside a git repository.

    ``remote`` is canonical as jb writes it (``https://HOST/USER/REPO.git`` or
    ``ssh://git@HOST/USER/REPO.git``), or verbatim for ``file://`` URLs and paths, which jb
    cannot use (see :func:`kubeprom_build.vendoring.uri.remote_name_parts` for how those are named).
    ``subdir`` is clean: no leading or trailing '/', no '.', "" for the repository root.
    """

    remote: str
    subdir: str = ""

    @property
    def repo_name(self) -> str:
        """``HOST/USER/REPO``: the name of the repository root."""
        return uri.remote_name_parts(self.remote).name

    @property
    def name(self) -> str:
        return self.repo_name + (f"/{self.subdir}" if self.subdir else "")

    @property
    def _default_legacy_name(self) -> str:
        """Last component of ``REPO/SUBDIR`` (jb's ``filepath.Base``)."""
        repo = uri.remote_name_parts(self.remote).repo
        return posixpath.basename(f"{repo}/{self.subdir}".rstrip("/"))


@dataclass(frozen=True)
class LocalSource:
    """A package in a directory of the project, written relative to the file that names it."""

    directory: str

    @property
    def name(self) -> str:
        """Basename of the directory: jb names local packages after the folder."""
        return posixpath.basename(posixpath.normpath(self.directory))

    @property
    def _default_legacy_name(self) -> str:
        return self.name

    def check(self) -> None:
        """Refuse directories that cannot name a package; the boundary check is vendor's job."""
        if not self.directory or _CONTROL.search(self.directory):
            raise ConfigError(f"directory {self.directory!r} is empty or has control characters")
        if not uri.is_text(self.directory):
            raise ConfigError(f"directory {self.directory!r} is not UTF-8 text")
        if "\\" in self.directory:
            raise ConfigError(f"directory {self.directory!r} must use '/' separators")
        if self.name in ("", ".", ".."):
            raise ConfigError(f"directory {self.directory!r} does not name a package folder")

    def path_under(self, base: Path) -> Path:
        """Where the directory is when read relative to ``base``, joined the way Go joins.

        Go's ``filepath.Join`` treats a leading '/' as relative, so jb does too. The result is
        not yet checked against any boundary.
        """
        return base.joinpath(posixpath.normpath(self.directory).lstrip("/") or ".")


Source = GitSource | LocalSource


@dataclass(frozen=True)
class Dependency:
    """One entry of a jsonnetfile or lock: its source, version, sum, ``single`` and ``name``."""

    source: Source
    version: str = ""
    sum: str = ""
    single: bool = False
    legacy_name_override: str = ""  # the JSON ``name`` field

    @property
    def name(self) -> str:
        """The vendor path and lock key: ``HOST/USER/REPO[/SUBDIR]``, or a local folder's name."""
        return self.source.name

    @property
    def legacy_name(self) -> str:
        """The ``vendor/<legacy name>`` symlink name: the ``name`` override, else the default."""
        return self.legacy_name_override or self.source._default_legacy_name

    @property
    def is_local(self) -> bool:
        return isinstance(self.source, LocalSource)

    def _without_default_override(self) -> Dependency:
        """jb's CleanLegacyName: an override equal to the default is not worth keeping."""
        if (
            self.legacy_name_override
            and self.legacy_name_override == self.source._default_legacy_name
        ):
            return replace(self, legacy_name_override="")
        return self


@dataclass(frozen=True)
class JsonnetFile:
    """A parsed jsonnetfile or lock. Dependency names are unique; order is file order."""

    dependencies: tuple[Dependency, ...] = ()
    legacy_imports: bool = True

    def get(self, name: str) -> Dependency | None:
        return next((d for d in self.dependencies if d.name == name), None)

    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dependencies)

    def with_dependency(self, dep: Dependency) -> JsonnetFile:
        """Set ``dep`` like jb's ordered map: replace the same name in place, else append."""
        deps = list(self.dependencies)
        for index, existing in enumerate(deps):
            if existing.name == dep.name:
                deps[index] = dep
                return replace(self, dependencies=tuple(deps))
        return replace(self, dependencies=(*deps, dep))

    def without(self, name: str) -> JsonnetFile:
        return replace(self, dependencies=tuple(d for d in self.dependencies if d.name != name))


# --------------------------------------------------------------------------- reading


class Trust(enum.Enum):
    """Who wrote a jsonnetfile, which decides what it may ask for (docs/security.md, class 4).

    ``TOP``: the project's own jsonnetfile.json and lock: any remote, local directories,
    multi-component legacy names. ``LOCAL``: the jsonnetfile of one of the project's own local
    packages: network remotes and local directories (confined by the stager), one-component
    names. ``DEPENDENCY``: the jsonnetfile.json of a git package: network remotes only (jb's
    https/ssh/git forms, written canonically), no local directory, one-component names. A
    third party therefore cannot make kpb read a local repository or path, nor place a legacy
    link anywhere but directly under ``vendor/``. A git package's lock is read by
    :func:`parse_pins`, which keeps only what such a package could name.
    """

    TOP = "top"
    LOCAL = "local"
    DEPENDENCY = "dependency"

    @staticmethod
    def below(parent: Dependency) -> Trust:
        """The trust of the jsonnetfile found inside the package ``parent``."""
        return Trust.LOCAL if parent.is_local else Trust.DEPENDENCY


class _Fields:
    """Typed access to one JSON object, with errors that carry the file and field path."""

    def __init__(self, obj: object, where: str, origin: str, trust: Trust) -> None:
        self.origin = origin
        self.trust = trust
        self.where = where
        if not isinstance(obj, dict):
            self.fail(f"expected an object, got {type_name(obj)}")
        self.obj: dict[str, Any] = obj

    def fail(self, problem: str, key: str = "") -> NoReturn:
        field = ".".join(part for part in (self.where, key) if part)
        raise ConfigError(f"{self.origin}: {field or 'top level'}: {problem}")

    def get(self, key: str, kind: type, default: Any) -> Any:
        """The value of ``key``; a missing key or ``null`` gives ``default`` (Go leaves zero)."""
        value = self.obj.get(key)
        if value is None:
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(f"expected {kind.__name__}, got {type_name(value)}", key)
        if isinstance(value, str) and not uri.is_text(value):
            # "\ud800" is valid JSON but not text: the file could never be written back
            self.fail("holds a lone surrogate escape (\\ud800-\\udfff), which is not text", key)
        return value

    def child(self, key: str) -> _Fields | None:
        value = self.obj.get(key)
        path = f"{self.where}.{key}" if self.where else key
        return None if value is None else _Fields(value, path, self.origin, self.trust)

    def check(self, key: str, value: str, checker: Callable[[str], _T]) -> _T:
        """Run ``checker`` on the field's value, prefixing its error with file and field."""
        try:
            return checker(value)
        except ConfigError as exc:
            self.fail(str(exc), key)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse(data: bytes, origin: str, *, trust: Trust) -> JsonnetFile:
    """Read a v0 or v1 jsonnetfile/lock; v0 is converted to v1 as jb converts it (each ``name``
    becomes the legacy-name override, subdirs are cleaned, ``legacyImports`` is on).

    ``trust`` says who wrote the file (:class:`Trust`); it has no default so that no caller
    can forget that a file from a package is not the user's.
    """
    if not data:
        return JsonnetFile()
    try:
        top = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{origin}: not valid JSON: {_one_line(str(exc))}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: not valid JSON: nested too deeply") from None
    fields = _Fields(top, "", origin, trust)
    version = fields.get("version", int, 0)
    if version not in (0, 1):
        shown = str(version) if abs(version) < 10**9 else "a huge number"
        fields.fail(f"{shown} is unknown (jsonnetfile version unknown, update kpb)", "version")
    entries = fields.get("dependencies", list, [])
    parsed = [
        _parse_dependency(_Fields(entry, f"dependencies[{i}]", origin, trust), v0=version == 0)
        for i, entry in enumerate(entries)
    ]
    if version == 0:
        parsed = _dedupe(parsed, lambda d: d.legacy_name_override, origin)
        return JsonnetFile(tuple(_dedupe(parsed, lambda d: d.name, origin)), True)
    legacy = fields.get("legacyImports", bool, True)
    return JsonnetFile(tuple(_dedupe(parsed, lambda d: d.name, origin)), legacy)


def parse_pins(data: bytes, origin: str) -> JsonnetFile:
    """A git package's own lock, read only for ``--upstream-pins``.

    Its entries are only ever version pins for dependencies with the very same source, and
    those come from files read at :attr:`Trust.DEPENDENCY`, so entries a dependency could not
    name (local directories, which kube-prometheus's own lock has, ``file://`` or path
    remotes) could never match: they are dropped rather than refused, and never reach git.
    """
    lock = parse(data, origin, trust=Trust.TOP)
    usable = tuple(
        dep
        for dep in lock.dependencies
        if isinstance(dep.source, GitSource) and not uri.is_verbatim_remote(dep.source.remote)
    )
    return replace(lock, dependencies=usable)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _dedupe(
    deps: Iterable[Dependency], key: Callable[[Dependency], str], origin: str
) -> list[Dependency]:
    """jb keeps entries in an ordered map: a repeated key replaces the earlier value in place."""
    result: dict[str, Dependency] = {}
    for dep in deps:
        if key(dep) in result:
            log.warning("%s: dependency %s is listed twice; the later entry wins", origin, key(dep))
        result[key(dep)] = dep
    return list(result.values())


def _parse_dependency(fields: _Fields, *, v0: bool) -> Dependency:
    source = fields.child("source")
    if source is None:
        fields.fail("dependency has no source (expected source.git or source.local)")
    version = fields.get("version", str, "")
    fields.check("version", version, uri.check_version)
    dep_sum = fields.get("sum", str, "")
    if dep_sum and not _SUM.fullmatch(dep_sum):
        fields.fail(f"{dep_sum[:60]!r} is not a base64 SHA-256 sum (44 characters)", "sum")
    name = fields.get("name", str, "")
    fields.check("name", name, uri.check_legacy_name)
    if fields.trust is not Trust.TOP and "/" in name:
        fields.fail(
            f"{name!r} must be one path component: a package's legacy name may only make "
            "a link directly under vendor/",
            "name",
        )
    single = False if v0 else fields.get("single", bool, False)
    return Dependency(_parse_source(source, v0=v0), version, dep_sum, single, name)


def _parse_source(fields: _Fields, *, v0: bool) -> Source:
    git, local = fields.child("git"), fields.child("local")
    if git is not None and local is not None:
        fields.fail("has both git and local; a dependency has exactly one source")
    if git is not None:
        checker = uri.canonical_remote if fields.trust is Trust.TOP else uri.network_remote
        remote = git.check("remote", git.get("remote", str, ""), checker)
        subdir = git.check("subdir", git.get("subdir", str, ""), uri.clean_subdir)
        source = GitSource(remote, subdir)
        git.check("subdir", source.name, _check_package_name)
        return source
    if local is not None:
        if fields.trust is Trust.DEPENDENCY:
            local.fail(
                "a package fetched with git may not name a local directory "
                "(only the project's own jsonnetfile and local packages may)"
            )
        directory = local.get("directory", str, "")
        # jb re-parses a v0 directory as an install argument, which cleans it; v1 keeps it.
        local_source = LocalSource(posixpath.normpath(directory) if v0 and directory else directory)
        local.check("directory", local_source.directory, lambda _: local_source.check())
        return local_source
    fields.fail("dependency has no source (expected source.git or source.local)")


def _check_package_name(name: str) -> None:
    """The name becomes ``vendor/<name>``: every component must be a real folder name."""
    if any(comp in ("", ".", "..") for comp in name.split("/")):
        raise ConfigError(f"package name {name!r} would leave vendor/")


def load(path: Path, *, missing_ok: bool) -> JsonnetFile:
    """Parse the project's own file at ``path``; a missing file is empty when ``missing_ok``."""
    data = _read_regular(path, missing_ok=missing_ok)
    return JsonnetFile() if data is None else parse(data, str(path), trust=Trust.TOP)


def _read_regular(path: Path, *, missing_ok: bool) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of at most :data:`_MAX_BYTES`.

    Opened without blocking and checked with ``fstat`` before reading, so a FIFO, a device or
    a directory is refused at once instead of hanging or reading forever. A committed link
    is followed only to a file inside the project's repository (:func:`_refuse_outside_link`).
    """
    _refuse_outside_link(path)
    try:
        return safefs.read_file(path, limit=_MAX_BYTES)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError(
            f"{path}: not found; 'kpb -C {path.parent} init --minimal' creates an empty one"
        ) from None
    except safefs.NotRegularError:
        raise ConfigError(f"{path}: not a regular file") from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise ConfigError(f"{path}: larger than {_MAX_BYTES >> 20} MiB") from None
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _refuse_outside_link(path: Path) -> None:
    """Refuse a project file that is a symlink leading out of the project's repository.

    A cloned project may commit ``jsonnetfile.json -> ~/.config/x.json``: reading it would read
    (and quote in error messages) a file the project has no business with. A link to another
    file of the same repository (a monorepo sharing one file) is still followed, like
    ``jsonnet/`` and ``environments/`` links (docs/security.md, project directories).
    """
    if not os.path.islink(path):
        return
    boundary = enclosing_repo_root(path.parent)
    real = Path(os.path.realpath(path))
    if real == boundary or boundary not in real.parents:
        raise ConfigError(
            f"{path}: is a symlink to {os.readlink(path)}, outside the repository {boundary}; "
            "kpb reads the project's files only inside it: replace the link with the file"
        )


# --------------------------------------------------------------------------- writing


def _dependency_json(dep: Dependency) -> dict[str, object]:
    source: dict[str, object]
    if isinstance(dep.source, GitSource):
        source = {"git": {"remote": dep.source.remote, "subdir": dep.source.subdir}}
    else:
        source = {"local": {"directory": dep.source.directory}}
    obj: dict[str, object] = {"source": source, "version": dep.version}
    if dep.sum:
        obj["sum"] = dep.sum
    if dep.single:
        obj["single"] = True
    override = dep._without_default_override().legacy_name_override
    if override:
        obj["name"] = override
    return obj


def normalized(jf: JsonnetFile, *, lock: bool) -> JsonnetFile:
    """What :func:`dumps` writes, as a model: default overrides dropped, locks not legacy."""
    deps = tuple(d._without_default_override() for d in jf.dependencies)
    return JsonnetFile(deps, False if lock else jf.legacy_imports)


def dumps(jf: JsonnetFile, *, lock: bool) -> bytes:
    """Serialise exactly as jb does: Go MarshalIndent, two spaces, one trailing newline.

    Dependencies are sorted by name with a stable sort; Python compares code points, which
    orders like Go's byte-wise comparison of UTF-8. A lock always says legacyImports false.
    """
    deps = sorted(jf.dependencies, key=lambda d: d.name)
    doc = {
        "version": 1,
        "dependencies": [_dependency_json(d) for d in deps],
        "legacyImports": False if lock else jf.legacy_imports,
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    text = _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], text)
    return (text + "\n").encode("utf-8")


def save_if_changed(path: Path, jf: JsonnetFile, *, lock: bool) -> bool:
    """Write ``jf`` unless the file already parses to the same model, in the same order.

    Like jb, a file that means the same but is formatted differently is left alone, and a
    file whose dependency order or redundant ``name`` fields differ is rewritten (sorted and
    cleaned). Returns True when the file was written.
    """
    target = normalized(jf, lock=lock)
    try:
        if parse(path.read_bytes(), str(path), trust=Trust.TOP) == target:
            return False
    except (OSError, ConfigError):
        pass
    atomic_write_bytes(path, dumps(target, lock=lock))
    return True
