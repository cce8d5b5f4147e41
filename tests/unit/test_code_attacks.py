"""Issue 22 §5: a round of attacks on the hardened design, one test per class found and fixed
at its cause (the checker/candidate proxy channel, values that change when encoded, stdout
through os.write and os._exit, resource edges of the value channel)."""

from __future__ import annotations

import pytest

from trueloop.config import VerifyConfig
from trueloop.sandbox import Sandbox, SandboxLimits
from trueloop.sandbox import sandbox_wire as wire
from trueloop.verify.code import verify_code

CFG = VerifyConfig(timeout_s=1.0)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=2) as box:
        yield box


def truth(test: str) -> dict:
    return {"entry_point": "f", "visible_tests": [], "hidden_tests": [test]}


@pytest.mark.parametrize("test", [
    "def check(candidate):\n    assert not any(map(candidate, [1, 2, 3]))\ncheck(f)",
    "def check(candidate):\n    assert list(filter(candidate, [1, 2])) == []\ncheck(f)",
])
def test_a_candidates_stop_iteration_does_not_end_the_tests_own_loop(sb, test):
    """Re-raised in the checker, StopIteration ended `map` early: the test passed with nothing
    computed. It now arrives as CandidateError (PEP 479's rule for generators)."""
    assert verify_code(truth(test), "def f(x):\n    return x > 5\n", CFG, sb).correct
    v = verify_code(truth(test), "def f(x):\n    raise StopIteration\n", CFG, sb)
    assert not v.correct and v.reward == 0.0


def test_an_exception_reaches_the_checker_as_its_builtin_class_not_its_name(sb):
    """A submission's own `class ValueError(Exception)` is an Exception, not the builtin the
    test expects; a subclass of the builtin still counts as it."""
    test = ("def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n"
            "        return\n    raise AssertionError\ncheck(f)")
    own = "class ValueError(Exception):\n    pass\ndef f(x):\n    raise ValueError(x)\n"
    sub = "class Bad(ValueError):\n    pass\ndef f(x):\n    raise Bad(x)\n"
    assert not verify_code(truth(test), own, CFG, sb).correct
    assert verify_code(truth(test), sub, CFG, sb).correct


def test_a_shared_sublist_is_refused_at_once_not_expanded(sb):
    """`a = [a, a]` forty times is 2**40 values when encoded: refused past `MAX_NODES`, a
    verdict well inside the limit instead of a timeout."""
    dag = "def f(x):\n    a = [1]\n    for _ in range(40):\n        a = [a, a]\n    return a\n"
    v = verify_code(truth("assert f(1) == [1]"), dag, CFG, sb)
    assert v.reason == "wrong" and v.details["wall_s"] < 1.0
    with pytest.raises(ValueError):
        wire.encode([[0] * 1000] * 1000)
    assert wire.decode(wire.encode(list(range(300_000))))[-1] == 299_999  # honest sizes fit


def test_a_program_that_writes_its_answer_then_os_exits_is_judged_by_its_output(sb):
    """Judges read stdout and the exit status from outside: os.write then os._exit(0) is a
    correct program; the same exit after a wrong or partial answer is still hack:exit."""
    t = {"visible_tests": [{"input": "1 2\n", "output": "3\n"}],
         "hidden_tests": [{"input": "4 5\n", "output": "9\n"}]}
    body = "import os\na, b = map(int, input().split())\nos.write(1, (str({}) + '\\n').encode())\n"
    good = verify_code(t, body.format("a + b") + "os._exit(0)\n", CFG, sb)
    bad = verify_code(t, body.format("a + b if a < 2 else 0") + "os._exit(0)\n", CFG, sb)
    assert good.correct and "hack:exit" not in good.flags
    assert not bad.correct and "hack:exit" in bad.flags


@pytest.mark.parametrize("test", ["assert f(1)[0]", "assert any(f(2))", "assert len(f(3)) > 2"])
def test_nothing_the_submission_wrote_runs_on_a_value_after_it_returns(sb, test):
    """`f(1)[0]`, `any(f(2))`, `len(f(3))` were evaluated in the submission's process, where a
    returned object's rigged `__getitem__`/`__bool__`/`__len__` answered for it; such a test
    now runs in the checker, on the plain value the candidate returned."""
    honest = "def f(x):\n    return [True, x, x]\n"
    rigged = ("class R:\n    def __getitem__(self, i):\n        return True\n"
              "    def __len__(self):\n        return 5\ndef f(x):\n    return R()\n")
    assert verify_code(truth(test), honest, CFG, sb).correct
    v = verify_code(truth(test), rigged, CFG, sb)
    assert not v.correct and v.reward == 0.0 and v.details["unsplit"] == 1
