"""trueloop.verify: answer extraction (`extract`), the math verifier (`verify.math`) and the code
verifier (`verify.code`, which runs programs in `trueloop.sandbox`).

A `Verifier` is the noun training, evaluation and the monitors verify through: a task's batch
check (`Check`: problems + completions + settings -> one verdict per completion) bound once to
the run's `[verify]` settings. Settings go one way: `task.verifier(cfg.verify)` hands them in,
verdicts come back; nothing reads them back out of an environment.

    verifier = task.verifier(cfg.verify)
    verdicts = verifier(problems, completions)       # problems[i] is what completions[i] answers

How to add a verifier: a function with the `Check` signature (model output never raises; a
`Verdict` with a reason instead), returned by your task's `verify_batch` (or `verify` for one
completion at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig
    from trueloop.types import Problem, Verdict

Check = Callable[["list[Problem]", "list[str]", "VerifyConfig | None"], "list[Verdict]"]
# (problems, completions, settings) -> one verdict per completion; None settings = defaults


@dataclass(frozen=True)
class Verifier:
    """A `Check` bound to its settings. Frozen and hashable: envs sharing one verifier are
    verified in one batched call (a code task's batch runs on the sandbox pool)."""

    check: Check
    settings: VerifyConfig | None = None

    def __call__(self, problems: list[Problem], completions: list[str]) -> list[Verdict]:
        """One verdict per completion; `problems[i]` is the problem `completions[i]` answers."""
        return self.check(problems, completions, self.settings)
