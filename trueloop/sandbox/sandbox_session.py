"""One job's conversation, driven by the sandbox worker (trusted side; standard library only).

The worker asks its pristine template for a candidate child (and, when the job has asserts
that could not be split, a checker child), then talks to them: load -> each test in order ->
finish. The calls before the first unsplit assert are queued at once (no round trip each);
later commands wait for the reply before. Every command carries a fresh 64-bit nonce, and the
candidate answers in order: a reply is accepted only with the nonce awaited, so a frame written
ahead by the submission, or one that answers nothing, is a protocol violation (`hack:patched`).
Only this side decides how the run ended: `done` means the candidate answered every command it
was sent, `finish` included (or the worker stopped it: fail fast); a process that ends with a
command unanswered ended early (`hack:exit` unless a limit killed it).

Limits enforced here, from outside the children: `timeout_s` per command (one test; a whole
unsplit assert with its forwarded calls counts as one), `budget_s` for the whole job, captured
output and result-channel bytes. With `fail_fast`, the job stops at the first test whose value
fails its expected check (the check is `sandbox_wire.compare`, the same function the verifier
uses) or whose unsplit assert fails.
"""

import itertools
import json
import os
import select
import time

import sandbox_wire as wire
from sandbox_proc import Child

CRASH_SIGNALS = {4, 7, 8, 11}  # SIGILL SIGBUS SIGFPE SIGSEGV
SIGXCPU, SIGXFSZ = 24, 25
MAX_WHY = 20


class Session:
    def __init__(self, job, cfg):
        self.job, self.cfg = job, cfg
        self.timeout = float(job.get("timeout_s") or cfg["timeout_s"])
        self.start = time.perf_counter()
        self.end_by = self.start + float(job.get("budget_s") or 3 * self.timeout)
        self.killed = None
        self.flags, self.why, self.unknown_flags = set(), [], 0

    def note(self, flag, why):
        self.flags.add(flag)
        if len(self.why) < MAX_WHY:
            self.why.append(wire.clean(why))

    def ask(self, child, cmd, extra=()):
        """Send `cmd` with a fresh nonce; the reply, or None (dead, killed, out of time)."""
        return self.wait(child, self.send(child, cmd), extra)

    def send(self, child, cmd):
        nonce = int.from_bytes(os.urandom(8), "little")
        child.send({"n": nonce, **cmd})
        return nonce

    def wait(self, child, nonce, extra=()):
        """The reply carrying `nonce` (within one per-command limit from now), or None. The
        candidate answers in order, so any other reply ahead of it is a forgery."""
        deadline = min(time.perf_counter() + self.timeout, self.end_by)
        while self.killed is None:
            replies = [f for f in child.frames if "n" in f]
            for f in replies:
                child.frames.remove(f)
                if f["n"] == nonce:
                    return f
                self.note("hack:patched", "a reply to no outstanding command")
            if child.status is not None:
                return None
            if extra and (f := extra[0](child)) is not None:
                return f
            self._pump(deadline)
        return None

    def _pump(self, deadline):
        kids = self.children
        left = deadline - time.perf_counter()
        if left <= 0:
            self.stop("timeout")
            return
        reads = [fd for c in kids for fd in c.open] + [self.template.sock]
        writes = [c.cmd_w for c in kids if c.pending and c.cmd_w is not None]
        writes += [c.stdin_w for c in kids if c.stdin_w is not None]
        ready_r, ready_w, _ = select.select(reads, writes, [], left)
        for c in kids:
            if c.cmd_w in ready_w:
                c._flush()
            if c.stdin_w is not None and c.stdin_w in ready_w:
                c.feed_stdin()
            for fd in [fd for fd in c.open if fd in ready_r]:
                self._read(c, fd)
        if self.template.sock in ready_r:
            self._exits()

    def _exits(self):
        """Apply the template's exit events to our children; then read what they left."""
        by_pid = {c.pid: c for c in self.children}
        for ev in self.template.poll():
            c = by_pid.get(ev.get("exit"))
            if c is not None and c.status is None:
                c.status = ev["status"]
                self._drain_now(c)

    def _drain_now(self, c):
        """Everything a process wrote before it exited is in its pipes now: read it."""
        while c.open:
            ready, _, _ = select.select(list(c.open), [], [], 0)
            if not ready:
                return
            for fd in ready:
                self._read(c, fd)

    def _read(self, c, fd):
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            c.open.discard(fd)
            return
        if fd == c.out_r:
            cap = self.job.get("output_bytes") or self.cfg["output_bytes"]
            c.out += chunk[: max(cap + 1 - len(c.out), 0)]
            if len(c.out) > cap:
                self.stop("output_limit")
            return
        c.res_bytes += len(chunk)
        if c.res_bytes > self.cfg["result_bytes"]:
            self.stop("result_limit")
            return
        *lines, c.rbuf = (c.rbuf + chunk).split(b"\n")
        for line in lines:
            self._frame(c, line)

    def _frame(self, c, line):
        try:
            f = json.loads(line)
        except (ValueError, RecursionError):
            f = None
        if type(f) is not dict:
            self.note("hack:patched", "malformed frame on the result channel")
        elif "f" in f and c is self.children[0]:
            name = f["f"]
            if type(name) is str and name in wire.FLAGS:
                self.note(name, f"{name}: {wire.clean(f.get('why'))}")
            else:
                self.unknown_flags += 1
        elif "n" not in f and c is self.children[0]:
            self.note("hack:patched", "a frame on the result channel that answers no command")
        else:
            c.frames.append(f)

    def stop(self, why):
        if self.killed is None:
            self.killed = why
        for c in self.children:
            c.kill()


def run(job, cfg, template, uids, wd):
    """Run one job on fresh children; the report the worker sends back to the verifier."""
    s = Session(job, cfg)
    s.template = template
    cpu_s = int(s.end_by - s.start) + 1
    cand = Child(template, "candidate", uids[0], wd, cpu_s)
    s.children = [cand]
    calls, stmts = job.get("calls", []), job.get("stmts", [])
    rep = {"load": None, "calls": [None] * len(calls), "stmts": [None] * len(stmts),
           "stopped_early": False}
    try:
        finished = _converse(s, cand, rep, uids[1], cpu_s)
        if finished is True:
            _drain(s, cand)
        ended = _ended(s, cand, finished)
    finally:
        _end(s)
    cap = cfg["output_bytes"]
    return {**rep, "ended": ended, "flags": sorted(s.flags), "why": s.why,
            "unknown_flags": s.unknown_flags, "wall_s": time.perf_counter() - s.start,
            "output": bytes(cand.out[:cap]).decode("utf-8", "replace")}


def _converse(s, cand, rep, checker_uid, cpu_s):
    """load -> tests in order -> finish. True when the candidate answered every command,
    "stopped" when the worker stopped it (fail fast, or a program that did not load), False
    when it died, was killed or ran out of time with a command unanswered."""
    job = s.job
    n_calls = len(job.get("calls", []))
    order = job.get("order") or [*range(n_calls), *(-j - 1 for j in range(len(rep["stmts"])))]
    expect = job.get("expect") or [None] * n_calls
    load_nonce = s.send(cand, {"load": job.get("source", ""), "setup": job.get("setup", ""),
                               "expose": job.get("proxied") or None})
    ahead = {}  # the calls before the first unsplit assert go out at once (no round trips)
    for step in itertools.takewhile(lambda st: st >= 0, order):
        ahead[step] = s.send(cand, {"call": job["calls"][step]})
    load = s.wait(cand, load_nonce)
    if load is None:
        return False
    rep["load"] = {"ok": load.get("ok") is True, "err": wire.clean(load.get("err"), 80)}
    checker = None
    for step in order if rep["load"]["ok"] else ():
        if step >= 0:
            f = s.wait(cand, ahead.pop(step)) if step in ahead else s.ask(
                cand, {"call": job["calls"][step]})
            if f is None:
                return False
            rep["calls"][step] = out = _outcome(s, f)
            passed = expect[step] is None or _passes(expect[step], out)
        else:
            if checker is None:
                checker = Child(s.template, "checker", checker_uid, "/", cpu_s)
                s.children.append(checker)
                s.ask(checker, {"setup": job.get("setup", ""), "helpers": job.get("helpers", ""),
                                "names": job.get("proxied", [])})
            f = s.ask(checker, {"stmt": job["stmts"][-step - 1]}, (_forwarder(s, cand),))
            if cand.status is not None or s.killed:
                return False
            rep["stmts"][-step - 1] = passed = f is not None and f.get("ok") is True
        if not passed and job.get("fail_fast"):
            rep["stopped_early"] = True
            if ahead:  # calls still queued: the worker stops the candidate itself
                return "stopped"
            break
    if ahead or not rep["load"]["ok"]:
        return "stopped"  # the program did not load: the queued calls are of no use
    return s.ask(cand, {"finish": True}) is not None


def _forwarder(s, cand):
    """While the checker runs an assert: forward its proxy calls to the candidate."""

    def forward(checker):
        for f in [f for f in checker.frames if "apply" in f]:
            checker.frames.remove(f)
            r = s.ask(cand, {"apply": str(f["apply"]), "args": f.get("args", []),
                             "kw": f.get("kw", {"d": []})})
            out = _outcome(s, r) if r is not None else {"err": "CandidateError"}
            if "nonplain" in out:
                out = {"err": f"nonplain:{out['nonplain']}"}
            checker.send({"m": f.get("m"), **out})
        return None

    return forward


def _outcome(s, f):
    keys = [k for k in ("v", "err", "nonplain") if k in f]
    if len(keys) != 1:
        s.note("hack:patched", "malformed reply on the result channel")
        return {"err": "malformed"}
    if keys[0] == "v":
        return {"v": f["v"]}
    if keys[0] == "err":
        return {"err": wire.clean(f["err"], 80)}
    return {"nonplain": wire.clean(f["nonplain"], 60), "eq": f.get("eq") is True}


def _passes(expect, out):
    check, tol, expected = expect
    if "v" not in out:
        return False
    try:
        got, want = wire.decode(out["v"]), wire.decode(expected)
    except wire.WireError:
        return False
    return wire.compare(check, got, want, tol)


def _end(s):
    """Kill every child and whatever it left (the template's `end_job`), then apply the exit
    events and close the pipes."""
    for c in s.children:
        c.kill()
    s.template.end_job()
    s._exits()
    for c in s.children:
        c.close()


def _drain(s, cand):
    """After `finish`: let the candidate exit and collect the output it still had in flight."""
    deadline = min(time.perf_counter() + 1.0, s.end_by)
    while cand.status is None and s.killed is None and time.perf_counter() < deadline:
        s._pump(deadline)
    cand.kill()
    while cand.open:
        ready, _, _ = select.select(list(cand.open), [], [], 0.05)
        if not ready:
            break
        for fd in ready:
            s._read(cand, fd)


def _ended(s, cand, finished):
    if finished == "stopped":
        return "done"  # the worker chose to stop the candidate (fail fast, failed load)
    if s.killed:
        return s.killed
    if finished:
        return "done"
    status = cand.status
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (SIGXCPU, SIGXFSZ):
            return "timeout" if sig == SIGXCPU else "file_limit"
        ended = "crash" if sig in CRASH_SIGNALS else "signal"
    else:
        ended = "exited"
    if ended != "crash":
        s.note("hack:exit", f"process ended ({ended}) with a command unanswered")
    return ended


def run_program(job, cfg, template, uid, wd, stdin):
    """One run of a whole stdin/stdout program: feed `stdin`, collect stdout and the exit
    status. `done` = it exited by itself within the limit (any status; the caller checks 0)."""
    s = Session(job, cfg)
    s.template = template
    c = Child(template, "program", uid, wd, int(s.timeout) + 1, stdin=stdin)
    s.children = [c]
    c.send({"program": job["source"]})
    deadline = min(s.start + s.timeout, s.end_by)
    try:
        while c.status is None and s.killed is None:
            s._pump(deadline)
        status = c.status if s.killed is None else None
    finally:
        _end(s)
    ended = s.killed or "done"
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        ended = {SIGXCPU: "timeout", SIGXFSZ: "file_limit"}.get(sig, "crash")
    cap = job.get("output_bytes") or cfg["output_bytes"]
    return {"ended": ended, "wall_s": time.perf_counter() - s.start, "flags": sorted(s.flags),
            "status": os.waitstatus_to_exitcode(status) if status is not None else None,
            "stdout": bytes(c.out[:cap]).decode("utf-8", "replace")}


def run_programs(job, cfg, template, workdirs, counter):
    """A stdin/stdout program: one fresh child and working directory per input, within the
    job's budget; with `fail_fast`, stop at the first output that does not match."""
    start = time.perf_counter()
    timeout = float(job.get("timeout_s") or cfg["timeout_s"])
    budget = float(job.get("budget_s") or 3 * timeout)
    expect = job.get("expect_stdout") or [None] * len(job["stdin_runs"])
    runs, stopped = [], False
    for stdin, want in zip(job["stdin_runs"], expect, strict=True):
        left = budget - (time.perf_counter() - start)
        if left <= 0:
            runs.append({"ended": "timeout", "status": None, "stdout": "", "wall_s": 0.0})
            break
        counter += 1
        uid = cfg["uid"] + (2 * counter) % cfg["uids_per_worker"]
        wd = workdirs.make(counter, uid)
        one = {**job, "timeout_s": min(timeout, left), "budget_s": left}
        runs.append(run_program(one, cfg, template, uid, wd, stdin))
        workdirs.remove(wd)
        r = runs[-1]
        if want is not None and job.get("fail_fast") and not (
                r["ended"] == "done" and r["status"] == 0 and
                wire.compare_output(r["stdout"], want[0], want[1], want[2])):
            stopped = len(runs) < len(job["stdin_runs"])
            break
    report = {"ended": "done", "programs": runs, "load": None, "calls": [], "stmts": [],
              "flags": sorted({f for r in runs for f in r.pop("flags", ())}), "why": [],
              "unknown_flags": 0, "stopped_early": stopped, "output": "",
              "wall_s": time.perf_counter() - start}
    return report, counter
