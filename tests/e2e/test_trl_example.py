"""The TRL example end to end: two real GRPOTrainer steps rewarded by a trueloop verifier."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from trueloop.integrations.trl import HIDDEN, reward_function

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "01_train_with_trl.py"


def load_example():
    spec = importlib.util.spec_from_file_location("example_01_train_with_trl", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_grpo_steps_call_the_reward_with_hidden_columns_and_log_reasons(tmp_path):
    reward = reward_function("arithmetic", difficulty=1)
    calls: list[dict] = []

    def trueloop_arithmetic(prompts, completions, **kwargs):
        calls.append({"prompts": prompts, "completions": completions, **kwargs})
        return reward(prompts, completions, **kwargs)

    trainer = load_example().train("arithmetic", 1, steps=2, out=tmp_path,
                                   reward=trueloop_arithmetic, prior_steps=40)
    assert len(calls) == 2
    for call in calls:
        assert set(HIDDEN) <= set(call)
        assert {"trainer_state", "log_metric", "log_extra", "completion_ids"} <= set(call)
        assert all(isinstance(p, str) and "\\boxed{}" in p for p in call["prompts"])
        assert all(t == "arithmetic" for t in call["task"])
        assert len(call["answer"]) == len(call["completions"]) == 8
    logged = [row for row in trainer.state.log_history if "rewards/trueloop_arithmetic/mean" in row]
    assert [row["step"] for row in logged] == [1, 2]
    for row in logged:
        rates = {k.rsplit("/", 1)[1]: v for k, v in row.items()
                 if k.startswith("trueloop_arithmetic/reason/")}
        assert {"ok", "wrong", "no_answer", "multiple_answers"} <= set(rates)
        assert math.isclose(sum(rates.values()), 1.0, abs_tol=1e-6)
        assert math.isfinite(row["loss"])
