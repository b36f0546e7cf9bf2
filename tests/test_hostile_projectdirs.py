"""Issue 7, class 3: project directories are checked, not trusted.

A cloned project (a colleague's repository, an attacker's pull request) may commit ``vendor/``,
``manifests/``, ``manifests/<env>``, ``.kpb/``, ``jsonnet/`` or ``environments/`` as symlinks, or
hand ``--vendor-dir`` a directory kpb must never prune. Every test plants one member of such a
family, runs the real CLI and asserts: exit code 3, one line naming the directory and where it
points, no traceback, and a before/after snapshot of the whole tmp tree (the project, a fake
HOME, decoy directories outside) showing that nothing was written, deleted or moved.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers import projects
from tests.helpers.gitrepos import (
    World,
    git_dep,
    github_world,
    local_dep,
    snapshot,
    write_jsonnetfile,
)

DECOY_SECRET = "decoy-secret-7f3a"

#: What a careless kpb would touch in a directory it reached through a link.
DECOYS = {
    "passwd": f"root:{DECOY_SECRET}\n",
    "unknown/keep.txt": "pruning would delete this\n",
    ".kpb-tmp-stale/keep.txt": "stale-staging removal would delete this\n",
    "dev/keep.yaml": "a build would replace this directory\n",
    ".dev.kpb-tmp-x/keep.txt": "recovery would delete this\n",
    "github.com/org/lib/lib.libsonnet": "{ decoy: true }\n",
    "dev.jsonnet": "{ cm: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' },\n"
    "         data: { p: importstr 'passwd' } } }\n",
    "cluster.libsonnet": "{ render(cfg):: { leaked: { data: importstr 'passwd' } } }\n",
}

#: How a planted link may point: (id, how the target is spelled for a link at ``link``).
KINDS = ["outside", "home", "root", "sibling", "dangling"]


def link_target(kind: str, link: Path, tmp: Path, project: Path) -> str:
    """The text of a hostile link at ``link``: absolute elsewhere or relative to a place."""
    if kind == "outside":
        return str(tmp / "outside")
    if kind == "home":
        return str(tmp / "home")
    if kind == "root":
        return os.path.relpath(project, link.parent)
    if kind == "sibling":
        return os.path.relpath(tmp / "sibling", link.parent)
    return str(tmp / "nowhere" / "deeper")


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path with a fake HOME and two decoy directories beside the project."""
    for name in ("home", "outside", "sibling"):
        projects.write_files(tmp_path / name, DECOYS)
    projects.write_files(tmp_path / "home", {".ssh/authorized_keys": "ssh-ed25519 AAAA user\n"})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def plant(path: Path, target: str) -> None:
    """Replace whatever is at ``path`` by a symlink to ``target``."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def refused(capsys: pytest.CaptureFixture[str], root: Path, argv: list[str], *needles: str) -> None:
    """kpb exits 3 with one line holding ``needles``, and nothing below ``root`` changed."""
    capsys.readouterr()
    before = snapshot(root)
    code = run(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err + captured.out
    assert DECOY_SECRET not in captured.err + captured.out
    assert code == 3, captured.err
    assert len(lines) == 1, captured.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert snapshot(root) == before


# --------------------------------------------------------------------------- vendoring


@pytest.fixture
def vendored(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project vendored once with one GitHub-like package (and its legacy link)."""
    world = github_world(tmp, monkeypatch)
    world.remote("org/lib", {"lib.libsonnet": "{ real: true }\n"})
    project = projects.make_project(tmp / "repo")
    shutil.rmtree(project / "vendor")
    write_jsonnetfile(project, [git_dep(World.url("org/lib"))])
    assert run(["-C", str(project), "vendor"]) == 0
    assert (project / "vendor/github.com/org/lib/lib.libsonnet").is_file()
    return project


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", [["vendor"], ["vendor", "--verify"], ["update"]])
def test_symlinked_vendor_is_refused(
    vendored: Path, tmp: Path, kind: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    link = vendored / "vendor"
    target = link_target(kind, link, tmp, vendored)
    plant(link, target)
    argv = ["-C", str(vendored), *command]
    refused(capsys, tmp, argv, "vendor/ is a symlink to", target, "remove the link")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", [["vendor"], ["vendor", "--verify"]])
def test_vendor_with_a_symlinked_intermediate_directory_is_refused(
    vendored: Path, tmp: Path, kind: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    link = vendored / "vendor" / "github.com"
    target = link_target(kind, link, tmp, vendored)
    plant(link, target)
    argv = ["-C", str(vendored), *command]
    refused(capsys, tmp, argv, "vendor/github.com/ is a symlink to", target)


def test_vendor_with_a_link_to_vendor_itself_inside_is_refused(
    vendored: Path, tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vendor/github.com -> .`` stays inside vendor/ but makes pruning eat the package."""
    plant(vendored / "vendor" / "github.com", ".")
    refused(capsys, tmp, ["-C", str(vendored), "vendor"], "vendor/github.com/ is a symlink to .")


@pytest.mark.parametrize("kind", ["outside", "root"])
def test_symlinked_custom_vendor_dir_component_is_refused(
    vendored: Path, tmp: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    link = vendored / "third_party"
    target = link_target(kind, link, tmp, vendored)
    plant(link, target)
    argv = ["-C", str(vendored), "--vendor-dir", "third_party/vendor", "vendor"]
    refused(capsys, tmp, argv, "third_party/ is a symlink to", target)


def test_vendor_dir_that_is_a_file_is_refused(
    vendored: Path, tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(vendored / "vendor")
    (vendored / "vendor").write_text("not a directory\n")
    refused(capsys, tmp, ["-C", str(vendored), "vendor"], "vendor/ is not a directory")


@pytest.mark.parametrize("state", [".kpb", ".kpb/locks"])
@pytest.mark.parametrize("kind", KINDS)
def test_symlinked_state_dir_is_refused_by_vendor(
    vendored: Path, tmp: Path, state: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    link = vendored / state
    target = link_target(kind, link, tmp, vendored)
    plant(link, target)
    refused(capsys, tmp, ["-C", str(vendored), "vendor"], f"{state}/ is a symlink to", target)


def test_lock_file_that_is_a_dangling_link_creates_nothing(
    vendored: Path, tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """O_CREAT on a dangling link would create its target (e.g. ~/.ssh/rc)."""
    plant(vendored / ".kpb/locks/vendor.lock", str(tmp / "home/.ssh/rc"))
    refused(capsys, tmp, ["-C", str(vendored), "vendor"], ".kpb/locks/vendor.lock", "symlink")


# --------------------------------------------------------------------------- --vendor-dir


@pytest.fixture
def unvendored(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with sources and a jsonnetfile, never vendored (so nothing is expected)."""
    world = github_world(tmp, monkeypatch)
    world.remote("org/lib", {"lib.libsonnet": "{ real: true }\n"})
    project = projects.make_project(tmp / "repo")
    write_jsonnetfile(project, [git_dep(World.url("org/lib"))])
    projects.write_files(project, {"sub/.git/HEAD": "ref: refs/heads/main\n"})
    projects.write_files(project, {"nested/jsonnetfile.json": '{"version": 1}\n'})
    projects.write_files(project, {".kpb/keep": "x\n", "manifests/dev/a.yaml": "a: 1\n"})
    return project


@pytest.mark.parametrize(
    ("vendor_dir", "needle"),
    [
        (".", "is the project directory"),
        ("./", "is the project directory"),
        ("jsonnet", "holds the project's jsonnet/"),
        ("environments", "holds the project's environments/"),
        (".kpb", "kpb's state"),
        (".kpb/vendor", "kpb's state"),
        ("manifests", "build output"),
        ("manifests/dev", "build output"),
        (".git", "git"),
        ("sub", "holds .git"),
        ("nested", "holds jsonnetfile.json"),
    ],
)
@pytest.mark.parametrize("command", [["vendor"], ["vendor", "--verify"], ["build", "dev"]])
def test_vendor_dir_that_is_not_a_vendor_dir_is_refused(
    unvendored: Path,
    tmp: Path,
    vendor_dir: str,
    needle: str,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["-C", str(unvendored), "--vendor-dir", vendor_dir, *command]
    refused(capsys, tmp, argv, "--vendor-dir", needle)


@pytest.mark.parametrize(
    ("vendor_dir", "directory"), [("libs", "libs/localdep"), ("vendor", "vendor/mine")]
)
def test_vendor_dir_holding_a_local_dependency_is_refused(
    tmp: Path, vendor_dir: str, directory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pruning deleted the user's libs/other, publishing replaced libs/localdep by a link."""
    project = projects.make_project(tmp / "repo")
    projects.write_files(project, {f"{directory}/x.libsonnet": "{}\n", "libs/other/f": "keep\n"})
    write_jsonnetfile(project, [local_dep(directory)])
    argv = ["-C", str(project), "--vendor-dir", vendor_dir, "vendor"]
    refused(capsys, tmp, argv, f"local dependency {directory!r} lies inside {vendor_dir}/")


def test_vendor_dir_inside_jsonnet_still_works(unvendored: Path) -> None:
    """jb users keep vendor under jsonnet/ (``--jsonnetpkg-home jsonnet/vendor``)."""
    shutil.rmtree(unvendored / "manifests")
    argv = ["-C", str(unvendored), "--vendor-dir", "jsonnet/vendor", "vendor"]
    assert run(argv) == 0
    assert (unvendored / "jsonnet/vendor/github.com/org/lib/lib.libsonnet").is_file()
    assert (unvendored / "jsonnet/cluster.libsonnet").is_file()


# --------------------------------------------------------------------------- building


@pytest.fixture
def built(tmp: Path) -> Path:
    """A project built once (so manifests/dev and .kpb/ exist as kpb made them)."""
    project = projects.make_project(tmp / "repo")
    assert run(["-C", str(project), "build", "dev"]) == 0
    return project


BUILD_COMMANDS = [["build", "dev"], ["build", "dev", "--force"], ["build", "--check", "dev"]]
BUILD_AND_DIFF = [*BUILD_COMMANDS, ["diff", "dev"]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", BUILD_AND_DIFF)
@pytest.mark.parametrize("folder", ["manifests", "manifests/dev"])
def test_symlinked_output_dir_is_refused(
    built: Path,
    tmp: Path,
    folder: str,
    kind: str,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    link = built / folder
    target = link_target(kind, link, tmp, built)
    plant(link, target)
    refused(capsys, tmp, ["-C", str(built), *command], f"{folder}/ is a symlink to", target)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", BUILD_COMMANDS)
@pytest.mark.parametrize("state", [".kpb", ".kpb/locks", ".kpb/build"])
def test_symlinked_state_dir_is_refused_by_build(
    built: Path,
    tmp: Path,
    state: str,
    kind: str,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    link = built / state
    target = link_target(kind, link, tmp, built)
    plant(link, target)
    refused(capsys, tmp, ["-C", str(built), *command], f"{state}/ is a symlink to", target)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", BUILD_AND_DIFF)
def test_symlinked_vendor_is_refused_by_build(
    built: Path, tmp: Path, kind: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    link = built / "vendor"
    target = link_target(kind, link, tmp, built)
    plant(link, target)
    refused(capsys, tmp, ["-C", str(built), *command], "vendor/ is a symlink to", target)


@pytest.mark.parametrize("kind", ["outside", "home", "sibling", "root-of-fs"])
@pytest.mark.parametrize("command", BUILD_AND_DIFF)
def test_library_dir_linked_outside_the_repository_is_refused(
    built: Path, tmp: Path, kind: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``jsonnet -> /`` used to put / on the allowed list: importstr read anything."""
    link = built / "jsonnet"
    target = "/" if kind == "root-of-fs" else link_target(kind, link, tmp, built)
    plant(link, target)
    secret = "etc/passwd" if kind == "root-of-fs" else "passwd"
    projects.set_env(built, "dev", f"{{ cm: {{ data: {{ p: importstr '{secret}' }} }} }}\n")
    refused(capsys, tmp, ["-C", str(built), *command], "jsonnet/ is a symlink to", target)


@pytest.mark.parametrize("kind", ["outside", "home", "sibling", "root-of-fs"])
@pytest.mark.parametrize("command", BUILD_AND_DIFF)
def test_environments_dir_linked_outside_the_repository_is_refused(
    built: Path, tmp: Path, kind: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    link = built / "environments"
    target = "/" if kind == "root-of-fs" else link_target(kind, link, tmp, built)
    plant(link, target)
    argv = ["-C", str(built), *command]
    refused(capsys, tmp, argv, "environments/ is a symlink to", target)


@pytest.mark.parametrize("folder", ["jsonnet", "environments"])
def test_dangling_source_dir_is_refused(
    built: Path, tmp: Path, folder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp / "nowhere")
    plant(built / folder, target)
    argv = ["-C", str(built), "build", "dev", "--force"]
    refused(capsys, tmp, argv, f"{folder}/ is a symlink to", target)


def test_source_dirs_linked_inside_the_repository_keep_working(built: Path) -> None:
    """A monorepo may point jsonnet/ and environments/ at real folders in the same repo."""
    os.rename(built / "jsonnet", built / "lib-real")
    os.rename(built / "environments", built / "envs-real")
    os.symlink("lib-real", built / "jsonnet")
    os.symlink("envs-real", built / "environments")
    assert run(["-C", str(built), "build", "dev", "--force"]) == 0
    assert (built / "manifests/dev/extra-configmap.yaml").is_file()


def test_project_reached_through_a_symlink_builds(built: Path, tmp: Path) -> None:
    """~/work -> /data/work is fine: the project root is resolved once."""
    os.symlink(built, tmp / "alias")
    assert run(["-C", str(tmp / "alias"), "build", "dev", "--force"]) == 0


def test_file_link_inside_a_real_library_dir_is_refused(
    built: Path, tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Per-file confinement against the real repository root still holds inside real dirs."""
    os.symlink(tmp / "outside" / "passwd", built / "jsonnet" / "passwd")
    projects.set_env(built, "dev", "{ cm: { data: { p: importstr 'passwd' } } }\n")
    argv = ["-C", str(built), "build", "dev"]
    refused(capsys, tmp, argv, "passwd", "outside the project's repository")


def test_user_jpath_outside_the_project_is_the_users_choice(built: Path, tmp: Path) -> None:
    """-J on the command line is explicit: it may point outside (documented)."""
    projects.write_files(tmp / "extra", {"mine.libsonnet": "{ kind: 'Mine' }\n"})
    projects.set_env(built, "dev", "{ obj: import 'mine.libsonnet' }\n")
    assert run(["-C", str(built), "build", "dev", "-J", str(tmp / "extra")]) == 0
    assert (built / "manifests/dev/obj.yaml").read_bytes() == b"kind: Mine\n"


def test_environment_file_linked_outside_is_refused(
    built: Path, tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant(built / "environments" / "dev.jsonnet", str(tmp / "outside" / "dev.jsonnet"))
    argv = ["-C", str(built), "build", "dev", "--force"]
    refused(capsys, tmp, argv, "environments/dev.jsonnet", "outside the project's repository")


@pytest.mark.parametrize(
    ("fixture", "planted", "command"),
    [
        ("vendored", "vendor/.kpb-tmp-planted", ["vendor"]),
        ("built", "manifests/.dev.kpb-tmp-planted", ["build", "dev", "--force"]),
        ("built", "manifests/.dev.kpb-old-planted", ["build", "dev", "--force"]),
    ],
)
def test_planted_leftover_links_are_removed_not_followed(
    request: pytest.FixtureRequest, tmp: Path, fixture: str, planted: str, command: list[str]
) -> None:
    """kpb's own leftovers are cleaned up; a committed one that is a link loses only the link."""
    project: Path = request.getfixturevalue(fixture)
    plant(project / planted, str(tmp / "home"))
    outside = snapshot(tmp / "home", tmp / "outside", tmp / "sibling")
    assert run(["-C", str(project), *command]) == 0
    assert not os.path.lexists(project / planted)
    assert (project / planted.split("/")[0]).is_dir()
    assert snapshot(tmp / "home", tmp / "outside", tmp / "sibling") == outside
