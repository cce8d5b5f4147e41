"""trueloop.policy: the model being trained, as a `Policy` (a transformers causal LM + tokenizer).

`load_policy(cfg)` picks the source from `PolicyConfig`:
- `init` set: load that local HF folder (a saved trueloop policy, or any HF checkpoint);
- `model == "tiny"` (size from `cfg.size`) or `"tiny-<size>"`: build the tiny Llama from a config;
- `model` a registered name (`trueloop.policy.models.MODELS`, e.g. `"smollm2-135m"`): its folder
  prepared in trueloop's cache by `trueloop models prepare NAME` (checked before loading);
- otherwise `model` is a local HF model folder.
Then cast to `dtype`, move to `device`, and wrap with fresh LoRA adapters when `lora_rank > 0`.
A LoRA policy saved by `Policy.save` has its adapters merged into the folder's weights, so
`init` + `lora_rank` continues from the same function with new zero-initialised adapters
(`load_lora` attaches saved adapters to their original base instead).
"""

from __future__ import annotations

from pathlib import Path

from trueloop.config import PolicyConfig
from trueloop.policy.base import Policy
from trueloop.policy.hf import DTYPES, apply_lora, load_hf, load_lora
from trueloop.policy.models import MODELS, resolve
from trueloop.policy.tiny import SIZES, build_tiny

__all__ = ["Policy", "SIZES", "apply_lora", "build_tiny", "load_hf", "load_lora", "load_policy"]


def load_policy(cfg: PolicyConfig, *, seed: int = 0) -> Policy:
    if cfg.init is not None:
        policy = load_hf(cfg.init, dtype=cfg.dtype, device=cfg.device)
    elif cfg.model == "tiny" or cfg.model.startswith("tiny-"):
        size = cfg.size if cfg.model == "tiny" else cfg.model.removeprefix("tiny-")
        policy = build_tiny(size, seed=seed)
        policy.model.to(device=cfg.device, dtype=DTYPES[cfg.dtype])
    elif cfg.model in MODELS:
        policy = load_hf(resolve(cfg.model), dtype=cfg.dtype, device=cfg.device)
    elif (Path(cfg.model).expanduser() / "config.json").is_file():
        policy = load_hf(Path(cfg.model).expanduser(), dtype=cfg.dtype, device=cfg.device)
    else:
        raise ValueError(f"policy.model = {cfg.model!r} is neither a known model nor a local HF "
                         f"folder with config.json; known models: tiny, tiny-<size> (sizes "
                         f"{', '.join(SIZES)}), {', '.join(sorted(MODELS))}.")
    if cfg.lora_rank > 0:
        return apply_lora(policy, cfg.lora_rank)
    return policy
