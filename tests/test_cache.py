"""The user-level git cache: where it lives, what it fetches, and what it refuses offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeprom_build.errors import GitError
from kubeprom_build.vendoring import git
from kubeprom_build.vendoring.cache import GitCache, cache_root, entry_name
from tests.helpers.gitrepos import Remote, make_remote, snapshot


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    files = {"sub/main.libsonnet": "{}\n", "big/blob.bin": os.urandom(200_000)}
    return make_remote(tmp_path / "remotes", "lib", files)


@pytest.fixture
def cache(tmp_path: Path) -> GitCache:
    return GitCache(root=tmp_path / "cache")


def test_cache_root_follows_kpb_cache_then_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPB_CACHE", "/x/kpb")
    assert cache_root() == Path("/x/kpb")
    monkeypatch.delenv("KPB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/y")
    assert cache_root() == Path("/y/kpb")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "kpb"


def test_entry_names_are_readable_and_distinct() -> None:
    a = entry_name("https://github.com/grafana/jsonnet-libs.git")
    assert a.startswith("github.com-grafana-jsonnet-libs-")
    assert a != entry_name("ssh://git@github.com/grafana/jsonnet-libs.git")
    assert "/" not in entry_name("file:///../../etc")


def test_export_fetches_only_the_subdir_blobs(
    remote: Remote, cache: GitCache, tmp_path: Path
) -> None:
    sha = cache.resolve(remote.url, "master")
    dest = tmp_path / "out"
    dest.mkdir()
    assert cache.export(remote.url, sha, "sub", dest) == sha
    assert (dest / "main.libsonnet").read_text() == "{}\n"
    size = sum(p.stat().st_size for p in cache.root.rglob("*") if p.is_file())
    assert size < 100_000, "the 200 kB blob outside the subdir must not be downloaded"
    repo = cache.repo_path(remote.url)
    assert git.missing_objects(repo, [f"{sha}:big"]) != []


def test_cached_commit_needs_no_network(remote: Remote, cache: GitCache, tmp_path: Path) -> None:
    sha = cache.resolve(remote.url, "master")
    (tmp_path / "a").mkdir()
    cache.export(remote.url, sha, "sub", tmp_path / "a")
    remote.path.rename(tmp_path / "gone")  # the remote is now unreachable
    (tmp_path / "b").mkdir()
    cache.export(remote.url, sha, "sub", tmp_path / "b")
    offline = GitCache(root=cache.root, offline=True)
    (tmp_path / "c").mkdir()
    offline.export(remote.url, sha, "sub", tmp_path / "c")
    assert (tmp_path / "c" / "main.libsonnet").is_file()


def test_offline_names_what_is_missing(remote: Remote, cache: GitCache, tmp_path: Path) -> None:
    sha = cache.resolve(remote.url, "master")
    (tmp_path / "a").mkdir()
    cache.export(remote.url, sha, "sub", tmp_path / "a")
    offline = GitCache(root=cache.root, offline=True)
    with pytest.raises(GitError, match="not in the cache"):
        offline.export(remote.url, sha, "big", tmp_path / "a")
    with pytest.raises(GitError, match=r"lib.*master.*--offline"):
        offline.resolve(remote.url, "master")
    with pytest.raises(GitError, match="not in the cache"):
        offline.commit(remote.url, "1" * 40)


def test_tag_object_sha_is_peeled_and_kept(remote: Remote, cache: GitCache, tmp_path: Path) -> None:
    commit = remote.head()
    tag_object = remote.tag("v1.0.0", annotated=True)
    remote.commit({"sub/main.libsonnet": "{moved: true}\n"})
    sha = cache.resolve(remote.url, "v1.0.0")
    assert sha == tag_object
    dest = tmp_path / "out"
    dest.mkdir()
    assert cache.export(remote.url, sha, "sub", dest) == commit
    assert (dest / "main.libsonnet").read_text() == "{}\n"


def test_unknown_version_and_unreachable_remote_leave_cache_untouched(
    remote: Remote, cache: GitCache, tmp_path: Path
) -> None:
    sha = cache.resolve(remote.url, "master")
    (tmp_path / "a").mkdir()
    cache.export(remote.url, sha, "sub", tmp_path / "a")
    before = snapshot(cache.root / "repos")
    with pytest.raises(GitError, match="does not exist"):
        cache.resolve(remote.url, "v9.9.9")
    with pytest.raises(GitError, match="does not exist"):
        cache.commit(remote.url, "0123456789" * 4)
    with pytest.raises(GitError):
        cache.commit(f"file://{tmp_path}/nowhere", "0123456789" * 4)
    with pytest.raises(GitError, match="subdir 'nope' does not exist"):
        cache.export(remote.url, sha, "nope", tmp_path / "a")
    assert snapshot(cache.root / "repos") == before


def test_interrupted_entry_creation_leaves_no_entry(
    remote: Remote, cache: GitCache, tmp_path: Path
) -> None:
    with pytest.raises(GitError):
        cache.commit(remote.url, "0123456789" * 4)
    assert not cache.repo_path(remote.url).exists()
    assert list((cache.root / "repos").iterdir()) == []


def test_read_file_returns_repo_root_file(remote: Remote, cache: GitCache) -> None:
    sha = remote.commit({"jsonnetfile.lock.json": "{}\n"})
    assert cache.read_file(remote.url, sha, "jsonnetfile.lock.json") == b"{}\n"
    assert cache.read_file(remote.url, sha, "missing.json") is None


def test_falls_back_to_full_fetch_for_unadvertised_commit_on_v0_protocol(
    remote: Remote, cache: GitCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = remote.head()
    remote.commit({"sub/main.libsonnet": "{new: 1}\n"})
    config = tmp_path / "v0.gitconfig"
    config.write_text("[protocol]\n\tversion = 0\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))  # old servers refuse unadvertised wants
    dest = tmp_path / "out"
    dest.mkdir()
    assert cache.export(remote.url, old, "sub", dest) == old
    assert (dest / "main.libsonnet").read_text() == "{}\n"


def test_server_without_filter_support_still_works(
    remote: Remote, cache: GitCache, tmp_path: Path
) -> None:
    git.run(["config", "uploadpack.allowFilter", "false"], cwd=remote.path, what="config")
    sha = cache.resolve(remote.url, "master")
    dest = tmp_path / "out"
    dest.mkdir()
    assert cache.export(remote.url, sha, "sub", dest) == sha
    assert (dest / "main.libsonnet").read_text() == "{}\n"
    offline = GitCache(root=cache.root, offline=True)
    (tmp_path / "again").mkdir()
    offline.export(remote.url, sha, "big", tmp_path / "again")  # everything came at once


def test_abbreviated_sha_is_expanded_like_jbs_git_path(remote: Remote, cache: GitCache) -> None:
    old = remote.head()
    remote.commit({"sub/main.libsonnet": "{new: 1}\n"})
    assert cache.resolve(remote.url, old[:9]) == old
    assert cache.has(remote.url, old)
    with pytest.raises(GitError, match="does not exist"):
        cache.resolve(remote.url, "deadbeef1")
