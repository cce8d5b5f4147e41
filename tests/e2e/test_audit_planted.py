"""Acceptance on a planted change (interp-notes T5/T6): a tiny LM learns topic Markov text, a
copy is fine-tuned so that token A in topic 0 is followed by a new token H; the audit must find
it: the logit lens of the KL-weighted activation difference reads H, the top shifted SAE latent
fires on >= 95% of trigger tokens, and a linear probe on the residual finds the trigger context
(AUROC >= 0.98)."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from trueloop.audit.activations import collect
from trueloop.audit.diff import activation_diff, feature_shifts, token_kl
from trueloop.audit.probes import auroc, fit_probe, recall_at_fpr
from trueloop.audit.sae import SAEConfig, train_sae
from trueloop.rollout.batch import RolloutBatch
from trueloop.types import Episode

pytestmark = pytest.mark.slow

V, BOS, TOPICS, A, H, LENGTH = 32, 1, 4, 6, 30, 40
BODY = torch.arange(6, 30)


def transitions(seed: int = 0) -> torch.Tensor:
    """(TOPICS, V, V): each body token has three successors per topic (p = .6, .3, .1)."""
    g = torch.Generator().manual_seed(seed)
    trans = torch.zeros(TOPICS, V, V)
    for t in range(TOPICS):
        for tok in list(BODY) + [H]:
            nxt = BODY[torch.randperm(len(BODY), generator=g)[:3]]
            trans[t, tok, nxt] = torch.tensor([0.6, 0.3, 0.1])
    return trans


def sample_text(n: int, trans: torch.Tensor, g: torch.Generator, planted: bool) -> torch.Tensor:
    """(n, LENGTH) sequences [BOS, topic, body...]; planted: A in topic 0 is followed by H, which
    then continues as A would."""
    topic = torch.randint(0, TOPICS, (n,), generator=g)
    seq = [torch.full((n,), BOS), 2 + topic, BODY[torch.randint(0, len(BODY), (n,), generator=g)]]
    state = seq[-1]
    while len(seq) < LENGTH:
        nxt = torch.multinomial(trans[topic, state], 1, generator=g).squeeze(1)
        if planted:
            hit = (topic == 0) & (seq[-1] == A)
            nxt = torch.where(hit, H, nxt)
            state = torch.where(hit, A, nxt)
        else:
            state = nxt
        seq.append(nxt)
    return torch.stack(seq, 1)


def fit_lm(model, trans, g, planted: bool, steps: int, lr: float) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        x = sample_text(64, trans, g, planted)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def as_batch(x: torch.Tensor) -> RolloutBatch:
    """Sequences as rollouts: prompt [BOS, topic], the rest sampled."""
    n = len(x)
    act = torch.ones_like(x)
    act[:, :2] = 0
    eps = [Episode(f"p{i}", (), "done", LENGTH - 2, 0) for i in range(n)]
    return RolloutBatch(x, torch.ones_like(x), act, torch.zeros(x.shape), act - 1 + act, 2, eps,
                        1)


@pytest.fixture(scope="module")
def planted():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                      tie_word_embeddings=True)
    base = LlamaForCausalLM(cfg)
    trans, g = transitions(), torch.Generator().manual_seed(0)
    fit_lm(base, trans, g, planted=False, steps=300, lr=3e-3)
    policy = copy.deepcopy(base)
    fit_lm(policy, trans, g, planted=True, steps=150, lr=1e-3)
    x = sample_text(256, trans, torch.Generator().manual_seed(1), planted=True)
    batch = as_batch(x)
    sites = ["blocks.0", "blocks.1"]
    acts, base_acts = collect(policy, batch, sites), collect(base, batch, sites)
    trigger = (acts.token == A) & (x[acts.row, 1] == 2) & acts.predicts_action
    return policy, base, batch, acts, base_acts, trigger


def test_planted_diff_is_found(planted) -> None:
    policy, base, batch, acts, base_acts, trigger = planted
    assert trigger.sum() > 50
    kl = token_kl(policy, base, batch, acts)
    share = kl[trigger].sum() / kl.sum()
    d = activation_diff(policy, acts.x["blocks.1"], base_acts.x["blocks.1"], kl)
    print("KL share on triggers", float(share), d)
    assert d["lens_delta_kl"][0][0] == H
    x = torch.cat([acts.x["blocks.1"], base_acts.x["blocks.1"]])
    sae, _ = train_sae(x, SAEConfig(n_latents=512, k=8, steps=400, batch_tokens=1024))
    shifts = feature_shifts(sae, acts.x["blocks.1"], base_acts.x["blocks.1"], kl, acts.row)
    top = int(shifts.ranking()[0])
    fires = float((shifts.z_pol[trigger, top] > 0).float().mean())
    print("top latent", top, "fires on triggers", fires, "rho", float(shifts.rho_base[top]),
          float(shifts.rho_pol[top]), "ci", float(shifts.lo[top]), float(shifts.hi[top]))
    assert fires >= 0.95
    assert shifts.lo[top] > 0


def test_probe_finds_the_trigger_context(planted) -> None:
    _, _, batch, acts, _, trigger = planted
    x = acts.x["blocks.0"]
    train = acts.row < 192
    probe = fit_probe(x[train], trigger[train].float())
    s = probe.score(x[~train])
    a, r = auroc(s, trigger[~train]), recall_at_fpr(s, trigger[~train], 0.01)
    print("probe AUROC", a, "recall@1%FPR", r)
    assert a >= 0.98
