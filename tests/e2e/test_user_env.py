"""A user's multi-turn environment, written only against the public API in its own file, trains
end to end through `trueloop train` (registered by `task.module`, no trueloop edit)."""

from __future__ import annotations

import json
import math
import string
import textwrap

import pytest

from trueloop.cli import main
from trueloop.rollout.record import episode_steps, read_episodes
from trueloop.tracking import read_metrics

pytestmark = pytest.mark.slow

USER_MODULE = '''
import random
from trueloop.envs import Env, StepResult
from trueloop.tasks import register
from trueloop.tasks.base import Draw, Task
from trueloop.types import Verdict


class Relay(Env):
    """Two turns: the env answers the first action with a hint; the last must hold a digit."""

    def __init__(self, problem):
        self.problem, self.actions = problem, []

    def reset(self, problem, *, seed):
        self.actions = []
        return problem.messages

    def step(self, action):
        self.actions.append(action)
        done = len(self.actions) == 2
        return StepResult(None if done else "now say a digit", done)

    def verify(self):
        ok = len(self.actions) == 2 and any(c.isdigit() for c in self.actions[-1])
        return Verdict(ok, float(ok), "ok" if ok else "wrong")


class RelayTask(Task):
    def draw(self, rng: random.Random) -> Draw:
        n = rng.randrange(10_000)
        return Draw(question=f"Relay {n}.", answer=None, key=str(n))

    def make_env(self, problem, *, verify=None):
        return Relay(problem)


register("relay", RelayTask)
'''

CONFIG = '''
steps = 3
seed = 1

[task]
name = "relay"
module = "{module}"
answer_format = "none"

[policy]
model = "tiny"
size = "0.5m"

[rollout]
prompts_per_step = 4
group_size = 4
max_new_tokens = 6
max_turns = 4
stop = {stops}

[update]
lr = 1e-3

[log]
progress = false
'''


def test_user_env_trains_through_the_cli(tmp_path):
    module = tmp_path / "relay_env.py"
    module.write_text(textwrap.dedent(USER_MODULE))
    config = tmp_path / "relay.toml"
    stops = json.dumps(list(string.ascii_letters))  # a random model stops within a few tokens
    config.write_text(CONFIG.format(module=module, stops=stops))
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert all(v is None or not isinstance(v, float) or math.isfinite(v) for v in r.values())
    assert any(r["episode/turns_mean"] > 1.3 for r in rows)  # episodes really took two turns
    assert any(r["reward/std"] > 0 for r in rows), "no reward signal: nothing was trained"
    assert any(r["update/grad_norm"] > 0 for r in rows)
    assert episode_steps(out) == [0, 1, 2]
    episodes = read_episodes(out, 2)
    two = [e for e in episodes if len(e["turns"]) == 2]
    assert two and all(e["turns"][0]["observation"] == "now say a digit" for e in two)
    assert json.loads((out / "config.json").read_text())["task"]["module"] == str(module)
