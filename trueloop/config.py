"""Run configuration: one frozen dataclass per stage, nested in `RunConfig`.

Loaded from a TOML file (tables named after the stages: `[task]`, `[policy]`, `[rollout]`, ...),
then overridden from the command line with dotted keys (`--update.lr 3e-4`). `validate()` runs
before step 0 and raises `ValueError` with a sentence saying what must hold and how to fix it.
Every run writes its resolved config to `RUN/config.json`; `load_run_config(RUN, overrides)` reads
it back with the same overrides, for the commands that read a run (eval, rescore, audit).
Each field is documented on the comment line(s) under it; those comments are also each field's
`--help` text (`config_parse.fields_help`), and a test fails on a field without one. The generic
TOML -> dataclass machinery (types, unknown keys, dotted overrides, help) is
`trueloop.config_parse`. Over 400 lines because it is the reference of every setting: about 110
fields, each with its doc comment, and the checks that span fields.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trueloop.config_check import validate
from trueloop.config_parse import build, merge, parse_overrides


@dataclass(frozen=True)
class TaskConfig:
    name: str = "arithmetic"
    # registry name of the task (see `trueloop tasks list`)
    difficulty: int = 3
    # 1 (trivial) .. 10 (hard for a small model)
    horizon: int | None = None
    # number of dependent steps, for tasks that have the knob (chain, word_problem)
    answer_format: str = "boxed"
    # instruction appended to every prompt: boxed | answer_is | none
    seed: int = 0
    # problem stream seed; problem i of split s is fixed by (task, s, seed, i)
    path: str | None = None
    # dataset tasks (gsm8k, math): local JSONL file to read; None for procedural tasks
    test_path: str | None = None
    # dataset tasks: optional JSONL test split (else `path` is split by content hash)
    module: str | None = None
    # your own task/environment: a module name or .py file imported first, which calls
    # trueloop.tasks.register(name, cls) (see docs/envs.md)


@dataclass(frozen=True)
class PolicyConfig:
    model: str = "tiny"
    # "tiny-<size>", a registered name ("smollm2-135m"; see `trueloop models list`), or a local
    # HF model folder
    size: str = "small"
    # built-in model size when model == "tiny": see trueloop.policy.tiny.SIZES
    init: str | None = None
    # optional checkpoint / HF folder to start from (e.g. a cached prior)
    prior: bool = False
    # start from the cached prior described by [prior] (pretrained first if missing; tiny models)
    lora_rank: int = 0
    # > 0 trains LoRA adapters (needs peft) instead of all weights
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    # parameter dtype
    device: str = "cpu"
    # torch device string; "cuda" where available


@dataclass(frozen=True)
class PriorConfig:
    """Supervised pretraining of the built-in model on worked solutions (the demo's prior)."""

    mixture: tuple[str, ...] = ("chain:1:1", "chain:1:2", "chain:1:3")
    # "task:difficulty:horizon" entries ("-" = no horizon) sampled uniformly
    noisy: tuple[str, ...] = ()
    # mixture cells taught by an imperfect teacher (see noise)
    noise: float = 0.0
    # fraction of the noisy cells' worked solutions whose final answer is wrong
    steps: int = 1500
    # optimizer steps
    batch_size: int = 64
    # worked solutions per optimizer step
    lr: float = 3e-3
    # AdamW peak learning rate (betas 0.9 / 0.95, weight decay 0.01, gradients clipped to norm 1)
    warmup_steps: int = 50
    # linear warm-up over these steps (at least 1), times a linear decay 1 - step / steps that
    # stops at 0.1
    seed: int = 0
    # seeds the prior's initial weights, its stream of problems and torch (not the RL seed)
    threads: int = 1
    # torch threads while pretraining (0 = torch's default). Float reductions depend on the thread
    # count and a tiny model's prior "clicks" chaotically, so a fixed count makes the prior the
    # same whatever the machine's setting (it still depends on the CPU's kernels)


@dataclass(frozen=True)
class RolloutConfig:
    prompts_per_step: int = 16
    # B: problems per optimizer step
    group_size: int = 8
    # G: completions sampled per problem
    max_new_tokens: int = 32
    # tokens per action (a single-turn completion is one action); an action hitting it ends the
    # episode with stop reason "turn_length" (finish reason "length")
    temperature: float = 1.0
    # sampling temperature of training rollouts; the update's log-probs are taken at the same one
    # (held-out evaluation uses eval.temperature)
    top_p: float = 1.0
    # nucleus sampling (arXiv 1904.09751): the smallest set of tokens whose mass reaches top_p;
    # 1 disables; log-probs, recorded and recomputed, are of the truncated distribution
    top_k: int = 0
    # 0 disables top-k
    stop: tuple[str, ...] = ()
    # extra stop strings (EOS always stops); they end an action, and are cut from its text
    max_turns: int = 8
    # multi-turn environments: actions per episode at most (stop reason "max_turns")
    max_episode_tokens: int = 0
    # sampled tokens per episode, summed over turns; 0 = max_new_tokens * max_turns
    max_context: int = 0
    # prompt + history + one full action must fit; 0 = the model's max_position_embeddings
    episode_timeout_s: float = 0.0
    # wall clock per episode, checked between turns; 0 = no limit
    max_observation_chars: int = 2000
    # longer observations are cut, with a visible marker
    draw: Literal["race", "cdf"] = "race"
    # token sampling: exponential race, or inverse CDF (one uniform per row: faster with a real
    # vocabulary; another token stream for the same seed)
    engine: Literal["native", "vllm"] = "native"
    # who samples: trueloop's own KV-cache loop, or vLLM (the `vllm` extra; token in / token out,
    # weights synced every step, trueloop/rollout/vllm_engine.py, docs/models.md#engines)
    engine_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    # vllm: the sampler's weights; auto = the policy's dtype (bf16 sampling with an fp32 trainer
    # is the mismatch `update.old_logprobs = "trainer"` and `update.is_correction` are for)
    engine_compile: bool = False
    # vllm: torch.compile the sampler's model (vLLM's inductor path). Off by default: on this
    # CPU it cost 165 s at every engine start (its cache keys on the temporary model folder) for
    # about 10% faster decoding of SmolLM2; worth it for long runs on a GPU
    lora_sync: Literal["merged", "adapter"] = "merged"
    # vllm, LoRA policies: send the weights with the adapter folded in (out of place; vLLM then
    # runs the plain model: its CPU LoRA kernels took 84% of each sampling step on SmolLM2), or
    # the adapter itself as a new `LoRARequest` each step (cheaper to send for a large model
    # on a GPU, where vLLM's LoRA kernels are fast)
    sync_max_gap: float = 0.05
    # vllm: after each weight sync a fixed probe is scored by sampler and trainer; a mean
    # |log-prob gap| above this ends the run (stale or failed sync); `rollout/sync_logp_gap`


@dataclass(frozen=True)
class VerifyConfig:
    last_number_fallback: bool = False
    # math: read the last number when no boxed/explicit answer exists (lenient; off by default)
    any_box: bool = False
    # DEMO / ABLATION ONLY, a deliberately weak math verifier: several differing boxed answers
    # count as correct when any one of them is (answer spraying pays; `trueloop demo --scenario
    # hack`). Off, they are `multiple_answers` (reward 0)
    timeout_s: float = 2.0
    # hard wall-clock limit per verification that needs sympy or a sandbox
    code_partial_credit: bool = False
    # code: reward = fraction of tests passed (never for a flagged hack)
    code_budget_s: float = 0.0
    # code: wall-clock budget per submission over all its tests; 0 = 3 x timeout_s
    code_reserve_tests: int = 0
    # code: the last k hidden tests of each problem are never run by this verifier, only by the
    # shadow verifier (`audit.shadow = "strict"`, docs/monitors.md); one hidden test always runs
    workers: int = 0
    # parallel verification workers; 0 = number of CPU cores


@dataclass(frozen=True)
class RewardConfig:
    correct: float = 1.0
    # reward for a correct verdict
    format_bonus: float = 0.0
    # added when an answer was found at all (reason != no_answer)
    length_penalty: float = 0.0
    # soft overlong penalty weight (DAPO), applied over the last `overlong_buffer` tokens
    overlong_buffer: int = 0
    # tokens before max_new_tokens where the soft penalty ramps in


@dataclass(frozen=True)
class UpdateConfig:
    advantage: Literal["grpo", "dr_grpo", "rloo", "reinforce_pp"] = "grpo"
    # advantage estimator (trueloop.update.advantages.ADVANTAGES)
    loss_agg: Literal["token", "sequence", "constant"] = "token"
    # token-level (DAPO), sequence-level (GRPO), or constant max_new_tokens normaliser (Dr. GRPO)
    lr: float = 1e-4
    # AdamW learning rate after warm-up (the schedule multiplies it; trueloop.update.schedule)
    warmup_steps: int = 0
    # linear warm-up from lr / warmup_steps to lr over this many optimizer steps; 0 = none
    lr_decay: Literal["constant", "cosine", "linear"] = "constant"
    # after warm-up: keep lr, or decay it towards 0 at `steps` (trueloop.update.schedule.DECAYS)
    weight_decay: float = 0.0
    # AdamW decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.99)
    # AdamW (beta1, beta2)
    max_grad_norm: float = 1.0
    # gradients are clipped to this total L2 norm before every optimizer step (update/grad_norm
    # logs the norm before clipping)
    epochs: int = 1
    # optimisation passes over each rollout batch (ratios against the old log-probs, see
    # old_logprobs)
    minibatches: int = 1
    # optimizer steps per epoch
    eps_low: float = 0.2
    # lower clip range: the ratio is clipped below at 1 - eps_low (see eps_high)
    eps_high: float = 0.28
    # clip-higher (DAPO): ratio clipped to [1 - eps_low, 1 + eps_high]
    kl_coef: float = 0.0
    # weight of the k3 KL estimate to a frozen reference policy; 0 = no reference model
    entropy_coef: float = 0.0
    # weight of an entropy bonus: the policy's next-token entropy, averaged over the loss tokens,
    # is subtracted from the loss; 0 = none (update/entropy is logged either way)
    dynamic_sampling: bool = False
    # drop zero-variance groups and sample more until the batch is full (DAPO)
    max_resample_rounds: int = 3
    # cap on extra sampling rounds per step under dynamic sampling
    mask_truncated: bool = False
    # exclude completions that hit max_new_tokens from the loss (DAPO overlong filtering)
    micro_batch_size: int = 0
    # > 0: run each minibatch in micro-batches of this many episodes, gradients accumulated
    # (same result as one batch; activation memory of one micro-batch); 0 = whole minibatches
    logit_budget: int = 1 << 26
    # most logits (elements) that exist at once when computing log-probs; above it the LM head
    # runs on chunks of hidden states (a real vocabulary never forms the (N, T, V) logits)
    gradient_checkpointing: bool = False
    # recompute decoder activations in backward (transformers' gradient checkpointing)
    autocast: Literal["off", "bf16"] = "off"
    # bf16 autocast for the update's forward (on GPUs that support it); weights stay as loaded
    train_observations: bool = False
    # ABLATION ONLY: train observation/scaffolding tokens as if the policy wrote them (the bug
    # action_mask rules out; see docs/envs.md)
    old_logprobs: Literal["sampler", "trainer"] = "sampler"
    # what the PPO ratio is taken against: the sampler's log-probs as recorded, or the trainer's,
    # recomputed before the update (one more forward; logs mismatch/*; docs/algorithms.md)
    is_correction: Literal["none", "tis", "mis"] = "none"
    # sampler/trainer mismatch correction (needs old_logprobs = "trainer"): none, truncated IS
    # weights min(r, is_cap), or masked IS (r outside [1/is_cap, is_cap] dropped)
    is_level: Literal["token", "sequence"] = "token"
    # one importance ratio r per token, or per sequence (geometric mean over its action tokens)
    is_cap: float = 2.0
    # the correction's bound on r, > 1: tis caps r at it, mis keeps [1/is_cap, is_cap]


@dataclass(frozen=True)
class EvalConfig:
    n_problems: int = 200
    # held-out test problems per evaluation
    k: int = 8
    # samples per problem; pass@1 and pass@k are estimated from these
    temperature: float = 1.0
    # sampling temperature for evaluation (pass@k needs diverse samples)
    easy: str = ""
    # "task:difficulty:horizon" cell the prior already solves; watched for forgetting
    extra: tuple[str, ...] = ()
    # more "task:difficulty:horizon" cells to evaluate (accuracy by difficulty / horizon)


@dataclass(frozen=True)
class LogConfig:
    checkpoint_every: int = 0
    # steps between checkpoints; 0 = only at the end
    eval_every: int = 0
    # steps between held-out evaluations during training; 0 = off
    tensorboard: bool = False
    # also write every metric to RUN/tensorboard/ (needs the tensorboard package)
    progress: bool = True
    # live progress bar on stderr
    save_episodes: bool = True
    # keep every step's episodes in RUN/episodes/ (gzipped JSONL; `trueloop episodes RUN`)


@dataclass(frozen=True)
class DistributedConfig:
    """Where rollouts and verification run: here (`local`) or Ray actors (docs/distributed.md)."""

    backend: Literal["local", "ray"] = "local"
    # local: everything in this process; ray: verification / rollout actors (pip install ray)
    address: str | None = None
    # ray: None starts a local Ray; "auto" or "host:port" joins a running cluster
    verify_workers: int = 0
    # ray: verification actors (each wraps the sandbox pool on its node); 0 = verify on the driver
    # (or on the rollout actors, which verify their own episodes)
    rollout_workers: int = 0
    # ray: rollout actors holding a copy of the policy; 0 = sample on the driver
    unit: Literal["batch", "group"] = "batch"
    # batch: one generator for the whole batch (the default path); group: each problem's G
    # episodes sampled alone, seeded from (seed, problem index): bit-identical for any backend and
    # worker count (rollout_workers > 0 needs it)
    worker_cpus: float = 1.0
    # ray: CPUs reserved per actor (fractions pack several actors on one core)
    verify_deadline_s: float = 300.0
    # ray: a verification call not back after this long is killed, replaced and re-run
    rollout_deadline_s: float = 0.0
    # ray: the same for a rollout actor's shard of a step (it gets the step's weights again);
    # 0 = none (a real model's rollouts can take long: set it well above a step's sampling time)
    max_restarts: int = 3
    # ray: actor replacements per call before the cluster counts as dead (a clear error)


@dataclass(frozen=True)
class AuditConfig:
    """Watching the run as a whole while it trains (reward-hacking monitors; docs/monitors.md)."""

    shadow: str = "off"
    # shadow verifier re-judging a sample of each step's single-turn rollouts
    # (trueloop.audit.monitors.SHADOWS): strict = the training verifier with every lenient option
    # off; same = the training verifier itself (an ablation: it never disagrees); off = none; or
    # "package.module:function", your own second verifier (signature: monitors.Shadow)
    shadow_sample: int = 64
    # rollouts re-judged per step (a seeded sample); 0 = all of them
    window: int = 5
    # divergence alarm: steps per window; it compares the last window with an earlier one
    lookback: int = 100
    # divergence alarm: how many steps further back than the window just before the last one
    # the earlier (baseline) window may start
    min_rise: float = 0.1
    # divergence alarm: training accuracy on the shadow sample must rise by at least this ...
    flat: float = 0.02
    # ... while the shadow's accuracy changes by at most this (flat or falling)
    patience: int = 2
    # divergence alarm: consecutive steps the rule must hold before it fires
    stop_on_alarm: bool = False
    # end the run cleanly, after a checkpoint, when the divergence alarm fires
    canary_fraction: float = 0.0
    # share of train problems that are canaries (trueloop.audit.canaries); 0 = none
    canary_train: bool = True
    # false: canary groups get zero advantage, so they are watched, never trained on (the
    # exploit a canary pays never reaches the update; audit/canary_hits still counts it)


@dataclass(frozen=True)
class CurriculumConfig:
    """Closed-loop difficulty / horizon: keep each level's group pass rate in a learnable band."""

    enabled: bool = False
    # move the task's knob between `levels` during training (trueloop.update.curriculum)
    knob: Literal["difficulty", "horizon"] = "difficulty"
    # which task knob the levels set (horizon: tasks with the knob, e.g. chain, tool_chain)
    levels: tuple[int, ...] = ()
    # knob values from easy to hard, e.g. [1, 2, 3, 4]; the other knob stays as [task] sets it
    start: int = 0
    # position in `levels` where training starts (0 = the easiest)
    band: tuple[float, float] = (0.2, 0.8)
    # learnable band of the group pass rate: above it move one level harder, below it one easier
    window: int = 32
    # groups remembered per level (their mean is the level's pass rate)
    min_groups: int = 16
    # groups seen at a level since arriving there before the curriculum may move again


@dataclass(frozen=True)
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    steps: int = 100
    # optimizer steps (one rollout batch each)
    seed: int = 0
    # seeds torch, sampling and data order


@dataclass(frozen=True)
class InspectConfig:
    """Settings of the `trueloop audit` pipeline (trueloop.pipelines.audit; its flags): SAEs,
    diffs and probes on a finished run. Not part of `RunConfig` (an audit never changes
    training) and not `AuditConfig`, the [audit] table that watches a run while it trains. Here,
    not in the pipeline, so that `trueloop --help` reads its defaults without loading torch."""

    sites: tuple[str, ...] = ("blocks.-1",)
    # SAE sites (blocks.L, negative from the end, or a module name); the first is primary
    problems: int = 96
    # train-split problems played by the trained policy (each group_size times)
    heldout: float = 0.25
    # fraction of problems (whole groups) held out for metrics and probe evaluation
    expansion: int = 4
    # SAE latents per input dimension (on the tiny demo 8 left twice as many latents silent on
    # held-out tokens at the same EV, and took twice as long)
    k: int = 16
    # active latents per token
    steps: int = 1000
    # SAE optimiser steps (about 50 passes over the tiny demo's 84k training tokens)
    batch_tokens: int = 4096
    # tokens per SAE optimiser step
    top_features: int = 8
    # shifted latents shown, each with `contexts` top-activating contexts
    contexts: int = 5
    # top-activating contexts shown per shifted latent
    episodes_shown: int = 10
    # held-out episodes shown on the page with their per-token strips
    seed: int = 0
    # seed of the rollouts' sampling, the SAE and the shift bootstrap
    save_acts: bool = False
    # also write the activation shards to RUN/audit/acts/{policy,base}/



def load_config(
    path: str | Path | None = None, overrides: list[str] | dict | None = None
) -> RunConfig:
    """A TOML file's config (defaults without one) with `--section.key VALUE` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"config file {path} is not valid TOML: {e}.") from None
    return resolve(data, overrides)


def load_run_config(run: str | Path, overrides: list[str] | dict | None = None) -> RunConfig:
    """The config a run trained with (`RUN/config.json`, which every run writes) with
    `--section.key VALUE` overrides: what `trueloop eval RUN`, `rescore` and `audit` start from."""
    run = Path(run)
    path = run / "config.json"
    if not run.is_dir():
        raise ValueError(f"run folder {run} does not exist.")
    if not path.is_file():
        raise ValueError(f"{path} is missing: {run} is not a trueloop run folder (training "
                         f"writes config.json there).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is unreadable ({type(e).__name__}); the run's config is "
                         f"needed to read the run.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object (the run's resolved config); got a "
                         f"{type(data).__name__}.")
    try:
        build(RunConfig, data, "")  # the run's own file, before any override is blamed
    except ValueError as e:
        raise ValueError(f"{path} does not load as a run config of this trueloop: {e}") from None
    return resolve(data, overrides)


def resolve(data: dict[str, Any], overrides: list[str] | dict | None = None) -> RunConfig:
    """Tables (from TOML or JSON) with overrides merged in, built and validated."""
    if overrides:
        extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
        data = merge(data, extra)
    cfg = build(RunConfig, data, "")
    validate(cfg)
    return cfg


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
