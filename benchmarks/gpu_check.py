"""GPU smoke check: bf16 sampling and a few GRPO updates of SmolLM2-135M and the tiny model on one
CUDA device, in well under 5 minutes. Prints ONE JSON line; exits 0 with `"skipped"` when there is
no CUDA device, 1 when a check fails.

Per model: sampling tokens/s (B x G rows, chat-template prompts where the tokenizer has one),
the sampler's recorded log-probs against the training forward (`token_logprobs`) in bf16 and in
fp32 (max and mean |difference| on sampled tokens, each within a stated tolerance), update seconds
per optimizer step, and peak GPU memory (sampling and update). Only public trueloop APIs:
`load_policy`, `rollout.sample`, `rollout.token_logprobs`, `update.step.optimize`.

    .venv/bin/python benchmarks/gpu_check.py                 # both models
    .venv/bin/python benchmarks/gpu_check.py --models tiny-10m
    .venv/bin/python benchmarks/gpu_check.py --device cpu --models tiny-0.5m   # the code path only
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import machine
import torch
from machine import commit

from trueloop.config import PolicyConfig, RolloutConfig, UpdateConfig
from trueloop.policy import Policy, load_policy
from trueloop.rollout import RolloutBatch, sample, token_logprobs
from trueloop.tasks import make_task
from trueloop.update.advantages import compute_advantages
from trueloop.update.step import optimize

TOLERANCE = {"bfloat16": {"max": 1.0, "mean": 0.08}, "float32": {"max": 2e-3, "mean": 2e-4}}
# |sampled logp - training logp| on sampled tokens. bf16: the cached decode and the full forward
# round differently (8 mantissa bits), so only the mean is tight (SmolLM2 in bf16 on a CPU: mean
# 0.029, max 0.13); fp32 must agree to rounding (2e-5 on a CPU). A real bug (a shifted position,
# a wrong mask) shows as a mean error of 0.5 and more.


def prompts_for(policy: Policy, n: int) -> list[str]:
    prompts = [p.prompt for p in make_task("arithmetic").problems(n, "train", seed=0)]
    if not getattr(policy.tokenizer, "chat_template", None):
        return prompts
    return [policy.tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                 add_generation_prompt=True) for p in prompts]


def logprob_match(policy: Policy, batch: RolloutBatch, temperature: float) -> dict:
    with torch.no_grad():
        logp, _ = token_logprobs(policy.model, batch, temperature=temperature)  # (N, T)
    p = batch.prompt_width
    keep = batch.action_mask[:, p:].bool()  # (N, T) sampled tokens
    diff = (logp[keep] - batch.logprobs[:, p:][keep].to(logp)).abs()
    return {"max_abs": round(float(diff.max()), 5), "mean_abs": round(float(diff.mean()), 6)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def timed_sample(policy: Policy, prompts: list[str], cfg: RolloutConfig, seed: int):
    sync(policy.device)
    t0 = time.perf_counter()
    batch = sample(policy, prompts, cfg, generator=torch.Generator(policy.device).manual_seed(seed))
    sync(policy.device)
    return batch, time.perf_counter() - t0


def check_model(name: str, args: argparse.Namespace) -> dict:
    cfg = RolloutConfig(group_size=args.group, max_new_tokens=args.max_new_tokens)
    out: dict = {"model": name}
    for dtype in ("float32", "bfloat16"):  # bf16 last: its policy is the one that trains below
        policy = load_policy(PolicyConfig(model=name, dtype=dtype, device=args.device))
        prompts = prompts_for(policy, args.prompts)
        timed_sample(policy, prompts[:2], cfg, 0)  # warm-up: kernels, allocator
        reset_peak(policy.device)
        batch, seconds = timed_sample(policy, prompts, cfg, 1)
        tokens = int(batch.action_mask.sum())
        out[dtype] = {"sample_tok_s": round(tokens / seconds, 1), "tokens": tokens,
                      "sample_peak_mib": peak_mib(policy.device),
                      "logprob_match": logprob_match(policy, batch, cfg.temperature)}
    out["params"] = policy.num_parameters()
    out["update"] = few_updates(policy, batch, cfg, args.updates)
    return out


def few_updates(policy: Policy, batch: RolloutBatch, cfg: RolloutConfig, steps: int) -> dict:
    """`steps` optimizer steps on the bf16 batch with arbitrary but fixed group advantages."""
    ucfg = UpdateConfig(lr=1e-5)
    optimizer = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad],
                                  lr=ucfg.lr)
    rewards = (torch.arange(len(batch.texts), device=policy.device) % 3 == 0).float()  # (N,)
    adv = compute_advantages(ucfg.advantage, rewards.view(-1, cfg.group_size)).view(-1)
    reset_peak(policy.device)
    seconds, losses = [], []
    for _ in range(steps):
        sync(policy.device)
        t0 = time.perf_counter()
        metrics = optimize(policy, optimizer, batch, adv, ucfg, temperature=cfg.temperature,
                           max_new_tokens=cfg.max_new_tokens)
        sync(policy.device)
        seconds.append(time.perf_counter() - t0)
        losses.append(metrics["update/loss"])
    return {"steps": steps, "seconds_per_step": round(min(seconds), 4),
            "loss": [round(x, 5) for x in losses],
            "finite": all(torch.isfinite(torch.tensor(losses)).tolist()),
            "peak_mib": peak_mib(policy.device)}


def failures(result: dict) -> list[str]:
    bad = []
    for dtype, tol in TOLERANCE.items():
        match = result[dtype]["logprob_match"]
        if match["max_abs"] > tol["max"] or match["mean_abs"] > tol["mean"]:
            bad.append(f"{result['model']} {dtype} logprob mismatch {match} > {tol}")
    if not result["update"]["finite"]:
        bad.append(f"{result['model']} update loss not finite: {result['update']['loss']}")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "tiny-10m"])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--updates", type=int, default=3)
    ap.add_argument("--device", default="cuda", help="cpu: the same code path, no memory figures")
    args = ap.parse_args()
    line = {"benchmark": "gpu_check", "hardware": machine.hardware(), "commit": commit(),
            "config": vars(args), "torch": torch.__version__}
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({**line, "skipped": "no CUDA device; run this on a machine with one"}))
        return 0
    if args.device.startswith("cuda"):
        line["hardware"]["gpu"] = torch.cuda.get_device_name(args.device)
    t0 = time.perf_counter()
    results = [check_model(name, args) for name in args.models]
    bad = [msg for r in results for msg in failures(r)]
    print(json.dumps({**line, "results": results, "tolerance": TOLERANCE, "ok": not bad,
                      "failures": bad, "seconds": round(time.perf_counter() - t0, 1)}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
