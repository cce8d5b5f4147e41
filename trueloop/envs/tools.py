"""Tools an environment offers the policy, and the one call format actions use.

A tool is a typed Python function with a docstring (`Tool.from_function`); an environment lists
its tools in the prompt (`describe_tools`). An action calls a tool with a Hermes-style block,
which is also the native tool-call format of Qwen2.5 / Hermes chat templates:

    <tool_call>{"name": "calculator", "arguments": {"expression": "12*34"}}</tool_call>

The closing tag may be missing at the very end of an action (the runner cuts actions before a stop
string such as `</tool_call>`). `call_tools` turns every failure into observation text the model
reads, never an exception: a malformed block, an unknown tool, bad arguments, a tool that raises or
one that runs past its time limit.

Built in: `calculator` (exact rational arithmetic through countdown's safe parser; no `eval`) and
`python` (a program run in the code sandbox, `verify/sandbox.py`, the only module that runs
untrusted code; its stdout comes back).
"""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)
TOOL_TIMEOUT_S = 5.0
# wall clock a tool call may take before its observation says it timed out
MAX_CALLS_PER_ACTION = 4
# more tool calls in one action are refused (observation says so): floods end fast


@dataclass(frozen=True)
class Tool:
    name: str
    fn: Callable[..., Any]
    description: str
    params: tuple[str, ...]
    timeout_s: float = TOOL_TIMEOUT_S

    @classmethod
    def from_function(cls, fn: Callable[..., Any], *, name: str | None = None,
                      timeout_s: float = TOOL_TIMEOUT_S) -> Tool:
        doc = inspect.getdoc(fn)
        if not doc:
            raise ValueError(f"tool {fn.__name__!r} needs a docstring: the model reads it.")
        params = tuple(inspect.signature(fn).parameters)
        return cls(name or fn.__name__, fn, doc.splitlines()[0], params, timeout_s)

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)}): {self.description}"


@dataclass(frozen=True)
class ToolCall:
    name: str | None
    arguments: dict[str, Any]
    error: str | None = None
    # set when the block could not be read; the call is not run


@dataclass(frozen=True)
class ToolResult:
    name: str | None
    output: str
    error: bool


def describe_tools(tools: dict[str, Tool]) -> str:
    """The tool list and call format, for the prompt."""
    lines = "\n".join(f"- {t.signature()}" for t in tools.values())
    return (f"Tools:\n{lines}\nCall one with <tool_call>{{\"name\": NAME, \"arguments\": "
            f"{{...}}}}</tool_call>; its result comes back as the next message.")


def parse_calls(action: str) -> list[ToolCall]:
    """Every `<tool_call>` block in an action, in order (a malformed one carries `error`)."""
    calls = []
    for body in CALL.findall(action):
        try:
            obj = json.loads(body.strip())
        except (ValueError, RecursionError):
            calls.append(ToolCall(None, {}, "the tool call is not valid JSON"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            calls.append(ToolCall(None, {}, 'a tool call needs {"name": ..., "arguments": {...}}'))
            continue
        args = obj.get("arguments", {})
        if not isinstance(args, dict):
            calls.append(ToolCall(obj["name"], {}, "arguments must be a JSON object"))
            continue
        calls.append(ToolCall(obj["name"], args))
    return calls


_POOL = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="trueloop-tool")


def run_call(call: ToolCall, tools: dict[str, Tool]) -> ToolResult:
    """One call's result; every failure is a result with `error=True`, never an exception."""
    if call.error:
        return ToolResult(call.name, f"error: {call.error}", True)
    tool = tools.get(call.name or "")
    if tool is None:
        return ToolResult(call.name, f"error: unknown tool {call.name!r}; known: "
                                     f"{sorted(tools)}", True)
    unknown = set(call.arguments) - set(tool.params)
    if unknown:
        return ToolResult(tool.name, f"error: {tool.name} takes {list(tool.params)}; got "
                                     f"{sorted(unknown)}", True)
    future = _POOL.submit(tool.fn, **call.arguments)
    try:
        return ToolResult(tool.name, str(future.result(timeout=tool.timeout_s)), False)
    except cf.TimeoutError:
        return ToolResult(tool.name, f"error: {tool.name} timed out after {tool.timeout_s}s",
                          True)
    except Exception as e:  # the tool's failure is the model's information, not ours to raise
        return ToolResult(tool.name, f"error: {type(e).__name__}: {e}", True)


def call_tools(action: str, tools: dict[str, Tool]) -> list[tuple[ToolCall, ToolResult]]:
    """Run the action's tool calls (at most MAX_CALLS_PER_ACTION; a refusal result for the rest)
    and return (call, result) pairs; the refusal's call is a `ToolCall` with `error` set."""
    calls = parse_calls(action)
    pairs = [(c, run_call(c, tools)) for c in calls[:MAX_CALLS_PER_ACTION]]
    if len(calls) > MAX_CALLS_PER_ACTION:
        extra = len(calls) - MAX_CALLS_PER_ACTION
        refused = ToolCall(None, {}, f"at most {MAX_CALLS_PER_ACTION} tool calls per turn; "
                                     f"{extra} not run")
        pairs.append((refused, run_call(refused, tools)))
    return pairs


def format_results(results: list[ToolResult]) -> str:
    return "\n".join(f"<tool_response>{r.output}</tool_response>" for r in results)


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly: integers, + - * / and parentheses."""
    from trueloop.tasks.countdown import MAX_EXPR_CHARS, ParseError, Parser, tokenize

    class Signed(Parser):  # countdown's grammar plus unary minus: atom := '-' atom | ...
        def atom(self, depth: int) -> Fraction:
            if self.peek() == "-":
                self.pos += 1
                return -self.atom(depth + 1)
            return super().atom(depth)

    text = str(expression)
    if len(text) > MAX_EXPR_CHARS:
        raise ParseError(f"expression longer than {MAX_EXPR_CHARS} characters")
    value = Signed(tokenize(text)).parse()
    return str(value.numerator) if value.denominator == 1 else str(value)


def python(code: str) -> str:
    """Run a Python program in the sandbox (standard library only); returns what it printed."""
    from trueloop.config import VerifyConfig
    from trueloop.verify.code import shared_sandbox
    from trueloop.verify.sandbox import Job

    run = shared_sandbox(VerifyConfig()).run(Job(source=str(code)))
    text = run.output.strip()
    if run.ended not in ("done", "exited"):
        return f"{text}\n[{run.ended}]".strip()
    return text if text else "(no output)"


BUILTIN_TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool.from_function(calculator), Tool.from_function(python, timeout_s=15.0))}
