"""Rollout throughput: trueloop's KV-cached sampler vs `transformers` `model.generate`.

Same model, same prompts (task prompts, left-padded identically), same G, max_new_tokens and
sampling settings, in one process, alternating runs; best of `--repeats` for each. Reports
completion tokens/s (generated tokens up to and including EOS, summed over rows) and the ratio.
trueloop also records per-token log-probs and finish reasons, which generate does not.
Prints ONE JSON line.

    .venv/bin/python benchmarks/rollout.py --size small --prompts 16 --group 8 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import json
import time

import machine
import torch
from machine import commit

from trueloop.config import RolloutConfig
from trueloop.policy import Policy, build_tiny
from trueloop.rollout import sample
from trueloop.rollout.sampler import encode_prompts
from trueloop.tasks import make_task


def hardware() -> dict:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {**machine.hardware(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_trueloop(policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int) -> int:
    batch = sample(policy, prompts, cfg, generator=torch.Generator(policy.device).manual_seed(seed))
    return int(batch.completion_mask.sum())


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


def best_rate(fn, policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int) -> dict:
    sync(policy.device)
    t0 = time.perf_counter()
    tokens = fn(policy, prompts, cfg, seed)
    sync(policy.device)
    seconds = time.perf_counter() - t0
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch default")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    policy = build_tiny(args.size, seed=0)
    policy.model.to(device=args.device, dtype=getattr(torch, args.dtype))
    task = make_task("arithmetic")
    prompts = [p.prompt for p in task.problems(args.prompts, "train", seed=0)]
    cfg = RolloutConfig(prompts_per_step=args.prompts, group_size=args.group,
                        max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                        top_p=args.top_p, top_k=args.top_k)
    for fn in (run_trueloop, run_generate):  # warm-up (allocator, kernels, lazy imports)
        fn(policy, prompts[:2], cfg, 0)
    runs: dict[str, list[dict]] = {"trueloop": [], "hf_generate": []}
    for r in range(args.repeats):
        runs["trueloop"].append(best_rate(run_trueloop, policy, prompts, cfg, r))
        runs["hf_generate"].append(best_rate(run_generate, policy, prompts, cfg, r))
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
        "speedup": round(best["trueloop"]["tok_s"] / best["hf_generate"]["tok_s"], 2),
        "runs": {k: [{kk: round(vv, 4) for kk, vv in x.items()} for x in v]
                 for k, v in runs.items()},
    }))


if __name__ == "__main__":
    main()
