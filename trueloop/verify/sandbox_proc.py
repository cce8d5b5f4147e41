"""One spawned sandbox process as the worker sees it (trusted side; standard library only).

Used by `sandbox_session.py`: the pipes to and from the child (commands, result frames,
stdout+stderr, and for a stdin/stdout program its input), its pidfd, and what it sent so far.
The template reaps a child only when asked, so the pidfd always names the right process.
"""

import json
import os
import signal


class Child:
    """A spawned sandbox process as the worker sees it: pipes, pidfd, buffered frames."""

    def __init__(self, template, role, uid, wd, cpu_s, pidns, stdin=None):
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        theirs = [cmd_r, out_w, res_w]
        self.stdin_w, self.stdin_left = None, b""
        if stdin is not None:
            in_r, self.stdin_w = os.pipe()
            theirs.append(in_r)
            self.stdin_left = stdin.encode("utf-8", "surrogateescape")
            os.set_blocking(self.stdin_w, False)
        self.pid = template.spawn({"role": role, "uid": uid, "wd": wd, "cpu_s": cpu_s}, theirs)
        self.pidfd = os.pidfd_open(self.pid)  # the template reaps only when asked: no pid reuse
        for fd in theirs:
            os.close(fd)
        os.set_blocking(cmd_w, False)
        self.template, self.cmd_w, self.res_r, self.out_r = template, cmd_w, res_r, out_r
        self.pidns = pidns
        self.pending = b""
        self.rbuf = b""
        self.frames = []
        self.out = bytearray()
        self.res_bytes = 0
        self.status = None
        self.open = {res_r, out_r}

    def send(self, obj):
        self.pending += (json.dumps(obj) + "\n").encode()
        self._flush()

    def feed_stdin(self):
        """Write more of the program's input; close the pipe (EOF) once all of it is in."""
        if self.stdin_w is None:
            return
        try:
            self.stdin_left = self.stdin_left[os.write(self.stdin_w, self.stdin_left[:1 << 16]):]
        except BlockingIOError:
            return
        except BrokenPipeError:
            self.stdin_left = b""
        if not self.stdin_left:
            os.close(self.stdin_w)
            self.stdin_w = None

    def _flush(self):
        if self.pending and self.cmd_w is not None:
            try:
                self.pending = self.pending[os.write(self.cmd_w, self.pending):]
            except BlockingIOError:
                pass
            except BrokenPipeError:
                self.pending = b""

    def kill(self):
        if self.status is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self):
        if self.status is None:
            self.status = self.template.reap(self.pid)
        return self.status

    def close(self):
        self.kill()
        if not self.pidns:  # no PID namespace: end the process group it leads (setsid)
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self.reap()
        for fd in (self.pidfd, self.cmd_w, self.res_r, self.out_r, self.stdin_w):
            if fd is not None:
                os.close(fd)
        self.cmd_w = self.stdin_w = None
