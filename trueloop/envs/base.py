"""The environment protocol: an episode is reset -> (action, observation)* -> verify.

A single-turn task is an episode of one action (`SingleTurnEnv`), so single-turn tasks and
multi-turn environments share one rollout path (`trueloop.rollout.run_episodes`).

    env = task.make_env(problem, verify=cfg.verify)
    obs = env.reset(problem, seed=0)      # the first observation: text or chat messages
    r = env.step(action)                  # StepResult(observation, done, info)
    ...
    verdict = env.verify()                # the outcome: from the env's state and the actions
    env.close()

Rules every environment keeps (the rollout runner relies on them):
- `verify()` judges from the environment's own state and the policy's actions, never from
  observation text (a model that echoes an observation gains nothing it did not do).
- A malformed action, a failing tool or a slow tool is an *observation* (the model sees the error
  and goes on), never an exception; an exception out of `step` ends the episode as `env_error`
  and the episode leaves the loss.
- An action the runner cut at a token limit is never stepped (`truncated(action)` is called
  instead): a half-written tool call is not executed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from trueloop.types import Message, Problem, Verdict
from trueloop.verify import Verifier

Observation = str | tuple[Message, ...]
# what an environment shows the policy: plain text or chat messages (the first observation)


@dataclass(frozen=True)
class StepResult:
    observation: str | None
    # what the policy sees next (a tool result, feedback); None when there is nothing to show
    done: bool
    # the episode is over; `verify()` may be called
    info: dict[str, Any] = field(default_factory=dict)
    # for metrics and humans: e.g. {"tool": "calculator", "tool_error": False}


class Env(ABC):
    """One episode's environment. Subclasses implement `reset`, `step` and `verify`."""

    problem: Problem

    @abstractmethod
    def reset(self, problem: Problem, *, seed: int) -> Observation:
        """Start an episode of `problem`; return the first observation (the prompt)."""

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Apply one policy action (its text, cut before any stop string)."""

    @abstractmethod
    def verify(self) -> Verdict:
        """The episode's outcome. Never raises on model behaviour."""

    def truncated(self, action: str) -> None:
        """The runner cut this action at a token limit; by default it is ignored (never
        executed). Single-turn envs keep it as the answer, as single-turn RLVR always has."""
        return None

    def close(self) -> None:
        """Release resources (tool processes, files); called once per episode."""
        return None

    @classmethod
    def verify_many(cls, envs: list[Env]) -> list[Verdict]:
        """Verdicts of many finished envs of this class; override to batch expensive checks."""
        return [e.verify() for e in envs]


class SingleTurnEnv(Env):
    """A single-turn task as an environment: one action, then done; `verify()` is the task's
    verifier (bound to the run's `[verify]` settings) on that action."""

    def __init__(self, problem: Problem, verifier: Verifier) -> None:
        self.problem, self.verifier = problem, verifier
        self.action: str | None = None

    def reset(self, problem: Problem, *, seed: int) -> Observation:
        self.problem, self.action = problem, None
        return problem.messages if len(problem.messages) else problem.prompt

    def step(self, action: str) -> StepResult:
        self.action = action
        return StepResult(None, True)

    def truncated(self, action: str) -> None:
        self.action = action

    def verify(self) -> Verdict:
        return self.verify_many([self])[0]

    @classmethod
    def verify_many(cls, envs: list[Env]) -> list[Verdict]:
        """One batched call per verifier (a code task verifies its batch on the sandbox pool)."""
        out: list[Verdict | None] = [None] * len(envs)
        by_verifier: dict[Verifier, list[int]] = {}
        for i, e in enumerate(envs):
            by_verifier.setdefault(e.verifier, []).append(i)
        for verifier, rows in by_verifier.items():
            verdicts = verifier([envs[i].problem for i in rows],
                                [envs[i].action or "" for i in rows])
            for i, v in zip(rows, verdicts, strict=True):
                out[i] = v
        return out  # type: ignore[return-value]


def verify_episodes(envs: list[Env]) -> list[Verdict]:
    """Verdicts of finished episodes in input order, batched per environment class."""
    out: list[Verdict | None] = [None] * len(envs)
    by_class: dict[type, list[int]] = {}
    for i, e in enumerate(envs):
        by_class.setdefault(type(e), []).append(i)
    for cls, rows in by_class.items():
        for i, v in zip(rows, cls.verify_many([envs[i] for i in rows]), strict=True):
            out[i] = v
    return out  # type: ignore[return-value]
