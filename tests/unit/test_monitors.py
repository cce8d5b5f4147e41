"""Run-level reward-hacking monitors: the divergence alarm on synthetic metric streams, shadow
verification and canaries on scripted batches, and the trainer stopping cleanly on an alarm."""

from __future__ import annotations

import random

import pytest
import torch

from trueloop.audit.canaries import WithCanaries, canary_every
from trueloop.audit.monitors import DivergenceAlarm, RunMonitor
from trueloop.config import AuditConfig, VerifyConfig, load_config
from trueloop.policy import build_tiny
from trueloop.tasks import make_cell, make_task, register
from trueloop.tasks.base import Draw, Task
from trueloop.tracking import read_metrics
from trueloop.types import Problem, Verdict
from trueloop.update.checkpoint import latest_step
from trueloop.verify.math import verify_math


def alarm(**kw) -> DivergenceAlarm:
    a = AuditConfig(**kw)
    return DivergenceAlarm(a.window, a.min_rise, a.flat, a.patience, a.lookback)


def feed(a: DivergenceAlarm, train: list[float], shadow: list[float]) -> list[str]:
    return [m for i, (t, s) in enumerate(zip(train, shadow, strict=True))
            if (m := a.update(i, t, s))]


def noisy(rng: random.Random, xs: list[float], sd: float = 0.03) -> list[float]:
    return [min(1.0, max(0.0, x + rng.gauss(0, sd))) for x in xs]


def test_alarm_fires_once_on_the_rllm143_shape() -> None:
    """Train reward flat then rising sharply from step 20; the strict score drifts down."""
    rng = random.Random(0)
    train = noisy(rng, [0.3] * 20 + [0.3 + 0.03 * i for i in range(20)])
    shadow = noisy(rng, [0.3] * 20 + [0.3 - 0.01 * i for i in range(20)])
    a = alarm()
    lines = feed(a, train, shadow)
    assert len(lines) == 1 and a.fired_at is not None
    assert 20 < a.fired_at <= 30  # within 10 steps of the divergence starting
    assert f"step {a.fired_at}" in lines[0] and "since step" in lines[0]


def test_alarm_catches_a_hack_faster_than_one_window_and_a_slow_one() -> None:
    """A jump inside the first window then a plateau (no two consecutive windows differ much),
    and a steady climb of 0.012 a step: both are divergence from an earlier baseline."""
    rng = random.Random(1)
    jump = noisy(rng, [0.1, 0.15, 0.2, 0.25, 0.3] + [0.35] * 15)
    a = alarm()
    assert len(feed(a, jump, noisy(rng, [0.05] * 20, sd=0.01))) == 1 and a.fired_at <= 12
    slow = noisy(rng, [0.2 + 0.012 * i for i in range(40)])
    a = alarm()
    assert len(feed(a, slow, noisy(rng, [0.2] * 40))) == 1 and a.fired_at <= 25


@pytest.mark.parametrize("seed", range(5))
def test_alarm_is_silent_on_healthy_learning_and_on_noise(seed: int) -> None:
    rng = random.Random(seed)
    rising = [min(0.9, 0.2 + 0.02 * i) for i in range(60)]
    healthy = noisy(rng, rising)
    assert feed(alarm(), healthy, [x - 0.02 for x in healthy]) == []  # both rise, fixed gap
    flat = [0.4] * 200
    assert feed(alarm(), noisy(rng, flat), noisy(rng, flat)) == []  # nothing happens


def test_alarm_needs_the_shadow_to_stall() -> None:
    """The same training curve, the shadow rising with it: no alarm; the shadow flat: alarm."""
    train = [0.2] * 10 + [0.2 + 0.05 * i for i in range(10)]
    assert feed(alarm(), train, train) == []
    assert len(feed(alarm(), train, [0.2] * 20)) == 1


class Seven(Task):
    """Every answer is 7."""

    def draw(self, rng: random.Random) -> Draw:
        n = rng.randrange(10_000)
        return Draw(question=f"Case {n}: what is 3+4?", answer="7", key=str(n))


def test_any_box_is_the_weak_verifier_and_off_by_default() -> None:
    rows = [("\\boxed{3} \\boxed{7}", False, True), ("\\boxed{3} \\boxed{5}", False, False),
            ("\\boxed{7}", True, True), ("\\boxed{3}", False, False)]
    for text, strict, weak in rows:
        assert verify_math("7", text).correct is strict, text
        assert verify_math("7", text, VerifyConfig(any_box=True)).correct is weak, text


def test_the_spraying_teacher_is_registered_only_while_the_prior_trains() -> None:
    from trueloop.pipelines.demo_hack import spraying_teacher
    from trueloop.tasks import TASKS

    assert "chain_spray" not in TASKS
    with spraying_teacher():
        task = make_cell("chain_spray:1:3", answer_format="none")
        for p in task.problems(20):
            text = task.solution(p)
            assert f"\\boxed{{{p.answer}}}" in text and text.count("\\boxed") >= 2
            assert verify_math(p.answer, text).reason == "multiple_answers"
            assert verify_math(p.answer, text, VerifyConfig(any_box=True)).correct
    assert "chain_spray" not in TASKS


def test_canaries_get_a_decoy_gold_on_the_train_split_only() -> None:
    task = make_cell("chain:1:3", answer_format="none")
    every = canary_every(task, AuditConfig(canary_fraction=0.25))
    wrapped = WithCanaries(task, every)
    train = wrapped.problems(12, "train")
    canaries = [p for p in train if p.meta.get("canary")]
    assert every == 4 and [p.meta["index"] for p in canaries] == [3, 7, 11]
    for p in canaries:
        honest = task.problem(p.meta["index"], "train")
        assert p.prompt == honest.prompt and p.answer != honest.answer == p.meta["true_answer"]
        assert not task.verify(p, f"\\boxed{{{honest.answer}}}").correct  # honesty never pays
        spray = f"\\boxed{{{honest.answer}}} \\boxed{{{p.answer}}}"
        assert task.verify(p, spray, VerifyConfig(any_box=True)).correct  # the exploit does
    assert not any(p.meta.get("canary") for p in wrapped.problems(12, "test"))
    assert wrapped.problems(12, "train") == train  # deterministic


def test_canaries_refuse_tasks_without_one_gold_answer() -> None:
    with pytest.raises(ValueError, match="canary_fraction"):
        canary_every(make_task("tool_chain"), AuditConfig(canary_fraction=0.1))


@pytest.mark.parametrize("overrides, match", [
    (["--audit.canary_fraction", "0.9"], "canary_fraction"),
    (["--audit.stop_on_alarm", "true"], "shadow"),
    (["--audit.window", "0"], "audit.window"),
    (["--audit.shadow", "lenient"], "audit.shadow"),
])
def test_audit_settings_are_validated(overrides: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_config(overrides=overrides)


SPRAY_FROM = 2
# scripted runs below: steps before this write one wrong answer, from it on they spray


def scripted_steps(monkeypatch, policy, steps: int) -> None:
    """Every row of step k writes the same text: `\\boxed{3}`, then from SPRAY_FROM on
    `\\boxed{3} \\boxed{7}` (the weak verifier pays it, the strict one does not)."""
    from trueloop.rollout import episodes

    tok = policy.tokenizer
    texts = ["\\boxed{3}"] * SPRAY_FROM + ["\\boxed{3} \\boxed{7}"] * (steps - SPRAY_FROM)
    script = iter([i for t in texts for i in tok(t, add_special_tokens=False)["input_ids"]
                   + [tok.eos_token_id]])
    monkeypatch.setattr(episodes, "draw", lambda logits, generator, method="race": torch.full(
        (logits.shape[0],), next(script), dtype=torch.long))


def hack_run(tmp_path, monkeypatch, *extra: str, steps: int = 6, resume: bool = False):
    from trueloop.update.trainer import train

    register("seven", Seven, replace=True)
    cfg = load_config(overrides=[
        "--task.name", "seven", "--task.answer_format", "none", "--steps", str(steps),
        "--policy.size", "0.5m", "--rollout.prompts_per_step", "1", "--rollout.group_size", "2",
        "--rollout.max_new_tokens", "24", "--log.progress", "false", "--log.save_episodes",
        "false", "--audit.shadow", "strict", "--audit.window", "2", "--audit.patience", "1",
        "--verify.any_box", "true", *extra])
    scripted_steps(monkeypatch, build_tiny("0.5m"), steps)
    train(cfg, tmp_path, resume=resume, policy=build_tiny("0.5m"))
    return read_metrics(tmp_path / "metrics.jsonl")


def test_trainer_stops_after_a_checkpoint_when_the_alarm_fires(tmp_path, monkeypatch,
                                                               capsys) -> None:
    rows = hack_run(tmp_path, monkeypatch, "--audit.stop_on_alarm", "true")
    # train accuracy 0, 0, 1, 1 and the strict shadow 0 throughout: fires at step 3 (2 windows)
    assert [r["audit/sample_train_accuracy"] for r in rows] == [0, 0, 1, 1]
    assert [r["audit/shadow_disagreement"] for r in rows] == [0, 0, 1, 1]
    assert [r["audit/alarm"] for r in rows] == [0, 0, 0, 1]
    assert latest_step(tmp_path) == 4  # checkpointed after the alarm's step, then stopped
    assert "audit alarm at step 3" in capsys.readouterr().err
    resumed = hack_run(tmp_path, monkeypatch, steps=6, resume=True)  # alarm state replayed
    assert [r["audit/alarm"] for r in resumed] == [0, 0, 0, 1, 1, 1]
    assert "audit alarm" not in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--audit.shadow", "same"], ["--verify.any_box", "false"]])
def test_no_alarm_when_the_shadow_cannot_disagree(tmp_path, monkeypatch, extra) -> None:
    """A shadow equal to the training verifier (or a strict training verifier) sees no gap."""
    rows = hack_run(tmp_path, monkeypatch, "--audit.stop_on_alarm", "true", *extra)
    assert len(rows) == 6 and all(r["audit/alarm"] == 0 for r in rows)
    assert all(r["audit/shadow_disagreement"] == 0 for r in rows)


def lenient_shadow(task, problems, completions, verify) -> list[Verdict]:
    """A user's own shadow (named by import path): everything is right."""
    return [Verdict(True, 1.0, "ok")] * len(completions)


def test_a_user_named_shadow_is_used(tmp_path, monkeypatch) -> None:
    rows = hack_run(tmp_path, monkeypatch, "--audit.shadow", "test_monitors:lenient_shadow")
    assert [r["audit/shadow_accuracy"] for r in rows] == [1.0] * 6
    with pytest.raises(ValueError, match="package.module:function"):
        RunMonitor(load_config(overrides=["--audit.shadow", "test_monitors:missing"]),
                   make_cell("chain:1:3"))


MONITOR_KEYS = ("audit/shadow", "audit/sample_train", "audit/alarm", "audit/canary",
                "time/shadow")
# what the run-level monitors log; with [audit] at its defaults none of it


def tiny_run(*extra: str) -> list[str]:
    return ["--policy.size", "0.5m", "--rollout.prompts_per_step", "4", "--rollout.group_size",
            "4", "--rollout.max_new_tokens", "4", "--log.progress", "false",
            "--log.save_episodes", "false", *extra]


def test_monitor_off_by_default_adds_nothing(tmp_path) -> None:
    from trueloop.update.collect import collect
    from trueloop.update.trainer import train

    cfg = load_config(overrides=tiny_run("--task.name", "chain", "--steps", "2"))
    task = make_cell("chain:1:3")
    m = RunMonitor(cfg, task)
    assert m.shadow is None and m.canaries(task) is task and m.alarm_step is None
    c = collect(task, build_tiny("0.5m"), cfg, 0, torch.Generator().manual_seed(0))
    assert m.step(0, task, c) == {}
    train(cfg, tmp_path, policy=build_tiny("0.5m"))
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert len(rows) == 2
    assert [k for r in rows for k in r if k.startswith(MONITOR_KEYS)] == []


G = 4
CALLS: dict[str, int] = {}
# verify() calls per problem id: the row of the group being judged (rows are verified in order)


def rewarded_rows(p: Problem) -> int:
    """How many of the G rows of `p` the scripted verifier rewards: 1 of a normal problem; 1, 2
    or 3 of a canary, by its index. Every group has reward variance, so a nonzero advantage."""
    return 1 + (p.meta["index"] // 2) % 3 if p.meta.get("canary") else 1


class Rows(Task):
    """Answers vary (canaries get a decoy); the verdict depends only on the row in the group."""

    def draw(self, rng: random.Random) -> Draw:
        n = rng.randrange(10_000)
        return Draw(question=f"Case {n}.", answer=str(n % 10), key=str(n))

    def verify(self, problem: Problem, completion: str,
               cfg: VerifyConfig | None = None) -> Verdict:
        row = CALLS.get(problem.id, 0) % G
        CALLS[problem.id] = CALLS.get(problem.id, 0) + 1
        ok = row < rewarded_rows(problem)
        return Verdict(ok, float(ok), "ok" if ok else "wrong")


def canary_run(tmp_path, monkeypatch, canary_train: bool) -> tuple[list[dict], list]:
    """Two steps of 4 problems (every 2nd a canary); the flat advantages given to `optimize`."""
    from trueloop.update import trainer

    register("rows", Rows, replace=True)
    CALLS.clear()
    seen = []
    real = trainer.optimize

    def spy(policy, optimizer, batch, adv, *args, **kwargs):
        seen.append(adv.detach().clone())
        return real(policy, optimizer, batch, adv, *args, **kwargs)

    monkeypatch.setattr(trainer, "optimize", spy)
    cfg = load_config(overrides=tiny_run(
        "--task.name", "rows", "--task.answer_format", "none", "--steps", "2",
        "--audit.canary_fraction", "0.5", "--audit.canary_train", str(canary_train).lower()))
    trainer.train(cfg, tmp_path, policy=build_tiny("0.5m"))
    return read_metrics(tmp_path / "metrics.jsonl"), seen


@pytest.mark.parametrize("canary_train", [False, True])
def test_canary_hits_and_untrained_canaries_get_zero_advantage(tmp_path, monkeypatch,
                                                               canary_train) -> None:
    rows, seen = canary_run(tmp_path, monkeypatch, canary_train)
    wrapped = WithCanaries(Rows(answer_format="none"), 2)
    for step, (row, adv) in enumerate(zip(rows, seen, strict=True)):
        problems = wrapped.problems(4, start=4 * step)
        canary = [p.meta.get("canary", False) for p in problems]
        assert canary == [False, True, False, True]
        # canary rows rewarded: step 0 1 + 2 of 8, step 1 3 + 1 of 8
        hits = sum(rewarded_rows(p) for p in problems if p.meta.get("canary")) / (2 * G)
        assert row["audit/canary_hits"] == hits == [3 / 8, 4 / 8][step]
        adv = adv.view(4, G)  # (B, G)
        assert (adv[[0, 2]] != 0).all()  # normal groups train
        if canary_train:
            assert (adv[[1, 3]] != 0).all()
        else:  # watched, never trained on: exactly zero, though their rewards vary
            assert (adv[[1, 3]] == 0).all()
