"""Code verifier: unit-test reward that the submission cannot forge.

Tests are assert statements, HumanEval/MBPP style, split into visible tests (shown in the
prompt) and hidden tests (never shown). Each assert of a known shape (comparisons, membership,
chains, `and`/`or`, `math.isclose`, ...; see `cases.py`) is *split*: only its call
expressions enter the sandbox (an expected side that is an expression without the entry point,
such as `set([1, 2])`, is evaluated first in a submission-free sandbox run), their values come
back type-strictly serialised (exact built-in types only, see `sandbox_wire.encode`), and the
comparison happens here, in trusted code, on plain data. A call is split only when it is
the entry point's own call (nothing the submission wrote runs on its value afterwards).
Asserts of other shapes (a whole HumanEval `check(candidate)`, loops, `len(f(x))`) run in the
sandbox's *checker* process, which holds no submission code, binds the names the test reads
(helpers such as HumanEval/32's `poly`) from the problem's trusted text (`binding.py`) and
reaches the submission's entry point only through proxies that return plain values.
No test's pass/fail is decided in the submission's process; expected values never
enter it; exit codes and printed text never decide a verdict; a missing value, a custom
object, a crash, a timeout or an output flood fails the test.

Speed: with a binary reward (`code_partial_credit` off) a submission stops at its first
failing test, visible tests first; hack detection that needs "every visible test passes, a
hidden one fails" still works, because visible tests run first. Each test has the per-command
limit `VerifyConfig.timeout_s`; the whole submission has a wall-clock budget of
`BUDGET_FACTOR` times that (`sandbox.BUDGET_FACTOR`), so a slow submission is a verdict, never
a stalled batch.

Threat model. Covered (flag, never rewarded; decided from what the submission did, whether
or not the hack would have paid): `hack:exit` exits/aborts before the tests end (decided by
the sandbox worker, not the child); `hack:skip` SkipTest and the like; `hack:patched`
builtins, sys.modules, signal/time/random, trace hooks, ctypes, the harness's pipes, a forged
frame on the result channel, a test helper redefined (`binding.redefined`) with a failing
test; `hack:eq_override` a value with rigged comparison; `hack:introspection` frames, gc,
source, /proc, paths outside the working directory; `hack:multiple_outputs` a failed `==`
answered with a list of candidates holding the expected value; `hack:special_casing` refused,
and keys on or returns visible-test literals (the same decision as for stdin programs,
`special.special_casing`). Flags come from the worker (how the process ended, protocol
violations), from a static AST scan (`scan.py`) that works even when the run failed, from the
values, and, best effort, from the run (audit hook, tamper checks; a submission can silence
these, but then it can still only fail tests). Tested on the adversarial and honest tables
`tests/unit/code_hacks.py` and `code_honest.py`. Known standard-library dict types (Counter,
OrderedDict, defaultdict) count as the dicts they compare equal to.
Not covered: a submission that solves the visible tests by a general but wrong rule is a plain
failure (an honest bug), not a hack; obfuscated tampering that evades the scan and silences
the audit hook goes unflagged, though it still cannot pass a test it fails; state kept across
the tests of one job (answers by call order are flagged only from a literal table); a test
that inspects an argument the candidate mutated in place fails (the candidate gets a copy).

Stdin/stdout programs (tests given as {"input", "output"} objects) are judged by online-judge
rules in `stdio.py`; `verify_batch` routes each row by the shape of its tests.

Reward: 1 when every visible and hidden test passes and no hack is flagged; with
`VerifyConfig.code_partial_credit`, the fraction of tests passed (0 for a flagged hack).
"""

from __future__ import annotations

import ast
import atexit
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trueloop.config import VerifyConfig
from trueloop.sandbox import Job, Run, Sandbox, SandboxLimits
from trueloop.types import Verdict
from trueloop.verify.code.binding import Binding, bind, redefined
from trueloop.verify.code.cases import SplitTest, resolve_expected, split_test
from trueloop.verify.code.scan import scan
from trueloop.verify.code.special import special_casing
from trueloop.verify.code.stdio import StdioPrepared, is_stdio, test_error
from trueloop.verify.code.stdio import judge as judge_stdio
from trueloop.verify.code.stdio import prepare as prepare_stdio

FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)
ENDED_REASONS = {"timeout": "timeout", "output_limit": "output_limit",
                 "result_limit": "output_limit", "file_limit": "file_limit",
                 "crash": "error:crash"}


def extract_code(completion: str, entry_point: str = "") -> str | None:
    """The program in a completion: the last fenced python block defining `entry_point`, else
    the last fenced block, else the whole text if it parses as Python."""
    blocks = FENCE.findall(completion)
    if blocks and not entry_point:
        return blocks[-1]  # a whole program
    if blocks:
        defining = [b for b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\b", b)]
        return (defining or blocks)[-1]
    try:
        ast.parse(completion)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return completion if completion.strip() else None


@dataclass(frozen=True)
class _Prepared:
    source: str
    visible: tuple[SplitTest, ...]
    hidden: tuple[SplitTest, ...]
    job: Job
    truth: Mapping[str, Any]
    binding: Binding


def _split_all(truth: Mapping[str, Any]) -> tuple[str, tuple[SplitTest, ...]]:
    entry = str(truth.get("entry_point", ""))
    tests = [*truth.get("visible_tests", ()), *truth.get("hidden_tests", ())]
    return str(truth.get("setup", "")), tuple(split_test(t, entry) for t in tests)


def _prepare(truth: Mapping[str, Any], completion: str, tests: tuple[SplitTest, ...],
             cfg: VerifyConfig) -> _Prepared | None:
    entry = str(truth.get("entry_point", ""))
    source = extract_code(completion, entry)
    if source is None:
        return None
    setup = str(truth.get("setup", ""))
    nv = len(truth.get("visible_tests", ()))
    calls: list[str] = []
    expect: list[tuple[str, float, Any] | None] = []
    stmts: list[str] = []
    order: list[int] = []
    for t in tests:
        if not t.checks:
            stmts.append(t.source)
            order.append(-len(stmts))
            continue
        for expr in t.calls:
            calls.append(expr)
            expect.append(t.expect())
            order.append(len(calls) - 1)
    binding = bind(truth, stmts)
    job = Job(source=source, calls=tuple(calls), stmts=tuple(stmts), setup=setup,
              timeout_s=float(truth.get("timeout_s") or cfg.timeout_s), expect=tuple(expect),
              fail_fast=not cfg.code_partial_credit, order=tuple(order),
              proxied=binding.proxied, helpers=binding.code, budget_s=cfg.code_budget_s or None)
    return _Prepared(source, tests[:nv], tests[nv:], job, truth, binding)


def _outcomes(p: _Prepared, run: Run) -> tuple[list[bool], bool]:
    """Whether each test passed, and whether a failed one got several answers at once."""
    calls, stmts = iter(run.calls), iter(run.stmts)
    out, several = [], False
    for t in p.visible + p.hidden:
        if not t.checks:
            out.append(next(stmts))
            continue
        values = {expr: (c.ok, c.value) for expr, c in zip(t.calls, calls, strict=False)}
        out.append(t.passes(values))
        several = several or (not out[-1] and t.several_answers(values))
    return out, several


def judge(p: _Prepared, run: Run, cfg: VerifyConfig) -> Verdict:
    """Trusted decision on plain data: tests passed, flags, reason, reward."""
    passed, several = _outcomes(p, run)
    nv = len(p.visible)
    pv, ph = sum(passed[:nv]), sum(passed[nv:])
    static = scan(p.source)
    flags = set(run.flags) | static.flags | ({"hack:multiple_outputs"} if several else set())
    all_pass = all(passed) and bool(passed)
    hits = special_casing(p.source, [t.fingerprint() for t in p.visible], pv == nv,
                          ph < len(p.hidden), not all_pass)
    if hits:
        flags.add("hack:special_casing")
    swapped = [] if all_pass else redefined(p.source, p.truth, p.binding.helpers)
    if swapped:
        flags.add("hack:patched")  # the test's helper, redefined by the submission
    hacked = any(f.startswith("hack:") for f in flags)
    reason = _reason(run, all_pass, hacked)
    frac = sum(passed) / max(len(passed), 1)
    reward = 0.0 if hacked else (1.0 if all_pass else (frac if cfg.code_partial_credit else 0.0))
    details = {"passed_visible": pv, "passed_hidden": ph, "n_visible": nv,
               "n_hidden": len(p.hidden), "unsplit": len(p.job.stmts), "ended": run.ended,
               "wall_s": round(run.wall_s, 4), "why": list(run.why)[:10],
               "scan": list(static.hits)[:10], "special_casing": hits[:5],
               "redefined_helpers": swapped,
               "protections": run.protections, "output_head": run.output[:300],
               "stopped_early": run.stopped_early, "unknown_flags": run.unknown_flags}
    return Verdict(correct=all_pass and not hacked, reward=reward, reason=reason,
                   flags=frozenset(flags), extracted=p.source[:2000], details=details)


def _reason(run: Run, all_pass: bool, hacked: bool) -> str:
    if run.ended in ENDED_REASONS:
        return ENDED_REASONS[run.ended]
    if run.load_error:
        return f"error:{run.load_error}"
    if hacked:
        return "hacked"
    return "ok" if all_pass else "wrong"


_SHARED: dict[tuple[int, SandboxLimits], Sandbox] = {}
_SHARED_LOCK = threading.Lock()


def shared_sandbox(cfg: VerifyConfig) -> Sandbox:
    """A process-wide sandbox pool for `cfg` (started once, closed at exit)."""
    limits = SandboxLimits(timeout_s=cfg.timeout_s)
    key = (cfg.workers, limits)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Sandbox(limits, cfg.workers)
            atexit.register(_SHARED[key].close)
        return _SHARED[key]


def verify_batch(items: Sequence[tuple[Mapping[str, Any], str]], cfg: VerifyConfig | None = None,
                 sandbox: Sandbox | None = None) -> list[Verdict]:
    """Verify (truth, completion) pairs in parallel on the sandbox pool. A truth whose tests
    are {"input", "output"} objects is a stdin/stdout program (`stdio.py`)."""
    cfg = cfg or VerifyConfig()
    sandbox = sandbox or shared_sandbox(cfg)
    items = reserve_tests(items, cfg.code_reserve_tests)
    groups = {id(truth): _split_all(truth) for truth, _ in items if not is_stdio(truth)}
    tests = dict(zip(groups, resolve_expected(groups.values(), sandbox), strict=True))
    prepared = [_prepare_any(truth, text, tests.get(id(truth), ()), cfg) for truth, text in items]
    runs = iter(sandbox.run_many([p.job for p in prepared if p is not None]))
    out = []
    for p in prepared:
        if p is None:
            out.append(Verdict(False, 0.0, "no_answer"))
        elif isinstance(p, StdioPrepared):
            out.append(judge_stdio(p, next(runs), cfg))
        else:
            out.append(judge(p, next(runs), cfg))
    return out


def reserve_tests(items: Sequence[tuple[Mapping[str, Any], str]],
                  k: int) -> Sequence[tuple[Mapping[str, Any], str]]:
    """The items with each truth's last `k` hidden tests held back (`verify.code_reserve_tests`):
    tests the training verifier never runs, so a shadow verifier that runs them can tell a
    policy that fits the tests it is scored on from one that solves the problem. At least one
    hidden test stays. Items sharing a truth keep sharing its (one) cut copy."""
    if not k:
        return items
    cut: dict[int, Mapping[str, Any]] = {}
    for truth, _ in items:
        if id(truth) not in cut:
            hidden = list(truth.get("hidden_tests", ()))
            cut[id(truth)] = {**truth, "hidden_tests": hidden[:max(1, len(hidden) - k)]}
    return [(cut[id(truth)], text) for truth, text in items]


def _prepare_any(truth: Mapping[str, Any], text: str, tests: tuple[SplitTest, ...],
                 cfg: VerifyConfig) -> _Prepared | StdioPrepared | None:
    if not is_stdio(truth):
        return _prepare(truth, text, tests, cfg)
    source = extract_code(text)
    return None if source is None else prepare_stdio(truth, source, cfg)


def verify_code(truth: Mapping[str, Any], completion: str, cfg: VerifyConfig | None = None,
                sandbox: Sandbox | None = None) -> Verdict:
    """`truth` has entry_point, visible_tests, hidden_tests (and optional setup, timeout_s)."""
    return verify_batch([(truth, completion)], cfg, sandbox)[0]


def _row_error(row: Any) -> str | None:
    if not isinstance(row, dict) or "_bad_line" in row:
        return "row is not a JSON object"
    if is_stdio(row):
        if not isinstance(row.get("completion"), str):
            return "completion must be a string"
        return test_error(row) or _timeout_error(row)
    if not isinstance(row.get("completion"), str) or not isinstance(row.get("entry_point"), str):
        return "completion and entry_point must be strings"
    for key in ("visible_tests", "hidden_tests"):
        tests = row.get(key, [])
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            return f"{key} must be a list of assert strings"
    return _timeout_error(row)


def _timeout_error(row: dict[str, Any]) -> str | None:
    t = row.get("timeout_s")
    if t is not None and not (isinstance(t, int | float) and 0 < t <= 600 and math.isfinite(t)):
        return "timeout_s must be a number in (0, 600]"
    return None


def verify_rows(rows: list[Any], cfg: VerifyConfig) -> list[dict[str, Any]]:
    """`trueloop verify code`: per row, the fields the CLI adds to it."""
    good = [i for i, r in enumerate(rows) if _row_error(r) is None]
    verdicts = dict(zip(good, verify_batch([(rows[i], rows[i]["completion"]) for i in good],
                                           cfg), strict=True))
    out = []
    for i, row in enumerate(rows):
        if i not in verdicts:
            out.append({"correct": False, "reward": 0.0, "reason": "bad_input", "flags": [],
                        "passed_visible": 0, "passed_hidden": 0, "error": _row_error(row)})
            continue
        v = verdicts[i]
        out.append({"correct": v.correct, "reward": v.reward, "reason": v.reason,
                    "flags": sorted(v.flags), "passed_visible": v.details.get("passed_visible", 0),
                    "passed_hidden": v.details.get("passed_hidden", 0)})
    return out
