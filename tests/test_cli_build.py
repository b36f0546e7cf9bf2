"""``kpb build`` / ``kpb diff`` end to end: in-process through ``run`` and as real processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubeprom_build import fsutil, rendering
from kubeprom_build.cli.app import click_command
from kubeprom_build.rendering import buildstate, manifests
from kubeprom_build.rendering import pipeline as build
from kubeprom_build.rendering.engine import get_engine
from tests.helpers import projects
from tests.helpers.cli import kpb
from tests.helpers.disks import tiny_tmpfs
from tests.helpers.realworld import SKIP_REASON, kube_prometheus_dir

ENGINES = ["rs", "go", "cpp"]
SECRET = "correct-horse-battery-staple"


def tree(root: Path, env: str = "dev") -> dict[str, bytes | None]:
    return manifests.read_tree(root / "manifests" / env)


def leftovers(root: Path) -> list[str]:
    folder = root / "manifests"
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return projects.make_project(tmp_path / "repo")


def test_every_engine_writes_the_same_tree(project: Path) -> None:
    trees = []
    for engine in ENGINES:
        assert kpb(project, "build", "dev", "--force", "--engine", engine) == 0
        trees.append(tree(project))
    assert trees[0] == trees[1] == trees[2]
    assert "setup/0namespace-namespace.yaml" in trees[0]


def test_summary_then_skip(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kpb(project, "build", "dev") == 0
    out = capsys.readouterr().out
    assert "environment" in out and "dev" in out and "written" in out
    assert kpb(project, "build", "dev") == 0
    assert "up to date (skipped)" in capsys.readouterr().out


def test_summary_headers_are_whole_in_a_narrow_log(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # what rich assumes for a pipe, e.g. a CI log
    assert kpb(project, "build", "dev") == 0
    assert kpb(project, "build", "dev") == 0
    header, row = capsys.readouterr().out.splitlines()[-2:]
    assert header.split() == [
        "environment",
        "engine",
        "added",
        "changed",
        "removed",
        "unchanged",
        "time",
        "status",
    ]
    assert "up to date (skipped)" in row


def test_all_builds_every_environment_in_parallel(project: Path) -> None:
    assert kpb(project, "build", "--all", "-j", "2") == 0
    assert tree(project, "dev") and tree(project, "prd")


def test_json_summary(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kpb(project, "build", "dev", "--json", "--engine", "go") == 0
    doc = json.loads(capsys.readouterr().out)
    env = doc["result"]["environments"][0]
    assert doc["ok"] is True
    assert env["environment"] == "dev" and env["engine"] == "go"
    assert len(env["added"]) == 5 and env["changed"] == [] and env["skipped"] is False


def test_check_and_diff(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kpb(project, "build", "dev") == 0
    assert kpb(project, "build", "--check", "dev") == 0
    assert "up to date (skipped)" in capsys.readouterr().out
    assert kpb(project, "build", "--check", "--force", "dev") == 0
    assert "up to date (skipped)" not in capsys.readouterr().out
    assert kpb(project, "diff", "dev") == 0
    capsys.readouterr()
    projects.set_env(project, "dev", projects.env_source("dev", replicas=7))
    before = tree(project)
    stamp = (project / ".kpb" / "build" / "dev.json").read_bytes()
    assert kpb(project, "build", "--check", "dev") == 1
    captured = capsys.readouterr()
    assert "~ manifests/dev/prometheus-prometheus.yaml" in captured.out
    assert "out of date: manifests/dev" in captured.err
    assert tree(project) == before
    assert (project / ".kpb" / "build" / "dev.json").read_bytes() == stamp
    assert kpb(project, "diff", "dev") == 1
    out = capsys.readouterr().out
    assert "--- a/manifests/dev/prometheus-prometheus.yaml" in out
    assert "-  replicas: 1\n+  replicas: 7\n" in out
    assert tree(project) == before


def test_check_json_lists_changes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kpb(project, "build", "--check", "--json", "dev") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["result"]["environments"][0]["up_to_date"] is False
    assert not (project / "manifests").exists()
    assert not (project / ".kpb").exists()
    assert kpb(project, "build", "dev") == 0
    assert (project / ".kpb" / ".gitignore").read_text().endswith("*\n")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{ a: ", "environments/dev.jsonnet:1"),
        ("{ a: { b: error 'kaputt' } }", "kaputt"),
        ("[1, 2]", "file names to manifests, got an array"),
        ("{ '../x': {} }", "output key '../x'"),
        ("{ a: {}, A: {} }", "differ only in case"),
        ("{ a: [1] }", "key 'a' must be an object (a Kubernetes object or a List), got an array"),
        ("{ a: { s: 'x\u2028y' } }", "key 'a' at s"),
        ("import '../../outside.libsonnet'", "outside the project's repository"),
        ("{ a: { v: std.extVar('missing_thing') } }", "external variable 'missing_thing'"),
    ],
)
def test_bad_input_is_one_clear_error_and_manifests_untouched(
    project: Path, source: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.parent / "outside.libsonnet").write_text("{ a: {} }")
    assert kpb(project, "build", "dev") == 0
    before = tree(project)
    capsys.readouterr()
    projects.set_env(project, "dev", source)
    assert kpb(project, "build", "dev") == 3
    err = capsys.readouterr().err
    assert err.startswith("error: environment 'dev': ")
    assert message in err
    assert "Traceback" not in err
    assert tree(project) == before
    assert leftovers(project) == []


def test_missing_environment_lists_existing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kpb(project, "build", "stg") == 3
    assert "no environment 'stg'" in capsys.readouterr().err
    assert kpb(project, "build") == 3
    assert "--all" in capsys.readouterr().err


def test_secret_values_are_never_printed_or_stored(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = project / "secrets" / "pw.txt"
    secret_file.parent.mkdir()
    secret_file.write_text(SECRET)
    monkeypatch.setenv("API_TOKEN", SECRET + "-env")
    projects.set_env(
        project,
        "dev",
        "{ s: { kind: 'Secret', data: { pw: std.extVar('pw'), tok: std.extVar('API_TOKEN') } } }",
    )
    args = ["--ext-str-file", f"pw={secret_file}", "--ext-str", "API_TOKEN"]
    assert kpb(project, "build", "dev", "--json", *args) == 0
    first = capsys.readouterr()
    assert json.loads(first.out)["result"]["variables"]["ext_str"] == ["API_TOKEN", "pw"]
    assert kpb(project, "build", "dev", *args) == 0
    projects.set_env(project, "dev", "{ s: error 'leak ' + std.extVar('pw') }")
    assert kpb(project, "build", "dev", *args) == 3
    captured = capsys.readouterr()
    assert SECRET not in first.out + first.err + captured.out + captured.err
    assert "leak ***" in captured.err
    for path in (project / ".kpb").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()
    assert SECRET.encode() in (project / "manifests" / "dev" / "s.yaml").read_bytes()


def test_unset_env_var_for_ext_str_is_named(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kpb(project, "build", "dev", "--ext-str", "NOT_SET_ANYWHERE") == 3
    assert "environment variable NOT_SET_ANYWHERE is not set" in capsys.readouterr().err


def test_jpath_option_and_tla(project: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    projects.write_files(extra, {"mine.libsonnet": "{ kind: 'Mine' }\n"})
    projects.set_env(project, "dev", "function(name) { [name]: import 'mine.libsonnet' }")
    assert kpb(project, "build", "dev", "-J", str(extra), "--tla-str", "name=obj") == 0
    assert tree(project) == {"obj.yaml": b"kind: Mine\n"}


def test_every_variable_flag_reaches_the_environment_in_build_and_diff(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each of the eight ext/TLA flags, given twice where it can be, lands on its own name."""
    files = tmp_path / "values"
    projects.write_files(files, {"s.txt": "from-a-file", "c.jsonnet": "{ n: 2 }"})
    monkeypatch.setenv("ES2", "from-the-environment")
    projects.set_env(
        project,
        "dev",
        "function(ts, tsf, tc, tcf) { cm: { kind: 'ConfigMap', data: {"
        " es: std.extVar('es'), es2: std.extVar('ES2'), esf: std.extVar('esf'),"
        " ec: std.extVar('ec').a, ecf: std.extVar('ecf').n, ts: ts, tsf: tsf,"
        " tc: tc[0], tcf: tcf.n } } }",
    )
    args = ["--ext-str", "es=plain", "--ext-str", "ES2", "--ext-str-file", f"esf={files}/s.txt"]
    args += ["--ext-code", "ec={ a: 1 }", "--ext-code-file", f"ecf={files}/c.jsonnet"]
    args += ["--tla-str", "ts=tla", "--tla-str-file", f"tsf={files}/s.txt"]
    args += ["--tla-code", "tc=[3]", "--tla-code-file", f"tcf={files}/c.jsonnet"]
    assert kpb(project, "build", "dev", *args) == 0
    expected = (
        "data:\n  ec: 1\n  ecf: 2\n  es: plain\n  es2: from-the-environment\n"
        "  esf: from-a-file\n  tc: 3\n  tcf: 2\n  ts: tla\n  tsf: from-a-file\nkind: ConfigMap\n"
    )
    assert tree(project) == {"cm.yaml": expected.encode()}
    assert kpb(project, "diff", "dev", *args) == 0  # diff reads the same flags
    capsys.readouterr()
    # Flags are taken flag by flag (ext-str before ext-code), whatever the command line's order.
    assert kpb(project, "diff", "dev", "--ext-code", "a=2", "--ext-str", "a=1") == 3
    assert "--ext-code a: already set by --ext-str" in capsys.readouterr().err


def test_build_and_diff_offer_the_same_evaluation_options() -> None:
    commands = click_command().commands
    shared = ["--engine", "-J", *rendering.FLAGS]

    def described(command: str) -> list[tuple[object, ...]]:
        params = {o: p for p in commands[command].params for o in p.opts}
        return [
            (params[f].opts, params[f].help, params[f].metavar, params[f].multiple) for f in shared
        ]

    assert described("build") == described("diff")


def test_lock_held_by_another_process_is_busy(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = project / ".kpb" / "locks" / "manifests-dev.lock"
    with fsutil.file_lock(lock, "test"):
        assert kpb(project, "build", "dev") == 3
        assert "locked by another kpb process" in capsys.readouterr().err
        assert kpb(project, "build", "dev", "--json") == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["kind"] == "busy"  # the result kept the error's class
    assert "locked by another kpb process" in doc["result"]["environments"][0]["error"]
    assert not (project / "manifests" / "dev").exists()


# --- real processes -------------------------------------------------------------------------


_STARTED: list[subprocess.Popen[bytes]] = []


def kpb_process(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """``kpb`` in a process group of its own, so teardown can end it and its workers."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeprom_build", "-C", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    _STARTED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Iterator[None]:
    """A failed assertion must not leave a busy evaluation (and its workers) running."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_console_script_builds(project: Path) -> None:
    script = Path(sys.executable).parent / "kpb"
    if not script.exists():
        pytest.skip("kpb console script not installed next to this interpreter")
    done = subprocess.run(
        [str(script), "-C", str(project), "build", "--all"], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert tree(project, "prd")


@pytest.mark.slow
def test_two_builds_of_one_environment_do_not_collide(project: Path) -> None:
    projects.set_env(project, "dev", projects.many_large_env(100, 5000))
    procs = [kpb_process(project, "--wait", "120", "build", "dev", "--force") for _ in range(2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    assert len(tree(project)) == 100
    assert leftovers(project) == []


def _big_project(project: Path, variant: int) -> None:
    projects.set_env(project, "dev", projects.many_large_env(400, 3000 + variant))


def _rendered(project: Path) -> dict[str, bytes | None]:
    request = build.BuildRequest(project=project, vendor_dir=project / "vendor")
    rendered = build.render(request, "dev", get_engine("rs"), buildstate.new_salt())
    return dict(rendered.files)


def _staged_files(project: Path) -> int:
    """Files written so far into the staging directory of a running build (-1: none yet)."""
    for entry in (project / "manifests").glob(".dev.kpb-tmp-*"):
        return sum(len(files) for _, _, files in os.walk(entry))
    return -1


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; False if it finished first."""
    while proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            return True
        time.sleep(0.0005)
    return False


@pytest.mark.slow
def test_kill_9_at_several_points_keeps_old_tree_or_new_tree(project: Path) -> None:
    count = 400
    _big_project(project, 0)
    assert kpb(project, "build", "dev") == 0
    old = tree(project)
    _big_project(project, 500)
    new = _rendered(project)
    moments: dict[str, Callable[[], bool]] = {
        "while evaluating": lambda: _staged_files(project) == -1 and time.sleep(0.4) is None,
        "staging dir created": lambda: _staged_files(project) >= 0,
        "a few files staged": lambda: _staged_files(project) >= 5,
        "half the files staged": lambda: _staged_files(project) >= count // 2,
        "all files staged": lambda: _staged_files(project) >= count,
        "after the swap": lambda: tree(project) == new,
    }
    interrupted = []
    for moment, ready in moments.items():
        _big_project(project, 0)
        assert kpb(project, "build", "dev") == 0
        _big_project(project, 500)
        proc = kpb_process(project, "build", "dev")
        if _kill_when(proc, ready):
            interrupted.append(moment)
        now = tree(project)
        assert now in (old, new), f"torn tree after a kill ({moment})"
        assert kpb(project, "build", "dev") == 0
        assert tree(project) == new
        assert leftovers(project) == []
    assert {"staging dir created", "a few files staged"} <= set(interrupted), interrupted


def _wait_until(ready: Callable[[], bool], seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
def test_ctrl_c_cleans_up(project: Path) -> None:
    _big_project(project, 0)
    assert kpb(project, "build", "dev") == 0
    old = tree(project)
    _big_project(project, 700)
    proc = kpb_process(project, "build", "dev")
    # Interrupt only once the build holds its lock: a fixed sleep raced interpreter start-up
    # under load, and a Ctrl-C during `import` is Python's business, not kpb's.
    lock = project / ".kpb" / "locks" / "manifests-dev.lock"
    assert _wait_until(lambda: _holders(lock) or proc.poll() is not None)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=300)
    if proc.returncode == 0:
        pytest.skip("the build finished before the interrupt arrived")
    assert proc.returncode == 130, err.decode()
    assert tree(project) == old
    assert leftovers(project) == []


#: The stand-in for grafana/grafana is reconstructed, so these two may differ (docs/realworld.md).
GRAFANA_MIXIN = {"grafana-prometheusRule.yaml", "grafana-dashboardDefinitions.yaml"}


@pytest.mark.realworld
def test_kube_prometheus_kustomize_example_reproduces_committed_manifests(tmp_path: Path) -> None:
    """examples/kustomize.jsonnet as an environment → kube-prometheus's committed manifests/."""
    kp = kube_prometheus_dir()
    if kp is None:
        pytest.skip(SKIP_REASON)
    root = tmp_path / "kp"
    (root / "environments").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    shutil.copytree(kp / "vendor", root / "vendor", symlinks=True)
    shutil.copy(kp / "src" / "examples" / "kustomize.jsonnet", root / "environments")
    assert kpb(root, "build", "kustomize", "--engine", "rs") == 0
    expected = manifests.read_tree(kp / "src" / "manifests")
    expected["kustomization.yaml"] = (kp / "src" / "kustomization.yaml").read_bytes()
    got = tree(root, "kustomize")
    assert got.keys() == expected.keys()
    assert len(got) == 96
    differing = sorted(k for k in got if got[k] != expected[k])
    assert set(differing) <= GRAFANA_MIXIN


def test_cpp_warning_is_printed_once_before_the_summary(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    projects.write_files(project, {f"vendor/bulk/f{i}.libsonnet": "{}" for i in range(300)})
    assert kpb(project, "build", "dev", "--engine", "cpp") == 0
    err = capsys.readouterr().err
    assert err.count("much slower") == 1
    assert err.startswith("warning: the cpp engine")


def test_rebuild_keeps_mtime_of_unchanged_files_and_drops_stale_ones(project: Path) -> None:
    assert kpb(project, "build", "dev") == 0
    out = project / "manifests" / "dev"
    for path in out.rglob("*.yaml"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    projects.set_env(
        project,
        "dev",
        "local c = import 'cluster.libsonnet';\n"
        "local all = c.render({ namespace: 'monitoring', cluster: 'dev', replicas: 3 });\n"
        "{ [k]: all[k] for k in std.objectFields(all) if k != 'extra-configmap' }\n",
    )
    assert kpb(project, "build", "dev") == 0
    assert not (out / "extra-configmap.yaml").exists()
    assert (out / "prometheus-prometheus.yaml").stat().st_mtime_ns != 1_000_000_000
    assert (out / "prometheus-rules.yaml").stat().st_mtime_ns == 1_000_000_000
    assert (out / "setup" / "0namespace-namespace.yaml").stat().st_mtime_ns == 1_000_000_000


def test_disk_full_during_build_keeps_old_manifests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tiny_tmpfs(tmp_path / "disk", "1m") as disk:
        root = projects.make_project(disk / "repo")
        assert kpb(root, "build", "dev") == 0
        before = tree(root)
        projects.set_env(root, "dev", projects.many_large_env(40, 40_000))
        assert kpb(root, "build", "dev") == 3
        assert "no space left on device" in capsys.readouterr().err
        assert tree(root) == before
        assert leftovers(root) == []


#: A native evaluation that runs for minutes and ignores SIGINT until it returns.
_BUSY = (
    "std.foldl(function(x, y) x + std.foldl(function(a, b) a + b, std.range(0, 20000), y),"
    " std.range(0, 20000), 0)"
)


def _slow_project(project: Path, envs: list[str]) -> dict[str, dict[str, bytes | None]]:
    """``envs`` built once from a quick program, then made slow; returns the built trees."""
    for env in envs:
        projects.set_env(project, env, f"{{ {env}: {{ n: 1 }} }}")
    assert kpb(project, "build", *envs) == 0
    for env in envs:
        projects.set_env(project, env, f"{{ {env}: {{ n: {_BUSY} }} }}")
    return {env: tree(project, env) for env in envs}


def _holders(path: Path) -> set[int]:
    """The processes (kpb or one of its workers) that hold ``path`` open (Linux /proc)."""
    found = set()
    for fds in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fds.iterdir()):
                found.add(int(fds.parent.name))
        except OSError:  # the process ended, or is not ours to read
            continue
    return found


def _group(pgid: int) -> set[int]:
    """Live (not zombie) processes in process group ``pgid``: kpb, its workers, its helpers."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.add(int(stat.parent.name))
    return members


def _evaluating(project: Path, envs: list[str], kpb_pid: int) -> bool:
    """True once every env's build holds its lock, in a worker when there are several."""
    for env in envs:
        holders = _holders(project / ".kpb" / "locks" / f"manifests-{env}.lock")
        if not holders or (len(envs) > 1 and holders == {kpb_pid}):
            return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("envs", [["slow"], ["slow", "slow2"]], ids=["in-process", "workers"])
def test_ctrl_c_is_not_held_up_by_a_native_evaluation(
    project: Path, envs: list[str], signum: signal.Signals
) -> None:
    """A native evaluation ignores SIGINT until it returns; kpb and its workers end at once.

    The workers are children of kpb's forkserver, not of kpb: only kpb can end them, so any
    process of kpb's group still alive after it exits is a worker left evaluating.
    """
    before = _slow_project(project, envs)
    proc = kpb_process(project, "build", *envs, "--engine", "go", "-j", "2")
    assert _wait_until(lambda: _evaluating(project, envs, proc.pid))
    time.sleep(0.5)  # well inside the native evaluation, which takes far longer
    proc.send_signal(signum)
    started = time.perf_counter()
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert time.perf_counter() - started < 10
    assert _wait_until(lambda: not _group(proc.pid), seconds=5), _group(proc.pid)
    assert {env: tree(project, env) for env in envs} == before
    assert leftovers(project) == []


@pytest.mark.slow
def test_a_worker_that_dies_fails_the_build_and_ends_the_other_workers(project: Path) -> None:
    envs = ["slow", "slow2"]
    before = _slow_project(project, envs)
    proc = kpb_process(project, "build", *envs, "--engine", "go", "-j", "2")
    assert _wait_until(lambda: _evaluating(project, envs, proc.pid))
    lock = project / ".kpb" / "locks" / "manifests-slow.lock"
    (worker,) = _holders(lock) - {proc.pid}
    os.kill(worker, signal.SIGKILL)  # what the out-of-memory killer does
    started = time.perf_counter()
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err.decode()
    assert err.decode().startswith("error: the worker process building 'slow' died")
    assert time.perf_counter() - started < 10
    assert _wait_until(lambda: not _group(proc.pid), seconds=5), _group(proc.pid)
    assert {env: tree(project, env) for env in envs} == before
    assert leftovers(project) == []
