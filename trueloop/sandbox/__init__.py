"""The only module that runs untrusted code: a pool of pre-started, isolated sandbox workers.

`Sandbox(limits, workers).run_many(jobs)` runs each `Job` (a Python source plus test calls to
evaluate, and asserts that could not be split) on fresh sandbox children and returns a `Run`
per job: how it ended (decided by the worker, never by the child), each call's value decoded
type-strictly in this (trusted) process, each unsplit assert's verdict from the checker
process, flags from the fixed vocabulary `sandbox_wire.FLAGS`, and capped output.

Design. Each worker is one `python -I -S sandbox_worker.py` process (no site, no user env,
common modules pre-imported) that enters new mount/net/IPC/UTS namespaces and chroots into a
read-only root holding the standard library only. Before any job it starts a pristine
template (a fresh interpreter, no ctypes, seccomp in force); per job the template forks a
candidate child (the submission, serving calls one command at a
time, `sandbox_child.py`) and, for unsplit asserts, a checker child (test code only, calling the
candidate through proxies, `sandbox_checker.py`); the conversation is `sandbox_session.py`. A
fork of a warm template costs about a millisecond, not an interpreter start; workers run in
parallel, one per core.

Threat model (the code under test is adversarial; the verifier runs as root on Linux).
Covered:
- escaping the run: the whole process tree dies with the run (the template is init of a PID
  namespace and kills everything a job left at its end); wall
  clock per command and per job enforced by the worker, outside the child; RLIMIT_CPU/AS/
  FSIZE/NOFILE/NPROC, core dumps off; fork/thread bombs (NPROC on a per-job unprivileged uid);
- data crossing between jobs: every child is forked from a template that never held a job, a
  value or a result (a fresh interpreter, not a fork of the worker), so reading its own memory
  finds only its own job, and it holds no ctypes code; the keyring, ptrace,
  process_vm_readv/writev, System V IPC, message queues, namespaces and mounts are denied by
  seccomp; each job runs on its own uid; each job writes to its own size-capped,
  `noexec` tmpfs, unmounted after the job (no memory left behind, no tree walked);
- forged results: each command carries a fresh random nonce and replies must come in order
  with the awaited nonce; anything else on the channel is `hack:patched`; the worker alone
  decides that a run ended normally (every command answered, `finish` included), and an early
  end is `hack:exit`;
- verdicts: no test's pass/fail is decided in the submission's process. Values are compared
  here; unsplit asserts run in a checker process with no submission code, on plain values;
- hostile values: decoding is linear and bounded (depth, hash floods refused, ranges checked);
  a malformed value fails its test and is never an exception here;
- flags: a fixed vocabulary; unknown names are dropped and counted, text is cleaned and capped;
- output floods: stdout/stderr and the result channel are capped; over the cap = killed;
- network: a private network namespace with only loopback (nothing on the host reachable);
- secrets: scrubbed environment, no /proc, /etc, /home, /root, site-packages, ctypes or the
  repository in the chroot; the uid cannot signal or ptrace the worker or another job.
Not covered:
- kernel exploits and side channels (use gVisor/Firecracker-class isolation for that);
- run-time flags (audit hook, tamper checks) are best effort: a submission can silence them.
  They never decide a pass; the static scan and the worker's own flags cannot be silenced;
- memory accounting across processes (RLIMIT_AS is per process; NPROC bounds the product);
- CPU fairness between concurrent runs (no cgroup; a spinning run costs one core until killed);
- seccomp is x86_64 only (elsewhere `protections["seccomp"]` is false, and a job could leave
  System V IPC objects, via a binary such as `ipcmk`, for a later job of the same worker);
- without root (or where namespaces are refused) the worker falls back to rlimits, a
  throw-away directory on the host and a process-group kill: daemons that `setsid` can escape,
  the network and the host filesystem are reachable, and the child runs under the verifier's
  own uid (it can signal it; as root RLIMIT_NPROC does not hold). This is logged as a warning
  and recorded in `Run.protections`, which the code verifier copies into every verdict.
"""

from __future__ import annotations

import itertools
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

from trueloop.sandbox import sandbox_wire as wire

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
UID_BASE = 1_000_000
UIDS_PER_WORKER = 256
UID_SPAN = 4096 * UIDS_PER_WORKER
# sandbox uids lie in [UID_BASE, UID_BASE + UID_SPAN): 4096 worker slots of 256 per-job uids
BACKSTOP_S = 30.0
# a worker that has not answered this long after a run's own deadline is declared hung
BUDGET_FACTOR = 3.0
# default wall-clock budget of a whole job: this many times its per-command timeout
_WORKER_SLOTS = itertools.count((os.getpid() * 64) % 4096)
decode_value = wire.decode


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 2.0
    # wall clock per command (loading the program, one test), enforced from outside the child
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
    # per-job writable tmpfs


@dataclass(frozen=True)
class Job:
    source: str
    # the untrusted program
    calls: tuple[str, ...] = ()
    # expressions evaluated after `source`; each value comes back type-strictly
    stmts: tuple[str, ...] = ()
    # asserts that could not be split: run whole in the checker process (no submission code),
    # with the names in `proxied` forwarded to the candidate; pass = no exception
    setup: str = ""
    # trusted code run after `source` and before the checker's asserts (imports the tests need)
    timeout_s: float | None = None
    # per command; overrides SandboxLimits.timeout_s
    budget_s: float | None = None
    # wall clock for the whole job; None = BUDGET_FACTOR * timeout
    expect: tuple[tuple[str, float, Any] | None, ...] = ()
    # per call, (check, tol, expected) for `fail_fast`; None = never stop on that call
    fail_fast: bool = False
    # stop at the first call failing its `expect` or the first failing unsplit assert
    order: tuple[int, ...] = ()
    # the order of tests: i >= 0 is calls[i], -j-1 is stmts[j]; () = calls, then stmts
    proxied: tuple[str, ...] = ()
    # the names the submission provides: test calls see only these (and pristine builtins),
    # the checker's proxies forward only these; () = every name (a trusted source)
    helpers: str = ""
    # trusted code the checker runs after `setup`: the test helpers (`verify.code.binding`)
    stdin_runs: tuple[str, ...] | None = None
    # a stdin/stdout program: run `source` as __main__ once per input, each in a fresh child and
    # working directory (no calls or stmts then); `timeout_s` per run
    expect_stdout: tuple[tuple[str, str, float], ...] = ()
    # per input, (expected stdout, comparison, tolerance) for `fail_fast` (kept in the worker)
    output_bytes: int | None = None
    # overrides SandboxLimits.output_bytes (a program's stdout can be large)


@dataclass(frozen=True)
class ProgramRun:
    """One run of a stdin/stdout program. `ended`: done (exited by itself) | timeout | crash |
    output_limit | file_limit; `status` is its exit status when it exited."""

    ended: str
    status: int | None
    stdout: str
    wall_s: float


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    value: Any = None
    error: str | None = None
    # exception name, "nonplain:<Type>", "missing" or "undecodable"


@dataclass(frozen=True)
class Run:
    """How one job ended. `ended`: done | exited | signal | crash | timeout | output_limit |
    result_limit | file_limit. Only `done` means the candidate answered every command."""

    ended: str
    calls: tuple[CallOutcome, ...]
    stmts: tuple[bool, ...]
    load_error: str | None
    flags: frozenset[str]
    why: tuple[str, ...]
    output: str
    wall_s: float
    protections: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    # fail-fast stopped before the last test (the tests after it count as not passed)
    unknown_flags: int = 0
    # flag names the child sent that are not in the vocabulary (dropped)
    programs: tuple[ProgramRun, ...] = ()
    # a stdin/stdout job: one run per input (fewer after a fail-fast stop)


class SandboxError(RuntimeError):
    """A worker died or broke protocol: a bug or a host problem, never the submission's doing."""


class _Worker:
    def __init__(self, slot: int, limits: SandboxLimits, isolate: bool) -> None:
        cfg = {**asdict(limits), "isolate": isolate, "here": str(HERE),
               "uid": UID_BASE + (slot % 4096) * UIDS_PER_WORKER}
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
        for _ in range(self.size):
            self._spawn()
        self.protections = self._all[0].protections
        if not (self.protections["pid_namespace"] and self.protections["net_namespace"]):
            log.warning("SANDBOX DEGRADED: namespaces unavailable (%s); daemons may outlive a "
                        "run and the network is reachable. Run as root on Linux.",
                        self.protections)

    def _spawn(self) -> None:
        w = _Worker(next(_WORKER_SLOTS), self.limits, self.isolate)
        with self._lock:
            self._all.append(w)
        self._idle.put(w)

    def run(self, job: Job) -> Run:
        timeout = job.timeout_s or self.limits.timeout_s
        budget = job.budget_s or BUDGET_FACTOR * timeout * (
            max(len(job.stdin_runs), 1) if job.stdin_runs else 1)
        msg = {"source": job.source, "calls": list(job.calls), "stmts": list(job.stmts),
               "setup": job.setup, "timeout_s": timeout, "budget_s": budget,
               "expect": [None if e is None else [e[0], e[1], wire.encode(e[2])]
                          for e in job.expect] or None,
               "fail_fast": job.fail_fast, "order": list(job.order) or None,
               "proxied": list(job.proxied), "helpers": job.helpers,
               "output_bytes": job.output_bytes,
               "stdin_runs": None if job.stdin_runs is None else list(job.stdin_runs),
               "expect_stdout": [list(e) for e in job.expect_stdout] or None}
        w = self._idle.get()
        try:
            raw = w.call(msg, limit_s=budget + BACKSTOP_S)
        except (SandboxError, OSError) as e:
            self._replace(w)
            raise SandboxError(f"sandbox worker failed: {e}") from e
        self._idle.put(w)
        return parse_run(raw, len(job.calls), len(job.stmts), w.protections)

    def run_many(self, jobs: list[Job]) -> list[Run]:
        return list(self._pool.map(self.run, jobs))

    def _replace(self, w: _Worker) -> None:
        with self._lock:
            self._all.remove(w)
        w.proc.kill()
        w.close()
        self._spawn()

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
    """Turn a worker report into a Run; every value passes through `wire.decode` here."""
    calls = [_call_outcome(c) for c in raw["calls"][:n_calls]]
    calls += [CallOutcome(False, error="missing")] * (n_calls - len(calls))
    stmts = [s is True for s in raw["stmts"][:n_stmts]]
    load = raw.get("load")
    load_error = None if not load or load["ok"] else (load.get("err") or "error")
    return Run(ended=raw["ended"], calls=tuple(calls),
               stmts=tuple(stmts + [False] * (n_stmts - len(stmts))), load_error=load_error,
               flags=frozenset(f for f in raw["flags"] if f in wire.FLAGS),
               why=tuple(wire.clean(w) for w in raw["why"]), output=raw["output"],
               wall_s=raw["wall_s"], protections=prot, stopped_early=raw["stopped_early"],
               unknown_flags=raw["unknown_flags"],
               programs=tuple(ProgramRun(p["ended"], p["status"], p["stdout"], p["wall_s"])
                              for p in raw.get("programs", ())))


def _call_outcome(c: dict[str, Any] | None) -> CallOutcome:
    if c is None:
        return CallOutcome(False, error="missing")
    if "v" in c:
        try:
            return CallOutcome(True, value=wire.decode(c["v"]))
        except wire.WireError:
            return CallOutcome(False, error="undecodable")
    if "nonplain" in c:
        return CallOutcome(False, error=f"nonplain:{c['nonplain']}")
    return CallOutcome(False, error=c.get("err") or "error")
