"""Red-team findings on the project's own files (issue 7, classes 3 and 7).

A cloned project may commit ``jsonnetfile.json``, ``jsonnetfile.lock.json`` or even a
force-added ``.kpb/vendor-record.json`` as a symlink (or, made locally, a FIFO). These files are
read before anything else, so they must get the same treatment as the project's directories:
no read outside the repository, no hang, no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers.cli import memory_limit, refusal
from tests.helpers.gitrepos import snapshot

KPB = [sys.executable, "-m", "kubeprom_build"]
#: What the outside file holds: a value kpb would quote in its error if it parsed the file.
OUTSIDE = (
    b'{"version": 1, "dependencies": [{"source": {"git": {"remote": '
    b'"https://github.com/org/x.git"}}, "version": "private data"}]}\n'
)


@pytest.fixture
def project(vendored_project: Path, home: Path) -> Path:
    """A git project with one package vendored (and so a lock and a vendor record), and a file
    outside it, in HOME, that a linked project file could point at."""
    (home / "notes.json").write_bytes(OUTSIDE)
    subprocess.run(["git", "init", "-q", str(vendored_project)], check=True)
    return vendored_project


@pytest.mark.parametrize("name", ["jsonnetfile.json", "jsonnetfile.lock.json"])
@pytest.mark.parametrize("args", [["vendor"], ["vendor", "--verify"], ["update"]])
def test_project_file_linked_outside_is_not_read(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, args: list[str]
) -> None:
    (project / name).unlink()
    os.symlink(tmp_path / "home" / "notes.json", project / name)
    before = snapshot(tmp_path)
    line = refusal(["-C", str(project), *args], capsys, absent="private data")
    assert name in line and "symlink" in line and "outside" in line, line
    assert snapshot(tmp_path) == before


def test_project_file_linked_inside_the_repository_still_works(project: Path) -> None:
    """A monorepo sharing one jsonnetfile through a link keeps working."""
    shared = project / "config"
    shared.mkdir()
    (project / "jsonnetfile.json").rename(shared / "jsonnetfile.json")
    os.symlink("config/jsonnetfile.json", project / "jsonnetfile.json")
    assert run(["-C", str(project), "vendor", "--verify"]) == 0


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "link-outside"])
def test_vendor_record_that_is_not_a_file_is_ignored(
    project: Path, tmp_path: Path, kind: str
) -> None:
    """``.kpb/vendor-record.json -> /dev/zero`` used to read until MemoryError (exit 70), a
    FIFO hung ``kpb vendor`` forever; a link outside was read. Now each is no record."""
    record = project / ".kpb" / "vendor-record.json"
    record.unlink()
    if kind == "fifo":
        os.mkfifo(record)
    else:
        os.symlink("/dev/zero" if kind == "dev-zero" else tmp_path / "home" / "notes.json", record)
    home_before = snapshot(tmp_path / "home")
    done = subprocess.run(
        [*KPB, "-C", str(project), "vendor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=memory_limit(),
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert record.is_file() and not record.is_symlink()  # a fresh record replaced it
    assert snapshot(tmp_path / "home") == home_before
