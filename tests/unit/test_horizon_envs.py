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


def warm(task, seed: int, n: int) -> None:
    """Train problems 0..n-1 played by the oracle, one commit each (memory's store fills up;
    the other envs have no run-level state)."""
    for i in range(n):
        p = task.problem(i, "train", seed)
        play(task, p, oracle(task, p))
        task.end_step()


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
    warm(task, 2, 4)
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
        if name != "memory":  # memory's shown value may equal another fact's by chance
            assert truth not in re.findall(r"\d+", p.prompt), p.prompt
        if name == "memory":  # the asked key's fact is never the one shown
            assert p.meta["age"] == 0 or f"{p.truth['target']}=" not in p.prompt, p.prompt


def test_tool_chain_prompt_and_episode_fit_the_tiny_context() -> None:
    task = task_of("tool_chain", 6)
    for p in task.problems(50, "train"):
        _, observations = play(task, p, oracle(task, p))
        actions = oracle(task, p)
        assert len(p.prompt) + sum(map(len, actions)) + sum(len(o) + 2 for o in observations) \
            <= 230
    p = task_of("tool_chain", 3).problem(0)
    assert re.fullmatch(r"x=\d+(; x(\*|//|%|\+)=\d+){3}\. x\?", p.prompt), p.prompt


@pytest.fixture(scope="module")
def tiny():
    from trueloop.policy import build_tiny

    return build_tiny("0.5m", seed=0)


def run_scripted(policy, task, p, text: str, horizon: int, monkeypatch):
    """A real `run_episodes` on a tiny model (two episodes of `p`), every draw scripted to write
    `text`: as test_episodes.scripted, but no EOS between actions, since a tool action ends at
    its closing tag (a stop string) and the next draw already belongs to the next turn."""
    from trueloop.rollout import episodes, run_episodes

    tok = policy.tokenizer
    script = iter(tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])

    def draw(logits, generator, method="race"):  # one draw fills every row: both write `text`
        return torch.full((logits.shape[0],), next(script), dtype=torch.long)

    monkeypatch.setattr(episodes, "draw", draw)
    cfg = RolloutConfig(stop=task.stop_strings(), max_turns=horizon + 2, max_new_tokens=40)
    envs = [task.make_env(p) for _ in range(2)]
    b = run_episodes(policy, envs, cfg, generator=torch.Generator().manual_seed(0),
                     group_size=2)
    return b.episodes, verify_episodes(envs)


@pytest.mark.parametrize("name", NAMES)
def test_oracle_plays_through_the_runner(name: str, tiny, monkeypatch) -> None:
    task = task_of(name, 3)
    warm(task, 0, 1)
    p = task.problem(1)
    actions = oracle(task, p)
    episodes, verdicts = run_scripted(tiny, task, p, "".join(actions), 3, monkeypatch)
    for ep in episodes:
        assert ep.stop_reason == "done" and len(ep.turns) == len(actions), ep
        assert sum(ep.tool_calls.values()) == len(actions) - 1
    assert [v.reward for v in verdicts] == [1.0, 1.0]


@pytest.mark.parametrize("name", NAMES)
def test_a_tool_call_flood_ends_at_max_turns_unrewarded(name: str, tiny, monkeypatch) -> None:
    task = task_of(name, 3)
    p = task.problem(1)
    episodes, verdicts = run_scripted(tiny, task, p, oracle(task, p)[0] * 12, 3, monkeypatch)
    assert [ep.stop_reason for ep in episodes] == ["max_turns"] * 2
    assert [(v.reward, v.reason) for v in verdicts] == [(0.0, "no_answer")] * 2


# ---- memory: the run-level store -----------------------------------------------------------------

def recall(task, p):
    """A policy that writes the shown fact, reads the asked key and answers what it read."""
    env = task.make_env(p)
    env.reset(p, seed=0)
    write, read, _ = oracle(task, p)
    env.step(write)
    seen = re.search(rf"\b{p.truth['target']}=(\S+)", env.step(read).observation)
    env.step(f"\\boxed{{{seen.group(1) if seen else 'none'}}}")
    return env.verify()


def test_memory_group_sees_one_snapshot_and_commits_only_at_end_step() -> None:
    task = task_of("memory", 1)
    p0, p1 = task.problem(0), task.problem(1)
    assert p1.truth["target"] == p0.truth["reveal"][0] and p1.meta["age"] == 1
    group = [task.make_env(p1) for _ in range(3)]
    for env in group:
        env.reset(p1, seed=0)
    play(task, p0, oracle(task, p0))  # another episode writes p1's answer, staged only
    assert task.store == {} and task.staged
    task.end_step()
    assert task.store == {p0.truth["reveal"][0]: p0.truth["reveal"][1]}
    for env in group:  # reset before the commit: the old snapshot, for every member
        assert env.step(f"<read>{p1.truth['target']}</read>").observation.endswith("=none")
        env.step(f"<write>{p1.truth['target']}=1</write>")
    assert [recall(task, p1).correct for _ in range(2)] == [True, True]  # after: committed
    for env in group:
        env.step("\\boxed{1}")
        assert not env.verify().correct
    task.end_step()
    assert task.store[p1.truth["target"]] == "1"  # the group's later write, committed in order


def test_memory_test_split_and_replays_never_commit() -> None:
    task = task_of("memory", 2)
    for p in task.problems(3, "test"):
        assert p.meta["split"] == "test"
        assert play(task, p, oracle(task, p))[0].correct
    train = task.problem(0)
    assert task.verify(train, task.oracle(train)).correct  # a transcript replay
    task.end_step()
    assert task.store == {} and task.staged == []
    play(task, train, oracle(task, train))
    task.end_step()
    assert list(task.store) == [train.truth["reveal"][0]]  # the control: a train episode does


def run(task, steps: range, per_step: int = 1) -> list[tuple]:
    out = []
    for step in steps:
        for p in task.problems(per_step, "train", start=step * per_step):
            v = recall(task, p)
            out.append((p.id, v.correct, v.details["age"], v.details["stored"]))
        task.end_step()
    return out


def test_memory_success_by_age_and_resume_answers_like_the_uninterrupted_run() -> None:
    whole = run(task_of("memory", 3), range(8))
    assert all(ok and stored for _, ok, age, stored in whole if age >= 1)
    assert len({age for _, _, age, _ in whole}) >= 3 and max(a for _, _, a, _ in whole) <= 3
    first = task_of("memory", 3)
    head = run(first, range(4))
    state = json.loads(json.dumps(first.state_dict()))  # through a checkpoint's serialisation
    resumed = task_of("memory", 3)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == first.state_dict() and resumed.store == first.store
    assert head + run(resumed, range(4, 8)) == whole
    fresh = run(task_of("memory", 3), range(4, 8))  # the control: without the store, it fails
    assert fresh != whole[4:] and not all(ok for _, ok, _, _ in fresh)


def test_memory_same_step_facts_are_not_yet_readable() -> None:
    results = run(task_of("memory", 2), range(4), per_step=4)
    for _, ok, _, stored in results:
        assert ok == stored  # the policy answers what it read: right exactly when stored
    assert not all(ok for _, ok, _, _ in results) and any(ok for _, ok, _, _ in results)


def test_memory_every_verdict_carries_its_age() -> None:
    task = task_of("memory", 3)
    for p in task.problems(6, "train") + task.problems(3, "test"):
        for actions in (oracle(task, p), ["\\boxed{1} \\boxed{2}"], [""]):
            v, _ = play(task, p, actions)
            assert v.details["age"] == p.meta["age"] and "stored" in v.details, (actions, v)


def test_memory_success_by_age_is_logged_per_age() -> None:
    """`episode_metrics` buckets memory verdicts by age: the oracle's old facts are answered, a
    policy that never writes answers none, and stored_by_age tells the two failures apart."""
    from trueloop.rollout.metrics import episode_metrics
    from trueloop.types import Episode, Verdict

    def episodes(policy) -> list[Episode]:
        task, out = task_of("memory", 3), []
        for i in range(10):
            p = task.problem(i, "train", 0)
            v, _ = play(task, p, policy(task, p))
            out.append(Episode(p.id, (), "done", 1, 0, verdict=v))
            task.end_step()
        return out

    good = episode_metrics(episodes(oracle))
    ages = sorted(int(k.rsplit("/", 1)[1]) for k in good if k.startswith("episode/success_by_"))
    assert ages and max(ages) <= 3
    assert all(good[f"episode/success_by_age/{a}"] == 1.0 for a in ages if a >= 1), good
    lazy = episode_metrics(episodes(lambda task, p: ["\\boxed{0}"]))  # never writes, never reads
    assert all(lazy[f"episode/success_by_age/{a}"] == 0.0 for a in ages if a >= 1), lazy
    assert all(lazy[f"episode/stored_by_age/{a}"] == 0.0 for a in ages if a >= 1), lazy
    assert not any(k.startswith("episode/success_by_age") for k in episode_metrics(
        [Episode("x", (), "done", 1, 0, verdict=Verdict(True, 1.0, "ok"))]))
