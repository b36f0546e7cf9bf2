"""The one exception family kpb raises for expected failures, and every exit code kpb uses.

Core modules raise these; only the CLI turns them into a one-line message. Each class carries
its exit code, so the mapping from failure to code lives here and nowhere else, and library
callers can still catch precise types.
"""

from __future__ import annotations

EXIT_OK = 0
#: A check found differences: ``build --check``, ``diff``, ``vendor --verify``.
EXIT_DIFFERENCES = 1
#: The command line itself is wrong (unknown option, missing argument): click's own code.
EXIT_USAGE = 2
#: The input is wrong or unusable: a project file, jsonnet, a remote, the network, a busy lock.
EXIT_INPUT = 3
#: The project is not ready to build: vendor/ is missing or does not match the lock.
EXIT_NOT_READY = 4
#: An internal error (a bug in kpb); sysexits' EX_SOFTWARE.
EXIT_BUG = 70
#: Interrupted (Ctrl-C / SIGINT), as shells report 128 + SIGINT.
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 differences found (build --check, diff, vendor --verify) or invalid "
    "manifests (validate, build --validate); 2 usage "
    "error; 3 input error (project file, jsonnet, remote or network, project busy); 4 not "
    "ready (vendor/ missing or stale: run 'kpb vendor'); 130 interrupted; 70 bug in kpb."
)


class KpbError(Exception):
    """An expected failure with a message meant for the user (one line, names the culprit)."""

    exit_code: int = EXIT_INPUT
    #: Short machine-readable name for ``--json`` (``error.kind``).
    kind: str = "error"


class ConfigError(KpbError):
    """A project file (jsonnetfile, lock, environment, CLI argument) is malformed or unsafe."""

    kind = "config"


class GitError(KpbError):
    """A git operation failed: unreachable remote, unknown version, missing object."""

    kind = "git"


class IntegrityError(KpbError):
    """Downloaded or vendored content does not match the sum recorded in the lock."""

    kind = "integrity"


class BuildError(KpbError):
    """Evaluating an environment or rendering its output failed."""

    kind = "build"


class BusyError(KpbError):
    """Another kpb process holds the project lock (``--wait SECONDS`` waits for it)."""

    kind = "busy"


class NotReadyError(KpbError):
    """The project cannot be built yet: vendor/ is missing or differs from the lock."""

    exit_code = EXIT_NOT_READY
    kind = "not_ready"


class OutOfDateError(KpbError):
    """A check found differences (``--verify``, ``build --check``); nothing was changed."""

    exit_code = EXIT_DIFFERENCES
    kind = "out_of_date"


class InvalidError(KpbError):
    """Validation found errors in the manifests (``validate``, ``build --validate``).

    ``report`` carries what the validation found, through pickling too (a build validates in
    worker processes), so the CLI can list the findings of an environment that failed.
    """

    exit_code = EXIT_DIFFERENCES
    kind = "invalid"

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message, report)

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def report(self) -> object:
        return self.args[1]
