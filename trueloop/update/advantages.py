"""Group-relative advantage estimators: rewards (B, G) -> advantages (B, G), one function each.

Legend: B problems per step, G completions per problem (the group), r_ij the reward of
completion j of problem i, mean_i / std_i the mean and unbiased (correction=1) standard deviation
over group i.

    grpo          A_ij = (r_ij - mean_i) / (std_i + eps)                DeepSeekMath  2402.03300
    dr_grpo       A_ij =  r_ij - mean_i                                 Dr. GRPO      2503.20783
    rloo          A_ij =  r_ij - 1/(G-1) sum_{k != j} r_ik
                       =  G/(G-1) (r_ij - mean_i)                       RLOO          2402.14740
    reinforce_pp  A_ij = (r_ij - mean_i) / (std_batch(r - mean) + eps)  REINFORCE++   2501.03262

(arXiv ids.)
Every completion of a sequence gets the same advantage for all its tokens (outcome reward, no
critic); the loss broadcasts the (N,) advantages over the T tokens.

Zero-variance convention: a group whose rewards are all equal carries no signal, and its
advantages are exactly 0.0 (not a rounding residue, never NaN) under every estimator here; the
centring step writes the zeros explicitly because `r - mean(r)` of equal floats need not be 0.
Standard deviations get `EPS` in the denominator, so a batch whose groups are all constant gives
all-zero advantages rather than 0/0.

Departures from the papers:
- grpo uses the unbiased group std (torch default, as TRL and verl do); the paper does not say.
- dr_grpo is only half of Dr. GRPO: the other half, the constant length normaliser, is in the loss
  (`update.loss_agg = "constant"`, `losses.constant_length_mean`).
- reinforce_pp is the "REINFORCE++-baseline" variant for grouped samples (group-mean baseline, then
  normalisation by the std over the whole batch, as in OpenRLHF); the token-level KL-in-reward of
  the paper's PPO-style variant is not folded in here (use `update.kl_coef` for a KL loss).

How to add an estimator: write `def name(rewards: Tensor) -> Tensor` below, (B, G) -> (B, G), then
add one entry to `ADVANTAGES` and the `UpdateConfig.advantage` Literal.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

EPS = 1e-6
# added to every std in a denominator


def _centered(rewards: Tensor) -> Tensor:
    """r - group mean, with exact zeros for zero-variance groups. (B, G) -> (B, G)."""
    constant = rewards.amax(dim=-1, keepdim=True) == rewards.amin(dim=-1, keepdim=True)  # (B, 1)
    centered = rewards - rewards.mean(dim=-1, keepdim=True)  # (B, G)
    return torch.where(constant, torch.zeros_like(centered), centered)


def grpo(rewards: Tensor) -> Tensor:
    """Group mean / group std normalisation (GRPO outcome supervision). (B, G) -> (B, G)."""
    std = rewards.std(dim=-1, keepdim=True)  # (B, 1), unbiased
    return _centered(rewards) / (std + EPS)


def dr_grpo(rewards: Tensor) -> Tensor:
    """Group mean baseline, no std division (removes the question-difficulty bias). (B, G)."""
    return _centered(rewards)


def rloo(rewards: Tensor) -> Tensor:
    """Leave-one-out baseline: each sample is compared with the mean of the other G-1. (B, G)."""
    g = rewards.shape[-1]
    return _centered(rewards) * (g / (g - 1))


def reinforce_pp(rewards: Tensor) -> Tensor:
    """Group mean baseline, then division by the std of the centred rewards over the batch."""
    centered = _centered(rewards)  # (B, G); its batch mean is 0 by construction
    return centered / (centered.std() + EPS)


ADVANTAGES: dict[str, Callable[[Tensor], Tensor]] = {
    "grpo": grpo,
    "dr_grpo": dr_grpo,
    "rloo": rloo,
    "reinforce_pp": reinforce_pp,
}


def compute_advantages(name: str, rewards: Tensor) -> Tensor:
    """Advantages by estimator name; rewards (B, G) with G >= 2 -> advantages (B, G)."""
    if name not in ADVANTAGES:
        raise ValueError(f"unknown advantage estimator {name!r}; known: {sorted(ADVANTAGES)}.")
    if rewards.dim() != 2 or rewards.shape[-1] < 2:
        raise ValueError(f"rewards must have shape (B, G) with G >= 2 completions per problem; "
                         f"got shape {tuple(rewards.shape)}.")
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards must be finite; a NaN or inf reward is a bug in the reward code.")
    return ADVANTAGES[name](rewards.float())
