"""trueloop tasks and verifiers inside other trainers: TRL (`integrations.trl`), verl (`.verl`).

Both integrations share one contract, kept here: how a Problem's *hidden* ground truth travels
next to the prompt in a trainer's dataset, and how a batch of completions is verified.

    visible  prompt (text, or chat messages)        rendered to the policy
    hidden   problem_id, task, answer, truth, meta  read only by the reward; `truth` and `meta`
                                                    are JSON text, so any task's nested truth fits
                                                    one Arrow/parquet string column

Trainers render only the prompt, so the hidden columns never reach the policy; the reward
rebuilds the Problem from them (`problem_from_hidden`) and calls the task's own verifier.

Verification runs in `workers` threads, each verifying one contiguous chunk with
`task.verify_batch`: a task that parallelises its own batch (a sandbox pool) still gets whole
chunks, and a task that verifies one completion at a time (the code task's sandbox calls release
the GIL while a child process runs) gets `workers` completions in flight at once.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from trueloop.tasks import make_task
from trueloop.tasks.base import Task
from trueloop.types import Message, Problem, Verdict

BatchVerifier = Callable[[list[Problem], list[str]], list[Verdict]]
# verify_batch(problems, completions) -> one Verdict per completion
Verifier = Callable[[Problem, str], Verdict]
# a single-completion verifier, e.g. `task.verify` or `lambda p, c: verify_math(p.answer, c)`


def resolve_task(task: str | Task, options: dict[str, Any]) -> Task:
    """A Task instance from a registry name plus options, or the instance itself (no options)."""
    if isinstance(task, Task):
        if options:
            raise ValueError(f"task options {sorted(options)} only apply to a task given by name; "
                             f"got the instance {task.name!r}. Pass the name, or drop the options.")
        return task
    return make_task(task, **options)


def task_options(task: Task) -> dict[str, Any]:
    """The knobs that rebuild `task` with `make_task(task.name, **options)` (procedural tasks)."""
    return {"difficulty": task.difficulty, "horizon": task.horizon,
            "answer_format": task.answer_format}


def hidden_columns(problem: Problem) -> dict[str, Any]:
    """The columns that carry `problem`'s ground truth past the trainer, policy-invisible."""
    return {"problem_id": problem.id, "task": problem.task, "answer": problem.answer,
            "truth": json.dumps(problem.truth, sort_keys=True),
            "meta": json.dumps(problem.meta, sort_keys=True, default=str)}


def problem_from_hidden(prompt: str, *, problem_id: str | None = None, task: str | None = None,
                        answer: str | None = None, truth: str | dict | None = None,
                        meta: str | dict | None = None) -> Problem:
    """Rebuild the Problem a verifier needs from `hidden_columns` (any of them may be missing)."""
    return Problem(
        id=problem_id or "", task=task or "", prompt=prompt, messages=(Message("user", prompt),),
        answer=None if answer is None else str(answer),
        truth=_json_dict(truth), meta=_json_dict(meta))


def _json_dict(value: str | dict | None) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    return dict(value) if isinstance(value, dict) else json.loads(value)


def batch_verifier(target: Task | Verifier) -> BatchVerifier:
    """`task.verify_batch`, or a per-completion verifier lifted to a batch."""
    if isinstance(target, Task):
        return target.verify_batch
    return lambda problems, texts: [target(p, c) for p, c in zip(problems, texts, strict=True)]


def default_workers() -> int:
    return os.cpu_count() or 1


def verify_parallel(verify: BatchVerifier, problems: Sequence[Problem], texts: Sequence[str],
                    workers: int = 0) -> list[Verdict]:
    """Verify `texts[i]` against `problems[i]` in `workers` threads (0 = one per CPU core)."""
    workers = min(workers or default_workers(), len(texts))
    if workers <= 1:
        return list(verify(list(problems), list(texts)))
    bounds = [len(texts) * i // workers for i in range(workers + 1)]
    chunks = [(list(problems[a:b]), list(texts[a:b])) for a, b in itertools.pairwise(bounds)]
    with ThreadPoolExecutor(workers, thread_name_prefix="trueloop-verify") as pool:
        parts = list(pool.map(lambda chunk: verify(*chunk), chunks))
    verdicts = [v for part in parts for v in part]
    if len(verdicts) != len(texts):
        raise RuntimeError(f"verifier returned {len(verdicts)} verdicts for {len(texts)} texts")
    return verdicts


__all__ = ["BatchVerifier", "Verifier", "batch_verifier", "hidden_columns",
           "problem_from_hidden", "resolve_task", "task_options", "verify_parallel"]
