"""A pre-started sandbox worker: `python -I -S sandbox_worker.py CONFIG_JSON`.

Started and driven only by `trueloop.verify.sandbox` (see its docstring for the threat model).
Standard library only. Once, at start-up, the worker (running as root) moves itself into fresh
mount/network/IPC/UTS namespaces, brings up loopback, mounts a size-capped tmpfs and chroots
into a minimal read-only root (the Python prefix, /usr, /lib*, a few /dev nodes; no /proc, /etc,
/home, /root or /work). It pre-imports common modules, then serves jobs read from fd 0 as
length-prefixed JSON. Per job it forks one child into a *new PID namespace* (it is PID 1 there,
so when it ends the kernel kills every process it spawned, daemons and setsid children
included), in a fresh working directory, with rlimits, no new privileges and an unprivileged
uid; it enforces the wall clock from outside, caps captured output and result bytes, and
reports how the child ended. Where a step is not allowed (not root), the worker says which
protections are in force in its hello message and falls back to a process-group kill.
"""

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID = 0x20000, 0x40000000, 0x20000000
CLONE_NEWIPC, CLONE_NEWUTS = 0x08000000, 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 32, 4096, 16384, 1 << 18)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
ROOT_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin")
DEV_NODES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
PREIMPORT = ("math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
             "operator", "typing", "fractions", "decimal", "statistics", "random", "copy",
             "dataclasses", "datetime", "unicodedata", "array", "hashlib", "textwrap", "enum")
WORK_ROOT = "/sbx"

libc = ctypes.CDLL(None, use_errno=True)


def _check(rc):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def mount(src, dst, fstype, flags, data=""):
    _check(libc.mount(src.encode(), dst.encode(), fstype.encode(), flags, data.encode()))


def _loopback_up():
    """ioctl(SIOCSIFFLAGS, IFF_UP|IFF_LOOPBACK|IFF_RUNNING) on `lo` in the new network namespace."""
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", 0x1 | 0x8 | 0x40))


def _bind_ro(src, root):
    dst = root + src
    if os.path.islink(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.symlink(os.readlink(src), dst)
        return
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "w").close()
    mount(src, dst, "", MS_BIND | MS_REC)
    mount("", dst, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | (MS_NODEV if
          not src.startswith("/dev/") else 0))


def isolate(cfg):
    """Namespaces + chroot, once per worker. Returns the protections in force."""
    prot = {"pid_namespace": False, "net_namespace": False, "chroot": False,
            "unprivileged_uid": False, "tmpfs_mb": 0}
    if os.geteuid() != 0 or not cfg["isolate"]:
        return prot
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS))
    _loopback_up()
    prot["net_namespace"] = True
    mount("", "/", "", MS_REC | MS_PRIVATE)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmpfs_mb']}m,mode=755")
    root = "/tmp/root"
    os.mkdir(root)
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for src in [*ROOT_DIRS, *sorted(prefixes), *DEV_NODES]:
        covered = any(src.startswith(d + "/") for d in ROOT_DIRS if os.path.isdir(root + d))
        if os.path.lexists(src) and not covered and not os.path.lexists(root + src):
            _bind_ro(src, root)
    os.makedirs(root + WORK_ROOT, mode=0o711)
    os.chroot(root)
    os.chdir("/")
    prot.update(chroot=True, tmpfs_mb=cfg["tmpfs_mb"], unprivileged_uid=True)
    prot["pid_namespace"] = _try_pid_namespace()
    return prot


def _try_pid_namespace():
    try:
        _check(libc.unshare(CLONE_NEWPID))
        _check(libc.setns(OWN_PIDNS[0], CLONE_NEWPID))
        return True
    except OSError:
        return False


OWN_PIDNS = [-1]


def child(job, cfg, wd, out_w, res_w, harness):
    """Runs in the forked child: drop everything, then hand over to the harness."""
    code = 70
    try:
        os.setsid()
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.dup2(res_w, 3)
        os.closerange(4, 1 << 16)
        os.chdir(wd)
        _set_limits(job, cfg)
        if cfg["prot"]["unprivileged_uid"]:
            uid = cfg["uid"]
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0))
        os.environ.clear()
        os.environ.update(SAFE_ENV, HOME=wd, TMPDIR=wd)
        code = 71
        harness(job, 3)
        code = 0
    finally:
        os._exit(code)


def _set_limits(job, cfg):
    timeout = job.get("timeout_s") or cfg["timeout_s"]
    cpu = int(timeout) + 1
    mb = 1 << 20
    for res, value in ((resource.RLIMIT_AS, cfg["memory_mb"] * mb),
                       (resource.RLIMIT_CPU, cpu),
                       (resource.RLIMIT_FSIZE, cfg["file_mb"] * mb),
                       (resource.RLIMIT_NOFILE, cfg["open_files"]),
                       (resource.RLIMIT_NPROC, cfg["processes"]),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value + 1 if res == resource.RLIMIT_CPU else value))


def run_job(job, cfg, harness, counter):
    """Fork one child for `job`, watch it from outside, and report how it ended."""
    wd = f"{WORK_ROOT}/{counter}" if cfg["prot"]["chroot"] else _host_workdir()
    os.makedirs(wd, mode=0o700, exist_ok=True)
    if cfg["prot"]["unprivileged_uid"]:
        os.chown(wd, cfg["uid"], cfg["uid"])
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    pidns = cfg["prot"]["pid_namespace"]
    start = time.perf_counter()
    if pidns:
        _check(libc.unshare(CLONE_NEWPID))
    pid = os.fork()
    if pid == 0:
        child(job, cfg, wd, out_w, res_w, harness)
    if pidns:
        _check(libc.setns(OWN_PIDNS[0], CLONE_NEWPID))
    os.close(out_w)
    os.close(res_w)
    timeout = job.get("timeout_s") or cfg["timeout_s"]
    report = _watch(pid, out_r, res_r, start + timeout, cfg)
    if not pidns:
        _killpg(pid)
    report["wall_s"] = time.perf_counter() - start
    shutil.rmtree(wd, ignore_errors=True)
    return report


def _host_workdir():
    import tempfile

    return tempfile.mkdtemp(prefix="trueloop-sbx-")


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _watch(pid, out_r, res_r, deadline, cfg):
    """Read output/results with caps until the child and all writers are gone or time is up."""
    bufs = {out_r: bytearray(), res_r: bytearray()}
    caps = {out_r: cfg["output_bytes"], res_r: cfg["result_bytes"]}
    pidfd = os.pidfd_open(pid)
    open_fds = {out_r, res_r}
    status = None
    killed = None
    while open_fds or status is None:
        left = deadline - time.perf_counter()
        if left <= 0 and killed is None:
            killed = "timeout"
            os.kill(pid, signal.SIGKILL)
        wait_fds = list(open_fds) + ([pidfd] if status is None else [])
        ready, _, _ = select.select(wait_fds, [], [], max(left, 0) if killed is None else 1.0)
        if not ready and killed is not None and status is not None:
            break  # writers outside a PID namespace may linger; the pgroup kill ends them
        for fd in ready:
            if fd == pidfd:
                status = os.waitpid(pid, 0)[1]
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            if len(bufs[fd]) <= caps[fd]:
                bufs[fd] += chunk
            if len(bufs[fd]) > caps[fd] and killed is None:
                killed = "output_limit" if fd == out_r else "result_limit"
                os.kill(pid, signal.SIGKILL)
    for fd in (pidfd, out_r, res_r):
        os.close(fd)
    return {"killed": killed, "status": status,
            "output": bytes(bufs[out_r][: caps[out_r]]).decode("utf-8", "replace"),
            "results": bytes(bufs[res_r][: caps[res_r]]).decode("utf-8", "replace")}


def _recv(f):
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    return json.loads(f.read(n))


def _send(fd, obj):
    data = json.dumps(obj).encode()
    data = struct.pack("<I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def main():
    cfg = json.loads(sys.argv[1])
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    ns = {"__name__": "trueloop_sandbox_child"}
    with open(cfg["child_path"]) as f:
        exec(compile(f.read(), cfg["child_path"], "exec"), ns)
    for name in PREIMPORT:
        __import__(name)
    OWN_PIDNS[0] = os.open("/proc/self/ns/pid", os.O_RDONLY) if os.geteuid() == 0 else -1
    cfg["prot"] = isolate(cfg)
    _send(proto_out, {"hello": cfg["prot"]})
    counter = 0
    while (job := _recv(proto_in)) is not None:
        counter += 1
        _send(proto_out, run_job(job, cfg, ns["main"], counter))


if __name__ == "__main__":
    main()
