"""safefs opens and reads below a root without ever letting a symlink lead out of it."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeprom_build import safefs


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A package beside a secret; links inside it of every kind."""
    (tmp_path / "secret").write_bytes(b"SECRET")
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "f").write_bytes(b"F")
    (pkg / "to-f").symlink_to("sub/f")
    (pkg / "to-sub").symlink_to("sub")
    (pkg / "l0").symlink_to(".")
    (pkg / "d1").symlink_to("l0/..")  # looks internal, climbs out
    (pkg / "abs").symlink_to(tmp_path / "secret")
    (pkg / "sub" / "up").symlink_to("../to-f")
    return pkg


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail instead of blocking forever (a FIFO opened for reading would)."""

    def _alarm(signum: int, frame: object) -> None:
        raise TimeoutError("blocked")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_reads_regular_files_and_follows_internal_links_only_when_asked(root: Path) -> None:
    assert safefs.read_beneath(root, "sub/f") == b"F"
    assert safefs.read_beneath(root, "sub/up", follow_links=True) == b"F"
    assert safefs.read_beneath(root, "to-sub/f", follow_links=True) == b"F"
    assert safefs.read_beneath(root, "l0/l0/sub/../to-f", follow_links=True) == b"F"
    for rel in ("to-f", "to-sub/f", "sub/up"):
        with pytest.raises(OSError) as info:
            safefs.read_beneath(root, rel)
        assert info.value.errno in (errno.ELOOP, errno.ENOTDIR)


@pytest.mark.parametrize("rel", ["abs", "d1/secret", "../secret", "/etc/passwd", "sub/../.."])
def test_links_and_paths_leaving_the_root_are_refused(root: Path, rel: str) -> None:
    with pytest.raises(OSError) as info:
        safefs.read_beneath(root, rel, follow_links=True)
    assert info.value.errno == errno.EXDEV


def test_link_loop_stops(root: Path) -> None:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(OSError) as info:
        safefs.read_beneath(root, "a", follow_links=True)
    assert info.value.errno == errno.ELOOP


@pytest.mark.usefixtures("no_hang")
def test_fifo_and_directory_are_reported_never_read(root: Path) -> None:
    os.mkfifo(root / "fifo")
    (root / "to-fifo").symlink_to("fifo")
    for rel, kind in (("fifo", "FIFO"), ("to-fifo", "FIFO"), ("sub", "directory")):
        with pytest.raises(safefs.NotRegularError, match=kind):
            safefs.read_beneath(root, rel, follow_links=True)


def test_root_that_is_a_link_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(root)
    with pytest.raises(OSError):
        safefs.open_dir(tmp_path / "alias")
