"""Writing a package's tar stream (``git archive``) into its directory, whatever the tree holds.

A git tree may come from any host, crafted entry by entry: symlink chains that each look
internal (``l0 -> .``, ``d1 -> l0/..``) but climb out together, a symlink and a directory of
the same name, duplicate entries, ``.git`` directories, over-long or non-UTF-8 names. Checking
path strings cannot stop a write that runs through a link extracted a moment earlier, so
safety here is by construction:

- the destination is opened once; every parent is entered with ``O_DIRECTORY|O_NOFOLLOW``
  relative to its own parent's fd, files are created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and
  links with ``symlinkat``: no path with a ``/`` reaches the kernel, and the kernel never
  follows a link while we write;
- a member is written only through directories this extraction created (never through a link);
- every symlink is judged by resolving it against the tree extracted so far (an in-memory map,
  links followed, missing names taken as directories yet to come), and all of them again at
  the end, when later members can no longer change what an earlier dangling link means.

Anything that cannot be written safely ends the extraction with one line naming the package
(``what``) and the path; the caller removes the half-written directory.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Literal

from kubeprom_build import safefs
from kubeprom_build.errors import ConfigError, GitError

_Kind = Literal["directory", "file", "symlink"]
_Parts = tuple[str, ...]
#: The common NAME_MAX: a longer component cannot be written on most file systems.
_NAME_MAX = 255
#: Below PATH_MAX: a deeper package could not be read by path (jsonnet, git, editors) and
#: would cost one open directory fd per level here.
_PATH_MAX = 4000
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def extract(stream: IO[bytes], dest: Path, what: str) -> None:
    """Write the tar ``stream`` into the existing empty directory ``dest``.

    Only directories, regular files (mode 0644, or 0755 when any exec bit is set) and symlinks
    that stay inside ``dest`` are written; other member types (git never makes them) are
    skipped. Raises :class:`ConfigError` for a tree that cannot be written safely and
    :class:`GitError` when the file system refuses a write; :class:`tarfile.TarError` from a
    broken stream is left to the caller, who knows why the stream broke.
    """
    writer = _Writer(safefs.open_dir(dest), what)
    try:
        with tarfile.open(
            fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape"
        ) as tar:
            for member in tar:
                writer.add(tar, member)
        writer.check_all_links()
    finally:
        writer.close()


class _Writer:
    """The extraction state: the root fd, the map of what was written, the open parents."""

    def __init__(self, root: int, what: str) -> None:
        self.root = root
        self.what = what
        self.kinds: dict[_Parts, _Kind] = {(): "directory"}
        self.links: dict[_Parts, str] = {}
        self.implicit: set[_Parts] = set()  # parents created before their own member came
        self.folded_links: dict[_Parts, _Parts] = {}
        self.open: list[tuple[str, int]] = []  # the directory fds of the current parent

    def close(self) -> None:
        self._enter_prefix(0)
        os.close(self.root)

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.what}: {message}")

    # ------------------------------------------------------------------ members

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        kind: _Kind | None = (
            "directory"
            if member.isdir()
            else "file"
            if member.isreg()
            else "symlink"
            if member.issym()
            else None
        )
        if kind is None:  # hard links, devices, global headers: git archive writes none
            return
        parts = self._check_name(member.name)
        try:
            self._add(tar, member, parts, kind)
        except OSError as exc:
            raise GitError(
                f"{self.what}: cannot write {_show(member.name)}: {exc.strerror or exc}"
            ) from None

    def _add(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: _Parts, kind: _Kind
    ) -> None:
        parent = self._parent(parts)
        name = parts[-1].encode()
        if self._exists(parts, kind):
            return
        if kind == "directory":
            os.mkdir(name, 0o777, dir_fd=parent)
        elif kind == "file":
            self._write_file(tar, member, parent, name)
        else:
            self._add_link(parts, member.linkname, parent, name)
        self.kinds[parts] = kind

    def _exists(self, parts: _Parts, kind: _Kind) -> bool:
        """Refuse a second entry of one name; a directory made early for a child is fine."""
        before = self.kinds.get(parts)
        if before is None:
            return False
        if before == kind == "directory" and parts in self.implicit:
            self.implicit.discard(parts)
            return True
        path = _show("/".join(parts))
        if before == kind:
            raise self.fail(f"{path} appears twice in the tree")
        raise self.fail(f"{path} is both a {before} and a {kind} in the tree")

    @staticmethod
    def _write_file(
        tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: bytes
    ) -> None:
        mode = 0o755 if member.mode & 0o111 else 0o644
        source = tar.extractfile(member)
        assert source is not None
        fd = os.open(name, _CREATE, mode, dir_fd=parent)
        with source, open(fd, "wb", closefd=True) as out:
            shutil.copyfileobj(source, out, 1 << 20)
            os.fchmod(fd, mode)  # exact mode, whatever the umask

    def _add_link(self, parts: _Parts, target: str, parent: int, name: bytes) -> None:
        path = "/".join(parts)
        if not target or not _is_text(target):
            raise self.fail(f"symlink {_show(path)} has an unusable target {_show(target)}")
        self.links[parts] = target
        self.folded_links[_fold(parts)] = parts
        self.kinds[parts] = "symlink"
        self._check_link(parts)
        os.symlink(target.encode(), name, dir_fd=parent)

    # ------------------------------------------------------------------ names and parents

    def _check_name(self, name: str) -> _Parts:
        """The member's path as components, or a refusal naming it."""
        parts = tuple(name.split("/"))
        shown = _show(name)
        if not name or any(p in ("", ".", "..") for p in parts):
            raise self.fail(f"unsafe path {shown} in the tree")
        if any(p.casefold() == ".git" for p in parts):
            raise self.fail(f"{shown}: a .git entry inside a package is refused")
        if not _is_text(name):
            raise self.fail(f"{shown}: the name is not UTF-8 text or holds a control character")
        if any(len(p.encode()) > _NAME_MAX for p in parts):
            raise self.fail(f"{shown}: a name is longer than {_NAME_MAX} bytes")
        if len(name.encode()) > _PATH_MAX:
            raise self.fail(f"{shown[:80]}...: the path is longer than {_PATH_MAX} bytes")
        return parts

    def _parent(self, parts: _Parts) -> int:
        """The fd of ``parts``' parent, entered one real directory at a time.

        Consecutive members share parents (git archives in tree order), so the open chain is
        kept and only the differing tail is re-entered.
        """
        parent = parts[:-1]
        keep = 0
        while keep < min(len(self.open), len(parent)) and self.open[keep][0] == parent[keep]:
            keep += 1
        self._enter_prefix(keep)
        for depth in range(keep, len(parent)):
            here = parent[: depth + 1]
            fd = self.open[-1][1] if self.open else self.root
            kind = self.kinds.get(here)
            if kind is None:
                os.mkdir(here[-1].encode(), 0o777, dir_fd=fd)
                self.kinds[here] = "directory"
                self.implicit.add(here)
            elif kind != "directory":
                raise self.fail(
                    f"{_show('/'.join(parts))} would be written through the {kind} "
                    f"{_show('/'.join(here))}"
                )
            self.open.append((here[-1], os.open(here[-1].encode(), safefs.DIR_FLAGS, dir_fd=fd)))
        return self.open[-1][1] if self.open else self.root

    def _enter_prefix(self, keep: int) -> None:
        while len(self.open) > keep:
            os.close(self.open.pop()[1])

    # ------------------------------------------------------------------ symlinks

    def check_all_links(self) -> None:
        """Judge every link again against the finished tree (a later member may have given
        an earlier dangling link a new meaning)."""
        for parts in self.links:
            self._check_link(parts)

    def _check_link(self, parts: _Parts) -> None:
        reason = self._escape(parts)
        if reason:
            target = _show(self.links[parts])
            raise self.fail(
                f"symlink {_show('/'.join(parts))} points outside the package ({target}: {reason})"
            )

    def _escape(self, link: _Parts) -> str:
        """Why resolving ``link`` in the tree could leave the package ("" when it cannot).

        Links met on the way are followed (at most :data:`safefs.MAX_HOPS`); a name not in the
        tree, or a name below a file, is taken as a directory that could still appear, so a
        dangling link passes only if it stays inside whatever is created later.
        """
        if self.links[link].startswith("/"):
            return "absolute target"
        here = list(link[:-1])
        todo = list(reversed(self.links[link].split("/")))
        hops = 0
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if not here:
                    return "climbs above the package root"
                here.pop()
                continue
            here.append(name)
            found = self._link_at(tuple(here))
            if found is None:
                continue
            hops += 1
            if hops > safefs.MAX_HOPS:
                return "too many levels of symbolic links"
            target = self.links[found]
            if target.startswith("/"):
                return f"through the absolute symlink {_show('/'.join(found))}"
            here[:] = found[:-1]
            todo.extend(reversed(target.split("/")))
        return ""

    def _link_at(self, parts: _Parts) -> _Parts | None:
        """The link ``parts`` names, also when it differs only in case or Unicode form: on a
        case-insensitive file system (macOS, Windows) the kernel would follow that one."""
        kind = self.kinds.get(parts)
        if kind is not None:  # the exact name wins where both can exist
            return parts if kind == "symlink" else None
        return self.folded_links.get(_fold(parts))


def _fold(parts: Iterable[str]) -> _Parts:
    return tuple(unicodedata.normalize("NFC", p).casefold() for p in parts)


def _is_text(value: str) -> bool:
    """Valid UTF-8 (tarfile hands undecodable bytes over as surrogates), no control chars."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" for c in value)  # C0, DEL and C1


def _show(value: str) -> str:
    """``value`` as it can be printed on one line: quoted and escaped if it must be."""
    return value if _is_text(value) and value.isprintable() else ascii(value)
