"""Shared pieces of the end-to-end tests: a tiny, fast run config."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_RUN = """
steps = {steps}
seed = 3

[task]
name = "chain"
difficulty = 1
horizon = 2

[policy]
model = "tiny"
size = "0.5m"

[rollout]
prompts_per_step = 4
group_size = 4
max_new_tokens = 12

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


@pytest.fixture
def tiny_config(tmp_path: Path):
    def make(steps: int = 4, every: int = 2) -> Path:
        path = tmp_path / f"run_{steps}_{every}.toml"
        path.write_text(TINY_RUN.format(steps=steps, every=every))
        return path

    return make
