"""Build environments: jsonnet → JSON → checked file map → YAML → ``manifests/<env>/``.

The pipeline per environment, in the spirit of Tanka's:

1. find ``environments/<env>.jsonnet`` (a missing one lists those that exist);
2. skip when the incremental stamp proves nothing changed (:mod:`buildstate`);
3. evaluate with the chosen engine; every import goes through :class:`imports.Importer`;
4. parse the JSON and check the contract: an object of ``key → object`` with safe keys;
5. render each value with :mod:`yamlemit` into ``<key>.yaml`` (4 and 5: :mod:`outputs`);
6. compare with (``check``) or atomically publish to the output tree (:mod:`manifests`);
7. record the stamp.

Several environments run in parallel in worker processes (forkserver: no fork of a process
that runs a progress thread). Threads would not do: rjsonnet holds the GIL while it evaluates
(measured: a Python thread got ~16% of its free-running speed during an evaluation; the Go and
C++ bindings release it), and YAML rendering is Python code.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeprom_build import fsutil
from kubeprom_build.errors import BuildError, ConfigError, KpbError
from kubeprom_build.rendering import buildstate, manifests, outputs
from kubeprom_build.rendering.engine import (
    SLOW_ENGINES,
    Engine,
    JsonnetError,
    available_engines,
    error_location,
    first_location,
    get_engine,
    locations,
)
from kubeprom_build.rendering.extvars import Variables, missing_variable
from kubeprom_build.rendering.imports import (
    Importer,
    ImportFailure,
    ImportRefusedError,
    is_placeholder,
)
from kubeprom_build.rendering.redaction import MIN_LENGTH, Redactor

log = logging.getLogger("kpb")

#: Progress callback: (environment, stage) with stage "start" or "done".
Progress = Callable[[str, str], None]
#: Called with (environment, rendered files, the values they were rendered from) before
#: anything is compared or published; raising KpbError fails the environment and leaves its
#: output untouched. What it returns (or the error's ``report``) is ``EnvResult.gate_report``.
#: Must be picklable (a module-level function or a frozen dataclass): workers receive it.
Gate = Callable[[str, Mapping[str, bytes], Mapping[str, Any]], Any]

ENV_DIR = "environments"
OUT_DIR = "manifests"
LIB_DIR = "jsonnet"
_TRACE_LINES = 8
_LARGE_VENDOR_FILES = 300
_ENV_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # fullmatch: "$" allows a final "\n"
#: Tanka's layout: environments/<name>/main.jsonnet is environment <name>.
TANKA_MAIN = "main.jsonnet"
#: Top-level project entries an --output inside the project may not lie in.
_NOT_OUTPUT = frozenset({".git", fsutil.STATE_DIR_NAME, ENV_DIR, LIB_DIR})


@dataclass(frozen=True)
class BuildRequest:
    """Everything one ``kpb build``/``diff`` needs; picklable for worker processes."""

    project: Path
    vendor_dir: Path
    jpath: tuple[Path, ...] = ()
    variables: Variables = field(default_factory=Variables)
    engine: str | None = None
    check: bool = False
    force: bool = False
    wait_seconds: float = 0.0
    #: Parent of the ``<env>`` output directories; None means ``<project>/manifests``.
    output: Path | None = None
    #: Package and legacy names the project's jsonnetfile and lock list (None: the project has
    #: neither). Only used to say "run 'kpb vendor'" when an import fails.
    vendor_names: frozenset[str] | None = None
    #: See :data:`Gate` (``kpb build --validate``); rendering does not know what it checks.
    gate: Gate | None = None

    @property
    def library(self) -> list[Path]:
        """Library search dirs after the importing file's own dir, first match wins."""
        return [self.project / LIB_DIR, self.vendor_dir, *self.jpath]


@dataclass(frozen=True)
class EnvResult:
    """The outcome for one environment; ``error`` is set instead of raising in batch builds."""

    env: str
    engine: str
    seconds: float
    diff: manifests.TreeDiff | None = None
    skipped: bool = False
    error: str | None = None
    gate_report: Any = None


@dataclass(frozen=True)
class BuildReport:
    """All environments' results plus warnings the CLI should show once."""

    results: tuple[EnvResult, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no environment failed."""
        return all(r.error is None for r in self.results)


@dataclass(frozen=True)
class Rendered:
    """One environment's evaluated output, ready to compare or publish."""

    files: Mapping[str, bytes]
    stamp: buildstate.Stamp
    values: Mapping[str, Any] = field(default_factory=dict)  # the parsed output, per key


def environments(project: Path) -> list[str]:
    """Names of the environments: ``environments/<name>.jsonnet`` and ``<name>/main.jsonnet``.

    The second is Tanka's layout; a name defined both ways is listed once (and refused when
    built, see :func:`environment_file`).
    """
    folder = _source_dir(project, ENV_DIR)
    if not folder.is_dir():
        return []
    names = {p.stem for p in folder.glob("*.jsonnet") if p.is_file()}
    names |= {p.parent.name for p in folder.glob(f"*/{TANKA_MAIN}") if p.is_file()}
    return sorted(n for n in names if _ENV_NAME.fullmatch(n))


def environment_name(text: str) -> str:
    """The environment a command-line word means.

    ``dev``, ``dev.jsonnet``, ``environments/dev.jsonnet``, ``environments/dev/`` and
    ``environments/dev/main.jsonnet`` all mean ``dev``: what Tanka and build.sh users type.
    Anything else is returned as given, for :func:`environment_file` to refuse by name.
    """
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if parts and parts[-1] == TANKA_MAIN:
        parts = parts[:-1]
    if len(parts) == 2 and parts[0] == ENV_DIR:
        parts = parts[1:]
    if len(parts) != 1 or parts[0] == ".jsonnet":
        return text
    return parts[0].removesuffix(".jsonnet")


def environment_file(project: Path, env: str) -> Path:
    """Step 1: the jsonnet file of ``env``; a missing one names those that exist."""
    if not _ENV_NAME.fullmatch(env):
        raise ConfigError(f"environment name {env!r} is not a plain name (like dev or prd)")
    folder = _source_dir(project, ENV_DIR)
    flat, tanka = folder / f"{env}.jsonnet", folder / env / TANKA_MAIN
    if tanka.is_file():
        if flat.is_file():
            raise ConfigError(
                f"environment {env!r} is defined twice: {ENV_DIR}/{env}.jsonnet and "
                f"{ENV_DIR}/{env}/{TANKA_MAIN}; remove one"
            )
        return tanka
    if not flat.is_file():
        known = environments(project)
        listing = ", ".join(known) if known else f"none: {ENV_DIR}/ has no *.jsonnet"
        raise ConfigError(f"no environment {env!r} ({ENV_DIR}/{env}.jsonnet); existing: {listing}")
    return flat


def _source_dir(project: Path, name: str) -> Path:
    """A source dir (environments/, jsonnet/): any link on the way must stay in the repository."""
    return fsutil.checked_source_dir(project, name, fsutil.enclosing_repo_root(project))


def check_project_dirs(request: BuildRequest) -> None:
    """Refuse (one line) a source or vendor dir that is a link out of the project's repository.

    Runs before anything is evaluated or written; the importer's per-file check against the
    real repository root is what holds by construction, this names the culprit up front.
    """
    _source_dir(request.project, ENV_DIR)
    _source_dir(request.project, LIB_DIR)
    if request.vendor_dir.is_relative_to(request.project):
        fsutil.check_vendor_dir(request.project, request.vendor_dir)


def _output_base(request: BuildRequest) -> tuple[Path, str]:
    """``(base, rel)``: outputs go to ``base/rel/<env>``, every component of ``rel`` checked.

    The default and an ``output`` inside the project follow the project's rules (real
    directories, no link on the way, docs/security.md). An ``output`` outside the project is
    the caller's explicit choice, like ``-J``: it is used as given (and created), only the
    ``<env>`` directory below it is checked.
    """
    if request.output is None:
        return request.project, OUT_DIR
    out = Path(os.path.abspath(request.output))
    if out == request.project:
        raise ConfigError(f"--output {request.output}: the project directory itself; use a folder")
    if out.is_relative_to(request.project):
        rel = out.relative_to(request.project)
        if rel.parts[0] in _NOT_OUTPUT or out.is_relative_to(request.vendor_dir):
            raise ConfigError(
                f"--output {request.output}: inside {rel.parts[0]}/, which kpb does not own "
                "or owns for something else; publishing would replace what it holds there"
            )
        return request.project, rel.as_posix()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--output {request.output}: cannot create it ({err.strerror})") from None
    return out, "."


def output_label(request: BuildRequest, env: str) -> str:
    """How messages name ``env``'s output directory (relative to the project when inside)."""
    base, rel = _output_base(request)
    folder = base / rel / env if rel != "." else base / env
    if folder.is_relative_to(request.project):
        return folder.relative_to(request.project).as_posix()
    return str(folder)


def _output_dir(request: BuildRequest, env: str, *, create: bool) -> Path:
    """Where ``env``'s manifests go, once every directory on the way is a real directory.

    ``create`` makes the parent (``manifests/`` or ``--output``); publishing makes ``<env>``
    with a rename.
    """
    base, rel = _output_base(request)
    if rel == ".":
        return fsutil.checked_dir(base, env, f"(--output {base}: '{env}' must be a directory)")
    why = f"({rel}/ is generated: 'kpb build' recreates it)"
    if create:
        fsutil.ensure_dir(base, rel, why)
    return fsutil.checked_dir(base, f"{rel}/{env}", why)


def settings_parts(request: BuildRequest, env: str, engine: Engine) -> list[str]:
    """The non-file inputs a stamp depends on (values of variables enter only hashed).

    kpb's own identity (version and source hash) is part of it, so output rendered by another
    kpb never counts as current, and so is PyYAML's version: its libyaml emitter lays out
    every YAML file.
    """
    library = [str(p) for p in request.library]
    emitter = f"pyyaml {yaml.__version__}"
    return [env, engine.name, engine.version, buildstate.kpb_identity(), emitter, *library]


def render(request: BuildRequest, env: str, engine: Engine, salt: str) -> Rendered:
    """Steps 3-5: evaluate ``env`` and turn its output into ``{relative path: YAML bytes}``."""
    check_project_dirs(request)
    source = environment_file(request.project, env).relative_to(request.project)
    importer = _importer(request)
    text = _evaluate(request, env, engine, source, importer)
    values = json.loads(text)
    files = outputs.output_files(env, values, request.variables.redactor())
    settings = _settings(request, env, engine, salt)
    lookups = tuple(
        buildstate.Lookup(base, rel, lk.found, lk.missing)
        for (base, rel), lk in sorted(importer.lookups.items())
    )
    inputs = {path: buildstate.digest(data, salt) for path, data in importer.files.items()}
    written = {rel: buildstate.digest(data, salt) for rel, data in files.items()}
    return Rendered(files, buildstate.Stamp(salt, settings, lookups, inputs, written), values)


def render_interruptibly(request: BuildRequest, env: str, engine: Engine) -> Rendered:
    """:func:`render` in a daemon thread, so Ctrl-C is not held up by a native evaluation.

    Python runs signal handlers only in the main thread between bytecodes; a C++/Go evaluation
    can take minutes. The engines that release the GIL (go, cpp) leave the main thread free to
    raise KeyboardInterrupt while it waits; the thread dies with the process. Nothing has been
    written at this point, so abandoning it is safe.
    """
    outcome: list[Rendered | BaseException] = []

    def work() -> None:
        try:
            outcome.append(render(request, env, engine, buildstate.new_salt()))
        except BaseException as err:  # handed to the waiting thread
            outcome.append(err)

    thread = threading.Thread(target=work, name=f"kpb-render-{env}", daemon=True)
    with _engine_output_redacted(request.variables.redactor(), thread):
        thread.start()
        while thread.is_alive():
            thread.join(0.1)
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


@contextlib.contextmanager
def _engine_output_redacted(secrets: Redactor, thread: threading.Thread) -> Iterator[None]:
    """Pass what the engine prints itself (``std.trace``) through ``secrets``, as log warnings.

    The engines write ``std.trace`` text straight to file descriptor 2, past Python, and it can
    quote any value the program traces. While a build with variables evaluates, fd 2 goes to a
    temporary file (Python's own ``sys.stderr``, when it is fd 2, to a copy of the real one).
    If the wait is interrupted while the engine still runs, fd 2 stays captured: the process is
    about to end, and the engine must not get the terminal back.
    """
    if not secrets.given:
        yield
        return
    sys.stderr.flush()
    python_stderr = sys.stderr
    real = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        if _is_fd2(python_stderr):
            sys.stderr = open(  # noqa: SIM115 - lives as long as fd 2 is captured
                os.dup(real), "w", encoding="utf-8", errors="backslashreplace", buffering=1
            )
        try:
            yield
        finally:
            if not thread.is_alive():
                sys.stderr.flush()
                os.dup2(real, 2)
                if sys.stderr is not python_stderr:
                    sys.stderr.close()
                    sys.stderr = python_stderr
            os.close(real)
            capture.seek(0)
            printed = capture.read().decode("utf-8", "replace")
    if printed.strip():
        _report_engine_output(printed, secrets)


def _is_fd2(stream: object) -> bool:
    try:
        return stream is not None and stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # a capture (pytest) or a closed stream
        return False


def _report_engine_output(printed: str, secrets: Redactor) -> None:
    lines = printed.strip().splitlines()
    if secrets.short:
        log.warning(
            "the engine printed %d line(s) (std.trace), hidden because %s holds a string "
            "shorter than %d characters",
            len(lines),
            ", ".join(secrets.short),
            MIN_LENGTH,
        )
        return
    for line in secrets.redact(printed.strip()).splitlines():
        log.warning("%s", line)


def _settings(request: BuildRequest, env: str, engine: Engine, salt: str) -> str:
    parts = [*settings_parts(request, env, engine), request.variables.digest(bytes.fromhex(salt))]
    return buildstate.settings_digest(salt, parts)


def _allowed_roots(request: BuildRequest) -> list[Path]:
    """Where imports may read: the real repository root and the dirs the caller named.

    jsonnet/ and the project's vendor/ are not listed on their own: their files must lie in the
    repository like every other project file, so ``jsonnet -> /`` widens nothing. ``-J`` dirs
    (and a vendor dir outside the project, possible only through the API) are the caller's
    explicit choice and may lie outside.
    """
    outside = [] if request.vendor_dir.is_relative_to(request.project) else [request.vendor_dir]
    return [fsutil.enclosing_repo_root(request.project), *request.jpath, *outside]


def _importer(request: BuildRequest) -> Importer:
    return Importer(
        request.project,
        request.library,
        _allowed_roots(request),
        vendor=request.vendor_dir,
        declared=request.vendor_names,
    )


def _evaluate(
    request: BuildRequest, env: str, engine: Engine, source: Path, importer: Importer
) -> str:
    variables = request.variables
    try:
        text = _run_engine(request, engine, source, importer)
    except JsonnetError as err:
        if importer.refused is not None:
            raise ImportRefusedError(f"environment {env!r}: {importer.refused}") from None
        failed = importer.failed_in(err.raw)
        if failed is not None:
            message = _import_message(env, failed, err.raw, importer)
            raise BuildError(variables.redactor().redact(message)) from None
        location, located_by = error_location(engine.name, err.raw), None
        if location is None:
            location, located_by = _borrow_location(request, engine, source)
        message = engine_message(
            env, err.raw, variables.redactor(), location=location, located_by=located_by
        )
        raise BuildError(message) from None
    # importstr/importbin of a refused or missing file evaluate without an error
    if importer.refused is not None:
        raise ImportRefusedError(f"environment {env!r}: {importer.refused}")
    if importer.failures:
        failed = next(iter(importer.failures.values()))
        raise BuildError(variables.redactor().redact(_import_message(env, failed, "", importer)))
    return text


def _run_engine(request: BuildRequest, engine: Engine, source: Path, importer: Importer) -> str:
    variables = request.variables
    return engine.evaluate(
        source,
        ext_vars=variables.ext_vars,
        ext_codes=variables.ext_codes,
        tla_vars=variables.tla_vars,
        tla_codes=variables.tla_codes,
        import_callback=importer,
    )


def _borrow_location(
    request: BuildRequest, failed: Engine, source: Path
) -> tuple[str | None, str | None]:
    """Evaluate again with an engine that reports locations; only ever on the error path.

    rjsonnet leaves the location out of some messages (a missing field above all). go (else
    cpp, unless vendor/ is large: it is slow there) evaluates the same files through a fresh
    importer; the first location of its error is the one kpb shows, attributed to it.
    """
    installed = available_engines()
    for name in ("go", "cpp"):
        if name == failed.name or name not in installed:
            continue
        if name in SLOW_ENGINES and _large_vendor(request.vendor_dir):
            continue
        try:
            _run_engine(request, get_engine(name), source, _importer(request))
        except JsonnetError as err:
            location = error_location(name, err.raw)
            if location is not None:
                return location, name
            continue
        return None, None  # it evaluates fine there: the engines disagree, nothing to borrow
    return None, None


def _import_message(env: str, failed: ImportFailure, raw: str, importer: Importer) -> str:
    """ "file:line:column: cannot find ..." for a failed import, at the import itself.

    The engine's first real frame (its placeholder frame is not a file) is the import; an
    ``importstr`` that evaluated without an error is found in the importing folder's files.
    """
    frames = [ln for ln in raw.strip().splitlines()[1:] if not is_placeholder(ln)]
    found = locations("\n".join(frames))  # not the first line: it quotes the import path
    site = found[0] if found else importer.import_site(failed)
    where = f"{site}: " if site else ""
    return f"environment {env!r}: {where}{failed.message}"


_PREFIXES = (
    "RUNTIME ERROR: ",
    "STATIC ERROR: ",
    "runtime error: ",
    "syntax error: ",
    "import_callback error: RuntimeError: ",
    "importer error: ",
)


def engine_message(
    env: str,
    raw: str,
    redactor: Redactor | None = None,
    *,
    location: str | None = None,
    located_by: str | None = None,
) -> str:
    """Cut an engine's error to "env: file:line:column: summary" plus a few trace lines.

    ``location`` is where the error happened when the caller knows better than the first
    location in ``raw`` (then ``located_by`` names the engine that reported it). The
    engine's text can quote any value the program touched, so it is redacted as a whole
    before it is cut (a cut could split a secret and leave a piece unmatched), and hidden
    entirely when a secret is too short to be found reliably in free text.
    """
    secrets = redactor or Redactor()
    raw = secrets.redact(raw)
    missing = missing_variable(raw)
    location = location or first_location(raw)
    where = f"{location}: " if location else ""
    borrowed = f" (location from the {located_by} engine)" if located_by and location else ""
    if missing is not None:
        kind, name = missing
        flag = "--ext-str" if kind == "ext" else "--tla-str"
        what = "external variable" if kind == "ext" else "top-level argument"
        return secrets.redact(
            f"environment {env!r}: {where}{what} {name!r} is not set; pass {flag} {name}=VALUE, "
            f"{flag} {name} (value from ${name}) or {flag}-file {name}=PATH"
        )
    if secrets.short:
        return (
            f"environment {env!r}: {where}the engine's message is hidden because "
            f"{', '.join(secrets.short)} holds a string shorter than {MIN_LENGTH} characters, "
            f"which kpb cannot mask reliably{borrowed}"
        )
    # Engines pad their frames into columns and tab-separate them: one space is enough.
    lines = [" ".join(ln.split()) for ln in raw.strip().splitlines() if ln.strip()]
    summary = lines[0] if lines else "jsonnet error"
    for prefix in _PREFIXES:
        summary = summary.removeprefix(prefix).strip()
    first = locations(summary)
    if first and first[0] == location and summary.startswith(location):
        summary = summary[len(location) :].lstrip(" -0123456789:")
    # A trace line that only repeats the location already in the summary says nothing.
    trace = [f"  {ln}" for ln in lines[1:] if ln != location and not is_placeholder(ln)]
    trace = trace[:_TRACE_LINES]
    return secrets.redact("\n".join([f"environment {env!r}: {where}{summary}{borrowed}", *trace]))


def build_environment(request: BuildRequest, env: str) -> EnvResult:
    """Steps 1-7 for one environment, under its lock; errors become ``EnvResult.error``."""
    started = time.perf_counter()
    name = request.engine or "?"
    try:
        engine = get_engine(request.engine)
        name = engine.name
        diff, skipped, gated = _build_locked(request, env, engine)
    except KpbError as err:
        report = getattr(err, "report", None)
        return EnvResult(
            env, name, time.perf_counter() - started, error=str(err), gate_report=report
        )
    seconds = time.perf_counter() - started
    return EnvResult(env, name, seconds, diff=diff, skipped=skipped, gate_report=gated)


def _build_locked(
    request: BuildRequest, env: str, engine: Engine
) -> tuple[manifests.TreeDiff, bool, Any]:
    environment_file(request.project, env)
    check_project_dirs(request)
    if request.check:  # reads only: no lock, and no .kpb/ created
        target = _output_dir(request, env, create=False)
        state = fsutil.state_dir(request.project, create=False)
        return _check(request, env, engine, target, state)
    target = _output_dir(request, env, create=False)  # refuse before .kpb/ is created
    state = fsutil.state_dir(request.project)
    lock = state / "locks" / f"manifests-{env}.lock"
    with fsutil.file_lock(lock, output_label(request, env), request.wait_seconds):
        current = _unchanged_since_stamp(request, env, engine, state, target)
        if current is not None:
            return current, True, None
        rendered = render_interruptibly(request, env, engine)
        gated = _gate(request, env, rendered)
        buildstate.forget(state, env)
        target = _output_dir(request, env, create=True)
        diff = manifests.publish(target, rendered.files)
        try:
            buildstate.save(state, env, rendered.stamp)
        except OSError as err:  # only costs an evaluation next time
            log.info("could not record the build stamp of %s: %s", env, err)
        return diff, False, gated


def _gate(request: BuildRequest, env: str, rendered: Rendered) -> Any:
    """Step 5½: the caller's check of the rendered output, before anything is written."""
    return None if request.gate is None else request.gate(env, rendered.files, rendered.values)


def _check(
    request: BuildRequest, env: str, engine: Engine, target: Path, state: Path
) -> tuple[manifests.TreeDiff, bool, Any]:
    current = _unchanged_since_stamp(request, env, engine, state, target)
    if current is not None:
        return current, True, None
    rendered = render_interruptibly(request, env, engine)
    gated = _gate(request, env, rendered)
    return manifests.compare(target, rendered.files), False, gated


def _unchanged_since_stamp(
    request: BuildRequest, env: str, engine: Engine, state: Path, target: Path
) -> manifests.TreeDiff | None:
    """Step 2: the "nothing changed" diff when the stamp still proves the output current."""
    stamp = None if request.force else buildstate.load(state, env)
    if stamp is None:
        return None
    settings = _settings(request, env, engine, stamp.salt)
    if not buildstate.is_fresh(stamp, settings, request.project, manifests.read_tree(target)):
        return None
    return manifests.TreeDiff((), (), (), len(stamp.outputs))


def build(
    request: BuildRequest,
    envs: Sequence[str],
    jobs: int = 0,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
) -> BuildReport:
    """Build ``envs``: in this process for one, in up to ``jobs`` worker processes for several.

    Configuration errors that affect every environment (unknown engine, missing environment)
    raise before anything is evaluated. ``warn`` hears warnings before evaluation starts (the
    report repeats them).
    """
    engine = get_engine(request.engine)
    request = _pin_engine(request, engine.name)
    check_project_dirs(request)
    for env in envs:
        environment_file(request.project, env)
    warnings = _warnings(request, engine)
    for warning in warnings:
        log.info("warning: %s", warning)
        if warn is not None:
            warn(warning)
    notify = progress or (lambda _env, _stage: None)
    workers = min(jobs or os.cpu_count() or 1, len(envs))
    if workers <= 1:
        return BuildReport(_build_serial(request, envs, notify), warnings)
    return BuildReport(_build_parallel(request, envs, workers, notify), warnings)


def _pin_engine(request: BuildRequest, name: str) -> BuildRequest:
    """Resolve the default engine once, so every worker uses the same one."""
    return dataclasses.replace(request, engine=name)


def _build_serial(
    request: BuildRequest, envs: Sequence[str], notify: Progress
) -> tuple[EnvResult, ...]:
    results = []
    for env in envs:
        notify(env, "start")
        results.append(build_environment(request, env))
        notify(env, "done")
    return tuple(results)


def _build_parallel(
    request: BuildRequest, envs: Sequence[str], workers: int, notify: Progress
) -> tuple[EnvResult, ...]:
    context = multiprocessing.get_context("forkserver")
    done: dict[str, EnvResult] = {}
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
    try:
        futures = {pool.submit(build_environment, request, env): env for env in envs}
        for env in envs:
            notify(env, "start")
        for future in concurrent.futures.as_completed(futures):
            env = futures[future]
            try:
                done[env] = future.result()
            except BrokenProcessPool:
                raise BuildError(
                    f"the worker process building {env!r} died (out of memory or killed); "
                    "outputs it had not published are unchanged"
                ) from None
            notify(env, "done")
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown()
    return tuple(done[env] for env in envs)


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """On Ctrl-C or an error, end the workers now instead of waiting for their evaluations.

    A worker stuck in a native engine call does not see SIGINT until the call returns (that can
    take minutes with cpp). Killing it is safe: publishing is atomic and the next build removes
    any staging directory it leaves.
    """
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _warnings(request: BuildRequest, engine: Engine) -> tuple[str, ...]:
    if engine.name not in SLOW_ENGINES or not _large_vendor(request.vendor_dir):
        return ()
    return (
        "the cpp engine is much slower than rs or go on large builds (kube-prometheus: about "
        "100-200 s and 1.2 GB against 1 s with rs) and prints floats inside std.manifestJson* "
        "strings with 17 digits (0.6 becomes 0.59999999999999998 in Grafana dashboards); "
        "pass --engine rs unless you need cpp",
    )


def _large_vendor(vendor: Path) -> bool:
    """True when vendor/ holds enough jsonnet to make the C++ engine painfully slow."""
    count = 0
    for _dirpath, _dirs, files in os.walk(vendor, followlinks=False):
        count += sum(1 for f in files if f.endswith((".libsonnet", ".jsonnet")))
        if count >= _LARGE_VENDOR_FILES:
            return True
    return False


def diff_environment(request: BuildRequest, env: str) -> str:
    """Unified diff between ``manifests/<env>/`` and what a build would write."""
    engine = get_engine(request.engine)
    target = _output_dir(request, env, create=False)
    rendered = render_interruptibly(request, env, engine)
    diff = manifests.unified_diff(target, rendered.files, output_label(request, env))
    return request.variables.redactor().redact(diff)  # a Secret's lines hold its value
