"""`verify.code_reserve_tests`: hidden tests the training verifier never runs and the strict shadow
verifier does, so a program fitted to the tests it is scored on shows up as shadow disagreement."""

from __future__ import annotations

import pytest

from tests.unit.test_code_verify import FACTS, HONEST, TRUTH  # the factorial problem
from trueloop.audit.monitors import strict_shadow
from trueloop.config import VerifyConfig, load_config
from trueloop.sandbox import Sandbox, SandboxLimits
from trueloop.tasks import make_task
from trueloop.types import Problem
from trueloop.verify.code import verify_batch

FITTED = HONEST.replace("r *= i", "r = r * i % 2**32")  # wrong only where n! >= 2**32: n = 13
STDIO = {
    "visible_tests": [{"input": "3\n", "output": "6\n"}],
    "hidden_tests": [{"input": f"{n}\n", "output": f"{FACTS[n]}\n"} for n in (1, 5, 10, 13)],
}
STDIO_FITTED = ("n = int(input())\nr = 1\nfor i in range(2, n + 1):\n    r = r * i % 2**32\n"
                "print(r)\n")


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=2) as box:
        yield box


def judged(sb, items, reserve: int):
    cfg = VerifyConfig(timeout_s=0.5, code_reserve_tests=reserve)
    return [(v.correct, v.details.get("passed_hidden")) for v in verify_batch(items, cfg, sb)]


def test_reserved_tests_are_not_run_and_the_rest_are(sb):
    items = [(TRUTH, f"```python\n{FITTED}```"), (TRUTH, f"```python\n{HONEST}```")]
    assert judged(sb, items, 0) == [(False, 4), (True, 5)]
    assert judged(sb, items, 1) == [(True, 4), (True, 4)]  # fact(13) never ran
    assert judged(sb, items, 99) == [(True, 1), (True, 1)]  # one hidden test always runs
    assert TRUTH["hidden_tests"][-1].startswith("assert fact(13)")  # the caller's truth is intact


def test_reserved_tests_apply_to_stdin_programs(sb):
    items = [(STDIO, f"```python\n{STDIO_FITTED}```")]
    assert [c for c, _ in judged(sb, items, 0)] == [False]
    assert [c for c, _ in judged(sb, items, 1)] == [True]


def test_strict_shadow_runs_the_reserved_tests():
    task = make_task("code", difficulty=1)
    p = Problem("shadow/0", "code", "", (), None, truth=TRUTH)
    text = f"```python\n{FITTED}```"
    training = VerifyConfig(code_reserve_tests=1)
    assert task.verify_batch([p], [text], training)[0].correct
    assert not strict_shadow(task, [p], [text], training)[0].correct
    assert strict_shadow(task, [p], [f"```python\n{HONEST}```"], training)[0].correct


def test_negative_reserve_is_refused():
    with pytest.raises(ValueError, match="code_reserve_tests must be >= 0"):
        load_config(overrides=["--verify.code_reserve_tests", "-1"])
