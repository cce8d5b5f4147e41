"""Linear probes on residual activations, as monitors for hacks the output may not show.

    s(x)  = w . (x - mu) / sigma + b                  logistic regression, standardised inputs
    L     = mean_e BCE(s(x_e), y_e) + l2 ||w||^2      full-batch L-BFGS
    x_e   = pooled activations of episode e over its action tokens (mean, max or last)

Labels come from verdict flags (`hack:special_casing`, `hack:exit`, `multiple_answers`, ...) or
from contrast pairs; reported are AUROC (Mann-Whitney, ties counted one half) and recall at 1%
false-positive rate on clean rollouts (the Apollo protocol), on held-out episodes, plus per-token
scores s(x_t) for the page.

A probe used to *evaluate* is never used as a training penalty: RL against a monitor teaches the
policy to keep the monitored signal low while keeping the behaviour (obfuscation; Baker et al.
2025, arXiv 2503.11926), so the probe would then measure its own defeat. trueloop's probes only
read; a run that wants a probe penalty must evaluate with a different, held-out monitor.

Legend: E episodes, M tokens, D width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from trueloop.audit.activations import Activations

Pool = Literal["mean", "max", "last"]


@dataclass(frozen=True)
class LinearProbe:
    w: torch.Tensor
    # (D,) weights on standardised inputs
    b: float
    mu: torch.Tensor
    # (D,) input mean
    sigma: torch.Tensor
    # (D,) input standard deviation

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) activations -> (...) logits."""
        return ((x - self.mu) / self.sigma) @ self.w + self.b


def fit_probe(x: torch.Tensor, y: torch.Tensor, l2: float = 1e-3, steps: int = 100) -> LinearProbe:
    """Logistic regression of (E,) 0/1 labels on (E, D) inputs."""
    mu, sigma = x.mean(0), x.std(0).clamp_min(1e-6)
    xs = (x - mu) / sigma
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")
    y = y.float()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, y)
        loss = loss + l2 * w.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return LinearProbe(w.detach(), float(b.detach()), mu, sigma)


def pool(x: torch.Tensor, acts: Activations, how: Pool = "mean",
         tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, D) token activations -> (E, D) one per episode over `tokens` (default: action
    tokens), and the (E,) episode ids."""
    keep = acts.is_action if tokens is None else tokens
    rows = acts.row[keep]
    ids, inv = rows.unique(return_inverse=True)
    xk = x[keep]
    if how == "mean":
        out = torch.zeros(len(ids), x.shape[1]).index_add_(0, inv, xk)
        return out / torch.bincount(inv, minlength=len(ids))[:, None], ids
    if how == "max":
        out = torch.full((len(ids), x.shape[1]), float("-inf"))
        return out.scatter_reduce_(0, inv[:, None].expand_as(xk), xk, "amax"), ids
    last = torch.zeros(len(ids), dtype=torch.long).scatter_reduce_(
        0, inv, torch.arange(len(rows)), "amax")
    return xk[last], ids


def auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """P(score of a random positive > score of a random negative), ties counted 1/2."""
    pos, neg = scores[labels.bool()], scores[~labels.bool()]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    s = torch.cat([pos, neg]).double()
    ranks = torch.empty_like(s)
    ranks[s.argsort()] = torch.arange(1, len(s) + 1, dtype=s.dtype)
    _, inv = s.unique(return_inverse=True)  # tied scores share their average rank
    ranks = (torch.zeros(int(inv.max()) + 1, dtype=s.dtype).index_add_(0, inv, ranks)
             / torch.bincount(inv))[inv]
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2  # Mann-Whitney U
    return float(u / (len(pos) * len(neg)))


def recall_at_fpr(scores: torch.Tensor, labels: torch.Tensor, fpr: float = 0.01) -> float:
    """Fraction of positives flagged at the lowest threshold that flags <= `fpr` of negatives."""
    pos, neg = scores[labels.bool()], scores[~labels.bool()].sort(descending=True).values
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allowed = int(fpr * len(neg))  # negatives that may score above the threshold
    threshold = neg[allowed] if allowed < len(neg) else neg[-1] - 1
    return float((pos > threshold).float().mean())


def evaluate_probe(probe: LinearProbe, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    s = probe.score(x)
    return {"auroc": auroc(s, y), "recall_at_1pct_fpr": recall_at_fpr(s, y, 0.01),
            "positives": int(y.sum()), "negatives": int((1 - y).sum())}
