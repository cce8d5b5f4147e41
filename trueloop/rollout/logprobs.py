"""Per-token log-probabilities and entropies of episodes under a model: one full forward pass.

Used by the update (new and reference log-probs, with gradients when enabled) and by the tests that
check the sampler's recorded log-probs. A row is `[left-padded prompt | right-padded episode]`
(actions and observations in order, see `RolloutBatch`); the attention mask drops pads (and a
multi-turn row has no holes once assembled) and position ids count real tokens only, so each
action token sees exactly what the KV-cached sampler saw when it drew it.

    logp[n, t] = log softmax(S(z[n, P-1+t] / tau))[c[n, t]]
    H[n, t]    = -sum_v p_v log p_v   over the same distribution

S is the sampler's top-k/top-p truncation, replayed (`draw.on_support`; identity when neither is
set), so logp is the log-prob of the distribution each token was drawn from, as the sampler
recorded it.

Legend: N rows, P prompt width, T episode width, V vocab, D hidden size, z logits, c episode
ids, tau temperature. Only the T positions that predict episode tokens go through the LM head
(`logits_to_keep`). Memory is bounded by `logit_budget` elements of logits: small batches compute
(N, T, V) logits and do the softmax in row chunks; large ones (a real vocabulary) never form them,
running the LM head on chunks of final hidden states under activation checkpointing.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.utils.checkpoint import checkpoint

from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.draw import on_support
from trueloop.rollout.kvcache import cache_kwarg

LOGIT_CHUNK_ELEMS = 1 << 26
# at most this many fp32 logits (256 MiB) are materialised at once by the softmax step


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens: (N, L) mask -> (N, L) ids, pads clamped to 0."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


class Sampling(NamedTuple):
    """The distribution the sampler drew from (the rollout config's knobs): what every log-prob
    of the update is taken on."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


def _logp_entropy(logits: torch.Tensor, targets: torch.Tensor,
                  sampling: Sampling) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, T, V) logits, (n, T) targets -> (n, T) log-prob of targets and (n, T) entropy."""
    scaled = logits.float() / sampling.temperature  # fp32 before scaling: bf16 logits lose digits
    logits = on_support(scaled, targets, sampling.top_k, sampling.top_p)  # -inf off the support
    lse = torch.logsumexp(logits, dim=-1)  # (n, T)
    logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse  # (n, T)
    probs = torch.softmax(logits, dim=-1)  # (n, T, V)
    finite = logits if logits is scaled else logits.masked_fill(probs == 0, 0.0)
    # 0 * -inf would be nan, in backward too
    entropy = lse - (probs * finite).sum(-1)  # (n, T)
    return logp, entropy


def shares_prompts(prompt_ids: torch.Tensor, g: int) -> bool:
    """True when rows come in groups of `g` identical prompts (how `sample` lays them out)."""
    n = prompt_ids.shape[0]
    if g < 2 or n % g:
        return False
    groups = prompt_ids.view(n // g, g, -1)  # (B, G, P)
    return bool((groups == groups[:, :1]).all())


def _parts(model: torch.nn.Module, head: bool):
    """(forward, lm_head): the whole model when `head`, else its decoder (final hidden states)
    and the output embedding applied later in chunks. peft wrappers are looked through (their
    adapters live inside the decoder's modules, so they still apply)."""
    if head:
        return model, None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def _out(out, head: bool) -> torch.Tensor:
    return out.logits if head else out.last_hidden_state


def _grouped(model, ids: torch.Tensor, mask: torch.Tensor, p: int, g: int,
             head: bool) -> torch.Tensor:
    """Episode logits (or final hidden states) with each prompt run once per group, not G times.

    The B distinct prompts go through the model once (with gradients); their KV cache is repeated
    G times (`repeat_interleave` is differentiable, so prompt activations receive the gradient of
    all G episodes) and only the episode tokens run on top of it. Equal to the full forward up to
    float rounding (tested); saves (G-1)/G of the prompt compute in the update.
    """
    fwd, _ = _parts(model, head)
    keep = {"logits_to_keep": 1} if head else {}
    t = ids.shape[1] - p
    prompt_ids, prompt_mask = ids[::g, :p], mask[::g, :p]  # (B, P)
    out = fwd(input_ids=prompt_ids, attention_mask=prompt_mask,
              position_ids=position_ids(prompt_mask), use_cache=True, **keep)
    first = _out(out, head)[:, -1:].repeat_interleave(g, dim=0)  # (N, 1, V|D): predicts token 0
    if t == 1:
        return first
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    cache.batch_repeat_interleave(g)
    rest = fwd(input_ids=ids[:, p:-1], attention_mask=mask[:, :-1],
               position_ids=position_ids(mask)[:, p:-1], use_cache=True,
               **{cache_kwarg(model): cache})
    return torch.cat([first, _out(rest, head)], dim=1)  # (N, T, V|D)


def _full(model, ids: torch.Tensor, mask: torch.Tensor, p: int, head: bool) -> torch.Tensor:
    """Episode logits (or final hidden states) from one forward over every row."""
    fwd, _ = _parts(model, head)
    t = ids.shape[1] - p
    keep = {"logits_to_keep": t + 1} if head else {}
    out = fwd(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
              use_cache=False, **keep)
    return _out(out, head)[:, -t - 1:-1]  # (N, T, V|D): position P-1+t predicts token t


def _head_chunks(lm_head, hidden: torch.Tensor, targets: torch.Tensor, sampling: Sampling,
                 budget: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, D) hidden -> (N, T) logp and entropy, `budget // V` tokens at a time. Under autograd
    each chunk is checkpointed: its logits are recomputed in backward instead of kept, so peak
    memory holds one chunk of logits, never (N, T, V)."""
    n, t, d = hidden.shape
    flat, tgt = hidden.reshape(n * t, d), targets.reshape(n * t)
    size = max(1, budget // lm_head.weight.shape[0])

    def chunk(h: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _logp_entropy(lm_head(h), y, sampling)

    parts = []
    for i in range(0, n * t, size):
        h, y = flat[i:i + size], tgt[i:i + size]
        parts.append(checkpoint(chunk, h, y, use_reentrant=False) if torch.is_grad_enabled()
                     else chunk(h, y))
    logp = torch.cat([a for a, _ in parts]).view(n, t)
    entropy = torch.cat([b for _, b in parts]).view(n, t)
    return logp, entropy


def token_logprobs(model: torch.nn.Module, batch: RolloutBatch, *, temperature: float = 1.0,
                   top_k: int = 0, top_p: float = 1.0,
                   logit_budget: int = LOGIT_CHUNK_ELEMS) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp, entropy) of every episode token, both (N, T) fp32 over the batch's episode columns
    (columns P.. of `batch.input_ids`), 0 where `action_mask` is 0: only the policy's own tokens
    carry log-probs; observations and scaffolding are context, never targets.

    Rows in groups of identical prompts (`batch.group_size`) run each prompt once. When the
    batch's (N, T, V) logits would exceed `logit_budget` elements, the LM head runs on the final
    hidden states in chunks instead (`_head_chunks`), so they never exist at once. Gradients flow
    when the caller has them enabled; wrap in `torch.no_grad()` otherwise.
    """
    sampling = Sampling(temperature, top_k, top_p)
    device = next(model.parameters()).device
    p = batch.prompt_width
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)  # (N, P+T)
    t = ids.shape[1] - p
    vocab = model.get_output_embeddings().weight.shape[0]
    head = ids.shape[0] * t * vocab <= logit_budget or _head_does_more(model)
    grouped = shares_prompts(ids[:, :p], batch.group_size) and not _checkpointing(model)
    out = (_grouped(model, ids, mask, p, batch.group_size, head) if grouped
           else _full(model, ids, mask, p, head))  # (N, T, V) logits or (N, T, D) hidden
    targets = ids[:, p:]
    if head:
        rows = max(1, logit_budget // max(1, t * vocab))
        parts = [_logp_entropy(out[i:i + rows], targets[i:i + rows], sampling)
                 for i in range(0, ids.shape[0], rows)]
        logp = torch.cat([a for a, _ in parts])  # (N, T)
        entropy = torch.cat([b for _, b in parts])  # (N, T)
    else:
        logp, entropy = _head_chunks(_parts(model, False)[1], out, targets, sampling,
                                     logit_budget)
    keep = batch.action_mask[:, p:].to(device).bool()
    return logp.masked_fill(~keep, 0.0), entropy.masked_fill(~keep, 0.0)


def _head_does_more(model: torch.nn.Module) -> bool:
    """Models whose logits are not just lm_head(hidden) (final soft-capping, logit scaling) keep
    the plain path."""
    cfg = model.config
    return bool(getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None))


def _checkpointing(model: torch.nn.Module) -> bool:
    """Gradient checkpointing turns the KV cache off in training mode, so prompts cannot be
    shared through it: such models take the full path."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    flag = getattr(type(base), "is_activation_checkpointing", None)
    on = base.is_activation_checkpointing if flag is not None else base.is_gradient_checkpointing
    return bool(on) and base.training
