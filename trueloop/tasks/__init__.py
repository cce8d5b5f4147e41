"""Task registry: name -> Task class. Add a task by writing `tasks/<name>.py` and one line here."""

from __future__ import annotations

from trueloop.tasks.base import Task

TASKS: dict[str, type[Task]] = {}


def make_task(name: str, **options) -> Task:
    """Build a registered task by name (`difficulty=`, `horizon=`, `answer_format=`, ...)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}.")
    return TASKS[name](**options)
