"""A live progress bar for training (rich), showing the reward and accuracy of the last step."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class _Bar:
    def __init__(self, progress: Progress | None, task_id: int | None) -> None:
        self.progress, self.task_id = progress, task_id

    def update(self, metrics: dict[str, float]) -> None:
        if self.progress is None:
            return
        info = (f"reward {metrics.get('reward/mean', 0.0):.3f}  "
                f"acc {metrics.get('rollout/accuracy', 0.0):.3f}  "
                f"{metrics.get('time/step', 0.0):.2f}s/step")
        self.progress.update(self.task_id, advance=1, info=info)


@contextlib.contextmanager
def progress_bar(total: int, done: int, *, enabled: bool = True, label: str = "train") -> Iterator[_Bar]:
    if not enabled:
        yield _Bar(None, None)
        return
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=False) as progress:
        task_id = progress.add_task(label, total=total, completed=done, info="")
        yield _Bar(progress, task_id)
