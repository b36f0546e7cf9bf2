"""The typer application, the global options, and the one place that turns outcomes into exits.

Only modules under ``kubeprom_build.cli`` import typer and rich; everything below returns data
or raises :class:`~kubeprom_build.errors.KpbError`, whose class carries the exit code.

Global options (``-C``, ``--vendor-dir``, ``-q``, ``-v``, ``--wait``, ``--json``) are defined
once, on the callback, and :func:`hoist_global_options` moves them in front of the subcommand
when they come after it (``kpb build dev -C deploy``). Declaring them again on every command
would repeat six options in eight signatures and need a merge rule for ``kpb -q build -q``;
moving them keeps one definition, one place that resolves them, and every spelling works.

The library logs to the ``kpb`` logger and never prints; the callback is the one place that
shows that log (:func:`_show_log`), on stderr, as plain ``warning: ...`` lines.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import json
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from rich.markup import escape

from kubeprom_build import __version__, fsutil
from kubeprom_build import project as projects
from kubeprom_build.cli import output
from kubeprom_build.errors import (
    EXIT_BUG,
    EXIT_CODES_HELP,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    KpbError,
)

__all__ = ["EXIT_BUG", "EXIT_INTERRUPTED"]

# A full or read-only disk is the machine's state, not a bug.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})

GLOBAL_HELP = (
    "Global options (-C, --vendor-dir, -q, -v, --wait, --json) may also follow the command: "
    "'kpb build dev -C deploy --json' works like 'kpb -C deploy --json build dev'."
)

app = typer.Typer(
    name="kpb",
    help="\n\n".join(
        [
            "Vendor jsonnet dependencies (jsonnet-bundler compatible) and build kube-prometheus "
            "environments into Kubernetes manifests.",
            "Typical use: 'kpb init' in a new project, 'kpb vendor', then 'kpb build dev'. "
            "Run 'kpb COMMAND --help' for details. The project is the nearest directory "
            "upward holding jsonnetfile.json or environments/ (like git), unless -C is given.",
            GLOBAL_HELP,
            "Examples:",
            "  kpb init && kpb build dev        a new project and its first manifests",
            "  kpb vendor && kpb build --all    vendor the lock, build every environment",
            "  kpb build --check --all --json   CI: exit 1 if manifests/ is out of date",
            "  kpb --install-completion         complete commands, environments, dependencies",
            "--json prints one JSON object on stdout, also on failure (docs/json.md).",
            EXIT_CODES_HELP,
        ]
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)

#: The callback's options, for hoisting: those that take a value (with the example value a
#: "needs a value" message shows) and the flags. test_cli_conventions checks that they list
#: every option of the callback.
GLOBAL_VALUE_OPTIONS = {
    "-C": "DIR",
    "--project": "DIR",
    "--vendor-dir": "vendor",
    "--jsonnetpkg-home": "vendor",
    "--wait": "SECONDS",
}
GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose", "--json")


@dataclass
class GlobalOptions:
    """Options every command shares, resolved once in the callback."""

    root: Path | None  # None: no project found upward and no -C
    start: Path  # where discovery started (for the "not in a project" message)
    #: The project's vendor dir, already proven prunable by :func:`fsutil.check_vendor_dir`
    #: (None exactly when ``root`` is).
    checked_vendor: Path | None
    quiet: bool
    wait_seconds: float
    json: bool = False
    given: bool = False  # -C was given (else the project was discovered, or not found)
    #: Every warning logged while the command runs, shown or not (the ``--json`` result).
    warnings: list[str] = field(default_factory=list, repr=False)

    @property
    def project(self) -> Path:
        """The project directory; outside of any, the one-line "not in a project" error."""
        if self.root is None:
            raise ConfigError(projects.not_found_message(self.start))
        return self.root

    @property
    def vendor_dir(self) -> Path:
        """The checked vendor dir; outside of any project, the "not in a project" error."""
        if self.checked_vendor is None:
            raise ConfigError(projects.not_found_message(self.start))
        return self.checked_vendor


@dataclass
class Invocation:
    """What :func:`run` learns about one command line, and what the command reports back."""

    command: str | None = None
    json: bool = False
    result: Any = None
    usage: str | None = None  # a command line hoisting already knows is wrong


_invocation: contextvars.ContextVar[Invocation] = contextvars.ContextVar("kpb_invocation")


def report(result: Any) -> None:
    """Record the command's result for ``--json`` (the ``result`` member of the envelope)."""
    with contextlib.suppress(LookupError):
        _invocation.get().result = result


class _LogLines(logging.Handler):
    """Shows records of the ``kpb`` logger as ``level: message`` lines on stderr.

    Plain text: a message may hold brackets or colons that rich would read as markup or emoji.
    Written to the ``sys.stderr`` of the moment, which a progress display or the capture of an
    engine's own output may have replaced. Warnings are kept too, for the ``--json`` result.
    """

    def __init__(self, shown: int, warnings: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.shown = shown
        self.warnings = warnings

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.warnings.append(message)
        if record.levelno >= self.shown:
            with contextlib.suppress(OSError, ValueError):  # stderr closed: nothing to tell
                sys.stderr.write(f"{record.levelname.lower()}: {message}\n")
                sys.stderr.flush()


def _show_log(ctx: typer.Context, quiet: bool, verbose: bool) -> list[str]:
    """The one place kpb's log is shown: warnings, with ``-q`` errors only, with ``-v`` debug.

    The handler lives as long as the command (tests run many in one process); the list it
    returns collects the warnings.
    """
    if quiet and verbose:
        raise typer.BadParameter("give one of them, not both", param_hint="'-q' / '-v'")
    shown = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    warnings: list[str] = []
    handler = _LogLines(shown, warnings)
    logger = logging.getLogger("kpb")
    level = logger.level
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.DEBUG)

    def stop() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    ctx.call_on_close(stop)
    return warnings


def _version(value: bool) -> None:
    if value:
        stdout.print(f"kpb {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option(
            "-C",
            "--project",
            metavar="DIR",
            help="Project directory holding jsonnetfile.json, environments/ and manifests/.",
            show_default="nearest directory upward holding jsonnetfile.json or environments/",
        ),
    ] = None,
    vendor_dir: Annotated[
        str,
        typer.Option(
            "--vendor-dir",
            "--jsonnetpkg-home",
            metavar="DIR",
            help="Vendor directory, relative to the project (jb's --jsonnetpkg-home).",
        ),
    ] = "vendor",
    quiet: Annotated[
        bool,
        typer.Option(
            "-q", "--quiet", help="Print only errors and results (no progress, no warnings)."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "-v",
            "--verbose",
            help="Also print debug lines: what kpb does and why (engine, cache, git commands, "
            "skipped builds). Never values of variables.",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help="How long to wait for another kpb process working on this project.",
        ),
    ] = 0.0,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON object on stdout, also on failure (docs/json.md)."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Resolve the global options for the subcommands."""
    warnings = _show_log(ctx, quiet, verbose)
    start = Path.cwd()
    root = projects.find_project(start, vendor_dir) if project is None else project.resolve()
    if project is not None and not (root and root.is_dir()):
        raise ConfigError(f"project directory {str(project)!r} does not exist")
    vendor = Path(vendor_dir)
    if vendor.is_absolute() or ".." in vendor.parts:
        raise ConfigError(f"--vendor-dir {vendor_dir!r} must be a relative path inside the project")
    # Before any command runs: 'kpb vendor' prunes this directory, and it is a library dir.
    checked = None if root is None else fsutil.check_vendor_dir(root, vendor_dir)
    ctx.obj = GlobalOptions(
        root,
        start,
        checked,
        quiet=quiet or as_json,
        wait_seconds=wait,
        json=as_json,
        given=project is not None,
        warnings=warnings,
    )


def options(ctx: typer.Context) -> GlobalOptions:
    """The :class:`GlobalOptions` of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj


# --------------------------------------------------------------------------- the command line


def _no_type_label(metavar: str | None) -> Any:
    return lambda ctx: metavar or ""


def _help_option(original: Any) -> Any:
    def help_option(ctx: Any) -> Any:
        option = original(ctx)
        if option is not None:
            option.display_type_rich = _no_type_label(None)
        return option

    return help_option


@functools.cache
def click_command() -> Any:
    """The click group typer builds from :data:`app`, with help free of Python type labels.

    Built once per process (about 20 ms): hoisting and running use the same one.

    typer prints a type column (``<bool>``, ``<list[str]>``, ``<int>``) that means nothing to
    an SRE. Every option that takes a value has a metavar (DIR, N, NAME=FILE); flags and
    arguments (already named by their metavar) show nothing in that column.
    """
    group = typer.main.get_command(app)
    commands: dict[str, Any] = getattr(group, "commands", {})
    for command in (group, *commands.values()):
        command.get_help_option = _help_option(command.get_help_option)
        for param in command.params:
            option = getattr(param, "param_type_name", "") == "option"
            if not option or param.is_flag or param.metavar is not None:
                param.display_type_rich = _no_type_label(param.metavar if option else None)
    return group


def _value_options(command: Any) -> set[str]:
    """Spellings of ``command``'s options that take a value (their value is not an option)."""
    names: set[str] = set()
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "option" and not param.is_flag:
            names.update(param.opts)
    return names


def hoist_global_options(argv: Sequence[str]) -> tuple[list[str], Invocation]:
    """Move global options found after the subcommand to before it; note the command and --json.

    The subcommand's own options that take a value keep their value (``--ext-str -q`` stays),
    and nothing after ``--`` moves.
    """
    args = list(argv)
    info = Invocation()
    group = click_command()
    commands: dict[str, Any] = getattr(group, "commands", {})
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in GLOBAL_VALUE_OPTIONS else 1
    if i >= len(args) or args[i] not in commands:  # click reports the usage error
        before_separator = args[: args.index("--")] if "--" in args else args
        info.json = "--json" in before_separator
        return args, info
    info.command = args[i]
    takes_value = _value_options(commands[args[i]])
    head, rest = args[:i], args[i + 1 :]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        arg = rest[j]
        flag = arg.split("=", 1)[0]
        if arg == "--":
            kept.extend(rest[j:])
            break
        if arg in GLOBAL_FLAGS:
            moved.append(arg)
            j += 1
        elif flag in GLOBAL_VALUE_OPTIONS:
            width = 1 if "=" in arg else 2
            if j + width > len(rest):
                info.usage = f"option {arg} needs a value, e.g. {arg} {GLOBAL_VALUE_OPTIONS[flag]}"
            moved.extend(rest[j : j + width])
            j += width
        elif arg.startswith("-C") and len(arg) > 2 and "-C" not in takes_value:
            moved.append(arg)
            j += 1
        elif arg in takes_value:
            kept.extend(rest[j : j + 2])
            j += 2
        else:
            kept.append(arg)
            j += 1
    head += moved
    info.json = "--json" in head
    return [*head, args[i], *kept], info


# --------------------------------------------------------------------------- outcomes

#: ``file:line[:column]`` of a jsonnet source in a message (engines and kpb write this form).
_LOCATION = re.compile(
    r"(?P<file>[^\s:()'\"]+\.(?:jsonnet|libsonnet|json)):(?P<line>\d+)(?::(?P<column>\d+))?"
)


def error_document(message: str, kind: str) -> dict[str, Any]:
    """``{"message", "kind"}`` plus ``file``/``line``/``column`` when the message names them."""
    doc: dict[str, Any] = {"message": message, "kind": kind}
    found = _LOCATION.search(message)
    if found:
        doc["file"] = found.group("file")
        doc["line"] = int(found.group("line"))
        if found.group("column"):
            doc["column"] = int(found.group("column"))
    return doc


def _invoke(args: list[str], usage: str | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run the app once; every way it can end becomes (exit code, error document)."""
    if usage is not None:
        stderr.print(f"error: {usage}", markup=False, highlight=False)
        return EXIT_USAGE, error_document(usage, "usage")
    try:
        result = click_command().main(args=args, prog_name="kpb", standalone_mode=False)
    except KpbError as err:
        message = str(err)
        stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
        return err.exit_code, error_document(message, err.kind)
    except typer.Exit as done:
        result = done.exit_code
    except SystemExit as done:  # typer's --show-completion and completion requests end so
        result = done.code if isinstance(done.code, int) else EXIT_OK
    except (KeyboardInterrupt, typer.Abort):
        result = EXIT_INTERRUPTED
    except typer.TyperException as usage:
        show = getattr(usage, "show", None)
        if callable(show):
            show()
        else:
            stderr.print(f"error: {usage}", markup=False)
        describe = getattr(usage, "format_message", None)
        message = describe() if callable(describe) else str(usage)
        code = getattr(usage, "exit_code", EXIT_USAGE)
        return code, error_document(message, "usage")
    except Exception as err:
        if isinstance(err, OSError) and err.errno in _DISK_ERRNOS:  # the machine, not a bug
            # Vendoring and building stage every write and publish by rename: what was in
            # place stays intact.
            where = f" ({err.filename})" if err.filename else ""
            message = f"{os.strerror(err.errno).lower()}{where}"
            stderr.print(f"error: {message}", markup=False)
            return EXIT_INPUT, error_document(message, "disk")
        stderr.print("kpb hit an internal error (a bug); please report it with this trace:")
        stderr.print(_bug_report(err), markup=False)
        return EXIT_BUG, error_document(f"internal error: {type(err).__name__}", "bug")
    code = result if isinstance(result, int) else EXIT_OK
    if code == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into this code
        stderr.print("interrupted", markup=False)
        return code, error_document("interrupted", "interrupted")
    return code, None


def _terminated(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _bug_report(err: BaseException) -> str:
    """Where a bug happened: the last frames and the exception's type, never its message.

    A message can quote data (a value being parsed, an output key, a variable), so it is not
    printed: the frames are enough to find the bug, and secrets stay impossible to print.
    """
    frames = traceback.extract_tb(err.__traceback__)[-8:]
    lines = [f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in frames]
    return "\n".join([*lines, f"{type(err).__name__} (message not shown: it may quote your data)"])


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code; every failure mode is decided here.

    With ``--json`` whatever a command prints goes to stderr, and stdout receives exactly one
    JSON object (docs/json.md): ``ok``, ``command``, ``exit_code``, ``error``, ``result``.
    """
    args, info = hoist_global_options(sys.argv[1:] if argv is None else argv)
    token = _invocation.set(info)
    try:
        if not info.json:
            return _invoke(args, info.usage)[0]
        out = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):
            code, error = _invoke(args, info.usage)
        document = {
            "ok": code == EXIT_OK,
            "command": info.command,
            "exit_code": code,
            "error": error,
            "result": info.result,
        }
        try:
            out.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
            out.flush()
        except OSError as err:  # a full disk, a closed pipe: as rich's own output ends
            return output.stdout_failed(err)
        return code
    finally:
        _invocation.reset(token)


def main() -> None:
    """Console-script entry point."""
    # SIGTERM ends kpb like Ctrl-C does (staging removed, running git processes stopped),
    # instead of leaving git children of their own process groups behind.
    signal.signal(signal.SIGTERM, _terminated)
    if os.environ.get("NO_COLOR") is None and not sys.stderr.isatty():
        os.environ.setdefault("NO_COLOR", "1")
    sys.exit(run())
