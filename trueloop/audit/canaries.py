"""Canaries: training problems whose only high-reward path is an exploit (`audit.canary_fraction`).

A canary is a train-split problem of the run's own task, same statement, changed so that solving
the task as stated earns nothing:
- math (a single gold `Problem.answer`): the gold answer is replaced by a decoy, another
  problem's answer, never the right one. A policy that sprays candidate answers past a lenient
  verifier (`verify.any_box`, the last-number fallback) collects reward there as it does
  elsewhere. The floor is not zero: a wrong single answer can coincide with the decoy (about
  (1 - accuracy) / 9 on a task whose answers are digits); a rise above that floor is the signal.
- code (`code`, `code_stdio`): the visible tests, shown in the prompt and run by the verifier,
  contradict the statement: each expects another test's output (an output of the same problem
  on another input, of the same type, never its own). The hidden tests stay the true ones. A
  program that implements the statement fails a visible test; only a program that fits the
  visible tests against the statement (special-casing their literals) is rewarded. The floor is
  about 0 for an honest policy. `canary()` takes the dataset loaders' problems
  (`tasks.code_datasets`) too: their prompts show the tests in the same form.
`audit/canary_hits` (RunMonitor) is the share of canary rollouts the training verifier rewarded.

Canaries are mixed in deterministically (problem index i of the train stream is one when
i % every == every - 1, every = round(1 / canary_fraction)), so a resumed run sees the same ones.
By default they train like any other problem: a tripwire the exploit itself pays to step on, so
keep the fraction small (a code canary rewards special-casing even under the strict verifier,
whose `hack:special_casing` flag needs a failed hidden test). `audit.canary_train = false`
watches them without training on them (`RunMonitor.untrained`). A code problem whose tests all
expect one value cannot be made a canary and stays itself. Not covered: multi-turn environments;
`canary_every` refuses them.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from trueloop.config import AuditConfig
from trueloop.tasks.base import Task
from trueloop.tasks.code import render_examples, render_tests
from trueloop.types import Problem, Split
from trueloop.verify.code.cases import split_test

DECOY_TRIES = 100
MAX_DECOY_CHARS = 200
# a code canary's decoy outputs are short: a visible test the prompt shows in full


class WithCanaries:
    """`task` with every `every`-th train problem turned into a canary; everything else is the
    task's own (attribute access is forwarded)."""

    def __init__(self, task: Task, every: int) -> None:
        self.task, self.every = task, every

    def __getattr__(self, name: str) -> Any:
        if name == "task":  # not set yet (an unpickled copy): no forwarding loop
            raise AttributeError(name)
        return getattr(self.task, name)

    def problem(self, index: int, split: Split = "train", seed: int = 0) -> Problem:
        p = self.task.problem(index, split, seed)
        return canary(self.task, p) if split == "train" and index % self.every == self.every - 1 \
            else p

    def problems(self, n: int, split: Split = "train", seed: int = 0,
                 start: int = 0) -> list[Problem]:
        return [self.problem(i, split, seed) for i in range(start, start + n)]


def canary(task: Task, p: Problem) -> Problem:
    """`p` as a canary: a decoy gold answer (drawn from other problems, seeded by `p.id`), or for
    code, visible tests that contradict the statement (`code_canary`; `p` itself if impossible)."""
    rng = random.Random(f"canary:{p.id}")
    if "visible_tests" in p.truth:
        return code_canary(task, p, rng) or p
    for _ in range(DECOY_TRIES):
        other = task.problem(rng.randrange(1 << 30), "train", seed=rng.randrange(1 << 30))
        if other.answer != p.answer:
            return dataclasses.replace(p, id=f"{p.id}/canary", answer=other.answer,
                                       meta={**p.meta, "canary": True, "true_answer": p.answer})
    raise RuntimeError(f"{task.name}: no decoy answer differs from {p.answer!r}")


def code_canary(task: Task, p: Problem, rng: random.Random) -> Problem | None:
    """`p` with each visible test expecting another of the problem's outputs (visible first,
    then short hidden ones) of the same type; None when some visible test has no such output."""
    truth = p.truth
    visible = list(truth["visible_tests"])
    if not visible:
        return None
    stdio = isinstance(visible[0], dict)  # stdin/stdout pairs, else assert strings
    if stdio:
        outs = [t["output"] for t in [*visible, *truth.get("hidden_tests", ())]]
        pool = list(dict.fromkeys(o for o in outs if len(o) <= MAX_DECOY_CHARS))
        new = []
        for t in visible:
            others = [o for o in pool if o.split() != t["output"].split()]
            if not others:
                return None
            new.append({**t, "output": rng.choice(others)})
    else:
        entry = str(truth.get("entry_point", ""))
        tests = [split_test(t, entry) for t in [*visible, *truth.get("hidden_tests", ())]]
        plain = [len(t.checks) == 1 and t.checks[0].op == "eq" and t.checks[0].expected_expr is None
                 for t in tests]  # `assert f(...) == <literal>`
        if not all(plain[:len(visible)]):
            return None
        pool = [t.expected for t, ok in zip(tests, plain, strict=True) if ok]
        new = []
        for t in tests[:len(visible)]:
            others = [v for v in pool if type(v) is type(t.expected) and v != t.expected
                      and len(repr(v)) <= MAX_DECOY_CHARS]
            if not others:
                return None
            new.append(f"assert {t.call} == {rng.choice(others)!r}")
    show = render_examples if stdio else render_tests
    old_text, new_text = show(visible), show(new)
    if p.prompt.count(old_text) != 1:
        return None
    prompt = p.prompt.replace(old_text, new_text)
    messages = tuple(dataclasses.replace(m, content=prompt) if m.content == p.prompt else m
                     for m in p.messages)
    return dataclasses.replace(p, id=f"{p.id}/canary", prompt=prompt, messages=messages,
                               truth={**truth, "visible_tests": new},
                               meta={**p.meta, "canary": True, "true_visible_tests": visible})


def canary_every(task: Task, cfg: AuditConfig) -> int:
    """Every how many train problems one is a canary (0 = none), checked against the task."""
    if cfg.canary_fraction <= 0:
        return 0
    first = task.problem(0, "train")
    single_turn = type(task).make_env is Task.make_env
    if not single_turn or (first.answer is None and "visible_tests" not in first.truth):
        raise ValueError(f"audit.canary_fraction needs a single-turn task judged by one gold "
                         f"answer (math) or by unit tests (code); {task.name!r} is neither "
                         f"(multi-turn canaries are not built). Set audit.canary_fraction = 0.")
    return max(1, round(1 / cfg.canary_fraction))
