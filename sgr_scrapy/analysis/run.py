"""One analysis: read the engagements, compute the three kNN tables (and ALS vectors), store
them in one transaction, and say what was done.

The main thread computes, kind after kind, block after block; the writer thread (writer.py)
stores each block as soon as it is computed, inside the store's one transaction, which
`finish_analysis` commits after the last block. Any error, or Ctrl-C, rolls it back: the
previous run's rows stay as they were.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from sgr_scrapy.analysis import als, knn
from sgr_scrapy.analysis.evaluate import Evaluation, evaluate, progress_steps
from sgr_scrapy.analysis.matrix import Csr, Matrices
from sgr_scrapy.analysis.options import Options
from sgr_scrapy.analysis.progress import AnalyzeProgress
from sgr_scrapy.analysis.writer import Writer
from sgr_scrapy.store.analysis import FACTOR_TABLES, RELATIONS

if TYPE_CHECKING:
    from sgr_scrapy.store import Store


WRITER_BEHIND = 2  # jobs waiting for the writer beyond which it gets a core of its own


@dataclass(frozen=True, slots=True)
class Kind:
    """One relation analyze computes: whose rows are related, through which matrix."""

    name: str  # key of store.analysis.RELATIONS
    label: str  # for the progress and the summary
    matrices: Callable[[Matrices], tuple[Csr, Csr, np.ndarray]]  # rows, transpose, row ids


KINDS = (
    Kind("tracks", "co-liked tracks", lambda m: (m.tracks, m.users, m.track_ids)),
    Kind("users", "similar users", lambda m: (m.users, m.tracks, m.user_ids)),
    Kind(
        "artists",
        "co-liked artists",
        lambda m: (m.artists, m.artists.transpose(), m.artist_ids),
    ),
)


@dataclass
class Report:
    """What a run did, for the summary and the run's row."""

    run_id: int = 0
    inputs: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # by table
    compute: dict[str, float] = field(default_factory=dict)  # seconds by step, main thread
    write: dict[str, float] = field(default_factory=dict)  # seconds by table, writer thread
    wall: float = 0.0
    peak_memory_mb: int = 0
    threads: int = 1
    evaluation: Evaluation | None = None

    def record(self) -> dict[str, Any]:
        """The run's analysis_runs columns (seconds as at the commit, the commit excluded)."""
        seconds = {**self.compute, **{f"write {k}": v for k, v in self.write.items()}}
        return {
            **self.inputs,
            "rows": self.rows,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "peak_memory_mb": peak_memory_mb(),
            "evaluation": self.evaluation.to_json() if self.evaluation else None,
        }


def peak_memory_mb() -> int:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def threads_available() -> int:
    """CPUs this process may run on, within NUMBA_NUM_THREADS (numba's pool size)."""
    return max(1, min(len(os.sched_getaffinity(0)), numba.config.NUMBA_NUM_THREADS))


def analyze(store: Store, options: Options, progress: AnalyzeProgress) -> Report:
    """Run the analysis on an open store; StoreError (one line) if the database fails."""
    return _Run(store, options, progress).run()


class _Run:
    """One analysis in progress: its store, writer, progress and report."""

    def __init__(self, store: Store, options: Options, progress: AnalyzeProgress) -> None:
        self.store = store
        self.options = options
        self.progress = progress
        self.report = Report(threads=threads_available())

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        begun = time.perf_counter()
        try:
            yield
        finally:
            seconds = self.report.compute
            seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - begun

    def run(self) -> Report:
        started = time.perf_counter()
        report, store = self.report, self.store
        numba.set_num_threads(report.threads)
        self.progress.step("read", 0)
        with self.timed("read"):
            user_id, track_id = store.engagement_pairs(self.options.engagement_types)
            matrices = Matrices.build(user_id, track_id, *store.track_artists())
        del user_id, track_id
        report.inputs = {
            "users": int(matrices.user_ids.size),
            "tracks": int(matrices.track_ids.size),
            "artists": int(matrices.artist_ids.size),
            "engagements": matrices.engagements,
        }
        parameters = self.options.parameters()
        if self.options.factors:
            parameters["als"] = als.parameters()
        report.run_id = store.begin_analysis(parameters)
        self.writer = Writer(self.progress.written)
        report.write = self.writer.seconds
        committed = []

        def commit() -> None:
            store.finish_analysis(report.run_id, report.record())
            committed.append(True)

        try:
            for kind in KINDS:
                self.relate(kind, matrices)
            if self.options.factors:
                self.factors(matrices)
            self.writer.submit("commit", commit)
            self.writer.close()
        except BaseException:
            self.writer.stop()
            if not committed:  # Ctrl-C during the commit comes too late: the run is done
                store.abort_analysis()
                raise
        report.wall = time.perf_counter() - started
        report.peak_memory_mb = peak_memory_mb()
        return report

    def compute_threads(self) -> int:
        """Threads for the next block: one core is the writer's while it is behind.

        Writing is one thread, and often the longer path (on 2 cores, 1M likes: 4.6 s of
        writing against 4.1 s of computing, in CPU): three busy threads on two cores would
        slow it by a third while the computing got further ahead for nothing.
        """
        behind = self.writer.pending > WRITER_BEHIND
        return max(1, self.report.threads - behind)

    def relate(self, kind: Kind, matrices: Matrices) -> None:
        """One kind's top-k, block by block, each block handed to the writer at once."""
        rows, columns, ids = kind.matrices(matrices)
        table = RELATIONS[kind.name].table
        self.report.rows[table] = 0
        self.writer.submit(table, self.store.clear_relation, kind.name)
        update = self.progress.step(kind.label, rows.shape[0])
        options = self.options
        with self.timed(f"compute {kind.name}"):
            blocks = knn.top_k(
                rows, columns, options.top_k, options.min_support, update, self.compute_threads
            )
            for block in blocks:
                found = (ids[block.row], ids[block.other], block.score, block.support, block.rank)
                self.writer.submit(
                    table, self.store.write_relation, kind.name, *found, rows=len(block)
                )
                self.progress.queued(len(block))
                self.report.rows[table] += len(block)
        self.writer.submit(table, self.store.finish_relation, kind.name)

    def factors(self, matrices: Matrices) -> None:
        """ALS vectors of every user and track, then the leave-one-out evaluation."""
        options, report = self.options, self.report
        update = self.progress.step(f"ALS, {options.factors} factors", als.ITERATIONS)
        with self.timed("compute factors"):
            fitted = als.fit(matrices.users, options.factors, report.threads, update)
        for kind, ids, vectors in (
            ("tracks", matrices.track_ids, fitted.items),
            ("users", matrices.user_ids, fitted.users),
        ):
            table = FACTOR_TABLES[kind][0]
            self.writer.submit(
                table, self.store.write_factors, kind, ids, vectors, report.run_id, rows=len(ids)
            )
            self.progress.queued(len(ids))
            report.rows[table] = len(ids)
        update = self.progress.step("evaluate", progress_steps())
        with self.timed("evaluate"):
            report.evaluation = evaluate(
                matrices.users,
                top_k=options.top_k,
                min_support=options.min_support,
                factors=options.factors,
                threads=report.threads,
                on_progress=update,
            )
