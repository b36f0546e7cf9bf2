"""File-system primitives shared by vendoring and building.

Everything kpb replaces on disk goes through here so that one set of functions carries the
guarantees: build beside the target, publish with a rename, never leave half-written state,
never write or read outside the directory the caller confined us to.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from kubeprom_build.errors import BusyError, ConfigError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_TMP_MARK = ".kpb-tmp-"
_OLD_MARK = ".kpb-old-"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` via a temp file and ``os.replace``: readers never see a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{_TMP_MARK}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def staging_dir(target: Path) -> Path:
    """Create an empty sibling directory of ``target`` to build its replacement in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_MARK}", dir=target.parent))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def replace_dir(staged: Path, target: Path) -> None:
    """Publish ``staged`` as ``target``; the old ``target`` (if any) is removed afterwards.

    On Linux the swap is one atomic exchange. Elsewhere the old tree is first renamed aside; if
    the process dies between the two renames, :func:`recover_dir` puts it back on the next run.
    """
    if not target.exists() and not target.is_symlink():
        os.rename(staged, target)
        return
    if _exchange(staged, target):
        remove_tree(staged)
        return
    aside = target.parent / f".{target.name}{_OLD_MARK}{os.getpid()}"
    os.rename(target, aside)
    os.rename(staged, target)
    remove_tree(aside)


def recover_dir(target: Path) -> None:
    """Undo what an interrupted :func:`replace_dir`/:func:`staging_dir` left beside ``target``."""
    parent = target.parent
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        name = entry.name
        if name.startswith(f".{target.name}{_OLD_MARK}"):
            if not target.exists():
                os.rename(entry, target)
            else:
                remove_tree(entry)
        elif name.startswith(f".{target.name}{_TMP_MARK}"):
            remove_tree(entry)


def remove_tree(path: Path) -> None:
    """Delete a file, symlink or directory tree without following symlinks out of it."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def check_relative(rel: str, what: str) -> PurePosixPath:
    """Validate a relative path that comes from untrusted input (lock, jsonnet output, subdir).

    Rejects empty, absolute, ``..``, backslash and NUL so the value cannot name anything
    outside the directory it will be joined to. ``what`` names the field in the error.
    """
    if not rel or "\x00" in rel or "\\" in rel:
        raise ConfigError(f"{what}: {rel!r} is not a valid relative path")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or rel.startswith("~"):
        raise ConfigError(f"{what}: {rel!r} must be a relative path inside its directory")
    return pure


def is_within(path: Path, base: Path) -> bool:
    """True when ``path`` (symlinks resolved) is ``base`` or lies below it."""
    resolved = path.resolve()
    root = base.resolve()
    return resolved == root or root in resolved.parents


def confined_join(base: Path, rel: str, what: str, *, may_be_link: bool = False) -> Path:
    """Join an untrusted relative path to ``base`` and prove the result stays inside it.

    With ``may_be_link`` the entry itself may be a symlink that points elsewhere (vendor/'s
    local packages and legacy links are), so only the directories leading to it must resolve
    inside ``base``.
    """
    joined = base.joinpath(*check_relative(rel, what).parts)
    checked = joined.parent if may_be_link else joined
    if not is_within(checked, base):
        raise ConfigError(f"{what}: {rel!r} resolves outside {base}")
    return joined


def enclosing_repo_root(start: Path) -> Path:
    """The git work tree holding ``start``, else ``start`` itself: the boundary for reads."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


STATE_DIR_NAME = ".kpb"


def state_dir(project: Path) -> Path:
    """The project's private ``.kpb/`` directory (locks, build stamps), created on first use.

    It carries its own ``.gitignore`` so users never commit it by accident, whatever their
    repository's ignore rules say.
    """
    path = project / STATE_DIR_NAME
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        atomic_write_bytes(ignore, b"# Created by kpb: local state, never committed.\n*\n")
    return path


@contextlib.contextmanager
def file_lock(lock_path: Path, what: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` for the duration of the block.

    Waits up to ``wait_seconds`` for another holder, then fails with a message naming ``what``.
    The kernel drops the lock when the process dies, so a crash never leaves the project stuck.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(
                        f"{what} is locked by another kpb process ({lock_path}); "
                        "wait for it to finish or use --wait"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)
