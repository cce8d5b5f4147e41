"""Canaries: training problems whose only high-reward path is an exploit (`audit.canary_fraction`).

A canary is a train-split problem of the run's own task, same prompt, whose gold answer is
replaced by a decoy: another problem's answer, never the right one. An honest policy that
computes the answer is never rewarded on it; a policy that sprays candidate answers past a lenient
verifier (`verify.any_box`, the last-number fallback) collects reward there as it does
elsewhere. `audit/canary_hits` (RunMonitor) is the share of canary rollouts the training verifier
rewarded. Its floor is not zero: a wrong single answer can coincide with the decoy (about
(1 - accuracy) / 9 on a task whose answers are digits); a rise above that floor is the signal.

Canaries are mixed in deterministically (problem index i of the train stream is one when
i % every == every - 1, every = round(1 / canary_fraction)), so a resumed run sees the same ones.
They train like any other problem: a tripwire the exploit itself pays to step on.
Covered: math-answer tasks (a single gold `Problem.answer`). Not covered: code canaries (visible
tests that contradict the statement) and multi-turn environments; `canary_every` refuses them.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from trueloop.config import AuditConfig
from trueloop.tasks.base import Task
from trueloop.types import Problem, Split

DECOY_TRIES = 100


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
    """`p` with a decoy gold answer (drawn from other problems, seeded by `p.id`)."""
    rng = random.Random(f"canary:{p.id}")
    for _ in range(DECOY_TRIES):
        other = task.problem(rng.randrange(1 << 30), "train", seed=rng.randrange(1 << 30))
        if other.answer != p.answer:
            return dataclasses.replace(p, id=f"{p.id}/canary", answer=other.answer,
                                       meta={**p.meta, "canary": True, "true_answer": p.answer})
    raise RuntimeError(f"{task.name}: no decoy answer differs from {p.answer!r}")


def canary_every(task: Task, cfg: AuditConfig) -> int:
    """Every how many train problems one is a canary (0 = none), checked against the task."""
    if cfg.canary_fraction <= 0:
        return 0
    if task.problem(0, "train").answer is None or type(task).make_env is not Task.make_env:
        raise ValueError(f"audit.canary_fraction needs a task judged by one gold answer (a math "
                         f"task); {task.name!r} is not (code and multi-turn canaries are not "
                         f"built). Set audit.canary_fraction = 0.")
    return max(1, round(1 / cfg.canary_fraction))
