"""`HorizonEnv`: what the horizon environments (`tool_chain`, `lookup`, `memory`) share.

A `ToolEnv` in the short "tag" call format (`<calc>37*48</calc>`) that keeps every action, so
the episode's one committed final answer can be judged: a `\\boxed{}` in any action (a
tool-calling one too) commits that answer; differing answers across turns are
`multiple_answers`. Reasons: `ok`, `wrong`, `no_answer`, `multiple_answers`. Verdicts come from
the environment's state and the actions, never from observation text. `split_actions` cuts a
whole transcript back into actions at the closing tags (`trueloop.tasks.horizon` replays it).
"""

from __future__ import annotations

import re

from trueloop.config import VerifyConfig
from trueloop.envs.base import Observation, StepResult
from trueloop.envs.tool_env import ToolEnv
from trueloop.types import Problem, Verdict
from trueloop.verify.extract import extract_answer


class HorizonEnv(ToolEnv):
    """A tag-format `ToolEnv` that records the answer every action states. The first observation
    is the problem's own messages (no tool list: the prompt stays short for a tiny model)."""

    call_format: str = "tag"

    def __init__(self, problem: Problem, verify: VerifyConfig | None = None) -> None:
        super().__init__(problem, verify)
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
