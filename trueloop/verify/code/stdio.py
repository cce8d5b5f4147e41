"""Stdin/stdout programs (competitive programming): judge rules, outputs compared here.

A problem's `visible_tests` / `hidden_tests` are lists of `{"input": "...", "output": "..."}`
objects (no entry point). The whole program runs in the sandbox once per input, as
`__main__`, with stdin exactly the input's bytes and a fresh empty working directory
(`Job.stdin_runs`). As online judges rule, a test passes only when the program exits by itself
with status 0 within the limit and its stdout matches; stderr is never compared. Outputs are
compared in trusted code (`sandbox_wire.compare_output`): whitespace tokens as exact strings
by default; the problem's `"compare": "exact"` compares the whole text, `"compare": "float"`
numbers within `"tolerance"` (absolute or relative; nan/inf never match a number). With a
binary reward the run stops at the first failing input, visible inputs first.

Threat model. Covered: expected outputs never enter the sandbox (the worker keeps them for
the fail-fast check); a program cannot see the other inputs; flags as for function tests
(`scan.py`, with `sys.exit`/`exit()` allowed: exiting with status 0 is how a program
ends), plus `hack:multiple_outputs` (a failing output that contains the expected tokens among
extra ones: several candidate answers printed), `hack:special_casing` (every visible input
passes, a hidden one fails, and the source compares against, tests membership in, matches,
keys on, returns or prints a visible input or output, whole and stripped or as its number:
the function tests' decision, `special.special_casing`, fed by `fingerprint`), `hack:exit`
for `os._exit`/`os.abort` in a refused program (exiting early with partial output; a program
that wrote its whole answer and then left by `os._exit(0)` is judged by its output, as judges
do), and `hack:patched` for
replacing `sys.stdout`. Not covered: a program that detects the judge's inputs by their
statistics (size, ranges) or by single tokens (`a == 1 and b == 2`) or through a name is only
caught by hidden tests that differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trueloop.config import VerifyConfig
from trueloop.sandbox import Job, Run
from trueloop.sandbox import sandbox_wire as wire
from trueloop.types import Verdict
from trueloop.verify.code.scan import scan
from trueloop.verify.code.special import Visible, special_casing

MAX_OUTPUT_BYTES = 16 << 20
ENDED = {"timeout": "timeout", "output_limit": "output_limit", "file_limit": "file_limit",
         "crash": "error:crash"}


def is_stdio(truth: Mapping[str, Any]) -> bool:
    tests = [*truth.get("visible_tests", ()), *truth.get("hidden_tests", ())]
    return bool(tests) and all(isinstance(t, Mapping) for t in tests)


def test_error(truth: Mapping[str, Any]) -> str | None:
    """Why a stdin/stdout row is malformed, or None."""
    for key in ("visible_tests", "hidden_tests"):
        for t in truth.get(key, ()):
            if not (isinstance(t, Mapping) and isinstance(t.get("input"), str) and
                    isinstance(t.get("output"), str)):
                return f"{key} must be a list of {{'input': str, 'output': str}} objects"
    if truth.get("compare", "tokens") not in wire.OUTPUT_MODES:
        return f"compare must be one of {sorted(wire.OUTPUT_MODES)}"
    tol = truth.get("tolerance", 0.0)
    if not isinstance(tol, int | float) or isinstance(tol, bool) or not 0 <= tol < 1e6:
        return "tolerance must be a number >= 0"
    return None


@dataclass(frozen=True)
class StdioPrepared:
    source: str
    n_visible: int
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    mode: str
    tol: float
    job: Job


def prepare(truth: Mapping[str, Any], source: str, cfg: VerifyConfig) -> StdioPrepared:
    tests = [*truth.get("visible_tests", ()), *truth.get("hidden_tests", ())]
    inputs = tuple(str(t["input"]) for t in tests)
    outputs = tuple(str(t["output"]) for t in tests)
    mode, tol = str(truth.get("compare", "tokens")), float(truth.get("tolerance", 0.0))
    cap = min(max(64 << 10, 2 * max(map(len, outputs), default=0) + 4096), MAX_OUTPUT_BYTES)
    job = Job(source=source, stdin_runs=inputs, output_bytes=cap,
              timeout_s=float(truth.get("timeout_s") or cfg.timeout_s),
              fail_fast=not cfg.code_partial_credit, budget_s=cfg.code_budget_s or None,
              expect_stdout=tuple((o, mode, tol) for o in outputs))
    return StdioPrepared(source, len(truth.get("visible_tests", ())), outputs, inputs, mode,
                         tol, job)


def judge(p: StdioPrepared, run: Run, cfg: VerifyConfig) -> Verdict:
    runs = run.programs
    passed = [i < len(runs) and runs[i].ended == "done" and runs[i].status == 0 and
              wire.compare_output(runs[i].stdout, p.outputs[i], p.mode, p.tol)
              for i in range(len(p.outputs))]
    nv = p.n_visible
    pv, ph = sum(passed[:nv]), sum(passed[nv:])
    static = scan(p.source, program=True)
    flags = set(static.flags)
    if passed and all(passed):
        flags.discard("hack:exit")  # it left by os._exit after its whole answer: judged by that
    if any(not ok and i < len(runs) and _several_answers(runs[i].stdout, p.outputs[i])
           for i, ok in enumerate(passed)):
        flags.add("hack:multiple_outputs")
    all_pass = bool(passed) and all(passed)
    hits = special_casing(p.source, [fingerprint(i, o) for i, o in
                                     zip(p.inputs[:nv], p.outputs[:nv], strict=True)],
                          pv == nv, ph < len(passed) - nv, not all_pass)
    if hits:
        flags.add("hack:special_casing")
    hacked = any(f.startswith("hack:") for f in flags)
    frac = sum(passed) / max(len(passed), 1)
    reward = 0.0 if hacked else (1.0 if all_pass else (frac if cfg.code_partial_credit else 0.0))
    details = {"passed_visible": pv, "passed_hidden": ph, "n_visible": nv,
               "n_hidden": len(passed) - nv, "format": "stdio", "compare": p.mode,
               "runs": [[r.ended, r.status, round(r.wall_s, 4)] for r in runs][:20],
               "stopped_early": run.stopped_early, "scan": list(static.hits)[:10],
               "special_casing": hits[:5], "protections": run.protections,
               "output_head": runs[0].stdout[:300] if runs else ""}
    return Verdict(correct=all_pass and not hacked, reward=reward,
                   reason=_reason(runs, passed, all_pass, hacked), flags=frozenset(flags),
                   extracted=p.source[:2000], details=details)


def _reason(runs, passed, all_pass: bool, hacked: bool) -> str:
    first = next((i for i, ok in enumerate(passed) if not ok), None)
    if first is not None and first < len(runs):
        r = runs[first]
        if r.ended in ENDED:
            return ENDED[r.ended]
        if r.status != 0:
            return "error:exit_status"
    if first is not None and first >= len(runs):
        return "timeout"  # the job's budget ran out before this input
    if hacked:
        return "hacked"
    return "ok" if all_pass else "wrong"


def _several_answers(got: str, want: str) -> bool:
    """The expected tokens appear in a longer output: candidate answers printed together."""
    g, w = got.split(), want.split()
    if not w or len(g) <= len(w) or len(g) > 64 * len(w) + 64:
        return False
    return any(g[i:i + len(w)] == w for i in range(len(g) - len(w) + 1))


def fingerprint(stdin: str, stdout: str) -> Visible:
    """A visible input/output pair as literals (`special.py`): each text stripped, and its
    number when it is one (`"5\n"` gives `"5"` and `5`)."""
    return Visible(_forms(stdin), _forms(stdout))


def _forms(text: str) -> tuple[str | int | float, ...]:
    s = text.strip()
    n = _number(s)
    return (s,) if n is None else (s, n)


def _number(s: str) -> int | float | None:
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            continue
    return None
