"""Reads for `scrapy export` and `scrapy report`: tables in batches, graph edges, aggregates.

Nothing here writes. Every read of an export happens inside `read_snapshot()`, one read
transaction: in WAL mode a harvest may keep writing meanwhile, and the export sees the database
as it was at its first read, so its files agree with each other (README: Export and report).

- `table_columns`, `count_rows`, `table_batches`: any table, by its declared columns, streamed
  in batches whose size the caller picks batch by batch, so memory stays bounded whatever the
  table's size;
- `edge_batches`: a graph's edges, from a declared spec (table, end columns, attributes,
  match), parallel rows optionally merged into one edge (export/graphs.py declares the graphs);
- the report's aggregates (report_reads.py, a base of `ExportReads`): what was harvested,
  degree counts, the audience's genres and tags, and what `scrapy analyze` computed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sgr_scrapy.store.base import reads
from sgr_scrapy.store.report_reads import ReportReads
from sgr_scrapy.store.sql import q

Match = Sequence[tuple[str, Any]]  # (column, value) pairs a row must have
READ_CACHE_KIB = 4096  # SQLite's page cache while an export reads


def _where(match: Match) -> tuple[str, tuple[Any, ...]]:
    if not match:
        return "", ()
    return " WHERE " + " AND ".join(f"{q(c)} = ?" for c, _ in match), tuple(v for _, v in match)


class ExportReads(ReportReads):
    """What the export reads, and (ReportReads) what the report reads."""

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """One read transaction around an export: every read inside sees the same commit."""
        conn = self.conn
        (usual,) = conn.execute("PRAGMA cache_size").fetchone()
        try:
            # Tables are read once, front to back: a large page cache would only hold pages
            # never read again (the harvest's 64 MiB is ~60 MB of the export's peak RSS).
            conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
            conn.execute("BEGIN")
            # A transaction takes its snapshot at its first read, not at BEGIN.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            self._rollback()
            conn.execute(f"PRAGMA cache_size = {int(usual)}")
            self._raise(exc, "cannot read")
        try:
            yield
        finally:
            self._rollback()  # nothing was written: ending the read is all
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"PRAGMA cache_size = {int(usual)}")

    # -- tables ---------------------------------------------------------------------------

    @reads
    def table_columns(self, table: str) -> list[tuple[str, str]]:
        """(name, declared type) of each column of `table`, in order; [] for no such table."""
        rows = self.conn.execute(f"PRAGMA table_info({q(table)})").fetchall()
        return [(row[1], (row[2] or "").upper()) for row in rows]

    @reads
    def count_rows(self, table: str, match: Match = ()) -> int:
        """Rows of `table` with the `match` values."""
        where, params = _where(match)
        return self.conn.execute(f"SELECT count(*) FROM {q(table)}{where}", params).fetchone()[0]

    @reads
    def has_rows(self, table: str, match: Match = ()) -> bool:
        """Whether `table` has a row with the `match` values."""
        where, params = _where(match)
        sql = f"SELECT EXISTS (SELECT 1 FROM {q(table)}{where})"
        return bool(self.conn.execute(sql, params).fetchone()[0])

    def table_batches(
        self,
        table: str,
        columns: Sequence[str],
        size: Callable[[], int],
        match: Match = (),
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of `table` (these columns, with the `match` values), in batches of `size()`
        rows, asked again before each batch; StoreError (one line) if a read fails."""
        where, params = _where(match)
        sql = f"SELECT {', '.join(map(q, columns))} FROM {q(table)}{where}"
        yield from self._fetch(sql, params, size)

    def edge_batches(
        self,
        table: str,
        ends: tuple[str, str],
        attrs: Sequence[str],
        size: Callable[[], int],
        match: Match = (),
        merge: str | None = None,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """(source, target, *attrs) of a graph's edges, in batches. With `merge`, rows of the
        same two ends are one edge whose `merge` attribute lists their values, comma-separated
        (`like,repost`); `merge` is then the only attribute."""
        source, target = ends
        where, params = _where(match)
        if merge is None:
            columns = ", ".join(map(q, (source, target, *attrs)))
            sql = f"SELECT {columns} FROM {q(table)}{where}"
        else:
            # Grouped on the ends: with them leading the primary key, SQLite walks its index in
            # order and never sorts. group_concat's order is the scan's; the caller sorts it.
            sql = (
                f"SELECT {q(source)}, {q(target)}, group_concat({q(merge)}, ',') "
                f"FROM {q(table)}{where} GROUP BY {q(source)}, {q(target)}"
            )
        yield from self._fetch(sql, params, size)

    @reads
    def count_edges(
        self, table: str, ends: tuple[str, str], match: Match = (), merge: str | None = None
    ) -> int:
        """How many edges `edge_batches` yields with the same arguments."""
        where, params = _where(match)
        if merge is None:
            return self.count_rows(table, match)
        groups = f"SELECT 1 FROM {q(table)}{where} GROUP BY {q(ends[0])}, {q(ends[1])}"
        sql = f"SELECT count(*) FROM ({groups})"
        return self.conn.execute(sql, params).fetchone()[0]

    def _fetch(
        self, sql: str, params: tuple[Any, ...], size: Callable[[], int]
    ) -> Iterator[list[tuple[Any, ...]]]:
        try:
            cursor = self.conn.execute(sql, params)
            while True:
                batch = cursor.fetchmany(size())
                if not batch:
                    return
                yield batch
                del batch  # before the next fetch: one batch of rows in memory, not two
        except sqlite3.Error as exc:
            self._raise(exc, "cannot read")
