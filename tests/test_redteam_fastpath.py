"""Red-team findings on the no-op fast path (issue 11): where it answered unlike the full CLI.

The promise: :func:`fastpath.answer` answers only when the full command line would print
exactly the same and change nothing. Two command lines broke it:

- ``-C=DIR``: click reads a short option's ``=`` as part of the value (the project
  ``=DIR``, which does not exist: exit 3), the fast path read ``DIR`` and answered exit 0
  from another project;
- a warning logged while the fast path looked (a jsonnetfile listing a dependency twice):
  with no handler on the ``kpb`` logger, Python's last-resort handler printed it without
  the ``warning:`` prefix, ``-q`` did not hide it and ``--json`` did not list it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeprom_build.cli import fastpath, run
from tests.helpers.gitrepos import World, git_dep, github_world, write_jsonnetfile

ENV = "local lib = import 'github.com/org/lib/main.libsonnet';\n{ cm: lib }\n"
_TIME = re.compile(r"\b\d+\.\d\ds\b|\"seconds\": [0-9.e-]+")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    world = github_world(tmp_path, monkeypatch)
    world.remote("org/lib", {"main.libsonnet": "{ kind: 'ConfigMap', apiVersion: 'v1' }\n"})
    root = tmp_path / "project"
    (root / "environments").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    write_jsonnetfile(root, [git_dep(World.url("org/lib"))])
    (root / "environments" / "dev.jsonnet").write_text(ENV)
    assert run(["-C", str(root), "vendor"]) == 0
    assert run(["-C", str(root), "build", "dev"]) == 0
    monkeypatch.delenv(fastpath.DISABLE, raising=False)
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    yield root


def _fast_then_full(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int | None, str, str], tuple[int, str, str]]:
    capsys.readouterr()
    fast = fastpath.answer(argv)
    quick = capsys.readouterr()
    full = run(argv)
    slow = capsys.readouterr()
    return (
        (fast, _TIME.sub("T", quick.out), quick.err),
        (full, _TIME.sub("T", slow.out), slow.err),
    )


@pytest.mark.parametrize("command", [["vendor"], ["build", "dev"], ["build", "--check", "dev"]])
def test_a_short_option_with_an_equals_sign_is_left_to_the_full_command(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.chdir(project.parent)
    argv = [f"-C={project.name}", *command]
    (fast, _out, _err), (full, _, err) = _fast_then_full(argv, capsys)
    assert full == 3 and "project directory '=project' does not exist" in err
    assert fast is None  # it used to answer 0, for the project 'project'


@pytest.mark.parametrize(
    "argv",
    [
        ["vendor"],
        ["-q", "vendor"],
        ["--json", "vendor"],
        ["build", "dev"],
        ["-q", "build", "dev"],
        ["--json", "build", "dev"],
        ["build", "--check", "dev"],
    ],
)
def test_a_warning_while_looking_is_left_to_the_full_command(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    body = json.loads((project / "jsonnetfile.json").read_text())
    body["dependencies"] *= 2  # "listed twice; the later entry wins"
    (project / "jsonnetfile.json").write_text(json.dumps(body, indent=2) + "\n")
    argv = ["-C", str(project), *argv]
    (fast, out, err), (full, full_out, full_err) = _fast_then_full(argv, capsys)
    assert full == 0
    if "-q" not in argv:  # shown as a warning, or listed in --json's warnings
        assert "listed twice" in full_out + full_err
    assert (fast, out, err) in ((None, "", ""), (full, full_out, full_err))


@pytest.mark.parametrize(
    "argv", [["build", "dev"], ["--json", "build", "dev"], ["--json", "vendor"]]
)
def test_a_full_stdout_ends_alike_with_one_line_and_no_traceback(
    project: Path, argv: list[str]
) -> None:
    """``kpb build dev > /dev/full``: the full command said "no space left on device" (exit
    3), the fast path crashed with a traceback; with ``--json`` both did."""

    def kpb(fast: bool) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if k != fastpath.DISABLE}
        if not fast:
            env[fastpath.DISABLE] = "1"
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "kubeprom_build", "-C", str(project), *argv],
                env=env,
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
        return done.returncode, done.stderr

    fast, full = kpb(fast=True), kpb(fast=False)
    assert fast == full == (3, "error: no space left on device\n")
