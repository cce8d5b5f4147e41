"""`trueloop train`'s pipeline: the starting policy (the cached prior when `policy.prior` is on,
trained first if missing), then RL with `trueloop.update.trainer.train`.

The trainer itself never pretrains: it starts from the policy it is given, or loads
`[policy]` as configured, so `train()` shows only what RL does."""

from __future__ import annotations

from pathlib import Path

import torch

from trueloop.config import RunConfig
from trueloop.pipelines.prior import load_or_pretrain
from trueloop.policy import Policy, load_policy
from trueloop.update.trainer import train


def starting_policy(cfg: RunConfig) -> Policy:
    """The policy RL starts from: the prior described by `[prior]` when `policy.prior`, else
    `[policy]` loaded as configured (seeded with `cfg.seed`)."""
    torch.manual_seed(cfg.seed)
    if cfg.policy.prior:
        return load_or_pretrain(cfg.policy, cfg.prior, answer_format=cfg.task.answer_format,
                                progress=cfg.log.progress)[0]
    return load_policy(cfg.policy, seed=cfg.seed)


def train_run(cfg: RunConfig, out: str | Path, *, resume: bool = False) -> Policy:
    """Train `cfg` into `out` from its starting policy (`--resume` continues from OUT)."""
    return train(cfg, out, resume=resume, policy=starting_policy(cfg))
