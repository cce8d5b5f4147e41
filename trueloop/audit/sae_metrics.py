"""How good an SAE is, on held-out activations of the policy's own rollouts.

    FVU  = sum_t ||x_t - x_hat_t||^2 / sum_t ||x_t - x_bar||^2     x_bar: mean over the eval set
    EV   = 1 - FVU                 two sums, never a mean of per-token ratios (SAELens #443/#659:
                                   the per-token ratio explodes on low-norm tokens)
    L0   = mean_t #{i : z_ti > 0}
    rho_i = mean_t 1[z_ti > 0]     dead: rho_i = 0 on the eval set; dense: rho_i > 0.1
    loss recovered = (CE_abl - CE_sae) / (CE_abl - CE_clean)
                                   CE on next-token predictions of policy-sampled tokens with the
                                   site's output replaced by x_hat (CE_sae) or by the training mean
                                   (CE_abl, mean-ablation: zero-ablating a residual stream is a
                                   meaningless baseline) at the kept tokens (never position 0)
    MCC  = mean_j |cos(d_j, W_dec,pi(j))|, pi the Hungarian matching of true features to latents
           (O'Neill et al.; synthetic data only); recovery@0.9 = fraction with max_i |cos| > 0.9

Legend: M tokens, D width, n latents, F true features, V vocab.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from trueloop.audit.activations import base_model, forward_kwargs, kept_mask, spliced
from trueloop.audit.sae import TopKSAE
from trueloop.rollout.batch import RolloutBatch


def explained_variance(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """EV = 1 - sum_t ||x_t - x_hat_t||^2 / sum_t ||x_t - x_bar||^2 over (M, D) tensors."""
    resid = (x - x_hat).pow(2).sum()
    total = (x - x.mean(0, keepdim=True)).pow(2).sum()
    return float(1 - resid / total.clamp_min(1e-30))


def densities(z: torch.Tensor) -> torch.Tensor:
    """(M, n) codes -> (n,) firing frequency rho_i."""
    return (z > 0).float().mean(0)


@torch.no_grad()
def encode_all(sae: TopKSAE, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    return torch.cat([sae.encode(x[i:i + chunk]) for i in range(0, len(x), chunk)])


@torch.no_grad()
def reconstruction_metrics(sae: TopKSAE, x: torch.Tensor) -> dict[str, float]:
    """EV, L0, dead/dense fractions, shrinkage and cosine of (M, D) held-out activations."""
    z = encode_all(sae, x)
    x_hat = sae.decode(z)
    rho = densities(z)
    l0 = (z > 0).float().sum(1)
    return {
        "explained_variance": explained_variance(x, x_hat),
        "l0": float(l0.mean()),
        "dead_fraction": float((rho == 0).float().mean()),
        "dense_fraction": float((rho > 0.1).float().mean()),
        "l2_ratio": float(x_hat.norm(dim=1).mean() / x.norm(dim=1).mean().clamp_min(1e-12)),
        "cosine": float(F.cosine_similarity(x, x_hat, dim=1).mean()),
        "tokens": len(x),
    }


def _decoder_and_head(model: torch.nn.Module):
    m = base_model(model)
    return m.get_decoder(), m.get_output_embeddings()


def next_token_logits(model: torch.nn.Module, batch: RolloutBatch, rows_per_forward: int = 16
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Per chunk of rows: ((m,) flat index into the (N, L) grid of positions t that predict an
    action token t+1, (m, V) fp32 logits there). The LM head runs on those positions only, and
    one chunk's logits exist at a time."""
    decoder, head = _decoder_and_head(model)
    device = next(model.parameters()).device
    target = torch.zeros_like(batch.action_mask, dtype=torch.bool)
    target[:, :-1] = batch.action_mask[:, 1:].bool() & kept_mask(batch)[:, :-1]
    width = batch.input_ids.shape[1]
    for start in range(0, len(batch), rows_per_forward):
        part = batch.select(slice(start, start + rows_per_forward)).to(device)
        h = decoder(**forward_kwargs(part), use_cache=False).last_hidden_state  # (n, L, D)
        t = target[start:start + rows_per_forward]
        rows, cols = t.nonzero(as_tuple=True)
        yield (rows + start) * width + cols, head(h[t.to(device)]).float().cpu()


def _logits(model: torch.nn.Module, part: RolloutBatch, site: str | None,
            replace: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """(m, V) log-probs at a chunk's action-predicting positions, the site spliced if asked."""
    if replace is None:
        return next(next_token_logits(model, part, len(part)))[1].log_softmax(-1)
    keep = kept_mask(part).to(next(model.parameters()).device)

    def swap(h: torch.Tensor) -> torch.Tensor:
        new = h.clone()
        new[keep] = replace(h[keep].float()).to(h.dtype)  # never position 0 or padding
        return new
    with spliced(model, site, swap):
        return next(next_token_logits(model, part, len(part)))[1].log_softmax(-1)


def _targets(part: RolloutBatch) -> torch.Tensor:
    target = torch.zeros_like(part.action_mask, dtype=torch.bool)
    target[:, :-1] = part.action_mask[:, 1:].bool() & kept_mask(part)[:, :-1]
    return part.input_ids[:, 1:][target[:, :-1]]  # (m,) the sampled token each position predicts


@torch.no_grad()
def action_ce(model: torch.nn.Module, batch: RolloutBatch, site: str | None = None,
              replace: Callable[[torch.Tensor], torch.Tensor] | None = None,
              rows_per_forward: int = 16) -> float:
    """Mean CE of the policy-sampled tokens, optionally with the site's output h replaced by
    `replace(h)` at the kept tokens."""
    total, count = 0.0, 0
    for start in range(0, len(batch), rows_per_forward):
        part = batch.select(slice(start, start + rows_per_forward))
        logp = _logits(model, part, site, replace)
        total -= float(logp.gather(1, _targets(part)[:, None]).sum())
        count += len(logp)
    return total / max(count, 1)


@torch.no_grad()
def loss_recovered(model: torch.nn.Module, batch: RolloutBatch, site: str, sae: TopKSAE,
                   mean: torch.Tensor, rows_per_forward: int = 16) -> dict[str, float]:
    """Splice the SAE reconstruction (and, for the baseline, the (D,) mean) into the forward."""
    ce = {"clean": 0.0, "sae": 0.0, "abl": 0.0}
    kl, count = 0.0, 0
    for start in range(0, len(batch), rows_per_forward):
        part = batch.select(slice(start, start + rows_per_forward))
        y = _targets(part)[:, None]
        clean = _logits(model, part, None, None)  # (m, V)
        spliced_sae = _logits(model, part, site, lambda h: sae(h))
        ablated = _logits(model, part, site, lambda h: mean.to(h).expand_as(h))
        for key, lp in (("clean", clean), ("sae", spliced_sae), ("abl", ablated)):
            ce[key] -= float(lp.gather(1, y).sum())
        kl += float((clean.exp() * (clean - spliced_sae)).sum())
        count += len(y)
    c, s, a = (ce[k] / max(count, 1) for k in ("clean", "sae", "abl"))
    return {"ce_clean": c, "ce_sae": s, "ce_mean_ablation": a, "delta_ce": s - c,
            "kl_clean_sae": kl / max(count, 1),
            "loss_recovered": (a - s) / (a - c) if a != c else float("nan")}


def hungarian_max(score: np.ndarray) -> np.ndarray:
    """Rows -> distinct columns maximising the total score ((F, n) with F <= n); O(F^2 n)
    (the shortest-augmenting-path Hungarian algorithm, inner loop vectorised over columns)."""
    f, n = score.shape
    cost = np.zeros((f + 1, n + 1))
    cost[1:, 1:] = -score
    u, v = np.zeros(f + 1), np.zeros(n + 1)
    p, way = np.zeros(n + 1, dtype=int), np.zeros(n + 1, dtype=int)
    for i in range(1, f + 1):
        p[0], j0 = i, 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = cost[i0] - u[i0] - v
            better = ~used & (cur < minv)
            minv[better] = cur[better]
            way[better] = j0
            masked = np.where(used, np.inf, minv)
            j1 = int(masked[1:].argmin()) + 1
            delta = masked[j1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    match = np.full(f, -1)
    for j in range(1, n + 1):
        if p[j]:
            match[p[j] - 1] = j - 1
    return match


def feature_recovery(true_dirs: torch.Tensor, W_dec: torch.Tensor,
                     threshold: float = 0.9) -> dict[str, float]:
    """MCC and recovery@threshold of (F, D) true directions by (n, D) decoder rows."""
    cos = (F.normalize(true_dirs, dim=1) @ F.normalize(W_dec, dim=1).T).abs()  # (F, n)
    match = hungarian_max(cos.double().numpy())
    mcc = float(cos[torch.arange(len(match)), torch.as_tensor(match)].mean())
    return {"mcc": mcc, "recovery": float((cos.max(1).values > threshold).float().mean())}
