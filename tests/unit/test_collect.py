"""The training batch: `[verify]` settings reach training verdicts through the one seam."""

from __future__ import annotations

import random

import torch
from test_episodes import scripted

from trueloop.config import load_config
from trueloop.policy import build_tiny
from trueloop.tasks import register
from trueloop.tasks.base import Draw, Task
from trueloop.types import Verdict
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


CALLS: dict[str, int] = {}
# verify() calls per problem id: the row of the group being judged (rows are verified in order)


class Informative(Task):
    """A problem is informative (one of its G rows rewarded) exactly when its index is in
    `informative`; every other group is all wrong (zero reward variance)."""

    name = "informative"
    informative: frozenset[int] = frozenset()

    def draw(self, rng: random.Random) -> Draw:
        n = rng.randrange(10_000)
        return Draw(question=f"Case {n}.", answer="7", key=str(n))

    def verify(self, problem, completion, cfg=None) -> Verdict:
        row = CALLS.get(problem.id, 0)
        CALLS[problem.id] = row + 1
        ok = problem.meta["index"] in self.informative and row == 0
        return Verdict(ok, float(ok), "ok" if ok else "wrong")


def dynamic(informative: set[int], *extra: str):
    """collect() of 4 problems from index 10 under dynamic sampling: (indices, record)."""
    CALLS.clear()
    task = Informative(answer_format="none")
    task.informative = frozenset(informative)
    cfg = load_config(overrides=["--rollout.prompts_per_step", "4", "--rollout.group_size", "2",
                                 "--rollout.max_new_tokens", "2", "--update.dynamic_sampling",
                                 "true", *extra])
    c = collect(task, build_tiny("0.5m", seed=0), cfg, 10, torch.Generator().manual_seed(0))
    return [p.meta["index"] for p in c.problems], c


def test_dynamic_sampling_drops_zero_variance_groups_and_draws_more() -> None:
    # round 1: 10..13, two informative; round 2 draws 14, 15 in their place
    indices, c = dynamic({11, 12, 14, 15, 16})
    assert sorted(indices) == [11, 12, 14, 15]
    assert c.rounds == 2 and c.next_index == 16 and c.rewards.shape == (4, 2)
    assert (c.rewards.std(dim=1) > 0).all()  # every group returned carries a learning signal
    # round 2 (14, 15) has one informative group: round 3 draws 16
    indices, c = dynamic({11, 12, 14, 16})
    assert sorted(indices) == [11, 12, 14, 16] and (c.rounds, c.next_index) == (3, 17)


def test_dynamic_sampling_tops_up_with_dropped_groups_at_the_round_cap() -> None:
    # one informative group in 10..13, none in the 3 + 3 redrawn after: 2 extra rounds, then stop
    indices, c = dynamic({12}, "--update.max_resample_rounds", "2")
    assert c.rounds == 3 and c.next_index == 10 + 4 + 3 + 3 and c.rewards.shape == (4, 2)
    assert 12 in indices and len(set(indices)) == 4 and set(indices) <= set(range(10, 20))
    assert (c.rewards.std(dim=1) > 0).sum() == 1  # the rest is topped up with dropped groups


def test_without_dynamic_sampling_zero_variance_groups_stay() -> None:
    indices, c = dynamic({12}, "--update.dynamic_sampling", "false")
    assert indices == [10, 11, 12, 13] and (c.rounds, c.next_index) == (1, 14)
