"""Class 7 of docs/security.md: no input makes kpb print a traceback, hang or crash.

Every case runs the real ``kpb`` as a process (so a hang, a segfault or an unbounded read shows
as what it is) and must end with exactly one error line, an exit code that is neither 0 nor 70
(the "bug" code), no traceback, and the whole temporary tree (project, remotes, fake HOME)
exactly as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import projects
from tests.helpers.cli import memory_limit
from tests.helpers.disks import tiny_tmpfs
from tests.helpers.gitrepos import World, git, git_dep, snapshot, write_jsonnetfile

KPB = [sys.executable, "-m", "kubeprom_build"]
DEEP = "[" * 100_000 + "]" * 100_000
MEMORY_LIMIT = 3 << 30  # an unbounded read must hit this, not the machine


def kpb(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process, memory-capped, killed if it hangs."""
    try:
        return subprocess.run(
            [*KPB, "-C", str(project), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=memory_limit(MEMORY_LIMIT),
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"kpb {' '.join(args)!r} hung for {timeout}s")


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    err = proc.stderr
    assert proc.returncode not in (0, 70), f"exit {proc.returncode}: {err[-2000:]}"
    assert proc.returncode > 0, f"killed by signal {-proc.returncode}"
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error")]
    assert len(errors) == 1 and lines[-1] == errors[0], err[-2000:]
    for part in expected:
        assert part in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def buildable(tmp_path: Path, home: Path) -> Path:
    return projects.make_project(tmp_path / "repo")


# --------------------------------------------------------------------------- project files


def _lock_entry(project: Path, **changes: Any) -> None:
    path = project / "jsonnetfile.lock.json"
    data = json.loads(path.read_text())
    data["dependencies"][0].update(changes)
    path.write_text(json.dumps(data))


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    path.unlink()
    make(path)


FileCase = tuple[Callable[[Path], object], tuple[str, ...]]
FILE_CASES: dict[str, FileCase] = {
    "jsonnetfile nested 100k deep": (
        lambda p: (p / "jsonnetfile.json").write_text('{"dependencies": ' + DEEP + "}"),
        ("jsonnetfile.json", "nested too deeply"),
    ),
    "lock nested 100k deep": (
        lambda p: (p / "jsonnetfile.lock.json").write_text(DEEP),
        ("jsonnetfile.lock.json", "nested too deeply"),
    ),
    "jsonnetfile is a directory": (
        lambda p: _replace(p / "jsonnetfile.json", Path.mkdir),
        ("jsonnetfile.json", "not a regular file"),
    ),
    "jsonnetfile is a fifo": (
        lambda p: _replace(p / "jsonnetfile.json", os.mkfifo),
        ("jsonnetfile.json", "not a regular file"),
    ),
    "lock is a fifo": (
        lambda p: _replace(p / "jsonnetfile.lock.json", os.mkfifo),
        ("jsonnetfile.lock.json", "not a regular file"),
    ),
    "lock is a link to /dev/zero": (
        lambda p: _replace(p / "jsonnetfile.lock.json", lambda q: q.symlink_to("/dev/zero")),
        ("jsonnetfile.lock.json", "symlink to /dev/zero"),
    ),
    "lock larger than 16 MiB": (
        lambda p: os.truncate(p / "jsonnetfile.lock.json", 17 << 20),
        ("jsonnetfile.lock.json", "larger than 16 MiB"),
    ),
    "lock entry is not an object": (
        lambda p: (p / "jsonnetfile.lock.json").write_text('{"dependencies": [5]}'),
        ("dependencies[0]", "expected an object"),
    ),
    "lock entry key is a number-like string": (
        lambda p: (p / "jsonnetfile.lock.json").write_text('{"dependencies": [{"1": 2}]}'),
        ("dependencies[0]", "no source"),
    ),
    "huge integer version": (
        lambda p: (p / "jsonnetfile.json").write_text('{"version": ' + "9" * 4000 + "}"),
        ("version", "a huge number is unknown"),
    ),
    "integer beyond Python's digit limit": (
        lambda p: (p / "jsonnetfile.json").write_text('{"version": ' + "9" * 5000 + "}"),
        ("jsonnetfile.json", "not valid JSON"),
    ),
    "sum with a trailing newline": (
        lambda p: _lock_entry(p, sum="A" * 43 + "=\n"),
        ("dependencies[0].sum", "not a base64 SHA-256 sum"),
    ),
    "version sha with a trailing newline": (
        lambda p: _lock_entry(p, version="a" * 40 + "\n"),
        ("dependencies[0].version",),
    ),
    "not UTF-8": (
        lambda p: (p / "jsonnetfile.json").write_bytes(b'{"version": "\xff"}'),
        ("jsonnetfile.json", "not valid JSON"),
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
@pytest.mark.parametrize("command", ["vendor", "update"])
def test_bad_project_file(case: str, command: str, vendored_project: Path, tmp_path: Path) -> None:
    setup, expected = FILE_CASES[case]
    setup(vendored_project)
    before = snapshot(tmp_path)
    assert_one_line_failure(kpb(vendored_project, command), *expected)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- git trees


def _gitlink_at_subdir(world: World) -> str:
    remote = world.remote("org/gitlink", {"a.libsonnet": "{}\n"})
    git(remote.path, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},sub")
    git(remote.path, "commit", "--quiet", "-m", "gitlink")
    return "sub"


def _subdir_is_a_file(world: World) -> str:
    world.remote("org/gitlink", {"sub": "not a directory\n"})
    return "sub"


def _missing_object(world: World, mode: str, kind: str) -> str:
    remote = world.remote("org/gitlink", {"a.libsonnet": "{}\n"})
    entry = f"{mode} {kind} {'2' * 40}\tsub\n"
    proc = subprocess.run(
        ["git", "mktree", "--missing"],
        cwd=remote.path,
        input=entry,
        text=True,
        capture_output=True,
        check=True,
    )
    tree = proc.stdout.strip()
    commit = git(remote.path, "commit-tree", tree, "-p", "HEAD", "-m", "broken")
    git(remote.path, "update-ref", "refs/heads/master", commit)
    return "" if kind == "blob" else "sub"


TREE_CASES: dict[str, Callable[[World], str]] = {
    "gitlink at the subdir": _gitlink_at_subdir,
    "subdir is a file": _subdir_is_a_file,
    "tree names a missing blob": lambda w: _missing_object(w, "100644", "blob"),
    "tree names a missing tree": lambda w: _missing_object(w, "040000", "tree"),
}


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_tree_git_cannot_archive(
    case: str, world: World, vendored_project: Path, tmp_path: Path
) -> None:
    subdir = TREE_CASES[case](world)
    data = json.loads((vendored_project / "jsonnetfile.json").read_text())
    data["dependencies"].append(git_dep(World.url("org/gitlink"), subdir))
    (vendored_project / "jsonnetfile.json").write_text(json.dumps(data))
    before = snapshot(tmp_path)
    assert_one_line_failure(kpb(vendored_project, "vendor"), "github.com/org/gitlink")
    after = snapshot(tmp_path)
    assert {k: after.get(k) for k in before} == before, "only the cache may grow"


# --------------------------------------------------------------------------- disk full


@pytest.mark.parametrize("command", ["vendor", "update"])
def test_disk_full_while_vendoring(command: str, world: World, tmp_path: Path, home: Path) -> None:
    world.remote("org/small", {"s.libsonnet": "{}\n"})
    world.remote("org/big", {"b.libsonnet": "{}\n", "blob.bin": os.urandom(600_000)})
    with tiny_tmpfs(tmp_path / "disk", "300k") as disk:
        project = disk / "project"
        project.mkdir()
        write_jsonnetfile(project, [git_dep(World.url("org/small"))])
        assert kpb(project, "vendor").returncode == 0
        write_jsonnetfile(project, [git_dep(World.url("org/small")), git_dep(World.url("org/big"))])
        before = snapshot(project)
        assert_one_line_failure(kpb(project, command), "space left on device")
        assert snapshot(project) == before
        assert not [p for p in (project / "vendor").iterdir() if p.name.startswith(".kpb-tmp")]


# --------------------------------------------------------------------------- build inputs


def test_environment_name_with_a_trailing_newline(buildable: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    assert_one_line_failure(kpb(buildable, "build", "dev\n"), "is not a plain name")
    assert snapshot(tmp_path) == before


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "value.fifo"
    os.mkfifo(path)
    return path


def _big(tmp_path: Path) -> Path:
    path = tmp_path / "big.json"
    path.write_bytes(b"")
    os.truncate(path, 17 << 20)
    return path


def _deep(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    return path


VALUE_CASES: dict[str, tuple[str, Callable[[Path], str], str]] = {
    "ext-str-file /dev/zero": ("--ext-str-file", lambda t: "/dev/zero", "not a regular file"),
    "ext-str-file fifo": ("--ext-str-file", lambda t: str(_fifo(t)), "not a regular file"),
    "ext-str-file directory": ("--ext-str-file", lambda t: str(t), "not a regular file"),
    "ext-code-file /dev/zero": ("--ext-code-file", lambda t: "/dev/zero", "not a regular file"),
    "tla-str-file fifo": ("--tla-str-file", lambda t: str(_fifo(t)), "not a regular file"),
    "ext-str-file larger than 16 MiB": (
        "--ext-str-file",
        lambda t: str(_big(t)),
        "larger than 16 MiB",
    ),
    "ext-code-file nested 100k deep": (
        "--ext-code-file",
        lambda t: str(_deep(t)),
        "nested 100000 levels deep",
    ),
    "tla-code-file nested 100k deep": (
        "--tla-code-file",
        lambda t: str(_deep(t)),
        "nested 100000 levels deep",
    ),
    "ext-code nested 100k deep": ("--ext-code", lambda t: "[" * 100_000, "nested 100000 levels"),
}


@pytest.mark.parametrize("case", sorted(VALUE_CASES))
@pytest.mark.parametrize("engine", ["rs", "go"])
def test_bad_value_input(case: str, engine: str, buildable: Path, tmp_path: Path) -> None:
    flag, value, expected = VALUE_CASES[case]
    argument = f"x={value(tmp_path)}"
    before = snapshot(tmp_path)
    proc = kpb(buildable, "build", "dev", "--engine", engine, flag, argument)
    assert_one_line_failure(proc, f"{flag} x", expected)
    assert snapshot(tmp_path) == before


def test_project_directory_with_a_trailing_newline(tmp_path: Path, home: Path) -> None:
    """The name is shown quoted, so even the message of a missing directory stays one line."""
    before = snapshot(tmp_path)
    proc = kpb(tmp_path / "nowhere\n", "vendor")
    assert_one_line_failure(proc, "project directory", "nowhere\\n' does not exist")
    assert snapshot(tmp_path) == before
