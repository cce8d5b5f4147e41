"""`RolloutBatch`: the token-level record of a batch of episodes, handed to verify and update.

One row per episode, `[left-padded prompt (P columns) | right-padded episode (T columns)]`: the
episode part holds every token after the prompt in order, the policy's sampled actions and the
observations/scaffolding between them. Three masks say what each token is:

    attention_mask  1 on every real token (prompt, actions, observations), 0 on padding
    action_mask     1 exactly on tokens the policy sampled (each turn's ending token included)
    turn_index      the turn a token belongs to (0, 1, ...; an observation carries the number of
                    the turn it follows), -1 on the prompt and on padding

Every loss, KL, entropy and metric reduction uses `action_mask`; the model attends over
`attention_mask`. A single-turn episode is one action: `action_mask == attention_mask` on the
episode columns.

Legend: N rows = prompts x G, grouped contiguously (rows g*G .. g*G+G-1 share prompt g);
L = P + T columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from trueloop.types import Episode

TENSORS = ("input_ids", "attention_mask", "action_mask", "logprobs", "turn_index")


@dataclass(frozen=True)
class RolloutBatch:
    input_ids: torch.Tensor
    # (N, L) token ids; pad_id on padding
    attention_mask: torch.Tensor
    # (N, L) 1 on real tokens
    action_mask: torch.Tensor
    # (N, L) 1 on policy-sampled tokens
    logprobs: torch.Tensor
    # (N, L) fp32 log-prob of each sampled token under the distribution it was drawn from:
    # softmax(logits / temperature) after top-k/top-p truncation; equals what
    # `token_logprobs(model, batch, temperature=T, top_k=K, top_p=P)` recomputes. 0 where
    # action_mask is 0.
    turn_index: torch.Tensor
    # (N, L) turn of each episode token; -1 on prompt and padding
    prompt_width: int
    # P: the first P columns are the (left-padded) prompt
    episodes: list[Episode]
    # (N,) what happened in each episode (turns, stop reason, tools, verdict once verified)
    group_size: int
    pad_id: int = 0
    engine: dict[str, float] = field(default_factory=dict)
    # the sampler's own figures for this batch (vLLM: `rollout/sync_logp_gap` when weights were
    # synced for it, `rollout/weight_version`, the weights' version it was sampled with)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def texts(self) -> list[str]:
        """Each episode's last action (the completion of a single-turn episode)."""
        return [e.completion for e in self.episodes]

    @property
    def finish_reasons(self) -> list[str]:
        """"stop" for an episode that ended by itself (`done`), "length" for one cut short."""
        return ["stop" if e.stop_reason == "done" else "length" for e in self.episodes]

    @property
    def prompt_ids(self) -> torch.Tensor:
        return self.input_ids[:, : self.prompt_width]  # (N, P)

    @property
    def prompt_mask(self) -> torch.Tensor:
        return self.attention_mask[:, : self.prompt_width]  # (N, P)

    @property
    def episode_ids(self) -> torch.Tensor:
        return self.input_ids[:, self.prompt_width:]  # (N, T)

    def action_counts(self) -> torch.Tensor:
        return self.action_mask.sum(1)  # (N,) sampled tokens per episode

    def select(self, rows: slice | list[int] | torch.Tensor) -> RolloutBatch:
        """The rows `rows` (a slice keeps group structure when it is aligned to group_size)."""
        idx = range(len(self))[rows] if isinstance(rows, slice) else rows
        idx_list = [int(i) for i in idx]
        index = torch.tensor(idx_list, dtype=torch.long, device=self.input_ids.device)
        return replace(self, episodes=[self.episodes[i] for i in idx_list],
                       **{k: getattr(self, k)[index] for k in TENSORS})

    def to(self, device: torch.device | str) -> RolloutBatch:
        return replace(self, **{k: getattr(self, k).to(device) for k in TENSORS})

    def with_engine(self, engine: dict[str, float]) -> RolloutBatch:
        return replace(self, engine=dict(engine))

    def with_episodes(self, episodes: list[Episode]) -> RolloutBatch:
        if len(episodes) != len(self):
            raise ValueError(f"with_episodes needs {len(self)} episodes; got {len(episodes)}.")
        return replace(self, episodes=list(episodes))


PAD_VALUES = {"input_ids": None, "attention_mask": 0, "action_mask": 0, "logprobs": 0.0,
              "turn_index": -1}


def _repad(x: torch.Tensor, p_from: int, p_to: int, t_to: int, value: float) -> torch.Tensor:
    """Re-pad a (N, P+T) tensor to (N, p_to + t_to): prompt on the left, episode on the right."""
    prompt, rest = x[:, :p_from], x[:, p_from:]
    return torch.cat([F.pad(prompt, (p_to - p_from, 0), value=value),
                      F.pad(rest, (0, t_to - rest.shape[1]), value=value)], dim=1)


def concat_batches(batches: list[RolloutBatch]) -> RolloutBatch:
    """Stack batches row-wise, re-padding prompts on the left and episodes on the right."""
    if not batches:
        raise ValueError("concat_batches needs at least one batch; got an empty list.")
    if len({b.group_size for b in batches}) != 1 or len({b.pad_id for b in batches}) != 1:
        raise ValueError("concat_batches needs batches with one group_size and one pad_id.")
    p = max(b.prompt_width for b in batches)
    t = max(b.input_ids.shape[1] - b.prompt_width for b in batches)
    pad = batches[0].pad_id

    def cat(name: str) -> torch.Tensor:
        value = pad if PAD_VALUES[name] is None else PAD_VALUES[name]
        return torch.cat([_repad(getattr(b, name), b.prompt_width, p, t, value) for b in batches])

    return RolloutBatch(**{k: cat(k) for k in TENSORS}, prompt_width=p,
                        episodes=[e for b in batches for e in b.episodes],
                        group_size=batches[0].group_size, pad_id=pad,
                        engine={k: v for b in batches for k, v in b.engine.items()})
