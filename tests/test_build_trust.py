""" "Up to date" must be true: the stamp names the kpb that wrote it, and building starts only
when vendor/ matches the lock (issue 8, trust).

The scenarios run the real ``kpb`` (``python -m kubeprom_build`` in a child process) against
real git remotes that look like GitHub (``url.<base>.insteadOf``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import kubeprom_build
from kubeprom_build.rendering import buildstate
from kubeprom_build.vendoring import commands as vendor
from tests.helpers import projects
from tests.helpers.gitrepos import (
    Remote,
    World,
    git,
    git_dep,
    snapshot,
    write_jsonnetfile,
)

PACKAGE = Path(kubeprom_build.__file__).resolve().parent
LIB = "github.com/org/lib"
NOT_READY = 4


def kpb(
    project: Path, *args: str, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command in a child process (the test's git and cache isolation is inherited)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "kubeprom_build", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,  # not the checkout: ``-m`` puts the working directory first on sys.path
        check=False,
        timeout=120,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """stderr of a refused command: exactly one line, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# --------------------------------------------------------------------------- kpb's own code


def test_a_stamp_written_by_another_kpb_source_is_not_trusted(tmp_path: Path) -> None:
    project = projects.make_project(tmp_path / "repo")
    installed = tmp_path / "site"
    shutil.copytree(
        PACKAGE, installed / "kubeprom_build", ignore=shutil.ignore_patterns("__pycache__")
    )
    first = kpb(project, "build", "dev", pythonpath=installed)
    assert first.returncode == 0, first.stderr
    again = kpb(project, "build", "dev", pythonpath=installed)
    assert "up to date (skipped)" in again.stdout  # the control: same kpb, nothing changed
    module = installed / "kubeprom_build" / "rendering" / "yamlemit.py"
    module.write_text(module.read_text() + "\n# a comment: any change to kpb's code counts\n")
    changed = kpb(project, "build", "dev", pythonpath=installed)
    assert changed.returncode == 0, changed.stderr
    assert "up to date (skipped)" not in changed.stdout
    assert "unchanged" in changed.stdout  # re-evaluated, and the output is the same
    assert "up to date (skipped)" in kpb(project, "build", "dev", pythonpath=installed).stdout


def test_stamp_records_the_writing_kpb_and_refuses_others(tmp_path: Path) -> None:
    project = projects.make_project(tmp_path / "repo")
    assert kpb(project, "build", "dev").returncode == 0
    path = buildstate.stamp_path(project / ".kpb", "dev")
    body = json.loads(path.read_text())
    assert body["kpb"] == buildstate.kpb_identity()
    assert body["kpb"].startswith(kubeprom_build.__version__ + "+")
    assert buildstate.load(project / ".kpb", "dev") is not None
    body["kpb"] = kubeprom_build.__version__ + "+" + "0" * 64  # same version, other source
    path.write_text(json.dumps(body))
    assert buildstate.load(project / ".kpb", "dev") is None
    assert "up to date (skipped)" not in kpb(project, "build", "dev").stdout


def test_hashing_kpb_source_is_cheap() -> None:
    buildstate.kpb_identity.cache_clear()
    started = time.perf_counter()
    identity = buildstate.kpb_identity()
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05, elapsed  # measured: about 1.5 ms for the whole package
    started = time.perf_counter()
    assert buildstate.kpb_identity() == identity
    assert time.perf_counter() - started < 0.001  # once per process


# --------------------------------------------------------------------------- vendor/ vs lock

ENV = """
local lib = import 'github.com/org/lib/main.libsonnet';
{ 'lib-configmap': { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'lib' },
                     data: { value: lib.value } } }
"""


def team_project(world: World, root: Path) -> Path:
    """A repository with one git dependency, vendored at its first commit (value 'A')."""
    world.remote("org/lib", {"main.libsonnet": "{ value: 'A' }\n"})
    root.mkdir()
    git(root, "init", "--quiet")
    write_jsonnetfile(root, [git_dep(World.url("org/lib"))])
    projects.set_env(root, "dev", ENV)
    return root


def value_in(project: Path) -> str:
    return (project / "manifests" / "dev" / "lib-configmap.yaml").read_text()


def test_pull_after_update_refuses_until_vendored(world: World, tmp_path: Path) -> None:
    project = team_project(world, tmp_path / "mine")
    assert kpb(project, "vendor").returncode == 0
    assert kpb(project, "build", "dev").returncode == 0
    assert "value: A" in value_in(project)
    # A teammate runs 'kpb update' in their clone after the library moved on, and commits the lock.
    Remote(world.root / "github.com" / "org" / "lib.git").commit(
        {"main.libsonnet": "{ value: 'B' }\n"}
    )
    teammate = tmp_path / "teammate"
    teammate.mkdir()
    shutil.copy(project / "jsonnetfile.json", teammate / "jsonnetfile.json")
    shutil.copy(project / "jsonnetfile.lock.json", teammate / "jsonnetfile.lock.json")
    assert kpb(teammate, "update").returncode == 0
    # 'git pull' brings the new lock; vendor/ still holds commit A.
    shutil.copy(teammate / "jsonnetfile.lock.json", project / "jsonnetfile.lock.json")
    before = snapshot(project / "vendor", project / "manifests")
    for args in (["build", "dev"], ["build", "--check", "dev"], ["diff", "dev"]):
        proc = kpb(project, *args)
        assert proc.returncode == NOT_READY, (args, proc.stdout, proc.stderr)
        line = one_line(proc)
        assert LIB in line and "run 'kpb vendor'" in line, line
        assert "up to date" not in proc.stdout
    assert snapshot(project / "vendor", project / "manifests") == before
    vendored = kpb(project, "build", "--vendor", "dev")
    assert vendored.returncode == 0, vendored.stderr
    assert "value: B" in value_in(project)
    assert kpb(project, "build", "--check", "dev").returncode == 0
    assert kpb(project, "diff", "dev").returncode == 0


def test_fresh_clone_without_vendor_says_run_kpb_vendor(world: World, tmp_path: Path) -> None:
    project = team_project(world, tmp_path / "clone")
    assert kpb(project, "vendor").returncode == 0
    shutil.rmtree(project / "vendor")  # what a fresh clone has (vendor/ is git-ignored)
    for args in (["build", "dev"], ["build", "--check", "dev"], ["diff", "dev"]):
        proc = kpb(project, *args)
        assert proc.returncode == NOT_READY, (args, proc.stderr)
        line = one_line(proc)
        assert line.startswith("error: vendor/ is missing (1 locked package: " + LIB), line
        assert "run 'kpb vendor'" in line and "jsonnet" not in line.split(";")[0].lower()
    assert not (project / "vendor").exists() and not (project / "manifests").exists()
    built = kpb(project, "build", "--vendor", "dev")
    assert built.returncode == 0, built.stderr
    assert "value: A" in value_in(project)


def test_an_edited_package_or_an_unlocked_dependency_is_not_ready(
    world: World, tmp_path: Path
) -> None:
    project = team_project(world, tmp_path / "repo")
    assert kpb(project, "vendor").returncode == 0
    opts = vendor.Options(project, project / "vendor")
    assert vendor.ready(opts) == ()
    edited = project / "vendor" / LIB / "main.libsonnet"
    edited.write_text("{ value: 'hand-edited' }\n")
    assert vendor.ready(opts) == (LIB,)
    assert kpb(project, "vendor").returncode == 0
    assert vendor.ready(opts) == ()
    world.remote("org/other", {"main.libsonnet": "{}\n"})
    write_jsonnetfile(project, [git_dep(World.url("org/lib")), git_dep(World.url("org/other"))])
    assert vendor.ready(opts) == ("github.com/org/other",)
    proc = kpb(project, "build", "dev")
    assert proc.returncode == NOT_READY
    assert "1 missing or stale: github.com/org/other" in one_line(proc)


def test_the_message_names_a_few_packages_and_counts_the_rest(world: World, tmp_path: Path) -> None:
    project = tmp_path / "repo"
    project.mkdir()
    git(project, "init", "--quiet")
    names = [f"org/lib{i}" for i in range(5)]
    for slug in names:
        world.remote(slug, {"main.libsonnet": "{}\n"})
    write_jsonnetfile(project, [git_dep(World.url(slug)) for slug in names])
    projects.set_env(project, "dev", "{}\n")
    proc = kpb(project, "build", "dev")
    assert proc.returncode == NOT_READY
    line = one_line(proc)
    assert "github.com/org/lib0, github.com/org/lib1, github.com/org/lib2 and 2 more" in line


def test_a_project_without_jsonnetfile_needs_no_vendor(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    git(project, "init", "--quiet")
    projects.set_env(project, "dev", projects.objects_env({"cm": {"kind": "ConfigMap"}}))
    assert vendor.ready(vendor.Options(project, project / "vendor")) == ()
    proc = kpb(project, "build", "dev")
    assert proc.returncode == 0, proc.stderr
    assert (project / "manifests" / "dev" / "cm.yaml").is_file()
    assert kpb(project, "build", "--check", "dev").returncode == 0
    vendored = kpb(project, "build", "--vendor", "--force", "dev")  # nothing to vendor: builds
    assert vendored.returncode == 0, vendored.stderr
    assert not (project / "vendor").exists()


def test_readiness_takes_no_lock_and_writes_nothing(world: World, tmp_path: Path) -> None:
    project = team_project(world, tmp_path / "repo")
    assert kpb(project, "vendor").returncode == 0
    shutil.rmtree(project / ".kpb")
    before = snapshot(project)
    world.root.rename(tmp_path / "gone")  # no network: any git access would fail
    assert vendor.ready(vendor.Options(project, project / "vendor")) == ()
    assert snapshot(project) == before


# --------------------------------------------------------------------------- layering


def test_building_never_loads_vendoring() -> None:
    """Only the CLI joins the two halves: a build reads vendor/, it never vendors.

    tests/test_layers.py checks each import statement; this checks what a fresh interpreter
    actually loads for the rendering half, including imports made inside functions.
    """
    probe = (
        "import sys, kubeprom_build.rendering as r, kubeprom_build.rendering.pipeline as p\n"
        "print(sorted(m for m in sys.modules if m.startswith('kubeprom_build.vendoring')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
