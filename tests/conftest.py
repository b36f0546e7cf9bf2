"""Test-wide isolation (no user git config, a private kpb cache, stable commit hashes) and the
fixtures several test modules share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers.gitrepos import World, git_dep, github_world, write_jsonnetfile
from tests.helpers.projects import LIB_FILES


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets an empty kpb cache and a git that ignores the developer's own config."""
    cache = tmp_path_factory.mktemp("kpb-cache")
    monkeypatch.setenv("KPB_CACHE", str(cache))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "kpb tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@kpb.invalid")
        monkeypatch.setenv(f"GIT_{role}_DATE", "2024-01-01T00:00:00Z")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("KPB_ENGINE", raising=False)
    yield cache


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """Remotes that look like GitHub (``https://github.com/ORG/NAME.git``), served locally."""
    return github_world(tmp_path, monkeypatch)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake HOME: an attacker aims at ``~/.ssh/authorized_keys``, which must never appear."""
    path = tmp_path / "home"
    (path / ".ssh").mkdir(parents=True)
    (path / ".ssh" / "known_hosts").write_text("github.com ssh-ed25519 AAAA\n")
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory (a module whose tests need more overrides this fixture)."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def vendored_project(tmp_path: Path, world: World, home: Path) -> Path:
    """A project with one GitHub-like dependency (``org/good``) vendored and locked: the state
    a failing run must leave as it was. HOME is the fake ``home``, which attacks aim at."""
    path = tmp_path / "project"
    path.mkdir()
    world.remote("org/good", {"g.libsonnet": "{}\n", "sub/x.libsonnet": "{}\n"})
    write_jsonnetfile(path, [git_dep(World.url("org/good"))])
    assert run(["-C", str(path), "vendor"]) == 0
    return path


@pytest.fixture
def lib_project(tmp_path: Path, world: World) -> Path:
    """A project with ``org/lib`` (``projects.LIB_FILES``, three files in two folders) vendored:
    the tree the vendor record and its stat fingerprints are tested on."""
    world.remote("org/lib", dict(LIB_FILES))
    path = tmp_path / "project"
    path.mkdir()
    write_jsonnetfile(path, [git_dep(World.url("org/lib"))])
    assert run(["-C", str(path), "vendor"]) == 0
    return path
