"""The typer application, the global options and the one place that maps errors to exit codes.

Only modules under ``kubeprom_build.cli`` import typer and rich; everything below returns data
or raises :class:`~kubeprom_build.errors.KpbError`.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kubeprom_build import __version__, fsutil
from kubeprom_build.errors import KpbError

EXIT_INTERRUPTED = 130
EXIT_BUG = 70
# A full or read-only disk is the machine's state, not a bug: one line, exit 1 (vendoring and
# building stage every write and publish by rename, so what was in place stays intact).
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})

app = typer.Typer(
    name="kpb",
    help=(
        "Vendor jsonnet dependencies (jsonnet-bundler compatible) and build kube-prometheus "
        "environments into Kubernetes manifests.\n\n"
        "Typical use: 'kpb vendor' then 'kpb build prd'. Run 'kpb COMMAND --help' for details."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class GlobalOptions:
    """Options every command shares, resolved once in the callback."""

    project: Path
    vendor_dir: Path
    quiet: bool
    wait_seconds: float


def _version(value: bool) -> None:
    if value:
        stdout.print(f"kpb {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    project: Annotated[
        Path,
        typer.Option(
            "-C",
            "--project",
            help="Project directory holding jsonnetfile.json, environments/ and manifests/.",
            show_default="current directory",
        ),
    ] = Path(),
    vendor_dir: Annotated[
        str,
        typer.Option(
            "--vendor-dir",
            "--jsonnetpkg-home",
            help="Vendor directory, relative to the project (jb's --jsonnetpkg-home).",
        ),
    ] = "vendor",
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print only warnings, errors and results.")
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help="How long to wait for another kpb process working on this project.",
        ),
    ] = 0.0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Resolve the global options for the subcommands."""
    root = project.resolve()
    if not root.is_dir():
        raise KpbError(f"project directory {str(project)!r} does not exist")
    vendor = Path(vendor_dir)
    if vendor.is_absolute() or ".." in vendor.parts:
        raise KpbError(f"--vendor-dir {vendor_dir!r} must be a relative path inside the project")
    # Before any command runs: 'kpb vendor' prunes this directory, and it is a library dir.
    checked = fsutil.check_vendor_dir(root, vendor_dir)
    ctx.obj = GlobalOptions(project=root, vendor_dir=checked, quiet=quiet, wait_seconds=wait)


def options(ctx: typer.Context) -> GlobalOptions:
    """The :class:`GlobalOptions` of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; every failure mode is decided here."""
    try:
        result = app(args=argv, standalone_mode=False)
    except KpbError as err:
        stderr.print(f"[bold red]error:[/] {escape(str(err))}", markup=True, highlight=False)
        return err.exit_code
    except typer.Exit as done:
        return done.exit_code
    except (KeyboardInterrupt, typer.Abort):
        stderr.print("interrupted")
        return EXIT_INTERRUPTED
    except typer.TyperException as usage:
        show = getattr(usage, "show", None)
        if callable(show):
            show()
        else:
            stderr.print(f"error: {usage}")
        return usage.exit_code
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:  # the machine, not a bug
            where = f" ({exc.filename})" if exc.filename else ""
            stderr.print(f"error: {os.strerror(exc.errno).lower()}{where}", markup=False)
            return 1
        stderr.print("kpb hit an internal error (a bug); please report it with this trace:")
        stderr.print(traceback.format_exc(limit=-8), markup=False)
        return EXIT_BUG
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    if os.environ.get("NO_COLOR") is None and not sys.stderr.isatty():
        os.environ.setdefault("NO_COLOR", "1")
    sys.exit(run())
