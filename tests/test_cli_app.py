"""The CLI shell: version, help and how failures become exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom_build import __version__
from kubeprom_build.cli import run


def test_version_prints_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    assert run(["no-such-command"]) == 2


def test_missing_project_dir_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code = run(["-C", str(missing), "--help"])
    # --help is eager and succeeds; a real subcommand must fail on the missing directory.
    assert code == 0
    capsys.readouterr()
