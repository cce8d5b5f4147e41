"""Config: TOML + CLI overrides into frozen dataclasses, refused with a sentence when wrong."""

from __future__ import annotations

import dataclasses

import pytest

from trueloop.config import RunConfig, load_config, parse_overrides, to_dict


def test_defaults_validate():
    cfg = load_config()
    assert isinstance(cfg, RunConfig)
    assert to_dict(cfg)["update"]["advantage"] == "grpo"


def test_toml_then_overrides_win(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('steps = 7\n[update]\nlr = 0.5\n[rollout]\ngroup_size = 4\n')
    cfg = load_config(path, ["--update.lr", "3e-4", "--rollout.stop", '["\\n"]', "steps=9"])
    assert cfg.steps == 9
    assert cfg.update.lr == 3e-4
    assert cfg.rollout.group_size == 4
    assert cfg.rollout.stop == ("\n",)


def test_config_is_frozen():
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--update.advantage", "ppo"], "update.advantage must be one of"),
        (["--update.lrr", "1"], "unknown key(s) ['lrr'] in [update]"),
        (["--rollout.group_size", "1"], "group_size must be >= 2"),
        (["--rollout.temperature", "0"], "temperature must be > 0"),
        (["--steps", "1.5"], "steps must be int"),
        (["--update.minibatches", "3"], "minibatches must divide"),
        (["--log.progress", "maybe"], "log.progress must be bool"),
    ],
)
def test_bad_values_are_refused_with_a_sentence(overrides, message):
    with pytest.raises(ValueError) as err:
        load_config(overrides=overrides)
    assert message in str(err.value)


def test_malformed_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[update\nlr = 1")
    with pytest.raises(ValueError, match="bad.toml is not valid TOML"):
        load_config(path)


def test_override_without_value_is_an_error():
    with pytest.raises(ValueError, match="has no value"):
        parse_overrides(["--update.lr"])


def test_unknown_task_is_refused_by_the_task_registry_before_step_0():
    from trueloop.tasks import task_from_config

    cfg = load_config(overrides=["--task.name", "nope"])  # config itself imports no stage
    with pytest.raises(ValueError, match="unknown task 'nope'; known tasks"):
        task_from_config(cfg.task)
