"""The embedded demo, reduced: the prior -> RL -> eval pipeline must *learn* on held-out problems,
by a margin a broken update cannot reach, and give identical numbers for the same seed.

`test_demo_learns` runs the demo's own model, prior and RL settings once (held-out evaluation cut
to 100 problems). Checked once by breaking the update on purpose (advantages negated in
`update/step.py`): the held-out pass@1 then fell instead of rising and the test failed.
Determinism and the run folder's contract are checked on a miniature of the same pipeline (a
short prior, 3 RL steps) run twice, since they do not depend on the run's length.
"""

from __future__ import annotations

import json

import pytest
from summaries import without_timings

from trueloop.config import load_config
from trueloop.configs import demo_config_path
from trueloop.pipelines.demo import run_demo
from trueloop.tracking import TIMING_PREFIXES, read_metrics

pytestmark = pytest.mark.slow

QUIET = ["--log.eval_every", "0", "--log.checkpoint_every", "0", "--log.progress", "false"]
REDUCED = ["--eval.n_problems", "100", "--eval.extra", "[]", *QUIET]
MINIATURE = ["--prior.steps", "40", "--steps", "3", "--rollout.prompts_per_step", "4",
             "--eval.n_problems", "16", "--eval.k", "2", "--eval.extra", '["chain:1:2"]',
             "--log.checkpoint_every", "2", "--log.eval_every", "0", "--log.progress", "false"]


def test_demo_learns(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUELOOP_CACHE", str(tmp_path / "cache"))
    s = run_demo(load_config(demo_config_path(), REDUCED), tmp_path / "run")
    before, after = s["before"], s["after"]
    assert after["pass@1"] - before["pass@1"] >= 0.10, s
    assert after["pass@1_ci"][0] > before["pass@1_ci"][1], "95% CIs overlap"
    assert not s["prior_cached"]


@pytest.fixture(scope="module")
def miniature(tmp_path_factory):
    """The miniature twice with one seed: the first trains the prior, the second reuses it."""
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRUELOOP_CACHE", str(root / "cache"))
        cfg = load_config(demo_config_path(), MINIATURE)
        first = run_demo(cfg, root / "a")
        second = run_demo(cfg, root / "b")
    return root, first, second


def test_same_seed_same_numbers_and_cached_prior_is_identical(miniature):
    root, first, second = miniature
    assert not first["prior_cached"] and second["prior_cached"]
    assert without_timings(first) == without_timings(second)
    assert (root / "a" / "evals.json").read_text() == (root / "b" / "evals.json").read_text()
    rows = [[{k: v for k, v in r.items() if not k.startswith(TIMING_PREFIXES)}
             for r in read_metrics(root / run / "metrics.jsonl")] for run in ("a", "b")]
    assert rows[0] == rows[1] and len(rows[0]) == 3


def test_run_folder_has_report_and_contract_files(miniature):
    root, s, _ = miniature
    run = root / "a"
    summary = json.loads((run / "summary.json").read_text())
    assert summary == json.loads(json.dumps(s))
    for phase in ("before", "after"):
        assert 0.0 <= summary[phase]["pass@1"] <= 1.0
        low, high = summary[phase]["pass@1_ci"]
        assert low <= summary[phase]["pass@1"] <= high
    assert summary["wall_seconds"] > 0
    assert set(summary["seconds"]) == {"prior", "eval_before", "rl", "eval_after"}
    for name in ("report.html", "metrics.jsonl", "config.json", "evals.json"):
        assert (run / name).exists(), name
    assert (run / "plots" / "reward.png").exists()
    assert (run / "checkpoints" / "latest" / "policy" / "config.json").exists()
