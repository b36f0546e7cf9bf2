"""Run one function over several items in worker processes, and end them at once when stopped.

kpb builds several environments in parallel in processes, not threads: rjsonnet holds the GIL
while it evaluates (measured: a Python thread got ~16% of its free-running speed during an
evaluation; the Go and C++ bindings release it), and YAML rendering is Python code.

The workers start through the ``forkserver`` (no fork of a process that runs a progress
thread) and each serves items one after another over a pipe of its own, so the start-up cost
(imports, the ``__main__`` module) is paid once per worker. kpb starts and keeps these processes
itself, so ending them needs only public calls (``Process.terminate``), and a worker that dies
(out of memory, killed) is seen at once: its sentinel fires with nothing on its pipe. Workers
ignore SIGINT: on Ctrl-C kpb ends them, and one stuck in a native evaluation would not see
SIGINT for minutes anyway. What a worker logs to the ``kpb`` logger travels over the same pipe
and is handled in kpb's process, so ``-q``, ``-v`` and ``--json`` treat it like everything else.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

_END_SECONDS = 5.0  # SIGTERM ends a worker at once; SIGKILL only if it somehow does not
_LOGGER = "kpb"


class WorkerDied(Exception):
    """The process working on ``item`` ended without a result."""

    def __init__(self, item: object) -> None:
        super().__init__("a worker process died")
        self.item = item


@dataclass
class _Worker:
    process: BaseProcess
    pipe: Connection
    index: int | None = None  # the item it works on; None: idle, told to end


def run(
    func: Callable[[_T], _R],
    items: Sequence[_T],
    workers: int,
    *,
    preload: Sequence[str] = (),
    started: Callable[[_T], None] | None = None,
    finished: Callable[[_T], None] | None = None,
) -> list[_R]:
    """``[func(item) for item in items]``, with up to ``workers`` items at a time in processes.

    ``func`` and the items must pickle (``func`` by reference: a module-level function or a
    ``functools.partial`` of one); ``preload`` names modules the forkserver imports once for
    every worker. An exception ``func`` raises is raised here; a worker that dies raises
    :class:`WorkerDied`. On any exception, Ctrl-C included, every worker is ended before it
    propagates.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", *preload])  # only before the server starts
    waiting = deque(enumerate(items))
    pool: list[_Worker] = []
    results: dict[int, _R] = {}
    try:
        for _ in range(max(1, min(workers, len(items)))):
            pool.append(_start(context, func))
        for worker in pool:
            _give(worker, waiting, started)
        while busy := [w for w in pool if w.index is not None]:
            for worker in _ready(busy):
                index = worker.index
                assert index is not None
                done, value = _receive(worker, items[index])
                if not done:
                    continue  # a log record: the worker is still busy
                results[index] = value
                if finished is not None:
                    finished(items[index])
                _give(worker, waiting, started)
    except BaseException:
        _end(pool)
        raise
    for worker in pool:
        worker.process.join()
        _close(worker)
    return [results[index] for index in range(len(items))]


def _start(context: ForkServerContext, func: Callable[[_T], _R]) -> _Worker:
    mine, theirs = context.Pipe()
    level = logging.getLogger(_LOGGER).getEffectiveLevel()
    process = context.Process(target=_serve, args=(func, theirs, level), daemon=True)
    try:
        process.start()
    finally:
        theirs.close()  # the worker holds the only other end: its exit means end of file here
    return _Worker(process, mine)


def _give(
    worker: _Worker, waiting: deque[tuple[int, _T]], started: Callable[[_T], None] | None
) -> None:
    """Send ``worker`` the next item, or None (end) when there is none left."""
    if not waiting:
        worker.index = None
        with contextlib.suppress(OSError):  # it is gone already: nothing left to tell it
            worker.pipe.send(None)
        return
    index, item = waiting.popleft()
    worker.index = index
    try:
        worker.pipe.send(item)
    except OSError:  # died while idle
        raise WorkerDied(item) from None
    if started is not None:
        started(item)


def _ready(busy: list[_Worker]) -> list[_Worker]:
    """The busy workers that sent a result or ended, once at least one did."""
    ready = wait([handle for w in busy for handle in (w.pipe, w.process.sentinel)])
    return [w for w in busy if w.pipe in ready or w.process.sentinel in ready]


def _receive(worker: _Worker, item: object) -> tuple[bool, Any]:
    """One message from ``worker``: ``(True, result)``, or ``(False, None)`` for a log record."""
    try:
        kind, ok, value = worker.pipe.recv()
    except (EOFError, OSError):  # ended without a word: killed, or out of memory
        raise WorkerDied(item) from None
    if kind == "log":
        logging.getLogger(value.name).handle(value)
        return False, None
    if not ok:
        raise value
    return True, value


class _PipeHandler(logging.Handler):
    """In a worker: send each record to kpb, formatted here (its arguments may not pickle)."""

    def __init__(self, pipe: Connection, lock: threading.Lock, level: int) -> None:
        super().__init__(level)
        self._pipe = pipe
        self._lock = lock

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        record.exc_info = record.exc_text = record.stack_info = None
        with contextlib.suppress(Exception), self._lock:  # kpb gone: nobody left to tell
            self._pipe.send(("log", True, record))


def _serve(func: Callable[[_T], _R], pipe: Connection, level: int) -> None:
    """In a worker: run ``func`` on each item, send back ``(True, result)``/``(False, error)``.

    Log records of the ``kpb`` logger at ``level`` or above go back too, between results; a
    lock keeps them whole when the evaluation thread logs while the main thread sends.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # kpb ends its workers itself
    lock = threading.Lock()
    logger = logging.getLogger(_LOGGER)
    logger.setLevel(level)
    logger.addHandler(_PipeHandler(pipe, lock, level))
    logger.propagate = False
    with contextlib.suppress(EOFError, OSError), pipe:  # EOF: kpb itself is gone
        while (item := pipe.recv()) is not None:
            try:
                outcome: tuple[bool, object] = (True, func(item))
            except BaseException as err:  # raised again in kpb
                outcome = (False, err)
            with lock:
                try:
                    pipe.send(("done", *outcome))
                except Exception:  # an exception (or a result) that does not pickle
                    what = type(outcome[1]).__name__
                    failed = RuntimeError(f"{what} in a worker could not be sent back")
                    pipe.send(("done", False, failed))


def _end(pool: list[_Worker]) -> None:
    """End every worker now; one stuck in a native evaluation would not stop for minutes.

    Safe for builds: publishing is atomic, and the next build removes any staging directory a
    worker leaves behind.
    """
    for worker in pool:
        worker.process.terminate()
    for worker in pool:
        worker.process.join(_END_SECONDS)
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join()
        _close(worker)


def _close(worker: _Worker) -> None:
    worker.pipe.close()
    worker.process.close()
