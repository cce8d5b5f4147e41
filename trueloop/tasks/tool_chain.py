"""`tool_chain`: H dependent computations, each one `calc` call whose result feeds the next.

    x=37; x*=48; x//=7; x%=100. x?          the prompt (answer_format="none")
    <calc>37*48</calc>      -> 1776          each operation applies to the running value
    <calc>1776//7</calc>    -> 253
    <calc>253%100</calc>    -> 53
    \\boxed{53}                              an action with no call ends the episode

Horizon = H (the number of operations, default 3); difficulty = operand digits (1..10). Values
stay below 10**(2*difficulty) and every operation changes the value, so each intermediate result
differs from the final answer (copying an earlier observation is just wrong). The split key is
the question text.

This module also holds what the three horizon environments (`tool_chain`, `lookup`, `memory`)
share: `HorizonEnv`, a `ToolEnv` in the short "tag" call format that keeps every action's
answer, and `HorizonTask`, whose `verify(problem, text)` replays a transcript of actions against
a fresh environment (so the single-string contract tests and `oracle()` mean what an episode
means). One committed final answer per episode: a `\\boxed{}` in any action (a tool-calling one
too) commits that answer; differing answers across turns are `multiple_answers`. Reasons: `ok`,
`wrong`, `no_answer`, `multiple_answers`. Verdicts come from the environment's state and the
actions, never from observation text.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, ClassVar

from trueloop.envs.base import Observation, StepResult
from trueloop.envs.tool_env import ToolEnv
from trueloop.envs.tools import Tool, calculator
from trueloop.tasks.base import Draw, Task
from trueloop.types import Problem, Verdict
from trueloop.verify.extract import extract_answer

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig

DEFAULT_HORIZON = 3
# operations (tool_chain), get calls (lookup) or recall distance (memory) when horizon is None
MAX_REPLAY_ACTIONS = 64
# `HorizonTask.verify` replays at most this many actions of a transcript


class HorizonEnv(ToolEnv):
    """A tag-format `ToolEnv` that records the answer every action states. The first observation
    is the problem's own messages (no tool list: the prompt stays short for a tiny model)."""

    call_format: str = "tag"

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem)
        self.actions: list[str] = []

    def reset(self, problem: Problem, *, seed: int) -> Observation:
        super().reset(problem, seed=seed)
        self.actions = []
        return problem.messages

    def step(self, action: str) -> StepResult:
        self.actions.append(action)
        return super().step(action)

    def oracle_actions(self, problem: Problem) -> list[str]:
        """Actions that reach reward 1, each tool-calling one ending with its closing tag."""
        raise NotImplementedError

    def judge(self, truth: str, **details) -> Verdict:
        """The one committed answer of the episode against `truth` (exact string match)."""
        details = {"tool_calls": len(self.calls), **details}
        found: list[str] = []
        for action in self.actions:
            ex = extract_answer(action)
            if ex.reason == "multiple_answers":
                return Verdict(False, 0.0, "multiple_answers", details=details)
            if ex.answer is not None:
                found.append(ex.answer)
        if not found:
            return Verdict(False, 0.0, "no_answer", details=details)
        if len(set(found)) > 1:
            return Verdict(False, 0.0, "multiple_answers", details=details)
        ok = found[0] == truth
        return Verdict(ok, float(ok), "ok" if ok else "wrong", extracted=found[0],
                       details=details)


def split_actions(text: str, stops: tuple[str, ...]) -> list[str]:
    """A transcript cut into actions: each ends after a closing tag; the rest is the last one."""
    cuts = [m.end() for m in re.finditer("|".join(map(re.escape, stops)), text)]
    parts = [text[a:b] for a, b in zip([0, *cuts], cuts, strict=False)]
    rest = text[cuts[-1]:] if cuts else text
    return parts + [rest] if rest.strip() or not parts else parts


class HorizonTask(Task):
    """A task whose episodes are `HorizonEnv`s (`env_class`), with a horizon knob."""

    has_horizon: ClassVar[bool] = True
    env_class: ClassVar[type[HorizonEnv]]
    tool_names: ClassVar[tuple[str, ...]]

    @property
    def steps(self) -> int:
        return self.horizon or DEFAULT_HORIZON

    def make_env(self, problem: Problem, *, verify: VerifyConfig | None = None) -> HorizonEnv:
        return self.env_class(problem)

    def replay_env(self, problem: Problem) -> HorizonEnv:
        """The env `verify` replays a transcript in (one with no run-level side effects)."""
        return self.make_env(problem)

    def stop_strings(self) -> tuple[str, ...]:
        """The closing tags that end a turn (`rollout.stop`)."""
        return tuple(f"</{n}>" for n in self.tool_names)

    def oracle(self, problem: Problem) -> str:
        """The oracle's actions joined: a transcript `verify` replays to reward 1."""
        return "".join(self.make_env(problem).oracle_actions(problem))

    def verify(self, problem: Problem, completion: str,
               cfg: VerifyConfig | None = None) -> Verdict:
        """Replay `completion`, cut into actions at the closing tags, against a fresh env."""
        env = self.replay_env(problem)
        env.reset(problem, seed=0)
        for action in split_actions(completion, self.stop_strings())[:MAX_REPLAY_ACTIONS]:
            if env.step(action).done:
                break
        return env.verify()


OPS = ("*", "//", "%", "+")


class ToolChainEnv(HorizonEnv):
    tools: dict[str, Tool] = {"calc": Tool.from_function(calculator, name="calc")}

    def oracle_actions(self, problem: Problem) -> list[str]:
        return [f"<calc>{e}</calc>" for e in problem.truth["exprs"]] + [
            f"\\boxed{{{problem.answer}}}"]

    def verify(self) -> Verdict:
        return self.judge(str(self.problem.answer))


class ToolChain(HorizonTask):
    name: ClassVar[str] = "tool_chain"
    description: ClassVar[str] = "H dependent calculator calls, each result feeding the next"
    env_class: ClassVar[type[HorizonEnv]] = ToolChainEnv
    tool_names: ClassVar[tuple[str, ...]] = ("calc",)

    def draw(self, rng: random.Random) -> Draw:
        d = self.difficulty
        lo, hi = (2 if d == 1 else 10 ** (d - 1)), 10**d - 1
        value = rng.randint(lo, hi)
        words, exprs, values = [f"x={value}"], [], []
        for _ in range(self.steps):
            op, k, new = self._step(rng, value, lo, hi)
            words.append(f"x{op}={k}")
            exprs.append(f"{value}{op}{k}")
            values.append(new)
            value = new
        question = f"{'; '.join(words)}. x?"
        return Draw(question=question, answer=str(value), key=question,
                    truth={"exprs": exprs, "values": values}, meta={"horizon": self.steps})

    def _step(self, rng: random.Random, v: int, lo: int, hi: int) -> tuple[str, int, int]:
        """One operation that changes the value and keeps it in 2 .. 10**(2d) - 1."""
        cap = 10 ** (2 * self.difficulty)
        while True:
            op = rng.choice(OPS)
            k = rng.randint(lo, hi) if op in "*+" else rng.randint(2, max(hi, 9))
            new = v * k if op == "*" else v // k if op == "//" else v % k if op == "%" else v + k
            if 2 <= new < cap and new != v:
                return op, k, new
