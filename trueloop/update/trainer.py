"""The training loop: sample -> verify -> reward -> advantages -> update -> audit -> log.

`train()` below is the whole algorithm on one screen, one line per stage; everything it calls is
a noun elsewhere: `collect` (sample, verify and score G episodes per problem, resampling
uninformative groups under dynamic sampling), `compute_advantages`, `update` (the optimizer
step), the curriculum (`observe` may move the level), the run monitor (canaries in the train
stream, their advantages zeroed when untrained, the shadow verifier and its alarm) and the
compute meter. The policy comes in ready: the prior, when a run starts from one, is trained by
`trueloop.pipelines.train` before RL, never here.

A run killed at any point and restarted with `resume=True` logs exactly the metrics (timings aside)
of an uninterrupted run: the checkpoint holds model, optimizer, scheduler, every RNG, the data
position (per level under a `[curriculum]`, with its state) and the compute totals, and
`metrics.jsonl` is cut back to the checkpoint's step.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from trueloop.audit import audit_step
from trueloop.audit.monitors import RunMonitor
from trueloop.config import RunConfig, to_dict
from trueloop.distributed import make_backend
from trueloop.eval.evaluate import evaluate_run
from trueloop.policy import Policy, load_policy
from trueloop.progress import progress_bar
from trueloop.rollout.metrics import episode_metrics
from trueloop.rollout.record import episode_json, save_episodes
from trueloop.tasks import task_from_config
from trueloop.tasks.base import Task
from trueloop.tracking import MetricsLog, read_metrics
from trueloop.types import verdict_metrics
from trueloop.update.advantages import compute_advantages
from trueloop.update.checkpoint import (
    latest_checkpoint,
    latest_step,
    load_trainer_state,
    restore_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from trueloop.update.collect import Collected, collect
from trueloop.update.compute import ComputeMeter
from trueloop.update.curriculum import Curriculum
from trueloop.update.schedule import make_scheduler
from trueloop.update.step import enable_gradient_checkpointing, optimize

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    policy: Policy
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    generator: torch.Generator
    ref_model: torch.nn.Module | None
    curriculum: Curriculum  # the level trained now and every level's data position
    compute: ComputeMeter  # tokens and FLOPs, with running totals
    step: int = 0


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False,
          policy: Policy | None = None) -> Policy:
    out = Path(out)
    task = task_from_config(cfg.task)  # an unknown task name fails before anything is written
    s = setup(cfg, out, task, resume=resume, policy=policy)
    log = MetricsLog(out, resume_step=s.step, tensorboard=cfg.log.tensorboard)
    monitor = RunMonitor(cfg, task, history=read_metrics(log.path))     # shadow, alarm, canaries
    with (progress_bar(cfg.steps, s.step, enabled=cfg.log.progress) as bar,
          make_backend(cfg, task, s.policy) as backend):                    # here, or Ray actors
        for step in range(s.step, cfg.steps):
            t0 = time.perf_counter()
            level, start = s.curriculum.draw()                                  # the task level
            backend.sync(s.policy, step)                                        # weights out
            level = monitor.canaries(level)                                     # tripwires in
            c = collect(level, s.policy, cfg, start, s.generator, backend)      # sample, verify,
            adv = compute_advantages(cfg.update.advantage, c.rewards)           # score; (B, G)
            adv = monitor.untrained(c.problems, adv)                            # canaries: watch
            t1 = time.perf_counter()
            upd = update(s, c, adv, cfg)                                        # optimizer step
            level.end_step()                                                    # run-level state
            t2 = time.perf_counter()
            seconds = {**c.seconds, "time/update": t2 - t1, "time/step": t2 - t0}
            moved = s.curriculum.observe(c)                                     # may move level
            watched = monitor.step(step, level, c)                              # shadow + alarm
            spent = s.compute.step(c.batch, cfg, seconds)                       # tokens, FLOPs
            metrics = {**step_metrics(c, adv, seconds), **upd, **backend.metrics(), **spent,
                       "update/lr": s.scheduler.get_last_lr()[0], **moved, **watched}
            if cfg.log.eval_every and (step + 1) % cfg.log.eval_every == 0:
                metrics.update(heldout_metrics(s.policy, task, cfg))
            s.step = step + 1
            if cfg.log.save_episodes:
                keep_episodes(out, step, c)
            log.log(step, metrics)
            bar.update(metrics)
            if cfg.log.checkpoint_every and s.step % cfg.log.checkpoint_every == 0:
                checkpoint(out, s, task)
            if cfg.audit.stop_on_alarm and monitor.alarm_step == step:
                break                                                           # checkpointed below
    if latest_step(out) < s.step or s.policy.is_lora:  # the last one is exported merged
        checkpoint(out, s, task, export=True)
    log.close()
    return s.policy


def update(s: TrainState, c: Collected, adv: torch.Tensor, cfg: RunConfig) -> dict[str, float]:
    """One optimizer step (minibatches over the batch), then the LR schedule; `update/*`."""
    s.policy.model.train()
    upd = optimize(s.policy, s.optimizer, c.batch, adv.flatten(), cfg.update,
                   temperature=cfg.rollout.temperature, top_k=cfg.rollout.top_k,
                   top_p=cfg.rollout.top_p, max_new_tokens=cfg.rollout.max_new_tokens,
                   ref_model=s.ref_model)
    s.scheduler.step()
    s.policy.version += 1
    s.policy.model.eval()
    return upd


def heldout_metrics(policy: Policy, task, cfg: RunConfig) -> dict[str, float]:
    """Quick held-out pass@1 during training (a quarter of the eval problems, same seeds each
    time, so the curve is a paired comparison across steps)."""
    r = evaluate_run(policy, task, cfg, n_problems=max(1, cfg.eval.n_problems // 4))
    return {"eval/pass@1": r.pass1, "eval/pass@1_low": r.pass1_ci[0],
            "eval/pass@1_high": r.pass1_ci[1]}


def keep_episodes(out: Path, step: int, c: Collected) -> None:
    g = len(c.batch) // len(c.problems)
    rewards = c.rewards.flatten().tolist()
    save_episodes(out, step, [episode_json(step, c.problems[i // g], ep, rewards[i])
                              for i, ep in enumerate(c.batch.episodes)])


def step_metrics(c: Collected, adv: torch.Tensor, seconds: dict[str, float]) -> dict[str, float]:
    """What the step's batch says: rewards, rollouts, verdicts, per-batch audit, timings."""
    r = c.rewards  # (B, G)
    lengths = c.batch.action_counts().float()  # (N,) sampled tokens per episode
    return {
        "reward/mean": r.mean().item(),
        "reward/std": r.std().item(),
        "reward/zero_var_frac": (r.std(1) == 0).float().mean().item(),
        "reward/adv_abs_mean": adv.abs().mean().item(),
        "rollout/accuracy": sum(v.correct for v in c.verdicts) / len(c.verdicts),
        "rollout/length_mean": lengths.mean().item(),
        "rollout/truncated_frac": sum(f == "length" for f in c.batch.finish_reasons) / len(lengths),
        "rollout/rounds": c.rounds,
        **c.batch.engine,
        **episode_metrics(c.batch.episodes),
        **verdict_metrics(c.verdicts), **audit_step(c.problems, c.batch, c.verdicts),
        **c.components, **seconds,
        "perf/tokens_per_s": float(lengths.sum()) / seconds["time/step"],
    }


def setup(cfg: RunConfig, out: Path, task: Task, *, resume: bool,
          policy: Policy | None) -> TrainState:
    out.mkdir(parents=True, exist_ok=True)
    if cfg.rollout.engine != "native" and cfg.update.old_logprobs == "sampler":
        log.warning("rollout.engine = %r with update.old_logprobs = \"sampler\": the PPO ratio is "
                    "taken against the engine's log-probs, and their mismatch with the trainer's "
                    "is neither measured nor corrected; set --update.old_logprobs trainer "
                    "(docs/models.md, 'Engines').", cfg.rollout.engine)
    torch.manual_seed(cfg.seed)
    if policy is None and cfg.policy.prior:
        raise ValueError("policy.prior = true needs the prior trained or loaded before RL; pass "
                         "it as train(..., policy=...) or call trueloop.pipelines.train.train_run.")
    policy = policy or load_policy(cfg.policy, seed=cfg.seed)
    if cfg.update.gradient_checkpointing:
        enable_gradient_checkpointing(policy)
    ref_model = None
    if cfg.update.kl_coef:  # a frozen copy of the starting policy
        ref_model = copy.deepcopy(policy.model).eval().requires_grad_(False)
    params = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.update.lr, betas=cfg.update.betas,
                                  weight_decay=cfg.update.weight_decay, fused=True)
    scheduler = make_scheduler(optimizer, warmup_steps=cfg.update.warmup_steps,
                               total_steps=cfg.steps, decay=cfg.update.lr_decay)
    s = TrainState(policy, optimizer, scheduler, torch.Generator().manual_seed(cfg.seed), ref_model,
                   Curriculum(cfg, task), ComputeMeter(policy.model))
    ckpt = latest_checkpoint(out) if resume else None
    if ckpt is not None:
        restore(s, ckpt, task)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    policy.model.eval()
    return s


def checkpoint(out: Path, s: TrainState, task: Task, *, export: bool = False) -> None:
    save_checkpoint(out, s.step, s.policy, {
        "optimizer": s.optimizer.state_dict(), "scheduler": s.scheduler.state_dict(),
        "rng": rng_state(s.generator), "data_index": s.curriculum.draw()[1],
        "curriculum": s.curriculum.state_dict(), "compute": s.compute.state_dict(),
        "task": task.state_dict(),
    }, export=export)


def restore(s: TrainState, ckpt: Path, task: Task) -> None:
    state = load_trainer_state(ckpt)
    restore_weights(s.policy, ckpt)
    task.load_state_dict(state.get("task", {}))
    s.optimizer.load_state_dict(state["optimizer"])
    s.scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"], s.generator)
    s.curriculum.load_state_dict(state.get("curriculum", state))
    s.compute.load_state_dict(state.get("compute", {}))
    s.step = state["step"]
