"""Red-team findings on command-line input (issue 7, classes 3 and 7).

Arguments that are not UTF-8 reach Python as lone surrogates; ``kpb install`` accepted them as a
subdir, a version or a local directory and then crashed writing the jsonnetfile (exit 70, a
traceback), and ``--vendor-dir $'\\xff'`` vendored into that directory and crashed writing the
record. ``--vendor-dir $'vendor\\n'`` (a script's stray newline) silently created a second,
invisible vendor directory. Each now gets one line and changes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers import projects
from tests.helpers.cli import refusal
from tests.helpers.gitrepos import World, git_dep, snapshot


@pytest.fixture
def project(vendored_project: Path) -> Path:
    """A vendored project holding a directory with an undecodable name."""
    os.mkdir(vendored_project / os.fsdecode(b"\xff"))
    return vendored_project


def _one_line_refusal(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> str:
    before = snapshot(tmp_path)
    line = refusal(["-C", str(project), *args], capsys)
    assert snapshot(tmp_path) == before
    return line


@pytest.mark.parametrize(
    "uri",
    [
        b"https://github.com/org/good.git/\xff",  # subdir
        b"github.com/org/good@\xff",  # version
        b"github.com/org/good/sub\xff@master",
        b"\xff",  # an existing local directory
    ],
)
def test_install_of_a_non_utf8_argument_is_refused(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: bytes
) -> None:
    line = _one_line_refusal(project, tmp_path, capsys, ["install", os.fsdecode(uri)])
    assert "UTF-8" in line, line


@pytest.mark.parametrize(
    "vendor_dir", [b"\xff", b"vendor\n", b"vendor\r", b"ven\tdor", b"vendor\x7f", b"\x1b[2Jv"]
)
def test_vendor_dir_with_control_or_undecodable_characters_is_refused(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], vendor_dir: bytes
) -> None:
    line = _one_line_refusal(
        project, tmp_path, capsys, ["--vendor-dir", os.fsdecode(vendor_dir), "vendor"]
    )
    assert "--vendor-dir" in line, line


@pytest.mark.parametrize(
    "args",
    [
        ["--ext-str", "s=Secret\udcffValue"],
        ["--ext-code", 's="Secret\udcffValue"'],
        ["--tla-str", "s=Secret\udcffValue"],
        ["--ext-str", "s"],  # from the environment
        ["--ext-str", "\udcff=SecretValue"],
    ],
)
def test_non_utf8_variables_are_refused_without_quoting_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    """A non-UTF-8 value crashed the stamp digest (exit 70, a traceback) after evaluation."""
    monkeypatch.setenv("s", "Secret\udcffValue")
    project = projects.make_project(tmp_path / "p")
    before = snapshot(tmp_path)
    capsys.readouterr()
    code = run(["-C", str(project), "build", "dev", *args])
    captured = capsys.readouterr()
    assert code == 3, captured.err
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "UTF-8" in errors[0], captured.err
    assert "Secret" not in captured.out + captured.err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("field", ["version", "subdir", "name", "nested"])
def test_lone_surrogate_escapes_in_a_jsonnetfile_are_refused(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    field: str,
) -> None:
    """``"\\ud800"`` is valid JSON but not text: kpb accepted it and crashed writing the lock
    (exit 70, a traceback), also when a dependency's own jsonnetfile held it."""
    dep = git_dep(World.url("org/good"))
    if field == "version":
        dep["version"] = "\ud800"
    elif field == "subdir":
        dep["source"]["git"]["subdir"] = "sub\udfff"
    elif field == "name":
        dep["name"] = "\ud800"
    else:
        world = World(tmp_path / "remotes")
        nested = git_dep(World.url("org/good"), version="\ud800")
        body = {"version": 1, "dependencies": [nested]}
        world.remote("org/outer", {"jsonnetfile.json": json.dumps(body)})
        dep = git_dep(World.url("org/outer"))
    (project / "jsonnetfile.json").write_text(json.dumps({"version": 1, "dependencies": [dep]}))
    line = _one_line_refusal(project, tmp_path, capsys, ["vendor"])
    assert "surrogate" in line, line
