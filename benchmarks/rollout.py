"""Rollout throughput: trueloop's KV-cached sampler vs `transformers` `model.generate`.

Same model, same prompts (task prompts, left-padded identically), same G, max_new_tokens and
sampling settings, in one process, alternating runs; best of `--repeats` for each. Reports
completion tokens/s (generated tokens up to and including EOS, summed over rows) and the ratio.
trueloop also records per-token log-probs and finish reasons, which generate does not.

The ceiling: `bare_decode_tok_s` is the rate of the model's own batched decode step alone (B*G
rows, one token each, in a preallocated KV cache, max_new_tokens steps after one prefill; no
sampling, no bookkeeping, no early stops), and `fraction_of_bare_decode` trueloop's rate over it.
A named model (`--model smollm2-135m`, prepared by `trueloop models prepare`) is prompted through
its chat template. `--engine vllm` adds vLLM (`rollout.engine = "vllm"`, the `vllm` extra: run
it from .venv-vllm) on the same prompts and shapes, and `speedup_vs_native` /
`speedup_vs_generate` for it; its engine starts during the warm-up, outside the timing. Prints ONE
JSON line.

    .venv/bin/python benchmarks/rollout.py --size small --prompts 16 --group 8 --max-new-tokens 64
    .venv/bin/python benchmarks/rollout.py --model smollm2-135m --prompts 8 --group 8 --threads 2
    .venv-vllm/bin/python benchmarks/rollout.py --engine vllm --model smollm2-135m --prompts 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import machine
import torch
from machine import commit

from trueloop.config import PolicyConfig, RolloutConfig
from trueloop.policy import Policy, load_policy
from trueloop.rollout import sample
from trueloop.rollout.kvcache import cache_kwarg, preallocated_cache
from trueloop.tasks import make_task


def hardware() -> dict:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {**machine.hardware(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def encode_prompts(policy: Policy, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts -> (B, P) left-padded ids and mask, encoded as `sample` encodes a text prompt."""
    encoded = [policy.tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    width, pad = max(map(len, encoded)), policy.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(x)) + x for x in encoded])
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in encoded])
    return ids.to(policy.device), mask.to(policy.device)


def run_trueloop(policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int) -> int:
    batch = sample(policy, prompts, cfg, generator=torch.Generator(policy.device).manual_seed(seed))
    return int(batch.action_mask.sum())


def run_vllm(policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int) -> int:
    return run_trueloop(policy, prompts, dataclasses.replace(cfg, engine="vllm"), seed)


def run_generate(policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int) -> int:
    ids, mask = encode_prompts(policy, prompts)  # (B, P), the same left padding as trueloop
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = policy.model.generate(
            input_ids=ids, attention_mask=mask, do_sample=True, temperature=cfg.temperature,
            top_p=cfg.top_p, top_k=cfg.top_k, max_new_tokens=cfg.max_new_tokens,
            num_return_sequences=cfg.group_size, pad_token_id=policy.tokenizer.pad_token_id,
            eos_token_id=policy.eos_token_ids())
    new = out[:, ids.shape[1]:]  # (N, T')
    is_eos = torch.isin(new, torch.tensor(policy.eos_token_ids(), device=new.device))
    # tokens up to and including the first EOS; rows without one count all T' tokens
    before_eos = (is_eos.long().cumsum(1) - is_eos.long()) == 0
    return int(before_eos.sum())


def run_bare_decode(policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int) -> int:
    """B*G rows prefilled once, then max_new_tokens bare forward steps of one token per row."""
    ids, mask = encode_prompts(policy, prompts)
    ids, mask = ids.repeat_interleave(cfg.group_size, 0), mask.repeat_interleave(cfg.group_size, 0)
    n, width, steps = ids.shape[0], ids.shape[1], cfg.max_new_tokens
    model = policy.model
    # the sampler's own in-place cache, so the ceiling has no cache-copy cost either
    cache = preallocated_cache(model, width + steps)
    kw = {} if cache is None else {cache_kwarg(model): cache}
    attn = torch.cat([mask, torch.ones(n, steps, dtype=mask.dtype, device=mask.device)], 1)
    pos = mask.sum(1, keepdim=True)  # (N, 1) next position of each row
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1, **kw)
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        token = out.logits[:, -1].argmax(-1, keepdim=True)  # (N, 1)
        sync(policy.device)
        t0 = time.perf_counter()
        for t in range(steps):
            out = model(input_ids=token, attention_mask=attn[:, : width + t + 1],
                        position_ids=pos + t, use_cache=True, **{cache_kwarg(model): cache})
            token = out.logits[:, -1:].argmax(-1)  # (N, 1): no sampling, just a next input
        sync(policy.device)
    return n * steps, time.perf_counter() - t0


def best_rate(fn, policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int) -> dict:
    sync(policy.device)
    t0 = time.perf_counter()
    tokens = fn(policy, prompts, cfg, seed)
    sync(policy.device)
    seconds = time.perf_counter() - t0
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds}


def load(args: argparse.Namespace) -> Policy:
    model = args.model if args.model != "tiny" else f"tiny-{args.size}"
    return load_policy(PolicyConfig(model=model, dtype=args.dtype, device=args.device))


def make_prompts(policy: Policy, n: int) -> list[str]:
    """Arithmetic task prompts; through the chat template when the tokenizer has one."""
    prompts = [p.prompt for p in make_task("arithmetic").problems(n, "train", seed=0)]
    if not getattr(policy.tokenizer, "chat_template", None):
        return prompts
    return [policy.tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                 add_generation_prompt=True) for p in prompts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", help="tiny, or a named model (smollm2-135m)")
    ap.add_argument("--size", default="small", help="tiny model size")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--draw", default="race", choices=["race", "cdf"],
                    help="trueloop's token draw (rollout.draw); cdf suits a real vocabulary")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch default")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--engine", default="native", choices=["native", "vllm"],
                    help="vllm: time vLLM too, beside the native engine and generate")
    ap.add_argument("--vllm-dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                    help="rollout.engine_dtype for vLLM")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    policy = load(args)
    prompts = make_prompts(policy, args.prompts)
    cfg = RolloutConfig(prompts_per_step=args.prompts, group_size=args.group,
                        max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                        top_p=args.top_p, top_k=args.top_k, draw=args.draw,
                        engine_dtype=args.vllm_dtype)
    engines = {"trueloop": run_trueloop, "hf_generate": run_generate}
    if args.engine == "vllm":
        engines["vllm"] = run_vllm
    for fn in engines.values():  # warm-up (allocator, kernels, lazy imports, vLLM's start)
        fn(policy, prompts[:2], cfg, 0)
    run_bare_decode(policy, prompts[:2], dataclasses.replace(cfg, max_new_tokens=2), 0)
    runs: dict[str, list[dict]] = {**{k: [] for k in engines}, "bare_decode": []}
    for r in range(args.repeats):
        for name, fn in engines.items():
            runs[name].append(best_rate(fn, policy, prompts, cfg, r))
        tokens, seconds = run_bare_decode(policy, prompts, cfg, r)
        runs["bare_decode"].append({"tokens": tokens, "seconds": seconds,
                                    "tok_s": tokens / seconds})
    best = {k: max(v, key=lambda x: x["tok_s"]) for k, v in runs.items()}
    print(json.dumps({
        "benchmark": "rollout",
        "hardware": hardware(),
        "commit": commit(),
        "config": {**vars(args), "params": policy.num_parameters(),
                   "prompt_tokens_mean": sum(len(policy.tokenizer(p)["input_ids"])
                                             for p in prompts) / len(prompts)},
        "trueloop_tok_s": round(best["trueloop"]["tok_s"], 1),
        "hf_generate_tok_s": round(best["hf_generate"]["tok_s"], 1),
        "bare_decode_tok_s": round(best["bare_decode"]["tok_s"], 1),
        "speedup": round(best["trueloop"]["tok_s"] / best["hf_generate"]["tok_s"], 2),
        "fraction_of_bare_decode": round(best["trueloop"]["tok_s"] / best["bare_decode"]["tok_s"],
                                         3),
        **({"vllm_tok_s": round(best["vllm"]["tok_s"], 1),
            "speedup_vs_native": round(best["vllm"]["tok_s"] / best["trueloop"]["tok_s"], 2),
            "speedup_vs_generate": round(best["vllm"]["tok_s"] / best["hf_generate"]["tok_s"], 2)}
           if "vllm" in best else {}),
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "runs": {k: [{kk: round(vv, 4) for kk, vv in x.items()} for x in v]
                 for k, v in runs.items()},
    }))


if __name__ == "__main__":
    main()
