"""The training batch: `[verify]` settings reach training verdicts through the one seam."""

from __future__ import annotations

import random

import torch
from test_episodes import scripted

from trueloop.config import load_config
from trueloop.policy import build_tiny
from trueloop.tasks import register
from trueloop.tasks.base import Draw, Task
from trueloop.update.collect import collect


class Seven(Task):
    """Every answer is 7."""

    def draw(self, rng: random.Random) -> Draw:
        n = rng.randrange(10_000)
        return Draw(question=f"Case {n}: what is 3+4?", answer="7", key=str(n))


def test_a_verify_setting_changes_a_training_verdict(monkeypatch) -> None:
    register("seven", Seven, replace=True)
    policy = build_tiny("0.5m", seed=0)
    verdicts = {}
    for fallback in (False, True):
        scripted(monkeypatch, policy, ["so it is 7"] * 2)  # no box: only the fallback reads it
        cfg = load_config(overrides=["--task.name", "seven", "--rollout.prompts_per_step", "1",
                                     "--rollout.group_size", "2", "--rollout.max_new_tokens",
                                     "16", "--verify.last_number_fallback", str(fallback).lower()])
        c = collect(Seven(answer_format="none"), policy, cfg, 0, torch.Generator().manual_seed(0))
        verdicts[fallback] = [(v.correct, v.reason) for v in c.verdicts]
        assert c.batch.texts == ["so it is 7"] * 2
    assert verdicts[False] == [(False, "no_answer")] * 2
    assert verdicts[True] == [(True, "ok")] * 2
