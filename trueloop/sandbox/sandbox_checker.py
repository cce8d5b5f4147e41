"""The checker harness: judges asserts that cannot be split, in a process with no submission.

Imported by `sandbox_worker.py` before any job (standard library only). A checker child is a
sibling of the candidate child (same pristine template, its own uid); it runs trusted test code
only (the problem's setup and the assert, e.g. a whole HumanEval `check(candidate)`), with the
names the test takes from the submission (the entry point) bound to *proxies*. A proxy
call encodes its arguments type-strictly, asks the worker to forward the call to the candidate,
and gets back a plain decoded value (or the candidate's exception, re-raised as the builtin
exception of that name, else `CandidateError`). Every other name the test uses (a helper such
as HumanEval/32's `poly`, a module) is bound here from the problem's trusted text
(`verify.code.binding`), never from the submission. So a rigged `__eq__`/`__lt__`, a patched
`random`, a redefined helper, a swapped `compile` or a forged channel in the candidate never
reach the code that decides: the assert runs here, on plain data.

Commands (fd `cmd_fd`, one JSON line each) and replies (fd `res_fd`):
    {"n": N, "setup": CODE, "helpers": CODE, "names": [...]}  -> {"n": N, "ok": bool, ...}
    {"n": N, "stmt": CODE}                   -> {"n": N, "ok": bool, "err": ...}
        meanwhile: {"apply": NAME, "args": [...], "kw": {...}, "m": M} -> {"m": M, "v"/"err": ...}
    {"n": N, "finish": true}                 -> {"n": N, "ok": true}
Not covered: a test that mutates an argument in place and inspects it afterwards (the
candidate mutates its own copy), and arguments that are not plain values (lambdas, objects).
"""

import builtins
import json
import os

import sandbox_wire as wire

TEST = "<test>"


class CandidateError(Exception):
    """The candidate raised, timed out or returned something that is not a plain value."""


class _Channel:
    def __init__(self, cmd_fd, res_fd):
        self.cmd_fd, self.res_fd = cmd_fd, res_fd
        self.buf = b""
        self.seq = 0

    def send(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(self.res_fd, data):]

    def recv(self):
        while b"\n" not in self.buf:
            chunk = os.read(self.cmd_fd, 1 << 16)
            if not chunk:
                raise SystemExit(0)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def forward(self, name, args, kw):
        self.seq += 1
        try:
            body = {"args": wire.encode(list(args)), "kw": wire.encode(dict(kw))}
        except (wire.NonPlain, RecursionError) as e:
            raise CandidateError(f"argument is not a plain value: {e}") from None
        self.send({"apply": name, "m": self.seq, **body})
        reply = self.recv()
        if reply.get("m") != self.seq:
            raise CandidateError("out of order reply")
        if "v" in reply:
            return wire.decode(reply["v"])
        raise _exception(str(reply.get("err", "error")))


NOT_RAISED = (AssertionError, StopIteration, StopAsyncIteration)
# a candidate's StopIteration re-raised here would end the test's own loop early (`any(map(
# candidate, xs))` true with nothing computed), as PEP 479 stops it leaving a generator


def _exception(name):
    cls = getattr(builtins, name, None)
    if type(cls) is type and issubclass(cls, Exception) and not issubclass(cls, NOT_RAISED):
        return cls(f"raised by the candidate: {name}")
    return CandidateError(name)


def _proxy(channel, name):
    def call(*args, **kw):
        return channel.forward(name, args, kw)

    call.__name__ = call.__qualname__ = name
    return call


def serve(cmd_fd, res_fd):
    ch = _Channel(cmd_fd, res_fd)
    base = {"__name__": "__test__", "__builtins__": builtins}
    while True:
        cmd = ch.recv()
        n = cmd.get("n")
        if "finish" in cmd:
            ch.send({"n": n, "ok": True})
            return
        if "setup" in cmd:
            ok, err = _run(cmd["setup"], base)
            if ok:  # the test's helpers, from the problem's trusted text (never the submission)
                ok, err = _run(cmd.get("helpers", ""), base)
            for name in cmd.get("names", ()):
                base[name] = _proxy(ch, name)  # the entry point: the submission's
        else:
            ok, err = _run(cmd["stmt"], dict(base))
        ch.send({"n": n, "ok": ok, "err": err})


def _run(code, g):
    try:
        exec(compile(code, TEST, "exec"), g)
    except wire.WireError:
        return False, "undecodable"
    except BaseException as e:  # the test failed (AssertionError) or the candidate misbehaved
        return False, type(e).__name__
    return True, None
