"""Planted features: activations with a known dictionary, to test that an SAE recovers it.

    D      (F, D) random unit directions (F > D: superposition)
    p_i    = p_max * i^-decay          feature i fires i.i.d. with probability p_i (Zipf-like)
    c_ti   ~ U[0.5, 1.5] where it fires, else 0
    x_t    = sum_i c_ti D_i (+ offset)

(the toy setting of O'Neill et al. and SAELens `synthetic/`; interp-notes T1).
Legend: M samples, F features, D width.
"""

from __future__ import annotations

import torch


def planted_features(d: int, n_features: int, n_samples: int, *, p_max: float = 0.25,
                     decay: float = 0.7, offset: float = 0.0, seed: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, D) samples and the (F, D) true directions."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(n_features, d, generator=g)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    p = p_max * torch.arange(1, n_features + 1, dtype=torch.float32) ** -decay  # (F,)
    fires = torch.rand(n_samples, n_features, generator=g) < p  # (M, F)
    mags = 0.5 + torch.rand(n_samples, n_features, generator=g)
    x = (fires * mags) @ dirs  # (M, D)
    if offset:
        x[:, 0] += offset
    return x, dirs
