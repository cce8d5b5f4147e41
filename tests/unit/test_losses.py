"""Policy loss, KL, entropy, aggregation on hand-computed tiny tensors (N sequences, T tokens)."""

import math

import pytest
import torch

from trueloop.update.losses import (
    LOSS_AGGREGATIONS,
    kl_k3,
    masked_mean,
    policy_loss,
    token_mean,
    truncation_mask,
)

EPS = {"eps_low": 0.2, "eps_high": 0.28}


def _grad(logp, old_logp, adv, mask, **kw):
    logp = logp.clone().requires_grad_(True)
    out = policy_loss(logp, old_logp, adv, mask, **{**EPS, "agg": "token", **kw})
    out.loss.backward()
    return logp.grad, out


def test_gradient_has_sign_of_advantage():
    old = torch.full((4, 3), -1.0)
    adv = torch.tensor([2.0, -1.0, 0.5, -0.3])
    grad, _ = _grad(old.clone(), old, adv, torch.ones(4, 3))
    # gradient descent moves logp along -grad: up for positive advantages, down for negative
    assert torch.equal(torch.sign(-grad), torch.sign(adv)[:, None].expand(4, 3))


def test_on_policy_gradient_is_minus_adv_over_tokens():
    old = torch.zeros(2, 2)
    grad, out = _grad(old.clone(), old, torch.tensor([1.0, -2.0]), torch.ones(2, 2))
    torch.testing.assert_close(grad, torch.tensor([[-0.25, -0.25], [0.5, 0.5]]))
    assert out.loss.item() == pytest.approx(-(1 + 1 - 2 - 2) / 4)


def test_clip_high_with_positive_advantage_zeroes_gradient():
    old = torch.zeros(1, 2)
    logp = torch.tensor([[math.log(1.5), math.log(1.1)]])  # ratios 1.5 (> 1.28) and 1.1 (inside)
    grad, _ = _grad(logp, old, torch.tensor([1.0]), torch.ones(1, 2))
    assert grad[0, 0] == 0 and grad[0, 1] < 0


def test_clip_low_with_negative_advantage_zeroes_gradient():
    old = torch.zeros(1, 2)
    logp = torch.tensor([[math.log(0.5), math.log(0.9)]])  # ratios 0.5 (< 0.8) and 0.9 (inside)
    grad, _ = _grad(logp, old, torch.tensor([-1.0]), torch.ones(1, 2))
    assert grad[0, 0] == 0 and grad[0, 1] > 0


def test_clip_is_decoupled():
    # ratio 1.25 is clipped by a symmetric 0.2 range but not by clip-higher 0.28
    logp, old, adv = torch.tensor([[math.log(1.25)]]), torch.zeros(1, 1), torch.tensor([1.0])
    g_sym, _ = _grad(logp, old, adv, torch.ones(1, 1), eps_high=0.2)
    g_dapo, _ = _grad(logp, old, adv, torch.ones(1, 1), eps_high=0.28)
    assert g_sym[0, 0] == 0 and g_dapo[0, 0] < 0


def test_clip_fractions_hand_example():
    # 6 loss tokens (one padded): ratios and advantage signs picked by hand
    ratios = torch.tensor([[0.5, 0.9, 1.5], [0.5, 1.5, 1.0], [2.0, 1.0, 7.0]])
    adv = torch.tensor([-1.0, 1.0, 1.0])
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 0, 0]])
    out = policy_loss(ratios.log(), torch.zeros(3, 3), adv, mask, **EPS, agg="token")
    # low: ratio < 0.8 and adv < 0 -> only (0, 0); (1, 0) has adv > 0
    # high: ratio > 1.28 and adv > 0 -> (1, 1) and (2, 0); (0, 2) has adv < 0; (2, 2) is padding
    assert out.metrics["update/clip_frac_low"] == pytest.approx(1 / 7)
    assert out.metrics["update/clip_frac_high"] == pytest.approx(2 / 7)
    in_mask = [0.5, 0.9, 1.5, 0.5, 1.5, 1.0, 2.0]
    assert out.metrics["update/ratio_mean"] == pytest.approx(sum(in_mask) / 7)
    assert out.metrics["update/pg_loss"] == pytest.approx(out.loss.item())


def test_token_vs_sequence_vs_constant_aggregation_by_hand():
    # on-policy (ratio 1): per-token loss is -A; lengths 1 and 3
    old = torch.zeros(2, 3)
    adv = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    kw = {**EPS}
    token = policy_loss(old, old, adv, mask, agg="token", **kw).loss.item()
    seq = policy_loss(old, old, adv, mask, agg="sequence", **kw).loss.item()
    const = policy_loss(old, old, adv, mask, agg="constant", norm_len=4, **kw).loss.item()
    # the token budget changes nothing but "constant"
    assert policy_loss(old, old, adv, mask, agg="token", norm_len=4, **kw).loss.item() == token
    assert token == pytest.approx((-1 + 3) / 4)  # every token weighs the same: 0.5
    assert seq == pytest.approx((-1 + 1) / 2)  # every sequence weighs the same: 0.0
    assert const == pytest.approx((-1 + 3) / (2 * 4))  # sum / (N * norm_len): 0.25


def test_sequence_mean_skips_empty_rows():
    x = torch.tensor([[2.0, 4.0], [100.0, 100.0]])
    mask = torch.tensor([[1, 1], [0, 0]])
    assert LOSS_AGGREGATIONS["sequence"](x, mask).item() == pytest.approx(3.0)


def test_masked_positions_do_not_matter_even_if_nan():
    old = torch.zeros(1, 3)
    mask = torch.tensor([[1, 1, 0]])
    logp = torch.tensor([[0.1, -0.1, float("nan")]], requires_grad=True)
    out = policy_loss(logp, old, torch.tensor([1.0]), mask, **EPS, agg="token")
    out.loss.backward()
    assert math.isfinite(out.loss.item()) and torch.isfinite(logp.grad).all()
    assert logp.grad[0, 2] == 0


def test_constant_aggregation_needs_norm_len():
    old, adv = torch.zeros(2, 3), torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    named = policy_loss(old, old, adv, mask, **EPS, agg="constant", norm_len=4).loss.item()
    assert named == pytest.approx((-1 + 3) / (2 * 4))
    with pytest.raises(ValueError, match="norm_len"):
        policy_loss(old, old, adv, mask, **EPS, agg="constant")


def test_unknown_aggregation_lists_known():
    with pytest.raises(ValueError, match="known: .*sequence"):
        policy_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1), torch.ones(1, 1),
                    **EPS, agg="mean")


def test_masked_mean_dims_and_empty_mask():
    x = torch.tensor([[1.0, 3.0], [5.0, 7.0]])
    mask = torch.tensor([[1, 1], [0, 1]])
    assert masked_mean(x, mask).item() == pytest.approx(11 / 3)
    torch.testing.assert_close(masked_mean(x, mask, dim=-1), torch.tensor([2.0, 7.0]))
    assert masked_mean(x, torch.zeros(2, 2)).item() == 0.0


def test_kl_k3_nonnegative_zero_when_equal_and_masked():
    g = torch.Generator().manual_seed(0)
    logp, ref = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    mask = torch.ones(8, 16)
    assert (kl_k3(logp, ref, mask) >= 0).all()
    assert torch.equal(kl_k3(logp, logp, mask), torch.zeros(8, 16))
    tiny = logp + 1e-7  # near-equal: no negative rounding residue
    assert (kl_k3(tiny, logp, mask) >= 0).all()
    mask[:, 8:] = 0
    assert torch.equal(kl_k3(logp, ref, mask)[:, 8:], torch.zeros(8, 8))


def test_kl_k3_hand_value_and_gradient_direction():
    # d = ref - logp = 1: k3 = e - 1 - 1
    logp = torch.tensor([[0.0]], requires_grad=True)
    k3 = kl_k3(logp, torch.tensor([[1.0]]), torch.ones(1, 1))
    assert k3.item() == pytest.approx(math.e - 2)
    token_mean(kl_k3(logp, torch.tensor([[1.0]]), torch.ones(1, 1)), torch.ones(1, 1)).backward()
    assert logp.grad.item() < 0  # descending the KL pulls logp up toward ref


def test_kl_k3_is_unbiased_for_the_true_kl():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    exact = (p * (p / q).log()).sum()
    expected_k3 = (p * kl_k3(p.log()[None], q.log()[None], torch.ones(1, 3))[0]).sum()
    torch.testing.assert_close(expected_k3, exact)


def test_entropy_of_the_update_logits():
    from trueloop.rollout.logprobs import Sampling, _logp_entropy

    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]]])  # (1, 2, 4)
    ent = _logp_entropy(logits, torch.tensor([[0, 0]]), Sampling())[1]
    torch.testing.assert_close(ent, torch.tensor([[math.log(4), 0.0]]), atol=1e-5, rtol=0)
    two = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])  # top-2 keeps two equal logits
    ent = _logp_entropy(two, torch.tensor([[0]]), Sampling(top_k=2))[1]
    torch.testing.assert_close(ent, torch.tensor([[math.log(2)]]), atol=1e-5, rtol=0)


def test_truncation_mask():
    assert truncation_mask(["stop", "length", "stop"]).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="finish reasons"):
        truncation_mask(["eos"])


@pytest.mark.parametrize("estimator", ["grpo", "dr_grpo", "rloo", "reinforce_pp"])
@pytest.mark.parametrize("agg", ["token", "sequence", "constant"])
def test_one_step_moves_probability_toward_rewarded_answer(estimator, agg):
    from trueloop.update.advantages import compute_advantages

    # a one-token "policy" over 4 answers; answer 0 is the correct one
    logits = torch.zeros(4, requires_grad=True)
    answers = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])  # G = 8 samples of one problem
    rewards = (answers == 0).float()[None]  # (1, 8)
    adv = compute_advantages(estimator, rewards).flatten()  # (8,)
    logp = torch.log_softmax(logits, -1)[answers][:, None]  # (8, 1)
    out = policy_loss(logp, logp.detach(), adv, torch.ones(8, 1), **EPS, agg=agg,
                      norm_len=1 if agg == "constant" else None)
    out.loss.backward()
    with torch.no_grad():
        before = torch.softmax(logits, -1)[0].item()
        after = torch.softmax(logits - 0.5 * logits.grad, -1)[0].item()
    assert after > before
