"""Test-wide isolation: no user git config, a private kpb cache, stable commit hashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.gitrepos import World, github_world


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
