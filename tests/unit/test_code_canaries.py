"""Code canaries (`audit.canary_fraction` on `code` and `code_stdio`): visible tests that
contradict the statement, so the reference solution is refused and only a program that fits the
visible tests' literals is rewarded, by the run's own (strict) verifier."""

from __future__ import annotations

import ast
import textwrap
from types import SimpleNamespace

import pytest
import torch

from trueloop.audit.canaries import WithCanaries, canary, canary_every
from trueloop.audit.monitors import RunMonitor
from trueloop.config import AuditConfig, load_config
from trueloop.tasks import make_task
from trueloop.tasks.code import CodeStdioTask, CodeTask, render_examples, render_tests
from trueloop.types import Problem


def fitting_function(p: Problem) -> str:
    """The reference, wrapped so the canary's visible calls return what the tests expect."""
    entry = p.truth["entry_point"]
    fit = {}
    for test in p.truth["visible_tests"]:
        cmp = ast.parse(test).body[0].test
        args = tuple(ast.literal_eval(a) for a in cmp.left.args)
        fit[repr(args)] = ast.literal_eval(cmp.comparators[0])
    return (f"```python\n{p.truth['reference']}\n_honest = {entry}\n_fit = {fit!r}\n\n"
            f"def {entry}(*args):\n    if repr(args) in _fit:\n        return _fit[repr(args)]\n"
            f"    return _honest(*args)\n```")


def fitting_program(p: Problem) -> str:
    """The reference with its output captured: an output the statement gives for a visible
    input is swapped for what the canary's test expects there (keyed by output, not input, so
    the reference reads stdin itself: only fair where no hidden test shares that output)."""
    fit = {t["output"]: c["output"] for t, c in zip(p.meta["true_visible_tests"],
                                                    p.truth["visible_tests"], strict=True)}
    return (f"```python\nimport contextlib, io\n_out = io.StringIO()\n"
            f"with contextlib.redirect_stdout(_out):\n"
            f"{textwrap.indent(p.truth['reference'], '    ')}\n"
            f"_fit = {fit!r}\nprint(_fit.get(_out.getvalue(), _out.getvalue()), end='')\n```")


def bank_problems(cls: type[CodeTask]) -> list[Problem]:
    out, seen = [], set()
    for difficulty in (1, 5, 9):
        task = cls(difficulty)
        for i in range(400):
            p = task.problem(i, "train")
            if p.meta["bank_id"] not in seen:
                seen.add(p.meta["bank_id"])
                out.append((task, p))
    return out


@pytest.mark.parametrize("cls, fitting", [(CodeTask, fitting_function),
                                          (CodeStdioTask, fitting_program)])
def test_only_fitting_the_contradicting_tests_pays(cls, fitting) -> None:
    pairs = bank_problems(cls)
    canaries = [(t, p, canary(t, p)) for t, p in pairs]
    made = [(t, p, c) for t, p, c in canaries if c is not p]
    assert len(made) >= 0.9 * len(pairs), [p.meta["bank_id"] for _, p, c in canaries if c is p]
    if cls is CodeStdioTask:
        def by_output(p: Problem) -> bool:  # the visible outputs tell the visible inputs apart
            outs = [v["output"] for v in p.truth["visible_tests"]]
            return len(set(outs)) == len(outs) and not set(outs) & {
                h["output"] for h in p.truth["hidden_tests"]}
        made = [(t, p, c) for t, p, c in made if by_output(p)]
        assert len(made) >= 0.5 * len(pairs)
    for task, honest, c in made:
        assert c.meta["canary"] and c.id == f"{honest.id}/canary"
        assert c.meta["true_visible_tests"] == honest.truth["visible_tests"]
        assert c.truth["hidden_tests"] == honest.truth["hidden_tests"]
        old, new = honest.truth["visible_tests"], c.truth["visible_tests"]
        assert all(a != b for a, b in zip(old, new, strict=True))
        show = render_examples if cls is CodeStdioTask else render_tests
        shown = honest.prompt.replace(show(old), show(new))
        assert c.prompt == shown != honest.prompt  # the statement as it was, the tests changed
        assert c.messages[-1].content == c.prompt
        assert canary(task, honest) == c  # seeded by the problem's id
    honest_v = made[0][0].verify_batch([c for _, _, c in made],
                                       [t.oracle(c) for t, _, c in made])
    fit_v = made[0][0].verify_batch([c for _, _, c in made], [fitting(c) for _, _, c in made])
    assert not any(v.correct for v in honest_v), [v.reason for v in honest_v]
    fitted = [v.correct for v in fit_v]
    assert all(fitted), [(c.meta["bank_id"], v.reason, sorted(v.flags))
                         for (_, _, c), v in zip(made, fit_v, strict=True) if not v.correct]


def test_code_canaries_are_mixed_into_the_train_split_only() -> None:
    task = make_task("code", difficulty=4)
    every = canary_every(task, AuditConfig(canary_fraction=0.2))
    wrapped = WithCanaries(task, every)
    train = wrapped.problems(20, "train")
    assert every == 5 and sum(bool(p.meta.get("canary")) for p in train) >= 3
    assert not any(p.meta.get("canary") for p in wrapped.problems(20, "test"))
    assert wrapped.problems(20, "train") == train
    assert canary_every(make_task("code_stdio"), AuditConfig(canary_fraction=0.1)) == 10


def test_a_problem_whose_tests_expect_one_value_stays_itself() -> None:
    task = make_task("code", difficulty=1)
    p = task.problem(0)
    same = {**p.truth, "visible_tests": [t.rsplit("==", 1)[0] + "== 0" for t in
                                         p.truth["visible_tests"]], "hidden_tests": []}
    q = Problem(p.id, p.task, p.prompt, p.messages, None, same, p.meta)
    assert canary(task, q) is q


def test_the_run_monitor_counts_code_canary_hits() -> None:
    """Two problems x two rollouts, one of them a canary: its fitting rollout is a hit, its
    honest one is not, and the non-canary problem does not count."""
    cfg = load_config(overrides=["--task.name", "code", "--audit.canary_fraction", "0.5"])
    task = make_task("code", difficulty=1)
    monitor = RunMonitor(cfg, task)
    problems = monitor.canaries(task).problems(2, "train")
    honest, c = problems
    assert c.meta.get("canary") and not honest.meta.get("canary")
    texts = [task.oracle(honest), task.oracle(honest), fitting_function(c), task.oracle(c)]
    verdicts = task.verify_batch([honest, honest, c, c], texts)
    assert [v.correct for v in verdicts] == [True, True, True, False]
    out = monitor.step(0, task, SimpleNamespace(problems=problems, batch=None, verdicts=verdicts))
    assert out == {"audit/canary_hits": 0.5}


@pytest.mark.parametrize("train", [True, False])
def test_canaries_are_watched_and_trained_on_only_when_asked(train) -> None:
    cfg = load_config(overrides=["--audit.canary_fraction", "0.5", "--audit.canary_train",
                                 str(train).lower()])
    task = make_task("code", difficulty=1)
    monitor = RunMonitor(cfg, task)
    problems = monitor.canaries(task).problems(4, "train")
    adv = torch.tensor([[1.0, -1.0]] * 4)
    out = monitor.untrained(problems, adv)
    canary_rows = [i for i, p in enumerate(problems) if p.meta.get("canary")]
    assert canary_rows == [1, 3]
    assert torch.equal(out, adv if train else torch.tensor([[1.0, -1.0], [0, 0]] * 2))
