"""The git wrappers against real repositories: ref resolution, partial fetch, safe extraction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeprom_build.errors import ConfigError, GitError
from kubeprom_build.vendoring import git
from tests.helpers.gitrepos import Remote, make_remote


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_remote(
        tmp_path, "lib", {"sub/a.libsonnet": "{a: 1}\n", "other/big.txt": "x" * 5000}
    )


def test_ls_remote_prefers_heads_and_keeps_tag_object_sha(remote: Remote) -> None:
    commit = remote.head()
    tag_object = remote.tag("v1", annotated=True)
    assert tag_object != commit
    assert git.ls_remote(remote.url, "v1") == tag_object
    remote.commit({"x": "1"})
    remote.branch("v1")  # a branch with the same name sorts first, like in jb
    assert git.ls_remote(remote.url, "v1") == remote.head()
    assert git.ls_remote(remote.url, "nope") is None


def test_ls_remote_matches_ref_tails(remote: Remote) -> None:
    sha = remote.tag("api/v3.6.12")
    assert git.ls_remote(remote.url, "v3.6.12") == sha


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/pwned", "-x", "a b", "x:y", ""])
def test_refs_that_look_like_options_are_refused(remote: Remote, ref: str) -> None:
    with pytest.raises(ConfigError):
        git.ls_remote(remote.url, ref)


@pytest.mark.parametrize(
    "url", ["ext::sh -c touch% /tmp/pwned", "fd::3", "-oProxyCommand=x", "EXT::x", "a\nb"]
)
def test_dangerous_remotes_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        git.check_remote(url)


def test_ext_transport_is_disabled_even_if_validation_is_bypassed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(GitError):
        git.run(["ls-remote", "--", f"ext::sh -c touch% {marker}"], what="ls-remote")
    assert not marker.exists()


def test_environment_cannot_redirect_git(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", str(remote.path / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'protocol.ext.allow'='always'")
    env = git.clean_env()
    assert "GIT_DIR" not in env and "GIT_CONFIG_PARAMETERS" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null"  # the user's config file is still honoured
    repo = tmp_path / "bare"
    git.init_bare(repo, remote.url)
    assert (repo / "HEAD").is_file()
    assert not (repo / "hooks").exists()  # empty template: no sample hooks


def _partial_clone(remote: Remote, tmp_path: Path, sha: str) -> Path:
    repo = tmp_path / "cache.git"
    git.init_bare(repo, remote.url)
    git.fetch(repo, [f"+{sha}:refs/kpb/sha/{sha}"], depth=1, what="fetch")
    return repo


def test_partial_fetch_then_only_subdir_blobs(remote: Remote, tmp_path: Path) -> None:
    commit = remote.head()
    repo = _partial_clone(remote, tmp_path, commit)
    missing = git.missing_objects(repo, [f"{commit}:sub"])
    assert missing is not None and len(missing) == 1
    assert len(git.missing_objects(repo, [f"{commit}^{{tree}}"]) or []) == 2
    git.fetch_objects(repo, missing, what="blobs")
    assert git.missing_objects(repo, [f"{commit}:sub"]) == []
    assert git.missing_objects(repo, [f"{commit}:other"]) != []  # big blob never fetched
    assert git.missing_objects(repo, [f"{commit}:nope"]) is None
    dest = tmp_path / "out"
    dest.mkdir()
    git.archive(repo, commit, "sub", dest, what="extract")
    assert (dest / "a.libsonnet").read_text() == "{a: 1}\n"
    assert [p.name for p in dest.iterdir()] == ["a.libsonnet"]


def test_non_tip_commit_and_tag_object_fetch_and_peel(remote: Remote, tmp_path: Path) -> None:
    old = remote.head()
    tag_object = remote.tag("v1", annotated=True)
    remote.commit({"sub/b.libsonnet": "{}"})
    repo = _partial_clone(remote, tmp_path, old)
    assert git.peel_commit(repo, old) == old
    git.fetch(repo, [f"+{tag_object}:refs/kpb/sha/{tag_object}"], depth=1, what="tag")
    assert git.peel_commit(repo, tag_object) == old
    assert git.refs(repo, "refs/kpb/sha/") == {
        f"refs/kpb/sha/{old}": old,
        f"refs/kpb/sha/{tag_object}": tag_object,
    }


def test_archive_refuses_symlink_escaping_package(remote: Remote, tmp_path: Path) -> None:
    remote.symlink("sub/inside.libsonnet", "a.libsonnet")
    remote.symlink("sub/escape", "../other/big.txt")
    commit = remote.commit({})
    repo = _partial_clone(remote, tmp_path, commit)
    git.fetch_objects(repo, git.missing_objects(repo, [f"{commit}^{{tree}}"]) or [], what="b")
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ConfigError, match="escape"):
        git.archive(repo, commit, "sub", dest, what="extract")
    dest2 = tmp_path / "ok"
    dest2.mkdir()
    git.archive(repo, commit, "other", dest2, what="extract")
    assert (dest2 / "big.txt").stat().st_size == 5000


def test_archive_keeps_internal_symlink_and_exec_bit(remote: Remote, tmp_path: Path) -> None:
    remote.symlink("sub/inside.libsonnet", "a.libsonnet")
    remote.write({"sub/run.sh": "#!/bin/sh\n"})
    os.chmod(remote.path / "sub/run.sh", 0o755)
    commit = remote.commit({})
    repo = _partial_clone(remote, tmp_path, commit)
    git.fetch_objects(repo, git.missing_objects(repo, [f"{commit}^{{tree}}"]) or [], what="b")
    dest = tmp_path / "out"
    dest.mkdir()
    git.archive(repo, commit, "sub", dest, what="extract")
    assert os.readlink(dest / "inside.libsonnet") == "a.libsonnet"
    assert os.access(dest / "run.sh", os.X_OK)
    assert not os.access(dest / "a.libsonnet", os.X_OK)


def test_archive_applies_export_ignore_like_github_tarballs(remote: Remote, tmp_path: Path) -> None:
    commit = remote.commit({"sub/.gitattributes": "secret export-ignore\n", "sub/secret": "s"})
    repo = _partial_clone(remote, tmp_path, commit)
    git.fetch_objects(repo, git.missing_objects(repo, [f"{commit}^{{tree}}"]) or [], what="b")
    dest = tmp_path / "out"
    dest.mkdir()
    git.archive(repo, commit, "sub", dest, what="extract")
    assert sorted(p.name for p in dest.iterdir()) == [".gitattributes", "a.libsonnet"]


def test_unreachable_remote_is_a_one_line_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError) as info:
        git.ls_remote(f"file://{tmp_path}/missing", "master")
    assert "\n" not in str(info.value)
    assert "cannot list refs" in str(info.value)


def test_read_blob_fetches_one_file(remote: Remote, tmp_path: Path) -> None:
    commit = remote.head()
    repo = _partial_clone(remote, tmp_path, commit)
    assert git.read_blob(repo, commit, "sub/a.libsonnet", offline=False) == b"{a: 1}\n"
    assert git.read_blob(repo, commit, "missing.json", offline=False) is None
    assert git.missing_objects(repo, [f"{commit}:other"]) != []


def test_users_ssh_command_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    git._user_ssh_command.cache_clear()
    assert "BatchMode" in git.clean_env()["GIT_SSH_COMMAND"]
    config = tmp_path / "gitconfig"
    config.write_text("[core]\n\tsshCommand = ssh -i /keys/deploy\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    git._user_ssh_command.cache_clear()
    try:
        assert "GIT_SSH_COMMAND" not in git.clean_env()
    finally:
        git._user_ssh_command.cache_clear()
