"""A hard wall-clock limit for trusted-but-unbounded work (sympy on model answers).

`signal.alarm` only works on the main thread and cannot interrupt C code, so the work runs in
long-lived worker processes (`python -m trueloop.verify.math.timeout FD`): a call sends
`(module:function, args)` over a socket and waits at most `timeout_s`; a worker that does not
answer in time is SIGKILLed and a replacement starts at once in the background. Workers are plain
subprocesses, not `multiprocessing` children, so they never re-import the caller's `__main__`
script and never inherit its threads. A worker announces itself once its imports are done, and a
call's clock starts only then. Idle workers wait in a queue, so calls from several threads each
get their own worker and run in parallel.

Covered: hangs and huge computations in sympy (killed), memory blow-up (RLIMIT_AS in the worker,
reported as `TimedOut(why="memory")`), a worker that dies (`TimedOut(why="died")`, a warning is
logged, a fresh worker takes over). A Python exception in the called function is a bug in
trueloop and is re-raised in the caller as RuntimeError.
Not covered: untrusted *code* (that is `sandbox/__init__.py`); the work here is our own functions.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import queue
import resource
import socket
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

WORKER_MEMORY_BYTES = 4 << 30
# address-space limit of each worker
STARTUP_S = 60.0
# how long a starting worker may take to import sympy (not counted in a call's time limit)
PRELOAD = ("sympy", "trueloop.verify.math.symbolic")


@dataclass(frozen=True)
class TimedOut:
    """The call did not finish: it ran out of time, of memory, or its worker died."""

    seconds: float
    why: str = "time"


def _serve(fd: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    for name in PRELOAD:
        importlib.import_module(name)
    conn = Connection(fd)
    conn.send(("ready", None))
    while True:
        try:
            target, args = conn.recv()
        except EOFError:
            return
        module, name = target.split(":")
        try:
            conn.send(("ok", getattr(importlib.import_module(module), name)(*args)))
        except MemoryError:  # RLIMIT_AS reached: the input was too big, not our bug
            conn.send(("memory", None))
        except Exception:  # a bug in our own function: re-raised in the caller
            conn.send(("error", traceback.format_exc()))


class _Worker:
    def __init__(self) -> None:
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trueloop.verify.math.timeout", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.ready = False

    def wait_ready(self) -> None:
        if self.ready:
            return
        if not self.conn.poll(STARTUP_S) or self.conn.recv()[0] != "ready":
            raise RuntimeError(f"verification worker did not start within {STARTUP_S:g}s")
        self.ready = True

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5.0)
        self.conn.close()


class WorkerPool:
    """Run `module:function` calls in killable worker processes with a per-call time limit."""

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()

    def _take(self) -> _Worker:
        try:
            worker = self._idle.get_nowait()
        except queue.Empty:
            worker = self._start()
        worker.wait_ready()
        return worker

    def _start(self) -> _Worker:
        worker = _Worker()
        with self._lock:
            self._all.add(worker)
        return worker

    def call(self, target: str, args: tuple, timeout_s: float) -> Any:
        """The function's result, or `TimedOut` (the worker is killed). Bugs raise RuntimeError."""
        worker = self._take()
        try:
            worker.conn.send((target, args))
            ready = worker.conn.poll(timeout_s)
            status, value = worker.conn.recv() if ready else ("timeout", None)
        except (EOFError, OSError):  # killed from outside (OOM killer) or crashed in C code
            status, value = "died", None
        if status in ("timeout", "memory", "died"):
            self._retire(worker)
            self._idle.put(self._start())  # warms up while the caller goes on
            if status == "died":
                log.warning("verification worker died while running %s%r", target, args)
            return TimedOut(timeout_s, "time" if status == "timeout" else status)
        self._idle.put(worker)
        if status == "error":
            raise RuntimeError(f"{target} raised in the verification worker:\n{value}")
        return value

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)

    def close(self) -> None:
        for worker in list(self._all):
            self._retire(worker)


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> WorkerPool:
    """The process-wide pool (created on first use, closed at exit)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = WorkerPool()
            atexit.register(_POOL.close)
    return _POOL


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
