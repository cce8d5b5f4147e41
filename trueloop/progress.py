"""Progress of long loops (prior, training): a live rich bar on a terminal; on a pipe or a CI log,
a plain line every 5% of the run, so logs show progress without control characters."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def describe(metrics: dict[str, float]) -> str:
    return (f"reward {metrics.get('reward/mean', 0.0):.3f}  "
            f"acc {metrics.get('rollout/accuracy', 0.0):.3f}  "
            f"{metrics.get('time/step', 0.0):.2f}s/step")


class _Bar:
    def __init__(self, label: str, total: int, done: int, progress: Progress | None = None,
                 task_id: int | None = None, plain: bool = False, describe=describe) -> None:
        self.label, self.total, self.done = label, total, done
        self.progress, self.task_id, self.plain = progress, task_id, plain
        self.describe = describe
        self.every = max(1, total // 20)
        self.t0 = time.perf_counter()

    def update(self, metrics: dict[str, float]) -> None:
        self.done += 1
        info = self.describe(metrics)
        if self.progress is not None:
            self.progress.update(self.task_id, advance=1, info=info)
        elif self.plain and (self.done % self.every == 0 or self.done == self.total):
            elapsed = time.perf_counter() - self.t0
            print(f"[{self.label}] {self.done}/{self.total}  {info}  ({elapsed:.0f}s)",
                  file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress_bar(total: int, done: int, *, enabled: bool = True, label: str = "train",
                 describe=describe) -> Iterator[_Bar]:
    console = Console(file=sys.stderr)
    if not enabled or not console.is_terminal:
        yield _Bar(label, total, done, plain=enabled, describe=describe)
        return
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task_id = progress.add_task(label, total=total, completed=done, info="")
        yield _Bar(label, total, done, progress, task_id, describe=describe)
