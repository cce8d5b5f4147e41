"""Compute accounting: tokens and estimated FLOPs per training step, and their running totals.

FLOPs are estimated from the model's shape, the standard transformer approximation (Kaplan et al.
2020, arXiv 2001.08361, section 2.1): a forward pass costs about 2 N FLOPs per token (N weights
in matrix products: every parameter but the input embedding table, which is a lookup, unless the
output head shares it), plus attention's score and value products, 4 n_layer d_model FLOPs per
token per position attended; a backward pass costs twice the forward. Under the causal mask token
t attends to t positions, so a row of n tokens costs

    F(n) = 2 N n + 2 n_layer d_model n^2            (forward)

Per step, with rows of n_i real tokens (prompt, observations and actions; padding not counted):
- sampling forwards each token once (the KV cache): sum_i F(n_i);
- the update forwards and backwards every row once per epoch, (3 + c) sum_i F(n_i) per epoch,
  where c = 1 with gradient checkpointing (the forward is recomputed), plus one forward of the
  frozen reference model when `kl_coef` > 0.
Not counted: held-out evaluation during training (it measures, it does not train), verification
(CPU work in the verifier, timed as `time/verify`), LoRA's smaller weight-gradient cost (the
estimate counts full backward), and padding the batched kernels compute anyway.

Tokens: `sampled` are the policy's action tokens, `trained` the tokens under the loss mask times
the epochs, `forwarded` every real token of the rollout rows. Running totals (`compute/cum_*`,
`time/cum_*`) live in the checkpoint, so a resumed run continues them exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch

from trueloop.config import RunConfig
from trueloop.rollout import RolloutBatch
from trueloop.update.step import loss_mask

STAGES = ("sample", "verify", "update")
# the timed stages of a step (time/<stage>), summed into time/cum_<stage>


@dataclass(frozen=True)
class ModelShape:
    matmul_params: int
    # N: weights in matrix products
    layers: int
    width: int
    # d_model


def model_shape(model: torch.nn.Module) -> ModelShape:
    """N, n_layer and d_model of an HF causal LM (the built-in tiny model included) or a peft
    wrapper of one, read from the module and its config."""
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    width = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not layers or not width:
        raise ValueError(f"cannot read n_layer / d_model from {type(config).__name__}; compute "
                         "accounting needs num_hidden_layers and hidden_size (or n_layer, n_embd).")
    total = sum(p.numel() for p in model.parameters())  # shared (tied) tensors counted once
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    tied = head is not None and head.weight.data_ptr() == embed.data_ptr()
    return ModelShape(total if tied else total - embed.numel(), int(layers), int(width))


def forward_flops(shape: ModelShape, lengths: torch.Tensor) -> float:
    """sum_i F(n_i) for rows of `lengths` real tokens (see the module docstring)."""
    n = lengths.double()
    return float((2 * shape.matmul_params * n + 2 * shape.layers * shape.width * n**2).sum())


class ComputeMeter:
    """Per-step compute metrics and their running totals."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.shape = model_shape(model)
        self.totals: dict[str, float] = defaultdict(float)

    def step(self, batch: RolloutBatch, cfg: RunConfig, seconds: dict[str, float]
             ) -> dict[str, float]:
        """This step's `compute/*` metrics and the running `compute/cum_*`, `time/cum_*`."""
        u = cfg.update
        fwd = forward_flops(self.shape, batch.attention_mask.sum(1))
        passes = u.epochs * (3 + u.gradient_checkpointing) + (u.kl_coef > 0)
        step = {
            "tokens_sampled": float(batch.action_mask.sum()),
            "tokens_trained": float(loss_mask(batch, u).sum()) * u.epochs,
            "tokens_forwarded": float(batch.attention_mask.sum()),
            "flops_sample": fwd,
            "flops_update": passes * fwd,
        }
        step["flops"] = step["flops_sample"] + step["flops_update"]
        for k, v in step.items():
            self.totals[f"compute/cum_{k}"] += v
        for stage in STAGES:
            self.totals[f"time/cum_{stage}"] += seconds.get(f"time/{stage}", 0.0)
        return {**{f"compute/{k}": v for k, v in step.items()}, **self.totals}

    def state_dict(self) -> dict[str, Any]:
        return dict(self.totals)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.totals.clear()
        self.totals.update(state)
