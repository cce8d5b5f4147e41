"""The embedded demo, reduced: the prior -> RL -> eval pipeline must *learn* on held-out problems,
by a margin a broken update cannot reach, and give identical numbers for the same seed.

Checked once by breaking the update on purpose (advantages negated in `update/step.py`): the
held-out pass@1 then fell instead of rising and `test_demo_learns` failed.
"""

from __future__ import annotations

import json

import pytest
from summaries import without_timings

from trueloop.config import load_config
from trueloop.demo import demo_config_path, run_demo

pytestmark = pytest.mark.slow

REDUCED = ["--eval.n_problems", "100", "--eval.extra", "[]",
           "--log.eval_every", "0", "--log.checkpoint_every", "0", "--log.progress", "false"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The reduced demo twice with one seed: the first trains the prior, the second reuses it."""
    import os

    root = tmp_path_factory.mktemp("demo")
    os.environ["TRUELOOP_CACHE"] = str(root / "cache")
    cfg = load_config(demo_config_path(), REDUCED)
    first = run_demo(cfg, root / "a")
    second = run_demo(cfg, root / "b")
    return root, first, second


def test_demo_learns(runs):
    _, s, _ = runs
    before, after = s["before"], s["after"]
    assert after["pass@1"] - before["pass@1"] >= 0.10, s
    assert after["pass@1_ci"][0] > before["pass@1_ci"][1], "95% CIs overlap"
    assert not s["prior_cached"]


def test_same_seed_same_numbers_and_cached_prior_is_identical(runs):
    _, first, second = runs
    assert second["prior_cached"]
    assert without_timings(first) == without_timings(second)


def test_run_folder_has_report_and_contract_files(runs):
    root, s, _ = runs
    run = root / "a"
    summary = json.loads((run / "summary.json").read_text())
    for phase in ("before", "after"):
        assert 0.0 <= summary[phase]["pass@1"] <= 1.0
        low, high = summary[phase]["pass@1_ci"]
        assert low <= summary[phase]["pass@1"] <= high
    assert summary["wall_seconds"] > 0
    for name in ("report.html", "metrics.jsonl", "config.json", "evals.json"):
        assert (run / name).exists(), name
    assert (run / "plots" / "reward.png").exists()
    assert (run / "checkpoints" / "latest" / "policy" / "config.json").exists()
