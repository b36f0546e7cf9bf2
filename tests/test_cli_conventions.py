"""Issue 8's conventions through the real CLI: discovery, option order, exit codes, --json,
help, completion, Tanka habits and --output.

Every ``--json`` document printed here is checked against docs/json-schema.json.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main

from kubeprom_build import errors
from kubeprom_build.cli import build_cmds, complete, run
from kubeprom_build.cli.app import (
    GLOBAL_FLAGS,
    GLOBAL_VALUE_OPTIONS,
    click_command,
    hoist_global_options,
)
from kubeprom_build.cli.app import app as typer_app
from tests.helpers import projects
from tests.helpers.jsonschema_lite import check_document

ROOT = Path(__file__).resolve().parent.parent


def kpb_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    """Run kpb with ``args`` (which include --json) and return its code and validated document."""
    capsys.readouterr()
    code = run(list(args))
    doc = check_document(capsys.readouterr().out)
    assert doc["exit_code"] == code
    return code, doc


def kpb_json_plain(args: list[str]) -> tuple[int, dict[str, object]]:
    """Like :func:`kpb_json`, as a real process (no capsys fixture needed)."""
    done = subprocess.run(
        [sys.executable, "-m", "kubeprom_build", *args],
        capture_output=True,
        text=True,
        check=False,
        env=subprocess_env(),
    )
    doc = check_document(done.stdout)
    assert doc["exit_code"] == done.returncode
    return done.returncode, doc


def env_of(doc: dict[str, object], index: int = 0) -> dict[str, object]:
    result = doc["result"]
    assert isinstance(result, dict)
    environments = result["environments"]
    assert isinstance(environments, list)
    env = environments[index]
    assert isinstance(env, dict)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return projects.make_project(tmp_path / "repo")


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


# --------------------------------------------------------------------------- discovery


def test_build_from_a_subdirectory_finds_the_project(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = project / "jsonnet" / "deeper"
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert run(["build", "dev"]) == 0
    assert (project / "manifests" / "dev" / "prometheus-prometheus.yaml").is_file()
    assert not (deep / "manifests").exists()
    monkeypatch.chdir(project / "environments")
    assert run(["build", "--check", "dev"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_a_missing_minus_c_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["build", "dev", "-C", str(tmp_path / "nope")]) == errors.EXIT_INPUT
    err = capsys.readouterr().err
    assert err == f"error: project directory {str(tmp_path / 'nope')!r} does not exist\n"


def test_inside_vendor_the_project_is_the_one_owning_vendor(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A vendored package has its own jsonnetfile.json; it is not the project."""
    package = project / "vendor" / projects.KP
    (package / "jsonnetfile.json").write_text('{"version": 1, "dependencies": []}')
    (project / "jsonnetfile.json").write_text('{"version": 1, "dependencies": []}')
    monkeypatch.chdir(package / "lib")
    code, doc = kpb_json(capsys, "build", "dev", "--json")
    assert code == 0 and env_of(doc)["output"] == "manifests/dev"
    assert (project / "manifests" / "dev").is_dir()
    assert not (package / "vendor").exists() and not (package / "manifests").exists()
    (project / "deps").mkdir()
    (project / "deps" / "pkg").mkdir()
    (project / "deps" / "pkg" / "jsonnetfile.json").write_text("{}")
    monkeypatch.chdir(project / "deps" / "pkg")
    capsys.readouterr()
    # The project (not deps/pkg) is found: dev exists, and its imports are searched in deps/.
    assert run(["--vendor-dir", "deps", "build", "--check", "dev"]) == 3
    assert "(searched jsonnet/, deps/)" in capsys.readouterr().err  # the owner's vendor dir


def test_minus_c_wins_over_discovery(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = projects.make_project(tmp_path / "other", {"solo": projects.objects_env({"a": {}})})
    monkeypatch.chdir(project / "environments")
    assert run(["-C", str(other), "build", "solo"]) == 0
    assert (other / "manifests" / "solo" / "a.yaml").is_file()
    assert not (project / "manifests").exists()


def test_outside_any_project_is_one_line_suggesting_init_or_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(["git", "init", "-q", str(empty)], check=True)  # the walk stops here
    monkeypatch.chdir(empty)
    for argv in (["build", "dev"], ["vendor"], ["update"], ["diff", "--all"]):
        assert run(argv) == errors.EXIT_INPUT
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "not inside a kpb project" in err and "kpb init" in err and "-C DIR" in err
    assert list(empty.iterdir()) == [empty / ".git"]


def test_init_is_never_suggested_or_run_inside_a_project_subdirectory(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = project / "environments"
    monkeypatch.chdir(sub)
    before = sorted(p.name for p in sub.iterdir())
    assert run(["init"]) == errors.EXIT_INPUT
    err = capsys.readouterr().err
    assert f"inside the kpb project {project}" in err
    assert sorted(p.name for p in sub.iterdir()) == before
    # The project has no jsonnetfile.json: vendoring names the file at the project's root and
    # suggests a command that works from here.
    assert run(["vendor"]) == errors.EXIT_INPUT
    err = capsys.readouterr().err
    assert f"{project}/jsonnetfile.json: not found" in err
    hint = re.search(r"'(kpb [^']+)'", err)
    assert hint is not None
    assert run(hint.group(1).split()[1:]) == 0
    assert (project / "jsonnetfile.json").is_file()
    assert not (sub / "jsonnetfile.json").exists()


# --------------------------------------------------------------------------- option order


def test_global_options_after_the_subcommand(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # not a project: only -C finds it
    code, doc = kpb_json(capsys, "build", "dev", "-C", str(project), "--json", "-q")
    assert code == 0 and doc["command"] == "build"
    code, doc = kpb_json(capsys, "build", f"--project={project}", "--check", "dev", "--json")
    assert code == 0 and env_of(doc)["skipped"] is True
    assert run(["diff", "dev", "--wait", "5", "-C", str(project)]) == 0
    assert run(["vendor", "--verify", "-C", str(project), "--vendor-dir", "vendor"]) in (0, 1, 3)


def test_a_commands_own_option_value_is_not_taken_for_a_global_option(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--ext-str -q`` passes the value ``-q`` (a variable named -q is refused by name)."""
    monkeypatch.setenv("X", "v")
    args, info = hoist_global_options(
        ["build", "dev", "--ext-str", "-q", "-C", "p", "--json", "--", "--json"]
    )
    assert args == ["-C", "p", "--json", "build", "dev", "--ext-str", "-q", "--", "--json"]
    assert info.command == "build" and info.json
    code, doc = kpb_json_plain(["build", "dev", "--json", "-C"])
    assert code == 2 and doc["error"] == {
        "message": "option -C needs a value, e.g. -C DIR",
        "kind": "usage",
    }
    args, info = hoist_global_options(["--json", "nosuch", "-q"])
    assert args == ["--json", "nosuch", "-q"] and info.json and info.command is None


def test_hoisting_knows_every_global_option() -> None:
    """A global option missing from the hoisting tables would fail after the command."""
    eager = {"--version", "--help", "-h", "--install-completion", "--show-completion"}
    flags: set[str] = set()
    valued: set[str] = set()
    for param in click_command().params:
        opts = set(param.opts) - eager
        (flags if param.is_flag else valued).update(opts)
    assert flags == set(GLOBAL_FLAGS)
    assert valued == set(GLOBAL_VALUE_OPTIONS)


def test_every_option_hint_in_messages_is_a_form_that_works(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The busy message suggests --wait; placed where a user types it, it must parse."""
    from kubeprom_build import fsutil

    lock = project / ".kpb" / "locks" / "manifests-dev.lock"
    with fsutil.file_lock(lock, "test"):
        assert run(["build", "dev", "-C", str(project)]) == errors.EXIT_INPUT
        err = capsys.readouterr().err
        hint = re.search(r"pass (--wait [A-Z]+)", err)
        assert hint is not None, err
        option = hint.group(1).replace("SECONDS", "0.2").split()
        for argv in (["build", "dev", *option], [*option, "build", "dev"]):
            assert run(["-C", str(project), *argv]) == errors.EXIT_INPUT
            assert "locked by another kpb process" in capsys.readouterr().err


# --------------------------------------------------------------------------- exit codes


def test_exit_codes_0_1_2_3(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-C", str(project), "build", "dev"]) == errors.EXIT_OK
    projects.set_env(project, "dev", projects.env_source("dev", replicas=9))
    assert run(["-C", str(project), "build", "--check", "dev"]) == errors.EXIT_DIFFERENCES
    assert run(["-C", str(project), "diff", "dev"]) == errors.EXIT_DIFFERENCES
    assert run(["-C", str(project), "build", "--no-such-flag"]) == errors.EXIT_USAGE
    projects.set_env(project, "dev", "{ a: ")
    assert run(["-C", str(project), "build", "dev"]) == errors.EXIT_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_exit_code_4_belongs_to_not_ready_and_each_class_carries_its_code() -> None:
    assert errors.NotReadyError("x").exit_code == 4
    assert errors.OutOfDateError("x").exit_code == 1
    for cls in (errors.ConfigError, errors.GitError, errors.BuildError, errors.BusyError):
        assert cls("x").exit_code == 3
    assert errors.EXIT_BUG == 70 and errors.EXIT_INTERRUPTED == 130


def test_a_bug_exits_70_with_a_trace_and_json_says_bug(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("secret-ish detail")

    monkeypatch.setattr(build_cmds.rendering, "build", broken)
    code, doc = kpb_json(capsys, "-C", str(project), "build", "dev", "--json")
    assert code == errors.EXIT_BUG
    assert doc["error"] == {"message": "internal error: ZeroDivisionError", "kind": "bug"}


def test_exit_codes_are_documented_in_help_and_readme(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    readme = (ROOT / "README.md").read_text()
    for code in ("0 ok", "1 differences", "2 usage", "3 input", "4 not ready", "130", "70"):
        assert code in text
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 70 |", "| 130 |"):
        assert code in readme


def _slow_env(project: Path) -> None:
    busy = "std.foldl(function(x, y) x + std.foldl(function(a, b) a + b, std.range(0, 20000), y),"
    projects.set_env(project, "slow", f"{{ a: {{ n: {busy} std.range(0, 20000), 0) }} }}")


@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line_and_json_says_interrupted(project: Path) -> None:
    _slow_env(project)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeprom_build", "build", "slow", "--engine", "go", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
        start_new_session=True,
    )
    try:
        lock = project / ".kpb" / "locks" / "manifests-slow.lock"
        deadline = time.monotonic() + 60
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["interrupted"], (out, err)
    doc = check_document(out.decode())
    assert doc["error"] == {"message": "interrupted", "kind": "interrupted"}


# --------------------------------------------------------------------------- --json


def test_json_on_success_and_failure_of_build_and_diff(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = kpb_json(capsys, "-C", str(project), "--json", "build", "--all")
    assert code == 0 and doc["ok"] is True and doc["error"] is None
    assert [env_of(doc, i)["environment"] for i in (0, 1)] == ["dev", "prd"]
    code, doc = kpb_json(capsys, "-C", str(project), "diff", "dev", "--json")
    assert code == 0 and env_of(doc)["up_to_date"] is True
    projects.set_env(project, "dev", projects.env_source("dev", replicas=4))
    code, doc = kpb_json(capsys, "-C", str(project), "diff", "dev", "--json")
    assert code == 1 and doc["ok"] is False and doc["error"] is None
    assert env_of(doc)["changed"] == ["prometheus-prometheus.yaml"]
    code, doc = kpb_json(capsys, "-C", str(project), "build", "--check", "dev", "--json")
    assert code == 1
    assert isinstance(doc["error"], dict) and doc["error"]["kind"] == "out_of_date"
    projects.set_env(project, "dev", "{\n  a: { b: 1 },\n  c: { d: error 'kaputt' },\n}\n")
    code, doc = kpb_json(capsys, "-C", str(project), "build", "dev", "--json")
    assert code == 3
    error = doc["error"]
    assert isinstance(error, dict)
    assert error["kind"] == "build" and "kaputt" in error["message"]
    assert error["file"] == "environments/dev.jsonnet" and error["line"] == 3
    assert env_of(doc)["error"] is not None


def test_json_never_holds_a_variable_value(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hunter2-do-not-print"
    monkeypatch.setenv("TOKEN", secret)
    projects.set_env(project, "dev", "{ s: { kind: 'Secret', v: std.extVar('TOKEN') } }")
    for argv in (["build", "dev"], ["diff", "dev"], ["build", "--check", "--force", "dev"]):
        capsys.readouterr()
        run(["-C", str(project), "--json", *argv, "--ext-str", "TOKEN"])
        captured = capsys.readouterr()
        check_document(captured.out)
        assert secret not in captured.out + captured.err
    projects.set_env(project, "dev", "{ s: error 'leak ' + std.extVar('TOKEN') }")
    code, doc = kpb_json(capsys, "-C", str(project), "--json", "build", "dev", "--ext-str", "TOKEN")
    assert code == 3 and secret not in json.dumps(doc)


def test_json_for_usage_errors_and_unknown_commands(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = kpb_json(capsys, "-C", str(project), "--json", "build", "--bogus")
    assert code == 2 and doc["command"] == "build"
    assert isinstance(doc["error"], dict) and doc["error"]["kind"] == "usage"
    for argv in (["--json", "frobnicate"], ["frobnicate", "--json"], ["--json"]):
        code, doc = kpb_json(capsys, *argv)
        assert code == 2 and doc["command"] is None


def test_json_for_init_and_bad_jsonnetfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "new"
    root.mkdir()
    code, doc = kpb_json(capsys, "-C", str(root), "init", "--json")
    assert code == 0
    assert doc["result"] == {
        "project": str(root),
        "created": [
            "jsonnetfile.json",
            "environments/dev.jsonnet",
            "jsonnet/app.libsonnet",
            ".gitignore",
        ],
        "appended": [],
    }
    code, doc = kpb_json(capsys, "-C", str(root), "init", "--json")
    assert code == 3 and isinstance(doc["error"], dict) and doc["error"]["kind"] == "config"
    (root / "jsonnetfile.json").write_text("{ not json")
    for argv in (["vendor"], ["vendor", "--verify"], ["install"], ["update"]):
        code, doc = kpb_json(capsys, "-C", str(root), "--json", *argv)
        assert code == 3, argv
        error = doc["error"]
        assert isinstance(error, dict) and "jsonnetfile.json" in error["message"]


# --------------------------------------------------------------------------- help, completion

COMMANDS = ["init", "install", "vendor", "update", "build", "diff"]
TYPE_LABELS = re.compile(r"\b(TEXT|INTEGER|PATH|FLOAT|BOOLEAN|FILENAME|DIRECTORY)\b|<[a-z][^>]*>")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_has_examples_and_no_type_labels(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run([command, "--help"] if command else ["--help"]) == 0
    text = capsys.readouterr().out
    assert "Example" in text
    labels = [m.group(0) for m in TYPE_LABELS.finditer(text) if m.group(0) != "<name>"]
    assert labels == [], labels


def _context(project: Path | None) -> typer.Context:
    group = typer.main.get_command(typer_app)
    ctx = typer.Context(group)
    ctx.params = {"project": project}
    return ctx


def test_completion_callbacks_read_the_discovered_project(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (project / "environments" / "tanka").mkdir()
    (project / "environments" / "tanka" / "main.jsonnet").write_text("{}")
    projects.write_files(
        project,
        {
            "jsonnetfile.json": json.dumps(
                {
                    "version": 1,
                    "dependencies": [
                        {
                            "source": {
                                "git": {"remote": "https://github.com/o/r.git", "subdir": "x"}
                            },
                            "version": "main",
                        },
                        {"source": {"local": {"directory": "libs/localdep"}}, "version": ""},
                    ],
                }
            )
        },
    )
    assert complete.environment_names(_context(project), "") == ["dev", "prd", "tanka"]
    assert complete.environment_names(_context(project), "p") == ["prd"]
    monkeypatch.chdir(project / "jsonnet")
    assert complete.environment_names(_context(None), "d") == ["dev"]
    assert complete.dependency_names(_context(None), "github") == ["github.com/o/r/x"]
    assert complete.dependency_names(_context(None), "") == ["github.com/o/r/x", "localdep"]
    monkeypatch.chdir(tmp_path)
    assert complete.environment_names(_context(None), "") == []


def test_show_completion_and_a_real_completion_request(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--show-completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "_KPB_COMPLETE=complete_bash" in script and "complete " in script
    env = {**subprocess_env(), "_KPB_COMPLETE": "complete_bash", "COMP_CWORD": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "kubeprom_build"],
        cwd=project / "environments",
        env={**env, "COMP_WORDS": "kpb build p"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.split() == ["prd"], done.stderr


# --------------------------------------------------------------------------- Tanka habits, --output


def test_environment_paths_and_tanka_layout(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tanka = project / "environments" / "tk"
    tanka.mkdir()
    (tanka / "main.jsonnet").write_text("local lib = import 'lib.libsonnet';\n{ a: lib }\n")
    (tanka / "lib.libsonnet").write_text("{ kind: 'FromTanka' }\n")
    for spelling in ("environments/dev.jsonnet", "dev.jsonnet", "./environments/dev.jsonnet"):
        code, doc = kpb_json(capsys, "-C", str(project), "build", spelling, "--json", "--force")
        assert code == 0 and env_of(doc)["environment"] == "dev", spelling
    code, doc = kpb_json(capsys, "-C", str(project), "build", "--all", "--json")
    assert [env_of(doc, i)["environment"] for i in range(3)] == ["dev", "prd", "tk"]
    assert (project / "manifests" / "tk" / "a.yaml").read_text() == "kind: FromTanka\n"
    assert run(["-C", str(project), "build", "environments/tk/main.jsonnet", "--check"]) == 0
    (project / "environments" / "tk.jsonnet").write_text("{}")
    assert run(["-C", str(project), "build", "tk"]) == 3
    assert "defined twice" in capsys.readouterr().err
    assert run(["-C", str(project), "build", "environments/../x.jsonnet"]) == 3


def test_output_dir_inside_and_outside_the_project(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project), "build", "dev", "--output", str(project / "deploy")]) == 0
    assert (project / "deploy" / "dev" / "prometheus-prometheus.yaml").is_file()
    assert not (project / "manifests").exists()
    outside = tmp_path / "elsewhere" / "out"
    assert run(["-C", str(project), "build", "--all", "-o", str(outside)]) == 0
    assert sorted(p.name for p in outside.iterdir()) == ["dev", "prd"]
    code, doc = kpb_json(
        capsys, "-C", str(project), "build", "--check", "--all", "--output", str(outside), "--json"
    )
    assert code == 0 and env_of(doc)["output"] == str(outside / "dev")
    projects.set_env(project, "dev", projects.env_source("dev", replicas=5))
    assert run(["-C", str(project), "diff", "dev", "--output", str(outside)]) == 1
    out = capsys.readouterr().out
    assert f"--- a/{outside}/dev/prometheus-prometheus.yaml" in out
    assert run(["-C", str(project), "build", "--check", "dev", "--output", str(outside)]) == 1
    assert f"--output {outside}" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["environments", "jsonnet/x", ".kpb", ".git", "vendor/out", "."])
def test_output_inside_a_source_or_state_dir_is_refused(
    project: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = projects_snapshot(project)
    assert run(["-C", str(project), "build", "dev", "--output", str(project / bad)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--output" in err
    assert projects_snapshot(project) == before


def test_output_through_a_link_inside_the_project_is_refused(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "victim"
    target.mkdir()
    (project / "out").symlink_to(target)
    assert run(["-C", str(project), "build", "dev", "--output", str(project / "out")]) == 3
    assert "out" in capsys.readouterr().err
    assert list(target.iterdir()) == []


def projects_snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.parts)
