"""`play`: episodes of problems, run and verified: the one function training and evaluation share.

    envs     = task.make_env(problem, verify=cfg) for each problem, G times
    batch    = run_episodes(policy, envs, ...)        token ids, masks, logprobs, episodes
    verdicts = verify_episodes(envs)                  batched per env class (sandbox pool, ...)

An episode that ended in `env_error` is not verified (its env is in an unknown state): it gets the
verdict `env_error` with reward 0, and the update leaves it out of the loss.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from trueloop.config import RolloutConfig, VerifyConfig
from trueloop.envs.base import Env, verify_episodes
from trueloop.policy import Policy
from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.episodes import run_episodes
from trueloop.tasks.base import Task
from trueloop.types import Problem, Verdict

ENV_ERROR = Verdict(False, 0.0, "env_error")


@dataclass(frozen=True)
class Played:
    batch: RolloutBatch
    # N = len(problems) * G rows, grouped contiguously; each episode carries its verdict
    verdicts: list[Verdict]
    # (N,) the same verdicts, in row order
    seconds: dict[str, float]
    # time/sample (decoding and env steps) and time/verify


def play(task: Task, policy: Policy, problems: list[Problem], rollout: RolloutConfig,
         verify: VerifyConfig, *, group_size: int,
         generator: torch.Generator | None = None,
         verifier: Callable[[list[Env]], list[Verdict]] = verify_episodes) -> Played:
    """G = `group_size` episodes of each problem, sampled together and verified (by `verifier`:
    here, or on Ray verification actors, trueloop.distributed)."""
    envs = [task.make_env(p, verify=verify) for p in problems for _ in range(group_size)]
    extra = tuple(s for s in task.stop_strings() if s not in rollout.stop)
    if extra:  # the task's own turn enders (a tool env's closing tags)
        rollout = dataclasses.replace(rollout, stop=rollout.stop + extra)
    try:
        t0 = time.perf_counter()
        batch = run_episodes(policy, envs, rollout, generator=generator, group_size=group_size)
        t1 = time.perf_counter()
        ok = [i for i, e in enumerate(batch.episodes) if e.stop_reason != "env_error"]
        verdicts = [ENV_ERROR] * len(envs)
        for i, v in zip(ok, verifier([envs[i] for i in ok]), strict=True):
            verdicts[i] = v
        seconds = {"time/sample": t1 - t0, "time/verify": time.perf_counter() - t1}
    finally:
        for env in envs:
            env.close()
    episodes = [replace(e, verdict=v) for e, v in zip(batch.episodes, verdicts, strict=True)]
    return Played(batch.with_episodes(episodes), verdicts, seconds)
