"""trueloop.policy: the model being trained, as a `Policy` (a transformers causal LM + tokenizer).

`load_policy(cfg)` picks the source from `PolicyConfig`:
- `init` set: load that local HF folder (a saved trueloop policy, or any HF checkpoint);
- `model == "tiny"` (size from `cfg.size`) or `"tiny-<size>"`: build the tiny Llama from a config;
- otherwise `model` is a local HF model folder.
Then cast to `dtype`, move to `device`, and wrap with fresh LoRA adapters when `lora_rank > 0`.
A LoRA policy saved by `Policy.save` has its adapters merged into the folder's weights, so
`init` + `lora_rank` continues from the same function with new zero-initialised adapters
(`load_lora` attaches saved adapters to their original base instead).
"""

from __future__ import annotations

from trueloop.config import PolicyConfig
from trueloop.policy.base import Policy
from trueloop.policy.hf import DTYPES, apply_lora, load_hf, load_lora
from trueloop.policy.tiny import SIZES, build_tiny

__all__ = ["Policy", "SIZES", "apply_lora", "build_tiny", "load_hf", "load_lora", "load_policy"]


def load_policy(cfg: PolicyConfig, *, seed: int = 0) -> Policy:
    if cfg.init is not None:
        policy = load_hf(cfg.init, dtype=cfg.dtype, device=cfg.device)
    elif cfg.model == "tiny" or cfg.model.startswith("tiny-"):
        size = cfg.size if cfg.model == "tiny" else cfg.model.removeprefix("tiny-")
        policy = build_tiny(size, seed=seed)
        policy.model.to(device=cfg.device, dtype=DTYPES[cfg.dtype])
    else:
        policy = load_hf(cfg.model, dtype=cfg.dtype, device=cfg.device)
    if cfg.lora_rank > 0:
        return apply_lora(policy, cfg.lora_rank)
    return policy
