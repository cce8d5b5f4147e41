"""Tools an environment offers the policy, and the formats actions call them in.

A tool is a typed Python function with a docstring (`Tool.from_function`); an environment lists
its tools in the prompt (`describe_tools`). Two call formats (`CALL_FORMATS`, picked per
environment):

    hermes  <tool_call>{"name": "calculator", "arguments": {"expression": "12*34"}}</tool_call>
            JSON arguments; the native tool-call format of Qwen2.5 / Hermes chat templates (a
            JSON list of such objects in one block, SmolLM2's form, is read as several calls)
    tag     <calc>12*34</calc>
            one string argument, the tool's name as the tag: short enough for a character-level
            model, whose context is a few hundred tokens

In both, the closing tag may be missing at the very end of an action (the runner cuts actions
before a stop string such as `</tool_call>`). `call_tools` turns every failure into observation
text the model reads, never an exception: a malformed block, an unknown tool, bad arguments, a
tool that raises or one that runs past its time limit.

Built in: `calculator` (exact rational arithmetic over a parsed syntax tree, never `eval`) and
`python` (a program run in the code sandbox, `sandbox/__init__.py`, the only module that runs
untrusted code; its stdout comes back).
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import inspect
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from trueloop.config import VerifyConfig

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


def describe_tools(tools: dict[str, Tool], call_format: str = "hermes") -> str:
    """The tool list and call format, for the prompt."""
    lines = "\n".join(f"- {t.signature()}" for t in tools.values())
    if call_format == "tag":
        how = "Call one as <NAME>ARGUMENT</NAME>"
    else:
        how = 'Call one with <tool_call>{"name": NAME, "arguments": {...}}</tool_call>'
    return f"Tools:\n{lines}\n{how}; its result comes back as the next message."


def parse_calls(action: str, tools: dict[str, Tool] | None = None,
                call_format: str = "hermes") -> list[ToolCall]:
    """Every tool call in an action, in order (a malformed one carries `error`)."""
    if call_format not in CALL_FORMATS:
        raise ValueError(f"unknown tool call format {call_format!r}; known: "
                         f"{sorted(CALL_FORMATS)}.")
    return CALL_FORMATS[call_format](action, tools or {})


def parse_tag_calls(action: str, tools: dict[str, Tool]) -> list[ToolCall]:
    """`<name>argument</name>` for each known one-parameter tool name (other tags are text)."""
    names = [re.escape(n) for n, t in tools.items() if len(t.params) == 1]
    if not names:
        return []
    pattern = re.compile(rf"<({'|'.join(names)})>(.*?)(?:</\1>|\Z)", re.S)
    return [ToolCall(name, {tools[name].params[0]: arg}) for name, arg in pattern.findall(action)]


def parse_hermes_calls(action: str, tools: dict[str, Tool]) -> list[ToolCall]:
    """Every `<tool_call>{json}</tool_call>` block; a block holding a JSON list of call objects
    (SmolLM2's form, `[]` for no call) gives one call per element."""
    calls = []
    for body in CALL.findall(action):
        try:
            obj = json.loads(body.strip())
        except (ValueError, RecursionError):
            calls.append(ToolCall(None, {}, "the tool call is not valid JSON"))
            continue
        calls.extend(_hermes_call(o) for o in (obj if isinstance(obj, list) else [obj]))
    return calls


def _hermes_call(obj: Any) -> ToolCall:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return ToolCall(None, {}, 'a tool call needs {"name": ..., "arguments": {...}}')
    args = obj.get("arguments", {})
    if not isinstance(args, dict):
        return ToolCall(obj["name"], {}, "arguments must be a JSON object")
    return ToolCall(obj["name"], args)


CALL_FORMATS = {"hermes": parse_hermes_calls, "tag": parse_tag_calls}


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


def call_tools(action: str, tools: dict[str, Tool],
               call_format: str = "hermes") -> list[tuple[ToolCall, ToolResult]]:
    """Run the action's tool calls (at most MAX_CALLS_PER_ACTION; a refusal result for the rest)
    and return (call, result) pairs; the refusal's call is a `ToolCall` with `error` set."""
    calls = parse_calls(action, tools, call_format)
    pairs = [(c, run_call(c, tools)) for c in calls[:MAX_CALLS_PER_ACTION]]
    if len(calls) > MAX_CALLS_PER_ACTION:
        extra = len(calls) - MAX_CALLS_PER_ACTION
        refused = ToolCall(None, {}, f"at most {MAX_CALLS_PER_ACTION} tool calls per turn; "
                                     f"{extra} not run")
        pairs.append((refused, run_call(refused, tools)))
    return pairs


def format_results(results: list[ToolResult], call_format: str = "hermes") -> str:
    if call_format == "tag":  # bare results, one per line: the short form for small models
        return "\n".join(r.output for r in results)
    return "\n".join(f"<tool_response>{r.output}</tool_response>" for r in results)


CALC_MAX_CHARS = 300
CALC_MAX_DIGITS = 100
# an expression or intermediate value beyond these is refused (no time or memory bombs)
CALC_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
            ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}


def calculator(expression: str) -> str:
    """Evaluate arithmetic exactly: integers, + - * / // % and parentheses."""
    text = str(expression).replace("\u00d7", "*").replace("\u00f7", "/").replace("\u2212", "-")
    if len(text) > CALC_MAX_CHARS:
        raise ValueError(f"expression longer than {CALC_MAX_CHARS} characters")
    value = _calc(ast.parse(text.strip(), mode="eval").body, 0)  # parsed, never evaluated
    return str(value.numerator) if value.denominator == 1 else str(value)


def _calc(node: ast.AST, depth: int) -> Fraction:
    if depth > 50:
        raise ValueError("expression nested too deeply")
    if isinstance(node, ast.Constant) and type(node.value) is int:
        value = Fraction(node.value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _calc(node.operand, depth + 1)
        value = -inner if isinstance(node.op, ast.USub) else inner
    elif isinstance(node, ast.BinOp) and type(node.op) in CALC_OPS:
        a, b = _calc(node.left, depth + 1), _calc(node.right, depth + 1)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and b == 0:
            raise ZeroDivisionError("division by zero")
        value = Fraction(CALC_OPS[type(node.op)](a, b))
    else:
        raise ValueError("only integers, + - * / // % and parentheses")
    if max(abs(value.numerator), value.denominator) >= 10 ** CALC_MAX_DIGITS:
        raise ValueError(f"a value with more than {CALC_MAX_DIGITS} digits")
    return value


def python_tool(settings: VerifyConfig | None = None) -> Tool:
    """The `python` tool, run on the sandbox pool of `settings` (the run's `[verify]`:
    `timeout_s` per program, `workers`); `VerifyConfig()` defaults when None."""

    def python(code: str) -> str:
        """Run a Python program in the sandbox (standard library only); returns what it printed."""
        # lazy: the sandbox and the code verifier load only when a policy runs a program
        from trueloop.sandbox import Job
        from trueloop.verify.code import shared_sandbox

        run = shared_sandbox(settings or VerifyConfig()).run(Job(source=str(code)))
        text = run.output.strip()
        if run.ended not in ("done", "exited"):
            return f"{text}\n[{run.ended}]".strip()
        return text if text else "(no output)"

    return Tool.from_function(python, timeout_s=15.0)


def with_settings(tools: dict[str, Tool], settings: VerifyConfig | None) -> dict[str, Tool]:
    """`tools` with the built-in `python` tool bound to the run's `[verify]` settings (any
    other tool, a user's own `python` included, is kept as given)."""
    if settings is None or tools.get("python") is not BUILTIN_TOOLS["python"]:
        return tools
    return {**tools, "python": python_tool(settings)}


BUILTIN_TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool.from_function(calculator), python_tool())}
