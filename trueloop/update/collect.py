"""Collect one training batch: play G episodes per problem (sample + verify), score them.

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
from trueloop.rollout import RolloutBatch, concat_batches, play
from trueloop.rollout.episodes import limits
from trueloop.tasks.base import Task
from trueloop.types import Problem, Verdict


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


def _round(task: Task, policy: Policy, problems: list[Problem], cfg: RunConfig,
           generator: torch.Generator, clock: dict[str, float], backend=None, start: int = 0):
    g = cfg.rollout.group_size
    played = (play(task, policy, problems, cfg.rollout, cfg.verify, group_size=g,
                   generator=generator) if backend is None  # the default path, as it always was
              else backend.play(task, policy, problems, start, generator))  # trueloop.distributed
    for k, v in played.seconds.items():
        clock[k] += v
    batch, verdicts = played.batch, played.verdicts
    budget = limits(policy, cfg.rollout)[0]
    scored = [compute_reward(v, finish_reason=f, num_tokens=e.action_tokens,
                             max_new_tokens=cfg.rollout.max_new_tokens if len(e.turns) <= 1
                             else budget, cfg=cfg.reward)
              for v, f, e in zip(verdicts, batch.finish_reasons, batch.episodes, strict=True)]
    rewards = torch.tensor([r for r, _ in scored], dtype=torch.float32).view(len(problems), g)
    return batch, verdicts, rewards, [c for _, c in scored]


def collect(task: Task, policy: Policy, cfg: RunConfig, start: int,
            generator: torch.Generator, backend=None) -> Collected:
    """Sample, verify and score problems `start, start+1, ...` of the train split (on `backend`,
    a trueloop.distributed backend, when given)."""
    b, g = cfg.rollout.prompts_per_step, cfg.rollout.group_size
    clock = {"time/sample": 0.0, "time/verify": 0.0}
    keep: list[tuple] = []  # informative groups: (problem, batch rows, verdicts, rewards, comps)
    spare: list[tuple] = []  # zero-variance groups, used only to top up
    index, rounds = start, 0
    while len(keep) < b and rounds <= (cfg.update.max_resample_rounds
                                        if cfg.update.dynamic_sampling else 0):
        need = b - len(keep)
        problems = task.problems(need, "train", cfg.task.seed, start=index)
        index += need
        rounds += 1
        batch, verdicts, rewards, comps = _round(task, policy, problems, cfg, generator, clock,
                                                 backend, index - need)
        for i, p in enumerate(problems):
            rows = slice(i * g, (i + 1) * g)
            group = (p, batch.select(rows), verdicts[rows], rewards[i], comps[rows])
            informative = bool(rewards[i].std() > 0) or not cfg.update.dynamic_sampling
            (keep if informative else spare).append(group)
    groups = (keep + spare)[:b]
    components = [c for grp in groups for c in grp[4]]
    return Collected(
        problems=[grp[0] for grp in groups],
        batch=concat_batches([grp[1] for grp in groups]),
        verdicts=[v for grp in groups for v in grp[2]],
        rewards=torch.stack([grp[3] for grp in groups]),
        components={k: sum(c.get(k, 0.0) for c in components) / len(components)
                    for k in dict.fromkeys(k for c in components for k in c)},
        next_index=index,
        seconds=clock,
        rounds=rounds,
    )
