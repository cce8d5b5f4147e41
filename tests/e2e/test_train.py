"""End-to-end training: finite metrics, every parameter moves, and SIGKILL + resume is bit-exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from trueloop.config import load_config
from trueloop.pipelines.prior import load_or_pretrain
from trueloop.pipelines.train import train_run as train
from trueloop.tracking import TIMING_PREFIXES, read_metrics

pytestmark = pytest.mark.slow


def strip_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(TIMING_PREFIXES)} for r in rows]


def test_every_trainable_parameter_changes_and_metrics_are_finite(tiny_config, tmp_path):
    cfg = load_config(tiny_config(steps=3, every=0))
    start = load_or_pretrain(cfg.policy, cfg.prior, answer_format=cfg.task.answer_format,
                             progress=False)[0]
    before = {k: v.clone() for k, v in start.model.state_dict().items()}
    policy = train(cfg, tmp_path / "run")
    after = dict(policy.model.named_parameters())
    unchanged = [k for k, p in after.items() if p.requires_grad and torch.equal(p, before[k])]
    assert unchanged == []
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert any(r["reward/std"] > 0 for r in rows), "no reward signal: the test would prove nothing"
    for r in rows:
        for k, v in r.items():
            assert isinstance(v, int | float), (k, v)
    for key in ("reward/mean", "update/grad_norm", "update/kl", "update/clip_frac_high",
                "rollout/length_mean", "verify/hack_rate", "time/sample"):
        assert key in rows[-1]
    assert (tmp_path / "run" / "config.json").exists()
    assert (tmp_path / "run" / "checkpoints" / "latest" / "policy" / "config.json").exists()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "trueloop", *args]


@pytest.mark.parametrize("extra", [[], ["--policy.lora_rank", "4"]], ids=["full", "lora"])
def test_sigkilled_run_resumes_to_identical_metrics(tiny_config, tmp_path, extra):
    config = tiny_config(steps=8, every=2)
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cli("train", str(config), "--out", str(full), *extra), check=True)
    proc = subprocess.Popen(_cli("train", str(config), "--out", str(killed), *extra))
    deadline = time.time() + 300
    while len(read_metrics(killed / "metrics.jsonl")) < 3 and time.time() < deadline:
        assert proc.poll() is None, "run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    logged = read_metrics(killed / "metrics.jsonl")
    assert 3 <= len(logged) < 8
    if extra:  # LoRA: intermediate checkpoints hold adapters only, never the base weights
        ckpt = sorted((killed / "checkpoints").glob("step_*"))[0] / "policy"
        assert (ckpt / "adapter" / "adapter_model.safetensors").exists()
        assert not list(ckpt.glob("model*.safetensors"))
    subprocess.run(_cli("train", str(config), "--out", str(killed), "--resume", *extra),
                   check=True)
    a = strip_timings(read_metrics(full / "metrics.jsonl"))
    b = strip_timings(read_metrics(killed / "metrics.jsonl"))
    assert [r["step"] for r in b] == list(range(8))
    assert any(r["update/grad_norm"] > 0 for r in a), "no gradient: equality would prove nothing"
    assert a == b
    final = killed / "checkpoints" / "latest" / "policy"  # the last checkpoint loads anywhere
    assert (final / "config.json").exists() and list(final.glob("model*.safetensors"))


def test_bad_config_is_a_clear_error_before_step_0(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[update]\nadvantage = "ppo"\n')
    proc = subprocess.run(_cli("train", str(bad), "--out", str(tmp_path / "o")),
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "update.advantage must be one of" in proc.stderr
    assert not (tmp_path / "o").exists()
