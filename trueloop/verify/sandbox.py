"""The only module that runs untrusted code: a pool of pre-started, isolated sandbox workers.

`Sandbox(limits, workers).run_many(jobs)` runs each `Job` (a Python source plus test calls to
evaluate) in its own throw-away child process and returns a `Run` per job: how the child ended,
each call's value decoded *type-strictly* in this (trusted) process, flags, and capped output.

Design. Each worker is one `python -I -S sandbox_worker.py` process (no site, no user env,
common modules pre-imported). At start it enters new mount/net/IPC/UTS namespaces, mounts a
size-capped tmpfs and chroots into a read-only minimal root. Per job it forks a child into a
fresh PID namespace (the child is PID 1 there), which drops to a per-worker unprivileged uid,
sets rlimits and `no_new_privs`, and runs `sandbox_child.main`. A fork of a warm interpreter
costs about a millisecond, not a fresh interpreter start; workers run in parallel, one per core.

Threat model (the code under test is adversarial; the verifier runs as root on Linux).
Covered:
- escaping the run: the whole process tree dies with the run (PID namespace: double-forked,
  `setsid` daemons included); wall clock enforced from the worker, outside the child; CPU-time
  (RLIMIT_CPU), address space (RLIMIT_AS), file size (RLIMIT_FSIZE), open files, core dumps off;
- fork/thread bombs: RLIMIT_NPROC on a per-worker unprivileged uid (enforced, unlike for root);
- disk: the writable area is a tmpfs of `tmpfs_mb` inside the worker's mount namespace, wiped
  after every run; nothing is written to the host filesystem;
- output floods: stdout/stderr and the result channel are capped; over the cap = killed;
- network: a private network namespace with only loopback (nothing on the host reachable);
- secrets: scrubbed environment (PATH, LANG, HOME, TMPDIR only), no /proc, /etc, /home,
  /root or the repository in the chroot; the uid cannot signal or ptrace the worker;
- killing the parent / process group: the child sees no parent (PID namespace) and runs as
  another uid; crashes (segfault, abort) of the interpreter only end that child.
Not covered:
- kernel exploits and side channels (use gVisor/Firecracker-class isolation for that);
- memory accounting across processes (RLIMIT_AS is per process; NPROC bounds the product);
- CPU fairness between concurrent runs (no cgroup; a spinning run costs one core until killed);
- without root (or where namespaces are refused) the worker falls back to rlimits, a
  throw-away directory on the host and a process-group kill: daemons that `setsid` can escape,
  the network and the host filesystem are reachable, and the child runs under the verifier's
  own uid (it can signal it; as root RLIMIT_NPROC does not hold). This is logged as a warning
  and recorded in `Run.protections`, which the code verifier copies into every verdict.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
CRASH_SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}
SIGXCPU, SIGXFSZ, SIGABRT = 24, 25, 6
UID_BASE = 1_000_000
BACKSTOP_S = 30.0
# a worker that has not answered this long after a run's own deadline is declared hung


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 2.0
    # wall clock per run, enforced from outside the child
    memory_mb: int = 512
    # RLIMIT_AS per process
    file_mb: int = 16
    # RLIMIT_FSIZE: largest file a run may write
    open_files: int = 64
    processes: int = 32
    # RLIMIT_NPROC for the run's uid (processes + threads)
    output_bytes: int = 64 * 1024
    # captured stdout+stderr; more kills the run
    result_bytes: int = 1 << 20
    # result-channel bytes; more kills the run
    tmpfs_mb: int = 64
    # per-worker writable tmpfs


@dataclass(frozen=True)
class Job:
    source: str
    # the untrusted program
    calls: tuple[str, ...] = ()
    # expressions evaluated after `source`; each value comes back type-strictly
    stmts: tuple[str, ...] = ()
    # statements (asserts that could not be split) run after the calls; pass = no exception
    setup: str = ""
    # trusted code run after `source` (imports the tests need)
    timeout_s: float | None = None
    # overrides SandboxLimits.timeout_s


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    value: Any = None
    error: str | None = None
    # exception name, "nonplain:<Type>", "missing" or "unencodable:..."


@dataclass(frozen=True)
class Run:
    """How one job ended. `ended`: done | exited | signal | crash | timeout | output_limit |
    result_limit | file_limit. Only `done` means the harness finished every call."""

    ended: str
    calls: tuple[CallOutcome, ...]
    stmts: tuple[bool, ...]
    load_error: str | None
    flags: frozenset[str]
    why: tuple[str, ...]
    output: str
    wall_s: float
    protections: dict[str, Any] = field(default_factory=dict)


class SandboxError(RuntimeError):
    """A worker died or broke protocol: a bug or a host problem, never the submission's doing."""


class _Worker:
    def __init__(self, index: int, limits: SandboxLimits, isolate: bool) -> None:
        uid = UID_BASE + (os.getpid() % 10_000) * 256 + index % 256
        # one uid per worker, so RLIMIT_NPROC of one run never starves another
        cfg = {**asdict(limits), "isolate": isolate, "uid": uid,
               "child_path": str(HERE / "sandbox_child.py")}
        exe = os.path.realpath(sys.executable)
        self.proc = subprocess.Popen([exe, "-I", "-S", str(HERE / "sandbox_worker.py"),
                                      json.dumps(cfg)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env={}, close_fds=True,
                                     bufsize=0)
        self.protections: dict[str, Any] = self._recv()["hello"]

    def call(self, job: dict[str, Any], limit_s: float) -> dict[str, Any]:
        data = json.dumps(job).encode()
        self.proc.stdin.write(struct.pack("<I", len(data)) + data)
        self.proc.stdin.flush()
        return self._recv(limit_s)

    def _recv(self, limit_s: float = 60.0) -> dict[str, Any]:
        """One length-prefixed reply; a worker silent past `limit_s` (it enforces the run's own
        deadline, so this is a backstop for a hung or dead worker) raises SandboxError."""
        deadline = time.monotonic() + limit_s
        head = self._read_exact(4, deadline)
        return json.loads(self._read_exact(struct.unpack("<I", head)[0], deadline))

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(fd, n - len(buf)) if ready else b""
            if not chunk:
                raise SandboxError(f"sandbox worker {self.proc.pid} died or hung "
                                   f"(rc={self.proc.poll()})")
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class Sandbox:
    """A pool of `workers` isolated workers (0 = one per CPU core). Thread-safe; close() it.
    `isolate=False` forces the degraded fallback (for tests of that path only)."""

    def __init__(self, limits: SandboxLimits | None = None, workers: int = 0,
                 isolate: bool = True) -> None:
        self.limits = limits or SandboxLimits()
        self.isolate = isolate
        self.size = workers or os.cpu_count() or 1
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="sandbox")
        for i in range(self.size):
            self._spawn(i)
        self.protections = self._all[0].protections
        if not (self.protections["pid_namespace"] and self.protections["net_namespace"]):
            log.warning("SANDBOX DEGRADED: namespaces unavailable (%s); daemons may outlive a "
                        "run and the network is reachable. Run as root on Linux.",
                        self.protections)

    def _spawn(self, index: int) -> None:
        w = _Worker(index, self.limits, self.isolate)
        with self._lock:
            self._all.append(w)
        self._idle.put(w)

    def run(self, job: Job) -> Run:
        w = self._idle.get()
        try:
            timeout = job.timeout_s or self.limits.timeout_s
            raw = w.call({"source": job.source, "calls": list(job.calls),
                          "stmts": list(job.stmts), "setup": job.setup,
                          "timeout_s": job.timeout_s}, limit_s=timeout + BACKSTOP_S)
        except (SandboxError, OSError) as e:
            self._replace(w)
            raise SandboxError(f"sandbox worker failed: {e}") from e
        self._idle.put(w)
        return parse_run(raw, len(job.calls), len(job.stmts), w.protections)

    def run_many(self, jobs: list[Job]) -> list[Run]:
        return list(self._pool.map(self.run, jobs))

    def _replace(self, w: _Worker) -> None:
        with self._lock:
            index = self._all.index(w)
            self._all.remove(w)
        w.proc.kill()
        w.close()
        self._spawn(index)

    def close(self) -> None:
        self._pool.shutdown()
        for w in self._all:
            w.close()
        self._all.clear()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_run(raw: dict[str, Any], n_calls: int, n_stmts: int, prot: dict[str, Any]) -> Run:
    """Turn a worker report into a Run; every value passes through `decode_value`."""
    calls: dict[int, CallOutcome] = {}
    stmts: dict[int, bool] = {}
    flags: set[str] = set()
    why: list[str] = []
    load_error = None
    done = False
    # the text after the last newline is a line cut short by a kill or the cap: not evidence
    for line in raw["results"].split("\n")[:-1]:
        ev = _parse_line(line)
        kind = ev.get("k") if ev else None
        if kind == "call" and _fresh(ev, calls, n_calls):
            calls[ev["i"]] = _call_outcome(ev)
        elif kind == "stmt" and _fresh(ev, stmts, n_stmts):
            stmts[ev["i"]] = ev.get("ok") is True
        elif kind == "flag" and isinstance(ev.get("f"), str):
            flags.add(ev["f"][:40])
            why.append(str(ev.get("why"))[:200])
        elif kind == "load" and ev.get("ok") is False:
            load_error = str(ev.get("err"))[:80]
        elif kind == "done":
            done = True
        elif kind not in ("load", "setup"):
            flags.add("hack:patched")
            why.append("malformed or duplicate line on the result channel")
    ended = _ended(raw, done)
    if ended in ("exited", "signal"):
        flags.add("hack:exit")
        why.append(f"process ended ({ended}) before the tests finished")
    return Run(ended=ended, load_error=load_error,
               calls=tuple(calls.get(i, CallOutcome(False, error="missing"))
                           for i in range(n_calls)),
               stmts=tuple(stmts.get(i, False) for i in range(n_stmts)),
               flags=frozenset(flags), why=tuple(why), output=raw["output"],
               wall_s=raw["wall_s"], protections=prot)


def _parse_line(line: str) -> dict[str, Any] | None:
    try:
        ev = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return ev if type(ev) is dict else None


def _fresh(ev: dict[str, Any], seen: dict[int, Any], n: int) -> bool:
    i = ev.get("i")
    return type(i) is int and 0 <= i < n and i not in seen


def _call_outcome(ev: dict[str, Any]) -> CallOutcome:
    if "v" in ev:
        try:
            return CallOutcome(True, value=decode_value(ev["v"]))
        except (ValueError, TypeError, RecursionError):
            return CallOutcome(False, error="undecodable")
    if "nonplain" in ev:
        return CallOutcome(False, error=f"nonplain:{str(ev['nonplain'])[:60]}")
    return CallOutcome(False, error=str(ev.get("err"))[:80])


def _ended(raw: dict[str, Any], done: bool) -> str:
    if raw["killed"]:
        return raw["killed"]
    status = raw["status"]
    if done:
        return "done"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == SIGXCPU:
            return "timeout"
        if sig == SIGXFSZ:
            return "file_limit"
        return "crash" if sig in CRASH_SIGNALS and sig != SIGABRT else "signal"
    return "exited"


_TAGS = {
    "t": lambda body: tuple(decode_value(x) for x in body),
    "s": lambda body: {decode_value(x) for x in body},
    "f": lambda body: frozenset(decode_value(x) for x in body),
    "d": lambda body: {decode_value(k): decode_value(v) for k, v in body},
    "b": lambda body: bytes.fromhex(body),
    "c": lambda body: complex(*(float(x) for x in body)),
}


def decode_value(x: Any) -> Any:
    """Rebuild a plain value from the wire. Only exact built-in types come out; anything else
    raises ValueError (so a rigged `__eq__` can never reach the comparison in this process)."""
    t = type(x)
    if x is None or t in (bool, int, float, str):
        return x
    if t is list:
        return [decode_value(v) for v in x]
    if t is dict and len(x) == 1:
        ((tag, body),) = x.items()
        if tag in _TAGS and (type(body) is list or (tag == "b" and type(body) is str)):
            return _TAGS[tag](body)
    raise ValueError(f"not a plain value on the wire: {str(x)[:80]}")
