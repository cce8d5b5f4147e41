"""The prior: worked-solution batches (prompt masked), the imperfect teacher, the on-disk cache."""

from __future__ import annotations

import random

import torch

from trueloop.config import PolicyConfig, PriorConfig
from trueloop.pipelines import prior
from trueloop.pipelines.prior import (
    load_or_pretrain,
    make_batch,
    parse_mixture,
    pretrain,
    teach,
)
from trueloop.policy import build_tiny


def test_clean_teacher_is_always_right_noisy_teacher_is_wrong_at_its_rate():
    (task, noise), = parse_mixture(PriorConfig(mixture=("chain:1:3",), noisy=("chain:1:3",),
                                               noise=0.5), "none")
    problems = task.problems(400, "train", seed=1)
    clean = [task.verify(p, teach(task, p, 0.0)).correct for p in problems]
    noisy = [task.verify(p, teach(task, p, noise)).correct for p in problems]
    assert noisy == [task.verify(p, teach(task, p, noise)).correct for p in problems]
    assert all(clean)
    assert 0.4 < 1 - sum(noisy) / len(noisy) < 0.6


def test_batch_masks_the_prompt_and_ends_with_eos():
    policy = build_tiny("0.5m")
    cells = parse_mixture(PriorConfig(mixture=("chain:1:2",)), "none")
    ids, labels, attn = make_batch(policy, cells, random.Random(0), 4, 0)
    for row in range(4):
        n = int(attn[row].sum())
        target = labels[row][labels[row] != -100]
        assert target[-1] == policy.tokenizer.eos_token_id
        text = policy.tokenizer.decode(target[:-1])
        assert text.endswith("}") and "\\boxed{" in text
        assert torch.equal(target, ids[row, n - len(target):n])  # completion tokens only


def test_prior_is_cached_and_a_cached_prior_equals_a_fresh_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUELOOP_CACHE", str(tmp_path))
    cfg = PriorConfig(mixture=("chain:1:1",), steps=2, batch_size=4, warmup_steps=1)
    trained = []
    monkeypatch.setattr(prior, "pretrain", lambda *a, **k: trained.append(1) or pretrain(*a, **k))
    fresh, folder, cached = load_or_pretrain(PolicyConfig(size="0.5m"), cfg, progress=False)
    again, folder2, cached2 = load_or_pretrain(PolicyConfig(size="0.5m"), cfg, progress=False)
    assert (cached, cached2) == (False, True) and folder == folder2
    assert len(trained) == 1  # the second call loads the cache, it does not train again
    for a, b in zip(fresh.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    init = build_tiny("0.5m", seed=cfg.seed)  # what the prior starts from: training moved it
    assert any(not torch.equal(a, b) for a, b in
               zip(fresh.model.parameters(), init.model.parameters(), strict=True))
    other = load_or_pretrain(PolicyConfig(size="0.5m"), PriorConfig(mixture=("chain:1:1",),
                             steps=3, batch_size=4, warmup_steps=1), progress=False)[1]
    assert other != folder  # a different prior config is a different cache entry
