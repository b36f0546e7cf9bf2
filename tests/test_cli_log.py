"""kpb's one log channel through the real CLI: plain ``level: message`` lines on stderr,
warnings by default, only errors with ``-q``, debug lines with ``-v``, and the warnings in the
``--json`` result whatever is shown.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.vendoring import git
from tests.helpers import projects
from tests.helpers.gitrepos import World, git_dep, write_jsonnetfile
from tests.helpers.jsonschema_lite import check_document

#: What the environment traces: brackets and colons rich would read as markup and emoji.
TRACED = "[bold red]note[/] :smile: [x]"
TRACE_LINE = f"warning: TRACE: environments/dev.jsonnet:2 {TRACED}\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An environment that traces :data:`TRACED` (printed by the engine itself, on fd 2)."""
    root = projects.make_project(tmp_path / "repo")
    source = "local v = std.extVar('v');\nstd.trace('" + TRACED + "', { cm: { data: { v: v } } })\n"
    projects.set_env(root, "dev", source)
    return root


def kpb(project: Path, capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run kpb in ``project`` with the variable the environment needs: (code, stdout, stderr)."""
    capfd.readouterr()
    code = run(["-C", str(project), *args, "--ext-str", "v=value"])
    out = capfd.readouterr()
    return code, out.out, out.err


def warnings_of(stdout: str) -> list[str]:
    """The ``warnings`` of the one JSON document on ``stdout`` (checked against the schema)."""
    result = check_document(stdout)["result"]
    assert isinstance(result, dict)
    warnings = result["warnings"]
    assert isinstance(warnings, list)
    return warnings


def test_warnings_are_plain_lines_and_minus_q_hides_them(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = kpb(project, capfd, "build", "dev")
    assert code == 0 and err == TRACE_LINE  # verbatim: no markup, no emoji, one prefix
    code, out, err = kpb(project, capfd, "build", "dev", "--force", "-q")
    assert code == 0 and "TRACE" not in out and err == ""


def test_json_lists_the_warnings_even_when_minus_q_hides_them(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    traced = f"TRACE: environments/dev.jsonnet:2 {TRACED}"
    code, out, err = kpb(project, capfd, "build", "dev", "--json")
    assert code == 0 and warnings_of(out) == [traced] and err == TRACE_LINE
    code, out, err = kpb(project, capfd, "build", "dev", "--force", "--json", "-q")
    assert code == 0 and warnings_of(out) == [traced] and err == ""
    code, out, err = kpb(project, capfd, "diff", "dev", "--json")
    assert code == 0 and warnings_of(out) == [traced]


def test_verbose_shows_debug_lines_and_conflicts_with_quiet(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = kpb(project, capfd, "build", "dev")
    assert code == 0 and "debug:" not in err
    skipped = "debug: dev: the build stamp proves the output current; not evaluating\n"
    for verbose in (["-v"], ["--verbose"]):
        code, _out, err = kpb(project, capfd, *verbose, "build", "dev")
        assert code == 0 and "debug: engine rs" in err and skipped in err
        code, _out, err = kpb(project, capfd, "build", "dev", "--force", *verbose)  # hoisted
        assert code == 0 and "debug: engine rs" in err and TRACE_LINE in err
    code, _out, err = kpb(project, capfd, "-q", "-v", "build", "dev")
    assert code == 2 and "'-q' / '-v'" in err
    assert logging.getLogger("kpb").handlers == []  # each command removes its handler


def test_vendoring_logs_through_the_same_channel(
    world: World, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A version conflict is a warning line (hidden by -q); -v shows git commands, cache hits."""
    world.remote("org/lib", {"l": "1"}).tag("v1")
    for name, version in (("org/a", "v1"), ("org/b", "master")):
        requester = world.remote(name, {"x": "1"})
        requester.jsonnetfile("", [git_dep(World.url("org/lib"), "", version)])
        requester.commit({})
    deps = [git_dep(World.url("org/a")), git_dep(World.url("org/b"))]
    conflict = "warning: github.com/org/lib: github.com/org/a wants 'v1'"
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        write_jsonnetfile(folder, deps)
    capfd.readouterr()
    assert run(["-C", str(first), "-q", "vendor"]) == 0
    err = capfd.readouterr().err
    assert err == ""
    assert run(["-C", str(second), "vendor", "-v"]) == 0  # the cache has every commit now
    err = capfd.readouterr().err
    assert conflict in err
    assert "debug: git " in err
    assert "debug: cache hit: https://github.com/org/a.git at " in err


def test_debug_lines_of_git_commands_drop_a_urls_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kpb")
    remote = "https://user:tok3n-s3cret@example.invalid/org/repo.git"
    git.run(["ls-remote", "--get-url", "--", remote], offline=True, what="git ls-remote")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "https://example.invalid/org/repo.git" in logged
    assert "tok3n" not in logged and "user" not in logged


def test_worker_processes_log_through_the_same_channel(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """With several environments in worker processes, their warnings and debug lines reach the
    one handler in kpb's process: shown once each, hidden by -q, listed by --json."""
    source = (project / "environments" / "dev.jsonnet").read_text(encoding="utf-8")
    projects.set_env(project, "stg", source.replace("dev.jsonnet", "stg.jsonnet"))
    stg_line = TRACE_LINE.replace("dev.jsonnet", "stg.jsonnet")
    code, _out, err = kpb(project, capfd, "build", "dev", "stg", "-j", "2")
    assert code == 0 and sorted(err.splitlines(keepends=True)) == [TRACE_LINE, stg_line]
    code, out, err = kpb(
        project, capfd, "build", "dev", "stg", "-j", "2", "--force", "--json", "-q"
    )
    traced = sorted(line.removeprefix("warning: ").rstrip("\n") for line in (TRACE_LINE, stg_line))
    assert code == 0 and err == "" and sorted(warnings_of(out)) == traced
    code, _out, err = kpb(project, capfd, "-v", "build", "dev", "stg", "-j", "2")
    skipped = "debug: {}: the build stamp proves the output current; not evaluating\n"
    assert code == 0 and skipped.format("dev") in err and skipped.format("stg") in err
