"""Held-out evaluation: k samples per test problem -> unbiased pass@1 / pass@k with 95% CIs.

Reuses the training stack (`rollout.play`: the same episodes and verifiers), so what is evaluated
is exactly what is trained. The sampling generator is seeded from `seed` alone, so two policies
evaluated with the same seed see the same problems and the same random stream (a paired
comparison).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from trueloop.config import RolloutConfig, RunConfig, VerifyConfig
from trueloop.eval.passk import pass_at_k_ci
from trueloop.policy import Policy
from trueloop.rollout import play
from trueloop.rollout.metrics import episode_metrics
from trueloop.tasks.base import Task

CHUNK_PROMPTS = 32
# problems sampled per call to the sampler (bounds memory at large k)


@dataclass(frozen=True)
class EvalResult:
    task: str
    difficulty: int
    horizon: int | None
    n_problems: int
    k: int
    pass1: float
    pass1_ci: tuple[float, float]
    passk: float
    passk_ci: tuple[float, float]
    correct_counts: list[int]
    reasons: dict[str, int]
    flags: dict[str, int]
    samples: list[dict[str, Any]] = field(default_factory=list)
    episodes: dict[str, float] = field(default_factory=dict)
    # episode/* means over every evaluated episode (turns, tool calls, stop reasons)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["pass@1"], d["pass@1_ci"] = d.pop("pass1"), list(d.pop("pass1_ci"))
        d[f"pass@{self.k}"], d[f"pass@{self.k}_ci"] = d.pop("passk"), list(d.pop("passk_ci"))
        return d


def evaluate(policy: Policy, task: Task, *, n_problems: int, k: int, rollout: RolloutConfig,
             seed: int = 0, problem_seed: int = 0, keep_samples: int = 8,
             verify: VerifyConfig | None = None) -> EvalResult:
    """Sample k completions for each of the first `n_problems` test problems and score them."""
    problems = task.problems(n_problems, "test", problem_seed)
    generator = torch.Generator().manual_seed(seed)
    cfg = replace(rollout, group_size=k)
    counts: list[int] = []
    reasons: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    all_episodes = []
    policy.model.eval()
    for start in range(0, n_problems, CHUNK_PROMPTS):
        chunk = problems[start:start + CHUNK_PROMPTS]
        played = play(task, policy, chunk, cfg, verify or VerifyConfig(), group_size=k,
                      generator=generator)
        batch, verdicts = played.batch, played.verdicts
        all_episodes += batch.episodes
        for i, p in enumerate(chunk):
            vs = verdicts[i * k:(i + 1) * k]
            counts.append(sum(v.correct for v in vs))
            if len(samples) < keep_samples:
                samples.append({"prompt": p.prompt, "answer": p.answer,
                                "completion": batch.texts[i * k], "correct": vs[0].correct,
                                "reason": vs[0].reason})
        reasons.update(v.reason for v in verdicts)
        flags.update(f for v in verdicts for f in v.flags)
    p1, lo1, hi1 = pass_at_k_ci(counts, k, 1)
    pk, lok, hik = pass_at_k_ci(counts, k, k)
    return EvalResult(task.name, task.difficulty, task.horizon, n_problems, k, p1, (lo1, hi1),
                      pk, (lok, hik), counts, dict(reasons), dict(flags), samples,
                      episode_metrics(all_episodes))


def evaluate_run(policy: Policy, task: Task, cfg: RunConfig,
                 n_problems: int | None = None) -> EvalResult:
    """`evaluate` with a run's eval settings: its k and temperature, its seeds (so every call with
    one config sees the same problems and sampling stream), `cfg.eval.n_problems` by default."""
    rollout = replace(cfg.rollout, temperature=cfg.eval.temperature)
    return evaluate(policy, task, n_problems=n_problems or cfg.eval.n_problems, k=cfg.eval.k,
                    rollout=rollout, seed=cfg.seed, problem_seed=cfg.task.seed,
                    verify=cfg.verify)
