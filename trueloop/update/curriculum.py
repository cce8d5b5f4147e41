"""Closed-loop curriculum: move one task knob (difficulty or horizon) between levels during
training so that the group pass rate stays in a learnable band.

Under group-relative advantages (GRPO and kin) a group whose G samples all pass or all fail has
zero advantage: it costs a rollout and teaches nothing. A level the policy solves at a rate p gives
an informative group with probability 1 - p^G - (1 - p)^G, which is high only for p away from 0
and 1. So, after every step, the curriculum records each group's pass rate (share of its G
verdicts that are correct) in a window of the current level, and once `min_groups` groups were seen
there since it arrived:

    mean(window) > band[1]  ->  one level harder (if there is one)
    mean(window) < band[0]  ->  one level easier (if there is one)

Arriving at a level clears its window, so a decision never rests on what an older policy did there.
Each level has its own problem stream (problem i of level L is problem i of the task built at L),
and its own data position, so going back to a level draws problems it has not trained on, and a
resumed run draws exactly the problems an uninterrupted one would. The whole state (position,
per-level data positions and windows) is checkpointed (`state_dict`).

Departures from published curricula (e.g. the pass-rate filters of DAPO, arXiv 2503.14476, which
drop solved and unsolved prompts one at a time): the curriculum moves a whole task knob, one level
at a time, and never skips levels. With dynamic sampling on, the measured pass rate is the one of
the groups kept in the batch, which biases it towards the middle of the band.

Metrics: `curriculum/level` (the knob value trained at this step) and `curriculum/pass_rate/<L>`
(the window mean at level L after this step, logged for the level trained).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from trueloop.config import RunConfig
from trueloop.tasks import task_from_config
from trueloop.tasks.base import Task
from trueloop.update.collect import Collected


class Curriculum:
    """The levels' tasks and data positions; with `[curriculum]` off, one level: the run's task."""

    def __init__(self, cfg: RunConfig, task: Task) -> None:
        self.cfg = cfg.curriculum
        c = self.cfg
        if c.enabled and task.has_run_state:
            raise ValueError(f"task {cfg.task.name!r} keeps run-level state between steps (its "
                             f"store), which one task per curriculum level would split and the "
                             f"checkpoint would not hold; train it without [curriculum].")
        self.levels: list[int | None] = list(c.levels) if c.enabled else [None]
        own = getattr(task, c.knob)
        self.tasks = [task if level is None or level == own
                      else task_from_config(replace(cfg.task, **{c.knob: level}))
                      for level in self.levels]
        self.at = c.start if c.enabled else 0
        self.indices = [0] * len(self.levels)  # next problem index of each level's stream
        self.windows = [deque(maxlen=c.window) for _ in self.levels]  # group pass rates
        self.since_move = 0  # groups seen at the current level since arriving

    def draw(self) -> tuple[Task, int]:
        """The task to train on now and the index of its next problem."""
        return self.tasks[self.at], self.indices[self.at]

    def observe(self, c: Collected) -> dict[str, float]:
        """Record a collected batch (its data position, its groups' pass rates) and move when the
        window says so; returns this step's curriculum metrics ({} when off)."""
        self.indices[self.at] = c.next_index
        if not self.cfg.enabled:
            return {}
        g = len(c.verdicts) // len(c.problems)
        for i in range(len(c.problems)):
            self.windows[self.at].append(sum(v.correct for v in c.verdicts[i * g:(i + 1) * g]) / g)
        self.since_move += len(c.problems)
        level, rate = self.levels[self.at], self.pass_rate(self.at)
        metrics = {"curriculum/level": float(level), f"curriculum/pass_rate/{level}": rate}
        if self.since_move >= self.cfg.min_groups:
            low, high = self.cfg.band
            if rate > high and self.at + 1 < len(self.levels):
                self._move(+1)
            elif rate < low and self.at > 0:
                self._move(-1)
        return metrics

    def pass_rate(self, at: int) -> float:
        window = self.windows[at]
        return sum(window) / len(window) if window else float("nan")

    def _move(self, delta: int) -> None:
        self.at += delta
        self.windows[self.at].clear()
        self.since_move = 0

    def state_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "at": self.at, "indices": list(self.indices),
                "windows": [list(w) for w in self.windows], "since_move": self.since_move}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; a checkpoint from before curricula holds only `data_index`."""
        if "levels" not in state:
            self.indices[self.at] = state["data_index"]
            return
        if state["levels"] != self.levels:
            raise ValueError(f"the checkpoint's curriculum levels {state['levels']} differ from "
                             f"the config's {self.levels}; resume with the run's own config.")
        self.at, self.indices = state["at"], list(state["indices"])
        for window, values in zip(self.windows, state["windows"], strict=True):
            window.clear()
            window.extend(values)
        self.since_move = state["since_move"]
