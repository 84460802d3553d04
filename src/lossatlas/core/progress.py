"""A small progress bar for long work (rich), silent when disabled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None):
        self._progress, self._task = progress, task

    def update(self, completed: int, **fields: float) -> None:
        if self._progress is None:
            return
        info = "  ".join(f"{k} {v:.4g}" for k, v in fields.items())
        if info:
            self._progress.update(self._task, completed=completed, info=info)
        else:
            self._progress.update(self._task, completed=completed)


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool = True) -> Iterator[_Bar]:
    """A bar showing done/total, the rate's consequence (elapsed, time left) and extra fields."""
    from lossatlas.core import distributed

    if not enabled or not distributed.is_main():  # one bar per job, on rank 0
        yield _Bar(None, None)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, info="")
        yield _Bar(progress, task)
