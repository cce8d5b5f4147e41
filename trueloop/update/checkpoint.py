"""Atomic, resumable checkpoints: model, optimizer, scheduler, every RNG and the data position.

A checkpoint is a folder `OUT/checkpoints/step_<N>/` holding the policy (`policy/`) and
`trainer_state.pt` (optimizer, scheduler, RNGs, data position). The weights are written once:
- full training: `policy/` is a standard HF folder (`from_pretrained` loads it), and resume reads
  the exact weights back from its safetensors;
- LoRA: intermediate checkpoints hold the adapters only (`policy/adapter/`, the frozen base is
  rebuilt from the run's config on resume); the final checkpoint also writes the merged folder, so
  a finished run loads with plain transformers.
It is written to a temporary sibling and renamed into place (rename is atomic on POSIX), then
`OUT/checkpoints/latest` is replaced the same way, so a run killed at any instant leaves the
previous checkpoint or the new one, never a torn one.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trueloop.policy import Policy


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "sampler": generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    generator.set_state(state["sampler"])


def save_checkpoint(out: Path, step: int, policy: Policy, trainer_state: dict[str, Any], *,
                    export: bool = False) -> Path:
    """Write checkpoint `step` atomically and point `latest` at it; keeps the two newest.
    `export` (the run's last checkpoint) writes a LoRA policy merged as well."""
    root = Path(out) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp_step_{step}_", dir=root))
    policy.save(tmp / "policy", adapter_only=not export)
    torch.save({"step": step, **trainer_state}, tmp / "trainer_state.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    link_tmp = root / ".latest.tmp"
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(final.name)
    os.replace(link_tmp, root / "latest")
    for old in sorted(root.glob("step_*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    link = Path(out) / "checkpoints" / "latest"
    return link.resolve() if link.exists() else None


def latest_step(out: Path) -> int:
    """Step of the latest checkpoint (from its `step_<N>` name), or -1 when there is none."""
    ckpt = latest_checkpoint(out)
    return -1 if ckpt is None else int(ckpt.name.removeprefix("step_"))


def load_trainer_state(ckpt: Path) -> dict[str, Any]:
    return torch.load(Path(ckpt) / "trainer_state.pt", weights_only=False)


def restore_weights(policy: Policy, ckpt: Path) -> None:
    """Load a checkpoint's trained weights into `policy` (built the way the run built it):
    the adapters under LoRA, every weight otherwise. Tied weights (an output head sharing the
    embedding) are saved once and come back through the tie."""
    from safetensors.torch import load_file

    folder = Path(ckpt) / "policy"
    if policy.is_lora:
        from peft import set_peft_model_state_dict

        state = load_file(folder / "adapter" / "adapter_model.safetensors")
        result = set_peft_model_state_dict(policy.model, state)
        if getattr(result, "unexpected_keys", None):
            raise ValueError(f"{folder}: adapter keys the model does not have: "
                             f"{result.unexpected_keys[:5]}")
        return
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        state.update(load_file(shard))
    missing, unexpected = policy.model.load_state_dict(state, strict=False)
    loaded = {t.data_ptr() for k, t in policy.model.state_dict().items() if k in state}
    untied = [k for k in missing if policy.model.state_dict()[k].data_ptr() not in loaded]
    if unexpected or untied:
        raise ValueError(f"{folder} does not match the run's model: missing {untied[:5]}, "
                         f"unexpected {unexpected[:5]}; was the config changed since?")
