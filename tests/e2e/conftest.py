"""Shared pieces of the end-to-end tests: a tiny, fast run config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_RUN = """
steps = {steps}
seed = 3

[task]
name = "chain"
difficulty = 1
horizon = 1

[policy]
model = "tiny"
size = "0.5m"
prior = true

[prior]
mixture = ["chain:1:1"]
steps = 60
batch_size = 32
lr = 1e-2

[rollout]
prompts_per_step = 8
group_size = 4
max_new_tokens = 20

[update]
lr = 1e-3
epochs = 2
minibatches = 2
kl_coef = 0.01
warmup_steps = 2
lr_decay = "cosine"

[log]
checkpoint_every = {every}
progress = false
"""


@pytest.fixture(scope="session", autouse=True)
def prior_cache(tmp_path_factory):
    """One prior cache for the session (subprocesses inherit it through the environment)."""
    old = os.environ.get("TRUELOOP_CACHE")
    os.environ["TRUELOOP_CACHE"] = str(tmp_path_factory.mktemp("trueloop_cache"))
    yield
    if old is None:
        os.environ.pop("TRUELOOP_CACHE")
    else:
        os.environ["TRUELOOP_CACHE"] = old


@pytest.fixture
def tiny_config(tmp_path: Path):
    def make(steps: int = 4, every: int = 2) -> Path:
        path = tmp_path / f"run_{steps}_{every}.toml"
        path.write_text(TINY_RUN.format(steps=steps, every=every))
        return path

    return make
