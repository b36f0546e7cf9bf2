"""Answer a no-op ``kpb vendor`` or ``kpb build ENV...`` before typer and rich are loaded.

Those two commands with nothing to do are what Makefiles, hooks and editors run all day, and
loading the full command line (typer, click, rich) costs several times their work. So
:func:`answer` recognises the plain invocations (the global options ``-q``, ``--json``,
``-C``, ``--vendor-dir``, ``--wait``; ``vendor [--offline]``; ``build [--check] ENV...`` or
``build [--check] --all``), asks the halves for their no-op answer
(:func:`kubeprom_build.vendoring.unchanged_packages`,
:func:`kubeprom_build.rendering.unchanged_environments`) and prints exactly what the full
command prints in that case. Anything else, and any doubt (a terminal that would get live
progress or styles, an option it does not know, a package to fetch, a stamp out of date, an
error), returns None and the full command runs from the start: nothing has been written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeprom_build import fsutil, rendering, vendoring
from kubeprom_build import project as projects
from kubeprom_build.cli import output
from kubeprom_build.errors import EXIT_INTERRUPTED, EXIT_OK

#: Set (to anything) to always run the full command line: for comparing the two.
DISABLE = "KPB_NO_FASTPATH"
#: rich reads these to decide on terminal features and width; any of them set: no answer.
_RICH_ENVIRONMENT = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")
_VALUE_OPTIONS = {
    "-C": "project",
    "--project": "project",
    "--vendor-dir": "vendor",
    "--jsonnetpkg-home": "vendor",
    "--wait": "wait_text",
}
_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--json": "json"}
_COMMAND_FLAGS = {"vendor": {"--offline"}, "build": {"--check", "--all"}}
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass
class _Line:
    """A command line this module can answer, parsed."""

    command: str = ""
    project: str | None = None
    vendor: str = "vendor"
    wait_text: str = "0"
    quiet: bool = False
    json: bool = False
    flags: set[str] = field(default_factory=set)
    words: list[str] = field(default_factory=list)


def parse(argv: Sequence[str]) -> _Line | None:
    """The command line when it is one of the plain forms, else None (the full CLI decides)."""
    line, seen = _Line(), set()
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, has_value, value = arg.partition("=")
        if has_value and not name.startswith("--"):
            name = arg  # click reads '-C=x' as the value '=x': not a form answered here
        if name in _VALUE_OPTIONS and name not in seen:
            if not has_value:
                if not args:
                    return None
                value = args.pop(0)
            if not value:
                return None
            seen.add(name)
            setattr(line, _VALUE_OPTIONS[name], value)
        elif arg in _FLAGS and not has_value:
            setattr(line, _FLAGS[arg], True)
        elif not line.command and arg in _COMMAND_FLAGS:
            line.command = arg
        elif line.command and arg in _COMMAND_FLAGS[line.command] and arg not in line.flags:
            line.flags.add(arg)
        elif line.command == "build" and not arg.startswith("-") and arg:
            line.words.append(arg)
        else:
            return None
    if len(seen & {"-C", "--project"}) > 1 or len(seen & {"--vendor-dir", "--jsonnetpkg-home"}) > 1:
        return None
    if not _SECONDS.fullmatch(line.wait_text):
        return None
    if line.command == "build" and bool(line.words) == ("--all" in line.flags):
        return None  # neither or both: the full CLI says why
    return line if line.command else None


def answer(argv: Sequence[str]) -> int | None:
    """The exit code after answering the no-op, or None: run the full command line."""
    if os.environ.get(DISABLE) or any(os.environ.get(v) is not None for v in _RICH_ENVIRONMENT):
        return None
    line = parse(argv)
    if line is None or _live_output(line):
        return None
    try:
        with _Logged() as logged:
            result = _vendor(line, logged) if line.command == "vendor" else _build(line, logged)
    except KeyboardInterrupt:  # as the full command line ends on Ctrl-C or SIGTERM
        sys.stderr.write("interrupted\n")
        if line.json:
            error = {"message": "interrupted", "kind": "interrupted"}
            _envelope(line.command, None, EXIT_INTERRUPTED, error)
        return EXIT_INTERRUPTED
    except OSError as err:  # the table or summary could not be written
        return output.stdout_failed(err)
    if result is None:
        return None
    try:
        if line.json:
            _envelope(line.command, result)
        sys.stdout.flush()
    except OSError as err:
        return output.stdout_failed(err)
    return EXIT_OK


class _Logged(logging.Handler):
    """Notes a warning logged while the fast path looks (the full CLI would show it, as
    ``warning: ...``, or list it under ``--json``); without a handler Python's last-resort
    handler would print it bare, even with ``-q``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = True

    def __enter__(self) -> _Logged:
        logging.getLogger("kpb").addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        logging.getLogger("kpb").removeHandler(self)


def _live_output(line: _Line) -> bool:
    """Would the full command draw on a terminal (progress, a styled table)?"""
    progress = not line.quiet and not line.json and sys.stderr.isatty()
    table = line.command == "build" and not line.json and sys.stdout.isatty()
    return progress or table


def _project(line: _Line) -> tuple[Path, Path] | None:
    """The project and its checked vendor dir, as the full CLI's callback finds them."""
    vendor = Path(line.vendor)
    if vendor.is_absolute() or ".." in vendor.parts:
        return None
    if line.project is None:
        root = projects.find_project(Path.cwd(), line.vendor)
    else:
        root = Path(line.project).resolve()
        if not root.is_dir():
            return None
    if root is None:
        return None
    return root, fsutil.check_vendor_dir(root, line.vendor)


def _vendor(line: _Line, logged: _Logged) -> dict[str, Any] | None:
    try:
        found = _project(line)
        names = None if found is None else vendoring.unchanged_packages(*found)
    except Exception:  # any doubt: the full command reports it
        return None
    if names is None or logged.seen:
        return None
    if not (line.quiet or line.json):
        sys.stderr.write(
            f"vendor/ holds {len(names)} packages (0 fetched, {len(names)} already in place); "
            "lock unchanged\n"
        )
    return {
        "packages": sorted(names),
        "fetched": [],
        "removed": [],
        "lock_updated": False,
        "changes": [],
    }


def _build(line: _Line, logged: _Logged) -> dict[str, Any] | None:
    check = "--check" in line.flags
    try:
        found = _project(line)
        if found is None:
            return None
        root, vendor_dir = found
        if "--all" in line.flags:
            envs = rendering.environments(root)
        else:
            envs = list(dict.fromkeys(rendering.environment_name(w) for w in line.words))
        if not envs or vendoring.stale_packages(root, vendor_dir):
            return None
        request = rendering.BuildRequest(
            project=root,
            vendor_dir=vendor_dir,
            variables=rendering.parse_variables(()),
            check=check,
            wait_seconds=float(line.wait_text),
        )
        results = rendering.unchanged_environments(request, envs)
        if results is None:
            return None
        report = _build_report(request, results)
        table = None if line.json else _table(results)
    except Exception:  # any doubt: the full command reports it
        return None
    if (table is None and not line.json) or logged.seen:
        return None
    if table is not None:
        sys.stdout.write(table)
    return report


def _build_report(
    request: rendering.BuildRequest, results: Sequence[rendering.EnvResult]
) -> dict[str, Any]:
    """What ``build --json`` reports for environments that were all skipped as up to date."""
    return {
        "check": request.check,
        "variables": request.variables.names(),
        "warnings": [],
        "environments": [
            {
                "environment": r.env,
                "output": rendering.output_label(request, r.env),
                "engine": r.engine,
                "seconds": round(r.seconds, 3),
                "skipped": True,
                "error": None,
                "up_to_date": True,
                "added": [],
                "changed": [],
                "removed": [],
                "unchanged": r.diff.unchanged if r.diff else 0,
            }
            for r in results
        ],
    }


#: The summary table's columns as the full CLI declares them: (header, minimum width, left?).
_COLUMNS = (
    ("environment", 11, True),
    ("engine", 6, True),
    ("added", 6, False),
    ("changed", 7, False),
    ("removed", 7, False),
    ("unchanged", 9, False),
    ("time", 6, False),
    ("status", 20, True),
)
_PRINTABLE = re.compile(r"[ -~]*")


def _table(results: Sequence[rendering.EnvResult]) -> str | None:
    """The summary table as rich lays it out off a terminal, when every cell fits its column's
    minimum width (then rich's layout is plain: fixed widths, two spaces apart); else None."""
    rows = [[header for header, _, _ in _COLUMNS]]
    for r in results:
        unchanged = str(r.diff.unchanged) if r.diff else "-"
        rows.append(
            [r.env, r.engine, "0", "0", "0", unchanged, f"{r.seconds:.2f}s", "up to date (skipped)"]
        )
    lines = []
    for row in rows:
        cells = []
        for text, (_, width, left) in zip(row, _COLUMNS, strict=True):
            if len(text) > width or not _PRINTABLE.fullmatch(text):
                return None
            cells.append(text.ljust(width) if left else text.rjust(width))
        lines.append("  ".join(cells) + "\n")
    return "".join(lines)


def _envelope(
    command: str,
    result: dict[str, Any] | None,
    code: int = EXIT_OK,
    error: dict[str, str] | None = None,
) -> None:
    """The ``--json`` document (docs/json.md), as the full command line writes it."""
    document = {
        "ok": code == EXIT_OK,
        "command": command,
        "exit_code": code,
        "error": error,
        "result": result,
    }
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
