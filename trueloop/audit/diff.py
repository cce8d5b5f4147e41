"""Base vs RL: what changed, on the same token sequences run through both models.

The sequences are the trained policy's own rollouts, teacher-forced through the starting policy
("base") and the trained one; the unit of resampling is the episode.

    KL_t     = KL(p_pol(. | x_<=t) || p_base(. | x_<=t))     at positions predicting an action
    delta    = mean_t (h_pol,t - h_base,t)
    delta_KL = sum_t KL_t (h_pol,t - h_base,t) / sum_t KL_t   where behaviour changed
    lens(v)  = W_U norm(h_bar_base + v) - W_U norm(h_bar_base)  logit lens (last blocks only:
                                                                earlier residuals are not in
                                                                the unembedding's basis)
    Delta_i  = sum_t KL_t (z_pol,ti - z_base,ti) / sum_t KL_t   per SAE latent (one SAE trained
                                                                on pooled base + policy acts)
    rho_i    = mean_t 1[z_ti > 0] per model, log-odds shift with eps = 1e-4

Bootstrap over episodes: resample episodes with replacement, recompute Delta_i from per-episode
sums; the interval is the 2.5/97.5 percentiles and `p` the two-sided bootstrap sign fraction,
Bonferroni-corrected over the n latents. Following interp-notes T5: at block 0 an unweighted mean
difference and a global |delta rho| ranking show only drift, so the ranking is by Delta_i and the
lens is read at the last block.

Legend: M kept tokens, D width, n latents, E episodes, V vocab.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trueloop.audit.activations import Activations, base_model
from trueloop.audit.sae import TopKSAE
from trueloop.audit.sae_metrics import encode_all, next_token_logits
from trueloop.rollout.batch import RolloutBatch

NORMS = ("norm", "ln_f", "final_layer_norm")
# the final norm's attribute name on the decoder (Llama/Qwen/Mistral, GPT-2, GPT-NeoX)
EPS = 1e-4
CHUNK = 8192
# tokens encoded at a time where only sums are kept


@torch.no_grad()
def token_kl(policy: torch.nn.Module, base: torch.nn.Module, batch: RolloutBatch,
             acts: Activations) -> torch.Tensor:
    """(M,) KL(p_pol || p_base) at each kept token that predicts an action, 0 elsewhere."""
    width = batch.input_ids.shape[1]
    kl = torch.zeros(batch.input_ids.numel())
    for (flat, lp), (_, lb) in zip(next_token_logits(policy, batch),
                                   next_token_logits(base, batch), strict=True):
        lp, lb = lp.log_softmax(-1), lb.log_softmax(-1)  # (m, V)
        kl[flat] = (lp.exp() * (lp - lb)).sum(-1).clamp_min(0)
    return kl[acts.row * width + acts.col]


def final_norm(model: torch.nn.Module) -> torch.nn.Module:
    decoder = base_model(model).get_decoder()
    for name in NORMS:
        if isinstance(getattr(decoder, name, None), torch.nn.Module):
            return getattr(decoder, name)
    raise ValueError(f"cannot find the final norm of {type(decoder).__name__} (tried {NORMS}).")


@torch.no_grad()
def logit_lens(model: torch.nn.Module, h_bar: torch.Tensor, v: torch.Tensor, top: int = 5,
               vocab: torch.Tensor | None = None) -> list[tuple[int, float]]:
    """Top (token id, logit change) of W_U norm(h_bar + v) - W_U norm(h_bar), among the token
    ids `vocab` when given (ids that never occur, such as a char tokenizer's unused slots, have
    untrained unembedding rows that move with the norm of the state and crowd out the rest)."""
    norm, head = final_norm(model), base_model(model).get_output_embeddings()
    p = next(model.parameters())
    both = torch.stack([h_bar + v, h_bar]).to(p.device, p.dtype)
    logits = head(norm(both)).float().cpu()  # (2, V)
    change = logits[0] - logits[1]
    if vocab is not None:
        change = torch.full_like(change, float("-inf")).index_copy_(0, vocab, change[vocab])
    vals, ids = change.topk(min(top, len(change) if vocab is None else len(vocab)))
    return [(int(i), float(c)) for i, c in zip(ids, vals, strict=True)]


@torch.no_grad()
def activation_diff(model: torch.nn.Module, h_pol: torch.Tensor, h_base: torch.Tensor,
                    kl: torch.Tensor, top: int = 5, vocab: torch.Tensor | None = None) -> dict:
    """Mean and KL-weighted activation difference at one site, with their logit-lens readout."""
    d = h_pol - h_base  # (M, D)
    delta = d.mean(0)
    delta_kl = (kl[:, None] * d).sum(0) / kl.sum().clamp_min(1e-12)
    h_bar, scale = h_base.mean(0), h_base.norm(dim=1).mean().clamp_min(1e-12)
    return {"delta_rel_norm": float(delta.norm() / scale),
            "delta_kl_rel_norm": float(delta_kl.norm() / scale),
            "lens_delta": logit_lens(model, h_bar, delta, top, vocab),
            "lens_delta_kl": logit_lens(model, h_bar, delta_kl, top, vocab)}


@dataclass(frozen=True)
class FeatureShifts:
    shift: torch.Tensor
    # (n,) Delta_i, the KL-weighted activation shift
    lo: torch.Tensor
    # (n,) bootstrap 2.5% percentile of Delta_i
    hi: torch.Tensor
    # (n,) bootstrap 97.5% percentile
    p: torch.Tensor
    # (n,) Bonferroni-corrected two-sided bootstrap p-value
    rho_base: torch.Tensor
    # (n,) firing frequency on the base model
    rho_pol: torch.Tensor
    # (n,) firing frequency on the trained policy
    z_pol: torch.Tensor
    # (M, n) policy codes (for contexts and highlights)

    @property
    def log_odds(self) -> torch.Tensor:
        def logit(r: torch.Tensor) -> torch.Tensor:
            r = r.clamp(EPS, 1 - EPS)
            return (r / (1 - r)).log()
        return logit(self.rho_pol) - logit(self.rho_base)

    def ranking(self) -> torch.Tensor:
        """Latents by Delta_i, largest first."""
        return self.shift.argsort(descending=True)


def feature_shifts(sae: TopKSAE, x_pol: torch.Tensor, x_base: torch.Tensor, kl: torch.Tensor,
                   episode: torch.Tensor, n_boot: int = 200, seed: int = 0) -> FeatureShifts:
    """Per-latent shifts of (M, D) policy vs base activations, weighted by the (M,) KL_t;
    `episode` (M,) is the resampling unit."""
    z_pol = encode_all(sae, x_pol)  # (M, n), kept for contexts and highlights
    ids, inv = episode.unique(return_inverse=True)
    e = len(ids)
    s = torch.zeros(e, sae.n_latents)  # per-episode sum_t KL_t (z_pol - z_base)
    fired_base = torch.zeros(sae.n_latents)
    with torch.no_grad():
        for i in range(0, len(x_base), CHUNK):  # base codes one chunk at a time
            part = slice(i, i + CHUNK)
            z_base = sae.encode(x_base[part])
            s.index_add_(0, inv[part], kl[part, None] * (z_pol[part] - z_base))
            fired_base += (z_base > 0).sum(0)
    w = torch.zeros(e).index_add_(0, inv, kl)  # (E,)
    shift = s.sum(0) / w.sum().clamp_min(1e-12)
    g = torch.Generator().manual_seed(seed)
    draws = torch.randint(0, e, (n_boot, e), generator=g)
    counts = torch.zeros(n_boot, e).scatter_add_(1, draws, torch.ones(n_boot, e))  # (B, E)
    boot = (counts @ s) / (counts @ w).clamp_min(1e-12)[:, None]  # (B, n)
    lo, hi = boot.quantile(0.025, dim=0), boot.quantile(0.975, dim=0)
    sign = torch.minimum((boot <= 0).float().mean(0), (boot >= 0).float().mean(0))
    p = (2 * sign * sae.n_latents).clamp(max=1.0)
    return FeatureShifts(shift, lo, hi, p, fired_base / max(len(x_base), 1),
                         (z_pol > 0).float().mean(0), z_pol)
