"""Atomic writes, directory swaps, confinement and the project lock."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kubeprom_build.errors import BusyError, ConfigError
from kubeprom_build.fsutil import (
    atomic_write_bytes,
    checked_dir,
    confined_join,
    enclosing_repo_root,
    ensure_dir,
    file_lock,
    recover_dir,
    replace_dir,
    staging_dir,
    state_dir,
)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "x", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_replace_dir_swaps_whole_tree(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.yaml").write_text("old")
    staged = staging_dir(target)
    (staged / "new.yaml").write_text("new")
    replace_dir(staged, target)
    assert [p.name for p in target.iterdir()] == ["new.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_recover_dir_restores_tree_moved_aside(tmp_path: Path) -> None:
    target = tmp_path / "out"
    aside = tmp_path / ".out.kpb-old-123"
    aside.mkdir()
    (aside / "keep").write_text("x")
    leftover = staging_dir(target)
    recover_dir(target)
    assert (target / "keep").read_text() == "x"
    assert not leftover.exists()


def test_recover_dir_never_restores_a_planted_link(tmp_path: Path) -> None:
    """A committed ``.out.kpb-old-1 -> ~`` must not become ``out`` (then written through)."""
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "out"
    (tmp_path / ".out.kpb-old-1").symlink_to(tmp_path / "elsewhere")
    recover_dir(target)
    assert not os.path.lexists(target)
    assert not os.path.lexists(tmp_path / ".out.kpb-old-1")
    assert (tmp_path / "elsewhere").is_dir()


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "a\x00b", "~root"])
def test_confined_join_rejects_escapes(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        confined_join(tmp_path, bad, "subdir")


def test_confined_join_rejects_symlink_escape(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(ConfigError, match="link/ is a symlink to /"):
        confined_join(tmp_path, "link/etc", "name")


def test_confined_join_rejects_a_linked_parent_even_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(ConfigError, match=r"link/ is a symlink to real \(="):
        confined_join(tmp_path, "link/pkg", "name", may_be_link=True)
    assert confined_join(tmp_path, "real/pkg", "name", may_be_link=True) == tmp_path / "real/pkg"


def test_enclosing_repo_root_finds_git_dir(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert enclosing_repo_root(nested) == tmp_path.resolve()


def test_file_lock_is_exclusive(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with file_lock(lock, "project"), pytest.raises(BusyError, match="project"):
        # flock locks are per open file description, so a second open in-process conflicts too.
        with file_lock(lock, "project"):
            pass


def test_state_dir_ignores_itself_in_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (state_dir(tmp_path) / "stamp").write_text("x")
    status = subprocess.run(
        ["git", "-C", str(tmp_path), "status", "--porcelain", "--untracked-files=all"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert status.stdout == ""


def test_confined_join_may_allow_the_entry_itself_to_be_a_link(tmp_path: Path) -> None:
    (tmp_path / "pkg").symlink_to("/")
    assert confined_join(tmp_path, "pkg", "name", may_be_link=True) == tmp_path / "pkg"
    (tmp_path / "dir").symlink_to("/")
    with pytest.raises(ConfigError, match="dir/ is a symlink to /"):
        confined_join(tmp_path, "dir/pkg", "name", may_be_link=True)


def test_ensure_dir_creates_real_dirs_and_refuses_any_link_on_the_way(tmp_path: Path) -> None:
    made = ensure_dir(tmp_path, "a/b/c", "(why)")
    assert made == tmp_path / "a/b/c" and made.is_dir() and not made.is_symlink()
    (tmp_path / "real").mkdir()
    (tmp_path / "a/link").symlink_to(tmp_path / "real")
    for rel in ("a/link", "a/link/new"):
        with pytest.raises(ConfigError, match=r"^a/link/ is a symlink to .*real; .*\(why\)$"):
            ensure_dir(tmp_path, rel, "(why)")
    assert list((tmp_path / "real").iterdir()) == []
    (tmp_path / "a/file").write_text("x")
    with pytest.raises(ConfigError, match="a/file/ is not a directory"):
        checked_dir(tmp_path, "a/file/x", "(why)")
    assert checked_dir(tmp_path, "missing/x", "(why)") == tmp_path / "missing/x"
    assert not (tmp_path / "missing").exists()
