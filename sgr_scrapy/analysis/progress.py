"""analyze's progress: two bars on a terminal (the step being computed, the rows written),
nothing otherwise (a log or a pipe gets the summary only).

The look is the harvest's (sgr_scrapy/progress.py): the phase in bold cyan, then the bar, the
counts and the time. The writer thread updates its bar from its own thread: rich's Progress
takes a lock for each update and redraws from a thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class AnalyzeProgress(Protocol):
    """What the analysis reports as it goes."""

    def step(self, name: str, total: int) -> Callable[[int], None]:
        """A step begins; the returned callable takes how much of `total` is done."""
        ...

    def queued(self, rows: int) -> None:
        """Rows handed to the writer."""
        ...

    def written(self, rows: int) -> None:
        """Rows the writer stored."""
        ...

    def close(self) -> None: ...


class Silent:
    """No progress (not a terminal)."""

    def step(self, name: str, total: int) -> Callable[[int], None]:
        return lambda done: None

    def queued(self, rows: int) -> None:
        pass

    def written(self, rows: int) -> None:
        pass

    def close(self) -> None:
        pass


class Bars:
    """The two bars, live on a terminal."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold cyan]{task.description:<18}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,  # the summary follows; the bars would only repeat it
        )
        self._compute: TaskID = self.progress.add_task("read", total=None)
        self._write: TaskID = self.progress.add_task("write", total=0)
        self.progress.start()

    @classmethod
    def on(cls, stream: IO[str]) -> Bars | None:
        console = Console(file=stream, highlight=False)
        if not console.is_terminal or console.is_dumb_terminal:
            return None
        return cls(console)

    def step(self, name: str, total: int) -> Callable[[int], None]:
        self.progress.reset(self._compute, total=total, description=name)

        def update(done: int) -> None:
            self.progress.update(self._compute, completed=done)

        return update

    def queued(self, rows: int) -> None:
        task = self.progress.tasks[self._write]
        self.progress.update(self._write, total=(task.total or 0) + rows)

    def written(self, rows: int) -> None:
        self.progress.advance(self._write, rows)

    def close(self) -> None:
        self.progress.stop()


def progress_on(stream: IO[str]) -> AnalyzeProgress:
    """Bars on `stream` if it is a terminal that can redraw, else nothing."""
    return Bars.on(stream) or Silent()
