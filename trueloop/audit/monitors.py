"""Reward-hacking monitors: watch a run as a whole while it trains (`[audit]`, docs/monitors.md).

Verdict flags and `audit_step` judge one batch at a time; a policy that games its verifier shows
up only across steps, as a training reward that climbs while a stricter judge stays flat. Each
step `RunMonitor.step` logs:
- shadow verification: a sample of the step's single-turn rollouts is re-judged by a stricter
  verifier than training's (`SHADOWS`, or a user's own function): `audit/shadow_accuracy` on
  the sample, `audit/sample_train_accuracy` (the training verdicts of the same rows) and
  `audit/shadow_disagreement` (training said correct, shadow said wrong, over the sample);
- the divergence alarm (`DivergenceAlarm`): `audit/alarm` turns 1 (and stays 1) at the step where
  training accuracy on the sample has risen while the shadow's has not, over a window; one line
  says what diverged since which step, and `audit.stop_on_alarm` ends the run after a checkpoint;
- canaries (`trueloop.audit.canaries`): `audit/canary_hits`, the share of canary rollouts the
  training verifier rewarded. With `audit.canary_train = false`, `untrained` zeroes the canary
  groups' advantages, so canaries are watched and never trained on.
The alarm's state is rebuilt from `metrics.jsonl` on resume, so a resumed run alarms where an
uninterrupted one would. What each part changes: the shadow and the alarm read the batch and
change nothing (the shadow sample is drawn from its own seeded RNG, never training's);
`canaries(task)` changes the train stream (canary problems in place of some train problems) when
`audit.canary_fraction > 0`; `untrained` changes the advantages (canary groups zeroed) when
`audit.canary_train = false`; `audit.stop_on_alarm` ends the run at the alarm.
"""

from __future__ import annotations

import dataclasses
import importlib
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from trueloop.audit.canaries import WithCanaries, canary_every
from trueloop.config import RunConfig, VerifyConfig
from trueloop.rollout import RolloutBatch
from trueloop.tasks.base import Task
from trueloop.types import Problem, Verdict

if TYPE_CHECKING:  # the trainer's batch record; audit never imports the trainer
    from trueloop.update.collect import Collected

EPS = 1e-9
# float round-off of the alarm's prefix sums: a shadow exactly flat counts as flat

Shadow = Callable[[Task, list[Problem], list[str], VerifyConfig], list[Verdict]]
# (task, problems, completions, the training verify settings) -> one verdict per completion


def strict_settings(verify: VerifyConfig) -> VerifyConfig:
    """`verify` with every lenient option off (math: no last-number fallback, no any-box
    spraying; code: no partial credit, and every hidden test, the ones training reserves with
    `verify.code_reserve_tests` included)."""
    return dataclasses.replace(verify, last_number_fallback=False, any_box=False,
                               code_partial_credit=False, code_reserve_tests=0)


def strict_shadow(task: Task, problems: list[Problem], completions: list[str],
                  verify: VerifyConfig) -> list[Verdict]:
    """The task's verifier under `strict_settings`."""
    return task.verifier(strict_settings(verify))(problems, completions)


def same_shadow(task: Task, problems: list[Problem], completions: list[str],
                verify: VerifyConfig) -> list[Verdict]:
    """The training verifier itself: a shadow that can never disagree (the ablation that shows
    the alarm needs a stricter judge)."""
    return task.verifier(verify)(problems, completions)


SHADOWS: dict[str, Shadow] = {"strict": strict_shadow, "same": same_shadow}
# audit.shadow name -> shadow verifier. How to add one: write a `Shadow` function and add it
# here, or name it in the config as "package.module:function" (your own second verifier)


def load_shadow(name: str) -> Shadow | None:
    """The shadow verifier `audit.shadow` names (None for "off")."""
    if name == "off":
        return None
    if name in SHADOWS:
        return SHADOWS[name]
    module, _, attr = name.partition(":")
    fn = getattr(importlib.import_module(module), attr, None) if module and attr else None
    if not callable(fn):
        raise ValueError(f"audit.shadow must be one of {['off', *SHADOWS]} or "
                         f"'package.module:function' naming a callable; got {name!r}.")
    return fn


@dataclass
class DivergenceAlarm:
    """rllm#143's "train reward rises, eval drops", as a rule on two windows of `window` steps:
    the last one, and a baseline one that ends before it and starts at most `lookback` steps
    back. The rule holds at a step when, for some baseline, the mean training accuracy rose by
    >= `min_rise` while the shadow's changed by <= `flat` (flat or falling); the alarm fires once,
    when the rule has held for `patience` consecutive steps. The earliest such baseline is the
    "since step" of the alarm line. Healthy learning moves both means together and never fires."""

    window: int
    min_rise: float
    flat: float
    patience: int
    lookback: int
    steps: list[int] = field(default_factory=list)
    train: list[float] = field(default_factory=lambda: [0.0])
    # prefix sums (train[i] = sum of the first i values), so a window mean is O(1)
    shadow: list[float] = field(default_factory=lambda: [0.0])
    streak: int = 0
    fired_at: int | None = None

    def update(self, step: int, train: float, shadow: float) -> str | None:
        """Add one step's (training, shadow) accuracy; the alarm line when it fires now."""
        self.steps.append(step)
        self.train.append(self.train[-1] + train)
        self.shadow.append(self.shadow[-1] + shadow)
        if self.fired_at is not None:
            return None
        found = self._diverged()
        self.streak = self.streak + 1 if found else 0
        if found is None or self.streak < self.patience:
            return None
        self.fired_at = step
        start, t0, t1, s0, s1 = found
        return (f"audit alarm at step {step}: training accuracy rose {t0:.2f} -> {t1:.2f} while "
                f"the shadow verifier's went {s0:.2f} -> {s1:.2f}, since step {start}"
                f" (means over windows of {self.window} steps)")

    def _diverged(self) -> tuple[int, float, float, float, float] | None:
        """(baseline start step, train then, train now, shadow then, shadow now) for the
        earliest baseline window the rule holds against, else None."""
        n, w = len(self.steps), self.window
        if n < 2 * w:
            return None
        t1, s1 = self._mean(self.train, n - w), self._mean(self.shadow, n - w)
        for i in range(max(0, n - 2 * w - self.lookback), n - 2 * w + 1):
            t0, s0 = self._mean(self.train, i), self._mean(self.shadow, i)
            if t1 - t0 >= self.min_rise - EPS and s1 - s0 <= self.flat + EPS:
                return self.steps[i], t0, t1, s0, s1
        return None

    def _mean(self, sums: list[float], i: int) -> float:
        """Mean of the `window` values from index i of the series behind `sums`."""
        return (sums[i + self.window] - sums[i]) / self.window


class RunMonitor:
    """The monitors of one run: `canaries(task)` is the task to sample from, `step()` returns the
    step's `audit/*` metrics."""

    def __init__(self, cfg: RunConfig, task: Task, *, history: list[dict[str, Any]] = ()) -> None:
        a = cfg.audit
        self.cfg, self.seed = a, cfg.seed
        self.shadow, self.verify = load_shadow(a.shadow), cfg.verify
        self.alarm = DivergenceAlarm(a.window, a.min_rise, a.flat, a.patience, a.lookback)
        self.every = canary_every(task, a)
        for row in history:  # a resumed run: replay the logged steps
            if "audit/shadow_accuracy" in row:
                self.alarm.update(row["step"], row["audit/sample_train_accuracy"],
                                  row["audit/shadow_accuracy"])
            if row.get("audit/alarm") == 1 and self.alarm.fired_at is None:
                self.alarm.fired_at = row["step"]

    def canaries(self, task: Task) -> Task:
        """`task` with canaries mixed into its train stream (itself when there are none)."""
        return WithCanaries(task, self.every) if self.every else task  # type: ignore[return-value]

    def untrained(self, problems: list[Problem], adv: torch.Tensor) -> torch.Tensor:
        """`adv` (B, G) with canary groups zeroed when `audit.canary_train` is false."""
        if self.cfg.canary_train or not self.every:
            return adv
        keep = torch.tensor([not p.meta.get("canary") for p in problems], dtype=adv.dtype)
        return adv * keep[:, None]

    @property
    def alarm_step(self) -> int | None:
        return self.alarm.fired_at

    def step(self, step: int, task: Task, c: Collected) -> dict[str, float]:
        """Monitor one training step: B problems, their N = B*G rollouts and verdicts."""
        problems, batch, verdicts = c.problems, c.batch, c.verdicts
        g = len(verdicts) // len(problems)
        out: dict[str, float] = {}
        canary = [v.correct for i, v in enumerate(verdicts) if problems[i // g].meta.get("canary")]
        if canary:
            out["audit/canary_hits"] = sum(canary) / len(canary)
        if self.shadow is None:
            return out
        t0 = time.perf_counter()
        rows = self.sample(step, batch, verdicts)
        if rows:
            judged = self.shadow(task, [problems[i // g] for i in rows],
                                 [batch.texts[i] for i in rows], self.verify)
            train = sum(verdicts[i].correct for i in rows) / len(rows)
            shadow = sum(v.correct for v in judged) / len(rows)
            out["audit/sample_train_accuracy"] = train
            out["audit/shadow_accuracy"] = shadow
            out["audit/shadow_disagreement"] = sum(
                verdicts[i].correct and not v.correct
                for i, v in zip(rows, judged, strict=True)) / len(rows)
            line = self.alarm.update(step, train, shadow)
            if line:
                print(line, file=sys.stderr, flush=True)
        out["audit/alarm"] = float(self.alarm.fired_at is not None)
        out["time/shadow"] = time.perf_counter() - t0
        return out

    def sample(self, step: int, batch: RolloutBatch, verdicts: list[Verdict]) -> list[int]:
        """Rows to re-judge: single-turn episodes that were verified (no env_error), a seeded
        sample of `shadow_sample` of them (0 = all), in row order."""
        rows = [i for i, e in enumerate(batch.episodes)
                if len(e.turns) <= 1 and verdicts[i].reason != "env_error"]
        n = self.cfg.shadow_sample
        if n and n < len(rows):
            rows = sorted(random.Random(f"shadow:{self.seed}:{step}").sample(rows, n))
        return rows
