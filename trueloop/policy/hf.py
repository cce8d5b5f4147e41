"""Load any local HF causal LM + tokenizer as a `Policy`; optional LoRA adapters via peft.

No hub access is assumed: `path` is a local folder (`local_files_only=True`). peft is imported
only when `lora_rank > 0`, so the base install does not need it. LoRA (arXiv 2106.09685) targets
every linear layer except the output head (peft's "all-linear"), alpha = 2 * rank, no dropout
(dropout would make sampling and the update see different functions).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from trueloop.policy.base import Policy

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_hf(path: str | Path, *, dtype: str = "float32", device: str = "cpu") -> Policy:
    """Model and tokenizer from a local HF folder; pad falls back to eos when there is none."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path} is not a HF model folder (no config.json); give a local folder "
                         f"written by save_pretrained, or model = \"tiny\".")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], local_files_only=True)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return Policy(model=model.to(device).eval(), tokenizer=tokenizer)


def apply_lora(policy: Policy, rank: int, *, alpha: float | None = None) -> Policy:
    """Wrap the model with LoRA adapters; only adapter weights stay trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else 2 * rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    return Policy(model=get_peft_model(policy.model, config), tokenizer=policy.tokenizer)


def load_lora(policy: Policy, adapter: str | Path) -> Policy:
    """Attach trainable adapters saved by `Policy.save` (`<folder>/adapter`) to a base policy."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(policy.model, adapter, is_trainable=True)
    return Policy(model=model, tokenizer=policy.tokenizer)
