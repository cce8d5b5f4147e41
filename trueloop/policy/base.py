"""`Policy`: a transformers causal LM and its tokenizer, saved as a standard HF folder.

The model is any `PreTrainedModel` with a causal-LM head (the built-in tiny Llama, a local HF
checkpoint, or either wrapped by peft for LoRA). `save()` always writes a folder that plain
`AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` load: with LoRA the
adapters are merged into a copy of the weights for that folder, and the adapters alone are also
written to `<folder>/adapter/` so LoRA training can resume from them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers


@dataclass
class Policy:
    model: transformers.PreTrainedModel
    # a causal LM (possibly a peft.PeftModel wrapping one); device and dtype follow its parameters
    tokenizer: transformers.PreTrainedTokenizerBase
    # pad and eos are always defined (load_hf falls back to eos as pad)
    version: int = 0
    # the weights' version: +1 after each optimizer update (a sampling engine holding its own
    # copy of the weights syncs when it changes; trueloop/rollout/vllm_engine.py)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def is_lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    def eos_token_ids(self) -> list[int]:
        """Every token id that ends a completion: the tokenizer's eos plus generation_config's."""
        ids = {self.tokenizer.eos_token_id}
        gen = getattr(self.model, "generation_config", None)
        extra = getattr(gen, "eos_token_id", None)
        ids.update(extra if isinstance(extra, list | tuple) else [extra])
        return sorted(i for i in ids if i is not None)

    def num_parameters(self, trainable_only: bool = False) -> int:
        params = self.model.parameters()
        return sum(p.numel() for p in params if p.requires_grad or not trainable_only)

    def save(self, path: str | Path, *, adapter_only: bool = False) -> None:
        """Write safetensors + config + tokenizer (+ `adapter/` under LoRA) to `path`. With
        `adapter_only` (LoRA), write the adapters and tokenizer alone: a resumable checkpoint
        that does not copy the frozen base weights."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        model = self.model
        if adapter_only and self.is_lora:
            model.save_pretrained(path / "adapter")
            self.tokenizer.save_pretrained(path)
            return
        if self.is_lora:
            model.save_pretrained(path / "adapter")
            model = copy.deepcopy(model).merge_and_unload()
        model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
