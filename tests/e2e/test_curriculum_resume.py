"""A curriculum run that moves levels resumes exactly, and its kept episodes rescore unchanged."""

from __future__ import annotations

import os
import shutil

import pytest

from trueloop.config import load_config
from trueloop.pipelines.rescore import rescore_run
from trueloop.pipelines.train import train_run as train
from trueloop.tracking import TIMING_PREFIXES, read_metrics

pytestmark = pytest.mark.slow

# a band this low makes the weak test prior climb from horizon 1 and fall back from horizon 2,
# so the run changes level at almost every step and the checkpoint holds a moving state
CURRICULUM = ["--curriculum.enabled", "true", "--curriculum.knob", "horizon",
              "--curriculum.levels", "[1,2]", "--curriculum.band", "[0.02,0.05]",
              "--curriculum.window", "8", "--curriculum.min_groups", "8"]


def strip_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(TIMING_PREFIXES)} for r in rows]


def test_a_moving_curriculum_resumes_exactly_and_rescores_unchanged(tiny_config, tmp_path):
    cfg = load_config(tiny_config(steps=8, every=4), CURRICULUM)
    run = tmp_path / "run"
    train(cfg, run)
    full = strip_timings(read_metrics(run / "metrics.jsonl"))
    levels = [r["curriculum/level"] for r in full]
    assert set(levels) == {1.0, 2.0}, f"the curriculum never moved: {levels}"
    assert len(set(levels[4:])) > 1 or levels[3] != levels[4], "no move near the resume point"
    ckpts = run / "checkpoints"  # as if killed after step 7 was logged, before its checkpoint
    shutil.rmtree(ckpts / "step_000008")
    (ckpts / "latest").unlink()
    os.symlink("step_000004", ckpts / "latest")
    train(cfg, run, resume=True)
    assert strip_timings(read_metrics(run / "metrics.jsonl")) == full
    assert full[-1]["compute/cum_flops"] == sum(r["compute/flops"] for r in full)
    rep = rescore_run(run)
    assert rep.episodes == 8 * 8 * 4 and rep.rescored == rep.episodes - rep.skipped["env_error"]
    assert rep.reward_flips == 0 and rep.by_reason == {}
