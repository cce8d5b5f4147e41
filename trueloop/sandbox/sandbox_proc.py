"""One spawned sandbox process as the worker sees it (trusted side; standard library only).

Used by `sandbox_session.py`: the pipes to and from the child (commands, result frames,
stdout+stderr, and for a stdin/stdout program its input), its exit status, and what it sent so
far. The template (`sandbox_template.py`) forks, kills and reaps it: the worker never signals a
pid itself, and pids are those of the template's namespace.
"""

import json
import os


class Child:
    """A spawned sandbox process as the worker sees it: pipes, exit status, buffered frames.
    The template forks, kills and reaps it; `status` is set from the template's exit event."""

    def __init__(self, template, role, uid, wd, cpu_s, stdin=None):
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
        for fd in theirs:
            os.close(fd)
        os.set_blocking(cmd_w, False)
        self.template, self.cmd_w, self.res_r, self.out_r = template, cmd_w, res_r, out_r
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
            self.template.kill(self.pid)

    def close(self):
        self.kill()
        for fd in (self.cmd_w, self.res_r, self.out_r, self.stdin_w):
            if fd is not None:
                os.close(fd)
        self.cmd_w = self.stdin_w = None
