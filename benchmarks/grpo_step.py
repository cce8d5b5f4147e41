"""GRPO optimizer-step time: trueloop's trainer vs TRL's `GRPOTrainer`, same work, one run.

Both sides start from the same weights (`build_tiny(size, seed)`, optionally given a short
supervised prior, saved to a temp folder and loaded by path on both sides: TRL rebuilds its
reference model from the path), see the same prompts in the same order (task train split,
problems 0, 1, 2, ...), score with the same verifier (trueloop's task; on the TRL side through
`trueloop.integrations.trl.reward_function` in the caller's thread), and use the same settings:
B prompts x G completions per step, `max_new_tokens`, temperature 1.0, top-p 1 / top-k 0, AdamW
(betas 0.9/0.99, no weight decay) at a constant lr, grad-norm clip 1.0, clip-higher eps
0.2/0.28, token-level (DAPO) loss normalisation, group-std advantages, no KL (beta = 0, so neither
side builds a reference model), fp32, one optimizer step per generation batch (TRL:
`per_device_train_batch_size` = B*G completions, `gradient_accumulation_steps=1` so
`steps_per_generation=1`, `num_iterations=1`), TRL gradient checkpointing off, no logging, saving,
vLLM or dataset shuffling.

Timing: trueloop's `time/step` rows of metrics.jsonl (sample + verify + reward + advantages +
update); TRL's `on_step_begin` -> `on_step_end` (generation + reward + loss + optimizer step).
Median over steps after `--warmup` steps; with `--repeats R` each side runs R times (alternating
which side goes first, against load drift) and its fastest run is reported. Generation time:
trueloop's `time/sample`; TRL's `_generate_single_turn` wrapped with a timer. Completion tokens
count generated tokens up to and including EOS (both sides' masks). Each (side, size) runs in its
own spawned process with the same torch thread count; its peak RSS is that process's own
`ru_maxrss` (imports included: TRL's side imports trl/accelerate/datasets, part of its footprint).
`median_cpu_s_per_step` (process CPU seconds over the same span, all threads) and `cpu_speedup`
are for shared machines: CPU time counts work done, not time spent waiting for a core, so it
drifts far less with other load than wall time does (spin-waiting torch threads still count).

Not measured: reward is sampled with different RNG streams on the two sides, so `reward_last`
agrees only statistically; with `--prior-steps 0` (random weights) both rewards are ~0.

    .venv/bin/python benchmarks/grpo_step.py --steps 12 --sizes 1m,10m
    .venv/bin/python benchmarks/grpo_step.py --quick            # 4 steps, 1m only
    .venv/bin/python benchmarks/grpo_step.py --model smollm2-135m --threads 1 --steps 5 --warmup 1

`--model NAME` (a registered model, prepared first: `make model`) runs both sides on that real
model, loaded by both from its prepared folder, with the issue's settings instead of the tiny
ones: 4 prompts x 4 completions x 64 new tokens, LoRA rank 16 on both sides (trueloop's
`policy.lora_rank`; TRL's `peft_config` with the same peft `LoraConfig`: all linear layers,
alpha 32, no dropout), fp32, no KL. Prompts are the task's chat messages on both sides (trueloop's
env renders them with the chat template; TRL gets a conversational dataset and renders them
itself). trueloop runs with `rollout.draw = "cdf"` (inverse-CDF sampling: the same distribution
as the default exponential race, fewer random numbers per token with a 49k vocabulary) and
`update.micro_batch_size = G` (one group's logits at a time, for memory); TRL with its defaults
for everything not listed above.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import torch
from machine import commit, hardware

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    size: str
    # built-in tiny model size (trueloop.policy.SIZES)
    steps: int
    warmup: int
    # steps excluded from the median (allocator, lazy imports, first-call overheads)
    task: str = "arithmetic"
    difficulty: int = 1
    prompts: int = 8
    # B prompts per optimizer step
    group: int = 8
    # G completions per prompt
    max_new_tokens: int = 16
    lr: float = 1e-4
    seed: int = 0
    threads: int = 2
    prior_steps: int = 0
    # supervised prior steps on the task's oracle answers before saving the start weights
    lora_rank: int = 0
    # > 0: LoRA adapters of this rank on both sides (peft), base weights frozen
    draw: str = "race"
    # trueloop's rollout.draw
    micro_batch_size: int = 0
    # trueloop's update.micro_batch_size


REAL = {"prompts": 4, "group": 4, "max_new_tokens": 64, "lora_rank": 16, "draw": "cdf",
        "micro_batch_size": 4}
# --model: the settings on a real model (a real vocabulary: the cdf draw, micro-batches)


def lora_config(rank: int):
    """The peft config trueloop's `apply_lora` builds, for TRL's `peft_config`."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")


def start_weights(b: Bench, folder: Path) -> int:
    """Save the common start policy to `folder`; returns its parameter count."""
    from trueloop.config import PriorConfig
    from trueloop.pipelines.prior import pretrain
    from trueloop.policy import build_tiny

    torch.set_num_threads(b.threads)
    policy = build_tiny(b.size, seed=b.seed)
    if b.prior_steps:
        prior = PriorConfig(mixture=(f"{b.task}:{b.difficulty}:-",), steps=b.prior_steps,
                            batch_size=64, warmup_steps=min(50, b.prior_steps), seed=b.seed)
        pretrain(policy, prior, progress=False)
    policy.save(folder)
    return policy.num_parameters()


def run_trueloop(b: Bench, folder: Path, out: Path) -> dict[str, list[float]]:
    from trueloop.config import (
        LogConfig,
        PolicyConfig,
        RolloutConfig,
        RunConfig,
        TaskConfig,
        UpdateConfig,
        validate,
    )
    from trueloop.tracking import read_metrics
    from trueloop.update import trainer

    cfg = RunConfig(
        task=TaskConfig(name=b.task, difficulty=b.difficulty, seed=b.seed),
        policy=PolicyConfig(model=str(folder), lora_rank=b.lora_rank),
        rollout=RolloutConfig(prompts_per_step=b.prompts, group_size=b.group,
                              max_new_tokens=b.max_new_tokens, temperature=1.0, draw=b.draw),
        update=UpdateConfig(advantage="grpo", loss_agg="token", lr=b.lr, betas=(0.9, 0.99),
                            weight_decay=0.0, max_grad_norm=1.0, eps_low=0.2, eps_high=0.28,
                            kl_coef=0.0, micro_batch_size=b.micro_batch_size),
        log=LogConfig(progress=False, save_episodes=False), steps=b.steps, seed=b.seed)
    validate(cfg)
    cpu_s = cpu_clock(trainer)
    trainer.train(cfg, out)
    rows = read_metrics(out / "metrics.jsonl")
    return {"step_s": [r["time/step"] for r in rows], "cpu_s": cpu_s,
            "gen_s": [r["time/sample"] for r in rows],
            "tokens": [r["perf/tokens_per_s"] * r["time/step"] for r in rows],
            "reward": [r["reward/mean"] for r in rows]}


def cpu_clock(trainer) -> list[float]:
    """Process CPU seconds per trueloop step (collect start -> metrics logged), recorded by
    wrapping the trainer module's `collect` and `MetricsLog` (in this child process only)."""
    cpu_s: list[float] = []
    begin = [0.0]
    collect = trainer.collect

    def timed_collect(*args, **kwargs):
        begin[0] = time.process_time()
        return collect(*args, **kwargs)

    class CpuLog(trainer.MetricsLog):
        def log(self, step, metrics) -> None:
            cpu_s.append(time.process_time() - begin[0])
            super().log(step, metrics)

    trainer.collect, trainer.MetricsLog = timed_collect, CpuLog
    return cpu_s


class RecordingReward:
    """A TRL reward function that records each call's mean reward and completion token count."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.__name__ = inner.__name__
        self.reward: list[float] = []
        self.tokens: list[int] = []

    def __call__(self, prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        rewards = self.inner(prompts, completions, completion_ids, **kwargs)
        self.reward.append(sum(rewards) / len(rewards))
        self.tokens.append(sum(len(ids) for ids in completion_ids or []))
        return rewards


def trl_config(b: Bench, out: Path):
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(out), max_steps=b.steps, seed=b.seed, use_cpu=True,
        per_device_train_batch_size=b.prompts * b.group,  # counts completions, not prompts
        gradient_accumulation_steps=1, num_generations=b.group, num_iterations=1,
        max_completion_length=b.max_new_tokens, temperature=1.0, top_p=1.0, top_k=0,
        learning_rate=b.lr, lr_scheduler_type="constant", warmup_steps=0,
        adam_beta1=0.9, adam_beta2=0.99, weight_decay=0.0, max_grad_norm=1.0,
        beta=0.0, epsilon=0.2, epsilon_high=0.28, loss_type="dapo", scale_rewards="group",
        gradient_checkpointing=False, bf16=False, fp16=False, use_vllm=False,
        model_init_kwargs={"dtype": torch.float32}, shuffle_dataset=False,
        report_to=[], save_strategy="no", logging_steps=10**6, disable_tqdm=True,
        log_completions=False, dataloader_num_workers=0)


def run_trl(b: Bench, folder: Path, out: Path) -> dict[str, list[float]]:
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from trueloop.integrations.trl import dataset, reward_function

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.t0, self.c0, self.step_s, self.cpu_s = 0.0, 0.0, [], []

        def on_step_begin(self, args, state, control, **kwargs):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            self.step_s.append(time.perf_counter() - self.t0)
            self.cpu_s.append(time.process_time() - self.c0)

    reward = RecordingReward(reward_function(b.task, difficulty=b.difficulty, workers=1))
    train = dataset(b.task, n=b.steps * b.prompts, split="train", seed=b.seed,
                    difficulty=b.difficulty, conversational=b.lora_rank > 0)
    timer = StepTimer()
    peft = {"peft_config": lora_config(b.lora_rank)} if b.lora_rank else {}
    trainer = GRPOTrainer(model=str(folder), reward_funcs=reward, train_dataset=train,
                          args=trl_config(b, out), callbacks=[timer], **peft)
    gen_s: list[float] = []
    generate = trainer._generate_single_turn

    def timed_generate(*args, **kwargs):
        t0 = time.perf_counter()
        result = generate(*args, **kwargs)
        gen_s.append(time.perf_counter() - t0)
        return result

    trainer._generate_single_turn = timed_generate
    trainer.train()
    return {"step_s": timer.step_s, "cpu_s": timer.cpu_s, "gen_s": gen_s, "tokens": reward.tokens,
            "reward": reward.reward}


RUNNERS = {"trueloop": run_trueloop, "trl": run_trl}


def child(side: str, b: Bench, folder: str) -> dict:
    """Body of one spawned process: run one side, add this process's peak RSS."""
    torch.set_num_threads(b.threads)
    # stdout carries only the final JSON line: TRL prints its train summary, send it to stderr
    with tempfile.TemporaryDirectory(prefix=f"grpo_{side}_") as out, redirect_stdout(sys.stderr):
        raw = RUNNERS[side](b, Path(folder), Path(out))
    raw["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    raw["torch_threads"] = torch.get_num_threads()
    return raw


def isolated(fn, *args):
    """`fn(*args)` in a fresh spawned process (its own peak RSS, no state shared with others)."""
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        return pool.apply(fn, args)
    finally:
        pool.close()  # let the worker exit on its own (terminate() leaks its semaphores)
        pool.join()


def summarize(raw: dict, warmup: int) -> dict:
    """Per-side figures; step-level lists after warm-up feed the medians and rates."""
    n = len(raw["step_s"])
    if n != len(raw["tokens"]) or n <= warmup:
        raise RuntimeError(f"expected more than {warmup} timed steps with token counts; got "
                           f"{n} step times and {len(raw['tokens'])} token counts.")
    steps, tokens, gen = (raw[k][warmup:] for k in ("step_s", "tokens", "gen_s"))
    median = statistics.median(steps)
    return {
        "median_s_per_step": round(median, 4),
        "median_cpu_s_per_step": round(statistics.median(raw["cpu_s"][warmup:]), 4),
        # per median step, like the speedup: one slow step on a busy machine must not dominate
        "completion_tokens_per_s": round(statistics.fmean(tokens) / median, 1),
        "completion_tokens_per_step": round(sum(tokens) / len(tokens), 1),
        "generation_frac": round(sum(gen) / sum(steps), 3),
        "peak_rss_mb": round(raw["peak_rss_mb"], 1),
        "reward_first": round(statistics.fmean(raw["reward"][:3]), 4),
        "reward_last": round(statistics.fmean(raw["reward"][-3:]), 4),
        "timed_steps": len(steps),
        "torch_threads": raw["torch_threads"],
    }


def bench_size(b: Bench, repeats: int) -> dict:
    """Both sides `repeats` times, alternating which goes first; each side's fastest run."""
    runs: dict[str, list[dict]] = {side: [] for side in RUNNERS}
    from trueloop.policy.models import MODELS, resolve

    with tempfile.TemporaryDirectory(prefix=f"grpo_start_{b.size}_") as folder:
        if b.size in MODELS:  # a real model: both sides load its prepared folder
            folder, params = str(resolve(b.size)), MODELS[b.size].parameters
        else:
            params = isolated(start_weights, b, folder)
        for r in range(repeats):
            for side in list(RUNNERS)[::1 if r % 2 == 0 else -1]:
                runs[side].append(summarize(isolated(child, side, b, folder), b.warmup))
    sides = {side: min(rs, key=lambda x: x["median_s_per_step"]) for side, rs in runs.items()}
    if repeats > 1:
        for side, rs in runs.items():
            sides[side]["medians_all_repeats"] = [x["median_s_per_step"] for x in rs]
    ratio = sides["trl"]["median_s_per_step"] / sides["trueloop"]["median_s_per_step"]
    cpu = sides["trl"]["median_cpu_s_per_step"] / sides["trueloop"]["median_cpu_s_per_step"]
    return {"params": params, **sides, "speedup": round(ratio, 3), "cpu_speedup": round(cpu, 3)}


def versions() -> dict:
    import importlib.metadata as md

    return {p: md.version(p) for p in ("torch", "transformers", "trl", "accelerate")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--sizes", default="1m,10m", help="comma-separated tiny sizes")
    ap.add_argument("--quick", action="store_true", help="4 steps at 1m only (a smoke run)")
    ap.add_argument("--task", default="arithmetic")
    ap.add_argument("--difficulty", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    ap.add_argument("--prior-steps", type=int, default=0,
                    help="supervised prior steps before RL, so reward is not ~0 (0 = random)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", help="a registered real model instead of tiny sizes "
                    "(smollm2-135m): 4x4x64, LoRA 16 on both sides")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per side, alternating order; the fastest is reported")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.sizes = 4, "1m"
    if args.steps <= args.warmup:
        ap.error(f"--steps must exceed --warmup ({args.warmup}); got {args.steps}.")
    base = Bench(size="", steps=args.steps, warmup=args.warmup, task=args.task,
                 difficulty=args.difficulty, lr=args.lr, seed=args.seed, threads=args.threads,
                 prior_steps=args.prior_steps, **(REAL if args.model else {}))
    if args.model:
        args.sizes = args.model
    t0 = time.perf_counter()
    results = {s: bench_size(dataclasses.replace(base, size=s), args.repeats)
               for s in args.sizes.split(",")}
    config = {k: v for k, v in dataclasses.asdict(base).items() if k != "size"}
    config["repeats"] = args.repeats
    print(json.dumps({
        "benchmark": "grpo_step", "hardware": hardware(), "commit": commit(),
        "versions": versions(), "config": config, "results": results,
        **{f"speedup_{s}": r["speedup"] for s, r in results.items()},
        "wall_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
