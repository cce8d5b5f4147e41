"""`ToolEnv`: the common shape of a tool-using environment, for subclasses to fill in.

Each action either calls tools (`<tool_call>` blocks, see `tools.py`) or, when it calls none,
is the episode's final answer and ends the episode. Tool results come back as the next
observation; a tool's failure is observation text, never an exception. Subclasses give the prompt
(`prompt(problem)`) and judge the outcome (`verify`), from `self.final` (the final action's text),
`self.calls` (every call the policy made, with its result) and their own state, never from
observation text.
"""

from __future__ import annotations

from trueloop.config import VerifyConfig
from trueloop.envs.base import Env, Observation, StepResult
from trueloop.envs.tools import (
    BUILTIN_TOOLS,
    Tool,
    ToolCall,
    ToolResult,
    call_tools,
    describe_tools,
    format_results,
    with_settings,
)
from trueloop.types import Message, Problem


class ToolEnv(Env):
    tools: dict[str, Tool] = BUILTIN_TOOLS
    system_prompt: str = "You can call tools. When you know the answer, reply without a tool call."
    call_format: str = "hermes"
    # "hermes" (JSON, native for Qwen-style templates) or "tag" (<name>arg</name>), see tools.py

    def __init__(self, problem: Problem, verify: VerifyConfig | None = None) -> None:
        self.problem = problem
        self.tools = with_settings(self.tools, verify)  # the run's sandbox limits for `python`
        self.final: str | None = None
        self.calls: list[tuple[ToolCall, ToolResult]] = []

    def prompt(self, problem: Problem) -> str:
        return problem.prompt

    def reset(self, problem: Problem, *, seed: int) -> Observation:
        self.problem, self.final, self.calls = problem, None, []
        system = f"{self.system_prompt}\n{describe_tools(self.tools, self.call_format)}"
        return (Message("system", system), Message("user", self.prompt(problem)))

    def step(self, action: str) -> StepResult:
        pairs = call_tools(action, self.tools, self.call_format)
        if not pairs:
            self.final = action
            return StepResult(None, True)
        self.calls += pairs
        results = [r for _, r in pairs]
        info = {"tool_calls": [{"name": r.name, "error": r.error} for r in results]}
        return StepResult(format_results(results, self.call_format), False, info)
