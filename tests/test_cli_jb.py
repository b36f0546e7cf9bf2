"""Renovate and other bots drive jb: ``kpb update`` takes their URI forms, and ``kpb-jb`` runs
jb's command line through kpb (as a real process: the console script or ``python -m``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers.gitrepos import World, git_dep, snapshot, write_jsonnetfile

ROOT = Path(__file__).resolve().parent.parent


def locked(project: Path) -> dict[str, str]:
    data = json.loads((project / "jsonnetfile.lock.json").read_text())
    return {
        d["source"]["git"]["remote"] + "/" + d["source"]["git"]["subdir"]: d["version"]
        for d in data["dependencies"]
    }


def jb(project: Path, *args: str, script: bool = False) -> subprocess.CompletedProcess[str]:
    """``kpb-jb args`` in ``project``, as the installed console script or ``python -m``."""
    if script:
        path = Path(sys.executable).parent / "kpb-jb"
        if not path.exists():
            pytest.skip("kpb-jb console script not installed next to this interpreter")
        argv = [str(path)]
    else:
        argv = [sys.executable, "-m", "kubeprom_build.cli.jb"]
    return subprocess.run(
        [*argv, *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize(
    "form",
    [
        "https://github.com/org/lib.git/sub",
        "github.com/org/lib/sub",
        "github.com/org/lib/sub@master",
        "https://github.com/org/lib.git/sub@master",
    ],
)
def test_update_accepts_the_uri_forms_bots_pass(world: World, project: Path, form: str) -> None:
    lib = world.remote("org/lib", {"sub/a.libsonnet": "1"})
    other = world.remote("org/other", {"o.libsonnet": "1"})
    deps = [git_dep(World.url("org/lib"), "sub"), git_dep(World.url("org/other"))]
    write_jsonnetfile(project, deps)
    assert run(["-C", str(project), "vendor"]) == 0
    old_other = other.head()
    new = lib.commit({"sub/a.libsonnet": "2"})
    other.commit({"o.libsonnet": "2"})
    assert run(["-C", str(project), "update", form]) == 0
    assert locked(project) == {
        "https://github.com/org/lib.git/sub": new,
        "https://github.com/org/other.git/": old_other,
    }
    assert (project / "vendor/github.com/org/lib/sub/a.libsonnet").read_text() == "2"


def test_jb_shim_init_install_update_like_renovate(world: World, project: Path) -> None:
    lib = world.remote("org/lib", {"sub/a.libsonnet": "1"})
    done = jb(project, "init", script=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in project.iterdir()) == ["jsonnetfile.json"]
    done = jb(project, "install", "github.com/org/lib/sub@master", "--legacy-name", "mylib")
    assert done.returncode == 0, done.stderr
    assert os.readlink(project / "vendor" / "mylib") == "github.com/org/lib/sub"
    new = lib.commit({"sub/a.libsonnet": "2"})
    done = jb(project, "-q", "update", "https://github.com/org/lib.git/sub")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert locked(project) == {"https://github.com/org/lib.git/sub": new}
    assert (project / "vendor/github.com/org/lib/sub/a.libsonnet").read_text() == "2"


def test_jb_shim_vendor_dir_and_single(world: World, project: Path) -> None:
    world.remote("org/dep", {"d.libsonnet": "1"})
    world.remote(
        "org/lib",
        {
            "l.libsonnet": "1",
            "jsonnetfile.json": json.dumps(
                {"version": 1, "dependencies": [git_dep(World.url("org/dep"))]}
            ),
        },
    )
    assert jb(project, "init").returncode == 0
    done = jb(project, "--jsonnetpkg-home=deps", "install", "-1", "github.com/org/lib")
    assert done.returncode == 0, done.stderr
    assert (project / "deps/github.com/org/lib/l.libsonnet").is_file()
    assert not (project / "deps/github.com/org/dep").exists()
    assert not (project / "vendor").exists()


def test_jb_shim_works_in_the_current_directory_like_jb(world: World, project: Path) -> None:
    """jb never walks up: in a subdirectory it creates that directory's own jsonnetfile."""
    assert jb(project, "init").returncode == 0
    sub = project / "nested"
    sub.mkdir()
    assert jb(sub, "init").returncode == 0
    assert (sub / "jsonnetfile.json").is_file()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["install", "--frobnicate"], "--frobnicate"),
        (["update", "--single"], "--single"),
        (["rewrite"], "'rewrite'"),
        (["--tls-skip-verify", "update"], "--tls-skip-verify"),
        ([], "no command"),
    ],
)
def test_jb_shim_refuses_unsupported_flags_with_exit_2(
    project: Path, args: list[str], named: str
) -> None:
    before = snapshot(project)
    done = jb(project, *args)
    assert done.returncode == 2
    assert named in done.stderr and done.stderr.count("\n") == 1
    assert snapshot(project) == before


def test_jb_shim_help_and_errors_exit_codes(project: Path) -> None:
    done = jb(project, "--help")
    assert done.returncode == 0 and "kpb-jb update" in done.stdout
    done = jb(project, "update")  # no jsonnetfile.json: an input error, as kpb reports it
    assert done.returncode == 3 and "jsonnetfile.json: not found" in done.stderr
