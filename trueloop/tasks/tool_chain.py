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

What the three horizon environments share (one committed final answer, transcript replay) is
`trueloop.envs.horizon.HorizonEnv` and `trueloop.tasks.horizon.HorizonTask`.
"""

from __future__ import annotations

import random
from typing import ClassVar

from trueloop.envs.horizon import HorizonEnv
from trueloop.envs.tools import Tool, calculator
from trueloop.tasks.base import Draw
from trueloop.tasks.horizon import HorizonTask
from trueloop.types import Problem, Verdict

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
