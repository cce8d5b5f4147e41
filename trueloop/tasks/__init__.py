"""Task registry: name -> Task class. Add a task by writing `tasks/<name>.py` and one line here."""

from __future__ import annotations

from trueloop.tasks.base import Task

TASKS: dict[str, type[Task]] = {}


def make_task(name: str, **options) -> Task:
    """Build a registered task by name (`difficulty=`, `horizon=`, `answer_format=`, ...)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}.")
    return TASKS[name](**options)


def make_cell(cell: str, **options) -> Task:
    """Build a task from a "name:difficulty:horizon" cell ("-" = no horizon), as configs write them."""
    parts = cell.split(":")
    if len(parts) != 3:
        raise ValueError(f"a task cell is 'name:difficulty:horizon' ('-' for no horizon); "
                         f"got {cell!r}.")
    name, difficulty, horizon = parts
    return make_task(name, difficulty=int(difficulty),
                     horizon=None if horizon in ("-", "") else int(horizon), **options)
