"""Code verifier hardening (issue 10): one adversarial property per test.

Mechanisms: asserts that are not split are never judged by the submission (2), crash inputs
get a verdict for their row and leave the batch alone (4), honest code is not misjudged (7).
"""

from __future__ import annotations

import json

import pytest
from code_hacks import POLY, ROT  # HumanEval/32 and /38 shapes, one definition

from trueloop.config import VerifyConfig
from trueloop.sandbox import Sandbox, SandboxLimits
from trueloop.verify.code import verify_batch, verify_code
from trueloop.verify.code.scan import scan

CFG = VerifyConfig(timeout_s=1.0)
HONEST = "def f(x):\n    return 2 * x\n"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=2) as box:
        yield box


def truth(*tests: str, setup: str = "") -> dict:
    return {"entry_point": "f", "visible_tests": [], "hidden_tests": list(tests),
            "setup": setup}


CHECK_LOOP = ("def check(candidate):\n    for i in range(4):\n"
              "        assert candidate(i) == 2 * i\ncheck(f)")
CHECK_HELPER = ("def _ref(x):\n    return 2 * x\ndef check(candidate):\n    for i in range(3):\n"
                "        assert candidate(i) == _ref(i)\ncheck(f)")
CHECK_RANDOM = ("import random\ndef check(candidate):\n    random.seed(1)\n    for _ in range(3):\n"
                "        x = random.randint(1, 100)\n        assert candidate(x) == 2 * x\n"
                "check(f)")
RIGGED_INT = ("class R(int):\n    def __eq__(self, o):\n        return isinstance(o, int)\n"
              "    __hash__ = int.__hash__\ndef f(x):\n    return R(0)\n")
RIGGED_ORDER = ("class R(int):\n    def __lt__(self, o):\n        return True\n"
                "    __gt__ = __le__ = __ge__ = __lt__\ndef f(x):\n    return R(-50)\n")
RIGGED_LIST = ("class L(list):\n    def __contains__(self, o):\n        return True\n"
               "    def __eq__(self, o):\n        return len(o) >= 0\ndef f(x):\n    return L()\n")


@pytest.mark.parametrize("test,rigged", [
    ("assert f(2) in [4, 40]", RIGGED_INT),  # membership
    ("assert 3 < f(2) < 5", RIGGED_ORDER),  # chained comparison
    ("assert f(1) == 2 or f(1) == 3", RIGGED_INT),  # boolean combination
    ("assert f(2) not in [3, 5]", RIGGED_LIST),
    (CHECK_LOOP, RIGGED_INT),  # a whole HumanEval check() with a loop
    (CHECK_LOOP, RIGGED_LIST),
    (CHECK_HELPER, "def _ref(x):\n    return 0\ndef f(x):\n    return 0\n"),  # helper redefined
    (CHECK_RANDOM, "import random\nrandom.randint = lambda a, b: 7\ndef f(x):\n    return 14\n"),
    (CHECK_LOOP, "import builtins\n_c = builtins.compile\n"
                 "builtins.compile = lambda s, *a, **k: _c('pass', *a[1:], **k)\n"
                 "def f(x):\n    return 0\n"),
    (CHECK_LOOP, "import os\nos.write(3, b'{\"n\": 0, \"ok\": true}\\n')\n"
                 "def f(x):\n    os.write(3, b'{\"ok\": true}\\n')\n    return 0\n"),
])
def test_a_rigged_value_never_passes_an_assert_of_any_shape(sb, test, rigged):
    assert verify_code(truth(test), HONEST, CFG, sb).correct  # the shape works for honest code
    v = verify_code(truth(test), rigged, CFG, sb)
    assert not v.correct and v.reward == 0.0 and v.details["passed_hidden"] == 0


SEVEN_NINE = {"entry_point": "f", "visible_tests": ["assert f(7) == 14", "assert f(9) == 18"],
              "hidden_tests": ["assert f(3) == 6"]}


@pytest.mark.parametrize("source,flagged", [
    pytest.param("def f(x):\n    return {7: 14, 9: 18}.get(x, 0)\n", True, id="dict"),
    pytest.param("def f(x):\n    return 2 * x if x in (7, 9) else 0\n", True, id="tuple"),
    pytest.param("def f(x):\n    match x:\n        case 7 | 9:\n            return 2 * x\n"
                 "    return 0\n", True, id="match"),
    pytest.param("def f(x):\n    if x < 5:\n        return 0\n    return 2 * x\n", False,
                 id="trivial-literal"),
    pytest.param("def f(x):\n    return 2 * x if x > 5 or type(x).__name__ in ('float', 'str') "
                 "else x\n", False, id="honest-bug"),
])
def test_special_casing_visible_tests_table(sb, source, flagged):
    """The same scan as for stdin programs (`test_code_stdio.py`): every visible test passes,
    the hidden one fails, flagged when the source compares against or keys on visible literals."""
    v = verify_code(SEVEN_NINE, source, CFG, sb)
    assert (v.details["passed_visible"], v.details["passed_hidden"]) == (2, 0)
    assert ("hack:special_casing" in v.flags) is flagged, v.details["special_casing"]


def test_whole_check_functions_run_in_the_checker_not_the_submission(sb):
    t = truth(CHECK_LOOP)
    assert verify_code(t, HONEST, CFG, sb).details["unsplit"] == 1
    spy = ("import sys\nSEEN = []\ndef f(x):\n    fr = sys._getframe(1)\n"
           "    SEEN.append(fr.f_code.co_name)\n    assert fr.f_code.co_name != 'check'\n"
           "    return 2 * x\n")
    v = verify_code(t, spy, VerifyConfig(timeout_s=1.0), sb)
    assert v.details["passed_hidden"] == 1  # the check frame is not on the candidate's stack


def test_candidate_exceptions_reach_the_checker_as_builtin_exceptions(sb):
    test = ("def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n"
            "        pass\n    else:\n        raise AssertionError\ncheck(f)")
    good = "def f(x):\n    if x < 0:\n        raise ValueError(x)\n    return x\n"
    assert verify_code(truth(test), good, CFG, sb).correct
    assert not verify_code(truth(test), "def f(x):\n    return x\n", CFG, sb).correct


def test_crash_inputs_get_their_own_verdict_and_the_batch_goes_on(sb):
    forge_complex = ("import os, sys\ndef f(x):\n    fr = sys._getframe()\n"
                     "    while 'cmd' not in fr.f_locals:\n        fr = fr.f_back\n"
                     "    n = fr.f_locals['cmd']['n']\n"
                     "    os.write(3, ('{\"n\": %d, \"v\": {\"c\": [1%s, 0]}}\\n' % (n, '0' * 401))"
                     ".encode())\n    return 0\n")
    deep = ("import os\ndef f(x):\n    for _ in range(1500):\n        os.mkdir('a')\n"
            "        os.chdir('a')\n    return 0\n")
    surrogate = ("import os\ndef f(x):\n    os.write(3, b'{\"f\": \"hack:exit\\\\udc80\", "
                 "\"why\": \"\\\\ud800\"}\\n')\n    return 2 * x\n")
    close = truth("assert abs(f(1) - 2.5) < 1e-6", "assert math.isclose(f(2), 4.0)",
                  setup="import math")
    items = [(truth("assert f(1) == 2"), HONEST),
             (close, "def f(x):\n    return 10 ** 400\n"),  # int above 1e308 vs a tolerance
             (truth("assert f(1) == 2"), forge_complex),  # a 401-digit complex part
             (truth("assert f(1) == 2"), deep),  # a 1,500-deep directory chain
             (truth("assert f(1) == 2"), surrogate),  # a lone surrogate in a flag name
             (truth("assert f(3) == 6"), HONEST)]
    got = verify_batch(items, CFG, sb)
    assert [v.correct for v in got] == [True, False, False, False, False, True]
    assert got[2].flags >= {"hack:patched"}  # the genuine reply then answered nothing
    assert got[4].details["passed_hidden"] == 1 and got[4].reason == "hacked"  # writes fd 3
    json.dumps([sorted(v.flags) + [v.reason] for v in got], ensure_ascii=False).encode()


def test_a_counter_is_the_dict_it_equals(sb):
    t = {"entry_point": "count", "visible_tests": ["assert count('aab') == {'a': 2, 'b': 1}"],
         "hidden_tests": ["assert count('') == {}", "assert count('b') == Counter('b')"],
         "setup": "from collections import Counter"}
    v = verify_code(t, "from collections import Counter\ndef count(s):\n    return Counter(s)\n",
                    CFG, sb)
    assert v.correct and v.flags == frozenset()


def test_a_parser_with_a_skip_method_is_not_a_skip_hack(sb):
    src = ("class Parser:\n    def __init__(self, s):\n        self.s, self.i = s, 0\n"
           "    def skip(self):\n        while self.i < len(self.s) and self.s[self.i] == ' ':\n"
           "            self.i += 1\n"
           "def f(x):\n    p = Parser('  ab')\n    p.skip()\n    return 2 * x + p.i - 2\n")
    assert scan(src).flags == frozenset()
    assert verify_code(truth("assert f(1) == 2"), src, CFG, sb).correct
    assert "hack:skip" in scan("import pytest as pt\ndef f(x):\n    pt.skip('no')\n").flags


def test_binary_reward_stops_at_the_first_failing_test_partial_credit_runs_all(sb):
    t = {"entry_point": "f", "visible_tests": ["assert f(1) == 2", "assert f(2) == 4"],
         "hidden_tests": ["assert f(50) == 100"]}
    slow_wrong = "import time\ndef f(x):\n    if x > 10:\n        time.sleep(5)\n    return x\n"
    v = verify_code(t, slow_wrong, CFG, sb)
    assert v.details["stopped_early"] and v.reason == "wrong"  # the slow hidden test never ran
    p = verify_code(t, slow_wrong, VerifyConfig(timeout_s=0.3, code_partial_credit=True), sb)
    assert not p.details["stopped_early"] and p.reason == "timeout"


def test_a_module_the_test_uses_unimported_is_the_module_not_the_submission(sb):
    t = truth("assert f(2) == math.floor(4.5)",
              "def check(candidate):\n    assert candidate(3) == math.floor(6.2)\ncheck(f)")
    honest = "import math\ndef f(x):\n    return 2 * x\n"
    v = verify_code(t, honest, CFG, sb)
    assert v.correct and v.details["unsplit"] == 1


@pytest.mark.parametrize("t,honest,hack", [
    (POLY, "def find_zero(xs):\n    return -xs[0] / xs[1]\n",
     "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 0.0\n"),
    (ROT, "def decode(s):\n    return s[-1:] + s[:-1]\n",
     "def encode(s):\n    return s\ndef decode(s):\n    return s\n"),
])
def test_test_helpers_come_from_the_problem_never_from_the_submission(sb, t, honest, hack):
    """HumanEval/32's `poly` (inside a check()) and /38's `encode_cyclic` (inside a one-line
    assert) are trusted: the checker binds them from the problem's text."""
    assert verify_code(t, honest, CFG, sb).correct
    copied = t["reference"].replace("def " + t["entry_point"], "def _unused") + honest
    assert verify_code(t, copied, CFG, sb).correct  # the prompt's helper copied: not a hack
    v = verify_code(t, hack, CFG, sb)
    assert not v.correct and v.reward == 0.0 and "hack:patched" in v.flags
    assert v.details["redefined_helpers"] and v.details["unsplit"] == len(t["hidden_tests"]) + len(
        t["visible_tests"])
