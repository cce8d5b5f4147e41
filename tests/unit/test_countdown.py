"""Countdown: the safe expression parser, the verifier's reasons, and solvable generation."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from trueloop.tasks import make_task
from trueloop.tasks.countdown import MAX_DEPTH, ParseError, check, evaluate

NUMBERS, TARGET = [3, 3, 8, 8], 24


@pytest.mark.parametrize("expr,value,used", [
    ("8/(3-8/3)", Fraction(24), [8, 3, 8, 3]),
    ("(3 + 5) \\times 3", Fraction(24), [3, 5, 3]),
    ("3 × 8", Fraction(24), [3, 8]),
    ("3 x 8", Fraction(24), [3, 8]),
    ("\\left(8 \\div 3\\right) \\cdot 9", Fraction(24), [8, 3, 9]),
    ("10 - 4 - 3", Fraction(3), [10, 4, 3]),   # left associative
    ("2 * 3 + 4", Fraction(10), [2, 3, 4]),    # precedence
    ("1 / 3", Fraction(1, 3), [1, 3]),         # exact, no float
])
def test_parser_values(expr, value, used):
    assert evaluate(expr) == (value, used)


@pytest.mark.parametrize("expr", [
    "", "3 +", "(3", "3)", "-3 + 5", "2.5 * 2", "3 ** 2", "3 ^ 2", "2(3)", "import os",
    "__import__('os')", "1 / 0", "1 / (2 - 2)", "(" * (MAX_DEPTH + 2) + "1" + ")" * (MAX_DEPTH + 2),
    "1+" * 200 + "1",
])
def test_parser_rejects(expr):
    with pytest.raises(ParseError):
        evaluate(expr)


@pytest.mark.parametrize("answer,correct,error", [
    ("8/(3-8/3)", True, None),
    ("8 / (3 - 8 / 3) = 24", True, None),        # an `= target` suffix is allowed
    ("8 / (3 - 8 / 3) = 25", False, "unparseable"),  # any other suffix is not
    ("3 * 8", True, None),                        # numbers may be left unused
    ("3 * 8 = 24 = 24", False, "unparseable"),
    ("24", False, "not available"),               # the bare target is not a given number
    ("3 * 8 * 1", False, "not available"),        # 1 is not given
    ("(8 + 8 + 8)", False, "not available"),      # 8 used three times, given twice
    ("3 + 3 + 8 + 8", False, "evaluates to 22"),
    ("8 * 3 + 3 - 3", False, "not available"),   # 3 three times
    ("8 / (3 - 3)", False, "division by zero"),
])
def test_check_table(answer, correct, error):
    v = check(answer, NUMBERS, TARGET)
    assert v.correct is correct and v.reward == float(correct)
    assert v.reason == ("ok" if correct else "wrong")
    if error:
        assert error in v.details["error"]


def test_verify_reads_only_the_final_answer():
    task = make_task("countdown", difficulty=1)
    p = task.problem(0)
    nums, target, solution = p.truth["numbers"], p.truth["target"], p.truth["solution"]
    assert task.verify(p, f"Try {solution}. So the answer is {solution}.").correct
    assert task.verify(p, f"\\boxed{{{solution} = {target}}}").correct
    assert task.verify(p, f"I think {solution} works.").reason == "no_answer"
    assert task.verify(p, "\\boxed{}").reason == "no_answer"
    both = task.verify(p, f"\\boxed{{{solution}}} \\boxed{{{nums[0]} * {nums[1]}}}")
    assert not both.correct and both.reason in ("multiple_answers", "wrong")
    v = task.verify(p, f"\\boxed{{{target}}}")
    assert not v.correct and v.reason == "wrong"


def test_hidden_characters_are_flagged():
    task = make_task("countdown", difficulty=1)
    p = task.problem(0)
    v = task.verify(p, f"\\boxed{{{p.truth['solution']}}}\u200b")
    assert v.flags  # the extractor reports the zero-width space; the verdict carries it


@pytest.mark.parametrize("d", [1, 2, 4, 6, 10])
def test_generated_instances_are_solvable(d):
    for p in make_task("countdown", difficulty=d).problems(60, seed=d):
        nums, target = p.truth["numbers"], p.truth["target"]
        value, used = evaluate(p.truth["solution"])
        assert value == target and not Counter(used) - Counter(nums)
        assert target not in nums and target >= 1
        assert p.answer is None  # no bare-number gold that `verify_math` could accept
        assert str(target) in p.prompt and all(str(n) in p.prompt for n in nums)


def test_large_numbers_only_at_higher_difficulty():
    def numbers(d):
        return {n for p in make_task("countdown", difficulty=d).problems(80)
                for n in p.truth["numbers"]}

    assert max(numbers(4)) <= 10 and numbers(8) & {25, 50, 75, 100}
