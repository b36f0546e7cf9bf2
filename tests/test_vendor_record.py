"""``--verify`` and the no-op check see what jb's sum cannot (issue 7, class 5).

jb's sum hashes the concatenated bytes of a package's files, so every tampering below keeps the
locked sum. Each case is first shown to keep :func:`dir_sum` equal, then ``kpb vendor --verify``
must name the package and the change without modifying anything, and ``kpb vendor`` must restore
the pristine package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.vendoring.checksum import dir_sum
from tests.helpers.gitrepos import snapshot
from tests.helpers.projects import LIB_PKG as PKG


@pytest.fixture
def project(lib_project: Path) -> Path:
    return lib_project


def _rename_keeping_order(pkg: Path) -> str:
    (pkg / "a.libsonnet").rename(pkg / "a2.libsonnet")  # still sorts before b.libsonnet
    return "added: a2.libsonnet; removed: a.libsonnet"


def _move_bytes_between_files(pkg: Path) -> str:
    (pkg / "a.libsonnet").write_text("{a: 1}\n{b")
    (pkg / "b.libsonnet").write_text(": 2}\n")
    return "changed: a.libsonnet, b.libsonnet"


def _add_empty_file(pkg: Path) -> str:
    (pkg / "c/evil.libsonnet").write_text("")
    return "added: c/evil.libsonnet"


def _make_executable(pkg: Path) -> str:
    os.chmod(pkg / "b.libsonnet", 0o755)
    return "mode changed: b.libsonnet"


def _fifo_at_the_end(pkg: Path) -> str:
    os.mkfifo(pkg / "zz-pipe")  # jb's walk would block here; its sum stops after every file
    return "special file: zz-pipe (fifo)"


TAMPERING: dict[str, Callable[[Path], str]] = {
    "rename": _rename_keeping_order,
    "move-bytes": _move_bytes_between_files,
    "empty-file": _add_empty_file,
    "chmod": _make_executable,
    "fifo": _fifo_at_the_end,
}


def _verify(project: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a child process with a timeout: a FIFO must never be opened."""
    return subprocess.run(
        [sys.executable, "-m", "kubeprom_build", "-C", str(project), "vendor", "--verify"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_verify_names_tampering_that_keeps_jbs_sum(project: Path, name: str) -> None:
    pkg = project / PKG
    pristine = snapshot(pkg)
    locked_sum = dir_sum(pkg)
    expected = TAMPERING[name](pkg)
    assert dir_sum(pkg) == locked_sum  # invisible to jb's sum
    before = snapshot(project)
    result = _verify(project)
    assert result.returncode == 1, result.stderr
    assert f"github.com/org/lib: modified ({expected})" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(project) == before  # --verify changes nothing

    assert run(["-C", str(project), "vendor"]) == 0  # the no-op check repairs it
    assert snapshot(pkg) == pristine
    assert not (pkg / "zz-pipe").exists()
    assert _verify(project).returncode == 0


def test_without_a_record_verify_compares_with_the_pristine_commit(project: Path) -> None:
    (project / ".kpb/vendor-record.json").unlink()  # e.g. vendor/ was made by jb
    _move_bytes_between_files(project / PKG)
    result = _verify(project)
    assert result.returncode == 1
    assert "modified (changed: a.libsonnet, b.libsonnet)" in result.stderr


def test_without_a_record_or_cache_verify_refuses_to_vouch(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".kpb/vendor-record.json").unlink()
    monkeypatch.setenv("KPB_CACHE", str(tmp_path / "empty-cache"))
    result = _verify(project)
    assert result.returncode == 1
    assert "github.com/org/lib: unrecorded" in result.stderr
    assert run(["-C", str(project), "vendor"]) == 0  # trusts jb's sum once, then records
    assert _verify(project).returncode == 0


def test_a_record_written_elsewhere_is_not_trusted(project: Path, tmp_path: Path) -> None:
    """The record is sealed with a key in the user's cache: a forged or foreign one is ignored
    and --verify falls back to the pristine commit, which still sees the tampering."""
    _move_bytes_between_files(project / PKG)
    record = project / ".kpb/vendor-record.json"
    seal, _, text = record.read_text().partition("\n")
    body = json.loads(text)
    from kubeprom_build.vendoring.checksum import scan

    found = scan(project / PKG)
    entry = body["packages"]["github.com/org/lib"]
    entry["entries"] = [[e.path, e.kind, e.detail, e.executable] for e in found.entries]
    record.write_text(seal + "\n" + json.dumps(body))
    result = _verify(project)
    assert result.returncode == 1
    assert "modified (changed: a.libsonnet, b.libsonnet)" in result.stderr


def test_record_is_written_once_and_lists_names_types_modes(project: Path) -> None:
    record = project / ".kpb/vendor-record.json"
    body = json.loads(record.read_text().partition("\n")[2])  # after the seal line
    entries = body["packages"]["github.com/org/lib"]["entries"]
    assert [e[:2] for e in entries] == [
        ["a.libsonnet", "file"],
        ["b.libsonnet", "file"],
        ["c", "dir"],
        ["c/d.libsonnet", "file"],
    ]
    mtime = record.stat().st_mtime_ns
    assert run(["-C", str(project), "vendor"]) == 0
    assert record.stat().st_mtime_ns == mtime  # a no-op writes nothing


def test_a_link_replacing_a_file_is_reported_by_name(project: Path) -> None:
    pkg = project / PKG
    shutil.copy(pkg / "b.libsonnet", project / "b.copy")
    (pkg / "b.libsonnet").unlink()
    (pkg / "b.libsonnet").symlink_to("../../../../b.copy")  # same bytes, read from outside
    result = _verify(project)
    assert result.returncode == 1
    assert "github.com/org/lib: modified (changed: b.libsonnet)" in result.stderr
