"""The unit of distributed work: one problem's G episodes, sampled with the group's own generator.

CPU float results for a row can depend on what else is in its batch (batch size, left-padding
width), and one generator shared by a whole batch hands out draws in an order set by the batch.
So a run that must give the same bits whichever worker played which problem samples each group
alone, with a generator seeded from (run seed, the problem's index in the train stream). The index
names the step (the stream only moves forward, and a checkpoint holds its position, so a resumed
run derives the same seeds); the G samples and their turns take their draws from the group's
generator in a fixed order. Backends run the same units in any order and re-assemble them in the
input's order.
"""

from __future__ import annotations

import hashlib

import torch

from trueloop.config import RunConfig
from trueloop.envs.base import verify_episodes
from trueloop.policy import Policy
from trueloop.rollout import Played, concat_batches, play
from trueloop.tasks.base import Task
from trueloop.types import Problem


def group_seed(seed: int, index: int) -> int:
    """The sampling seed of the group of train problem `index` in a run seeded `seed`."""
    digest = hashlib.blake2b(f"trueloop:{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # torch seeds are < 2**63


def play_groups(task: Task, policy: Policy, problems: list[Problem], cfg: RunConfig, start: int,
                verifier=verify_episodes) -> Played:
    """Play problems `start, start+1, ...` one group at a time, each with its own generator."""
    return concat_played([
        play(task, policy, [p], cfg.rollout, cfg.verify, group_size=cfg.rollout.group_size,
             generator=torch.Generator().manual_seed(group_seed(cfg.seed, start + i)),
             verifier=verifier)
        for i, p in enumerate(problems)])


def play_here(task: Task, policy: Policy, problems: list[Problem], cfg: RunConfig, start: int,
              generator: torch.Generator, verifier=verify_episodes) -> Played:
    """Sample in this process in `cfg.distributed.unit`s (batch: the whole batch on `generator`)."""
    if cfg.distributed.unit == "group":
        return play_groups(task, policy, problems, cfg, start, verifier)
    return play(task, policy, problems, cfg.rollout, cfg.verify,
                group_size=cfg.rollout.group_size, generator=generator, verifier=verifier)


def concat_played(parts: list[Played]) -> Played:
    """Played parts stacked in order; their times added."""
    seconds = {k: sum(p.seconds.get(k, 0.0) for p in parts) for k in parts[0].seconds}
    return Played(concat_batches([p.batch for p in parts]),
                  [v for p in parts for v in p.verdicts], seconds)


def shards(n: int, k: int) -> list[range]:
    """`range(n)` cut into at most `k` contiguous, near-equal, non-empty pieces (none for n=0)."""
    k = min(k, n)
    bounds = [n * i // k for i in range(k + 1)] if k else []
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
