"""Probe metrics on hand-made scores, pooling, and a probe that finds a planted direction."""

from __future__ import annotations

import pytest
import torch

from trueloop.audit.activations import Activations
from trueloop.audit.probes import auroc, evaluate_probe, fit_probe, pool, recall_at_fpr


def test_auroc_hand_cases() -> None:
    y = torch.tensor([1, 1, 0, 0])
    assert auroc(torch.tensor([3.0, 2.0, 1.0, 0.0]), y) == 1.0
    assert auroc(torch.tensor([0.0, 1.0, 2.0, 3.0]), y) == 0.0
    assert auroc(torch.tensor([1.0, 1.0, 1.0, 1.0]), y) == 0.5  # ties count one half
    assert auroc(torch.tensor([3.0, 0.5, 1.0, 0.0]), y) == 0.75


def test_recall_at_fpr_uses_the_negatives_quantile() -> None:
    neg = torch.arange(100.0)  # one negative (99) may score above the threshold at 1%
    pos = torch.tensor([98.5, 99.5, 120.0, 10.0])
    s, y = torch.cat([pos, neg]), torch.cat([torch.ones(4), torch.zeros(100)])
    assert recall_at_fpr(s, y, 0.01) == pytest.approx(0.75)  # > 98: 98.5, 99.5, 120
    assert recall_at_fpr(s, y, 0.0) == pytest.approx(0.5)  # > 99: 99.5, 120


def test_pool_mean_max_last_over_action_tokens() -> None:
    x = torch.tensor([[1.0], [3.0], [100.0], [5.0], [7.0]])
    acts = Activations({}, torch.tensor([0, 0, 0, 2, 2]), torch.arange(5), torch.zeros(5),
                       torch.tensor([True, True, False, True, True]), torch.zeros(5, dtype=bool))
    mean, ids = pool(x, acts, "mean")
    assert ids.tolist() == [0, 2] and mean.squeeze(1).tolist() == [2.0, 6.0]
    assert pool(x, acts, "max")[0].squeeze(1).tolist() == [3.0, 7.0]
    assert pool(x, acts, "last")[0].squeeze(1).tolist() == [3.0, 7.0]


def test_probe_finds_a_planted_direction() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 16, generator=g)
    y = (torch.rand(400, generator=g) < 0.3).float()
    x[:, 3] += 3 * y
    probe = fit_probe(x[:300], y[:300])
    out = evaluate_probe(probe, x[300:], y[300:])
    assert out["auroc"] > 0.95
    assert probe.w.abs().argmax() == 3


def test_labels_from_verdict_flags_and_heldout_groups() -> None:
    from trueloop.pipelines.audit import split_rows, verdict_labels
    from trueloop.types import Episode, Verdict

    v = [Verdict(True, 1.0, "ok"), Verdict(False, 0.0, "wrong", frozenset({"hack:exit"})), None]
    eps = [Episode("p", (), "done", 1, 0, verdict=x) for x in v]
    labels = verdict_labels(eps)
    assert labels["hack:exit"].tolist() == [0, 1, 0] and labels["correct"].tolist() == [1, 0, 0]
    train, held = split_rows(16, 4, 0.25)
    assert train.tolist() == list(range(12)) and held.tolist() == [12, 13, 14, 15]


def test_audit_settings_are_checked_before_anything_runs(tmp_path) -> None:
    from trueloop.pipelines.audit import InspectConfig, audit_run

    with pytest.raises(ValueError, match="problems must be at least 2"):
        audit_run(tmp_path, InspectConfig(problems=1))
