"""The `tax` environment trains end to end through `trueloop train` on its example config
(examples/configs/tiny-tax.toml), reduced: a small prior on oracle episodes, three RL steps.
The prior must have taught the call syntax (calc calls in RL episodes), every metric is finite,
and the verdicts' reasons and the episodes are recorded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from trueloop.cli import main
from trueloop.rollout.record import episode_steps, read_episodes
from trueloop.tracking import read_metrics

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "tiny-tax.toml"
REDUCED = ["--steps", "3", "--task.horizon", "1", "--policy.size", "0.5m",
           "--prior.mixture", '["tax:1:1"]', "--prior.steps", "40", "--prior.batch_size", "8",
           "--prior.lr", "1e-2", "--prior.warmup_steps", "5",
           "--rollout.prompts_per_step", "4", "--rollout.group_size", "4",
           "--eval.n_problems", "4", "--eval.k", "2",
           "--log.eval_every", "0", "--log.checkpoint_every", "0", "--log.progress", "false"]


def test_tax_trains_through_the_cli(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(CONFIG), "--out", str(out), *REDUCED]) == 0
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert all(not isinstance(v, float) or math.isfinite(v) for v in r.values()), r
    assert any(r["episode/tool/calc/calls_mean"] > 0 for r in rows)  # the prior taught <calc>
    for key in ("reward/mean", "update/grad_norm", "update/kl", "verify/correct_rate",
                "episode/turns_mean"):
        assert key in rows[-1], key
    assert sum(v for r in rows for k, v in r.items() if k.startswith("verify/reason/")) > 0
    assert episode_steps(out) == [0, 1, 2]
    episodes = read_episodes(out, 2)
    assert episodes and all(e["problem_id"].startswith("tax/train/") for e in episodes)
    assert json.loads((out / "config.json").read_text())["task"]["name"] == "tax"
