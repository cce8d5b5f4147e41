"""trueloop.envs: the environment protocol (`Env`, `StepResult`), the single-turn wrapper every
task gets by default, and the tools environments offer. See docs/envs.md."""

from trueloop.envs.base import Env, Observation, SingleTurnEnv, StepResult, verify_episodes
from trueloop.envs.tool_env import ToolEnv
from trueloop.envs.tools import BUILTIN_TOOLS, Tool, call_tools, describe_tools, parse_calls

__all__ = ["BUILTIN_TOOLS", "Env", "Observation", "SingleTurnEnv", "StepResult", "Tool",
           "ToolEnv", "call_tools", "describe_tools", "parse_calls", "verify_episodes"]
