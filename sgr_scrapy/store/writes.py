"""Writing pages: every row kind and the harvest's state, all pages of a batch in one transaction.

A page's rows and its list's new position are committed together, so a crash loses whole
pages, never half of one, and never advances a cursor past rows that were not written. Rows are
grouped by class and each kind (kinds.py) is one `executemany` (into the table, or into the
kind's stage): the hot path does no per-row Python work beyond the grouping and the key check.
`raw_json` is stored as the row holds it: api.py leaves out what the columns hold as it builds
the row, from the object it already parsed (merge.py trims only what merging brings back).

With `behind` (the pipeline), the caller's thread only upserts the kinds merged in Python
(users, playlists) and copies the rest into their stages; the stages' upserts and the COMMIT
run on the commit thread (base.commit_behind), where SQLite holds no GIL: a harvest's storage
work moves off the thread that parses pages.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any

from sgr_scrapy.items import FAILED, ListProgress, Page
from sgr_scrapy.store.base import StoreBase
from sgr_scrapy.store.kinds import ROW_KINDS, RowKind
from sgr_scrapy.store.sql import NOW, q

LIST_FIELDS = tuple(f.name for f in dataclasses.fields(ListProgress))
LIST_COLUMNS = ", ".join(q(c) for c in LIST_FIELDS)
_LIST_PROGRESS_SQL = (
    f'INSERT INTO "harvest_lists" ({LIST_COLUMNS}, "updated_at") '
    f"VALUES ({', '.join('?' for _ in LIST_FIELDS)}, {NOW}) "
    'ON CONFLICT ("list_key") DO UPDATE SET '
    + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in (*LIST_FIELDS[1:], "updated_at"))
)
_NEW_LIST_SQL = (
    f'INSERT OR IGNORE INTO "harvest_lists" ({LIST_COLUMNS}, "updated_at") '
    f"VALUES ({', '.join('?' for _ in LIST_FIELDS)}, {NOW})"
)
_CLEAR_FAILED_SQL = 'DELETE FROM "harvest_failed_pages" WHERE "list_key" = ?'
_FAILED_LISTS_SQL = 'SELECT DISTINCT "list_key" FROM "harvest_failed_pages"'
_FAILED_SQL = (
    'INSERT INTO "harvest_failed_pages" ("list_key", "url", "reason", "attempts", "updated_at") '
    f"VALUES (?, ?, ?, 1, {NOW}) "
    'ON CONFLICT ("list_key", "url") DO UPDATE SET "reason" = excluded."reason", '
    '"attempts" = "harvest_failed_pages"."attempts" + 1, "updated_at" = excluded."updated_at"'
)
_SEED_SQL = (
    'INSERT INTO "harvest_seeds" ("url", "track_id", "resolved_at") '
    f"VALUES (?, ?, {NOW}) "
    'ON CONFLICT ("url") DO UPDATE SET "track_id" = excluded."track_id", '
    '"resolved_at" = excluded."resolved_at"'
)
_EXPANSION_SQL = (
    'INSERT INTO "harvest_expansions" ("track_id", "hop", "engagements", "run_id", "expanded_at") '
    f"VALUES (?, ?, ?, ?, {NOW}) "
    'ON CONFLICT ("track_id") DO UPDATE SET "hop" = excluded."hop", '
    '"engagements" = excluded."engagements", "run_id" = excluded."run_id", '
    '"expanded_at" = excluded."expanded_at"'
)

_get_list = attrgetter(*LIST_FIELDS)
_get_expansion = attrgetter("track_id", "hop", "engagements")


class Writes(StoreBase):
    """`write()`: pages in one transaction."""

    dropped = 0  # rows refused by write() because their key held a None
    store_raw_json = True  # False (SGR_STORE_RAW_JSON=0): new rows get no raw_json
    # Lists with a row in harvest_failed_pages: only those need clearing when they advance,
    # so the common page costs no DELETE.
    _failed_lists: frozenset[str] | set[str] = frozenset()

    def _opened(self) -> None:
        super()._opened()
        self._failed_lists = {row[0] for row in self.conn.execute(_FAILED_LISTS_SQL)}
        # The stages live as long as the connection: created here, outside any transaction, so
        # a batch rolled back never takes one with it.
        for kind in ROW_KINDS.values():
            if kind.behind:
                self.conn.execute(kind.stage_ddl)

    def write(self, pages: Iterable[Page], *, behind: bool = False) -> dict[str, int]:
        """Store every page in one transaction: all of them, or on error none of them.

        Returns the rows written per row kind ({"tracks": 3, "engagements": 5, ...}; kinds
        with none are left out). A storage error (disk full, damaged file, another writer) is a
        one-line StoreError; the batch is rolled back, so its pages are simply fetched again by
        the next run. A row of a class that is no row kind is a TypeError, before anything.
        With `behind`, the transaction is finished on the commit thread: errors met there come
        from `sync()`, or from whatever uses the store next.
        """
        self.sync()  # the batch before, committing behind: it must hold before this one
        pages = list(pages)
        grouped: dict[type, list[Any]] = {}
        for page in pages:
            for row in page.rows:
                cls = type(row)
                group = grouped.get(cls)
                if group is None:
                    group = grouped[cls] = []
                group.append(row)
        unknown = [cls.__name__ for cls in grouped if cls not in ROW_KINDS]
        if unknown:
            raise TypeError(f"cannot store rows of {', '.join(unknown)}: not a row kind")
        batches: list[tuple[RowKind, list[Any]]] = []
        dropped = 0
        for cls, kind in ROW_KINDS.items():  # in registry order, whatever the pages' order
            rows = grouped.get(cls)
            if rows:
                kept = kind.kept(rows)
                dropped += len(rows) - len(kept)
                if kept:
                    batches.append((kind, kept))
        expansions = [(*_get_expansion(e), self.run_id) for page in pages for e in page.expansions]
        conn = self.conn
        cleared: set[str] = set()
        added: set[str] = set()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")
        try:
            # Kinds written behind (kinds.py) are staged here and upserted with the COMMIT
            # (on the commit thread when `behind`); the others are upserted here.
            last: list[str] = []
            for kind, rows in batches:
                params = self._params(kind, rows)
                if kind.behind:
                    conn.executemany(kind.stage_sql, params)
                    last += (kind.sql, kind.unstage_sql)
                else:
                    conn.executemany(kind.sql, params)
            if expansions:
                conn.executemany(_EXPANSION_SQL, expansions)
            # The harvest's state, one executemany per statement: a list's pages come in order
            # (its last position wins), and a list clears its old failed pages as it advances
            # before it could fail again (a failed list is done for the run).
            progress = [page.progress for page in pages if page.progress is not None]
            conn.executemany(_LIST_PROGRESS_SQL, map(_get_list, progress))
            cleared = {
                p.list_key
                for p in progress
                if p.status != FAILED and p.list_key in self._failed_lists
            }
            conn.executemany(_CLEAR_FAILED_SQL, ((key,) for key in cleared))
            failed = [page.failed for page in pages if page.failed is not None]
            conn.executemany(_FAILED_SQL, ((f.list_key, f.url, f.reason) for f in failed))
            added = {f.list_key for f in failed}
            conn.executemany(
                _NEW_LIST_SQL, (_get_list(new) for page in pages for new in page.new_lists)
            )
            conn.executemany(
                _SEED_SQL, ((p.seed.url, p.seed.track_id) for p in pages if p.seed is not None)
            )
            if not behind:
                _finish(conn, last)
        except BaseException as exc:
            self._rollback()
            self._raise(exc, "cannot write to")

        def committed() -> None:
            self.dropped += dropped
            self._failed_lists = (self._failed_lists - cleared) | added

        if behind:
            self.commit_behind(functools.partial(_finish, conn, last), committed)
        else:
            committed()
        return {kind.name: len(rows) for kind, rows in batches}

    def _params(self, kind: RowKind, rows: list[Any]) -> Iterator[tuple[Any, ...]]:
        """Upsert parameters; `raw_json` (the last) None without SGR_STORE_RAW_JSON."""
        get = kind.get
        if kind.has_raw and not self.store_raw_json:
            return ((*row[:-1], None) for row in map(get, rows))
        return map(get, rows)


def _finish(conn: sqlite3.Connection, statements: list[str]) -> None:
    """Run the transaction's last statements and COMMIT it."""
    for sql in statements:
        conn.execute(sql)
    conn.execute("COMMIT")
