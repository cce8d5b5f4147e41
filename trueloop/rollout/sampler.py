"""Batched sampling of G completions per prompt with a KV cache: the rollout hot path.

A hand-written decode loop over the HF model's forward (any causal LM, any device):
1. prefill the B unique prompts once (left-padded, position ids counting real tokens only), then
   repeat the KV cache G times (`batch_repeat_interleave`) instead of prefilling B*G rows;
2. each step draws one token per row (`draw.py`), records its log-prob under the temperature-scaled
   distribution, and marks rows finished on EOS / stop string / length;
3. finished rows are dropped from the cache once a quarter of the live rows are done (compaction),
   and the loop ends as soon as every row has finished.
Everything runs under `torch.inference_mode()`; the only host syncs are the finish checks (every
step on CPU, every `CUDA_CHECK_EVERY` steps on CUDA unless stop strings need the text).

Departure from `model.generate`: log-probs are recorded for free (the update needs them), text is
cut at stop strings, and there are no logits processors beyond temperature / top-k / top-p.

Legend: B prompts, G group size, N = B*G rows, P prompt width, T = max_new_tokens, V vocab.
"""

from __future__ import annotations

import torch

from trueloop.config import RolloutConfig
from trueloop.policy import Policy
from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.draw import draw, truncate
from trueloop.rollout.kvcache import cache_kwarg, preallocated_cache
from trueloop.rollout.logprobs import position_ids
from trueloop.rollout.stops import StopStrings, cut_at_stop

COMPACT_FRACTION = 0.25
# drop finished rows from the KV cache once this fraction of live rows has finished
CUDA_CHECK_EVERY = 8
# on CUDA without stop strings, look for finished rows every this many steps


def encode_prompts(policy: Policy, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts -> (B, P) left-padded ids and (B, P) mask, on the model's device."""
    encoded = policy.tokenizer(prompts, add_special_tokens=True)["input_ids"]
    empty = [i for i, ids in enumerate(encoded) if not ids]
    if empty:
        raise ValueError(f"prompts {empty} encode to no tokens; every prompt needs at least one.")
    width = max(len(ids) for ids in encoded)
    pad = policy.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(x)) + x for x in encoded], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in encoded], dtype=torch.long)
    return ids.to(policy.device), mask.to(policy.device)


def prefill(model, ids: torch.Tensor, mask: torch.Tensor, g: int, max_new_tokens: int):
    """Run the prompts once; return (N, V) next-token logits and the KV cache for N = B*G rows."""
    cache = preallocated_cache(model, ids.shape[1] + max_new_tokens)
    extra = {} if cache is None else {cache_kwarg(model): cache}
    out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
                use_cache=True, logits_to_keep=1, **extra)
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    if g > 1:
        cache.batch_repeat_interleave(g)
    return out.logits[:, -1].float().repeat_interleave(g, dim=0), cache  # (N, V)


class Decoder:
    """The live state of one decode loop; rows finish and are compacted away as it runs."""

    def __init__(self, policy: Policy, cfg: RolloutConfig, prompt_mask: torch.Tensor,
                 generator: torch.Generator | None):
        n, p = prompt_mask.shape
        t = cfg.max_new_tokens
        device = prompt_mask.device
        self.cfg, self.model, self.generator = cfg, policy.model, generator
        self.pad = policy.tokenizer.pad_token_id
        self.eos = torch.tensor(policy.eos_token_ids(), dtype=torch.long, device=device)
        self.tokens = torch.full((n, t), self.pad, dtype=torch.long, device=device)  # (N, T)
        self.logp = torch.zeros(n, t, dtype=torch.float32, device=device)  # (N, T)
        self.lengths = torch.full((n,), t, dtype=torch.long, device=device)  # (N,)
        self.stopped = torch.zeros(n, dtype=torch.bool, device=device)  # (N,) EOS or stop string
        self.live = torch.arange(n, device=device)  # (n_live,) global row of each live row
        self.finished = torch.zeros(n, dtype=torch.bool, device=device)  # (n_live,)
        # attention mask of live rows over [prompt | generated]; generated slots open as we go
        self.attn = torch.cat([prompt_mask, torch.zeros_like(self.tokens)], dim=1)  # (N, P+T)
        self.next_pos = prompt_mask.sum(1)  # (N,) position id of the next token
        self.width = p
        self.stops = StopStrings(policy.tokenizer, cfg.stop, n)
        self.cache_arg = cache_kwarg(policy.model)

    def step(self, t: int, logits: torch.Tensor) -> None:
        """Draw token t for every live row and mark the rows that finish with it."""
        scaled = logits / self.cfg.temperature  # (n_live, V)
        token = draw(truncate(scaled, self.cfg.top_k, self.cfg.top_p), self.generator)
        logp = torch.log_softmax(scaled, dim=-1).gather(-1, token[:, None]).squeeze(-1)
        self.tokens[self.live, t] = token
        self.logp[self.live, t] = logp
        done = torch.isin(token, self.eos)  # (n_live,)
        if self.stops:
            hits = self.stops.update(self.live.tolist(), token.tolist())
            done |= torch.tensor(hits, device=done.device)
        new = done & ~self.finished  # (n_live,) rows that finished at this very step
        # torch.where, not boolean indexing: no data-dependent shapes, so no host sync on CUDA
        self.lengths[self.live] = torch.where(new, t + 1, self.lengths[self.live])
        self.stopped[self.live] = self.stopped[self.live] | new
        self.finished |= done
        self._last = token

    def forward(self, t: int, cache) -> torch.Tensor:
        """Feed the tokens drawn at step t; return (n_live, V) logits for step t+1."""
        self.attn[:, self.width + t] = 1
        out = self.model(input_ids=self._last[:, None],
                         attention_mask=self.attn[:, : self.width + t + 1],
                         position_ids=(self.next_pos + t)[:, None],
                         use_cache=True, **{self.cache_arg: cache})
        return out.logits[:, -1].float()

    def compact(self, cache, logits: torch.Tensor) -> torch.Tensor:
        """Drop finished rows from the cache and all row state; return the kept rows' logits."""
        idx = (~self.finished).nonzero().squeeze(-1)  # (n_keep,)
        cache.batch_select_indices(idx)
        self.live, self._last, self.finished = self.live[idx], self._last[idx], self.finished[idx]
        self.attn, self.next_pos = self.attn[idx], self.next_pos[idx]
        return logits[idx]


def check_every(device: torch.device, stops: bool) -> int:
    """Steps between finish checks (host syncs). On CUDA a sync per step would stop the CPU from
    queueing the next step's kernels while the GPU runs; stop strings need the tokens on the host
    every step anyway."""
    return 1 if device.type == "cpu" or stops else CUDA_CHECK_EVERY


def decode(policy: Policy, cfg: RolloutConfig, logits: torch.Tensor, cache,
           prompt_mask: torch.Tensor, generator: torch.Generator | None) -> Decoder:
    dec = Decoder(policy, cfg, prompt_mask, generator)
    every = check_every(logits.device, bool(dec.stops))
    for t in range(cfg.max_new_tokens):
        dec.step(t, logits)
        if t + 1 == cfg.max_new_tokens:
            break
        if (t + 1) % every == 0:
            n_done = int(dec.finished.sum())  # host sync
            if n_done == len(dec.finished):
                break
            if n_done >= COMPACT_FRACTION * len(dec.finished):
                logits = dec.compact(cache, logits)
        logits = dec.forward(t, cache)
    return dec


def sample(policy: Policy, prompts: list[str], cfg: RolloutConfig, *,
           group_size: int | None = None, generator: torch.Generator | None = None) -> RolloutBatch:
    """G = `group_size` (default cfg.group_size) completions per prompt, grouped contiguously."""
    g = group_size if group_size is not None else cfg.group_size
    if g < 1 or not prompts or cfg.max_new_tokens < 1:
        raise ValueError(f"sample needs >= 1 prompt, group_size >= 1 and max_new_tokens >= 1; got "
                         f"{len(prompts)} prompts, group_size={g}, "
                         f"max_new_tokens={cfg.max_new_tokens}.")
    ids, mask = encode_prompts(policy, prompts)  # (B, P)
    was_training = policy.model.training
    policy.model.eval()  # no dropout while sampling, whatever mode the caller left it in
    try:
        with torch.inference_mode():
            logits, cache = prefill(policy.model, ids, mask, g, cfg.max_new_tokens)  # (N, V)
            dec = decode(policy, cfg, logits, cache, mask.repeat_interleave(g, dim=0), generator)
    finally:
        policy.model.train(was_training)
    # from here on outside inference mode: the batch holds ordinary tensors the update can use
    ids, mask = ids.repeat_interleave(g, dim=0), mask.repeat_interleave(g, dim=0)  # (N, P)
    steps = int(dec.lengths.max())
    keep = torch.arange(steps, device=ids.device)[None] < dec.lengths[:, None]  # (N, T')
    tokens = dec.tokens[:, :steps].masked_fill(~keep, dec.pad)
    rows = [r[:n] for r, n in zip(tokens.tolist(), dec.lengths.tolist(), strict=True)]
    texts = policy.tokenizer.batch_decode(rows, skip_special_tokens=True)
    return RolloutBatch(
        prompt_ids=ids,
        prompt_mask=mask,
        completion_ids=tokens,
        completion_mask=keep.long(),
        logprobs=dec.logp[:, :steps].masked_fill(~keep, 0.0),
        texts=[cut_at_stop(s, cfg.stop) for s in texts],
        finish_reasons=["stop" if s else "length" for s in dec.stopped.tolist()],
        group_size=g,
        pad_id=dec.pad,
    )
