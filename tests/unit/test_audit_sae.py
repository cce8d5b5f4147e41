"""SAE losses, metric formulas on hand-made tensors, the matching, and save/load."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tests.unit.test_audit_activations import llama, toy_batch
from trueloop.audit.sae import SAEConfig, TopKSAE, auxk_loss, dead_topk, init_sae, train_sae
from trueloop.audit.sae_metrics import (
    action_ce,
    explained_variance,
    feature_recovery,
    hungarian_max,
    loss_recovered,
    reconstruction_metrics,
)
from trueloop.audit.synthetic import planted_features


def test_predicting_the_mean_gives_ev_zero_and_x_gives_one() -> None:
    x = torch.randn(50, 4)
    assert explained_variance(x, x.mean(0).expand_as(x)) == pytest.approx(0.0, abs=1e-6)
    assert explained_variance(x, x) == pytest.approx(1.0)


def test_ev_is_a_ratio_of_sums_not_a_mean_of_ratios() -> None:
    x = torch.tensor([[10.0, 0.0], [-10.0, 0.0], [0.0, 0.01], [0.0, -0.01]])
    x_hat = x.clone()
    x_hat[2:] = 0.0  # the two tiny tokens are missed entirely, the big ones are exact
    # sums: 2e-4 / 200.0002; a mean of per-token ratios would weigh the tiny tokens as much
    assert explained_variance(x, x_hat) == pytest.approx(1 - 2e-4 / 200.0002, abs=1e-7)


def test_topk_keeps_at_most_k_and_drops_negatives() -> None:
    sae = TopKSAE(3, 5, k=2)
    z = sae.topk(torch.tensor([[1.0, -2.0, 3.0, 0.5, -1.0], [-1.0, -2.0, -3.0, -0.5, -4.0]]))
    assert z.tolist() == [[1.0, 0.0, 3.0, 0.0, 0.0], [0.0] * 5]


def test_auxk_gives_gradient_to_dead_latents_with_negative_preacts() -> None:
    sae = TopKSAE(4, 6, k=2)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(6, 4))
        sae.W_dec.copy_(torch.randn(6, 4))
        sae.b_enc[:2] = -50.0  # latents 0, 1: every pre-activation negative, a ReLU blocks them
    x = torch.randn(3, 4)
    pre = sae.preacts(x).detach()
    assert (pre[:, :2] < 0).all()
    dead = torch.tensor([True, True, False, False, False, False])
    idx = dead_topk(pre, dead, k_aux=2)
    assert sorted(idx[0].tolist()) == [0, 1]
    loss = auxk_loss(torch.ones(3, 4), idx, sae.preacts(x).gather(1, idx), sae.W_dec)
    loss.backward()
    assert sae.b_enc.grad[:2].abs().min() > 0 and sae.b_enc.grad[2:].abs().sum() == 0


def test_sparse_decode_equals_dense() -> None:
    sae = TopKSAE(4, 6, k=2)
    with torch.no_grad():
        for p in sae.parameters():
            p.normal_()
    x = torch.randn(5, 4)
    z = sae.encode(x)
    top = z.topk(2, dim=-1)
    dense = z @ sae.W_dec + sae.b_dec
    torch.testing.assert_close(sae.decode_sparse(top.indices, top.values), dense)


def test_save_load_round_trip_with_folded_scale(tmp_path) -> None:
    x = torch.randn(200, 8) * 30 + 5
    sae = init_sae(x, SAEConfig(n_latents=16, k=3), torch.Generator().manual_seed(0))
    with torch.no_grad():
        sae.scale.fill_(0.07)
        sae.b_enc.normal_()
    sae.meta = {"site": "blocks.1", "model_hash": "abc"}
    sae.save(tmp_path)
    back = TopKSAE.load(tmp_path)
    assert back.scale.item() == 1.0 and back.meta["site"] == "blocks.1"
    torch.testing.assert_close(back.encode(x), sae.encode(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(back(x), sae(x), atol=1e-4, rtol=1e-5)


def test_hungarian_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    score = rng.random((4, 6))
    best = max(itertools.permutations(range(6), 4),
               key=lambda cols: sum(score[i, c] for i, c in enumerate(cols)))
    assert hungarian_max(score).tolist() == list(best)


def test_feature_recovery_of_exact_and_wrong_dictionaries() -> None:
    dirs = torch.linalg.qr(torch.randn(8, 8))[0][:5]
    latents = torch.cat([-dirs.flip(0), torch.randn(3, 8)])  # sign and order do not matter
    assert feature_recovery(dirs, latents) == pytest.approx({"mcc": 1.0, "recovery": 1.0})
    assert feature_recovery(dirs, torch.randn(5, 8))["recovery"] < 1.0


def test_identity_splice_leaves_the_loss_unchanged() -> None:
    model, b = llama(), toy_batch()
    clean = action_ce(model, b)
    same = action_ce(model, b, "blocks.1", lambda h: h)
    assert same == pytest.approx(clean, abs=1e-6)
    shifted = action_ce(model, b, "blocks.1", lambda h: h + 1.0)
    assert shifted != pytest.approx(clean, abs=1e-4)


def test_loss_recovered_is_one_for_a_perfect_reconstruction(monkeypatch) -> None:
    model, b = llama(), toy_batch()
    sae = TopKSAE(32, 4, k=1)
    monkeypatch.setattr(TopKSAE, "forward", lambda self, h: h)
    out = loss_recovered(model, b, "blocks.1", sae, torch.full((32,), 5.0))
    assert out["loss_recovered"] == pytest.approx(1.0, abs=1e-5)
    assert abs(out["ce_mean_ablation"] - out["ce_clean"]) > 1e-3


def test_a_short_training_run_reconstructs_planted_features() -> None:
    x, _ = planted_features(8, 12, 2000, p_max=0.3)
    sae, log = train_sae(x, SAEConfig(n_latents=24, k=4, steps=30, batch_tokens=128))
    assert log.mse[-1] < log.mse[0]
    m = reconstruction_metrics(sae, x)
    assert m["explained_variance"] > 0.5 and m["l0"] <= 4
