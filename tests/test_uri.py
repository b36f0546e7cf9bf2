"""Install arguments and remotes read the way jb reads them, and hostile ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom_build.errors import ConfigError
from kubeprom_build.vendoring.jsonnetfile import Dependency, GitSource, LocalSource
from kubeprom_build.vendoring.packageuri import parse_uri
from kubeprom_build.vendoring.uri import (
    RemoteParts,
    canonical_remote,
    check_version,
    clean_subdir,
    remote_name_parts,
    split_remote,
)


@pytest.mark.parametrize(
    ("argument", "remote", "subdir", "version", "name", "legacy"),
    [
        (
            "github.com/a/b/c/d@v1",
            "https://github.com/a/b.git",
            "c/d",
            "v1",
            "github.com/a/b/c/d",
            "d",
        ),
        (
            "example.com/g/sub/repo.git/dir",
            "https://example.com/g/sub/repo.git",
            "dir",
            "master",
            "example.com/g/sub/repo/dir",
            "dir",
        ),
        (
            "github.com/kubernetes-monitoring/kubernetes-mixin",
            "https://github.com/kubernetes-monitoring/kubernetes-mixin.git",
            "",
            "master",
            "github.com/kubernetes-monitoring/kubernetes-mixin",
            "kubernetes-mixin",
        ),
        (
            "https://github.com/etcd-io/etcd/contrib/mixin@main",
            "https://github.com/etcd-io/etcd.git",
            "contrib/mixin",
            "main",
            "github.com/etcd-io/etcd/contrib/mixin",
            "mixin",
        ),
        (
            "https://github.com/x/y.git@v0.18.0",
            "https://github.com/x/y.git",
            "",
            "v0.18.0",
            "github.com/x/y",
            "y",
        ),
        (
            "ssh://git@github.com/x/y.git/sub@rel-1",
            "ssh://git@github.com/x/y.git",
            "sub",
            "rel-1",
            "github.com/x/y/sub",
            "sub",
        ),
        (
            "git@gitlab.example.com:team/proj.git/lib",
            "ssh://git@gitlab.example.com/team/proj.git",
            "lib",
            "master",
            "gitlab.example.com/team/proj/lib",
            "lib",
        ),
        ("github.com/x/y@", "https://github.com/x/y.git", "", "master", "github.com/x/y", "y"),
        (
            "github.com/x/y/sub/",
            "https://github.com/x/y.git",
            "sub",
            "master",
            "github.com/x/y/sub",
            "sub",
        ),
        (
            "github.com/~me/y.v2",
            "https://github.com/~me/y.v2.git",
            "",
            "master",
            "github.com/~me/y.v2",
            "y.v2",
        ),
    ],
)
def test_git_uri_forms(
    tmp_path: Path, argument: str, remote: str, subdir: str, version: str, name: str, legacy: str
) -> None:
    dep = parse_uri(argument, tmp_path)
    assert dep == Dependency(GitSource(remote, subdir), version=version)
    assert dep.name == name
    assert dep.legacy_name == legacy


def test_git_form_wins_over_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "github.com" / "a" / "b").mkdir(parents=True)
    assert isinstance(parse_uri("github.com/a/b", tmp_path).source, GitSource)


def test_local_directory_is_cleaned_and_named_after_its_folder(tmp_path: Path) -> None:
    (tmp_path / "jsonnet" / "kube-prometheus").mkdir(parents=True)
    dep = parse_uri("./jsonnet/../jsonnet/kube-prometheus/", tmp_path)
    assert dep == Dependency(LocalSource("jsonnet/kube-prometheus"))
    assert dep.name == dep.legacy_name == "kube-prometheus"
    assert dep.version == ""


def test_local_directory_may_be_a_sibling_of_the_project(tmp_path: Path) -> None:
    (tmp_path / "shared-lib").mkdir()
    (tmp_path / "project").mkdir()
    dep = parse_uri("../shared-lib", tmp_path / "project")
    assert dep.source == LocalSource("../shared-lib")
    assert dep.name == "shared-lib"


@pytest.mark.parametrize("argument", ["no-such-dir", "a-file", ""])
def test_unparsable_argument_is_a_config_error(tmp_path: Path, argument: str) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError):
        parse_uri(argument, tmp_path)


@pytest.mark.parametrize(
    "argument",
    [
        "-oProxyCommand=touch /tmp/pwned",
        "ext::sh -c touch% /tmp/pwned",
        "fd::17/github.com/a/b",
        "github.com/a/b@--upload-pack=touch /tmp/pwned",
        "github.com/a/b@-x",
        "github.com/a/b/../../../../etc",
        "github.com/a/b/sub\\dir",
        "ssh://git@github.com/../../x/y.git",
        "github.com/a/b@a..b",
        "ssh://git@-oProxyCommand=x/u/r.git",
        "git@-oProxyCommand=x:u/r.git",
    ],
)
def test_hostile_arguments_are_refused_naming_the_argument(tmp_path: Path, argument: str) -> None:
    with pytest.raises(ConfigError, match="package"):
        parse_uri(argument, tmp_path)


def test_file_url_argument_with_subdir_and_version(tmp_path: Path) -> None:
    dep = parse_uri("file:///srv/mirrors/github.com/o/r.git/jsonnet/lib@v2", tmp_path)
    assert dep == Dependency(
        GitSource("file:///srv/mirrors/github.com/o/r.git", "jsonnet/lib"), "v2"
    )
    assert dep.name == "github.com/o/r/jsonnet/lib"
    assert parse_uri("file:///srv/r.git", tmp_path).version == "master"
    with pytest.raises(ConfigError, match=r"\.git"):
        parse_uri("file:///srv/plain-dir", tmp_path)


@pytest.mark.parametrize(
    ("remote", "canonical"),
    [
        ("https://github.com/x/y", "https://github.com/x/y.git"),
        ("https://github.com/x/y.git", "https://github.com/x/y.git"),
        ("http://github.com/x/y", "https://github.com/x/y.git"),
        ("git@github.com:x/y.git", "ssh://git@github.com/x/y.git"),
        ("ssh://git@github.com/x/y.git", "ssh://git@github.com/x/y.git"),
        ("https://gitlab.com/g/sub/r.git", "https://gitlab.com/g/sub/r.git"),
        ("file:///tmp/remotes/github.com/o/r.git", "file:///tmp/remotes/github.com/o/r.git"),
        ("/srv/git/team/repo.git", "/srv/git/team/repo.git"),
    ],
)
def test_canonical_remote(remote: str, canonical: str) -> None:
    assert canonical_remote(remote) == canonical


@pytest.mark.parametrize(
    "remote", ["", "-u", "ext::sh", "not a remote", "github/x/y", "https://h.com/x/y\n"]
)
def test_unusable_remotes(remote: str) -> None:
    with pytest.raises(ConfigError):
        canonical_remote(remote)


def test_split_remote() -> None:
    assert split_remote("https://github.com/x/y.git") == RemoteParts("github.com", "x", "y")
    assert split_remote("git@h.example.org:a/b/c.git") == RemoteParts(
        "h.example.org", "a/b", "c", "ssh"
    )
    assert split_remote("file:///tmp/github.com/o/r.git") is None
    assert split_remote("/tmp/github.com/o/r.git") is None
    assert split_remote("nonsense") is None


@pytest.mark.parametrize(
    ("remote", "name"),
    [
        ("file:///tmp/t0/remotes/github.com/owner/repo.git", "github.com/owner/repo"),
        ("file:///srv/mirrors/gitlab.com/g/sub/r.git", "gitlab.com/g/sub/r"),
        ("file:///home/john.doe/m/github.com/o/r.git", "github.com/o/r"),
        ("file:///srv/git/team/repo.git", "local/team/repo"),
        ("file:///srv/git/team/repo", "local/team/repo"),
        ("file:///tmp/a/../b/./r.git", "local/b/r"),
        ("/srv/git/team/repo.git", "local/team/repo"),
        ("../../up/there/r.git", "local/there/r"),
        ("file://localhost/srv/x/y.git", "local/x/y"),
    ],
)
def test_names_for_remotes_jb_cannot_use(remote: str, name: str) -> None:
    assert remote_name_parts(remote).name == name


@pytest.mark.parametrize("remote", ["file:///r.git", "file:///", "/..", "file:///../.."])
def test_unnameable_verbatim_remotes(remote: str) -> None:
    with pytest.raises(ConfigError):
        remote_name_parts(remote)


@settings(deadline=None)
@given(st.text(alphabet=st.sampled_from("ab./-:@~\\\x00 hg.comfile"), max_size=40))
def test_remote_names_never_escape_vendor(remote: str) -> None:
    try:
        name = remote_name_parts(remote).name
    except ConfigError:
        return
    comps = name.split("/")
    assert len(comps) >= 3
    assert all(c not in ("", ".", "..") and "\\" not in c and "\x00" not in c for c in comps)


@pytest.mark.parametrize(
    "version",
    ["master", "main", "v0.18.0", "release-0.14", "refs/tags/v1", "feature/x<y>&z", "a" * 40],
)
def test_valid_versions(version: str) -> None:
    check_version(version)


@pytest.mark.parametrize(
    "version",
    [
        "-x",
        "--upload-pack=touch /tmp/pwned",
        "a b",
        "a..b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "/a",
        "a/",
        "a//b",
        "a.",
        ".a",
        "a/.b",
        "a.lock",
        "@",
        "a@{1}",
        "x\x7f",
        "x\n",
    ],
)
def test_invalid_versions(version: str) -> None:
    with pytest.raises(ConfigError, match="version"):
        check_version(version)


@pytest.mark.parametrize(
    ("subdir", "clean"),
    [("", ""), ("/", ""), ("/a/b/", "a/b"), ("a//b", "a/b"), ("./a/./b", "a/b"), (".", "")],
)
def test_clean_subdir(subdir: str, clean: str) -> None:
    assert clean_subdir(subdir) == clean


@pytest.mark.parametrize("subdir", ["..", "a/../b", "../x", "a\\b", "a\x00b"])
def test_unsafe_subdir(subdir: str) -> None:
    with pytest.raises(ConfigError, match="subdir"):
        clean_subdir(subdir)
