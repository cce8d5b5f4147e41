"""Audit monitors: each one fires on the behaviour it names and stays quiet otherwise."""

from __future__ import annotations

import torch

from trueloop.audit import audit_step
from trueloop.rollout import RolloutBatch
from trueloop.types import Episode, Message, Problem, Turn, Verdict


def batch_of(texts: list[str], g: int) -> RolloutBatch:
    n = len(texts)
    z = torch.zeros((n, 2), dtype=torch.long)
    episodes = [Episode("p", (Turn(t, None),), "done", 1, 0) for t in texts]
    return RolloutBatch(z, z, z, z.float(), z, 1, episodes, g)


def problem(prompt: str) -> Problem:
    return Problem("p", "t", prompt, (Message("user", prompt),), "1")


def verdicts(answers: list[str]) -> list[Verdict]:
    return [Verdict(False, 0.0, "wrong", extracted=a) for a in answers]


def test_prompt_echo_is_counted():
    p = problem("Mod 10. Start at 3, then +4, -2. Result? Put it in a box.")
    texts = [p.prompt + " \\boxed{5}", "\\boxed{5}"]
    out = audit_step([p], batch_of(texts, 2), verdicts(["5", "5"]))
    assert out["audit/prompt_echo_rate"] == 0.5


def test_collapse_shows_as_duplicates_and_low_answer_diversity():
    p = problem("x" * 30)
    same = audit_step([p], batch_of(["\\boxed{1}"] * 4, 4), verdicts(["1"] * 4))
    varied = audit_step([p], batch_of([f"\\boxed{{{i}}}" for i in range(4)], 4),
                        verdicts([str(i) for i in range(4)]))
    assert same["audit/group_duplicate_frac"] == 0.75
    assert same["audit/answer_diversity"] == 0.25
    assert varied["audit/group_duplicate_frac"] == 0.0
    assert varied["audit/answer_diversity"] == 1.0
