"""Package sums must equal jb's hashDir bit for bit.

Expected values are computed here from the spec by hand-listing file contents in the order
Go's filepath.Walk visits them, never by calling the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from kubeprom_build.vendoring import jsonnetfile
from kubeprom_build.vendoring.checksum import EMPTY_SUM, dir_sum
from tests.helpers.realworld import SKIP_REASON, kube_prometheus_dir


def expected_sum(*contents: bytes) -> str:
    return base64.b64encode(hashlib.sha256(b"".join(contents)).digest()).decode()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A tree where Walk order, full-path order and git tree order all differ."""
    root = tmp_path / "pkg"
    write(root / "a" / "x", b"A-X\n")
    write(root / "a-b" / "x", b"AB-X\n")
    write(root / "a.txt", b"A-TXT\n")
    (root / "b").mkdir()  # empty directory: contributes nothing
    write(root / "c" / "empty", b"")
    write(root / "c" / "d" / "e", b"CDE")
    (root / "link-file").symlink_to("a.txt")
    return root


def test_golden_sum_follows_walk_order(package: Path) -> None:
    # Root entries sorted byte-wise: a, a-b, a.txt, b, c, link-file ('-' < '.' < '/').
    # In c: "d" < "empty", so d/e comes first. link-file hashes the bytes of a.txt.
    walk_order = expected_sum(b"A-X\n", b"AB-X\n", b"A-TXT\n", b"CDE", b"", b"A-TXT\n")
    assert dir_sum(package) == walk_order
    # Git tree order (a-b/, a.txt, a/) gives another sum, so the test can tell them apart.
    git_order = expected_sum(b"AB-X\n", b"A-TXT\n", b"A-X\n", b"CDE", b"", b"A-TXT\n")
    assert walk_order != git_order


def test_symlink_to_directory_ends_the_walk_keeping_earlier_bytes(package: Path) -> None:
    (package / "m-link-dir").symlink_to("a")
    write(package / "z-after", b"NEVER HASHED")
    # link-file < m-link-dir < z-after: everything up to link-file, then the walk stops.
    assert dir_sum(package) == expected_sum(
        b"A-X\n", b"AB-X\n", b"A-TXT\n", b"CDE", b"", b"A-TXT\n"
    )


def test_dangling_symlink_ends_the_walk(tmp_path: Path) -> None:
    write(tmp_path / "p" / "a", b"first")
    (tmp_path / "p" / "b").symlink_to("missing")
    write(tmp_path / "p" / "c", b"never")
    assert dir_sum(tmp_path / "p") == expected_sum(b"first")


def test_names_modes_and_empty_files_are_not_hashed(package: Path) -> None:
    before = dir_sum(package)
    (package / "c" / "empty").rename(package / "c" / "empty-renamed")
    write(package / "c" / "zzz-new-empty", b"")
    (package / "a.txt").chmod(0o600)
    (package / "b" / "nested-empty").mkdir()
    assert dir_sum(package) == before


def test_content_change_changes_the_sum(package: Path) -> None:
    before = dir_sum(package)
    write(package / "c" / "d" / "e", b"CDF")
    assert dir_sum(package) != before


def test_missing_directory_hashes_empty_input(tmp_path: Path) -> None:
    assert EMPTY_SUM == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert dir_sum(tmp_path / "nope") == EMPTY_SUM


def test_root_symlink_to_directory_hashes_nothing(package: Path, tmp_path: Path) -> None:
    """jb lstats the root: a symlinked package (local deps) is opened as a file and fails."""
    (tmp_path / "link").symlink_to(package)
    assert dir_sum(tmp_path / "link") == EMPTY_SUM


def test_names_sort_by_bytes_not_by_decoded_text(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    # U+FF21 is b"\xef\xbc\xa1"; the undecodable b"\xf0" sorts after it byte-wise, but a
    # surrogate-escaped str ("\udcf0") would sort before it.
    write(root / "\uff21", b"1")
    fd = os.open(os.fsencode(root) + b"/\xf0", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"2")
    os.close(fd)
    assert dir_sum(root) == expected_sum(b"1", b"2")


def test_symlink_leaving_the_package_is_not_read(tmp_path: Path) -> None:
    write(tmp_path / "secret", b"outside")
    write(tmp_path / "p" / "a", b"inside")
    (tmp_path / "p" / "b").symlink_to(tmp_path / "secret")
    write(tmp_path / "p" / "c", b"after")
    assert dir_sum(tmp_path / "p") == expected_sum(b"inside")


def test_fifo_ends_the_walk_instead_of_blocking(tmp_path: Path) -> None:
    write(tmp_path / "p" / "a", b"inside")
    os.mkfifo(tmp_path / "p" / "b")
    write(tmp_path / "p" / "c", b"after")
    assert dir_sum(tmp_path / "p") == expected_sum(b"inside")


def test_symlink_inside_the_package_to_a_nested_file(tmp_path: Path) -> None:
    write(tmp_path / "p" / "deep" / "f", b"F")
    (tmp_path / "p" / "a-link").symlink_to("deep/f")
    assert dir_sum(tmp_path / "p") == expected_sum(b"F", b"F")


REALWORLD = str(kube_prometheus_dir() or "")


@pytest.mark.realworld
@pytest.mark.skipif(not REALWORLD, reason=SKIP_REASON)
def test_sums_match_kube_prometheus_lock() -> None:
    """The mirrors hold src/jsonnetfile.lock.json and the vendor/ jb made from it."""
    base = Path(REALWORLD)
    lock = jsonnetfile.load(base / "src" / jsonnetfile.LOCK_FILE, missing_ok=False)
    checked = {
        dep.name: dir_sum(base / "vendor" / dep.name) == dep.sum
        for dep in lock.dependencies
        if not dep.is_local and (base / "vendor" / dep.name).is_dir()
    }
    assert len(checked) >= 10
    mismatched = [name for name, ok in checked.items() if not ok]
    # grafana/grafana is a locally rebuilt stand-in (too large to mirror); all others match.
    assert mismatched in ([], ["github.com/grafana/grafana/grafana-mixin"])
