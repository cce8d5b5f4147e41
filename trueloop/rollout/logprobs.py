"""Per-token log-probabilities and entropies of episodes under a model: one full forward pass.

Used by the update (new and reference log-probs, with gradients when enabled) and by the tests that
check the sampler's recorded log-probs. A row is `[left-padded prompt | right-padded episode]`
(actions and observations in order, see `RolloutBatch`); the attention mask drops pads (and a
multi-turn row has no holes once assembled) and position ids count real tokens only, so each
action token sees exactly what the KV-cached sampler saw when it drew it.

    logp[n, t] = log softmax(z[n, P-1+t] / tau)[c[n, t]]
    H[n, t]    = -sum_v p_v log p_v   over the same temperature-scaled distribution

Legend: N rows, P prompt width, T episode width, V vocab, z logits, c episode ids,
tau temperature. Only the T positions that predict episode tokens go through the LM head
(`logits_to_keep`), and the (N, T, V) softmax work is done in row chunks to bound fp32 memory.
"""

from __future__ import annotations

import torch

from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.kvcache import cache_kwarg

LOGIT_CHUNK_ELEMS = 1 << 26
# at most this many fp32 logits (256 MiB) are materialised at once by the softmax step


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens: (N, L) mask -> (N, L) ids, pads clamped to 0."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


def _logp_entropy(logits: torch.Tensor, targets: torch.Tensor,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, T, V) logits, (n, T) targets -> (n, T) log-prob of targets and (n, T) entropy."""
    logits = logits.float() / temperature  # fp32 before scaling: bf16 logits lose digits
    lse = torch.logsumexp(logits, dim=-1)  # (n, T)
    logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse  # (n, T)
    probs = torch.softmax(logits, dim=-1)  # (n, T, V)
    entropy = lse - (probs * logits).sum(-1)  # (n, T)
    return logp, entropy


def shares_prompts(prompt_ids: torch.Tensor, g: int) -> bool:
    """True when rows come in groups of `g` identical prompts (how `sample` lays them out)."""
    n = prompt_ids.shape[0]
    if g < 2 or n % g:
        return False
    groups = prompt_ids.view(n // g, g, -1)  # (B, G, P)
    return bool((groups == groups[:, :1]).all())


def _grouped_logits(model, ids: torch.Tensor, mask: torch.Tensor, p: int, g: int) -> torch.Tensor:
    """Completion logits with each prompt run once per group, not G times.

    The B distinct prompts go through the model once (with gradients); their KV cache is repeated
    G times (`repeat_interleave` is differentiable, so prompt activations receive the gradient of
    all G completions) and only the completion tokens run on top of it. Equal to the full forward
    up to float rounding (tested); saves (G-1)/G of the prompt compute in the update.
    """
    t = ids.shape[1] - p
    prompt_ids, prompt_mask = ids[::g, :p], mask[::g, :p]  # (B, P)
    out = model(input_ids=prompt_ids, attention_mask=prompt_mask,
                position_ids=position_ids(prompt_mask), use_cache=True, logits_to_keep=1)
    first = out.logits[:, -1:].repeat_interleave(g, dim=0)  # (N, 1, V): predicts token 0
    if t == 1:
        return first
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    cache.batch_repeat_interleave(g)
    rest = model(input_ids=ids[:, p:-1], attention_mask=mask[:, :-1],
                 position_ids=position_ids(mask)[:, p:-1], use_cache=True,
                 **{cache_kwarg(model): cache})
    return torch.cat([first, rest.logits], dim=1)  # (N, T, V)


def token_logprobs(model: torch.nn.Module, batch: RolloutBatch, *,
                   temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp, entropy) of every episode token, both (N, T) fp32 over the batch's episode columns
    (columns P.. of `batch.input_ids`), 0 where `action_mask` is 0: only the policy's own tokens
    carry log-probs; observations and scaffolding are context, never targets.

    Rows in groups of identical prompts (`batch.group_size`) run each prompt once. Gradients flow
    when the caller has them enabled; wrap in `torch.no_grad()` otherwise.
    """
    device = next(model.parameters()).device
    p = batch.prompt_width
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)  # (N, P+T)
    t = ids.shape[1] - p
    if shares_prompts(ids[:, :p], batch.group_size):
        logits = _grouped_logits(model, ids, mask, p, batch.group_size)  # (N, T, V)
    else:
        out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
                    use_cache=False, logits_to_keep=t + 1)
        logits = out.logits[:, :-1]  # (N, T, V): position P-1+t predicts token t
    targets = ids[:, p:]
    rows = max(1, LOGIT_CHUNK_ELEMS // max(1, t * logits.shape[-1]))
    parts = [_logp_entropy(logits[i:i + rows], targets[i:i + rows], temperature)
             for i in range(0, ids.shape[0], rows)]
    logp = torch.cat([p_ for p_, _ in parts])  # (N, T)
    entropy = torch.cat([e for _, e in parts])  # (N, T)
    keep = batch.action_mask[:, p:].to(device).bool()
    return logp.masked_fill(~keep, 0.0), entropy.masked_fill(~keep, 0.0)
