"""Red-team findings on secrets (issue 7, class 6): values that lost their quotes, and numbers.

The README's inline secrets mode passes a JSON file with ``--ext-code-file``. The redactor knew
only the *string* leaves of such a file, so two everyday cases leaked through the real CLI:

- a secrets file with one missing quote is no longer JSON, a value in it becomes a bare
  jsonnet identifier, and every engine quotes it (``variable is not defined: Hunter2Secret``);
- a number (a PIN, an account id) is a value too, but was shown by the structure-only sample
  and by engine messages.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import projects

KPB = [sys.executable, "-m", "kubeprom_build"]
SECRET = "Hunter2Secret"
PIN = "98765432"


def _build(project: Path, engine: str, code_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *KPB,
            "-C",
            str(project),
            "build",
            "dev",
            "--engine",
            engine,
            "--ext-code-file",
            f"secrets={code_file}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("engine", ["rs", "go", "cpp"])
@pytest.mark.parametrize(
    "body",
    [
        '{"user": "admin", "password": Hunter2Secret}\n',  # the quotes were forgotten
        '{"user": "admin", "password": Hunter2Secret, "xyzzy": 1}\n',
        '{"user": "admin", "password": "pre-" + Hunter2Secret}\n',
    ],
)
def test_an_unquoted_value_in_a_code_file_is_masked(tmp_path: Path, engine: str, body: str) -> None:
    env = "{ 'a.yaml': { apiVersion: 'v1', kind: 'ConfigMap', x: std.extVar('secrets').password } }"
    project = projects.make_project(tmp_path / "p", {"dev": env})
    secrets = tmp_path / "secrets.json"
    secrets.write_text(body)
    done = _build(project, engine, secrets)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("engine", ["rs", "go"])
@pytest.mark.parametrize(
    "env",
    [
        # the structure-only sample of a contract error
        "{ 'a.yaml': [std.extVar('secrets')] }",
        # an engine message quoting the number
        "{ 'a.yaml': { x: error 'pin is ' + std.extVar('secrets').pin } }",
    ],
)
def test_a_number_in_a_code_file_is_masked(tmp_path: Path, engine: str, env: str) -> None:
    project = projects.make_project(tmp_path / "p", {"dev": env})
    secrets = tmp_path / "secrets.json"
    secrets.write_text(f'{{"pin": {PIN}, "negative": -{PIN[::-1]}, "user": "admin"}}\n')
    done = _build(project, engine, secrets)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout + done.stderr
    assert PIN not in out
    assert PIN[::-1] not in out


@pytest.mark.parametrize("engine", ["rs", "go"])
def test_a_long_mapping_key_holding_a_secret_is_not_shown_truncated(
    tmp_path: Path, engine: str
) -> None:
    """yamlemit quoted the first 40 characters of a key over 128 bytes: most of a longer
    secret, in a form (a prefix) that no redaction pattern recognises."""
    secret = "AbcdefghijklmnopqrstuvwxyzSECRETpartTWO0123456789"
    env = (
        "{ 'a.yaml': { apiVersion: 'v1', kind: 'ConfigMap', "
        "data: { [std.extVar('s') + std.repeat('x', 100)]: 'v' } } }"
    )
    project = projects.make_project(tmp_path / "p", {"dev": env})
    done = subprocess.run(
        [*KPB, "-C", str(project), "build", "dev", "--engine", engine, "--ext-str", f"s={secret}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "longer than 128 bytes" in done.stderr
    assert secret[:12] not in done.stdout + done.stderr
