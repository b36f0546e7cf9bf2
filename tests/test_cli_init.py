"""``kpb init`` scaffolds a project that builds with no network, and ``make check`` works on a
fresh checkout whose manifests/ is git-ignored (the Makefile's recipe, run on such a project)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers.gitrepos import snapshot
from tests.helpers.jsonschema_lite import check_document

ROOT = Path(__file__).resolve().parent.parent
JB_INIT = '{\n  "version": 1,\n  "dependencies": [],\n  "legacyImports": true\n}\n'


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    root = tmp_path / "new"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_init_then_build_works_offline(
    empty: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "none")  # any network attempt would fail
    monkeypatch.chdir(empty)
    assert run(["init"]) == 0
    assert (empty / "jsonnetfile.json").read_text() == JB_INIT
    assert (empty / ".gitignore").read_text() == "/vendor/\n/.kpb/\n"
    assert "kube-prometheus" in (empty / "environments" / "dev.jsonnet").read_text()
    assert run(["build", "dev"]) == 0
    assert (empty / "manifests" / "dev" / "hello-configmap.yaml").read_text() == (
        "apiVersion: v1\ndata:\n  greeting: hello from kpb\nkind: ConfigMap\nmetadata:\n"
        "  name: hello\n  namespace: default\n"
    )
    assert run(["vendor"]) == 0
    assert run(["vendor", "--verify"]) == 0
    capsys.readouterr()
    ignored = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=empty, capture_output=True, text=True
    ).stdout
    assert "!! .kpb/" in ignored


def test_init_appends_to_gitignore_once_and_never_overwrites(
    empty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (empty / ".gitignore").write_text("node_modules/\n/vendor/")  # no final newline
    assert run(["-C", str(empty), "init"]) == 0
    assert (empty / ".gitignore").read_text() == "node_modules/\n/vendor/\n/.kpb/\n"
    (empty / "jsonnetfile.json").unlink()
    (empty / "environments" / "dev.jsonnet").write_text("{ mine: {} }\n")
    before = snapshot(empty)
    capsys.readouterr()
    assert run(["-C", str(empty), "init"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{empty}/environments/dev.jsonnet" in err and f"{empty}/jsonnet/app.libsonnet" in err
    assert "jsonnetfile.json" not in err  # it does not exist, so it is not named
    assert snapshot(empty) == before


def test_init_refuses_a_linked_gitignore_and_a_linked_dir(
    empty: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "ignore").write_text("x\n")
    (empty / ".gitignore").symlink_to(victim / "ignore")
    before = snapshot(empty, victim)
    assert run(["-C", str(empty), "init"]) == 3
    assert ".gitignore" in capsys.readouterr().err
    assert snapshot(empty, victim) == before
    (empty / ".gitignore").unlink()
    (empty / "jsonnet").symlink_to(victim)
    assert run(["-C", str(empty), "init"]) == 3
    assert "jsonnet" in capsys.readouterr().err
    assert sorted(p.name for p in victim.iterdir()) == ["ignore"]


def test_minimal_init_is_jb_init(empty: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-C", str(empty), "--json", "init", "--minimal"]) == 0
    doc = check_document(capsys.readouterr().out)
    assert doc["result"] == {"project": str(empty), "created": ["jsonnetfile.json"], "appended": []}
    assert sorted(p.name for p in empty.iterdir()) == [".git", "jsonnetfile.json"]


# --------------------------------------------------------------------------- make check


def _make_check(project: Path) -> subprocess.CompletedProcess[str]:
    venv = Path(sys.executable).parent.parent
    if shutil.which("make") is None or not (venv / "bin" / "kpb").exists():
        pytest.skip("needs make and the kpb console script next to this interpreter")
    make = ["make", "-s", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/.installed"]
    return subprocess.run(
        [*make, "check"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TMPDIR": str(project.parent)},
    )


def test_make_check_on_a_fresh_checkout_without_manifests(
    empty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(empty), "init", "-q"]) == 0
    assert run(["-C", str(empty), "vendor", "-q"]) == 0  # what a commit would hold
    capsys.readouterr()
    # Before: `kpb build --check --all` has nothing to compare with and fails.
    assert run(["-C", str(empty), "build", "--check", "--all"]) == 1
    done = _make_check(empty)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (empty / "manifests").exists()
    assert sorted(p.name for p in empty.parent.iterdir()) == ["new"]  # temp dir removed
    (empty / "environments" / "dev.jsonnet").write_text("{ a: { b: error 'broken' } }\n")
    done = _make_check(empty)
    assert done.returncode != 0
    assert "environments/dev.jsonnet:1" in done.stderr and "broken" in done.stderr
