"""Acceptance on planted features: a TopK SAE recovers a known dictionary (interp-notes T1/T3,
CI tier: D=32, F=128, true L0 2.9, n=256, k=8)."""

from __future__ import annotations

import pytest
import torch

import trueloop.audit.sae as sae_mod
from trueloop.audit.sae import SAEConfig, train_sae
from trueloop.audit.sae_metrics import feature_recovery, reconstruction_metrics
from trueloop.audit.synthetic import planted_features

pytestmark = pytest.mark.slow


def test_sae_recovers_planted_features() -> None:
    x, dirs = planted_features(32, 128, 100_000, seed=0)
    sae, _ = train_sae(x[:90_000], SAEConfig(n_latents=256, k=8, steps=600, batch_tokens=2048))
    m = reconstruction_metrics(sae, x[90_000:])
    r = feature_recovery(dirs, sae.W_dec.detach())
    print({**m, **r})
    assert r["mcc"] >= 0.95 and r["recovery"] >= 0.95
    assert m["explained_variance"] >= 0.80 and m["dead_fraction"] <= 0.05


def test_auxk_revives_latents_started_dead() -> None:
    """Half the latents start with b_enc = -6 (never in the top k; without AuxK they stay dead:
    50% dead after 600 steps); raw AuxK brings most of them back."""
    x, _ = planted_features(32, 128, 50_000, seed=1)
    init = sae_mod.init_sae

    def init_half_dead(x_n, cfg, g):
        sae = init(x_n, cfg, g)
        with torch.no_grad():
            sae.b_enc[: cfg.n_latents // 2] = -6.0
        return sae
    mp = pytest.MonkeyPatch()
    mp.setattr(sae_mod, "init_sae", init_half_dead)
    try:
        sae, log = train_sae(x, SAEConfig(n_latents=256, k=8, steps=600, batch_tokens=2048),
                             log_every=50)
    finally:
        mp.undo()
    m = reconstruction_metrics(sae, x[:20_000])
    print(log.dead_fraction, m)
    assert log.dead_fraction[1] >= 0.4  # step 50: the half that started dead is counted dead
    assert log.dead_fraction[-1] <= 0.1 and m["dead_fraction"] <= 0.2
