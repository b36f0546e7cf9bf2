"""``kpb-jb``: jsonnet-bundler's command line, run by kpb, for tools that drive ``jb``.

Renovate and other bots run ``jb update <remote>/<subdir>`` or ``jb install URI``. Pointing
them at ``kpb-jb`` (or linking it as ``jb``) runs kpb with jb's grammar unchanged: jb works in
the current directory (never a parent project), ``--jsonnetpkg-home`` is the vendor dir, and
``init`` writes only jsonnetfile.json. jb flags kpb does not implement fail with exit 2 naming
them, rather than being ignored. Other exit codes are kpb's (docs/json.md, ``kpb --help``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from kubeprom_build import __version__
from kubeprom_build.cli import build_cmds, vendor_cmds  # noqa: F401  (registers the commands)
from kubeprom_build.cli.app import run
from kubeprom_build.errors import EXIT_OK, EXIT_USAGE

USAGE = """\
usage: kpb-jb [--jsonnetpkg-home=DIR] [-q] COMMAND [ARGS]

jsonnet-bundler (jb) compatible front end of kpb, for tools that run jb.

Commands:
  init                                  create jsonnetfile.json (kpb init --minimal)
  install [URI...] [--single] [--legacy-name NAME]
                                        add dependencies, then vendor (kpb install)
  update [URI...]                       move dependencies, rewrite the lock (kpb update)

Flags:
  --jsonnetpkg-home=DIR                 vendor directory (default vendor)
  -q, --quiet                           print only errors
  -h, --help                            this help
  --version                             kpb's version

Example (Renovate's jsonnet-bundler manager):
  kpb-jb update https://github.com/prometheus-operator/kube-prometheus.git/jsonnet/kube-prometheus
"""

_COMMAND_FLAGS = {
    "init": {},
    "install": {"--single": "--single", "-1": "--single", "--legacy-name": "--legacy-name"},
    "update": {},
}
_TAKES_VALUE = {"--legacy-name", "--jsonnetpkg-home"}


class _Usage(Exception):
    """A command line kpb-jb does not accept."""


def translate(argv: Sequence[str]) -> list[str]:
    """The ``kpb`` command line that does what ``jb argv`` does."""
    globals_: list[str] = ["-C", "."]  # jb works in the current directory, like jb
    command: str | None = None
    rest: list[str] = []
    unsupported: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        flag, eq, value = arg.partition("=")
        if flag in _TAKES_VALUE and not eq:
            if i + 1 >= len(args):
                raise _Usage(f"{flag} needs a value")
            value, i = args[i + 1], i + 1
        i += 1
        if flag == "--jsonnetpkg-home":
            globals_ += ["--vendor-dir", value]
        elif arg in ("-q", "--quiet"):
            globals_.append("-q")
        elif command is None and not arg.startswith("-"):
            if arg not in _COMMAND_FLAGS:
                raise _Usage(f"unsupported jb command {arg!r} (kpb-jb runs init, install, update)")
            command = arg
        elif command is not None and not arg.startswith("-"):
            rest.append(arg)
        elif command is not None and flag in _COMMAND_FLAGS[command]:
            rest += [_COMMAND_FLAGS[command][flag], *([value] if flag in _TAKES_VALUE else [])]
        else:
            unsupported.append(arg)
    if unsupported:
        raise _Usage(f"unsupported jb flag(s): {', '.join(unsupported)}")
    if command is None:
        raise _Usage("no command given (init, install or update)")
    if command == "init":
        if rest:
            raise _Usage(f"init takes no arguments: {' '.join(rest)}")
        rest = ["--minimal"]
    return [*globals_, command, *rest]


def run_jb(argv: Sequence[str]) -> int:
    """Run ``kpb-jb argv`` and return the exit code."""
    if any(arg in ("-h", "--help") for arg in argv):
        sys.stdout.write(USAGE)
        return EXIT_OK
    if "--version" in argv:
        sys.stdout.write(f"kpb-jb (kpb {__version__})\n")
        return EXIT_OK
    try:
        translated = translate(argv)
    except _Usage as err:
        sys.stderr.write(f"kpb-jb: error: {err}; see 'kpb-jb --help'\n")
        return EXIT_USAGE
    return run(translated)


def main() -> None:
    """Console-script entry point ``kpb-jb``."""
    sys.exit(run_jb(sys.argv[1:]))


if __name__ == "__main__":
    main()
