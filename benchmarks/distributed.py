"""Ray backend costs and throughput at one node, and a paper projection to N nodes.

Work, all on this machine in one process run:
- verification: N code submissions (half the reference solutions, half wrong stubs, from the
  built-in bank) as finished single-turn episodes, verified (a) here, on the driver's sandbox
  pool, and (b) sharded over 1, 2 and 4 Ray verification actors, each with its own sandbox pool
  of `--actor-workers` workers. Each side is warmed once (pools started), then timed best of
  `--repeats`. On a machine with C cores the ceiling is C sandbox processes at a time, however
  many actors there are: more actors than cores only add processes and transfers.
- per-step overhead: one tiny-model training batch (sample + verify, `--prompts` x `--group`,
  `--tokens` new tokens) in group units, here vs on one Ray rollout actor (weights sent, groups
  shipped, results back), median of `--steps`; the overhead is the difference.
- projection: verifications/s and rollout tokens/s at N nodes of C cores from the measured
  per-core rates, assuming linear scaling over actors and the measured per-step overhead; the
  update stays on the driver, so its time does not shrink with N (see docs/distributed.md).

Prints one JSON line. Usage:
  python benchmarks/distributed.py [--n 120] [--repeats 2] [--steps 3] [--actors 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import ray
import torch
from machine import commit, hardware

from trueloop.config import load_config
from trueloop.distributed import make_backend
from trueloop.policy import build_tiny
from trueloop.tasks import task_from_config
from trueloop.update.collect import collect


def submissions(task, n: int):
    """n finished single-turn envs of the code task (even: the reference; odd: a wrong stub)."""
    problems = task.problems(n, "train", 0, start=0)
    envs = []
    for i, p in enumerate(problems):
        env = task.make_env(p)
        env.reset(p, seed=0)
        env.step(task.oracle(p) if i % 2 == 0 else "def f(*args):\n    return None\n")
        envs.append(env)
    return envs


def best_rate(fn, n: int, repeats: int) -> float:
    fn()  # warm: sandbox pools started, actors up
    best = min(timed(fn) for _ in range(repeats))
    return n / best


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def verification(args) -> dict:
    base = ["--task.name", "code", "--verify.workers", str(args.actor_workers)]
    cfg = load_config(overrides=base)
    task = task_from_config(cfg.task)
    envs = submissions(task, args.n)
    here_cfg = load_config(overrides=["--task.name", "code"])  # the driver's pool: one per core
    from trueloop.envs.base import verify_episodes

    for env in envs:
        env.cfg = here_cfg.verify
    out = {"here_per_s": best_rate(lambda: verify_episodes(envs), args.n, args.repeats)}
    policy = build_tiny("0.5m")
    for k in args.actors:
        rc = load_config(overrides=base + ["--distributed.backend", "ray",
                                           "--distributed.verify_workers", str(k),
                                           "--distributed.worker_cpus", "0"])
        with make_backend(rc, task, policy) as backend:
            out[f"actors_{k}_per_s"] = best_rate(lambda b=backend: b._verify(envs), args.n,
                                                 args.repeats)
    return out


def step_overhead(args) -> dict:
    small = ["--task.name", "arithmetic", "--rollout.prompts_per_step", str(args.prompts),
             "--rollout.group_size", str(args.group), "--rollout.max_new_tokens",
             str(args.tokens), "--distributed.unit", "group"]
    policy = build_tiny("0.5m", seed=0)
    out = {}
    for name, extra in (("local", []), ("ray_1_actor", ["--distributed.backend", "ray",
                                                        "--distributed.rollout_workers", "1",
                                                        "--distributed.worker_cpus", "0"])):
        cfg = load_config(overrides=small + extra)
        task = task_from_config(cfg.task)
        times, tokens = [], 0
        with make_backend(cfg, task, policy) as backend:
            for step in range(args.steps + 1):  # the first is warm-up
                t0 = time.perf_counter()
                backend.sync(policy, step)
                c = collect(task, policy, cfg, step * args.prompts, torch.Generator(), backend)
                times.append(time.perf_counter() - t0)
                tokens = int(c.batch.action_counts().sum())
        out[f"{name}_s_per_batch"] = statistics.median(times[1:])
        out[f"{name}_tokens_per_batch"] = tokens
    out["ray_overhead_s"] = out["ray_1_actor_s_per_batch"] - out["local_s_per_batch"]
    return out


def projection(ver: dict, step: dict, cores: int) -> dict:
    """Paper figures: per-core rates times N nodes x `cores` cores, linear (an upper bound)."""
    verify_per_core = ver["here_per_s"] / cores
    tokens_per_core = step["local_tokens_per_batch"] / step["local_s_per_batch"]  # 1 thread
    return {f"{n}_nodes": {"verifications_per_s": round(verify_per_core * cores * n, 1),
                           "rollout_tokens_per_s": round(tokens_per_core * cores * n, 1)}
            for n in (1, 4, 16, 64)} | {"verify_per_core_per_s": round(verify_per_core, 2),
                                        "rollout_tokens_per_core_per_s": round(tokens_per_core, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--actors", default="1,2,4")
    ap.add_argument("--actor-workers", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=16)
    args = ap.parse_args()
    args.actors = [int(k) for k in args.actors.split(",")]
    torch.set_num_threads(1)
    cores = os.cpu_count() or 1
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    try:
        print("verification ...", file=sys.stderr)
        ver = verification(args)
        print("per-step overhead ...", file=sys.stderr)
        step = step_overhead(args)
    finally:
        ray.shutdown()
    print(json.dumps({"benchmark": "distributed", "commit": commit(), "ray": ray.__version__,
                      "config": vars(args), "verification": ver, "step": step,
                      "projection": projection(ver, step, cores), "hardware": hardware()}))


if __name__ == "__main__":
    main()
