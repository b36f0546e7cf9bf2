"""Running the real ``kpb`` command (in-process or as a child) and checking how it refuses input."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.errors import EXIT_INPUT


def kpb(project: Path, *args: str) -> int:
    """``kpb -C PROJECT ARGS...`` in this process; returns the exit code."""
    return run(["-C", str(project), *args])


def memory_limit(limit: int = 2 << 30) -> Callable[[], None]:
    """A ``preexec_fn`` capping a child kpb's address space at ``limit`` bytes, so an
    unbounded read fails in the child instead of exhausting the machine."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def refusal(args: list[str], capsys: pytest.CaptureFixture[str], *, absent: str = "") -> str:
    """Run ``kpb ARGS``; it must fail as an input error with one ``error:`` line, no traceback,
    and ``absent`` (e.g. data that must not be quoted) nowhere in its output.

    Returns that line, for the caller's checks of what it names.
    """
    capsys.readouterr()
    code = run(args)
    err = capsys.readouterr().err
    assert code == EXIT_INPUT, err
    assert "Traceback" not in err
    assert not absent or absent not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, err
    return errors[0]


def killed_when(project: Path, seen: Callable[[], bool], *args: str) -> bool:
    """Start ``kpb -C PROJECT ARGS...`` as a process and SIGKILL it as soon as ``seen()`` holds
    (polled every millisecond); False when it ended first.

    Killing on an observed state, not after a fixed delay, is what lets a test name the moment
    it interrupted and check that it really got there.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeprom_build", "-C", str(project), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if seen():
                proc.send_signal(signal.SIGKILL)
                return True
            time.sleep(0.001)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
