"""The harness that runs *inside* the sandbox child, after it dropped to an unprivileged uid.

Loaded by `sandbox_worker.py` (standard library only: the worker runs under `python -I -S`, so
it must not import trueloop). `main(job, fd)` executes the submission, evaluates each test call
and writes one JSON line per event to `fd`; the parent decides pass/fail on those values.

Wire format, one JSON object per line (decoded type-strictly by `trueloop.verify.sandbox`):
    {"k": "load", "ok": true} | {"k": "load", "ok": false, "err": "NameError"}
    {"k": "call", "i": 0, "v": <tagged value>} | {"k": "call", "i": 0, "err": "TypeError"}
    {"k": "call", "i": 0, "nonplain": "Foo", "eq": true}      (custom object; eq = rigged __eq__)
    {"k": "stmt", "i": 0, "ok": true}                         (asserts that could not be split)
    {"k": "flag", "f": "hack:exit", "why": "SystemExit in call 3"}
    {"k": "done"}
Tagged values: JSON null/bool/int/float/str/list stand for themselves; tuples, dicts, sets,
frozensets, bytes and complex are {"t": [...]}, {"d": [[k, v], ...]}, {"s": [...]},
{"f": [...]}, {"b": "hex"}, {"c": [re, im]}. Only exact built-in types are encoded (`type(x) is
int`, never isinstance), so no user code runs while a value is encoded.

Everything here runs in the same process as the untrusted code, so it can be tampered with:
the tamper checks and audit hook only *flag*; correctness never depends on them, because the
expected values never enter this process.
"""

import builtins
import json
import os
import signal
import sys
import time

SOLUTION = "<solution>"
SOLUTION_MODULE = "__solution__"
TEST = "<test>"
PLAIN_SCALARS = (type(None), bool, int, float, str)
WATCHED_SIGNALS = ("SIGALRM", "SIGTERM", "SIGINT", "SIGXCPU", "SIGVTALRM", "SIGPROF", "SIGHUP")
MACHINERY = ("builtins", "sys", "os", "signal", "time", "json", "gc", "unittest", "pytest",
             "_pytest", "doctest", "inspect", "traceback")
FRAME_ATTRS = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "__globals__"}
EXIT_TYPES = (SystemExit, KeyboardInterrupt, GeneratorExit)


def main(job, fd):
    """Run the submission and the test calls; never returns normally (the caller `_exit`s)."""
    out = _Emitter(fd)
    snap = _snapshot()
    sys.addaudithook(_make_hook(out))
    g = {"__name__": SOLUTION_MODULE, "__builtins__": builtins}
    _run_load(job["source"], g, out)
    if job.get("setup"):
        _run_code(compile(job["setup"], TEST, "exec"), g, out, "setup")
    tg = dict(g)
    tg["__builtins__"] = snap["builtins"]
    for i, expr in enumerate(job.get("calls", ())):
        _run_call(i, expr, tg, out)
    for i, stmt in enumerate(job.get("stmts", ())):
        _run_stmt(i, stmt, tg, out)
    for why in _tampered(snap):
        out.flag("hack:patched", why)
    out.emit({"k": "done"})
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


class _Emitter:
    """Writes event lines straight to the result fd (no buffering: a crash keeps what was sent)."""

    def __init__(self, fd):
        self.fd = fd
        self.write = os.write
        self.dumps = json.dumps
        self.seen = set()

    def emit(self, obj):
        data = (self.dumps(obj) + "\n").encode()
        while data:
            data = data[self.write(self.fd, data):]

    def flag(self, name, why):
        if (name, why) not in self.seen:
            self.seen.add((name, why))
            self.emit({"k": "flag", "f": name, "why": why[:200]})


def _exception_event(e, where, out):
    """Classify an exception escaping user code: exit / skip are flags, the rest an error."""
    name = type(e).__name__
    if isinstance(e, EXIT_TYPES):
        out.flag("hack:exit", f"{name} in {where}")
    elif "skip" in name.lower():
        out.flag("hack:skip", f"{name} in {where}")
    return name


def _run_load(source, g, out):
    try:
        code = compile(source, SOLUTION, "exec")
    except BaseException as e:
        out.emit({"k": "load", "ok": False, "err": type(e).__name__})
        return
    _run_code(code, g, out, "load")


def _run_code(code, g, out, where):
    try:
        exec(code, g)
    except BaseException as e:
        out.emit({"k": where, "ok": False, "err": _exception_event(e, where, out)})
        return
    out.emit({"k": where, "ok": True})


def _run_call(i, expr, tg, out):
    try:
        value = eval(compile(expr, TEST, "eval"), tg)
    except BaseException as e:
        out.emit({"k": "call", "i": i, "err": _exception_event(e, f"call {i}", out)})
        return
    try:
        out.emit({"k": "call", "i": i, "v": encode(value)})
    except _NonPlain as e:
        if e.eq:
            out.flag("hack:eq_override", f"call {i} returned {e.type_name} with custom __eq__")
        out.emit({"k": "call", "i": i, "nonplain": e.type_name, "eq": e.eq})
    except (RecursionError, ValueError, OverflowError) as e:
        out.emit({"k": "call", "i": i, "err": f"unencodable:{type(e).__name__}"})


def _run_stmt(i, stmt, tg, out):
    try:
        exec(compile(stmt, TEST, "exec"), tg)
    except AssertionError:
        out.emit({"k": "stmt", "i": i, "ok": False, "err": "AssertionError"})
        return
    except BaseException as e:
        out.emit({"k": "stmt", "i": i, "ok": False, "err": _exception_event(e, f"stmt {i}", out)})
        return
    out.emit({"k": "stmt", "i": i, "ok": True})


class _NonPlain(Exception):
    def __init__(self, value):
        cls = type(value)
        self.type_name = getattr(cls, "__qualname__", "?") if type(cls) is type else "?"
        self.eq = any(
            name in vars(c) and _from_solution(c, vars(c)[name])
            for c in cls.__mro__ if c not in _BUILTIN_TYPES
            for name in ("__eq__", "__ne__", "__hash__", "__bool__", "__len__")
        )
        super().__init__(self.type_name)


def _from_solution(cls, method):
    """Comparison defined by the submission (not a stdlib type such as Counter): rigged."""
    code = getattr(method, "__code__", None)
    return cls.__module__ == SOLUTION_MODULE or getattr(code, "co_filename", "") == SOLUTION


_BUILTIN_TYPES = {object, int, float, str, bool, list, tuple, dict, set, frozenset, bytes, complex}


def encode(v, depth=0):
    """Exact-type encoding of a plain value; raises _NonPlain for anything else."""
    t = type(v)
    if depth > 200:
        raise RecursionError("value nested deeper than 200")
    if t in PLAIN_SCALARS:
        return v
    if t is list:
        return [encode(x, depth + 1) for x in v]
    if t is tuple:
        return {"t": [encode(x, depth + 1) for x in v]}
    if t is dict:
        return {"d": [[encode(k, depth + 1), encode(x, depth + 1)] for k, x in v.items()]}
    if t is set or t is frozenset:
        return {"s" if t is set else "f": [encode(x, depth + 1) for x in v]}
    if t is bytes:
        return {"b": v.hex()}
    if t is complex:
        return {"c": [v.real, v.imag]}
    raise _NonPlain(v)


def _snapshot():
    return {
        "builtins": dict(vars(builtins)),
        "modules": dict(sys.modules),
        "signals": {n: signal.getsignal(getattr(signal, n)) for n in WATCHED_SIGNALS},
        "time": {n: getattr(time, n) for n in ("time", "perf_counter", "monotonic", "sleep")},
        "harness": {f: f.__code__ for f in (main, encode, _run_call, _tampered, _Emitter.emit)},
        "io": (os.write, json.dumps, os._exit),
    }


def _tampered(snap):
    """Names of harness-relevant state that changed while the submission ran."""
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
    if any(f.__code__ is not c for f, c in snap["harness"].items()):
        yield "harness code"
    if (os.write, json.dumps, os._exit) != snap["io"]:
        yield "harness io"
    if sys.gettrace() is not None or sys.getprofile() is not None:
        yield "trace/profile hook"


def _make_hook(out):
    """An audit hook (PEP 578) that flags introspection and tampering done *by the solution*."""
    busy = [False]
    getframe = sys._getframe

    def from_solution(direct):
        """True when the audited operation was called by solution code (directly, or anywhere
        up the stack when `direct` is False). Frames: 0 here, 1 _classify, 2 hook, 3 caller."""
        f = getframe(3)
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


def _classify(event, args, from_solution):
    if event == "open" and args and isinstance(args[0], str | bytes):
        path = os.fsdecode(args[0])
        if path.startswith(("/proc", "/sys", "/etc", "/dev/mem")) and from_solution(False):
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
