"""`--help` of every command that takes config overrides lists the fields it takes, each with
its type, default and doc line, generated from the dataclasses in trueloop/config.py."""

from __future__ import annotations

import pytest

from trueloop.cli import main
from trueloop.config import RunConfig
from trueloop.config_parse import describe


def help_text(capsys, command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # the doc lines are wrapped


@pytest.mark.parametrize("command", ["train", "eval", "audit"])
def test_help_lists_every_config_field(capsys, command) -> None:
    text = help_text(capsys, command)
    for f in describe(RunConfig):
        assert f"--{f.key} {f.type} (default {f.default}) {' '.join(f.doc.split())}" in text


@pytest.mark.parametrize("command", ["rescore", "verify"])
def test_help_lists_the_verify_fields_it_takes_and_no_others(capsys, command) -> None:
    text = help_text(capsys, command)
    for f in describe(RunConfig):
        assert (f"--{f.key} {f.type}" in text) == f.key.startswith("verify."), f.key
