"""Sampler/trainer mismatch: how far the sampler's log-probs (the behaviour policy mu, recorded in
`RolloutBatch.logprobs`) are from the trainer's recomputation (pi_old), and the importance
weights that correct the update for it.

Legend: N sequences, T episode tokens; `mask` (N, T) is the loss mask (the action tokens).

Decoupled PPO (Hilton et al., arXiv 2110.00641) keeps three policies apart: mu, the sampler that
drew the tokens; pi_old, the trainer's own log-probs of them before the first optimizer step (the
proximal policy the PPO ratio and clip are taken against, `update.old_logprobs = "trainer"`); and
pi_theta, the policy being optimised. Per token t of sequence i:

    r_it  = pi_old(y_it) / mu(y_it) = exp(old_logp_it - sampler_logp_it)
    l_it  = w_it * -min(ratio_it * A_i, clip(ratio_it, 1 - eps_low, 1 + eps_high) * A_i)

with ratio_it = pi_theta / pi_old and w the correction weight (`CORRECTIONS`,
`update.is_correction`), detached, computed once per batch from r and the cap C (`update.is_cap`):

    none  w = 1                          the mismatch is measured, not corrected
    tis   w = min(r, C)                  truncated IS (Yao et al. 2025, "Your efficient RL
                                         framework secretly brings you off-policy RL training")
    mis   w = r if 1/C <= r <= C, else 0 masked IS (Liu, Li et al. 2025, "When speed kills
                                         stability"; verl's rollout_rs rejection + rollout_is)

The level (`LEVELS`, `update.is_level`) says what one r belongs to: `token`, each token its own;
`sequence`, one r per sequence, the geometric mean exp(mean_t log r_it) over its action tokens,
shared by all of them (capped or dropped as a whole).

Departures:
- MIS weighs a kept token by r, not 1, as verl's masked presets do (rejection mask times the IS
  weight): rejection removes the heavy tail, the in-band tokens are still importance-corrected.
  Weight 1 would leave the in-band mismatch, the bulk of a bf16 sampler's, uncorrected.
- A dropped token stays in the aggregation's denominator with weight 0, like a clipped token's
  zero gradient (verl removes it from the response mask instead): the loss scale does not move
  with the number dropped, and entropy and KL still run over every action token.
- The sequence ratio is the geometric mean (verl's "geometric" level), not the product over the
  sequence (verl's "sequence"): the product of hundreds of near-1 ratios is far from 1 for a
  long answer, so one cap C would mean something else at every length.
- log r is clamped to [-20, 20] before exp (the KL clamp of `losses`): a token the sampler gave
  probability ~0 yields a huge finite ratio, never inf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from trueloop.config import UpdateConfig
from trueloop.update.losses import KL_LOG_RATIO_CLAMP, kl_k3, masked_mean


def token_ratios(log_r: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Each token its own ratio: (r (N, T), which entries count (N, T))."""
    return log_r.exp(), mask.bool()


def sequence_ratios(log_r: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """One ratio per sequence, the geometric mean over its action tokens: (r (N, 1), which
    sequences count (N, 1): those with at least one action token)."""
    return masked_mean(log_r, mask, dim=-1)[:, None].exp(), mask.bool().any(-1, keepdim=True)


Level = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
# (log r (N, T), mask (N, T)) -> (r, counted), both (N, T) or (N, 1)
LEVELS: dict[str, Level] = {"token": token_ratios, "sequence": sequence_ratios}


def uncorrected(ratio: Tensor, cap: float) -> tuple[Tensor | None, Tensor]:
    """No weight: the loss is today's, whatever r is; nothing capped."""
    return None, torch.zeros_like(ratio, dtype=torch.bool)


def truncated(ratio: Tensor, cap: float) -> tuple[Tensor | None, Tensor]:
    """TIS: w = min(r, cap); the capped entries are those with r > cap."""
    return ratio.clamp(max=cap), ratio > cap


def masked(ratio: Tensor, cap: float) -> tuple[Tensor | None, Tensor]:
    """MIS: w = r inside [1/cap, cap], 0 outside; the dropped entries are those outside."""
    keep = (ratio >= 1.0 / cap) & (ratio <= cap)
    return torch.where(keep, ratio, torch.zeros_like(ratio)), ~keep


Correction = Callable[[Tensor, float], tuple[Tensor | None, Tensor]]
# (r, cap) -> (weight or None for an unweighted loss, capped-or-dropped bool), shapes of r
CORRECTIONS: dict[str, Correction] = {"none": uncorrected, "tis": truncated, "mis": masked}
# how to add one: a function with the signature above, one entry here and in the
# `update.is_correction` Literal


@dataclass(frozen=True)
class Mismatch:
    weight: Tensor | None
    # (N, T) detached per-token weight of the policy-gradient loss; None = unweighted
    metrics: dict[str, float]
    # mismatch/* figures of this batch


def measure(sampler_logp: Tensor, old_logp: Tensor, mask: Tensor,
            cfg: UpdateConfig) -> Mismatch:
    """The mismatch of one batch and its correction weights. logp/mask (N, T).

    Metrics, over the loss tokens (`is_*` over the level's units: tokens or sequences):
    `logp_abs_mean/max` |old_logp - sampler_logp|; `kl_k3` the k3 estimate of KL(mu || pi_old)
    from the sampled tokens, token mean; `is_ratio_mean/max` r; `is_clip_frac` the share of
    units the correction capped (tis) or dropped (mis), 0 under none; `is_ess` the normalised
    effective sample size (sum w)^2 / (n sum w^2) of the weights (under none: of r itself, the
    weights an exact correction would need), 1 when all weights are equal, 0 if all are dropped.
    """
    on = mask.bool()
    sampler_logp = sampler_logp.to(old_logp)
    gap = torch.where(on, old_logp - sampler_logp, torch.zeros_like(old_logp))  # (N, T) log r
    ratio, counted = LEVELS[cfg.is_level](gap.clamp(-KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP),
                                          mask)  # (N, T) or (N, 1)
    weight, capped = CORRECTIONS[cfg.is_correction](ratio, cfg.is_cap)
    w = ratio if weight is None else weight
    w_sum = torch.where(counted, w, torch.zeros_like(w)).sum()
    w_sq = torch.where(counted, w * w, torch.zeros_like(w)).sum()
    metrics = {
        "mismatch/logp_abs_mean": masked_mean(gap.abs(), mask).item(),
        "mismatch/logp_abs_max": gap.abs().max().item(),
        "mismatch/kl_k3": masked_mean(kl_k3(sampler_logp, old_logp, mask), mask).item(),
        "mismatch/is_ratio_mean": masked_mean(ratio, counted).item(),
        "mismatch/is_ratio_max": torch.where(counted, ratio, torch.zeros_like(ratio)).max().item(),
        "mismatch/is_clip_frac": masked_mean(capped.float(), counted).item(),
        "mismatch/is_ess": (w_sum ** 2 / (counted.sum() * w_sq).clamp_min(1e-30)).item(),
    }
    if weight is not None:
        weight = weight.expand_as(old_logp).detach()  # a sequence's weight on each of its tokens
    return Mismatch(weight=weight, metrics=metrics)
