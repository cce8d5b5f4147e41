"""Learning-rate schedule: linear warm-up, then constant, cosine or linear decay to 0.

`lr_lambda(step)` is the multiplier on `UpdateConfig.lr` for optimizer step `step` (0-based), the
shape `torch.optim.lr_scheduler.LambdaLR` expects:

    warm-up   step < W:  (step + 1) / W          (step 0 already trains, at lr / W)
    decay     p = (step - W) / (S - W) in [0, 1]
              constant: 1     linear: 1 - p     cosine: (1 + cos(pi p)) / 2

with W = warmup_steps and S = total_steps. The last step (S - 1) keeps a small positive rate.

How to add a decay: one function of the progress p in [0, 1] and one entry in `DECAYS` (and in the
`UpdateConfig.lr_decay` Literal).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch


def constant(progress: float) -> float:
    return 1.0


def linear(progress: float) -> float:
    return 1.0 - progress


def cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * progress))


DECAYS: dict[str, Callable[[float], float]] = {
    "constant": constant,
    "cosine": cosine,
    "linear": linear,
}


def lr_lambda(step: int, *, warmup_steps: int, total_steps: int, decay: str) -> float:
    """Learning-rate multiplier in [0, 1] for 0-based optimizer step `step`."""
    if decay not in DECAYS:
        raise ValueError(f"unknown lr decay {decay!r}; known: {sorted(DECAYS)}.")
    if warmup_steps < 0 or total_steps < 1:
        raise ValueError(f"need warmup_steps >= 0 and total_steps >= 1; got {warmup_steps} and "
                         f"{total_steps}.")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return DECAYS[decay](min(1.0, max(0.0, progress)))


def make_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int,
                   decay: str) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR over `lr_lambda`; call `.step()` once after each `optimizer.step()` round."""
    lr_lambda(0, warmup_steps=warmup_steps, total_steps=total_steps, decay=decay)  # validate now
    fn = partial(lr_lambda, warmup_steps=warmup_steps, total_steps=total_steps, decay=decay)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
