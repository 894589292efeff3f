"""Tables to a directory (Parquet, CSV): one file per table, streamed in bounded batches.

Rows are read in batches whose size follows their width: each batch aims at BATCH_BYTES of
Arrow data (a narrow table of ids goes 65,536 rows at a time, `tracks` with its `raw_json`
fewer), and only one batch of rows is held at a time, so memory stays bounded whatever the
database's size. Parquet gets one row group per batch. Each file is written as
`.<name>.partial` and renamed when whole: an export that fails leaves the files of the tables it
finished, and no half file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sgr_scrapy.export.columns import Converter
from sgr_scrapy.export.errors import ExportError
from sgr_scrapy.export.formats import BatchWriter, Format
from sgr_scrapy.export.progress import ExportProgress, Step
from sgr_scrapy.store import Store

# Arrow bytes a batch aims at. The Python rows it is made from weigh more: 3-6x for rows of
# many short strings (tracks: ~8 MB of Arrow is ~40 MB of tuples and str objects).
BATCH_BYTES = 8 * 2**20
BATCH_ROWS_FIRST, BATCH_ROWS_MIN, BATCH_ROWS_MAX = 8_192, 1_024, 65_536


@dataclass
class Written:
    """One file written: its table, path, rows, and values left empty by column."""

    table: str
    path: Path
    rows: int
    bad: dict[str, int] = field(default_factory=dict)


class _BatchSize:
    """The next batch's row count: BATCH_BYTES over the last batch's bytes per row."""

    def __init__(self) -> None:
        self.rows = BATCH_ROWS_FIRST

    def __call__(self) -> int:
        return self.rows

    def measured(self, rows: int, nbytes: int) -> None:
        if rows:
            per_row = max(nbytes / rows, 1.0)
            self.rows = int(min(BATCH_ROWS_MAX, max(BATCH_ROWS_MIN, BATCH_BYTES / per_row)))


def table_names(store: Store, asked: Sequence[str] | None) -> list[str]:
    """The tables to export: those asked for, in their order, else every table."""
    every = store.tables()
    if not asked:
        return every
    unknown = [name for name in asked if name not in every]
    if unknown:
        raise ExportError(f"no table {unknown[0]!r} in the database; it has: {', '.join(every)}")
    return list(dict.fromkeys(asked))


def prepare_directory(path: Path) -> None:
    """Create `path` if need be and check that files can be written in it."""
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path} is a file: -o takes a directory for parquet and csv")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".sgr-export-probe"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ExportError(f"cannot write to {path}: {reason}; choose another -o") from None


def _write(store: Store, table: str, convert: Converter, writer: BatchWriter, step: Step) -> int:
    """Every row of `table` through `writer`; the rows written.

    The writer runs in a thread, one batch behind: pyarrow encodes and compresses without the
    GIL, while this thread fetches and converts the next batch (SQLite and Python objects).
    """
    rows = 0
    size = _BatchSize()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sgr-export-writer") as pool:
        pending: Future[None] | None = None
        for batch_rows in store.table_batches(table, convert.names, size):
            batch = convert.batch(batch_rows)
            del batch_rows  # before the next fetch (see BATCH_BYTES)
            size.measured(batch.num_rows, batch.nbytes)
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_batch, batch)
            rows += batch.num_rows
            step.advance(batch.num_rows)
        if pending is not None:
            pending.result()
    return rows


def export_tables(
    store: Store, fmt: Format, directory: Path, tables: Sequence[str], progress: ExportProgress
) -> list[Written]:
    """Write each of `tables` to `directory` in `fmt`, inside one read snapshot."""
    assert fmt.open_table is not None
    written: list[Written] = []
    with store.read_snapshot():
        counts = {name: store.count_rows(name) for name in tables}
        step = progress.step(f"{fmt.name}", sum(counts.values()))
        for name in tables:
            convert = Converter(store.table_columns(name), text_only=fmt.text_only)
            final = directory / f"{name}{fmt.suffix}"
            partial = directory / f".{name}{fmt.suffix}.partial"
            try:
                writer = fmt.open_table(partial, convert.schema)
                try:
                    rows = _write(store, name, convert, writer, step)
                finally:
                    writer.close()
                os.replace(partial, final)
            except OSError as exc:
                reason = (exc.strerror or str(exc)).splitlines()[0].lower()
                raise ExportError(
                    f"cannot write {final}: {reason}; free some space or choose another -o",
                    status=1,
                ) from None
            finally:
                with contextlib.suppress(OSError):
                    partial.unlink()
            written.append(Written(name, final, rows, convert.bad()))
        step.done()
    return written
