"""`chain`: apply N given operations in sequence to a start value (the horizon axis).

`Start at 7, then +3, *2, -5. Result?` -- operations apply in order, left to right, each to the
running value (no precedence), so every step depends on the previous one and the
horizon (number of operations, 1..64; default 2 + difficulty // 2) is the main knob and the
task isolates how accuracy decays with the number of dependent steps.

This is the task of the CPU demo, where a ~1M-parameter character-level model learns by RL, so
prompts are compact and low difficulties keep every value small:
- d1-2: arithmetic mod 10 (prompt starts `Mod 10.`), operands 1..9; d1 only adds and subtracts;
- d3-4: mod 100, operands up to 9 (d3) or 99 (d4), times by 2..9;
- d5+:  plain integers, add/sub operands up to 10**(d-3), times by 2..(d-1); a multiplication
  that would leave |value| > 10**(d-2) is replaced by an addition, so values stay bounded.
The split key is the question text.
"""

from __future__ import annotations

import random
from typing import ClassVar

from trueloop.tasks.base import Draw, Task
from trueloop.types import Problem


def modulus(difficulty: int) -> int | None:
    return 10 if difficulty <= 2 else 100 if difficulty <= 4 else None


def default_horizon(difficulty: int) -> int:
    return 2 + difficulty // 2


class Chain(Task):
    name: ClassVar[str] = "chain"
    has_horizon: ClassVar[bool] = True
    description: ClassVar[str] = "apply N operations in sequence to a start value (horizon = N)"

    def draw(self, rng: random.Random) -> Draw:
        d = self.difficulty
        steps = self.horizon or default_horizon(d)
        mod = modulus(d)
        value = rng.randint(0, 9) if mod else rng.randint(0, 10 ** (d - 4))
        start = value
        words, trace = [], []
        for _ in range(steps):
            op, k = self._step(rng, value)
            before = value
            value = value + k if op == "+" else value - k if op == "-" else value * k
            if mod:
                value %= mod
            words.append(f"{op}{k}")
            trace.append(f"{before}{op}{k}={value}")
        head = f"Mod {mod}. " if mod else ""
        question = f"{head}Start at {start}, then {', '.join(words)}. Result?"
        return Draw(question=question, answer=str(value), key=question,
                    truth={"trace": trace}, meta={"horizon": steps, "modulus": mod})

    def solution(self, problem: Problem) -> str:
        """Worked solution, one `a+k=b` step per operation: `7+3=0,0-5=5. \\boxed{5}`."""
        return f"{','.join(problem.truth['trace'])}. \\boxed{{{problem.answer}}}"

    def _step(self, rng: random.Random, value: int) -> tuple[str, int]:
        d = self.difficulty
        ops = "+-" if d == 1 else "+-*"
        op = rng.choice(ops)
        if op == "*":
            k = rng.randint(2, 9 if d <= 4 else d - 1)
            if modulus(d) or abs(value * k) <= 10 ** (d - 2):
                return op, k
            op = "+"
        hi = 9 if d <= 3 else 99 if d == 4 else 10 ** (d - 3)
        return op, rng.randint(1, hi)
