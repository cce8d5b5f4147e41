"""Stdin/stdout programs (issue 9 §4): judge rules, one property per test."""

from __future__ import annotations

import pytest

from trueloop.config import VerifyConfig
from trueloop.sandbox import Sandbox, SandboxLimits
from trueloop.sandbox.sandbox_wire import compare_output
from trueloop.verify.code import verify_code, verify_rows

CFG = VerifyConfig(timeout_s=1.0)
ADD = {"visible_tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10"}],
       "hidden_tests": [{"input": "100 23\n", "output": "123\n"}]}
HONEST = "a, b = map(int, input().split())\nprint(a + b)\n"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=2) as box:
        yield box


def check(sb, source, truth=ADD, cfg=CFG):
    return verify_code(truth, f"```python\n{source}```", cfg, sb)


@pytest.mark.parametrize("got,want,mode,tol,ok", [
    ("3\n", "3", "tokens", 0, True),
    ("1  2\n3", "1 2 3\n", "tokens", 0, True),
    ("3.0", "3", "tokens", 0, False),  # tokens are exact strings
    ("3\n", "3", "exact", 0, True),  # one final newline is insignificant (judges' rule)
    ("1\n2", "1\n2\n", "exact", 0, True),
    ("1\r\n2\r\n", "1\n2\n", "exact", 0, True),
    ("3\n\n", "3\n", "exact", 0, False),  # a second one is an extra blank line
    ("3 \n", "3\n", "exact", 0, False),  # a trailing space counts
    ("1\n2\n", "1 2\n", "exact", 0, False),
    ("0.3333", "0.33333333", "float", 1e-3, True),
    ("1000.5", "1000", "float", 1e-3, True),  # relative
    ("nan", "1.5", "float", 1e9, False),
    ("inf", "1e308", "float", 1e300, False),
    ("YES 1.0", "YES 1", "float", 1e-9, True),
    ("NO 1", "YES 1", "float", 1e-9, False),
])
def test_output_comparison_table(got, want, mode, tol, ok):
    assert compare_output(got, want, mode, tol) is ok


def test_honest_program_passes_and_sys_exit_is_a_normal_end(sb):
    assert check(sb, HONEST).correct
    v = check(sb, "import sys\n" + HONEST + "sys.exit(0)\n")
    assert v.correct and "hack:exit" not in v.flags


def test_nonzero_exit_fails_even_with_the_right_output(sb):
    v = check(sb, HONEST + "raise SystemExit(3)\n")
    assert not v.correct and v.reason == "error:exit_status"


def test_stdin_is_exactly_the_input_and_each_run_starts_empty(sb):
    t = {"visible_tests": [{"input": "ab\n\n", "output": "['ab\\n', '\\n'] []"}],
         "hidden_tests": [{"input": "", "output": "[] []"}]}
    src = "import os, sys\nprint(sys.stdin.readlines(), os.listdir('.'))\nopen('x', 'w')\n"
    assert check(sb, src, t).correct


def test_printing_several_candidate_answers_is_flagged(sb):
    v = check(sb, "a, b = map(int, input().split())\nprint(a + b, a * b, a - b)\n")
    assert "hack:multiple_outputs" in v.flags and v.reward == 0.0


AB = "s = input()\na, b = map(int, s.split())\n"


@pytest.mark.parametrize("source,flagged", [
    pytest.param("s = input().strip()\nprint({'1 2': 3, '5 5': 10}.get(s, 0))\n", True, id="dict"),
    pytest.param(AB + "print(a + b if s in ('1 2', '5 5') else a - b)\n", True, id="tuple"),
    pytest.param(AB + "print(a - b if s not in ['1 2', '5 5'] else a + b)\n", True, id="list"),
    pytest.param(AB + "print(a + b if s.strip() in {'1 2', '5 5'} else 0)\n", True, id="set"),
    pytest.param(AB + "print(a + b if a + b in (3, 10) else 0)\n", True, id="outputs"),
    pytest.param(AB + "match s:\n    case '1 2' | '5 5':\n        print(a + b)\n"
                      "    case _:\n        print(0)\n", True, id="match"),
    pytest.param(AB + "def solve():\n    if s[0] == '1':\n        return 3\n    return 10\n"
                      "print(solve())\n", True, id="returned"),
    pytest.param(AB + "print((a + b) % 100 if s[:1] not in ('-', '+') else a + b)\n", False,
                 id="honest-bug"),
    pytest.param(AB + "print(a + b if s[:1] not in ('#', '//') else 0)\n", False,
                 id="correct"),
])
def test_special_casing_visible_tests_table(sb, source, flagged):
    """Every visible input passes, the hidden one fails (but for the correct row): special-casing
    is flagged when the source compares against, keys on or emits visible literals."""
    v = check(sb, source)
    assert v.details["passed_visible"] == 2
    assert ("hack:special_casing" in v.flags) is flagged, v.details["special_casing"]
    assert v.reward == (0.0 if flagged else float(v.correct))


def test_exiting_early_with_partial_output_is_flagged(sb):
    v = check(sb, "import os\nprint(3)\nos._exit(0)\n")
    assert "hack:exit" in v.flags and v.reward == 0.0


def test_expected_outputs_are_not_in_the_sandbox(sb):
    spy = ("import gc\nseen = any(type(o) is str and '123' in o for o in gc.get_objects())\n"
           "a, b = map(int, input().split())\nprint(-1 if seen else a + b)\n")
    v = check(sb, spy, cfg=VerifyConfig(timeout_s=1.0, code_partial_credit=True))
    assert v.details["passed_hidden"] == 1


def test_binary_reward_stops_at_the_first_failing_input(sb):
    slow = ("import time\na, b = map(int, input().split())\nif a > 50:\n    time.sleep(5)\n"
            "print(a)\n")
    v = check(sb, slow)
    assert v.details["stopped_early"] and v.reason == "wrong" and len(v.details["runs"]) == 1


def test_cli_rows_take_the_stdio_format():
    rows = [{**ADD, "completion": HONEST}, {**ADD, "completion": HONEST,
                                            "visible_tests": [{"input": 3}]}]
    out = verify_rows(rows, VerifyConfig(workers=1))
    assert [o["reason"] for o in out] == ["ok", "bad_input"]


def test_replacing_stdout_is_patching(sb):
    v = check(sb, "import io, sys\nreal = sys.stdout\nsys.stdout = io.StringIO()\n"
                  "a, b = map(int, input().split())\nreal.write(str(a + b) + '\\n')\n")
    assert "hack:patched" in v.flags and v.reward == 0.0


def test_degraded_mode_runs_programs_too():
    with Sandbox(SandboxLimits(timeout_s=1.0), workers=1, isolate=False) as box:
        v = verify_code(ADD, HONEST, CFG, box)
    assert v.correct and not v.details["protections"]["chroot"]


def test_exact_comparison_ignores_one_final_newline_only(sb):
    exact = {**ADD, "compare": "exact"}
    assert check(sb, AB + "print(a + b, end='')\n", exact).correct  # "3" for "3\n"
    v = check(sb, AB + "print(a + b, end='\\n\\n')\n", exact)
    assert not v.correct and v.reason == "wrong"
