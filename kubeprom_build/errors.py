"""The one exception family kpb raises for expected failures.

Core modules raise these; only the CLI turns them into a one-line message and an exit code, so a
user mistake never shows a traceback and library callers can still catch precise types.
"""

from __future__ import annotations


class KpbError(Exception):
    """An expected failure with a message meant for the user (one line, names the culprit)."""

    exit_code: int = 1


class ConfigError(KpbError):
    """A project file (jsonnetfile, lock, environment, CLI argument) is malformed or unsafe."""


class GitError(KpbError):
    """A git operation failed: unreachable remote, unknown version, missing object."""


class IntegrityError(KpbError):
    """Downloaded or vendored content does not match the sum recorded in the lock."""


class BuildError(KpbError):
    """Evaluating an environment or rendering its output failed."""


class BusyError(KpbError):
    """Another kpb process holds the project lock."""


class OutOfDateError(KpbError):
    """A check found differences (``--verify``, ``build --check``); nothing was changed."""


class NotReadyError(KpbError):
    """The project is not ready to build: vendor/ is missing or differs from the lock."""

    exit_code = 4
