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
        (["--prior.warmup_steps", "0"], "prior.warmup_steps must be >= 1"),
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


@dataclasses.dataclass(frozen=True)
class Documented:
    plain: int = 1
    # one line
    long: str = "x"
    # first line,
    # second line
    bare: float = 0.0
    spaced: bool = False

    # a comment after a blank line documents nothing


def test_a_field_doc_is_the_comment_block_right_under_it():
    from trueloop.config_parse import field_docs

    assert field_docs(Documented) == {"plain": "one line", "long": "first line, second line",
                                      "bare": "", "spaced": ""}


@pytest.mark.parametrize("cls", ["trueloop.config:RunConfig",
                                 "trueloop.config:InspectConfig"])
def test_every_config_field_has_a_doc_line(cls):
    """The doc line is each field's --help text (`trueloop train --help`)."""
    import importlib

    from trueloop.config_parse import describe

    module, name = cls.split(":")
    missing = [f.key for f in describe(getattr(importlib.import_module(module), name))
               if not f.doc]
    assert missing == [], f"write a comment line under each of {missing} in {module}"


def test_the_help_writes_types_and_defaults_as_an_override_takes_them():
    from trueloop.config_parse import describe

    rows = {f.key: (f.type, f.default) for f in describe(RunConfig)}
    assert rows["update.lr"] == ("float", "0.0001")
    assert rows["task.horizon"] == ("int | none", "none")
    assert rows["update.advantage"] == ("{grpo,dr_grpo,rloo,reinforce_pp}", '"grpo"')
    assert rows["update.betas"] == ("[float, float]", "[0.9, 0.99]")
    assert rows["prior.mixture"] == ("list[str]", '["chain:1:1", "chain:1:2", "chain:1:3"]')
    assert rows["log.progress"] == ("bool", "true")
    assert len(rows) == len(set(rows)) and "steps" in rows and "verify.workers" in rows


REGISTRIES = {
    "policy.dtype": "trueloop.policy.hf:DTYPES",
    "rollout.draw": "trueloop.rollout.draw:DRAWS",
    "rollout.engine": "trueloop.rollout.episodes:ENGINES",
    "update.advantage": "trueloop.update.advantages:ADVANTAGES",
    "update.loss_agg": "trueloop.update.losses:LOSS_AGGREGATIONS",
    "update.lr_decay": "trueloop.update.schedule:DECAYS",
    "update.old_logprobs": "trueloop.update.step:OLD_LOGPROBS",
    "update.is_correction": "trueloop.update.mismatch:CORRECTIONS",
    "update.is_level": "trueloop.update.mismatch:LEVELS",
    "distributed.backend": "trueloop.distributed:BACKENDS",
}
# Literal choice fields -> the registry dict their names index
UNREGISTERED = {
    "rollout.engine_dtype": "vLLM's own dtype names, passed through (rollout.vllm_engine)",
    "rollout.lora_sync": "two sync routes (rollout.vllm_engine.VLLMEngine.sync), no registry",
    "update.autocast": "an on/off switch (update.step.autocast), no registry",
    "distributed.unit": "two sampling units (distributed.units.play_here), no registry",
    "curriculum.knob": "names a [task] field, checked below",
}


def literal_fields() -> dict[str, tuple]:
    import typing

    from trueloop.config_parse import describe

    hints = {}
    for f in describe(RunConfig):
        *tables, name = f.key.split(".")
        cls = RunConfig
        for t in tables:
            cls = typing.get_type_hints(cls)[t]
        hints[f.key] = typing.get_type_hints(cls)[name]
    return {k: typing.get_args(tp) for k, tp in hints.items()
            if typing.get_origin(tp) is typing.Literal}


def test_every_literal_choice_field_is_tied_to_its_registry():
    assert set(literal_fields()) == set(REGISTRIES) | set(UNREGISTERED)


@pytest.mark.parametrize("key", sorted(REGISTRIES))
def test_literal_choices_are_the_registry_keys(key):
    import importlib

    module, name = REGISTRIES[key].split(":")
    registry = getattr(importlib.import_module(module), name)
    assert set(literal_fields()[key]) == set(registry), f"{key} vs {REGISTRIES[key]}"


def test_named_choices_that_are_not_literals_name_registered_things():
    """Fields typed `str` because users extend their registry at run time (tasks, shadows) or
    because a task checks them (answer_format): the defaults and the documented names exist."""
    from trueloop.audit.monitors import SHADOWS
    from trueloop.config_parse import field_docs
    from trueloop.policy.tiny import SIZES
    from trueloop.tasks import TASKS
    from trueloop.tasks.base import ANSWER_FORMATS

    cfg = RunConfig()
    assert cfg.task.name in TASKS and cfg.policy.size in SIZES
    documented = field_docs(type(cfg.task))["answer_format"].split(":")[1].split("|")
    assert {name.strip() for name in documented} == set(ANSWER_FORMATS)
    for shadow in SHADOWS:  # validate() accepts every registered shadow by name
        assert load_config(overrides=["--audit.shadow", shadow]).audit.shadow == shadow
    knobs = literal_fields()["curriculum.knob"]
    assert set(knobs) <= {f.name for f in dataclasses.fields(type(cfg.task))}


def write_run_config(tmp_path, data) -> object:
    import json

    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "config.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return run


def test_a_run_config_reads_back_as_trained_with_overrides_on_top(tmp_path):
    from trueloop.config import load_run_config

    cfg = load_config(overrides=["--rollout.top_k", "5", "--verify.any_box", "true",
                                 "--update.betas", "[0.8, 0.9]", "--task.horizon", "2"])
    run = write_run_config(tmp_path, to_dict(cfg))
    assert load_run_config(run) == cfg
    again = load_run_config(run, ["--verify.any_box", "false", "--eval.k", "3"])
    assert again == dataclasses.replace(
        cfg, verify=dataclasses.replace(cfg.verify, any_box=False),
        eval=dataclasses.replace(cfg.eval, k=3))


@pytest.mark.parametrize(("content", "overrides", "message"), [
    (None, [], "does not exist"),
    ("", [], "config.json is missing"),
    ("{torn", [], "config.json is unreadable (JSONDecodeError)"),
    ("[1, 2]", [], "must hold a JSON object"),
    ({"task": {"nme": "chain"}}, [], "config.json does not load as a run config of this "
                                     "trueloop: unknown key(s) ['nme'] in [task]"),
    ({}, ["--eval.kk", "3"], "unknown key(s) ['kk'] in [eval]"),
    ({}, ["--eval.k", "0"], "eval.k and eval.n_problems must be >= 1"),
])
def test_a_bad_run_config_or_override_is_a_sentence(tmp_path, content, overrides, message):
    from trueloop.config import load_run_config

    run = tmp_path / "run"
    if content == "":
        run.mkdir()
    elif content is not None:
        run = write_run_config(tmp_path, content)
    with pytest.raises(ValueError) as err:
        load_run_config(run, overrides)
    assert message in str(err.value)
    if overrides:
        assert "config.json" not in str(err.value)  # an override's fault, not the file's
