"""The built-in tiny model: a Llama-architecture `transformers` causal LM built from a config.

Same code path as any pretrained HF model (a real `LlamaForCausalLM`, saved and loaded with
`save_pretrained` / `from_pretrained`), small enough to train on a laptop CPU. Weights are
randomly initialised from `seed` (a private RNG, so the global torch RNG is untouched); a
pretrained prior comes from the policy `init` folder. The tokenizer is character-level
(`trueloop.policy.chartok`), vocabulary 128, embeddings tied to the output head.

Sizes (parameters counted with tied embeddings, vocab 128; `tests/unit/test_policy.py` checks them):

| name   | layers | d_model | heads | ffn  | ctx  | params |
|--------|--------|---------|-------|------|------|--------|
| 0.5m   | 2      | 128     | 4     | 384  | 256  | 0.44M  |
| small  | 4      | 128     | 4     | 384  | 256  | 0.87M  |
| 1m     | 4      | 128     | 4     | 384  | 256  | 0.87M  |
| 3m     | 6      | 192     | 6     | 576  | 512  | 2.90M  |
| 10m    | 8      | 320     | 5     | 864  | 512  | 9.96M  |
| 30m    | 12     | 448     | 7     | 1216 | 1024 | 29.3M  |
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from trueloop.policy.base import Policy
from trueloop.policy.chartok import build_char_tokenizer


@dataclass(frozen=True)
class TinySize:
    layers: int
    d_model: int
    heads: int
    ffn: int
    # SwiGLU hidden width
    ctx: int
    # max positions (RoPE, so longer still runs, just untrained)
    approx_params: str
    # documented parameter count (checked by a test)


SIZES: dict[str, TinySize] = {
    "0.5m": TinySize(2, 128, 4, 384, 256, "0.44M"),
    "small": TinySize(4, 128, 4, 384, 256, "0.87M"),
    "1m": TinySize(4, 128, 4, 384, 256, "0.87M"),
    "3m": TinySize(6, 192, 6, 576, 512, "2.90M"),
    "10m": TinySize(8, 320, 5, 864, 512, "9.96M"),
    "30m": TinySize(12, 448, 7, 1216, 1024, "29.3M"),
}


def tiny_config(size: str, vocab_size: int, bos: int, eos: int, pad: int) -> LlamaConfig:
    if size not in SIZES:
        raise ValueError(f"unknown tiny model size {size!r}; known: {sorted(SIZES)}.")
    s = SIZES[size]
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=s.d_model,
        intermediate_size=s.ffn,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.heads,
        max_position_embeddings=s.ctx,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        initializer_range=0.02,
    )


def build_tiny(size: str = "small", seed: int = 0) -> Policy:
    """A freshly initialised tiny Llama + character tokenizer; identical for identical `seed`."""
    tok = build_char_tokenizer()
    config = tiny_config(size, len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    config._attn_implementation = "sdpa"
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the global RNG
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    return Policy(model=model.eval(), tokenizer=tok)
