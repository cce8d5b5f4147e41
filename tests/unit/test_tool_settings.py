"""The `python` tool runs under the run's `[verify]` settings, not trueloop's defaults."""

from __future__ import annotations

import trueloop.verify.code as code
from trueloop.config import VerifyConfig
from trueloop.envs import BUILTIN_TOOLS, Tool, ToolEnv
from trueloop.types import Problem

PROBLEM = Problem(id="p/0", task="t", prompt="q", messages=(), answer=None)


class Tools(ToolEnv):
    def verify(self):
        raise AssertionError("not verified here")


class Recorder:
    def __init__(self) -> None:
        self.settings: list[VerifyConfig] = []

    def __call__(self, cfg: VerifyConfig):
        self.settings.append(cfg)
        return self

    def run(self, job):
        return type("Run", (), {"output": "ok\n", "ended": "done"})()


def test_the_python_tool_gets_the_runs_verify_settings(monkeypatch) -> None:
    rec = Recorder()
    monkeypatch.setattr(code, "shared_sandbox", rec)
    run_settings = VerifyConfig(timeout_s=0.5, workers=1)
    env = Tools(PROBLEM, run_settings)
    assert env.tools["python"].fn("print('ok')") == "ok"
    Tools(PROBLEM).tools["python"].fn("print('ok')")  # no settings: the defaults
    assert rec.settings == [run_settings, VerifyConfig()]


def test_a_users_own_tools_are_kept_as_given() -> None:
    def python(code: str) -> str:
        """Not the sandbox."""
        return "mine"

    class Mine(Tools):
        tools = {"python": Tool.from_function(python)}

    assert Mine(PROBLEM, VerifyConfig(timeout_s=0.5)).tools is Mine.tools
    assert ToolEnv.tools is BUILTIN_TOOLS  # binding settings never edits the shared table
