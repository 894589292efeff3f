"""Row kinds, declared once: each row class of items.py, its table, key and upsert.

A row kind is data, not a code path (sqlite-utils' `upsert_all`): `ROW_KINDS` maps a row class
to its table, the key its upsert conflicts on, and how each other column merges. `write()`
(writes.py) runs one `executemany` per kind, or, for a kind written `behind`, copies its rows
into the kind's temporary stage and upserts them all in one statement; `taken_ids()`
(reads.py) finds a family's table here. A new row kind is one entry below (and a table in
schema.py).

Merge rules: a column takes COALESCE(new, old) unless its entry says otherwise, so a later,
poorer object (a nested mini user, a null count) never replaces a known value with NULL;
`first_seen` is set once and `last_seen` on every write. A row whose key holds a None is
refused (a NULL key never conflicts and would silently duplicate).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from sgr_scrapy.items import (
    Engagement,
    Follow,
    ListItem,
    Playlist,
    PlaylistTrack,
    RelatedTrack,
    Track,
    User,
)
from sgr_scrapy.store.sql import NOW, q

COALESCE = "COALESCE(excluded.{c}, {t}.{c})"  # the default: a new NULL never erases
NEW = "excluded.{c}"  # the new value, whatever it is
OR = "{t}.{c} | excluded.{c}"  # source bits: every list that ever read the row


def merged_in_python(function: str) -> str:
    """A JSON column merged by the Python SQL function `function` (merge.py), called only when
    both sides are known and differ: what merge_json returns at once otherwise, done in SQL
    (a resumed harvest meets the same objects again, and a call from the commit thread waits
    for the GIL)."""
    return (
        "CASE WHEN excluded.{c} IS NULL OR excluded.{c} = {t}.{c} THEN {t}.{c} "
        "WHEN {t}.{c} IS NULL THEN excluded.{c} "
        f"ELSE {function}({{t}}.{{c}}, excluded.{{c}}) END"
    )


def upsert_sql(
    table: str,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    merge: Mapping[str, str],
    seen: bool,
    stage: str | None = None,
) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE: each non-key column by its `merge` expression
    (COALESCE by default); with `seen`, `first_seen` set once and `last_seen` on every write.

    One row of parameters, or with `stage` (a quoted name) every row of that temporary table,
    in order."""
    table_q = q(table)
    names = [q(c) for c in columns]
    marks = [q(c) if stage else "?" for c in columns]
    sets = [
        f"{q(c)} = " + merge.get(c, COALESCE).format(c=q(c), t=table_q)
        for c in columns
        if c not in key
    ]
    if seen:
        names += ['"first_seen"', '"last_seen"']
        marks += [NOW, NOW]
        sets.append('"last_seen" = excluded."last_seen"')
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    # `WHERE true`: without it SQLite could read ON CONFLICT as a join constraint.
    rows = f"SELECT {{}} FROM temp.{stage} WHERE true ORDER BY rowid" if stage else "VALUES ({})"
    return (
        f"INSERT INTO {table_q} ({', '.join(names)}) {rows.format(', '.join(marks))} "
        f"ON CONFLICT ({', '.join(q(c) for c in key)}) {action}"
    )


@dataclass(frozen=True, slots=True)
class RowKind:
    """How rows of one class are stored. `raw_json`, when the class has it, is its last field,
    stored as the row holds it (api.py trims it as it builds the row) and left out without
    SGR_STORE_RAW_JSON."""

    row: type
    table: str
    key: tuple[str, ...]
    merge: Mapping[str, str] = field(default_factory=dict)
    seen: bool = True  # the table has first_seen and last_seen
    columns: tuple[str, ...] = field(init=False)
    # Staged, then upserted with the COMMIT on the commit thread (Store.commit_behind): the
    # caller only copies the rows into a bare temporary table (`stage_sql`, a tenth of the
    # upsert's time); the upsert (`sql`), with its conflicts and indexes, runs in one
    # statement, SQLite holding no GIL. Only for a kind whose merge calls Python rarely (each
    # call waits for the GIL): never, or only when two different objects merge
    # (`merged_in_python`). The others: one executemany of `sql`, at once.
    behind: bool = True
    sql: str = field(init=False)
    stage_sql: str = field(init=False)  # when `behind`: INSERT INTO the stage
    stage_ddl: str = field(init=False)  # CREATE TEMP TABLE of the stage (once a connection)
    unstage_sql: str = field(init=False)  # DELETE FROM the stage
    get: Callable[[Any], tuple[Any, ...]] = field(init=False)  # a row's upsert parameters
    get_key: Callable[[Any], Any] = field(init=False)  # its key: one value, or a tuple
    has_raw: bool = field(init=False)

    def __post_init__(self) -> None:
        columns = tuple(f.name for f in dataclasses.fields(self.row))
        stage = q(f"sgr_stage_{self.table}")
        computed = {
            "columns": columns,
            "sql": upsert_sql(
                self.table, columns, self.key, self.merge, self.seen, stage if self.behind else None
            ),
            "stage_sql": f"INSERT INTO temp.{stage} VALUES ({', '.join('?' for _ in columns)})",
            "stage_ddl": f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({', '.join(map(q, columns))})",
            "unstage_sql": f"DELETE FROM temp.{stage}",
            "get": attrgetter(*columns),
            "get_key": attrgetter(*self.key),
            "has_raw": columns[-1] == "raw_json",
        }
        for name, value in computed.items():
            object.__setattr__(self, name, value)

    @property
    def name(self) -> str:
        """The row class's `kind`: "tracks", "follows", ... (what write() counts by)."""
        return self.row.kind  # type: ignore[attr-defined,no-any-return]

    def kept(self, rows: list[Any]) -> list[Any]:
        """`rows` without those whose key holds a None."""
        get_key = self.get_key
        if len(self.key) == 1:
            return [r for r in rows if get_key(r) is not None]
        return [r for r in rows if None not in get_key(r)]


ROW_KINDS: dict[type, RowKind] = {
    kind.row: kind
    for kind in (
        RowKind(
            Track,
            "tracks",
            ("track_id",),
            {
                "raw_json": merged_in_python("sgr_merge_track"),
                # A mini track carries no tags: "[]" and "{}" are treated as unknown so they
                # cannot erase known tags.
                "tags": "COALESCE(NULLIF(excluded.{c}, '[]'), {t}.{c})",
                "machine_tags": "COALESCE(NULLIF(excluded.{c}, '{{}}'), {t}.{c})",
            },
        ),
        RowKind(
            User,
            "users",
            ("user_id",),
            {"raw_json": merged_in_python("sgr_merge_user")},
            behind=False,  # a user met mini (nested in a track) then whole merges often
        ),
        RowKind(
            Engagement,
            "user_engagements",
            ("user_id", "track_id", "engagement_type"),
            {"sources": OR},
        ),
        RowKind(Follow, "user_follows", ("follower_id", "followee_id"), {"sources": OR}),
        RowKind(
            Playlist,
            "playlists",
            ("playlist_id",),
            {"raw_json": merged_in_python("sgr_merge_json")},
            behind=False,  # a playlist met with its tracks cut short, then whole
        ),
        RowKind(PlaylistTrack, "playlist_tracks", ("playlist_id", "position"), {"track_id": NEW}),
        RowKind(RelatedTrack, "related_tracks", ("track_id", "related_track_id", "source")),
        RowKind(ListItem, "harvest_list_items", ("list_key", "item_id"), seen=False),
    )
}
