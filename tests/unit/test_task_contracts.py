"""The contract every registered task keeps (parametrized over all of TASKS, none skipped).

Only the generic interface is used (`problem`, `oracle`, `verify`), so a new task gets these
checks by adding its registry line. Dataset tasks are built on the sample files in tests/data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trueloop.tasks import TASKS, make_task
from trueloop.tasks.base import Task
from trueloop.tasks.math_datasets import DatasetTask

DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = sorted(TASKS)


def build(name: str, **options) -> Task:
    """A task by name; dataset tasks read the matching sample file."""
    if issubclass(TASKS[name], DatasetTask):
        options.setdefault("path", DATA / f"{name}_sample.jsonl")
    return make_task(name, **options)


def other_problem(task: Task, p, start: int = 1000):
    """A problem of the same task whose ground truth differs from p's."""
    for i in range(start, start + 200):
        q = task.problem(i, "train", seed=1)
        if (q.answer, q.truth) != (p.answer, p.truth):
            return q
    raise AssertionError("no problem with a different answer in 200 draws")


@pytest.mark.parametrize("name", NAMES)
def test_oracle_verifies_correct(name):
    task = build(name)
    for p in task.problems(6, "train") + task.problems(3, "test"):
        v = task.verify(p, task.oracle(p))
        assert v.correct and v.reward == 1.0 and v.reason == "ok", (p.prompt, v)


@pytest.mark.parametrize("name", NAMES)
def test_worked_solution_verifies_correct(name):
    """The prior is trained on `solution()`: it must never teach a wrong or unparsable answer."""
    task = build(name)
    for p in task.problems(6, "train"):
        v = task.verify(p, task.solution(p))
        assert v.correct and v.reason == "ok", (p.prompt, task.solution(p), v)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_problems(name):
    a = [p.to_json() for p in build(name).problems(10, "train", seed=3)]
    b = [p.to_json() for p in build(name).problems(10, "train", seed=3)]
    assert a == b


@pytest.mark.parametrize("name", NAMES)
def test_different_seed_different_problems(name):
    task = build(name)
    a = [p.prompt for p in task.problems(10, "train", seed=0)]
    b = [p.prompt for p in task.problems(10, "train", seed=1)]
    assert a != b


@pytest.mark.parametrize("name", NAMES)
def test_adversarial_answers_verify_wrong(name):
    task = build(name)
    for p in task.problems(4, "train", seed=2):
        right, other = task.oracle(p), task.oracle(other_problem(task, p))
        attacks = {
            "empty": "",
            "prompt echoed": p.prompt,
            "many candidates": "The answer is " + ", ".join(str(i) for i in range(-20, 200)) + ".",
            "several boxes": " ".join(f"\\boxed{{{i}}}" for i in range(-5, 30)),
        }
        if "\\boxed" in right:
            # a competing final answer: another problem's boxed answer, before or after the right
            # one (for code, another problem's function is not a competing answer: not used)
            attacks["right then other"] = f"{right}\n{other}"
            attacks["other then right"] = f"{other}\n{right}"
            attacks["right plus a different box"] = f"{right} Or maybe \\boxed{{-987654321}}."
        for label, text in attacks.items():
            v = task.verify(p, text)
            assert not v.correct and v.reward == 0.0, (label, p.prompt, v)


@pytest.mark.parametrize("name", NAMES)
def test_problem_ids_unique_and_meta(name):
    task = build(name)
    problems = task.problems(60, "train") + task.problems(20, "test") + task.problems(20, seed=1)
    assert len({p.id for p in problems}) == len(problems)
    for p in problems:
        assert p.task == name and p.id.startswith(f"{name}/")
        assert {"difficulty", "split", "seed", "index"} <= set(p.meta)
        assert p.messages[-1].role == "user" and p.messages[-1].content == p.prompt


@pytest.mark.parametrize("name", NAMES)
def test_answer_format_instruction(name):
    task = build(name)
    boxed = task.problem(0)
    if "\\boxed" not in task.oracle(boxed):
        # tasks answered otherwise (code blocks) render their own instruction: it must not vary
        assert build(name, answer_format="none").problem(0).prompt == boxed.prompt
        return
    plain = build(name, answer_format="none").problem(0)
    answer_is = build(name, answer_format="answer_is").problem(0)
    assert "\\boxed{}" in boxed.prompt and "\\boxed{}" not in plain.prompt
    assert "The answer is" in answer_is.prompt and "The answer is" not in plain.prompt


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("options", [{"difficulty": 0}, {"difficulty": 11},
                                     {"answer_format": "latex"}, {"horizon": 65}])
def test_bad_knobs_raise(name, options):
    with pytest.raises(ValueError):
        build(name, **options)
