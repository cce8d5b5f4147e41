"""Commands that read a run start from its `RUN/config.json`: `trueloop audit` plays the run's
task under it with `--section.key VALUE` overrides; `trueloop episodes` says from it why a run
kept no episodes."""

from __future__ import annotations

import pytest
from test_cli_eval import train_tiny_run

from trueloop.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("audit") / "run")  # log.save_episodes false


class Played(Exception):
    """Raised by the recording `play`: the audit's settings are known, its SAEs are not needed."""


def test_audit_plays_under_the_runs_config_with_overrides(run, monkeypatch) -> None:
    from trueloop.pipelines import audit

    seen = []

    def play(task, policy, problems, rollout, verify, **kw):
        seen.append((task, rollout, verify))
        raise Played

    monkeypatch.setattr(audit, "play", play)
    with pytest.raises(Played):
        main(["audit", str(run), "--problems", "4", "--rollout.top_k", "2",
              "--verify.any_box", "true"])
    (task, rollout, verify), = seen
    assert task.name == "seven" and task.answer_format == "none"  # the run's [task]
    assert (rollout.max_new_tokens, rollout.top_k) == (24, 2)  # the run's, then the override
    assert verify.last_number_fallback and verify.any_box


def test_audit_refuses_a_bad_override_with_a_sentence(run, capsys) -> None:
    assert main(["audit", str(run), "--rollout.top_kk", "2"]) == 2
    assert "unknown key(s) ['top_kk'] in [rollout]" in capsys.readouterr().err


def test_episodes_says_the_run_kept_none(run, tmp_path, capsys) -> None:
    assert main(["episodes", str(run)]) == 2
    assert "the run trained with log.save_episodes = false" in capsys.readouterr().err
    assert main(["episodes", str(tmp_path / "nope")]) == 2
    assert "run folder" in capsys.readouterr().err
