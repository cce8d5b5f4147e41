"""`trueloop eval`: a run is evaluated under its own config (task, rollout, [verify], [eval]), the
flags are shorthands for overrides, and a plain model folder gets the defaults and says so.

The run is a real one-step run of the 0.5M model; the evaluations are real too, with the draws
scripted (every sample writes "so it is 7", an unboxed answer only `last_number_fallback` reads)
and the settings that reached `rollout.play` recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_episodes import scripted
from test_monitors import Seven

from trueloop.cli import main
from trueloop.config import load_config, load_run_config, to_dict
from trueloop.policy import build_tiny
from trueloop.tasks import register

RUN = ["--task.name", "seven", "--task.answer_format", "none", "--steps", "1",
       "--policy.size", "0.5m", "--rollout.prompts_per_step", "1", "--rollout.group_size", "2",
       "--rollout.max_new_tokens", "24", "--rollout.top_k", "5", "--log.progress", "false",
       "--log.save_episodes", "false", "--verify.last_number_fallback", "true",
       "--eval.n_problems", "2", "--eval.k", "2", "--eval.temperature", "0.7"]
# a run trained with non-default rollout, [verify] and [eval] settings
ANSWER = "so it is 7"


def train_tiny_run(folder: Path, *extra: str) -> Path:
    from trueloop.update.trainer import train

    register("seven", Seven, replace=True)
    train(load_config(overrides=[*RUN, *extra]), folder, policy=build_tiny("0.5m"))
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("eval") / "run")


@pytest.fixture
def seen(monkeypatch) -> list[tuple]:
    """(rollout config, verify config) of every `play` the evaluation makes; draws scripted."""
    from trueloop.eval import evaluate

    calls, real = [], evaluate.play

    def play(task, policy, problems, rollout, verify, **kw):
        calls.append((rollout, verify))
        scripted(monkeypatch, policy, [ANSWER])
        return real(task, policy, problems, rollout, verify, **kw)

    register("seven", Seven, replace=True)
    monkeypatch.setattr(evaluate, "play", play)
    return calls


def test_eval_of_a_run_uses_its_task_rollout_and_verify_settings(run, seen, tmp_path,
                                                                   capsys) -> None:
    out = tmp_path / "result.json"
    assert main(["eval", str(run), "-o", str(out)]) == 0
    (rollout, verify), = seen
    cfg = load_run_config(run)
    assert verify == cfg.verify and verify.last_number_fallback
    assert (rollout.max_new_tokens, rollout.top_k, rollout.temperature) == (24, 5, 0.7)
    result = json.loads(out.read_text())
    assert (result["task"], result["n_problems"], result["k"]) == ("seven", 2, 2)
    assert result["reasons"] == {"ok": 4} and result["pass@1"] == 1.0  # the fallback read it
    assert result["config"] == json.loads((run / "config.json").read_text())  # as trained
    assert f"settings from the run's config {run / 'config.json'}." in capsys.readouterr().err


def test_flags_are_shorthands_for_overrides_and_win_over_them(run, seen, capsys) -> None:
    checkpoint = run / "checkpoints" / "latest"  # a checkpoint of a run reads the run's config
    assert main(["eval", str(checkpoint), "--k", "3", "--eval.k", "4", "--temperature", "0.5",
                 "--verify.last_number_fallback", "false", "--rollout.top_k", "0"]) == 0
    (rollout, verify), = seen
    assert (rollout.group_size, rollout.temperature, rollout.top_k) == (3, 0.5, 0)
    assert rollout.max_new_tokens == 24 and not verify.last_number_fallback
    brief = json.loads(capsys.readouterr().out)
    assert brief["k"] == 3 and brief["reasons"] == {"no_answer": 6}


def test_a_plain_model_folder_gets_the_defaults_and_says_so(run, seen, tmp_path,
                                                            capsys) -> None:
    plain = tmp_path / "model"
    shutil.copytree(run / "checkpoints" / "latest" / "policy", plain)
    assert main(["eval", str(plain), "--n", "2", "--k", "2"]) == 2
    assert "give --task NAME" in capsys.readouterr().err and not seen
    assert main(["eval", str(plain), "--task", "seven", "--answer-format", "none", "--n", "2",
                 "--k", "2"]) == 0
    (rollout, verify), = seen
    default = load_config()
    assert verify == default.verify and rollout.max_new_tokens == default.rollout.max_new_tokens
    assert rollout.temperature == default.eval.temperature and rollout.top_k == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out)["reasons"] == {"no_answer": 4}
    assert f"{plain} has no run config, so trueloop's defaults apply" in printed.err


@pytest.mark.parametrize(("argv", "message"), [
    (["--eval.kk", "3"], "unknown key(s) ['kk'] in [eval]"),
    (["--k", "0"], "eval.k and eval.n_problems must be >= 1"),
])
def test_bad_overrides_are_a_sentence(run, seen, capsys, argv, message) -> None:
    assert main(["eval", str(run), *argv]) == 2
    assert message in capsys.readouterr().err and not seen


def test_a_run_without_a_checkpoint_or_with_a_broken_config_is_a_sentence(tmp_path,
                                                                         capsys) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(to_dict(load_config())))
    assert main(["eval", str(run)]) == 2
    assert "is a run folder without a checkpoint yet" in capsys.readouterr().err
    (run / "checkpoints" / "step_000001" / "policy").mkdir(parents=True)
    build_tiny("0.5m").save(run / "checkpoints" / "step_000001" / "policy")
    (run / "config.json").write_text('{"task": {"nme": "chain"}}')
    assert main(["eval", str(run / "checkpoints" / "step_000001")]) == 2
    assert "config.json does not load as a run config" in capsys.readouterr().err
