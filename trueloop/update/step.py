"""One policy update on one rollout batch: `epochs` x `minibatches` optimizer steps with ratios
against the sampling logprobs (PPO-style reuse, as in GRPO; epochs=1, minibatches=1 is on-policy).

Legend: N = B*G episodes, T episode tokens (the batch's columns after the prompt). Every reduction
(loss, KL, entropy, metrics) runs over `loss_mask`, which is the action mask.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from trueloop.config import UpdateConfig
from trueloop.policy import Policy
from trueloop.rollout import RolloutBatch, token_logprobs
from trueloop.update.losses import kl_k3, masked_mean, policy_loss, truncation_mask


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


def reference_logprobs(ref_model, batch: RolloutBatch, temperature: float) -> torch.Tensor | None:
    if ref_model is None:
        return None
    with torch.no_grad():
        return token_logprobs(ref_model, batch, temperature=temperature)[0]  # (N, T)


def optimize(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    adv: torch.Tensor,
    cfg: UpdateConfig,
    *,
    temperature: float,
    max_new_tokens: int,
    ref_model=None,
) -> dict[str, float]:
    """Run the update; returns averaged `update/*` metrics. `adv` is (N,): one per sequence."""
    mask = loss_mask(batch, cfg)  # (N, T)
    ref_logp = reference_logprobs(ref_model, batch, temperature)
    params = [p for p in policy.model.parameters() if p.requires_grad]
    n = adv.shape[0]
    size = n // cfg.minibatches
    norm_len = max_new_tokens if cfg.loss_agg == "constant" else None
    agg = "token" if cfg.loss_agg == "constant" else cfg.loss_agg
    stats: dict[str, list[float]] = defaultdict(list)
    for _ in range(cfg.epochs):
        for start in range(0, n, size):
            rows = slice(start, start + size)
            mb = batch.select(rows)
            logp, entropy = token_logprobs(policy.model, mb, temperature=temperature)  # (n, T)
            old_logp = mb.logprobs[:, mb.prompt_width:]  # (n, T) recorded at sampling
            out = policy_loss(logp, old_logp, adv[rows], mask[rows], eps_low=cfg.eps_low,
                              eps_high=cfg.eps_high, agg=agg, norm_len=norm_len)
            loss = out.loss
            ent = masked_mean(entropy, mask[rows])
            if cfg.entropy_coef:
                loss = loss - cfg.entropy_coef * ent
            if ref_logp is not None:
                kl = masked_mean(kl_k3(logp, ref_logp[rows], mask[rows]), mask[rows])
                loss = loss + cfg.kl_coef * kl
                stats["update/kl"].append(kl.item())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            stats["update/loss"].append(loss.item())
            stats["update/entropy"].append(ent.item())
            stats["update/grad_norm"].append(grad_norm.item())
            for k, v in out.metrics.items():
                stats[k].append(float(v))
    return {k: sum(v) / len(v) for k, v in stats.items()}
