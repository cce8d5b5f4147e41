"""trueloop.verify: answer extraction, the math and code verifiers, and the sandbox.

`verify_completions` is the one seam through which training and evaluation verify: it hands the
run's `[verify]` settings (`VerifyConfig`) to the task, so `timeout_s`, `code_partial_credit` or
`last_number_fallback` reach every training verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trueloop.config import VerifyConfig
    from trueloop.tasks.base import Task
    from trueloop.types import Problem, Verdict


def verify_completions(task: Task, problems: list[Problem], completions: list[str],
                       cfg: VerifyConfig) -> list[Verdict]:
    """One verdict per completion; `problems[i]` is the problem `completions[i]` answers."""
    return task.verify_batch(problems, completions, cfg)
