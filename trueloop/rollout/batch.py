"""`RolloutBatch`: the token-level record of one sampling call, handed to verify and update.

Legend: N rows = prompts x G, grouped contiguously (rows g*G .. g*G+G-1 share prompt g);
P prompt width (left-padded), T completion width (right-padded).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RolloutBatch:
    prompt_ids: torch.Tensor
    # (N, P) left-padded with pad_id
    prompt_mask: torch.Tensor
    # (N, P) 1 for real prompt tokens
    completion_ids: torch.Tensor
    # (N, T) right-padded with pad_id
    completion_mask: torch.Tensor
    # (N, T) 1 for generated tokens up to and including EOS / the token completing a stop string
    logprobs: torch.Tensor
    # (N, T) fp32 log-prob of each sampled token under softmax(logits / temperature), i.e. the
    # temperature-scaled distribution *before* top-k/top-p truncation; equals what
    # `token_logprobs(model, batch, temperature=T)` recomputes. 0 where completion_mask is 0.
    texts: list[str]
    # decoded completions without EOS/pad; a stop string and anything after it is cut off
    finish_reasons: list[str]
    # "stop" (EOS or stop string) | "length" (hit max_new_tokens)
    group_size: int
    pad_id: int = 0
    # the id used for padding both prompt and completion tensors

    def __len__(self) -> int:
        return self.completion_ids.shape[0]

    def select(self, rows: slice | list[int] | torch.Tensor) -> RolloutBatch:
        """The rows `rows` (a slice keeps group structure when it is aligned to group_size)."""
        idx = range(len(self))[rows] if isinstance(rows, slice) else rows
        idx_list = [int(i) for i in idx]
        index = torch.tensor(idx_list, dtype=torch.long, device=self.prompt_ids.device)
        return replace(
            self,
            prompt_ids=self.prompt_ids[index],
            prompt_mask=self.prompt_mask[index],
            completion_ids=self.completion_ids[index],
            completion_mask=self.completion_mask[index],
            logprobs=self.logprobs[index],
            texts=[self.texts[i] for i in idx_list],
            finish_reasons=[self.finish_reasons[i] for i in idx_list],
        )

    def to(self, device: torch.device | str) -> RolloutBatch:
        tensors = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "logprobs")
        return replace(self, **{k: getattr(self, k).to(device) for k in tensors})


def _pad_to(x: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    extra = width - x.shape[1]
    return F.pad(x, (extra, 0) if left else (0, extra), value=value)


def concat_batches(batches: list[RolloutBatch]) -> RolloutBatch:
    """Stack batches row-wise, re-padding prompts on the left and completions on the right."""
    if not batches:
        raise ValueError("concat_batches needs at least one batch; got an empty list.")
    if len({b.group_size for b in batches}) != 1 or len({b.pad_id for b in batches}) != 1:
        raise ValueError("concat_batches needs batches with one group_size and one pad_id.")
    p = max(b.prompt_ids.shape[1] for b in batches)
    t = max(b.completion_ids.shape[1] for b in batches)
    pad = batches[0].pad_id

    def cat(name: str, width: int, value: float, left: bool) -> torch.Tensor:
        return torch.cat([_pad_to(getattr(b, name), width, value, left) for b in batches])

    return RolloutBatch(
        prompt_ids=cat("prompt_ids", p, pad, True),
        prompt_mask=cat("prompt_mask", p, 0, True),
        completion_ids=cat("completion_ids", t, pad, False),
        completion_mask=cat("completion_mask", t, 0, False),
        logprobs=cat("logprobs", t, 0.0, False),
        texts=[s for b in batches for s in b.texts],
        finish_reasons=[f for b in batches for f in b.finish_reasons],
        group_size=batches[0].group_size,
        pad_id=pad,
    )
