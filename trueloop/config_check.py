"""The checks of a run config that need more than one field (`validate`), run by
`trueloop.config` before step 0: each a (condition, sentence saying what to change) pair."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trueloop.config import CurriculumConfig, DistributedConfig, RunConfig, UpdateConfig


def validate(cfg: RunConfig) -> None:
    """Checks that need more than one field; raises ValueError with a fix. Names that index a
    stage's registry (task.name) are checked by that stage (`tasks.task_from_config`), which the
    commands call before step 0: config imports no stage."""
    checks = [
        (cfg.steps >= 1, f"steps must be >= 1; got {cfg.steps}."),
        (cfg.rollout.group_size >= 2,
         f"rollout.group_size must be >= 2 for group-relative advantages; got "
         f"{cfg.rollout.group_size}."),
        (cfg.rollout.prompts_per_step >= 1, "rollout.prompts_per_step must be >= 1."),
        (cfg.rollout.max_new_tokens >= 1, "rollout.max_new_tokens must be >= 1."),
        (cfg.rollout.max_turns >= 1, f"rollout.max_turns must be >= 1; got "
         f"{cfg.rollout.max_turns}."),
        (min(cfg.rollout.max_episode_tokens, cfg.rollout.max_context) >= 0
         and cfg.rollout.episode_timeout_s >= 0 and cfg.rollout.max_observation_chars >= 1,
         "rollout.max_episode_tokens, max_context and episode_timeout_s must be >= 0 (0 = "
         "default) and rollout.max_observation_chars >= 1."),
        (cfg.rollout.temperature > 0, "rollout.temperature must be > 0 (use a small value "
         "such as 0.01 for near-greedy sampling)."),
        (0 < cfg.rollout.top_p <= 1, f"rollout.top_p must be in (0, 1]; got {cfg.rollout.top_p}."),
        (cfg.update.lr > 0, f"update.lr must be > 0; got {cfg.update.lr}."),
        (cfg.update.epochs >= 1 and cfg.update.minibatches >= 1,
         "update.epochs and update.minibatches must be >= 1."),
        (0 <= cfg.update.eps_low < 1 and cfg.update.eps_high >= 0,
         "update.eps_low must be in [0, 1) and update.eps_high >= 0."),
        (cfg.verify.timeout_s > 0 and cfg.verify.code_budget_s >= 0,
         "verify.timeout_s must be > 0 and verify.code_budget_s >= 0 (0 = 3 x timeout_s)."),
        (cfg.verify.code_reserve_tests >= 0,
         f"verify.code_reserve_tests must be >= 0; got {cfg.verify.code_reserve_tests}."),
        (cfg.update.micro_batch_size >= 0 and cfg.update.logit_budget >= 1,
         "update.micro_batch_size must be >= 0 (0 = off) and update.logit_budget >= 1."),
        ((cfg.rollout.prompts_per_step * cfg.rollout.group_size) % cfg.update.minibatches == 0,
         "update.minibatches must divide prompts_per_step * group_size."),
        (cfg.eval.k >= 1 and cfg.eval.n_problems >= 1, "eval.k and eval.n_problems must be >= 1."),
        (0 <= cfg.prior.noise < 1, f"prior.noise must be in [0, 1); got {cfg.prior.noise}."),
        (cfg.prior.warmup_steps >= 1,
         f"prior.warmup_steps must be >= 1 (its warm-up divides by it); got "
         f"{cfg.prior.warmup_steps}."),
        (cfg.audit.window >= 1 and cfg.audit.patience >= 1 and cfg.audit.shadow_sample >= 0
         and cfg.audit.lookback >= 0 and cfg.audit.min_rise > 0, "audit.window and "
         "audit.patience must be >= 1, audit.shadow_sample and audit.lookback >= 0 (shadow_sample "
         "0 = all) and audit.min_rise > 0."),
        (0 <= cfg.audit.canary_fraction <= 0.5, f"audit.canary_fraction must be in [0, 0.5] "
         f"(canaries are a tripwire, not the training set); got {cfg.audit.canary_fraction}."),
        (cfg.audit.shadow in ("off", "strict", "same") or ":" in cfg.audit.shadow,
         f"audit.shadow must be off, strict, same or 'package.module:function'; got "
         f"{cfg.audit.shadow!r}."),
        (not cfg.audit.stop_on_alarm or cfg.audit.shadow != "off",
         "audit.stop_on_alarm needs a shadow verifier to alarm on; set audit.shadow = \"strict\"."),
        (set(cfg.prior.noisy) <= set(cfg.prior.mixture),
         f"prior.noisy cells must also be in prior.mixture; got noisy={list(cfg.prior.noisy)}."),
        *update_checks(cfg.update),
        *curriculum_checks(cfg.curriculum),
        *distributed_checks(cfg.distributed),
        (cfg.rollout.engine == "native" or cfg.distributed.rollout_workers == 0,
         "rollout.engine = \"vllm\" samples in the driver; Ray rollout actors sample with the "
         "native engine only (vLLM inside actors is not built yet). Set "
         "--distributed.rollout_workers 0 (verification actors still work) or --rollout.engine "
         "native."),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def update_checks(u: UpdateConfig) -> list[tuple[bool, str]]:
    return [
        (u.is_correction == "none" or u.old_logprobs == "trainer",
         f"update.is_correction = {u.is_correction!r} needs update.old_logprobs = \"trainer\" "
         "(the correction weighs by pi_trainer / pi_sampler, which needs the trainer's "
         f"log-probs); got old_logprobs = {u.old_logprobs!r}. Set --update.old_logprobs trainer "
         "or --update.is_correction none."),
        (u.is_cap > 1, "update.is_cap must be > 1 (tis caps the ratio at it, mis keeps "
         f"[1/is_cap, is_cap]); got {u.is_cap}."),
    ]


def curriculum_checks(c: CurriculumConfig) -> list[tuple[bool, str]]:
    if not c.enabled:
        return []
    return [
        (len(c.levels) >= 1, "curriculum.levels must list at least one knob value when "
         "curriculum.enabled is true, e.g. levels = [1, 2, 3, 4]."),
        (len(set(c.levels)) == len(c.levels), f"curriculum.levels must not repeat a value; got "
         f"{list(c.levels)}."),
        (0 <= c.start < max(1, len(c.levels)), f"curriculum.start must index curriculum.levels "
         f"(0..{len(c.levels) - 1}); got {c.start}."),
        (len(c.band) == 2 and 0 <= c.band[0] < c.band[1] <= 1,
         f"curriculum.band must be [low, high] with 0 <= low < high <= 1; got {list(c.band)}."),
        (c.window >= 1 and 1 <= c.min_groups <= c.window,
         f"curriculum.window must be >= 1 and 1 <= min_groups <= window; got window={c.window}, "
         f"min_groups={c.min_groups}."),
    ]


def distributed_checks(d: DistributedConfig) -> list[tuple[bool, str]]:
    workers = d.verify_workers + d.rollout_workers
    return [
        (min(d.verify_workers, d.rollout_workers, d.max_restarts) >= 0,
         f"distributed.verify_workers, rollout_workers and max_restarts must be >= 0; got "
         f"{d.verify_workers}, {d.rollout_workers}, {d.max_restarts}."),
        (d.backend == "ray" or workers == 0,
         f"distributed.verify_workers / rollout_workers need distributed.backend = \"ray\"; got "
         f"backend {d.backend!r} with {workers} workers (set --distributed.backend ray)."),
        (d.rollout_workers == 0 or d.verify_workers == 0,
         f"distributed.rollout_workers and verify_workers are either-or: rollout actors verify "
         f"their own episodes on their node; got {d.rollout_workers} and {d.verify_workers} "
         f"(set --distributed.verify_workers 0)."),
        (d.rollout_workers == 0 or d.unit == "group",
         "distributed.rollout_workers > 0 needs distributed.unit = \"group\" (each problem's "
         "episodes sampled alone with their own seed); set --distributed.unit group."),
        (d.worker_cpus >= 0 and d.verify_deadline_s > 0 and d.rollout_deadline_s >= 0,
         "distributed.worker_cpus must be >= 0, distributed.verify_deadline_s > 0 and "
         "distributed.rollout_deadline_s >= 0 (0 = no deadline)."),
        (d.backend != "ray" or importlib.util.find_spec("ray") is not None,
         "distributed.backend = \"ray\" needs Ray, which is not installed: "
         "pip install 'trueloop[ray]'."),
    ]
