"""Command-line interface: the typer app and its commands, loaded when first used.

:func:`main` (the ``kpb`` console script) first lets :mod:`kubeprom_build.cli.fastpath`
answer a no-op ``kpb vendor`` or ``kpb build`` without loading typer and rich at all; every
other command line, and any it declines, runs the app. The names below import the app with
every command registered on it.
"""

from __future__ import annotations

import importlib
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubeprom_build.cli import build_cmds, validate_cmds, vendor_cmds
    from kubeprom_build.cli.app import app, run

__all__ = ["app", "build_cmds", "main", "run", "validate_cmds", "vendor_cmds"]


def _terminated(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point: a no-op answered at once, anything else by the app."""
    # As the app does (cli.app.main): SIGTERM ends kpb like Ctrl-C.
    signal.signal(signal.SIGTERM, _terminated)
    from kubeprom_build.cli import fastpath

    code = fastpath.answer(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    importlib.import_module(f"{__name__}.build_cmds")
    importlib.import_module(f"{__name__}.vendor_cmds")
    importlib.import_module(f"{__name__}.validate_cmds")
    from kubeprom_build.cli.app import main as app_main

    app_main()


def __getattr__(name: str) -> Any:
    if name not in ("app", "run"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    importlib.import_module(f"{__name__}.build_cmds")
    importlib.import_module(f"{__name__}.vendor_cmds")
    importlib.import_module(f"{__name__}.validate_cmds")
    value = getattr(importlib.import_module(f"{__name__}.app"), name)
    globals()[name] = value
    return value
