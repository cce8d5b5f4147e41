"""The horizon environments (tool_chain, lookup, memory): oracle and adversarial policies played
against each env, splits, determinism, the memory store's snapshot/commit/resume semantics, and
one episode through the real runner with a scripted policy."""

from __future__ import annotations

import json
import re

import pytest
import torch

from trueloop.config import RolloutConfig
from trueloop.envs import verify_episodes
from trueloop.tasks import TASKS, make_task

NAMES = [n for n in ("tool_chain", "lookup", "memory") if n in TASKS]
HORIZONS = (1, 2, 3, 6)


def task_of(name: str, horizon: int = 3, difficulty: int = 2, **kw):
    return make_task(name, difficulty=difficulty, horizon=horizon, answer_format="none", **kw)


def play(task, p, actions: list[str]):
    """Actions played straight against a fresh env: (verdict, observations)."""
    env = task.make_env(p)
    env.reset(p, seed=0)
    observations = []
    for a in actions:
        r = env.step(a)
        observations.append(r.observation or "")
        if r.done:
            break
    return env.verify(), observations


def oracle(task, p) -> list[str]:
    return task.make_env(p).oracle_actions(p)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("horizon", HORIZONS)
def test_oracle_actions_reach_reward_one(name: str, horizon: int) -> None:
    task = task_of(name, horizon)
    for p in task.problems(5, "train") + task.problems(3, "test"):
        actions = oracle(task, p)
        assert all(a.endswith(f"</{a[1:a.index('>')]}>") for a in actions[:-1]), actions
        v, _ = play(task, p, actions)
        assert v.correct and v.reward == 1.0 and v.reason == "ok", (p.prompt, actions, v)
        assert task.verify(p, task.oracle(p)).correct  # the joined transcript replays to 1


def wrong_guess(truth: str) -> str:
    return str(int(truth) + 1)


@pytest.mark.parametrize("name", NAMES)
def test_adversarial_actions_get_zero(name: str) -> None:
    task = task_of(name, 3)
    for p in task.problems(4, "train", seed=2):
        right = oracle(task, p)
        truth = re.fullmatch(r"\\boxed\{(.*)\}", right[-1]).group(1)
        attacks = {
            "guess, no tool call": [f"\\boxed{{{wrong_guess(truth)}}}"],
            "prompt echoed": [p.prompt],
            "empty": [""],
            "boxed in a call turn, then another": [right[0] + "\\boxed{1}", *right[1:]],
            "two final answers in one": [*right[:-1], f"{right[-1]} \\boxed{{{truth}0}}"],
            "flood of calls, no answer": [right[0] * 9] * 20,
        }
        _, observations = play(task, p, right)
        decoys = {n for o in observations for n in re.findall(r"\d+", o)} - {truth}
        assert decoys, observations  # every env shows values that are not the answer
        for d in sorted(decoys):
            attacks[f"decoy {d} copied"] = [*right[:-1], f"\\boxed{{{d}}}"]
        for label, actions in attacks.items():
            v, _ = play(task, p, actions)
            assert not v.correct and v.reward == 0.0, (label, p.prompt, v)
            if label.startswith(("boxed in a call", "two final")):
                assert v.reason == "multiple_answers", (label, v)
            if label.startswith(("empty", "flood", "prompt")):
                assert v.reason == "no_answer", (label, v)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_problems_and_knobs_apply(name: str) -> None:
    a = [p.to_json() for p in task_of(name, 4).problems(8, "train", seed=3)]
    b = [p.to_json() for p in task_of(name, 4).problems(8, "train", seed=3)]
    assert a == b and a != [p.to_json() for p in task_of(name, 4).problems(8, seed=4)]
    assert {json.dumps(p["meta"]["horizon"]) for p in a} == {"4"}


def content(p) -> str:
    return json.dumps([p.prompt, p.truth], sort_keys=True)


@pytest.mark.parametrize("name", NAMES)
def test_train_and_test_are_disjoint(name: str) -> None:
    task = task_of(name, 2, difficulty=1)  # a small content space: collisions would show
    train = {content(p) for p in task.problems(1500, "train")}
    test = {content(p) for p in task.problems(500, "test")}
    assert len(train) > 500 and len(test) > 100 and not train & test


@pytest.mark.parametrize("name", NAMES)
def test_the_facts_are_not_in_the_prompt(name: str) -> None:
    task = task_of(name, 3)
    for p in task.problems(20, "train"):
        truth = re.fullmatch(r"\\boxed\{(.*)\}", oracle(task, p)[-1]).group(1)
        if name != "memory" or p.meta.get("age"):  # memory at age 0 asks the shown fact
            assert truth not in re.findall(r"\d+", p.prompt), p.prompt


def test_tool_chain_prompt_and_episode_fit_the_tiny_context() -> None:
    task = task_of("tool_chain", 6)
    for p in task.problems(50, "train"):
        _, observations = play(task, p, oracle(task, p))
        actions = oracle(task, p)
        assert len(p.prompt) + sum(map(len, actions)) + sum(len(o) + 2 for o in observations) \
            <= 230
    p = task_of("tool_chain", 3).problem(0)
    assert re.fullmatch(r"x=\d+(; x(\*|//|%|\+)=\d+){3}\. x\?", p.prompt), p.prompt


@pytest.mark.parametrize("name", NAMES)
def test_oracle_plays_through_the_runner(name: str, monkeypatch) -> None:
    """A real `run_episodes` on a tiny model, the draws scripted to write the oracle actions."""
    from trueloop.policy import build_tiny
    from trueloop.rollout import episodes, run_episodes

    policy = build_tiny("0.5m", seed=0)
    horizon = 3
    task = task_of(name, horizon)
    p = task.problem(1)
    actions = oracle(task, p)
    tok = policy.tokenizer
    # as test_episodes.scripted, but EOS only after the final answer: a tool action ends at its
    # closing tag (a stop string), so the next draw already belongs to the next turn
    ids = tok("".join(actions), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    script = iter(ids)  # one draw per position fills every row: both rows write the same

    def draw(logits, generator, method="race"):
        return torch.full((logits.shape[0],), next(script), dtype=torch.long)

    monkeypatch.setattr(episodes, "draw", draw)
    cfg = RolloutConfig(stop=task.stop_strings(), max_turns=horizon + 2, max_new_tokens=40)
    envs = [task.make_env(p) for _ in range(2)]
    b = run_episodes(policy, envs, cfg, generator=torch.Generator().manual_seed(0),
                     group_size=2)
    for ep in b.episodes:
        assert ep.stop_reason == "done" and len(ep.turns) == len(actions), ep
    assert [v.reward for v in verify_episodes(envs)] == [1.0, 1.0]
