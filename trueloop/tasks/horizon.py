"""`HorizonTask`: the task side of the horizon environments (`tool_chain`, `lookup`, `memory`).

Its episodes are `HorizonEnv`s (`trueloop.envs.horizon`); it has a horizon knob (operations,
`get` calls or recall distance; `DEFAULT_HORIZON` when unset), and its `verify(problem, text)`
replays a transcript of actions against a fresh environment, so the single-string contract tests
and `oracle()` mean what an episode means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from trueloop.envs.horizon import HorizonEnv, split_actions
from trueloop.tasks.base import Task
from trueloop.types import Problem, Verdict

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig

DEFAULT_HORIZON = 3
# operations (tool_chain), get calls (lookup) or recall distance (memory) when horizon is None
MAX_REPLAY_ACTIONS = 64
# `HorizonTask.verify` replays at most this many actions of a transcript


class HorizonTask(Task):
    """A task whose episodes are `HorizonEnv`s (`env_class`), with a horizon knob."""

    has_horizon: ClassVar[bool] = True
    env_class: ClassVar[type[HorizonEnv]]
    tool_names: ClassVar[tuple[str, ...]]

    @property
    def steps(self) -> int:
        return self.horizon or DEFAULT_HORIZON

    def make_env(self, problem: Problem, *, verify: VerifyConfig | None = None) -> HorizonEnv:
        return self.env_class(problem, verify)

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
