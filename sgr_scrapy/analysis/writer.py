"""The writer: stores results in a thread of its own while the next ones are computed.

Computing is numba code that releases the GIL, and SQLite releases it while it writes, so the
two overlap: on 2M likes, writing 7.4M rows (~9 s of one core) hides behind computing.
Jobs run one at a time, in the order submitted, all inside the store's one transaction (the
connection is used by this thread only, from the first job to the last). The first error
stops the writer; it is raised in the caller's thread at its next `submit`, or by `close`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

MAX_PENDING = 8  # jobs (blocks of rows) waiting at most: bounds the memory they hold

_STOP = None


class Writer:
    """Runs store calls in order in one thread; times them by label."""

    def __init__(self, on_done: Callable[[int], None] | None = None) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.error: BaseException | None = None
        self.pending = 0  # jobs submitted and not done
        self._on_done = on_done
        self._jobs: queue.Queue[tuple[str, int, Callable[..., Any], tuple[Any, ...]] | None]
        self._jobs = queue.Queue(maxsize=MAX_PENDING)
        self._thread = threading.Thread(target=self._run, name="sgr-analyze-writer", daemon=True)
        self._thread.start()

    def submit(self, label: str, call: Callable[..., Any], *args: Any, rows: int = 0) -> None:
        """Queue `call(*args)`, timed under `label`; `rows` it writes, for the progress."""
        self._raise_error()
        self.pending += 1
        self._jobs.put((label, rows, call, args))

    def close(self) -> None:
        """Wait for every queued job; raise the first error, if any."""
        self._jobs.put(_STOP)
        self._thread.join()
        self._raise_error()

    def stop(self) -> None:
        """Let the running job end, skip the rest and wait (before a rollback)."""
        self.error = self.error or _StoppedError()
        self._jobs.put(_STOP)
        self._thread.join()

    def _raise_error(self) -> None:
        if self.error is not None and not isinstance(self.error, _StoppedError):
            raise self.error

    def _run(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            if self.error is not None:
                continue  # drain: a failed transaction is rolled back by the caller
            label, rows, call, args = job
            started = time.perf_counter()
            try:
                call(*args)
            except BaseException as exc:  # re-raised in the caller's thread
                self.error = exc
            self.seconds[label] += time.perf_counter() - started
            self.pending -= 1
            if rows and self._on_done is not None:
                self._on_done(rows)


class _StoppedError(Exception):
    """Set by Writer.stop: the remaining jobs are skipped, nothing is raised."""
