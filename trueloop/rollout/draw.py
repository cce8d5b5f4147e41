"""Drawing the next token: temperature, top-k and top-p (nucleus, arXiv 1904.09751) truncation.

Sampling uses the exponential race (argmax of p_v / E_v with E_v ~ Exp(1) is a draw from p), one
random tensor per step from the caller's `torch.Generator`, so a seed fixes every token. Log-probs
are recorded from the temperature-scaled distribution *before* truncation (see RolloutBatch).

Legend: N rows, V vocab.
"""

from __future__ import annotations

import torch


def truncate(scaled: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """(N, V) temperature-scaled logits -> the same, tokens outside top-k / top-p set to -inf."""
    if 0 < top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, top_k, dim=-1).values[:, -1:]  # (N, 1)
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)  # (N, V)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the mass strictly before it already reaches top_p (the first survives)
        drop = (probs.cumsum(-1) - probs) >= top_p  # (N, V)
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        scaled = torch.empty_like(scaled).scatter_(-1, order, sorted_logits)
    return scaled


def draw(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(N, V) logits (possibly -inf) -> (N,) token ids drawn from softmax(logits)."""
    probs = torch.softmax(logits, dim=-1)  # (N, V)
    where = generator.device if generator is not None else probs.device
    race = torch.empty(probs.shape, device=where).exponential_(generator=generator)  # (N, V)
    return (probs / race.to(probs.device)).argmax(dim=-1)  # (N,)
