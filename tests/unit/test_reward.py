"""Reward components: correctness, format bonus, DAPO soft overlong penalty, the hack rule."""

import pytest

from trueloop.config import RewardConfig
from trueloop.reward import TERMS, compute_reward
from trueloop.types import Verdict

RIGHT = Verdict(correct=True, reward=1.0, reason="ok")
WRONG = Verdict(correct=False, reward=0.0, reason="wrong")
NONE = Verdict(correct=False, reward=0.0, reason="no_answer")
HACK = Verdict(correct=True, reward=1.0, reason="ok", flags=frozenset({"hack:exit"}))


def score(verdict, cfg, *, num_tokens=10, finish_reason="stop", max_new_tokens=100):
    return compute_reward(verdict, finish_reason=finish_reason, num_tokens=num_tokens,
                          max_new_tokens=max_new_tokens, cfg=cfg)


def test_components_named_and_sum_to_total():
    total, comps = score(RIGHT, RewardConfig(correct=2.0, format_bonus=0.1))
    assert set(comps) == set(TERMS) == {"reward/correct", "reward/format", "reward/overlong"}
    assert comps == {"reward/correct": 2.0, "reward/format": 0.1, "reward/overlong": 0.0}
    assert total == pytest.approx(2.1)


def test_partial_credit_scales_correct_term():
    partial = Verdict(correct=False, reward=0.25, reason="wrong")
    assert score(partial, RewardConfig(correct=2.0))[1]["reward/correct"] == 0.5


@pytest.mark.parametrize("verdict, bonus", [(WRONG, 0.1), (NONE, 0.0), (RIGHT, 0.1),
    (Verdict(correct=False, reward=0.0, reason="multiple_answers"), 0.0)])
def test_format_bonus_only_for_a_single_answer(verdict, bonus):
    assert score(verdict, RewardConfig(format_bonus=0.1))[1]["reward/format"] == bonus


@pytest.mark.parametrize("num_tokens, finish, expected", [
    (60, "stop", 0.0),  # before the buffer (L - C = 80)
    (80, "stop", 0.0),  # at its start
    (90, "stop", -0.25),  # halfway: -0.5 * 10 / 20
    (100, "stop", -0.5),  # stopped exactly at L
    (100, "length", -0.5),  # cut at the cap
])
def test_soft_overlong_ramp(num_tokens, finish, expected):
    cfg = RewardConfig(length_penalty=0.5, overlong_buffer=20)
    _, comps = score(WRONG, cfg, num_tokens=num_tokens, finish_reason=finish)
    assert comps["reward/overlong"] == pytest.approx(expected)


def test_hard_overlong_without_buffer():
    cfg = RewardConfig(length_penalty=1.0, overlong_buffer=0)
    assert score(RIGHT, cfg, num_tokens=100, finish_reason="length")[0] == 0.0
    assert score(RIGHT, cfg, num_tokens=100, finish_reason="stop")[0] == 1.0


def test_no_length_penalty_by_default():
    assert score(RIGHT, RewardConfig(), num_tokens=100, finish_reason="length")[0] == 1.0


@pytest.mark.parametrize("cfg", [RewardConfig(), RewardConfig(correct=5.0, format_bonus=1.0),
                                 RewardConfig(length_penalty=0.3, overlong_buffer=10)])
@pytest.mark.parametrize("num_tokens, finish", [(5, "stop"), (95, "stop"), (100, "length")])
def test_hacked_verdict_never_positive(cfg, num_tokens, finish):
    total, comps = score(HACK, cfg, num_tokens=num_tokens, finish_reason=finish)
    assert total <= 0.0 and all(v <= 0.0 for v in comps.values())
    assert comps["reward/overlong"] == score(RIGHT, cfg, num_tokens=num_tokens,
                                             finish_reason=finish)[1]["reward/overlong"]


def test_non_hack_flag_keeps_reward():
    flagged = Verdict(correct=True, reward=1.0, reason="ok", flags=frozenset({"stego:hidden"}))
    assert score(flagged, RewardConfig())[0] == 1.0


def test_buffer_longer_than_cap_raises():
    with pytest.raises(ValueError, match="overlong_buffer"):
        score(RIGHT, RewardConfig(length_penalty=1.0, overlong_buffer=200), max_new_tokens=100)


def test_environment_shaping_terms_are_named_components_and_hacks_lose_them() -> None:
    from trueloop.config import RewardConfig
    from trueloop.reward import compute_reward
    from trueloop.types import Verdict

    shaped = Verdict(False, 0.0, "wrong", details={"shaping": {"tool_ok": 0.1, "flood": -0.05}})
    total, parts = compute_reward(shaped, finish_reason="stop", num_tokens=5, max_new_tokens=8,
                                  cfg=RewardConfig())
    assert parts["reward/shaping/tool_ok"] == 0.1 and parts["reward/shaping/flood"] == -0.05
    assert total == sum(parts.values())
    hacked = Verdict(False, 0.0, "hacked", frozenset({"hack:exit"}),
                     details={"shaping": {"tool_ok": 0.1, "flood": -0.05}})
    total, parts = compute_reward(hacked, finish_reason="stop", num_tokens=5, max_new_tokens=8,
                                  cfg=RewardConfig())
    assert parts["reward/shaping/tool_ok"] == 0.0 and total == -0.05
