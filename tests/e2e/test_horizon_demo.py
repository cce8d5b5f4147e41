"""The horizon demo (`trueloop demo --env tool_chain`), reduced: RL at horizon 3 must lift held-out
success there by a margin with disjoint 95% CIs, give identical numbers on a rerun with the same
seed, and fail to lift when the update is sabotaged (advantages negated): the control that shows
the lift comes from the update and not from evaluation noise or the prior.
"""

from __future__ import annotations

import json

import pytest
from summaries import without_timings

from trueloop.config import load_config
from trueloop.configs import demo_config_path
from trueloop.pipelines.demo import run_demo

pytestmark = pytest.mark.slow

REDUCED = ["--steps", "12", "--eval.n_problems", "50", "--eval.k", "4",
           "--eval.easy", "", "--eval.extra", '["tool_chain:2:2"]',
           "--log.eval_every", "0", "--log.checkpoint_every", "0", "--log.progress", "false"]


def at(summary: dict, horizon: int, phase: str) -> tuple[float, list[float]]:
    r = summary["by_horizon"][str(horizon)][phase]
    return r["pass@1"], r["pass@1_ci"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The reduced demo twice with one seed (the second reuses the cached prior), and once more
    from the same prior with the advantages negated."""
    import trueloop.update.trainer as trainer

    root = tmp_path_factory.mktemp("horizon")
    with pytest.MonkeyPatch.context() as mp:  # the cache folder and the sabotage end here
        mp.setenv("TRUELOOP_CACHE", str(root / "cache"))
        cfg = load_config(demo_config_path("tool_chain"), REDUCED)
        first = run_demo(cfg, root / "a")
        second = run_demo(cfg, root / "b")
        honest = trainer.compute_advantages
        mp.setattr(trainer, "compute_advantages", lambda *a, **k: -honest(*a, **k))
        sabotaged = run_demo(cfg, root / "sabotaged")
    return root, first, second, sabotaged


def test_rl_lifts_horizon_3_with_disjoint_cis(runs):
    _, s, _, _ = runs
    (b, b_ci), (a, a_ci) = at(s, 3, "before"), at(s, 3, "after")
    assert a - b >= 0.15, s["by_horizon"]
    assert a_ci[0] > b_ci[1], f"95% CIs overlap: {b_ci} vs {a_ci}"
    assert s["trained_horizons"] == {"rl": 3, "prior": [1, 2, 3]}
    assert set(s["by_horizon"]) == {"2", "3"}
    assert not s["prior_cached"]


def test_same_seed_same_numbers(runs):
    _, first, second, _ = runs
    assert second["prior_cached"]
    assert without_timings(first) == without_timings(second)


def test_sabotaged_update_does_not_lift(runs):
    _, honest, _, sabotaged = runs
    assert sabotaged["prior_cached"]
    assert at(sabotaged, 3, "before") == at(honest, 3, "before")  # same prior, same eval
    (b, b_ci), (a, a_ci) = at(sabotaged, 3, "before"), at(sabotaged, 3, "after")
    assert not (a - b >= 0.15 and a_ci[0] > b_ci[1]), sabotaged["by_horizon"]
    assert a < at(honest, 3, "after")[0] - 0.15


def test_episode_curves_and_report(runs):
    root, s, _, _ = runs
    run = root / "a"
    assert s["episodes"]["after"]["tool_calls_mean"] > 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["episode/tool/calc/calls_mean"] > 0 for r in rows)
    assert (run / "report.html").exists() and (run / "episodes").is_dir()
