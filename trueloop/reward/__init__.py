"""Verdicts -> scalar rewards: a sum of named shaping terms (`TERMS`, see `reward/terms.py`).

    total = sum over terms t of value_t,   value_t = 0 for every positive term of a hacked verdict

A verdict flagged as a hack (`verdict.hacked`, any `hack:*` flag) keeps its penalties (e.g. the
overlong term) but loses every positive component, so a hack is never rewarded, whatever the
configured bonuses. Components come back under their metric names (`reward/correct`, ...), so the
trainer can log their batch means as they are.

How to add a shaping term: a function `(RewardInput, RewardConfig) -> float` in `terms.py`, its
weight as a field of `RewardConfig`, and one entry in `TERMS`.

Environment shaping: an environment's verdict may carry per-episode shaping terms of its own in
`details["shaping"]` (name -> value, e.g. a small bonus per successful tool call, computed from
the env's state and the policy's actions). Each becomes the component `reward/shaping/<name>`,
under the same hack rule (a hacked verdict keeps only its non-positive terms).
"""

from __future__ import annotations

from collections.abc import Callable

from trueloop.config import RewardConfig
from trueloop.reward.terms import RewardInput, correct, format_bonus, overlong
from trueloop.types import FinishReason, Verdict

TERMS: dict[str, Callable[[RewardInput, RewardConfig], float]] = {
    "reward/correct": correct,
    "reward/format": format_bonus,
    "reward/overlong": overlong,
}


def compute_reward(
    verdict: Verdict,
    *,
    finish_reason: FinishReason,
    num_tokens: int,
    max_new_tokens: int,
    cfg: RewardConfig,
) -> tuple[float, dict[str, float]]:
    """Total reward of one completion and its named components (which sum to the total)."""
    if not 0 <= cfg.overlong_buffer <= max_new_tokens:
        raise ValueError(f"reward.overlong_buffer must be in [0, max_new_tokens={max_new_tokens}]; "
                         f"got {cfg.overlong_buffer}. Lower it or raise rollout.max_new_tokens.")
    x = RewardInput(verdict, finish_reason, num_tokens, max_new_tokens)
    components = {name: term(x, cfg) for name, term in TERMS.items()}
    for name, value in (verdict.details.get("shaping") or {}).items():
        components[f"reward/shaping/{name}"] = float(value)
    if verdict.hacked:
        components = {name: min(value, 0.0) for name, value in components.items()}
    return sum(components.values()), components


__all__ = ["TERMS", "RewardInput", "compute_reward"]
