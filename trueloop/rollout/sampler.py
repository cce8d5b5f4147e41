"""`sample`: G completions per text prompt, as single-turn episodes on the one rollout path
(`episodes.run_episodes`; see it for the decode loop, the KV cache and the draws).

Departure from `model.generate`: log-probs are recorded for free (the update needs them), text is
cut at stop strings, and there are no logits processors beyond temperature / top-k / top-p.
Prompts are plain text encoded as they are (no chat template): for chat models, give messages to
an environment instead (`Task.make_env`), which goes through the template.
"""

from __future__ import annotations

import torch

from trueloop.config import RolloutConfig
from trueloop.envs.base import Env, StepResult
from trueloop.policy import Policy
from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.episodes import run_episodes
from trueloop.types import Problem, Verdict


class PromptEnv(Env):
    """A bare text prompt: one action, then done; nothing to verify."""

    def __init__(self, prompt: str, index: int) -> None:
        self.problem = Problem(f"prompt/{index}", "prompt", prompt, (), None)

    def reset(self, problem: Problem, *, seed: int) -> str:
        return problem.prompt

    def step(self, action: str) -> StepResult:
        return StepResult(None, True)

    def verify(self) -> Verdict:
        raise NotImplementedError("a bare prompt has nothing to verify; use Task.make_env.")


def sample(policy: Policy, prompts: list[str], cfg: RolloutConfig, *,
           group_size: int | None = None, generator: torch.Generator | None = None) -> RolloutBatch:
    """G = `group_size` (default cfg.group_size) completions per prompt, grouped contiguously."""
    g = group_size if group_size is not None else cfg.group_size
    if g < 1 or not prompts or cfg.max_new_tokens < 1:
        raise ValueError(f"sample needs >= 1 prompt, group_size >= 1 and max_new_tokens >= 1; got "
                         f"{len(prompts)} prompts, group_size={g}, "
                         f"max_new_tokens={cfg.max_new_tokens}.")
    envs = [PromptEnv(p, i) for i, p in enumerate(prompts) for _ in range(g)]
    return run_episodes(policy, envs, cfg, generator=generator, group_size=g)
