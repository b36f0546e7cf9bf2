"""Class 4 of docs/security.md: what a dependency's jsonnetfile may ask for.

A package fetched with git is third-party input. Its jsonnetfile.json may name network remotes
only (jb's https/ssh/git forms), never a path, a ``file://`` URL, another transport or a local
directory, and its legacy names are one path component. Each hostile case runs the real CLI
against real git repositories (GitHub URLs redirected to local ones by ``url.insteadOf``, as
mirrors do) and checks: one error line naming vendor/<pkg>/jsonnetfile.json and the field,
a non-zero exit, and the whole temporary tree (project, remotes, a fake HOME) unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubeprom_build.cli import run
from tests.helpers.gitrepos import (
    World,
    git_dep,
    local_dep,
    make_remote,
    snapshot,
    write_jsonnetfile,
)

OUTER = "vendor/github.com/org/outer/jsonnetfile.json"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A private repository on this machine that no dependency may make kpb read."""
    return make_remote(tmp_path / "private", "secret.git", {"s.libsonnet": "'secret'"}).path


@pytest.fixture
def project(vendored_project: Path) -> Path:
    """Every test here starts from a vendored project: there is state to keep."""
    return vendored_project


def _outer(world: World, deps: list[dict[str, Any]]) -> None:
    """github.com/org/outer, whose own jsonnetfile.json lists ``deps``."""
    outer = world.remote("org/outer", {"o.libsonnet": "{}\n", "sub/s.libsonnet": "{}\n"})
    outer.jsonnetfile("", deps)
    outer.commit({})


def _add(project: Path, dep: dict[str, Any]) -> None:
    data = json.loads((project / "jsonnetfile.json").read_text())
    data["dependencies"].append(dep)
    (project / "jsonnetfile.json").write_text(json.dumps(data, indent=2) + "\n")


def _fails_cleanly(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *expected: str
) -> str:
    """Run ``kpb vendor``; assert one error line holding ``expected`` and nothing changed."""
    before = snapshot(tmp_path)
    capsys.readouterr()
    code = run(["-C", str(project), "vendor"])
    err = capsys.readouterr().err
    assert code not in (0, 70), err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, err
    assert err.rstrip().endswith(errors[0]), "the error is one line, printed last"
    for part in expected:
        assert part in errors[0]
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before
    return errors[0]


Hostile = Callable[[Path], dict[str, Any]]
# Remotes a dependency's jsonnetfile may not name; ``secret`` is a real repository on disk.
HOSTILE_REMOTES: dict[str, Hostile] = {
    "file url": lambda s: git_dep(f"file://{s}"),
    "file url, two slashes and a host": lambda s: git_dep(f"file://localhost{s}"),
    "absolute path": lambda s: git_dep(str(s)),
    "relative path ./": lambda s: git_dep("./secret.git"),
    "relative path ../": lambda s: git_dep(f"../../../..{s}"),
    "home path": lambda s: git_dep("~/.ssh/secret.git"),
    "ext transport": lambda s: git_dep("ext::sh -c touch% /tmp/kpb-pwned"),
    "fd transport": lambda s: git_dep("fd::17"),
    "option-like": lambda s: git_dep("--upload-pack=touch /tmp/kpb-pwned"),
    "other scheme": lambda s: git_dep(f"ftp://example.com{s}"),
    "ssh host with an option": lambda s: git_dep("ssh://git@x -oProxyCommand=sh/u/r.git"),
    "scp-like host with a path": lambda s: git_dep(f"git@localhost{s}:u/r.git"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_REMOTES))
def test_dependency_may_not_name_a_local_or_odd_remote(
    case: str,
    world: World,
    project: Path,
    secret: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _outer(world, [HOSTILE_REMOTES[case](secret)])
    _add(project, git_dep(World.url("org/outer")))
    _fails_cleanly(project, tmp_path, capsys, OUTER, "dependencies[0].source.git.remote")
    assert not Path("/tmp/kpb-pwned").exists()


def test_a_deeper_dependency_is_named_too(
    world: World, project: Path, secret: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mid = world.remote("org/mid", {"m.libsonnet": "{}\n"})
    mid.jsonnetfile("", [git_dep(f"file://{secret}")])
    mid.commit({})
    _outer(world, [git_dep(World.url("org/mid"))])
    _add(project, git_dep(World.url("org/outer")))
    _fails_cleanly(
        project,
        tmp_path,
        capsys,
        "vendor/github.com/org/mid/jsonnetfile.json",
        "dependencies[0].source.git.remote",
    )


@pytest.mark.parametrize("directory", ["sub", ".", "../../../..", "/etc"])
def test_git_package_may_not_name_a_local_directory(
    directory: str,
    world: World,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _outer(world, [local_dep(directory)])
    _add(project, git_dep(World.url("org/outer")))
    _fails_cleanly(project, tmp_path, capsys, OUTER, "dependencies[0].source.local")


@pytest.mark.parametrize(
    "name", ["github.com/org/good/evil", "github.com/org/good/sub/x.libsonnet", "a/b", "x/"]
)
def test_dependency_legacy_name_is_one_component(
    name: str,
    world: World,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world.remote("org/leaf", {"l.libsonnet": "{}\n"})
    _outer(world, [git_dep(World.url("org/leaf"), name=name)])
    _add(project, git_dep(World.url("org/outer")))
    _fails_cleanly(project, tmp_path, capsys, OUTER, "dependencies[0].name")


def test_dependency_one_component_legacy_name_still_links(world: World, project: Path) -> None:
    world.remote("org/leaf", {"l.libsonnet": "{}\n"})
    _outer(world, [git_dep(World.url("org/leaf"), name="leafy")])
    _add(project, git_dep(World.url("org/outer")))
    assert run(["-C", str(project), "vendor"]) == 0
    assert os.readlink(project / "vendor" / "leafy") == "github.com/org/leaf"


def test_top_level_name_inside_another_package_is_not_linked(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's own file may use ``a/b`` names (jb does), but never to write into a package."""
    world.remote("org/leaf", {"l.libsonnet": "{}\n"})
    package = project / "vendor" / "github.com" / "org" / "good"
    before = snapshot(package)
    _add(project, git_dep(World.url("org/leaf"), name="github.com/org/good/evil"))
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0
    err = capsys.readouterr().err
    assert "not linking vendor/github.com/org/good/evil" in err
    assert "inside package github.com/org/good" in err
    assert snapshot(package) == before
    assert run(["-C", str(project), "vendor", "--verify"]) == 0


def test_top_level_name_through_a_local_package_link_is_not_linked(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vendor/mylib`` is a symlink to the user's own code: a link must not land in there."""
    (project / ".git").mkdir()
    lib = project / "libs" / "mylib"
    lib.mkdir(parents=True)
    (lib / "main.libsonnet").write_text("{}\n")
    world.remote("org/leaf", {"l.libsonnet": "{}\n"})
    _add(project, local_dep("libs/mylib"))
    _add(project, git_dep(World.url("org/leaf"), name="mylib/evil"))
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0
    assert "not linking vendor/mylib/evil" in capsys.readouterr().err
    assert sorted(p.name for p in lib.iterdir()) == ["main.libsonnet"]


def test_top_level_multi_component_name_still_works(world: World, project: Path) -> None:
    world.remote("org/leaf", {"l.libsonnet": "{}\n"})
    _add(project, git_dep(World.url("org/leaf"), name="grouped/leaf"))
    assert run(["-C", str(project), "vendor"]) == 0
    assert os.readlink(project / "vendor" / "grouped" / "leaf") == "../github.com/org/leaf"


def test_top_level_file_remote_still_works(project: Path, secret: Path) -> None:
    """The project's own jsonnetfile may vendor a repository from disk (tests, mirrors)."""
    _add(project, git_dep(f"file://{secret}"))
    assert run(["-C", str(project), "vendor"]) == 0
    lock = json.loads((project / "jsonnetfile.lock.json").read_text())
    assert f"file://{secret}" in {d["source"]["git"]["remote"] for d in lock["dependencies"]}


def test_top_level_lock_with_a_file_remote_is_the_users_own(project: Path, secret: Path) -> None:
    _add(project, git_dep(f"file://{secret}"))
    assert run(["-C", str(project), "vendor"]) == 0
    shutil.rmtree(project / "vendor")
    assert run(["-C", str(project), "vendor"]) == 0  # re-vendored from the lock alone


def test_insteadof_mirror_keeps_working_for_dependencies(
    world: World, project: Path, tmp_path: Path
) -> None:
    """A dependency names https://github.com/...; the user's insteadOf points git elsewhere."""
    world.remote("org/leaf", {"l.libsonnet": "'leaf'\n"})
    _outer(world, [git_dep("github.com/org/leaf"), git_dep("git@github.com:org/good.git")])
    _add(project, git_dep(World.url("org/outer")))
    assert run(["-C", str(project), "vendor"]) == 0
    assert (project / "vendor/github.com/org/leaf/l.libsonnet").read_text() == "'leaf'\n"
    lock = json.loads((project / "jsonnetfile.lock.json").read_text())
    remotes = {d["source"]["git"]["remote"] for d in lock["dependencies"]}
    assert "https://github.com/org/leaf.git" in remotes  # canonical, as jb writes it


def test_local_package_may_nest_local_packages_but_not_file_remotes(
    world: World, tmp_path: Path, secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "mono"
    (repo / ".git").mkdir(parents=True)
    project = repo / "deploy"
    project.mkdir()
    for name in ("a", "b"):
        (repo / "libs" / name).mkdir(parents=True)
        (repo / "libs" / name / "main.libsonnet").write_text("{}\n")
    nested = repo / "libs" / "a" / "jsonnetfile.json"
    nested.write_text(json.dumps({"version": 1, "dependencies": [local_dep("../b")]}))
    write_jsonnetfile(project, [local_dep("../libs/a")])
    assert run(["-C", str(project), "vendor"]) == 0
    assert os.readlink(project / "vendor" / "b") == "../../libs/b"

    nested.write_text(json.dumps({"version": 1, "dependencies": [git_dep(f"file://{secret}")]}))
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 3
    err = capsys.readouterr().err
    assert "vendor/a/jsonnetfile.json: dependencies[0].source.git.remote" in err
    assert snapshot(tmp_path) == before


def test_upstream_lock_pins_only_what_a_dependency_could_name(
    world: World, project: Path, secret: Path
) -> None:
    """kube-prometheus's own lock has a local entry; entries like it are dropped, not used."""
    lib = world.remote("org/lib", {"l.libsonnet": "old"})
    tested = lib.head()
    lib.commit({"l.libsonnet": "new"})
    kp = world.remote("org/kp", {"jsonnet/kp/main.libsonnet": "{}"})
    kp.jsonnetfile("jsonnet/kp", [git_dep(World.url("org/lib"))])
    pins = [
        git_dep(World.url("org/lib"), "", tested),
        local_dep("jsonnet/kp"),
        git_dep(f"file://{secret}", "", "master"),
    ]
    kp.commit({"jsonnetfile.lock.json": json.dumps({"version": 1, "dependencies": pins})})
    _add(project, git_dep(World.url("org/kp"), "jsonnet/kp"))
    assert run(["-C", str(project), "vendor", "--upstream-pins"]) == 0
    lock = json.loads((project / "jsonnetfile.lock.json").read_text())
    by_remote = {d["source"]["git"]["remote"]: d["version"] for d in lock["dependencies"]}
    assert by_remote[World.url("org/lib")] == tested
    assert f"file://{secret}" not in by_remote
