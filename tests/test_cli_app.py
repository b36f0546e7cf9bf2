"""The CLI shell: version, help and how failures become exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom_build import __version__
from kubeprom_build.cli import run
from kubeprom_build.errors import EXIT_INPUT


def test_version_prints_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    assert run(["no-such-command"]) == 2


@pytest.mark.parametrize(
    "command",
    [
        ["vendor"],
        ["vendor", "--verify"],
        ["install", "github.com/a/b"],
        ["update"],
        ["init"],
        ["build", "dev"],
        ["diff", "dev"],
    ],
    ids=" ".join,
)
def test_missing_project_dir_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Every command refuses a ``-C`` directory that does not exist, and creates nothing:
    not the directory, not a jsonnetfile, not vendor/ or .kpb/ beside it."""
    missing = tmp_path / "nope"
    code = run(["-C", str(missing), *command])
    out, err = capsys.readouterr()
    assert code == EXIT_INPUT, err
    assert err == f"error: project directory {str(missing)!r} does not exist\n"
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_help_needs_no_project_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--help is eager: it answers before the project directory is looked at."""
    assert run(["-C", str(tmp_path / "nope"), "--help"]) == 0
    assert "Usage" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
