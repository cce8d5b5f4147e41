"""The pristine template: a fresh interpreter that forks every sandbox child (no ctypes in it).

Started by `sandbox_worker.py` with `python -I -S -c BOOTSTRAP`: a fresh interpreter (not a
fork of the worker), already inside the worker's namespaces and chroot, as PID 1 of its own PID
namespace, with `no_new_privs` and the seccomp filter in force (both inherited by every child).
The bootstrap reads the harness modules' sources from fd 4 (this file, `sandbox_wire`,
`sandbox_child`, `sandbox_checker`), so nothing here needs the repository, and nothing here
imports ctypes: the children, forked from this process, have no ctypes code in memory at all.

The template never receives a job, a value or a result. On its control socket (fd 3) it gets
`spawn` requests (a role, a uid, a working directory, a CPU limit, and the child's pipe ends
as SCM_RIGHTS), `kill` requests and `end_job`; it sends `{"pid": P}` replies and, whenever a
child exits, `{"exit": P, "status": S}`. At `end_job` it kills every process left in its PID
namespace (it is their init: daemons and `setsid` children included) and reaps them.
Standard library only.
"""

import fcntl
import json
import os
import resource
import select
import signal
import socket
import sys

SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
PREIMPORT = ("math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
             "operator", "typing", "fractions", "decimal", "statistics", "random", "copy",
             "dataclasses", "datetime", "unicodedata", "array", "hashlib", "textwrap", "enum")


def main(cfg):
    for name in PREIMPORT:
        __import__(name)
    sock = socket.socket(fileno=3)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    init = os.getpid() == 1
    mine, group = set(), []
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(sock, mine)
        if sock in ready:
            msg, fds, _, _ = socket.recv_fds(sock, 4096, 4)
            if not msg:
                return
            req = json.loads(msg)
            if "spawn" in req:
                pid = os.fork()
                if pid == 0:
                    _child(req["spawn"], fds, cfg)
                for fd in fds:
                    os.close(fd)
                mine.add(pid)
                group.append(pid)
                sock.send(json.dumps({"pid": pid}).encode())
            elif "kill" in req:
                _kill(req["kill"], init)
            elif "end_job" in req:
                _end_job(init, group)
                _reap(sock, mine, block=True)
                group.clear()
                sock.send(json.dumps({"ended": True}).encode())


def _kill(pid, init):
    try:
        if init:
            os.kill(pid, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGKILL)  # no PID namespace: the child leads its own group
    except OSError:
        pass


def _end_job(init, group):
    """Kill what the job left: as init of the namespace, everything but ourselves."""
    if init:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        return
    for pid in group:
        _kill(pid, False)


def _reap(sock, mine, block=False):
    """Reap every exited process (orphans included: we are init); report our children."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in mine:
            mine.discard(pid)
            sock.send(json.dumps({"exit": pid, "status": status}).encode())


def _child(req, fds, cfg):
    """Runs in the forked child: its pipes, working directory, limits and uid; then the harness."""
    code = 70
    try:
        cmd_r, out_w, res_w, *stdin = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        program = req["role"] == "program"  # stdin from the worker, stderr never compared
        for src, dst in ((stdin[0] if stdin else null, 0), (out_w, 1),
                         (null if program else out_w, 2), (res_w, 3), (cmd_r, 4)):
            os.dup2(src, dst)
        os.closerange(5, 1 << 16)
        os.chdir(req["wd"])
        _set_limits(req, cfg)
        if cfg["prot"]["unprivileged_uid"]:
            uid = req["uid"]
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        os.environ.clear()
        os.environ.update(SAFE_ENV, HOME=req["wd"], TMPDIR=req["wd"])
        code = 71
        harness = sys.modules["sandbox_child"]
        if program:
            code = harness.run_program(4) & 0xFF
        else:
            (harness if req["role"] == "candidate" else sys.modules["sandbox_checker"]).serve(4, 3)
            code = 0
    finally:
        os._exit(code)


def _set_limits(req, cfg):
    mb = 1 << 20
    cpu = int(req["cpu_s"])
    for res, value in ((resource.RLIMIT_AS, cfg["memory_mb"] * mb),
                       (resource.RLIMIT_CPU, cpu),
                       (resource.RLIMIT_FSIZE, cfg["file_mb"] * mb),
                       (resource.RLIMIT_NOFILE, cfg["open_files"]),
                       (resource.RLIMIT_NPROC, cfg["processes"]),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value + 1 if res == resource.RLIMIT_CPU else value))
