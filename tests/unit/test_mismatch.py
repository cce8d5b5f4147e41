"""Sampler/trainer mismatch: measured (~0 with the native engine), corrected (tis bounds, mis
drops), and absent by default (the update is bit-identical to the unweighted one)."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from trueloop.config import RolloutConfig, UpdateConfig, load_config
from trueloop.policy import build_tiny
from trueloop.rollout import sample, token_logprobs
from trueloop.update.losses import policy_loss
from trueloop.update.mismatch import measure
from trueloop.update.step import loss_mask, optimize

PROMPTS = ["Mod 10. Start at 3, then +4.", "x", "Compute 3*4."]
CAP = 2.0
SHIFT = 1.5  # nats: e^1.5 = 4.48 > CAP and e^-1.5 = 0.22 < 1/CAP


@pytest.fixture(scope="module")
def setup():
    policy = build_tiny("0.5m", seed=0)
    batch = sample(policy, PROMPTS, RolloutConfig(max_new_tokens=12, group_size=3),
                   generator=torch.Generator().manual_seed(0))
    return policy, batch, torch.linspace(-1, 1, len(batch))


def step(policy, batch, adv, **update):
    policy = copy.deepcopy(policy)
    opt = torch.optim.SGD([p for p in policy.model.parameters() if p.requires_grad], lr=0.1)
    policy.model.train()
    metrics = optimize(policy, opt, batch, adv, UpdateConfig(**update), temperature=1.0,
                       max_new_tokens=12)
    return policy, metrics


def perturbed(batch):
    """The batch with the sampler's log-prob of every 3rd action token lowered by SHIFT nats
    (r = e^SHIFT) and of every 3rd, offset by one, raised (r = e^-SHIFT); the two sets too."""
    p = batch.prompt_width
    on = batch.action_mask[:, p:].bool()  # (N, T)
    rank = on.flatten().cumsum(0).reshape(on.shape) - 1  # index of each action token
    up = on & (rank % 3 == 0)  # r > CAP
    down = on & (rank % 3 == 1)  # r < 1/CAP
    logprobs = batch.logprobs.clone()
    logprobs[:, p:] = logprobs[:, p:] - SHIFT * up.float() + SHIFT * down.float()
    return dataclasses.replace(batch, logprobs=logprobs), up, down


def test_native_engine_has_no_mismatch(setup):
    policy, batch, adv = setup
    _, m = step(policy, batch, adv, old_logprobs="trainer")
    assert m["mismatch/logp_abs_max"] < 1e-4
    assert m["mismatch/kl_k3"] < 1e-8
    assert m["mismatch/is_ess"] == pytest.approx(1.0, abs=1e-6)
    assert m["mismatch/is_clip_frac"] == 0.0
    assert all(math.isfinite(v) for v in m.values())


def test_mismatch_metrics_appear_only_with_the_trainers_logprobs(setup):
    policy, batch, adv = setup
    _, m = step(policy, batch, adv)
    assert not any(k.startswith("mismatch/") for k in m)


def test_none_leaves_the_ratio_unbounded_tis_caps_it_mis_drops_the_outliers(setup):
    policy, batch, adv = setup
    bad, up, down = perturbed(batch)
    mask = loss_mask(bad, UpdateConfig())
    with torch.no_grad():
        old = token_logprobs(policy.model, bad)[0]  # (N, T) the trainer's
    sampler = bad.logprobs[:, bad.prompt_width:]
    on = mask.bool()

    none = measure(sampler, old, mask, UpdateConfig(is_cap=CAP))
    assert none.weight is None
    assert none.metrics["mismatch/is_ratio_max"] > CAP
    assert none.metrics["mismatch/is_ratio_max"] == pytest.approx(math.exp(SHIFT), rel=1e-4)
    assert none.metrics["mismatch/logp_abs_max"] == pytest.approx(SHIFT, abs=1e-4)
    assert none.metrics["mismatch/is_clip_frac"] == 0.0
    assert none.metrics["mismatch/is_ess"] < 1.0

    tis = measure(sampler, old, mask, UpdateConfig(is_correction="tis", is_cap=CAP))
    assert tis.weight[on].max() <= CAP
    assert torch.equal(tis.weight[on] == CAP, up[on])  # capped exactly where r > CAP
    assert tis.metrics["mismatch/is_clip_frac"] == pytest.approx(up.sum() / on.sum())

    mis = measure(sampler, old, mask, UpdateConfig(is_correction="mis", is_cap=CAP))
    assert torch.equal(mis.weight[on] == 0, (up | down)[on])  # exactly the out-of-band tokens
    kept = on & ~(up | down)
    assert torch.allclose(mis.weight[kept], torch.ones(int(kept.sum())), atol=1e-4)  # r ~ 1
    assert mis.metrics["mismatch/is_clip_frac"] == pytest.approx((up | down).sum() / on.sum())
    assert mis.metrics["mismatch/is_ess"] < tis.metrics["mismatch/is_ess"] < 1.0


def test_the_correction_reaches_the_gradient(setup):
    policy, batch, adv = setup
    bad, _, _ = perturbed(batch)
    outs = {c: step(policy, bad, adv, old_logprobs="trainer", is_correction=c, is_cap=CAP)
            for c in ("none", "tis", "mis")}
    params = {c: torch.cat([p.flatten() for p in pol.model.parameters()])
              for c, (pol, _) in outs.items()}
    assert not torch.equal(params["none"], params["tis"])
    assert not torch.equal(params["tis"], params["mis"])
    assert outs["tis"][1]["mismatch/is_clip_frac"] > 0


def test_token_level_weights_by_hand():
    """r = 3, 1/4, 1, 1.5 at cap 2: tis (2, 1/4, 1, 1.5), mis (0, 0, 1, 1.5)."""
    old = torch.tensor([[math.log(3), math.log(0.25), 0.0, math.log(1.5), 7.0]])
    sampler = torch.zeros(1, 5)
    mask = torch.tensor([[1.0, 1, 1, 1, 0]])  # the last token is no action: ignored
    tis = measure(sampler, old, mask, UpdateConfig(is_correction="tis", is_cap=2.0))
    assert torch.allclose(tis.weight[0, :4], torch.tensor([2.0, 0.25, 1.0, 1.5]))
    mis = measure(sampler, old, mask, UpdateConfig(is_correction="mis", is_cap=2.0))
    assert torch.allclose(mis.weight[0, :4], torch.tensor([0.0, 0.0, 1.0, 1.5]))
    w = torch.tensor([0.0, 0.0, 1.0, 1.5])
    assert mis.metrics["mismatch/is_ess"] == pytest.approx(float(w.sum() ** 2 / (4 * (w ** 2)
                                                                                 .sum())))
    assert mis.metrics["mismatch/is_clip_frac"] == 0.5
    assert tis.metrics["mismatch/is_ratio_max"] == pytest.approx(3.0)
    assert tis.metrics["mismatch/is_ratio_mean"] == pytest.approx((3 + 0.25 + 1 + 1.5) / 4)
    assert tis.metrics["mismatch/logp_abs_max"] == pytest.approx(math.log(4))
    k3 = [r - 1 - math.log(r) for r in (3, 0.25, 1, 1.5)]
    assert tis.metrics["mismatch/kl_k3"] == pytest.approx(sum(k3) / 4, rel=1e-5)


def test_sequence_level_is_the_geometric_mean_and_acts_per_sequence():
    """Sequence 0: log r = (ln 9, 0) -> geometric mean 3 > cap; sequence 1: (ln 2, -ln 2) -> 1."""
    old = torch.tensor([[math.log(9), 0.0], [math.log(2), -math.log(2)]])
    mask = torch.ones(2, 2)
    cfg = UpdateConfig(is_correction="mis", is_level="sequence", is_cap=2.0)
    mis = measure(torch.zeros(2, 2), old, mask, cfg)
    assert torch.allclose(mis.weight, torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    assert mis.metrics["mismatch/is_ratio_max"] == pytest.approx(3.0)
    assert mis.metrics["mismatch/is_clip_frac"] == 0.5
    tis = measure(torch.zeros(2, 2), old, mask, dataclasses.replace(cfg, is_correction="tis"))
    assert torch.allclose(tis.weight, torch.tensor([[2.0, 2.0], [1.0, 1.0]]))


def test_default_update_is_bit_identical_to_the_unweighted_loss(setup):
    """old_logprobs = sampler, is_correction = none: one SGD step by hand with today's loss
    (`policy_loss` without a weight, ratio against the recorded log-probs) gives the very same
    parameters."""
    policy, batch, adv = setup
    got, _ = step(policy, batch, adv, old_logprobs="sampler", is_correction="none")
    ref = copy.deepcopy(policy)
    params = [p for p in ref.model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1)
    ref.model.train()
    cfg = UpdateConfig()
    logp, _ = token_logprobs(ref.model, batch, temperature=1.0, logit_budget=cfg.logit_budget)
    loss = policy_loss(logp, batch.logprobs[:, batch.prompt_width:], adv, loss_mask(batch, cfg),
                       eps_low=cfg.eps_low, eps_high=cfg.eps_high, agg=cfg.loss_agg,
                       norm_len=12).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
    opt.step()
    moved = [not torch.equal(p, q) for p, q in zip(policy.model.parameters(),
                                                    ref.model.parameters(), strict=True)]
    assert any(moved)
    for p, q in zip(got.model.parameters(), ref.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_weight_scales_the_loss_and_none_is_no_weight():
    logp = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    old = torch.tensor([[-1.2, -1.5, -0.5]])
    adv, mask = torch.tensor([0.7]), torch.ones(1, 3)
    kw = {"eps_low": 0.2, "eps_high": 0.28, "agg": "token"}
    plain = policy_loss(logp, old, adv, mask, **kw).loss
    ones = policy_loss(logp, old, adv, mask, weight=torch.ones(1, 3), **kw).loss
    half = policy_loss(logp, old, adv, mask, weight=torch.full((1, 3), 0.5), **kw).loss
    assert torch.equal(plain, ones)
    assert half.item() == pytest.approx(0.5 * plain.item())
    zero_first = policy_loss(logp, old, adv, mask, weight=torch.tensor([[0.0, 1, 1]]), **kw).loss
    (grad,) = torch.autograd.grad(zero_first, logp)
    assert grad[0, 0] == 0 and grad[0, 1] != 0


@pytest.mark.parametrize("correction", ["tis", "mis"])
def test_a_correction_without_the_trainers_logprobs_is_refused(correction):
    with pytest.raises(ValueError) as err:
        load_config(overrides=["--update.is_correction", correction])
    assert "update.is_correction" in str(err.value) and "update.old_logprobs" in str(err.value)
    cfg = load_config(overrides=["--update.is_correction", correction,
                                 "--update.old_logprobs", "trainer"])
    assert cfg.update.is_correction == correction


def test_a_cap_of_at_most_one_is_refused():
    with pytest.raises(ValueError, match="update.is_cap must be > 1"):
        load_config(overrides=["--update.is_cap", "1.0"])


def test_micro_batches_give_the_same_corrected_step(setup):
    policy, batch, adv = setup
    bad, _, _ = perturbed(batch)
    kw = {"old_logprobs": "trainer", "is_correction": "tis", "is_cap": CAP}
    a, ma = step(policy, bad, adv, **kw)
    b, mb = step(policy, bad, adv, micro_batch_size=2, **kw)
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6, rtol=1e-4)
    for k in ("update/pg_loss", "mismatch/is_clip_frac", "mismatch/is_ess"):
        assert ma[k] == pytest.approx(mb[k], rel=1e-4, abs=1e-6), k


def test_native_truncated_sampling_has_no_mismatch_with_the_replayed_truncation():
    """top-k/top-p on: the native sampler's record and the trainer's replay agree (~1e-6), and the
    PPO update starts at ratio 1 (no kept-mass factor)."""
    policy = build_tiny("0.5m", seed=0)
    batch = sample(policy, PROMPTS, RolloutConfig(max_new_tokens=12, group_size=3, top_k=8,
                                                  top_p=0.7),
                   generator=torch.Generator().manual_seed(1))
    policy.model.train()
    opt = torch.optim.SGD([p for p in policy.model.parameters() if p.requires_grad], lr=0.0)
    metrics = optimize(policy, opt, batch, torch.linspace(-1, 1, len(batch)),
                       UpdateConfig(old_logprobs="trainer"), temperature=1.0, top_k=8, top_p=0.7,
                       max_new_tokens=12)
    assert metrics["mismatch/logp_abs_max"] < 1e-4
    assert abs(metrics["mismatch/is_ratio_mean"] - 1) < 1e-5


def test_a_non_native_engine_with_sampler_logprobs_is_warned_about(tmp_path, caplog):
    from trueloop.tasks import task_from_config
    from trueloop.update.trainer import setup

    cfg = load_config(overrides=["--rollout.engine", "vllm", "--policy.size", "0.5m"])
    with caplog.at_level("WARNING", logger="trueloop.update.trainer"):
        setup(cfg, tmp_path, task_from_config(cfg.task), resume=False, policy=None)
    assert "--update.old_logprobs trainer" in caplog.text
    caplog.clear()
    trainer = load_config(overrides=["--rollout.engine", "vllm", "--policy.size", "0.5m",
                                     "--update.old_logprobs", "trainer"])
    with caplog.at_level("WARNING", logger="trueloop.update.trainer"):
        setup(trainer, tmp_path, task_from_config(trainer.task), resume=False, policy=None)
    assert "old_logprobs" not in caplog.text
