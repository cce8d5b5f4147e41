"""`trueloop rescore`: kept episodes judged again, flips counted by step and reason, skips named."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_episodes import scripted

from trueloop.cli import main
from trueloop.config import load_config, to_dict
from trueloop.pipelines.rescore import rescore_run
from trueloop.policy import build_tiny
from trueloop.rollout.record import FOLDER, episode_json, save_episodes
from trueloop.tasks import task_from_config
from trueloop.types import Episode, Turn, Verdict
from trueloop.update.collect import collect
from trueloop.update.trainer import keep_episodes


def write_run(tmp_path: Path, rows_by_step: dict[int, list[dict]], *overrides: str) -> Path:
    cfg = load_config(overrides=["--task.name", "chain", "--task.difficulty", "1",
                                 "--task.horizon", "2", "--rollout.group_size", "2", *overrides])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(to_dict(cfg)))
    for step, rows in rows_by_step.items():
        save_episodes(run, step, rows)
    return run


def chain_rows(step: int, completions: list[str], recorded: list[tuple[bool, str, float]]):
    """Episode rows of problem `step` of chain:1:2, one per completion, with the recorded verdict
    (correct, reason, reward) the run had trained on."""
    task = task_from_config(load_config(overrides=["--task.name", "chain", "--task.difficulty",
                                                   "1", "--task.horizon", "2"]).task)
    problem = task.problem(step)
    rows = []
    for text, (correct, reason, reward) in zip(completions, recorded, strict=True):
        ep = Episode(problem.id, (Turn(text, None),), "done", 5, 0,
                     verdict=Verdict(correct, reward, reason))
        rows.append(episode_json(step, problem, ep, reward))
    return rows, problem


def test_a_faithful_run_rescores_without_flips_and_a_buggy_verdict_flips(tmp_path) -> None:
    rows0, p0 = chain_rows(0, [f"\\boxed{{{'x'}}}", "\\boxed{0}"], [(False, "wrong", 0.0)] * 2)
    rows1, p1 = chain_rows(1, ["no idea", "x"], [(False, "no_answer", 0.0)] * 2)
    gold = f"\\boxed{{{p0.answer}}}"
    rows0[1]["turns"][0]["action"] = gold  # the old verifier called a right answer wrong
    run = write_run(tmp_path, {0: rows0, 1: rows1})
    rep = rescore_run(run)
    assert (rep.episodes, rep.rescored, rep.reward_flips) == (4, 4, 1)
    assert (rep.to_correct, rep.to_wrong) == (1, 0)
    assert rep.by_reason == {"wrong -> ok": 1}
    assert rep.by_step[0]["reward_flips"] == 1 and rep.by_step[1]["reward_flips"] == 0


def test_a_verify_setting_flips_the_rewards_it_touches(tmp_path) -> None:
    rows, problem = chain_rows(0, ["", "so it is 7"], [(False, "no_answer", 0.0)] * 2)
    rows[1]["turns"][0]["action"] = f"so it is {problem.answer}"  # unboxed: fallback reads it
    run = write_run(tmp_path, {0: rows})
    assert rescore_run(run).reward_flips == 0
    rep = rescore_run(run, ["--verify.last_number_fallback", "true"])
    assert rep.reward_flips == 1 and rep.by_reason["no_answer -> ok"] == 1
    assert rep.verify["last_number_fallback"] is True


def test_old_files_without_the_stream_fields_still_rescore(tmp_path) -> None:
    rows, problem = chain_rows(0, ["\\boxed{11}"], [(True, "ok", 1.0)])
    for r in rows:
        del r["stream"], r["answer"]
    rep = rescore_run(write_run(tmp_path, {0: rows}))
    assert rep.rescored == 1 and rep.reward_flips == (problem.answer != "11")


def test_skips_are_counted_by_reason_never_raised(tmp_path) -> None:
    rows, _ = chain_rows(0, ["a", "b", "c"], [(False, "no_answer", 0.0)] * 3)
    rows[0]["prompt"] = "a prompt the task no longer generates"
    rows[1]["stop_reason"] = "env_error"
    run = write_run(tmp_path, {0: rows})
    path = run / FOLDER / "step_000000.jsonl.gz"
    with gzip.open(path, "at", encoding="utf-8") as f:
        f.write("{torn line\n")
    (run / FOLDER / "step_000001.jsonl.gz").write_bytes(b"not gzip at all")
    rep = rescore_run(run)
    assert rep.rescored == 1
    assert rep.skipped == {"problem_mismatch": 1, "env_error": 1, "corrupt_line": 1,
                           "unreadable_file": 1}


def test_bad_input_is_a_clear_error(tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        rescore_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="config.json"):
        rescore_run(tmp_path / "empty")
    run = write_run(tmp_path, {})
    with pytest.raises(ValueError, match=r"\[verify\] settings only"):
        rescore_run(run, ["--update.lr", "1e-3"])
    with pytest.raises(ValueError, match="unknown key"):
        rescore_run(run, ["--verify.no_such_knob", "1"])
    with pytest.raises(ValueError, match="verify.timeout_s must be > 0"):  # validated as in train
        rescore_run(run, ["--verify.timeout_s", "0"])
    assert main(["rescore", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_json_output(tmp_path, capsys) -> None:
    rows, _ = chain_rows(0, ["\\boxed{x}"], [(True, "ok", 1.0)])
    assert main(["rescore", str(write_run(tmp_path, {0: rows})), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reward_flips"] == 1 and out["by_reason"] == {"ok -> wrong": 1}
    assert out["by_step"]["0"]["episodes"] == 1


def tool_chain_run(tmp_path: Path, monkeypatch, task_name: str = "tool_chain") -> Path:
    """Two real multi-turn episodes of one problem, played by a scripted policy (the oracle's
    actions) through the rollout, kept as training keeps them."""
    cfg = load_config(overrides=["--task.name", task_name, "--task.horizon", "2",
                                 "--task.difficulty", "1", "--rollout.prompts_per_step", "1",
                                 "--rollout.group_size", "2", "--rollout.max_new_tokens", "40"])
    task = task_from_config(cfg.task)
    problem = task.problem(0)
    actions = task.make_env(problem).oracle_actions(problem)
    policy = build_tiny("0.5m", seed=0)
    scripted(monkeypatch, policy, actions, eos="last")
    c = collect(task, policy, cfg, 0, torch.Generator().manual_seed(0))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(to_dict(cfg)))
    keep_episodes(run, 0, c)
    return run


def test_multi_turn_episodes_are_replayed_through_a_fresh_env(tmp_path, monkeypatch) -> None:
    run = tool_chain_run(tmp_path, monkeypatch)
    rows = [json.loads(line) for line in gzip.open(run / FOLDER / "step_000000.jsonl.gz", "rt")]
    assert len(rows[0]["turns"]) == 3 and rows[0]["correct"]  # the oracle's two calls, answer
    rep = rescore_run(run)
    assert (rep.rescored, rep.reward_flips, rep.skipped) == (2, 0, {})
    rows[0]["turns"][0]["observation"] = "999"  # not what the tool said
    rows[1]["reward"] = 0.0  # the run trained on a wrong reward
    save_episodes(run, 0, rows)
    rep = rescore_run(run)
    assert rep.skipped == {"replay_diverged": 1}
    assert (rep.rescored, rep.reward_flips, rep.to_correct) == (1, 1, 0)


def test_a_task_with_run_level_state_is_skipped(tmp_path) -> None:
    cfg = load_config(overrides=["--task.name", "memory", "--task.horizon", "1"])
    task = task_from_config(cfg.task)
    problem = task.problem(0)
    ep = Episode(problem.id, (Turn("x", None),), "done", 1, 0, verdict=Verdict(False, 0.0, "wrong"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(to_dict(replace(cfg, steps=1))))
    save_episodes(run, 0, [episode_json(0, problem, ep, 0.0)])
    rep = rescore_run(run)
    assert rep.rescored == 0 and rep.skipped == {"run_state": 1}


def test_canaries_are_rebuilt_with_their_decoy_answer(tmp_path) -> None:
    from trueloop.audit.canaries import canary

    task = task_from_config(load_config(overrides=["--task.name", "chain", "--task.difficulty",
                                                   "1", "--task.horizon", "2"]).task)
    p = canary(task, task.problem(3))
    rows = [episode_json(0, p, Episode(p.id, (Turn(f"\\boxed{{{a}}}", None),), "done", 5, 0,
                                       verdict=Verdict(False, 0.0, "wrong")), 0.0)
            for a in (p.meta["true_answer"], p.answer)]
    rep = rescore_run(write_run(tmp_path, {0: rows}))
    assert rep.rescored == 2 and rep.by_reason == {"wrong -> ok": 1}  # the decoy pays, truth not
