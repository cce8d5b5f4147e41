"""Reward shaping terms, one function each: (RewardInput, RewardConfig) -> float.

    reward/correct   cfg.correct * verdict.reward              (verdict.reward in [0, 1]: 1 when
                                                                correct, a fraction under partial
                                                                credit, 0 otherwise)
    reward/format    cfg.format_bonus if an answer was found    (reason not in NO_FORMAT_REASONS)
    reward/overlong  -cfg.length_penalty * ramp                 soft overlong punishment, DAPO
                                                                (arXiv 2503.14476, eq. 13)

The DAPO ramp, with L = max_new_tokens, C = overlong_buffer and |y| the completion's length:

    ramp = 0                       if |y| <= L - C
           (|y| - (L - C)) / C     if L - C < |y| <= L
           1                       if the completion was cut at the cap (finish reason "length")

With C = 0 the penalty is a hard one: -length_penalty for a truncated completion, else 0.

Departures: DAPO's third case is |y| > L; here a sampler never emits more than L tokens, so a
truncation (finish reason "length") stands for it. The format bonus is withheld from
`multiple_answers` as well as `no_answer`: hedging over several answers is not a well-formed
answer. The hack rule (a flagged verdict gets 0 for every positive term) lives in
`trueloop.reward.compute_reward`, so no single term can forget it.
"""

from __future__ import annotations

from dataclasses import dataclass

from trueloop.config import RewardConfig
from trueloop.types import FinishReason, Verdict

NO_FORMAT_REASONS = frozenset({"no_answer", "multiple_answers"})
# verdict reasons that earn no format bonus


@dataclass(frozen=True)
class RewardInput:
    """Everything a shaping term may look at for one completion."""

    verdict: Verdict
    finish_reason: FinishReason
    num_tokens: int
    # generated tokens in the completion
    max_new_tokens: int
    # the sampler's length cap L


def correct(x: RewardInput, cfg: RewardConfig) -> float:
    return cfg.correct * x.verdict.reward


def format_bonus(x: RewardInput, cfg: RewardConfig) -> float:
    return 0.0 if x.verdict.reason in NO_FORMAT_REASONS else cfg.format_bonus


def overlong(x: RewardInput, cfg: RewardConfig) -> float:
    if cfg.length_penalty == 0.0:
        return 0.0
    if x.finish_reason == "length":
        return -cfg.length_penalty
    start = x.max_new_tokens - cfg.overlong_buffer
    if cfg.overlong_buffer == 0 or x.num_tokens <= start:
        return 0.0
    ramp = min(1.0, (x.num_tokens - start) / cfg.overlong_buffer)
    return -cfg.length_penalty * ramp
