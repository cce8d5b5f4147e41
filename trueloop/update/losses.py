"""Policy-gradient loss terms, one per function: clipped surrogate, k3 KL, entropy, aggregation.

Legend: N = B*G sequences, T completion tokens (padded), V vocabulary; `mask` (N, T) is 1 on
tokens that enter the loss; `adv` (N,) is one advantage per sequence, shared by its tokens.

Clipped surrogate with decoupled clip range (PPO arXiv 1707.06347; clip-higher from DAPO
arXiv 2503.14476), per token t of sequence i:

    ratio_it = exp(logp_it - old_logp_it)
    l_it     = -min(ratio_it * A_i, clip(ratio_it, 1 - eps_low, 1 + eps_high) * A_i)

optionally times a detached per-token weight w_it (the importance weight that corrects for a
sampler that is not the trainer, `trueloop.update.mismatch`; decoupled PPO, arXiv 2110.00641).

A token is "clipped low" when ratio < 1 - eps_low and A < 0 and "clipped high" when
ratio > 1 + eps_high and A > 0: exactly the tokens whose gradient the min() zeroes.

Aggregation (`LOSS_AGGREGATIONS`, chosen by `update.loss_agg`; "constant" needs the token
budget `norm_len`):

    token     sum_it m_it l_it / sum_it m_it                    DAPO: long answers weigh more
    sequence  mean_i ( sum_t m_it l_it / sum_t m_it )           GRPO (arXiv 2402.03300)
    constant  sum_it m_it l_it / (N * norm_len)                 Dr. GRPO (arXiv 2503.20783)

KL to a frozen reference, k3 estimator (Schulman, "Approximating KL divergence", 2020), which is
unbiased for KL(pi || pi_ref) on samples of pi and never negative:

    k3_it = exp(ref_logp_it - logp_it) - (ref_logp_it - logp_it) - 1  >= 0

Departures:
- The sequence mean skips sequences with no loss tokens (e.g. truncated rows masked out under
  `mask_truncated`) instead of counting them as zeros (TRL counts them), so masking a row does not
  shrink the other rows' weight.
- k3's log-ratio is clamped to [-20, 20] before exp (as verl does): a far-off token gives no inf.
- No dual-clip (arXiv 1912.09729): a negative-advantage token with a huge ratio is not bounded.
- Aggregation is over the tensors given; with several minibatches, "token" normalises by the
  minibatch's token count, not the whole batch's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import Tensor

KL_LOG_RATIO_CLAMP = 20.0
# bound on |ref_logp - logp| inside k3, against overflow


@dataclass(frozen=True)
class LossOutput:
    loss: Tensor
    # scalar, differentiable
    metrics: dict[str, float]
    # `update/*` figures for logging, already detached


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of `x` over positions where `mask` is nonzero; an empty mask gives 0, not NaN.

    Positions outside the mask may hold anything (even inf/NaN): they are selected away, never
    multiplied by zero.
    """
    m = mask.to(x.dtype)
    picked = torch.where(mask.bool(), x, torch.zeros_like(x))
    if dim is None:
        return picked.sum() / m.sum().clamp_min(1.0)
    return picked.sum(dim) / m.sum(dim).clamp_min(1.0)


@dataclass(frozen=True)
class Totals:
    """Counts of the whole minibatch, for a micro-batch's share of an aggregated loss: with them
    every reducer returns numerator / (whole-minibatch denominator), so the micro-batch losses sum
    to the minibatch loss and their gradients accumulate to its gradient."""

    tokens: float
    # loss tokens (mask sum), floored at 1
    sequences: float
    # sequences with at least one loss token, floored at 1
    rows: int
    # sequences, empty or not (the Dr. GRPO normaliser's N)

    @classmethod
    def of(cls, mask: Tensor) -> Totals:
        m = mask.bool()
        return cls(max(float(m.sum()), 1.0), max(float(m.any(-1).sum()), 1.0), mask.shape[0])


def token_mean(x: Tensor, mask: Tensor, totals: Totals | None = None, *,
               norm_len: int | None = None) -> Tensor:
    """Every loss token weighs the same (DAPO token-level loss). (N, T) -> scalar."""
    if totals is None:
        return masked_mean(x, mask)
    return torch.where(mask.bool(), x, torch.zeros_like(x)).sum() / totals.tokens


def sequence_mean(x: Tensor, mask: Tensor, totals: Totals | None = None, *,
                  norm_len: int | None = None) -> Tensor:
    """Mean over tokens per sequence, then over non-empty sequences (GRPO). (N, T) -> scalar."""
    per_seq = masked_mean(x, mask, dim=-1)  # (N,)
    nonempty = mask.bool().any(dim=-1)  # (N,)
    if totals is None:
        return masked_mean(per_seq, nonempty)
    return torch.where(nonempty, per_seq, torch.zeros_like(per_seq)).sum() / totals.sequences


def constant_length_mean(x: Tensor, mask: Tensor, totals: Totals | None = None, *,
                         norm_len: int | None = None) -> Tensor:
    """Sum over loss tokens divided by N * norm_len, a constant (Dr. GRPO). (N, T) -> scalar."""
    if norm_len is None or norm_len < 1:
        raise ValueError("loss aggregation 'constant' (Dr. GRPO) needs norm_len, the token "
                         f"budget (normally rollout.max_new_tokens), >= 1; got {norm_len!r}.")
    picked = torch.where(mask.bool(), x, torch.zeros_like(x))
    rows = x.shape[0] if totals is None else totals.rows
    return picked.sum() / (rows * norm_len)


Reducer = Callable[..., Tensor]
# (x (N, T), mask (N, T), totals=None, *, norm_len=None) -> scalar
LOSS_AGGREGATIONS: dict[str, Reducer] = {
    "token": token_mean,
    "sequence": sequence_mean,
    "constant": constant_length_mean,
}
# how to add one: a reducer with the signature above, then one entry here (and in the
# `update.loss_agg` Literal); `norm_len` is the token budget, which only "constant" reads


def aggregation(agg: str, norm_len: int | None = None) -> Reducer:
    """The (x, mask[, totals]) -> scalar reducer named `agg`, given the token budget."""
    if agg not in LOSS_AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {agg!r}; known: {sorted(LOSS_AGGREGATIONS)}.")
    return partial(LOSS_AGGREGATIONS[agg], norm_len=norm_len)


def policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    adv: Tensor,
    mask: Tensor,
    *,
    eps_low: float,
    eps_high: float,
    agg: Literal["token", "sequence", "constant"] = "token",
    norm_len: int | None = None,
    totals: Totals | None = None,
    weight: Tensor | None = None,
) -> LossOutput:
    """Clipped surrogate loss (minimised). logp/old_logp/mask (N, T), adv (N,).

    `agg` names the aggregation (`LOSS_AGGREGATIONS`); `norm_len`, the token budget, is read by
    "constant" (Dr. GRPO) only. With `totals` (a micro-batch of a larger minibatch) the loss
    and every metric are this micro-batch's additive share. `weight` (N, T), detached, multiplies
    each token's loss before aggregation (the sampler/trainer mismatch correction,
    `trueloop.update.mismatch`); None leaves the loss untouched.
    """
    reduce = aggregation(agg, norm_len)
    a = adv.detach().to(logp.dtype)[:, None]  # (N, 1), broadcast over tokens
    log_ratio = torch.where(mask.bool(), logp - old_logp.detach(), torch.zeros_like(logp))
    ratio = torch.exp(log_ratio)  # (N, T)
    clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high)  # (N, T)
    per_token = -torch.minimum(ratio * a, clipped * a)  # (N, T)
    if weight is not None:
        per_token = weight.detach().to(per_token.dtype) * per_token  # (N, T)
    loss = reduce(per_token, mask, totals)
    with torch.no_grad():
        low = (ratio < 1.0 - eps_low) & (a < 0)  # (N, T)
        high = (ratio > 1.0 + eps_high) & (a > 0)  # (N, T)
        metrics = {
            "update/clip_frac_low": token_mean(low.float(), mask, totals).item(),
            "update/clip_frac_high": token_mean(high.float(), mask, totals).item(),
            "update/ratio_mean": token_mean(ratio, mask, totals).item(),
            "update/pg_loss": loss.item(),
        }
    return LossOutput(loss=loss, metrics=metrics)


def kl_k3(logp: Tensor, ref_logp: Tensor, mask: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref), >= 0, and 0 outside the mask. (N, T) -> (N, T)."""
    d = (ref_logp.detach() - logp).clamp(-KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP)  # (N, T)
    k3 = torch.expm1(d) - d  # expm1 keeps k3 >= 0 and exact near d = 0
    return torch.where(mask.bool(), k3, torch.zeros_like(k3))


def truncation_mask(finish_reasons: Sequence[str]) -> Tensor:
    """(N,) bool: True for completions that stopped on their own, False for those cut at the cap.

    Multiply it into the (N, T) loss mask (`mask * truncation_mask(fr)[:, None]`) to drop
    truncated completions from the loss (DAPO overlong filtering).
    """
    unknown = set(finish_reasons) - {"stop", "length"}
    if unknown:
        raise ValueError(f"finish reasons must be 'stop' or 'length'; got {sorted(unknown)}.")
    return torch.tensor([r == "stop" for r in finish_reasons], dtype=torch.bool)
