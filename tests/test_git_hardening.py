"""Class 8 of docs/security.md: every git call is hardened, and only a fixed git runs at all.

A wrapper script named ``git`` is put first on PATH: it records its arguments (and may claim
another version for ``--version``) and then execs the real git, so real git still does all
the work; nothing is mocked.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.vendoring import git as kpb_git
from tests.helpers.gitrepos import (
    World,
    git,
    git_dep,
    make_remote,
    snapshot,
    write_jsonnetfile,
)

KPB = [sys.executable, "-m", "kubeprom_build"]
REAL_GIT = shutil.which("git") or "git"
REAL_VERSION = subprocess.run(
    [REAL_GIT, "--version"], capture_output=True, text=True, check=True
).stdout.split()[2]
HARDENING = [
    "transfer.bundleURI=false",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "core.fsmonitor=false",
    "protocol.ext.allow=never",
    "core.hooksPath=/dev/null",
]


def wrapper(bin_dir: Path, *, version: str | None = None, log: Path | None = None) -> Path:
    """A ``git`` on PATH that logs argv and execs the real git.

    ``log`` is a directory: each call writes its own file (fields separated by \\x1f), so
    git processes kpb runs in parallel cannot interleave their records.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/sh"]
    if log is not None:
        log.mkdir(parents=True, exist_ok=True)
        target = shlex.quote(str(log / "call.XXXXXXXX"))
        lines.append(f"record=$(mktemp {target})")
        lines.append('for a in "$@"; do printf "%s\\037" "$a"; done > "$record"')
    if version is not None:
        lines.append(f'if [ "$1" = "--version" ]; then echo {shlex.quote(version)}; exit 0; fi')
    lines.append(f'exec {shlex.quote(REAL_GIT)} "$@"')
    script = bin_dir / "git"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def calls(log: Path) -> list[list[str]]:
    """Every recorded call's argv (in no particular order)."""
    files = sorted(log.glob("call.*")) if log.is_dir() else []
    return [path.read_text().split("\x1f")[:-1] for path in files]


def config_values(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-c"]


@pytest.fixture
def project(tmp_path: Path, world: World) -> Path:
    """A vendored project (made with the real git) plus one dependency not fetched yet."""
    path = tmp_path / "project"
    path.mkdir()
    world.remote("org/a", {"a.libsonnet": "{}\n", "sub/s.libsonnet": "{}\n"})
    lib = world.remote("org/b", {"b.libsonnet": "{}\n"})
    lib.tag("v1", annotated=True)
    write_jsonnetfile(path, [git_dep(World.url("org/a"), "sub")])
    assert run(["-C", str(path), "vendor"]) == 0
    write_jsonnetfile(
        path, [git_dep(World.url("org/a"), "sub"), git_dep(World.url("org/b"), "", "v1")]
    )
    return path


# --------------------------------------------------------------------------- config flags


def test_every_git_call_carries_the_hardening_options(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "argv"
    wrapper(tmp_path / "bin", log=log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv(kpb_git.ALLOW_VERSION_ENV, REAL_VERSION)  # the wrapper is not /usr/bin/git
    assert run(["-C", str(project), "vendor"]) == 0
    assert run(["-C", str(project), "update"]) == 0
    recorded = [argv for argv in calls(log) if argv != ["--version"]]
    commands = {
        next(a for a in argv if not a.startswith("-") and "=" not in a) for argv in recorded
    }
    assert {"ls-remote", "fetch", "archive", "init"} <= commands, commands
    for argv in recorded:
        assert set(HARDENING) <= set(config_values(argv)), argv
        if "fetch" in argv:
            assert "--recurse-submodules=no" in argv, argv


def test_submodules_stay_untouched_whatever_the_users_config(
    project: Path, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package with a submodule: the user's config asks for recursion, kpb's options win."""
    inner = make_remote(tmp_path / "elsewhere", "inner.git", {"i.libsonnet": "{}\n"})
    outer = world.remote("org/withsub", {"o.libsonnet": "{}\n"})
    outer.write({".gitmodules": f'[submodule "m"]\n\tpath = m\n\turl = file://{inner.path}\n'})
    git(outer.path, "update-index", "--add", "--cacheinfo", f"160000,{inner.head()},m")
    outer.commit({})
    config = tmp_path / "gitconfig-recursive"
    config.write_text(
        world.config().read_text()
        + "[submodule]\n\trecurse = true\n[fetch]\n\trecurseSubmodules = yes\n"
        + "[protocol]\n\tallow = always\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_TRACE", str(tmp_path / "trace.log"))
    write_jsonnetfile(project, [git_dep(World.url("org/withsub"))])
    assert run(["-C", str(project), "vendor"]) == 0
    assert sorted(p.name for p in (project / "vendor/github.com/org/withsub").iterdir()) == [
        ".gitmodules",
        "o.libsonnet",
    ]
    assert str(inner.path) not in (tmp_path / "trace.log").read_text()


# --------------------------------------------------------------------------- version gate


def kpb(
    project: Path, bin_dir: Path, *args: str, allow: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != kpb_git.ALLOW_VERSION_ENV}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    if allow is not None:
        env[kpb_git.ALLOW_VERSION_ENV] = allow
    return subprocess.run(
        [*KPB, "-C", str(project), *args], capture_output=True, text=True, env=env, timeout=120
    )


REFUSED = [
    "git version 2.39.5",  # Debian's number, but this executable is not the packaged one
    "git version 2.39.5 (Apple Git-154)",
    "git version 2.40.4",  # January fixes only: the 2.40 series never got the July ones
    "git version 2.42.4",
    "git version 2.43.6",
    "git version 2.44.3",
    "git version 2.45.3",
    "git version 2.47.2",
    "git version 2.48.1",
    "git version 2.49.0",
    "git version 2.50.0",
    "git version 1.8.3.1",
]
ACCEPTED = [
    "git version 2.43.7",
    "git version 2.44.4",
    "git version 2.45.4",
    "git version 2.46.4",
    "git version 2.47.3",
    "git version 2.48.2",
    "git version 2.49.1",
    "git version 2.50.1",
    "git version 2.50.1.windows.1",
    "git version 2.51.0",
    "git version 2.52.0.rc1",
    "git version 3.0.0",
]


@pytest.mark.parametrize("claimed", REFUSED)
def test_old_git_is_refused_in_one_line(
    claimed: str, project: Path, tmp_path: Path, world: World
) -> None:
    wrapper(tmp_path / "bin", version=claimed)
    before = snapshot(tmp_path)
    proc = kpb(project, tmp_path / "bin", "vendor")
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    shown = claimed.split()[2]
    assert f"git {shown} (" in lines[0]
    assert "2.43.7" in lines[0] and "2.50.1" in lines[0]
    assert f"{kpb_git.ALLOW_VERSION_ENV}={shown}" in lines[0]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("claimed", ACCEPTED)
def test_fixed_git_is_accepted(claimed: str, project: Path, tmp_path: Path, world: World) -> None:
    wrapper(tmp_path / "bin", version=claimed)
    proc = kpb(project, tmp_path / "bin", "vendor")
    assert proc.returncode == 0, proc.stderr


def test_override_names_the_exact_version(project: Path, tmp_path: Path, world: World) -> None:
    wrapper(tmp_path / "bin", version="git version 2.43.6")
    wrong = kpb(project, tmp_path / "bin", "vendor", allow="2.43.5")
    assert wrong.returncode == 3 and "git 2.43.6" in wrong.stderr
    right = kpb(project, tmp_path / "bin", "vendor", allow="2.43.6")
    assert right.returncode == 0, right.stderr


def test_unreadable_version_and_missing_git_are_one_line(
    project: Path, tmp_path: Path, world: World
) -> None:
    wrapper(tmp_path / "bin", version="hello")
    proc = kpb(project, tmp_path / "bin", "vendor")
    assert proc.returncode == 3 and "not 'git version X.Y.Z'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    proc = subprocess.run(
        [*KPB, "-C", str(project), "vendor"],
        capture_output=True,
        text=True,
        env={"PATH": str(empty), "HOME": str(tmp_path), "KPB_CACHE": str(tmp_path / "c")},
        timeout=120,
    )
    assert proc.returncode == 3 and "no 'git' on PATH" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_check_is_lazy_a_noop_vendor_runs_no_git(
    project: Path, tmp_path: Path, world: World
) -> None:
    assert kpb(project, tmp_path / "none", "vendor").returncode == 0
    log = tmp_path / "argv"
    wrapper(tmp_path / "bin", version="git version 2.43.6", log=log)
    proc = kpb(project, tmp_path / "bin", "vendor")
    assert proc.returncode == 0, proc.stderr
    assert calls(log) == []  # not even --version


@pytest.mark.skipif(
    not (Path("/var/lib/dpkg/info/git.md5sums").exists() and REAL_VERSION == "2.39.5"),
    reason="needs Debian 12's packaged git 2.39.5",
)
def test_debian_backport_is_proven_by_dpkg(project: Path, tmp_path: Path, world: World) -> None:
    """The packaged /usr/bin/git 2.39.5 (deb12u3) is accepted; the same binary elsewhere is not."""
    assert kpb(project, tmp_path / "none", "vendor").returncode == 0
    assert kpb_git._debian_backport("/usr/bin/git", "2.39.5")
    copy = tmp_path / "copy" / "git"
    copy.parent.mkdir()
    shutil.copy2("/usr/bin/git", copy)
    assert not kpb_git._debian_backport(str(copy), "2.39.5")
    assert not kpb_git._debian_backport("/usr/bin/git", "2.39.4")
