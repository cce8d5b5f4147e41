"""Advantage estimators: hand-computed values and invariants (B problems, G group size)."""

import pytest
import torch

from trueloop.update.advantages import (
    ADVANTAGES,
    EPS,
    compute_advantages,
    dr_grpo,
    grpo,
    reinforce_pp,
    rloo,
)

REWARDS = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.3, 0.3, 0.3, 0.3], [0.9, 0.1, 0.2, 0.0]])  # (3, 4)


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo", "reinforce_pp"])
def test_sums_to_zero_within_group(name):
    adv = compute_advantages(name, REWARDS)
    assert adv.shape == REWARDS.shape
    torch.testing.assert_close(adv.sum(-1), torch.zeros(3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(ADVANTAGES))
def test_zero_variance_group_gives_exact_zero(name):
    # float32 mean of seven 0.3s is not 0.3: r - mean is ~3e-8, which grpo would blow up by 1/EPS
    rewards = torch.tensor([[0.3] * 7, [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0]])
    assert (rewards[0] - rewards[0].mean()).abs().max() > 0  # the trap is real
    adv = compute_advantages(name, rewards)
    assert torch.equal(adv[0], torch.zeros(7))
    assert torch.isfinite(adv).all() and adv[1].abs().sum() > 0


@pytest.mark.parametrize("name", sorted(ADVANTAGES))
def test_all_constant_batch_is_all_zero_not_nan(name):
    adv = compute_advantages(name, torch.ones(4, 8))
    assert torch.equal(adv, torch.zeros(4, 8))


def test_grpo_hand_computed():
    # group [1, 0, 0, 1]: mean 0.5, unbiased std sqrt(1/3)
    adv = grpo(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))
    s = (1 / 3) ** 0.5
    torch.testing.assert_close(adv, torch.tensor([[0.5, -0.5, -0.5, 0.5]]) / (s + EPS))


def test_dr_grpo_is_centred_reward_without_std():
    adv = dr_grpo(torch.tensor([[3.0, 1.0], [0.0, 0.5]]))
    torch.testing.assert_close(adv, torch.tensor([[1.0, -1.0], [-0.25, 0.25]]))


def test_grpo_is_scale_invariant_dr_grpo_is_not():
    assert torch.allclose(grpo(REWARDS * 10), grpo(REWARDS), atol=1e-4)
    torch.testing.assert_close(dr_grpo(REWARDS * 10), dr_grpo(REWARDS) * 10)


@pytest.mark.parametrize("name", ["grpo", "reinforce_pp"])
def test_normalised_estimators_ignore_affine_reward_changes(name):
    rewards = torch.rand(4, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(compute_advantages(name, 3 * rewards - 2),
                               compute_advantages(name, rewards), atol=1e-4, rtol=1e-4)


def test_rloo_equals_naive_leave_one_out_loop():
    rewards = torch.rand(5, 6, generator=torch.Generator().manual_seed(0))
    naive = torch.empty_like(rewards)
    for i in range(5):
        for j in range(6):
            others = [rewards[i, k].item() for k in range(6) if k != j]
            naive[i, j] = rewards[i, j] - sum(others) / len(others)
    torch.testing.assert_close(rloo(rewards), naive)


def test_reinforce_pp_uses_batch_std():
    rewards = torch.tensor([[1.0, 0.0], [4.0, 0.0]])
    centered = torch.tensor([[0.5, -0.5], [2.0, -2.0]])
    batch_std = centered.flatten().std()  # unbiased over all 4 entries
    torch.testing.assert_close(reinforce_pp(rewards), centered / (batch_std + EPS))
    # a group-std estimator would give both groups the same +-0.707; the batch std does not
    adv = reinforce_pp(rewards)
    assert adv[1, 0] == pytest.approx(4 * adv[0, 0].item())


def test_reinforce_pp_other_groups_move_the_scale():
    a = reinforce_pp(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    b = reinforce_pp(torch.tensor([[1.0, 0.0], [9.0, 0.0]]))
    assert b[0, 0] < a[0, 0]


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="known: .*grpo"):
        compute_advantages("ppo", REWARDS)


@pytest.mark.parametrize("bad", [torch.zeros(4), torch.zeros(3, 1)])
def test_bad_shape_raises(bad):
    with pytest.raises(ValueError, match="shape"):
        compute_advantages("grpo", bad)


def test_nan_reward_raises():
    with pytest.raises(ValueError, match="finite"):
        compute_advantages("grpo", torch.tensor([[1.0, float("nan")]]))
