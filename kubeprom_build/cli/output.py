"""How kpb ends when stdout cannot be written, the same on the fast path and the full CLI.

Kept apart from ``cli.app`` so the fast path can use it without loading typer and rich.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

from kubeprom_build.errors import EXIT_INPUT


def stdout_failed(err: OSError) -> int:
    """End as rich does for its own output: a closed pipe (``kpb build dev | head -0``)
    quietly with exit 1, a full disk or anything else with one error line. stdout then goes to
    /dev/null, so the flush at exit cannot fail again (with a traceback)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    if err.errno == errno.EPIPE:
        return 1
    message = os.strerror(err.errno).lower() if err.errno else "cannot write the output"
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return EXIT_INPUT
