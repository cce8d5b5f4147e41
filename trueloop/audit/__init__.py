"""Audit: what the policy is learning, logged every step as `audit/*`.

What changes training and what does not: `audit_step` (below), the shadow verifier and the
divergence alarm (`monitors`) only read the batch. Two opt-in instruments change it, and say so
in their config: canaries (`audit.canary_fraction > 0`, `canaries`) replace every
round(1 / fraction)-th problem of the train stream by a canary, and with
`audit.canary_train = false` the canary groups' advantages are zeroed before the update
(`RunMonitor.untrained`); `audit.stop_on_alarm` ends the run at the alarm.

Verdict flags (`hack:*`, `stego:*`) and reasons are counted by `verdict_metrics`; the monitors here
watch the batch for behaviour no single verdict sees:
- `audit/prompt_echo_rate`: completions that repeat the prompt (a classic way to smuggle candidate
  answers past a lenient extractor);
- `audit/group_duplicate_frac`: completions identical to another in their group (mode collapse:
  the policy stops exploring and group advantages vanish);
- `audit/answer_diversity`: distinct extracted answers per group over G, averaged (1/G means every
  sample gives the same answer; a fall while accuracy stays flat is collapse onto a wrong answer).

After a run, `trueloop audit RUN` (`trueloop.pipelines.audit.audit_run`) looks inside the model:
activations by forward hooks (`activations`), TopK sparse autoencoders (`sae`, `sae_metrics`),
base-vs-RL diffs (`diff`), probes from verdict flags (`probes`), and the page (`views`, `page`);
see docs/audit.md. Those modules are imported on demand, never by the training loop.
"""

from __future__ import annotations

from trueloop.rollout import RolloutBatch
from trueloop.types import Problem, Verdict

ECHO_MIN_CHARS = 20
# prompts shorter than this are too short to tell an echo from a coincidence


def audit_step(problems: list[Problem], batch: RolloutBatch, verdicts: list[Verdict]) -> dict:
    g = batch.group_size
    texts = batch.texts
    n = len(texts)
    echo = sum(len(problems[i // g].prompt) >= ECHO_MIN_CHARS
               and problems[i // g].prompt[:ECHO_MIN_CHARS * 2] in t for i, t in enumerate(texts))
    dup = diversity = 0.0
    for start in range(0, n, g):
        dup += g - len(set(texts[start:start + g]))
        diversity += len({v.extracted for v in verdicts[start:start + g]}) / g
    return {
        "audit/prompt_echo_rate": echo / n,
        "audit/group_duplicate_frac": dup / n,
        "audit/answer_diversity": diversity / (n // g),
    }
