"""Test-wide isolation: no user git config, a private kpb cache, stable commit hashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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
