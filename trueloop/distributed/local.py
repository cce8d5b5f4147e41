"""The local backend: rollouts and verification in this process (the default).

With `unit = "batch"` it is exactly the path trueloop always had (one generator for the batch);
with `unit = "group"` it runs the same units, in the same order, that the Ray backend hands to its
actors, so the two give bit-identical runs (trueloop.distributed.units).
"""

from __future__ import annotations

import torch

from trueloop.config import RunConfig
from trueloop.distributed.units import play_here
from trueloop.policy import Policy
from trueloop.rollout import Played
from trueloop.tasks.base import Task
from trueloop.types import Problem


class LocalBackend:
    def __init__(self, cfg: RunConfig, task: Task | None = None, policy: Policy | None = None):
        self.cfg = cfg

    def sync(self, policy: Policy, version: int) -> None:
        """Nothing to send: the sampler is the learner's own policy."""

    def play(self, task: Task, policy: Policy, problems: list[Problem], start: int,
             generator: torch.Generator) -> Played:
        return play_here(task, policy, problems, self.cfg, start, generator)

    def metrics(self) -> dict[str, float]:
        return {"distributed/restarts": 0.0}

    def close(self) -> None:
        return None

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
