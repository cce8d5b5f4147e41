"""Base-vs-RL pieces on hand-made cases: KL of a model to itself, the lens, feature shifts."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.unit.test_audit_activations import gpt2, llama, toy_batch
from trueloop.audit.activations import collect
from trueloop.audit.diff import activation_diff, feature_shifts, final_norm, logit_lens, token_kl
from trueloop.audit.sae import TopKSAE
from trueloop.audit.sae_metrics import action_ce


def test_kl_of_a_model_to_itself_is_zero_and_positive_to_another() -> None:
    model, b = llama(), toy_batch()
    acts = collect(model, b, ["blocks.0"])
    assert token_kl(model, model, b, acts).abs().max() < 1e-6
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.lm_head.weight.add_(torch.randn_like(other.lm_head.weight))
    kl = token_kl(other, model, b, acts)
    assert (kl[acts.predicts_action] > 0).all() and (kl[~acts.predicts_action] == 0).all()


def test_chunking_does_not_change_the_loss() -> None:
    model, b = llama(), toy_batch()
    assert action_ce(model, b, rows_per_forward=1) == pytest.approx(action_ce(model, b), abs=1e-6)


def test_lens_reads_the_direction_of_a_token() -> None:
    model = gpt2()
    assert final_norm(model) is model.transformer.ln_f
    h_bar = torch.zeros(32)
    top = logit_lens(model, h_bar, 5.0 * model.lm_head.weight[7].detach(), top=1)
    assert top[0][0] == 7
    only = logit_lens(model, h_bar, 5.0 * model.lm_head.weight[7].detach(), top=3,
                      vocab=torch.tensor([2, 3]))
    assert sorted(i for i, _ in only) == [2, 3]


def test_activation_diff_of_identical_activations_is_zero() -> None:
    h = torch.randn(10, 32)
    d = activation_diff(llama(), h, h.clone(), torch.rand(10))
    assert d["delta_rel_norm"] == 0 and d["delta_kl_rel_norm"] == 0


def test_feature_shift_weights_by_kl() -> None:
    sae = TopKSAE(2, 2, k=1)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(2))
        sae.W_dec.copy_(torch.eye(2))
    # policy fires latent 1 (value 2) where KL is high; base fires latent 0 everywhere
    x_base = torch.tensor([[1.0, 0.0]] * 4)
    x_pol = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 2.0]])
    kl = torch.tensor([0.0, 1.0, 0.0, 1.0])
    s = feature_shifts(sae, x_pol, x_base, kl, episode=torch.tensor([0, 0, 1, 1]))
    assert s.shift.tolist() == pytest.approx([-1.0, 2.0])
    assert s.ranking()[0] == 1
    assert s.rho_base.tolist() == [1.0, 0.0] and s.rho_pol.tolist() == [0.5, 0.5]
    assert s.log_odds[1] > 5


def episode_shifts(deltas: list[float], tokens: int = 25):
    """Identity SAE on 2 dims, base at (1, 1) everywhere; episode e moves latent 0 by deltas[e]
    on each of its `tokens` tokens (KL 1): within an episode the tokens agree completely."""
    sae = TopKSAE(2, 2, k=2)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(2))
        sae.W_dec.copy_(torch.eye(2))
    episode = torch.arange(len(deltas)).repeat_interleave(tokens)
    x_base = torch.ones(len(episode), 2)
    x_pol = x_base.clone()
    x_pol[:, 0] += torch.tensor(deltas)[episode]
    return feature_shifts(sae, x_pol, x_base, torch.ones(len(episode)), episode=episode)


def test_bootstrap_ci_over_differing_episodes_excludes_zero_only_for_a_consistent_shift() -> None:
    shifted = episode_shifts([0.3, 0.5, 0.7, 0.4, 0.6, 0.2, 0.8, 0.5])  # all up, by varying amounts
    assert shifted.shift[0] == pytest.approx(0.5)
    assert 0 < shifted.lo[0] < 0.5 < shifted.hi[0] and shifted.p[0] < 0.05
    # episodes that disagree in sign, mean 0.1: the CI must include 0. Resampling tokens instead
    # of episodes (200 tokens, 8 independent units) would call this shift significant.
    mixed = episode_shifts([0.7, -0.4, 0.5, -0.3, 0.4, -0.5, 0.2, 0.2])
    assert mixed.shift[0] == pytest.approx(0.1)
    assert mixed.lo[0] < 0 < mixed.hi[0] and mixed.p[0] > 0.05
    for s in (shifted, mixed):  # latent 1 never moves
        assert (s.shift[1], s.lo[1], s.hi[1]) == (0, 0, 0)
