"""One policy update on one rollout batch: `epochs` x `minibatches` optimizer steps with ratios
against fixed old log-probs (PPO-style reuse, as in GRPO; epochs=1, minibatches=1 is on-policy).
The old log-probs are the sampler's as recorded, or the trainer's recomputed before the first step
(`OLD_LOGPROBS`, `update.old_logprobs`); with the trainer's, the sampler/trainer mismatch is
measured and optionally corrected (`trueloop.update.mismatch`).

Legend: N = B*G episodes, T episode tokens (the batch's columns after the prompt). Every reduction
(loss, KL, entropy, metrics) runs over `loss_mask`, which is the action mask.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import Callable

import torch

from trueloop.config import UpdateConfig
from trueloop.policy import Policy
from trueloop.rollout import RolloutBatch, token_logprobs
from trueloop.rollout.logprobs import Sampling
from trueloop.update.losses import Totals, kl_k3, policy_loss, token_mean, truncation_mask
from trueloop.update.mismatch import measure


def loss_mask(batch: RolloutBatch, cfg: UpdateConfig) -> torch.Tensor:
    """(N, T) tokens that enter the loss, over the episode columns: exactly the policy's sampled
    tokens (`action_mask`; observations and scaffolding never), minus episodes whose env crashed
    (`env_error`), minus truncated episodes under DAPO filtering."""
    mask = batch.action_mask[:, batch.prompt_width:].float()  # (N, T)
    crashed = [e.stop_reason != "env_error" for e in batch.episodes]
    if not all(crashed):
        mask = mask * torch.tensor(crashed, dtype=mask.dtype, device=mask.device)[:, None]
    if cfg.mask_truncated:
        mask = mask * truncation_mask(batch.finish_reasons).to(mask)[:, None]
    return mask


def as_if_sampled(policy: Policy, batch: RolloutBatch, sampling: Sampling,
                  cfg: UpdateConfig) -> RolloutBatch:
    """Ablation only (`update.train_observations`): every episode token, observations and chat
    scaffolding included, enters the loss as if the policy had sampled it; the tokens it did not
    sample get their "old" log-probs from the current policy (no grad). This is the masking bug
    trueloop's episodes exist to rule out; it is here so its cost can be measured."""
    p = batch.prompt_width
    action = batch.action_mask.clone()
    action[:, p:] = batch.attention_mask[:, p:]
    wide = dataclasses.replace(batch, action_mask=action)
    with torch.no_grad():
        old = token_logprobs(policy.model, wide, **sampling._asdict(),
                             logit_budget=cfg.logit_budget)[0]  # (N, T)
    logprobs = batch.logprobs.clone()
    sampled = batch.action_mask[:, p:].bool()
    logprobs[:, p:] = torch.where(sampled, batch.logprobs[:, p:], old)
    return dataclasses.replace(wide, logprobs=logprobs)


def frozen_logprobs(model, batch: RolloutBatch, sampling: Sampling,
                    cfg: UpdateConfig) -> torch.Tensor:
    """(N, T) log-probs of the batch's tokens under `model`, no grad, in micro-batches when
    those are set."""
    size = cfg.micro_batch_size or len(batch)
    with torch.no_grad():
        return torch.cat([token_logprobs(model, batch.select(slice(i, i + size)),
                                         **sampling._asdict(),
                                         logit_budget=cfg.logit_budget)[0]
                          for i in range(0, len(batch), size)])


def reference_logprobs(ref_model, batch: RolloutBatch, sampling: Sampling,
                       cfg: UpdateConfig) -> torch.Tensor | None:
    """(N, T) log-probs under the frozen reference; None without one."""
    return None if ref_model is None else frozen_logprobs(ref_model, batch, sampling, cfg)


def sampler_logprobs(policy: Policy, batch: RolloutBatch, sampling: Sampling,
                     cfg: UpdateConfig) -> torch.Tensor:
    """(N, T) the sampler's log-probs, as recorded (`RolloutBatch.logprobs`): the behaviour
    policy is the proximal one. Exact with the native engine, which samples with the trainer's
    weights and kernels."""
    return batch.logprobs[:, batch.prompt_width:]


def trainer_logprobs(policy: Policy, batch: RolloutBatch, sampling: Sampling,
                     cfg: UpdateConfig) -> torch.Tensor:
    """(N, T) the policy's log-probs of the sampled tokens before the first optimizer step, with
    the update's own forward (autocast included), so the PPO ratio measures only how far the
    policy moved: proximal = trainer, behaviour = sampler (decoupled PPO, arXiv 2110.00641)."""
    with autocast(policy, cfg):
        return frozen_logprobs(policy.model, batch, sampling, cfg)


OLD_LOGPROBS: dict[str, Callable[..., torch.Tensor]] = {
    "sampler": sampler_logprobs,
    "trainer": trainer_logprobs,
}
# (policy, batch, sampling, cfg) -> (N, T): what the PPO ratio is taken against,
# `update.old_logprobs`


@dataclasses.dataclass(frozen=True)
class Anchors:
    """What the loss holds the policy against, fixed before the first optimizer step; each (N, T)
    over the same rows as the (micro-)batch."""

    old_logp: torch.Tensor
    # the log-probs the PPO ratio is taken against (`OLD_LOGPROBS`)
    ref_logp: torch.Tensor | None
    # the frozen reference's, for the KL term; None without a reference
    weight: torch.Tensor | None
    # the mismatch correction's per-token weight; None = unweighted

    def select(self, rows: slice) -> Anchors:
        return Anchors(*(None if t is None else t[rows]
                         for t in (self.old_logp, self.ref_logp, self.weight)))


def optimize(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    adv: torch.Tensor,
    cfg: UpdateConfig,
    *,
    temperature: float,
    max_new_tokens: int,
    top_k: int = 0,
    top_p: float = 1.0,
    ref_model=None,
) -> dict[str, float]:
    """Run the update; returns averaged `update/*` metrics, and the batch's `mismatch/*` ones
    when the old log-probs are the trainer's. `adv` is (N,): one per sequence.

    Each minibatch is one optimizer step. With `cfg.micro_batch_size` it is run in micro-batches
    whose losses are their additive shares of the minibatch loss (`losses.Totals`): gradients
    accumulate to the minibatch's gradient (tested), while activations exist for one micro-batch.
    """
    sampling = Sampling(temperature, top_k, top_p)  # the sampler's: replayed on every log-prob
    if cfg.train_observations:  # the ablation: observation tokens trained as if sampled
        batch = as_if_sampled(policy, batch, sampling, cfg)
    mask = loss_mask(batch, cfg)  # (N, T)
    old_logp = OLD_LOGPROBS[cfg.old_logprobs](policy, batch, sampling, cfg)  # (N, T)
    mismatch = None
    if cfg.old_logprobs == "trainer":  # only then is there a second opinion to compare with
        mismatch = measure(sampler_logprobs(policy, batch, sampling, cfg), old_logp, mask, cfg)
    anchors = Anchors(old_logp, reference_logprobs(ref_model, batch, sampling, cfg),
                      mismatch.weight if mismatch else None)
    params = [p for p in policy.model.parameters() if p.requires_grad]
    n = adv.shape[0]
    size = n // cfg.minibatches
    stats: dict[str, list[float]] = defaultdict(list)
    for _ in range(cfg.epochs):
        for start in range(0, n, size):
            rows = slice(start, start + size)
            micro = cfg.micro_batch_size or size
            totals = Totals.of(mask[rows]) if micro < size else None
            optimizer.zero_grad(set_to_none=True)
            parts: dict[str, float] = defaultdict(float)
            for m0 in range(start, start + size, micro):
                mrows = slice(m0, min(m0 + micro, start + size))
                loss, metrics = minibatch_loss(policy, batch.select(mrows), adv[mrows],
                                               mask[mrows], anchors.select(mrows), cfg,
                                               sampling, max_new_tokens, totals)
                loss.backward()
                for k, v in metrics.items():
                    parts[k] += v
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            stats["update/grad_norm"].append(grad_norm.item())
            for k, v in parts.items():
                stats[k].append(v)
    return {**{k: sum(v) / len(v) for k, v in stats.items()},
            **(mismatch.metrics if mismatch else {})}


def minibatch_loss(policy: Policy, mb: RolloutBatch, adv: torch.Tensor, mask: torch.Tensor,
                   anchors: Anchors, cfg: UpdateConfig, sampling: Sampling, max_new_tokens: int,
                   totals: Totals | None) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one (micro-)batch: (weighted) clipped surrogate - entropy bonus + KL, and its
    metrics (each an additive share of the minibatch figure when `totals` is given)."""
    with autocast(policy, cfg):
        logp, entropy = token_logprobs(policy.model, mb, **sampling._asdict(),
                                       logit_budget=cfg.logit_budget)  # (n, T)
    out = policy_loss(logp, anchors.old_logp, adv, mask, eps_low=cfg.eps_low,
                      eps_high=cfg.eps_high, agg=cfg.loss_agg, norm_len=max_new_tokens,
                      totals=totals, weight=anchors.weight)
    loss = out.loss
    ent = token_mean(entropy, mask, totals)
    if cfg.entropy_coef:
        loss = loss - cfg.entropy_coef * ent
    metrics = {**out.metrics, "update/entropy": ent.item()}
    if anchors.ref_logp is not None:
        kl = token_mean(kl_k3(logp, anchors.ref_logp, mask), mask, totals)
        loss = loss + cfg.kl_coef * kl
        metrics["update/kl"] = kl.item()
    metrics["update/loss"] = loss.item()
    return loss, metrics


def enable_gradient_checkpointing(policy: Policy) -> None:
    """transformers' activation checkpointing on the decoder blocks (and, under LoRA, an input
    that requires grad, since the frozen embeddings give none)."""
    model = policy.model
    enable = getattr(model, "activation_checkpointing_enable", None)
    (enable or model.gradient_checkpointing_enable)()
    if policy.is_lora:
        model.enable_input_require_grads()


def autocast(policy: Policy, cfg: UpdateConfig):
    """bf16 autocast of the update's forward when `cfg.autocast == "bf16"` (fp32 weights and
    optimizer state; log-probs are computed in fp32 either way)."""
    if cfg.autocast == "off":
        return contextlib.nullcontext()
    return torch.autocast(policy.device.type, dtype=torch.bfloat16)
