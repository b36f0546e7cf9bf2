"""Reading the engines' errors: where the error is, and a message a person can act on.

The three engines word their errors differently (prefixes, padded trace columns, which frame
is the error site), may quote any value the program touched, and rjsonnet leaves the location
out of several messages. This module turns an engine's raw error into kpb's one message:
``environment 'dev': file:line:column: summary`` plus a short trace, redacted as a whole, at
the import itself when an import failed, with the location borrowed from another engine when
the failing one gave none.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kubeprom_build.errors import BuildError, KpbError
from kubeprom_build.rendering.engine import TRAITS, available_engines
from kubeprom_build.rendering.extvars import missing_variable
from kubeprom_build.rendering.imports import (
    Importer,
    ImportFailure,
    ImportRefusedError,
    is_placeholder,
)
from kubeprom_build.rendering.redaction import MIN_LENGTH, Redactor

#: Evaluates the environment again with the named engine: its raw error, or None if it succeeds.
Rerun = Callable[[str], str | None]

_TRACE_LINES = 8


def failure(
    env: str,
    raw: str,
    engine: str,
    importer: Importer,
    secrets: Redactor,
    rerun: Rerun,
    *,
    large_library: Callable[[], bool],
) -> KpbError:
    """The error to report when ``engine`` failed with ``raw``.

    A refused import is named as such, a missing one at the import itself; otherwise the
    engine's message is cut (:func:`engine_message`) and, when ``engine`` gave no location,
    ``rerun`` borrows one from another engine (not a slow one when ``large_library()``).
    """
    if importer.refused is not None:
        return ImportRefusedError(f"environment {env!r}: {importer.refused}")
    failed = importer.failed_in(raw)
    if failed is not None:
        return BuildError(secrets.redact(_import_message(env, failed, raw, importer)))
    location, located_by = _error_location(engine, raw), None
    if location is None:
        location, located_by = _borrow_location(engine, rerun, large_library)
    return BuildError(engine_message(env, raw, secrets, location=location, located_by=located_by))


def silent_failure(env: str, importer: Importer, secrets: Redactor) -> KpbError | None:
    """The error for an import that failed while the evaluation succeeded, if any.

    ``importstr``/``importbin`` of a refused or missing file evaluate without an error.
    """
    if importer.refused is not None:
        return ImportRefusedError(f"environment {env!r}: {importer.refused}")
    if importer.failures:
        failed = next(iter(importer.failures.values()))
        return BuildError(secrets.redact(_import_message(env, failed, "", importer)))
    return None


def _borrow_location(
    failed: str, rerun: Rerun, large_library: Callable[[], bool]
) -> tuple[str | None, str | None]:
    """Evaluate again with an engine that reports locations; only ever on the error path.

    rjsonnet leaves the location out of some messages (a missing field above all). go (else
    cpp, unless the library is large: it is slow there) evaluates the same files through a
    fresh importer; the first location of its error is the one kpb shows, attributed to it.
    """
    for name in available_engines():  # fastest first
        traits = TRAITS[name]
        if name == failed or not traits.reports_error_site:
            continue
        if traits.slow and large_library():
            continue
        raw = rerun(name)
        if raw is None:
            return None, None  # it evaluates fine there: the engines disagree, nothing to borrow
        location = _error_location(name, raw)
        if location is not None:
            return location, name
    return None, None


def _import_message(env: str, failed: ImportFailure, raw: str, importer: Importer) -> str:
    """ "file:line:column: cannot find ..." for a failed import, at the import itself.

    The engine's first real frame (its placeholder frame is not a file) is the import; an
    ``importstr`` that evaluated without an error is found in the importing folder's files.
    """
    frames = [ln for ln in raw.strip().splitlines()[1:] if not is_placeholder(ln)]
    found = _locations("\n".join(frames))  # not the first line: it quotes the import path
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
    location = location or _first_location(raw)
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
    first = _locations(summary)
    if first and first[0] == location and summary.startswith(location):
        summary = summary[len(location) :].lstrip(" -0123456789:")
    # A trace line that only repeats the location already in the summary says nothing.
    trace = [f"  {ln}" for ln in lines[1:] if ln != location and not is_placeholder(ln)]
    trace = trace[:_TRACE_LINES]
    return secrets.redact("\n".join([f"environment {env!r}: {where}{summary}{borrowed}", *trace]))


#: ``file:line:column``, or go/cpp's ``file:(line:column)-(line:column)`` for a multi-line span.
_LOCATION = re.compile(
    r"(?P<file>[^\s:()]+):(?:(?P<line>\d+):(?P<col>\d+)|\((?P<pline>\d+):(?P<pcol>\d+)\))"
)
# rjsonnet frames that are the error site itself: a bare location (syntax errors), an assert
# or an ``error``. Others ("field <x> access", "variable <x> access", "function <f> call")
# belong to the enclosing field, variable or call whose evaluation failed somewhere below.
_RS_SITE = re.compile(r"^\s*\S+:\d+:\d+(?:-\d+)?(?:: (?:assertion failure|error statement))?\s*$")


def _locations(text: str) -> list[str]:
    """Every location in ``text`` as ``file:line:column``, in order."""
    return [_shown(m) for m in _LOCATION.finditer(text)]


def _shown(match: re.Match[str]) -> str:
    return f"{match['file']}:{match['line'] or match['pline']}:{match['col'] or match['pcol']}"


def _first_location(raw: str) -> str | None:
    """The first location an engine's message gives, never one quoted in the error text.

    A static error starts with its location (go: ``file:l:c-c msg``, cpp: ``STATIC ERROR:
    file:l:c: msg``); otherwise locations are taken from the trace lines only, since the
    first line is the program's own message and may contain anything.
    """
    lines = raw.strip().splitlines() or [""]
    static = _LOCATION.match(lines[0].removeprefix("STATIC ERROR: "))
    if static is not None:
        return _shown(static)
    found = _locations("\n".join(lines[1:]))
    return found[0] if found else None


def _error_location(name: str, raw: str) -> str | None:
    """Where the error happened, as ``file:line:column``, if engine ``name`` says it.

    go and cpp put the error site first (see :func:`_first_location`). rjsonnet pushes no
    frame of its own for many errors (a missing field, an index out of bounds, an arithmetic
    type error, a bad call): its first frame is then the field, variable or call whose lazy
    evaluation failed, often far from the error (measured on kube-prometheus: the place
    that read ``replicas``, 60 lines below the missing field). Only a syntax error, an
    assert, an ``error`` and an undefined variable carry their own site; for everything
    else this returns None and the caller looks elsewhere.
    """
    if TRAITS[name].reports_error_site:
        return _first_location(raw)
    lines = raw.strip().splitlines() or [""]
    frames = [ln for ln in lines[1:] if ln.startswith("    ")]
    if not frames:
        return None
    own = _RS_SITE.match(frames[0]) or lines[0].startswith("variable is not defined: ")
    found = _locations(frames[0]) if own else []
    return found[0] if found else None
