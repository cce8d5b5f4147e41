"""The candidate harness: runs *inside* the sandbox child that holds the submission.

Imported by `sandbox_worker.py` before any job (standard library only: the worker runs under
`python -I -S`). `serve(cmd_fd, res_fd)` answers the worker's commands in order, each
carrying a nonce the worker drew at random when it sent it:
    {"n": N, "load": SOURCE, "setup": CODE, "expose": [NAMES] | null}
                                              -> {"n": N, "ok": true} | {"n": N, "ok": false,
                                                                     "err": "NameError"}
    {"n": N, "call": EXPR}                    -> {"n": N, "v": <wire value>} | {"n": N,
                                                                     "err": "TypeError"}
    {"n": N, "apply": NAME, "args": [..], "kw": {..}}  (a call forwarded by the checker)
    {"n": N, "finish": true}                  -> {"n": N, "ok": true}, then the process exits
A returned object that is not plain is {"n": N, "nonplain": "Foo", "eq": bool}. Flags go out
at any time as {"f": "hack:exit", "why": "..."}.

Everything here shares a process with the untrusted code, so nothing here is trusted: the
worker checks that every reply carries the nonce of the command it answers, in order (what a
forged frame can say is only what the submission could have returned), decides itself whether
the run ended normally, and compares values in trusted code; asserts that are not split run in a
separate checker process (`sandbox_checker.py`). The audit hook and tamper checks below only
add flags, best effort: a submission that silences them can still only fail tests.
"""

import builtins
import json
import os
import signal
import sys
import time

import sandbox_wire as wire

SOLUTION = "<solution>"
SOLUTION_MODULE = "__solution__"
TEST = "<test>"
WATCHED_SIGNALS = ("SIGALRM", "SIGTERM", "SIGINT", "SIGXCPU", "SIGVTALRM", "SIGPROF", "SIGHUP")
MACHINERY = ("builtins", "sys", "os", "signal", "time", "json", "gc", "unittest", "pytest",
             "_pytest", "doctest", "inspect", "traceback")
FRAME_ATTRS = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "__globals__"}
EXIT_TYPES = (SystemExit, KeyboardInterrupt, GeneratorExit)
_BUILTIN_TYPES = {object, int, float, str, bool, list, tuple, dict, set, frozenset, bytes, complex}


def serve(cmd_fd, res_fd):
    """Answer commands until `finish` (then return) or until the command pipe closes."""
    out = _Emitter(res_fd)
    snap = _snapshot()
    sys.addaudithook(_make_hook(out))
    g = {"__name__": SOLUTION_MODULE, "__builtins__": builtins}
    tg = dict(g)
    for cmd in _commands(cmd_fd):
        n = cmd.get("n")
        if "load" in cmd:
            out.reply(n, _load(cmd, g, out))
            expose = cmd.get("expose")  # test calls see the entry point only, never a helper
            tg = dict(g) if expose is None else {k: g[k] for k in expose if k in g}
            tg["__builtins__"] = snap["builtins"]
        elif "call" in cmd:
            out.reply(n, _evaluate(_call, (cmd["call"], tg), "a test call", out))
        elif "apply" in cmd:
            out.reply(n, _evaluate(_apply, (g, cmd), f"{cmd['apply']}()", out))
        elif "finish" in cmd:
            for why in _tampered(snap):
                out.flag("hack:patched", why)
            _flush()
            out.reply(n, {"ok": True})
            return


def run_program(cmd_fd):
    """A whole stdin/stdout program as `__main__`; returns its exit status (judge rules: the
    program's own exit status; an uncaught exception is 1). The worker compares stdout."""
    cmd = next(_commands(cmd_fd))
    status = 0
    try:
        exec(compile(cmd["program"], SOLUTION, "exec"),
             {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as e:
        status = e.code if type(e.code) is int else (0 if e.code is None else 1)
    except BaseException:
        status = 1
    _flush()
    return status


def _commands(fd):
    buf = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield json.loads(line)


class _Emitter:
    """Writes frames straight to the result fd (unbuffered: a crash keeps what was sent)."""

    def __init__(self, fd):
        self.fd = fd
        self.write = os.write
        self.dumps = json.dumps
        self.seen = set()

    def emit(self, obj):
        data = (self.dumps(obj) + "\n").encode()  # ensure_ascii: always ASCII
        while data:
            data = data[self.write(self.fd, data):]

    def reply(self, n, body):
        self.emit({"n": n, **body})

    def flag(self, name, why):
        if (name, why) not in self.seen:
            self.seen.add((name, why))
            self.emit({"f": name, "why": why[:200]})


def _exception_name(e, where, out):
    """Classify an exception escaping user code: exit / skip are flags, the rest an error."""
    name = type(e).__name__
    if isinstance(e, EXIT_TYPES):
        out.flag("hack:exit", f"{name} in {where}")
    elif "skip" in name.lower():
        out.flag("hack:skip", f"{name} in {where}")
    return name


def _load(cmd, g, out):
    try:
        code = compile(cmd["load"], SOLUTION, "exec")
        exec(code, g)
    except BaseException as e:
        return {"ok": False, "err": _exception_name(e, "load", out)}
    if cmd.get("setup"):
        try:
            exec(compile(cmd["setup"], TEST, "exec"), g)
        except BaseException as e:
            return {"ok": False, "err": "setup:" + _exception_name(e, "setup", out)}
    return {"ok": True}


def _call(expr, tg):
    return eval(compile(expr, TEST, "eval"), tg)


def _apply(g, cmd):
    fn = g.get(cmd["apply"])
    if fn is None:
        raise NameError(cmd["apply"])
    return fn(*wire.decode(cmd["args"]), **wire.decode(cmd["kw"]))


_BUILTIN_EXCEPTIONS = {n: c for n, c in vars(builtins).items()
                       if type(c) is type and issubclass(c, BaseException)}
# taken before any submission runs


def _builtin_base(e):
    """The nearest builtin exception class of `e` (by identity, not by name): a submission's
    own `class ValueError(Exception)` is an Exception; `class E(KeyError)` is a KeyError."""
    return next(c.__name__ for c in type(e).__mro__ if _BUILTIN_EXCEPTIONS.get(c.__name__) is c)


def _evaluate(fn, args, where, out):
    try:
        value = fn(*args)
    except BaseException as e:
        name = _exception_name(e, where, out)
        return {"err": name if isinstance(e, EXIT_TYPES) else _builtin_base(e)}
    try:
        return {"v": wire.encode(value)}
    except wire.NonPlain as e:
        name, eq = _describe(e.value)
        if eq:
            out.flag("hack:eq_override", f"{where} returned {name} with its own __eq__")
        return {"nonplain": name, "eq": eq}
    except (RecursionError, ValueError, OverflowError) as e:
        return {"err": f"unencodable:{type(e).__name__}"}


def _describe(value):
    """Type name of a non-plain value, and whether the submission defined its comparison."""
    cls = type(value)
    name = getattr(cls, "__qualname__", "?") if type(cls) is type else "?"
    eq = any(attr in vars(c) and _from_solution(c, vars(c)[attr])
             for c in cls.__mro__ if c not in _BUILTIN_TYPES
             for attr in ("__eq__", "__ne__", "__hash__", "__bool__", "__len__", "__lt__",
                          "__gt__", "__le__", "__ge__", "__contains__"))
    return str(name), eq


def _from_solution(cls, method):
    code = getattr(method, "__code__", None)
    return cls.__module__ == SOLUTION_MODULE or getattr(code, "co_filename", "") == SOLUTION


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _snapshot():
    return {
        "builtins": dict(vars(builtins)),
        "modules": dict(sys.modules),
        "signals": {n: signal.getsignal(getattr(signal, n)) for n in WATCHED_SIGNALS},
        "time": {n: getattr(time, n) for n in ("time", "perf_counter", "monotonic", "sleep")},
    }


def _tampered(snap):
    """Names of harness-relevant state that changed while the submission ran (flags only)."""
    now = vars(builtins)
    if set(now) != set(snap["builtins"]) or any(now[k] is not v for k, v in
                                                 snap["builtins"].items()):
        yield "builtins"
    mods = sys.modules
    if any(mods.get(k) is not m for k, m in snap["modules"].items() if k in MACHINERY):
        yield "sys.modules"
    if any(k in mods and k not in snap["modules"] and getattr(mods[k], "__spec__", None) is None
           for k in MACHINERY):
        yield "sys.modules (fake test machinery)"
    if any(signal.getsignal(getattr(signal, n)) != h for n, h in snap["signals"].items()):
        yield "signal handlers"
    if signal.getitimer(signal.ITIMER_REAL)[0] or signal.getitimer(signal.ITIMER_VIRTUAL)[0]:
        yield "signal timers"
    if any(getattr(time, n) is not f for n, f in snap["time"].items()):
        yield "time"
    if sys.gettrace() is not None or sys.getprofile() is not None:
        yield "trace/profile hook"


def _make_hook(out):
    """An audit hook (PEP 578) that flags introspection and tampering done by the solution."""
    busy = [False]
    getframe = sys._getframe

    def from_solution(direct):
        f = getframe(3)  # 0 here, 1 _classify, 2 hook, 3 the audited caller
        while f is not None:
            if f.f_code.co_filename == SOLUTION:
                return True
            if direct:
                return False
            f = f.f_back
        return False

    def hook(event, args):
        if busy[0]:
            return
        busy[0] = True
        try:
            kind = _classify(event, args, from_solution)
            if kind:
                out.flag(kind, event)
        finally:
            busy[0] = False

    return hook


STDLIB = os.path.dirname(os.__file__) + "/"
READABLE = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/stdin")
PATH_EVENTS = ("open", "os.listdir", "os.scandir", "glob.glob", "os.chdir")


def _outside(path):
    """A path outside the job's working directory and the standard library (residue of other
    jobs, the host): nothing an honest program reads."""
    p = os.path.abspath(os.fsdecode(path))
    cwd = os.getcwd()
    return not (p == cwd or p.startswith(cwd + "/") or p.startswith(STDLIB) or p in READABLE)


def _classify(event, args, from_solution):
    if event in PATH_EVENTS and args and isinstance(args[0], str | bytes):
        if _outside(args[0]) and from_solution(False):
            return "hack:introspection"
        return None
    if event in ("sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers",
                 "gc.get_referents"):
        return "hack:introspection" if from_solution(True) else None
    if event == "object.__getattr__" and len(args) > 1 and args[1] in FRAME_ATTRS:
        return "hack:introspection" if from_solution(True) else None
    if event in ("sys.settrace", "sys.setprofile", "sys.addaudithook"):
        return "hack:patched" if from_solution(True) else None
    if event.startswith("ctypes."):
        return "hack:patched"
    if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
        return "sandbox:signal"
    if event.startswith("socket."):
        return "sandbox:network"
    if event in ("os.fork", "os.forkpty", "subprocess.Popen", "os.system", "os.exec",
                 "os.posix_spawn", "os.spawn"):
        return "sandbox:process"
    return None
