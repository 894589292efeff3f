"""The progress of an export: a rich bar on a terminal, nothing when stderr is not one.

The look is the harvest's (sgr_scrapy/progress.py): a bold cyan phase, the bar, the counts with
thousands separators, the ETA in bold. A step of unknown length (writing a graph file) shows a
spinner and the time spent.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO, Any, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Step:
    """One step of an export: `advance(n)` as rows are done."""

    def __init__(self, progress: Progress | None, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def done(self) -> None:
        if self._progress is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, total=task.completed or 1, completed=task.completed)


class ExportProgress:
    """Steps of an export, shown live on a terminal; silent elsewhere (logs, pipes, tests)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        console = Console(file=stream or sys.stderr, highlight=False)
        self._progress: Progress | None = None
        if console.is_terminal and not console.is_dumb_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold cyan]{task.description}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("·"),
                TimeElapsedColumn(),
                TextColumn("· ETA"),
                TimeRemainingColumn(),
                console=console,
            )

    def step(self, description: str, total: int | None) -> Step:
        """A new step; `total` None for a step of unknown length."""
        if self._progress is None:
            return Step(None, None)
        return Step(self._progress, self._progress.add_task(description, total=total))

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
