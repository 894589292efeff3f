"""Reads for a (re)start: seeds, lists, the items each list took, failed pages, expansions.

`taken_ids` rebuilds, per list, the set of items it already took (for caps and dedupe) from the
family's `Taken` spec (families.py): the spider never sees SQL, and a new family needs no code
here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sgr_scrapy.families import FAMILIES
from sgr_scrapy.items import Expansion, FailedPage, ListProgress, User
from sgr_scrapy.store.base import StoreBase, reads
from sgr_scrapy.store.kinds import ROW_KINDS
from sgr_scrapy.store.sql import q
from sgr_scrapy.store.writes import LIST_COLUMNS

LIST_KEY = "list_key"  # a Taken owner meaning "the list's key", not its owner's id


@functools.cache
def taken_query(family: str) -> tuple[str, tuple[Any, ...], bool]:
    """(SQL, parameters after the owner's, whether the owner is the list's key) for a family's
    taken ids; KeyError for an unknown family."""
    taken = FAMILIES[family].taken
    where = [f"{q(taken.owner)} = ?"]
    params: list[Any] = []
    for column, value in taken.match:
        where.append(f"{q(column)} = ?")
        params.append(value)
    if taken.bit:
        where.append('"sources" & ? != 0')
        params.append(taken.bit)
    sql = f"SELECT {q(taken.item)} FROM {q(ROW_KINDS[taken.row].table)} WHERE {' AND '.join(where)}"
    return sql, tuple(params), taken.owner == LIST_KEY


class Reads(StoreBase):
    """What the spider reads back on (re)start."""

    @reads
    def seeds(self) -> dict[str, int]:
        """Seed URLs already resolved, to their track ids."""
        return dict(self.conn.execute('SELECT "url", "track_id" FROM "harvest_seeds"'))

    @reads
    def lists(self, statuses: Iterable[str] | None = None) -> list[ListProgress]:
        """All lists in the order they were first recorded, or only those with these statuses."""
        sql = f'SELECT {LIST_COLUMNS} FROM "harvest_lists"'
        params: tuple[str, ...] = ()
        if statuses is not None:
            params = tuple(statuses)
            if not params:
                return []
            sql += f' WHERE "status" IN ({", ".join("?" for _ in params)})'
        sql += ' ORDER BY "rowid"'
        return [ListProgress(*row) for row in self.conn.execute(sql, params)]

    @reads
    def list_progress(self, list_key: str) -> ListProgress | None:
        """Where one list stands, or None if it is unknown."""
        row = self.conn.execute(
            f'SELECT {LIST_COLUMNS} FROM "harvest_lists" WHERE "list_key" = ?', (list_key,)
        ).fetchone()
        return ListProgress(*row) if row else None

    @reads
    def taken_ids(self, progress: ListProgress) -> set[int]:
        """Ids this list has already taken: users for favoriters, tracks for likes, ...

        Only rows this list's family recorded count (its `Taken` spec: match values, source
        bit), so a row another list recorded first is not taken by this one. ValueError for a
        list of an unknown family.
        """
        try:
            sql, params, by_key = taken_query(progress.kind)
        except KeyError:
            raise ValueError(f"unknown list kind {progress.kind!r}") from None
        owner = progress.list_key if by_key else progress.owner_id
        return {row[0] for row in self.conn.execute(sql, (owner, *params))}

    @reads
    def failed_pages(self) -> list[FailedPage]:
        """Pages that failed after every retry, in the order they first failed."""
        rows = self.conn.execute(
            'SELECT "list_key", "url", "reason" FROM "harvest_failed_pages" ORDER BY "rowid"'
        )
        return [FailedPage(*row) for row in rows]

    @reads
    def expansions(self) -> list[Expansion]:
        """Tracks chosen to seed a hop: by hop, then most engagements first, then track id."""
        rows = self.conn.execute(
            'SELECT "track_id", "hop", "engagements" FROM "harvest_expansions" '
            'ORDER BY "hop", "engagements" DESC, "track_id"'
        )
        return [Expansion(*row) for row in rows]

    @reads
    def user_counts(
        self, user_ids: Iterable[int], fields: Iterable[str]
    ) -> dict[int, dict[str, int | None]]:
        """Per stored user, the API's counts named `fields` (`followers_count`,
        `reposts_count`, ...): a column of `users` when there is one, else the key in
        `raw_json`; None when the API never sent it (or sent something other than a number)."""
        columns = set(ROW_KINDS[User].columns)
        names = tuple(dict.fromkeys(fields))
        exprs = [
            q(name) if name in columns else f"json_extract(\"raw_json\", '$.{name}')"
            for name in names
        ]
        ids = list(user_ids)
        out: dict[int, dict[str, int | None]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = (
                f'SELECT "user_id", {", ".join(exprs)} FROM "users" '
                f'WHERE "user_id" IN ({", ".join("?" for _ in chunk)})'
            )
            for user_id, *values in self.conn.execute(sql, chunk):
                out[user_id] = {
                    n: v if isinstance(v, int) and not isinstance(v, bool) else None
                    for n, v in zip(names, values, strict=True)
                }
        return out
