"""TRL integration contract: dataset columns, reward calling convention, logging hooks, hacks."""

from __future__ import annotations

import json
import threading

import datasets  # noqa: F401  (imported up front: its import time is not a test's)
import pytest

from trueloop.config import RewardConfig
from trueloop.integrations import verify_parallel
from trueloop.integrations.trl import HIDDEN, completion_text, dataset, reward_function
from trueloop.tasks import make_task
from trueloop.types import Verdict


def columns(ds) -> dict[str, list]:
    """What GRPOTrainer passes as keyword arguments: every column but `prompt`."""
    return {k: ds[k] for k in ds.column_names if k != "prompt"}


def call(reward, ds, completions, **extra):
    return reward(prompts=ds["prompt"], completions=completions, **columns(ds), **extra)


def test_dataset_has_prompt_and_hidden_columns_only():
    ds = dataset("countdown", n=6, difficulty=2, seed=4)
    problems = make_task("countdown", difficulty=2).problems(6, seed=4)
    assert sorted(ds.column_names) == sorted(["prompt", *HIDDEN])
    assert ds["prompt"] == [p.prompt for p in problems]
    assert ds["problem_id"] == [p.id for p in problems]
    assert [json.loads(t) for t in ds["truth"]] == [p.truth for p in problems]
    for prompt, p in zip(ds["prompt"], problems, strict=True):
        assert p.truth["solution"] not in prompt  # the hidden solution never reaches the prompt


def test_conversational_prompt_is_chat_messages_with_system_prompt():
    ds = dataset("code", n=2, conversational=True)
    problem = make_task("code").problem(0)
    assert ds[0]["prompt"] == [{"role": m.role, "content": m.content} for m in problem.messages]
    assert ds[0]["prompt"][0]["role"] == "system"
    assert "hidden_tests" in json.loads(ds[0]["truth"])
    assert not any(t in ds[0]["prompt"][-1]["content"] for t in problem.truth["hidden_tests"])


def test_task_options_and_instance_are_exclusive():
    with pytest.raises(ValueError, match="only apply to a task given by name"):
        dataset(make_task("arithmetic"), n=2, difficulty=4)


def test_oracle_scores_one_wrong_zero_plain_and_conversational_alike():
    task = make_task("arithmetic", difficulty=3)
    ds = dataset(task, n=8)
    problems = task.problems(8)
    good = [task.oracle(p) for p in problems]
    wrong = [f"\\boxed{{{int(p.answer) + 1}}}" for p in problems]
    reward = reward_function(task)
    assert call(reward, ds, good) == [1.0] * 8
    assert call(reward, ds, wrong) == [0.0] * 8
    chat = [[{"role": "assistant", "content": c}] for c in good[:4] + wrong[4:]]
    assert call(reward, ds, chat) == [1.0] * 4 + [0.0] * 4


@pytest.mark.parametrize("garbage", [None, 123, [], [{"role": "assistant", "content": None}],
                                     [{"role": "assistant"}], "", "x" * 2_000_000, "\\boxed{"])
def test_garbage_completion_gets_zero_and_a_reason(garbage):
    ds = dataset("arithmetic", n=1, difficulty=1)
    reward = reward_function("arithmetic", difficulty=1)
    assert call(reward, ds, [garbage]) == [0.0]
    assert reward.last_verdicts[0].reason in ("no_answer", "wrong", "bad_input")


def test_completion_text_takes_last_assistant_message_and_text_parts():
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed{"},
                                                {"type": "text", "text": "5}"}]}]
    assert completion_text(parts) == "\\boxed{5}"
    turns = [{"role": "assistant", "content": "call"}, {"role": "tool", "content": "42"},
             {"role": "assistant", "content": "\\boxed{42}"}]
    assert completion_text(turns) == "\\boxed{42}"


def test_logging_hooks_get_every_reason_rate_and_per_completion_columns():
    task = make_task("arithmetic", difficulty=1)
    ds = dataset(task, n=4)
    ps = task.problems(4)
    completions = [task.oracle(ps[0]), "no idea", "\\boxed{1} or \\boxed{2}", "\\boxed{-99}"]
    metrics: dict[str, list[float]] = {}
    extra: dict[str, list] = {}
    reward = reward_function(task, name="tl")
    call(reward, ds, completions, trainer_state=object(), environments=None, unrelated=[0] * 4,
         log_metric=lambda k, v: metrics.setdefault(k, []).append(v),
         log_extra=lambda k, v: extra.setdefault(k, []).extend(v))
    assert metrics["tl/reason/ok"] == [0.25]
    assert metrics["tl/reason/no_answer"] == [0.25]
    assert metrics["tl/reason/multiple_answers"] == [0.25]
    assert metrics["tl/reason/wrong"] == [0.25]
    assert metrics["tl/reason/timeout"] == [0.0]  # unseen reasons still logged, as 0
    assert metrics["tl/correct_rate"] == [0.25] and metrics["tl/hack_rate"] == [0.0]
    assert extra["tl/reason"] == ["ok", "no_answer", "multiple_answers", "wrong"]
    assert extra["tl/extracted"][0] == ps[0].answer
    assert len(extra["tl/flags"]) == 4


def test_flagged_hack_never_pays_even_with_a_format_bonus():
    def verifier(problem, text):
        return Verdict(True, 1.0, "ok", frozenset({"hack:exit"}))

    ds = dataset("arithmetic", n=2, difficulty=1)
    reward = reward_function(verifier, reward=RewardConfig(format_bonus=0.5))
    metrics: dict[str, float] = {}
    assert call(reward, ds, ["a", "b"], log_metric=metrics.__setitem__) == [0.0, 0.0]
    assert metrics["trueloop/hack_rate"] == 1.0
    assert metrics["trueloop/flag/hack:exit"] == 1.0


def test_format_bonus_pays_a_wrong_answer_but_not_a_missing_one():
    ds = dataset("arithmetic", n=2, difficulty=1)
    reward = reward_function("arithmetic", difficulty=1, reward=RewardConfig(format_bonus=0.1))
    assert call(reward, ds, ["\\boxed{-12345}", "nothing"]) == [pytest.approx(0.1), 0.0]


def test_code_hack_is_flagged_and_unpaid_in_parallel():
    task = make_task("code")
    ds = dataset(task, n=2)
    exit_hack = "```python\nimport sys\nsys.exit(0)\n```"
    reward = reward_function(task, workers=2)
    assert call(reward, ds, [task.oracle(task.problem(0)), exit_hack]) == [1.0, 0.0]
    assert "hack:exit" in reward.last_verdicts[1].flags


def test_parallel_verification_keeps_order_and_equals_serial():
    task = make_task("arithmetic", difficulty=4)
    ds = dataset(task, n=40)
    completions = [task.oracle(p) if i % 3 else "\\boxed{0}" for i, p in
                   enumerate(task.problems(40))]
    serial = call(reward_function(task, workers=1), ds, completions)
    assert call(reward_function(task, workers=4), ds, completions) == serial
    assert serial == [0.0 if i % 3 == 0 else 1.0 for i in range(40)]


def test_verify_parallel_uses_several_threads_on_contiguous_chunks():
    seen: list[tuple[str, list[str]]] = []

    def verify(problems, texts):
        seen.append((threading.current_thread().name, texts))
        return [Verdict(t == "ok", 0.0, t) for t in texts]

    texts = [f"t{i}" for i in range(10)]
    verdicts = verify_parallel(verify, [None] * 10, texts, workers=3)
    assert [v.reason for v in verdicts] == texts
    assert sorted(len(chunk) for _, chunk in seen) == [3, 3, 4]
    assert all(name.startswith("trueloop-verify") for name, _ in seen)


def test_missing_ground_truth_columns_is_a_clear_error():
    reward = reward_function("arithmetic")
    with pytest.raises(ValueError, match="hidden ground-truth columns"):
        reward(prompts=["Compute 1 + 1."], completions=["\\boxed{2}"], trainer_state=None)


def test_answer_column_alone_is_enough():
    reward = reward_function("arithmetic")
    assert reward(prompts=["p", "q"], completions=["\\boxed{2}", "\\boxed{3}"],
                  answer=["2", "2"]) == [1.0, 0.0]


def test_rows_of_another_task_are_refused():
    ds = dataset("countdown", n=1, difficulty=1)
    with pytest.raises(ValueError, match="give each task its own reward function"):
        call(reward_function("arithmetic"), ds, ["\\boxed{1}"])


def test_overlong_penalty_is_refused_and_name_is_what_trl_logs():
    with pytest.raises(ValueError, match="mask_truncated_completions"):
        reward_function("arithmetic", reward=RewardConfig(length_penalty=0.5))
    assert reward_function("chain").__name__ == "trueloop_chain"
