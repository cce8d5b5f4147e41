"""What runs inside Ray actors: plain classes (wrapped with `ray.remote` by ray_backend.py, so this
module imports no Ray) built from picklable configs, never from the driver's task or env objects
(an env may hold sandbox sessions).

    RolloutWorker   a copy of the policy; `load(weights, version)` once per step; `play` runs whole
                    groups (episodes and their verification, where the policy copy is) and answers
                    with the weights version it used, which the driver checks
    VerifyWorker    the task's verifier and, for code tasks, the sandbox pool on its node
"""

from __future__ import annotations

import torch

from trueloop.config import RunConfig, TaskConfig, VerifyConfig
from trueloop.distributed.units import play_groups
from trueloop.policy import Policy
from trueloop.rollout import Played
from trueloop.tasks import task_from_config
from trueloop.types import Problem, Verdict


def trainable_state(policy: Policy) -> dict[str, torch.Tensor]:
    """The weights the update changes (the adapters alone under LoRA): what goes out each step."""
    return {n: p.detach() for n, p in policy.model.named_parameters() if p.requires_grad}


class RolloutWorker:
    def __init__(self, cfg: RunConfig, policy: Policy, threads: int) -> None:
        torch.set_num_threads(threads)  # the driver's count: the same kernels, the same bits
        self.cfg, self.policy = cfg, policy
        self.task = task_from_config(cfg.task)
        self.version = -1
        # the weights version loaded; -1 = the skeleton the actor was built with

    def load(self, weights: dict[str, torch.Tensor], version: int) -> None:
        unexpected = self.policy.model.load_state_dict(weights, strict=False).unexpected_keys
        if unexpected:
            raise ValueError(f"weights for another model: unexpected keys {unexpected[:3]}.")
        self.version = version

    def play(self, problems: list[Problem], start: int) -> tuple[int, Played]:
        return self.version, play_groups(self.task, self.policy, problems, self.cfg, start)


class VerifyWorker:
    def __init__(self, task: TaskConfig, threads: int) -> None:
        torch.set_num_threads(threads)
        self.task = task_from_config(task)

    def verify(self, problems: list[Problem], completions: list[str],
               cfg: VerifyConfig) -> list[Verdict]:
        return self.task.verifier(cfg)(problems, completions)
