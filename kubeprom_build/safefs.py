"""Reading a directory tree through file descriptors, so no symlink can lead out of it.

Path strings are checked once and then the file system changes under them (or a symlink
redirects them); a directory fd cannot be redirected. Every helper here opens a root once and
then works relative to it, one component at a time, with ``O_NOFOLLOW``: links are either
refused or resolved by this module against the tree itself, never by the kernel, so a link
that climbs above the root (``..`` past it, or an absolute target) is refused with ``EXDEV``,
as Linux's ``openat2(RESOLVE_BENEATH)`` would. Non-regular files (FIFOs, sockets, devices) are
reported by :class:`NotRegularError` and never opened for reading in a way that could block.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
#: Linux's limit on links followed while resolving one path.
MAX_HOPS = 40


class NotRegularError(OSError):
    """The entry exists but is not a regular file (a FIFO, socket, device or directory)."""


def open_dir(path: Path | str | bytes) -> int:
    """Open the directory ``path``; its last component must not be a symlink."""
    return os.open(path, DIR_FLAGS)


def split(rel: str | bytes) -> list[bytes]:
    """The components of a relative path as bytes (empty and ``.`` ones dropped)."""
    raw = os.fsencode(rel)
    if raw.startswith(b"/"):
        raise OSError(errno.EXDEV, "absolute path", rel)
    return [part for part in raw.split(b"/") if part not in (b"", b".")]


def open_beneath(
    root: int | Path | str,
    rel: str | bytes,
    flags: int = READ_FLAGS,
    *,
    follow_links: bool = False,
) -> int:
    """Open ``rel`` below ``root`` (an fd or a directory path) without leaving it.

    Without ``follow_links`` any symlink on the way is an error (``ELOOP``/``ENOTDIR``); with it,
    links are resolved against the tree beneath ``root`` and refused (``EXDEV``) when they are
    absolute or climb above ``root``. ``O_NOFOLLOW`` is always added: the kernel never follows a
    link, even one swapped in while we look.
    """
    root_fd = root if isinstance(root, int) else open_dir(root)
    try:
        return _open_parts(root_fd, split(rel), flags, follow_links)
    finally:
        if not isinstance(root, int):
            os.close(root_fd)


def _open_parts(root_fd: int, parts: list[bytes], flags: int, follow: bool) -> int:
    """Walk ``parts`` from ``root_fd``; a stack of directory fds makes ``..`` exact."""
    stack: list[int] = []  # fds of the directories entered below root
    todo = list(reversed(parts))
    hops = 0
    try:
        while todo:
            name = todo.pop()
            here = stack[-1] if stack else root_fd
            if name == b"..":
                if not stack:
                    raise OSError(errno.EXDEV, "path climbs above the root", name)
                os.close(stack.pop())
                continue
            last = not todo
            info = os.stat(name, dir_fd=here, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode) and follow:
                hops += 1
                if hops > MAX_HOPS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", name)
                todo.extend(reversed(split(os.readlink(name, dir_fd=here))))
                continue
            if last:
                return os.open(name, flags | os.O_NOFOLLOW | _CLOEXEC, dir_fd=here)
            stack.append(os.open(name, DIR_FLAGS, dir_fd=here))
        # ``rel`` named root itself (or a directory reached through ``..``).
        return os.open(b".", flags | _CLOEXEC, dir_fd=stack[-1] if stack else root_fd)
    finally:
        for fd in stack:
            os.close(fd)


def read_fd(fd: int, *, limit: int | None = None) -> bytes:
    """All bytes of the regular file open as ``fd`` (which is closed afterwards).

    Anything else raises :class:`NotRegularError` before a byte is read; ``limit`` bounds the
    size (``EFBIG``), so ``/dev/zero``-like input cannot exhaust memory.
    """
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularError(errno.EINVAL, f"not a regular file ({kind(info.st_mode)})")
        if limit is not None and info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:  # it grew while we read
                raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_file(path: Path | str, *, limit: int) -> bytes:
    """A file the caller chose by path: opened without blocking, read by :func:`read_fd`.

    A FIFO, device or directory raises :class:`NotRegularError` at once, a file over ``limit``
    bytes ``EFBIG``: no hang and no unbounded read, whatever the path names.
    """
    return read_fd(os.open(path, os.O_RDONLY | os.O_NONBLOCK | _CLOEXEC), limit=limit)


def read_beneath(
    root: int | Path | str,
    rel: str | bytes,
    *,
    follow_links: bool = False,
    limit: int | None = None,
) -> bytes:
    """The bytes of the regular file ``rel`` below ``root``; see :func:`open_beneath`."""
    return read_fd(open_beneath(root, rel, READ_FLAGS, follow_links=follow_links), limit=limit)


def kind(mode: int) -> str:
    """A word for what an ``st_mode`` is, for messages ("file", "FIFO", "directory", …)."""
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISLNK, "symlink"),
    ):
        if test(mode):
            return name
    return "special file"
