"""Red-team findings in modules the attacker's pass could not edit, fixed after it (issue 7).

Each test is the attack that worked: git obeying a committed bare repository's config, a lock
read through a committed package link, a forged vendor record, a stamp naming ``/dev/zero``, and
a dotfiles repository at ``$HOME`` taken as the import boundary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.vendoring import checksum
from tests.helpers.cli import memory_limit
from tests.helpers.gitrepos import World, git, git_dep, github_world, write_jsonnetfile

KPB = [sys.executable, "-m", "kubeprom_build"]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return github_world(tmp_path, monkeypatch)


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
    seal_line, _, text = record_path.read_text().partition("\n")  # an HMAC, then the record
    record = json.loads(text)
    found = checksum.scan(package)
    body = record["packages"]["github.com/org/lib"]
    assert body["locked"] == found.sum  # jb's sum cannot see the tampering
    body["entries"] = [[e.path, e.kind, e.detail, e.executable] for e in found.entries]
    record_path.write_text(seal_line + "\n" + json.dumps(record))  # a forger has no key
    assert run(["-C", str(project), "vendor", "--verify"]) == 1


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
        preexec_fn=memory_limit(),
    )
    assert done.returncode == 0, done.stderr[-300:]
    assert "Traceback" not in done.stderr


def test_a_dotfiles_repository_at_home_is_not_the_import_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project without a ``.git`` of its own inside a dotfiles repository at ``$HOME`` used to
    get ``$HOME`` as the boundary for imports: ``importstr '../../.ssh/id_rsa'`` copied the key
    into ``manifests/``. The home directory (or above) is never a project's repository."""
    from tests.helpers import projects

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE-KEY-MATERIAL\n")
    git(home, "init", "-q")
    monkeypatch.setenv("HOME", str(home))
    project = home / "work" / "stack"
    source = "{ k: { v: importstr '../../../.ssh/id_rsa' } }"
    projects.write_files(project, {"environments/dev.jsonnet": source})
    assert not (project / ".git").exists()  # the project is no repository of its own
    assert run(["-C", str(project), "build", "dev"]) != 0
    written = [p.read_text() for p in project.rglob("*.yaml")]
    assert not any("PRIVATE-KEY" in text for text in written)
