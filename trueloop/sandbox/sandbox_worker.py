"""A pre-started sandbox worker: `python -I -S sandbox_worker.py CONFIG_JSON`.

Started and driven only by `trueloop.sandbox` (see its docstring for the threat model).
Standard library only. Once, at start-up, the worker (running as root) moves itself into fresh
mount/network/IPC/UTS namespaces, brings up loopback and chroots into a minimal read-only root
holding the Python *standard library only* (site-packages, ctypes and the test modules masked)
and the system libraries it links against; no /proc, /etc, /home, /root or the repository.

Pristine template. Before it reads any job, the worker starts its template
(`sandbox_template.py`): a *fresh interpreter* exec'd inside the chroot, as PID 1 of its own
PID namespace, with `no_new_privs` and the seccomp deny list (`sandbox_seccomp.py`: keyring,
ptrace/process_vm_*, SysV IPC and message queues, namespaces, mounts) already in force, and
without ctypes. The template never receives a job, a value or a result: the worker hands it
pipe ends and a few integers (uid, limits), it forks the child, and the child reads its commands
from the pipe itself. So every child starts from memory that never held another job's data and
holds no ctypes code. Each child runs on its own uid (one per job, drawn from the worker's
range) with rlimits and a fresh tmpfs working directory (`noexec`, size-capped) that is
unmounted after the job, so nothing a job wrote (a 1,500-deep directory chain included) is ever
walked in Python; at the end of a job the template, init of its namespace, kills every process
the job left (daemons and `setsid` children included). The job's conversation is
`sandbox_session.py`. Where a step is not allowed (not root), the worker says which
protections are in force in its hello message and falls back.
"""

import ctypes
import fcntl
import glob
import json
import os
import select
import signal
import socket
import stat
import struct
import sys

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID = 0x20000, 0x40000000, 0x20000000
CLONE_NEWIPC, CLONE_NEWUTS = 0x08000000, 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
LIB_DIRS = ("/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/bin",
            "/usr/bin")
MASKS = ("site-packages", "dist-packages", "ctypes", "test", "idlelib", "tkinter", "ensurepip",
         "lib-dynload/_ctypes*", "lib-dynload/_test*", "lib-dynload/xxlimited*")
# inside the stdlib: no third-party packages, no ctypes, no test modules
DEV_NODES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
WORK_ROOT = "/sbx"
UIDS_PER_WORKER = 256

libc = ctypes.CDLL(None, use_errno=True)
OWN_PIDNS = [-1]


def _check(rc):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def mount(src, dst, fstype, flags, data=""):
    _check(libc.mount(src.encode(), dst.encode(), fstype.encode(), flags, data.encode()))


def _loopback_up():
    """ioctl(SIOCSIFFLAGS, IFF_UP|IFF_LOOPBACK|IFF_RUNNING) on `lo` in the new network namespace."""
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


def _mask(path):
    """Hide `path` (inside an already bound tree) behind an empty read-only mount."""
    if os.path.isdir(path) and not os.path.islink(path):
        mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k")
    elif os.path.isfile(path):
        mount("/dev/null", path, "", MS_BIND)


def _python_dirs(lib_dir):
    """Python installations under a system library dir (their packages must not be visible)."""
    return [p for p in glob.glob(f"{lib_dir}/python*") if os.path.isdir(p)]


def isolate(cfg):
    """Namespaces + chroot, once per worker. Returns the protections in force."""
    prot = {"pid_namespace": False, "net_namespace": False, "chroot": False,
            "unprivileged_uid": False, "seccomp": False,
            "tmpfs_mb": 0, "stdlib_only": False}
    if os.geteuid() != 0 or not cfg["isolate"]:
        return prot
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS))
    _loopback_up()
    prot["net_namespace"] = True
    mount("", "/", "", MS_REC | MS_PRIVATE)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    root = "/tmp/root"
    os.mkdir(root)
    stdlib = os.path.dirname(os.__file__)
    exe = os.path.realpath(sys.executable)  # the template is a fresh interpreter in the chroot
    libpython = glob.glob(os.path.join(sys.base_prefix, "lib", "libpython*.so*"))
    for src in [*LIB_DIRS, stdlib, exe, *libpython, *DEV_NODES]:
        covered = any(src.startswith(d + "/") for d in LIB_DIRS if os.path.isdir(root + d))
        if os.path.lexists(src) and not covered and not os.path.lexists(root + src):
            _bind_ro(src, root)
    for lib in ("/usr/lib", "/usr/lib64", "/lib", "/lib64"):
        if os.path.isdir(root + lib) and not os.path.islink(root + lib):
            for p in _python_dirs(root + lib):
                if os.path.realpath(p) != os.path.realpath(root + stdlib):
                    _mask(p)
    for pattern in MASKS:
        for p in glob.glob(f"{root}{stdlib}/{pattern}"):
            _mask(p)
    os.makedirs(root + WORK_ROOT, mode=0o711)
    os.chroot(root)
    os.chdir("/")
    prot.update(chroot=True, unprivileged_uid=True, stdlib_only=True,
                tmpfs_mb=cfg["tmpfs_mb"])
    prot["pid_namespace"] = _try_pid_namespace()
    return prot


def _try_pid_namespace():
    try:
        _check(libc.unshare(CLONE_NEWPID))
        _check(libc.setns(OWN_PIDNS[0], CLONE_NEWPID))
        return True
    except OSError:
        return False


BOOTSTRAP = (
    "import json, os, sys, types\n"
    "chunks = []\n"
    "while (b := os.read(4, 1 << 16)):\n"
    "    chunks.append(b)\n"
    "os.close(4)\n"
    "for name, src in json.loads(b''.join(chunks)):\n"
    "    m = types.ModuleType(name)\n"
    "    sys.modules[name] = m\n"
    "    exec(compile(src, f'<{name}>', 'exec'), m.__dict__)\n"
    "sys.modules['sandbox_template'].main(json.loads(sys.argv[1]))\n")
TEMPLATE_MODULES = ("sandbox_wire", "sandbox_child", "sandbox_checker", "sandbox_template")


class Template:
    """The worker's handle on its pristine template (`sandbox_template.py`): a fresh
    interpreter exec'd inside the chroot as PID 1 of its own PID namespace, with no_new_privs
    and seccomp, that forks every child. Its messages are replies and exit events."""

    def __init__(self, cfg, sources, keep_closed):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        src_r, src_w = os.pipe()
        pidns = cfg["prot"]["pid_namespace"]
        if pidns:
            _check(libc.unshare(CLONE_NEWPID))
        self.pid = os.fork()
        if self.pid == 0:
            try:
                _exec_template(cfg, theirs.fileno(), src_r, [*keep_closed, ours.fileno(), src_w])
            finally:
                os._exit(70)
        if pidns:
            _check(libc.setns(OWN_PIDNS[0], CLONE_NEWPID))
        theirs.close()
        os.close(src_r)
        data = json.dumps(sources).encode()
        while data:
            data = data[os.write(src_w, data):]
        os.close(src_w)
        self.sock = ours
        self.events = []

    def _recv(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise OSError("the sandbox template died")
        return json.loads(data)

    def _until(self, key):
        while True:
            m = self._recv()
            if key in m:
                return m
            self.events.append(m)

    def spawn(self, req, fds):
        socket.send_fds(self.sock, [json.dumps({"spawn": req}).encode()], fds)
        return self._until("pid")["pid"]

    def kill(self, pid):
        self.sock.send(json.dumps({"kill": pid}).encode())

    def end_job(self):
        """Kill and reap whatever the job left behind; its exit events are in `events`."""
        self.sock.send(json.dumps({"end_job": True}).encode())
        self._until("ended")

    def poll(self):
        """Exit events received so far (read without blocking)."""
        while select.select([self.sock], [], [], 0)[0]:
            self.events.append(self._recv())
        out, self.events = self.events, []
        return out


def _exec_template(cfg, sock_fd, src_fd, close):
    """In the forked child: fds 3 (control) and 4 (sources), death with the worker, no new
    privileges, seccomp; then a fresh interpreter (nothing of the worker's memory survives)."""
    for fd in close:
        os.close(fd)
    hi_sock = fcntl.fcntl(sock_fd, fcntl.F_DUPFD, 10)
    hi_src = fcntl.fcntl(src_fd, fcntl.F_DUPFD, 10)
    os.dup2(hi_sock, 3)
    os.dup2(hi_src, 4)
    os.closerange(5, 1 << 16)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0))
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    if cfg["prot"]["seccomp"] and not sandbox_seccomp.install(libc):
        raise OSError("seccomp filter refused")
    exe = os.path.realpath(sys.executable)
    os.execv(exe, [exe, "-I", "-S", "-c", BOOTSTRAP, json.dumps(cfg)])


class Workdirs:
    """A fresh working directory per job: its own tmpfs (isolated) or a host temp dir."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.isolated = cfg["prot"]["chroot"]

    def make(self, counter, uid):
        if not self.isolated:
            import tempfile

            wd = tempfile.mkdtemp(prefix="trueloop-sbx-")
            return wd
        wd = f"{WORK_ROOT}/{counter}"
        os.mkdir(wd, 0o700)
        mount("tmpfs", wd, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              f"size={self.cfg['tmpfs_mb']}m,mode=700,uid={uid},gid={uid}")
        return wd

    def remove(self, wd):
        if self.isolated:
            _check(libc.umount2(wd.encode(), MNT_DETACH))
            os.rmdir(wd)
            return
        try:
            wipe(wd)
        except OSError as e:  # degraded mode: a leftover on the host, said on stderr
            print(f"sandbox worker: could not remove {wd}: {e}", file=sys.stderr)


def wipe(top):
    """Delete a directory tree without recursion, open-file or path-length limits: one
    directory fd at a time, moving down by name and back up through `..`."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    names = []
    while True:
        sub = None
        for name in os.listdir(fd):
            if stat.S_ISDIR(os.lstat(name, dir_fd=fd).st_mode):
                sub = name
                break
            os.unlink(name, dir_fd=fd)
        if sub is not None:
            child = os.open(sub, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            names.append(sub)
            continue
        if not names:
            os.close(fd)
            os.rmdir(top)
            return
        parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = parent
        os.rmdir(names.pop(), dir_fd=fd)


def _seccomp_works():
    """Install the filter in a throw-away child: is it accepted on this kernel?"""
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 and sandbox_seccomp.install(libc)
        finally:
            os._exit(0 if ok else 1)
    return os.waitpid(pid, 0)[1] == 0


def _read_exact(f, n):
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))  # a raw pipe returns at most what is there
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv(f):
    head = _read_exact(f, 4)
    if head is None:
        return None
    body = _read_exact(f, struct.unpack("<I", head)[0])
    return None if body is None else json.loads(body)


def _send(fd, obj):
    data = json.dumps(obj).encode()
    data = struct.pack("<I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def main():
    global sandbox_seccomp, sandbox_session
    cfg = json.loads(sys.argv[1])
    sys.path.append(cfg["here"])  # after the stdlib: trueloop/verify has a `numbers.py`
    import sandbox_seccomp
    import sandbox_session

    sys.path.remove(cfg["here"])
    sources = []  # read before the chroot hides the repository
    for name in TEMPLATE_MODULES:
        with open(os.path.join(cfg["here"], name + ".py")) as f:
            sources.append((name, f.read()))

    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    OWN_PIDNS[0] = os.open("/proc/self/ns/pid", os.O_RDONLY) if os.geteuid() == 0 else -1
    cfg["prot"] = prot = isolate(cfg)
    cfg["uids_per_worker"] = UIDS_PER_WORKER
    prot["seccomp"] = prot["chroot"] and _seccomp_works()
    template = Template(cfg, sources, [proto_in.fileno(), proto_out])
    _send(proto_out, {"hello": prot})
    workdirs = Workdirs(cfg)
    counter = 0
    while (job := _recv(proto_in)) is not None:
        if job.get("stdin_runs") is not None:
            report, counter = sandbox_session.run_programs(job, cfg, template, workdirs, counter)
        else:
            counter += 1
            uid = cfg["uid"] + (2 * counter) % UIDS_PER_WORKER
            wd = workdirs.make(counter, uid)
            report = sandbox_session.run(job, cfg, template, (uid, uid + 1), wd)
            workdirs.remove(wd)
        _send(proto_out, report)


if __name__ == "__main__":
    main()
