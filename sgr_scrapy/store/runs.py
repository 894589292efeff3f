"""Harvest runs: when each began and how it ended, and the rows a run wrote (for feed exports)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from sgr_scrapy.store.base import StoreBase, reads
from sgr_scrapy.store.errors import error_code
from sgr_scrapy.store.sql import NOW, q

# end_run waits longer: the run's row is the record of how the run ended, and closing may block.
CLOSE_BUSY_TIMEOUT = 15.0


class Runs(StoreBase):
    """`begin_run`, `end_run` and what a run's records are read from."""

    def begin_run(self) -> int:
        """Record the start of a run; returns its run_id (kept in `run_id`)."""
        try:
            cursor = self.conn.execute(f'INSERT INTO "harvest_runs" ("started_at") VALUES ({NOW})')
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")
        self.run_id = int(cursor.lastrowid or 0)
        return self.run_id

    def end_run(
        self, run_id: int, finish_reason: str, stats: dict[str, Any], *, wait: float | None = None
    ) -> bool:
        """Record how a run ended, with its stats as JSON (non-JSON values stored as text).

        Only the first end of a run is recorded: True if this call recorded it, False if the
        run had already ended. Another writer is waited for up to `wait` seconds
        (CLOSE_BUSY_TIMEOUT by default), longer than a page write waits; StoreError after that.
        """
        stats_json = orjson.dumps(
            stats, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS
        ).decode()
        timeout = CLOSE_BUSY_TIMEOUT if wait is None else wait
        conn = self.conn
        (usual,) = conn.execute("PRAGMA busy_timeout").fetchone()
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        try:
            cursor = conn.execute(
                f'UPDATE "harvest_runs" SET "finished_at" = {NOW}, "finish_reason" = ?, '
                '"stats_json" = ? WHERE "run_id" = ? AND "finished_at" IS NULL',
                (finish_reason, stats_json, run_id),
            )
        except sqlite3.Error as exc:
            advice = None
            if error_code(exc) in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                advice = (
                    f"another process kept it locked for {timeout:g} s; the run stays unfinished"
                )
            self._raise(exc, f"cannot record the end of run {run_id} in", advice)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(usual)}")
        return cursor.rowcount == 1

    @reads
    def run_started_at(self, run_id: int) -> str | None:
        """When a run began, in the clock and format of every `last_seen`."""
        row = self.conn.execute(
            'SELECT "started_at" FROM "harvest_runs" WHERE "run_id" = ?', (run_id,)
        ).fetchone()
        return row[0] if row else None

    @reads
    def unfinished_runs(self) -> list[int]:
        """Runs whose end was never recorded (killed, or closed while the file was locked)."""
        rows = self.conn.execute(
            'SELECT "run_id" FROM "harvest_runs" WHERE "finished_at" IS NULL ORDER BY "run_id"'
        )
        return [row[0] for row in rows]

    def rows_seen_since(
        self, table: str, columns: Sequence[str], key: Sequence[str], since: str
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of `table` written at or after `since` (their `last_seen`), ordered by `key`.

        Each row once, with the values it has now: what a run wrote, merged, as committed.
        """
        sql = (
            f"SELECT {', '.join(q(c) for c in columns)} FROM {q(table)} "
            f'WHERE "last_seen" >= ? ORDER BY {", ".join(q(c) for c in key)}'
        )
        try:
            yield from self.conn.execute(sql, (since,))
        except sqlite3.Error as exc:
            self._raise(exc, "cannot read")
