"""The harvest's progress: one line for logs, or a live bar that fits the terminal.

`Snapshot` holds the numbers; `Snapshot.line()` is the progress line logged every
SGR_PROGRESS_INTERVAL seconds when stderr is not a terminal. On a terminal, `LiveBar` shows the
same numbers on one line that rich redraws in place. The line is fitted to the terminal's width
at every redraw (`fit`): the phase and the ETA always stay, then the fields in order of
importance (users, problems that happened, the bar, tracks, engagements, requests, ...), and
what does not fit is left out rather than wrapped. Log lines are printed above the bar.
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import ConsoleOptions, RenderResult

BAR_MIN, BAR_MAX = 10, 40  # columns of the bar itself, when it is shown
ECHO_ROOM = 2  # columns left free at the end of the line (see ProgressLine)


def duration(seconds: float | None) -> str:
    """An ETA as a person reads it: `42 s`, `12 min`, `3 h 05 min`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the harvest has done so far, as the progress line and the bar show it."""

    phase: str
    users_done: int
    users_total: int
    tracks: int
    engagements: int
    requests: int
    rate: float  # requests per second, recently
    waits: int  # 429 answers
    retries: int
    refreshes: int  # token renewals
    failed_pages: int
    incomplete: int  # lists cut short
    eta: float | None  # seconds left of the user-depth phase; None while unknown

    def line(self) -> str:
        """The progress line for logs (one line, every field)."""
        return (
            f"{self.phase}: users {self.users_done}/{self.users_total}, tracks {self.tracks}, "
            f"engagements {self.engagements}, requests {self.requests} ({self.rate:.1f}/s), "
            f"429 waits {self.waits}, retries {self.retries}, token refreshes {self.refreshes}, "
            f"failed pages {self.failed_pages}, lists incomplete {self.incomplete}, "
            f"ETA {duration(self.eta)}"
        )


@dataclass(frozen=True, slots=True)
class _Field:
    text: str
    rank: int  # lower is kept longer when the terminal is narrow
    style: str = ""


PHASE, BAR = "phase", "bar"


def _fields(s: Snapshot) -> list[tuple[str, _Field]]:
    """Every field of the bar, in the order shown, with its rank."""

    def problem(count: int, label: str) -> _Field:
        # A problem that happened outranks the counts; one that did not is the first to go.
        return _Field(f"{label} {count:,}", 3 if count else 20, "yellow" if count else "")

    return [
        (PHASE, _Field(s.phase, 0, "bold cyan")),
        (BAR, _Field("", 4)),
        ("users", _Field(f"users {s.users_done:,}/{s.users_total:,}", 2)),
        ("tracks", _Field(f"tracks {s.tracks:,}", 5)),
        ("engagements", _Field(f"engagements {s.engagements:,}", 6)),
        ("requests", _Field(f"requests {s.requests:,} ({s.rate:,.1f}/s)", 7)),
        ("waits", problem(s.waits, "429 waits")),
        ("retries", problem(s.retries, "retries")),
        ("refreshes", _Field(f"token refreshes {s.refreshes:,}", 30)),
        ("failed", problem(s.failed_pages, "failed pages")),
        ("incomplete", problem(s.incomplete, "lists incomplete")),
        ("eta", _Field(f"ETA {duration(s.eta)}", 1, "bold")),
    ]


def _pieces(
    chosen: list[tuple[str, _Field]] | tuple[tuple[str, _Field], ...], bar: int, sep: str
) -> list[tuple[str, str]]:
    """(text, style) in display order; the bar is `bar` placeholder characters."""
    pieces: list[tuple[str, str]] = []
    previous = ""
    for name, field in chosen:
        if pieces:
            pieces.append((" " if BAR in (name, previous) else sep, ""))
        pieces.append(
            ("#" * bar if name == BAR else field.text, BAR if name == BAR else field.style)
        )
        previous = name
    return pieces


@dataclass(frozen=True, slots=True)
class Layout:
    """The fields that fit, in display order, and the bar's width (0: no bar)."""

    fields: tuple[tuple[str, _Field], ...]
    bar: int
    sep: str

    def plain(self) -> str:
        return "".join(text for text, _ in _pieces(self.fields, self.bar, self.sep))

    def text(self, bar: Text) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        for piece, style in _pieces(self.fields, self.bar, self.sep):
            line.append(bar if style == BAR else Text(piece, style=style))
        return line


def _width(chosen: list[tuple[str, _Field]], bar: int, sep: str) -> int:
    return sum(len(text) for text, _ in _pieces(chosen, bar, sep))


def fit(s: Snapshot, width: int, *, ascii_only: bool = False) -> Layout:
    """The most important fields that fit in `width` columns, in display order."""
    sep = " | " if ascii_only else " · "
    every = _fields(s)
    keep = {PHASE, "eta"}
    for name, _field in sorted(every, key=lambda item: item[1].rank):
        trial = [item for item in every if item[0] in keep | {name}]
        if _width(trial, BAR_MIN, sep) > width:
            break  # what ranks lower goes too, even if it is shorter
        keep.add(name)
    chosen = [item for item in every if item[0] in keep]
    bar = 0
    if BAR in keep:
        bar = min(BAR_MAX, BAR_MIN + width - _width(chosen, BAR_MIN, sep))
    return Layout(tuple(chosen), bar, sep)


class ProgressLine:
    """A rich renderable: the snapshot fitted to the width it is drawn at, never wrapped."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Two columns stay free: the terminal echoes Ctrl-C as "^C" after the bar, and a line
        # that reached the last column would wrap, leaving a stale copy of the bar behind.
        width = max(1, options.max_width - ECHO_ROOM)
        layout = fit(self.snapshot, width, ascii_only=options.ascii_only)
        bar = self._bar(console, options, layout.bar) if layout.bar else Text()
        text = layout.text(bar)
        text.truncate(width, overflow="ellipsis")  # only when even the phase and ETA do not fit
        yield text

    def _bar(self, console: Console, options: ConsoleOptions, width: int) -> Text:
        s = self.snapshot
        total = s.users_total or None  # unknown yet: rich draws a pulse
        if console.color_system is None:  # no colours: rich's bar would not show what is left
            done = round(width * s.users_done / total) if total else 0
            return Text("#" * done + "." * (width - done))
        bar = ProgressBar(total=total, completed=s.users_done, width=width)
        segments = console.render(bar, options.update(width=width))
        text = Text.assemble(*((seg.text, seg.style) for seg in segments if not seg.control))
        text.pad_right(width - text.cell_len)
        return text


class _ConsoleStream:
    """A stream for logging handlers while the bar is live: each line is printed above it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._partial = ""

    def write(self, data: str) -> int:
        *lines, self._partial = (self._partial + data).split("\n")
        for line in lines:
            # soft_wrap: the terminal wraps a long log line; a copied URL stays whole.
            self.console.print(Text(line), soft_wrap=True)
        return len(data)

    def flush(self) -> None:
        pass


def _same_file(a: object, b: IO[str]) -> bool:
    if a is b:
        return True
    try:
        return os.path.sameopenfile(a.fileno(), b.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


class LiveBar:
    """The bar on a terminal: redrawn in place by rich; log lines go above it while it runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        # Redrawn by the caller (from the reactor), not by rich's thread: nothing reads the
        # crawl's state from another thread.
        self.live = Live(
            console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=True
        )
        self._moved: list[tuple[logging.StreamHandler[IO[str]], IO[str]]] = []

    @classmethod
    def on(cls, stream: IO[str]) -> LiveBar | None:
        """A bar on `stream` if it is a terminal that can redraw a line; else None."""
        console = Console(file=stream, highlight=False)
        if not console.is_terminal or console.is_dumb_terminal:
            return None
        return cls(console)

    def start(self) -> None:
        self.live.start()
        atexit.register(self.stop)  # a crash must not leave the cursor hidden
        stream = _ConsoleStream(self.console)
        for handler in logging.root.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and _same_file(handler.stream, self.console.file)
            ):
                self._moved.append((handler, handler.stream))
                handler.setStream(stream)  # type: ignore[arg-type]

    @property
    def started(self) -> bool:
        return self.live.is_started

    def update(self, snapshot: Snapshot) -> None:
        self.live.update(ProgressLine(snapshot), refresh=True)

    def stop(self) -> None:
        """Leave the last state on screen and give the terminal back; safe to call twice."""
        for handler, stream in self._moved:
            handler.setStream(stream)
        self._moved.clear()
        self.live.stop()
        atexit.unregister(self.stop)
