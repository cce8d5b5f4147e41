"""Collect one training batch: play G episodes per problem (sample + verify), score them, and
keep the groups that carry a learning signal.

With dynamic sampling (DAPO, arXiv 2503.14476) groups whose rewards all agree carry no learning
signal under group-relative advantages; they are dropped and more problems are drawn until the batch
has `prompts_per_step` informative groups or `max_resample_rounds` extra rounds are spent (then the
batch is topped up with the dropped groups, so every step has the same size). Departure from DAPO:
the cap keeps step time bounded on a CPU.

Legend: B problems per step, G completions per problem, N = B*G.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trueloop.config import RunConfig
from trueloop.policy import Policy
from trueloop.reward import compute_reward
from trueloop.rollout import Played, RolloutBatch, concat_batches, play
from trueloop.rollout.episodes import limits
from trueloop.tasks.base import Task
from trueloop.types import Problem, Verdict


@dataclass(frozen=True)
class Group:
    """The G episodes of one problem, verified and scored."""

    problem: Problem
    batch: RolloutBatch  # G rows
    verdicts: list[Verdict]  # (G,)
    rewards: torch.Tensor  # (G,)
    components: list[dict[str, float]]  # (G,) named reward components

    @property
    def informative(self) -> bool:
        """Whether the rewards differ (a zero-variance group has zero advantage)."""
        return bool(self.rewards.std() > 0)


@dataclass(frozen=True)
class Collected:
    problems: list[Problem]  # (B,) one per group
    batch: RolloutBatch  # N rows, grouped contiguously
    verdicts: list[Verdict]  # (N,)
    rewards: torch.Tensor  # (B, G)
    components: dict[str, float]  # mean reward components over the batch
    next_index: int  # data position after this batch
    seconds: dict[str, float]  # time/sample (decoding, env steps), time/verify
    rounds: int  # sampling rounds used (1 without dynamic sampling)

    @classmethod
    def of(cls, groups: list[Group], next_index: int, seconds: dict[str, float],
           rounds: int) -> Collected:
        comps = [c for g in groups for c in g.components]
        return cls(
            problems=[g.problem for g in groups],
            batch=concat_batches([g.batch for g in groups]),
            verdicts=[v for g in groups for v in g.verdicts],
            rewards=torch.stack([g.rewards for g in groups]),
            components={k: sum(c.get(k, 0.0) for c in comps) / len(comps)
                        for k in dict.fromkeys(k for c in comps for k in c)},
            next_index=next_index, seconds=seconds, rounds=rounds)


def score(played: Played, policy: Policy, cfg: RunConfig) -> list[tuple[float, dict]]:
    """(reward, named components) per episode: its verdict under `[reward]` (the length terms
    count against `max_new_tokens`, a multi-turn episode's against its whole token budget)."""
    budget = limits(policy, cfg.rollout)[0]
    return [compute_reward(v, finish_reason=f, num_tokens=e.action_tokens,
                           max_new_tokens=cfg.rollout.max_new_tokens if len(e.turns) <= 1
                           else budget, cfg=cfg.reward)
            for v, f, e in zip(played.verdicts, played.batch.finish_reasons,
                               played.batch.episodes, strict=True)]


def groups_of(problems: list[Problem], played: Played, scored: list[tuple[float, dict]],
              g: int) -> list[Group]:
    """Cut a played round (G rows per problem, contiguous) into its groups."""
    rewards = torch.tensor([r for r, _ in scored], dtype=torch.float32).view(len(problems), g)
    rows = [slice(i * g, (i + 1) * g) for i in range(len(problems))]
    return [Group(p, played.batch.select(r), played.verdicts[r], rewards[i],
                  [c for _, c in scored[r]])
            for i, (p, r) in enumerate(zip(problems, rows, strict=True))]


def collect(task: Task, policy: Policy, cfg: RunConfig, start: int,
            generator: torch.Generator, backend=None) -> Collected:
    """Sample, verify and score problems `start, start+1, ...` of the train split (on `backend`,
    a trueloop.distributed backend, when given), resampling uninformative groups under
    `update.dynamic_sampling`."""
    b, g = cfg.rollout.prompts_per_step, cfg.rollout.group_size
    extra_rounds = cfg.update.max_resample_rounds if cfg.update.dynamic_sampling else 0
    clock = {"time/sample": 0.0, "time/verify": 0.0}
    keep: list[Group] = []  # informative groups (every group without dynamic sampling)
    spare: list[Group] = []  # zero-variance groups, used only to top up
    index, rounds = start, 0
    while len(keep) < b and rounds <= extra_rounds:
        need = b - len(keep)
        problems = task.problems(need, "train", cfg.task.seed, start=index)
        played = (play(task, policy, problems, cfg.rollout, cfg.verify, group_size=g,
                       generator=generator) if backend is None
                  else backend.play(task, policy, problems, index, generator))
        for k, v in played.seconds.items():
            clock[k] += v
        for group in groups_of(problems, played, score(played, policy, cfg), g):
            (keep if group.informative or not cfg.update.dynamic_sampling else spare).append(group)
        index, rounds = index + need, rounds + 1
    return Collected.of((keep + spare)[:b], index, clock, rounds)
