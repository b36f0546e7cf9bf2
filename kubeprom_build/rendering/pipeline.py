"""Build environments: jsonnet → JSON → checked file map → YAML → ``manifests/<env>/``.

The pipeline per environment, in the spirit of Tanka's (:func:`_build_steps`):

1. find ``environments/<env>.jsonnet`` (a missing one lists those that exist), once, for every
   environment before any is evaluated;
2. skip when the incremental stamp proves nothing changed (:mod:`buildstate`);
3. evaluate with the chosen engine; every import goes through :class:`imports.Importer`;
4. parse the JSON and check the contract: an object of ``key → object`` with safe keys;
5. render each value with :mod:`yamlemit` into ``<key>.yaml`` (4 and 5: :mod:`outputs`);
6. compare with (``check``) or atomically publish to the output tree (:mod:`manifests`);
7. record the stamp.

Several environments run in parallel in worker processes (:mod:`workers`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeprom_build import fsutil
from kubeprom_build.errors import BuildError, ConfigError, KpbError
from kubeprom_build.rendering import buildstate, engineerrors, manifests
from kubeprom_build.rendering.engine import TRAITS, Engine, JsonnetError, get_engine
from kubeprom_build.rendering.extvars import Variables
from kubeprom_build.rendering.imports import Importer
from kubeprom_build.rendering.redaction import MIN_LENGTH, Redactor

if TYPE_CHECKING:  # imported where used: a no-op build needs neither processes nor YAML
    pass

log = logging.getLogger("kpb")

#: Progress callback: (environment, stage) with stage "start" or "done".
Progress = Callable[[str, str], None]
#: Called with (environment, rendered files, the values they were rendered from) before
#: anything is compared or published; raising KpbError fails the environment and leaves its
#: output untouched. What it returns (or the error's ``report``) is ``EnvResult.gate_report``.
#: Must be picklable (a module-level function or a frozen dataclass): workers receive it.
Gate = Callable[[str, Mapping[str, bytes], Mapping[str, Any]], Any]

ENV_DIR = "environments"
_OUT_DIR = "manifests"
_LIB_DIR = "jsonnet"
_LARGE_VENDOR_FILES = 300
_ENV_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # fullmatch: "$" allows a final "\n"
#: Tanka's layout: environments/<name>/main.jsonnet is environment <name>.
_TANKA_MAIN = "main.jsonnet"
#: Top-level project entries an --output inside the project may not lie in.
_NOT_OUTPUT = frozenset({".git", fsutil.STATE_DIR_NAME, ENV_DIR, _LIB_DIR})


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
        return [self.project / _LIB_DIR, self.vendor_dir, *self.jpath]


@dataclass(frozen=True)
class EnvResult:
    """The outcome for one environment; ``error`` is set instead of raising in batch builds.

    ``error`` keeps its class (its exit code and ``kind``); it crosses from worker processes
    pickled, so it carries no traceback.
    """

    env: str
    engine: str
    seconds: float
    diff: manifests.TreeDiff | None = None
    skipped: bool = False
    error: KpbError | None = None
    gate_report: Any = None  # what BuildRequest.gate returned, or the report its error carries


@dataclass(frozen=True)
class BuildReport:
    """All environments' results."""

    results: tuple[EnvResult, ...]

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


@dataclass(frozen=True)
class _Environment:
    """An environment whose file was found (step 1); picklable for worker processes."""

    name: str
    #: Its jsonnet file, relative to the project: how the importer and messages name it.
    source: Path


def environments(project: Path) -> list[str]:
    """Names of the environments: ``environments/<name>.jsonnet`` and ``<name>/main.jsonnet``.

    The second is Tanka's layout; a name defined both ways is listed once (and refused when
    built, see :func:`_environment_file`).
    """
    folder = _source_dir(project, ENV_DIR)
    if not folder.is_dir():
        return []
    names = {p.stem for p in folder.glob("*.jsonnet") if p.is_file()}
    names |= {p.parent.name for p in folder.glob(f"*/{_TANKA_MAIN}") if p.is_file()}
    return sorted(n for n in names if _ENV_NAME.fullmatch(n))


def environment_name(text: str) -> str:
    """The environment a command-line word means.

    ``dev``, ``dev.jsonnet``, ``environments/dev.jsonnet``, ``environments/dev/`` and
    ``environments/dev/main.jsonnet`` all mean ``dev``: what Tanka and build.sh users type.
    Anything else is returned as given, for :func:`_environment_file` to refuse by name.
    """
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if parts and parts[-1] == _TANKA_MAIN:
        parts = parts[:-1]
    if len(parts) == 2 and parts[0] == ENV_DIR:
        parts = parts[1:]
    if len(parts) != 1 or parts[0] == ".jsonnet":
        return text
    return parts[0].removesuffix(".jsonnet")


def _environment_file(project: Path, env: str) -> Path:
    """Step 1: the jsonnet file of ``env``; a missing one names those that exist."""
    if not _ENV_NAME.fullmatch(env):
        raise ConfigError(f"environment name {env!r} is not a plain name (like dev or prd)")
    folder = _source_dir(project, ENV_DIR)
    flat, tanka = folder / f"{env}.jsonnet", folder / env / _TANKA_MAIN
    if tanka.is_file():
        if flat.is_file():
            raise ConfigError(
                f"environment {env!r} is defined twice: {ENV_DIR}/{env}.jsonnet and "
                f"{ENV_DIR}/{env}/{_TANKA_MAIN}; remove one"
            )
        return tanka
    if not flat.is_file():
        known = environments(project)
        listing = ", ".join(known) if known else f"none: {ENV_DIR}/ has no *.jsonnet"
        raise ConfigError(f"no environment {env!r} ({ENV_DIR}/{env}.jsonnet); existing: {listing}")
    return flat


def _find(project: Path, env: str) -> _Environment:
    """Step 1: :func:`_environment_file`, kept as the importer and messages name it."""
    return _Environment(env, _environment_file(project, env).relative_to(project))


def _source_dir(project: Path, name: str) -> Path:
    """A source dir (environments/, jsonnet/): any link on the way must stay in the repository."""
    return fsutil.checked_source_dir(project, name, fsutil.enclosing_repo_root(project))


def _check_project_dirs(request: BuildRequest) -> None:
    """Refuse (one line) a source or vendor dir that is a link out of the project's repository.

    Runs before anything is evaluated or written; the importer's per-file check against the
    real repository root is what holds by construction, this names the culprit up front.
    """
    _source_dir(request.project, ENV_DIR)
    _source_dir(request.project, _LIB_DIR)
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
        return request.project, _OUT_DIR
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


def output_dir(request: BuildRequest, env: str, *, create: bool) -> Path:
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


def _settings_parts(request: BuildRequest, env: str, engine: Engine) -> list[str]:
    """The non-file inputs a stamp depends on (values of variables enter only hashed).

    kpb's own identity (version and source hash) is part of it, so output rendered by another
    kpb never counts as current, and so is PyYAML's version: its libyaml emitter lays out
    every YAML file.
    """
    library = [str(p) for p in request.library]
    emitter = f"pyyaml {pyyaml_version()}"
    return [env, engine.name, engine.version, buildstate.kpb_identity(), emitter, *library]


@functools.cache
def pyyaml_version() -> str:
    """``yaml.__version__``, read from the installed package's source without importing it.

    PyYAML takes longer to import than a no-op build takes to check its stamp; its version
    is a plain assignment in ``yaml/__init__.py``. Any other form: import it after all.
    """
    spec = importlib.util.find_spec("yaml")
    source = ""
    if spec is not None and spec.origin is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            source = Path(spec.origin).read_text(encoding="utf-8")
    found = re.findall(r"^__version__ = '([^'\\]+)'$", source, re.MULTILINE)
    if len(found) == 1:
        return str(found[0])
    import yaml

    return str(yaml.__version__)


def render(request: BuildRequest, env: str, engine: Engine, salt: str) -> Rendered:
    """What a build of ``env`` would write, evaluated in this thread; nothing is written."""
    _check_project_dirs(request)
    return _render(request, _find(request.project, env), engine, salt)


def _render(request: BuildRequest, env: _Environment, engine: Engine, salt: str) -> Rendered:
    """Steps 3-5: evaluate ``env`` and turn its output into ``{relative path: YAML bytes}``."""
    from kubeprom_build.rendering import outputs

    importer = _importer(request)
    text = _evaluate(request, env, engine, importer)
    values = json.loads(text)
    files = outputs.output_files(env.name, values, request.variables.redactor())
    settings = _settings(request, env.name, engine, salt)
    lookups = tuple(importer.lookups[key] for key in sorted(importer.lookups))
    inputs = {path: buildstate.digest(data, salt) for path, data in importer.files.items()}
    written = {rel: buildstate.digest(data, salt) for rel, data in files.items()}
    return Rendered(files, buildstate.Stamp(salt, settings, lookups, inputs, written), values)


def _render_interruptibly(request: BuildRequest, env: _Environment, engine: Engine) -> Rendered:
    """:func:`_render` in a daemon thread, so Ctrl-C is not held up by a native evaluation.

    Python runs signal handlers only in the main thread between bytecodes; a C++/Go evaluation
    can take minutes. The engines that release the GIL (go, cpp) leave the main thread free to
    raise KeyboardInterrupt while it waits; the thread dies with the process. Nothing has been
    written at this point, so abandoning it is safe.
    """
    outcome: list[Rendered | BaseException] = []

    def work() -> None:
        try:
            outcome.append(_render(request, env, engine, buildstate.new_salt()))
        except BaseException as err:  # handed to the waiting thread
            outcome.append(err)

    thread = threading.Thread(target=work, name=f"kpb-render-{env.name}", daemon=True)
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
    parts = [*_settings_parts(request, env, engine), request.variables.digest(bytes.fromhex(salt))]
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


def _evaluate(request: BuildRequest, env: _Environment, engine: Engine, importer: Importer) -> str:
    secrets = request.variables.redactor()
    try:
        text = _run_engine(request, engine, env.source, importer)
    except JsonnetError as err:
        raise engineerrors.failure(
            env.name,
            err.raw,
            engine.name,
            importer,
            secrets,
            functools.partial(_rerun, request, env.source),
            large_library=lambda: _large_vendor(request.vendor_dir),
        ) from None
    failed = engineerrors.silent_failure(env.name, importer, secrets)
    if failed is not None:
        raise failed
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


def _rerun(request: BuildRequest, source: Path, engine: str) -> str | None:
    """Evaluate ``source`` again with ``engine`` (fresh importer): its raw error, or None."""
    try:
        _run_engine(request, get_engine(engine), source, _importer(request))
    except JsonnetError as err:
        return err.raw
    return None


def _build_environment(request: BuildRequest, env: _Environment) -> EnvResult:
    """Steps 2-7 for one environment; errors become ``EnvResult.error``."""
    started = time.perf_counter()
    try:
        engine = get_engine(request.engine)  # pinned by build(): the same in every worker
        diff, skipped, gated = _build_steps(request, env, engine)
    except KpbError as err:  # its frames would keep the evaluation's data alive: dropped
        error = err.with_traceback(None)
        elapsed = time.perf_counter() - started
        report = getattr(err, "report", None)
        return EnvResult(env.name, request.engine or "?", elapsed, error=error, gate_report=report)
    elapsed = time.perf_counter() - started
    return EnvResult(env.name, engine.name, elapsed, diff=diff, skipped=skipped, gate_report=gated)


def _build_steps(
    request: BuildRequest, env: _Environment, engine: Engine
) -> tuple[manifests.TreeDiff, bool, Any]:
    """The pipeline of one environment: ``(differences, skipped, what the gate returned)``.

    1. its file was found by :func:`build`, for every environment before any is evaluated.
    """
    target = output_dir(request, env.name, create=False)  # refused before .kpb/ is created
    state = fsutil.state_dir(request.project, create=not request.check)
    with _output_lock(request, env.name, state):
        # 2. skip when the stamp proves the output current
        current = _unchanged_since_stamp(request, env.name, engine, state, target)
        if current is not None:
            return current, True, None
        # 3-5. evaluate, check the output contract, render the YAML files
        rendered = _render_interruptibly(request, env, engine)
        # 5b. the caller's gate (build --validate): raising leaves the output untouched
        gated = (
            None
            if request.gate is None
            else request.gate(env.name, rendered.files, rendered.values)
        )
        # 6. compare with the output directory, or publish to it
        if request.check:
            return manifests.compare(target, rendered.files), False, gated
        buildstate.forget(state, env.name)
        diff = manifests.publish(output_dir(request, env.name, create=True), rendered.files)
        # 7. record the stamp
        try:
            buildstate.save(state, env.name, rendered.stamp)
        except OSError as err:  # only costs an evaluation next time
            log.info("could not record the build stamp of %s: %s", env.name, err)
        return diff, False, gated


def _output_lock(
    request: BuildRequest, env: str, state: Path
) -> contextlib.AbstractContextManager[object]:
    """The environment's lock, held from the stamp check to the new stamp.

    ``--check`` only reads: it takes no lock, so it creates no ``.kpb/``.
    """
    if request.check:
        return contextlib.nullcontext()
    lock = state / "locks" / f"manifests-{env}.lock"
    return fsutil.file_lock(lock, output_label(request, env), request.wait_seconds)


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
    log.debug("%s: the build stamp proves the output current; not evaluating", env)
    return manifests.TreeDiff((), (), (), len(stamp.outputs))


def build(
    request: BuildRequest,
    envs: Sequence[str],
    jobs: int = 0,
    progress: Progress | None = None,
) -> BuildReport:
    """Build ``envs``: in this process for one, in up to ``jobs`` worker processes for several.

    Configuration errors that affect every environment (unknown engine, missing environment)
    raise before anything is evaluated; warnings are logged before evaluation starts.
    """
    engine = get_engine(request.engine)
    request = _pin_engine(request, engine.name)
    _check_project_dirs(request)
    found = [_find(request.project, env) for env in envs]  # step 1, before any evaluation
    for warning in _warnings(request, engine):
        log.warning("%s", warning)
    notify = progress or (lambda _env, _stage: None)
    workers = min(jobs or os.cpu_count() or 1, len(envs))
    log.debug("engine %s %s; %d environment(s) at a time", engine.name, engine.version, workers)
    if workers <= 1:
        return BuildReport(_build_serial(request, found, notify))
    return BuildReport(_build_parallel(request, found, workers, notify))


def _pin_engine(request: BuildRequest, name: str) -> BuildRequest:
    """Resolve the default engine once, so every worker uses the same one."""
    return dataclasses.replace(request, engine=name)


def _build_serial(
    request: BuildRequest, envs: Sequence[_Environment], notify: Progress
) -> tuple[EnvResult, ...]:
    results = []
    for env in envs:
        notify(env.name, "start")
        results.append(_build_environment(request, env))
        notify(env.name, "done")
    return tuple(results)


def _build_parallel(
    request: BuildRequest, envs: Sequence[_Environment], jobs: int, notify: Progress
) -> tuple[EnvResult, ...]:
    """Each environment in a worker process; Ctrl-C or an error ends them all at once."""
    from kubeprom_build.rendering import workers

    try:
        results = workers.run(
            functools.partial(_build_environment, request),
            envs,
            jobs,
            preload=[__name__],
            started=lambda env: notify(env.name, "start"),
            finished=lambda env: notify(env.name, "done"),
        )
    except workers.WorkerDied as died:
        name = died.item.name if isinstance(died.item, _Environment) else "?"
        raise BuildError(
            f"the worker process building {name!r} died (out of memory or killed); "
            "outputs it had not published are unchanged"
        ) from None
    return tuple(results)


def _warnings(request: BuildRequest, engine: Engine) -> tuple[str, ...]:
    if not TRAITS[engine.name].slow or not _large_vendor(request.vendor_dir):
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
    _check_project_dirs(request)
    found = _find(request.project, env)
    target = output_dir(request, env, create=False)
    rendered = _render_interruptibly(request, found, engine)
    diff = manifests.unified_diff(target, rendered.files, output_label(request, env))
    return request.variables.redactor().redact(diff)  # a Secret's lines hold its value


def unchanged_environments(
    request: BuildRequest, envs: Sequence[str]
) -> tuple[EnvResult, ...] | None:
    """The results :func:`build` would report if every one of ``envs`` is skipped as up to
    date, else None. Writes nothing, creates nothing, waits for nothing.

    The answer of a no-op ``kpb build``, what editors, hooks and Makefiles run all day: the
    same steps 1-2 as :func:`build` (project directories, environment files, the stamp, under
    the environment's lock unless ``--check``), stopping before anything would be evaluated or
    written, so no engine runs, no YAML is emitted and no worker process starts. None whenever
    the no-op cannot be proved (a stamp out of date, a warning to show, another kpb building
    the environment, an error): the caller then runs :func:`build`, which reports all that.
    """
    try:
        engine = get_engine(request.engine)
        if TRAITS[engine.name].slow:
            return None  # the build prints a warning about it first
        request = _pin_engine(request, engine.name)
        _check_project_dirs(request)
        found = [_find(request.project, env) for env in envs]
        results = []
        for env in found:
            started = time.perf_counter()
            diff = _unchanged_now(request, env.name, engine)
            if diff is None:
                return None
            seconds = time.perf_counter() - started
            results.append(EnvResult(env.name, engine.name, seconds, diff=diff, skipped=True))
    except (KpbError, OSError):
        return None
    return tuple(results)


def _unchanged_now(request: BuildRequest, env: str, engine: Engine) -> manifests.TreeDiff | None:
    """Step 2 of :func:`_build_steps` without waiting for a lock or creating ``.kpb/``."""
    target = output_dir(request, env, create=False)
    state = fsutil.state_dir(request.project, create=False)
    if request.check:  # reads only, like the real check
        return _unchanged_since_stamp(request, env, engine, state, target)
    if not os.path.lexists(state / ".gitignore"):
        return None  # the real build would create .kpb/ first
    with fsutil.lock_if_free(state / "locks" / f"manifests-{env}.lock") as held:
        if not held:
            return None
        return _unchanged_since_stamp(request, env, engine, state, target)
