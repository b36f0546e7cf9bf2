"""Failure behaviour of vendoring: hostile input, interrupted runs and concurrent runs.

Every bad input must fail with one line naming the culprit and leave vendor/, the lock and
the cache exactly as they were; a killed run must leave the old state intact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kubeprom_build import fsutil
from kubeprom_build.cli import run
from tests.helpers.cli import killed_when
from tests.helpers.gitrepos import (
    World,
    git_dep,
    local_dep,
    snapshot,
    write_jsonnetfile,
)

KPB = [sys.executable, "-m", "kubeprom_build"]


@pytest.fixture
def project(vendored_project: Path) -> Path:
    """Every test here starts from a vendored project: there is state to keep."""
    return vendored_project


def _add_dep(project: Path, dep: dict[str, object]) -> None:
    data = json.loads((project / "jsonnetfile.json").read_text())
    data["dependencies"].append(dep)
    (project / "jsonnetfile.json").write_text(json.dumps(data, indent=2) + "\n")


def _set_lock_sum(project: Path, value: str) -> None:
    path = project / "jsonnetfile.lock.json"
    data = json.loads(path.read_text())
    data["dependencies"][0]["sum"] = value
    path.write_text(json.dumps(data, indent=2) + "\n")


def _symlink_remote(world: World) -> None:
    bad = world.remote("org/links", {"sub/a.libsonnet": "{}"})
    bad.symlink("sub/passwd", "../../../../../../etc/passwd")
    bad.commit({})


def _nested_hostile(world: World) -> None:
    outer = world.remote("org/outer", {"o.libsonnet": "{}"})
    outer.jsonnetfile("", [git_dep("ext::sh -c touch% /tmp/kpb-pwned", "", "master")])
    outer.commit({})


def _nested_local_escape(world: World) -> None:
    outer = world.remote("org/outer", {"o.libsonnet": "{}"})
    outer.jsonnetfile("", [local_dep("../../../../../../../etc")])
    outer.commit({})


Setup = Callable[[World, Path], None]
CASES: dict[str, tuple[Setup, list[str], str]] = {
    "malformed json": (
        lambda w, p: (p / "jsonnetfile.json").write_text('{"version": 1, "dependencies": ['),
        ["vendor"],
        "jsonnetfile.json: not valid JSON",
    ),
    "unknown file version": (
        lambda w, p: (p / "jsonnetfile.json").write_text('{"version": 7}'),
        ["vendor"],
        "version: 7 is unknown",
    ),
    "dependency without source": (
        lambda w, p: _add_dep(p, {"version": "master"}),
        ["vendor"],
        "dependencies[1]: dependency has no source",
    ),
    "unparsable uri": (lambda w, p: None, ["install", "not a package!"], "'not a package!'"),
    "version does not exist": (
        lambda w, p: _add_dep(p, git_dep(World.url("org/good"), "sub", "v9.9.9")),
        ["vendor"],
        "version 'v9.9.9' does not exist in https://github.com/org/good.git",
    ),
    "sha does not exist": (
        lambda w, p: _add_dep(p, git_dep(World.url("org/good"), "sub", "ab" * 20)),
        ["vendor"],
        f"version {'ab' * 20} does not exist",
    ),
    "unreachable remote": (
        lambda w, p: _add_dep(p, git_dep(World.url("org/missing"))),
        ["vendor"],
        "https://github.com/org/missing.git",
    ),
    "lock sum mismatch": (
        lambda w, p: _set_lock_sum(p, "A" * 43 + "="),
        ["vendor"],
        "checksum mismatch for github.com/org/good",
    ),
    "version is an option": (
        lambda w, p: _add_dep(p, git_dep(World.url("org/good"), "", "--upload-pack=touch /tmp/x")),
        ["vendor"],
        "version '--upload-pack=touch /tmp/x' must not start with '-'",
    ),
    "ext remote": (
        lambda w, p: _add_dep(p, git_dep("ext::sh -c touch% /tmp/kpb-pwned", "", "master")),
        ["vendor"],
        "dependencies[1].source.git.remote",
    ),
    "subdir with dotdot": (
        lambda w, p: _add_dep(p, git_dep(World.url("org/good"), "../../../etc", "master")),
        ["vendor"],
        "dependencies[1].source.git.subdir",
    ),
    "legacy name escaping vendor": (
        lambda w, p: _add_dep(p, git_dep(World.url("org/good"), "x", "master", name="../../x")),
        ["vendor"],
        "dependencies[1].name",
    ),
    "local dir outside repository": (
        lambda w, p: (p.parent / "outside").mkdir() or _add_dep(p, local_dep("../outside")),
        ["vendor"],
        "local dependency '../outside' resolves outside the repository",
    ),
    "symlink escaping package": (
        lambda w, p: _symlink_remote(w) or _add_dep(p, git_dep(World.url("org/links"), "sub")),
        ["vendor"],
        "symlink passwd points outside the package",
    ),
    "hostile transitive remote": (
        lambda w, p: _nested_hostile(w) or _add_dep(p, git_dep(World.url("org/outer"))),
        ["vendor"],
        "vendor/github.com/org/outer/jsonnetfile.json: dependencies[0].source.git.remote",
    ),
    "transitive local escaping": (
        lambda w, p: _nested_local_escape(w) or _add_dep(p, git_dep(World.url("org/outer"))),
        ["vendor"],
        "vendor/github.com/org/outer/jsonnetfile.json: dependencies[0].source.local",
    ),
}
# Cases that fetch a new, valid remote before failing: the cache may gain a complete entry for
# it, but nothing already cached changes.
CACHE_MAY_GROW = {
    "symlink escaping package",
    "hostile transitive remote",
    "transitive local escaping",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_cleanly_and_changes_nothing(
    case: str,
    world: World,
    project: Path,
    isolated_environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup, args, expected = CASES[case]
    setup(world, project)
    kept = [project / "vendor", project / "jsonnetfile.json", project / "jsonnetfile.lock.json"]
    before, cache_before = snapshot(*kept), snapshot(isolated_environment)
    capsys.readouterr()
    code = run(["-C", str(project), *args])
    err = capsys.readouterr().err
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, err
    assert expected in errors[0]
    assert err.rstrip().endswith(errors[0]), "the error is one line, printed last"
    assert "Traceback" not in err
    assert snapshot(*kept) == before
    cache_after = snapshot(isolated_environment)
    if case in CACHE_MAY_GROW:
        assert {k: cache_after.get(k) for k in cache_before} == cache_before
    else:
        assert cache_after == cache_before
    assert not Path("/tmp/kpb-pwned").exists()
    # still readable: no bug (70), no traceback
    assert run(["-C", str(project), "vendor", "--verify"]) in (0, 1, 3)


# --------------------------------------------------------------------------- killed runs


def _slow_hook(tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make every fetch from a repository named *slow* hang (server-side pack-objects hook)."""
    hook = tmp_path / "slow-hook.sh"
    hook.write_text(
        '#!/bin/sh\ncase "$PWD" in *slow*) touch "$HOOK_MARK"; sleep 30;; esac\nexec "$@"\n'
    )
    hook.chmod(0o755)
    config = tmp_path / "gitconfig-slow"
    config.write_text(world.config().read_text() + f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    mark = tmp_path / "hook-started"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("HOOK_MARK", str(mark))
    return mark


def _wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _state(project: Path) -> dict[str, bytes | str]:
    state = snapshot(project / "vendor", project / "jsonnetfile.lock.json")
    return {k: v for k, v in state.items() if ".kpb-tmp-" not in k}


@pytest.mark.slow
def test_killed_update_leaves_old_lock_and_packages(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    fast = world.remote("org/fast", {"f.libsonnet": "1"})
    slow = world.remote("org/slow", {"s.libsonnet": "1"})
    write_jsonnetfile(project, [git_dep(World.url("org/fast")), git_dep(World.url("org/slow"))])
    assert run(["-C", str(project), "vendor"]) == 0
    before = _state(project)
    fast.commit({"f.libsonnet": "2"})
    slow.commit({"s.libsonnet": "2"})
    mark = _slow_hook(tmp_path, world, monkeypatch)
    proc = subprocess.Popen([*KPB, "-C", str(project), "update"], stderr=subprocess.PIPE)
    _wait_for(mark, proc)
    time.sleep(0.3)  # the fast package is fetched and staged meanwhile
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()
    assert _state(project) == before
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(world.config()))
    assert run(["-C", str(project), "vendor", "--verify"]) == 0
    assert run(["-C", str(project), "update"]) == 0  # the cache survived the kill
    assert (project / "vendor/github.com/org/slow/s.libsonnet").read_text() == "2"
    assert not list((project / "vendor").glob(".kpb-tmp-*"))


# --------------------------------------------------------------------------- concurrency


def test_second_run_fails_fast_or_waits(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = project / ".kpb" / "locks" / "vendor.lock"
    with fsutil.file_lock(lock, "test"):
        capsys.readouterr()
        assert run(["-C", str(project), "vendor"]) == 3
        assert "locked by another kpb process" in capsys.readouterr().err
    release = threading.Event()

    def hold() -> None:
        with fsutil.file_lock(lock, "test"):
            release.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    release.wait()
    assert run(["-C", str(project), "--wait", "20", "vendor"]) == 0
    holder.join()


@pytest.mark.slow
def test_two_concurrent_processes_do_not_corrupt_each_other(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("a", "b", "c"):
        world.remote(f"org/{name}", {f"{name}.libsonnet": name})
    write_jsonnetfile(project, [git_dep(World.url(f"org/{n}")) for n in "abc"])
    procs = [
        subprocess.Popen(
            [*KPB, "-C", str(project), "--wait", "120", "vendor"], stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    assert run(["-C", str(project), "vendor", "--verify"]) == 0
    assert len(json.loads((project / "jsonnetfile.lock.json").read_text())["dependencies"]) == 3


@pytest.mark.slow
def test_two_projects_share_the_cache_concurrently(world: World, tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        world.remote(f"org/{name}", {f"{name}/x.libsonnet": name, "big.bin": os.urandom(50_000)})
    projects = [tmp_path / f"p{i}" for i in range(3)]
    for index, project in enumerate(projects):
        project.mkdir()
        deps = [git_dep(World.url(f"org/{n}"), n) for n in "abcd"]
        write_jsonnetfile(project, deps[index:] + deps[:index])  # different orders
    procs = [
        subprocess.Popen([*KPB, "-C", str(p), "vendor"], stderr=subprocess.PIPE) for p in projects
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    locks = {(p / "jsonnetfile.lock.json").read_text() for p in projects}
    assert len(locks) == 1  # same content, sorted the same way
    for project in projects:
        assert run(["-C", str(project), "vendor", "--verify"]) == 0


#: Files every package of the kill test holds besides a.libsonnet: replacing a package swaps
#: it in with one rename and then deletes the old tree (about 6 ms for 400 files), so
#: publishing six packages takes long enough to be caught half-way.
_FILLER = {f"f{i:04}.libsonnet": "{}\n" for i in range(400)}


@pytest.mark.slow
def test_kill_at_any_moment_leaves_every_package_old_or_new(world: World, tmp_path: Path) -> None:
    """SIGKILL ``kpb update`` at three observed moments: while it stages (nothing published
    yet), half-way through publishing (some packages new, some old) and after the last
    package but before the lock. Each time every package is exactly its old or its new tree,
    the lock is written last, and the next ``kpb vendor`` repairs the rest."""
    project = tmp_path / "project"
    project.mkdir()
    names = [f"lib{i}" for i in range(6)]
    remotes = {}
    for n in names:
        content: dict[str, str | bytes | None] = {f"{n}/{f}": t for f, t in _FILLER.items()}
        remotes[n] = world.remote(f"org/{n}", content | {f"{n}/a.libsonnet": "old"})
    old_shas = {n: r.head() for n, r in remotes.items()}
    write_jsonnetfile(project, [git_dep(World.url(f"org/{n}"), n) for n in names])
    assert run(["-C", str(project), "vendor"]) == 0
    old_lock = (project / "jsonnetfile.lock.json").read_bytes()
    new_shas = {
        n: r.commit({f"{n}/a.libsonnet": "new", f"{n}/b.libsonnet": "new"})
        for n, r in remotes.items()
    }
    vendor = project / "vendor"
    packages = {n: vendor / f"github.com/org/{n}/{n}" for n in names}

    def new_ones() -> int:
        return sum((packages[n] / "b.libsonnet").exists() for n in names)

    def staging() -> bool:
        return any(e.name.startswith(fsutil.STAGING_PREFIX) for e in vendor.iterdir())

    def check_old_or_new() -> tuple[int, dict[str, str]]:
        """Every package is wholly old or new; returns how many are new and the lock's pins."""
        new = 0
        for name, package in packages.items():
            files = sorted(p.name for p in package.iterdir())
            is_new = "b.libsonnet" in files
            expected = sorted([*_FILLER, "a.libsonnet", *(["b.libsonnet"] if is_new else [])])
            assert files == expected, name
            assert (package / "a.libsonnet").read_text() == ("new" if is_new else "old"), name
            new += is_new
        lock = json.loads((project / "jsonnetfile.lock.json").read_text())
        pins = {d["source"]["git"]["subdir"]: d["version"] for d in lock["dependencies"]}
        assert pins in (old_shas, new_shas)  # one write: never a mix of old and new pins
        if pins == new_shas:
            assert new == len(names)  # the lock is written last
        return new, pins

    def lock_unchanged() -> bool:
        return (project / "jsonnetfile.lock.json").read_bytes() == old_lock

    everything = len(names)
    moments: list[tuple[str, Callable[[], bool], Callable[[int], bool]]] = [
        ("while staging", lambda: staging() and new_ones() == 0, lambda new: new == 0),
        ("half-way", lambda: 0 < new_ones() < everything, lambda new: 0 < new < everything),
        (
            "before the lock",
            lambda: new_ones() == everything and lock_unchanged(),
            lambda new: new == everything and lock_unchanged(),
        ),
    ]
    for moment, seen, landed in moments:
        for _attempt in range(5):
            assert (project / "jsonnetfile.lock.json").read_bytes() == old_lock
            assert new_ones() == 0 and not staging()
            killed = killed_when(project, seen, "update")
            new, pins = check_old_or_new()
            if moment != "before the lock":
                assert pins == old_shas, moment  # only the last moment may find the lock done
            hit = killed and landed(new)
            assert run(["-C", str(project), "vendor"]) == 0  # back to what the lock pins
            assert run(["-C", str(project), "vendor", "--verify"]) == 0
            if pins == new_shas:
                (project / "jsonnetfile.lock.json").write_bytes(old_lock)
                assert run(["-C", str(project), "vendor"]) == 0
            if hit:
                break
        else:
            pytest.fail(f"five runs of 'kpb update' were never killed {moment}")
    assert run(["-C", str(project), "update"]) == 0
    assert check_old_or_new() == (len(names), new_shas)
    assert run(["-C", str(project), "vendor", "--verify"]) == 0
