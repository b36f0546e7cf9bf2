"""A no-op ``kpb vendor`` / ``kpb build`` answered without the full command line (issue 11).

Each case runs the same command line twice in the same situation: through
:func:`fastpath.answer` (what ``kpb`` tries first) and through the full typer app
(:func:`run`); both must print the same bytes (the build table's time column aside) and exit
alike. Cases the fast path must decline are checked to leave everything to the full command.
A last test pins which modules a no-op loads, so a new top-level import cannot slow it down
unnoticed.
"""

from __future__ import annotations

import fcntl
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

LIB = "github.com/org/lib"
MAIN = """{
  configmap(name):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name }, data: {} },
}
"""
ENV = "local lib = import 'github.com/org/lib/main.libsonnet';\n{ '%s': lib.configmap('%s') }\n"
_TIME = re.compile(r"\b\d+\.\d\ds\b")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    world = github_world(tmp_path, monkeypatch)
    world.remote("org/lib", {"main.libsonnet": MAIN, "extra/x.libsonnet": "{}\n"})
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    write_jsonnetfile(root, [git_dep(World.url("org/lib"))])
    (root / "environments").mkdir()
    for env in ("dev", "prd"):
        (root / "environments" / f"{env}.jsonnet").write_text(ENV % (f"cm-{env}", env))
    assert run(["-C", str(root), "vendor"]) == 0
    assert run(["-C", str(root), "build", "--all"]) == 0
    monkeypatch.chdir(root)
    monkeypatch.delenv(fastpath.DISABLE, raising=False)
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    yield root


def _both(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str, int]:
    """Run ``argv`` through the fast path and then the full app; both must agree."""
    capsys.readouterr()
    fast = fastpath.answer(argv)
    quick = capsys.readouterr()
    assert fast is not None, f"the fast path declined {argv}"
    full = run(argv)
    slow = capsys.readouterr()
    assert (fast, _TIME.sub("T", quick.err)) == (full, _TIME.sub("T", slow.err))
    assert _normal(quick.out) == _normal(slow.out)
    return quick.out, quick.err, fast


def _normal(out: str) -> str:
    """The output with timings (``0.01s`` in the table, ``"seconds"`` in JSON) blanked."""
    out = _TIME.sub("T.TTs", out)
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": 0', out)


@pytest.mark.parametrize(
    "argv",
    [
        ["vendor"],
        ["-q", "vendor"],
        ["vendor", "-q"],
        ["vendor", "--offline"],
        ["--json", "vendor"],
        ["vendor", "--json", "--wait", "2"],
        ["--vendor-dir", "vendor", "vendor"],
    ],
)
def test_a_noop_vendor_prints_what_the_full_command_prints(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    _out, err, code = _both(["-C", str(project), *argv], capsys)
    assert code == 0
    if "-q" not in argv and "--json" not in argv:
        assert err == "vendor/ holds 1 packages (0 fetched, 1 already in place); lock unchanged\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "dev"],
        ["build", "dev", "prd"],
        ["build", "environments/dev.jsonnet", "dev.jsonnet"],
        ["build", "--all"],
        ["build", "--check", "dev"],
        ["-q", "build", "--all", "--check"],
        ["--json", "build", "dev", "prd"],
        ["build", "--check", "--all", "--json"],
    ],
)
def test_a_noop_build_prints_what_the_full_command_prints(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    out, _err, code = _both(["-C", str(project), *argv], capsys)
    assert code == 0
    if "--json" in argv:
        assert json.loads(out)["result"]["environments"][0]["skipped"] is True
    else:
        assert "up to date (skipped)" in out


def test_the_console_script_answers_alike_with_and_without_the_fast_path(project: Path) -> None:
    def kpb(*args: str, fast: bool) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.pop(fastpath.DISABLE, None)
        if not fast:
            env[fastpath.DISABLE] = "1"
        command = [sys.executable, "-m", "kubeprom_build", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    for args in (("vendor",), ("build", "dev", "prd"), ("--json", "vendor")):
        fast, full = kpb(*args, fast=True), kpb(*args, fast=False)
        assert fast.returncode == full.returncode == 0
        assert (_normal(fast.stdout), fast.stderr) == (_normal(full.stdout), full.stderr)


def _decline(argv: list[str]) -> None:
    assert fastpath.answer(argv) is None, argv


@pytest.mark.parametrize(
    "argv",
    [
        ["vendor", "--verify"],
        ["vendor", "-j", "4"],
        ["vendor", "extra"],
        ["build"],
        ["build", "dev", "--all"],
        ["build", "dev", "--force"],
        ["build", "dev", "--engine", "go"],
        ["build", "--", "dev"],
        ["-C", "a", "-C", "b", "vendor"],
        ["--wait", "soon", "vendor"],
        ["--version"],
        ["update"],
    ],
)
def test_any_other_command_line_is_left_to_the_full_command(argv: list[str]) -> None:
    _decline(argv)


def test_work_to_do_is_left_to_the_full_command(project: Path) -> None:
    package = project / "vendor" / LIB
    (package / "extra" / "x.libsonnet").write_text("{ y: 1 }\n")  # a stale package
    _decline(["vendor"])
    _decline(["build", "dev"])
    assert run(["vendor"]) == 0
    (project / "environments" / "dev.jsonnet").write_text(ENV % ("cm-new", "dev"))
    _decline(["build", "dev"])  # a stamp out of date
    _decline(["build", "--check", "dev"])
    assert fastpath.answer(["build", "prd"]) == 0


@pytest.mark.parametrize(
    "change",
    ["stray-dir", "stray-link", "missing-legacy-link", "wrong-legacy-link", "staging-left"],
)
def test_what_the_clean_up_would_change_is_not_a_noop(project: Path, change: str) -> None:
    vendor = project / "vendor"
    if change == "stray-dir":
        (vendor / "github.com" / "other").mkdir()
    elif change == "stray-link":
        os.symlink("github.com", vendor / "stray")
    elif change == "missing-legacy-link":
        (vendor / "lib").unlink()
    elif change == "wrong-legacy-link":
        (vendor / "lib").unlink()
        os.symlink("github.com/org", vendor / "lib")
    else:
        (vendor / ".kpb-tmp-killed").mkdir()
    _decline(["vendor"])
    assert run(["vendor"]) == 0  # the real run repairs it ...
    assert fastpath.answer(["vendor"]) == 0  # ... and then it is a no-op again


def test_a_busy_project_is_left_to_the_full_command(project: Path) -> None:
    for name in ("vendor.lock", "manifests-dev.lock"):
        fd = os.open(project / ".kpb" / "locks" / name, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _decline(["vendor"] if name == "vendor.lock" else ["build", "dev"])
        finally:
            os.close(fd)
    assert fastpath.answer(["build", "--check", "dev"]) == 0  # a check takes no lock


def test_a_terminal_gets_the_full_command(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    _decline(["vendor"])
    _decline(["build", "dev"])
    assert fastpath.answer(["-q", "vendor"]) == 0  # no progress is drawn with -q
    monkeypatch.setenv("FORCE_COLOR", "1")
    _decline(["-q", "vendor"])


#: What a no-op may load, besides the standard library: a new import here is a decision.
NOOP_MODULES = {
    "vendor": {
        "kubeprom_build",
        "kubeprom_build.cli",
        "kubeprom_build.cli.fastpath",
        "kubeprom_build.cli.output",
        "kubeprom_build.errors",
        "kubeprom_build.fsutil",
        "kubeprom_build.jsonvalues",
        "kubeprom_build.project",
        "kubeprom_build.rendering",
        "kubeprom_build.safefs",
        "kubeprom_build.vendoring",
        "kubeprom_build.vendoring.checksum",
        "kubeprom_build.vendoring.jsonnetfile",
        "kubeprom_build.vendoring.noop",
        "kubeprom_build.vendoring.packagefile",
        "kubeprom_build.vendoring.resolve",
        "kubeprom_build.vendoring.seal",
        "kubeprom_build.vendoring.uri",
        "kubeprom_build.vendoring.vendorrecord",
        "kubeprom_build.vendoring.vendortree",
    },
    "build": {
        "kubeprom_build.rendering.buildstate",
        "kubeprom_build.rendering.engine",
        "kubeprom_build.rendering.extvars",
        "kubeprom_build.rendering.imports",
        "kubeprom_build.rendering.manifests",
        "kubeprom_build.rendering.engineerrors",
        "kubeprom_build.rendering.pipeline",
        "kubeprom_build.rendering.redaction",
        "rjsonnet",
    },
}
#: What the interpreter, site (setuptools' .pth hook) and Cython extensions load themselves.
_RUNTIME = {"__main__", "_distutils_hack", "cython_runtime"}
#: Heavy standard-library modules only real work needs (git, worker processes, threads).
NEVER = {"subprocess", "multiprocessing", "concurrent", "tarfile", "asyncio", "ctypes", "difflib"}

_LOADED = """
import atexit, json, sys
def dump(path):
    with open(path, "w") as out:
        json.dump(sorted(sys.modules), out)
atexit.register(dump, sys.argv[1])
sys.argv = ["kpb", *sys.argv[2:]]
from kubeprom_build.cli import main
main()
"""


@pytest.mark.parametrize("command", [["vendor"], ["build", "dev", "prd"]])
def test_a_noop_loads_only_the_modules_it_needs(
    project: Path, tmp_path: Path, command: list[str]
) -> None:
    listing = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k != fastpath.DISABLE}
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, str(listing), "-q", *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(listing.read_text()))
    tops = {name.split(".")[0] for name in loaded}
    ours = {name for name in loaded if name.split(".")[0] == "kubeprom_build"}
    third_party = {
        n
        for n in loaded - ours - _RUNTIME
        if n.split(".")[0] not in sys.stdlib_module_names and not n.startswith("_cython_")
    }
    allowed = NOOP_MODULES["vendor"] | (NOOP_MODULES["build"] if command[0] == "build" else set())
    assert ours | {n.split(".")[0] for n in third_party} == allowed
    assert not tops & NEVER, tops & NEVER
    assert not tops & {"typer", "click", "rich", "pydantic"}


def test_the_stamp_names_the_emitter_version_pyyaml_itself_reports() -> None:
    """A no-op build reads PyYAML's version from its source instead of importing it."""
    import yaml

    from kubeprom_build.rendering import pipeline

    assert pipeline.pyyaml_version() == yaml.__version__
