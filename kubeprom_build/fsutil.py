"""File-system primitives shared by vendoring and building.

Everything kpb replaces on disk goes through here so that one set of functions carries the
guarantees: build beside the target, publish with a rename, never leave half-written state,
never write or read outside the directory the caller confined us to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from kubeprom_build.errors import BusyError, ConfigError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: Marks every temporary file or directory kpb creates (``.<target>.kpb-tmp-*`` beside a target,
#: ``vendor/.kpb-tmp-*`` for staged packages), so a killed run's leftovers are found and removed.
STAGING_PREFIX = ".kpb-tmp-"
_OLD_MARK = ".kpb-old-"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` via a temp file and ``os.replace``: readers never see a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{STAGING_PREFIX}", dir=path.parent)
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
    return Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_PREFIX}", dir=target.parent))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    import ctypes.util  # here: it loads subprocess, which read-only commands never need

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
            if not os.path.lexists(target) and _is_real_dir(entry):  # never restore a link
                os.rename(entry, target)
            else:
                remove_tree(entry)
        elif name.startswith(f".{target.name}{STAGING_PREFIX}"):
            remove_tree(entry)


def _is_real_dir(path: Path) -> bool:
    return stat.S_ISDIR(os.lstat(path).st_mode)


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

    The directories between ``base`` and the entry must be real directories (checked with
    ``lstat``, never followed): a committed ``vendor/github.com -> /`` is refused, even one
    that points back inside ``base``. With ``may_be_link`` the entry itself may be a symlink
    that points elsewhere (vendor/'s local packages and legacy links are).
    """
    parts = check_relative(rel, what).parts
    _refuse_linked_parents(base, parts[:-1], what)
    joined = base.joinpath(*parts)
    checked = joined.parent if may_be_link else joined
    if not is_within(checked, base):
        raise ConfigError(f"{what}: {rel!r} resolves outside {base}")
    return joined


def _refuse_linked_parents(base: Path, parents: tuple[str, ...], what: str) -> None:
    current = base
    for depth, name in enumerate(parents, start=1):
        current = current / name
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return  # nothing below a missing directory exists yet
        if stat.S_ISLNK(info.st_mode):
            shown = "/".join((base.name, *parents[:depth]))
            raise ConfigError(
                f"{what}: {shown}/ is a symlink to {_link_text(current)}; {_REAL_DIRS}: "
                "remove the link"
            )


def _link_text(link: Path) -> str:
    """Where a link points: its text, plus the absolute place when the text is relative."""
    text = os.readlink(link)
    if os.path.isabs(text):
        return text
    return f"{text} (= {os.path.normpath(link.parent / text)})"


# --------------------------------------------------------------------------- project directories
#
# A cloned project may commit any of its directories as a symlink (to /, to $HOME, to the project
# itself). kpb writes, deletes and reads there, so each one is checked component by component
# from the (resolved once) project root: opened relative to its parent's fd with O_NOFOLLOW, so
# a link is refused, never followed. Concurrent local attackers are out of scope (the threat is
# committed content): later operations use the checked path.

_REAL_DIRS = "kpb works only in real directories inside the project"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def checked_dir(project: Path, rel: str, why: str, *, create: bool = False) -> Path:
    """``project/rel`` once every existing component is proven a real directory, not a link.

    With ``create`` missing components are made (``mkdir`` relative to the checked parent's fd);
    without, the walk stops at the first missing one (nothing below it exists to follow).
    ``why`` ends the refusal and says what to do, e.g. "(vendor/ is generated: ...)".
    """
    parts = check_relative(rel, f"directory {rel}").parts
    fd = os.open(project, _DIR_FLAGS)  # the root itself may be reached through a link
    try:
        for depth, name in enumerate(parts, start=1):
            shown = "/".join(parts[:depth])
            try:
                child = _open_dir(fd, name, create=create)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
                    raise
                raise _refusal(project.joinpath(*parts[:depth]), shown, why) from None
            if child is None:
                break
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return project.joinpath(*parts)


def ensure_dir(project: Path, rel: str, why: str) -> Path:
    """:func:`checked_dir` that creates what is missing: ``project/rel`` is then a real dir."""
    return checked_dir(project, rel, why, create=True)


def _open_dir(parent_fd: int, name: str, *, create: bool) -> int | None:
    """Open ``name`` below ``parent_fd`` without following a link; None when missing."""
    flags = _DIR_FLAGS | os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            return None
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=parent_fd)
    return os.open(name, flags, dir_fd=parent_fd)


def _refusal(path: Path, shown: str, why: str) -> ConfigError:
    if path.is_symlink():
        return ConfigError(
            f"{shown}/ is a symlink to {_link_text(path)}; {_REAL_DIRS}: remove the link {why}"
        )
    return ConfigError(f"{shown}/ is not a directory; {_REAL_DIRS}: remove it {why}")


def checked_source_dir(project: Path, rel: str, boundary: Path) -> Path:
    """``project/rel`` for reading sources: every link on the way must stay in ``boundary``.

    ``jsonnet/`` and ``environments/`` are the project's own sources; a monorepo may point them
    at a directory elsewhere in the same repository, but a link resolving outside the (real)
    repository root, or nowhere, is refused, so ``jsonnet -> /`` cannot widen what imports read.
    """
    root = Path(os.path.realpath(boundary))
    current = project
    for depth, name in enumerate(check_relative(rel, f"directory {rel}").parts, start=1):
        current = current / name
        shown = "/".join(PurePosixPath(rel).parts[:depth])
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            break
        if stat.S_ISLNK(info.st_mode):
            real = Path(os.path.realpath(current))
            if not real.is_dir():
                raise ConfigError(
                    f"{shown}/ is a symlink to {_link_text(current)}, which is not a directory; "
                    f"remove the link or make {shown}/ a real directory"
                )
            if real != root and root not in real.parents:
                raise ConfigError(
                    f"{shown}/ is a symlink to {_link_text(current)}, outside the repository "
                    f"{root}; kpb reads project files only inside it: put the files in the "
                    "repository, or pass a directory you trust explicitly with -J"
                )
            current = real
        elif not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{shown}/ is not a directory; make it one (or remove it)")
    return project / rel


STATE_DIR_NAME = ".kpb"
_STATE_WHY = "(.kpb/ is kpb's local state; it is recreated)"
_STATE_SUBDIRS = ("locks", "build")

#: Directories --vendor-dir may never be, nor lie inside: pruning would delete what they hold.
_RESERVED_TREES = {
    ".git": "git's repository data",
    STATE_DIR_NAME: "kpb's state",
    "manifests": "the build output",
}
#: Sources --vendor-dir may not be (a vendor dir inside them, like jsonnet/vendor, is fine).
_SOURCE_DIRS = ("jsonnet", "environments")
#: What marks a directory as a project (or a repository), never a vendor dir.
_PROJECT_MARKERS = (".git", *_SOURCE_DIRS, "jsonnetfile.json", "jsonnetfile.lock.json")


#: A newline (``'vendor\n'`` from a script) or undecodable bytes make a directory nobody meant.
_CONTROL_OR_UNDECODABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def check_vendor_dir(project: Path, vendor_dir: Path | str) -> Path:
    """The vendor dir below ``project`` after proving kpb may prune it.

    Every command calls this before touching anything: ``kpb vendor`` deletes whatever in the
    vendor dir is not a locked package, so it must be a real directory of its own (no link on
    the way) and not the project, its sources, its output, its state or another repository.
    """
    given = str(vendor_dir)
    if _CONTROL_OR_UNDECODABLE.search(given):
        raise ConfigError(
            f"--vendor-dir {given!r} holds a control character or bytes that are not UTF-8; "
            "use a plain directory name, such as vendor"
        )
    path = Path(vendor_dir)
    if path.is_absolute():
        try:
            path = path.relative_to(project)
        except ValueError:
            raise ConfigError(
                f"--vendor-dir {given!r} must be a relative path inside the project"
            ) from None
    if ".." in path.parts:
        raise ConfigError(f"--vendor-dir {given!r} must be a relative path inside the project")
    rel = path.as_posix()
    use = "use a directory of its own, such as vendor"
    if rel == ".":
        raise ConfigError(
            f"--vendor-dir {given!r} is the project directory itself; 'kpb vendor' would prune "
            f"the whole project: {use}"
        )
    top = path.parts[0]
    if top in _RESERVED_TREES:
        raise ConfigError(
            f"--vendor-dir {given!r} is inside {top}/ ({_RESERVED_TREES[top]}); {use}"
        )
    if rel in _SOURCE_DIRS:
        raise ConfigError(
            f"--vendor-dir {given!r} holds the project's {rel}/ sources, which pruning would "
            f"delete; {use}"
        )
    checked = checked_dir(project, rel, f"({rel}/ is generated: 'kpb vendor' recreates it)")
    for marker in _PROJECT_MARKERS:
        if os.path.lexists(checked / marker):
            raise ConfigError(
                f"--vendor-dir {given!r} holds {marker}, so it is a project or repository, not "
                f"a vendor directory, and pruning would delete it; {use}"
            )
    return checked


def enclosing_repo_root(start: Path) -> Path:
    """The git work tree holding ``start``, else ``start`` itself: the boundary for reads.

    A work tree at the home directory or above it (a dotfiles repository at ``$HOME``) is not
    a project's repository: taking it would let imports read ``~/.ssh``, so the project itself
    is the boundary then.
    """
    start = start.resolve()
    home = Path(os.path.realpath(os.path.expanduser("~")))
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return start if candidate == home or candidate in home.parents else candidate
    return start


def state_dir(project: Path, *, create: bool = True) -> Path:
    """The project's private ``.kpb/`` directory (locks, build stamps), created on first use.

    ``.kpb/``, ``.kpb/locks`` and ``.kpb/build`` are all checked to be real directories before
    any of them is created, so a committed ``.kpb -> ~`` is refused without a write. Without
    ``create`` (``build --check`` reads stamps) nothing is created. It carries its own
    ``.gitignore`` so users never commit it by accident, whatever their repository's ignore
    rules say.
    """
    names = (STATE_DIR_NAME, *(f"{STATE_DIR_NAME}/{sub}" for sub in _STATE_SUBDIRS))
    for name in names:
        checked_dir(project, name, _STATE_WHY)
    path = project / STATE_DIR_NAME
    if not create:
        return path
    for name in names:
        ensure_dir(project, name, _STATE_WHY)
    ignore = path / ".gitignore"
    if not os.path.lexists(ignore):
        atomic_write_bytes(ignore, b"# Created by kpb: local state, never committed.\n*\n")
    return path


def read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file; a link, FIFO or device raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return handle.read()


@contextlib.contextmanager
def file_lock(lock_path: Path, what: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` for the duration of the block.

    Waits up to ``wait_seconds`` for another holder, then fails with a message naming ``what``.
    The kernel drops the lock when the process dies, so a crash never leaves the project stuck.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:  # O_NOFOLLOW: O_CREAT through a committed dangling link would create its target
        fd = os.open(lock_path, flags, 0o644)
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
        raise ConfigError(
            f"{lock_path} is a symlink, not a lock file; {_REAL_DIRS}: remove the link"
        ) from None
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
                        "wait for it to finish or pass --wait SECONDS"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def lock_if_free(lock_path: Path) -> Iterator[bool]:
    """Hold the lock file at ``lock_path`` if it exists and nobody holds it; yields whether.

    For the no-op answers (``vendoring.noop``, ``rendering.pipeline.unchanged_environments``):
    they never wait and never create a file; "no" sends the caller to the real command, which waits,
    reports a busy project or creates what is missing.
    """
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
