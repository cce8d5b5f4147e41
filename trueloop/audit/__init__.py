"""Audit: read-only monitors of what the policy is learning, logged every step as `audit/*`.

Verdict flags (`hack:*`, `stego:*`) are counted by `verdict_metrics`; the monitors here watch the
batch for behaviour no single verdict sees:
- `audit/prompt_echo_rate`: completions that repeat the prompt (a classic way to smuggle candidate
  answers past a lenient extractor);
- `audit/group_duplicate_frac`: completions identical to another in their group (mode collapse:
  the policy stops exploring and group advantages vanish);
- `audit/flagged_correct_rate`: verdicts that are correct yet carry a hack flag (the verifier
  refused the reward; a rising value means the policy is probing the checker);
- `audit/no_answer_rate` is a verdict reason and already counted under `verify/reason/`.
"""

from __future__ import annotations

from trueloop.rollout import RolloutBatch
from trueloop.types import Problem, Verdict


def audit_step(problems: list[Problem], batch: RolloutBatch, verdicts: list[Verdict]) -> dict:
    g = batch.group_size
    texts = batch.texts
    n = len(texts)
    echo = sum(
        len(problems[i // g].prompt) > 20 and problems[i // g].prompt[:40] in t
        for i, t in enumerate(texts)
    )
    dup = 0
    for start in range(0, n, g):
        group = texts[start:start + g]
        dup += len(group) - len(set(group))
    flagged_correct = sum(bool(v.flags) and v.details.get("answer_correct", False) for v in verdicts)
    return {
        "audit/prompt_echo_rate": echo / n,
        "audit/group_duplicate_frac": dup / n,
        "audit/flagged_correct_rate": flagged_correct / n,
    }
