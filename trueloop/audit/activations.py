"""Residual-stream activations of any HF causal LM, read by forward hooks on its decoder blocks.

A *site* names one decoder block's output: `blocks.L` (or `layers.L`, `h.L`; negative L counts
from the end) resolves through `decoder_blocks` to `model.model.layers[L]` (Llama, Qwen, Mistral,
Gemma), `transformer.h[L]` (GPT-2) or `gpt_neox.layers[L]` (GPT-NeoX / Pythia); any other full
module name from `named_modules()` is taken as given. The output of block L equals
`hidden_states[L + 1]` of `output_hidden_states=True` for every block but the last, whose entry HF
stores after the final norm (tests/unit/test_audit_activations.py checks both).

Episodes are teacher-forced: one forward over `[left-padded prompt | episode]` with the attention
mask and position ids that count real tokens only, numerically the activations the KV-cached
sampler saw. Kept tokens are the real ones minus each row's position 0 (attention-sink norms);
each carries its row, column, token id, whether it was policy-sampled (`is_action`) and whether it
*predicts* a sampled token (`predicts_action`: activation t is read while predicting t + 1, so the
loss of an action token is measured at the token before it). Padding never appears.

Why torch hooks instead of SAELens / TransformerLens / nnsight: TransformerLens re-implements each
architecture (so a policy trueloop trains would have to be converted and re-verified, and
multi-turn masks re-derived); SAELens and nnsight pull large dependency trees (and pin
transformers / torch versions the CPU machines cannot resolve). A forward hook on the HF module
reads the very model being trained with ~100 lines and no new dependency.

Legend: N rows, L columns, D hidden size, M kept tokens, S sites.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.logprobs import position_ids

BLOCK_PATHS = ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers")
# where each HF layout keeps its ModuleList of decoder blocks (Llama/Qwen/Mistral, GPT-2,
# GPT-NeoX, OPT); tried in order on the model with peft wrappers looked through
SITE_RE = re.compile(r"^(?:blocks|layers|h)\.(-?\d+)$")


class StopForward(Exception):
    """Raised by the hook on the deepest site so the rest of the forward is skipped."""


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a peft wrapper (itself otherwise)."""
    return model.get_base_model() if hasattr(model, "peft_config") else model


def decoder_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    m = base_model(model)
    for path in BLOCK_PATHS:
        obj = m
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, torch.nn.ModuleList):
            return obj
    raise ValueError(f"cannot find the decoder blocks of {type(m).__name__}: none of "
                     f"{', '.join(BLOCK_PATHS)} is a ModuleList; name a module instead.")


def canonical_site(model: torch.nn.Module, site: str) -> str:
    """`layers.-1` -> `blocks.3` on a 4-block model; a full module name is returned as is."""
    hit = SITE_RE.match(site)
    if not hit:
        return site
    n = len(decoder_blocks(model))
    i = int(hit.group(1))
    if not -n <= i < n:
        raise ValueError(f"site {site!r} is out of range: the model has {n} decoder blocks "
                         f"(blocks.0 .. blocks.{n - 1}, or negative from the end).")
    return f"blocks.{i % n}"


def resolve_site(model: torch.nn.Module, site: str) -> torch.nn.Module:
    site = canonical_site(model, site)
    if site.startswith("blocks."):
        return decoder_blocks(model)[int(site.split(".")[1])]
    modules = dict(base_model(model).named_modules())
    hits = [name for name in modules if fnmatch.fnmatchcase(name, site)]
    if len(hits) != 1:
        raise ValueError(f"site {site!r} must name exactly one module (or be blocks.L); it "
                         f"matched {len(hits)}: {hits[:5]}.")
    return modules[hits[0]]


def _hidden(out) -> torch.Tensor:
    # newer transformers return a bare tensor from decoder layers, older ones a tuple
    return out[0] if isinstance(out, tuple) else out


@contextlib.contextmanager
def hooked(model: torch.nn.Module, sites: list[str], store: dict[str, torch.Tensor],
           stop_after: bool = False) -> Iterator[None]:
    """Record each site's (N, L, D) output into `store`; raise StopForward after the deepest."""
    deepest = max(sites, key=lambda s: _depth(model, s)) if stop_after else None
    handles = []
    for site in sites:
        def hook(_mod, _inp, out, site=site):
            store[site] = _hidden(out).detach()
            if site == deepest:
                raise StopForward
        handles.append(resolve_site(model, site).register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _depth(model: torch.nn.Module, site: str) -> int:
    """Order of the site's module in `named_modules()` (the order the forward reaches them)."""
    module = resolve_site(model, site)
    return next(i for i, (_, m) in enumerate(base_model(model).named_modules()) if m is module)


@contextlib.contextmanager
def spliced(model: torch.nn.Module, site: str,
            replace: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Within the block, the site's output h (N, L, D) is replaced by `replace(h)`."""
    def hook(_mod, _inp, out):
        new = replace(_hidden(out))
        return (new, *out[1:]) if isinstance(out, tuple) else new
    handle = resolve_site(model, site).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def forward_kwargs(batch: RolloutBatch) -> dict[str, torch.Tensor]:
    mask = batch.attention_mask
    return {"input_ids": batch.input_ids, "attention_mask": mask,
            "position_ids": position_ids(mask)}


def kept_mask(batch: RolloutBatch) -> torch.Tensor:
    """(N, L) bool: real tokens except each row's first (position 0)."""
    mask = batch.attention_mask.bool()
    return mask & (position_ids(batch.attention_mask) > 0)


@dataclass(frozen=True)
class Activations:
    """Kept tokens of a set of episodes, and each site's activations on them."""

    x: dict[str, torch.Tensor]
    # site -> (M, D) fp32 block output at each kept token
    row: torch.Tensor
    # (M,) episode (batch row) of each token
    col: torch.Tensor
    # (M,) column of each token in its row
    token: torch.Tensor
    # (M,) token id at the position
    is_action: torch.Tensor
    # (M,) bool: the token was sampled by the policy
    predicts_action: torch.Tensor
    # (M,) bool: the next token was sampled by the policy (where the action's loss is read)

    def __len__(self) -> int:
        return self.row.shape[0]

    def select(self, keep: torch.Tensor) -> Activations:
        """The tokens where the (M,) bool `keep` holds."""
        return Activations({s: v[keep] for s, v in self.x.items()}, self.row[keep],
                           self.col[keep], self.token[keep], self.is_action[keep],
                           self.predicts_action[keep])

    def rows(self, rows: torch.Tensor) -> Activations:
        return self.select(torch.isin(self.row, rows))

    def save(self, folder: str | Path, shard_tokens: int = 1 << 16) -> list[Path]:
        """Write safetensors shards `shard_00000.safetensors`, ... of at most `shard_tokens`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for k, start in enumerate(range(0, max(len(self), 1), shard_tokens)):
            part = slice(start, start + shard_tokens)
            tensors = {f"x/{s}": v[part].contiguous() for s, v in self.x.items()}
            for name in ("row", "col", "token", "is_action", "predicts_action"):
                tensors[name] = getattr(self, name)[part].contiguous()
            paths.append(folder / f"shard_{k:05d}.safetensors")
            save_file(tensors, str(paths[-1]))
        return paths

    @classmethod
    def load(cls, folder: str | Path) -> Activations:
        shards = [load_file(str(p)) for p in sorted(Path(folder).glob("shard_*.safetensors"))]
        if not shards:
            raise FileNotFoundError(f"no activation shards (shard_*.safetensors) in {folder}.")
        cat = {k: torch.cat([s[k] for s in shards]) for k in shards[0]}
        x = {k[2:]: v for k, v in cat.items() if k.startswith("x/")}
        return cls(x, cat["row"], cat["col"], cat["token"], cat["is_action"],
                   cat["predicts_action"])


@torch.inference_mode()
def collect(model: torch.nn.Module, batch: RolloutBatch, sites: list[str],
            rows_per_forward: int = 64) -> Activations:
    """Teacher-force `batch` through `model` and gather each site's output at the kept tokens."""
    sites = [canonical_site(model, s) for s in sites]
    device = next(model.parameters()).device
    keep = kept_mask(batch)  # (N, L)
    nxt = torch.zeros_like(batch.action_mask, dtype=torch.bool)
    nxt[:, :-1] = batch.action_mask[:, 1:].bool()
    xs: dict[str, list[torch.Tensor]] = {s: [] for s in sites}
    for start in range(0, len(batch), rows_per_forward):
        part = batch.select(slice(start, start + rows_per_forward)).to(device)
        store: dict[str, torch.Tensor] = {}
        with hooked(model, sites, store, stop_after=True), contextlib.suppress(StopForward):
            model(**forward_kwargs(part), use_cache=False)
        k = keep[start:start + rows_per_forward].to(device)
        for s in sites:
            xs[s].append(store[s][k].float().cpu())  # (m, D)
    row, col = keep.nonzero(as_tuple=True)  # row-major, the order boolean indexing uses
    return Activations({s: torch.cat(v) for s, v in xs.items()}, row, col,
                       batch.input_ids[row, col], batch.action_mask[row, col].bool(),
                       nxt[row, col])
