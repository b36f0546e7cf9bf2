"""Evaluation errors point at file:line:column with every engine (issue 8, trust).

The same broken environment goes through the real ``kpb`` command (a child process) with rs,
go and cpp. rjsonnet leaves the location out of some messages (a missing field, an arithmetic
type error); kpb then borrows it from the go engine and says so. A missing import names the
importing file and line, lists each searched folder once, shows no frame for the file that
does not exist, and says to run 'kpb vendor' when the path belongs in vendor/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build.rendering.imports import Importer
from kubeprom_build.vendoring import commands
from tests.helpers import projects
from tests.helpers.gitrepos import git_dep, write_jsonnetfile

ENGINES = ["rs", "go", "cpp"]

LIB = """{
  cfg:: { a: 1 },
  bad(x):: x.missing,
}
"""

#: kind → (environment source, expected file:line, engines whose own message lacks it)
CASES: dict[str, tuple[str, str, set[str]]] = {
    "missing field": (
        "local cfg = { name: 'x' };\n{\n  a: {\n    v: cfg.nosuch,\n  },\n}\n",
        "environments/dev.jsonnet:4:8",
        {"rs"},
    ),
    "missing field read lazily": (
        "{\n  config:: {\n    replicas: self.nosuch,\n  },\n  a: { v: $.config.replicas },\n}\n",
        "environments/dev.jsonnet:3:15",  # rs names only line 5, where replicas is read
        {"rs"},
    ),
    "missing field in a local": (
        "local x = {}.nosuch;\n{\n  a: { v: x },\n}\n",
        "environments/dev.jsonnet:1:11",  # rs names only line 3, where x is used
        {"rs"},
    ),
    "missing field in a library": (
        "local lib = import 'lib.libsonnet';\n{\n  a: { v: lib.bad({}) },\n}\n",
        "jsonnet/lib.libsonnet:3:12",
        {"rs"},  # rs names only the call in the environment
    ),
    "type error": (
        "{\n  b: { v: 2 },\n  a: { v: 1 - 'a' },\n}\n",
        "environments/dev.jsonnet:3:11",
        {"rs"},
    ),
    "index out of bounds": (
        "local arr = [1, 2];\n{\n  a: { v: arr[5] },\n}\n",
        "environments/dev.jsonnet:3:11",
        {"rs"},
    ),
    "failed assert": (
        "local x = 3;\nassert x == 4 : 'x must be 4';\n{\n  a: { v: 1 },\n}\n",
        "environments/dev.jsonnet:2:",  # rs points at the condition, go/cpp at the assert
        set(),
    ),
    "error statement": (
        "{\n  a: {\n    v: error 'boom',\n  },\n}\n",
        "environments/dev.jsonnet:3:8",
        set(),
    ),
    "error quoting a location": (
        "{\n  a: {\n    v: error 'see other.jsonnet:99:1',\n  },\n}\n",
        "environments/dev.jsonnet:3:8",  # the real place, not the one in the message
        set(),
    ),
}


def kpb(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeprom_build", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=project,
        check=False,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = projects.make_project(tmp_path / "repo")
    projects.write_files(root, {"jsonnet/lib.libsonnet": LIB})
    return root


def failure(project: Path, engine: str) -> list[str]:
    """The error lines of a failed ``kpb build dev`` (exit code checked, no traceback)."""
    proc = kpb(project, "build", "--engine", engine, "dev")
    assert proc.returncode not in (0, 70), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.rstrip("\n").splitlines()
    for line in lines:  # no padding: engines' column alignment and tabs are gone
        assert "\t" not in line and not re.search(r"\S {2,}", line), line
    return lines


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", list(CASES))
def test_every_engine_names_the_line(project: Path, kind: str, engine: str) -> None:
    source, where, borrowed = CASES[kind]
    projects.set_env(project, "dev", source)
    first = failure(project, engine)[0]
    assert first.startswith(f"error: environment 'dev': {where}"), first
    assert re.match(r"error: environment 'dev': [\w/.-]+:\d+:\d+: \S", first), first
    if engine in borrowed:
        assert first.endswith("(location from the go engine)"), first
    else:
        assert "location from" not in first, first
    assert not (project / "manifests" / "dev").exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_import_names_the_importing_line_once(project: Path, engine: str) -> None:
    projects.set_env(project, "dev", "{\n  a: { b: 1 },\n  c: import 'nosuch.libsonnet',\n}\n")
    lines = failure(project, engine)
    assert lines == [
        "error: environment 'dev': environments/dev.jsonnet:3:6: cannot find "
        "'nosuch.libsonnet' imported from environments/ (searched environments/, jsonnet/, "
        "vendor/)"
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_import_from_a_library_searches_each_folder_once(
    project: Path, engine: str
) -> None:
    projects.write_files(
        project, {"jsonnet/uses.libsonnet": "{\n  x: import 'gone.libsonnet',\n}\n"}
    )
    projects.set_env(project, "dev", "{ a: (import 'uses.libsonnet').x }\n")
    first = failure(project, engine)[0]
    assert first == (
        "error: environment 'dev': jsonnet/uses.libsonnet:2:6: cannot find 'gone.libsonnet' "
        "imported from jsonnet/ (searched jsonnet/, vendor/)"
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "path",
    [
        "github.com/org/absent/main.libsonnet",  # a package path nobody vendored
        "kube-prometheus/nosuch.libsonnet",  # under a legacy-name link vendor/ holds
    ],
)
def test_missing_vendor_import_says_run_kpb_vendor(project: Path, engine: str, path: str) -> None:
    projects.set_env(project, "dev", f"local kp = import '{path}';\n{{\n  a: kp,\n}}\n")
    lines = failure(project, engine)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"error: environment 'dev': environments/dev.jsonnet:1:12: cannot find '{path}'"
    )
    assert lines[0].endswith(f"; '{path}' belongs in vendor/: run 'kpb vendor'"), lines[0]
    assert "(not found)" not in lines[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_importstr_is_located_by_kpb(project: Path, engine: str) -> None:
    projects.set_env(project, "dev", "{\n  a: {\n    v: importstr 'notes.txt',\n  },\n}\n")
    lines = failure(project, engine)
    assert lines[0].startswith(
        "error: environment 'dev': environments/dev.jsonnet:3:8: cannot find 'notes.txt'"
    ), lines


def test_a_locked_legacy_name_without_its_link_says_run_kpb_vendor(tmp_path: Path) -> None:
    """The lock knows a package's legacy name even when vendor/ lacks its link."""
    root = projects.make_project(tmp_path / "repo")
    (root / "vendor" / "kube-prometheus").unlink()
    remote = "https://github.com/org/kube-prometheus.git"
    write_jsonnetfile(
        root, [git_dep(remote, "jsonnet/kube-prometheus", "v1", sum="A" * 43 + "=")], lock=True
    )
    declared = commands.declared_names(root)
    assert declared is not None
    assert "kube-prometheus" in declared
    importer = Importer(
        root, [root / "jsonnet", root / "vendor"], [root], vendor=root / "vendor", declared=declared
    )
    importer("environments/", "kube-prometheus/main.libsonnet")
    assert importer.failure == (
        "cannot find 'kube-prometheus/main.libsonnet' imported from environments/ (searched "
        "environments/, jsonnet/, vendor/); 'kube-prometheus/main.libsonnet' belongs in "
        "vendor/: run 'kpb vendor'"
    )
    importer("environments/", "other/main.libsonnet")
    assert list(importer.failures.values())[-1].message.endswith("vendor/)")  # no hint
