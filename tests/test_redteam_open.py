"""Red-team findings outside the red team's files, left for the modules' owners (issue 7).

Each test is a strict ``xfail``: it shows the attack working on today's code, and turns into an
unexpected pass (a failure) the moment the owner fixes it, so the mark is removed with the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build import checksum
from kubeprom_build.cli import run
from tests.helpers.gitrepos import World, git, git_dep, github_world, write_jsonnetfile

KPB = [sys.executable, "-m", "kubeprom_build"]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return github_world(tmp_path, monkeypatch)


@pytest.mark.xfail(strict=True, reason="git.ls_remote runs in the caller's cwd (git.py)")
def test_ls_remote_does_not_read_config_of_a_bare_repository_in_the_cwd(
    tmp_path: Path, world: World
) -> None:
    """A project may commit a directory laid out as a bare repository (``docs/example.git``
    with ``HEAD``, ``config``, ``objects/``, ``refs/``); so may a vendored package. Run from
    inside it, ``git ls-remote`` discovers it and obeys its ``config``: a remote named like
    the URL kpb asks for, with an ``uploadpack`` program, runs that program."""
    remote = world.remote("org/lib", {"main.libsonnet": "{}\n"})
    project = tmp_path / "project"
    project.mkdir()
    write_jsonnetfile(project, [git_dep(World.url("org/lib"))])
    embedded = project / "docs" / "example.git"
    embedded.mkdir(parents=True)
    git(embedded, "init", "-q", "--bare", ".")
    marker = tmp_path / "PWNED"
    section = f'remote "{World.url("org/lib")}"'
    with (embedded / "config").open("a") as config:
        config.write(
            f"[{section}]\n\turl = file://{remote.path}\n"
            f'\tuploadpack = "touch {marker}; git-upload-pack"\n'
        )
    subprocess.run(
        [*KPB, "-C", str(project), "vendor"],
        cwd=embedded,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert not marker.exists(), "a program from a committed git config ran"


@pytest.mark.xfail(strict=True, reason="Stager.upstream_lock falls back to vendor/ (stager.py)")
def test_upstream_pins_never_read_a_lock_through_a_committed_package_link(
    tmp_path: Path, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vendor/github.com/org/pkg -> ~/elsewhere`` (committed) is replaced by the fetched
    package, but ``upstream_lock`` first reads ``vendor/<name>/jsonnetfile.lock.json`` through
    the old link (``directory.resolve()``) when the fetched package has no lock."""
    world.remote("org/lib", {"main.libsonnet": "{}\n"})
    world.remote(
        "org/pkg",
        {
            "p.libsonnet": "{}\n",
            "jsonnetfile.json": json.dumps(
                {"version": 1, "dependencies": [git_dep(World.url("org/lib"))]}
            ),
        },
    )
    elsewhere = tmp_path / "home" / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "jsonnetfile.lock.json").write_text(
        json.dumps({"version": 1, "dependencies": [git_dep(World.url("org/lib"), "", "OUTSIDE")]})
    )
    project = tmp_path / "project"
    (project / "vendor" / "github.com" / "org").mkdir(parents=True)
    os.symlink(elsewhere, project / "vendor" / "github.com" / "org" / "pkg")
    write_jsonnetfile(project, [git_dep(World.url("org/pkg"))])
    capsys.readouterr()
    run(["-C", str(project), "vendor", "--upstream-pins"])
    assert "OUTSIDE" not in capsys.readouterr().err, "a lock outside the project was read"


@pytest.mark.xfail(strict=True, reason="a committed .kpb/vendor-record.json is trusted")
def test_verify_is_not_weakened_by_a_committed_record(tmp_path: Path, world: World) -> None:
    """Bytes moved from one file to the next keep jb's sum; without a record ``--verify``
    compares with the pristine commit and reports it. A forged record (force-added to the
    checkout) describing the tampered tree made ``--verify`` pass."""
    world.remote("org/lib", {"a.libsonnet": "local x = 1;\n", "b.libsonnet": "{y: x}\n"})
    project = tmp_path / "project"
    project.mkdir()
    write_jsonnetfile(project, [git_dep(World.url("org/lib"))])
    assert run(["-C", str(project), "vendor"]) == 0
    package = project / "vendor" / "github.com" / "org" / "lib"
    (package / "a.libsonnet").write_text("local x = 1;\n{y")
    (package / "b.libsonnet").write_text(": x}\n")
    record_path = project / ".kpb" / "vendor-record.json"
    record = json.loads(record_path.read_text())
    found = checksum.scan(package)
    body = record["packages"]["github.com/org/lib"]
    assert body["locked"] == found.sum  # jb's sum cannot see the tampering
    body["entries"] = [[e.path, e.kind, e.detail, e.executable] for e in found.entries]
    record_path.write_text(json.dumps(record))
    assert run(["-C", str(project), "vendor", "--verify"]) == 1


@pytest.mark.xfail(strict=True, reason="buildstate.is_fresh reads any path a stamp names")
def test_a_stamp_naming_dev_zero_as_input_is_not_read(tmp_path: Path) -> None:
    """``.kpb/build/<env>.json`` lists input files by path; ``is_fresh`` reads each with
    ``read_bytes`` after joining it to the root, so a stamp (force-committed like the record)
    naming ``/dev/zero`` reads until ``MemoryError`` (exit 70), a FIFO hangs the build, and any
    absolute path is read for a digest comparison."""
    from tests.helpers import projects

    project = projects.make_project(tmp_path / "p")
    assert run(["-C", str(project), "build", "dev"]) == 0
    stamp = project / ".kpb" / "build" / "dev.json"
    body = json.loads(stamp.read_text())
    body["inputs"] = {"/dev/zero": "0" * 64, **body["inputs"]}
    stamp.write_text(json.dumps(body))
    done = subprocess.run(
        [*KPB, "-C", str(project), "build", "dev"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 0, done.stderr[-300:]
    assert "Traceback" not in done.stderr


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
