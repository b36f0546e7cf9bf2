"""Compare and atomically replace an output tree such as ``manifests/<env>/``.

The new tree is assembled in a sibling staging directory and swapped in with one rename, so a
reader (or a crash) sees either the old tree or the new one. Files whose bytes did not change
are hard-linked from the old tree into the staged one, so they keep their inode and mtime and
Make-style tools do not rebuild downstream targets; files of removed keys simply are not
carried over. When nothing differs the directory is not touched at all.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubeprom_build import fsutil
from kubeprom_build.errors import BuildError


@dataclass(frozen=True)
class TreeDiff:
    """How a rendered tree differs from the one on disk (paths relative to the tree)."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int

    @property
    def clean(self) -> bool:
        """True when the disk already holds exactly the rendered tree."""
        return not (self.added or self.changed or self.removed)


def read_tree(target: Path) -> dict[str, bytes | None]:
    """Every entry below ``target``: regular files with their bytes, anything else as None.

    Symlinks are never followed (a link planted in manifests/ must not make kpb read outside).
    """
    tree: dict[str, bytes | None] = {}
    if not target.is_dir() or target.is_symlink():
        return tree
    for dirpath, dirnames, filenames in os.walk(target):
        base = Path(dirpath)
        for name in filenames + [d for d in dirnames if (base / d).is_symlink()]:
            path = base / name
            rel = path.relative_to(target).as_posix()
            info = path.lstat()
            tree[rel] = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
    return tree


def compare(target: Path, files: Mapping[str, bytes]) -> TreeDiff:
    """Diff the rendered ``files`` against ``target`` without writing anything."""
    return _diff(read_tree(target), files)


def _diff(old: Mapping[str, bytes | None], files: Mapping[str, bytes]) -> TreeDiff:
    added = sorted(k for k in files if k not in old)
    changed = sorted(k for k in files if k in old and old[k] != files[k])
    removed = sorted(k for k in old if k not in files)
    unchanged = len(files) - len(added) - len(changed)
    return TreeDiff(tuple(added), tuple(changed), tuple(removed), unchanged)


def publish(target: Path, files: Mapping[str, bytes]) -> TreeDiff:
    """Make ``target`` hold exactly ``files``, atomically; unchanged files keep their mtime.

    The caller holds the tree's lock. On any failure the old tree is left as it was and the
    staging directory is removed (a kill -9 leaves it for :func:`fsutil.recover_dir`).
    """
    fsutil.recover_dir(target)
    old = read_tree(target)
    diff = _diff(old, files)
    if diff.clean and target.is_dir():
        return diff
    staged = fsutil.staging_dir(target)
    try:
        _fill(staged, target, files, old)
        fsutil.replace_dir(staged, target)
    except BaseException as err:
        fsutil.remove_tree(staged)
        if isinstance(err, OSError):
            raise _disk_error(target, err) from None
        raise
    return diff


def _fill(
    staged: Path, target: Path, files: Mapping[str, bytes], old: Mapping[str, bytes | None]
) -> None:
    os.chmod(staged, 0o755)  # noqa: S103 - mkdtemp makes it 0700; manifests are world-readable
    for rel, data in files.items():
        dest = staged / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if old.get(rel) == data and _link(target / rel, dest):
            continue
        with open(dest, "xb") as handle:
            handle.write(data)
        os.chmod(dest, 0o644)


def _link(source: Path, dest: Path) -> bool:
    """Carry an unchanged file over with its mtime: hard link, else a metadata-keeping copy."""
    try:
        os.link(source, dest)
        return True
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            raise
    shutil.copy2(source, dest)
    return True


def _disk_error(target: Path, err: OSError) -> BuildError:
    reason = "no space left on device" if err.errno == errno.ENOSPC else err.strerror
    return BuildError(
        f"writing {target} failed: {reason}; the previous {target.name}/ was left unchanged"
    )


def unified_diff(target: Path, files: Mapping[str, bytes], label: str) -> str:
    """A ``git diff``-like text of what publishing ``files`` to ``target`` would change."""
    import difflib  # here: only diffs need it

    old = read_tree(target)
    chunks: list[str] = []
    for rel in sorted(set(old) | set(files)):
        before, after = old.get(rel), files.get(rel)
        if before == after:
            continue
        chunks.extend(
            difflib.unified_diff(
                _lines(before),
                _lines(after),
                fromfile=f"a/{label}/{rel}" if rel in old else "/dev/null",
                tofile=f"b/{label}/{rel}" if after is not None else "/dev/null",
            )
        )
    return "".join(chunks)


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
