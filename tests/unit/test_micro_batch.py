"""Memory-lean updates give the same step: micro-batches with accumulated gradients, chunked
log-probs and gradient checkpointing against one plain minibatch."""

from __future__ import annotations

import copy

import pytest
import torch

from trueloop.config import RolloutConfig, UpdateConfig
from trueloop.policy import build_tiny
from trueloop.rollout import sample
from trueloop.rollout.logprobs import Sampling
from trueloop.update.step import enable_gradient_checkpointing, optimize

PROMPTS = ["Mod 10. Start at 3, then +4.", "x", "Compute 3*4."]


def step_once(policy, batch, adv, ref, **update):
    policy = copy.deepcopy(policy)
    params = [p for p in policy.model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1)
    cfg = UpdateConfig(**{"kl_coef": 0.1, **update})
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(policy)
    policy.model.train()
    metrics = optimize(policy, opt, batch, adv, cfg, temperature=1.0, max_new_tokens=12,
                       ref_model=ref)
    return policy, metrics


@pytest.mark.parametrize("agg", ["token", "sequence", "constant"])
@pytest.mark.parametrize("variant", [{"micro_batch_size": 2}, {"micro_batch_size": 4,
                                                               "logit_budget": 500},
                                     {"gradient_checkpointing": True}])
def test_lean_update_equals_one_batch(agg: str, variant: dict) -> None:
    policy = build_tiny("0.5m", seed=0)
    ref = copy.deepcopy(policy.model).eval().requires_grad_(False)
    batch = sample(policy, PROMPTS, RolloutConfig(max_new_tokens=12, group_size=3),
                   generator=torch.Generator().manual_seed(0))
    adv = torch.linspace(-1, 1, len(batch))
    a, ma = step_once(policy, batch, adv, ref, loss_agg=agg)
    b, mb = step_once(policy, batch, adv, ref, loss_agg=agg, **variant)
    moved = [not torch.equal(p, q) for p, q in zip(policy.model.parameters(),
                                                    a.model.parameters(), strict=True)]
    assert any(moved)  # the step did something, so equality below means something
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6, rtol=1e-4)
    for k in ("update/loss", "update/pg_loss", "update/kl", "update/entropy",
              "update/clip_frac_high", "update/grad_norm"):
        assert ma[k] == pytest.approx(mb[k], rel=1e-4, abs=1e-6), k


def test_observation_ablation_trains_observation_tokens() -> None:
    """update.train_observations (ablation only) puts observation tokens into the loss."""
    from test_episodes import LETTERS, CountEnv, problem

    from trueloop.rollout import run_episodes
    from trueloop.update.step import as_if_sampled, loss_mask

    policy = build_tiny("0.5m", seed=0)
    envs = [CountEnv(problem(0)) for _ in range(2)]
    batch = run_episodes(policy, envs, RolloutConfig(max_new_tokens=8, max_turns=4,
                                                      stop=LETTERS),
                         generator=torch.Generator().manual_seed(0), group_size=2)
    cfg = UpdateConfig(train_observations=True)
    wide = as_if_sampled(policy, batch, Sampling(), cfg)
    p = batch.prompt_width
    obs = (batch.attention_mask[:, p:] == 1) & (batch.action_mask[:, p:] == 0)
    assert obs.any()
    assert loss_mask(wide, cfg)[obs].all() and not loss_mask(batch, UpdateConfig())[obs].any()
    assert torch.equal(wide.logprobs[:, p:][~obs], batch.logprobs[:, p:][~obs])
    assert (wide.logprobs[:, p:][obs] < 0).all()  # recomputed, not the recorded zeros
