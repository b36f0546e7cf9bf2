"""``kpb init/install/vendor/update`` end to end, through real git remotes that look like GitHub.

``https://github.com/ORG/NAME.git`` is redirected to local repositories with
``url.<base>.insteadOf``, exactly how users point kpb at mirrors.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.vendoring.checksum import dir_sum
from tests.helpers.cli import kpb
from tests.helpers.gitrepos import (
    World,
    git_dep,
    local_dep,
    make_remote,
    snapshot,
    write_jsonnetfile,
)
from tests.helpers.realworld import SKIP_REASON, mirrors_dir


def lock_of(project: Path) -> dict[str, dict[str, object]]:
    data = json.loads((project / "jsonnetfile.lock.json").read_text())
    deps: list[dict[str, object]] = data["dependencies"]
    names = {}
    for d in deps:
        git = d["source"]["git"]  # type: ignore[index]
        remote = git["remote"].removeprefix("https://").removesuffix(".git")
        names[remote + ("/" + git["subdir"] if git["subdir"] else "")] = d
    return names


def test_init_writes_jb_bytes_and_refuses_to_overwrite(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kpb(project, "init", "--minimal") == 0
    expected = '{\n  "version": 1,\n  "dependencies": [],\n  "legacyImports": true\n}\n'
    assert (project / "jsonnetfile.json").read_text() == expected
    assert kpb(project, "init", "--minimal") == 3
    assert "jsonnetfile.json already exists" in capsys.readouterr().err


def test_install_writes_jb_identical_files(world: World, project: Path) -> None:
    lib = world.remote("grafana/jsonnet-libs", {"mixin-utils/utils.libsonnet": "{}\n"})
    assert kpb(project, "init") == 0
    assert kpb(project, "install", "github.com/grafana/jsonnet-libs/mixin-utils@master") == 0
    sha = lib.head()
    sum_ = dir_sum(project / "vendor/github.com/grafana/jsonnet-libs/mixin-utils")
    assert (project / "jsonnetfile.lock.json").read_text() == (
        "{\n"
        '  "version": 1,\n'
        '  "dependencies": [\n'
        "    {\n"
        '      "source": {\n'
        '        "git": {\n'
        '          "remote": "https://github.com/grafana/jsonnet-libs.git",\n'
        '          "subdir": "mixin-utils"\n'
        "        }\n"
        "      },\n"
        f'      "version": "{sha}",\n'
        f'      "sum": "{sum_}"\n'
        "    }\n"
        "  ],\n"
        '  "legacyImports": false\n'
        "}\n"
    )
    jf = json.loads((project / "jsonnetfile.json").read_text())
    assert jf["dependencies"][0]["version"] == "master"
    assert os.readlink(project / "vendor/mixin-utils") == (
        "github.com/grafana/jsonnet-libs/mixin-utils"
    )


def _two_level(world: World) -> None:
    """kube-prometheus-like: kp/jsonnet/kp needs lib/mixin and base (which needs lib too)."""
    world.remote("org/lib", {"mixin/m.libsonnet": "{m: 1}\n", "other/x": "x"})
    base = world.remote("org/base", {"base.libsonnet": "{}\n"})
    base.jsonnetfile("", [git_dep(World.url("org/lib"), "mixin", "master")])
    base.commit({})
    kp = world.remote("org/kp", {"jsonnet/kp/main.libsonnet": "{}\n"})
    kp.jsonnetfile(
        "jsonnet/kp",
        [git_dep(World.url("org/base"), "", "master"), git_dep(World.url("org/lib"), "mixin")],
    )
    kp.commit({})


def test_transitive_diamond_and_noop_without_network(
    world: World, project: Path, tmp_path: Path
) -> None:
    _two_level(world)
    write_jsonnetfile(project, [git_dep(World.url("org/kp"), "jsonnet/kp", "master")])
    assert kpb(project, "vendor") == 0
    assert set(lock_of(project)) == {
        "github.com/org/kp/jsonnet/kp",
        "github.com/org/base",
        "github.com/org/lib/mixin",
    }
    for link, target in [
        ("kp", "github.com/org/kp/jsonnet/kp"),
        ("mixin", "github.com/org/lib/mixin"),
    ]:
        assert os.readlink(project / "vendor" / link) == target
    lock_bytes = (project / "jsonnetfile.lock.json").read_bytes()
    lock_mtime = (project / "jsonnetfile.lock.json").stat().st_mtime_ns
    before = snapshot(project / "vendor")
    world.root.rename(tmp_path / "offline-remotes")  # any git network access would now fail
    assert kpb(project, "vendor") == 0
    assert snapshot(project / "vendor") == before
    assert (project / "jsonnetfile.lock.json").read_bytes() == lock_bytes
    assert (project / "jsonnetfile.lock.json").stat().st_mtime_ns == lock_mtime
    shutil.rmtree(project / "vendor")  # warm cache, empty vendor: still no network needed
    assert kpb(project, "vendor", "--offline") == 0
    assert snapshot(project / "vendor") == before


def test_plain_output_names_each_package_once_and_is_silent_on_a_noop(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_level(world)  # org/lib/mixin is asked for twice (a diamond)
    write_jsonnetfile(project, [git_dep(World.url("org/kp"), "jsonnet/kp", "master")])
    capsys.readouterr()
    assert kpb(project, "vendor") == 0
    fetched = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("fetched")]
    assert sorted(ln.split()[1] for ln in fetched) == sorted(lock_of(project))
    assert kpb(project, "vendor") == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "3 already in place" in lines[0], lines


def test_v0_jsonnetfile_is_read_and_rewritten_as_v1(world: World, project: Path) -> None:
    world.remote("org/lib", {"sub/a.libsonnet": "{}\n"})
    v0 = {
        "dependencies": [
            {
                "name": "sub",
                "source": {"git": {"remote": "https://github.com/org/lib", "subdir": "/sub"}},
                "version": "master",
            }
        ]
    }
    (project / "jsonnetfile.json").write_text(json.dumps(v0, indent=2))
    assert kpb(project, "vendor") == 0
    jf = json.loads((project / "jsonnetfile.json").read_text())
    assert jf["version"] == 1
    assert "name" not in jf["dependencies"][0]  # equal to the default: dropped, as jb does
    assert jf["dependencies"][0]["source"]["git"] == {
        "remote": "https://github.com/org/lib.git",
        "subdir": "sub",
    }
    assert os.readlink(project / "vendor/sub") == "github.com/org/lib/sub"


def test_annotated_tag_locks_tag_object_and_is_never_rewritten(world: World, project: Path) -> None:
    lib = world.remote("org/lib", {"a.libsonnet": "{v: 1}\n"})
    commit = lib.head()
    tag_object = lib.tag("v1.0.0", annotated=True)
    light = lib.tag("v1.0.0-light")
    assert light == commit
    lib.commit({"a.libsonnet": "{v: 2}\n"})
    write_jsonnetfile(project, [git_dep(World.url("org/lib"), "", "v1.0.0")])
    assert kpb(project, "vendor") == 0
    assert lock_of(project)["github.com/org/lib"]["version"] == tag_object
    assert (project / "vendor/github.com/org/lib/a.libsonnet").read_text() == "{v: 1}\n"
    lock_bytes = (project / "jsonnetfile.lock.json").read_bytes()
    shutil.rmtree(project / "vendor")
    assert kpb(project, "vendor") == 0
    assert (project / "jsonnetfile.lock.json").read_bytes() == lock_bytes
    assert kpb(project, "install", "github.com/org/lib@v1.0.0-light") == 0
    assert lock_of(project)["github.com/org/lib"]["version"] == commit


def test_branch_moves_only_with_update(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = world.remote("org/a", {"a.libsonnet": "1"})
    b = world.remote("org/b", {"b.libsonnet": "1"})
    write_jsonnetfile(project, [git_dep(World.url("org/a")), git_dep(World.url("org/b"))])
    assert kpb(project, "vendor") == 0
    old_a, old_b = a.head(), b.head()
    new_a, new_b = a.commit({"a.libsonnet": "2"}), b.commit({"b.libsonnet": "2"})
    shutil.rmtree(project / "vendor")
    assert kpb(project, "vendor") == 0  # the lock wins: nothing moves
    assert lock_of(project)["github.com/org/a"]["version"] == old_a
    assert (project / "vendor/github.com/org/a/a.libsonnet").read_text() == "1"
    capsys.readouterr()
    assert kpb(project, "update", "github.com/org/a") == 0
    out = capsys.readouterr().out
    assert f"{old_a[:12]}  →  {new_a[:12]}" in out
    assert "org/b" not in out
    assert lock_of(project)["github.com/org/a"]["version"] == new_a
    assert lock_of(project)["github.com/org/b"]["version"] == old_b
    assert (project / "vendor/github.com/org/a/a.libsonnet").read_text() == "2"
    assert kpb(project, "update") == 0
    assert lock_of(project)["github.com/org/b"]["version"] == new_b
    assert kpb(project, "update", "github.com/org/nope") == 3


def test_pruning_follows_jb(world: World, project: Path) -> None:
    world.remote("org/foo", {"f.libsonnet": "1"})
    write_jsonnetfile(project, [git_dep(World.url("org/foo"))])
    vendor = project / "vendor"
    (vendor / "github.com/org/foo-old").mkdir(parents=True)  # string-prefix of a dep: kept
    (vendor / "github.com/gone/pkg").mkdir(parents=True)
    (vendor / "github.com/gone/pkg/x.libsonnet").write_text("1")
    (vendor / "README.txt").write_text("plain files directly in vendor/ are kept")
    os.symlink("github.com/gone/pkg", vendor / "stale")
    assert kpb(project, "vendor") == 0
    assert (vendor / "github.com/org/foo-old").is_dir()
    assert not (vendor / "github.com/gone").exists()
    assert (vendor / "README.txt").exists()
    assert not (vendor / "stale").is_symlink()
    assert os.readlink(vendor / "foo") == "github.com/org/foo"


def test_legacy_imports_false_makes_no_symlinks(world: World, project: Path) -> None:
    world.remote("org/foo", {"f.libsonnet": "1"})
    path = write_jsonnetfile(project, [git_dep(World.url("org/foo"))])
    data = json.loads(path.read_text())
    data["legacyImports"] = False
    path.write_text(json.dumps(data, indent=2) + "\n")
    assert kpb(project, "vendor") == 0
    assert not (project / "vendor/foo").exists()


def test_verify_reports_modified_removed_added_and_changes_nothing(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.remote("org/a", {"x.libsonnet": "1", "y.libsonnet": "2"})
    world.remote("org/b", {"b.libsonnet": "1"})
    world.remote("org/c", {"c.libsonnet": "1"})
    world.remote("org/d", {"d.libsonnet": "1"})
    deps = [git_dep(World.url(f"org/{n}")) for n in "abcd"]
    write_jsonnetfile(project, deps)
    assert kpb(project, "vendor") == 0
    assert kpb(project, "vendor", "--verify") == 0
    vendor = project / "vendor/github.com/org"
    (vendor / "a/x.libsonnet").write_text("edited")
    (vendor / "b/b.libsonnet").unlink()
    (vendor / "c/extra.libsonnet").write_text("new")
    shutil.rmtree(vendor / "d")
    before = snapshot(project)
    capsys.readouterr()
    assert kpb(project, "vendor", "--verify") == 1
    err = capsys.readouterr().err
    assert "github.com/org/a: modified (changed: x.libsonnet)" in err
    assert "github.com/org/b: modified (removed: b.libsonnet)" in err
    assert "github.com/org/c: modified (added: extra.libsonnet)" in err
    assert "github.com/org/d: missing" in err
    assert snapshot(project) == before
    assert kpb(project, "vendor") == 0
    assert kpb(project, "vendor", "--verify") == 0


def test_local_sources_in_a_monorepo(world: World, tmp_path: Path) -> None:
    repo = tmp_path / "mono"
    (repo / ".git").mkdir(parents=True)  # the enclosing work tree is the boundary
    project = repo / "deploy"
    project.mkdir()
    lib = repo / "libs" / "mylib"
    lib.mkdir(parents=True)
    (lib / "main.libsonnet").write_text("{}")
    world.remote("org/dep", {"d.libsonnet": "1"})
    (lib / "jsonnetfile.json").write_text(
        json.dumps({"version": 1, "dependencies": [git_dep(World.url("org/dep"))]})
    )
    write_jsonnetfile(project, [local_dep("../libs/mylib")])
    assert kpb(project, "vendor") == 0
    assert os.readlink(project / "vendor/mylib") == "../../libs/mylib"
    assert (project / "vendor/mylib/main.libsonnet").is_file()
    assert (project / "vendor/github.com/org/dep/d.libsonnet").is_file()
    local_entry = json.loads((project / "jsonnetfile.lock.json").read_text())["dependencies"][1]
    assert local_entry == {"source": {"local": {"directory": "../libs/mylib"}}, "version": ""}
    assert kpb(project, "vendor", "--verify") == 0


def test_install_local_directory(project: Path) -> None:
    (project / "jsonnet" / "kp").mkdir(parents=True)
    assert kpb(project, "init") == 0
    assert kpb(project, "install", "jsonnet/kp") == 0
    assert os.readlink(project / "vendor/kp") == "../jsonnet/kp"


def test_upstream_pins_use_the_dependency_lock(world: World, project: Path) -> None:
    lib = world.remote("org/lib", {"l.libsonnet": "old"})
    tested = lib.head()
    lib.commit({"l.libsonnet": "new"})
    kp = world.remote("org/kp", {"jsonnet/kp/main.libsonnet": "{}"})
    kp.jsonnetfile("jsonnet/kp", [git_dep(World.url("org/lib"))])
    kp.commit({})
    # the upstream lock lives at the repository root, outside the vendored subdir
    pin = git_dep(World.url("org/lib"), "", tested)
    kp.commit({"jsonnetfile.lock.json": json.dumps({"version": 1, "dependencies": [pin]})})
    write_jsonnetfile(project, [git_dep(World.url("org/kp"), "jsonnet/kp")])
    assert kpb(project, "vendor", "--upstream-pins") == 0
    assert lock_of(project)["github.com/org/lib"]["version"] == tested
    assert kpb(project, "update") == 0  # without the option: jb's behaviour, branch head
    assert lock_of(project)["github.com/org/lib"]["version"] == lib.head()


def test_conflicting_versions_warn_naming_both_requesters(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.remote("org/lib", {"l": "1"})
    lib = world.remote("org/lib2", {"l": "1"})
    lib.tag("v1")
    a = world.remote("org/a", {"a": "1"})
    a.jsonnetfile("", [git_dep(World.url("org/lib2"), "", "v1")])
    a.commit({})
    b = world.remote("org/b", {"b": "1"})
    b.jsonnetfile("", [git_dep(World.url("org/lib2"), "", "master")])
    b.commit({})
    write_jsonnetfile(project, [git_dep(World.url("org/a")), git_dep(World.url("org/b"))])
    assert kpb(project, "vendor") == 0
    err = capsys.readouterr().err
    assert "warning: github.com/org/lib2: github.com/org/a wants 'v1'" in err
    assert "github.com/org/b wants 'master'" in err


def test_non_github_remote_locks_peeled_commit_like_jbs_git_path(
    tmp_path: Path, project: Path
) -> None:
    remote = make_remote(tmp_path / "srv", "lib.git", {"a.libsonnet": "1"})
    commit = remote.head()
    remote.tag("v1", annotated=True)
    write_jsonnetfile(project, [git_dep(remote.url, "", "v1")])
    assert kpb(project, "vendor") == 0
    entry = json.loads((project / "jsonnetfile.lock.json").read_text())["dependencies"][0]
    assert entry["version"] == commit


def test_offline_with_cold_cache_names_what_is_missing(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = world.remote("org/lib", {"a.libsonnet": "1"})
    write_jsonnetfile(project, [git_dep(World.url("org/lib"), "", lib.head())])
    capsys.readouterr()
    assert kpb(project, "vendor", "--offline") == 3
    err = capsys.readouterr().err
    assert f"https://github.com/org/lib.git at {lib.head()} is not in the cache" in err
    assert not (project / "vendor").exists()
    assert not (project / "jsonnetfile.lock.json").exists()


def test_update_offline_moves_commit_pins_from_the_cache_alone(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = world.remote("org/lib", {"a.libsonnet": "1"})
    first, second = lib.head(), lib.commit({"a.libsonnet": "2"})
    url = World.url("org/lib")
    write_jsonnetfile(project, [git_dep(url, "", second)])
    assert kpb(project, "vendor") == 0  # the cache now holds `second`
    write_jsonnetfile(project, [git_dep(url, "", first)])
    assert kpb(project, "update") == 0  # ... and `first`
    assert lock_of(project)["github.com/org/lib"]["version"] == first
    world.root.rename(tmp_path / "offline-remotes")  # any git network access would now fail
    write_jsonnetfile(project, [git_dep(url, "", second)])
    capsys.readouterr()
    assert kpb(project, "update", "--offline") == 0
    assert f"{first[:12]}  →  {second[:12]}" in capsys.readouterr().out
    assert lock_of(project)["github.com/org/lib"]["version"] == second
    assert (project / "vendor/github.com/org/lib/a.libsonnet").read_text() == "2"


def test_update_offline_refuses_a_branch_in_one_line_and_changes_nothing(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = world.remote("org/lib", {"a.libsonnet": "1"})
    pinned = world.remote("org/pinned", {"p.libsonnet": "1"})
    deps = [git_dep(World.url("org/lib")), git_dep(World.url("org/pinned"), "", pinned.head())]
    write_jsonnetfile(project, deps)
    assert kpb(project, "vendor") == 0
    old = lib.head()
    new = lib.commit({"a.libsonnet": "2"})  # master moved: only ls-remote can tell
    before = snapshot(project)
    capsys.readouterr()
    assert kpb(project, "update", "--offline") == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "update --offline: github.com/org/lib@master is a branch or tag" in err
    assert "needs the network" in err
    assert snapshot(project) == before
    assert kpb(project, "update", "--offline", "github.com/org/pinned") == 0  # lib stays locked
    assert lock_of(project)["github.com/org/lib"]["version"] == old
    assert kpb(project, "update") == 0
    assert lock_of(project)["github.com/org/lib"]["version"] == new


@pytest.mark.parametrize("command", ["init", "install", "vendor", "update"])
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"kpb {command}" in out


MIRRORS = mirrors_dir() or Path("/nonexistent")


def _standin() -> dict[str, str]:
    """grafana/grafana is too large to mirror: a stand-in repository replaces it.

    ``$KPB_MIRRORS/standin.json`` maps its locked version and sum to the stand-in's.
    """
    path = MIRRORS / "standin.json"
    if not path.is_file():
        return {}
    found = json.loads(path.read_text())
    return {
        found["locked_version"]: found["standin_version"],
        found["locked_sum"]: found["standin_sum"],
    }


STANDIN = _standin()


@pytest.mark.realworld
@pytest.mark.skipif(not (MIRRORS / "gitconfig").is_file(), reason=SKIP_REASON)
def test_kube_prometheus_v0_18_0_lock_is_reproduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kube-prometheus's own jsonnetfile.json + lock: every locked sum must come out again."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(MIRRORS / "gitconfig"))
    project = tmp_path / "kube-prometheus"
    shutil.copytree(MIRRORS / "kp-v0.18.0/src/jsonnet", project / "jsonnet")
    shutil.copy(MIRRORS / "kp-v0.18.0/src/jsonnetfile.json", project)
    lock = (MIRRORS / "kp-lock.json").read_text()
    for real, standin in STANDIN.items():
        lock = lock.replace(real, standin)
    (project / "jsonnetfile.lock.json").write_text(lock)
    assert kpb(project, "vendor") == 0  # any sum that differs from the lock fails the run
    assert (project / "jsonnetfile.lock.json").read_text() == lock
    assert kpb(project, "vendor", "--verify") == 0
    assert len(json.loads(lock)["dependencies"]) == 22


@pytest.mark.realworld
@pytest.mark.skipif(not (MIRRORS / "gitconfig").is_file(), reason=SKIP_REASON)
def test_upstream_pins_reproduce_kube_prometheus_tested_versions(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(MIRRORS / "gitconfig"))
    upstream = json.loads((MIRRORS / "kp-lock.json").read_text())["dependencies"]
    grafana = [d for d in upstream if "grafana/grafana.git" in json.dumps(d)]
    standin = json.loads(json.dumps(grafana[0]))
    standin["version"], standin["sum"] = STANDIN[standin["version"]], STANDIN[standin["sum"]]
    write_jsonnetfile(project, [], lock=False)
    write_jsonnetfile(project, [standin], lock=True)  # only the stand-in is pre-locked
    kp = "github.com/prometheus-operator/kube-prometheus/jsonnet/kube-prometheus@v0.18.0"
    assert kpb(project, "install", "--upstream-pins", kp) == 0
    ours = lock_of(project)
    for dep in upstream:
        git = dep["source"].get("git")
        if git is None or dep is grafana[0]:
            continue
        name = git["remote"].removeprefix("https://").removesuffix(".git")
        name += "/" + git["subdir"] if git["subdir"] else ""
        assert (ours[name]["version"], ours[name]["sum"]) == (dep["version"], dep["sum"]), name


def test_progress_on_a_terminal_shows_one_line_per_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from rich.console import Console

    from kubeprom_build.cli import vendor_cmds
    from kubeprom_build.vendoring import commands as vendor

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120, no_color=True)
    monkeypatch.setattr(vendor_cmds, "stderr", console)
    reporter = vendor_cmds._Reporter(quiet=False)
    with reporter.active():
        reporter(vendor.Event("resolving", "github.com/o/a", "master"))
        reporter(vendor.Event("fetched", "github.com/o/a", "0123456789abcdef"))
        reporter(vendor.Event("cached", "github.com/o/b"))
        reporter(vendor.Event("removed", "github.com/old/pkg"))
    text = buffer.getvalue()
    assert "fetched 0123456789ab" in text and "github.com/o/b" in text
    assert "CLEAN github.com/old/pkg" in text
    assert "2/2" in text  # the overall bar counts both packages
    quiet = vendor_cmds._Reporter(quiet=True)
    with quiet.active():
        quiet(vendor.Event("fetched", "github.com/o/a", "0123"))
    assert buffer.getvalue() == text


def test_install_legacy_name_and_single(world: World, project: Path) -> None:
    lib = world.remote("org/lib", {"sub/a.libsonnet": "1"})
    lib.jsonnetfile("sub", [git_dep(World.url("org/other"))])  # not installed with --single
    lib.commit({})
    assert kpb(project, "init") == 0
    assert (
        kpb(project, "install", "--single", "--legacy-name", "alias", "github.com/org/lib/sub") == 0
    )
    entry = json.loads((project / "jsonnetfile.json").read_text())["dependencies"][0]
    assert entry["single"] is True and entry["name"] == "alias"
    assert os.readlink(project / "vendor/alias") == "github.com/org/lib/sub"
    assert set(lock_of(project)) == {"github.com/org/lib/sub"}
    assert kpb(project, "install", "--single", "github.com/org/lib/sub") == 0  # name is kept
    assert os.readlink(project / "vendor/alias") == "github.com/org/lib/sub"
    assert kpb(project, "install", "--legacy-name", "x", "github.com/a/b", "github.com/c/d") == 3


def test_custom_vendor_dir(world: World, project: Path) -> None:
    world.remote("org/lib", {"a.libsonnet": "1"})
    write_jsonnetfile(project, [git_dep(World.url("org/lib"))])
    assert run(["-C", str(project), "--jsonnetpkg-home", "jsonnet/vendor", "vendor"]) == 0
    assert (project / "jsonnet/vendor/github.com/org/lib/a.libsonnet").is_file()
    assert os.readlink(project / "jsonnet/vendor/lib") == "github.com/org/lib"
    assert not (project / "vendor").exists()
    args = ["-C", str(project), "--vendor-dir", "jsonnet/vendor", "vendor", "--verify"]
    assert run(args) == 0
